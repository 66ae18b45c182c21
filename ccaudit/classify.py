"""Turn one decoded audit record into one row for the store.

Classification reads fields, never substrings of the raw line. Each record lands in
``all_events`` and in at most one other section:

=====================  ===================================  =========================================
section id             which records                        row key
=====================  ===================================  =========================================
kafka_authentication   methodName == kafka.Authentication   principal, plus `` (STATUS)`` unless SUCCESS
mds_authorize          methodName == mds.Authorize          principal ``-`` authorizationInfo.operation
signin_failure         SignIn whose outcome is FAILURE      email, plus `` (status)`` of the first error
signin_success         SignIn whose outcome is SUCCESS      email
all_events             every record                         data.methodName
=====================  ===================================  =========================================

Records are decoded straight into the small ``Record`` struct below: msgspec then skips
every field ccaudit does not use, which is most of each record and most of the decode time.
"""
from __future__ import annotations

import re
import time as _time
from datetime import datetime
from typing import Any, Optional

import msgspec

SECTIONS = {
    "kafka_authentication": "Kafka Authentication",
    "mds_authorize": "MDS Authorize",
    "signin_failure": "Sign-In Failure",
    "signin_success": "Sign-In Success",
    "all_events": "All Audit Events",
}

# The method each section is limited to (all_events takes every method).
SECTION_METHOD = {
    "kafka_authentication": "kafka.Authentication",
    "mds_authorize": "mds.Authorize",
    "signin_failure": "SignIn",
    "signin_success": "SignIn",
}


class _Meta(msgspec.Struct):
    mechanism: Any = None
    identifier: Any = None


class _AuthN(msgspec.Struct):
    principal: Any = None
    principalResourceId: Any = None
    result: Any = None
    metadata: Optional[_Meta] = None


class _AuthZ(msgspec.Struct):
    granted: Any = None
    operation: Any = None
    resourceType: Any = None
    resourceName: Any = None
    patternType: Any = None


class _RequestMeta(msgspec.Struct):
    clientAddress: Any = None
    client_address: Any = None
    connection_id: Any = None
    connectionId: Any = None


class _ResultData(msgspec.Struct):
    errors: Any = None


class _Result(msgspec.Struct):
    status: Any = None
    data: Optional[_ResultData] = None


class _Data(msgspec.Struct):
    methodName: Any = None
    authenticationInfo: Optional[_AuthN] = None
    authorizationInfo: Optional[_AuthZ] = None
    requestMetadata: Optional[_RequestMeta] = None
    result: Optional[_Result] = None


class Record(msgspec.Struct):
    """The fields of a CloudEvents audit record that ccaudit reads."""

    id: Any = None
    time: Any = None
    type: Any = None
    data: Optional[_Data] = None


_decoder = msgspec.json.Decoder(Record)
_any_decoder = msgspec.json.Decoder()


def decode(raw: bytes) -> Record:
    """Decode one JSON object; raise ``msgspec.DecodeError`` if it is not one."""
    try:
        return _decoder.decode(raw)
    except msgspec.ValidationError:
        # Valid JSON of an unexpected shape somewhere (say, ``"result": []``):
        # keep what fits rather than reject the record.
        return from_object(_any_decoder.decode(raw))


def from_object(obj: Any) -> Record:
    """Build a Record from already-decoded JSON (the ijson path), tolerating odd shapes."""
    if not isinstance(obj, dict):
        raise msgspec.ValidationError("not a JSON object")
    try:
        return msgspec.convert(obj, Record)
    except msgspec.ValidationError:
        return _lenient(obj, Record)


def _lenient(obj: dict, cls: type) -> Any:
    """Fill ``cls`` from ``obj``, dropping nested values whose shape does not fit."""
    values = {}
    for f in msgspec.structs.fields(cls):
        value = obj.get(f.encode_name)
        sub = _struct_type(f.type)
        if sub is not None:
            value = _lenient(value, sub) if isinstance(value, dict) else None
        values[f.name] = value
    return cls(**values)


def _struct_type(tp: Any) -> type | None:
    for t in getattr(tp, "__args__", (tp,)):
        if isinstance(t, type) and issubclass(t, msgspec.Struct):
            return t
    return None


# -- time ---------------------------------------------------------------------------

_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})\Z"
)
_hour_base: dict = {}
_day_of: dict = {}


def parse_time(text: Any) -> int | None:
    """Seconds since the epoch for an RFC 3339 time, or None if it is not one.

    The hour is validated once through datetime and cached, so the per-record cost is a
    regex match and a dict lookup.
    """
    m = _TIME.match(text) if isinstance(text, str) else None
    if m is None:
        return None
    date, hh, mm, ss, zone = m.groups()
    key = (date, hh, zone)
    base = _hour_base.get(key)
    if base is None:
        offset = "+00:00" if zone in "Zz" else zone
        try:
            base = int(datetime.fromisoformat(f"{date}T{hh}:00:00{offset}").timestamp())
        except ValueError:
            return None
        if len(_hour_base) > 100_000:
            _hour_base.clear()
        _hour_base[key] = base
    minute, second = int(mm), int(ss)
    if minute > 59 or second > 60:
        return None
    return base + minute * 60 + second


def utc_day(ts: int) -> str:
    """The UTC date (YYYY-MM-DD) of an epoch second."""
    d = ts // 86400
    day = _day_of.get(d)
    if day is None:
        day = _day_of[d] = _time.strftime("%Y-%m-%d", _time.gmtime(d * 86400))
    return day


# -- keys ---------------------------------------------------------------------------

_PRINCIPAL_PATHS = (
    ("confluentUser", "resourceId"),
    ("confluentServiceAccount", "resourceId"),
    ("externalAccount", "subject"),
    ("identityPool", "resourceId"),
    ("email",),
)


def _strip_user(text: str) -> str:
    return text[5:] if text.startswith("User:") else text


def shown_principal(p: Any) -> str:
    """The principal as reports show it: string or object form, without ``User:``."""
    if isinstance(p, str) and p:
        return _strip_user(p)
    if isinstance(p, dict):
        for path in _PRINCIPAL_PATHS:
            v: Any = p
            for part in path:
                v = v.get(part) if isinstance(v, dict) else None
            if v not in (None, ""):
                return _strip_user(str(v))
    return "(unknown)"


def _text(v: Any) -> str | None:
    """A scalar as text for the store (numbers keep every digit); None stays None."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return msgspec.json.encode(v).decode()


def _first_error(result: _Result | None) -> tuple[Any, Any]:
    """(status, detail) of the first ``result.data.errors`` entry that has a status."""
    errors = result.data.errors if result and result.data else None
    if isinstance(errors, list):
        for e in errors:
            if isinstance(e, dict) and e.get("status") not in (None, ""):
                return e["status"], e.get("detail")
    return None, None


def _client_ip(meta: _RequestMeta | None) -> str | None:
    if meta is None:
        return None
    addrs = meta.clientAddress
    if isinstance(addrs, list):
        for a in addrs:
            if isinstance(a, dict) and a.get("ip"):
                return _text(a["ip"])
    if isinstance(meta.client_address, str) and meta.client_address:
        return meta.client_address.lstrip("/")
    return None


# Row layout (the store's staging table has the same columns, in this order).
COLUMNS = (
    "day", "id", "ts", "time", "method", "type", "principal", "section", "key",
    # auth_events details
    "identifier", "principal_resource_id", "connection_id", "status", "granted",
    "operation", "resource_type", "resource_name", "pattern_type",
    # sign-in details
    "email", "outcome", "client_ip", "error_status", "error_detail",
)
_NO_DETAILS = (None,) * 14


def classify(rec: Record) -> tuple | str:
    """The store row for a record, or the reason it is malformed (a str)."""
    data = rec.data
    method = data.methodName if data is not None else None
    if not isinstance(rec.id, str) or not rec.id:
        return "no id"
    if not isinstance(method, str) or not method:
        return "no data.methodName"
    ts = parse_time(rec.time)
    if ts is None:
        return "no time" if rec.time is None else "unparseable time"
    authn = data.authenticationInfo
    principal = shown_principal(authn.principal if authn else None)
    head = (utc_day(ts), rec.id, ts, rec.time, method, _text(rec.type), principal)
    if method == "mds.Authorize" or method == "kafka.Authentication":
        return head + _auth_tail(method, principal, data)
    if method == "SignIn":
        return head + _signin_tail(principal, data)
    return head + (None, None) + _NO_DETAILS


def _auth_tail(method: str, principal: str, data: _Data) -> tuple:
    authn, authz, result = data.authenticationInfo, data.authorizationInfo, data.result
    status = _text(result.status) if result else None
    operation = _text(authz.operation) if authz else None
    if method == "mds.Authorize":
        section, key = "mds_authorize", f"{principal}-{operation or '(none)'}"
    else:
        section = "kafka_authentication"
        key = principal if status in (None, "SUCCESS") else f"{principal} ({status})"
    meta = data.requestMetadata
    conn = (meta.connection_id if meta.connection_id is not None else meta.connectionId) if meta else None
    ident = authn.metadata.identifier if authn and authn.metadata else None
    return (
        section, key,
        _text(ident), _text(authn.principalResourceId) if authn else None, _text(conn), status,
        _text(authz.granted) if authz else None, operation,
        _text(authz.resourceType) if authz else None,
        _text(authz.resourceName) if authz else None,
        _text(authz.patternType) if authz else None,
        None, None, None, None, None,
    )


def _signin_tail(principal: str, data: _Data) -> tuple:
    authn, result = data.authenticationInfo, data.result
    outcome = authn.result if authn and authn.result is not None else (result.status if result else None)
    outcome = _text(outcome)
    p = authn.principal if authn else None
    email = _text(p.get("email")) if isinstance(p, dict) and p.get("email") else None
    who = email or principal
    err_status, err_detail = _first_error(result)
    if outcome == "FAILURE":
        section = "signin_failure"
        key = who if err_status is None else f"{who} ({_text(err_status)})"
    elif outcome == "SUCCESS":
        section, key = "signin_success", who
    else:
        section = key = None
    return (
        section, key,
        None, None, None, _text(result.status) if result else None, None, None, None, None, None,
        email, outcome, _client_ip(data.requestMetadata), _text(err_status), _text(err_detail),
    )

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
from datetime import datetime
from typing import Any

import msgspec

from .schema import HOUR_US, LAST_TIME, US

OptStr = str | None  # a runtime alias: msgspec reads it


class _Meta(msgspec.Struct, gc=False):
    identifier: OptStr = None


class _AuthN(msgspec.Struct, gc=False):
    principal: Any = None  # a string or an object
    principalResourceId: OptStr = None
    result: OptStr = None
    metadata: _Meta | None = None


class _AuthZ(msgspec.Struct, gc=False):
    granted: Any = None
    operation: OptStr = None
    resourceType: OptStr = None
    resourceName: OptStr = None
    patternType: OptStr = None


class _RequestMeta(msgspec.Struct, gc=False):
    clientAddress: Any = None
    client_address: OptStr = None
    connection_id: Any = None  # a number beyond 2**53, or a string
    connectionId: Any = None


class _ResultData(msgspec.Struct, gc=False):
    errors: Any = None


class _Result(msgspec.Struct, gc=False):
    status: OptStr = None
    data: _ResultData | None = None


class _Data(msgspec.Struct, gc=False):
    methodName: OptStr = None
    authenticationInfo: _AuthN | None = None
    authorizationInfo: _AuthZ | None = None
    requestMetadata: _RequestMeta | None = None
    result: _Result | None = None


class Record(msgspec.Struct, gc=False):
    """The fields of a CloudEvents audit record that ccaudit reads.

    Not tracked by the garbage collector (JSON cannot make cycles): a million tracked
    structs a second would set off a collection every few hundred records.
    """

    id: OptStr = None
    time: OptStr = None
    data: _Data | None = None


class Malformed(Exception):
    """A record that is valid JSON but not a usable audit record; ``why`` says what it lacks."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


_decoder = msgspec.json.Decoder(Record)
_any_decoder = msgspec.json.Decoder()
_syntax = msgspec.json.Decoder(msgspec.Raw).decode
decode_struct = _decoder.decode  # strict: a ValidationError for odd shapes (then use ``decode``)


def decode_lenient(raw: bytes) -> Record:
    """Valid JSON of an unexpected shape somewhere (say, ``"result": []``), after the
    strict decoder refused it: keep what fits rather than reject the record."""
    return from_object(_any_decoder.decode(raw))


def decode(raw: bytes) -> Record:
    """Decode one JSON object; raise ``msgspec.DecodeError`` if it is not one, and
    ``UnicodeDecodeError`` if it is not UTF-8 (msgspec skips the fields it does not read
    without checking them). ``ingest.line_rows`` has this inline, for speed."""
    if not raw.isascii():
        raw.decode()
    try:
        return decode_struct(raw)
    except msgspec.ValidationError:
        return decode_lenient(raw)


def check_syntax(raw: bytes) -> None:
    """Raise msgspec.DecodeError unless ``raw`` is one whole JSON value by its syntax alone:
    a lone surrogate escape and a number beyond a float, which decoding refuses, pass
    (every ``\\ud..`` is read as ``\\u0..``, which leaves the syntax as it was)."""
    _syntax(raw.replace(b"\\ud", b"\\u0").replace(b"\\uD", b"\\u0"))


def lone_surrogate(raw: bytes) -> bool:
    """Is ``raw`` whole JSON but for escaping half a UTF-16 pair? msgspec's words for it
    vary ("truncated" for a high half near the end): the syntax checked without them tells."""
    if b"\\ud" not in raw and b"\\uD" not in raw:
        return False
    try:
        check_syntax(raw)
    except (msgspec.DecodeError, RecursionError):
        return False
    return True


def decode_failure(e: Exception, raw: bytes = b"") -> str:
    """Why a line or piece (``raw``) failed to decode, in the words of the malformed list.

    msgspec raises one DecodeError type for every syntax problem; only its message tells
    a record cut short from text after one, so this is the one place that reads it.
    """
    if isinstance(e, UnicodeDecodeError):
        return "invalid UTF-8"
    if isinstance(e, RecursionError):
        return "JSON nested too deep"
    text = str(e).lower()
    if "out of range" in text:  # a number beyond a float, such as 1e999 (valid JSON syntax)
        return "number out of range"
    if isinstance(e, msgspec.ValidationError):
        return "not a JSON object"
    if lone_surrogate(raw):  # a \u escape of half a UTF-16 pair: text that is not Unicode
        return "invalid Unicode escape"
    if "truncated" in text:
        return "JSON cut short"
    if "trailing" in text:
        return "text after the JSON object" + lone_cr(raw)
    return "not valid JSON"


_LONE_CR = re.compile(rb"}[ \t]*\r[ \t\r]*{")  # records apart by a CR, blank lines or spaces too


def lone_cr(raw: bytes) -> str:
    """A hint for a file whose lines end in a CR alone (an old Mac's): read as one line."""
    return "; its lines end in a CR alone (convert it: tr '\\r' '\\n' < FILE)" if _LONE_CR.search(raw[:1 << 16]) else ""


def from_object(obj: Any) -> Record:
    """Build a Record from already-decoded JSON (the ijson path), tolerating odd shapes."""
    if not isinstance(obj, dict):
        raise msgspec.ValidationError("not a JSON object")
    try:
        return msgspec.convert(obj, Record)
    except msgspec.ValidationError:
        return _lenient(obj, Record)


def _lenient(obj: dict, cls: type) -> Any:
    """Fill ``cls`` from ``obj``: numbers where text is expected become text, and
    values of any other unexpected shape are dropped."""
    values = {}
    for f in msgspec.structs.fields(cls):
        value = obj.get(f.encode_name)
        sub = _struct_type(f.type)
        if sub is not None:
            value = _lenient(value, sub) if isinstance(value, dict) else None
        elif f.type == OptStr and not isinstance(value, str):
            value = _text(value) if isinstance(value, (int, float)) else None
        values[f.name] = value
    return cls(**values)


def _struct_type(tp: Any) -> type | None:
    for t in getattr(tp, "__args__", (tp,)):
        if isinstance(t, type) and issubclass(t, msgspec.Struct):
            return t
    return None


# -- time ---------------------------------------------------------------------------

_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)\Z",
    re.ASCII)  # an offset as RFC 3339 has it: hours 00-23, minutes 00-59
_UTC_SECONDS = re.compile(r":[0-5]\d(?:\.\d{1,9})?Z", re.ASCII).fullmatch  # not :60 (see _parse_time_slow)
_minute_base: dict = {}  # "YYYY-MM-DDTHH:MM" (UTC) -> epoch microseconds
_FRACTION_SCALE = (0,) * 22 + (100_000, 10_000, 1_000, 100, 10) + (1,) * 4  # by length: µs per unit of SSF..F
MINUTES_CACHED = 4_096  # about three days of minutes, 0.5 MB (200,000 took a worker 26 MB more, a record a day)


def parse_time(text: Any) -> int | None:
    """Microseconds since the epoch for an RFC 3339 time, or None if it is not one.
    Digits past the microsecond are dropped (truncation keeps every comparison with a
    whole-microsecond bound exact).

    Audit records nearly always carry UTC times (``Z``): their minute is validated once
    and cached, so most records cost one dict lookup and a short match of the seconds.
    """
    try:
        base = _minute_base[text[:16]]
    except (KeyError, TypeError):
        return _parse_time_slow(text)
    if _UTC_SECONDS(text, 16):  # ":SS", a fraction of up to 9 digits or none, "Z"
        n = len(text)
        if n == 20:
            return base + int(text[17:19]) * US
        return base + int(text[17:19] + (text[20:26] if n > 26 else text[20:-1])) * _FRACTION_SCALE[n]
    return _parse_time_slow(text)  # an offset, or not a time at all


def _parse_time_slow(text: Any) -> int | None:
    m = _TIME.match(text) if isinstance(text, str) else None
    if m is None:
        return None
    date, hh, mm, ss, fraction, zone = m.groups()
    utc = zone in "Zz"
    try:
        t = datetime.fromisoformat(f"{date}T{hh}:{mm}:00{'+00:00' if utc else zone}")
    except ValueError:
        return None
    base = int(t.timestamp()) * US
    if utc and text[10] == "T" and zone == "Z":
        if len(_minute_base) >= MINUTES_CACHED:
            _minute_base.clear()
        _minute_base[text[:16]] = base
    second = int(ss)
    if second > 60:
        return None
    if second == 60:  # a leap second: the last microsecond of its minute, not the next minute (or year)
        return base + 60 * US - 1
    return base + second * US + (int(fraction[:6].ljust(6, "0")) if fraction else 0)


# -- keys ---------------------------------------------------------------------------

_PRINCIPAL_PATHS = (
    ("confluentUser", "resourceId"),
    ("confluentServiceAccount", "resourceId"),
    ("externalAccount", "subject"),
    ("identityPool", "resourceId"),
    ("email",),
)


def shown_principal(p: Any) -> str:
    """The principal as reports show it: string or object form, without ``User:``; any
    other value as its JSON text (two numbers as principals are two principals)."""
    if p.__class__ is str:
        shown = p[5:] if p.startswith("User:") else p
        return shown or "(unknown)"
    if p is not None and not isinstance(p, dict):
        return _text(p)
    if isinstance(p, dict):
        for path in _PRINCIPAL_PATHS:
            v: Any = p
            for part in path:
                v = v.get(part) if isinstance(v, dict) else None
            v = _text(v)
            if v:
                return v[5:] if v.startswith("User:") and len(v) > 5 else v
    return "(unknown)"


def _text(v: Any) -> str:
    """Any JSON value as text for the store ('' when absent; numbers keep every digit)."""
    if v is None:
        return ""
    if v.__class__ is str:
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return msgspec.json.encode(v).decode()


def _first_error(result: _Result | None) -> tuple[str, str]:
    """(status, detail) of the first ``result.data.errors`` entry that has a status."""
    errors = result.data.errors if result and result.data else None
    if isinstance(errors, list):
        for e in errors:
            if isinstance(e, dict) and e.get("status") not in (None, ""):
                return _text(e["status"]), _text(e.get("detail"))
    return "", ""


def _client_ip(meta: _RequestMeta | None) -> str:
    if meta is None:
        return ""
    addrs = meta.clientAddress
    if isinstance(addrs, list):
        for a in addrs:
            if isinstance(a, dict) and a.get("ip"):
                return _text(a["ip"])
    return (meta.client_address or "").lstrip("/")


def classify(rec: Record) -> tuple:
    """One flat row for a record (columns: ``schema.ROW_COLUMNS`` of its section); raise
    ``Malformed`` for a record that lacks what every event needs.

    One row, not an event row and a details row: the details' copies of id, time, method
    and principal would cost the staging a second row and four more bindings per event.
    Absent text is '' (the store turns it into NULL): binding None costs sqlite3 about
    twice as much as binding a string. This runs for every record, hence the inlining.
    """
    data, id_, time = rec.data, rec.id, rec.time
    if not id_:
        raise Malformed("no id")
    if data is None or not data.methodName:
        raise Malformed("no data.methodName")
    method = data.methodName
    ts = parse_time(time)
    if ts is None:
        raise Malformed("no time" if time is None else "unparseable time")
    if not 0 <= ts < LAST_TIME:
        raise Malformed("time out of range")
    authn = data.authenticationInfo
    p = authn.principal if authn is not None else None
    if p.__class__ is str and p[:5] == "User:" and len(p) > 5:
        principal = p[5:]
    else:
        principal = shown_principal(p)
    if method == "mds.Authorize" or method == "kafka.Authentication":
        return _auth((ts // HOUR_US, id_, ts, time, method, principal), data)
    if method == "SignIn":
        return _signin((ts // HOUR_US, id_, ts, time, method, principal), data)
    return ts // HOUR_US, id_, ts, time, method, principal, "", ""


def _auth(event: tuple, data: _Data) -> tuple:
    """The row of a kafka.Authentication or mds.Authorize ``event`` (its first six columns)."""
    hour, id_, ts, time, method, principal = event
    authn, authz, result, meta = data.authenticationInfo, data.authorizationInfo, data.result, data.requestMetadata
    status = result.status or "" if result is not None else ""
    if authz is not None:
        operation, granted = authz.operation or "", authz.granted
        granted = "true" if granted is True else _text(granted)
        rtype, rname, pattern = authz.resourceType or "", authz.resourceName or "", authz.patternType or ""
    else:
        operation = granted = rtype = rname = pattern = ""
    if method == "mds.Authorize":
        section, key = "mds_authorize", f"{principal}-{operation or '(none)'}"
    else:
        section = "kafka_authentication"
        key = principal if not status or status == "SUCCESS" else f"{principal} ({status})"
    conn = _text(meta.connection_id if meta.connection_id is not None else meta.connectionId) if meta else ""
    if authn is not None:
        ident = authn.metadata.identifier or "" if authn.metadata is not None else ""
        resource_id = authn.principalResourceId or ""
    else:
        ident = resource_id = ""
    return (hour, id_, ts, time, method, principal, section, key,
            ident, resource_id, conn, status, granted, operation, rtype, rname, pattern)


def _signin(event: tuple, data: _Data) -> tuple:
    """The row of a SignIn ``event`` (its first six columns)."""
    principal = event[5]
    authn, result = data.authenticationInfo, data.result
    status = result.status or "" if result is not None else ""
    outcome = authn.result if authn is not None and authn.result is not None else status
    p = authn.principal if authn is not None else None
    email = _text(p.get("email")) if isinstance(p, dict) else ""
    who = email or principal
    if outcome != "FAILURE" and outcome != "SUCCESS":
        return event + ("", "")
    details = (email, outcome, _client_ip(data.requestMetadata), status)
    if outcome == "SUCCESS":
        return event + ("signin_success", who) + details
    err_status, err_detail = _first_error(result)
    key = f"{who} ({err_status})" if err_status else who
    return event + ("signin_failure", key) + details + (err_status, err_detail)

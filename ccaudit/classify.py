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

Its input is a ``decoding.Record``: the fields ccaudit reads, and no others.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from .decoding import PRINCIPAL_PATHS, Data, Malformed, Record, RequestMeta, Result, has_ip, has_status, json_text
from .schema import HOUR_US, LAST_TIME, US

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


_PAST_NINE = re.compile(r"(?<=:\d\d\.\d{9})\d+", re.ASCII)  # fraction digits past the ninth


def _unparseable(time: Any) -> str:
    """Why a record's time was refused, when a time it would be but for its tenth and
    later fraction digits (as --since takes it) tells more than "unparseable"."""
    if isinstance(time, str) and parse_time(_PAST_NINE.sub("", time, count=1)) is not None:
        return "unparseable time (more than 9 fraction digits)"
    return "unparseable time"


# -- keys ---------------------------------------------------------------------------


def shown_principal(p: Any) -> str:
    """The principal as reports show it: string or object form, without ``User:``; any
    other value as its JSON text (two numbers as principals are two principals)."""
    if p.__class__ is str:
        return p.removeprefix("User:") or "(unknown)"
    if not isinstance(p, dict):
        return json_text(p) or "(unknown)"  # None is ''
    for path in PRINCIPAL_PATHS:
        v: Any = p
        for part in path:
            v = v.get(part) if isinstance(v, dict) else None
        if v := json_text(v).removeprefix("User:"):
            return v
    return "(unknown)"


def _first_error(result: Result | None) -> tuple[str, str]:
    """(status, detail) of the first ``result.data.errors`` entry that has a status."""
    errors = result.data.errors if result and result.data else None
    if isinstance(errors, list):
        for e in errors:
            if isinstance(e, dict) and has_status(e):
                return json_text(e["status"]), json_text(e.get("detail"))
    return "", ""


def _client_ip(meta: RequestMeta | None) -> str:
    if meta is None:
        return ""
    addrs = meta.clientAddress
    if isinstance(addrs, list):
        for a in addrs:
            if isinstance(a, dict) and has_ip(a):
                return json_text(a["ip"])
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
        raise Malformed("no time" if time is None else _unparseable(time))
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


def _auth(event: tuple, data: Data) -> tuple:
    """The row of a kafka.Authentication or mds.Authorize ``event`` (its first six columns)."""
    hour, id_, ts, time, method, principal = event
    authn, authz, result, meta = data.authenticationInfo, data.authorizationInfo, data.result, data.requestMetadata
    status = result.status or "" if result is not None else ""
    if authz is not None:
        operation, granted = authz.operation or "", authz.granted
        granted = "true" if granted is True else json_text(granted)
        rtype, rname, pattern = authz.resourceType or "", authz.resourceName or "", authz.patternType or ""
    else:
        operation = granted = rtype = rname = pattern = ""
    if method == "mds.Authorize":
        section, key = "mds_authorize", f"{principal}-{operation or '(none)'}"
    else:
        section = "kafka_authentication"
        key = principal if not status or status == "SUCCESS" else f"{principal} ({status})"
    conn = json_text(meta.connection_id if meta.connection_id is not None else meta.connectionId) if meta else ""
    if authn is not None:
        ident = authn.metadata.identifier or "" if authn.metadata is not None else ""
        resource_id = authn.principalResourceId or ""
    else:
        ident = resource_id = ""
    return (hour, id_, ts, time, method, principal, section, key,
            ident, resource_id, conn, status, granted, operation, rtype, rname, pattern)


def _signin(event: tuple, data: Data) -> tuple:
    """The row of a SignIn ``event`` (its first six columns)."""
    principal = event[5]
    authn, result = data.authenticationInfo, data.result
    status = result.status or "" if result is not None else ""
    outcome = authn.result if authn is not None and authn.result is not None else status
    p = authn.principal if authn is not None else None
    email = json_text(p.get("email")) if isinstance(p, dict) else ""
    who = email or principal
    if outcome != "FAILURE" and outcome != "SUCCESS":
        return event + ("", "")
    details = (email, outcome, _client_ip(data.requestMetadata), status)
    if outcome == "SUCCESS":
        return event + ("signin_success", who) + details
    err_status, err_detail = _first_error(result)
    key = f"{who} ({err_status})" if err_status else who
    return event + ("signin_failure", key) + details + (err_status, err_detail)

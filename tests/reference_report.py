"""A second, independent way to compute a report: plain Python over a list of events, with
``zoneinfo`` asked minute by minute for a day's columns. It imports nothing of ccaudit, so
that tests/test_reference_report.py can compare ccaudit's JSON reports with it under any
mix of zone, window, filters, ``--top`` and ``--section``. Slow and simple on purpose:
it is only ever given a few thousand events.

The rules are the README's (Reports, Filters, Formats); where it took a reading of them
to get right, a comment says which.
"""
from __future__ import annotations

import bisect
import json
import re
import unicodedata
from datetime import date, datetime, timedelta, timezone
from fnmatch import fnmatchcase
from zoneinfo import ZoneInfo

US = 1_000_000
HOUR = 3600 * US
QUARTER = 900 * US
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
LAST = 32503680000 * US  # 3000-01-01: times from then on are refused
SECTIONS = ("kafka_authentication", "mds_authorize", "signin_failure", "signin_success", "all_events")
GAP = 7  # more empty days than this in a row are a gap, not days
_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})\Z")
_PRINCIPAL_PATHS = (("confluentUser", "resourceId"), ("confluentServiceAccount", "resourceId"),
                    ("externalAccount", "subject"), ("identityPool", "resourceId"), ("email",))


def record_time(text) -> int | None:
    """µs since the epoch of a record's RFC 3339 time; digits past the µs dropped; :60 is
    the last µs of its minute."""
    m = _TIME.match(text) if isinstance(text, str) else None
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    offset = 0 if zone in "Zz" else (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    try:
        t = int(datetime(int(year), int(month), int(day), int(hour), int(minute), tzinfo=timezone.utc).timestamp())
    except ValueError:
        return None
    t = (t - offset) * US
    if int(second) > 60:
        return None
    if int(second) == 60:
        return t + 60 * US - 1
    return t + int(second) * US + (int(fraction[:6].ljust(6, "0")) if fraction else 0)


def text(value) -> str:
    """A JSON value as the store keeps it: text as it is, anything else as its JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def principal_of(p) -> str:
    if isinstance(p, str):
        return (p[5:] if p.startswith("User:") else p) or "(unknown)"
    if isinstance(p, dict):
        for path in _PRINCIPAL_PATHS:
            v = p
            for part in path:
                v = v.get(part) if isinstance(v, dict) else None
            if v := text(v).removeprefix("User:"):
                return v
        return "(unknown)"
    return text(p) or "(unknown)"


def _get(obj, *path):
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def classify(record) -> tuple | None:
    """(µs, method, principal, section or None, key or None, id) of a record, or None if
    it is not one (no id, method or valid time)."""
    data = record.get("data") if isinstance(record, dict) else None
    if not isinstance(data, dict) or record.get("id") in (None, ""):
        return None
    method, ts = data.get("methodName"), record_time(record.get("time"))
    if not isinstance(method, str) or not method or ts is None or not 0 <= ts < LAST:
        return None
    authn, result = data.get("authenticationInfo"), data.get("result")
    p = authn.get("principal") if isinstance(authn, dict) else None
    principal = principal_of(p)
    status = text(result.get("status")) if isinstance(result, dict) else text(result)
    section = key = None
    if method == "kafka.Authentication":
        section, key = "kafka_authentication", principal if status in ("", "SUCCESS") else f"{principal} ({status})"
    elif method == "mds.Authorize":
        section, key = "mds_authorize", f"{principal}-{text(_get(data, 'authorizationInfo', 'operation')) or '(none)'}"
    elif method == "SignIn":
        said = authn.get("result") if isinstance(authn, dict) else None
        outcome = text(said) if said is not None else status
        who = (text(p.get("email")) if isinstance(p, dict) else "") or principal
        if outcome == "SUCCESS":
            section, key = "signin_success", who
        elif outcome == "FAILURE":
            errors = _get(result, "data", "errors")
            statuses = [text(e["status"]) for e in (errors if isinstance(errors, list) else [])
                        if isinstance(e, dict) and e.get("status") not in (None, "")]
            first = statuses[0] if statuses else ""
            section, key = "signin_failure", f"{who} ({first})" if first else who
    return ts, method, principal, section, key, text(record.get("id"))


def events(records) -> list[tuple]:
    """The events of ``records`` (dicts, in load order): the first copy of an id in its UTC hour."""
    seen, kept = set(), []
    for record in records:
        event = classify(record)
        if event is not None and (event[5], event[0] // HOUR) not in seen:
            seen.add((event[5], event[0] // HOUR))
            kept.append(event[:5])
    return kept


def lines_records(path) -> list:
    """The records of a file of JSON lines, noise and prefixes skipped (a record starts at a line's first ``{``)."""
    found = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.lstrip().startswith("%") or "{" not in line:
                continue
            try:
                found.append(json.loads(line[line.index("{"):]))
            except ValueError:
                continue
    return found


# -- reports --------------------------------------------------------------------------

def _local(ts: int, tz) -> datetime:
    return (EPOCH + timedelta(microseconds=ts)).astimezone(tz)


def midnight(d: date, tz) -> int:
    """µs of the first instant whose local date is ``d`` (local midnight may be skipped)."""
    t = int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()) * US - 15 * HOUR
    while _local(t, tz).date() < d:
        t += QUARTER
    while _local(t - 60 * US, tz).date() >= d:
        t -= 60 * US
    return t


def _offset(seconds: int) -> str:
    sign, seconds = "+" if seconds >= 0 else "-", abs(seconds)
    hours, minutes = divmod(seconds // 60, 60)
    return f"{sign}{hours}" if minutes == 0 else f"{sign}{hours}:{minutes:02d}"


def columns(d: date, tz) -> list[tuple[int, int, str]]:
    """(start µs, end µs, label) of each local hour of ``d``, found a minute at a time; an
    hour the day has twice is labelled with its offset (``02+2``, ``02+1``)."""
    start, end = midnight(d, tz), midnight(d + timedelta(days=1), tz)
    runs: list[list] = []
    for t in range(start, end, 60 * US):
        local = _local(t, tz)
        hour = (local.hour, int(local.utcoffset().total_seconds()))
        if runs and runs[-1][2] == hour:
            runs[-1][1] = t + 60 * US
        else:
            runs.append([t, t + 60 * US, hour])
    times = {}
    for run in runs:
        times[run[2][0]] = times.get(run[2][0], 0) + 1
    return [(s, e, f"{h:02d}" if times[h] == 1 else f"{h:02d}{_offset(off)}") for s, e, (h, off) in runs]


def iso(ts: int, tz) -> str:
    """A time as reports write it: the fraction only if not zero, ``Z`` at offset 0."""
    local = _local(ts, tz)
    s = local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{local.microsecond:06d}" if local.microsecond else "")
    offset = int(local.utcoffset().total_seconds())
    if offset == 0:
        return s + "Z"
    sign, offset = "+" if offset > 0 else "-", abs(offset)
    return s + f"{sign}{offset // 3600:02d}:{offset % 3600 // 60:02d}"


def shown(name: str, runs: bool = False) -> str:
    """A name as reports show it: spaces at either end (``runs``: and in runs), characters
    that are not printable, and what composing (NFC) would change, as escapes."""
    out = []
    for i, ch in enumerate(name):
        near = (i > 0 and name[i - 1] == " ") or (i + 1 < len(name) and name[i + 1] == " ")
        if ch == " " and (i in (0, len(name) - 1) or runs and near):
            out.append("\\x20")
        elif (not ch.isprintable() or unicodedata.normalize("NFC", ch) != ch or unicodedata.combining(ch)
              and (i == 0 or unicodedata.normalize("NFC", name[i - 1] + ch) != name[i - 1] + ch)):
            o = ord(ch)
            out.append(f"\\x{o:02x}" if o < 256 else f"\\u{o:04x}" if o < 65536 else f"\\U{o:08x}")
        else:
            out.append(ch)
    return "".join(out)


_ESCAPE = re.compile(r"\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def matches(name: str, glob: str) -> bool:
    """A --principal or --method glob: the name as it is, or, for a glob with a report's
    escape in it, as reports show it (README, Filters)."""
    return fnmatchcase(name, glob) or (_ESCAPE.search(glob) is not None
                                       and (fnmatchcase(shown(name), glob) or fnmatchcase(shown(name, True), glob)))


def report(all_events: list[tuple], tz_name: str = "UTC", since: int | None = None, until: int | None = None,
           principal: str | None = None, method: str | None = None, sections=None, top: int | None = None) -> dict:
    """The report's summary and days, as ccaudit's JSON has them (the fields compared)."""
    tz = timezone.utc if tz_name == "UTC" else ZoneInfo(tz_name)
    kept = sorted((e for e in all_events if (since is None or e[0] >= since) and (until is None or e[0] < until)
                   and (principal is None or matches(e[2], principal)) and (method is None or matches(e[1], method))),
                  key=lambda e: e[0])
    if not kept:
        return {"summary": {"events": 0}, "days": []}
    by_day: dict[date, list] = {}
    for e in kept:
        by_day.setdefault(_local(e[0], tz).date(), []).append(e)
    first, last = min(by_day), max(by_day)
    per_day, gaps, empty, days = {}, [], [], []
    d = first
    while d <= last:  # days from the first event to the last; a run of over GAP empty days is a gap
        if d in by_day:
            if len(empty) > GAP:
                gaps.append({"from": empty[0].isoformat(), "to": empty[-1].isoformat(), "days": len(empty)})
            else:
                days += empty
                per_day.update((e.isoformat(), 0) for e in empty)
            empty = []
            days.append(d)
            per_day[d.isoformat()] = len(by_day[d])
        else:
            empty.append(d)
        d += timedelta(days=1)
    summary = {"events": len(kept), "first_day": first.isoformat(), "last_day": last.isoformat(),
               "per_day": per_day, "gaps": gaps}
    return {"summary": summary, "days": [_day(d, by_day.get(d, []), tz, sections or SECTIONS, top) for d in days]}


def _day(d: date, day_events: list, tz, sections, top: int | None) -> dict:
    cols = columns(d, tz)
    labels, starts = [c[2] for c in cols], [c[0] for c in cols]
    place = [bisect.bisect_right(starts, e[0]) - 1 for e in day_events]
    counted = [0] * len(cols)
    for i in place:
        counted[i] += 1
    coverage = {"first_event": iso(day_events[0][0], tz) if day_events else None,
                "last_event": iso(day_events[-1][0], tz) if day_events else None,
                "empty_hours": [label for label, n in zip(labels, counted) if n == 0]}
    return {"date": d.isoformat(), "events": len(day_events), "hour_labels": labels, "coverage": coverage,
            "sections": {s: _rows(s, day_events, place, labels, tz, top) for s in SECTIONS if s in sections}}


def _rows(section: str, day_events: list, place: list, labels: list, tz, top: int | None) -> list[dict]:
    rows: dict[str, dict] = {}
    for e, i in zip(day_events, place):
        if section != "all_events" and e[3] != section:
            continue
        key = e[1] if section == "all_events" else e[4]
        row = rows.setdefault(key, {"key": key, "hours": [0] * len(labels), "times": []})
        row["hours"][i] += 1
        row["times"].append(e[0])
    made = []
    for key, row in sorted(rows.items(), key=lambda kv: kv[0].encode("utf-8", "surrogatepass")):
        peak = max(row["hours"])
        made.append({"key": key, "hours": row["hours"], "total": len(row["times"]),
                     "first_seen": iso(min(row["times"]), tz), "last_seen": iso(max(row["times"]), tz),
                     "peak_hour": labels[row["hours"].index(peak)], "peak_count": peak})  # the earliest of equal hours
    if top:  # the busiest, ties in key order (the sort is stable)
        made = sorted(made, key=lambda r: -r["total"])[:top]
    return made


def breaches(doc: dict, rules: list[tuple[str, str, int, str]]) -> tuple[list[dict], list[bool]]:
    """``check``'s breaches of ``rules`` (section glob, key glob, max, "hour" or "day") in a
    ``report`` of every section, and whether each rule matched a key (README, check)."""
    found, matched = [], [False] * len(rules)
    for day in doc["days"]:
        for section, rows in day["sections"].items():
            for n, (sections, keys, most, per) in enumerate(rules):
                for row in (r for r in rows if fnmatchcase(section, sections) and matches(r["key"], keys)):
                    matched[n] = True
                    rule = f"{sections}:{keys}={most}/{per[0]}"
                    over = [(label, c) for label, c in zip(day["hour_labels"], row["hours"]) if c > most] \
                        if per == "hour" else [(None, row["total"])] * (row["total"] > most)
                    found += [{"section": section, "key": row["key"], "day": day["date"], "hour": hour, "count": c,
                               "limit": most, "per": per, "rule": rule} for hour, c in over]
    return found, matched


def totals(doc: dict) -> dict[tuple[str, str], int]:
    """Events per (section, key) over a ``report``'s days: a side of ``diff``."""
    summed: dict[tuple[str, str], int] = {}
    for day in doc["days"]:
        for section, rows in day["sections"].items():
            for row in rows:
                summed[section, row["key"]] = summed.get((section, row["key"]), 0) + row["total"]
    return summed


def diff_rows(a: dict, b: dict) -> list[dict]:
    """``diff --all``'s rows of two ``totals``, in no order."""
    status = {(True, False): "vanished", (False, True): "new"}
    return [{"section": s, "key": k, "count_a": a.get((s, k), 0), "count_b": b.get((s, k), 0),
             "change": b.get((s, k), 0) - a.get((s, k), 0),
             "status": status.get(((s, k) in a, (s, k) in b)) or ("same" if a[s, k] == b[s, k] else "changed")}
            for s, k in set(a) | set(b)]

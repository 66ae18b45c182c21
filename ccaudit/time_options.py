"""The time options read: ``--tz`` as a zone (with the IANA names meant by a misspelt one or
an offset), ``--since`` and ``--until`` as microseconds, and the filters they make."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo

import click

from .clock import EPOCH
from .filters import Filters
from .text import quoted


def zone(name: str) -> tzinfo:
    if name.upper() in ("UTC", "Z"):
        return timezone.utc
    _refuse_unplaced(_unprefixed(name, "posix/"), name)  # posix/EST is EST
    if (found := _zone_info(name)) is None:
        raise click.BadParameter(f"unknown time zone {quoted(name)}{_zone_hint(name)}", param_hint=["--tz"])
    return found


def _refuse_unplaced(zone: str, name: str) -> None:
    """Refuse ``zone`` (as ``name``) if it is not the clocks of a place: the machine's own,
    a placeholder, one counting leap seconds, or a summer-less abbreviation."""
    if zone.lower() in ("localtime", "posixrules"):  # this machine's, which a change of it changes
        raise click.BadParameter(f"{quoted(name)} is this machine's zone, not a named one{_IANA}", param_hint=["--tz"])
    if zone.lower() == "factory":
        raise click.BadParameter(f"{quoted(name)} is a placeholder with no place's time{_IANA}", param_hint=["--tz"])
    if zone.lower().startswith("right/"):  # Python's zones skip the leap seconds, and every change came 27 s early
        place = _unprefixed(zone[6:], "posix/")
        _refuse_unplaced(place, name)  # (right/EST: EST is no place's either)
        give = f"; give {quoted(place)}" if _zone_info(place) else _IANA
        raise click.BadParameter(f"{quoted(name)} counts leap seconds, which UTC times do not{give}",
                                 param_hint=["--tz"])
    if zone.upper() in _ALL_YEAR:  # a zone of that name, but summer's clocks of the places that say it are not
        offset, city, zone_of_city, all_year = _ALL_YEAR[zone.upper()]
        raise click.BadParameter(f"{quoted(name)} is {offset} all year, not the clocks of {city} in summer: "
                                 f"give {zone_of_city}, or {all_year} for {offset} all year", param_hint=["--tz"])


def _zone_info(name: str) -> tzinfo | None:
    """The IANA zone ``name``, if there is one."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones (America), too long a name
        return None


def _unprefixed(name: str, prefix: str) -> str:
    return name[len(prefix):] if name[:len(prefix)].lower() == prefix else name


def _zone_hint(name: str) -> str:
    """The IANA names closest to a misspelt one; a name like Europe/Zurich for an offset or
    an abbreviation, which mean different things on different dates."""
    import difflib
    import warnings
    from zoneinfo import available_timezones

    offset = _OFFSET.fullmatch(name.strip())
    if offset:  # difflib offered Etc/GMT+2 for GMT+2, which is UTC-2
        return _fixed(*offset.groups())
    with warnings.catch_warnings():  # its own open() without an encoding (-X warn_default_encoding)
        warnings.simplefilter("ignore")
        names = sorted(z for z in available_timezones() if "/" in z)  # not EST or CET for CEST
    spelt = {(z if "/" in name else z.rsplit("/", 1)[1]).lower(): z for z in names}  # Kolkata: Asia/Kolkata
    close = difflib.get_close_matches(name.lower().replace(" ", "_"), list(spelt), n=3, cutoff=0.8)
    if close:
        return " (did you mean " + " or ".join(spelt[c] for c in close) + "?)"
    return f"{_IANA} (an offset or an abbreviation is not one)"


_IANA = "; give an IANA name such as Europe/Zurich or Asia/Kolkata"
_ALL_YEAR = {"EST": ("UTC-05:00", "New York", "America/New_York", "America/Panama"),
             "MST": ("UTC-07:00", "Denver", "America/Denver", "America/Phoenix")}
_OFFSET = re.compile(r"(?i)(etc/)?(gmt|utc)?\s*([+-])\s*([0-9]{1,2})(?::?([0-9]{2}))?")


def _fixed(etc: str | None, name: str | None, sign: str, hours: str, minutes: str | None) -> str:
    """What to give for a fixed offset: an Etc/GMT zone, whose sign is the reverse of UTC's,
    unless an Etc/GMT name was typed (etc/gmt-5, Etc/GMT+02): its sign is then as meant. One
    with minutes (Etc/GMT+2:00) could be either, and gets the rule, not a zone."""
    h, m = int(hours), int(minutes or 0)
    if not h and not m:
        return " (did you mean UTC?)"
    if etc and (name or "").lower() == "gmt" and minutes is None and h <= (14 if sign == "-" else 12):
        return f" (did you mean Etc/GMT{sign}{h}?)"
    if m or h > (14 if sign == "+" else 12) or etc and minutes is not None:
        return f"{_IANA} (an offset is not one; Etc/GMT zones, whole hours, take its sign reversed: Etc/GMT-2 is UTC+2)"
    posix = f"Etc/GMT{'-' if sign == '+' else '+'}{h}"
    return f"{_IANA} (an offset is not one; for a fixed UTC{sign}{h}, give {posix}: its sign is reversed)"


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8}")  # 2024-05-06 or 20240506
_HH, _MM = "[01][0-9]|2[0-3]", "[0-5][0-9]"
_TIME = re.compile(rf"([0-9]{{4}})-([0-9]{{2}})-([0-9]{{2}})[Tt ]({_HH}):({_MM})(?::({_MM}|60)(?:[.,]([0-9]+))?)?"
                   rf"([Zz]|[+-](?:{_HH}):?(?:{_MM}))?")  # a colon in the offset, or none: date +%z prints +0200


def instant(text: str | None, tz: tzinfo, end: bool, option: str) -> int | None:
    """Epoch microseconds for a date (local midnight; the next one if ``end``) or an RFC 3339
    time (seconds optional; without an offset, in ``tz``), read by these patterns, not by
    ``fromisoformat``, which takes week dates and reads commas by the Python version.
    Exact to the microsecond: integer arithmetic, no float timestamp; digits past the
    microsecond are dropped, as they are from events' times, so an event's own time as a
    bound is in the window from it and out of the one up to it. A leap second (:60) is the
    last microsecond of its minute, as an event's."""
    if text is None:
        return None
    try:
        if _DATE.fullmatch(text):
            digits = text.replace("-", "")
            day = datetime(int(digits[:4]), int(digits[4:6]), int(digits[6:]), tzinfo=tz)
            if end and day.date() == day.date().max:  # its next midnight is past what datetime holds
                return None  # and past every event (they end in 3000): no end
            return _since_epoch(day + timedelta(days=1 if end else 0))
        if m := _TIME.fullmatch(text):
            *ymdhm, second, fraction, offset = m.groups()
            second, fraction = int(second or 0), fraction or ""
            t = datetime(*map(int, ymdhm), min(second, 59),  # type: ignore[arg-type, call-arg, misc]  # five ints
                         int(fraction[:6].ljust(6, "0")), tzinfo=_offset(offset, tz))
            if not offset and _skipped(t, tz):  # was read as an hour later, silently
                raise click.BadParameter(f"{quoted(text)} is not a time in {tz}: its clocks skipped it; give an offset",
                                         param_hint=[option])
            return _since_epoch(t.replace(microsecond=999_999) if second == 60 else t)
    except (ValueError, OverflowError, OSError):
        pass
    raise click.BadParameter(f"{quoted(text)} is not a date or RFC 3339 time (e.g. 2024-05-06, 2024-05-06T10:30Z, "
                             "2024-05-06T10:30:00+02:00)", param_hint=[option])


def _skipped(t: datetime, tz: tzinfo) -> bool:
    """Whether local time ``t`` never was in ``tz`` (the clocks jumped over it)."""
    try:
        return t.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None) != t.replace(tzinfo=None)
    except OverflowError:  # at an end of the calendar: nothing to skip there
        return False


def _offset(text: str | None, tz: tzinfo) -> tzinfo:
    if not text:
        return tz
    if text in "Zz":
        return timezone.utc
    minutes = int(text[1:3]) * 60 + int(text[-2:])
    return timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))


def _since_epoch(t: datetime) -> int:
    return (t - EPOCH) // timedelta(microseconds=1)


def filters(tz: tzinfo, since: str | None, until: str | None, principal: str | None = None,
            method: str | None = None, sections: tuple[str, ...] = (), top: int | None = None,
            prefix: str = "--") -> Filters:
    """Filters from the options; a window that ends before it starts is a usage error."""
    start, end = instant(since, tz, False, f"{prefix}since"), instant(until, tz, True, f"{prefix}until")
    if start is not None and end is not None and start >= end:
        raise click.UsageError(f"{prefix}since {since} is not before {prefix}until {until}: the window is empty")
    return Filters(since=start, until=end, principal=principal, method=method, sections=tuple(sections), top=top)

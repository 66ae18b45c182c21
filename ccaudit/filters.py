"""What a report keeps (``Filters``), checked as it is made: a program passes what the
commands' options would have refused, and a report of it was empty or wrong without a word
(a window that ends before it starts, an unknown section, ``top=0``, a time as text)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta, tzinfo

from .clock import EPOCH
from .schema import SECTIONS
from .text import plural, printable

FIRST_US, LAST_US = -62_135_596_800_000_000, 253_402_300_800_000_000  # datetime's range, in µs from 1970
_SLACK = 2 * 86_400 * 10**6  # a local date of year 1 or 9999 may be in year 0 or 10000 in UTC


@dataclass
class Filters:
    """What to keep: ``since``/``until`` are epoch microseconds (``since <= t < until``),
    ``principal`` and ``method`` fnmatch globs, ``sections`` section ids, ``top`` the busiest
    rows of each section and day. A value of the wrong kind is a TypeError, one no command
    would take a ValueError."""

    since: int | None = None
    until: int | None = None
    principal: str | None = None
    method: str | None = None
    sections: list[str] | tuple[str, ...] = ()  # (any iterable but a str is taken, kept as a tuple)
    top: int | None = None

    def __post_init__(self) -> None:
        for name, kind in (("since", int), ("until", int), ("top", int), ("principal", str), ("method", str)):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                raise TypeError(f"Filters.{name} is {kind.__name__} or None, not {type(value).__name__}"
                                + (" (epoch microseconds)" if name in ("since", "until") else ""))
        if self.sections is None:  # every section, as ()
            self.sections = ()
        if not isinstance(self.sections, str) and isinstance(self.sections, Iterable):
            self.sections = tuple(self.sections)  # before it is checked: a generator is read once
        if not isinstance(self.sections, tuple) or not all(isinstance(s, str) for s in self.sections):
            raise TypeError("Filters.sections is a list or tuple of section ids, such as ['all_events']")
        if unknown := [s for s in self.sections if s not in SECTIONS]:
            raise ValueError(f"Filters.sections: no section {unknown[0]!r}; the sections are {', '.join(SECTIONS)}")
        if any(t is not None and not FIRST_US - _SLACK <= t <= LAST_US + _SLACK for t in (self.since, self.until)):
            raise ValueError("Filters.since and until are epoch microseconds from year 1 to 9999")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("Filters: the window is empty (since is not before until)")
        if self.top is not None and not 1 <= self.top < 2**63:
            raise ValueError("Filters.top keeps from 1 to 2**63 - 1 rows")


def check_zone(tz: object) -> None:
    """A report's zone is a tzinfo whose offsets are whole quarter hours (or a zone's,
    whose history the README tells): counts are kept per UTC quarter hour, and a fixed
    offset of +00:07 would put every event in another hour, and some on another date."""
    if not isinstance(tz, tzinfo):
        raise TypeError(f"tz is a tzinfo, such as zoneinfo.ZoneInfo('Europe/Zurich'), not {type(tz).__name__}")
    offset = _fixed_offset(tz)
    if offset is not None and offset % timedelta(minutes=15):
        raise ValueError(f"tz {tz}: counts are kept per quarter hour, so an offset must be whole quarter hours")


def _fixed_offset(tz: tzinfo) -> timedelta | None:
    """The offset of a zone that has one at every instant (``timezone``, dateutil's
    ``tzoffset``, pytz's ``FixedOffset``: they answer ``utcoffset(None)``), else None."""
    try:
        offset = tz.utcoffset(None)
    except Exception:  # a zone that needs an instant to answer
        return None
    return offset if isinstance(offset, timedelta) else None


def in_words(f: Filters) -> tuple[str, ...]:
    """Each filter of ``f`` as a reader of the report would say it; window bounds in UTC,
    which holds any of them (a zone's clock ends before 9999-12-31T23:59Z)."""
    said = [f"principal {_glob(f.principal)}" if f.principal is not None else "",
            f"method {_glob(f.method)}" if f.method is not None else "",
            "sections " + ", ".join(t for s, t in SECTIONS.items() if s in f.sections) if f.sections else "",
            f"from {_utc(f.since)}" if f.since is not None else "",
            f"before {_utc(f.until)}" if f.until is not None else "",
            f"the {plural(f.top, 'busiest key')} of each section and day" if f.top is not None else ""]
    return tuple(filter(None, said))


def _glob(text: str) -> str:
    """A glob made printable on its own, where its spaces are its own: in a sentence,
    those at its ends would pass for the sentence's (an empty one is ``''``)."""
    return printable(text) if text else "''"


_CYCLE = timedelta(days=146_097)  # 400 Gregorian years: the calendar repeats after them


def _utc(us: int) -> str:
    """The instant ``us`` as ISO 8601 in UTC. A local 9999-12-31T23:59 west of UTC is in the
    year 10000 there, and 0001-01-01T00:00 east of it in the year 0, which ``datetime``
    cannot hold: such an instant is written from one 400 years nearer."""
    cycles = (us >= LAST_US) - (us < FIRST_US)
    t = EPOCH + (timedelta(microseconds=us) - cycles * _CYCLE)
    return f"{t.year + 400 * cycles:04}{t.isoformat()[4:]}".replace("+00:00", "Z")

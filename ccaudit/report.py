"""Crosstabs from the store: per day, per section, one row per key, one column per hour.

``build()`` returns plain dataclasses; ``render`` turns them into text, markdown, csv,
json or html. Hours are local to ``tz`` (UTC by default): a day on which daylight saving
time starts has 23 hour columns, one on which it ends has 25 (the repeated hour's labels
carry the UTC offset, e.g. ``02+2`` then ``02+1``).
"""
from __future__ import annotations

import bisect
import fnmatch
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING

from .schema import QUARTER, SECTIONS, US

if TYPE_CHECKING:
    from .store import Store

UTC = timezone.utc
MAX_EMPTY_RUN = 7  # empty days listed one by one; a longer run is one line


@dataclass(slots=True)  # a report can hold hundreds of thousands of rows
class Row:
    key: str
    hours: list[int]
    total: int
    first_seen: str
    last_seen: str
    peak_hour: str
    peak_count: int


@dataclass
class Section:
    id: str
    title: str
    rows: list[Row]


@dataclass
class Day:
    date: str
    events: int
    hour_labels: list[str]
    sections: dict[str, Section]
    first_event: str | None = None
    last_event: str | None = None
    empty_hours: list[str] = field(default_factory=list)


@dataclass
class Gap:
    """A run of more than MAX_EMPTY_RUN days without events, one line in the summary,
    text, markdown and html (``summary.gaps`` in JSON; CSV lists only days): output
    follows the days that have events, never the span (two records a thousand years
    apart must not make a million-line report)."""

    first: str
    last: str
    days: int

    def line(self) -> str:
        return f"no events from {self.first} to {self.last}, {self.days:,} days"


@dataclass
class Report:
    days: list[Day]
    tz: str = "UTC"
    load: dict | None = None
    gaps: list[Gap] = field(default_factory=list)

    def timeline(self) -> Iterator[Day | Gap]:
        """The days and the gaps between them, in date order."""
        gaps = iter(self.gaps)
        gap = next(gaps, None)
        for day in self.days:
            while gap is not None and gap.first < day.date:
                yield gap
                gap = next(gaps, None)
            yield day

    @property
    def span_days(self) -> int:
        """Calendar days from the first to the last, both included."""
        return len(self.days) + sum(g.days for g in self.gaps)

    @property
    def events(self) -> int:
        return sum(d.events for d in self.days)

    def summary(self) -> dict:
        s: dict = {
            "events": self.events,
            "first_day": self.days[0].date if self.days else None,
            "last_day": self.days[-1].date if self.days else None,
            "per_day": {d.date: d.events for d in self.days},
        }
        if self.gaps:
            s["gaps"] = [{"from": g.first, "to": g.last, "days": g.days} for g in self.gaps]
        if self.tz != "UTC":
            s["tz"] = self.tz
        if self.load is not None:
            s["load"] = self.load
        return s

    @property
    def span(self) -> tuple[str | None, str | None]:
        """First and last date, (None, None) for no days: every summary of a report names them."""
        return (self.days[0].date, self.days[-1].date) if self.days else (None, None)


@dataclass
class Filters:
    """What to keep: ``since``/``until`` are epoch microseconds, the rest globs or section ids."""

    since: int | None = None
    until: int | None = None
    principal: str | None = None
    method: str | None = None
    sections: tuple[str, ...] = ()
    top: int | None = None


class _Clock:
    """Maps epoch seconds to (local date, hour column) in one zone, with caches."""

    def __init__(self, tz: tzinfo):
        self.tz = tz
        self._days: dict[date, tuple[list[int], list[str]]] = {}
        self._where: dict[int, tuple[date, int]] = {}

    def place(self, ts: int) -> tuple[date, int]:
        q = ts - ts % QUARTER
        hit = self._where.get(q)
        if hit is None:
            d = datetime.fromtimestamp(q, self.tz).date()
            starts, _ = self.columns(d)
            hit = self._where[q] = (d, bisect.bisect_right(starts, q) - 1)
        return hit

    def columns(self, d: date) -> tuple[list[int], list[str]]:
        """Start (epoch s) and label of each local hour of date ``d``."""
        if d not in self._days:
            self._days[d] = self._hours_of(d)
        return self._days[d]

    def _hours_of(self, d: date) -> tuple[list[int], list[str]]:
        # Local midnight is within UTC midnight -14h (UTC+14) .. +12h (UTC-12), and the local
        # day ends by UTC midnight +36h (+1h for DST): scan from -15h to +39h.
        guess = int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()) - 15 * 3600
        slots: list[tuple[int, int, timedelta | None]] = []
        for q in range(guess, guess + 54 * 3600, QUARTER):
            local = datetime.fromtimestamp(q, self.tz)
            if local.date() != d:
                continue
            slot = (local.hour, local.utcoffset())
            if not slots or slots[-1][1:] != slot:
                slots.append((q, *slot))
        hours = [h for _, h, _ in slots]
        labels = [
            f"{h:02d}" if hours.count(h) == 1 else f"{h:02d}{_offset(off)}"
            for _, h, off in slots
        ]
        return [q for q, _, _ in slots], labels

    def iso(self, us: int) -> str:
        """An event time (epoch µs) in this zone, to the microsecond when it has a fraction."""
        t = datetime.fromtimestamp(us // US, self.tz).replace(microsecond=us % US)
        return t.isoformat().replace("+00:00", "Z")


def _offset(off: timedelta | None) -> str:
    minutes = int(off.total_seconds() // 60) if off is not None else 0
    sign = "+" if minutes >= 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h}" if not m else f"{sign}{h}:{m:02d}"


def build(store: Store, tz: tzinfo = UTC, filters: Filters | None = None,
          load: dict | None = None) -> Report:
    """Count every section of every day from the first to the last day with events
    (runs of more than MAX_EMPTY_RUN empty days become gaps)."""
    f = filters or Filters()
    clock = _Clock(tz)
    # (date, section) -> key -> [hour counts, first µs, last µs]
    cells: dict = defaultdict(dict)
    place, by_method = clock.place, f.method is not None
    keep = set(f.sections) | {"all_events"} if f.sections else None  # all_events: each day's totals
    for section, key, method, quarter, n, first, last in store.buckets(f.since, f.until, f.principal):
        if by_method and not fnmatch.fnmatchcase(method, f.method):
            continue
        d, col = place(quarter)
        for sid, k in (("all_events", method), (section, key)):
            if not sid or keep is not None and sid not in keep:
                continue
            keys = cells[d, sid]
            row = keys.get(k)
            if row is None:
                keys[k] = [defaultdict(int, {col: n}), first, last]
                continue
            row[0][col] += n
            if first < row[1]:
                row[1] = first
            if last > row[2]:
                row[2] = last
    dates = sorted({d for d, _ in cells})
    shown, gaps = _dates_shown(dates)
    days = [_day(d, cells, clock, f) for d in shown]
    return Report(days=days, tz=getattr(tz, "key", None) or str(tz) if tz is not UTC else "UTC", load=load,
                  gaps=gaps)


def _dates_shown(dates: list[date]) -> tuple[list[date], list[Gap]]:
    """Every date from the first to the last with events, but runs of more than
    MAX_EMPTY_RUN empty days as gaps."""
    shown, gaps = [], []
    for before, d in zip([None, *dates], dates):
        empty = (d - before).days - 1 if before else 0
        if empty > MAX_EMPTY_RUN:
            gaps.append(Gap(str(before + timedelta(days=1)), str(d - timedelta(days=1)), empty))
        elif before:
            shown += [before + timedelta(days=i) for i in range(1, empty + 1)]
        shown.append(d)
    return shown, gaps


def _day(d: date, cells: dict, clock: _Clock, f: Filters) -> Day:
    """The day's rows; its cells are dropped as they become rows, so the two never both
    hold a big section."""
    starts, labels = clock.columns(d)
    events = cells.get((d, "all_events"), {})
    day = Day(d.isoformat(), sum(sum(c[0].values()) for c in events.values()), labels, {})
    if events:
        day.first_event = clock.iso(min(c[1] for c in events.values()))
        day.last_event = clock.iso(max(c[2] for c in events.values()))
    busy = {col for c in events.values() for col, n in c[0].items() if n}
    day.empty_hours = [label for i, label in enumerate(labels) if i not in busy]  # all, on a day without events
    for sid, title in SECTIONS.items():
        if f.sections and sid not in f.sections:
            continue
        keys = cells.pop((d, sid), {})
        rows = [_row(key, keys.pop(key), labels, clock) for key in list(keys)]
        if f.top is not None:
            rows = sorted(rows, key=lambda r: (-r.total, r.key))[: f.top]
        else:
            rows.sort(key=lambda r: r.key)
        day.sections[sid] = Section(sid, title, rows)
    return day


def _row(key: str, cell: list, labels: list[str], clock: _Clock) -> Row:
    counts, first, last = cell
    hours = [counts.get(i, 0) for i in range(len(labels))]
    peak = max(range(len(hours)), key=lambda i: (hours[i], -i))
    return Row(key, hours, sum(hours), clock.iso(first), clock.iso(last), labels[peak], hours[peak])

"""Crosstabs from the store: per day, per section, one row per key, one column per hour.

``build()`` returns plain dataclasses; ``render`` turns them into text, markdown, csv,
json or html. Hours are local to ``tz`` (UTC by default): a day on which daylight saving
time starts has 23 hour columns, one on which it ends has 25 (the repeated hour's labels
carry the UTC offset, e.g. ``02+2`` then ``02+1``).
"""
from __future__ import annotations

import contextlib
import functools
import operator
from array import array
from collections.abc import ItemsView, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, tzinfo
from typing import TYPE_CHECKING, ClassVar

from . import loadnotes
from .arguments import of_kind
from .clock import UTC, Clock
from .counts import Selection
from .dates import Days, Gap, Made, PerDay, Totals, dates_shown
from .filters import Filters, check_zone, in_words
from .schema import SECTIONS
from .spool import Spool
from .sqlraised import stops_through_sql
from .text import plural

if TYPE_CHECKING:
    from .cells import Times
    from .store import Store

@dataclass(slots=True)  # a report can hold hundreds of thousands of rows
class Row:
    key: str
    hours: list[int]
    total: int
    first_seen: str
    last_seen: str
    peak_hour: str
    peak_count: int
    OWN_TIMES: ClassVar[bool] = False  # a program's Row may hold any text: only a stored row's times are ccaudit's

    def stats(self) -> tuple[str, str, str, int]:
        """(first seen, last seen, peak hour, peak count)."""
        return self.first_seen, self.last_seen, self.peak_hour, self.peak_count

    def largest(self) -> int:
        """The largest count of its hours (0 without hours): what sizes a table's cells."""
        return max(self.hours, default=0)


@dataclass
class Section:
    id: str
    title: str
    rows: Iterable[Row]  # a list, or Rows read from the store as they are iterated


@dataclass
class Day:
    date: str
    events: int
    hour_labels: list[str]
    sections: dict[str, Section]
    first_event: str | None = None
    last_event: str | None = None
    empty_hours: list[str] = field(default_factory=list)

    def coverage(self) -> dict:
        """What hours the day's events cover, as its JSON and the summary's give it."""
        return {"first_event": self.first_event, "last_event": self.last_event, "empty_hours": self.empty_hours}


@dataclass
class Report:
    days: Sequence[Day]  # a list, or days made when asked for (Days)
    tz: str = "UTC"
    load: dict | None = None
    gaps: Sequence[Gap] = field(default_factory=list)  # a list, or Gaps
    selection: Selection | None = None  # what the rows are read through, None once they are in memory
    selected: tuple[str, ...] = ()  # the filters, said in words ("principal sa-*"), for a page read later
    unfinished: list[dict] = field(default_factory=list)  # loads killed part way (Store.unfinished)

    def close(self) -> None:
        """End the snapshot the report's rows are read from: until then a load into the
        store by another connection waits. Its rows cannot be read after."""
        if self.selection is not None:
            self.selection.end()

    def __enter__(self) -> Report:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def timeline(self) -> Sequence[Day | Gap]:
        """The days and the gaps between them, in date order, each day made when it is
        asked for if the report's are (``Days``)."""
        days, gaps, order, g = self.days, self.gaps, array("q"), 0  # a day's index, or a gap's as ~index
        date_of = days.date if isinstance(days, Days) else (lambda i: days[i].date)
        for i in range(len(days)):
            while g < len(gaps) and gaps[g].first < date_of(i):
                order.append(~g)
                g += 1
            order.append(i)
        return Made(lambda k: days[k] if k >= 0 else gaps[~k], order)

    @property
    def span_days(self) -> int:
        """Calendar days from the first to the last, both included."""
        return len(self.days) + sum(g.days for g in self.gaps)

    @property
    def events(self) -> int:
        return sum(self.per_day().values())

    def per_day(self) -> Mapping[str, int]:
        """Each day's events by date, read from the totals (without making the days) if
        the days are made when asked for."""
        return PerDay(self.days) if isinstance(self.days, Days) else {d.date: d.events for d in self.days}

    def told(self) -> list[str]:
        """What a report file says under its title: the filters, and the loads into the store that
        had not ended. Read later, without the command that made it, it would pass for a whole report."""
        selected = "Selected: " + "; ".join(self.selected) if self.selected else ""
        return [t for t in (selected, loadnotes.warning(self.unfinished)) if t]

    def summary(self, made: bool = False) -> dict:
        """The report's totals, a date's events for each day. With ``made``, the days and
        gaps are read as they are written, not held (a store can hold 200,000 dates):
        write that with ``jsontext.json_pieces``."""
        s: dict = {
            "events": self.events,
            "first_day": self.days[0].date if self.days else None,
            "last_day": self.days[-1].date if self.days else None,
            "per_day": self.per_day() if made else dict(self.per_day()),
        }
        gaps = Made(_gap_json, self.gaps)  # each key in every report, empty or not: a script reads them
        s["gaps"] = gaps if made else list(gaps)
        s["tz"], s["unfinished_loads"], s["selected"] = self.tz, self.unfinished, list(self.selected)
        if self.load is not None:
            s["load"] = self.load
        return s

    def in_memory(self) -> Report:
        """This report with every section's rows read into lists, usable after the store
        is closed (for small reports: tests, and programs that keep one)."""
        self.days = list(self.days)
        for day in self.days:
            for section in day.sections.values():
                section.rows = list(section.rows)
        self.close()
        self.selection = None
        return self

    def totals(self) -> Iterator[tuple[str, Iterable[tuple[str, int]]]]:
        """(section, its (key, events) pairs, a key possibly more than once: sum them) over
        every day: from the store's counts summed over the window, unless a program made
        the rows (or kept only the busiest)."""
        sections = self.days[0].sections if self.days else {}
        if self.selection is not None and all(isinstance(s.rows, Rows) and s.rows.top is None
                                              for s in sections.values()):
            for sid in sections:
                yield sid, self.selection.totals(sid)
            return
        for day in self.days:
            for sid, section in day.sections.items():
                yield sid, ((key, sum(hours)) for key, hours in cells(section.rows))

    @property
    def span(self) -> tuple[str | None, str | None]:
        """First and last date, (None, None) for no days: every summary of a report names them."""
        return (self.days[0].date, self.days[-1].date) if self.days else (None, None)


class Coverage(Mapping):
    """Each day's ``Day.coverage`` by date, made as it is read: a summary names every
    date, and a store can hold 200,000."""

    def __init__(self, days: Sequence[Day]):
        self.days = days

    def __len__(self) -> int:
        return len(self.days)

    def __iter__(self) -> Iterator[str]:
        return (day.date for day in self.days)

    def __getitem__(self, iso: str) -> dict:
        for day in self.days:
            if day.date == iso:
                return day.coverage()
        raise KeyError(iso)

    def items(self) -> ItemsView[str, dict]:
        return _DaysCoverage(self)


class _DaysCoverage(ItemsView):
    """Coverage's items, each day made once rather than looked up by date."""

    _mapping: Coverage

    def __iter__(self) -> Iterator[tuple[str, dict]]:
        return ((day.date, day.coverage()) for day in self._mapping.days)


def _gap_json(g: Gap) -> dict:
    return {"from": g.first, "to": g.last, "days": g.days}


def build(store: Store, tz: tzinfo = UTC, filters: Filters | None = None, load: dict | None = None) -> Report:
    """Every day from the first to the last day with events (runs of more than
    dates.MAX_EMPTY_RUN empty days become gaps), with its totals; each section's rows are read
    from the store when iterated (``Rows``): the store must stay open while the report is used.
    ``load``: a load's summary (``LoadStats.as_dict()``), shown as the commands show theirs."""
    from .store import Store

    of_kind(store, Store, "build")
    check_zone(tz)
    if filters is not None and not isinstance(filters, Filters):
        raise TypeError(f"filters is a ccaudit.Filters, not {type(filters).__name__}")
    if load is not None and not isinstance(load, dict):
        raise TypeError(f"load is a load's summary (LoadStats.as_dict()), not {type(load).__name__}")
    f, clock, totals = filters or Filters(), Clock(tz), Totals()
    selection = Selection(store, f.since, f.until, f.principal, f.method)
    try:
        for quarter, n, first, last in selection.quarters(lambda q: clock.place(q)[0]):
            d, col = clock.place(quarter)
            totals.add(d.toordinal(), n, first, last, col)
        shown, gaps = dates_shown(totals.dates, clock)
    except BaseException:  # Ctrl-C, a damaged row: the snapshot, held on, kept every load waiting
        selection.end()
        raise
    days = Days(lambda d: _day(date.fromordinal(d), totals.get(d), clock, selection, f), shown, totals)
    return Report(days=days, tz=getattr(tz, "key", None) or str(tz) if tz is not UTC else "UTC", load=load,
                  gaps=gaps, selection=selection, selected=in_words(f), unfinished=store.unfinished)


def _day(d: date, totals: tuple | None, clock: Clock, selection: Selection, f: Filters) -> Day:
    starts, labels = clock.columns(d)
    day = Day(d.isoformat(), totals[0] if totals else 0, labels, {})
    if totals:
        day.first_event, day.last_event = clock.iso(totals[1]), clock.iso(totals[2])
    day.empty_hours = [label for i, label in enumerate(labels) if not totals or not totals[3] >> i & 1]
    end = clock.end(d)
    for sid, title in SECTIONS.items():
        if not f.sections or sid in f.sections:
            day.sections[sid] = Section(sid, title, Rows(selection, sid, starts, end, labels, clock, f.top))
    return day


class Rows:
    """One section's rows of one day, read from the store when they are iterated: in key order, or
    the ``top`` busiest first. A day of 300,000 keys is never held in memory, only the row being
    written (rows have no length). A renderer that goes over them twice reads them ``with read_twice``."""

    def __init__(self, selection: Selection, section: str, starts: list[int], end: int, labels: list[str],
                 clock: Clock, top: int | None):
        self.selection, self.section, self.starts, self.end = selection, section, starts, end
        self.labels, self.clock, self.top, self.shown = labels, clock, top, (0, 0, 0, 0)  # (see left_out)

    def __iter__(self) -> Iterator[Row]:
        if self.top is None:
            return self._read()
        keys, events, top = self.ranked(self.top)
        self.shown = (keys, events, len(top), sum(r.total for r in top))
        return iter(top)

    def left_out(self) -> str:
        """What ``--top`` left out of the rows last read, as a line ('' if nothing)."""
        keys, events, rows, shown = self.shown
        return f"(the {rows} busiest of {keys:,} keys shown, {shown:,} of {plural(events, 'event')}: " \
               f"--top {self.top})\n" if keys > rows else ""

    def ranked(self, n: int) -> tuple[int, int, list[Row]]:
        """(keys, events, the ``n`` busiest rows, ties by key): a section's size, and what
        ``--top`` and an html page show of it, without making the other rows."""
        with stops_through_sql():
            keys, events, top = self.selection.busiest(self.section, self.starts, self.end, n)
        return keys, events, [_StoredRow(*r, self.labels, self.clock) for r in top]

    def cells(self) -> Iterator[tuple[str, list[int]]]:
        """(key, events per column) of each row, read without making the rows."""
        if self.top is not None:
            return ((r.key, r.hours) for r in self)
        return ((k, c) for k, c, _ in self._columns())

    def busiest_cell(self, floor: int = 0) -> int:
        """The largest count in any cell, or ``floor`` if none is larger: from the busiest
        keys' stored counts where they can tell, without making rows."""
        with stops_through_sql():
            found = None if self.top is not None else \
                self.selection.busiest_cell(self.section, self.starts, self.end, floor)
        return max(floor, max((max(c, default=0) for _, c in self.cells()), default=0)) if found is None else found

    def _read(self) -> Iterator[Row]:
        for key, hours, times in self._columns():
            yield _StoredRow(key, hours, times, self.labels, self.clock)

    def _columns(self) -> Iterator[tuple[str, list[int], Times]]:
        with stops_through_sql():
            yield from self.selection.columns(self.section, self.starts, self.end)


def cells(rows: Iterable[Row]) -> Iterator[tuple[str, list[int]]]:
    """(key, events per column) of each of ``rows``: what a shading scale or a total needs,
    without the times and peak that make a Row cost twice as much."""
    if isinstance(rows, Rows):
        return rows.cells()
    return ((r.key, r.hours) for r in rows)


def left_out(rows: Iterable[Row]) -> str:  # (a program's rows: all of them)
    return rows.left_out() if isinstance(rows, Rows) else ""


@contextlib.contextmanager
def read_twice(rows: Iterable[Row], times: bool) -> Iterator[Iterable[Row]]:
    """``rows`` for a renderer that goes over them twice (column widths, then the text):
    Rows are read from the store once, into a Spool, whose file is removed on the way
    out. Without ``times`` the rows it gives back past its first 5,000 have no first or
    last seen, nor peak (``stats``)."""
    if not isinstance(rows, Rows):
        yield rows
        return
    pack = _StoredRow.packed if times else operator.attrgetter("key", "hours")
    spool = Spool(rows, pack, functools.partial(_StoredRow.unpacked, rows.labels, rows.clock),
                  operator.attrgetter("key"))
    try:
        yield spool
    finally:
        spool.close()


def busiest_cell(rows: Iterable[Row], floor: int = 0) -> int:
    """The largest count in any cell of ``rows``, or ``floor`` if none is larger (an html
    report's shading scale, the largest of the days before: smaller rows are not read)."""
    if isinstance(rows, Rows):
        return rows.busiest_cell(floor)
    return max(floor, max((max(r.hours, default=0) for r in rows), default=0))


class _StoredRow(Row):
    """A Row read from the store, whose first and last seen times (in the report's zone)
    and peak are worked out only when asked for: text and markdown without --stats never
    ask, and they were half the cost of a row."""

    __slots__ = ("_seen", "_labels", "_clock", "_stats")
    OWN_TIMES = True
    _stats: tuple[str, str, str, int] | None  # (first seen, last seen, peak hour, peak count), once worked out

    def __init__(self, key: str, hours: list[int], times: Times | tuple[int, int], labels: list[str], clock: Clock):
        if key.__class__ is not str:  # a key edited by hand (CSV would write its repr)
            raise TypeError(f"a row's key is {key!r}")
        self.key, self.hours, self.total = key, hours, sum(hours)
        self._seen: Times | tuple[int, int] = times  # (first µs, last µs) once asked for
        self._labels, self._clock, self._stats = labels, clock, None

    first_seen = property(lambda self: self.stats()[0])  # type: ignore[assignment]
    last_seen = property(lambda self: self.stats()[1])  # type: ignore[assignment]
    peak_hour = property(lambda self: self.stats()[2])  # type: ignore[assignment]
    peak_count = property(lambda self: self.stats()[3])  # type: ignore[assignment]

    def stats(self) -> tuple[str, str, str, int]:
        """Worked out together, once (whoever shows one shows all four): the peak too
        needs the row's times."""
        if self._stats is None:
            hours, iso = self.hours, self._clock.iso
            first, last = self.seen()
            peak = hours.index(max(hours))  # the first busiest
            self._stats = iso(first), iso(last), self._labels[peak], hours[peak]
        return self._stats

    def largest(self) -> int:
        """The peak count, if the stats were worked out (they find it), else the largest
        count of its hours: a maximum of 24 counts costs a twentieth of a row."""
        return self._stats[3] if self._stats is not None else max(self.hours, default=0)

    def seen(self) -> tuple[int, int]:
        """(first µs, last µs), found when first asked for."""
        if callable(self._seen):
            self._seen = self._seen()
        return self._seen

    def packed(self) -> tuple:
        """The row as values marshal can write: its times (found, if they were not), and
        its stats if they were worked out (a table sizes its cells by their peak count)."""
        return self.key, self.hours, *self.seen(), self._stats

    @classmethod
    def unpacked(cls, labels: list[str], clock: Clock, packed: tuple) -> _StoredRow:
        """A row from ``packed()``, or from its key and hours alone (no times)."""
        row = cls(packed[0], packed[1], packed[2:4], labels, clock)
        if len(packed) > 4:
            row._stats = packed[4]
        return row

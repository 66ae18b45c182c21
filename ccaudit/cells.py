"""A key's cells in a report day: its counts rows (``daycounts.py``) summed into the day's
columns, with its first and last event in the day.

A row of ``counts`` is one UTC day of one key. A report day whose columns are whole
hours takes the rows' stored hours: as they are on a whole UTC day (``stored_hours``),
as slices of them (or of the hours from 15, 30 or 45 minutes past the UTC hour, for a
zone off the whole hour) on a day of any other zone (``Hours``). A day the window cuts,
or one on which clocks change by half an hour, sums the rows' quarter hours in its
columns (``Places``). ``Selection.columns`` (counts.py) calls one of them on each key's
rows. The usual day of a zone other than UTC, whole hours across two UTC days, is read a
key to a row, its two days' hours side by side, already cut in SQL (``Pairs``).

A key's first and last event in the day are found only when asked for (``times``): a
row across the day's start or end holds them among its quarter hours, and searching
them costs as much as the rest of its row. Text, CSV and Markdown without --stats never
ask, html only for the rows it shows.
"""
from __future__ import annotations

import bisect
import functools
import operator
from collections.abc import Callable, Iterable, Iterator

from . import daycounts
from .schema import DAY, QUARTER, QUARTER_US, US

_QUARTERS = DAY // QUARTER  # in a UTC day
SUMMED = 4096  # hours blobs summed at once: a method of 100,000 keys must not hold them all

Times = Callable[[], tuple[int, int]]  # a key's (first µs, last µs) in the day, when asked for


def stored_hours(rows: Iterator[tuple]) -> tuple[list[int], Times]:
    """(hours, times) of the counts ``rows`` of one key on a whole UTC day: their stored
    hours, summed (at most SUMMED blobs at a time: a method sums its keys'). ``Hours`` of
    a whole UTC day, but for a method's thousands of rows, summed in C."""
    _, _, _, first, last, packed = next(rows)
    blobs, cells = [packed], None
    for _, _, _, f, la, packed in rows:  # a key has one row a day, a method one per key
        blobs.append(packed)
        first, last = min(first, f), max(last, la)
        if len(blobs) == SUMMED:
            cells, blobs = daycounts.hours(blobs, cells), []
    return (daycounts.hours(blobs, cells) if blobs else cells), lambda: (first, last)  # type: ignore[return-value]


def _part(day: int, lo: int, hi: int) -> tuple[int, int, int, int]:
    """The part of UTC day ``day`` in a report day [lo, hi): its quarters low..high-1,
    and the µs they start and end at."""
    low = max(0, -(-(lo - day) // QUARTER))
    high = min(DAY // QUARTER, max(0, -(-(hi - day) // QUARTER)))
    return low, high, (day + low * QUARTER) * US, (day + high * QUARTER) * US


def times(spans: list[tuple]) -> tuple[int, int]:
    """(first µs, last µs) of a key's events in the day, from what each of its rows has
    in it: its first and last, or (day, quarters, low, high) for a row across the day's
    start or end, whose stored quarters are searched for those in quarters low..high-1."""
    first, last = 2**63, -1
    for span in spans:
        f, la = span if len(span) == 2 else daycounts.ends(*span)
        if f < first:
            first = f
        if la > last:
            last = la
    return first, last


class Spans(list):
    """What ``times`` finds a key's first and last event in the day from, a span a row;
    at most SUMMED of them: past that, those held are reduced to their first and last (a
    method summed from the rows of the keys that --principal keeps has a row a key, and
    a day can hold a million keys)."""

    def add(self, span: tuple) -> None:
        self.append(span)
        if len(self) >= SUMMED:
            self[:] = [times(self)]


class Hours:
    """Where a report day of whole hours that start on the UTC hour, or 15, 30 or 45
    minutes past it (every day of every zone, but one on which clocks change by half an
    hour), takes the stored hours of each UTC day (``hours``, or ``offset_hours``,
    ``packed``): the columns they fill. Rows are (key, day, n, first, last, hours, quarters)."""

    def __init__(self, starts: list[int], lo: int, hi: int):
        self.starts, self.lo, self.hi = starts, lo, hi
        self.offset = starts[0] % 3600 // QUARTER  # in quarters past the UTC hour
        self.packed = "offset_hours" if self.offset else "hours"  # the stored column it reads
        self._days: dict[int, tuple[int, ...]] = {}

    def cells(self, rows: Iterator[tuple]) -> tuple[list[int], Times | None]:
        """(events per column, times) of the counts ``rows`` of one key (times None if
        none is in the day)."""
        cells = [0] * len(self.starts)
        spans = Spans()
        days = self._days
        for _, day, _, f, la, hours, quarters in rows:
            place = days.get(day)
            if place is None:
                place = days[day] = self._of_day(day)
            low, high, low_us, high_us, column, hour, width = place
            if la < low_us or f >= high_us:
                continue
            mine = daycounts.hour_slice(hours, hour, hour + width)
            if any(mine):
                cells[column:column + width] = map(operator.add, cells[column:column + width], mine)
                spans.add((f, la) if f >= low_us and la < high_us else (day, quarters, low, high))
        return cells, (functools.partial(times, spans) if spans else None)

    def _of_day(self, day: int) -> tuple[int, ...]:
        """The part of UTC day ``day`` in the report day (``_part``), the first column its
        hours fill, the first of its hours there (its place in the blob), and how many."""
        column = bisect.bisect_right(self.starts, day - 3600)  # the first to end after the day starts
        k = (self.starts[column] - day - self.offset * QUARTER) // 3600 + 1 if column < len(self.starts) else 25
        hour = 25 * (self.offset - 1) + k if self.offset else k - 1  # hour k holds quarters 4(k - 1) + offset ..
        return *_part(day, self.lo, self.hi), column, hour, max(0, min(len(self.starts) - column, 25 - k))


class Pairs:
    """A report day of whole hours across two UTC days, the usual day of any zone but UTC,
    read one key to a row: its two counts rows side by side, each cut in SQL to the hours
    in the day (``slices``) and the two joined as one blob. A key is then one array, where
    ``Hours`` adds each row's slice to the key's cells: a zone's report reads 1.7 counts
    rows a key."""

    def __init__(self, hours: Hours, day: int):
        self.day, self.packed = day, hours.packed
        # each UTC day's part: the day's first quarter in the day before and its µs, its end
        # in the day after and its µs, and where each day's hours go (column, hour, width)
        (self.low, _, self.lo_us, _, c0, h0, w0), (_, self.high, _, self.hi_us, c1, h1, w1) = \
            hours._of_day(day), hours._of_day(day + DAY)
        self.slices = (4 * h0 + 1, 4 * w0, 4 * h1 + 1, 4 * w1)  # substr(blob, start, length) of each day
        self.shared = w0 if c0 + w0 > c1 else 0  # the column across UTC midnight, of a zone off the whole hour

    def cells(self, rows: Iterable[tuple]) -> tuple[list[int], Times]:
        """(events per column, times) of a key's rows: after the key, the quarters of each
        UTC day (NULL for a day without a row), then both days' hours cut to the day, as
        one blob (zeros for a day without a row). A key has one row, or one per number if
        it is stored as two (an email signed in as two users: as many as it has users, so
        past SUMMED rows those held are reduced to their first and last)."""
        cells: list[int] | None = None
        held: list[tuple] = []
        ends = 2**63, -1  # the first and last of the rows no longer held
        for row in rows:
            mine = daycounts.ints(row[3])
            if self.shared:
                mine[self.shared - 1] += mine.pop(self.shared)
            cells = mine.tolist() if cells is None else list(map(operator.add, cells, mine))
            held.append(row)
            if len(held) >= SUMMED:
                ends, held = self.times(held, *ends), []
        return cells, functools.partial(self.times, held, *ends)  # type: ignore[return-value]

    def times(self, rows: list[tuple], first: int = 2**63, last: int = -1) -> tuple[int, int]:
        """(first µs, last µs) of a key's events in the day, from its ``cells`` rows (and
        ``first`` and ``last`` found before): the first among the quarters of the UTC day
        before midnight from the day's start, if it has a row, else the first of the day
        after; the last likewise. (A row is read only with events in the day, and the day,
        never cut by the window, holds the whole of each UTC day's side of midnight:
        ``Selection._pairs``.) Each row's first and last are not read: four columns fewer a
        row cost more than the search they save."""
        day, after = self.day, self.day + DAY
        for _, before_midnight, after_midnight, _ in rows:
            if before_midnight is None:
                f = daycounts.first_from(after, after_midnight, 0)
                la = daycounts.last_before(after, after_midnight, self.high)
            else:
                f = daycounts.first_from(day, before_midnight, self.low)
                la = daycounts.last_before(day, before_midnight, _QUARTERS) if after_midnight is None \
                    else daycounts.last_before(after, after_midnight, self.high)
            if f < first:
                first = f
            if la > last:
                last = la
        return first, last


class Places:
    """Where a report day's quarter hours go: the column of each, and for the quarter
    hours of a UTC day, those in [lo, hi) with their columns."""

    def __init__(self, starts: list[int], end: int, lo: int, hi: int):
        self.starts, self.lo, self.hi = starts, lo, hi
        self.column = {q: i for i, (a, b) in enumerate(zip(starts, [*starts[1:], end])) for q in range(a, b, QUARTER)}
        self._days: dict[int, tuple] = {}

    def cells(self, rows: Iterator[tuple]) -> tuple[list[int], Times | None]:
        """(events per column, times) of the counts ``rows`` of one key (times None if
        none is in the day). A row's first and last event tell whether all of its
        quarters are in the day, or none: only a row across the day's start or end is
        searched (bisect) for those that are."""
        cells = [0] * len(self.starts)
        spans = Spans()
        days = self._days
        for _, day, n, f, la, packed in rows:
            if packed is None:  # a quarter the window cuts, counted from its events
                cells[self.column[day]] += n
                spans.add((f, la))
                continue
            place = days.get(day)
            if place is None:
                place = days[day] = self._of_day(day)
            low, high, low_us, high_us, columns = place
            if la < low_us or f >= high_us:
                continue
            flat = daycounts.flat(packed)
            index = flat[0::4]
            if f >= low_us and la < high_us:
                for i, n in zip(index, flat[1::4]):
                    cells[columns[i]] += n
                spans.add((f, la))
            else:
                a = bisect.bisect_left(index, low)
                b = bisect.bisect_left(index, high, a)
                if a == b:  # events before the day and after it, none in it
                    continue
                for i, n in zip(index[a:b], flat[4 * a + 1:4 * b:4]):
                    cells[columns[i]] += n
                spans.add((day, packed, low, high))
        return cells, (functools.partial(times, spans) if spans else None)

    def _of_day(self, day: int) -> tuple:
        """The part of UTC day ``day`` in [lo, hi) (``_part``), and the column of each of
        its quarters."""
        return *_part(day, self.lo, self.hi), [self.column.get(day + i * QUARTER, -1) for i in range(DAY // QUARTER)]


def cut_quarters(since: int | None, until: int | None) -> list[tuple[int, int]]:
    """The parts of quarter hours that the window [since, until) cuts: [start, end) in µs."""
    parts = []
    if since is not None and since % QUARTER_US:
        end = (since // QUARTER_US + 1) * QUARTER_US
        parts.append((since, end if until is None else min(end, until)))
    if until is not None and until % QUARTER_US:
        start = until // QUARTER_US * QUARTER_US
        start = start if since is None else max(start, since)
        if not parts or start >= parts[0][1]:  # else since's part reaches until already
            parts.append((start, until))
    return [(a, b) for a, b in parts if a < b]

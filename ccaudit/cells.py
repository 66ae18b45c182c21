"""A key's cells in a report day: its counts rows (``daycounts.py``) summed into the day's
columns, with its first and last event in the day.

A row of ``counts`` is one UTC day of one key. A report day in UTC takes each row's stored
hours as they are (``stored_hours``); any other day (another zone, or a day the window
cuts) sums the rows' quarter hours in its columns (``Places``), for ``Selection.columns``
(counts.py) to call on each key's rows. Taking slices of the stored hours for a zone a
whole number of hours off UTC was measured no faster: nearly every row crosses such a
day's start or end, so its quarter hours are searched for its first and last event in the
day either way, and that, not the adding, is most of a row's cost.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterator

from . import daycounts
from .schema import DAY, QUARTER, US

SUMMED = 4096  # hours blobs summed at once: a method of 100,000 keys must not hold them all


def stored_hours(rows: Iterator[tuple]) -> tuple[list[int], int, int]:
    """(hours, first µs, last µs) of the counts ``rows`` of one key on a whole UTC day:
    their stored hours, summed (at most SUMMED blobs at a time: a method sums its keys')."""
    _, _, _, first, last, packed = next(rows)
    blobs, cells = [packed], None
    for _, _, _, f, la, packed in rows:  # a key has one row a day, a method one per key
        blobs.append(packed)
        first, last = min(first, f), max(last, la)
        if len(blobs) == SUMMED:
            cells, blobs = daycounts.hours(blobs, cells), []
    return (daycounts.hours(blobs, cells) if blobs else cells), first, last  # type: ignore[return-value]


class Places:
    """Where a report day's quarter hours go: the column of each, and for the quarter
    hours of a UTC day, those in [lo, hi) with their columns."""

    def __init__(self, starts: list[int], end: int, lo: int, hi: int):
        self.starts, self.lo, self.hi = starts, lo, hi
        self.column = {q: i for i, (a, b) in enumerate(zip(starts, [*starts[1:], end])) for q in range(a, b, QUARTER)}
        self._days: dict[int, tuple[int, int, list[int], int, int]] = {}

    def cells(self, rows: Iterator[tuple]) -> tuple[list[int], int | None, int | None]:
        """(events per column, first µs, last µs) of the counts ``rows`` of one key
        (first None if none is in the day). A row's first and last event tell whether
        all of its quarters are in the day, or none: only a row across the day's start or
        end is searched (bisect) for those that are."""
        cells = [0] * len(self.starts)
        first = last = None
        days = self._days
        for _, day, n, f, la, packed in rows:
            if packed is None:  # a quarter the window cuts, counted from its events
                cells[self.column[day]] += n
            else:
                place = days.get(day)
                if place is None:
                    place = days[day] = self._of_day(day)
                low, high, columns, low_us, high_us = place
                if la < low_us or f >= high_us:
                    continue
                flat = daycounts.flat(packed)
                index = flat[0::4]
                if f >= low_us and la < high_us:
                    for i, n in zip(index, flat[1::4]):
                        cells[columns[i]] += n
                else:
                    a = bisect.bisect_left(index, low)
                    b = bisect.bisect_left(index, high, a)
                    if a == b:  # events before the day and after it, none in it
                        continue
                    for i, n in zip(index[a:b], flat[4 * a + 1:4 * b:4]):
                        cells[columns[i]] += n
                    a, b = 4 * a, 4 * (b - 1)
                    f, la = daycounts.time_of(day, flat[a], flat[a + 2]), daycounts.time_of(day, flat[b], flat[b + 3])
            first = f if first is None or f < first else first
            last = la if last is None or la > last else last
        return cells, first, last

    def _of_day(self, day: int) -> tuple[int, int, list[int], int, int]:
        """The quarters of the day in [lo, hi) (as indices low..high), each one's column,
        and the µs they start and end at."""
        low = max(0, -(-(self.lo - day) // QUARTER))
        high = min(DAY // QUARTER, max(0, -(-(self.hi - day) // QUARTER)))
        columns = [self.column.get(day + i * QUARTER, -1) for i in range(DAY // QUARTER)]
        return low, high, columns, (day + low * QUARTER) * US, (day + high * QUARTER) * US

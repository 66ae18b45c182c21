"""A report's dates: each date's totals in arrays, and its days, gaps and events by date
made when they are asked for, not kept: a store of a record a day on each of 200,000
dates must report in the memory of a store of a week."""
from __future__ import annotations

import bisect
import copy
from array import array
from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence, ValuesView
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .clock import Clock

MAX_EMPTY_RUN = 7  # empty days listed one by one; a longer run is one line


@dataclass
class Gap:
    """A run of more than MAX_EMPTY_RUN days without events, one line in the summary,
    text, markdown, html and the summary's CSV (``summary.gaps`` in JSON): output
    follows the days that have events, never the span (two records a thousand years
    apart must not make a million-line report)."""

    first: str
    last: str
    days: int

    def line(self) -> str:
        return f"no events from {self.first} to {self.last}, {self.days:,} days"


class Totals:
    """Each date's events, first and last µs and hour columns with events (a bit each),
    in date order, in arrays: 40 bytes a date, where a dict of lists and sets took ten
    times that (a store of a record a day on each of 200,000 dates)."""

    def __init__(self) -> None:
        self.dates, self._sums = array("q"), [array("q") for _ in range(4)]

    @property
    def events(self) -> array:
        """Each date's events, beside ``dates``."""
        return self._sums[0]

    def add(self, d: int, n: int, first: int, last: int, column: int) -> None:
        """Add events of date ordinal ``d``: a date after the last, nearly always."""
        i = len(self.dates) - 1
        if i < 0 or self.dates[i] != d:
            i = bisect.bisect_left(self.dates, d)
            if i == len(self.dates) or self.dates[i] != d:  # new (one before the last: clocks set back)
                for a, value in zip((self.dates, *self._sums), (d, 0, first, last, 0)):
                    a.insert(i, value)
        events, firsts, lasts, busy = self._sums
        events[i] += n
        firsts[i], lasts[i], busy[i] = min(firsts[i], first), max(lasts[i], last), busy[i] | 1 << column

    def get(self, d: int) -> tuple[int, ...] | None:
        """(events, first µs, last µs, columns with events as bits) of date ordinal ``d``."""
        i = bisect.bisect_left(self.dates, d)
        return tuple(a[i] for a in self._sums) if i < len(self.dates) and self.dates[i] == d else None


def dates_shown(dates: array, clock: Clock) -> tuple[array, Gaps]:
    """Every date (ordinal) from the first to the last with events, but runs of more
    than MAX_EMPTY_RUN empty days as gaps, and dates the zone skipped."""
    shown, gaps = array("q"), Gaps()
    for before, d in zip([None, *dates], dates):
        empty = d - before - 1 if before else 0
        skipped = clock.dates_skipped(date.fromordinal(before), date.fromordinal(d)) if empty > MAX_EMPTY_RUN else 0
        if empty - skipped > MAX_EMPTY_RUN:
            ends = (before + 1, d - 1)
            if skipped:  # (a run's first or last date may be the one skipped)
                ends = tuple(e + step * (not clock.columns(date.fromordinal(e))[0]) for e, step in zip(ends, (1, -1)))
            gaps.append(*ends, empty - skipped)
        elif before:
            shown.extend(e for e in range(before + 1, d) if clock.columns(date.fromordinal(e))[0])
        shown.append(d)
    return shown, gaps


class Made(Sequence):
    """``make(k)`` for each k of ``keys`` (a date, or a place in a timeline), made each
    time it is asked for and not kept: a report's days and their sections are made as
    they are written, so a store of 200,000 dates never holds 200,000 days."""

    def __init__(self, make: Callable[[Any], Any], keys: Sequence[Any]):
        self.make, self.keys = make, keys

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            part = copy.copy(self)
            part.keys = self.keys[i]
            return part
        return self.make(self.keys[i])


class Days(Made):
    """A report's days, made from their dates (ordinals) when asked for; a date's events
    are read from ``totals`` without making its day."""

    def __init__(self, make: Callable[[int], Any], keys: Sequence[int], totals: Totals):
        super().__init__(make, keys)
        self.totals = totals

    def date(self, i: int) -> str:
        """The date of day ``i``, without making the day."""
        return date.fromordinal(self.keys[i]).isoformat()

    def dated_events(self) -> Iterator[tuple[str, int]]:
        """(date, events) of each day, in one pass beside the totals."""
        dates, events, j = self.totals.dates, self.totals.events, 0
        for d in self.keys:
            while j < len(dates) and dates[j] < d:
                j += 1
            yield date.fromordinal(d).isoformat(), events[j] if j < len(dates) and dates[j] == d else 0

    def position(self, iso: object) -> int | None:
        """Where the day of date ``iso`` is, or None."""
        try:
            d = date.fromisoformat(iso).toordinal()  # type: ignore[arg-type]  # not text: TypeError
        except (TypeError, ValueError):  # not a date: a name such as 2024-02-30
            return None
        i = bisect.bisect_left(self.keys, d)
        return i if i < len(self.keys) and self.keys[i] == d else None

    # A day is made anew each time it is asked for, and no two are equal: Sequence's own
    # lookups would make every day to find none. These find a day by its date.
    def index(self, day: Any, start: int = 0, stop: int | None = None) -> int:
        i = self.position(getattr(day, "date", None))
        if i is None or i not in range(len(self))[start:stop]:
            raise ValueError("no day of that date in these days")
        return i

    def __contains__(self, day: object) -> bool:
        return self.position(getattr(day, "date", None)) is not None

    def count(self, day: Any) -> int:
        return int(day in self)


class PerDay(Mapping):
    """Days' events by date, read from their totals when asked for: a summary names
    every date, and a store can hold 200,000."""

    def __init__(self, days: Days):
        self.days = days

    def __len__(self) -> int:
        return len(self.days)

    def __iter__(self) -> Iterator[str]:
        return (iso for iso, _ in self.days.dated_events())

    def __getitem__(self, iso: str) -> int:
        i = self.days.position(iso)
        if i is None:
            raise KeyError(iso)
        found = self.days.totals.get(self.days.keys[i])
        return found[0] if found else 0

    def items(self) -> ItemsView[str, int]:
        return _DatedEvents(self)

    def values(self) -> ValuesView[int]:
        return _Events(self)


class _DatedEvents(ItemsView):
    """PerDay's items, read in one pass rather than each looked up by date."""

    _mapping: PerDay

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return self._mapping.days.dated_events()


class _Events(ValuesView):
    _mapping: PerDay

    def __iter__(self) -> Iterator[int]:
        return (n for _, n in self._mapping.days.dated_events())


class Gaps(Sequence):
    """A report's gaps as their first date (ordinal) and length, in arrays, each Gap made
    when asked for: a record on every ninth day for 2,000 years makes 80,000 gaps."""

    def __init__(self) -> None:
        self.firsts, self.lasts, self.lengths = array("q"), array("q"), array("q")

    def append(self, first: int, last: int, days: int) -> None:
        """A gap from date ordinal ``first`` to ``last`` of ``days`` dates (fewer where the zone skipped one)."""
        self.firsts.append(first)
        self.lasts.append(last)
        self.lengths.append(days)

    def __len__(self) -> int:
        return len(self.firsts)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(len(self))[i]]
        return Gap(*(str(date.fromordinal(d[i])) for d in (self.firsts, self.lasts)), self.lengths[i])

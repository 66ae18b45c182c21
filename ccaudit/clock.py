"""A zone's clock for reports: each local date's hour columns (23 or 25 on a day that
daylight saving time starts or ends; 22 to 26 where the clocks change by half an hour or
two hours, or twice), the date and column of a quarter hour, and event times as ISO text
in the zone.
"""
from __future__ import annotations

import bisect
import functools
from datetime import date, datetime, timedelta, timezone, tzinfo

from .schema import QUARTER, QUARTER_US, US

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DATES_CACHED = 1024  # dates whose hours a clock keeps: a store can hold 200,000 dates


class Clock:
    """Maps epoch seconds to (local date, hour column) in one zone, with caches."""

    def __init__(self, tz: tzinfo):
        self.tz = tz
        self._days: dict[date, tuple[list[int], list[str], list[int]]] = {}
        self._placed: date | None = None  # the date of the last quarter placed: the next is nearly always of it
        self._quarters: dict[int, tuple] = {}  # epoch quarter -> _quarter_head

    def place(self, ts: int) -> tuple[date, int]:
        """(local date, hour column) of epoch second ``ts``: looked up in the zone only if
        the date of the quarter placed before has no column that holds it."""
        q = ts - ts % QUARTER
        column = None if self._placed is None else self._column(self._placed, q)
        if column is None:
            self._placed = datetime.fromtimestamp(q, self.tz).date()
            column = self._column(self._placed, q)
        return self._placed, column  # type: ignore[return-value]

    def _column(self, d: date, q: int) -> int | None:
        starts, _, ends = self._day(d)
        i = bisect.bisect_right(starts, q) - 1
        return i if i >= 0 and q < ends[i] else None

    def columns(self, d: date) -> tuple[list[int], list[str]]:
        """Start (epoch s) and label of each local hour of date ``d``."""
        starts, labels, _ = self._day(d)
        return starts, labels

    def _day(self, d: date) -> tuple[list[int], list[str], list[int]]:
        if d not in self._days:
            if len(self._days) >= DATES_CACHED:
                self._days.clear()
            self._days[d] = self._hours_of(d)
        return self._days[d]

    def _hours_of(self, d: date) -> tuple[list[int], list[str], list[int]]:
        """Start, label and end (epoch s) of each local hour of date ``d``."""
        start = self._whole_day(d)
        if start is not None:
            starts = list(range(start, start + 24 * 3600, 3600))
            return starts, _LABELS, [s + 3600 for s in starts]
        return self._scanned(d)

    def _whole_day(self, d: date) -> int | None:
        """Local midnight of ``d`` (epoch s) if ``d`` is 24 hours of one offset, a whole
        number of quarter hours, as nearly every date is: its hours are then found
        without the scan, which asks the zone 216 times (a store of a day's records for
        each of 200,000 dates took 78 s to summarize). A fixed offset (UTC) never
        changes; a zone is asked the offset of each quarter hour of the day, and of the
        four hours after it (clocks set back just after midnight give the date an hour
        more: America/Goose_Bay's at 00:01)."""
        t = datetime(d.year, d.month, d.day, tzinfo=self.tz)
        offset = t.utcoffset()
        if offset is None or offset.total_seconds() % QUARTER:
            return None
        start = int(t.timestamp())
        if isinstance(self.tz, timezone):
            return start
        if datetime.fromtimestamp(start, self.tz) != t:
            return None  # a midnight the zone skips
        quarters = (datetime.fromtimestamp(start + i * QUARTER, self.tz) for i in range(1, 28 * 4 + 1))
        return None if any(q.utcoffset() != offset for q in quarters) else start  # None: a change of offset

    def _scanned(self, d: date) -> tuple[list[int], list[str], list[int]]:
        """``_hours_of`` of a date on which the offset changes, found quarter by quarter."""
        # Local midnight is within UTC midnight -14h (UTC+14) .. +12h (UTC-12), and the local
        # day ends by UTC midnight +36h (+1h for DST): scan from -15h to +39h.
        guess = int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()) - 15 * 3600
        slots: list[tuple[int, int, timedelta | None]] = []
        ends: list[int] = []
        for q in range(guess, guess + 54 * 3600, QUARTER):
            local = datetime.fromtimestamp(q, self.tz)
            if local.date() != d:
                continue
            slot = (local.hour, local.utcoffset())
            if not slots or slots[-1][1:] != slot:
                slots.append((q, *slot))
                ends.append(q)
            ends[-1] = q + QUARTER
        hours = [h for _, h, _ in slots]
        labels = [
            f"{h:02d}" if hours.count(h) == 1 else f"{h:02d}{_offset(off)}"
            for _, h, off in slots
        ]
        return [q for q, _, _ in slots], labels, ends

    def dates_skipped(self, first: date, last: date) -> int:
        """How many dates between ``first`` and ``last``, two it has, the zone skipped: each one
        adds a day to its offset (Pacific/Apia's 2011-12-30, -10 to +14 hours), which a change
        of daylight saving time never comes near."""
        t0, t1 = (datetime(d.year, d.month, d.day, tzinfo=self.tz).utcoffset() for d in (first, last))
        return max(0, round((t1 - t0) / timedelta(days=1))) if t0 is not None and t1 is not None else 0

    def end(self, d: date) -> int:
        """Where date ``d`` ends: the first hour of the next date that this zone has (one
        that moved across the date line skipped a date: Pacific/Apia has no 2011-12-30)."""
        after = d + timedelta(days=1)
        while not self.columns(after)[0]:
            after += timedelta(days=1)
        return self.columns(after)[0][0]

    def iso(self, us: int) -> str:
        """An event time (epoch µs) in this zone, to the microsecond when it has a fraction
        (``datetime.isoformat``, made once per quarter hour: reports show two per row)."""
        quarter, rest = divmod(us, QUARTER_US)
        head = self._quarters.get(quarter)
        if head is None:
            if len(self._quarters) >= 10_000:
                self._quarters.clear()
            head = self._quarters[quarter] = self._quarter_head(quarter * QUARTER)
        if not head:  # an offset of odd minutes or seconds (times before 1980 in some zones)
            t = datetime.fromtimestamp(us // US, self.tz).replace(microsecond=us % US)
            return t.isoformat().replace("+00:00", "Z")
        prefix, clock, suffix = head
        seconds, fraction = divmod(rest, US)
        if fraction:  # its six digits as two cached thirds: formatting an int is most of a call's cost
            return f"{prefix}{clock[seconds]}.{_DIGITS[fraction // 1000]}{_DIGITS[fraction % 1000]}{suffix}"
        return prefix + clock[seconds] + suffix

    def _quarter_head(self, ts: int) -> tuple[str, list[str], str] | tuple[()]:
        """('YYYY-MM-DDTHH:', 'MM:SS' of each second, offset) of the quarter hour starting
        at ``ts``, or () if its minutes are not those of UTC's quarter hour, or its offset
        changes within it (Antarctica/Casey's clocks went forward at 16:01 UTC)."""
        t = datetime.fromtimestamp(ts, self.tz)
        offset = t.utcoffset()
        if offset is None or offset.total_seconds() % QUARTER:
            return ()
        if datetime.fromtimestamp(ts + QUARTER - 1, self.tz).utcoffset() != offset:
            return ()
        text = t.isoformat()  # YYYY-MM-DDTHH:MM:SS+HH:MM
        return text[:14], _minutes_seconds(t.minute), text[19:].replace("+00:00", "Z")


_DIGITS = [f"{n:03d}" for n in range(1000)]
_LABELS = [f"{h:02d}" for h in range(24)]  # a date's hour labels, when it has 24 hours of one offset


@functools.cache  # made by the first report that needs it: loads never do
def _minutes_seconds(minute: int) -> list[str]:
    """'MM:SS' of each second of the quarter hour that starts at ``minute``."""
    return [f"{minute + s // 60:02d}:{s % 60:02d}" for s in range(QUARTER)]


def _offset(off: timedelta | None) -> str:
    minutes = int(off.total_seconds() // 60) if off is not None else 0
    sign = "+" if minutes >= 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h}" if not m else f"{sign}{h}:{m:02d}"

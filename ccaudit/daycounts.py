"""One key's counts for one UTC day, as the store keeps them: a row of ``counts``.

A report reads a day of a key in one row, not in one row per quarter hour: a whole-store
report of ten weeks then fetches 131,000 rows instead of 3.2 million. Each row holds

* ``n``, ``first_us``, ``last_us``: the day's events, first and last time (epoch µs);
* ``hours``: the events of each of the day's 24 UTC hours, 24 little-endian uint32, what a
  report in UTC (or any zone at offset 0) shows as it is;
* ``offset_hours``: the events of the hours that start 15, 30 and 45 minutes past a UTC
  hour (``OFFSETS`` 1, 2 and 3 quarters), 25 little-endian uint32 each: hour k of offset
  o holds quarters 4(k - 1) + o .. 4k + o - 1 of the day, so the first and last hold the
  day's ends (00:00 to 00:15, 00:30 or 00:45, and the rest of 23:xx). A zone off the
  whole hour (India, Nepal, Newfoundland, South Australia) takes its columns from them as
  a whole-hour zone does from ``hours``;
* ``quarters``: one (quarter of the day 0..95, n, first, last) per quarter hour with
  events, in order, as little-endian uint32 quadruples; first and last are µs after the
  quarter's start (a quarter is 900,000,000 µs: it fits). Reports in other zones, and
  windows that cut the day, are summed from these.

A row of at most SPARSE quarter hours keeps its ``hours`` and ``offset_hours`` empty: SQL
reads make them from its quarters (``packed_sql``, with the functions that ``register``
adds to a connection). In a store of many principals most rows have one or two quarter
hours, and the 396 bytes of hours were four fifths of such a row.

Only this module packs and unpacks them.
"""
from __future__ import annotations

import bisect
import functools
import itertools
import operator
import sys
from array import array
from collections.abc import Callable, Iterator

from .schema import DAY, QUARTER, QUARTER_US, US
from .sqlraised import here, kept

_SWAP = sys.byteorder == "big"  # stored little-endian, whatever the machine


OFFSETS = 3  # hours starting 15, 30 and 45 minutes past a UTC hour
SPARSE = 4  # quarter hours of a row, at most, whose hours are made as it is read
_QUARTERS = DAY // QUARTER
_FIRST, _LAST = operator.itemgetter(0), operator.itemgetter(1)
_SLOTS = [tuple(25 * (o - 1) + (i - o) // 4 + 1 for o in range(1, OFFSETS + 1)) for i in range(DAY // QUARTER)]


def pack(day: int, quarters: dict[int, list], keep_hours: bool = False) -> tuple[int, int, int, bytes, bytes, bytes]:
    """(n, first µs, last µs, hours, offset hours, quarters) of ``quarters``: quarter of
    the day -> [n, first µs, last µs]. The hours are empty for SPARSE quarters or fewer,
    unless ``keep_hours``; else made from the packed quarters as a read makes them."""
    n, first, last, blob = _packed(day, quarters)
    if len(quarters) <= SPARSE and not keep_hours:
        return n, first, last, b"", b"", blob
    return n, first, last, utc_hours(blob), offset_hours(blob), blob  # type: ignore[return-value]


def _packed(day: int, quarters: dict[int, list]) -> tuple[int, int, int, bytes]:
    """(n, first µs, last µs, quarters blob) of ``quarters``."""
    packed, start, n = array("I"), day * US, 0
    order = sorted(quarters)
    for i in order:
        count, first, last = quarters[i]
        n += count
        base = start + i * QUARTER_US
        packed.extend((i, count, first - base, last - base))
    return n, quarters[order[0]][1], quarters[order[-1]][2], _bytes(packed)  # the quarters follow each other in time


def added(day: int, quarters: dict[int, list], stored: tuple | None) -> tuple[int, int, int, bytes, bytes, bytes]:
    """``pack`` of ``quarters`` added to a ``stored`` (n, first, last, hours, offset
    hours, quarters) row.

    A load runs forward in time, so the new quarters nearly always follow the stored
    ones: the packed bytes are then joined as they are, and a row's hours added to,
    instead of unpacked and made again.
    """
    if stored is None:
        return pack(day, quarters)
    n, first, _, hours, offset, blob = stored
    if int.from_bytes(blob[-16:-12], "little") >= min(quarters):
        add(quarters, day, blob)
        return pack(day, quarters)
    if not blob or len(blob) % 16 or n != sum(_array(blob)[1::4]):  # joined, it would be kept
        raise ValueError(f"a row of {n} events whose quarters are {len(blob)} bytes")  # (edited by hand)
    more, _, last, more_blob = _packed(day, quarters)
    blob += more_blob
    if hours:
        hours, offset = _plus(hours, offset, quarters)
    elif len(blob) > 16 * SPARSE:
        hours, offset = utc_hours(blob), offset_hours(blob)
    return n + more, first, last, hours, offset, blob


def _plus(hours: bytes, offset: bytes, quarters: dict[int, list]) -> tuple[bytes, bytes]:
    """``hours`` and ``offset`` hours blobs with the events of ``quarters`` added."""
    hours_array, offset_array = _array(hours), _array(offset)
    if len(hours_array) != 24 or len(offset_array) != 25 * OFFSETS:
        raise ValueError(f"hours of {len(hours)} and {len(offset)} bytes")
    for i, (count, _, _) in quarters.items():
        hours_array[i >> 2] += count
        for slot in _SLOTS[i]:
            offset_array[slot] += count
    return _bytes(hours_array), _bytes(offset_array)


def packed_sql(column: str, t: str = "c") -> str:
    """The SQL of the ``hours`` or ``offset_hours`` of alias ``t``'s row: as stored, or
    made from its quarters if it keeps none."""
    return (f"CASE WHEN length({t}.hours) = 96 AND length({t}.offset_hours) = 300 THEN {t}.{column}"
            f" ELSE dense_{column}({t}.hours, {t}.offset_hours, {t}.quarters) END")


def register(conn) -> None:
    """Add the SQL functions of ``packed_sql`` to ``conn``, and ``misshapen_quarters``."""
    conn.create_function("dense_hours", 3, _dense(utc_hours), deterministic=True)
    conn.create_function("dense_offset_hours", 3, _dense(offset_hours), deterministic=True)
    conn.create_function("misshapen_quarters", 2, kept(misshapen), deterministic=True)


def _dense(make: Callable[[bytes | None], bytes | None]) -> Callable:
    """``make``'s hours of a row that keeps none, for SQL, as ``kept`` (a frame less: a
    report makes one a row). A row that keeps some, but not both of the right size
    (``packed_sql`` takes those as they are), is damaged."""
    def dense(hours: bytes, offset: bytes, blob: bytes | None) -> bytes | None:
        try:
            if hours or offset:
                raise ValueError(f"hours of {len(hours)} and {len(offset)} bytes")
            return make(blob)
        except BaseException as e:
            here()[:] = [e]
            raise
    return dense


def utc_hours(blob: bytes | None) -> bytes | None:
    """The ``hours`` of a ``quarters`` blob (None for None: a report's edge rows have none)."""
    if blob is None:
        return None
    a, hours = _entries(blob), array("I", bytes(96))
    for j in range(0, len(a), 4):
        hours[a[j] >> 2] += a[j + 1]
    return _bytes(hours)


def offset_hours(blob: bytes | None) -> bytes | None:
    """The ``offset_hours`` of a ``quarters`` blob (None for None)."""
    if blob is None:
        return None
    a, offset = _entries(blob), array("I", bytes(300))
    for j in range(0, len(a), 4):
        for slot in _SLOTS[a[j]]:
            offset[slot] += a[j + 1]
    return _bytes(offset)


def misshapen(blob: bytes, n: int) -> bool:
    """Whether a ``quarters`` blob of a row of ``n`` events holds what no load makes: no
    entry, quarters out of order or past the day's last, an empty one, times outside it,
    more events in an hour than ``hours`` holds, or other than ``n`` in all (edited by
    hand, or made so to break a reader)."""
    if not isinstance(blob, bytes) or not blob or len(blob) % 16:
        return True
    a = _array(blob)
    if sum(a[1::4]) != n:
        return True
    order = a[0::4]
    if any(map(operator.ge, order, order[1:])) or order[-1] >= _QUARTERS or 0 in a[1::4]:
        return True
    if any(map(operator.gt, a[2::4], a[3::4])) or max(a[3::4]) >= QUARTER_US:
        return True
    try:
        utc_hours(blob)
        offset_hours(blob)
    except OverflowError:
        return True
    return False


def add(quarters: dict[int, list], day: int, blob: bytes) -> None:
    """Add a stored ``quarters`` blob of ``day`` to ``quarters`` (quarter -> [n, first, last])."""
    for quarter, n, first, last in entries(day, blob):
        sum_into(quarters, (quarter - day) // QUARTER, n, first, last)


def sum_into(sums: dict, bucket, n: int, first: int, last: int) -> None:
    """Add n events from first to last (µs) to ``sums[bucket]`` = [n, first, last]."""
    c = sums.get(bucket)
    if c is None:
        sums[bucket] = [n, first, last]
    else:
        c[0] += n
        c[1], c[2] = min(c[1], first), max(c[2], last)


def hours(blobs: list[bytes], sums: list[int] | None = None, width: int = 24) -> list[int]:
    """The 24 hour counts of ``hours`` blobs (or the ``width`` counts of other blobs),
    summed in C (a method's row in ``all_events`` sums the rows of all its keys), added
    to ``sums`` if given. The caller bounds the memory: it passes at most a few thousand
    blobs at a time."""
    a = _array(b"".join(blobs))
    if len(a) != width * len(blobs):  # no load makes it: a row edited by hand
        raise ValueError(f"{len(blobs)} rows of hours of {len(a) * 4} bytes in all")
    if len(blobs) == 1 and sums is None:
        return a.tolist()
    summed = [sum(a[i::width]) for i in range(width)]
    return summed if sums is None else list(map(operator.add, sums, summed))


class DaySum:
    """The events of many rows of one UTC day per quarter, with the first and last event
    of each part of the day between ``cuts`` (quarters of the day where a report's date or
    window starts), without going over each row's quarters in Python: a ``--principal``
    report sums hundreds of thousands. The counts come from the rows' hours and offset
    hours, summed in C (``quarter_counts``), and the quarters of a row that keeps no hours
    (SPARSE); the times from each row's first and last, or, for a row across a cut, a
    search of its quarters."""

    def __init__(self, day: int, cuts: list[int]):
        self.day, self.bounds = day, [0, *cuts, _QUARTERS]
        self.edges = [(day + b * QUARTER) * US for b in self.bounds]
        self.hours, self.offset = [0] * 24, [0] * (25 * OFFSETS)
        self.sparse = [0] * _QUARTERS  # the events of each quarter in rows that keep no hours
        self.ends = [[2**63, -1] for _ in self.bounds[1:]]  # [first, last] of each part

    def add(self, rows: list[tuple]) -> None:
        """Add rows of (first µs, last µs, hours, offset hours, quarters) as stored: at
        most a few thousand at a time (the caller bounds the memory)."""
        self.hours = hours([r[2] for r in rows if r[2]], self.hours)
        self.offset = hours([r[3] for r in rows if r[2]], self.offset, 25 * OFFSETS)
        sparse = self.sparse
        for r in rows:
            if not r[2]:
                a = _entries(r[4])
                for i, n in zip(a[0::4], a[1::4]):
                    sparse[i] += n
        if len(self.ends) == 1:  # the whole day: each row's own first and last
            ends = self.ends[0]
            ends[0] = min(ends[0], min(map(_FIRST, rows)))
            ends[1] = max(ends[1], max(map(_LAST, rows)))
            return
        parts = list(zip(self.ends, self.bounds, self.bounds[1:], self.edges, self.edges[1:]))
        for f, la, _, _, blob in rows:
            for ends, low, high, low_us, high_us in parts:
                if la < low_us or f >= high_us:  # no event in the part
                    continue
                first = f if f >= low_us else first_from(self.day, blob, low)
                last = la if la < high_us else last_before(self.day, blob, high)
                if first < high_us:  # else its events are before and after the part, none in it
                    ends[0], ends[1] = min(ends[0], first), max(ends[1], last)

    def quarters(self) -> Iterator[tuple[int, int, int, int]]:
        """(quarter of the day, events, first µs, last µs) of each quarter with events, in
        order; first and last are those of the quarter's part of the day."""
        counts = list(map(operator.add, quarter_counts(self.hours, self.offset), self.sparse))
        for (first, last), low, high in zip(self.ends, self.bounds, self.bounds[1:]):
            for i in range(low, high):
                if counts[i]:
                    yield i, counts[i], first, last


def quarter_counts(hours: list[int], offset: list[int]) -> list[int]:
    """The events of each quarter of a day, from its ``hours`` and ``offset_hours``: the
    events before the start of quarter 4h + o are the sum of offset o's hours up to h
    (o = 0: the UTC hours), so each quarter's are the difference of two such sums."""
    before = [0] * (_QUARTERS + 1)
    before[4::4] = itertools.accumulate(hours)
    for o in range(1, OFFSETS + 1):
        before[o::4] = itertools.accumulate(offset[25 * (o - 1):25 * o - 1])  # its last hour is the day's end
    return list(map(operator.sub, before[1:], before[:-1]))


def entries(day: int, blob: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(quarter start in epoch s, n, first µs, last µs) of each quarter of a ``quarters`` blob."""
    a = _entries(blob)
    for j in range(0, len(a), 4):
        quarter = day + a[j] * QUARTER
        base = quarter * US
        yield quarter, a[j + 1], base + a[j + 2], base + a[j + 3]


def hour_slice(blob: bytes, start: int, stop: int) -> array:
    """Hours ``start``..``stop - 1`` of an ``hours`` or ``offset_hours`` blob."""
    return _array(blob[4 * start:4 * stop])


def total(blob: bytes) -> int:
    """The sum of an ``hours`` blob, or of a part of one."""
    return sum(_view(blob))


def flat(blob: bytes) -> array:
    """A ``quarters`` blob as one array: quarter of the day, n, first, last, quarter, ..."""
    return _entries(blob)


def _entries(blob: bytes) -> array:
    """``flat``: a blob without an entry is damaged, as its row would count nothing."""
    if not blob:
        raise ValueError("a row without quarter hours")
    return _array(blob)


def ends(day: int, blob: bytes, low: int, high: int) -> tuple[int, int]:
    """Epoch µs of the first and last event in quarters ``low``..``high - 1`` of a
    ``quarters`` blob of ``day``. The blob must have an event there (its callers read
    only rows with events in the report day)."""
    return first_from(day, blob, low), last_before(day, blob, high)


def first_from(day: int, blob: bytes, low: int) -> int:
    """Epoch µs of the first event in quarters ``low``.. of a ``quarters`` blob of ``day``
    (which must have one), found by bisection in the first byte of each entry: a quarter
    of the day, below 256, is its little-endian number's first byte (bytes, sliced in C,
    cost a report less than a view of uint32 a row)."""
    j = 16 * bisect.bisect_left(blob[0::16], low)
    return (day + blob[j] * QUARTER) * US + _uint(blob[j + 8:j + 12], "little")


def last_before(day: int, blob: bytes, high: int) -> int:
    """Epoch µs of the last event in quarters ..``high - 1`` of a ``quarters`` blob of
    ``day`` (which must have one), found as ``first_from`` finds the first."""
    j = 16 * bisect.bisect_left(blob[0::16], high) - 16
    return (day + blob[j] * QUARTER) * US + _uint(blob[j + 12:j + 16], "little")


_uint = int.from_bytes


def _swapped(blob: bytes) -> array:
    a = array("I", blob)
    a.byteswap()
    return a


# A blob as an array: a C call on a little-endian machine, no Python frame (a report makes one a row)
_array: Callable[[bytes], array] = _swapped if _SWAP else functools.partial(array, "I")
ints = _array  # an ``hours`` or ``offset_hours`` blob, or a part of one, as an array


def _view(blob: bytes) -> memoryview | array:
    """A blob's uint32 as a sequence, without a copy on a little-endian machine."""
    return _array(blob) if _SWAP else memoryview(blob).cast("I")


def _bytes(a: array) -> bytes:
    if _SWAP:
        a = array("I", a)
        a.byteswap()
    return a.tobytes()


assert array("I").itemsize == 4 and DAY % QUARTER == 0

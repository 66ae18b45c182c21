"""What reports read from a store: its counts, in a time window, through the filters.

A ``Selection`` answers two questions, each with one query that reads only ``counts``,
``method_counts`` and ``keys`` (never the events, and never a sort of the whole store):

* ``quarters()``: events per UTC quarter hour, in time order (each day's totals, first
  and last event, and the hours without events);
* ``columns(section, starts, end)``: one section's rows for one day, in key order, each
  key's events per hour column with its first and last time, so a report streams a day
  of 300,000 keys row by row (SQLite sorts them, spilling to disk, within that day). A
  row of ``counts`` is one UTC day of one key (keyed by day, section, key), which
  ``cells.py`` sums into the day's columns. The all-events section reads a row per day
  and method from ``method_counts`` (a day has thousands of keys but tens of methods),
  unless a ``--principal`` filter picks keys.

Filters become temporary tables of the key numbers and methods they keep (``--principal`` and
``--method`` are fnmatch patterns, as every glob of ccaudit, matched in Python). A window that starts or ends
inside a quarter hour counts that quarter's events, in a temporary table of their counts:
the events' key (hour first) finds them directly. Temporary tables live in the connection's
own temp database, which SQLite allows on a store opened read-only.

Every query of a selection reads one snapshot (a read transaction, held until the report
is closed or dropped): a report read while a load commits is one committed state.
"""
from __future__ import annotations

import functools
import itertools
import os
import sqlite3
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from . import cells, damage, daycounts, storefile
from .busiest import KEY, Busiest, rows_of
from .errors import StoreError, spilling
from .schema import DAY, HOUR_US, QUARTER, QUARTER_US, US
from .text import glob

if TYPE_CHECKING:
    from .store import Store

T = TypeVar("T")
_names = itertools.count()  # temp tables per selection: diff reads two windows of one store

# Each day (epoch seconds) from the first ? up to the second: a diff's window can span 376,000 days (two records, of
# 1970 and 2999), and SQLite takes at most 32,766 or 250,000 parameters, by build.
_DAYS = (f"WITH RECURSIVE d(day) AS (SELECT ? UNION ALL SELECT day + {DAY} FROM d WHERE day + {DAY} < ?)"
         " SELECT day FROM d")


class Selection(Busiest):
    """The counts of ``store`` in [since, until) (epoch µs, None for open) for the keys
    whose principal matches the glob ``principal`` and whose method matches ``method``."""

    def __init__(self, store: Store, since: int | None = None, until: int | None = None,
                 principal: str | None = None, method: str | None = None):
        self.path, self.principal, self.method = store.path, principal, method
        self.since, self.until = since, until
        self.file_id = storefile.file_id(store.path)  # a second process checks it reads this file
        self.first = None if since is None else -(-since // QUARTER_US) * QUARTER  # whole quarters: from
        self.last = None if until is None else until // QUARTER_US * QUARTER  # ... up to
        self.filtered = principal is not None or method is not None
        self.by_method = principal is None  # all_events, and a --method filter's totals, read method_counts
        self.parts = cells.cut_quarters(since, until)
        if self.parts and store.counts_only():
            raise StoreError(f"{store.path}: holds counts only (made by ccaudit spark): a time window must "
                             "start and end on a quarter hour (:00, :15, :30 or :45)")
        self.has_edges, self._checked = bool(self.parts), set()  # the tables whose pages are checked
        self._begin(store.conn)

    def read_through(self, conn: sqlite3.Connection) -> None:
        """Read from here on through ``conn``, another connection to the same store (a forked
        second process's, see halves.py, in its own copy of this object): the same window
        and filters, temporary tables of its own; the pages checked before are of the
        snapshot that both read."""
        self._begin(conn)

    def end(self) -> None:
        """Leave the snapshot, which the connection's last selection ends (a load into the
        store waits while it is held); nothing of this one can be read after."""
        if not isinstance(self._conn, storefile.Ended):
            self._ending.detach()
            storefile.end_snapshot(self._conn, self._shared)
            self._conn: sqlite3.Connection | storefile.Ended = storefile.Ended()

    @property
    def conn(self) -> sqlite3.Connection:
        """The snapshot's connection, until it ends: by ``end``, or by a write through it."""
        return self._conn if self._shared[0] >= 0 else self._shared[1]  # type: ignore[return-value]

    def _held(self, items: Iterator[T]) -> Iterator[T]:
        """``items``, read through the snapshot, until it ends: read on, they would be rows
        of after a load beside the days of before it."""
        conn, shared = self._conn, self._shared
        for item in items:
            if self._conn is not conn or shared[0] < 0:
                self.conn.execute("")  # raises the ended snapshot's ValueError
            yield item

    def _begin(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._shared = storefile.snapshot(conn)
        self._ending = storefile.ending_when_dropped(self, conn, self._shared)
        n = next(_names)
        self.wanted, self.methods, self.edges = f"temp.wanted_{n}", f"temp.methods_{n}", f"temp.edges_{n}"
        self.busy, self._made_busy = f"temp.busy_{n}", False
        try:
            with spilling():
                first = ("meta", *("keys",) * self.filtered, *("quarters",) * bool(self.parts))  # (the cuts' counts)
                damage.pages_whole(conn, self.path, first, self._checked)
                damage.keyed_by_numbers(conn, self.parts)
                damage.edges_whole(conn, self.path, self.parts)
                if self.filtered:
                    self._keep(self.principal, self.method)
                if self.parts:
                    self._count_edges(self.parts)
        except BaseException:  # Ctrl-C, a damaged row: held on, it kept every load waiting
            self.end()
            raise

    def _keep(self, principal: str | None, method: str | None) -> None:
        keys = self.conn.execute("SELECT kid, principal, method FROM keys")
        self.conn.execute(f"CREATE TABLE {self.wanted} (kid INTEGER PRIMARY KEY)")
        self.conn.execute(f"CREATE TABLE {self.methods} (method TEXT PRIMARY KEY)")
        methods: set[str] = set()
        by_principal, by_method = (glob(g) if g is not None else None for g in (principal, method))

        def kept() -> Iterator[tuple[int]]:  # fnmatch, as every glob of ccaudit: [!a] is "not a"
            for kid, p, m in keys:
                if (by_principal is None or by_principal(p)) and (by_method is None or by_method(m)):
                    methods.add(m)
                    yield (kid,)

        self.conn.executemany(f"INSERT INTO {self.wanted} VALUES (?)", kept())
        self.conn.executemany(f"INSERT INTO {self.methods} VALUES (?)", ((m,) for m in methods))

    def _count_edges(self, parts: list[tuple[int, int]]) -> None:
        self.conn.execute(f"CREATE TABLE {self.edges} (quarter INT, kid INT, n INT, first_us INT, last_us INT)")
        kept = f" AND kid IN (SELECT kid FROM {self.wanted})" if self.filtered else ""
        within = damage.or_misshapen("us >= ? AND us < ?", "us")
        for start, end in parts:
            self.conn.execute(f"INSERT INTO {self.edges} SELECT us / {QUARTER_US} * {QUARTER}, kid, count(*), min(us),"
                              f" max(us) FROM events WHERE hour = ? AND {within}{kept} GROUP BY kid",
                              [start // HOUR_US, start, end])

    # -- reading --------------------------------------------------------------------

    def quarters(self, date_of: Callable[[int], object]) -> Iterator[tuple[int, int, int, int]]:
        """(quarter start in epoch s, events, first µs, last µs) in time order: from the store's
        ``quarters``, or with a filter summed from the kept keys' ``counts`` (or methods'
        ``method_counts``), read in the order of their key, day first: no sort. With a filter,
        first and last are those of the quarter's part of its UTC day, the day cut where the
        report's date (``date_of`` a quarter) or the window starts: what a report day needs."""
        where, args = self._window("quarter")
        if self.filtered:
            rows = self._filtered_quarters(date_of)
        else:  # the sums the store keeps
            damage.pages_whole(self.conn, self.path, ("quarters",), self._checked)
            rows = map(damage.counted, self.conn.execute(f"SELECT quarter, n, first_us, last_us FROM quarters{where}",
                                                         args))
        if not self.has_edges:
            yield from rows
            return
        edges = self.conn.execute(f"SELECT quarter, sum(n), min(first_us), max(last_us) FROM {self.edges}"
                                  " GROUP BY quarter ORDER BY quarter").fetchall()  # at most two
        yield from (e for e in edges if self.first is not None and e[0] < self.first)
        yield from rows
        yield from (e for e in edges if self.first is None or e[0] >= self.first)

    def _filtered_quarters(self, date_of: Callable[[int], object]) -> Iterator[tuple[int, int, int, int]]:
        where, args, t = *self._window("day", whole_days=True), "method_counts" if self.by_method else "counts"
        damage.pages_whole(self.conn, self.path, (t,), self._checked)  # the columns below: as DaySum takes them
        rows = self.conn.execute(f"SELECT day, first_us, last_us, hours, offset_hours, quarters FROM {t}{where}", args)
        lo, hi = -(2**62) if self.first is None else self.first, 2**62 if self.last is None else self.last
        for day, group in itertools.groupby(rows, key=KEY):
            starts = [day + i * QUARTER for i in range(DAY // QUARTER)]
            cuts = [i for i in range(1, len(starts)) if starts[i] in (lo, hi)]
            if date_of(starts[0]) != date_of(starts[-1]):  # a report's date starts in the day (it never goes back)
                dates = list(map(date_of, starts))
                cuts = sorted({*cuts, *(i for i in range(1, len(starts)) if dates[i] != dates[i - 1])})
            summed, day_rows = daycounts.DaySum(day, cuts), (r[1:] for r in group)
            while chunk := list(itertools.islice(day_rows, cells.SUMMED)):
                summed.add(chunk)
            for i, n, first, last in summed.quarters():
                if lo <= starts[i] < hi:
                    yield starts[i], n, first, last

    def columns(self, section: str, starts: list[int], end: int) -> Iterator[tuple[str, list[int], cells.Times]]:
        """(key, events per column, times) of each key of ``section`` with events in the
        day whose columns start at ``starts`` (epoch s, whole quarter hours) and which
        ends at ``end``, in key order; all_events rows are keyed by method. ``times()``
        gives the key's first and last event in the day (µs), found only when asked for.
        A day of whole hours that the window does not cut takes the rows' stored hours,
        a key to a row if the day is across two UTC days; any other day sums their
        quarter hours (cells.py)."""
        start = starts[0]
        lo, hi = self._cut(start, end)
        self._sections_whole()
        pairs = self._pairs(section, starts, end, lo, hi)
        args: list | dict  # a query's parameters: by name in the query of Pairs rows
        if pairs:
            sql, args = self._paired(section, pairs)
            sql += " ORDER BY 1"
            cells_of: Callable = pairs.cells
        else:
            key, body, args = self._section(section, lo, hi, start, end)
            packed, cells_of = self._reader(starts, end, lo, hi)
            sql = f"SELECT {key}, c.day, c.n, c.first_us, c.last_us, {packed} {body} ORDER BY 1, 2"
        with spilling():  # the sort is done here, before the first row
            rows = self.conn.execute(sql, args)
        for k, group in self._held(itertools.groupby(rows, key=KEY)):
            hours, times = cells_of(group)
            if times is not None:
                yield k, hours, times

    def totals(self, section: str) -> Iterator[tuple[str, int]]:
        """(key, events) of every key of ``section`` with events in the window, a key once
        for each part of it (sum them): the whole UTC days summed by SQLite, the UTC day at
        each cut end read as a UTC report reads it."""
        ends = [t // US - t // US % DAY for t in (self.since, self.until) if t is not None and t % (DAY * US)]
        self._sections_whole()
        span = self.conn.execute("SELECT (SELECT min(day) FROM counts), (SELECT max(day) FROM counts)").fetchone()
        if span[0] is None:
            return
        lo = span[0] if self.since is None else -(-self.since // (DAY * US)) * DAY
        hi = span[1] + DAY if self.until is None else self.until // (DAY * US) * DAY
        if lo < hi:
            key, body, args = self._section(section, lo, hi, lo, hi)
            with spilling():  # summed here, before the first row
                rows = self.conn.execute(f"SELECT {key}, sum(c.n) {body} GROUP BY 1", args)
            for row in self._held(rows):  # (``yield from`` would close the cursor when an unfinished
                if row[1].__class__ is not int:  # generator is collected: after the store, if an error ended
                    raise TypeError(f"a sum of counts is {row[1]!r}")  # the run); SQLite sums text as 0.0
                yield row
        hours = list(range(0, DAY, 3600))
        for day in sorted(set(ends)):
            yield from ((k, sum(c)) for k, c, _ in self.columns(section, [day + h for h in hours], day + DAY))

    def _one_row(self, section: str) -> bool:
        """Whether each key of ``section`` is one stored row a day: all_events's methods
        unless they are summed from the keys that --principal keeps, and the keys of a
        section where no key is stored as two."""
        return self.by_method if section == "all_events" else section not in self._keys_stored_twice

    @functools.cached_property
    def _keys_stored_twice(self) -> frozenset[str]:
        """The sections in which one key is stored as two or more (a key is unique with
        its method and principal): their rows are sums."""
        return frozenset(s for s, in self.conn.execute(
            "SELECT DISTINCT section FROM keys GROUP BY section, key HAVING count(*) > 1"))

    def _cut(self, start: int, end: int) -> tuple[int, int]:
        """[start, end) within the selection's window."""
        return (start if self.first is None else max(start, self.first),
                end if self.last is None else min(end, self.last))

    def _reader(self, starts: list[int], end: int, lo: int, hi: int) -> tuple[str, Callable]:
        """The packed columns of counts that the day of columns ``starts`` reads, and what
        sums a key's rows of them into its cells: a day of whole hours that the window
        does not cut takes the stored hours (of a whole UTC day as they are); any other
        day sums the quarter hours."""
        hours = self._hours(starts, end, lo, hi)
        if hours is None:
            return "c.quarters", cells.Places(starts, end, lo, hi).cells
        if self._whole_utc_day(starts, end, lo, hi):
            return daycounts.packed_sql("hours"), cells.stored_hours
        return f"{daycounts.packed_sql(hours.packed)}, c.quarters", hours.cells

    def _whole_utc_day(self, starts: list[int], end: int, lo: int, hi: int) -> bool:
        """Whether the day is a whole UTC day of whole hours, not cut by the window: its
        rows' stored hours are its cells as they are."""
        return lo % DAY == 0 and hi == lo + DAY and self._hours(starts, end, lo, hi) is not None

    @staticmethod
    def _hours(starts: list[int], end: int, lo: int, hi: int) -> cells.Hours | None:
        """Where the day's columns are in the stored hours, if they are whole hours and the
        window does not cut the day (a zone may end a day half an hour after an hour)."""
        start = starts[0]
        whole_hours = starts == list(range(start, end, 3600)) and end == start + 3600 * len(starts)
        return cells.Hours(starts, lo, hi) if whole_hours and (lo, hi) == (start, end) else None

    def _pairs(self, section: str, starts: list[int], end: int, lo: int, hi: int) -> cells.Pairs | None:
        """``cells.Pairs`` of the day, if its columns are whole hours across two UTC days,
        and a section's rows are its keys' (all_events: its methods')."""
        day = lo - lo % DAY
        if not day < lo < day + DAY < hi <= day + 2 * DAY or (section == "all_events" and not self.by_method):
            return None
        hours = self._hours(starts, end, lo, hi)
        return cells.Pairs(hours, day) if hours else None

    def _paired(self, section: str, pairs: cells.Pairs, busy: bool = False, totals: bool = False) -> tuple[str, dict]:
        """The query of ``Pairs`` rows, in no order: each key's row of the UTC day before
        midnight with events in the report day, beside its row of the day after, then the
        keys with a row of the day after only; for ``busy``, each key of the table
        ``busy`` (see ``_busy``), its rows looked up; for ``totals``, only each key, its
        number and its hours in the day. all_events reads its methods' rows."""
        by_method = section == "all_events"
        table, ident = rows_of(section)

        def on(t: str, day: str, events: str) -> str:  # the rows of alias t of a day, with events in the report day
            return f"{t}.day = :{day}" + ("" if by_method else f" AND {t}.section = :section") \
                + f" AND {damage.or_misshapen(f'{t}.{events}', f'{t}.first_us', f'{t}.last_us')}"

        def read(t: str, columns: str) -> str:  # the key, then ``columns``
            key, source = (f"{t}.method", "") if by_method else ("k.key", f" JOIN keys k ON k.kid = {t}.kid")
            return f"{key}, {columns} FROM {table} {t}{source}"

        def cut(t: str) -> str:  # the row's hours in the report day
            return f"substr({daycounts.packed_sql(pairs.packed, t)}, :start_{t}, :length_{t})"

        def joined(a: str, b: str) -> str:  # both days' hours in the day as one blob (||: text, cast back)
            return f"CAST(ifnull({a}, zeroblob(:length_a)) || ifnull({b}, zeroblob(:length_b)) AS BLOB)"

        if totals:  # its number, and its hours in the day
            both, after_only = f"a.{ident}, {joined(cut('a'), cut('b'))}", f"b.{ident}, {joined('NULL', cut('b'))}"
        else:  # what Pairs.cells reads
            both = f"a.quarters, b.quarters, {joined(cut('a'), cut('b'))}"
            after_only = f"NULL, b.quarters, {joined('NULL', cut('b'))}"

        before, after = on("a", "before", "last_us >= :lo"), on("b", "after", "first_us < :hi")
        if busy:  # each key named, its row of each day looked up (none: its hours read as zeros)
            key, source = ("x.k", "") if by_method else ("k.key", " JOIN keys k ON k.kid = x.k")
            sql = (f"SELECT {key}, {both} FROM {self.busy} x{source}"
                   f" LEFT JOIN {table} a ON a.{ident} = x.k AND {before}"
                   f" LEFT JOIN {table} b ON b.{ident} = x.k AND {after}")
        else:
            kept_a, kept_b = (self._kept(f"{t}.{ident}", by_method) for t in "ab")
            sql = (f"SELECT {read('a', both)}"
                   f" LEFT JOIN {table} b ON b.{ident} = a.{ident} AND {after} WHERE {before}{kept_a}"
                   f" UNION ALL SELECT {read('b', after_only)} WHERE {after}{kept_b}"
                   f" AND NOT EXISTS (SELECT 1 FROM {table} a WHERE a.{ident} = b.{ident} AND {before})")
        start_a, length_a, start_b, length_b = pairs.slices
        return sql, {"before": pairs.day, "after": pairs.day + DAY, "section": section, "lo": pairs.lo_us,
                     "hi": pairs.hi_us, "start_a": start_a, "length_a": length_a, "start_b": start_b,
                     "length_b": length_b}

    def _within_days(self, starts: list[int], end: int) -> bool:
        """Whether every column of the day is within a UTC day (starts on a whole hour)
        and the window does not cut the day."""
        return end % 3600 == 0 and all(s % 3600 == 0 for s in starts) and self._cut(starts[0], end) == (starts[0], end)

    def shareable(self) -> bool:
        """Whether another connection opened now reads this selection's snapshot: while
        this one reads, SQLite's shared lock keeps every load from committing, in any
        journal mode but WAL (which ccaudit never sets)."""
        return self.path not in ("", ":memory:") and os.path.isfile(self.path) \
            and self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal"

    def _section(self, section: str, lo: int, hi: int, start: int, end: int) -> tuple[str, str, list]:
        """The key expression, and FROM ... WHERE with its arguments, of one section's
        counts rows for the quarters [lo, hi), and its cut quarters in [start, end):
        all_events reads a day's methods, not its keys, unless the keys are filtered by
        principal."""
        window, cut = [lo - lo % DAY, hi], [start, end] if self.has_edges else []
        counted = "n, first_us, last_us, hours, offset_hours, quarters"
        # a row with no event in [lo, hi) is not read (nor sorted)
        within = " AND " + damage.or_misshapen("last_us >= ? AND first_us < ?", "first_us", "last_us")
        window_us = [lo * US, hi * US]
        if section == "all_events" and self.by_method:
            kept = self._kept("method", True)
            edges = (" UNION ALL SELECT e.quarter, k.method, e.n, e.first_us, e.last_us, NULL, NULL, NULL"
                     f" FROM {self.edges} e JOIN keys k USING (kid) WHERE quarter >= ? AND quarter < ?") if cut else ""
            source = f"SELECT day, method, {counted} FROM method_counts WHERE day >= ? AND day < ?{within}{kept}{edges}"
            return "c.method", f"FROM ({source}) c", window + window_us + cut
        kept = self._kept("kid", False)
        edges = (f" UNION ALL SELECT *, NULL, NULL, NULL FROM {self.edges} WHERE quarter >= ? AND quarter < ?"
                 if cut else "")
        args: list  # numbers, and the section's name
        if section == "all_events":  # every section's rows of the days, keyed by method
            rows, key, where, args = "day >= ? AND day < ?", "k.method", "", window + window_us + cut
        else:  # each day's part of the section's rows (counts is keyed by day, section, kid): no scan
            rows, key, where = f"day IN ({_DAYS}) AND section = ?", "k.key", " WHERE k.section = ?"
            args = [window[0], hi, section, *window_us, *cut, section]  # the outer section: of the cut quarters' events
        return key, f"FROM (SELECT day, kid, {counted} FROM counts WHERE {rows}{within}{kept}{edges}) c" \
                    f" JOIN keys k USING (kid){where}", args

    def _kept(self, column: str, by_method: bool) -> str:
        """AND, if filtered, the filter's key numbers (``by_method``: methods) only: ``+``
        makes the number a check on the rows found, not a search."""
        if not self.filtered:
            return ""
        return (f" AND {column} IN (SELECT method FROM {self.methods})" if by_method
                else f" AND +{column} IN (SELECT kid FROM {self.wanted})")

    def _window(self, column: str, whole_days: bool = False) -> tuple[str, list]:
        """WHERE for the selection's window (whole quarters, or the whole days they are
        in) and keys (their methods, in method_counts)."""
        clauses, args = [], []
        if self.first is not None:
            clauses.append(f"{column} >= ?")
            args.append(self.first - self.first % DAY if whole_days else self.first)
        if self.last is not None:
            clauses.append(f"{column} < ?")
            args.append(self.last)
        if self.filtered:
            clauses.append(f"method IN (SELECT method FROM {self.methods})" if self.by_method
                           else f"kid IN (SELECT kid FROM {self.wanted})")
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


"""A report day's busiest keys, found from the stored counts without making every row:
an html page's shading scale (the largest cell of each section over all days) and its
200 busiest rows a section, and ``--top``.

A day of 300,000 keys shows 200 of them, so the rest are better not made at all: a key
stored as one row a day (nearly every key) has its events there (``n``), or, on a day
across two UTC days, in two slices of its hours that SQLite cuts and joins and Python
sums without making a row; only the winners' rows are made. ``Busiest`` is part of
``counts.Selection``, whose queries it uses.
"""
from __future__ import annotations

import heapq
import itertools
import operator
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import cells, damage, daycounts
from .errors import spilling
from .schema import DAY

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable

BUSY = 1_000  # keys that may pass a busiest cell's floor, read by number; more: all keys' sums are read
WHOLE = 12  # a zone's day of at most WHOLE * n rows keeps its n busiest keys' rows as the sums are read;
# more, and the n are read again by number: a winner read again costs about what twelve rows read
# whole cost more than their sums (in instructions, on the bench store), and a key has 1.7 rows
KEY = operator.itemgetter(0)  # a row's key, what its rows are grouped by
ROW = operator.itemgetter(slice(-2))  # a counts row as columns() reads it: key, day, n, first, last, packed...


def rows_of(section: str) -> tuple[str, str]:
    """The table a ``Pairs`` day of ``section`` reads, and what a row is one of: all_events
    one method's, every other section one key number's."""
    return ("method_counts", "method") if section == "all_events" else ("counts", "kid")


class Busiest:
    """The busiest keys and cells of a ``counts.Selection``'s day."""

    if TYPE_CHECKING:  # what it reads of the Selection it is part of, for mypy (declared only, never run)
        path: str
        _checked: set[str]
        by_method: bool
        busy: str
        _made_busy: bool

        @property
        def conn(self) -> sqlite3.Connection: ...
        def columns(self, section: str, starts: list[int], end: int) -> Iterator[tuple[str, list[int], cells.Times]]:
            ...
        def _one_row(self, section: str) -> bool: ...
        def _cut(self, start: int, end: int) -> tuple[int, int]: ...
        def _within_days(self, starts: list[int], end: int) -> bool: ...
        def _whole_utc_day(self, starts: list[int], end: int, lo: int, hi: int) -> bool: ...
        def _pairs(self, section: str, starts: list[int], end: int, lo: int, hi: int) -> cells.Pairs | None: ...
        def _paired(self, section: str, pairs: cells.Pairs, busy: bool = False,
                    totals: bool = False) -> tuple[str, dict]: ...
        def _section(self, section: str, lo: int, hi: int, start: int, end: int) -> tuple[str, str, list]: ...
        def _reader(self, starts: list[int], end: int, lo: int, hi: int) -> tuple[str, Callable]: ...
        def _kept(self, column: str, by_method: bool) -> str: ...

    def _sections_whole(self) -> None:
        """The pages of what sections are read from, checked before the first read of one."""
        damage.pages_whole(self.conn, self.path, ("keys", "counts", "method_counts"), self._checked)

    def busiest_cell(self, section: str, starts: list[int], end: int, floor: int = 0) -> int | None:
        """The largest count of any cell of ``columns(section, starts, end)``, or ``floor``
        (the largest of the days before) if none is larger: from the busiest keys only,
        read in order of their events, until a key has no more events than the largest
        cell found (no cell of a key holds more, nor of the keys after it); keys of no
        more events than ``floor`` are left out in SQL. Where no cell spans two stored rows
        (each column is within a UTC day, a key is one row a day), each row is taken on
        its own; else a key's events are those of all its rows (an email signed in as two
        users, the hour across UTC midnight of a zone off the whole hour): on a day across
        two UTC days (``Pairs``) past the first, only the keys that ``_busy`` finds are
        read. None for methods summed from filtered keys: reading those rows (tens a day)
        costs less."""
        if section == "all_events" and not self.by_method:
            return None
        start = starts[0]
        args: list | dict  # a query's parameters: by name in the query of Pairs rows
        lo, hi = self._cut(start, end)
        self._sections_whole()
        one_row = self._one_row(section)
        within = one_row and self._within_days(starts, end)
        pairs = self._pairs(section, starts, end, lo, hi) if one_row and floor and not within else None
        if pairs and self._busy(section, pairs, floor):
            sql, args = self._paired(section, pairs, busy=True)
            found = (pairs.cells([row])[0] for row in self.conn.execute(sql, args))
            return max(floor, max(map(max, found), default=0))
        key, body, args = self._section(section, lo, hi, start, end)
        packed, cells_of = self._reader(starts, end, lo, hi)
        group: Any = "c.kid" if one_row and section != "all_events" else key  # a key is one number
        read = f"SELECT {key} AS key, c.day, c.n, c.first_us, c.last_us, {packed}, {group} AS grp"
        if within:
            sql, args = f"SELECT *, n FROM ({read} {body}) WHERE n > ? ORDER BY n DESC", [*args, floor]
        else:  # a key's rows, with their sum: of the keys whose events pass the floor (by number, if one a key)
            sql = (f"SELECT * FROM ({read} {body}) JOIN (SELECT {group} AS grp, sum(c.n) AS events {body} GROUP BY 1"
                   " HAVING events > ?) USING (grp) ORDER BY events DESC, key")
            args = [*args, *args, floor]
        with spilling():
            rows = self.conn.execute(sql, args)
        top = floor
        for _, group in itertools.groupby(rows, key=KEY):
            head = next(group)
            if head[-1] <= top:
                return top
            group = map(ROW, itertools.chain([head], group))
            top = max(top, *cells_of(group)[0])
        return top

    def busiest(self, section: str, starts: list[int], end: int,
                n: int) -> tuple[int, int, list[tuple[str, list[int], cells.Times]]]:
        """(keys, events, rows) of ``columns(section, starts, end)``: how many keys have
        events in the day, their events, and the ``n`` busiest of their rows, ties by key,
        busiest first. Where a key is one stored row, its day's events are known before
        its cells: a whole UTC day reads the ``n`` busiest rows (SQLite counts and sorts
        the rest), a day across two UTC days sums each key's two slices of hours, in no
        order, keeping the ``n`` busiest keys' rows (of a day of many keys, their numbers,
        and reads those rows again: see WHOLE). Any other day makes every row once."""
        start = starts[0]
        args: list | dict  # a query's parameters: by name in the query of Pairs rows
        lo, hi = self._cut(start, end)
        self._sections_whole()
        one_row = self._one_row(section)
        if one_row and self._whole_utc_day(starts, end, lo, hi):
            key, body, args = self._section(section, lo, hi, start, end)
            keys, events = self.conn.execute(f"SELECT count(*), total(c.n) {body}", args).fetchone()
            with spilling():
                hours = daycounts.packed_sql("hours")
                rows = self.conn.execute(f"SELECT {key}, c.day, c.n, c.first_us, c.last_us, {hours} {body}"
                                         " ORDER BY 3 DESC, 1 LIMIT ?", [*args, n]).fetchall()
            return keys, int(events), [(r[0], *cells.stored_hours(iter([r]))) for r in rows]
        pairs = self._pairs(section, starts, end, lo, hi) if one_row else None
        counted = [0, 0]

        def totals(found: Iterator[tuple]) -> Iterator[tuple]:
            for row in found:
                counted[0] += 1
                counted[1] -= row[0]
                yield row

        if pairs is None:
            top = heapq.nsmallest(n, totals((-sum(c), k, c, t) for k, c, t in self.columns(section, starts, end)))
            return counted[0], counted[1], [r[1:] for r in top]
        total = daycounts.total
        whole = self._rows_in(section, pairs, min(WHOLE * n + 1, 2**63 - 1)) <= WHOLE * n  # (SQLite's largest)
        sql, args = self._paired(section, pairs, totals=not whole)
        top = heapq.nsmallest(n, totals((-total(row[-1]), row[0], row) for row in self.conn.execute(sql, args)))
        if not whole:  # the winners' rows, read by number
            self._keep_busy([(row[1],) for _, _, row in top])
            sql, args = self._paired(section, pairs, busy=True)
            top = sorted((-total(row[-1]), row[0], row) for row in self.conn.execute(sql, args))
        return counted[0], counted[1], [(key, *pairs.cells([row])) for _, key, row in top]

    def _rows_in(self, section: str, pairs: cells.Pairs, most: int) -> int:
        """How many rows of ``section`` the two UTC days of ``pairs`` hold, counted up to ``most``."""
        _, rows, args = _of_days(section, pairs)
        return self.conn.execute(f"SELECT count(*) FROM (SELECT 1 {rows} LIMIT ?)", [*args, most]).fetchone()[0]

    def _keep_busy(self, idents: list[tuple]) -> None:
        """Only ``idents`` (key numbers, or methods) in the temporary table ``busy``."""
        self._empty_busy()
        self.conn.executemany(f"INSERT INTO {self.busy} VALUES (?)", idents)

    def _empty_busy(self) -> None:
        if not self._made_busy:
            self.conn.execute(f"CREATE TABLE {self.busy} (k PRIMARY KEY)")  # a key's number, or a method
            self._made_busy = True
        self.conn.execute(f"DELETE FROM {self.busy}")

    def _busy(self, section: str, pairs: cells.Pairs, floor: int) -> bool:
        """Whether few keys (methods) of the selection, at most BUSY, of a ``Pairs`` day of
        one row a key and day may have a cell of more than ``floor`` events: they are then
        in the temporary table ``busy``, found in one scan. A cell is in one row, or in
        two (an hour across UTC midnight): a key whose rows hold at most floor / 2 events
        each has none above."""
        ident, rows, args = _of_days(section, pairs)
        kept = self._kept(ident, section == "all_events")
        self._empty_busy()
        return self.conn.execute(f"INSERT INTO {self.busy} SELECT DISTINCT {ident} {rows} AND 2 * n > ?{kept} LIMIT ?",
                                 [*args, floor, BUSY + 1]).rowcount <= BUSY


def _of_days(section: str, pairs: cells.Pairs) -> tuple[str, str, list]:
    """What a row of ``section`` is one of (see ``rows_of``), and FROM ... WHERE with its
    arguments, of the section's rows of the two UTC days of ``pairs``."""
    table, ident = rows_of(section)
    if section == "all_events":
        return ident, f"FROM {table} WHERE day IN (?, ?)", [pairs.day, pairs.day + DAY]
    return ident, f"FROM {table} WHERE day IN (?, ?) AND section = ?", [pairs.day, pairs.day + DAY, section]

"""What reports read from a store: its counts, in a time window, through the filters.

A ``Selection`` answers two questions, each with one query that reads only ``counts`` and
``keys`` (never the events, and never a sort of the whole store):

* ``quarters()``: events per UTC quarter hour, in time order (each day's totals, first
  and last event, and the hours without events);
* ``rows(section, start, end)``: one section's rows for one day, in key order, one
  (key, quarter, n, first, last) per key and quarter hour, so a report streams a day of
  300,000 keys row by row (SQLite sorts them, spilling to disk, within that day).

Filters become a temporary table of the key numbers they keep (``--principal`` is a glob,
``--method`` an fnmatch pattern, as everywhere in ccaudit). A window that starts or ends
inside a quarter hour counts that quarter's events, in a temporary table of their counts:
the events' key (hour first) finds them directly. Temporary tables live in the connection's
own temp database, which SQLite allows on a store opened read-only.

Every query of a selection reads one snapshot (a read transaction, held until the store
is closed): a report read while a load commits is one committed state, never a mix.
"""
from __future__ import annotations

import fnmatch
import itertools
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import StoreError
from .schema import HOUR_US, QUARTER, QUARTER_US

if TYPE_CHECKING:
    from .store import Store

_names = itertools.count()  # temp tables per selection: diff reads two windows of one store


class Selection:
    """The counts of ``store`` in [since, until) (epoch µs, None for open) for the keys
    whose principal matches the glob ``principal`` and whose method matches ``method``."""

    def __init__(self, store: Store, since: int | None = None, until: int | None = None,
                 principal: str | None = None, method: str | None = None):
        self.db = store.db
        if not self.db.conn.in_transaction:  # one snapshot for every query of the report:
            self.db.execute("BEGIN")  # a load committing meanwhile waits until the store is closed
        n = next(_names)
        self.wanted, self.edges = f"temp.wanted_{n}", f"temp.edges_{n}"
        self.first = None if since is None else -(-since // QUARTER_US) * QUARTER  # whole quarters: from
        self.last = None if until is None else until // QUARTER_US * QUARTER  # ... up to
        self.filtered = principal is not None or method is not None
        if self.filtered:
            self._keep(principal, method)
        parts = _edges(since, until)
        if parts and store.counts_only():
            raise StoreError(f"{store.path}: holds counts only (made by ccaudit spark): a time window must "
                             "start and end on a quarter hour (:00, :15, :30 or :45)")
        self.has_edges = bool(parts)
        if parts:
            self._count_edges(parts)

    def _keep(self, principal: str | None, method: str | None) -> None:
        glob = " WHERE principal GLOB ?" if principal is not None else ""
        keys = self.db.execute(f"SELECT kid, method FROM keys{glob}", [principal] if principal is not None else [])
        self.db.execute(f"CREATE TABLE {self.wanted} (kid INTEGER PRIMARY KEY)")
        self.db.conn.executemany(f"INSERT INTO {self.wanted} VALUES (?)", (
            (kid,) for kid, m in keys if method is None or fnmatch.fnmatchcase(m, method)))

    def _count_edges(self, parts: list[tuple[int, int]]) -> None:
        self.db.execute(f"CREATE TABLE {self.edges} (quarter INTEGER, kid INTEGER, n INTEGER, first_us INTEGER,"
                        " last_us INTEGER)")
        kept = f" AND kid IN (SELECT kid FROM {self.wanted})" if self.filtered else ""
        for start, end in parts:
            self.db.execute(f"INSERT INTO {self.edges} SELECT us / {QUARTER_US} * {QUARTER}, kid, count(*), min(us),"
                            f" max(us) FROM events WHERE hour = ? AND us >= ? AND us < ?{kept} GROUP BY kid",
                            [start // HOUR_US, start, end])

    # -- reading --------------------------------------------------------------------

    def quarters(self) -> Iterator[tuple[int, int, int, int]]:
        """(quarter start in epoch s, events, first µs, last µs) in time order: from the
        store's ``quarters``, or with a filter summed from ``counts`` (the GROUP BY follows
        its key: no sort)."""
        where, args = self._window("quarter", None, None)
        if self.filtered:
            rows = self.db.execute(f"SELECT quarter, sum(n), min(first_us), max(last_us) FROM counts{where}"
                                   " GROUP BY quarter", args)
        else:  # the sums the store keeps
            rows = self.db.execute(f"SELECT quarter, n, first_us, last_us FROM quarters{where}", args)
        if not self.has_edges:
            yield from rows
            return
        edges = self.db.execute(f"SELECT quarter, sum(n), min(first_us), max(last_us) FROM {self.edges}"
                                " GROUP BY quarter ORDER BY quarter").fetchall()  # at most two
        yield from (e for e in edges if self.first is not None and e[0] < self.first)
        yield from rows
        yield from (e for e in edges if self.first is None or e[0] >= self.first)

    def rows(self, section: str, start: int, end: int, keys: list[str] | None = None,
             hourly: bool = False) -> Iterator[tuple]:
        """(key, quarter start, n, first µs, last µs) of ``section`` in quarters [start,
        end) (epoch s), in key order; all_events rows are keyed by method. ``keys``: only
        these. ``hourly``: summed per hour from ``start`` (the second field is then the
        hour's index), for a day whose hours are whole UTC hours: a quarter of the rows."""
        key, body, args = self._section(section, start, end, keys)
        bucket = f"(c.quarter - {int(start)}) / 3600" if hourly else "c.quarter"
        return self.db.execute(f"SELECT {key}, {bucket}, sum(c.n), min(c.first_us), max(c.last_us) {body}"
                               " GROUP BY 1, 2 ORDER BY 1, 2", args)

    def busiest(self, section: str, start: int, end: int, top: int) -> list[str]:
        """The ``top`` keys of ``section`` with the most events in [start, end), ties by key
        (SQLite's order of text is Python's: by code point)."""
        key, body, args = self._section(section, start, end, None)
        sql = f"SELECT {key}, sum(c.n) {body} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?"
        return [k for k, _ in self.db.execute(sql, [*args, top])]

    def _section(self, section: str, start: int, end: int, keys: list[str] | None) -> tuple[str, str, list]:
        """The key expression, and FROM ... WHERE with its arguments, of one section's counts
        in [start, end)."""
        key = "k.method" if section == "all_events" else "k.key"
        where, args = self._window("quarter", start, end)
        source = f"SELECT quarter, kid, n, first_us, last_us FROM counts{where}"
        if self.has_edges:
            source += f" UNION ALL SELECT * FROM {self.edges} WHERE quarter >= ? AND quarter < ?"
            args += [start, end]
        clauses = [] if section == "all_events" else ["k.section = ?"]
        args += [] if section == "all_events" else [section]
        if keys is not None:
            clauses.append(f"{key} IN (SELECT value FROM json_each(?))")
            args.append(json.dumps(keys))
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        return key, f"FROM ({source}) c JOIN keys k USING (kid){where}", args

    def _window(self, column: str, start: int | None, end: int | None) -> tuple[str, list]:
        """WHERE for whole quarters in [start, end) and the selection's window and keys."""
        clauses, args = [], []
        for bound, op in ((self.first, ">="), (start, ">="), (self.last, "<"), (end, "<")):
            if bound is not None:
                clauses.append(f"{column} {op} ?")
                args.append(bound)
        if self.filtered:
            clauses.append(f"kid IN (SELECT kid FROM {self.wanted})")
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _edges(since: int | None, until: int | None) -> list[tuple[int, int]]:
    """The parts of quarter hours that the window [since, until) cuts: [start, end) in µs."""
    parts = []
    if since is not None and since % QUARTER_US:
        end = (since // QUARTER_US + 1) * QUARTER_US
        parts.append((since, end if until is None else min(end, until)))
    if until is not None and until % QUARTER_US:
        start = until // QUARTER_US * QUARTER_US
        if since is None or start > since:
            parts.append((max(start, since or 0), until))
    return [(a, b) for a, b in parts if a < b]



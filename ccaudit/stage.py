"""Staging: where classified rows wait before the store merges them.

A stage is one table of classified rows (``events``: every column of every event table,
one row per event), without indexes, so filling it costs only the inserts, plus the
counts of what it holds. It lives either in an in-memory database attached to the store's
connection (the in-process path) or in a file of its own written by a parse worker; the
store merges both the same way (``Store.load``, ``Store.merge_files``), mostly as plain copies. This module
needs only ``sqlite3`` and the schema, so workers stay small.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from .schema import DETAIL_TABLE, HOUR, ID, KEY, METHOD, ROW_COLUMNS, SECTION, TABLES, TS

_ALWAYS_SET = {"hour", "id", "ts", "time", "method", "principal"}

# Events per (epoch hour, section, key) of a stage. Hours lead the counts table's key, so
# that a load (nearly time-ordered) adds to the last pages of its index.
COUNT_SELECT = """
SELECT hour, 'all_events' AS section, method AS key, count(*), min(ts), max(ts)
  FROM {events} GROUP BY 1, 3
UNION ALL
SELECT hour, section, key, count(*), min(ts), max(ts) FROM {events} WHERE section != ''
 GROUP BY 1, 2, 3"""


STAGE_COLUMNS = tuple(dict.fromkeys(c for columns in ROW_COLUMNS.values() for c in columns))


def select_sql(table: str, schema: str) -> str:
    """SELECT the staged rows of ``table``, with '' turned back into NULL (by CASE: the
    NULLIF function costs the merge a third more)."""
    values = [c if c in _ALWAYS_SET else f"CASE {c} WHEN '' THEN NULL ELSE {c} END" for c in TABLES[table][0]]
    sections = [s for s, t in DETAIL_TABLE.items() if t == table]
    where = f" WHERE section IN ({', '.join(repr(s) for s in sections)})" if sections else ""
    return f"SELECT {', '.join(values)} FROM {schema}.events{where}"


def insert_sql(table: str, schema: str, columns) -> str:
    return f"INSERT INTO {schema}.{table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


class Stage:
    """A stage being filled; keeps only the first copy of each (hour, id), and counts
    what it keeps per hour, method, section and key as it goes: a dict in the loop that
    already touches every row costs a fraction of the GROUP BY that would count them after.
    """

    def __init__(self, conn: sqlite3.Connection, schema: str = "main"):
        self.conn, self.schema = conn, schema
        self.seen: set = set()
        self.tally: dict = {}  # (hour, method, section, key) -> [n, first ts, last ts]
        conn.execute(f"CREATE TABLE IF NOT EXISTS {schema}.events ({', '.join(STAGE_COLUMNS)})")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {schema}.counts ({', '.join(TABLES['counts'][0])})")
        self.clear()

    def add(self, rows: Iterable[tuple]) -> None:
        """Stage rows from ``classify``."""
        by_section: dict[str, list] = {section: [] for section in ROW_COLUMNS}
        seen, tally = self.seen, self.tally
        for row in rows:
            event = row[HOUR], row[ID]
            if event in seen:
                continue
            seen.add(event)
            by_section[row[SECTION]].append(row)
            ts, bucket = row[TS], (row[HOUR], row[METHOD], row[SECTION], row[KEY])
            n = tally.get(bucket)
            if n is None:
                tally[bucket] = [1, ts, ts]
            else:
                n[0] += 1
                if ts < n[1]:
                    n[1] = ts
                elif ts > n[2]:
                    n[2] = ts
        for section, batch in by_section.items():
            if batch:
                self.conn.executemany(insert_sql("events", self.schema, ROW_COLUMNS[section]), batch)

    def write_counts(self) -> None:
        """Write the tally into the stage's counts table, per method and per section key."""
        counts: dict = {}
        for (hour, method, section, key), (n, first, last) in self.tally.items():
            buckets = [(hour, "all_events", method)] + ([(hour, section, key)] if section else [])
            for bucket in buckets:
                c = counts.setdefault(bucket, [0, first, last])
                c[0], c[1], c[2] = c[0] + n, min(c[1], first), max(c[2], last)
        self.conn.executemany(insert_sql("counts", self.schema, TABLES["counts"][0]),
                              [k + tuple(v) for k, v in counts.items()])

    def clear(self) -> None:
        for table in ("events", "counts"):
            self.conn.execute(f"DELETE FROM {self.schema}.{table}")
        self.seen.clear()
        self.tally.clear()

    @staticmethod
    def count(conn: sqlite3.Connection, schema: str) -> None:
        """(Re)fill ``schema.counts`` from the staged events (after some were dropped)."""
        conn.execute(f"DELETE FROM {schema}.counts")
        conn.execute(f"INSERT INTO {schema}.counts {COUNT_SELECT.format(events=f'{schema}.events')}")


def open_file(path: str) -> sqlite3.Connection:
    """A fresh stage file; durability is pointless for a file deleted after the merge."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA page_size = 65536")  # fewer, larger writes
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -512")  # written front to back: a small cache will do
    return conn

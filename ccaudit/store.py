"""The SQLite store: the old tool's four tables, de-duplicated by event id, plus counts.

Tables (created through sqlite-utils):

* ``all_events``        every event: day, id, ts (epoch s, UTC), time (as written), method,
                        type, principal (as shown), section and key of its other section
* ``auth_events``       kafka.Authentication and mds.Authorize, with their auth fields
* ``signin_failures``   SignIn with outcome FAILURE, with the first error's status/detail
* ``signin_successes``  SignIn with outcome SUCCESS
* ``counts``            events per (section, key, quarter hour), kept up to date on load, so
                        reports never scan the event tables; quarter hours make any time
                        zone's hours exact (every zone's offset is a multiple of 15 minutes)

An event's identity is its ``id`` within its UTC day: ``(day, id)`` is the primary key.
Keying on the day first makes inserts land at the end of the index (dumps are nearly
time-ordered), several times cheaper than a random-UUID key; a copy of an event always has
the same time, so it is still a duplicate.
"""
from __future__ import annotations

import os
import sqlite3
from typing import Iterable, Iterator

import sqlite_utils

from .errors import StoreError
from .ingest import LoadStats
from .stage import COUNT_SELECT, EVENT_TABLES, QUARTER, TABLES, Stage, select_sql

_UPSERT = """
INSERT INTO main.counts (section, key, q, n, first_ts, last_ts) {select}
ON CONFLICT (section, key, q) DO UPDATE SET
  n = n + excluded.n,
  first_ts = min(first_ts, excluded.first_ts),
  last_ts = max(last_ts, excluded.last_ts)
"""


class Store:
    """A ccaudit SQLite file: open or create it, load rows, read counts."""

    def __init__(self, path: str):
        self.path = path
        if path != ":memory:" and os.path.isdir(path):
            raise StoreError(f"{path}: is a directory, not a store")
        try:
            self.db = sqlite_utils.Database(path)
            self._check_and_create()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{path}: not a usable ccaudit store ({e})") from None

    def _check_and_create(self) -> None:
        existing = set(self.db.table_names())
        if existing and "all_events" not in existing:
            raise StoreError(f"{self.path}: is an SQLite file but not a ccaudit store")
        for name, (columns, pk) in TABLES.items():
            if name not in existing:
                self.db.create_table(name, columns, pk=pk)
        self.db.execute(f"PRAGMA journal_mode = {os.environ.get('CCJ', 'WAL')}")
        self.db.execute(f"PRAGMA synchronous = {os.environ.get('CCS', 'NORMAL')}")
        self.db.execute("PRAGMA cache_size = -16000")
        self.db.execute("PRAGMA temp_store = MEMORY")

    def close(self) -> None:
        self.db.close()

    # -- loading --------------------------------------------------------------------

    def load(self, batches: Iterable[list[tuple]], stats: LoadStats) -> None:
        """Stage and merge batches of rows in this connection (the single-process path)."""
        staged = Stage(self.db.conn, "temp")
        for batch in batches:
            with self.db.conn:
                staged.clear()
                staged.add(batch)
                self.merge("temp", len(batch), stats)

    def merge(self, schema: str, offered: int, stats: LoadStats) -> None:
        """Move the new events staged in ``schema`` (``offered`` rows before staging
        dropped repeats) into the four tables and the counts.

        Set-based SQL does the de-duplication, the fan-out and the counting, in C. This
        uses ``db.conn`` directly: sqlite-utils' ``insert_all(pk=..., ignore=True)`` costs
        several times as much per row (benchmarks/test_bench_store.py). A stage that a
        worker has prepared and that holds no event already stored is copied as it is.
        """
        conn = self.db.conn
        stage = f"{schema}.stage"
        prepared = schema != "temp" and not conn.execute(f"SELECT count(*) {_known(schema + '.all_events')}").fetchone()[0]
        if not prepared:
            conn.execute(f"DELETE {_known(stage)}")
        new = conn.execute(f"SELECT count(*) FROM {schema + '.all_events' if prepared else stage}").fetchone()[0]
        if new:
            for name in EVENT_TABLES:
                select = f"SELECT * FROM {schema}.{name}" if prepared else select_sql(name, stage)
                conn.execute(f"INSERT INTO main.{name} ({', '.join(TABLES[name][0])}) {select}")
            counts = f"SELECT * FROM {schema}.counts WHERE true" if prepared else COUNT_SELECT.format(stage=stage)
            conn.execute(_UPSERT.format(select=counts))
        stats.inserted += new
        stats.duplicates += offered - new

    # -- reading --------------------------------------------------------------------

    def event_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM all_events").fetchone()[0]

    def buckets(self, since: int | None = None, until: int | None = None,
                principal: str | None = None) -> Iterator[tuple]:
        """(section, key, epoch second, n, first_ts, last_ts) per quarter hour.

        Without filters this reads the small ``counts`` table; a time window narrower
        than a quarter hour or a principal filter needs the events themselves.
        """
        if principal is None and _on_quarter(since) and _on_quarter(until):
            where, args = _window("q * 900", since, until)
            sql = f"SELECT section, key, q * 900, n, first_ts, last_ts FROM counts {where}"
            return self.db.execute(sql, args)
        where, args = _window("ts", since, until)
        if principal is not None:
            where += (" AND " if where else "WHERE ") + "principal GLOB ?"
            args.append(principal)
        sql = f"""
        SELECT 'all_events', method, ts / 900 * 900, count(*), min(ts), max(ts)
          FROM all_events {where} GROUP BY 2, 3
        UNION ALL
        SELECT section, key, ts / 900 * 900, count(*), min(ts), max(ts)
          FROM all_events {where} {"AND" if where else "WHERE"} section IS NOT NULL
         GROUP BY 1, 2, 3"""
        return self.db.execute(sql, args + args)


def _known(table: str) -> str:
    """FROM-clause for the rows of ``table`` whose event the store already holds."""
    return (f"FROM {table} AS s WHERE EXISTS"
            " (SELECT 1 FROM main.all_events e WHERE e.day = s.day AND e.id = s.id)")


def _on_quarter(t: int | None) -> bool:
    return t is None or t % QUARTER == 0


def _window(column: str, since: int | None, until: int | None) -> tuple[str, list]:
    clauses, args = [], []
    if since is not None:
        clauses.append(f"{column} >= ?")
        args.append(since)
    if until is not None:
        clauses.append(f"{column} < ?")
        args.append(until)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), args



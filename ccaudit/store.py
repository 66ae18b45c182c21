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

from .classify import COLUMNS
from .errors import StoreError
from .ingest import LoadStats

QUARTER = 900  # seconds per counts bucket

_TABLES = {
    "all_events": (
        {"day": str, "id": str, "ts": int, "time": str, "method": str, "type": str,
         "principal": str, "section": str, "key": str},
        ("day", "id"),
    ),
    "auth_events": (
        {"id": str, "day": str, "ts": int, "time": str, "method": str, "principal": str,
         "key": str, "identifier": str, "principal_resource_id": str, "connection_id": str,
         "status": str, "granted": str, "operation": str, "resource_type": str,
         "resource_name": str, "pattern_type": str},
        None,
    ),
    "signin_failures": (
        {"id": str, "day": str, "ts": int, "time": str, "principal": str, "email": str,
         "key": str, "outcome": str, "client_ip": str, "status": str, "error_status": str,
         "error_detail": str},
        None,
    ),
    "signin_successes": (
        {"id": str, "day": str, "ts": int, "time": str, "principal": str, "email": str,
         "key": str, "outcome": str, "client_ip": str, "status": str},
        None,
    ),
    "counts": (
        {"section": str, "key": str, "q": int, "n": int, "first_ts": int, "last_ts": int},
        ("section", "key", "q"),
    ),
}

# Which events each detail table takes from the staging table.
_DETAIL_FILTER = {
    "auth_events": "section IN ('kafka_authentication', 'mds_authorize')",
    "signin_failures": "section = 'signin_failure'",
    "signin_successes": "section = 'signin_success'",
}

_COUNT_UPSERT = """
INSERT INTO counts (section, key, q, n, first_ts, last_ts)
SELECT {section}, {key}, ts / 900, count(*), min(ts), max(ts) FROM temp.stage {where}
GROUP BY 1, 2, 3
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
        for name, (columns, pk) in _TABLES.items():
            if name not in existing:
                self.db.create_table(name, columns, pk=pk)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute("PRAGMA cache_size = -16000")
        self.db.execute("PRAGMA temp_store = MEMORY")

    def close(self) -> None:
        self.db.close()

    # -- loading --------------------------------------------------------------------

    def load(self, batches: Iterable[list[tuple]], stats: LoadStats) -> None:
        """Insert batches of rows (``classify.COLUMNS``) that are new; count the rest.

        Each batch goes through a temporary staging table, and set-based SQL does the
        de-duplication, the fan-out into the four tables and the counts. This uses
        ``db.conn`` directly: sqlite-utils' ``insert_all(pk=..., ignore=True)`` costs
        about 4x as much on a million rows (benchmarks/test_bench_store.py).
        """
        conn = self.db.conn
        conn.execute("DROP TABLE IF EXISTS temp.stage")
        conn.execute(f"CREATE TEMP TABLE stage ({', '.join(COLUMNS)})")
        insert = f"INSERT INTO temp.stage VALUES ({', '.join('?' * len(COLUMNS))})"
        for batch in batches:
            with conn:
                conn.execute("DELETE FROM temp.stage")
                conn.executemany(insert, _first_copies(batch))
                conn.execute(
                    "DELETE FROM temp.stage WHERE EXISTS (SELECT 1 FROM all_events e"
                    " WHERE e.day = stage.day AND e.id = stage.id)"
                )
                new = conn.execute("SELECT count(*) FROM temp.stage").fetchone()[0]
                if new:
                    self._fan_out(conn)
            stats.inserted += new
            stats.duplicates += len(batch) - new

    @staticmethod
    def _fan_out(conn: sqlite3.Connection) -> None:
        columns = ", ".join(_TABLES["all_events"][0])
        conn.execute(f"INSERT INTO all_events ({columns}) SELECT {columns} FROM temp.stage")
        for table, where in _DETAIL_FILTER.items():
            columns = ", ".join(_TABLES[table][0])
            conn.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM temp.stage WHERE {where}")
        conn.execute(_COUNT_UPSERT.format(section="'all_events'", key="method", where="WHERE true"))
        conn.execute(_COUNT_UPSERT.format(section="section", key="key", where="WHERE section IS NOT NULL"))

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


def _first_copies(batch: list[tuple]) -> Iterator[tuple]:
    """The batch without repeats of an earlier (day, id) in the same batch."""
    seen: set = set()
    add = seen.add
    for row in batch:
        key = row[0], row[1]
        if key not in seen:
            add(key)
            yield row

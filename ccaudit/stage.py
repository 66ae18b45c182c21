"""The store's tables as data, and staging: where classified rows wait before the store
merges them.

A stage is a plain table with every row column and no index, so filling it costs only
the inserts. It lives either in the store's connection (``temp.stage``, the in-process
path) or in a file of its own written by a parse worker. A worker also *prepares* its
stage file: it splits the rows into the four tables' final shape and counts them, so
that the single writer, the store, only copies (``Store.merge``). This module needs only
``sqlite3``, so workers stay small.
"""
from __future__ import annotations

import sqlite3
from typing import Iterable

from .classify import COLUMNS, ROW_COLUMNS

TABLES = {  # name: (columns, primary key)
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
EVENT_TABLES = {  # which staged rows each event table takes
    "all_events": "true",
    "auth_events": "section IN ('kafka_authentication', 'mds_authorize')",
    "signin_failures": "section = 'signin_failure'",
    "signin_successes": "section = 'signin_success'",
}
_ALWAYS_SET = {"day", "id", "ts", "time", "method", "principal"}
QUARTER = 900  # seconds per counts bucket

COUNT_SELECT = """
SELECT 'all_events', method, ts / 900, count(*), min(ts), max(ts) FROM {stage} GROUP BY 2, 3
UNION ALL
SELECT section, key, ts / 900, count(*), min(ts), max(ts) FROM {stage} WHERE section != ''
GROUP BY 1, 2, 3"""

_DDL = f"CREATE TABLE IF NOT EXISTS {{schema}}.stage ({', '.join(COLUMNS)})"
_INSERTS = {
    width: f"INSERT INTO {{schema}}.stage ({', '.join(cols)}) VALUES ({', '.join('?' * width)})"
    for width, cols in ROW_COLUMNS.items()
}


def select_sql(table: str, stage: str) -> str:
    """SELECT a staged row in ``table``'s shape ('' back to NULL)."""
    columns = TABLES[table][0]
    values = [c if c in _ALWAYS_SET else f"NULLIF({c}, '')" for c in columns]
    return f"SELECT {', '.join(values)} FROM {stage} WHERE {EVENT_TABLES[table]}"


class Stage:
    """A stage table being filled; keeps only the first copy of each (day, id) in it."""

    def __init__(self, conn: sqlite3.Connection, schema: str = "main"):
        self.conn, self.schema = conn, schema
        self.seen: set = set()
        conn.execute(_DDL.format(schema=schema))
        conn.execute(f"DELETE FROM {schema}.stage")

    def add(self, rows: Iterable[tuple]) -> None:
        by_width: dict[int, list] = {width: [] for width in _INSERTS}
        seen = self.seen
        for row in rows:
            key = row[0], row[1]
            if key not in seen:
                seen.add(key)
                by_width[len(row)].append(row)
        for width, batch in by_width.items():
            if batch:
                self.conn.executemany(_INSERTS[width].format(schema=self.schema), batch)

    def clear(self) -> None:
        self.conn.execute(f"DELETE FROM {self.schema}.stage")
        self.seen.clear()


def open_file(path: str) -> sqlite3.Connection:
    """A fresh stage file; durability is pointless for a file deleted after the merge."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    return conn


def prepare(conn: sqlite3.Connection) -> None:
    """Split a stage file's rows into the event tables' shape and count them, so the
    store's merge is a plain copy (done by workers, in parallel)."""
    for table in EVENT_TABLES:
        conn.execute(f"CREATE TABLE {table} AS {select_sql(table, 'stage')}")
    conn.execute(f"CREATE TABLE counts AS {COUNT_SELECT.format(stage='stage')}")

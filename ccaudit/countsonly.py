"""Stores of counts without events (``ccaudit spark``'s), kept apart from stores of events:
counts cannot tell which events they hold, so adding either to the other would count an
event twice. A Spark run marks the store as it begins, so that a load begun during its
minutes of Spark is refused at once, rather than make the run fail at its end; a run that
wrote no counts leaves its mark on an empty store, which a load then takes as any other."""
from __future__ import annotations

import sqlite3

from . import storelock
from .errors import StoreError


def marked(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT count(*) FROM meta WHERE name = 'counts_only'").fetchone()[0] > 0


def holds_events(conn: sqlite3.Connection) -> bool:
    """Any event counted, loaded or Spark's (every event has its quarter hour's row)."""
    return conn.execute("SELECT EXISTS (SELECT 1 FROM quarters)").fetchone()[0] == 1


def counts_only(conn: sqlite3.Connection) -> bool:
    """Counts written by ``ccaudit spark``, and no events."""
    return marked(conn) and holds_events(conn)


def claim(conn: sqlite3.Connection) -> None:
    """Mark the store as a Spark run's, in the write transaction that found it empty."""
    conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('counts_only', 1)")


def refuse_mixing(conn: sqlite3.Connection, path: str, adding: str, held: int | None) -> None:
    """Refuse ``adding`` ("events" or "counts") to a store of the other kind, or events to a
    store a Spark run is writing (``held``: this command's hold on the store, through which
    the run's is seen: ``storelock.spark_holds``). Checked in each write transaction: another
    process may have written meanwhile."""
    if adding == "counts":
        if holds_events(conn):
            raise StoreError(f"{path}: already holds events or counts; ccaudit spark writes counts without "
                             "events, so it cannot tell which ones the store has: give a new store")
    elif marked(conn):
        if holds_events(conn):
            raise StoreError(f"{path}: holds counts only (made by ccaudit spark), which cannot tell which "
                             "events they have: load the dumps into a new store, or give them all to ccaudit spark")
        if held is not None and storelock.spark_holds(held):
            raise StoreError(f"{path}: ccaudit spark is writing counts into it now, and a store holds counts or "
                             "events, never both: load the dumps into another store")
        conn.execute("DELETE FROM meta WHERE name = 'counts_only'")  # a Spark run that wrote none

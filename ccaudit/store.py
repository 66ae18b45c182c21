"""The SQLite store: four tables of events, de-duplicated by event id, plus counts.

The store owns its SQL: merging staged events into it and reading counts back.
``storefile.py`` owns its file: recognising, creating, opening and deleting a store.

Tables (created through sqlite-utils):

* ``all_events``        every event: hour (epoch hour, UTC), id, ts (epoch s), time (as written), method,
                        principal (as shown), section and key of its other section
* ``auth_events``       kafka.Authentication and mds.Authorize: id, time, method, principal,
                        identifier (API key), principal_resource_id, connection_id, status,
                        granted, operation, resource_type, resource_name, pattern_type
* ``signin_failures``   SignIn with outcome FAILURE: id, time, email, principal, outcome,
                        client_ip, status, error_status, error_detail (first error with a status)
* ``signin_successes``  SignIn with outcome SUCCESS: the same without the error columns
* ``counts``            events per (section, key, UTC hour), kept up to date on load, so
                        plain reports never scan the event tables (a zone whose offset is not
                        whole hours, --principal, or a window not on the hour is reported
                        from all_events, in quarter hours)

The detail tables join all_events on ``id``. Text that a record lacks is NULL.

An event's identity is its ``id`` within the UTC hour of its time: ``(hour, id)`` is the
primary key. Keying on the hour first makes inserts land at the end of the index (dumps are
nearly time-ordered): a random-UUID key, or even (day, id), cost the load about a third more
once the index outgrows the page cache. A copy of an event always has the same time, so it
is still a duplicate.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import sqlite_utils

from .errors import NoSpace, StoreError, out_of_space
from .schema import EVENT_TABLES, QUARTER, TABLES
from .stage import Stage, select_sql
from .storefile import check_layout, connect, create, create_tables, needs_creating, wait_for_writers

CACHE_PER_STAGE = -512  # KiB: an attached stage file is read once, front to back

_UPSERT = """
INSERT INTO main.counts (hour, section, key, n, first_ts, last_ts) {select}
ON CONFLICT (hour, section, key) DO UPDATE SET
  n = n + excluded.n,
  first_ts = min(first_ts, excluded.first_ts),
  last_ts = max(last_ts, excluded.last_ts)
"""


class Merged(NamedTuple):
    """What a merge did: events new to the store, and copies of stored ones."""

    inserted: int
    duplicates: int

    def __add__(self, other: tuple) -> Merged:  # type: ignore[override]
        return Merged(self.inserted + other[0], self.duplicates + other[1])


class Store:
    """A ccaudit SQLite file, open: load rows, read counts. ``readonly`` for reading
    commands; ``notify`` hears once if another process's lock makes it wait."""

    def __init__(self, path: str, durable: bool = True, readonly: bool = False,
                 notify: Callable[[str], None] | None = None):
        """``durable=False`` for a store that is thrown away after the command: it skips
        the fsync of every commit (a crash of the machine could corrupt it, not lose data)."""
        self.path, self.durable, self.readonly = path, durable, readonly
        if path != ":memory:" and os.path.isdir(path):
            raise StoreError(f"{path}: is a directory, not a store")
        conn = None
        try:
            if not readonly and path != ":memory:" and needs_creating(path):
                create(path)
            conn = connect(path, readonly)
            self.db = sqlite_utils.Database(conn)
            wait_for_writers(conn, path, notify)
            check_layout(self.db, path)
            if path == ":memory:":
                create_tables(self.db)
        except (sqlite3.DatabaseError, StoreError) as e:
            if conn is not None:
                conn.close()
            if isinstance(e, StoreError):
                raise
            raise StoreError(f"{path}: not a usable ccaudit store ({e})") from None
        conn.execute(f"PRAGMA synchronous = {'NORMAL' if durable else 'OFF'}")
        conn.execute("PRAGMA cache_size = -8000")
        conn.execute("PRAGMA temp_store = MEMORY")

    def close(self) -> None:
        self.db.close()

    # -- loading --------------------------------------------------------------------

    def load(self, batches: Iterable[list[tuple]]) -> Iterator[Merged]:
        """Stage and merge batches of rows in this process (the single-process path);
        yields what each batch added.

        The stage is an attached in-memory database, not ``temp``: unqualified table
        names resolve to ``temp`` before ``main``, and must keep meaning the store.
        """
        conn = self.db.conn
        conn.execute("ATTACH DATABASE ':memory:' AS stage")
        try:
            with conn:
                staged = Stage(conn, "stage")
            for batch in batches:
                with self._writing():
                    staged.clear()
                    staged.add(batch)
                    staged.write_counts()
                    merged = self._merge("stage", len(batch))
                    self._add_counts(["stage"])
                yield merged
        finally:
            conn.execute("DETACH DATABASE stage")

    def merge_files(self, stages: list[tuple[str, int]]) -> Merged:
        """Merge stage files written by parse workers, in order, in one transaction (each
        commit rewrites the index and counts pages it touched, so fewer is cheaper).
        ``stages``: (path, rows offered to it) pairs. The files are deleted afterwards."""
        conn = self.db.conn
        names = [f"stage{i}" for i in range(len(stages))]
        total = Merged(0, 0)
        try:
            for name, (path, _) in zip(names, stages):
                conn.execute(f"ATTACH DATABASE ? AS {name}", (path,))
                conn.execute(f"PRAGMA {name}.cache_size = {CACHE_PER_STAGE}")
            with self._writing():
                for name, (_, offered) in zip(names, stages):
                    total += self._merge(name, offered)
                self._add_counts(names)
        finally:
            for name, (path, _) in zip(names, stages):
                with contextlib.suppress(sqlite3.OperationalError):  # never attached
                    conn.execute(f"DETACH DATABASE {name}")
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
        return total

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One write transaction; a full disk rolls it back and is NoSpace, naming the store."""
        try:
            with self.db.conn:
                yield
        except sqlite3.OperationalError as e:
            if out_of_space(e):
                raise NoSpace(f"{self.path}: cannot write the store: no space left, or an I/O error ({e}); "
                              "everything loaded before is kept") from None
            if "readonly" in str(e):
                raise StoreError(f"{self.path}: the store is read-only here; cannot load into it") from None
            raise

    def _merge(self, schema: str, offered: int) -> Merged:
        """Move the new events staged in ``schema`` (``offered`` rows before staging
        dropped repeats) into the four tables; ``schema.counts`` is left counting them
        (for ``_add_counts``).

        Duplicates are rare, so the stage is first copied as it is: the copy into
        all_events fails on the first event already stored (a statement rollback), and
        only then are stored events looked up and dropped from the stage. Plain SQL on
        ``db.conn`` (the load's hot path bypasses sqlite-utils): its ``insert_all`` of the
        same rows, with ``ignore=True`` for the de-duplication, measured 4-6x slower, and
        still 1.5-2x with the same commit batching (benchmarks/test_bench_store.py).
        """
        try:
            new = self._copy(schema)
        except sqlite3.IntegrityError:
            self._drop_known(schema)
            new = self._copy(schema)
        return Merged(new, offered - new)

    def _copy(self, schema: str) -> int:
        conn = self.db.conn
        new = conn.execute(_copy_sql("all_events", schema)).rowcount
        if new:
            for table in EVENT_TABLES[1:]:
                conn.execute(_copy_sql(table, schema))
        return new

    def _add_counts(self, schemas: list[str]) -> None:
        """Add the staged counts of ``schemas`` (merged first) to the store's counts."""
        staged = " UNION ALL ".join(f"SELECT * FROM {s}.counts" for s in schemas)
        self.db.conn.execute(_UPSERT.format(select=(
            f"SELECT hour, section, key, sum(n), min(first_ts), max(last_ts) FROM ({staged})"
            " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")))

    def _drop_known(self, schema: str) -> None:
        """Drop the staged events that the store already holds, and count the rest again."""
        conn = self.db.conn
        conn.execute(f"DELETE FROM {schema}.events AS s WHERE EXISTS"
                     " (SELECT 1 FROM main.all_events e WHERE e.hour = s.hour AND e.id = s.id)")
        Stage.count(conn, schema)

    # -- reading --------------------------------------------------------------------

    def event_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM all_events").fetchone()[0]

    def time_range(self) -> tuple[int, int] | None:
        """(first, last) event time in epoch seconds, or None for an empty store."""
        row = self.db.execute("SELECT min(first_ts), max(last_ts) FROM counts").fetchone()
        return None if row[0] is None else row

    def buckets(self, since: int | None = None, until: int | None = None,
                principal: str | None = None, fine: bool = False) -> Iterator[tuple]:
        """(section, key, bucket start, n, first_ts, last_ts) per hour, or per quarter
        hour if ``fine`` (for zones whose offset is not a whole number of hours).

        Hourly buckets come from the small ``counts`` table; quarter hours, a principal
        filter or a time window not on the hour need the events themselves.
        """
        if not fine and principal is None and _on_hour(since) and _on_hour(until):
            where, args = _window("hour * 3600", since, until)
            sql = f"SELECT section, key, hour * 3600, n, first_ts, last_ts FROM counts {where}"
            return self.db.execute(sql, args)
        where, args = _window("ts", since, until)
        if principal is not None:
            where += (" AND " if where else "WHERE ") + "principal GLOB ?"
            args.append(principal)
        sql = f"""
        SELECT 'all_events', method, ts / {QUARTER} * {QUARTER}, count(*), min(ts), max(ts)
          FROM all_events {where} GROUP BY 2, 3
        UNION ALL
        SELECT section, key, ts / {QUARTER} * {QUARTER}, count(*), min(ts), max(ts)
          FROM all_events {where} {"AND" if where else "WHERE"} section IS NOT NULL
         GROUP BY 1, 2, 3"""
        return self.db.execute(sql, args + args)


def _copy_sql(table: str, schema: str) -> str:
    return f"INSERT INTO main.{table} ({', '.join(TABLES[table][0])}) {select_sql(table, schema)}"


def _on_hour(t: int | None) -> bool:
    return t is None or t % 3600 == 0


def _window(column: str, since: int | None, until: int | None) -> tuple[str, list]:
    clauses, args = [], []
    if since is not None:
        clauses.append(f"{column} >= ?")
        args.append(since)
    if until is not None:
        clauses.append(f"{column} < ?")
        args.append(until)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), args

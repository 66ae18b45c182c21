"""The SQLite store: every event once, de-duplicated, and the counts reports read.

The store owns its SQL for loading: merging staged batches into it. ``counts.py`` reads the counts back
for reports. ``storefile.py`` owns its file: recognising, creating, opening and deleting a store. The
tables are in ``schema.TABLES``:

* ``events``   one row per event: (hour, id) its identity and key, its time in epoch µs,
               its key number, details number and connection id. WITHOUT ROWID: the key is
               the table, so an event costs one B-tree entry, not a row plus an index entry.
* ``keys``     each distinct (section, key, method, principal), numbered.
* ``details``  each distinct set of auth or sign-in details, numbered.
* ``counts``   events per (UTC day, section, key number): the day's total, first and last time,
               and its hours and quarter hours packed (``daycounts.py``), kept up to date
               on load. Reports, filters and zones read only this (and ``keys``); a window
               that starts or ends inside a quarter hour reads that quarter's events,
               which the key (hour first) finds directly.
* ``method_counts`` the same per (UTC day, method): the all-events section, and what a
               ``--method`` filter reads, without a day's thousands of keys.
* ``quarters`` events per quarter hour, all keys together: the days' totals, read by
               every report without a filter.
* ``meta``     ``unfinished_load PID-RANDOM`` = {"began": ..., "inputs": [...]} while a load runs, and
               after one killed (``begin_load``); ``counts_only`` = 1 for ``ccaudit spark``'s counts.

Views named as the tables of earlier layouts (``all_events``, ``auth_events``, ``signin_failures``,
``signin_successes``) show the events with their text. An event's identity is its ``id`` within the UTC
hour of its time: keying on the hour first makes inserts land at the end of the key (dumps are nearly
time-ordered); a random-UUID key, or even (day, id), cost the load about a third more once it outgrows
the page cache. A copy of an event always has the same time, so it is still a duplicate.
"""
from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from . import countsonly, daycounts, loadnotes, storefile, storelock, upgrade
from .arguments import of_kind, store_path
from .errors import NoSpace, StoreError, out_of_space, too_many_files
from .numbering import AT_ONCE, Numbering, chunks, looked_up, values_sql
from .schema import DAY, DETAIL_COLUMNS, KEY_COLUMNS, QUARTER
from .sidefiles import check_files, check_folder, check_journal_name, wal_unreadable
from .stage import Merged, Stage, Staged, tally, unpack
from .storelock import hold
from .storeshape import check_layout

if TYPE_CHECKING:
    import sqlite_utils

PENDING = 5_000  # (day, key) counts held before they are written to the store

# No connection id is bound as '': sqlite3 looks for an adapter for None, which costs more than nullif.
_INSERT_EVENTS = "INSERT INTO events (hour, id, us, kid, did, connection_id) VALUES (?, ?, ?, ?, ?, nullif(?, ''))"
_ADD = """
SET n = n + excluded.n, first_us = min(first_us, excluded.first_us), last_us = max(last_us, excluded.last_us)"""
_COUNTED = "n, first_us, last_us, hours, offset_hours, quarters"  # daycounts.pack's
_PUT_COUNTS = f"INSERT OR REPLACE INTO counts (day, section, kid, {_COUNTED}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_GET_COUNTS = values_sql(("day", "section", "kid"), f"SELECT v.i, {', '.join('c.' + c for c in _COUNTED.split(', '))}"
                         " FROM v CROSS JOIN counts c ON c.day = v.day AND c.section = v.section AND c.kid = v.kid")
_PUT_METHOD_COUNTS = f"INSERT OR REPLACE INTO method_counts (day, method, {_COUNTED}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_GET_METHOD_COUNTS = f"SELECT {_COUNTED} FROM method_counts WHERE day = ? AND method = ?"
_UPSERT_QUARTER = "INSERT INTO quarters (quarter, n, first_us, last_us) VALUES (?, ?, ?, ?)" \
                  " ON CONFLICT (quarter) DO UPDATE" + _ADD

_A_DUMP = "; if it is a dump, it is read as an input (ccaudit report FILE, or ccaudit load FILE --db STORE)"

_KEPT = "; what the load had committed is kept"  # of a full disk, by a load, which commits every 64,000 records

class Store:
    """A ccaudit SQLite file, open: load rows, read counts. ``readonly`` for reading
    commands; ``notify`` hears once if another process's lock makes it wait."""

    closed, made = False, None  # made: (name, value) of the note a store made here for its load holds, until replaced
    _note: str | None  # the meta row of a load begun here, until it ends (begin_load)

    def __init__(self, path: str | os.PathLike, durable: bool = True, readonly: bool = False,
                 notify: Callable[[str], None] | None = None, loading: Sequence[str | os.PathLike[str]] = ()):
        """``durable=False`` for a store thrown away after the command: it skips the fsync of every
        commit (a crash of the machine could corrupt it, not lose data). ``loading``: the inputs of
        the load it is opened for, whose note a store made here holds from its making (``begin_load``)."""
        self.path = path = store_path(path, durable, readonly, notify, loading)
        self._file = path if path == ":memory:" else os.path.abspath(path)  # as opened, whatever chdir comes
        self.durable, self.readonly, self._notify = durable, readonly, notify
        if path != ":memory:":
            check_files(path)
        if readonly and path != ":memory:" and not os.path.lexists(path):  # was SQLite's "unable to open ..."
            raise StoreError(f"{path}: no such store")
        if path != ":memory:" and os.path.isfile(path) and not storefile.sqlite_or_unborn(path):
            # refused before SQLite opens it: it wrote a journal planted beside it into it
            raise StoreError(f"{path}: not a usable ccaudit store (file is not a database){_A_DUMP}")
        conn, self._held, self._note, self._inode, self.made = None, None, None, None, None
        try:
            if not readonly and path != ":memory:":
                check_journal_name(path)
                if storefile.needs_creating(path):  # (a killed load's journal is rolled back first, or named)
                    made = loadnotes.begun([os.fspath(i) for i in loading]) if loading and durable else None
                    self.made = made if storefile.create(path, made) else None
                check_folder(path)
            conn = storefile.connect(path, readonly)
            self.conn = conn
            self._inode = None if path == ":memory:" else storelock.opened(path)
            self._held = None if readonly or path == ":memory:" else hold(path, self._inode)
            if storefile.wait_for_writers(conn, path, notify):
                self._notify = None  # said once
            if path != ":memory:" and upgrade.needed(conn, readonly):
                upgrade.upgrade(path, notify)
            check_layout(conn, path)
            self.unfinished = [] if path == ":memory:" else loadnotes.unfinished(
                conn, path, self.made and self.made[0], self._held)
            if path == ":memory:":
                storefile.create_tables(conn)
        except BaseException as e:  # Ctrl-C too: the file's descriptors go with the connection
            said = too_many_files(e)  # (asked before they go)
            if conn is not None:
                self.close()
            if not isinstance(e, sqlite3.DatabaseError):
                raise
            if out_of_space(e):  # creating it, or rolling back a killed load's journal
                raise NoSpace(self._full(e)) from None
            if why := wal_unreadable(path):
                raise StoreError(why) from None
            if said:
                raise StoreError(f"{path}: {said}") from None
            hint = "" if storefile.looks_like_sqlite(path) or not os.path.isfile(path) else _A_DUMP
            raise StoreError(f"{path}: not a usable ccaudit store ({e}){hint}") from None
        self._numbers = Numbering(conn)
        self._pending: dict[tuple[int, str, int], dict[int, list]] = {}  # (day, section, kid) -> counts, see _add
        self._pending_methods: dict[tuple[int, str], dict[int, list]] = {}  # (day, method) -> the same
        self._uncounted: int | None = None  # keys numbered above this have no counts row yet, see _flush
        conn.execute(f"PRAGMA synchronous = {'NORMAL' if durable else 'OFF'}")
        storefile.cached(conn)
        conn.execute("PRAGMA temp_store = MEMORY")  # a load's statement journals; counts.py spills reports' sorts
        if self.made is None:  # else held on to its load's ``holding``: a note of a load held is one running
            self.written()  # made and brought up to date: held again only to write (``holding``)

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Hold the store (``storelock.hold``) while this Store writes it (a load from its note
        to its end), not for its life: a program's Store that only read passed for a load running."""
        if self._held is not None and self.made is None or self.readonly or self.path == ":memory:":
            yield
            return
        if self._held is None:  # (else held since the store was made for this load)
            self._held = hold(self._file, self._inode)
        try:
            yield
        finally:
            self.written()

    def written(self) -> None:
        """This Store writes no more for now: let the store go, as a reader would hold it."""
        storelock.close(self._held)  # between transactions: SQLite holds no lock to drop
        self._held = None

    def read_unfinished(self) -> None:
        """The loads into the store that did not end, read again: a load may have ended one
        (not while a report holds a snapshot, which reading them would end)."""
        if self.durable and not self.conn.in_transaction:  # (a throwaway store has no notes)
            self.unfinished = loadnotes.unfinished(self.conn, self._file, self._note, self._held)

    def __enter__(self) -> Store:
        self._open("with")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        storefile.end_readers(self.conn, storefile.CLOSED)  # its reports' rows: ValueError, as a closed report's
        self.conn.close()
        self.closed = True
        self.__dict__.pop("db", None)  # (its Database would read through the closed connection)
        storelock.released(self._inode, self._held)  # after the connection: see storelock.hold
        self._inode = self._held = None

    def _open(self, where: str) -> sqlite3.Connection:  # (closed: the ValueError build gives)
        of_kind(self, Store, where)
        return self.conn

    @functools.cached_property
    def db(self) -> sqlite_utils.Database:
        """The store as a sqlite-utils Database, for programs' queries (``store.db["counts"]``).
        ccaudit uses ``conn``: importing sqlite-utils costs a report a tenth of a second. Imported
        as it is (numpy and pandas hidden, a program's sqlite-utils took none of their types)."""
        import sqlite_utils

        return sqlite_utils.Database(self._open("Store.db"))

    # -- loading --------------------------------------------------------------------
    def load(self, batches: Iterable[list[tuple]]) -> Iterator[Merged]:
        """Stage and merge batches of rows in this process (the single-process path), yielding what each adds."""
        for batch in batches:
            stage = Stage()
            stage.add(batch)
            with self.writing():
                merged = self.merge(stage.staged())
            yield merged

    def merge_files(self, stages: Iterable[str]) -> Merged:
        """Merge stage files written by parse workers, in order, in one transaction (each commit rewrites
        the key and counts pages it touched: fewer is cheaper), each as soon as ``stages`` gives it, then deleted."""
        total = Merged(0, 0)
        with self.writing():
            for path in stages:
                try:
                    with open(path, "rb") as f:
                        total += self.merge(unpack(f.read()))
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(path)
        return total

    def merge(self, staged: Staged) -> Merged:
        """Add the staged events the store lacks, and their counts (inside a transaction).

        Duplicates are rare, so the events are inserted as they are: the insert fails on
        the first event already stored (rolled back to a savepoint), and only then is each
        one looked up. Plain SQL on ``conn`` (the load's hot path bypasses
        sqlite-utils): its ``insert_all`` of the same rows, with ``ignore=True`` for the
        de-duplication, measured several times slower (benchmarks/test_bench_store.py).
        """
        conn = self.conn
        kids = self._numbers.of("keys", KEY_COLUMNS, staged.keys)
        dids = self._numbers.of("details", DETAIL_COLUMNS, staged.details)
        # A packed id as a bytearray: sqlite3 binds it as it is, but looks for an adapter for bytes.
        events = [(h, i if i.__class__ is str else bytearray(i), us, kids[k], None if d is None else dids[d], c)
                  for h, i, us, k, d, c in staged.events]
        counts = [(q, kids[k], n, first, last) for q, k, n, first, last in staged.counts]
        conn.execute("SAVEPOINT merge")
        try:
            conn.executemany(_INSERT_EVENTS, events)
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK TO merge")
            known = "SELECT 1 FROM events WHERE hour = ? AND id = ?"
            events = [e for e in events if conn.execute(known, e[:2]).fetchone() is None]
            conn.executemany(_INSERT_EVENTS, events)
            counts = tally(events)
        conn.execute("RELEASE merge")
        self._add(counts, dict(zip(kids, staged.keys)))
        return Merged(len(events), staged.offered - len(events))

    def _add(self, counts: list[tuple], key_of: dict[int, tuple]) -> None:
        """Add (quarter, kid, n, first, last) counts of the keys ``key_of`` (kid -> its
        KEY_COLUMNS): their sums to ``quarters`` now, and to the (day, key) rows of
        ``counts`` and (day, method) rows of ``method_counts`` when the transaction ends
        (``_flush``): a load's batches touch the same rows again and again, and each write
        of a row rewrites its packed quarters."""
        totals: dict[int, list]  # quarter -> [n, first, last]
        pending, methods, totals = self._pending, self._pending_methods, {}
        for quarter, kid, n, first, last in counts:
            day = quarter - quarter % DAY
            i = (quarter - day) // QUARTER
            method, _, section, _ = key_of[kid]
            quarters = pending.get((day, section, kid))
            if quarters is None:
                quarters = pending[day, section, kid] = {}
            daycounts.sum_into(quarters, i, n, first, last)
            daycounts.sum_into(methods.setdefault((day, method), {}), i, n, first, last)
            daycounts.sum_into(totals, quarter, n, first, last)
        self.conn.executemany(_UPSERT_QUARTER, [(q, *t) for q, t in totals.items()])
        if len(pending) >= PENDING:
            self._flush()

    def _flush(self) -> None:
        """Write the pending counts, each added to its stored row, and their sums per
        method to ``method_counts``. The stored rows are read a few hundred in a statement
        (one a statement was a fifth of what an append to a store of many principals cost
        more than a load into an empty one). A key numbered after ``_uncounted`` (the last
        key when ``writing`` took the write lock, or at its last flush) has none to read:
        a dump of new keys (a sign-in attack) would otherwise look up a row per key for
        nothing. Outside ``writing`` (None) every row is looked up."""
        pending, self._pending = self._pending, {}
        methods, self._pending_methods = self._pending_methods, {}
        uncounted = self._uncounted
        for part in chunks(sorted(pending.items()), AT_ONCE):  # not every stored row at once: 700 bytes each
            counted = [(k, *k) for k, _ in part if uncounted is None or k[-1] <= uncounted]
            self._write(_PUT_COUNTS, part, dict(looked_up(self.conn, _GET_COUNTS, counted, (0, "", 0))))
        self._write(_PUT_METHOD_COUNTS, sorted(methods.items()),
                    {k: self.conn.execute(_GET_METHOD_COUNTS, k).fetchone() for k in methods})
        if uncounted is not None:
            self._uncounted = self._last_key()

    def _write(self, put: str, pending: list[tuple[tuple, dict[int, list]]], stored: dict[tuple, tuple | None]):
        """Add each pending (key, quarters) row to its ``stored`` one, if any."""
        self.conn.executemany(put, [(*key, *daycounts.added(key[0], q, stored.get(key))) for key, q in pending])

    def refuse_mixing(self, adding: str) -> None:
        """Events and counts without events (``ccaudit spark``'s) are never in one store."""
        countsonly.refuse_mixing(self.conn, self.path, adding, self._held)

    def claim_for_counts(self) -> None:
        """Mark the store as a Spark run's before its minutes of Spark (``countsonly``)."""
        storelock.hold_for_spark(self._held)  # (spark.run holds the store: a load sees the run's hold)
        with self._transaction("counts"):
            countsonly.claim(self.conn)

    def _last_key(self) -> int:
        return self.conn.execute("SELECT coalesce(max(kid), 0) FROM keys").fetchone()[0]

    def add_counts(self, rows: Iterable[tuple]) -> None:
        """Add counts made elsewhere (``ccaudit spark``): (quarter start, section, key,
        method, principal, n, first µs, last µs). The store then holds counts only."""
        with self.writing(adding="counts"):
            countsonly.claim(self.conn)
            self.conn.execute(f"DELETE FROM meta WHERE {loadnotes.WHERE}")  # a load that left no event (or this
            self.made = None  # run's store's own note): no load can complete it in a store of counts
            for batch in chunks(rows, 10_000):
                keys = [(r[3], r[4], r[1], r[2]) for r in batch]
                kids = self._numbers.of("keys", KEY_COLUMNS, keys)
                self._add([(r[0], kid, *r[5:]) for r, kid in zip(batch, kids)], dict(zip(kids, keys)))

    @contextlib.contextmanager
    def writing(self, adding: str = "events") -> Iterator[None]:
        """One write transaction; a full disk rolls it back and is NoSpace, naming the store.
        Numbers given out in a transaction rolled back are forgotten."""
        with self.holding(), self._transaction(adding):
            yield

    @contextlib.contextmanager
    def _transaction(self, adding: str) -> Iterator[None]:
        conn = self.conn
        storefile.end_readers(conn)  # a report of this Store: it would read on from both states
        waits = conn.execute("PRAGMA busy_timeout").fetchone()[0]
        try:
            with conn:
                if not conn.in_transaction:  # a SAVEPOINT must not start (and end) its own
                    if storefile.wait_for_writers(conn, self.path, self._notify, "BEGIN IMMEDIATE"):
                        self._notify = None  # said once: two loads at once take turns
                # Pages that outgrow the cache are written before the commit, which takes every
                # reader gone: SQLite would wait for that in C, deaf to Ctrl-C (a report paged by
                # less held a load for hours). Without a wait, a page it cannot write stays in memory.
                conn.execute("PRAGMA busy_timeout = 0")
                self._uncounted = self._last_key()  # another process may have added keys meanwhile
                self.refuse_mixing(adding)
                yield
                self._flush()
                if storefile.wait_for_writers(conn, self.path, self._notify, "COMMIT",
                                              "another process is reading the store"):
                    self._notify = None  # the commit waits for readers to end their snapshots
        except BaseException as e:
            self._numbers.forget()
            self._pending.clear()
            self._pending_methods.clear()
            if not isinstance(e, sqlite3.OperationalError):
                raise
            if self._held is not None and storefile.file_id(self._file) != storelock.key_of(self._held):  # rm, mv
                raise StoreError(f"{self.path}: the store was moved, deleted or replaced while this command wrote it; "
                                 "what it loaded went with the file") from None
            if out_of_space(e):  # counts are written in one transaction: nothing of them is kept
                raise NoSpace(self._full(e, kept="" if adding == "counts" else _KEPT)) from None
            if "readonly" in str(e):
                raise StoreError(f"{self.path}: the store is read-only here; cannot load into it") from None
            raise
        finally:
            self._uncounted = None
            conn.execute(f"PRAGMA busy_timeout = {waits}")

    def _full(self, e: sqlite3.Error, kept: str = "") -> str:
        if self.durable:
            return f"{self.path}: cannot write the store: no space left, or an I/O error ({e}){kept}"
        return (f"{os.path.dirname(self.path)}: no space left for the temporary store, or an I/O error ({e}) "
                "(set TMPDIR to a folder with room, or keep a store elsewhere with --db)")

    def begin_load(self, inputs: list[str]) -> str:
        """Note in the store that a load of ``inputs`` has begun, until ``end_load``: one killed, or stopped by
        a full disk, leaves part of its records, a report of which would look whole (``unfinished``)."""
        (name, value), made, self.made = loadnotes.begun(inputs), self.made, None
        with self.writing():  # in place of the note the store was made with, if it was (a kill between them
            self.conn.execute("DELETE FROM meta WHERE name = ?", (made and made[0],))  # left it empty)
            self.conn.execute("INSERT INTO meta (name, value) VALUES (?, ?)", (name, value))
        self._note, self._begun = name, value
        return name

    def load_failed(self) -> None:
        """This Store's load raised (Ctrl-C, a program's callback): one more that did not end,
        told without reading the store (its lock may be another's by now)."""
        if self._note is not None:
            self.unfinished, self._note = [*self.unfinished, loadnotes.shown(self._begun)], None

    def end_load(self, name: str, whole: dict[str, int | None]) -> None:
        """The load noted as ``name`` has ended, having read the files ``whole`` as far as they
        go (``loadnotes.identity``: the size read): its note goes, and so do those it has completed."""
        with self.writing():
            done = loadnotes.completed(self.conn.execute(loadnotes.NOTES).fetchall(), name, whole)
            self.conn.executemany("DELETE FROM meta WHERE name = ?", [(note,) for note in done])
        self._note = None  # ended: a stop after this is not the load's (load_failed)

    # -- reading --------------------------------------------------------------------

    def counts_only(self) -> bool:
        """Built by ``ccaudit spark``: counts, no events."""
        return countsonly.counts_only(self._open("Store.counts_only"))

    def event_count(self) -> int:
        return self._open("Store.event_count").execute("SELECT coalesce(sum(n), 0) FROM quarters").fetchone()[0]

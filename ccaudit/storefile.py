"""The store's file: recognising one, creating it safely, opening it for reading or
writing, and deleting it. ``store.py`` holds what is done with it once open.

Reading commands open the file read-only, so a store on read-only media, on a full
disk or being written by a load can always be read: a reader sees the last committed
state, and waits (after saying so) while a writer commits. Creating a store is one
write transaction (DDL is transactional in SQLite): two loads that create it at once,
or a crash while it is made, leave a whole store or an empty one a later run recovers.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

from . import daycounts
from .errors import StoreError, cannot_roll_back, too_many_files
from .folders import FILE_MODE
from .schema import LAYOUT_VERSION, TABLES, VIEWS
from .sidefiles import JOURNAL_MAGIC, wal_unreadable
from .storelock import read_head
from .streams import SQLITE_MAGIC

PAGE_SIZE = 65536  # large pages: a bulk load touches fewer of them (measured ~10 % faster)
CACHE_KIB = 8_000  # each connection's page cache


EVERY_LAYOUT = {"all_events", "auth_events", "signin_failures", "signin_successes"}  # tables, then views


def is_store(path: str) -> bool:
    """Did a ccaudit make ``path``: a layout version, and the old tool's four tables or views?"""
    try:
        with peek(path) as conn:
            return conn.execute("PRAGMA user_version").fetchone()[0] > 0 and EVERY_LAYOUT <= tables(conn)
    except sqlite3.DatabaseError as e:
        if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
            raise StoreError(f"{path}: locked by another program writing it; nothing deleted") from None
        if why := wal_unreadable(path):
            raise StoreError(f"{why}; nothing deleted") from None
        if "malformed" in str(e):  # was "not a ccaudit store", of a store cut short or damaged
            raise StoreError(f"{path}: a damaged SQLite file ({e}), which clean cannot tell for a ccaudit "
                             "store; nothing deleted") from None
        return False


def looks_like_sqlite(path: str) -> bool:
    """An SQLite file by its first bytes (a ccaudit store, or a mistake the Store names)."""
    return path != "-" and os.path.isfile(path) and read_head(path, 16) == SQLITE_MAGIC


# -- opening and creating -------------------------------------------------------------------

BUSY_WAIT = 24 * 3600  # seconds a reader or writer waits for another process's lock
BUSY_POLL = 0.2  # seconds of each turn of that wait (see patiently)


def connect(path: str, readonly: bool) -> sqlite3.Connection:
    if readonly:
        roll_back_if_crashed(path)
        conn = sqlite3.connect(_read_only(path), uri=True, timeout=BUSY_WAIT)
    else:
        conn = sqlite3.connect(uri(path), uri=True, timeout=BUSY_WAIT)
        conn.isolation_level = "IMMEDIATE"  # take the write lock first: two writers never deadlock
    daycounts.register(conn)
    return conn


def _hot_journal(path: str) -> bool:
    """A journal beside the store, where SQLite keeps it: beside the file a link leads to.
    Only beside an SQLite file (or one a killed creation left): SQLite writes what a
    journal holds into the file beside it, and one planted beside a user's notes made them
    an SQLite file (which clean then deleted as a store). And only a journal by its header,
    as SQLite reads one: beside an empty file, a user's own file of that name was deleted
    with it as the journal of a killed creation."""
    real = os.path.realpath(path)
    try:
        fd = os.open(real + "-journal", os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)  # a FIFO: no wait
    except OSError:
        return False
    try:
        journal = stat.S_ISREG(os.fstat(fd).st_mode) and os.read(fd, 8) == JOURNAL_MAGIC
    finally:
        os.close(fd)
    return journal and sqlite_or_unborn(real)


def sqlite_or_unborn(path: str) -> bool:
    """An SQLite file, or an empty one, or one whose creation was killed before its first
    page was written (zeros where SQLite's header goes): one SQLite may open and roll back.
    One that cannot be read is left to SQLite, whose words are then said."""
    return read_head(path, 16) in (SQLITE_MAGIC, bytes(16), b"", None)


def reader(path: str) -> sqlite3.Connection:
    """A read-only connection that never waits for a lock: a forked child's, reading the
    snapshot that its parent's read transaction holds (halves.py)."""
    conn = sqlite3.connect(_read_only(path), uri=True, timeout=0)
    daycounts.register(conn)
    return cached(conn)


def cached(conn: sqlite3.Connection) -> sqlite3.Connection:
    """``conn`` with a page cache of 8 MB. With SQLite's 2 MB (31 of the store's pages), a large
    report's second process (halves.py) read each counts page of a zone's html six times."""
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    return conn


def snapshot(conn: sqlite3.Connection) -> list:
    """One snapshot for every query a reader makes (a load committing meanwhile waits until
    the last reader ends it: ``end_snapshot``), its large sorts spilled to TMPDIR
    (``errors.spilling``): in memory they grew with the data. Gives [the count of readers
    that share it, to give back to ``end_snapshot``; what ended it, if ``end_readers`` did;
    the file and thread it holds, for ``_refuse_waiting_for_this_thread``]."""
    if not conn.in_transaction:
        conn.execute("PRAGMA temp_store = FILE")
        conn.execute("BEGIN")
        name = conn.execute("SELECT CAST(file AS BLOB) FROM pragma_database_list WHERE seq = 0").fetchone()[0]
        where = file_id(name), threading.get_ident()  # (the name as bytes: it may not be UTF-8)
        _SHARED[id(conn)] = [0, None, where]  # (a connection closed with readers left had its id's count)
    if (shared := _SHARED.get(id(conn))) is None:  # a program's own transaction: read in it, never ended here
        return [1, None]
    shared[0] += 1
    return shared


def end_snapshot(conn: sqlite3.Connection, shared: list) -> None:
    """One reader of ``conn``'s snapshot is done: the last ends it."""
    shared[0] -= 1
    if shared[0] <= 0 and _SHARED.get(id(conn)) is shared:  # (not if that snapshot ended already)
        del _SHARED[id(conn)]
        with contextlib.suppress(sqlite3.ProgrammingError):  # the store closed already
            if conn.in_transaction:
                conn.rollback()


_SHARED: dict[int, list] = {}  # id(connection) -> the readers of its snapshot
FIRST_READ = "SELECT count(*) FROM sqlite_master"


def ending_when_dropped(reader: object, conn: sqlite3.Connection, shared: list) -> weakref.finalize:
    """``end_snapshot`` for a ``reader`` dropped without ending its share (a report never
    closed kept every later load waiting); ``detach`` it when the reader ends it. Only in
    the process and thread that began it: a forked child's copy, or a collection run by
    another thread, must not touch the connection."""
    ending = weakref.finalize(reader, _end_owned, conn, shared, (os.getpid(), threading.get_ident()))
    ending.atexit = False
    return ending


def _end_owned(conn: sqlite3.Connection, shared: list, owner: tuple[int, int]) -> None:
    if (os.getpid(), threading.get_ident()) == owner:
        end_snapshot(conn, shared)


@contextlib.contextmanager
def one_snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """``snapshot`` for the length of a block (left held, it kept the store's loads waiting)."""
    shared = snapshot(conn)
    try:
        yield
    finally:
        end_snapshot(conn, shared)


def end_readers(conn: sqlite3.Connection, why: Ended | None = None) -> None:
    """A write through ``conn`` is to begin, or it is to close: end its readers' snapshot,
    and tell them (their count goes below 0, and ``why``, WRITTEN by default, is what they
    read through). Committed with the write, it let a report read on from both states."""
    shared = _SHARED.pop(id(conn), None)
    if shared is not None:
        shared[0], shared[1] = -(2**62), why or WRITTEN
        if conn.in_transaction:
            conn.rollback()


class Ended:
    """An ended reader's connection: reading on would mix two states of the store."""

    def __init__(self, why: str = "Report.close"):
        self.why, self.in_transaction = why, False

    def execute(self, *args: object) -> NoReturn:
        raise ValueError(f"the report is closed ({self.why}): its rows can no longer be read")


WRITTEN = Ended("a load through its Store ended its snapshot; build it again")
CLOSED = Ended("its Store was closed")


def file_id(path: str | bytes) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``: whether it is still the file once opened."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def roll_back_if_crashed(path: str) -> bool:
    """A load killed in a transaction leaves a journal that a read-only connection
    cannot roll back: the first read-write reader does it (SQLite does this on any read;
    a journal that a running load still holds is not touched). One who may not write the
    folder cannot either: StoreError. Whether there was a journal."""
    if not _hot_journal(path):
        return False
    try:
        with contextlib.closing(sqlite3.connect(uri(path), uri=True, timeout=0.1)) as conn:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as e:  # locked: a live writer's journal, not hot
        journal = os.path.realpath(path) + "-journal"  # (rolled back, it cannot be deleted: SQLITE_IOERR_DELETE)
        if cannot_roll_back(e) or "locked" not in str(e) and not os.access(os.path.dirname(journal), os.W_OK):
            raise StoreError(f"{path}: a load into it was stopped part way, and its journal ({journal}) must be "
                             f"rolled back first, by a user who may write both and their folder") from None
    except OSError:
        pass
    return True


def wait_for_writers(conn: sqlite3.Connection, path: str, notify: Callable[[str], None] | None,
                     sql: str = FIRST_READ, who: str = "another process is writing the store"
                     ) -> bool:
    """Run ``sql`` (by default, a first read); if another process's lock stops it, say so
    (``who`` holds it), then wait for the lock and run it. Whether it waited."""
    try:
        patiently(conn, sql, BUSY_POLL)
        return False
    except sqlite3.OperationalError as e:
        if "locked" not in str(e):
            raise
        if sql != FIRST_READ:
            _refuse_waiting_for_this_thread(conn, path)
        if notify:
            notify(f"{path}: {who}; waiting for it")
    try:
        patiently(conn, sql)
    except sqlite3.OperationalError as e:  # the writer waited for was killed mid-commit, and left
        if not cannot_roll_back(e) or not roll_back_if_crashed(path):  # a journal a read-only
            raise  # connection cannot roll back
        conn.execute(sql).fetchall()
    return True


def _refuse_waiting_for_this_thread(conn: sqlite3.Connection, path: str) -> None:
    """A write that must wait (at its commit, in a rollback journal) while a report of this
    thread reads the store through another connection (another ``Store`` of the file) would
    wait for ever: that report cannot end while its thread waits."""
    here = file_id(path), threading.get_ident()
    if here[0] is not None and any(key != id(conn) and shared[2:] == [here] for key, shared in _SHARED.items()):
        raise StoreError(f"{path}: a report of another Store of the file, in this thread, holds the store, and a "
                         "load would wait for it for ever; close the report first (or load through its Store)")


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection, path: str, notify: Callable[[str], None] | None) -> Iterator[None]:
    """A write transaction on ``conn`` (in autocommit mode), committed if its block ends, rolled
    back if it raises. Its waits, for another process's write lock and at the commit for readers,
    are told and stopped by a signal (``wait_for_writers``); pages that outgrow the cache meanwhile
    wait for no reader (SQLite would, in C: a report paged by ``less`` held it for hours)."""
    wait_for_writers(conn, path, notify, "BEGIN IMMEDIATE")
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        yield
        wait_for_writers(conn, path, notify, "COMMIT", "another process is reading the store")
    finally:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # (the error that left it is the one to tell)
                conn.execute("ROLLBACK")


def patiently(conn: sqlite3.Connection, sql: str, seconds: float = BUSY_WAIT) -> list:
    """``sql``'s rows, waiting up to ``seconds`` for other processes' locks, a turn of
    BUSY_POLL at a time: SQLite's own wait sleeps in C, where a Ctrl-C is not seen until
    the lock comes, which may be hours away. The connection's own wait is kept for later."""
    deadline = time.monotonic() + seconds
    kept = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_POLL * 1000)}")
    try:
        while True:
            try:
                return conn.execute(sql).fetchall()
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    raise
    finally:
        conn.execute(f"PRAGMA busy_timeout = {kept}")


def create_tables(conn: sqlite3.Connection) -> None:
    """The tables, the views and the layout version (raw DDL: see schema.TABLES)."""
    for sql in TABLES.values():
        conn.execute(sql)
    for name, sql in VIEWS.items():
        conn.execute(f"CREATE VIEW {name} AS {sql}")
    conn.execute(f"PRAGMA user_version = {LAYOUT_VERSION}")


def needs_creating(path: str) -> bool:
    """No store at ``path`` yet, or one a crash left as it was made (an empty file, or an
    SQLite file of no tables): a store is made in one transaction, so an SQLite file
    with tables but no layout version is another program's, whatever their names."""
    if not os.path.exists(path):
        return True
    roll_back_if_crashed(path)  # a creation killed while it committed: undo it first
    if os.path.getsize(path) == 0:
        return True
    if not looks_like_sqlite(path):
        return False
    try:
        with peek(path) as conn:
            return conn.execute("PRAGMA user_version").fetchone()[0] == 0 and not tables(conn)
    except sqlite3.DatabaseError:
        return False


def uri(path: str) -> str:
    """The URI that opens the file at ``path``, for ``connect(..., uri=True)``. A path is not
    one: SQLite reads a name that starts with ``file:`` as a URI (a build option of most
    distributions' SQLite), and '?' and '#' in it as a URI's parts. ``:memory:`` stays itself."""
    return path if path == ":memory:" else Path(path).resolve().as_uri()


def _read_only(path: str) -> str:
    return f"{Path(path).resolve().as_uri()}?mode=ro"  # (not ``uri``: ":memory:?mode=ro" would be a file)


def peek(path: str) -> contextlib.closing[sqlite3.Connection]:
    """A short read-only look at an SQLite file, closed afterwards. Another program's lock
    is waited for a turn (BUSY_POLL), not sqlite3's 5 s, silent and deaf to Ctrl-C."""
    return contextlib.closing(sqlite3.connect(_read_only(path), uri=True, timeout=BUSY_POLL))


def tables(conn: sqlite3.Connection) -> set[str]:
    """Names of the tables and views (``all_events`` is a table in old layouts, a view now)."""
    return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}


def create(path: str, note: tuple[str, str] | None = None) -> bool:
    """Make the store's tables in one write transaction: DDL is transactional in SQLite,
    so two processes creating the store at once see all of it or none, and a crash
    leaves nothing a later run cannot recover (see needs_creating). Owner-only, and never
    made through a link (one could lead anywhere). ``note``: the (name, value) row of
    ``meta`` of the load the store is made for, made with it; whether it was."""
    if os.path.islink(path):  # (an empty file: a store made through a link could be made anywhere)
        real = f": give its real path ({os.path.realpath(path)})" if os.path.exists(path) else ""
        raise StoreError(f"{path}: is a symbolic link to no store yet, and ccaudit makes none through a link{real}")
    made = False
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, FILE_MODE))
        made = True
    except FileExistsError:
        pass
    except OSError as e:  # a name too long, a folder missing or read-only, ...
        raise StoreError(f"{path}: cannot create the store: {e.strerror}") from None
    if os.path.getsize(path) == 0:  # new, or an empty file made by someone else (say, touch)
        try:
            os.chmod(path, FILE_MODE)
        except OSError as e:  # another user's file: the store would not be ours to keep private
            if made:  # (or a file system without modes): leave nothing behind
                os.remove(path)
            raise StoreError(f"{path}: cannot make the store owner-only: {e.strerror}") from None
    conn = sqlite3.connect(uri(path), uri=True, timeout=BUSY_WAIT, isolation_level=None)
    try:
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # applies to a new file only
        conn.execute("PRAGMA temp_store = MEMORY")  # its statement journals: a full TMPDIR was the store's "disk full"
        patiently(conn, "BEGIN IMMEDIATE")  # another load creating it
        made = conn.execute("PRAGMA user_version").fetchone()[0] == 0  # else: made meanwhile
        if made:
            create_tables(conn)
            if note:
                conn.execute("INSERT INTO meta (name, value) VALUES (?, ?)", note)
        conn.execute("COMMIT")
    except sqlite3.DatabaseError as e:  # (its journal could not be opened: asked before the connection goes)
        if said := too_many_files(e):
            raise StoreError(f"{path}: {said}") from None
        raise
    finally:
        conn.close()
    return made and note is not None

"""Deleting a store: ``clean --db``, and the store a failed ``ccaudit spark`` made; or only
its notes of loads that did not end (``clean --db --unfinished``). What is deleted must be a
ccaudit store's, and no command may be writing the store."""
from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable

from . import loadnotes, upgrade
from .errors import StoreError
from .files import present
from .sidefiles import check_journal_name, check_length, check_side_files, in_wal_mode
from .storefile import BUSY_WAIT, is_store, peek, roll_back_if_crashed, uri, write_transaction
from .storelock import unheld
from .storeshape import check_layout


def deletable(path: str, deleting: bool = True) -> bool:
    """Whether there is a store at ``path`` to delete (or, not ``deleting``, to write while
    other programs wait their turns); StoreError if what is there is not one. A link is
    refused, not followed: it could lead anywhere."""
    if not present(path):
        if (own := os.path.normpath(path)) != path and present(own):  # was "no store at s.db/", exit 0, the store kept
            raise StoreError(f"{path}: no store by that name (a folder's), but {own} is one: give its own name; "
                             "nothing deleted")
        return False
    if os.path.islink(path):
        if not os.path.exists(path):  # (realpath gives a loop's own name)
            raise StoreError(f"{path}: a symbolic link to no file (or one that loops), which clean does not "
                             "follow; nothing deleted")
        raise StoreError(f"{path}: a symbolic link, which clean does not follow; give the store's own path "
                         f"({os.path.realpath(path)}); nothing deleted")
    if not os.path.isfile(path):  # a FIFO: SQLite's open of it waited for ever
        raise StoreError(f"{path}: is not a regular file, not a store; nothing deleted")
    check_side_files(path)
    check_length(path)  # (SQLite cannot look into it)
    with unheld(path, deleting):  # asked before anything is deleted, and again as it is
        pass
    # a killed load's journal, which a read-only look cannot see past; or its store's creation's
    if roll_back_if_crashed(path) and os.path.getsize(path) == 0:  # (killed before it committed)
        return True
    if not is_store(path):
        raise StoreError(f"{path}: not a ccaudit store; nothing deleted")
    return True


def fingerprint(path: str) -> tuple[int, ...]:
    """Which file ``path`` is, and as what: its device, inode, size and change time."""
    st = os.lstat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def delete_store(path: str, unused: bool = False, asked: tuple[int, ...] | None = None) -> bool:
    """Delete the store at ``path`` (found ``deletable``) and its journal files, unless a
    command writing it holds it (``hold``); with ``unused``, only if it holds no rows: a
    store made for a run that failed, which another command may have filled meanwhile;
    with ``asked``, only if it is still the file of that ``fingerprint`` (a question waited
    while it was replaced: a text file put there was deleted). Whether it was deleted."""
    with unheld(path):
        if unused and not _unused(path):
            return False
        if asked and (not present(path) or fingerprint(path) != asked):
            raise StoreError(f"{path}: changed while the question waited; nothing deleted")
        wal = (path + "-wal", path + "-shm") if in_wal_mode(path) else ()  # else not SQLite's files for it
        for name in (path, path + "-journal", *wal):
            try:
                os.remove(name)
            except FileNotFoundError:
                pass
            except OSError as e:  # read-only media, an immutable file
                raise StoreError(f"{name}: cannot delete it: {e.strerror}") from None
    return True


def _unused(path: str) -> bool:
    """No events, counts or keys in the store (an unreadable one is not known to be unused)."""
    try:
        with peek(path) as conn:
            return not conn.execute("SELECT EXISTS (SELECT 1 FROM keys) OR EXISTS (SELECT 1 FROM quarters)"
                                    " OR EXISTS (SELECT 1 FROM method_counts)").fetchone()[0]
    except sqlite3.Error:
        return False


def check_store_there(path: str) -> None:
    """StoreError unless a ccaudit store is at ``path`` (not an empty file a killed creation left)."""
    if not deletable(path, deleting=False) or not is_store(path):
        raise StoreError(f"{path}: no ccaudit store there; nothing deleted")


def forget_unfinished(path: str, notify: Callable[[str], None] | None = None) -> int:
    """Delete the store's notes of loads that did not end (``loadnotes``), whose dumps cannot
    be loaded again (deleted since): their warnings, and ``check --strict``'s failure, would
    stay for good. How many there were. Refused while a command writes the store, and no
    command starts to meanwhile (``unheld``): a running load's note must stay. A store of
    an earlier layout is brought forward first, as any command's opening of it does."""
    check_store_there(path)
    with unheld(path, deleting=False), \
            contextlib.closing(sqlite3.connect(uri(path), uri=True, timeout=BUSY_WAIT)) as conn:
        if upgrade.needed(conn, readonly=True):
            upgrade.upgrade(path, notify)
        check_layout(conn, path)  # a newer ccaudit's store was written to, an older one's was "could not be read"
        try:
            if not conn.execute(f"SELECT EXISTS (SELECT 1 FROM meta WHERE {loadnotes.WHERE})").fetchone()[0]:
                return 0  # nothing to write: on read-only media, was "attempt to write a readonly database"
            check_journal_name(path)
            conn.isolation_level = None  # its transaction is write_transaction's
            with write_transaction(conn, path, notify):
                return conn.execute(f"DELETE FROM meta WHERE {loadnotes.WHERE}").rowcount
        except sqlite3.Error as e:  # read-only (the file, its folder, the medium), a full disk
            raise StoreError(f"{path}: cannot forget its unfinished loads: {e}") from None

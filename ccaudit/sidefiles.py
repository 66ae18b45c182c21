"""The files SQLite keeps beside a store, which anyone who may write its folder can plant
under their names: its rollback journal, and a write-ahead log if another program set the
store to keep one (ccaudit never does). What SQLite did not write there is refused as the
store is opened: SQLite would wait on it, blame the store, or delete it."""
from __future__ import annotations

import contextlib
import math
import os
import shlex
import stat

from .errors import StoreError
from .folders import folder_of
from .storelock import read_head

JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")  # a rollback journal's first bytes
SQLITE_PATH = 512  # bytes of a full path SQLite takes, a journal's too


SIDE_ENDS = ("-journal", "-wal", "-shm")  # what SQLite adds to a store's name for its journal, log and its index


def side_names(path: str) -> list[str]:
    """Where SQLite keeps the store's journals, beside the file a link leads to."""
    return [os.path.realpath(path) + end for end in SIDE_ENDS]


def check_folder(path: str) -> None:
    """A store written keeps its journal in its folder: in one the user may not write,
    the load failed as it committed, and a journal a killed load had left there (whose
    file it could write) stayed hot, so that the store could no longer be read."""
    folder = os.path.dirname(os.path.realpath(path))
    if not os.access(folder, os.W_OK):
        raise StoreError(f"{path}: cannot load into it: its folder {folder} is read-only for you, and a load "
                         "keeps its journal there")


def check_journal_name(path: str) -> None:
    """Refuse to write a store whose journal's name its file system would not take (a name
    of 248 bytes or more): SQLite failed only as it wrote, after making an empty file, and
    called the store unusable. Or a store of more than one name (hard links: ``ln``, ``cp
    -al``): the journal is named after one, so a write through another did not see the
    journal a load killed through the first had left, and the next open of the first rolled
    that journal back over the later write: the store was destroyed. Or a new store under the
    name SQLite gives another's journal or log (``--db audit.db-journal``): ``audit.db`` was
    then refused for it, as a file planted there."""
    if (end := next((e for e in SIDE_ENDS if os.path.basename(path).endswith(e)), None)) and not os.path.lexists(path):
        raise StoreError(f"{path}: SQLite keeps a store's journal or log under such a name (-journal, -wal, -shm): a "
                         f"store made here would block one named {path[:-len(end)]}; give another name")
    with contextlib.suppress(OSError):  # (no file yet)
        if (names := os.stat(path).st_nlink) > 1:
            raise StoreError(f"{path}: the store has {names} names (hard links), and SQLite keeps a write's journal "
                             "beside one only, so that a write through another (a load, or bringing an old store "
                             "forward) could destroy it: copy it to a file of its own (cp), and use that")
    real = os.path.realpath(path)
    journal = os.path.basename(real) + "-journal"
    most = math.inf
    with contextlib.suppress(OSError, ValueError):
        most = os.pathconf(folder_of(real), "PC_NAME_MAX")
    size = len(os.fsencode(journal))
    if size > most >= size - len("-journal"):  # (a name too long itself is said as the store is made)
        raise StoreError(f"{path}: a name too long to write the store: SQLite keeps its journal beside it, "
                         f"as {journal[:20]}…-journal, which is over the {most} bytes a name may have here; "
                         "give a shorter name")


def too_long_for_sqlite(path: str) -> int | None:
    """The bytes of ``path``'s real path, the one SQLite is given (``storefile.uri``), if its
    journal's is over the 512 that SQLite's unix VFS takes (``mxPathname``): SQLite said
    only "unable to open database file"."""
    size = len(os.fsencode(os.path.realpath(path)))
    return size if size + len("-journal") > SQLITE_PATH else None


def check_length(path: str) -> None:
    """Refuse a store SQLite cannot open for the length of its path: it was called no store
    (and, made for a load, left as an empty file)."""
    if size := too_long_for_sqlite(path):
        raise StoreError(f"{path}: a path too long for SQLite, {size:,} bytes in full (links followed), where it takes "
                         f"{SQLITE_PATH - len('-journal')} for a store (its journal's is 8 more): give a shorter path")


def check_files(path: str) -> None:
    """Refuse a store that is no file, or beside which its journal's or log's name is taken."""
    check_length(path)
    if os.path.isdir(path):
        raise StoreError(f"{path}: is a directory, not a store")
    if os.path.exists(path) and not os.path.isfile(path):  # a FIFO would block the open
        raise StoreError(f"{path}: is not a regular file, not a store")
    check_side_files(path)


def check_side_files(path: str) -> None:
    """Refuse a store beside which something SQLite did not write takes the name of its
    journal or of a write-ahead log."""
    check_journal(path)
    check_wal(path)


def check_journal(path: str) -> None:
    """Refuse a store whose journal's name is taken by something SQLite cannot use: every
    command waited for ever on a FIFO there (which anyone who may write the folder, /tmp
    say, can make), and a folder or link made SQLite's errors blame the disk or the store."""
    journal = os.path.realpath(path) + "-journal"
    try:
        mode = os.lstat(journal).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        kind = ("a symbolic link" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode)
                else "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "not a regular file")
    elif not _journal_or_unwritten(journal):
        kind = "a file that is not a journal"
    else:
        return
    raise StoreError(f"{path}: {journal}, where SQLite keeps the store's journal, is {kind}; remove it "
                     "(a load makes its own)")


def _journal_or_unwritten(journal: str) -> bool:
    """Whether SQLite wrote the file: a journal's magic, or, until a transaction syncs it,
    zeros. Another file there (a user's notes) SQLite took for a journal to roll back: a
    reading command called the store unusable, and a load deleted the file."""
    with contextlib.suppress(OSError):
        fd = os.open(journal, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            head = os.read(fd, 8)
        finally:
            os.close(fd)
        return head[:1] in (b"", b"\0") or head == JOURNAL_MAGIC
    return True


def check_wal(path: str) -> None:
    """Refuse a write-ahead log beside a store that keeps none: SQLite opens any store with
    one beside it as keeping one, and a load deleted a user's file of that name."""
    wal = os.path.realpath(path) + "-wal"
    if os.path.lexists(wal) and not in_wal_mode(path):
        raise StoreError(f"{path}: {wal}, where SQLite would keep a write-ahead log, is there though the store "
                         "keeps none; remove it")


def wal_unreadable(path: str) -> str | None:
    """Why SQLite cannot open the store, if it keeps a write-ahead log and its folder is
    read-only for this user: to read one, SQLite makes its index (``STORE-shm``) beside it."""
    real = os.path.realpath(path)
    if not in_wal_mode(path) or os.path.exists(real + "-shm") or os.access(folder_of(real), os.W_OK | os.X_OK):
        return None
    return (f"{path}: a store that keeps a write-ahead log (another program's setting), in a folder you cannot "
            f"write: SQLite reads it only by making {os.path.basename(real)}-shm beside it; copy it to a folder "
            f"you can write, or have its owner end the log: sqlite3 {shlex.quote(path)} 'PRAGMA journal_mode = DELETE'")


def in_wal_mode(path: str) -> bool:
    """Whether the store's header says it keeps a write-ahead log (``STORE-wal``, and its
    index ``STORE-shm``): another program's setting."""
    return (read_head(path, 20) or b"")[18:19] == b"\x02"  # the file format's write version: 2 for WAL

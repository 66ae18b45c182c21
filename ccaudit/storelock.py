"""Which commands hold a store: one writing it holds a lock on a byte of the file, so that
``clean`` does not delete it under them, and readers can tell a load's note in the store
from that of a load that was killed (``writer_holds``).

Closing any descriptor of a file drops every POSIX lock the process holds on it, which are
SQLite's. A second ``Store`` of the file in one process (a program's thread, say) read its
header, held it and let go, and so dropped the first one's locks: another process's commit
went through under a report's snapshot, or was lost to a load's transaction. SQLite defers
closing its own descriptors while it may hold locks; ccaudit does so with its own
(``close``): while a Store of the process has the file open (``opened``), a descriptor of it
is parked, to be taken again by the next that needs one (``descriptor``: so they never pile
up), and closed with the last Store (``released``)."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import struct
import sys
import threading
from collections.abc import Iterator

from .errors import StoreError


def hold(path: str, key: tuple[int, int] | None) -> int | None:
    """A descriptor holding a shared lock (``_mark``) on the store while a command writes it,
    so that ``delete_store`` refuses it: SQLite goes on writing a deleted file, and the load
    would end with its data gone. ``key``: the file the command opened (``opened``), which
    must still be there. Close it with ``close``: closing any descriptor of a file drops the
    process's POSIX locks on it, which are SQLite's."""
    try:
        fd = descriptor(path)
    except FileNotFoundError:
        fd = None
    except OSError:
        return None
    if fd is not None:
        with contextlib.suppress(OSError):  # a file system without locks (ENOLCK) still takes the load
            _mark(fd, fcntl.F_RDLCK, wait=True)  # waits only while a clean deletes it
        if os.fstat(fd).st_nlink and key_of(fd) == key:
            return fd
        close(fd)
    raise StoreError(f"{path}: the store was moved, deleted or replaced since this command opened it (by ccaudit "
                     "clean?)")


@contextlib.contextmanager
def unheld(path: str, deleting: bool = True) -> Iterator[None]:
    """Hold ``path`` alone while it is deleted; StoreError if a command writing it holds it,
    or (``deleting``) another program's write transaction: a write that waits its turn does not."""
    flags = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, os.O_RDWR | flags)  # a lock for one's self alone needs write access
    except OSError:
        try:
            fd = os.open(path, os.O_RDONLY | flags)
        except OSError:
            yield  # gone, or not ours to open: deleting it says why
            return
    try:
        try:
            _mark(fd, fcntl.F_WRLCK, wait=False)
        except OSError as e:  # held; or a file system without locks, or a file opened read-only (EBADF)
            if e.errno in (errno.EAGAIN, errno.EACCES) or writer_holds(fd):  # (another user's load)
                raise StoreError(f"{path}: a ccaudit command is writing this store now; nothing deleted (run "
                                 "clean when it ends)") from None
        if deleting and sqlite_writes(path, fd):
            raise StoreError(f"{path}: locked by another program writing it; nothing deleted")
        yield
    finally:
        os.close(fd)


RESERVED = 0x40000001  # SQLite's lock byte that a write transaction holds (a rollback journal's)
WAL_WRITE = 120  # in a WAL store's -shm file, the byte of its writer's lock


def sqlite_writes(path: str, fd: int) -> bool:
    """Does another process hold SQLite's write lock on the store at ``path`` (open as
    ``fd``): another program's open write transaction, which SQLite's own reads let through
    (a store deleted under it takes what it writes)."""
    if _locked(fd, RESERVED):
        return True
    try:
        shm = os.open(path + "-shm", os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return _locked(shm, WAL_WRITE)
    finally:
        os.close(shm)  # (this process holds no lock of it: no Store of the file is open)


def _locked(fd: int, byte: int, ask: int = fcntl.F_GETLK) -> bool:
    """Does another process (``F_GETLK``), or another descriptor's lock (``F_OFD_GETLK``),
    hold ``byte`` of ``fd``'s file? (Linux's ``struct flock``; elsewhere not known.)"""
    if not sys.platform.startswith("linux"):
        return False
    try:
        asked = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, byte, 1, 0)
        return struct.unpack(_FLOCK, fcntl.fcntl(fd, ask, asked))[0] != fcntl.F_UNLCK
    except OSError:  # a file system without locks
        return False


MARK = 1 << 40  # the byte whose lock says a command writes the store; SQLite's are from 1 GiB to 1 GiB + 512
SPARK = MARK + 1  # the byte whose lock says that the command is ccaudit spark
_FLOCK = "hhqqi4x"  # struct flock: type, whence, start, len, pid


def writer_holds(fd: int) -> bool:
    """Does a command writing the store (``hold``) hold it now? ``fd``: the store opened to
    ask, and closed only once no transaction of this process is open on it (closing any
    descriptor of a file drops the process's POSIX locks on it, which are SQLite's)."""
    if hasattr(fcntl, "F_OFD_GETLK"):
        return _locked(fd, MARK, fcntl.F_OFD_GETLK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:  # a file system without locks: no load of ours writes it
        pass
    return False


def hold_for_spark(fd: int | None) -> None:
    """Say through ``fd``, a ``hold`` of the store, that a ``ccaudit spark`` run writes it: a
    load, which would make the run's counts be refused at its end, is refused at once
    (``spark_holds``; Linux only: elsewhere the run finds it out as its counts are written)."""
    if fd is not None and hasattr(fcntl, "F_OFD_SETLK"):
        with contextlib.suppress(OSError):
            _mark(fd, fcntl.F_RDLCK, wait=False, byte=SPARK)


def spark_holds(fd: int) -> bool:
    """Does a ``ccaudit spark`` run hold the store (``hold_for_spark``)? ``fd``: one's own hold."""
    return hasattr(fcntl, "F_OFD_GETLK") and _locked(fd, SPARK, fcntl.F_OFD_GETLK)


def _mark(fd: int, kind: int, wait: bool, byte: int = MARK) -> None:
    """Lock ``byte`` of the file, as the descriptor's own (an open file description lock,
    Linux 3.15). ``flock`` would do where it is its own kind of lock; but on NFS and SMB it is a
    POSIX lock, which belongs to the process, and SQLite's first unlock of the whole file drops
    it. Elsewhere (not Linux) ``flock``, of the whole file."""
    if not hasattr(fcntl, "F_OFD_SETLK"):
        fcntl.flock(fd, (fcntl.LOCK_SH if kind == fcntl.F_RDLCK else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
        return
    flock = struct.pack(_FLOCK, kind, os.SEEK_SET, byte, 1, 0)
    fcntl.fcntl(fd, fcntl.F_OFD_SETLKW if wait else fcntl.F_OFD_SETLK, flock)


_LOCK = threading.Lock()
_OPEN: dict[tuple[int, int], int] = {}  # (device, inode) -> the Stores of this process open on it
_PARKED: dict[tuple[int, int], list[int]] = {}  # -> descriptors of it whose close waits for the last


def _inode(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def key_of(fd: int) -> tuple[int, int] | None:
    """The (device, inode) of an open descriptor's file."""
    try:
        return _inode(os.fstat(fd))
    except OSError:
        return None


def opened(path: str) -> tuple[int, int] | None:
    """Count a Store of ``path`` as open on it, until ``released``."""
    try:
        key = _inode(os.stat(path))
    except OSError:
        return None
    with _LOCK:
        _OPEN[key] = _OPEN.get(key, 0) + 1
    return key


def released(key: tuple[int, int] | None, fd: int | None = None) -> None:
    """A Store of the file ``key`` is closed (its connection first), and with it ``fd``."""
    with _LOCK:
        if key is not None and _OPEN.get(key, 0) > 1:
            _OPEN[key] -= 1
            if fd is not None:
                _park(key, fd)
            return
        _OPEN.pop(key, None)  # type: ignore[arg-type]
        for parked in [*_PARKED.pop(key, []), *([] if fd is None else [fd])]:  # type: ignore[arg-type]
            with contextlib.suppress(OSError):
                os.close(parked)


def descriptor(path: str) -> int:
    """A read-only descriptor of ``path``: one parked for its file if there is one, else a new
    one (OSError if it cannot be opened). Give it back with ``close``."""
    with _LOCK:
        if spare := _PARKED.get(_inode(os.stat(path))):
            return spare.pop()
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)  # (a FIFO: no wait)


def close(fd: int | None) -> None:
    """Close a descriptor of a store file, or park it while a Store of it is open."""
    if fd is None:
        return
    key = key_of(fd)
    with _LOCK:  # (and closed under it: a Store opened meanwhile is counted first)
        if key in _OPEN:
            _park(key, fd)  # type: ignore[arg-type]
        else:
            os.close(fd)


def _park(key: tuple[int, int], fd: int) -> None:
    """Keep ``fd`` open, but no longer holding the store (``hold``): clean may delete it."""
    with contextlib.suppress(OSError):
        if hasattr(fcntl, "F_OFD_SETLK"):
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack(_FLOCK, fcntl.F_UNLCK, os.SEEK_SET, MARK, 2, 0))  # SPARK too
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
    _PARKED.setdefault(key, []).append(fd)


def read_head(path: str, size: int) -> bytes | None:
    """The first ``size`` bytes of ``path`` (None: unreadable), its descriptor closed by ``close``."""
    try:
        fd = descriptor(path)
    except OSError:
        return None
    try:
        return os.pread(fd, size, 0)
    except OSError:
        return None
    finally:
        close(fd)

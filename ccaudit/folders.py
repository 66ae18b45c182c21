"""Folders held open: files written, read, listed and removed by name in a folder's
descriptor, never by a path that could be swapped meanwhile.

Users write reports into folders other people may write to. By path, a report folder or
one of its section folders, swapped for a link between ccaudit's check and its write,
would have taken a report file (every email of an organization) wherever the link led.
Held by a descriptor, the folder stays the one that was checked, whatever its name comes
to mean.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import math
import os
import random
import re
import stat
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO, TypeVar

from .errors import CcauditError
from .stops import Program, block_stops, restore_signals
from .streams import SQLITE_MAGIC
from .text import printable

FILE_MODE, DIR_MODE = 0o600, 0o700
T = TypeVar("T")
PART_MARK = ".ccaudit-"  # in a half-written file's name: .NAME.ccaudit-RANDOM.part
PART_NAME = 40  # characters of NAME kept there: a name of 255 bytes, the most, would make one too long
_PART = re.compile(rf"(?s)\..{{0,{PART_NAME}}}{re.escape(PART_MARK)}[a-z0-9_]{{8}}\.part")  # (not a.ccaudit-b.part)
_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_swept: set[tuple[int, int]] = set()  # folders whose dead half-written files are gone
# a folder one may write but not list (mode 0300) still takes files: held for its name only
_WHERE = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC


class Folder:
    """A folder held by its descriptor ``fd``; ``path`` names it in messages."""

    def __init__(self, fd: int, path: str):
        self.fd, self.path = fd, path

    def join(self, name: str) -> str:
        return os.path.join(self.path, name)

    def mode(self, name: str) -> int | None:
        """The mode of ``name`` itself (a link's, not its target's), or None if there is none.
        CcauditError if the folder cannot be searched (mode 0600): was an internal error."""
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return None
        except OSError as e:
            raise CcauditError(f"{self.join(name)}: cannot reach it: {e.strerror}") from None

    def has_file(self, name: str) -> bool:
        """Whether ``name`` is a file, itself: not a link to one."""
        return stat.S_ISREG(self.mode(name) or 0)

    def open(self, name: str, errors: str = "strict") -> IO[str]:
        """``name``, a file of this folder (never through a link), to read as UTF-8. Not
        waiting for a writer, should a pipe be put in its place meanwhile."""
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=self.fd)
        return os.fdopen(fd, encoding="utf-8", errors=errors)

    def own_lines(self, name: str, untouched: str) -> list[str]:
        """The lines of the file ``name`` but blank ones and comments (#), if this user wrote it:
        a list of what to replace can be planted where another user may write (a sticky
        folder). Refused otherwise, the message ending in ``untouched``."""
        try:
            with self.open(name, errors="surrogateescape") as f:
                if os.fstat(f.fileno()).st_uid != os.geteuid():
                    raise CcauditError(f"{self.join(name)}: written by another user; {untouched}")
                return [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")]
        except OSError as e:  # made unreadable (mode 000): was an internal error
            raise CcauditError(f"{self.join(name)}: cannot read: {e.strerror}; {untouched}") from None

    @contextlib.contextmanager
    def listing(self) -> Iterator[Iterator[os.DirEntry]]:
        """The folder's entries (``scandir``). An OSError is raised as it is."""
        with _closing(os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.fd)) as fd, \
                os.scandir(fd) as entries:
            yield entries

    def check_child(self, name: str) -> bool:
        """Whether the folder ``name`` is here; refuse a link or anything else of that name."""
        mode = self.mode(name)
        if mode is not None and stat.S_ISLNK(mode):
            raise CcauditError(f"{self.join(name)}: is a symbolic link; give the real folder")
        if mode is not None and not stat.S_ISDIR(mode):
            raise CcauditError(f"{self.join(name)}: is not a folder")
        return mode is not None

    @contextlib.contextmanager
    def child(self, name: str, make: bool = False) -> Iterator[Folder]:
        """The folder ``name`` in this one (made 0700 with ``make``), held; never a link."""
        if make and not self.check_child(name):
            try:
                os.mkdir(name, DIR_MODE, dir_fd=self.fd)
            except FileExistsError:  # made meanwhile, by another ccaudit writing into it
                pass
            except OSError as e:
                raise CcauditError(f"{self.join(name)}: cannot create: {e.strerror}") from None
        try:
            fd = os.open(name, _WHERE | os.O_NOFOLLOW, dir_fd=self.fd)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                self.check_child(name)
            raise CcauditError(f"{self.join(name)}: cannot open: {e.strerror}") from None
        with _closing(fd):
            yield Folder(fd, self.join(name))

    @contextlib.contextmanager
    def replacing(self, name: str, binary: bool = False, durable: bool = False) -> Iterator[IO]:
        """A new file (0600, never through a link) that replaces ``name`` in one rename when
        the block completes, and is removed if it does not, on Ctrl-C and SIGTERM too: no half
        file is left beside the target. ``durable``: synced to disk before the rename. An
        OSError is raised as it is, for the caller to name the file in its own words."""
        _remove_dead_parts(self)
        mask = block_stops()  # Ctrl-C between creating the file and the try below would leave it
        try:
            fd, part = self._new_part(name)
        except BaseException:
            restore_signals(mask)
            raise
        try:
            restore_signals(mask)  # a stop that came meanwhile arrives here, in the try that removes the file
            with contextlib.suppress(OSError):  # a file system without locks (ENOLCK) still takes the file
                fcntl.flock(fd, fcntl.LOCK_EX)  # held until this process closes it or dies: see _dead_part
            with os.fdopen(fd, "wb" if binary else "w", buffering=1 << 20,
                           encoding=None if binary else "utf-8") as f:
                yield f
                if durable:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(part, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(part, dir_fd=self.fd)
            raise

    def _new_part(self, name: str) -> tuple[int, str]:
        """A file of a new name, .NAME.ccaudit-RANDOM.part, made exclusively (as ``mkstemp``)."""
        def make(suffix: str) -> tuple[int, str]:
            part = f".{name[:PART_NAME]}{PART_MARK}{suffix}.part"
            return self.create(part), part

        return _unused(make)

    def create(self, name: str) -> int:
        """A descriptor of the new file ``name`` (0600, made here, exclusively), to write."""
        return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE,
                       dir_fd=self.fd)

    def make_temp(self, prefix: str) -> str:
        """The name of a new folder here (0700), PREFIX + a random part (as ``mkdtemp``)."""
        def make(suffix: str) -> str:
            os.mkdir(prefix + suffix, DIR_MODE, dir_fd=self.fd)
            return prefix + suffix

        return _unused(make)

    def remove_tree(self, name: str) -> None:
        """Remove the folder ``name`` and all it holds, never through a link. What cannot be
        removed is left (as ``shutil.rmtree(ignore_errors=True)``)."""
        with contextlib.suppress(OSError):
            with inside(self.fd, name) as fd:
                inner = Folder(fd, self.join(name))
                with inner.listing() as entries:
                    held = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
                for child, is_folder in held:
                    if is_folder:
                        inner.remove_tree(child)
                    else:
                        with contextlib.suppress(OSError):
                            os.unlink(child, dir_fd=fd)
            os.rmdir(name, dir_fd=self.fd)


def _unused(make: Callable[[str], T]) -> T:
    """What ``make`` makes of the first random suffix whose name is not taken."""
    for _ in range(100):
        try:
            return make("".join(random.choices(_LETTERS, k=8)))
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name")


@contextlib.contextmanager
def held(path: str, label: str | None = None) -> Iterator[Folder]:
    """The folder ``path``, as the system reads the path (through links: the user's own),
    held; ``label`` names it in messages, if not ``path``. An OSError is raised as it is."""
    with _closing(os.open(path, _WHERE)) as fd:
        yield Folder(fd, path if label is None else label)


@contextlib.contextmanager
def inside(parent: int, name: str) -> Iterator[int]:
    """A descriptor of the folder ``name`` in the folder ``parent``, to list and to remove
    from; never a link (ELOOP or ENOTDIR: an OSError raised as it is)."""
    with _closing(os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)) as fd:
        yield fd


@contextlib.contextmanager
def _closing(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


def _remove_dead_parts(folder: Folder, young: bool = False) -> None:
    """Remove the half-written files of ccaudit processes killed in the folder (SIGKILL, the
    OOM killer, a reboot: no cleanup runs), once a process: a download's can be a gigabyte.
    ``young``: those made within the minute too (one so new may not hold its lock yet), for
    ``clean``, which holds the folder against other runs (``writing_into``)."""
    with contextlib.suppress(OSError):
        st = os.fstat(folder.fd)
        if (st.st_dev, st.st_ino) in _swept and not young:
            return
        _swept.add((st.st_dev, st.st_ino))
        with folder.listing() as entries:
            names = [entry.name for entry in entries if _PART.fullmatch(entry.name)]
        for name in names:
            if _dead_part(folder.fd, name, 0 if young else 60):
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=folder.fd)


remove_dead_parts = functools.partial(_remove_dead_parts, young=True)


def _dead_part(folder: int, name: str, age: float) -> bool:
    """Ours (this user's regular file), ``age`` seconds old, and no process holds its lock."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or time.time() - st.st_mtime < age:
            return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:  # BlockingIOError: its writer is alive
        return False
    finally:
        os.close(fd)


@contextlib.contextmanager
def writing_into(folder: str, until: float = math.inf, why: str = "") -> Iterator[Folder]:
    """Make ``folder`` if missing (``make_dir``) and hold it against other ccaudit runs
    writing into it (a report's ``--out``, an export, ``clean``), waiting for one that
    does: two reports at once each removed the other's files as the earlier report's,
    and left a summary of days whose files were gone. A lock on the folder itself
    (``flock``), so nothing is added to it, and the lock goes with the process. Not past
    ``until`` (monotonic): then CcauditError, ``why`` saying what stopped it. The wait is
    told on stderr by the ccaudit program only: a caller's is its own to tell."""
    said = not Program.ends_with_command
    while True:
        make_dir(folder)
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            raise CcauditError(f"{folder}: cannot open: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not said:
                with contextlib.suppress(OSError, ValueError):  # stderr closed: wait all the same
                    print(f"ccaudit: {printable(folder)}: another ccaudit is writing into it; waiting for it to end",
                          file=sys.stderr, flush=True)
                said = True
            _wait_for(fd, folder, until, why)
        except OSError:  # a file system without locks (ENOLCK): written without one
            pass
        if _same_folder(fd, folder):
            break
        os.close(fd)  # removed meanwhile (clean --out): the folder of that name now is another
    with _closing(fd):
        yield Folder(fd, folder)


def _wait_for(fd: int, folder: str, until: float, why: str) -> None:
    """Take the lock on ``fd`` once the other run lets it go; a turn of 0.1 s at a time, so
    that Ctrl-C is heard. ``fd`` is closed if it is not taken."""
    try:
        while True:
            time.sleep(min(0.1, max(0.0, until - time.monotonic())))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= until:
                    raise CcauditError(f"{why} waiting for another ccaudit writing into {folder}") from None
    except BaseException:
        os.close(fd)
        raise


def _same_folder(fd: int, folder: str) -> bool:
    try:
        held, named = os.fstat(fd), os.stat(folder)
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)



def unslashed(path: str) -> str:
    """``path`` without trailing slashes and "/." ends: "reports/" and "reports/." are the
    link "reports", if it is one, not the folder it leads to. Not ``normpath`` (nor
    ``abspath``, nor ``tempfile``'s ``dir``, which is made one): to the system, "link/.."
    is the parent of the link's target, not "." as its text says."""
    while True:
        path = path.rstrip("/") or path[:1]
        if not path.endswith("/.") or path == "/.":
            return "/" if path == "/." else path
        path = path[:-2] or "/"


def folder_of(path: str) -> str:
    """The folder the file ``path`` is in, as the system reads the path (see ``unslashed``)."""
    return os.path.dirname(path) or "."


def make_dir(path: str) -> None:
    """Create the folder ``path`` (0700) if it is missing (see ``check_dir``)."""
    path = unslashed(path)
    if check_dir(path):
        return
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:  # made meanwhile, by another ccaudit writing into it
        check_dir(path)
    except OSError as e:
        raise CcauditError(f"{path}: cannot create: {e.strerror}") from None


def check_dir(path: str) -> bool:
    """Whether the folder ``path`` exists; refuse one ``make_dir`` could neither use nor
    make: a link, something else of that name, or a missing parent, as for ``mkdir`` (a
    typo should not grow a tree). Checked before a load too, which the report would follow."""
    path = unslashed(path)
    if os.path.islink(path):
        raise CcauditError(f"{path}: is a symbolic link; give the real folder")
    if os.path.isdir(path):
        return True
    if os.path.lexists(path):
        raise CcauditError(f"{path}: is not a folder")
    check_parent(path, "the folder")
    return False


def check_writable(folder: str, path: str, what: str) -> None:
    """Refuse a folder this user cannot add files to (``path`` is written there through a
    new name: see files.py), before a load rather than after it."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CcauditError(f"{path}: cannot write {what}: cannot add files to {folder} "
                           "(permission denied or read-only)")


def check_parent(path: str, what: str) -> None:
    """Refuse a file path whose folder does not exist (as ``cp`` and ``sqlite3`` do), that names a folder
    (``new/``), or whose name its file system cannot take: each failed only as it was written, after a load."""
    name = os.path.basename(path)
    if name in ("", ".", ".."):
        raise CcauditError(f"{path}: cannot create {what}: that is a folder's name, not a file's")
    parent = folder_of(path)
    if not os.path.isdir(parent):
        raise CcauditError(f"{path}: cannot create {what}: no folder {parent}")
    most = math.inf
    with contextlib.suppress(OSError, ValueError):  # (a file system that does not say)
        most = os.pathconf(parent, "PC_NAME_MAX")
    if len(os.fsencode(name)) > most:
        raise CcauditError(f"{path}: cannot create {what}: its name is over the {most} bytes a name may have here")


def sqlite_at(fd: int, name: str) -> bool:
    """Whether ``name`` in the folder ``fd`` is an SQLite file (never through a link): a
    store under a report file's name is neither written over nor deleted, listed or not,
    as ``-o`` refuses one."""
    try:
        f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        return False
    try:
        return os.read(f, len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False
    finally:
        os.close(f)

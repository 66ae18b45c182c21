"""Files that hold audit data: written whole or not at all, owner-only, never through a link.

Reports hold every email and client IP of an organization, and users run ccaudit on
folders other people can write to. So every file is written to a new temporary name in
its own folder (created exclusively, 0600, never following a link) and renamed over the
target: a crash or a full disk leaves the previous file, and a link planted at the
target is replaced, not written through.
"""
from __future__ import annotations

import codecs
import contextlib
import fcntl
import math
import os
import re
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import IO, TextIO

from .errors import CcauditError, InputError
from .text import printable

FILE_MODE, DIR_MODE = 0o600, 0o700
STOPPING = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}  # what stops ccaudit, see cli.py
PART_MARK = ".ccaudit-"  # in a half-written file's name: .NAME.ccaudit-RANDOM.part
PART_NAME = 40  # characters of NAME kept there: a name of 255 bytes, the most, would make one too long
_PART = re.compile(rf"(?s)\..{{0,{PART_NAME}}}{re.escape(PART_MARK)}[a-z0-9_]{{8}}\.part")  # (not a.ccaudit-b.part)
_swept: set[str] = set()  # folders whose dead half-written files are gone


def write_atomic(path: str, text: str | Iterable[str | bytes], devices: bool = True) -> None:
    """Replace ``path`` with ``text`` (UTF-8; a string or its pieces, see ``write_pieces``)
    in one rename. With ``devices``, a device or pipe there (``-o /dev/null``, or a link
    in /dev such as ``/dev/stdout``) is written to, not replaced; any other link is
    replaced: one planted in a shared folder could lead to a pipe another user reads."""
    pieces = [text] if isinstance(text, str) else text
    if devices and is_device(path):
        return _write_through(path, pieces)
    try:
        with replacing(path) as f:
            write_pieces(f, pieces)
    except OSError as e:
        raise CcauditError(f"{path}: cannot write: {e.strerror}") from None


@contextlib.contextmanager
def replacing(path: str, binary: bool = False, durable: bool = False) -> Iterator[IO]:
    """A new file (0600, never through a link) that replaces ``path`` in one rename when the
    block completes, and is removed if it does not, on Ctrl-C and SIGTERM too: no half file
    is left beside the target. ``durable``: synced to disk before the rename. An OSError
    is raised as it is, for the caller to name the file in its own words."""
    folder = folder_of(path)
    _remove_dead_parts(folder)
    mask = block_stops()  # Ctrl-C between creating the file and the try below would leave it
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)[:PART_NAME]}{PART_MARK}", suffix=".part",
                                   dir=os.path.realpath(folder))  # O_EXCL; see unslashed
    except BaseException:
        restore_signals(mask)
        raise
    try:
        restore_signals(mask)
        with contextlib.suppress(OSError):  # a file system without locks (ENOLCK) still takes the file
            fcntl.flock(fd, fcntl.LOCK_EX)  # held until this process closes it or dies: see _dead_part
        with os.fdopen(fd, "wb" if binary else "w", buffering=1 << 20, encoding=None if binary else "utf-8") as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _remove_dead_parts(folder: str) -> None:
    """Remove the half-written files of ccaudit processes killed in ``folder`` (SIGKILL, the
    OOM killer, a reboot: no cleanup runs), once a process: a download's can be a gigabyte."""
    if folder in _swept:
        return
    _swept.add(folder)
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if _PART.fullmatch(entry.name) and _dead_part(entry.path):
                with contextlib.suppress(OSError):
                    os.remove(entry.path)


def _dead_part(path: str) -> bool:
    """Ours (this user's regular file), a minute old, and no process holds its lock."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or time.time() - st.st_mtime < 60:
            return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:  # BlockingIOError: its writer is alive
        return False
    finally:
        os.close(fd)


def block_stops() -> set | None:
    """Block the signals that stop ccaudit (Ctrl-C, SIGTERM, SIGHUP) until
    ``restore_signals``: a stretch of code that must not be left half done."""
    return signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING) if hasattr(signal, "pthread_sigmask") else None


def drop_stops() -> None:
    """Take the stop signals that came while ``block_stops`` held them off, so that they
    stop nothing (the stretch they came in finished what there was to do)."""
    if hasattr(signal, "sigtimedwait"):
        while STOPPING & signal.sigpending():
            signal.sigtimedwait(STOPPING, 0)


def restore_signals(mask: set | None) -> None:
    """Unblock what ``block_stops`` blocked: a signal that came meanwhile arrives now."""
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def write_pieces(f: TextIO, pieces: Iterable[str | bytes]) -> None:
    """Write ``pieces`` to ``f``, a UTF-8 text file: a str as text, bytes (UTF-8 text
    already, a second process's days: halves.py) to its buffer, without decoding them and
    encoding them again."""
    for piece in pieces:
        if isinstance(piece, str):
            f.write(piece)
        else:
            f.flush()
            f.buffer.write(piece)


def takes_utf8(f: TextIO) -> bool:
    """Whether ``f`` writes UTF-8 to a buffer that ``write_pieces`` can reach."""
    try:
        return hasattr(f, "buffer") and codecs.lookup(f.encoding).name == "utf-8"
    except (AttributeError, LookupError, TypeError):
        return False


def write_own(path: str, text: str | Iterable[str | bytes]) -> None:
    """``write_atomic`` for a file of a folder ccaudit made (a report folder, an export):
    whatever is found at ``path`` is replaced, never written through."""
    write_atomic(path, text, devices=False)


_DESCRIPTOR = re.compile(r"/dev/[^/]+|/dev/fd/[0-9]+|/proc/(?:self|thread-self|[0-9]+)/fd/[0-9]+")


def is_device(path: str) -> bool:
    """Is ``path`` a link of /dev's own (``/dev/stdout``) or a file descriptor's
    (``/dev/fd/3``, ``/proc/self/fd/3``), whatever it leads to (standard output sent to a
    file leads to a file: the link must not be replaced by one), or itself something
    neither a file nor a folder (a pipe, a device)? A link anywhere else, /dev/shm
    included, could be planted: it is replaced, never written through."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode):
        return bool(_DESCRIPTOR.fullmatch(os.path.abspath(path)))
    if stat.S_ISFIFO(st.st_mode) and st.st_uid != os.geteuid():  # another's, planted: they would read it
        return False
    return not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode)


def _write_through(path: str, pieces: Iterable[str | bytes]) -> None:
    """Appended, not truncated: what ``/dev/stdout`` leads to may be a file that the shell
    opened to append (``>> log``), or one that already holds what was written before."""
    try:
        with open(path, "a", encoding="utf-8") as f:
            write_pieces(f, pieces)
    except BrokenPipeError:  # its reader went away (-o /dev/stdout | head): as for standard output
        raise
    except OSError as e:
        raise CcauditError(f"{path}: cannot write: {e.strerror}") from None


def read_small(path: str, limit: int) -> bytes:
    """The bytes of ``path``, a settings file typed by hand, of at most ``limit`` bytes: a
    file, or a pipe (``--rules <(...)``), but /dev/zero never ends. Raises OSError if it
    cannot be opened or read."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{path}: larger than {limit:,} bytes")
    return data


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


@contextlib.contextmanager
def writing_into(folder: str, until: float = math.inf, why: str = "") -> Iterator[None]:
    """Make ``folder`` if missing (``make_dir``) and hold it against other ccaudit runs
    writing into it (a report's ``--out``, an export, ``clean``), waiting for one that
    does: two reports at once each removed the other's files as the earlier report's,
    and left a summary of days whose files were gone. A lock on the folder itself
    (``flock``), so nothing is added to it, and the lock goes with the process. Not past
    ``until`` (monotonic): then CcauditError, ``why`` saying what stopped it."""
    said = False
    while True:
        make_dir(folder)
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
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
    try:
        yield
    finally:
        os.close(fd)


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


def check_parent(path: str, what: str) -> None:
    """Refuse a file path whose folder does not exist, as ``cp`` and ``sqlite3`` do, or
    that names a folder (``new/``): either failed only as the file was written, after a load."""
    if os.path.basename(path) in ("", ".", ".."):
        raise CcauditError(f"{path}: cannot create {what}: that is a folder's name, not a file's")
    parent = folder_of(path)
    if not os.path.isdir(parent):
        raise CcauditError(f"{path}: cannot create {what}: no folder {parent}")


_STANDARD = {"stdin": 0, "stdout": 1, "stderr": 2}
_FD_PATH = re.compile(r"/dev/(stdin|stdout|stderr)|/dev/fd/([0-9]+)|/proc/(?:self|thread-self)/fd/([0-9]+)")


def closed_descriptor(path: str) -> int | None:
    """The descriptor that ``path`` names (/dev/stdout, /dev/fd/3, /proc/self/fd/3) if it
    is not open: the next file opened (SQLite's store, the Kafka client's pipe) would take
    its number, and what was written there would go into that file, or nowhere."""
    m = _FD_PATH.fullmatch(os.path.abspath(path))
    if not m:
        return None
    fd = _STANDARD[m[1]] if m[1] else int(m[2] or m[3])
    try:
        os.fstat(fd)
    except OSError:
        return fd
    return None


def same_file(a: str, b: str) -> bool:
    """Do two paths name the same file (through links, hard links, ``./``), or would
    they, once created?"""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)

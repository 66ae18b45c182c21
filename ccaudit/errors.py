"""Errors the core raises, and the exit codes the CLI maps them to.

Core modules never print or exit; they raise these with a message written for
the user. The command line (``cli.py``, with ``options.py``) turns them into exit codes.

sqlite3 is not imported here: parse workers use this module and never SQLite (1 MiB each).
"""
from __future__ import annotations

import contextlib
import errno
import lzma
import os
import sys
import zlib
from collections.abc import Iterator
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

# What reading a damaged or cut compressed stream raises.
READ_ERRORS = (OSError, EOFError, lzma.LZMAError, zlib.error)
# What gzip, bz2 and xz say of data that fails a checksum, or holds what no compressor writes
_DAMAGED = ("CRC check failed", "Incorrect length of data produced", "Invalid data stream", "Corrupt input data",
            "Unknown compression method")  # gzip: a later member's header, a bit flipped
NO_STREAM = "bytes after a compressed stream that start no other of its kind"  # streams.Decompressed's; gzip's below
_NO_GZIP = "Not a gzipped file"
CUT = "the compressed stream ends before its end marker"  # streams.Decompressed's words, and gzip's EOFError's


def broken_stream(e: BaseException) -> tuple[str, bool, bool]:
    """Why reading an input broke, as a malformed entry at its end says it; whether its data
    is damaged: records read from it before the check failed may then hold wrong values
    (gzip checks a member at its end, bzip2 a block after handing it on); and whether the
    break is the file's, where a read of it again stops too, not a read error's (EIO)."""
    if isinstance(e, zlib.error) or any(m in str(e) for m in _DAMAGED):
        return (f"the compressed data is damaged ({e}): records read from it may hold wrong values; "
                "load a good copy into a new store"), True, True
    if str(e) == NO_STREAM or str(e).startswith(_NO_GZIP):  # not the end: what follows is not read
        return f"{NO_STREAM}: the rest is not read", False, True
    return f"input ends early ({CUT if isinstance(e, EOFError) else e})", False, getattr(e, "errno", None) is None


_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


OUT_OF_MEMORY = "out of memory (is the process's memory limited, ulimit -v?)"
MAX_DIGITS = 4300  # the most digits of a number a record may hold (Python's default limit to read one)


def pin_max_digits() -> None:
    """The ccaudit program's processes read numbers of up to MAX_DIGITS digits whatever
    PYTHONINTMAXSTRDIGITS says: which records are malformed must not follow the caller's setting."""
    if hasattr(sys, "set_int_max_str_digits"):  # (Python 3.10's first releases have no limit)
        sys.set_int_max_str_digits(MAX_DIGITS)


def memory_failed(e: BaseException) -> bool:
    """Whether ``e`` is the machine's memory limit: a MemoryError, or a library whose code
    could not be mapped in (an ImportError, "failed to map segment from shared object")."""
    said = str(e).lower()
    return isinstance(e, MemoryError) or isinstance(e, ImportError) and (
        "failed to map segment" in said or "cannot allocate memory" in said)


def too_many_files(e: BaseException) -> str | None:
    """What to say of ``e`` if it is the limit of files open (``ulimit -n``, or the machine's),
    met wherever one was opened, an import's too. SQLite says only that it could not open a
    file: under a limit as low as ccaudit's own needs, that is said beside it."""
    if isinstance(e, OSError) and e.errno == errno.ENFILE:
        return "too many files open on this machine: try again when fewer are"
    import resource

    most = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if isinstance(e, OSError) and e.errno == errno.EMFILE:
        return f"too many open files: this process may have {most:,} open (ulimit -n)"
    if "unable to open" in str(e) and not isinstance(e, OSError) and (most < FILES_NEEDED or _none_left()):
        return f"{e} (this process may have only {most:,} files open: ulimit -n)"
    return None


FILES_NEEDED = 64  # files open at once that a command may need: a load's store, journal, inputs, workers' pipes


def _none_left() -> bool:
    """Whether this process has no descriptor left to open a file with (asked as soon as one
    could not be opened, before any is closed)."""
    try:
        os.close(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
    except OSError as e:
        return e.errno == errno.EMFILE
    return False


def out_of_space(e: BaseException) -> bool:
    """Did a write fail for want of space (a full disk, a quota, a file size limit)?"""
    if isinstance(e, OSError):
        return e.errno in _FULL
    sqlite = sys.modules.get("sqlite3")  # a process that never imported it has none of its errors
    return sqlite is not None and isinstance(e, sqlite.OperationalError) and ("full" in str(e) or "disk I/O" in str(e))


def cannot_roll_back(e: sqlite3.Error) -> bool:
    """Did SQLite find a killed writer's journal it may not roll back, for want of write
    access to its folder (SQLITE_READONLY_ROLLBACK; Python 3.10 names no error)?"""
    name = getattr(e, "sqlite_errorname", None)
    return name == "SQLITE_READONLY_ROLLBACK" if name else "readonly" in str(e)


def add_note(e: BaseException, note: str) -> None:
    """``e.add_note(note)``, on Python 3.10 too (which lacks it): the error boundary says
    each of ``e.__notes__`` after its line."""
    e.__notes__ = [*getattr(e, "__notes__", ()), note]


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1  # `check` found a breach, or --strict found bad input
    USAGE = 2  # bad options, missing/unreadable files, nothing parseable
    INTERNAL = 70  # a bug in ccaudit (EX_SOFTWARE), never a problem with the input
    INTERRUPTED = 130  # Ctrl-C (SIGINT)
    BROKEN_PIPE = 141  # the reader of stdout went away (128 + SIGPIPE, as a shell reports it)


class CcauditError(Exception):
    """An error to show the user as one line, then exit with ``exit_code``."""

    exit_code = ExitCode.USAGE


class InputError(CcauditError):
    """An input file is missing, unreadable, or holds nothing parseable."""


class StoreError(CcauditError):
    """The SQLite store cannot be opened or is not a ccaudit store."""


class Stopped(CcauditError):
    """A load that cannot go on (a full disk, a parse worker gone): what it merged stays, and
    its line says how many of the records it read were not stored. ``again``: nothing but the
    same load run again completes it (a full disk needs room first, and says where), which
    only a kept store is told (a temporary one goes with it)."""

    def __init__(self, message: str, again: bool = False):
        super().__init__(message)
        self.again = again


class NoSpace(Stopped):
    """A disk is full, or a file size limit was reached: the store's or TMPDIR's."""


def temp_full(folder: str) -> NoSpace:
    return NoSpace(f"{folder}: no space left for temporary files (TMPDIR)")


class MissingExtra(CcauditError):
    """An optional dependency (an extra) is not installed."""


@contextlib.contextmanager
def spilling() -> Iterator[None]:
    """Around SQL that may write SQLite's temporary files: a sort that outgrows 16 MiB (a
    report's day of 100,000 keys, a diff of as many), a filter's keys. ccaudit keeps them on
    disk (``temp_store = FILE``; in memory they grew with the data), so a full temporary
    folder is a user's error, naming the folder, not a bug."""
    import sqlite3  # imported already by whoever runs SQL

    try:
        yield
    except sqlite3.OperationalError as e:
        if out_of_space(e):
            raise NoSpace(f"{sqlite_tempdir()}: no space left for SQLite's temporary files (TMPDIR)") from None
        if said := too_many_files(e):
            raise CcauditError(said) from None
        if "unable to open" in str(e):  # no folder it may write in
            raise CcauditError(f"{sqlite_tempdir()}: cannot create SQLite's temporary files there "
                               "(set TMPDIR to a folder ccaudit may write in)") from None
        raise


def sqlite_tempdir() -> str:
    """The folder SQLite writes its temporary files in: the first usable of these (its
    unix VFS, unixTempFileDir)."""
    for folder in (os.environ.get("SQLITE_TMPDIR"), os.environ.get("TMPDIR"), "/var/tmp", "/usr/tmp", "/tmp"):
        if folder and os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK):
            return folder
    return "."

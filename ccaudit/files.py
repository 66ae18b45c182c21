"""Files that hold audit data: written whole or not at all, owner-only, never through a link.

Reports hold every email and client IP of an organization, and users run ccaudit on
folders other people can write to. So every file is written to a new temporary name in
its own folder (created exclusively, 0600, never following a link) and renamed over the
target: a crash or a full disk leaves the previous file, and a link planted at the
target is replaced, not written through. The writing itself is ``folders.Folder``'s.
"""
from __future__ import annotations

import codecs
import contextlib
import fcntl
import io
import os
import re
import select
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, TextIO

from .errors import CcauditError, InputError
from .folders import Folder, folder_of, held
from .streams import made_blocking


def write_atomic(path: str, text: str | Iterable[str | bytes]) -> None:
    """Replace ``path`` with ``text`` (UTF-8; a string or its pieces, see ``write_pieces``)
    in one rename. A device or pipe there (``-o /dev/null``, or a link
    in /dev such as ``/dev/stdout``) is written to, not replaced; any other link is
    replaced: one planted in a shared folder could lead to a pipe another user reads."""
    if is_device(path):
        return _write_through(path, [text] if isinstance(text, str) else text)
    try:
        with held(folder_of(path), os.path.dirname(path)) as folder:
            write_own(folder, os.path.basename(path), text)
    except OSError as e:  # the folder cannot be opened
        raise CcauditError(f"{path}: cannot write: {e.strerror}") from None


def write_own(folder: Folder, name: str, text: str | Iterable[str | bytes]) -> None:
    """``write_atomic`` of the file ``name`` in ``folder`` (a report folder, an export, held
    by ``folders.writing_into``): whatever is found there is replaced, never written through."""
    try:
        with folder.replacing(name) as f:
            write_pieces(f, [text] if isinstance(text, str) else text)  # type: ignore[arg-type]  # text: a TextIO
    except OSError as e:
        raise CcauditError(f"{folder.join(name)}: cannot write: {e.strerror}") from None


@contextlib.contextmanager
def replacing(path: str, binary: bool = False, durable: bool = False) -> Iterator[IO]:
    """``Folder.replacing`` of the file ``path`` in its folder, as the system reads the
    path (through the user's own links). An OSError is raised as it is."""
    with held(folder_of(path)) as folder, folder.replacing(os.path.basename(path), binary, durable) as f:
        yield f


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
    """Written on, not truncated (``write_on``): what ``/dev/stdout`` leads to may be a file
    that the shell opened to append (``>> log``), or one that already holds what was written before."""
    try:
        with write_on(path) as f:
            write_pieces(f, pieces)  # type: ignore[arg-type]  # opened as text: a TextIO
    except BrokenPipeError:  # its reader went away (-o /dev/stdout | head): as for standard output
        raise
    except OSError as e:
        raise CcauditError(f"{path}: cannot write: {e.strerror}") from None


@contextlib.contextmanager
def write_on(path: str, binary: bool = False) -> Iterator[IO]:
    """``path`` opened to write on: a descriptor's name (/dev/stdout, /dev/fd/3) through
    that descriptor, from where it is, as ``-`` is written (opened again, in a file the
    shell then writes more to, ``{ ...; echo end; } > log``, the shell wrote over it), and
    blocking while it is written (a parent's non-blocking pipe failed a write once full);
    another name appended to."""
    mode, encoding = ("b", None) if binary else ("", "utf-8")
    fd = descriptor_of(path)
    if fd == 1 and sys.stdout is not None:
        sys.stdout.flush()
    f = open(path, "a" + mode, encoding=encoding) if fd is None else open(os.dup(fd), "w" + mode, encoding=encoding)
    unblocked = None if fd is None else made_blocking(f)  # (the open file's flag: the passed descriptor's)
    try:
        with closed_after(f):
            yield f
    finally:
        if unblocked is not None and fd is not None:
            with contextlib.suppress(OSError):
                os.set_blocking(fd, False)


@contextlib.contextmanager
def closed_after(f: IO) -> Iterator[IO]:
    """``f``, closed after the block; if the block raised (Ctrl-C, whose reader, stopped too,
    made the flush at close a broken pipe), that error is told, not the close's."""
    try:
        yield f
    except BaseException:
        with contextlib.suppress(OSError):
            f.close()
        raise
    f.close()


def read_small(path: str, limit: int, stdin_as_dash: bool = False) -> bytes:
    """The bytes of ``path``, a settings file typed by hand, of at most ``limit`` bytes: a
    file, or a pipe (``--rules <(...)``), but /dev/zero never ends; with ``stdin_as_dash``,
    ``-`` is standard input. Raises OSError if it cannot be opened or read."""
    if path == "-" and stdin_as_dash and sys.stdin is None:  # closed: <&-
        raise InputError("-: standard input is closed")
    with open(path, "rb") if path != "-" or not stdin_as_dash else contextlib.nullcontext(sys.stdin.buffer) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{path}: larger than {limit:,} bytes")
    return data


_STANDARD = {"stdin": 0, "stdout": 1, "stderr": 2}
_FD_PATH = re.compile(r"/dev/(stdin|stdout|stderr)|/dev/fd/([0-9]+)|/proc/(?:self|thread-self)/fd/([0-9]+)")


def descriptor_of(path: str) -> int | None:
    """The descriptor that ``path`` names (/dev/stdout, /dev/fd/3, /proc/self/fd/3), if any."""
    m = _FD_PATH.fullmatch(os.path.abspath(path))
    return None if not m else _STANDARD[m[1]] if m[1] else int(m[2] or m[3])


def unwritable_descriptor(path: str, what: str) -> str | None:
    """Why the descriptor that ``path`` names cannot take ``what`` (the report, the
    records), found before anything is made or loaded: it is not open, and the next file
    opened (SQLite's store, the Kafka client's pipe) would take its number, so ``what``
    would go into that file, or nowhere; or it is open only for reading (``< file``). Or
    ``path`` is a socket, which no file opens (once the load was done: ENXIO)."""
    fd = descriptor_of(path)
    if fd is None:
        with contextlib.suppress(OSError, ValueError):
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                return f"a socket, which cannot be opened as a file, so {what} cannot be written there"
        return None
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError:
        return f"descriptor {fd} is not open (closed with {fd}>&-?), so {what} would go nowhere"
    if flags & os.O_ACCMODE == os.O_RDONLY:
        return f"descriptor {fd} is open only for reading (<), so {what} cannot be written there"
    return None


def present(path: str, follow: bool = False) -> bool:
    """Whether anything is at ``path`` (with ``follow``, at the end of its links). A path
    that cannot be searched (a folder of mode 0600 on the way) is an InputError, as for
    ``rm``: ``os.path.lexists`` says no, and a store there was called missing."""
    try:
        os.stat(path, follow_symlinks=follow)
        return True
    except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL in it
        return False
    except OSError as e:
        raise InputError(f"{path}: cannot reach it: {e.strerror}") from None


def output_is(fd: int, path: str) -> bool:
    """Is the output ``fd`` (1, 2) the file at ``path`` (``> audit.db``, ``2>> dump.json``; ``-``:
    the file standard input reads)? Only a regular file can be one a path names as well."""
    try:
        out, named = os.fstat(fd), os.fstat(0) if path == "-" else os.stat(path)
    except (OSError, ValueError):  # closed, or no such file (ValueError: a NUL in the name)
        return False
    return stat.S_ISREG(out.st_mode) and (out.st_dev, out.st_ino) == (named.st_dev, named.st_ino)


def refuse_output_onto(path: str, what: str, *more: tuple[str, str], label: str | None = None) -> None:
    """Standard output and error must not be the store or an input (``report DUMP --db audit.db >
    audit.db``): what a command writes would destroy what it reads, as ``-o`` naming it would.
    Refused on standard error, the refusal goes there too (the exit status tells); but not into
    ``more`` (the journal, ``2> audit.db-journal``): a word in it would make it a file SQLite
    refuses to open the store beside, so standard error is silenced first."""
    for name, said in ((path, what), *more):
        for fd, stream in ((1, "output"), (2, "error")):
            if output_is(fd, name):
                if any(output_is(2, journal) for journal, _ in more):  # (whatever is refused)
                    null = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(null, 2)
                    os.close(null)
                raise InputError(f"standard {stream} is {said}, {label or name}; send it elsewhere")


def same_file(a: str, b: str) -> bool:
    """Do two paths name the same file (through links, hard links, ``./``), or would
    they, once created?"""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def read_twice(paths: Iterable[str]) -> str | None:
    """Why ``paths`` cannot be read, if two of them are one stream (stdin, a pipe, a FIFO,
    a terminal): a stream is read once, and its second name would read nothing, which the
    load line would count as read. Files given twice are read twice (their events are
    duplicates); a path that cannot be opened is left to the read to report."""
    paths = list(paths)
    seen: dict[object, int] = {}  # what a stream is known by -> the first path that named it
    for i, path in enumerate(paths):
        for key in _stream(path):
            if seen.setdefault(key, i) == i:
                continue
            first = paths[seen[key]]
            if first == path == "-":
                return "stdin (-) can be read only once"
            first, path = ("stdin (-)" if p == "-" else p for p in (first, path))
            return f"{first} and {path} are one stream, which can be read only once"
    return None


def _stream(path: str) -> list[object]:
    """What the stream ``path`` names is known by: its device and inode, and for stdin (``-``,
    ``/dev/stdin``: a file sent to it is read from where the other name left it) '-'."""
    stdin = path == "-" or descriptor_of(path) == 0
    try:
        st = os.fstat(0) if path == "-" else os.stat(path)
    except OSError:
        return ["-"] if stdin else []
    named: list[object] = [] if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) else [(st.st_dev, st.st_ino)]
    return ["-", *named] if stdin else named


def bounded_writer(raw, until: float, name: str):
    """``raw``, a stream named ``name``, written only until ``until`` (monotonic), through
    ``_Bounded``; as it is if it has no descriptor (a program's own stream)."""
    try:
        fd = raw.fileno()
    except (OSError, ValueError):
        return raw
    raw.flush()
    return io.BufferedWriter(_Bounded(fd, until, name), io.DEFAULT_BUFFER_SIZE * 8)


def flushed_at_last(out, seconds: float) -> None:
    """What a failed or stopped run had written, handed to a reader that takes it within
    ``seconds`` (the run's time may be up: a reader that reads still gets it)."""
    if isinstance(raw := getattr(out, "raw", None), _Bounded):
        raw.until = time.monotonic() + seconds
    with contextlib.suppress(Exception):
        out.flush()


LAST_WORDS = 2.0  # seconds a failed run's last records wait for a reader


class Stalled(CcauditError):
    """A stream's reader took nothing more in the time there was."""


class _Bounded(io.RawIOBase):
    """A pipe or device written only while --timeout lasts: a reader that stopped reading,
    but held the pipe open, held the run for ever. Its descriptor stays open."""

    def __init__(self, fd: int, until: float, name: str):
        self.fd, self.until, self.name = fd, until, name
        self.most = 2**20 if stat.S_ISREG(os.fstat(fd).st_mode) else select.PIPE_BUF  # room select promises

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        while not select.select([], [self.fd], [], min(max(0.0, self.until - time.monotonic()), 3600))[1]:
            if time.monotonic() >= self.until:  # (an hour at a time: select takes no --timeout of 1e10 s)
                raise Stalled(f"timed out (--timeout) while {self.name} took no more")
        with contextlib.suppress(BlockingIOError):  # (a descriptor another process made non-blocking: asked again)
            return os.write(self.fd, memoryview(data)[:self.most])
        return 0

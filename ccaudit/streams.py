"""Small binary streams the readers of dumps hand on in place of the one they read."""
from __future__ import annotations

import io
import os
import select
from collections.abc import Callable
from typing import Any, BinaryIO

from .errors import CUT, NO_STREAM

BLOCK = 1 << 16  # compressed bytes read at a time
SQLITE_MAGIC = b"SQLite format 3\x00"  # an SQLite file's first bytes: a store given as a dump
BUFFER = 1 << 18  # bytes per read of a dump: big enough to amortise, small enough to keep workers lean


class Broken(io.BufferedIOBase):
    """A stream whose read failed: every read raises that error again, so whoever reads
    on meets the break where the stream it stands for broke."""

    def __init__(self, error: BaseException):
        super().__init__()
        self.error = error

    def peek(self, size: int = 0) -> bytes:
        raise self.error

    def read(self, size: int | None = -1) -> bytes:
        raise self.error

    read1 = read


class Joined(io.RawIOBase):
    """``head`` and then the rest of ``stream``, as one stream: bytes already read from
    ``stream`` (to find a document's shape, or an item's end) put back in front of it."""

    def __init__(self, head: bytes | bytearray, stream: BinaryIO):
        self.head, self.at, self.stream = memoryview(head), 0, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        if self.at < len(self.head):
            data: memoryview | bytes = self.head[self.at:self.at + len(buf)]
            self.at += len(data)
        else:
            data = getattr(self.stream, "read1", self.stream.read)(len(buf))
        buf[:len(data)] = data
        return len(data)


class Waiting(io.RawIOBase):
    """A stream's raw reads (stdin, a FIFO), ``idle()`` called before one once nothing has
    come for IDLE seconds: a load then commits the records read so far, which it held, and
    the store's write lock with them, for as long as the producer paused (a consume
    command waiting for new messages, stopped at last with Ctrl-C, which lost them)."""

    IDLE = 0.5  # seconds: a pipe emptied for a moment by a fast reader is not idle

    def __init__(self, raw: io.RawIOBase, owned: bool):
        super().__init__()
        self.raw, self.owned = raw, owned  # owned: closed with this one (a FIFO's, not stdin's)
        self.idle: Callable[[], object] | None = None

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.raw.fileno()

    def tell(self) -> int:  # stdin from a file: where the load is, for its progress
        return self.raw.tell()

    def close(self) -> None:
        if self.owned and not self.closed:
            self.raw.close()
        super().close()

    def readinto(self, buf) -> int:  # type: ignore[override]
        if self.idle is not None:
            try:
                ready: list | bool = select.select([self.raw], [], [], self.IDLE)[0]
            except (OSError, ValueError):  # no descriptor to wait on (a program's own stream)
                ready = True
            if not ready:
                self.idle()
        return self.raw.readinto(buf)


class Prompt(io.RawIOBase):
    """``stream``'s bytes as they come: a read gives what one read of the stream gives, as
    ``read1`` does, where a decompressor's read of 8 KiB waited for all of it, and a
    stream's records that had come waited with them for its producer (``Waiting``)."""

    def __init__(self, stream: BinaryIO):
        super().__init__()
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        data = self.stream.read1(len(buf))  # type: ignore[attr-defined]
        buf[:len(data)] = data
        return len(data)


class Counted(Joined):
    """``stream``, counting the bytes read through it (``given``): how much input a batch of
    rows came from, whatever the rows hold."""

    def __init__(self, stream: BinaryIO):
        super().__init__(b"", stream)
        self.given = 0

    def readinto(self, buf) -> int:  # type: ignore[override]
        n = super().readinto(buf)
        self.given += n
        return n


class Decompressed(io.RawIOBase):
    """bz2 or xz streams, one after another, as ``bz2.open`` and ``lzma.open`` read them,
    but for what follows the last one: they take bytes that do not start a stream for the
    end of the input, and dropped every record appended after it without a word. Here
    they are an error (``OSError`` or ``LZMAError``), as for gzip; zero bytes there are
    padding (xz's, and a tape's), as gzip takes them."""

    def __init__(self, raw: BinaryIO, decompressor: Callable[[], Any], magic: bytes):
        self.raw, self.new, self.magic = raw, decompressor, magic
        self.d = decompressor()

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        out = b""
        while not out:
            if self.d.eof:
                data = self._next_stream()
                if data is None:
                    return 0
                if not (data.startswith(self.magic) or self.magic.startswith(data)):  # not "Invalid data stream",
                    raise OSError(NO_STREAM)  # which is damage
                self.d = self.new()
            elif self.d.needs_input:
                data = self.raw.read(BLOCK)
                if not data:
                    raise EOFError(CUT)
            else:
                data = b""
            out = self.d.decompress(data, len(buf))
        buf[:len(out)] = out
        return len(out)

    def _next_stream(self) -> bytes | None:
        """The first bytes after the stream that ended, past any zero padding; None at the end."""
        data = self.d.unused_data.lstrip(b"\0")
        while not data:
            data = self.raw.read(BLOCK)
            if not data:
                return None
            data = data.lstrip(b"\0")
        return data


def first_bytes(stream: BinaryIO, n: int) -> tuple[bytes, BinaryIO]:
    """The first ``n`` bytes of ``stream`` (fewer only at its end), and a stream that still
    begins with them: a pipe's first read may hold fewer (a gzip header that came one byte
    first was taken for text)."""
    head = stream.peek(n)[:n]  # type: ignore[attr-defined]
    if len(head) >= n or not head:
        return head, stream
    head = stream.read(n)
    return head, io.BufferedReader(Joined(head, stream), BUFFER)  # type: ignore[return-value, arg-type]


def made_blocking(stream: object) -> int | None:
    """The descriptor of ``stream`` if it was non-blocking and is now blocking (for the
    caller to give back): a parent (a CI runner written for Node, say) can hand a
    non-blocking pipe, whose reads give None before data comes, which a read took for the
    input's end (a dump loaded as empty, exit 0), and whose writes drop what does not fit."""
    try:
        fd = stream.fileno()  # type: ignore[attr-defined]
        if os.get_blocking(fd):
            return None
        os.set_blocking(fd, True)
        return fd
    except (AttributeError, OSError, ValueError):  # no descriptor (a program's own stream), or closed
        return None


def discard(fd: int) -> None:
    """Point standard output or error (``fd``) at /dev/null, so that the flush at exit
    neither fails nor writes what is left."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), fd)

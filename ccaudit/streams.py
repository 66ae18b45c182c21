"""Two small binary streams the readers of dumps hand on in place of the one they read."""
from __future__ import annotations

import io
from typing import BinaryIO


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

    def __init__(self, head: bytes, stream: BinaryIO):
        self.head, self.at, self.stream = memoryview(head), 0, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        if self.at < len(self.head):
            data = self.head[self.at:self.at + len(buf)]
            self.at += len(data)
        else:
            data = getattr(self.stream, "read1", self.stream.read)(len(buf))
        buf[:len(data)] = data
        return len(data)

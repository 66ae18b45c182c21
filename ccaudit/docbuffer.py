"""The read buffer of a JSON document (``jsondoc``): blocks read ahead, kept from the one index
that must survive a refill, and the blanks and noise lines between a document's items stepped over."""
from __future__ import annotations

import re
from typing import BinaryIO

from .errors import READ_ERRORS
from .shape import NOISE
from .stats import LoadStats

SPACE = re.compile(rb"\s*")
_NOISE_LOOK, _NOISE_FIRST = max(map(len, NOISE)), {n[:1] for n in NOISE}  # bytes read ahead to tell a noise line


class Buffer:
    """``buf``, the input from position ``base`` on, read ``block`` bytes at a time.

    Indexes into ``buf`` move when it is refilled: the methods that refill it take the
    one index that must survive and return it moved. A read that fails (a damaged
    compressed file) ends the buffer (``broken``): the error is raised again after what came before.
    """

    def __init__(self, stream: BinaryIO, stats: LoadStats, at: int, block: int):
        self.stream, self.stats, self.block = stream, stats, block
        self.read = getattr(stream, "read1", stream.read)
        self.buf, self.base, self.eof = b"", at, False  # base: input position of buf[0]
        self.broken: BaseException | None = None

    def past_noises(self, start: int, space: re.Pattern = SPACE) -> int:
        """Past ``space`` and the noise lines at ``start``, each counted."""
        start = self.skip_space(start, space)
        while self.buf[start:start + 1] in _NOISE_FIRST and (past := self.past_noise(start)) is not None:
            start = self.skip_space(past, space)
        return start

    def past_noise(self, start: int) -> int | None:
        """Where the line at ``start`` ends if it is noise (``% Headers: ...`` after each
        record of a consume command's dump, ``Headers: ...``), counted as such; else None.
        The caller has read far enough ahead to tell (``skip_space``): a read
        here would move the buffer under its ``start``."""
        if not self.buf.startswith(NOISE, start):
            return None
        self.stats.noise_lines += 1
        while (end := self.buf.find(b"\n", start)) < 0 and not self.eof:
            start = len(self.buf)  # a long one is not kept
            start -= self.more(start)
        return len(self.buf) if end < 0 else end + 1

    def more(self, keep: int) -> int:
        """Read the next block, keeping the buffer from ``keep`` on; how far it moved."""
        try:
            block = self.read(self.block)
        except READ_ERRORS as e:
            self.broken, block = e, b""
        if not block:
            self.eof = True
            return 0
        self.buf, self.base = self.buf[keep:] + block, self.base + keep
        return keep

    def skip_space(self, i: int, space: re.Pattern = SPACE) -> int:
        """Past ``space`` from ``i``, with enough read after it to tell a noise line (or the end)."""
        while True:
            i = space.match(self.buf, i).end()  # type: ignore[union-attr]
            if len(self.buf) - i >= _NOISE_LOOK or self.eof:
                return i
            i -= self.more(i)

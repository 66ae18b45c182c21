"""A guard in front of ijson: absurd nesting and oversize items are refused in flat memory.

ijson builds each item from parse events whose prefixes grow with the depth, so an item
nested 100,000 deep costs it gigabytes, and it holds a whole string item in memory however
long. The guard watches the bytes on their way to ijson and stops the read when the
nesting passes MAX_DEPTH or one item runs past the record size limit, which every input
shape shares. It tracks strings (brackets inside them do not count) and looks only at
bracket characters, so it costs a fraction of ijson's own time.
"""
from __future__ import annotations

import re
from itertools import accumulate

MAX_DEPTH = 64  # no audit record nests past a dozen levels; a hostile file does
_STRING_BODY = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.S)  # a string's content, without its end
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # every byte but the brackets, to delete
_ESCAPE = re.compile(rb"\\.", re.S)
_NOT_TOKENS = bytes(range(256)).translate(None, b'[]{}"\\')  # every byte but quotes, brackets, backslash
_BRACKET = re.compile(rb"[\[\]{}]")
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 / -1 as signed bytes
_SCALAR = b"0123456789+-.eEtruefalsn"  # the bytes of an item outside strings and brackets


class Refused(Exception):
    """The guard stops the read; ``at`` is where, in the block fed: the bytes before it
    are fine, so the records they finish can still be read."""

    def __init__(self, at: int):
        super().__init__(at)
        self.at = at


class TooDeep(Refused):
    """Nesting passed MAX_DEPTH."""


class TooLarge(Refused):
    """One item ran past the record size limit."""


class Guard:
    """Feed it every block in order; it raises TooDeep or TooLarge. ``base`` is the depth
    between items: 1 inside an array, 0 for objects one after another."""

    def __init__(self, base: int, max_item: int):
        self.base, self.max_item = base, max_item
        self.depth, self.in_string, self.escaped = 0, False, False
        self.offset = 0  # input bytes seen before the current block
        self.item_from = 0  # where the current item began, or the start of the block it began in

    def feed(self, data: bytes) -> None:
        """Take the next block; raise TooDeep or TooLarge (with where in it).

        A fast scan (escapes dropped by one regex, strings by splitting at quotes, brackets
        counted in C) decides; only a block it refuses is scanned again string by string,
        to say exactly where."""
        state = (self.depth, self.in_string, self.escaped, self.item_from)
        try:
            self._scan_fast(data)
        except Refused:
            self.depth, self.in_string, self.escaped, self.item_from = state
            self._scan_exact(data)  # raises, unless the item's true start was later in the block
        finally:
            self.offset += len(data)

    def _scan_fast(self, data: bytes) -> None:
        """Escapes dropped, then only quotes and brackets kept: quotes now alternate
        strictly, so splitting at them leaves what is outside strings at even places."""
        scalar, string = not self._inside(), self.in_string
        pos = self._string_end(data, 0) if string else 0
        if string and not self.in_string and self.depth <= self.base:
            self.item_from = self.offset  # a string item ended in this block: the next one began in it
        rest = data[pos:]
        if b"\\" in rest:
            rest = _ESCAPE.sub(b"", rest)  # a lone backslash can only be left at the very end
        parts = rest.translate(None, _NOT_TOKENS).split(b'"')
        if not self.in_string:
            self.in_string = len(parts) % 2 == 0
            self.escaped = self.in_string and parts[-1].endswith(b"\\")
        steps = b"".join(parts[::2]).translate(None, _BRACKETS)
        if steps:
            depths = list(accumulate(memoryview(steps.translate(_STEP)).cast("b"), initial=self.depth))
            if max(depths) > MAX_DEPTH:
                raise TooDeep(0)
            self.depth = depths[-1]
            if min(depths) <= self.base:
                self.item_from = self.offset  # an item ended in this block: a new one began after
        self._check_size(data, scalar)

    def _scan_exact(self, data: bytes) -> None:
        pos, scalar = 0, not self._inside()
        while pos < len(data):
            if self.in_string:
                pos = self._string_end(data, pos)
                continue
            quote = data.find(b'"', pos)
            end = len(data) if quote < 0 else quote
            self._brackets(data[pos:end], pos)
            if quote < 0:
                break
            if self.depth <= self.base:  # a string item begins
                self.item_from = self.offset + quote
            self.in_string, pos = True, quote + 1
        self._check_size(data, scalar)

    def _check_size(self, data: bytes, scalar: bool) -> None:
        """After a block: is the current item past the limit? Outside strings and brackets
        an item is a number (or true, false, null): ``scalar`` if the block began in one.
        One that reaches the block's end began after its last other byte; one that ended in
        the block made way for an item that began in it, at its start or later."""
        end = self.offset + len(data)
        if not self._inside():
            tail = len(data) - len(data.rstrip(_SCALAR))
            if tail < len(data) or not scalar:
                self.item_from = end - tail
        elif scalar and data.strip(_SCALAR):
            self.item_from = max(self.item_from, self.offset)
        if end - self.item_from > self.max_item:
            raise TooLarge(max(0, self.item_from + self.max_item - self.offset))

    def _inside(self) -> bool:
        return self.depth > self.base or self.in_string

    def _string_end(self, data: bytes, pos: int) -> int:
        """Where the string that ``pos`` is in ends (one past its quote), or len(data)."""
        if self.escaped:  # the block before ended with the backslash of an escape
            self.escaped, pos = False, pos + 1
        end = _STRING_BODY.match(data, pos).end()  # type: ignore[union-attr]
        if end == len(data):
            return end
        if data[end:end + 1] == b"\\":  # a backslash whose escaped byte is in the next block
            self.escaped = True
            return len(data)
        self.in_string = False
        return end + 1

    def _brackets(self, segment: bytes, at: int) -> None:
        steps = segment.translate(None, _BRACKETS)
        if not steps:
            return
        depths = list(accumulate(memoryview(steps.translate(_STEP)).cast("b"), initial=self.depth))
        if max(depths) > MAX_DEPTH:
            nth = next(i for i, d in enumerate(depths) if d > MAX_DEPTH) - 1
            raise TooDeep(at + [m.start() for m in _BRACKET.finditer(segment)][nth])
        was_inside = self.depth > self.base
        self.depth = depths[-1]
        if min(depths) <= self.base or not was_inside:
            self.item_from = self.offset + at  # an item ended or began in this segment

"""Records of a JSON document: one array of records, or objects one after another
(pretty-printed or not), in constant memory.

The fast way cuts the text where one record can end and the next begin (``}``, ``,``,
``{`` in an array; ``}``, ``{`` between objects; any whitespace around them) and decodes
each piece with msgspec, as the line path does. Such a place can also lie inside a record
(an array of objects in it, or a string); the piece then decodes as cut short and grows to the
next place. A piece that starts where a record starts and decodes is that whole record:
no proper prefix of a JSON object is valid JSON.

Anything else -- an item that is not an object, a syntax error, a cut record, text after
the array -- hands the rest of the input to ijson, which streams it item by item and
reports where it stopped. ijson alone decodes about five times slower.
"""
from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, BinaryIO, Iterator

import msgspec

from .classify import MAX_RECORD, Record, classify, decode, decode_struct, from_object

if TYPE_CHECKING:
    from .ingest import LoadStats

BLOCK = 1 << 20
MAX_TRIES = 64  # places tried inside one record (each a decode from its start) before ijson takes over
_BETWEEN = {True: re.compile(rb"\}\s*,\s*\{"), False: re.compile(rb"\}\s*\{")}  # array, objects
_SPACE = re.compile(rb"\s*")
_TOO_DEEP = b"[" * 64  # no audit record nests arrays like this; a hostile file does


def json_rows(stream: BinaryIO, label: str, stats: LoadStats, array: bool) -> Iterator[tuple]:
    """Rows for the records of a JSON array (``array``) or of concatenated objects.

    A syntax error cannot be stepped over: it is one malformed entry at its byte
    position, with the number of bytes left unread. That includes anything after the
    array ends: a dump is one array, or a stream of objects, not a mixture.
    """
    pieces = _Records(stream, array)
    n = 0
    for record in pieces:
        n += 1
        try:
            row = classify(record)
        except (ValueError, RecursionError):
            row = "not a JSON object"
        if row.__class__ is str:
            stats.bad(label, f":item {n}", row)
        else:
            stats.records_read += 1
            yield row
    if pieces.rest is not None:
        yield from _ijson_rows(pieces.rest, pieces.rest_at, label, stats, array, n)


class _Records:
    """The records of the input, cut as the module says, until the first thing that is
    not plainly a record: then ``rest`` is a stream of the input from there on (after a
    ``[``, for an array) and ``rest_at`` the input position of its first byte.

    Indexes into ``buf`` move when it is refilled: the methods that refill it take the
    one index that must survive and return it moved.
    """

    def __init__(self, stream: BinaryIO, array: bool):
        self.stream, self.array = stream, array
        self.between = _BETWEEN[array]
        self.read = getattr(stream, "read1", stream.read)
        self.buf, self.base, self.eof = b"", 0, False  # base: input position of buf[0]
        self.rest: BinaryIO | None = None
        self.rest_at = 0

    def __iter__(self) -> Iterator[Record]:
        start = self._skip_space(0)
        if self.array:
            if self.buf[start:start + 1] != b"[":
                self._leave(start)
                return
            start += 1
        while True:
            start = self._skip_space(start)
            first = self.buf[start:start + 1]
            if first != b"{":  # the end, or something ijson must judge (including "]")
                if first or self.array:
                    self._leave(start)
                return
            start, end, record, after = self._record_at(start)
            if record is None:
                self._leave(start)
                return
            yield record
            start = after

    def _record_at(self, start: int) -> tuple:
        """(start, end, record, start of what follows) for the record at ``start``;
        record None if there is none to be had the fast way."""
        pos = start
        for _ in range(MAX_TRIES):
            m = self.between.search(self.buf, pos)
            if m is None:
                if self.eof:
                    return self._last_record(start)
                if len(self.buf) - start > MAX_RECORD:
                    break
                moved = self._more(start)
                start, pos = start - moved, pos - moved
                continue
            record = _record(self.buf[start:m.start() + 1])
            if record is not _CUT:
                return start, m.start() + 1, record, m.end() - 1
            pos = m.end() - 1
        return start, 0, None, 0

    def _last_record(self, start: int) -> tuple:
        """The record that ends the input, before the array's ``]`` (left to ijson to check)."""
        end = after = len(self.buf.rstrip())
        if self.array:
            if self.buf[end - 1:end] != b"]":
                return start, 0, None, 0
            after = end - 1
            end = len(self.buf[:after].rstrip())
        record = _record(self.buf[start:end])
        return start, end, None if record is _CUT else record, after

    def _more(self, keep: int) -> int:
        """Read the next block, keeping the buffer from ``keep`` on; how far it moved."""
        block = self.read(BLOCK)
        if not block:
            self.eof = True
            return 0
        self.buf, self.base = self.buf[keep:] + block, self.base + keep
        return keep

    def _skip_space(self, i: int) -> int:
        while True:
            i = _SPACE.match(self.buf, i).end()  # type: ignore[union-attr]
            if i < len(self.buf) or self.eof:
                return i
            i -= self._more(i)

    def _leave(self, start: int) -> None:
        """Hand the input from ``start`` on to ijson."""
        self.rest = _Joined((b"[" if self.array else b"") + self.buf[start:], self.stream)
        self.rest_at = self.base + start - (1 if self.array else 0)


_CUT = object()  # a piece that ends inside its record: try a longer one


def _record(piece: bytes) -> Record | object | None:
    """``piece`` decoded if it is one whole JSON object; _CUT if it may be the start of
    one; None if it is something else."""
    try:
        record = decode_struct(piece)
    except msgspec.ValidationError:  # valid JSON of an odd shape: the lenient way
        record = None
    except msgspec.DecodeError as e:
        return _CUT if "truncated" in str(e) else None
    except RecursionError:
        return None
    if not piece.isascii():  # msgspec skips the fields it does not read without checking them
        try:
            piece.decode()
        except UnicodeDecodeError:
            return None
    return record if record is not None else _lenient_record(piece)


def _lenient_record(piece: bytes) -> Record | None:
    try:
        return decode(piece)
    except (msgspec.ValidationError, RecursionError):
        return None


class _Joined(io.RawIOBase):
    """``head`` and then the rest of ``stream``, as one stream."""

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


# -- ijson: the careful way ------------------------------------------------------------

def _ijson_rows(stream: BinaryIO, at: int, label: str, stats: LoadStats, array: bool, n: int) -> Iterator[tuple]:
    """Rows for the items of ``stream`` (whose first byte is at input position ``at``),
    numbered after ``n``."""
    import ijson  # only odd documents need it

    counted = _Counting(stream)
    items = ijson.items(counted, "item" if array else "", multiple_values=not array, use_float=True)
    try:
        for obj in items:
            n += 1
            try:
                row = classify(from_object(obj))
            except (msgspec.ValidationError, ValueError, RecursionError):
                row = "not a JSON object"
            if row.__class__ is str:
                stats.bad(label, f":item {n}", row)
            else:
                stats.records_read += 1
                yield row
    except (ijson.JSONError, UnicodeDecodeError, _TooDeep) as e:
        where, left = at + counted.consumed, _drain(stream)
        stats.bad(label, f"@byte {where}", f"{_ijson_reason(e)}; stopped reading, {left} bytes left unread")


class _Counting(io.RawIOBase):
    """Hands ``stream`` to ijson, counting the bytes taken (to say where it stopped) and
    refusing absurd nesting, which costs ijson memory quadratic in its depth."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        data = getattr(self._stream, "read1", self._stream.read)(len(buf))
        if _TOO_DEEP in data:  # a plain substring search: a regex here costs seconds per GB
            raise _TooDeep
        n = len(data)
        buf[:n] = data
        self.consumed += n
        return n


class _TooDeep(Exception):
    pass


def _ijson_reason(e: Exception) -> str:
    text = str(e)
    if isinstance(e, UnicodeDecodeError):
        return "invalid UTF-8"
    if isinstance(e, _TooDeep):
        return "JSON nested too deep"
    if "premature EOF" in text or "Incomplete JSON" in text:
        return "JSON cut short"
    if "trailing garbage" in text or "Additional data" in text:
        return "text after the JSON array"
    return "invalid JSON"


def _drain(stream) -> int:
    left = 0
    while chunk := stream.read(BLOCK):
        left += len(chunk)
    return left

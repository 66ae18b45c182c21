"""Records of a JSON document read the careful way, with ijson, from where the fast way
(``jsondoc``) could not go on: ijson reports where it stops, and guards (``nesting``)
keep a deep or huge item from costing memory. Also the rows of either way's items.
"""
from __future__ import annotations

import io
from collections.abc import Generator, Iterable, Iterator
from typing import Any, BinaryIO

import msgspec

from .classify import classify
from .decoding import READ, Malformed, Record, check_syntax, error_byte, from_object
from .nesting import Guard, Refused, TooDeep, TooLarge
from .pruned import kept_items
from .schema import MAX_RECORD
from .stats import LoadStats
from .streams import Broken

BLOCK = 1 << 20


def item_rows(records: Iterable[Record | Malformed | tuple | None], label: str, stats: LoadStats,
              n: int) -> Generator[tuple, None, int]:
    """Rows for ``records`` (None: an item that is not an object; Malformed: one that is
    whole JSON but not a usable one; a tuple: a row read as a line is), numbered after
    ``n`` (for the malformed ones); returns the last number."""
    for record in records:
        n += 1
        try:
            if record is None:
                raise Malformed("not a JSON object")
            if record.__class__ is Malformed:
                raise record
            row = record if record.__class__ is tuple else classify(record)  # type: ignore[arg-type]  # narrowed above
        except Malformed as e:
            n -= bool(e.place)  # a syntax error between items, or in place of some: no item of its own
            stats.bad(label, e.place or f":item {n}", e.why)
            continue
        except (ValueError, RecursionError):
            stats.bad(label, f":item {n}", "not a JSON object")
            continue
        stats.records_read += 1
        yield row
    return n


def ijson_rows(stream: BinaryIO, at: int, label: str, stats: LoadStats, array: bool, n: int,
               head: bytes = b"") -> Iterator[tuple]:
    """Rows for the items of ``stream`` (whose first byte is at input position ``at``, and
    whose first bytes are ``head``), numbered after ``n``."""
    import ijson  # only odd documents need it

    counted = _Guarded(stream, Guard(base=1 if array else 0, max_item=MAX_RECORD))
    items = kept_items(ijson.basic_parse(counted, multiple_values=not array, use_float=True), READ, array)
    try:
        yield from item_rows(map(_from_object, items), label, stats, n)
    except (ijson.JSONError, UnicodeDecodeError, TooDeep, TooLarge) as e:
        end = at + counted.consumed  # where ijson's last read ended: the trouble is in that read
        first = _syntax_error_at(head) if isinstance(e, ijson.JSONError) else None
        where = end if first is None else min(end, at + first)
        left = end - where + counted.dropped + drain(stream)
        stats.cut_short(label, f"@byte {where}", _ijson_reason(e) + stopped(left))
    finally:
        counted.close()


def _syntax_error_at(head: bytes) -> int | None:
    """Where in ``head`` msgspec finds a syntax error, if it finds one before ``head`` ends
    (in the first value: objects one after another are "trailing characters" to it, but a
    trailing comma is the error)."""
    try:
        check_syntax(head)
    except msgspec.DecodeError as e:
        return error_byte(str(e)) if "trailing characters" not in str(e) else None
    except RecursionError:
        pass
    return None


def _from_object(obj: Any) -> Record | None:
    try:
        return from_object(obj)
    except (ValueError, RecursionError):  # msgspec.ValidationError is a ValueError
        return None


class _Guarded(io.RawIOBase):
    """Hands ``stream`` to ijson through ``guard`` (nesting.py), counting the bytes taken
    (to say where it stopped)."""

    def __init__(self, stream: BinaryIO, guard: Guard):
        self._stream, self._guard = stream, guard
        self._refused: Refused | None = None
        self.consumed = self.dropped = 0  # bytes handed to ijson / read but held back

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Let go of the stream and of a refusal. ijson's parser holds this reader, and the
        cycle collector cannot see into the parser: a cycle through it (an error raised from
        ``readinto`` or from the stream holds their frames) was never freed, and each
        document broken so was kept, buffers and all, until the process ended."""
        self._refused, self._stream = None, Broken(ValueError("read after close"))  # type: ignore[assignment]
        super().close()

    def readinto(self, buf) -> int:  # type: ignore[override]
        # The guard checks an item's size where a read ends: no read may hold a whole
        # item over the limit (a no-op at the real limit, far above ijson's reads).
        if self._refused:
            raise self._refused
        size = min(len(buf), self._guard.max_item)
        data = getattr(self._stream, "read1", self._stream.read)(size)
        try:
            self._guard.feed(data)
        except Refused as e:  # hand on what comes before, so the items it ends are read
            self._refused, self.dropped, data = e, len(data) - e.at, data[:e.at]
            if not data:
                raise
        n = len(data)
        buf[:n] = data
        self.consumed += n
        return n


def _ijson_reason(e: Exception) -> str:
    text = str(e)
    if isinstance(e, UnicodeDecodeError):
        return "invalid UTF-8"
    if isinstance(e, TooDeep):
        return "JSON nested too deep"
    if isinstance(e, TooLarge):
        return f"an item larger than {MAX_RECORD} bytes"
    if "premature EOF" in text or "Incomplete JSON" in text:
        return "JSON cut short"
    if "trailing garbage" in text or "Additional data" in text:
        return "text after the JSON array"
    return "invalid JSON"


def stopped(unread: int) -> str:
    """What follows why a document stopped being read: how much of it was left unread (in
    digits alone, for a reader to take), if any ("stopped reading, 0 bytes left unread"
    read as if nothing had been read)."""
    return f"; stopped reading, {unread} byte{'' if unread == 1 else 's'} left unread" if unread else ""


def drain(stream) -> int:
    left = 0
    while chunk := stream.read(BLOCK):
        left += len(chunk)
    return left

"""Records of a JSON document: one array of records, or objects one after another
(pretty-printed or not), in constant memory.

The fast way cuts the text where one item can end and the next begin (``}``, ``,``,
``{`` in an array; ``}``, ``{`` between objects; any whitespace around them; a ``,`` after
an array item that is not an object) and decodes each piece with msgspec, as the line path
does. Such a place can also lie inside an item (an array of objects in it, or a string);
the piece then decodes as cut short and grows to the next place. A piece that starts
where an item starts and decodes is that whole item: no proper prefix of a JSON object
or array is valid JSON.

Between objects, a line of a consume command's noise (``% Headers: ...``) is counted and
skipped, as in a file of lines; and what the fast way cannot decode (a record cut in half)
is one malformed item, reading going on at the next line that starts with ``{``.

In an array, a syntax error or a record cut in half -- anything the fast way cannot
decode -- hands the rest of the input to ijson, which reports where it stopped (it cannot step over a
syntax error either). ijson alone decodes about five times slower. An item whose syntax
is whole but whose text or number msgspec refuses is one malformed item, and text after
the array's end is reported where it starts, both without ijson.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import msgspec

from .careful import drain, ijson_rows, item_rows, unread
from .decoding import Malformed, Record, check_syntax, crowded, decode, decode_refused
from .errors import READ_ERRORS
from .lines import piece_rows
from .schema import MAX_RECORD
from .shape import NOISE
from .stats import LoadStats
from .streams import Broken, Joined

BLOCK = 1 << 20
MAX_TRIES = 64  # places tried inside one item (each a decode from its start) before ijson takes over
# What may come between two items, from the first's "}" to the second's "{" (array, objects).
# Between objects, also a noise line, or a line after a "}" that begins its own (a pretty
# object's end) and that no JSON goes on with (not "}", "]" or ","; indent=0 puts an inner
# object's "}" at a line's start too): the match then ends on a space before that line, for
# the noise to be counted or the line to be read as what it is. Without them, each object of
# a consume command's dump of pretty ones was read up to the end of the input or the record
# limit: 4,000 took 5 s.
_BETWEEN = {True: re.compile(rb"\}\s*,\s*\{"),
            False: re.compile(rb"\}\s*\{|\}[ \t\r]*\n\s*(?=%|Headers:)|(?<=\n)\}[ \t\r]*\n(?=\s*[^\s\]},])")}
_COMMA = re.compile(rb"\s*,\s*")
_OBJECT_LINE = re.compile(rb"\n(?:\xef\xbb\xbf)?\{")  # a line an object starts (a file's BOM first: cat)
_NOISE_LOOK = max(map(len, NOISE))  # bytes read ahead to tell a noise line
_NOISE_FIRST = {n[:1] for n in NOISE}
_SPACE = re.compile(rb"\s*")
_SPACE_OR_MARK = re.compile(rb"(?:\s|\xef\xbb\xbf)*")  # between objects: `cat` of files PowerShell wrote, a BOM each
_PADDING = re.compile(rb"[\s\x00]*")  # after an array's end: zero bytes too, as after a compressed stream
_any = msgspec.json.Decoder().decode
_TRAILING = re.compile(r"trailing characters \(byte (\d+)\)")  # msgspec's words for it


def json_rows(stream: BinaryIO, label: str, stats: LoadStats, array: bool, at: int = 0) -> Iterator[tuple]:
    """Rows for the records of a JSON array (``array``) or of concatenated objects, whose
    first byte is at input position ``at`` (after a byte-order mark).

    In an array, a syntax error cannot be stepped over: it is one malformed entry at its
    byte position, with the number of bytes left unread. That includes anything after the
    array ends: a dump is one array, or a stream of objects, not a mixture. Between
    objects, what is no object is read as lines are (``lines.piece_rows``), up to the next
    line that starts with ``{``.
    """
    items = _Items(stream, array, stats, at)
    n = yield from item_rows(items, label, stats, 0)
    if items.stopped:
        stats.cut_short(label, f"@byte {items.rest_at}", f"{items.stopped}; stopped reading, "
                        f"{unread(drain(items.rest))}")
    elif items.rest is not None:
        yield from ijson_rows(items.rest, items.rest_at, label, stats, array, n, items.rest_head)


_CUT, _BAD, _DEEP = object(), object(), object()  # a piece cut short / not an item / nested too deep


class _Items:
    """The records of the input (None for an array item that is not an object), cut as
    the module says, until the first thing the fast way cannot decode: then ``rest`` is
    a stream of the input from there on (after a ``[``, for an array), ``rest_at`` the
    input position of its first byte, and ``stopped`` says why, if no careful reading
    can go on from there: nesting too deep, or text after the array's end.

    Indexes into ``buf`` move when it is refilled: the methods that refill it take the
    one index that must survive and return it moved. A read that fails (a damaged
    compressed file) ends the buffer; the error is raised again after what came before.
    """

    def __init__(self, stream: BinaryIO, array: bool, stats: LoadStats, at: int = 0):
        self.stream, self.array, self.stats = stream, array, stats
        self.read = getattr(stream, "read1", stream.read)
        self.buf, self.base, self.eof = b"", at, False  # base: input position of buf[0]
        self.broken: BaseException | None = None
        self.opened = False  # the array's "[" was read
        self.rest: BinaryIO | None = None
        self.rest_at, self.rest_head, self.stopped = 0, b"", ""
        self.wrong = False  # an item is whole, but what follows it is not a separator: stop there

    def __iter__(self) -> Iterator[Record | None]:
        start = self._past_noises(0)  # before an array too: the shape was told apart past them
        if self.array and self.buf[start:start + 1] == b"[":
            self.opened, start = True, start + 1
        while self.opened or not self.array:
            if self.array:
                start = self._skip_space(start, ahead=_NOISE_LOOK)
            else:
                start = self._past_noises(start, _SPACE_OR_MARK)
            first = self.buf[start:start + 1]
            if first == b"{":
                start, item, after = self._item_at(start, _BETWEEN[self.array], _record)
            elif self.array and first not in (b"]", b""):
                start, item, after = self._item_at(start, _COMMA, _other)
            elif first == b"]" and self.array:
                start = self._past_noises(start + 1, _PADDING)  # noise after it too, as between objects
                if start < len(self.buf):
                    self.stopped = "text after the JSON array"
                    break
                if self.broken:
                    raise self.broken
                return
            elif first:  # a value between objects that is not one
                start, item, after = self._on_its_line(start)
            elif self.array:  # no end of the array
                break
            elif self.broken:
                raise self.broken
            else:
                return
            if item is _BAD and not self.array:  # in objects, go on at the next that starts a line
                start, after = self._next_object(start)
                if after is not None:
                    yield from piece_rows(self.buf[start:after], self.stats)
                    start = after
                    continue
            if item is _BAD or item is _DEEP:
                self.stopped = "JSON nested too deep" if item is _DEEP else ""
                break
            yield item
            start = after
            if self.wrong:
                self.stopped = "invalid JSON"
                break
        self._leave(start, bracket=not self.stopped)

    def _item_at(self, start: int, between: re.Pattern, read_one: Callable[[bytes], Any]) -> tuple:
        """(start, item or _BAD/_DEEP, start of what follows) for the item at ``start``."""
        pos, tries = start, 0
        brace = between is not _COMMA  # the "}" a record separator starts with is the record's
        while tries < MAX_TRIES:
            m = between.search(self.buf, pos, start + MAX_RECORD)  # beyond it, _to_its_end decodes up to it
            if m is None:
                if self.eof or len(self.buf) - start >= MAX_RECORD:
                    break
                moved = self._more(start)
                start, pos = start - moved, pos - moved
                continue
            item, after = self._take(start, m.start() + brace, read_one)
            if item is not _CUT:
                return start, item, after if after is not None else m.end() - brace
            pos, tries = m.end(), tries + 1
        return self._to_its_end(start, read_one)

    def _to_its_end(self, start: int, read_one: Callable[[bytes], Any]) -> tuple:
        """_item_at's answer for an item whose end no separator showed: the last one, one
        with more than MAX_TRIES places inside it, or a value between objects. It is decoded
        from its start on, up to the limit, and where it ends shows as what follows it."""
        while True:
            end = min(len(self.buf), start + MAX_RECORD)
            item, after = self._take(start, end, read_one)
            done = self.eof or len(self.buf) - start > MAX_RECORD
            if item is _DEEP or item is _BAD and done:  # (the buffer may end in "1e": "invalid number")
                return start, item, 0
            if item is not _CUT and item is not _BAD and (after is not None or self.eof):
                return start, item, end if after is None else after
            if done:
                return start, _BAD, 0
            start -= self._more(start)

    def _take(self, start: int, end: int, read_one: Callable[[bytes], Any]) -> tuple:
        """(item, None) for ``buf[start:end]``; or, when an item ends before ``end`` (an
        array item that is not an object comes next), (that item, where the next starts).
        A piece over the record limit is left to ijson, whose guard refuses it."""
        if end - start > MAX_RECORD:
            return _BAD, 0
        item = read_one(self.buf[start:end])
        if item.__class__ is not _Ends:
            return item, None
        end = start + item.at - 1  # msgspec counts the first trailing byte in
        item = read_one(self.buf[start:end])
        if item is _CUT or item.__class__ is _Ends:
            return _BAD, 0
        if not self.array:
            return item, end
        close = _SPACE.match(self.buf, end).end()  # type: ignore[union-attr]
        if self.buf[close:close + 1] == b"]":  # the array ends: what follows it is checked then
            return item, close
        comma = _COMMA.match(self.buf, end)
        if comma is None or self.buf[comma.end():comma.end() + 1] == b"]":  # none, or "[..., ]"
            self.wrong = True  # the item is kept as decoded here: ijson would decode it anew, by its own rules
            return item, close if comma is None else comma.end()
        return item, comma.end()

    def _next_object(self, start: int) -> tuple[int, int | None]:
        """(start, where the next line that starts with ``{`` begins): the piece before it
        is no object (a record cut in half, a line of text, lines a consume command
        prefixed). With no such line within MAX_RECORD bytes, the piece ends at the last
        line that fits; with none before the input's end, it is the rest. But a piece that
        starts as a record does not end so: it is one over the limit, or one the input's end
        cut short (None: reading stops there, and the input is read in part).
        ``start`` moves if the buffer is refilled."""
        pos = start + 1
        while (at := _at(_OBJECT_LINE.search(self.buf, pos, start + MAX_RECORD + 1))) < 0:
            if self.eof and not (self._pretty(start) and b"\n" in self.buf[start:].rstrip()):  # lines to the end
                return start, len(self.buf)
            if self.eof:  # a record the input's end cut short: read in part
                return start, None
            if len(self.buf) - start > MAX_RECORD:  # lines up to the limit, then on from there
                end = -1 if self._pretty(start) else self.buf.rfind(b"\n", start + 1, start + MAX_RECORD)
                return (start, end + 1) if end > start else (start, None)  # (a record over the limit: refused)
            pos = max(start + 1, len(self.buf) - 4)  # a line that starts "\n", a BOM, "{" may span two blocks
            moved = self._more(start)
            start, pos = start - moved, pos - moved
        return start, at + 1

    def _pretty(self, start: int) -> bool:
        """Whether the piece at ``start`` begins as a pretty-printed record, "{" alone on
        its line: it is then one record, cut short or over the limit, not lines to read (a
        line "{...}" that is no record was taken for one, and the records after it lost)."""
        end = self.buf.find(b"\n", start)
        return self.buf[start:end if end >= 0 else len(self.buf)].strip() == b"{"

    def _on_its_line(self, start: int) -> tuple:
        """_to_its_end's answer for a value between objects, decoded from its line first: a
        line of text was read up to the record limit for each (20,000 of them: 2 minutes).
        Only a value the line does not hold whole (a pretty array) reads on."""
        while (end := self.buf.find(b"\n", start)) < 0 and not self.eof and len(self.buf) - start <= MAX_RECORD:
            start -= self._more(start)
        if end >= 0:
            item, after = self._take(start, end, _other)
            if item is not _CUT:
                return start, item, end if after is None else after
        return self._to_its_end(start, _other)

    def _past_noises(self, start: int, space: re.Pattern = _SPACE) -> int:
        """Past ``space`` and the noise lines at ``start``, each counted."""
        start = self._skip_space(start, space, _NOISE_LOOK)
        while self.buf[start:start + 1] in _NOISE_FIRST and (past := self._past_noise(start)) is not None:
            start = self._skip_space(past, space, _NOISE_LOOK)
        return start

    def _past_noise(self, start: int) -> int | None:
        """Where the line at ``start`` ends if it is noise (``% Headers: ...`` after each
        record of a consume command's dump, ``Headers: ...``), counted as such; else None.
        The caller has read far enough ahead to tell (``_skip_space``'s ``ahead``): a read
        here would move the buffer under its ``start``."""
        if not self.buf.startswith(NOISE, start):
            return None
        self.stats.noise_lines += 1
        while (end := self.buf.find(b"\n", start)) < 0 and not self.eof:
            start = len(self.buf)  # a long one is not kept
            start -= self._more(start)
        return len(self.buf) if end < 0 else end + 1

    def _more(self, keep: int) -> int:
        """Read the next block, keeping the buffer from ``keep`` on; how far it moved."""
        try:
            block = self.read(BLOCK)
        except READ_ERRORS as e:
            self.broken, block = e, b""
        if not block:
            self.eof = True
            return 0
        self.buf, self.base = self.buf[keep:] + block, self.base + keep
        return keep

    def _skip_space(self, i: int, space: re.Pattern = _SPACE, ahead: int = 1) -> int:
        """Past ``space`` from ``i``, with ``ahead`` bytes after it read (unless the input ends)."""
        while True:
            i = space.match(self.buf, i).end()  # type: ignore[union-attr]
            if len(self.buf) - i >= ahead or self.eof:
                return i
            i -= self._more(i)

    def _leave(self, start: int, bracket: bool = True) -> None:
        """Hand the input from ``start`` on to ijson (after a "[", inside an array)."""
        head = b"[" if bracket and self.array and self.opened else b""
        after: Any = Broken(self.broken) if self.broken else self.stream
        self.rest_head = head + self.buf[start:]
        self.rest = Joined(self.rest_head, after)
        self.rest_at = self.base + start - len(head)
        self.buf = b""


def _at(m: re.Match | None) -> int:
    return -1 if m is None else m.start()


def _record(piece: bytes) -> Any:
    """``piece`` as a Record if it is one whole JSON object, else _CUT, _BAD or _DEEP."""
    return _decoded(piece, decode)


def _other(piece: bytes) -> Any:
    """None if ``piece`` is one whole JSON value (an array item that is not a record),
    else what _trouble says."""
    try:
        if crowded(piece):  # its syntax alone: decoded, it could take 30 times its size
            piece.decode()
            check_syntax(piece)
        else:
            _any(piece)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as e:
        return _trouble(piece, e)
    return None


def _decoded(piece: bytes, decoder: Callable[[bytes], Any]) -> Any:
    try:
        return decoder(piece)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as e:
        return _trouble(piece, e)
    except Malformed as why:  # whole, but refused (a crowded record: decoding.decode_crowded)
        return why


def _trouble(piece: bytes, e: Exception) -> Any:
    """What a decode error says about ``piece`` (see _cause); but a piece whose syntax is
    whole, refused for a value in it (invalid UTF-8, a lone surrogate escape, 1e999), is
    one malformed item, as a line is: one such email must hide no later record."""
    cause = _cause(e)
    surrogate = b"\\ud" in piece or b"\\uD" in piece  # msgspec may call a lone one "truncated"
    if cause is _BAD and not isinstance(e, RecursionError) or cause is _CUT and surrogate:
        try:
            check_syntax(piece)
        except (msgspec.DecodeError, RecursionError) as syntax:
            return _cause(syntax)
        try:
            return decode_refused(piece, e)
        except Malformed as why:
            return why
    return cause


def _cause(e: Exception) -> Any:
    """What a decode error says about a piece: _CUT (it goes on), _Ends (an item ends
    inside it, something else follows), _DEEP or _BAD."""
    if isinstance(e, RecursionError):
        return _DEEP
    if not isinstance(e, msgspec.DecodeError):
        return _BAD
    if "truncated" in str(e):
        return _CUT
    trailing = _TRAILING.search(str(e))
    return _Ends(int(trailing[1])) if trailing else _BAD


class _Ends:
    """Where, in a piece, something follows the item that starts it (one past the first
    byte of it, as msgspec reports it)."""

    __slots__ = ("at",)

    def __init__(self, at: int):
        self.at = at

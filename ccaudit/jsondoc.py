"""Records of a JSON document: arrays of records (one, or one after another: `cat` of two dumps), or
objects one after another (pretty-printed or not), in constant memory.

The fast way cuts the text where one item can end and the next begin (``}``, ``,``, ``{`` in an
array; ``}``, ``{`` between objects; any whitespace around them; a ``,`` after an array item that is
not an object) and decodes each piece with msgspec, as the line path does. Such a place can also lie
inside an item (an array of objects in it, or a string); the piece then decodes as cut short and
grows to the next place. A piece that starts where an item starts and decodes is that whole item: no
proper prefix of a JSON object or array is valid JSON.

Between objects, a line of a consume command's noise (``% Headers: ...``) is counted and skipped, as
in a file of lines; and what the fast way cannot decode (a record cut in half) is one malformed
item, reading going on at the next line that starts with ``{``.

In an array, a syntax error is one malformed entry, and reading goes on at the next record within
the record limit (``_resumed``), as it does in a piece of an array that begins inside an item (``cut``).
Two whole items with no comma between them are an entry too, and both are read; so is a comma before
the array's end. Where no record follows, the rest of the input goes to ijson, which reports where it
stops (alone, it decodes about five times slower). An item whose syntax is whole but whose text or
number msgspec refuses is one malformed item, and text after the array's end is reported where it
starts, both without ijson (docs/design.md says more).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from .careful import drain, ijson_rows, item_rows, stopped
from .decoding import Malformed, Record
from .docbuffer import SPACE, Buffer
from .lines import keyed, piece_rows, record_on_a_line
from .pieces import BAD, CUT, DEEP, Depth, Ends, broken_inside, error_at, other_piece, record_at, record_piece
from .schema import MAX_RECORD
from .shape import CUT_LINE, NOISE, PRETTY_LOOK, item_start
from .stats import LoadStats
from .streams import Broken, Joined

BLOCK, MAX_TRIES = 1 << 20, 64  # bytes read at a time; places tried inside one item (each decoded from its start)
_NEAR = 1 << 12  # bytes searched for an item's separator before it is decoded to find its end (a few KiB)
_LOOK = 1 << 16  # the largest window decoded so; past it, the whole search (its alternatives: 7 ns a byte)
# What may come between two items, from the first's "}" to the second's "{" (array, objects). Between objects, also a
# noise line, or a line after a "}" that begins its own (a pretty object's end) and that no JSON goes on with (not "}",
# "]" or ","; indent=0 puts an inner object's "}" at a line's start too): the match then ends on a space before that
# line, for the noise to be counted or the line to be read as what it is. Without them, each pretty object of a consume
# command's dump would be read to the input's end or the limit (4,000: 5 s).
_BETWEEN = {True: re.compile(rb"\}\s*,\s*\{"),
            False: re.compile(rb"\}\s*\{|\}[ \t\r]*\n\s*(?=%|Headers:)|(?<=\n)\}[ \t\r]*\n(?=\s*[^\s\]},])")}
_COMMA, _CUT = re.compile(rb"\s*,\s*"), "begins inside a record (a piece of a dump cut part way)"
_RECORD_END = re.compile(rb"(?m)^[ \t]*\}")
_OBJECT_LINE = re.compile(rb"\n(?:\xef\xbb\xbf)?\{")  # a line an object starts (a file's BOM first: cat)
_SPACE_COMMAS = re.compile(rb"[\s,]*")
_SPACE_OR_MARK = re.compile(rb"\s*(?:\xef\xbb\xbf\s*)*")  # between objects: `cat` of files PowerShell wrote, a BOM each
_PADDING = re.compile(rb"[\s\x00]*(?:\xef\xbb\xbf[\s\x00]*)*")  # after an array's end: zero bytes (as after a
# compressed stream), and byte-order marks (`cat` of files PowerShell wrote, each an array). Each a run of one class:
# a group repeated a byte at a time keeps 120 bytes of state a byte (16 MiB of blank lines took 2 GiB)


def json_rows(stream: BinaryIO, label: str, stats: LoadStats, array: bool, at: int = 0,
              cut: bool = False) -> Iterator[tuple]:
    """Rows for the records of a JSON array (``array``) or of concatenated objects, whose
    first byte is at input position ``at`` (after a byte-order mark); ``cut``: a piece of an
    array that begins inside one of its items (``split -b``), read on at its next record.

    In an array, a syntax error is one malformed entry at its byte position, saying where
    reading went on, or, with no record after it, how many bytes were left unread. Text
    after the arrays' end that begins no other array stops reading too: a dump is arrays, or
    a stream of objects, not a mixture. Between
    objects, what is no object is read as lines are (``lines.piece_rows``), up to the next
    line that starts with ``{``.
    """
    items = _Items(stream, array, stats, at, cut)
    n = yield from item_rows(items, label, stats, 0)
    if items.stopped:
        stats.cut_short(label, f"@byte {items.rest_at}", items.stopped + stopped(drain(items.rest)))
    elif items.rest is not None:
        yield from ijson_rows(items.rest, items.rest_at, label, stats, array, n, items.rest_head)


class _Items(Buffer):
    """The records of the input (None for an array item that is not an object), cut as
    the module says, until the first thing the fast way cannot decode: then ``rest`` is
    a stream of the input from there on (after a ``[``, for an array), ``rest_at`` the
    input position of its first byte, and ``stopped`` says why, if no careful reading
    can go on from there: nesting too deep, or text after the array's end.
    """

    def __init__(self, stream: BinaryIO, array: bool, stats: LoadStats, at: int = 0, cut: bool = False):
        super().__init__(stream, stats, at, BLOCK)
        self.array = array
        self.opened = self.cut = cut  # the array's "[" was read (or is before the input: a piece begun in an item)
        self.rest: BinaryIO | None = None
        self.rest_at, self.rest_head, self.stopped = 0, b"", ""
        self.wrong = False  # an item is whole, but what follows it is not a separator: stop there

    def __iter__(self) -> Iterator[Record | Malformed | tuple | None]:
        start = self.past_noises(0)  # before an array too: the shape was told apart past them
        if self.array and self.buf[start:start + 1] == b"[":
            self.opened, start = True, start + 1
        if self.cut:  # a piece of a pretty array: its first whole item is where its items' ends and starts say
            start, at = self._first_item(start)
            if at is not None and at >= 0:  # (else on at the next record, ``_resumed``)
                if at > start:
                    yield self._cut_entry(start, at)
                start, self.cut = at, False
        if not self.array:  # no object first: a piece of a pretty dump that begins in a record (``shape._cut_tail``)
            start = self.past_noises(start, _SPACE_OR_MARK)
            self.cut = self.buf[start:start + 1] not in (b"{", b"")
        while self.opened or not self.array:
            start = self.skip_space(start) if self.array else self.past_noises(start, _SPACE_OR_MARK)
            first, missing = self.buf[start:start + 1], None
            if self.wrong and first != b"]":  # a whole item, then no comma: an error; what follows is read
                self.wrong, missing = False, Malformed("invalid JSON: no comma before this item",
                                                       f"@byte {self.base + start}")
            if self.cut:  # the rest of an item the piece began in
                item: Any = BAD
            elif first == b"{":
                start, item, after = self._item_at(start, _BETWEEN[self.array], record_piece)
                if not self.array and item.__class__ is Record and item.id is None and keyed(self.buf, start):
                    item = BAD  # a --print-key key that is an object (no record): its line read as lines are
            elif self.array and first not in (b"]", b""):
                start, item, after = self._item_at(start, _COMMA, other_piece)
            elif first == b"]" and self.array:
                start = self.past_noises(start + 1, _PADDING)  # noise after it too, as between objects
                if self.buf[start:start + 1] == b"[":  # another array: `cat` of two dumps
                    start += 1
                    continue
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
            if item is BAD and not self.array:  # in objects, go on at the next that starts a line
                start, after = self._next_object(start)
                if after is not None:
                    yield from self._no_object(start, after)
                    start, self.cut = after, False
                    continue
            if item is BAD and self.array:  # in an array, go on at the next record near it
                (start, found), self.cut = self._resumed(start, self.cut), False
                if found:  # (its entry stands for a missing comma too)
                    missing, item, end = found
                    after = self._after(end)
            if item is BAD or item is DEEP:
                self.stopped = "JSON nested too deep" if item is DEEP else ""
                break
            if missing:
                yield missing
            yield item
            start = after
            if self.wrong and self.buf[start:start + 1] == b"]":  # "[..., ]": an error, but nothing lost
                self.wrong = False
                comma = self.base + self.buf.rfind(b",", 0, start)
                yield Malformed("invalid JSON: a comma before the array's end", f"@byte {comma}")
        self._leave(start, bracket=not self.stopped)

    def _item_at(self, start: int, between: re.Pattern, read_one: Callable[[bytes], Any]) -> tuple:
        """(start, item or BAD/DEEP, start of what follows) for the item at ``start``."""
        pos, tries, near = start, 0, True
        brace = between is not _COMMA  # the "}" a record separator starts with is the record's
        while tries < MAX_TRIES:  # (beyond MAX_RECORD, _to_its_end decodes up to it)
            m = between.search(self.buf, pos, start + (_NEAR if near else MAX_RECORD))
            if m is None and near:  # none near: the item may end all the same (a BOM, a comma, text next),
                near, (item, after) = False, self._ended_near(start, read_one)  # which searching on to the
                if after is not None:  # input's end for each such object did not see: 4,000 took 41 s
                    return start, item, after
                continue
            if m is None:
                if self.eof or len(self.buf) - start >= MAX_RECORD:
                    break
                moved = self.more(start)
                start, pos = start - moved, pos - moved
                continue
            item, after = self._take(start, m.start() + brace, read_one)
            if item is not CUT:
                return start, item, after if after is not None else m.end() - brace
            pos, tries = m.end(), tries + 1
        return self._to_its_end(start, read_one)

    def _ended_near(self, start: int, read_one: Callable[[bytes], Any]) -> tuple:
        """(item, where what follows starts) of an item that ends within _LOOK bytes of ``start``,
        decoded in windows four times larger each (one of _LOOK cost more than a record), else (None, None);
        BAD for one broken inside them, whatever follows (searched on to the record limit, 40,000 "{x" took 46 s)."""
        size, wrong = _NEAR, self.wrong
        while (taken := self._take(start, end := min(len(self.buf), start + size), read_one))[0] is CUT \
                and end < len(self.buf) and size < _LOOK:
            size *= 4
        item, after = taken
        if item is BAD and broken_inside(self.buf[start:end]):
            return BAD, 0
        if after is None or item is BAD or not self.eof and \
                _SPACE_COMMAS.match(self.buf, after).end() == len(self.buf):  # type: ignore[union-attr]  # never None
            self.wrong = wrong  # what follows it is not read yet (",]" cut after its comma): not an answer
            return None, None
        return item, after

    def _to_its_end(self, start: int, read_one: Callable[[bytes], Any]) -> tuple:
        """_item_at's answer for an item whose end no separator showed: the last one, one
        with more than MAX_TRIES places inside it, or a value between objects. It is decoded
        from its start on, up to the limit, and where it ends shows as what follows it."""
        while True:
            end = min(len(self.buf), start + MAX_RECORD)
            item, after = self._take(start, end, read_one)
            done = self.eof or len(self.buf) - start > MAX_RECORD
            if item is DEEP or item is BAD and done:  # (the buffer may end in "1e": "invalid number")
                return start, item, 0
            if item is not CUT and item is not BAD and (after is not None or self.eof):
                return start, item, end if after is None else after
            if done:
                return start, BAD, 0
            start -= self.more(start)

    def _take(self, start: int, end: int, read_one: Callable[[bytes], Any]) -> tuple:
        """(item, None) for ``buf[start:end]``; or, when an item ends before ``end`` (an
        array item that is not an object comes next), (that item, where the next starts).
        A piece over the record limit is left to ijson, whose guard refuses it."""
        if end - start > MAX_RECORD:
            return BAD, 0
        item = read_one(self.buf[start:end])
        if item.__class__ is not Ends:
            return item, None
        end = start + item.at - 1  # msgspec counts the first trailing byte in
        item = read_one(self.buf[start:end])
        if item is CUT or item.__class__ is Ends:
            return BAD, 0
        return item, self._after(end) if self.array else end

    def _after(self, end: int) -> int:
        """Where what follows an array's item that ends at ``end`` starts: past its comma, or
        at the "]". ``wrong`` is set if no comma comes first, or one comes before the "]"
        (the item is kept as decoded here: ijson would decode it anew, by its own rules)."""
        close = SPACE.match(self.buf, end).end()  # type: ignore[union-attr]
        if self.buf[close:close + 1] == b"]":  # the array ends: what follows it is checked then
            return close
        comma = _COMMA.match(self.buf, end)
        if comma is None or self.buf[comma.end():comma.end() + 1] == b"]":  # none, or "[..., ]"
            self.wrong = True
            return close if comma is None else comma.end()
        return comma.end()

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
            if self.eof:  # lines to the end; but a record the input's end cut short (read in part), if none follows
                one = self._pretty(start) and b"\n" in self.buf[start:].rstrip()
                return start, None if one and not self._lines(start, len(self.buf)) else len(self.buf)
            if len(self.buf) - start > MAX_RECORD:  # lines up to the limit, then on from there
                one = self._pretty(start) and not self._lines(start, start + MAX_RECORD)
                end = -1 if one else self.buf.rfind(b"\n", start + 1, start + MAX_RECORD)
                return (start, end + 1) if end > start else (start, None)  # (a record over the limit: refused)
            pos = max(start + 1, len(self.buf) - 4)  # a line that starts "\n", a BOM, "{" may span two blocks
            moved = self.more(start)
            start, pos = start - moved, pos - moved
        return start, at + 1

    def _resumed(self, start: int, cut: bool = False) -> tuple[int, tuple | None]:
        """After a syntax error in an array at ``start`` (an item, what stands where one should, or
        the rest of one the input begins in: ``cut``), (start, (a Malformed entry for it, the next
        record, where that ends)) if one ends within MAX_RECORD bytes of ``start``; else (start, None).

        The next record is an object with an id, a time and data, where the array's items
        begin: at bracket depth 0 from ``start``, outside strings (one inside a record is
        deeper, whatever its fields), the depth counted from the error on both as written
        and as if a quote were lost there (``Depth.other``); or, for a broken item whose
        brackets are left open (a record cut short), after a "," or "[", and followed by a
        "," or by a "]" that ends the array (an object in a list inside a record is
        followed by more of that record)."""
        error = error_at(self.buf, start)
        counts, pos = [Depth()], start
        while True:
            limit = min(len(self.buf), start + MAX_RECORD)
            brace = self.buf.find(b"{", pos, limit)
            if brace >= 0:
                self._count(counts, pos, brace, error)
                pos, found = brace, self._record_at(brace, start, limit, counts)
                if found is not None and found is not CUT:
                    break
                if found is None:
                    self._count(counts, brace, brace + 1, error)
                    pos += 1
                    continue
            if self.eof or len(self.buf) - start >= MAX_RECORD:
                return start, None
            if brace < 0:
                self._count(counts, pos, len(self.buf), error)
                pos = len(self.buf)
            moved = self.more(start)
            start, pos, error = start - moved, pos - moved, error - moved
        said = f"{_CUT if cut else 'invalid JSON'}; read on at the next record, byte {self.base + brace}"
        at = error if error < brace and not cut else start  # (msgspec read on past it, into the record's list)
        return start, (Malformed(said, f"@byte {self.base + at}"), *found)

    def _record_at(self, brace: int, start: int, limit: int, counts: list[Depth]) -> Any:
        """``_resumed``'s test of the "{" at ``brace``: (record, where it ends), None or CUT."""
        outside = any(d.outside() for d in counts)
        if brace == start or not outside and self.buf[max(start, brace - 4096):brace].rstrip()[-1:] not in (b",", b"["):
            return None  # (at ``start``: the broken item itself, or one over the limit)
        found = record_at(self.buf, brace, limit, not self.eof and limit == len(self.buf))
        if outside or found is None or found is CUT:
            return found
        close = SPACE.match(self.buf, found[1]).end()  # type: ignore[union-attr]
        if self.buf[close:close + 1] == b",":
            return found
        end = (_PADDING.match(self.buf, close + 1).end()  # type: ignore[union-attr]  # (matches anywhere)
               if self.buf[close:close + 1] == b"]" else -1)
        if end == len(self.buf) and not self.eof:
            return CUT
        return found if end == len(self.buf) or self.buf[end:end + 1] == b"[" else None

    def _count(self, counts: list[Depth], start: int, end: int, error: int) -> None:
        """Feed ``buf[start:end]`` to the depth counts, the second begun at ``error``."""
        if start <= error < end and len(counts) == 1:
            counts[0].feed(self.buf, start, error)
            counts.append(counts[0].other())
            start = error
        for depth in counts:
            depth.feed(self.buf, start, end)

    def _pretty(self, start: int) -> bool:
        """Whether the piece at ``start`` begins as a pretty-printed record, "{" alone on
        its line: it is then one record, cut short or over the limit, not lines to read (a
        line "{...}" that is no record was taken for one, and the records after it lost)."""
        end = self.buf.find(b"\n", start)
        return self.buf[start:end if end >= 0 else len(self.buf)].strip() == b"{"

    def _lines(self, start: int, end: int) -> bool:
        """Are lines after the first of a piece that begins as a pretty record records on lines
        of their own (``lines.record_on_a_line``): lines, not one record cut short?"""
        return record_on_a_line(self.buf, self.buf.find(b"\n", start) + 1, end)

    def _on_its_line(self, start: int) -> tuple:
        """_to_its_end's answer for a value between objects, decoded from its line first: a
        line of text was read up to the record limit for each (20,000 of them: 2 minutes).
        Only a value the line does not hold whole (a pretty array) reads on."""
        while (end := self.buf.find(b"\n", start)) < 0 and not self.eof and len(self.buf) - start <= MAX_RECORD:
            start -= self.more(start)
        if end >= 0:
            item, after = self._take(start, end, other_piece)
            if after is not None and keyed(self.buf, start):  # a --print-key key, its record after it
                return start, BAD, 0  # (so read as lines are: the record, and no entry for its key)
            if item is not CUT:
                return start, item, end if after is None else after
        return self._to_its_end(start, other_piece)

    def _first_item(self, start: int) -> tuple[int, int | None]:
        """(start, where the first whole item of a piece of a pretty array begins: ``shape.item_start``,
        over as much of it as the shape was told from; -1 or None if it cannot tell). Items at column 0
        (-1: a record's lists are there too) begin at the piece's "{" if a whole record does, then a
        "," or the input's last "]": a piece of ``json.dumps(records, indent=0)`` cut by ``split -l``."""
        while not self.eof and len(self.buf) - start <= CUT_LINE + PRETTY_LOOK:
            start -= self.more(start)
        end = self.buf.find(b"\n", start)
        at = item_start(self.buf, start, (end if end >= 0 else len(self.buf)) + PRETTY_LOOK)
        found = record_at(self.buf, start, len(self.buf), False) if at == -1 and self._pretty(start) else None
        after = SPACE.match(self.buf, found[1]).end() if found else 0  # type: ignore[union-attr]
        ends = self.buf[after:after + 1] == b"]" and self.eof and not self.buf[after + 1:].strip()  # (not a list's)
        return start, start if found and (self.buf[after:after + 1] == b"," or ends) else at

    def _no_object(self, start: int, after: int) -> Iterator[tuple | Malformed]:
        """The rows of lines between objects that are no object (read as lines are); but the rest
        of a record a piece of a pretty dump begins in (to a line of its "}") is one entry, its noise lines noise."""
        if not self.cut or not _RECORD_END.search(self.buf, start, after):  # (a stray message first: lines)
            yield from piece_rows(self.buf[start:after], self.stats)
            return
        lines = self.buf[start:after].splitlines(keepends=True)
        self.stats.noise_lines += sum(line.lstrip(b" \t").startswith(NOISE) for line in lines)
        yield self._cut_entry(start, after)

    def _cut_entry(self, start: int, at: int) -> Malformed:
        """The entry for the rest of the record a piece begins in, from ``start``, read on at ``at``."""
        return Malformed(f"{_CUT}; read on at the next record, byte {self.base + at}", f"@byte {self.base + start}")

    def _leave(self, start: int, bracket: bool = True) -> None:
        """Hand the input from ``start`` on to ijson (after a "[", inside an array)."""
        head = b"[" if bracket and self.array and self.opened else b""
        after: Any = Broken(self.broken) if self.broken else self.stream
        self.rest_head = head + self.buf[start:]
        self.rest = Joined(self.rest_head, after)  # type: ignore[assignment]  # read as a BinaryIO is
        self.rest_at = self.base + start - len(head)
        self.buf = b""


def _at(m: re.Match | None) -> int:
    return -1 if m is None else m.start()

"""What a decode of a piece of a JSON document says (``jsondoc`` cuts the pieces): the
item it is, or that it is cut short (CUT), no item (BAD), nested too deep (DEEP), or an
item followed by something else (Ends). msgspec raises one error type for all of these;
only its message tells them apart, so this module is where jsondoc reads it.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec

from .decoding import (
    Malformed,
    Record,
    check_syntax,
    crowded,
    decode,
    decode_failure,
    decode_refused,
    error_byte,
    over_halves,
    quoted_record,
    syntax,
)

CUT, BAD, DEEP = object(), object(), object()  # a piece cut short / not an item / nested too deep
_any = msgspec.json.Decoder().decode
_TRAILING = re.compile(r"trailing characters \(byte (\d+)\)")  # msgspec's words for it
_OUTSIDE = re.compile(rb'["\[\]{}]')  # outside strings: a string's start, or a bracket
_HALF = re.compile(rb"\\u[dD]")  # an escape of half a UTF-16 pair (or of U+D000-U+DFFF)
_INSIDE = re.compile(rb'["\\\n]')  # inside one: its end, an escape, or a line's end (no string holds one)


def record_piece(piece: bytes) -> Any:
    """``piece`` as a Record if it is one whole JSON object, else CUT, BAD or DEEP."""
    return _decoded(piece, decode)


def other_piece(piece: bytes) -> Any:
    """None if ``piece`` is one whole JSON value (an array item that is not a record),
    else what _trouble says; but a string holding a record (a sink connector's
    StringConverter writes each so) is that record, as a line of one is."""
    try:
        if crowded(piece):  # its syntax alone: decoded, it could take 30 times its size
            piece.decode()
            check_syntax(piece)
        else:
            _any(piece)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as e:
        return _trouble(piece, e)
    if piece[:1] != b'"' or (inner := quoted_record(piece)) is None:
        return None
    try:
        return decode(inner)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as e:
        return Malformed(decode_failure(e, inner))
    except Malformed as why:
        return why


class _Fields(msgspec.Struct):
    """What a record has at its top level, its values unread (msgspec skips them in C)."""

    id: msgspec.Raw = msgspec.Raw()
    time: msgspec.Raw = msgspec.Raw()
    data: msgspec.Raw = msgspec.Raw()


_fields = msgspec.json.Decoder(_Fields).decode


def record_at(buf: bytes, start: int, end: int, more: bool) -> Any:
    """(record, where it ends) if an audit record (an object with an id, a time and data)
    begins at ``start`` in ``buf`` and ends before ``end``; None if none does; CUT if
    ``end`` comes first and ``more`` may come, inside a number too (``-``, ``1.``: msgspec
    says "invalid" of those, at the end). Found in place: a copy of the buffer's rest for
    each place tried would cost its length each time; and an object without the three
    fields is refused before it is decoded (one crowded with values decodes slowly)."""
    view: memoryview | bytes = memoryview(buf)[start:end]
    said = _said(view)
    if said is not None and _TRAILING.search(said) is None and (half := _half_escaped(buf, start, end, said)) >= 0:
        view, said = _read_over_halves(buf, start, end, 4 * (half + 64))
    if said is None:
        return CUT if more else None  # (what follows it is not in sight)
    if (trailing := _TRAILING.search(said)) is None:
        at = error_byte(said)
        cut = "truncated" in said or at is not None and at >= end - start
        return CUT if cut and more else None
    size = int(trailing[1]) - 1
    try:
        fields = _fields(view[:size])
    except (msgspec.DecodeError, RecursionError):  # (an object of another shape)
        return None
    if any(len(raw) in (0, 4) and bytes(raw) in (b"", b"null") for raw in (fields.id, fields.time, fields.data)):
        return None
    item = record_piece(buf[start:start + size])
    return (item, start + size) if item.__class__ is Record else None


def _said(view: memoryview | bytes) -> str | None:
    """msgspec's words for the syntax of ``view``; None if it is one whole value."""
    try:
        syntax(view)
    except (msgspec.DecodeError, RecursionError) as e:
        return str(e)
    return None


def _half_escaped(buf: bytes, start: int, end: int, said: str) -> int:
    """Where half a UTF-16 pair is first escaped in ``buf[start:end]``, before the error msgspec
    ``said`` of it (where its words place it, else anywhere); -1 if nowhere. Records may hold one."""
    at = error_byte(said)
    found = _HALF.search(buf, start, end if at is None else min(end, start + at + 1))
    return -1 if found is None else found.start() - start


def _read_over_halves(buf: bytes, start: int, end: int, size: int) -> tuple[bytes, str | None]:
    """``buf[start:end]`` with each escaped half of a pair read as another escape (as
    ``check_syntax``: the syntax is as it was), and msgspec's words for it. A copy of ``size``
    bytes, grown fourfold while the words are of its end: it costs what was read to find one."""
    while True:
        window = over_halves(buf[start:min(end, start + size)])
        said = _said(window)
        if start + size >= end or said is not None and not _of_its_end(said, len(window)):
            return window, said
        size *= 4


def _of_its_end(said: str, size: int) -> bool:
    """Are msgspec's words of a text of ``size`` bytes about its end (cut there, perhaps inside
    a number or a literal), not about what it holds?"""
    if _TRAILING.search(said):
        return False
    at = error_byte(said)
    return at is None or at >= size - 64


class Depth:
    """The bracket depth of text fed in order, outside strings: where, after a syntax
    error in an array, the array's own items begin (depth 0 from the broken item's start).
    An object inside a record is deeper, whatever its fields. A string cannot hold a line
    end, so one ends any string the count thought it was in (a quote lost before it).
    ``nesting.Guard`` counts the same in front of ijson, but it refuses nesting past 64
    levels and watches items' sizes; this count is asked at each place a record may
    begin, and forks (``other``)."""

    def __init__(self, level: int = 0, in_string: bool = False):
        self.level, self.in_string, self.escaped = level, in_string, False

    def other(self) -> Depth:
        """The count as it would be had a quote been lost or added here: where a syntax
        error is, its cause may be a quote (``"id": rec-1"``), and the count in one
        of the two is right from there on."""
        return Depth(self.level, not self.in_string)

    def outside(self) -> bool:
        """Between the array's items (where a record may begin)?"""
        return self.level == 0 and not self.in_string

    def feed(self, buf: bytes, start: int, end: int) -> None:
        """Take ``buf[start:end]``, which follows what was fed before."""
        if self.escaped and start < end:  # an escape's backslash ended the text fed before
            start, self.escaped = start + 1, False
        while (m := (_INSIDE if self.in_string else _OUTSIDE).search(buf, start, end)) is not None:
            token, start = m[0], m.end()
            if token == b'"' or token == b"\n":
                self.in_string = token == b'"' and not self.in_string
            elif token == b"\\":
                if start == end:
                    self.escaped = True
                start += 1
            else:
                self.level += 1 if token in b"[{" else -1


def error_at(buf: bytes, start: int) -> int:
    """Where, after ``start``, the syntax of ``buf`` breaks, as msgspec says (``start`` if
    it does not say)."""
    try:
        syntax(memoryview(buf)[start:])
    except (msgspec.DecodeError, RecursionError) as e:
        return start + (error_byte(str(e)) or 0)
    return start


def broken_inside(piece: bytes) -> bool:
    """Does ``piece`` break before its last byte by its syntax alone (``check_syntax``: a lone
    surrogate escape passes), whatever follows it? Text cut short says no place, and a number
    or a word cut at the end breaks there."""
    try:
        check_syntax(piece)
    except (msgspec.DecodeError, RecursionError) as e:
        at = error_byte(said := str(e))
        return at is not None and at < len(piece) - 1 and "trailing" not in said
    return False


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
    if cause is BAD and not isinstance(e, RecursionError) or cause is CUT and surrogate:
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
    """What a decode error says about a piece: CUT (it goes on), Ends (an item ends
    inside it, something else follows), DEEP or BAD."""
    if isinstance(e, RecursionError):
        return DEEP
    if not isinstance(e, msgspec.DecodeError):
        return BAD
    if "truncated" in str(e):
        return CUT
    trailing = _TRAILING.search(str(e))
    return Ends(int(trailing[1])) if trailing else BAD


class Ends:
    """Where, in a piece, something follows the item that starts it (one past the first
    byte of it, as msgspec reports it)."""

    __slots__ = ("at",)

    def __init__(self, at: int):
        self.at = at

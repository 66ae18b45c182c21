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

from .decoding import Malformed, Record, check_syntax, crowded, decode, decode_refused

CUT, BAD, DEEP = object(), object(), object()  # a piece cut short / not an item / nested too deep
_any = msgspec.json.Decoder().decode
_syntax = msgspec.json.Decoder(msgspec.Raw).decode
_TRAILING = re.compile(r"trailing characters \(byte (\d+)\)")  # msgspec's words for it
_AT_BYTE = re.compile(r"\(byte (\d+)\)")
_FOLLOWS = re.compile(rb"\s*,\s*|\s*(?=\])")  # what follows an array's item: a comma, or its end


def record_piece(piece: bytes) -> Any:
    """``piece`` as a Record if it is one whole JSON object, else CUT, BAD or DEEP."""
    return _decoded(piece, decode)


def other_piece(piece: bytes) -> Any:
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


def record_at(buf: bytes, start: int, eof: bool) -> Any:
    """(record, where what follows it starts) if an audit record begins at ``start`` in
    ``buf``, an array's text: an object with an id, a time and data (no inner object of
    one has all three), then a "," or the "]". None if none does; CUT if ``buf`` ends
    first and more may come (not ``eof``). The object is found in place: a copy of the
    rest of the buffer for each place tried would cost its length each time."""
    try:
        _syntax(memoryview(buf)[start:])
        return None if eof else CUT
    except (msgspec.DecodeError, RecursionError) as e:
        if "truncated" in str(e):
            return None if eof else CUT
        if (trailing := _TRAILING.search(str(e))) is None:
            return None
        end = start + int(trailing[1]) - 1
    item = record_piece(buf[start:end])
    follows = _FOLLOWS.match(buf, end)
    if item.__class__ is not Record or None in (item.id, item.time, item.data) or not follows:
        return None
    return item, follows.end()


def syntax_error_at(piece: bytes) -> int:
    """Where in ``piece`` its syntax breaks, as msgspec says (0 if it does not say)."""
    try:
        check_syntax(piece)
    except (msgspec.DecodeError, RecursionError) as e:
        return int(at[1]) if (at := _AT_BYTE.search(str(e))) else 0
    return 0


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

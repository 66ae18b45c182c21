"""Records crowded with values, decoded keeping only what ccaudit reads, in memory that
does not grow with them.

msgspec skips the fields ccaudit does not read, but a field it reads that holds a list
(``clientAddress``, ``errors``), an object principal, and the whole of a record of an odd
shape are decoded into Python objects: a record of 16 MiB made of ``[{},{},...]`` took
30 times its size. A record with more than ``decoding.MAX_VALUES`` places where a value can start is
read instead from ijson's events (``decoding.crowded``), keeping of each field what ``classify`` looks at, and
of each other container its JSON text (or itself, if empty, which reads as false):

* a principal object: the keys its name is read from;
* a list of addresses or errors: its first item that classify would take.

The Record built from that (``from_object``) is the one a whole decode gives. Two values
no real record holds are told apart less finely: a number beyond a float in a field
ccaudit reads is kept as ijson's text of it (``1E+999``, not ``1e999``).
"""
from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import ijson
import msgspec

from .decoding import PRINCIPAL_PATHS, Malformed, Record, check_syntax, from_object

Events = Iterator[tuple[str, Any]]


class First:
    """A list of which classify takes the first item that is an object ``wanted`` accepts."""

    def __init__(self, fields: dict, wanted: Callable[[dict], bool]):
        self.fields, self.wanted = fields, wanted


TEXT = "text"  # a value classify reads as text, or tests by its truth or identity
_PRINCIPAL: dict = {}
for _path in PRINCIPAL_PATHS:
    _at = _PRINCIPAL
    for _part in _path[:-1]:
        _at = _at.setdefault(_part, {})
    _at[_path[-1]] = TEXT
_READ_AS = {
    "principal": _PRINCIPAL,
    "clientAddress": First({"ip": TEXT}, lambda a: bool(a.get("ip"))),
    "errors": First({"status": TEXT, "detail": TEXT}, lambda e: e.get("status") not in (None, "")),
}


def _fields(cls: type) -> dict:
    """What is read of an object decoded as the struct ``cls``: its fields, by their names
    in JSON, and of each what is read."""
    fields = {}
    for f in msgspec.structs.fields(cls):
        sub = next((t for t in getattr(f.type, "__args__", (f.type,))
                    if isinstance(t, type) and issubclass(t, msgspec.Struct)), None)
        fields[f.encode_name] = _fields(sub) if sub else _READ_AS.get(f.encode_name, TEXT)
    return fields


RECORD = _fields(Record)


def decode_crowded(raw: bytes) -> Record:
    """The Record in ``raw``, a record ``decoding.crowded`` says may hold too many values to decode
    whole; raise as ``decoding.decode_record`` does. ``raw`` is known to be UTF-8."""
    check_syntax(raw)  # msgspec's words for what is not whole JSON, without making objects
    surrogate = b"\\ud" in raw or b"\\uD" in raw  # only Python's parser keeps half a pair
    parse = ijson.get_backend("python").basic_parse if surrogate else ijson.basic_parse
    try:
        record = from_object(kept(parse(io.BytesIO(raw), use_float=False), RECORD))
        if surrogate:
            msgspec.json.encode(record)  # every text read is Unicode
    except UnicodeEncodeError:
        raise Malformed("invalid Unicode escape") from None
    except ijson.JSONError as e:  # what msgspec takes and ijson does not: none is known
        raise Malformed(f"not valid JSON ({e})") from None
    return record


def kept(events: Events, spec: Any) -> Any:
    """What is read (``spec``) of the next value of ``events``."""
    event, value = next(events)
    return _value(events, event, value, spec)


def kept_items(events: Events, array: bool) -> Iterator[dict | None]:
    """What is read of each item of a JSON array (``array``), or of each value of a
    stream of them; None for one that is not an object. The events are read to their
    end, so that ijson says what follows the array."""
    depth = 0 if array else 1
    for event, _ in events:
        if depth == 1 and event == "start_map":
            yield _object(events, RECORD)
        elif depth == 1 and event != "end_array":
            _skip(events, event)
            yield None
        else:
            depth += 1 if event == "start_array" else -1


def _value(events: Events, event: str, value: Any, spec: Any) -> Any:
    if event == "start_map" and isinstance(spec, dict):
        return _object(events, spec)
    if event == "start_array" and isinstance(spec, First):
        return _first(events, spec)
    if event == "start_map" or event == "start_array":
        return _text(events, event)
    if value.__class__ is Decimal:  # not a whole number (ijson gives those as int)
        number = float(value)
        return number if math.isfinite(number) else str(value)
    return value


def _object(events: Events, fields: dict) -> dict:
    obj = {}
    for event, key in events:
        if event == "end_map":
            return obj
        spec = fields.get(key)
        event, value = next(events)
        if spec is None:
            _skip(events, event)
        else:
            obj[key] = _value(events, event, value, spec)
    raise ijson.IncompleteJSONError("the events end inside an object")


def _first(events: Events, first: First) -> list:
    found: list = []
    for event, _ in events:
        if event == "end_array":
            return found
        if event == "start_map" and not found:
            item = _object(events, first.fields)
            if first.wanted(item):
                found.append(item)
        else:
            _skip(events, event)
    raise ijson.IncompleteJSONError("the events end inside an array")


def _skip(events: Events, event: str) -> None:
    depth = event == "start_map" or event == "start_array"
    while depth:
        event, _ = next(events)
        if event == "start_map" or event == "start_array":
            depth += 1
        elif event == "end_map" or event == "end_array":
            depth -= 1


_OPEN = {"start_map": b"{", "start_array": b"["}
_CLOSE = {"end_map": b"}", "end_array": b"]"}


def _text(events: Events, event: str) -> Any:
    """The container that ``event`` opens, as ``decoding.json_text`` writes it (compact,
    numbers as msgspec writes them), or itself if it is empty."""
    out, depth, after_value = bytearray(_OPEN[event]), 1, False
    encode = msgspec.json.encode
    while depth:
        event, value = next(events)
        close = _CLOSE.get(event)
        if close is not None:
            out += close
            depth, after_value = depth - 1, True
            continue
        if after_value:
            out += b","
        if event == "map_key":
            out += encode(value) + b":"
            after_value = False
        elif event in _OPEN:
            out += _OPEN[event]
            depth, after_value = depth + 1, False
        else:
            out += encode(_value(events, event, value, TEXT))
            after_value = True
    if len(out) == 2:
        return {} if out == b"{}" else []
    return out.decode()

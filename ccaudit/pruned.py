"""What is read of a JSON value, from its parse events (ijson's ``basic_parse``), in
memory that does not grow with what is not read.

What is read is told by a spec: TEXT for a value read whole, a dict for an object of
which only those keys are read (each with its own spec), ``First`` for a list of which
only one item is read. A container read as TEXT is kept as its JSON text, as
``decoding.json_text`` writes it, or as itself if it is empty (which reads as false).
``decoding.decode_crowded`` builds its records so, and ``jsondoc`` those it reads with
ijson. Unlike a whole decode, a key given twice in a container read as text is kept
twice there (``{"a":1,"a":2}``, not ``{"a":2}``): only hand-made records have one.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import msgspec

Events = Iterator[tuple[str, Any]]


class First:
    """A list of which the first item that is an object ``wanted`` accepts is read."""

    def __init__(self, fields: dict, wanted: Callable[[dict], bool]):
        self.fields, self.wanted = fields, wanted


TEXT = "text"


def kept(events: Events, spec: Any) -> Any:
    """What is read (``spec``) of the next value of ``events``."""
    event, value = next(events)
    return _value(events, event, value, spec)


def kept_items(events: Events, spec: dict, array: bool) -> Iterator[dict | None]:
    """What is read of each item of a JSON array (``array``), or of each value of a
    stream of them; None for one that is not an object. The events are read to their
    end, so that ijson says what follows the array."""
    depth = 0 if array else 1
    for event, _ in events:
        if depth == 1 and event == "start_map":
            yield _object(events, spec)
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
    obj: dict = {}
    for event, key in events:
        if event == "end_map":
            return obj
        spec = fields.get(key)
        event, value = next(events)
        if spec is None:
            _skip(events, event)
        else:
            obj[key] = _value(events, event, value, spec)
    raise ValueError("the events end inside an object")


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
    raise ValueError("the events end inside an array")


def _skip(events: Events, event: str) -> None:
    depth: int = event == "start_map" or event == "start_array"
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

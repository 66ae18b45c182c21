"""JSON bytes to a ``Record``, the struct of the fields of an audit record that ccaudit
reads, and the reason when they are not one.

Records are decoded straight into that small struct: msgspec then skips every field
ccaudit does not use, which is most of each record and most of the decode time. Odd
shapes (a number or an array where text is expected) take a slower path that keeps what
they say as text rather than drop it.
"""
from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import re
from collections.abc import Callable
from typing import Any

import msgspec

from .pruned import TEXT, First, kept

OptStr = str | None  # a runtime alias: msgspec reads it


class _Meta(msgspec.Struct, gc=False):
    identifier: OptStr = None


class _AuthN(msgspec.Struct, gc=False):
    principal: Any = None  # a string or an object
    principalResourceId: OptStr = None
    result: OptStr = None
    metadata: _Meta | None = None


class _AuthZ(msgspec.Struct, gc=False):
    granted: Any = None
    operation: OptStr = None
    resourceType: OptStr = None
    resourceName: OptStr = None
    patternType: OptStr = None


class RequestMeta(msgspec.Struct, gc=False):
    clientAddress: Any = None
    client_address: OptStr = None
    connection_id: Any = None  # a number beyond 2**53, or a string
    connectionId: Any = None


class _ResultData(msgspec.Struct, gc=False):
    errors: Any = None


class Result(msgspec.Struct, gc=False):
    status: OptStr = None
    data: _ResultData | None = None


class Data(msgspec.Struct, gc=False):
    methodName: OptStr = None
    authenticationInfo: _AuthN | None = None
    authorizationInfo: _AuthZ | None = None
    requestMetadata: RequestMeta | None = None
    result: Result | None = None


class Record(msgspec.Struct, gc=False):
    """The fields of a CloudEvents audit record that ccaudit reads.

    Not tracked by the garbage collector (JSON cannot make cycles): a million tracked
    structs a second would set off a collection every few hundred records.
    """

    id: OptStr = None
    time: OptStr = None
    data: Data | None = None


class Malformed(Exception):
    """A record that is valid JSON but not a usable audit record; ``why`` says what it lacks.
    ``place``, if given, says where it is (``@byte N``) when its item number would not."""

    def __init__(self, why: str, place: str = ""):
        super().__init__(why)
        self.why, self.place = why, place


PRINCIPAL_PATHS = (  # where a principal object holds its name, in this order
    ("confluentUser", "resourceId"),
    ("confluentServiceAccount", "resourceId"),
    ("externalAccount", "subject"),
    ("identityPool", "resourceId"),
    ("email",),
)
SPARSE = 1 << 16  # bytes: a record this long holds too few values to matter
MAX_VALUES = 50_000  # at about 70 bytes each once decoded: 3.5 MB


def crowded(raw: bytes) -> bool:
    """Could ``raw`` hold more than MAX_VALUES values? msgspec skips the fields ccaudit
    does not read, but a list in one it reads (``clientAddress``), an object principal,
    and the whole of a record of an odd shape, are decoded as Python objects: a record of
    15 MB made of ``[{},{},...]`` took 400 MiB. Counted where values can start, strings
    included: a record of long text only takes the slower way (``decode_crowded``)."""
    return len(raw) > SPARSE and (
        raw.count(b",") + raw.count(b":") + raw.count(b"[") + raw.count(b"{") > MAX_VALUES)


def decode_crowded(raw: bytes) -> Record:
    """The Record in ``raw``, a ``crowded`` record, read from ijson's events keeping only
    what ``classify`` looks at (READ): the Record a whole decode gives, but for values no
    real record holds, in parts of the record classify does not read: a lone surrogate
    escape counts only where it is read, a key given twice in a value read as text is
    kept twice, a number beyond a float is kept as ijson's text of it (``1E+999``), and
    one of more than 4,300 digits makes the record malformed. Raise as ``decode_record``
    does; ``raw`` is known to be UTF-8."""
    import ijson

    check_syntax(raw)  # msgspec's words for what is not whole JSON, without making objects

    def read(parse: Callable, use_float: bool) -> Record:
        return from_object(kept(parse(io.BytesIO(raw), use_float=use_float), READ))

    if b"\\ud" not in raw and b"\\uD" not in raw:  # ijson's C parser reads half a pair as "?"
        with contextlib.suppress(ijson.JSONError):  # whole numbers past 64 bits stop it (and,
            return read(ijson.basic_parse, True)  # as Decimals, past 4,300 digits they crashed it)
    try:
        record = read(ijson.get_backend("python").basic_parse, False)
        msgspec.json.encode(record)  # every text read is Unicode
    except UnicodeEncodeError:
        raise Malformed("invalid Unicode escape") from None
    except ijson.JSONError:  # a number of over 4,300 digits (Python's limit to read one)
        raise Malformed("number out of range") from None
    return record


_decoder = msgspec.json.Decoder(Record)
_any_decoder = msgspec.json.Decoder()
syntax = msgspec.json.Decoder(msgspec.Raw).decode  # a value's syntax alone (in place, for a memoryview)
_ERROR_BYTE = re.compile(r"\(byte (\d+)\)")  # where msgspec says a value's syntax broke
decode_struct = _decoder.decode  # strict: a ValidationError for odd shapes (then use ``decode``)


def decode_lenient(raw: bytes) -> Record:
    """Valid JSON of an unexpected shape somewhere (say, ``"result": []``), after the
    strict decoder refused it: keep what fits rather than reject the record."""
    return from_object(_any_decoder.decode(raw))


def decode(raw: bytes) -> Record:
    """Decode one JSON object; raise ``msgspec.DecodeError`` if it is not one, and
    ``UnicodeDecodeError`` if it is not UTF-8 (msgspec skips the fields it does not read
    without checking them). ``lines.line_rows`` has this inline, for speed."""
    if not raw.isascii():
        raw.decode()
    if len(raw) > SPARSE and crowded(raw):
        return decode_crowded(raw)
    try:
        return decode_struct(raw)
    except msgspec.ValidationError:
        return decode_lenient(raw)


def decode_record(raw: bytes) -> Record:
    """``decode``, raising ``Malformed`` alone (``decode_refused``)."""
    try:
        return decode(raw)
    except (msgspec.DecodeError, ValueError, RecursionError) as e:
        return decode_refused(raw, e)


def decode_refused(raw: bytes, e: Exception) -> Record:
    """The record in ``raw`` after msgspec refused it (``e``), if only for a value it
    refuses wherever it is, a lone surrogate escape (``"\\ud800"``) or a number beyond a
    float (``1e999``): either matters only in a field ccaudit reads, so that a free-text
    field of a failed sign-in cannot hide it. Numbers are then kept as their text; a field
    ccaudit reads with half a UTF-16 pair in it makes the record ``Malformed``, as does
    any other failure."""
    why = decode_failure(e, raw)
    if why != "invalid Unicode escape" and why != "number out of range":
        raise Malformed(why)
    try:
        if crowded(raw):
            return decode_crowded(raw)
        obj = json.loads(raw.decode(), parse_int=_whole, parse_float=_finite, parse_constant=_no_constant)
        record = from_object(_unicode_keys(obj, Record) if isinstance(obj, dict) else obj)
        msgspec.json.encode(record)  # every text read is Unicode
    except UnicodeEncodeError:
        raise Malformed("invalid Unicode escape") from None
    except (ValueError, RecursionError):  # NaN, or not an object (ValidationError), or deep
        raise Malformed(why) from None
    return record


def _unicode_keys(obj: dict, cls: type) -> dict:
    """``obj``, read as ``cls``, without its keys of half a UTF-16 pair, which msgspec
    refuses the record for, read or not: no field ccaudit reads is one. Only at the levels
    read field by field: a value read as its JSON text (a principal that is an object)
    keeps them, and is refused for them."""
    kept = obj if all(k.isascii() for k in obj) else {k: v for k, v in obj.items() if _unicode(k)}
    for _, name, _, sub in _fields(cls):
        if sub is not None and isinstance(value := kept.get(name), dict):
            kept = {**kept, name: _unicode_keys(value, sub)}
    return kept


def _unicode(text: str) -> bool:
    return text.encode(errors="replace").decode() == text  # (each half of a pair, made "?", differs)


def _whole(digits: str) -> int | str:
    try:
        return int(digits)
    except ValueError:  # past sys.get_int_max_str_digits()
        return digits


def _finite(text: str) -> float | str:
    number = float(text)
    return number if math.isfinite(number) else text


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def quoted_record(raw: bytes) -> bytes | None:
    """The text of a record that ``raw``, a JSON string, holds (a sink connector's
    StringConverter writes each record so), or None."""
    try:
        text = msgspec.json.decode(raw)
        return text.strip().encode() if isinstance(text, str) and text.lstrip()[:1] == "{" else None
    except (msgspec.DecodeError, UnicodeEncodeError):
        return None


def check_syntax(raw: bytes) -> None:
    """Raise msgspec.DecodeError unless ``raw`` is one whole JSON value by its syntax alone:
    a lone surrogate escape and a number beyond a float, which decoding refuses, pass."""
    syntax(over_halves(raw))


def over_halves(raw: bytes) -> bytes:
    """``raw`` with every ``\\ud..`` read as ``\\u0..``: the syntax as it was, without half a
    UTF-16 pair, which msgspec refuses wherever it is, to refuse."""
    return raw.replace(b"\\ud", b"\\u0").replace(b"\\uD", b"\\u0")


def error_byte(said: str) -> int | None:
    """The byte a msgspec error message (``said``) places the trouble at, if it does."""
    return int(at[1]) if (at := _ERROR_BYTE.search(said)) else None


def whole_json(raw: bytes) -> bool:
    """Is ``raw`` one whole JSON value, by its syntax alone (``check_syntax``)?"""
    try:
        check_syntax(raw)
    except (msgspec.DecodeError, RecursionError):
        return False
    return True


def lone_surrogate(raw: bytes) -> bool:
    """Is ``raw`` whole JSON but for escaping half a UTF-16 pair? msgspec's words for it
    vary ("truncated" for a high half near the end): the syntax checked without them tells."""
    return (b"\\ud" in raw or b"\\uD" in raw) and whole_json(raw)


def decode_failure(e: Exception, raw: bytes = b"") -> str:
    """Why a line or piece (``raw``) failed to decode, in the words of the malformed list.

    msgspec raises one DecodeError type for every syntax problem; only its message tells
    a record cut short from text after one, so this is the one place that reads it.
    """
    if isinstance(e, UnicodeDecodeError):
        return "invalid UTF-8"
    if isinstance(e, RecursionError):
        return "JSON nested too deep"
    text = str(e).lower()
    if "out of range" in text:  # a number beyond a float, such as 1e999 (valid JSON syntax)
        return "number out of range"
    if isinstance(e, msgspec.ValidationError):
        return "not a JSON object"
    if lone_surrogate(raw):  # a \u escape of half a UTF-16 pair: text that is not Unicode
        return "invalid Unicode escape"
    if "truncated" in text or raw.endswith(b"\r") and _cut_short(raw.rstrip(b"\r")):  # CRLF: the CR is no JSON
        return "JSON cut short"
    if "trailing comma" in text:
        return "not valid JSON (a comma before a closing bracket)"
    if "trailing" in text:
        return "text after the JSON object" + lone_cr(raw)
    return "not valid JSON"


def _cut_short(raw: bytes) -> bool:
    try:
        syntax(raw)  # by its syntax alone: decoded, a crowded line took 8 times its size
    except (msgspec.DecodeError, ValueError, RecursionError) as e:
        return "truncated" in str(e).lower()
    return False


_LONE_CR = re.compile(rb"}[ \t]*\r[ \t\r]*{")  # records apart by a CR, blank lines or spaces too


def lone_cr(raw: bytes) -> str:
    """A hint for a file whose lines end in a CR alone (an old Mac's): read as one line."""
    return "; its lines end in a CR alone (convert it: tr '\\r' '\\n' < FILE)" if _LONE_CR.search(raw[:1 << 16]) else ""


def from_object(obj: Any) -> Record:
    """Build a Record from already-decoded JSON (the ijson path), tolerating odd shapes."""
    if not isinstance(obj, dict):
        raise msgspec.ValidationError("not a JSON object")
    try:
        return msgspec.convert(obj, Record)
    except msgspec.ValidationError:
        return _lenient(obj, Record)


def _lenient(obj: dict, cls: type) -> Any:
    """Fill ``cls`` from ``obj``: any value where text is expected becomes its JSON text
    (a status of ``["UNAUTHENTICATED"]`` is no success), and so does a ``result`` that is
    not an object, as its status; other objects of another shape are dropped."""
    values = {}
    for field, name, tp, sub in _fields(cls):
        value = obj.get(name)
        if sub is not None:
            if isinstance(value, dict):
                value = _lenient(value, sub)
            else:
                value = Result(status=json_text(value)) if sub is Result and value is not None else None
        elif tp == OptStr and not isinstance(value, str):
            value = None if value is None else json_text(value)
        values[field] = value
    return cls(**values)


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, str, Any, type | None], ...]:
    """(name, name in JSON, type, the struct it is or may be) of each field of the struct
    ``cls``: msgspec's ``fields`` reads them from the annotations' text at each call (40 µs)."""
    return tuple((f.name, f.encode_name, f.type, next((t for t in getattr(f.type, "__args__", (f.type,))
                  if isinstance(t, type) and issubclass(t, msgspec.Struct)), None))
                 for f in msgspec.structs.fields(cls))


def json_text(v: Any) -> str:
    """Any JSON value as text for the store ('' when absent; numbers keep every digit)."""
    if v is None:
        return ""
    if v.__class__ is str:
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return msgspec.json.encode(v).decode()


# -- what classify reads, for decode_crowded ------------------------------------------

def _read(cls: type) -> dict:
    """What ``classify`` reads of an object decoded as the struct ``cls`` (pruned.py):
    its fields, by their names in JSON, and of each what is read."""
    fields = {}
    for _, name, _, sub in _fields(cls):
        fields[name] = _read(sub) if sub else _READ_OF_ANY.get(name, TEXT)
    return fields


def _principal() -> dict:
    read: dict = {}
    for path in PRINCIPAL_PATHS:
        at = read
        for part in path[:-1]:
            at = at.setdefault(part, {})
        at[path[-1]] = TEXT
    return read


def has_ip(address: dict) -> bool:
    """Is this the item of ``clientAddress`` that classify takes the address of (the first such)?"""
    return bool(address.get("ip"))


def has_status(error: dict) -> bool:
    """Is this the item of ``result.data.errors`` that classify takes (the first such)?"""
    return error.get("status") not in (None, "")


_READ_OF_ANY = {  # the fields of type Any: a principal object, and lists of which classify takes one item
    "principal": _principal(),
    "clientAddress": First({"ip": TEXT}, has_ip),
    "errors": First({"status": TEXT, "detail": TEXT}, has_status),
}
READ = _read(Record)

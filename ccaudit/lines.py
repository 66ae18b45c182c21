"""Line mode: one record per line, each decoded and classified on its own (the hot path of
a load), with the consume command's noise lines and prefixes. ``ingest`` cuts the lines;
``jsondoc`` reads a piece between pretty objects that is no object this way too
(``piece_rows``)."""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import msgspec

from .classify import classify
from .decoding import (
    SPARSE,
    Malformed,
    decode,
    decode_failure,
    decode_lenient,
    decode_record,
    decode_refused,
    decode_struct,
    lone_cr,
    quoted_record,
    whole_json,
)
from .schema import MAX_RECORD
from .shape import BOM, NOISE
from .stats import LoadStats

MAX_LINE = MAX_RECORD  # longer lines are malformed


def line_rows(lines: Iterable[bytes], label: str, stats: LoadStats) -> Iterator[tuple]:
    """The hot path: one record per line, each decoded and classified on its own.
    ``stats.lines`` ends as the last line number."""
    lineno = 0
    row: tuple | None  # None: no row found by _keyed
    try:  # a stream that breaks (until_broken) still leaves the line count
        for line in lines:
            lineno += 1
            if len(line) > MAX_LINE:  # first: one of blanks, or a prefix, hides a record
                stats.bad(label, lineno, f"line longer than {MAX_LINE} bytes{lone_cr(line)}")
                continue
            first = line[:1]
            if first != b"{":  # noise, a prefix, or garbage
                # "% Headers: ...", every other line of a dump; one that ends in "}" or "," (before any blanks) may
                # have a record after its noise (its line end lost): _unprefixed looks (a search here cost 0.2 µs)
                if first == b"%" and line[1:2] == b" " and (line[-1] not in b"}," if line[-1] > 32 else
                                                             line.rstrip()[-1:] not in (b"}", b",")):
                    stats.noise_lines += 1
                    continue
                if first == b"[" and whole_json(line):  # not a prefix ("[INFO] {...}"): its records are not read
                    stats.bad(label, lineno, "a JSON array, not a JSON object")
                    continue
                unprefixed = _unprefixed(line)
                if unprefixed is None:
                    stats.noise_lines += 1
                    continue
                if unprefixed is GLUED:
                    stats.bad(label, lineno, GLUED_WHY)
                    continue
                if not unprefixed:
                    stats.bad(label, lineno, _ZEROS if b"\0" in line and b"{" in line else "not a JSON object")
                    continue
                line = unprefixed
            try:
                if len(line) > SPARSE:  # a long line may be crowded
                    record = decode(line)
                else:  # decoding.decode, inline: it runs for every line
                    if not line.isascii():
                        line.decode()
                    try:
                        record = decode_struct(line)  # the common case, without a Python call around it
                    except msgspec.ValidationError:
                        record = decode_lenient(line)
                row = classify(record)
            except Malformed as e:
                stats.bad(label, lineno, e.why)
                continue
            except (msgspec.DecodeError, ValueError, RecursionError) as e:
                row = _keyed(line)
                if row is None:
                    try:
                        item = _item(line)
                        row = classify(decode_record(item) if item else decode_refused(line, e))
                    except Malformed as why:
                        stats.bad(label, lineno, why.why)
                        continue
            stats.records_read += 1
            yield row
    finally:
        stats.lines = lineno


def _item(line: bytes) -> bytes | None:
    """The record of a line that is an array's item, ``{...},`` (or its last, ``{...}]``): a
    piece of an array of JSON Lines (``sed``'s) that ``split -l`` cut from its ``[``. The
    comma is the array's, not text after the record: read as text after it, every record of
    the piece but its last was lost. Told by the syntax alone, not by msgspec's words, which
    differ for a record with half a UTF-16 pair in a field ccaudit does not read."""
    item = _listed(line)
    return item if item[-1:] == b"}" and whole_json(item) else None


def _listed(line: bytes) -> bytes:
    """``line`` without the ``,`` or ``]`` that ends it as an array's item ('' if none does)."""
    body = line.rstrip(b" \t\r")
    return body[:-1].rstrip(b" \t\r") if body[-1:] in (b",", b"]") else b""


_ZEROS = "zero bytes before the record, where they may have overwritten another"
# a noise line that ends in "}" (or "},") and holds "id": stderr written into the dump as a record was (its line end
# lost), or a --print-key key starting "Headers:". Named, not read: where its record begins, if it is whole,
# only a search of every brace could tell, and a damaged one must not go unsaid
GLUED = bytearray()  # (empty, as _unprefixed's "no record", but told apart by identity)
GLUED_WHY = "the consume command's own text, then what may be a record (its line end lost?): not read"


def _unprefixed(line: bytes) -> bytes | None:
    """The record part of a line that does not start with ``{`` (or of one that is a JSON
    string holding a record): None for noise, b'' for a line with no record in it. Zero
    bytes before the record are not a prefix: they may have overwritten a record and the
    line's end before this one. After a byte-order mark (`cat` of two files that began with
    one), a line is judged as the first line of its file is. Noise that ends as a record
    does is GLUED: a record may follow it, its line end lost."""
    s = line.strip()
    if s.startswith(BOM):
        s = s[len(BOM):].lstrip()
    if not s or s == b"%":
        return None
    if s.startswith(NOISE):
        return GLUED if _ends_a_record(s) and b'"id"' in s else None  # type: ignore[return-value]  # told by identity
    i = s.find(b"{")
    if i < 0 or b"\0" in s[:i]:
        return b""
    if s[i - 1:i] == b'"' and (inner := quoted_record(s[i - 1:]) or quoted_record(_listed(s[i - 1:]))):
        return inner  # (after a prefix, or none; an array's item too, as _item)
    return s[i:]


def _ends_a_record(s: bytes) -> bool:
    """Does ``s`` (stripped) end as a record does, or as an array's item (``},``)? Not ``}]``:
    ``% Headers: [k={"id":1}]`` is a header's value."""
    return s.endswith(b"}") or s.endswith(b",") and s[:-1].rstrip().endswith(b"}")


def _keyed(line: bytes) -> tuple | None:
    """The row of a line that is a key with a ``{`` in it (``{"tenant": "x"}``, ``key{1}``),
    a TAB, then a record (the CLI's --print-key), if it is one: the first ``{`` is the key's."""
    tab = line.find(b"\t")
    record = _unprefixed(line[tab + 1:]) if tab >= 0 else None
    if not record:
        return None
    try:
        return classify(decode_record(_item(record) or record))
    except Malformed:
        return None


def piece_rows(piece: bytes, stats: LoadStats) -> Iterator[tuple | Malformed]:
    """The rows of the lines of ``piece``, between pretty objects and no object itself, read
    as line mode reads lines, its noise lines counted in ``stats``; each run of other lines
    (a record cut in half, text) is one Malformed item in its place, saying why it is no
    object. After a stray message on the first line, a consume command's dump (its records
    on lines of their own, prefixed or indented) was one malformed item: 900 records, exit 0."""
    bad = _Run()
    for line in _lines(piece):
        read = LoadStats()
        rows = list(line_rows((line,), "", read))
        if read.malformed:
            bad.add(line, read.problems[0][2])
            continue
        stats.noise_lines += read.noise_lines
        yield from bad.ended()
        yield from rows
    yield from bad.ended()


def record_on_a_line(text: bytes | bytearray, start: int, end: int) -> bool:
    """Does a line of ``text`` from ``start`` to ``end`` hold a record after a consume command's
    prefix (``Partition:0 Offset:12``, a key, a timestamp; then a TAB), as line mode reads one?
    Such lines after a pretty record cut short (``cat`` of a pretty dump and a consume command's)
    make it a piece of lines, not a record's tail; an indented line may be a field of that record."""
    for m in _PREFIXED.finditer(text, start, end):  # (each line tried once: the search goes on at the next)
        line_end, read = text.find(b"\n", m.start(), end), LoadStats()
        line = bytes(text[m.start():end if line_end < 0 else line_end])
        if list(line_rows((line,), "", read)) and not read.malformed:
            return True
    return False


_PREFIXED = re.compile(rb"(?m)^[^\s{%][^\t\n]*\t[ \t]*\{")  # a prefix, a TAB, a record's "{"


def keyed(text: bytes | bytearray, start: int) -> bool:
    """Is the line at ``start`` a value (a --print-key key: ``null``, ``"k"``, ``{"tenant": "x"}``),
    a TAB and a record, which line mode reads as that record (``_keyed``)?"""
    end = text.find(b"\n", start)
    return _KEYED.match(text, start, end if end >= 0 else len(text)) is not None


_KEYED = re.compile(rb"[^\t\n]+\t[ \t]*\{[^\n]*\}[ \t\r]*$", re.M)


class _Run:
    """Lines in a row that are neither a record nor noise: the first HELD bytes of them
    are kept to say why (a run can be 16 MiB of short lines)."""

    HELD = 1 << 16

    def __init__(self):
        self.lines: list[bytes] = []
        self.held, self.why = 0, ""

    def add(self, line: bytes, why: str) -> None:
        """Add ``line``, which line mode refused for ``why``."""
        if not self.lines:
            self.why = why
        if self.held < self.HELD or not self.lines:
            self.lines.append(line)
            self.held += len(line)

    def ended(self) -> Iterator[Malformed]:
        """The run's one Malformed item, if it has lines; it starts anew. A run of one line
        that holds JSON says what line mode says of it ("no id" after a prefix, not "not
        valid JSON"); of text, and of lines, what msgspec says of them together."""
        if self.lines:
            one = len(self.lines) == 1 and self.why != "not a JSON object"
            yield Malformed(self.why if one else _failure(b"\n".join(self.lines)))
            self.lines, self.held = [], 0


def _lines(piece: bytes) -> Iterator[bytes]:
    """The lines of ``piece`` that are not blank, one at a time: a piece can be 16 MiB of
    short lines, and a list of them took 25 times that."""
    start = 0
    while start < len(piece):
        end = piece.find(b"\n", start)
        end = len(piece) if end < 0 else end
        if not piece[start:end].isspace() and end > start:
            yield piece[start:end]
        start = end + 1


def _failure(piece: bytes) -> str:
    """Why ``piece``, a line or lines between objects, is not a record."""
    try:
        msgspec.json.decode(piece)
        return "not a JSON object"  # (a whole value that is no object is read as one)
    except (msgspec.DecodeError, RecursionError) as e:
        return decode_failure(e, piece)

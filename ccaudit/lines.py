"""Line mode: one record per line, each decoded and classified on its own (the hot path of
a load), with the consume command's noise lines and prefixes. ``ingest`` cuts the lines;
``jsondoc`` reads a piece between pretty objects that is no object this way too."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from .classify import classify
from .decoding import (
    SPARSE,
    Malformed,
    decode,
    decode_lenient,
    decode_record,
    decode_refused,
    decode_struct,
    lone_cr,
    quoted_record,
    whole_json,
)
from .schema import MAX_RECORD
from .shape import NOISE
from .stats import LoadStats

MAX_LINE = MAX_RECORD  # longer lines are malformed


def line_rows(lines: Iterable[bytes], label: str, stats: LoadStats, lineno: int = 0) -> Iterator[tuple]:
    """The hot path: one record per line, each decoded and classified on its own.

    Line numbers start after ``lineno``; ``stats.lines`` ends as the last line number.
    """
    try:  # a stream that breaks (until_broken) still leaves the line count
        for line in lines:
            lineno += 1
            if len(line) > MAX_LINE:  # first: one of blanks, or a prefix, hides a record
                stats.bad(label, lineno, f"line longer than {MAX_LINE} bytes{lone_cr(line)}")
                continue
            first = line[:1]
            if first != b"{":  # noise, a prefix, or garbage
                if first == b"%":
                    stats.noise_lines += 1
                    continue
                if first == b"[" and whole_json(line):  # not a prefix ("[INFO] {...}"): its records are not read
                    stats.bad(label, lineno, "a JSON array, not a JSON object")
                    continue
                unprefixed = _unprefixed(line)
                if unprefixed is None:
                    stats.noise_lines += 1
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
                        row = classify(decode_refused(line, e))
                    except Malformed as why:
                        stats.bad(label, lineno, why.why)
                        continue
            stats.records_read += 1
            yield row
    finally:
        stats.lines = lineno


_ZEROS = "zero bytes before the record, where they may have overwritten another"


def _unprefixed(line: bytes) -> bytes | None:
    """The record part of a line that does not start with ``{`` (or of one that is a JSON
    string holding a record): None for noise, b'' for a line with no record in it. Zero
    bytes before the record are not a prefix: they may have overwritten a record and the
    line's end before this one."""
    s = line.strip()
    if not s or s.startswith(NOISE):
        return None
    i = s.find(b"{")
    if i < 0 or b"\0" in s[:i]:
        return b""
    if s[i - 1:i] == b'"' and (inner := quoted_record(s[i - 1:])):  # a prefix, or none
        return inner
    return s[i:]


def _keyed(line: bytes) -> tuple | None:
    """The row of a line that is a key with a ``{`` in it (``{"tenant": "x"}``, ``key{1}``),
    a TAB, then a record (the CLI's --print-key), if it is one: the first ``{`` is the key's."""
    tab = line.find(b"\t")
    record = _unprefixed(line[tab + 1:]) if tab >= 0 else None
    if not record:
        return None
    try:
        return classify(decode_record(record))
    except Malformed:
        return None

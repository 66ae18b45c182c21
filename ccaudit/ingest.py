"""Read audit-log dumps of any shape, in constant memory, into store rows.

An input is sniffed from its content, not its name: gzip, bzip2 and xz by magic bytes,
then the first non-blank line decides the shape (decisions.md):

* ``[``            one JSON array, streamed with ijson;
* ``{`` alone      pretty-printed or concatenated objects, streamed with ijson;
* anything else    lines, each handled on its own, so one bad line never hides the next.

Line mode skips CLI noise (blank lines, ``%`` lines such as ``% Headers: [...]``,
``Headers:`` lines) and strips any prefix before a record's first ``{`` (offsets,
timestamps, keys). Every other line that is not one valid record is *malformed*: it is
counted with its ``file:line`` and reading goes on.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import sys
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

import ijson
import msgspec

from .classify import classify, decode, from_object
from .errors import InputError

MAX_LINE = 16 * 2**20  # longer lines are malformed; no real record comes near this
MAX_LISTED = 100  # malformed positions kept for the report

_MAGIC = (
    (b"\x1f\x8b", gzip.GzipFile, "gzip"),
    (b"BZh", bz2.BZ2File, "bzip2"),
    (b"\xfd7zXZ\x00", lzma.LZMAFile, "xz"),
)
_UNSUPPORTED = ((b"\x28\xb5\x2f\xfd", "zstd"), (b"PK\x03\x04", "zip"))


@dataclass
class LoadStats:
    """What a load read, kept, and skipped. ``records_read = inserted + duplicates``."""

    records_read: int = 0
    inserted: int = 0
    duplicates: int = 0
    noise_lines: int = 0
    malformed: int = 0
    malformed_lines: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # "where: what" for the first few
    failed_inputs: list = field(default_factory=list)  # inputs that gave no record at all
    errors: list = field(default_factory=list)  # why an input could not be read at all

    def bad(self, where: str, why: str) -> None:
        self.malformed += 1
        if len(self.malformed_lines) < MAX_LISTED:
            self.malformed_lines.append(where)
            self.problems.append(f"{where}: {why}")

    def merge(self, other: "LoadStats") -> None:
        for name in ("records_read", "inserted", "duplicates", "noise_lines"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for where, problem in zip(other.malformed_lines, other.problems):
            self.bad(where, problem.split(": ", 1)[-1])
            self.malformed -= 1
        self.malformed += other.malformed
        self.failed_inputs += other.failed_inputs
        self.errors += other.errors

    def as_dict(self) -> dict:
        return {
            "records_read": self.records_read,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "noise_lines": self.noise_lines,
            "malformed": self.malformed,
            "malformed_lines": self.malformed_lines,
        }

    def summary_line(self) -> str:
        line = (
            f"loaded {self.records_read} records: {self.inserted} new, "
            f"{self.duplicates} duplicates; skipped {self.noise_lines} noise lines, "
            f"{self.malformed} malformed"
        )
        if self.malformed_lines:
            more = "" if self.malformed <= 5 else ", ..."
            line += " (" + ", ".join(self.malformed_lines[:5]) + more + ")"
        return line


class Dump:
    """One input: a path or ``-``; knows how far its raw bytes have been read (for progress)."""

    def __init__(self, path: str):
        self.path = path
        self.label = "<stdin>" if path == "-" else path
        self.size = os.path.getsize(path) if path != "-" and os.path.isfile(path) else None
        self._raw: BinaryIO | None = None
        self.position = 0  # raw bytes read, as a worker process last reported them

    def tell(self) -> int:
        """Raw (compressed) bytes read so far."""
        try:
            return self._raw.tell() if self._raw else self.position
        except (OSError, ValueError):
            return self.position

    def open(self) -> BinaryIO:
        """The decompressed binary stream; raise InputError if the input is unusable."""
        raw = self._open_raw()
        if not isinstance(raw, io.BufferedReader):
            raw = io.BufferedReader(raw)  # type: ignore[arg-type]
        self._raw = raw
        try:
            head = raw.peek(8)[:8]
        except OSError as e:
            raise InputError(f"{self.label}: cannot read: {e.strerror}") from None
        for magic, opener, _name in _MAGIC:
            if head.startswith(magic):
                return io.BufferedReader(opener(raw), buffer_size=1 << 20)  # type: ignore[arg-type]
        for magic, name in _UNSUPPORTED:
            if head.startswith(magic):
                raise InputError(f"{self.label}: {name}-compressed input is not supported; decompress it first")
        return raw

    def close(self, stream: BinaryIO) -> None:
        if self.path != "-":
            stream.close()
            if self._raw is not None:
                self._raw.close()

    def _open_raw(self) -> BinaryIO:
        if self.path == "-":
            return sys.stdin.buffer
        if os.path.isdir(self.path):
            raise InputError(f"{self.path}: is a directory")
        try:
            return open(self.path, "rb")
        except FileNotFoundError:
            raise InputError(f"{self.path}: no such file") from None
        except OSError as e:
            raise InputError(f"{self.path}: cannot read: {e.strerror}") from None


def read_rows(dump: Dump, stats: LoadStats) -> Iterator[tuple]:
    """Yield a store row for every good record of one input, counting the rest in ``stats``.

    Raises InputError only when the input cannot be opened at all.
    """
    label = dump.label
    stream = dump.open()
    before = stats.records_read
    try:
        first = _first_content_line(stream, stats)
        if first is None:
            return
        body = first.strip()
        if body.startswith(b"[") or body == b"{":
            yield from _json_rows(_Prefixed(first, stream), label, stats, array=body.startswith(b"["))
        else:
            yield from _line_rows(stream, first, label, stats)
    except (OSError, EOFError, lzma.LZMAError) as e:
        # A truncated or corrupt compressed stream: keep what was read, say where it ended.
        stats.bad(f"{label}@end", f"input ends early ({e})")
    finally:
        dump.close(stream)
    if stats.records_read == before and (stats.malformed or stats.noise_lines):
        stats.failed_inputs.append(label)


def _first_content_line(stream: BinaryIO, stats: LoadStats) -> bytes | None:
    """The first non-blank line (blank lines before it are counted as noise)."""
    while True:
        line = stream.readline(MAX_LINE)
        if not line:
            return None
        if line.strip():
            return line
        stats.noise_lines += 1


def _line_rows(stream: BinaryIO, first: bytes, label: str, stats: LoadStats) -> Iterator[tuple]:
    """The hot path: one record per line, each decoded and classified on its own."""
    lineno = 0
    readline = stream.readline
    line = first
    while line:
        lineno += 1
        if line[0] != 123:  # not "{": noise, a prefix, or garbage
            line = _unprefixed(line, stats)
            if line is None:
                line = readline(MAX_LINE)
                continue
            if line is False:
                stats.bad(f"{label}:{lineno}", "not a JSON object")
                line = readline(MAX_LINE)
                continue
        if len(line) == MAX_LINE and not line.endswith(b"\n"):
            stats.bad(f"{label}:{lineno}", f"line longer than {MAX_LINE} bytes")
            while line and not line.endswith(b"\n"):
                line = readline(MAX_LINE)
            line = readline(MAX_LINE)
            continue
        try:
            row = classify(decode(line))
        except (msgspec.DecodeError, ValueError, RecursionError) as e:
            row = _decode_reason(e)
        if row.__class__ is str:
            stats.bad(f"{label}:{lineno}", row)
        else:
            stats.records_read += 1
            yield row
        line = readline(MAX_LINE)


def _unprefixed(line: bytes, stats: LoadStats) -> bytes | None | bool:
    """The record part of a line that does not start with ``{``.

    None for noise (counted here), False for a line with no record in it.
    """
    s = line.strip()
    if not s or s[:1] == b"%" or s.startswith(b"Headers:"):
        stats.noise_lines += 1
        return None
    i = s.find(b"{")
    return s[i:] if i > 0 else False


def _decode_reason(e: Exception) -> str:
    text = str(e).lower()
    if isinstance(e, UnicodeDecodeError):
        return "invalid UTF-8"
    if isinstance(e, msgspec.ValidationError):
        return "not a JSON object"
    for clue, reason in (("truncated", "JSON cut short"), ("trailing", "text after the JSON object")):
        if clue in text:
            return reason
    return "not valid JSON"


class _Prefixed(io.RawIOBase):
    """A stream that replays already-read bytes before the rest of ``stream``."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head, self._stream = head, stream
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n], self._head = self._head[:n], self._head[n:]
        else:
            data = self._stream.read(len(buf))
            n = len(data)
            buf[:n] = data
        self.consumed += n
        return n


def _json_rows(stream: _Prefixed, label: str, stats: LoadStats, array: bool) -> Iterator[tuple]:
    """Records of a JSON array or of concatenated objects, streamed by ijson."""
    items = ijson.items(stream, "item" if array else "", multiple_values=True, use_float=True)
    n = 0
    try:
        for obj in items:
            n += 1
            try:
                row = classify(from_object(obj))
            except msgspec.ValidationError:
                row = "not a JSON object"
            if row.__class__ is str:
                stats.bad(f"{label}:item {n}", row)
            else:
                stats.records_read += 1
                yield row
    except ijson.JSONError as e:
        at = stream.consumed
        left = _drain(stream)
        why = "JSON cut short" if isinstance(e, ijson.IncompleteJSONError) and not left else "invalid JSON"
        stats.bad(f"{label}@byte {at}", f"{why}; stopped reading, {left} bytes left unread")


def _drain(stream: BinaryIO) -> int:
    left = 0
    while chunk := stream.read(1 << 20):
        left += len(chunk)
    return left

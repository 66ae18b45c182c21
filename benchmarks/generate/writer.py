"""Writing a dump: the file (plain, gzip, bz2 or xz, written in large chunks) and its format.

Formats: ``cli`` (JSON Lines, each record followed by the Confluent CLI's ``% Headers:``
line), ``jsonl``, ``array`` (one JSON array, one record per line) and ``pretty`` (records
indented, one after another). ``DumpWriter`` counts the lines a reader must skip as noise and
the ones it must report as malformed.
"""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma

from .noise import NoiseLine

FORMATS = ("cli", "jsonl", "array", "pretty")
LINE_FORMATS = ("cli", "jsonl")
HEADERS_LINE = '% Headers: [content-type="application/cloudevents+json; charset=UTF-8"]'
CHUNK = 4 << 20  # characters buffered before each write


class ChunkedFile:
    """Buffered text writer over a plain or compressed binary file; ``bytes`` counts UTF-8 written."""

    def __init__(self, path, compression: str | None):
        self.file: io.BufferedIOBase
        if compression == "gzip":
            self.file = gzip.open(path, "wb", compresslevel=6)  # gzip(1)'s default; Python's 9 is 2x slower
        elif compression == "bz2":
            self.file = bz2.open(path, "wb")
        elif compression == "xz":
            self.file = lzma.open(path, "wb")
        else:
            self.file = open(path, "wb")
        self.buffer: list[str] = []
        self.buffered = 0
        self.bytes = 0

    def write(self, s: str) -> None:
        self.buffer.append(s)
        self.buffered += len(s)
        if self.buffered > CHUNK:
            self.flush()

    def flush(self) -> None:
        data = "".join(self.buffer).encode("utf-8")
        self.file.write(data)
        self.bytes += len(data)
        self.buffer = []
        self.buffered = 0

    def close(self) -> None:
        self.flush()
        self.file.close()


def pretty(line: str) -> str:
    return json.dumps(json.loads(line), indent=2, ensure_ascii=False)


def prefix(kind: int, partition: int, offset: int, t: float) -> str:
    """What a consumer may print before a record: kcat's partition and offset, with or without
    the timestamp; the CLI's timestamp; a null key."""
    ms = int(t * 1000) + 3
    if kind == 0:
        return "Partition:%d Offset:%d" % (partition, offset)
    if kind == 1:
        return "Timestamp:%d Partition:%d Offset:%d" % (ms, partition, offset)
    return "Timestamp: %d" % ms if kind == 2 else "null"


class DumpWriter:
    def __init__(self, path, fmt: str, compression: str | None):
        self.out = ChunkedFile(path, compression)
        self.fmt = fmt
        self.cli = fmt == "cli"
        self.noise_lines = 0
        self.malformed = 0
        self.first_element = True
        if fmt == "array":
            self.out.write("[ ")

    @property
    def bytes(self) -> int:
        return self.out.bytes

    def record(self, line: str) -> None:
        """One record (a first copy or a duplicate) in the dump's format."""
        if self.fmt in LINE_FORMATS:
            self._line(line)
        elif self.fmt == "array":
            self.out.write(line if self.first_element else ",\n" + line)
            self.first_element = False
        else:
            self.out.write(pretty(line) + "\n")

    def prefixed(self, prefix_text: str, line: str) -> None:
        """One record with a consumer prefix before it (line formats only)."""
        self._line(prefix_text + "\t" + line)

    def noise(self, noise: NoiseLine) -> None:
        if noise.record_line:
            self._line(noise.text)
        else:
            self.out.write(noise.text + "\n")
        if noise.malformed:
            self.malformed += 1
        else:
            self.noise_lines += 1

    def _line(self, text: str) -> None:
        self.out.write(text + "\n")
        if self.cli:
            self.out.write(HEADERS_LINE + "\n")
            self.noise_lines += 1

    def close(self, cut_record: str | None = None) -> None:
        """End the dump: with the first half of ``cut_record`` (malformed), or properly."""
        if cut_record is not None:
            text = pretty(cut_record) if self.fmt == "pretty" else cut_record
            text = text[: len(text) // 2]
            self.out.write(",\n" + text if self.fmt == "array" else text)
            self.malformed += 1
        elif self.fmt == "array":
            self.out.write(" ]\n")
        self.out.close()

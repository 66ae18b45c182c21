"""Coverage-guided fuzzing of ccaudit's decoders with atheris (libFuzzer). Not a pytest
module (no ``test_`` prefix) and not part of CI: it runs until stopped or until a finding.

Run it with::

    make fuzz                           # FUZZ_SECONDS=300 by default; installs atheris
    make fuzz FUZZ_SECONDS=3600

or by hand::

    .venv/bin/pip install atheris
    .venv/bin/python tests/fuzz_decoders.py -max_total_time=300 CORPUS_DIR [more libFuzzer flags]

An empty (or new) CORPUS_DIR is seeded with the fixtures. Unless given, ``-max_len=4096``
(small inputs run fast), ``-timeout=30`` (an input that takes longer is a finding) and a
dictionary of JSON and dump tokens are passed on to libFuzzer. A finding stops the run and
libFuzzer writes the input as ``crash-<sha1>`` (``-artifact_prefix=`` says where);
``python tests/fuzz_decoders.py crash-<sha1>`` replays one. Turn each into a regression
test in tests/test_fuzz.py (``xfail(strict=True)`` until ccaudit is fixed).

An input is three bytes of settings, then the data:

* byte 0: the block size of the readers (``ingest.BUFFER``, ``jsondoc.BLOCK``): the real
  one, or a few bytes, so that small inputs cross block boundaries (at least 16 for inputs
  over 512 bytes: tiny reads cost time quadratic in the input);
* byte 1: the line limit (``ingest.MAX_LINE``): the real one, or a few dozen bytes, so that
  the overlong-line paths run;
* byte 2: where to cut the data into the byte ranges parse workers read.

Each input goes through:

1. the line path: ``line_rows`` over ``iter_lines`` of the bytes;
2. the line path as parse workers take it: three byte ranges (``worker.range_lines``), which
   must give the lines of the whole, once each;
3. the JSON document path: ``json_rows``, as an array and as concatenated objects;
4. the whole reader: ``Dump.open`` (magic bytes, BOM), ``sniff`` and ``read_rows`` on a
   Dump whose bytes are in memory.

Any exception is a finding, except ``InputError`` from ``read_rows`` for an input it
refuses to open (zstd, zip, tar, UTF-16 or UTF-32: the documented exception); so is a broken invariant:

* one row per record read, each with its epoch hour, a non-empty id and a believable time;
* lines: ``records_read + noise_lines + malformed == stats.lines`` == the number of lines
  (pieces between b"\\n", the last one counted if not empty);
* JSON documents count no lines (noise lines, yes: before, between and after items).
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import sys
import tempfile

import atheris

with atheris.instrument_imports(include=["ccaudit"]):
    from ccaudit import ingest, jsondoc, lines, worker
    from ccaudit.errors import InputError
    from ccaudit.ingest import Dump, iter_lines, line_rows, read_rows, without_bom
    from ccaudit.jsondoc import json_rows
    from ccaudit.schema import HOUR_US, LAST_TIME
    from ccaudit.stats import LoadStats

REAL = {"BUFFER": ingest.BUFFER, "BLOCK": jsondoc.BLOCK, "MAX_LINE": ingest.MAX_LINE}
BLOCKS = (REAL["BUFFER"], 1, 3, 7, 16, 64, 4096)
LINE_LIMITS = (REAL["MAX_LINE"], 24, 64, 200)
REFUSED = ("-compressed input is not supported", "a tar archive; extract", "; convert it to UTF-8",  # zstd, zip,
           "is an SQLite file, not a dump", "drop the mark's 3 bytes first")  # UTF-16; a store; a BOM, then a
# compressed stream
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "fixtures")


class MemoryDump(Dump):
    """A Dump whose raw bytes are in memory, buffered as a file would be."""

    def __init__(self, data: bytes):
        super().__init__("<fuzz>")
        self.data = data

    def _open_raw(self):
        return io.BufferedReader(io.BytesIO(self.data), buffer_size=REAL["BUFFER"])


def settings_from(head: bytes, size: int = 0) -> None:
    """Block size and line limit from the first two bytes (the real ones for b"")."""
    block = BLOCKS[head[0] % len(BLOCKS)] if head else REAL["BUFFER"]
    if block < 16 and size > 512:  # reads of a byte or two cost quadratic time in jsondoc
        block = 16
    limit = LINE_LIMITS[head[1] % len(LINE_LIMITS)] if len(head) > 1 else REAL["MAX_LINE"]
    ingest.BUFFER = block
    jsondoc.BLOCK = block if block != REAL["BUFFER"] else REAL["BLOCK"]
    ingest.MAX_LINE = lines.MAX_LINE = worker.MAX_LINE = limit


def line_count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def check_rows(rows: list, stats: LoadStats) -> None:
    assert len(rows) == stats.records_read, (len(rows), stats)
    for row in rows:
        hour, id_, ts = row[0], row[1], row[2]
        assert isinstance(id_, str) and id_, row
        assert 0 <= ts < LAST_TIME and hour == ts // HOUR_US, row  # (ts in microseconds)


def lines_of_ranges(data: bytes, cuts: list[int]) -> list[bytes]:
    """The lines of ``data`` read as parse workers read byte ranges (worker.run)."""
    lines: list[bytes] = []
    bounds = [0, *cuts, len(data) + 1]
    for start, end in zip(bounds, bounds[1:]):
        if start == end:  # (no worker is given an empty range)
            continue
        lines += worker.range_lines(io.BufferedReader(io.BytesIO(data)), start, end)
    return lines


def fuzz_one(data: bytes) -> None:
    settings_from(data[:2], len(data))
    cut = data[2] if len(data) > 2 else 0
    data = data[3:]

    # 1. lines
    stats = LoadStats()
    rows = list(line_rows(iter_lines(io.BytesIO(data)), "fuzz", stats))
    check_rows(rows, stats)
    n = line_count(data)
    assert stats.records_read + stats.noise_lines + stats.malformed == stats.lines == n, (stats, n)

    # 2. lines in byte ranges, as parse workers read them
    whole = list(iter_lines(without_bom(io.BufferedReader(io.BytesIO(data)))))
    c1 = len(data) * cut // 255
    cuts = sorted({c1, (c1 + len(data)) // 2})
    # A line over the limit is cut to MAX_LINE + 1 bytes only when the limit is crossed
    # in its carry from one block to the next; either way it is malformed (line_rows
    # checks the length), so only that much of it is compared.
    over = ingest.MAX_LINE + 1
    assert [x[:over] for x in lines_of_ranges(data, cuts)] == [x[:over] for x in whole], (cuts, len(data))

    # 3. JSON documents
    for array in (True, False):
        stats = LoadStats()
        rows = list(json_rows(io.BufferedReader(io.BytesIO(data)), "fuzz", stats, array=array))
        check_rows(rows, stats)
        assert stats.lines == 0, stats  # (noise lines before, between and after items are counted)

    # 4. the whole reader
    stats = LoadStats()
    try:
        rows = list(read_rows(MemoryDump(data), stats))
    except InputError as e:  # only for a refused format, named with its hint
        assert any(hint in str(e) for hint in REFUSED), f"InputError for an input that can be opened: {e}"
        return
    check_rows(rows, stats)


def TestOneInput(data: bytes) -> None:  # the name atheris looks for
    try:
        fuzz_one(data)
    finally:
        settings_from(b"")


def seed(corpus: str) -> None:
    """Fill an empty corpus folder with the fixtures, plain and decompressed, behind
    three bytes of real settings."""
    os.makedirs(corpus, exist_ok=True)
    if os.listdir(corpus):
        return
    seeds = {}
    for name in sorted(os.listdir(FIXTURES)):
        if name.endswith(".py"):
            continue
        with open(os.path.join(FIXTURES, name), "rb") as f:
            raw = f.read()
        seeds[name] = raw
        for ext, decompress in ((".gz", gzip.decompress), (".bz2", bz2.decompress), (".xz", lzma.decompress)):
            if name.endswith(ext):
                seeds[name[: -len(ext)]] = decompress(raw)
    seeds["tiny-lines"] = b'% Headers: []\n{"id":"a","time":"2024-05-06T10:00:00Z","data":{"methodName":"x"}}\n'
    seeds["tiny-array"] = b'[{"id":"a","time":"2024-05-06T10:00:00Z","data":{"methodName":"x"}}, 5]'
    for name, data in seeds.items():
        for settings in (b"\x00\x00\x80", b"\x04\x01\x40"):  # real sizes; 7-byte blocks, 24-byte lines
            with open(os.path.join(corpus, f"seed-{settings.hex()}-{name}"), "wb") as f:
                f.write(settings + data)


DEFAULTS = ("-max_len=4096", "-timeout=30")  # small inputs run fast; a slow one is a finding
TOKENS = (b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b'"id":', b'"time":', b'"data":', b'"methodName":',
          b'"authenticationInfo":', b'"principal":', b'"result":', b'"status":', b'"2024-05-06T10:00:00Z"',
          b'"2024-05-06T10:00:00.123+02:00"', b'"SignIn"', b'"mds.Authorize"', b'"kafka.Authentication"',
          b"% Headers: [", b"Headers:", b"Partition:0 Offset:1\t", b"\\u0000", b"\\ud800", b"null", b"true",
          b"1e999", b"\r\n", b"\xef\xbb\xbf", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"[[[[[[[[")


def dictionary(folder: str | None) -> str:
    """The tokens as a libFuzzer dictionary file (it mutates with them), in ``folder``
    (next to the corpus) or a temporary file."""
    if folder is None:
        fd, path = tempfile.mkstemp(prefix="ccaudit-fuzz-", suffix=".dict")
        os.close(fd)
    else:
        path = os.path.join(folder, "tokens.dict")
    with open(path, "w") as f:
        for i, token in enumerate(TOKENS):
            f.write(f'token{i}="' + "".join(f"\\x{b:02x}" for b in token) + '"\n')
    return path


def main(argv: list[str]) -> None:
    positional = [a for a in argv[1:] if not a.startswith("-")]
    corpus = positional[0] if positional and not os.path.isfile(positional[0]) else None  # else: replay inputs
    if corpus is not None:
        seed(corpus)
    defaults = [*DEFAULTS, "-dict=" + dictionary(os.path.dirname(os.path.abspath(corpus)) if corpus else None)]
    argv = argv[:1] + [d for d in defaults if not any(a.startswith(d.split("=")[0] + "=") for a in argv)] + argv[1:]
    atheris.Setup(argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)

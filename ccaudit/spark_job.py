"""What runs inside Spark's Python workers for ``ccaudit spark``: ccaudit's own readers
and classifier, so the rules are exactly those of ``ccaudit load`` by construction.

Two routes (``spark_inputs`` picks one per file from its first bytes):

* ``line_events``: plain line-mode files, split across tasks by Spark's text reader.
  Each task sees whole lines of byte ranges ("blocks") of files, in order, and runs
  ``lines.line_rows`` over each block. Line numbers are relative to the block; the
  driver turns them into ``file:line`` from the blocks' line counts.
* ``whole_events``: everything else (gzip, bzip2, xz, JSON arrays, pretty-printed
  objects): one task reads the whole file and runs ``ingest.read_rows`` on it, which
  decompresses by magic bytes, streams documents through ``jsondoc`` and keeps what a
  broken stream gave before it broke, exactly as a local load does.

Both yield one row per record, with its position (rank of the file in input order,
block, ordinal in the block) so that the first copy of an event can win. What a block
read, skipped and found malformed goes to the driver through an accumulator, keyed by
(rank, block): a retried task sends the same entry again, which changes nothing. The
driver reads the blocks' summaries with ``load_stats``, at the end, beside the readers
whose counts it must put together.
"""
from __future__ import annotations

import io
import itertools
import marshal
from collections import defaultdict
from collections.abc import Iterable, Iterator

from ccaudit.classify import classify
from ccaudit.decoding import decode
from ccaudit.errors import InputError
from ccaudit.ingest import BUFFER, Dump, line_rows, note_if_failed, read_rows
from ccaudit.schema import HOUR, ID, KEY, METHOD, PRINCIPAL, SECTION, TS
from ccaudit.stats import LoadStats

EVENTS = ("hour long, id string, ts long, method string, principal string, section string, key string, "
          "rank int, block long, k long")  # ts in epoch µs; (rank, block, k) orders copies
BATCH = 8192  # rows per Arrow batch handed back to Spark
PACKED = "rows binary, events long"  # counts rows, marshalled (packed_counts)


def _micros_per_ts() -> int:
    """µs per unit of a classified row's TS: 1 once rows carry µs, 10**6 while they carry
    seconds. Asked of classify itself, so either layout of the row works."""
    row = classify(decode(b'{"id":"x","time":"1970-01-01T01:00:00Z","data":{"methodName":"m"}}'))
    return 1 if row[TS] == 3_600_000_000 else 1_000_000


SCALE = _micros_per_ts()


class BytesDump(Dump):
    """A ``Dump`` of bytes Spark has read (from any Hadoop file system): ccaudit's own
    opening (decompression by magic bytes, the BOM) applies to them unchanged."""

    def __init__(self, label: str, data: bytes):
        super().__init__("-")
        self.label, self.path, self._data = label, label, data

    def _open_raw(self):
        return io.BufferedReader(io.BytesIO(self._data), buffer_size=BUFFER)


def file_key(uri: str) -> str:
    """A file's URI as Spark's ``_metadata.file_path`` writes it (Hadoop writes local
    files both as ``file:/x`` and ``file:///x``)."""
    return "file:/" + uri[8:] if uri.startswith("file:///") else uri


class Blocks:
    """The accumulator of block summaries, {(rank, block): summary}. Updating by key
    makes a retried task's second report harmless."""

    def zero(self, value: dict) -> dict:
        return {}

    def addInPlace(self, a: dict, b: dict) -> dict:  # noqa: N802 (pyspark's name)
        a.update(b)
        return a


def summary(stats: LoadStats, failed: str | None = None) -> tuple:
    """What a block read: (lines, records, noise, malformed, first problems, where it
    stopped being read, failure)."""
    return stats.lines, stats.records_read, stats.noise_lines, stats.malformed, *stats.part(), failed


class _Out:
    """Event rows gathered column by column into Arrow batches."""

    def __init__(self):
        self.columns: list[list] = [[] for _ in range(10)]

    def add(self, row: tuple, rank: int, block: int, k: int) -> None:
        c = self.columns
        c[0].append(row[HOUR])
        c[1].append(row[ID])
        c[2].append(row[TS] * SCALE)
        c[3].append(row[METHOD])
        c[4].append(row[PRINCIPAL])
        c[5].append(row[SECTION])
        c[6].append(row[KEY])
        c[7].append(rank)
        c[8].append(block)
        c[9].append(k)

    def __len__(self) -> int:
        return len(self.columns[0])

    def batch(self):
        import pyarrow as pa

        names = [f.split()[0] for f in EVENTS.split(", ")]
        types = [pa.int64(), pa.string(), pa.int64(), pa.string(), pa.string(), pa.string(), pa.string(),
                 pa.int32(), pa.int64(), pa.int64()]
        out = pa.RecordBatch.from_arrays([pa.array(c, t) for c, t in zip(self.columns, types)], names=names)
        self.__init__()
        return out


def line_events(batches: Iterable, files: dict, acc) -> Iterator:
    """mapInArrow over (path, block, line) rows of line-mode files: one event row per record."""
    rows = (r for b in batches for r in zip(*(c.to_pylist() for c in b.columns)))
    out, seen = _Out(), {}
    for (path, block), group in itertools.groupby(rows, key=lambda r: (r[0], r[1])):
        rank, label = files[file_key(path)]
        stats = LoadStats()
        for k, row in enumerate(line_rows((r[2] for r in group), label, stats)):
            out.add(row, rank, block, k)
            if len(out) >= BATCH:
                yield out.batch()
        seen[(rank, block)] = summary(stats)
    acc.add(seen)
    if len(out):
        yield out.batch()


def whole_events(batches: Iterable, files: dict, acc) -> Iterator:
    """mapInArrow over (path, content) rows: each file read whole by ccaudit's reader."""
    out, seen = _Out(), {}
    for b in batches:
        paths, contents = b.column(0).to_pylist(), b.column(1)
        for i, path in enumerate(paths):
            rank, label = files[file_key(path)]
            stats, failed = LoadStats(), None
            dump = BytesDump(label, contents[i].as_py())
            try:
                for k, row in enumerate(read_rows(dump, stats, dump.open())):
                    out.add(row, rank, 0, k)
                    if len(out) >= BATCH:
                        yield out.batch()
            except InputError as e:
                failed = str(e)
            seen[(rank, 0)] = summary(stats, failed)
    acc.add(seen)
    if len(out):
        yield out.batch()


def packed_counts(batches: Iterable) -> Iterator:
    """mapInArrow over the counts' rows (``PACKED``): each Arrow batch of them as one
    marshalled list, with the events it counts. The driver then takes a partition's rows
    as a few values, and writes them to its spool as they are: a row at a time
    (``toLocalIterator`` alone) cost it about 10 µs a row, pickled and unpickled."""
    import pyarrow as pa

    for b in batches:
        if rows := list(zip(*(c.to_pylist() for c in b.columns))):
            yield pa.RecordBatch.from_pydict({"rows": [marshal.dumps(rows)], "events": [sum(r[5] for r in rows)]})


# -- on the driver: the blocks' summaries ------------------------------------------

def load_stats(labels: list[str], blocks: dict, binary: list[bool]) -> LoadStats:
    """The load summary of the files (in input order) from their blocks' summaries: line
    numbers made absolute, the first malformed places in file and line order, and an
    input with content but not one record noted as failed, as a local load does
    (``binary``: each file's first bytes are not text, as its route was told)."""
    by_file: dict[int, list] = defaultdict(list)
    for (rank, block), entry in blocks.items():
        by_file[rank].append((block, entry))
    stats = LoadStats()
    for rank, label in enumerate(labels):
        before = stats.records_read, stats.noise_lines, stats.malformed
        offset = 0
        for _, (lines, records, noise, malformed, problems, cut, failed) in sorted(by_file[rank], key=lambda b: b[0]):
            stats.add_part(label, offset, records, noise, malformed, problems, cut)
            offset += lines
            if failed:
                stats.fail(label, failed)
        note_if_failed(label, stats, before, binary[rank])
    return stats

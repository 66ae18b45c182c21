"""Rows read once and gone over twice: a text or markdown table sizes its columns before it
writes them, and a section can hold 300,000 keys that cost a second reading of the store
more than they cost to write.

The first IN_MEMORY items are held as they are; the rest are ``pack``ed and marshal'd to an
unnamed temporary file (in SQLite's temporary folder, where a report's large sorts go) a
batch at a time, and ``unpack``ed when they are read back. Both are bounded by size too:
by the length of each item's ``bulk`` (a row's key, which can be megabytes long). If that file cannot be written
(a full disk), the spool gives up and every later reading reads the source again.
"""
from __future__ import annotations

import contextlib
import marshal
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import IO, Any

from .errors import sqlite_tempdir


class Spool:
    """``source`` read once, on the first iteration, and given back by every later one.
    ``close()`` removes its file."""

    IN_MEMORY, IN_MEMORY_WEIGHT = 5_000, 16 * 2**20  # an ordinary section is held whole: no file, no packing
    BATCH, BATCH_WEIGHT = 1_000, 2**20

    def __init__(self, source: Iterable, pack: Callable[[Any], tuple], unpack: Callable[[tuple], object],
                 bulk: Callable[[object], Sized]):
        self.source, self.pack, self.unpack, self.bulk = source, pack, unpack, bulk
        self.items: list | None = None  # the first IN_MEMORY, once a reading has ended
        self.file: SpoolFile | None = None  # the rest
        self.gave_up = False  # the file could not be written

    def __iter__(self) -> Iterator:
        if self.gave_up:
            return iter(self.source)
        return self._filling() if self.items is None else self._replay()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()

    def _filling(self) -> Iterator:
        items: list  # the first IN_MEMORY, held
        items, batch, held, batched, bulk = [], [], 0, 0, self.bulk  # (a C getter: no Python call a row)
        count, weight = self.IN_MEMORY, self.IN_MEMORY_WEIGHT  # locals: read a row at a time
        file: SpoolFile | None = SpoolFile()
        for item in self.source:
            yield item  # then kept: what this reading worked out goes with it (a row's stats)
            if held < weight and len(items) < count:
                items.append(item)
                held += len(bulk(item))
            elif file is not None:
                batch.append(self.pack(item))
                batched += len(bulk(item))
                if len(batch) == self.BATCH or batched >= self.BATCH_WEIGHT:
                    file, batch, batched = file.write(batch), [], 0
        if batch and file is not None:
            file = file.write(batch)
        self.items, self.gave_up = items, file is None
        self.file = file if file is not None and file.sizes else None

    def _replay(self) -> Iterator:
        yield from self.items  # type: ignore[misc]
        if self.file is not None:
            yield from map(self.unpack, self.file.read())


class SpoolFile:
    """A spool's temporary file, opened with its first batch; read back as often as asked.
    ``ccaudit spark`` keeps its counts in one too (``add``, batches marshalled by Spark)."""

    def __init__(self, folder: str | None = None) -> None:
        self.folder = folder  # None: SQLite's, looked for only if a batch comes
        self.file: IO[bytes] | None = None
        self.sizes: list[int] = []  # of each batch, in order

    def write(self, batch: list) -> SpoolFile | None:
        """Itself, or None if the batch could not be written (the file is then closed)."""
        try:
            self.add(marshal.dumps(batch))
        except OSError:
            self.close()
            return None
        return self

    def add(self, data: bytes) -> None:
        """Write one marshalled list; an OSError (a full disk) is the caller's."""
        if self.file is None:
            self.file = tempfile.TemporaryFile(prefix="ccaudit-rows-", dir=self.folder or sqlite_tempdir())
        self.file.write(data)
        self.file.flush()  # a full disk is found here, not when the rows are read back
        self.sizes.append(len(data))

    def read(self) -> Iterator:
        """Every packed item, in order; two readings may take turns (a seek a batch)."""
        offset = 0
        for size in self.sizes:
            self.file.seek(offset)  # type: ignore[union-attr]
            yield from marshal.loads(self.file.read(size))  # type: ignore[union-attr]
            offset += size

    __iter__ = read

    def close(self) -> None:
        if self.file is not None:
            with contextlib.suppress(OSError):  # its flush of what a full TMPDIR did not take, raised again
                self.file.close()

"""Rows read once and iterated again: a text or markdown table sizes its columns before it
writes them, and a section can hold 300,000 keys that cost a second reading of the store
more than they cost to write.

The first IN_MEMORY items are kept as they are; the rest are ``pack``ed and marshal'd to an
unnamed temporary file (in SQLite's temporary folder, where a report's large sorts go) a
batch at a time, and ``unpack``ed when they are read back. If that file cannot be written
(a full disk), the spool is dropped and the next iteration reads the source again.
"""
from __future__ import annotations

import marshal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from .errors import sqlite_tempdir


class Spool:
    IN_MEMORY = 5_000  # an ordinary section is held whole: no file, no packing
    BATCH = 1_000

    def __init__(self, source: Iterable, pack: Callable[[object], tuple], unpack: Callable[[tuple], object]):
        self.source, self.pack, self.unpack = source, pack, unpack
        self.items: list | None = None  # the first IN_MEMORY, once a reading has ended
        self.file: IO[bytes] | None = None
        self.sizes: list[int] = []  # of each batch in the file, in order

    def __iter__(self) -> Iterator:
        return self._filling() if self.items is None else self._replay()

    def _filling(self) -> Iterator:
        items, batch = [], []
        spilled: Spilled | None = Spilled()
        for item in self.source:
            if len(items) < self.IN_MEMORY:
                items.append(item)
            elif spilled is not None:
                batch.append(self.pack(item))
                if len(batch) == self.BATCH:
                    spilled, batch = spilled.write(batch), []
            yield item
        if batch and spilled is not None:
            spilled = spilled.write(batch)
        if spilled is not None:
            self.items, self.file, self.sizes = items, spilled.file, spilled.sizes

    def _replay(self) -> Iterator:
        yield from self.items  # type: ignore[misc]
        offset = 0
        for size in self.sizes:  # a seek each: two readings may take turns
            self.file.seek(offset)  # type: ignore[union-attr]
            yield from map(self.unpack, marshal.loads(self.file.read(size)))  # type: ignore[union-attr]
            offset += size


class Spilled:
    """The temporary file of a spool being filled, opened with its first batch."""

    def __init__(self) -> None:
        self.file: IO[bytes] | None = None
        self.sizes: list[int] = []

    def write(self, batch: list) -> Spilled | None:
        """Itself, or None if the batch could not be written (the file is then closed)."""
        data = marshal.dumps(batch)
        try:
            if self.file is None:
                self.file = tempfile.TemporaryFile(prefix="ccaudit-rows-", dir=sqlite_tempdir())
            self.file.write(data)
            self.file.flush()  # a full disk is found here, not when the rows are read back
        except OSError:
            if self.file is not None:
                self.file.close()
            return None
        self.sizes.append(len(data))
        return self

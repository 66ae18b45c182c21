"""The store's numbers of keys and details, the text that events refer to by number.

A load's main process numbers each batch's keys and details (``Numbering.of``): those it
remembers at once, the others looked up in the table's unique index, the missing ones
added. In a store of months those indexes outgrow the page cache (18 and 40 MB of 64 KiB
pages at 10M events of 5,000 principals), so the lookups go in index order, a few hundred
in one statement: each index page is then read once a batch, not once a value.
"""
from __future__ import annotations

import functools
import itertools
import sqlite3
from collections.abc import Iterator

NUMBERS_CACHED = 10_000  # keys or details remembered per table, then forgotten (attackers can make millions)
CACHED_TEXT = 2**20  # or fewer, once their text is this many characters (an attacker's emails can be megabytes)
FOUND_AT_ONCE = 999  # values bound in one lookup: SQLite before 3.32 takes no more
FOUND_TEXT = 2**20  # characters bound in one lookup, at most (and one value): SQLite keeps a copy of them


class Numbering:
    """The numbers of the rows of ``keys`` and ``details`` on ``conn``, in a write
    transaction; ``forget`` them when it is rolled back."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._remembered: dict[str, _Remembered] = {}  # table -> its values' numbers

    def forget(self) -> None:
        """Forget every number: those given out in a transaction rolled back are no more."""
        self._remembered.clear()

    def of(self, table: str, columns: tuple[str, ...], values: list) -> list[int]:
        """The store's number for each of ``values`` (rows of ``table``), adding new ones."""
        remembered = self._remembered.get(table)
        if remembered is None:
            remembered = self._remembered[table] = _Remembered()
        values = [tuple(v) for v in values]
        numbers = list(map(remembered.numbers.get, values))
        missed = sorted(set(v for v, n in zip(values, numbers) if n is None))
        if not missed:
            return numbers  # type: ignore[return-value]
        found = self._found(table, columns, missed)
        new = [v for v in missed if v not in found]
        if new:
            found.update(self._added(table, columns, new))
        remembered.add(found)
        return [found[v] if n is None else n for v, n in zip(values, numbers)]

    def _found(self, table: str, columns: tuple[str, ...], values: list[tuple]) -> dict[tuple, int]:
        """The numbers of those of the sorted ``values`` that are stored (most of a load's
        are), looked up a few hundred at a time, in order. A statement keeps a copy of its
        bound text until it is run again, and sqlite3 keeps a statement per SQL text: so
        every lookup is of ``count`` values, the last padded with empty ones, and of at most
        FOUND_TEXT characters (an attacker's names can be megabytes)."""
        count = FOUND_AT_ONCE // (len(columns) + 1)
        find, padding = _find_sql(table, columns, count), ("",) * len(columns)
        found: dict[tuple, int] = {}
        for part in _parts(values, count):
            bound = [*itertools.chain.from_iterable((i, *v) for i, v in enumerate(part)),
                     *itertools.chain.from_iterable((-1, *padding) for _ in range(count - len(part)))]
            found.update((part[i], n) for i, n in self.conn.execute(find, bound) if i >= 0)
        return found

    def _added(self, table: str, columns: tuple[str, ...], values: list[tuple]) -> dict[tuple, int]:
        """Add ``values``, which the table lacks, in one statement: their numbers follow
        its largest (a sign-in attack has a new email a record, so nothing is read back),
        unless the numbers are not contiguous, and then they are looked up."""
        add, largest = _number_sql(table, columns)
        conn = self.conn
        last = conn.execute(largest).fetchone()[0]
        conn.executemany(add, values)
        if conn.execute(largest).fetchone()[0] == last + len(values):
            return dict(zip(values, range(last + 1, last + len(values) + 1)))
        return self._found(table, columns, values)  # SQLite numbers below the largest once it is 2**63 - 1


def _parts(values: list[tuple], count: int) -> Iterator[list[tuple]]:
    """``values`` in order, ``count`` at a time, or fewer once they pass FOUND_TEXT characters."""
    part, text = [], 0
    for value in values:
        part.append(value)
        text += sum(map(len, value))
        if len(part) == count or text >= FOUND_TEXT:
            yield part
            part, text = [], 0
    if part:
        yield part


@functools.cache
def _find_sql(table: str, columns: tuple[str, ...], n: int) -> str:
    """The statement that finds the numbers of ``n`` rows of ``keys`` or ``details``,
    each bound as its position and its values, in the order given (CROSS JOIN keeps it)."""
    named = ", ".join(columns)
    each = f"({', '.join('?' * (len(columns) + 1))})"
    on = " AND ".join(f"t.{c} = v.{c}" for c in columns)
    return (f"WITH v (i, {named}) AS (VALUES {', '.join([each] * n)})"
            f" SELECT v.i, t.rowid FROM v CROSS JOIN {table} t ON {on} WHERE v.i >= 0")  # padding probes nothing


@functools.cache
def _number_sql(table: str, columns: tuple[str, ...]) -> tuple[str, str]:
    """The statements that add rows to ``keys`` or ``details``: the insert, and the largest number."""
    named = ", ".join(columns)
    return (f"INSERT INTO {table} ({named}) VALUES ({', '.join('?' * len(columns))}) ON CONFLICT ({named}) DO NOTHING",
            f"SELECT coalesce(max(rowid), 0) FROM {table}")


class _Remembered:
    """A table's numbers of values (key or detail tuples of text), all forgotten once they
    would pass NUMBERS_CACHED values or CACHED_TEXT characters: an attacker can make
    millions of keys, or thousands of keys of megabytes. A bench week's 6,075 details are
    300,000 characters."""

    def __init__(self):
        self.numbers: dict[tuple, int] = {}
        self.text = 0

    def add(self, new: dict[tuple, int]) -> None:
        text = sum(len(s) for value in new for s in value if s)
        if len(new) > NUMBERS_CACHED or text > CACHED_TEXT:  # not remembered: what is stays
            return
        if len(self.numbers) + len(new) > NUMBERS_CACHED or self.text + text > CACHED_TEXT:
            self.numbers, self.text = {}, 0
        self.numbers.update(new)
        self.text += text

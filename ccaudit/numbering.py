"""The store's numbers of keys and details, the text that events refer to by number.

A load's main process numbers each batch's keys and details (``Numbering.of``): those it
remembers at once, the others looked up by their ``digest``, the missing ones added. The
unique index is of the digest, 16 bytes, not of the text: an index of a detail's 13 columns
is as large as the table, and in a store of months the two text indexes outgrew the page
cache (18 and 40 MB at 10M events of 5,000 principals), so that an append read most of
them again for every batch of names. The lookups go in index order, a few hundred in one
statement: each index page is then read once a batch, not once a value.
"""
from __future__ import annotations

import functools
import itertools
import operator
import sqlite3
from collections.abc import Iterable, Iterator

try:  # CPython's own BLAKE2b, which hashlib hands out too; hashlib first loads OpenSSL's
    from _blake2 import blake2b  # libcrypto, 3.7 MiB more in a load's main process
except ImportError:  # pragma: no cover - a Python without it
    from hashlib import blake2b

NUMBERS_CACHED = 10_000  # keys or details remembered per table, then forgotten (attackers can make millions)
CACHED_TEXT = 2**20  # or fewer, once their text is this many characters (an attacker's emails can be megabytes)
AT_ONCE = 249  # rows looked up in one statement: SQLite before 3.32 binds at most 999 values, 4 a row here


def digest(value: tuple[str, ...]) -> bytes:
    """What stands for a key's or a detail's text (a tuple of its columns) in its table's
    unique index: BLAKE2b of the columns joined by NULs, and, if a column holds a NUL, of
    their lengths too, so that no two values share the text hashed. UTF-8 and the hash are
    the same in every Python (``repr`` is not: what it escapes follows the Unicode tables)."""
    joined = "\0".join(value)
    if joined.count("\0") >= len(value):
        joined += "\0" + " ".join(map(str, map(len, value)))
    return blake2b(joined.encode("utf-8", "surrogatepass"), digest_size=16).digest()


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
        """The store's number for each of ``values`` (rows of ``table``), adding new ones,
        in the order of their text."""
        remembered = self._remembered.get(table)
        if remembered is None:
            remembered = self._remembered[table] = _Remembered()
        values = [tuple(v) for v in values]
        numbers = list(map(remembered.numbers.get, values))
        digests = {v: digest(v) for v, n in zip(values, numbers) if n is None}
        if not digests:
            return numbers  # type: ignore[return-value]
        found = self._found(table, digests)
        new = sorted(v for v in digests if v not in found)
        if new:
            found.update(self._added(table, columns, new, digests))
        remembered.add(found)
        return [found[v] if n is None else n for v, n in zip(values, numbers)]

    def _found(self, table: str, digests: dict[tuple, bytes]) -> dict[tuple, int]:
        """The numbers of those of ``digests``' values that are stored (most of a load's
        are), looked up in the order of the digests' index."""
        ordered = sorted(digests.items(), key=operator.itemgetter(1))
        return {value: n for value, (n,) in looked_up(self.conn, _find_sql(table), ordered, (b"",))}

    def _added(self, table: str, columns: tuple[str, ...], values: list[tuple],
               digests: dict[tuple, bytes]) -> dict[tuple, int]:
        """Add ``values``, which the table lacks (looked up in this write transaction), in
        one statement: their numbers follow its largest (a sign-in attack has a new email a
        record, so nothing is read back), unless the numbers are not contiguous, and then
        they are looked up."""
        add, largest = _number_sql(table, columns)
        conn = self.conn
        last = conn.execute(largest).fetchone()[0]
        conn.executemany(add, [(*v, digests[v]) for v in values])
        if conn.execute(largest).fetchone()[0] == last + len(values):
            return dict(zip(values, range(last + 1, last + len(values) + 1)))
        return self._found(table, {v: digests[v] for v in values})  # SQLite numbers below the largest at 2**63 - 1


def looked_up(conn: sqlite3.Connection, sql: str, keys: list[tuple], padding: tuple) -> Iterator[tuple]:
    """(item, the rest of its row) for each (item, *key) of ``keys`` that ``sql`` finds.
    ``sql`` (see ``values_sql``) binds AT_ONCE (position, *key) rows, in order; the last
    statement is padded with position -1 and ``padding``, which probes nothing. Every
    statement binds as many: sqlite3 keeps a statement per SQL text."""
    for start in range(0, len(keys), AT_ONCE):
        part = keys[start:start + AT_ONCE]
        bound = [*itertools.chain.from_iterable((i, *key) for i, (_, *key) in enumerate(part)),
                 *(-1, *padding) * (AT_ONCE - len(part))]
        for i, *row in conn.execute(sql, bound):
            yield part[i][0], row


def values_sql(columns: tuple[str, ...], select: str) -> str:
    """``select`` (FROM v CROSS JOIN its table, so that SQLite probes in the order given)
    with ``v``, AT_ONCE rows of (i, *columns) bound, those of i = -1 left out."""
    each = f"({', '.join('?' * (len(columns) + 1))})"
    return f"WITH v (i, {', '.join(columns)}) AS (VALUES {', '.join([each] * AT_ONCE)}) {select} AND v.i >= 0"


@functools.cache
def _find_sql(table: str) -> str:
    return values_sql(("digest",), f"SELECT v.i, t.rowid FROM v CROSS JOIN {table} t ON t.digest = v.digest")


@functools.cache
def _number_sql(table: str, columns: tuple[str, ...]) -> tuple[str, str]:
    """The statements that add rows to ``keys`` or ``details``: the insert, and the largest number."""
    return (f"INSERT INTO {table} ({', '.join(columns)}, digest) VALUES ({', '.join('?' * (len(columns) + 1))})",
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


def chunks(rows: Iterable[tuple], size: int) -> Iterator[list[tuple]]:
    """``rows`` in lists of ``size``, the last of what is left."""
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch

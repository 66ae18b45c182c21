"""Outputs of more rows than memory should hold: sorted in a scratch SQLite file, then
written row by row.

``diff`` has a row per key of either side, ``check`` a row per breach and ``methods`` a row
per method name: an attack of 400,000 distinct failed sign-ins makes that many. Held in
lists and laid out by tabulate, they took 500-600 MiB. Here they go into a private temporary database (on disk, in
TMPDIR, removed when it is closed), SQLite sorts them, spilling past 16 MiB, and the
tables are laid out in two passes over the sorted rows: one sizes the columns, one writes
them.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence

from .jsontext import dumps
from .text import columns, fill

WIDEST = 100  # terminal columns a column widens to; a longer cell is written as it is, unpadded


def database() -> sqlite3.Connection:
    """A private temporary database: its pages and sorts beyond a few MiB go to TMPDIR."""
    conn = sqlite3.connect("")  # "" is SQLite's on-disk temporary database
    conn.execute("PRAGMA temp_store = FILE")
    return conn


def text(value: str) -> bytes:
    """A key as stored here: its UTF-8 bytes (lone surrogates passed through), which SQLite
    sorts as Python sorts the text (by code point)."""
    return value.encode("utf-8", "surrogatepass")


def text_of(stored: bytes) -> str:
    return stored.decode("utf-8", "surrogatepass")


def table_lines(head: Sequence[str], right: Sequence[bool], rows: Callable[[], Iterable[Sequence[str]]],
                markdown: bool = False) -> Iterator[str]:
    """The rows (``rows()`` gives them afresh for each pass) as one table laid out as
    tabulate's "simple" format, or its "pipe" format for markdown; ``right`` says which
    columns are aligned right. Columns widen up to WIDEST only: padding every row to one
    long key (a record's choice) would make the table rows times that key's size; in text, a
    wider cell has a line of its own above its row, as a report's key has."""
    widths = [len(h) + 2 for h in head]  # tabulate's minimum padding of a header
    for cells in rows():
        widths = [max(w, min(columns(c), WIDEST)) for w, c in zip(widths, cells)]

    def line(cells: Sequence[str]) -> str:
        if not markdown and any(columns(c) > w for c, w in zip(cells, widths)):  # a line of its own above the
            own = "".join(f"{c}\n" for c, w in zip(cells, widths) if columns(c) > w)  # row, as a report's long key
            return own + line([c if columns(c) <= w else "" for c, w in zip(cells, widths)])
        padded = list(map(fill, cells, widths, right))
        return f"| {' | '.join(padded)} |\n" if markdown else "  ".join(padded).rstrip() + "\n"

    yield line(head)
    if markdown:
        yield "|" + "|".join("-" * (w + 1) + ":" if r else ":" + "-" * (w + 1) for w, r in zip(widths, right)) + "|\n"
    else:
        yield "  ".join("-" * w for w in widths) + "\n"
    yield from map(line, rows())


def json_chunks(doc: dict, member: str, items: Iterable[dict]) -> Iterator[str]:
    """``jsontext.dumps(doc)`` with ``doc[member]`` (a top-level member holding an empty
    list) filled with ``items``, one at a time."""
    before, mark, after = dumps(doc).partition(f'\n  "{member}": []')  # at the top level: indented by 2
    yield before + mark[:-1]
    sep = "\n    "
    for item in items:
        yield sep + dumps(item)[:-1].replace("\n", "\n    ")
        sep = ",\n    "
    yield ("]" if sep == "\n    " else "\n  ]") + after

"""What a store file must hold to be read: ccaudit's tables, as ccaudit makes them, of a
layout this version reads, and whole. A store from elsewhere (another program's, or made
to break a reader) or a damaged one is refused as it opens, in one line naming it."""
from __future__ import annotations

import contextlib
import functools
import os
import sqlite3

from .errors import StoreError
from .schema import LAYOUT_VERSION, READ_AS_IS, TABLES
from .storefile import tables


def check_layout(conn: sqlite3.Connection, path: str) -> None:
    existing = tables(conn)
    if path == ":memory:" and not existing:
        return
    if "all_events" not in existing:
        if os.path.getsize(path) == 0:  # as a load stopped in create() leaves it, or touch
            real = os.path.realpath(path) if os.path.islink(path) else path  # load makes no store through a link
            raise StoreError(f"{path}: an empty file, not yet a store (a load into it stopped as it began?); "
                             f"loading a dump makes it one: ccaudit load DUMP --db {real}")
        raise StoreError(f"{path}: not a ccaudit store")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version < 1:  # tables of ccaudit's names without a layout: another program's (clean says so too)
        raise StoreError(f"{path}: not a ccaudit store (its tables have ccaudit's names, but it has no layout "
                         "version)")
    if version > LAYOUT_VERSION:
        raise StoreError(f"{path}: a store of a newer ccaudit (layout {version}, this one reads up to "
                         f"{LAYOUT_VERSION}); read it with the newer ccaudit that made it")
    if version not in (LAYOUT_VERSION, *READ_AS_IS):
        raise StoreError(f"{path}: a store of another ccaudit version (layout {version}, this one "
                         f"reads {LAYOUT_VERSION}); load the dumps into a new store")
    missing = set(TABLES) - existing
    if missing:  # damaged, or edited by hand: every query would fail on it
        raise StoreError(f"{path}: not a whole ccaudit store (no table {', '.join(sorted(missing))})")
    refuse_triggers(conn, path)
    refuse_stand_ins(conn, path)
    _refuse_missing_columns(conn, path, version)
    _refuse_cut_short(conn, path)


def _refuse_cut_short(conn: sqlite3.Connection, path: str) -> None:
    """A store shorter than its pages (a copy that stopped part way) was read as if its last
    pages were there: reports counted, and loads stored, without a word."""
    pages, size = conn.execute("SELECT * FROM pragma_page_count, pragma_page_size").fetchone()
    if path == ":memory:" or conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":  # (a WAL holds pages)
        return
    try:
        have = os.path.getsize(path)
    except OSError:  # gone meanwhile (clean): reading it says so
        return
    if have < pages * size:
        raise StoreError(f"{path}: the store is damaged: cut short ({have:,} bytes of {pages * size:,}); "
                         "copy it again, or load the dumps into a new store")


def _refuse_missing_columns(conn: sqlite3.Connection, path: str, version: int) -> None:
    """A column dropped or renamed by hand: a query failed on it, naming neither store of a
    diff (layouts 8 and 9 have no digests of names). A table made again without its key: a
    load of a dump already in it added every record again, and counts rows twice were summed
    twice. A collation: ccaudit declares none, and one merged keys a diff tells apart."""
    for table, (columns, key) in _columns().items():
        info = conn.execute(f"PRAGMA table_info({table})").fetchall()
        have = {c for _, c, *_ in info}
        lacking = [c for c in columns if c not in have and not (c == "digest" and version in READ_AS_IS)]
        if lacking:
            raise StoreError(f"{path}: not a whole ccaudit store (its {table} has no column {lacking[0]}); load "
                             "the dumps into a new store")
        if _key(info) != key:
            raise StoreError(f"{path}: its {table} is not keyed as ccaudit keys it (made again by hand?); load the "
                             "dumps into a new store")
    collated = conn.execute("SELECT name FROM sqlite_master WHERE name IN (" + ", ".join("?" * len(TABLES))
                            + ") AND sql LIKE '%COLLATE%' ORDER BY name", list(TABLES)).fetchone()
    if collated:
        raise StoreError(f"{path}: its {collated[0]} declares a collation, which ccaudit does not; load the dumps "
                         "into a new store")


@functools.cache
def _columns() -> dict[str, tuple[list[str], list[str]]]:
    """Each table's columns and primary key, as ``create_tables`` makes them."""
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        for sql in TABLES.values():
            conn.execute(sql)
        infos = {t: conn.execute(f"PRAGMA table_info({t})").fetchall() for t in TABLES}
    return {t: ([r[1] for r in info], _key(info)) for t, info in infos.items()}


def _key(info: list[tuple]) -> list[str]:
    """The primary key's columns, in its order, from ``PRAGMA table_info``'s rows."""
    return [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]]


def refuse_stand_ins(conn: sqlite3.Connection, path: str) -> None:
    """A view or a virtual table where ccaudit keeps a table: a store from elsewhere could
    run any query it likes when ccaudit reads it (one that never ends, deaf to Ctrl-C)."""
    names = ", ".join("?" * len(TABLES))
    odd = conn.execute(f"SELECT name FROM sqlite_master WHERE name IN ({names}) AND (type != 'table'"
                       " OR sql NOT LIKE 'CREATE TABLE %') ORDER BY name", list(TABLES)).fetchone()
    if odd:
        raise StoreError(f"{path}: its {odd[0]} is not a table, as ccaudit makes it; load the dumps into a new store")


def refuse_triggers(conn: sqlite3.Connection, path: str) -> None:
    """ccaudit makes none: a store from elsewhere could drop or change rows as a load adds them."""
    trigger = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchone()
    if trigger:
        raise StoreError(f"{path}: holds a trigger ({trigger[0]}), which ccaudit does not make; load the dumps "
                         "into a new store")

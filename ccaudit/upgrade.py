"""A store of an earlier layout, brought to this one in place, once.

Layout 4 kept ``counts`` per (UTC quarter hour, key); layout 5 keeps one row per (UTC
day, key) with its hours and quarter hours packed (``daycounts.py``), so that a report
reads a day of a key in one row. Layout 6 adds ``method_counts``, the same per (UTC day,
method), summed from ``counts``. Layout 7 keys ``counts`` by (day, section, key), with a
copy of each key's section, so that a report reads one section's rows of a day. Layout 8
adds to both the hours that start 15, 30 and 45 minutes past the UTC hour, worked out
from the quarter hours. Layout 9 lets a row of few quarter hours keep no hours (the rows
brought forward here keep theirs). Layout 10 makes ``keys`` and ``details`` unique by the
digest of their text (``numbering.digest``), not by an index of the text itself. Reports
read layouts 8 and 9 as they are (a store on read-only media stays readable); a load
brings them forward first. Each step is one write transaction: a crash or a full disk
leaves the store as it was. Older layouts kept times to the second and cannot be
brought forward (storefile says so).
"""
from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Callable, Iterator
from typing import NoReturn

from . import daycounts, sqlraised
from .errors import StoreError, out_of_space
from .numbering import digest
from .schema import DAY, DETAIL_COLUMNS, KEY_COLUMNS, LAYOUT_VERSION, QUARTER, READ_AS_IS, TABLES
from .sidefiles import check_journal_name
from .storefile import BUSY_WAIT, patiently, uri, write_transaction
from .storeshape import refuse_stand_ins, refuse_triggers

PREVIOUS = (4, 5, 6, 7)  # the layouts brought to this one before they are read (and READ_AS_IS before a load)
LAYOUT_5_COUNTS = ("CREATE TABLE counts (day INTEGER NOT NULL, kid INTEGER NOT NULL, n INTEGER NOT NULL,"
                   " first_us INTEGER NOT NULL, last_us INTEGER NOT NULL, hours BLOB NOT NULL,"
                   " quarters BLOB NOT NULL, PRIMARY KEY (day, kid)) WITHOUT ROWID")


def needed(conn: sqlite3.Connection, readonly: bool) -> bool:
    """Is the store open on ``conn`` of an earlier layout that must be brought forward,
    to be read or (not ``readonly``) written?"""
    if conn.execute("PRAGMA user_version").fetchone()[0] not in (PREVIOUS if readonly else PREVIOUS + READ_AS_IS):
        return False
    return conn.execute("SELECT count(*) FROM sqlite_master WHERE name IN ('all_events', 'counts')").fetchone()[0] == 2


def upgrade(path: str, notify: Callable[[str], None] | None = None) -> None:
    """Bring the store at ``path``, of an earlier layout, to this one (a write, by a reading
    command too: refused for a store of two names, as a load is)."""
    check_journal_name(path)
    version = " or ".join(map(str, PREVIOUS))
    raised: list[BaseException] = []  # by Python called from SQL, which makes any of them an sqlite3.Error
    try:
        conn = sqlite3.connect(uri(path), uri=True, timeout=BUSY_WAIT, isolation_level=None)
        with contextlib.closing(conn):
            # a rename checks every view; one of the user's own on counts would refuse it, as the
            # counts it reads are dropped just before
            conn.execute("PRAGMA legacy_alter_table = ON")
            version = patiently(conn, "PRAGMA user_version")[0][0]
            with write_transaction(conn, path, notify):
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                _bring_forward(conn, path, version, notify, raised)
    except sqlite3.Error as e:
        if raised and not isinstance(raised[0], Exception):  # Ctrl-C or SIGTERM while a row was recounted
            raise raised[0] from None
        if raised:
            _damaged(path, version, raised[0])
        why = "no space left, in its folder or in TMPDIR, or an I/O error" if out_of_space(e) else str(e)
        raise StoreError(f"{path}: a store of layout {version}, which this ccaudit must bring to layout "
                         f"{LAYOUT_VERSION} once, with write access; it could not ({why})") from None
    except (ValueError, TypeError, IndexError, OverflowError) as e:  # layouts 4 and 5's blobs, unpacked here
        _damaged(path, version, e)


def _bring_forward(conn: sqlite3.Connection, path: str, version: int, notify: Callable[[str], None] | None,
                   raised: list[BaseException]) -> None:
    """Bring the store, of layout ``version``, to this one, in the write transaction open on ``conn``."""
    if version not in PREVIOUS + READ_AS_IS:  # done meanwhile, by another process
        return
    refuse_triggers(conn, path)  # before anything changes: a trigger of keys would go with the table
    refuse_stand_ins(conn, path)
    if version in PREVIOUS:  # and before the notice, which would announce an upgrade then refused
        _refuse_partial(conn, path, version)
    conn.execute(f"PRAGMA user_version = {version}")  # a first write, before the notice: read-only
    if notify:  # media (whose lock is taken all the same) refuse it here
        notify(f"{path}: a store of layout {version}; bringing it to layout {LAYOUT_VERSION} (once)")
    if version in PREVIOUS:
        _count_again(conn, version, raised)
    _digest_names(conn, raised)
    conn.execute(f"PRAGMA user_version = {LAYOUT_VERSION}")


def _damaged(path: str, version: object, e: BaseException) -> NoReturn:
    raise StoreError(f"{path}: a store of layout {version} with a damaged row of counts ({type(e).__name__}: "
                     f"{e}); it cannot be brought to layout {LAYOUT_VERSION}: load the dumps into a new store"
                     ) from None


def _refuse_partial(conn: sqlite3.Connection, path: str, version: int) -> None:
    """Before anything is written: a store made by a development version of its layout (layout
    4's first had no quarters) would be stamped with this one and then refused for good."""
    have = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    missing = sorted({"keys", "details", "events", "quarters", "meta"} - have)
    if missing:
        raise StoreError(f"{path}: a store of layout {version} without its table {missing[0]}; it cannot be "
                         f"brought to layout {LAYOUT_VERSION}: load the dumps into a new store")
    columns = {name for _, name, *_ in conn.execute("PRAGMA table_info(counts)")}
    column, later, methods = _LAYOUTS[version]
    if column not in columns or columns & {"offset_hours", *later} or ("method_counts" in have) != methods:
        raise StoreError(f"{path}: marked layout {version}, but its tables are not that layout's; it cannot be "
                         f"brought to layout {LAYOUT_VERSION}: load the dumps into a new store")  # edited by hand


def _count_again(conn: sqlite3.Connection, version: int, raised: list[BaseException]) -> None:
    """The counts and method_counts of layout ``version`` (4 to 7) as this layout's."""
    conn.create_function("offset_hours", 1, sqlraised.kept(daycounts.offset_hours, raised), deterministic=True)
    if version == 4:
        _regroup(conn)
    if version in (4, 5):
        _count_methods(conn)
    else:
        _recount(conn, "method_counts", "c.method", "method_counts c")
    if version == 7:
        _recount(conn, "counts", "c.section, c.kid", "counts c")
    else:  # keyed by (day, kid): the section is the key's
        _recount(conn, "counts", "k.section, c.kid", "counts c JOIN keys k USING (kid)")


def _digest_names(conn: sqlite3.Connection, raised: list[BaseException]) -> None:
    """``keys`` and ``details`` made anew, each row with the digest of its text and the
    same number (events and counts refer to it). The text is read as bytes: sqlite3 cannot
    pass text that is not UTF-8 (a store edited by hand) to Python, and the store would be
    refused by every command; such bytes get a digest of their own."""
    conn.create_function("digest", -1, sqlraised.kept(_digest_of_bytes, raised), deterministic=True)
    for table, columns in (("keys", KEY_COLUMNS), ("details", DETAIL_COLUMNS)):
        new, named = _new_table(conn, table, TABLES[table]), ", ".join(columns)
        as_bytes = ", ".join(f"CAST({c} AS BLOB)" for c in columns)
        conn.execute(f"INSERT INTO {new} SELECT rowid, {named}, digest({as_bytes}) FROM {table} ORDER BY rowid")
        _in_place(conn, new, table)


def _new_table(conn: sqlite3.Connection, table: str, create: str) -> str:
    """``table`` made anew by ``create``, empty, under a name the store does not hold (a
    table of one's own may have any name; SQLite's names ignore case). Its name."""
    taken = {name.lower() for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    new = next(name for i in itertools.count() if (name := f"{table}_new{i or ''}") not in taken)
    conn.execute(create.replace(f"TABLE {table}", f"TABLE {new}", 1))
    return new


def _in_place(conn: sqlite3.Connection, new: str, table: str) -> None:
    conn.execute(f"DROP TABLE {table}")
    conn.execute(f"ALTER TABLE {new} RENAME TO {table}")


def _digest_of_bytes(*text: bytes) -> bytes:
    """The digest of a row's text given as bytes (UTF-8 as a load's text; other bytes kept
    as lone surrogates, which no load's text holds)."""
    return digest(tuple(b.decode("utf-8", "surrogateescape") for b in text))


_LAYOUTS = {  # layout -> a column of its counts, columns of later layouts' counts, whether it has method_counts
    4: ("quarter", ("day",), False),
    5: ("day", ("section",), False),
    6: ("day", ("section",), True),
    7: ("section", (), True),
}


def _regroup(conn: sqlite3.Connection) -> None:
    """Layout 4's counts per quarter hour as layout 5's per day."""
    new = _new_table(conn, "counts", LAYOUT_5_COUNTS)
    conn.executemany(f"INSERT INTO {new} (day, kid, n, first_us, last_us, hours, quarters)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?)", (r[:6] + r[7:] for r in _day_rows(conn)))  # but offset hours
    _in_place(conn, new, "counts")


def _day_rows(conn: sqlite3.Connection) -> Iterator[tuple]:
    """The new counts rows, a day at a time (each day sorted by key; days with no counts
    are skipped by the old key, quarter first)."""
    read, days = conn.cursor(), conn.cursor()
    day = days.execute("SELECT min(quarter) FROM counts").fetchone()[0]
    while day is not None:
        day -= day % DAY
        rows = read.execute("SELECT kid, quarter, n, first_us, last_us FROM counts WHERE quarter >= ? AND quarter < ?"
                            " ORDER BY kid, quarter", (day, day + DAY))  # a key at a time: a day may hold millions
        for kid, group in itertools.groupby(rows, key=lambda r: r[0]):
            quarters = {(q - day) // QUARTER: [n, first, last] for _, q, n, first, last in group}
            yield (day, kid, *daycounts.pack(day, quarters, keep_hours=True))  # offset hours added later
        day = days.execute("SELECT min(quarter) FROM counts WHERE quarter >= ?", (day + DAY,)).fetchone()[0]


def _recount(conn: sqlite3.Connection, table: str, key: str, source: str) -> None:
    """``table`` (counts or method_counts) made anew from ``source``, of an earlier
    layout: with ``key`` after the day, and the offset hours of each row's quarter hours."""
    new = _new_table(conn, table, TABLES[table])
    conn.execute(f"INSERT INTO {new} SELECT c.day, {key}, c.n, c.first_us, c.last_us, c.hours,"
                 f" offset_hours(c.quarters), c.quarters FROM {source} ORDER BY 1, 2, 3")
    _in_place(conn, new, table)


def _count_methods(conn: sqlite3.Connection) -> None:
    conn.execute(TABLES["method_counts"])
    conn.executemany("INSERT INTO method_counts (day, method, n, first_us, last_us, hours, offset_hours, quarters)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", _method_rows(conn))


def _method_rows(conn: sqlite3.Connection) -> Iterator[tuple]:
    """The method_counts rows, summed from counts a day, and a method, at a time (a day of
    attacker-made methods held as one dict took 200 MiB)."""
    read, days = conn.cursor(), conn.cursor()
    day = days.execute("SELECT min(day) FROM counts").fetchone()[0]
    while day is not None:
        rows = read.execute("SELECT k.method, c.quarters FROM counts c JOIN keys k USING (kid) WHERE c.day = ?"
                            " ORDER BY k.method", (day,))
        for method, group in itertools.groupby(rows, key=lambda r: r[0]):
            quarters: dict[int, list] = {}
            for _, blob in group:
                daycounts.add(quarters, day, blob)
            yield (day, method, *daycounts.pack(day, quarters))
        day = days.execute("SELECT min(day) FROM counts WHERE day > ?", (day,)).fetchone()[0]

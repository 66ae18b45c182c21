"""A damaged store named as such. When reading a store fails, these say whether a row holds
what no load makes (edited by hand, or made so to break a reader), or SQLite finds its pages
damaged: a message naming the store (exit 2), not an internal error. Looked for only after
a failure, as each scans a table or the file; but for the pages of a table a report reads,
looked at before its first read (``pages_whole``): a page can be damaged and read short of rows."""
from __future__ import annotations

import sqlite3
import time

from .daycounts import SPARSE
from .errors import StoreError
from .schema import DETAIL_COLUMNS, HOUR_US, KEY_COLUMNS, LAST_TIME, QUARTER, QUARTER_US, US

_WHOLE = ("typeof(n) != 'integer' OR typeof(first_us) != 'integer' OR typeof(last_us) != 'integer'"
          " OR n NOT BETWEEN 1 AND 1e15 OR first_us > last_us")  # no load makes 0, a negative, or 2**63 - 1
_BLOBS = ("typeof(hours) != 'blob' OR typeof(offset_hours) != 'blob' OR typeof(quarters) != 'blob'"
          " OR misshapen_quarters(quarters, n)"  # daycounts.misshapen
          " OR NOT (length(hours) = 96 AND length(offset_hours) = 300"  # or none, for a row of few quarters
          f" OR length(hours) + length(offset_hours) = 0 AND length(quarters) <= {16 * SPARSE})")


def _span(start: str, seconds: int) -> str:
    """A bucket (a day, a quarter hour) that no load makes: off its boundary, before 1970 or
    from 3000 on, or with times outside it (reports' dates and sums fail on them)."""
    return (f"{start} % {seconds} != 0 OR {start} NOT BETWEEN 0 AND {LAST_TIME // US - seconds}"
            f" OR first_us < {start} * 1000000 OR last_us >= ({start} + {seconds}) * 1000000")


_DAYS = f"typeof(day) != 'integer' OR {_WHOLE} OR {_BLOBS} OR {_span('day', 86_400)}"


def _not_text(columns: tuple[str, ...]) -> str:
    """A TEXT column takes a blob or a number too (edited by hand, or made so)."""
    return " OR ".join(f"typeof({c}) != 'text'" for c in columns)


_MISSHAPEN = {  # table -> what makes one of its rows unreadable
    "counts": _DAYS,
    "method_counts": f"{_DAYS} OR {_not_text(('method',))}",
    "quarters": f"typeof(quarter) != 'integer' OR {_WHOLE} OR {_span('quarter', 900)}",
    "events": "typeof(hour) != 'integer' OR typeof(us) != 'integer' OR typeof(kid) != 'integer'"
              " OR typeof(id) NOT IN ('text', 'blob') OR typeof(connection_id) NOT IN ('text', 'null')"
              " OR typeof(did) NOT IN ('integer', 'null')"
              f" OR us NOT BETWEEN 0 AND {LAST_TIME - 1} OR hour != us / {HOUR_US}",  # its hour is its time's
    "keys": _not_text(KEY_COLUMNS),
    "details": _not_text(DETAIL_COLUMNS),
}


def check_counts(conn: sqlite3.Connection, path: str, e: BaseException) -> None:
    """Raise StoreError if a row of the counts or events is misshapen (edited by hand, or
    made so): what ``e``, raised while rows were read, came from, rather than a bug of
    ccaudit. Looked for only then: a scan of the tables would cost every report of a large store."""
    for table, misshapen in _MISSHAPEN.items():
        try:
            found = conn.execute(f"SELECT 1 FROM {table} WHERE {misshapen} LIMIT 1").fetchone()
        except sqlite3.Error:
            return
        if found:
            raise StoreError(f"{path}: a row of its {table} is damaged ({type(e).__name__}: {e}); load the "
                             "dumps into a new store") from None


def check_pages(conn: sqlite3.Connection, path: str, e: sqlite3.DatabaseError) -> None:
    """Raise StoreError naming ``path`` if SQLite finds its pages damaged: what ``e`` ("database
    disk image is malformed") came from. Looked for only then: the check reads every page."""
    if isinstance(e, sqlite3.OperationalError) and "Could not decode" not in str(e):  # locked, full,
        return  # interrupted: not damage; a text not UTF-8 may be a page's bytes garbled
    try:
        found = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.DatabaseError as again:
        found = str(again)
    if found != "ok":
        where = found.splitlines()[-1]  # ("*** in database main ***" first)
        raise StoreError(f"{path}: the store is damaged ({e}: {where}); load the dumps into a new store") from None


def pages_whole(conn: sqlite3.Connection, path: str, tables: tuple[str, ...], checked: set[str]) -> None:
    """Raise StoreError naming ``path`` if SQLite finds damaged a page of ``tables`` not yet
    ``checked`` (which it adds them to), before a report first reads them. A page garbled
    part way can still be read, with fewer rows: they were left out of every report, unsaid.
    SQLite reads each page, then each row for its NOT NULL columns: twice the table, where
    the page cache does not hold it (``counts`` of the 10M-event store, 104 MB, in 0.06 s
    from the system's cache; ``events``, which only an export reads whole, 1.2 s)."""
    if sqlite3.sqlite_version_info < (3, 33):  # before, a table's name was taken for the whole file's
        return
    for table in tables:
        if table in checked:
            continue
        found = conn.execute(f"PRAGMA quick_check({table})").fetchone()[0]
        if found != "ok":
            raise StoreError(f"{path}: the store is damaged (database disk image is malformed: "
                             f"{found.splitlines()[-1]}); load the dumps into a new store")
        checked.add(table)


def counted(row: tuple) -> tuple:
    """A row of ``quarters``, if its count is one a load makes (edited in, below 1, a
    summary would show it)."""
    if not row[1] >= 1:
        raise ValueError(f"a quarter hour of {row[1]} events")
    return row


def edges_whole(conn: sqlite3.Connection, path: str, parts: list[tuple[int, int]]) -> None:
    """Raise StoreError naming ``path`` if the events of a window's cut quarter hours
    (``parts``, which a report reads from ``events``) are not as many as the quarter's count:
    rows of a damaged page left out, as ``pages_whole`` finds for the other tables. One
    hour's events read for each cut, which must all have whole times."""
    for start, _ in parts:
        quarter = start // QUARTER_US * QUARTER
        held, odd = conn.execute("SELECT total(typeof(us) = 'integer' AND us BETWEEN ? AND ? - 1),"
                                 " total(typeof(us) != 'integer') FROM events WHERE hour = ?",
                                 [quarter * US, quarter * US + QUARTER_US, start // HOUR_US]).fetchone()
        counted = conn.execute("SELECT coalesce(sum(n), 0) FROM quarters WHERE quarter = ?", [quarter]).fetchone()[0]
        if odd:
            raise StoreError(f"{path}: a row of its events is damaged (a time that is not a whole number of µs, in "
                             f"the hour from {_iso(start // HOUR_US * 3600)}); load the dumps into a new store")
        if held != counted:
            at = _iso(quarter)
            raise StoreError(f"{path}: the store is damaged (the quarter hour from {at} holds {int(held)} events, "
                             f"its count {counted}); load the dumps into a new store")


def _iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


_TEXT = {"keys": KEY_COLUMNS, "details": DETAIL_COLUMNS, "method_counts": ("method",),
         "events": ("id", "connection_id")}


def check_text(conn: sqlite3.Connection, path: str, e: sqlite3.Error) -> None:
    """Raise StoreError naming ``path`` if a text column holds bytes that are not UTF-8:
    SQLite keeps what it was given, and sqlite3 cannot decode it (``e``). Looked for only
    then: the check reads the tables' text."""
    if "Could not decode to UTF-8" not in str(e):
        return
    factory, conn.text_factory = conn.text_factory, bytes
    try:
        for table, columns in _TEXT.items():
            texts = ", ".join(f"CASE WHEN typeof({c}) = 'text' THEN {c} END" for c in columns)  # not a blob id
            for row in conn.execute(f"SELECT {texts} FROM {table}"):
                try:
                    b"\n".join(v for v in row if v is not None).decode()  # a newline ends any partial character
                except UnicodeDecodeError:
                    raise StoreError(f"{path}: a row of its {table} holds text that is not UTF-8; load the dumps "
                                     "into a new store") from None
    except sqlite3.Error:
        return
    finally:
        conn.text_factory = factory


def keyed_by_numbers(conn: sqlite3.Connection, edges: list) -> None:
    """Raise TypeError if the tables' keys hold a day (an hour of events, read at a cut
    ``edges``) that is not a number (edited by hand): a read of a range of them never meets
    it, and its row would be left out unsaid. Text sorts after every number: one seek."""
    for table, column in [("counts", "day"), ("method_counts", "day")] + [("events", "hour")] * bool(edges):
        last = conn.execute(f"SELECT max({column}) FROM {table}").fetchone()[0]
        if last is not None and last.__class__ is not int:
            raise TypeError(f"a {column} of {table} is {last!r}")


def or_misshapen(condition: str, *times: str) -> str:
    """``condition``, or any of the columns ``times`` of another type than a load writes
    (text, NULL: edited by hand): such a row is read, and fails as it is read, instead of
    being left out of the report unsaid."""
    return f"({condition}" + "".join(f" OR typeof({c}) != 'integer'" for c in times) + ")"

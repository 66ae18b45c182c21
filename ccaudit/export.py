"""A store's tables as Parquet, Hive-partitioned by UTC day, for DuckDB, Spark and pandas.

``DIR/<table>/day=YYYY-MM-DD/part-0.parquet`` for the event views (``all_events``,
``auth_events``, ``signin_failures``, ``signin_successes``: one row per event, of the view
of that name) and ``counts`` (events per UTC quarter hour and key: what reports read).
Times are UTC timestamps to the microsecond, ``n`` an integer, every other column text
(absent text is null). A partition's day is the UTC date of the event (of its quarter hour
for counts); a day without rows has no folder.

Memory stays bounded whatever the store holds: each table is read a UTC day at a time,
along the key (hour first for events, day first for counts), in batches of ``BATCH``
rows, written in row groups of ``ROW_GROUP`` rows, all from one snapshot of the store.
The folder is marked (``.ccaudit-export``, listing its tables), as report folders are by
their manifest (``output.py``): a folder neither empty nor marked is refused, and a later
export into a marked one replaces the previous export as a whole. Every table is written
into a temporary folder beside its own, and all are renamed into place once all are
written, so a crash leaves the previous export as it was (and the next export removes
the temporary folders). Needs pyarrow (the ``parquet`` extra), imported only to export.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from . import daycounts
from .arguments import of_kind
from .damage import pages_whole
from .errors import CcauditError, NoSpace, out_of_space, spilling
from .exportfolder import refuse_strays
from .files import write_own
from .folders import DIR_MODE, Folder, unslashed, writing_into
from .lean import arrow, require_arrow
from .schema import DAY, EVENT_TABLES, HOUR_US, READ_AS_IS, US, VIEWS
from .schema import TABLES as STORE_TABLES
from .stops import block_stops, drop_stops, restore_signals
from .store import Store
from .storefile import one_snapshot
from .tempdirs import pid_alive
from .text import plural, quoted

TABLES = (*EVENT_TABLES, "counts")  # in the order they are written
MARKER = ".ccaudit-export"
_MARKER_HEAD = "# tables written by ccaudit export; a later export into this folder replaces them\n"
TEMP_PREFIX = ".ccaudit-export-"  # + pid: a table being written, or one being replaced
BATCH = 2_000  # rows per fetch and RecordBatch: as Python objects, rows cost the most memory
BATCH_BYTES = 2 * 2**20  # and at most about this much of their text: a key can be 16 MiB (an attacker's)
ROW_GROUP = 50_000  # rows per Parquet row group, at least (held as Arrow arrays until written)
ROW_GROUP_BYTES = 16 * 2**20  # or fewer rows, once they hold this much
ROWS_PER_FILE = 10_000_000  # then the day's next part-N.parquet
UNIQUE = ("id", "time", "first_seen", "last_seen")  # columns not dictionary-encoded: nearly every value differs
TIMES = ("time", "quarter", "first_seen", "last_seen")  # timestamp columns, from epoch µs

# A day's counts rows in order: by key, not by key number (the order keys were first loaded),
# then each read by its primary key. A sort carries its rows, and SQLite's merge of spilled runs
# holds one of each: sorting the rows with their text, 80 keys of 3 MiB in a day took 890 MB.
# So the order is by the first SORTED characters of the text, and the digest of the rest.
SORTED = 1000
COUNTS_ORDER = ("SELECT c.day, c.section, c.kid FROM counts c JOIN keys k USING (kid) WHERE c.day >= ? AND c.day < ?"
                " ORDER BY c.day, c.section, " + ", ".join(f"substr(k.{c}, 1, {SORTED})" for c in
                                                           ("key", "method", "principal")) + ", k.{rest}")
COUNTS_ROW = ("SELECT c.day, c.n, c.quarters, nullif(c.section, '') AS section, nullif(k.key, '') AS key, k.method,"
              " k.principal FROM counts c JOIN keys k USING (kid) WHERE c.day = ? AND c.section = ? AND c.kid = ?")


@dataclass
class Exported:
    """One table written: its rows, and the days and files they fill."""

    table: str
    rows: int = 0
    days: int = 0
    files: int = 0


@dataclass
class Export:
    tables: list[Exported] = field(default_factory=list)
    skipped: tuple[str, ...] = ()  # event tables of a counts-only store (ccaudit spark): none written

    def summary_line(self, out_dir: str) -> str:
        tables = ", ".join(f"{t.table} {plural(t.rows, 'row')} ({plural(t.days, 'day')})" for t in self.tables)
        return f"exported {tables or 'nothing'} to {out_dir}"


def export(store: Store, out_dir: str, tables: Iterable[str] = TABLES) -> Export:
    """Write ``tables`` of ``store`` under ``out_dir`` (created 0700 if missing; refused if
    it is neither empty nor a previous export, whose tables this export replaces)."""
    of_kind(store, Store, "export")
    if isinstance(tables, str):  # its letters were taken for tables' names
        raise TypeError("export: tables is a list of tables' names, not str")
    require_arrow()
    asked = set(tables)
    if unknown := sorted(asked - set(TABLES)):
        raise CcauditError(f"no table {quoted(unknown[0])} to export; the tables are {', '.join(TABLES)}")
    tables = [t for t in TABLES if t in asked]
    if "counts" not in tables and store.counts_only():  # was an earlier export removed, and nothing written
        raise CcauditError(f"{store.path} holds counts only (made by ccaudit spark): no events to export for "
                           f"{', '.join(tables)}; nothing written")
    out_dir = unslashed(os.fspath(out_dir))
    _refuse_replacing(store.path, out_dir)
    if os.path.lexists(out_dir) and not os.path.islink(out_dir) and not os.path.isdir(out_dir):
        raise CcauditError(f"{out_dir}: is a file, not a folder")
    with writing_into(out_dir) as folder, one_snapshot(store.conn):  # every table from one
        read = ["keys"] + ["details", "events"] * any(t != "counts" for t in tables) + ["counts"] * ("counts" in tables)
        pages_whole(store.conn, store.path, tuple(read), set())  # a damaged page can read short of rows
        return _export(store, folder, tables)


def _export(store: Store, folder: Folder, tables: list[str]) -> Export:
    """Every table written into a temporary folder first, then all put in place together:
    replaced one by one as each was written, a failure at the third table left the first
    two of this export beside the rest of the previous one. All of it in the folder held,
    by name (folders.py)."""
    previous = prepare(folder)
    result = Export(skipped=tuple(t for t in tables if t != "counts") if store.counts_only() else ())
    written = [t for t in tables if t not in result.skipped]
    for table in written:  # a user's own folder or file of a table's name: was replaced without a word
        if table not in previous and folder.mode(table) is not None:
            raise CcauditError(f"{folder.join(table)}: not written by an earlier export ({MARKER} does "
                               "not list it), so it is not replaced; move it, or give another folder")
    write_own(folder, MARKER, _marker(previous + written))  # claimed before it is made
    made: dict[str, str] = {}
    replaced: list[str] = []  # the earlier export's tables, out of the way
    try:
        try:
            for table in written:
                done, made[table] = _write_table(store, folder, table, bool(previous))
                result.tables.append(done)
        except BaseException:  # none of this export's tables is in place: the marker lists what is
            with contextlib.suppress(CcauditError):
                write_own(folder, MARKER, _marker(previous))
            raise
        mask = block_stops()  # renames only, from here: stopped among them, a table was missing, others mixed
        try:
            refuse_strays(folder, previous, "nothing replaced")  # again: one put there while the tables were written
            for table in dict.fromkeys(written + previous):
                new = made.get(table)
                try:
                    old = _replace(folder, table, new)
                except OSError as e:
                    undone = "replaced" if new else "removed"
                    raise CcauditError(f"{folder.path}: the tables are written, but the earlier export's {table} "
                                       f"could not be {undone}: {e.strerror}; {MARKER} still lists it") from None
                made.pop(table, None)  # in place: no longer this export's to remove
                replaced += [old] if old else []
            write_own(folder, MARKER, _marker(written))
            drop_stops()  # done: a stop that came meanwhile came with nothing left to stop
        finally:
            restore_signals(mask)
    finally:
        for tmp in [*made.values(), *replaced]:  # not put in place; put out of the way
            folder.remove_tree(tmp)
    return result


# -- the folder --------------------------------------------------------------------------

def prepare(folder: Folder, done: str = "nothing written") -> list[str]:
    """Refuse ``folder`` if it is neither empty nor an export, or if a table of the
    previous export holds a file no export writes (``refuse_strays``), and remove what a killed
    export left in it. The tables a previous export listed."""
    try:
        with folder.listing() as listed:
            entries = [entry.name for entry in listed]
    except OSError as e:
        raise CcauditError(f"{folder.path}: cannot read: {e.strerror}") from None
    if entries and MARKER not in entries:
        raise CcauditError(f"{folder.path}: not empty and not a ccaudit export (no {MARKER}); "
                           "give a new or empty folder")
    previous = read_marker(folder, done) if entries else []
    refuse_strays(folder, previous, done)
    for name in entries:
        m = re.fullmatch(re.escape(TEMP_PREFIX) + r"(\d+)-.*", name)
        # this process's own id: a killed run's, whose id was the same (pid 1, in a container)
        if m and (int(m[1]) == os.getpid() or not pid_alive(int(m[1]))):
            folder.remove_tree(name)
    return previous


def _refuse_replacing(store_path: str, out_dir: str) -> None:
    """The store must not be in a folder the export replaces (a table's, or a temporary
    one): the export would delete what it reads. Elsewhere in ``out_dir`` it is left alone."""
    rel = os.path.relpath(os.path.realpath(store_path), os.path.realpath(out_dir)).split(os.sep)
    if rel[0] in TABLES or rel[0].startswith(TEMP_PREFIX):  # in such a folder, or named as one
        raise CcauditError(f"{store_path}: the store is at {os.path.join(out_dir, rel[0])}, which the export "
                           "replaces; move it, or give another folder")


def read_marker(folder: Folder, done: str = "nothing written") -> list[str]:
    """The tables the marker lists. A marker can be planted: it may name tables only."""
    path = folder.join(MARKER)
    if not folder.has_file(MARKER):
        raise CcauditError(f"{path}: not a file ccaudit wrote (a link or a folder); {done}")
    names = [line.strip() for line in folder.own_lines(MARKER, done)]  # (planted: its tables removed)
    for name in names:
        if name not in TABLES:
            raise CcauditError(f"{path}: lists {quoted(name, 60)}, which is not an exported table; {done}")
    return list(dict.fromkeys(names))


def _marker(tables: list[str]) -> str:
    return _MARKER_HEAD + "".join(f"{t}\n" for t in dict.fromkeys(tables))


def _replace(folder: Folder, table: str, new: str | None) -> str | None:
    """Put the folder ``new`` (or nothing) where ``table``'s folder is: the name of the
    folder that now holds the old one, for the caller to remove."""
    trash = None
    if folder.mode(table) is not None:
        trash = folder.make_temp(f"{TEMP_PREFIX}{os.getpid()}-")
        with folder.child(trash) as aside:
            os.rename(table, table, src_dir_fd=folder.fd, dst_dir_fd=aside.fd)
    if new:
        try:
            os.rename(new, table, src_dir_fd=folder.fd, dst_dir_fd=folder.fd)
        except BaseException:
            if trash:
                with folder.child(trash) as aside:
                    os.rename(table, table, src_dir_fd=aside.fd, dst_dir_fd=folder.fd)  # the previous one stays
                os.rmdir(trash, dir_fd=folder.fd)
            raise
    return trash


# -- one table -----------------------------------------------------------------------------

def _write_table(store: Store, folder: Folder, table: str, kept: bool) -> tuple[Exported, str]:
    """Write ``table`` day by day into a temporary folder: what it wrote, and the folder's
    name. On any failure the folder goes (``kept``: the folder then holds the previous
    export as it was)."""
    out_dir, tmp = folder.path, None
    try:
        tmp = folder.make_temp(f"{TEMP_PREFIX}{os.getpid()}-{table}-")
        done = Exported(table)
        with folder.child(tmp) as held:
            for day, batches in _days(store, table):
                done.files += _write_day(held, f"day={day.isoformat()}", batches, done)
                done.days += 1
        return done, tmp
    except BaseException as e:  # Ctrl-C and SIGTERM too: no half table left behind
        if tmp:
            folder.remove_tree(tmp)
        if isinstance(e, OSError):
            if out_of_space(e):
                kept_said = "; the previous export is kept as it was" if kept else ""
                raise NoSpace(f"{out_dir}: cannot write {table}: no space left ({e}){kept_said}") from None
            raise CcauditError(f"{out_dir}: cannot write {table}: {e.strerror or e}") from None
        raise


def _days(store: Store, table: str) -> Iterator[tuple[dt.date, Iterator[list[tuple]]]]:
    """(UTC day, its rows in batches) of every day with rows, in order; an empty day is
    skipped. Each day's query follows the key: ``hour`` (epoch hours) for events, ``day``
    (epoch seconds) for counts. The next day with rows is looked up by the key too, so two
    days centuries apart take two queries, not one for each day between."""
    if table == "counts":
        digests = store.conn.execute("PRAGMA user_version").fetchone()[0] not in READ_AS_IS  # 8, 9: none
        source, key, per_day, sql = "counts", "day", DAY, COUNTS_ORDER.format(rest="digest" if digests else "kid")
    else:
        source, key, per_day, sql = "events", "hour", DAY * US // HOUR_US, event_sql(table)
    following = f"SELECT min({key}) FROM {source} WHERE {key} >= ?"
    start = store.conn.execute(following, (-(2**63),)).fetchone()[0]
    while start is not None:
        n = start // per_day
        with spilling():
            cursor: Iterator[tuple] = store.conn.execute(sql, (n * per_day, (n + 1) * per_day))
        if table == "counts":
            cursor = (store.conn.execute(COUNTS_ROW, place).fetchone() for place in cursor)
        batches = _batches(cursor)
        first = next(batches, None)
        if first:
            batches = itertools.chain([first], batches)
            yield dt.date(1970, 1, 1) + dt.timedelta(days=n), _quarters(batches) if table == "counts" else batches
        start = store.conn.execute(following, ((n + 1) * per_day,)).fetchone()[0]


def _batches(cursor) -> Iterator[list[tuple]]:
    """The cursor's rows, BATCH at a time, or fewer once their text passes BATCH_BYTES: a
    batch of 2,000 rows of 100 KB keys held 200 MB. Each row is read and measured on its
    own: the records choose the keys and the order of the rows (by id within an hour), so
    a fetch sized from the rows before it could be of 2,000 rows of megabytes (this costs
    an export about a tenth more time than every 8th row measured did)."""
    batch, held = [], 0
    for row in cursor:
        batch.append(row)
        held += sum(len(v) for v in row if type(v) is str)
        if held >= BATCH_BYTES or len(batch) >= BATCH:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


def _quarters(batches: Iterator[list[tuple]]) -> Iterator[list[tuple]]:
    """Counts rows (a UTC day of a key) as the exported rows, one per quarter hour. A row no load
    makes raises ValueError (``options.open_store`` names the store): was exported outside its day."""
    rows: list[tuple] = []
    held = 0  # their text, each row's once (rows of one key share it, but Arrow copies it for each)
    for batch in batches:
        for day, n, blob, *text in batch:
            if daycounts.misshapen(blob, n):
                raise ValueError("a counts row's quarter hours are misshapen")
            more = [(quarter * US, *text, n, first, last) for quarter, n, first, last in daycounts.entries(day, blob)]
            rows += more
            held += len(more) * sum(len(t) for t in text if t)
            if len(rows) >= BATCH or held >= BATCH_BYTES:
                yield rows
                rows, held = [], 0
    if rows:
        yield rows


def event_sql(table: str) -> str:
    """The view's rows of the UTC hours [?, ?), its time as epoch µs (``time``): its own
    query (schema.VIEWS) with the event's hour and µs, so SQLite reads the hours by the
    key and never formats the text time. ``hour`` and ``us`` are left out."""
    view = VIEWS[table]
    assert view.startswith("SELECT ")
    inner = f"SELECT e.hour AS export_hour, e.us AS export_us, {view[len('SELECT '):]}"
    shown = ", ".join("export_us AS time" if c == "time" else c for c in columns(table))
    return f"SELECT {shown} FROM ({inner}) WHERE export_hour >= ? AND export_hour < ?"


@functools.cache
def columns(table: str) -> tuple[str, ...]:
    """The columns of ``table``'s Parquet files, in order: those of its view (from the
    view's query, in an empty in-memory store) but ``hour`` and ``us``."""
    if table == "counts":
        return ("quarter", "section", "key", "method", "principal", "n", "first_seen", "last_seen")
    conn = sqlite3.connect(":memory:")
    try:
        for sql in STORE_TABLES.values():
            conn.execute(sql)
        found = conn.execute(f"SELECT * FROM ({VIEWS[table]}) LIMIT 0").description
    finally:
        conn.close()
    return tuple(d[0] for d in found if d[0] not in ("hour", "us"))


def _write_day(table: Folder, name: str, batches: Iterator[list[tuple]], done: Exported) -> int:
    """Write a day's batches into ``table``'s new folder ``name`` as part-0.parquet (part-1
    after ROWS_PER_FILE rows, ...), in row groups of ROW_GROUP rows; the number of files.
    Arrow's memory comes from malloc, which gives back what a row group used (its default
    pool keeps it)."""
    pa, pq = arrow()
    pool = pa.system_memory_pool()
    schema = pa.schema([(c, _arrow_type(pa, c)) for c in columns(done.table)])
    rows_type = pa.struct(list(schema))
    dictionary = [c for c in schema.names if c not in UNIQUE]
    os.mkdir(name, DIR_MODE, dir_fd=table.fd)
    writer, pending, rows_pending, bytes_pending, rows_in_file, files = None, [], 0, 0, 0, 0
    with table.child(name) as day, contextlib.ExitStack() as part:
        for batch in itertools.chain(batches, [None]):  # None: the end of the day
            if batch:
                rows = pa.array(batch, type=rows_type, memory_pool=pool)
                pending.append(pa.RecordBatch.from_struct_array(rows))
                rows_pending += len(batch)
                bytes_pending += rows.nbytes
            if pending and (batch is None or rows_pending >= ROW_GROUP or bytes_pending >= ROW_GROUP_BYTES):
                if writer is None or rows_in_file >= ROWS_PER_FILE:
                    part.close()  # the file before: its writer, then the file
                    sink = part.enter_context(os.fdopen(day.create(f"part-{files}.parquet"), "wb"))
                    writer = pq.ParquetWriter(sink, schema, use_dictionary=dictionary, memory_pool=pool)
                    part.callback(writer.close)
                    rows_in_file, files = 0, files + 1
                writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=rows_pending)
                rows_in_file += rows_pending
                done.rows += rows_pending
                pending, rows_pending, bytes_pending = [], 0, 0
    return files


def _arrow_type(pa, column: str):
    if column in TIMES:
        return pa.timestamp("us", tz="UTC")
    return pa.int64() if column == "n" else pa.string()

"""Why the store's hot path writes through ``db.conn`` and not sqlite-utils' ``insert_all``.

The same classified rows (the first ``CCAUDIT_BENCH_STORE_ROWS`` records of the cli dump,
default 100,000, parsed and classified before timing) are stored three ways, in 10,000-row
batches:

* ``sqlite_utils``          into a fresh sqlite-utils database (the store's page size and
                            pragmas), as the tables ccaudit's views show: ``all_events``
                            by ``insert_all(dicts, pk=("hour", "id"), ignore=True,
                            batch_size=10_000)``, and ``insert_all`` into a detail table per
                            section, called plainly: sqlite-utils caps a statement at 999
                            variables and commits each such chunk on its own.
* ``sqlite_utils_batched``  the same inside ``db.atomic()`` per 10,000-row batch, so it commits as
                            often as ccaudit does: what is left is insert_all's cost per row.
* ``stage_merge``           ``Store.load`` into a fresh store: ``Stage`` (repeats dropped, keys and
                            details numbered) and ``Store.merge`` (``executemany`` into
                            ``events``, counts kept), as the single-process load does it.

For sqlite-utils the dicts are built before timing, it keeps no counts, and it stores each
event's details beside it rather than once: all in its favour. All three must show the same
events (every column of the views but ``time``, which the views print from ``us``); the
summary prints each sqlite-utils way / stage+merge.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import statistics
from itertools import islice

import pytest
import sqlite_utils

from benchmarks.conftest import ratio, store_rows
from ccaudit.ingest import Dump, iter_lines, line_rows
from ccaudit.load import BATCH
from ccaudit.schema import DETAIL_TABLE, EVENT_TABLES, ROW_COLUMNS, SECTION
from ccaudit.stats import LoadStats
from ccaudit.store import Store
from ccaudit.storefile import PAGE_SIZE

# Columns the store keeps as written; the others store '' as NULL.
ALWAYS_SET = {"hour", "id", "ts", "time", "method", "principal"}
DIGESTS: dict[str, str] = {}
MEDIANS: dict[str, float] = {}


@pytest.fixture(scope="module")
def staged_rows(bench_dump):
    """Rows as classify gives them, the first store_rows() records of the cli dump."""
    dump = bench_dump("cli")
    source = Dump(dump.path)
    stream = source.open()
    try:
        rows = list(islice(line_rows(iter_lines(stream), source.label, LoadStats()), store_rows()))
    finally:
        source.close(stream)
    assert len({(r[0], r[1]) for r in rows}) == len(rows), "the bench dumps have no duplicates"
    return rows


def _batches(items, size=BATCH):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _view_columns() -> dict[str, list[str]]:
    """The columns of each event view of a store, but ``time``."""
    store = Store(":memory:")
    try:
        return {t: [r[1] for r in store.db.execute(f"PRAGMA table_info({t})") if r[1] != "time"]
                for t in EVENT_TABLES}
    finally:
        store.close()


COLUMNS = _view_columns()


def _as_dicts(rows) -> list[tuple[dict, str | None, dict | None]]:
    """Per row: the all_events dict, its detail table and detail dict (NULLs where the store has them)."""
    out = []
    for row in rows:
        values = {c: (v if c in ALWAYS_SET or v != "" else None) for c, v in zip(ROW_COLUMNS[row[SECTION]], row)}
        values["us"] = values["ts"]
        e = {c: values[c] for c in COLUMNS["all_events"]}
        table = DETAIL_TABLE.get(row[SECTION])
        out.append((e, table, table and {c: values[c] for c in COLUMNS[table]}))
    return out


def _insert_all(db, batch) -> None:
    db["all_events"].insert_all([e for e, _, _ in batch], pk=("hour", "id"), ignore=True, batch_size=BATCH)
    for table in EVENT_TABLES[1:]:
        details = [d for _, t, d in batch if t == table]
        if details:
            db[table].insert_all(details, batch_size=BATCH)


def _sqlite_utils(db, dict_rows) -> None:
    for batch in _batches(dict_rows):
        _insert_all(db, batch)


def _sqlite_utils_batched(db, dict_rows) -> None:
    for batch in _batches(dict_rows):
        with db.atomic():
            _insert_all(db, batch)


def _stage_merge(store: Store, rows) -> LoadStats:
    stats = LoadStats()
    for merged in store.load(_batches(rows)):
        stats.add_merged(merged)
    return stats


def _sqlite_utils_db(path: str) -> sqlite_utils.Database:
    db = sqlite_utils.Database(path)
    db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    for pragma in ("synchronous = NORMAL", "cache_size = -8000", "temp_store = MEMORY"):
        db.execute(f"PRAGMA {pragma}")
    return db


def _digest(conn) -> str:
    """The events of every view (or table of that name), in one order."""
    h = hashlib.sha256()
    for table, columns in COLUMNS.items():
        for row in conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id, {columns[0]}"):
            h.update(repr(row).encode())
    return h.hexdigest()


WAYS = {"sqlite_utils": _sqlite_utils, "sqlite_utils_batched": _sqlite_utils_batched, "stage_merge": _stage_merge}


@pytest.mark.parametrize("how", list(WAYS))  # stage_merge last: it reports the ratios
def test_store_insert(measure, staged_rows, fresh_dir, how):
    last: list[str] = []

    def setup():
        path = str(fresh_dir() / "store.db")
        last.append(path)
        if how == "stage_merge":
            return (Store(path), staged_rows), {}
        return (_sqlite_utils_db(path), _as_dicts(staged_rows)), {}

    def teardown(target, _rows):
        target.close()

    result = measure(WAYS[how], setup=setup, teardown=teardown, events=len(staged_rows),
                     rows=len(staged_rows), batch=BATCH)
    if how == "stage_merge":
        assert result.inserted == len(staged_rows), result.summary_line()
    conn = sqlite3.connect(last[-1])  # the store's views are plain SQL
    try:
        assert conn.execute("SELECT count(*) FROM all_events").fetchone()[0] == len(staged_rows)
        DIGESTS[how] = _digest(conn)
    finally:
        conn.close()
        os.remove(last[-1])
    assert len(set(DIGESTS.values())) == 1, "the ways stored different rows: %s" % DIGESTS
    times = measure.times
    if times:
        MEDIANS[how] = statistics.median(times)
    if how == "stage_merge" and times:
        for other in ("sqlite_utils", "sqlite_utils_batched"):
            if other in MEDIANS:
                r = MEDIANS[other] / MEDIANS["stage_merge"]
                measure.note(**{f"{other}_over_stage_merge": round(r, 2)})
                ratio(f"{other} / stage_merge ({len(staged_rows):,} rows)", r, None,
                      f"median {MEDIANS[other]:.2f} s / {MEDIANS['stage_merge']:.2f} s")

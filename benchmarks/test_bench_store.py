"""Why the store's hot path writes through ``db.conn`` and not sqlite-utils' ``insert_all``.

The same staged rows (the first ``CCAUDIT_BENCH_STORE_ROWS`` records of the cli dump, default
100,000, parsed and classified before timing) go into a fresh store (``Store(path)``: the same
tables, indexes and pragmas) three ways, in 10,000-row batches:

* ``sqlite_utils``          ``db["all_events"].insert_all(dicts, pk=("hour", "id"), ignore=True,
                            batch_size=10_000)`` plus ``insert_all`` into the detail tables, called
                            plainly: sqlite-utils caps a statement at 999 variables (124 rows of
                            all_events) and commits each such chunk on its own.
* ``sqlite_utils_batched``  the same inside ``db.atomic()`` per 10,000-row batch, so it commits as
                            often as ccaudit does: what is left is insert_all's cost per row.
* ``stage_merge``           ``Store.load``: ``Stage`` (executemany into in-memory stage tables) and
                            ``Store.merge`` (INSERT ... SELECT into the store, counts upserted), as
                            the single-process load does it.

For sqlite-utils the dicts are built before timing, and the counts table is not kept up to
date: both in its favour. All three must leave the same four event tables; the summary
prints each sqlite-utils way / stage+merge.
"""
from __future__ import annotations

import hashlib
import os
import statistics
from itertools import islice

import pytest

from benchmarks.conftest import ratio, store_rows
from ccaudit.ingest import Dump, iter_lines, line_rows
from ccaudit.load import BATCH
from ccaudit.schema import DETAIL_TABLE, EVENT_TABLES, ROW_COLUMNS, SECTION, TABLES
from ccaudit.stats import LoadStats
from ccaudit.store import Store

# Columns the store keeps as written; the others store '' as NULL (stage.select_sql).
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


def _as_dicts(rows) -> list[tuple[dict, str | None, dict | None]]:
    """Per row: the all_events dict, its detail table and detail dict (NULLs where the store has them)."""
    out = []
    for row in rows:
        values = {c: (v if c in ALWAYS_SET or v != "" else None) for c, v in zip(ROW_COLUMNS[row[SECTION]], row)}
        e = {c: values[c] for c in TABLES["all_events"][0]}
        table = DETAIL_TABLE.get(row[6])
        out.append((e, table, table and {c: values[c] for c in TABLES[table][0]}))
    return out


def _insert_all(db, batch) -> None:
    db["all_events"].insert_all([e for e, _, _ in batch], pk=("hour", "id"), ignore=True, batch_size=BATCH)
    for table in EVENT_TABLES[1:]:
        details = [d for _, t, d in batch if t == table]
        if details:
            db[table].insert_all(details, batch_size=BATCH)


def _sqlite_utils(store: Store, dict_rows) -> None:
    for batch in _batches(dict_rows):
        _insert_all(store.db, batch)


def _sqlite_utils_batched(store: Store, dict_rows) -> None:
    for batch in _batches(dict_rows):
        with store.db.atomic():
            _insert_all(store.db, batch)


def _stage_merge(store: Store, rows) -> LoadStats:
    stats = LoadStats()
    for merged in store.load(_batches(rows)):
        stats.add_merged(merged)
    return stats


def _digest(store: Store) -> str:
    h = hashlib.sha256()
    for table in EVENT_TABLES:
        order = "hour, id" if table == "all_events" else "id"
        for row in store.db.execute(f"SELECT * FROM {table} ORDER BY {order}"):
            h.update(repr(row).encode())
    return h.hexdigest()


WAYS = {"sqlite_utils": _sqlite_utils, "sqlite_utils_batched": _sqlite_utils_batched, "stage_merge": _stage_merge}


@pytest.mark.parametrize("how", list(WAYS))  # stage_merge last: it reports the ratios
def test_store_insert(measure, staged_rows, fresh_dir, how):
    last: list[Store] = []

    def setup():
        store = Store(str(fresh_dir() / "store.db"))
        last.append(store)
        return (store, staged_rows if how == "stage_merge" else _as_dicts(staged_rows)), {}

    def teardown(store, _rows):
        store.close()

    result = measure(WAYS[how], setup=setup, teardown=teardown, events=len(staged_rows),
                     rows=len(staged_rows), batch=BATCH)
    if how == "stage_merge":
        assert result.inserted == len(staged_rows), result.summary_line()
    check = Store(last[-1].path)
    try:
        assert check.event_count() == len(staged_rows)
        DIGESTS[how] = _digest(check)
    finally:
        check.close()
        os.remove(check.path)
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

"""What the tests read back from a ccaudit store after a load.

* ``load_counts``: the five numbers of a load (``LOAD_KEYS``) as a tuple.
* ``store_state``: every row of the event, detail and counts tables, in a stable order, to
  compare two stores (in-process against parallel, before against after a second load).
* ``assert_consistent``: the counts (per key, and per method) are a recount of the events, each detail table holds
  exactly the events of its sections, and no text column holds '' (absent text is NULL).
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
import struct

from ccaudit.schema import DETAIL_COLUMNS, KEY_COLUMNS

LOAD_KEYS = ("records_read", "inserted", "duplicates", "noise_lines", "malformed")
EVENT_TABLES = ("all_events", "auth_events", "signin_failures", "signin_successes")

# What the counts table must hold: a recount of the stored events per quarter hour and key.
RECOUNT = "SELECT us / 900000000 * 900, kid, count(*), min(us), max(us) FROM events GROUP BY 1, 2"
METHOD_RECOUNT = ("SELECT us / 900000000 * 900, method, count(*), min(us), max(us) FROM events"
                  " JOIN keys USING (kid) GROUP BY 1, 2")
COUNTS = "SELECT c.day, c.quarters, k.section, k.key, k.method, k.principal FROM counts c JOIN keys k USING (kid)"
DETAIL_SECTIONS = {
    "auth_events": ("kafka_authentication", "mds_authorize"),
    "signin_failures": ("signin_failure",),
    "signin_successes": ("signin_success",),
}


def load_counts(stats) -> tuple:
    """(records_read, inserted, duplicates, noise_lines, malformed) of a ``LoadStats``."""
    return tuple(getattr(stats, k) for k in LOAD_KEYS)


def store_state(store) -> dict:
    """{table: its rows, sorted} for the event views and the counts (with their keys'
    text: two stores may number keys differently)."""
    def rows(sql):
        return sorted(store.db.execute(sql).fetchall(), key=repr)

    counts = sorted(((quarter, *text, *c) for day, blob, *text in store.db.execute(COUNTS)
                     for quarter, *c in quarters_of(day, blob)), key=repr)
    return {**{table: rows(f"SELECT * FROM {table}") for table in EVENT_TABLES}, "counts": counts,
            "method_counts": sorted(quarter_counts(store.db, "method_counts"))}


def quarters_of(day: int, blob: bytes) -> list[tuple]:
    """(quarter start, n, first µs, last µs) of a counts row's ``quarters``: little-endian
    uint32 (quarter of the day, n, first and last µs after the quarter's start), read here
    without ccaudit's own reader."""
    out = []
    for i, n, first, last in struct.iter_unpack("<4I", blob):
        assert 0 <= i < 96 and n > 0 and 0 <= first <= last < 900_000_000
        quarter = day + i * 900
        out.append((quarter, n, quarter * 1_000_000 + first, quarter * 1_000_000 + last))
    assert [q for q, *_ in out] == sorted({q for q, *_ in out}), "in order, each quarter once"
    return out


def quarter_counts(db, table: str = "counts") -> list[tuple]:
    """(quarter, kid, n, first µs, last µs) of every counts row (kid: method, for
    method_counts), checked against the row's other columns: its hours (on the UTC hour,
    and from 15, 30 and 45 minutes past it), total, first and last."""
    out = []
    key = "kid" if table == "counts" else "method"
    for day, kid, n, first, last, hours, offset_hours, blob in db.execute(
            f"SELECT day, {key}, n, first_us, last_us, hours, offset_hours, quarters FROM {table}"):
        assert day % 86_400 == 0
        quarters = quarters_of(day, blob)
        per_hour = [0] * 24
        per_offset_hour = {minutes: [0] * 25 for minutes in (15, 30, 45)}  # [0]: the day's first part hour
        for quarter, c, *_ in quarters:
            per_hour[(quarter - day) // 3600] += c
            for minutes, counts in per_offset_hour.items():
                counts[(quarter - day + 3600 - minutes * 60) // 3600] += c
        if hours == offset_hours == b"":  # made from the quarters as the row is read
            assert len(quarters) <= 4
        else:
            assert list(struct.unpack("<24I", hours)) == per_hour
            assert list(struct.unpack("<75I", offset_hours)) == [c for m in (15, 30, 45) for c in per_offset_hour[m]]
        assert (n, first, last) == (sum(c for _, c, *_ in quarters), quarters[0][2], quarters[-1][3])
        out += [(quarter, kid, *c) for quarter, *c in quarters]
    return out


def assert_consistent(store) -> None:
    db = store.db
    counts = sorted(quarter_counts(db))
    assert not db.execute("SELECT * FROM counts c JOIN keys k USING (kid) WHERE c.section != k.section").fetchall()
    for table, text in (("keys", KEY_COLUMNS), ("details", DETAIL_COLUMNS)):  # each text once: unique by digest
        assert db.execute(f"SELECT count(*) FROM (SELECT DISTINCT {', '.join(text)} FROM {table})").fetchone() == \
            db.execute(f"SELECT count(*) FROM {table}").fetchone(), table
    assert counts == sorted(db.execute(RECOUNT).fetchall())
    assert sorted(quarter_counts(db, "method_counts")) == sorted(db.execute(METHOD_RECOUNT).fetchall())
    for table, sections in DETAIL_SECTIONS.items():
        marks = ", ".join("?" * len(sections))
        events = sorted(db.execute(f"SELECT id, time, principal FROM all_events WHERE section IN ({marks})",
                                   sections).fetchall())
        details = sorted(db.execute(f"SELECT id, time, principal FROM {table}").fetchall())
        assert details == events, table
    for table in EVENT_TABLES:
        columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
        empty = " OR ".join(f"{c} = ''" for c in columns)
        assert db.execute(f"SELECT count(*) FROM {table} WHERE {empty}").fetchone()[0] == 0, table


def one_cell_fewer(db: str, table: str) -> int:
    """The root page of ``table`` in ``db`` told in its header it holds one cell fewer: its last
    row is no longer read, and SQLite reads on without an error. The page's number."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", [table]).fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        assert conn.execute(f"SELECT count(*) FROM dbstat WHERE name = '{table}'").fetchone()[0] == 1  # a leaf
    with open(db, "r+b") as f:
        f.seek((root - 1) * size + (100 if root == 1 else 0) + 3)  # the page header's count of cells
        cells = int.from_bytes(f.read(2), "big")
        f.seek(-2, os.SEEK_CUR)
        f.write((cells - 1).to_bytes(2, "big"))
    return root

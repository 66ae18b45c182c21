"""What the tests read back from a ccaudit store after a load.

* ``load_counts``: the five numbers of a load (``LOAD_KEYS``) as a tuple.
* ``store_state``: every row of the event, detail and counts tables, in a stable order, to
  compare two stores (in-process against parallel, before against after a second load).
* ``assert_consistent``: the counts are a recount of the events, each detail table holds
  exactly the events of its sections, and no text column holds '' (absent text is NULL).
"""
from __future__ import annotations

LOAD_KEYS = ("records_read", "inserted", "duplicates", "noise_lines", "malformed")
EVENT_TABLES = ("all_events", "auth_events", "signin_failures", "signin_successes")

# What the counts table must hold: a recount of the stored events per quarter hour and key.
RECOUNT = "SELECT us / 900000000 * 900, kid, count(*), min(us), max(us) FROM events GROUP BY 1, 2"
COUNTS = """
SELECT c.quarter, k.section, k.key, k.method, k.principal, c.n, c.first_us, c.last_us
  FROM counts c JOIN keys k USING (kid)"""
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

    return {**{table: rows(f"SELECT * FROM {table}") for table in EVENT_TABLES}, "counts": rows(COUNTS)}


def assert_consistent(store) -> None:
    db = store.db
    counts = sorted(db.execute("SELECT * FROM counts").fetchall())
    assert counts == sorted(db.execute(RECOUNT).fetchall())
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

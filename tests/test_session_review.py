"""Review of the flat-row staging (classify rows, one stage table, counts tallied in
Python, CASE for '' -> NULL): the bugs it found (each test failed before its fix), and
regression checks of what the change must keep (counts equal to a recount, detail rows
exactly the events of their sections, NULL for absent text)."""
from __future__ import annotations

import json
import zlib

import pytest

from ccaudit.load import load_dumps
from ccaudit.store import Store

T = "2024-05-06T10:00:00Z"

# What the counts table must hold: a recount of the stored events.
RECOUNT = """
SELECT hour, 'all_events', method, count(*), min(ts), max(ts) FROM all_events GROUP BY 1, 3
UNION ALL
SELECT hour, section, key, count(*), min(ts), max(ts) FROM all_events WHERE section IS NOT NULL
 GROUP BY 1, 2, 3"""
DETAIL_SECTIONS = {
    "auth_events": ("kafka_authentication", "mds_authorize"),
    "signin_failures": ("signin_failure",),
    "signin_successes": ("signin_success",),
}


def write_jsonl(tmp_path, name, records) -> str:
    p = tmp_path / name
    p.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    return str(p)


def record(i, time=T, method="GetUsers", principal="User:u-1", **data) -> dict:
    return {"id": f"id-{i}", "time": time,
            "data": {"methodName": method, "authenticationInfo": {"principal": principal}, **data}}


def signin(i, outcome, time=T, email="e@x", **data) -> dict:
    r = record(i, time, "SignIn", **data)
    r["data"]["authenticationInfo"] = {"principal": {"email": email}, "result": outcome}
    return r


def mixed(base: int, time=T) -> list[dict]:
    """One record of every row layout, sign-ins whose outcome is neither, odd principals."""
    return [
        record(base, time),
        record(base + 1, time, "kafka.Authentication", result={"status": "UNAUTHENTICATED"}),
        record(base + 2, time, "mds.Authorize", principal={"email": "User:a@b"},
               authorizationInfo={"operation": "Read", "granted": True}),
        signin(base + 3, "SUCCESS", time),
        signin(base + 4, "FAILURE", time, result={"status": "FAILURE", "data": {"errors": [{"status": 401}]}}),
        signin(base + 5, "ERROR", time),  # neither: all_events only
        signin(base + 6, "", time, email=""),  # neither, no email
        record(base + 7, time, "kafka.Authentication", principal="User:"),
    ]


def store_state(store) -> dict:
    q = lambda sql: sorted(store.db.execute(sql).fetchall(), key=repr)  # noqa: E731
    return {t: q(f"SELECT * FROM {t}") for t in ("all_events", "auth_events", "signin_failures",
                                                  "signin_successes", "counts")}


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
    for table in ("all_events", "auth_events", "signin_failures", "signin_successes"):
        columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
        empty = " OR ".join(f"{c} = ''" for c in columns)
        assert db.execute(f"SELECT count(*) FROM {table} WHERE {empty}").fetchone()[0] == 0, table


# -- regression checks --------------------------------------------------------------------

@pytest.mark.parametrize("workers", [0, 2])
def test_counts_and_details_agree_with_the_events_after_partial_duplicates(tmp_path, workers):
    # The tally (Stage.add/write_counts) serves a stage without duplicates; a stage that
    # repeats stored events is recounted in SQL (Stage.count). Both must give the counts a
    # recount of all_events gives, and detail rows must be exactly the events of their
    # sections, also for an id seen again in another UTC hour (a new event) next to a copy.
    first = mixed(0) + mixed(100, "2024-05-06T11:30:00Z")
    again = (mixed(0)  # all stored already
             + mixed(0, "2024-05-06T12:00:00Z")  # same ids, another hour: new events
             + mixed(200) + mixed(100, "2024-05-06T11:30:00Z")[::-1])
    a, b = write_jsonl(tmp_path, "a.jsonl", first), write_jsonl(tmp_path, "b.jsonl", again)
    store = Store(str(tmp_path / f"s{workers}.db"))
    try:
        s1 = load_dumps([a], store, workers=workers, chunk=300)
        s2 = load_dumps([b, a], store, workers=workers, chunk=300)
        assert (s1.inserted, s1.duplicates) == (16, 0)
        assert (s2.inserted, s2.duplicates) == (16, 32)
        assert_consistent(store)
        keys = dict(store.db.execute(
            "SELECT key, sum(n) FROM counts WHERE section = 'signin_failure' GROUP BY key").fetchall())
        assert keys == {"e@x (401)": 4}
        # sign-ins whose outcome is neither: in all_events only, section and key NULL
        assert store.db.execute("SELECT count(*) FROM all_events WHERE method = 'SignIn'"
                                " AND section IS NULL AND key IS NULL").fetchone()[0] == 8
    finally:
        store.close()


def test_in_process_and_parallel_give_the_same_store(tmp_path):
    recs = [r for i in range(40) for r in mixed(10 * i, f"2024-05-06T{i % 24:02d}:0{i % 10}:00Z")]
    path = write_jsonl(tmp_path, "d.jsonl", recs + recs[5:60])
    states = []
    for workers in (0, 2):
        store = Store(str(tmp_path / f"w{workers}.db"))
        try:
            stats = load_dumps([path], store, workers=workers, chunk=2000)
            assert (stats.inserted, stats.duplicates) == (320, 55)
            assert_consistent(store)
            states.append(store_state(store))
        finally:
            store.close()
    assert states[0] == states[1]


# -- bugs the review found -----------------------------------------------------------------

@pytest.mark.parametrize("time", ["2024-05-06T10:00:\u0663\u0660Z",  # Arabic-Indic "30"
                                  "2024-05-06T10:00:30.\u0665Z"])
def test_time_with_non_ascii_digits_is_unparseable(tmp_path, time):
    # RFC 3339 digits are ASCII; a non-ASCII digit in the date, hour or minute is refused,
    # and in the seconds it must be too (whether or not the minute was seen before).
    path = write_jsonl(tmp_path, "d.jsonl", [record(1, T), record(2, time)])
    store = Store(":memory:")
    try:
        stats = load_dumps([path], store, workers=0)
        assert (stats.inserted, stats.malformed) == (1, 1)
        assert stats.problem_lines() == [f"{path}:2: unparseable time"]
    finally:
        store.close()


def _gzip_with_a_corrupt_block(payload: bytes) -> bytes:
    """A gzip member whose deflate data holds ``payload`` and then a block of the reserved
    type 3 (zlib: "invalid block type"): damaged data, not a stream cut short."""
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = z.compress(payload) + z.flush(zlib.Z_FULL_FLUSH)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + body + b"\x07" + b"\x00" * 64


@pytest.mark.parametrize("workers", [0, 2])
def test_damaged_gzip_keeps_what_was_read(tmp_path, workers):
    # zlib.error is what gzip raises for damaged deflate data; it is not an OSError, so it
    # escaped READ_ERRORS and ended the whole command as an "internal error".
    # (Records are spread over many compressed blocks: what zlib decoded in the call that
    # met the damage is lost with it, the rest must stay.)
    good = [record(i, principal=f"User:{i * 7919 % 100003:x}-{i * 104729 % 99991:x}") for i in range(20000)]
    p = tmp_path / "d.jsonl.gz"
    p.write_bytes(_gzip_with_a_corrupt_block(b"".join(json.dumps(r).encode() + b"\n" for r in good)))
    store = Store(":memory:")
    try:
        stats = load_dumps([str(p)], store, workers=workers, chunk=1 << 16)
        assert stats.failed == {} and 15000 < stats.inserted <= 20000
        assert any("@end" in line for line in stats.problem_lines())
    finally:
        store.close()

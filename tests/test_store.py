"""The SQLite store and loading into it: de-duplication (within a dump, across dumps, across
runs), counts and detail tables that agree with the events, read errors, and refusing files
that are not ccaudit stores. The parallel parse path is in test_parallel.py.

Expected numbers are the hand counts of fixtures/sample-cli.txt (conftest.py) and of the
small dumps written here.
"""
from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from pathlib import Path

import pytest

from ccaudit.counts import Selection
from ccaudit.errors import StoreError
from ccaudit.load import load_dumps
from ccaudit.report import build
from ccaudit.store import Store
from tests.conftest import FIXTURES
from tests.records import ABSENT, REQUEST, T, json_lines, numbered, record, signin, write_jsonl
from tests.stores import LOAD_KEYS, RECOUNT, assert_consistent, load_counts, one_cell_fewer, quarter_counts, store_state

rec = numbered("id-", type=REQUEST, principal="User:u-1")  # a console request, id "id-<n>"
untyped = numbered("id-", principal="User:u-1")  # the same without "type"


def section_totals(store) -> Counter:
    """(section, key) -> events, from the store's counts (all_events rows keyed by method)."""
    c: Counter = Counter()
    for section, key, method, n in store.db.execute(
            "SELECT section, key, method, n FROM counts JOIN keys USING (kid, section)"):
        c["all_events", method] += n
        if section:
            c[section, key] += n
    return c


def expected_totals(expected_sample) -> Counter:
    c: Counter = Counter()
    for sections in expected_sample["cells"].values():
        for sid, rows in sections.items():
            for key, hours in rows.items():
                c[sid, key] += sum(hours)
    return c


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path / "store.db"))
    yield s
    s.close()


def mixed(base: int, time=T) -> list[dict]:
    """One record of every row layout, sign-ins whose outcome is neither, odd principals."""
    def signin_n(n, outcome, email="e@x", result=ABSENT):
        return signin(time, email, outcome, id=f"id-{n}", type=ABSENT, result=result)

    return [
        untyped(base, time),
        untyped(base + 1, time, "kafka.Authentication", result={"status": "UNAUTHENTICATED"}),
        untyped(base + 2, time, "mds.Authorize", principal={"email": "User:a@b"},
                authorizationInfo={"operation": "Read", "granted": True}),
        signin_n(base + 3, "SUCCESS"),
        signin_n(base + 4, "FAILURE", result={"status": "FAILURE", "data": {"errors": [{"status": 401}]}}),
        signin_n(base + 5, "ERROR"),  # neither: all_events only
        signin_n(base + 6, "", email=""),  # neither, no email
        untyped(base + 7, time, "kafka.Authentication", principal="User:"),
    ]


# -- the sample ---------------------------------------------------------------------------


def test_load_sample(store, sample_cli, expected_sample):
    stats = load_dumps([str(sample_cli)], store, workers=0)
    want = expected_sample["load"]
    assert load_counts(stats) == tuple(want[k] for k in LOAD_KEYS) == (14, 13, 1, 16, 6)
    assert stats.malformed_lines == [f"{sample_cli}:{n}" for n in range(31, 37)]
    assert stats.failed == {}
    assert store.event_count() == 13
    assert section_totals(store) == expected_totals(expected_sample)


def test_detail_tables(store, sample_cli):
    load_dumps([str(sample_cli)], store, workers=0)
    def n(table):
        return store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    # 3 kafka.Authentication + 4 mds.Authorize; SignIn: 2 failures (lines 19, 21), 2 successes (17, 23)
    assert (n("all_events"), n("auth_events"), n("signin_failures"), n("signin_successes")) == (13, 7, 2, 2)


def test_big_connection_id_is_kept_exactly(store, tmp_path):
    r = record("k1", T, "kafka.Authentication", principal="User:sa-1",
               requestMetadata={"connection_id": 171234567890100042}, result={"status": "SUCCESS"})
    load_dumps([write_jsonl(tmp_path, [r])], store, workers=0)
    (conn,) = store.db.execute("SELECT connection_id FROM auth_events").fetchone()
    assert str(conn) == "171234567890100042"  # beyond 2**53: a float would end in ...0040


def test_second_load_adds_nothing(store, sample_cli):
    load_dumps([str(sample_cli)], store, workers=0)
    before = store_state(store)
    again = load_dumps([str(sample_cli)], store, workers=0)
    assert (again.inserted, again.duplicates, again.records_read) == (0, 14, 14)
    assert store_state(store) == before


def test_second_run_on_a_reopened_store_adds_nothing(tmp_path, sample_cli, fixtures_dir):
    path = str(tmp_path / "s.db")
    s = Store(path)
    load_dumps([str(sample_cli)], s, workers=0)
    before = store_state(s)
    s.close()
    s = Store(path)
    try:
        # the same 14 records, in another shape
        stats = load_dumps([str(fixtures_dir / "sample-array.json.gz")], s, workers=0)
        assert (stats.inserted, stats.duplicates) == (0, 14)
        assert store_state(s) == before
    finally:
        s.close()


def test_dedup_across_dumps_in_one_load(store, sample_cli, fixtures_dir, variants):
    paths = [str(sample_cli)] + [str(fixtures_dir / v) for v in variants]
    stats = load_dumps(paths, store, workers=0)
    # 5 inputs x 14 records; 13 distinct events
    assert (stats.records_read, stats.inserted, stats.duplicates) == (70, 13, 57)
    assert store.event_count() == 13


# -- de-duplication and counts -----------------------------------------------------------


def test_first_copy_wins(store, tmp_path):
    first = rec(1, method="FirstMethod")
    second = rec(1, method="SecondMethod")  # same id and time, other content
    stats = load_dumps([write_jsonl(tmp_path, [first, rec(2), second], "a.jsonl")], store, workers=0)
    assert (stats.inserted, stats.duplicates) == (2, 1)
    later = load_dumps([write_jsonl(tmp_path, [rec(1, method="ThirdMethod")], "b.jsonl")], store, workers=0)
    assert (later.inserted, later.duplicates) == (0, 1)
    assert dict(store.db.execute("SELECT id, method FROM all_events").fetchall()) == {
        "id-1": "FirstMethod", "id-2": "GetUsers"}


def test_conflicting_copy_with_another_time_in_the_same_hour_is_a_duplicate(store, tmp_path):
    # de-duplication is by id; the first copy stays, even if the copy differs
    stats = load_dumps([write_jsonl(tmp_path, [rec(1, "2024-05-06T10:00:00Z"),
                                               rec(1, "2024-05-06T10:59:59Z")])], store, workers=0)
    assert (stats.inserted, stats.duplicates) == (1, 1)
    assert store.event_count() == 1


def test_same_id_in_another_utc_hour_is_kept_apart(store, tmp_path):
    # The documented limit (README, "The store"): identity is (id, UTC hour of time). A real
    # copy always has the same time; keying on the hour keeps inserts at the end of the index.
    stats = load_dumps([write_jsonl(tmp_path, [rec(1, "2024-05-06T10:59:59Z"),
                                               rec(1, "2024-05-06T11:00:00Z")])], store, workers=0)
    assert (stats.inserted, stats.duplicates) == (2, 0)


def test_duplicates_in_the_report(store, tmp_path):
    # 3 copies of one event and 1 other: the report counts 2
    load_dumps([write_jsonl(tmp_path, [rec(1), rec(1), rec(2)], "a.jsonl"),
                write_jsonl(tmp_path, [rec(1)], "b.jsonl")], store, workers=0)
    report = build(store).in_memory()
    assert report.events == 2
    (row,) = report.days[0].sections["all_events"].rows
    assert (row.key, row.total, row.hours[10]) == ("GetUsers", 2, 2)


def test_many_batches(store, tmp_path):
    # more than one batch of the single-process path (10,000 rows), duplicates spread over them
    recs = [rec(i, time=f"2024-05-06T{i % 24:02d}:00:00Z") for i in range(12_000)]
    path = write_jsonl(tmp_path, recs + recs[:50] + recs[-50:])
    stats = load_dumps([path], store, workers=0)
    assert (stats.inserted, stats.duplicates) == (12_000, 100)
    assert store.event_count() == 12_000


def test_small_inputs_are_merged_in_one_transaction_not_one_each(store, tmp_path, monkeypatch):
    # each input committed on its own: three syncs a file, 2,000 files of a record 30 s
    from ccaudit import load, parallel

    began = []
    writing = Store.writing
    monkeypatch.setattr(Store, "writing", lambda self, *a, **k: began.append(1) or writing(self, *a, **k))
    monkeypatch.setattr(load, "COMMIT_RECORDS", 40)  # and a transaction ends once it holds this many
    paths = [write_jsonl(tmp_path, [rec(3 * n + i) for i in range(3)], f"{n}.jsonl") for n in range(30)]
    stats = load_dumps(paths + paths[:2], store, workers=0)
    assert (stats.inserted, stats.duplicates) == (90, 6) and store.event_count() == 90
    assert len(began) == 5  # the load's note, its end, and transactions of 42, 42 and 12 records (3 a batch)
    assert parallel.COMMIT_RECORDS == 64_000


def test_a_load_stopped_between_small_inputs_rolls_back_what_it_had_not_committed(store, tmp_path):
    paths = [write_jsonl(tmp_path, [rec(100 + n)], f"{n}.jsonl") for n in range(3)]

    def stopped(label, done, total, records):
        if records == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_dumps(paths, store, workers=0, progress=stopped)
    assert store.event_count() == 0  # its open transaction rolled back, and the store let go:
    with Store(store.path) as other:  # another can load into it at once
        other.conn.execute("PRAGMA busy_timeout = 0")
        assert load_dumps(paths, other, workers=0).inserted == 3
    assert [u["inputs"] for u in store.unfinished] == [[str(p) for p in paths]]


def _seen(path: str, wanted: int, what: str) -> None:
    """Wait (30 s at most) until another connection sees ``wanted`` events committed."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0)) as reader:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(sqlite3.OperationalError):  # (a commit under way)
                if reader.execute("SELECT count(*) FROM events").fetchone()[0] >= wanted:
                    return
            assert time.monotonic() < deadline, what
            time.sleep(0.05)


def _loading(path: str, inputs: list[str]) -> threading.Thread:
    def load():
        with Store(path) as own:  # (a Store is its thread's)
            load_dumps(inputs, own, workers=0)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    return thread


def _paused(store_path: str, fifo: Path, first: bytes, rest: bytes, seen: int, what: str) -> None:
    """Load a FIFO whose producer writes ``first``, then pauses until ``seen`` events are
    committed (``what`` fails the test if they are not), then writes ``rest`` and ends."""
    done = threading.Event()
    os.mkfifo(fifo)

    def produce():
        with open(fifo, "wb") as f:
            f.write(first)
            f.flush()
            done.wait(60)
            f.write(rest)

    threading.Thread(target=produce, daemon=True).start()
    loading = _loading(store_path, [str(fifo)])
    try:
        _seen(store_path, seen, what)
    finally:
        done.set()
    loading.join(60)


def test_what_a_stream_gave_is_committed_while_it_pauses(store, tmp_path):
    # a pipe's producer may pause for minutes (a consume command waiting for new messages,
    # stopped at last with Ctrl-C): its records were held, uncommitted, until 10,000 had come,
    # and lost with the stop; carried over it, the store's write lock was held too
    _paused(store.path, tmp_path / "in.fifo", json_lines(rec(i) for i in range(3_000)), b"", 3_000,
            "what the stream gave was not committed while it paused")
    assert store.event_count() == 3_000


def test_what_a_gzipd_stream_gave_is_committed_while_it_pauses_as_far_as_it_is_decoded(store, tmp_path):
    # gzip read 8 KiB of its input at a time, waiting for all of it: nothing was committed. (Python's
    # gzip reads on before it hands on the last of what it holds: not all 100 are committed)
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    first = z.compress(json_lines(rec(i) for i in range(100))) + z.flush(zlib.Z_SYNC_FLUSH)
    _paused(store.path, tmp_path / "in.fifo", first, z.flush(), 40,
            "nothing of the gzip'd stream was committed while it paused")
    assert store.event_count() == 100


def test_files_loaded_before_a_stream_are_committed_before_it_is_opened(store, tmp_path):
    # opening a FIFO waits for its writer: the files' transaction, carried, held the lock meanwhile
    fifo, path = tmp_path / "in.fifo", write_jsonl(tmp_path, [rec(i) for i in range(500)])
    os.mkfifo(fifo)
    loading = _loading(store.path, [path, str(fifo)])
    _seen(store.path, 500, "the files before the stream were not committed before it was opened")
    with open(fifo, "wb") as f:
        f.write(json_lines(rec(i) for i in range(500, 700)))
    loading.join(60)
    assert store.event_count() == 700


def test_a_store_named_by_a_relative_path_loads_after_a_chdir(tmp_path, sample_cli, monkeypatch):
    # was "s.db: the store was deleted or replaced since this command opened it": the hold,
    # taken again to load, looked for the name in the new folder
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    with Store("s.db") as store:
        monkeypatch.chdir(tmp_path / "b")
        assert load_dumps([str(sample_cli)], store).inserted == 13
    assert not (tmp_path / "b" / "s.db").exists()


@pytest.mark.parametrize("limit", ["NUMBERS_CACHED", "CACHED_TEXT"])
def test_names_forgotten_by_the_cache_are_numbered_as_before(tmp_path, monkeypatch, limit):
    # The main process forgets the key and detail numbers it remembers once there are too
    # many, or their text is too long (attackers' emails can be megabytes); it then looks
    # them up again. Long and short emails recurring over many batches must number and
    # count as with the cache kept whole, and the cache must stay within its bound.
    import ccaudit.numbering as store_module

    emails = [f"user{i}" + "x" * (i % 3 * 100) + "@example.com" for i in range(60)]
    who = [emails[i // 3 % 3] if i % 3 == 0 else emails[3 + i * 7 % 57] for i in range(600)]  # a third of them hot
    recs = [signin(f"2024-05-06T{i % 24:02d}:{i % 60:02d}:00Z", email, "FAILURE") for i, email in enumerate(who)]
    path = write_jsonl(tmp_path, recs)
    kept = Store(str(tmp_path / "kept.db"))
    monkeypatch.setattr(store_module, limit, 20 if limit == "NUMBERS_CACHED" else 3_000)
    forgetting = Store(str(tmp_path / "forgetting.db"))
    try:
        load_dumps([path], kept, workers=0)
        monkeypatch.setattr("ccaudit.load.BATCH", 3)  # a batch's new names fit in the cache
        seen = []
        real_add = store_module._Remembered.add

        def add(cache, new):
            real_add(cache, new)
            seen.append((len(cache.numbers), sum(len(x) for v in cache.numbers for x in v if x)))

        monkeypatch.setattr(store_module._Remembered, "add", add)
        load_dumps([path], forgetting, workers=0)
        assert store_state(forgetting) == store_state(kept)
        assert_consistent(forgetting)
        assert len(seen) > 30  # forgotten and added again, batch after batch
        assert max(n for n, _ in seen) <= store_module.NUMBERS_CACHED
        assert max(text for _, text in seen) <= store_module.CACHED_TEXT
    finally:
        kept.close()
        forgetting.close()


@pytest.mark.parametrize("workers", [0, 2])
def test_counts_and_details_agree_with_the_events_after_partial_duplicates(tmp_path, workers):
    # The tally made while staging serves a batch without duplicates; a batch that repeats
    # stored events is counted again after they are dropped. Both must give the counts a
    # recount of the events gives, and detail rows must be exactly the events of their
    # sections, also for an id seen again in another UTC hour (a new event) next to a copy.
    first = mixed(0) + mixed(100, "2024-05-06T11:30:00Z")
    again = (mixed(0)  # all stored already
             + mixed(0, "2024-05-06T12:00:00Z")  # same ids, another hour: new events
             + mixed(200) + mixed(100, "2024-05-06T11:30:00Z")[::-1])
    a, b = write_jsonl(tmp_path, first, "a.jsonl"), write_jsonl(tmp_path, again, "b.jsonl")
    store = Store(str(tmp_path / f"s{workers}.db"))
    try:
        s1 = load_dumps([a], store, workers=workers, chunk=300)
        s2 = load_dumps([b, a], store, workers=workers, chunk=300)
        assert (s1.inserted, s1.duplicates) == (16, 0)
        assert (s2.inserted, s2.duplicates) == (16, 32)
        assert_consistent(store)
        keys = dict(store.db.execute(
            "SELECT key, sum(n) FROM counts JOIN keys USING (kid, section) WHERE section = 'signin_failure'"
            " GROUP BY key").fetchall())
        assert keys == {"e@x (401)": 4}
        # sign-ins whose outcome is neither: in all_events only, section and key NULL
        assert store.db.execute("SELECT count(*) FROM all_events WHERE method = 'SignIn'"
                                " AND section IS NULL AND key IS NULL").fetchone()[0] == 8
    finally:
        store.close()


def test_counts_of_loads_later_in_the_same_quarter_later_and_earlier_in_the_day(store, tmp_path):
    # Each load adds to the stored (day, key) row: after it (bytes joined), into its last
    # quarter, before it, and into the next day. Hand counts, per quarter hour.
    loads = [["10:00:01", "10:05:00"], ["10:14:59"], ["12:30:00", "12:31:00"], ["03:00:00"],
             ["23:59:59", "10:07:00"]]
    n = 0
    for i, times in enumerate(loads):
        recs = [rec(n + j, time=f"2024-05-06T{t}Z") for j, t in enumerate(times)]
        n += len(times)
        load_dumps([write_jsonl(tmp_path, recs, f"{i}.jsonl")], store, workers=0)
        assert_consistent(store)
    day = 1_714_953_600  # 2024-05-06T00:00:00Z
    quarters = [(q - day) // 900 for q, *_ in store.db.execute(RECOUNT)]
    got = {(q - day) // 900: c for q, _, c, *_ in sorted(quarter_counts(store.db))}
    assert got == {40: 4, 50: 2, 12: 1, 95: 1} and sorted(quarters) == sorted(got)


def test_a_row_keeps_its_hours_once_it_has_more_than_four_quarter_hours(store, tmp_path):
    # A (day, key) row of at most four quarter hours keeps no hours (they are made from its
    # quarters as it is read): most rows of a store of many principals are that small. Loads
    # of one event each, 20 minutes apart, grow one row past four; every report of it, in
    # UTC and in a zone off the whole hour (read from the offset hours), counts what the
    # events say at every step. Hand counts.
    from zoneinfo import ZoneInfo
    times = ["10:00", "10:20", "10:40", "11:00", "11:20", "11:40"]  # quarters 40, 41, 42, 44, 45, 46
    utc = [{"10": 1}, {"10": 2}, {"10": 3}, {"10": 3, "11": 1}, {"10": 3, "11": 2}, {"10": 3, "11": 3}]
    kolkata = [{"15": 1}, {"15": 2}, {"15": 2, "16": 1}, {"15": 2, "16": 2}, {"15": 2, "16": 3},
               {"15": 2, "16": 3, "17": 1}]  # +05:30: 15:30, 15:50, 16:10, 16:30, 16:50, 17:10
    for n, t in enumerate(times):
        load_dumps([write_jsonl(tmp_path, [rec(n, time=f"2024-05-06T{t}:00Z")], f"{n}.jsonl")], store, workers=0)
        assert_consistent(store)
        lengths = store.db.execute("SELECT length(hours), length(offset_hours), length(quarters) / 16 FROM counts"
                                   " UNION ALL SELECT length(hours), length(offset_hours), length(quarters) / 16"
                                   " FROM method_counts").fetchall()
        assert lengths == [(0, 0, n + 1) if n < 4 else (96, 300, n + 1)] * 2
        for zone, want in (("UTC", utc[n]), ("Asia/Kolkata", kolkata[n])):
            (day,) = build(store, ZoneInfo(zone)).in_memory().days
            (row,) = (row for section in day.sections.values() for row in section.rows)  # all_events' GetUsers
            assert {h: c for h, c in zip(day.hour_labels, row.hours) if c} == want, (zone, n)


def test_counts_of_keys_another_process_added_between_two_loads_are_added_to(tmp_path):
    # Two Store objects on one file, as two processes: the second numbers new keys and
    # writes their counts between the first's loads; the first's next load, of more events
    # of those keys on the same day, must add to those rows. (Keys numbered after a load took
    # the write lock have no counts row to read; keys numbered before it may have one.)
    path = str(tmp_path / "shared.db")
    first, second = Store(path), Store(path)
    at = "2024-05-06T10:00:00Z"
    try:
        load_dumps([write_jsonl(tmp_path, [signin(at, "a@x", "FAILURE")], "a.jsonl")], first, workers=0)
        b = [signin(at, f"b{i}@x", "FAILURE") for i in range(3)]
        load_dumps([write_jsonl(tmp_path, b, "b.jsonl")], second, workers=0)
        c = [signin("2024-05-06T11:00:00Z", f"b{i}@x", "FAILURE") for i in range(3)]
        load_dumps([write_jsonl(tmp_path, c, "c.jsonl")], first, workers=0)
        assert_consistent(first)
        totals = dict(first.db.execute("SELECT key, sum(n) FROM counts JOIN keys USING (kid, section)"
                                       " WHERE section = 'signin_failure' GROUP BY key").fetchall())
        assert totals == {"a@x": 1, "b0@x": 2, "b1@x": 2, "b2@x": 2}
    finally:
        first.close()
        second.close()


class CountedCalls:
    """A connection whose ``execute`` calls are counted (sqlite3's own cannot be patched)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn, self.executed = conn, []

    def execute(self, sql: str, *args):
        self.executed.append(sql)
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self.conn, name)

    def __enter__(self):
        return self.conn.__enter__()

    def __exit__(self, *exc):
        return self.conn.__exit__(*exc)


@pytest.mark.parametrize("known", [0, 150])  # all new (numbered in order), or some stored before (looked up)
def test_new_keys_and_details_are_numbered_together_not_one_by_one(tmp_path, known):
    # A sign-in attack: every failure a new email, so a new key and a new detail. They are
    # looked up by many in one statement, and the new ones added in one statement a batch:
    # not looked up and added with a statement or two each.
    path = str(tmp_path / "s.db")
    at = "2024-05-06T10:00:00Z"
    emails = [f"u{i}@x" for i in range(300)]
    first = Store(path)  # another process, or an earlier load: its numbers are not remembered here
    load_dumps([write_jsonl(tmp_path, [signin(at, e, "FAILURE") for e in emails[:known]], "a.jsonl")],
               first, workers=0)
    first.close()
    store = Store(path)
    try:
        store.conn = CountedCalls(store.conn)
        load_dumps([write_jsonl(tmp_path, [signin(at, e, "FAILURE") for e in emails], "b.jsonl")], store, workers=0)
        numbering = [sql for sql in store.conn.executed if re.search(r"\b(keys|details)\b", sql)]
        store.conn = store.conn.conn
        assert_consistent(store)
        totals = dict(store.db.execute("SELECT key, sum(n) FROM counts JOIN keys USING (kid, section)"
                                       " WHERE section = 'signin_failure' GROUP BY key").fetchall())
        kids = [kid for kid, in store.db.execute("SELECT kid FROM keys WHERE section = 'signin_failure' ORDER BY kid")]
    finally:
        store.close()
    assert totals == {e: 2 if i < known else 1 for i, e in enumerate(emails)}
    assert kids == list(range(kids[0], kids[0] + len(emails)))  # each email numbered once
    assert len(numbering) < len(emails) / 10  # one by one would be one or two a value


def _reads() -> int:
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("syscr:")).split()[1])


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="counts reads in /proc/self/io")
def test_a_lookup_of_few_names_does_not_probe_for_its_padding(tmp_path):
    # A lookup binds a fixed number of values, the last padded with '' rows: each padding
    # row was a probe of the unique index at its leftmost entries, and a stored name of
    # megabytes there was read whole for each (a load of 100,000 records took 41 s, not 3).
    from ccaudit.numbering import Numbering, digest
    from ccaudit.schema import KEY_COLUMNS

    store = Store(str(tmp_path / "s.db"))
    try:
        numbers = Numbering(store.conn)
        with store.conn:
            numbers.of("keys", KEY_COLUMNS, [("a" * 2_000_000, "", "", ""), ("b", "", "", "")])
        store.conn.execute("PRAGMA cache_size = 2")  # pages read again are read from the file
        before = _reads()
        found = numbers._found("keys", {("b", "", "", ""): digest(("b", "", "", ""))})
        reads = _reads() - before
    finally:
        store.close()
    assert list(found.values()) == [2]
    assert reads < 1_000  # 31 pages of the long name for each of 198 padding rows: 6,172


def test_a_batch_too_large_to_remember_keeps_what_is_remembered():
    # It emptied the memory first: one long name in each stage file made every known key
    # be looked up again, each merge (a load took 17.6 s instead of 3.8)
    from ccaudit.numbering import CACHED_TEXT, _Remembered

    remembered = _Remembered()
    remembered.add({("m", "p", "", "k"): 1})
    remembered.add({("m", "x" * (CACHED_TEXT + 1), "", "k"): 2})
    assert remembered.numbers == {("m", "p", "", "k"): 1}


def test_a_store_whose_largest_key_number_is_the_largest_sqlite_takes(tmp_path, sample_cli):
    # SQLite then numbers new rows below the largest, which the read-back missed: KeyError, exit 70
    path = str(tmp_path / "s.db")
    fresh = str(tmp_path / "fresh.db")
    store = Store(path)
    with store.conn:
        store.conn.execute("INSERT INTO keys (kid, method, principal, section, key, digest)"
                           " VALUES (?, 'x', 'x', '', 'x', x'00')",
                           [2**63 - 1])
    load_dumps([str(sample_cli)], store, workers=0)
    want = Store(fresh)
    load_dumps([str(sample_cli)], want, workers=0)
    try:
        assert_consistent(store)
        query = ("SELECT k.section, k.key, c.day, c.n FROM counts c JOIN keys k USING (kid, section)"
                 " ORDER BY 1, 2, 3")
        assert store.conn.execute(query).fetchall() == want.conn.execute(query).fetchall()
    finally:
        store.close()
        want.close()


# -- read errors ----------------------------------------------------------------------


def test_load_errors_are_collected_not_raised(store, tmp_path, sample_cli):
    noise = tmp_path / "noise.txt"
    noise.write_bytes(b"% Headers: x\n\n")
    paths = [str(tmp_path / "missing.txt"), str(tmp_path), str(noise), str(sample_cli)]
    stats = load_dumps(paths, store, workers=0)
    # the missing file, the directory and the noise-only file failed; the sample still loaded
    assert list(stats.failed) == paths[:3]
    msgs = list(stats.failed.values())
    assert "no such file" in msgs[0] and "directory" in msgs[1] and "no audit record" in msgs[2]
    assert (stats.inserted, stats.noise_lines) == (13, 18)


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
    good = [untyped(i, principal=f"User:{i * 7919 % 100003:x}-{i * 104729 % 99991:x}") for i in range(20000)]
    p = tmp_path / "d.jsonl.gz"
    p.write_bytes(_gzip_with_a_corrupt_block(json_lines(good)))
    store = Store(":memory:")
    try:
        stats = load_dumps([str(p)], store, workers=workers, chunk=1 << 16)
        assert stats.failed == {} and 15000 < stats.inserted <= 20000
        assert any("@end" in line for line in stats.problem_lines())
        assert list(stats.damaged) == [str(p)]  # what was read may hold wrong values: an input error
    finally:
        store.close()


# -- what is not a store ----------------------------------------------------------------


def test_refuses_an_sqlite_file_of_something_else(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError):
        Store(str(path))
    conn = sqlite3.connect(path)  # left as it was
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["customers"]
    conn.close()


def test_refuses_a_file_that_is_not_sqlite(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError):
        Store(str(path))
    assert path.read_bytes() == b"these are my notes, not a database\n" * 100


def test_refuses_a_directory(tmp_path):
    with pytest.raises(StoreError):
        Store(str(tmp_path))


@pytest.mark.parametrize(("version", "message"), [
    (3, r"another ccaudit version \(layout 3, this one reads 10\); load the dumps into a new store"),
    # was "another ccaudit version (layout 0", where clean said "not a ccaudit store"
    (0, r"not a ccaudit store \(its tables have ccaudit's names, but it has no layout version\)"),
    (-1, r"not a ccaudit store \(its tables have ccaudit's names, but it has no layout version\)"),
    # was: load anew
    (99, r"a newer ccaudit \(layout 99, this one reads up to 10\); read it with the newer ccaudit that made it"),
])
def test_store_of_another_layout_is_refused(tmp_path, version, message):
    path = tmp_path / "old.db"
    Store(str(path)).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()
    with pytest.raises(StoreError, match=message):
        Store(str(path))


@pytest.mark.parametrize("content", ["other-sqlite", "garbage"])
def test_a_refused_store_is_closed(tmp_path, monkeypatch, content):
    # the connection of a file that is not a store was left open
    path = tmp_path / "x.db"
    if content == "garbage":
        path.write_bytes(b"not a database at all" * 100)
    else:
        sqlite3.connect(path).execute("CREATE TABLE t (a)").connection.close()
    opened = []
    real_connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: opened.append(real_connect(*a, **k)) or opened[-1])
    with pytest.raises(StoreError):
        Store(str(path))
    assert bool(opened) == (content != "garbage")  # garbage is refused before SQLite opens it
    for conn in opened:
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")


# -- kinds of store --------------------------------------------------------------------


def test_in_memory_store(sample_cli):
    s = Store(":memory:")
    try:
        stats = load_dumps([str(sample_cli)], s, workers=0)
        assert stats.inserted == 13 and s.event_count() == 13
    finally:
        s.close()


def test_only_a_throwaway_store_skips_fsync(tmp_path, sample_cli):
    # a --db store syncs every commit; the temporary store of `report DUMP` need not
    kept, temp = Store(str(tmp_path / "kept.db")), Store(str(tmp_path / "temp.db"), durable=False)
    for store in (kept, temp):
        load_dumps([str(sample_cli)], store)
    assert kept.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert temp.db.execute("PRAGMA synchronous").fetchone()[0] == 0  # OFF
    assert kept.event_count() == temp.event_count() > 0


# -- ids ----------------------------------------------------------------------------------

ODD_IDS = [
    "32f0f6a9-f0b6-4fc8-92ff-2249dba0e8bf",  # a lowercase UUID: stored as 16 bytes
    "32F0F6A9-F0B6-4FC8-92FF-2249DBA0E8BF",  # the same in capitals: another id, kept as text
    "12345678-1234-1234-1234-123456789012",  # digits only
    "32f0f6a9f0b64fc892ff2249dba0e8bf",  # no dashes
    "32f0f6a9-f0b6-4fc8-92ff-2249dba0e8b ",  # a space for the last digit
    "32f0f6a9-f0b6-4fc8-92ff-2249dba0e8bf-",  # one character more
    "r1",
]


def test_every_id_reads_back_as_written_and_stays_itself(tmp_path):
    # one record per id, then all again: the views show each id exactly as read, a UUID
    # and its capitals stay two events, and the second pass is all duplicates
    recs = [record(i, "2024-05-06T10:00:00Z", "mds.Authorize", principal="User:u-1") for i in ODD_IDS]
    store = Store(str(tmp_path / "ids.db"))
    try:
        stats = load_dumps([write_jsonl(tmp_path, recs + recs)], store, workers=0)
        assert (stats.inserted, stats.duplicates) == (len(ODD_IDS), len(ODD_IDS))
        assert sorted(r[0] for r in store.db.execute("SELECT id FROM all_events")) == sorted(ODD_IDS)
        kinds = dict(store.db.execute("SELECT typeof(id), count(*) FROM events GROUP BY 1").fetchall())
        assert kinds == {"blob": 1, "text": len(ODD_IDS) - 1}
    finally:
        store.close()


def test_a_creation_killed_while_it_committed_is_undone_and_made_again(tmp_path):
    # What kill -9 in the middle of the creating transaction's commit leaves: the new file
    # partly written, and a hot journal saying how to undo it. Made here by copying both
    # files while a transaction that has spilled pages into the file is still open.
    live = tmp_path / "live.db"
    conn = sqlite3.connect(live, isolation_level=None)
    conn.execute("PRAGMA cache_size = 1")  # spill pages to the file before the commit
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TABLE filler (x)")
    conn.executemany("INSERT INTO filler VALUES (?)", ((b"x" * 4000,) for _ in range(200)))
    crashed = tmp_path / "crashed.db"
    crashed.write_bytes(live.read_bytes())
    (tmp_path / "crashed.db-journal").write_bytes((tmp_path / "live.db-journal").read_bytes())
    conn.execute("ROLLBACK")
    conn.close()
    assert crashed.stat().st_size > 0
    store = Store(str(crashed))
    try:
        stats = load_dumps([write_jsonl(tmp_path, [record("e1", T, "mds.Authorize")])], store, workers=0)
        assert stats.inserted == 1 and store.event_count() == 1
    finally:
        store.close()


CRASH_MID_WRITE = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size = 1")  # spill the changed pages to the file before any commit
conn.execute("BEGIN IMMEDIATE")
conn.execute("DELETE FROM events")
conn.execute("UPDATE quarters SET n = n + 9")
os._exit(0)  # as kill -9 inside a load's write transaction: the file half written, a hot journal beside it
"""


def test_a_store_reached_through_a_link_is_rolled_back_after_a_crash(tmp_path):
    """SQLite keeps the journal beside the file a link leads to; ccaudit looked for it
    beside the link, missed it, and every read-only command failed ("attempt to write a
    readonly database") until a load opened the store."""
    (tmp_path / "real").mkdir()
    real, link = tmp_path / "real" / "s.db", tmp_path / "link.db"
    store = Store(str(real))
    load_dumps([write_jsonl(tmp_path, [record(f"e{i}", T, "mds.Authorize") for i in range(50)])], store, workers=0)
    store.close()
    link.symlink_to(real)
    subprocess.run([sys.executable, "-c", CRASH_MID_WRITE, str(real)], check=True)
    assert (tmp_path / "real" / "s.db-journal").exists()
    store = Store(str(link), readonly=True)
    try:
        assert store.event_count() == 50
    finally:
        store.close()


@pytest.mark.parametrize("end", ["-journal", "-wal", "-shm"])
def test_a_new_store_named_as_another_stores_journal_is_refused(invoke, tmp_path, sample_cli, end):
    # was: made, and every command on a.db was then refused for the file beside it ("not a journal; remove it")
    assert invoke("load", "-q", sample_cli, "--db", tmp_path / "a.db").exit_code == 0
    side = tmp_path / f"a.db{end}"
    result = invoke("load", "-q", sample_cli, "--db", side)
    assert (result.exit_code, result.stderr) == (2, f"ccaudit: error: {side}: SQLite keeps a store's journal or log "
                                                    "under such a name (-journal, -wal, -shm): a store made here would "
                                                    f"block one named {tmp_path / 'a.db'}; give another name\n")
    assert not side.exists() and invoke("summary", "--db", tmp_path / "a.db").exit_code == 0


def test_a_store_of_two_names_is_not_written(invoke, tmp_path, sample_cli):
    """SQLite names the journal after the name it opened: a load killed through one name
    left a journal that a load through a hard link's other name did not see, and the next
    open of the first rolled it back over that load's pages: the store was destroyed."""
    first, second, week2 = tmp_path / "a.db", tmp_path / "b.db", FIXTURES / "sample-week2.jsonl"
    assert invoke("load", "-q", sample_cli, "--db", first).exit_code == 0
    store = Store(str(first))
    store.begin_load([str(week2)])  # the note a killed load leaves, for clean --unfinished to forget
    store.close()
    os.link(first, second)
    before = first.read_bytes()
    for db in (first, second):
        result = invoke("load", "-q", week2, "--db", db)
        assert (result.exit_code, result.stderr) == (2, f"ccaudit: error: {db}: the store has 2 names (hard links), "
                                                        "and SQLite keeps a write's journal beside one only, so that a "
                                                        "write through another (a load, or bringing an old store "
                                                        "forward) could destroy it: copy it to a file of its own (cp), "
                                                        "and use that\n")
    assert invoke("clean", "--db", second, "--unfinished", "--yes").exit_code == 2  # a write too
    assert invoke("summary", "--db", second).exit_code == 0 and first.read_bytes() == before  # read as ever
    os.unlink(second)
    assert invoke("load", "-q", week2, "--db", first).exit_code == 0
    assert invoke("summary", "--db", first).stderr == ""  # loaded, and the note cleared


def test_a_load_that_waits_for_another_writer_says_so_once(tmp_path):
    # was: a load waited for another process's write lock (up to a day) without a word
    import threading

    path = str(tmp_path / "s.db")
    Store(path).close()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's load, holding the write lock
    told: list[str] = []
    store = Store(path, notify=told.append)
    threading.Timer(0.5, lambda: other.execute("COMMIT")).start()
    try:
        dumps = [write_jsonl(tmp_path, [record(f"e{i}", T, "mds.Authorize")], f"d{i}.jsonl") for i in range(3)]
        stats = load_dumps(dumps, store, workers=0)
        assert stats.inserted == 3
    finally:
        store.close()
        other.close()
    assert told == [f"{path}: another process is writing the store; waiting for it"]


def test_a_store_missing_a_table_is_refused_in_one_line(tmp_path):
    path = str(tmp_path / "cut.db")
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE quarters")
    with pytest.raises(StoreError, match="no table quarters"):
        Store(path, readonly=True)


@pytest.mark.parametrize("cut", [1, 32_768, 65_000])
def test_a_store_cut_inside_its_last_page_is_refused_as_damaged(invoke, tmp_path, sample_cli, cut):
    # was read as if whole: summary and report exit 0, and a load into it counted records
    # it already held as new (a copy of a store that stopped part way)
    whole, db = tmp_path / "whole.db", tmp_path / "cut.db"
    assert invoke("load", sample_cli, "--db", whole, "-q").exit_code == 0
    size = whole.stat().st_size
    db.write_bytes(whole.read_bytes()[:size - cut])
    said = (f"ccaudit: error: {db}: the store is damaged: cut short ({size - cut:,} bytes of {size:,}); copy it "
            "again, or load the dumps into a new store\n")
    for command in (["summary"], ["report"], ["load", sample_cli, "-q"]):
        result = invoke(*command, "--db", db)
        assert (result.exit_code, result.stderr) == (2, said), command
    assert invoke("summary", "--db", whole).exit_code == 0


def test_a_store_deleted_as_its_length_is_asked_is_not_an_oserror(tmp_path, sample_cli, monkeypatch):
    # an OSError reaching the command line is taken for standard output's (exit 2, "cannot write")
    path = str(tmp_path / "s.db")
    with Store(path) as store:
        load_dumps([str(sample_cli)], store)

    def gone(name):
        raise FileNotFoundError(2, "No such file or directory", name)

    monkeypatch.setattr("ccaudit.storeshape.os.path.getsize", gone)
    with Store(path, readonly=True) as store:  # the file it opened reads on
        assert store.event_count() == 13


@pytest.mark.parametrize("offset", [0, 5 * 3600, 19_800], ids=["UTC", "New York", "Kolkata"])
def test_a_section_of_a_day_reads_its_own_rows_not_the_other_sections(tmp_path, offset):
    # one mds_authorize key among 3,000 sign-in failure keys, on both UTC days a zone's day
    # spans: reading its section must not step over theirs (SQLite's VM steps, counted)
    day = 1_704_067_200
    store = Store(str(tmp_path / "s.db"))
    rows = [(q, "signin_failure", f"u{i}@example.com", "AuthenticationFailed", "None", 1, q * 10**6, q * 10**6)
            for q in (day + 43_200, day + 86_400 + 3600) for i in range(3000)]
    store.add_counts([*rows, (day + 43_200, "mds_authorize", "k", "mds.Authorize", "User:1", 4, day * 10**6 + 43_200
                              * 10**6, day * 10**6 + 43_200 * 10**6 + 5)])
    steps = []
    store.conn.set_progress_handler(lambda: steps.append(1) and 0, 100)
    selection = Selection(store)
    starts = list(range(day + offset, day + offset + 86_400, 3600))

    def read(section: str) -> tuple[list, int]:
        steps.clear()
        rows = list(selection.columns(section, starts, starts[-1] + 3600))
        return rows, len(steps)

    read("mds_authorize")  # (a selection's first read checks the pages of what it reads)
    mds, mds_steps = read("mds_authorize")
    failures, failure_steps = read("signin_failure")
    assert [(key, sum(cells)) for key, cells, _ in mds] == [("k", 4)]
    assert len(failures) == 3000 and {sum(cells) for _, cells, _ in failures} == {1 if offset == 0 else 2}
    assert mds_steps * 100 < failure_steps


def test_a_filter_keeping_many_keys_reads_a_day_of_few_without_a_search_per_key(tmp_path):
    # 3,000 keys on one day, one on the next; a --principal glob keeps all of them: reading
    # the second day checks its one row against the kept keys, not each kept key against it
    day = 1_704_067_200
    store = Store(str(tmp_path / "s.db"))
    store.add_counts([(day + 60, "signin_failure", f"u{i}@example.com", "AuthenticationFailed", f"u{i}", 1,
                       (day + 60) * 10**6, (day + 60) * 10**6) for i in range(3000)]
                     + [(day + 86_460, "signin_failure", "late@example.com", "AuthenticationFailed", "u", 1,
                         (day + 86_460) * 10**6, (day + 86_460) * 10**6)])
    steps = []
    store.conn.set_progress_handler(lambda: steps.append(1) and 0, 100)
    starts = list(range(day + 86_400, day + 2 * 86_400, 3600))

    def read(selection: Selection) -> int:
        list(selection.columns("signin_failure", starts, starts[-1] + 3600))  # (its first read checks the pages)
        steps.clear()
        rows = selection.columns("signin_failure", starts, starts[-1] + 3600)
        assert [key for key, *_ in rows] == ["late@example.com"]
        return len(steps)

    assert read(Selection(store, principal="u*")) < 3 * read(Selection(store)) + 10


def test_a_zone_day_does_not_read_the_rows_of_keys_with_no_event_in_it(tmp_path):
    # 3,000 keys seen only at 10:00 UTC of the 2nd: New York's 1st (05:00 UTC on the 1st to
    # 05:00 on the 2nd) spans that UTC day but holds none of their events, so it reads one row
    day = 1_704_067_200
    late = day + 86_400 + 36_000
    store = Store(str(tmp_path / "s.db"))
    store.add_counts([(late, "signin_failure", f"u{i}@example.com", "AuthenticationFailed", f"u{i}", 1,
                       late * 10**6, late * 10**6) for i in range(3000)]
                     + [(day + 36_000, "signin_failure", "early@example.com", "AuthenticationFailed", "u", 1,
                         (day + 36_000) * 10**6, (day + 36_000) * 10**6)])
    steps = []
    store.conn.set_progress_handler(lambda: steps.append(1) and 0, 100)
    selection = Selection(store)

    def read(start: int) -> tuple[list[str], int]:
        steps.clear()
        starts = list(range(start, start + 86_400, 3600))
        return [key for key, *_ in selection.columns("signin_failure", starts, start + 86_400)], len(steps)

    read(day + 5 * 3600)  # (a selection's first read checks the pages of what it reads)
    first, first_steps = read(day + 5 * 3600)
    second, second_steps = read(day + 86_400 + 5 * 3600)
    assert first == ["early@example.com"] and len(second) == 3000
    assert first_steps * 3 < second_steps, (first_steps, second_steps)


def test_events_and_counts_without_events_are_never_mixed_in_a_store(invoke, tmp_path, sample_cli):
    # a load into a store ccaudit spark made counted every event again ("13 new", 26 events);
    # two spark runs into one new store both passed spark's check and both wrote their counts
    day = 1_704_067_200
    row = (day, "mds_authorize", "k", "mds.Authorize", "User:1", 4, day * 10**6, day * 10**6 + 5)
    counts, events = str(tmp_path / "counts.db"), str(tmp_path / "events.db")
    store = Store(counts)
    store.add_counts([row])
    with pytest.raises(StoreError, match="already holds events or counts"):
        store.add_counts([row])  # the second run, its check passed before the first wrote
    store.close()
    for command in ("load", "report"):
        r = invoke(command, sample_cli, "--db", counts)
        assert r.exit_code == 2 and "holds counts only (made by ccaudit spark)" in r.stderr, r.stderr
    assert invoke("summary", "--db", counts, "--format", "json").stdout.count('"events": 4') == 1
    assert invoke("load", sample_cli, "--db", events, "-q").exit_code == 0
    store = Store(events)
    with pytest.raises(StoreError, match="already holds events or counts"):
        store.add_counts([row])
    store.close()


def test_a_load_is_refused_while_spark_writes_the_store_and_takes_it_once_spark_wrote_nothing(
        run_ccaudit, tmp_path, sample_cli):
    # was: a load into the store during Spark's minutes went in, and the Spark run then failed
    # at its end ("already holds events or counts"), its work lost; and a store that a Spark run
    # of no records (or of unusable inputs) left refused every load as "counts only"
    db = str(tmp_path / "s.db")
    with Store(db) as spark_run:
        with spark_run.holding():  # as ccaudit spark holds it, through its minutes of Spark
            spark_run.claim_for_counts()
            r = run_ccaudit("load", sample_cli, "--db", db, "-q")
            assert r.returncode == 2, r.stderr
            assert f"{db}: ccaudit spark is writing counts into it now" in r.stderr
        # the run ended having written no counts; its program keeps the Store open (the run's
        # lock went with the hold: was kept on the parked descriptor, and refused every load)
        with Store(db) as store, store.holding():  # another load, waiting its turn: it is no Spark run
            r = run_ccaudit("load", sample_cli, "--db", db, "-q")
    assert r.returncode == 0 and "13 new" in r.stderr, r.stderr
    with Store(db) as store:
        assert not store.counts_only() and store.event_count() == 13
        with pytest.raises(StoreError, match="already holds events or counts"):
            store.claim_for_counts()  # a Spark run into it now


def test_a_damaged_page_names_the_store_it_is_in(invoke, tmp_path, sample_cli, fixtures_dir):
    # "a store could not be read: database disk image is malformed", for either side of a
    # diff: the user could not tell which store was damaged
    good, bad = str(tmp_path / "week1.db"), str(tmp_path / "week2.db")
    invoke("load", sample_cli, "--db", good, "-q")
    invoke("load", fixtures_dir / "sample-week2.jsonl", "--db", bad, "-q")
    with sqlite3.connect(bad) as conn:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'counts'").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(bad, "r+b") as f:
        f.seek((root - 1) * size)
        f.write(b"\xff" * 16)
    for args in (["diff", good, bad], ["diff", bad, good], ["report", "--db", bad]):
        r = invoke(*args)
        assert r.exit_code == 2, r.output
        assert r.stderr.startswith(f"ccaudit: error: {bad}: the store is damaged (database disk image is malformed: "
                                   f"Page {root}: "), r.stderr
        assert r.stderr.endswith("); load the dumps into a new store\n") and r.stderr.count("\n") == 1


@pytest.mark.parametrize("table", ["keys", "counts", "method_counts", "quarters"])
def test_a_page_that_reads_short_of_rows_is_damage_not_a_smaller_report(invoke, tmp_path, sample_cli, table):
    # a page whose header was garbled held fewer rows and read without an error: reports,
    # check and diff left its rows out, exit 0, and a diff of two copies of one store differed
    good, bad = str(tmp_path / "good.db"), str(tmp_path / "bad.db")
    assert invoke("load", sample_cli, "--db", good, "-q").exit_code == 0
    with open(good, "rb") as f, open(bad, "wb") as g:
        g.write(f.read())
    root = one_cell_fewer(bad, table)
    out = tmp_path / "r.json"
    for args in (["report", "--db", bad], ["report", "--db", bad, "--principal", "*"], ["summary", "--db", bad],
                 ["methods", "--db", bad], ["diff", good, bad], ["check", "--db", bad, "--max", "all_events:*=1/d"],
                 ["report", "--db", bad, "--since", "2024-05-06T10:07:00Z"], ["report", "--db", bad, "-o", out]):
        r = invoke(*args)
        if (table != "quarters") if args[0] == "summary" else (table == "quarters" and "--principal" in args):
            assert r.exit_code == 0, r.output  # it reads quarters only; sums the kept keys' counts instead
            continue
        assert r.exit_code == 2 and not out.exists(), (args, r.output)  # (on stdout, what came before it)
        assert r.stderr.startswith(f"ccaudit: error: {bad}: the store is damaged (database disk image is malformed: "
                                   ) and f"page {root}" in r.stderr.lower() and r.stderr.count("\n") == 1, r.stderr


def test_a_cut_quarter_hour_whose_events_read_short_is_damage(invoke, tmp_path):
    # a window cut inside a quarter hour reads its events there: a damaged page of them left
    # events out of the report unsaid
    dump = write_jsonl(tmp_path, [signin("2024-05-06T10:05:00Z", f"u{i}@example.com", id=f"e{i}") for i in range(40)])
    db = str(tmp_path / "s.db")
    assert invoke("load", dump, "--db", db, "-q").exit_code == 0
    one_cell_fewer(db, "events")
    assert invoke("report", "--db", db, "-q").exit_code == 0  # whole quarter hours: the counts only
    r = invoke("report", "--db", db, "--since", "2024-05-06T10:01:00Z", "-q")
    assert (r.exit_code, r.stdout) == (2, ""), r.output  # (found as the report began, before its summary)
    assert r.stderr == (f"ccaudit: error: {db}: the store is damaged (the quarter hour from 2024-05-06T10:00:00Z "
                        "holds 39 events, its count 40); load the dumps into a new store\n")


def test_a_time_of_another_type_beside_a_cut_quarter_hour_names_its_table(invoke, tmp_path):
    # a time edited to text in another quarter of a cut quarter's hour was counted against the
    # cut quarter: "the quarter hour from 10:00 holds 2 events, its count 1", not the row's table
    dump = write_jsonl(tmp_path, [signin("2024-05-06T10:05:00Z", "u@example.com", id="e0"),
                                  signin("2024-05-06T10:40:00Z", "v@example.com", id="e1")])
    db = str(tmp_path / "s.db")
    assert invoke("load", dump, "--db", db, "-q").exit_code == 0
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE events SET us = 'x' WHERE id = 'e1'")
    r = invoke("report", "--db", db, "--since", "2024-05-06T10:01:00Z", "-q")
    assert r.exit_code == 2 and r.stderr.startswith(f"ccaudit: error: {db}: a row of its events is damaged ("), \
        r.stderr
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:  # a time with a fraction: was KeyError, exit 70
        conn.execute("UPDATE events SET us = 1714990800000000.5 WHERE id = 'e1'")
    r = invoke("report", "--db", db, "--since", "2024-05-06T10:01:00Z", "-q")
    assert (r.exit_code, r.stderr) == (2, f"ccaudit: error: {db}: a row of its events is damaged (a time that is not "
                                          "a whole number of µs, in the hour from 2024-05-06T10:00:00Z); load the "
                                          "dumps into a new store\n")


def test_a_damaged_page_of_text_names_the_store_it_is_in(invoke, tmp_path):
    # bytes garbled in a page of keys: sqlite3 could not decode a key ("Could not decode to
    # UTF-8"), and the store was not checked for damage: "a store could not be read: ..."
    dump = write_jsonl(tmp_path, [signin(T, f"user-{i:04}@example.com", id=f"e{i}") for i in range(300)])
    db = str(tmp_path / "s.db")
    assert invoke("load", dump, "--db", db, "-q").exit_code == 0
    with sqlite3.connect(db) as conn:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'keys'").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(db, "r+b") as f:  # a key's text: the page is whole (its cells where they were), the text not UTF-8
        f.seek((root - 1) * size)
        f.seek((root - 1) * size + f.read(size).rindex(b"user-0150@example.com"))
        garbled = bytes(b ^ 255 for b in f.read(16))
        f.seek(-16, os.SEEK_CUR)
        f.write(garbled)
    r = invoke("report", "--db", db)
    assert (r.exit_code, r.stderr) == (2, f"ccaudit: error: {db}: a row of its keys holds text that is not UTF-8; load "
                                          "the dumps into a new store\n")


def test_a_store_with_a_trigger_is_refused(invoke, tmp_path, sample_cli):
    # a store from elsewhere with a trigger that emptied events as a load added them: the
    # load said it had added them, and every report after it was of nothing
    db = str(tmp_path / "s.db")
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TRIGGER gone AFTER INSERT ON events BEGIN DELETE FROM events; END")
    conn.close()
    for args in (["load", sample_cli, "--db", db, "-q"], ["report", "--db", db, "-q"], ["summary", "--db", db]):
        r = invoke(*args)
        assert (r.exit_code, r.stderr) == (2, f"ccaudit: error: {db}: holds a trigger (gone), which ccaudit does not "
                                              "make; load the dumps into a new store\n")


@pytest.mark.parametrize("table, stand_in", [
    ("quarters", "CREATE VIEW quarters AS SELECT * FROM old UNION ALL SELECT * FROM old"),
    ("counts", "CREATE VIEW counts AS SELECT * FROM old UNION ALL SELECT * FROM old"),
    ("keys", "CREATE VIRTUAL TABLE keys USING fts4(kid, section, key)"),
])
def test_a_store_with_a_view_or_virtual_table_for_a_table_is_refused(invoke, tmp_path, sample_cli, table, stand_in):
    # a store from elsewhere whose table is a view runs the view's query as ccaudit reads it:
    # one that never ends (a recursive WITH) ran for ever, at full CPU, deaf to Ctrl-C and
    # SIGTERM; this one counted every event twice, or was "could not be read"
    db = str(tmp_path / "s.db")
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute(f"ALTER TABLE {table} RENAME TO old")
        conn.execute(stand_in)
    conn.close()
    for args in (["load", sample_cli, "--db", db, "-q"], ["report", "--db", db, "-q"], ["summary", "--db", db]):
        r = invoke(*args)
        assert (r.exit_code, r.stderr) == (2, f"ccaudit: error: {db}: its {table} is not a table, as ccaudit makes "
                                              "it; load the dumps into a new store\n")


def test_a_store_named_like_a_uri_is_the_file_of_that_name(invoke, tmp_path, sample_cli, monkeypatch):
    # SQLite reads a name that starts with "file:" as a URI: the load wrote x.db (not
    # owner-only), said it had loaded, and every later read of file:x.db was "not a ccaudit store"
    monkeypatch.chdir(tmp_path)
    assert invoke("load", sample_cli, "--db", "file:x.db", "-q").exit_code == 0
    assert sorted(os.listdir(tmp_path)) == ["file:x.db"]
    assert os.stat("file:x.db").st_mode & 0o077 == 0
    result = invoke("summary", "--db", "file:x.db")
    assert result.exit_code == 0 and "Audit Summary for" in result.stdout


def test_a_read_only_store_named_memory_is_refused_and_makes_no_file(tmp_path, monkeypatch):
    # the library's Store(":memory:", readonly=True) made a file ":memory:?mode=ro" and wrote a store into it
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError):
        Store(":memory:", readonly=True)
    assert os.listdir(tmp_path) == []


def test_a_reader_waiting_on_a_writer_killed_mid_transaction_rolls_back_and_reads(tmp_path, fixtures_dir, ccaudit_exe):
    # was: "not a usable ccaudit store (attempt to write a readonly database)", exit 2, from every
    # reader that had waited; the journal, hot once the writer died, needs a connection that may write
    db = tmp_path / "s.db"
    assert subprocess.run([ccaudit_exe, "load", str(fixtures_dir / "sample-week2.jsonl"), "--db", str(db), "-q"],
                          capture_output=True, check=False).returncode == 0
    before = subprocess.run([ccaudit_exe, "summary", "--db", str(db)], capture_output=True, text=True, check=True)
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    stop = threading.Timer(60, writer.kill)  # (should the reader never say it waits)
    try:
        assert writer.stdout.readline() == "holding\n" and os.path.exists(f"{db}-journal")
        reader = subprocess.Popen([ccaudit_exe, "summary", "--db", str(db)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        stop.start()
        said = reader.stderr.readline()  # it waits for the writer's lock, and says so (was: a second's sleep,
    finally:  # which a busy machine's start of Python outlasted)
        stop.cancel()
        writer.kill()
        writer.wait()
    out, err = reader.communicate(timeout=60)
    assert (reader.returncode, out) == (0, before.stdout), said + err
    assert said == f"ccaudit: {db}: another process is writing the store; waiting for it\n", said + err


KILLED_WRITER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size = 2")  # so that changed pages reach the file before the commit, as in a load's
conn.execute("BEGIN EXCLUSIVE")
conn.execute("INSERT INTO meta VALUES ('x', zeroblob(3000000))")
print("holding", flush=True)
time.sleep(60)
"""


def test_a_full_disk_while_the_store_is_created_says_so(tmp_path, sample_cli, ccaudit_exe):
    # was: "not a usable ccaudit store (database or disk is full)", as if the store were bad
    from tests.faults import fsize_limit

    db = tmp_path / "s.db"
    proc = subprocess.run([ccaudit_exe, "load", str(sample_cli), "--db", str(db), "-q"], capture_output=True,
                          text=True, preexec_fn=fsize_limit(100_000), timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"ccaudit: error: {db}: cannot write the store: no space left, or an I/O "
                                  "error ("), proc.stderr
    assert "not a usable" not in proc.stderr and "loaded before" not in proc.stderr


def test_a_load_stopped_by_a_full_disk_says_how_many_records_it_did_not_store(tmp_path, ccaudit_exe):
    # was: "loaded 66,967 records: 0 new, 0 duplicates": the records of the transaction rolled
    # back were counted as read, and neither new nor duplicates
    import json

    from tests.faults import fsize_limit

    dump = write_jsonl(tmp_path, (signin(f"2024-05-07T{i % 24:02d}:00:00Z", f"user{i}@example.com", "FAILURE",
                                         id=f"e{i}") for i in range(40_000)), "d.jsonl")
    db = tmp_path / "s.db"
    proc = subprocess.run([ccaudit_exe, "load", dump, "--db", str(db), "--format", "json"], capture_output=True,
                          text=True, preexec_fn=fsize_limit(3 * 2**20), timeout=120, check=False)
    assert proc.returncode == 2 and "cannot write the store" in proc.stderr, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["not_stored"] > 0
    assert stats["records_read"] == stats["inserted"] + stats["duplicates"] + stats["not_stored"]
    assert f", {stats['not_stored']:,} not stored (the load stopped); skipped" in proc.stderr


def test_names_that_join_to_the_same_text_are_numbered_apart(tmp_path):
    # keys and details are unique by a digest of their columns joined by NULs: a column that
    # holds a NUL could join to another name's text, and the two would share a number
    from ccaudit.numbering import Numbering
    from ccaudit.schema import KEY_COLUMNS

    names = [("m", "a\0", "", "b"), ("m", "a", "\0", "b"), ("m", "a", "", "\0b"), ("m", "a\0\0", "", "b")]
    store = Store(str(tmp_path / "s.db"))
    try:
        with store.conn:
            first = Numbering(store.conn).of("keys", KEY_COLUMNS, names)
        again = Numbering(store.conn).of("keys", KEY_COLUMNS, names[::-1])  # looked up, not remembered
        stored = store.conn.execute("SELECT method, principal, section, key FROM keys ORDER BY kid").fetchall()
    finally:
        store.close()
    assert len(set(first)) == 4 and again == first[::-1]
    assert sorted(stored) == sorted(names)


def test_a_store_name_too_long_for_its_journal_is_refused_before_anything_is_made(invoke, tmp_path, sample_cli):
    # was "not a usable ccaudit store (unable to open database file)", after an empty file
    # was made that clean then refused to delete: SQLite's NAME-journal was over 255 bytes
    db = tmp_path / ("j" * 250 + ".db")
    result = invoke("load", sample_cli, "--db", db, "-q")
    assert result.exit_code == 2 and "a name too long to write the store" in result.stderr
    assert list(tmp_path.iterdir()) == []


def _path_of(folder, size: int, end: str = ".db") -> str:
    """A name in folders under ``folder`` whose full path is ``size`` bytes."""
    deep = folder / ("d" * 200) / ("e" * 200)
    deep.mkdir(parents=True)
    return str(deep / ("s" * (size - len(str(deep)) - 1 - len(end)) + end))


def test_a_store_path_too_long_for_sqlite_is_refused_before_anything_is_made(invoke, tmp_path, sample_cli):
    # was "not a usable ccaudit store (unable to open database file); if it is a dump, ...",
    # and an empty file left: SQLite takes a full path of 512 bytes, the journal's included
    fits, over = _path_of(tmp_path / "a", 504), _path_of(tmp_path / "b", 505)
    assert invoke("load", sample_cli, "--db", fits, "-q").exit_code == 0
    result = invoke("load", sample_cli, "--db", over, "-q")
    assert result.exit_code == 2 and result.stderr.splitlines() == [
        f"ccaudit: error: {over}: a path too long for SQLite, 505 bytes in full (links followed), where it takes 504 "
        "for a store (its journal's is 8 more): give a shorter path"]
    assert not os.path.lexists(over)
    for command in (["report", "--db", over, "-q"], ["clean", "--db", over, "--yes"]):  # (one made elsewhere)
        open(over, "w").close()
        result = invoke(*command)
        assert result.exit_code == 2 and "a path too long for SQLite" in result.stderr, result.stderr
    os.symlink(tmp_path / "a", link := _path_of(tmp_path / "c", 500, end=""))  # SQLite is given the real path
    assert invoke("load", sample_cli, "--db", os.path.join(link, "s.db"), "-q").exit_code == 0


def test_a_temporary_folder_too_deep_for_sqlites_temporary_store_is_named(invoke, tmp_path, sample_cli, monkeypatch):
    # was "/.../ccaudit-tmp-123-x/store.db: not a usable ccaudit store (...)", a store the user never named
    temp = _path_of(tmp_path, 480, end="")
    os.mkdir(temp)
    monkeypatch.setenv("TMPDIR", temp)
    result = invoke("report", sample_cli, "-q", "-o", tmp_path / "r.txt")
    assert result.exit_code == 2 and result.stderr.splitlines() == [
        f"ccaudit: error: {temp}: the temporary folder's path is too long for SQLite to keep a temporary store "
        "in it; set TMPDIR to a folder of a shorter path"]
    assert os.listdir(temp) == [] and not (tmp_path / "r.txt").exists()


@pytest.mark.parametrize("adding", ["events", "counts"])
def test_a_full_disk_says_what_is_kept_only_of_a_load(tmp_path, sample_cli, monkeypatch, adding):
    # was "...; everything loaded before is kept" of ccaudit spark's counts too, which are
    # written in one transaction (and the store made for the run deleted)
    import sqlite3

    from ccaudit.errors import NoSpace

    store = Store(str(tmp_path / "s.db"))

    def full():
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(store, "_flush", full)
    try:
        with pytest.raises(NoSpace) as e:
            if adding == "counts":
                store.add_counts([(1714989600, "all_events", "GetUsers", "GetUsers", "u", 1, 0, 0)])
            else:
                store.merge_files([])
    finally:
        store.close()
    said = f"{tmp_path}/s.db: cannot write the store: no space left, or an I/O error (database or disk is full)"
    assert str(e.value) == said + ("; what the load had committed is kept" if adding == "events" else "")


def _as_a_user(command: list[str]) -> list[str]:
    """``command`` with file permissions in force: as root, without the capabilities that
    pass over them (setpriv), else skipped."""
    import shutil

    if os.geteuid() != 0:
        return command
    if not shutil.which("setpriv"):
        pytest.skip("root without setpriv: a read-only folder is not read-only")
    return ["setpriv", "--inh-caps=-all", "--bounding-set=-all", *command]


@pytest.mark.parametrize("command", [["summary"], ["clean", "--unfinished", "--yes"], ["clean", "--yes"]])
def test_a_write_ahead_log_store_in_a_read_only_folder_is_refused_saying_why(tmp_path, fixtures_dir, ccaudit_exe,
                                                                            command):
    # was: "not a usable ccaudit store (attempt to write a readonly database)", or clean's "not
    # a ccaudit store": SQLite reads a store that keeps a write-ahead log by making STORE-shm
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "w.db"
    assert subprocess.run([ccaudit_exe, "load", str(fixtures_dir / "sample-week2.jsonl"), "--db", str(db), "-q"],
                          capture_output=True, check=False).returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    before = db.read_bytes()
    folder.chmod(0o555)
    try:
        done = subprocess.run(_as_a_user([ccaudit_exe, command[0], "--db", str(db), *command[1:]]),
                              capture_output=True, text=True, check=False)
    finally:
        folder.chmod(0o755)
    assert done.returncode == 2
    assert (f"{db}: a store that keeps a write-ahead log (another program's setting), in a folder you cannot "
            f"write: SQLite reads it only by making w.db-shm beside it") in done.stderr, done.stderr
    assert db.read_bytes() == before


def test_a_load_held_up_by_another_programs_exclusive_lock_says_so_at_once(tmp_path, sample_cli, ccaudit_exe):
    # was: the look at whether the store was made yet waited sqlite3's 5 s first, without a word
    # and deaf to Ctrl-C, before the load said it waited
    import subprocess
    import time

    from tests.conftest import stderr_until

    path = str(tmp_path / "s.db")
    Store(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another program, writing its commit
    try:
        started = time.monotonic()
        load = subprocess.Popen([ccaudit_exe, "load", str(sample_cli), "--db", path, "-q"], stderr=subprocess.PIPE)
        said = stderr_until(load, "waiting for it")
        waited = time.monotonic() - started
        load.terminate()
        load.communicate(timeout=10)
    finally:
        other.close()
    assert said.decode() == f"ccaudit: {path}: another process is writing the store; waiting for it\n"
    assert waited < 3 and load.returncode == 143

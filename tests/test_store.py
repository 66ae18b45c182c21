"""The SQLite store and the load path: de-duplication (within a dump, across dumps, across
runs), counts, refusing files that are not ccaudit stores, and the parallel parse path,
which must give exactly what the single-process path gives.

Expected numbers are the hand counts of fixtures/sample-cli.txt (conftest.py) and of the
small dumps written here.
"""
from __future__ import annotations

import gzip
import io
import json
import sqlite3
import sys
from collections import Counter

import pytest

from ccaudit.errors import StoreError
from ccaudit.load import load_dumps
from ccaudit.report import build
from ccaudit.store import Store

LOAD_KEYS = ("records_read", "inserted", "duplicates", "noise_lines", "malformed")


def counts(stats) -> tuple:
    return tuple(getattr(stats, k) for k in LOAD_KEYS)


def section_totals(store) -> Counter:
    """(section, key) -> events, from the store's counts."""
    c: Counter = Counter()
    for section, key, _ts, n, *_ in store.buckets():
        c[section, key] += n
    return c


def expected_totals(expected_sample) -> Counter:
    c: Counter = Counter()
    for sections in expected_sample["cells"].values():
        for sid, rows in sections.items():
            for key, hours in rows.items():
                c[sid, key] += sum(hours)
    return c


def events(store) -> list[tuple]:
    return sorted(store.db.execute("SELECT hour, id, method, principal FROM all_events").fetchall())


def snapshot(store) -> tuple:
    return events(store), sorted(tuple(b) for b in store.buckets())


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path / "store.db"))
    yield s
    s.close()


def rec(i, time="2024-05-06T10:00:00Z", method="GetUsers", principal="User:u-1") -> dict:
    return {"id": f"id-{i}", "time": time, "type": "io.confluent.cloud/request",
            "data": {"methodName": method, "authenticationInfo": {"principal": principal}}}


def jsonl(tmp_path, name, records, extra: bytes = b"") -> str:
    p = tmp_path / name
    p.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records) + extra)
    return str(p)


# -- the sample ---------------------------------------------------------------------------

def test_load_sample(store, sample_cli, expected_sample):
    stats = load_dumps([str(sample_cli)], store, workers=0)
    want = expected_sample["load"]
    assert counts(stats) == tuple(want[k] for k in LOAD_KEYS) == (14, 13, 1, 16, 6)
    assert stats.malformed_lines == [f"{sample_cli}:{n}" for n in range(31, 37)]
    assert stats.failed == {}
    assert store.event_count() == 13
    assert section_totals(store) == expected_totals(expected_sample)


def test_detail_tables(store, sample_cli):
    load_dumps([str(sample_cli)], store, workers=0)
    n = lambda table: store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    # 3 kafka.Authentication + 4 mds.Authorize; SignIn: 2 failures (lines 19, 21), 2 successes (17, 23)
    assert (n("all_events"), n("auth_events"), n("signin_failures"), n("signin_successes")) == (13, 7, 2, 2)


def test_big_connection_id_is_kept_exactly(store, tmp_path):
    r = {"id": "k1", "time": "2024-05-06T10:00:00Z",
         "data": {"methodName": "kafka.Authentication", "authenticationInfo": {"principal": "User:sa-1"},
                  "requestMetadata": {"connection_id": 171234567890100042}, "result": {"status": "SUCCESS"}}}
    load_dumps([jsonl(tmp_path, "d.jsonl", [r])], store, workers=0)
    (conn,) = store.db.execute("SELECT connection_id FROM auth_events").fetchone()
    assert str(conn) == "171234567890100042"  # beyond 2**53: a float would end in ...0040


def test_second_load_adds_nothing(store, sample_cli):
    load_dumps([str(sample_cli)], store, workers=0)
    before = snapshot(store)
    again = load_dumps([str(sample_cli)], store, workers=0)
    assert (again.inserted, again.duplicates, again.records_read) == (0, 14, 14)
    assert snapshot(store) == before


def test_second_run_on_a_reopened_store_adds_nothing(tmp_path, sample_cli, fixtures_dir):
    path = str(tmp_path / "s.db")
    s = Store(path)
    load_dumps([str(sample_cli)], s, workers=0)
    before = snapshot(s)
    s.close()
    s = Store(path)
    try:
        # the same 14 records, in another shape
        stats = load_dumps([str(fixtures_dir / "sample-array.json.gz")], s, workers=0)
        assert (stats.inserted, stats.duplicates) == (0, 14)
        assert snapshot(s) == before
    finally:
        s.close()


def test_dedup_across_dumps_in_one_load(store, sample_cli, fixtures_dir, variants):
    paths = [str(sample_cli)] + [str(fixtures_dir / v) for v in variants]
    stats = load_dumps(paths, store, workers=0)
    # 5 inputs x 14 records; 13 distinct events
    assert (stats.records_read, stats.inserted, stats.duplicates) == (70, 13, 57)
    assert store.event_count() == 13


def test_first_copy_wins(store, tmp_path):
    first = rec(1, method="FirstMethod")
    second = rec(1, method="SecondMethod")  # same id and time, other content
    stats = load_dumps([jsonl(tmp_path, "a.jsonl", [first, rec(2), second])], store, workers=0)
    assert (stats.inserted, stats.duplicates) == (2, 1)
    later = load_dumps([jsonl(tmp_path, "b.jsonl", [rec(1, method="ThirdMethod")])], store, workers=0)
    assert (later.inserted, later.duplicates) == (0, 1)
    assert dict(store.db.execute("SELECT id, method FROM all_events").fetchall()) == {
        "id-1": "FirstMethod", "id-2": "GetUsers"}


def test_conflicting_copy_with_another_time_in_the_same_hour_is_a_duplicate(store, tmp_path):
    # decisions.md: de-duplication is by id; the first copy stays, even if the copy differs
    stats = load_dumps([jsonl(tmp_path, "a.jsonl", [rec(1, "2024-05-06T10:00:00Z"),
                                                     rec(1, "2024-05-06T10:59:59Z")])], store, workers=0)
    assert (stats.inserted, stats.duplicates) == (1, 1)
    assert store.event_count() == 1


def test_same_id_in_another_utc_hour_is_kept_apart(store, tmp_path):
    # The documented limit (README, "The store"): identity is (id, UTC hour of time). A real
    # copy always has the same time; keying on the hour keeps inserts at the end of the index.
    stats = load_dumps([jsonl(tmp_path, "a.jsonl", [rec(1, "2024-05-06T10:59:59Z"),
                                                     rec(1, "2024-05-06T11:00:00Z")])], store, workers=0)
    assert (stats.inserted, stats.duplicates) == (2, 0)


def test_duplicates_in_the_report(store, tmp_path):
    # 3 copies of one event and 1 other: the report counts 2
    load_dumps([jsonl(tmp_path, "a.jsonl", [rec(1), rec(1), rec(2)]),
                jsonl(tmp_path, "b.jsonl", [rec(1)])], store, workers=0)
    report = build(store)
    assert report.events == 2
    (row,) = report.days[0].sections["all_events"].rows
    assert (row.key, row.total, row.hours[10]) == ("GetUsers", 2, 2)


def test_many_batches(store, tmp_path):
    # more than one batch of the single-process path (10,000 rows), duplicates spread over them
    recs = [rec(i, time=f"2024-05-06T{i % 24:02d}:00:00Z") for i in range(12_000)]
    path = jsonl(tmp_path, "many.jsonl", recs + recs[:50] + recs[-50:])
    stats = load_dumps([path], store, workers=0)
    assert (stats.inserted, stats.duplicates) == (12_000, 100)
    assert sum(n for sid, _, _, n, *_ in store.buckets() if sid == "all_events") == 12_000


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


def test_in_memory_store(sample_cli):
    s = Store(":memory:")
    try:
        stats = load_dumps([str(sample_cli)], s, workers=0)
        assert stats.inserted == 13 and s.event_count() == 13
    finally:
        s.close()


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


# -- the parallel path --------------------------------------------------------------------

def _load(tmp_path, paths, name, **kw):
    s = Store(str(tmp_path / f"{name}.db"))
    try:
        stats = load_dumps(paths, s, **kw)
        return stats, snapshot(s)
    finally:
        s.close()


def _same_both_ways(tmp_path, paths, chunk=2000):
    seq, seq_snap = _load(tmp_path, paths, "seq", workers=0)
    par, par_snap = _load(tmp_path, paths, "par", workers=2, chunk=chunk)
    assert counts(par) == counts(seq)
    assert par.malformed_lines == seq.malformed_lines
    assert par.problem_lines() == seq.problem_lines()
    assert par.failed == seq.failed
    assert par_snap == seq_snap
    return seq, seq_snap


def test_parallel_sample_cli(tmp_path, sample_cli, expected_sample):
    # 7,581 bytes in chunks of 2,000: 4 ranges, lines cut across every boundary
    stats, (evs, _) = _same_both_ways(tmp_path, [str(sample_cli)])
    assert counts(stats) == (14, 13, 1, 16, 6)
    assert stats.malformed_lines == [f"{sample_cli}:{n}" for n in range(31, 37)]
    assert len(evs) == 13


@pytest.mark.parametrize("chunk", [50, 300, 1000, 7000, 1 << 20])
def test_parallel_sample_cli_any_chunk(tmp_path, sample_cli, chunk):
    stats, _ = _same_both_ways(tmp_path, [str(sample_cli)], chunk=chunk)
    assert counts(stats) == (14, 13, 1, 16, 6)


@pytest.mark.parametrize("name, malformed", [("sample-array.json.gz", 0), ("sample-pretty.json.bz2", 0),
                                             ("sample.jsonl.xz", 0), ("sample-prefixes.txt", 0),
                                             ("sample-cut.json", 1)])
def test_parallel_every_shape(tmp_path, fixtures_dir, name, malformed):
    stats, _ = _same_both_ways(tmp_path, [str(fixtures_dir / name)])
    assert counts(stats) == (14, 13, 1, 0, malformed)


def test_parallel_array_broken_in_the_middle(tmp_path):
    text = "[" + ",\n".join(json.dumps(rec(i)) for i in range(30)) + ",\n{broken\n" + json.dumps(rec(99)) + "]"
    p = tmp_path / "broken.json"
    p.write_text(text, encoding="utf-8")
    stats, _ = _same_both_ways(tmp_path, [str(p)])
    assert (stats.inserted, stats.malformed) == (30, 1)


def test_parallel_several_inputs_with_duplicates_across_them(tmp_path, sample_cli, fixtures_dir):
    paths = [str(sample_cli), str(fixtures_dir / "sample-prefixes.txt"), str(sample_cli)]
    stats, _ = _same_both_ways(tmp_path, paths)
    assert (stats.records_read, stats.inserted, stats.duplicates) == (42, 13, 29)
    assert stats.malformed_lines == [f"{sample_cli}:{n}" for n in range(31, 37)] * 2


def test_parallel_gzip_cli_dump(tmp_path, sample_cli):
    p = tmp_path / "cli-dump.data"  # gzip'd, not named .gz
    p.write_bytes(gzip.compress(sample_cli.read_bytes()))
    stats, _ = _same_both_ways(tmp_path, [str(p)])
    assert counts(stats) == (14, 13, 1, 16, 6)
    assert stats.malformed_lines == [f"{p}:{n}" for n in range(31, 37)]


def test_parallel_truncated_gzip(tmp_path, sample_cli):
    data = gzip.compress(sample_cli.read_bytes() * 20)
    p = tmp_path / "cut.gz"
    p.write_bytes(data[: len(data) * 2 // 3])
    stats, _ = _same_both_ways(tmp_path, [str(p)])
    assert stats.malformed_lines[-1] == f"{p}@end"


def test_parallel_generated_dump_with_duplicates_noise_and_malformed(tmp_path):
    # 600 records over 3 days. Every 7th record (from i=7) is followed by a copy of record i-3
    # (a duplicate); every 11th by a copy of record i-5 with another method (a conflicting
    # copy: the first one must win); every 10th by a "% Headers" line; every 50th by a
    # garbage line; the file ends with a cut record. Chunks of 2,000 bytes put most copies
    # in another chunk than their original.
    def make(i, method=None):
        return json.dumps(rec(i, time=f"2024-05-0{6 + i % 3}T{i % 24:02d}:{i % 60:02d}:00.{i:03d}Z",
                              method=method or ("mds.Authorize", "SignIn", "GetUsers")[i % 3],
                              principal=f"User:u-{i % 5}")).encode()

    lines, noise, bad, dups = [], 0, 0, 0
    for i in range(600):
        lines.append(make(i))
        if i % 7 == 0 and i >= 7:
            lines.append(make(i - 3))
            dups += 1
        if i % 11 == 0 and i >= 11:
            lines.append(make(i - 5, method="ConflictingCopy"))
            dups += 1
        if i % 10 == 0:
            lines.append(b'% Headers: [content-type="application/cloudevents+json"]')
            noise += 1
        if i % 50 == 0:
            lines.append(b"{this is not json}")
            bad += 1
    p = tmp_path / "gen.txt"
    p.write_bytes(b"\n".join(lines) + b"\n" + json.dumps(rec(9999))[:40].encode())
    stats, (evs, _) = _same_both_ways(tmp_path, [str(p)], chunk=2000)
    assert (stats.inserted, stats.duplicates) == (600, dups)
    assert (stats.noise_lines, stats.malformed) == (noise, bad + 1)
    assert len(evs) == 600
    assert "ConflictingCopy" not in {method for _, _, method, _ in evs}


def _rec_line(i, pad=0) -> bytes:
    r = rec(i)
    if pad:
        r["data"]["request"] = {"data": {"pad": "x" * pad}}
    return json.dumps(r).encode()


@pytest.mark.parametrize("kind", ["big-lines", "crlf", "no-final-newline", "only-noise", "empty", "blank-heavy",
                                  "leading-whitespace"])
def test_parallel_edge_cases(tmp_path, kind):
    data = {
        # a 300 kB record and a 300 kB garbage line, each spanning 150 chunks of 2,000 bytes
        "big-lines": _rec_line(1) + b"\n" + _rec_line(2, 300_000) + b"\n{" + b"g" * 300_000 + b"\n"
                     + _rec_line(3) + b"\n",
        "crlf": b"".join(_rec_line(i) + b"\r\n" for i in range(50)),
        "no-final-newline": b"\n".join(_rec_line(i) for i in range(50)),
        "only-noise": b"% Headers: x\n" * 300,
        "empty": b"",
        "blank-heavy": b"\n" * 5000 + _rec_line(1) + b"\n" + b"\n" * 5000,
        "leading-whitespace": b"".join(b"   " + _rec_line(i) + b"\n" for i in range(60)),
    }[kind]
    p = tmp_path / "edge.txt"
    p.write_bytes(data)
    stats, _ = _same_both_ways(tmp_path, [str(p)])
    want = {"big-lines": (3, 1), "crlf": (50, 0), "no-final-newline": (50, 0), "only-noise": (0, 0),
            "empty": (0, 0), "blank-heavy": (1, 0), "leading-whitespace": (60, 0)}[kind]
    assert (stats.inserted, stats.malformed) == want
    assert list(stats.failed) == ([str(p)] if kind == "only-noise" else [])


def test_parallel_stdin(tmp_path, sample_cli, monkeypatch):
    data = sample_cli.read_bytes()
    results = []
    for workers in (0, 2):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
        results.append(_load(tmp_path, ["-"], f"stdin{workers}", workers=workers, chunk=2000))
    (seq, seq_snap), (par, par_snap) = results
    assert counts(seq) == counts(par) == (14, 13, 1, 16, 6)
    assert seq.malformed_lines == par.malformed_lines == [f"<stdin>:{n}" for n in range(31, 37)]
    assert seq_snap == par_snap


def test_parallel_stdin_gzip(tmp_path, sample_cli, monkeypatch):
    data = gzip.compress(sample_cli.read_bytes())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    stats, _ = _load(tmp_path, ["-"], "stdin-gz", workers=2, chunk=2000)
    assert counts(stats) == (14, 13, 1, 16, 6)


def test_parallel_second_load_adds_nothing(tmp_path, sample_cli):
    s = Store(str(tmp_path / "p.db"))
    try:
        load_dumps([str(sample_cli)], s, workers=2, chunk=2000)
        again = load_dumps([str(sample_cli)], s, workers=2, chunk=2000)
        assert (again.inserted, again.duplicates) == (0, 14)
        assert s.event_count() == 13
    finally:
        s.close()


def test_store_of_another_layout_is_refused(tmp_path):
    path = tmp_path / "old.db"
    Store(str(path)).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="another ccaudit version"):
        Store(str(path))


def test_only_a_throwaway_store_skips_fsync(tmp_path, sample_cli):
    # a --db store syncs every commit; the temporary store of `report DUMP` need not
    kept, temp = Store(str(tmp_path / "kept.db")), Store(str(tmp_path / "temp.db"), durable=False)
    for store in (kept, temp):
        load_dumps([str(sample_cli)], store)
    assert kept.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert temp.db.execute("PRAGMA synchronous").fetchone()[0] == 0  # OFF
    assert kept.event_count() == temp.event_count() > 0


@pytest.mark.parametrize("content", ["other-sqlite", "garbage"])
def test_a_refused_store_is_closed(tmp_path, monkeypatch, content):
    # the connection of a file that is not a store was left open
    import sqlite_utils

    path = tmp_path / "x.db"
    if content == "garbage":
        path.write_bytes(b"not a database at all" * 100)
    else:
        sqlite3.connect(path).execute("CREATE TABLE t (a)").connection.close()
    closed = []
    real_close = sqlite_utils.Database.close
    monkeypatch.setattr(sqlite_utils.Database, "close", lambda self: closed.append(1) or real_close(self))
    with pytest.raises(StoreError):
        Store(str(path))
    assert closed == [1]

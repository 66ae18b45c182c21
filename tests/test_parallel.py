"""The parallel parse path (parse workers over byte ranges, or over the spill of a
decompressing thread) must give exactly what the single-process path gives: the same load
counts, the same problems, and stores equal row for row.

Expected numbers are the hand counts of fixtures/sample-cli.txt (conftest.py) and of the
small dumps written here.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import threading

import pytest

from ccaudit import worker
from ccaudit.ahead import ahead
from ccaudit.errors import OUT_OF_MEMORY, CcauditError
from ccaudit.load import load_dumps
from ccaudit.stats import LoadStats
from ccaudit.store import Store
from tests.faults import FILES_LEFT
from tests.records import REQUEST, json_lines, numbered, record, signin, write_jsonl
from tests.stores import assert_consistent, load_counts, store_state

rec = numbered("id-", type=REQUEST, principal="User:u-1")  # a console request, id "id-<n>"


def _load(tmp_path, paths, name, **kw):
    """Load ``paths`` into a new store; its stats and every row of its tables (checked to agree)."""
    s = Store(str(tmp_path / f"{name}.db"))
    try:
        stats = load_dumps(paths, s, **kw)
        assert_consistent(s)
        return stats, store_state(s)
    finally:
        s.close()


def _same_both_ways(tmp_path, paths, chunk=2000):
    """Load ``paths`` in process and with two parse workers (``chunk`` bytes a range): the
    counts, the problems and the stores must be the same. Returns the in-process result."""
    seq, seq_state = _load(tmp_path, paths, "seq", workers=0)
    par, par_state = _load(tmp_path, paths, "par", workers=2, chunk=chunk)
    assert load_counts(par) == load_counts(seq)
    assert par.malformed_lines == seq.malformed_lines
    assert par.problem_lines() == seq.problem_lines()
    assert par.failed == seq.failed
    assert (par.cut_lines(), par.damaged) == (seq.cut_lines(), seq.damaged)  # a worker's "@byte N" was a line's
    assert par_state == seq_state
    return seq, seq_state


# -- the parallel path gives what the single process gives --------------------------------


def test_parallel_sample_cli(tmp_path, sample_cli, expected_sample):
    # 7,581 bytes in chunks of 2,000: 4 ranges, lines cut across every boundary
    stats, state = _same_both_ways(tmp_path, [str(sample_cli)])
    assert load_counts(stats) == (14, 13, 1, 16, 6)
    assert stats.malformed_lines == [f"{sample_cli}:{n}" for n in range(31, 37)]
    assert len(state["all_events"]) == 13


_FEW_FILES = FILES_LEFT + """
from ccaudit.load import load_dumps
from ccaudit.store import Store

store = Store(sys.argv[1])
leave_free(int(sys.argv[3]))
load_dumps([sys.argv[2]], store, workers=2, chunk=2000)
store.close()
"""


@pytest.mark.parametrize("free", [4, 7, 10])  # no worker can start, or one
def test_parse_workers_that_cannot_start_leave_the_input_to_fewer_or_to_this_process(tmp_path, sample_cli, free):
    # was: "cannot start a parse worker (...): Too many open files", exit 2, under ulimit -n 16
    db = tmp_path / "few.db"
    run = subprocess.run([sys.executable, "-c", _FEW_FILES, str(db), str(sample_cli), str(free)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    _, alone = _load(tmp_path, [str(sample_cli)], "alone", workers=0)
    few = Store(str(db))
    try:
        assert_consistent(few)
        assert store_state(few) == alone
    finally:
        few.close()


@pytest.mark.parametrize("chunk", [50, 300, 1000, 7000, 1 << 20])
def test_parallel_sample_cli_any_chunk(tmp_path, sample_cli, chunk):
    stats, _ = _same_both_ways(tmp_path, [str(sample_cli)], chunk=chunk)
    assert load_counts(stats) == (14, 13, 1, 16, 6)


@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 5])
def test_parallel_ranges_within_a_byte_order_mark(tmp_path, sample_cli, chunk):
    # was: the first line lost, each malformed line named one line late, at 1-3 bytes a range
    p = tmp_path / "marked.txt"
    p.write_bytes(b"\xef\xbb\xbf" + sample_cli.read_bytes()[:1500])
    stats, _ = _same_both_ways(tmp_path, [str(p)], chunk=chunk)
    assert stats.records_read > 0


@pytest.mark.parametrize("name, malformed", [("sample-array.json.gz", 0), ("sample-pretty.json.bz2", 0),
                                             ("sample.jsonl.xz", 0), ("sample-prefixes.txt", 0),
                                             ("sample-cut.json", 1)])
def test_parallel_every_shape(tmp_path, fixtures_dir, name, malformed):
    stats, _ = _same_both_ways(tmp_path, [str(fixtures_dir / name)])
    assert load_counts(stats) == (14, 13, 1, 0, malformed)


def _stopped_at(tmp_path, text: str, stop: str) -> LoadStats:
    """Load the JSON array ``text`` both ways; it must stop one byte into ``stop``, and say so."""
    p = tmp_path / "d.json"
    p.write_text(text, encoding="utf-8")
    stats, _ = _same_both_ways(tmp_path, [str(p)])
    at = text.index(stop) + 1
    assert stats.cut_lines() == [f"{p}@byte {at}: invalid JSON; stopped reading, {len(text) - at} bytes left unread"]
    return stats


def test_parallel_array_broken_in_the_middle(tmp_path):
    text = "[" + ",\n".join(json.dumps(rec(i)) for i in range(30)) + ",\n{broken\n" + json.dumps(rec(99)) + "]"
    stats = _stopped_at(tmp_path, text, "{broken")
    assert (stats.inserted, stats.malformed) == (30, 1)


def test_a_document_stopped_after_more_malformed_items_than_are_listed_is_still_told(tmp_path):
    # a worker handed on the problems listed (the first 100) only: the stop came after, and went unsaid
    items = [json.dumps(rec(i)) for i in range(50)] + ['{"id": 1}'] * 150 + [json.dumps(rec(i)) for i in range(50, 60)]
    stats = _stopped_at(tmp_path, "[" + ",\n".join(items) + ",\n }garbage]", " }garbage")
    assert (stats.inserted, stats.malformed) == (60, 151)


def test_parallel_several_inputs_with_duplicates_across_them(tmp_path, sample_cli, fixtures_dir):
    paths = [str(sample_cli), str(fixtures_dir / "sample-prefixes.txt"), str(sample_cli)]
    stats, _ = _same_both_ways(tmp_path, paths)
    assert (stats.records_read, stats.inserted, stats.duplicates) == (42, 13, 29)
    assert stats.malformed_lines == [f"{sample_cli}:{n}" for n in range(31, 37)] * 2


def test_parallel_gzip_cli_dump(tmp_path, sample_cli):
    p = tmp_path / "cli-dump.data"  # gzip'd, not named .gz
    p.write_bytes(gzip.compress(sample_cli.read_bytes()))
    stats, _ = _same_both_ways(tmp_path, [str(p)])
    assert load_counts(stats) == (14, 13, 1, 16, 6)
    assert stats.malformed_lines == [f"{p}:{n}" for n in range(31, 37)]


def test_a_marked_line_at_a_decompressed_chunks_start_is_what_it_is_anywhere_else(tmp_path):
    # each chunk of a decompressed input is a file of its own, and a worker skipped a UTF-8
    # byte-order mark at the start of every one: "\ufeff% Headers:" there was noise, and
    # malformed elsewhere. It is noise everywhere now (`cat` of two files that began with one)
    lines = b"".join(json_lines([rec(n)]) + b"\xef\xbb\xbf% Headers: [x]\n" + b"\xef\xbb\xbfx\n" for n in range(60))
    p = tmp_path / "marked.jsonl.gz"
    p.write_bytes(gzip.compress(b"\xef\xbb\xbf" + lines))  # the input's own mark is skipped
    stats, _ = _same_both_ways(tmp_path, [str(p)], chunk=1000)
    assert load_counts(stats) == (60, 60, 0, 60, 60)  # "\ufeffx" is malformed anywhere


def test_parallel_truncated_gzip(tmp_path, sample_cli):
    data = gzip.compress(sample_cli.read_bytes() * 20)
    p = tmp_path / "cut.gz"
    p.write_bytes(data[: len(data) * 2 // 3])
    stats, _ = _same_both_ways(tmp_path, [str(p)])
    assert stats.malformed_lines[-1] == f"{p}@end"


@pytest.mark.parametrize("newline", [b"", b"\n"])
def test_parallel_gzip_cut_in_its_trailer_keeps_the_last_record(tmp_path, newline):
    # was: a worker's chunk lost the last record (readline dropped the line it had gathered
    # when the stream broke): 50 records and "JSON cut short", where one process read 51
    last = json.dumps(record(id="id-last", type=REQUEST, principal="User:u-1", note="x" * 300_000)).encode()
    data = gzip.compress(json_lines([rec(n) for n in range(50)]) + last + newline)
    p = tmp_path / "cut.jsonl.gz"
    p.write_bytes(data[:-4])
    stats, _ = _same_both_ways(tmp_path, [str(p)])
    assert (stats.records_read, stats.malformed_lines) == (51, [f"{p}@end"])


def test_a_damaged_xz_keeps_as_many_records_with_workers_as_in_one_process(tmp_path):
    # was: 29,471 records with workers against 29,831 in one process (the spill read 1 MiB at
    # a time, and LZMA drops the output of the read that meets the damage)
    import lzma
    import random

    rng = random.Random(7)
    data = bytearray(lzma.compress(json_lines(rec(n, pad="x" * rng.randint(50, 400)) for n in range(20_000)),
                                   preset=0))
    data[len(data) // 2] ^= 0x55
    p = tmp_path / "damaged.jsonl.xz"
    p.write_bytes(bytes(data))
    stats, _ = _same_both_ways(tmp_path, [str(p)], chunk=3 * 2**20)
    assert 0 < stats.records_read < 20_000 and list(stats.damaged) == [str(p)]


@pytest.mark.parametrize("text", [b"x\n", b"x", b"]", b"\n", b"\xef\xbb\xbf" + json_lines([rec(1)])])
def test_a_tiny_range_is_read_whole_by_a_worker(tmp_path, text):
    # was: a range (or spilled chunk) of 1 or 2 bytes was read ahead for a byte-order mark
    # and dropped: its malformed line went uncounted, and --strict passed
    p = tmp_path / "tiny.txt"
    p.write_bytes(text)
    stats, _ = _same_both_ways(tmp_path, [str(p)])
    assert (stats.records_read, stats.malformed, stats.noise_lines) == (
        (1, 0, 0) if text.startswith(b"\xef") else (0, 0, 1) if text == b"\n" else (0, 1, 0))


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
    stats, state = _same_both_ways(tmp_path, [str(p)], chunk=2000)
    assert (stats.inserted, stats.duplicates) == (600, dups)
    assert (stats.noise_lines, stats.malformed) == (noise, bad + 1)
    assert len(state["all_events"]) == 600
    assert not any("ConflictingCopy" in event for event in state["all_events"])


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
    (seq, seq_state), (par, par_state) = results
    assert load_counts(seq) == load_counts(par) == (14, 13, 1, 16, 6)
    assert seq.malformed_lines == par.malformed_lines == [f"<stdin>:{n}" for n in range(31, 37)]
    assert seq_state == par_state


def test_parallel_stdin_gzip(tmp_path, sample_cli, monkeypatch):
    data = gzip.compress(sample_cli.read_bytes())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    stats, _ = _load(tmp_path, ["-"], "stdin-gz", workers=2, chunk=2000)
    assert load_counts(stats) == (14, 13, 1, 16, 6)


# -- a second load, a named pipe, stopping early ------------------------------------------


def test_parallel_second_load_adds_nothing(tmp_path, sample_cli):
    s = Store(str(tmp_path / "p.db"))
    try:
        load_dumps([str(sample_cli)], s, workers=2, chunk=2000)
        again = load_dumps([str(sample_cli)], s, workers=2, chunk=2000)
        assert (again.inserted, again.duplicates) == (0, 14)
        assert s.event_count() == 13
    finally:
        s.close()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_loads_with_workers(tmp_path):
    fifo = tmp_path / "dump.fifo"
    os.mkfifo(fifo)
    body = json_lines(record(f"r-{i}") for i in range(300))
    writer = threading.Thread(target=lambda: fifo.write_bytes(body))
    writer.start()
    store = Store(str(tmp_path / "s.db"))
    stats = load_dumps([str(fifo)], store, workers=2, chunk=4096)
    writer.join()
    assert (stats.records_read, stats.inserted) == (300, 300)


def test_the_decompressing_thread_stops_when_the_load_does():
    # after a failed merge the consumer stops reading; the producer must not hang on
    produced = threading.Event()

    def endless():
        while True:
            produced.set()
            yield {"path": "x"}

    before = threading.active_count()
    items = ahead(endless())
    next(items)
    items.close()
    for _ in range(100):
        if threading.active_count() == before:
            break
        threading.Event().wait(0.01)
    assert threading.active_count() == before


# -- bounded work on hostile shapes ----------------------------------------------------------


def test_a_range_never_reads_past_its_end_for_its_first_line(tmp_path):
    # In a file without newlines every range would otherwise read to the end of the file:
    # quadratic in its size.
    from ccaudit.worker import _skip_partial_line

    path = tmp_path / "one-line.txt"
    path.write_bytes(b"x" * 1_000_000)
    with open(path, "rb") as f:
        _skip_partial_line(f, 100_000, 200_000)
        assert f.tell() <= 200_001


def test_a_newline_less_file_through_workers(tmp_path):
    path = tmp_path / "one-line.txt"
    path.write_bytes(json_lines([rec(1)]) + b"x" * 3_000_000)
    stats, _ = _load(tmp_path, [str(path)], "s", workers=2, chunk=64 * 1024)
    assert (stats.records_read, stats.malformed) == (1, 1)


def test_a_spilled_chunk_stops_one_line_limit_past_its_size(tmp_path, monkeypatch):
    import ccaudit.parallel as parallel

    monkeypatch.setattr(parallel, "MAX_LINE", 1000)
    stream = io.BufferedReader(io.BytesIO(json_lines([rec(n) for n in range(50)]) + b"\0" * 5_000_000))
    size = parallel._copy_lines(stream, str(tmp_path / "chunk"), 4096)
    assert size <= 4096 + (1 << 20) + 1001  # at most one read block and one line limit past the chunk
    assert stream.read() == b""  # the rest of the overlong line was skipped, not copied


def test_gzip_followed_by_zeros_loads_every_record(tmp_path):
    path = tmp_path / "zeros.jsonl.gz"
    path.write_bytes(gzip.compress(json_lines([rec(n) for n in range(3000)]) + b"\0" * 40_000_000))
    stats, _ = _load(tmp_path, [str(path)], "s", workers=2, chunk=256 * 1024)
    assert (stats.records_read, stats.inserted, stats.malformed) == (3000, 3000, 1)


def _broken_after(tmp_path, good: int, records: int):
    """A dump of ``records`` records with a malformed line after the first ``good``."""
    path = tmp_path / "dump.jsonl"
    path.write_bytes(json_lines(rec(i) for i in range(good)) + b"{broken\n"
                     + json_lines(rec(i) for i in range(good, records)))
    return path


def test_a_range_of_many_records_is_staged_in_parts(tmp_path, monkeypatch):
    # A worker and the store's merge hold at most PART records at once, however small the
    # records of a range are: 2,500 records and a malformed line after the 1,500th, 1,000 a part.
    import ccaudit.worker as worker
    from ccaudit.stage import unpack

    monkeypatch.setattr(worker, "PART", 1000)
    path = _broken_after(tmp_path, 1500, 2500)
    answers = list(worker.run(worker.Task(str(path), str(tmp_path / "stage"))))
    assert [(a.offered, a.malformed, a.last) for a in answers] == [(1000, 0, False), (1000, 1, False), (500, 0, True)]
    assert [p[0] for a in answers for p in a.problems] == [1501]
    assert answers[-1].lines == 2501
    for a in answers:
        with open(a.stage, "rb") as f:
            assert len(unpack(f.read()).events) == a.offered


def test_a_json_document_is_staged_in_parts_of_its_input_bytes(tmp_path, monkeypatch):
    # A document is one task: its stage files ended only every PART records, whatever their
    # size (an array of 100 KB ids held them all). Now a part ends once its records came from
    # STAGE_BYTES of input: 10,000 records of about 400 bytes, a broken item among them, in
    # parts of about 1 MB (a document is read a MiB at a time), none lost or staged twice
    import ccaudit.worker as worker
    from ccaudit.stage import unpack

    monkeypatch.setattr(worker, "STAGE_BYTES", 1_000_000)
    items = [json.dumps(rec(n, pad="x" * 300)).encode() for n in range(10_000)]
    items[4_321] = items[4_321][:40]
    path = tmp_path / "array.json"
    path.write_bytes(b"[\n" + b",\n".join(items) + b"\n]\n")
    answers = list(worker.run(worker.Task(str(path), str(tmp_path / "stage"), shape="array")))
    assert len(answers) >= 4 and [a.last for a in answers] == [False] * (len(answers) - 1) + [True]
    assert sum(a.offered for a in answers) == 9_999 and sum(a.malformed for a in answers) == 1
    staged = 0
    for a in answers:
        with open(a.stage, "rb") as f:
            events = unpack(f.read()).events
        assert len(events) == a.offered <= 3_000  # each part of about 1 MB: 2,600 records, not PART
        staged += len(events)
    assert staged == 9_999


def test_a_range_of_a_new_key_a_record_is_staged_in_smaller_parts(tmp_path, monkeypatch):
    # A sign-in attack brings a new email a record: a key and a detail to number. A part
    # ends once it has numbered NAMES of them, so a worker and the merge hold that many
    # names, not PART records' worth: 250 failures, 10 a batch, a part after 100 names.
    import ccaudit.worker as worker
    from ccaudit.stage import unpack

    monkeypatch.setattr(worker, "BATCH", 10)
    monkeypatch.setattr(worker, "NAMES", 100)
    path = tmp_path / "attack.jsonl"
    path.write_bytes(json_lines(signin(email=f"user{i}@example.com", outcome="FAILURE") for i in range(250)))
    answers = list(worker.run(worker.Task(str(path), str(tmp_path / "stage"))))
    assert [(a.offered, a.last) for a in answers] == [(50, False)] * 5 + [(0, True)]
    for a in answers:
        with open(a.stage, "rb") as f:
            staged = unpack(f.read())
        assert len(staged.keys) == len(staged.details) == len(staged.events) == a.offered
    seq, _ = _same_both_ways(tmp_path, [str(path)], chunk=4 * 2**20)
    assert seq.inserted == 250


def test_parts_of_a_range_load_as_one_process_does(tmp_path):
    # 12,000 records and a malformed line in one 4 MiB range: more than a part (5,000)
    path = _broken_after(tmp_path, 7000, 12_000)
    seq, _ = _same_both_ways(tmp_path, [str(path)], chunk=4 * 2**20)
    assert (seq.records_read, seq.malformed) == (12_000, 1)
    assert [line for _, line, _ in seq.problems] == [7001]


@pytest.mark.parametrize("limit", ["COMMIT_RECORDS", "COMMIT_BYTES"])
def test_a_transaction_merges_stage_files_up_to_a_number_of_records_or_bytes(tmp_path, monkeypatch, limit):
    # Each commit rewrites the pages it touched, so a transaction takes stage files until they
    # hold COMMIT_RECORDS records (small files of new keys: many of them), or COMMIT_BYTES
    # bytes (files of long records: few, so that temporary disk stays small).
    import ccaudit.parallel as parallel
    from ccaudit.stage import unpack

    monkeypatch.setattr(parallel, limit, 600 if limit == "COMMIT_RECORDS" else 20_000)
    path = tmp_path / "dump.jsonl"
    path.write_bytes(json_lines(rec(i) for i in range(5_000)))
    store = Store(str(tmp_path / "s.db"))
    real, groups = store.merge_files, []

    def merge(stages):
        stages, sizes = list(stages), []
        for stage in stages:
            with open(stage, "rb") as f:
                data = f.read()
            sizes.append(len(unpack(data).events) if limit == "COMMIT_RECORDS" else len(data))
        groups.append(sizes)
        return real(stages)

    monkeypatch.setattr(store, "merge_files", merge)
    try:
        stats = load_dumps([str(path)], store, workers=2, chunk=16 * 1024)
    finally:
        store.close()
    bound = getattr(parallel, limit)
    assert stats.inserted == 5_000 and len(groups) > 5
    for sizes in groups[:-1]:
        assert sum(sizes[:-1]) < bound <= sum(sizes)


def test_each_stage_file_is_merged_as_soon_as_it_is_received(tmp_path, monkeypatch):
    # The workers parse on while a transaction is written: a stage file is merged when its
    # answer comes, not once the transaction's last file has come.
    import ccaudit.parallel as parallel

    path = tmp_path / "dump.jsonl"
    path.write_bytes(json_lines(rec(i) for i in range(3000)))
    store = Store(str(tmp_path / "s.db"))
    events, receive, merge = [], parallel._Worker.receive, store.merge

    def received(worker):
        answer = receive(worker)
        events.append("received")
        return answer

    def merged(staged):
        events.append("merged")
        return merge(staged)

    monkeypatch.setattr(parallel._Worker, "receive", received)
    monkeypatch.setattr(store, "merge", merged)
    try:
        stats = load_dumps([str(path)], store, workers=2, chunk=16 * 1024)
    finally:
        store.close()
    assert stats.inserted == 3000 and events.count("merged") > 5
    assert events == ["received", "merged"] * (len(events) // 2)


def test_a_full_tmpdir_while_spilling_still_merges_the_chunks_spilled_before(tmp_path, monkeypatch):
    # A compressed input is spilled to TMPDIR in chunks for the workers. If TMPDIR fills up,
    # the load stops for that reason, but the chunks spilled before are parsed and merged.
    import ccaudit.parallel as parallel
    from ccaudit.errors import NoSpace

    path = tmp_path / "dump.jsonl.gz"
    path.write_bytes(gzip.compress(json_lines(rec(i) for i in range(30_000))))
    real, spilled = parallel._copy_lines, []

    def copy_then_fill(stream, chunk_path, chunk):
        if len(spilled) == 3:
            raise NoSpace(f"{tmp_path}: no space left for temporary files (TMPDIR)")
        size = real(stream, chunk_path, chunk)
        with open(chunk_path, "rb") as f:
            spilled.append(f.read().count(b"\n"))
        return size

    monkeypatch.setattr(parallel, "_copy_lines", copy_then_fill)
    store = Store(str(tmp_path / "s.db"))
    try:
        stats = load_dumps([str(path)], store, workers=2, chunk=16 * 1024)
    finally:
        store.close()
    assert "TMPDIR" in str(stats.stopped)
    assert 0 < stats.inserted == sum(spilled) < 30_000


def test_a_full_store_disk_during_a_merge_stops_the_load_for_that_reason(tmp_path, monkeypatch):
    # The store's disk filling up while a merge runs in the middle of the input must stop the
    # load with that NoSpace, not be taken for TMPDIR filling up (which merges what was parsed,
    # and here retried stage files the failed merge had removed: an internal error).
    from ccaudit.errors import NoSpace

    path = tmp_path / "dump.jsonl"
    path.write_bytes(json_lines(rec(i) for i in range(3000)))
    store = Store(str(tmp_path / "s.db"))
    real, calls = store.merge_files, []

    def merge_then_fill(stages):
        stages = list(stages)
        calls.append(len(stages))
        merged = real(stages)  # removes the stage files, as a failed merge does
        if len(calls) == 1:
            raise NoSpace(f"{store.path}: cannot write the store: no space left")
        return merged

    monkeypatch.setattr(store, "merge_files", merge_then_fill)
    try:
        stats = load_dumps([str(path)], store, workers=2, chunk=2000)
        assert "cannot write the store" in str(stats.stopped) and len(calls) == 1
    finally:
        store.close()


def _a_load_stopped_mid_way(tmp_path, monkeypatch, durable=True):
    """A load of 10,000 records through two workers, a transaction every 10 records, that a
    test's patch stops part way: why it stopped, and the dump's path. What was committed
    before is kept, and the load line says how many records read were not stored (was an
    error raised, and no load line)."""
    from ccaudit import parallel

    path = tmp_path / "d.jsonl"
    path.write_bytes(json_lines(record(f"r-{i}") for i in range(10_000)))  # tasks after the stop: it is seen
    monkeypatch.setattr(parallel, "COMMIT_RECORDS", 10)
    store = Store(str(tmp_path / "s.db"), durable=durable)
    try:
        stats = load_dumps([str(path)], store, workers=2, chunk=20_000)
        assert 0 < store.event_count() == stats.inserted < 10_000 and stats.input_error
        assert f", {stats.not_stored:,} not stored (the load stopped);" in stats.summary_line()
    finally:
        store.close()
    return stats.stopped, path


def test_a_stage_file_removed_from_tmpdir_during_a_load_is_one_error_line(tmp_path, monkeypatch):
    # was: "internal error: FileNotFoundError", exit 70, as a cleaner of /tmp removed a stage file
    from ccaudit import parallel

    real, answers = parallel._Merger.received, []

    def received(merger, worker, task):
        for answer in real(merger, worker, task):
            answers.append(answer)
            if len(answers) == 5:
                os.remove(answer.stage)
            yield answer
    monkeypatch.setattr(parallel._Merger, "received", received)
    said, _ = _a_load_stopped_mid_way(tmp_path, monkeypatch)
    assert said == (f"{answers[4].stage}: removed while the load ran (a cleaner of temporary files?); what was "
                    "loaded before it is kept: load the same dumps again, all of them, to complete the load")


def _kill_the_fifth_answers_worker(monkeypatch):
    from ccaudit import parallel

    real, answers = parallel._Worker.receive, []

    def receive(worker):
        answers.append(1)
        if len(answers) == 5:
            worker.proc.kill()  # as the kernel's out-of-memory killer does
            worker.proc.wait()
        return real(worker)
    monkeypatch.setattr(parallel._Worker, "receive", receive)


def test_a_worker_killed_mid_load_names_the_input_and_what_is_kept(tmp_path, monkeypatch):
    # was "a parse worker stopped unexpectedly (exit code -9)": no input named, nothing said of the store
    _kill_the_fifth_answers_worker(monkeypatch)
    said, path = _a_load_stopped_mid_way(tmp_path, monkeypatch)
    assert said == (f"{path}: a parse worker stopped unexpectedly (exit code -9); no input after it was read; "
                    "what was loaded before it is kept: load the same dumps again, all of them, to complete "
                    "the load")  # was "load the input again": one of them
    again = Store(str(tmp_path / "s.db"), readonly=True)
    try:
        assert [load["inputs"] for load in again.unfinished] == [[str(path)]]
    finally:
        again.close()


def test_a_worker_killed_in_a_load_into_a_temporary_store_says_nothing_is_kept(tmp_path, monkeypatch):
    # `report DUMP` said "what was loaded before it is kept ... load the same dumps again":
    # its temporary store goes with the command
    _kill_the_fifth_answers_worker(monkeypatch)
    said, path = _a_load_stopped_mid_way(tmp_path, monkeypatch, durable=False)
    assert said == f"{path}: a parse worker stopped unexpectedly (exit code -9); no input after it was read"


def test_a_task_sent_to_a_killed_worker_is_one_error_not_a_reader_gone():
    # `kill` of a worker: the next task sent to it met a closed pipe, a BrokenPipeError,
    # which the command line takes for standard output's reader gone (exit 141, nothing said)
    import signal

    from ccaudit.errors import CcauditError
    from ccaudit.parallel import _Worker
    from ccaudit.worker import Task

    worker = _Worker()
    try:
        worker.proc.send_signal(signal.SIGTERM)
        worker.proc.wait(timeout=30)
        with pytest.raises(CcauditError, match=r"a parse worker stopped unexpectedly \(exit code -15\)"):
            for _ in range(100):  # the first writes may fit in the pipe's buffer
                worker.send(Task(path="x", stage="y"))
    finally:
        worker.close()


def test_the_task_thread_leaves_ctrl_c_to_the_main_thread():
    # a process-directed signal goes to any thread that does not block it: one arriving in
    # this thread while the main one held it off (stops.block_stops) was handled at once
    import signal

    from ccaudit.stops import STOPPING

    def masks():
        yield signal.pthread_sigmask(signal.SIG_BLOCK, set())

    assert STOPPING <= set(next(ahead(masks())))


# -- the file the workers read is the one this process opened -----------------------------


def _renamed_over_once_opened(monkeypatch, path, other):
    """``other`` renamed over ``path`` just after the load opened it, before any worker did
    (a dump rotated into place by a download, a log rotation)."""
    from ccaudit import parallel

    made = parallel.make_temp_dir

    def then_renamed():
        os.replace(other, path)
        return made()
    monkeypatch.setattr(parallel, "make_temp_dir", then_renamed)


@pytest.mark.parametrize("name", ["dump.jsonl", "dump.json"])
def test_a_dump_renamed_over_while_it_loads_is_read_whole_as_opened(tmp_path, monkeypatch, name):
    # the workers opened the input by its name: 45,344 records of the first file and 154,656
    # of the second, exit 0 (a range each from whichever file held the name)
    path, other = tmp_path / name, tmp_path / "other"
    first = [record(f"first-{i}") for i in range(400)]
    if name.endswith(".json"):
        path.write_text(json.dumps(first))
    else:
        path.write_bytes(json_lines(first))
    other.write_bytes(json_lines(record(f"second-{i}") for i in range(400)))
    _renamed_over_once_opened(monkeypatch, path, other)
    store = Store(str(tmp_path / "s.db"))
    stats = load_dumps([str(path)], store, workers=2, chunk=4096)
    ids = {i for i, in store.conn.execute("SELECT id FROM all_events")}
    assert (stats.inserted, stats.failed) == (400, {})
    assert ids == {f"first-{i}" for i in range(400)}


def test_without_proc_a_dump_renamed_over_is_one_error_not_a_mix(tmp_path, monkeypatch):
    # where /proc/PID/fd is not there, the workers open the name, and check it is the same file
    from ccaudit import parallel

    monkeypatch.setattr(parallel._Held, "OWN", "/nonexistent/{pid}/{fd}")
    path, other = tmp_path / "dump.jsonl", tmp_path / "other"
    path.write_bytes(json_lines(record(f"first-{i}") for i in range(400)))
    other.write_bytes(json_lines(record(f"second-{i}") for i in range(400)))
    _renamed_over_once_opened(monkeypatch, path, other)
    store = Store(str(tmp_path / "s.db"))
    stats = load_dumps([str(path)], store, workers=2, chunk=4096)
    assert stats.failed == {str(path): f"{path}: could not parse: replaced by another file while it was read; "
                                       "load it again"}
    assert not {i for i, in store.conn.execute("SELECT id FROM all_events")} & {f"second-{i}" for i in range(400)}


def test_dev_stdin_of_a_regular_file_loads_with_workers(tmp_path):
    # each worker opened /dev/stdin, its own task pipe, and waited there for ever
    import subprocess

    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(json_lines(record(f"r-{i}") for i in range(500)))
    code = ("import sys; from ccaudit.load import load_dumps; from ccaudit.store import Store; "
            "s = load_dumps([sys.argv[1]], Store(sys.argv[2]), workers=2, chunk=4096); "
            "print(s.records_read, s.inserted, dict(s.failed))")
    for name in ("/dev/stdin", "/dev/fd/0"):
        with open(dump, "rb") as stdin:
            out = subprocess.run([sys.executable, "-c", code, name, str(tmp_path / f"{name[-1]}.db")], stdin=stdin,
                                 capture_output=True, text=True, timeout=60)
        assert out.stdout == "500 500 {}\n", out.stderr


def test_a_file_name_or_tmpdir_that_is_not_utf8_loads_with_workers(tmp_path, monkeypatch):
    # tasks were JSON by msgspec, which refuses the surrogates such a name decodes to: the
    # boundary then blamed standard output's encoding, and nothing was loaded
    latin = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.jsonl")
    with open(latin, "wb") as f:
        f.write(json_lines(record(f"r-{i}") for i in range(300)))
    tmpdir = os.fsdecode(bytes(tmp_path) + b"/tmp\xe9")
    os.mkdir(tmpdir)
    monkeypatch.setenv("TMPDIR", tmpdir)
    store = Store(str(tmp_path / "s.db"))
    stats = load_dumps([latin], store, workers=2, chunk=4096)
    assert (stats.records_read, stats.inserted, stats.failed) == (300, 300, {})


def test_a_parse_worker_does_not_import_the_current_folders_modules(tmp_path, sample_cli, monkeypatch):
    # was `python -m ccaudit.worker`, which imported a json.py of the folder a load ran in:
    # each worker printed its traceback, then "a parse worker stopped unexpectedly"
    (tmp_path / "json.py").write_text("raise ImportError('not the json module')\n")
    monkeypatch.chdir(tmp_path)
    s = Store(str(tmp_path / "s.db"))
    try:
        assert load_dumps([str(sample_cli)], s, workers=2).inserted == 13
    finally:
        s.close()


def test_a_python_that_cannot_start_as_a_parse_worker_leaves_the_input_to_this_process(tmp_path, sample_cli,
                                                                                       monkeypatch):
    # was: "cannot start a parse worker (...python): Permission denied", and nothing loaded
    not_python = tmp_path / "python"
    not_python.write_text("")  # not executable: starting it is a PermissionError, as EMFILE is an OSError
    monkeypatch.setattr(sys, "executable", str(not_python))
    stats, state = _load(tmp_path, [str(sample_cli)], "here", workers=2)
    assert load_counts(stats) == (14, 13, 1, 16, 6) and len(state["all_events"]) == 13


# -- a file that changes while it is read -------------------------------------------------


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("change", ["truncated", "appended to"])
def test_a_file_that_changes_size_while_it_is_read_is_reported(tmp_path, workers, change):
    # 30,000 records: the first batch (10,000) or the first range ends before the change
    path = tmp_path / "dump.jsonl"
    path.write_bytes(json_lines(rec(n) for n in range(30_000)))
    size = path.stat().st_size
    more = json_lines(rec(n) for n in range(30_000, 30_010))
    sizes = []

    def progress(label, done, total, records):
        if not sizes:
            if change == "truncated":
                os.truncate(path, size // 2)
            else:
                with open(path, "ab") as f:
                    f.write(more)
            sizes.append(path.stat().st_size)

    s = Store(str(tmp_path / "s.db"))
    try:
        stats = load_dumps([str(path)], s, workers=workers, chunk=1 << 20, progress=progress)
    finally:
        s.close()
    assert sizes and stats.problem_lines()[-1] == (
        f"{path}@end: the file changed size while it was read ({size} bytes, then {sizes[0]}): "
        "load it again once it has stopped changing")
    if change == "truncated":
        assert stats.records_read < 30_000


def test_a_file_that_keeps_its_size_while_it_is_read_has_no_problem(tmp_path):
    path = write_jsonl(tmp_path, [rec(n) for n in range(3)])
    stats, _ = _load(tmp_path, [path], "s")
    assert (stats.records_read, stats.problem_lines()) == (3, [])


def test_a_worker_writes_at_most_unmerged_stage_files_the_main_process_has_not_merged(tmp_path, monkeypatch):
    # was: a JSON document, one task, staged its whole input while a reader held the store's
    # commit off: 19 stage files (7.2 MB) for 150,000 records, a full TMPDIR for more
    import time

    from ccaudit import worker
    from ccaudit.lines import line_rows

    monkeypatch.setattr(worker, "UNMERGED", 3, raising=False)
    monkeypatch.setattr(worker, "PART", 10)
    stats = LoadStats()
    lines = json_lines([signin("2024-05-07T05:00:00Z", "u@x.com", id=f"e{i}") for i in range(100)]).splitlines()
    rows = line_rows(lines, "", stats)
    answers: list = []
    thread = threading.Thread(target=lambda: answers.extend(worker._parts(str(tmp_path / "part"), rows, stats)),
                              daemon=True)
    thread.start()
    merged = 0
    while thread.is_alive() or merged < len(answers):
        time.sleep(0.1)
        assert len(os.listdir(tmp_path)) <= 3  # written, not merged
        if merged < len(answers):
            os.remove(answers[merged].stage)  # merged, as the main process does
            merged += 1
    assert [a.offered for a in answers] == [10] * 10 + [0] and answers[-1].last


def test_a_worker_whose_popen_lock_a_second_ctrl_c_left_held_is_still_reaped():
    # was: Popen.wait() waited for that lock for ever, with Ctrl-C held off: the load hung until SIGKILL
    from ccaudit.parallel import _Worker

    worker = _Worker()
    worker.proc._waitpid_lock.acquire()  # as a KeyboardInterrupt between Popen's acquire and its try leaves it
    closing = threading.Thread(target=worker.close, daemon=True)
    closing.start()
    closing.join(30)
    assert not closing.is_alive()
    assert worker.proc.returncode is not None
    with pytest.raises(ChildProcessError):  # reaped: no zombie left
        os.waitpid(worker.proc.pid, os.WNOHANG)


def test_a_worker_reaped_as_sigchld_is_ignored_is_killed_and_closed_without_a_word():
    # was ProcessLookupError (exit 70) from a kill by pid: the system had reaped the worker
    import signal
    import time

    from ccaudit.parallel import _Worker

    before = signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # as a supervisor's, which exec passes on
    try:
        worker = _Worker()
        os.kill(worker.proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{worker.proc.pid}") and time.monotonic() < deadline:
            time.sleep(0.01)  # gone, and reaped by the system
        worker.kill()
        worker.close()
    finally:
        signal.signal(signal.SIGCHLD, before)
    assert worker.proc.returncode is not None


def test_a_thread_the_system_cannot_start_is_said_in_one_line(monkeypatch):
    # was "internal error: RuntimeError: can't start new thread", exit 70 (ulimit -v or -u)
    def refused(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refused)
    with pytest.raises(CcauditError, match=r"^cannot start a thread to read the input: can't start new thread \("):
        next(ahead(iter([1])))


def test_a_temporary_folder_made_as_descriptors_run_out_is_removed_and_the_limit_named(tmp_path, monkeypatch):
    # was left for good (rmtree needs descriptors too, and it has no owner file for a later run to
    # go by), and the message said to set TMPDIR
    import errno

    from ccaudit import tempdirs

    def no_descriptor(*args, **kwargs):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempdirs, "open", no_descriptor, raising=False)
    monkeypatch.setattr(tempdirs.shutil, "rmtree", lambda *args, **kwargs: None)  # it fails as open does
    with pytest.raises(CcauditError, match=r"cannot make a temporary folder: Too many open files \(raise ulimit -n\)$"):
        tempdirs.make_temp_dir()
    assert list(tmp_path.iterdir()) == []


def test_a_worker_out_of_memory_says_so(monkeypatch):
    # was "could not parse: MemoryError: " under a memory limit (ulimit -v): a MemoryError has
    # no words of its own
    def out_of_memory(task):
        raise MemoryError
        yield

    monkeypatch.setattr(worker, "run", out_of_memory)
    out = io.BytesIO()
    worker._answer_task(None, out)
    answer = worker.unwire(out.getvalue(), worker.Reply)
    assert answer == worker.Failure(OUT_OF_MEMORY)

"""ccaudit spark: the counts and the load summary Spark gives equal those of ccaudit's
local reader, for every kind of input.

The reference (``reference``) reads each input with ``ingest.read_rows``, keeps the first
copy of each (UTC hour, id) in input order and counts per quarter hour, section, key,
method and principal in plain Python. Spark (local[2]) runs with tiny splits (64 KiB), so
a generated dump is cut into many blocks and small files share a task: line numbers,
block order and first-copy-wins are exercised across tasks. Hand-counted values
(conftest's EXPECTED_SAMPLE) and the generator's truth files check the reference too.

Run by ``make test-spark`` (Java 17+, the spark extra); ``make test`` skips them.
"""
from __future__ import annotations

import bz2
import contextlib
import gzip
import json
import os
import pwd
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from benchmarks.generate import generate
from ccaudit.errors import CcauditError, InputError
from ccaudit.ingest import Dump, note_if_failed, read_rows
from ccaudit.schema import HOUR, ID, KEY, METHOD, PRINCIPAL, SECTION, TS
from ccaudit.stats import LoadStats
from ccaudit.text import input_label, told_apart
from tests import records as r

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = sorted(p.name for p in (ROOT / "fixtures").iterdir() if p.name.startswith("sample"))
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")
needs_spark = pytest.mark.skipif(not os.environ.get("CCAUDIT_SPARK_TESTS"),
                                 reason="ccaudit spark's tests run with `make test-spark` (Java 17+)")


# -- the reference -----------------------------------------------------------------------

def micros(ts: int) -> int:
    """A row's time in µs, whether classify gives seconds or µs (2024 either way here)."""
    return ts if ts > 10**11 else ts * 10**6


def reference(paths: list[str]) -> tuple[list[tuple], LoadStats]:
    """What a local load of ``paths`` counts, aggregated in plain Python."""
    stats, first = LoadStats(), {}
    for path, label in zip(paths, told_apart(map(input_label, paths), paths)):
        dump = Dump(path, label)
        before = stats.records_read, stats.noise_lines, stats.malformed
        try:
            for row in read_rows(dump, stats):
                first.setdefault((row[HOUR], row[ID]), row)
        except InputError as e:
            stats.fail(dump.label, str(e))
            continue
        note_if_failed(dump.label, stats, before, dump.binary)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for row in first.values():
        us = micros(row[TS])
        groups[(us // 900_000_000 * 900, row[SECTION], row[KEY], row[METHOD], row[PRINCIPAL])].append(us)
    counts = [(*k, len(t), min(t), max(t)) for k, t in groups.items()]
    stats.inserted, stats.duplicates = len(first), stats.records_read - len(first)
    return sorted(counts), stats


@pytest.fixture(scope="module")
def spark():
    if not os.environ.get("CCAUDIT_SPARK_TESTS"):  # a test that lost its mark: `make test` may have no pyspark
        pytest.skip(needs_spark.kwargs["reason"])
    from ccaudit.spark import session

    with session("local[2]") as s:
        s.conf.set("spark.sql.files.maxPartitionBytes", 64 * 1024)  # many blocks per file
        s.conf.set("spark.sql.files.openCostInBytes", 1024)  # and small files sharing a task
        yield s


@pytest.fixture
def same_as_local(spark, monkeypatch):
    """``same_as_local(paths)``: Spark's counts and summary equal the reference's; returns them."""
    from ccaudit.spark import aggregate

    def check(paths, cwd=None):
        if cwd:
            monkeypatch.chdir(cwd)
        rows, stats = aggregate(spark, [str(p) for p in paths])
        counts = list(rows)  # (read from the spool as the store would)
        rows.close()
        want_counts, want = reference([str(p) for p in paths])
        assert stats.as_dict() == want.as_dict()
        assert stats.problem_lines() == want.problem_lines()
        assert stats.failed == want.failed
        assert sorted(counts) == want_counts
        return counts, stats

    return check


# -- fixtures and generated dumps --------------------------------------------------------

@needs_spark
@pytest.mark.parametrize("name", FIXTURES)
def test_each_fixture(same_as_local, name):
    same_as_local([f"fixtures/{name}"], cwd=ROOT)


@needs_spark
def test_sample_cli_as_counted_by_hand(same_as_local, expected_sample):
    _, stats = same_as_local(["fixtures/sample-cli.txt"], cwd=ROOT)
    load = expected_sample["load"]
    assert (stats.records_read, stats.inserted, stats.duplicates, stats.noise_lines, stats.malformed) == (
        load["records_read"], load["inserted"], load["duplicates"], load["noise_lines"], load["malformed"])
    assert stats.malformed_lines == [f"fixtures/sample-cli.txt:{n}" for n in load["malformed_line_numbers"]]


@needs_spark
def test_all_fixtures_at_once_count_each_event_once(same_as_local, expected_sample):
    counts, stats = same_as_local([f"fixtures/{n}" for n in FIXTURES], cwd=ROOT)
    assert stats.inserted == sum(c[5] for c in counts)
    assert stats.duplicates > 0


GENERATED = {  # name: generator options
    "cli-noise-dups": dict(fmt="cli", noise=True, dups=0.05, seed=21, n=4000),
    "jsonl-gzip": dict(fmt="jsonl", compression="gzip", noise=True, dups=0.05, seed=22, n=3000),
    "jsonl-bz2": dict(fmt="jsonl", compression="bz2", dups=0.02, seed=23, n=2000),
    "cli-xz-cut": dict(fmt="cli", compression="xz", cut_last=True, seed=24, n=1000),
    "array": dict(fmt="array", dups=0.02, seed=25, n=2000),
    "pretty-gzip": dict(fmt="pretty", compression="gzip", seed=26, n=800),
    "jsonl-cut": dict(fmt="jsonl", noise=True, cut_last=True, seed=27, n=2000),
}


def generated(tmp: Path, name: str) -> tuple[str, dict]:
    opts = dict(GENERATED[name])
    path = str(tmp / name)
    truth = generate(opts.pop("n"), path, opts.pop("fmt"), opts.pop("compression", None), **opts)
    return path, truth["summary"]["load"]


@needs_spark
@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_dump(same_as_local, tmp_path, name):
    path, truth = generated(tmp_path, name)
    _, stats = same_as_local([path])
    got = stats.as_dict()
    assert {k: got[k] for k in truth} == truth  # the generator's own count


@needs_spark
def test_generated_dumps_together_with_copies_across_files(same_as_local, tmp_path):
    """The same records in three shapes: every event of the later files is a duplicate."""
    paths = []
    for fmt, compression in (("cli", None), ("jsonl", "gzip"), ("array", None)):
        path = str(tmp_path / f"same-{fmt}")
        generate(1500, path, fmt, compression, seed=31, dups=0.03)
        paths.append(path)
    _, stats = same_as_local(paths)
    assert stats.inserted == 1500 and stats.duplicates == stats.records_read - 1500


# -- hand-made inputs -------------------------------------------------------------------

PRINCIPALS = ["User:sa-1", "sa-2", "User:", "", None, 7, ["x"], {}, r.confluent_user("u-9"),
              {"confluentServiceAccount": {"resourceId": "sa-9"}}, {"externalAccount": {"subject": "ext"}},
              {"identityPool": {"resourceId": "pool-1"}}, {"email": "User:e@x.com"}, {"email": 5}]


def odd_records() -> list[bytes]:
    """One line each: every principal shape in every section, sign-in outcomes, and times."""
    lines = []
    for i, p in enumerate(PRINCIPALS):
        t = f"2024-05-06T{i:02d}:{i:02d}:0{i % 10}.{i}Z"
        lines += [r.json_line(r.kafka_auth(t, principal=p, status="DENIED" if i % 2 else "SUCCESS")),
                  r.json_line(r.mds_authorize(t, principal=p, operation="Op" if i % 3 else r.ABSENT)),
                  r.json_line(r.signin(t, principal=p, outcome=("FAILURE", "SUCCESS", "OTHER")[i % 3])),
                  r.json_line(r.request(t, principal=p))]
    lines += [r.json_line(r.kafka_auth("2024-05-06T11:30:00+02:00")),
              r.json_line(r.request("2024-05-07 00:00:00.123456789z", method="Odd")),
              r.json_line(r.signin(result={"status": "FAILURE", "data": {"errors": [{"detail": "x"},
                                                                                   {"status": 401}]}},
                                   outcome=r.ABSENT))]
    return lines


BAD = [b"", b"% Headers: []", b"Headers: x", b"   ", b"\t", b"not json", b"[1, 2]", b'{"id": "x"',
       b'{"id":"1","time":"2024-05-06T10:00:00Z","data":{"methodName":"M"}} tail',
       b'{"id":"2","time":"2024-05-06T10:00:00Z","data":{}}',
       b'{"id":"3","time":"yesterday","data":{"methodName":"M"}}',
       b'{"id":"4","time":"1969-12-31T23:59:59Z","data":{"methodName":"M"}}', b'{"time":"2024-05-06T10:00:00Z"}',
       b'{"id":"5","time":"2024-05-06T10:00:00Z","data":{"methodName":"\xff"}}', b"{" * 2000 + b"}" * 2000,
       b"{key=value, other=1}"]


@needs_spark
def test_odd_principals_noise_prefixes_and_malformed_lines(same_as_local, tmp_path):
    good = odd_records()
    lines = []
    for i, line in enumerate(good):
        prefix = (b"", b"Partition:3\tOffset:12\t", b"key-1\t", b"Timestamp: 1714989600000\t")[i % 4]
        lines += [prefix + line.rstrip(b"\n"), BAD[i % len(BAD)]]
    path = tmp_path / "odd.txt"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\n" + b"\n".join(BAD) + b'\n{"id":"cut","ti')
    counts, stats = same_as_local([path])
    assert stats.records_read == len(good) and stats.malformed >= len(BAD)


@needs_spark
def test_malformed_places_beyond_the_first_hundred(same_as_local, tmp_path):
    """200 bad lines spread over many blocks: the first 100 in file order are listed."""
    rec = r.numbered("m-")
    body = b"".join(r.json_line(rec(i)) + (b"garbage %d\n" % i if i % 15 == 0 else b"") for i in range(3000))
    path = tmp_path / "many-bad.jsonl"
    path.write_bytes(body)  # about 400 KiB: the first 100 bad lines lie in several blocks
    _, stats = same_as_local([path])
    assert stats.malformed == 200 and len(stats.malformed_lines) == 100
    assert stats.malformed_lines[:2] == [f"{path}:2", f"{path}:18"]
    assert stats.malformed_lines[99] == f"{path}:{1486 + 100}"  # after record 1485, the 100th bad line


@needs_spark
def test_the_first_copy_in_input_order_wins(same_as_local, tmp_path):
    """Copies of one event that differ: the earlier input's (and line's) copy is counted."""
    first = tmp_path / "a.jsonl"
    second = tmp_path / "b.jsonl"
    padding = [r.request(f"2024-05-06T09:{i % 60:02d}:00Z") for i in range(400)]  # several blocks
    first.write_bytes(r.json_lines([*padding, r.request("2024-05-06T10:00:00Z", method="First", id="dup"),
                                    *padding[:5], r.request("2024-05-06T10:30:00Z", method="Later", id="dup")]))
    second.write_bytes(r.json_lines([r.request("2024-05-06T10:10:00Z", method="Second", id="dup")]))
    for order, method in (([first, second], "First"), ([second, first], "Second")):
        counts, _ = same_as_local(order)
        assert [c[3] for c in counts if c[3] in ("First", "Second", "Later")] == [method]


@needs_spark
def test_gzip_bzip2_and_names_that_lie(same_as_local, tmp_path):
    """Content decides, as in a local load: gzip without .gz, plain text named .gz, bzip2."""
    body = r.json_lines(r.request(f"2024-05-06T1{i % 10}:00:00Z") for i in range(300)) + b"oops\n"
    (tmp_path / "gz-no-ext.jsonl").write_bytes(gzip.compress(body))
    (tmp_path / "plain.jsonl.gz").write_bytes(body)
    (tmp_path / "dump.jsonl.bz2").write_bytes(bz2.compress(body))
    (tmp_path / "cut.jsonl.gz").write_bytes(gzip.compress(body)[:-30])
    (tmp_path / "zstd.jsonl").write_bytes(b"\x28\xb5\x2f\xfd" + body)
    names = ["gz-no-ext.jsonl", "plain.jsonl.gz", "dump.jsonl.bz2", "cut.jsonl.gz", "zstd.jsonl"]
    _, stats = same_as_local([tmp_path / n for n in names])
    assert list(stats.failed) == [str(tmp_path / "zstd.jsonl")]
    assert f"{tmp_path / 'cut.jsonl.gz'}@end" in stats.malformed_lines


@needs_spark
def test_globs_and_folders_name_files_as_a_shell_would(spark, tmp_path, monkeypatch):
    from ccaudit.spark import aggregate

    monkeypatch.chdir(tmp_path)
    os.mkdir("in")
    for name in ("b.jsonl", "a.jsonl", "c.txt"):
        Path("in", name).write_bytes(r.json_lines([r.request()]) + b"bad\n")
    _, stats = aggregate(spark, ["in/*.jsonl", "in"])
    assert stats.malformed_lines == ["in/a.jsonl:2", "in/b.jsonl:2", "in/c.txt:2"]  # each file once
    _, stats = aggregate(spark, [str(tmp_path / "in" / "c.txt")])
    assert stats.malformed_lines == [f"{tmp_path}/in/c.txt:2"]
    _, stats = aggregate(spark, [f"file://{tmp_path}/in/*.txt"])  # a Hadoop URI is named as Hadoop names it
    assert stats.malformed_lines == [f"file:{tmp_path}/in/c.txt:2"]
    with pytest.raises(InputError, match="nothing-here/\\*.gz: no such file"):
        aggregate(spark, ["nothing-here/*.gz"])


@needs_spark
def test_an_input_whose_first_bytes_are_not_text_is_told_so(same_as_local, tmp_path):
    # was "no audit record could be read" alone, without why (a local load says why)
    (tmp_path / "zeros.bin").write_bytes(b"\0" * 10)
    (tmp_path / "zeros.gz").write_bytes(gzip.compress(b"\0" * 10))  # read whole
    (tmp_path / "piece").write_bytes(gzip.compress(b"x" * 100_000)[50:])  # a split gzip's second half
    (tmp_path / "late.jsonl").write_bytes(b"not json\n" * 1_000 + b"\xff\0\n")  # text first: not told
    (tmp_path / "cut.jsonl").write_bytes(b"x\xf0\x9f\x98")  # a character cut at the end: text, not told
    _, stats = same_as_local(sorted(tmp_path.iterdir()))
    told = [f for f in stats.failed.values() if "first bytes are not UTF-8 text" in f]
    assert (len(stats.failed), len(told)) == (5, 3)
    nul = bytearray(b"not json\n" * 660)  # alone, Spark's first block of it ends before its 4 KiB do
    nul[3740] = 0
    (tmp_path / "alone").mkdir()
    (tmp_path / "alone" / "nul.jsonl").write_bytes(nul)
    _, stats = same_as_local([tmp_path / "alone" / "nul.jsonl"])
    assert "first bytes are not UTF-8 text" in stats.failed[str(tmp_path / "alone" / "nul.jsonl")]


@needs_spark
def test_a_file_with_content_but_no_record_fails_and_an_empty_one_does_not(same_as_local, tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf")  # no line for Spark's reader: still not skipped
    (tmp_path / "noise.txt").write_bytes(b"% Headers: []\nnothing\n")
    (tmp_path / "good.jsonl").write_bytes(r.json_lines([r.request()]))
    _, stats = same_as_local([tmp_path / n for n in ("empty.jsonl", "bom.jsonl", "noise.txt", "good.jsonl")])
    assert list(stats.failed) == [str(tmp_path / "noise.txt")]
    counts, stats = same_as_local([tmp_path / "empty.jsonl"])
    assert counts == [] and stats.records_read == 0 and not stats.failed


@needs_spark
def test_inputs_whose_names_show_alike_are_each_counted_and_named_apart(same_as_local, tmp_path):
    # were one failed input: a byte that is not UTF-8 shows as its escape typed out
    names = [os.fsdecode(bytes(tmp_path / "n") + b"\x85.txt"), str(tmp_path / "n\\x85.txt")]
    for name in names:
        with open(name, "w") as f:
            f.write("junk\n")
    _, stats = same_as_local(names)
    assert list(stats.failed) == [f"{tmp_path}/n\\x85.txt", f"{tmp_path}/n\\x85.txt (input 2)"]


# -- names Spark would skip or misread, shapes decided far ahead ---------------------------

ODD_NAMES = ["_under.jsonl", ".hidden.jsonl", "day[1].jsonl", "day1.jsonl", "at-10:00:00.jsonl", "b{1,2}.jsonl",
             "star*.jsonl", "q?.jsonl", "pct%41.jsonl", "sp ace.jsonl"]


def one_each(folder: Path, names: list[str]) -> None:
    """One distinct event and one malformed line (line 2) in each file."""
    for i, name in enumerate(names):
        (folder / name).write_bytes(r.json_lines([r.request(f"2024-05-06T10:{i:02d}:00Z", id=f"n{i}")]) + b"bad\n")


@needs_spark
def test_any_local_file_name_is_read_once_as_named(spark, same_as_local, tmp_path):
    """Spark's file index drops _x and .x even when named, globs each path again (day[1]
    read as day1) and cannot take a ':'; ccaudit load reads them all."""
    from ccaudit.spark import aggregate

    one_each(tmp_path, ODD_NAMES)
    _, stats = same_as_local([tmp_path / n for n in ODD_NAMES])
    assert stats.records_read == len(ODD_NAMES)
    assert stats.malformed_lines == [f"{tmp_path / n}:2" for n in ODD_NAMES]
    _, stats = aggregate(spark, [f"{tmp_path}/*.jsonl"])  # as a shell globs: not .hidden.jsonl
    assert stats.malformed_lines == [f"{tmp_path / n}:2" for n in sorted(ODD_NAMES) if n[0] != "."]


@needs_spark
def test_a_uris_glob_characters_are_escaped_and_a_file_spark_skips_is_an_error(spark, tmp_path):
    from ccaudit.spark import aggregate

    folder = tmp_path / "in"
    folder.mkdir()
    one_each(folder, ["day[1].jsonl", "day1.jsonl"])
    counts, stats = aggregate(spark, [f"file://{folder}"])
    want, _ = reference([str(folder / "day[1].jsonl"), str(folder / "day1.jsonl")])
    assert sorted(counts) == want and stats.records_read == 2
    _, stats = aggregate(spark, [str(folder / "day1.jsonl"), f"file://{folder}/day1.jsonl"])
    assert stats.records_read == 1  # one file named two ways is read once
    one_each(tmp_path, ["_under.jsonl"])
    with pytest.raises(InputError, match="_under.jsonl: Spark would skip this file"):
        aggregate(spark, [f"file://{tmp_path}/_under.jsonl"])  # Spark's index drops it: never a silent gap


@needs_spark
def test_a_relative_name_with_a_colon_is_read(same_as_local, tmp_path):
    one_each(tmp_path, ["audit-2024-05-06T10:00:00.jsonl"])
    _, stats = same_as_local(["audit-2024-05-06T10:00:00.jsonl"], cwd=tmp_path)  # was taken for a URI
    assert stats.malformed_lines == ["audit-2024-05-06T10:00:00.jsonl:2"]


@needs_spark
def test_an_input_that_cannot_be_read_is_refused_before_spark_starts(run_ccaudit, tmp_path):
    (tmp_path / "broken.jsonl").symlink_to("nowhere")
    started = time.monotonic()
    result = run_ccaudit("spark", "broken.jsonl", "--db", "s.db", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, "ccaudit: error: broken.jsonl: no such file\n")  # was exit 70
    assert time.monotonic() - started < 5  # Spark takes longer than this to start


@needs_spark
@pytest.mark.skipif(sys.version_info < (3, 11), reason="PYTHONSAFEPATH is Python 3.11's")
def test_the_workers_import_nothing_from_the_current_folder(run_ccaudit, tmp_path):
    # was: Spark's Python workers (python -m pyspark.daemon) put the current folder first on their
    # path, so a clone's own ccaudit/ or a script named msgspec.py there read the records, not ccaudit's:
    # "spark: ImportError: shadowed msgspec", where load from that folder read them
    (tmp_path / "msgspec.py").write_text("raise ImportError('shadowed msgspec')\n")
    result = run_ccaudit("spark", ROOT / "fixtures/sample-cli.txt", "--db", "s.db", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("ccaudit: loaded 14 records: 13 new, 1 duplicate; skipped 16 noise lines, "
                                    "6 malformed"), result.stderr


@needs_spark
@pytest.mark.parametrize("their_path", [None, "/opt/site-libs"])  # spark-defaults.conf's executorEnv.PYTHONPATH
def test_the_workers_run_the_drivers_ccaudit(tmp_path, their_path):
    # was: with the current folder kept off their path, the workers imported the installed ccaudit,
    # not the one the driver ran (a clone's, by python -m ccaudit in its top folder); and so again
    # where the user's settings gave their own PYTHONPATH (it was kept in place of ours)
    copy, marks, env = tmp_path / "clone", tmp_path / "imported.txt", dict(os.environ)
    if their_path:
        (tmp_path / "conf").mkdir()
        (tmp_path / "conf" / "spark-defaults.conf").write_text(f"spark.executorEnv.PYTHONPATH {their_path}\n")
        env["SPARK_CONF_DIR"] = str(tmp_path / "conf")
    shutil.copytree(ROOT / "ccaudit", copy / "ccaudit")
    with open(copy / "ccaudit" / "spark_job.py", "a") as f:  # each process that imports it says so
        f.write(f"\nimport os as _os\nwith open({str(marks)!r}, 'a') as _f:\n"
                "    _f.write(f'{_os.getpid()} {__file__}\\n')\n")
    result = subprocess.run([sys.executable, "-m", "ccaudit", "spark", str(ROOT / "fixtures/sample-cli.txt"), "--db",
                             str(tmp_path / "s.db"), "-q"], cwd=copy, capture_output=True, text=True, timeout=300,
                            env=env)
    assert result.returncode == 0, result.stderr
    imported = [line.split(" ", 1) for line in marks.read_text().splitlines()]
    assert len({pid for pid, _ in imported}) >= 2  # the driver and a worker
    assert {file for _, file in imported} == {str(copy / "ccaudit" / "spark_job.py")}


@needs_spark
def test_a_pipe_an_sqlite_file_or_a_folder_of_nothing_is_refused_before_spark_starts(run_ccaudit, tmp_path):
    # were: a pipe read as empty (0 records, exit 0: the sniff had taken its bytes); a store
    # read as a dump (a line of malformed records); an empty folder, exit 70 (reduce of nothing)
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "empty").mkdir()
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / "_SUCCESS").write_text("")
    sqlite3.connect(tmp_path / "old.db").execute("CREATE TABLE t (x)").connection.commit()
    for name, said in (("pipe", "pipe: not a regular file (a pipe or a device)"),
                       ("old.db", "old.db: is an SQLite file, not a dump"),
                       ("empty", "empty: no file to read"), ("hidden", "hidden: no file to read")):
        started = time.monotonic()
        result = run_ccaudit("spark", name, "--db", "s.db", cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.startswith(f"ccaudit: error: {said}"), result.stderr
        assert time.monotonic() - started < 5  # Spark takes longer than this to start
        assert not (tmp_path / "s.db").exists()  # was left behind, an empty store


@needs_spark
@pytest.mark.parametrize("name", ["/dev/stdin", "/dev/fd/0"])
def test_an_input_named_by_a_descriptor_is_the_file_it_leads_to(run_ccaudit, tmp_path, name):
    # was: the JVM's own standard input read for it, a store of 0 events, exit 0
    with open(ROOT / "fixtures/sample-cli.txt", "rb") as stdin:
        result = run_ccaudit("spark", name, "--db", tmp_path / "s.db", "-q", stdin=stdin, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "loaded 14 records: 13 new, 1 duplicate" in result.stderr


@needs_spark
def test_a_file_read_whole_over_2_gib_is_refused_with_its_cause(spark, tmp_path):
    # was: Spark's job failed on it, and the message gave no cause
    from ccaudit.spark_inputs import sources

    big = tmp_path / "week.json"
    with open(big, "wb") as f:  # sparse: a JSON array's start, then 2 GiB of nothing on disk
        f.write(b"[\n")
        f.truncate(2**31)
    with pytest.raises(InputError, match=r"week.json: 2,147,483,648 bytes, read whole .* over Spark's limit"):
        sources(spark, [str(big)], None)


@needs_spark
def test_a_store_named_as_an_input_is_refused_as_what_it_is(run_ccaudit, tmp_path):
    # were: "(a store is given with --db old.db)", where --db is the store written; the store
    # being written, "no file to read"; and a store named as a URI read as a dump by Spark
    sqlite3.connect(tmp_path / "old.db").execute("CREATE TABLE t (x)").connection.commit()
    for args, said in ((["old.db"], "old.db: is an SQLite file, not a dump (a store's reports: ccaudit report "
                                    "--db old.db)\n"),
                       ([f"file://{tmp_path}/old.db"], f"file://{tmp_path}/old.db: is an SQLite file, not a dump"),
                       (["old.db", "--db", "old.db"], "old.db: is also given as the store this run writes (--db)\n")):
        result = run_ccaudit("spark", *args, *(["--db", "s.db"] if "--db" not in args else []), cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.startswith(f"ccaudit: error: {said}"), result.stderr
        assert not (tmp_path / "s.db").exists()  # the URI's was refused once Spark ran: its store was left
    assert (tmp_path / "old.db").exists()  # a store this run did not make is kept


@needs_spark
def test_the_store_in_an_inputs_folder_is_not_read(spark, invoke, tmp_path):
    # was: the store, made before the folder was listed, read as a dump: exit 2, 9 malformed
    (tmp_path / "arch").mkdir()
    r.write_jsonl(tmp_path / "arch", [r.kafka_auth("2024-05-06T10:00:00Z")])
    result = invoke("spark", tmp_path / "arch", "--db", tmp_path / "arch" / "audit.db", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["inserted"] == 1


@needs_spark
def test_a_document_after_more_than_256_kib_of_blank_lines_is_read_as_one(same_as_local, tmp_path):
    """ccaudit load reads ahead past blank lines (up to 16 MiB) to see the shape."""
    records = [r.request(f"2024-05-06T10:0{i}:00Z", id=f"b{i}") for i in range(5)]
    (tmp_path / "array.json").write_bytes(b"\n" * 300_000 + json.dumps(records).encode())
    (tmp_path / "pretty.json").write_bytes(b"\r\n" * 150_000 + b"".join(json.dumps(x, indent=2).encode() + b"\n"
                                                                          for x in records))
    _, stats = same_as_local([tmp_path / "array.json", tmp_path / "pretty.json"])
    assert (stats.records_read, stats.inserted, stats.malformed, stats.failed) == (10, 5, 0, {})


@needs_spark
def test_the_counts_reach_the_driver_a_part_at_a_time(spark, tmp_path):
    # was: every counts row collected at once (toArrow, then a list): 400,000 keys took the
    # driver's Python 383 MiB, growing by 0.65 KiB a key
    import tracemalloc

    from ccaudit import spark as driver

    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", 1_000)  # rows a worker hands on at a time
    def peak(emails: int) -> int:
        folder = tmp_path / str(emails)
        folder.mkdir()
        dump = r.write_jsonl(folder, (r.signin(email=f"u{i}@example.com", outcome="FAILURE") for i in range(emails)))
        tracemalloc.start()
        try:
            rows, stats = driver.aggregate(spark, [dump])
            assert sum(row[1] == "signin_failure" for row in rows) == stats.inserted == emails
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    try:
        small = peak(10_000)
        assert peak(30_000) - small < 5 * 2**20  # (11 MiB more before)
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")


# -- Spark's own files and processes ---------------------------------------------------------

@needs_spark
@pytest.mark.parametrize("tmpdir", ["a,b", "link"])
def test_a_tmpdir_with_a_comma_is_refused_before_spark_starts(run_ccaudit, tmp_path, monkeypatch, tmpdir):
    # was a run that went on, its scratch files left in "a" and in "b" (relative: in the working folder)
    (tmp_path / "a,b").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a,b")  # the scratch folder is made in the folder it leads to
    (tmp_path / "work").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / tmpdir))
    result = run_ccaudit("spark", ROOT / "fixtures/sample-cli.txt", "--db", tmp_path / "s.db", cwd=tmp_path / "work",
                         timeout=120)
    assert (result.returncode, result.stderr) == (2, f"ccaudit: error: {tmp_path}/a,b: the temporary folder's path "
                                                     "holds a comma, which Spark takes for a list of folders; set "
                                                     "TMPDIR to a folder whose path has none\n")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a,b", "link", "work"]  # no store, no scratch


@needs_spark
def test_sparks_scratch_files_are_private_and_in_tmpdir(spark):
    from ccaudit.spark import aggregate
    from ccaudit.tempdirs import temp_root

    aggregate(spark, [str(ROOT / "fixtures/sample-cli.txt")])  # shuffle files now exist until the session ends
    scratch = Path(spark.sparkContext.getConf().get("spark.local.dir") or "/nowhere")
    assert scratch.parent == Path(temp_root()) and stat.S_IMODE(scratch.stat().st_mode) == 0o700
    assert spark._jvm.java.lang.System.getProperty("java.io.tmpdir") == str(scratch)
    made = [p for p in scratch.rglob("*") if not p.is_symlink() and p.name != ".ccaudit-owner"]  # ccaudit's own
    assert any(p.name.startswith("blockmgr-") for p in made)
    for p in made:
        mode = stat.S_IMODE(p.lstat().st_mode)
        assert mode & 0o077 == 0, f"{p} is {oct(mode)}"


def processes_with(marker: str) -> list[str]:
    """Command lines of the processes whose environment or command line holds ``marker``."""
    return list(commands_with(marker).values())


def commands_with(marker: str) -> dict[int, str]:
    """{pid: command line} of the processes whose environment or command line holds ``marker``."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if any(marker.encode() in (proc / f).read_bytes() for f in ("environ", "cmdline")):
                found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return found


def state(pid: int) -> str:
    """A process's state letter (T: stopped), from /proc/PID/stat."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return "gone"


def wait_until(ready, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not ready() and time.monotonic() < end:
        time.sleep(0.02)


@pytest.fixture(scope="module")
def big_dump(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("big") / "big.jsonl")
    generate(100_000, path, "jsonl", None, seed=41)  # a job of several seconds
    return path


@needs_spark
@pytest.mark.parametrize(("moment", "signum", "said"), [
    ("java", signal.SIGINT, "ccaudit: interrupted"),  # pyspark would lose (and leave) the JVM
    ("context", signal.SIGINT, "ccaudit: interrupted"),  # py4j would log tracebacks
    ("job", signal.SIGINT, "ccaudit: interrupted"),  # the cancelled job would be a Spark error
    ("job", signal.SIGTERM, "ccaudit: stopped by SIGTERM")])
def test_a_stopped_run_exits_as_stopped_and_leaves_nothing(ccaudit_exe, big_dump, tmp_path, moment, signum, said):
    """The process group stopped (Ctrl-C at a terminal, or kill -TERM -PGID) as Spark
    starts and as it works: one line, 128 + the signal, no process or file left."""
    tmp, spark_dirs = tmp_path / "tmp", tmp_path / "spark-local-dirs"
    tmp.mkdir()
    spark_dirs.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CCAUDIT_DEBUG"} | {"TMPDIR": str(tmp),
                                                                           "SPARK_LOCAL_DIRS": str(spark_dirs)}
    proc = subprocess.Popen([ccaudit_exe, "spark", big_dump, "--db", str(tmp_path / "s.db"), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        sign = "pyspark.daemon" if moment == "job" else "java"  # a task runs in a Python worker
        wait_until(lambda: proc.poll() is not None or any(sign in c for c in processes_with(str(tmp))))
        time.sleep(3.5 if moment == "context" else 0)  # pyspark creating its SparkContext
        os.killpg(proc.pid, signum)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert (proc.returncode, err.decode()) == (128 + signum, said + "\n")
    wait_until(lambda: not processes_with(str(tmp)), timeout=15)
    assert processes_with(str(tmp)) == []
    assert list(tmp.iterdir()) == []
    assert list(spark_dirs.iterdir()) == []  # Spark's files go to TMPDIR, where they are removed


@needs_spark
def test_a_run_started_with_ctrl_c_ignored_goes_on_through_ctrl_c(ccaudit_exe, big_dump, tmp_path):
    """Started in the background of a script (cmd &) or under nohup, a run ignores Ctrl-C:
    pyspark's SparkContext put in a handler that stopped it."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CCAUDIT_DEBUG"} | {"TMPDIR": str(tmp)}
    proc = subprocess.Popen([ccaudit_exe, "spark", big_dump, "--db", str(tmp_path / "s.db"), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        for sign in ("java", "pyspark.daemon"):  # as Spark starts, and once its context is made
            wait_until(lambda sign=sign: proc.poll() is not None or any(sign in c for c in processes_with(str(tmp))))
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0 and err.decode().startswith("ccaudit: loaded "), err


@needs_spark
@pytest.mark.parametrize("lc_all", ["C", "xx_XX.UTF-8"])  # (a locale no system has: its C library takes C)
def test_a_run_in_the_c_locale_reads_names_that_are_not_ascii(ccaudit_exe, sample_cli, tmp_path, lc_all):
    """LC_ALL=C: Java named files in ASCII, so a TMPDIR with an é was "tmp??" to the JVM, and
    the run waited for ever for the gateway's file in it."""
    tmp, data = tmp_path / "tmp-\u00e9", tmp_path / "donn\u00e9es"
    tmp.mkdir()
    data.mkdir()
    (data / "caf\u00e9.txt").write_bytes(sample_cli.read_bytes())
    perf = Path("/tmp", f"hsperfdata_{pwd.getpwuid(os.getuid()).pw_name}")  # Java's counters, whatever TMPDIR says
    before = set(perf.glob("*"))
    env = {k: v for k, v in os.environ.items() if k not in ("CCAUDIT_DEBUG", "LANG", "LC_CTYPE")}
    proc = subprocess.Popen([ccaudit_exe, "spark", str(data), "--db", str(tmp_path / "s.db"), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env | {"LC_ALL": lc_all, "TMPDIR": str(tmp)})
    try:
        _, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.terminate()  # ccaudit then ends its JVM, in a session of its own
        proc.communicate(timeout=60)
        raise
    assert proc.returncode == 0, err
    assert err.decode().startswith("ccaudit: loaded 14 records: 13 new, 1 duplicate; skipped 16 noise lines")
    assert list(tmp.iterdir()) == []
    assert set(perf.glob("*")) <= before  # was: one left by each run, whose JVM is stopped, not let exit


@needs_spark
@pytest.mark.parametrize("given", ["file://{folder}/", "file://{folder}/*.jsonl", "file:{folder}"])
def test_a_file_uri_whose_files_hadoop_cannot_name_is_refused(ccaudit_exe, sample_cli, tmp_path, given):
    # was: exit 0, the records of \xff.jsonl left out without a word (Hadoop's listing drops its name)
    folder = tmp_path / "u8"
    folder.mkdir()
    for name in (b"ok.jsonl", b"\xff.jsonl"):
        (folder / os.fsdecode(name)).write_bytes(sample_cli.read_bytes())
    (folder / "zz.jsonl").symlink_to(tmp_path / "nothing")  # Hadoop passes it over; a local input refuses it
    uri = given.format(folder=folder)
    run = subprocess.run([ccaudit_exe, "spark", uri, "--db", str(tmp_path / "s.db")], capture_output=True, text=True,
                         timeout=300)
    assert (run.returncode, run.stderr) == (2, f"ccaudit: error: {uri}: Hadoop cannot name 1 of its files (bytes "
                                               "that are not UTF-8): give them as local paths, without file:, or "
                                               "rename them\n")


@needs_spark
def test_ctrl_z_stops_sparks_jvm_with_the_run_and_fg_goes_on(ccaudit_exe, big_dump, tmp_path):
    """The JVM runs in its own session, which the terminal's Ctrl-Z does not reach: it
    worked on while ccaudit was stopped."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CCAUDIT_DEBUG"} | {"TMPDIR": str(tmp)}
    proc = subprocess.Popen([ccaudit_exe, "spark", big_dump, "--db", str(tmp_path / "s.db"), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        wait_until(lambda: proc.poll() is not None or any("pyspark.daemon" in c for c in processes_with(str(tmp))))
        jvm = [pid for pid, command in commands_with(str(tmp)).items() if "java" in command.split()[0]]
        os.kill(proc.pid, signal.SIGTSTP)
        wait_until(lambda: {state(p) for p in [proc.pid, *jvm]} == {"T"}, timeout=10)
        assert (state(proc.pid), [state(p) for p in jvm]) == ("T", ["T"])
        os.kill(proc.pid, signal.SIGCONT)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0 and err.decode().startswith("ccaudit: loaded "), err


@needs_spark
@pytest.mark.parametrize(("master", "why"), [("bogus://x", "Could not parse Master URL: 'bogus://x'"),
                                             ("bogus://u:p@ss@x", "Could not parse Master URL: 'bogus://x'"),
                                             ("local[0]", "cannot start at master local[0]: Asked to run locally "
                                                          "with 0 threads"),
                                             # was "An error has occurred. (Connection refused)" alone
                                             ("k8s://https://user:secret@127.0.0.1:1",
                                              "cannot start at master k8s://https://127.0.0.1:1: "
                                              "An error has occurred. (Connection refused)")])
def test_a_bad_master_says_sparks_reason(run_ccaudit, tmp_path, master, why):
    result = run_ccaudit("spark", ROOT / "fixtures/sample-cli.txt", "--db", tmp_path / "s.db", "--master", master,
                         timeout=120)
    assert (result.returncode, result.stderr) == (2, f"ccaudit: error: spark: {why}\n")  # Spark's own words


# -- Parquet, the command line, and the store ---------------------------------------------

@needs_spark
def test_parquet_by_day_owner_only(spark, tmp_path):
    import pyarrow.parquet as pq

    from ccaudit.spark import aggregate

    out = tmp_path / "counts"
    counts, _ = aggregate(spark, [str(ROOT / "fixtures/sample-cli.txt")], parquet=str(out))
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        "day=2024-05-06", "day=2024-05-07", "day=2024-05-09"]
    # a file a day: was one for each of Spark's tasks with rows of the day, 13 files for 13 rows
    assert sorted(p.parent.name for p in out.glob("day=*/*.parquet")) == [
        "day=2024-05-06", "day=2024-05-07", "day=2024-05-09"]
    table = pq.read_table(out)
    names = ["quarter", "section", "key", "method", "principal", "n", "first_us", "last_us"]
    assert sorted(zip(*(table.column(c).to_pylist() for c in names))) == sorted(counts)
    for p in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode & 0o077 == 0, f"{p} is {oct(mode)}"
    with pytest.raises(Exception, match="already exists"):
        aggregate(spark, [str(ROOT / "fixtures/sample-cli.txt")], parquet=str(out))


@needs_spark
def test_parquet_is_written_in_tasks_for_its_data_not_for_every_shuffle_partition(spark, tmp_path):
    # was 400 tasks and 30 s for a fixture's 3 days: the cached counts kept 200 partitions
    from ccaudit.spark import aggregate

    tracker = spark.sparkContext.statusTracker()
    spark.sparkContext.setJobGroup("parquet", "counts written to Parquet")
    try:
        aggregate(spark, [str(ROOT / "fixtures/sample-cli.txt")], parquet=str(tmp_path / "counts"))[0].close()
    finally:
        spark.sparkContext.setJobGroup("other", "")
    stages = [tracker.getStageInfo(s) for j in tracker.getJobIdsForGroup("parquet")
              for s in tracker.getJobInfo(j).stageIds]
    assert sum(s.numCompletedTasks for s in stages if s) < 60


class _Java:
    """A Java exception as py4j hands it over: a message and a cause; a SparkThrowable's
    condition and message parameters."""

    def __init__(self, message, cause=None, condition=None, **parameters):
        self.message, self.cause, self.condition, self.parameters = message, cause, condition, parameters

    def getMessage(self):
        return self.message

    def getCause(self):
        return self.cause

    def getCondition(self):
        return self.condition

    def getMessageParameters(self):
        return self.parameters


def test_a_file_spark_could_not_read_is_named_as_given_not_as_its_link(tmp_path):
    # was "spark: Exception thrown in awaitResult: (Cannot seek after EOF)", of a file cut
    # short as Spark read it, and "(File file:/tmp/ccaudit-tmp-1-x/0 does not exist)", the
    # link Spark was given, of one removed
    from ccaudit.spark_failures import unread_input
    from ccaudit.spark_inputs import Source

    dump = tmp_path / "d.jsonl"
    dump.write_bytes(b"x" * 10)
    link = "file:///tmp/ccaudit-tmp-1-x/1"
    files = [Source("file:/tmp/ccaudit-tmp-1-x/0", "file:///tmp/ccaudit-tmp-1-x/0", "a.jsonl", 5, local="/a"),
             Source("file:/tmp/ccaudit-tmp-1-x/1", link, "d.jsonl", 30, local=str(dump))]

    def failed(condition, root):
        e = Exception("An error occurred while calling o140.getResult.")
        e.java_exception = _Java("Exception thrown in awaitResult: ", _Java(
            f"[{condition}] Encountered error while reading file {link}.", _Java(root), condition, path=link))
        return e
    cut = unread_input(failed("FAILED_READ_FILE.NO_HINT", "Cannot seek after EOF"), files)
    assert isinstance(cut, InputError) and str(cut) == (
        "d.jsonl: Spark could not read it (Cannot seek after EOF); the file changed size while it was read "
        "(30 bytes, then 10): load it again once it has stopped changing")
    gone = unread_input(failed("FAILED_READ_FILE.FILE_NOT_EXIST", "File file:/tmp/ccaudit-tmp-1-x/1 does not exist"),
                        files)
    assert str(gone) == "d.jsonl: no such file (removed while Spark read it)"
    assert unread_input(failed("FAILED_READ_FILE.NO_HINT", "x"), files[:1]) is None  # not an input: Spark's words
    assert unread_input(Exception("plain"), files) is None


@needs_spark
@pytest.mark.parametrize(("change", "said"), [
    ("truncate", "d.jsonl: Spark could not read it (Cannot seek after EOF); the file changed size while it was "
                 "read ({size} bytes, then 100): load it again once it has stopped changing"),
    ("remove", "d.jsonl: no such file (removed while Spark read it)")])
def test_a_file_cut_short_or_removed_as_spark_reads_it_is_named(spark, tmp_path, monkeypatch, change, said):
    import ccaudit.spark_inputs
    from ccaudit.spark import aggregate

    monkeypatch.chdir(tmp_path)
    generate(2_000, "d.jsonl", "jsonl", None, seed=7)  # several 64 KiB blocks
    size, real = os.path.getsize("d.jsonl"), ccaudit.spark_inputs.all_listed

    def changed_once_planned(files, listed):  # Spark has planned its blocks, no task has run
        real(files, listed)
        os.truncate("d.jsonl", 100) if change == "truncate" else os.remove("d.jsonl")
    monkeypatch.setattr(ccaudit.spark_inputs, "all_listed", changed_once_planned)
    with pytest.raises(InputError) as e:
        aggregate(spark, ["d.jsonl"])
    assert str(e.value) == said.format(size=size)


def test_a_spark_failure_says_its_root_cause(tmp_path, monkeypatch):
    # was "spark: [TASK_WRITE_FAILED] Task failed while writing rows to file:/x/p. SQLSTATE: 58030",
    # of a full disk, which only the last cause said; and then nothing of TMPDIR, where a
    # full disk was most often (Spark's scratch files)
    from ccaudit.spark_failures import spark_message

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    full = f"; a disk is full: TMPDIR ({tmp_path}), which holds Spark's scratch files, or the one written"
    failed = Exception("[TASK_WRITE_FAILED] Task failed while writing rows to file:/x/p. SQLSTATE: 58030")
    failed._origin = _Java("Task failed", _Java("Job aborted", _Java("No space left on device")))
    assert spark_message(failed) == ("spark: [TASK_WRITE_FAILED] Task failed while writing rows to file:/x/p. "
                                      "SQLSTATE: 58030 (No space left on device)" + full)
    said = Exception("An error occurred while calling o1.x.\n: java.io.IOException: No space left on device")
    said.java_exception = _Java("No space left on device")
    assert spark_message(said) == "spark: No space left on device" + full  # said once
    wrapped = Exception("An error occurred while calling o1.x.\n: org.apache.spark.SparkException: Exception thrown "
                        "in awaitResult:")  # was "spark: Exception thrown in awaitResult: (No space left on device)"
    wrapped.java_exception = _Java("Exception thrown in awaitResult:", _Java("No space left on device"))
    assert spark_message(wrapped) == "spark: No space left on device" + full
    assert spark_message(Exception("plain")) == "spark: plain"


class _Counts:
    """What ``_spooled`` asks of Spark's counts: each part's marshalled rows and events."""

    def __init__(self, parts: list[tuple[bytes, int]]):
        self.parts = parts

    def mapInArrow(self, function, schema):
        return self

    def toLocalIterator(self):
        return iter(self.parts)


def test_the_counts_are_kept_in_a_temporary_file_in_tmpdir_until_the_store_takes_them(tmp_path, monkeypatch):
    import marshal
    import tempfile

    from ccaudit import spark as driver

    pytest.importorskip("pyspark")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    folders, real = [], tempfile.TemporaryFile
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda **how: folders.append(how.get("dir")) or real(**how))
    parts = [[(900, "s", f"k{i}", "m", "p", 1, 900 * 10**6, 900 * 10**6) for i in range(j, j + 3)] for j in (0, 3)]
    spool, events = driver._spooled(_Counts([(marshal.dumps(p), 3) for p in parts]))
    assert list(spool) == parts[0] + parts[1] and events == 6
    assert list(spool) == parts[0] + parts[1]  # (read again: a test's sorted() and the store's)
    assert folders == [str(tmp_path)]  # was Python's choice, which passes over a full TMPDIR to /tmp
    spool.close()


def test_a_full_tmpdir_while_the_counts_are_kept_says_so(tmp_path, monkeypatch):
    # was "ccaudit: error: cannot write to standard output: No space left on device": the
    # spool's OSError reached the boundary, which takes any for standard output's
    import marshal
    import tempfile

    from ccaudit import spark as driver
    from ccaudit.errors import NoSpace

    pytest.importorskip("pyspark")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda **how: open("/dev/full", "w+b"))  # every write: ENOSPC
    with pytest.raises(NoSpace, match=f"^{tmp_path}: no space left for temporary files \\(TMPDIR\\)$"):
        driver._spooled(_Counts([(marshal.dumps([(1,)]), 1)]))


def test_a_jvm_gone_while_the_counts_are_read_is_one_line(monkeypatch):
    # the counts come through a socket (toLocalIterator): a JVM gone meanwhile ends its reads
    # with EOFError, which was an internal error (exit 70)
    pytest.importorskip("pyspark")
    from ccaudit.spark import spark_errors

    with pytest.raises(CcauditError, match=r"^spark: lost the connection to Spark's JVM \(it closed\); did it"), \
            spark_errors():
        raise EOFError


def test_a_spark_failure_under_ccaudit_debug_shows_its_traceback_while_the_jvm_can_say_it(monkeypatch, capsys):
    # was raised on: its text, read from the JVM once the JVM was killed, was
    # "Py4JJavaError: <exception str() failed>", exit 70
    pytest.importorskip("pyspark")
    from py4j.protocol import Py4JError

    from ccaudit.spark import spark_errors

    monkeypatch.setenv("CCAUDIT_DEBUG", "1")
    with pytest.raises(CcauditError, match="^spark: the JVM's own words$"), spark_errors():
        raise Py4JError("the JVM's own words")
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and err.rstrip().endswith("Py4JError: the JVM's own words")


def test_a_master_out_of_reach_is_said_without_javas_calls():
    # was "spark: Cannot call methods on a stopped SparkContext. (Cannot call methods on a stopped
    # SparkContext.\x0aThis stopped SparkContext was created at:\x0a\x0aorg.apache.spark.api.java.Jav...)"
    from ccaudit.spark_failures import spark_message

    stopped = "Cannot call methods on a stopped SparkContext."
    failed = Exception(f"An error occurred while calling o1.x.\n: java.lang.IllegalStateException: {stopped}\n"
                       "This stopped SparkContext was created at:\n\norg.apache.spark.api.java.JavaSparkContext.<init>")
    failed.java_exception = _Java(f"{stopped}\nThis stopped SparkContext was created at:\n\norg.apache.spark.api")
    hint = "; Spark stopped: can it reach its master (--master, or spark-submit's)? CCAUDIT_DEBUG=1 shows why"
    assert spark_message(failed) == f"spark: {stopped}{hint}"
    failed.java_exception = _Java("the first line\nand then more")
    assert spark_message(failed) == f"spark: {stopped} (the first line){hint}"


def test_a_store_another_command_writes_is_refused_before_spark_starts(tmp_path):
    # was refused only once Spark's minutes were spent and the counts were written
    from ccaudit.errors import StoreError
    from ccaudit.spark import run
    from ccaudit.store import Store

    db = tmp_path / "s.db"
    with Store(db) as writing, writing.holding():  # a load or another spark run, under way
        with Store(db) as store, pytest.raises(StoreError, match="another ccaudit is writing it; ccaudit spark"):
            run([str(ROOT / "fixtures/sample-cli.txt")], store, master="bogus://never-reached")


def test_a_failure_to_start_names_the_master_without_its_password():
    from ccaudit.errors import add_note
    from ccaudit.spark_failures import STARTING, spark_message, without_password

    failed = Exception("An error occurred while calling None.x.\n: io.fabric8.Client: An error has occurred.")
    add_note(failed, f"{STARTING}k8s://https://host:6443")  # as spark._start notes it
    assert spark_message(failed) == "spark: cannot start at master k8s://https://host:6443: An error has occurred."
    failed = Exception("Could not parse Master URL: 'bogus://user:p@ss@x'")  # was shown with the password
    add_note(failed, f"{STARTING}bogus://x")
    assert spark_message(failed) == "spark: Could not parse Master URL: 'bogus://x'"  # said where already
    assert without_password("k8s://https://u:p@ss@h:6443/x@y") == "k8s://https://h:6443/x@y"  # was ...//ss@h...


def test_a_glob_hadoop_cannot_list_says_why():
    # was "java.net.URISyntaxException: Relative path in absolute URI: b:c.txt" alone, of
    # file:///d/*.jsonl where d also held a file named b:c.txt
    from ccaudit.spark_failures import spark_message

    said = spark_message(Exception("An error occurred while calling o1.x.\n: java.lang.IllegalArgumentException: "
                                   "java.net.URISyntaxException: Relative path in absolute URI: b:c.txt"))
    assert said.endswith("Relative path in absolute URI: b:c.txt; Hadoop cannot list a folder that holds a name "
                         "with a ':' in it: move that file, or name the inputs without a glob")


class _Gone:
    """A socket, and its stream, to a JVM that was killed."""

    def close(self):
        raise OSError("gone")

    def shutdown(self, how):
        raise OSError("gone")


def test_a_connection_to_a_killed_jvm_closes_quietly_as_the_interpreter_ends(monkeypatch):
    # was, at random after SIGTERM or Ctrl-C: "Exception ignored in: <function
    # ClientServerConnection.__del__ ...>", py4j's quiet_close logging through
    # py4j.java_gateway once logging was torn down ("'NoneType' object is not callable")
    import logging

    pytest.importorskip("pyspark")
    from py4j.clientserver import ClientServerConnection
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from ccaudit.spark import _forget_gateway

    monkeypatch.delenv("CCAUDIT_DEBUG", raising=False)
    for owner, names in ((SparkContext, ("_gateway", "_jvm", "_active_spark_context")),
                         (SparkSession, ("_instantiatedSession", "_activeSession"))):
        for name in names:  # the session the other tests share is put back afterwards
            monkeypatch.setattr(owner, name, getattr(owner, name))
    for name in ("py4j.clientserver", "py4j.java_gateway"):
        monkeypatch.setattr(logging.getLogger(name), "disabled", logging.getLogger(name).disabled)
    _forget_gateway()
    conn = ClientServerConnection.__new__(ClientServerConnection)
    conn.socket, conn.stream, conn.initiated_from_client, conn.python_server = _Gone(), _Gone(), True, None
    for name in ("py4j.clientserver", "py4j.java_gateway"):
        logging.getLogger(name)._cache.clear()
    lock = "_acquireLock" if hasattr(logging, "_acquireLock") else "_lock"  # Python 3.13: a lock object
    held, logging.__dict__[lock] = logging.__dict__[lock], None  # as the interpreter ends
    try:
        conn.close()  # what its __del__ does
    finally:
        logging.__dict__[lock] = held


@needs_spark
def test_the_thread_that_reads_accumulators_says_nothing_of_a_jvm_gone(spark, capfd):
    # was: a JVM gone out of memory printed that thread's EOFError traceback, 20 lines, before
    # ccaudit's one line (only a stop quieted it, below)
    from pyspark import SparkContext

    try:
        raise EOFError  # what the thread meets once the JVM is gone
    except EOFError:
        SparkContext._active_spark_context._accumulatorServer.handle_error(None, ("127.0.0.1", 0))
    assert capfd.readouterr().err == ""


@needs_spark
def test_a_stop_quiets_the_thread_that_reads_accumulators_from_the_jvm(spark, capfd):
    # was: SIGTERM late in a run showed pyspark's traceback of that thread's EOFError, between
    # dashed lines, once the JVM it read from was killed
    from pyspark import SparkContext

    from ccaudit.spark import _noting_stops

    class Stopped(Exception):
        pass

    def stop(signum, frame):
        raise Stopped

    class Jvm:
        def send(self, signum=None):
            pass

    before = signal.signal(signal.SIGTERM, stop)
    try:
        with pytest.raises(Stopped), _noting_stops(Jvm()):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    finally:
        signal.signal(signal.SIGTERM, before)
    try:
        raise EOFError  # what the thread meets once the JVM is gone
    except EOFError:
        SparkContext._active_spark_context._accumulatorServer.handle_error(None, ("127.0.0.1", 0))
    assert "Exception occurred" not in capfd.readouterr().err


def test_an_ignored_ctrl_c_stays_ignored_once_spark_has_started():
    # was: started with SIGINT ignored (cmd &, in a script), pyspark's SparkContext put in a
    # handler of its own, and a Ctrl-C meant for the foreground stopped the run
    from ccaudit.spark import _noting_stops

    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _noting_stops(None) as note_again:
            signal.signal(signal.SIGINT, lambda signum, frame: None)  # what SparkContext does
            note_again()
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_files_name_that_is_not_utf8_is_labelled_as_its_byte(tmp_path):
    # was "caf\udce9.jsonl:6" in the JSON of the load: a lone surrogate, which strict readers refuse
    from ccaudit.spark_inputs import local_files

    odd = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.jsonl")
    with open(odd, "wb") as f:
        f.write(r.json_lines([r.record("a")]))
    assert [found.label for found in local_files(odd, str(tmp_path / "s.db"))] == [f"{tmp_path}/caf\\xe9.jsonl"]


@needs_spark
def test_a_file_that_grows_while_spark_reads_it_is_read_in_part(spark, tmp_path, monkeypatch):
    # was: the records appended meanwhile left out without a word, exit 0 (load says so)
    import ccaudit.spark_job
    from ccaudit.spark import aggregate

    dump = tmp_path / "d.jsonl"
    dump.write_bytes(r.json_lines([r.record(f"a-{i}") for i in range(20)]))
    size = dump.stat().st_size
    real = ccaudit.spark_job.load_stats

    def appended_meanwhile(*args):
        with open(dump, "ab") as f:
            f.write(r.json_lines([r.record("late")]))
        return real(*args)
    monkeypatch.setattr(ccaudit.spark_job, "load_stats", appended_meanwhile)
    counts, stats = aggregate(spark, [str(dump)])
    assert stats.records_read == 20 and stats.cut == [(str(dump), "@end", (
        f"the file changed size while it was read ({size} bytes, then {dump.stat().st_size}): load it again once "
        "it has stopped changing"), False)]


def test_a_file_in_a_folder_that_cannot_be_searched_is_said_to_be_unreadable(tmp_path, monkeypatch):
    # was "no such file": the name, not found, was taken for a glob that matched nothing
    # (root searches any folder: the refusal is played by os.stat and os.lstat)
    from ccaudit.spark_inputs import local_files

    (tmp_path / "closed").mkdir()
    (tmp_path / "closed" / "d.jsonl").write_bytes(r.json_lines([r.record("a")]))
    for name in ("stat", "lstat"):
        real = getattr(os, name)

        def refused(path, *args, real=real, **kwargs):
            if "closed/" in os.fsdecode(path):
                raise PermissionError(13, "Permission denied", path)
            return real(path, *args, **kwargs)
        monkeypatch.setattr(os, name, refused)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"^closed/d.jsonl: cannot read: Permission denied$"):
        local_files("closed/d.jsonl")


@needs_spark
def test_an_empty_parquet_name_is_refused_before_spark_starts(invoke, tmp_path, monkeypatch):
    # was: no Parquet written, and not a word
    import ccaudit.spark

    monkeypatch.setattr(ccaudit.spark, "session", lambda *a: pytest.fail("Spark started"))
    result = invoke("spark", ROOT / "fixtures/sample-cli.txt", "--db", tmp_path / "s.db", "--parquet", "")
    assert (result.exit_code, result.stderr) == (2, "ccaudit: error: --parquet: the folder's name is empty (an unset "
                                                    "variable?): name a new folder\n")
    assert not (tmp_path / "s.db").exists()


@needs_spark
def test_an_existing_parquet_folder_is_refused_before_spark_starts(invoke, tmp_path, monkeypatch):
    # was refused after seconds of starting Spark, once a store had been made for the run
    import ccaudit.spark

    monkeypatch.setattr(ccaudit.spark, "session", lambda *a: pytest.fail("Spark started"))
    (tmp_path / "p").mkdir()
    result = invoke("spark", ROOT / "fixtures/sample-cli.txt", "--db", tmp_path / "s.db", "--parquet", tmp_path / "p")
    assert (result.exit_code, result.stderr) == (2, f"ccaudit: error: {tmp_path}/p: already exists; --parquet needs "
                                                    "a new folder\n")
    assert not (tmp_path / "s.db").exists()


@needs_spark
def test_a_run_that_fails_after_writing_its_parquet_folder_leaves_none(spark, invoke, tmp_path, monkeypatch):
    # was: the folder left complete (with _SUCCESS) beside a run that failed, and a re-run refused for it
    from ccaudit.store import Store

    def refused(store, rows):
        raise CcauditError(f"{store.path}: already holds events or counts")

    monkeypatch.setattr(Store, "add_counts", refused)
    out = tmp_path / "p"
    result = invoke("spark", ROOT / "fixtures/sample-cli.txt", "--db", tmp_path / "s.db", "--parquet", out)
    assert result.exit_code == 2 and "already holds events or counts" in result.stderr
    assert not out.exists() and not (tmp_path / "s.db").exists()


@needs_spark
def test_a_parquet_folder_made_by_another_meanwhile_is_left_alone(spark, invoke, tmp_path, monkeypatch):
    # was: refused as existing, then deleted as if this run had made it, with what it held
    import ccaudit.spark_inputs

    out = tmp_path / "p"
    checked = ccaudit.spark_inputs.check_inputs

    def then_made(*args):
        checked(*args)
        out.mkdir(exist_ok=True)  # (run checks the inputs again)
        (out / "important.txt").write_text("kept")

    monkeypatch.setattr(ccaudit.spark_inputs, "check_inputs", then_made)
    result = invoke("spark", ROOT / "fixtures/sample-cli.txt", "--db", tmp_path / "s.db", "--parquet", out)
    assert result.exit_code == 2 and "already exists" in result.stderr
    assert (out / "important.txt").read_text() == "kept"


@needs_spark
def test_command_prints_the_load_line_of_a_local_load(spark, invoke, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    noisy, _ = generated(tmp_path, "jsonl-cut")  # more malformed lines than are shown
    args = ["fixtures/sample-cli.txt", "fixtures/sample.jsonl.xz", noisy, "fixtures/sample-cut.json"]
    local = invoke("load", *args, "--db", tmp_path / "local.db")
    assert "malformed in all" in local.stderr
    result = invoke("spark", *args, "--db", tmp_path / "spark.db", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == local.stderr
    assert json.loads(result.stdout)["malformed_lines"][0] == "fixtures/sample-cli.txt:31"
    again = invoke("spark", *args, "--db", tmp_path / "spark.db")
    assert again.exit_code == 2 and "already holds events" in again.stderr
    missing = invoke("spark", "no-such-dump.jsonl", "--db", tmp_path / "other.db")
    assert missing.exit_code == 2 and missing.stderr.strip() == "ccaudit: error: no-such-dump.jsonl: no such file"


@needs_spark
def test_reports_from_a_spark_store_equal_those_of_a_local_load(spark, invoke, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    gen, _ = generated(tmp_path, "cli-noise-dups")
    args = ["fixtures/sample-cli.txt", "fixtures/sample-week2.jsonl", "fixtures/sample-array.json.gz", gen]
    assert invoke("load", *args, "--db", tmp_path / "local.db", "-q").exit_code == 0
    assert invoke("spark", *args, "--db", tmp_path / "spark.db", "-q").exit_code == 0
    for command in (["report", "--format", "json"], ["summary"], ["report", "--tz", "Asia/Kolkata", "--top", "3"]):
        local = invoke(*command, "--db", tmp_path / "local.db")
        assert local.exit_code == 0
        assert invoke(*command, "--db", tmp_path / "spark.db").stdout == local.stdout


@needs_spark
def test_without_java_one_line_says_so(ccaudit_exe, tmp_path):
    import subprocess

    env = dict(os.environ, JAVA_HOME=str(tmp_path / "no-java"))
    proc = subprocess.run([ccaudit_exe, "spark", str(ROOT / "fixtures/sample-cli.txt"), "--db", str(tmp_path / "s.db")],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("ccaudit: error: could not start Spark (it needs Java 17 or newer")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_stdin_is_for_load(invoke, tmp_path):
    result = invoke("spark", "-", "--db", tmp_path / "s.db")
    assert result.exit_code == 2 and "ccaudit load - --db STORE" in result.stderr
    assert not (tmp_path / "s.db").exists()


def test_without_pyspark_the_command_says_what_to_install(invoke, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "pyspark", None)
    result = invoke("spark", str(ROOT / "fixtures/sample-cli.txt"), "--db", tmp_path / "s.db")
    assert result.exit_code == 2
    assert result.stderr == ("ccaudit: error: ccaudit spark needs pyspark: pip install 'pyspark[sql]>=4' (in "
                             "ccaudit's clone: pip install '.[spark]')\n")
    assert not (tmp_path / "s.db").exists()  # refused before anything is created


def test_pysparks_warning_of_a_jvm_a_stop_killed_is_not_said(monkeypatch):
    # was a flaky two-line RuntimeWarning before "ccaudit: interrupted": Ctrl-C to the process
    # group as the context started killed the JVM before pyspark's clean-up stopped it
    import warnings

    pytest.importorskip("pyspark")
    from ccaudit import spark

    monkeypatch.setattr(warnings, "filters", list(warnings.filters))  # this test's filters go with it
    spark.require()
    with warnings.catch_warnings(record=True) as said:
        warnings.warn("Unable to cleanly shutdown Spark JVM process. It is possible that the process has "
                      "crashed, been killed or may also be in a zombie state.", RuntimeWarning, stacklevel=1)
    assert said == []


def without_spark(monkeypatch, rows: list, stats: LoadStats, session=lambda master=None: iter([None])):
    """ccaudit spark as it runs, but for Spark: its session none (or ``session``), its
    counts ``rows``; returns the spool they are handed over in."""
    import marshal

    from ccaudit.spool import SpoolFile

    spool = SpoolFile()
    spool.add(marshal.dumps(rows))
    monkeypatch.setattr("ccaudit.spark.require", lambda: None)
    monkeypatch.setattr("ccaudit.spark.session", contextlib.contextmanager(session))
    monkeypatch.setattr("ccaudit.spark.aggregate", lambda *args: (spool, stats))
    return spool


def test_the_counts_spool_is_closed_when_stopping_spark_is_interrupted(tmp_path, monkeypatch):
    # was left open: closed only once the store had taken the counts, after Spark's stop
    from ccaudit.spark import run
    from ccaudit.store import Store

    def stopped_by_ctrl_c(master=None):
        yield None
        raise KeyboardInterrupt  # (as a Ctrl-C while the JVM is stopped and reaped)

    dump = str(ROOT / "fixtures/sample-cli.txt")
    spool = without_spark(monkeypatch, *reference([dump]), session=stopped_by_ctrl_c)
    with Store(str(tmp_path / "s.db")) as store, pytest.raises(KeyboardInterrupt):
        run([dump], store)
    assert spool.file is not None and spool.file.closed


def test_a_store_made_for_a_run_that_was_killed_says_the_run_did_not_end(ccaudit_exe, tmp_path):
    # was: the empty store a kill left read as a whole one of 0 events, without a warning
    from ccaudit.spark import run
    from ccaudit.store import Store

    db, dump = tmp_path / "s.db", str(ROOT / "fixtures/sample-cli.txt")
    killed = ("import contextlib, os, signal, sys; import ccaudit.spark as s; s.require = lambda: None\n"
              "kill = lambda master=None: iter([os.kill(os.getpid(), signal.SIGKILL)])\n"
              "s.session = contextlib.contextmanager(kill)\n"
              "from ccaudit.cli import cli; sys.argv[0] = 'ccaudit'; cli()")
    python = Path(ccaudit_exe).with_name("python")
    ran = subprocess.run([python, "-c", killed, "spark", dump, "--db", db], capture_output=True, text=True)
    assert ran.returncode == -signal.SIGKILL, ran.stderr
    said = subprocess.run([ccaudit_exe, "summary", "--db", db], capture_output=True, text=True)
    assert said.returncode == 0 and f"a load of {dump}, begun " in said.stderr and "did not end" in said.stderr
    with Store(str(db)) as store:  # a run again, one that ends, writes counts and forgets the note
        rows, stats = reference([dump])
        with pytest.MonkeyPatch.context() as mp:
            without_spark(mp, rows, stats)
            run([dump], store)
    said = subprocess.run([ccaudit_exe, "summary", "--db", db], capture_output=True, text=True)
    assert (said.returncode, said.stderr) == (0, "")
    assert said.stdout.startswith(f"Audit Summary for {stats.inserted} events")


@pytest.mark.parametrize("before", ["nothing", "an empty file"])
def test_a_run_into_a_store_it_makes_is_not_refused_for_its_own_hold(invoke, tmp_path, monkeypatch, before):
    # was, with an empty file (mktemp's): "another ccaudit is writing it", exit 2, and the file left noted
    db, dump = tmp_path / "s.db", str(ROOT / "fixtures/sample-cli.txt")
    if before == "an empty file":
        db.touch()
    rows, stats = reference([dump])
    without_spark(monkeypatch, rows, stats)
    result = invoke("spark", dump, "--db", db, "-q")
    assert result.exit_code == 0, result.stderr
    said = invoke("summary", "--db", db)
    assert said.stderr == "" and said.stdout.startswith(f"Audit Summary for {stats.inserted} events")


@needs_spark
def test_standard_output_onto_an_input_is_refused_before_spark_starts(ccaudit_exe, sample_cli, tmp_path):
    # was: exit 0, the load summary appended to the dump (`spark d.jsonl -f json >> d.jsonl`)
    dump = tmp_path / "d.txt"
    dump.write_bytes(sample_cli.read_bytes())
    with open(dump, "ab") as out:
        proc = subprocess.run([ccaudit_exe, "spark", str(dump), "--db", str(tmp_path / "s.db"), "-f", "json"],
                              stdout=out, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert (proc.returncode, proc.stderr) == (2, f"ccaudit: error: standard output is an input, {dump}; send it "
                                                 "elsewhere\n")
    assert dump.read_bytes() == sample_cli.read_bytes() and not (tmp_path / "s.db").exists()

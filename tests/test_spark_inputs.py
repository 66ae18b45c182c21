"""ccaudit spark's side that needs no Spark: local inputs listed as a shell names them and
as the system opens them, refused before Spark starts, and stops held off its clean-up.
Run by ``make test``; what Spark itself then reads is in test_spark.py."""
from __future__ import annotations

import gzip
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from ccaudit.errors import InputError
from ccaudit.spark_inputs import is_uri, line_mode, local_files


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_relative_name_with_a_colon_is_a_file_not_a_uri(here):
    """audit-2024-05-06T10:00:00.jsonl begins like a URI's scheme: it was handed to Hadoop
    as one ("Relative path in absolute URI")."""
    name = "audit-2024-05-06T10:00:00.jsonl"
    Path(name).write_text("x\n")
    assert not is_uri(name) and not is_uri("audit-2024-05-06T10:*.jsonl")
    assert [f.label for f in local_files("audit-2024-05-06T10:*.jsonl")] == [name]
    assert all(is_uri(u) for u in ("s3a://bucket/a.jsonl", "file:///tmp/a.jsonl", "hdfs://nn/a", "file:/tmp/a"))


def test_dot_dot_after_a_linked_folder_is_the_file_the_system_opens(here):
    """symdir/../a.jsonl is real/a.jsonl to the system (and to ccaudit load); shortened as
    text it was ./a.jsonl, another file, read under the name the user gave."""
    os.makedirs("real/sub")
    Path("a.jsonl").write_text("A\n")
    Path("real/a.jsonl").write_text("B\n")
    os.symlink("real/sub", "symdir")
    [found] = local_files("symdir/../a.jsonl")
    assert found.label == "symdir/../a.jsonl"
    assert Path(found.path).read_text() == "B\n"
    assert found.key == "file:" + os.path.realpath("real/a.jsonl")


def test_a_glob_or_folder_keeps_the_prefix_typed_and_a_folder_its_own_files(here):
    os.makedirs("data/sub")
    for name in ("b.jsonl", "a.jsonl", "_SUCCESS", ".a.jsonl.crc", "sub/c.jsonl"):
        Path("data", name).write_text("x\n")
    assert [f.label for f in local_files("./data/*.jsonl")] == ["./data/a.jsonl", "./data/b.jsonl"]
    assert [f.label for f in local_files("data/")] == ["data/a.jsonl", "data/b.jsonl"]
    assert [f.label for f in local_files("data/{b,sub/c}.jsonl")] == ["data/b.jsonl", "data/sub/c.jsonl"]


def test_a_folders_and_a_globs_files_come_in_the_order_of_their_bytes(here):
    # was: by Python's text, in which a byte that is no UTF-8 (\x80, a surrogate) came after
    # \u4e2d (e4 b8 ad): another copy of a record repeated in both won than with ccaudit load
    os.makedirs("data")
    names = [b"data/\x80.jsonl", "data/\u4e2d.jsonl".encode(), b"data/a.jsonl"]
    for name in names:
        Path(os.fsdecode(name)).write_text("x\n")
    for listed in (local_files("data"), local_files("data/*.jsonl")):
        assert [os.fsencode(os.path.relpath(f.path)) for f in listed] == sorted(names)


def test_a_link_to_nothing_in_a_folder_is_refused_not_passed_over(here):
    # was: the folder's other files read, exit 0, and the link's dump missing from the store
    os.makedirs("data")
    Path("data/a.jsonl").write_text("x\n")
    os.symlink("moved-away.jsonl", "data/b.jsonl")
    with pytest.raises(InputError, match="^data/b.jsonl: no such file$"):
        local_files("data")


def test_a_file_named_as_a_path_and_as_a_uri_has_one_key(here):
    Path("a.jsonl").write_text("x\n")
    [found] = local_files("a.jsonl")
    assert found.key == "file:" + os.path.realpath("a.jsonl")  # hadoop_files' key of file:///…/a.jsonl


@pytest.mark.parametrize(("make", "arg", "said"), [
    (lambda: os.symlink("nowhere", "broken.jsonl"), "broken.jsonl", "broken.jsonl: no such file"),
    (lambda: None, "nothing*.jsonl", "nothing*.jsonl: no such file"),
    (lambda: os.symlink("loop.jsonl", "loop.jsonl"), "loop.jsonl", "loop.jsonl: cannot read: Too many levels of "
                                                                    "symbolic links")])
def test_a_file_that_cannot_be_read_is_an_input_error(here, make, arg, said):
    """A broken link was an internal error (exit 70), after Spark had started."""
    make()
    with pytest.raises(InputError) as e:
        local_files(arg)
    assert str(e.value) == said


def test_a_stop_that_comes_while_stops_are_held_acts_after_the_stretch():
    """A signal to the process may go to any thread that does not block it (pyspark runs
    several): a mask on the main thread, as ``stops.block_stops`` sets, did not hold it
    off, and a second Ctrl-C cut the scratch folder's removal short."""
    from ccaudit.spark_jvm import holding_stops

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    done = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with holding_stops():
                signal.pthread_kill(other.ident, signal.SIGINT)  # as the kernel may pick that thread
                time.sleep(0.2)  # the main thread runs Python's handlers meanwhile
                done.append("the stretch")
    finally:
        stop.set()
        other.join()
    assert done == ["the stretch"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("name, data", [
    ("cut.jsonl.gz", gzip.compress(b'{"a":1}\n', mtime=0)[:15]),  # the stream ends inside its header
    ("bad.jsonl.gz", gzip.compress(b"", mtime=0)[:10] + b"not deflate"),
    ("bad.jsonl.bz2", b"BZh9" + b"\x00" * 40),
])
def test_a_damaged_compressed_file_is_routed_whole_not_an_internal_error(here, name, data):
    # was EOFError, zlib.error or OSError out of `ccaudit spark`: "internal error", exit 70; read
    # whole, it is reported as a local load reports it
    Path(name).write_bytes(data)
    assert line_mode(None, os.path.abspath(name), name)[0] is False  # (lines, binary)


@pytest.mark.parametrize("stop", [RuntimeError("Spark failed"), KeyboardInterrupt()])
def test_a_failed_run_keeps_a_store_another_command_filled_meanwhile(here, monkeypatch, stop):
    # was: the run, which had made the store, deleted it as it failed or was stopped, with the
    # events a load put in it meanwhile (and told the load they were kept)
    from click.testing import CliRunner

    from ccaudit import spark
    from ccaudit.cli import cli
    from ccaudit.load import load_dumps
    from ccaudit.store import Store
    from tests.records import request, write_jsonl

    dump = write_jsonl(Path("."), [request(id="e1"), request(id="e2")])
    Path("archive.jsonl").write_bytes(Path(dump).read_bytes())

    def run(inputs, store, **options):
        other = Store("s.db")  # another command's load, while Spark runs
        try:
            assert load_dumps([dump], other, workers=0).inserted == 2
        finally:
            other.close()
        raise stop

    monkeypatch.setattr(spark, "require", lambda: None)
    monkeypatch.setattr(spark, "run", run)
    result = CliRunner().invoke(cli, ["spark", "archive.jsonl", "--db", "s.db"])
    assert result.exit_code in (70, 130), result.stderr
    reader = Store("s.db", readonly=True)
    try:
        assert reader.event_count() == 2
    finally:
        reader.close()


def test_a_failed_run_removes_the_store_it_made(here, monkeypatch):
    from click.testing import CliRunner

    from ccaudit import spark
    from ccaudit.cli import cli

    Path("archive.jsonl").write_text("{}\n")
    monkeypatch.setattr(spark, "require", lambda: None)
    monkeypatch.setattr(spark, "run", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("Spark failed")))
    result = CliRunner().invoke(cli, ["spark", "archive.jsonl", "--db", "s.db"])
    assert result.exit_code == 70 and not Path("s.db").exists(), result.stderr


def test_a_damaged_file_read_by_a_spark_task_is_a_damaged_input_on_the_driver(tmp_path, sample_cli):
    # a block's summary carried its first problems only, as (position, why): the driver took
    # a checksum that failed for a stream cut short, and the load exited 0
    from ccaudit.ingest import Dump, read_rows
    from ccaudit.spark_job import load_stats, summary
    from ccaudit.stats import LoadStats

    packed = bytearray(gzip.compress(sample_cli.read_bytes() * 20, 0))
    packed[len(packed) // 2] ^= 0x04  # in gzip's stored data: only its CRC tells
    damaged = tmp_path / "d.gz"
    damaged.write_bytes(packed)
    task = LoadStats()  # what a task that reads the whole file counts
    rows = list(read_rows(Dump(str(damaged)), task))
    stats = load_stats([str(damaged)], {(0, 0): summary(task)}, [False])
    assert rows and list(stats.damaged) == [str(damaged)] and stats.input_error
    assert (stats.records_read, stats.malformed) == (task.records_read, task.malformed)


def test_an_empty_name_is_refused_as_empty():
    # an unset variable in a cron line: was ": no such file"
    with pytest.raises(InputError, match="name is empty"):
        local_files("")

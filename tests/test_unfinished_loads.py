"""A load killed part way leaves part of its records in the store: reading commands say so,
`check --strict` fails on it, and loading the same dumps again clears it. (tests/test_faults.py
kills real loads at many points; here a load's note is left as a kill leaves it.)"""
from __future__ import annotations

import errno
import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from ccaudit import loadnotes, storelock
from ccaudit.errors import broken_stream
from ccaudit.load import load_dumps
from ccaudit.report import build
from ccaudit.schema import LAYOUT_VERSION
from ccaudit.stats import LoadStats
from ccaudit.store import Store
from tests.conftest import FIXTURES
from tests.records import json_line, kafka_auth

WEEK2 = FIXTURES / "sample-week2.jsonl"


def killed_after_a_commit(db, dump) -> None:
    """What a load of ``dump`` (or of a list of dumps) killed after its first commit leaves: its note, and no end."""
    s = Store(str(db))
    try:
        s.begin_load(list(map(str, dump if isinstance(dump, list) else [dump])))
    finally:
        s.close()


def a_store_and_a_killed_load(invoke, tmp_path, sample_cli):
    """A store of the sample, and the note of a load of WEEK2 killed after its first commit."""
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    killed_after_a_commit(db, WEEK2)
    return db


def test_reading_commands_say_a_load_did_not_end(invoke, tmp_path, sample_cli):
    # was: a report of the part a killed load had committed looked whole, exit 0
    db = a_store_and_a_killed_load(invoke, tmp_path, sample_cli)
    for command in (["summary", "--db", db], ["report", "--db", db], ["methods", "--db", db], ["diff", db, db]):
        result = invoke(*command)
        assert result.exit_code == 0, result.stderr
        told = [line for line in result.stderr.splitlines() if "did not end" in line]
        assert len(told) == 1, (command, result.stderr)  # (diff reads one store once, for both sides)
        assert told[0].startswith(f"ccaudit: warning: {db}: a load of {WEEK2}, begun ")
        assert "did not end (interrupted, killed, or stopped by a full disk)" in told[0]  # was: no "interrupted"
        assert told[0].endswith(f"load the same dumps again to complete it (if they are gone: ccaudit clean --db "
                                f"{db} --unfinished)")
    doc = json.loads(invoke("summary", "--db", db, "--format", "json").stdout)
    assert [load["inputs"] for load in doc["unfinished_loads"]] == [[str(WEEK2)]]
    doc = json.loads(invoke("methods", "--db", db, "--format", "json").stdout)  # was: not in it
    assert [load["inputs"] for load in doc["unfinished_loads"]] == [[str(WEEK2)]]


def test_a_store_opened_to_load_into_knows_the_loads_that_did_not_end(invoke, tmp_path, sample_cli):
    # was: only a store opened read-only listed them, so a program's report of one it loads into looked whole
    db = a_store_and_a_killed_load(invoke, tmp_path, sample_cli)
    with Store(str(db)) as store:
        assert [load["inputs"] for load in store.unfinished] == [[str(WEEK2)]]
        assert [load["inputs"] for load in build(store).unfinished] == [[str(WEEK2)]]
        assert store.unfinished[0]["running"] is False  # its own hold is not another's load


def test_check_strict_fails_on_a_load_that_did_not_end(invoke, tmp_path, sample_cli):
    db = a_store_and_a_killed_load(invoke, tmp_path, sample_cli)
    assert invoke("check", "--db", db, "--max", "*:*=1000/h").exit_code == 0
    result = invoke("check", "--db", db, "--max", "*:*=1000/h", "--strict")
    assert result.exit_code == 1
    assert "FAIL: no breaches, but the store holds part of 1 unfinished load (--strict)" in result.stdout
    doc = json.loads(invoke("check", "--db", db, "--max", "*:*=1000/h", "--strict", "--format", "json").stdout)
    assert doc["ok"] is False and [load["inputs"] for load in doc["checked"]["unfinished_loads"]] == [[str(WEEK2)]]


def test_loading_the_same_dumps_again_clears_it_and_other_dumps_do_not(invoke, tmp_path, sample_cli, monkeypatch):
    db = a_store_and_a_killed_load(invoke, tmp_path, sample_cli)
    result = invoke("load", sample_cli, "--db", db, "-q")  # not the dump that was cut short: it says so
    assert result.exit_code == 0 and "did not end" in result.stderr
    assert "did not end" in invoke("summary", "--db", db).stderr
    (tmp_path / "elsewhere").mkdir()  # a file of the same name elsewhere is another dump
    (tmp_path / "elsewhere" / WEEK2.name).write_bytes(WEEK2.read_bytes()[:300])
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert invoke("load", WEEK2.name, "--db", db, "-q").exit_code in (0, 2)
    assert "did not end" in invoke("summary", "--db", db).stderr
    monkeypatch.chdir(WEEK2.parent)  # the same file, named otherwise
    assert invoke("load", f"./{WEEK2.name}", sample_cli, "--db", db, "-q").exit_code == 0
    result = invoke("summary", "--db", db, "--format", "json")
    assert "did not end" not in result.stderr and json.loads(result.stdout)["unfinished_loads"] == []


def test_a_load_that_could_not_open_the_dump_does_not_complete_it(invoke, tmp_path, sample_cli):
    db, cut = tmp_path / "s.db", tmp_path / "cut.jsonl"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    cut.write_bytes(WEEK2.read_bytes())
    killed_after_a_commit(db, cut)
    cut.unlink()
    cut.mkdir()  # (its name, not its file)
    assert invoke("load", cut, "--db", db, "-q").exit_code == 2
    assert "did not end" in invoke("summary", "--db", db).stderr


@pytest.mark.parametrize("kind", ["cut", "damaged"])
def test_a_reload_of_a_dump_cut_short_or_damaged_completes_it(invoke, tmp_path, sample_cli, kind):
    # was: never, since a cut dump is never read to its end: every later read said the store
    # was incomplete, and advised the reload that did not complete it (check --strict: exit 1)
    db, dump = tmp_path / "s.db", tmp_path / "d.jsonl.gz"
    packed = gzip.compress(WEEK2.read_bytes() * 40)
    if kind == "cut":
        dump.write_bytes(packed[:len(packed) * 2 // 3])
    else:  # its CRC flipped: every record is read, then the check fails
        dump.write_bytes(packed[:-8] + bytes([packed[-8] ^ 1]) + packed[-7:])
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    killed_after_a_commit(db, dump)
    result = invoke("load", dump, "--db", db)
    said = "input ends early" if kind == "cut" else "the compressed data is damaged"
    assert result.exit_code == (0 if kind == "cut" else 2) and f"{dump}@end: {said}" in result.stderr, result.stderr
    result = invoke("summary", "--db", db, "--format", "json")
    assert "did not end" not in result.stderr and json.loads(result.stdout)["unfinished_loads"] == []


def test_a_reload_of_a_dump_of_no_record_completes_it(invoke, tmp_path, sample_cli):
    # a consume command's dump of a quiet window (noise lines only), loaded with others: was
    # never completed (an input of no record is an input error), so the store read as
    # incomplete for good, every reload advised in vain
    db, quiet = tmp_path / "s.db", tmp_path / "quiet.txt"
    quiet.write_bytes(b"% Headers: []\n\n% Reached end of topic\n")
    killed_after_a_commit(db, [sample_cli, quiet])
    result = invoke("load", sample_cli, quiet, "--db", db)
    assert result.exit_code == 2 and f"{quiet}: no audit record could be read" in result.stderr, result.stderr
    result = invoke("summary", "--db", db, "--format", "json")
    assert "did not end" not in result.stderr and json.loads(result.stdout)["unfinished_loads"] == []


def test_a_dump_shorter_than_when_the_load_began_does_not_complete_it(invoke, tmp_path, sample_cli):
    # was: cleared by a copy cut at a line (read to its end, its first 64 KiB as before), which
    # lacks the records past its end that the killed load may not have reached
    db, dump = tmp_path / "s.db", tmp_path / "d.jsonl"
    dump.write_bytes(WEEK2.read_bytes() * 20)
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    killed_after_a_commit(db, dump)
    dump.write_bytes(WEEK2.read_bytes() * 15)  # (over 64 KiB: the same first bytes)
    assert invoke("load", dump, "--db", db, "-q").exit_code == 0
    assert "did not end" in invoke("summary", "--db", db).stderr
    dump.write_bytes(WEEK2.read_bytes() * 21)  # as long, or longer: all the killed load could read
    assert invoke("load", dump, "--db", db, "-q").exit_code == 0
    assert "did not end" not in invoke("summary", "--db", db).stderr


def test_a_read_error_or_a_change_of_size_is_a_break_a_read_again_may_not_meet():
    assert broken_stream(OSError(errno.EIO, "Input/output error"))[2] is False
    assert broken_stream(EOFError("Compressed file ended before the end-of-stream marker was reached"))[2] is True
    assert broken_stream(gzip.BadGzipFile("Not a gzipped file (b'xx')"))[2] is True
    stats = LoadStats()
    stats.changed_size("grew", 10, 20)
    stats.cut_short("cut", "@end", "input ends early")
    assert (stats.read_all_it_holds("grew"), stats.read_all_it_holds("cut")) == (False, True)


@pytest.mark.parametrize("lasting", [False, True])
def test_a_read_error_met_in_a_parse_worker_is_one_a_read_again_may_not_meet(lasting):
    # was: handed to the main process as (position, why, damaged), so an EIO that stopped a
    # worker's read of a large document completed the note of a killed load of it
    worker = LoadStats()
    worker.cut_short("", "@end", "input ends early ([Errno 5] Input/output error)", lasting=lasting)
    problems, cut = worker.part()
    main = LoadStats()
    main.add_part("d.json", 0, 0, 0, 1, problems, cut)
    assert (main.read_all_it_holds("d.json"), main.cut_lines()) == (lasting, [
        "d.json@end: input ends early ([Errno 5] Input/output error)"])


def test_a_report_after_a_load_says_an_earlier_load_did_not_end(invoke, tmp_path, sample_cli):
    # was: a command that loads and then reports held the store as a writer, and said nothing
    db = a_store_and_a_killed_load(invoke, tmp_path, sample_cli)
    result = invoke("report", sample_cli, "--db", db, "-q", "--format", "json")
    assert result.exit_code == 0 and "did not end" in result.stderr
    assert [load["inputs"] for load in json.loads(result.stdout)["summary"]["unfinished_loads"]] == [[str(WEEK2)]]
    assert invoke("check", sample_cli, "--db", db, "-q", "--max", "*:*=1000/h", "--strict").exit_code == 1


def test_a_load_that_ends_leaves_no_note(invoke, tmp_path, sample_cli):
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, WEEK2, "--db", db, "-q").exit_code == 0
    result = invoke("summary", "--db", db)
    assert result.exit_code == 0 and result.stderr == ""


def test_a_load_running_now_is_said_to_be_one_that_may_be_running(invoke, tmp_path, sample_cli):
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    with Store(str(db)) as writer, writer.holding():  # held as a load holds it, between its transactions
        writer.begin_load([str(WEEK2)])
        result = invoke("summary", "--db", db)
        assert result.exit_code == 0 and "has not ended (it may be running now)" in result.stderr
        assert "did not end" not in result.stderr
    assert "did not end" in invoke("summary", "--db", db).stderr  # once it is gone, it did not end


def test_a_killed_load_is_not_said_to_be_running_while_another_load_writes(invoke, tmp_path, sample_cli):
    # was "running" (and "it may be running now", not "load the same dumps again"): every note
    # was, while any command held the store
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()  # the id of a process that has ended
    note = {"began": "2024-05-13T06:00:00Z", "inputs": [str(WEEK2)], "files": ["-"], "where": loadnotes.here()}
    killed = (f"unfinished_load {gone}-00000000", json.dumps(note))
    elsewhere = {**note, "inputs": ["elsewhere.jsonl"], "where": "another-boot/4026531836"}  # another machine's:
    there = (f"unfinished_load {gone}-00000001", json.dumps(elsewhere))  # its id is not of a process here
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO meta (name, value) VALUES (?, ?)", [killed, there])
    conn.close()
    with Store(str(db)) as writer, writer.holding():  # another load, between its transactions
        writer.begin_load([str(sample_cli)])
        doc = json.loads(invoke("summary", "--db", db, "--format", "json").stdout)
        running = {load["inputs"][0]: load["running"] for load in doc["unfinished_loads"]}
        assert running == {str(WEEK2): False, str(sample_cli): True, "elsewhere.jsonl": True}
        told = invoke("summary", "--db", db).stderr
        assert f"a load of {WEEK2}, begun 2024-05-13T06:00:00Z, did not end" in told


def test_a_temporary_store_notes_no_load(tmp_path, sample_cli):
    s = Store(str(tmp_path / "t.db"), durable=False)
    try:
        load_dumps([str(sample_cli)], s, workers=0)
        assert s.conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 0
    finally:
        s.close()


def test_a_note_of_any_shape_is_read_without_an_error(invoke, tmp_path, sample_cli):
    # a hand-edited store: was an internal error (RecursionError) from every command
    import sqlite3

    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO meta VALUES ('unfinished_load 1-x', ?)", ("[" * 100_000,))
    result = invoke("summary", "--db", db)
    assert result.exit_code == 0 and "a load of dumps, begun ?, did not end" in result.stderr


@pytest.mark.parametrize("sizes", [None, 5, "abc", [], [1], [1, 2, 3], ["x"], {"a": 1}])
def test_a_note_of_odd_sizes_is_shown_whole_and_completed_by_the_same_file(invoke, tmp_path, sample_cli, sizes):
    # was: "sizes" not a list made the note unreadable ("a load of dumps, begun ?"), never
    # completed; and any note's sizes were shown in every JSON output's unfinished_loads
    db = tmp_path / "s.db"
    killed_after_a_commit(db, sample_cli)
    with sqlite3.connect(db) as conn:
        (name, value), = conn.execute("SELECT name, value FROM meta WHERE name LIKE 'unfinished_load %'")
        conn.execute("UPDATE meta SET value = ? WHERE name = ?", (json.dumps({**json.loads(value), "sizes": sizes}),
                                                                   name))
    loads = json.loads(invoke("summary", "--db", db, "--format", "json").stdout)["unfinished_loads"]
    assert [sorted(load) for load in loads] == [["began", "files", "inputs", "running"]]
    assert loads[0]["inputs"] == [str(sample_cli)]
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    assert json.loads(invoke("summary", "--db", db, "--format", "json").stdout)["unfinished_loads"] == []


def test_counts_made_elsewhere_drop_the_note_of_a_load_that_left_no_event(tmp_path):
    # ccaudit spark into a store a load was killed in before it loaded anything: the note
    # could never be completed (a store of counts takes no load)
    db = tmp_path / "s.db"
    killed_after_a_commit(db, WEEK2)
    s = Store(str(db))
    try:
        quarter = 1_714_953_600  # its start in epoch seconds; the times in µs
        s.add_counts([(quarter, "", "", "GetUsers", "u-1", 1, quarter * 10**6, quarter * 10**6)])
    finally:
        s.close()
    s = Store(str(db), readonly=True)
    try:
        assert s.unfinished == [] and s.counts_only()
    finally:
        s.close()


def test_clean_unfinished_forgets_the_notes_and_keeps_the_store(invoke, tmp_path, sample_cli):
    # a dump deleted since its load was killed: its warning, and check --strict's failure,
    # stayed for good
    db = a_store_and_a_killed_load(invoke, tmp_path, sample_cli)
    before = json.loads(invoke("summary", "--db", db, "--format", "json").stdout)
    assert before["unfinished_loads"]
    result = invoke("clean", "--db", db, "--unfinished", "--yes")
    assert result.exit_code == 0 and f"{db}: forgot 1 unfinished load (the store is kept)" in result.stderr
    after = invoke("summary", "--db", db, "--format", "json")
    assert after.stderr == "" and json.loads(after.stdout) == {**before, "unfinished_loads": []}
    assert invoke("check", "--db", db, "--max", "*:*=1000/h", "--strict").exit_code == 0



def test_clean_unfinished_without_a_store_asks_for_one(invoke):
    # was: "give --db STORE, --out DIR or both", though --out cannot go with --unfinished
    result = invoke("clean", "--unfinished")
    assert result.exit_code == 2 and result.stderr.endswith("--unfinished goes with --db STORE\n"), result.stderr


@pytest.mark.parametrize("layout, said", [(11, "a store of a newer ccaudit (layout 11"),
                                          (3, "a store of another ccaudit version (layout 3")])
def test_clean_unfinished_refuses_a_store_of_another_layout(invoke, tmp_path, sample_cli, layout, said):
    # was: a newer ccaudit's store written to ("forgot 0 unfinished loads", exit 0), and an
    # older one's "a store could not be read: no such table: meta", naming no file
    db = a_store_and_a_killed_load(invoke, tmp_path, sample_cli)
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {layout}")
    before = db.read_bytes()
    result = invoke("clean", "--db", db, "--unfinished", "--yes")
    assert result.exit_code == 2 and result.stderr.startswith(f"ccaudit: error: {db}: {said}")
    assert db.read_bytes() == before


@pytest.mark.parametrize("layout", [5, 7])
def test_clean_unfinished_brings_a_store_of_an_earlier_layout_forward_first(invoke, tmp_path, sample_cli, layout):
    # was: "a store of another ccaudit version (layout 5, this one reads 10); load the dumps
    # into a new store", though any other command brings it forward
    from tests.test_upgrade import as_layout

    db = a_store_and_a_killed_load(invoke, tmp_path, sample_cli)
    as_layout(db, layout)
    result = invoke("clean", "--db", db, "--unfinished", "--yes")
    assert result.exit_code == 0, result.stderr
    assert f"bringing it to layout {LAYOUT_VERSION} (once)" in result.stderr
    assert f"{db}: forgot 1 unfinished load (the store is kept)" in result.stderr
    summary = invoke("summary", "--db", db, "--format", "json")
    assert summary.stderr == "" and json.loads(summary.stdout)["unfinished_loads"] == []


def test_clean_unfinished_is_refused_while_a_command_writes_the_store(invoke, tmp_path, sample_cli):
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    with Store(str(db)) as writer, writer.holding():
        writer.begin_load([str(WEEK2)])
        result = invoke("clean", "--db", db, "--unfinished", "--yes")
        assert result.exit_code == 2 and "a ccaudit command is writing this store now" in result.stderr
    assert invoke("clean", "--unfinished", "--out", tmp_path / "r", "--yes").exit_code == 2


def test_a_new_dump_under_the_killed_loads_file_name_does_not_complete_it(invoke, tmp_path, sample_cli):
    # was: cleared, as the same file: a daily job's dump.txt of the next day hid the part of
    # a day that a killed load had left, and check --strict passed
    db, today = tmp_path / "s.db", tmp_path / "today.jsonl"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    today.write_bytes(WEEK2.read_bytes())
    killed_after_a_commit(db, today)
    today.write_bytes(sample_cli.read_bytes())  # the next day's dump
    assert invoke("load", today, "--db", db, "-q").exit_code == 0
    assert "did not end" in invoke("summary", "--db", db).stderr
    assert invoke("check", "--db", db, "--max", "*:*=1000/h", "--strict").exit_code == 1
    today.write_bytes(WEEK2.read_bytes())  # the killed load's dump again
    assert invoke("load", today, "--db", db, "-q").exit_code == 0
    assert invoke("summary", "--db", db).stderr == ""


@pytest.mark.parametrize("how", ["moved", "linked", "copied"])
def test_the_killed_loads_dump_moved_linked_or_copied_completes_it(invoke, tmp_path, how):
    # was: still "did not end", and check --strict failed for good: the note knew the file by its
    # path, where its records had not changed (an archive folder, a hard link)
    db, dump = tmp_path / "s.db", tmp_path / "dump.jsonl"
    dump.write_bytes(WEEK2.read_bytes())
    killed_after_a_commit(db, dump)
    (tmp_path / "archive").mkdir()
    there = tmp_path / "archive" / "2024-05-13.jsonl"
    {"moved": os.rename, "linked": os.link, "copied": shutil.copyfile}[how](dump, there)
    assert invoke("load", there, "--db", db, "-q").exit_code == 0
    assert invoke("summary", "--db", db).stderr == ""
    assert invoke("check", "--db", db, "--max", "*:*=1000/h", "--strict").exit_code == 0


def test_another_dump_that_begins_as_the_killed_loads_does_not_complete_it(invoke, tmp_path):
    # a day's dump and the next day's, both from one start of the topic: their first 64 KiB
    # are alike, their sizes not. Matched by its head alone, the second took the first's note
    shared = b"".join(json_line(kafka_auth("2024-05-06T07:00:00Z", id=f"s{i}")) for i in range(1000))
    db, first, second = tmp_path / "s.db", tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(shared + b"".join(json_line(kafka_auth("2024-05-07T07:00:00Z", id=f"a{i}")) for i in range(500)))
    second.write_bytes(shared + b"".join(json_line(kafka_auth("2024-05-08T07:00:00Z", id=f"b{i}")) for i in range(600)))
    assert len(shared) > loadnotes.HEAD
    killed_after_a_commit(db, first)
    assert invoke("load", second, "--db", db, "-q").exit_code == 0
    assert "did not end" in invoke("summary", "--db", db).stderr


def test_no_stream_completes_a_killed_load_of_a_stream(invoke, tmp_path, sample_cli):
    # was: any later load from stdin cleared the note of any killed one (both were "-")
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    killed_after_a_commit(db, "-")
    assert invoke("load", "-", "--db", db, "-q", input=WEEK2.read_bytes()).exit_code == 0
    told = [line for line in invoke("summary", "--db", db).stderr.splitlines() if "did not end" in line]
    assert len(told) == 1 and told[0].endswith(
        "the store may hold only part of its records; once its records are loaded again (nothing tells one stream, "
        f"folder or pattern from another), ccaudit clean --db {db} --unfinished")
    assert invoke("clean", "--db", db, "--unfinished", "--yes").exit_code == 0
    assert invoke("summary", "--db", db).stderr == ""


def test_a_note_of_an_earlier_version_is_completed_by_the_same_file(invoke, tmp_path, sample_cli):
    # its files are paths alone (a note now holds a digest of each file's start too): a first
    # version of the digests never completed it, though the warning said to load them again
    import sqlite3

    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO meta VALUES ('unfinished_load 1-x', ?)",
                     (json.dumps({"began": "2024-05-13T06:00:00Z", "inputs": [str(WEEK2)], "files": [str(WEEK2)]}),))
    assert "did not end" in invoke("summary", "--db", db).stderr
    assert invoke("load", WEEK2, "--db", db, "-q").exit_code == 0
    assert invoke("summary", "--db", db).stderr == ""


def first_versions_note(db, inputs: list[str]) -> None:
    """The note of a killed load as the first versions that kept notes wrote it: no files."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO meta VALUES ('unfinished_load 1-x', ?)",
                     (json.dumps({"began": "2024-05-13T06:00:00Z", "inputs": inputs}),))


def test_a_note_of_the_first_versions_that_kept_notes_is_shown_and_completed(invoke, tmp_path, sample_cli):
    # it has no "files", only the inputs as given: it was shown as "a load of dumps, begun ?",
    # and no load completed it
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    first_versions_note(db, [str(WEEK2)])
    told = [line for line in invoke("summary", "--db", db).stderr.splitlines() if "did not end" in line]
    assert len(told) == 1 and told[0].startswith(f"ccaudit: warning: {db}: a load of {WEEK2}, begun "
                                                 "2024-05-13T06:00:00Z, did not end")
    assert told[0].endswith("load the same dumps again to complete it (if they are gone: ccaudit clean --db "
                            f"{db} --unfinished)")
    assert invoke("load", str(WEEK2), "--db", db, "-q").exit_code == 0
    assert invoke("summary", "--db", db).stderr == ""


@pytest.mark.parametrize("given", ["sample-week2.jsonl", "/dev/stdin"])
def test_a_first_versions_note_of_a_relative_name_or_a_stream_is_not_completed_by_a_file(invoke, tmp_path,
                                                                                          sample_cli, monkeypatch,
                                                                                          given):
    # a relative name was relative to the killed load's folder, which the note does not say:
    # another folder's file of that name is not its dump
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    first_versions_note(db, [given])
    monkeypatch.chdir(WEEK2.parent)
    assert invoke("load", WEEK2.name, "--db", db, "-q").exit_code == 0
    told = [line for line in invoke("summary", "--db", db).stderr.splitlines() if "did not end" in line]
    assert len(told) == 1 and told[0].startswith(f"ccaudit: warning: {db}: a load of {given}, begun ")
    assert "once its records are loaded again (nothing tells one stream, folder or pattern from another)" in told[0]


def test_a_dump_renamed_over_the_one_loaded_does_not_complete_its_note(tmp_path, sample_cli, monkeypatch):
    # was: the file's start was read again by its name as the load ended: a killed load's
    # dump, renamed over the one just loaded, was taken as loaded
    from ccaudit import load as load_module

    db, path, again = tmp_path / "s.db", tmp_path / "dump.jsonl", tmp_path / "again.jsonl"
    path.write_bytes(WEEK2.read_bytes())
    killed_after_a_commit(db, path)
    again.write_bytes(WEEK2.read_bytes())
    path.write_bytes(sample_cli.read_bytes())
    real = load_module._load_shape

    def renamed_after(*args, **kwargs):
        real(*args, **kwargs)
        os.replace(again, path)
    monkeypatch.setattr(load_module, "_load_shape", renamed_after)
    store = Store(str(db))
    try:
        load_dumps([str(path)], store, workers=0)
    finally:
        store.close()
    store = Store(str(db), readonly=True)
    try:
        assert [load["inputs"] for load in store.unfinished] == [[str(path)]]
    finally:
        store.close()


def test_a_killed_load_of_standard_input_is_named_so(invoke, tmp_path, sample_cli):
    # was: "a load of -, begun ..."
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    killed_after_a_commit(db, "-")
    told = [line for line in invoke("summary", "--db", db).stderr.splitlines() if "did not end" in line]
    assert len(told) == 1 and told[0].startswith(f"ccaudit: warning: {db}: a load of standard input, begun ")
    assert "once its records are loaded again (nothing tells one stream, folder or pattern from another)" in told[0]


KILLED_ONCE_THE_STORE_IS_MADE = """\
import os, sys
from ccaudit import load
load.load_dumps = lambda *args, **kw: os._exit(137)  # a kill between the store's making and the load's note
from ccaudit.__main__ import main
sys.exit(main())
"""


def test_a_load_killed_once_its_new_store_is_made_is_said_not_to_have_ended(invoke, tmp_path, sample_cli):
    # was an empty store that read as whole: 0 events, exit 0, no warning (15 kills in 40 fell there)
    import subprocess
    import sys

    db, script = tmp_path / "s.db", tmp_path / "ccaudit"
    script.write_text(KILLED_ONCE_THE_STORE_IS_MADE)
    killed = subprocess.run([sys.executable, script, "load", sample_cli, "--db", db, "-q"], capture_output=True)
    assert killed.returncode == 137 and db.exists()
    summary = invoke("summary", "--db", db)
    assert summary.exit_code == 0 and f"a load of {sample_cli}" in summary.stderr and "did not end" in summary.stderr
    assert invoke("check", "--db", db, "--max", "signin_failure:*=100/h", "--strict").exit_code == 1
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0  # the same load completes it
    assert "did not end" not in invoke("summary", "--db", db).stderr


def test_a_load_into_a_new_store_leaves_no_note_behind(invoke, tmp_path, sample_cli):
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM meta WHERE name LIKE 'unfinished_load %'").fetchone()[0] == 0
    assert invoke("summary", "--db", db).stderr == ""


def test_a_store_made_for_a_load_is_held_until_the_load_begins(tmp_path, sample_cli):
    # was let go as it was made: a read before the load began said the load, running, did not end
    db = str(tmp_path / "s.db")
    with Store(db, loading=[str(sample_cli)]) as store:
        with Store(db, readonly=True) as reader:
            assert [u["running"] for u in reader.unfinished] == [True]
        load_dumps([str(sample_cli)], store, workers=0)
        with Store(db, readonly=True) as reader:
            assert reader.unfinished == []
        with storelock.unheld(db):  # let go once the load ended, as any load's store is
            pass


def test_report_files_say_the_store_holds_part_of_a_load_that_did_not_end(invoke, tmp_path, sample_cli):
    # was: only stderr and JSON said so, and a report folder read later passed for a whole report
    db = a_store_and_a_killed_load(invoke, tmp_path, sample_cli)
    began = json.loads(invoke("summary", "--db", db, "--format", "json").stdout)["unfinished_loads"][0]["began"]
    said = (f"Incomplete: the store holds part of 1 load that had not ended ({WEEK2}, begun {began}): "
            "counts may be short")
    for fmt, name, shown, line in [("text", "summary.txt", said, 1), ("markdown", "summary.md", f"> {said}", 2),
                                   ("html", "report.html", f"<p><strong>{said}</strong></p>", None)]:
        out = tmp_path / fmt
        result = invoke("report", "--db", db, "--format", fmt, "--out", out)
        assert result.exit_code == 0, result.stderr
        assert shown in (out / name).read_text().splitlines(), fmt
        if line is not None:  # the summary on stdout too (html's is text)
            assert result.stdout.splitlines()[line] == shown, fmt
    whole = tmp_path / "whole.db"
    assert invoke("load", sample_cli, "--db", whole, "-q").exit_code == 0
    for fmt in ("text", "markdown", "html"):
        assert "Incomplete" not in invoke("report", "--db", whole, "--format", fmt).stdout


def test_check_diff_and_methods_say_on_stdout_the_store_holds_part_of_a_load(invoke, tmp_path, sample_cli):
    # was: "OK: no breaches; checked 1 rule against 14 events", and diff's and methods' tables,
    # as if of a whole store: only stderr, which a CI job may not keep, and JSON said so
    db = a_store_and_a_killed_load(invoke, tmp_path, sample_cli)
    whole = tmp_path / "whole.db"
    assert invoke("load", sample_cli, "--db", whole, "-q").exit_code == 0
    began = json.loads(invoke("summary", "--db", db, "--format", "json").stdout)["unfinished_loads"][0]["began"]
    said = (f"Incomplete: the store holds part of 1 load that had not ended ({WEEK2}, begun {began}): "
            "counts may be short")
    for args, line in [(["check", "--db", db, "--max", "all_events:*=1000/d"], 1),
                       (["check", "--db", db, "--max", "all_events:*=1/d"], 1), (["methods", "--db", db], 0),
                       (["diff", whole, db], 3), (["diff", db, whole, "--format", "markdown"], 7)]:
        result = invoke(*args)
        assert result.exit_code in (0, 1) and "Traceback" not in result.output, (args, result.output)
        shown = f"{'> ' * (args[-1] == 'markdown')}{'B' if args[1] == whole else 'A'} = {db}: {said}" \
            if args[0] == "diff" else said
        assert result.stdout.splitlines()[line] == shown, (args, result.stdout)
        assert invoke(*[whole if a == db else a for a in args]).stdout.count("Incomplete") == 0


def test_the_loads_a_report_file_names_are_printable(tmp_path, sample_cli):
    from ccaudit.render import render_summary
    db = tmp_path / "s.db"
    with Store(str(db)) as store:
        load_dumps([str(sample_cli)], store, workers=0)
    killed_after_a_commit(db, tmp_path / "a\x1b[2Jb.json")
    with Store(str(db), readonly=True) as store:
        text = render_summary(build(store), "text")
    assert "a\\x1b[2Jb.json, begun " in text.splitlines()[1] and "\x1b" not in text


def test_a_report_file_says_a_load_may_be_running(invoke, tmp_path, sample_cli):
    # was: "did not end", for a load running as the report was written
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    with Store(str(db)) as writer, writer.holding():  # held as a load holds it, between its transactions
        writer.begin_load([str(WEEK2)])
        line = invoke("report", "--db", db).stdout.splitlines()[1]
    assert line.startswith(f"Incomplete: the store holds part of 1 load that had not ended ({WEEK2}, begun ")
    assert line.endswith(", running): counts may be short")


@pytest.mark.parametrize("fmt", ["text", "markdown", "json", "csv"])
def test_each_file_of_a_report_folder_says_a_load_did_not_end(invoke, tmp_path, sample_cli, fmt):
    # was: only the summary said so; a day's or a section's file read on its own looked whole
    db = a_store_and_a_killed_load(invoke, tmp_path, sample_cli)
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert invoke("report", sample_cli, "-q", "--out", whole, "--format", fmt).exit_code == 0
    assert invoke("report", "--db", db, "--out", part, "--format", fmt).exit_code == 0
    files = sorted(p.relative_to(whole) for p in whole.rglob("*.*") if p.name[:4] == "2024")
    assert len(files) == 4 * 5 + 4  # four days, each its five sections' files and its own
    said = f"Incomplete: the store holds part of 1 load that had not ended ({WEEK2}, begun "
    for name in files:
        was, now = (whole / name).read_text(), (part / name).read_text()
        if fmt == "csv":  # no place for it
            assert now == was
        elif fmt == "json":
            doc, before = json.loads(now), json.loads(was)  # (both keys always there: was, only when not empty)
            assert [load["inputs"] for load in doc.pop("unfinished_loads")] == [[str(WEEK2)]]
            assert list(before)[:2] == ["selected", "unfinished_loads"] and before.pop("unfinished_loads") == []
            assert doc == before and now.startswith('{\n  "selected": [],\n  "unfinished_loads": [\n    {\n')
        else:  # its first line, once; then the file as it was
            head, rest = now.split("\n\n", 1)
            assert head.startswith(("> " if fmt == "markdown" else "") + said)
            assert head.endswith("): counts may be short") and rest == was and said not in rest

"""A load killed part way leaves part of its records in the store: reading commands say so,
`check --strict` fails on it, and loading the same dumps again clears it. (tests/test_faults.py
kills real loads at many points; here a load's note is left as a kill leaves it.)"""
from __future__ import annotations

import json

from ccaudit.load import load_dumps
from ccaudit.store import Store
from tests.conftest import FIXTURES

WEEK2 = FIXTURES / "sample-week2.jsonl"


def killed_after_a_commit(db, dump) -> None:
    """What a load of ``dump`` killed after its first commit leaves: its note, and no end."""
    s = Store(str(db))
    try:
        s.begin_load([str(dump)])
    finally:
        s.close()


def test_reading_commands_say_a_load_did_not_end(invoke, tmp_path, sample_cli):
    # was: a report of the part a killed load had committed looked whole, exit 0
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    killed_after_a_commit(db, WEEK2)
    for command in (["summary", "--db", db], ["report", "--db", db], ["methods", "--db", db], ["diff", db, db]):
        result = invoke(*command)
        assert result.exit_code == 0, result.stderr
        told = [line for line in result.stderr.splitlines() if "did not end" in line]
        assert len(told) == 1, (command, result.stderr)  # (diff reads one store once, for both sides)
        assert told[0].startswith(f"ccaudit: warning: {db}: a load of {WEEK2}, begun ")
        assert told[0].endswith("load the same dumps again to complete it")
    doc = json.loads(invoke("summary", "--db", db, "--format", "json").stdout)
    assert [load["inputs"] for load in doc["unfinished_loads"]] == [[str(WEEK2)]]


def test_check_strict_fails_on_a_load_that_did_not_end(invoke, tmp_path, sample_cli):
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    killed_after_a_commit(db, WEEK2)
    assert invoke("check", "--db", db, "--max", "*:*=1000/h").exit_code == 0
    result = invoke("check", "--db", db, "--max", "*:*=1000/h", "--strict")
    assert result.exit_code == 1
    assert "FAIL: no breaches, but the store holds part of 1 load that did not end (--strict)" in result.stdout
    doc = json.loads(invoke("check", "--db", db, "--max", "*:*=1000/h", "--strict", "--format", "json").stdout)
    assert doc["ok"] is False


def test_loading_the_same_dumps_again_clears_it_and_other_dumps_do_not(invoke, tmp_path, sample_cli):
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    killed_after_a_commit(db, WEEK2)
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0  # not the dump that was cut short
    assert "did not end" in invoke("summary", "--db", db).stderr
    assert invoke("load", WEEK2, sample_cli, "--db", db, "-q").exit_code == 0
    result = invoke("summary", "--db", db, "--format", "json")
    assert "did not end" not in result.stderr and "unfinished_loads" not in json.loads(result.stdout)


def test_a_load_that_ends_leaves_no_note(invoke, tmp_path, sample_cli):
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, WEEK2, "--db", db, "-q").exit_code == 0
    result = invoke("summary", "--db", db)
    assert result.exit_code == 0 and result.stderr == ""


def test_a_load_running_now_is_not_taken_for_one_that_did_not_end(invoke, tmp_path, sample_cli):
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    writer = Store(str(db))  # holds the store as a load does, between its transactions
    try:
        writer.begin_load([str(WEEK2)])
        result = invoke("summary", "--db", db)
        assert result.exit_code == 0 and result.stderr == ""
    finally:
        writer.close()
    assert "did not end" in invoke("summary", "--db", db).stderr  # once it is gone, it did not end


def test_a_temporary_store_notes_no_load(tmp_path, sample_cli):
    s = Store(str(tmp_path / "t.db"), durable=False)
    try:
        load_dumps([str(sample_cli)], s, workers=0)
        assert s.conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 0
    finally:
        s.close()

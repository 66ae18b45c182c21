"""The command line: through click's CliRunner (``invoke``) and as the installed executable
(``run_ccaudit``). Both fixtures fail a test on any traceback or "internal error" on stderr.
``clean`` has its own file, test_clean.py.

Contract pinned here: stdout holds the report only, the one-line load
summary and warnings go to stderr; exit 0 ok, 1 ``--strict`` with malformed lines (after
loading what was good), 2 usage errors, missing/unreadable files, directories and inputs in
which nothing could be parsed (the other inputs still load).
"""
from __future__ import annotations

import gzip
import json
import os
import random
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import pytest

from ccaudit.store import Store
from tests.records import T, json_line, json_lines, kafka_auth, numbered, signin

SUMMARY_FIRST = "Audit Summary for 13 events spanning 4 days from 2024-05-06"
LOAD_LINE = "loaded 14 records: 13 new, 1 duplicate; skipped 16 noise lines, 6 malformed"
LOAD_KEYS = ("records_read", "inserted", "duplicates", "noise_lines", "malformed")


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def report_json(invoke, *args, input=None, code=0) -> dict:
    result = invoke("report", *args, "--format", "json", "--quiet", input=input)
    assert result.exit_code == code, result.stderr
    return json.loads(result.stdout)


def load_counts(doc) -> tuple:
    return tuple(doc["summary"]["load"][k] for k in LOAD_KEYS)


rec = numbered("cli-", time="2024-05-10T10:00:00Z")  # {"id": "cli-<n>", "time": ..., "data": {"methodName": ...}}


# -- stdout and stderr ------------------------------------------------------------------


def test_report_stdout_is_the_report_and_stderr_the_summary(invoke, sample_cli):
    result = invoke("report", sample_cli)
    assert result.exit_code == 0
    assert result.stdout.startswith(SUMMARY_FIRST + "\n")
    assert "ccaudit:" not in result.stdout and "malformed" not in result.stdout
    err = stderr_lines(result)
    # one warning per malformed line with file:line, then the one-line summary
    assert err[:-1] == [line for line in err if "malformed:" in line]
    assert [line.split(": ")[2].rsplit(":", 1)[1] for line in err[:-1]] == ["31", "32", "33", "34", "35", "36"]
    assert all(f"{sample_cli}:" in line for line in err[:-1])
    assert err[-1].startswith(f"ccaudit: {LOAD_LINE}")
    assert f"{sample_cli}:31" in err[-1]


def test_quiet_leaves_only_the_summary_line(invoke, sample_cli):
    result = invoke("report", sample_cli, "--quiet")
    assert result.exit_code == 0
    (line,) = stderr_lines(result)
    assert line.startswith(f"ccaudit: {LOAD_LINE}")


def test_report_json_holds_the_hand_counts(invoke, sample_cli, expected_sample, report_cells):
    doc = report_json(invoke, sample_cli)
    assert doc["summary"]["per_day"] == expected_sample["per_day"]
    assert load_counts(doc) == (14, 13, 1, 16, 6)
    assert report_cells(doc) == expected_sample["cells"]


# -- every input shape ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sample-array.json.gz", "sample-pretty.json.bz2", "sample.jsonl.xz",
                                  "sample-prefixes.txt"])
def test_every_shape_gives_the_same_report(invoke, fixtures_dir, name, expected_sample, report_cells):
    doc = report_json(invoke, fixtures_dir / name)
    assert load_counts(doc) == (14, 13, 1, 0, 0)
    assert doc["summary"]["per_day"] == expected_sample["per_day"]
    assert report_cells(doc) == expected_sample["cells"]


def test_gzip_not_named_gz(invoke, tmp_path, sample_cli, expected_sample, report_cells):
    p = tmp_path / "audit-dump.txt"
    p.write_bytes(gzip.compress(sample_cli.read_bytes()))
    doc = report_json(invoke, p)
    assert load_counts(doc) == (14, 13, 1, 16, 6)
    assert report_cells(doc) == expected_sample["cells"]


def test_cut_pretty_dump(invoke, fixtures_dir, expected_sample, report_cells):
    doc = report_json(invoke, fixtures_dir / "sample-cut.json")
    assert load_counts(doc) == (14, 13, 1, 0, 1)
    assert report_cells(doc) == expected_sample["cells"]


def test_several_inputs_in_one_command(invoke, sample_cli, fixtures_dir, variants, expected_sample, report_cells):
    doc = report_json(invoke, sample_cli, *[fixtures_dir / v for v in variants])
    # 5 inputs x 14 records = 70 read; 13 distinct; noise and malformed from sample-cli.txt only
    assert load_counts(doc) == (70, 13, 57, 16, 6)
    assert report_cells(doc) == expected_sample["cells"]


def test_stdin(invoke, sample_cli, expected_sample, report_cells):
    doc = report_json(invoke, "-", input=sample_cli.read_bytes())
    assert load_counts(doc) == (14, 13, 1, 16, 6)
    assert doc["summary"]["load"]["malformed_lines"] == [f"<stdin>:{n}" for n in range(31, 37)]
    assert report_cells(doc) == expected_sample["cells"]


def test_stdin_compressed(invoke, fixtures_dir, expected_sample, report_cells):
    doc = report_json(invoke, "-", input=(fixtures_dir / "sample.jsonl.xz").read_bytes())
    assert load_counts(doc) == (14, 13, 1, 0, 0)
    assert report_cells(doc) == expected_sample["cells"]


@pytest.mark.parametrize("command", [["report", "-", "-"], ["load", "-", "-", "--db", "DB"], ["methods", "-", "-"],
                                     ["diff", "-", "-"], ["diff", "--a", "-", "--b", "-"]])
def test_stdin_named_twice_is_refused_as_diff_refused_it(invoke, tmp_path, sample_cli, command):
    # report and load took the second "-" as read, reading nothing: exit 0, the load line
    # counting two inputs
    args = [str(tmp_path / "s.db") if a == "DB" else a for a in command]
    result = invoke(*args, "-q", input=sample_cli.read_bytes())
    assert (result.exit_code, result.stderr) == (2, "ccaudit: error: stdin (-) can be read only once\n")
    assert not (tmp_path / "s.db").exists()


def test_stdin_and_a_file(invoke, tmp_path, sample_cli):
    other = tmp_path / "other.jsonl"
    other.write_bytes(json_lines([rec(1), rec(2)]))
    doc = report_json(invoke, other, "-", input=sample_cli.read_bytes())
    assert load_counts(doc) == (16, 15, 1, 16, 6)
    assert doc["summary"]["per_day"]["2024-05-10"] == 2


# -- the store across runs ----------------------------------------------------------------


def test_loading_twice_adds_nothing(invoke, tmp_path, sample_cli):
    db = tmp_path / "audit.db"
    first = invoke("load", sample_cli, "--db", db, "-q")
    assert first.exit_code == 0 and stderr_lines(first)[-1].startswith(f"ccaudit: {LOAD_LINE}")
    assert first.stdout == ""
    second = invoke("load", sample_cli, "--db", db, "-q", "--format", "json")
    assert second.exit_code == 0
    doc = json.loads(second.stdout)
    assert {k: doc[k] for k in LOAD_KEYS} == {"records_read": 14, "inserted": 0, "duplicates": 14,
                                              "noise_lines": 16, "malformed": 6}
    assert doc["malformed_lines"] == [f"{sample_cli}:{n}" for n in range(31, 37)]
    assert "loaded 14 records: 0 new, 14 duplicates" in second.stderr


def test_report_with_db_reports_the_whole_store(invoke, tmp_path, sample_cli):
    db = tmp_path / "audit.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    other = tmp_path / "later.jsonl"
    other.write_bytes(json_lines([rec(1, "2024-05-11T03:00:00Z"), rec(2, "2024-05-11T03:30:00Z")]))
    doc = report_json(invoke, other, "--db", db)
    # 13 from the earlier load + 2 now; 05-10 is a gap day between them
    assert doc["summary"]["events"] == 15
    assert doc["summary"]["per_day"] == {"2024-05-06": 7, "2024-05-07": 5, "2024-05-08": 0, "2024-05-09": 1,
                                         "2024-05-10": 0, "2024-05-11": 2}
    assert load_counts(doc) == (2, 2, 0, 0, 0)


def test_report_from_the_store_alone(invoke, tmp_path, sample_cli, expected_sample, report_cells):
    db = tmp_path / "audit.db"
    invoke("load", sample_cli, "--db", db, "-q")
    result = invoke("report", "--db", db, "--format", "json")
    assert result.exit_code == 0 and result.stderr == ""
    doc = json.loads(result.stdout)
    assert "load" not in doc["summary"]
    assert report_cells(doc) == expected_sample["cells"]


def test_summary(invoke, tmp_path, sample_cli):
    db = tmp_path / "audit.db"
    invoke("load", sample_cli, "--db", db, "-q")
    result = invoke("summary", "--db", db)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == SUMMARY_FIRST
    assert [line.split(")", 1)[0] + ")" for line in lines[1:]] == [
        "2024-05-06:(7 events)", "2024-05-07:(5 events)", "2024-05-08:(0 events)", "2024-05-09:(1 event)"]
    # the day's first and last event (UTC) follow the count
    assert lines[1].startswith("2024-05-06:(7 events)  07:08:09 .. 23:59:59")


def test_summary_json(invoke, tmp_path, sample_cli, expected_sample):
    db = tmp_path / "audit.db"
    invoke("load", sample_cli, "--db", db, "-q")
    doc = json.loads(invoke("summary", "--db", db, "--format", "json").stdout)
    assert doc["events"] == 13 and doc["per_day"] == expected_sample["per_day"]
    # what the text shows beside each date (conftest's hand count): first and last event, empty hours
    hours = [f"{h:02d}" for h in range(24)]
    assert doc["coverage"] == {
        "2024-05-06": {"first_event": "2024-05-06T07:08:09.123000Z", "last_event": "2024-05-06T23:59:59.999999Z",
                       "empty_hours": [h for h in hours if h not in ("07", "08", "09", "23")]},
        "2024-05-07": {"first_event": "2024-05-07T00:00:00Z", "last_event": "2024-05-07T05:50:00.123456Z",
                       "empty_hours": [h for h in hours if h not in ("00", "05")]},
        "2024-05-08": {"first_event": None, "last_event": None, "empty_hours": hours},
        "2024-05-09": {"first_event": "2024-05-09T12:00:00Z", "last_event": "2024-05-09T12:00:00Z",
                       "empty_hours": [h for h in hours if h != "12"]}}


def test_summary_of_a_missing_store(invoke, tmp_path):
    result = invoke("summary", "--db", tmp_path / "nope.db")
    assert result.exit_code == 2
    assert not (tmp_path / "nope.db").exists()


@pytest.mark.parametrize("what", ["directory", "other-sqlite", "not-sqlite"])
def test_db_that_is_not_a_store(invoke, tmp_path, sample_cli, what):
    db = tmp_path / "thing.db"
    if what == "directory":
        db.mkdir()
    elif what == "other-sqlite":
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE customers (name TEXT)")
        conn.commit()
        conn.close()
    else:
        db.write_bytes(b"plain text, not a database\n" * 50)
    before = db.read_bytes() if db.is_file() else None
    for args in (["load", sample_cli, "--db", db], ["report", sample_cli, "--db", db], ["summary", "--db", db]):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert result.stdout == ""
    if before is not None:
        assert db.read_bytes() == before


@pytest.mark.parametrize("command", ["report", "load", "check", "methods", "summary"])
@pytest.mark.parametrize("what", ["store", "other-sqlite"])
def test_a_store_given_as_a_dump_is_named_not_read(invoke, tmp_path, sample_cli, command, what):
    # read as a dump, an SQLite file gave a line of malformed records for each line of it
    db = tmp_path / "audit.db"
    if what == "store":
        invoke("load", sample_cli, "--db", db, "-q")
    else:
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE customers (name TEXT)")
        conn.commit()
        conn.close()
    before = db.read_bytes()
    result = invoke(command, db, *(["--db", tmp_path / "new.db"] if command == "load" else []))
    assert result.exit_code == 2 and result.stdout == ""
    if command == "summary":  # a usage error
        assert stderr_lines(result)[-1].endswith(f"for a store: ccaudit summary --db {db}")
    else:
        expected = f"ccaudit: error: {db}: is an SQLite file, not a dump (a store is given with --db {db})"
        assert stderr_lines(result) == [expected]
    assert db.read_bytes() == before and not (tmp_path / "new.db").exists()


@pytest.mark.parametrize("command, name", [("report", "-"), ("load", "-"), ("report", "/dev/stdin")])
def test_a_store_through_a_pipe_is_said_to_be_one(tmp_path, sample_cli, ccaudit_exe, command, name):
    # was: its pages read as a dump, 55 malformed lines, then "no audit record could be read"
    db = tmp_path / "audit.db"
    assert subprocess.run([ccaudit_exe, "load", sample_cli, "--db", db, "-q"], timeout=60).returncode == 0
    result = subprocess.run([ccaudit_exe, command, name, *(["--db", tmp_path / "new.db"] if command == "load" else [])],
                            input=db.read_bytes(), capture_output=True, timeout=60)
    assert result.returncode == 2 and result.stdout == b""
    label = "<stdin>" if name == "-" else name
    assert result.stderr.decode().splitlines()[0] == (f"ccaudit: error: {label}: is an SQLite file, not a dump "
                                                      "(a store is given with --db)")
    assert b"malformed:" not in result.stderr


@pytest.mark.parametrize("command", ["report", "load"])
def test_two_stores_given_as_dumps_are_pointed_to_diff(invoke, sample_cli, tmp_path, command):
    # was: "(a store is given with --db a.db)", when two stores side by side are a diff
    a, b = tmp_path / "a.db", tmp_path / "my b.db"
    for db in (a, b):
        invoke("load", sample_cli, "--db", db, "-q")
    result = invoke(command, a, b, *(["--db", tmp_path / "new.db"] if command == "load" else []))
    assert result.exit_code == 2
    assert stderr_lines(result) == [f"ccaudit: error: {a}: is an SQLite file, not a dump (two stores are compared "
                                    f"with: ccaudit diff {a} '{b}')"]


def test_hints_of_a_store_given_as_a_dump_can_be_pasted(invoke, sample_cli, tmp_path, monkeypatch):
    # were "ccaudit diff -a.db b.db" (pasted: an option) and "--db my s.db" (two words)
    monkeypatch.chdir(tmp_path)
    for db in ("-a.db", "b.db", "my s.db"):
        invoke("load", sample_cli, "--db", f"./{db}", "-q")
    result = invoke("report", "--", "-a.db", "b.db")
    assert stderr_lines(result) == ["ccaudit: error: -a.db: is an SQLite file, not a dump (two stores are compared "
                                    "with: ccaudit diff -- -a.db b.db)"]
    result = invoke("report", "my s.db")
    assert stderr_lines(result) == ["ccaudit: error: my s.db: is an SQLite file, not a dump (a store is given with "
                                    "--db 'my s.db')"]


def test_a_dump_given_to_summary_is_pointed_to_report(invoke, sample_cli):
    result = invoke("summary", sample_cli)
    assert result.exit_code == 2
    assert stderr_lines(result)[-1].endswith(f"for a dump: ccaudit report {sample_cli}")


@pytest.mark.parametrize("command", ["summary", "clean"])
def test_a_hint_names_a_name_with_a_space_as_one_word(invoke, tmp_path, sample_cli, monkeypatch, command):
    # was "ccaudit report my dump.txt": pasted, two names
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my dump.txt").write_bytes(sample_cli.read_bytes())
    result = invoke(command, "my dump.txt")
    assert result.exit_code == 2
    assert stderr_lines(result)[-1].endswith("for a dump: ccaudit report 'my dump.txt'" if command == "summary" else
                                             "--db 'my dump.txt' (a store) or --out 'my dump.txt' (a report folder)")


def test_summarys_hint_names_a_dump_that_starts_with_a_dash_after_two(invoke, tmp_path, sample_cli, monkeypatch):
    # was "ccaudit report -w.txt": pasted, an option
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-w.txt").write_bytes(sample_cli.read_bytes())
    result = invoke("summary", "--", "-w.txt")
    assert result.exit_code == 2 and stderr_lines(result)[-1].endswith("for a dump: ccaudit report -- -w.txt")


@pytest.mark.parametrize("command", [["summary"], ["report"], ["load", "{dump}"], ["check", "--max", "*:*=1/h"]])
def test_a_dump_given_as_the_store_is_pointed_to_the_inputs(invoke, sample_cli, command):
    # was: "not a usable ccaudit store (file is not a database)", and no word of what to do
    args = [str(sample_cli) if a == "{dump}" else a for a in command]
    result = invoke(*args, "--db", sample_cli)
    assert result.exit_code == 2
    assert stderr_lines(result)[-1].endswith("if it is a dump, it is read as an input (ccaudit report FILE, or "
                                             "ccaudit load FILE --db STORE)"), result.stderr


def test_load_without_a_store_says_how_to_give_it(invoke, tmp_path, sample_cli):
    # was click's bare "Missing option '--db'."
    db = tmp_path / "audit.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    result = invoke("load", sample_cli, db)
    assert result.exit_code == 2 and stderr_lines(result) == [
        f"ccaudit: error: {db} is a store: give it as --db: ccaudit load {sample_cli} --db {db}"]
    result = invoke("load", sample_cli)
    assert result.exit_code == 2 and "give --db STORE" in result.stderr
    # was "give the store as --db audit.db", and load --db audit.db then wants a dump
    result = invoke("load", db)
    assert result.exit_code == 2 and stderr_lines(result)[-1].endswith(f"ccaudit load DUMP... --db {db}")


def test_the_load_a_store_among_the_dumps_is_pointed_to_runs(invoke, tmp_path, sample_cli, monkeypatch):
    # was "ccaudit load in/-dash.txt --db --db s1.db": the "--db" given after "--" kept, and a
    # name that reads as an option put where it does
    monkeypatch.chdir(tmp_path)
    assert invoke("load", sample_cli, "--db", "s1.db", "-q").exit_code == 0
    for name, quoted in (("-dash.txt", "-dash.txt"), ("-a b.txt", "'-a b.txt'")):  # (quoted, it starts "'")
        shutil.copy(sample_cli, name)
        result = invoke("load", "--", name, "--db", "s1.db")
        suggested = stderr_lines(result)[-1].split("give it as --db: ccaudit ")[1]
        assert result.exit_code == 2 and suggested == f"load --db s1.db -- {quoted}"
        command, *args = shlex.split(suggested)
        assert invoke(command, "-q", *args).exit_code == 0
    shutil.copy("s1.db", "s2.db")  # a second store, or the same one named again, is no dump either
    result = invoke("load", sample_cli, "s1.db", "s2.db", "./s1.db")
    assert stderr_lines(result)[-1].endswith(f"give it as --db: ccaudit load {sample_cli} --db s1.db")


def test_clean_of_a_file_named_alone_says_which_option_takes_it(invoke, tmp_path, sample_cli):
    # was click's "Got unexpected extra argument (audit.db)"
    db = tmp_path / "audit.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    result = invoke("clean", db, "--yes")
    assert result.exit_code == 2 and stderr_lines(result)[-1].endswith(f"ccaudit clean --db {db}")
    result = invoke("clean", tmp_path, "--yes")
    assert result.exit_code == 2 and stderr_lines(result)[-1].endswith(f"ccaudit clean --out {tmp_path}")
    # was "ccaudit clean --db audit.db", what had been typed
    result = invoke("clean", "--db", db, db, "--yes")
    assert result.exit_code == 2 and stderr_lines(result)[-1] == (
        f"ccaudit: error: unexpected argument {db}: clean takes what to delete as options only (--db STORE, --out DIR)")
    assert db.exists()


# -- --out DIR ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, ext", [("text", "txt"), ("markdown", "md"), ("csv", "csv"), ("json", "json")])
def test_out_dir(invoke, tmp_path, sample_cli, section_ids, expected_sample, fmt, ext):
    out = tmp_path / "reports"
    result = invoke("report", sample_cli, "--out", out, "--format", fmt, "-q")
    assert result.exit_code == 0
    dates = list(expected_sample["per_day"])
    want = {f"{sid}/{d}.{ext}" for sid in section_ids for d in dates}
    want |= {f"{d}.{ext}" for d in dates} | {f"summary.{ext}"}
    got = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert got == want | {".ccaudit-manifest"}
    listed = (out / ".ccaudit-manifest").read_text().splitlines()
    assert set(listed[1:]) == want and listed[0].startswith("#")
    # stdout gets only the summary, the same as summary.<ext>
    assert result.stdout == (out / f"summary.{ext}").read_text(encoding="utf-8")
    assert "Kafka Authentication" not in result.stdout and "kafka_authentication" not in result.stdout
    assert "GetKafkaClusters" in (out / "all_events" / f"2024-05-09.{ext}").read_text(encoding="utf-8")
    assert "GetKafkaClusters" not in (out / "all_events" / f"2024-05-06.{ext}").read_text(encoding="utf-8")
    assert "bob@example.com" in (out / "signin_failure" / f"2024-05-07.{ext}").read_text(encoding="utf-8")
    assert "sa-q1w2e3" in (out / f"2024-05-06.{ext}").read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt, ext", [("text", "txt"), ("markdown", "md")])
@pytest.mark.parametrize("stats", [[], ["--stats"]])
def test_out_dir_day_files_are_the_single_file_report_day_by_day(invoke, tmp_path, sample_cli, fmt, ext, stats):
    out, whole = tmp_path / "r", tmp_path / f"whole.{ext}"
    assert invoke("report", sample_cli, "--out", out, "--format", fmt, "-q", *stats).exit_code == 0
    assert invoke("report", sample_cli, "-o", whole, "--format", fmt, "-q", *stats).exit_code == 0
    days = sorted(p for p in out.glob(f"2024-*.{ext}"))
    text = whole.read_text(encoding="utf-8")
    assert len(days) == 4 and text.endswith("".join(p.read_text(encoding="utf-8") for p in days))


def test_out_dir_day_file_when_a_section_file_is_a_device(invoke, tmp_path, sample_cli):
    out = tmp_path / "r"
    assert invoke("report", sample_cli, "--out", out, "-q").exit_code == 0
    (out / "all_events" / "2024-05-09.txt").unlink()
    (out / "all_events" / "2024-05-09.txt").symlink_to("/dev/null")  # a listed file: replaced, not written through
    assert invoke("report", sample_cli, "--out", out, "-q").exit_code == 0
    assert "GetKafkaClusters" in (out / "2024-05-09.txt").read_text(encoding="utf-8")


def test_out_dir_text_summary(invoke, tmp_path, sample_cli):
    result = invoke("report", sample_cli, "--out", tmp_path / "r", "-q")
    assert result.stdout.splitlines()[0] == SUMMARY_FIRST
    assert len(result.stdout.splitlines()) == 5


def test_out_dir_json_files_parse(invoke, tmp_path, sample_cli):
    out = tmp_path / "r"
    invoke("report", sample_cli, "--out", out, "--format", "json", "-q")
    section = json.loads((out / "mds_authorize" / "2024-05-06.json").read_text(encoding="utf-8"))
    rows = {r["key"]: r["total"] for r in section["rows"]}
    assert rows == {"sa-zz9-(none)": 1, "u-8p71o5-AccessMetrics": 2,
                    "u-8p71o5-CreateFlinkComputePoolWithAVeryLongName": 1}


# -- exit codes ------------------------------------------------------------------------------


def test_strict_exits_1_after_loading_the_good_records(invoke, tmp_path, sample_cli):
    db = tmp_path / "audit.db"
    result = invoke("load", sample_cli, "--db", db, "--strict", "-q")
    assert result.exit_code == 1
    assert stderr_lines(result)[-2].startswith(f"ccaudit: {LOAD_LINE}")
    assert stderr_lines(result)[-1] == "ccaudit: --strict: the input had 6 malformed entries; exit 1"  # (nothing
    # said why the exit was 1: the load line is the same without --strict)
    again = invoke("load", sample_cli, "--db", db, "--format", "json", "-q")
    assert json.loads(again.stdout)["inserted"] == 0  # all 13 were kept by the strict run


def test_strict_report_exits_1_but_prints_the_report(invoke, sample_cli):
    result = invoke("report", sample_cli, "--strict", "-q")
    assert result.exit_code == 1
    assert result.stdout.startswith(SUMMARY_FIRST)
    assert stderr_lines(result)[-1] == "ccaudit: --strict: the input had 6 malformed entries; exit 1"
    check = invoke("check", sample_cli, "--max", "kafka_authentication:*=1000/h", "--strict", "-q")
    assert check.exit_code == 1 and "--strict" not in check.stderr  # its FAIL line says why, on stdout
    assert "6 malformed entries (--strict)" in check.stdout  # (as the line above says them)


def test_strict_with_clean_input_exits_0(invoke, fixtures_dir):
    assert invoke("report", fixtures_dir / "sample-prefixes.txt", "--strict", "-q").exit_code == 0


def test_strict_counts_noise_as_fine(invoke, tmp_path):
    p = tmp_path / "d.txt"
    p.write_bytes(json_line(rec(1)) + b"% Headers: x\n\n" + json_line(rec(2)))
    assert invoke("load", p, "--db", tmp_path / "s.db", "--strict").exit_code == 0


def _bad_inputs(tmp_path: Path, sample_cli: Path) -> dict:
    made = {}
    made["missing"] = tmp_path / "missing.txt"
    made["directory"] = tmp_path / "a-directory"
    made["directory"].mkdir()
    made["only-noise"] = tmp_path / "noise.txt"
    made["only-noise"].write_bytes(b'% Headers: [content-type="x"]\n\n   \nHeaders: y\n')
    made["only-malformed"] = tmp_path / "garbage.txt"
    made["only-malformed"].write_bytes(b"not json\n{x=1}\n")
    made["truncated-gzip"] = tmp_path / "cut.gz"
    made["truncated-gzip"].write_bytes(gzip.compress(sample_cli.read_bytes())[:12])
    made["binary"] = tmp_path / "image.png"
    made["binary"].write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    made["invalid-utf8"] = tmp_path / "latin1.txt"
    made["invalid-utf8"].write_bytes(json_line(rec(1)).replace(b"GetUsers", b"G\xe9tUsers"))
    made["records-without-id"] = tmp_path / "noid.jsonl"
    made["records-without-id"].write_bytes(b'{"time":"2024-05-06T00:00:00Z","data":{"methodName":"A"}}\n')
    made["unparseable-time"] = tmp_path / "badtime.jsonl"
    made["unparseable-time"].write_bytes(b'{"id":"x","time":"06/05/2024","data":{"methodName":"A"}}\n')
    made["zstd"] = tmp_path / "d.zst"
    made["zstd"].write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 32)
    made["damaged-gzip"] = tmp_path / "flipped.gz"
    made["damaged-gzip"].write_bytes(_flipped(gzip.compress(sample_cli.read_bytes(), 0)))
    made["tar"] = tmp_path / "dumps.tar"
    with tarfile.open(made["tar"], "w") as tar:
        tar.add(sample_cli, "sample-cli.txt")
    made["tar-gz"] = tmp_path / "dumps.tgz"
    made["tar-gz"].write_bytes(gzip.compress(made["tar"].read_bytes()))
    return made


def _flipped(data: bytes) -> bytes:
    """``data`` with a bit of its middle byte flipped: gzip's stored data, which only its CRC tells."""
    return data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0x04]) + data[len(data) // 2 + 1:]


BAD = ["missing", "directory", "only-noise", "only-malformed", "truncated-gzip", "binary", "invalid-utf8",
       "records-without-id", "unparseable-time", "zstd", "damaged-gzip", "tar", "tar-gz"]


@pytest.mark.parametrize("kind", ["tar", "tar-gz"])
def test_a_tar_archive_says_to_extract_it(invoke, tmp_path, sample_cli, kind):
    # was: its first record lost behind its header ("zero bytes before the record"), the rest loaded
    path = _bad_inputs(tmp_path, sample_cli)[kind]
    result = invoke("load", path, "--db", tmp_path / "s.db", "-q")
    assert result.exit_code == 2 and stderr_lines(result)[0] == (
        f"ccaudit: error: {path}: a tar archive; extract its dumps first (tar -xf), and give them")


def test_a_tar_archive_whose_checksum_old_tars_signed_says_to_extract_it(invoke, tmp_path, sample_cli):
    # a header of a name not ASCII, its checksum summed of signed bytes (old tars): tarfile reads
    # it, and ccaudit, which took only the unsigned sum, read it as a dump
    data = sample_cli.read_bytes()
    info = tarfile.TarInfo("d\u00fcmp-\u00e9.txt")
    info.size = len(data)
    header = bytearray(info.tobuf(tarfile.USTAR_FORMAT))
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(b - 256 if b > 127 else b for b in header)
    path = tmp_path / "d.tar"
    path.write_bytes(bytes(header) + data + bytes(-len(data) % 512) + bytes(1024))
    assert tarfile.open(path).getnames() == ["d\u00fcmp-\u00e9.txt"]
    result = invoke("load", path, "--db", tmp_path / "s.db", "-q")
    assert result.exit_code == 2 and stderr_lines(result)[0] == (
        f"ccaudit: error: {path}: a tar archive; extract its dumps first (tar -xf), and give them")


@pytest.mark.parametrize("compressed", [False, True])
def test_a_record_with_a_tar_magic_where_a_header_has_it_is_read(invoke, tmp_path, compressed):
    # was refused as a tar archive (exit 2, nothing loaded): a failed sign-in's user name,
    # which whoever signs in types, put "ustar" at byte 257 of the dump
    first = json.dumps(signin(T, "u@example.com", id="e0"), separators=(",", ":"))
    at = first.index('"id":"e0"') + len('"id":"e0","name":"')
    first = first.replace('"id":"e0"', '"id":"e0","name":"' + "x" * (257 - at) + 'ustar"')
    data = (first + "\n" + json.dumps(signin(T, "v@example.com", id="e1")) + "\n").encode()
    assert data[257:262] == b"ustar"
    path = tmp_path / ("d.jsonl.gz" if compressed else "d.jsonl")
    path.write_bytes(gzip.compress(data) if compressed else data)
    result = invoke("load", path, "--db", tmp_path / "s.db", "--format", "json", "-q")
    assert result.exit_code == 0 and json.loads(result.stdout)["inserted"] == 2, result.output


@pytest.mark.parametrize("kind, first", [("tar", 100), ("tar-gz", 100), ("tar", 5)])
def test_a_tar_archive_piped_in_short_reads_says_to_extract_it(ccaudit_exe, tmp_path, sample_cli, kind, first):
    # was: its header's first 100 bytes alone in the pipe's first read, so no tar was seen:
    # its first record lost ("zero bytes before the record"), the rest loaded, exit 0; and its
    # name's first 5 bytes alone (no zero byte yet: taken for the start of a line)
    data = _bad_inputs(tmp_path, sample_cli)[kind].read_bytes()
    proc = subprocess.Popen([ccaudit_exe, "load", "-", "--db", str(tmp_path / "s.db"), "-q"], stdin=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdin.write(data[:first])
    proc.stdin.flush()
    time.sleep(0.5)
    try:
        proc.stdin.write(data[first:])
        proc.stdin.close()
    except BrokenPipeError:  # refused before the rest was read
        pass
    assert proc.wait(timeout=60) == 2
    assert proc.stderr.read().decode().splitlines()[0] == (
        "ccaudit: error: <stdin>: a tar archive; extract its dumps first (tar -xf), and give them")


@pytest.mark.parametrize("kind", BAD)
def test_bad_input_alone_exits_2(invoke, tmp_path, sample_cli, kind):
    path = _bad_inputs(tmp_path, sample_cli)[kind]
    result = invoke("load", path, "--db", tmp_path / "s.db")
    assert result.exit_code == 2
    assert any(str(path) in line and "error" in line for line in stderr_lines(result)), result.stderr


@pytest.mark.parametrize("kind", BAD)
def test_bad_input_means_no_report(invoke, tmp_path, sample_cli, kind):
    # A report without one of its inputs would look complete: only the error, exit 2.
    path = _bad_inputs(tmp_path, sample_cli)[kind]
    out = tmp_path / "reports"
    for where in (["--format", "json"], ["--out", out]):
        result = invoke("report", path, sample_cli, *where, "-q")
        assert result.exit_code == 2
        assert result.stdout == "" and not out.exists()
        assert any(str(path) in line and "error" in line for line in stderr_lines(result)), result.stderr


@pytest.mark.parametrize("kind", ["only-noise", "truncated-gzip", "zstd"])
def test_bad_input_does_not_stop_the_others_loading(invoke, tmp_path, sample_cli, kind):
    # Inputs found bad only while reading: the good ones still land in the store.
    path = _bad_inputs(tmp_path, sample_cli)[kind]
    db = tmp_path / "s.db"
    assert invoke("load", path, sample_cli, "--db", db, "-q").exit_code == 2
    assert json.loads(invoke("summary", "--db", db, "--format", "json").stdout)["events"] == 13


def test_an_input_of_only_noise_is_said_to_be_noise(invoke, tmp_path, sample_cli):
    # was: "no audit record could be read" alone, as for one of garbage
    made = _bad_inputs(tmp_path, sample_cli)
    result = invoke("load", made["only-noise"], made["only-malformed"], "--db", tmp_path / "s.db", "-q")
    errors = [line for line in stderr_lines(result) if ": error: " in line]
    assert errors == [f"ccaudit: error: {made['only-noise']}: no audit record could be read: only noise (4 lines, "
                      "blank or the consume command's own)",
                      f"ccaudit: error: {made['only-malformed']}: no audit record could be read"]


def test_an_input_of_no_text_is_said_to_be_no_text(invoke, tmp_path, sample_cli):
    # was: "no audit record could be read" alone, after a malformed line for each newline in it
    packed = gzip.compress(sample_cli.read_bytes() * 20)
    pieces = {"second-half.gz": packed[len(packed) // 2:], "zeros.txt": bytes(5000),
              "random.bin": random.Random(3).randbytes(20_000)}
    for name, data in pieces.items():
        (tmp_path / name).write_bytes(data)
    result = invoke("load", *(tmp_path / name for name in pieces), sample_cli, "--db", tmp_path / "s.db", "-q")
    assert result.exit_code == 2
    errors = [line for line in stderr_lines(result) if ": error: " in line]
    said = ("no audit record could be read: its first bytes are not UTF-8 text (a piece of a compressed file "
            "without its start, zeros, or another kind of file)")
    assert errors == [f"ccaudit: error: {tmp_path / name}: {said}" for name in pieces]


def test_unusable_inputs_are_named_in_the_load_line_and_its_json(invoke, tmp_path, sample_cli):
    # was: "loaded 14 records: ...; skipped ... 6 malformed (...)", and JSON without a word of them
    made = _bad_inputs(tmp_path, sample_cli)
    bad = [made["zstd"], made["only-noise"]]
    result = invoke("load", sample_cli, *bad, "--db", tmp_path / "s.db", "-q", "--format", "json")
    assert result.exit_code == 2
    assert stderr_lines(result)[-1].endswith(f"; 2 inputs unusable ({bad[0]}, {bad[1]})")
    unusable = json.loads(result.stdout)["unusable_inputs"]
    assert [line.split(": ")[0] for line in unusable] == [str(p) for p in bad]


def test_a_damaged_compressed_input_is_named_in_the_load_line_and_its_json(invoke, tmp_path, sample_cli):
    # was: "input ends early (CRC check failed ...)" among the malformed places, exit 0
    bad = _bad_inputs(tmp_path, sample_cli)["damaged-gzip"]
    result = invoke("load", sample_cli, bad, "--db", tmp_path / "s.db", "-q", "--format", "json")
    assert result.exit_code == 2
    error = [line for line in stderr_lines(result) if line.startswith("ccaudit: error: ")]
    assert len(error) == 1 and error[0].startswith(f"ccaudit: error: {bad}@end: the compressed data is damaged (CRC")
    assert stderr_lines(result)[-1].endswith(f"; 1 input damaged ({bad})")
    assert json.loads(result.stdout)["damaged_inputs"] == [error[0].removeprefix("ccaudit: error: ")]


def test_damaged_inputs_are_named_in_the_order_given(invoke, tmp_path, sample_cli):
    # were named last first
    bad = [tmp_path / f"{name}.gz" for name in "ab"]
    for path in bad:
        path.write_bytes(_flipped(gzip.compress(sample_cli.read_bytes(), 0)))
    result = invoke("load", *bad, "--db", tmp_path / "s.db", "-q", "--format", "json")
    assert result.exit_code == 2 and stderr_lines(result)[-1].endswith(f"; 2 inputs damaged ({bad[0]}, {bad[1]})")
    assert [line.split("@")[0] for line in json.loads(result.stdout)["damaged_inputs"]] == list(map(str, bad))


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_an_input_read_in_part_is_told_however_many_malformed_lines_came_first(invoke, tmp_path, sample_cli, quiet):
    # was: the first 10 malformed lines, "14 malformed in all", and not a word of the file cut in
    # half; and -q, which hides the malformed lines, hid it too
    data = b"".join(b"garbage %d\n" % n for n in range(12)) + sample_cli.read_bytes() * 50
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(data)[:-40])
    result = invoke("load", cut, "--db", tmp_path / "s.db", "--format", "json", *quiet)
    assert result.exit_code == 0
    told = [line for line in stderr_lines(result)[:-1] if "@end" in line]
    assert len(told) == 1 and told[0].startswith(f"ccaudit: read in part: {cut}@end: input ends early (")
    assert stderr_lines(result)[-1].endswith(f"; 1 input read in part ({cut}@end)")
    assert json.loads(result.stdout)["inputs_cut_short"] == [told[0].removeprefix("ccaudit: read in part: ")]


def test_a_file_read_in_part_named_twice_is_one_input_and_one_place_on_the_load_line(invoke, tmp_path, sample_cli):
    # was "1 input read in part (cut.gz@end, cut.gz@end)"
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(sample_cli.read_bytes())[:-40])
    result = invoke("load", cut, cut, "--db", tmp_path / "s.db", "-q", "-f", "json")
    assert result.exit_code == 0 and stderr_lines(result)[-1].endswith(f"; 1 input read in part ({cut}@end)")
    assert [line.split(":")[0] for line in json.loads(result.stdout)["inputs_cut_short"]] == [f"{cut}@end"]


def test_inputs_whose_names_show_alike_are_each_counted_and_named_apart(invoke, tmp_path):
    # was "4 inputs unusable": a byte that is not UTF-8 shows as its escape typed out, and
    # the two were kept as one (a control character and its escape were shown alike too)
    names = [os.fsdecode(bytes(tmp_path / "n") + b"\x85.txt"), str(tmp_path / "n\\x85.txt"),
             str(tmp_path / "e\x1b.txt"), str(tmp_path / "e\\x1b.txt")]
    for name in names:
        with open(name, "w") as f:
            f.write("junk\n")
    result = invoke("load", *names, "--db", tmp_path / "s.db", "-q", "-f", "json")
    shown = [f"{tmp_path}/n\\x85.txt", f"{tmp_path}/n\\x85.txt (input 2)", f"{tmp_path}/e\\x1b.txt",
             f"{tmp_path}/e\\x1b.txt (input 4)"]
    assert result.exit_code == 2
    assert stderr_lines(result)[-1].endswith(f"; 4 inputs unusable ({', '.join(shown)})")
    assert [line.split(": ")[0] for line in json.loads(result.stdout)["unusable_inputs"]] == shown


def test_a_name_ending_in_a_space_shows_it_escaped_on_its_error_line_too(invoke, tmp_path, monkeypatch):
    # was "n.txt : no audit record ...": the message was escaped as a whole, at its own ends only,
    # while the load line said "n.txt\x20"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "n.txt ").write_text("junk\n")
    result = invoke("load", "n.txt ", "--db", "s.db", "-q", "-f", "json")
    assert result.exit_code == 2 and stderr_lines(result) == [
        "ccaudit: error: n.txt\\x20: no audit record could be read",
        "ccaudit: loaded 0 records: 0 new, 0 duplicates; skipped 0 noise lines, 1 malformed (n.txt\\x20:1); "
        "1 input unusable (n.txt\\x20)"]
    assert json.loads(result.stdout)["unusable_inputs"] == ["n.txt\\x20: no audit record could be read"]


def test_a_name_ending_in_a_space_shows_it_escaped_when_refused_before_the_load(invoke, tmp_path, monkeypatch):
    # was "missing.txt : no such file": refused before the load, the name was the path as given
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dd ").mkdir()
    for name, said in (("missing.txt ", "missing.txt\\x20: no such file"),
                       ("dd ", "dd\\x20: is a directory; give the dumps in it ('dd '/*)")):  # (the hint, to paste)
        result = invoke("load", name, "--db", "s.db", "-q")
        assert result.exit_code == 2 and stderr_lines(result) == [f"ccaudit: error: {said}"]


def test_the_same_file_named_again_after_one_shown_alike_is_one_input(invoke, tmp_path):
    # was "3 inputs unusable": the file named twice had two labels
    names = [str(tmp_path / "e\x1b.txt"), str(tmp_path / "e\\x1b.txt"), str(tmp_path / "e\\x1b.txt")]
    for name in names:
        with open(name, "w") as f:
            f.write("junk\n")
    result = invoke("load", *names, "--db", tmp_path / "s.db", "-q")
    assert stderr_lines(result)[-1].endswith(
        f"; 2 inputs unusable ({tmp_path}/e\\x1b.txt, {tmp_path}/e\\x1b.txt (input 2))")


def test_standard_input_and_a_file_named_stdin_are_two_inputs(invoke, tmp_path, monkeypatch):
    # was "1 input unusable (<stdin>)": the file's error was dropped
    monkeypatch.chdir(tmp_path)
    (tmp_path / "<stdin>").write_text("junk\n")
    result = invoke("load", "-", "<stdin>", "--db", "s.db", "-q", input="more junk\n")
    assert result.exit_code == 2
    assert stderr_lines(result)[-1].endswith("; 2 inputs unusable (<stdin>, <stdin> (input 2))")
    (tmp_path / "<stdin> (input 3)").write_text("junk\n")  # the name the third would be given
    result = invoke("load", "<stdin> (input 3)", "-", "<stdin>", "--db", "s.db", "-q", input="more junk\n")
    assert stderr_lines(result)[-1].endswith(
        "; 3 inputs unusable (<stdin> (input 3), <stdin>, <stdin> (input 3) (input 3))")


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_missing_input_stops_before_loading_anything(invoke, tmp_path, sample_cli, kind):
    path = _bad_inputs(tmp_path, sample_cli)[kind]
    db = tmp_path / "s.db"
    result = invoke("load", sample_cli, path, "--db", db, "-q")
    assert result.exit_code == 2 and stderr_lines(result) == [f"ccaudit: error: {path}: " + (
        "no such file" if kind == "missing" else f"is a directory; give the dumps in it ({path}/*)")]  # was: no hint
    assert not db.exists()


def test_a_byte_that_is_not_utf8_in_a_name_is_shown_as_that_byte(invoke, tmp_path, sample_cli):
    # was "nope\\udcff.json" and "principal \\udcff": Python's name for the byte, not the byte
    missing = os.fsdecode(bytes(tmp_path / "nope") + b"\xff.json")
    result = invoke("report", missing, "-q")
    assert result.exit_code == 2
    assert stderr_lines(result) == [f"ccaudit: error: {tmp_path}/nope\\xff.json: no such file"]
    result = invoke("report", sample_cli, "--principal", os.fsdecode(b"\xe9*"), "-q")
    assert "ccaudit: warning: no event matches principal \\xe9*" in stderr_lines(result)


def test_a_byte_that_is_not_utf8_in_a_name_is_that_byte_in_json_too(invoke, tmp_path, sample_cli):
    # was "bad\udcff.txt:31": a lone surrogate escape, which strict JSON readers refuse
    odd = os.fsdecode(bytes(tmp_path) + b"/bad\xff.txt")
    shutil.copy(sample_cli, odd)
    shown = f"{tmp_path}/bad\\xff.txt"
    db = os.fsdecode(bytes(tmp_path) + b"/s\xfe.db")
    for command in (["load", odd, "--db", db], ["report", odd]):
        doc = json.loads(invoke(*command, "--format", "json", "-q").stdout)
        lines = doc["malformed_lines"] if command[0] == "load" else doc["summary"]["load"]["malformed_lines"]
        assert lines == [f"{shown}:{n}" for n in range(31, 37)]
    doc = json.loads(invoke("diff", odd, db, "--format", "json").stdout)
    assert [side["label"] for side in (doc["a"], doc["b"])] == [f"A = {shown}", f"B = {tmp_path}/s\\xfe.db"]
    store = Store(db)
    store.begin_load([odd])  # as a load killed part way leaves it
    store.close()
    doc = json.loads(invoke("summary", "--db", db, "--format", "json").stdout)
    assert [(load["inputs"], load["files"]) for load in doc["unfinished_loads"]] == [([shown], [shown])]


@pytest.mark.parametrize("command", [["load", "{dump}", "--db", "rel.db", "-q"],
                                     ["report", "{dump}", "-o", "r.txt", "-q"], ["report", "rel.txt", "-q"],
                                     ["diff", "a.db", "b.db"]])
def test_a_relative_name_in_a_deleted_folder_is_one_line(ccaudit_exe, tmp_path, sample_cli, command):
    # was: "internal error: FileNotFoundError: [Errno 2] No such file or directory", exit 70
    gone = tmp_path / "gone"
    gone.mkdir()
    args = " ".join(shlex.quote(a.format(dump=sample_cli)) for a in command)
    proc = subprocess.run(["sh", "-c", f"cd {gone} && rmdir {gone} && exec {ccaudit_exe} {args}"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (proc.returncode, proc.stderr) == (2, "ccaudit: error: the current folder was deleted, so a name "
                                                 "relative to it leads nowhere: cd to a folder that exists, or give "
                                                 "full paths\n")


def test_a_name_of_any_text_is_a_file_name():
    from ccaudit.text import file_name

    assert file_name("caf\u00e9 \U0001f600") == "caf\u00e9 \U0001f600"
    assert file_name(os.fsdecode(b"a\xffb")) == "a\\xffb"
    assert file_name("a\ud800b") == "a\\xed\\xa0\\x80b"  # was UnicodeEncodeError, from a program's own name


def test_10mb_single_line(invoke, tmp_path):
    p = tmp_path / "big.txt"
    p.write_bytes(json_line(rec(1)) + b"{" + b"x" * (10 * 2**20) + b"\n" + json_line(rec(2)))
    result = invoke("report", p, "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert load_counts(doc) == (2, 2, 0, 0, 1)
    assert doc["summary"]["load"]["malformed_lines"] == [f"{p}:2"]
    assert len(result.stderr) < 10_000  # the line is not echoed back
    assert invoke("load", p, "--db", tmp_path / "s.db", "--strict", "-q").exit_code == 1


@pytest.mark.parametrize("time", ["0001-01-01T00:00:00Z", "0001-01-01T05:00:00+05:00", "9999-12-31T23:59:59Z",
                                  "9999-12-31T20:00:00-03:00"])
def test_times_at_the_ends_of_the_calendar(invoke, tmp_path, time):
    # valid RFC 3339, however unlikely: either reported on its date, or refused as a
    # malformed time (then nothing was parsed: exit 2) -- never an internal error
    p = tmp_path / "edge.jsonl"
    p.write_bytes(json_line(rec(1, time)))
    for args in (["report", p, "-q"], ["report", p, "-q", "--format", "json"]):
        result = invoke(*args)
        assert result.exit_code in (0, 2), result.stderr
        if result.exit_code == 0:
            assert "1 event" in result.stdout or '"events": 1' in result.stdout


def test_empty_file_is_not_an_error(invoke, tmp_path):
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    result = invoke("report", p)
    assert result.exit_code == 0
    assert result.stdout.startswith("Audit Summary for 0 events")


def test_unreadable_file_chmod_000(tmp_path, sample_cli, run_ccaudit):
    if os.geteuid() != 0:
        p = tmp_path / "secret.txt"
        shutil.copy(sample_cli, p)
        p.chmod(0)
        try:
            proc = run_ccaudit("load", p, "--db", tmp_path / "s.db")
            both = run_ccaudit("report", p, sample_cli, "-q")
        finally:
            p.chmod(0o600)
        assert proc.returncode == 2 and proc.stderr == f"ccaudit: error: {p}: cannot read: Permission denied\n"
        assert both.returncode == 2
        return
    # root reads a chmod 000 file anyway: run ccaudit as "nobody" instead, if it can run so
    work = Path(tempfile.mkdtemp(prefix="ccaudit-unreadable-"))
    try:
        work.chmod(0o777)
        p = work / "secret.txt"
        shutil.copy(sample_cli, p)
        p.chmod(0)
        kw = {"user": 65534, "group": 65534, "extra_groups": [], "cwd": work}
        try:
            probe = run_ccaudit("--version", **kw)
        except OSError as e:
            pytest.skip(f"running as root (chmod 000 does not stop root) and ccaudit cannot run as nobody: {e}; "
                        "test_unreadable_special_file covers this")
        if probe.returncode != 0:
            pytest.skip("running as root and ccaudit does not run as nobody here")
        proc = run_ccaudit("load", p, "--db", work / "s.db", **kw)
        # one line of ccaudit's own (was: click's usage error, four lines)
        assert proc.returncode == 2 and proc.stderr == f"ccaudit: error: {p}: cannot read: Permission denied\n"
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("command", [["load", "{p}", "--db", "{db}"], ["report", "{p}"],
                                     ["check", "{p}", "--max", "*:*=1/h"], ["methods", "{p}"],
                                     ["diff", "{p}", "{p}"], ["diff", "--a", "{p}", "--b", "{p}"]])
def test_an_input_the_user_may_not_read_is_one_line_of_ccaudit(invoke, tmp_path, sample_cli, monkeypatch, command):
    # was: click's own check printed a four-line usage error (os.access says "no" as it
    # would to a user who may not read the file: root may read anything)
    p = tmp_path / "secret.txt"
    shutil.copy(sample_cli, p)
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: str(path) != str(p) and real(path, mode, **kw))
    result = invoke(*[a.format(p=p, db=tmp_path / "s.db") for a in command])
    assert result.exit_code == 2 and result.stderr == f"ccaudit: error: {p}: cannot read: Permission denied\n"


def test_a_link_that_loops_is_named_as_such_not_as_missing(invoke, tmp_path):
    loop = tmp_path / "loop.txt"
    loop.symlink_to(loop)
    result = invoke("load", loop, "--db", tmp_path / "s.db")
    assert result.exit_code == 2
    assert result.stderr == f"ccaudit: error: {loop}: cannot read: Too many levels of symbolic links\n"


def _write_only_file() -> str | None:
    """A file that even root cannot open for reading: a write-only sysfs attribute."""
    import glob

    for pattern in ("/sys/class/zram-control/hot_remove", "/sys/bus/pci/rescan", "/sys/devices/pci*/*/rescan",
                    "/sys/devices/pci*/rescan"):
        for path in glob.glob(pattern):
            try:
                with open(path, "rb"):
                    pass
            except PermissionError:
                return path
            except OSError:
                continue
    return None


def test_unreadable_special_file(invoke, tmp_path, sample_cli, expected_sample, report_cells):
    # works as root too: os.access() says readable, open() says EACCES, so ccaudit's own
    # check (not click's) has to catch it
    path = _write_only_file()
    if path is None:
        pytest.skip("no file here that cannot be opened for reading (write-only sysfs attribute)")
    result = invoke("load", path, "--db", tmp_path / "s.db")
    assert result.exit_code == 2
    assert any(path in line and "error" in line for line in stderr_lines(result)), result.stderr
    result = invoke("report", path, sample_cli, "--format", "json", "-q")
    assert result.exit_code == 2 and result.stdout == ""


@pytest.mark.parametrize("args", [
    ["report"],  # no DUMP and no --db
    ["load", "--db", "x.db"],  # no DUMP
    ["load", "{sample}"],  # no --db
    ["summary"],
    ["clean"],
    ["report", "{sample}", "--format", "yaml"],
    ["report", "{sample}", "--tz", "Mars/Olympus_Mons"],
    ["report", "{sample}", "--since", "last tuesday"],
    ["report", "{sample}", "--top", "0"],
    ["report", "{sample}", "--section", "nope"],
    ["report", "{sample}", "--no-such-option"],
    ["report", "{sample}", "--out", "{sample}"],  # --out names a file
    ["frobnicate"],
])
def test_usage_errors_exit_2(invoke, tmp_path, sample_cli, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    result = invoke(*[a.format(sample=sample_cli) for a in args])
    assert result.exit_code == 2
    assert result.stdout == ""
    # one line, as every error (was click's four: Usage, Try, a blank line, Error)
    (line,) = result.stderr.splitlines()
    assert line.startswith("ccaudit: error: "), line


def test_every_format_works(invoke, sample_cli):
    from ccaudit.formats import FORMATS

    for fmt in FORMATS:
        result = invoke("report", sample_cli, "--format", fmt, "-q")
        assert result.exit_code == 0, (fmt, result.stderr)
        assert "13" in result.stdout, fmt


def test_a_format_in_capitals_is_the_format(invoke, sample_cli):
    # was: "--format JSON" refused (exit 2), while "-o r.JSON" was taken for JSON
    upper, lower = (invoke("report", sample_cli, "--format", f, "-q") for f in ("JSON", "json"))
    assert upper.exit_code == 0 and upper.stdout == lower.stdout
    assert json.loads(upper.stdout)["summary"]["events"] == 13


def test_a_folder_as_the_output_file_points_to_out(invoke, sample_cli, tmp_path):
    # was click's "File 'reports/' is a directory.", which left the user to find --out
    result = invoke("report", sample_cli, "-q", "-o", f"{tmp_path}/")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (f"ccaudit: error: Invalid value for '-o' / '--output': {tmp_path}/ is a folder: name a "
                             "file, or write a file per day into it with --out\n")


def test_top_in_the_help_is_at_least_one():
    # was "[1<=x<=9223372036854775807]": what SQLite can bind, of no use to a reader
    from click.testing import CliRunner

    from ccaudit.cli import cli

    shown = CliRunner().invoke(cli, ["report", "--help"]).stdout
    assert "[x>=1]" in shown and "9223372036854775807" not in shown


def test_top_larger_than_sqlite_takes_keeps_every_row(invoke, sample_cli):
    # was refused, as "not in the range x>=1" once the help no longer showed SQLite's bound
    every = json.loads(invoke("report", sample_cli, "-q", "--format", "json", "--top", "1000").stdout)  # (13 events)
    most = json.loads(invoke("report", sample_cli, "-q", "--format", "json", "--top", str(2**64)).stdout)
    assert most["summary"].pop("selected") == ["the 9,223,372,036,854,775,807 busiest keys of each section and day"]
    assert every["summary"].pop("selected") == ["the 1,000 busiest keys of each section and day"] and most == every
    zero = invoke("report", sample_cli, "-q", "--top", "0")
    assert zero.exit_code == 2 and "0 is not in the range x>=1" in zero.stderr


@pytest.mark.parametrize("given, fmt", [("md", "markdown"), ("MD", "markdown"), ("txt", "text"), ("htm", "html")])
def test_a_formats_file_extension_names_it(invoke, sample_cli, given, fmt):
    # was "'md' is not one of 'text', 'json', 'markdown', 'csv', 'html'", where -o report.md is markdown
    report = invoke("report", sample_cli, "-q", "-f", given).stdout
    assert report == invoke("report", sample_cli, "-q", "-f", fmt).stdout
    refused = invoke("check", sample_cli, "-q", "-f", "md", "--max", "*:*=1/h")  # (check writes no markdown)
    assert refused.exit_code == 2 and "'md' is not one of 'text', 'json'" in refused.stderr


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_top_says_what_it_left_out_under_each_table(invoke, sample_cli, fmt):
    # was not a word: a --top 1 table of one row read as the whole section (html said it)
    out = invoke("report", sample_cli, "-q", "--top", "1", "--format", fmt).stdout
    said = [line for line in out.splitlines() if "busiest of" in line]
    assert said[:3] == ["(the 1 busiest of 2 keys shown, 2 of 3 events: --top 1)",  # 2024-05-06, hand-counted:
                        "(the 1 busiest of 3 keys shown, 2 of 4 events: --top 1)",  # sa-q1w2e3 2, UNKNOWN 1; ...
                        "(the 1 busiest of 2 keys shown, 4 of 7 events: --top 1)"]  # mds.Authorize 4, ...
    whole = invoke("report", sample_cli, "-q", "--top", "1000", "--format", fmt).stdout
    assert "busiest of" not in whole  # (nothing left out)
    if fmt == "markdown":  # a line after a table's last row would be one of its rows: a blank line first
        assert "|\n\n(the 1 busiest of 2 keys shown" in out


# -- the installed executable --------------------------------------------------------------


def test_installed_executable_report_matches_golden(run_ccaudit, root, golden):
    proc = run_ccaudit("report", "fixtures/sample-cli.txt", cwd=root)
    assert proc.returncode == 0
    golden("report--sample-cli.txt", proc.stdout)
    assert proc.stderr.splitlines()[-1].startswith(f"ccaudit: {LOAD_LINE}")


def test_installed_executable_stdin_and_exit_codes(run_ccaudit, tmp_path, fixtures_dir):
    data = (fixtures_dir / "sample-array.json.gz").read_bytes()
    proc = run_ccaudit("report", "-", "--format", "json", "-q", input=data)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["summary"]["events"] == 13
    proc = run_ccaudit("load", tmp_path / "missing.txt", "--db", tmp_path / "s.db")
    assert proc.returncode == 2 and "missing.txt" in proc.stderr
    proc = run_ccaudit("report", fixtures_dir / "sample-cli.txt", "--strict", "-q")
    assert proc.returncode == 1
    proc = run_ccaudit("report")
    assert proc.returncode == 2 and proc.stdout == ""


def test_installed_executable_version(run_ccaudit):
    proc = run_ccaudit("--version")
    assert proc.returncode == 0 and "ccaudit" in proc.stdout


def test_python_dash_m(tmp_path, sample_cli):
    proc = subprocess.run([sys.executable, "-m", "ccaudit", "summary", "--db", str(tmp_path / "none.db")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_a_program_may_run_the_cli_from_a_thread(invoke, tmp_path, sample_cli, expected_sample, report_cells):
    # signal handlers may be set only from the main thread: it was exit 70, "internal error"
    results = []
    worker = threading.Thread(target=lambda: results.append(
        invoke("report", sample_cli, "--db", tmp_path / "a.db", "--format", "json", "--quiet")))
    worker.start()
    worker.join()
    assert results[0].exit_code == 0, results[0].stderr
    assert report_cells(json.loads(results[0].stdout)) == expected_sample["cells"]


# -- the library without click ----------------------------------------------------------------


@pytest.mark.parametrize("module", ["ccaudit.ingest", "ccaudit.classify", "ccaudit.report", "ccaudit.render",
                                    "ccaudit.store"])
def test_library_imports_without_click(module, root):
    code = f"import sys; sys.modules['click'] = None; import {module}; print('ok')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60,
                          check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr



def test_commands_on_a_store_do_not_import_sqlite_utils(tmp_path, sample_cli, root):
    # it cost every command 0.07 s and 7.5 MiB; only Store.db, for programs, imports it
    db = tmp_path / "audit.db"
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from ccaudit.cli import cli\n"
        "for args in (['load', sys.argv[1], '--db', sys.argv[2], '-q'], ['report', '--db', sys.argv[2]]):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0\n"
        "print('sqlite_utils' in sys.modules)\n"
        "from ccaudit import Store\n"
        "print(Store(sys.argv[2], readonly=True).db['counts'].count > 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(sample_cli), str(db)], capture_output=True, text=True,
                          check=False, cwd=root, timeout=60)
    assert proc.stdout.split() == ["False", "True"], proc.stderr


@pytest.mark.parametrize("command", [["report"], ["report", "--format", "json"], ["summary"], ["methods"],
                                     ["check", "--max", "all_events:*=1000/h"]])
def test_commands_on_a_store_do_not_import_the_readers_of_dumps(tmp_path, sample_cli, root, command):
    # report --db imported ingest, load, msgspec and classify: 0.02 s of a whole-store report's second
    db = tmp_path / "audit.db"
    assert subprocess.run([sys.executable, "-m", "ccaudit", "load", str(sample_cli), "--db", str(db), "-q"],
                          stderr=subprocess.DEVNULL,
                          cwd=root, timeout=60, check=False).returncode == 0
    code = ("import runpy, sys\n"
            "try:\n    runpy.run_module('ccaudit', run_name='__main__')\n"
            "finally:\n"
            "    readers = ('ccaudit.ingest', 'ccaudit.load', 'ccaudit.classify', 'msgspec', 'ijson')\n"
            "    print(sorted(m for m in readers if m in sys.modules), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code, *command, "--db", str(db)], capture_output=True, text=True,
                          check=False, cwd=root, timeout=60)
    assert proc.stderr.splitlines()[-1] == "[]", proc.stderr


def test_ingest_and_classify_work_without_click(root, sample_cli):
    code = (
        "import sys; sys.modules['click'] = None\n"
        "from ccaudit.ingest import Dump, read_rows\n"
        "from ccaudit.stats import LoadStats\n"
        "s = LoadStats(); n = sum(1 for _ in read_rows(Dump(sys.argv[1]), s))\n"
        "print(n, s.noise_lines, s.malformed)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(sample_cli)], capture_output=True, text=True, check=False,
                          cwd=root, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["14", "16", "6"]


@pytest.mark.parametrize("args", [["summary", "--db", "nos\x1b[31m.db"],
                                  ["report", "in\x1b[31m.jsonl", "-o", "in\x1b[31m.jsonl"],
                                  ["report", "--db", "x.db", "--tz", "Nowhere/\x1b]0;pwned\x07"]])
def test_a_usage_error_quoting_what_was_typed_escapes_control_characters(tmp_path, monkeypatch, args):
    # click keeps them for a terminal (color=True here): a file name could drive it
    from click.testing import CliRunner

    from ccaudit.cli import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "in\x1b[31m.jsonl").write_text("{}\n")
    (tmp_path / "x.db").write_bytes(b"")
    result = CliRunner().invoke(cli, args, color=True)
    assert result.exit_code == 2, result.output
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr, result.stderr
    assert "\\x1b" in result.stderr


@pytest.mark.parametrize(("raised", "line"), [
    (sqlite3.DatabaseError("bad\n\x1b[31m"), "ccaudit: error: a store could not be read: bad\\x0a\\x1b[31m"),
    (RuntimeError("a bug\nsecond line"), "ccaudit: internal error: RuntimeError: a bug\\x0asecond line "
                                          "(set CCAUDIT_DEBUG=1 for a traceback)"),
])
def test_an_error_the_core_did_not_word_is_still_one_printable_line(monkeypatch, fixtures_dir, raised, line):
    # SQLite's and a bug's messages were echoed as they were: several lines, or escape codes
    from click.testing import CliRunner

    from ccaudit import cli as cli_module

    def fails(*args, **kwargs):
        raise raised
    monkeypatch.setattr("ccaudit.options.open_store", fails)
    r = CliRunner().invoke(cli_module.cli, ["report", str(fixtures_dir / "sample-cli.txt")])
    assert r.stderr == line + "\n"


@pytest.mark.parametrize("command", ["load", "report", "summary", "check", "methods", "clean", "export", "spark"])
def test_an_empty_store_name_is_refused(invoke, sample_cli, tmp_path, monkeypatch, command):
    # `--db "$STORE"` with STORE unset: load and report took it for no --db, loaded into a
    # temporary store, deleted it, and said "loaded 14 records" (exit 0)
    monkeypatch.chdir(tmp_path)
    r = invoke(command, str(sample_cli), "--db", "")
    assert r.exit_code == 2
    assert r.stderr == "ccaudit: error: Invalid value for '--db': needs a name (it is empty)\n"
    assert os.listdir(tmp_path) == []


def test_an_empty_spark_master_is_refused(invoke, sample_cli, tmp_path, monkeypatch):
    # `--master "$MASTER"` with MASTER unset: was taken for no --master, and the job ran on this machine
    monkeypatch.chdir(tmp_path)
    r = invoke("spark", str(sample_cli), "--db", "a.db", "--master", "")
    assert r.exit_code == 2
    assert r.stderr == "ccaudit: error: Invalid value for '--master': needs a name (it is empty)\n"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("command", ["load", "report", "summary"])
def test_standard_input_is_refused_as_a_store(invoke, sample_cli, tmp_path, monkeypatch, command):
    """- is standard input or output everywhere else: load made a store named '-'."""
    monkeypatch.chdir(tmp_path)
    r = invoke(command, str(sample_cli), "--db", "-")
    assert r.exit_code == 2 and os.listdir(tmp_path) == []
    assert r.stderr == ("ccaudit: error: Invalid value for '--db': - is standard input or output; name a file "
                        "(./- for one called that)\n")


@pytest.mark.parametrize("command", ["load", "report", "summary", "check", "methods", "clean", "export", "spark"])
def test_sqlites_in_memory_name_is_refused_as_a_store(invoke, sample_cli, tmp_path, monkeypatch, command):
    """--db :memory: is SQLite's name for a database that is not kept: load said "loaded 14
    records: 14 new" and kept nothing, and summary then found no such store."""
    monkeypatch.chdir(tmp_path)
    r = invoke(command, str(sample_cli), "--db", ":memory:")
    assert r.exit_code == 2
    assert r.stderr == ("ccaudit: error: Invalid value for '--db': :memory: is SQLite's name for a database that "
                        "is not kept; name a file (./:memory: for one called that)\n")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("command", ["report", "check", "methods"])
def test_no_dump_and_no_store_says_how_to_read_standard_input(invoke, sample_cli, command):
    # was "give one or more DUMP files, or --db ...", to a dump piped in without its "-"
    r = invoke(command, input=sample_cli.read_bytes())
    assert r.exit_code == 2 and "give one or more DUMP files (- for standard input), or --db" in r.stderr


@pytest.mark.parametrize("args", [["report", "{dump}", "--out", "-", "-q"], ["clean", "--out", "-", "--yes"],
                                  ["export", "--db", "{db}", "--out", "-"]])
def test_standard_output_is_refused_as_a_folder(invoke, sample_cli, tmp_path, monkeypatch, args):
    # was: report --out - wrote a folder ./-, after which -o - was refused as "a directory"
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    r = invoke(*[a.format(dump=sample_cli, db=db) for a in args])
    assert r.exit_code == 2
    assert r.stderr == ("ccaudit: error: Invalid value for '--out': - is standard input or output; name a folder "
                        "(./- for one called that)\n")
    assert os.listdir(tmp_path) == ["s.db"]


def test_a_folder_may_be_called_memory(invoke, sample_cli, tmp_path, monkeypatch):
    # SQLite's name is refused for a store, not for a report folder (it was, once -o - was)
    monkeypatch.chdir(tmp_path)
    assert invoke("report", sample_cli, "--out", ":memory:", "-q").exit_code == 0
    assert (tmp_path / ":memory:" / "summary.txt").exists()


def test_a_stream_named_twice_is_refused(tmp_path, sample_cli):
    # `load - /dev/stdin` read the pipe twice, the second name reading nothing: exit 0, a load
    # line of two inputs; a FIFO named twice did the same
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cases = [(["-", "/dev/stdin"], "stdin (-) and /dev/stdin"), ([str(fifo), str(fifo)], f"{fifo} and {fifo}")]
    for inputs, named in cases:
        r = subprocess.run([sys.executable, "-m", "ccaudit", "load", *inputs, "--db", str(tmp_path / "s.db")],
                           input=sample_cli.read_bytes(), capture_output=True, timeout=60)
        assert (r.returncode, r.stderr.decode()) == (2, f"ccaudit: error: {named} are one stream, which can be "
                                                        "read only once\n")
        assert not (tmp_path / "s.db").exists()
    twice = subprocess.run([sys.executable, "-m", "ccaudit", "report", str(sample_cli), str(sample_cli), "-q"],
                           capture_output=True, timeout=60)  # a file twice is read twice: its events are copies
    assert twice.returncode == 0 and b"loaded 28 records: 13 new, 15 duplicates;" in twice.stderr  # 14 records, 1 copy


def test_running_out_of_memory_is_one_line(invoke, tmp_path, sample_cli, monkeypatch):
    # under ulimit -v, was "internal error: MemoryError:" (exit 70), as for a bug
    import ccaudit.options

    def exhausted(*args):
        raise MemoryError

    monkeypatch.setattr(ccaudit.options, "existing_store", exhausted)
    result = invoke("report", sample_cli)
    assert result.exit_code == 2
    assert result.stderr == "ccaudit: error: out of memory (is the process's memory limited, ulimit -v?)\n"


@pytest.mark.parametrize("args", [["load", "", "--db", "{db}"], ["report", "{dump}", ""], ["diff", "{db}", ""],
                                  ["check", "--db", "{db}", "--rules", ""],
                                  ["download", "--config", "", "--out", "{db}.jsonl"]])  # (was "cannot read : ...")
def test_an_empty_name_is_refused_as_empty(invoke, tmp_path, sample_cli, args):
    # an unset variable in a cron line: was ": no such file" or ": cannot read: No such file or directory"
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    result = invoke(*[a.format(db=db, dump=sample_cli) for a in args])
    assert result.exit_code == 2, result.stderr
    assert "empty" in result.stderr.splitlines()[-1] and ": no such file" not in result.stderr


@pytest.mark.parametrize("args, named", [
    (["report", "{dump}", "--tz", "Factory"], "'--tz'"),
    (["report", "{dump}", "--since", "yesterday"], "'--since'"),
    (["report", "{dump}", "--until", "2024-13-01"], "'--until'"),
    (["report", "{dump}", "-o", "{dump}"], "'-o' / '--output'"),
    (["report", "{dump}", "-o", "r.xlsx"], "'-o' / '--output'"),
])
def test_an_option_we_refuse_is_named_as_click_names_it(invoke, sample_cli, tmp_path, monkeypatch, args, named):
    # was "Invalid value for --tz:" beside click's own "Invalid value for '--section':"
    monkeypatch.chdir(tmp_path)
    r = invoke(*[a.format(dump=sample_cli) for a in args], "-q")
    assert r.exit_code == 2 and r.stderr.startswith(f"ccaudit: error: Invalid value for {named}: "), r.stderr


@pytest.mark.parametrize("content, code", [(b"", 0), (b"[]\n", 0), (b"[\n]\n", 0), (b"\n", 2),
                                           (b"Starting Kafka Consumer. Use Ctrl-C to exit.\nStopping Consumer.\n", 2)])
def test_an_input_of_no_record_is_an_error_only_with_content_that_is_not_an_empty_array(invoke, tmp_path, content,
                                                                                         code):
    # as README says: `jq -s` makes [] of an empty dump; blank or noise lines alone are an error
    dump = tmp_path / "dump.json"
    dump.write_bytes(content)
    result = invoke("load", dump, "--db", tmp_path / "s.db")
    assert result.exit_code == code and "loaded 0 records" in result.stderr, result.stderr


def test_a_dump_read_from_the_terminal_is_asked_for(ccaudit_exe, tmp_path):
    # was: `ccaudit report -` at a terminal waited without a word, as if stuck
    import pty
    import select

    leader, terminal = pty.openpty()
    proc = subprocess.Popen([ccaudit_exe, "report", "-"], stdin=terminal, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path)
    os.close(terminal)
    try:
        said, deadline = b"", time.monotonic() + 30
        while not said.endswith(b"\n") and select.select([proc.stderr], [], [], max(0, deadline - time.monotonic()))[0]:
            if not (more := os.read(proc.stderr.fileno(), 200)):  # it ended
                break
            said += more
        assert said == b"ccaudit: reading a dump from the terminal: paste or type it, then Ctrl-D\n"
        os.write(leader, json.dumps(kafka_auth("2024-05-06T07:00:00Z")).encode() + b"\n\x04")
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        os.close(leader)
    assert proc.returncode == 0 and b"2024-05-06:(1 event)" in out and err.startswith(b"ccaudit: loaded 1 record")


@pytest.mark.parametrize(("bad", "listed"), [(20, "all 20"), (130, "the first 100")])
def test_the_malformed_lines_beyond_those_shown_are_said_to_be_listed_in_json(invoke, tmp_path, bad, listed):
    # was "the first 20" of 20: as if more were left out
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(json_line(kafka_auth()) + b"".join(b"garbage %d\n" % n for n in range(bad)))
    result = invoke("load", dump, "--db", tmp_path / "s.db", "-f", "json")
    assert (f"ccaudit: {bad} malformed in all; 10 shown here, {listed} with their reasons in the JSON output of "
            "load (malformed_entries)") in result.stderr
    entries = json.loads(result.stdout)["malformed_entries"]  # was places alone: past the 10th, no reason anywhere
    assert entries[10:12] == [{"place": f"{dump}:12", "reason": "not a JSON object"},
                              {"place": f"{dump}:13", "reason": "not a JSON object"}]


@pytest.mark.parametrize(("args", "said"), [
    (["load"], "Missing argument 'DUMPS...'; see ccaudit load -h"),
    (["summary", "--since", "2024-05-06"], "No such option '--since'; see ccaudit summary -h"),
    (["--bogus"], "No such option '--bogus'; see ccaudit -h"),
    (["report", "x", "--no-\udcff"], "No such option '--no-\\xff'; see ccaudit report -h")])  # was \udcff, as repr
def test_an_argument_missing_or_an_option_unknown_points_to_the_help(invoke, args, said):
    # was click's message alone: its usage block, which points to the help, is left out (one line)
    result = invoke(*args)
    assert result.exit_code == 2 and stderr_lines(result) == [f"ccaudit: error: {said}"]


@pytest.mark.parametrize(("folder", "glob"), [("my dumps", "'my dumps'/*"), ("d/", "d/*")])
def test_a_folder_given_as_a_dump_is_told_how_to_give_its_dumps(invoke, tmp_path, monkeypatch, folder, glob):
    # the glob, pasted, must name the folder's files: was "my dumps/*", two words
    monkeypatch.chdir(tmp_path)
    os.mkdir(folder)
    result = invoke("report", folder)
    assert result.exit_code == 2 and stderr_lines(result) == [
        f"ccaudit: error: {folder}: is a directory; give the dumps in it ({glob})"]
    result = invoke("diff", folder, folder)  # two sides, each of them one argument: not a glob
    assert result.exit_code == 2 and stderr_lines(result) == [
        f"ccaudit: error: {folder}: is a directory; give each dump in it with --a FILE or --b FILE"]


@pytest.mark.parametrize("args, onto, mode", [
    (("report", "{dump}", "--db", "{db}", "-q"), "{db}", "wb"),  # > audit.db, which the shell empties first
    (("report", "{dump}", "--db", "{db}", "-o", "-", "-q"), "{db}", "ab"),
    (("load", "{dump}", "--db", "{db}", "-f", "json", "-q"), "{db}", "wb"),
    (("report", "{dump}", "-q"), "{dump}", "ab"),  # >> dump.txt
    (("summary", "--db", "{db}"), "{db}", "ab"),
    (("diff", "{other}", "{db}"), "{db}", "ab"),
    (("report", "--db", "{db}", "--out", "{tmp}/r"), "{db}-journal", "ab")])
def test_standard_output_onto_the_store_or_an_input_is_refused(ccaudit_exe, sample_cli, tmp_path, args, onto, mode):
    # was: exit 0, and the report written into the store it had just loaded ("file is not a
    # database" ever after), or appended to the dump; only `-o /dev/stdout` was refused
    names = {"dump": tmp_path / "dump.txt", "db": tmp_path / "s.db", "other": tmp_path / "t.db", "tmp": tmp_path}
    names["dump"].write_bytes(sample_cli.read_bytes())
    for db in ("db", "other"):
        assert subprocess.run([ccaudit_exe, "load", sample_cli, "--db", names[db], "-q"], check=False).returncode == 0
    target = Path(onto.format(**names))
    before = target.read_bytes() if mode == "ab" and target.exists() else b""
    with open(target, mode) as out:
        proc = subprocess.run([ccaudit_exe, *(a.format(**names) for a in args)], stdout=out,
                              stderr=subprocess.PIPE, text=True, check=False)
    what = {"{dump}": "an input", "{db}": "the store"}.get(onto, "the store's journal")
    assert (proc.returncode, proc.stderr) == (2, f"ccaudit: error: standard output is {what}, {target}; send it "
                                                 "elsewhere\n")
    assert target.read_bytes() == before
    if mode == "ab" and onto != "{dump}":  # (not written into: still a store)
        summary = subprocess.run([ccaudit_exe, "summary", "--db", names["db"]], capture_output=True, check=False)
        assert summary.returncode == 0, summary.stderr


@pytest.mark.parametrize("args, onto, mode", [
    (("load", "{dump}", "--db", "{db}"), "{db}", "ab"),  # 2>> audit.db
    (("report", "{dump}", "--db", "{db}", "-o", "{tmp}/r.txt"), "{db}", "wb"),  # 2> audit.db, emptied by the shell
    (("report", "{dump}", "-o", "{tmp}/r.txt"), "{dump}", "ab")])
def test_standard_error_onto_the_store_or_an_input_is_refused(ccaudit_exe, sample_cli, tmp_path, args, onto, mode):
    # was: exit 0, with the load's line and warnings written into the store (with 2>, over its
    # first page: "file is not a database" ever after) or appended to the dump
    names = {"dump": tmp_path / "dump.txt", "db": tmp_path / "s.db", "tmp": tmp_path}
    names["dump"].write_bytes(sample_cli.read_bytes())
    assert subprocess.run([ccaudit_exe, "load", sample_cli, "--db", names["db"], "-q"], check=False).returncode == 0
    target = Path(onto.format(**names))
    before = target.read_bytes() if mode == "ab" else b""
    with open(target, mode) as err:
        proc = subprocess.run([ccaudit_exe, *(a.format(**names) for a in args)], stdout=subprocess.PIPE, stderr=err,
                              check=False)
    what = "an input" if onto == "{dump}" else "the store"
    said = f"ccaudit: error: standard error is {what}, {target}; send it elsewhere\n".encode()
    assert (proc.returncode, proc.stdout, target.read_bytes()) == (2, b"", before + said)
    assert not (tmp_path / "r.txt").exists()
    if mode == "ab" and onto == "{db}":  # (the refusal after its last page: still the store it was)
        summary = subprocess.run([ccaudit_exe, "summary", "--db", names["db"]], capture_output=True, check=False)
        assert summary.returncode == 0 and b"13 events" in summary.stdout, summary


@pytest.mark.parametrize("mode, both", [("wb", False), ("ab", False), ("wb", True)])  # both: > j 2>&1
def test_standard_error_onto_the_stores_journal_is_refused_without_a_word_in_it(ccaudit_exe, sample_cli, tmp_path,
                                                                               mode, both):
    # a warning (of a killed load, here) written into the journal the shell made failed the
    # command ("attempt to write a readonly database"), and every later one ("not a journal");
    # so did the refusal written there
    db = tmp_path / "s.db"
    assert subprocess.run([ccaudit_exe, "load", sample_cli, "--db", db, "-q"], check=False).returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO meta VALUES ('unfinished_load 1-x', ?)",
                     ('{"began": "2024-05-13T06:00:00Z", "inputs": ["d.txt"], "files": ["-"]}',))
    with open(f"{db}-journal", mode) as err:
        proc = subprocess.run([ccaudit_exe, "summary", "--db", db], stdout=err if both else subprocess.PIPE,
                              stderr=err, check=False)
    assert (proc.returncode, proc.stdout or b"", Path(f"{db}-journal").read_bytes()) == (2, b"", b"")
    result = subprocess.run([ccaudit_exe, "summary", "--db", db], capture_output=True, check=False)  # (beside it)
    assert result.returncode == 0 and b"13 events" in result.stdout and b"did not end" in result.stderr, result


@pytest.mark.parametrize("args, what", [
    (("report", "{dump}", "-o", "{long}.txt"), "the report"),
    (("report", "{dump}", "--out", "{long}"), "the folder"),
    (("load", "{dump}", "--db", "{long}.db"), "the store")])
def test_a_name_longer_than_the_file_system_takes_is_refused_before_the_load(run_ccaudit, sample_cli, tmp_path,
                                                                             args, what):
    # was: the whole load, its warnings and its line, then "File name too long" (as download's
    # --out was before it was checked first)
    names = {"dump": sample_cli, "long": tmp_path / ("x" * 300)}
    result = run_ccaudit(*(a.format(**names) for a in args), cwd=tmp_path)
    target = args[-1].format(**names)
    assert (result.returncode, result.stderr) == (2, f"ccaudit: error: {target}: cannot create {what}: its name is "
                                                     "over the 255 bytes a name may have here\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [("report", "--section"), ("report", "-f"), ("report", "--top"), ("methods", "-f"),
                                  ("export", "--table")])
def test_a_value_with_a_byte_not_utf8_shows_the_byte_in_a_choices_error(run_ccaudit, tmp_path, args):
    # was 'a\udcff', Python's stand-in for the byte, where every other message shows \xff
    result = run_ccaudit(*args, os.fsdecode(b"a\xff"), "--db", tmp_path / "s.db")
    assert result.returncode == 2 and "'a\\xff'" in result.stderr and "udc" not in result.stderr, result.stderr


def test_standard_output_onto_the_file_standard_input_reads_is_refused(ccaudit_exe, sample_cli, tmp_path):
    # was: exit 0, and `ccaudit report - < d.txt >> d.txt` appended the report to the dump
    dump = tmp_path / "d.txt"
    dump.write_bytes(sample_cli.read_bytes())
    with open(dump, "rb") as stdin, open(dump, "ab") as out:
        proc = subprocess.run([ccaudit_exe, "report", "-", "-q"], stdin=stdin, stdout=out, stderr=subprocess.PIPE,
                              text=True, check=False)
    assert (proc.returncode, proc.stderr) == (2, "ccaudit: error: standard output is an input, -; send it elsewhere\n")
    assert dump.read_bytes() == sample_cli.read_bytes()


def test_a_name_typed_with_a_backslash_is_shown_as_typed(run_ccaudit):
    # the \xff that a choice's error shows for a byte not UTF-8 is not made of text typed so
    result = run_ccaudit("x\\udcff")
    assert result.returncode == 2 and "'x\\udcff'" in result.stderr, result.stderr

"""Values and conditions that ccaudit refuses with one line and exit 2, never an internal
error: output that cannot be written, names too long, patterns SQLite refuses, damaged
stores, odd rules files, NaN timeouts, stale temporary folders with impossible pids."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from ccaudit.errors import ExitCode
from ccaudit.tempdirs import pid_alive
from tests.faults import fsize_limit

pytestmark = pytest.mark.usefixtures("at_root")


def refused(result, words: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert words in result.stderr and "internal error" not in result.stderr


@pytest.fixture
def store(invoke, tmp_path, sample_cli) -> str:
    path = str(tmp_path / "audit.db")
    assert invoke("load", str(sample_cli), "--db", path, "-q").exit_code == 0
    return path


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["report", "{dump}"], ["summary", "--db", "{db}"], ["report", "--db", "{db}",
                                                                                         "--format", "json"]])
def test_standard_output_on_a_full_disk(store, sample_cli, args):
    args = [a.format(dump=sample_cli, db=store) for a in args]
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "ccaudit", *args, "-q"] if args[0] == "report" else
                              [sys.executable, "-m", "ccaudit", *args], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "ccaudit: error: cannot write to standard output: No space left on device" in proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_standard_error_on_a_full_disk_loses_the_messages_not_the_work(sample_cli, tmp_path):
    """Its load line and malformed lines cannot be written: the report still is, and a
    check still exits by its rules (it exited 1, a breach, with nothing written)."""
    def run(*args):
        with open("/dev/full", "w") as full:
            return subprocess.run([sys.executable, "-m", "ccaudit", *args], stdout=subprocess.PIPE, stderr=full,
                                  text=True, timeout=60, check=False)

    out = tmp_path / "report.txt"
    assert run("report", str(sample_cli), "-o", str(out)).returncode == 0
    assert out.read_text(encoding="utf-8").startswith("Audit Summary for 13 events")
    check = run("check", str(sample_cli), "--max", "*:*=100000/h")
    assert (check.returncode, check.stdout.split(":")[0]) == (0, "OK")
    assert run("check", str(sample_cli), "--max", "*:*=1/h").returncode == 1
    assert run("check", str(sample_cli), "--max", "nonsense").returncode == 2


def test_a_store_name_too_long_for_the_file_system(invoke, tmp_path, sample_cli):
    refused(invoke("load", str(sample_cli), "--db", str(tmp_path / ("y" * 256)), "-q"), "cannot create the store")


@pytest.mark.parametrize("table, edit, args", [
    ("counts", "hours = x'0000'", ["report"]),
    ("counts", "hours = 'text'", ["report", "--principal", "*", "--format", "json"]),
    ("counts", "hours = x'00'", ["check", "--max", "*:*=1/h"]),
    ("counts", "offset_hours = x'00000000'", ["report", "--tz", "Asia/Kolkata"]),
    ("counts", "offset_hours = x'00000000'", ["report", "--tz", "America/St_Johns", "--top", "1"]),
    ("counts", "hours = x'0000'", ["load", "{later}"]),  # adds to a stored row
    # a row that keeps no hours, added to: was joined as it was, the damage kept for good
    ("counts", "quarters = x''", ["load", "{later}"]),
    ("counts", "quarters = substr(quarters, 1, 15)", ["load", "{later}"]),
    ("counts", "n = 999", ["load", "{later}"]),
    ("counts", "n = 999", ["load", "{dense}"]),  # a row that keeps its hours
])
def test_a_counts_row_of_the_wrong_shape(invoke, tmp_path, table, edit, args):
    # a store edited by hand (or made to break a reader): was an internal error, exit 70
    from tests.records import signin, write_jsonl

    db = str(tmp_path / "audit.db")
    hours = range(6) if args[-1] == "{dense}" else (10,)  # six quarter hours: a row that keeps its hours
    first = [signin(f"2024-05-06T{h:02}:00:00Z", "a@example.com", id=f"e{h}") for h in hours]
    later = write_jsonl(tmp_path, [signin("2024-05-06T11:00:00Z", "a@example.com", id="later")], "later.jsonl")
    assert invoke("load", write_jsonl(tmp_path, first, "first.jsonl"), "--db", db, "-q").exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE {table} SET {edit}")
    conn.close()
    refused(invoke(*[a.format(later=later, dense=later) for a in args], "--db", db, "-q"),
            f"{db}: a row of its {table} is damaged (")


_FIRST_METHOD = "(day, method) = (SELECT day, method FROM method_counts LIMIT 1)"
_FIRST_EVENT = "(hour, id) = (SELECT hour, id FROM events LIMIT 1)"
_SECTION_KEY = "kid = (SELECT min(kid) FROM keys WHERE section != '')"  # a key that a report's sections show


@pytest.mark.parametrize("table, edit, args", [
    ("method_counts", "quarters = x'0102'", ["report", "--tz", "Asia/Kolkata", "--stats", "-q"]),
    ("method_counts", "quarters = x'0102'", ["report", "--since", "2024-05-13T07:05:00Z", "--format", "csv", "-q"]),
    ("quarters", "n = 'x'", ["summary"]),
    # a count SQL sums (as 0.0, text): was a total that lost the row's events, exit 0
    ("method_counts", f"n = 'x' WHERE {_FIRST_METHOD}", ["methods"]),
    ("method_counts", f"n = 2.5 WHERE {_FIRST_METHOD}", ["methods"]),
    ("quarters", "first_us = 'x'", ["methods"]),
    ("events", "us = 'x'", ["export", "--out", "{tmp}/parquet"]),
    # text columns holding a blob or a number (TEXT columns take either)
    ("method_counts", f"method = x'4765' WHERE {_FIRST_METHOD}", ["methods"]),
    ("method_counts", f"method = x'4765' WHERE {_FIRST_METHOD}", ["check", "--max", "*:*=1/h"]),
    ("keys", f"key = x'7361' WHERE {_SECTION_KEY}", ["report"]),
    ("keys", f"key = x'7361' WHERE {_SECTION_KEY}", ["report", "--format", "html", "-o", "{tmp}/r.html"]),
    ("keys", "principal = x'ff' WHERE kid = 1", ["export", "--out", "{tmp}/parquet"]),
    ("details", "operation = x'ff' WHERE did = 1", ["export", "--out", "{tmp}/parquet"]),
    ("events", f"id = 12345 WHERE {_FIRST_EVENT}", ["export", "--out", "{tmp}/parquet"]),
    ("events", f"connection_id = x'ff' WHERE {_FIRST_EVENT}", ["export", "--out", "{tmp}/parquet"]),
    # values of the right type that no load makes (were ValueError, OverflowError, IndexError: exit 70)
    ("quarters", "quarter = 253402300800 WHERE quarter = (SELECT max(quarter) FROM quarters)", ["summary"]),
    ("quarters", "quarter = 253402300800 WHERE quarter = (SELECT max(quarter) FROM quarters)", ["methods"]),
    ("quarters", "n = 9223372036854775807", ["summary"]),
    ("quarters", "n = -1000", ["summary"]),  # was "Audit Summary for -19,000 events", exit 0
    ("quarters", "n = 0 WHERE quarter = (SELECT max(quarter) FROM quarters)", ["report", "--format", "json"]),
    # a time the C library cannot place (OSError EOVERFLOW: exit 70)
    ("quarters", "quarter = 9223372036854775807 WHERE quarter = (SELECT max(quarter) FROM quarters)", ["summary"]),
    ("quarters", "quarter = 9223372036854775807 WHERE quarter = (SELECT max(quarter) FROM quarters)", ["report"]),
    ("counts", f"quarters = x'' WHERE {_SECTION_KEY}", ["report", "--stats", "--tz", "America/St_Johns"]),
    ("counts", "day = 4611686018427387904 WHERE (day, kid) = (SELECT day, kid FROM counts LIMIT 1)", ["methods"]),
    ("events", f"hour = 9223372036854775807 WHERE {_FIRST_EVENT}", ["export", "--out", "{tmp}/parquet"]),
    ("events", f"hour = 96000000 WHERE {_FIRST_EVENT}", ["export", "--out", "{tmp}/parquet"]),
])
def test_a_row_of_the_other_tables_reports_read_of_the_wrong_shape(invoke, tmp_path, fixtures_dir, table, edit, args):
    # the rows of a method, of the store's quarter hours, of events at a window's edge: the
    # check looked at counts only, and these were internal errors (exit 70)
    db = str(tmp_path / "audit.db")
    assert invoke("load", fixtures_dir / "sample-week2.jsonl", "--db", db, "-q").exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE {table} SET {edit}")
    conn.close()
    refused(invoke(*[a.format(tmp=tmp_path) for a in args], "--db", db), f"{db}: a row of its {table} is damaged (")


_FIRST_DAY_KEY = "(day, section, kid) = (SELECT day, section, kid FROM counts LIMIT 1)"


@pytest.mark.parametrize("table, edit, args", [
    # a key or a time that SQLite orders after every number: the row was left out, exit 0
    ("counts", f"first_us = 'x' WHERE {_SECTION_KEY}", ["report", "--format", "json"]),
    ("counts", f"last_us = NULL WHERE {_SECTION_KEY}", ["report", "--stats"]),
    ("counts", f"first_us = 'x' WHERE {_SECTION_KEY}", ["report", "--tz", "Europe/Zurich", "--format", "csv"]),
    ("counts", f"day = 'x' WHERE {_FIRST_DAY_KEY}", ["report"]),
    ("counts", f"day = 'x' WHERE {_FIRST_DAY_KEY}", ["check", "--max", "*:*=100/d"]),
    ("method_counts", f"day = 'x' WHERE {_FIRST_METHOD}", ["methods"]),
    ("method_counts", f"first_us = 'x' WHERE {_FIRST_METHOD}", ["report", "--format", "json"]),
    ("events", f"hour = 'x' WHERE {_FIRST_EVENT}", ["report", "--since", "2024-05-13T07:05:00Z"]),
    ("events", f"us = 'x' WHERE {_FIRST_EVENT}", ["report", "--since", "{first_event}"]),  # read at a cut
    # a key that CSV wrote as Python shows it (None, b'sa'), exit 0
    ("keys", f"key = x'7361' WHERE {_SECTION_KEY}", ["report", "--format", "csv"]),
    ("keys", f"key = x'7361' WHERE {_SECTION_KEY}", ["report", "--format", "csv", "--top", "1000"]),
    ("keys", f"key = NULL WHERE {_SECTION_KEY}", ["report", "--format", "csv"]),
])
def test_a_key_or_time_edited_to_another_type_is_said_not_left_out(invoke, tmp_path, fixtures_dir, table, edit, args):
    db = str(tmp_path / "audit.db")
    assert invoke("load", fixtures_dir / "sample-week2.jsonl", "--db", db, "-q").exit_code == 0
    if "NULL" in edit:  # a column edited to take one
        column = edit.split()[0]
        with sqlite3.connect(db) as conn:
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", [table]).fetchone()[0]
            conn.execute("PRAGMA writable_schema = ON")
            conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?",
                         [re.sub(rf"\b{column} (\w+) NOT NULL", rf"{column} \1", sql), table])
        conn.close()
    with sqlite3.connect(db) as conn:
        first_us = conn.execute(f"SELECT us FROM events WHERE {_FIRST_EVENT}").fetchone()[0]
        conn.execute(f"UPDATE {table} SET {edit}")
    conn.close()
    after = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=first_us + 1)  # in its hour
    refused(invoke(*[a.format(first_event=after.isoformat()) for a in args], "--db", db),
            f"{db}: a row of its {table} is damaged (")


def test_a_time_edited_to_text_that_a_report_does_not_read_leaves_its_row_in(invoke, tmp_path, fixtures_dir):
    # was: the row left out of the report, and out of check's breaches (a CI pass), exit 0
    db = str(tmp_path / "audit.db")
    assert invoke("load", fixtures_dir / "sample-week2.jsonl", "--db", db, "-q").exit_code == 0
    with sqlite3.connect(db) as conn:
        key = conn.execute(f"SELECT key FROM keys WHERE {_SECTION_KEY}").fetchone()[0]
        conn.execute(f"UPDATE counts SET first_us = 'x' WHERE {_SECTION_KEY}")
        conn.execute("UPDATE method_counts SET first_us = 'x' WHERE method = 'SignIn'")
    conn.close()
    assert f"\n{key} " in invoke("report", "--db", db).stdout
    assert "SignIn" in invoke("methods", "--db", db).stdout
    breach = invoke("check", "--db", db, "--max", "all_events:SignIn=0/d", "--format", "json")
    assert breach.exit_code == 1 and json.loads(breach.stdout)["breaches"][0]["key"] == "SignIn"


@pytest.mark.parametrize("table, where", [("method_counts", _FIRST_METHOD), ("counts", _SECTION_KEY)])
def test_a_diff_against_a_store_of_a_count_that_is_text_names_that_store(invoke, tmp_path, fixtures_dir, table,
                                                                          where):
    # was a change as large as the row's events (SQLite sums text as 0), exit 0: in CI, a drop invented
    good, bad = str(tmp_path / "good.db"), str(tmp_path / "bad.db")
    for db in (good, bad):
        assert invoke("load", fixtures_dir / "sample-week2.jsonl", "--db", db, "-q").exit_code == 0
    with sqlite3.connect(bad) as conn:
        conn.execute(f"UPDATE {table} SET n = 'x' WHERE {where}")
    conn.close()
    refused(invoke("diff", good, bad, "--format", "csv"), f"{bad}: a row of its {table} is damaged (")


_SPARSE_ROW = "(day, section, kid) = (SELECT day, section, kid FROM counts WHERE length(hours) = 0 LIMIT 1)"
_QUARTER_96 = "x'60000000010000000000000000000000'"  # quarter 96 of a day of 96
_TWO_FULL_QUARTERS = "x'00000000ffffffff000000000000000001000000ffffffff0000000000000000'"


@pytest.mark.parametrize("edit, args", [
    (f"quarters = {_QUARTER_96}", ["report"]),
    (f"quarters = {_QUARTER_96}", ["report", "--principal", "*"]),
    (f"quarters = {_QUARTER_96}", ["check", "--max", "*:*=1/h"]),
    (f"quarters = {_TWO_FULL_QUARTERS}", ["report"]),
    (f"quarters = {_TWO_FULL_QUARTERS}", ["check", "--max", "*:*=1/h"]),
    ("quarters = x''", ["report", "--format", "csv"]),
    ("quarters = x''", ["report", "--principal", "*"]),
    ("hours = x'0100000002000000'", ["report", "--format", "csv"]),
    ("hours = x'0100000002000000'", ["report", "--principal", "*"]),
    ("hours = zeroblob(96)", ["report", "--format", "json"]),
])
def test_a_row_that_keeps_no_hours_edited(invoke, tmp_path, sample_cli, edit, args):
    """Layout 9's rows of few quarter hours, edited: quarters past the day's last or more
    events in an hour than an hours blob holds were exit 70 or a line naming no store;
    no quarters, or hours of a wrong size, were reports of wrong counts, exit 0."""
    db = str(tmp_path / "audit.db")
    assert invoke("load", str(sample_cli), "--db", db, "-q").exit_code == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute(f"UPDATE counts SET {edit} WHERE {_SPARSE_ROW}").rowcount == 1
    conn.close()
    refused(invoke(*args, "--db", db), f"{db}: a row of its counts is damaged (")


_NOT_UTF8_KEY = ("keys", f"key = CAST(x'ff00fe' AS TEXT) || kid WHERE {_SECTION_KEY}")


@pytest.mark.parametrize("table, edit, args", [
    (*_NOT_UTF8_KEY, ["report"]),
    (*_NOT_UTF8_KEY, ["diff", "{good}"]),
    (*_NOT_UTF8_KEY, ["export", "--out", "{tmp}/parquet"]),
    ("keys", "principal = CAST(x'c3' AS TEXT) WHERE kid = 1", ["export", "--out", "{tmp}/parquet"]),
    ("details", "operation = CAST(x'e282' AS TEXT) WHERE did = 1", ["export", "--out", "{tmp}/parquet"]),
])
def test_text_that_is_not_utf8_names_the_store_and_its_table(invoke, tmp_path, fixtures_dir, table, edit, args):
    # was: "a store could not be read: Could not decode to UTF-8 column 'key' ...": which store, of a diff's two?
    good, db = str(tmp_path / "good.db"), str(tmp_path / "audit.db")
    for path in (good, db):
        assert invoke("load", fixtures_dir / "sample-week2.jsonl", "--db", path, "-q").exit_code == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute(f"UPDATE {table} SET {edit}").rowcount == 1
    conn.close()
    args = [a.format(good=good, tmp=tmp_path) for a in args]
    refused(invoke(*args, db) if args[0] == "diff" else invoke(*args, "--db", db),
            f"{db}: a row of its {table} holds text that is not UTF-8; load the dumps into a new store")


@pytest.mark.parametrize("ids", [("e1", "e2"), ("b0000000-0000-4000-8000-000000000001",
                                                 "b0000000-0000-4000-8000-000000000002")])
def test_text_that_is_not_utf8_in_a_blob_column_names_its_table(invoke, tmp_path, ids):
    # was: "a row of its events holds text that is not UTF-8" (a UUID id is kept as 16
    # bytes, which were read as text), or, of other ids, a line naming no store
    from tests.records import signin, write_jsonl

    db = str(tmp_path / "audit.db")
    first = write_jsonl(tmp_path, [signin("2024-05-06T10:00:00Z", "a@example.com", id=ids[0])], "first.jsonl")
    later = write_jsonl(tmp_path, [signin("2024-05-06T11:00:00Z", "a@example.com", id=ids[1])], "later.jsonl")
    assert invoke("load", first, "--db", db, "-q").exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE counts SET quarters = CAST(x'c8ff0000' AS TEXT)")
    conn.close()
    refused(invoke("load", later, "--db", db, "-q"), f"{db}: a row of its counts is damaged (")


def test_a_null_in_a_column_edited_to_take_one_names_the_store(invoke, tmp_path, fixtures_dir):
    # was: "a store could not be read: NOT NULL constraint failed: t.b", naming neither store of the diff
    good, db = str(tmp_path / "good.db"), str(tmp_path / "audit.db")
    for path in (good, db):
        assert invoke("load", fixtures_dir / "sample-week2.jsonl", "--db", path, "-q").exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET sql = replace(sql, 'n INTEGER NOT NULL', 'n INTEGER')"
                     " WHERE name = 'counts'")
    conn.close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE counts SET n = NULL")
    conn.close()
    refused(invoke("diff", good, db), f"{db}: a row of its counts is damaged (")


_NOT_WHOLE = "not a whole ccaudit store (its {} has no column {}); load the dumps into a new store"


@pytest.mark.parametrize("edit, args, said", [
    ("UPDATE counts SET n = 4611686018427387904", ["diff", "{good}", "{db}"], "a row of its counts is damaged ("),
    ("UPDATE counts SET n = 4611686018427387904", ["diff", "{db}", "{good}"], "a row of its counts is damaged ("),
    ("UPDATE method_counts SET n = 9223372036854775807", ["methods", "--db", "{db}"],
     "a row of its method_counts is damaged ("),
    ("ALTER TABLE keys RENAME COLUMN key TO k2", ["diff", "{good}", "{db}"], _NOT_WHOLE.format("keys", "key")),
    ("ALTER TABLE keys RENAME COLUMN key TO k2", ["diff", "{db}", "{good}"], _NOT_WHOLE.format("keys", "key")),
    ("ALTER TABLE counts DROP COLUMN offset_hours", ["report", "--db", "{db}"],
     _NOT_WHOLE.format("counts", "offset_hours")),
])
def test_a_sum_past_64_bits_or_a_column_edited_away_names_the_store(invoke, tmp_path, fixtures_dir, edit, args, said):
    # was: "a store could not be read: integer overflow" (or "no such column: k.key"), naming
    # neither store of a diff
    good, db = str(tmp_path / "good.db"), str(tmp_path / "audit.db")
    for path in (good, db):
        assert invoke("load", fixtures_dir / "sample-week2.jsonl", "--db", path, "-q").exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute(edit)
    conn.close()
    refused(invoke(*(a.format(good=good, db=db) for a in args)), f"{db}: {said}")


_REMADE = ("ALTER TABLE {0} RENAME TO old; CREATE TABLE {0} AS SELECT * FROM old; DROP TABLE old;"
           " INSERT INTO {0} SELECT * FROM {0}")  # made again without its key, each row twice


@pytest.mark.parametrize("edit, args, said", [
    (_REMADE.format("counts"), ["report", "--db", "{db}", "--format", "csv"],
     "its counts is not keyed as ccaudit keys it"),  # was: every count doubled, exit 0
    (_REMADE.format("events"), ["load", "{dump}", "--db", "{db}"],
     "its events is not keyed as ccaudit keys it"),  # was: "19 new, 0 duplicates", every event twice
    ("PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = replace(sql, 'key TEXT NOT NULL',"
     " 'key TEXT NOT NULL COLLATE NOCASE') WHERE name = 'keys'", ["diff", "{good}", "{db}"],
     "its keys declares a collation"),  # was: SA-1 and sa-1 one key in a diff
])
def test_a_table_made_again_by_hand_is_refused(invoke, tmp_path, fixtures_dir, edit, args, said):
    good, db, dump = str(tmp_path / "good.db"), str(tmp_path / "audit.db"), fixtures_dir / "sample-week2.jsonl"
    for path in (good, db):
        assert invoke("load", dump, "--db", path, "-q").exit_code == 0
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA legacy_alter_table = ON")  # the views name the tables
    conn.executescript(edit)
    conn.close()
    refused(invoke(*(a.format(good=good, db=db, dump=dump) for a in args)), f"{db}: {said}")


def test_a_value_error_with_whole_counts_is_still_a_bug(store, monkeypatch):
    from click.testing import CliRunner

    from ccaudit.cli import cli

    def broken(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr("ccaudit.daycounts.hours", broken)
    result = CliRunner().invoke(cli, ["report", "--db", store])
    assert result.exit_code == ExitCode.INTERNAL and "internal error: ValueError: a bug" in result.stderr


def test_a_damaged_store(invoke, store):
    # the first page (the schema) is whole, every other one is garbage: the store opens,
    # and its damage shows when the report reads it
    with open(store, "r+b") as f:
        f.seek(65536)
        f.write(b"\xab" * (os.path.getsize(store) - 65536))
    refused(invoke("report", "--db", store, "--format", "json"), f"{store}: the store is damaged (database disk image")


@pytest.mark.parametrize("text, words", [
    (b'[[rule]]\nkey = "\xff"\nmax = 1\n', "rules.toml:2: not UTF-8 text"),  # not UTF-8
    (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
    (b"[[rule]]\nmax = " + b"9" * 4301 + b"\n", "not valid TOML: a number of too many digits"),  # was: Python's
    # hint to call sys.set_int_max_str_digits()
    (b"", "no rules; a rule is a [[rule]] table"),  # was: "give at least one --max RULE or a --rules FILE"
    (b"# only a comment\nrule = []\n", "no rules"),
    (b"[[rule]]\nmax = 9223372036854775808\n", "the limit is too large"),  # beyond SQLite's integers
    (b"[[rule]]\nmax = " + b"0" * 5000 + b"5\n", "not valid TOML"),  # TOML refuses leading zeros
])
def test_odd_rules_files(invoke, store, tmp_path, text, words):
    rules = tmp_path / "rules.toml"
    rules.write_bytes(text)
    refused(invoke("check", "--db", store, "--rules", str(rules)), words)


@pytest.mark.parametrize("source", ["/dev/zero", "big"])
def test_a_rules_file_larger_than_any_rules_file_is_refused_unread(invoke, store, tmp_path, source):
    # was: read whole, so /dev/zero grew until the kernel killed the process
    if source == "big":
        source = tmp_path / "big.toml"
        source.write_text("# a comment\n" * 100_000)
    refused(invoke("check", "--db", store, "--rules", str(source)), "larger than 1,048,576 bytes")


def test_rules_from_a_pipe_are_read(invoke, store, tmp_path):
    # `--rules <(generate-rules)`: a pipe, read up to the same limit
    import threading

    fifo = tmp_path / "rules.toml"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text("[[rule]]\nmax = 0\n"), daemon=True)
    writer.start()
    result = invoke("check", "--db", store, "--rules", str(fifo))
    writer.join(timeout=10)
    assert result.exit_code == ExitCode.CHECK_FAILED and "BREACH" in result.stdout


@pytest.mark.parametrize("command", [["report", "{dump}"], ["report", "--db", "{db}"], ["diff", "{dump}", "{dump}"]])
def test_a_top_beyond_what_sqlite_binds_keeps_every_row(invoke, sample_cli, store, command):
    # was: an internal error (OverflowError binding 2**63) after the first lines were written;
    # then a usage error, "not in the range x>=1" once the help left SQLite's bound out
    args = [a.format(dump=sample_cli, db=store) for a in command]
    result = invoke(*args, "--top", str(2**63), "-q")
    assert result.exit_code == 0 and result.stdout == invoke(*args, "--top", str(2**63 - 1), "-q").stdout


def test_the_last_date_datetime_holds_is_an_open_end(invoke, store):
    # was: "'9999-12-31' is not a date": its next midnight overflowed
    whole = invoke("report", "--db", store, "--format", "json").stdout
    assert invoke("report", "--db", store, "--format", "json", "--until", "9999-12-31").stdout == whole
    refused(invoke("report", "--db", store, "--until", "9999-12-32"), "is not a date")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("command", ["summary", "report", "load"])
def test_a_fifo_named_as_the_store_is_refused_without_waiting_for_a_writer(tmp_path, sample_cli, command):
    # was: the reading commands blocked for ever in sqlite3.connect
    fifo = tmp_path / "audit.db"
    os.mkfifo(fifo)
    args = [str(sample_cli), "-q"] if command == "load" else ["-q"] if command == "report" else []
    proc = subprocess.run([sys.executable, "-m", "ccaudit", command, *args, "--db", str(fifo)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == ExitCode.USAGE and "is not a regular file, not a store" in proc.stderr


def test_an_empty_store_file_that_cannot_be_made_owner_only_is_refused(invoke, tmp_path, sample_cli, monkeypatch):
    # was: an internal error (PermissionError from chmod: another user's empty file)
    path = tmp_path / "audit.db"
    path.touch()

    def not_ours(*args, **kw):
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(os, "chmod", not_ours)
    refused(invoke("load", str(sample_cli), "--db", str(path), "-q"), "cannot make the store owner-only")
    assert path.exists()  # not ours to remove
    new = tmp_path / "new.db"  # a file system without modes: the file it just made goes again
    refused(invoke("load", str(sample_cli), "--db", str(new), "-q"), "cannot make the store owner-only")
    assert not new.exists()


@pytest.mark.parametrize("digits", [19, 4301])
def test_a_limit_of_too_many_digits(invoke, store, digits):
    refused(invoke("check", "--db", store, "--max", f"*:*={'9' * digits}/h"), "the limit is too large")


def test_a_pid_no_process_can_have_is_not_alive():
    assert not pid_alive(2**31) and not pid_alive(2**64)


def test_an_export_folder_left_with_an_impossible_pid(invoke, store, tmp_path):
    out = tmp_path / "x"
    assert invoke("export", "--db", store, "--out", str(out), "--table", "counts").exit_code == 0
    (out / ".ccaudit-export-4294967296-z").mkdir()
    result = invoke("export", "--db", store, "--out", str(out), "--table", "counts")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "0.0", "Secr3t-Value"])
def test_a_timeout_that_is_not_a_number_of_seconds_is_refused_without_repeating_it(invoke, tmp_path, value):
    # was "'Secr3t-Value' is not a valid float range": a secret typed after --timeout was printed
    config = tmp_path / "client.properties"
    config.write_text("bootstrap.servers=localhost:1\n")
    config.chmod(0o600)
    result = invoke("download", "--config", str(config), "--out", str(tmp_path / "d.jsonl"), "--timeout", value)
    refused(result, "--timeout': not a finite number of seconds above 0")
    assert value not in result.stderr



@pytest.mark.parametrize("command", [["report", "--db", "{db}"], ["summary", "--db", "{db}"],
                                     ["check", "--db", "{db}", "--max", "*:*=0/h"], ["--version"], ["--help"]])
def test_standard_output_closed_by_the_caller(store, command):
    # `ccaudit ... >&-`: Python starts with no sys.stdout at all
    proc = subprocess.run([sys.executable, "-m", "ccaudit", *(a.format(db=store) for a in command)],
                          stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60, check=False,
                          preexec_fn=lambda: os.close(1))
    assert proc.returncode == 2, proc.stderr
    said = "standard output is closed (>&-?)" if command[0] in ("report", "summary", "check") else \
        "cannot write to standard output: Bad file descriptor"  # these find out before they read anything
    assert f"ccaudit: error: {said}" in proc.stderr


@pytest.mark.parametrize("command", [["load", "-", "--db", "{db}"], ["check", "--db", "{db}", "--rules", "-"]])
def test_standard_input_closed_by_the_caller(store, command):
    # check --rules -: was "internal error: AttributeError", exit 70
    proc = subprocess.run([sys.executable, "-m", "ccaudit", *(a.format(db=store) for a in command)], stdin=None,
                          capture_output=True, text=True, timeout=60, check=False, preexec_fn=lambda: os.close(0))
    assert proc.returncode == 2, proc.stderr
    assert "-: standard input is closed" in proc.stderr and "internal error" not in proc.stderr


@pytest.mark.parametrize("command", [["load", "-"], ["report", "-"]])
def test_standard_input_closed_by_the_caller_is_refused_before_a_store_is_made(tmp_path, command):
    # was: refused after an empty store was made, which the next command took for one of no events
    db = tmp_path / "new.db"
    proc = subprocess.run([sys.executable, "-m", "ccaudit", *command, "--db", db], stdin=None, capture_output=True,
                          text=True, timeout=60, check=False, preexec_fn=lambda: os.close(0))
    assert (proc.returncode, proc.stderr) == (2, "ccaudit: error: -: standard input is closed\n")
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize("command", [["--version"], ["--help"], ["report", "--help"]])
def test_a_reader_gone_before_version_or_help_is_a_broken_pipe(command):
    # `ccaudit --version | true`, the reader gone before the line is written: 141, as for a report
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "ccaudit", *command], stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=60, check=False)
    finally:
        os.close(write)
    assert proc.returncode == ExitCode.BROKEN_PIPE, proc.stderr
    assert proc.stderr == ""


@pytest.mark.parametrize("command", [["summary", "--db", "{db}"], ["check", "--db", "{db}", "--max", "*:*=1/h"],
                                     ["methods", "--db", "{db}"], ["diff", "{db}", "{db}"]])
@pytest.mark.parametrize("unbuffered", ["", "1"], ids=["buffered", "PYTHONUNBUFFERED"])
def test_a_reader_gone_before_a_short_output_is_a_broken_pipe(store, command, unbuffered):
    # `ccaudit summary --db S | true`: an output shorter than stdout's buffer was written at exit:
    # "Exception ignored in: <_io.TextIOWrapper name='<stdout>'> BrokenPipeError", exit 120
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "ccaudit", *(a.format(db=store) for a in command)], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=60, check=False,
                              env={**os.environ, "PYTHONUNBUFFERED": unbuffered})
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (ExitCode.BROKEN_PIPE, "")


@pytest.mark.parametrize("unbuffered", ["", "1"], ids=["buffered", "PYTHONUNBUFFERED"])
@pytest.mark.parametrize("command", [["report", "--db", "{db}"], ["summary", "--db", "{db}"],
                                     ["diff", "{db}", "{db}", "--all", "--format", "csv"]])
def test_standard_output_cut_short_by_a_file_size_limit_is_an_error(store, tmp_path, command, unbuffered):
    # PYTHONUNBUFFERED=1: the write cut short was taken for a whole one: exit 0, the rest lost without a word
    with open(tmp_path / "out.txt", "w") as out:
        proc = subprocess.run([sys.executable, "-m", "ccaudit", *(a.format(db=store) for a in command)], stdout=out,
                              stderr=subprocess.PIPE, text=True, timeout=60, check=False, preexec_fn=fsize_limit(100),
                              env={**os.environ, "PYTHONUNBUFFERED": unbuffered})
    assert (proc.returncode, proc.stderr) == (2, "ccaudit: error: cannot write to standard output: File too large\n")
    assert (tmp_path / "out.txt").stat().st_size == 100


@pytest.mark.parametrize("command", [["methods"], ["report", "--format", "json"], ["report"],
                                     ["diff", "--all", "{dump}"]])
def test_standard_output_of_an_ascii_locale_gets_utf8(tmp_path, command):
    # PYTHONIOENCODING=ascii: was an internal error (UnicodeEncodeError), exit 70, then a
    # refusal, exit 2; stdout is UTF-8 whatever the locale now, as files are
    from tests.records import request, write_jsonl

    dump = write_jsonl(tmp_path, [request("2024-05-06T10:00:00Z", "kafka.\u00dcnicode")])
    args = [a.format(dump=dump) for a in command]
    proc = subprocess.run([sys.executable, "-m", "ccaudit", *args, str(dump), "-q"], capture_output=True,
                          env={**os.environ, "PYTHONIOENCODING": "ascii"}, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "kafka.\u00dcnicode" in proc.stdout.decode("utf-8")


@pytest.mark.parametrize("args, said", [
    (["check", "{dump}", "-q", "--max", "nope\udcff:*=1/h"], "bad rule 'nope\\xff:*=1/h': no section 'nope\\xff'"),
    (["check", "{dump}", "-q", "--max", "*:*=1/h", "--tz", "\udcff"], "unknown time zone '\\xff'"),
    (["report", "{dump}", "-q", "--since", "x\udcff"], "'x\\xff' is not a date"),
    (["x\udcff"], "No such command 'x\\xff'."),
])
def test_a_typed_value_of_a_byte_not_utf8_shows_it_as_the_other_messages_do(invoke, sample_cli, args, said):
    # was '\udcff', Python's stand-in for the byte, where the README promises \xff
    result = invoke(*[a.format(dump=sample_cli) for a in args])
    refused(result, said)
    assert "\\udc" not in result.stderr


def test_an_unknown_zone_under_warnings_as_errors_is_one_line(sample_cli):
    # was "internal error: EncodingWarning", exit 70: zoneinfo's own open() without an encoding
    proc = subprocess.run([sys.executable, "-X", "warn_default_encoding", "-W", "error", "-m", "ccaudit", "report",
                           str(sample_cli), "--tz", "Not/AZone", "-q"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == ("ccaudit: error: Invalid value for '--tz': unknown time zone 'Not/AZone'; give an IANA "
                           "name such as Europe/Zurich or Asia/Kolkata (an offset or an abbreviation is not one)\n")


ASCII_LOCALE = {**{k: v for k, v in os.environ.items() if not k.startswith("LC_")}, "LC_ALL": "C", "LANG": "C",
                "PYTHONUTF8": "0", "PYTHONIOENCODING": "utf-8"}


def test_globs_and_rules_typed_in_an_ascii_locale_are_the_utf8_typed(tmp_path):
    # was: read as bytes no key holds (LC_ALL=C PYTHONUTF8=0): the rule matched nothing and check
    # passed ("OK: no breaches"), and --principal reported no event
    from tests.records import kafka_auth, write_jsonl

    dump = write_jsonl(tmp_path, [kafka_auth("2024-05-06T10:00:00Z", "User:用户甲", id=f"u-{i}") for i in range(2)])

    def run(*args):
        return subprocess.run([sys.executable, "-m", "ccaudit", *args, "-q"], capture_output=True, timeout=60,
                              env=ASCII_LOCALE)

    check = run("check", dump, "--max", "*:用户*=1/d")
    assert check.returncode == 1 and check.stdout.startswith(b"BREACH"), check
    report = run("report", dump, "--principal", "用户*", "--format", "json")
    assert json.loads(report.stdout)["summary"]["events"] == 2


def test_a_secret_from_the_environment_in_an_ascii_locale_is_the_utf8_given(tmp_path):
    # was refused: "CCAUDIT_API_SECRET is not UTF-8 text"
    props = tmp_path / "c.properties"
    props.write_text("bootstrap.servers=localhost:9092\n")
    props.chmod(0o600)
    code = ("import sys; from ccaudit.kafka_config import load_properties; "
            "print(load_properties(sys.argv[1])['sasl.password'] == 'p\\u00e4ssw\\u00f6rd-\\u5bc6')")
    ran = subprocess.run([sys.executable, "-c", code, props], capture_output=True, text=True, timeout=60,
                         env={**ASCII_LOCALE, "CCAUDIT_API_SECRET": "pässwörd-密"})
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "True\n", "")


def test_a_umask_that_takes_the_owners_own_write_leaves_the_modes_owner_only(tmp_path, sample_cli):
    # umask 277: report folders were made 0500 and files 0400, which the next run could not replace
    out = tmp_path / "reports"
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "ccaudit", "report", sample_cli, "--out", out, "-q"],
                              capture_output=True, text=True, timeout=60, preexec_fn=lambda: os.umask(0o277))
        assert proc.returncode == 0, proc.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o700"
    assert {oct(p.stat().st_mode & 0o777) for p in out.rglob("*") if p.is_file()} == {"0o600"}
    assert {oct(p.stat().st_mode & 0o777) for p in out.rglob("*") if p.is_dir()} <= {"0o700"}

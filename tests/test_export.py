"""`ccaudit export`: a store's tables as Parquet, read back by an independent reader (DuckDB).

Real stores are made with `ccaudit load` from the fixtures (sample-cli.txt, whose counts are
the hand counts of conftest.py, and sample-week2.jsonl) and from a generated dump, whose
truth file holds the exact counts the generator decided. The export's counts must give those
counts per day, section and key; its event tables must hold exactly the store's views (every
row, every field, times to the microsecond, NULL as null), in the partition of their UTC day.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from ccaudit import daycounts
from ccaudit import export as exporter
from ccaudit.cli import cli
from ccaudit.errors import CcauditError
from ccaudit.folders import held
from ccaudit.stops import Program
from ccaudit.store import Store
from tests.conftest import EXPECTED_SAMPLE, FIXTURES, ROOT, check_streams
from tests.records import signin, write_jsonl
from tests.stores import one_cell_fewer, quarters_of

EVENT_TABLES = ("all_events", "auth_events", "signin_failures", "signin_successes")
TABLES = (*EVENT_TABLES, "counts")
EPOCH = dt.datetime(1970, 1, 1)


def export_here(db, out) -> None:
    """``exporter.export`` of the store ``db``, in this process (its functions patched)."""
    store = Store(str(db), readonly=True)
    try:
        exporter.export(store, str(out))
    finally:
        store.close()


def refuse(monkeypatch, owner, name: str, when) -> None:
    """``owner.name`` raising PermissionError where ``when(*its arguments)`` holds: root may
    read and rename anything, so a test plays another user's file or a read-only folder."""
    real = getattr(owner, name)

    def refusing(*args, **kwargs):
        if when(*args):
            raise PermissionError(13, "Permission denied")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, refusing)


def marker_of(out) -> list[str]:
    """The tables the export folder ``out``'s marker lists."""
    with held(str(out)) as folder:
        return exporter.read_marker(folder)


def ccaudit(*args):
    """The command in-process (CliRunner), as `invoke` does, for module-scoped fixtures too."""
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)
    check_streams(result.stdout, result.stderr)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}; stderr: {result.stderr}") from result.exception
    return result


def export(db, out, *args):
    result = ccaudit("export", "--db", db, "--out", out, *args)
    assert result.exit_code == 0, result.stderr
    return result


def parquet(out, table: str) -> str:
    return f"read_parquet('{out}/{table}/*/*.parquet', hive_partitioning=true)"


def duck(sql: str) -> list[tuple]:
    conn = duckdb.connect()
    try:
        conn.execute("SET TimeZone = 'UTC'")
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def sqlite_rows(db, sql: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def time_text(us: int) -> str:
    """The views' text time of epoch µs (2024-05-06T07:08:09.123000Z), by integer arithmetic."""
    return (EPOCH + dt.timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def exported_totals(out) -> dict:
    """date -> section -> key -> events, from the exported counts (all_events by method)."""
    got: dict = {}
    for day, section, key, n in duck(f"SELECT CAST(day AS VARCHAR), section, key, sum(n) FROM {parquet(out, 'counts')}"
                                     " WHERE section IS NOT NULL GROUP BY ALL"):
        got.setdefault(day, {}).setdefault(section, {})[key] = n
    by_method = f"SELECT CAST(day AS VARCHAR), method, sum(n) FROM {parquet(out, 'counts')} GROUP BY ALL"
    for day, method, n in duck(by_method):
        got.setdefault(day, {}).setdefault("all_events", {})[method] = n
    return got


# -- stores ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """(store, export folder) of sample-cli.txt and sample-week2.jsonl (days apart)."""
    work = tmp_path_factory.mktemp("export-sample")
    db, out = work / "audit.db", work / "out"
    loaded = ccaudit("load", FIXTURES / "sample-cli.txt", FIXTURES / "sample-week2.jsonl", "--db", db, "-q")
    assert loaded.exit_code == 0, loaded.stderr
    export(db, out)
    return db, out


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """(store, export folder, truth) of a generated 3-day dump of 20,000 records."""
    work = tmp_path_factory.mktemp("export-generated")
    dump, db, out = work / "dump.jsonl", work / "audit.db", work / "out"
    made = subprocess.run([sys.executable, "-m", "benchmarks.generate", "20000", str(dump), "--format", "jsonl",
                           "--seed", "3", "--days", "3"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    loaded = ccaudit("load", dump, "--db", db, "-q")
    assert loaded.exit_code == 0, loaded.stderr
    export(db, out)
    truth = json.loads(Path(f"{dump}.truth.json").read_text(encoding="utf-8"))
    return db, out, truth


# -- the counts give the report's numbers ---------------------------------------------------------


def test_counts_give_the_hand_counts_of_sample_cli(sample):
    _, out = sample
    expected = {day: {sid: {key: sum(hours) for key, hours in rows.items()} for sid, rows in sections.items()}
                for day, sections in EXPECTED_SAMPLE["cells"].items() if sections}
    got = exported_totals(out)
    assert {day: got[day] for day in expected} == expected
    assert "2024-05-08" not in got  # a day without events has no partition


def test_counts_give_the_generated_dumps_truth(generated):
    _, out, truth = generated
    expected = {d["date"]: {sid: {r["key"]: r["total"] for r in s["rows"]} for sid, s in d["sections"].items()
                            if s["rows"]} for d in truth["days"] if d["events"]}
    assert len(expected) == 3
    assert exported_totals(out) == expected
    per_day = dict(duck(f"SELECT CAST(day AS VARCHAR), sum(n) FROM {parquet(out, 'counts')} GROUP BY ALL"))
    assert per_day == {day: n for day, n in truth["summary"]["per_day"].items() if n}


def test_counts_rows_are_the_stores(generated):
    db, out, _ = generated
    rows = sqlite_rows(db, "SELECT c.day, c.quarters, nullif(k.section, ''), nullif(k.key, ''), k.method,"
                           " k.principal FROM counts c JOIN keys k USING (kid)")
    store = sorted(((quarter * 1_000_000, *text, *c) for day, blob, *text in rows
                    for quarter, *c in quarters_of(day, blob)), key=repr)
    got = duck(f"SELECT epoch_us(quarter), section, key, method, principal, n, epoch_us(first_seen),"
               f" epoch_us(last_seen), CAST(day AS VARCHAR) = CAST(CAST(quarter AS DATE) AS VARCHAR)"
               f" FROM {parquet(out, 'counts')}")
    assert all(row[-1] for row in got)  # each quarter in the partition of its UTC day
    assert sorted((row[:-1] for row in got), key=repr) == store


def test_counts_files_do_not_depend_on_the_order_keys_were_loaded(tmp_path):
    # was: rows in key-number order, which follows the load: two stores of the same records,
    # loaded in opposite orders, exported different bytes
    # (and keys alike in their first exporter.SORTED characters, which are sorted by their digest after them)
    alike = ["a" * exporter.SORTED + f"{n}@x.com" for n in range(3)]
    records = [signin(f"2024-05-07T05:0{i}:00Z", email)
               for i, email in enumerate(["a@x.com", "b@x.com", "c@x.com", *alike])]
    files = []
    for name, order in (("ab", records), ("ba", records[::-1])):
        assert ccaudit("load", write_jsonl(tmp_path, order, f"{name}.jsonl"), "--db", tmp_path / f"{name}.db",
                       "-q").exit_code == 0
        export(tmp_path / f"{name}.db", tmp_path / name, "--table", "counts")
        files.append([p.read_bytes() for p in sorted((tmp_path / name / "counts").rglob("*.parquet"))])
    assert files[0] == files[1] and len(files[0]) == 1


@pytest.mark.parametrize("layout", [8, 9])
def test_a_store_of_an_earlier_layout_read_as_it_is_exports_the_same_counts(sample, tmp_path, layout):
    # was "a store could not be read: no such column: k.digest" (layouts 8 and 9 have none)
    from tests.test_upgrade import as_layout

    db, out = sample
    old = tmp_path / "old.db"
    old.write_bytes(db.read_bytes())
    as_layout(old, layout)
    export(old, tmp_path / "out", "--table", "counts")
    assert exported_totals(tmp_path / "out") == exported_totals(out)


def test_a_damaged_counts_row_is_named_not_exported_outside_its_day(tmp_path):
    # was exit 0: a quarter hour 200 of a 96-quarter day, written as a time two days on
    db = tmp_path / "audit.db"
    assert ccaudit("load", FIXTURES / "sample-cli.txt", "--db", db, "-q").exit_code == 0
    with sqlite3.connect(db) as conn:
        day, kid, blob = conn.execute("SELECT day, kid, quarters FROM counts LIMIT 1").fetchone()
        conn.execute("UPDATE counts SET quarters = ? WHERE day = ? AND kid = ?",
                     ((200).to_bytes(4, "little") + blob[4:], day, kid))
    conn.close()
    result = ccaudit("export", "--db", db, "--out", tmp_path / "out", "--table", "counts")
    assert result.exit_code == 2 and result.stderr.startswith(f"ccaudit: error: {db}: a row of its counts is damaged")


@pytest.mark.parametrize("table, damaged", [("counts", "counts"), ("counts", "keys"), ("all_events", "events"),
                                            ("auth_events", "details")])
def test_a_page_that_reads_short_of_rows_is_damage_not_a_smaller_export(tmp_path, table, damaged):
    # a page whose header was garbled held fewer rows and read without an error: the export
    # left its rows out, exit 0
    db = tmp_path / "audit.db"
    assert ccaudit("load", FIXTURES / "sample-cli.txt", "--db", db, "-q").exit_code == 0
    page = one_cell_fewer(str(db), damaged)
    result = ccaudit("export", "--db", db, "--out", tmp_path / "out", "--table", table)
    assert (result.exit_code, result.stdout) == (2, "") and not os.listdir(tmp_path / "out")
    assert result.stderr.startswith(f"ccaudit: error: {db}: the store is damaged (database disk image is malformed: "
                                    ) and f"page {page}" in result.stderr.lower(), result.stderr


def export_peak_mib(tmp_path, keys: int) -> int:
    """Peak memory of a counts export of a day of ``keys`` keys of 2 MiB, in a process of its own."""
    with open(tmp_path / f"{keys}.jsonl", "w") as f:
        for i in range(keys):
            f.write(json.dumps(signin(f"2024-05-07T{i % 24:02d}:00:00Z", f"{i}@x.com" + "p" * 2**21)) + "\n")
    db, out = tmp_path / f"{keys}.db", tmp_path / f"out{keys}"
    assert ccaudit("load", tmp_path / f"{keys}.jsonl", "--db", db, "-q").exit_code == 0
    code = ("import re, sys; from ccaudit.cli import cli; from click.testing import CliRunner;"
            "r = CliRunner().invoke(cli, ['export', '--db', sys.argv[1], '--out', sys.argv[2], '--table', 'counts']);"
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1];"
            "print(r.exit_code, int(hwm) // 1024)")
    proc = subprocess.run([sys.executable, "-c", code, str(db), str(out)], capture_output=True, text=True,
                          timeout=300, check=False)
    exit_code, peak_mib = map(int, proc.stdout.split())
    assert exit_code == 0 and pq.read_table(out / "counts").num_rows == keys
    return peak_mib


def test_memory_stays_flat_for_a_day_of_long_keys(tmp_path):
    # was: the day's counts rows sorted with their text, and SQLite's merge of the sort's
    # spilled runs held a row of each: 40 keys of 3 MiB took 480 MiB, 80 took 890 MB
    few, many = export_peak_mib(tmp_path, 8), export_peak_mib(tmp_path, 32)
    assert many - few < 24, (few, many)  # 24 more keys hold 96 MiB of text (key and principal)


# -- the event tables are the store's views -------------------------------------------------------


@pytest.mark.parametrize("which", ["sample", "generated"])
def test_events_per_table_and_day_are_the_stores(which, request):
    db, out = request.getfixturevalue(which)[:2]
    for table in EVENT_TABLES:
        store = dict(sqlite_rows(db, f"SELECT substr(time, 1, 10), count(*) FROM {table} GROUP BY 1"))
        got = dict(duck(f"SELECT CAST(day AS VARCHAR), count(*) FROM {parquet(out, table)} GROUP BY 1"))
        assert got == store, table
        assert duck(f"SELECT count(*) FROM {parquet(out, table)} WHERE CAST(time AS DATE) <> day") == [(0,)], table


def test_times_are_utc_timestamps_equal_to_the_stores_microseconds(generated):
    db, out, _ = generated
    for table in TABLES:
        described = {name: kind for name, kind, *_ in duck(f"DESCRIBE SELECT * FROM {parquet(out, table)}")}
        times = ("quarter", "first_seen", "last_seen") if table == "counts" else ("time",)
        assert {c: described[c] for c in times} == {c: "TIMESTAMP WITH TIME ZONE" for c in times}, table
        assert described["day"] == "DATE"
        first = next((out / table).glob("day=*/part-*.parquet"))
        schema = pq.read_schema(first)
        for c in times:
            assert str(schema.field(c).type) == "timestamp[us, tz=UTC]", (table, c)
    described = {name: kind for name, kind, *_ in duck(f"DESCRIBE SELECT * FROM {parquet(out, 'counts')}")}
    assert described["n"] == "BIGINT" and described["key"] == "VARCHAR"
    store = sorted(sqlite_rows(db, "SELECT id, us FROM all_events"))
    assert sorted(duck(f"SELECT id, epoch_us(time) FROM {parquet(out, 'all_events')}")) == store


def view_rows(db, table: str) -> tuple[list[str], list[tuple]]:
    """The view's columns but hour and us, time as epoch µs, sorted."""
    conn = sqlite3.connect(db)
    try:
        cursor = conn.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r)) for r in cursor]
        us = dict(conn.execute("SELECT id, us FROM all_events"))
    finally:
        conn.close()
    columns = [c for c in names if c not in ("hour", "us")]
    for row in rows:
        assert time_text(us[row["id"]]) == row["time"]
        row["time"] = us[row["id"]]
    return columns, sorted((tuple(r[c] for c in columns) for r in rows), key=repr)


@pytest.mark.parametrize("table", EVENT_TABLES)
def test_every_event_row_is_the_views(sample, table):
    db, out = sample
    columns, store = view_rows(db, table)
    shown = ", ".join("epoch_us(time)" if c == "time" else c for c in columns)
    got = sorted(duck(f"SELECT {shown} FROM {parquet(out, table)}"), key=repr)
    assert got == store and store
    if table != "all_events":
        assert any(v is None for row in got for v in row)  # absent text stays null


def test_one_auth_event_field_by_field(sample):
    db, out = sample
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    view = conn.execute("SELECT * FROM auth_events WHERE connection_id IS NOT NULL ORDER BY id LIMIT 1").fetchone()
    conn.close()
    conn = duckdb.connect()
    cursor = conn.execute(f"SELECT *, epoch_us(time) AS us FROM {parquet(out, 'auth_events')} WHERE id = ?",
                          [view["id"]])
    names = [d[0] for d in cursor.description]
    row = dict(zip(names, cursor.fetchone()))
    conn.close()
    assert set(names) == {*view.keys(), "us", "day"}
    for name in view.keys():
        got = time_text(row["us"]) if name == "time" else row[name]
        assert got == view[name], name
    assert str(row["day"]) == view["time"][:10]
    assert view["connection_id"] is not None and None in [view[k] for k in view.keys()]


# -- the docs' query -------------------------------------------------------------------------------


def docs_query() -> str:
    """The DuckDB example of the export's documentation (docs/export.md, or the README)."""
    for path in (ROOT / "docs" / "export.md", ROOT / "README.md"):
        if path.is_file():
            for block in re.findall(r"```sql\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
                if "read_parquet('out/counts" in block:
                    return block
    raise AssertionError("no ```sql block reading out/counts in docs/export.md or README.md")


def test_the_documented_duckdb_query_gives_the_report(sample, monkeypatch):
    _, out = sample
    monkeypatch.chdir(out.parent)
    got = duck(docs_query())
    expected = sorted((dt.date.fromisoformat(day), key, sum(hours))
                      for day, sections in EXPECTED_SAMPLE["cells"].items()
                      for key, hours in sections.get("kafka_authentication", {}).items())
    assert [r for r in got if r[0] < dt.date(2024, 5, 10)] == expected


# -- the folder ------------------------------------------------------------------------------------


def test_layout_and_owner_only_modes(sample):
    _, out = sample
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    found = list(out.rglob("*"))
    assert found
    for path in found:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
        rel = path.relative_to(out).as_posix()
        assert (rel == exporter.MARKER or rel in TABLES
                or re.fullmatch(r"(%s)/day=\d{4}-\d{2}-\d{2}(/part-\d+\.parquet)?" % "|".join(TABLES), rel)), rel
    assert sorted(p.name for p in out.iterdir()) == sorted([exporter.MARKER, *TABLES])
    assert sorted(p.name for p in (out / "counts").iterdir()) == [
        "day=2024-05-06", "day=2024-05-07", "day=2024-05-09", "day=2024-05-13", "day=2024-05-14"]


def test_an_out_folder_through_a_link_and_dotdot_is_the_one_the_system_names(sample, tmp_path, monkeypatch):
    # link/.. is the parent of the link's target; was "." by its text (./out was written)
    db, first = sample
    (tmp_path / "elsewhere" / "sub").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    os.symlink(tmp_path / "elsewhere" / "sub", "link")
    export(db, "link/../out")
    assert not (tmp_path / "work" / "out").exists()
    assert exported_totals(tmp_path / "elsewhere" / "out") == exported_totals(first)


def test_a_non_empty_folder_of_something_else_is_refused(invoke, sample, tmp_path):
    db, _ = sample
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    result = invoke("export", "--db", db, "--out", out)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and "not a ccaudit export" in result.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_file_as_the_folder_is_refused(invoke, sample, tmp_path):
    db, _ = sample
    (tmp_path / "out").write_text("x")
    result = invoke("export", "--db", db, "--out", tmp_path / "out")
    assert result.exit_code == 2 and (tmp_path / "out").read_text() == "x"


def test_a_folder_is_created_only_under_an_existing_one(invoke, sample, tmp_path):
    db, _ = sample
    result = invoke("export", "--db", db, "--out", tmp_path / "no" / "out")
    assert result.exit_code == 2 and not (tmp_path / "no").exists()


def test_an_empty_folder_is_used(sample, tmp_path):
    db, _ = sample
    (tmp_path / "out").mkdir()
    export(db, tmp_path / "out")
    assert (tmp_path / "out" / "counts").is_dir()


def test_a_second_export_replaces_the_first_as_a_whole(sample, generated, tmp_path):
    sample_db, _ = sample
    generated_db, generated_out, truth = generated
    out = tmp_path / "out"
    export(sample_db, out)
    (out / "README.txt").write_text("what this is\n")
    export(generated_db, out)
    assert exported_totals(out) == exported_totals(generated_out)  # no day of the first export is left
    for table in EVENT_TABLES:
        assert duck(f"SELECT count(*) FROM {parquet(out, table)}") == \
            duck(f"SELECT count(*) FROM {parquet(generated_out, table)}")
    export(sample_db, out, "--table", "counts", "--table", "signin_failures", "--table", "counts")
    assert sorted(p.name for p in out.iterdir()) == sorted([exporter.MARKER, "README.txt", "counts",
                                                            "signin_failures"])
    assert marker_of(out) == ["signin_failures", "counts"]
    assert not [p for p in out.iterdir() if p.name.startswith(exporter.TEMP_PREFIX)]


def test_a_tables_name_the_marker_does_not_list_is_not_replaced(invoke, sample, tmp_path):
    # was: a folder and a file of the user's, named as tables, deleted by the next export
    db, _ = sample
    out = tmp_path / "out"
    export(db, out, "--table", "counts")
    (out / "all_events").mkdir()
    (out / "all_events" / "notes.txt").write_text("notes")
    result = invoke("export", "--db", db, "--out", out)
    assert result.exit_code == 2 and f"{out}/all_events: not written by an earlier export" in result.stderr
    assert (out / "all_events" / "notes.txt").read_text() == "notes"
    assert marker_of(out) == ["counts"]


def test_a_planted_marker_cannot_lead_out_of_the_folder(invoke, sample, tmp_path):
    db, _ = sample
    out = tmp_path / "out"
    out.mkdir()
    (out / exporter.MARKER).write_text("../../home\n")
    result = invoke("export", "--db", db, "--out", out)
    assert result.exit_code == 2 and "lists '../../home', which is not an exported table" in result.stderr
    # was: the whole line, repr'd: a store named as the marker gave its SQLite header and pages
    (out / exporter.MARKER).write_bytes(b"SQLite format 3\x00" + b"\x1b[31m" * 10_000 + b"\n")
    result = invoke("export", "--db", db, "--out", out)
    assert result.exit_code == 2 and result.stderr == (f"ccaudit: error: {out}/.ccaudit-export: lists 'SQLite format "
                                                       "3\\x00\\x1b[31m\\x1b[31m\\x1b[31m\\x1b[31m\\x1b[3...', "
                                                       "which is not an exported table; nothing written\n")


def test_a_marker_written_by_another_user_is_not_followed(invoke, sample, tmp_path, monkeypatch):
    # was: in a shared sticky folder, a marker planted by another user listing "counts" had
    # the caller's own folder of that name removed as an earlier table
    db, _ = sample
    out = tmp_path / "shared"
    (out / "counts").mkdir(parents=True)
    (out / "counts" / "mine.txt").write_text("mine")
    (out / exporter.MARKER).write_text("counts\n")
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(out / exporter.MARKER).st_uid + 1)
    result = invoke("export", "--db", db, "--out", out, "--table", "all_events")
    assert result.exit_code == 2 and f"{out}/.ccaudit-export: written by another user; nothing written" in result.stderr
    assert (out / "counts" / "mine.txt").read_text() == "mine" and not (out / "all_events").exists()


@pytest.mark.parametrize("command", ["export", "report"])
@pytest.mark.parametrize("end", ["-journal", "-wal", "-shm"])
def test_an_out_folder_where_sqlite_keeps_the_stores_journal_is_refused(invoke, sample, tmp_path, command, end):
    # was made, and every later command on the store refused it ("... is a folder; remove it")
    db = tmp_path / "audit.db"
    db.write_bytes(sample[0].read_bytes())
    result = invoke(command, "--db", db, "--out", f"{db}{end}")
    assert result.exit_code == 2 and f"{db}{end} is where SQLite keeps the store's journal" in result.stderr
    assert not os.path.lexists(f"{db}{end}") and invoke("summary", "--db", db).exit_code == 0


def files_of(out) -> dict:
    """Every file under ``out``, by path, with its bytes."""
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("failing_table", ["auth_events", "counts"])
def test_a_failed_table_leaves_the_previous_export(sample, generated, tmp_path, monkeypatch, failing_table):
    # was: the tables written before the failing one replaced the previous export's, which
    # then held tables of two stores (the marker listing them all)
    sample_db, _ = sample
    generated_db, *_ = generated
    out = tmp_path / "out"
    export(sample_db, out)
    before = files_of(out)
    write_day = exporter._write_day

    def failing(table, name, batches, done):
        if done.table == failing_table and done.days == 1:
            raise OSError(28, "No space left on device")
        return write_day(table, name, batches, done)

    monkeypatch.setattr(exporter, "_write_day", failing)
    result = ccaudit("export", "--db", generated_db, "--out", out)
    assert result.exit_code == 2 and "no space left" in result.stderr
    assert result.stderr.rstrip().endswith("; the previous export is kept as it was")
    assert files_of(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(exporter.TEMP_PREFIX)]
    # a first export into the folder: there was none to keep (it said there was), and its
    # marker named every table, as if they were there (was: a folder that passed for an export)
    result = ccaudit("export", "--db", generated_db, "--out", tmp_path / "new")
    assert result.exit_code == 2 and "no space left" in result.stderr and "previous" not in result.stderr
    assert files_of(tmp_path / "new") == {Path(exporter.MARKER): exporter._MARKER_HEAD.encode()}


def test_a_folder_whose_name_is_not_utf8_takes_the_export(sample, tmp_path, ccaudit_exe):
    # was "standard output's encoding (utf-8) cannot write '\udcff'": pyarrow took the path as text
    db, out = sample
    odd = os.path.join(os.fsencode(tmp_path), b"ex\xff")
    done = subprocess.run([ccaudit_exe, "export", "--db", str(db), "--out", odd], capture_output=True)
    assert done.returncode == 0, done.stderr
    os.rename(odd, tmp_path / "renamed")  # for DuckDB, which takes paths as UTF-8
    assert exported_totals(tmp_path / "renamed") == exported_totals(out)


def test_a_marker_that_cannot_be_read_is_one_line(sample, tmp_path, monkeypatch):
    # was an internal error (exit 70) for a marker made unreadable (mode 000)
    from ccaudit.folders import Folder

    db, _ = sample
    out = tmp_path / "out"
    export(db, out, "--table", "counts")
    refuse(monkeypatch, Folder, "open", lambda folder, name, *_: name == exporter.MARKER)
    result = ccaudit("export", "--db", db, "--out", out, "--table", "counts")
    assert result.exit_code == 2
    said = f"ccaudit: error: {out}/{exporter.MARKER}: cannot read: Permission denied; nothing written\n"
    assert result.stderr == said


@pytest.mark.parametrize("program", [True, False], ids=["ccaudit", "a caller's"])
def test_a_stop_while_the_tables_are_put_in_place_leaves_the_new_export_whole(sample, generated, tmp_path,
                                                                              monkeypatch, program):
    # was: Ctrl-C or SIGTERM between two renames left a table missing (the marker listing
    # it), others of the earlier export, and temporary folders. The ccaudit program then
    # ends as done; a caller's program gets its Ctrl-C once the export is whole
    monkeypatch.setattr(Program, "ends_with_command", program)
    sample_db, _ = sample
    generated_db, generated_out, _ = generated
    out = tmp_path / "out"
    export(sample_db, out)
    replace, calls = exporter._replace, []

    def stopped_at_the_second(*args):
        calls.append(args)
        if len(calls) == 2:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # Python's handler: KeyboardInterrupt
        return replace(*args)

    monkeypatch.setattr(exporter, "_replace", stopped_at_the_second)
    with contextlib.nullcontext() if program else pytest.raises(KeyboardInterrupt):
        export_here(generated_db, out)
    assert exported_totals(out) == exported_totals(generated_out)
    assert sorted(p.name for p in out.iterdir()) == sorted([exporter.MARKER, *exporter.TABLES])


def test_a_full_disk_as_a_tables_folder_is_made_names_the_export(sample, tmp_path, monkeypatch):
    # was "cannot write to standard output: No space left on device": the folder was made
    # outside the try that names the export
    from ccaudit.folders import Folder

    db, _ = sample

    def full(self, prefix):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Folder, "make_temp", full)
    result = ccaudit("export", "--db", db, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"ccaudit: error: {tmp_path / 'out'}: cannot write all_events: no space left")


def test_a_table_that_cannot_be_put_in_place_leaves_no_temporary_folder(sample, tmp_path, monkeypatch):
    # was: the new table's folder, taken from those to remove before it was put in place, left behind
    db, _ = sample
    out = tmp_path / "out"
    export(db, out, "--table", "counts")
    refuse(monkeypatch, os, "rename", lambda src, dst, *_: dst == "counts" and src.startswith(exporter.TEMP_PREFIX))
    result = ccaudit("export", "--db", db, "--out", out, "--table", "counts")
    assert result.exit_code == 2 and "the earlier export's counts could not be replaced" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == [exporter.MARKER, "counts"]


def test_an_earlier_table_that_cannot_be_removed_is_an_error_and_stays_listed(sample, tmp_path, monkeypatch):
    # was: an internal error (exit 70)
    db, _ = sample
    out = tmp_path / "out"
    export(db, out)
    refuse(monkeypatch, os, "rename", lambda src, *_: os.path.basename(src) == "signin_failures")
    result = ccaudit("export", "--db", db, "--out", out, "--table", "counts")
    assert result.exit_code == 2, result.output
    assert result.stderr == (f"ccaudit: error: {out}: the tables are written, but the earlier export's "
                             f"signin_failures could not be removed: Permission denied; {exporter.MARKER} still "
                             "lists it\n")
    assert "signin_failures" in marker_of(out) and (out / "signin_failures").is_dir()


def test_a_killed_exports_temporary_folders_go(sample, tmp_path):
    db, _ = sample
    out = tmp_path / "out"
    export(db, out)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = out / f"{exporter.TEMP_PREFIX}{dead.stdout.strip()}-counts-x"
    (stale / "day=2024-05-06").mkdir(parents=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        theirs = out / f"{exporter.TEMP_PREFIX}{live.pid}-counts-y"  # a live process's: not touched
        theirs.mkdir()
        # this process's id: a killed run's whose id was the same (pid 1 in a container); was kept for good
        same_id = out / f"{exporter.TEMP_PREFIX}{os.getpid()}-counts-z"
        same_id.mkdir()
        export(db, out)
        assert not stale.exists() and theirs.is_dir() and not same_id.exists()
    finally:
        live.kill()
        live.wait()


def test_a_day_can_span_several_files(sample, tmp_path, monkeypatch):
    db, out = sample
    monkeypatch.setattr(exporter, "BATCH", 1)
    monkeypatch.setattr(exporter, "ROW_GROUP", 2)
    monkeypatch.setattr(exporter, "ROWS_PER_FILE", 4)
    small = tmp_path / "out"
    export(db, small, "--table", "all_events", "--table", "counts")
    files = sorted(p.name for p in (small / "all_events" / "day=2024-05-06").iterdir())
    assert files == ["part-0.parquet", "part-1.parquet"]  # 7 events: 2 + 2, then 2 + 1 (a file is full at 4)
    metadata = [pq.ParquetFile(small / "all_events" / "day=2024-05-06" / f).metadata for f in files]
    assert [(m.num_rows, m.num_row_groups) for m in metadata] == [(4, 2), (3, 2)]
    assert exported_totals(small) == exported_totals(out)
    assert sorted(duck(f"SELECT * EXCLUDE (day) FROM {parquet(small, 'all_events')}"), key=repr) == \
        sorted(duck(f"SELECT * EXCLUDE (day) FROM {parquet(out, 'all_events')}"), key=repr)



def test_a_table_folder_swapped_for_a_link_mid_export_leads_nowhere(sample, tmp_path, monkeypatch):
    # was: a table's temporary folder written by path, so one swapped for a link (by another
    # user who may write the export folder) took the rest of its days wherever the link led
    db, _ = sample
    out, victim = tmp_path / "out", tmp_path / "theirs"
    victim.mkdir()
    write_day, calls = exporter._write_day, []

    def swapping_second(*args):
        calls.append(args)
        if len(calls) == 2:
            (tmp,) = [p for p in out.iterdir() if p.name.startswith(exporter.TEMP_PREFIX)]
            os.rename(tmp, tmp_path / "moved")
            tmp.symlink_to(victim)
        return write_day(*args)

    monkeypatch.setattr(exporter, "_write_day", swapping_second)
    assert ccaudit("export", "--db", db, "--out", out, "--table", "all_events").exit_code == 0
    assert list(victim.iterdir()) == []
    assert len(list((tmp_path / "moved").iterdir())) == len(calls)  # every day, in the folder held


@pytest.mark.parametrize("where", ["counts", "all_events/day=2024-05-06", ".ccaudit-export-1-x", "."])
def test_a_store_in_a_folder_the_export_replaces_is_refused(sample, tmp_path, where):
    # was: exit 0, and the store deleted with the table folder it was moved into
    db, _ = sample
    out = tmp_path / "out"
    export(db, out)
    folder = out / where
    folder.mkdir(parents=True, exist_ok=True)
    moved = folder / "audit.db"
    moved.write_bytes(Path(db).read_bytes())
    result = ccaudit("export", "--db", moved, "--out", out, "--table", "all_events")
    if where == ".":  # beside the tables: left alone
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2 and "which the export replaces" in result.stderr, result.output
    assert moved.read_bytes() == Path(db).read_bytes()


def test_a_store_named_as_a_table_folder_is_refused(sample, tmp_path):
    # was: moved aside with the earlier table and deleted, exit 0
    db, _ = sample
    out = tmp_path / "out"
    export(db, out, "--table", "all_events")
    store = out / "counts"
    store.write_bytes(Path(db).read_bytes())
    result = ccaudit("export", "--db", store, "--out", out)
    assert result.exit_code == 2 and "which the export replaces" in result.stderr, result.output
    assert store.read_bytes() == Path(db).read_bytes()


def test_batches_are_bounded_by_the_bytes_of_their_text():
    # was: 2,000 rows a fetch and 50,000 a row group whatever their size: a day of 4,000
    # keys of 25,000 characters took 654-704 MiB to export
    small = [("k", 1, None)] * 5_000
    assert [len(b) for b in exporter._batches(iter(small))] == [2000, 2000, 1000]
    large = [("x" * 2**20, 1, None)] * 9  # 1 MiB keys: two to a batch
    assert [len(b) for b in exporter._batches(iter(large))] == [2, 2, 2, 2, 1]


@pytest.mark.parametrize("order", ["every 8th small", "small, then large"])
def test_no_order_of_rows_makes_a_batch_of_more_text(order):
    # was: each fetch sized from every 8th row of the fetch before, so rows that were small
    # there and 32 KiB elsewhere made fetches of 2,000 such rows (621 MB to export 4,100
    # events); and any fetch after 2,000 small rows was of 2,000 rows, whatever they held
    big, tiny = ("e" * 32, 1, "p" * 2**15), ("e" * 32, 1, "p")
    rows = [tiny if i % 8 == 0 else big for i in range(8_000)] if order == "every 8th small" else \
        [tiny] * 4_000 + [big] * 4_000
    for batch in exporter._batches(iter(rows)):
        assert sum(len(v) for row in batch for v in row if type(v) is str) < exporter.BATCH_BYTES + 2**15 + 32
    quarters = daycounts.pack(0, {q: [1, q * 900 * 10**6, q * 900 * 10**6] for q in range(96)})[5]
    rows = [[(0, 96, quarters, "section", "y" * 2**16, "m", "p")]] * 3  # 96 quarters of a 64 KiB key a row
    assert [len(b) for b in exporter._quarters(iter(rows))] == [96, 96, 96]


# -- from a program --------------------------------------------------------------------------------


def test_an_export_from_a_program_lets_the_next_write_into_the_store_go_at_once(sample, tmp_path):
    # was: the export's snapshot held until the Store closed: another process's load waited for it
    db = tmp_path / "audit.db"
    shutil.copy(sample[0], db)
    with Store(str(db)) as store:
        exporter.export(store, str(tmp_path / "out"))
        assert not store.conn.in_transaction
        other = sqlite3.connect(db, timeout=0, isolation_level=None)
        try:
            other.execute("CREATE TABLE written (x)")  # "database is locked" while a reader holds on
        finally:
            other.close()


def test_an_export_from_a_program_leaves_pyarrow_seeing_pandas(sample, tmp_path):
    # was: pyarrow told pandas was missing for the rest of the process: a pandas Series raised ArrowInvalid
    pytest.importorskip("pandas")
    program = (f"from ccaudit import Store, export\nwith Store({str(sample[0])!r}) as s: "
               f"export.export(s, {str(tmp_path / 'out')!r})\n"
               "import pandas, pyarrow\nprint(pyarrow.array(pandas.Series([1, None], dtype='Int64')).type)")
    ran = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "int64\n", "")


def test_an_export_from_a_program_waits_for_another_writer_of_the_folder_without_a_word(sample, tmp_path, capfd):
    # was "ccaudit: ...: another ccaudit is writing into it; waiting for it to end" on the program's stderr
    out = tmp_path / "out"
    out.mkdir()
    held = os.open(out, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)  # as another ccaudit writing into it holds it
    threading.Timer(0.5, os.close, [held]).start()
    export_here(sample[0], out)
    assert capfd.readouterr() == ("", "")
    assert marker_of(out) == list(TABLES)


def test_a_programs_signal_during_an_export_reaches_its_handler(sample, tmp_path, monkeypatch):
    # was: taken and dropped with the export's own stops (sigtimedwait): the program's handler never ran
    heard: list[int] = []
    real = exporter._replace

    def signalled(*args):
        signal.pthread_kill(threading.main_thread().ident, signal.SIGHUP)  # held off until the renames end
        return real(*args)

    monkeypatch.setattr(exporter, "_replace", signalled)
    before = signal.signal(signal.SIGHUP, lambda signum, frame: heard.append(signum))
    try:
        export_here(sample[0], tmp_path / "out")
    finally:
        signal.signal(signal.SIGHUP, before)
    assert heard and set(heard) == {signal.SIGHUP}
    assert marker_of(tmp_path / "out") == list(TABLES)


# -- the command -----------------------------------------------------------------------------------


def test_without_pyarrow_export_says_what_to_install(invoke, sample, tmp_path, monkeypatch):
    db, _ = sample
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    result = invoke("export", "--db", db, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "pip install 'pyarrow>=14'" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_an_unknown_table_is_a_usage_error(invoke, sample, tmp_path):
    db, _ = sample
    result = invoke("export", "--db", db, "--out", tmp_path / "out", "--table", "events")
    assert result.exit_code == 2 and "Invalid value for '--table'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_missing_store_is_refused(invoke, tmp_path):
    result = invoke("export", "--db", tmp_path / "none.db", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "no such store" in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "none.db").exists()


def test_the_summary_line(sample, tmp_path):
    db, _ = sample
    result = export(db, tmp_path / "out", "--table", "signin_failures")
    assert result.stdout == ""
    assert result.stderr == f"ccaudit: exported signin_failures 7 rows (2 days) to {tmp_path / 'out'}\n"


def test_a_counts_only_store_exports_its_counts(tmp_path):
    db, out = tmp_path / "spark.db", tmp_path / "out"
    quarter = int(dt.datetime(2024, 5, 6, 23, 45, tzinfo=dt.timezone.utc).timestamp())
    store = Store(str(db))
    store.add_counts([
        (quarter, "kafka_authentication", "sa-1", "kafka.Authentication", "sa-1", 5, quarter * 10**6 + 1,
         quarter * 10**6 + 899_999_999),
        (quarter + 900, "", "", "CreateAPIKey", "u-1", 2, (quarter + 900) * 10**6, (quarter + 900) * 10**6 + 7),
    ])
    store.close()
    result = export(db, out)
    assert result.stderr.splitlines()[0] == (f"ccaudit: {db} holds counts only (made by ccaudit spark): no events to "
                                             "export for all_events, auth_events, signin_failures, signin_successes")
    assert sorted(p.name for p in out.iterdir()) == [exporter.MARKER, "counts"]
    got = sorted(duck(f"SELECT CAST(day AS VARCHAR), epoch(quarter)::BIGINT, section, key, method, principal, n,"
                      f" epoch_us(first_seen), epoch_us(last_seen) FROM {parquet(out, 'counts')}"))
    assert got == [("2024-05-06", quarter, "kafka_authentication", "sa-1", "kafka.Authentication", "sa-1", 5,
                    quarter * 10**6 + 1, quarter * 10**6 + 899_999_999),
                   ("2024-05-07", quarter + 900, None, None, "CreateAPIKey", "u-1", 2, (quarter + 900) * 10**6,
                    (quarter + 900) * 10**6 + 7)]
    # asked only for tables it has no rows of: was exit 0, "exported nothing", the export removed
    before = files_of(out)
    result = ccaudit("export", "--db", db, "--out", out, "--table", "all_events", "--table", "auth_events")
    assert (result.exit_code, result.stderr) == (2, f"ccaudit: error: {db} holds counts only (made by ccaudit "
                                                    "spark): no events to export for all_events, auth_events; "
                                                    "nothing written\n")
    assert files_of(out) == before


def test_an_empty_store_exports_nothing(tmp_path):
    db, out = tmp_path / "empty.db", tmp_path / "out"
    Store(str(db)).close()
    result = export(db, out)
    assert "exported all_events 0 rows (0 days)" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted([exporter.MARKER, *TABLES])
    assert all(not any((out / t).iterdir()) for t in TABLES)


def test_the_export_reads_one_snapshot(sample, tmp_path, monkeypatch, ccaudit_exe):
    # a load that would commit while the export runs waits for it: every table is of one state
    db, out = tmp_path / "audit.db", tmp_path / "out"
    db.write_bytes(sample[0].read_bytes())
    later = write_jsonl(tmp_path, [signin("2024-05-20T05:00:00Z", "new@example.com", "FAILURE", id="later-1")])
    loader = []
    write_table = exporter._write_table

    def load_meanwhile(store, out_dir, table, kept):
        if table == "auth_events":
            loader.append(subprocess.Popen([ccaudit_exe, "load", later, "--db", str(db), "-q"],
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            with pytest.raises(subprocess.TimeoutExpired):
                loader[0].wait(timeout=2)  # it waits for the export's read transaction
        return write_table(store, out_dir, table, kept)

    monkeypatch.setattr(exporter, "_write_table", load_meanwhile)
    export_here(db, out)
    _, err = loader[0].communicate(timeout=60)
    assert loader[0].returncode == 0, err
    assert exported_totals(out) == exported_totals(sample[1])  # nothing of 2024-05-20
    assert sqlite_rows(db, "SELECT count(*) FROM all_events WHERE id = 'later-1'") == [(1,)]


def test_the_command_loads_neither_numpy_nor_pandas(sample, tmp_path):
    # pyarrow imports them whenever they are installed (the spark extra brings them): 95 MiB
    db, out = sample
    code = ("import sys; from ccaudit.stops import Program; Program.ends_with_command = True; "  # as main() says
            "from ccaudit.cli import cli; cli(sys.argv[1:], standalone_mode=False); "
            "print(sorted(m for m in ('numpy', 'pandas') if m in sys.modules))")
    ran = subprocess.run([sys.executable, "-c", code, "export", "--db", str(db), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert ran.returncode == 0 and ran.stdout == "[]\n", ran.stderr
    assert exported_totals(tmp_path / "out") == exported_totals(out)


def test_the_installed_command(sample, tmp_path, run_ccaudit):
    db, out = sample
    ran = run_ccaudit("export", "--db", db, "--out", tmp_path / "out", "--table", "counts")
    assert ran.returncode == 0, ran.stderr
    assert exported_totals(tmp_path / "out") == exported_totals(out)


def test_help_names_the_extra_and_the_tables(invoke):
    out = " ".join(invoke("export", "--help").stdout.split())
    assert "pip install '.[parquet]' in a clone" in out
    assert all(t in out for t in TABLES)


def test_days_centuries_apart_take_a_query_each_not_one_per_day_between(tmp_path, monkeypatch):
    dump = write_jsonl(tmp_path, [signin("1970-01-02T00:00:00Z", "a@example.com", "FAILURE", id="early"),
                                  signin("2999-12-30T23:59:59Z", "a@example.com", "FAILURE", id="late")])
    db, out = tmp_path / "far.db", tmp_path / "out"
    assert ccaudit("load", dump, "--db", db).exit_code == 0
    statements = []
    opened = Store.__init__

    def traced(self, *args, **kwargs):
        opened(self, *args, **kwargs)
        self.conn.set_trace_callback(statements.append)

    monkeypatch.setattr(Store, "__init__", traced)
    export(db, out)
    assert sorted(p.name for p in (out / "signin_failures").iterdir()) == ["day=1970-01-02", "day=2999-12-30"]
    assert len(statements) < 200  # a query a day between would be 376,196 for each table


def test_clean_deletes_an_export_folder(sample, tmp_path):
    # was: "not a report folder written by ccaudit (no .ccaudit-manifest)": no command removed an export
    db, _ = sample
    out = tmp_path / "out"
    export(db, out)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / f"{exporter.TEMP_PREFIX}{dead.stdout.strip()}-counts-x" / "day=2024-05-06").mkdir(parents=True)
    result = ccaudit("clean", "--out", out, "--yes")
    assert (result.exit_code, result.stderr) == (0, f"ccaudit: deleted {out}\n")
    assert not out.exists() and db.exists()


def test_clean_of_an_export_leaves_the_users_own_files(sample, tmp_path):
    db, _ = sample
    out = tmp_path / "out"
    export(db, out, "--table", "counts", "--table", "signin_failures")
    (out / "notes.txt").write_text("mine")
    result = ccaudit("clean", "--out", out)
    assert (result.exit_code, result.stderr) == (
        0, f"ccaudit: deleted the exported tables in {out} (other files were left there)\n")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("mine, stray", [
    ("NOTES.md", "NOTES.md"), ("day=2024-05-06/analysis.csv", "day=2024-05-06/analysis.csv"),
    ("day=2024-05-06/part-0.parquet.bak", "day=2024-05-06/part-0.parquet.bak"),
    ("day=2024-05-06/sub/part-0.parquet", "day=2024-05-06/sub"), ("day=2024-05-06.txt", "day=2024-05-06.txt"),
    ("day=2024-05-06/part-\u0660.parquet", "day=2024-05-06/part-\u0660.parquet")])  # (not an ASCII digit)
def test_a_users_file_in_an_exported_table_is_neither_replaced_nor_deleted(sample, tmp_path, mine, stray):
    # was deleted without a word, with its table, by the next export and by clean --out
    db, _ = sample
    out = tmp_path / "out"
    export(db, out, "--table", "counts")
    (out / "counts" / mine).parent.mkdir(parents=True, exist_ok=True)
    (out / "counts" / mine).write_text("mine")
    for command, done in ((("export", "--db", db), "nothing written"), (("clean", "--yes"), "nothing deleted")):
        result = ccaudit(*command, "--out", out)
        assert (result.exit_code, result.stderr) == (2, (
            f"ccaudit: error: {out}/counts/{stray}: not written by ccaudit export, so counts is neither replaced "
            f"nor deleted; move it out; {done}\n"))
        assert (out / "counts" / mine).read_text() == "mine"
    shutil.move(out / "counts" / stray, tmp_path / "moved")
    export(db, out, "--table", "counts")  # moved out, the table is the export's again
    assert ccaudit("clean", "--out", out, "--yes").exit_code == 0 and not out.exists()


def test_every_stray_file_of_a_table_is_counted_and_one_put_there_while_it_is_written_kept(sample, tmp_path,
                                                                                             monkeypatch):
    db, _ = sample
    out = tmp_path / "out"
    export(db, out, "--table", "counts")
    for junk in (out / "counts" / ".DS_Store", out / "counts" / "day=2024-05-06" / ".DS_Store"):
        junk.write_text("Finder's")  # was refused one a run: a run for each of a folder's days
    result = ccaudit("clean", "--out", out, "--yes")
    assert result.exit_code == 2 and result.stderr.startswith(f"ccaudit: error: {out}/counts/.DS_Store (and 1 other): ")
    for junk in out.rglob(".DS_Store"):
        junk.unlink()
    real = exporter._write_table

    def meanwhile(store, folder, table, kept):  # a user's file, put there as the export runs
        (out / "counts" / "NOTES.md").write_text("mine")
        return real(store, folder, table, kept)

    monkeypatch.setattr(exporter, "_write_table", meanwhile)
    result = ccaudit("export", "--db", db, "--out", out, "--table", "counts")
    assert result.exit_code == 2 and result.stderr.endswith("move it out; nothing replaced\n"), result.stderr
    assert (out / "counts" / "NOTES.md").read_text() == "mine" and not list(out.glob(".ccaudit-export-*"))


def test_an_exported_table_that_cannot_be_read_is_one_line(sample, tmp_path, monkeypatch):
    # root reads any folder: what a folder of mode 0 does to others, done to its listing
    # (was an internal error, exit 70, naming nothing)
    from ccaudit.folders import Folder

    db, _ = sample
    out = tmp_path / "out"
    export(db, out, "--table", "counts")
    real = Folder.listing

    def refused(self):
        if self.path.endswith("/counts"):
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Folder, "listing", refused)
    for command, done in ((("export", "--db", db), "nothing written"), (("clean", "--yes"), "nothing deleted")):
        result = ccaudit(*command, "--out", out)
        assert (result.exit_code, result.stderr) == (
            2, f"ccaudit: error: {out}/counts: cannot read: Permission denied; {done}\n")


def test_a_report_is_not_written_into_an_export_folder(sample, tmp_path):
    # was written among the tables (a report's all_events/ is an export's table), breaking what
    # reads a table's folder whole; the next export then deleted the report's files
    db, _ = sample
    out = tmp_path / "out"
    export(db, out)
    before = sorted(p for p in out.rglob("*"))
    result = ccaudit("report", "--db", db, "--out", out, "-q")
    assert (result.exit_code, result.stderr) == (
        2, f"ccaudit: error: {out}: an export's folder (.ccaudit-export); give the report another folder\n")
    assert sorted(p for p in out.rglob("*")) == before


def test_clean_refuses_an_export_whose_marker_names_no_table(sample, tmp_path):
    # was also "...; nothing written", said by clean
    db, _ = sample
    out = tmp_path / "out"
    export(db, out)
    (out / exporter.MARKER).write_text("counts\n../../home\n")
    result = ccaudit("clean", "--out", out, "--yes")
    assert result.exit_code == 2 and result.stderr.endswith(
        "lists '../../home', which is not an exported table; nothing deleted\n")
    assert sorted(p.name for p in out.iterdir()) == sorted([exporter.MARKER, *TABLES])


def test_an_exported_table_clean_cannot_delete_stays_listed(sample, tmp_path, monkeypatch):
    db, _ = sample
    out = tmp_path / "out"
    export(db, out)
    refuse(monkeypatch, os, "rmdir", lambda name, *_, **__: name == "counts")
    result = ccaudit("clean", "--out", out, "--yes")
    assert (result.exit_code, result.stderr) == (
        2, f"ccaudit: error: {out}: 1 exported table could not be deleted (counts); {exporter.MARKER} lists them\n")
    assert marker_of(out) == list(TABLES) and sorted(p.name for p in out.iterdir()) == [exporter.MARKER, "counts"]


@pytest.mark.parametrize("swap", ["link", "file"])
def test_clean_refuses_an_export_whose_table_is_no_folder_before_deleting_any(sample, tmp_path, swap):
    # was: four tables deleted, then "1 exported table could not be deleted (counts)", for good
    db, _ = sample
    out, victim = tmp_path / "out", tmp_path / "victim"
    export(db, out)
    victim.mkdir()
    (victim / "mine").write_text("mine")
    shutil.rmtree(out / "counts")
    if swap == "link":
        (out / "counts").symlink_to(victim)
    else:
        (out / "counts").write_text("mine")
    result = ccaudit("clean", "--out", out, "--yes")
    assert (result.exit_code, result.stderr) == (
        2, f"ccaudit: error: {out}/counts: not a folder an export wrote (a link or a file); nothing deleted\n")
    assert sorted(p.name for p in out.iterdir()) == sorted([exporter.MARKER, *TABLES])
    assert (victim / "mine").read_text() == "mine"


def test_a_bad_marker_found_by_prepare_says_what_its_caller_left_undone(tmp_path):
    # was "nothing written" for clean too, whose marker changed between its check and prepare
    out = tmp_path / "out"
    out.mkdir()
    (out / exporter.MARKER).write_text("../../home\n")
    with held(str(out)) as folder, pytest.raises(CcauditError) as e:
        exporter.prepare(folder, "nothing deleted")
    assert str(e.value).endswith("lists '../../home', which is not an exported table; nothing deleted")

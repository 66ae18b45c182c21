"""A large report's later days are written by a forked child (halves.py): the output must
be the bytes one process writes, whatever the format, zone, filter or window; the child
must really write them; and when it cannot (a load waiting to commit, no temporary file),
this process writes them itself. ``MIN_EVENTS`` is lowered so that the bundled fixtures
split; the expected text is the same report written by one process."""
from __future__ import annotations

import contextlib
import gc
import io
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from ccaudit import collector, halves, output, storefile
from ccaudit.cli import cli
from ccaudit.load import load_dumps
from ccaudit.output import render_whole, write_dir, write_report
from ccaudit.render import Layout
from ccaudit.report import Filters, build, busiest_cell
from ccaudit.store import Store
from tests.records import request, signin, write_jsonl

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the second process is forked")
ALWAYS, NEVER = 0, 10**18  # MIN_EVENTS that split every report, and none


@pytest.fixture(scope="module")
def store_path(tmp_path_factory, fixtures_dir) -> str:
    """The two bundled weeks: days with events, a gap, and every section."""
    path = str(tmp_path_factory.mktemp("halves") / "audit.db")
    store = Store(path)
    load_dumps([str(fixtures_dir / "sample-cli.txt"), str(fixtures_dir / "sample-week2.jsonl")], store)
    store.close()
    return path


@pytest.fixture
def children(monkeypatch) -> list:
    """Every _Later made, to ask whether its child wrote days. The two take turns at first,
    so that each writes some of these small days: this process takes the first day, the
    child waits for that before it takes the last, and this process waits for that before
    it takes its second (each for 2 s at most: a child may fail). A thread left running by
    an earlier test keeps every report to one process (halves._worth): said here, by name."""
    assert threading.active_count() == 1, f"a thread left running: {threading.enumerate()}"
    made, real = [], halves._Later
    first, last = real.first, real._last

    def spy(*args):
        made.append(real(*args))
        return made[-1]

    def until(later, taken) -> None:
        deadline = time.monotonic() + 2
        while not taken(*struct.unpack_from("qq", later.shared)) and time.monotonic() < deadline:
            time.sleep(0.001)

    def first_in_turn(later):
        if getattr(later, "turns", 0) == 1:
            until(later, lambda front, back: back < later.count)
        later.turns = getattr(later, "turns", 0) + 1
        return first(later)

    def last_in_turn(later):
        if not getattr(later, "turns_of_child", 0):
            until(later, lambda front, back: front > 0)
        later.turns_of_child = 1
        return last(later)

    monkeypatch.setattr(halves, "_Later", spy)
    monkeypatch.setattr(real, "first", first_in_turn)
    monkeypatch.setattr(real, "_last", last_in_turn)
    return made


def both_wrote(later) -> bool:
    """Whether the child wrote days and this process wrote days."""
    return later.written and 0 < later.meeting < later.count


def written(path: str, fmt: str = "text", min_events: int = ALWAYS, stats: bool = False, tz=timezone.utc,
            filters: Filters | None = None) -> str:
    with mock.patch.object(halves, "MIN_EVENTS", min_events):
        store = Store(path, readonly=True)
        try:
            return "".join(render_whole(build(store, tz, filters), fmt, stats))
        finally:
            store.close()


def us(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 10**6)  # (Python 3.10 takes no Z)


VARIANTS = {
    "plain": {},
    "stats": {"stats": True},
    "Kathmandu": {"tz": ZoneInfo("Asia/Kathmandu")},
    "principal": {"filters": Filters(principal="sa-*")},
    "method": {"filters": Filters(method="mds.*")},
    # a window cutting quarter hours: the child counts the cut quarters' events itself
    "window": {"filters": Filters(since=us("2024-05-06T07:07:13.500+00:00"), until=us("2024-05-14T13:41:02+00:00"))},
    "top": {"filters": Filters(top=2, sections=("kafka_authentication", "all_events"))},
}


@pytest.mark.parametrize("fmt", ["text", "markdown", "csv", "json", "html"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_two_processes_write_the_bytes_one_writes(store_path, children, fmt, variant):
    one = written(store_path, fmt, NEVER, **VARIANTS[variant])
    assert not children
    two = written(store_path, fmt, ALWAYS, **VARIANTS[variant])
    assert [both_wrote(later) for later in children] == [True]  # the child wrote the days it took
    assert two == one


def test_a_python_without_ctypes_still_writes_a_report_in_two_processes(store_path, children, monkeypatch):
    # was an internal error (exit 70): giving memory back before the fork only ever saves memory
    one = written(store_path, "text", NEVER)
    monkeypatch.setitem(sys.modules, "ctypes", None)  # import ctypes: ImportError
    assert written(store_path, "text", ALWAYS) == one
    assert [both_wrote(later) for later in children] == [True]


def test_the_two_processes_write_the_days_in_date_order_each_as_fast_as_it_can(store_path, tmp_path):
    store = Store(store_path, readonly=True)
    report = build(store)
    days = list(report.timeline())
    parent = os.getpid()

    started = tmp_path / "parent-started"

    def part(day):  # this process is the slower one: the child takes more days
        if os.getpid() == parent:
            started.touch()
            time.sleep(0.02)
        else:  # but not all of them: a parent kept off the CPU past the fork took none (a busy machine)
            deadline = time.monotonic() + 10
            while not started.exists() and time.monotonic() < deadline:
                time.sleep(0.001)
        return [f"{getattr(day, 'date', 'gap')} {os.getpid()}\n"]

    with mock.patch.object(halves, "MIN_EVENTS", ALWAYS):
        lines = "".join(halves.chunks(report, Layout(["head\n"], part, "tail\n"))).splitlines()
    store.close()
    assert lines[0] == "head" and lines[-1] == "tail"
    dates, pids = zip(*(line.split() for line in lines[1:-1]))
    assert list(dates) == [getattr(d, "date", "gap") for d in days]  # each day once, in order
    mine = pids.count(str(parent))
    assert 0 < mine < len(days) / 2
    assert set(pids[:mine]) == {str(parent)} and len(set(pids[mine:])) == 1  # the child's from the last


def test_a_child_that_fails_midway_leaves_every_day_it_took_to_this_process(store_path, children):
    store = Store(store_path, readonly=True)
    report = build(store)
    days = list(report.timeline())
    parent = os.getpid()

    def part(day):  # the child writes the last day, then fails on the one before it
        same = getattr(day, "date", day) == getattr(days[-2], "date", days[-2])  # a day is made anew each time
        if os.getpid() != parent and same:
            raise OSError("no space left")
        if os.getpid() == parent:
            time.sleep(0.05)  # the child's start takes a moment: this process must not take every day first
        return [f"{getattr(day, 'date', 'gap')} {os.getpid()}\n"]

    with mock.patch.object(halves, "MIN_EVENTS", ALWAYS):
        lines = "".join(halves.chunks(report, Layout([""], part, ""))).splitlines()
    store.close()
    assert [later.written for later in children] == [False] and children[0].meeting < len(days) - 1
    assert lines == [f"{getattr(d, 'date', 'gap')} {parent}" for d in days]  # nothing of the child's


def test_a_child_that_hangs_is_stopped_and_its_days_written_here(store_path, children):
    store = Store(store_path, readonly=True)
    report = build(store)
    days = list(report.timeline())
    parent = os.getpid()

    def part(day):  # the child takes the last day and writes nothing, as if stuck
        if os.getpid() != parent:
            time.sleep(60)
        return [f"{getattr(day, 'date', 'gap')} {os.getpid()}\n"]

    started = time.monotonic()
    with mock.patch.object(halves, "MIN_EVENTS", ALWAYS), mock.patch.object(halves, "STALLED", 0.5):
        lines = "".join(halves.chunks(report, Layout([""], part, ""))).splitlines()
    store.close()
    assert time.monotonic() - started < 10  # not the child's 60 s
    assert [later.written for later in children] == [False] and not children[0].pid
    assert lines == [f"{getattr(d, 'date', 'gap')} {parent}" for d in days]


@pytest.mark.parametrize("variant", ["plain", "principal", "window"])
def test_the_child_reads_through_a_connection_of_its_own(store_path, children, tmp_path, variant):
    # was: the days a report makes when asked for kept the parent's selection, so the child
    # read every row through the parent's connection, copied across the fork (its temporary
    # tables into the parent's temporary file), and never through its own
    log = tmp_path / "readers"

    def trace(sql: str) -> None:  # inherited by a child that reads through this connection
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")

    with mock.patch.object(halves, "MIN_EVENTS", ALWAYS):
        store = Store(store_path, readonly=True)
        try:
            store.conn.set_trace_callback(trace)
            text = "".join(render_whole(build(store, **VARIANTS[variant]), "text", False))
        finally:
            store.close()
    assert [both_wrote(later) for later in children] == [True]
    assert set(log.read_text().split()) == {str(os.getpid())}
    assert text == written(store_path, "text", NEVER, **VARIANTS[variant])


def test_the_childs_connection_caches_as_many_pages_as_the_stores(store_path):
    # SQLite's default cache, 2 MB, is 31 of the store's 64 KiB pages: a zone's html page
    # read each counts page about six times over in the child.
    store = Store(store_path, readonly=True)
    try:
        child = storefile.reader(store_path)
        assert child.execute("PRAGMA cache_size").fetchone() == store.conn.execute("PRAGMA cache_size").fetchone()
        child.close()
    finally:
        store.close()


def test_a_small_report_is_written_by_one_process(store_path, children):
    written(store_path, "text", min_events=10**9)
    assert not children


def test_a_report_read_into_memory_is_written_by_one_process(store_path, children):
    store = Store(store_path, readonly=True)
    report = build(store).in_memory()
    store.close()
    with mock.patch.object(halves, "MIN_EVENTS", ALWAYS):
        text = "".join(render_whole(report, "text", False))
    assert not children
    assert text == written(store_path, "text", NEVER)


def test_a_child_that_cannot_read_leaves_its_days_to_this_process(store_path, children, monkeypatch):
    def refused(path):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(halves.storefile, "reader", refused)
    assert written(store_path, "json", ALWAYS) == written(store_path, "json", NEVER)
    assert [later.written for later in children] == [False]


def test_without_a_temporary_file_one_process_writes(store_path, children, monkeypatch, tmp_path):
    monkeypatch.setattr(halves.tempfile, "tempdir", str(tmp_path / "missing"))
    assert written(store_path, "csv", ALWAYS) == written(store_path, "csv", NEVER)
    assert [later.written for later in children] == [False]


WRITER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("CREATE TABLE written_meanwhile (x)")
conn.execute("COMMIT")  # waits, holding SQLite's pending lock, until the report's reader is done
"""
PROBE = """
import sqlite3, sys
try:
    sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=0).execute("SELECT 1 FROM sqlite_master")
except sqlite3.OperationalError as e:
    sys.exit(3 if "locked" in str(e) else 1)
"""


def test_a_load_waiting_to_commit_waits_for_both_processes_and_changes_nothing_they_write(
        store_path, tmp_path, children):
    # The child's connection is counted as this process's reader (SQLite's lock bookkeeping
    # is copied by fork), under the shared lock this process holds: a writer asking for its
    # exclusive lock keeps other processes out, not the child, and commits only after both.
    path = str(tmp_path / "copy.db")
    shutil.copy(store_path, path)
    expected = written(path, "text", NEVER)
    with mock.patch.object(halves, "MIN_EVENTS", ALWAYS):
        store = Store(path, readonly=True)
        report = build(store)  # its read transaction holds the shared lock from here
        writer = subprocess.Popen([sys.executable, "-c", WRITER, path])
        try:
            _wait_for_pending_lock(path)
            text = "".join(render_whole(report, "text", False))
            assert writer.poll() is None
        finally:
            store.close()
            assert writer.wait(timeout=60) == 0
    assert text == expected  # the snapshot of before the commit, whole
    assert [later.written for later in children] == [True]
    with sqlite3.connect(path) as conn:  # and the writer committed once the report was done
        assert conn.execute("SELECT count(*) FROM written_meanwhile").fetchone() == (0,)


def _wait_for_pending_lock(path: str) -> None:
    """Until another process cannot start reading: the writer has asked for its exclusive lock."""
    deadline = time.monotonic() + 30
    while subprocess.run([sys.executable, "-c", PROBE, path]).returncode != 3:
        assert time.monotonic() < deadline, "the writer never asked for its exclusive lock"
        time.sleep(0.05)


def test_a_report_ended_early_stops_its_child(store_path, children):
    store = Store(store_path, readonly=True)
    with mock.patch.object(halves, "MIN_EVENTS", ALWAYS):
        pieces = render_whole(build(store), "text", False)
        next(pieces)
        (later,) = children
        pid = later.pid
        assert pid
        pieces.close()  # a closed pipe, Ctrl-C: the generator is closed
    store.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped, not a zombie


def test_a_store_in_wal_mode_is_written_by_one_process(store_path, tmp_path, children):
    # another process's commit does not wait for a WAL reader: the child could read a newer state
    path = str(tmp_path / "wal.db")
    shutil.copy(store_path, path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    assert written(path, "text", ALWAYS) == written(store_path, "text", NEVER)
    assert not children


def test_the_command_line_report_is_the_same_on_stdout_and_in_a_file(store_path, tmp_path, children):
    def report(*args) -> str:
        result = CliRunner().invoke(cli, ["report", "--db", store_path, "-q", *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    with mock.patch.object(halves, "MIN_EVENTS", NEVER):
        one = report("--format", "json")
    with mock.patch.object(halves, "MIN_EVENTS", ALWAYS):
        assert report("--format", "json") == one
        report("--format", "json", "-o", str(tmp_path / "r.json"))
    assert (tmp_path / "r.json").read_text(encoding="utf-8") == one
    assert [both_wrote(later) for later in children] == [True, True]


def test_the_childs_days_reach_a_utf8_writer_as_the_bytes_it_wrote(store_path, children):
    # decoding them and encoding them again cost a tenth of a large report's time
    one = written(store_path, "json", NEVER)
    with mock.patch.object(halves, "MIN_EVENTS", ALWAYS):
        store = Store(store_path, readonly=True)
        try:
            pieces = list(render_whole(build(store), "json", False, raw=True))
        finally:
            store.close()
    assert [both_wrote(later) for later in children] == [True]
    assert any(isinstance(p, bytes) for p in pieces) and any(isinstance(p, str) for p in pieces)
    assert b"".join(p if isinstance(p, bytes) else p.encode() for p in pieces) == one.encode()


def test_a_stdout_of_another_encoding_gets_the_childs_days_as_text(store_path, children, monkeypatch):
    one = written(store_path, "json", NEVER)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-16")
    monkeypatch.setattr(sys, "stdout", out)
    with mock.patch.object(halves, "MIN_EVENTS", ALWAYS):
        store = Store(store_path, readonly=True)
        try:
            write_report(build(store), "json")
        finally:
            store.close()
    out.flush()
    assert [both_wrote(later) for later in children] == [True]
    assert out.buffer.getvalue().decode("utf-16") == one


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_busiest_cell_read_from_stored_hours_is_the_largest_cell_of_the_rows(store_path, variant):
    kept = {k: v for k, v in VARIANTS[variant].items() if k != "stats"}
    store = Store(store_path, readonly=True)
    report = build(store, **kept)
    for day in report.days:
        for section in day.sections.values():
            assert busiest_cell(section.rows) == max((max(r.hours) for r in section.rows), default=0)
    store.close()


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Zurich", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_the_busiest_cell_in_a_zone_is_the_largest_cell_of_the_rows(store_path, zone):
    # New York and Zurich: every column within a UTC day, each stored row on its own (a
    # daylight saving day too); Kolkata: an hour across UTC midnight; Lord Howe: half-hour DST
    # A floor (the largest cell of the days before) leaves out rows of no more events, and
    # a filter's cells are of its keys (methods) only, the busier ones it leaves out too.
    store = Store(store_path, readonly=True)
    for filters in (None, Filters(principal="sa-*"), Filters(method="[!k]*")):
        report = build(store, tz=ZoneInfo(zone), filters=filters)
        for day in report.days:
            for section in day.sections.values():
                found = busiest_cell(section.rows)  # from the stored rows: before the rows are read and kept
                floored = [busiest_cell(section.rows, floor) for floor in (max(found - 1, 0), found, found + 1)]
                largest = max((max(r.hours) for r in section.rows), default=0)
                assert (found, floored) == (largest, [largest, largest, largest + 1])
    store.close()


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "Asia/Kathmandu"])
def test_the_busiest_cell_across_utc_midnight_sums_both_days(tmp_path, zone):
    # 23:50 and 00:05 UTC are one local hour in these zones (05:00-06:00): alice's cell
    # there is 2, though no stored row (one per UTC day) has 2 in it. Rows by their events:
    # alice's second day (3), bob's day (2), alice's first (1): taken one by one, the
    # busiest cell would be 1. A key's events, all its rows', bound its cells.
    path = str(tmp_path / "midnight.db")
    store = Store(path)
    alice = [signin(f"2024-05-0{t}Z") for t in ("6T23:50:00", "7T00:05:00", "7T10:00:00", "7T14:00:00")]
    bob = [signin(f"2024-05-07T0{h}:00:00Z", email="bob@example.com") for h in (3, 7)]
    load_dumps([write_jsonl(tmp_path, alice + bob)], store)
    (day,) = build(store, tz=ZoneInfo(zone)).days
    rows = day.sections["signin_success"].rows
    assert busiest_cell(rows) == 2  # from the stored rows (read first: rows once read are kept)
    assert [(r.key, max(r.hours)) for r in rows] == [("alice@example.com", 2), ("bob@example.com", 1)]
    store.close()


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "Asia/Kathmandu"])
def test_a_floor_leaves_out_only_keys_of_no_cell_above_it(tmp_path, zone):
    # carol: 2 sign-ins before UTC midnight, 2 after, all in local hour 05: a cell of 4,
    # though each stored row has 2. With a floor of 3 (the days before), only keys with a
    # row of more than 3 / 2 events are read: hers are, and her cell of 4 is found. dave's
    # rows of 1 event each (cells of at most 2) are left out.
    path = str(tmp_path / "floor.db")
    store = Store(path)
    carol = [signin(f"2024-05-0{t}Z", "carol@example.com") for t in ("6T23:50:00", "6T23:55:00", "7T00:05:00",
                                                                    "7T00:10:00")]
    dave = [signin(f"2024-05-0{t}Z", "dave@example.com") for t in ("6T23:58:00", "7T00:01:00")]
    load_dumps([write_jsonl(tmp_path, carol + dave)], store)
    for floor, busiest in ((3, 4), (4, 4), (5, 5), (0, 4)):
        (day,) = build(store, tz=ZoneInfo(zone)).days  # rows not yet read: the cell is found in SQL
        assert busiest_cell(day.sections["signin_success"].rows, floor) == busiest
    assert [(r.key, max(r.hours)) for r in day.sections["signin_success"].rows] == [("carol@example.com", 4),
                                                                                   ("dave@example.com", 2)]
    store.close()


def test_a_floor_reads_a_busy_method_whatever_its_name(tmp_path):
    # The keys (here methods) that may pass a floor are kept in SQLite as they are: a name
    # with NUL in it, which a JSON round trip loses, is read like any other. 2 requests
    # before UTC midnight and 2 after: a Kolkata cell of 4 in all_events.
    path = str(tmp_path / "nul.db")
    store = Store(path)
    times = ("6T23:50:00", "6T23:55:00", "7T00:05:00", "7T00:10:00")
    load_dumps([write_jsonl(tmp_path, [request(f"2024-05-0{t}Z", "Get\x00Users") for t in times])], store)
    (day,) = build(store, tz=ZoneInfo("Asia/Kolkata")).days
    assert busiest_cell(day.sections["all_events"].rows, 3) == 4
    assert [(r.key, max(r.hours)) for r in day.sections["all_events"].rows] == [("Get\x00Users", 4)]
    store.close()


def folder(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", ["text", "markdown", "csv", "json", "html"])
def test_a_report_folder_written_by_two_processes_is_the_one_one_writes(store_path, tmp_path, children, fmt):
    for min_events, out in ((NEVER, tmp_path / "one"), (ALWAYS, tmp_path / "two")):
        with mock.patch.object(halves, "MIN_EVENTS", min_events):
            store = Store(store_path, readonly=True)
            write_dir(build(store), fmt, str(out))
            store.close()
    assert [both_wrote(later) for later in children] == [True]
    one = folder(tmp_path / "one")
    assert len(one) > 10 if fmt != "html" else set(one) == {"report.html", "summary.txt", ".ccaudit-manifest"}
    assert folder(tmp_path / "two") == one  # no temporary file left either


class Stopped(BaseException):
    pass


def stop(signum, frame):
    raise Stopped  # as ccaudit's own SIGTERM handler does


def test_a_report_folder_ended_early_stops_its_child(store_path):
    # this process fails at once, so SIGTERM reaches the child just after the fork: had the
    # child not blocked it until it was in its own try, it would have unwound into this
    # test's code, and only SIGKILL, 2 s later, would have stopped it
    signal.signal(signal.SIGTERM, stop)
    store = Store(store_path, readonly=True)
    report = build(store)
    parent, started = os.getpid(), time.monotonic()

    def write(day):
        if os.getpid() == parent:
            raise OSError("no space left")  # this process fails while the child still writes
        time.sleep(60)

    try:
        with mock.patch.object(halves, "MIN_EVENTS", ALWAYS), pytest.raises(OSError):
            halves.each(report, report.days, write)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        store.close()
    assert time.monotonic() - started < 1.5
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left, running or unreaped


def test_the_busiest_cell_of_a_key_stored_once_per_user_is_the_largest_of_its_sums(tmp_path):
    # An email signed in as three users is three stored keys, one row: its 05 cell is 2,
    # though no stored row holds more than 1 in any hour. The html shades on the row's sums.
    def by(user: str, time: str) -> dict:
        return signin(time, principal={"email": "trent@example.com", "confluentUser": {"resourceId": user}})

    path = str(tmp_path / "users.db")
    store = Store(path)
    load_dumps([write_jsonl(tmp_path, [by("u-1", "2024-05-06T05:01:00Z"), by("u-2", "2024-05-06T05:02:00Z"),
                                        by("u-3", "2024-05-06T06:00:00Z"), by("u-3", "2024-05-06T07:00:00Z")])], store)
    (day,) = build(store).days
    rows = day.sections["signin_success"].rows
    assert busiest_cell(rows) == 2  # from the stored rows (read first: rows once read are kept)
    assert [(r.key, r.hours[5:8]) for r in rows] == [("trent@example.com", [2, 1, 1])]
    store.close()


def test_a_fork_that_fails_leaves_one_process_writing_with_its_signals_as_they_were(store_path, monkeypatch):
    def no_process():
        raise BlockingIOError("fork: Resource temporarily unavailable")

    monkeypatch.setattr(halves.os, "fork", no_process)
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    assert written(store_path, "json", ALWAYS) == written(store_path, "json", NEVER)
    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == before  # Ctrl-C and SIGTERM still stop it


def test_a_process_with_other_threads_is_not_forked(store_path, children):
    # another thread may hold a lock (SQLite's allocator's, say) that the child would wait on for ever
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert written(store_path, "text", ALWAYS) == written(store_path, "text", NEVER)
    finally:
        stop.set()
        thread.join()
    assert not children


def test_a_store_replaced_since_the_report_was_built_is_not_read_by_the_child(store_path, fixtures_dir, tmp_path,
                                                                              children):
    path, other = str(tmp_path / "audit.db"), str(tmp_path / "other.db")
    shutil.copy(store_path, path)
    expected = written(path, "text", NEVER)
    store = Store(other)
    load_dumps([str(fixtures_dir / "sample-week2.jsonl")], store)
    store.close()
    with mock.patch.object(halves, "MIN_EVENTS", ALWAYS):
        store = Store(path, readonly=True)
        report = build(store)
        os.replace(other, path)  # the open store is now an unlinked file; the path names another
        text = "".join(render_whole(report, "text", False))
        store.close()
    assert text == expected
    assert [later.written for later in children] == [False]


ORPHANED = """
import os, sys, time
from unittest import mock
from ccaudit import halves
from ccaudit.render import Layout
from ccaudit.report import build
from ccaudit.store import Store

parent = os.getpid()

def part(day):
    if os.getpid() != parent:
        with open(sys.argv[2], "w") as f:
            f.write(str(os.getpid()))
        time.sleep(60)
    return []

report = build(Store(sys.argv[1], readonly=True))
with mock.patch.object(halves, "MIN_EVENTS", 0):
    for piece in halves.chunks(report, Layout([""], part, "")):
        time.sleep(60)  # never reached by the child
"""


def test_a_child_dies_with_its_parent(store_path, tmp_path):
    # killed with SIGKILL, the parent cannot stop the child, and its lock on the store is
    # gone: the child must not read on (a load could commit under it)
    pid_file = tmp_path / "child"
    root = Path(__file__).parent.parent
    proc = subprocess.Popen([sys.executable, "-c", ORPHANED, store_path, str(pid_file)], cwd=root)
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    child = int(pid_file.read_text())
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 5
    try:
        while _alive(child):
            assert time.monotonic() < deadline, "the child outlived its parent"
            time.sleep(0.01)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"  # a zombie is dead, waiting for init to reap it
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("fails", [False, True])
def test_an_html_pages_shading_scale_is_measured_by_both_processes_each_over_half_the_days(store_path, children,
                                                                                          monkeypatch, fails):
    # Each process measures the busiest cells of half the days and posts them in the shared
    # map; each shades with the larger of the two. A child that fails before posting its
    # half leaves this process to measure it: the page is the same bytes either way.
    from ccaudit.render import SectionPeaks

    one = written(store_path, "html", NEVER)
    parent, measured, measure = os.getpid(), [], SectionPeaks.measure

    def spied(self, days):
        if os.getpid() != parent and fails:
            raise OSError("the child fails")
        if os.getpid() == parent:
            measured.append(len(days))
        return measure(self, days)

    monkeypatch.setattr(SectionPeaks, "measure", spied)
    assert written(store_path, "html", ALWAYS) == one
    (later,) = children
    half = later.count // 2
    assert measured == ([half, later.count - half] if fails else [half])


def test_a_report_runs_the_cycle_collector_less_often_and_restores_it(store_path, monkeypatch):
    seen, before = [], gc.get_threshold()
    real = output.render_whole

    def render(*args, **kwargs):
        seen.append(gc.get_threshold()[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(output, "render_whole", render)
    store = Store(store_path, readonly=True)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            write_report(build(store), "text")
    finally:
        store.close()
    assert seen == [collector.COLLECT_EVERY] and gc.get_threshold() == before

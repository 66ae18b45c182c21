"""ccaudit as a library (the README's "From Python"): what a program passes that no command
would is refused at once, as Python's own functions refuse it, rather than making a report
that is empty or wrong without a word; a report's snapshot ends when the program says so."""
from __future__ import annotations

import gc
import io
import json
import sqlite3
import subprocess
import sys
from datetime import timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest

from ccaudit import Filters, Store, build, check, diff, export, load_dumps, render_report
from ccaudit.html import render_html
from tests.records import kafka_auth, write_jsonl


@pytest.fixture
def store(tmp_path, sample_cli):
    with Store(str(tmp_path / "audit.db")) as s:
        load_dumps([str(sample_cli)], s)
        yield s


@pytest.mark.parametrize("given, error, said", [
    ({"since": "2024-05-06"}, TypeError, "Filters.since is int or None, not str (epoch microseconds)"),
    ({"until": 1.5}, TypeError, "Filters.until is int or None, not float"),
    ({"top": "5"}, TypeError, "Filters.top is int or None, not str"),
    ({"principal": 5}, TypeError, "Filters.principal is str or None, not int"),
    ({"sections": "all_events"}, TypeError, "Filters.sections is a list or tuple of section ids"),
    ({"sections": ("nope",)}, ValueError, "Filters.sections: no section 'nope'"),
    ({"since": 10, "until": 10}, ValueError, "the window is empty"),
    ({"since": 10**30}, ValueError, "epoch microseconds from year 1 to 9999"),
    ({"top": 0}, ValueError, "Filters.top keeps from 1 to 2**63 - 1 rows"),
    ({"top": 2**63}, ValueError, "Filters.top keeps from 1 to 2**63 - 1 rows"),
])
def test_filters_no_command_would_pass_are_refused(given, error, said):
    # were: an empty report (since >= until, an unknown section, top=0), every row (top=-1),
    # sections matched as a substring, or a TypeError deep in the report
    with pytest.raises(error) as e:
        Filters(**given)
    assert said in str(e.value)


def test_filters_take_a_list_of_sections_or_none_for_all():
    assert Filters(sections=["all_events"]).sections == ("all_events",)
    assert Filters(sections=None).sections == ()  # was: a TypeError of iterating None


class _SevenMinutesEast(tzinfo):  # a fixed offset of another library's kind, such as dateutil's tzoffset
    def utcoffset(self, dt):
        return timedelta(minutes=7)

    def dst(self, dt):
        return timedelta(0)

    def tzname(self, dt):
        return "+00:07"


@pytest.mark.parametrize("tz, error", [("Europe/Zurich", TypeError), (None, TypeError),
                                       (timezone(timedelta(minutes=7)), ValueError),
                                       (_SevenMinutesEast(), ValueError)])
def test_a_zone_that_cannot_place_the_counts_is_refused(store, tz, error):
    # were: a TypeError from datetime, "(None)" in the title, and events of +00:07 in the hour before
    with pytest.raises(error):
        build(store, tz=tz)


def test_a_fixed_offset_of_whole_quarter_hours_is_a_zone(store):
    fixed = json.loads(render_report(build(store, tz=timezone(timedelta(hours=5, minutes=30))), "json"))
    named = json.loads(render_report(build(store, tz=ZoneInfo("Asia/Kolkata")), "json"))
    assert fixed["days"] == named["days"] and len(fixed["days"]) == 4


def test_filters_of_another_kind_are_refused(store):
    with pytest.raises(TypeError):
        build(store, filters={"principal": "sa-*"})


def test_every_format_is_rendered_and_no_other(store, tmp_path, ccaudit_exe):
    # was: "html" (and any name) gave the text report
    report = build(store)
    assert render_report(report, "html") == render_html(report)
    cli = subprocess.run([ccaudit_exe, "report", "--db", store.path, "--format", "html"], capture_output=True,
                         text=True, timeout=60)
    assert render_report(report, "html") == cli.stdout
    with pytest.raises(ValueError, match="no report format 'xml'"):
        render_report(report, "xml")


def test_a_closed_report_lets_another_process_load(store, tmp_path, ccaudit_exe):
    # was: the report's snapshot lasted until the store was closed; a load elsewhere waited for it
    other = write_jsonl(tmp_path, [kafka_auth("2024-05-10T10:00:00Z", "User:sa-9", id="late-1")])
    with build(store) as report:
        render_report(report, "text")
        assert store.conn.in_transaction
    assert not store.conn.in_transaction
    loaded = subprocess.run([ccaudit_exe, "load", other, "--db", store.path, "-q"], capture_output=True, text=True,
                            timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    assert "another process is reading" not in loaded.stderr
    assert "sa-9" in render_report(build(store), "text")


@pytest.mark.parametrize("paths, error, said", [
    ("dump.txt", TypeError, "a list of paths, not one path alone"),
    ([b"dump.txt"], TypeError, "paths as str or os.PathLike"),
    (["-", "-"], ValueError, "stdin (-) can be read only once"),
])
def test_paths_no_command_would_pass_are_refused(store, paths, error, said):
    # was: "dump.txt" read as the files d, u, m, p...; stdin's second name read empty
    with pytest.raises(error) as e:
        load_dumps(paths, store)
    assert said in str(e.value)


@pytest.mark.parametrize("given", [{"workers": -1}, {"chunk": 0}, {"chunk": -5}])
def test_a_load_with_workers_or_chunks_no_load_could_have_is_refused(store, sample_cli, given):
    # were: ZeroDivisionError (and an unfinished load noted), TypeError, and 0 records read
    with pytest.raises(ValueError):
        load_dumps([str(sample_cli)], store, **given)
    assert store.unfinished == []


@pytest.mark.parametrize("top", [None, 1])
def test_ctrl_c_in_a_function_sqlite_calls_reaches_the_program_as_itself(store, monkeypatch, top):
    # was: sqlite3.OperationalError "user-defined function raised exception", which a
    # program's `except Exception` took (5 of 25 timed Ctrl-Cs of a report)
    from ccaudit import daycounts

    def stopped(blob):
        raise KeyboardInterrupt

    with build(store, filters=Filters(top=top)) as report:
        monkeypatch.setattr(daycounts, "_entries", stopped)  # a row that keeps no hours makes them with it
        with pytest.raises(KeyboardInterrupt):
            for day in report.days:
                for section in day.sections.values():
                    list(section.rows)


@pytest.mark.parametrize("top", [None, 1])
def test_ctrl_c_as_a_function_sqlite_calls_is_entered_reaches_the_program_as_itself(store, monkeypatch, top):
    # was OperationalError (7 of 30 timed Ctrl-Cs): Python runs the handler as the function
    # is entered, before its try could keep what it raised
    from ccaudit import daycounts

    def stopped(*args):
        raise KeyboardInterrupt

    with build(store, filters=Filters(top=top)) as report:
        monkeypatch.setattr(daycounts, "_dense", lambda make: stopped)
        daycounts.register(store.conn)  # as if the signal came as the function was entered
        with pytest.raises(KeyboardInterrupt):
            for day in report.days:
                for section in day.sections.values():
                    list(section.rows)


def test_closing_one_report_leaves_another_of_the_store_readable(store):
    # was: closing one rolled back the snapshot of both, and with it the other's filter tables
    # ("no such table: temp.wanted_1")
    first = build(store, filters=Filters(principal="sa-*"))
    _first_closed_second_read(store, first, build(store, filters=Filters(principal="sa-*")), "sa-q1w2e3")


def _first_closed_second_read(store, first, second, key: str) -> None:
    """Closing ``first`` keeps the snapshot ``second`` reads, whose rows show ``key``; closing
    ``second`` then ends it."""
    first.close()
    assert store.conn.in_transaction
    assert key in render_report(second, "text")
    second.close()
    assert not store.conn.in_transaction


def test_a_closed_report_cannot_be_read(store):
    # was: read on, outside any snapshot: rows of a later load beside the day totals of the first
    report = build(store)
    report.close()
    with pytest.raises(ValueError, match=r"the report is closed \(Report.close\)"):
        render_report(report, "text")


def _rows_begun(report):
    """An iterator of a section's rows that has given one of two or more."""
    for day in report.days:
        for section in day.sections.values():
            if sum(1 for _ in section.rows) > 1:
                rows = iter(section.rows)
                next(rows)
                return rows
    raise AssertionError("no section has two rows")


def test_rows_begun_before_a_report_is_closed_are_not_read_on(store):
    # was: read on, outside the snapshot, after report.close()
    report = build(store)
    rows = _rows_begun(report)
    report.close()
    with pytest.raises(ValueError, match=r"the report is closed \(Report.close\)"):
        next(rows)


def test_rows_begun_before_a_load_through_the_store_are_not_read_on(store, tmp_path):
    # was: read on, rows of after the load beside those of before it
    rows = _rows_begun(build(store))
    load_dumps([str(write_jsonl(tmp_path, [kafka_auth("2024-05-06T10:00:00Z", "User:sa-9", id="late-4")]))], store)
    with pytest.raises(ValueError, match=r"the report is closed \(a load through its Store ended its snapshot"):
        next(rows)


def test_a_closed_stores_reports_and_calls_are_refused_as_a_closed_reports_are(tmp_path, sample_cli):
    # were sqlite3.ProgrammingError ("Cannot operate on a closed database"), where the README
    # promises a ValueError for a report's rows that can no longer be read
    # (store.db, with, event_count and counts_only: the same, not SQLite's words or a with that entered)
    store = Store(str(tmp_path / "c.db"))
    load_dumps([str(sample_cli)], store)
    report, begun, db = build(store), _rows_begun(build(store)), store.db
    store.close()
    for read in (lambda: render_report(report, "text"), lambda: next(begun)):
        with pytest.raises(ValueError, match=r"the report is closed \(its Store was closed\)"):
            read()
    calls = {"build": lambda: build(store), "load_dumps": lambda: load_dumps([str(sample_cli)], store),
             "Store.db": lambda: store.db, "with": lambda: store.__enter__(),
             "Store.event_count": store.event_count, "Store.counts_only": store.counts_only}
    for where, call in calls.items():
        with pytest.raises(ValueError, match=f"^{where}: the Store is closed$"):
            call()
    store.close()  # again: nothing to do
    with pytest.raises(sqlite3.ProgrammingError):  # a Database a program kept is of the closed connection
        db.execute("SELECT 1")


def test_a_report_of_a_store_the_program_did_not_keep_reads_on(store, sample_cli):
    # its connection lives while the report reads through it (a finalizer of the Store must not close it)
    load_dumps([str(sample_cli)], store)
    report = build(Store(store.path, readonly=True))
    gc.collect()
    assert sum(row.total for day in report.days for row in day.sections["all_events"].rows) == report.events > 0
    report.close()


def test_a_reports_days_are_found_by_their_dates(store, sample_cli):
    # was: days.index(day) gave None (a date's place, typed as Sequence.index), and a day taken
    # from the days was not in them
    load_dumps([str(sample_cli)], store)
    with build(store) as report, build(store) as again:
        days = report.days
        assert len(days) > 2
        day = days[1]
        assert (days.index(day), day in days, days.count(day)) == (1, True, 1)
        assert days.index(again.days[1]) == 1 and days.index(day, 1 - len(days)) == 1  # its date's; from the end
        for missing in (lambda: days.index(day, 2), lambda: days.index("2024-05-07"), lambda: days.index(None)):
            with pytest.raises(ValueError):
                missing()
        assert None not in days and days[0].date not in days  # days, not their dates


def test_a_store_given_as_a_dump_is_noted_as_one_not_read_as_text(store, tmp_path, sample_cli):
    # was read as text: 1,244 malformed lines of another store, and "its first bytes are not UTF-8 text"
    other = tmp_path / "other.db"
    with Store(other) as s:
        load_dumps([str(sample_cli)], s)
    stats = load_dumps([str(other)], store)
    assert stats.failed == {str(other): f"{other}: is an SQLite file, not a dump (a store is given with --db)"}
    assert (stats.records_read, stats.malformed) == (0, 0)


def test_a_loads_lines_name_a_file_with_a_newline_as_the_commands_print_it(store, tmp_path, sample_cli):
    # were 'a\nb: no such file', and a summary line broken in two by the name
    import shutil

    named = tmp_path / "x\ny.txt"
    shutil.copy(sample_cli, named)
    stats = load_dumps(["a\nb", str(named)], store)
    assert stats.failed == {"a\\x0ab": "a\\x0ab: no such file"}  # by its name as shown, as every place
    shown = str(named).replace("\n", "\\x0a")
    assert stats.problem_lines()[0] == f"{shown}:31: not a JSON object"
    assert "\n" not in stats.summary_line() and stats.summary_line().endswith("; 1 input unusable (a\\x0ab)")


def test_a_load_that_ends_another_loads_unfinished_load_is_seen_to(tmp_path, sample_cli):
    # was: store.unfinished was read when the store opened, and named the load after this one ended it
    db = str(tmp_path / "u.db")
    with Store(db) as killed:
        killed.begin_load([str(sample_cli)])  # a load that never ends
    with Store(db) as store:
        assert [load["inputs"] for load in store.unfinished] == [[str(sample_cli)]]
        load_dumps([str(sample_cli)], store)
        assert store.unfinished == [] and build(store).unfinished == []


def test_render_of_the_render_module_refuses_html_and_names_the_one_that_writes_it(store):
    from ccaudit import render
    assert render.render_report(build(store), "csv") == render_report(build(store), "csv")
    with pytest.raises(ValueError, match="ccaudit.render_report writes html too"):
        render.render_report(build(store), "html")


def test_closing_a_report_whose_snapshot_a_load_ended_leaves_the_next_ones(store, tmp_path):
    # a load through the same Store commits, which ends the first report's snapshot; the
    # second report has its own, which closing the first must not end
    first = build(store)
    load_dumps([str(write_jsonl(tmp_path, [kafka_auth("2024-05-10T10:00:00Z", "User:sa-9", id="late-2")]))], store)
    _first_closed_second_read(store, first, build(store, filters=Filters(principal="sa-*")), "sa-9")


def _commit_from_another_process(db) -> str:
    """What another process's write of the store says, waiting for no lock."""
    code = ("import sqlite3, sys\n"
            "conn = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n"
            "try:\n"
            "    conn.execute('BEGIN IMMEDIATE')\n"
            "    conn.execute(\"INSERT INTO meta VALUES ('intruder', '1')\")\n"
            "    conn.execute('COMMIT')\n"
            "    print('committed')\n"
            "except sqlite3.OperationalError as e:\n"
            "    print(e)\n")
    return subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


@pytest.mark.parametrize("second", ["read-only", "writable"])
def test_a_second_store_of_the_file_leaves_the_first_ones_snapshot_held(store, second):
    # was: opening and closing it closed descriptors of the file, which dropped the
    # process's POSIX locks (SQLite's): another process committed under the first's report
    with build(store):
        Store(store.path, readonly=second == "read-only").close()
        assert _commit_from_another_process(store.path) == "database is locked"
    assert _commit_from_another_process(store.path) == "committed"


def test_a_second_store_of_the_file_leaves_the_first_ones_write_held(store):
    # was: another process's commit went through inside the first's transaction, then lost
    with store.conn:
        store.conn.execute("BEGIN IMMEDIATE")
        store.conn.execute("INSERT INTO meta VALUES ('mine', '1')")
        with Store(store.path, readonly=True) as other:
            assert other.unfinished == []
        assert _commit_from_another_process(store.path) == "database is locked"
    assert _commit_from_another_process(store.path) == "committed"


SELF_WAIT = """\
import sys
from ccaudit import Store, build, load_dumps
from ccaudit.errors import StoreError
with Store(sys.argv[1]) as store, Store(sys.argv[1]) as other, build(store):
    try:
        load_dumps([sys.argv[2]], other)
    except StoreError as e:
        print(e)
    print(other.unfinished)
with Store(sys.argv[1]) as other:
    print(load_dumps([sys.argv[2]], other).inserted)
"""


def test_a_load_that_would_wait_for_a_report_of_its_own_thread_is_refused_at_once(store, tmp_path):
    # was: it waited up to a day: the report, of another Store of the file, could not end meanwhile
    dump = write_jsonl(tmp_path, [kafka_auth("2024-05-10T10:00:00Z", "User:sa-9", id="late-5")])
    ran = subprocess.run([sys.executable, "-c", SELF_WAIT, str(store.path), str(dump)], capture_output=True,
                         text=True, timeout=60)
    assert (ran.returncode, ran.stderr) == (0, "")
    assert ran.stdout.splitlines() == [
        f"{store.path}: a report of another Store of the file, in this thread, holds the store, and a load would "
        "wait for it for ever; close the report first (or load through its Store)", "[]", "1"]


def test_a_load_beside_a_report_of_its_own_thread_goes_at_once_in_a_wal_store(store, tmp_path):
    # the refusal above, made before the write met a lock, refused a store in WAL mode, whose
    # readers never hold a commit back
    import sqlite3

    dump = write_jsonl(tmp_path, [kafka_auth("2024-05-10T10:00:00Z", "User:sa-9", id="late-6")])
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    conn.close()
    with build(store), Store(store.path) as other:
        assert load_dumps([dump], other).inserted == 1


def test_an_export_or_a_report_leaves_a_programs_own_transaction_open(store, tmp_path):
    # was: rolled back as the export (or the report) ended: the program's row was gone
    store.conn.execute("INSERT INTO meta VALUES ('mine', '1')")
    export.export(store, tmp_path / "out")
    build(store).close()
    assert store.conn.in_transaction
    store.conn.commit()
    assert store.conn.execute("SELECT value FROM meta WHERE name = 'mine'").fetchone() == ("1",)


def test_a_report_read_into_memory_lets_the_store_go(store):
    # was: in_memory() dropped the selection without ending it: every later load waited
    with build(store) as report:
        report.in_memory()
        assert not store.conn.in_transaction
        assert _commit_from_another_process(store.path) == "committed"
        assert "sa-" in render_report(report, "text")


@pytest.mark.parametrize("filters", [None, Filters(principal="sa-*", since=1_714_953_601_000_000)])
def test_a_report_dropped_unclosed_lets_the_store_go(store, filters):
    # was: its snapshot held until the Store closed: every later load into the store waited
    report = build(store, filters=filters)
    assert "sa-" in render_report(report, "text")
    del report
    assert not store.conn.in_transaction
    assert _commit_from_another_process(store.path) == "committed"


def test_a_dropped_report_leaves_the_snapshot_of_one_still_open(store):
    kept, dropped = build(store), build(store)
    del dropped
    assert store.conn.in_transaction
    assert "sa-" in render_report(kept, "text")
    kept.close()
    assert not store.conn.in_transaction


@pytest.mark.parametrize("filters, where", [(None, "clock.Clock.place"),
                                            (Filters(principal="sa-*"), "counts.Selection._keep"),
                                            (Filters(since=1_714_953_601_000_000), "counts.Selection._count_edges")])
def test_a_build_that_fails_lets_the_store_go(store, monkeypatch, filters, where):
    # was: Ctrl-C (or a damaged row) inside build left its snapshot held: loads waited for a day
    module, owner, name = where.split(".")
    monkeypatch.setattr(getattr(__import__(f"ccaudit.{module}", fromlist=["x"]), owner), name,
                        lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        build(store, filters=filters)
    assert not store.conn.in_transaction
    assert _commit_from_another_process(store.path) == "committed"


def test_a_report_whose_snapshot_a_load_through_its_store_ended_cannot_be_read(store, tmp_path):
    # was: read on: the day totals of before the load beside rows of after it
    report = build(store)
    load_dumps([str(write_jsonl(tmp_path, [kafka_auth("2024-05-06T10:00:00Z", "User:sa-9", id="late-3")]))], store)
    with pytest.raises(ValueError, match=r"the report is closed \(a load through its Store ended its snapshot"):
        render_report(report, "text")
    report.close()
    assert "sa-9" in render_report(build(store), "text")


def test_store_db_leaves_sqlite_utils_as_the_program_would_have_it(tmp_path, root):
    # was: imported with numpy and pandas hidden, so the program's own sqlite-utils could
    # store no numpy value for the rest of its run (KeyError: <class 'numpy.float32'>)
    pytest.importorskip("numpy")
    code = ("import sys\n"
            "from ccaudit import Store\n"
            "Store(sys.argv[1]).db\n"
            "import numpy, sqlite_utils\n"
            "sqlite_utils.Database(memory=True)['t'].insert({'x': numpy.float32(1.5)})\n"
            "print('stored')\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.db")], capture_output=True, text=True,
                          cwd=root, timeout=60, check=False)
    assert proc.stdout == "stored\n", proc.stderr


def test_sections_given_as_a_generator_are_kept():
    # was: read up by the check of their type, so () was kept: every section
    assert Filters(sections=(s for s in ["signin_failure"])).sections == ("signin_failure",)
    with pytest.raises(TypeError, match="Filters.sections is a list or tuple of section ids"):
        Filters(sections=5)


@pytest.mark.parametrize("workers, error", [(65, ValueError), (True, TypeError), ("2", TypeError)])
def test_workers_no_machine_could_start_are_refused(store, sample_cli, workers, error):
    # was: workers=10**6 started processes until the machine ran out of memory (65 started 65)
    with pytest.raises(error, match="load_dumps: workers is None or an int"):
        load_dumps([str(sample_cli)], store, workers=workers)


@pytest.mark.parametrize("progress, kind", [(5, "int"), (lambda done: None, "function")])
def test_a_progress_that_cannot_take_what_a_load_tells_is_refused_before_the_load(store, sample_cli, progress,
                                                                                    kind):
    # was: the whole load done, then "TypeError: 'int' object is not callable", its note left;
    # and a callable of one argument failed inside the load, "takes 1 positional argument but 4
    # were given", leaving the store with a load that did not end
    with pytest.raises(TypeError, match=f"load_dumps: progress is None or a callable of .*, not {kind}"):
        load_dumps([str(sample_cli)], store, progress=progress)
    assert store.unfinished == []
    told = []
    load_dumps([str(sample_cli)], store, progress=lambda *args: told.append(args))  # any that takes four
    assert told and store.unfinished == []

    class Attributes(dict):  # whose signature cannot be read: KeyError '__wrapped__' (a review found it);
        # and empty, so false: its file's last word was not said
        __getattr__ = dict.__getitem__

        def __call__(self, label, done, size, records):
            told.append(records)

    told.clear()
    load_dumps([str(sample_cli)], store, progress=Attributes())
    assert told and store.unfinished == []


def test_a_load_that_raised_is_one_of_its_stores_unfinished_loads(store, tmp_path):
    # was: its own Store listed none (a new Store of the file listed it)
    dump = write_jsonl(tmp_path, [kafka_auth("2024-05-10T10:00:00Z", "User:sa-9", id="late-4")])

    def stopped(*told):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_dumps([dump], store, progress=stopped)
    with Store(store.path, readonly=True) as other:
        assert [u["inputs"] for u in store.unfinished] == [u["inputs"] for u in other.unfinished] == [[dump]]


@pytest.mark.parametrize("call, error, said", [
    (lambda s, d: load_dumps([d], str(s.path)), TypeError, "load_dumps takes a ccaudit.Store, not str"),
    (lambda s, d: build(str(s.path)), TypeError, "build takes a ccaudit.Store, not str"),
    # an open file: its lines were taken for paths, "no such file" each
    (lambda s, d: load_dumps(io.StringIO(d), s), TypeError, "load_dumps takes a list of paths, not an open file"),
    (lambda s, d: render_report(None, "text"), TypeError, "render_report takes a ccaudit.Report, not NoneType"),
    (lambda s, d: render_report(build(s), "text", stats="no"), TypeError, "render_report: stats is True or False"),
    (lambda s, d: Store(str(s.path).encode()), TypeError, "Store takes a path as str or os.PathLike, not bytes"),
    (lambda s, d: Store(5), TypeError, "Store takes a path as str or os.PathLike, not int"),
    (lambda s, d: Store(""), ValueError, "Store: the path is empty"),
    (lambda s, d: Store("-"), ValueError, "Store: - is standard input or output"),  # was a store made as ./-
    (lambda s, d: Store(s.path, durable="no"), TypeError, "Store: durable is True or False, not str"),
    (lambda s, d: Store(s.path, readonly=1), TypeError, "Store: readonly is True or False, not int"),
    (lambda s, d: Store(s.path, notify=5), TypeError, "Store: notify is None or a callable, not int"),
    (lambda s, d: Store(s.path, loading=d), TypeError, "Store: loading is a list of paths (str or os.PathLike)"),
    (lambda s, d: Store(s.path, loading=[1]), TypeError, "Store: loading is a list of paths (str or os.PathLike)"),
    # were AttributeErrors ('str' object has no attribute 'path', ... 'key'), "no table 'c' to export",
    # and a list of no rows
    (lambda s, d: export.export(str(s.path), "out"), TypeError, "export takes a ccaudit.Store, not str"),
    (lambda s, d: export.export(s, "out", tables="counts"), TypeError, "export: tables is a list of tables' names"),
    (lambda s, d: check.evaluate(build(s), ["kafka_authentication:*=0/h"]), TypeError,
     "check takes rules as ccaudit.check.Rule (parse_rule makes one of a text)"),
    (lambda s, d: diff.diff_reports(build(s), build(s), top=0), ValueError, "diff_reports: top keeps from 1"),
    (lambda s, d: diff.diff_reports(build(s), None), TypeError, "diff_reports takes a ccaudit.Report, not NoneType"),
    (lambda s, d: build(s, load=[1]), TypeError, "load is a load's summary (LoadStats.as_dict()), not list"),
])
def test_arguments_of_the_wrong_kind_are_refused_at_once(store, sample_cli, call, error, said, tmp_path, monkeypatch):
    # were AttributeError deep inside, "can't concat str to bytes", ": cannot create the store",
    # or taken as they came ("no" is true; 5 called as the first wait began)
    monkeypatch.chdir(tmp_path)  # (a file that should not be made is made here)
    with pytest.raises(error) as e:
        call(store, str(sample_cli))
    assert said in str(e.value)


def test_a_programs_own_load_summary_of_odd_entries_is_rendered(store):
    # was a KeyError from html's load panel: a program's summary need not be a load's
    with build(store, load={"malformed": 2, "malformed_entries": [{"place": "d.txt:3"}, "d.txt:4"]}) as report:
        page = render_report(report, "html")
    assert "<li><code>d.txt:3: None</code></li><li><code>d.txt:4</code></li>" in page
    with build(store, load={"malformed_entries": 5, "malformed_lines": 3, "inputs_cut_short": "d.gz"}) as report:
        page = render_report(report, "html")  # was a TypeError: 'int' object is not iterable
    assert "<li><code>3</code></li>" in page and "<li><code>d.gz</code></li>" in page


def test_dir_lists_the_api_though_its_names_are_imported_on_first_use():
    import ccaudit

    assert set(ccaudit.__all__) <= set(dir(ccaudit))  # was none of them: dir() saw only what was imported


def test_an_export_folder_named_by_a_path_object_is_that_folder(store, tmp_path):
    # was AttributeError: 'PosixPath' object has no attribute 'rstrip'
    assert export.export(store, tmp_path / "out").summary_line("out").startswith("exported all_events 13 rows (3 days)")
    assert (tmp_path / "out" / export.MARKER).is_file()


def test_a_store_named_by_a_path_object_is_that_store(store):
    from pathlib import Path

    with Store(Path(store.path), readonly=True) as again:
        assert again.path == store.path and "sa-" in render_report(build(again), "text")


def _descriptors_of(path) -> int:
    """This process's open descriptors of the file ``path``."""
    import os

    real = os.path.realpath(path)
    return sum(os.path.realpath(f"/proc/self/fd/{fd}") == real for fd in os.listdir("/proc/self/fd")
               if os.path.exists(f"/proc/self/fd/{fd}"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts descriptors in /proc")
def test_stores_opened_and_closed_beside_a_kept_one_leave_no_descriptors_behind(store):
    # was: each parked two or three descriptors until the kept one closed (ulimit -n: a
    # service failed at its 61st request)
    before = _descriptors_of(store.path)
    for readonly in [True, False] * 50:
        with Store(store.path, readonly=readonly) as s, build(s):
            pass
    assert _descriptors_of(store.path) <= before + 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts descriptors in /proc")
def test_stores_never_closed_or_stopped_as_they_open_leave_no_descriptors_behind(store, monkeypatch):
    # was: a Store collected unclosed (as the package's docstring shows one), or one stopped
    # by Ctrl-C as it waited for a lock, counted as open for good: every later Store parked more
    from ccaudit import storefile

    before = _descriptors_of(store.path)
    for _ in range(50):
        with build(Store(store.path, readonly=True)) as report:
            assert report.events
        gc.collect()
    real = storefile.wait_for_writers
    monkeypatch.setattr(storefile, "wait_for_writers", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    for _ in range(50):
        with pytest.raises(KeyboardInterrupt):
            Store(store.path, readonly=True)
    monkeypatch.setattr(storefile, "wait_for_writers", real)
    assert _descriptors_of(store.path) <= before + 2


def test_what_a_sql_function_raised_is_kept_for_its_own_thread():
    # was one list for every thread: a report in another thread cleared it, and a damaged
    # row of this one's then came out as KeyboardInterrupt (1 to 8 reports in 300)
    import sqlite3
    import threading

    from ccaudit import sqlraised

    sqlraised.here()[:] = [ValueError("a damaged row")]
    seen = []

    def other():
        try:
            with sqlraised.stops_through_sql():  # clears its own; a stop with none kept: not Ctrl-C off main
                raise sqlite3.OperationalError(sqlraised._UNKEPT)
        except BaseException as e:
            seen.append(type(e))

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen == [sqlite3.OperationalError]
    assert isinstance(sqlraised.raised_in_sql(), ValueError)


def test_a_stop_after_the_load_ended_does_not_make_it_unfinished(store, tmp_path, monkeypatch):
    # was: Ctrl-C as the notes were read again, once the load had ended, listed the ended load
    dump = write_jsonl(tmp_path, [kafka_auth("2024-05-10T10:00:00Z", "User:sa-9", id="late-5")])
    monkeypatch.setattr(Store, "read_unfinished", lambda self: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        load_dumps([dump], store)
    assert store.unfinished == []


def test_a_standard_input_the_program_closed_is_said_closed_and_leaves_no_unfinished_load(store, tmp_path,
                                                                                          monkeypatch, sample_cli):
    # was ValueError: I/O operation on closed file, and the load noted as one that did not end
    stdin = open(sample_cli)  # noqa: SIM115
    stdin.close()
    monkeypatch.setattr(sys, "stdin", stdin)
    stats = load_dumps(["-"], store)
    assert stats.failed == {"<stdin>": "-: standard input is closed"}
    assert store.unfinished == []


def test_inputs_and_stores_a_program_names_wrongly_are_said_in_ccaudits_words(store, tmp_path, monkeypatch):
    # were ": no such file", an AttributeError ('_io.StringIO' object has no attribute 'buffer'),
    # and SQLite's "not a usable ccaudit store (unable to open database file)"
    import io

    from ccaudit.errors import StoreError

    stats = load_dumps([""], store)
    assert stats.failed and "an input's name is empty" in str(stats.failed)
    monkeypatch.setattr(sys, "stdin", io.StringIO("{}\n"))
    stats = load_dumps(["-"], store)
    assert stats.failed and "standard input is not a file" in str(stats.failed)
    with pytest.raises(StoreError, match=r"missing\.db: no such store$"):
        Store(str(tmp_path / "missing.db"), readonly=True)

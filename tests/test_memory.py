"""Constant memory: loading 10x or 20x more records must not need more memory.

Dumps come from ``python -m benchmarks.generate N FILE --seed S`` (run from the repository
root). Each is loaded with the installed ``ccaudit load FILE --db X --quiet`` as a
subprocess, while benchmarks/rss.py samples the summed RSS of it *and every descendant* (the
parse workers) every 20 ms. This checks growth, not speed.

Two comparisons:

* 20k -> 200k records (the memory bound): peak(200k) <= peak(20k) + 25 MiB. The 20k run is
  partly warm-up (a 20 MB dump gives the parse workers only a few chunks, and SQLite's page
  cache is not full yet), so this step may grow a little without any leak. Measured on a
  2-CPU machine with 8 MiB parse chunks: 91 -> 97 MiB. (With the earlier 32 MiB chunks the
  20k dump fitted in one chunk, one of the two workers stayed idle, and the step was +36 MiB.)
* 200k -> 400k records, both at steady state: peak(400k) <= peak(200k) + 12 MiB. A leak of
  ~60 bytes per record would add 12 MiB here; measured: under 1 MiB.

These tests take a few minutes, so `make test` skips them: it runs with ``--run-memory``
(``make test-memory``). The sampler's own tests are quick and always run.
"""
from __future__ import annotations

import importlib.util
import json
import sqlite3
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

from benchmarks import rss
from ccaudit.schema import LAYOUT_VERSION

MiB = 2**20
pytestmark = pytest.mark.skipif(not rss.available(), reason="needs /proc (Linux)")

WARMUP_BOUND = 25 * MiB  # 20k -> 200k (see above)
GROWTH_BOUND = 12 * MiB  # 200k -> 400k: steady state


def test_sampler_counts_descendants(tmp_path):
    # a parent that starts a child holding 80 MiB: the child's memory must be in the peak
    child = "b = bytearray(80 * 2**20); b[::4096] = b'x' * len(b[::4096]); import time; time.sleep(0.6)"
    parent = textwrap.dedent(f"""
        import subprocess, sys
        subprocess.run([sys.executable, "-c", {child!r}], check=True)
    """)
    r = rss.run_sampled([sys.executable, "-c", parent], timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.max_procs >= 2
    assert r.peak >= 80 * MiB


def test_sampler_single_process():
    r = rss.run_sampled([sys.executable, "-c", "import time; time.sleep(0.2)"], timeout=60)
    assert r.returncode == 0 and r.max_procs == 1
    assert 1 * MiB < r.peak < 80 * MiB
    assert r.samples >= 3


def _generate(root, n: int, path, seed: int) -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.generate", str(n), str(path), "--seed", str(seed)],
                          cwd=root, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr


def _load(ccaudit_exe, dump, db) -> rss.Sampled:
    r = rss.run_sampled([ccaudit_exe, "load", str(dump), "--db", str(db), "--quiet"], interval=0.02, timeout=180)
    assert "Traceback" not in r.stderr
    assert r.returncode == 0, r.stderr
    return r


def _sampled(runs: dict) -> dict:
    """Each command of ``runs`` (key -> argv) run and sampled, two at a time: each tree is
    sampled alone (its RSS is its own), and this halves the suite's minutes on two cores."""
    with ThreadPoolExecutor(2) as pool:
        return dict(zip(runs, pool.map(lambda argv: rss.run_sampled(argv, interval=0.02, timeout=300),
                                       runs.values())))


@pytest.fixture
def memory_run_asked(request):
    if not request.config.getoption("--run-memory", default=False):
        pytest.skip("minutes of generating and loading dumps: run with --run-memory (make test-memory)")


def test_load_memory_does_not_grow_with_the_dump(memory_run_asked, tmp_path_factory, root, ccaudit_exe):
    work = tmp_path_factory.mktemp("memory")
    peaks, runs = {}, {}
    try:
        for n, seed in ((20_000, 1), (200_000, 2), (400_000, 3)):
            dump = work / f"dump-{n}.txt"
            _generate(root, n, dump, seed)
            r = _load(ccaudit_exe, dump, work / f"store-{n}.db")
            # the generated cli dump: n records, each followed by a "% Headers" line
            assert f"loaded {n:,} records: {n:,} new, 0 duplicates; skipped {n:,} noise lines, 0 malformed" in r.stderr
            peaks[n], runs[n] = r.peak, r
            for p in (dump, work / f"store-{n}.db"):  # keep the disk use down as we go
                p.unlink()
            (work / f"dump-{n}.txt.truth.json").unlink(missing_ok=True)
    finally:
        for p in work.iterdir():
            if p.is_file():
                p.unlink()
    shown = ", ".join(f"{n // 1000}k: {peaks[n] / MiB:.1f} MiB over up to {runs[n].max_procs} processes "
                      f"({runs[n].samples} samples, {runs[n].seconds:.1f} s)" for n in peaks)
    assert peaks[200_000] <= peaks[20_000] + WARMUP_BOUND, shown
    assert peaks[400_000] <= peaks[200_000] + GROWTH_BOUND, shown
    print(f"peak RSS of ccaudit load (whole process tree): {shown}", file=sys.stderr)


KEY_COMMANDS = {  # what must stay flat however many keys a day has
    "summary": ["summary"],
    "text": ["report", "--format", "text"],
    "markdown": ["report", "--format", "markdown"],
    "csv": ["report", "--format", "csv"],
    "json": ["report", "--format", "json"],
    "html": ["report", "--format", "html"],
    "top": ["report", "--top", "10"],
    "stats": ["report", "--stats"],
    "zone": ["report", "--tz", "Asia/Kolkata"],
    "principal zone": ["report", "--principal", "*", "--tz", "Asia/Kolkata", "--format", "csv"],  # all keys summed
    "out": ["report", "--out", "{out}"],
    "diff": ["diff", "{db}", "{db}", "--b-since", "2024-05-07T05:30:00Z"],  # every key vanished
    "check": ["check", "--max", "signin_failure:*=0/h"],  # every key breaches it (exit 1)
}
MANY_KEYS = 400_000
KEYS_LOAD_BOUND = 100 * MiB  # loading them, all processes summed (see below)


def test_memory_does_not_grow_with_the_number_of_keys(memory_run_asked, tmp_path, ccaudit_exe):
    # 400,000 distinct attacker-typed emails (failed sign-ins) in one day, 110 bytes each.
    # Every report streams its rows from the store, and SQLite sorts a day's rows in a
    # temporary file once they outgrow its sorter's memory, so none may hold them all.
    # Measured: 19-24 MiB with 2,000 keys; 19 (summary) to 53 MiB (a zone with every key
    # summed into its method's row) with 400,000, of which SQLite's sorter holds 16 MiB
    # before it spills. That row held a span per key before: 147.5 MiB for a million
    # (cells.Spans). With SQLite's temporary files in
    # memory, the reports took 99-106 MiB (zones 71). A diff compares its totals in a
    # temporary SQLite file: 45 MiB, against 498 MiB when it held (and tabulated) every row;
    # a check of 400,000 breaches 47 MiB, against 590.
    # A parse worker stages at most 5,000 records, or 2,000 keys and details, a file, and
    # the main process keeps bounded caches: 83 MiB. 108 MiB when a file took 5,000 new
    # emails and the caches held twice as many; 218 MiB with a whole 4 MiB range staged.
    from tests.records import signin, write_jsonl

    peaks: dict = {}
    for n in (2_000, MANY_KEYS):
        dump = write_jsonl(tmp_path, (signin("2024-05-07T05:00:00Z", f"user{i}@example.com", "FAILURE", id=f"e{i}")
                                      for i in range(n)), f"keys-{n}.jsonl")
        db = tmp_path / f"keys-{n}.db"
        peaks["load", n] = _load(ccaudit_exe, dump, db).peak
        runs = {name: [ccaudit_exe, *(a.format(out=tmp_path / f"out-{name}-{n}", db=db) for a in args),
                       *([] if name == "diff" else ["--db", str(db)])] for name, args in KEY_COMMANDS.items()}
        for name, r in _sampled(runs).items():
            assert r.returncode == (1 if name == "check" else 0), (name, r.stderr)
            peaks[name, n] = r.peak
    shown = {name: f"{peaks[name, 2_000] / MiB:.0f} -> {peaks[name, MANY_KEYS] / MiB:.0f} MiB"
             for name in ("load", *KEY_COMMANDS)}
    print(f"peak RSS, 2,000 -> {MANY_KEYS:,} keys in a day: {shown}")
    assert peaks["load", MANY_KEYS] <= KEYS_LOAD_BOUND, shown
    for name in KEY_COMMANDS:
        assert peaks[name, MANY_KEYS] <= peaks[name, 2_000] + 40 * MiB, shown  # sorted in memory: +80 MiB
        assert peaks[name, MANY_KEYS] <= 100 * MiB, shown


ONE_KEY_COMMANDS = {name: KEY_COMMANDS[name] for name in ("csv", "json", "html", "zone", "stats")}


def test_memory_does_not_grow_with_the_users_of_one_email(memory_run_asked, tmp_path, ccaudit_exe):
    # One email signed in as 200,000 users over a day: a key stored once a user, so one
    # row of a report is summed from that many stored rows. A zone's day reads them side by
    # side (cells.Pairs) and holds at most SUMMED of them for the row's first and last
    # event. Measured: 45-57 MiB (from 19-26 MiB with 2,000 users: a run that short is
    # sampled a few times); 96-104 MiB when it held them all.
    from tests.records import signin, write_jsonl

    def record(i: int, n: int) -> dict:
        t = f"2024-05-07T{i * 24 // n:02d}:{i * 1440 // n % 60:02d}:00Z"
        user = {"email": "alice@example.com", "confluentUser": {"resourceId": f"u-{i}"}}
        return signin(t, principal=user, id=f"e{i}")

    peaks: dict = {}
    for n in (2_000, 200_000):
        db = tmp_path / f"users-{n}.db"
        _load(ccaudit_exe, write_jsonl(tmp_path, (record(i, n) for i in range(n)), f"users-{n}.jsonl"), db)
        runs = {name: [ccaudit_exe, *args, *([] if "--tz" in args else ["--tz", "Asia/Kolkata"]), "--db", str(db)]
                for name, args in ONE_KEY_COMMANDS.items()}  # (an option is given once)
        for name, r in _sampled(runs).items():
            assert r.returncode == 0, (name, r.stderr)
            peaks[name, n] = r.peak
    shown = {name: f"{peaks[name, 2_000] / MiB:.0f} -> {peaks[name, 200_000] / MiB:.0f} MiB"
             for name in ONE_KEY_COMMANDS}
    print(f"peak RSS, one email as 2,000 -> 200,000 users: {shown}")
    for name in ONE_KEY_COMMANDS:
        assert peaks[name, 200_000] <= peaks[name, 2_000] + 45 * MiB, shown  # all rows held: +75 MiB
        assert peaks[name, 200_000] <= 100 * MiB, shown


DATE_COMMANDS = {name: KEY_COMMANDS[name] for name in ("summary", "text", "markdown", "csv", "json", "html", "out")}
MANY_DATES = 10_000


def test_memory_does_not_grow_with_the_number_of_dates(memory_run_asked, tmp_path, ccaudit_exe):
    # A record a day on each of 10,000 dates (27 years): a report makes each day, with its
    # sections, when it writes it, keeps each date's totals in 40 bytes, and writes its
    # summary (and html's coverage table and day picker) in pieces; a report folder's
    # 60,000 files are listed without a list of their names. Measured: 21-26 MiB with 200
    # dates, 28-34 with 10,000 (+6.6 to +8.4). Before, with 20,000 dates: html 105 MiB (its
    # coverage table made as one text, 1.2 KB a date), the folder 53 MiB; every day made
    # first, 139 MiB to summarize; each date's hours found by a scan of 216 quarters.
    # (20,000 dates took three minutes, a third of them the folder's 120,000 files.)
    from datetime import date, timedelta

    from tests.records import kafka_auth, write_jsonl

    def record(i: int) -> dict:
        return kafka_auth(f"{date(2000, 1, 1) + timedelta(days=i)}T12:00:00Z", f"User:sa-{i % 7}", id=f"d{i}")

    peaks: dict = {}
    for n in (200, MANY_DATES):
        db = tmp_path / f"dates-{n}.db"
        _load(ccaudit_exe, write_jsonl(tmp_path, map(record, range(n)), f"dates-{n}.jsonl"), db)
        runs = {name: [ccaudit_exe, *(a.format(out=tmp_path / f"out-{n}") for a in args), "--db", str(db)]
                for name, args in DATE_COMMANDS.items()}
        for name, r in _sampled(runs).items():
            assert r.returncode == 0, (name, r.stderr)
            peaks[name, n] = r.peak
    shown = {name: f"{peaks[name, 200] / MiB:.0f} -> {peaks[name, MANY_DATES] / MiB:.0f} MiB" for name in DATE_COMMANDS}
    # A load of a record on each of 200,000 dates: each worker keeps at most 4,096 of
    # their minutes (classify.MINUTES_CACHED). 92.7 MiB; 122.7 MiB when it kept 200,000.
    # Their summary: 43-44 MiB, of which each date's totals (40 bytes) are 8 MiB; 98 MiB
    # when it was one text (and 1.2 GB when every day was made first).
    dump = write_jsonl(tmp_path, map(record, range(200_000)), "dates-200000.jsonl")
    load = _load(ccaudit_exe, dump, tmp_path / "dates-200000.db").peak
    summary = rss.run_sampled([ccaudit_exe, "summary", "--db", str(tmp_path / "dates-200000.db")], interval=0.02,
                              timeout=300)
    assert summary.returncode == 0, summary.stderr
    shown["load of 200,000"] = f"{load / MiB:.1f} MiB"
    shown["summary of 200,000"] = f"{summary.peak / MiB:.1f} MiB"
    print(f"peak RSS, 200 -> {MANY_DATES:,} dates: {shown}")
    assert load <= 100 * MiB, shown
    assert summary.peak <= peaks["summary", 200] + 30 * MiB, shown
    for name in DATE_COMMANDS:
        assert peaks[name, MANY_DATES] <= peaks[name, 200] + 15 * MiB, shown
        assert peaks[name, MANY_DATES] <= 100 * MiB, shown


def test_methods_memory_does_not_grow_with_the_number_of_methods(memory_run_asked, tmp_path, ccaudit_exe):
    # 300,000 distinct methodNames (each record chooses its own): `methods` sums them in a
    # scratch SQLite file and writes its table in two passes. Measured: 45 MiB in every
    # format; 285 MiB (text) and 483 MiB (json) when a dict held them and the output was
    # one string.
    from tests.records import request, write_jsonl

    peaks: dict = {}
    for n in (2_000, 300_000):
        db = tmp_path / f"methods-{n}.db"
        dump = write_jsonl(tmp_path, (request("2024-05-07T05:00:00Z", f"Method{i:07d}{'x' * 30}", id=f"e{i}")
                                      for i in range(n)), f"methods-{n}.jsonl")
        _load(ccaudit_exe, dump, db)
        runs = {fmt: [ccaudit_exe, "methods", "--db", str(db), "--format", fmt] for fmt in ("text", "json", "csv")}
        for fmt, r in _sampled(runs).items():
            assert r.returncode == 0, r.stderr
            peaks[fmt, n] = r.peak
    shown = {f: f"{peaks[f, 2_000] / MiB:.0f} -> {peaks[f, 300_000] / MiB:.0f} MiB" for f in ("text", "json", "csv")}
    print(f"peak RSS of methods, 2,000 -> 300,000 methods: {shown}")
    for fmt in ("text", "json", "csv"):
        assert peaks[fmt, 300_000] <= peaks[fmt, 2_000] + 40 * MiB, shown
        assert peaks[fmt, 300_000] <= 100 * MiB, shown


def test_bringing_a_layout_4_store_up_does_not_grow_with_a_day(memory_run_asked, tmp_path, fixtures_dir, ccaudit_exe):
    # a layout-4 store keeps a row per quarter hour and key; the upgrade regroups them a day
    # at a time, and held a whole day's rows: 48 -> 244 MiB for 100,000 -> 1,000,000 keys
    import sqlite3

    from tests.test_upgrade import as_layout

    peaks = {}
    for n in (10_000, 600_000):
        db = tmp_path / f"layout4-{n}.db"
        _load(ccaudit_exe, fixtures_dir / "sample-week2.jsonl", db)
        as_layout(db, 4)
        with sqlite3.connect(db) as conn:
            day = conn.execute("SELECT min(quarter) FROM counts").fetchone()[0] // 86_400 * 86_400
            first = conn.execute("SELECT max(kid) FROM keys").fetchone()[0] + 1
            conn.executemany("INSERT INTO keys VALUES (?, 'SignIn', ?, 'signin_failure', ?)",
                             ((first + i, f"u{i}", f"u{i}@example.com") for i in range(n)))
            conn.executemany("INSERT INTO counts VALUES (?, ?, 1, ?, ?)",
                             ((q, first + i, q * 10**6, q * 10**6) for i in range(n) for q in [day + i % 96 * 900]))
        conn.close()
        peaks[n] = _upgrade_peak(ccaudit_exe, db)
    shown = f"{peaks[10_000] / MiB:.0f} -> {peaks[600_000] / MiB:.0f} MiB"
    print(f"peak RSS of a layout-4 store's upgrade, a day of 10,000 -> 600,000 keys: {shown}")
    assert peaks[600_000] <= peaks[10_000] + 25 * MiB, shown


LONG_NAMES_LOAD_BOUND = 120 * MiB  # all processes summed (see below)


@pytest.mark.parametrize("field", ["email", "method"])
def test_a_load_of_long_names_holds_a_bounded_text(memory_run_asked, tmp_path, ccaudit_exe, field):
    # 4,000 records, each with a new email (a failed sign-in) or a new method name of 25,000
    # characters: 100 MB dumps. The main process remembers key and detail numbers up to
    # CACHED_TEXT characters of them, not 10,000 names whatever their length, and holds
    # the (day, method) counts of at most COMMIT_BYTES of stage files. Each worker holds
    # one 4 MiB range's records, 25-29 MiB. Measured: 89-97 MiB (emails) and 98-103 MiB
    # (methods, 8,000 records), against 182 and 278 MiB.
    from tests.records import request, signin, write_jsonl

    def record(i):
        name = f"{i}{'x' * 25_000}"
        if field == "email":
            return signin(f"2024-05-07T{i % 24:02d}:00:00Z", f"user{name}@example.com", "FAILURE", id=f"e{i}")
        return request(f"2024-05-07T{i % 24:02d}:00:00Z", f"Method{name}", id=f"e{i}")

    dump = write_jsonl(tmp_path, map(record, range(4_000)), "long-names.jsonl")
    r = _load(ccaudit_exe, dump, tmp_path / "long-names.db")
    assert r.max_procs >= 3  # the parse workers ran
    assert r.peak <= LONG_NAMES_LOAD_BOUND, f"{r.peak / MiB:.1f} MiB"
    if field == "email" and importlib.util.find_spec("pyarrow"):
        # export: fetches, and Arrow's row groups, bounded by the bytes of their text too.
        # Measured: 107-135 MiB, of which pyarrow's imports 56 (86 in a new virtualenv on
        # /tmp, whose libraries are all resident); 654-704 MiB when 2,000 rows were fetched
        # and 50,000 held whatever their size
        imports = rss.run_sampled([sys.executable, "-c", EXPORT_IMPORTS], timeout=60).peak
        e = rss.run_sampled([ccaudit_exe, "export", "--db", str(tmp_path / "long-names.db"), "--out",
                             str(tmp_path / "export")], interval=0.02, timeout=300)
        assert e.returncode == 0, e.stderr
        assert e.peak - imports <= 100 * MiB, f"export: {e.peak / MiB:.1f} MiB, imports {imports / MiB:.1f}"


DOCUMENT_LONG_IDS_BOUND = 100 * MiB  # all processes summed (see below)


@pytest.mark.parametrize("shape", ["array", "objects"])
def test_a_json_document_of_long_ids_loads_in_bounded_memory(memory_run_asked, tmp_path, ccaudit_exe, shape):
    # a document is one task for one parse worker, whose stage files ended only every 5,000
    # records: 2,000 records of 60 KB ids, a 120 MB array, took 273 MiB (copies of every id
    # staged). A stage file now ends after 4 MiB of input: 74 MiB
    from tests.records import request

    dump = tmp_path / f"long-ids.{shape}.json"
    with open(dump, "w") as f:
        f.write("[\n" if shape == "array" else "")
        for i in range(2_000):
            text = json.dumps(request(f"2024-05-07T{i % 24:02d}:00:00Z", "GetUsers", id=f"{i}{'x' * 60_000}"),
                              indent=None if shape == "array" else 2)
            f.write(text + (",\n" if shape == "array" and i < 1_999 else "\n"))
        f.write("]\n" if shape == "array" else "")
    r = _load(ccaudit_exe, dump, tmp_path / "long-ids.db")
    assert r.max_procs >= 2 and "loaded 2,000 records: 2,000 new" in r.stderr, r.stderr  # a worker parsed it
    print(f"peak RSS of a load of {shape} of long ids: {r.peak / MiB:.1f} MiB")
    assert r.peak <= DOCUMENT_LONG_IDS_BOUND, f"{r.peak / MiB:.1f} MiB"


STDIN_LONG_NAMES_BOUND = 80 * MiB  # one process; measured 49 MiB, and 136 MiB when 10,000 rows were held


def test_a_load_from_standard_input_of_long_names_holds_a_bounded_text(memory_run_asked, tmp_path, ccaudit_exe):
    # standard input is parsed in the main process, 10,000 rows a batch: rows of 25,000
    # characters held 136 MiB, and 1 MB names gigabytes. A batch now ends after 8 MiB of input.
    from tests.records import signin, write_jsonl

    dump = write_jsonl(tmp_path, (signin(f"2024-05-07T{i % 24:02d}:00:00Z", f"user{i}{'x' * 25_000}@example.com",
                                         "FAILURE", id=f"e{i}") for i in range(4_000)), "long-names.jsonl")
    r = rss.run_sampled(["sh", "-c", 'exec "$0" load - --db "$1" -q < "$2"', ccaudit_exe, str(tmp_path / "s.db"),
                         str(dump)], interval=0.02, timeout=180)
    assert r.returncode == 0 and "loaded 4,000 records" in r.stderr, r.stderr
    assert r.peak <= STDIN_LONG_NAMES_BOUND, f"{r.peak / MiB:.1f} MiB"


EXPORT_GROWTH_BOUND = 25 * MiB  # 20k -> 1M events: a day is read in batches, whatever its size
EXPORT_IMPORTS = "import ccaudit.cli; from ccaudit import export, lean; lean.require_arrow(lean=True)"  # as the command
EXPORT_BOUND = 150 * MiB  # the bound for a 10M-event store (measured: 127 MiB at 1M, and at 10M)


def test_export_memory_does_not_grow_with_the_store(memory_run_asked, tmp_path, root, ccaudit_exe):
    # `ccaudit export` of a 1M-event store (7 days of about 143k events) against one of 20k:
    # each table is read a UTC day at a time, in batches, so the peak must not follow the store.
    pytest.importorskip("pyarrow")
    imports = rss.run_sampled([sys.executable, "-c", EXPORT_IMPORTS], timeout=60).peak
    peaks, runs = {}, {}
    for n, seed in ((20_000, 1), (1_000_000, 2)):
        dump, db = tmp_path / f"dump-{n}.jsonl.gz", tmp_path / f"store-{n}.db"
        proc = subprocess.run([sys.executable, "-m", "benchmarks.generate", str(n), str(dump), "--format", "jsonl",
                               "--gzip", "--seed", str(seed)], cwd=root, capture_output=True, text=True, timeout=900,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        _load(ccaudit_exe, dump, db)
        dump.unlink()
        r = rss.run_sampled([ccaudit_exe, "export", "--db", str(db), "--out", str(tmp_path / f"out-{n}")],
                            interval=0.02, timeout=900)
        assert r.returncode == 0, r.stderr
        assert f"all_events {n:,} rows" in r.stderr
        peaks[n], runs[n] = r.peak, r
    shown = (f"imports {imports / MiB:.0f} MiB; " + ", ".join(
        f"{n // 1000}k: {peaks[n] / MiB:.1f} MiB ({runs[n].seconds:.1f} s)" for n in peaks))
    print(f"peak RSS of ccaudit export: {shown}", file=sys.stderr)
    assert peaks[1_000_000] <= peaks[20_000] + EXPORT_GROWTH_BOUND, shown
    assert peaks[1_000_000] <= EXPORT_BOUND, shown


def test_bringing_an_old_store_forward_does_not_grow_with_its_methods(memory_run_asked, tmp_path, ccaudit_exe):
    # A layout 5 store of 200,000 attacker-made methods in a day: its method_counts were summed
    # in a dict of the whole day, 139 MiB against 39; now a method at a time.
    from tests.test_upgrade import as_layout

    peaks = {}
    for n in (2_000, 200_000):
        dump = tmp_path / f"methods-{n}.jsonl"
        dump.write_text("".join(f'{{"id":"m{i}","time":"2024-05-06T10:{i % 60:02d}:00Z",'
                                f'"data":{{"methodName":"m.{i:07d}"}}}}\n' for i in range(n)))
        db = tmp_path / f"methods-{n}.db"
        assert _load(ccaudit_exe, dump, db).returncode == 0
        as_layout(str(db), 5)
        peaks[n] = _upgrade_peak(ccaudit_exe, db)
    shown = f"{peaks[2_000] / MiB:.0f} -> {peaks[200_000] / MiB:.0f} MiB"
    print(f"peak RSS of a layout 5 store brought forward, 2,000 -> 200,000 methods in a day: {shown}")
    assert peaks[200_000] <= peaks[2_000] + 40 * MiB, shown


def _upgrade_peak(ccaudit_exe, db) -> int:
    """The peak RSS of the first command to open an old store, which brings it forward."""
    r = rss.run_sampled([ccaudit_exe, "summary", "--db", str(db)], interval=0.02, timeout=300)
    assert r.returncode == 0 and f"bringing it to layout {LAYOUT_VERSION}" in r.stderr, r.stderr
    return r.peak


CROWDED_BOUND = 128 * MiB  # one process; measured 56-81 MiB, and 406-436 MiB when the record was decoded whole


@pytest.mark.parametrize("case", ["client addresses", "odd shape", "array", "surrogate"])
def test_a_record_crowded_with_millions_of_values_loads_in_bounded_memory(memory_run_asked, tmp_path, ccaudit_exe,
                                                                           case):
    # a failed sign-in of 15 MB whose clientAddress is 5 million empty objects, as a line, as
    # an array's item, beside a result that is a string (an odd shape: the lenient decode), or
    # beside half a UTF-16 pair in a field ccaudit does not read (Python's decode): each was
    # decoded whole, at 30 times its size. It must load as the same record without the crowd.
    from tests.records import signin

    rec = signin("2024-05-07T10:00:00Z", "eve@example.com", "FAILURE", id="c1",
                 result="UNAUTHENTICATED" if case == "odd shape" else {"status": "UNAUTHENTICATED"},
                 requestMetadata={"clientAddress": "CROWD"})
    line = json.dumps(rec).encode().replace(b'"CROWD"', b"[" + b"{}," * 5_000_000 + b'{"ip": "10.0.0.7"}]')
    if case == "surrogate":
        line = line.replace(b'"id": "c1"', b'"note": "\\ud800", "id": "c1"')
    dump = tmp_path / "crowded.json"
    dump.write_bytes(b"[" + line + b"]" if case == "array" else line + b"\n")
    db = tmp_path / "s.db"
    r = _load(ccaudit_exe, dump, db)
    assert "loaded 1 record: 1 new" in r.stderr, r.stderr
    assert r.peak <= CROWDED_BOUND, f"{r.peak / MiB:.1f} MiB"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT client_ip FROM signin_failures").fetchall() == [("10.0.0.7",)]


def test_a_crowded_line_that_is_not_json_with_a_crlf_end_is_told_in_bounded_memory(memory_run_asked, tmp_path,
                                                                                     ccaudit_exe):
    # whether it was cut short was found by decoding it once more, whole: 421 MB, against 54 MB
    # with an LF end
    from tests.records import signin

    rec = signin("2024-05-07T10:00:00Z", "eve@example.com", "FAILURE", requestMetadata={"clientAddress": "CROWD"})
    line = json.dumps(rec).encode().replace(b'"CROWD"', b"[" + b"{}," * 5_000_000 + b"{}], x")
    dump = tmp_path / "crowded.jsonl"
    dump.write_bytes(json.dumps(signin("2024-05-07T10:00:00Z", "bob@example.com", "FAILURE")).encode() + b"\r\n"
                     + line + b"\r\n")
    r = rss.run_sampled([ccaudit_exe, "load", str(dump), "--db", str(tmp_path / "s.db")], interval=0.02, timeout=180)
    assert r.returncode == 0 and "loaded 1 record: 1 new" in r.stderr, r.stderr
    assert "crowded.jsonl:2: not valid JSON" in r.stderr, r.stderr
    assert r.peak <= CROWDED_BOUND, f"{r.peak / MiB:.1f} MiB"


SPLIT_REPORT = """
import resource, sys
from ccaudit import halves
from ccaudit.__main__ import main
halves.MIN_EVENTS = 0  # every report written by two processes, as one of 2M events or more is
sys.argv[0] = "ccaudit"
try:
    main()
finally:
    print(*(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))
"""


def test_a_reports_second_process_after_a_load_is_not_larger_than_the_first(memory_run_asked, tmp_path, root):
    # The forked second process (halves.py) counts as resident every page it shares with the
    # first. Forked as a load ends, with the store's page cache full and freed memory not yet
    # given back, it was the larger of the two (44-45 MiB against 42 here; at 2M events the
    # two summed 97.6 MiB, over the load's own peak). Its peak is the largest of any child's,
    # the parse workers' (about 23 MiB) included.
    from ccaudit import halves

    if halves._cores() < 2:  # (halves._worth): no second process, and nothing to compare
        pytest.skip("a report is written by two processes only where there are two cores")
    dump = tmp_path / "dump.txt"
    _generate(root, 200_000, dump, 4)
    proc = subprocess.run([sys.executable, "-c", SPLIT_REPORT, "report", str(dump), "--db", str(tmp_path / "s.db"),
                           "--out", str(tmp_path / "out"), "-q"], cwd=root, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0 and "loaded 200,000 records" in proc.stderr, proc.stderr
    first, largest_child = map(int, proc.stdout.split()[-2:])  # after the summary --out prints
    assert largest_child <= first, f"first process {first / 1024:.1f} MiB, second {largest_child / 1024:.1f} MiB"

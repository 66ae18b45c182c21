"""A store of layout 4 (counts per UTC quarter hour and key), 5 (counts per UTC day and
key, no method_counts), 6 (counts keyed by day and key, without their section) or 7
(without offset hours) is brought to this layout the first time ccaudit opens it, and
then reports exactly what a store loaded by this version from the same dumps reports.
A store of layout 8 or 9 (keys and details unique by their text) is read as it is, and
brought to this layout by the first load into it.

The old stores are made here as those versions made them: this version's events;
its keys and details without their digests, unique by their text; for layout 4,
``counts`` the recount of the events per (quarter, key); for layouts 5 to 7, this
version's counts and method_counts without their offset hours, for 5 and 6 without
their section, and for 5 without method_counts; up to layout 8, every row with its hours.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ccaudit import upgrade
from ccaudit.cli import cli
from ccaudit.errors import StoreError
from ccaudit.schema import LAYOUT_VERSION
from ccaudit.store import Store
from ccaudit.upgrade import PREVIOUS
from tests.stores import RECOUNT, assert_consistent, store_state

LAYOUT_4_COUNTS = ("CREATE TABLE counts (quarter INTEGER NOT NULL, kid INTEGER NOT NULL, n INTEGER NOT NULL,"
                   " first_us INTEGER NOT NULL, last_us INTEGER NOT NULL, PRIMARY KEY (quarter, kid)) WITHOUT ROWID")
LAYOUT_6_COUNTS = ("CREATE TABLE counts (day INTEGER NOT NULL, kid INTEGER NOT NULL, n INTEGER NOT NULL,"
                   " first_us INTEGER NOT NULL, last_us INTEGER NOT NULL, hours BLOB NOT NULL,"
                   " quarters BLOB NOT NULL, PRIMARY KEY (day, kid)) WITHOUT ROWID")
LAYOUT_7_COUNTS = ("CREATE TABLE counts (day INTEGER NOT NULL, section TEXT NOT NULL, kid INTEGER NOT NULL,"
                   " n INTEGER NOT NULL, first_us INTEGER NOT NULL, last_us INTEGER NOT NULL, hours BLOB NOT NULL,"
                   " quarters BLOB NOT NULL, PRIMARY KEY (day, section, kid)) WITHOUT ROWID")
LAYOUT_7_METHOD_COUNTS = ("CREATE TABLE method_counts (day INTEGER NOT NULL, method TEXT NOT NULL, n INTEGER NOT NULL,"
                          " first_us INTEGER NOT NULL, last_us INTEGER NOT NULL, hours BLOB NOT NULL,"
                          " quarters BLOB NOT NULL, PRIMARY KEY (day, method)) WITHOUT ROWID")
LAYOUT_9_NAMES = {
    "keys": "CREATE TABLE keys (kid INTEGER PRIMARY KEY, method TEXT NOT NULL, principal TEXT NOT NULL,"
            " section TEXT NOT NULL, key TEXT NOT NULL, UNIQUE (method, principal, section, key))",
    "details": "CREATE TABLE details (did INTEGER PRIMARY KEY, identifier TEXT NOT NULL,"
               " principal_resource_id TEXT NOT NULL, status TEXT NOT NULL, granted TEXT NOT NULL,"
               " operation TEXT NOT NULL, resource_type TEXT NOT NULL, resource_name TEXT NOT NULL,"
               " pattern_type TEXT NOT NULL, email TEXT NOT NULL, outcome TEXT NOT NULL, client_ip TEXT NOT NULL,"
               " error_status TEXT NOT NULL, error_detail TEXT NOT NULL, UNIQUE (identifier, principal_resource_id,"
               " status, granted, operation, resource_type, resource_name, pattern_type, email, outcome,"
               " client_ip, error_status, error_detail))",
}
REPORTS = [
    (),
    ("--tz", "Asia/Kathmandu", "--stats"),
    ("--tz", "America/New_York", "--format", "json"),
    ("--since", "2024-05-06T09:07:13Z", "--until", "2024-05-08T00:00:00Z", "--stats"),
    ("--principal", "sa-*", "--format", "csv"),
    ("--method", "mds.*", "--since", "2024-05-06T09:07:13Z"),
]


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def dense_hours(blob: bytes) -> bytes:
    """The hours (24 little-endian uint32) of a counts row's quarters, which every row kept
    before layout 9."""
    hours = [0] * 24
    for i, n, _, _ in struct.iter_unpack("<4I", blob):
        hours[i // 4] += n
    return struct.pack("<24I", *hours)


def dense_offset_hours(blob: bytes) -> bytes:
    """The offset hours (3 x 25 little-endian uint32: from 15, 30 and 45 minutes past the
    UTC hour) of a counts row's quarters, which every row of layout 8 kept."""
    offset = [0] * 75
    for i, n, _, _ in struct.iter_unpack("<4I", blob):
        for o in (1, 2, 3):
            offset[25 * (o - 1) + (i - o) // 4 + 1] += n
    return struct.pack("<75I", *offset)


def as_layout(path, version: int) -> None:
    conn = sqlite3.connect(path)
    conn.create_function("dense_hours", 1, dense_hours)
    conn.create_function("dense_offset_hours", 1, dense_offset_hours)
    conn.execute("PRAGMA legacy_alter_table = ON")  # the views name keys and details
    with conn:
        without_digests(conn)
        for table in ("counts", "method_counts"):  # every row with its hours
            conn.execute(f"UPDATE {table} SET hours = dense_hours(quarters),"
                         " offset_hours = dense_offset_hours(quarters) WHERE length(hours) = 0 AND ?", (version < 9,))
        if version < 8:
            without_offset_hours(conn, version)
        conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


def without_digests(conn: sqlite3.Connection) -> None:
    """The keys and details of layouts 4 to 9: the same numbers and text, unique by the text."""
    for table, sql in LAYOUT_9_NAMES.items():
        conn.execute(f"ALTER TABLE {table} RENAME TO new_{table}")
        conn.execute(sql)
        text = [c[1] for c in conn.execute(f"PRAGMA table_info({table})")]
        conn.execute(f"INSERT INTO {table} SELECT {', '.join(text)} FROM new_{table}")
        conn.execute(f"DROP TABLE new_{table}")


def digests(path) -> list[tuple]:
    """Each key's and detail's digest, and what it must be: BLAKE2b (16 bytes) of its text
    (the columns joined by NULs, none of which holds one here)."""
    with sqlite3.connect(path) as conn:
        rows = [r for table in ("keys", "details") for r in conn.execute(f"SELECT * FROM {table}")]
    return [(r[-1], hashlib.blake2b("\0".join(r[1:-1]).encode(), digest_size=16).digest()) for r in rows]


def without_offset_hours(conn: sqlite3.Connection, version: int) -> None:
    """The counts of layouts 4 to 7: without offset hours, and for 4 to 6 without their section."""
    conn.execute("ALTER TABLE counts RENAME TO new_counts")
    conn.execute("ALTER TABLE method_counts RENAME TO new_method_counts")
    if version == 4:
        conn.execute(LAYOUT_4_COUNTS)
        conn.execute(f"INSERT INTO counts {RECOUNT}")
    else:
        conn.execute(LAYOUT_7_COUNTS if version == 7 else LAYOUT_6_COUNTS)
        key = "section, kid" if version == 7 else "kid"
        conn.execute(f"INSERT INTO counts SELECT day, {key}, n, first_us, last_us, hours, quarters FROM new_counts")
    if version >= 6:
        conn.execute(LAYOUT_7_METHOD_COUNTS)
        conn.execute("INSERT INTO method_counts SELECT day, method, n, first_us, last_us, hours, quarters"
                     " FROM new_method_counts")
    conn.execute("DROP TABLE new_counts")
    conn.execute("DROP TABLE new_method_counts")


@pytest.fixture(params=[4, 5, 6, 7])
def stores(request, tmp_path, fixtures_dir):
    dumps = [str(fixtures_dir / name) for name in ("sample-cli.txt", "sample-week2.jsonl")]
    new, old = str(tmp_path / "new.db"), str(tmp_path / "old.db")
    assert run("load", *dumps, "--db", new, "-q").exit_code == 0
    shutil.copy(new, old)
    as_layout(old, request.param)
    return new, old


def test_an_old_store_reports_as_if_loaded_by_this_version(stores):
    new, old = stores
    with sqlite3.connect(old) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    first = run("summary", "--db", old)
    assert first.exit_code == 0
    assert f"a store of layout {version}; bringing it to layout {LAYOUT_VERSION} (once)" in first.stderr
    assert run("summary", "--db", new).stdout == first.stdout
    for args in REPORTS:
        assert run("report", "--db", old, *args).stdout == run("report", "--db", new, *args).stdout, args
    with sqlite3.connect(old) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LAYOUT_VERSION
    assert "layout" not in run("summary", "--db", old).stderr  # once
    store = Store(old, readonly=True)
    try:
        assert_consistent(store)
    finally:
        store.close()


def test_an_upgraded_store_takes_more_dumps(stores, fixtures_dir):
    # copies of what it holds, and new events on days it has
    more = [str(fixtures_dir / name) for name in ("sample-array.json.gz", "sample-week2.jsonl")]
    for path in stores:
        assert run("load", *more, "--db", path, "-q").exit_code == 0
    new, old = (Store(path) for path in stores)
    try:
        assert_consistent(old)
        assert store_state(old) == store_state(new)
    finally:
        new.close()
        old.close()


@pytest.mark.parametrize("version", [8, 9])
def test_a_layout_8_or_9_store_is_read_as_it_is_and_brought_forward_by_its_next_load(tmp_path, fixtures_dir,
                                                                                      version):
    # Layout 8 kept every row's hours; up to 9, keys and details were unique by their text.
    # This version reads them as they are, without an upgrade (a store on read-only media
    # stays readable); a load needs the digests, and may add rows without hours, which
    # layout 8's ccaudit would misread.
    dumps = [str(fixtures_dir / name) for name in ("sample-cli.txt", "sample-week2.jsonl")]
    new, old = str(tmp_path / "new.db"), str(tmp_path / "old.db")
    assert run("load", dumps[0], "--db", new, "-q").exit_code == 0
    shutil.copy(new, old)
    as_layout(old, version)
    with sqlite3.connect(old) as conn:
        sparse = conn.execute("SELECT count(*) FROM counts WHERE length(hours) = 0").fetchone()[0]
    assert (sparse == 0) == (version == 8)
    first = run("summary", "--db", old)
    assert "layout" not in first.stderr and first.stdout == run("summary", "--db", new).stdout
    for args in REPORTS:
        assert run("report", "--db", old, *args).stdout == run("report", "--db", new, *args).stdout, args
    with sqlite3.connect(old) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == version  # reading changed nothing
    for path in (new, old):
        loaded = run("load", dumps[1], "--db", path, "-q")
        assert loaded.exit_code == 0
    assert f"a store of layout {version}; bringing it to layout {LAYOUT_VERSION} (once)" in loaded.stderr
    with sqlite3.connect(old) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LAYOUT_VERSION
    assert digests(old) and all(stored == made for stored, made in digests(old))
    for args in REPORTS:
        assert run("report", "--db", old, *args).stdout == run("report", "--db", new, *args).stdout, args
    new_store, old_store = Store(new, readonly=True), Store(old, readonly=True)
    try:
        assert_consistent(old_store)
        assert store_state(old_store) == store_state(new_store)
    finally:
        new_store.close()
        old_store.close()


def test_an_old_store_with_a_view_of_the_users_own_on_its_counts_is_brought_forward(stores):
    # was: "it could not (error in view daily: no such table: main.counts)", exit 2, until the view was dropped
    new, old = stores
    with sqlite3.connect(old) as conn:
        conn.execute("CREATE VIEW daily AS SELECT day, sum(n) AS n FROM counts GROUP BY day")
    assert run("summary", "--db", old).exit_code == 0
    assert run("report", "--db", old).stdout == run("report", "--db", new).stdout
    with sqlite3.connect(old) as conn:
        assert conn.execute("SELECT count(*) FROM daily").fetchone()[0] > 0


def test_an_old_store_of_two_names_is_not_brought_forward(stores):
    # was: a read through either name rewrote it, with a journal beside that name alone
    new, old = stores
    os.link(old, old + "2")
    before = open(old, "rb").read()
    for path in (old, old + "2"):
        result = run("summary", "--db", path)
        assert result.exit_code == 2 and f"{path}: the store has 2 names (hard links)" in result.stderr
    assert open(old, "rb").read() == before


def test_an_old_store_named_like_a_uri_is_brought_forward_in_place(stores, monkeypatch):
    # SQLite reads a name that starts with "file:" as a URI: the upgrade opened "w.db"
    # beside it, found no store there, and told the user to start over
    new, old = stores
    folder = os.path.dirname(old)
    os.rename(old, os.path.join(folder, "file:w.db"))
    monkeypatch.chdir(folder)
    result = run("report", "--db", "file:w.db")
    assert (result.exit_code, result.stdout) == (0, run("report", "--db", new).stdout)
    assert not os.path.exists("w.db")


def test_an_old_store_on_read_only_media_is_refused_in_one_line(stores, monkeypatch):
    _, old = stores
    with sqlite3.connect(old) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    real = sqlite3.connect

    def read_only(path, *args, **kwargs):  # the upgrade's connection: as on a read-only mount
        conn = real(path, *args, **kwargs)
        if "mode=ro" not in path:
            conn.execute("PRAGMA query_only = 1")
        return conn

    monkeypatch.setattr(sqlite3, "connect", read_only)
    with pytest.raises(StoreError, match=f"layout {version}, which .* to layout {LAYOUT_VERSION} once, with write"):
        Store(old, readonly=True)
    with sqlite3.connect(old) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == version  # left as it was


@pytest.mark.parametrize("version", [5, 6, 7])
@pytest.mark.parametrize("damage", ["x'0102'", "'text'"])
def test_an_old_store_with_a_damaged_counts_row_is_one_error(tmp_path, fixtures_dir, damage, version):
    # layouts 4 and 5 are re-counted in Python: a blob of the wrong length or type (a store
    # edited by hand) raised ValueError or TypeError there, an internal error (exit 70); layouts
    # 6 and 7's, in a Python function SQL calls, said "with write access ... (user-defined
    # function raised exception)"
    old = str(tmp_path / "old.db")
    assert run("load", str(fixtures_dir / "sample-cli.txt"), "--db", old, "-q").exit_code == 0
    as_layout(old, version)
    with sqlite3.connect(old) as conn:
        conn.execute(f"UPDATE counts SET quarters = {damage} WHERE day = (SELECT min(day) FROM counts)")
    r = CliRunner().invoke(cli, ["summary", "--db", old])
    assert r.exit_code == 2, r.output
    notice, error = r.stderr.splitlines()
    assert notice.endswith(f"a store of layout {version}; bringing it to layout {LAYOUT_VERSION} (once)")
    assert error.startswith(f"ccaudit: error: {old}: a store of layout {version} with a damaged row of counts (")
    assert error.endswith(f"it cannot be brought to layout {LAYOUT_VERSION}: load the dumps into a new store")
    with sqlite3.connect(old) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == version  # left as it was


def test_ctrl_c_while_an_old_stores_rows_are_recounted_is_an_interrupt(tmp_path, fixtures_dir, monkeypatch):
    # was exit 2, "it could not (user-defined function raised exception)": SQLite turns what a
    # Python function raises, KeyboardInterrupt too, into an sqlite3.Error
    from ccaudit import daycounts

    old = str(tmp_path / "old.db")
    assert run("load", str(fixtures_dir / "sample-cli.txt"), "--db", old, "-q").exit_code == 0
    as_layout(old, 7)

    def interrupted(blob):
        raise KeyboardInterrupt

    monkeypatch.setattr(daycounts, "offset_hours", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Store(old, readonly=True)
    with sqlite3.connect(old) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 7  # left as it was


def refused_as_it_was(path: str, *edits: str) -> str:
    """The store at ``path`` with ``edits`` made to it, then read: exit 2, not a byte of it
    changed, and one line said (an upgrade announced, then refused, was two). That line."""
    with sqlite3.connect(path) as conn:
        for sql in edits:
            conn.execute(sql)
    conn.close()
    before = open(path, "rb").read()
    r = CliRunner().invoke(cli, ["summary", "--db", path])
    assert r.exit_code == 2 and open(path, "rb").read() == before
    [line] = r.stderr.splitlines()
    return line


def loaded(tmp_path, fixtures_dir, layout: int | None = None) -> str:
    """A store of sample-cli.txt, of ``layout`` if given."""
    path = str(tmp_path / "s.db")
    assert run("load", str(fixtures_dir / "sample-cli.txt"), "--db", path, "-q").exit_code == 0
    if layout:
        as_layout(path, layout)
    return path


def test_a_layout_4_store_without_quarters_is_refused_before_anything_is_written(tmp_path, fixtures_dir):
    # layout 4's first version had no quarters table: it was stamped layout 8, then refused by
    # every ccaudit, old and new ("not a whole ccaudit store (no table quarters)")
    old = loaded(tmp_path, fixtures_dir, 4)
    assert refused_as_it_was(old, "DROP TABLE quarters") == (
        f"ccaudit: error: {old}: a store of layout 4 without its table quarters; it cannot be brought to layout "
        f"{LAYOUT_VERSION}: load the dumps into a new store")


@pytest.mark.parametrize("version", PREVIOUS)
def test_a_store_of_this_layout_marked_an_earlier_one_is_refused_before_anything_is_written(tmp_path, fixtures_dir,
                                                                                            version):
    # was: "brought forward" in place, its counts recounted as the earlier layout's, and then
    # every report refused it as damaged while loads went on adding to it
    db = loaded(tmp_path, fixtures_dir)
    assert refused_as_it_was(db, f"PRAGMA user_version = {version}") == (
        f"ccaudit: error: {db}: marked layout {version}, but its tables are not that layout's; it cannot be brought "
        f"to layout {LAYOUT_VERSION}: load the dumps into a new store")


@pytest.mark.parametrize("made, marked", [(5, 6), (6, 5)])
def test_an_old_store_marked_another_old_layout_is_refused_before_anything_is_written(tmp_path, fixtures_dir, made,
                                                                                       marked):
    # their counts have the same columns: was "it could not (table method_counts already exists)" or
    # "(no such table: method_counts)", as if the store could not be written
    old = loaded(tmp_path, fixtures_dir, made)
    assert f"marked layout {marked}, but its tables are not that layout's" in refused_as_it_was(
        old, f"PRAGMA user_version = {marked}")


def test_an_upgrade_done_meanwhile_by_another_process_is_not_announced(tmp_path, fixtures_dir):
    # the notice came before the write lock: a load that had waited for another's upgrade
    # said "a store of layout 10; bringing it to layout 10 (once)"
    from ccaudit.upgrade import upgrade

    db = loaded(tmp_path, fixtures_dir)
    before = open(db, "rb").read()
    told: list[str] = []
    upgrade(db, told.append)
    assert told == [] and open(db, "rb").read() == before


@pytest.mark.parametrize("version", [7, 9])
def test_an_old_store_with_text_that_is_not_utf8_is_brought_forward(tmp_path, fixtures_dir, version):
    # sqlite3 cannot pass such text (a store edited by hand) to the digest function: every
    # command refused such a layout-7 store, and every load such a layout-9 one, "with write
    # access; it could not (user-defined function raised exception)"
    old = loaded(tmp_path, fixtures_dir, version)
    with sqlite3.connect(old) as conn:
        conn.execute("UPDATE details SET email = CAST(x'c328' AS TEXT) WHERE did = (SELECT max(did) FROM details)")
    conn.close()
    r = CliRunner().invoke(cli, ["load", str(fixtures_dir / "sample-week2.jsonl"), "--db", old, "-q"])
    assert r.exit_code == 0, r.output
    with sqlite3.connect(old) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LAYOUT_VERSION
        assert conn.execute("SELECT count(*) FROM details WHERE CAST(email AS BLOB) = x'c328'").fetchone()[0] == 1
    conn.close()


def test_a_load_into_an_old_store_on_read_only_media_is_refused_in_one_line(tmp_path, fixtures_dir, monkeypatch):
    # it said it was bringing the store to this layout, then that it could not
    old = loaded(tmp_path, fixtures_dir, 9)
    before = open(old, "rb").read()
    real = sqlite3.connect

    def read_only(path, *args, **kwargs):  # every connection that may write: as on a read-only mount
        conn = real(path, *args, **kwargs)
        if "mode=ro" not in path:
            conn.execute("PRAGMA query_only = 1")
        return conn

    monkeypatch.setattr(sqlite3, "connect", read_only)
    r = CliRunner().invoke(cli, ["load", str(fixtures_dir / "sample-week2.jsonl"), "--db", old, "-q"])
    assert r.exit_code == 2 and r.stderr == (
        f"ccaudit: error: {old}: a store of layout 9, which this ccaudit must bring to layout {LAYOUT_VERSION} "
        "once, with write access; it could not (attempt to write a readonly database)\n")
    assert open(old, "rb").read() == before


def test_an_old_store_on_a_read_only_mount_is_refused_in_one_line(tmp_path, fixtures_dir, monkeypatch):
    # SQLite takes the write lock of a file it could open only for reading (it writes
    # nothing): the notice said the store was being brought forward, then that it could not
    old = loaded(tmp_path, fixtures_dir, 9)
    before = open(old, "rb").read()
    monkeypatch.setattr(upgrade, "uri", lambda path: f"{Path(path).resolve().as_uri()}?mode=ro")
    r = CliRunner().invoke(cli, ["load", str(fixtures_dir / "sample-week2.jsonl"), "--db", old])
    assert r.exit_code == 2 and r.stderr == (
        f"ccaudit: error: {old}: a store of layout 9, which this ccaudit must bring to layout {LAYOUT_VERSION} "
        "once, with write access; it could not (attempt to write a readonly database)\n")
    assert open(old, "rb").read() == before


@pytest.mark.parametrize("layout, name", [(9, "named"), (9, "NAMED"), (7, "recounted"), (4, "counts_new")])
def test_a_table_of_ones_own_named_as_an_upgrade_names_its_new_tables(tmp_path, fixtures_dir, layout, name):
    # was: "could not (table named already exists)" on every load, for good
    old = loaded(tmp_path, fixtures_dir, layout)
    with sqlite3.connect(old) as conn:
        conn.execute(f"CREATE TABLE {name} (mine TEXT)")
        conn.execute(f"INSERT INTO {name} VALUES ('kept')")
    conn.close()
    assert run("load", str(fixtures_dir / "sample-week2.jsonl"), "--db", old, "-q").exit_code == 0
    with sqlite3.connect(old) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LAYOUT_VERSION
        assert conn.execute(f"SELECT * FROM {name}").fetchall() == [("kept",)]
    conn.close()


_TRIGGER = "holds a trigger (mine), which ccaudit does not make"


@pytest.mark.parametrize("edits, said", [
    # was: brought to this layout (which its own ccaudit then refused), then refused
    (["CREATE TRIGGER mine AFTER INSERT ON events BEGIN SELECT 1; END"], _TRIGGER),
    # was: the trigger dropped with the old table without a word, and the load went on
    (["CREATE TRIGGER mine AFTER INSERT ON keys BEGIN SELECT 1; END"], _TRIGGER),
    (["ALTER TABLE quarters RENAME TO old", "CREATE VIEW quarters AS SELECT * FROM old"],
     "its quarters is not a table, as ccaudit makes it"),
])
def test_an_old_store_with_a_trigger_or_a_view_is_refused_before_it_is_brought_forward(tmp_path, fixtures_dir, edits,
                                                                                        said):
    old = loaded(tmp_path, fixtures_dir, 9)
    with sqlite3.connect(old) as conn:
        for edit in edits:
            conn.execute(edit)
    conn.close()
    before = open(old, "rb").read()
    r = CliRunner().invoke(cli, ["load", str(fixtures_dir / "sample-week2.jsonl"), "--db", old, "-q"])
    assert r.exit_code == 2 and r.stderr == f"ccaudit: error: {old}: {said}; load the dumps into a new store\n"
    assert open(old, "rb").read() == before


ENTRY_SCRIPT_SIGNALLED_IN_AN_UPGRADE = """\
import os, signal, sys
from ccaudit import sqlraised
real, signum = sqlraised.kept, getattr(signal, sys.argv.pop(1))
def kept(function, raised=None):  # the signal comes as SQLite calls Python, before kept's own try
    inner = real(function, raised)
    def call(*args):
        os.kill(os.getpid(), signum)
        return inner(*args)
    return call
sqlraised.kept = kept
from ccaudit.__main__ import main
sys.exit(main())
"""


@pytest.mark.parametrize(("signame", "want"), [("SIGINT", (130, "ccaudit: interrupted\n")),
                                               ("SIGTERM", (143, "ccaudit: stopped by SIGTERM\n"))])
def test_a_signal_while_a_store_is_brought_forward_stops_the_command(tmp_path, fixtures_dir, signame, want):
    # was: "a store of layout 9, which this ccaudit must bring to layout 10 once, with write
    # access; it could not (user-defined function raised exception)", exit 2
    old = loaded(tmp_path, fixtures_dir, 9)
    before = open(old, "rb").read()
    script = tmp_path / "ccaudit"
    script.write_text(ENTRY_SCRIPT_SIGNALLED_IN_AN_UPGRADE)
    r = subprocess.run([sys.executable, script, signame, "load", fixtures_dir / "sample-week2.jsonl", "--db", old,
                        "-q"], capture_output=True, text=True, timeout=60,
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert (r.returncode, r.stderr.splitlines()[-1] + "\n") == want, r.stderr
    assert open(old, "rb").read() == before


def _said_then_stopped(args: list, words: str) -> tuple[int, str]:
    """Run ccaudit with ``args`` until its stderr says ``words``, then SIGTERM it: (its exit
    code, all it said)."""
    from tests.conftest import stderr_until

    proc = subprocess.Popen([sys.executable, "-m", "ccaudit", *map(str, args)], stderr=subprocess.PIPE)
    said = stderr_until(proc, words)
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=10)[1]
    return proc.returncode, (said + rest).decode()


@pytest.mark.parametrize("command", [["load", "sample-week2.jsonl"], ["clean", "--unfinished", "--yes"]])
def test_a_store_brought_forward_while_another_process_reads_it_says_so_and_stops_on_sigterm(
        tmp_path, fixtures_dir, command):
    # was: the commit waited for the reader inside SQLite, without a word, and SIGTERM or
    # Ctrl-C was seen only once the reader ended (a report paged by less: hours)
    old = loaded(tmp_path, fixtures_dir)
    with Store(old) as store:  # a load's note, left as a killed load leaves it
        store.begin_load(["a killed load"])
    as_layout(old, 9)
    before = open(old, "rb").read()
    reader = sqlite3.connect(old, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM meta").fetchall()
        args = [fixtures_dir / a if a.endswith(".jsonl") else a for a in command]
        code, said = _said_then_stopped([args[0], "--db", old, *args[1:]], "waiting for it")
    finally:
        reader.close()
    assert code == 143 and f"ccaudit: {old}: another process is reading the store; waiting for it" in said, said
    assert ("bringing it to layout 10 (once)" in said) == (command[0] == "load")  # (clean reads layout 9 as it is)
    assert open(old, "rb").read() == before


def test_unfinished_loads_forgotten_while_another_process_reads_say_so_and_stop_on_sigterm(tmp_path, sample_cli):
    db = tmp_path / "s.db"
    with Store(str(db)) as store:
        store.begin_load(["a killed load"])
    reader = sqlite3.connect(db, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM meta").fetchall()
        code, said = _said_then_stopped(["clean", "--db", db, "--unfinished", "--yes"], "waiting for it")
    finally:
        reader.close()
    assert code == 143 and f"ccaudit: {db}: another process is reading the store; waiting for it" in said, said
    with Store(str(db), readonly=True) as store:
        assert len(store.unfinished) == 1

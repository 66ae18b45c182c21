"""`ccaudit clean`: it deletes the store it is given (and, with --out, the report folder
ccaudit wrote there), and refuses anything else: files that are not ccaudit stores and
folders that are not ccaudit report folders are left as they were."""
from __future__ import annotations

import errno
import os
import sqlite3
import sys

import pytest


def test_clean_deletes_the_store(invoke, tmp_path, sample_cli):
    db = tmp_path / "audit.db"
    invoke("load", sample_cli, "--db", db, "-q")
    result = invoke("clean", "--db", db)  # stdin is not a TTY: no prompt
    assert result.exit_code == 0
    assert "?" not in result.stderr
    assert not db.exists()


def test_clean_leaves_no_sidecar_files(invoke, tmp_path, sample_cli):
    db = tmp_path / "audit.db"
    invoke("load", sample_cli, "--db", db, "-q")
    invoke("report", "--db", db, "-q")
    assert invoke("clean", "--db", db).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_clean_with_out_deletes_the_report_dir(invoke, tmp_path, sample_cli):
    db, out = tmp_path / "audit.db", tmp_path / "reports"
    invoke("report", sample_cli, "--db", db, "--out", out, "-q")
    assert out.is_dir()
    result = invoke("clean", "--db", db, "--out", out)
    assert result.exit_code == 0
    assert not db.exists() and not out.exists()


def test_clean_refuses_an_sqlite_file_of_something_else(invoke, tmp_path):
    db = tmp_path / "crm.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE customers (name TEXT)")
    conn.commit()
    conn.close()
    result = invoke("clean", "--db", db)
    assert result.exit_code == 2
    assert db.exists()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("customers",)]
    conn.close()


OLD_TOOLS_TABLES = ("all_events", "auth_events", "signin_failures", "signin_successes")


@pytest.mark.parametrize("sql", [
    ["CREATE TABLE all_events (id, payload)", "INSERT INTO all_events VALUES (1, 'important')"],
    ["CREATE TABLE events_raw (id, v)", "CREATE VIEW all_events AS SELECT * FROM events_raw"],
    [f"CREATE TABLE {t} (id)" for t in OLD_TOOLS_TABLES],  # the old tool's own tables, and no version
    ["CREATE TABLE all_events (id)", "PRAGMA user_version = 9"],
], ids=["a-table-of-that-name", "a-view-of-that-name", "the-old-tools-tables", "a-version-and-one-table"])
def test_clean_refuses_another_programs_file_with_a_table_called_all_events(invoke, tmp_path, sql):
    # was: "deleted" (exit 0): a table or view called all_events was all clean looked for
    db = tmp_path / "myapp.db"
    with sqlite3.connect(db) as conn:
        for statement in sql:
            conn.execute(statement)
    conn.close()
    result = invoke("clean", "--db", db, "--yes")
    assert (result.exit_code, result.stderr) == (2, f"ccaudit: error: {db}: not a ccaudit store; nothing deleted\n")
    assert db.exists()


def test_clean_names_a_damaged_store_as_damaged(invoke, tmp_path, sample_cli):
    # was "not a ccaudit store" of the store a load had made, its schema page overwritten
    db = tmp_path / "s.db"
    invoke("load", sample_cli, "--db", db, "-q")
    with open(db, "r+b") as f:
        f.seek(100)
        f.write(b"\xff" * 60)
    result = invoke("clean", "--db", db, "--yes")
    assert (result.exit_code, result.stderr) == (2, f"ccaudit: error: {db}: a damaged SQLite file (database disk "
                                                    "image is malformed), which clean cannot tell for a ccaudit "
                                                    "store; nothing deleted\n")
    assert db.exists()


def test_clean_deletes_a_store_of_the_first_layouts(invoke, tmp_path):
    # layouts 1 to 3: the old tool's four tables, and a version; reads refuse them, clean does not
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        for table in OLD_TOOLS_TABLES:
            conn.execute(f"CREATE TABLE {table} (id)")
        conn.execute("PRAGMA user_version = 3")
    conn.close()
    assert invoke("summary", "--db", db).exit_code == 2
    assert invoke("clean", "--db", db, "--yes").exit_code == 0 and not db.exists()


def test_clean_of_a_store_another_program_has_locked_says_so(invoke, tmp_path, sample_cli):
    # was: "not a ccaudit store"
    db = tmp_path / "s.db"
    invoke("load", sample_cli, "--db", db, "-q")
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("PRAGMA busy_timeout = 0")
    other.execute("BEGIN EXCLUSIVE")
    try:
        result = invoke("clean", "--db", db, "--yes")
    finally:
        other.close()
    assert (result.exit_code, result.stderr) == (
        2, f"ccaudit: error: {db}: locked by another program writing it; nothing deleted\n")
    assert db.exists()


def test_clean_refuses_a_file_that_is_not_sqlite(invoke, tmp_path):
    db = tmp_path / "notes.db"
    db.write_text("my notes\n")
    result = invoke("clean", "--db", db)
    assert result.exit_code == 2
    assert db.read_text() == "my notes\n"


def test_clean_refuses_a_dir_that_is_not_a_report_dir(invoke, tmp_path, sample_cli):
    db, out = tmp_path / "audit.db", tmp_path / "photos"
    out.mkdir()
    (out / "cat.jpg").write_bytes(b"\xff\xd8")
    invoke("load", sample_cli, "--db", db, "-q")
    result = invoke("clean", "--db", db, "--out", out)
    assert result.exit_code == 2
    assert (out / "cat.jpg").exists()


def test_clean_refuses_a_folder_whose_manifest_is_a_link(invoke, tmp_path):
    # was: taken for a report folder, and the link deleted with it
    out = tmp_path / "ml"
    out.mkdir()
    (tmp_path / "elsewhere").write_text("summary.txt\n")
    (out / ".ccaudit-manifest").symlink_to(tmp_path / "elsewhere")
    result = invoke("clean", "--out", out, "--yes")
    assert result.exit_code == 2 and "not a report folder written by ccaudit" in result.stderr
    assert "(its .ccaudit-manifest is a link or not a file)" in result.stderr  # was: "(no .ccaudit-manifest)"
    assert (out / ".ccaudit-manifest").is_symlink()


@pytest.mark.parametrize("command", [("clean", "--yes"), ("report", "{dump}", "-q")])
def test_a_manifest_written_by_another_user_is_not_followed(invoke, tmp_path, sample_cli, monkeypatch, command):
    # was: in a shared sticky folder, a manifest planted by another user listing the caller's
    # own files: clean deleted them
    out = tmp_path / "shared"
    assert invoke("report", sample_cli, "--out", out, "-q").exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(out / ".ccaudit-manifest").st_uid + 1)
    result = invoke(*[a.format(dump=sample_cli) for a in command], "--out", out)
    assert result.exit_code == 2 and ".ccaudit-manifest: written by another user; not touched" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_a_section_folder_swapped_for_a_link_mid_clean_leads_nowhere(invoke, tmp_path, sample_cli, monkeypatch):
    # was: files removed by path, so a section folder swapped for a link to another folder
    # between the check and the removal (by one who may write the report folder) had the
    # other folder's files of the same names deleted
    out, victim = tmp_path / "reports", tmp_path / "private"
    assert invoke("report", sample_cli, "--out", out, "-q").exit_code == 0
    victim.mkdir()
    for day in ("2024-05-06", "2024-05-07", "2024-05-08", "2024-05-09"):
        (victim / f"{day}.txt").write_text("mine")
    real = {"remove": os.remove, "unlink": os.unlink}
    swapped = []

    def swapping_first(which):
        def remove(path, *args, **kwargs):
            if not swapped and "all_events" in str(path) + str(kwargs):
                os.rename(out / "all_events", tmp_path / "moved")
                (out / "all_events").symlink_to(victim)
                swapped.append(path)
            return real[which](path, *args, **kwargs)
        return remove

    monkeypatch.setattr(os, "remove", swapping_first("remove"))
    monkeypatch.setattr(os, "unlink", swapping_first("unlink"))
    invoke("clean", "--out", out, "--yes")
    assert sorted(p.name for p in victim.iterdir()) == ["2024-05-06.txt", "2024-05-07.txt", "2024-05-08.txt",
                                                       "2024-05-09.txt"]


def test_a_section_folder_clean_cannot_open_stays_listed(invoke, tmp_path, sample_cli, monkeypatch):
    # was: skipped as if it were a link, its files dropped from the manifest (exit 0), and
    # the folder then refused by clean as no report's
    out = tmp_path / "reports"
    assert invoke("report", sample_cli, "--out", out, "-q").exit_code == 0
    opening = os.open

    def refusing(path, *args, **kwargs):
        if path == "all_events" and kwargs.get("dir_fd") is not None:
            raise PermissionError(13, "Permission denied")  # as for a folder made unreadable (root reads any)
        return opening(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)
    result = invoke("clean", "--out", out, "--yes")
    assert result.exit_code == 2 and f"{out}/all_events/2024-05-06.txt: Permission denied" in result.stderr
    monkeypatch.setattr(os, "open", opening)
    assert "all_events/2024-05-06.txt" in (out / ".ccaudit-manifest").read_text()
    assert invoke("clean", "--out", out, "--yes").exit_code == 0 and not out.exists()


def test_clean_does_not_delete_a_non_store_whose_name_has_a_hash(invoke, tmp_path, sample_cli):
    store = tmp_path / "s.db"
    invoke("load", sample_cli, "--db", store, "-q")
    notes = tmp_path / "s.db#x"
    notes.write_text("my notes")
    result = invoke("clean", "--db", notes, "--yes")
    assert result.exit_code == 2
    assert notes.read_text() == "my notes"


def test_clean_without_a_store_is_fine(invoke, tmp_path):
    result = invoke("clean", "--db", tmp_path / "none.db")
    assert result.exit_code == 0


def test_clean_escapes_control_characters_in_the_names_it_says(invoke, tmp_path, sample_cli):
    db, out = tmp_path / "audit\x1b[2J.db", tmp_path / "reports\x1b]0;pwned\x07"
    invoke("report", sample_cli, "--db", db, "--out", out, "-q")
    result = invoke("clean", "--db", db, "--out", out)
    assert result.exit_code == 0 and not db.exists() and not out.exists()
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "audit\\x1b[2J.db" in result.stderr and "reports\\x1b]0;pwned\\x07" in result.stderr


def test_clean_names_a_link_to_a_store_as_a_link(invoke, tmp_path, sample_cli):
    # it said "not a ccaudit store", of a link every other command reads as the store
    db, link = tmp_path / "real.db", tmp_path / "audit.db"
    invoke("load", sample_cli, "--db", db, "-q")
    link.symlink_to(db)
    result = invoke("clean", "--db", link)
    assert result.exit_code == 2
    assert result.stderr == (f"ccaudit: error: {link}: a symbolic link, which clean does not follow; give the "
                             f"store's own path ({db}); nothing deleted\n")
    assert db.exists() and link.is_symlink()


def test_clean_names_a_link_that_loops_as_one_that_leads_nowhere(invoke, tmp_path):
    # was "give the store's own path (…/loop1.db)": realpath of a loop is the link itself
    (tmp_path / "loop1.db").symlink_to(tmp_path / "loop2.db")
    (tmp_path / "loop2.db").symlink_to(tmp_path / "loop1.db")
    result = invoke("clean", "--db", tmp_path / "loop1.db", "--yes")
    assert (result.exit_code, result.stderr) == (2, f"ccaudit: error: {tmp_path}/loop1.db: a symbolic link to no "
                                                    "file (or one that loops), which clean does not follow; nothing "
                                                    "deleted\n")


def test_a_load_through_a_link_to_an_empty_file_names_the_file(invoke, tmp_path, sample_cli):
    # was "is a symbolic link to no store; give the store's real path", which summary called "an empty file"
    (tmp_path / "empty.db").touch()
    (tmp_path / "audit.db").symlink_to(tmp_path / "empty.db")
    result = invoke("load", sample_cli, "--db", tmp_path / "audit.db", "-q")
    assert (result.exit_code, result.stderr) == (2, f"ccaudit: error: {tmp_path}/audit.db: is a symbolic link to no "
                                                    "store yet, and ccaudit makes none through a link: give its real "
                                                    f"path ({tmp_path}/empty.db)\n")


def test_clean_of_a_store_that_cannot_be_deleted_is_one_error(invoke, tmp_path, sample_cli, monkeypatch):
    # read-only media: was an internal error (exit 70), OSError: Read-only file system
    import errno
    import os

    db = tmp_path / "audit.db"
    invoke("load", sample_cli, "--db", db, "-q")

    def read_only(path, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
    monkeypatch.setattr("os.remove", read_only)
    result = invoke("clean", "--db", db)
    assert result.exit_code == 2
    assert result.stderr == f"ccaudit: error: {db}: cannot delete it: Read-only file system\n"


def test_clean_of_the_folder_one_is_in_deletes_its_report_files_and_keeps_it(invoke, tmp_path, sample_cli,
                                                                              monkeypatch):
    # was: every file deleted, then exit 2, "the report files are deleted, but not the folder"
    out = tmp_path / "reports"
    invoke("report", sample_cli, "--db", tmp_path / "s.db", "--out", out, "-q")
    monkeypatch.chdir(out)
    result = invoke("clean", "--out", ".")
    assert (result.exit_code, result.stderr) == (0, "ccaudit: deleted the report files in . (the folder itself "
                                                    "is kept)\n")
    assert out.is_dir() and not list(out.iterdir())


@pytest.mark.parametrize("command", [("clean", "--yes", "--db"), ("summary", "--db"), ("report", "--db"),
                                     ("load", "{dump}", "-q", "--db")])
def test_a_users_file_as_a_write_ahead_log_is_named_and_kept(invoke, tmp_path, sample_cli, command):
    # was: SQLite opened the store as one keeping a log, since a file of that name was there
    # (readers made STORE-shm beside it); a load deleted the file, and clean did unread
    db = tmp_path / "s.db"
    invoke("load", sample_cli, "--db", db, "-q")
    (tmp_path / "s.db-wal").write_text("user data\n")
    result = invoke(*[a.format(dump=sample_cli) for a in command], db)
    assert result.exit_code == 2 and result.stderr == (
        f"ccaudit: error: {db}: {db}-wal, where SQLite would keep a write-ahead log, is there though the store "
        "keeps none; remove it\n")
    assert sorted(os.listdir(tmp_path)) == ["s.db", "s.db-wal"] and (tmp_path / "s.db-wal").read_text() == "user data\n"


def test_a_store_another_program_set_to_keep_a_write_ahead_log_is_read_and_deleted_with_it(invoke, tmp_path,
                                                                                            sample_cli):
    db = tmp_path / "s.db"
    invoke("load", sample_cli, "--db", db, "-q")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("DELETE FROM meta WHERE 0")
    assert (tmp_path / "s.db-wal").exists()  # held open: the log stays
    try:
        assert invoke("summary", "--db", db).exit_code == 0
    finally:
        conn.close()
    assert invoke("clean", "--db", db, "--yes").exit_code == 0
    assert os.listdir(tmp_path) == []


def test_a_store_named_with_a_slash_after_it_is_refused(invoke, tmp_path, sample_cli):
    # was: "no store at s.db/", exit 0, and the store was kept
    db = tmp_path / "s.db"
    invoke("load", sample_cli, "--db", db, "-q")
    for named in (f"{db}/", f"{db}/.", f"{db}//"):
        result = invoke("clean", "--db", named, "--yes")
        assert (result.exit_code, result.stderr) == (2, f"ccaudit: error: {named}: no store by that name (a folder's), "
                                                        f"but {db} is one: give its own name; nothing deleted\n")
    assert db.exists()


def test_a_folder_that_cannot_be_removed_is_kept_and_the_clean_is_done(invoke, tmp_path, sample_cli, monkeypatch):
    # was: every file deleted, then exit 2 ("the report files are deleted, but not the folder:
    # Permission denied"), and every clean after it exit 2 ("no .ccaudit-manifest"): a folder
    # made by an admin under one the user may not write, or a mount point, failed `clean && report`
    out = tmp_path / "reports"
    invoke("report", sample_cli, "--db", tmp_path / "s.db", "--out", out, "-q")

    rmdir = os.rmdir

    def refused(path, *args, **kwargs):
        if str(path) == str(out):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return rmdir(path, *args, **kwargs)
    monkeypatch.setattr("os.rmdir", refused)
    result = invoke("clean", "--out", out)
    assert (result.exit_code, result.stderr) == (0, f"ccaudit: deleted the report files in {out} (the folder itself "
                                                    "is kept: Permission denied)\n")
    assert out.is_dir() and not list(out.iterdir())
    result = invoke("clean", "--out", out)
    assert (result.exit_code, result.stderr) == (0, f"ccaudit: no report files in {out} (an empty folder, kept)\n")
    assert invoke("report", sample_cli, "--db", tmp_path / "s.db", "--out", out, "-q").exit_code == 0


@pytest.mark.parametrize("named", ["{out}", "../reports"])
def test_clean_of_the_folder_one_is_in_by_another_name_keeps_it(invoke, tmp_path, sample_cli, monkeypatch, named):
    # was: "deleted /.../reports", and the shell was left in a folder that no longer existed
    out = tmp_path / "reports"
    invoke("report", sample_cli, "--db", tmp_path / "s.db", "--out", out, "-q")
    monkeypatch.chdir(out)
    name = named.format(out=out)
    result = invoke("clean", "--out", name)
    assert (result.exit_code, result.stderr) == (0, f"ccaudit: deleted the report files in {name} (the folder "
                                                    "itself is kept)\n")
    assert out.is_dir() and not list(out.iterdir())


def test_clean_with_an_empty_out_is_refused_and_deletes_nothing(invoke, tmp_path, sample_cli):
    # `--out "$REPORTS"` with REPORTS unset: was exit 0, the store deleted and the folder not
    db = tmp_path / "s.db"
    invoke("load", sample_cli, "--db", db, "-q")
    result = invoke("clean", "--db", db, "--out", "", "--yes")
    assert result.exit_code == 2 and "'--out': needs a name (it is empty)" in result.stderr
    assert db.exists()


def test_the_end_of_input_at_cleans_question_declines(invoke, tmp_path, sample_cli, monkeypatch):
    db = tmp_path / "s.db"
    invoke("load", sample_cli, "--db", db, "-q")
    monkeypatch.setattr("ccaudit.asking.interactive", lambda: True)
    result = invoke("clean", "--db", db, input="")
    assert (result.exit_code, result.stderr) == (1, f"Delete {db}? [y/N]: \nccaudit: nothing deleted\n")
    assert db.exists()


def test_clean_asks_only_of_what_is_there(invoke, tmp_path, sample_cli, monkeypatch):
    # was "Delete x.db? [y/N]" of a store not there: n gave exit 1, "clean was declined"
    monkeypatch.setattr("ccaudit.asking.interactive", lambda: True)
    result = invoke("clean", "--db", tmp_path / "x.db", "--out", tmp_path / "r", input="")
    assert (result.exit_code, result.stderr) == (0, f"ccaudit: no store at {tmp_path / 'x.db'}\n"
                                                    f"ccaudit: no report folder at {tmp_path / 'r'}\n")
    db = tmp_path / "s.db"
    invoke("load", sample_cli, "--db", db, "-q")
    result = invoke("clean", "--db", db, "--out", tmp_path / "r", input="")
    assert (result.exit_code, result.stderr) == (1, f"Delete {db}? [y/N]: \nccaudit: nothing deleted\n")
    result = invoke("clean", "--db", tmp_path / "x.db", "--unfinished", input="")  # (a review found it asked)
    assert (result.exit_code, result.stderr) == (2, f"ccaudit: error: {tmp_path / 'x.db'}: no ccaudit store "
                                                    "there; nothing deleted\n")
    (tmp_path / "empty").mkdir()  # was asked of, then kept: "Delete .../empty? [y/N]"
    result = invoke("clean", "--out", tmp_path / "empty", input="")
    assert (result.exit_code, result.stderr) == (0, f"ccaudit: no report files in {tmp_path / 'empty'} (an empty "
                                                    "folder, kept)\n")


def test_a_store_replaced_while_cleans_question_waits_is_not_deleted(invoke, tmp_path, sample_cli, monkeypatch):
    # was "deleted s.db", exit 0: the text file put in the store's place was deleted
    db, out = tmp_path / "s.db", tmp_path / "reports"
    invoke("report", sample_cli, "--db", db, "--out", out, "-q")
    monkeypatch.setattr("ccaudit.asking.interactive", lambda: True)
    monkeypatch.setattr("ccaudit.asking.confirmed", lambda question: db.write_text("my notes\n") or True)
    result = invoke("clean", "--db", db, "--out", out)
    assert (result.exit_code, result.stderr) == (2, f"ccaudit: error: {db}: changed while the question waited; "
                                                    "nothing deleted\n")
    assert db.read_text() == "my notes\n" and (out / ".ccaudit-manifest").exists()


def test_ctrl_c_at_cleans_question_is_an_interrupt(ccaudit_exe, tmp_path, sample_cli, invoke):
    # was click's "Aborted!" and exit 1, the code of a declined question
    import os
    import pty
    import signal
    import subprocess
    import time

    db = tmp_path / "s.db"
    invoke("load", sample_cli, "--db", db, "-q")
    leader, terminal = pty.openpty()
    proc = subprocess.Popen([ccaudit_exe, "clean", "--db", db], stdin=terminal, stderr=subprocess.PIPE)
    os.close(terminal)
    asked, deadline = b"", time.monotonic() + 30
    while not asked.endswith(b"[y/N]: ") and time.monotonic() < deadline:
        asked += os.read(proc.stderr.fileno(), 100)
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    proc.wait(30)
    os.close(leader)
    assert (proc.returncode, (asked + rest).decode()) == (130, f"Delete {db}? [y/N]: \nccaudit: interrupted\n")
    assert db.exists()


def killed_while_writing(invoke, tmp_path, sample_cli):
    """A store of the sample, and the journal a writer killed in its transaction left beside it."""
    import subprocess
    import sys

    from tests.test_store import KILLED_WRITER

    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "holding\n"
    writer.kill()
    writer.wait()
    assert os.path.exists(f"{db}-journal")
    return db


def test_clean_deletes_a_store_a_killed_load_left_with_its_journal(invoke, tmp_path, sample_cli):
    # was: "not a ccaudit store; nothing deleted" until a reading command rolled the journal back
    db = killed_while_writing(invoke, tmp_path, sample_cli)
    result = invoke("clean", "--db", db, "--yes")
    assert result.exit_code == 0, result.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("command", [("summary", "--db"), ("clean", "--yes", "--db"), ("report", "--db"),
                                     ("load", "{dump}", "--db"), ("diff", "{store}")])
def test_a_journal_planted_beside_a_users_file_is_not_written_into_it(invoke, tmp_path, sample_cli, command):
    # was: SQLite rolled the journal back into the user's notes, which became an SQLite file
    # ("the store is damaged"), and clean --db then deleted them as a store
    import shutil

    db = killed_while_writing(invoke, tmp_path, sample_cli)
    notes = tmp_path / "notes.txt"
    notes.write_text("Dear diary\n" * 9000)
    shutil.copy(f"{db}-journal", f"{notes}-journal")
    journal = (tmp_path / "notes.txt-journal").read_bytes()
    result = invoke(*[a.format(dump=sample_cli, store=db) for a in command], notes)
    assert result.exit_code == 2, result.stderr
    assert notes.read_text() == "Dear diary\n" * 9000 and (tmp_path / "notes.txt-journal").read_bytes() == journal


@pytest.mark.parametrize("command", [("summary", "--db"), ("methods", "--db"), ("clean", "--yes", "--db"),
                                     ("report", "--db"), ("load", "{dump}", "--db")])
def test_a_users_file_as_a_stores_journal_is_named_and_kept(invoke, tmp_path, sample_cli, command):
    # was: "not a usable ccaudit store (attempt to write a readonly database)" from reading
    # commands, "not a ccaudit store" from clean, and a load deleted the file (SQLite took it
    # for a journal to roll back)
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    (tmp_path / "s.db-journal").write_text("my notes\n")
    result = invoke(*[a.format(dump=sample_cli) for a in command], db)
    assert result.exit_code == 2 and result.stderr == (
        f"ccaudit: error: {db}: {db}-journal, where SQLite keeps the store's journal, is a file that is not a "
        "journal; remove it (a load makes its own)\n")
    assert (tmp_path / "s.db-journal").read_text() == "my notes\n"


def test_a_journal_sqlite_has_not_synced_yet_is_no_users_file(invoke, tmp_path, sample_cli):
    # a transaction's journal begins with zeros until SQLite syncs it: a load's, as another command opens the store
    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    (tmp_path / "s.db-journal").write_bytes(bytes(28) + b"pages")
    assert invoke("summary", "--db", db).exit_code == 0


def test_an_empty_file_beside_a_file_that_is_no_journal_is_not_deleted(invoke, tmp_path):
    # was: both deleted, the user's "empty-journal" taken for the journal of a killed creation
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "empty-journal").write_text("user data\n")
    result = invoke("clean", "--db", tmp_path / "empty", "--yes")
    assert result.exit_code == 2 and "empty-journal, where SQLite keeps the store's journal, is a file that is not a " \
        "journal" in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["empty", "empty-journal"]


@pytest.mark.parametrize("command", [("report",), ("summary",), ("check", "--max", "*:*=1/h")])
def test_an_empty_file_as_a_store_is_read_as_no_store_yet(invoke, tmp_path, sample_cli, command):
    # what SIGTERM leaves when it stops a load as it makes a new store: the file made, nothing
    # in it yet. Was: "not a ccaudit store" from every read. clean still refuses it: an empty
    # file is not known to be ccaudit's, and a load may be about to fill it
    db = tmp_path / "s.db"
    db.touch()
    result = invoke(*command, "--db", db)
    assert result.exit_code == 2
    assert result.stderr == (f"ccaudit: error: {db}: an empty file, not yet a store (a load into it stopped as it "
                             f"began?); loading a dump makes it one: ccaudit load DUMP --db {db}\n")
    result = invoke("clean", "--db", db, "--yes")
    assert result.exit_code == 2 and "not a ccaudit store; nothing deleted" in result.stderr and db.exists()


def test_a_link_to_an_empty_file_as_a_store_names_the_path_a_load_takes(invoke, tmp_path, sample_cli):
    # was: advised `ccaudit load DUMP --db LINK`, which load refuses (it makes no store through a link)
    (tmp_path / "s.db").touch()
    link = tmp_path / "link.db"
    link.symlink_to(tmp_path / "s.db")
    result = invoke("summary", "--db", link)
    assert result.exit_code == 2 and result.stderr.endswith(f"ccaudit load DUMP --db {tmp_path / 's.db'}\n")
    assert invoke("load", sample_cli, "--db", tmp_path / "s.db", "-q").exit_code == 0
    assert invoke("summary", "--db", link).exit_code == 0


def test_clean_deletes_a_store_whose_creation_was_killed(invoke, tmp_path):
    # what a kill during the first commit leaves: the file partly written, and a hot journal that
    # undoes it to nothing (copied here from a transaction still open)
    live, db = tmp_path / "live.db", tmp_path / "s.db"
    live.touch()
    conn = sqlite3.connect(live, isolation_level=None)
    conn.execute("PRAGMA cache_size = 1")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TABLE filler (x)")
    conn.executemany("INSERT INTO filler VALUES (?)", ((b"x" * 4000,) for _ in range(200)))
    db.write_bytes(live.read_bytes())
    (tmp_path / "s.db-journal").write_bytes((tmp_path / "live.db-journal").read_bytes())
    conn.execute("ROLLBACK")
    conn.close()
    live.unlink()
    result = invoke("clean", "--db", db, "--yes")
    assert result.exit_code == 0, result.stderr
    assert os.listdir(tmp_path) == []


def test_clean_refuses_a_store_a_load_is_writing(invoke, tmp_path, sample_cli):
    # was: deleted with exit 0, and the load went on writing the deleted file and lost it all
    from ccaudit.store import Store

    db, out = tmp_path / "s.db", tmp_path / "reports"
    assert invoke("report", sample_cli, "--db", db, "--out", out, "-q").exit_code == 0
    with Store(str(db)) as store, store.holding():  # what a load holds from its start to its end
        result = invoke("clean", "--db", db, "--out", out, "--yes")
    assert (result.exit_code, result.stderr) == (
        2, f"ccaudit: error: {db}: a ccaudit command is writing this store now; nothing deleted (run clean "
           "when it ends)\n")
    assert db.exists() and (out / ".ccaudit-manifest").exists()
    assert invoke("clean", "--db", db, "--out", out, "--yes").exit_code == 0  # once it has ended
    assert not db.exists() and not out.exists()


def test_a_load_is_not_held_up_by_another_tools_flock_on_the_store(tmp_path, sample_cli, ccaudit_exe):
    # was: a backup script's `flock -x` on the store made a load wait, without a word, until it let go
    import fcntl
    import subprocess

    db = tmp_path / "s.db"
    with open(db, "wb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        load = subprocess.run([ccaudit_exe, "load", str(sample_cli), "--db", str(db), "-q"], capture_output=True,
                              text=True, timeout=60, check=False)
    assert load.returncode == 0, load.stderr


def test_a_loads_hold_on_its_store_outlasts_sqlites_own_unlocks(tmp_path, sample_cli):
    # on NFS and SMB, flock is a POSIX lock: the process's, dropped by SQLite's first unlock of the
    # whole file, and clean then deleted a store a load was writing. The hold is a lock of its own
    # descriptor, on a byte SQLite never locks: after SQLite's locks come and go, another process's
    # POSIX lock of that byte is refused
    import subprocess
    import sys

    from ccaudit.load import load_dumps
    from ccaudit.store import Store
    from ccaudit.storelock import MARK

    db = tmp_path / "s.db"
    with Store(str(db)) as store, store.holding():  # as a load holds it, from its note to its end
        load_dumps([str(sample_cli)], store, workers=0)
        other = subprocess.run([sys.executable, "-c", f"""if True:
            import fcntl, os
            fd = os.open({str(db)!r}, os.O_RDWR)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, {MARK})
                print("locked")
            except OSError:
                print("refused")"""], capture_output=True, text=True, check=True)
    assert other.stdout == "refused\n"


def test_clean_deletes_a_store_that_a_program_has_open_but_does_not_write(invoke, tmp_path, sample_cli):
    # was refused ("a ccaudit command is writing this store now") for as long as the Store
    # was open, and its readers were told that a load killed before "may be running now"
    from ccaudit.errors import StoreError
    from ccaudit.load import load_dumps
    from ccaudit.store import Store

    db = tmp_path / "s.db"
    with Store(str(db)) as idle:
        load_dumps([str(sample_cli)], idle)
        idle.begin_load(["a killed load"])  # its note, left as a killed load leaves it
        with Store(str(db), readonly=True) as reader:
            assert [u["running"] for u in reader.unfinished] == [False]
        assert invoke("clean", "--db", db, "--yes").exit_code == 0
        with pytest.raises(StoreError, match="the store was moved, deleted or replaced since this command opened it"):
            load_dumps([str(sample_cli)], idle)  # not loaded into the deleted file, and lost
        Store(str(db)).close()  # another store made in its place
        with pytest.raises(StoreError, match="the store was moved, deleted or replaced since this command opened it"):
            load_dumps([str(sample_cli)], idle)
        os.rename(db, tmp_path / "moved.db")  # was "deleted or replaced": it was neither
        with pytest.raises(StoreError, match="the store was moved, deleted or replaced since this command opened it"):
            load_dumps([str(sample_cli)], idle)


def test_a_store_deleted_as_a_load_opens_it_is_named_so(tmp_path, sample_cli, monkeypatch):
    # was: "the store is read-only here; cannot load into it", when clean deleted it in that moment
    from ccaudit import storefile
    from ccaudit.errors import StoreError
    from ccaudit.store import Store

    db = tmp_path / "s.db"
    Store(str(db)).close()
    opened = storefile.connect

    def deleted_once_open(path, readonly):
        conn = opened(path, readonly)
        os.remove(path)
        return conn

    monkeypatch.setattr(storefile, "connect", deleted_once_open)
    with pytest.raises(StoreError) as refused:
        Store(str(db))
    assert str(refused.value) == (f"{db}: the store was moved, deleted or replaced since this command opened it "
                                  "(by ccaudit clean?)")


def test_clean_deletes_a_store_that_is_being_read(invoke, tmp_path, sample_cli):
    from ccaudit.store import Store

    db = tmp_path / "s.db"
    assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    store = Store(str(db), readonly=True)  # a report runs on, from the file it opened
    try:
        assert invoke("clean", "--db", db, "--yes").exit_code == 0
        assert store.event_count() == 13
    finally:
        store.close()
    assert not db.exists()


@pytest.mark.parametrize("how", ["deleted", "replaced", "moved"])
def test_a_load_into_a_store_deleted_under_it_says_so(tmp_path, sample_cli, how):
    # was: "cannot write the store: no space left, or an I/O error (disk I/O error); everything
    # loaded before is kept", when nothing was; and, moved, "the store is read-only here"
    from ccaudit.errors import StoreError
    from ccaudit.load import load_dumps
    from ccaudit.store import Store

    db = tmp_path / "s.db"
    with Store(str(db)) as store, store.holding():  # as a load holds it, from its note to its end
        if how == "replaced":
            Store(str(tmp_path / "other.db")).close()
            os.replace(tmp_path / "other.db", db)
        elif how == "moved":
            os.rename(db, tmp_path / "moved.db")
        else:
            os.remove(db)
        with pytest.raises(StoreError) as e:
            load_dumps([str(sample_cli)], store)
    assert str(e.value) == (f"{db}: the store was moved, deleted or replaced while this command wrote it; what it "
                            "loaded went with the file")


@pytest.mark.parametrize("command", [("summary", "--db"), ("clean", "--yes", "--db"), ("report", "--db"),
                                     ("load", "{dump}", "-q", "--db")])
def test_a_fifo_beside_a_store_as_its_journal_stalls_nothing(run_ccaudit, invoke, tmp_path, sample_cli, command):
    # was: every command on the store waited for ever for someone to write into the FIFO,
    # which anyone who may write the store's folder (/tmp) could plant
    db = tmp_path / "s.db"
    invoke("load", sample_cli, "--db", db, "-q")
    os.mkfifo(f"{db}-journal")
    result = run_ccaudit(*[a.format(dump=sample_cli) for a in command], db, timeout=30)
    assert result.returncode in (0, 2) and "Traceback" not in result.stderr
    assert result.returncode == 0 or len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_clean_of_a_fifo_is_refused_and_does_not_wait(run_ccaudit, tmp_path):
    # was: clean waited for ever in SQLite's open of the FIFO (load and summary refused it)
    os.mkfifo(tmp_path / "f.db")
    result = run_ccaudit("clean", "--db", tmp_path / "f.db", "--yes", timeout=30)
    assert result.returncode == 2 and "not a regular file" in result.stderr and (tmp_path / "f.db").exists()


@pytest.mark.parametrize("sql", ["CREATE TABLE events(a); CREATE TABLE keys(b); CREATE TABLE counts(c)",
                                 "CREATE TABLE keys(b)", "CREATE TABLE events(y); CREATE VIEW all_events AS "
                                                         "SELECT * FROM events"])
def test_another_programs_file_with_empty_tables_of_ccaudits_names_is_not_made_a_store(invoke, tmp_path,
                                                                                       sample_cli, sql):
    # was: load dropped its tables and made it a store, as if a crash had left them (a store
    # is made in one transaction: no crash of this version leaves tables without a layout)
    other = tmp_path / "o.db"
    conn = sqlite3.connect(other)
    conn.executescript(sql)
    conn.close()
    before = other.read_bytes()
    result = invoke("load", sample_cli, "--db", other, "-q")
    assert result.exit_code == 2 and "not a ccaudit store" in result.stderr  # (with an all_events, it was
    assert other.read_bytes() == before  # "another ccaudit version (layout 0", where clean said this)


def test_a_load_into_a_store_in_a_folder_one_may_not_write_is_refused_before_it_writes(invoke, tmp_path,
                                                                                       sample_cli, monkeypatch):
    # was: "no space left, or an I/O error" once it had written the store in place beside a
    # journal left by a killed load, which stayed hot: the store could no longer be read
    db = tmp_path / "s.db"
    invoke("load", sample_cli, "--db", db, "-q")
    (tmp_path / "s.db-journal").write_bytes(bytes(512))  # a killed load's, its header not yet written
    before = db.read_bytes()
    may = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: mode != os.W_OK and may(p, mode, **kw)
                        if os.path.realpath(p) == str(tmp_path) else may(p, mode, **kw))
    result = invoke("load", sample_cli, "--db", db, "-q")
    assert result.exit_code == 2 and f"its folder {tmp_path} is read-only for you" in result.stderr
    assert db.read_bytes() == before and invoke("summary", "--db", db).exit_code == 0


@pytest.mark.parametrize("command", [["clean", "--db", "{db}", "--yes"], ["clean", "--out", "{out}", "--yes"],
                                     ["summary", "--db", "{db}"]])
def test_a_store_or_folder_behind_a_folder_that_cannot_be_searched_is_not_called_missing(invoke, tmp_path, sample_cli,
                                                                                        monkeypatch, command):
    # was "no store at v/s.db" (exit 0, the store still there), "no report folder at ...",
    # and "no such store": os.path.lexists says no to what it may not look at
    v = tmp_path / "v"
    db, out = v / "s.db", v / "reports"
    v.mkdir()
    assert invoke("report", sample_cli, "--db", db, "--out", out, "-q").exit_code == 0
    stat = os.stat

    def unsearchable(path, *args, **kwargs):  # as for a folder of mode 0600 (root may search any)
        if str(path).startswith(f"{v}/"):
            raise PermissionError(13, "Permission denied", str(path))
        return stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", unsearchable)
    result = invoke(*[a.format(db=db, out=out) for a in command])
    named = db if "--db" in command else out
    assert result.exit_code == 2 and f"{named}: cannot reach it: Permission denied" in result.stderr
    monkeypatch.undo()
    assert db.exists() and out.exists()


@pytest.mark.parametrize("only_notes", [False, True])
def test_clean_with_standard_input_closed_asks_nothing(invoke, tmp_path, sample_cli, ccaudit_exe, only_notes):
    # was: "internal error: AttributeError: 'NoneType' object has no attribute 'isatty'", exit 70
    import subprocess

    db = tmp_path / "audit.db"
    invoke("load", sample_cli, "--db", db, "-q")
    args = [ccaudit_exe, "clean", "--db", str(db), *(["--unfinished"] if only_notes else [])]
    done = subprocess.run(args, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          preexec_fn=lambda: os.close(0))
    assert done.returncode == 0 and "error" not in done.stderr, done.stderr
    assert db.exists() == only_notes


def test_clean_by_a_user_who_may_not_write_the_store_refuses_it_while_a_load_writes_it(tmp_path, sample_cli,
                                                                                      monkeypatch):
    # was deleted: the lock that asks for the store alone needs a descriptor open to write, and
    # the read-only one of a user who may delete it (their folder) but not write it failed to
    # take it (EBADF), which was read as a file system without locks
    from ccaudit import storelock
    from ccaudit.errors import StoreError
    from ccaudit.load import load_dumps
    from ccaudit.store import Store
    from ccaudit.storedelete import delete_store

    db = tmp_path / "s.db"
    opened = os.open

    def read_only(path, flags, *args, **kw):
        if str(path) == str(db) and flags & os.O_RDWR:
            raise PermissionError(errno.EACCES, "Permission denied")
        return opened(path, flags, *args, **kw)

    with Store(str(db)) as store, store.holding():
        load_dumps([str(sample_cli)], store, workers=0)
        monkeypatch.setattr(storelock.os, "open", read_only)
        with pytest.raises(StoreError, match="a ccaudit command is writing this store now; nothing deleted"):
            delete_store(str(db))
    assert db.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SQLite's locks are looked at on Linux")
@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_clean_refuses_a_store_another_program_is_writing(tmp_path, sample_cli, ccaudit_exe, journal):
    # was deleted: an open write transaction (SQLite's RESERVED lock, or a WAL store's write
    # lock) lets reads through, so the store passed for one no program writes
    import subprocess
    import sys

    db = tmp_path / "s.db"
    assert subprocess.run([ccaudit_exe, "load", str(sample_cli), "--db", str(db), "-q"]).returncode == 0
    writer = subprocess.Popen([sys.executable, "-c", f"""if True:
        import sqlite3, sys
        conn = sqlite3.connect({str(db)!r}, isolation_level=None)
        conn.execute("PRAGMA journal_mode = {journal}")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO meta VALUES ('theirs', 'x')")
        print("writing", flush=True)
        sys.stdin.read()"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "writing\n"
        clean = subprocess.run([ccaudit_exe, "clean", "--db", str(db), "--yes"], capture_output=True, text=True,
                               timeout=60)
    finally:
        writer.communicate("")
    assert (clean.returncode, clean.stderr) == (
        2, f"ccaudit: error: {db}: locked by another program writing it; nothing deleted\n")
    assert db.exists()


def test_unfinished_loads_are_forgotten_once_another_programs_write_ends(tmp_path, sample_cli, ccaudit_exe):
    # forgetting writes the store, as a load does: it waits its turn behind another program's
    # write, where deleting the store is refused
    import subprocess
    import sys
    import threading

    from ccaudit.store import Store

    db = tmp_path / "s.db"
    with Store(str(db)) as store:
        store.begin_load(["a killed load"])  # its note, as a killed load leaves it
    writer = subprocess.Popen([sys.executable, "-c", f"""if True:
        import sqlite3, time
        conn = sqlite3.connect({str(db)!r}, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO meta VALUES ('theirs', 'x')")
        print("writing", flush=True)
        input()  # until clean waits (was: two seconds, which a busy machine's start of Python outlasted)
        conn.execute("COMMIT")"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    stop = threading.Timer(60, writer.kill)  # should clean never say it waits: its next words fail the test
    try:
        assert writer.stdout.readline() == "writing\n"
        clean = subprocess.Popen([ccaudit_exe, "clean", "--db", str(db), "--unfinished", "--yes"],
                                 stderr=subprocess.PIPE, text=True)
        stop.start()
        said = clean.stderr.readline()
    finally:
        stop.cancel()
        writer.communicate("\n", timeout=10)
    said += clean.communicate(timeout=60)[1]
    assert clean.returncode == 0, said
    assert said.splitlines() == [f"ccaudit: {db}: another process is writing the store; waiting for it",
                                 f"ccaudit: {db}: forgot 1 unfinished load (the store is kept)"]

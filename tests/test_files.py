"""files.py and folders.py: writing files whole, never through links or over devices, and the temporary
folders of killed runs removed without touching anyone else's."""
from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from ccaudit import files, folders, tempdirs
from ccaudit.errors import CcauditError


@pytest.fixture
def tmpdir_env(tmp_path, monkeypatch):
    """A private TMPDIR for this test."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr("tempfile.tempdir", None)
    return folder


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_folders_of_killed_runs_are_removed(tmpdir_env):
    mine = tempdirs.make_temp_dir()
    killed = tmpdir_env / f"{tempdirs.TEMP_PREFIX}{dead_pid()}-abc"
    killed.mkdir()
    (killed / tempdirs.OWNER).write_text(f"{dead_pid()} {tempdirs._pid_namespace()}\n")
    tempdirs.remove_stale_temp_dirs()
    assert os.path.isdir(mine) and not killed.exists()


def test_a_folder_whose_owner_was_never_written_is_removed_a_minute_on(tmpdir_env):
    # was: kept for ever (a process that ran out of descriptors between making the owner file
    # and writing it left such folders, and no later run could tell whose they were)
    old, new, alive = (tmpdir_env / f"{tempdirs.TEMP_PREFIX}{pid}-{n}" for n, pid in
                       enumerate((dead_pid(), dead_pid(), os.getpid())))
    made = time.time() - tempdirs.UNWRITTEN - 1
    for folder in (old, new, alive):
        folder.mkdir()
        (folder / tempdirs.OWNER).write_text("")
        if folder != new:
            os.utime(folder / tempdirs.OWNER, (made, made))
    tempdirs.remove_stale_temp_dirs()
    assert not old.exists() and new.exists()  # (the newer one may be a process's about to write it)
    assert alive.exists()  # (its process, named by the folder, runs: held up, say, or the clock set back)


def test_a_temporary_folder_that_cannot_be_made_is_one_error_naming_tmpdir(tmpdir_env, monkeypatch):
    # an OSError would reach the boundary, which takes it for standard output's
    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(tempdirs.tempfile, "mkdtemp", refused)
    with pytest.raises(CcauditError, match=f"^{re.escape(str(tmpdir_env))}: cannot make a temporary folder: "
                                          "Permission denied .set TMPDIR"):
        tempdirs.make_temp_dir()


def test_a_tmpdir_that_is_no_folder_is_one_error_naming_it(tmp_path, monkeypatch):
    # was: passed over for /tmp without a word (a mistyped TMPDIR, meant to name a big disk)
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("TMPDIR", str(missing))
    with pytest.raises(CcauditError, match=f"^{re.escape(str(missing))}: no such folder, given as TMPDIR; "):
        tempdirs.make_temp_dir()
    assert not missing.exists()
    a_file = tmp_path / "dump.txt"  # was "no such folder" too
    a_file.write_text("x")
    monkeypatch.setenv("TMPDIR", str(a_file))
    with pytest.raises(CcauditError, match=f"^{re.escape(str(a_file))}: not a folder, given as TMPDIR; "):
        tempdirs.make_temp_dir()


@pytest.mark.parametrize("made", [False, True])
def test_a_load_refused_for_its_tmpdir_leaves_no_store_and_no_note(invoke, tmp_path, sample_cli, monkeypatch, made):
    # was: the store made (if missing) and the load noted in it before the refusal, which
    # every read then called a load that did not end, and check --strict failed on
    from ccaudit.load import load_dumps
    from ccaudit.store import Store

    db = tmp_path / "s.db"
    if made:
        assert invoke("load", sample_cli, "--db", db, "-q").exit_code == 0
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    monkeypatch.setenv("TMPDIR", str(a_file))
    result = invoke("load", sample_cli, "--db", db, "-q")
    assert (result.exit_code, result.stderr) == (2, f"ccaudit: error: {a_file}: not a folder, given as TMPDIR; set "
                                                    "TMPDIR to a folder ccaudit may write in\n")
    assert db.exists() == made
    if made:
        with Store(str(db)) as store:
            with pytest.raises(CcauditError, match="not a folder, given as TMPDIR"):
                load_dumps([str(sample_cli)], store, workers=0)
            assert store.unfinished == []
        monkeypatch.delenv("TMPDIR")
        assert invoke("check", "--db", db, "--max", "*:*=1000/h", "--strict").exit_code == 0


@pytest.mark.parametrize("name, owner", [
    ("ccaudit-2024-05-06", None),  # a user's own folder that happens to look like ours
    (f"{tempdirs.TEMP_PREFIX}1-x", None),  # no owner file
    (f"{tempdirs.TEMP_PREFIX}2-x", "{pid} pid:[1]"),  # another pid namespace (a shared TMPDIR)
])
def test_other_folders_in_tmpdir_are_left_alone(tmpdir_env, name, owner):
    folder = tmpdir_env / name
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    if owner:
        (folder / tempdirs.OWNER).write_text(owner.format(pid=dead_pid()) + "\n")
    tempdirs.remove_stale_temp_dirs()
    assert (folder / "notes.txt").read_text() == "mine"


def test_an_interrupted_write_leaves_no_temporary_file(tmp_path):
    def pieces():
        yield "half"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        files.write_atomic(str(tmp_path / "r.txt"), pieces())
    assert os.listdir(tmp_path) == []


def test_a_pipe_is_written_to_not_replaced(tmp_path):
    # a pipe named itself; a link to one outside /dev is replaced (test_output.py)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo).read()))
    reader.start()
    files.write_atomic(str(fifo), "the report\n")
    reader.join(timeout=10)
    assert got == ["the report\n"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_another_users_pipe_is_replaced_not_written_to(tmp_path, monkeypatch):
    # was: a pipe planted in a shared folder under the report's name got the report, and the
    # one who planted it read every email in it
    fifo = tmp_path / "leak.txt"
    os.mkfifo(fifo)
    monkeypatch.setattr(os, "geteuid", lambda: fifo.stat().st_uid + 1)
    files.write_atomic(str(fifo), "the report\n")  # no reader: it would have waited for one
    assert not stat.S_ISFIFO(fifo.lstat().st_mode) and fifo.read_text() == "the report\n"


def test_a_link_in_proc_to_a_file_is_written_through_and_appended(tmp_path):
    # /proc/self/fd/N (as /dev/stdout when standard output goes to a file) leads to a
    # regular file: it was taken for a file to replace, which failed here, and replaced
    # /dev/stdout itself for every process of the machine (as root)
    target = tmp_path / "log.txt"
    target.write_text("before\n")
    with open(target, "a") as held:
        files.write_atomic(f"/proc/self/fd/{held.fileno()}", "the report\n")
    assert target.read_text() == "before\nthe report\n"  # appended, as `>> log.txt` asks
    assert os.listdir(tmp_path) == ["log.txt"]


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="needs /dev/shm")
def test_a_link_planted_in_dev_shm_is_replaced_not_written_through(tmp_path):
    # /dev/shm is writable by everyone: only /dev's own links and descriptors' are written through
    target = tmp_path / "victim.txt"
    target.write_text("mine\n")
    folder = tempfile.mkdtemp(dir="/dev/shm")
    try:
        link = os.path.join(folder, "r.txt")
        os.symlink(target, link)
        files.write_atomic(link, "the report\n")
        assert target.read_text() == "mine\n"
        assert not os.path.islink(link) and open(link).read() == "the report\n"
    finally:
        shutil.rmtree(folder)


def test_standard_output_sent_to_a_file_gets_the_report_and_dev_stdout_stays(tmp_path, sample_cli):
    before = os.readlink("/dev/stdout") if os.path.islink("/dev/stdout") else None
    out = tmp_path / "report.txt"
    with open(out, "w") as f:
        proc = subprocess.run([sys.executable, "-m", "ccaudit", "report", str(sample_cli), "-q", "-o", "/dev/stdout"],
                              stdout=f, stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("Audit Summary for 13 events")
    assert (os.readlink("/dev/stdout") if os.path.islink("/dev/stdout") else None) == before


def test_a_reader_of_dev_stdout_that_goes_away_exits_141(sample_cli):
    proc = subprocess.Popen([sys.executable, "-m", "ccaudit", "report", str(sample_cli), "-q", "-o", "/dev/stdout"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and "error" not in err, err


def test_a_missing_parent_is_refused(tmp_path):
    with pytest.raises(CcauditError, match="no folder"):
        folders.make_dir(str(tmp_path / "typo" / "reports"))


def test_ctrl_c_just_after_the_temporary_file_is_made_leaves_no_file(tmp_path, monkeypatch):
    # Ctrl-C arrives the moment the temporary file is made, before write_atomic's try: it
    # must wait until it is in the try, which removes the file on the way out
    made = folders.Folder.create

    def interrupted(*args, **kwargs):
        found = made(*args, **kwargs)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # Python's handler raises KeyboardInterrupt
        return found

    monkeypatch.setattr(folders.Folder, "create", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomic(str(tmp_path / "r.txt"), "the report\n")
    assert os.listdir(tmp_path) == []
    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == set()


def test_text_and_utf8_bytes_are_written_in_their_order(tmp_path):
    path = tmp_path / "r.txt"
    files.write_atomic(str(path), ["día ", "über ".encode(), "→ ", b"", "end\n"])
    assert path.read_text(encoding="utf-8") == "día über → end\n"


@pytest.mark.parametrize("encoding, takes", [("utf-8", True), ("UTF8", True), ("utf-16", False), ("latin-1", False)])
def test_only_a_utf8_writer_takes_bytes(tmp_path, encoding, takes):
    with open(tmp_path / "f", "w", encoding=encoding) as f:
        assert files.takes_utf8(f) is takes
    assert files.takes_utf8(object()) is False


# -- half-written files of killed runs ------------------------------------------------------

@pytest.fixture
def unswept(monkeypatch):
    monkeypatch.setattr(folders, "_swept", set())


def killed_while_writing(path) -> str:
    """The hidden half-written file a run leaves when SIGKILL (or the OOM killer) stops it."""
    code = ("import os, sys\nfrom ccaudit.files import replacing\n"
            "with replacing(sys.argv[1]) as f:\n    f.write('half')\n    f.flush()\n    os.kill(os.getpid(), 9)\n")
    before = set(os.listdir(path.parent))
    subprocess.run([sys.executable, "-c", code, str(path)], check=False)
    (part,) = set(os.listdir(path.parent)) - before
    return part


def aged(path, seconds=120):
    os.utime(path, (os.stat(path).st_atime - seconds, os.stat(path).st_mtime - seconds))


def test_a_killed_runs_half_written_file_is_removed_by_the_next_write_there(tmp_path, unswept):
    # was: a hidden .audit.jsonl.XXXX.part, up to a gigabyte, that no later run removed
    part = killed_while_writing(tmp_path / "audit.jsonl")
    aged(tmp_path / part)
    files.write_atomic(str(tmp_path / "report.txt"), "report\n")
    assert sorted(os.listdir(tmp_path)) == ["report.txt"]


def test_half_written_files_of_live_or_recent_writers_and_others_files_stay(tmp_path, unswept):
    import fcntl

    dead = tmp_path / killed_while_writing(tmp_path / "a.jsonl")
    live = tmp_path / ".b.jsonl.ccaudit-x1y2z3w4.part"  # its writer is still running
    live.write_text("x")
    recent = tmp_path / killed_while_writing(tmp_path / "c.jsonl")  # killed a moment ago: maybe not yet locked
    foreign = tmp_path / ".d.jsonl.x1y2.part"  # not ccaudit's
    users = tmp_path / "thesis.ccaudit-notes.part"  # a user's own, with ccaudit's mark in its name: was removed
    for p in (foreign, users):
        p.write_text("x")
    for p in (dead, live, foreign, users):
        aged(p)
    with open(live) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        files.write_atomic(str(tmp_path / "report.txt"), "report\n")
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, recent.name, foreign.name, users.name, "report.txt"])


def test_a_file_system_without_locks_still_takes_the_file(tmp_path, unswept, monkeypatch):
    # sshfs, some SMB mounts: flock fails with ENOLCK; the report must still be written
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))
    monkeypatch.setattr(fcntl, "flock", no_locks)
    files.write_atomic(str(tmp_path / "report.txt"), "report\n")
    assert (tmp_path / "report.txt").read_text() == "report\n"


def test_a_folder_made_by_another_run_between_the_check_and_the_mkdir_is_used(tmp_path, monkeypatch):
    # was "cannot create: File exists", when two reports made the same new folder at once
    folder, checked = tmp_path / "reports", []
    real = folders.check_dir

    def made_meanwhile(path):
        if not checked:
            checked.append(path)
            os.mkdir(path)  # by the other run, after this one found it missing
            return False
        return real(path)

    monkeypatch.setattr(folders, "check_dir", made_meanwhile)
    folders.make_dir(str(folder))
    assert folder.is_dir() and checked


def test_a_folder_on_a_file_system_without_locks_is_written_into(tmp_path, monkeypatch):
    # flock there fails with ENOLCK: would have been an internal error (exit 70) for a report's --out
    import errno

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(folders.fcntl, "flock", no_locks)
    with folders.writing_into(str(tmp_path / "reports")):
        (tmp_path / "reports" / "summary.txt").write_text("x")
    assert (tmp_path / "reports" / "summary.txt").exists()


@pytest.mark.parametrize("named", ["descriptor", "fifo"])
def test_an_interrupted_write_into_a_pipe_whose_reader_went_tells_the_interruption(tmp_path, named):
    # `download --out /dev/stdout | reader`, Ctrl-C to both: the flush as the file closed met a
    # broken pipe, which replaced the Ctrl-C (exit 141, nothing said, where 130 says what was written)
    if named == "fifo":
        os.mkfifo(path := str(tmp_path / "f"))
        reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        out = None
    else:
        reader, out = os.pipe()
        path = f"/dev/fd/{out}"
    try:
        with pytest.raises(KeyboardInterrupt):
            with files.write_on(path, binary=True) as f:
                f.write(b"x" * 100)  # (buffered: written at close)
                os.close(reader)
                raise KeyboardInterrupt
    finally:
        if out is not None:
            os.close(out)

"""Standard streams that a parent left non-blocking (a CI runner written for Node, say): a
read of such a pipe gives nothing before data comes, and a write drops what does not fit.

Each test starts ccaudit with a pipe made non-blocking in the child, and writes to it (or
reads from it) only after a pause, so the first read or write finds the pipe empty or full.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.records import signin, write_jsonl

PAUSE = 0.5  # s before the other end of the pipe is used


def _nonblocking(fd: int):
    return lambda: os.set_blocking(fd, False)


def test_a_dump_piped_into_a_nonblocking_stdin_is_read_whole(ccaudit_exe, tmp_path, sample_cli):
    # was "loaded 0 records", exit 0: the first empty read was taken for the input's end
    proc = subprocess.Popen([ccaudit_exe, "load", "-", "--db", str(tmp_path / "s.db"), "-q"], stdin=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_nonblocking(0))
    time.sleep(PAUSE)
    _, err = proc.communicate(sample_cli.read_bytes(), timeout=60)
    assert proc.returncode == 0 and b"loaded 14 records: 13 new, 1 duplicate" in err, err


def test_a_report_to_a_nonblocking_stdout_is_written_whole(ccaudit_exe, tmp_path):
    # was cut at the pipe's 64 KiB, exit 0: the writes that did not fit were dropped
    dump = write_jsonl(tmp_path, (signin(f"2024-05-07T{i % 24:02d}:00:00Z", f"user{i}@example.com", id=f"e{i}")
                                  for i in range(3000)))
    args = [ccaudit_exe, "report", dump, "--format", "json"]
    whole = subprocess.run(args, capture_output=True, check=True, timeout=60)
    assert len(whole.stdout) > 4 * 2**16
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_nonblocking(1))
    time.sleep(PAUSE)  # the pipe fills meanwhile
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err, out) == (0, whole.stderr, whole.stdout)


def test_the_library_reads_a_nonblocking_stdin_whole_and_leaves_it_as_it_was(tmp_path, sample_cli, root):
    code = ("import os, sys\n"
            "from ccaudit import Store, load_dumps\n"
            "os.set_blocking(0, False)\n"
            "with Store(sys.argv[1]) as store:\n"
            "    stats = load_dumps(['-'], store)\n"
            "print(stats.inserted, os.get_blocking(0))\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "s.db")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=root)
    time.sleep(PAUSE)
    out, err = proc.communicate(sample_cli.read_bytes(), timeout=60)
    assert out.split() == [b"13", b"False"], err


def test_the_streams_are_given_back_non_blocking_as_the_parent_left_them(ccaudit_exe, tmp_path, sample_cli):
    # was: left blocking after the run; the flag is the parent's too (one that reads until
    # EAGAIN, as Node does, would wait for ever)
    db = tmp_path / "s.db"
    subprocess.run([ccaudit_exe, "load", str(sample_cli), "--db", str(db), "-q"], check=True, timeout=60,
                   stderr=subprocess.DEVNULL)
    read_end, write_end = os.pipe()
    try:
        for fd in (read_end, write_end):
            os.set_blocking(fd, False)
        subprocess.run([ccaudit_exe, "summary", "--db", str(db)], stdin=read_end, stdout=write_end, timeout=60,
                       check=True)
        assert not os.get_blocking(read_end) and not os.get_blocking(write_end)
        assert os.read(read_end, 1 << 16).startswith(b"Audit Summary")
    finally:
        os.close(read_end)
        os.close(write_end)

"""The progress line: one line redrawn in place on a terminal of any width, and safe to show."""
from __future__ import annotations

import fcntl
import os
import select
import struct
import sys
import termios

import pytest

from ccaudit.progress import Progress, on_terminal, redraw
from ccaudit.text import columns


@pytest.fixture
def terminal():
    """``terminal(columns)``: a text stream on a pseudo-terminal that wide, and what it was sent."""
    opened = []

    def make(width: int):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, width, 0, 0))
        stream = open(slave, "w", encoding="utf-8")  # noqa: SIM115  (closed below)
        opened.append((master, stream))
        return stream, lambda: received(master)

    yield make
    for master, stream in opened:
        stream.close()
        os.close(master)


def received(master: int) -> str:
    """What the terminal was sent: the kernel hands a pseudo-terminal's bytes on in its own
    time, so a read may come before the last write's bytes (seen once in CI)."""
    sent = b""
    while select.select([master], [], [], 0.2)[0]:
        sent += os.read(master, 65536)
    return sent.decode()


def drawn(sent: str) -> str:
    assert sent.startswith("\r\x1b[K") and sent.count("\x1b") == 1, repr(sent)
    return sent[len("\r\x1b[K"):]


@pytest.mark.parametrize("width", [40, 80])
def test_a_long_file_name_is_cut_from_the_start_to_fit_the_terminal(terminal, width):
    # was: the whole line was written; wrapped, every redraw left a row behind
    stream, sent = terminal(width)
    Progress(stream)("archive/confluent-audit/2024/05/" * 3 + "audit-2024-05-06.jsonl", 5 * 2**20, 537 * 2**20, 4510)
    line = drawn(sent())
    assert columns(line) == width - 1 and line.startswith("...")
    if width == 80:  # room for the numbers and the end of the name
        assert "-05-06.jsonl:   1% of 537 MiB, 4,510 records, " in line and line.endswith("/s")


def test_a_file_name_is_shown_printable(terminal):
    # a name chosen by whoever made the file: its escape sequences went to the terminal as they were
    stream, sent = terminal(200)
    Progress(stream)("dump\x1b]0;owned\x07.jsonl", 1, None, 1)
    assert drawn(sent()).startswith("dump\\x1b]0;owned\\x07.jsonl: 0 MiB, 1 record, ")  # was "1 records"


def test_wide_characters_are_counted_in_columns(terminal):
    stream, sent = terminal(40)
    Progress(stream)("審計" * 20 + ".jsonl", 1, None, 1)
    assert columns(drawn(sent())) <= 39


def test_a_download_line_is_cut_at_its_end(terminal):
    stream, sent = terminal(30)
    redraw(stream, "1,234 records, 5.0 MB, lag 99,999 (p3 50,000, p1 40,000, p0 9,999), 1,000 records/s")
    assert drawn(sent()) == "1,234 records, 5.0 MB, lag 99"


@pytest.mark.parametrize("stop", [KeyboardInterrupt, OSError])
def test_a_load_stopped_by_ctrl_c_or_an_error_erases_its_line(terminal, monkeypatch, stop):
    # was: "ccaudit: interrupted" (or the error) written at the end of the progress line
    from ccaudit import load, options

    stream, sent = terminal(80)
    monkeypatch.setattr(sys, "stderr", stream)

    def stopped(dumps, store, progress):
        progress("dump.jsonl", 1, 2, 1)
        raise stop

    monkeypatch.setattr(load, "load_dumps", stopped)
    with pytest.raises(stop):
        options.load(("dump.jsonl",), None, quiet=False)
    assert sent().endswith("/s\r\x1b[K")


def test_no_progress_on_a_dumb_terminal(terminal, monkeypatch):
    """TERM=dumb cannot clear a line: the redrawn line would show as ``^[[K`` over and over."""
    stream, _ = terminal(80)
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setenv("TERM", "xterm")
    assert on_terminal(quiet=False) and not on_terminal(quiet=True)
    monkeypatch.setenv("TERM", "dumb")
    assert not on_terminal(quiet=False)


def test_a_load_whose_terminal_went_away_ends_whole(tmp_path, ccaudit_exe):
    # was exit 2 ("cannot write to standard output") and a load left part way: the next
    # redraw on a terminal that is gone (a dropped ssh session, its SIGHUP ignored) failed, EIO
    import subprocess

    dump = tmp_path / "big.jsonl"
    assert subprocess.run([sys.executable, "-m", "benchmarks.generate", "60000", str(dump), "--format", "jsonl",
                           "--seed", "3"], capture_output=True, timeout=120).returncode == 0
    master, slave = os.openpty()
    env = {k: v for k, v in os.environ.items() if k != "TERM"}
    proc = subprocess.Popen([ccaudit_exe, "load", str(dump), "--db", str(tmp_path / "s.db")], stderr=slave,
                            stdout=subprocess.DEVNULL, env=env)
    os.close(slave)
    assert select.select([master], [], [], 60)[0] and os.read(master, 1 << 16)  # the progress line, drawn
    os.close(master)  # the terminal goes away: its next redraw, or the line's erasing, fails with EIO
    assert proc.wait(timeout=120) == 0
    check = subprocess.run([ccaudit_exe, "summary", "--db", str(tmp_path / "s.db"), "--format", "json"],
                           capture_output=True, text=True, timeout=60)
    assert check.stderr == "" and '"events": 60000' in check.stdout.replace(" ", "").replace('":', '": ')


def test_a_load_of_stdin_from_a_file_tells_how_far_it_has_read(tmp_path, monkeypatch):
    # `load - < dump`: its reads, watched for pauses (streams.Waiting), said 0 bytes read
    import io
    import sys

    from ccaudit.load import load_dumps
    from ccaudit.store import Store
    from tests.records import kafka_auth, write_jsonl

    dump = write_jsonl(tmp_path, [kafka_auth(f"2024-05-06T10:{i % 60:02d}:00Z", id=f"e{i}") for i in range(12_000)])
    told = []
    with open(dump, "rb") as f, Store(str(tmp_path / "s.db")) as store:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(f))
        load_dumps(["-"], store, progress=lambda label, done, total, records: told.append((done, records)))
    assert any(0 < done < os.path.getsize(dump) for done, records in told if records == 10_000), told

"""Shared fixtures for the core test suite.

* ``--update-golden`` rewrites tests/golden/* from the current output instead of comparing
  (then read the diff before keeping it: a golden file is only as right as its review).
* ``sample_cli`` and friends: paths of the hand-made fixtures in ``fixtures/``.
* ``expected_sample``: what ``fixtures/sample-cli.txt`` must give, counted by hand (see the
  comments there), never computed by ccaudit.
* ``invoke``: runs the click command in-process (CliRunner) and checks what must hold for
  every run: no traceback, no "internal error", and stdout/stderr kept apart.
* ``run_ccaudit``: runs the installed ``ccaudit`` executable as a subprocess, with the same
  checks.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
GOLDEN = Path(__file__).resolve().parent / "golden"


def pytest_addoption(parser):
    try:
        parser.addoption("--update-golden", action="store_true", default=False,
                         help="rewrite tests/golden/* from the current output instead of comparing")
    except ValueError:  # already added (another conftest or plugin)
        pass
    try:
        parser.addoption("--run-memory", action="store_true", default=False,
                         help="also run the memory-growth tests of tests/test_memory.py (a few minutes: "
                              "generated dumps of up to 400k records or keys; `make test-memory`)")
    except ValueError:
        pass


def pytest_configure(config):
    # A suite started in the background of a script (`make test &`) or under nohup inherits
    # Ctrl-C ignored, and so would each ccaudit it starts: the tests that press Ctrl-C would
    # see a run go on through it, as it rightly does there. They stand for a terminal.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def update_golden(request) -> bool:
    return bool(request.config.getoption("--update-golden", default=False))


@pytest.fixture
def golden(update_golden):
    """``golden(name, output)``: ``output`` (text or bytes) against tests/golden/NAME, byte for
    byte; with ``--update-golden``, NAME is rewritten from it instead (then review the diff).
    Golden files are named ``<command>--<input>.<ext>``."""

    def compare(name: str, output) -> None:
        data = output.encode("utf-8") if isinstance(output, str) else output
        path = GOLDEN / name
        if update_golden:
            path.write_bytes(data)
            return
        assert path.exists(), f"{path} is missing: run pytest --update-golden, then review it"
        assert path.read_bytes() == data, f"output differs from {path} (pytest --update-golden rewrites it)"

    return compare


# -- fixture files --------------------------------------------------------------------

@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture
def at_root(monkeypatch) -> Path:
    """Run the test from the repository root, so outputs name inputs as fixtures/..."""
    monkeypatch.chdir(ROOT)
    return ROOT


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def sample_cli() -> Path:
    return FIXTURES / "sample-cli.txt"


# The 14 records of sample-cli.txt in the other shapes (fixtures/make_variants.py); each must
# give the same 13 events, with no noise and nothing malformed.
VARIANTS = ("sample-array.json.gz", "sample-pretty.json.bz2", "sample.jsonl.xz", "sample-prefixes.txt")


def _hours(**cells: int) -> list[int]:
    """24 hour counts from h07=2 style keyword arguments."""
    hours = [0] * 24
    for name, n in cells.items():
        hours[int(name[1:])] = n
    return hours


# What fixtures/sample-cli.txt holds, counted by hand from the file (36 lines):
#
#   record lines (14): 1 3 5 7 9 11 13 17 19 21 23 25 27 29; line 29 repeats the id of line 9
#                      (…0005), so 13 distinct events and 1 duplicate.
#   noise (16):        14 "% Headers: ..." lines (2 4 ... 14, 18 20 ... 30), the blank line 15,
#                      and line 16 "% Error: ..." (starts with "%").
#   malformed (6):     31 "not json at all"; 32 valid JSON without data.methodName;
#                      33 time "yesterday"; 34 JSON + " trailing"; 35 Java Map.toString();
#                      36 a record cut in half (no newline at the end of the file).
#   14 + 16 + 6 = 36 lines.
#
# Events by UTC date and hour (line: time as written -> UTC hour):
#   2024-05-06  1: 07:08:09.123Z -> 07   kafka.Authentication  User:sa-q1w2e3, SUCCESS
#               3: 07:59:59Z     -> 07   kafka.Authentication  User:sa-q1w2e3, SUCCESS
#               5: 08:00:00.000000001Z -> 08  kafka.Authentication  None:UNKNOWN_USER, UNAUTHENTICATED
#               7: 09:10:11.222Z -> 09   mds.Authorize  User:u-8p71o5  AccessMetrics
#               9: 09:40:00.5Z   -> 09   mds.Authorize  User:u-8p71o5  AccessMetrics
#              11: 11:30:00+02:00 -> 09  mds.Authorize  User:u-8p71o5  CreateFlinkComputePoolWithAVeryLongName
#              13: 23:59:59.999999Z -> 23  mds.Authorize  User:sa-zz9, no operation -> "(none)"
#   2024-05-07 17: 00:00:00Z (Partition/Offset prefix) -> 00  SignIn alice, authN result SUCCESS
#              19: 05:06:07.806Z -> 05   SignIn FAILURE; errors[0] has no status, errors[1] "401"
#              21: 05:30:00Z     -> 05   SignIn bob, FAILURE, no errors -> key is the email alone
#              23: 05:45:00Z     -> 05   SignIn carol, no authN result -> result.status SUCCESS
#              25: 05:50:00.123456Z -> 05  CreateAPIKey (all_events only)
#   2024-05-08  no events (a gap day, still listed)
#   2024-05-09 27: 12:00:00Z     -> 12   GetKafkaClusters (object principal, service account)
EXPECTED_SAMPLE = {
    "load": {
        "records_read": 14, "inserted": 13, "duplicates": 1, "noise_lines": 16, "malformed": 6,
        "malformed_line_numbers": [31, 32, 33, 34, 35, 36],
    },
    "per_day": {"2024-05-06": 7, "2024-05-07": 5, "2024-05-08": 0, "2024-05-09": 1},
    "events": 13,
    # date -> section -> key -> 24 hour counts (UTC); sections not listed are empty that day
    "cells": {
        "2024-05-06": {
            "kafka_authentication": {
                "None:UNKNOWN_USER (UNAUTHENTICATED)": _hours(h08=1),
                "sa-q1w2e3": _hours(h07=2),
            },
            "mds_authorize": {
                "sa-zz9-(none)": _hours(h23=1),
                "u-8p71o5-AccessMetrics": _hours(h09=2),
                "u-8p71o5-CreateFlinkComputePoolWithAVeryLongName": _hours(h09=1),
            },
            "all_events": {
                "kafka.Authentication": _hours(h07=2, h08=1),
                "mds.Authorize": _hours(h09=3, h23=1),
            },
        },
        "2024-05-07": {
            "signin_failure": {
                "a.very.long.email.address.for.testing@example-corporation.com (401)": _hours(h05=1),
                "bob@example.com": _hours(h05=1),
            },
            "signin_success": {
                "alice@example.com": _hours(h00=1),
                "carol@example.com": _hours(h05=1),
            },
            "all_events": {
                "CreateAPIKey": _hours(h05=1),
                "SignIn": _hours(h00=1, h05=3),
            },
        },
        "2024-05-08": {},
        "2024-05-09": {
            "all_events": {"GetKafkaClusters": _hours(h12=1)},
        },
    },
}
SECTION_IDS = ("kafka_authentication", "mds_authorize", "signin_failure", "signin_success", "all_events")


@pytest.fixture(scope="session")
def expected_sample() -> dict:
    return EXPECTED_SAMPLE


@pytest.fixture(scope="session")
def section_ids() -> tuple:
    return SECTION_IDS


@pytest.fixture(scope="session")
def variants() -> tuple:
    return VARIANTS


def cells_of_report_json(doc: dict) -> dict:
    """date -> section -> key -> hours, from ``report --format json`` (empty sections dropped)."""
    out = {}
    for day in doc["days"]:
        out[day["date"]] = {sid: {r["key"]: r["hours"] for r in s["rows"]}
                            for sid, s in day["sections"].items() if s["rows"]}
    return out


@pytest.fixture(scope="session")
def report_cells():
    return cells_of_report_json


# -- running ccaudit ------------------------------------------------------------------

def check_streams(stdout: str, stderr: str) -> None:
    """What must hold for every run, whatever the input."""
    assert "Traceback" not in stderr, stderr
    assert "Traceback" not in stdout, stdout
    assert "internal error" not in stderr, stderr


@pytest.fixture
def invoke():
    """``invoke(*args, input=None, env=None)`` -> click Result, stdout and stderr apart."""
    from click.testing import CliRunner

    from ccaudit.cli import cli

    def run(*args, input=None, env=None):
        runner = CliRunner()
        result = runner.invoke(cli, [str(a) for a in args], input=input, env=env, catch_exceptions=True)
        check_streams(result.stdout, result.stderr)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"uncaught {result.exception!r}; stderr: {result.stderr}") from result.exception
        return result

    return run


def ccaudit_executable() -> str:
    exe = Path(sys.executable).with_name("ccaudit")
    if exe.exists():
        return str(exe)
    found = shutil.which("ccaudit")
    if not found:
        pytest.skip("the ccaudit executable is not installed (pip install -e .)")
    return found


def stderr_until(proc: subprocess.Popen, words: str, seconds: float = 30) -> bytes:
    """What ``proc`` says on stderr (a pipe) until it has said ``words``, has ended, or
    ``seconds`` have passed: a command that waits says so, and waits on."""
    import select
    import time

    said, deadline = b"", time.monotonic() + seconds
    while words.encode() not in said and time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stderr], [], [], 0.2)[0]:
            said += os.read(proc.stderr.fileno(), 4096)  # type: ignore[union-attr]  # a pipe
    return said


@pytest.fixture(scope="session")
def ccaudit_exe() -> str:
    return ccaudit_executable()


@pytest.fixture
def run_ccaudit(ccaudit_exe):
    """``run_ccaudit(*args, input=bytes, cwd=None, timeout=60)`` -> CompletedProcess (text)."""

    def run(*args, input: bytes | None = None, cwd=None, timeout: float = 60, **kw):
        env = dict(os.environ)
        env.pop("CCAUDIT_DEBUG", None)
        proc = subprocess.run([ccaudit_exe, *map(str, args)], input=input, capture_output=True, check=False,
                              cwd=cwd, timeout=timeout, env=env, **kw)
        out = proc.stdout.decode("utf-8", "replace")
        err = proc.stderr.decode("utf-8", "replace")
        check_streams(out, err)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    return run

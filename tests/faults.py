"""Helpers for tests/test_faults.py (not collected: the name has no ``test_`` prefix).

* ``generate_dumps``: dumps written by ``python -m benchmarks.generate`` (in parallel), each with
  its truth file read back; ``Expected`` adds the truths of several dumps loaded into one store.
* ``Ccaudit``: the installed executable run as real processes, each in its own session (so the
  process and its parse workers form one process group that can be signalled and cleaned up),
  with a private TMPDIR, and tmpfs mounts that are unmounted afterwards.
* ``check_report``/``check_per_day``: exact comparisons with a readable first difference.

Nothing here imports ccaudit: the processes under test are the installed ``ccaudit``.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
MiB = 2**20


# -- dumps and their truth ------------------------------------------------------------------

@dataclass(frozen=True)
class Dump:
    path: Path
    truth: dict

    @property
    def events(self) -> int:
        return self.truth["summary"]["events"]

    @property
    def load(self) -> dict:
        return self.truth["summary"]["load"]


def generate_dumps(folder: Path, specs: dict[str, tuple[int, str, list[str]]]) -> dict[str, Dump]:
    """``specs``: name -> (records, file name, extra generator options). Generated in parallel."""
    procs = {}
    for name, (n, filename, extra) in specs.items():
        path = folder / filename
        procs[name] = (path, subprocess.Popen(
            [sys.executable, "-m", "benchmarks.generate", str(n), str(path), *extra],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    dumps = {}
    for name, (path, proc) in procs.items():
        out = proc.communicate(timeout=300)[0].decode("utf-8", "replace")
        assert proc.returncode == 0, f"generating {name} failed: {out}"
        truth = json.loads(Path(str(path) + ".truth.json").read_text(encoding="utf-8"))
        dumps[name] = Dump(path, truth)
    return dumps


Cells = dict  # (date, section, key) -> 24 hour counts


def cells_of(days: list[dict]) -> Cells:
    """(date, section, key) -> hours, from the ``days`` of a report (or of a truth)."""
    return {(d["date"], sid, r["key"]): list(r["hours"])
            for d in days for sid, s in d["sections"].items() for r in s["rows"]}


class Expected:
    """What a store must hold after every one of ``dumps`` was loaded into it (their events are
    distinct: the dumps have different seeds)."""

    def __init__(self, *dumps: Dump):
        self.dumps = dumps
        self.per_day: dict[str, int] = {}
        self.cells: Cells = {}
        for dump in dumps:
            for date, n in dump.truth["summary"]["per_day"].items():
                self.per_day[date] = self.per_day.get(date, 0) + n
            for k, hours in cells_of(dump.truth["days"]).items():
                have = self.cells.setdefault(k, [0] * 24)
                for h, n in enumerate(hours):
                    have[h] += n
        self.per_day = dict(sorted(self.per_day.items()))
        self.events = sum(self.per_day.values())

    def methods(self) -> dict[str, int]:
        """methodName -> events (the all_events rows, over every day)."""
        out: dict[str, int] = {}
        for (_, sid, key), hours in self.cells.items():
            if sid == "all_events":
                out[key] = out.get(key, 0) + sum(hours)
        return out

    def section_keys(self) -> set[tuple[str, str]]:
        return {(sid, key) for (_, sid, key) in self.cells}


def _differences(got: dict, want: dict, limit: int = 5) -> str:
    diffs = []
    for k in sorted(set(got) | set(want), key=str):
        if got.get(k) != want.get(k):
            diffs.append(f"{k}: got {got.get(k)} want {want.get(k)}")
    more = f" (+{len(diffs) - limit} more)" if len(diffs) > limit else ""
    return "; ".join(diffs[:limit]) + more


def nonzero(per_day: dict) -> dict:
    """Days with events (a store may list empty days at the ends differently from the truth)."""
    return {d: n for d, n in per_day.items() if n}


def check_per_day(per_day: dict, expected: Expected, what: str) -> None:
    assert nonzero(per_day) == nonzero(expected.per_day), \
        f"{what}: events per day differ: {_differences(nonzero(per_day), nonzero(expected.per_day))}"


def check_report(doc: dict, expected: Expected, what: str = "report") -> None:
    """``report --format json``: events, events per day and every cell exactly as expected."""
    summary = doc["summary"]
    check_per_day(summary["per_day"], expected, what)
    assert summary["events"] == expected.events, f"{what}: {summary['events']} events, want {expected.events}"
    cells = cells_of(doc["days"])
    assert cells == expected.cells, f"{what}: cells differ: {_differences(cells, expected.cells)}"


def check_consistent(doc: dict, what: str) -> None:
    """A report shows one committed state: its totals agree with each other."""
    s = doc["summary"]
    assert sum(s["per_day"].values()) == s["events"], f"{what}: per_day does not add up to events"
    for day in doc["days"]:
        rows = day["sections"]["all_events"]["rows"]
        total = sum(r["total"] for r in rows)
        assert total == day["events"], f"{what}: {day['date']}: all_events rows add up to {total}, " \
                                       f"the day says {day['events']}"
        assert s["per_day"].get(day["date"], 0) == day["events"], f"{what}: {day['date']}: summary and day differ"


# -- running ccaudit ------------------------------------------------------------------------

class Result(NamedTuple):
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def lines(self) -> list[str]:
        """Non-empty stderr lines."""
        return [ln for ln in self.stderr.splitlines() if ln.strip()]

    def error_lines(self) -> list[str]:
        return [ln for ln in self.lines() if "error" in ln.lower()]

    def json(self) -> dict:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return f"`{' '.join(self.args[1:])}` exited {self.returncode}; stderr: {self.stderr.strip()!r}"


def python_starting(r: Result) -> bool:
    """Whether Ctrl-C came while Python ran the command's script, before ccaudit's first
    line (docs/design.md, "Ctrl-C"): Python's own traceback, of no ccaudit module, which no
    ccaudit code can catch. Landing while Python imports ``site`` (the venv's path hooks),
    it ends in Python's own ``Fatal Python error: init_import_site``, exit 1."""
    in_site = r.returncode == 1 and r.stderr.startswith("Fatal Python error: init_import_site")
    return (r.returncode == -signal.SIGINT or in_site) and r.stderr.rstrip().endswith("\nKeyboardInterrupt") and \
        not re.search(r'ccaudit/\w+\.py"', r.stderr)


def check_streams(r: Result) -> None:
    """What must hold for every run, whatever happened to it."""
    assert "Traceback" not in r.stderr or python_starting(r), str(r)
    assert "Traceback" not in r.stdout, str(r)
    assert "internal error" not in r.stderr, str(r)


def loaded_new(stderr: str) -> int | None:
    """N from the load summary line on stderr ("loaded ... records: N new, ...")."""
    m = re.search(r"loaded [\d,]+ records?: ([\d,]+) new", stderr)
    return int(m.group(1).replace(",", "")) if m else None


class Proc:
    """One ccaudit process in its own session: its process group is it and its workers."""

    def __init__(self, exe: str, args: Iterable, env: dict, preexec_fn: Callable[[], None] | None = None):
        self.args = [exe, *map(str, args)]
        self._out, self._err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        self.popen = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err,
                                      env=env, start_new_session=True, preexec_fn=preexec_fn)
        self.pid = self.popen.pid
        self.started = time.monotonic()
        self.result: Result | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def running(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int, group: bool = False) -> bool:
        """Send ``sig`` to the process (or its whole group); False if it had already exited."""
        if not self.running():
            return False
        with contextlib.suppress(ProcessLookupError):
            (os.killpg if group else os.kill)(self.pid, sig)
        return True

    def finish(self, timeout: float = 180) -> Result:
        if self.result is None:
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill_group()
                self.popen.wait()
                raise AssertionError(f"`{' '.join(self.args[1:])}` still running after {timeout} s") from None
            outs = []
            for f in (self._out, self._err):
                f.seek(0)
                outs.append(f.read().decode("utf-8", "replace"))
                f.close()
            self.result = Result(self.args, self.popen.returncode, *outs)
            check_streams(self.result)
        return self.result

    def group_alive(self) -> list[int]:
        return group_members(self.pid)

    def wait_group(self, timeout: float = 5.0) -> list[int]:
        """Wait for every process of the group (workers too) to end; the ones still alive."""
        wait_for(lambda: not self.group_alive(), timeout)
        return self.group_alive()

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry))
    return found


def wait_for(predicate: Callable[[], bool], timeout: float, poll: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(poll)
    return True


def ccaudit_dirs(tmpdir: Path) -> list[str]:
    """The ``ccaudit-*`` entries of a TMPDIR."""
    return sorted(p.name for p in tmpdir.iterdir() if p.name.startswith("ccaudit-")) if tmpdir.exists() else []


# -- mounts ---------------------------------------------------------------------------------

def _sh(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@lru_cache(maxsize=1)
def mount_unavailable() -> str | None:
    """None if this process can mount a tmpfs (root with CAP_SYS_ADMIN), else why not."""
    with tempfile.TemporaryDirectory(prefix="faults-mount-") as d:
        r = _sh("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", d)
        if r.returncode:
            return f"cannot mount a tmpfs: {r.stderr.strip() or r.returncode}"
        _sh("umount", d)
    return None


def fsize_limit(n: int) -> Callable[[], None]:
    """preexec_fn: writes past ``n`` bytes fail with EFBIG (SIGXFSZ ignored, so not a kill)."""
    def limit() -> None:
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
    return limit


# -- the fixture object ---------------------------------------------------------------------

@dataclass
class Ccaudit:
    """The installed ccaudit with a private TMPDIR; kills what it started and unmounts what it
    mounted when closed."""

    exe: str
    tmpdir: Path
    procs: list[Proc] = field(default_factory=list)
    mounts: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tmpdir.mkdir(parents=True, exist_ok=True)

    def env(self, tmpdir: Path | None = None) -> dict:
        env = dict(os.environ)
        env.pop("CCAUDIT_DEBUG", None)
        env.pop("SQLITE_TMPDIR", None)  # SQLite's temporary files go to TMPDIR too
        env["TMPDIR"] = str(tmpdir or self.tmpdir)
        return env

    def start(self, *args, tmpdir: Path | None = None, preexec_fn: Callable[[], None] | None = None) -> Proc:
        p = Proc(self.exe, args, self.env(tmpdir), preexec_fn)
        self.procs.append(p)
        return p

    def run(self, *args, timeout: float = 180, **kw) -> Result:
        return self.start(*args, **kw).finish(timeout)

    def read(self, db: Path) -> tuple[dict, dict]:
        """``summary`` and ``report`` of a store as JSON (run side by side); both must exit 0."""
        s = self.start("summary", "--db", db, "--format", "json")
        r = self.start("report", "--db", db, "--format", "json")
        rs, rr = s.finish(), r.finish()
        assert rs.returncode == 0, str(rs)
        assert rr.returncode == 0, str(rr)
        return rs.json(), rr.json()

    def check_store(self, db: Path, expected: Expected, what: str) -> None:
        """summary (events per day) and report (every cell) of ``db`` exactly as expected."""
        summary, report = self.read(db)
        check_per_day(summary["per_day"], expected, f"{what}: summary")
        assert summary["events"] == expected.events, f"{what}: summary: {summary['events']} events, " \
                                                     f"want {expected.events}"
        check_report(report, expected, f"{what}: report")

    # mounts
    def tmpfs(self, path: Path, size: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        r = _sh("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
        assert r.returncode == 0, f"mount tmpfs on {path}: {r.stderr}"
        self.mounts.append(path)
        return path

    def remount(self, path: Path, options: str) -> None:
        r = _sh("mount", "-o", f"remount,{options}", str(path))
        assert r.returncode == 0, f"remount {path} {options}: {r.stderr}"

    def close(self) -> None:
        for p in self.procs:
            p.kill_group()
            with contextlib.suppress(Exception):
                p.popen.wait(timeout=10)
            for f in (p._out, p._err):
                with contextlib.suppress(Exception):
                    f.close()
        for path in reversed(self.mounts):
            if _sh("umount", str(path)).returncode:
                _sh("umount", "-l", str(path))
        self.mounts.clear()


# A script's start: leave_free(n) leaves it n descriptors under a limit of 64 (each taken, then n given back).
FILES_LEFT = """\
import os, resource, sys


def leave_free(free):
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    taken = []
    try:
        while True:
            taken.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass
    for fd in taken[len(taken) - free:]:
        os.close(fd)
"""

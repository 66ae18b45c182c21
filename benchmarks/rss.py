"""Peak resident memory of a command *and all its descendants*, sampled from /proc.

ccaudit starts parse-worker processes, so the memory of a run is the sum over the whole
process tree, not the RSS of the first process. Every ``interval`` seconds the sampler
walks /proc, finds the processes descended from the command (by parent pid), and adds up
their resident set sizes; the largest sum seen is the peak.

    from benchmarks.rss import run_sampled
    r = run_sampled(["ccaudit", "load", "dump.txt", "--db", "x.db", "--quiet"])
    r.returncode, r.peak, r.max_procs

Linux only (needs /proc). Short-lived processes between two samples are missed, so this is
a lower bound; a 20 ms interval catches anything that lives long enough to matter.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass
class Sampled:
    returncode: int
    peak: int  # bytes: the largest summed RSS of the process tree
    max_procs: int  # the most processes seen in the tree at once
    samples: int
    seconds: float
    stdout: str = ""
    stderr: str = ""
    series: list = field(default_factory=list)  # (seconds since start, bytes, processes)


def available() -> bool:
    return os.path.isfile("/proc/self/statm") and os.path.isfile("/proc/self/stat")


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process visible in /proc."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        rest = stat[stat.rfind(b")") + 2:].split()
        try:
            out[int(name)] = int(rest[1])
        except (IndexError, ValueError):
            continue
    return out


def tree(root: int) -> list[int]:
    """``root`` and every process descended from it."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def rss(pid: int) -> int:
    """Resident bytes of one process (0 if it is gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(root: int) -> tuple[int, int]:
    """(summed RSS in bytes, number of live processes) of ``root``'s tree."""
    total = n = 0
    for pid in tree(root):
        r = rss(pid)
        if r:
            total += r
            n += 1
    return total, n


def run_sampled(cmd: list[str], interval: float = 0.02, timeout: float = 300, keep_series: bool = False,
                **popen_kwargs) -> Sampled:
    """Run ``cmd`` to the end, sampling its tree's RSS every ``interval`` seconds."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, **popen_kwargs)
        peak = max_procs = samples = 0
        series = []
        try:
            while True:
                # sample before polling: the tree is still whole while the root runs
                total, n = tree_rss(proc.pid)
                samples += 1
                peak, max_procs = max(peak, total), max(max_procs, n)
                if keep_series:
                    series.append((time.monotonic() - start, total, n))
                if proc.poll() is not None:
                    break
                if time.monotonic() - start > timeout:
                    proc.kill()
                    proc.wait()
                    raise TimeoutError(f"{cmd!r} ran longer than {timeout} s")
                time.sleep(interval)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        return Sampled(proc.returncode, peak, max_procs, samples, seconds,
                       out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"), series)


if __name__ == "__main__":  # python -m benchmarks.rss CMD...: print the peak of any command
    import sys

    r = run_sampled(sys.argv[1:])
    print(f"exit {r.returncode}, peak {r.peak / 2**20:.1f} MiB over {r.max_procs} processes, "
          f"{r.samples} samples in {r.seconds:.1f} s", file=sys.stderr)
    sys.exit(r.returncode)

"""Reports, filters and appends against a large store (default 10,000,000 events).

usage: python -m benchmarks.large_store [--events N] [--crowd] [--runs R] [--whole-runs R] [--timeout S]
                                        [--no-day] [--no-whole] [--no-append] [--build-only] [--ccaudit CMD]

Measures the targets of the store layout (docs/performance.md):

* store size: at most 150 bytes per event;
* every report and filter of the store within 1 s and 100 MiB (peak RSS of the process tree):
  text, json, html, CSV, markdown, ``--principal``, ``--method``, a ``--since``/``--until`` window
  at odd seconds, ``--tz`` of a half-hour, a 45-minute and a whole-hour zone (and html, json, CSV
  and ``--stats`` in the first: the formats that show each row's times),
  ``--top``, ``--stats``, ``--out DIR``,
  ``summary``, ``check`` and ``diff``; the same again for one day (``--since D --until D``), the
  typical interactive use;
* appends: loading a 150,000-event day into the large store takes at most 1.3x the time of
  loading it into an empty one.

The store (``bench-data/store-<N>-<layout>.db``, the layout a fingerprint of the tables ccaudit
creates, so a changed layout gets a new store) is built once and reused while it is there: N/1M
gzip'd JSON Lines weeks of the generator (1,000,000 records each, seeds 101, 102, ...,
consecutive weeks from 2024-01-01), loaded with one ``ccaudit load`` call. The weeks are kept
in bench-data/ (about 80 MB each) and shared between sizes (benchmarks/large_data.py). With
``--crowd`` the weeks and the appended day are the generator's ``--crowd`` ones (a large
organization: 5,000 principals acting Zipf-weighted, about 190 methods, thousands of topics,
groups and client addresses, so the store has many keys and details), in files and a store of
their own (``gen-crowd-...``, ``store-crowd-<N>-<layout>.db``). Every command runs ``--runs``
times, round-robin, under benchmarks/rss.py, with its output in a file (``-o``) or a folder
(``--out``); a run must exit 0. The append test loads the same day into a fresh copy of the
store (the copy is not timed) and into an empty store, alternately.
"""
from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from benchmarks import rss
from benchmarks.compare import DATA, ROOT, default_ccaudit, load_counts, machine, warm
from benchmarks.large_data import (
    FIRST_WEEK,
    day_job,
    ensure_generated,
    ensure_store,
    iso,
    log,
    store_stats,
    truth_events,
    week_plan,
)

TIME_LIMIT = 1.0  # s, per report
MEMORY_LIMIT = 100 * 2**20  # bytes, per report (process tree)
BYTES_LIMIT = 150  # per event
APPEND_LIMIT = 1.3  # append into the large store / into an empty one


def sampled(argv: list[str], timeout: float) -> tuple[rss.Sampled, float]:
    """Run ``argv`` under benchmarks/rss.py: the result and the CPU seconds (user + system) of
    its process tree (every process in it is waited for by its parent, so RUSAGE_CHILDREN has
    them all once it ends). On a shared machine, CPU time shows what wall time hides: the wait
    for a core."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = rss.run_sampled(argv, interval=0.02, timeout=timeout, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# -- the commands ----------------------------------------------------------------------------

@dataclass
class Command:
    """One row of the table: argv for a run folder, and its measurements."""

    name: str
    argv: object  # run_dir -> list[str]
    runs: list = field(default_factory=list)  # (seconds, peak bytes, exit code, CPU seconds)

    def best(self):
        return min(r[0] for r in self.runs)

    def median(self):
        return statistics.median(r[0] for r in self.runs)

    def peak(self):
        return max(r[1] for r in self.runs)

    def cpu(self):
        return min(r[3] for r in self.runs)

    def ok(self):
        return all(r[2] == 0 for r in self.runs)


def commands(cc: list[str], store: Path, weeks: int) -> tuple[list[Command], list[Command]]:
    """(the whole store's commands, the one-day ones). Times scale with the store: the window
    starts 70 % in (7 weeks of 10) at :07:13.5 and ends 3 days later at :41:02; diff splits the
    store at its middle week; the day is the window's first day."""
    s = str(store)
    day0 = FIRST_WEEK + timedelta(days=int(weeks * 7 * 0.7))
    since = day0 + timedelta(hours=10, minutes=7, seconds=13, microseconds=500_000)
    until = day0 + timedelta(days=3, hours=13, minutes=41, seconds=2)
    split = iso(FIRST_WEEK + timedelta(weeks=max(1, weeks // 2)))
    day, prev = day0.date().isoformat(), (day0 - timedelta(days=1)).date().isoformat()
    in_day = (iso(day0 + timedelta(hours=3, minutes=7, seconds=13, microseconds=500_000)),
              iso(day0 + timedelta(hours=20, minutes=41, seconds=2)))
    rule = "kafka_authentication:*=3600/h"  # the generator's bursts reach 3,600 an hour, never more

    slugs = iter(range(1000))  # output file names: the command names hold '/' and ':'

    def report(name, *extra, ext="txt"):
        out = "report-%03d.%s" % (next(slugs), ext)
        return Command(name, lambda d, extra=extra: [*cc, "report", "--db", s, *extra, "-o", str(d / out), "-q"])

    def build(window: list[str], label: str) -> list[Command]:
        w = window
        out = [
            report(label + "report text", *w),
            report(label + "report json", *w, "--format", "json", ext="json"),
            report(label + "report html", *w, "--format", "html", ext="html"),
            report(label + "report csv", *w, "--format", "csv", ext="csv"),
            report(label + "report markdown", *w, "--format", "markdown", ext="md"),
            report(label + "--principal 'sa-*'", *w, "--principal", "sa-*"),
            report(label + "--method 'mds.*'", *w, "--method", "mds.*"),
        ]
        if w:  # inside the day, at odd seconds
            out.append(report(label + "--since/--until :07:13.5-:41:02", "--since", in_day[0], "--until", in_day[1]))
        else:
            out.append(report("--since/--until %s..%s" % (since.strftime("%m-%dT%H:%M:%S.%f")[:-5],
                                                          until.strftime("%m-%dT%H:%M:%S")),
                              "--since", iso(since), "--until", iso(until)))
        out += [
            report(label + "--tz Asia/Kolkata", *w, "--tz", "Asia/Kolkata"),
            report(label + "--tz Asia/Kathmandu", *w, "--tz", "Asia/Kathmandu"),
            report(label + "--tz America/New_York", *w, "--tz", "America/New_York"),
            report(label + "html --tz Asia/Kolkata", *w, "--format", "html", "--tz", "Asia/Kolkata", ext="html"),
            report(label + "json --tz Asia/Kolkata", *w, "--format", "json", "--tz", "Asia/Kolkata", ext="json"),
            report(label + "csv --tz Asia/Kolkata", *w, "--format", "csv", "--tz", "Asia/Kolkata", ext="csv"),
            report(label + "--stats --tz Asia/Kolkata", *w, "--stats", "--tz", "Asia/Kolkata"),
            report(label + "--top 5", *w, "--top", "5"),
            report(label + "--stats", *w, "--stats"),
            Command(label + "report --out DIR", lambda d, w=w, out="out-day" if w else "out-all": [
                *cc, "report", "--db", s, *w, "--out", str(d / out), "-q"]),
        ]
        if not w:  # summary has no window
            out.append(Command("summary", lambda d: [*cc, "summary", "--db", s]))
        out.append(Command(label + "check --max '%s'" % rule, lambda d, w=w: [*cc, "check", "--db", s, *w,
                                                                              "--max", rule, "-q"]))
        if w:
            out.append(Command(label + "diff S S (day before vs day)", lambda d: [
                *cc, "diff", s, s, "--a-since", prev, "--a-until", prev, "--b-since", day, "--b-until", day, "-q"]))
        else:
            out.append(Command("diff S S --a-until/--b-since %s" % split[:10], lambda d: [
                *cc, "diff", s, s, "--a-until", split, "--b-since", split, "-q"]))
        return out

    return build([], ""), build(["--since", day, "--until", day], "day: ")


def run_commands(rows: list[tuple[Command, int]], timeout: float, tmp: Path) -> None:
    """Every command its number of runs, round-robin; each run in a fresh folder."""
    for i in range(max(n for _, n in rows)):
        run_dir = tmp / ("run%d" % i)
        run_dir.mkdir()
        for c, n in rows:
            if i >= n:
                continue
            argv = c.argv(run_dir)
            try:
                r, cpu = sampled(argv, timeout)
                c.runs.append((r.seconds, r.peak, r.returncode, cpu))
            except TimeoutError:
                r = None
                c.runs.append((timeout, 0, "timeout", float("nan")))
            s, peak, code, cpu = c.runs[-1]
            log("run %d %-48s %7.2f s  %6.2f s CPU  %6.1f MiB  exit %s" % (i + 1, c.name, s, cpu, peak / 2**20, code))
            if r is not None and r.returncode:
                log("  failed: %s\n  stderr tail:\n%s" % (shlex.join(argv), r.stderr[-1500:]))
        shutil.rmtree(run_dir)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def table(rows: list[Command]) -> list[str]:
    head = ("command", "runs", "best s", "median s", "CPU s", "peak MiB", "<= 1 s", "<= 100 MiB", "exit")
    out = []
    for c in rows:
        codes = ",".join(sorted({str(r[2]) for r in c.runs}))
        out.append((c.name, str(len(c.runs)), "%.2f" % c.best(), "%.2f" % c.median(), "%.2f" % c.cpu(),
                    "%.1f" % (c.peak() / 2**20),
                    "yes" if c.best() <= TIME_LIMIT else "NO", "yes" if c.peak() <= MEMORY_LIMIT else "NO", codes))
    widths = [max(len(r[i]) for r in out + [head]) for i in range(len(head))]
    fmt = "  ".join("%-" + str(widths[0]) + "s" if i == 0 else "%" + str(w) + "s" for i, w in enumerate(widths))
    return [fmt % head, "  ".join("-" * w for w in widths)] + [fmt % r for r in out]


# -- appends ---------------------------------------------------------------------------------

def append_test(cc: list[str], store: Path, last: datetime, runs: int, tmp: Path, crowd: bool = False) -> dict:
    """Load one generated day (a crowd day with ``crowd``) into a fresh copy of ``store`` and
    into an empty store, alternately (which goes first alternates too): seconds and peaks of each."""
    day = ensure_generated([day_job(last)], crowd=crowd)[0]
    want = truth_events(day)
    warm(day)
    result: dict = {"day": day, "events": want, "big": [], "empty": []}
    for i in range(runs):
        copy, empty = tmp / "copy.db", tmp / "empty.db"
        for p in (copy, empty):
            p.unlink(missing_ok=True)
        t0 = time.perf_counter()
        shutil.copyfile(store, copy)
        os.sync()  # the copy's dirty pages are written before the timed load, not during it
        copied = time.perf_counter() - t0
        order = (("big", copy), ("empty", empty)) if i % 2 == 0 else (("empty", empty), ("big", copy))
        for kind, db in order:
            r, cpu = sampled([*cc, "load", str(day), "--db", str(db), "-q"], 3600)
            counts = load_counts(r.stderr)
            check = "ok" if counts and counts[1:] == (want, 0) else "counted %s" % (counts,)
            result[kind].append((r.seconds, r.peak, r.returncode, check, cpu))
            log("append run %d into %-5s store %7.2f s  %6.2f s CPU  %6.1f MiB  exit %s  %s%s" % (
                i + 1, kind, r.seconds, cpu, r.peak / 2**20, r.returncode, check,
                "  (copy %.1f s, not timed)" % copied if kind == "big" else ""))
            if r.returncode:
                log("  stderr tail:\n%s" % r.stderr[-1500:])
        for p in (copy, empty):
            p.unlink(missing_ok=True)
    return result


# -- main ------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.large_store", description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=10_000_000, help="events in the store (default %(default)s)")
    ap.add_argument("--crowd", action="store_true", help="the store of the generator's --crowd weeks (many "
                    "principals, keys and details), and a crowd day appended")
    ap.add_argument("--runs", type=int, default=3, help="runs of each command (default %(default)s)")
    ap.add_argument("--whole-runs", type=int, help="runs of each whole-store command (default: --runs); at 10M "
                    "events a report of the whole store takes 2-7 s")
    ap.add_argument("--timeout", type=float, default=300, help="seconds one command may take (default %(default)s)")
    ap.add_argument("--no-day", dest="day", action="store_false", help="skip the one-day commands")
    ap.add_argument("--no-whole", dest="whole", action="store_false", help="skip the whole-store commands")
    ap.add_argument("--no-append", dest="append", action="store_false", help="skip the append test")
    ap.add_argument("--build-only", action="store_true", help="build the store (if missing) and stop")
    ap.add_argument("--ccaudit", help="command that runs ccaudit (default: .venv/bin/ccaudit, PATH, or -m)")
    a = ap.parse_args(argv)
    whole_runs = a.runs if a.whole_runs is None else a.whole_runs
    if min(a.runs, whole_runs, a.events) < 1:
        ap.error("--runs, --whole-runs and --events must be at least 1")
    if not rss.available():
        sys.exit("large_store: needs /proc (Linux) to sample peak RSS")
    cc = shlex.split(a.ccaudit) if a.ccaudit else default_ccaudit()
    head = machine()  # the load average before this run adds its own
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not (ROOT / "ccaudit" / "__pycache__").is_dir():
        head.append("note: PYTHONDONTWRITEBYTECODE is set: unless ccaudit's modules have a __pycache__ already, "
                    "every command compiles them first (about 0.05 s a command here; make bench-compare compiles "
                    "them once)")

    store, dumps, took = ensure_store(a.events, cc, a.crowd)
    st = store_stats(store)
    if a.build_only:
        print("%s: %s events, %.1f bytes/event" % (store, f"{st['events']:,}", st["size"] / st["events"]))
        return
    weeks, _ = week_plan(a.events)
    full, day = commands(cc, store, weeks)
    full, day = (full if a.whole else []), (day if a.day else [])
    rows = full + day
    plan = [(c, whole_runs) for c in full] + [(c, a.runs) for c in day]
    log("warming the page cache with %s (%.0f MB) ..." % (store, st["size"] / 1e6))
    warm(store)
    with tempfile.TemporaryDirectory(prefix="ccaudit-large-", dir=DATA) as tmp:
        if plan:
            run_commands(plan, a.timeout, Path(tmp))
        appended = append_test(cc, store, st["last"], a.runs, Path(tmp), a.crowd) if a.append else None

    print()
    for line in head:
        print(line)
    bpe = st["size"] / st["events"]
    print("store %s: %s events in %d week(s) (%s .. %s), %.1f MB, %.1f bytes/event%s" % (
        store, f"{st['events']:,}", len(dumps), st["first"].date(), st["last"].date(), st["size"] / 1e6, bpe,
        "" if took is None else "; built by one load in %.0f s" % took))
    print("  rows: %s" % ", ".join("%s %s" % (t, f"{n:,}") for t, n in st["rows"].items()))
    if st["tables"]:
        print("  bytes/event by table and index: %s" % ", ".join(
            "%s %.1f" % (t, b / st["events"]) for t, b in st["tables"].items() if b / st["events"] >= 0.05))
    print("round-robin runs (%d of each whole-store command, %d of the others); best and median wall time; CPU s: "
          "user + system of the process tree, best run; peak RSS of the process tree; output to files"
          % (whole_runs, a.runs))
    for line in table(rows):
        print(line)

    print("targets:")
    print("  %-52s %.1f  (target <= %d: %s)" % ("store size, bytes/event", bpe, BYTES_LIMIT,
                                                 verdict(bpe <= BYTES_LIMIT)))
    for label, group in (("whole store", full), ("one day", day)):
        if not group:
            continue
        slow = [c.name for c in group if c.best() > TIME_LIMIT]
        big = [c.name for c in group if c.peak() > MEMORY_LIMIT]
        print("  %-52s %d of %d within (slowest best %.2f s; by CPU time %d of %d)  %s" % (
            "reports <= 1 s, %s (best run)" % label, len(group) - len(slow), len(group),
            max(c.best() for c in group), sum(c.cpu() <= TIME_LIMIT for c in group), len(group), verdict(not slow)))
        if slow:
            print("      over 1 s: %s" % ", ".join(slow))
        print("  %-52s %d of %d within (largest %.1f MiB)  %s" % (
            "reports <= 100 MiB, %s" % label, len(group) - len(big), len(group),
            max(c.peak() for c in group) / 2**20, verdict(not big)))
        if big:
            print("      over 100 MiB: %s" % ", ".join(big))
    if appended:
        walls = {k: [r[0] for r in appended[k]] for k in ("big", "empty")}
        cpus = {k: min(r[4] for r in appended[k]) for k in ("big", "empty")}
        peaks = {k: max(r[1] for r in appended[k]) / 2**20 for k in ("big", "empty")}
        ratio = min(walls["big"]) / min(walls["empty"])
        ratio_med = statistics.median(walls["big"]) / statistics.median(walls["empty"])
        for k, what in (("big", "into the %s-event store" % f"{st['events']:,}"), ("empty", "into an empty store")):
            print("  append %s events (%s) %-27s best %.2f s, median %.2f s, CPU %.2f s, peak %.1f MiB" % (
                f"{appended['events']:,}", appended["day"].name, what + ":", min(walls[k]),
                statistics.median(walls[k]), cpus[k], peaks[k]))
        print("  %-52s %.2fx (median %.2fx, CPU %.2fx)  (target <= %.1fx: %s)" % (
            "append into large store / into empty", ratio, ratio_med, cpus["big"] / cpus["empty"], APPEND_LIMIT,
            verdict(ratio <= APPEND_LIMIT)))
    print("  (summed peak RSS of a load at 1M and 2M records: make bench-compare's benchmarks.compare)")

    failed = [c.name for c in rows if not c.ok()]
    if appended:
        failed += ["append into %s store" % k for k in ("big", "empty")
                   if any(r[2] or r[3] != "ok" for r in appended[k])]
    if failed:
        print("FAILED: %s" % ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()

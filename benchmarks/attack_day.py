"""A sign-in attack's day: failed sign-ins, each by a new email, loaded and reported.

usage: python -m benchmarks.attack_day [--records N] [--runs R] [--ccaudit CMD]

The worst shape of dump for a load and for html: every record brings a new key and a new
detail to number, and a counts row of one event to write; the day's sign-in failure
section has a key per record. The dump (``bench-data/attack-<N>.jsonl``, N records, default
300,000, over the 24 hours of 2024-05-07, written once and reused) is loaded into a fresh
store, and the store's report is written in each format, ``--runs`` times each,
round-robin, under benchmarks/rss.py. Each load must count N new events and each report
must exit 0. Prints wall time, CPU (user + system of the process tree), peak RSS (the
process tree), the load's events/s and the store's bytes per event.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.compare import DATA, default_ccaudit, load_counts, machine, warm
from benchmarks.large_store import log, sampled

DAY = "2024-05-07"
FORMATS = ("html", "text", "markdown", "csv", "json")


def attack_dump(records: int) -> Path:
    """N failed sign-ins in one day, each by a new email, as JSON Lines (made once)."""
    path = DATA / f"attack-{records}.jsonl"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        part = path.with_suffix(".part")
        with open(part, "w", encoding="utf-8") as f:
            for i in range(records):
                s = i * 86_400 // records
                email = f"user{i:07d}@example.com"
                f.write(json.dumps({
                    "id": f"attack-{i}", "time": f"{DAY}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z",
                    "type": "io.confluent.cloud/request",
                    "data": {"methodName": "SignIn", "result": {"status": "FAILURE"},
                             "authenticationInfo": {"principal": {"email": email}, "result": "FAILURE"}},
                }) + "\n")
        os.replace(part, path)
    return path


def _report(cc: list[str], db: Path, fmt: str, out: str):
    return lambda: [*cc, "report", "--db", str(db), "--format", fmt, "-q", "-o", out]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.attack_day", description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=300_000, help="failed sign-ins (default %(default)s)")
    ap.add_argument("--runs", type=int, default=2, help="runs of each command (default %(default)s)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds one command may take (default %(default)s)")
    ap.add_argument("--ccaudit", help="command that runs ccaudit (default: .venv/bin/ccaudit, PATH, or -m)")
    args = ap.parse_args(argv)
    cc = shlex.split(args.ccaudit) if args.ccaudit else default_ccaudit()
    print("\n".join(machine()), flush=True)
    dump = attack_dump(args.records)
    warm(dump)
    runs: dict[str, list[tuple[float, float, int]]] = {}
    size = 0
    with tempfile.TemporaryDirectory(prefix="ccaudit-attack-") as tmp:
        db = Path(tmp) / "store.db"
        commands = {
            "load": lambda: [*cc, "load", str(dump), "--db", str(db), "-q"],
            **{f"report {fmt}": _report(cc, db, fmt, f"{tmp}/r.{fmt}") for fmt in FORMATS},
        }
        for i in range(args.runs):
            db.unlink(missing_ok=True)
            for name, argv_of in commands.items():
                r, cpu = sampled(argv_of(), args.timeout)
                if r.returncode or (name == "load" and (load_counts(r.stderr) or (0, 0))[1] != args.records):
                    sys.exit(f"attack_day: {name} failed (exit {r.returncode}):\n{r.stderr[-1500:]}")
                runs.setdefault(name, []).append((r.seconds, cpu, r.peak))
                log("run %d %-15s %7.2f s  %6.2f s CPU  %6.1f MiB" % (i + 1, name, r.seconds, cpu, r.peak / 2**20))
            size = db.stat().st_size
    print(f"dump {dump}: {args.records:,} failed sign-ins in one day, each by a new email, "
          f"{dump.stat().st_size / 1e6:.1f} MB; store {size / 1e6:.1f} MB, {size / args.records:.0f} bytes/event")
    print(f"{args.runs} run(s) each, round-robin; best and median wall time; CPU s and peak of the best run")
    print(f"{'command':<15}  {'best s':>6}  {'median s':>8}  {'CPU s':>5}  {'peak MiB':>8}  {'events/s':>8}")
    for name, rows in runs.items():
        best = min(rows)
        rate = f"{args.records / best[0]:,.0f}" if name == "load" else ""
        print(f"{name:<15}  {best[0]:6.2f}  {statistics.median(r[0] for r in rows):8.2f}  {best[1]:5.2f}  "
              f"{best[2] / 2**20:8.1f}  {rate:>8}")


if __name__ == "__main__":
    main()

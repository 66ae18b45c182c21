"""ccaudit vs DuckDB on the same dump, side by side.

usage: python -m benchmarks.compare FILE [--runs 3] [--ccaudit CMD] [--duckdb-python PY]
                                    [--no-dedup] [--check-truth]

Runs, alternately and `--runs` times each, under /work/shared/tools/peak_rss_tree.py (peak RSS
of the whole process tree):
  (a) ccaudit report FILE --db <fresh tmp>.db --out <tmp dir> --quiet
  (b) benchmarks/duckdb_crosstabs.py FILE <tmp dir>   (the same five crosstabs in DuckDB SQL)
and prints wall time (best, median), events/s, MB/s (file size on disk), peak RSS and the
ratio ccaudit/DuckDB. The file is read once before timing so both start from a warm cache.
Events come from FILE.truth.json when it exists (else from DuckDB's count).
With --check-truth, DuckDB's crosstabs are also compared with FILE.truth.json (untimed run).
duckdb is a bench-only dependency: `pip install duckdb` (the `bench` extra).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEAK = "/work/shared/tools/peak_rss_tree.py"
DUCK_SCRIPT = HERE / "duckdb_crosstabs.py"


def default_ccaudit():
    for c in (ROOT / ".venv" / "bin" / "ccaudit", shutil.which("ccaudit")):
        if c and Path(c).exists():
            return [str(c)]
    return [sys.executable, "-m", "ccaudit"]


def default_duckdb_python():
    for py in (sys.executable, str(ROOT / ".venv" / "bin" / "python"), "/tmp/genvenv/bin/python"):
        if Path(py).exists() and subprocess.run([py, "-c", "import duckdb"], capture_output=True).returncode == 0:
            return py
    sys.exit("compare: no Python with duckdb found; pip install duckdb, or pass --duckdb-python")


def timed(cmd):
    """Run cmd under peak_rss_tree; return (wall seconds, peak MiB, exit code)."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, PEAK, *cmd], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    peak, code = None, p.returncode
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "PEAK_MIB":
            peak, code = float(parts[1]), int(parts[3])
    return wall, peak, code


def warm(path):
    with open(path, "rb") as f:
        while f.read(16 << 20):
            pass


def check_truth(path, py, dedup):
    truth_path = Path(path + ".truth.json")
    if not truth_path.exists():
        print("check-truth: no %s" % truth_path)
        return False
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="ccaudit-duck-") as d:
        args = [py, str(DUCK_SCRIPT), path, d, "--json"] + ([] if dedup else ["--no-dedup"])
        subprocess.run(args, check=True, capture_output=True)
        got = json.loads(Path(d, "report.json").read_text(encoding="utf-8"))
    ok_summary = all(got["summary"][k] == truth["summary"][k] for k in ("events", "first_day", "last_day", "per_day"))
    ok_days = got["days"] == truth["days"]
    n_rows = sum(len(s["rows"]) for d in truth["days"] for s in d["sections"].values())
    print("check-truth: DuckDB crosstabs %s the generator truth (%d events, %d days, %d rows)"
          % ("MATCH" if ok_summary and ok_days else "DIFFER FROM", truth["summary"]["events"],
             len(truth["days"]), n_rows))
    if not ok_days:
        for gd, td in zip(got["days"], truth["days"]):
            for sid in td["sections"]:
                if gd["sections"][sid] != td["sections"][sid]:
                    g = {r["key"]: r["total"] for r in gd["sections"][sid]["rows"]}
                    t = {r["key"]: r["total"] for r in td["sections"][sid]["rows"]}
                    diff = {k: (g.get(k), t.get(k)) for k in set(g) | set(t) if g.get(k) != t.get(k)}
                    print("  %s %s: (duckdb, truth) %s" % (td["date"], sid, dict(list(diff.items())[:5])))
    return ok_summary and ok_days


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ccaudit", help="command that runs ccaudit (default: .venv/bin/ccaudit, PATH, or -m)")
    ap.add_argument("--duckdb-python", help="Python that has duckdb (default: this one, .venv, /tmp/genvenv)")
    ap.add_argument("--no-dedup", action="store_true", help="DuckDB counts every copy (no DISTINCT ON id)")
    ap.add_argument("--check-truth", action="store_true", help="compare DuckDB's crosstabs with FILE.truth.json")
    a = ap.parse_args(argv)
    path = os.path.abspath(a.file)
    if not os.path.exists(path):
        sys.exit("compare: no such file: %s" % path)
    cc = shlex.split(a.ccaudit) if a.ccaudit else default_ccaudit()
    py = a.duckdb_python or default_duckdb_python()
    size = os.path.getsize(path)
    truth_path = Path(path + ".truth.json")
    events = json.loads(truth_path.read_text())["summary"]["events"] if truth_path.exists() else None

    if a.check_truth:
        check_truth(path, py, not a.no_dedup)

    warm(path)
    results = {"ccaudit": [], "duckdb": []}
    with tempfile.TemporaryDirectory(prefix="ccaudit-compare-") as tmp:
        for i in range(a.runs):
            run_dir = Path(tmp, "run%d" % i)
            run_dir.mkdir()
            cmd_a = [*cc, "report", path, "--db", str(run_dir / "store.db"), "--out", str(run_dir / "cc"), "--quiet"]
            cmd_b = [py, str(DUCK_SCRIPT), path, str(run_dir / "duck")] + (["--no-dedup"] if a.no_dedup else [])
            for name, cmd in (("ccaudit", cmd_a), ("duckdb", cmd_b)):
                wall, peak, code = timed(cmd)
                results[name].append((wall, peak, code))
                print("run %d %-8s %7.2f s  %7.1f MiB  exit %s" % (i + 1, name, wall, peak or 0, code), file=sys.stderr)
            if events is None:
                try:
                    events = json.loads((run_dir / "duck" / "summary.json").read_text())["events"]
                except (OSError, ValueError, KeyError):
                    pass
            for name, cmd in (("ccaudit", cmd_a), ("duckdb", cmd_b)):
                if results[name][-1][2] != 0:  # peak_rss_tree hides the output: run again to show it
                    shutil.rmtree(run_dir)
                    run_dir.mkdir()
                    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
                    print("%s failed (exit %s): %s\n  rerun: exit %s, stderr tail:\n%s" % (
                        name, results[name][-1][2], " ".join(cmd), p.returncode, p.stderr[-1500:]), file=sys.stderr)

    print("\n%s: %.1f MB, %s events, %d run(s) each%s" % (
        path, size / 1e6, "{:,}".format(events) if events else "?", a.runs,
        "" if not a.no_dedup else " (DuckDB without de-duplication)"))
    head = ("tool", "best s", "median s", "events/s", "MB/s", "peak RSS MiB", "exit")
    rows = []
    stats = {}
    for name, rs in results.items():
        walls = [w for w, _, _ in rs]
        best, med = min(walls), statistics.median(walls)
        peak = max((p or 0) for _, p, _ in rs)
        codes = sorted({c for _, _, c in rs})
        stats[name] = (best, med, peak)
        rows.append((name, "%.2f" % best, "%.2f" % med, "{:,.0f}".format(events / best) if events else "?",
                     "%.1f" % (size / 1e6 / best), "%.1f" % peak, ",".join(map(str, codes))))
    b1, m1, p1 = stats["ccaudit"]
    b2, m2, p2 = stats["duckdb"]
    rows.append(("ccaudit/DuckDB", "%.2fx" % (b1 / b2), "%.2fx" % (m1 / m2), "", "",
                 "%.2fx" % (p1 / p2) if p2 else "?", ""))
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    fmt = "  ".join("%-" + str(widths[0]) + "s" if i == 0 else "%" + str(w) + "s" for i, w in enumerate(widths))
    print(fmt % head)
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt % r)


if __name__ == "__main__":
    main()

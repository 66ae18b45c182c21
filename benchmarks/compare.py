"""ccaudit vs DuckDB on the same dump, side by side.

usage: python -m benchmarks.compare (FILE | --generate N [--seed S] [--no-double]) [--runs 3]
                                    [--duckdb auto|tuned|both] [--no-reload] [--ccaudit CMD]
                                    [--duckdb-python PY] [--no-dedup] [--check-truth]

Runs every variant `--runs` times, round-robin (one of each per run, so load changes on a busy
machine hit them alike), under benchmarks/rss.py (peak RSS of the whole process tree: ccaudit's
parse workers count):
  ccaudit          ccaudit report FILE --db <fresh>.db --out <dir> --quiet   (load + every report file)
  duckdb auto      benchmarks/duckdb_crosstabs.py FILE <dir>            (the same five crosstabs; read_json
                   with format='newline_delimited', ignore_errors=true and the schema auto-detected:
                   the one-off script a user would write)
  duckdb tuned     the same with an explicit columns= list (--tuned): the fastest DuckDB we know
  ccaudit reload   ccaudit report FILE --db <the store just loaded> ...   (every record a duplicate)

With --generate N, the dumps come from benchmarks/generate/ (cached in bench-data/ under the
same names `make bench` uses, generated only if missing): FILE is the CLI dump (JSON Lines with
`% Headers:` lines), and the same records are also run as gzip'd JSON Lines (ccaudit and DuckDB)
and as one JSON array (ccaudit's jsondoc path; DuckDB with format='array').

Prints the machine, then one table: wall time (best, median), events/s, MB/s (of the
uncompressed input), peak RSS, the ratio to `ccaudit` on FILE (best and median), and a check that
every run counted the expected events (from FILE.truth.json; ccaudit's own summary line, DuckDB's
summary.json). Each file is read once before timing, so every run starts from a warm page cache.
With --check-truth, DuckDB's crosstabs are also compared with the truth (untimed runs).
With --generate, a CLI dump of 2N records is then loaded once, and its peak RSS (all
processes summed) printed beside the N-record load's: memory must not grow with the dump
(100 MiB at both).
duckdb is a bench-only dependency: `pip install duckdb` (the `bench` extra).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import rss  # peak RSS of a process tree
from benchmarks.generate import generate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT / "bench-data"
DUCK_SCRIPT = HERE / "duckdb_crosstabs.py"
SEED = 1
MEMORY_LIMIT = 100 * 2**20  # summed peak RSS of a load, at N and at 2N records
# kind -> (generator format, compression, file name suffix)
KINDS = {
    "cli": ("cli", None, ".txt"),
    "gzip": ("jsonl", "gzip", ".jsonl.gz"),
    "array": ("array", None, ".json"),
}


# -- generated dumps, shared with benchmarks/conftest.py ----------------------------------------

def dump_path(n: int, kind: str, seed: int = SEED, data_dir: Path = DATA) -> Path:
    """bench-data/dump-<N>-seed<S>.<txt|jsonl.gz|json>: one name per size, format and seed."""
    return Path(data_dir) / ("dump-%d-seed%d%s" % (n, seed, KINDS[kind][2]))


def ensure_dump(n: int, kind: str, seed: int = SEED, data_dir: Path = DATA, log=None) -> Path:
    """The dump of ``n`` records in ``kind``'s format, generated only if it is missing.

    Beside it: FILE.truth.json (the generator's truth) and FILE.meta.json (events, bytes on
    disk and uncompressed). The files are written under temporary names and renamed, meta last,
    so an interrupted run never leaves a half-written dump that looks complete.
    """
    path = dump_path(n, kind, seed, data_dir)
    truth, meta = _sidecar(path, "truth"), _sidecar(path, "meta")
    if path.exists() and truth.exists() and meta.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt, compression, _ = KINDS[kind]
    part = path.with_name("%s.part-%d" % (path.name, os.getpid()))
    part_truth = path.with_name("%s.truth.part-%d" % (path.name, os.getpid()))
    if log:
        log("generating %s (%s records, %s) ..." % (path, f"{n:,}", kind))
    t0 = time.perf_counter()
    try:
        t = generate(n, str(part), fmt, compression, seed=seed, truth_path=str(part_truth))
        os.replace(part_truth, truth)
        os.replace(part, path)
    finally:
        for p in (part, part_truth):
            if p.exists():
                p.unlink()
    info = {"records": n, "seed": seed, "kind": kind, "events": t["summary"]["events"],
            "bytes": t["_bytes"], "size": path.stat().st_size,
            "generated_s": round(time.perf_counter() - t0, 1)}
    tmp = meta.with_name(meta.name + ".part-%d" % os.getpid())
    tmp.write_text(json.dumps(info, indent=1) + "\n")
    os.replace(tmp, meta)
    if log:
        log("  %.1f MB in %.1f s" % (info["bytes"] / 1e6, info["generated_s"]))
    return path


def dump_info(path) -> dict:
    """events (None if unknown), size on disk and uncompressed bytes of a dump."""
    path = Path(path)
    meta, truth = _sidecar(path, "meta"), _sidecar(path, "truth")
    size = path.stat().st_size
    if meta.exists():
        info = json.loads(meta.read_text())
        return {"events": info["events"], "size": size, "bytes": info["bytes"]}
    events = json.loads(truth.read_text(encoding="utf-8"))["summary"]["events"] if truth.exists() else None
    return {"events": events, "size": size, "bytes": size}


def _sidecar(path: Path, what: str) -> Path:
    return path.with_name("%s.%s.json" % (path.name, what))


# -- the machine -----------------------------------------------------------------------------

def machine(duck_py: str | None = None) -> list[str]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    duck = ""
    if duck_py:
        p = subprocess.run([duck_py, "-c", "import duckdb; print(duckdb.__version__)"], capture_output=True, text=True)
        duck = ", DuckDB %s" % (p.stdout.strip() or "?")
    try:
        from ccaudit import __version__ as cc_version
    except ImportError:
        cc_version = "?"
    load = ("%.2f %.2f %.2f" % os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(ln for ln in f if ln.startswith("MemTotal")).split()[1])
        mem = "%.1f GiB" % (kb / 2**20)
    except (OSError, StopIteration, ValueError):
        pass
    return [
        "machine: nproc %s (%s usable), %s, %s RAM, load average %s" % (os.cpu_count(), usable, cpu, mem, load),
        "versions: Python %s, SQLite %s%s, ccaudit %s" % (
            platform.python_version(), sqlite3.sqlite_version, duck, cc_version),
    ]


# -- running ---------------------------------------------------------------------------------

def default_ccaudit():
    for c in (ROOT / ".venv" / "bin" / "ccaudit", Path(sys.executable).parent / "ccaudit", shutil.which("ccaudit")):
        if c and Path(c).exists():
            return [str(c)]
    return [sys.executable, "-m", "ccaudit"]


def default_duckdb_python():
    for py in (sys.executable, str(ROOT / ".venv" / "bin" / "python"), "/tmp/genvenv/bin/python"):
        if Path(py).exists() and subprocess.run([py, "-c", "import duckdb"], capture_output=True).returncode == 0:
            return py
    sys.exit("compare: no Python with duckdb found; pip install duckdb, or pass --duckdb-python")


def warm(path):
    with open(path, "rb") as f:
        while f.read(16 << 20):
            pass


_LOADED = re.compile(r"loaded ([\d,]+) records?: ([\d,]+) new, ([\d,]+) duplicates?")


def load_counts(stderr: str) -> tuple[int, int, int] | None:
    """(records read, new, duplicates) from ccaudit's load line, or None."""
    m = _LOADED.search(stderr)
    return tuple(int(n.replace(",", "")) for n in m.groups()) if m else None  # type: ignore[return-value]


@dataclass
class Variant:
    """One row of the table: a command per run, and what it must count."""

    name: str
    tool: str  # "ccaudit" or "duckdb"
    path: str
    info: dict
    command: object  # run_dir -> argv
    reload: bool = False
    runs: list = field(default_factory=list)  # (wall s, peak bytes, exit code, check text)

    def check(self, result: rss.Sampled, run_dir: Path) -> str:
        """'ok', '-' (nothing to check against) or what was counted instead."""
        want = self.info["events"]
        if self.tool == "ccaudit":
            counts = load_counts(result.stderr)
            if not counts:
                return "no summary"
            _, new, dups = counts
            if want is None:
                return "-"
            good = (new, dups) == ((0, want) if self.reload else (want, 0))
            return "ok" if good else "%d new, %d dups" % (new, dups)
        try:
            got = json.loads((run_dir / self.name.replace(" ", "_") / "summary.json").read_text())["events"]
        except (OSError, ValueError, KeyError):
            return "no summary"
        if want is None:
            return "-"
        return "ok" if got == want else "%d events" % got


def report_argv(cc: list, path, db: Path, out: Path) -> list[str]:
    """What every ccaudit row runs: a load of ``path`` into ``db`` and every report file."""
    return [*cc, "report", str(path), "--db", str(db), "--out", str(out), "--quiet"]


def variants(files: dict[str, str], cc: list, py: str, duck: str, dedup: bool, reload: bool) -> list[Variant]:
    """The table's rows, in running order; ``files``: kind -> path, the first one is the base."""
    out = []
    schemas = ("auto", "tuned") if duck == "both" else (duck,)
    base_kind = next(iter(files))
    for kind, path in files.items():
        info = dump_info(path)
        label = kind if len(files) > 1 else "FILE"

        def cc_cmd(run_dir, path=path, kind=kind):
            return report_argv(cc, path, run_dir / ("%s.db" % kind), run_dir / ("cc-" + kind))
        out.append(Variant("ccaudit %s" % label, "ccaudit", path, info, cc_cmd))
        # DuckDB: both schemas on the base file; the auto-detected one (the one-off script a user would
        # write) on the others
        for schema in (schemas if kind == base_kind else schemas[:1]):
            name = "duckdb %s %s" % (label, schema)

            def duck_cmd(run_dir, path=path, name=name, schema=schema):
                return ([py, str(DUCK_SCRIPT), path, str(run_dir / name.replace(" ", "_"))]
                        + (["--tuned"] if schema == "tuned" else []) + ([] if dedup else ["--no-dedup"]))
            out.append(Variant(name, "duckdb", path, info, duck_cmd))
        if reload and kind == base_kind:
            def reload_cmd(run_dir, path=path, kind=kind):  # the store the row above just loaded
                return report_argv(cc, path, run_dir / ("%s.db" % kind), run_dir / ("cc-reload-" + kind))
            out.append(Variant("ccaudit %s reload" % label, "ccaudit", path, info, reload_cmd, reload=True))
    return out


def check_truth(path, py, dedup, tuned=False):
    """Compare DuckDB's crosstabs of ``path`` with PATH.truth.json; True if they match."""
    truth_path = Path(str(path) + ".truth.json")
    schema = "tuned" if tuned else "auto"
    if not truth_path.exists():
        print("check-truth: no %s" % truth_path)
        return False
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="ccaudit-duck-") as d:
        args = ([py, str(DUCK_SCRIPT), str(path), d, "--json"] + (["--tuned"] if tuned else [])
                + ([] if dedup else ["--no-dedup"]))
        p = subprocess.run(args, capture_output=True, text=True)
        if p.returncode:
            print("check-truth: DuckDB (%s schema) failed on %s:\n%s" % (schema, path, p.stderr[-1500:]))
            return False
        got = json.loads(Path(d, "report.json").read_text(encoding="utf-8"))
    ok_summary = all(got["summary"][k] == truth["summary"][k] for k in ("events", "first_day", "last_day", "per_day"))
    ok_days = got["days"] == truth["days"]
    n_rows = sum(len(s["rows"]) for d in truth["days"] for s in d["sections"].values())
    print("check-truth: DuckDB (%s schema) crosstabs of %s %s the generator truth (%d events, %d days, %d rows)"
          % (schema, os.path.basename(str(path)), "MATCH" if ok_summary and ok_days else "DIFFER FROM",
             truth["summary"]["events"], len(truth["days"]), n_rows))
    if not ok_summary:
        print("  events: duckdb %s, truth %s" % (got["summary"]["events"], truth["summary"]["events"]))
    if not ok_days:
        for gd, td in zip(got["days"], truth["days"]):
            for sid in td["sections"]:
                if gd["sections"][sid] != td["sections"][sid]:
                    g = {r["key"]: r["total"] for r in gd["sections"][sid]["rows"]}
                    t = {r["key"]: r["total"] for r in td["sections"][sid]["rows"]}
                    diff = {k: (g.get(k), t.get(k)) for k in set(g) | set(t) if g.get(k) != t.get(k)}
                    print("  %s %s: (duckdb, truth) %s" % (td["date"], sid, dict(list(diff.items())[:5])))
    return ok_summary and ok_days


def table(rows: list[Variant]) -> list[str]:
    head = ("tool/variant", "best s", "median s", "events/s", "MB/s", "peak RSS MiB",
            "ratio (best)", "ratio (median)", "check", "exit")
    base = rows[0]
    b_best = min(w for w, _, _, _ in base.runs)
    b_med = statistics.median(w for w, _, _, _ in base.runs)
    out = []
    for v in rows:
        walls = [w for w, _, _, _ in v.runs]
        best, med = min(walls), statistics.median(walls)
        peak = max(p for _, p, _, _ in v.runs)
        codes = ",".join(map(str, sorted({c for _, _, c, _ in v.runs})))
        checks = sorted({c for _, _, _, c in v.runs})
        events = v.info["events"]
        out.append((v.name, "%.2f" % best, "%.2f" % med, f"{events / best:,.0f}" if events else "?",
                    "%.1f" % (v.info["bytes"] / 1e6 / best), "%.1f" % (peak / 2**20),
                    "%.2fx" % (best / b_best), "%.2fx" % (med / b_med), ";".join(checks), codes))
    widths = [max(len(str(r[i])) for r in out + [head]) for i in range(len(head))]
    fmt = "  ".join("%-" + str(widths[0]) + "s" if i == 0 else "%" + str(w) + "s" for i, w in enumerate(widths))
    lines = [fmt % head, "  ".join("-" * w for w in widths)]
    lines += [fmt % r for r in out]
    return lines


def targets(rows: list[Variant]) -> list[str]:
    """The ratios and their targets (JSON array <= 3x the CLI dump, gzip <= 1.5x, reload <= 1x),
    from best times (median in parentheses)."""
    by = {v.name: v for v in rows}

    def t(name):
        v = by.get(name)
        if not v:
            return None
        walls = [w for w, _, _, _ in v.runs]
        return min(walls), statistics.median(walls)

    def line(what, a, b, limit):
        ta, tb = t(a), t(b)
        if not ta or not tb:
            return None
        r, rm = ta[0] / tb[0], ta[1] / tb[1]
        verdict = "" if limit is None else ("  (target <= %.1fx: %s)" % (limit, "met" if r <= limit else "MISSED"))
        return "  %-34s %.2fx (median %.2fx)%s" % (what, r, rm, verdict)

    base = rows[0].name
    label = base.split(" ", 1)[1]
    out = [line("ccaudit / DuckDB auto schema", base, "duckdb %s auto" % label, None),
           line("ccaudit / DuckDB tuned columns", base, "duckdb %s tuned" % label, None),
           line("JSON array / cli (ccaudit)", "ccaudit array", base, 3.0),
           line("gzip'd JSONL / cli (ccaudit)", "ccaudit gzip", base, 1.5),
           line("reload / first load (ccaudit)", "%s reload" % base, base, 1.0)]
    out = [x for x in out if x]
    return ["ratios (best times):"] + out if out else []


def memory_at_double(n: int, seed: int, cc: list, base: Variant, interval: float, log) -> list[str]:
    """Whether memory stays flat as the dump grows: one cold load of a CLI dump of 2N records
    (generated if missing), its peak RSS summed over every process, beside the N-record
    dump's (``base``, its largest peak over the runs). The target: 100 MiB at both sizes."""
    path = ensure_dump(2 * n, "cli", seed, log=log)
    double = Variant("ccaudit cli 2N", "ccaudit", str(path), dump_info(path),
                     lambda run_dir: report_argv(cc, path, run_dir / "double.db", run_dir / "cc-double"))
    warm(path)
    with tempfile.TemporaryDirectory(prefix="ccaudit-compare-") as tmp:
        r = rss.run_sampled(double.command(Path(tmp)), interval=interval, timeout=24 * 3600, cwd=ROOT)
        check = double.check(r, Path(tmp))
    log("double %-22s %7.2f s  %7.1f MiB  exit %s  %s" % (double.name, r.seconds, r.peak / 2**20, r.returncode, check))
    if r.returncode or check != "ok":
        return ["FAILED or miscounted: the %s-record load (%s)" % (f"{2 * n:,}", check)]
    peaks = max(p for _, p, _, _ in base.runs), r.peak
    ok = max(peaks) <= MEMORY_LIMIT
    return ["  %-34s %.1f MiB at %s records, %.1f MiB at %s (%.2f s)  (target <= %d MiB: %s)" % (
        "peak RSS of a cold load, summed", peaks[0] / 2**20, f"{n:,}", peaks[1] / 2**20, f"{2 * n:,}", r.seconds,
        MEMORY_LIMIT // 2**20, "met" if ok else "MISSED")]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?", help="a dump (or use --generate)")
    ap.add_argument("--generate", type=int, metavar="N",
                    help="generate N records into bench-data/ if missing (cli, jsonl.gz and array) and compare on them")
    ap.add_argument("--seed", type=int, default=SEED, help="generator seed for --generate (default %(default)s)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duckdb", choices=("auto", "tuned", "both"), default="both",
                    help="DuckDB schema: auto-detected, explicit columns, or both rows (default)")
    ap.add_argument("--duckdb-tuned", dest="duckdb", action="store_const", const="tuned",
                    help="only the explicit-columns DuckDB (same as --duckdb tuned)")
    ap.add_argument("--no-reload", dest="reload", action="store_false", help="skip the reload run")
    ap.add_argument("--ccaudit", help="command that runs ccaudit (default: .venv/bin/ccaudit, PATH, or -m)")
    ap.add_argument("--duckdb-python", help="Python that has duckdb (default: this one, .venv, /tmp/genvenv)")
    ap.add_argument("--no-dedup", action="store_true", help="DuckDB counts every copy (no DISTINCT ON id)")
    ap.add_argument("--check-truth", action="store_true", help="compare DuckDB's crosstabs with FILE.truth.json")
    ap.add_argument("--interval", type=float, default=0.05, help="RSS sampling interval, s (default %(default)s)")
    ap.add_argument("--no-double", dest="double", action="store_false",
                    help="with --generate: skip the load of 2N records (its peak RSS against N's)")
    a = ap.parse_args(argv)
    if (a.file is None) == (a.generate is None):
        ap.error("give a FILE or --generate N (not both)")
    if a.runs < 1 or (a.generate is not None and a.generate < 1):
        ap.error("--runs and N must be at least 1")
    if not rss.available():
        sys.exit("compare: needs /proc (Linux) to sample peak RSS")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    if a.generate is not None:
        files = {kind: str(ensure_dump(a.generate, kind, a.seed, log=log)) for kind in KINDS}
    else:
        path = os.path.abspath(a.file)
        if not os.path.isfile(path):
            sys.exit("compare: no such file: %s" % path)
        files = {"file": path}
    cc = shlex.split(a.ccaudit) if a.ccaudit else default_ccaudit()
    py = a.duckdb_python or default_duckdb_python()
    for line in machine(py):
        print(line)

    if a.check_truth:
        for path in files.values():
            for tuned in ((False, True) if a.duckdb == "both" else (a.duckdb == "tuned",)):
                check_truth(path, py, not a.no_dedup, tuned)

    rows = variants(files, cc, py, a.duckdb, not a.no_dedup, a.reload)
    for path in files.values():
        warm(path)
    with tempfile.TemporaryDirectory(prefix="ccaudit-compare-") as tmp:
        for i in range(a.runs):
            run_dir = Path(tmp, "run%d" % i)
            run_dir.mkdir()
            for v in rows:
                cmd = v.command(run_dir)
                r = rss.run_sampled(cmd, interval=a.interval, timeout=24 * 3600, cwd=ROOT)
                check = v.check(r, run_dir)
                v.runs.append((r.seconds, r.peak, r.returncode, check))
                print("run %d %-22s %7.2f s  %7.1f MiB  exit %s  %s" % (
                    i + 1, v.name, r.seconds, r.peak / 2**20, r.returncode, check), file=sys.stderr, flush=True)
                if r.returncode:
                    print("  %s failed: %s\n  stderr tail:\n%s" % (v.name, " ".join(cmd), r.stderr[-1500:]),
                          file=sys.stderr)
            shutil.rmtree(run_dir)  # stores and reports of one run: up to a few GB at 1M records

    print()
    for kind, path in files.items():
        info = dump_info(path)
        print("%-5s %s: %.1f MB on disk, %.1f MB uncompressed, %s events" % (
            kind, path, info["size"] / 1e6, info["bytes"] / 1e6,
            "{:,}".format(info["events"]) if info["events"] else "?"))
    print("%d run(s) each, round-robin; MB/s of the uncompressed input; ratios to %s%s" % (
        a.runs, rows[0].name, "" if not a.no_dedup else "; DuckDB without de-duplication"))
    for line in table(rows):
        print(line)
    for line in targets(rows):
        print(line)
    if a.generate is not None and a.double:
        for line in memory_at_double(a.generate, a.seed, cc, rows[0], a.interval, log):
            print(line)
    bad = [v.name for v in rows if any(c or chk not in ("ok", "-") for _, _, c, chk in v.runs)]
    if bad:
        print("FAILED or miscounted: %s" % ", ".join(bad))
        sys.exit(1)


if __name__ == "__main__":
    main()

"""ccaudit spark in local mode against a local ccaudit load, on the same generated dump
(`make bench-spark`; BENCH_RECORDS sets the size, default 1,000,000).

For each dump kind (cli: plain lines, split across tasks; gzip-x8: the same records as 8
gzip files, an archive, one task per file; gzip: one gzip file, hence one task) it times,
best of --runs:

* load         `ccaudit load FILE --db NEW -q`, a subprocess (what a user waits for);
* spark        `ccaudit spark FILE --db NEW -q --master local[*]`, a subprocess: JVM start,
               the Python workers' first imports, the job and the store;
* spark job    `spark.aggregate` in this process, on a warm session: the part that grows
               with the input, and what more executors divide.

Records/s is records read over wall time; per core, divided by the cores this process may
use (Spark's local[*] and the loader's workers use the same ones). CPU s (user + system)
and peak RSS are of the whole process tree (the JVM and the Python workers too), sampled
from /proc every 0.1 s. Every run must count what the generator wrote, or the benchmark
fails.
"""
from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks import rss
from benchmarks.compare import default_ccaudit, dump_info, ensure_dump, load_counts, machine

TICK = os.sysconf("SC_CLK_TCK")
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def timed(argv: list[str]) -> tuple[float, float, int, str]:
    """(wall s, CPU s, peak RSS bytes, stderr) of one run and its whole process tree (the
    JVM and Spark's Python workers too), sampled from /proc; the run must succeed."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        cpu: dict[int, float] = {}
        peak = 0
        while True:
            for pid in rss.tree(proc.pid):
                cpu[pid] = max(cpu.get(pid, 0.0), cpu_seconds(pid))
            peak = max(peak, rss.tree_rss(proc.pid)[0])
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        sys.exit(f"bench-spark: {' '.join(argv)} exited {proc.returncode}: {stderr.strip()[-500:]}")
    return wall, sum(cpu.values()), peak, stderr


def checked(stderr: str, want: tuple[int, int], what: str) -> int:
    """Records read, after checking (new, duplicates) against the generator's numbers."""
    counts = load_counts(stderr)
    if counts is None or counts[1:] != want:
        sys.exit(f"bench-spark: {what} counted {counts}, the generator wrote (new, duplicates) {want}")
    return counts[0]


def line(name: str, records: int, wall: float, cpu: float | None = None, peak: int | None = None) -> str:
    rate = records / wall
    cpu_text = f"{cpu:8.1f} {records / cpu:12,.0f}" if cpu else f"{'-':>8} {'-':>12}"
    peak_text = f"{peak / 2**20:9,.0f}" if peak else f"{'-':>9}"
    return f"  {name:<10} {wall:8.1f} s {rate:12,.0f} {rate / CORES:14,.0f} {cpu_text} {peak_text}"


def split_gzip(path: Path, parts: int) -> list[Path]:
    """The gzip'd dump cut into ``parts`` gzip files of consecutive lines (an archive of
    daily files), made once beside it."""
    names = [path.with_name(path.name.replace(".jsonl.gz", f"-part{i + 1}of{parts}.jsonl.gz")) for i in range(parts)]
    if all(p.exists() for p in names):
        return names
    with gzip.open(path, "rb") as f:
        total = sum(1 for _ in f)
    step = -(-total // parts)
    with gzip.open(path, "rb") as f:
        for name in names:
            tmp = name.with_name(name.name + ".part")
            with gzip.open(tmp, "wb", compresslevel=6) as out:
                out.writelines(itertools.islice(f, step))
            os.replace(tmp, name)
    return names


def bench(kind: str, n: int, runs: int, ccaudit: list[str], tmp: Path) -> Iterator[str]:
    from ccaudit.spark import aggregate, session

    parts = int(kind[len("gzip-x"):]) if kind.startswith("gzip-x") else 0
    path = ensure_dump(n, "gzip" if parts else kind, log=lambda m: print(m, file=sys.stderr))
    info = dump_info(path)
    truth = json.loads(path.with_name(path.name + ".truth.json").read_text())["summary"]["load"]
    want = (truth["inserted"], truth["duplicates"])
    files = [str(p) for p in split_gzip(path, parts)] if parts else [str(path)]
    yield f"{kind}: {path.name}{f' in {parts} files' if parts else ''}, {info['events']:,} events, " \
          f"{path.stat().st_size / 1e6:,.0f} MB on disk"
    yield (f"  {'':<10} {'wall':>10} {'records/s':>12} {'records/s/core':>14} {'CPU s':>8} "
           f"{'records/CPU s':>12} {'peak MiB':>9}")
    results: dict[str, tuple] = {}
    for name, command in (("load", ["load"]), ("spark", ["spark", "--master", "local[*]"])):
        best = None
        for i in range(runs):
            db = tmp / f"{kind}-{name}-{i}.db"
            wall, cpu, peak, err = timed([*ccaudit, *command, *files, "--db", str(db), "-q"])
            records = checked(err, want, name)
            db.unlink()
            if best is None or wall < best[0]:
                best = (wall, cpu, peak, records)
        results[name] = best
        yield line(name, best[3], best[0], best[1], best[2])
    walls = []
    with session("local[*]") as spark:
        aggregate(spark, files)[0].close()  # warms the workers
        for _ in range(runs):
            t0 = time.perf_counter()
            spool, stats = aggregate(spark, files)
            walls.append(time.perf_counter() - t0)
            spool.close()
    if (stats.inserted, stats.duplicates) != want:
        sys.exit(f"bench-spark: the spark job counted {(stats.inserted, stats.duplicates)}, want {want}")
    yield line("spark job", stats.records_read, min(walls))
    ratio = results["spark"][0] / results["load"][0]
    yield f"  spark / load wall time: {ratio:.2f}x (spark job alone: {min(walls) / results['load'][0]:.2f}x)"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.spark", description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=int(os.environ.get("BENCH_RECORDS", 1_000_000)))
    ap.add_argument("--runs", type=int, default=1, help="runs of each, the best is shown (default 1)")
    ap.add_argument("--kinds", default="cli,gzip-x8,gzip",
                    help="dump kinds, comma-separated: cli, gzip, array, or gzip-xN (the gzip dump in N files)")
    a = ap.parse_args(argv)
    for text in [*machine(), f"cores: {CORES} (local[*]; the local loader's parse workers use the same)"]:
        print(text, flush=True)
    with tempfile.TemporaryDirectory(prefix="ccaudit-bench-spark-") as tmp:
        for kind in a.kinds.split(","):
            for text in bench(kind.strip(), a.records, a.runs, default_ccaudit(), Path(tmp)):
                print(text.rstrip(), flush=True)


if __name__ == "__main__":
    main()

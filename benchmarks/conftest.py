"""Fixtures of the benchmark suite (`make bench`; not part of `make test`).

* Size: ``CCAUDIT_BENCH_RECORDS`` records (default 1,000,000); rounds per benchmark:
  ``CCAUDIT_BENCH_ROUNDS`` (default 3); generator seed: ``CCAUDIT_BENCH_SEED`` (default 1);
  rows of the store comparison (test_bench_store.py): ``CCAUDIT_BENCH_STORE_ROWS`` (100,000).
* ``bench_dump(kind)``: the generated dump of that size, as ``cli`` (the Confluent CLI's output:
  JSON Lines with ``% Headers:`` lines), ``gzip`` (the same records as gzip'd JSON Lines) or
  ``array`` (the same records as one JSON array). Generated once into ``<repo>/bench-data/``
  (``benchmarks.compare.ensure_dump``, the names ``make bench-compare`` uses too) and reused
  while the files are there; delete bench-data/ to regenerate.
* ``measure(target, ...)``: ``benchmark.pedantic`` with the configured rounds and one iteration,
  then events/s and MB/s (from the median round; ``*_best`` from the fastest) in
  ``benchmark.extra_info``, which ``--benchmark-json`` / ``--benchmark-autosave`` save.
* At the end, a table of throughput and peak RSS, and the target ratios (JSON array within 3x
  of the cli dump, gzip within 1.5x, reload no slower than the first load, progress < 2 %,
  sqlite-utils vs stage + merge). They are printed, not asserted: on a shared machine one
  noisy round would fail the run. ``CCAUDIT_BENCH_STRICT=1`` makes a missed target fail it.
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.compare import DATA, SEED, dump_info, ensure_dump, machine

DEFAULT_RECORDS = 1_000_000
DEFAULT_ROUNDS = 3

# name -> dict(median, best, events, bytes, peak) of every benchmark that ran, for the summary
RESULTS: dict[str, dict] = {}
# (what, ratio, limit or None, detail), filled by the tests that pair two measurements
RATIOS: list[tuple] = []


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw)) if "e" in raw.lower() else int(raw)
    except (ValueError, OverflowError):
        raise pytest.UsageError(f"{name}={raw!r}: not a whole number") from None
    if value < minimum:
        raise pytest.UsageError(f"{name}={raw!r}: must be at least {minimum}")
    return value


def records() -> int:
    return _env_int("CCAUDIT_BENCH_RECORDS", DEFAULT_RECORDS)


def rounds() -> int:
    return _env_int("CCAUDIT_BENCH_ROUNDS", DEFAULT_ROUNDS)


def seed() -> int:
    return _env_int("CCAUDIT_BENCH_SEED", SEED, minimum=0)


def store_rows() -> int:
    return _env_int("CCAUDIT_BENCH_STORE_ROWS", 100_000)


def pytest_configure(config):
    for check in (records, rounds, seed, store_rows):  # a bad value: one clear usage error up front
        check()


def pytest_report_header(config):
    return f"ccaudit bench: {records():,} records, {rounds()} rounds, seed {seed()}, data in {DATA}"


@dataclass(frozen=True)
class BenchDump:
    kind: str  # cli, gzip or array
    path: str
    events: int  # distinct records (the generated dumps have no duplicates, noise or malformed)
    size: int  # bytes on disk
    bytes: int  # bytes uncompressed


@pytest.fixture(scope="session")
def bench_dump(pytestconfig):
    """``bench_dump(kind)``: the generated dump, made on first use (kinds: cli, gzip, array)."""
    made: dict[str, BenchDump] = {}
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")

    def log(msg: str) -> None:
        with capture.global_and_fixture_disabled():
            print(msg, file=sys.stderr, flush=True)

    def get(kind: str) -> BenchDump:
        if kind not in made:
            path = ensure_dump(records(), kind, seed(), log=log)
            info = dump_info(path)
            made[kind] = BenchDump(kind, str(path), info["events"], info["size"], info["bytes"])
        return made[kind]

    return get


@pytest.fixture(scope="session")
def bench_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench")


@pytest.fixture
def fresh_dir(bench_tmp):
    """``fresh_dir()``: a new empty directory per call; all removed after the test."""
    base = Path(tempfile.mkdtemp(prefix="t-", dir=bench_tmp))
    n = [0]

    def make() -> Path:
        n[0] += 1
        d = base / str(n[0])
        d.mkdir()
        return d

    yield make
    shutil.rmtree(base, ignore_errors=True)


def round_times(benchmark) -> list[float]:
    """Seconds of each timed round ([] with --benchmark-disable)."""
    stats = getattr(benchmark, "stats", None)
    return list(stats.stats.data) if stats is not None else []


class Measure:
    """``measure(target, ...)``: run ``target`` under ``benchmark.pedantic``
    (CCAUDIT_BENCH_ROUNDS rounds, one iteration each; ``setup``/``teardown`` untimed) and put
    its throughput into ``extra_info``; ``measure.note(**info)`` adds more afterwards."""

    def __init__(self, benchmark, name: str):
        self.benchmark, self.name = benchmark, name

    def __call__(self, target, *, setup=None, teardown=None, events: int | None = None,
                 dump: BenchDump | None = None, nbytes: int | None = None, **info):
        result = self.benchmark.pedantic(target, setup=setup, teardown=teardown, rounds=rounds(), iterations=1)
        events = events if events is not None else (dump.events if dump else None)
        nbytes = nbytes if nbytes is not None else (dump.bytes if dump else None)
        record(self.benchmark, self.name, events=events, nbytes=nbytes, disk=dump.size if dump else None, **info)
        return result

    @property
    def times(self) -> list[float]:
        return round_times(self.benchmark)

    def note(self, **info) -> None:
        self.benchmark.extra_info.update(info)
        if self.name in RESULTS and "peak_rss_mib" in info:
            RESULTS[self.name]["peak_mib"] = info["peak_rss_mib"]


@pytest.fixture
def measure(benchmark, request) -> Measure:
    return Measure(benchmark, request.node.name)


def record(benchmark, name: str, *, events=None, nbytes=None, disk=None, **info) -> None:
    """Throughput into ``benchmark.extra_info`` and the end-of-run summary."""
    times = round_times(benchmark)
    benchmark.extra_info.update(info)
    if not times:
        return
    median, best = statistics.median(times), min(times)
    benchmark.extra_info["records"] = records()
    if events:
        benchmark.extra_info["events"] = events
        benchmark.extra_info["events_per_s"] = round(events / median)
        benchmark.extra_info["events_per_s_best"] = round(events / best)
    if nbytes:
        benchmark.extra_info["mb"] = round(nbytes / 1e6, 1)
        benchmark.extra_info["mb_per_s"] = round(nbytes / 1e6 / median, 1)
        benchmark.extra_info["mb_per_s_best"] = round(nbytes / 1e6 / best, 1)
    if disk and disk != nbytes:
        benchmark.extra_info["disk_mb_per_s"] = round(disk / 1e6 / median, 2)
    RESULTS[name] = {"median": median, "best": best, "events": events, "bytes": nbytes,
                     "peak_mib": info.get("peak_rss_mib"), "rounds": len(times)}


def ratio(what: str, value: float, limit: float | None = None, detail: str = "") -> None:
    """A ratio for the summary; ``limit``: its target (value must be <= limit)."""
    RATIOS.append((what, value, limit, detail))


def _pair(a: str, b: str, what: str, limit: float | None) -> None:
    """The ratio of two benchmarks' medians, if both ran."""
    if a in RESULTS and b in RESULTS:
        ra, rb = RESULTS[a], RESULTS[b]
        ratio(what, ra["median"] / rb["median"], limit,
              f"median {ra['median']:.2f} s / {rb['median']:.2f} s; best {ra['best'] / rb['best']:.2f}x")


def pytest_sessionfinish(session, exitstatus):
    """Pair the end-to-end runs (before the terminal summary, which prints inside this hook's
    wrapper); with CCAUDIT_BENCH_STRICT=1, a missed target fails the run."""
    _pair("test_end_to_end[array]", "test_end_to_end[cli]", "JSON array / cli, end to end", 3.0)
    _pair("test_end_to_end[gzip]", "test_end_to_end[cli]", "gzip'd JSONL / cli, end to end", 1.5)
    strict = os.environ.get("CCAUDIT_BENCH_STRICT", "") not in ("", "0")
    if strict and exitstatus == 0 and any(limit is not None and value > limit for _, value, limit, _ in RATIOS):
        session.exitstatus = 1


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not RESULTS and not RATIOS:
        return
    tr = terminalreporter
    tr.write_sep("-", f"ccaudit throughput ({records():,} records; median round, best in parentheses)")
    for line in machine():
        tr.write_line(line)
    w = max(len("benchmark"), *(len(name) for name in RESULTS))
    tr.write_line(f"{'benchmark':<{w}} {'median s':>9} {'events/s':>19} {'MB/s':>15} {'peak RSS MiB':>12}")
    for name in sorted(RESULTS):
        r = RESULTS[name]
        ev = (f"{r['events'] / r['median']:,.0f} ({r['events'] / r['best']:,.0f})" if r["events"] else "")
        mb = (f"{r['bytes'] / 1e6 / r['median']:.1f} ({r['bytes'] / 1e6 / r['best']:.1f})" if r["bytes"] else "")
        peak = f"{r['peak_mib']:.0f}" if r["peak_mib"] else ""
        tr.write_line(f"{name:<{w}} {r['median']:>9.3f} {ev:>19} {mb:>15} {peak:>12}")
    if RATIOS:
        tr.write_line("")
        tr.write_line("ratios (against their targets; printed, not asserted unless CCAUDIT_BENCH_STRICT=1):")
        w = max(len(what) for what, _, _, _ in RATIOS)
        for what, value, limit, detail in RATIOS:
            verdict = "" if limit is None else f"target <= {limit:g}: " + ("met" if value <= limit else "MISSED")
            tr.write_line(f"  {what:<{w}} {value:6.3f}x  {verdict:<22} {detail}")

"""The pipeline, stage by stage and whole, on the generated dumps (see conftest.py).

* parse only     iter_lines + line_rows over the cli dump, in this process (no workers, no store)
* load only      load_dumps into a fresh store, default workers (what `ccaudit load` does)
* report only    build + write_dir (text) for a store loaded once beforehand
* end to end     `ccaudit report FILE --db <fresh> --out <dir> --quiet` as a subprocess, for the
                 cli dump, the JSON array and the gzip'd JSON Lines, with the peak RSS of its
                 process tree (benchmarks/rss.py; the parse workers count)
* reload         load_dumps of the cli dump into the store it was just loaded into (every record a
                 duplicate); each round's first load is timed too, untimed by pytest-benchmark, so
                 the reload/first-load ratio comes from pairs run back to back
* progress       load_dumps with ccaudit's Progress writing into an io.StringIO; each round is paired
                 with a load without progress (before it in odd rounds, after it in even ones).
                 The loader calls it a few times a second, so the true cost is far below what a
                 busy machine's noise lets a paired ratio show; the calls' own cost (calls made x
                 time per call, measured on its own) is reported beside it as a noise-free bound.

Every benchmark checks what it counted against the generator's numbers, so a fast wrong run fails.
"""
from __future__ import annotations

import collections
import io
import os
import shutil
import statistics
import time

import pytest

from benchmarks import rss
from benchmarks.compare import default_ccaudit, load_counts
from benchmarks.conftest import ratio
from ccaudit.ingest import Dump, iter_lines, line_rows
from ccaudit.load import load_dumps
from ccaudit.output import write_dir
from ccaudit.progress import Progress
from ccaudit.report import build
from ccaudit.stats import LoadStats
from ccaudit.store import Store

RSS_INTERVAL = 0.05  # s between samples of the end-to-end process tree


def _open_store(directory) -> Store:
    return Store(str(directory / "store.db"))


def _drop_store(store: Store) -> None:
    store.close()
    for path in (store.path, store.path + "-journal"):
        if os.path.exists(path):
            os.remove(path)


@pytest.fixture(scope="module")
def loaded_store(bench_dump, bench_tmp):
    """The cli dump loaded once into a store (for report only)."""
    dump = bench_dump("cli")
    path = bench_tmp / "loaded.db"
    if path.exists():
        path.unlink()
    store = Store(str(path))
    stats = load_dumps([dump.path], store)
    assert stats.inserted == dump.events, stats.summary_line()
    yield store
    _drop_store(store)


def test_parse(measure, bench_dump):
    dump = bench_dump("cli")

    def parse():
        stats = LoadStats()
        source = Dump(dump.path)
        stream = source.open()
        try:
            collections.deque(line_rows(iter_lines(stream), source.label, stats), maxlen=0)
        finally:
            source.close(stream)
        return stats

    stats = measure(parse, dump=dump)
    assert stats.records_read == dump.events and stats.malformed == 0, stats.summary_line()


def test_load(measure, bench_dump, fresh_dir):
    dump = bench_dump("cli")

    def setup():
        return (_open_store(fresh_dir()),), {}

    stats = measure(lambda store: load_dumps([dump.path], store), setup=setup, teardown=_drop_store, dump=dump)
    assert (stats.inserted, stats.duplicates, stats.malformed) == (dump.events, 0, 0), stats.summary_line()


def test_report(measure, bench_dump, loaded_store, fresh_dir):
    dump = bench_dump("cli")

    def setup():
        return (fresh_dir() / "out",), {}

    def report(out):
        rep = build(loaded_store)
        write_dir(rep, "text", str(out))
        return rep, out

    rep, out = measure(report, setup=setup, events=dump.events)
    assert sum(day.events for day in rep.days) == dump.events
    assert (out / "summary.txt").exists()
    measure.note(days=len(rep.days), files=sum(len(files) for _, _, files in os.walk(out)))


@pytest.mark.parametrize("kind", ["cli", "array", "gzip"])
def test_end_to_end(measure, bench_dump, fresh_dir, kind):
    dump = bench_dump(kind)
    cc = default_ccaudit()
    runs: list[rss.Sampled] = []

    def setup():
        d = fresh_dir()
        return ([*cc, "report", dump.path, "--db", str(d / "fresh.db"), "--out", str(d / "out"), "--quiet"],), {}

    def run(cmd):
        r = rss.run_sampled(cmd, interval=RSS_INTERVAL, timeout=24 * 3600)
        runs.append(r)
        return r

    def teardown(cmd):
        shutil.rmtree(os.path.dirname(cmd[cmd.index("--db") + 1]), ignore_errors=True)

    measure(run, setup=setup, teardown=teardown, dump=dump)
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
        assert load_counts(r.stderr) == (dump.events, dump.events, 0), r.stderr[-2000:]
    measure.note(peak_rss_mib=round(max(r.peak for r in runs) / 2**20, 1),
                 max_processes=max(r.max_procs for r in runs),
                 command="ccaudit report %s --db FRESH.db --out DIR --quiet" % os.path.basename(dump.path))


def test_reload(measure, bench_dump, fresh_dir):
    dump = bench_dump("cli")
    first: list[float] = []

    def setup():  # a fresh store and its first load (timed here, untimed by the benchmark)
        store = _open_store(fresh_dir())
        t0 = time.perf_counter()
        stats = load_dumps([dump.path], store)
        first.append(time.perf_counter() - t0)
        assert stats.inserted == dump.events, stats.summary_line()
        return (store,), {}

    stats = measure(lambda store: load_dumps([dump.path], store), setup=setup, teardown=_drop_store, dump=dump)
    assert (stats.inserted, stats.duplicates) == (0, dump.events), stats.summary_line()
    again = measure.times
    if again and first:
        r = statistics.median(again) / statistics.median(first)
        measure.note(first_load_s=[round(t, 3) for t in first], reload_over_first_load=round(r, 3))
        ratio("reload / first load (paired rounds)", r, 1.0,
              f"median {statistics.median(again):.2f} s / {statistics.median(first):.2f} s")


class _CountingProgress(Progress):
    calls = 0

    def __call__(self, *args) -> None:
        self.calls += 1
        super().__call__(*args)


def test_progress_overhead(measure, bench_dump, fresh_dir):
    dump = bench_dump("cli")
    plain: list[float] = []
    calls: list[int] = []
    n = [0]

    def load_plain():
        store = _open_store(fresh_dir())
        t0 = time.perf_counter()
        stats = load_dumps([dump.path], store)
        plain.append(time.perf_counter() - t0)
        _drop_store(store)
        assert stats.inserted == dump.events

    def setup():
        n[0] += 1
        if n[0] % 2:  # odd rounds: the reference load runs before, even rounds after (teardown)
            load_plain()
        return (_open_store(fresh_dir()), _CountingProgress(io.StringIO())), {}

    def teardown(store, progress):
        calls.append(progress.calls)
        _drop_store(store)
        if n[0] % 2 == 0:
            load_plain()

    def with_progress(store, progress):
        return load_dumps([dump.path], store, progress=progress)

    stats = measure(with_progress, setup=setup, teardown=teardown, dump=dump)
    assert stats.inserted == dump.events, stats.summary_line()
    assert not calls or min(calls) >= 1, "the progress callable was never called"
    timed = measure.times
    if timed and plain:
        r = statistics.median(timed) / statistics.median(plain)
        measure.note(without_progress_s=[round(t, 3) for t in plain], progress_calls=calls,
                     with_over_without=round(r, 4))
        ratio("load with progress / without (paired)", r, 1.02,
              f"median {statistics.median(timed):.2f} s / {statistics.median(plain):.2f} s, "
              f"{max(calls)} progress calls")
        per_call = _progress_call_cost(dump)
        direct = 1 + max(calls) * per_call / statistics.median(plain)
        measure.note(progress_call_us=round(per_call * 1e6, 2), with_over_without_direct=round(direct, 6))
        ratio("load with progress / without (calls' own cost)", direct, 1.02,
              f"{max(calls)} calls x {per_call * 1e6:.1f} us = {100 * (direct - 1):.4f} % of the load")


def _progress_call_cost(dump, n: int = 20_000) -> float:
    """Seconds per call of the progress callable the loader gets, including its throttle
    (``load._teller``: a clock read per batch), timed on their own."""
    progress = _CountingProgress(io.StringIO())
    t0 = time.perf_counter()
    for i in range(n):
        progress(dump.path, i * 4096, dump.size, i * 1000)
        time.monotonic()
    return (time.perf_counter() - t0) / n

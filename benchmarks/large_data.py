"""The data of the large-store benchmark (benchmarks/large_store.py): the generated weeks and
the appended day, and the store built from the weeks.

The weeks are gzip'd JSON Lines dumps of the generator (``WEEK_RECORDS`` records each, seeds
101, 102, ..., consecutive weeks from 2024-01-01), kept in bench-data/ and shared between store
sizes; with ``crowd`` they are the generator's ``--crowd`` weeks (a large organization: many
principals, keys and details), in files and stores of their own (``crowd`` in the names).
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO

from benchmarks.compare import DATA, ROOT

WEEK_RECORDS = 1_000_000
FIRST_WEEK = datetime(2024, 1, 1, tzinfo=timezone.utc)  # a Monday
WEEK_SEED = 101  # week i has seed WEEK_SEED + i
DAY_RECORDS = 150_000
DAY_SEED = 9001


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def iso(t: datetime) -> str:
    """RFC 3339 in UTC, with the fraction only when there is one."""
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        s += (".%06d" % t.microsecond).rstrip("0")
    return s + "Z"


def generated(records: int, seed: int, start: datetime, days: int, crowd: bool = False) -> Path:
    return DATA / ("gen-%s%d-seed%d-%s-%dd.jsonl.gz" % ("crowd-" if crowd else "", records, seed,
                                                         start.strftime("%Y%m%d"), days))


def ensure_generated(jobs: list[tuple[int, int, datetime, int]], parallel: int = 2, crowd: bool = False) -> list[Path]:
    """Generate the gzip'd JSON Lines dumps that are missing, ``parallel`` at a time (each in
    its own ``python -m benchmarks.generate``, written under a temporary name and renamed);
    ``crowd``: the generator's --crowd dumps."""
    DATA.mkdir(parents=True, exist_ok=True)
    paths = [generated(*job, crowd=crowd) for job in jobs]
    todo = [(job, p) for job, p in zip(jobs, paths) if not (p.exists() and Path(str(p) + ".truth.json").exists())]
    running: list[tuple[subprocess.Popen, IO[bytes], Path, Path, float]] = []

    def finish(proc, said, part, path, t0):
        with said:  # what the generator said, shown if it failed
            if proc.wait():
                said.seek(0)
                sys.exit("large_store: generating %s failed (exit %d):\n%s"
                         % (path, proc.returncode, said.read().decode(errors="replace")[-2000:]))
        os.replace(str(part) + ".truth.json", str(path) + ".truth.json")
        os.replace(part, path)
        log("  generated %s in %.0f s" % (path.name, time.perf_counter() - t0))

    for (records, seed, start, days), path in todo:
        while len(running) >= parallel:
            finish(*running.pop(0))
        part = path.with_name(path.name.replace(".jsonl.gz", ".part-%d.jsonl.gz" % os.getpid()))
        log("generating %s (%s%s records, %d day(s) from %s, seed %d) ..." % (
            path.name, f"{records:,}", " crowd" if crowd else "", days, start.date(), seed))
        cmd = [sys.executable, "-m", "benchmarks.generate", str(records), str(part), "--format", "jsonl",
               "--gzip", "--seed", str(seed), "--start", iso(start), "--days", str(days)]
        if crowd:
            cmd.append("--crowd")
        said = tempfile.TemporaryFile()
        running.append((subprocess.Popen(cmd, cwd=ROOT, stderr=said), said, part, path, time.perf_counter()))
    for job in running:
        finish(*job)
    return paths


def truth_events(path: Path) -> int:
    with open(str(path) + ".truth.json", encoding="utf-8") as f:
        return json.load(f)["summary"]["events"]


def week_plan(events: int) -> tuple[int, int]:
    """(weeks, records per week) for a store of ``events``."""
    weeks = max(1, round(events / WEEK_RECORDS))
    return weeks, events // weeks


def schema_of(path: Path) -> str:
    """A fingerprint of a store's layout: its user_version and the SQL of its tables, views
    and indexes."""
    conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        sql = [r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")]
    finally:
        conn.close()
    return hashlib.sha1(json.dumps([version, sql]).encode()).hexdigest()[:10]


def current_schema(cc: list[str]) -> str:
    """The fingerprint of the layout this ccaudit creates: it loads a small fixture into a new
    store. A store cached under another layout is not reused (ccaudit's layout may change
    while the store is kept)."""
    with tempfile.TemporaryDirectory(prefix="ccaudit-schema-") as d:
        db = Path(d, "s.db")
        p = subprocess.run([*cc, "load", str(ROOT / "fixtures" / "sample-array.json.gz"), "--db", str(db), "-q"],
                           capture_output=True, text=True)
        if p.returncode or not db.exists():
            sys.exit("large_store: ccaudit cannot load a fixture (exit %d):\n%s" % (p.returncode, p.stderr[-2000:]))
        return schema_of(db)


def store_path(events: int, schema: str, crowd: bool = False) -> Path:
    return DATA / ("store-%s%d-%s.db" % ("crowd-" if crowd else "", events, schema))


def ensure_store(events: int, cc: list[str], crowd: bool = False) -> tuple[Path, list[Path], float | None]:
    """bench-data/store-<events>-<layout fingerprint>.db (store-crowd-... of the crowd weeks),
    built if missing: (path, the weeks, seconds the load took or None if it was there)."""
    weeks, per_week = week_plan(events)
    dumps = ensure_generated([(per_week, WEEK_SEED + i, FIRST_WEEK + timedelta(weeks=i), 7) for i in range(weeks)],
                             crowd=crowd)
    store = store_path(events, current_schema(cc), crowd)
    if store.exists():
        return store, dumps, None
    part = store.with_name("%s.part-%d" % (store.name, os.getpid()))
    for p in (part, Path(str(part) + "-journal")):
        if p.exists():
            p.unlink()
    log("loading %d week(s) into %s ..." % (weeks, store))
    t0 = time.perf_counter()
    p = subprocess.run([*cc, "load", *map(str, dumps), "--db", str(part), "-q"], capture_output=True, text=True)
    took = time.perf_counter() - t0
    if p.returncode:
        part.unlink(missing_ok=True)
        sys.exit("large_store: loading the store failed (exit %d):\n%s" % (p.returncode, p.stderr[-2000:]))
    log("  %s" % p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "  loaded")
    log("  in %.0f s" % took)
    os.replace(part, store)
    return store, dumps, took


def store_stats(store: Path) -> dict:
    """events, file size, and bytes per table (if SQLite has dbstat) of a store."""
    conn = sqlite3.connect("file:%s?mode=ro" % store, uri=True)
    try:
        events = conn.execute("SELECT coalesce(sum(n), 0) FROM counts").fetchone()[0]
        rows = {t: conn.execute("SELECT count(*) FROM %s" % t).fetchone()[0] for t in ("keys", "details", "counts")}
        first, last = conn.execute("SELECT min(first_us), max(last_us) FROM counts").fetchone()
        try:
            tables = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"))
        except sqlite3.OperationalError:  # no dbstat in this SQLite
            tables = {}
    finally:
        conn.close()
    return {"events": events, "size": store.stat().st_size, "rows": rows, "tables": tables,
            "first": datetime.fromtimestamp(first / 1e6, timezone.utc) if first is not None else None,
            "last": datetime.fromtimestamp(last / 1e6, timezone.utc) if last is not None else None}



def day_job(last: datetime) -> tuple[int, int, datetime, int]:
    """The appended day: DAY_RECORDS records on the day after ``last`` (the store's last event)."""
    start = datetime(last.year, last.month, last.day, tzinfo=timezone.utc) + timedelta(days=1)
    return DAY_RECORDS, DAY_SEED, start, 1

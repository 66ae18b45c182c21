"""``ccaudit spark``: load archived dumps with Apache Spark, on a cluster or on every core
here, into a store of counts that report, summary, check and diff read unchanged.

Spark reads, splits, shuffles and aggregates; the rules are ccaudit's own, run inside
Spark's Python workers (``spark_job.py``). Only the aggregated counts and the per-block
load summaries reach the driver:

1. ``sources``: every input (a path, a glob, a folder or a Hadoop URI such as
   ``s3a://bucket/audit/2024/*/*.jsonl.gz``) is listed through Hadoop, in input order, and
   the first 256 KiB of each file decide its route: plain line-mode files are split across
   tasks; every other file is read whole by ccaudit's own reader in one task.
2. Each record becomes one event row with its position (file rank, block, ordinal).
3. De-duplication: per identity (UTC hour, id) the row at the smallest position wins, so
   the first copy in input order wins, as in a local load.
4. Counts per (UTC quarter hour, section, key, method, principal): n, first and last µs.
"""
from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import warnings
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial, reduce

from .errors import CcauditError, InputError, MissingExtra
from .ingest import BUFFER, note_if_failed, sniff
from .schema import QUARTER
from .stats import LoadStats

INSTALL_HINT = "ccaudit spark needs pyspark: pip install 'ccaudit[spark]' (in a clone: pip install '.[spark]')"
HEAD = BUFFER + 8  # what ingest.sniff looks at, and the longest magic number
_GLOB = re.compile(r"[*?\[{]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")  # a Hadoop URI (s3a:, hdfs:, file:) rather than a path


def require() -> None:
    """pyspark, and pyarrow and pandas, which its Arrow exchange with Python needs."""
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError:
        raise MissingExtra(INSTALL_HINT) from None
    # pyspark checks pandas' version on import and warns about pandas 3; only Arrow is used here
    warnings.filterwarnings("ignore", message=".*does not yet fully support pandas", category=FutureWarning)


@contextlib.contextmanager
def spark_errors() -> Iterator[None]:
    """Spark's failures as one line: its exceptions carry JVM and Python tracebacks."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    try:
        yield
    except ConnectionError as e:  # the JVM went away (out of memory, killed)
        if os.environ.get("CCAUDIT_DEBUG"):
            raise
        raise CcauditError(f"spark: lost the connection to Spark's JVM ({e.strerror or e}); did it run out of "
                           "memory? (CCAUDIT_DEBUG=1 shows its output)") from None
    except (PySparkException, Py4JError) as e:
        if os.environ.get("CCAUDIT_DEBUG"):
            raise
        lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [type(e).__name__]
        worker = lines[0].startswith("An exception was thrown from the Python worker")
        raise CcauditError(f"spark: {(lines[-1] if worker else lines[0])[:500]}") from None


def session(master: str | None = None, ui: bool = False):
    """(SparkSession, whether this call started it). An active session is reused (tests,
    notebooks); under spark-submit its --master and settings apply, and ``master`` wins.
    Without either, ``local[*]``. In local mode the JVM's console chatter and the workers'
    stderr go to /dev/null (``CCAUDIT_DEBUG=1`` keeps them); errors still come back."""
    require()
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    quiet = {} if os.environ.get("CCAUDIT_DEBUG") else {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    try:
        gateway = launch_gateway(popen_kwargs=quiet)
    except Exception as e:  # no Java, or one too old: pyspark says so in its message
        raise CcauditError(f"could not start Spark (it needs Java 17 or newer: java on PATH, or "
                           f"JAVA_HOME): {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    conf = SparkConf(_jvm=gateway.jvm)
    if master or not conf.contains("spark.master"):
        conf.setMaster(master or "local[*]")
    local = conf.get("spark.master").startswith("local")
    if local:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the workers need this ccaudit
        conf.setIfMissing("spark.ui.enabled", str(ui).lower())
    conf.setIfMissing("spark.app.name", "ccaudit")
    conf.set("spark.ui.showConsoleProgress", "false")
    conf.set("spark.sql.session.timeZone", "UTC")
    conf.setIfMissing("spark.hadoop.fs.permissions.umask-mode", "077")  # Parquet files 0600, folders 0700
    with spark_errors():
        sc = SparkContext(conf=conf, gateway=gateway)
        sc.setLogLevel("ERROR")
        return SparkSession(sc), True


@dataclass
class Source:
    """One input file: ``path`` for Spark's readers, ``uri`` as Spark names it in
    ``_metadata.file_path``, ``label`` as ccaudit's messages name it."""

    path: str
    uri: str
    label: str
    lines: bool = True  # plain line-mode: split across tasks; else read whole


def sources(spark, inputs: tuple[str, ...] | list[str]) -> list[Source]:
    """Every file of ``inputs``, in input order (a glob's or folder's files sorted by
    name, as a shell lists them), each with its route. An input matching nothing is an
    InputError, before any job starts."""
    jvm, conf = spark._jvm, spark._jsc.hadoopConfiguration()
    codecs = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf)
    found: list[tuple] = []
    for arg in inputs:
        local = not _SCHEME.match(arg)  # relative to our folder, which the JVM may not share (tests)
        path = jvm.org.apache.hadoop.fs.Path(os.path.abspath(arg) if local else arg)
        fs = path.getFileSystem(conf)
        matches = fs.globStatus(path)
        if not matches:
            raise InputError(f"{arg}: no such file")
        for status in sorted(matches, key=lambda s: s.getPath().toString()):
            if status.isDirectory():
                inner = [s for s in fs.listStatus(status.getPath())
                         if s.isFile() and not s.getPath().getName().startswith(("_", "."))]
                files = sorted(inner, key=lambda s: s.getPath().toString())
            else:
                files = [status]
            single = not _GLOB.search(arg) and not status.isDirectory()
            qualified = [fs.makeQualified(s.getPath()) for s in files]
            found += [(fs, p, arg if single else _label(arg, p)) for p in qualified]
    seen: set[str] = set()
    unique = []
    for fs, p, label in found:  # a file named twice is read once
        if str(p.toUri().toString()) not in seen:
            seen.add(str(p.toUri().toString()))
            unique.append((fs, p, label))
    with ThreadPoolExecutor(16) as pool:  # remote stores answer slowly, but in parallel
        heads = list(pool.map(lambda f: _head(f[0], f[1]), unique))
    return [Source(p.toString(), p.toUri().toString(), label,
                   codecs.getCodec(p) is None and _line_mode(head))
            for (fs, p, label), head in zip(unique, heads)]


def _label(arg: str, path) -> str:
    """A matched file as a shell would have named it: relative if the input was."""
    if _SCHEME.match(arg):
        return path.toString()
    local = path.toUri().getPath()
    return local if os.path.isabs(arg) else os.path.relpath(local)


def _head(fs, path) -> bytes:
    stream = fs.open(path)
    try:
        return bytes(stream.readNBytes(HEAD))
    finally:
        stream.close()


def _line_mode(head: bytes) -> bool:
    """Plain (not compressed) line-mode content, as ccaudit's own opening and sniffing see it."""
    from .spark_job import BytesDump

    dump = BytesDump("", head)
    try:
        stream = dump.open()
    except InputError:
        return False  # zstd, zip: the whole-file route reports it as a local load does
    return not dump.compressed and sniff(stream)[0] == "lines"


def aggregate(spark, inputs, parquet: str | None = None) -> tuple[list[tuple], LoadStats]:
    """Read ``inputs`` with Spark: the counts ``(quarter, section, key, method, principal,
    n, first_us, last_us)`` of the distinct events, and the load summary. With
    ``parquet``, the counts are also written there, partitioned by day."""
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    from .spark_job import EVENTS, Blocks, file_key, line_events, whole_events

    with spark_errors():
        files = sources(spark, inputs)
        if parquet:
            _refuse_existing(spark, parquet)
        names = {file_key(s.uri): (rank, s.label) for rank, s in enumerate(files)}
        blocks = spark.sparkContext.accumulator({}, Blocks())
        parts = []
        if lines := [s.path for s in files if s.lines]:
            text = spark.read.option("lineSep", "\n").text(lines).select(
                "_metadata.file_path", "_metadata.file_block_start", F.col("value").cast("binary"))
            parts.append(text.mapInArrow(partial(line_events, files=names, acc=blocks), EVENTS))
        if whole := [s.path for s in files if not s.lines]:
            data = spark.read.format("binaryFile").load(whole).select("_metadata.file_path", "content")
            parts.append(data.mapInArrow(partial(whole_events, files=names, acc=blocks), EVENTS))
        events = reduce(DataFrame.unionByName, parts)
        payload, position = F.struct("ts", "method", "principal", "section", "key"), F.struct("rank", "block", "k")
        first = events.groupBy("hour", "id").agg(F.min_by(payload, position).alias("e"))  # the first copy wins
        keys = ["quarter", "section", "key", "method", "principal"]
        counts = (first.select(F.expr(f"e.ts div {QUARTER * 10**6} * {QUARTER}").alias("quarter"),
                               "e.section", "e.key", "e.method", "e.principal", "e.ts")
                  .groupBy(*keys).agg(F.count("*").alias("n"), F.min("ts").alias("first_us"),
                                      F.max("ts").alias("last_us")))
        if parquet:
            counts = counts.cache()
        table = counts.toArrow()
        rows = list(zip(*(table.column(c).to_pylist() for c in (*keys, "n", "first_us", "last_us"))))
        if parquet:
            day = F.date_format(F.timestamp_seconds("quarter"), "yyyy-MM-dd")
            counts.withColumn("day", day).write.partitionBy("day").parquet(parquet)
            counts.unpersist()
    stats = load_stats([s.label for s in files], blocks.value)
    stats.inserted = sum(r[5] for r in rows)
    stats.duplicates = stats.records_read - stats.inserted
    return rows, stats


def _refuse_existing(spark, folder: str) -> None:
    path = spark._jvm.org.apache.hadoop.fs.Path(folder)
    if path.getFileSystem(spark._jsc.hadoopConfiguration()).exists(path):
        raise CcauditError(f"{folder}: already exists; --parquet needs a new folder")


def load_stats(labels: list[str], blocks: dict) -> LoadStats:
    """The load summary of the files (in input order) from their blocks' summaries: line
    numbers made absolute, the first malformed places in file and line order, and an
    input with content but not one record noted as failed, as a local load does."""
    by_file: dict[int, list] = defaultdict(list)
    for (rank, block), summary in blocks.items():
        by_file[rank].append((block, summary))
    stats = LoadStats()
    for rank, label in enumerate(labels):
        before = stats.records_read, stats.noise_lines, stats.malformed
        offset = 0
        for _, (lines, records, noise, malformed, problems, failed) in sorted(by_file[rank], key=lambda b: b[0]):
            for pos, why in problems:
                stats.bad(label, pos + offset if isinstance(pos, int) else pos, why)
            stats.malformed += malformed - len(problems)
            stats.records_read += records
            stats.noise_lines += noise
            offset += lines
            if failed:
                stats.fail(label, failed)
        note_if_failed(label, stats, before)
    return stats


def run(inputs, store, master: str | None = None, parquet: str | None = None) -> LoadStats:
    """``ccaudit spark``: aggregate with Spark, then add the counts to ``store``, which
    must hold nothing yet (counts without events cannot be told apart from what it has)."""
    store.refuse_mixing("counts")  # before minutes of Spark; and again as the counts are written
    spark, started = session(master)
    try:
        rows, stats = aggregate(spark, inputs, parquet)
    finally:
        if started:
            with spark_errors():
                spark.stop()
    store.add_counts(rows)
    return stats

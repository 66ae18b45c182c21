"""``ccaudit spark``: load archived dumps with Apache Spark, on a cluster or on every core
here, into a store of counts that report, summary, check and diff read unchanged.

Spark reads, splits, shuffles and aggregates; the rules are ccaudit's own, run inside
Spark's Python workers (``spark_job.py``). Only the aggregated counts and the per-block
load summaries reach the driver:

1. ``spark_inputs.sources``: every input (a path, a glob, a folder or a Hadoop URI such
   as ``s3a://bucket/audit/2024/*/*.jsonl.gz``) is listed, in input order, and each file's
   first bytes decide its route by ccaudit's own ``sniff``: plain line-mode files are
   split across tasks; every other file is read whole by ccaudit's reader in one task.
2. Each record becomes one event row with its position (file rank, block, ordinal).
3. De-duplication: per identity (UTC hour, id) the row at the smallest position wins, so
   the first copy in input order wins, as in a local load.
4. Counts per (UTC quarter hour, section, key, method, principal): n, first and last µs.

The JVM is started by ``spark_jvm.Jvm``, not by pyspark, so that ccaudit owns it: its own session,
umask 077, a private scratch folder in TMPDIR, killed with its Python workers however the run ends."""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator
from functools import partial, reduce
from typing import Any

from . import storelock
from .errors import CcauditError, MissingExtra, StoreError, add_note, out_of_space, temp_full
from .schema import QUARTER
from .spark_failures import STARTING, spark_message, unread_input, without_password
from .spark_jvm import Jvm, holding_stops, local_settings
from .spool import SpoolFile
from .stats import LoadStats
from .stops import STOPPING, Terminated
from .tempdirs import make_temp_dir, temp_root

INSTALL_HINT = "ccaudit spark needs pyspark: pip install 'pyspark[sql]>=4' (in ccaudit's clone: pip install '.[spark]')"
_stopped: list[int] = []  # the stopping signals that came while Spark ran, see _noting_stops


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
    # a stop (Ctrl-C to the process group) as the context starts kills the JVM before pyspark's own
    # clean-up stops it: the run says it was stopped, in one line, and the JVM is gone as it should be
    warnings.filterwarnings("ignore", message="Unable to cleanly shutdown Spark JVM", category=RuntimeWarning)


@contextlib.contextmanager
def spark_errors(files: list | None = None) -> Iterator[None]:
    """Spark's failures as one line: its exceptions carry JVM and Python tracebacks. After
    Ctrl-C or SIGTERM whatever fails is the interruption's doing (pyspark turns it into a
    cancelled job, the killed JVM into a lost connection), so the run ends as interrupted.
    A failure to read one of ``files`` (``spark_inputs.Source``) names that file."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    try:
        yield
    except Exception as e:
        if _stopped:
            raise (KeyboardInterrupt() if _stopped[0] == signal.SIGINT else Terminated(_stopped[0])) from None
        if not isinstance(e, (ConnectionError, EOFError, PySparkException, Py4JError)):  # (EOF: the counts' socket)
            raise
        if os.environ.get("CCAUDIT_DEBUG"):  # while the JVM lives: py4j reads the exception's text from it
            traceback.print_exc()
        raise (unread_input(e, files or []) or CcauditError(spark_message(e))) from None


@contextlib.contextmanager
def _noting_stops(jvm: Jvm | None) -> Iterator:
    """Note Ctrl-C, SIGTERM and SIGHUP (see spark_errors) and kill our JVM at once, so that
    nothing waits for Spark; the handler that was there then raises as usual. Ctrl-Z stops
    our JVM with us, as its own session does not get the terminal's signals. Yields the
    function that puts the note back (pyspark's SparkContext sets a SIGINT handler)."""
    main = threading.current_thread() is threading.main_thread()
    before: dict[int, Any] = {s: signal.getsignal(s) for s in STOPPING} if main else {}
    pausing = main and jvm is not None and signal.getsignal(signal.SIGTSTP) == signal.SIG_DFL
    _stopped.clear()

    def pause(signum: int, frame) -> None:
        jvm.send(signal.SIGSTOP)  # type: ignore[union-attr]  # installed only with a JVM (pausing)
        os.kill(os.getpid(), signal.SIGSTOP)  # not SIGTSTP, which the system drops for an orphaned group
        jvm.send(signal.SIGCONT)  # type: ignore[union-attr]  # continued (fg, bg)

    def note(signum: int, frame) -> None:
        _stopped.append(signum)
        if jvm is not None:
            _quiet_accumulators()
            jvm.send()
        else:  # spark-submit's JVM: only its jobs are ours to stop
            _cancel_jobs()
        before[signum](signum, frame)

    def install() -> None:  # SIG_IGN stays (nohup, cmd &): pyspark's handler stopped the run
        for s, handler in before.items():
            if handler is not None:
                signal.signal(s, note if callable(handler) else handler)

    install()
    if pausing:
        signal.signal(signal.SIGTSTP, pause)
    try:
        yield install
    finally:
        for s, handler in before.items():
            if handler is not None:
                signal.signal(s, handler)
        if pausing:
            signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        _stopped.clear()


def _quiet_accumulators() -> None:
    """pyspark's thread that takes the accumulators' updates reads from the JVM: once that is
    killed, it printed the traceback of its EOFError between dashed lines."""
    from pyspark import SparkContext

    if server := getattr(SparkContext._active_spark_context, "_accumulatorServer", None):
        server.handle_error = lambda *request: None


def _cancel_jobs() -> None:
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:
        with contextlib.suppress(Exception):
            SparkContext._active_spark_context.cancelAllJobs()


@contextlib.contextmanager
def session(master: str | None = None) -> Iterator:
    """A SparkSession for the block. An active session is reused (tests, notebooks); under
    spark-submit its JVM, --master and settings apply, and ``master`` wins. Otherwise a JVM
    of our own (``Jvm``), killed afterwards, with its scratch folder. Without a master,
    ``local[*]``. In local mode the JVM's console chatter and the workers' stderr go to
    /dev/null (``CCAUDIT_DEBUG=1`` keeps them); errors still come back."""
    require()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    if not os.environ.get("CCAUDIT_DEBUG") and not logging.getLogger().handlers:  # py4j logs tracebacks there
        logging.getLogger().addHandler(logging.NullHandler())
    scratch = None if "PYSPARK_GATEWAY_PORT" in os.environ else _scratch()
    jvm = Jvm(scratch) if scratch else None
    try:
        with _noting_stops(jvm) as note_again, spark_errors():
            spark = _start(jvm, master, scratch, note_again)
            _quiet_accumulators()  # a JVM gone (out of memory, a signal) printed that thread's traceback
            try:
                yield spark
            finally:
                _stop(spark)
    finally:
        if jvm is not None:
            with holding_stops():  # a second Ctrl-C would leave the scratch folder
                jvm.reap()
                _forget_gateway()
                shutil.rmtree(scratch, ignore_errors=True)  # type: ignore[arg-type]  # a JVM's: made with it


def _scratch() -> str:
    """A private folder in TMPDIR for Spark's files (spark.local.dir, a list: split at a comma)."""
    scratch = make_temp_dir()
    if "," in scratch:
        shutil.rmtree(scratch, ignore_errors=True)
        raise CcauditError(f"{os.path.dirname(scratch)}: the temporary folder's path holds a comma, which Spark "
                           "takes for a list of folders; set TMPDIR to a folder whose path has none")
    return scratch


def _start(jvm: Jvm | None, master: str | None, scratch: str | None, note_again: Callable[[], None]):
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    gateway = jvm.start() if jvm else launch_gateway()
    conf = SparkConf(_jvm=gateway.jvm)
    if master or not conf.contains("spark.master"):
        conf.setMaster(master or "local[*]")
    url = conf.get("spark.master") or ""  # (set above)
    if url.startswith("local"):
        local_settings(conf)
    if scratch:
        conf.set("spark.local.dir", scratch)  # shuffle and spill files: event rows
    conf.setIfMissing("spark.app.name", "ccaudit")
    conf.set("spark.ui.showConsoleProgress", "false")
    conf.set("spark.sql.session.timeZone", "UTC")
    conf.setIfMissing("spark.hadoop.fs.permissions.umask-mode", "077")  # Parquet files 0600, folders 0700
    # --parquet caches the counts, and a cached plan kept its 200 shuffle partitions: 400 tasks
    # wrote a fixture's Parquet in 30 s, against 3 s with the partitions adaptive execution merges
    conf.setIfMissing("spark.sql.optimizer.canChangeCachedPlanOutputPartitioning", "true")
    at = without_password(url)  # (read now: the JVM may be gone after a failure)
    try:
        sc = SparkContext(conf=conf, gateway=gateway)
    except Exception as e:  # k8s:// out of reach said only "An error has occurred. (Connection refused)"
        add_note(e, STARTING + at)  # (CCAUDIT_DEBUG prints it with the traceback)
        raise
    note_again()  # at once: SparkContext ends by putting in its own SIGINT handler
    sc.setLogLevel("ERROR")
    return SparkSession(sc)


def _stop(spark) -> None:
    """Stop Spark's context, unless a signal stopped the run: its JVM is killed instead.
    A failure here cannot change the counts, which are in hand by now."""
    if not _stopped:
        with contextlib.suppress(Exception):
            spark.stop()


def _forget_gateway() -> None:
    """pyspark keeps the gateway of the JVM we killed; a later session needs a new one."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    SparkContext._gateway = SparkContext._jvm = SparkContext._active_spark_context = None
    SparkSession._instantiatedSession = SparkSession._activeSession = None
    # its connections to that JVM log as they are collected (close() and quiet_close), maybe as
    # the interpreter ends, logging torn down: "Exception ignored in ... __del__", a traceback
    for name in ("py4j.clientserver", "py4j.java_gateway"):
        logging.getLogger(name).disabled = not os.environ.get("CCAUDIT_DEBUG")


def aggregate(spark, inputs, parquet: str | None = None, store: str | None = None) -> tuple[SpoolFile, LoadStats]:
    """Read ``inputs`` with Spark: the counts ``(quarter, section, key, method, principal,
    n, first_us, last_us)`` of the distinct events, and the load summary. With
    ``parquet``, the counts are also written there, partitioned by day. ``store``: the
    store being written, not read if an input's folder holds it."""
    from .spark_inputs import sources

    links = make_temp_dir() if spark.sparkContext.master.startswith("local") else None  # executors see our files
    files: list = []  # a failure to read one names it, not the link Spark was given
    try:
        with spark_errors(files):
            files += sources(spark, inputs, links, store)
            return _aggregate(spark, files, parquet)
    finally:
        if links:
            shutil.rmtree(links, ignore_errors=True)


def _aggregate(spark, files: list, parquet: str | None) -> tuple[SpoolFile, LoadStats]:
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    from .spark_inputs import all_listed
    from .spark_job import EVENTS, Blocks, file_key, line_events, whole_events

    if parquet:
        _refuse_existing(spark, parquet)
    names = {file_key(s.uri): (rank, s.label) for rank, s in enumerate(files)}
    blocks = spark.sparkContext.accumulator({}, Blocks())
    parts = []
    if lines := [s for s in files if s.lines]:
        text = spark.read.option("lineSep", "\n").text([s.path for s in lines])
        all_listed(lines, text.inputFiles())
        text = text.select("_metadata.file_path", "_metadata.file_block_start", F.col("value").cast("binary"))
        parts.append(text.mapInArrow(partial(line_events, files=names, acc=blocks), EVENTS))
    if whole := [s for s in files if not s.lines]:
        data = spark.read.format("binaryFile").load([s.path for s in whole])
        all_listed(whole, data.inputFiles())
        data = data.select("_metadata.file_path", "content")
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
    rows, inserted = _spooled(counts.select(*keys, "n", "first_us", "last_us"))
    try:
        return rows, _finished(spark, counts, files, blocks.value, parquet, inserted)
    except BaseException:
        rows.close()
        raise


def _finished(spark, counts, files: list, blocks: dict, parquet: str | None, inserted: int) -> LoadStats:
    """The counts written to ``parquet`` too, if asked, and the load summary."""
    from pyspark.sql import functions as F

    from .spark_inputs import note_changed_sizes
    from .spark_job import load_stats

    if parquet:
        _refuse_existing(spark, parquet)  # again: one made meanwhile (by another run) is not this run's
        try:
            counts.withColumn("day", F.date_format(F.timestamp_seconds("quarter"), "yyyy-MM-dd")) \
                .repartition("day").write.partitionBy("day").parquet(parquet)  # a file a day, not a task's each
        except BaseException:
            remove_parquet(parquet)
            raise
        counts.unpersist()
    stats = load_stats([s.label for s in files], blocks, [s.binary for s in files])
    note_changed_sizes(files, stats)
    stats.inserted = inserted
    stats.duplicates = stats.records_read - stats.inserted
    return stats


def _spooled(counts) -> tuple[SpoolFile, int]:
    """The rows of ``counts``, and the events they count: taken a partition at a time, in
    lists that Spark's workers marshal, and kept in a temporary file until the store takes
    them. Collected whole (``toArrow``), 400,000 keys took the driver's Python 383 MiB."""
    from .spark_job import PACKED, packed_counts

    folder = temp_root()
    spool, events = SpoolFile(folder), 0
    try:
        for rows, n in counts.mapInArrow(packed_counts, PACKED).toLocalIterator():
            try:
                spool.add(rows)
            except OSError as e:  # (not Spark's: the boundary would take it for standard output's)
                raise temp_full(folder) if out_of_space(e) else \
                    CcauditError(f"{folder}: cannot write a temporary file: {e.strerror}") from None
            events += n
    except BaseException:
        spool.close()
        raise
    return spool, events


def _refuse_existing(spark, folder: str) -> None:
    path = spark._jvm.org.apache.hadoop.fs.Path(folder)
    if path.getFileSystem(spark._jsc.hadoopConfiguration()).exists(path):
        raise CcauditError(f"{folder}: already exists; --parquet needs a new folder")


def remove_parquet(folder: str) -> None:
    """Remove the --parquet folder this run wrote, of a run that failed: left, it looked
    complete, and a run again was refused for it. One behind a URI is left to its owner."""
    from .spark_inputs import is_uri

    if not is_uri(folder):
        shutil.rmtree(folder, ignore_errors=True)


def _refuse_another_writer(path: str) -> None:
    """A load or a Spark run writing the store now: the counts of this run's minutes of Spark
    would be refused once made, as the store would hold the other's by then."""
    try:
        fd = storelock.descriptor(path)
    except OSError:  # not made yet (or :memory:): nobody writes it
        return
    try:
        if storelock.writer_holds(fd):
            raise StoreError(f"{path}: another ccaudit is writing it; ccaudit spark writes counts into a new store "
                             "of its own: give another")
    finally:
        storelock.close(fd)


def run(inputs, store, master: str | None = None, parquet: str | None = None) -> LoadStats:
    """``ccaudit spark``: aggregate with Spark, then add the counts to ``store``, which
    must hold nothing yet (counts without events cannot be told apart from what it has)."""
    store.refuse_mixing("counts")  # before minutes of Spark; and again as the counts are written
    if store.made is None:  # (made for this run, ``Store(loading=inputs)``, it is held since: by none other)
        _refuse_another_writer(store.path)
    from .spark_inputs import check_inputs

    check_inputs(inputs, store.path)
    with store.holding():  # held through Spark's minutes, as a load is: clean refuses it meanwhile
        store.claim_for_counts()  # and a load begun meanwhile is refused
        rows: SpoolFile | None = None
        try:
            with session(master) as spark:
                rows, stats = aggregate(spark, inputs, parquet, store.path)
            try:
                store.add_counts(rows)
            except BaseException:
                if parquet:
                    remove_parquet(parquet)
                raise
        finally:
            if rows is not None:  # (also when stopping Spark failed, or Ctrl-C came meanwhile)
                rows.close()
    return stats

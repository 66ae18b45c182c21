"""Download the audit-log topic to a file, exactly up to its end, resumably.

An optional extra (``pip install '.[download]'``): confluent_kafka is
imported only when a download starts, so the rest of ccaudit never needs it.

How a run works, and why:

* At start it snapshots each partition's end offset and stops there by itself,
  so a run always finishes and records arriving later go to the next run.
* Offsets live in a local state file, never in Kafka: the consumer uses
  ``assign()`` with explicit offsets and never commits, so the audit API key
  needs no consumer-group write access.
* The output appears under its final name only when complete, and the state
  file is updated only after that (``download_files.py``), so a chain of runs
  yields every record once (twice only if a run is killed between the two renames).
* All Kafka calls go through ``kafka_source.KafkaSource``, a small adapter in plain
  Python types, so tests can drive the loop with a fake (retention gaps, auth errors).
"""
from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .download_files import (
    StreamNotWritten,
    check_out,
    check_state_folder,
    fingerprint,
    is_stream,
    load_state,
    out_name,
    output,
    record_line,
    record_time,
    refuse_to_replace,
    save_state,
)
from .errors import CcauditError, InputError, MissingExtra, add_note
from .folders import writing_into
from .kafka_config import kept_brokers, load_properties
from .kafka_source import (
    EARLIEST,
    INSTALL_HINT,
    Deadline,
    KafkaSource,
    Message,
    batches,
    confluent_kafka_installed,
)
from .stops import Terminated, block_stops, drop_stops, restore_signals
from .text import plural, quoted

DEFAULT_TOPIC = "confluent-audit-log-events"
CONNECT_TIMEOUT = 30.0  # a typo'd or firewalled bootstrap should not wait out --timeout
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")  # what Kafka takes as a topic's name


# --- results ---------------------------------------------------------------


@dataclass
class DownloadProgress:
    """A snapshot of a running download; the CLI draws its ``line()`` on stderr.

    Not ``progress.Progress``: that one draws load progress itself, from bytes read. The
    last snapshot of a run, on every way out of it, is ``done`` and its line is empty, so
    drawing it erases the line before an error or the summary is printed after it.
    """

    records: int
    bytes: int
    lag: dict[int, int]  # records still to fetch, per partition
    rate: float  # records per second so far
    done: bool = False

    def line(self) -> str:
        if self.done:
            return ""
        top = sorted(((n, p) for p, n in self.lag.items() if n), reverse=True)[:3]
        parts = ", ".join(f"p{p} {n:,}" for n, p in top)
        return (f"{self.records:,} records, {_size(self.bytes)}, lag {sum(self.lag.values()):,}"
                f"{f' ({parts})' if parts else ''}, {self.rate:,.0f} records/s")


@dataclass
class DownloadResult:
    """What a finished download wrote and which time window it covers."""

    out_path: str
    topic: str
    records: int = 0
    bytes: int = 0
    first_time: datetime | None = None
    last_time: datetime | None = None
    partitions: int = 0
    lost_to_retention: int = 0  # records deleted by retention before this run reached them
    skipped: int = 0  # tombstones and empty values: not audit records, not written
    compressed: bool = False  # (--gzip) bytes counts the records before compression
    offsets: dict[int, int] = field(default_factory=dict)  # next offset per partition
    seen: dict[int, list] = field(default_factory=dict)  # each partition's last record read (its fingerprint)
    elapsed: float = 0.0

    def summary_line(self) -> str:
        if self.first_time:
            window = f"covering {_iso(self.first_time)} to {_iso(self.last_time)}"  # type: ignore[arg-type]  # both set
        elif self.records:  # none has a `time`, nor a Kafka timestamp a date can hold
            window = "no time window (no record has a time)"
        else:
            window = "no time window (nothing new)"
        gzip = " before gzip" if self.compressed else ""
        line = (f"wrote {plural(self.records, 'record')} ({_size(self.bytes)}{gzip}) from "
                f"{plural(self.partitions, 'partition')} of {self.topic} to {out_name(self.out_path)}, "
                f"{window}, in {self.elapsed:.1f}s")
        if self.skipped:
            line += f" ({plural(self.skipped, 'empty message')} skipped)"
        if self.lost_to_retention:
            line += (
                f"; WARNING: {self.lost_to_retention:,} records were deleted by retention "
                "before they could be downloaded (run more often than the 7-day retention)"
            )
        return line


# --- entry point -----------------------------------------------------------


def download(
    config_path,
    out_path,
    *,
    state_path=None,
    topic: str = DEFAULT_TOPIC,
    compress: bool = False,
    timeout: float = 300.0,
    insecure_config: bool = False,
    progress: Callable[[DownloadProgress], None] | None = None,
    exits_after: bool = False,
) -> DownloadResult:
    """Write every record of ``topic`` up to its current end to ``out_path``.

    Starts after the offsets in ``state_path`` (if given and present) and saves
    the new ones there once the output is in place. ``out_path`` ``-`` is standard
    output. Raises ``CcauditError`` (one-line, secret-free message) on any failure,
    leaving nothing under ``out_path`` and the state file untouched. ``exits_after``:
    the caller only reports and exits, so once the state is saved, Ctrl-C, SIGTERM and
    SIGHUP stay held off for good (a stop then made a complete run exit 130, and
    ``download && load`` skip the load of records the state had moved past).
    """
    started = time.monotonic()
    # a name Kafka would not take: the client's error for one it could not encode was taken for standard output's
    if not _TOPIC.fullmatch(topic) or topic in (".", ".."):
        raise InputError(f"--topic {quoted(topic)}: not a Kafka topic's name (at most 249 letters, digits, "
                         "'.', '_' and '-')")
    check_out(out_path, config_path, state_path, compress)  # before anything opens a descriptor: see check_out
    try:
        conf = load_properties(config_path, insecure=insecure_config)
    except InputError:  # said after what must come first: without the extra, no properties file helps
        if not confluent_kafka_installed():
            raise MissingExtra(INSTALL_HINT) from None
        raise
    deadline = Deadline(timeout)  # from here: a properties file from a pipe (<(pass ...)) may wait on its writer
    if state_path:  # a link is written through: its own folder was locked and the link replaced by a file
        state_path = os.path.realpath(state_path)
        check_state_folder(state_path)
    # Runs that chain on one state file take turns: two at once each fetched every record after it
    with (writing_into(os.path.dirname(os.path.realpath(state_path)), deadline.at,
                       f"timed out after {timeout:g}s (--timeout)") if state_path else nullcontext()):
        return _download((conf, str(config_path)), out_path, state_path, topic, compress, deadline, progress, started,
                         exits_after)


def _download(config: tuple[dict, str], out_path, state_path, topic: str, compress: bool, deadline: Deadline,
              progress, started: float, exits_after: bool) -> DownloadResult:
    """``download`` once the inputs are checked (``config``: the settings, and their file's name)."""
    conf, config_path = config
    bootstrap = kept_brokers(conf)
    saved, seen = load_state(state_path, topic, bootstrap) if state_path else ({}, {})
    if state_path:
        refuse_to_replace(out_path, compress)
    result = DownloadResult(out_path=str(out_path), topic=topic, compressed=compress, seen=seen)
    held: list = []  # the signal mask while the output is put in place and the state saved
    try:
        kept = ", state file unchanged" if state_path else ""  # said of a run that fails
        _run(_connect(conf, topic, config_path), saved, deadline, (out_path, compress, kept), progress, result, held)
        if state_path:
            _save(state_path, topic, bootstrap, result)
        if held:
            drop_stops()  # done: a stop that came meanwhile came with nothing left to stop
            if exits_after:
                held.clear()  # nor will one that comes later: the mask stays
    finally:
        if progress:  # erases the progress line, whatever ends the run
            progress(DownloadProgress(result.records, result.bytes, {}, 0.0, done=True))
        restore_signals(held[0] if held else None)  # a Ctrl-C meanwhile stops the run now
    result.elapsed = time.monotonic() - started
    return result


def _run(source, saved: dict, deadline, out: tuple, progress, result: DownloadResult, held: list) -> None:
    """Snapshot the ends, then fetch up to them into the output (path, compress, and what
    a failure says of the state file). Ctrl-C, SIGTERM and SIGHUP are then held off (their
    mask put in ``held``) once every record is fetched: a stop after the output was put in
    place but before the state was saved left both, and the next run fetched every record
    again; without one, the whole file and exit 130."""
    path, compress, kept = out
    try:
        with _saying_what_is_left(path, compress, result, kept):  # of a failure to fetch, or to write
            bounds = _snapshot(source, saved, deadline, result)
            _check_same_topic(source, bounds, result.seen, deadline)
            with output(path, compress, until=deadline.at) as f:
                _fetch(source, bounds, f, deadline, progress, result)
                if not is_stream(path):
                    held.append(block_stops())  # before the file is put in place
        if not held:  # a stream, once flushed: a reader that stalls cannot hold off a stop
            held.append(block_stops())
    finally:
        source.close()


@contextmanager
def _saying_what_is_left(out_path, compressed: bool, result: DownloadResult, kept: str) -> Iterator[None]:
    """A run that fails while fetching or writing says what it leaves behind: a file appears
    only when complete, but a stream has had the records written so far (at most: a failed
    write's buffer held the last of them, gzip those it had not compressed yet)."""
    def written(at_most: bool) -> str:
        some = plural(result.records, "record")
        return f"{f'at most {some}' if at_most else f'{some} already'} written to {out_name(out_path)}{kept}"

    try:
        yield
    except CcauditError as e:
        if not result.records or not is_stream(out_path):
            raise CcauditError(f"{e}; nothing written{kept}") from None
        raise CcauditError(f"{e}; {written(compressed or isinstance(e, StreamNotWritten))}") from None
    except (KeyboardInterrupt, Terminated) as e:  # a stop: the command's line says what a stream already had, at most
        if result.records and is_stream(out_path):  # (a buffer's last records go only to a reader not stopped too)
            add_note(e, written(True))
        raise


def _save(state_path, topic: str, bootstrap: str, result: DownloadResult) -> None:
    try:
        save_state(state_path, topic, bootstrap, result.offsets, _iso(datetime.now(timezone.utc)), result.seen)
    except CcauditError as e:
        raise CcauditError(f"the download is complete in {out_name(result.out_path)}, but the state was not "
                           f"saved ({e}), so the next run will fetch its records again") from None


def _connect(conf: dict, topic: str, origin: str) -> KafkaSource:
    """Open the real consumer (``origin`` names the properties file in its errors); tests
    replace this to run the loop on a fake."""
    return KafkaSource(conf, topic, origin)


# --- the run ---------------------------------------------------------------


def _snapshot(source, saved: dict, deadline: Deadline, result: DownloadResult) -> dict:
    """Per partition, where to start (the saved offset, else the earliest the broker still
    has), where to stop (the end now), and the earliest offset as answered (for the lag).

    The earliest is never used to skip records: a broker that answers a query while a
    leader moves can give the end for it. Records are counted lost to retention only when
    the fetch itself finds them gone (see ``_fetch``)."""
    bounds = {}
    with deadline.owning(CONNECT_TIMEOUT) as wait:
        partitions = source.list_topics(wait)
    if gone := sorted(set(saved) - set(partitions)):  # Kafka never removes a partition: was dropped silently
        raise CcauditError(f"the state file has partition {gone[0]}, which the topic does not: was the topic "
                           "recreated? (delete the state file to start over)")
    for p in partitions:
        with deadline.owning(CONNECT_TIMEOUT) as wait:
            low, high = source.get_watermark_offsets(p, wait)
        start = saved.get(p, EARLIEST)
        if start > high:
            raise CcauditError(
                f"the state file says partition {p} is at offset {start}, but the topic ends "
                f"at {high}: was the topic recreated? (delete the state file to start over)"
            )
        bounds[p] = (start, high, low)
    result.partitions = len(bounds)
    return bounds


def _fetch(source, bounds: dict, out, deadline: Deadline, progress, result: DownloadResult):
    """Consume every partition up to its snapshot end; later records are left alone. A
    partition whose next records the broker no longer has (retention deleted them, before
    or during the run) is read on from its earliest record, and the gap counted lost."""
    ends = {p: end for p, (_, end, _) in bounds.items()}
    position = {p: start for p, (start, _, _) in bounds.items()}
    pending = {p for p in bounds if position[p] < ends[p]}
    restarted: set[int] = set()
    last: dict[int, Message] = {}  # each partition's last record read
    if pending:
        source.assign({p: position[p] for p in pending})
    started = shown = time.monotonic()
    _show(progress, result, bounds, position, started)
    fetched = batches(source, deadline)
    while pending:
        for msg in next(fetched):
            p = msg.partition
            if p not in pending:
                continue
            if msg.gone:
                source.restart(p)
                restarted.add(p)
                continue
            if p in restarted and position[p] != EARLIEST:  # the first offset the broker still has
                restarted.discard(p)
                first = min(msg.offset, ends[p])
                if first > position[p]:
                    result.lost_to_retention += first - position[p]
                    position[p] = first
            if not msg.eof and position[p] <= msg.offset < ends[p]:
                _write(out, msg, result)
                position[p] = msg.offset + 1
                last[p] = msg
            if position[p] >= ends[p] or (msg.eof and msg.offset >= ends[p]):
                position[p] = ends[p]  # skips offsets without records (control batches)
                pending.discard(p)
        if time.monotonic() - shown >= 0.5:
            shown = time.monotonic()
            _show(progress, result, bounds, position, started)
    _show(progress, result, bounds, position, started)
    result.offsets = position
    result.seen.update((p, fingerprint(m.offset, m.timestamp_ms, m.value)) for p, m in last.items())


def _check_same_topic(source, bounds: dict, seen: dict[int, list], deadline: Deadline) -> None:
    """Read again each partition's last record that the state saw (if still kept, and still
    the one before where the run starts), and fail if another is there: a topic deleted
    and made again has records at those offsets that the run would skip."""
    wanted = {p: f[0] for p, f in seen.items() if p in bounds and bounds[p][2] <= f[0] < bounds[p][0] <= bounds[p][1]}
    if wanted:
        source.assign(dict(wanted))
    fetched = batches(source, deadline)
    while wanted:
        for msg in next(fetched):
            p = msg.partition
            if p in wanted and not (msg.eof or msg.gone) and msg.offset == wanted[p] \
                    and fingerprint(msg.offset, msg.timestamp_ms, msg.value) != seen[p]:
                raise CcauditError(f"partition {p} holds another record at offset {msg.offset} than the last run "
                                   "read: was the topic recreated? (delete the state file to start over)")
            wanted.pop(p, None)  # (gone, or a control record there: it cannot tell)


def _show(progress, result, bounds, position, started) -> None:
    if progress:
        rate = result.records / max(time.monotonic() - started, 1e-3)
        lag = {p: end - max(position[p], low) for p, (_, end, low) in bounds.items()}
        progress(DownloadProgress(result.records, result.bytes, lag, rate))


def _write(out, msg: Message, result: DownloadResult) -> None:
    if not msg.value or msg.value.isspace():  # tombstone, empty or blank (a load skips it): not a record
        result.skipped += 1
        return
    line, record = record_line(msg.value)
    out.write(line)
    result.records += 1
    result.bytes += len(line)
    when = record_time(record, msg.timestamp_ms)
    if when:
        result.first_time = min(result.first_time or when, when)
        result.last_time = max(result.last_time or when, when)


def _iso(when: datetime) -> str:
    spec = "milliseconds" if when.microsecond else "seconds"
    return when.astimezone(timezone.utc).isoformat(timespec=spec).replace("+00:00", "Z")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return ""

"""Download the audit-log topic to a file, exactly up to its end, resumably.

An optional extra (``pip install 'ccaudit[download]'``): confluent_kafka is
imported only when a download starts, so the rest of ccaudit never needs it.

How a run works, and why:

* At start it snapshots each partition's end offset and stops there by itself,
  so a run always finishes and records arriving later go to the next run.
* Offsets live in a local state file, never in Kafka: the consumer uses
  ``assign()`` with explicit offsets and never commits, so the audit API key
  needs no consumer-group write access.
* The output appears under its final name only when complete, and the state
  file is updated only after that (``download_files.py``), so a chain of runs
  yields every record exactly once whatever happens in between.
* All Kafka calls go through ``kafka_source.KafkaSource``, a small adapter in
  plain Python types, so tests can drive the loop with a fake (retention gaps,
  auth errors).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .classify import LAST_TIME, parse_time
from .download_files import check_state_folder, load_state, output, refuse_to_replace, save_state
from .errors import CcauditError
from .kafka_config import load_properties
from .kafka_source import KafkaSource, Message

DEFAULT_TOPIC = "confluent-audit-log-events"
CONNECT_TIMEOUT = 30.0  # a typo'd or firewalled bootstrap should not wait out --timeout
BATCH = 1000
POLL = 0.25  # consume() waits this long for a full batch; keeps Ctrl-C and progress snappy
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# --- results ---------------------------------------------------------------


@dataclass
class DownloadProgress:
    """A snapshot of a running download; the CLI draws its ``line()`` on stderr.

    Not ``progress.Progress``: that one draws load progress itself, from bytes read.
    """

    records: int
    bytes: int
    lag: dict[int, int]  # records still to fetch, per partition
    rate: float  # records per second so far

    def line(self) -> str:
        top = sorted(((n, p) for p, n in self.lag.items() if n), reverse=True)[:3]
        parts = ", ".join(f"p{p} {n:,}" for n, p in top)
        return (
            f"{self.records:,} records, {_size(self.bytes)}, "
            f"lag {sum(self.lag.values()):,}{f' ({parts})' if parts else ''}, "
            f"{self.rate:,.0f} records/s"
        )


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
    offsets: dict[int, int] = field(default_factory=dict)  # next offset per partition
    elapsed: float = 0.0

    def summary_line(self) -> str:
        if self.first_time:
            window = f"covering {_iso(self.first_time)} to {_iso(self.last_time)}"
        else:
            window = "no time window (nothing new)"
        line = (
            f"wrote {self.records:,} records ({_size(self.bytes)}) from {self.partitions} "
            f"partitions of {self.topic} to {self.out_path}, {window}, in {self.elapsed:.1f}s"
        )
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
) -> DownloadResult:
    """Write every record of ``topic`` up to its current end to ``out_path``.

    Starts after the offsets in ``state_path`` (if given and present) and saves
    the new ones there once the output is in place. Raises ``CcauditError``
    (one-line, secret-free message) on any failure, leaving nothing under
    ``out_path`` and the state file untouched.
    """
    started = time.monotonic()
    deadline = _Deadline(timeout)
    conf = load_properties(config_path, insecure=insecure_config)
    bootstrap = conf["bootstrap.servers"]
    saved = load_state(state_path, topic, bootstrap) if state_path else {}
    if state_path:
        refuse_to_replace(out_path)
        check_state_folder(state_path)
    result = DownloadResult(out_path=str(out_path), topic=topic)
    source = _connect(conf, topic)
    try:
        bounds = _snapshot(source, saved, deadline, result)
        with output(out_path, compress) as out:
            _fetch(source, bounds, out, deadline, progress, result)
    finally:
        source.close()
    if state_path:
        try:
            save_state(state_path, topic, bootstrap, result.offsets, _iso(datetime.now(timezone.utc)))
        except CcauditError as e:
            raise CcauditError(f"the download is complete in {out_path}, but the state was not saved ({e}), "
                               "so the next run will fetch its records again") from None
    result.elapsed = time.monotonic() - started
    return result


def _connect(conf: dict, topic: str) -> KafkaSource:
    """Open the real consumer; tests replace this to run the loop on a fake."""
    return KafkaSource(conf, topic)


# --- the run ---------------------------------------------------------------


class _Deadline:
    """--timeout for the whole run, handed out as per-call timeouts."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self, cap: float | None = None) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise CcauditError(
                f"timed out after {self.seconds:g}s (--timeout) before reaching the end "
                "of the topic; nothing written, state file unchanged"
            )
        return min(left, cap) if cap else left


def _snapshot(source, saved: dict, deadline: _Deadline, result: DownloadResult) -> dict:
    """Per partition, where to start (saved offset, else earliest) and stop (end now)."""
    bounds = {}
    for p in source.list_topics(deadline.left(CONNECT_TIMEOUT)):
        low, high = source.get_watermark_offsets(p, deadline.left(CONNECT_TIMEOUT))
        start = saved.get(p, low)
        if start > high:
            raise CcauditError(
                f"the state file says partition {p} is at offset {start}, but the topic ends "
                f"at {high}: was the topic recreated? (delete the state file to start over)"
            )
        if start < low:
            result.lost_to_retention += low - start
            start = low
        bounds[p] = (start, high)
    result.partitions = len(bounds)
    return bounds


def _fetch(source, bounds: dict, out, deadline: _Deadline, progress, result: DownloadResult):
    """Consume every partition up to its snapshot end; later records are left alone."""
    ends = {p: end for p, (_, end) in bounds.items()}
    position = {p: start for p, (start, _) in bounds.items()}
    pending = {p for p in bounds if position[p] < ends[p]}
    if pending:
        source.assign({p: position[p] for p in pending})
    started = shown = time.monotonic()
    _show(progress, result, ends, position, started)
    while pending:
        for msg in source.consume(BATCH, deadline.left(POLL)):
            p = msg.partition
            if p not in pending:
                continue
            if not msg.eof and position[p] <= msg.offset < ends[p]:
                _write(out, msg, result)
                position[p] = msg.offset + 1
            if position[p] >= ends[p] or (msg.eof and msg.offset >= ends[p]):
                position[p] = ends[p]  # skips offsets without records (control batches)
                pending.discard(p)
        if time.monotonic() - shown >= 0.5:
            shown = time.monotonic()
            _show(progress, result, ends, position, started)
    _show(progress, result, ends, position, started)
    result.offsets = position


def _show(progress, result, ends, position, started) -> None:
    if progress:
        rate = result.records / max(time.monotonic() - started, 1e-3)
        lag = {p: ends[p] - position[p] for p in ends}
        progress(DownloadProgress(result.records, result.bytes, lag, rate))


def _write(out, msg: Message, result: DownloadResult) -> None:
    if not msg.value:  # tombstone or empty: not an audit record
        return
    try:
        record = json.loads(msg.value)
    except ValueError:
        record = None
    line = _one_line(msg.value, record)
    out.write(line)
    result.records += 1
    result.bytes += len(line)
    when = _record_time(record, msg.timestamp_ms)
    if when:
        result.first_time = min(result.first_time or when, when)
        result.last_time = max(result.last_time or when, when)


def _one_line(value: bytes, record) -> bytes:
    """The value as-is, unless a line break in it would split the record."""
    if b"\n" not in value and b"\r" not in value:
        return value + b"\n"
    if record is not None:  # pretty-printed JSON: re-serialize compactly
        return json.dumps(record, separators=(",", ":")).encode() + b"\n"
    return value.replace(b"\r", b"\\r").replace(b"\n", b"\\n") + b"\n"


def _record_time(record, timestamp_ms) -> datetime | None:
    """The record's own RFC 3339 ``time`` field, else the Kafka timestamp."""
    text = record.get("time") if isinstance(record, dict) else None
    us = parse_time(text)
    if us is not None and 0 <= us < LAST_TIME:
        return _EPOCH + timedelta(microseconds=us)
    return None if timestamp_ms is None else _EPOCH + timedelta(milliseconds=timestamp_ms)


def _iso(when: datetime) -> str:
    spec = "milliseconds" if when.microsecond else "seconds"
    return when.astimezone(timezone.utc).isoformat(timespec=spec).replace("+00:00", "Z")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return ""

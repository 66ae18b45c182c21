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
  file is updated only after that, so a chain of runs yields every record
  exactly once whatever happens in between.
* All Kafka calls go through ``kafka_source.KafkaSource``, a small adapter in
  plain Python types, so tests can drive the loop with a fake (retention gaps,
  auth errors).
"""
from __future__ import annotations

import errno
import gzip
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .classify import LAST_TIME, parse_time
from .errors import CcauditError, InputError
from .files import check_parent, is_device
from .kafka_config import load_properties
from .kafka_source import KafkaSource, Message

DEFAULT_TOPIC = "confluent-audit-log-events"
CONNECT_TIMEOUT = 30.0  # a typo'd or firewalled bootstrap should not wait out --timeout
BATCH = 1000
POLL = 0.25  # consume() waits this long for a full batch; keeps Ctrl-C and progress snappy
STATE_FORMAT = "ccaudit-download-state/1"
MAX_STATE = 1 << 20
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
    saved = _load_state(state_path, topic, bootstrap) if state_path else {}
    if state_path:
        _refuse_to_replace(out_path)
        _check_writable(state_path)
    result = DownloadResult(out_path=str(out_path), topic=topic)
    source = _connect(conf, topic)
    try:
        bounds = _snapshot(source, saved, deadline, result)
        with _atomic_output(out_path, compress) as out:
            _fetch(source, bounds, out, deadline, progress, result)
    finally:
        source.close()
    if state_path:
        try:
            _save_state(state_path, topic, bootstrap, result.offsets)
        except CcauditError as e:
            raise CcauditError(f"the download is complete in {out_path}, but the state was not saved ({e}), "
                               "so the next run will fetch its records again") from None
    result.elapsed = time.monotonic() - started
    return result


def _refuse_to_replace(out_path) -> None:
    """The state moves past what a previous output holds, so replacing it would lose records."""
    if os.path.isfile(out_path) and os.path.getsize(out_path):
        raise InputError(
            f"{out_path} already exists and the state file resumes after its records: "
            "write each run to a new file, e.g. audit-$(date +%F).jsonl"
        )


def _check_writable(state_path) -> None:
    """Find out before the download, not after it, that the state cannot be saved."""
    check_parent(str(state_path), "the state file")
    try:
        fd, probe = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(state_path)), prefix=".ccaudit-")
    except OSError as e:
        raise CcauditError(f"{state_path}: cannot write the state file there: {e.strerror}") from None
    os.close(fd)
    os.remove(probe)


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


# --- files -----------------------------------------------------------------


@contextmanager
def _atomic_output(path, compress: bool, undone: str = "; nothing written") -> Iterator:
    """A binary file that appears at ``path`` only if the block completes; a device or a
    pipe there (``/dev/stdout``, a FIFO) is written to as the records come, not replaced."""
    if is_device(str(path)):
        with _through(path, compress) as out:
            yield out
        return
    try:
        raw, tmp = _open_temp(path)
    except OSError as e:
        raise CcauditError(_write_error(path, e) + undone) from None
    out = gzip.GzipFile(os.path.basename(str(path)), "wb", 6, raw) if compress else raw
    try:
        yield out
        if compress:
            out.close()  # writes the gzip trailer into raw
        raw.flush()
        os.fsync(raw.fileno())
        raw.close()
        os.replace(tmp, path)
    except BaseException as e:  # includes KeyboardInterrupt: never leave a partial file
        _discard(out, raw, tmp)
        if isinstance(e, OSError):
            raise CcauditError(_write_error(path, e) + undone) from None
        raise


@contextmanager
def _through(path, compress: bool) -> Iterator:
    try:
        with open(path, "wb") as raw:
            if not compress:
                yield raw
                return
            with gzip.GzipFile(os.path.basename(str(path)), "wb", 6, raw) as out:
                yield out
    except OSError as e:
        raise CcauditError(_write_error(path, e)) from None  # what the reader got, it keeps


def _open_temp(path):
    """A new hidden file next to ``path`` (same filesystem, so rename is atomic)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(str(path))}.", suffix=".part")
    return os.fdopen(fd, "wb", buffering=1 << 20), tmp


def _discard(out, raw, tmp) -> None:
    for f in (out, raw):
        try:
            f.close()
        except Exception:  # the disk may still be full
            pass
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _write_error(path, e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return f"disk full while writing {path}"
    return f"cannot write {path}: {e.strerror}"


def _load_state(path, topic: str, bootstrap: str) -> dict[int, int]:
    """Saved next offsets per partition; {} if the file does not exist yet."""
    try:
        state = json.loads(_read_small(path))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        raise InputError(f"{path}: not a readable ccaudit download state file") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise InputError(f"{path}: not a ccaudit download state file")
    if state.get("topic") != topic:
        raise InputError(f"{path} is the state of topic {state.get('topic')}, not {topic}")
    if _servers(state.get("bootstrap.servers", "")) != _servers(bootstrap):
        raise InputError(f"{path} is the state of another cluster ({state.get('bootstrap.servers')})")
    offsets = state.get("offsets")
    if not isinstance(offsets, dict) or not all(_whole(p) and type(o) is int for p, o in offsets.items()):
        raise InputError(f"{path}: offsets are missing or not whole numbers")
    if any(not 0 <= o < 2**63 for o in offsets.values()):
        raise InputError(f"{path}: an offset is out of range (0 to 2**63 - 1)")
    return {int(p): o for p, o in offsets.items()}


def _whole(text: str) -> bool:
    """A partition number as the state writes it: ASCII digits, not int()'s ' 1_0'."""
    return text.isascii() and text.isdigit() and len(text) < 10


def _read_small(path) -> bytes:
    """A state file's text: a regular file (a FIFO would wait for a writer), of at most
    MAX_STATE bytes (a topic has at most thousands of partitions)."""
    with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NONBLOCK)) as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise InputError(f"{path}: not a regular file")
        text = f.read(MAX_STATE + 1)
    if len(text) > MAX_STATE:
        raise InputError(f"{path}: larger than a state file can be ({MAX_STATE:,} bytes)")
    return text


def _save_state(path, topic: str, bootstrap: str, offsets: dict[int, int]) -> None:
    """Write the state atomically; it holds no secrets, only where to resume."""
    state = {
        "format": STATE_FORMAT,
        "topic": topic,
        "bootstrap.servers": bootstrap,
        "offsets": {str(p): o for p, o in sorted(offsets.items())},
        "saved_at": _iso(datetime.now(timezone.utc)),
    }
    with _atomic_output(path, compress=False, undone="") as f:
        f.write(json.dumps(state, indent=2).encode() + b"\n")


def _servers(bootstrap: str) -> list[str]:
    return sorted(s.strip().lower() for s in bootstrap.split(",") if s.strip())


def _iso(when: datetime) -> str:
    spec = "milliseconds" if when.microsecond else "seconds"
    return when.astimezone(timezone.utc).isoformat(timespec=spec).replace("+00:00", "Z")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return ""

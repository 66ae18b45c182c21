"""What a download writes: its output, whole or not at all (or, to a pipe or device, as the
records come), and its state file, where the next run starts.

The output appears under its name only when complete (a hidden temporary file beside it,
fsync'd, renamed, and its folder fsync'd), and the state is saved only after that, so that
a chain of runs yields every record at least once whatever happens in between, and once
unless the run is killed between the two renames (``load`` drops the copies).
"""
from __future__ import annotations

import codecs
import errno
import gzip
import hashlib
import io
import json
import math
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from datetime import datetime, timedelta

import msgspec

from .classify import LAST_TIME, parse_time
from .clock import EPOCH
from .errors import CcauditError, InputError, out_of_space
from .files import (
    LAST_WORDS,
    Stalled,
    bounded_writer,
    closed_after,
    descriptor_of,
    flushed_at_last,
    is_device,
    read_small,
    replacing,
    same_file,
    unwritable_descriptor,
    write_on,
)
from .folders import check_parent, check_writable, folder_of
from .kafka_config import shown_brokers
from .storefile import looks_like_sqlite
from .text import printable, quoted

STATE_FORMAT = "ccaudit-download-state/1"
_LATER_FORMAT = re.compile(r"ccaudit-download-state/([0-9]{1,9})")  # a newer ccaudit's (ASCII digits: not ²)
MAX_STATE = 16 << 20  # bytes: 110-130 a partition as saved, and a cluster has at most some 100,000
STDOUT = "-"  # --out -: standard output, as -o - elsewhere in ccaudit


def out_name(out_path) -> str:
    """How messages name the output."""
    return "standard output" if str(out_path) == STDOUT else str(out_path)


def check_out(out_path, config_path, state_path, compress: bool = False) -> None:
    """Refuse an output that would destroy an input (the records would overwrite the secret of
    --config, or be replaced by the state that points past them) or a store, or that names a descriptor
    that is not open: the Kafka client would take that number for its own pipe, and the
    records would vanish into it. So this runs before anything opens a descriptor. A file
    is named as what it will hold: gzip data under .jsonl misled every tool but ccaudit."""
    out = "/dev/stdout" if str(out_path) == STDOUT else str(out_path)
    if str(state_path) == STDOUT:  # was written as a file named -, which --out - is not
        raise InputError("--state -: the state is kept in a file; name one (./- for a file called that)")
    if why := unwritable_descriptor(out, "the records"):
        raise InputError(f"--out {out_path}: {why}")
    for path, option in ((state_path, "--state"), (config_path, "--config")):
        if path and same_file(out, str(path)):
            raise InputError(f"--out {out_path} is the {option} file: write the records to another file")
    if looks_like_sqlite(out):  # --out audit.db for --db audit.db: the store, lost
        raise InputError(f"--out {out_path} is an SQLite file (a store?), which the download would replace: "
                         "write the records to another file")
    if _is_state(out):  # --out audit.state for --state audit.state: the offsets of a chain of runs, lost
        raise InputError(f"--out {out_path} is a download's state file (--state), which the download would "
                         "replace: write the records to another file")
    if not is_stream(out_path):  # found before the download, not once the client has connected
        if compress != out.lower().endswith(".gz"):
            raise InputError(f"--out {out_path}: " + ("--gzip writes gzip data: end the file's name in .gz "
                                                      "(audit.jsonl.gz)" if compress else
                                                      "a .gz name without --gzip: add --gzip, or drop .gz"))
        check_parent(out, "the output")  # (a name too long too: was found at the end)
        check_writable(folder_of(out), str(out_path), "the records")  # was found once the client had connected


def _is_state(path: str) -> bool:
    """A state file ``save_state`` wrote, by its first bytes."""
    try:
        if not os.path.isfile(path):  # (a FIFO would wait for its writer)
            return False
        with open(path, "rb") as f:
            return f'"format": "{STATE_FORMAT[:-1]}'.encode() in f.read(64)
    except OSError:
        return False


def refuse_to_replace(out_path, compress: bool = False) -> None:
    """The state moves past what a previous output holds, so replacing it would lose records
    (a pipe or device, /dev/stdout sent to a file, is written to: appended)."""
    if str(out_path) == STDOUT:
        return
    if not is_device(str(out_path)) and os.path.isfile(out_path) and os.path.getsize(out_path):
        ext = ".jsonl.gz" if compress else ".jsonl"  # the name check_out asks for; a day's name,
        raise InputError(f"{out_path} already exists and the state file resumes after its records: "  # to use it
                         f"write each run to a new file, e.g. audit-$(date +%FT%H%M%S){ext}")  # run twice, was told


def check_state_folder(state_path) -> None:
    """Find out before the download, not after it, that the state cannot be saved."""
    check_parent(str(state_path), "the state file")
    try:
        fd, probe = tempfile.mkstemp(dir=os.path.realpath(folder_of(str(state_path))), prefix=".ccaudit-")
    except OSError as e:
        raise CcauditError(f"{state_path}: cannot write the state file there: {e.strerror}") from None
    os.close(fd)
    os.remove(probe)


def record_line(value: bytes) -> tuple[bytes, object]:
    """The line a Kafka value is written as, and the JSON it holds (None: none).

    A record (a JSON object, or a JSON string holding one, as Kafka Connect's
    StringConverter writes them) as it came, on one line. In JSON a line break is
    whitespace between tokens, so the whitespace outside strings goes (msgspec's formatter,
    in C: a regular expression took 135 bytes of memory a byte of a long string), and every
    value keeps its text: re-serialised, 1e400 became Infinity, not JSON.

    Any other value is written as a JSON string of its text (bytes that are not UTF-8 as
    ``\\udcXX``): the load counts it malformed. As it came, it could change how the whole
    file is read: "[1," or gzip's magic bytes on the first line made the file an array or
    a gzip stream, and one starting with "%" was a line of the consume command's noise."""
    try:
        record = json.loads(value.decode("utf-8-sig"), parse_int=_integer)  # from bytes, json would take UTF-16
    except (ValueError, RecursionError):  # RecursionError: nested thousands deep; the load counts it malformed
        record = None
    if isinstance(record, (dict, str)):
        if b"\n" not in value and b"\r" not in value:
            return value + b"\n", record
        with suppress(msgspec.DecodeError, RecursionError):  # nested too deep for the formatter
            return msgspec.json.format(value.removeprefix(codecs.BOM_UTF8), indent=-1) + b"\n", record  # it refuses one
    return json.dumps(value.decode("utf-8", "surrogateescape")).encode() + b"\n", record


def _integer(digits: str) -> int:
    """A JSON integer, or 0 past Python's limit of digits (4,300): a record holding one is a
    record still, written as it came, and only its ``time`` is read here."""
    try:
        return int(digits)
    except ValueError:
        return 0


def record_time(record, timestamp_ms) -> datetime | None:
    """The record's own RFC 3339 ``time`` field (of the object a JSON string holds, too),
    else the Kafka timestamp."""
    if isinstance(record, str):
        with suppress(ValueError, RecursionError):
            record = json.loads(record, parse_int=_integer)
    text = record.get("time") if isinstance(record, dict) else None
    us = parse_time(text)
    if us is not None and 0 <= us < LAST_TIME:
        return EPOCH + timedelta(microseconds=us)
    if timestamp_ms is None or timestamp_ms < 0:  # -1: Kafka's "no timestamp" (was "covering 1969-12-31...")
        return None
    try:
        return EPOCH + timedelta(milliseconds=timestamp_ms)
    except OverflowError:  # after 9999: a producer's bogus clock, not a time
        return None


def is_stream(path) -> bool:
    """Standard output, or a pipe or device: written to as the records come, not replaced."""
    return str(path) == STDOUT or is_device(str(path))


class StreamNotWritten(CcauditError):
    """A write to a stream failed: of the records written to it before, those its buffer
    held did not reach it."""


@contextmanager
def output(path, compress: bool, until: float = math.inf) -> Iterator:
    """A binary file that appears at ``path`` only if the block completes; a device or a
    pipe there (``/dev/stdout``, a FIFO), or standard output (``-``), is written to as the
    records come, not replaced. A FIFO's reader is waited for until ``until`` (monotonic).
    A failure is one line naming the output; what it leaves behind, the caller says."""
    if is_stream(path):
        with _through(path, compress, until) as out:
            yield out
        return
    try:
        with replacing(str(path), binary=True, durable=True) as raw:
            with _gzip_on(raw, os.path.basename(str(path))) if compress else nullcontext(raw) as out:
                yield out
    except OSError as e:
        raise CcauditError(_write_error(path, e)) from None
    _sync_folder(folder_of(str(path)))  # the new name: the state, saved next, must not
    # outlive it (with the output and the state on two file systems, a crash could keep only the state)


def _sync_folder(folder: str) -> None:
    with suppress(OSError):  # a file system that cannot sync a folder
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def _through(path, compress: bool, until: float) -> Iterator:
    try:
        with _appending(path, until) as raw:
            name = "" if str(path) == STDOUT else os.path.basename(str(path))
            bounded = bounded_writer(raw, until, out_name(path))
            try:
                with _gzip_on(bounded, name) if compress else nullcontext(bounded) as out:
                    yield out
            except BaseException as e:  # a failure's reader still gets what was written; a stop waits for none
                flushed_at_last(bounded, LAST_WORDS if isinstance(e, Exception) else 0)
                raise
            bounded.flush()
    except BrokenPipeError:  # its reader went away (--out /dev/stdout | head): as for standard output
        raise
    except OSError as e:
        raise StreamNotWritten(_write_error(out_name(path), e)) from None  # what the reader got, it keeps
    except Stalled as e:  # what its buffer held did not reach it
        raise StreamNotWritten(str(e)) from None


@contextmanager
def _gzip_on(raw, name: str) -> Iterator[gzip.GzipFile]:
    """A gzip stream into ``raw`` whose end (its trailer) is written only if the block
    completes: a run that failed or was stopped wrote it, so that what a reader had got
    (``--out - --gzip | ccaudit load -``) passed for the whole stream, not one cut short."""
    out = gzip.GzipFile(name, "wb", 6, raw)
    try:
        yield out
    except BaseException:
        out.fileobj = io.BytesIO()  # what it holds, and its end, go nowhere (its close writes through a buffer)
        with suppress(Exception):
            out.close()
        raise
    out.close()


def _appending(path, until: float):
    """Standard output's binary stream (left open), or the file or descriptor written on
    (``files.write_on``)."""
    if str(path) == STDOUT:
        sys.stdout.flush()
        return nullcontext(sys.stdout.buffer)
    if descriptor_of(str(path)) is not None or not stat.S_ISFIFO(os.stat(path).st_mode):
        return write_on(str(path), binary=True)
    while True:  # opening a FIFO waits for a reader, for ever: --timeout bounds the wait
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            if time.monotonic() >= until:
                raise CcauditError(f"timed out (--timeout) waiting for a reader of {path}") from None
            time.sleep(0.05)
        else:
            os.set_blocking(fd, True)
            return closed_after(open(fd, "ab"))


def _write_error(path, e: OSError) -> str:
    if out_of_space(e):
        return f"disk full while writing {path}"
    return f"cannot write {path}: {e.strerror}"


def load_state(path, topic: str, bootstrap: str) -> tuple[dict[int, int], dict[int, list]]:
    """Saved next offsets per partition, and each partition's last record read (``seen``:
    [offset, Kafka timestamp, digest]); both {} if the file does not exist yet."""
    if os.path.exists(path) and not os.path.isfile(path):  # it is replaced when saved: a pipe would not be
        raise InputError(f"{path}: not a regular file")
    try:
        text = read_small(str(path), MAX_STATE)
        if not text.strip():  # `touch`ed, or a copy that failed: not taken for "fetch everything" unasked
            raise InputError(f"{path}: an empty file, not a ccaudit download state file (remove it, and the next "
                             "run fetches everything still on the topic)")
        state = json.loads(text, object_pairs_hook=_once_each)
    except FileNotFoundError:
        return {}, {}
    except _Twice as e:
        raise InputError(f"{path}: {quoted(e.args[0])} is listed twice in it") from None
    except OSError as e:  # a name too long, a loop of links, no permission: said as such
        raise InputError(f"{path}: cannot read the state file: {e.strerror or e}") from None
    except (ValueError, RecursionError):  # RecursionError: brackets nested thousands deep
        raise InputError(f"{path}: not a readable ccaudit download state file") from None
    form = state.get("format") if isinstance(state, dict) else None
    if isinstance(form, str) and (later := _LATER_FORMAT.fullmatch(form)) and int(later[1]) > int(STATE_FORMAT[-1]):
        raise InputError(f"{path}: written by a newer ccaudit ({printable(form[:40])}); run that version, or give "
                         "another --state file")
    if form != STATE_FORMAT:
        raise InputError(f"{path}: not a ccaudit download state file")
    if not isinstance(state.get("topic"), str):  # was "is the state of topic None"
        raise InputError(f"{path}: no topic, which a ccaudit download state file has")
    if state.get("topic") != topic:
        raise InputError(f"{path} is the state of topic {printable(str(state.get('topic')))}, not {topic}")
    if "bootstrap.servers" not in state:  # was "the state of another cluster (***)"
        raise InputError(f"{path}: no bootstrap.servers, which a ccaudit download state file has")
    if not isinstance(state["bootstrap.servers"], str):
        raise InputError(f"{path}: its bootstrap.servers is not text, as a ccaudit download state file's is")
    if _servers(state["bootstrap.servers"]) != _servers(bootstrap):
        kept = shown_brokers(state["bootstrap.servers"])
        raise InputError(f"{path} is the state of another cluster ({kept})")
    offsets = state.get("offsets")
    if not isinstance(offsets, dict) or not all(_whole(p) and type(o) is int for p, o in offsets.items()):
        raise InputError(f"{path}: offsets are missing or not whole numbers")
    if any(not 0 <= o < 2**63 for o in offsets.values()):
        raise InputError(f"{path}: an offset is out of range (0 to 2**63 - 1)")
    saved = {int(p): o for p, o in offsets.items()}
    if len(saved) < len(offsets):  # "0" and "00": the last one won
        raise InputError(f"{path}: a partition is listed twice in its offsets")
    seen = state.get("last_records", {})  # (a state of an earlier ccaudit has none)
    if not isinstance(seen, dict) or not all(_whole(p) and int(p) in saved and _fingerprint(f)
                                             for p, f in seen.items()):
        raise InputError(f"{path}: its last_records are not a partition's [offset, timestamp, digest] each")
    if len({int(p) for p in seen}) < len(seen):
        raise InputError(f"{path}: a partition is listed twice in its last_records")
    return saved, {int(p): f for p, f in seen.items()}


def _fingerprint(f: object) -> bool:
    """[offset, Kafka timestamp or null, 16 hex digits], as ``fingerprint`` makes it."""
    return isinstance(f, list) and len(f) == 3 and type(f[0]) is int and (f[1] is None or type(f[1]) is int) \
        and isinstance(f[2], str) and re.fullmatch("[0-9a-f]{16}", f[2]) is not None


def fingerprint(offset: int, timestamp_ms: int | None, value: bytes | None) -> list:
    """What tells a partition's record from another at its offset: a topic deleted and
    made again numbers its records from 0 again, and a state's offsets would skip them."""
    return [offset, timestamp_ms, hashlib.blake2b(value or b"", digest_size=8).hexdigest()]


class _Twice(Exception):
    """A key of a JSON object given twice (json keeps the last: a partition's offset could be either)."""


def _once_each(pairs: list[tuple[str, object]]) -> dict:
    keys: set[str] = set()
    for key, _ in pairs:
        if key in keys:
            raise _Twice(key)
        keys.add(key)
    return dict(pairs)


def _whole(text: str) -> bool:
    """A partition number as the state writes it: ASCII digits, not int()'s ' 1_0'."""
    return text.isascii() and text.isdigit() and len(text) < 10


def save_state(path, topic: str, bootstrap: str, offsets: dict[int, int], saved_at: str,
               seen: dict[int, list] | None = None) -> None:
    """Write the state atomically; it holds no secrets, only where to resume (and a digest
    of the record before, to tell that the topic is the same)."""
    state = {
        "format": STATE_FORMAT,
        "topic": topic,
        "bootstrap.servers": bootstrap,
        "offsets": {str(p): o for p, o in sorted(offsets.items())},
        "last_records": {str(p): f for p, f in sorted((seen or {}).items())},
        "saved_at": saved_at,
    }
    with output(path, compress=False) as f:
        f.write(json.dumps(state, indent=2).encode() + b"\n")


def _servers(bootstrap: str) -> list[str]:
    return sorted(s.strip().lower() for s in bootstrap.split(",") if s.strip())

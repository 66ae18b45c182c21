"""A parse worker, a process of its own that ``parallel.py`` starts (``main``).

It reads one ``Task`` per stdin line and answers each stage file it fills with one
``Answer`` line (``last`` on a task's final answer), or one ``Failure``. Messages are
JSON, typed on both sides by the msgspec structs below. Two kinds of task:

* lines: parse the lines that start in a byte range of a file;
* array/objects/items: stream a whole JSON document (jsondoc.py), or a piece of one:
  it cannot start mid-file, but the store can merge one part while the worker parses
  the next.

Either fills a new stage file every PART records, or sooner once the file has numbered
NAMES keys and details: a dump of a new key a record (a sign-in attack) then stages files
of 1,000 records, not 5,000, so the worker and the main process hold a fifth as many
names. A document's stage file also ends once its records came from STAGE_BYTES of input,
as a task of lines is (4 MiB): an array of 3,000 records of 100 KB ids held them all staged,
618 MiB in all.

A worker writes at most UNMERGED stage files that the main process has not merged yet (it
deletes each as it merges it): a JSON document is one task, and while a reader held the
store's commit off, its stage files piled up in TMPDIR with the input's size.

It imports only what parsing needs, so each worker stays small.
"""
from __future__ import annotations

import io
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from itertools import islice
from typing import Any

import msgspec

from .collector import FewerCollections
from .errors import OUT_OF_MEMORY, InputError, out_of_space, pin_max_digits
from .ingest import MAX_LINE, Dump, iter_lines, json_rows, line_rows, until_broken
from .shape import BOM
from .stage import Stage
from .stats import LoadStats
from .streams import BUFFER, Counted

BATCH = 500  # rows classified and staged at a time
PART = 5_000  # records per stage file
NAMES = 2_000  # keys and details numbered in one stage file (a bench file has about 1,100)
STAGE_BYTES = 4 * 2**20  # input bytes a document's stage file is made from, at most (and one record)
UNMERGED = 16  # stage files not yet merged, at most (a task of lines is 4 MiB: fewer)
_PARENT: list[int] = []  # the main process, once main() runs: gone, a worker waiting on it ends
# How the main process starts a worker. Not `python -m`, which puts the current folder first on
# the path: a json.py there (in a dump's folder) was imported, and its tracebacks reached the user.
RUN = "import sys\nif sys.path[:1] == ['']: del sys.path[0]\nfrom ccaudit.worker import main\nmain()"
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # on the worker's PYTHONPATH


class Task(msgspec.Struct, frozen=True):
    """Parse ``path`` into stage file(s) named from ``stage``. For lines, only those that
    start in [start, end) (``end`` None: to the end); ``delete`` the input afterwards (a
    spilled chunk). ``identity``: the (device, inode) the input must be, if known."""

    path: str
    stage: str
    shape: str = "lines"  # or "array", "objects", "items"
    start: int = 0
    end: int | None = None
    delete: bool = False
    identity: tuple[int, int] | None = None


class Answer(msgspec.Struct, tag=True):
    """One filled stage file and what parsing it counted (positions relative to the task)."""

    stage: str
    last: bool
    lines: int
    offered: int
    noise: int
    malformed: int
    problems: list[tuple[int | str, str]]
    cut: list[tuple[str, str, bool, bool]]  # where the input stopped being read, every one (LoadStats.part)


class Failure(msgspec.Struct, tag=True):
    """The task failed: TMPDIR is full (``no_space``), or for a reason parsing does not
    expect; either stops the load with one error line. ``unusable``: the input is (it
    changed while it was read), and the other inputs still load."""

    error: str
    no_space: bool = False
    unusable: bool = False


Reply = Answer | Failure


def wire(message: msgspec.Struct) -> bytes:
    """A Task or Reply as one JSON line. By the json module, which escapes what is not
    UTF-8: a file name may hold any bytes (``caf\\udce9.jsonl``, from a Latin-1 archive),
    which msgspec refuses. A few hundred messages a load: their speed does not matter."""
    return json.dumps(msgspec.to_builtins(message)).encode() + b"\n"


def unwire(line: bytes, kind: Any) -> Any:
    return msgspec.convert(json.loads(line), kind)


def run(task: Task) -> Iterator[Answer]:
    """The answers to one task: a stage file per PART records, so that a worker, and the
    store merging its files, hold at most that many (a 4 MiB range of 100-byte sign-in
    failures, each with its own key, is 40,000)."""
    stats = LoadStats()
    if task.shape == "lines":
        f: io.BufferedReader  # what open gives, buffered: it has peek()
        with open(task.path, "rb", buffering=1 << 20) as f:  # type: ignore[assignment]  # (typeshed: BinaryIO)
            _check_identity(f.fileno(), task)
            lines = range_lines(f, task.start, task.end, marked=not task.delete)  # (a spilled chunk's input was
            yield from _parts(task.stage, line_rows(lines, "", stats), stats)  # read past its mark already)
        if task.delete:
            os.remove(task.path)
    else:
        dump = Dump(task.path)
        read = Counted(dump.open())
        _check_identity(dump.fileno(), task)
        rows = json_rows(io.BufferedReader(read, BUFFER), "", stats,  # type: ignore[arg-type]
                         array=task.shape != "objects", at=dump.mark, cut=task.shape == "items")
        rows = until_broken(rows, "", stats)
        yield from _parts(task.stage, rows, stats, read)


def _check_identity(fd: int, task: Task) -> None:
    """The main process names its own open file (/proc/PID/fd/N) where it can; by its name
    otherwise, which may lead to another file by now (one renamed over it)."""
    st = os.fstat(fd)
    if task.identity is not None and (st.st_dev, st.st_ino) != tuple(task.identity):
        raise InputError("replaced by another file while it was read; load it again")


def _parts(stage: str, rows, stats: LoadStats, read: Counted | None = None) -> Iterator[Answer]:
    """A stage file's answer at a time; ``read``: a document's input, whose bytes bound each file."""
    for part in range(sys.maxsize):
        _until_merged(f"{stage}-{part - UNMERGED}")
        before = (stats.records_read, stats.noise_lines, stats.malformed, len(stats.problems), len(stats.cut))
        path = f"{stage}-{part}"
        last = _fill(path, rows, read)
        yield _answer(path, stats, before, last)
        if last:
            return


def _until_merged(path: str) -> None:
    """Wait while the stage file ``path`` is there: the main process has not merged it."""
    while os.path.exists(path):
        if _PARENT and os.getppid() != _PARENT[0]:
            os._exit(1)
        time.sleep(0.01)


def _fill(path: str, rows: Iterator[tuple], read: Counted | None = None) -> bool:
    """Stage up to PART of ``rows``, or fewer once NAMES are numbered or they came from
    STAGE_BYTES of ``read``, into a new stage file (one packed batch: the store's merge is
    then an insert of narrow rows); return whether ``rows`` ran out."""
    stage, ended, full = Stage(), False, False
    end = read.given + STAGE_BYTES if read is not None else 0
    if read is not None:
        rows = _within(rows, read, end)
    while not ended and not full and stage.offered < PART and len(stage.keys) + len(stage.details) < NAMES:
        wanted = min(BATCH, PART - stage.offered)
        batch = list(islice(rows, wanted))
        stage.add(batch)
        full = read is not None and read.given >= end
        ended = len(batch) < wanted and not full
    with open(path, "xb") as f:
        f.write(stage.pack())
    return ended


def _within(rows: Iterator[tuple], read: Counted, end: int) -> Iterator[tuple]:
    """``rows`` until the input read reaches ``end``: the rest stay in ``rows`` for the next
    stage file."""
    for row in rows:
        yield row
        if read.given >= end:
            return


def _answer(path: str, stats: LoadStats, before: tuple, last: bool) -> Answer:
    """What this stage file added to the counts (``before``: records, noise, malformed,
    problems listed and places cut when it began)."""
    read, noise, malformed, listed, cut = before
    problems, cuts = stats.part(listed, cut)
    return Answer(stage=path, last=last, lines=stats.lines, offered=stats.records_read - read,
                  noise=stats.noise_lines - noise, malformed=stats.malformed - malformed, problems=problems, cut=cuts)


def range_lines(f: io.BufferedReader, start: int, end: int | None, marked: bool = True) -> Iterator[bytes]:
    """The lines of ``f`` that start in the byte range ``start`` to ``end`` (to the end of
    the file if None), past the file's byte-order mark at 0 if ``marked``. peek, not
    ``without_bom``: that hands on a stream with no tell()."""
    if start:
        _skip_partial_line(f, start, end)
    elif marked and f.peek(3)[:3] == BOM:
        f.read(3)
        if end is not None:  # the first line is this range's, however short (a later one skips it)
            end = max(end, len(BOM) + 1)
    return iter_lines(f, end)


def _skip_partial_line(f, start: int, end: int | None) -> None:
    """Move to the first line that starts at or after ``start``: a line that starts
    earlier belongs to the previous range. Never past ``end``: in a file without newlines
    every range would otherwise read to the end of the file, quadratic in its size."""
    f.seek(start - 1)
    limit = end - start + 1 if end is not None else MAX_LINE
    while limit > 0 and (piece := f.readline(min(limit, MAX_LINE))) and not piece.endswith(b"\n"):
        limit -= len(piece)


def main() -> None:
    _signals()
    pin_max_digits()
    _PARENT.append(os.getppid())
    out = sys.stdout.buffer
    try:
        with FewerCollections():
            for line in sys.stdin.buffer:
                _answer_task(unwire(line, Task), out)
    except BrokenPipeError:  # the main process has gone (Ctrl-C is ignored here: see _signals)
        os._exit(130)


def _signals() -> None:
    """Ctrl-C at a terminal signals the whole process group, and the main process stops its
    workers itself. It starts them with Ctrl-C, SIGTERM and SIGHUP blocked (so that none
    comes while this process imports: a traceback); from here Ctrl-C is ignored (one that
    came meanwhile too), and the others end it, as by default, without a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


def _answer_task(task: Task, out) -> None:
    """Write each answer to ``task`` as it comes; an error ends it with one Failure."""
    try:
        for answer in run(task):
            out.write(wire(answer))
            out.flush()
    except Exception as e:  # reported by the parent
        why = str(e) if isinstance(e, InputError) else OUT_OF_MEMORY if isinstance(e, MemoryError) else \
            f"{type(e).__name__}: {e}"  # (a MemoryError says nothing: "MemoryError: ")
        out.write(wire(Failure(why, out_of_space(e), isinstance(e, InputError))))
        out.flush()


if __name__ == "__main__":
    main()

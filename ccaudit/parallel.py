"""Load one large input with parse workers.

Parsing and classifying cost about as much as writing SQLite, so they run in worker
processes (``worker.py``) while this process merges their results into the store:

* a plain file is cut into byte ranges that the workers read themselves;
* a compressed file or stdin is decompressed here, in a thread (zlib, bz2 and lzma
  release the GIL), into chunk files that the workers read;
* a JSON array or concatenated objects go to one worker, which streams them (jsondoc.py)
  into a stage file per part;
* each worker fills a stage file per range or part; this process merges each one
  (store.merge) as soon as its answer comes, several per transaction, strictly in input
  order, so the first copy of an event always wins.

A task is a byte range or a chunk file, and only a few are in flight, so memory and
temporary disk stay flat.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterator
from typing import BinaryIO

from .ahead import ahead
from .errors import READ_ERRORS, CcauditError, InputError, NoSpace, Stopped, broken_stream, out_of_space, temp_full
from .ingest import BUFFER, MAX_LINE, Dump
from .stats import LoadStats
from .stops import block_stops, restore_signals
from .store import Store
from .tempdirs import make_temp_dir
from .text import printable
from .worker import PACKAGE_ROOT, RUN, Answer, Failure, Reply, Task, unwire, wire

CHUNK = 4 * 2**20  # input bytes per task: bounds the memory of a worker
AHEAD = 8  # tasks in flight beyond two per worker, so that workers keep busy during a merge
# A transaction merges stage files until they hold COMMIT_RECORDS records (each commit rewrites the
# counts rows it touched: 16 commits for a million bench records; the pending counts hold an entry a
# record at most until then) or COMMIT_BYTES bytes (long records, whose names they hold till then).
COMMIT_RECORDS = 64_000
COMMIT_BYTES = 8 * 2**20


class EndsEarly(Exception):
    """A compressed input or pipe broke after the chunks spilled so far."""


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def load_parallel(dump: Dump, stream: BinaryIO, store: Store, stats: LoadStats, *, shape: str,
                  workers: int, chunk: int = CHUNK, progress: Callable[[int], None] | None = None) -> bool:
    """Load one input through worker processes (one for a JSON array or objects); False,
    with nothing read, if none can start (too many files or processes open: ``ulimit``)."""
    tmp, pool, held = None, [], _Held(dump)
    try:
        mask = block_stops()  # Ctrl-C comes once the folder and the workers are made and known
        try:
            pool = _started(workers)
            if not pool:
                return False  # (the input is parsed here instead, as a small one is)
            tmp = make_temp_dir()
        finally:
            restore_signals(mask)
        merger = _Merger(store, stats, dump, progress)
        if shape != "lines":
            dump.close(stream)
            task = held.task(shape=shape, stage=os.path.join(tmp, "part"))
            pool[0].send(task)
            merger.merge(merger.received(pool[0], task))
        else:
            _load_lines(dump, stream, tmp, pool, merger, chunk, held)
        return True
    except BaseException as e:  # an error, Ctrl-C: the tasks queued are not wanted
        for worker in pool:
            worker.kill()
        if isinstance(e, WorkerStopped):  # (killed, or out of memory): it named no input
            raise Stopped(f"{dump.label}: {e}; no input after it was read", again=True) from None
        raise
    finally:
        if pool:
            _clean_up(dump, stream, pool, tmp, held)
        else:
            held.close()


def _started(workers: int) -> list[_Worker]:
    """As many of ``workers`` parse workers as start: a worker that cannot (too many files or
    processes open, Python not executable) failed the whole load, which fewer can do."""
    pool: list[_Worker] = []
    with contextlib.suppress(OSError):
        while len(pool) < workers:
            pool.append(_Worker())
    return pool


class WorkerStopped(CcauditError):
    """A parse worker that ended before its answer."""


class _Held:
    """The input as this process opened it, for the workers to open again: by its
    descriptor's name, /proc/PID/fd/N, where there is one. Its own name may lead elsewhere
    by now (a dump renamed over it: the workers read parts of both), or, for /dev/stdin or
    /dev/fd/3, to a worker's own descriptor (a worker waited for ever on its task pipe).
    Elsewhere the name is used, and the workers check that it is still the same file."""

    OWN = "/proc/{pid}/fd/{fd}"

    def __init__(self, dump: Dump):
        self.fd, self.path, self.identity = None, dump.path, None
        if dump.path == "-":
            return
        self.fd = os.dup(dump.fileno())
        st = os.fstat(self.fd)
        self.identity = (st.st_dev, st.st_ino)
        own = self.OWN.format(pid=os.getpid(), fd=self.fd)
        if os.path.exists(own):
            self.path = own

    def task(self, **fields) -> Task:
        return Task(path=self.path, identity=self.identity, **fields)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _clean_up(dump: Dump, stream: BinaryIO, pool: list[_Worker], tmp: str | None, held: _Held) -> None:
    """Stop the workers and remove the folder, whole: a second Ctrl-C (one from the terminal
    and one from `timeout`, or a user's second) cut it short, and the folder stayed."""
    mask = block_stops()
    try:
        dump.close(stream)
        held.close()
        for worker in pool:
            worker.close()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        restore_signals(mask)


def _load_lines(dump: Dump, stream: BinaryIO, tmp: str, pool: list[_Worker], merger: _Merger, chunk: int,
                held: _Held) -> None:
    if dump.compressed or dump.size is None:  # stdin, a pipe: only this process can read it
        tasks = ahead(_spill(stream, tmp, chunk))
    else:
        dump.close(stream)
        tasks = _ranges(dump, tmp, chunk, held)
    merger.merge(_answers(merger.readable(tasks), pool, merger))
    if merger.ended_early:
        merger.stats.cut_short(dump.label, "@end", *merger.ended_early.args)


def _answers(tasks: Iterator[Task], pool: list[_Worker], merger: _Merger) -> Iterator[Answer]:
    """Send ``tasks`` to the workers in turn, AHEAD + 2 a worker in flight, and yield every
    answer in input order."""
    in_flight: deque[tuple[_Worker, Task]] = deque()
    for seq, task in enumerate(tasks):
        worker = pool[seq % len(pool)]
        worker.send(task)
        in_flight.append((worker, task))
        if len(in_flight) >= AHEAD + 2 * len(pool):
            yield from merger.received(*in_flight.popleft())
        if merger.refused:
            return
    while in_flight and not merger.refused:
        yield from merger.received(*in_flight.popleft())


def _ranges(dump: Dump, tmp: str, chunk: int, held: _Held) -> Iterator[Task]:
    for n, start in enumerate(range(0, dump.size or 0, chunk)):
        yield held.task(stage=os.path.join(tmp, f"stage-{n}"), start=start, end=start + chunk)


def _spill(stream: BinaryIO, tmp: str, chunk: int) -> Iterator[Task]:
    """Decompressed input as chunk files of whole lines; a damaged stream raises
    EndsEarly after the last whole chunk."""
    for n in range(sys.maxsize):
        path, stage = os.path.join(tmp, f"chunk-{n}.txt"), os.path.join(tmp, f"stage-{n}")
        try:
            size = _copy_lines(stream, path, chunk)
        except (*READ_ERRORS, ValueError) as e:
            if os.path.getsize(path):
                yield Task(path=path, stage=stage, delete=True)
            raise EndsEarly(*broken_stream(e)) from None
        if not size:
            os.remove(path)
            return
        yield Task(path=path, stage=stage, delete=True)


def _copy_lines(stream: BinaryIO, path: str, chunk: int) -> int:
    """Copy about ``chunk`` bytes, up to the end of a line, into ``path``. The line that
    crosses the chunk's end is copied up to just past the line limit (it is malformed
    anyway) and the rest of it skipped: a stream without newlines costs no more disk."""
    size = 0
    with _SpillFile(path) as out:
        while size < chunk and (block := stream.read1(BUFFER)):  # type: ignore[attr-defined]
            out.write(block)
            size += len(block)
        tail = 0
        while size and tail <= MAX_LINE and (piece := _line_part(stream, MAX_LINE + 1 - tail)):
            out.write(piece)
            size, tail = size + len(piece), tail + len(piece)
            if piece.endswith(b"\n"):
                return size
        if tail > MAX_LINE:
            while (piece := _line_part(stream, MAX_LINE)) and not piece.endswith(b"\n"):
                pass  # the rest of an overlong line
            out.write(b"\n")
    return size


def _line_part(stream: BinaryIO, limit: int) -> bytes:
    """What ``stream`` holds of the line it is in, up to its newline or ``limit`` bytes.
    Not ``readline``: a buffered reader's readline drops what it gathered when the stream
    under it breaks, and a record before a cut gzip trailer was lost."""
    held = stream.peek(1)[:limit]  # type: ignore[attr-defined]
    end = held.find(b"\n")
    return stream.read(end + 1 if end >= 0 else len(held))


class _SpillFile:
    """A chunk file being written: a write that fails for want of space is NoSpace
    (naming TMPDIR), never mistaken for damage in the input being read."""

    def __init__(self, path: str):
        self.path = path
        try:
            self.file = open(path, "wb")  # noqa: SIM115  (closed by __exit__)
        except OSError as e:
            raise _no_space(path, e) from None

    def write(self, data: bytes) -> None:
        try:
            self.file.write(data)
        except OSError as e:
            raise _no_space(self.path, e) from None

    def __enter__(self) -> _SpillFile:
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.file.close()
        except OSError as e:
            if exc[0] is None:
                raise _no_space(self.path, e) from None


def _no_space(path: str, e: OSError) -> Exception:
    if out_of_space(e):
        return temp_full(os.path.dirname(path))
    return CcauditError(f"{path}: cannot write a temporary file: {e.strerror}")


class _Merger:
    """Counts the workers' answers and merges their stage files into the store, in input
    order, each as soon as it is received: a transaction takes COMMIT_RECORDS records (or
    COMMIT_BYTES bytes), and the workers go on parsing while it is written."""

    def __init__(self, store: Store, stats: LoadStats, dump: Dump, progress: Callable[[int], None] | None):
        self.store, self.stats, self.dump, self.progress = store, stats, dump, progress
        self.lines = 0  # line number reached: turns a stage's line numbers into the input's
        self.full: NoSpace | None = None  # TMPDIR filled up: what was parsed is merged, then this is raised
        self.refused = False  # a worker found TMPDIR full: the answers after its task are not taken
        self.ended_early: EndsEarly | None = None  # why a compressed input or pipe broke

    def merge(self, answers: Iterator[Answer]) -> None:
        try:
            for first in answers:
                self.stats.add_merged(self.store.merge_files(_group(first, answers)))
        except FileNotFoundError as e:  # was an internal error, exit 70
            raise Stopped(f"{printable(str(e.filename))}: removed while the load ran (a cleaner of temporary "
                          "files?)", again=True) from None
        if self.full:
            raise self.full

    def readable(self, tasks: Iterator[Task]) -> Iterator[Task]:
        """``tasks`` until reading the input fails (TMPDIR full, or the input broken): the
        tasks before, sent or not yet answered, are still merged. A merge's own errors (the
        store's disk full) stop the load."""
        try:
            yield from tasks
        except EndsEarly as e:
            self.ended_early = e
        except NoSpace as e:
            self.full = e

    def received(self, worker: _Worker, task: Task) -> Iterator[Answer]:
        """Every answer to ``task``, in order, counted. A worker that found TMPDIR full
        ends them (``full``); any other failure raises."""
        while True:
            answer = worker.receive()
            if isinstance(answer, Failure) and answer.no_space:
                self.full = temp_full(os.path.dirname(task.stage))
                self.refused = True
                return
            if isinstance(answer, Failure):
                error = InputError if answer.unusable else CcauditError
                raise error(f"{self.dump.label}: could not parse: {answer.error}")
            self._count(answer, task)
            if self.progress:
                self.progress(answer.offered)
            yield answer
            if answer.last:
                return

    def _count(self, answer: Answer, task: Task) -> None:
        self.stats.add_part(self.dump.label, self.lines, answer.offered, answer.noise, answer.malformed,
                            answer.problems, answer.cut)
        self.lines += answer.lines if answer.last else 0
        if task.end is not None:
            self.dump.position = min(task.end, self.dump.size or 0)


def _group(first: Answer, more: Iterator[Answer]) -> Iterator[str]:
    """The stage files of one transaction: ``first``'s, then those of ``more`` as they come,
    until they hold COMMIT_RECORDS records or COMMIT_BYTES bytes."""
    answer: Answer | None = first
    records = size = 0
    while answer is not None:
        records += answer.offered
        size += os.path.getsize(answer.stage)
        yield answer.stage
        if records >= COMMIT_RECORDS or size >= COMMIT_BYTES:
            return
        answer = next(more, None)


class _Worker:
    """One parse worker process (``ccaudit.worker``), talked to over pipes."""

    def __init__(self):
        path = os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))
        mask = block_stops()  # until the worker has imported: Ctrl-C (or `timeout`) signals the whole process
        try:  # group, and this process stops its workers; signalled too, they printed tracebacks (worker._signals)
            self.proc = subprocess.Popen(
                [sys.executable, "-c", RUN], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                env=dict(os.environ, PYTHONPATH=path),
            )
        finally:
            restore_signals(mask)

    def send(self, task: Task) -> None:
        try:
            self.proc.stdin.write(wire(task))  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except BrokenPipeError:  # not standard output's reader (exit 141): a worker killed
            raise WorkerStopped(f"a parse worker stopped unexpectedly (exit code {self.proc.wait()})") from None

    def receive(self) -> Reply:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise WorkerStopped(f"a parse worker stopped unexpectedly (exit code {self.proc.wait()})")
        return unwire(line, Reply)

    def close(self) -> None:
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            try:
                self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:  # Popen's lock left held: reaped by its pid, as Popen would
                with contextlib.suppress(ChildProcessError):  # (reaped already: SIGCHLD ignored)
                    self.proc.returncode = os.waitstatus_to_exitcode(os.waitpid(self.proc.pid, 0)[1])
        self.proc.stdout.close()  # type: ignore[union-attr]

    def kill(self) -> None:
        """SIGKILL by pid: Popen.kill, cut by a second Ctrl-C, left a lock its wait() waits for."""
        if self.proc.poll() is None:  # (once reaped, by Popen or as SIGCHLD is ignored, the pid may be another's)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)

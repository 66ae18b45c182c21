"""A large report written by two processes: this one writes days from the first onwards,
a forked child writes days from the last backwards into a temporary file, and where they
meet this one copies the child's days after its own.

Writing a report is Python, one core's worth of it: a whole-store report of ten weeks
is 75,000 rows, and the machines ccaudit runs on have two cores or more. Each process
takes its next day under a lock, so the days split where the two meet, whatever the
days cost (a day of attacker-made keys costs more than its events suggest) and however
fast each core runs (on a shared machine one is often slower).

The child reads the same snapshot through a read-only connection of its own (a
connection must not cross a fork). SQLite's lock bookkeeping, which fork copies, counts
that connection as a reader of this process, under the shared lock that this process's
read transaction holds: no load can commit while it is held (``Selection.shareable``),
and it is held until the child has been reaped, which ``chunks`` and ``each`` always do
before they end. A read-only connection cannot write, so nothing the child does can harm
the store.

The child only ever saves time. If it cannot open the store or make its file, or fails
in any other way, it exits, and this process writes the days it took: the output is the
same bytes either way, and an error is reported as one process reports it.
"""
from __future__ import annotations

import codecs
import contextlib
import fcntl
import json
import mmap
import os
import signal
import sqlite3
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from . import storefile
from .render import Layout, Scale
from .report import Day, Gap, Report
from .stops import block_stops, restore_signals
from .tempdirs import temp_root

if TYPE_CHECKING:
    from .counts import Selection

MIN_EVENTS = 2_000_000  # a smaller report takes a fraction of a second: a second process saves little
STALLED = 120  # s in which a child takes no day and writes nothing: stuck, so this process writes its days
ENCODING, ERRORS = "utf-8", "surrogatepass"  # the child's text, read back as it was written
READ = 2**20
SCALE = 4096  # bytes of the shared map for each process's half of a Scale


def chunks(report: Report, layout: Layout, raw: bool = False) -> Iterator[str | bytes]:
    """The whole report in pieces, some of its days written by a child process if it is
    large enough to gain from one. With ``raw``, the child's days come as the UTF-8 bytes
    it wrote (for ``files.write_pieces``): decoding them and encoding them again cost a
    tenth of the report's wall time."""
    days = report.timeline()
    with _shared(report, days, lambda take, later: _write_parts(layout, days, take, later)) as later:
        yield from layout.head
        if later and not later.alone and layout.scale:
            later.share(layout.scale, days)
        for i in _days_here(later, len(days)):
            yield from layout.part(days[i])
        if later and later.written:
            yield from later.text(raw)
        yield layout.tail


def each(report: Report, days: Sequence[Day], write: Callable[[Day], object]) -> None:
    """``write(day)`` for each of ``days`` (a report folder's files), some in a child
    process if the report is large enough to gain from one."""
    with _shared(report, days, lambda take, later: [write(days[i]) for i in iter(take, None)]) as later:
        for i in _days_here(later, len(days)):
            write(days[i])


@contextlib.contextmanager
def _shared(report: Report, days: Sequence, work: Callable) -> Iterator[_Later | None]:
    """A child doing ``work`` on the days it takes, if the report is worth one; stopped
    and reaped on the way out, whatever happened."""
    later = _Later(report, days, work) if _worth(report) else None
    try:
        yield later
    finally:
        if later:
            later.close()


def _days_here(later: _Later | None, count: int) -> Iterator[int]:
    """The days this process writes: those it takes from the first, then, if the child
    did not write all of those it took, those too."""
    if later is None:
        yield from range(count)
        return
    yield from iter(later.first, None)
    if not later.done():
        yield from range(later.meeting, count)


def _write_parts(layout: Layout, days: Sequence[Day | Gap], take: Callable[[], int | None], later: _Later) -> None:
    """In the child: each day it takes, from the last, into the file; where each one is."""
    if layout.scale:
        later.share(layout.scale, days)
    with open(later.file.fileno(), "w", encoding=ENCODING, errors=ERRORS, closefd=False) as out:
        for i in iter(take, None):
            start = out.buffer.tell()  # type: ignore[attr-defined]  # a BufferedWriter's
            out.writelines(layout.part(days[i]))
            out.flush()
            later.wrote(i, start, out.buffer.tell())  # type: ignore[attr-defined]  # a BufferedWriter's


def _worth(report: Report) -> bool:
    """Whether a second process would save time and can read the same snapshot (and be
    forked safely: another thread could hold a lock that the child would wait on for ever)."""
    return (report.events >= MIN_EVENTS and report.selection is not None and hasattr(os, "fork")
            and _cores() >= 2 and threading.active_count() == 1 and report.selection.shareable())


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _shed(conn: sqlite3.Connection) -> None:
    """Give the system back the page cache's pages and the allocator's free memory before a
    fork: the child's resident memory counts every page it shares with this process too,
    so after a load (its cache full, its heap grown) the two counted 97.6 MiB at 2M events,
    90.1 once the pages the child never reads were given back."""
    with contextlib.suppress(sqlite3.Error, ImportError, OSError, AttributeError):  # only ever saves memory
        conn.execute("PRAGMA shrink_memory")
        import ctypes  # (as in _die_with_parent)

        ctypes.CDLL(None).malloc_trim(0)  # glibc's


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(1)


def _die_with_parent() -> None:
    """Have Linux kill this process when its parent dies (prctl PR_SET_PDEATHSIG); without
    ctypes, ``_last`` still sees the parent gone, at the child's next day."""
    with contextlib.suppress(ImportError, OSError, AttributeError):
        import ctypes  # here: only a child needs it, and every report imports this module

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1: PR_SET_PDEATHSIG


class _Later:
    """The days a forked child writes, from the last backwards, from the moment this is
    made, while this process takes them from the first (``first``). Shared between the
    two: the next day from the front and from the back, and where each of the child's
    days is in the file, in an anonymous shared map; the file's lock guards the first two."""

    def __init__(self, report: Report, days: Sequence, work: Callable[[Callable[[], int | None], _Later], object]):
        self.pid, self.written, self.meeting, self.alone, self.count = 0, False, 0, True, len(days)
        self.shared = mmap.mmap(-1, 16 * (1 + len(days)) + 2 * SCALE)
        struct.pack_into("qq", self.shared, 0, 0, len(days))
        try:
            self.file = tempfile.TemporaryFile(dir=temp_root())
        except OSError:  # no room: this process takes every day
            return
        self.parent, pid = os.getpid(), -1
        _shed(report.selection.conn)  # type: ignore[union-attr]  # (_worth: a selection's)
        mask = block_stops()  # until the child is in _work's try
        try:
            pid = os.fork()
        except OSError:  # no process: this process takes every day
            pass
        finally:
            if pid != 0:  # here, forked or not
                restore_signals(mask)
        if pid == -1:
            return
        self.pid, self.alone = pid, False
        if self.pid == 0:
            _work(report, lambda: work(self._last, self), mask, self.parent)

    def first(self) -> int | None:
        """The next day for this process, or None where it meets the child's."""
        return self._take(front=True)

    def _last(self) -> int | None:
        if os.getppid() != self.parent:  # orphaned: no lock keeps the store still any more
            raise ProcessLookupError("the report's process has ended")
        return self._take(front=False)

    def _take(self, front: bool) -> int | None:
        if not self.alone:
            fcntl.lockf(self.file.fileno(), fcntl.LOCK_EX)  # a process's lock: it keeps the other one out
        try:
            first, last = struct.unpack_from("qq", self.shared)
            if first >= last:
                self.meeting = last
                return None
            struct.pack_into("qq", self.shared, 0, first + front, last - (not front))
            return first if front else last - 1
        finally:
            if not self.alone:
                fcntl.lockf(self.file.fileno(), fcntl.LOCK_UN)

    def share(self, scale: Scale, days: Sequence) -> None:
        """Measure ``scale`` over this process's half of the days (the child's is the later
        half), post it in the shared map, and use it with the other's: the other's measured
        here instead if it failed or ended before posting it (a parent that ends takes its
        child with it)."""
        child = self.pid == 0
        mid = len(days) // 2
        mine, theirs = (days[mid:], days[:mid]) if child else (days[:mid], days[mid:])
        found = scale.measure(mine)
        self._post(child, found)
        other = self._posted(not child)
        scale.use(found, scale.measure(theirs) if other is None else other)

    def _post(self, child: bool, found: dict) -> None:
        data = json.dumps(found).encode()
        at = self._slot(child)
        if len(data) > SCALE - 8:
            struct.pack_into("q", self.shared, at, -1)  # too large to post: the other measures it
            return
        self.shared[at + 8:at + 8 + len(data)] = data
        struct.pack_into("q", self.shared, at, len(data))  # written last: the other reads the data after it

    def _posted(self, child: bool) -> dict | None:
        """What the child (or this process's parent) posted, once it has; None if it did
        not and will not (a child that ended, or took STALLED seconds)."""
        at, since = self._slot(child), time.monotonic()
        while not (size := struct.unpack_from("q", self.shared, at)[0]):
            if child and (self._exited() or time.monotonic() - since > STALLED):
                return None
            if not child and os.getppid() != self.parent:
                raise ProcessLookupError("the report's process has ended")
            time.sleep(0.001)
        return None if size < 0 else json.loads(self.shared[at + 8:at + 8 + size])

    def _slot(self, child: bool) -> int:
        """Where the half of a Scale that the child (or the parent) posts is, in the shared map."""
        return 16 * (1 + self.count) + child * SCALE

    def _exited(self) -> bool:
        """Whether the child has ended (it is reaped later, by ``done``)."""
        return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None

    def wrote(self, day: int, start: int, end: int) -> None:
        """In the child: day ``day`` is at [start, end) of the file."""
        struct.pack_into("qq", self.shared, 16 * (1 + day), start, end)

    def done(self) -> bool:
        """Whether the child wrote every day it took, waiting for it to end: a child that
        has taken no day and written nothing for STALLED seconds is stopped instead."""
        self.written = bool(self.pid) and self._ended() == 0
        self.pid = 0
        if not self.written and not self.alone:
            self.file.truncate(0)  # what it wrote of the days this process now writes: room in TMPDIR
        return self.written

    def _ended(self) -> int | None:
        """The child's exit code, once it ends; None if it was stopped as stuck."""
        seen, since = None, time.monotonic()
        while not (ended := os.waitpid(self.pid, os.WNOHANG))[0]:
            progress = self.shared[:16], os.fstat(self.file.fileno()).st_size  # days taken, bytes written
            if progress != seen:
                seen, since = progress, time.monotonic()
            elif time.monotonic() - since > STALLED:
                self._stop()
                return None
            time.sleep(0.005)
        return os.waitstatus_to_exitcode(ended[1])

    def text(self, raw: bool = False) -> Iterator[str | bytes]:
        """The child's days, in date order, as it wrote them (``raw``: its bytes)."""
        for day in range(self.meeting, self.count):
            start, end = struct.unpack_from("qq", self.shared, 16 * (1 + day))
            self.file.seek(start)
            decoder = codecs.getincrementaldecoder(ENCODING)(ERRORS)
            while start < end:
                data = self.file.read(min(READ, end - start))
                start += len(data)
                yield data if raw else decoder.decode(data, final=start >= end)

    def close(self) -> None:
        """Stop the child if this report ended early (an error, a closed pipe, Ctrl-C)."""
        self._stop()
        if hasattr(self, "file"):
            self.file.close()
        self.shared.close()

    def _stop(self) -> None:
        """SIGTERM, so that the child removes the file it was writing; SIGKILL after 2 s."""
        if self.pid:
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + 2
            try:
                while not os.waitpid(self.pid, os.WNOHANG)[0]:
                    if time.monotonic() > deadline:  # a long SQLite call
                        break
                    time.sleep(0.005)
                else:
                    self.pid = 0
            finally:  # out of time, or a second Ctrl-C meanwhile
                if self.pid:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    self.pid = 0


def _work(report: Report, work: Callable[[], object], mask: set | None, parent: int) -> None:
    """In the child: read the report's selection through a connection of its own (every
    row a day makes, now or when asked for, reads through that one object), do ``work``,
    then exit, 0 if it is all done. It never returns to the caller's code, nor touches
    its connection or buffers: the signals that raise (Ctrl-C, SIGTERM) stay blocked until
    it is inside the ``try``, or one arriving at once would unwind the parent's stack.
    SIGTERM raises here whoever called (a file being written is removed), and the child
    dies with its parent: without the parent's lock, a load could commit under it."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, _stop)
        _die_with_parent()
        restore_signals(mask)
        if os.getppid() != parent:
            return
        selection: Selection = report.selection  # type: ignore[assignment]  # not None: _worth checked
        conn = storefile.reader(selection.path)
        if selection.file_id != storefile.file_id(selection.path):
            return  # another file put in its place since the report was built
        selection.read_through(conn)
        work()
        code = 0
    finally:
        os._exit(code)

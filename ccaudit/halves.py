"""A large report written by two processes: while this one writes the first days, a
forked child writes the others into a temporary file, which then follows them.

Writing a report is Python, one core's worth of it: a whole-store report of ten weeks
is 75,000 rows, and the machines ccaudit runs on have two cores or more.

The child reads the same snapshot through a read-only connection of its own (a
connection must not cross a fork). SQLite's lock bookkeeping, which fork copies, counts
that connection as a reader of this process, under the shared lock that this process's
read transaction holds: no load can commit while it is held (``Selection.shareable``),
and it is held until the child has been reaped, which ``chunks`` always does before it
ends. A read-only connection cannot write, so nothing the child does can harm the store.

The child only ever saves time. If it cannot open the store or make its file, or fails
in any other way, it exits, and this process writes those days itself: the output is the
same bytes either way, and an error is reported as one process reports it.
"""
from __future__ import annotations

import functools
import io
import os
import signal
import tempfile
import time
from collections.abc import Callable, Iterator

from . import storefile
from .render import Layout
from .report import Day, Gap, Report, Rows

MIN_EVENTS = 2_000_000  # a smaller report takes a fraction of a second: a second process saves little
ENCODING, ERRORS = "utf-8", "surrogatepass"  # the child's text, read back as it was written


def chunks(report: Report, layout: Layout) -> Iterator[str]:
    """The whole report in pieces, its later days written by a child process if it is
    large enough to gain from one."""
    days = list(report.timeline())
    split = _split(report, days)
    later = _Later(report, functools.partial(_write_parts, layout, days[split:])) if split else None
    try:
        yield layout.head
        for day in days[:split] if later else days:
            yield from layout.part(day)
        if later and later.done():
            later.file.seek(0)
            reader = io.TextIOWrapper(later.file, encoding=ENCODING, errors=ERRORS)
            yield from iter(lambda: reader.read(2**20), "")
        elif later:
            for day in days[split:]:
                yield from layout.part(day)
        yield layout.tail
    finally:
        if later:
            later.close()


def each(report: Report, days: list[Day], write: Callable[[Day], object]) -> None:
    """``write(day)`` for each of ``days`` (a report folder's files), the later ones in a
    child process if the report is large enough to gain from one."""
    split = _split(report, days)
    later = _Later(report, lambda _: [write(day) for day in days[split:]]) if split else None
    try:
        for day in days[:split] if later else days:
            write(day)
        if later and not later.done():
            for day in days[split:]:
                write(day)
    finally:
        if later:
            later.close()


def _write_parts(layout: Layout, days: list[Day | Gap], fd: int) -> None:
    with open(fd, "w", encoding=ENCODING, errors=ERRORS, closefd=False) as out:
        for day in days:
            out.writelines(layout.part(day))


def _split(report: Report, days: list) -> int | None:
    """Where the child's days start: the events are split in half (a day's rows are what
    cost, and more events bring more keys), or None to write them all here."""
    if (report.events < MIN_EVENTS or report.selection is None or not hasattr(os, "fork") or _cores() < 2
            or not report.selection.shareable()):
        return None
    half, seen, best = report.events / 2, 0, None
    for i, day in enumerate(days[:-1], 1):
        seen += day.events if isinstance(day, Day) else 0
        if best is None or abs(seen - half) < abs(best[1] - half):
            best = i, seen
    return best[0] if best else None


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class _Later:
    """``work(fd)``, done by a forked child from the moment this is made, with ``report``
    read through the child's own connection; ``fd`` is a temporary file's, ``file`` here."""

    def __init__(self, report: Report, work: Callable[[int], object]):
        self.pid, self.written = 0, False
        try:
            self.file = tempfile.TemporaryFile()
            self.pid = os.fork()
        except OSError:  # no room or no process: this process does the work
            return
        if self.pid == 0:
            _work(report, work, self.file.fileno())

    def done(self) -> bool:
        """Whether the child did all its work (waiting for it to end)."""
        self.written = bool(self.pid) and os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1]) == 0
        self.pid = 0
        return self.written

    def close(self) -> None:
        """Stop the child if this report ended early (an error, a closed pipe, Ctrl-C):
        SIGTERM, so that it removes the file it was writing."""
        if self.pid:
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + 2
            while not os.waitpid(self.pid, os.WNOHANG)[0]:
                if time.monotonic() > deadline:  # SIGTERM ignored, or a long SQLite call
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    break
                time.sleep(0.005)
            self.pid = 0
        if hasattr(self, "file"):
            self.file.close()


def _work(report: Report, work: Callable[[int], object], fd: int) -> None:
    """In the child: rebind the report's rows to a connection of its own, do ``work``,
    then exit, 0 if it is all done (never returning to the caller's code, nor touching
    its connection or buffers)."""
    code = 1
    try:
        selection = report.selection.on(storefile.reader(report.selection.path))  # type: ignore[union-attr]
        for day in report.days:
            for section in day.sections.values():
                if isinstance(section.rows, Rows):
                    section.rows.selection = selection
        work(fd)
        code = 0
    finally:
        os._exit(code)

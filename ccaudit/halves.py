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

import io
import os
import signal
import tempfile
from collections.abc import Iterator

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
    later = _Later(report, layout, days[split:]) if split else None
    try:
        yield layout.head
        for day in days[:split] if later else days:
            yield from layout.part(day)
        if later:
            yield from later.text()
        yield layout.tail
    finally:
        if later:
            later.close()


def _split(report: Report, days: list[Day | Gap]) -> int | None:
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
    """The days a forked child writes to a temporary file, from the moment it is made."""

    def __init__(self, report: Report, layout: Layout, days: list[Day | Gap]):
        self.layout, self.days, self.pid, self.written = layout, days, 0, False
        try:
            self.file = tempfile.TemporaryFile()
            self.pid = os.fork()
        except OSError:  # no room or no process: write them here
            return
        if self.pid == 0:
            _write(report, layout, days, self.file.fileno())

    def text(self) -> Iterator[str]:
        """The child's days, or, if it did not write them all, the same days written here."""
        self.written = bool(self.pid) and os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1]) == 0
        self.pid = 0
        if not self.written:
            for day in self.days:
                yield from self.layout.part(day)
            return
        self.file.seek(0)
        reader = io.TextIOWrapper(self.file, encoding=ENCODING, errors=ERRORS)
        yield from iter(lambda: reader.read(2**20), "")

    def close(self) -> None:
        """Stop the child if this report ended early (an error, a closed pipe, Ctrl-C)."""
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = 0
        if hasattr(self, "file"):
            self.file.close()


def _write(report: Report, layout: Layout, days: list[Day | Gap], fd: int) -> None:
    """In the child: write ``days`` to ``fd`` through a connection of its own, then exit,
    0 if they are all there (never returning to the caller's code, nor touching its
    connection or buffers)."""
    code = 1
    try:
        selection = report.selection.on(storefile.reader(report.selection.path))  # type: ignore[union-attr]
        for day in days:
            for section in day.sections.values() if isinstance(day, Day) else ():
                if isinstance(section.rows, Rows):
                    section.rows.selection = selection
        with open(fd, "w", encoding=ENCODING, errors=ERRORS, closefd=False) as out:
            for day in days:
                out.writelines(layout.part(day))
        code = 0
    finally:
        os._exit(code)

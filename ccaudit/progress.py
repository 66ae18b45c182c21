"""Progress on a terminal: one stderr line, redrawn in place."""
from __future__ import annotations

import os
import sys
import time
from typing import TextIO

from .streams import discard
from .text import columns, cut, plural, printable

WIDTH = 80  # columns when the terminal does not say


class Progress:
    """A load's progress (bytes read of total, records, records per second); called by the
    loader a few times a second."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.start = time.monotonic()
        self.shown = False

    def __call__(self, label: str, done: int, total: int | None, records: int) -> None:
        elapsed = max(time.monotonic() - self.start, 1e-6)
        where = f"{done / 2**20:,.0f} MiB"
        if total:
            where = f"{100 * done / total:3.0f}% of {total / 2**20:,.0f} MiB"
        tail = f": {where}, {plural(records, 'record')}, {records / elapsed:,.0f}/s"
        label = printable(label)  # a file name may hold an escape sequence
        room = width(self.stream) - 1 - columns(tail)
        redraw(self.stream, cut(label, room, keep_end=True) + tail)  # the end of a path names the file
        self.shown = True

    def done(self) -> None:
        if self.shown:
            redraw(self.stream, "")


def on_terminal(quiet: bool) -> bool:
    """Is progress to be shown: not ``-q``, and stderr a terminal (not closed with ``2>&-``,
    which leaves Python no ``sys.stderr``) that can clear a line (not ``TERM=dumb``: an
    editor's shell, a CI log)?"""
    return not quiet and sys.stderr is not None and sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def redraw(stream: TextIO, line: str) -> None:
    """``line`` in place of the one the cursor is on, cut to the terminal's width: a line
    that wraps left a row behind at every redraw, as ``\\x1b[K`` clears only the last."""
    line = cut(line, width(stream) - 1)
    try:
        stream.write(f"\r\x1b[K{line}")
        stream.flush()
    except BrokenPipeError:  # its reader went away: as for any message
        raise
    except BlockingIOError:  # a terminal another program made non-blocking, full for now: this redraw goes
        pass
    except OSError:  # the terminal went away (EIO: a dropped ssh session whose SIGHUP is ignored):
        if stream is not sys.stderr or stream.fileno() != 2:  # the run goes on unseen, as
            raise  # boundary.say's lines then do; a program's own stream is the program's
        discard(2)


def width(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or WIDTH
    except (OSError, ValueError, AttributeError):
        return WIDTH

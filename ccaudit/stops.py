"""The signals that stop ccaudit (Ctrl-C, SIGTERM, SIGHUP), held off across a stretch of
code that must not be left half done: a temporary file made but not yet in the ``try``
that removes it, a worker started but not yet known to the pool. Also what SIGTERM and
SIGHUP raise (``Terminated``), and whether a stop can still come after the command
(``Program``). Imports nothing of ccaudit's, nor click: the downloader uses it."""
from __future__ import annotations

import signal

STOPPING = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}  # what stops ccaudit, see cli.py


def block_stops() -> set | None:
    """Block the signals that stop ccaudit until ``restore_signals``."""
    return signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING) if hasattr(signal, "pthread_sigmask") else None


def drop_stops() -> None:
    """Take the stop signals that came while ``block_stops`` held them off, so that they
    stop nothing (the stretch they came in finished what there was to do). Only in the
    ccaudit program: a caller's process goes on, and its own handlers are owed them."""
    if Program.ends_with_command and hasattr(signal, "sigtimedwait"):
        while STOPPING & signal.sigpending():
            signal.sigtimedwait(STOPPING, 0)


def restore_signals(mask: set | None) -> None:
    """Unblock what ``block_stops`` blocked: a signal that came meanwhile arrives now."""
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


class Program:
    """Whether this process is the ccaudit program (``__main__.main`` says so), which ends
    when its command does, rather than a caller's (tests, a notebook), which goes on."""

    ends_with_command = False


class Terminated(BaseException):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C, so temporary files and folders go."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

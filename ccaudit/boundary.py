"""The command line's error boundary: whatever reaches it becomes one line on stderr and
an exit code (EXIT_CODES), never a traceback.

The core raises ``CcauditError``s with messages written for the user and names every file
it writes, so an ``OSError`` that gets here is standard output's: a full disk, a closed
descriptor. Anything else is a bug in ccaudit, said in one line (exit 70).
"""
from __future__ import annotations

import contextlib
import errno
import functools
import io
import os
import re
import signal
import sqlite3
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from types import FrameType
from typing import NoReturn

import click

from .errors import OUT_OF_MEMORY, CcauditError, ExitCode, too_many_files
from .stops import STOPPING, Program, Terminated
from .streams import discard
from .text import printable, quoted

EXIT_CODES = """Exit codes: 0 ok; 1 a check failed, --strict found malformed input, or clean was
declined; 2 usage or input error (missing or unreadable file, nothing parseable);
70 an internal error (a bug in ccaudit; please report it); 130 interrupted (Ctrl-C),
143 and 129 stopped by SIGTERM and SIGHUP (temporary files removed); 141 the reader of
the output went away (| head)."""


_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click 8.2 on: a group called without a command

OUTPUT_FAILED = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF}  # a write to standard output failed


class ClosedOutput(io.TextIOBase):
    """Standard output that the caller closed (``>&-``): writing to it fails, as on a bad
    file descriptor, and only if a command writes to it."""

    def fileno(self) -> int:
        return 1

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))


_signalled: list[BaseException] = []  # what a signal raised: see _stops_through_sql


def terminate(signum: int, frame: FrameType | None) -> None:
    _stop(Terminated(signum), signum, frame)


def interrupt(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C, as Python's own handler, but kept: see _stops_through_sql."""
    _stop(KeyboardInterrupt(), signum, frame)


def _stop(e: BaseException, signum: int, frame: FrameType | None) -> None:
    """Raise ``e``, and keep it; but not as an import compiles a module (from its source: no
    bytecode cached), where compile() can drop it: the module was made all the same, and a load
    under SIGTERM ran to its end. Sent again a moment later, when the module is made."""
    if _compiling(frame):
        _send_later(signum)
        return
    _signalled.append(e)
    raise e


def _compiling(frame: FrameType | None) -> bool:
    """Whether the handler runs in the import system's call of compile(), and there alone: raised
    anywhere else in an import (waiting for another thread's, say), a stop goes up as it should."""
    if frame is None or frame.f_back is None:
        return False
    caller = frame.f_back
    return (frame.f_code.co_name == "_call_with_frames_removed" and caller.f_code.co_name == "source_to_code"
            and caller.f_code.co_filename.startswith("<frozen"))


def signalled() -> bool:
    """Whether Ctrl-C or SIGTERM has stopped this command."""
    return bool(_signalled)


@contextlib.contextmanager
def _stops_through_sql() -> Iterator[None]:
    """A signal's exception raised in a Python function that SQLite called (reports make
    a row's hours so) reaches here as sqlite3's OperationalError, or as the error the core
    made of it (an upgrade's "could not"): raised again as it was. Ctrl-C's handler is
    Python's own, but kept, for the command only (SIG_IGN stays)."""
    main = threading.current_thread() is threading.main_thread()  # only the main thread sets handlers
    own = main and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if own:
        signal.signal(signal.SIGINT, interrupt)
    hook = sys.unraisablehook
    if main:
        sys.unraisablehook = functools.partial(_sent_again, hook)
    try:
        yield
    except (sqlite3.Error, CcauditError):
        if _signalled:
            raise _signalled[-1] from None
        raise
    finally:
        if main:
            sys.unraisablehook = hook
        if own:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _sent_again(hook: Callable, unraisable: sys.UnraisableHookArgs) -> None:
    """A signal's exception raised where Python cannot raise it (a weak reference's
    callback, as an import's lock is freed; a ``__del__``) was printed as ignored, with its
    traceback, and the command went on as if never stopped. It is sent again instead, a
    moment later, by another thread: sent from here, its handler ran here, ignored again."""
    e = unraisable.exc_value
    if any(e is stop for stop in _signalled):
        _send_later(e.signum if isinstance(e, Terminated) else signal.SIGINT)
    else:  # anything else, to the hook there was (Python's: the traceback)
        hook(unraisable)


def _send_later(signum: int) -> None:
    """Send ``signum`` to the main thread again in a moment, from another thread: sent from
    here, its handler would run here again."""
    later = threading.Timer(0.05, signal.pthread_kill, (threading.main_thread().ident, signum))
    later.daemon = True  # (a command that ends meanwhile has ended)
    later.start()


@contextlib.contextmanager
def boundary(ctx: click.Context) -> Iterator[None]:
    """The one error boundary: core errors become one stderr line and an exit code."""
    _signalled.clear()  # a command run before in this process (tests) was stopped
    try:
        try:
            with _stops_through_sql():
                try:
                    yield
                except (click.exceptions.Exit, SystemExit):  # the command's own exit code, once its output is out
                    _written_out()
                    raise
                _written_out()
        except BaseException:
            _deaf_to_stops()
            raise
    except CcauditError as e:
        say(f"ccaudit: error: {printable(str(e))}")
        _flushed_or_dropped()
        ctx.exit(e.exit_code)
    except KeyboardInterrupt as e:
        _drop_output()
        say(f"ccaudit: interrupted{_noted(e)}")
        ctx.exit(ExitCode.INTERRUPTED)
    except Terminated as e:
        _drop_output()
        say(f"ccaudit: stopped by {signal.Signals(e.signum).name}{_noted(e)}")
        ctx.exit(128 + e.signum)
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as cat does
        discard(sys.stdout.fileno())
        ctx.exit(ExitCode.BROKEN_PIPE)
    except OSError as e:  # the core names every file it writes; what is left is standard output
        if isinstance(e, FileNotFoundError) and _folder_gone():
            say("ccaudit: error: the current folder was deleted, so a name relative to it leads nowhere: cd to "
                "a folder that exists, or give full paths")
            ctx.exit(ExitCode.USAGE)
        if said := too_many_files(e):
            say(f"ccaudit: error: {said}")
            ctx.exit(ExitCode.USAGE)
        if e.errno not in OUTPUT_FAILED:
            _internal_error(ctx, e)
        discard(sys.stdout.fileno())  # what is left of it could not be written either
        say(f"ccaudit: error: cannot write to standard output: {e.strerror or e}")
        ctx.exit(ExitCode.USAGE)
    except UnicodeEncodeError as e:  # the core writes files as UTF-8: what is left is standard output's encoding
        discard(sys.stdout.fileno())
        say(f"ccaudit: error: standard output's encoding ({e.encoding}) cannot write "
            f"{e.object[e.start:e.end]!a}: use a UTF-8 locale (PYTHONIOENCODING=utf-8) or -o FILE")
        ctx.exit(ExitCode.USAGE)
    except MemoryError:  # a limit of the machine's (ulimit -v, a container's): was "internal error: MemoryError:"
        say(f"ccaudit: error: {OUT_OF_MEMORY}")
        ctx.exit(ExitCode.USAGE)
    except sqlite3.DatabaseError as e:  # the core names the store where it can; a damaged page shows later
        say(f"ccaudit: error: a store could not be read: {printable(too_many_files(e) or str(e))}")
        ctx.exit(ExitCode.USAGE)
    except _HELP:  # `ccaudit` alone: the help, not an error line
        raise
    except click.ClickException as e:  # one line, as every error; printable: it may quote a typed file name
        say(f"ccaudit: error: {printable(_where_to_look(e))}")
        ctx.exit(e.exit_code)
    except (click.exceptions.Exit, click.Abort):
        raise
    except Exception as e:
        _internal_error(ctx, e)


def _deaf_to_stops() -> None:
    """The ccaudit program is ending (stopped, failed, or done with an exit code): a Ctrl-C
    or SIGTERM as that is said or as Python shuts down (``timeout``'s second, a user's) was
    a traceback, or click's "Aborted!" (exit 1). Not in a caller's process (tests)."""
    if Program.ends_with_command and threading.current_thread() is threading.main_thread():
        for signum in STOPPING:
            signal.signal(signum, signal.SIG_IGN)


def _drop_output() -> None:
    """Stopped: what is left of standard output goes nowhere, in the ccaudit program. Flushed
    at exit into a pipe that its reader had stopped reading (a pager), it held the stopped
    command there for as long, deaf to further stops, then said "Exception ignored"."""
    if Program.ends_with_command and sys.stdout is not None:
        with contextlib.suppress(OSError, ValueError):
            discard(sys.stdout.fileno())


def _flushed_or_dropped() -> None:
    """Failed: what is left in standard output's buffer, written if it can be, as at exit,
    else dropped. Left there after a write of it failed (``download --out -`` to a full
    disk), it failed again at exit: Python said "Exception ignored" and exited 120."""
    try:
        _written_out()
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError):
            discard(sys.stdout.fileno())


def _written_out() -> None:
    """What is left in standard output's buffer, written where a failure can still be said
    (a full disk, a reader gone before it, ``| true``): at exit, Python said "Exception
    ignored" and exited 120."""
    if sys.stdout is not None:
        sys.stdout.flush()


_SECRETS = "CCAUDIT_API_KEY and CCAUDIT_API_SECRET"  # (a secret typed as an argument was said, into a cron job's log)
_SECRET_LIKE = re.compile("pass|secret|key|sasl|token|api|cred", re.IGNORECASE)
_REPR_BYTE = re.compile(r"(?<!\\)((?:\\\\)*)\\udc([89a-f][0-9a-f])")  # repr's \udcff: a byte not UTF-8


def _where_to_look(e: click.ClickException) -> str:
    """The error's message; after an argument missing or an option unknown, with the help
    that click's usage block (left out: an error is one line) would have pointed to."""
    said, command = e.format_message(), getattr(e, "ctx", None)
    if isinstance(e, click.BadParameter) and (" is not one of " in said or " is not a valid " in said):
        said = _REPR_BYTE.sub(r"\1\\x\2", said)  # a choice's or a range's repr of the value: as printable shows it
    if isinstance(e, click.NoSuchOption):  # click's repr wrote a byte not UTF-8 as \udcff
        said = said.replace(repr(e.option_name), quoted(e.option_name))
    secret = said.startswith("Got unexpected extra argument") or _SECRET_LIKE.search(getattr(e, "option_name", ""))
    if command is not None and command.info_name == "download" and secret:
        said = said if isinstance(e, click.NoSuchOption) else "download takes no arguments (not shown here; the " \
            "output file is --out FILE)"
        return f"{said.rstrip('.')}; the API key and secret come from --config or {_SECRETS}, never the command line"
    if not isinstance(e, (click.MissingParameter, click.NoSuchOption)) or command is None:
        return said
    return f"{said.rstrip('.')}; see ccaudit{'' if command.parent is None else ' ' + command.info_name} -h"


def _noted(e: BaseException) -> str:
    """What the core noted on a stop it passed on (a download: the records a pipe already had)."""
    return "".join(f"; {printable(note)}" for note in getattr(e, "__notes__", ()))


def _folder_gone() -> bool:
    """Whether the current folder was deleted (a shell left in it): every relative name
    then fails, in os.path.abspath too, wherever the core makes one."""
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def _internal_error(ctx: click.Context, e: Exception) -> NoReturn:
    """A bug: say so in one line, trace only on request."""
    if os.environ.get("CCAUDIT_DEBUG"):
        traceback.print_exc()
    why = printable(str(e))
    say(f"ccaudit: internal error: {type(e).__name__}: {why} (set CCAUDIT_DEBUG=1 for a traceback)")
    ctx.exit(ExitCode.INTERNAL)


def say(line: str = "", nl: bool = True) -> None:
    """``line`` on stderr. If stderr cannot take it (a full disk), it and the rest go to
    /dev/null, as coreutils' messages go nowhere then: a report is still written, and a
    check still exits by its rules (the failed write was taken for standard output's, or
    lost sys.stderr, exit 1). A reader that went away (EPIPE) still stops the command."""
    try:
        click.echo(line, err=True, nl=nl)
    except BrokenPipeError:
        raise
    except OSError:
        discard(2)  # what is left in sys.stderr's buffer too



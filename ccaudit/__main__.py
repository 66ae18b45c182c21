"""The ``ccaudit`` command and ``python -m ccaudit``. Ctrl-C while ccaudit is still
starting (importing its modules) exits 130 like anywhere else, without a traceback."""
import atexit
import codecs
import contextlib
import io
import os
import signal
import sys

from .errors import OUT_OF_MEMORY, memory_failed, pin_max_digits, too_many_files
from .stops import Program
from .streams import made_blocking


def main() -> None:
    try:
        from .cli import cli  # a Ctrl-C meanwhile exits at once, by interrupted_while_starting
    except KeyboardInterrupt:  # python -m ccaudit, where that handler is not set
        _interrupted()
    except RuntimeError as e:  # Python 3.11 wraps one raised while a class is made (__set_name__)
        if not isinstance(e.__cause__, KeyboardInterrupt):
            raise
        _interrupted()
    except (MemoryError, ImportError) as e:  # a memory limit (ulimit -v) met by the imports: was a traceback, exit 1
        if not memory_failed(e):
            raise
        _said_and_gone(f"ccaudit: error: {OUT_OF_MEMORY}\n", 2)
    except OSError as e:  # a limit of files open (ulimit -n) met by the imports: was a traceback, exit 1
        if not (said := too_many_files(e)):
            raise
        _said_and_gone(f"ccaudit: error: {said}\n", 2)
    if unblocked := [fd for fd in map(made_blocking, (sys.stdin, sys.stdout, sys.stderr)) if fd is not None]:
        atexit.register(_give_back, unblocked)
    _utf8_stdout()
    pin_max_digits()
    os.umask(os.umask(0o077) & 0o077)  # owner-only modes as made: a umask of 277 made report folders 0500, unwritable
    Program.ends_with_command = True
    cli(prog_name="ccaudit")


def _interrupted() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C as this is said was a traceback
    _said_and_gone("ccaudit: interrupted\n", 130)


def _said_and_gone(line: str, code: int) -> None:
    if sys.stderr is not None:  # closed with 2>&-
        sys.stderr.write(line)
    sys.exit(code)


def _give_back(fds: list[int]) -> None:
    """Streams made blocking for the run, non-blocking again as the parent left them (the
    flag is the parent's too: one that reads until EAGAIN would wait for ever); after the
    last of the output, which Python writes only after this."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # Python's own flush, next, says it as it would have
            stream.flush()
    for fd in fds:
        with contextlib.suppress(OSError):
            os.set_blocking(fd, False)


def _utf8_stdout() -> None:
    """Reports are UTF-8 on stdout as in files, whatever the locale: JSON must be, the html
    page says it is, and a CI job comparing bytes must not depend on LANG. And buffered,
    even under PYTHONUNBUFFERED (python -u): there the text layer writes to the file itself,
    and takes a short write (the disk filled, or a file size limit came) for a whole one,
    dropping the rest without a word; a buffer writes the rest, and that write raises."""
    out = sys.stdout
    if not isinstance(out, io.TextIOWrapper):
        return
    if isinstance(out.buffer, io.RawIOBase):
        errors, terminal = out.errors, out.isatty()  # at a terminal, a line at a time, as without -u
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(out.detach()), encoding="utf-8", errors=errors,
                                      line_buffering=terminal)
    elif codecs.lookup(out.encoding).name != "utf-8":
        out.reconfigure(encoding="utf-8")


if __name__ == "__main__":
    main()

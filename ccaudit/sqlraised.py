"""What a Python function called from SQL raised. sqlite3 turns any exception of such a
function into an OperationalError ("user-defined function raised exception"), Ctrl-C and
SIGTERM's too, which a program's ``except Exception`` then takes: each function of
``daycounts.register`` keeps what it raised, for its thread, so a reader raises it again as
itself (``stops_through_sql``) or names the damaged row it met (``raised_in_sql``)."""
from __future__ import annotations

import contextlib
import signal
import sqlite3
import threading
from collections.abc import Callable, Iterator

_threads = threading.local()  # what a function raised, kept for its thread: another's report clears its own


def here() -> list[BaseException]:
    """What a function raised in this thread (the last, once one has)."""
    return _threads.__dict__.setdefault("raised", [])


def kept(function: Callable, raised: list[BaseException] | None = None) -> Callable:
    """``function``, for SQL, keeping what it raises in ``raised`` (the thread's, by default):
    sqlite3 turns it into an OperationalError, even Ctrl-C or SIGTERM's exception (``raised_in_sql``)."""
    def call(*args):
        try:
            return function(*args)
        except BaseException as e:
            (here() if raised is None else raised)[:] = [e]
            raise
    return call


@contextlib.contextmanager
def stops_through_sql() -> Iterator[None]:
    """Ctrl-C (or another stop, no Exception) in a function of ``register`` reaches the
    reader as sqlite3's OperationalError, which ``except Exception`` takes: raised again as
    itself, for a program's reports as for the commands' (boundary.py)."""
    raised = here()
    raised.clear()  # (one of a statement read before, outside, is not this one's)
    try:
        yield
    except sqlite3.OperationalError as e:
        if raised and not isinstance(raised[-1], Exception):
            raise raised.pop() from None
        if not raised and str(e) == _UNKEPT and threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            raise KeyboardInterrupt from None  # Python's handler ran as a function was entered, before its try
        raise


_UNKEPT = "user-defined function raised exception"  # what sqlite3 says of any exception of a function


def raised_in_sql() -> BaseException | None:
    """What a SQL function of ``register`` raised last, forgotten once told: a statement
    that failed with "user-defined function raised exception", or with another error
    (an OverflowError is "string or blob too big"), failed because of it."""
    raised = here()
    e = raised[-1] if raised else None
    raised.clear()
    return e

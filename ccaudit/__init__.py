"""ccaudit: per-day, per-hour reports from Confluent Cloud audit-log dumps.

The library API, usable without the command line::

    from ccaudit import Store, load_dumps, build
    store = Store("audit.db")
    stats = load_dumps(["dump.json.gz"], store)
    report = build(store)
    store.db["keys"].count  # the store as a sqlite-utils Database, for queries of your own

Names are imported on first use, so that a parse worker (``ccaudit.worker``) stays small.
"""
import _signal  # built in and already loaded, unlike `signal`: no import for Ctrl-C to land in
import importlib
import os
import sys


def interrupted_while_starting(signum, frame) -> None:
    """Ctrl-C before ``__main__.main`` can catch it (the command's script is importing
    ccaudit): nothing is made yet, so say so and go, rather than print a traceback. A second
    Ctrl-C (``timeout``'s, a user's) is ignored: it ran this handler again inside this one."""
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    os.write(2, b"ccaudit: interrupted\n")
    os._exit(130)


_FLAGS = set("bBdEhiIOPqsSuvVx")  # Python's options that take no value, which may come before m in one word


def _runs_the_command() -> bool:
    """Whether this program is the ``ccaudit`` script pip writes (or one that runs the
    command as it does), or ``python -m ccaudit``, not a program using ccaudit as a library:
    there a Ctrl-C must reach the program's own ``finally`` and ``except``."""
    if sys.argv[:1] == ["-m"]:  # python -m, its module still being found: ccaudit's, or a module that imports it
        given = getattr(sys, "orig_argv", [])
        for i, arg in enumerate(given[1:], 1):  # -m, or flags and m: -Bm (the rest, or the next, names the module)
            if arg[:1] == "-" and arg[1:2] != "-" and "m" in arg and not set(arg[1:arg.index("m")]) - _FLAGS:
                return (arg[arg.index("m") + 1:] or "".join(given[i + 1:i + 2])) in ("ccaudit", "ccaudit.__main__")
        return False
    if os.path.basename(sys.argv[0] if sys.argv else "") != "ccaudit":
        return False
    try:
        with open(sys.modules["__main__"].__file__, "rb") as script:  # type: ignore[arg-type]  # None: TypeError
            return b"from ccaudit.__main__ import main" in script.read(4096)
    except (AttributeError, KeyError, OSError, TypeError):
        return False


if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler and _runs_the_command():  # SIG_IGN stays
    _signal.signal(_signal.SIGINT, interrupted_while_starting)

__version__ = "0.1.0"

TYPE_CHECKING = False  # True to a type checker, which reads it by its name: importing typing slowed every start
if TYPE_CHECKING:  # what a checker sees of the names imported on first use (py.typed): "as" exports them
    from .filters import Filters as Filters
    from .load import load_dumps as load_dumps
    from .output import render_report as render_report
    from .report import Report as Report
    from .report import build as build
    from .stats import LoadStats as LoadStats
    from .store import Store as Store

_API = {
    "LoadStats": "stats", "load_dumps": "load", "Filters": "filters", "Report": "report",
    "build": "report", "Store": "store", "render_report": "output",
}
__all__ = [*_API, "__version__"]


if not TYPE_CHECKING:  # a checker that saw a module __getattr__ would take any name, misspelt too, as Any

    def __getattr__(name: str):
        if name in _API:
            return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
        raise AttributeError(f"module 'ccaudit' has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*globals(), *_API})  # the API's names too, though imported on first use

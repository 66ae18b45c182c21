"""Importing a package without the heavy ones it would pull in on its own.

pyarrow imports numpy (and pandas on its first conversion) whenever they are installed,
which the spark extra does: about 100 MiB and a third of a second for types ccaudit's
export never uses. ``hidden`` makes their import fail while such a package loads; it copes
with them missing. ``require_arrow`` and ``arrow`` import pyarrow so for the command line.
(``Store.db`` imports sqlite-utils as it is: the program asked for it.)
"""
from __future__ import annotations

import contextlib
import functools
import importlib.abc
import sys
from collections.abc import Iterator

from .errors import OUT_OF_MEMORY, CcauditError, MissingExtra, memory_failed
from .stops import Program

INSTALL_HINT = "ccaudit export needs pyarrow: pip install 'pyarrow>=14' (in ccaudit's clone: pip install '.[parquet]')"


class _Hide(importlib.abc.MetaPathFinder):
    def __init__(self, names: set[str]):
        self.names = names

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in self.names:
            raise ImportError(f"{name} is not needed here")


@contextlib.contextmanager
def hidden(*names: str) -> Iterator[None]:
    """Imports of these packages fail meanwhile (unless they are imported already)."""
    hide = _Hide({n for n in names if n not in sys.modules})
    sys.meta_path.insert(0, hide)
    try:
        yield
    finally:
        sys.meta_path.remove(hide)


def require_arrow(lean: bool = False) -> None:
    """Import pyarrow, or say what to install (or that memory ran out). ``lean`` for the
    command line: pyarrow then loads without numpy and pandas, which it imports whenever
    they are installed (45 MiB, and 50 more on its first conversion), though an export
    needs neither; they stay missing to pyarrow for the rest of the process."""
    try:
        with hidden("numpy", "pandas") if lean else contextlib.nullcontext():
            import pyarrow  # noqa: F401
            import pyarrow.parquet  # noqa: F401
    except ImportError as e:
        if memory_failed(e):  # (ulimit -v): was "needs pyarrow: pip install"
            raise CcauditError(OUT_OF_MEMORY) from None
        if not lean:
            raise MissingExtra(INSTALL_HINT) from None
        require_arrow()  # a pyarrow that needs numpy


@functools.cache
def arrow():
    """pyarrow and pyarrow.parquet, looked at once (an export asks each day). With numpy,
    pyarrow imports pandas (if installed) on its first conversion, to ask whether rows are
    pandas objects, which they never are: in the ccaudit program that look is made here
    with pandas hidden, and pyarrow remembers it (a caller's process, which may convert
    pandas objects later, is left alone)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with hidden("pandas") if Program.ends_with_command else contextlib.nullcontext():
        pa.array([])
    return pa, pq

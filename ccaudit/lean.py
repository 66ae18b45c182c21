"""Importing a package without the heavy ones it would pull in on its own.

pyarrow imports numpy (and pandas on its first conversion) whenever they are installed,
which the spark extra does: about 100 MiB and a third of a second for types ccaudit's
export never uses. ``hidden`` makes their import fail while such a package loads; it copes
with them missing. (``Store.db`` imports sqlite-utils as it is: the program asked for it.)
"""
from __future__ import annotations

import contextlib
import importlib.abc
import sys
from collections.abc import Iterator


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

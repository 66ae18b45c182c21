"""What the library's public names refuse at once, as Python's own functions do: an argument
no command would pass (a store's name as bytes, its path where a Store belongs, a flag as
text) failed later and deep inside, as an AttributeError or in SQLite's words, or was taken
for something else ("no" is true)."""
from __future__ import annotations

import os
from collections.abc import Sequence


def store_path(path: object, durable: object, readonly: object, notify: object, loading: object = ()) -> str:
    """``Store``'s path as text, once its arguments are found to be of the right kinds."""
    try:
        path = os.fspath(path)  # type: ignore[call-overload]  # any object: its TypeError is the answer
    except TypeError:
        raise TypeError(f"Store takes a path as str or os.PathLike, not {type(path).__name__}") from None
    if not isinstance(path, str):
        raise TypeError("Store takes a path as str or os.PathLike, not bytes")
    if not path:
        raise ValueError("Store: the path is empty")
    if path == "-":  # as --db - is: was a store made as ./-
        raise ValueError("Store: - is standard input or output; name a file (./- for one called that)")
    flag(durable, "Store: durable")
    flag(readonly, "Store: readonly")
    if notify is not None and not callable(notify):
        raise TypeError(f"Store: notify is None or a callable, not {type(notify).__name__}")
    if not isinstance(loading, Sequence) or isinstance(loading, str) or not all(  # (a path alone: its characters)
            isinstance(i, str) or isinstance(i, os.PathLike) and isinstance(os.fspath(i), str) for i in loading):
        raise TypeError("Store: loading is a list of paths (str or os.PathLike)")
    return path


def flag(value: object, name: str) -> None:
    """``value`` is True or False (a text "no" is true), or a TypeError names it ``name``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} is True or False, not {type(value).__name__}")


def of_kind(value: object, kind: type, where: str) -> None:
    """``value`` is a ``kind`` (a Store, a Report), or a TypeError names ``where`` it went."""
    if not isinstance(value, kind):
        raise TypeError(f"{where} takes a ccaudit.{kind.__name__}, not {type(value).__name__}")
    if getattr(value, "closed", False):  # was SQLite's "Cannot operate on a closed database"
        raise ValueError(f"{where}: the {kind.__name__} is closed")

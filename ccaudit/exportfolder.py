"""What an export's table folder holds: ``day=YYYY-MM-DD/part-N.parquet`` alone. An export
replaces a table's folder whole, and ``clean --out`` removes it whole, so one that holds
anything else (a user's notes, a report's files) is refused rather than emptied.
"""
from __future__ import annotations

import re
import stat

from .errors import CcauditError
from .folders import Folder
from .text import plural


def refuse_strays(folder: Folder, tables: list[str], done: str) -> None:
    """Refuse to replace or remove ``tables`` (each goes whole) if one holds what an export
    does not write, ``day=YYYY-MM-DD/part-N.parquet`` alone: a user's notes went with it."""
    for table in tables:
        try:
            strays = _strays(folder, table)
        except OSError as e:
            raise CcauditError(f"{folder.join(table)}: cannot read: {e.strerror}; {done}") from None
        if strays:
            more = f" (and {plural(len(strays) - 1, 'other')})" if len(strays) > 1 else ""
            raise CcauditError(f"{folder.join(table)}/{strays[0]}{more}: not written by ccaudit export, so {table} "
                               f"is neither replaced nor deleted; move it out; {done}")


def _strays(folder: Folder, table: str) -> list[str]:
    """The entries of ``table``'s folder that an export does not write, if it is a folder
    (a link is replaced as it is, never followed)."""
    if not stat.S_ISDIR(folder.mode(table) or 0):
        return []
    strays = []
    with folder.child(table) as days, days.listing() as entries:
        for day in entries:
            if not (day.is_dir(follow_symlinks=False) and _DAY.fullmatch(day.name)):
                strays.append(day.name)
                continue
            with days.child(day.name) as parts, parts.listing() as files:
                strays += [f"{day.name}/{f.name}" for f in files
                           if not (f.is_file(follow_symlinks=False) and _PART.fullmatch(f.name))]
    return sorted(strays)


_DAY, _PART = re.compile(r"day=[0-9]{4}-[0-9]{2}-[0-9]{2}"), re.compile(r"part-[0-9]+\.parquet")

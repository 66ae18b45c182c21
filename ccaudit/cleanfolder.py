"""``clean --out``: delete what a report wrote into a folder (the files its manifest lists)
or an export's tables (those its marker lists), and the folder if that leaves it empty.
Everything is checked before anything is deleted, and links are never followed: a planted
manifest or marker cannot take a project tree with it."""
from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator

from . import export
from .errors import CcauditError
from .files import present, same_file
from .folders import Folder, held, remove_dead_parts, unslashed, writing_into
from .output import MANIFEST, list_in, read_manifest, remove_listed
from .text import plural


def clean_dir(out_dir: str) -> Iterator[str]:
    """Delete the files a report folder's manifest lists (or the tables an export folder's
    marker lists), then the folder if it is empty. Everything is checked before anything is
    deleted; links are never followed."""
    out_dir = unslashed(out_dir)
    if not present(out_dir):
        yield f"no report folder at {out_dir}"
        return
    check_report_dir(out_dir)
    with writing_into(out_dir) as folder:
        if folder.has_file(MANIFEST):
            yield from _clean_dir(folder, _remove_report, "report files")
        elif folder.has_file(export.MARKER):
            yield from _clean_dir(folder, _remove_export, "exported tables")
        else:  # a clean before left it (it could not remove it)
            yield f"no report files in {out_dir} (an empty folder, kept)"


def _remove_report(folder: Folder) -> None:
    listed = read_manifest(folder)
    for sid in ["", *sorted({name.rpartition("/")[0] for name in listed} - {""})]:  # what a killed report left
        with contextlib.suppress(CcauditError), (folder.child(sid) if sid else contextlib.nullcontext(folder)) as f:
            remove_dead_parts(f)
    left, why = remove_listed(folder, listed)
    if left:  # the manifest lists what is left (or, unwritable, all it did): clean again finishes
        with contextlib.suppress(CcauditError):
            list_in(folder, left)
        raise CcauditError(f"{folder.path}: {plural(len(left), 'report file')} could not be deleted ({why}); "
                           "its manifest lists them")
    _, why = remove_listed(folder, [MANIFEST])
    if why:
        raise CcauditError(f"{folder.path}: the report files are deleted, but not its manifest ({why})")


def _remove_export(folder: Folder) -> None:
    """An export's tables are its to replace whole (``export.py``): so they are removed whole."""
    tables = export.prepare(folder, "nothing deleted")  # and what a killed export left
    for table in tables:
        folder.remove_tree(table)
    if left := [t for t in tables if folder.mode(t) is not None]:
        raise CcauditError(f"{folder.path}: {plural(len(left), 'exported table')} could not be deleted "
                           f"({', '.join(left)}); {export.MARKER} lists them")
    _, why = remove_listed(folder, [export.MARKER])
    if why:
        raise CcauditError(f"{folder.path}: the exported tables are deleted, but not {export.MARKER} ({why})")


def _clean_dir(folder: Folder, remove: Callable[[Folder], None], what: str) -> Iterator[str]:
    out_dir = folder.path
    remove(folder)
    if os.path.basename(out_dir) in (".", "..") or same_file(out_dir, "."):  # never remove the folder one is in
        yield f"deleted the {what} in {out_dir} (the folder itself is kept)"
    elif _empty(folder):
        try:
            os.rmdir(out_dir)
        except OSError as e:  # its parent read-only to us, a mount point: the clean is done all the same
            yield f"deleted the {what} in {out_dir} (the folder itself is kept: {e.strerror})"
            return
        yield f"deleted {out_dir}"
    else:
        yield f"deleted the {what} in {out_dir} (other files were left there)"


def _empty(folder: Folder) -> bool:
    with folder.listing() as entries:
        return next(entries, None) is None


def check_report_dir(out_dir: str) -> bool:
    """Refuse a folder that is neither a report folder nor an export that ccaudit wrote (no
    manifest, no marker), or a link; whether it holds anything to delete (an empty one, which a
    clean that could not remove it left, is kept, and not asked about)."""
    out_dir = unslashed(out_dir)
    if os.path.islink(out_dir) or not os.path.isdir(out_dir):
        raise CcauditError(f"{out_dir}: not a report folder (a link or not a folder); nothing deleted")
    with held(out_dir) as folder:
        if folder.has_file(MANIFEST):
            read_manifest(folder)
        elif folder.has_file(export.MARKER):
            for table in export.read_marker(folder, "nothing deleted"):  # each a folder, or gone: else clean
                if (mode := folder.mode(table)) is not None and not stat.S_ISDIR(mode):  # stopped half way
                    raise CcauditError(f"{folder.join(table)}: not a folder an export wrote (a link or a file); "
                                       "nothing deleted")
        elif not _empty(folder):  # (a manifest or marker that is a link was called missing)
            odd = next((name for name in (MANIFEST, export.MARKER) if folder.mode(name) is not None), None)
            why = f"its {odd} is a link or not a file" if odd else f"no {MANIFEST}, nor an export's {export.MARKER}"
            raise CcauditError(f"{out_dir}: not a report folder written by ccaudit ({why}); nothing deleted")
        else:
            return False
    return True

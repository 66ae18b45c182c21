"""Where a report goes: stdout, one file, or a folder of per-day/per-section files.

A report folder is always one consistent report: each run lists what it wrote in the
folder's manifest (``.ccaudit-manifest``) and removes what the previous run listed and
this one did not write (a day outside a narrower window, say); one that fails part way
(a full disk) leaves no summary, and says so. ``clean`` deletes only files a manifest
lists, so it can never take a project tree with it.
"""
from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import stat
import sys
from collections.abc import Iterable, Iterator, Sequence

from . import export, halves, render
from .arguments import flag, of_kind
from .collector import FewerCollections
from .dates import Days
from .errors import CcauditError
from .files import takes_utf8, write_atomic, write_own, write_pieces
from .folders import Folder, held, inside, sqlite_at, unslashed, writing_into
from .jsontext import to_json
from .render import EXTENSIONS, day_chunks, day_head, report_layout, section_chunks, summary_chunks
from .report import Day, Report
from .schema import SECTIONS
from .text import md_said, plural, quoted

MANIFEST = ".ccaudit-manifest"
_MANIFEST_HEAD = "# files written by ccaudit report --out; ccaudit clean deletes these\n"


def write_report(report: Report, fmt: str, out_dir: str | None = None, out_file: str | None = None,
                 stats: bool = False) -> None:
    """Render ``report``: into ``out_dir`` (stdout gets the summary), ``out_file``, or stdout.
    A report makes and frees a few objects a row, and holds thousands of rows to size its
    columns: at Python's default the cycle collector took 5-8 % of a whole-store report."""
    with FewerCollections():
        _write_report(report, fmt, out_dir, out_file, stats)


def _write_report(report: Report, fmt: str, out_dir: str | None, out_file: str | None, stats: bool) -> None:
    if out_dir:
        write_dir(report, fmt, out_dir, stats)
        write_pieces(sys.stdout, summary_chunks(report, "text" if fmt == "html" else fmt))
    elif out_file:
        write_atomic(out_file, render_whole(report, fmt, stats, raw=True))
    else:
        write_pieces(sys.stdout, render_whole(report, fmt, stats, raw=takes_utf8(sys.stdout)))


def render_whole(report: Report, fmt: str, stats: bool, raw: bool = False) -> Iterable[str | bytes]:
    """The whole report, in pieces (a day at a time; a large report's later days written
    meanwhile by a second process, see halves.py, and given as its UTF-8 bytes if ``raw``)."""
    if fmt == "html":
        from .html import html_layout

        return halves.chunks(report, html_layout(report, stats), raw)
    return halves.chunks(report, report_layout(report, fmt, stats), raw)


def render_report(report: Report, fmt: str, stats: bool = False) -> str:
    """The whole report in ``fmt`` (text, markdown, csv, json or html) as one string, made
    in this process: a program's way (the commands write theirs in pieces, write_report)."""
    of_kind(report, Report, "render_report")
    if fmt not in EXTENSIONS:
        raise ValueError(f"no report format {fmt!r}; the formats are {', '.join(EXTENSIONS)}")
    flag(stats, "render_report: stats")
    if fmt == "html":
        from .html import render_html

        return render_html(report, stats)
    return render.render_report(report, fmt, stats)


def write_dir(report: Report, fmt: str, out_dir: str, stats: bool = False) -> None:
    """DIR/<section>/<date>.<ext>, DIR/<date>.<ext> and DIR/summary.<ext>, then the
    manifest; files of the previous report that this one does not have are removed.

    For html the day and section pages would repeat the single-page report, so the
    folder gets DIR/report.html plus the summary.
    """
    with writing_into(unslashed(out_dir)) as folder:
        _write_dir(report, fmt, folder, stats)


def _write_dir(report: Report, fmt: str, folder: Folder, stats: bool) -> None:
    """Written in the folder held (and its section folders, each held once made): a folder
    of the report's name swapped for a link meanwhile leads nowhere (folders.py)."""
    old = read_manifest(folder, writing=True)
    days = report.days[:1] if isinstance(report.days, Days) else report.days  # build()'s: the same sections
    sids = list(dict.fromkeys(sid for day in days for sid in day.sections))
    summary = _summary_of(fmt)
    written = (_Written(report.days, fmt, sids, summary) if isinstance(report.days, Days)
               else _listed(report.days, fmt, summary))
    for sid in sids if fmt != "html" else ():  # a link or a file in a section folder's place: refused before
        folder.check_child(sid)  # anything is claimed or written
    stray = _unlisted(folder, sids, written, old)
    if stray:
        raise _stray(folder, stray)
    list_in(folder, itertools.chain(written, (n for n in old if n not in written)))  # claimed before they are
    # made: a report stopped half way (Ctrl-C) leaves a folder that the next report, or clean, empties
    left, why = remove_listed(folder, [name for name in old if name.startswith("summary.")])  # see _incomplete
    if left:
        raise CcauditError(f"{why}: the earlier report's summary could not be removed, so nothing of this one "
                           "was written")
    try:
        if fmt == "html":
            write_own(folder, "report.html", render_whole(report, fmt, stats, raw=True))
        else:
            with contextlib.ExitStack() as made:  # here, not by two processes at once
                sections = {sid: made.enter_context(folder.child(sid, make=True)) for sid in sids}
                head = _head(fmt, report)  # (once: a store of 200,000 dates has a million files)
                halves.each(report, report.days, lambda day: _write_day(day, fmt, stats, folder, sections, head))
        write_own(folder, summary, summary_chunks(report, "text" if fmt == "html" else fmt))
    except CcauditError as e:
        raise _incomplete(e, folder.path, bool(old)) from None
    left, why = remove_listed(folder, sorted(name for name in set(old) if name not in written))
    list_in(folder, itertools.chain(written, left))  # after: a stop while they were removed left them listed
    if left:  # listed still, so that the next report or clean removes them
        raise CcauditError(f"{folder.path}: the report is written, but {plural(len(left), 'file')} of the earlier "
                           f"one could not be removed ({why}); its manifest still lists them")


def check_report_folder(out_dir: str, fmt: str) -> None:
    """Before a load: a folder whose manifest ccaudit could not have written, or that holds
    a file it did not list under the name of the summary (or html's page), which every
    report writes, is refused now rather than once the dumps are loaded. (A day's file
    that no manifest lists is found as the report is written: which days it has, only the
    load tells.)"""
    if not os.path.isdir(out_dir) or not os.access(out_dir, os.R_OK | os.X_OK):  # to be made, or unreadable:
        return  # (a link or a file was refused before) said as the report is written
    with held(unslashed(out_dir)) as folder:
        old = read_manifest(folder, writing=True)
        for name in (_summary_of(fmt), "report.html") if fmt == "html" else (_summary_of(fmt),):
            if (name not in old or sqlite_at(folder.fd, name)) and folder.mode(name) is not None:
                raise _stray(folder, name)


def _summary_of(fmt: str) -> str:  # (html's folder has a text summary)
    return f"summary.{EXTENSIONS['text' if fmt == 'html' else fmt]}"


def _stray(folder: Folder, name: str) -> CcauditError:
    what = ("an SQLite file (a store?) under a report file's name" if sqlite_at(folder.fd, name) else
            "a file of the report's name that no earlier report wrote (its manifest does not list it)")
    return CcauditError(f"{folder.join(name)}: {what}; move it, or give another folder")


def _incomplete(e: CcauditError, out_dir: str, rewritten: bool) -> CcauditError:
    """A folder whose writing failed (a full disk) holds part of the report, beside the
    files of the one it rewrote, each whole: it says so, and has no summary, which is
    written last and was removed first, so that no earlier summary passes for this one."""
    earlier = ", and files of the earlier one," if rewritten else ""
    return CcauditError(f"{e}; {out_dir} holds part of the report{earlier} and no summary: write it again")


def _unlisted(folder: Folder, sids: list[str], written: Iterable[str], old: list[str]) -> str | None:
    """A file in the folder that the report would write over and that no earlier report's
    manifest lists: someone's own, which "other files are left alone" promises to keep.
    Read from the folder, not from the report's names (a report can have a million)."""
    listed = set(old)
    for sid in ["", *sids]:
        with contextlib.ExitStack() as opened:
            try:
                here = opened.enter_context(folder.child(sid)) if sid else folder
                entries = opened.enter_context(here.listing())
            except (OSError, CcauditError):  # a section folder not made yet
                continue
            for entry in entries:
                name = f"{sid}/{entry.name}" if sid else entry.name
                if name in written and (name not in listed or sqlite_at(here.fd, entry.name)):
                    return name
    return None


class _Written:
    """The files a report folder of days made when asked for gets, in the order they are
    written, listed and looked up without a list of them: a store of 200,000 dates makes
    a million files."""

    def __init__(self, days: Days, fmt: str, sids: list[str], summary: str):
        self.days, self.ext, self.sids, self.summary = days, EXTENSIONS[fmt], sids, summary

    def __iter__(self) -> Iterator[str]:
        if self.ext != "html":
            for d, _ in self.days.dated_events():
                yield from (os.path.join(sid, f"{d}.{self.ext}") for sid in self.sids)
                yield f"{d}.{self.ext}"
        else:
            yield "report.html"
        yield self.summary

    def __contains__(self, name: str) -> bool:
        folder, _, file = name.rpartition("/")
        d, _, ext = file.partition(".")
        if self.ext == "html":
            return name in ("report.html", self.summary)
        return name == self.summary or (ext == self.ext and (folder == "" or folder in self.sids)
                                        and self.days.position(d) is not None)


def _listed(days: Sequence[Day], fmt: str, summary: str) -> dict[str, None]:
    """The files a report folder of days in a list gets, in order (a dict, to look them up)."""
    names = [] if fmt == "html" else [name for day in days for name in _day_names(day, fmt)]
    return dict.fromkeys(["report.html"] * (fmt == "html") + names + [summary])


def _day_names(day: Day, fmt: str) -> list[str]:
    """A day's files in a report folder: each section's, then the day's."""
    ext = EXTENSIONS[fmt]
    return [os.path.join(sid, f"{day.date}.{ext}") for sid in day.sections] + [f"{day.date}.{ext}"]


def _write_day(day: Day, fmt: str, stats: bool, folder: Folder, sections: dict[str, Folder], head: str) -> None:
    name = f"{day.date}.{EXTENSIONS[fmt]}"
    for sid, section in day.sections.items():
        write_own(sections[sid], name, _marked(section_chunks(day, section, fmt, stats), fmt, head))
    written = [sections[sid] for sid in day.sections]
    write_own(folder, name, _marked(_day_text(day, fmt, stats, written, name, len(head)), fmt, head))


def _day_text(day: Day, fmt: str, stats: bool, written: list[Folder], name: str, said: int) -> Iterator[str]:
    """A day's file. In text and markdown it is the files of its sections, just written, joined
    (but their first ``said`` characters, the head it has once): rendering every row a second
    time would double the cost of a report folder."""
    if fmt not in ("text", "markdown") or not all(section.has_file(name) for section in written):
        yield from day_chunks(day, fmt, stats)
        return
    yield day_head(day, fmt)
    for section in written:
        with section.open(name) as f:
            f.read(said)
            yield from iter(lambda: f.read(2**20), "")


def _head(fmt: str, report: Report) -> str:
    """What a report folder's day and section files say first, as the summary says it under
    its title (``Report.told``: its filters, a load that did not end): read on its own, such
    a file would pass for a whole day. In text and markdown, lines ('' for none); in JSON, the keys
    ``selected`` and ``unfinished_loads``, always, as in the summary (a script reads them without a
    KeyError); in CSV, which has no place, ''."""
    if fmt == "json":
        told = {"selected": list(report.selected), "unfinished_loads": report.unfinished}
        return "".join(f'\n  "{key}": {to_json(value, 1)},' for key, value in told.items())
    lines = report.told() if fmt in ("text", "markdown") else []
    if not lines:
        return ""
    return "".join(f"> {md_said(t)}\n\n" if fmt == "markdown" else f"{t}\n" for t in lines) + "\n" * (fmt == "text")


def _marked(pieces: Iterable[str], fmt: str, head: str) -> Iterator[str]:
    """A report folder's file with ``head`` first: in JSON, as the object's first keys
    (json_pieces opens an object with its first piece)."""
    pieces = iter(pieces)
    if fmt == "json" and head:
        yield next(pieces).replace("{", "{" + head, 1)
    elif head:
        yield head
    yield from pieces


def read_manifest(folder: Folder, writing: bool = False) -> list[str]:
    """The files a previous report listed in ``folder`` ([] if none). A manifest can be
    planted too: it may list only names of the shapes ccaudit writes, nothing that could
    lead out of the folder. A link named so (to anything) is none: it made a folder pass
    for a report's. ``writing`` a report, an export's folder is refused (its sections' folders, its tables')."""
    path, listed = folder.join(MANIFEST), folder.has_file(MANIFEST)
    if writing and folder.has_file(export.MARKER):
        raise CcauditError(f"{folder.path}: an export's folder ({export.MARKER}); give the report another folder")
    if not listed:
        return []
    names = folder.own_lines(MANIFEST, "not touched")
    for name in names:
        if not _REPORT_FILE.fullmatch(name):
            raise CcauditError(f"{path}: lists {quoted(name, 60)}, which is not a report file; not touched")
    return names


_REPORT_FILE = re.compile(r"(?:(?:%s)/)?(?:\d{4}-\d{2}-\d{2}|summary)\.(?:txt|md|csv|json)|report\.html"
                          % "|".join(SECTIONS))


def a_report_file(out_dir: str, paths: Iterable[str]) -> str | None:
    """The first of ``paths`` (inputs, the store) that a report into ``out_dir`` could
    replace or remove: a name of a report file's shape in that folder, through any link."""
    folder = os.path.realpath(out_dir)
    for path in paths:
        rel = os.path.relpath(os.path.realpath(path), folder)
        if rel == MANIFEST or _REPORT_FILE.fullmatch(rel.replace(os.sep, "/")):
            return path
    return None


def remove_listed(folder: Folder, names: Iterable[str]) -> tuple[list[str], str]:
    """Remove listed report files (never a link's target) and section folders left empty.
    What could not be removed (a folder made read-only) is not an internal error: the names
    left, and why the first of them was. Each folder is opened once, never through a link,
    and its files removed by name in it: by path, a section folder swapped for a link
    between a check and a removal (by another user who may write the folder) led elsewhere."""
    left, why = [], ""
    with contextlib.ExitStack() as opened:
        folders: dict[str, int | OSError | None] = {"": folder.fd}
        for name in names:
            sid, _, base = name.rpartition("/")
            if sid not in folders:
                try:
                    folders[sid] = opened.enter_context(inside(folder.fd, sid))
                except (FileNotFoundError, NotADirectoryError):  # gone, or something else now
                    folders[sid] = None
                except OSError as e:  # ELOOP: a link, whose target is not ours; else it cannot be read
                    folders[sid] = None if e.errno == errno.ELOOP else e
            if (fd := folders[sid]) is None:
                continue
            try:
                if isinstance(fd, OSError):
                    raise fd
                mode = os.stat(base, dir_fd=fd, follow_symlinks=False).st_mode
                if stat.S_ISREG(mode) and sqlite_at(fd, base):
                    raise OSError(errno.EEXIST, "an SQLite file (a store?), not deleted")
                if stat.S_ISREG(mode) or stat.S_ISLNK(mode):  # a link itself, never what it leads to
                    os.unlink(base, dir_fd=fd)
            except FileNotFoundError:
                pass
            except OSError as e:
                left.append(name)
                why = why or f"{folder.join(name)}: {e.strerror}"
        for sid, fd in folders.items():
            if sid and isinstance(fd, int):
                try:
                    os.rmdir(sid, dir_fd=folder.fd)  # if it was left empty
                except OSError as e:
                    if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                        why = why or f"{folder.join(sid)}: {e.strerror}"
    return left, why


def list_in(folder: Folder, names: Iterable[str]) -> None:
    """Write the folder's manifest: ``names``, its report files."""
    write_own(folder, MANIFEST, itertools.chain([_MANIFEST_HEAD], (f"{n}\n" for n in names)))

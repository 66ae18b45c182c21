"""Where a report goes: stdout, one file, or a directory of per-day/per-section files."""
from __future__ import annotations

import glob
import os
import shutil
import sys
from typing import Iterator

from .errors import CcauditError
from .render import EXTENSIONS, render_day, render_report, render_section, render_summary
from .report import Report
from .store import delete_store


def write_report(report: Report, fmt: str, out_dir: str | None = None, out_file: str | None = None,
                 stats: bool = False) -> None:
    """Render ``report``: into ``out_dir`` (stdout gets the summary), ``out_file``, or stdout."""
    if out_dir:
        write_dir(report, fmt, out_dir, stats)
        sys.stdout.write(render_summary(report, "text" if fmt == "html" else fmt))
        return
    text = _whole(report, fmt, stats)
    if out_file:
        _write(out_file, text)
    else:
        sys.stdout.write(text)


def _whole(report: Report, fmt: str, stats: bool) -> str:
    if fmt == "html":
        from .html import render_html

        return render_html(report, stats=stats)
    return render_report(report, fmt, stats)


def write_dir(report: Report, fmt: str, out_dir: str, stats: bool = False) -> None:
    """DIR/<section>/<date>.<ext>, DIR/<date>.<ext> and DIR/summary.<ext>.

    For html the day and section pages would repeat the single-page report, so the
    directory gets DIR/report.html plus the summary.
    """
    ext = EXTENSIONS[fmt]
    if fmt == "html":
        _write(os.path.join(out_dir, "report.html"), _whole(report, fmt, stats))
        _write(os.path.join(out_dir, "summary.txt"), render_summary(report, "text"))
        return
    for day in report.days:
        for section in day.sections.values():
            _write(os.path.join(out_dir, section.id, f"{day.date}.{ext}"),
                   render_section(day, section, fmt, stats))
        _write(os.path.join(out_dir, f"{day.date}.{ext}"), render_day(day, fmt, stats))
    _write(os.path.join(out_dir, f"summary.{ext}"), render_summary(report, fmt))


def _write(path: str, text: str) -> None:
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise CcauditError(f"{path}: cannot write: {e.strerror}") from None


def clean(db_path: str, out_dir: str | None) -> Iterator[str]:
    """Delete a store (refusing files that are not ccaudit stores) and a report directory."""
    yield f"deleted {db_path}" if delete_store(db_path) else f"no store at {db_path}"
    if out_dir:
        if not os.path.isdir(out_dir):
            yield f"no report directory at {out_dir}"
        elif not glob.glob(os.path.join(out_dir, "summary.*")):
            raise CcauditError(f"{out_dir}: not a ccaudit report directory (no summary file); not deleted")
        else:
            shutil.rmtree(out_dir)
            yield f"deleted {out_dir}"

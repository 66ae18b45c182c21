"""Compare two reports key by key: what grew, what shrank, what is new, what vanished.

Counts are summed over every day of each report, so two weeks of different length or
dates compare directly (and the time zone does not matter). Rows are sorted by the size of
the change, largest first, then by section (in report order) and key.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from tabulate import tabulate

from .render import csv_text, dumps
from .report import Report, cells
from .schema import SECTIONS
from .text import md_text, plural, printable

STATUSES = ("new", "vanished", "changed", "same")
FIELDS = ("section", "key", "count_a", "count_b", "change", "status")
HEAD = ("Section", "Key", "A", "B", "Change", "Status")
ALIGN = ("left", "left", "right", "right", "right", "left")


@dataclass
class DiffRow:
    section: str
    key: str
    count_a: int
    count_b: int
    change: int
    status: str  # new | vanished | changed | same


def totals(report: Report) -> dict[tuple[str, str], int]:
    """(section, key) -> events over all days: summing the days is what lets periods of
    different length and dates compare."""
    out: dict[tuple[str, str], int] = {}
    for day in report.days:
        for sid, section in day.sections.items():
            for key, hours in cells(section.rows):
                out[sid, key] = out.get((sid, key), 0) + sum(hours)
    return out


def diff_reports(a: Report, b: Report, top: int | None = None, same: bool = True) -> list[DiffRow]:
    """Every (section, key) of either report with its counts in A and B, largest change first
    since that is what one looks for.

    ``top`` keeps the N largest changes of each section; ``same=False`` drops unchanged keys.
    """
    ta, tb = totals(a), totals(b)
    order = {sid: i for i, sid in enumerate(SECTIONS)}
    rows = []
    for sid, key in set(ta) | set(tb):
        na, nb = ta.get((sid, key), 0), tb.get((sid, key), 0)
        status = "new" if not na else "vanished" if not nb else "changed" if na != nb else "same"
        rows.append(DiffRow(sid, key, na, nb, nb - na, status))
    rows.sort(key=lambda r: (-abs(r.change), order.get(r.section, len(order)), r.section, r.key))
    return shown(rows, top, same)


def shown(rows: list[DiffRow], top: int | None = None, same: bool = True) -> list[DiffRow]:
    """What ``diff_reports`` with ``top`` and ``same`` keeps of its rows with neither: two
    large reports are read once for both."""
    rows = rows if same else [r for r in rows if r.status != "same"]
    return rows if top is None else _top(rows, top)


def _top(rows: list[DiffRow], top: int) -> list[DiffRow]:
    """The first ``top`` rows of each section, so that one busy section does not crowd out the rest."""
    seen: dict[str, int] = {}
    kept = []
    for r in rows:
        seen[r.section] = seen.get(r.section, 0) + 1
        if seen[r.section] <= top:
            kept.append(r)
    return kept


def counts_by_status(rows: list[DiffRow]) -> dict[str, int]:
    """How many keys are new, vanished, changed and the same: the gist before the rows."""
    return {s: sum(r.status == s for r in rows) for s in STATUSES}


# -- rendering ------------------------------------------------------------------------

def render(rows: list[DiffRow], a: Report, b: Report, fmt: str, labels: tuple[str, str] = ("A", "B"),
           every: list[DiffRow] | None = None) -> str:
    """``rows`` as text, markdown, csv or json; ``every`` (all rows, before --top or dropping
    unchanged keys) gives the counts by status, when it differs from ``rows``."""
    every = rows if every is None else every
    sa, sb = _side(a, labels[0]), _side(b, labels[1])
    counts = counts_by_status(every)
    if fmt == "json":
        return dumps({"a": sa, "b": sb, "counts": counts, "shown": len(rows), "rows": [asdict(r) for r in rows]})
    if fmt == "csv":
        return csv_text(FIELDS, ([r.section, r.key, r.count_a, r.count_b, r.change, r.status] for r in rows))
    tally = (f"{counts['changed']} changed, {counts['new']} new, {counts['vanished']} vanished, "
             f"{counts['same']} unchanged")
    if len(rows) != len(every):
        tally += f"; {len(rows)} shown"
        if counts["same"] and not any(r.status == "same" for r in rows):
            tally += " (--all adds unchanged keys)"
    if fmt == "markdown":
        return _markdown(rows, sa, sb, tally)
    return _text(rows, sa, sb, tally)


def _side(report: Report, label: str) -> dict:
    """What one side covered, so a reader can tell two periods apart (or see one is empty)."""
    first, last = report.span
    return {"label": label, "events": report.events, "first_day": first, "last_day": last}


def _heading(side: dict) -> str:
    """'A = x.json: 13 events, 2024-05-06..2024-05-09'; the label holds file names, so printable."""
    label = printable(side["label"])
    if not side["events"]:
        return f"{label}: no events"
    first, last = side["first_day"], side["last_day"]
    return f"{label}: {plural(side['events'], 'event')}, {first if first == last else f'{first}..{last}'}"


def _table(rows: list[DiffRow], tablefmt: str, escape: Callable[[str], str]) -> str:
    """The rows as one aligned table; keys go through ``escape`` because the records choose them."""
    signed = [f"+{r.change}" if r.change > 0 else str(r.change) for r in rows]
    cells = [(r.section, escape(r.key), r.count_a, r.count_b, s, r.status) for r, s in zip(rows, signed)]
    return tabulate(cells, HEAD, tablefmt=tablefmt, colalign=ALIGN, disable_numparse=True)


def _text(rows: list[DiffRow], sa: dict, sb: dict, tally: str) -> str:
    """The two sides and the tally first: they say whether the rows are worth reading."""
    lines = [_heading(sa), _heading(sb), tally]
    if rows:
        lines += ["", _table(rows, "simple", printable)]
    return "\n".join(lines) + "\n"


def _markdown(rows: list[DiffRow], sa: dict, sb: dict, tally: str) -> str:
    """The text layout as a markdown page, for pasting into a ticket or a review."""
    out = ["# ccaudit diff", "", f"- {md_text(_heading(sa))}", f"- {md_text(_heading(sb))}", "", tally, ""]
    if rows:
        out += [_table(rows, "pipe", md_text), ""]
    return "\n".join(out) + "\n"

"""Compare two reports key by key: what grew, what shrank, what is new, what vanished.

Counts are summed over every day of each report, so two weeks of different length or
dates compare directly (and the time zone does not matter). Rows are sorted by the size of
the change, largest first, then by section (in report order) and key.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from tabulate import tabulate

from .schema import SECTIONS
from .render import csv_text, dumps
from .text import md_text as _md, printable
from .report import Report

STATUSES = ("new", "vanished", "changed", "same")


@dataclass
class DiffRow:
    section: str
    key: str
    count_a: int
    count_b: int
    change: int
    status: str  # new | vanished | changed | same


def totals(report: Report) -> dict[tuple[str, str], int]:
    """(section, key) -> events over all days of ``report``."""
    out: dict[tuple[str, str], int] = {}
    for day in report.days:
        for sid, section in day.sections.items():
            for row in section.rows:
                out[sid, row.key] = out.get((sid, row.key), 0) + row.total
    return out


def diff_reports(a: Report, b: Report, top: int | None = None, same: bool = True) -> list[DiffRow]:
    """Every (section, key) of either report with its counts in A and B.

    ``top`` keeps the N largest changes of each section; ``same=False`` drops unchanged keys.
    """
    ta, tb = totals(a), totals(b)
    order = {sid: i for i, sid in enumerate(SECTIONS)}
    rows = []
    for sid, key in set(ta) | set(tb):
        na, nb = ta.get((sid, key), 0), tb.get((sid, key), 0)
        status = "new" if not na else "vanished" if not nb else "changed" if na != nb else "same"
        if status == "same" and not same:
            continue
        rows.append(DiffRow(sid, key, na, nb, nb - na, status))
    rows.sort(key=lambda r: (-abs(r.change), order.get(r.section, len(order)), r.section, r.key))
    if top is not None:
        seen: dict[str, int] = {}
        kept = []
        for r in rows:
            seen[r.section] = seen.get(r.section, 0) + 1
            if seen[r.section] <= top:
                kept.append(r)
        rows = kept
    return rows


def counts_by_status(rows: list[DiffRow]) -> dict[str, int]:
    return {s: sum(r.status == s for r in rows) for s in STATUSES}


# -- rendering ------------------------------------------------------------------------

FIELDS = ("section", "key", "count_a", "count_b", "change", "status")


def _side(report: Report, label: str) -> dict:
    return {"label": label, "events": report.events,
            "first_day": report.days[0].date if report.days else None,
            "last_day": report.days[-1].date if report.days else None}


def _span(side: dict) -> str:
    label = printable(side["label"])
    if not side["events"]:
        return f"{label}: no events"
    days = side["first_day"] if side["first_day"] == side["last_day"] else f"{side['first_day']}..{side['last_day']}"
    return f"{label}: {side['events']} events, {days}"


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else str(n)


def render(rows: list[DiffRow], a: Report, b: Report, fmt: str, labels: tuple[str, str] = ("A", "B"),
           every: list[DiffRow] | None = None) -> str:
    """``rows`` as text, markdown, csv or json; ``every`` (all rows, before --top or dropping
    unchanged keys) gives the counts by status, when it differs from ``rows``."""
    every = rows if every is None else every
    sa, sb = _side(a, labels[0]), _side(b, labels[1])
    counts = counts_by_status(every)
    if fmt == "json":
        doc = {"a": sa, "b": sb, "counts": counts, "shown": len(rows), "rows": [asdict(r) for r in rows]}
        return dumps(doc)
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


def _text(rows: list[DiffRow], sa: dict, sb: dict, tally: str) -> str:
    lines = [_span(sa), _span(sb), tally]
    if rows:
        head = ("Section", "Key", "A", "B", "Change", "Status")
        table = [(r.section, printable(r.key), str(r.count_a), str(r.count_b), _signed(r.change), r.status)
                 for r in rows]
        widths = [max(len(head[i]), *(len(t[i]) for t in table)) for i in range(len(head))]
        right = {2, 3, 4}

        def line(cells) -> str:
            return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        lines += ["", line(head), line("-" * w for w in widths), *map(line, table)]
    return "\n".join(lines) + "\n"


def _markdown(rows: list[DiffRow], sa: dict, sb: dict, tally: str) -> str:
    out = ["# ccaudit diff", "", f"- {_md(_span(sa))}", f"- {_md(_span(sb))}", "", tally, ""]
    if rows:
        table = [[r.section, _md(r.key), r.count_a, r.count_b, _signed(r.change), r.status] for r in rows]
        out.append(tabulate(table, ["Section", "Key", "A", "B", "Change", "Status"], tablefmt="pipe",
                            colalign=("left", "left", "right", "right", "right", "left"), disable_numparse=True))
        out.append("")
    return "\n".join(out) + "\n"

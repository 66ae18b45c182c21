"""Compare two reports key by key: what grew, what shrank, what is new, what vanished.

Counts are summed over every day of each report, so two weeks of different length or
dates compare directly (and the time zone does not matter). Rows are sorted by the size of
the change, largest first, then by section (in report order) and key.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

from . import loadnotes, streamed
from .arguments import of_kind
from .csvtext import csv_chunks
from .errors import spilling
from .report import Report
from .schema import SECTIONS
from .text import md_text, plural, printable, table_cell

STATUSES = ("new", "vanished", "changed", "same")
FIELDS = ("section", "key", "count_a", "count_b", "change", "status")
HEAD = ("Section", "Key", "A", "B", "Change", "Status")
RIGHT = (False, False, True, True, True, False)  # the columns aligned right


@dataclass
class DiffRow:
    section: str
    key: str
    count_a: int
    count_b: int
    change: int
    status: str  # new | vanished | changed | same


_STATUS = "CASE WHEN a = 0 THEN 'new' WHEN b = 0 THEN 'vanished' WHEN a != b THEN 'changed' ELSE 'same' END"
_ORDER = "abs(b - a) DESC, rank, section, key"  # largest change first, then report order


class Comparison:
    """The totals of both reports per (section, key), summed over all their days (what lets
    periods of different length and dates compare), in a scratch database: two stores of a
    million keys compare on disk, not in memory."""

    def __init__(self, a: Report, b: Report):
        self.conn = streamed.database()
        self.conn.execute("CREATE TABLE t (section TEXT, key BLOB, rank INTEGER, a INTEGER NOT NULL DEFAULT 0,"
                          " b INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (section, key)) WITHOUT ROWID")
        order = {sid: i for i, sid in enumerate(SECTIONS)}
        with spilling(), self.conn:
            for side, report in (("a", a), ("b", b)):
                sql = (f"INSERT INTO t (section, key, rank, {side}) VALUES (?, ?, ?, ?)"
                       f" ON CONFLICT (section, key) DO UPDATE SET {side} = {side} + excluded.{side}")
                for sid, found in report.totals():
                    rank = order.get(sid, len(order))
                    self.conn.executemany(sql, ((sid, streamed.text(key), rank, n) for key, n in found))

    def close(self) -> None:
        self.conn.close()

    def counts(self) -> dict[str, int]:
        """How many keys are new, vanished, changed and the same: the gist before the rows."""
        with spilling():
            found = dict(self.conn.execute(f"SELECT {_STATUS} AS s, count(*) FROM t GROUP BY s"))
        return {s: found.get(s, 0) for s in STATUSES}

    def rows(self, top: int | None = None, same: bool = True) -> Iterator[DiffRow]:
        """Largest change first. ``top`` keeps the N largest changes of each section (so
        that one busy section does not crowd out the rest); ``same=False`` drops unchanged keys."""
        with spilling():
            found = self.conn.execute(f"SELECT section, key, a, b, status FROM ({_kept(top, same)}) ORDER BY {_ORDER}")
        for section, key, na, nb, status in found:
            yield DiffRow(section, streamed.text_of(key), na, nb, nb - na, status)

    def shown(self, top: int | None = None, same: bool = True) -> int:
        """How many rows ``rows`` gives."""
        with spilling():
            return self.conn.execute(f"SELECT count(*) FROM ({_kept(top, same)})").fetchone()[0]


def _kept(top: int | None, same: bool) -> str:
    """SQL of the rows, with their status, that ``top`` and ``same`` keep."""
    rows = f"SELECT *, {_STATUS} AS status FROM t" + ("" if same else f" WHERE {_STATUS} != 'same'")
    if top is None:
        return rows
    return (f"SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY section ORDER BY abs(b - a) DESC, key)"
            f" AS nth FROM ({rows})) WHERE nth <= {int(top)}")


def diff_reports(a: Report, b: Report, top: int | None = None, same: bool = True) -> list[DiffRow]:
    """Every (section, key) of either report with its counts in A and B, largest change
    first since that is what one looks for (see ``Comparison``, which does not hold them)."""
    if top is not None and not 1 <= top < 2**63:  # as Filters.top: 0 or less was no row at all
        raise ValueError("diff_reports: top keeps from 1 to 2**63 - 1 rows")
    for report in (a, b):  # was AttributeError: 'NoneType' object has no attribute 'days'
        of_kind(report, Report, "diff_reports")
    with contextlib.closing(Comparison(a, b)) as comparison:
        return list(comparison.rows(top, same))


# -- rendering ------------------------------------------------------------------------

def render(comparison: Comparison, a: Report, b: Report, fmt: str, labels: tuple[str, str] = ("A", "B"),
           top: int | None = None, same: bool = True) -> Iterator[str]:
    """The rows that ``top`` and ``same`` keep, as text, markdown, csv or json, in pieces;
    the counts by status are of every key."""
    sa, sb = _side(a, labels[0]), _side(b, labels[1])
    counts, shown = comparison.counts(), comparison.shown(top, same)

    def rows() -> Iterator[DiffRow]:
        return comparison.rows(top, same)

    if fmt == "json":
        doc = {"a": sa, "b": sb, "counts": counts, "shown": shown, "rows": []}
        yield from streamed.json_chunks(doc, "rows", map(asdict, rows()))
        return
    if fmt == "csv":
        yield from csv_chunks(FIELDS, ([r.section, r.key, r.count_a, r.count_b, r.change, r.status] for r in rows()))
        return
    tally = (f"{counts['changed']:,} changed, {counts['new']:,} new, {counts['vanished']:,} vanished, "
             f"{counts['same']:,} same")  # grouped, as the sides' lines above it
    if shown != sum(counts.values()):
        tally += f"; {shown:,} shown"
        if counts["same"] and not same:
            tally += " (--all adds the same ones)"
    warned = [f"{printable(s['label'])}: {w}" for s in (sa, sb) if (w := loadnotes.warning(s["unfinished_loads"]))]
    if fmt == "markdown":
        yield f"# ccaudit diff\n\n- {md_text(_heading(sa))}\n- {md_text(_heading(sb))}\n\n{tally}\n\n"
        yield "".join(f"> {md_text(w)}\n\n" for w in warned)
        if shown:
            yield from _table(rows, md_text, markdown=True)
            yield "\n"
        return
    yield f"{_heading(sa)}\n{_heading(sb)}\n{tally}\n" + "".join(f"{w}\n" for w in warned)
    if shown:
        yield "\n"
        yield from _table(rows, table_cell, markdown=False)


def _side(report: Report, label: str) -> dict:
    """What one side covered, so a reader can tell two periods apart (or see one is empty)."""
    first, last = report.span
    return {"label": label, "events": report.events, "first_day": first, "last_day": last, "tz": report.tz,
            "unfinished_loads": report.unfinished}


def _heading(side: dict) -> str:
    """'A = x.json: 13 events, 2024-05-06..2024-05-09'; the label holds file names, so printable."""
    label = printable(side["label"])
    if not side["events"]:
        return f"{label}: no events"
    first, last = side["first_day"], side["last_day"]
    zone = "" if side["tz"] == "UTC" else f" ({side['tz']})"  # the days are its
    return f"{label}: {plural(side['events'], 'event')}, {first if first == last else f'{first}..{last}'}{zone}"


def _table(rows: Callable[[], Iterator[DiffRow]], escape: Callable[[str], str], markdown: bool) -> Iterator[str]:
    """The rows as one table; keys go through ``escape`` because the records choose them."""
    def cells() -> Iterator[tuple[str, ...]]:
        for r in rows():
            yield r.section, escape(r.key), str(r.count_a), str(r.count_b), f"{r.change:+}" if r.change else "0", \
                r.status

    return streamed.table_lines(HEAD, RIGHT, cells, markdown)

"""Render a Report as text (the layout of the predecessor bash + jq + sqlite3 scripts,
analyze_cc_audit_logs), markdown, csv or json.

Every renderer is a pure function of a report; ``report_chunks``, ``day_chunks``,
``section_chunks`` and ``summary_chunks`` write in pieces (a day can hold hundreds of
thousands of rows, read from the store as they are written; a store, 200,000 dates, each a
line of the summary), ``render_summary``, ``render_day`` and ``render_section`` return a
string; each picks the format by name (html too: ``output.render_report``).
"""
from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple, Protocol

from . import streamed
from . import text as texts
from .csvtext import csv_chunks, csv_head_line, safe_cell
from .jsontext import STAT_FIELDS, RowsToWrite, day_json, json_pieces
from .report import Coverage, Day, Gap, Report, Row, Section, busiest_cell, left_out, read_twice
from .text import Cached, columns, fill, hour_ranges, in_pieces, md_text, plural, repeats_hour, table_cell, to_second

ROW_LABEL = {
    "kafka_authentication": "Principal",
    "mds_authorize": "Principal-Operation",
    "signin_failure": "Email (status)",
    "signin_success": "Email",
    "all_events": "Method",
}
KEY_WIDTH = streamed.WIDEST  # the key column widens up to this many terminal columns
_HOURS = " ".join(f"{h:02d}" for h in range(24))  # a gap's empty hours in the summary's CSV


# -- summary --------------------------------------------------------------------------

def summary_text(report: Report) -> Iterator[str]:
    """The summary's title, then a line for each day or gap, in pieces (200,000 dates)."""
    yield _summary_title(report) + "\n" + "".join(f"{told}\n" for told in report.told())
    yield from in_pieces((day.line() if isinstance(day, Gap) else
                          f"{day.date}:({plural(day.events, 'event')}){_coverage(day)}") + "\n"
                         for day in report.timeline())


def _summary_title(report: Report) -> str:
    if not report.days:
        return "Audit Summary for 0 events"
    zone = "" if report.tz == "UTC" else f" ({report.tz})"
    return (f"Audit Summary for {plural(report.events, 'event')} spanning {plural(report.span_days, 'day')} "
            f"from {report.days[0].date}{zone}")


def _coverage(day: Day) -> str:
    if not day.events or day.first_event is None or day.last_event is None:
        return ""
    repeats = repeats_hour(day.hour_labels)
    first, last = to_second(day.first_event, repeats)[11:], to_second(day.last_event, repeats)[11:]
    text = f"  {first} .. {last}"
    if day.empty_hours:
        text += "  no events in hours " + hour_ranges(day.empty_hours, day.hour_labels)
    return text


# -- text -----------------------------------------------------------------------------

def section_text_lines(day: Day, section: Section, stats: bool = False) -> Iterator[str]:
    """One section of one day in the predecessor scripts' layout, line by line, widened to
    fit every key (they cut keys at 30 characters) up to KEY_WIDTH; a longer key is printed
    whole on a line of its own, its counts on the next, so one huge key cannot pad every row."""
    with read_twice(section.rows, times=stats) as rows:
        yield from in_pieces(_text_table(day, section, rows, stats))


def _text_table(day: Day, section: Section, rows: Iterable[Row], stats: bool) -> Iterator[str]:
    labels = day.hour_labels
    label = ROW_LABEL[section.id]
    width, busiest, most = max(30, len(label) + 3), 0, 0
    for r in rows:  # one pass to size the columns, one to write
        if width < (n := columns(table_cell(r.key))) <= KEY_WIDTH:
            width = n
        if stats:
            r.stats()  # worked out here: the peak count it finds is the largest count
            m = r.largest()
        else:
            m = max(r.hours)
        if m > busiest:
            busiest = m
        if r.total > most:
            most = r.total
    cell = max(5, len(str(busiest)) + 1, *[len(h) for h in labels[1:]])  # two spaces before a count, at least
    total_w = max(7, len(str(most)) + 1)
    repeats = repeats_hour(day.hour_labels)
    seen = 26 if repeats else 20  # with the offset: 2024-11-03T01:30:00-04:00
    peak_w = max(10, cell)
    extra = f"  {'First seen':<{seen}} {'Last seen':<{seen}} Peak hour  {'Peak count':>{peak_w}}" if stats else ""
    rule = "-" * (width + (cell + 1) * len(labels) + total_w + 1 + len(extra))
    head = (f"{day.date:<{width - 3}}Hour:"
            + "".join(f"{h:>{cell + 1}}" for h in labels)[2:]
            + f" {'Total':>{total_w}}" + extra)
    under = f"{label:_<{width - 3}}" + " " * 7 + "_" * (len(rule) - width - 4)
    yield f"{rule}\n{section.title.center(len(rule)).rstrip()}\n{head}\n{under}\n"
    empty = True
    text_of = Cached(lambda n: f" {n or '-':>{cell}}")
    cells_of = functools.partial(map, text_of.__getitem__)
    for r in rows:  # (str methods: an f-string's nested widths are parsed again for each row)
        empty = False
        key = table_cell(r.key)
        if columns(key) > width:
            yield key + "\n"
            key = ""
        line = fill(key, width) + "".join(cells_of(r.hours)) + " " + str(r.total).rjust(total_w)
        if stats:
            first, last, peak, count = r.stats()
            line += (f"  {to_second(first, repeats).ljust(seen)} {to_second(last, repeats).ljust(seen)} "
                     f"{peak.rjust(9)}  {str(count).rjust(peak_w)}")
        yield line + "\n"
    yield "(no events)\n\n" if empty else left_out(section.rows) + "\n"


# -- markdown -------------------------------------------------------------------------

def section_markdown_lines(day: Day, section: Section, stats: bool = False) -> Iterator[str]:
    """One section of one day as a markdown pipe table (the layout tabulate's "pipe"
    format gives), line by line: one pass over the rows sizes the columns, a second
    writes them, from the rows read once (``read_twice``: at most 5,000 held in memory)."""
    with read_twice(section.rows, times=stats) as rows:
        yield from in_pieces(_markdown_table(day, section, rows, stats))


def _markdown_table(day: Day, section: Section, rows: Iterable[Row], stats: bool) -> Iterator[str]:
    headers = [ROW_LABEL[section.id], *day.hour_labels, "Total"]
    if stats:
        headers += ["First seen", "Last seen", "Peak hour", "Peak count"]

    text_of = Cached(lambda n: str(n or "-"))

    def stat_cells(r: Row) -> tuple[str, ...]:
        if not stats:
            return ()
        first, last, peak, count = r.stats()
        return first, last, peak, str(count)

    key_w, largest, most, stat_w = 0, [0] * len(day.hour_labels), 0, [0] * 4 if stats else []
    narrow = 10 ** min((len(h) + 2 for h in day.hour_labels), default=0)  # a count below it is no wider than any header
    for r in rows:  # the widest cell of a count column is that of its largest count
        key_w, most = max(key_w, min(columns(md_text(r.key)), KEY_WIDTH)), max(most, r.total)  # (longer: unpadded)
        stat_w = list(map(max, stat_w, map(len, stat_cells(r))))  # (first: they find the largest count)
        if r.largest() >= narrow:
            largest = list(map(max, largest, r.hours))  # (in C: a list a row costs less than a loop)
    content = [key_w, *(len(text_of[n]) for n in largest), len(str(most)), *stat_w]
    widths = [max(len(h) + 2, w) for h, w in zip(headers, content)]  # tabulate pads a header by 2 at least
    end = 1 + len(day.hour_labels)
    key_w, hour_w, total_w, stat_w = widths[0], widths[1:end], widths[end], widths[end + 1:]
    padded: dict[int, Cached] = {}  # a count's cell, padded, made once per width (columns share widths)
    hour_cells = [padded.setdefault(w, Cached(lambda n, w=w: text_of[n].rjust(w))) for w in hour_w]
    yield f"### {day.date} — {section.title}\n\n"
    lines = 0
    for r in rows:
        if not lines:
            yield "| " + " | ".join([headers[0].ljust(key_w), *map(str.rjust, headers[1:], widths[1:])]) + " |\n"
            rule = ("-" * (w + 1) + ":" if i else ":" + "-" * (w + 1) for i, w in enumerate(widths))
            yield "|" + "|".join(rule) + "|\n"
        lines += 1
        cells = [fill(md_text(r.key), key_w), *map(operator.getitem, hour_cells, r.hours), str(r.total).rjust(total_w)]
        if stats:
            cells += map(str.rjust, stat_cells(r), stat_w)
        yield "| " + " | ".join(cells) + " |\n"
    yield "\n" + ((left_out(section.rows) + "\n").lstrip("\n")) if lines else "(no events)\n\n"


def summary_markdown(report: Report) -> Iterator[str]:
    yield (f"# {_summary_title(report)}\n\n" + "".join(f"> {texts.md_said(told)}\n\n" for told in report.told())
           + "| Date | Events | First | Last | Hours without events |\n|---|--:|---|---|---|\n")
    yield from in_pieces(map(_summary_markdown_line, report.timeline()))
    yield "\n"


def _summary_markdown_line(d: Day | Gap) -> str:
    if isinstance(d, Gap):
        return f"| {d.first} … {d.last} | 0 | | | {d.line()} |\n"
    empty = hour_ranges(d.empty_hours, d.hour_labels) if d.events else "all"  # (blank read as "none")
    return f"| {d.date} | {d.events} | {d.first_event or ''} | {d.last_event or ''} | {empty} |\n"


# -- csv ------------------------------------------------------------------------------

def _csv_layout(report: Report) -> Layout:
    """The whole report as one table with one header: date and section are columns. A
    daylight-saving day's extra or doubled hour (``02+1``) gets a column of its own,
    empty on the other days."""
    labels = _all_labels(report.days)

    def part(day: Day | Gap) -> Iterable[str]:
        return () if isinstance(day, Gap) else _csv_table(None, day, day.sections.values(), labels)

    return Layout([csv_head_line(_csv_header(labels))], part, "")


def _csv_header(labels: list[str]) -> list[str]:
    return ["date", "section", "key", *labels, "total", *STAT_FIELDS]


def _csv_table(header: list[str] | None, day: Day, sections, labels: list[str]) -> Iterator[str]:
    head = [] if header is None else [csv_head_line(header)]
    return in_pieces(itertools.chain(head, _csv_lines(day, sections, labels)))


def _csv_lines(day: Day, sections, labels: list[str]) -> Iterator[str]:
    """A CSV line a row, as ``csv.writer`` writes it: text cells escaped (``safe_cell``), counts'
    text made once (``csv`` took a third of a report). A stored row's times and peak label are
    ccaudit's own, a digit first, no comma, quote or space: checking them took a fifth."""
    same, digits = labels == day.hour_labels, Cached(str)
    for section in sections:
        head = f"{safe_cell(day.date)},{safe_cell(section.id)},"
        for r in section.rows:
            hours = ",".join(map(digits.__getitem__, r.hours if same else _spread(r.hours, day.hour_labels, labels)))
            first, last, peak, count = r.stats()
            if not r.OWN_TIMES:
                first, last, peak = safe_cell(first), safe_cell(last), safe_cell(peak)
            yield f"{head}{safe_cell(r.key)},{hours},{digits[r.total]},{first},{last},{peak},{digits[count]}\n"


def _all_labels(days: Sequence[Day]) -> list[str]:
    """Every hour label of ``days`` in clock order (``02+2`` before ``02+1`` before ``02``);
    without days, a day's 24 hours: a report with no events has the usual columns."""
    if not days:
        return [f"{h:02d}" for h in range(24)]
    order: dict[str, int] = {}
    for day in days:
        for label in day.hour_labels:
            order.setdefault(label, len(order))
    return sorted(order, key=lambda label: (label[:2], "+" not in label and "-" not in label, order[label]))


def _spread(hours: list[int], have: list[str], labels: list[str]) -> list:
    by_label = dict(zip(have, hours))
    return [by_label.get(label, "") for label in labels]


def summary_csv(report: Report) -> Iterator[str]:
    """A gap is one row, dated as an ISO 8601 interval (``2024-05-08/2024-05-22``), every hour empty."""
    return csv_chunks(["date", "events", "first_event", "last_event", "empty_hours"], (
        [f"{d.first}/{d.last}", 0, "", "", _HOURS] if isinstance(d, Gap) else
        [d.date, d.events, d.first_event or "", d.last_event or "", " ".join(d.empty_hours)]
        for d in report.timeline()))


# -- json -----------------------------------------------------------------------------

def _json_layout(report: Report) -> Layout:
    """The report's JSON document ``{"summary": ..., "days": [...]}`` a day at a time, a
    row at a time within a day, formatted as json.dumps(indent=2) would write it whole."""
    head = itertools.chain(['{\n  "summary": '], json_pieces(report.summary(made=True), 1), [',\n  "days": '])
    if not report.days:
        return Layout(itertools.chain(head, ["[]\n}\n"]), lambda day: (), "")
    first = report.days[0].date

    def part(day: Day | Gap) -> Iterator[str]:
        if isinstance(day, Day):
            yield "\n    " if day.date == first else ",\n    "
            yield from json_pieces(day_json(day), 2)

    return Layout(itertools.chain(head, ["["]), part, "\n  ]\n}\n")


# -- dispatch -------------------------------------------------------------------------

class Layout(NamedTuple):
    """A whole report as its head, a part for each day or gap of ``report.timeline()``,
    and its tail: what lets another process write some of the days (halves.py)."""

    head: Iterable[str]  # in pieces: a summary of 200,000 dates; read once
    part: Callable[[Day | Gap], Iterable[str]]
    tail: str
    scale: Scale | None = None  # what every part needs from all the days (html's shading)


class Scale(Protocol):
    """A measure over all the days that every day's part needs before it is written: found
    by one process, or by two that each ``measure`` half the days and ``use`` both halves."""

    def measure(self, days: Sequence[Day | Gap]) -> dict[str, int]: ...
    def use(self, *found: dict[str, int]) -> None: ...


class SectionPeaks:
    """A Scale: each section's busiest cell over all the days, the top of an html page's
    shading scale. A large page measures it in two processes, each over half the days."""
    peaks: dict[str, int] | None  # found, or None until measured (``found``)

    def __init__(self, report: Report):
        self.report, self.peaks = report, None

    def measure(self, days: Sequence[Day | Gap]) -> dict[str, int]:
        peaks: dict[str, int] = {}
        for day in days:
            for sid, section in day.sections.items() if isinstance(day, Day) else ():
                peaks[sid] = busiest_cell(section.rows, peaks.get(sid, 0))
        return peaks

    def use(self, *found: dict[str, int]) -> None:
        self.peaks = {sid: max(f.get(sid, 0) for f in found) for f in found for sid in f}

    def found(self) -> dict[str, int]:
        if self.peaks is None:
            self.use(self.measure(self.report.days))
        return self.peaks  # type: ignore[return-value]  # use() has set it


def report_layout(report: Report, fmt: str, stats: bool = False) -> Layout:
    """The whole report in ``fmt`` (not html: html.html_layout)."""
    if fmt == "json":
        return _json_layout(report)
    if fmt == "csv":
        return _csv_layout(report)
    if fmt == "markdown":
        return Layout(summary_markdown(report), functools.partial(_part, fmt=fmt, stats=stats), "")
    return Layout(itertools.chain(summary_text(report), ["\n"]), functools.partial(_part, fmt=fmt, stats=stats), "")


def _part(day: Day | Gap, fmt: str, stats: bool) -> Iterator[str]:
    """A day of a whole text or markdown report, as its day file holds it; a gap, one line."""
    if isinstance(day, Gap):
        yield f"## {day.line()}\n\n" if fmt == "markdown" else f"{day.line()}\n\n"
    else:
        yield from day_chunks(day, fmt, stats)


def render_report(report: Report, fmt: str, stats: bool = False) -> str:
    """A whole report in a format but html (``ccaudit.render_report`` writes html too)."""
    if fmt not in EXTENSIONS or fmt == "html":
        raise ValueError(f"no report format {fmt!r} here: ccaudit.render_report writes html too")
    return "".join(report_chunks(report, fmt, stats))


def layout_chunks(report: Report, layout: Layout) -> Iterator[str]:
    """The whole report in pieces, a day at a time, so that writing it holds one day's text."""
    yield from layout.head
    for day in report.timeline():
        yield from layout.part(day)
    yield layout.tail


def report_chunks(report: Report, fmt: str, stats: bool = False) -> Iterator[str]:
    """The whole report (not html) in pieces."""
    return layout_chunks(report, report_layout(report, fmt, stats))


def render_summary(report: Report, fmt: str) -> str:
    return "".join(summary_chunks(report, fmt))


def summary_chunks(report: Report, fmt: str) -> Iterator[str]:
    """The summary in ``fmt``, in pieces."""
    if fmt == "json":  # with what the text shows beside each date
        doc = {**report.summary(made=True), "coverage": Coverage(report.days)}
        return itertools.chain(json_pieces(doc, 0), ["\n"])
    return {"csv": summary_csv, "markdown": summary_markdown}.get(fmt, summary_text)(report)


def render_day(day: Day, fmt: str, stats: bool = False) -> str:
    return "".join(day_chunks(day, fmt, stats))


def day_chunks(day: Day, fmt: str, stats: bool = False) -> Iterator[str]:
    """One day's file, in pieces (a day can hold hundreds of thousands of rows)."""
    if fmt == "json":
        yield from json_pieces(day_json(day), 0)
        yield "\n"
    elif fmt == "csv":  # csv always has the stats columns
        yield from _csv_table(_csv_header(day.hour_labels), day, day.sections.values(), day.hour_labels)
    else:
        yield day_head(day, fmt)
        for section in day.sections.values():
            yield from section_chunks(day, section, fmt, stats)


def day_head(day: Day, fmt: str) -> str:
    """What a text or markdown day file holds before its sections."""
    return f"## {day.date} ({plural(day.events, 'event')})\n\n" if fmt == "markdown" else ""


def render_section(day: Day, section: Section, fmt: str, stats: bool = False) -> str:
    return "".join(section_chunks(day, section, fmt, stats))


def section_chunks(day: Day, section: Section, fmt: str, stats: bool = False) -> Iterator[str]:
    """One section of one day, in pieces."""
    if fmt == "json":
        yield from json_pieces({"date": day.date, "hour_labels": day.hour_labels, "section": section.id,
                                 "title": section.title, "rows": RowsToWrite(section.rows)}, 0)
        yield "\n"
    elif fmt == "csv":
        yield from _csv_table(_csv_header(day.hour_labels), day, [section], day.hour_labels)
    else:
        yield from (section_markdown_lines if fmt == "markdown" else section_text_lines)(day, section, stats)


EXTENSIONS = {"text": "txt", "markdown": "md", "csv": "csv", "json": "json", "html": "html"}

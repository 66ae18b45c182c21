"""The report as one self-contained HTML page: a heatmap of key x hour for each section.

The page fetches nothing: its CSS and its small script are inline, and a Content Security
Policy allows exactly those two (by hash) and nothing else, so even a string that slipped
through escaping could neither run a script nor load anything. Every string that comes from
the data (keys, methods, file names) goes through ``_e``: characters that are not printable
(controls, bidi overrides) become visible escapes like ``\\x1b``, then ``html.escape``.

Layout: title and load summary (records, duplicates, noise, malformed with file:line),
coverage per day (first and last event, hours with and without events), a day picker, then
one block per day with one table per section. A cell's shade is one of nine steps on a log
scale up to the busiest hour of that section over the whole report, so days compare at a
glance; the number is in the cell and in its ``title``. Clicking a column header sorts by
it (Total: busiest first). Without JavaScript every day is shown, one after the other.
"""
from __future__ import annotations

import functools
import heapq
import itertools
import math
import operator
from collections.abc import Iterable, Iterator

from .html_assets import CSP, CSS, JS
from .loadnotes import warning
from .render import ROW_LABEL, Layout, SectionPeaks, layout_chunks
from .report import Day, Gap, Report, Row, Rows, Section
from .text import Cached, hour_ranges, in_pieces, plural, printable, repeats_hour, shown_as_is, table_cell, to_second

LEVELS = 9

def _e(value: object) -> str:
    """Any value as HTML text or attribute content: printable, then escaped as
    ``html.escape`` escapes it, quotes too (inline: a page calls this 150,000 times)."""
    text = value if value.__class__ is str else str(value)
    if not shown_as_is(text):
        text = printable(text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;") \
        .replace("'", "&#x27;")


def render_html(report: Report, stats: bool = False) -> str:
    """The whole report as one HTML page (``stats`` adds first/last seen and peak columns)."""
    return "".join(html_chunks(report, stats))


def html_chunks(report: Report, stats: bool = False) -> Iterator[str]:
    """``render_html`` a day at a time: a page of many days is never one string."""
    return layout_chunks(report, html_layout(report, stats))


def html_layout(report: Report, stats: bool = False) -> Layout:
    """The page's head, a part per day, its tail; the parts shade their cells on a scale
    over all the days (``SectionPeaks``), found before the first is written."""
    peaks = SectionPeaks(report)
    zone = report.tz
    if report.days:
        span = f"{report.days[0].date} to {report.days[-1].date}"
        lede = (f"{plural(report.events, 'event')} over {plural(report.span_days, 'day')}, "
                f"{span}; days and hours in {zone}.")
        title = f"ccaudit report: {span}"
    else:
        lede, title = "No events.", "ccaudit report: no events"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',  # ours: no " < &
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>Confluent Cloud audit report</h1>",
        f'<p class="lede">{_e(lede)}</p>',
        *([f'<p class="muted">Selected: {_e("; ".join(report.selected))}.</p>'] if report.selected else []),
        *([f"<p><strong>{_e(warned)}</strong></p>"] if (warned := warning(report.unfinished)) else []),
        "</header>",
        '<div class="panels">',
        _load_panel(report.load),
    ]
    notes = []
    if report.days:
        if any(report.tz != "UTC" and len(d.hour_labels) != 24 for d in report.days):
            notes.append('<p class="muted">Days on which the clocks change have 23 or 25 hour columns (22 to 26 where '
                         "they change by half an hour or two hours, or twice); "
                         "a repeated hour is labelled with its UTC offset (e.g. 02+2, then 02+1).</p>")
        notes.append(f'<p class="muted">Shade: {LEVELS} steps on a log scale up to the busiest hour of each '
                     f'section over all days <span class="legend">'
                     + "".join(f'<i class="l{i}"></i>' for i in range(1, LEVELS + 1))
                     + "</span>. Click a column header to sort by it.</p>")

    def part(day: Day | Gap) -> tuple[str]:
        return (f'<p class="muted gap">{_e(day.line())}</p>' if isinstance(day, Gap) else
                _day(day, peaks.found(), stats)) + "\n",

    head = itertools.chain(["\n".join(out) + "\n"], _coverage_panel(report), ["</div>\n"], _nav(report),
                           [f"{note}\n" for note in notes])
    return Layout(head, part, "\n".join([
        "<footer>Generated by ccaudit. Self-contained: this page loads nothing from the network.</footer>",
        f"<script>{JS}</script>",
        "</body>",
        "</html>",
    ]) + "\n", peaks)


# -- load and coverage ----------------------------------------------------------------

_LOAD_LABELS = {
    "records_read": "Records read",
    "inserted": "Inserted (new)",
    "duplicates": "Duplicates",
    "noise_lines": "Noise lines skipped",
    "malformed": "Malformed",
}


def _load_panel(load: dict | None) -> str:
    out = ['<section id="load" class="panel">', "<h2>Load</h2>"]
    if load is None:
        out += ['<p class="muted">Reported from a store; nothing was loaded in this run.</p>', "</section>"]
        return "\n".join(out)
    out.append('<table class="kv">')
    for key, label in _LOAD_LABELS.items():
        if key in load:
            bad = ' class="bad"' if key == "malformed" and load[key] else ""
            value = load[key]
            out.append(f"<tr{bad}><th>{label}</th><td>{_e(f'{value:,}' if type(value) is int else value)}</td></tr>")
    for key, value in load.items():  # anything newer than this renderer, shown as it is
        if key not in _LOAD_LABELS and key != "malformed_lines" and not isinstance(value, (list, dict)):
            out.append(f"<tr><th>{_e(key.replace('_', ' ').capitalize())}</th><td>{_e(value)}</td></tr>")
    out.append("</table>")
    for key, title in _LOAD_LISTS.items():  # (the inputs read in part too: not only those in the first 100)
        if where := _listed(load, key):
            n = load.get("malformed", len(where)) if key == "malformed_lines" else len(where)
            listed = "all listed" if len(where) >= n else f"the first {len(where)} listed"
            out.append(f"<details open><summary>{title} ({listed})</summary>")
            out.append('<ol class="malformed">' + "".join(f"<li><code>{_e(w)}</code></li>" for w in where) + "</ol>")
            out.append("</details>")
    out.append("</section>")
    return "\n".join(out)


def _listed(load: dict, key: str) -> list[str]:
    """One of the load's lists, its malformed places each with its reason where the load gave
    them (a program's own summary, ``build(load=...)``, may hold anything)."""
    entries = load.get("malformed_entries") if key == "malformed_lines" else None
    if isinstance(entries, list) and entries:
        return [f"{e.get('place')}: {e.get('reason')}" if isinstance(e, dict) else str(e) for e in entries]
    value = load.get(key) or []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


_LOAD_LISTS = {"malformed_lines": "Malformed input", "inputs_cut_short": "Inputs read in part",
               "damaged_inputs": "Damaged inputs", "unusable_inputs": "Unusable inputs"}


def _clock(iso: str | None, day: Day) -> str:
    """A day's time of day, with its offset on a day that repeats an hour."""
    return to_second(iso, repeats_hour(day.hour_labels))[11:] if iso else ""


def _coverage_panel(report: Report) -> Iterator[str]:
    """The coverage table, a line for each day or gap, in pieces: a store can hold
    200,000 dates."""
    zone = report.tz
    yield f'<section id="coverage" class="panel">\n<h2>Coverage <small>({_e(zone)})</small></h2>\n'
    if not report.days:
        yield '<p class="muted">No events.</p>\n</section>\n'
        return
    yield ('<table class="coverage"><thead><tr><th>Day</th><th>Events</th><th>First</th><th>Last</th>'
           "<th>Hours with events</th><th>Hours without events</th></tr></thead><tbody>\n")
    yield from in_pieces(map(_coverage_row, report.timeline()))
    yield "</tbody></table>\n</section>\n"


def _nav(report: Report) -> Iterator[str]:
    """The day picker: a link for each day, its events beside it, in pieces."""
    if not report.days:
        return
    yield '<nav id="days" aria-label="Days">'
    yield from in_pieces(f'<a href="#day-{_e(d)}"{"" if n else _EMPTY}>{_e(d)} <small>{n}</small></a>'
                         for d, n in report.per_day().items())
    yield '<a href="#all">All days</a></nav>\n'


def _coverage_row(d: Day | Gap) -> str:
    if isinstance(d, Gap):
        return f'<tr><td colspan="6" class="muted">{_e(d.line())}</td></tr>\n'
    empty = set(d.empty_hours) if d.events else set(d.hour_labels)
    strip = "".join(f'<i title="{_e(h)}: no events"></i>' if h in empty else f'<i class="y" title="{_e(h)}"></i>'
                    for h in d.hour_labels)
    gaps = hour_ranges(d.empty_hours, d.hour_labels) if d.events and d.empty_hours else ("" if d.events else "all")
    return (f'<tr><td><a href="#day-{_e(d.date)}">{_e(d.date)}</a></td><td class="n">{d.events}</td>'
            f"<td>{_e(_clock(d.first_event, d))}</td><td>{_e(_clock(d.last_event, d))}</td>"
            f'<td><span class="strip">{strip}</span></td><td>{_e(gaps)}</td></tr>\n')


_EMPTY = ' class="empty"'


# -- days and sections ----------------------------------------------------------------

def _level(n: int, peak: int) -> int:
    if n <= 0:
        return 0
    if peak <= 1:
        return LEVELS
    return min(LEVELS, 1 + int((LEVELS - 1) * math.log(n) / math.log(peak) + 1e-9))


def _day(day: Day, peaks: dict[str, int], stats: bool) -> str:
    head = f"{plural(day.events, 'event')}"
    if day.events:
        head += f" · {_clock(day.first_event, day)} .. {_clock(day.last_event, day)}"
        if day.empty_hours:
            head += " · no events in hours " + hour_ranges(day.empty_hours, day.hour_labels)
    out = [f'<section class="day" id="day-{_e(day.date)}" data-events="{day.events}">',
           f"<h2>{_e(day.date)} <small>{_e(head)}</small></h2>"]
    for section in day.sections.values():
        out.append(_section(day, section, peaks.get(section.id, 0), stats))
    out.append("</section>")
    return "\n".join(out)


MAX_ROWS = 200  # rows per section and day on the page
MAX_KEY = 1_000  # characters of a key shown: an attacker's key of megabytes, 200 times a section, helps no one


def _section(day: Day, section: Section, peak: int, stats: bool) -> str:
    keys, events, shown = _shown(section.rows)
    top = getattr(section.rows, "top", None)
    out = [f'<section class="sec" data-section="{_e(section.id)}">',
           f"<h3>{_e(section.title)} <small>{plural(keys, 'key')}, "
           f"{plural(events, 'event')}</small></h3>"]
    if not keys:
        out += ['<p class="none">(no events)</p>', "</section>"]
        return "\n".join(out)
    cols = ['<th class="k" data-type="text" scope="col">' + _e(ROW_LABEL.get(section.id, "Key")) + "</th>"]
    cols += [f'<th scope="col">{_e(h)}</th>' for h in day.hour_labels]
    cols.append('<th class="t" scope="col">Total</th>')
    if stats:
        cols += ['<th class="s" data-type="text" scope="col">First seen</th>',
                 '<th class="s" data-type="text" scope="col">Last seen</th>',
                 '<th class="s" data-type="text" scope="col">Peak hour</th>',
                 '<th scope="col">Peak count</th>']
    out.append('<div class="scroll"><table class="heat">')
    out.append("<thead><tr>" + "".join(cols) + "</tr></thead>")
    out.append("<tbody>")
    levels = Cached(lambda n: _level(n, peak))
    columns = [Cached(functools.partial(_cell, _e(h), levels)) for h in day.hour_labels]
    for row in shown:
        out.append(_row(row, columns, stats))
    out += ["</tbody></table></div>"]
    if top is not None and top < keys and top <= MAX_ROWS:
        out.append(f'<p class="muted">The {top} busiest of {plural(keys, "key")} (--top {top}).</p>')
    elif keys > MAX_ROWS:
        rest = "every row" if top is None or top >= keys else f"the {top} busiest (--top {top})"
        out.append(f'<p class="muted">The {MAX_ROWS} busiest of {plural(keys, "key")}; the CSV '
                   f"and JSON reports have {rest}.</p>")
    out.append("</section>")
    return "\n".join(out)


def _shown(rows: Iterable[Row]) -> tuple[int, int, list[Row]]:
    """(keys, events, the rows shown) of a section, in one reading: every row (in key
    order) if there are at most MAX_ROWS, else the MAX_ROWS (or --top) busiest, ties by key. A page
    of 300,000 attacker-made keys helps no one; read once, only the busiest are held."""
    if isinstance(rows, Rows):  # the section's own keys and events, also under --top
        keys, events, shown = rows.ranked(min(MAX_ROWS, rows.top or MAX_ROWS))
        in_order = keys <= MAX_ROWS and rows.top is None  # --top: busiest first, as in the other formats
        return keys, events, sorted(shown, key=operator.attrgetter("key")) if in_order else shown
    rows = iter(rows)
    shown = list(itertools.islice(rows, MAX_ROWS + 1))
    keys, events = len(shown), sum(r.total for r in shown)

    def counted() -> Iterator[Row]:
        nonlocal keys, events
        for row in rows:
            keys, events = keys + 1, events + row.total
            yield row

    if keys > MAX_ROWS:
        shown = heapq.nsmallest(MAX_ROWS, itertools.chain(shown, counted()), key=lambda r: (-r.total, r.key))
    return keys, events, shown


def _cell(label: str, levels: Cached, n: int) -> str:
    """The cell of count ``n`` in the column of ``label`` (escaped): its shade, its hour
    and count as its title, and its count."""
    return f'<td class="l{levels[n]}" title="hour {label}: {n}">{n}</td>' if n else "<td></td>"


def _row(row: Row, columns: list[Cached], stats: bool) -> str:
    """A table row; each of its cells made once per column and count in a section (its
    ``columns``): a section has few distinct counts, and most rows repeat them."""
    # a page shows a run of spaces as one, so they are escaped as in a text table
    key = _e(table_cell(row.key if len(row.key) <= MAX_KEY else row.key[:MAX_KEY] + "…"))
    count: int | str  # escaped as text below, if need be
    first, last, peak, count = row.stats()
    facts = f"{first}{last}{peak}{count}"
    if _e(facts) != facts:  # a program's row may hold any text; times and hour labels need no escaping
        first, last, peak, count = map(_e, (first, last, peak, count))
    about = f"first seen {first}&#10;last seen {last}&#10;peak hour {peak}: {count}"
    if len(row.key) > MAX_KEY:
        about = f"the first {MAX_KEY:,} of {len(row.key):,} characters: CSV and JSON have the whole key&#10;{about}"
    cells = [f'<th class="k" scope="row" title="{key}&#10;{about}">{key}</th>',
             *map(operator.getitem, columns, row.hours), f'<td class="t" title="total: {row.total}">{row.total}</td>']
    if stats:
        cells += [f'<td class="s">{first}</td>', f'<td class="s">{last}</td>', f'<td class="s">{peak}</td>',
                  f"<td>{count}</td>"]
    return "<tr>" + "".join(cells) + "</tr>"

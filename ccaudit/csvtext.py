"""CSV text as ``csv.writer`` writes it (``lineterminator="\\n"``, minimal quoting), every
text cell first made safe to open in a spreadsheet (``text.spreadsheet_cell``).
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence

from .text import FORMULA_START, PIECE, shown_as_is, spreadsheet_cell


def csv_head_line(header: Sequence) -> str:
    """A CSV table's header line."""
    return "".join(csv_chunks(header, ()))


def csv_chunks(header: Sequence, rows) -> Iterator[str]:
    """A CSV table, its header line first, in pieces of about PIECE characters, every cell
    safe to open in a spreadsheet."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([spreadsheet_cell(c) for c in row])
        if out.tell() >= PIECE:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def safe_cell(value: object) -> str:
    """``csv_cell(spreadsheet_cell(value))``: a cell of a report's line. Most pass the
    checks that leave them as they are, made here by str methods in C: the two calls,
    through a regular expression, were a sixth of a CSV report."""
    if isinstance(value, str):
        if shown_as_is(value) and '"' not in value and "," not in value and not value.startswith(FORMULA_START):
            return value
    elif isinstance(value, int):  # a number stays a number, never quoted
        return str(value)
    return csv_cell(spreadsheet_cell(value))


def csv_cell(value: object) -> str:
    """A cell as ``csv.writer`` (QUOTE_MINIMAL) writes it in a row of several."""
    text = value if isinstance(value, str) else str(value)
    if _QUOTED(text):
        return '"' + text.replace('"', '""') + '"'
    return text


_QUOTED = re.compile('[,"\r\n]').search

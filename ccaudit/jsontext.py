"""JSON text as ``json.dumps(indent=2, ensure_ascii=False)`` writes it, but with every
character a terminal would act on escaped, and a report's rows written one at a time.

``dumps`` is every JSON document ccaudit prints; ``json_pieces`` writes a document whose
rows are ``RowsToWrite`` in pieces, a row at a time (a day can hold hundreds of thousands).
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from .report import Day, Row
from .text import PIECE, Cached, in_pieces

STAT_FIELDS = ("first_seen", "last_seen", "peak_hour", "peak_count")
_string = json.encoder.encode_basestring  # type: ignore[attr-defined]  # a str as json.dumps(ensure_ascii=False) writes it


def row_json(r: Row) -> dict:
    return {"key": r.key, "hours": r.hours, "total": r.total, **dict(zip(STAT_FIELDS, r.stats()))}


def day_json(day: Day) -> dict:
    """A day as JSON data, each section's rows left to be encoded one at a time
    (``RowsToWrite``, see json_pieces): a section can hold hundreds of thousands."""
    return {
        "date": day.date,
        "events": day.events,
        "sections": {s.id: {"title": s.title, "rows": RowsToWrite(s.rows)}
                     for s in day.sections.values()},
        "hour_labels": day.hour_labels,
        "coverage": day.coverage(),
    }


class RowsToWrite:
    """Rows to encode one at a time: a section can hold hundreds of thousands. Their
    counts' text is made once (``digits``)."""

    def __init__(self, rows: Iterable[Row]):
        self.rows, self.digits = rows, Cached(str)


def _row_text(r: Row, depth: int, text_of: Callable[[int], str]) -> str:
    """``to_json(row_json(r), depth)``, written out: json's indenting encoder is pure
    Python, and a whole-store report has a million numbers to indent. ``text_of`` is a
    count's text (``Cached.__getitem__``)."""
    if not r.hours:
        return to_json(row_json(r), depth)
    comma, head, hours, total, first_seen, last_seen, peak_hour, peak_count, end = _row_layout(depth)
    first, last, peak, count = r.stats()
    text = (f"{head}{_string(r.key)}{hours}{comma.join(map(text_of, r.hours))}{total}{text_of(r.total)}"
            f"{first_seen}{_string(first)}{last_seen}{_string(last)}{peak_hour}{_string(peak)}"
            f"{peak_count}{text_of(count)}{end}")  # an f-string, not %: a third of the cost
    return text if text.isascii() and "\x7f" not in text else text.translate(_SAFE)


@functools.cache
def _row_layout(depth: int) -> tuple[str, ...]:
    """What separates a row's hours, and the text before each of its values and after the
    last, indented as json.dumps(indent=2) indents a row ``depth`` levels deep."""
    pad = "\n" + "  " * (depth + 1)
    inner = pad + "  "
    return ("," + inner, "{" + pad + '"key": ', "," + pad + '"hours": [' + inner, pad + "]," + pad + '"total": ',
            "," + pad + '"first_seen": ', "," + pad + '"last_seen": ', "," + pad + '"peak_hour": ',
            "," + pad + '"peak_count": ', pad[:-2] + "}")


def json_pieces(value, depth: int) -> Iterator[str]:
    """``value`` as to_json would write it, in pieces: a RowsToWrite list item by item."""
    pad = "\n" + "  " * (depth + 1)
    if isinstance(value, dict) and value and all(isinstance(key, str) for key in value):
        for i, (key, item) in enumerate(value.items()):
            yield ("{" if i == 0 else ",") + pad + to_json(key, 0) + ": "
            yield from json_pieces(item, depth + 1)
        yield pad[:-2] + "}"
    elif isinstance(value, RowsToWrite):
        texts, size, empty = [], 0, True
        text_of = value.digits.__getitem__
        for row in value.rows:  # in pieces of PIECE characters (text.in_pieces, inline: a row costs less)
            text = ("[" if empty else ",") + pad + _row_text(row, depth + 1, text_of)
            texts.append(text)
            size, empty = size + len(text), False
            if size >= PIECE:
                yield "".join(texts)
                texts, size = [], 0
        yield "".join(texts) + ("[]" if empty else pad[:-2] + "]")
    elif isinstance(value, Mapping) and not isinstance(value, dict) or \
            isinstance(value, Sequence) and not isinstance(value, (str, list, tuple)):
        yield from _made_pieces(value, depth)
    else:
        yield to_json(value, depth)


def _made_pieces(value: Mapping | Sequence, depth: int) -> Iterator[str]:
    """A mapping or sequence made as it is read (a summary's days and gaps, dates.PerDay
    and dates.Made: a store can hold 200,000 dates), item by item, in pieces."""
    pad = "\n" + "  " * (depth + 1)
    opening, closing = "{}" if isinstance(value, Mapping) else "[]"
    if not len(value):
        yield opening + closing
        return
    texts = ((f"{pad}{to_json(k, 0)}: {to_json(v, depth + 1)}" for k, v in value.items()) if isinstance(value, Mapping)
             else (pad + to_json(v, depth + 1) for v in value))
    yield from in_pieces(("," if i else opening) + text for i, text in enumerate(texts))
    yield pad[:-2] + closing


def dumps(doc: dict) -> str:
    return to_json(doc, 0) + "\n"


def to_json(value, depth: int) -> str:
    """JSON text, indented as if nested ``depth`` levels deep: UTF-8 as written, but every
    character a terminal would act on (DEL, C1 controls such as CSI, bidi overrides) as a
    ``\\u`` escape, which loses nothing. (JSON strings hold no raw newline to re-indent.)"""
    text = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + "  " * depth)
    return text if text.isascii() and "\x7f" not in text else text.translate(_SAFE)


# Every character but a newline and printable ASCII, as itself if printable, else as a \\u escape (a
# surrogate pair beyond the BMP); a table for ``str.translate``, which keeps no object a character
# (a substitution's pieces took 80 bytes each: a key of 16 million DEL characters, 1.2 GiB)
_SAFE = Cached(lambda o: chr(o) if o == 10 or 32 <= o < 127 or chr(o).isprintable() else json.dumps(chr(o))[1:-1])

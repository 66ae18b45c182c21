"""How values are shown to people: safe on a terminal, inert in markdown and
spreadsheets, and counted in words. Imports nothing of ccaudit.

Row keys come from the records, so an attacker chooses them (a failed sign-in's email is
whatever was typed): every renderer passes them through one of these functions.
"""
from __future__ import annotations

import fnmatch
import os
import re
import shlex
from collections.abc import Callable, Iterable, Iterator
from unicodedata import bidirectional, category, east_asian_width, is_normalized

PIECE = 1 << 16  # characters a report's output is passed up in; a line at a time cost a Python frame a level


# Printable to Python, but shown as nothing: fillers and invisible marks, which could make one
# key pass for another (``alice@example.com`` and the same with U+3164 after it)
_INVISIBLE = "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u2800\u3164\uffa0"
_HIDDEN = re.compile(f"[{_INVISIBLE}\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def shown_as_is(text: str) -> bool:
    """Whether ``printable`` leaves ``text`` as it is (checks in C, for the hot paths). An
    ASCII text has no invisible character and is composed: the search for them was half
    the cost of a key's check."""
    if text.isascii():
        return text.isprintable() and text[:1] != " " and text[-1:] != " "
    return (text.isprintable() and not _HIDDEN.search(text) and text[:1] != " " and text[-1:] != " "
            and is_normalized("NFC", text) and category(text[0])[0] != "M")


def printable(text: str) -> str:
    """``text`` safe for a terminal: control, format (bidi), unusual space, unpaired
    surrogate and invisible characters become visible escapes such as ``\\x1b`` or
    ``\\u3164``; so do spaces at either end, a combining mark at the start, and in a text
    not in composed form (NFC) every character that composition would change
    (``e\\u0301``, which would show as ``é``): a renderer pads or trims the spaces, a leading
    mark joins the column separator before it, and the rest would pass for a key spelled
    with ``é``. A backslash stays as it is: a key copied from a report is what a filter takes
    (a key that is the text ``\\x1b`` looks like one with an ESC; JSON tells them apart)."""
    if shown_as_is(text):
        return text
    shown = _SHOWN if text.isascii() or is_normalized("NFC", text) else _SHOWN_DECOMPOSED
    body = text.strip(" ")
    lead = len(text) - len(text.lstrip(" "))
    if not lead and category(text[0])[0] == "M":
        body = _escaped(body[0]) + body[1:].translate(shown)
    else:
        body = body.translate(shown)
    return _escaped(" ") * lead + body + _escaped(" ") * (len(text) - lead - len(text.strip(" ")))


def glob(pattern: str) -> Callable[[str], object]:
    """What ``fnmatch.fnmatchcase(name, pattern)`` tells, compiled once; a pattern with an
    escape of the reports' (``\\x20``, ``\\u200b``) also matches a name as they show it
    (``trail\\x20`` for ``"trail "``, ``a\\x20\\x20b`` as a text table shows ``"a  b"``):
    a key copied from a report is what a filter takes. Another backslash is itself."""
    match = re.compile(fnmatch.translate(pattern)).match
    if not _ESCAPE.search(pattern):
        return match

    def matches(name: str) -> object:
        return match(name) or (shown := printable(name)) is not name and match(shown) or \
            "  " in shown and match(_spaced(shown))

    return matches


_ESCAPE = re.compile(r"\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")  # as _escaped writes them


_SPACES = re.compile("  +")


def file_name(path: str) -> str:
    """``path`` as text that JSON can hold: a byte that is not UTF-8 (which Python reads as a
    surrogate from U+DC80 to U+DCFF) becomes ``\\xff``, as ``printable`` shows it. JSON would
    have carried it as a lone surrogate escape, which strict readers refuse."""
    if path.isascii():
        return path
    try:
        raw = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no byte stands for: a program's own text
        raw = path.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "backslashreplace")


def input_label(path: str) -> str:
    """An input as messages name it: ``<stdin>`` for ``-``, else its ``file_name`` made
    ``printable`` (which a message printed whole leaves as it is, but for a combining mark
    after an escape): a space that ended the name was escaped at a message's end only, and
    unseen before its ``:``."""
    return "<stdin>" if path == "-" else printable(file_name(path))


def operands(names: Iterable[str]) -> str:
    """``names`` as a hint's command takes them, to paste: quoted as a shell would, and
    after ``--`` if one starts with ``-`` (else read as an option)."""
    names = list(names)
    words = " ".join(map(shlex.quote, names))
    return f"-- {words}" if any(n.startswith("-") for n in names) else words


def told_apart(labels: Iterable[str], sources: Iterable[object]) -> Iterator[str]:
    """``labels``, each naming the ``sources`` item beside it, with `` (input N)`` after one
    that shows as an earlier one of another source does (a byte that is not UTF-8 and its
    ``\\xff`` typed out, a control character and its escape, ``-`` and a file named
    ``<stdin>``): a load keeps its inputs' failures by label, and such two were one."""
    shown: dict[str, object] = {}  # (one entry an input: a load may be given 100,000)
    renamed: dict[object, str] = {}  # a source given a place keeps it, named again: one input
    for n, (label, source) in enumerate(zip(labels, sources), 1):
        if source in renamed:
            yield renamed[source]
            continue
        first = label
        while shown.setdefault(printable(label), source) != source:  # (an earlier name may be "x (input 3)")
            label = f"{label} (input {n})"
        if label != first:
            renamed[source] = label
        yield label


def typed(text: str) -> str:
    """Text from the command line or the environment as the UTF-8 typed, whatever the locale:
    Python reads them in the locale's encoding (ASCII with ``LC_ALL=C PYTHONUTF8=0``), each
    byte beyond it a surrogate that no key holds (a glob of ``用户*`` matched nothing).
    Bytes that are not UTF-8 stay as Python read them."""
    if text.isascii():
        return text
    try:
        return os.fsencode(text).decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return text


def table_cell(text: str) -> str:
    """``text`` as ``printable`` shows it, with its runs of spaces escaped (``\\x20\\x20``):
    two spaces part the columns of a text table, so a key holding them could pass for cells
    of its own."""
    return _spaced(printable(text))


def _spaced(shown: str) -> str:
    """``shown`` (printable) with its runs of spaces escaped."""
    return _SPACES.sub(lambda m: "\\x20" * len(m[0]), shown) if "  " in shown else shown


def _composes(ch: str) -> bool:
    """Whether NFC may change ``ch``: a mark that composes with what precedes it, a Hangul
    vowel or final jamo (``\\u1100\\u1161`` is ``가``), or one that NFC replaces (U+212B,
    the Angstrom sign, is ``Å``)."""
    return category(ch)[0] == "M" or "\u1160" <= ch <= "\u11ff" or not is_normalized("NFC", ch)


def _escaped(ch: str) -> str:
    """``ch`` as a Python escape; a byte that is not UTF-8 in a file name or an argument
    (which Python reads as a surrogate from U+DC80 to U+DCFF) as that byte: ``\\xff``."""
    o = ord(ch)
    if 0xdc80 <= o <= 0xdcff:
        o -= 0xdc00
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


MEASURED = 400  # characters of text whose columns are counted; a longer one is printed unpadded anyway


def columns(text: str) -> int:
    """The terminal columns that ``text`` (as ``printable`` leaves it) takes, so that names in
    Chinese, or with an accent typed as a combining mark, keep a table's columns in line: an
    East Asian wide or full-width character takes two; a combining mark, a Hangul vowel or
    final jamo (which join the syllable before), and a skin tone after a wide character (an
    emoji's) none, as terminals and the wcwidth library show them. A text of more than
    MEASURED characters counts its characters: it is wider than any column is padded to, and
    measuring megabytes would take seconds."""
    if text.isascii() or len(text) > MEASURED:
        return len(text)
    width, wide = 0, False
    for c in text:
        joins = category(c) in ("Mn", "Me") or "\u1160" <= c <= "\u11ff" or "\ud7b0" <= c <= "\ud7ff" or (
            wide and "\U0001f3fb" <= c <= "\U0001f3ff")
        wide = east_asian_width(c) in "WF"
        width += 0 if joins else 2 if wide else 1
    return width


def cut(text: str, width: int, keep_end: bool = False) -> str:
    """``text`` cut to at most ``width`` columns: its start, or (``keep_end``) "..." and its end."""
    if columns(text) <= width:
        return text
    if keep_end:
        return "..." + "".join(reversed(_fitting(reversed(text), width - 3)))
    return "".join(_fitting(text, width))


def quoted(text: str, width: int | None = None) -> str:
    """``text`` printable, in quotes, for a message (a byte of a typed value that is not UTF-8
    shows as ``\\xff``: ``repr`` wrote ``\\udcff``); cut to ``width`` columns if given: a
    line of a file planted in a folder can be megabytes of anything (an SQLite file's pages)."""
    shown = printable(text)
    return f"'{shown}'" if width is None or columns(shown) <= width else f"'{cut(shown, width - 3)}...'"


def _fitting(chars: Iterable[str], width: int) -> list[str]:
    kept, used = [], 0
    for ch in chars:
        used += columns(ch)
        if used > width:
            break
        kept.append(ch)
    return kept


def fill(text: str, width: int, right: bool = False) -> str:
    """``text`` padded with spaces to ``width`` columns (``str.ljust`` counts characters),
    between left-to-right marks if it holds right-to-left letters (``ltr_cell``)."""
    pad = " " * (width - columns(text))
    if not text.isascii():
        text = ltr_cell(text)
    return pad + text if right else text + pad


LRM = "\u200e"  # the left-to-right mark: shows as nothing
# Every right-to-left letter (bidirectional class R or AL) is in these blocks, but for U+200F, a
# format character that ``printable`` escapes (tests/test_hostile_keys.py checks the whole of Unicode)
_RTL_BLOCKS = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff\U00010800-\U00010fff\U0001e800-\U0001efff]")


def ltr_cell(text: str) -> str:
    """``text`` between left-to-right marks if it holds a right-to-left letter. A viewer
    that applies Unicode's bidirectional rules (a browser showing a .txt, most editors,
    some terminals) would otherwise lay out the spaces and counts after a Hebrew or Arabic
    key, and a count before one, right to left with it: hour 01's count under hour 16."""
    if any(bidirectional(m[0]) in ("R", "AL") for m in _RTL_BLOCKS.finditer(text)):
        return LRM + text + LRM
    return text


_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\|`[]"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"})
_MARKDOWN_FOUND = re.compile(r"[\\|`\[\]<>&]").search  # translate looks up every character: most keys have none


_AUTOLINK = re.compile(r"://|(?i:www)\.")  # what GitHub's markdown makes a link of, bare (after _ too)


def md_text(text: str) -> str:
    """Data as inert markdown table text: no table breaks, markdown links or images, inline
    HTML, character references or code (``[x](javascript:...)`` stays text), and no bare
    URL made a link (``https\\://``, ``www\\.``: a report is trusted, an attacker's address in
    it should not be one click away). Emphasis is left alone: it changes how a key looks,
    never what it does; so is an email, which renderers link as the mail address it is.
    Runs of spaces are escaped as in a text table: rendered, they show as one."""
    text = table_cell(text)
    if _MARKDOWN_FOUND(text):
        text = text.translate(_MARKDOWN)
    return _AUTOLINK.sub(_unlinked, text)


def md_said(text: str) -> str:
    """A report's sentence about its data (its filters, a load that did not end) as ``md_text``,
    with emphasis escaped too: there ``*admin*`` is a glob, which in italics reads as a name."""
    return md_text(text).replace("*", "\\*").replace("_", "\\_")


def _unlinked(m: re.Match) -> str:
    return "\\://" if m[0] == "://" else m[0][:-1] + "\\."


# TAB and CR, the other two formula starts, are escaped first; a leading quote, the mark
# itself, is marked too, so that taking one quote off a cell that has one gives its text back
FORMULA_START = ("=", "+", "-", "@", "'")


def spreadsheet_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: control characters escaped as in the text
    format (so no cell starts with TAB or CR), then a leading ``'`` before what it would
    run as a formula (``=``, ``+``, ``-``, ``@`` first) or what starts with ``'``. Numbers
    stay numbers."""
    if not isinstance(value, str):
        return value
    value = printable(value)
    return "'" + value if value.startswith(FORMULA_START) else value


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 event', '2,000 events': the number with thousands separators and the word."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def hour_ranges(empty: list[str], labels: list[str]) -> str:
    """'00-08, 13' from the labels of empty hours, merging runs of adjacent hours. A
    repeated hour's label carries its offset ('01-4', '01-5'), so it stands alone."""
    idx = [labels.index(h) for h in empty]
    runs: list[list[int]] = []
    for i in idx:
        if runs and i == runs[-1][-1] + 1 and labels[i].isdigit() and labels[i - 1].isdigit():
            runs[-1].append(i)
        else:
            runs.append([i])
    return ", ".join(labels[r[0]] if len(r) == 1 else f"{labels[r[0]]}-{labels[r[-1]]}" for r in runs)


class Cached(dict):
    """``make(n)`` for each n, made once, up to LIMIT of them: a count's text (a report writes
    the same few thousand counts over and over, and formatting 24 numbers a row was a third
    of a text report's time), or a character's escape (a table for ``str.translate``)."""

    LIMIT = 10_000

    def __init__(self, make: Callable[..., str | int]):  # make(n); ...: mypy's view of a lambda n, w=w
        super().__init__()
        self.make = make

    def __missing__(self, n: int) -> str | int:
        text = self.make(n)
        if len(self) < self.LIMIT:
            self[n] = text
        return text


# ``printable``'s tables for ``str.translate``, which keeps no object a character: a list of
# them took 60 bytes each (a key of 16 million DEL characters, 1 GiB)
_SHOWN = Cached(lambda o: chr(o) if chr(o).isprintable() and not _HIDDEN.match(chr(o)) else _escaped(chr(o)))
_SHOWN_DECOMPOSED = Cached(lambda o: _SHOWN[o] if not _composes(chr(o)) else _escaped(chr(o)))


def in_pieces(texts: Iterable[str]) -> Iterator[str]:
    """``texts`` joined into pieces of at least PIECE characters (but the last): a report
    nested in generators passes each piece up through all of them, at a cost per piece.
    Cut by size, not by a count of lines: a key may be megabytes long."""
    piece: list[str] = []
    size = 0
    for text in texts:
        piece.append(text)
        size += len(text)
        if size >= PIECE:
            yield "".join(piece)
            piece, size = [], 0
    if piece:
        yield "".join(piece)


def repeats_hour(labels: list[str]) -> bool:
    """Whether a day's clock repeats an hour (labelled ``01-4``, ``01-5``): its times then
    need their offsets, the local time alone is ambiguous."""
    return any(len(h) > 2 for h in labels)


def to_second(iso: str, offset: bool) -> str:
    """An ISO time cut to the second, with its offset if ``offset``."""
    return iso[:19] + iso[26 if iso[19:20] == "." else 19:] if offset else iso[:19]

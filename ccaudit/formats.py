"""Report formats on the command line: ``--format``, which also takes a format's file
extension (``-f md``), and the format that ``-o``'s file name says."""
from __future__ import annotations

import difflib
import os

import click
from click.core import ParameterSource

from .options import Decorator

FORMATS = ["text", "json", "markdown", "csv", "html"]


class _Format(click.Choice):
    """One of the formats, or the extension of its files: ``-f md`` as ``-o report.md``."""

    def convert(self, value, param, ctx):
        named = FORMAT_OF.get(f".{value}".lower())
        return super().convert(named if named in self.choices else value, param, ctx)


def format_option(choices: list[str], help: str = "Output format.") -> Decorator:
    return click.option("-f", "--format", "fmt", type=_Format(choices, case_sensitive=False), default="text",
                        show_default=True, help=help)


FORMAT_OF = {".html": "html", ".htm": "html", ".json": "json", ".md": "markdown", ".markdown": "markdown",
             ".csv": "csv", ".txt": "text", ".text": "text"}
COMPRESSED = {  # a compressed file's extension, and a tool that makes it
    ".gz": "gzip", ".tgz": "gzip", ".z": "compress", ".bz2": "bzip2", ".tbz": "bzip2", ".tbz2": "bzip2", ".xz": "xz",
    ".txz": "xz", ".lzma": "xz", ".lz": "lzip", ".lz4": "lz4", ".lzo": "lzop", ".zst": "zstd", ".zstd": "zstd",
    ".tzst": "zstd", ".br": "brotli", ".sz": "snzip", ".zip": "zip", ".7z": "7z", ".rar": "rar"}
# Formats a report is not: the file would hold text under their name. Another extension
# (report.2024-05-06, report.log) is text, as a name without one, unless it is a near miss.
OTHER_FORMATS = frozenset(".xlsx .xls .ods .numbers .pdf .doc .docx .odt .rtf .jsonl .ndjson .xml .yaml .yml .tsv "
                          ".parquet .png .svg .jpg .jpeg .gif .tar .db .db3 .sqlite .sqlite3".split())
ASIDE = frozenset(".tmp .temp .part .new .old .bak .sav .save .orig".split())  # a file in the making or kept: no typo


def format_of(out_file: str, fmt: str) -> str:
    """The format -o's extension names (".json" alone too), unless --format was given. A
    compressed file's extension is refused: the report would be written uncompressed."""
    name = os.path.basename(out_file).lower()
    if tool := next((t for ext, t in COMPRESSED.items() if name.endswith(ext)), None):
        raise click.BadParameter(f"{out_file}: ccaudit does not compress a report; write it to stdout and pipe "
                                 f"it through {tool}, or drop the extension", param_hint=["-o", "--output"])
    if click.get_current_context().get_parameter_source("fmt") is not ParameterSource.DEFAULT:
        return fmt
    ext = os.path.splitext(name)[1] or (name if name in FORMAT_OF else "")
    if ext in ASIDE:  # report.json.tmp, to be renamed report.json: its format is the name's before
        ext = os.path.splitext(name[:-len(ext)])[1] or ext
    meant = "" if ext in FORMAT_OF or ext in OTHER_FORMATS or ext in ASIDE else _near_miss(ext)
    if ext in OTHER_FORMATS or meant:  # report.xlsx, audit.db, report.josn: not what the user will get
        store = f" (a store is given with --db {out_file})" if ext in (".db", ".db3", ".sqlite", ".sqlite3") else ""
        typo = f" (did you mean {meant}?)" if meant else ""
        raise click.BadParameter(f"{out_file}: {ext} names no report format{typo}; give --format, or a name "
                                 f"ending .html, .json, .md, .csv or .txt{store}", param_hint=["-o", "--output"])
    return FORMAT_OF.get(ext, fmt)


def _near_miss(ext: str) -> str:
    """The extension of a format other than text that ``ext`` looks mistyped from (two
    letters swapped, one added, dropped or changed: .josn, .xhtml, .jsn), or ''."""
    for known in (e for e, f in FORMAT_OF.items() if f != "text"):
        if sorted(ext) == sorted(known) or difflib.SequenceMatcher(None, ext, known).ratio() >= 0.75:
            return known
    return ""

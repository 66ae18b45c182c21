"""The rendered report (text, markdown, csv, json) of fixtures/sample-cli.txt, byte for byte
against tests/golden/report--sample-cli.<ext>.

``pytest --update-golden`` rewrites the golden files from the current output. The golden
files are then checked on their own against the hand counts of the sample (conftest.py) and
the text layout rules, so a wrong golden file cannot pass unnoticed:

* each section: a rule of dashes, the centred title, ``<date> ... Hour:  00 ... 23  Total``,
  an underline (row label padded with ``_``, 7 blanks, then ``_``), one row per key sorted by
  key, ``-`` for zero, the key column widened to the longest key (at least 30 characters);
* a day-section without rows says ``(no events)``.
"""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccaudit.render import section_text_lines
from ccaudit.report import Day, Row, Section

GOLDEN = Path(__file__).resolve().parent / "golden"

FORMATS = {"text": "txt", "markdown": "md", "csv": "csv", "json": "json"}
ROW_LABEL = {
    "kafka_authentication": "Principal",
    "mds_authorize": "Principal-Operation",
    "signin_failure": "Email (status)",
    "signin_success": "Email",
    "all_events": "Method",
}
TITLES = {
    "kafka_authentication": "Kafka Authentication",
    "mds_authorize": "MDS Authorize",
    "signin_failure": "Sign-In Failure",
    "signin_success": "Sign-In Success",
    "all_events": "All Audit Events",
}
SECTION_OF_TITLE = {v: k for k, v in TITLES.items()}
HOURS = [f"{h:02d}" for h in range(24)]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_golden(fmt, invoke, at_root, golden):
    # run from the repository root, so the load summary in json names "fixtures/sample-cli.txt"
    result = invoke("report", "fixtures/sample-cli.txt", "--format", fmt, "--quiet")
    assert result.exit_code == 0, result.stderr
    golden(f"report--sample-cli.{FORMATS[fmt]}", result.stdout_bytes)


def golden_text(ext: str) -> str:
    """tests/golden/report--sample-cli.<ext>, to check against the hand counts."""
    path = GOLDEN / f"report--sample-cli.{ext}"
    if not path.exists():
        pytest.skip(f"{path} not written yet")
    return path.read_text(encoding="utf-8")


def nonzero(cells: dict) -> dict:
    """Drop days without rows, so parsed renderings compare with the hand counts."""
    return {d: s for d, s in cells.items() if s}


# -- the golden files against the hand counts ------------------------------------------

def test_golden_json_holds_the_hand_counts(expected_sample, report_cells):
    doc = json.loads(golden_text("json"))
    s = doc["summary"]
    assert s["events"] == 13
    assert (s["first_day"], s["last_day"]) == ("2024-05-06", "2024-05-09")
    assert s["per_day"] == expected_sample["per_day"]
    want = expected_sample["load"]
    assert {k: s["load"][k] for k in ("records_read", "inserted", "duplicates", "noise_lines", "malformed")} == {
        k: want[k] for k in ("records_read", "inserted", "duplicates", "noise_lines", "malformed")}
    assert s["load"]["malformed_lines"] == [f"fixtures/sample-cli.txt:{n}" for n in want["malformed_line_numbers"]]
    assert report_cells(doc) == expected_sample["cells"]
    for day in doc["days"]:
        assert day["hour_labels"] == HOURS
        assert list(day["sections"]) == list(TITLES)
        assert [s["title"] for s in day["sections"].values()] == list(TITLES.values())
        for section in day["sections"].values():
            keys = [r["key"] for r in section["rows"]]
            assert keys == sorted(keys)
            for r in section["rows"]:
                assert r["total"] == sum(r["hours"])


def test_golden_json_row_statistics():
    doc = json.loads(golden_text("json"))
    rows = {(d["date"], sid, r["key"]): r for d in doc["days"] for sid, s in d["sections"].items()
            for r in s["rows"]}
    # line 11, 11:30:00+02:00 -> 09:30:00 UTC
    r = rows["2024-05-06", "mds_authorize", "u-8p71o5-CreateFlinkComputePoolWithAVeryLongName"]
    assert (r["first_seen"], r["last_seen"], r["peak_hour"], r["peak_count"]) == (
        "2024-05-06T09:30:00Z", "2024-05-06T09:30:00Z", "09", 1)
    # lines 1 and 3: 07:08:09.123 and 07:59:59
    r = rows["2024-05-06", "kafka_authentication", "sa-q1w2e3"]
    assert (r["first_seen"][:19], r["last_seen"][:19], r["peak_hour"], r["peak_count"]) == (
        "2024-05-06T07:08:09", "2024-05-06T07:59:59", "07", 2)
    # SignIn on 05-07: 1 at 00, 3 at 05 -> peak 05 with 3
    r = rows["2024-05-07", "all_events", "SignIn"]
    assert (r["peak_hour"], r["peak_count"], r["total"]) == ("05", 3, 4)


def test_golden_csv_holds_the_hand_counts(expected_sample):
    cells: dict = {d: {} for d in expected_sample["per_day"]}
    header = ["date", "section", "key", *HOURS, "total"]
    for row in csv.reader(io.StringIO(golden_text("csv"))):
        if not row:
            continue
        if row[0] == "date":
            assert row[: len(header)] == header
            continue
        date, sid, key, *rest = row
        hours = [int(n) for n in rest[:24]]
        assert int(rest[24]) == sum(hours)
        assert key not in cells[date].get(sid, {})
        cells[date].setdefault(sid, {})[key] = hours
    assert cells == expected_sample["cells"]


def test_golden_markdown_holds_the_hand_counts(expected_sample):
    text = golden_text("md")
    assert text.startswith("# Audit Summary for 13 events spanning 4 days from 2024-05-06\n")
    cells: dict = {}
    date = sid = None
    for line in text.splitlines():
        m = re.fullmatch(r"### (\d{4}-\d{2}-\d{2}) — (.+)", line)
        if m:
            date, sid = m.group(1), SECTION_OF_TITLE[m.group(2)]
            continue
        if sid is None or not line.startswith("|"):
            continue
        parts = [p.strip() for p in line.strip("|").split("|")]
        if parts[0] == ROW_LABEL[sid]:
            assert parts[1:] == [*HOURS, "Total"]
            continue
        if set(parts[0]) <= set("-:"):
            continue
        key, hours, total = parts[0], [0 if p == "-" else int(p) for p in parts[1:25]], int(parts[25])
        assert total == sum(hours) and "0" not in parts[1:25]
        cells.setdefault(date, {}).setdefault(sid, {})[key] = hours
    assert cells == nonzero(expected_sample["cells"])
    for date, n in expected_sample["per_day"].items():
        assert f"## {date} ({n} event{'' if n == 1 else 's'})" in text


def parse_text_sections(text: str) -> list[dict]:
    """Split the text report into its section blocks, checking the layout of each."""
    blocks = [b for b in text.split("\n\n") if b.startswith("-")]
    out = []
    for block in blocks:
        lines = block.split("\n")
        rule, title, head, under, *rows = lines
        assert set(rule) == {"-"}, rule
        sid = SECTION_OF_TITLE[title.strip()]
        # the title is centred on the rule
        assert title == TITLES[sid].center(len(rule)).rstrip()
        date = head[:10]
        # 24 hour cells of 1 + 5 characters and " " + a 7-wide Total follow the key column
        width = len(rule) - (24 * 6 + 8)
        keys = [r[:width].rstrip() for r in rows if r != "(no events)"]
        # the key column: at least 30, at least the row label + 3, and the longest key
        assert width == max([30, len(ROW_LABEL[sid]) + 3] + [len(k) for k in keys])
        hours_part = "".join(f"{h:>6}" for h in HOURS)[2:]
        assert head == f"{date:<{width - 3}}Hour:{hours_part}   Total", head
        assert len(rule) == len(head)
        assert under == f"{ROW_LABEL[sid]:_<{width - 3}}" + " " * 7 + "_" * (len(rule) - width - 4)
        cells = {}
        for r in rows:
            if r == "(no events)":
                continue
            key = r[:width].rstrip()
            assert r[width] == " " and len(r) == len(rule), r
            tokens = r[width:].split()
            assert len(tokens) == 25 and "0" not in tokens[:24]
            hours = [0 if t == "-" else int(t) for t in tokens[:24]]
            assert int(tokens[24]) == sum(hours)
            # each count sits right-aligned under its hour label
            for i, t in enumerate(tokens[:24]):
                end = width + 6 * (i + 1)
                assert r[end - len(t):end] == t and head[end - 2:end] == HOURS[i]
            cells[key] = hours
        assert list(cells) == sorted(cells), "rows are sorted by key"
        out.append({"date": date, "section": sid, "cells": cells, "rule": rule, "width": width,
                    "keys": keys})
    return out


@pytest.mark.parametrize("stats", [False, True])
@pytest.mark.parametrize("big", [12_345, 123_456, 1_234_567])
def test_two_spaces_part_every_column_of_a_text_row_whatever_its_counts(stats, big):
    # was: a count as wide as its column (5 digits in an hour, 7 in a total) had one space
    # before it ("- 12345"), and a tool splitting the row at two spaces read two cells as one
    hours = [0] * 24
    hours[10], hours[11] = big, 1
    rows = [Row("sa-hot", hours, big + 1, "2024-05-06T10:00:00", "2024-05-06T11:00:00", "10", big),
            Row("sa-cold", [1] * 24, 24, "2024-05-06T00:00:00", "2024-05-06T23:00:00", "00", 1)]
    day = Day("2024-05-06", big + 25, HOURS, {})
    text = "".join(section_text_lines(day, Section("kafka_authentication", "Kafka Authentication", rows), stats))
    cells = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.startswith("sa-")]
    assert [len(c) for c in cells] == [1 + 24 + 1 + 4 * stats] * 2
    assert (cells[0][11], cells[0][25]) == (str(big), str(big + 1))


def test_golden_text_layout_and_hand_counts(expected_sample):
    text = golden_text("txt")
    lines = text.split("\n")
    assert lines[0] == "Audit Summary for 13 events spanning 4 days from 2024-05-06"
    assert lines[1].startswith("2024-05-06:(7 events)")
    assert lines[2].startswith("2024-05-07:(5 events)")
    assert lines[3] == "2024-05-08:(0 events)"
    assert lines[4].startswith("2024-05-09:(1 event)")
    sections = parse_text_sections(text)
    # 4 days (the empty 05-08 too) x 5 sections, in order
    assert [(s["date"], s["section"]) for s in sections] == [
        (d, sid) for d in expected_sample["per_day"] for sid in TITLES]
    cells: dict = {}
    for s in sections:
        if s["cells"]:
            cells.setdefault(s["date"], {})[s["section"]] = s["cells"]
    assert cells == nonzero(expected_sample["cells"])
    widths = {(s["date"], s["section"]): s["width"] for s in sections}
    # widened to the longest key; 30 otherwise
    assert widths["2024-05-06", "kafka_authentication"] == len("None:UNKNOWN_USER (UNAUTHENTICATED)")
    assert widths["2024-05-06", "mds_authorize"] == len("u-8p71o5-CreateFlinkComputePoolWithAVeryLongName")
    assert widths["2024-05-07", "signin_failure"] == len(
        "a.very.long.email.address.for.testing@example-corporation.com (401)")
    assert widths["2024-05-08", "all_events"] == 30
    # a 30-character key column makes the old tool's rule plus a Total column
    assert len(next(s["rule"] for s in sections if s["width"] == 30)) == 30 + 24 * 6 + 8
    assert text.endswith("\n\n")


@settings(max_examples=300, deadline=None)
@given(key=st.text(), hours=st.lists(st.integers(0, 10**9), max_size=25), depth=st.integers(0, 4),
       seen=st.text(max_size=30))
def test_a_json_row_is_written_as_json_dumps_would_indent_it(key, hours, depth, seen):
    # rows are written out by hand (json's indenting encoder is slow): the text must be the
    # same, escapes included, as json.dumps(indent=2) of the row's data at that depth
    from ccaudit import jsontext
    from ccaudit.report import Row
    from ccaudit.text import Cached

    row = Row(key, hours, sum(hours), seen, seen[::-1], "07+1", max(hours, default=0))
    data = {"key": key, "hours": hours, "total": sum(hours), "first_seen": seen, "last_seen": seen[::-1],
            "peak_hour": "07+1", "peak_count": max(hours, default=0)}
    for limit in (Cached.LIMIT, 2):  # the counts' text remembered, or past the limit
        with mock.patch.object(Cached, "LIMIT", limit):
            text = jsontext._row_text(row, depth, Cached(str).__getitem__)
        assert text == jsontext.to_json(data, depth)
        assert json.loads(text) == data


@settings(max_examples=300, deadline=None)
@given(hours=st.lists(st.sampled_from([0, 1, 10, 100, 101, 1000, 10000, 100000, 1000000, 9, 90, 12345678]),
                      min_size=24, max_size=24))
def test_a_text_row_shows_each_count_and_a_dash_for_none(hours):
    # each distinct count is formatted once and remembered, up to a limit: counts holding
    # the digit 0 (10, 100, ...) come out whole, each in a column of its own, remembered or not
    from ccaudit import render
    from ccaudit.report import Day, Row, Section
    from ccaudit.text import Cached

    labels = [f"{h:02d}" for h in range(24)]
    section = Section("kafka_authentication", "Kafka Authentication",
                      [Row("sa-1", hours, sum(hours), "", "", "00", max(hours))] * 2)
    for limit in (Cached.LIMIT, 2):
        with mock.patch.object(Cached, "LIMIT", limit):
            text = "".join(render.section_text_lines(Day("2024-05-06", sum(hours), labels, {}), section))
        lines = text.splitlines(keepends=True)
        assert lines[-2] == lines[-3]
        *cells, total = lines[-2].split()[1:]
        assert cells == [str(n) if n else "-" for n in hours]
        assert total == str(sum(hours))


@settings(max_examples=100, deadline=None)
@given(hours=st.lists(st.lists(st.sampled_from([0, 1, 99, 12345, 123456, 10**7]), min_size=24, max_size=24),
                      min_size=1, max_size=4), stored=st.booleans())
def test_a_text_table_with_stats_sizes_its_cells_by_the_largest_count(hours, stored):
    # with --stats, a stored row's peak count (worked out in the sizing pass) is its largest
    # count; a program's row is sized by its hours, whatever peak count it gives (here 0)
    from datetime import timezone

    from ccaudit import render
    from ccaudit.clock import Clock
    from ccaudit.report import Day, Row, Section, _StoredRow

    labels, us = [f"{h:02d}" for h in range(24)], 1714953600 * 10**6
    rows = [_StoredRow(f"k{i}", h, lambda: (us, us), labels, Clock(timezone.utc)) if stored
            else Row(f"k{i}", h, sum(h), "2024-05-06T00:00:00Z", "2024-05-06T00:00:00Z", "00", 0)
            for i, h in enumerate(hours)]
    day = Day("2024-05-06", sum(map(sum, hours)), labels, {})
    lines = "".join(render.section_text_lines(day, Section("kafka_authentication", "K", rows), stats=True)).splitlines()
    body = lines[4:4 + len(rows)]
    assert {len(line) for line in body} == {len(lines[0])}  # every row as wide as the rule: no cell overflows
    assert [line.split()[1:25] for line in body] == [[str(n) if n else "-" for n in h] for h in hours]


def test_wide_and_combining_characters_keep_text_and_markdown_columns_in_line():
    # a terminal gives a Chinese character two columns and a combining accent none:
    # counted as characters, "日本語" pushed its counts 3 columns left of the others'
    from ccaudit import render
    from ccaudit.report import Day, Row, Section

    keys = ["bob", "日本語", "x\u0301mile", "ｆｕｌｌ"]  # 3, 6, 5 and 8 columns; sorted by code point (x\u0301:
    # composed form, NFC, has no x with an acute; an e\u0301 would be shown escaped, as not NFC)
    rows = [Row(k, [i + 1, 0], i + 1, "", "", "00", i + 1) for i, k in enumerate(sorted(keys))]
    day, section = Day("2024-05-06", 10, ["00", "01"], {}), Section("kafka_authentication", "K", rows)
    text = "".join(render.section_text_lines(day, section)).splitlines()[4:8]
    assert text == [
        "bob" + " " * 27 + "     1     -       1",
        "x\u0301mile" + " " * 25 + "     2     -       2",
        "日本語" + " " * 24 + "     3     -       3",
        "ｆｕｌｌ" + " " * 22 + "     4     -       4",
    ]
    markdown = "".join(render.section_markdown_lines(day, section)).splitlines()[2:]
    assert markdown[:6] == [
        "| Principal   |   00 |   01 |   Total |",
        "|:------------|-----:|-----:|--------:|",
        "| bob         |    1 |    - |       1 |",
        "| x\u0301mile       |    2 |    - |       2 |",
        "| 日本語      |    3 |    - |       3 |",
        "| ｆｕｌｌ    |    4 |    - |       4 |",
    ]


def test_a_csv_report_with_no_events_has_the_hour_columns_of_one_with_some(invoke, sample_cli):
    # was: "date,section,key,total,...": a program reading the columns by position broke
    full = invoke("report", sample_cli, "--format", "csv", "-q").stdout.splitlines()[0]
    empty = invoke("report", sample_cli, "--format", "csv", "--since", "2030-01-01", "-q").stdout
    assert empty.splitlines() == [full] and full.split(",")[3:27] == HOURS


def test_a_csv_row_escapes_every_text_cell_of_a_row_a_program_built():
    # ccaudit's own rows take their dates, times and labels from the store; a program's
    # Row may hold anything, and its CSV must still open in a spreadsheet as text
    from ccaudit import render
    from ccaudit.report import Day, Row, Section

    labels = [f"{h:02d}" for h in range(24)]
    row = Row("=k", [1] + [0] * 23, 1, '=HYPERLINK("http://x")', "\t-x", "+05", 1)
    day = Day("@2024-01-01", 1, labels, {"all_events": Section("-all", "T", [row])})
    cells = list(csv.reader(io.StringIO("".join(render.day_chunks(day, "csv")))))[1]
    assert cells[:3] == ["'@2024-01-01", "'-all", "'=k"]
    assert cells[-4:] == ["'=HYPERLINK(\"http://x\")", "\\x09-x", "'+05", "1"]
    assert cells[3:27] == ["1"] + ["0"] * 23


@given(st.lists(st.integers(min_value=0, max_value=3 * 2**16), max_size=40))
def test_output_is_passed_up_in_pieces_cut_by_size(lengths):
    # Lines are joined into pieces of at least PIECE characters, but the last: a piece
    # never holds more than one line past PIECE, whatever the number of lines.
    from ccaudit.text import PIECE, in_pieces

    texts = [chr(97 + i % 26) * n for i, n in enumerate(lengths)]
    pieces = list(in_pieces(texts))
    assert "".join(pieces) == "".join(texts)
    assert all(len(p) >= PIECE for p in pieces[:-1])
    assert all(len(p) < PIECE + max(lengths) for p in pieces)
    assert len(pieces) <= len(texts)


_counts = st.integers(min_value=0, max_value=3) | st.integers(min_value=0, max_value=10**7)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text("ab", min_size=1, max_size=40), st.lists(_counts, min_size=4, max_size=4)),
                min_size=1, max_size=6, unique_by=lambda r: r[0]),
       st.sampled_from([["00", "01", "02", "03"], ["01", "02+1", "02", "03"]]), st.booleans())
def test_a_markdown_table_is_laid_out_as_tabulate_lays_it_out(rows, labels, stats):
    # a column is as wide as its header and 2, or its widest count; a count of 5 digits or
    # more in any row widens its own column only
    from tabulate import tabulate

    from ccaudit import render
    from ccaudit.report import Day, Row, Section

    made = [Row(k, c, sum(c), "2024-01-01T00:00:00Z", "2024-01-01T03:00:00.5Z", labels[c.index(max(c))], max(c))
            for k, c in rows]
    day = Day("2024-01-01", sum(r.total for r in made), labels, {})
    head = ["Principal", *labels, "Total"] + (["First seen", "Last seen", "Peak hour", "Peak count"] if stats else [])
    table = [[r.key, *(n or "-" for n in r.hours), r.total, *(r.stats() if stats else ())] for r in made]
    want = tabulate([[str(c) for c in t] for t in table], head, tablefmt="pipe", disable_numparse=True,
                    colalign=["left"] + ["right"] * (len(head) - 1))
    got = "".join(render.section_markdown_lines(day, Section("kafka_authentication", "T", made), stats))
    assert got == f"### 2024-01-01 — T\n\n{want}\n\n"


_cell_text = st.text(st.sampled_from(list('ab ,"\r\n\t=+-@\x1b\u202eé')), max_size=8)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_cell_text, st.lists(st.integers(0, 10**6), min_size=24, max_size=24), _cell_text,
                          _cell_text, _cell_text), min_size=1, max_size=5),
       _cell_text, _cell_text)
def test_a_csv_row_is_written_as_the_csv_module_writes_its_escaped_cells(rows, date, sid):
    # ccaudit writes its report lines itself; csv.writer over the same spreadsheet-safe
    # cells is the reference: quoting, doubled quotes, numbers, empty cells
    from ccaudit import render
    from ccaudit.report import Day, Row, Section
    from ccaudit.text import spreadsheet_cell

    labels = [f"{h:02d}" for h in range(24)]
    made = [Row(k, c, sum(c), first, last, peak, max(c)) for k, c, first, last, peak in rows]
    day = Day(date, sum(r.total for r in made), labels, {"x": Section(sid, "T", made)})
    want = io.StringIO()
    writer = csv.writer(want, lineterminator="\n")
    writer.writerow(["date", "section", "key", *labels, "total", "first_seen", "last_seen", "peak_hour",
                     "peak_count"])
    for r in made:
        writer.writerow([spreadsheet_cell(date), spreadsheet_cell(sid), spreadsheet_cell(r.key), *r.hours, r.total,
                         *map(spreadsheet_cell, r.stats())])
    assert "".join(render.day_chunks(day, "csv")) == want.getvalue()

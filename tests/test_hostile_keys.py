"""Row keys come from the records, so an attacker chooses them: a failed sign-in's email is
whatever was typed. Every format must show them as inert text, and no key may blow up
the size of a report."""
from __future__ import annotations

import re
import sys
from unicodedata import bidirectional

import pytest
from bidi import get_display
from wcwidth import wcswidth

from ccaudit.render import KEY_WIDTH
from ccaudit.text import _RTL_BLOCKS, ltr_cell
from tests.records import request, signin, write_jsonl


def signins(tmp_path, emails: list[str], name: str = "signins.jsonl") -> str:
    """A dump of one successful sign-in per email, all in the same hour."""
    return write_jsonl(tmp_path, [signin("2024-05-07T05:00:00Z", email) for email in emails], name)


def test_markdown_keys_cannot_make_links_or_html(invoke, tmp_path):
    dump = signins(tmp_path, ["[x](javascript:alert(1))", "![i](http://t/p.png)", "<img src=x>", "a|b",
                              "https://evil.example/login?reset=1", "www.evil.example", "_www.evil.example",
                              "alice_WWW.evil.example/reset"])
    out = invoke("report", dump, "--format", "markdown", "--section", "signin_success", "-q").stdout
    assert r"\[x\](javascript:alert(1))" in out and r"!\[i\](http\://t/p.png)" in out
    assert "&lt;img src=x&gt;" in out and r"a\|b" in out
    assert "[x](" not in out and "<img" not in out
    # bare addresses, which GitHub's markdown makes links of: was left as they are
    assert r"https\://evil.example/login?reset=1" in out and r"www\.evil.example" in out
    # after "_", a word character, too (GitHub links it): was left as it is
    assert r"_www\.evil.example" in out and r"alice_WWW\.evil.example/reset" in out
    assert "://" not in out.replace("\\://", "")


@pytest.mark.parametrize("fmt", ["text", "csv", "markdown", "html"])
def test_keys_with_invisible_characters_do_not_pass_for_others(invoke, tmp_path, fmt):
    # an email and the same with a Hangul filler (U+3164, shown as nothing) after it: were
    # shown alike in every format but JSON
    emails = ["alice@example.com", "alice@example.com\u3164", "bob@example.com\u2800", "carol\u034f@example.com",
              "CORP\\dave"]
    out = invoke("report", signins(tmp_path, emails), "--format", fmt, "--section", "signin_success", "-q").stdout
    assert "\u3164" not in out and "\u2800" not in out and "\u034f" not in out
    for each in (r"alice@example.com\u3164", r"bob@example.com\u2800", r"carol\u034f@example.com"):
        assert (each.replace("\\", "\\\\") if fmt == "markdown" else each) in out, each
    assert (r"CORP\\dave" if fmt == "markdown" else r"CORP\dave") in out  # a backslash as it is: what --principal takes


@pytest.mark.parametrize("fmt", ["text", "csv", "markdown", "html"])
def test_keys_alike_but_for_end_spaces_or_composition_are_told_apart(invoke, tmp_path, fmt):
    # were shown alike in every format but JSON (and CSV, for the spaces): three rows reading
    # ana@x.com, two reading josé@x.com (é composed, and e with a combining acute)
    emails = ["ana@x.com", "ana@x.com ", " ana@x.com", "jos\u00e9@x.com", "jose\u0301@x.com", "x\u0301@x.com"]
    out = invoke("report", signins(tmp_path, emails), "--format", fmt, "--section", "signin_success", "-q").stdout
    bs = "\\\\" if fmt == "markdown" else "\\"
    for each in ("ana@x.com" + bs + "x20", bs + "x20ana@x.com", "jose" + bs + "u0301@x.com", "jos\u00e9@x.com"):
        assert each in out, each
    assert "e\u0301" not in out
    assert "x\u0301@x.com" in out  # composed form (NFC) has no x with an acute: shown as it is


@pytest.mark.parametrize("fmt", ["text", "csv", "markdown", "html"])
def test_keys_that_compose_other_than_by_a_combining_mark_are_told_apart(invoke, tmp_path, fmt):
    # were shown alike: the Angstrom sign and A with a ring, Hangul jamo and their syllable, a
    # compatibility ideograph and its ideograph, an Oriya vowel in two parts and in one; and
    # a key that is a combining mark joined the column separator before it
    pairs = [("\u212b", "\u00c5"), ("\u1100\u1161", "\uac00"), ("\uf900", "\u8c48"), ("x\u0b47\u0b3e", "x\u0b4b")]
    emails = [f"{k}@x.com" for pair in pairs for k in pair] + ["\u0301@x.com"]
    out = invoke("report", signins(tmp_path, emails), "--format", fmt, "--section", "signin_success", "-q").stdout
    bs = "\\\\" if fmt == "markdown" else "\\"
    for shown in (bs + "u212b", "\u1100" + bs + "u1161", bs + "uf900", "x" + bs + "u0b47" + bs + "u0b3e", bs + "u0301"):
        assert shown + "@x.com" in out, shown
    for composed in ("\u00c5@x.com", "\uac00@x.com", "\u8c48@x.com", "x\u0b4b@x.com"):
        assert composed in out, composed
    assert "\u1161" not in out and "\u212b" not in out and "\u0b3e" not in out


def test_one_huge_key_does_not_pad_every_row(invoke, tmp_path):
    huge = "h" * 1_000_000 + "@example.com"
    dump = signins(tmp_path, [huge, "alice@example.com"])
    small_dump = signins(tmp_path, ["alice@example.com"], "small.jsonl")
    small = invoke("report", small_dump, "--section", "signin_success", "-q").stdout
    out = invoke("report", dump, "--section", "signin_success", "-q").stdout
    lines = out.splitlines()
    assert huge in lines  # printed whole, on a line of its own
    others = [line for line in lines if line != huge]
    assert max(map(len, others)) == max(map(len, small.splitlines()))
    assert len(out) < len(huge) + 20_000


@pytest.mark.parametrize("args", [
    ["report", "{dump}", "--format", "markdown", "--section", "signin_success"],
    ["check", "{dump}", "--max", "signin_success:*=0/h"],
    ["diff", "{dump}", "{small}"],
    ["diff", "{dump}", "{small}", "--format", "markdown"],
], ids=["report markdown", "check", "diff", "diff markdown"])
def test_one_huge_key_does_not_pad_every_row_of_any_table(invoke, tmp_path, args):
    # was: markdown reports, check's and diff's tables padded every row to the longest
    # key: a 1.8 MB dump made 1 GB of output
    huge = "h" * 100_000 + "@example.com"
    dump = signins(tmp_path, [huge] + [f"user{i}@example.com" for i in range(300)])
    small = signins(tmp_path, ["alice@example.com"], "small.jsonl")
    result = invoke(*[a.format(dump=dump, small=small) for a in args], "-q")
    assert result.exit_code in (0, 1), result.stderr
    assert huge in result.stdout and len(result.stdout) < len(huge) + 100_000


def test_a_key_on_a_line_of_its_own_cannot_pass_for_a_row(invoke, tmp_path):
    # a key over KEY_WIDTH columns that held "sa-admin", spaces and counts laid out as a row
    # showed a principal sa-admin with an event at hour 03, above the real row's counts
    cells = ["-"] * 24
    cells[3] = "1"
    forged = "sa-admin" + " " * 92 + "".join(f"  {c:>2}" for c in cells) + "   1"
    out = invoke("report", signins(tmp_path, [forged, "sa-other"]), "--section", "signin_success", "-q").stdout
    own = next(line for line in out.splitlines() if line.startswith("sa-admin"))
    assert "  " not in own and own.replace(r"\x20", " ") == forged


@pytest.mark.parametrize("args", [
    ["report", "{dump}", "--section", "signin_success"],
    ["report", "{dump}", "--section", "all_events"],
    ["check", "{dump}", "--max", "signin_success:*=0/h"],
    ["diff", "{dump}", "{small}"],
    ["methods", "{dump}"],
], ids=["report", "report of methods", "check", "diff", "methods"])
def test_a_key_in_a_text_table_cannot_hold_cells_of_its_own(invoke, tmp_path, args):
    # was: a key within the column's width kept its runs of spaces, so an email or a method
    # "sa-admin", spaces and "9999" showed counts beside its own
    forged = "sa-admin    9999    9999"
    dump = write_jsonl(tmp_path, [signin("2024-05-07T05:00:00Z", forged), request(method=forged)], "forged.jsonl")
    small = signins(tmp_path, ["alice@example.com"], "small.jsonl")
    out = invoke(*[a.format(dump=dump, small=small) for a in args], "-q").stdout
    escaped = forged.replace(" ", r"\x20")
    assert escaped in out and "sa-admin " not in out and " 9999" not in out


@pytest.mark.parametrize("fmt, key_cell, escaped", [
    ("html", r'<th class="k" scope="row"[^>]*>([^<]*)</th>', r"ana\x20\x20lee@x.com"),
    ("markdown", r"^\| (ana[^|]*?) +\|", r"ana\\x20\\x20lee@x.com"),  # markdown's escape of a backslash
])
def test_keys_that_differ_in_their_runs_of_spaces_differ_on_a_page(invoke, tmp_path, fmt, key_cell, escaped):
    # was: "a b" and "a  b" both shown as "a b", since a page shows a run of spaces as one
    dump = signins(tmp_path, ["ana lee@x.com", "ana  lee@x.com"])
    out = invoke("report", dump, "--format", fmt, "--section", "signin_success", "-q").stdout
    shown = [" ".join(k.split()) for k in re.findall(key_cell, out, re.M)]
    assert sorted(shown) == ["ana lee@x.com", escaped]


def test_the_key_column_widens_up_to_its_cap(invoke, tmp_path):
    key = "k" * (KEY_WIDTH - 12) + "@example.com"
    out = invoke("report", signins(tmp_path, [key]), "--section", "signin_success", "-q").stdout
    assert any(line.startswith(key + " ") for line in out.splitlines())


def _counting_reads(monkeypatch) -> list[str]:
    """The sections read from the store's counts, one entry per reading: every row in key
    order (``columns``), or the busiest (``busiest``)."""
    from ccaudit.counts import Selection

    reads: list[str] = []
    for name in ("columns", "busiest"):
        read = getattr(Selection, name)
        monkeypatch.setattr(Selection, name, lambda self, s, *a, read=read: reads.append(s) or read(self, s, *a))
    return reads


def test_html_shows_the_busiest_rows_of_a_huge_section_reading_it_once(invoke, tmp_path, monkeypatch):
    from ccaudit import cells
    from ccaudit.html import MAX_ROWS

    reads, made = _counting_reads(monkeypatch), []
    stored_hours = cells.stored_hours
    monkeypatch.setattr(cells, "stored_hours", lambda rows: made.append(1) or stored_hours(rows))
    emails = [f"user{i:05d}@example.com" for i in range(MAX_ROWS + 50)] + ["busy@example.com"] * 3
    path = signins(tmp_path, emails)
    page = invoke("report", path, "--format", "html", "--section", "signin_success", "-q").stdout
    assert page.count("@example.com") == 2 * MAX_ROWS  # each key is shown and in its row's title
    assert "busy@example.com" in page and "user00249@example.com" not in page
    assert f"The {MAX_ROWS} busiest of {MAX_ROWS + 51} keys" in page
    assert reads == ["signin_success"]  # a day of 300,000 keys costs one reading, not two
    assert len(made) == MAX_ROWS + 1  # only the rows shown are made (SQLite counts and sorts the rest), and the
    # busiest once more, for the shading scale


@pytest.mark.parametrize(("top", "said"), [(None, "every row"), (240, "the 240 busiest (--top 240)"),
                                            (500, "every row")])
def test_html_says_what_the_other_formats_hold_of_a_huge_section(invoke, tmp_path, top, said):
    # was "the CSV and JSON reports have every row" under --top 240, where they have 240
    from ccaudit.html import MAX_ROWS

    path = signins(tmp_path, [f"user{i:05d}@example.com" for i in range(MAX_ROWS + 50)])
    top_args = ["--top", str(top)] if top else []
    page = invoke("report", path, "--format", "html", "--section", "signin_success", "-q", *top_args).stdout
    assert f"The {MAX_ROWS} busiest of {MAX_ROWS + 50} keys; the CSV and JSON reports have {said}." in page
    csv = invoke("report", path, "--format", "csv", "--section", "signin_success", "-q", *top_args).stdout
    assert len(csv.splitlines()) - 1 == min(top or MAX_ROWS + 50, MAX_ROWS + 50)


def _spread_signins(tmp_path, n: int) -> str:
    """n distinct emails signed in between 01:00 and 17:59 UTC on one day, and every 7th
    again at 20:00 UTC: after midnight in Asia/Kolkata and Asia/Kathmandu, so those keys
    are in both local days, with events on both sides of the first day's end."""
    records = [signin(f"2024-05-07T{i % 17 + 1:02d}:{i % 60:02d}:{i % 59:02d}.{i:06d}Z", f"u{i:05d}@example.com")
               for i in range(n)]
    records += [signin("2024-05-07T20:00:00Z", f"u{i:05d}@example.com") for i in range(0, n, 7)]
    return write_jsonl(tmp_path, records)


@pytest.mark.parametrize("args, rows, days", [
    (["--format", "text"], 300, 1), (["--format", "text", "--stats"], 300, 1),
    (["--format", "markdown"], 300, 1), (["--format", "markdown", "--stats"], 300, 1),
    (["--format", "text", "--stats", "--tz", "Asia/Kolkata"], 300 + 43, 2),
    (["--format", "markdown", "--stats", "--tz", "Asia/Kathmandu", "--top", "40"], 40 + 40, 2)])
def test_text_and_markdown_read_a_section_beyond_the_rows_they_hold_once(invoke, tmp_path, monkeypatch, args, rows,
                                                                         days):
    """They size their columns before writing them: a section of more rows than the
    spool holds in memory is read once, the rest of the second pass from its file."""
    from ccaudit.spool import Spool

    report = ["report", _spread_signins(tmp_path, 300), "--section", "signin_success", "-q", *args]
    held = invoke(*report).stdout  # every row held in memory: the path the golden reports check
    reads = _counting_reads(monkeypatch)
    monkeypatch.setattr(Spool, "IN_MEMORY", 10)
    monkeypatch.setattr(Spool, "BATCH", 7)
    spooled = invoke(*report).stdout
    assert spooled == held
    assert held.count("@example.com") == rows
    assert reads == ["signin_success"] * days


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_a_spooled_rows_stats_are_worked_out_once(invoke, tmp_path, monkeypatch, fmt):
    """With --stats a table works out each row's stats while it sizes its columns; a row
    past those the spool holds takes them to its file: its times are not made again."""
    from ccaudit.clock import Clock
    from ccaudit.spool import Spool

    report = ["report", _spread_signins(tmp_path, 300), "--section", "signin_success", "--format", fmt, "--stats",
              "--tz", "Asia/Kolkata", "-q"]
    calls, iso = [], Clock.iso
    monkeypatch.setattr(Clock, "iso", lambda self, us: calls.append(us) or iso(self, us))
    held = invoke(*report).stdout
    made, calls[:] = len(calls), []
    monkeypatch.setattr(Spool, "IN_MEMORY", 10)
    assert invoke(*report).stdout == held
    assert len(calls) == made


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_a_section_of_long_keys_is_spooled_by_their_length(invoke, tmp_path, monkeypatch, fmt):
    """Keys can be megabytes long: the rows held in memory and a batch written to the
    spool's file are bounded by the length of their keys, whatever their number."""
    from ccaudit.spool import Spool

    report = ["report", _spread_signins(tmp_path, 300), "--section", "signin_success", "--format", fmt, "-q"]
    held = invoke(*report).stdout
    reads = _counting_reads(monkeypatch)
    monkeypatch.setattr(Spool, "IN_MEMORY_WEIGHT", 50)  # 3 keys of 18 characters
    monkeypatch.setattr(Spool, "BATCH_WEIGHT", 100)
    files, close = [], Spool.close
    monkeypatch.setattr(Spool, "close", lambda self: files.append(len(self.file.sizes)) or close(self))
    assert invoke(*report).stdout == held
    assert reads == ["signin_success"] and files == [-(-(300 - 3) // 6)]  # 6 keys a batch


def test_a_spool_that_cannot_be_written_reads_the_store_again(invoke, tmp_path, monkeypatch):
    import errno

    from ccaudit import spool

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    path = _spread_signins(tmp_path, 100)
    report = ["report", path, "--section", "signin_success", "-q"]
    held = invoke(*report).stdout
    reads = _counting_reads(monkeypatch)
    monkeypatch.setattr(spool.Spool, "IN_MEMORY", 10)
    monkeypatch.setattr(spool.tempfile, "TemporaryFile", full)
    assert invoke(*report).stdout == held
    assert reads == ["signin_success"] * 2


def test_html_shows_the_start_of_a_huge_key_and_says_so(invoke, tmp_path):
    """A key of megabytes, 200 times a section, would make a page of gigabytes that no one
    can read: html shows a key's first MAX_KEY characters and says how long it is; CSV and
    JSON have it whole."""
    import csv
    import io

    from ccaudit.html import MAX_KEY

    huge = "h" * 300_000 + "@example.com"
    dump = signins(tmp_path, [huge, "alice@example.com"])
    page = invoke("report", dump, "--format", "html", "--section", "signin_success", "-q").stdout
    assert huge not in page and "alice@example.com" in page
    assert page.count("h" * MAX_KEY + "…") == 2  # the row's key, and its title
    assert "h" * (MAX_KEY + 1) not in page
    assert f"the first {MAX_KEY:,} of {len(huge):,} characters: CSV and JSON have the whole key" in page
    table = invoke("report", dump, "--format", "csv", "--section", "signin_success", "-q").stdout
    limit = csv.field_size_limit(len(huge) + 1)
    try:
        assert huge in {row[2] for row in csv.reader(io.StringIO(table))}
    finally:
        csv.field_size_limit(limit)


def _right_to_left(text: str) -> bool:
    return any(bidirectional(c) in ("R", "AL") for c in text)


def _laid_out_in_place(line: str) -> bool:
    """Whether a viewer that applies Unicode's bidirectional rules (python-bidi's) leaves
    every character but the right-to-left letters where it is in ``line``."""
    def letters_masked(text: str) -> str:
        return "".join("R" if _right_to_left(c) else c for c in text)
    return letters_masked(get_display(line, base_dir="L")) == letters_masked(line)


HEBREW, ARABIC = "\u05d0\u05d1\u05d2@x.com", "\u0645\u0631\u062d\u0628\u0627"


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_right_to_left_keys_leave_the_counts_in_their_columns(invoke, tmp_path, fmt):
    # a viewer that applies the bidirectional rules (a browser showing the .txt) laid out the
    # spaces and counts after a Hebrew or Arabic key right to left: hour 01's count under hour 16
    dump = write_jsonl(tmp_path, [signin(f"2024-05-07T{h}:00:00Z", email) for h, email in
                                  [("01", HEBREW), ("09", HEBREW), ("01", ARABIC), ("02", "sa-normal")]])
    out = invoke("report", dump, "--format", fmt, "--section", "signin_success", "-q").stdout
    rows = [line for line in out.splitlines() if _right_to_left(line)]
    assert len(rows) == 2 and all(map(_laid_out_in_place, rows)), rows


def test_right_to_left_names_leave_the_other_columns_of_a_table_in_place(invoke, tmp_path):
    dump = write_jsonl(tmp_path, [request(method=ARABIC), request(method="GetUsers")])
    out = invoke("methods", dump, "-q").stdout
    rows = [line for line in out.splitlines() if _right_to_left(line)]
    assert len(rows) == 1 and _laid_out_in_place(rows[0]), rows


def test_every_right_to_left_letter_is_in_the_blocks_searched():
    outside = [c for c in map(chr, range(sys.maxunicode + 1)) if _right_to_left(c) and not _RTL_BLOCKS.match(c)]
    assert outside == ["\u200f"]  # the right-to-left mark, a format character, shown escaped
    assert ltr_cell("\\u200f") == "\\u200f" and ltr_cell("\u00e9\u4e2d") == "\u00e9\u4e2d"


def test_keys_of_emoji_and_old_hangul_keep_the_columns_in_line(invoke, tmp_path):
    # a thumbs-up with a skin tone counted four columns, and a Hangul initial and old vowel
    # three, where terminals (and wcwidth) show two: their rows' counts a column or two off
    keys = ["x\U0001f44d\U0001f3fdy", "x\U0001f44dy", "x\u1100\u1176y", "\u65e5\u672c", "e\u0301t\u00e9", "plain"]
    dump = write_jsonl(tmp_path, [signin(f"2024-05-07T{h:02}:00:00Z", k) for h, k in enumerate(keys)])
    for fmt in ("text", "markdown"):
        out = invoke("report", dump, "--format", fmt, "--section", "signin_success", "-q").stdout
        rows = [line for line in out.splitlines() if line.lstrip("| ").startswith(("x", "e", "p", "\u65e5"))]
        assert len(rows) == len(keys) and len({wcswidth(line) for line in rows}) == 1, rows


@pytest.mark.parametrize("shown", ["printable", "json"])
def test_a_long_key_of_characters_shown_escaped_takes_memory_of_its_own_size(shown):
    # was a list of one string a character (60 bytes each), or a substitution's pieces (80 bytes
    # each): one record whose key was 16 million DEL characters made a report of 1.2 GiB
    import tracemalloc

    from ccaudit import jsontext, text

    key = "\x7f\u0085" * 500_000
    show = text.printable if shown == "printable" else lambda k: jsontext.to_json(k, 1)
    tracemalloc.start()
    try:
        out = show(key)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.count("\\x7f" if shown == "printable" else "\\u007f") == 500_000
    assert peak < 4 * len(out) + (1 << 20)  # the text made, and a copy or two

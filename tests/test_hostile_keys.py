"""Row keys come from the records, so an attacker chooses them: a failed sign-in's email is
whatever was typed. Every format must show them as inert text, and no key may blow up
the size of a report."""
from __future__ import annotations

import pytest

from ccaudit.render import KEY_WIDTH
from tests.records import signin, write_jsonl


def signins(tmp_path, emails: list[str], name: str = "signins.jsonl") -> str:
    """A dump of one successful sign-in per email, all in the same hour."""
    return write_jsonl(tmp_path, [signin("2024-05-07T05:00:00Z", email) for email in emails], name)


def test_markdown_keys_cannot_make_links_or_html(invoke, tmp_path):
    dump = signins(tmp_path, ["[x](javascript:alert(1))", "![i](http://t/p.png)", "<img src=x>", "a|b"])
    out = invoke("report", dump, "--format", "markdown", "--section", "signin_success", "-q").stdout
    assert r"\[x\](javascript:alert(1))" in out and r"!\[i\](http://t/p.png)" in out
    assert "&lt;img src=x&gt;" in out and r"a\|b" in out
    assert "[x](" not in out and "<img" not in out


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


def test_the_key_column_widens_up_to_its_cap(invoke, tmp_path):
    key = "k" * (KEY_WIDTH - 12) + "@example.com"
    out = invoke("report", signins(tmp_path, [key]), "--section", "signin_success", "-q").stdout
    assert any(line.startswith(key + " ") for line in out.splitlines())


@pytest.mark.parametrize("kept", [5_000, 10])  # the rows kept from a first reading for a second, or none
def test_html_shows_the_busiest_rows_of_a_huge_section_reading_it_once(invoke, tmp_path, monkeypatch, kept):
    from ccaudit.counts import Selection
    from ccaudit.html import MAX_ROWS
    from ccaudit.report import Rows

    monkeypatch.setattr(Rows, "KEPT", kept)
    reads, columns = [], Selection.columns
    monkeypatch.setattr(Selection, "columns", lambda self, s, *a: reads.append(s) or columns(self, s, *a))

    emails = [f"user{i:05d}@example.com" for i in range(MAX_ROWS + 50)] + ["busy@example.com"] * 3
    path = signins(tmp_path, emails)
    page = invoke("report", path, "--format", "html", "--section", "signin_success", "-q").stdout
    assert page.count("@example.com") == 2 * MAX_ROWS  # each key is shown and in its row's title
    assert "busy@example.com" in page and "user00249@example.com" not in page
    assert f"The {MAX_ROWS} busiest of {MAX_ROWS + 51} keys" in page
    assert reads == ["signin_success"]  # a day of 300,000 keys costs one reading, not two

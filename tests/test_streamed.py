"""streamed.py writes tables and JSON documents row by row; tabulate and jsontext.dumps, which
hold them whole, are the references for what they must write. Its database, and a report's
sorts, write temporary files: ``errors.spilling`` names their folder when they cannot."""
from __future__ import annotations

import sqlite3
from unicodedata import east_asian_width

import pytest
import tabulate as tabulate_module
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tabulate import tabulate

from ccaudit import streamed
from ccaudit.errors import CcauditError, NoSpace, spilling
from ccaudit.jsontext import dumps
from ccaudit.text import LRM

# tabulate strips whitespace around a cell; ccaudit's tables show keys as they are. And it is
# made to count characters (not wcwidth's columns, which differ from a terminal's for some
# marks), so only characters of one column each: wide and combining ones have tests of their own
_cell = st.text(st.characters(blacklist_categories=("Zs", "Cc", "Cs", "Zl", "Zp", "Mn", "Me"), blacklist_characters=LRM)
                .filter(lambda c: east_asian_width(c) not in "WF" and not "\u1160" <= c <= "\u11ff"
                        and not "\ud7b0" <= c <= "\ud7ff"), min_size=1, max_size=12)  # (jamo that join: none)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5).flatmap(lambda n: st.tuples(
    st.lists(_cell, min_size=n, max_size=n), st.lists(st.booleans(), min_size=n, max_size=n),
    st.lists(st.lists(_cell, min_size=n, max_size=n), min_size=1, max_size=6))))
def test_tables_are_laid_out_as_tabulate_lays_them_out(table):
    head, right, rows = table
    align = ["right" if r else "left" for r in right]
    tabulate_module.WIDE_CHARS_MODE = False
    for fmt, markdown in (("simple", False), ("pipe", True)):
        want = tabulate(rows, head, tablefmt=fmt, colalign=align, disable_numparse=True) + "\n"
        laid_out = "".join(streamed.table_lines(head, right, lambda: iter(rows), markdown))
        assert laid_out.replace(LRM, "") == want  # right-to-left cells between marks (test_hostile_keys.py)


def test_wide_and_combining_characters_take_the_columns_a_terminal_gives_them():
    # "日本" is two characters, four columns; "e\u0301té" is four characters, three columns
    rows = [["日本", "1"], ["e\u0301té", "22"], ["abcd", "3"]]
    assert "".join(streamed.table_lines(["Key", "n"], [False, True], lambda: iter(rows))) == (
        "Key      n\n"
        "-----  ---\n"
        "日本     1\n"
        "e\u0301té     22\n"
        "abcd     3\n")
    assert "".join(streamed.table_lines(["n", "Key"], [True, True], lambda: iter([r[::-1] for r in rows]))) == (
        "  n    Key\n"
        "---  -----\n"
        "  1   日本\n"
        " 22    e\u0301té\n"
        "  3   abcd\n")


_names = st.text(max_size=5)
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names, inner, max_size=3),
                     max_leaves=8)
_objects = st.dictionaries(_names, _json, max_size=3)


@settings(max_examples=200, deadline=None)
@given(_objects, _objects, st.lists(_objects, max_size=4))
@example({"x": {"rows": []}, "y": '"rows": []'}, {}, [{"a": 1}])  # the same member nested, or in a string
def test_a_json_document_written_item_by_item_is_the_whole_one(before, after, items):
    before.pop("rows", None)
    after = {k: v for k, v in after.items() if k not in before and k != "rows"}
    doc = {**before, "rows": [], **after}
    assert "".join(streamed.json_chunks(doc, "rows", items)) == dumps({**doc, "rows": items})


def test_keys_sort_in_the_scratch_database_as_python_sorts_them():
    keys = ["b", "a", "\U0001f600", "\ud800", "\uffff", "é", "", "\x00"]
    conn = streamed.database()
    conn.execute("CREATE TABLE t (k BLOB)")
    conn.executemany("INSERT INTO t VALUES (?)", ((streamed.text(k),) for k in keys))
    assert [streamed.text_of(k) for k, in conn.execute("SELECT k FROM t ORDER BY k")] == sorted(keys)


@pytest.mark.parametrize(("message", "error", "words"), [
    ("database or disk is full", NoSpace, "no space left for SQLite's temporary files"),
    ("unable to open database file", CcauditError, "cannot create SQLite's temporary files there"),
])
def test_sqlite_temporary_files_that_cannot_be_written_name_their_folder(monkeypatch, tmp_path, message, error,
                                                                          words):
    monkeypatch.setenv("SQLITE_TMPDIR", str(tmp_path))
    with pytest.raises(error) as raised, spilling():
        raise sqlite3.OperationalError(message)
    assert str(raised.value).startswith(f"{tmp_path}: ") and words in str(raised.value)
    with pytest.raises(sqlite3.OperationalError), spilling():  # anything else is not the folder's fault
        raise sqlite3.OperationalError("no such table: t")

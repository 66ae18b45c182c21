"""`ccaudit diff`: the comparison on hand-built reports, the CLI's sides (stores, dumps, sets of
dumps, one store through two windows), and golden output for fixtures/sample-cli.txt (A)
against fixtures/sample-week2.jsonl (B), with every row worked out by hand."""
from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccaudit.diff import DiffRow, diff_reports
from ccaudit.report import Day, Report, Row, Section
from ccaudit.schema import SECTIONS

WEEK2 = "fixtures/sample-week2.jsonl"
SAMPLE = "fixtures/sample-cli.txt"


def _report(*days: dict) -> Report:
    """Report from {date: {section: {key: total}}}; the total is put in hour 00."""
    out = []
    for spec in days:
        for date, sections in spec.items():
            secs = {sid: Section(sid, sid, [Row(k, [n] + [0] * 23, n, "", "", "00", n) for k, n in keys.items()])
                    for sid, keys in sections.items()}
            out.append(Day(date, 0, [f"{h:02d}" for h in range(24)], secs))
    return Report(out)


def test_diff_reports_sums_days_and_sorts():
    a = _report({"2024-05-06": {"kafka_authentication": {"sa-1": 2, "sa-2": 5}, "all_events": {"X": 1}}},
                {"2024-05-07": {"kafka_authentication": {"sa-1": 3}}})
    b = _report({"2024-05-13": {"kafka_authentication": {"sa-1": 1, "sa-3": 4}, "all_events": {"X": 1}}})
    # A: sa-1 2+3=5, sa-2 5, X 1.  B: sa-1 1, sa-3 4, X 1.
    assert diff_reports(a, b) == [
        DiffRow("kafka_authentication", "sa-2", 5, 0, -5, "vanished"),
        DiffRow("kafka_authentication", "sa-1", 5, 1, -4, "changed"),
        DiffRow("kafka_authentication", "sa-3", 0, 4, 4, "new"),
        DiffRow("all_events", "X", 1, 1, 0, "same"),
    ]
    assert [r.key for r in diff_reports(a, b, same=False)] == ["sa-2", "sa-1", "sa-3"]
    assert [r.key for r in diff_reports(a, b, top=1)] == ["sa-2", "X"]
    assert diff_reports(a, a) == [DiffRow("kafka_authentication", "sa-1", 5, 5, 0, "same"),
                                  DiffRow("kafka_authentication", "sa-2", 5, 5, 0, "same"),
                                  DiffRow("all_events", "X", 1, 1, 0, "same")]


def test_the_tally_groups_its_thousands_as_the_sides_lines_do():
    # was "1000 new; 1 shown" below "1,000 events"
    import contextlib

    from ccaudit.diff import Comparison, render

    a, b = _report({"2024-05-06": {}}), _report({"2024-05-06": {"all_events": {f"M{i}": 1 for i in range(1000)}}})
    with contextlib.closing(Comparison(a, b)) as comparison:
        text = "".join(render(comparison, a, b, "text", top=1))
    assert "0 changed, 1,000 new, 0 vanished, 0 same; 1 shown" in text


def test_ties_go_by_section_order_then_key():
    a = _report({"2024-05-06": {"all_events": {"b": 1, "A": 1}, "signin_success": {"z": 1},
                                "kafka_authentication": {"y": 1}}})
    b = _report({"2024-05-06": {}})
    assert [(r.section, r.key) for r in diff_reports(a, b)] == [
        ("kafka_authentication", "y"), ("signin_success", "z"), ("all_events", "A"), ("all_events", "b")]


def test_empty_reports():
    assert diff_reports(Report([]), Report([])) == []


# -- against the definition: totals, statuses and order worked out in Python ---------------

def _by_definition(a: Report, b: Report, top=None, same=True) -> list[DiffRow]:
    """The comparison as the diff was first written, every row in memory: sum each key over
    the days, sort by (-|change|, section in report order, section, key), drop unchanged
    keys, keep the first ``top`` of each section."""
    ta: dict = {}
    tb: dict = {}
    for report, totals in ((a, ta), (b, tb)):
        for day in report.days:
            for sid, section in day.sections.items():
                for row in section.rows:
                    totals[sid, row.key] = totals.get((sid, row.key), 0) + sum(row.hours)
    order = {sid: i for i, sid in enumerate(SECTIONS)}
    rows = []
    for sid, key in set(ta) | set(tb):
        na, nb = ta.get((sid, key), 0), tb.get((sid, key), 0)
        status = "new" if not na else "vanished" if not nb else "changed" if na != nb else "same"
        rows.append(DiffRow(sid, key, na, nb, nb - na, status))
    rows.sort(key=lambda r: (-abs(r.change), order.get(r.section, len(order)), r.section, r.key))
    rows = [r for r in rows if same or r.status != "same"]
    seen: dict = {}
    return [r for r in rows if top is None or seen.setdefault(r.section, []).append(r) or len(seen[r.section]) <= top]


_keys = st.text(st.characters(), max_size=6)  # any code point: astral, lone surrogates, NUL
_sections = st.sampled_from([*SECTIONS, "zz_other"])
_days = st.lists(st.dictionaries(_sections, st.dictionaries(_keys, st.integers(0, 5), max_size=5), max_size=3),
                 max_size=3)


def _days_report(days: list[dict]) -> Report:
    return _report(*({f"2024-05-{6 + i:02d}": sections} for i, sections in enumerate(days)))


@settings(max_examples=200, deadline=None)
@given(_days, _days, st.one_of(st.none(), st.integers(1, 3)), st.booleans())
def test_the_comparison_is_the_definition(days_a, days_b, top, same):
    a, b = _days_report(days_a), _days_report(days_b)
    assert diff_reports(a, b, top, same) == _by_definition(a, b, top, same)


# -- the command: sample (A) against week 2 (B) -------------------------------------------

# A = fixtures/sample-cli.txt (counts in conftest.py), B = fixtures/sample-week2.jsonl:
#   kafka:  sa-q1w2e3 x5, sa-new1 x1            mds: u-8p71o5 AccessMetrics x2, sa-zz9 (no operation) x1
#   failed sign-ins: bob x4, eve|"<b>"@example.com (401) x1     sign-ins: alice x1, dave x1
#   other: CreateAPIKey x1, DeleteAPIKey x2
# Sorted by |change|, then section (report order), then key:
EXPECTED = [
    ("kafka_authentication", "sa-q1w2e3", 2, 5, 3, "changed"),
    ("signin_failure", "bob@example.com", 1, 4, 3, "changed"),
    ("all_events", "SignIn", 4, 7, 3, "changed"),
    ("all_events", "kafka.Authentication", 3, 6, 3, "changed"),
    ("all_events", "DeleteAPIKey", 0, 2, 2, "new"),
    ("kafka_authentication", "None:UNKNOWN_USER (UNAUTHENTICATED)", 1, 0, -1, "vanished"),
    ("kafka_authentication", "sa-new1", 0, 1, 1, "new"),
    ("mds_authorize", "u-8p71o5-CreateFlinkComputePoolWithAVeryLongName", 1, 0, -1, "vanished"),
    ("signin_failure", "a.very.long.email.address.for.testing@example-corporation.com (401)", 1, 0, -1, "vanished"),
    ("signin_failure", 'eve|"<b>"@example.com (401)', 0, 1, 1, "new"),
    ("signin_success", "carol@example.com", 1, 0, -1, "vanished"),
    ("signin_success", "dave@example.com", 0, 1, 1, "new"),
    ("all_events", "GetKafkaClusters", 1, 0, -1, "vanished"),
    ("all_events", "mds.Authorize", 4, 3, -1, "changed"),
]
UNCHANGED = [
    ("mds_authorize", "sa-zz9-(none)", 1, 1, 0, "same"),
    ("mds_authorize", "u-8p71o5-AccessMetrics", 2, 2, 0, "same"),
    ("signin_success", "alice@example.com", 1, 1, 0, "same"),
    ("all_events", "CreateAPIKey", 1, 1, 0, "same"),
]


def _rows(stdout: str) -> list[tuple]:
    return [tuple(r.values()) for r in json.loads(stdout)["rows"]]


def test_two_dumps(invoke, at_root):
    result = invoke("diff", "-q", SAMPLE, WEEK2, "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert _rows(result.stdout) == EXPECTED
    assert doc["counts"] == {"new": 4, "vanished": 5, "changed": 5, "same": 4}
    assert doc["shown"] == 14
    assert doc["a"] == {"label": f"A = {SAMPLE}", "events": 13, "first_day": "2024-05-06", "last_day": "2024-05-09",
                        "tz": "UTC", "unfinished_loads": []}
    assert doc["b"]["events"] == 19 and doc["b"]["first_day"] == "2024-05-13"
    every = invoke("diff", "-q", SAMPLE, WEEK2, "--format", "json", "--all")
    assert _rows(every.stdout) == EXPECTED + UNCHANGED


def test_stores_and_mixed(invoke, at_root, tmp_path):
    a_db, b_db = tmp_path / "a.db", tmp_path / "b.db"
    assert invoke("load", "-q", SAMPLE, "--db", a_db).exit_code == 0
    assert invoke("load", "-q", WEEK2, "--db", b_db).exit_code == 0
    assert _rows(invoke("diff", a_db, b_db, "--format", "json").stdout) == EXPECTED
    assert _rows(invoke("diff", "-q", a_db, WEEK2, "--format", "json").stdout) == EXPECTED
    # reversed: every change flips sign, new and vanished swap
    flip = {"new": "vanished", "vanished": "new", "changed": "changed"}
    got = _rows(invoke("diff", "-q", WEEK2, a_db, "--format", "json").stdout)
    assert sorted(got) == sorted((s, k, b, a, -c, flip[st]) for s, k, a, b, c, st in EXPECTED)


def test_sets_of_dumps(invoke, at_root):
    # A = sample + week 2, B = week 2: what is left is the sample, all vanished
    result = invoke("diff", "-q", "--a", SAMPLE, "--a", WEEK2, "--b", WEEK2, "--format", "json")
    assert result.exit_code == 0
    rows = _rows(result.stdout)
    # sample-only keys vanish; keys in both change by minus the sample's count
    assert ("kafka_authentication", "sa-q1w2e3", 7, 5, -2, "changed") in rows
    assert ("all_events", "GetKafkaClusters", 1, 0, -1, "vanished") in rows
    assert ("all_events", "SignIn", 11, 7, -4, "changed") in rows
    assert all(r[4] <= 0 for r in rows)
    assert sum(-r[4] for r in rows if r[0] == "all_events") == 13


def test_each_side_says_the_zone_of_its_days(invoke, at_root):
    # was not said: the sides' first and last days are the zone's (week 2's last event,
    # 2024-05-14T23:00Z, is on the 15th in Kolkata), their counts the same in any zone
    text = invoke("diff", "-q", SAMPLE, WEEK2, "--tz", "Asia/Kolkata").stdout.splitlines()
    assert text[1] == "B = fixtures/sample-week2.jsonl: 19 events, 2024-05-13..2024-05-15 (Asia/Kolkata)"
    doc = json.loads(invoke("diff", "-q", SAMPLE, WEEK2, "--tz", "Asia/Kolkata", "--format", "json").stdout)
    assert (doc["a"]["tz"], doc["b"]["tz"], doc["b"]["last_day"]) == ("Asia/Kolkata", "Asia/Kolkata", "2024-05-15")


def test_one_store_two_windows(invoke, at_root, tmp_path):
    db = tmp_path / "all.db"
    invoke("load", "-q", SAMPLE, WEEK2, "--db", db)
    result = invoke("diff", db, db, "--a-until", "2024-05-12", "--b-since", "2024-05-13", "--format", "json")
    assert _rows(result.stdout) == EXPECTED
    doc = json.loads(result.stdout)
    assert doc["a"]["label"].endswith("(until 2024-05-12)") and doc["b"]["label"].endswith("(from 2024-05-13)")
    # the same with the dumps themselves, loaded once
    both = invoke("diff", "-q", "--a", SAMPLE, "--a", WEEK2, "--b", SAMPLE, "--b", WEEK2,
                  "--a-until", "2024-05-12", "--b-since", "2024-05-13", "--format", "json")
    assert _rows(both.stdout) == EXPECTED
    # day over day inside the sample: 05-06 against 05-07
    day = invoke("diff", db, db, "--a-since", "2024-05-06", "--a-until", "2024-05-06",
                 "--b-since", "2024-05-07", "--b-until", "2024-05-07", "--section", "all_events", "--format", "json")
    assert _rows(day.stdout) == [
        ("all_events", "SignIn", 0, 4, 4, "new"),
        ("all_events", "mds.Authorize", 4, 0, -4, "vanished"),
        ("all_events", "kafka.Authentication", 3, 0, -3, "vanished"),
        ("all_events", "CreateAPIKey", 0, 1, 1, "new"),
    ]


def test_one_store_or_dump_named_two_ways_is_read_once(invoke, at_root, tmp_path):
    # was opened (its pages checked) or loaded once per spelling
    db = tmp_path / "all.db"
    invoke("load", "-q", SAMPLE, WEEK2, "--db", db)
    spelled = invoke("diff", db, tmp_path / "." / "all.db", "--a-until", "2024-05-12", "--b-since", "2024-05-13",
                     "--format", "json")
    assert _rows(spelled.stdout) == EXPECTED
    loads = invoke("diff", "--a", SAMPLE, "--a", WEEK2, "--b", f"./{SAMPLE}", "--b", WEEK2,
                   "--a-until", "2024-05-12", "--b-since", "2024-05-13", "--format", "json")
    assert _rows(loads.stdout) == EXPECTED
    assert [line for line in loads.stderr.splitlines() if "loading" in line] == ["ccaudit: loading A and B"]


def test_section_and_top(invoke, at_root):
    result = invoke("diff", "-q", SAMPLE, WEEK2, "--section", "signin_failure", "--section", "signin_success",
                    "--format", "json")
    assert _rows(result.stdout) == [r for r in EXPECTED if r[0].startswith("signin_")]
    top = invoke("diff", "-q", SAMPLE, WEEK2, "--top", "1", "--format", "json")
    assert _rows(top.stdout) == [EXPECTED[0], EXPECTED[1], EXPECTED[2], EXPECTED[7], EXPECTED[10]]
    doc = json.loads(top.stdout)
    assert doc["shown"] == 5 and doc["counts"]["changed"] == 5  # counts are of every key
    text = invoke("diff", "-q", SAMPLE, WEEK2, "--top", "1").stdout
    assert "5 changed, 4 new, 5 vanished, 4 same; 5 shown (--all adds the same ones)" in text


@pytest.mark.parametrize("args, says", [
    (["only-one"], "exactly two"),
    (["a", "b", "c"], "exactly two"),
    ([SAMPLE, WEEK2, "--a", SAMPLE], "not both"),
    (["--a", SAMPLE], "give A and B"),
    (["-", "-"], "only once"),
])
def test_usage_errors(invoke, at_root, args, says):
    result = invoke("diff", *args)
    assert result.exit_code == 2
    assert says in result.stderr


def test_input_errors(invoke, at_root, tmp_path):
    missing = invoke("diff", "-q", SAMPLE, tmp_path / "none.json")
    assert missing.exit_code == 2
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    not_ours = invoke("diff", "-q", SAMPLE, other)
    assert not_ours.exit_code == 2 and "not a ccaudit store" in not_ours.stderr
    db = tmp_path / "s.db"
    invoke("load", "-q", SAMPLE, "--db", db)
    assert invoke("diff", "--a", db, "--a", SAMPLE, "--b", SAMPLE).exit_code == 2
    # was: "give one store, or dump files, not both", naming the first store only
    two = invoke("diff", "--a", db, "--a", other, "--b", SAMPLE)
    assert two.exit_code == 2 and f"A: give one store, not 2 ({db}, {other})" in two.stderr
    # --strict: the sample has malformed lines
    assert invoke("diff", "-q", SAMPLE, WEEK2, "--strict").exit_code == 1
    assert invoke("diff", "-q", WEEK2, WEEK2, "--strict").exit_code == 0


def test_formats(invoke, at_root):
    csv_text = invoke("diff", "-q", SAMPLE, WEEK2, "--format", "csv").stdout
    rows = list(csv.reader(io.StringIO(csv_text)))
    assert rows[0] == ["section", "key", "count_a", "count_b", "change", "status"]
    assert [tuple(r[:2]) + tuple(map(int, r[2:5])) + (r[5],) for r in rows[1:]] == EXPECTED
    md = invoke("diff", "-q", SAMPLE, WEEK2, "--format", "markdown").stdout
    # the '|' and '<' of eve's key cannot break the table or become markup
    assert '| signin_failure       | eve\\|"&lt;b&gt;"@example.com (401)' in md
    assert "<b>" not in md
    text = invoke("diff", "-q", SAMPLE, WEEK2).stdout
    assert text.splitlines()[:3] == [
        f"A = {SAMPLE}: 13 events, 2024-05-06..2024-05-09",
        f"B = {WEEK2}: 19 events, 2024-05-13..2024-05-14",
        "5 changed, 4 new, 5 vanished, 4 same; 14 shown (--all adds the same ones)",
    ]


@pytest.mark.parametrize("fmt, ext", [("text", "txt"), ("json", "json"), ("markdown", "md"), ("csv", "csv")])
def test_golden(invoke, at_root, golden, fmt, ext):
    result = invoke("diff", "-q", SAMPLE, WEEK2, "--all", "--format", fmt)
    assert result.exit_code == 0
    golden(f"diff--sample-cli--sample-week2.{ext}", result.stdout)


def test_an_empty_file_named_as_a_store_is_not_read_as_an_empty_dump(invoke, sample_cli, tmp_path):
    # was: every key "vanished", exit 0, as if B were a dump of no records
    db, zero = tmp_path / "a.db", tmp_path / "zero.db"
    assert invoke("load", "-q", sample_cli, "--db", db).exit_code == 0
    zero.write_bytes(b"")
    result = invoke("diff", db, zero)
    assert result.exit_code == 2 and f"{zero}: an empty file, not yet a store" in result.stderr


def test_a_side_that_holds_part_of_a_load_says_so_in_json(invoke, at_root, tmp_path):
    # was only on stderr: the JSON of a diff against a store a killed load left looked whole
    from ccaudit.store import Store

    db = tmp_path / "a.db"
    assert invoke("load", "-q", SAMPLE, "--db", db).exit_code == 0
    with Store(str(db)) as store:
        store.begin_load(["killed.txt"])  # its note, as a killed load leaves it
    doc = json.loads(invoke("diff", "-q", db, WEEK2, "--format", "json").stdout)
    assert [u["inputs"] for u in doc["a"]["unfinished_loads"]] == [["killed.txt"]]
    assert doc["b"]["unfinished_loads"] == []

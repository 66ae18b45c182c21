"""Days without events: a short run is listed day by day, a run of more than a week is
one line, so output follows the days that have events and never the span."""
from __future__ import annotations

import json

import pytest

from tests.records import record, write_jsonl

FAR = [("a", "1970-01-01T00:00:00Z"), ("b", "2999-12-31T23:59:59Z"),
       ("c", "2024-05-06T10:00:00Z"), ("d", "2024-05-09T10:00:00Z")]
GAP_1 = "no events from 1970-01-02 to 2024-05-05, 19,848 days"
GAP_2 = "no events from 2024-05-10 to 2999-12-30, 356,346 days"


@pytest.fixture
def far_store(tmp_path, invoke):
    dump = write_jsonl(tmp_path, [record(i, t) for i, t in FAR])
    db = tmp_path / "far.db"
    assert invoke("load", dump, "--db", db, "-q").exit_code == 0
    return db


def test_summary_has_one_line_per_long_gap(invoke, far_store):
    lines = invoke("summary", "--db", far_store).stdout.splitlines()
    assert lines == [
        "Audit Summary for 4 events spanning 376,200 days from 1970-01-01",
        "1970-01-01:(1 event)  00:00:00 .. 00:00:00  no events in hours 01-23",
        GAP_1,
        "2024-05-06:(1 event)  10:00:00 .. 10:00:00  no events in hours 00-09, 11-23",
        "2024-05-07:(0 events)",  # a short run of empty days is listed day by day
        "2024-05-08:(0 events)",
        "2024-05-09:(1 event)  10:00:00 .. 10:00:00  no events in hours 00-09, 11-23",
        GAP_2,
        "2999-12-31:(1 event)  23:59:59 .. 23:59:59  no events in hours 00-22",
    ]


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_every_format_shows_the_gaps_as_lines(invoke, far_store, fmt):
    out = invoke("report", "--db", far_store, "--format", fmt).stdout
    assert GAP_1 in out and GAP_2 in out
    assert len(out) < 200_000


def test_json_carries_the_gaps_in_the_summary(invoke, far_store):
    doc = json.loads(invoke("report", "--db", far_store, "--format", "json").stdout)
    assert doc["summary"]["gaps"] == [{"from": "1970-01-02", "to": "2024-05-05", "days": 19848},
                                      {"from": "2024-05-10", "to": "2999-12-30", "days": 356346}]
    assert [d["date"] for d in doc["days"]] == list(doc["summary"]["per_day"]) == [
        "1970-01-01", "2024-05-06", "2024-05-07", "2024-05-08", "2024-05-09", "2999-12-31"]


def test_a_report_folder_gets_files_only_for_days_shown(invoke, far_store, tmp_path):
    out = tmp_path / "reports"
    assert invoke("report", "--db", far_store, "--out", out).exit_code == 0
    assert len(list(out.rglob("*"))) < 50


def test_a_week_of_empty_days_is_still_listed(invoke, tmp_path):
    dump = write_jsonl(tmp_path, [record("a", "2024-05-01T10:00:00Z"), record("b", "2024-05-09T10:00:00Z")])
    lines = invoke("report", dump, "--format", "json", "-q").stdout
    assert len(json.loads(lines)["days"]) == 9 and json.loads(lines)["summary"]["gaps"] == []


def test_a_diff_over_a_thousand_years_reads_its_days_without_a_parameter_each(invoke, far_store):
    # a section's totals read each day of the window: as one SQL parameter a day, 376,200
    # days were more than SQLite takes (32,766 or 250,000, by build): "too many SQL variables"
    result = invoke("diff", far_store, far_store, "--b-since", "2000-01-01", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["a"]["events"], doc["b"]["events"]) == (4, 3)
    assert [(r["section"], r["key"], r["count_a"], r["count_b"]) for r in doc["rows"]] == [
        ("all_events", "GetUsers", 4, 3)]

"""Filters, time zones, row statistics and coverage of `ccaudit report`.

Every dump here is written by hand in the test, and every expectation is worked out by
hand from the event times (the comments show the arithmetic), never from ccaudit's output.
"""
from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ccaudit import busiest, cells, report
from ccaudit.cli import cli
from ccaudit.clock import Clock
from ccaudit.text import printable
from tests.records import confluent_user, kafka_auth, mds_authorize, record, request, signin, write_jsonl


def run(*args) -> str:
    result = CliRunner().invoke(cli, ["report", "-q", *args])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def report_json(path: str, *args) -> dict:
    return json.loads(run(path, "--format", "json", *args))


def day(doc: dict, date: str) -> dict:
    (found,) = [d for d in doc["days"] if d["date"] == date]
    return found


def rows(day_doc: dict, section: str) -> dict[str, dict]:
    return {r["key"]: r for r in day_doc["sections"][section]["rows"]}


def hours_of(day_doc: dict, section: str, key: str) -> dict[str, int]:
    """{label: count} of the non-zero hours of one row."""
    row = rows(day_doc, section)[key]
    return {label: n for label, n in zip(day_doc["hour_labels"], row["hours"]) if n}


H24 = [f"{h:02d}" for h in range(24)]


# -- time zones ------------------------------------------------------------------------

def test_utc_is_the_default_with_24_hours(tmp_path):
    doc = report_json(write_jsonl(tmp_path, [kafka_auth("2024-05-06T07:08:09Z"),
                                             kafka_auth("2024-05-06T23:59:59.999Z")]))
    assert [d["date"] for d in doc["days"]] == ["2024-05-06"]
    d = doc["days"][0]
    assert d["hour_labels"] == H24
    assert hours_of(d, "kafka_authentication", "sa-1") == {"07": 1, "23": 1}
    assert doc["summary"]["tz"] == "UTC"


@pytest.mark.parametrize("summed", [3, 5, 4096])
@pytest.mark.parametrize("args", [(), ("--principal", "u-*")])
def test_a_method_row_sums_the_hours_of_all_its_keys(tmp_path, monkeypatch, summed, args):
    # 10 principals, principal i at 01:00 and at (i % 3 + 5):30: the mds.Authorize row of
    # all_events sums 10 keys' rows (read from method_counts, or with a principal filter
    # summed from the keys' counts, a few at a time when ``summed`` is small).
    monkeypatch.setattr(cells, "SUMMED", summed)
    records = [mds_authorize(f"2024-05-06T{h}Z", principal=f"User:u-{i}", operation="Read")
               for i in range(10) for h in ("01:00:00", f"{i % 3 + 5:02d}:30:00")]
    d = report_json(write_jsonl(tmp_path, records), *args)["days"][0]
    assert hours_of(d, "all_events", "mds.Authorize") == {"01": 10, "05": 4, "06": 3, "07": 3}
    row = rows(d, "all_events")["mds.Authorize"]
    assert (row["first_seen"], row["last_seen"]) == ("2024-05-06T01:00:00Z", "2024-05-06T07:30:00Z")


@pytest.mark.parametrize("args, events, mds_hours, mds_seen", [
    # 05:40Z cuts the quarter 05:30-05:45: 05:37:12 is out, 05:40 and 05:44 are in.
    # Kolkata is UTC+05:30: 05:40Z is 11:10 there, 05:41Z 11:11, 05:44Z 11:14, 06:10Z 11:40.
    ((), 4, {"11": 3}, ("11:10", "11:40")),
    (("--method", "mds.*"), 3, {"11": 3}, ("11:10", "11:40")),
    (("--principal", "u-1"), 1, {"11": 1}, ("11:14", "11:14")),
])
def test_all_events_in_a_cut_window_in_a_half_hour_zone(tmp_path, args, events, mds_hours, mds_seen):
    records = [mds_authorize("2024-05-06T05:37:12Z", "User:u-1", "Read"),
               mds_authorize("2024-05-06T05:44:00Z", "User:u-1", "Read"),
               mds_authorize("2024-05-06T05:40:00Z", "User:u-2", "Read"),
               mds_authorize("2024-05-06T06:10:00Z", "User:u-2", "Read"),
               kafka_auth("2024-05-06T05:41:00Z", "User:sa-1")]
    doc = report_json(write_jsonl(tmp_path, records), "--tz", "Asia/Kolkata", "--since", "2024-05-06T05:40:00Z",
                      *args)
    assert doc["summary"]["events"] == events
    (d,) = doc["days"]
    shown = {method: hours_of(d, "all_events", method) for method in rows(d, "all_events")}
    assert shown == {"mds.Authorize": mds_hours, **({} if args else {"kafka.Authentication": {"11": 1}})}
    row = rows(d, "all_events")["mds.Authorize"]
    assert (row["first_seen"], row["last_seen"]) == tuple(f"2024-05-06T{t}:00+05:30" for t in mds_seen)


@settings(max_examples=500, deadline=None)
@given(us=st.integers(-2_208_988_800 * 10**6, 4_102_444_800 * 10**6 - 1),  # 1900 .. 2099
       zone=st.sampled_from(["UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Pacific/Chatham",
                             "Europe/Amsterdam", "Antarctica/Casey"]))  # Amsterdam: +00:19:32 before 1937
@example(us=1_664_640_300_000_000, zone="Antarctica/Casey")  # 16:05Z, 03:05+11: the clocks went on at 16:01Z
def test_times_are_written_as_datetime_isoformat_writes_them(us, zone):
    # reports write times from a per-quarter-hour prefix and a table of minutes and seconds
    tz = ZoneInfo(zone)
    t = datetime.fromtimestamp(us // 10**6, tz).replace(microsecond=us % 10**6)
    clock = Clock(tz)
    assert clock.iso(us) == t.isoformat().replace("+00:00", "Z")
    assert clock.iso(us) == t.isoformat().replace("+00:00", "Z")  # from the cache


@given(us=st.integers(0, 32_503_680_000 * 10**6 - 1),  # the times a record may have: 1970 to 2999
       zone=st.sampled_from(["UTC", "Asia/Kolkata", "America/St_Johns", "America/New_York", "Pacific/Chatham",
                             "Europe/Amsterdam", "Pacific/Kiritimati", "Africa/Monrovia"]))
@example(us=0, zone="America/New_York")  # 1969-12-31 locally
@example(us=1_727_533_800 * 10**6, zone="Pacific/Chatham")  # 2024-09-29 02:45+12:45, clocks on to 03:45+13:45
def test_a_time_or_an_hour_label_is_a_csv_cell_as_it_is(us, zone):
    # the CSV writes a row's first and last seen and its peak's label without escaping them
    from ccaudit.csvtext import safe_cell
    clock = Clock(ZoneInfo(zone))
    assert safe_cell(clock.iso(us)) == clock.iso(us)
    d = datetime.fromtimestamp(us // 10**6, ZoneInfo(zone)).date()
    assert all(safe_cell(label) == label for label in clock.columns(d)[1])


@settings(max_examples=300, deadline=None)
@given(start=st.integers(-2_208_988_800, 4_102_444_800), steps=st.lists(st.integers(-3 * 86400, 86400), max_size=40),
       zone=st.sampled_from(["UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Pacific/Chatham",
                             "Pacific/Apia", "America/Sao_Paulo", "America/Havana", "Asia/Tehran",
                             "Europe/Amsterdam"]))  # Sao Paulo, Havana, Tehran: clocks set at midnight
@example(start=1518915600, steps=[900] * 16, zone="America/Sao_Paulo")  # 2018-02-17 23:00 -02, set back at 24:00
@example(start=1541296800, steps=[900] * 12, zone="America/Sao_Paulo")  # 2018-11-03 23:00 -03, on to 01:00 -02
@example(start=1289097900, steps=[900] * 12, zone="America/Goose_Bay")  # 2010-11-06 23:45 -03; at 00:01 back
# to 23:01 -04: 11-07's first column ends after a quarter, and 11-06 goes on in the gap after it
def test_a_quarter_hour_is_placed_in_the_date_and_hour_the_zone_gives_it(start, steps, zone):
    # place() looks in the columns of the date placed before; the zone says where each is
    tz = ZoneInfo(zone)
    clock = Clock(tz)
    ts = start
    for step in [0, *steps]:
        ts += step
        q = ts - ts % 900
        d = datetime.fromtimestamp(q, tz).date()
        starts, _ = clock.columns(d)
        assert clock.place(ts) == (d, max(i for i, s in enumerate(starts) if s <= q))


def test_zurich_spring_forward_day_has_23_hours(tmp_path):
    # 2024-03-31: at 01:00 UTC (02:00 CET) clocks jump to 03:00 CEST, local hour 02 never exists.
    path = write_jsonl(tmp_path, [
        kafka_auth("2024-03-30T23:15:00Z"),  # 00:15 CET on the 31st       -> "00"
        kafka_auth("2024-03-31T00:30:00Z"),  # 01:30 CET                   -> "01"
        kafka_auth("2024-03-31T01:30:00Z"),  # 03:30 CEST                  -> "03"
        kafka_auth("2024-03-31T01:45:00Z"),  # 03:45 CEST                  -> "03"
        kafka_auth("2024-03-31T21:59:59Z"),  # 23:59:59 CEST               -> "23"
        kafka_auth("2024-03-31T22:00:00Z"),  # 00:00 CEST on April 1st     -> next day "00"
    ])
    doc = report_json(path, "--tz", "Europe/Zurich")
    assert doc["summary"]["tz"] == "Europe/Zurich"
    assert [d["date"] for d in doc["days"]] == ["2024-03-31", "2024-04-01"]
    d = day(doc, "2024-03-31")
    assert d["hour_labels"] == [h for h in H24 if h != "02"]
    assert len(d["hour_labels"]) == 23
    row = rows(d, "kafka_authentication")["sa-1"]
    assert row["hours"] == [1, 1, 2] + [0] * 19 + [1]
    assert row["total"] == 5
    assert hours_of(d, "all_events", "kafka.Authentication") == {"00": 1, "01": 1, "03": 2, "23": 1}
    nxt = day(doc, "2024-04-01")
    assert nxt["hour_labels"] == H24
    assert hours_of(nxt, "kafka_authentication", "sa-1") == {"00": 1}
    # The same events in UTC: 23:15 on the 30th, then 00, 01, 01, 21, 22 on the 31st.
    utc = report_json(path)
    assert [d["date"] for d in utc["days"]] == ["2024-03-30", "2024-03-31"]
    assert hours_of(day(utc, "2024-03-31"), "kafka_authentication", "sa-1") == {"00": 1, "01": 2, "21": 1, "22": 1}


def test_zurich_fall_back_day_has_25_hours(tmp_path):
    # 2024-10-27: at 01:00 UTC (03:00 CEST) clocks go back to 02:00 CET; local 02 happens twice.
    path = write_jsonl(tmp_path, [
        kafka_auth("2024-10-26T22:00:00Z"),  # 00:00 CEST                 -> "00"
        kafka_auth("2024-10-27T00:30:00Z"),  # 02:30 CEST (first 02)      -> "02+2"
        kafka_auth("2024-10-27T00:59:59Z"),  # 02:59:59 CEST              -> "02+2"
        kafka_auth("2024-10-27T01:00:00Z"),  # 02:00 CET (second 02)      -> "02+1"
        kafka_auth("2024-10-27T02:00:00Z"),  # 03:00 CET                  -> "03"
        kafka_auth("2024-10-27T22:59:59Z"),  # 23:59:59 CET               -> "23"
    ])
    doc = report_json(path, "--tz", "Europe/Zurich")
    assert [d["date"] for d in doc["days"]] == ["2024-10-27"]
    d = doc["days"][0]
    assert d["hour_labels"] == ["00", "01", "02+2", "02+1"] + H24[3:]
    assert len(d["hour_labels"]) == 25
    row = rows(d, "kafka_authentication")["sa-1"]
    assert row["hours"] == [1, 0, 2, 1, 1] + [0] * 19 + [1]
    assert (row["peak_hour"], row["peak_count"]) == ("02+2", 2)
    assert row["first_seen"] == "2024-10-27T00:00:00+02:00"
    assert row["last_seen"] == "2024-10-27T23:59:59+01:00"
    assert d["coverage"]["empty_hours"] == ["01"] + H24[4:23]
    # The text report has the 25 columns, labelled in the header.
    text = run(path, "--tz", "Europe/Zurich", "--section", "kafka_authentication")
    head = [line for line in text.splitlines() if line.startswith("2024-10-27") and "Hour:" in line][0]
    assert head.split("Hour:")[1].split()[:6] == ["00", "01", "02+2", "02+1", "03", "04"]
    line = [line for line in text.splitlines() if line.startswith("sa-1 ")][0]
    assert line.split()[1:] == ["1", "-", "2", "1", "1"] + ["-"] * 19 + ["1", "6"]
    assert "Audit Summary for 6 events spanning 1 day from 2024-10-27 (Europe/Zurich)" in text
    assert "2024-10-27:(6 events)  00:00:00+02:00 .. 23:59:59+01:00  no events in hours 01, 04-22" in text


def test_text_times_in_a_repeated_hour_carry_their_offsets(tmp_path):
    # was "First seen 2024-11-03T01:30:00, Last seen 2024-11-03T01:30:00" and "01:30:00 .. 01:30:00":
    # two times an hour apart read as one
    path = write_jsonl(tmp_path, [kafka_auth("2024-11-03T05:30:00Z"), kafka_auth("2024-11-03T06:30:00.25Z"),
                                  kafka_auth("2024-11-04T05:30:00Z")])
    text = run(path, "--tz", "America/New_York", "--section", "kafka_authentication", "--stats")
    assert "2024-11-03:(2 events)  01:30:00-04:00 .. 01:30:00-05:00  no events in hours 00, 02-23" in text
    assert "2024-11-04:(1 event)  00:30:00 .. 00:30:00" in text  # a day of 24 hours: as before
    lines = text.splitlines()
    (head,) = [line for line in lines if line.startswith("2024-11-03") and "Hour:" in line]
    (row,) = [line for line in lines[lines.index(head):] if line.startswith("sa-1 ")][:1]
    assert row.split()[-4:] == ["2024-11-03T01:30:00-04:00", "2024-11-03T01:30:00-05:00", "01-4", "1"]
    assert head.index("First seen") == row.index("2024-11-03T01:30:00-04:00")
    assert head.index("Last seen") == row.index("2024-11-03T01:30:00-05:00")


def test_html_times_in_a_repeated_hour_carry_their_offsets(tmp_path):
    # was "01:30:00 .. 01:30:00" in the day's heading and its coverage row, as text was
    path = write_jsonl(tmp_path, [kafka_auth("2024-11-03T05:30:00Z"), kafka_auth("2024-11-03T06:30:00.25Z"),
                                  kafka_auth("2024-11-04T05:30:00Z")])
    page = run(path, "--tz", "America/New_York", "--format", "html")
    assert "<small>2 events · 01:30:00-04:00 .. 01:30:00-05:00 · no events in hours 00, 02-23</small>" in page
    assert "<td>01:30:00-04:00</td><td>01:30:00-05:00</td>" in page
    assert "<small>1 event · 00:30:00 .. 00:30:00 · " in page and "<td>00:30:00</td><td>00:30:00</td>" in page


def test_kolkata_half_hour_offset(tmp_path):
    # Asia/Kolkata is UTC+05:30 all year: local hours start at :30 UTC.
    path = write_jsonl(tmp_path, [
        kafka_auth("2024-05-06T18:29:59Z"),  # 23:59:59 on the 6th   -> 6th "23"
        kafka_auth("2024-05-06T18:30:00Z"),  # 00:00 on the 7th      -> 7th "00"
        kafka_auth("2024-05-07T00:00:00Z"),  # 05:30                  -> "05"
        kafka_auth("2024-05-07T00:29:59Z"),  # 05:59:59               -> "05"
        kafka_auth("2024-05-07T00:30:00Z"),  # 06:00                  -> "06"
    ])
    doc = report_json(path, "--tz", "Asia/Kolkata")
    assert [d["date"] for d in doc["days"]] == ["2024-05-06", "2024-05-07"]
    d6, d7 = doc["days"]
    assert d6["hour_labels"] == H24 and d7["hour_labels"] == H24
    assert hours_of(d6, "kafka_authentication", "sa-1") == {"23": 1}
    assert hours_of(d7, "kafka_authentication", "sa-1") == {"00": 1, "05": 2, "06": 1}
    r7 = rows(d7, "kafka_authentication")["sa-1"]
    assert r7["first_seen"] == "2024-05-07T00:00:00+05:30"
    assert r7["last_seen"] == "2024-05-07T06:00:00+05:30"
    assert d7["coverage"]["first_event"] == "2024-05-07T00:00:00+05:30"
    # A date filter is a local day: the 7th in Kolkata is 2024-05-06T18:30Z .. 2024-05-07T18:30Z.
    only7 = report_json(path, "--tz", "Asia/Kolkata", "--since", "2024-05-07", "--until", "2024-05-07")
    assert [d["date"] for d in only7["days"]] == ["2024-05-07"]
    assert only7["summary"]["events"] == 4


def test_zone_west_of_utc_has_all_24_hours(tmp_path):
    # America/New_York is UTC-4 in May: its day runs 04:00Z .. 04:00Z the next day, so its
    # last local hours are early-morning UTC hours of the next UTC date.
    path = write_jsonl(tmp_path, [
        kafka_auth("2024-05-06T04:00:00Z"),  # 00:00 EDT on the 6th  -> "00"
        kafka_auth("2024-05-07T01:30:00Z"),  # 21:30 EDT on the 6th  -> "21"
        kafka_auth("2024-05-07T02:10:00Z"),  # 22:10 EDT             -> "22"
        kafka_auth("2024-05-07T03:59:59Z"),  # 23:59:59 EDT          -> "23"
    ])
    doc = report_json(path, "--tz", "America/New_York")
    assert [d["date"] for d in doc["days"]] == ["2024-05-06"]
    d = doc["days"][0]
    assert d["hour_labels"] == H24
    assert hours_of(d, "kafka_authentication", "sa-1") == {"00": 1, "21": 1, "22": 1, "23": 1}


def test_a_date_the_zone_skipped_is_no_day(tmp_path):
    # Samoa moved across the date line: Pacific/Apia went from 2011-12-29 23:59:59 -10:00
    # to 2011-12-31 00:00:00 +14:00 (at 10:00Z on the 30th). Its 29th ends where its 31st
    # begins, and it has no 30th to show, not even an empty one.
    path = write_jsonl(tmp_path, [
        kafka_auth("2011-12-29T20:00:00Z"),  # 10:00 -10:00 on the 29th -> "10"
        kafka_auth("2011-12-30T09:59:59Z"),  # 23:59:59 -10:00 on the 29th -> "23"
        kafka_auth("2011-12-30T12:00:00Z"),  # 02:00 +14:00 on the 31st -> "02"
        kafka_auth("2011-12-31T09:00:00Z"),  # 23:00 +14:00 on the 31st -> "23"
    ])
    doc = report_json(path, "--tz", "Pacific/Apia")
    assert [(d["date"], d["events"]) for d in doc["days"]] == [("2011-12-29", 2), ("2011-12-31", 2)]
    assert hours_of(day(doc, "2011-12-29"), "kafka_authentication", "sa-1") == {"10": 1, "23": 1}
    assert hours_of(day(doc, "2011-12-31"), "kafka_authentication", "sa-1") == {"02": 1, "23": 1}
    assert "2011-12-30" not in run(path, "--tz", "Pacific/Apia")


@pytest.mark.parametrize("times, span, gaps, empty", [
    # 12-25 and 12-26, then 01-04: between them 8 dates by the calendar, 7 in Apia (no 30th),
    # so each is listed, as 7 empty days are; the span is 10 dates, not 11
    (("2011-12-25T22:00:00Z", "2011-12-26T22:00:00Z", "2012-01-03T23:00:00Z"), 10, [],
     ["2011-12-27", "2011-12-28", "2011-12-29", "2011-12-31", "2012-01-01", "2012-01-02", "2012-01-03"]),
    (("2011-12-20T22:00:00Z", "2012-01-03T23:00:00Z"), 15, [("2011-12-21", "2012-01-03", 13)], []),
    (("2011-12-18T22:00:00Z", "2011-12-30T12:00:00Z"), 13, [("2011-12-19", "2011-12-29", 11)], []),  # ends at it
    (("2011-12-29T12:00:00Z", "2012-01-09T23:00:00Z"), 12, [("2011-12-31", "2012-01-09", 10)], []),  # begins at it
])
def test_a_date_the_zone_skipped_is_no_day_of_a_span_or_a_gap(tmp_path, times, span, gaps, empty):
    # was: "spanning 11 days" and "no events from 2011-12-27 to 2012-01-03, 8 days", counting
    # Apia's 2011-12-30, which it does not list
    path = write_jsonl(tmp_path, [kafka_auth(t) for t in times])
    doc = report_json(path, "--tz", "Pacific/Apia")
    assert [(g["from"], g["to"], g["days"]) for g in doc["summary"]["gaps"]] == gaps
    assert [d for d, n in doc["summary"]["per_day"].items() if n == 0] == empty
    assert f"spanning {span} days " in run(path, "--tz", "Pacific/Apia")


def test_new_york_spring_forward_day_has_23_hours(tmp_path):
    # 2024-03-10: at 07:00 UTC (02:00 EST) clocks jump to 03:00 EDT; the day ends at 04:00Z on the 11th.
    path = write_jsonl(tmp_path, [
        kafka_auth("2024-03-10T06:30:00Z"),  # 01:30 EST   -> "01"
        kafka_auth("2024-03-10T07:30:00Z"),  # 03:30 EDT   -> "03"
        kafka_auth("2024-03-11T03:30:00Z"),  # 23:30 EDT   -> "23"
    ])
    d = report_json(path, "--tz", "America/New_York")["days"][0]
    assert d["date"] == "2024-03-10"
    assert d["hour_labels"] == [h for h in H24 if h != "02"]
    assert hours_of(d, "kafka_authentication", "sa-1") == {"01": 1, "03": 1, "23": 1}


def test_a_day_ending_half_an_hour_after_an_hour_counts_its_last_half_hour_only(tmp_path):
    # Pyongyang went from +09:00 to +08:30 at midnight of 2015-08-14: 00:00 +09:00 (15:00Z)
    # became 23:30 +08:30, so the 14th ends at 15:30Z with a second, half-hour "23".
    path = write_jsonl(tmp_path, [
        kafka_auth("2015-08-14T14:10:00Z"),  # 23:10 +09:00 on the 14th  -> "23+9"
        kafka_auth("2015-08-14T15:10:00Z"),  # 23:40 +08:30 on the 14th  -> "23+8:30"
        kafka_auth("2015-08-14T15:40:00Z"),  # 00:10 +08:30 on the 15th  -> "00"
    ])
    doc = report_json(path, "--tz", "Asia/Pyongyang")
    assert [(d["date"], d["events"]) for d in doc["days"]] == [("2015-08-14", 2), ("2015-08-15", 1)]
    assert day(doc, "2015-08-14")["hour_labels"][-2:] == ["23+9", "23+8:30"]
    assert hours_of(day(doc, "2015-08-14"), "kafka_authentication", "sa-1") == {"23+9": 1, "23+8:30": 1}
    assert hours_of(day(doc, "2015-08-15"), "kafka_authentication", "sa-1") == {"00": 1}


def test_hour_labels_wider_than_a_cell_stay_apart(invoke, tmp_path):
    # Lord Howe Island ends daylight saving time by half an hour: 01:30-02:00 repeats, and
    # its labels ("01+11", "01+10:30") are wider than the default cell
    p = tmp_path / "lh.jsonl"
    p.write_text(json.dumps(record("r-1", "2024-04-06T14:45:00Z")) + "\n")
    result = invoke("report", p, "-q", "--tz", "Australia/Lord_Howe")
    header = next(line for line in result.stdout.splitlines() if "Hour:" in line)
    assert "01+11 01+10:30" in " ".join(header.split()) or "01+11  01+10:30" in header
    assert "01+1101" not in header


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "America", "Etc", "x" * 300])  # a folder of zones, too long
def test_unknown_zone_is_a_usage_error(tmp_path, name):
    result = CliRunner().invoke(cli, ["report", "-q", write_jsonl(tmp_path, [kafka_auth("2024-05-06T07:00:00Z")]),
                                      "--tz", name])
    assert result.exit_code == 2
    assert "unknown time zone" in result.stderr


@pytest.mark.parametrize("name, why", [
    ("localtime", "is this machine's zone, not a named one"), ("posixrules", "is this machine's zone, not a named one"),
    # was: "'Factory' is this machine's zone"
    ("Factory", "is a placeholder with no place's time"),
    # was: taken, and Python's zone data skips their leap seconds: Zurich's clocks went forward
    # 27 s early, and an event at 01:00:10 UTC showed at 02:00:10, a time that did not exist
    ("right/Europe/Zurich", "counts leap seconds, which UTC times do not; give 'Europe/Zurich'"),
    ("RIGHT/UTC", "counts leap seconds, which UTC times do not; give 'UTC'"),
    # was: taken as UTC-05:00 all year, an hour off New York's clocks from March to November
    ("EST", "is UTC-05:00 all year, not the clocks of New York in summer: give America/New_York, or America/Panama "
            "for UTC-05:00 all year"),
    ("MST", "is UTC-07:00 all year, not the clocks of Denver in summer: give America/Denver, or America/Phoenix "
            "for UTC-07:00 all year"),
    # was: taken through the posix/ copies of the zone files
    ("posix/EST", "is UTC-05:00 all year, not the clocks of New York in summer"),
    ("posix/Factory", "is a placeholder with no place's time"),
    # were: "counts leap seconds ...; give 'EST'" (and 'posix/EST'), names refused in their turn
    ("right/EST", "is UTC-05:00 all year, not the clocks of New York in summer"),
    ("right/posix/EST", "is UTC-05:00 all year, not the clocks of New York in summer"),
    ("right/posix/Europe/Zurich", "counts leap seconds, which UTC times do not; give 'Europe/Zurich'"),
    ("right/GMT+5", "counts leap seconds, which UTC times do not; give an IANA name such as Europe/Zurich")])
def test_a_zone_that_is_not_a_places_is_refused(tmp_path, name, why):
    # was: taken, so a change of the machine's /etc/localtime changed what a report or check said
    result = CliRunner().invoke(cli, ["report", "-q", write_jsonl(tmp_path, [kafka_auth("2024-05-06T07:00:00Z")]),
                                      "--tz", name])
    assert result.exit_code == 2 and f"{name!r} {why}" in result.stderr


def test_hawaiis_zone_named_as_it_is_said_is_taken(tmp_path):  # its clocks never change: HST is always right
    result = CliRunner().invoke(cli, ["report", "-q", write_jsonl(tmp_path, [kafka_auth("2024-07-06T07:00:00Z")]),
                                      "--tz", "HST"])
    assert result.exit_code == 0 and "2024-07-05:(1 event)  21:00:00 .. 21:00:00" in result.stdout


def test_a_posix_zone_is_its_place(tmp_path):
    dump = write_jsonl(tmp_path, [kafka_auth("2024-03-31T01:00:10Z")])
    runs = [CliRunner().invoke(cli, ["report", "-q", dump, "--tz", name]).stdout.replace(name, "ZONE")
            for name in ("Europe/Zurich", "posix/Europe/Zurich")]
    assert "2024-03-31:(1 event)  03:00:10 .. 03:00:10" in runs[0] and runs[0] == runs[1]


# -- since / until ---------------------------------------------------------------------

@pytest.fixture
def window(tmp_path):
    return write_jsonl(tmp_path, [
        kafka_auth("2024-05-05T23:59:59Z"),
        kafka_auth("2024-05-06T00:00:00Z"),
        kafka_auth("2024-05-06T12:00:00Z"),
        kafka_auth("2024-05-06T23:59:59Z"),
        kafka_auth("2024-05-07T00:00:00Z"),
        kafka_auth("2024-05-07T10:00:00Z"),
    ])


@pytest.mark.parametrize("args, events, dates", [
    (["--since", "2024-05-06"], 5, ["2024-05-06", "2024-05-07"]),
    # a date --until includes that whole day
    (["--until", "2024-05-06"], 4, ["2024-05-05", "2024-05-06"]),
    (["--since", "2024-05-06", "--until", "2024-05-06"], 3, ["2024-05-06"]),
    # times: since inclusive, until exclusive
    (["--since", "2024-05-06T12:00:00Z", "--until", "2024-05-07T00:00:00Z"], 2, ["2024-05-06"]),
    (["--since", "2024-05-06T14:00:00+02:00"], 4, ["2024-05-06", "2024-05-07"]),
    # not on a quarter hour, so read from the events rather than the quarter-hour counts
    (["--since", "2024-05-06T12:00:01Z"], 3, ["2024-05-06", "2024-05-07"]),
    (["--until", "2024-05-06T23:59:59Z"], 3, ["2024-05-05", "2024-05-06"]),
    # a time without offset is in --tz (UTC by default)
    (["--since", "2024-05-06T12:00:00"], 4, ["2024-05-06", "2024-05-07"]),
    # Zurich (UTC+2): the 6th ends at 2024-05-06T22:00Z; 23:59:59Z is already the 7th there
    (["--tz", "Europe/Zurich", "--until", "2024-05-06"], 3, ["2024-05-06"]),
    (["--tz", "Europe/Zurich", "--since", "2024-05-06T12:00:00"], 4, ["2024-05-06", "2024-05-07"]),
])
def test_since_until(window, args, events, dates):
    doc = report_json(window, *args)
    assert doc["summary"]["events"] == events
    assert [d["date"] for d in doc["days"]] == dates


@pytest.fixture
def subsecond(tmp_path):
    return write_jsonl(tmp_path, [
        kafka_auth("2024-08-16T10:00:00.100Z"),
        kafka_auth("2024-08-16T10:00:00.500Z"),
        kafka_auth("2024-08-16T10:00:00.500001Z"),
        kafka_auth("2024-08-16T12:34:56.999999999Z"),  # kept as .999999: digits past the µs are dropped
        kafka_auth("2024-08-16T23:59:59.480Z"),
        kafka_auth("2024-08-16T23:59:59.999Z"),
    ])


@pytest.mark.parametrize("args, events, first, last", [
    # the whole day but its last millisecond: 23:59:59.480 is in, 23:59:59.999 is not
    (["--since", "2024-08-16T00:00:00Z", "--until", "2024-08-16T23:59:59.999Z"], 5,
     "2024-08-16T10:00:00.100000Z", "2024-08-16T23:59:59.480000Z"),
    # since is inclusive to the microsecond: .100 is out, .500 and .500001 are in
    (["--since", "2024-08-16T10:00:00.500Z"], 5, "2024-08-16T10:00:00.500000Z", "2024-08-16T23:59:59.999000Z"),
    (["--since", "2024-08-16T10:00:00.500001Z"], 4, "2024-08-16T10:00:00.500001Z", "2024-08-16T23:59:59.999000Z"),
    # until is exclusive to the microsecond
    (["--until", "2024-08-16T10:00:00.500001Z"], 2, "2024-08-16T10:00:00.100000Z", "2024-08-16T10:00:00.500000Z"),
    # a window from a quarter hour's start to inside it (was 0: neither edge was read)
    (["--since", "2024-08-16T10:00:00Z", "--until", "2024-08-16T10:00:00.6Z"], 3,
     "2024-08-16T10:00:00.100000Z", "2024-08-16T10:00:00.500001Z"),
    # a window inside one quarter hour, on both sides of events
    (["--since", "2024-08-16T10:00:00.2Z", "--until", "2024-08-16T10:00:00.5000015Z"], 1,
     "2024-08-16T10:00:00.500000Z", "2024-08-16T10:00:00.500000Z"),
    (["--since", "2024-08-16T12:34:56.999999Z", "--until", "2024-08-16T12:34:57Z"], 1,
     "2024-08-16T12:34:56.999999Z", "2024-08-16T12:34:56.999999Z"),
    # digits past the microsecond are dropped, as from events' times: an event's own time
    # (kept as .999999) is in the window from it and out of the one up to it (was: rounded up,
    # so it was out of the first and in the second)
    (["--since", "2024-08-16T12:34:56.999999999Z"], 3, "2024-08-16T12:34:56.999999Z", "2024-08-16T23:59:59.999000Z"),
    (["--until", "2024-08-16T12:34:56.999999999Z"], 3, "2024-08-16T10:00:00.100000Z", "2024-08-16T10:00:00.500001Z"),
    # a comma is a decimal mark too, and is cut the same (was: .5000001 with a comma took .500000)
    (["--since", "2024-08-16T10:00:00,5000019Z"], 4, "2024-08-16T10:00:00.500001Z", "2024-08-16T23:59:59.999000Z"),
    # without seconds; an offset; a leap second is the last microsecond of its minute
    (["--since", "2024-08-16T12:34Z", "--until", "2024-08-16T18:04:57.0000005+05:30"], 1,
     "2024-08-16T12:34:56.999999Z", "2024-08-16T12:34:56.999999Z"),
    (["--since", "2024-08-16T23:59:60Z"], 0, None, None),
    (["--until", "2024-08-16T23:59:60Z"], 6, "2024-08-16T10:00:00.100000Z", "2024-08-16T23:59:59.999000Z"),
    # an offset as `date +%z` prints it
    (["--since", "2024-08-16T11:30:00.5000015+0130"], 4, "2024-08-16T10:00:00.500001Z",
     "2024-08-16T23:59:59.999000Z"),
])
def test_windows_are_exact_to_the_microsecond(subsecond, args, events, first, last):
    doc = report_json(subsecond, *args)
    assert doc["summary"]["events"] == events
    if not events:
        return
    (d,) = doc["days"]
    assert (d["coverage"]["first_event"], d["coverage"]["last_event"]) == (first, last)
    (row,) = d["sections"]["kafka_authentication"]["rows"]
    assert (row["first_seen"], row["last_seen"], row["total"]) == (first, last, events)


def test_until_a_basic_format_date_includes_that_day(invoke, sample_cli):
    result = invoke("report", sample_cli, "-q", "--format", "json", "--until", "20240506")
    assert json.loads(result.stdout)["summary"]["events"] == 7


def test_since_with_nothing_left_reports_zero_events(window):
    doc = report_json(window, "--since", "2030-01-01")
    assert doc["summary"]["events"] == 0 and doc["days"] == []


@pytest.mark.parametrize(("utc", "empty"), [("2024-11-03T07:30:00Z", "00, 01-4, 01-5, 03-23"),  # 02:30 EST
                                            ("2024-11-03T05:10:00Z", "00, 01-5, 02-23"),  # 01:10 EDT
                                            ("2024-11-03T04:10:00Z", "01-4, 01-5, 02-23")])  # 00:10 EDT
def test_the_empty_hours_of_a_day_the_clocks_go_back_keep_each_repeated_hour_apart(tmp_path, utc, empty):
    """New York's 01:00 is twice on 2024-11-03 (01-4, then 01-5); joined as ranges they
    read as "00-01-5, 03-23", in text, markdown and html alike."""
    path = write_jsonl(tmp_path, [kafka_auth(utc)])
    text = run(path, "--tz", "America/New_York")
    assert f"no events in hours {empty}" in text, text
    assert f"no events in hours {empty}" in run(path, "--tz", "America/New_York", "--format", "html")


def test_a_local_time_the_clocks_skipped_is_refused_and_a_repeated_one_is_its_first(tmp_path):
    # New York, 2024-03-10: 02:00 EST became 03:00 EDT, so 02:30 never was (it was read as
    # 03:30, an hour later, silently); 2024-11-03: 01:30 was twice, EDT then EST
    from tests.records import kafka_auth, write_jsonl

    dump = write_jsonl(tmp_path, [kafka_auth("2024-03-10T07:10:00Z"),  # 03:10 EDT
                                  kafka_auth("2024-11-03T05:40:00Z"),  # 01:40 EDT, the first 01:40
                                  kafka_auth("2024-11-03T06:40:00Z")])  # 01:40 EST, the second
    result = CliRunner().invoke(cli, ["report", "-q", dump, "--tz", "America/New_York", "--since", "2024-03-10T02:30"])
    assert result.exit_code == 2 and "is not a time in America/New_York: its clocks skipped it" in result.stderr
    assert report_json(dump, "--tz", "America/New_York", "--since", "2024-03-10T03:00-04:00")["summary"]["events"] == 3
    assert report_json(dump, "--tz", "America/New_York", "--since", "2024-11-03T01:30",
                       "--until", "2024-11-03T02:00")["summary"]["events"] == 2  # from the first 01:30 to 02:00 EST
    # at the calendar's end the check cannot overflow into "not a date" (it did)
    assert report_json(dump, "--tz", "America/New_York", "--since", "9999-12-31T23:59")["summary"]["events"] == 0


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", "06/05/2024",
                                   "2024-W33-5",  # a week date: was read as that day's start, also by --until
                                   "2024-229", "2024-08-16T10", "2024-08-16T10:00:00+24:00", "2024-0816",
                                   "2024-08-16T10:00:99Z",  # was read as 10:01:39
                                   "2024-08-16T10:00:00+00:60", "2024-08-16T24:00:00Z", "2024-08-16T10:00:00+05",
                                   "\u0662\u0660\u0662\u0664-08-16"])
def test_bad_since_is_a_usage_error(window, value):
    result = CliRunner().invoke(cli, ["report", "-q", window, "--since", value])
    assert result.exit_code == 2
    assert "--since" in result.stderr


# -- principal, method, section, top ---------------------------------------------------

@pytest.fixture
def mixed(tmp_path):
    return write_jsonl(tmp_path, [
        kafka_auth("2024-05-06T07:00:00Z", "User:sa-1"),
        kafka_auth("2024-05-06T07:30:00Z", "User:sa-1"),
        kafka_auth("2024-05-06T08:00:00Z", "User:sa-2"),
        kafka_auth("2024-05-06T08:10:00Z", "User:sa-10", status="UNAUTHENTICATED"),
        mds_authorize("2024-05-06T09:00:00Z", "User:u-1", "Read"),
        mds_authorize("2024-05-06T09:05:00Z", "User:sa-1", "Write"),
        signin("2024-05-06T10:00:00Z", "alice@example.com"),
        signin("2024-05-06T10:05:00Z", "bob@example.com", "FAILURE"),
        request("2024-05-06T11:00:00Z", "CreateAPIKey", confluent_user("u-1")),
        request("2024-05-06T11:30:00Z", "GetKafkaClusters", confluent_user("u-2")),
    ])


def keys(doc: dict) -> dict[str, list[str]]:
    """section -> row keys over all days (sections without rows left out)."""
    out: dict[str, list[str]] = {}
    for d in doc["days"]:
        for sid, sec in d["sections"].items():
            out.setdefault(sid, []).extend(r["key"] for r in sec["rows"])
    return {k: v for k, v in out.items() if v}


def test_principal_glob(mixed):
    assert keys(report_json(mixed, "--principal", "sa-?")) == {
        "kafka_authentication": ["sa-1", "sa-2"],
        "mds_authorize": ["sa-1-Write"],
        "all_events": ["kafka.Authentication", "mds.Authorize"],
    }
    assert keys(report_json(mixed, "--principal", "sa-*")) == {
        "kafka_authentication": ["sa-1", "sa-10 (UNAUTHENTICATED)", "sa-2"],
        "mds_authorize": ["sa-1-Write"],
        "all_events": ["kafka.Authentication", "mds.Authorize"],
    }
    assert keys(report_json(mixed, "--principal", "u-1")) == {
        "mds_authorize": ["u-1-Read"],
        "all_events": ["CreateAPIKey", "mds.Authorize"],
    }
    # An object principal with only an email is shown (and matched) as that email.
    assert keys(report_json(mixed, "--principal", "*@example.com")) == {
        "signin_failure": ["bob@example.com"],
        "signin_success": ["alice@example.com"],
        "all_events": ["SignIn"],
    }
    assert report_json(mixed, "--principal", "nobody")["days"] == []


def test_principal_and_method_globs_read_brackets_the_same_way(mixed):
    # was: --principal went to SQLite's GLOB, where "[!s]" is "! or s" and "[^s]" is "not s",
    # so a negated --principal silently kept the opposite rows of what --method would keep
    assert keys(report_json(mixed, "--principal", "[!s]*", "--section", "kafka_authentication")) == {}
    assert keys(report_json(mixed, "--principal", "[!u]*", "--section", "mds_authorize")) == {
        "mds_authorize": ["sa-1-Write"]}
    assert keys(report_json(mixed, "--principal", "[^u]*", "--section", "mds_authorize")) == {
        "mds_authorize": ["u-1-Read"]}  # "^" is a character like any other, as in --method
    assert sorted(keys(report_json(mixed, "--method", "[!k]*", "--section", "all_events"))["all_events"]) == [
        "CreateAPIKey", "GetKafkaClusters", "SignIn", "mds.Authorize"]


def test_a_glob_copied_from_a_report_matches_the_principal_and_method_it_shows(tmp_path):
    # was: "no event matches principal trail\x20", where the report showed trail\x20 (its
    # stored text is "trail "): a key copied from a report is what a filter takes
    path = write_jsonl(tmp_path, [
        kafka_auth("2024-05-06T07:00:00Z", "User:trail "),
        kafka_auth("2024-05-06T07:10:00Z", "User:nl\nx"),
        kafka_auth("2024-05-06T07:20:00Z", "User:zw\u200balice"),
        kafka_auth("2024-05-06T07:30:00Z", "User:plain"),
        kafka_auth("2024-05-06T07:40:00Z", "User:back\\x20slash"),
        kafka_auth("2024-05-06T07:50:00Z", "User:two  spaces"),
        kafka_auth("2024-05-06T07:55:00Z", "User:CORP\\alice"),
    ])
    shown = {"trail\\x20": ["trail\\x20"], "nl\\x0ax": ["nl\\x0ax"], "zw\\u200b*": ["zw\\u200balice"],
             "*\\x20": ["trail\\x20"], "back\\x20slash": ["back\\x20slash"], "trail ": ["trail\\x20"],
             "plain": ["plain"], "two\\x20\\x20spaces": ["two  spaces"],  # as a text table shows it
             "*\\*": ["CORP\\alice", "back\\x20slash"]}  # no escape in it: a backslash is itself
    for pattern, want in shown.items():
        doc = report_json(path, "--principal", pattern, "--section", "kafka_authentication")
        assert [printable(k) for k in keys(doc).get("kafka_authentication", [])] == want, pattern


def test_a_principal_glob_of_bytes_not_utf8_matches_nothing(mixed):
    # was: an internal error (a surrogate escape cannot be bound to SQLite)
    assert report_json(mixed, "--principal", "\udce9*")["days"] == []


def test_a_principal_glob_is_as_long_as_the_methods_and_checks_may_be(mixed):
    # was: over 50,000 bytes refused ("a pattern of at most 50,000 bytes", what SQLite's GLOB
    # once took), where --method and check's key globs of any length were taken
    long = "sa-" + "*" * 60_000
    assert keys(report_json(mixed, "--principal", long)) == keys(report_json(mixed, "--principal", "sa-*"))


def test_principal_glob_counts_events(mixed):
    doc = report_json(mixed, "--principal", "sa-1")
    assert doc["summary"]["events"] == 3
    d = doc["days"][0]
    assert hours_of(d, "kafka_authentication", "sa-1") == {"07": 2}
    assert hours_of(d, "all_events", "kafka.Authentication") == {"07": 2}
    assert hours_of(d, "all_events", "mds.Authorize") == {"09": 1}


def test_method_glob(mixed):
    assert keys(report_json(mixed, "--method", "kafka.*")) == {
        "kafka_authentication": ["sa-1", "sa-10 (UNAUTHENTICATED)", "sa-2"],
        "all_events": ["kafka.Authentication"],
    }
    assert keys(report_json(mixed, "--method", "SignIn")) == {
        "signin_failure": ["bob@example.com"],
        "signin_success": ["alice@example.com"],
        "all_events": ["SignIn"],
    }
    assert keys(report_json(mixed, "--method", "*API*")) == {"all_events": ["CreateAPIKey"]}
    assert report_json(mixed, "--method", "Get*")["summary"]["events"] == 1


def test_principal_and_method_together(mixed):
    assert keys(report_json(mixed, "--principal", "sa-1", "--method", "mds.*")) == {
        "mds_authorize": ["sa-1-Write"],
        "all_events": ["mds.Authorize"],
    }


def test_section_selection(mixed):
    doc = report_json(mixed, "--section", "signin_success", "--section", "kafka_authentication")
    d = doc["days"][0]
    # sections keep the report's order, whatever the order of the options
    assert list(d["sections"]) == ["kafka_authentication", "signin_success"]
    # the day's event count and coverage still count every event
    assert d["events"] == 10 and doc["summary"]["events"] == 10
    text = run(mixed, "--section", "mds_authorize")
    assert "MDS Authorize" in text and "Kafka Authentication" not in text and "All Audit Events" not in text


def test_unknown_section_is_a_usage_error(mixed):
    result = CliRunner().invoke(cli, ["report", "-q", mixed, "--section", "nope"])
    assert result.exit_code == 2


def test_top_keeps_busiest_rows(tmp_path):
    path = write_jsonl(tmp_path, [
        *[kafka_auth(f"2024-05-06T0{i}:00:00Z", "User:sa-c") for i in range(5)],  # 5
        *[kafka_auth(f"2024-05-06T1{i}:00:00Z", "User:sa-b") for i in range(3)],  # 3
        *[kafka_auth(f"2024-05-06T2{i}:00:00Z", "User:sa-a") for i in range(3)],  # 3, ties with sa-b
        kafka_auth("2024-05-06T23:00:00Z", "User:sa-d"),  # 1
    ])
    d = report_json(path, "--top", "2")["days"][0]
    # busiest first; a tie goes to the smaller key
    assert [(r["key"], r["total"]) for r in d["sections"]["kafka_authentication"]["rows"]] == [("sa-c", 5), ("sa-a", 3)]
    d = report_json(path, "--top", "1")["days"][0]
    assert [r["key"] for r in d["sections"]["kafka_authentication"]["rows"]] == ["sa-c"]
    # without --top rows are sorted by key
    d = report_json(path)["days"][0]
    assert [r["key"] for r in d["sections"]["kafka_authentication"]["rows"]] == ["sa-a", "sa-b", "sa-c", "sa-d"]
    assert CliRunner().invoke(cli, ["report", "-q", path, "--top", "0"]).exit_code == 2


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata"])
def test_the_largest_top_keeps_every_row(tmp_path, zone):
    # was, in a zone whose day spans two UTC days: "internal error: OverflowError", exit 70
    path = write_jsonl(tmp_path, [kafka_auth("2024-05-06T05:30:00Z", "User:sa-1"),
                                  kafka_auth("2024-05-06T09:00:00Z", "User:sa-2")])
    d = report_json(path, "--tz", zone, "--top", str(2**63 - 1))["days"][0]
    assert [r["key"] for r in d["sections"]["kafka_authentication"]["rows"]] == ["sa-1", "sa-2"]


# -- row statistics --------------------------------------------------------------------

def test_text_stats_heads_name_each_column_over_its_values(tmp_path):
    # was "Peak" over the hour and a bare "Count" beside "Total", where markdown says "Peak
    # hour" and "Peak count"; and a label of Chatham's repeated hour (8 wide) pushed past "Peak"
    path = write_jsonl(tmp_path, [kafka_auth("2024-04-06T14:10:00Z", "User:sa-1"),
                                  kafka_auth("2024-04-06T14:05:00Z", "User:sa-1"),
                                  kafka_auth("2024-04-06T16:00:00Z", "User:sa-1")])
    text = run(path, "--section", "kafka_authentication", "--stats", "--tz", "Pacific/Chatham")
    lines = text.splitlines()
    head = next(x for x in lines if "First seen" in x)
    row = next(x for x in lines if x.startswith("sa-1 "))
    assert head.endswith("Peak hour  Peak count")
    assert row.split()[-2:] == ["02+12:45", "2"]
    assert len(row) == len(head)  # the count ends under "Peak count"
    assert row[head.index("Peak hour") + len("Peak hour") - 8:].startswith("02+12:45")  # the hour under its head


def test_row_stats(tmp_path):
    path = write_jsonl(tmp_path, [
        kafka_auth("2024-05-06T07:10:00Z", "User:sa-1"),
        kafka_auth("2024-05-06T07:50:00Z", "User:sa-1"),
        kafka_auth("2024-05-06T09:05:00Z", "User:sa-1"),
        kafka_auth("2024-05-06T03:00:00Z", "User:sa-2"),  # one in 03 and one in 05: the earlier hour is the peak
        kafka_auth("2024-05-06T05:59:59Z", "User:sa-2"),
        kafka_auth("2024-05-07T01:00:00Z", "User:sa-1"),  # another day: its own row
    ])
    doc = report_json(path)
    r1 = rows(day(doc, "2024-05-06"), "kafka_authentication")["sa-1"]
    assert {k: r1[k] for k in ("total", "first_seen", "last_seen", "peak_hour", "peak_count")} == {
        "total": 3, "first_seen": "2024-05-06T07:10:00Z", "last_seen": "2024-05-06T09:05:00Z",
        "peak_hour": "07", "peak_count": 2}
    r2 = rows(day(doc, "2024-05-06"), "kafka_authentication")["sa-2"]
    assert (r2["peak_hour"], r2["peak_count"], r2["first_seen"], r2["last_seen"]) == (
        "03", 1, "2024-05-06T03:00:00Z", "2024-05-06T05:59:59Z")
    r3 = rows(day(doc, "2024-05-07"), "kafka_authentication")["sa-1"]
    assert (r3["first_seen"], r3["peak_hour"], r3["total"]) == ("2024-05-07T01:00:00Z", "01", 1)

    # csv always has the statistics
    csv_text = run(path, "--format", "csv")
    header = csv_text.splitlines()[0].split(",")
    assert header == ["date", "section", "key", *H24, "total", "first_seen", "last_seen", "peak_hour", "peak_count"]
    line = [x for x in csv_text.splitlines() if x.startswith("2024-05-06,kafka_authentication,sa-1,")][0]
    assert line.split(",")[-5:] == ["3", "2024-05-06T07:10:00Z", "2024-05-06T09:05:00Z", "07", "2"]

    # text only with --stats
    plain = run(path, "--section", "kafka_authentication")
    assert "First seen" not in plain
    text = run(path, "--section", "kafka_authentication", "--stats")
    assert "First seen" in text and "Peak" in text
    line = [x for x in text.splitlines() if x.startswith("sa-1 ") and "2024-05-06T07" in x][0]
    assert line.split()[-5:] == ["3", "2024-05-06T07:10:00", "2024-05-06T09:05:00", "07", "2"]
    md = run(path, "--section", "kafka_authentication", "--stats", "--format", "markdown")
    md_head = [x for x in md.splitlines() if x.startswith("| Principal")][0]
    assert [c.strip() for c in md_head.strip("|").split("|")][-4:] == [
        "First seen", "Last seen", "Peak hour", "Peak count"]


# -- coverage --------------------------------------------------------------------------

def test_coverage(tmp_path):
    path = write_jsonl(tmp_path, [
        kafka_auth("2024-05-06T07:08:09Z"),
        request("2024-05-06T09:00:00Z", "GetEnvironments"),
        request("2024-05-06T09:59:00Z", "GetEnvironments"),
        kafka_auth("2024-05-08T23:59:00Z"),
    ])
    doc = report_json(path)
    assert [d["date"] for d in doc["days"]] == ["2024-05-06", "2024-05-07", "2024-05-08"]
    c6 = day(doc, "2024-05-06")["coverage"]
    assert c6 == {"first_event": "2024-05-06T07:08:09Z", "last_event": "2024-05-06T09:59:00Z",
                  "empty_hours": [h for h in H24 if h not in ("07", "09")]}
    c7 = day(doc, "2024-05-07")
    # a day without events: no first or last event, and every hour is empty
    assert c7["events"] == 0
    assert c7["coverage"] == {"first_event": None, "last_event": None, "empty_hours": H24}
    c8 = day(doc, "2024-05-08")["coverage"]
    assert (c8["first_event"], c8["last_event"], c8["empty_hours"]) == (
        "2024-05-08T23:59:00Z", "2024-05-08T23:59:00Z", H24[:23])
    text = run(path)
    assert text.splitlines()[:4] == [
        "Audit Summary for 4 events spanning 3 days from 2024-05-06",
        "2024-05-06:(3 events)  07:08:09 .. 09:59:00  no events in hours 00-06, 08, 10-23",
        "2024-05-07:(0 events)",
        "2024-05-08:(1 event)  23:59:00 .. 23:59:00  no events in hours 00-22",
    ]
    # the summary command shows the same from a store
    db = str(tmp_path / "s.db")
    CliRunner().invoke(cli, ["load", "-q", path, "--db", db])
    summary = CliRunner().invoke(cli, ["summary", "--db", db])
    assert summary.stdout.splitlines()[1] == text.splitlines()[1]
    csv_sum = CliRunner().invoke(cli, ["summary", "--db", db, "--format", "csv"]).stdout.splitlines()
    assert csv_sum[0] == "date,events,first_event,last_event,empty_hours"
    assert csv_sum[1].startswith("2024-05-06,3,2024-05-06T07:08:09Z,2024-05-06T09:59:00Z,00 01 02")


def test_coverage_full_day_has_no_empty_hours(tmp_path):
    path = write_jsonl(tmp_path, [kafka_auth(f"2024-05-06T{h:02d}:30:00Z") for h in range(24)])
    d = report_json(path)["days"][0]
    assert d["coverage"]["empty_hours"] == []
    assert run(path).splitlines()[1] == "2024-05-06:(24 events)  00:30:00 .. 23:30:00"


def test_coverage_in_a_zone(tmp_path):
    # Zurich in May is UTC+2: 05:00Z is 07:00 local.
    path = write_jsonl(tmp_path, [kafka_auth("2024-05-06T05:00:00Z"), kafka_auth("2024-05-06T06:30:00Z")])
    d = report_json(path, "--tz", "Europe/Zurich")["days"][0]
    assert d["coverage"]["first_event"] == "2024-05-06T07:00:00+02:00"
    assert d["coverage"]["last_event"] == "2024-05-06T08:30:00+02:00"
    assert d["coverage"]["empty_hours"] == [h for h in H24 if h not in ("07", "08")]


# -- every zone against the events themselves ------------------------------------------

ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns",
         "Australia/Lord_Howe", "Pacific/Chatham"]


@pytest.fixture(scope="module")
def scattered(tmp_path_factory):
    """(store path, event times by principal): 600 authentications of four principals at
    random microseconds, many on quarter-hour edges, over two spans of days that hold
    changes of daylight saving time (New York and St John's on 2024-03-10, Berlin on
    03-31, Lord Howe and Chatham on 04-07)."""
    import random
    from datetime import timedelta, timezone

    rng = random.Random(20241201)
    spans = [(datetime(2024, 3, 8, tzinfo=timezone.utc), 5), (datetime(2024, 3, 29, tzinfo=timezone.utc), 11)]
    times: dict[str, list[datetime]] = {}
    for _ in range(600):
        first, days = rng.choice(spans)
        t = first + timedelta(seconds=rng.randrange(days * 86_400))
        t = t - timedelta(seconds=t.second, minutes=t.minute % 15) if rng.random() < 0.3 else t  # on an edge
        t += timedelta(microseconds=rng.choice([0, 0, 1, 999_999, rng.randrange(10**6)]))
        times.setdefault(f"sa-{rng.randrange(4)}", []).append(t)
    records = [kafka_auth(t.isoformat().replace("+00:00", "Z"), f"User:{p}") for p, ts in times.items() for t in ts]
    return loaded(tmp_path_factory.mktemp("scattered"), records), times


def loaded(directory, records: list[dict]) -> str:
    """The path of a store in ``directory`` holding ``records``."""
    from ccaudit import Store, load_dumps

    path = str(directory / "store.db")
    store = Store(path)
    load_dumps([write_jsonl(directory, records)], store)
    store.close()
    return path


def add_event(want: dict, key: tuple, local: datetime) -> None:
    """Count an event at ``local`` time in the row ``key`` (its local date first) of ``want``."""
    row = want.setdefault((local.date().isoformat(), *key), {"hours": {}, "times": []})
    row["hours"][local.hour] = row["hours"].get(local.hour, 0) + 1
    row["times"].append(local)


def rows_as_read(report, section: str | None = None) -> dict:
    """{(date, section, key): (events by local hour, first seen, last seen)} of ``report``
    (a repeated hour's two columns summed), of one ``section`` or all."""
    got = {}
    for day in report.days:
        for sid in [section] if section else day.sections:
            for row in day.sections[sid].rows:
                hours: dict[int, int] = {}
                for label, n in zip(day.hour_labels, row.hours):
                    if n:
                        hours[int(label[:2])] = hours.get(int(label[:2]), 0) + n
                got[day.date, sid, row.key] = (hours, row.first_seen, row.last_seen)
    return got


def rows_wanted(want: dict) -> dict:
    """``want`` as ``rows_as_read`` reads a report: first and last seen as isoformat writes them."""
    return {key: (w["hours"], *(t.isoformat().replace("+00:00", "Z") for t in (min(w["times"]), max(w["times"]))))
            for key, w in want.items()}


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("window", [(None, None),
                                    (1_709_960_820_500_000, 1_712_318_400_000_000)])  # 03-09T05:07:00.5Z, 04-05T12Z
def test_every_zone_counts_each_event_in_its_local_hour(scattered, zone, window):
    # What each row must hold, worked out from the event times with zoneinfo alone: the
    # events of each local date and hour (a repeated hour's two columns summed), and the
    # first and last local time, as isoformat writes it.
    from ccaudit import Store, build

    path, times = scattered
    tz = ZoneInfo(zone)
    since, until = window
    want: dict[tuple, dict] = {}
    for principal, ts in times.items():
        for t in ts:
            us = int(t.timestamp()) * 10**6 + t.microsecond
            if (since is None or us >= since) and (until is None or us < until):
                add_event(want, ("kafka_authentication", principal), t.astimezone(tz))
    store = Store(path, readonly=True)
    try:
        got = rows_as_read(build(store, tz, report.Filters(since=since, until=until)), "kafka_authentication")
    finally:
        store.close()
    assert got == rows_wanted(want)


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu",
                                  "America/St_Johns", "Australia/Lord_Howe"])
def test_first_and_last_seen_are_searched_for_only_when_asked(scattered, monkeypatch, zone):
    # A day of whole hours (in any zone: on the UTC hour, or 15, 30 or 45 minutes past it)
    # takes its columns from the stored hours: reading its rows (a text report without
    # --stats) unpacks no row's quarter hours. Their first and last seen (--stats, JSON)
    # are searched for among the quarter hours of the rows across the day's start or end.
    # Only Lord Howe's 2024-04-07, when its clocks go back half an hour, has a column of
    # half an hour and 25 of them, summed from the quarter hours.
    from ccaudit import Store, build, daycounts

    unpacked = []
    for name in ("flat", "first_from", "last_before"):  # what reads a row's quarter hours
        monkeypatch.setattr(daycounts, name, functools.partial(_spied, unpacked, getattr(daycounts, name)))
    store = Store(scattered[0], readonly=True)
    try:
        rows = [row for day in build(store, ZoneInfo(zone)).days for row in day.sections["kafka_authentication"].rows]
        reading, unpacked[:] = len(unpacked), []
        for row in rows:
            assert row.first_seen <= row.last_seen
    finally:
        store.close()
    assert sum(row.total for row in rows) == 600
    assert bool(reading) == (zone == "Australia/Lord_Howe")
    assert unpacked


def _spied(calls: list, f: Callable, *args: object) -> object:
    calls.append(args)
    return f(*args)


@pytest.fixture(scope="module")
def sections_scattered(tmp_path_factory):
    """(store path, events as (time, section, key, method, principal)): 900 events at
    random microseconds over days that hold changes of daylight saving time, in three
    sections and all_events: authentications, sign-ins (alice as two users, so her key is
    stored twice) and two other methods."""
    import random
    from datetime import timedelta, timezone

    rng = random.Random(20261201)
    first = datetime(2024, 3, 8, 18, tzinfo=timezone.utc)
    events, records = [], []
    for _ in range(900):
        t = first + timedelta(seconds=rng.randrange(32 * 86_400), microseconds=rng.randrange(10**6))
        iso = t.isoformat().replace("+00:00", "Z")
        kind = rng.randrange(4)
        if kind == 0:
            p = f"sa-{rng.randrange(3)}"
            events.append((t, "kafka_authentication", p, "kafka.Authentication", p))
            records.append(kafka_auth(iso, f"User:{p}"))
        elif kind == 1:
            email, user = rng.choice([("alice@example.com", "u-1"), ("alice@example.com", "u-2"),
                                      ("bob@example.com", "u-3")])
            events.append((t, "signin_success", email, "SignIn", user))
            records.append(signin(iso, principal={"email": email, "confluentUser": {"resourceId": user}}))
        else:
            method = rng.choice(["GetUsers", "CreateAPIKey"])
            events.append((t, None, None, method, "u-1"))
            records.append(request(iso, method))
    return loaded(tmp_path_factory.mktemp("sections"), records), events


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe",
                                  "Pacific/Chatham"])
@pytest.mark.parametrize("principal, method", [(None, None), ("u-*", None), (None, "[SG]*")])
def test_every_section_counts_each_event_in_its_local_hour(sections_scattered, zone, principal, method):
    # As above, for every section: all_events by method (from the methods' rows, or, with
    # --principal, the kept keys' rows summed by method), and alice's sign-ins as two users
    # summed in her row. The filters are applied to the event list with fnmatch, as the
    # report applies them.
    from fnmatch import fnmatchcase

    from ccaudit import Store, build

    path, events = sections_scattered
    tz = ZoneInfo(zone)
    want: dict[tuple, dict] = {}
    for t, section, key, m, p in events:
        if (principal and not fnmatchcase(p, principal)) or (method and not fnmatchcase(m, method)):
            continue
        for row in ((section, key), ("all_events", m)) if section else (("all_events", m),):
            add_event(want, row, t.astimezone(tz))
    store = Store(path, readonly=True)
    try:
        got = rows_as_read(build(store, tz, report.Filters(principal=principal, method=method)))
    finally:
        store.close()
    assert got == rows_wanted(want)


@pytest.mark.parametrize("zone, shared", [("America/New_York", 0), ("Asia/Kolkata", 1), ("Asia/Kathmandu", 1)])
def test_a_zone_day_reads_a_key_as_one_row_cut_to_its_hours(scattered, monkeypatch, zone, shared):
    # A local day is across two UTC days: a key's two counts rows are read side by side,
    # each cut in SQL to its hours in the day, and made one array (the hour across UTC
    # midnight, in a zone off the whole hour, is in both): no row is sliced in Python.
    from ccaudit import Store, build, daycounts

    made: list[int] = []
    ints = daycounts.ints
    monkeypatch.setattr(daycounts, "ints", lambda blob: made.append(len(blob) // 4) or ints(blob))
    monkeypatch.setattr(daycounts, "hour_slice", None)
    store = Store(scattered[0], readonly=True)
    try:
        columns = [len(day.hour_labels) for day in build(store, ZoneInfo(zone)).days
                   for _ in day.sections["kafka_authentication"].rows]
    finally:
        store.close()
    assert made == [n + shared for n in columns]
    assert (23 in columns) == (zone == "America/New_York")  # the day its clocks go forward too


def _wanted_totals(events: list[tuple], tz: ZoneInfo | None, since: int | None = None, until: int | None = None,
                   principal: str | None = None, method: str | None = None) -> dict[tuple, int]:
    """{(local date or None, section, key): events} of ``sections_scattered``'s events in
    [since, until) (epoch µs) that pass the filters, as fnmatch matches them (by local
    date in ``tz``, or over the whole window if None)."""
    from fnmatch import fnmatchcase

    want: dict[tuple, int] = {}
    for t, section, key, m, p in events:
        us = int(t.timestamp()) * 10**6 + t.microsecond
        if (since is not None and us < since) or (until is not None and us >= until):
            continue
        if (principal and not fnmatchcase(p, principal)) or (method and not fnmatchcase(m, method)):
            continue
        date = t.astimezone(tz).date().isoformat() if tz else None
        for row in ((section, key), ("all_events", m)) if section else (("all_events", m),):
            want[(date, *row)] = want.get((date, *row), 0) + 1
    return want


WINDOWS = [(None, None), (1_710_417_600_000_000, 1_711_324_800_000_000),  # 03-14T12Z .. 03-25T00Z
           (1_710_201_120_000_001, 1_711_065_301_000_000)]  # 03-12T00:52:00.000001Z .. 03-22T00:55:01Z


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe"])
@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("principal, method", [(None, None), ("u-*", None), (None, "[SG]*")])
@pytest.mark.parametrize("whole", [busiest.WHOLE, 0], ids=["kept-whole", "read-again"])
def test_a_sections_busiest_rows_are_its_rows_with_the_most_events(sections_scattered, zone, window, principal,
                                                                   method, whole, monkeypatch):
    # What html shows of a section and --top keeps: how many keys have events in the day,
    # their events, and the n busiest rows (ties by key), each as reading every row makes
    # it. Counted from the event list; in UTC a whole day's rows are ranked by SQLite, in
    # the zones a key's events in a day across two UTC days are summed from its two rows'
    # slices, the busiest keys' rows kept as they are read or (a day of many keys: WHOLE
    # 0 here) read again by number; alice, stored twice, and all_events with --principal
    # are summed row by row.
    from ccaudit import Store, build

    monkeypatch.setattr(busiest, "WHOLE", whole)
    path, events = sections_scattered
    tz = ZoneInfo(zone)
    want = _wanted_totals(events, tz, *window, principal, method)
    store = Store(path, readonly=True)
    try:
        for d in build(store, tz, report.Filters(*window, principal=principal, method=method)).days:
            for sid, section in d.sections.items():
                totals = sorted((-n, key) for (date, s, key), n in want.items() if (date, s) == (d.date, sid))
                every = {r.key: (r.hours, r.first_seen, r.last_seen) for r in section.rows}
                for n in (1, 2, 5):
                    keys, events_in, top = section.rows.ranked(n)
                    assert (keys, events_in) == (len(totals), -sum(t for t, _ in totals))
                    assert [(r.key, r.total) for r in top] == [(key, -t) for t, key in totals[:n]]
                    assert {r.key: (r.hours, r.first_seen, r.last_seen) for r in top} == \
                        {r.key: every[r.key] for r in top}
    finally:
        store.close()


@pytest.mark.parametrize("window", [*WINDOWS, (None, 1_710_201_120_000_000), (1_711_065_301_000_000, None),
                                    (1_710_201_120_000_000, 1_710_201_121_000_000),  # one second of a day
                                    (1_711_151_999_000_000, 1_711_152_000_000_000)])  # the second before midnight
@pytest.mark.parametrize("principal, method", [(None, None), ("u-*", None), (None, "[SG]*")])
def test_a_windows_totals_are_each_keys_events_in_it(sections_scattered, window, principal, method):
    # What diff compares: every key's events over the whole window, summed over the parts
    # (whole UTC days in SQL, a cut day at each end as a report reads it). Counted from
    # the event list.
    path, events = sections_scattered
    assert _totals(path, window, principal, method) == _wanted_totals(events, None, *window, principal, method)


def test_a_window_from_a_quarter_hours_start_to_inside_it_holds_its_events(sections_scattered):
    """Such a window holds no whole quarter hour and cuts one at its end only: it was read
    as empty (check passed, diff compared nothing)."""
    path, events = sections_scattered
    for t in sorted(e[0] for e in events)[::60]:
        us = int(t.timestamp()) * 10**6 + t.microsecond
        window = (us - us % 900_000_000, us + 1)
        want = _wanted_totals(events, None, *window)
        assert want and _totals(path, window, None, None) == want, t


def _totals(path: str, window: tuple, principal: str | None, method: str | None) -> dict[tuple, int]:
    """{(None, section, key): events} of a window, as counts.Selection sums them for diff."""
    from ccaudit import Store
    from ccaudit.counts import Selection

    store = Store(path, readonly=True)
    try:
        selection = Selection(store, *window, principal, method)
        got: dict[tuple, int] = {}
        for section in ("kafka_authentication", "signin_success", "all_events"):
            for key, n in selection.totals(section):
                got[None, section, key] = got.get((None, section, key), 0) + n
    finally:
        store.close()
    return got


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("window", [(None, None), (1_709_960_820_500_000, 1_712_318_400_000_000)])
@pytest.mark.parametrize("principal, method", [("sa-[01]", None), (None, "kafka.*"), ("sa-3", "kafka.*")])
def test_a_filtered_days_events_and_first_and_last_are_those_of_its_kept_events(scattered, zone, window, principal,
                                                                                method):
    # A filtered report sums the kept keys' (or methods') rows into each day's events and
    # finds its first and last event without the store's quarter sums: worked out here
    # from the kept event times with zoneinfo alone.
    from fnmatch import fnmatchcase

    from ccaudit import Store, build

    path, times = scattered
    tz, (since, until) = ZoneInfo(zone), window
    want: dict[str, list] = {}
    for p, ts in times.items():
        for t in ts:
            us = int(t.timestamp()) * 10**6 + t.microsecond
            if (principal is None or fnmatchcase(p, principal)) and (since is None or us >= since) and \
                    (until is None or us < until):
                local = t.astimezone(tz)
                want.setdefault(local.date().isoformat(), []).append(local)
    store = Store(path, readonly=True)
    try:
        days = build(store, tz, report.Filters(since=since, until=until, principal=principal, method=method)).days
        got = {d.date: (d.events, d.first_event, d.last_event) for d in days if d.events}
    finally:
        store.close()
    iso = [min, max]
    assert got == {d: (len(ts), *(f(ts).isoformat().replace("+00:00", "Z") for f in iso)) for d, ts in want.items()}


@given(st.dictionaries(st.integers(0, 95), st.integers(1, 2**20), min_size=1, max_size=96), st.integers(1, 3))
def test_a_days_events_per_quarter_are_found_from_its_hours_and_offset_hours(events, rows):
    # What a filtered report's days sum instead of each row's quarters: the rows' hours
    # and offset hours, summed, and their differences
    from ccaudit import daycounts
    from ccaudit.schema import QUARTER_US

    day = 1_709_856_000  # 2024-03-08
    packed = [daycounts.pack(day, {q: [n, (day + q * 900) * 10**6, (day + q * 900) * 10**6 + QUARTER_US - 1]
                                   for q, n in events.items()}) for _ in range(rows)]
    hours = daycounts.hours([p[3] or daycounts.utc_hours(p[5]) for p in packed], [0] * 24)  # a sparse row's, as read
    offset = daycounts.hours([p[4] or daycounts.offset_hours(p[5]) for p in packed], [0] * 75, 75)
    assert daycounts.quarter_counts(hours, offset) == [rows * events.get(q, 0) for q in range(96)]


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "Australia/Lord_Howe"])
@pytest.mark.parametrize("window", [(None, None), (1_709_960_820_500_000, 1_712_318_400_000_000)])
def test_a_method_summed_from_many_keys_holds_a_bounded_list_of_their_times(sections_scattered, monkeypatch, zone,
                                                                            window):
    # With --principal, all_events sums each method from the kept keys' rows, and finds
    # its first and last event from a span a row: a day of a million keys must not hold a
    # million spans. With SUMMED at 2, every method's spans are reduced as they come, and
    # every row is still exact.
    held = []
    add = cells.Spans.add
    monkeypatch.setattr(cells, "SUMMED", 2)
    monkeypatch.setattr(cells.Spans, "add", lambda self, span: (add(self, span), held.append(len(self))))
    from ccaudit import Store, build

    path, events = sections_scattered
    tz, (since, until) = ZoneInfo(zone), window
    want: dict[tuple, dict] = {}
    for t, _, _, m, p in events:
        us = int(t.timestamp()) * 10**6 + t.microsecond
        if p.startswith("u-") and (since is None or us >= since) and (until is None or us < until):
            add_event(want, ("all_events", m), t.astimezone(tz))
    store = Store(path, readonly=True)
    try:
        got = rows_as_read(build(store, tz, report.Filters(since=since, until=until, principal="u-*")), "all_events")
    finally:
        store.close()
    assert got == rows_wanted(want)
    assert held and max(held) < 2


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "Asia/Kathmandu"])
def test_a_key_stored_as_many_numbers_holds_a_bounded_list_of_its_rows(sections_scattered, monkeypatch, zone):
    # An email signed in as many users is a key stored once a user: a zone's day reads
    # it as that many rows (Pairs), of which at most SUMMED are held for its first and
    # last event. With SUMMED at 1, every row is reduced as it comes (alice is two users
    # here), and every row of the report is still exact.
    held = []
    times = cells.Pairs.times
    monkeypatch.setattr(cells, "SUMMED", 1)
    monkeypatch.setattr(cells.Pairs, "times", lambda self, rows, *ends: (held.append(len(rows)),
                                                                         times(self, rows, *ends))[1])
    test_every_section_counts_each_event_in_its_local_hour(sections_scattered, zone, None, None)
    assert held and max(held) <= 1


@pytest.mark.parametrize("zone", ["America/Goose_Bay", "Australia/Lord_Howe", "Pacific/Chatham", "Pacific/Apia",
                                  "America/Santiago", "America/Havana", "America/Sao_Paulo", "Asia/Gaza",
                                  "Africa/Casablanca", "Antarctica/Troll", "America/St_Johns", "Asia/Kathmandu"])
def test_a_dates_hours_found_without_the_scan_are_those_the_scan_finds(zone):
    # A date of 24 hours of one offset takes its hours without asking the zone about each
    # quarter hour of 54: on every date around each change of offset since 1970 (clocks
    # changed at midnight, just after it, by half an hour, a date skipped), the hours are
    # those the scan finds.
    from datetime import date, timedelta

    tz = ZoneInfo(zone)
    clock = Clock(tz)
    noon = [datetime(1970, 1, 1, 12, tzinfo=tz) + timedelta(days=i) for i in range(66 * 366)]
    changed = [n.date() for n, before in zip(noon[1:], noon) if n.utcoffset() != before.utcoffset()]
    dates = {d + timedelta(days=k) for d in changed for k in (-2, -1, 0, 1)} | {date(2024, 5, 7), date(1999, 12, 31)}
    assert changed
    for d in sorted(dates):
        assert clock._hours_of(d) == clock._scanned(d), d


@pytest.mark.parametrize("times", [
    ["02:00:00", "02:50:00", "03:00:10", "03:20:00", "04:10:00"],  # 10-30, 10-31, then 10-30 again
    ["03:00:10", "03:20:00"],  # 10-31 first, then 10-30: a date before the last, new
])
def test_a_date_that_comes_again_after_the_next_gets_its_events(tmp_path, times):
    # America/Goose_Bay set its clocks back at 00:01 on 1999-10-31, to 23:01 on 10-30: a
    # report reads the quarter hours in time order, and meets 10-30 after 10-31.
    from ccaudit import Store, build

    tz = ZoneInfo("America/Goose_Bay")
    utc = [datetime.fromisoformat(f"1999-10-31T{t}+00:00") for t in times]
    path = loaded(tmp_path, [kafka_auth(t.isoformat().replace("+00:00", "Z")) for t in utc])
    want: dict[str, list] = {}
    for t in utc:
        want.setdefault(t.astimezone(tz).date().isoformat(), []).append(t.astimezone(tz))
    store = Store(path, readonly=True)
    try:
        got = {d.date: (d.events, d.first_event, d.last_event) for d in build(store, tz).days}
    finally:
        store.close()
    at = datetime.timestamp  # times of one zone compare by their wall clocks, not as instants
    assert got == {d: (len(ts), min(ts, key=at).isoformat(), max(ts, key=at).isoformat()) for d, ts in want.items()}


@pytest.mark.parametrize("name, hint", [
    ("Europe/Zurch", " (did you mean Europe/Zurich?)"), ("asia/kolkata", " (did you mean Asia/Kolkata?)"),
    ("Kolkata", " (did you mean Asia/Kolkata?)"), ("New York", " (did you mean America/New_York?)"),
    ("CEST", "; give an IANA name such as Europe/Zurich"), ("+02:00", "; give an IANA name such as Europe/Zurich"),
])
def test_an_unknown_zone_is_answered_with_the_closest_names(invoke, sample_cli, name, hint):
    # was "unknown time zone 'Europe/Zurch'" alone; an abbreviation is not offered EST or CET
    result = invoke("report", sample_cli, "--tz", name, "-q")
    assert result.exit_code == 2 and f"unknown time zone {name!r}{hint}" in result.stderr, result.stderr


@pytest.mark.parametrize("name, hours", [("GMT+2", 2), ("gmt-5", -5), ("UTC + 3", 3), ("+14", 14), ("UTC-12", -12),
                                         ("Etc/UTC+5", 5)])  # was "did you mean Etc/GMT+5?", which is UTC-5
def test_an_offset_is_answered_with_the_zone_of_that_offset(invoke, sample_cli, name, hours):
    # was "did you mean Etc/GMT+2 or Etc/GMT+12 or Etc/GMT-2?" for GMT+2: Etc/GMT+2 is UTC-2
    result = invoke("report", sample_cli, "--tz", name, "-q")
    given = re.search(r"give (Etc/GMT[-+][0-9]+): its sign is reversed\)$", result.stderr.strip())
    assert result.exit_code == 2 and given, result.stderr
    assert ZoneInfo(given[1]).utcoffset(datetime(2024, 5, 6)) == timedelta(hours=hours)


@pytest.mark.parametrize("name, meant", [("etc/gmt-5", "Etc/GMT-5"), ("Etc/GMT+02", "Etc/GMT+2"), ("etc/utc+0", "UTC")])
def test_a_mistyped_etc_zone_is_answered_with_it_as_typed(invoke, sample_cli, name, meant):
    # was a general "(an offset is not one ...)" naming no zone: an Etc name's sign is already reversed
    result = invoke("report", sample_cli, "--tz", name, "-q")
    assert (result.exit_code, result.stderr) == (
        2, f"ccaudit: error: Invalid value for '--tz': unknown time zone {name!r} (did you mean {meant}?)\n")


@pytest.mark.parametrize("name", ["Etc/GMT+2:00", "etc/gmt-05:00"])
def test_an_etc_zone_with_minutes_is_answered_with_the_rule_not_a_zone(invoke, sample_cli, name):
    # was "did you mean Etc/GMT-5?" for etc/gmt-05:00, which as an offset is UTC-5 and Etc/GMT+5
    result = invoke("report", sample_cli, "--tz", name, "-q")
    assert result.exit_code == 2 and result.stderr.endswith(
        "(an offset is not one; Etc/GMT zones, whole hours, take its sign reversed: Etc/GMT-2 is UTC+2)\n")


def test_a_time_that_is_not_one_is_answered_with_examples(invoke, sample_cli):
    result = invoke("report", sample_cli, "--since", "06/05/2024", "-q")
    assert result.exit_code == 2 and "(e.g. 2024-05-06, 2024-05-06T10:30Z" in result.stderr


@pytest.mark.parametrize("args, said", [
    (["--principal", "User:sa-q1w2e3"], "no event matches principal User:sa-q1w2e3 (a principal is shown and matched "
                                        "without its type, e.g. sa-1 for User:sa-1)"),
    (["--since", "2025-01-01"], "no event matches from 2025-01-01T00:00:00Z"),
    # was no hint: alice's successful sign-ins show her email, their principal is u-abc123
    (["--principal", "alice@example.com"], "no event matches principal alice@example.com (a sign-in's principal is "
                                           "its user, e.g. u-abc123, where the record names one, not the email its "
                                           "row shows)"),
    # was "...; the 3 busiest keys of each section and day", as if those had been found
    (["--method", "nothing.*", "--top", "3", "--section", "all_events"], "no event matches method nothing.*"),
    # was "principal  ; method\x20": the sentence's space escaped, the principal's not
    (["--principal", " ", "--method", ""], "no event matches principal \\x20; method ''"),
    # was "from 253,402,315,200,000,000 µs from 1970-01-01T00:00:00Z"
    (["--since", "9999-12-31T23:00-05:00"], "no event matches from 10000-01-01T04:00:00Z"),
    (["--until", "0001-01-01T00:00+14:00"], "no event matches before 0000-12-31T10:00:00Z"),
])
def test_filters_that_match_nothing_say_so(invoke, sample_cli, args, said):
    # was: "Audit Summary for 0 events", exit 0, and not a word on stderr
    result = invoke("report", sample_cli, *args, "-q")
    assert result.exit_code == 0 and result.stdout.startswith("Audit Summary for 0 events")
    assert f"ccaudit: warning: {said}" in result.stderr.splitlines(), result.stderr


def test_filters_that_match_something_say_nothing_more(invoke, sample_cli):
    result = invoke("report", sample_cli, "--principal", "sa-*", "-q")
    assert result.exit_code == 0 and "warning" not in result.stderr

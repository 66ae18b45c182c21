"""A report's dates (ccaudit/dates.py): each day's events by date, and the gaps, read
without making the days; the summary and every page's head written in pieces, so that a
store of 200,000 dates reports in the memory of a week's (test_memory.py measures it)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccaudit.dates import Made
from ccaudit.html import html_chunks
from ccaudit.jsontext import json_pieces, to_json
from ccaudit.load import load_dumps
from ccaudit.render import report_chunks, summary_chunks
from ccaudit.report import Filters, Gap, build
from ccaudit.store import Store
from ccaudit.text import PIECE
from tests.records import kafka_auth, write_jsonl

START = date(2001, 3, 1)
# days after START with events, and how many: runs of empty days of 1 to 7 are listed day
# by day, longer runs (8, 9, 30) are one gap each
EVENTS = {0: 2, 1: 1, 3: 4, 11: 1, 20: 3, 21: 1, 52: 5, 59: 1}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dates")
    recs = [kafka_auth(f"{START + timedelta(days=d)}T0{i}:30:00Z", f"User:sa-{i}", id=f"{d}-{i}")
            for d, n in EVENTS.items() for i in range(n)]
    s = Store(str(tmp / "dates.db"))
    load_dumps([str(write_jsonl(tmp, recs))], s)
    yield s
    s.close()


def _truth() -> tuple[dict[str, int], list[Gap]]:
    """Each day shown with its events, and the gaps, from EVENTS by hand's rule."""
    per_day, gaps, offsets = {}, [], sorted(EVENTS)
    for before, d in zip([None, *offsets], offsets):
        if before is not None and d - before - 1 > 7:
            first, last = START + timedelta(days=before + 1), START + timedelta(days=d - 1)
            gaps.append(Gap(str(first), str(last), d - before - 1))
        elif before is not None:
            per_day.update({str(START + timedelta(days=e)): 0 for e in range(before + 1, d)})
        per_day[str(START + timedelta(days=d))] = EVENTS[d]
    return per_day, gaps


def test_events_by_date_and_gaps_are_read_without_making_a_day(store):
    report = build(store)
    report.days.make = None  # making a day now fails
    per_day, gaps = _truth()
    assert dict(report.per_day()) == per_day and list(report.per_day()) == list(per_day)
    assert list(report.per_day().items()) == list(per_day.items())
    assert report.per_day()["2001-03-04"] == 4 and report.per_day()["2001-03-05"] == 0  # a short empty run
    assert len(report.gaps) == 2 and report.gaps[0] == Gap("2001-03-13", "2001-03-20", 8)
    for absent in ("2001-02-28", "2001-03-16", "2001-04-30", "2001-02-30", "summary", 5):  # before, in a gap, ...
        assert absent not in report.per_day()
        with pytest.raises(KeyError):
            report.per_day()[absent]
    assert report.events == sum(EVENTS.values()) == 18
    assert list(report.gaps) == gaps and report.gaps[-1] == gaps[-1] == Gap("2001-03-23", "2001-04-21", 30)
    assert report.span_days == 60


def test_a_list_of_days_gives_the_same_events_by_date(store):
    made, listed = build(store), build(store).in_memory()
    assert dict(listed.per_day()) == dict(made.per_day()) and listed.events == made.events
    assert listed.per_day()["2001-04-22"] == 5


def test_the_json_summary_is_the_days_and_gaps_in_full(store):
    per_day, gaps = _truth()
    doc = json.loads("".join(summary_chunks(build(store), "json")))
    coverage = doc.pop("coverage")  # each date's, days of no events too (what the text shows)
    assert list(coverage) == list(per_day)
    assert [c["first_event"] is None for c in coverage.values()] == [n == 0 for n in per_day.values()]
    assert doc == json.loads(json.dumps(build(store).summary())) == {
        "events": 18, "first_day": "2001-03-01", "last_day": "2001-04-29", "per_day": per_day,
        "gaps": [{"from": g.first, "to": g.last, "days": g.days} for g in gaps], "tz": "UTC", "unfinished_loads": [],
        "selected": []}


def test_the_csv_summary_has_a_row_for_each_day_and_for_each_gap(store):
    # was: a gap's dates had no row at all, though a shorter run's each had one
    per_day, gaps = _truth()
    lines = "".join(summary_chunks(build(store), "csv")).splitlines()
    rows = {line.split(",")[0]: line.split(",")[1:] for line in lines[1:]}
    every_hour = " ".join(f"{h:02d}" for h in range(24))
    assert lines[0] == "date,events,first_event,last_event,empty_hours"
    assert {d: int(r[0]) for d, r in rows.items()} == {**per_day, **{f"{g.first}/{g.last}": 0 for g in gaps}}
    assert rows["2001-03-13/2001-03-20"] == ["0", "", "", every_hour]
    assert [d[:10] for d in rows] == sorted(d[:10] for d in rows)  # in date order, gaps among the days


class _Read(Mapping):
    """A mapping that is not a dict, as dates.PerDay is."""

    def __init__(self, items: dict):
        self.items_ = items

    def __getitem__(self, key):
        return self.items_[key]

    def __iter__(self):
        return iter(self.items_)

    def __len__(self):
        return len(self.items_)


_values = st.one_of(st.integers(), st.text(), st.none(), st.lists(st.integers(), max_size=3))


@given(st.dictionaries(st.text(), _values), st.lists(st.dictionaries(st.text(), _values, max_size=3)),
       st.integers(0, 3))
def test_made_mappings_and_sequences_are_written_as_json_dumps_writes_them(mapping, items, depth):
    doc = {"per_day": _Read(mapping), "gaps": Made(items.__getitem__, range(len(items)))}
    assert "".join(json_pieces(doc, depth)) == to_json({"per_day": mapping, "gaps": items}, depth)


DAYS = 10_000


@pytest.fixture(scope="module")
def many_dates(tmp_path_factory):
    """A record on each of DAYS dates: a summary of about 60 characters a date."""
    tmp = tmp_path_factory.mktemp("many")
    recs = (kafka_auth(f"{START + timedelta(days=d)}T12:00:00Z", "User:sa-1", id=f"m{d}") for d in range(DAYS))
    s = Store(str(tmp / "many.db"))
    load_dumps([str(write_jsonl(tmp, recs))], s)
    yield s
    s.close()


@pytest.mark.parametrize("fmt", ["text", "markdown", "csv", "json", "html", "summary text", "summary markdown",
                                 "summary csv", "summary json"])
def test_a_summary_of_many_dates_is_written_in_pieces(many_dates, fmt):
    # Before, the summary (and html's coverage table and day picker) was one string: 400 KB
    # of text here, 1.2 KB a date in html. Now no piece is much more than PIECE.
    report = build(many_dates, filters=Filters(sections=("all_events",)))
    if fmt.startswith("summary"):
        pieces = list(summary_chunks(report, fmt.split()[1]))
    else:
        pieces = list(html_chunks(report) if fmt == "html" else report_chunks(report, fmt))
    text = "".join(pieces)
    assert len(text) > 2 * PIECE and text.count("2001-03-01") >= 1 and str(START + timedelta(days=DAYS - 1)) in text
    assert max(map(len, pieces)) < PIECE + 5_000

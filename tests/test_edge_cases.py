"""Odd inputs found in review, each pinned by a test that failed before its fix."""
from __future__ import annotations

import io
import json
import os
import threading

import pytest

import ccaudit.ingest as ingest
from ccaudit.classify import shown_principal
from ccaudit.ingest import Dump, iter_lines, read_rows
from ccaudit.stats import LoadStats
from ccaudit.load import load_dumps
from ccaudit.store import Store


def _rec(i, time="2024-05-06T10:00:00Z", **data) -> dict:
    return {"id": f"r-{i}", "time": time, "data": {"methodName": "GetUsers", **data}}


def _read(path) -> tuple[LoadStats, list]:
    stats = LoadStats()
    return stats, list(read_rows(Dump(str(path)), stats))


def test_records_after_a_json_array_are_reported_not_dropped(tmp_path):
    # an array followed by JSON Lines (say, `cat week1.json week2.jsonl`): the array's
    # record loads, the rest is one malformed entry -- before, it vanished without a trace
    p = tmp_path / "mixed.json"
    p.write_text(json.dumps([_rec(1)]) + "\n" + json.dumps(_rec(2)) + "\n")
    stats, rows = _read(p)
    assert len(rows) == 1
    assert stats.malformed == 1
    assert "text after the JSON array" in stats.problem_lines()[0]


def test_deep_nesting_in_an_array_is_refused_not_a_crash(tmp_path):
    # ijson needs memory quadratic in the depth, and encoding a deep value recursed: both
    # crashed or blew up before
    deep = "[" * 5000 + "]" * 5000
    p = tmp_path / "deep.json"
    p.write_text('[{"id":"a","time":"2024-05-06T10:00:00Z","data":{"methodName":"mds.Authorize",'
                 f'"authorizationInfo":{{"granted":{deep}}}}}}}]')
    stats, rows = _read(p)
    assert rows == [] and stats.malformed == 1
    assert "nested too deep" in stats.problem_lines()[0]


def test_an_overlong_line_at_a_range_end_belongs_to_one_range_only(monkeypatch):
    monkeypatch.setattr(ingest, "MAX_LINE", 100)
    monkeypatch.setattr(ingest, "BUFFER", 16)
    data = b"a" * 10 + b"\n" + b"b" * 10 + b"\n" + b"X" * 300 + b"\n" + b"c" * 5 + b"\n"
    boundary = 22  # where the X line starts

    def lines(start, end):
        f = io.BufferedReader(io.BytesIO(data))
        f.seek(start)
        return [line[:1] for line in iter_lines(f, end)]

    assert lines(0, boundary) == [b"a", b"b"]
    assert lines(boundary, None) == [b"X", b"c"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_loads_with_workers(tmp_path):
    fifo = tmp_path / "dump.fifo"
    os.mkfifo(fifo)
    body = "".join(json.dumps(_rec(i)) + "\n" for i in range(300)).encode()
    writer = threading.Thread(target=lambda: fifo.write_bytes(body))
    writer.start()
    store = Store(str(tmp_path / "s.db"))
    stats = load_dumps([str(fifo)], store, workers=2, chunk=4096)
    writer.join()
    assert (stats.records_read, stats.inserted) == (300, 300)


def test_clean_does_not_delete_a_non_store_whose_name_has_a_hash(invoke, tmp_path, sample_cli):
    store = tmp_path / "s.db"
    invoke("load", sample_cli, "--db", store, "-q")
    notes = tmp_path / "s.db#x"
    notes.write_text("my notes")
    result = invoke("clean", "--db", notes, "--yes")
    assert result.exit_code == 2
    assert notes.read_text() == "my notes"


def test_until_a_basic_format_date_includes_that_day(invoke, sample_cli):
    result = invoke("report", sample_cli, "-q", "--format", "json", "--until", "20240506")
    assert json.loads(result.stdout)["summary"]["events"] == 7


@pytest.mark.parametrize("principal, shown", [
    ("User:", "(unknown)"),
    ("", "(unknown)"),
    ({"email": True}, "true"),
    ({"confluentUser": {"resourceId": 12345}}, "12345"),
    ({"confluentUser": {"resourceId": {"a": 1}}}, '{"a":1}'),
])
def test_odd_principals_show_as_text(principal, shown):
    assert shown_principal(principal) == shown


def test_hour_labels_wider_than_a_cell_stay_apart(invoke, tmp_path):
    # Lord Howe Island ends daylight saving time by half an hour: 01:30-02:00 repeats, and
    # its labels ("01+11", "01+10:30") are wider than the default cell
    p = tmp_path / "lh.jsonl"
    p.write_text(json.dumps(_rec(1, "2024-04-06T14:45:00Z")) + "\n")
    result = invoke("report", p, "-q", "--tz", "Australia/Lord_Howe")
    header = next(line for line in result.stdout.splitlines() if "Hour:" in line)
    assert "01+11 01+10:30" in " ".join(header.split()) or "01+11  01+10:30" in header
    assert "01+1101" not in header


def test_the_decompressing_thread_stops_when_the_load_does():
    # after a failed merge the consumer stops reading; the producer must not hang on
    from ccaudit.parallel import _background

    produced = threading.Event()

    def endless():
        while True:
            produced.set()
            yield {"path": "x"}

    before = threading.active_count()
    items = _background(endless())
    next(items)
    items.close()
    for _ in range(100):
        if threading.active_count() == before:
            break
        threading.Event().wait(0.01)
    assert threading.active_count() == before


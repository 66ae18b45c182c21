"""Absurd nesting and oversize items in JSON documents: refused in flat memory and time,
as one malformed entry, with every record before them kept."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ccaudit.ingest import Dump, read_rows
from ccaudit.nesting import MAX_DEPTH, Guard, TooDeep, TooLarge
from ccaudit.stats import LoadStats


def record(i: int, **extra) -> dict:
    return {"id": f"rec-{i}", "time": "2024-05-06T10:00:00Z", "data": {"methodName": "GetUsers", **extra}}


def feed(data: bytes, base: int = 1, max_item: int = 1000, block: int = 7) -> str:
    guard = Guard(base, max_item)
    try:
        for i in range(0, len(data), block):
            guard.feed(data[i:i + block])
    except (TooDeep, TooLarge) as e:
        return type(e).__name__
    return "ok"


@pytest.mark.parametrize("block", [1, 3, 7, 4096])
@pytest.mark.parametrize("text, verdict", [
    (b'[{"a":"' + b"[" * 200 + b'\\"{{"}]', "ok"),  # brackets inside strings do not count
    (b"[" + b'{"a":' * (MAX_DEPTH + 5) + b"1" + b"}" * (MAX_DEPTH + 5) + b"]", "TooDeep"),
    (b"[" + b"[" * (MAX_DEPTH + 5) + b"]" * (MAX_DEPTH + 5) + b"]", "TooDeep"),
    (b'[{"a":"' + b"x" * 5000 + b'"}]', "TooLarge"),
    (b'["' + b"x" * 5000 + b'"]', "TooLarge"),
    (b'[{"a":"\\\\' + b"x" * 500 + b'"},' * 20 + b"{}]", "ok"),  # many items, each small
    (b"[" + b'"abc",' * 2000 + b'"x"]', "ok"),
    (b"[" + b"12345," * 2000 + b"1]", "ok"),
    (b"[1, " + b"1" * 5000 + b"]", "TooLarge"),  # a number was no item: ijson took one of 120 MB whole
    (b"[" + b"1" * 999 + b", " + b"1" * 999 + b", true, null]", "ok"),
    (b"[1, " + b"1" * 700 + b', "' + b"a" * 700 + b'", ' + b"2" * 700 + b", [" + b"3," * 300 + b"3]]", "ok"),
    (b'["' + b"a" * 900 + b'", "' + b"b" * 900 + b'", 1, "' + b"c" * 900 + b'"]', "ok"),  # strings one after another
])
def test_the_guard(text, verdict, block):
    assert feed(text, block=block) == verdict


def test_concatenated_objects_are_items_at_depth_zero():
    assert feed(b'{"a":[1,{"b":"]]]"}]}\n' * 300, base=0) == "ok"
    assert feed(b'{"a":"' + b"y" * 3000 + b'"}', base=0) == "TooLarge"


def read(path) -> tuple[list, LoadStats]:
    stats = LoadStats()
    return [row[1] for row in read_rows(Dump(str(path)), stats)], stats


def odd_first(tail: bytes) -> bytes:
    """An array whose first item is odd enough to send the rest to ijson (a number)."""
    return b"[" + json.dumps(record(1)).encode() + b", 7, " + tail + b"]"


@pytest.mark.parametrize("tail", [
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    b'{"a":[' * 50_000 + b"1" + b"]}" * 50_000,
])
def test_deep_nesting_is_one_malformed_entry(tmp_path, tail):
    path = tmp_path / "deep.json"
    path.write_bytes(odd_first(tail))
    ids, stats = read(path)
    assert ids == ["rec-1"]
    assert stats.malformed == 2 and "JSON nested too deep" in stats.problems[-1][2]


def test_an_item_over_the_record_limit_is_refused(tmp_path, monkeypatch):
    import ccaudit.careful as careful
    import ccaudit.jsondoc as jsondoc

    monkeypatch.setattr(jsondoc, "MAX_RECORD", 100_000)
    monkeypatch.setattr(careful, "MAX_RECORD", 100_000)
    path = tmp_path / "big.json"
    path.write_bytes(odd_first(json.dumps(record(2, big="z" * 300_000)).encode()))
    ids, stats = read(path)
    assert ids == ["rec-1"] and "an item larger than 100000 bytes" in stats.problems[-1][2]


def test_memory_stays_flat_on_an_18_mb_nesting_bomb(tmp_path):
    path = tmp_path / "bomb.json"
    depth = 3_000_000
    path.write_bytes(odd_first(b'{"a":' * depth + b"1" + b"}" * depth))
    # VmHWM, not ru_maxrss: the latter starts at the forking parent's peak (pytest's, here)
    code = ("import re, sys; from ccaudit.ingest import Dump, read_rows; from ccaudit.stats import LoadStats;"
            "s = LoadStats(); n = sum(1 for _ in read_rows(Dump(sys.argv[1]), s));"
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1];"
            "print(n, s.malformed, int(hwm) // 1024)")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    records, malformed, peak_mib = proc.stdout.split()
    assert (records, malformed) == ("1", "2")
    assert int(peak_mib) < 150, f"peak RSS {peak_mib} MiB"


def test_the_guard_says_where_it_stopped():
    with pytest.raises(TooDeep) as deep:
        Guard(1, 10**9).feed(b'["[[[", ' + b"[" * 70)
    assert deep.value.at == len(b'["[[[", ') + MAX_DEPTH - 1  # the bracket one level too deep
    guard, first = Guard(1, 100), b'[{"a": 1}, "' + b"x" * 50
    guard.feed(first)
    with pytest.raises(TooLarge) as large:
        guard.feed(b"x" * 100)
    exact = first.index(b'"x') + 100 - len(first)  # 100 bytes after the item's start
    assert exact - len(first) <= large.value.at <= exact  # to within the block the item began in

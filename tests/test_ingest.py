"""Reading dumps: shapes, compression, noise, prefixes, malformed lines, bad inputs.

Everything here goes through ``ccaudit.ingest`` alone (no store): ``read_rows`` yields one
row per record that parsed, and ``LoadStats`` says what was skipped and where. De-duplication
is the store's job, so a repeated record is read twice here.

Each small dump is written in the test; the expected counts are the lines the test wrote.
"""
from __future__ import annotations

import bz2
import gc
import gzip
import io
import itertools
import json
import lzma
import re
import shutil
import subprocess
import sys
import threading
import time
import weakref
import zlib

import pytest

import ccaudit.ingest as ingest_module
import ccaudit.lines as lines_module
import ccaudit.shape as shape_module
from ccaudit import collector
from ccaudit.errors import InputError
from ccaudit.ingest import MAX_LINE, Dump, iter_lines, note_if_failed, read_rows, sniff
from ccaudit.schema import ROW_COLUMNS, SECTION
from ccaudit.stats import LoadStats
from tests.records import REQUEST, json_line, numbered, record

# -- helpers --------------------------------------------------------------------------


def row_dict(row: tuple) -> dict:
    """A row from read_rows as {column: value}."""
    return dict(zip(ROW_COLUMNS[row[SECTION]], row))


def ingest(path) -> tuple[LoadStats, list[dict]]:
    """Read one input; return its stats (with failed filled) and its rows."""
    stats = LoadStats()
    dump = Dump(str(path))
    before = stats.records_read, stats.noise_lines, stats.malformed
    rows = [row_dict(r) for r in read_rows(dump, stats)]
    note_if_failed(dump.label, stats, before)
    return stats, rows


# record n: id "rec-<n>", a console request signed in as u<n>@example.com
rec = numbered("rec-", type=REQUEST, principal=lambda n: {"email": f"u{n}@example.com"})


def compact(obj) -> bytes:
    """``obj`` as a compact JSON line."""
    return json_line(obj, compact=True)


def line(n) -> bytes:
    """Record n as a compact JSON line."""
    return compact(rec(n))


def write(tmp_path, name: str, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def ids(rows) -> list[str]:
    return [r["id"] for r in rows]


# -- sample-cli.txt (hand counts in conftest.py) ----------------------------------------

def test_sample_cli_counts(sample_cli, expected_sample):
    stats, rows = ingest(sample_cli)
    want = expected_sample["load"]
    assert stats.records_read == want["records_read"] == 14  # the duplicate is still read
    assert stats.noise_lines == want["noise_lines"] == 16
    assert stats.malformed == want["malformed"] == 6
    assert stats.malformed_lines == [f"{sample_cli}:{n}" for n in want["malformed_line_numbers"]]
    # every line is accounted for: 14 + 16 + 6 = 36 lines in the file
    assert stats.records_read + stats.noise_lines + stats.malformed == 36 == stats.lines
    assert len(rows) == 14 and len(set(ids(rows))) == 13
    assert stats.failed == {}


def test_sample_cli_malformed_reasons(sample_cli):
    stats, _ = ingest(sample_cli)
    reasons = {pos: why for _, pos, why in stats.problems}
    assert "methodName" in reasons[32]  # valid JSON without data.methodName
    assert "time" in reasons[33]  # "time": "yesterday"
    assert "after" in reasons[34] or "trailing" in reasons[34]  # JSON + trailing text


@pytest.mark.parametrize("end", [b"\n", b"\r\n"])
def test_a_line_cut_short_is_said_so_with_either_line_end(tmp_path, end):
    # was "not valid JSON" with CRLF: the CR, inside the string cut short, is no JSON
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(b'{"id":"a","time":"2024-05-06T07:00:00Z","data":{"methodName":"kafka.Auth' + end)
    stats, _ = ingest(dump)
    assert [why for _, _, why in stats.problems] == ["JSON cut short"]


def test_sample_cli_first_lines(sample_cli):
    _stats, rows = ingest(sample_cli)
    first = rows[0]
    assert first["id"] == "a0000000-0000-4000-8000-000000000001"
    assert first["hour"] == 1714978800 // 3600  # 2024-05-06T07:00:00Z
    assert first["method"] == "kafka.Authentication"
    # line 17 has a "Partition:3 Offset:1234<TAB>" prefix
    assert "a0000000-0000-4000-8000-000000000008" in ids(rows)


# -- shapes -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, shape", [
    ("sample-array.json.gz", "array"),
    ("sample-pretty.json.bz2", "objects"),
    ("sample.jsonl.xz", "lines"),
    ("sample-prefixes.txt", "lines"),
    ("sample-cli.txt", "lines"),
])
def test_sniffed_shape(fixtures_dir, name, shape):
    dump = Dump(str(fixtures_dir / name))
    stream = dump.open()
    try:
        assert sniff(stream)[0] == shape
        assert dump.compressed == name.endswith((".gz", ".bz2", ".xz"))
    finally:
        dump.close(stream)


class _Trickle(io.RawIOBase):
    """A pipe whose writer sent ``first`` alone, then the rest."""

    def __init__(self, first: bytes, rest: bytes):
        self.parts = [first, rest]

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if not self.parts:
            return 0
        data = self.parts[0][:len(buf)]
        self.parts[0] = self.parts[0][len(data):]
        if not self.parts[0]:
            self.parts.pop(0)
        buf[:len(data)] = data
        return len(data)


PRETTY = "\n".join(json.dumps(rec(i), indent=2) for i in range(1, 4)).encode() + b"\n"
ARRAY = json.dumps([rec(i) for i in range(1, 4)], indent=1).encode()


@pytest.mark.parametrize("text, shape", [(PRETTY, "objects"), (ARRAY, "array"), (line(1) + line(2) + line(3), "lines")])
@pytest.mark.parametrize("first", [1, 2, 3])
def test_the_shape_does_not_depend_on_how_a_pipe_delivers_the_first_bytes(text, shape, first):
    # was: a pipe that gave "{" alone first was read as lines, every line malformed
    for lead in (b"", b"\n \n"):
        whole = lead + text
        stream = io.BufferedReader(_Trickle(whole[:len(lead) + first], whole[len(lead) + first:]))
        found, stream = sniff(stream)
        assert found == shape and stream.read() == whole


@pytest.mark.parametrize("first", [b"[not json", b"[INFO] consumer started", b"[1, 2 x]", b"[\"a\" \"b\"]",
                                   b"[1, 2]", b"[" * 1000 + b"]" * 1000, b"[" * 5000,
                                   b"[" * 100, b"[{\"a\": " * 100])
def test_json_lines_whose_first_line_is_not_an_array_begun_are_read_as_lines(tmp_path, first):
    # a download's first message that is not a record ("[INFO] ...") made the whole file an
    # array: one syntax error, every record after it unread (exit 2)
    p = write(tmp_path, "d.jsonl", first + b"\n" + line(1) + line(2))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"]
    assert stats.malformed_lines == [f"{p}:1"]


@pytest.mark.parametrize("broken, at, read", [(b",]", 0, 2), (b",\x00", 1, 2),  # (the comma; was the "]")
                                              (b",\xef\xbb\xbf" + json.dumps(rec(3)).encode() + b"]", 1, 3),
                                              (b" " + json.dumps(rec(3)).encode() + b"]", 1, 3),  # no comma
                                              (b"] x", 2, 2)])  # text after it
@pytest.mark.parametrize("after", [b"", b"\n"])
def test_an_array_on_one_line_broken_after_its_records_keeps_them(tmp_path, broken, at, read, after):
    # was: read as JSON Lines (a syntax error other than the end), so the one line was one
    # malformed line, "text after the JSON object", every record lost (exit 2)
    items = b"[" + b",".join(json.dumps(rec(n)).encode() for n in (1, 2))
    p = write(tmp_path, "a.json", items + broken + after)
    stats, rows = ingest(p)
    assert ids(rows) == [f"rec-{n}" for n in range(1, read + 1)]
    assert [line.split(": ", 1)[0] for line in stats.problem_lines()] == [f"{p}@byte {len(items) + at}"]


@pytest.mark.parametrize("first", [b"null", b'"x"', b"1", b"[]"])
@pytest.mark.parametrize("broken, problems", [(b"]\x00\x00\x00\x00", 1), (b",]", 2), (b"] trailing", 2)])
def test_an_array_on_one_line_whose_first_item_is_no_object_keeps_its_records(tmp_path, first, broken, problems):
    # was: read as JSON Lines unless the first item was an object (a tombstone, null, first
    # in a topic's dump): one malformed line, every record lost, exit 2
    items = b"[" + b",".join([first, *(json.dumps(rec(n)).encode() for n in (1, 2))])
    p = write(tmp_path, "a.json", items + broken + b"\n")
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"] and len(stats.problem_lines()) == problems  # the first item, the
    assert problems == 1 or stats.problem_lines()[1].startswith(f"{p}@byte ")  # break (NULs are padding)


def test_a_whole_array_on_one_line_then_nul_padding_is_an_array(tmp_path):
    # jq -c ends its line: the NULs after it were taken for more lines, so JSON Lines, and
    # the array one malformed line; then they were text after the array, read in part
    items = b"[" + b",".join(json.dumps(rec(n)).encode() for n in (1, 2)) + b"]\n"
    stats, rows = ingest(write(tmp_path, "a.json", items + b"\x00" * 4096))
    assert ids(rows) == ["rec-1", "rec-2"] and stats.malformed == 0 and stats.cut == []


@pytest.mark.parametrize("compress", [False, True])
def test_an_array_after_noise_lines_is_read(tmp_path, compress):
    # was: "read in part: a.json@byte 0: invalid JSON", then "no audit record could be read", exit 2
    items = b"[\n" + b",\n".join(json.dumps(rec(n)).encode() for n in (1, 2, 3)) + b"\n]\n"
    data = b'% Headers: [content-type="application/json"]\n' + items
    stats, rows = ingest(write(tmp_path, "a.json.gz" if compress else "a.json", gzip.compress(data) if compress
                               else data))
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"] and stats.problems == [] and stats.noise_lines == 1


@pytest.mark.parametrize("prefix, end", [(p, e) for p in (b"", b"Partition:0 Offset:1\t", b'{"tenant": "x"}\t')
                                         for e in (b"\n", b"", b"pad") if p or e == b"\n"])
def test_a_first_line_broken_after_a_record_and_a_comma_then_lines_is_json_lines(tmp_path, prefix, end):
    # a message of one's own first, then JSON Lines: its "," does not make the lines an array's items;
    # nor does a prefixed second line not yet read to its end (the input's last, or longer than a
    # read); an object on it so is taken for an array's item (its records read on past the break)
    second = prefix + compact(rec(1, **({"note": "x" * 300_000} if end == b"pad" else {})))
    p = write(tmp_path, "d.jsonl", b'[{"level": "warn", "msg": "partial"} retrying,\n'
              + (second.rstrip(b"\n") if end == b"" else second + line(2)))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"][:1 + (end != b"")] and stats.malformed_lines == [f"{p}:1"]


@pytest.mark.parametrize("second", [b'{"id": "rec-2", x},', b'{"id": "rec-2", "note": "' + b"x" * 300_000 + b'"},'])
def test_an_array_of_an_item_a_line_whose_first_two_items_are_broken_or_the_second_long_is_an_array(tmp_path,
                                                                                                     second):
    # the first line's "," and a second line that is no line of JSON Lines (broken too, or
    # longer than was read to tell): was JSON Lines, every record lost (exit 2)
    rest = b",\n".join(json.dumps(rec(n)).encode() for n in (3, 4))
    p = write(tmp_path, "a.json", b'[{"id": "rec-1", x},\n' + second + b"\n" + rest + b"]\n")
    stats, rows = ingest(p)
    assert ids(rows)[-2:] == ["rec-3", "rec-4"] and stats.problem_lines()[0].startswith(f"{p}@byte ")


def test_a_first_line_broken_after_a_record_then_lines_is_json_lines(tmp_path):
    # records after it are not read as the rest of an array that the first line broke off
    p = write(tmp_path, "d.jsonl", b'[{"a": 1},]\n' + line(1) + line(2))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"] and stats.malformed_lines == [f"{p}:1"]


@pytest.mark.parametrize("damage, first", [((b"}", b"}x"), 2), ((b'"rec-1"', b'"rec-1'), 2), ((b"},", b"} x"), 1)],
                         ids=["x", "quote", "comma"])  # (without its comma, the first item is whole)
@pytest.mark.parametrize("items", [3, 1])
def test_an_array_of_an_item_a_line_whose_first_item_is_broken_keeps_the_items_after_it(tmp_path, damage, first,
                                                                                        items):
    # `sed '1s/^/[/; $!s/$/,/; $s/$/]/'` of JSON Lines, one byte wrong in its first item: was
    # read as JSON Lines (the first line broken after an object began, lines after it), so
    # each item after it was "text after the JSON object": every record lost, exit 2
    lines = [json.dumps(rec(n)).encode() for n in range(1, items + 2)]
    text = b"[" + b",\n".join(lines) + b"]\n"
    p = write(tmp_path, "a.json", text.replace(*damage, 1))
    stats, rows = ingest(p)
    assert ids(rows) == [f"rec-{n}" for n in range(first, items + 2)]
    assert len(stats.problem_lines()) == 1 and stats.problem_lines()[0].startswith(f"{p}@byte "), stats.problem_lines()


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("last", [False, True], ids=["middle", "last"])
def test_a_piece_of_an_array_of_an_item_a_line_loads_every_item(tmp_path, last, crlf):
    # `split -l` of `sed '1s/^/[/; $!s/$/,/; $s/$/]/'` of JSON Lines: a piece after the first
    # has no "[", and was JSON Lines with every line but its last "text after the JSON object".
    # Of CRLF lines, sed puts the comma after the CR
    items = [json.dumps(rec(n)).encode() + b"\r" * crlf for n in range(1, 5)]
    ends = [b",", b" ,", b",", b"]" if last else b","]
    p = write(tmp_path, "piece.json", b"".join(item + end + b"\n" for item, end in zip(items, ends)))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3", "rec-4"] and stats.malformed_lines == []


def test_a_piece_of_an_array_of_records_in_strings_loads_every_item(tmp_path):
    # as a piece of an array of records (above), of a sink connector's strings: was "not a JSON
    # object" for each item but the last
    items = [json.dumps(json.dumps(rec(n))).encode() for n in range(1, 4)]
    p = write(tmp_path, "piece.json", items[0] + b",\n" + items[1] + b" ,\r\n" + items[2] + b"]\n")
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"] and stats.malformed_lines == []


@pytest.mark.parametrize("line_of", [lambda r: r, lambda r: b'{"tenant": "x"}\t' + r, lambda r: b"Offset:12 " + r],
                         ids=["alone", "key", "prefix"])
def test_a_record_then_a_comma_is_read_whatever_msgspec_says_of_it(tmp_path, line_of):
    # half a UTF-16 pair in a field ccaudit does not read is "JSON cut short" to msgspec with a
    # comma after the record, and an object --print-key key went another way
    records = [json.dumps(rec(1, note="\ud800")).encode(), json.dumps(rec(2, note="\udc00")).encode()]
    p = write(tmp_path, "piece.json", b"".join(line_of(r) + b",\n" for r in records))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"] and stats.malformed_lines == []


@pytest.mark.parametrize("text", [b'{"id": "a"},', b'{"id": "a"}{"id": "b"},', b'{"id": "a",'])
def test_a_line_of_no_whole_record_then_a_comma_stays_malformed(tmp_path, text):
    p = write(tmp_path, "d.jsonl", text + b"\n" + line(1))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1"] and stats.malformed_lines == [f"{p}:1"]


@pytest.mark.parametrize("text", [b"[\n\n  ]", b"[{\n", b"[\n\n  {", b"[ \t{\n", b"[1, {\n", b'[{"a": "b\n'])
def test_a_document_begun_on_the_first_line_is_an_array(text):
    for eof in (True, False):
        assert shape_module._shape(text, eof) == "array"


@pytest.mark.parametrize("text", [b"[{", b"[ \t{", b"[1, {", b'[{"a": "b'])
def test_a_document_begun_on_a_first_line_not_yet_ended_is_an_array_only_at_the_end(text):
    assert shape_module._shape(text, True) == "array"
    assert shape_module._shape(text, False) == ""  # the line may yet close the value, and more lines follow


@pytest.mark.parametrize("compress, length", [(gzip.compress, 10_000), (lambda b: b, 300_000)], ids=["gzip", "plain"])
def test_a_long_whole_array_on_the_first_line_then_records_is_json_lines(tmp_path, compress, length):
    # was: the first line, longer than a read (8 KiB of gzip, 256 KiB of a file), was taken for
    # an array begun: "item 1: no id", "text after the JSON array", every record lost (exit 2)
    first = json.dumps([{"note": "x" * length}]).encode()
    p = write(tmp_path, "d.jsonl", compress(first + b"\n" + line(1) + line(2)))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"]
    assert stats.malformed_lines == [f"{p}:1"]


def test_a_whole_array_on_the_first_line_is_found_whole_however_a_pipe_delivers_it():
    # was: a pipe that gave '[{"a": 1}' first made the file an array; the records after it were lost
    text = b'[{"a": 1}]\n' + line(1)
    stream = io.BufferedReader(_Trickle(text[:9], text[9:]))
    found, stream = sniff(stream)
    assert found == "lines" and stream.read() == text


def test_a_whole_array_on_the_first_line_is_one_if_nothing_follows():
    assert shape_module._shape(b"[{}]\n\n", True) == "array"
    assert shape_module._shape(b"[{}]\n\n", False) == ""  # not known yet
    assert shape_module._shape(b"[{}]\n{}", False) == "lines"


@pytest.mark.parametrize("compress", [gzip.compress, lambda b: b], ids=["gzip", "plain"])
@pytest.mark.parametrize("text", [PRETTY, ARRAY], ids=["objects", "array"])
def test_the_shape_is_found_after_more_blank_lines_than_a_read_holds(tmp_path, compress, text):
    # was: read as lines past 8 KiB of blank lines in gzip, 256 KiB in a plain file
    p = write(tmp_path, "d", compress(b"\n" * (ingest_module.BUFFER + 10) + b" \t\r\n" * 1000 + text))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"] and stats.malformed == 0


def test_an_input_of_only_blank_lines_is_read_ahead_no_further_than_a_line_may_be(monkeypatch, tmp_path):
    monkeypatch.setattr(shape_module, "MAX_LINE", 1000)
    reads = []
    raw = _Trickle(b"\n" * 10, b"\n" * 100_000)
    real = raw.readinto
    raw.readinto = lambda buf: reads.append(len(buf)) or real(buf)
    shape, stream = sniff(io.BufferedReader(raw, 256))
    assert shape == "lines" and sum(reads) < 1000 + 2 * ingest_module.BUFFER + 256
    assert len(stream.read()) == 100_010


@pytest.mark.parametrize("name", ["sample-array.json.gz", "sample-pretty.json.bz2", "sample.jsonl.xz",
                                  "sample-prefixes.txt"])
def test_variants_give_the_same_records(fixtures_dir, sample_cli, name):
    _, cli_rows = ingest(sample_cli)
    stats, rows = ingest(fixtures_dir / name)
    # the 14 records of sample-cli.txt, nothing else
    assert (stats.records_read, stats.noise_lines, stats.malformed) == (14, 0, 0)
    assert sorted(ids(rows)) == sorted(ids(cli_rows))
    def key(r):
        return r["id"], r["hour"], r["ts"], r["method"], r["principal"], r.get("section"), r.get("key")

    assert sorted(map(key, rows)) == sorted(map(key, cli_rows))


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress], ids=["gzip", "bzip2", "xz"])
def test_compression_by_magic_bytes_not_by_name(tmp_path, sample_cli, compress):
    # a compressed CLI dump with a name that says nothing about compression
    p = write(tmp_path, "dump.data", compress(sample_cli.read_bytes()))
    stats, _rows = ingest(p)
    assert (stats.records_read, stats.noise_lines, stats.malformed) == (14, 16, 6)
    assert stats.malformed_lines == [f"{p}:{n}" for n in range(31, 37)]


def test_gzip_array_named_txt(tmp_path, fixtures_dir):
    p = tmp_path / "array.txt"
    shutil.copy(fixtures_dir / "sample-array.json.gz", p)
    stats, _rows = ingest(p)
    assert (stats.records_read, stats.malformed) == (14, 0)


def test_plain_file_named_gz_is_read_as_text(tmp_path):
    p = write(tmp_path, "dump.json.gz", line(1) + line(2))
    _stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"]


def test_json_lines(tmp_path):
    p = write(tmp_path, "d.jsonl", line(1) + line(2) + line(3))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"]
    assert (stats.noise_lines, stats.malformed, stats.lines) == (0, 0, 3)


def test_json_lines_crlf_and_no_final_newline(tmp_path):
    p = write(tmp_path, "d.jsonl", line(1).replace(b"\n", b"\r\n") + line(2).rstrip(b"\n"))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"]
    assert stats.malformed == 0


def test_json_array(tmp_path):
    data = json.dumps([rec(1), rec(2), rec(3)], indent=1).encode()
    stats, rows = ingest(write(tmp_path, "a.json", b"\n\n  " + data))
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"]
    assert stats.malformed == 0


def test_json_array_on_one_line(tmp_path):
    _stats, rows = ingest(write(tmp_path, "a.json", json.dumps([rec(1), rec(2)]).encode()))
    assert ids(rows) == ["rec-1", "rec-2"]


def test_json_array_items_that_are_not_records(tmp_path):
    # item 1 a number, item 3 a string, item 4 an object without id: 3 malformed, 2 records
    items = [1, rec(1), "x", {"time": "2024-05-06T10:00:00Z", "data": {"methodName": "A"}}, rec(2)]
    stats, rows = ingest(write(tmp_path, "a.json", json.dumps(items).encode()))
    assert ids(rows) == ["rec-1", "rec-2"]
    assert stats.malformed == 3
    assert all(f"{tmp_path / 'a.json'}" in w for w in stats.malformed_lines)
    assert [m.rsplit("item ", 1)[-1] for m in stats.malformed_lines] == ["1", "3", "4"]


def test_json_array_broken_in_the_middle_keeps_what_came_before_and_after(tmp_path):
    # was: every record after the syntax error unread ("N bytes left unread", exit 0)
    text = "[" + json.dumps(rec(1)) + ",\n" + json.dumps(rec(2)) + ",\n{garbage here},\n" + json.dumps(rec(3)) + "]"
    p = write(tmp_path, "a.json", text.encode())
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"]
    assert stats.malformed == 1 and stats.cut == []
    assert stats.problem_lines() == [f"{p}@byte {text.index('garbage')}: invalid JSON; read on at the next record, "
                                     f"byte {text.index(json.dumps(rec(3)))}"]


def test_records_after_a_json_array_are_reported_not_dropped(tmp_path):
    # an array followed by JSON Lines (say, `cat week1.json week2.jsonl`): the array's
    # record loads, the rest is one malformed entry -- before, it vanished without a trace
    p = tmp_path / "mixed.json"
    p.write_text(json.dumps([record("r-1")], indent=1) + "\n" + json.dumps(record("r-2")) + "\n")
    stats, rows = ingest(p)
    assert len(rows) == 1
    assert stats.malformed == 1
    assert "text after the JSON array" in stats.problem_lines()[0]


def test_a_one_line_array_with_lines_after_it_is_json_lines(tmp_path):
    # the first line is whole JSON and more lines follow: JSON Lines whose first line is not
    # a record (a download's first message may be any JSON), each line counted on its own
    p = tmp_path / "mixed.json"
    p.write_text(json.dumps([record("r-1")]) + "\n" + json.dumps(record("r-2")) + "\n")
    stats, rows = ingest(p)
    assert [r["id"] for r in rows] == ["r-2"] and stats.malformed_lines == [f"{p}:1"]


def test_pretty_printed_objects(tmp_path):
    text = "\n".join(json.dumps(rec(i), indent=2) for i in range(1, 4)) + "\n"
    assert text.splitlines()[0] == "{"
    stats, rows = ingest(write(tmp_path, "p.json", text.encode()))
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"]
    assert stats.malformed == 0


def test_pretty_printed_after_blank_lines(tmp_path):
    text = "\n  \n" + "\n".join(json.dumps(rec(i), indent=4) for i in range(1, 3))
    _stats, rows = ingest(write(tmp_path, "p.json", text.encode()))
    assert ids(rows) == ["rec-1", "rec-2"]


def test_concatenated_objects(tmp_path):
    # first line is "{" alone; then objects follow each other with no separator at all
    text = "{\n" + json.dumps(rec(1))[1:] + json.dumps(rec(2)) + json.dumps(rec(3), indent=1)
    stats, rows = ingest(write(tmp_path, "c.json", text.encode()))
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"]
    assert stats.malformed == 0


def test_pretty_printed_cut_in_half(fixtures_dir):
    # sample-cut.json: the 14 records pretty-printed, then the first 200 characters of one more
    p = fixtures_dir / "sample-cut.json"
    stats, rows = ingest(p)
    assert stats.records_read == 14 and len(set(ids(rows))) == 13
    assert stats.malformed == 1
    assert re.fullmatch(re.escape(str(p)) + r"@byte \d+", stats.malformed_lines[0])
    assert "cut short" in stats.problems[0][2] or "unread" in stats.problems[0][2]


@pytest.mark.parametrize("indent", [2, 4])
def test_pieces_of_a_pretty_dump_cut_inside_records_keep_each_whole_record(tmp_path, indent):
    # was: a piece that begins inside a record was read as lines, every line of it malformed,
    # and every record of it lost ("no audit record could be read"): split -b, a transfer's chunks
    texts = [json.dumps(rec(i), indent=indent).encode() + b"\n" for i in range(1, 41)]
    text = b"".join(texts)
    starts = list(itertools.accumulate(map(len, texts), initial=0))
    for cut in (1, 17, len(texts[0]) // 2, len(texts[0]) + 5, starts[20] - 3, starts[20] + 40):
        ends = [0, cut, cut + len(texts[0]) * 3 + 11, len(text)]
        got = []
        for n, (a, b) in enumerate(zip(ends, ends[1:])):
            stats, rows = ingest(write(tmp_path, f"p{n}.json", text[a:b]))
            got += ids(rows)
            assert stats.records_read == len(rows) and stats.malformed <= 2, (cut, n, stats.problems)  # the cut ones
        whole = [f"rec-{i + 1}" for i in range(40) if any(a <= starts[i] and starts[i + 1] <= b
                                                           for a, b in zip(ends, ends[1:]))]
        assert got == whole, cut


@pytest.mark.parametrize("first", [b'    "data": {}\n  }\n}', b'  "clusters": {},\n  }\n}', b'"x": 1\n  }\n}', b" }\n}",
                                   b"}"])
@pytest.mark.parametrize("noise", [b"", b"% Headers: [content-type=\"application/cloudevents+json\"]\n"])
@pytest.mark.parametrize("records", [1, 3])
def test_a_piece_of_pretty_records_is_read_past_its_cut_start_as_one_entry(tmp_path, first, noise, records):
    # was: a first line holding an empty object, or a consume command's `% Headers:` line after
    # each record, made the piece lines: every line of its records malformed, none loaded
    # (and a cut start was two entries: "item 1: not a JSON object", "item 2: not valid JSON");
    # so did a first line that is a record's last, "}", with only one record after it
    pretty = [json.dumps(rec(i), indent=2).encode() + b"\n" + noise for i in range(1, records + 1)]
    text = first + b"\n" + noise + b"".join(pretty)
    stats, rows = ingest(write(tmp_path, "piece.json", text))
    assert ids(rows) == [f"rec-{i}" for i in range(1, records + 1)]
    assert stats.noise_lines == (records + 1) * bool(noise)
    at = len(first) - len(first.lstrip())
    assert stats.problems == [(str(tmp_path / "piece.json"), f"@byte {at}", "begins inside a record (a piece of a dump "
                               f"cut part way); read on at the next record, byte {text.index(pretty[0])}")]


def test_pieces_that_look_like_an_arrays_but_are_not_keep_their_records(tmp_path):
    # each lost every record in a first version of reading pieces of pretty arrays: a piece of
    # pretty records that begins at a nested object's "{" then ","; a first line holding JSON
    # in a string; a piece of an indent=0 array, whose records' lists are at column 0 too
    whole = [json.dumps(record(f"r{i}", result={"status": "OK"}, x=1), indent=2).encode() + b"\n" for i in (2, 3)]
    nested = whole[0].replace(b'"r2"', b'"r1"')
    at_0 = json.dumps([record(f"r{i}", listed=[{"op": "READ"}, {"op": "WRITE"}]) for i in (1, 2, 3)], indent=0)
    pieces = {"nested": nested[nested.index(b" {\n      \"status"):] + b"".join(whole),
              "string": b'    "body": "{\\"a\\": 1}"\n  }\n}\n' + b"".join(whole),
              "indent-0": at_0[at_0.index('"op": "READ"', at_0.index('"r1"')):].encode()}
    for name, text in pieces.items():
        stats, rows = ingest(write(tmp_path, f"{name}.json", text))
        assert ids(rows) == ["r2", "r3"] and stats.malformed <= 2, name


@pytest.mark.parametrize("indent", [2, 4, "\t"])
def test_pieces_of_a_pretty_array_cut_inside_records_keep_each_whole_record(tmp_path, indent):
    # was: a piece of `jq .`'s array after the first began inside a record and was read as
    # lines, every line malformed and every record of it lost; and one that began at an item's
    # indented "{" (split -l) was read as objects, which an indented "{" begins none of
    inner = [{"id": f"inner-{n}", "time": "2024-05-06T10:00:00Z"} for n in range(2)]  # objects in a list in each
    text = json.dumps([rec(i, listed=inner) for i in range(1, 41)], indent=indent).encode() + b"\n"
    pad = re.escape(json.dumps([1], indent=indent)[2:-3].encode())  # an item's indent
    starts = [m.end() - 1 for m in re.finditer(rb"(?m)^" + pad + rb"\{$", text)]  # each item's "{"
    stops = [m.end() for m in re.finditer(rb"(?m)^" + pad + rb"\}", text)]
    assert len(starts) == len(stops) == 40
    inside = text.index(b"inner-1", starts[1]) - 50  # in a record's list, before its second object
    size = stops[0] - starts[0]
    for cut in (3, 17, size // 2, starts[1] - 1, starts[1] + 1, stops[1], stops[1] + 1, inside, starts[20] - 3,
                starts[20] + 40):
        ends = [0, cut, cut + size * 3 + 11, len(text)]
        got = []
        for n, (a, b) in enumerate(zip(ends, ends[1:])):
            stats, rows = ingest(write(tmp_path, f"p{n}.json", text[a:b]))
            got += ids(rows)
            assert stats.records_read == len(rows) and stats.malformed <= 2, (cut, n, stats.problems)  # the cut ones
            whole = n == 0 or text[a:a + 60].lstrip().startswith(b"{\n")
            assert whole or "begins inside a record" in stats.problems[0][2], (cut, n, stats.problems)
        pieces = list(zip(ends, ends[1:]))
        want = [f"rec-{i + 1}" for i in range(40) if any(a <= starts[i] and stops[i] <= b for a, b in pieces)]
        assert got == want, cut


@pytest.mark.parametrize("fields", ["at column 0", "indented"])
def test_pieces_of_an_indent_0_array_that_begin_at_an_items_brace_keep_their_first_record(tmp_path, fields):
    # was: the piece's first record, whole, taken for the rest of one ("begins inside a
    # record") and lost: at column 0 an item's "{" is not told from a record's lists' by indent
    items = [json.dumps(record(f"r{i}", listed=[{"op": "READ"}, {"op": "WRITE"}]), indent=0) for i in range(1, 5)]
    if fields == "indented":  # the items' braces at column 0, what they hold not
        items = ["\n  ".join(item.split("\n")[:-1]) + "\n}" for item in items]
    text = "[\n" + ",\n".join(items) + "\n]\n"
    starts = [text.index(item) for item in items]
    for n, at in enumerate(starts):
        stats, rows = ingest(write(tmp_path, "piece.json", text[at:].encode()))
        assert ids(rows) == [f"r{i}" for i in range(n + 1, 5)] and stats.problems == [], (n, stats.problems)
    nested = text.index('{\n"op"' if fields == "at column 0" else '{\n  "op"', starts[1])  # a list's "{" in r2
    stats, rows = ingest(write(tmp_path, "piece.json", text[nested:].encode()))
    assert ids(rows) == ["r3", "r4"] and "begins inside a record" in stats.problems[0][2], stats.problems
    # a record-shaped object last in a record's list: its list's "]" is not the array's (was: r3 and r4
    # lost, "text after the JSON array")
    shaped = json.dumps([record(f"r{i}", listed=[record(f"in{i}")]) for i in range(1, 4)], indent=0)
    stats, rows = ingest(write(tmp_path, "piece.json", shaped[shaped.index('{\n"id": "in1"'):].encode()))
    assert ids(rows) == ["r2", "r3"] and "begins inside a record" in stats.problems[0][2], stats.problems


def test_a_cut_piece_is_told_the_same_however_it_is_read(monkeypatch):
    # was: told from what the first read gave: a pipe that gave a few bytes first, or a gzip
    # stream, made the same piece lines, every line malformed
    texts = [json.dumps(rec(i), indent=2).encode() + b"\n" for i in range(1, 4)]
    piece = b"".join(texts)[len(texts[0]) // 2:]
    far = piece[:piece.index(b"\n") + 1] + b" " * shape_module.PRETTY_LOOK + piece[piece.index(b"\n") + 1:]
    for size in (16, 1 << 18):
        monkeypatch.setattr(shape_module, "BUFFER", size)
        for cut in (3, 40, len(piece)):
            assert sniff(io.BufferedReader(_Trickle(piece[:cut], piece[cut:]), size))[0] == "objects", (size, cut)
            found, stream = sniff(io.BufferedReader(_Trickle(far[:cut], far[cut:]), size))  # too far on
            assert found == "lines" and stream.read() == far


class _LivePipe(_Trickle):
    """A pipe whose writer sent ``first`` and is still there: a read after it would wait."""

    def __init__(self, first: bytes):
        super().__init__(first, b"")
        self.parts = [first]

    def readinto(self, buf) -> int:
        if not self.parts:
            raise AssertionError("read on, where a live pipe would wait for its next record")
        return super().readinto(buf)


@pytest.mark.parametrize("first", [b"Partition:0\tOffset:7\t", b"Warning: an update is available\n"])
def test_a_live_pipe_whose_first_line_cannot_begin_json_is_lines_at_once(first):
    # was: waited for a megabyte or the end before its first record was loaded, so a stop
    # of `confluent kafka topic consume --print-offset ... | ccaudit load -` kept nothing
    for data in (first + line(1) + b"\n", first + line(1)[:9]):  # (the record's line, or its first bytes)
        found, stream = sniff(io.BufferedReader(_LivePipe(data), 1 << 18))
        assert found == "lines"


@pytest.mark.parametrize("prefix", [b"", b"Partition:0\tOffset:7\t"])
def test_a_live_pipe_of_records_in_strings_is_lines_at_once(prefix):
    # was: a record as a JSON string ("{\"id\": ...}", as a StringConverter writes it) was no
    # record on its line to the shape, which waited for the next line before the first loaded
    data = prefix + json.dumps(line(1).decode()).encode() + b"\n"
    assert sniff(io.BufferedReader(_LivePipe(data), 1 << 18))[0] == "lines"


def test_a_live_pipe_of_a_message_then_noise_is_lines_at_once():
    # was (in a first version of reading pieces of pretty dumps): a first line followed by a
    # noise line waited for a megabyte, as if it were a cut record's last
    data = b"hello\n% Headers: [content-type=\"application/json\"]\n" + line(1) + b"\n"
    assert sniff(io.BufferedReader(_LivePipe(data), 1 << 18))[0] == "lines"


def test_stdin(monkeypatch, sample_cli):
    data = sample_cli.read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    stats, _rows = ingest("-")
    assert (stats.records_read, stats.noise_lines, stats.malformed) == (14, 16, 6)
    assert stats.malformed_lines == [f"<stdin>:{n}" for n in range(31, 37)]


def test_stdin_gzip(monkeypatch, fixtures_dir):
    data = (fixtures_dir / "sample-array.json.gz").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    stats, _rows = ingest("-")
    assert (stats.records_read, stats.malformed) == (14, 0)


# -- noise --------------------------------------------------------------------------------

NOISE = {
    "blank": b"\n",
    "whitespace": b"   \t  \n",
    "crlf-blank": b"\r\n",
    "headers": b'% Headers: [content-type="application/cloudevents+json; charset=UTF-8"]\n',
    "kafka-error": b'% Error: KafkaError{code=_TRANSPORT,val=-195,str="Disconnected"}\n',
    "percent": b"% Reached end of topic confluent-audit-log-events [0] at offset 42\n",
    "indented-percent": b"  % Headers: []\n",
    "librdkafka-log": b"%4|1715000000.123|OFFSET|rdkafka#consumer-1| [thrd:main]: {x} reset\n",
    # a second file's byte-order mark (cat of two), then its noise: was malformed
    "noise-after-a-mark": b"\xef\xbb\xbf% Headers: [x=y]\n",
    "headers-no-percent": b'Headers: [content-type="application/cloudevents+json"]\n',
    # the consume command's stderr, redirected into the dump too: was malformed, "not a JSON object"
    "consumer-starting": b"Starting Kafka Consumer. Use Ctrl-C to exit.\n",
    "consumer-stopping": b"Stopping Consumer.\n",
}


@pytest.mark.parametrize("kind", list(NOISE))
def test_noise_line_is_skipped(tmp_path, kind):
    p = write(tmp_path, "d.txt", line(1) + NOISE[kind] + line(2))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"]
    assert (stats.noise_lines, stats.malformed, stats.lines) == (1, 0, 3)


R = b'{"data":{"methodName":"M"},"id":"r%d","time":"2024-05-06T10:00:00Z"}'  # as Confluent orders them
GLUED_LINES = {  # the consume command's own text, then (maybe) a record: named as malformed, not read
    **{kind: NOISE[kind].rstrip(b"\r\n") + R % 0 for kind in NOISE if NOISE[kind].strip()
       and kind != "noise-after-a-mark"},
    "blanks-after": b"% Headers: [a=b]" + R % 0 + b" \t",
    "crlf": b"% Headers: [a=b]" + R % 0 + b"\r",
    "after-a-json-header": b'% Headers: [meta={"id":"1"}]' + R % 0,
    "after-many-braces": b'% Error: {"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":1}}}}}}}} ' + R % 0,
    "two": b"% Headers: []" + R % 1 + b" " + R % 2,
    "cut-then-whole": b"% Headers: [a=b]" + (R % 6)[:50] + R % 7,
    "a-colon-lost": b'% Headers: []{"id":"r0","time" "2024-05-06T10:00:00Z","data":{"methodName":"M"}} ' + R % 2,
    "no-time": b'% Headers: [a=b]{"id":"r8","data":{"methodName":"M"}}',
    "an-error-body-with-an-id": b'% Error: 403 Forbidden: {"errors":[{"id":"7b0b","status":"403"}]}',
    "an-id-and-no-brace": b'% Error: "id" }',
    "an-item-of-a-sed-made-array": b"% Headers: []" + R % 0 + b",",  # was noise: a record read as '{...},' is
    "an-item-after-a-stray-message": b"Starting Kafka Consumer. Use Ctrl-C to exit." + R % 0 + b" , ",
}


@pytest.mark.parametrize("kind", list(GLUED_LINES))
def test_noise_that_ends_as_a_record_does_is_named_not_counted_as_noise(tmp_path, kind):
    # its line end lost (stderr written into the dump as a record was, a --print-key key
    # starting "Headers:"): was one more noise line, a record gone without a word
    p = write(tmp_path, "d.txt", line(1) + GLUED_LINES[kind] + b"\n" + line(2))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"] and (stats.noise_lines, stats.malformed, stats.lines) == (0, 1, 3)
    assert stats.problems[0][1:] == (2, lines_module.GLUED_WHY)


NOISE_WITH_JSON = [  # a consume command's own lines that hold JSON, but no record: noise as they were
    b'% Headers: [x="{a}"] {not a record}\n', b'% Headers: [x={"a": 1}]\n', b'Headers: [x={"a": 1}]\n',
    b'% Error: KafkaError{code=_TRANSPORT,val=-195,str="Disconnected"}\n',
    b'% Headers: [content-type="application/json" x-meta="{"k":"v"}"]\n',  # --full-header prints values raw
    b'% Error: schema registry said {"error_code":40403,"message":"Schema not found"}\n',
    b'%3|1715000000.123|FAIL|rdkafka#consumer-1| {"x":1} failed: {"y": {"z": 2}}\n',
    b'% Headers: [meta={"id":"abc"}]\n',  # "id" in a header's value: its last bytes are not a "}"
    b'% Headers: [meta={"id":"abc"},x=1]\n', b'% Headers: [a={"id":"abc"}],\n',  # nor a "}," or "},"
]


def test_noise_holding_json_that_is_no_record_is_noise(tmp_path):
    # was, for a moment: a --full-header line with a JSON value malformed ("text after the JSON object")
    p = write(tmp_path, "d.txt", line(1) + b"".join(NOISE_WITH_JSON) + line(2))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"] and (stats.noise_lines, stats.malformed) == (len(NOISE_WITH_JSON), 0)


def test_noise_holding_json_between_pretty_objects_is_noise(tmp_path):
    pretty = [json.dumps(json.loads(line(n)), indent=2).encode() + b"\n" for n in (1, 2)]
    p = write(tmp_path, "d.json", pretty[0] + b"".join(NOISE_WITH_JSON) + pretty[1])
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"] and (stats.noise_lines, stats.malformed) == (len(NOISE_WITH_JSON), 0)


def test_noise_ending_in_a_brace_before_pretty_objects_is_noise(tmp_path):
    # was, for a moment: "JSON cut short", the "{" of an error's text taken for a record's
    pretty = [json.dumps(json.loads(line(n)), indent=2).encode() + b"\n" for n in (1, 2, 3)]
    p = write(tmp_path, "d.json", pretty[0] + b"% Error: Broker: Unknown topic {\n" + pretty[1] + pretty[2])
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"] and (stats.noise_lines, stats.malformed) == (1, 0)


def test_telling_the_shape_after_many_noise_lines_reads_each_once(monkeypatch):
    # was: every block read ahead scanned the noise lines from the first again: 4 MiB of
    # them took 7 s, 16 MiB minutes
    lines = 200_000
    head = b"% Headers: []\n" * lines + json.dumps(json.loads(line(1)), indent=2).encode()
    looked = []
    real = shape_module._NON_BLANK

    class Counted:
        def search(self, *args):
            looked.append(1)
            return real.search(*args)

    monkeypatch.setattr(shape_module, "_NON_BLANK", Counted())
    shape, _ = sniff(io.BufferedReader(io.BytesIO(head), 4096))
    assert shape == "objects" and len(looked) < 3 * lines


def test_only_noise_is_an_input_error(tmp_path):
    p = write(tmp_path, "n.txt", b"".join(NOISE.values()))
    stats, rows = ingest(p)
    assert rows == [] and stats.noise_lines == len(NOISE)
    assert list(stats.failed) == [str(p)]


def test_empty_file_is_not_an_error(tmp_path):
    # only an input that is *not empty* but yields no record is an input error
    p = write(tmp_path, "empty.txt", b"")
    stats, rows = ingest(p)
    assert rows == [] and (stats.records_read, stats.noise_lines, stats.malformed) == (0, 0, 0)
    assert stats.failed == {}


# -- prefixes ---------------------------------------------------------------------------

PREFIXES = {
    "partition-offset": b"Partition:3 Offset:1234\t",
    "timestamp-v3": b"Timestamp: 1715000000000\t",
    "timestamp-v4": b"Timestamp:1715000000000\t",
    "timestamp-partition-offset": b"Timestamp:1715000000000 Partition:1 Offset:5\t",
    "null-key": b"null\t",
    "key": b"lkc-abc123-key\t",
    "key-and-offset": b"some-key\tPartition:0 Offset:7\t",
    # --print-key with a key that holds a "{": was "text after the JSON object"
    "json-key": b'{"tenant": "x"}\t',
    "key-with-brace": b"key{1}\t",
    "json-key-and-offset": b'{"k": 1}\tPartition:0 Offset:7\t',
    # a key that starts with "%": its record was counted as a noise line
    "percent-key": b"%k1\t",
    "percent-json-key": b'%{"k": 1}\t',
}


@pytest.mark.parametrize("kind", list(PREFIXES))
def test_prefix_is_stripped(tmp_path, kind):
    p = write(tmp_path, "d.txt", line(1) + PREFIXES[kind] + line(2) + line(3))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"]
    assert (stats.noise_lines, stats.malformed) == (0, 0)


def test_a_key_starting_with_percent_between_pretty_objects_is_read(tmp_path):
    # between objects too, "%k1<TAB>{record}" was skipped as a noise line
    pretty = [json.dumps(json.loads(line(n)), indent=2).encode() + b"\n" for n in (1, 3)]
    p = write(tmp_path, "d.json", pretty[0] + b"% Headers: []\n%k1\t" + line(2) + pretty[1])
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"] and (stats.noise_lines, stats.malformed) == (1, 0)


def test_a_percent_line_that_is_no_noise_nor_record_is_malformed(tmp_path):
    p = write(tmp_path, "d.txt", line(1) + b"%oops\n" + line(2))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"] and stats.malformed_lines == [f"{p}:2"]


def test_a_record_with_a_tab_between_its_tokens_after_a_prefix_is_read_whole(tmp_path):
    record = line(2).replace(b'"data":{', b'"data":\t{')
    assert record != line(2)
    p = write(tmp_path, "d.txt", line(1) + b"Offset:12 " + record + b"key{1}\t" + record)
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2", "rec-2"] and stats.malformed == 0


def test_leading_whitespace_before_the_record(tmp_path):
    # whitespace is a prefix before the first "{" like any other
    p = write(tmp_path, "d.txt", line(1) + b"   " + line(2) + b"\t" + line(3))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"]
    assert stats.malformed == 0


# -- malformed lines ----------------------------------------------------------------------

_full = rec("bad")
MALFORMED = {
    "garbage": b"not json at all\n",
    "binary": bytes(range(256)).replace(b"\n", b"") + b"\n",
    "nul-bytes": b"\x00\x00\x00\x00\n",
    # zero bytes over a record and its line's end, then the next record: was read as a prefix
    # of it, and the record they overwrote went without a word
    "nul-bytes-then-a-record": b"\x00" * 40 + line("bad"),
    "trailing-text": line("bad").rstrip(b"\n") + b" trailing\n",
    "two-objects": line("bad").rstrip(b"\n") + line("bad2"),
    "java-map-tostring": b"{datacontenttype=application/json, data={methodName=GetUsers}, id=x}\n",
    "brace-garbage": b"{not json}\n",
    "json-array-line": b"[1, 2, 3]\n",
    "json-string-line": b'"just a string"\n',
    "json-number-after-prefix": b"Partition:0 Offset:1\t{\n",
    "no-id": compact({k: v for k, v in _full.items() if k != "id"}),
    "empty-id": compact({**_full, "id": ""}),
    "null-id": compact({**_full, "id": None}),
    "no-time": compact({k: v for k, v in _full.items() if k != "time"}),
    "null-time": compact({**_full, "time": None}),
    "unparseable-time": compact({**_full, "time": "yesterday"}),
    "date-only-time": compact({**_full, "time": "2024-05-06"}),
    "month-13": compact({**_full, "time": "2024-13-06T10:00:00Z"}),
    "hour-25": compact({**_full, "time": "2024-05-06T25:00:00Z"}),
    "no-zone": compact({**_full, "time": "2024-05-06T10:00:00"}),
    "epoch-number-time": compact({**_full, "time": 1715000000}),
    "no-data": compact({k: v for k, v in _full.items() if k != "data"}),
    "null-data": compact({**_full, "data": None}),
    "no-method": compact({**_full, "data": {"serviceName": "x"}}),
    "empty-method": compact({**_full, "data": {"methodName": ""}}),
    "invalid-utf8": line("bad").replace(b'"GetUsers"', b'"Get\xe9Users"'),
    "invalid-utf8-in-key": line("bad").replace(b'"type"', b'"ty\xffpe"'),
}


def test_zero_bytes_before_a_record_say_what_they_may_have_done(tmp_path):
    p = write(tmp_path, "d.txt", line(1) + MALFORMED["nul-bytes-then-a-record"] + b"\0" * 9 + b"\n" + line(2))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"]
    assert [why for _, _, why in stats.problems] == [
        "zero bytes before the record, where they may have overwritten another", "not a JSON object"]


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_line_is_counted_and_reading_goes_on(tmp_path, kind):
    p = write(tmp_path, "d.txt", line(1) + MALFORMED[kind] + line(2))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"]
    assert stats.malformed == 1
    assert stats.malformed_lines == [f"{p}:2"]
    assert stats.noise_lines == 0
    assert stats.failed == {}


_ODD_FIELDS = {"email": b"", "connection": b'"requestMetadata":{"connection_id":"V"},', "note": b'"note":"V",',
               "odd note": b'"note":"V","result":[],'}  # "result": [] takes the lenient way


def _with_value(field: str, text: str) -> bytes:
    """Record "bad" with ``text`` as the value of ``field``."""
    bad = line("bad").replace(b'"data":{', b'"data":{' + _ODD_FIELDS[field])
    bad = bad.replace(b'"ubad@example.com"' if field == "email" else b'"V"', text.encode())
    assert bad.count(text.encode()) == 1
    return bad


@pytest.mark.parametrize("text, field, reason", [
    # valid JSON syntax that msgspec refuses: was "not valid JSON" and "not a JSON object"
    ('"ev\\udcffil@example.com"', "email", "invalid Unicode escape"),
    ('"x\\ud83d"', "connection", "invalid Unicode escape"),
    ('"Get\\u00"', "note", "not valid JSON"),
])
def test_a_value_msgspec_refuses_is_named_in_the_reason(tmp_path, text, field, reason):
    p = write(tmp_path, "d.txt", line(1) + _with_value(field, text) + line(2))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"] and stats.problems == [(str(p), 2, reason)]


@pytest.mark.parametrize("field", ["note", "odd note"])
@pytest.mark.parametrize("text", ['"ev\\udcffil@example.com"', '"x\\ud83d"', "1e999", "-1e999", "9" * 5000])
def test_a_value_msgspec_refuses_in_a_field_ccaudit_does_not_read_keeps_the_record(tmp_path, text, field):
    # was: malformed, so whoever wrote a free-text field (a failed sign-in's message) could hide the record
    p = write(tmp_path, "d.txt", line(1) + _with_value(field, text) + line(2))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-bad", "rec-2"] and stats.problems == []


@pytest.mark.parametrize("where", [b'{"\\ud800x":1,', b'{"\\ud800x":{"\\udcff":[]},',
                                   b'{"note":{"\\ud83d":"\\ud800"},'])
def test_a_key_msgspec_refuses_in_an_object_ccaudit_reads_keeps_the_record(tmp_path, where):
    # was: malformed ("invalid Unicode escape"): a key is never a field ccaudit reads
    for at in (b"{", b'"data":{'):
        bad = line("bad").replace(at, at[:-1] + where, 1)
        p = write(tmp_path, "d.txt", line(1) + bad + line(2))
        stats, rows = ingest(p)
        assert ids(rows) == ["rec-1", "rec-bad", "rec-2"] and stats.problems == [], (at, bad)


def test_a_key_of_half_a_utf16_pair_inside_a_value_read_as_its_text_is_refused(tmp_path):
    # a principal that is a list of objects is read as its JSON text: with the key dropped,
    # it became another principal's text ('[{"x": 1}]'), counted with it
    bad = line("bad").replace(b'{"email":"ubad@example.com"}', b'[{"x":1,"\\ud800":2}]')
    assert bad != line("bad")
    p = write(tmp_path, "d.txt", line(1) + bad + line(2))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"] and stats.problems == [(str(p), 2, "invalid Unicode escape")]


@pytest.mark.parametrize("first, noise", [(b"% Headers: [a=b]\n", 2), (b"\n% Error: x\n\nHeaders: y\n", 3),
                                          (b"Starting Kafka Consumer. Use Ctrl-C to exit.\n", 2)])
def test_pretty_objects_after_noise_lines_are_read_as_objects(tmp_path, first, noise):
    # was: read as lines (the first line that is not blank told the shape), each line malformed
    records = [json.dumps(json.loads(line(n)), indent=2).encode() for n in (1, 2)]
    p = write(tmp_path, "d.txt", first + records[0] + b"\n% Headers: [a=b]\n" + records[1] + b"\n")
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"] and stats.problems == []
    assert stats.noise_lines == noise  # (blank lines between objects are not lines of their own)


def test_a_record_written_as_a_json_string_is_read(tmp_path):
    # a sink connector's StringConverter writes each record as a JSON string: every line was
    # malformed ("not valid JSON"); a string that holds no record still is
    quoted = json.dumps(line("q").decode().strip()).encode() + b"\n"
    keyed = b'{"k": 1}\t' + json.dumps(line("k").decode().strip()).encode() + b"\n"
    offset = b"Partition:0 Offset:1\t" + json.dumps(line("o").decode().strip()).encode() + b"\n"
    p = write(tmp_path, "d.txt", line(1) + quoted + keyed + offset + b'"just text"\n' + b'"{broken"\n' + line(2))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-q", "rec-k", "rec-o", "rec-2"]
    assert [(n, why) for _, n, why in stats.problems] == [(5, "not a JSON object"), (6, "not valid JSON")]


def test_a_record_written_as_a_json_string_is_read_in_an_array_too(tmp_path):
    # was: each such item "not a JSON object", though the same strings one a line are read
    quoted = json.dumps(line("q").decode().strip()).encode()
    items = [line(1).strip(), quoted, b'"just text"', b'"{broken"', line(2).strip()]
    p = write(tmp_path, "d.json", b"[" + b",\n".join(items) + b"]\n")
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-q", "rec-2"]
    assert [(n, why) for _, n, why in stats.problems] == [(":item 3", "not a JSON object"),
                                                          (":item 4", "not valid JSON")]


@pytest.mark.parametrize("kind", ["no-id", "no-time", "unparseable-time", "no-method", "invalid-utf8"])
def test_file_of_only_one_malformed_record_is_an_input_error(tmp_path, kind):
    p = write(tmp_path, "d.txt", MALFORMED[kind])
    stats, rows = ingest(p)
    assert rows == [] and stats.malformed == 1
    assert list(stats.failed) == [str(p)]


def test_record_cut_in_half_on_the_last_line(tmp_path):
    # the last line of a killed download: no newline, half a record
    p = write(tmp_path, "d.txt", line(1) + line(2) + line(3)[:57])
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"]
    assert stats.malformed_lines == [f"{p}:3"]
    assert "cut short" in stats.problems[0][2]


def test_line_numbers_count_every_line(tmp_path):
    # 1 record, 2 noise, 3 bad, 4 noise, 5 record, 6 bad, 7 record (CRLF), 8 bad (cut)
    data = (line(1) + b"% Headers: x\n" + b"junk\n" + b"\n" + line(2) + b"{x}\n"
            + line(3).replace(b"\n", b"\r\n") + line(4)[:30])
    p = write(tmp_path, "d.txt", data)
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"]
    assert stats.malformed_lines == [f"{p}:3", f"{p}:6", f"{p}:8"]
    assert (stats.noise_lines, stats.lines) == (2, 8)


def test_many_malformed_lines_are_all_counted(tmp_path):
    p = write(tmp_path, "d.txt", line(1) + b"junk\n" * 500 + line(2))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"]
    assert stats.malformed == 500
    assert stats.malformed_lines[:3] == [f"{p}:2", f"{p}:3", f"{p}:4"]


# -- huge lines ---------------------------------------------------------------------------

def test_10mb_single_line_record(tmp_path):
    big = rec(1)
    big["data"]["request"] = {"data": {"blob": "x" * (10 * 2**20)}}
    p = write(tmp_path, "big.txt", compact(big))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1"]
    assert stats.malformed == 0


def test_10mb_single_line_without_newline(tmp_path):
    big = rec(1)
    big["data"]["request"] = {"data": {"blob": "y" * (10 * 2**20)}}
    p = write(tmp_path, "big.txt", compact(big).rstrip(b"\n"))
    _stats, rows = ingest(p)
    assert ids(rows) == ["rec-1"]


def test_10mb_garbage_line_then_records(tmp_path):
    p = write(tmp_path, "big.txt", line(1) + b"{" + b"z" * (10 * 2**20) + b"\n" + line(2))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"]
    assert stats.malformed_lines == [f"{p}:2"]


def test_line_longer_than_the_limit_is_malformed_and_skipped_whole(tmp_path):
    p = write(tmp_path, "huge.txt", line(1) + b"{" + b"a" * (MAX_LINE + 1000) + b"}\n" + line(2))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"]
    assert stats.malformed_lines == [f"{p}:2"]
    assert stats.lines == 3


@pytest.mark.parametrize("between", [b"\r", b"\r\r", b" \r \t\r"])  # was: a blank line between records lost the hint
@pytest.mark.parametrize("count, said", [(3, "text after the JSON object"), (30, "line longer than 1000 bytes")])
def test_lines_that_end_in_a_cr_alone_are_named_as_such(tmp_path, monkeypatch, count, said, between):
    # was "text after the JSON object" (or "line longer than") alone: nothing said why
    monkeypatch.setattr(ingest_module, "MAX_LINE", 1000)
    monkeypatch.setattr(lines_module, "MAX_LINE", 1000)
    p = write(tmp_path, "mac.txt", b"".join(line(i) for i in range(count)).replace(b"\n", between))
    stats, rows = ingest(p)
    assert ids(rows) == []
    assert stats.problem_lines() == [f"{p}:1: {said}; its lines end in a CR alone (convert it: tr '\\r' '\\n' < FILE)"]


def test_a_line_that_is_a_json_array_is_named_so_and_a_bracketed_prefix_is_still_a_prefix(tmp_path):
    # was "text after the JSON object": its "[" was taken for a prefix like "[INFO] "
    array = b"[" + line(1).strip() + b"," + line(2).strip() + b"]\n"
    p = write(tmp_path, "d.jsonl", array + b"[INFO] " + line(3) + b"[1, 2]\n" + line(4))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-3", "rec-4"]
    assert stats.problem_lines() == [f"{p}:{n}: a JSON array, not a JSON object" for n in (1, 3)]


@pytest.mark.parametrize("head", [b" ", b"x", b"% ", b"12 "])
def test_a_line_longer_than_the_limit_is_malformed_whatever_it_starts_with(tmp_path, monkeypatch, head):
    # its first MAX_LINE + 1 bytes decided: blanks made it noise (the record after them was
    # dropped, and --strict passed), anything else "not a JSON object"
    monkeypatch.setattr(ingest_module, "MAX_LINE", 1000)
    monkeypatch.setattr(lines_module, "MAX_LINE", 1000)
    p = write(tmp_path, "huge.txt", line(1) + head * 1200 + line(3) + line(2))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"]
    assert (stats.noise_lines, stats.malformed_lines) == (0, [f"{p}:2"])
    assert stats.problem_lines() == [f"{p}:2: line longer than 1000 bytes"]


@pytest.mark.parametrize("length", [900_000, 3_000_000])
def test_a_long_line_is_held_at_most_twice_while_it_is_read(monkeypatch, length):
    # was: the line so far was copied at every block (and its first MAX_LINE + 1 bytes
    # once more for an overlong one): three copies at once, and quadratic time
    import tracemalloc

    monkeypatch.setattr(ingest_module, "MAX_LINE", 1_000_000)
    data = b"r" * length + b"\nend\n"
    stream = io.BufferedReader(io.BytesIO(data), 1 << 16)
    tracemalloc.start()
    try:
        lines = [len(line) for line in iter_lines(stream)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert lines == [min(length, 1_000_001), 3]
    assert peak < 2 * min(length, 1_000_001) + 3 * ingest_module.BUFFER


def test_the_rest_of_an_overlong_line_is_not_read_past_the_range_end(monkeypatch):
    # a newline-less file: the range that holds the line's start must not read the rest
    monkeypatch.setattr(ingest_module, "MAX_LINE", 100)
    monkeypatch.setattr(ingest_module, "BUFFER", 16)
    raw = io.BytesIO(b"X" * 100_000 + b"\nc\n")
    stream = io.BufferedReader(raw, 16)
    assert [len(line) for line in iter_lines(stream, 200)] == [101]
    assert raw.tell() < 200 + 4 * 16


def test_an_overlong_line_at_a_range_end_belongs_to_one_range_only(monkeypatch):
    monkeypatch.setattr(ingest_module, "MAX_LINE", 100)
    monkeypatch.setattr(ingest_module, "BUFFER", 16)
    data = b"a" * 10 + b"\n" + b"b" * 10 + b"\n" + b"X" * 300 + b"\n" + b"c" * 5 + b"\n"
    boundary = 22  # where the X line starts

    def lines(start, end):
        f = io.BufferedReader(io.BytesIO(data))
        f.seek(start)
        return [ln[:1] for ln in iter_lines(f, end)]

    assert lines(0, boundary) == [b"a", b"b"]
    assert lines(boundary, None) == [b"X", b"c"]


# -- bad inputs -------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        Dump(str(tmp_path / "nope.txt")).open()


def test_directory(tmp_path):
    with pytest.raises(InputError, match="directory"):
        Dump(str(tmp_path)).open()


@pytest.mark.parametrize("magic, name", [(b"\x28\xb5\x2f\xfd" + b"\0" * 20, "zstd"),
                                         (b"PK\x03\x04" + b"\0" * 20, "zip")])
def test_unsupported_compression_says_so(tmp_path, magic, name):
    with pytest.raises(InputError, match=name):
        Dump(str(write(tmp_path, "d.bin", magic))).open()


@pytest.mark.parametrize("outer", [gzip.compress, bz2.compress, lzma.compress], ids=["gzip", "bzip2", "xz"])
@pytest.mark.parametrize("inner, name", [(gzip.compress, "gzip"), (lzma.compress, "xz"),
                                         (lambda b: b"\x28\xb5\x2f\xfd" + b"\0" * 20, "zstd")])
def test_data_compressed_twice_says_so(tmp_path, outer, inner, name):
    # was hundreds of malformed binary lines, then "no audit record could be read"
    p = write(tmp_path, "d.gz", outer(inner(line(1) + line(2))))
    with pytest.raises(InputError) as refused:
        Dump(str(p)).open()
    assert str(refused.value) == (f"{p}: compressed twice (what it holds is {name} data again); decompress it once "
                                  "and give what that makes")


def test_compressed_data_after_a_byte_order_mark_says_so(tmp_path):
    p = write(tmp_path, "d.txt", BOM + gzip.compress(line(1)))
    with pytest.raises(InputError, match="gzip data after a UTF-8 byte-order mark .* tail -c \\+4$"):
        Dump(str(p)).open()


def _flushed_gzip(first: bytes, rest: bytes, keep_of_rest: int) -> bytes:
    """A gzip stream whose first part is fully decodable (a full flush after it) and
    whose second part is cut after ``keep_of_rest`` compressed bytes, with no trailer."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip header
    head = z.compress(first) + z.flush(zlib.Z_FULL_FLUSH)
    tail = z.compress(rest) + z.flush(zlib.Z_FINISH)
    return head + tail[:keep_of_rest]


def test_truncated_gzip_keeps_the_records_before_the_cut(tmp_path, sample_cli):
    lines = sample_cli.read_bytes().splitlines(keepends=True)
    # lines 1-14 of sample-cli.txt: 7 records (…0001 to …0007) and 7 "% Headers" lines.
    # Their bytes are fully decodable; the rest of the stream is cut after 2 bytes.
    data = _flushed_gzip(b"".join(lines[:14]), b"".join(lines[14:]), 2)
    p = write(tmp_path, "cut.data", data)
    stats, rows = ingest(p)
    assert ids(rows) == [f"a0000000-0000-4000-8000-00000000000{i}" for i in range(1, 8)]
    assert stats.malformed == 1
    assert stats.malformed_lines == [f"{p}@end"]
    assert stats.failed == {}


@pytest.mark.parametrize("after", [b"\x1f\x8b\x08\x00\x00", b"XY"])
def test_a_gzip_break_after_a_last_line_without_its_newline_is_reported(tmp_path, after):
    # was: the break flushed the line, and gzip then read as if the stream had ended: no @end
    p = write(tmp_path, "cut.gz", gzip.compress(line(1) + line(2).rstrip(b"\n")) + after)
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2"] and stats.malformed_lines == [f"{p}@end"]


def test_truncated_gzip_with_nothing_decodable(tmp_path, sample_cli):
    p = write(tmp_path, "cut.gz", gzip.compress(sample_cli.read_bytes())[:12])
    stats, rows = ingest(p)
    assert rows == []
    assert stats.malformed == 1 and stats.malformed_lines == [f"{p}@end"]
    assert list(stats.failed) == [str(p)]


def test_gzip_with_garbage_after_the_stream(tmp_path):
    p = write(tmp_path, "d.gz", gzip.compress(line(1) + line(2)) + b"\x00\x01garbage")
    stats, rows = ingest(p)  # must not raise, whatever it makes of the tail
    assert ids(rows)[:2] == ["rec-1", "rec-2"] or stats.malformed >= 1


def test_truncated_xz_and_bzip2_do_not_raise(tmp_path, sample_cli):
    for name, comp in (("d.xz", lzma.compress), ("d.bz2", bz2.compress)):
        data = comp(sample_cli.read_bytes())
        p = write(tmp_path, name, data[: len(data) // 2])
        stats, _rows = ingest(p)
        assert stats.malformed >= 1 and f"{p}@end" in stats.malformed_lines


# -- a UTF-8 byte order mark (Windows tools write one) -----------------------------------

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("shape", ["lines", "array", "pretty", "cli-noise-first"])
def test_utf8_bom_is_ignored(tmp_path, shape):
    recs = [rec(i) for i in range(1, 4)]
    body = {
        "lines": b"".join(compact(r) for r in recs),
        "array": json.dumps(recs, indent=1).encode(),
        "pretty": b"\n".join(json.dumps(r, indent=2).encode() for r in recs),
        "cli-noise-first": b"% Headers: x\n" + b"".join(compact(r) + b"% Headers: x\n" for r in recs),
    }[shape]
    stats, rows = ingest(write(tmp_path, "bom.json", BOM + body))
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"]
    assert stats.malformed == 0


def test_a_gzip_file_cut_in_its_header_ends_early(tmp_path, sample_cli):
    # cut inside the 10-byte header (or just after it), gzip's first read fails and
    # every later one reads nothing: the failure must be the one malformed entry at @end,
    # so that an input with content but no record is an input error
    data = gzip.compress(sample_cli.read_bytes())
    for k in range(2, 16):
        path = tmp_path / f"cut{k}.gz"
        path.write_bytes(data[:k])
        stats = LoadStats()
        assert list(read_rows(Dump(str(path)), stats)) == []
        assert [p[1:] for p in stats.problems] == [("@end", "input ends early (the compressed stream ends before "
                                                            "its end marker)")], k  # was gzip's own words


def test_a_load_collects_garbage_less_often_but_still_frees_cycles():
    class Node:
        pass

    before = gc.get_threshold()
    with collector.FewerCollections():
        assert gc.get_threshold()[0] == collector.COLLECT_EVERY > before[0]
        node = Node()
        node.me = node
        freed = weakref.ref(node)
        del node
        kept = [[] for _ in range(2 * collector.COLLECT_EVERY)]  # enough new objects for a sweep
        assert freed() is None
        del kept
    assert gc.get_threshold() == before


def test_objects_a_program_froze_stay_frozen_after_a_load():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collector.FewerCollections():
            pass
        assert gc.get_freeze_count() >= frozen > 0
    finally:
        gc.unfreeze()


def test_a_cycle_of_a_program_that_froze_objects_is_freed_after_a_load_or_report():
    # was: frozen with everything alive as the load or report began, and never freed (a
    # program that froze its objects before forking lost 1 MB a report)
    class Node:
        pass

    gc.freeze()
    try:
        node = Node()
        node.me = node
        freed = weakref.ref(node)
        with collector.FewerCollections():
            del node
        gc.collect()
        assert freed() is None
    finally:
        gc.unfreeze()


def test_loads_in_two_threads_leave_the_collector_as_it_was():
    # was: each saved and restored the settings on its own: the second to start saved the
    # first's, and restored them for good (threshold 20,000 after both had ended)
    before, first_in, second_in, first_out = gc.get_threshold(), threading.Event(), threading.Event(), threading.Event()

    def first():
        with collector.FewerCollections():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(10)
    with collector.FewerCollections():
        second_in.set()
        first_out.wait(10)
        assert gc.get_threshold()[0] == collector.COLLECT_EVERY  # the second still runs
    thread.join()
    assert gc.get_threshold() == before
    del thread, first
    gc.collect()  # what the thread left, freed now: not frozen by a later test, then freed under it


_COMPRESS = {"bz2": lambda data: bz2.compress(data, 1), "xz": lzma.compress, "gz": gzip.compress}  # bz2: 100 kB blocks


@pytest.mark.parametrize("kind", _COMPRESS)
@pytest.mark.parametrize("workers", [0, 2])
def test_what_follows_the_last_compressed_stream_is_reported_not_dropped(tmp_path, kind, workers):
    # bz2 and lzma take bytes that do not start a stream for the end of the input: the 50
    # records appended after the stream were dropped without a word (exit 0, even --strict)
    from ccaudit.load import load_dumps
    from ccaudit.store import Store

    compress = _COMPRESS[kind]
    first = b"".join(line(i) for i in range(50))
    p = write(tmp_path, f"d.{kind}", compress(first) + b"".join(line(i) for i in range(50, 100)))
    stats = load_dumps([str(p)], Store(str(tmp_path / "s.db")), workers=workers, chunk=4096)
    assert stats.records_read == 50
    assert [where for where in stats.malformed_lines] == [f"{p}@end"]
    assert stats.problem_lines() == [f"{p}@end: bytes after a compressed stream that start no other of its kind: the "
                                     "rest is not read"]  # was "input ends early (...)", and gzip's "Not a gzipped"
    assert stats.cut_lines() == stats.problem_lines() and stats.damaged == {}  # the records read are as written


def _flipped(kind: str, data: bytes) -> bytes:
    """``data`` compressed, with one bit flipped two thirds in: gzip's stored (level 0) data,
    so that the flip changes a record and only the member's CRC tells."""
    packed = bytearray(gzip.compress(data, 0) if kind == "gz" else _COMPRESS[kind](data))
    packed[len(packed) * 2 // 3] ^= 0x04
    return bytes(packed)


@pytest.mark.parametrize("kind", ["gz", *_COMPRESS])
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("shape", ["lines", "array"])
def test_compressed_data_that_fails_its_check_is_a_damaged_input_not_one_cut_short(tmp_path, kind, workers, shape):
    # gzip checks a member's CRC at its end, bzip2 a block after handing it on: the records
    # read before may hold wrong values (a flipped bit stored an id that never was, and made
    # real ones duplicates), and it was "input ends early", exit 0 (an array, read by a
    # parse worker: still exit 0 once a line's was an error)
    from ccaudit.load import load_dumps
    from ccaudit.store import Store

    records = [line(i) for i in range(3000)]
    data = b"".join(records) if shape == "lines" else b"[" + b",".join(r.strip() for r in records) + b"]"
    p = write(tmp_path, f"d.{kind}", _flipped(kind, data))
    stats = load_dumps([str(p)], Store(str(tmp_path / "s.db")), workers=workers, chunk=1 << 16)
    assert list(stats.damaged) == [str(p)] and stats.input_error and stats.cut_lines() == []
    assert stats.damaged[str(p)].startswith(f"{p}@end: the compressed data is damaged (")
    assert stats.damaged[str(p)].endswith("): records read from it may hold wrong values; load a good copy into a "
                                          "new store")


def test_a_gzip_member_whose_header_has_a_bit_flipped_is_a_damaged_input(tmp_path):
    # was "input ends early (Unknown compression method)", exit 0, the member's records unsaid
    member = gzip.compress(b"".join(line(i) for i in range(5)), mtime=0)
    flipped = bytearray(member)
    flipped[2] ^= 1  # the compression method
    stats, rows = ingest(write(tmp_path, "d.gz", member + bytes(flipped)))
    assert len(rows) == 5 and stats.input_error
    assert list(stats.damaged.values())[0].startswith(f"{tmp_path / 'd.gz'}@end: the compressed data is damaged "
                                                      "(Unknown compression method)")


@pytest.mark.parametrize("kind", _COMPRESS)
def test_compressed_streams_one_after_another_and_zero_padding_read_whole(tmp_path, kind):
    # several streams (a split archive concatenated) read on; zeros after one are padding
    # (xz's own, in fours: it was "input ends early"), as gzip reads them
    compress = _COMPRESS[kind]
    data = compress(line(1) + line(2)) + b"\0" * 4 + compress(line(3)) + b"\0" * 8
    stats, rows = ingest(write(tmp_path, f"d.{kind}", data))
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"]
    assert stats.malformed_lines == [] and stats.failed == {}


@pytest.mark.parametrize("kind", _COMPRESS)
def test_a_compressed_stream_cut_short_keeps_what_came_before(tmp_path, kind):
    data = _COMPRESS[kind](b"".join(line(i) for i in range(2000)))
    p = write(tmp_path, f"d.{kind}", data[:len(data) * 3 // 4])
    stats, rows = ingest(p)
    assert 0 < len(rows) < 2000 and ids(rows) == [f"rec-{i}" for i in range(len(rows))]
    assert stats.malformed_lines[-1] == f"{p}@end"


@pytest.mark.parametrize(("encoding", "mark", "packed"), [
    ("utf-16", "", False), ("utf-16-be", "\ufeff", False), ("utf-16-le", "\ufeff", False),
    # were read line by line, each "not valid JSON": without the mark, or gzip'd
    ("utf-16-le", "", False), ("utf-16-be", "", False), ("utf-16", "", True), ("utf-16-le", "", True),
    # were called UTF-16, with a conversion from it that makes garbage
    ("utf-32", "", False), ("utf-32-le", "", False), ("utf-32-be", "", False), ("utf-32-be", "\ufeff", True),
])
def test_utf16_text_is_refused_with_how_to_convert_it(tmp_path, encoding, mark, packed):
    # PowerShell's > writes UTF-16 with a byte-order mark: every line was "not valid JSON",
    # then "no audit record could be read", with no word of the encoding
    data = (mark + (line(1) + line(2)).decode()).encode(encoding)
    p = write(tmp_path, "d.jsonl", gzip.compress(data) if packed else data)
    with pytest.raises(InputError) as refused:
        Dump(str(p)).open()
    wide, how = ("UTF-32", "") if "32" in encoding else ("UTF-16", " (as Windows PowerShell's > writes it)")
    assert str(refused.value) == f"{p}: {wide} text{how}; convert it to UTF-8 first: iconv -f {wide} -t UTF-8"


def test_a_utf16_mark_before_utf8_records_is_a_damaged_first_line_not_utf16(tmp_path):
    # was: the whole file refused as UTF-16 for its first two bytes
    stats, rows = ingest(write(tmp_path, "d.jsonl", b"\xff\xfe" + line(1) + line(2) + line(3)))
    assert ids(rows)[-2:] == ["rec-2", "rec-3"] and stats.failed == {}  # the first line's fate is the line rules'


@pytest.mark.parametrize("pack, split", [
    (gzip.compress, 1), (gzip.compress, 2), (lzma.compress, 3), (bz2.compress, 2),
    (lambda b: b"\xef\xbb\xbf" + b, 1), (lambda b: gzip.compress(b"\xef\xbb\xbf" + b), 1),
], ids=["gzip-1", "gzip-2", "xz-3", "bz2-2", "bom-1", "bom-in-gzip-1"])
def test_stdin_is_read_the_same_however_a_pipe_delivers_its_first_bytes(ccaudit_exe, tmp_path, pack, split):
    # was: a gzip header whose first byte came alone was read as text, "invalid UTF-8", no
    # record; an xz header needs 6 bytes; a BOM not seen whole made an array lines
    data = pack(b"[" + b",".join(line(i).rstrip(b"\n") for i in (1, 2, 3)) + b"]\n")
    code, err = _load_from_a_pausing_pipe(ccaudit_exe, tmp_path, data, split)
    assert code == 0, err
    assert "loaded 3 records: 3 new" in err and " 0 malformed" in err


def _load_from_a_pausing_pipe(ccaudit_exe, tmp_path, data: bytes, first: int) -> tuple[int, str]:
    """``load -`` of ``data`` from a pipe that gives its ``first`` bytes, then the rest after a
    pause: the exit code and stderr."""
    with subprocess.Popen([ccaudit_exe, "load", "-", "--db", str(tmp_path / "s.db")], stdin=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        proc.stdin.write(data[:first])
        proc.stdin.flush()
        time.sleep(0.3)
        proc.stdin.write(data[first:])
        proc.stdin.close()
        err = proc.stderr.read().decode()
    return proc.returncode, err


def test_a_sed_made_array_with_a_broken_first_item_from_a_pipe_that_gives_its_first_line_first():
    # a pipe whose first line comes alone is told by that line, as JSON Lines: every item after
    # the broken one was "text after the JSON object", each record lost; now each is read
    data = (b"[" + b",\n".join(line(i).rstrip(b"\n") for i in (1, 2, 3, 4)) + b"]\n").replace(b'"rec-1"', b'"rec-1')
    first = data.index(b"\n") + 1
    shape, stream = sniff(io.BufferedReader(_Trickle(data[:first], data[first:])))
    stats = LoadStats()
    rows = [row_dict(r) for r in lines_module.line_rows(iter_lines(stream), "-", stats)]
    assert shape == "lines" and ids(rows) == ["rec-2", "rec-3", "rec-4"] and stats.malformed_lines == ["-:1"]


@pytest.mark.parametrize("cut", [b"-", b"-1.", b"1e", b"tr", b"fals", b"nul"])
def test_a_first_line_cut_inside_a_number_or_literal_is_not_yet_decided(cut):
    # was "lines" at once: msgspec calls `[{"n": -` malformed, not truncated; a pipe that
    # paused there, or a read that ended there, lost every record of a one-line array
    head = b'[{"id": "a", "n": ' + cut
    assert shape_module._shape(head, False) == ""
    assert shape_module._shape(head, True) == "array"  # a line longer than a line may be: an array


def test_a_one_line_array_cut_inside_a_number_at_the_read_ahead_limit_is_an_array(monkeypatch, tmp_path):
    monkeypatch.setattr(shape_module, "MAX_LINE", 1000)
    text = json.dumps([{"n": -1.5, "pad": "x" * 50}] * 40).encode()
    cut = text.index(b"-1.5", 1000 - 5)  # where the read-ahead stops: just after "-1."
    monkeypatch.setattr(shape_module, "BUFFER", cut + 3 - 1000)  # so that a read ends there (peek, then one read)
    stream = io.BufferedReader(_Trickle(text[:1000], text[1000:]))
    assert sniff(stream)[0] == "array"


def test_after_a_whole_first_line_the_blank_lines_are_not_read_again(monkeypatch):
    # was: each block with a newline in it re-checked the whole first line (8 MiB of it: seconds)
    calls = []
    real = shape_module._shape
    monkeypatch.setattr(shape_module, "_shape", lambda head, eof, pos=0: calls.append(1) or real(head, eof, pos))
    monkeypatch.setattr(shape_module, "BUFFER", 16)
    text = b"[1, 2]" + b"\n" * 1600 + line(1)
    found, stream = sniff(io.BufferedReader(_Trickle(text[:3], text[3:]), 16))
    assert found == "lines" and stream.read() == text and len(calls) <= 3


@pytest.mark.parametrize("compress", [lambda b: b, gzip.compress], ids=["plain", "gzip"])
@pytest.mark.parametrize("array", [True, False])
def test_a_byte_position_counts_the_byte_order_mark(tmp_path, compress, array):
    # was: 3 bytes short, counted from after the mark
    pretty = [json.dumps(json.loads(line(n)), indent=2).encode() for n in (1, 2)]
    cut = pretty[1][:len(pretty[1]) // 2]  # (a record cut short at the end: reading stops there)
    data = BOM + (b"[\n" + pretty[0] + b",\ngarbage,\n" + pretty[1] + b"\n]\n" if array else
                  pretty[0] + b"\n" + cut)
    stats, rows = ingest(write(tmp_path, "d.json", compress(data)))
    at = data.find(b"garbage") if array else len(data)  # (where ijson found it cut short: the end)
    assert ids(rows) == ["rec-1", "rec-2"][:1 + array]  # (in an array, read on past the garbage)
    assert [position for _, position, _ in stats.problems] == [f"@byte {at}"]


@pytest.mark.parametrize("between", [b"\n", b"\n\n", b"\r\n", b"\n\xef\xbb\xbf"])
def test_arrays_of_jq_c_one_after_another_are_read_as_arrays(tmp_path, between):
    # `cat a.json b.json` of `jq -c` dumps, each a line: was JSON Lines, each line "a JSON
    # array, not a JSON object", 0 records, exit 2
    first = b"[" + b",".join(json.dumps(rec(n)).encode() for n in (1, 2)) + b"]"
    p = write(tmp_path, "a.json", first + between + b"[" + json.dumps(rec(3)).encode() + b"]\n")
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"] and stats.problems == []


@pytest.mark.parametrize("first_item", [b"null,", b'"' + json.dumps(rec(4)).replace('"', '\\"').encode() + b'",'])
@pytest.mark.parametrize("cut", [None, 0, 1, 2, 3, 4])  # a pipe's first read ends that far into the second line
def test_a_second_jq_c_array_that_begins_with_a_tombstone_or_a_string_record_is_an_array(first_item, cut):
    # was JSON Lines: both lines "a JSON array, not a JSON object", the first array's records
    # lost too, exit 2; and through a pipe whose read ended in "[nu", so still
    first = b"[" + b",".join(json.dumps(rec(n)).encode() for n in (1, 2)) + b"]\n"
    text = first + b"[" + first_item + json.dumps(rec(3)).encode() + b"]\n"
    at = len(text) if cut is None else len(first) + cut
    assert sniff(io.BufferedReader(_Trickle(text[:at], text[at:])))[0] == "array"


@pytest.mark.parametrize("lines", [b'["a"]\n["b"]\n', b"[null]\n[null]\n", b'["a"]\n[ "b"]\n', b"[1]\n[null]\n"])
def test_json_lines_that_begin_with_arrays_of_no_record_are_json_lines(tmp_path, lines):
    # arrays of strings or tombstones after one that held no record: JSON Lines, its first lines
    # malformed (read as arrays, its records were "text after the JSON array", 0 records, exit 2)
    p = write(tmp_path, "d.jsonl", lines + b"".join(line(n) for n in (1, 2, 3)))
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"] and stats.malformed_lines == [f"{p}:1", f"{p}:2"]


@pytest.mark.parametrize("after", [b"Stopping Consumer.\n", b'% Headers: [content-type="x"]\n', b"\n%\n\n"])
@pytest.mark.parametrize("again", [False, True])
def test_a_one_line_array_then_noise_lines_is_an_array(tmp_path, after, again):
    # was JSON Lines: the array one malformed line ("a JSON array, not a JSON object"), its
    # records lost, exit 2; a consume command's arrays, a "% Headers:" line after each, likewise
    first = b"[" + b",".join(json.dumps(rec(n)).encode() for n in (1, 2)) + b"]\n"
    p = write(tmp_path, "a.json", first + after + (b"[" + json.dumps(rec(3)).encode() + b"]\n" + after) * again)
    stats, rows = ingest(p)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"][:2 + again] and stats.malformed == 0


@pytest.mark.parametrize("compress", [gzip.compress, lambda b: b], ids=["gzip", "plain"])
def test_a_one_line_array_longer_than_a_read_then_a_noise_line_is_an_array(tmp_path, compress):
    first = json.dumps([{**rec(1), "note": "x" * 300_000}, rec(2)]).encode() + b"\n"
    stats, rows = ingest(write(tmp_path, "a.json", compress(first + b"Stopping Consumer.\n")))
    assert ids(rows) == ["rec-1", "rec-2"] and stats.malformed == 0 and stats.noise_lines == 1


def test_a_one_line_array_then_a_noise_line_a_read_ends_in_waits_for_that_line():
    text = b"[{}]\n% Head"
    assert shape_module._shape(text, False) == ""  # "% Head" may end as a noise line or as another
    assert shape_module._shape(text, True) == "array"
    assert shape_module._shape(b"[{}]\nStopping Consumer.\n" + line(1), False) == "lines"  # records follow


def test_a_whole_first_line_then_lines_that_begin_no_array_is_still_json_lines(tmp_path):
    for first in (b"[1, 2]", b"[INFO] started"):
        p = write(tmp_path, "a.json", first + b"\n[INFO] more\n" + line(1) + line(2))
        stats, rows = ingest(p)
        assert ids(rows) == ["rec-1", "rec-2"] and stats.malformed == 2


def test_a_line_that_begins_no_json_then_an_array_split_between_reads_is_json_lines(monkeypatch):
    # a read that ended just after the second line's "[" left the first line unchecked
    monkeypatch.setattr(shape_module, "BUFFER", 16)
    text = b"[INFO] started\n[" + line(1)[:-1] + b"]\n"
    found, _ = sniff(io.BufferedReader(_Trickle(text[:16], text[16:]), 16))
    assert found == "lines"


def test_noise_lines_after_a_one_line_array_are_each_looked_at_once(monkeypatch):
    # was: each block read ahead looked at every noise line after the first line again, from
    # its end on: 8 MiB of "% x" lines after a one-line array took 13 s to tell the shape
    from ccaudit import shape

    looked: list[int] = []

    class Counted:
        def search(self, head, pos, *args):
            looked.append(pos)
            return real.search(head, pos, *args)

    real = shape._NON_BLANK
    monkeypatch.setattr(shape, "_NON_BLANK", Counted())
    lines = 1 << 18  # 1 MiB of them: four blocks
    data = b"[" + line(1).strip() + b"]\n" + b"% x\n" * lines + b"[" + line(2).strip() + b"]\n"
    found, stream = sniff(io.BufferedReader(io.BytesIO(data), 1 << 18))
    assert found == "array" and stream.read() == data
    assert len(looked) < 1.5 * lines


def test_a_one_line_array_over_the_read_ahead_is_told_an_array_without_counting_its_brackets_one_by_one(
        monkeypatch):
    # was 6 s: whether its first line was a nesting bomb was asked bracket by bracket in Python
    # (pieces.Depth) over the 16 MiB read ahead
    from ccaudit import pieces

    monkeypatch.setattr(pieces.Depth, "feed", lambda *a: pytest.fail("counted bracket by bracket"))
    one = json.dumps({"id": "e", "time": "2024-05-06T10:00:00Z", "data": {"methodName": "m"}}).encode()
    data = b"[" + b",".join([one] * (MAX_LINE // len(one) + 10)) + b"]\n"
    found, stream = sniff(io.BufferedReader(io.BytesIO(data), 1 << 18))
    assert found == "array" and stream.read() == data

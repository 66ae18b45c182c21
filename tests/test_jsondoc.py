"""JSON documents (arrays, concatenated or pretty-printed objects): the fast cutting way
must give what the careful ijson way gives, wherever the read blocks happen to end.

Expected records are the ones each test writes; ``careful`` runs ijson alone over the
same bytes, as the reference for anything odd. After the main cases come the inputs a
review of the fast way found it wrong on (each test failed before its fix), then more
edge cases that were checked and hold.
"""
from __future__ import annotations

import gc
import gzip
import io
import json
import tracemalloc
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccaudit import careful as careful_module
from ccaudit import jsondoc
from ccaudit import pieces as jsondoc_pieces
from ccaudit.careful import ijson_rows
from ccaudit.ingest import Dump, read_rows, until_broken
from ccaudit.stats import LoadStats
from tests.records import T, numbered

rec = numbered("rec-")  # {"id": "rec-<n>", "time": T, "data": {"methodName": "GetUsers", **fields}}


def fast(text: bytes, array: bool) -> tuple[list, LoadStats]:
    stats = LoadStats()
    return list(jsondoc.json_rows(io.BufferedReader(io.BytesIO(text)), "f", stats, array)), stats


def careful(text: bytes, array: bool) -> tuple[list, LoadStats]:
    stats = LoadStats()
    return list(ijson_rows(io.BufferedReader(io.BytesIO(text)), 0, "f", stats, array, 0)), stats


def unread(n: int) -> str:
    return f"{n} byte{'' if n == 1 else 's'} left unread"


def ids(rows) -> list[str]:
    return [r[1] for r in rows]


def same_as_careful(text: bytes, array: bool) -> None:
    rows, stats = fast(text, array)
    ref_rows, ref = careful(text, array)
    assert rows == ref_rows
    assert (stats.records_read, stats.malformed) == (ref.records_read, ref.malformed)
    assert [why.split(";")[0] for _, _, why in stats.problems] == [why.split(";")[0] for _, _, why in ref.problems]


# Records whose text has the very places the fast way cuts at, inside them.
TRICKY = [
    rec(1, requestMetadata={"clientAddress": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {}]}),
    rec(2, note='a string with }, { and }{ and }\n,\n{ in it', more=[{}, {"a": [{}, {}]}]),
    rec(3, result={"data": {"errors": [{"status": "X"}, {"status": "Y"}]}}),
    rec(4, big="x" * 3000),
    rec(5, text="naïve ünïcode ✓"),
]


def as_array(records, indent=None, sep=",") -> bytes:
    if indent is not None:
        return json.dumps(records, indent=indent, ensure_ascii=False).encode()
    return ("[" + sep.join(json.dumps(r, ensure_ascii=False) for r in records) + "]").encode()


def as_objects(records, indent=None, sep="\n") -> bytes:
    return sep.join(json.dumps(r, indent=indent, ensure_ascii=False) for r in records).encode()


SHAPES = {
    "compact array": (as_array(TRICKY), True),
    "array, a record a line": (as_array(TRICKY, sep=",\n"), True),
    "array, spaces": (b"  \n[ \n" + as_array(TRICKY, sep=" ,\n\n ")[1:-1] + b"\n ]  \n", True),
    "pretty array": (as_array(TRICKY, indent=2), True),
    "pretty objects": (as_objects(TRICKY, indent=2), False),
    "objects back to back": (as_objects(TRICKY, sep=""), False),
    "objects a line": (as_objects(TRICKY) + b"\n", False),
}


@pytest.mark.parametrize("block", [1, 2, 7, 64, 1 << 20])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_record_whatever_the_blocks(monkeypatch, shape, block):
    text, array = SHAPES[shape]
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    rows, stats = fast(text, array)
    assert ids(rows) == [r["id"] for r in TRICKY]
    assert stats.malformed == 0
    assert rows == careful(text, array)[0]


def test_the_fast_way_takes_a_well_formed_document_alone(monkeypatch):
    def never(*args):
        raise AssertionError("ijson was used")
    monkeypatch.setattr(jsondoc, "ijson_rows", never)
    for text, array in SHAPES.values():
        assert len(fast(text, array)[0]) == len(TRICKY)


@pytest.mark.parametrize("text, array, good, reasons", [
    # an item that is not an object: ijson takes over from there, numbering goes on
    (as_array([rec(1), 5, rec(2), "x", rec(3)]), True, [1, 2, 3], ["not a JSON object"] * 2),
    # a record without an id, the fast way
    (as_array([rec(1), {"time": T, "data": {"methodName": "A"}}, rec(2)]), True, [1, 2], ["no id"]),
    # a syntax error with no record after it: what came before is kept, then one entry for the rest
    (as_array([rec(1), rec(2)])[:-1] + b",{broken}, 5]", True, [1, 2], ["invalid JSON"]),
    # cut in half
    (as_array([rec(1), rec(2)])[:-30], True, [1], ["JSON cut short"]),
    (as_objects([rec(1), rec(2)], indent=2)[:-30], False, [1], ["JSON cut short"]),
    # an array with no end
    (as_array([rec(1), rec(2)])[:-1], True, [1, 2], ["JSON cut short"]),
    # text after the array
    (as_array([rec(1)]) + b"\n" + json.dumps(rec(2)).encode(), True, [1], ["text after the JSON array"]),
    # empty
    (b"[]", True, [], []),
    (b" [ \n ] \n", True, [], []),
])
def test_odd_documents_end_as_ijson_says(monkeypatch, text, array, good, reasons):
    for block in (3, 1 << 20):
        monkeypatch.setattr(jsondoc, "BLOCK", block)
        rows, stats = fast(text, array)
        assert ids(rows) == [f"rec-{i}" for i in good]
        assert [why.split(";")[0] for _, _, why in stats.problems] == reasons
        ref_rows, ref = careful(text, array)
        assert rows == ref_rows
        assert (stats.records_read, stats.malformed) == (ref.records_read, ref.malformed)


@pytest.mark.parametrize("block", [3, 1 << 20])
@pytest.mark.parametrize(("text", "good", "malformed"), [
    # a trailing comma after a record with a number ijson cannot hold (it was lost: neither
    # read nor malformed, the error at the end with 0 bytes left)
    (b'[\n' + json.dumps(rec(1)).encode() + b',\n' + json.dumps(rec(2, size=2**64)).encode() + b',\n]\n', [1, 2], []),
    # a missing comma after one (the file held no record at all; then only the first)
    (b'[' + json.dumps(rec(1, size=2**63)).encode() + b'\n' + json.dumps(rec(2)).encode() + b']', [1, 2], []),
    # a lone surrogate escape before a trailing comma (ijson loaded it as "?"), in a field
    # ccaudit reads, then in one it does not
    (b'[' + json.dumps(rec(1)).encode() + b',\n' + json.dumps(rec(2, method="x")).encode().replace(b'"x"', b'"\\ud800"')
     + b',\n]', [1], [(":item 2", "invalid Unicode escape")]),
    (b'[' + json.dumps(rec(1)).encode() + b',\n' + json.dumps(rec(2, s="x")).encode().replace(b'"x"', b'"\\ud800"')
     + b',\n]', [1, 2], []),
])
def test_a_whole_item_before_a_syntax_error_is_read_as_the_fast_way_reads_it(monkeypatch, block, text, good,
                                                                             malformed):
    """The item is whole, what follows it is the error: it was read again by ijson, whose
    rules differ (numbers past 64 bits, lone surrogates), and the error is where it is."""
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    rows, stats = fast(text, True)
    assert ids(rows) == [f"rec-{i}" for i in good]
    if text.endswith((b",\n]\n", b",\n]")):  # (before: "invalid JSON; stopped reading, 2 bytes left unread")
        said = (f"@byte {text.rindex(b',')}", "invalid JSON: a comma before the array's end")
    else:
        said = (f"@byte {text.index(json.dumps(rec(2)).encode())}", "invalid JSON: no comma before this item")
    assert [(pos, why) for _, pos, why in stats.problems] == [*malformed, said]


def test_item_numbers_and_byte_positions_continue_after_the_fast_way():
    text = as_array([rec(1), rec(2), 7, {"id": "x"}])
    rows, stats = fast(text, True)
    assert ids(rows) == ["rec-1", "rec-2"]
    assert [pos for _, pos, _ in stats.problems] == [":item 3", ":item 4"]
    cut = as_array([rec(1), rec(2)])[:-10]
    _, stats = fast(cut, True)
    (_, pos, why), = stats.problems
    # was "JSON cut short; stopped reading, 0 bytes left unread": as if nothing had been read
    assert pos == f"@byte {len(cut)}" and why == "JSON cut short"


# A record whose syntax is whole but whose text or number msgspec refuses: before, the
# fast way handed the rest to ijson, which stopped there too, so one crafted email hid
# every later record of the document. Now it is one malformed item, as a line would be.
REFUSED_VALUES = {
    "invalid UTF-8": b'"A\xff"',
    "invalid Unicode escape": b'"ev\\udcffil@x.com"',
}


@pytest.mark.parametrize("reason", list(REFUSED_VALUES))
@pytest.mark.parametrize("array", [True, False])
def test_a_record_refused_for_one_value_is_one_malformed_item_and_reading_goes_on(monkeypatch, reason, array):
    value = REFUSED_VALUES[reason]
    bad = json.dumps(rec(2, requestMetadata={"connection_id": "V"}, note="}, {")).encode().replace(b'"V"', value)
    good = [json.dumps(rec(i)).encode() for i in (1, 3, 4)]
    text = b"[" + b",\n".join([good[0], bad, *good[1:]]) + b"]" if array else b"\n".join([good[0], bad, *good[1:]])
    for block in (5, 1 << 20):
        monkeypatch.setattr(jsondoc, "BLOCK", block)
        rows, stats = fast(text, array)
        assert ids(rows) == ["rec-1", "rec-3", "rec-4"]
        assert stats.problems == [("f", ":item 2", reason)]


@pytest.mark.parametrize("array", [True, False])
def test_a_number_beyond_a_float_is_kept_as_its_text(monkeypatch, array):
    # was: the record was malformed ("number out of range"), wherever the number was
    bad = json.dumps(rec(2, requestMetadata={"connection_id": "V"}, note="}, {", size="W")).encode()
    parts = [json.dumps(rec(1)).encode(), bad.replace(b'"V"', b"1e999").replace(b'"W"', b"-1e999"),
             json.dumps(rec(3)).encode()]
    text = b"[" + b",\n".join(parts) + b"]" if array else b"\n".join(parts)
    for block in (5, 1 << 20):
        monkeypatch.setattr(jsondoc, "BLOCK", block)
        rows, stats = fast(text, array)
        assert ids(rows) == ["rec-1", "rec-2", "rec-3"] and stats.problems == []


@pytest.mark.parametrize("array", [True, False])
@pytest.mark.parametrize("escape", ["\\ud83d", "\\uDBFF", "\\udcff"])
def test_a_lone_surrogate_at_a_records_end_is_one_malformed_item(array, escape):
    # was: msgspec says "truncated" for a high half a few bytes before the end, so the
    # piece grew to the end of the input, and ijson loaded the record, "?" for the escape
    bad = b'{"id": "rec-2", "time": "%s", "data": {"methodName": "%s"}}' % (T.encode(), escape.encode())
    good = [json.dumps(rec(i)).encode() for i in (1, 3)]
    text = b"[" + b", ".join([good[0], bad, good[1]]) + b"]" if array else b"\n".join([good[0], bad, good[1]])
    rows, stats = fast(text, array)
    assert ids(rows) == ["rec-1", "rec-3"] and stats.problems == [("f", ":item 2", "invalid Unicode escape")]
    last = b"[" + good[0] + b", " + bad + b"]" if array else good[0] + b"\n" + bad  # was: ijson read it, "?"
    rows, stats = fast(last, array)
    assert ids(rows) == ["rec-1"] and stats.problems == [("f", ":item 2", "invalid Unicode escape")]


def test_a_refused_value_in_a_piece_cut_short_still_grows_to_the_whole_item():
    # the first place to cut is inside the string after the refused value
    bad = b'{"id": "rec-2", "time": "%s", "data": {"methodName": "M", ' \
          b'"requestMetadata": {"connection_id": "\\udcff"}}, "s": "}, {"}' % T.encode()
    text = b"[" + json.dumps(rec(1)).encode() + b", " + bad + b", " + json.dumps(rec(3)).encode() + b"]"
    rows, stats = fast(text, True)
    assert ids(rows) == ["rec-1", "rec-3"] and stats.problems == [("f", ":item 2", "invalid Unicode escape")]


def test_an_escaped_backslash_before_u_is_plain_text_not_a_surrogate():
    text = as_array([rec(1, note="\\udcff"), rec(2)])
    rows, stats = fast(text, True)
    assert ids(rows) == ["rec-1", "rec-2"] and stats.malformed == 0


@pytest.mark.parametrize("after", [b"\n" + json.dumps(rec(2)).encode(), b" x", b"\n\n]", b",", b"\n" + b"{}" * 5000])
def test_text_after_the_array_is_reported_where_it_starts_with_the_bytes_left(monkeypatch, after):
    # was: the position where ijson's last 64 KiB read ended, and the bytes after that
    head = as_array([rec(1)]) + b"\n"
    for block in (3, 1 << 20):
        monkeypatch.setattr(jsondoc, "BLOCK", block)
        rows, stats = fast(head + after, True)
        assert ids(rows) == ["rec-1"]
        at = len(head) + len(after) - len(after.lstrip())
        assert stats.problems == [("f", f"@byte {at}", f"text after the JSON array; stopped reading, "
                                                       f"{unread(len(head + after) - at)}")]


@pytest.mark.parametrize("after", [b"\0" * 9, b"\n\0\0\0\0\n\0\0\n", b" \0\n" * 1000])
def test_zero_bytes_after_the_array_are_padding(monkeypatch, after):
    # as after a compressed stream; was "text after the JSON array", the input read in part
    for block in (3, 1 << 20):
        monkeypatch.setattr(jsondoc, "BLOCK", block)
        rows, stats = fast(as_array([rec(1), rec(2)]) + after, True)
        assert ids(rows) == ["rec-1", "rec-2"] and stats.problems == [] and stats.cut == []
    rows, stats = fast(as_array([rec(1)]) + b"\0\0x", True)  # but not what follows them
    at = len(as_array([rec(1)])) + 2
    assert stats.problems == [("f", f"@byte {at}", "text after the JSON array; stopped reading, 1 byte left unread")]


@pytest.mark.parametrize("array, broken, read", [(True, 1, ["rec-1", "rec-3"]), (False, 2, ["rec-1", "rec-2"])])
def test_a_trailing_comma_in_an_item_is_reported_where_it_is(array, broken, read):
    # was "@byte <the input's size>: invalid JSON; stopped reading, 0 bytes left unread", the
    # items after it unread and unsaid: msgspec's "trailing comma" was taken for text after a value
    items = [json.dumps(rec(n), indent=None if array else 2).encode() for n in (1, 2, 3)]
    items[broken] = items[broken][:-1] + b",}"
    text = b"[" + b",".join(items) + b"]\n" if array else b"\n".join(items) + b"\n"
    rows, stats = fast(text, array)
    at = text.index(b",}") + 1
    assert ids(rows) == read
    said = f"invalid JSON; stopped reading, {len(text) - at} bytes left unread"
    if array:  # reading goes on at the next record
        said = f"invalid JSON; read on at the next record, byte {text.index(items[2])}"
    assert stats.problems == [("f", f"@byte {at}", said)]


def test_a_trailing_comma_between_objects_is_said_to_be_one():
    items = [json.dumps(rec(n), indent=2).encode() for n in (1, 2, 3)]
    items[1] = items[1][:-1] + b",}"
    rows, stats = fast(b"\n".join(items) + b"\n", False)
    assert ids(rows) == ["rec-1", "rec-3"]
    # was "text after the JSON object"
    assert stats.problems == [("f", ":item 2", "not valid JSON (a comma before a closing bracket)")]


def test_a_trailing_comma_on_a_line_is_no_text_after_the_object():
    # was "text after the JSON object", with nothing after it
    from ccaudit.ingest import line_rows

    stats = LoadStats()
    rows = list(line_rows([json.dumps(rec(1)).encode()[:-1] + b",}\n"], "f", stats))
    assert rows == [] and stats.problems == [("f", 1, "not valid JSON (a comma before a closing bracket)")]


def test_text_after_the_array_longer_than_an_item_may_be_is_still_reported_where_it_starts(monkeypatch):
    # was: past the limit without a separator, the rest went to ijson (64 KiB read blocks)
    monkeypatch.setattr(jsondoc, "MAX_RECORD", 1000)
    monkeypatch.setattr(careful_module, "MAX_RECORD", 1000)
    monkeypatch.setattr(jsondoc, "BLOCK", 64)
    head = as_array([rec(1), rec(2)]) + b"\n"
    rows, stats = fast(head + b"x" * 5000, True)
    assert ids(rows) == ["rec-1", "rec-2"]
    assert stats.problems == [("f", f"@byte {len(head)}", "text after the JSON array; stopped reading, "
                                                          "5000 bytes left unread")]


@pytest.mark.parametrize("array", [True, False])
def test_a_record_with_very_many_inner_places_is_read_the_fast_way_and_so_is_the_rest(monkeypatch, array):
    # more `},{` inside one record than the fast way tries. Was: ijson read on from there,
    # and stopped reading at the first integer of 2**63 or more (a valid connection id) or
    # value msgspec refuses, losing every later record
    def never(*args):
        raise AssertionError("ijson was used")
    monkeypatch.setattr(jsondoc, "ijson_rows", never)
    many = json.dumps(rec(2, items=[{"n": i} for i in range(jsondoc.MAX_TRIES + 10)]), indent=1).encode()
    big = json.dumps(rec(3, requestMetadata={"connection_id": 2**64 - 1})).encode()
    bad = json.dumps(rec(4, requestMetadata={"connection_id": "V"})).encode().replace(b'"V"', b'"\\udcff"')
    many_bad = json.dumps(rec(6, items=[{"n": i} for i in range(70)], requestMetadata={"connection_id": "V"}))
    parts = [json.dumps(rec(1)).encode(), many, big, bad, json.dumps(rec(5)).encode(),
             many_bad.encode().replace(b'"V"', b'"\\ud800"'), json.dumps(rec(7)).encode()]
    text = b"[" + b",\n".join(parts) + b"]" if array else b"\n".join(parts)
    for block in (1, 7, 1 << 20):  # 1: a read can end in "1e", which msgspec calls an invalid number
        monkeypatch.setattr(jsondoc, "BLOCK", block)
        rows, stats = fast(text, array)
        assert ids(rows) == ["rec-1", "rec-2", "rec-3", "rec-5", "rec-7"]
        assert stats.problems == [("f", f":item {n}", "invalid Unicode escape") for n in (4, 6)]


@pytest.mark.parametrize("value", [b"42", b'"text"', b"[1, {}]", b"null"])
def test_a_value_between_objects_that_is_not_one_is_one_malformed_item(monkeypatch, value):
    # was: ijson read on from it, and stopped at the first value msgspec refuses
    def never(*args):
        raise AssertionError("ijson was used")
    monkeypatch.setattr(jsondoc, "ijson_rows", never)
    bad = json.dumps(rec(3, requestMetadata={"connection_id": "V"})).encode().replace(b'"V"', b'"\\udcff"')
    text = b"\n".join([json.dumps(rec(1), indent=2).encode(), value, json.dumps(rec(2)).encode(), bad,
                       json.dumps(rec(4)).encode()])
    for block in (5, 1 << 20):
        monkeypatch.setattr(jsondoc, "BLOCK", block)
        rows, stats = fast(text, False)
        assert ids(rows) == ["rec-1", "rec-2", "rec-4"]
        assert stats.problems == [("f", ":item 2", "not a JSON object"), ("f", ":item 4", "invalid Unicode escape")]


@pytest.mark.parametrize("block", [1, 2, 7, 64, 1 << 20])
def test_noise_lines_between_objects_are_counted_and_skipped(monkeypatch, block):
    # a consume command's dump of pretty-printed records: was read up to the first
    # "% Headers:" line, every record after it lost ("read in part")
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    header = b'% Headers: [content-type="application/cloudevents+json; charset=UTF-8"]'
    records = [json.dumps(r, indent=2).encode() for r in TRICKY]
    text = b"\n".join([records[0], header, records[1], b"% Error: broker down", b"", header,
                       records[2], b"Headers: x", records[3] + b"  " + header, records[4], header])
    rows, stats = fast(text, False)
    assert ids(rows) == [r["id"] for r in TRICKY]
    assert stats.problems == [] and stats.noise_lines == 6 and stats.records_read == 5


@pytest.mark.parametrize("block", [1, 2, 7, 64, 1 << 20])
def test_noise_lines_before_and_after_an_array_are_counted_and_skipped(monkeypatch, block):
    # was: "read in part: f@byte 0: invalid JSON", every record lost; after the array, "text
    # after the JSON array"
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    text = b'% Headers: [content-type="application/json"]\nHeaders: x\n\n[\n' + b",\n".join(
        json.dumps(r).encode() for r in TRICKY) + b"\n]\n% Headers: []\n"
    rows, stats = fast(text, True)
    assert ids(rows) == [r["id"] for r in TRICKY]
    assert stats.problems == [] and stats.noise_lines == 3 and stats.records_read == 5


@pytest.mark.parametrize("between, noise, malformed", [
    (b'% Headers: [content-type="application/json"]', 1, 0), (b"Headers: x", 1, 0), (b"a line of text", 0, 1),
    (b"Hi", 0, 1), (b"nothing to see", 0, 1), (b"null", 0, 1), (b"[INFO] x", 0, 1), (b"-----", 0, 1)])
@pytest.mark.parametrize("block", [7, 1 << 20])
def test_pretty_objects_with_a_line_between_each_are_read_a_piece_of_their_size_each(monkeypatch, between, noise,
                                                                                      malformed, block):
    # was: each object read, and sliced, up to the input's end or the record limit: 4,000 such
    # objects (1.4 MB) took 5 s, 40,000 hours; with a line of text, 20,000 took 2 minutes
    # (a line that a JSON value may begin, "nothing to see", as long). And a line starting
    # with "H" that a read block ended in lost every record after it
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    pieces = []
    for name in ("record_piece", "other_piece"):
        real = getattr(jsondoc, name)
        monkeypatch.setattr(jsondoc, name, lambda piece, real=real: pieces.append(len(piece)) or real(piece))
    records = [json.dumps(rec(i, note={"nested": {"x": [1, 2]}}), indent=2).encode() for i in range(300)]
    text = (b"\n" + between + b"\n").join(records) + b"\n"
    rows, stats = fast(text, False)
    assert ids(rows) == [f"rec-{i}" for i in range(300)] and stats.cut == []
    assert (stats.noise_lines, stats.malformed) == (299 * noise, 299 * malformed)
    assert sum(pieces) <= 4 * len(text)  # each byte decoded a few times, not once a record


def test_pretty_objects_of_indent_0_are_decoded_once_each(monkeypatch):
    # an inner object's "}" begins its line too: taken for where a record may end, each of a
    # record's hundred was a decode from its start (5,000 records: 10 s, against 0.3 s)
    decoded = []
    real = jsondoc.record_piece
    monkeypatch.setattr(jsondoc, "record_piece", lambda piece: decoded.append(piece) or real(piece))
    records = [json.dumps(rec(i, clientAddress=[{"ip": {"v4": f"10.0.0.{k}"}} for k in range(100)]), indent=0)
               for i in range(50)]
    rows, stats = fast("\n".join(records).encode() + b"\n", False)
    assert ids(rows) == [f"rec-{i}" for i in range(50)] and len(decoded) <= 2 * len(records)


def test_noise_line_at_the_end_without_its_newline(monkeypatch):
    for block in (3, 1 << 20):
        monkeypatch.setattr(jsondoc, "BLOCK", block)
        rows, stats = fast(json.dumps(rec(1), indent=2).encode() + b"\n% Headers: [" + b"x" * 100, False)
        assert ids(rows) == ["rec-1"] and stats.problems == [] and stats.noise_lines == 1


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 20])
def test_after_a_broken_object_reading_goes_on_at_the_next_line_that_starts_one(monkeypatch, block):
    # was: everything after a record cut in half (or a line of text) was left unread
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    pretty = [json.dumps(rec(n), indent=2).encode() for n in (1, 2, 3, 4)]
    cut = pretty[1][:len(pretty[1]) // 2]
    text = b"\n".join([pretty[0], cut, pretty[2], b"Processed a total of 4 messages", pretty[3]]) + b"\n"
    rows, stats = fast(text, False)
    assert ids(rows) == ["rec-1", "rec-3", "rec-4"]
    assert stats.problems == [("f", ":item 2", "JSON cut short"), ("f", ":item 4", "not valid JSON")]
    assert stats.cut == []


@pytest.mark.parametrize("block", [1, 5, 1 << 20])
@pytest.mark.parametrize("last", [b"garbage", b"nothing to see", b"Processed a total of 3 messages", b"{"])
def test_a_line_of_text_after_the_last_pretty_object_is_malformed_where_it_is(monkeypatch, block, last):
    # was: "read in part: f@byte N: invalid JSON; stopped reading", as if the input had been
    # cut short there; a line of text before another object was a malformed item, as now
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    for end in (b"", b"\n", b"\n\n"):
        rows, stats = fast(as_objects(TRICKY[:3], indent=2) + b"\n" + last + end, False)
        assert ids(rows) == [r["id"] for r in TRICKY[:3]] and stats.cut == []
        assert [(where, why) for _, where, why in stats.problems] == [
            (":item 4", "JSON cut short" if last == b"{" else "not valid JSON")]


@pytest.mark.parametrize("block", [7, 1 << 20])
def test_the_lines_of_a_piece_that_is_no_object_are_read_as_lines(monkeypatch, block):
    # was: after a stray pretty message first, every prefixed record up to the next line
    # starting with "{" was one malformed item ("not valid JSON"), its noise lines uncounted:
    # 900 records lost, exit 0
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    compact = [json.dumps(rec(n)).encode() for n in range(1, 7)]
    text = b"".join([b'{\n  "hello": "world"\n}\n% Headers: [x]\n',
                     *(b"Partition:0 Offset:%d\t" % n + r + b"\n% Headers: [x]\n" for n, r in enumerate(compact[:3])),
                     b"  " + compact[3] + b"\n% Headers: [x]\n",  # indented
                     compact[4] + b"\n% Headers: [x]\n", json.dumps(rec(6), indent=2).encode() + b"\n"])
    rows, stats = fast(text, False)
    assert ids(rows) == [f"rec-{n}" for n in range(1, 7)]
    assert (stats.problems, stats.noise_lines, stats.cut) == ([("f", ":item 1", "no id")], 6, [])


@pytest.mark.parametrize("block", [7, 1 << 20])
def test_prefixed_records_after_a_stray_message_are_read_to_the_end_and_past_the_record_limit(monkeypatch, block):
    # was: with no line starting with "{" within the record limit after them, reading
    # stopped at the first ("read in part"), every record after it lost, exit 2
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    monkeypatch.setattr(jsondoc, "MAX_RECORD", 2000)
    compact = [json.dumps(rec(n)).encode() for n in range(1, 121)]
    text = b'{\n  "hello": "world"\n}\n' + b"".join(b"Partition:0 Offset:%d\t" % n + r + b"\n% Headers: [x]\n"
                                                    for n, r in enumerate(compact))
    rows, stats = fast(text, False)
    assert ids(rows) == [f"rec-{n}" for n in range(1, 121)] and len(text) > 5 * 2000
    assert (stats.problems, stats.noise_lines, stats.cut) == ([("f", ":item 1", "no id")], 120, [])


@pytest.mark.parametrize("block", [7, 1 << 20])
@pytest.mark.parametrize("limit", [None, 2000])
@pytest.mark.parametrize("cut", [b"{\n", b'{\n  "id": "rec-x",\n'])
@pytest.mark.parametrize("lead", ["Partition:0 Offset:{n}\t", "null\t", '"k{n}"\t', "Timestamp: 1715000000000\t", ""])
def test_records_on_lines_after_a_pretty_record_cut_short_are_read(monkeypatch, block, limit, cut, lead):
    # `cat` of a pretty dump cut short and a consume command's (prefixed, indented) lines: was
    # "read in part ... stopped reading", the cut record taken for the input's last, every
    # record after it lost (exit 2 with none before it); and so past the record limit
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    if limit:
        monkeypatch.setattr(jsondoc, "MAX_RECORD", limit)
    count = 3 if limit is None else 40  # (past the limit: lines up to it, then on from there)
    text = json.dumps(rec(1), indent=2).encode() + b"\n" + cut + b"".join(
        lead.format(n=n).encode() + json.dumps(rec(n)).encode() + b"\n" for n in range(2, count + 2))
    if lead == "":  # a line that starts with "{": always read on from there
        text += json.dumps(rec(count + 2), indent=2).encode() + b"\n"
    rows, stats = fast(text, False)
    assert ids(rows) == [f"rec-{n}" for n in range(1, count + 2 + (lead == ""))] and stats.cut == []
    assert [position for _, position, _ in stats.problems] == [":item 2"]


@pytest.mark.parametrize("line", [b'    "copy": ' + json.dumps(rec(9)).encode(), b"  " + json.dumps(rec(9)).encode()])
def test_a_compact_record_in_a_pretty_record_cut_short_is_not_loaded(line):
    # a field of the cut record (indented: no consume command's prefix), not a line of lines
    rows, stats = fast(json.dumps(rec(1), indent=2).encode() + b'\n{\n  "id": "rec-2",\n' + line + b"\n", False)
    assert ids(rows) == ["rec-1"] and len(stats.cut) == 1  # read in part, as a record cut short is


def test_a_pretty_record_cut_short_holding_many_objects_on_a_line_is_read_in_linear_time():
    # was: each "{" on the line tried as a line of its own: 640 KB took 280 s
    many = b'  "extra": [' + b",".join([b'{"a": 1}'] * 200_000) + b"],\n"
    rows, stats = fast(json.dumps(rec(1), indent=2).encode() + b'\n{\n  "id": "rec-2",\n' + many, False)
    assert ids(rows) == ["rec-1"] and len(stats.cut) == 1


@pytest.mark.parametrize("block, key", [*((block, key) for block in (7, 1 << 20) for key in (b"null", b"12", b'"k1"')),
                                        (1 << 20, b'{"tenant": "x"}')])  # (an object key whose line a read
def test_a_key_and_a_tab_before_a_record_between_objects_is_its_prefix(monkeypatch, block, key):  # cuts: "no id")
    # the consume command's --print-key lines after pretty records: was one "not a JSON
    # object" (or "no id") entry for each key, a valid JSON value, so --strict failed with nothing lost
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    text = json.dumps(rec(1), indent=2).encode() + b"\n" + b"".join(
        key + b"\t" + json.dumps(rec(n)).encode() + b"\n" for n in (2, 3)) + b"null\n"
    rows, stats = fast(text, False)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"] and stats.cut == []
    assert [(position, why) for _, position, why in stats.problems] == [(":item 4", "not a JSON object")]  # a value


@pytest.mark.parametrize("block", [7, 1 << 20])
@pytest.mark.parametrize("bad", [b'{"hello": world}', b'{"id": 1, "time": "x"'])
def test_a_bad_line_starting_with_a_brace_is_a_line_not_a_record_cut_short(monkeypatch, block, bad):
    # was: taken for a record cut short ("read in part"), and the records on lines after it lost
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    prefixed = [b"Partition:0 Offset:%d\t" % n + json.dumps(rec(n)).encode() + b"\n% Headers: [x]\n" for n in (2, 3)]
    rows, stats = fast(json.dumps(rec(1), indent=2).encode() + b"\n" + bad + b"\n" + b"".join(prefixed), False)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"] and stats.cut == [] and stats.noise_lines == 2
    assert [position for _, position, _ in stats.problems] == [":item 2"]


@pytest.mark.parametrize("block", [7, 512, 1 << 20])
def test_records_after_a_compact_one_are_read_whatever_the_read_block(monkeypatch, block):
    # was: with the next separator past the record limit in the buffer, a compact record
    # on its line was refused as over the limit, and every record after it lost, as read
    # blocks fell (2 of 19 at 512 bytes, all at 7)
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    monkeypatch.setattr(jsondoc, "MAX_RECORD", 1500)
    monkeypatch.setattr(careful_module, "MAX_RECORD", 1500)
    compact = [json.dumps(rec(n)).encode() for n in range(2, 19)]
    text = b"\n".join([json.dumps(rec(1), indent=2).encode(), b"garbage", compact[0],
                       *(b"P:0\t" + c for c in compact[1:]), json.dumps(rec(19), indent=2).encode()]) + b"\n"
    rows, stats = fast(text, False)
    assert ids(rows) == [f"rec-{n}" for n in range(1, 20)] and stats.cut == []


def test_lines_of_text_after_the_last_pretty_object_are_read_as_lines():
    # was: "read in part", as if the input had been cut short there
    text = as_objects(TRICKY[:2], indent=2) + b"\nProcessed a total of 2 messages\nStopping Consumer.\n"
    rows, stats = fast(text, False)
    assert ids(rows) == [r["id"] for r in TRICKY[:2]] and stats.cut == [] and stats.noise_lines == 1
    assert stats.problems == [("f", ":item 3", "not valid JSON")]


def test_each_run_of_bad_lines_is_a_malformed_item_in_its_place():
    # was: one item for a piece's bad lines, numbered after the records that followed them
    pretty = [json.dumps(rec(n), indent=2).encode() for n in (1, 2, 5)]
    text = b"\n".join([pretty[0], pretty[1], b"garbage", b"P\t" + json.dumps(rec(3)).encode(), b"more garbage",
                       b"P\t" + json.dumps(rec(4)).encode(), b'{"hello": 1}', pretty[2]]) + b"\n"
    rows, stats = fast(text, False)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3", "rec-4", "rec-5"]
    assert stats.problems == [("f", ":item 3", "not valid JSON"), ("f", ":item 5", "not valid JSON"),
                              ("f", ":item 7", "no id")]


def test_a_line_that_is_an_object_but_no_record_says_why_as_line_mode_does():
    # was "not a JSON object", for an object without an id
    lines = [b"P\t" + json.dumps(rec(2)).encode(), b'P\t{"hello": 1}', b"P\t" + json.dumps(rec(3)).encode()]
    rows, stats = fast(json.dumps(rec(1), indent=2).encode() + b"\n" + b"\n".join(lines) + b"\n", False)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"] and stats.problems == [("f", ":item 3", "no id")]


def test_a_record_cut_in_half_is_one_malformed_item_and_the_noise_after_it_is_counted():
    # was: the noise line after the cut record went with it, uncounted
    pretty = [json.dumps(rec(n), indent=2).encode() for n in (1, 2, 3)]
    text = b"".join(p + b"\n% Headers: [x]\n" for p in (pretty[0], pretty[1][:len(pretty[1]) // 2], pretty[2]))
    rows, stats = fast(text, False)
    assert ids(rows) == ["rec-1", "rec-3"] and stats.noise_lines == 3
    assert stats.problems == [("f", ":item 2", "JSON cut short")]


@pytest.mark.parametrize("block", [1, 5, 1 << 20])
def test_pretty_files_each_with_a_byte_order_mark_read_as_one(monkeypatch, block):
    # was: the second file's first record lost, "not valid JSON" (cat of files PowerShell wrote)
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    bom = b"\xef\xbb\xbf"
    text = as_objects(TRICKY[:2], indent=2) + b"\n" + bom + as_objects(TRICKY[2:], indent=2) + b"\n"
    rows, stats = fast(text, False)
    assert ids(rows) == [r["id"] for r in TRICKY] and stats.problems == []


@pytest.mark.parametrize("block", [1, 3, 1 << 20])
def test_a_byte_order_mark_after_a_broken_piece_starts_the_next_object(monkeypatch, block):
    # was: the next line was looked for as "\n{", and the BOM'd record went with the garbage
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    pretty = [json.dumps(r, indent=2, ensure_ascii=False).encode() for r in TRICKY[:3]]
    rows, stats = fast(pretty[0] + b"\ngarbage\n\xef\xbb\xbf" + pretty[1] + b"\n" + pretty[2] + b"\n", False)
    assert ids(rows) == [r["id"] for r in TRICKY[:3]] and stats.problems == [("f", ":item 2", "not valid JSON")]


def test_a_piece_of_many_short_lines_is_read_in_memory_of_its_size():
    # was: a list of its lines, then a copy: 16 MiB of short lines took 385 MiB more
    import tracemalloc

    text = json.dumps(rec(1), indent=2).encode() + b"\n" + b"xy\n" * 250_000 + json.dumps(rec(2), indent=2).encode()
    tracemalloc.start()
    try:
        rows, stats = fast(text, False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ids(rows) == ["rec-1", "rec-2"] and stats.problems == [("f", ":item 2", "not valid JSON")]
    assert peak < 3 * len(text) + 5 * 2**20, peak  # (buffers of about 4 MiB; measured 5.7 MB in all)


def test_a_broken_object_with_no_object_line_after_it_still_ends_the_file(monkeypatch):
    text = json.dumps(rec(1), indent=2).encode() + b"\n{\n  \"id\": \"rec-2\",\n  oops\n}\n  {\"id\": 3}\n"
    rows, stats = fast(text, False)
    assert ids(rows) == ["rec-1"] and len(stats.problems) == 1 and "bytes left unread" in stats.problems[0][2]


@pytest.mark.parametrize("item, good", [
    (b"0", True), (b"[]", True), (b'""', True), (b"false", True), (b"null", True),
    (b"[1, {\"a\": [2, 3]}, 4]", True), (b'"a, b"', True),
    (b"[1, 2", False),  # (the record after it is in it, and the array never ends)
])
def test_array_items_that_are_not_objects(item, good):
    # a whole value is one malformed item and reading goes on the fast way; an item that
    # swallows the rest is a syntax error (ijson says which, and reading stops there)
    text = b"[" + json.dumps(rec(1)).encode() + b", " + item + b", " + json.dumps(rec(2)).encode() + b"]"
    rows, stats = fast(text, True)
    ref_rows, ref = careful(text, True)
    assert rows == ref_rows and (stats.records_read, stats.malformed) == (ref.records_read, ref.malformed)
    assert ids(rows) == (["rec-1", "rec-2"] if good else ["rec-1"])
    if good:
        assert stats.problems == [("f", ":item 2", "not a JSON object")]
    else:
        assert [why.split(";")[0] for *_, why in stats.problems] == [why.split(";")[0] for *_, why in ref.problems]


def test_array_items_of_bad_syntax_are_told_and_the_record_after_them_read():
    # was: reading stopped at them ("N bytes left unread"), the record after them lost
    def read(item):
        text = b"[" + json.dumps(rec(1)).encode() + b", " + item + b", " + json.dumps(rec(2)).encode() + b"]"
        rows, stats = fast(text, True)
        assert ids(rows) == ["rec-1", "rec-2"] and stats.cut == []
        return text.index(item), [(pos, why) for _, pos, why in stats.problems]

    at, problems = read(b"5 6")  # two items, no comma between them
    assert problems == [(":item 2", "not a JSON object"),
                        (f"@byte {at + 2}", "invalid JSON: no comma before this item"),
                        (":item 3", "not a JSON object")]
    at, problems = read(b"tru")  # no item: reading goes on at the "{" after its ", "
    assert problems == [(f"@byte {at + 1}", f"invalid JSON; read on at the next record, byte {at + 5}")]  # (msgspec
    # checks "tru" against "true" from its second byte)


# -- a field of an odd shape, then a cut or a syntax error (crashed) -------------------

ODD_THEN_CUT = {  # "result": [] is the very shape classify.decode is lenient about
    "inner separator": as_array([rec(1, result=[], requestMetadata={"clientAddress": [{"ip": "1"}, {"ip": "2"}]}),
                                 rec(2)]),
    "id a number, then a string with a separator": b'[{"id": 5, "note": "}, {"}, ' + json.dumps(rec(2)).encode() + b"]",
    "odd shape, then a syntax error": b'[{"id": 5, "x": tru}]',
}


@pytest.mark.parametrize("name", list(ODD_THEN_CUT))
def test_odd_shape_before_a_cut_does_not_crash(name):
    # was: _record -> _lenient_record -> decode -> _any_decoder.decode raises a plain
    # msgspec.DecodeError ("truncated" / "malformed"), which nothing catches
    same_as_careful(ODD_THEN_CUT[name], True)


def test_odd_shape_before_a_cut_does_not_crash_in_objects_mode():
    text = as_objects([{"id": 6, "time": T, "data": {"methodName": "M", "result": [], "note": "}{"}},
                       rec(2)], indent=2)
    same_as_careful(text, False)


# -- invalid UTF-8 in a field the struct decodes (crashed) ------------------------------

@pytest.mark.parametrize("error, bad", [(b"{broken}", 1), (b'{"b": }', 6), (b'{"a": 1} {"b": 2}', 9),
                                        (b"{\"a\": tru}", 7)])  # (msgspec finds "tru" wrong at the "r")
@pytest.mark.parametrize("block", [3, 1 << 20])
def test_a_syntax_error_is_reported_at_its_byte_and_reading_goes_on_at_the_next_record(monkeypatch, error, bad,
                                                                                        block):
    # was: the end of ijson's 64 KiB read, and the bytes after that read as the ones unread;
    # then: at its byte, but every record after it unread
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    head = as_array([rec(1), rec(2)])[:-1] + b",\n"
    text = head + error + b",\n" + as_array([rec(i) for i in range(3, 2000)])[1:]
    rows, stats = fast(text, True)
    assert ids(rows) == [f"rec-{i}" for i in range(1, 2000)] and stats.cut == []
    at = len(head) + bad
    if error.startswith(b'{"a": 1}'):  # two whole items, no comma between them
        assert stats.problems == [("f", ":item 3", "no id"),
                                  ("f", f"@byte {at}", "invalid JSON: no comma before this item"),
                                  ("f", ":item 4", "no id")]
    else:
        assert stats.problems == [("f", f"@byte {at}", "invalid JSON; read on at the next record, "
                                                       f"byte {len(head + error) + 2}")]


@pytest.mark.parametrize("field", ["id", "time", "methodName"])
def test_invalid_utf8_in_a_decoded_field_does_not_crash(field):
    # was: msgspec raises UnicodeDecodeError (not a DecodeError) for a str field it
    # decodes; _record only checks UTF-8 after a successful decode
    good = json.dumps(rec(1)).encode()
    bad = json.dumps(rec(2)).encode().replace(f'"{field}": "'.encode(), f'"{field}": "\xff'.encode("latin-1"))
    assert bad != json.dumps(rec(2)).encode()
    text = b"[" + good + b"," + bad + b"," + json.dumps(rec(3)).encode() + b"]"
    rows, stats = fast(text, True)
    assert ids(rows) == ["rec-1", "rec-3"] and stats.problems == [("f", ":item 2", "invalid UTF-8")]


# -- the stream breaks right after a whole record (that record was lost) ---------------

class _Breaks(io.RawIOBase):
    """``data`` in chunks, then the error a truncated gzip gives."""

    def __init__(self, data: bytes, chunk: int):
        self.data, self.at, self.chunk = data, 0, chunk

    def readable(self):
        return True

    def readinto(self, b):
        if self.at >= len(self.data):
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        d = self.data[self.at:self.at + min(len(b), self.chunk)]
        self.at += len(d)
        b[:len(d)] = d
        return len(d)


BROKEN = {
    "objects, break after }": (as_objects([rec(1), rec(2), rec(3)], indent=2), False),
    "objects, break after }\\n": (as_objects([rec(1), rec(2), rec(3)], indent=2) + b"\n", False),
    "array, break after }": (as_array([rec(1), rec(2), rec(3)])[:-1], True),
    "array, break after },": (as_array([rec(1), rec(2), rec(3)])[:-1] + b",", True),
    "array, whole, break after ]": (as_array([rec(1), rec(2), rec(3)]), True),
}


@pytest.mark.parametrize("chunk", [7, 1 << 20])
@pytest.mark.parametrize("name", list(BROKEN))
def test_the_last_whole_record_before_a_break_is_kept(name, chunk):
    # was: _record_at calls _more() to look for the next separator; the read raises
    # and the record already in the buffer is never decoded. ijson yields it.
    text, array = BROKEN[name]
    st = LoadStats()
    got = ids(until_broken(jsondoc.json_rows(_Breaks(text, chunk), "f", st, array), "f", st))
    ref = LoadStats()
    want = ids(until_broken(ijson_rows(_Breaks(text, chunk), 0, "f", ref, array, 0), "f", ref))
    assert want == ["rec-1", "rec-2", "rec-3"]
    assert got == want
    assert (st.records_read, st.malformed) == (ref.records_read, ref.malformed)


@pytest.mark.parametrize("indent", [None, 2])
def test_gzip_without_its_trailer_keeps_every_record(tmp_path, indent):
    # the whole document decompresses; only the CRC/size trailer is missing
    p = tmp_path / "cut.json.gz"
    p.write_bytes(gzip.compress(json.dumps([rec(i) for i in (1, 2, 3)], indent=indent).encode())[:-4])
    stats = LoadStats()
    rows = list(read_rows(Dump(str(p)), stats))
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"]
    assert stats.malformed == 1 and "input ends early" in stats.problems[0][2]


# -- deep nesting: refused, in bounded memory -----------------------------------------

def test_deep_nesting_in_an_array_is_refused_not_a_crash(tmp_path):
    # ijson needs memory quadratic in the depth, and encoding a deep value recursed: both
    # crashed or blew up before (20,000: Python 3.13 decodes 5,000 levels)
    deep = "[" * 20_000 + "]" * 20_000
    p = tmp_path / "deep.json"
    p.write_text('[{"id":"a","time":"2024-05-06T10:00:00Z","data":{"methodName":"mds.Authorize",'
                 f'"authorizationInfo":{{"granted":{deep}}}}}}}]')
    stats = LoadStats()
    rows = list(read_rows(Dump(str(p)), stats))
    assert rows == [] and stats.malformed == 1
    assert "nested too deep" in stats.problem_lines()[0]


@pytest.mark.parametrize("opener, closer", [(b"[ ", b"]"), (b'{"a":', b"}")])
def test_deep_nesting_without_a_run_of_brackets_is_bounded(opener, closer):
    # got past the guard, was: _TOO_DEEP is the substring "[" * 64; "[ [ [" or {"a":{"a":
    # never matches it, msgspec gives up (RecursionError) and ijson builds a prefix per level:
    # a 24 KB input peaks at ~160 MB (depth 8000), 4x per doubling
    d = 8000
    text = (b'[{"id":"a","time":"' + T.encode() + b'","data":{"methodName":"M","x":'
            + opener * d + (b"1" if opener.startswith(b"{") else b"") + closer * d + b"}}]")
    tracemalloc.start()
    try:
        fast(text, True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20


def test_a_string_of_brackets_is_not_nesting():
    # was: once ijson has taken over (here because of the 5), a record whose *string*
    # holds 64 "[" ends the load: "JSON nested too deep; stopped reading"
    records = [rec(1), 5, rec(2, note="[" * 64), rec(3)]
    rows, stats = fast(as_array(records), True)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"]
    assert stats.malformed == 1


# -- numbers msgspec reads and yajl refuses -----------------------------------------

@pytest.mark.parametrize("number", [2**64, -2**63 - 1])
def test_a_big_number_after_the_fallback_does_not_end_the_load(number):
    # yajl refuses integers beyond int64 ("integer overflow"); msgspec reads them. A
    # non-object item used to hand the rest to ijson, and such a record then ended the load
    # (connection_id is documented as "a number beyond 2**53").
    big = json.dumps(rec(2, requestMetadata={"connection_id": 0})).replace('"connection_id": 0',
                                                                           f'"connection_id": {number}')
    text = b"[" + json.dumps(rec(1)).encode() + b", 5, " + big.encode() + b", " + json.dumps(rec(3)).encode() + b"]"
    rows, stats = fast(text, True)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"]


# -- documents ingest.sniff never hands over --------------------------------------

@pytest.mark.parametrize("text", [b"]", b'{"id": "rec-1"}', b"1"])
def test_array_mode_without_an_opening_bracket(text):
    # _leave() used to prepend a "[" that the input did not have (and rest_at went to
    # -1). Not reachable through ingest.sniff, which only picks "array" after a "[".
    same_as_careful(text, True)


# -- edge cases checked: these hold ---------------------------------------------------------

@pytest.mark.parametrize("block", [1, 3, 1 << 20])
@pytest.mark.parametrize("ws", [b"\r\n", b"\t", b"\x0b", b"\x0c", b" \r\n\t "])
def test_whitespace_variants(monkeypatch, block, ws):
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    recs = [json.dumps(r, ensure_ascii=False).encode() for r in TRICKY]
    same_as_careful(ws + b"[" + ws + (ws + b"," + ws).join(recs) + ws + b"]" + ws, True)
    same_as_careful(ws + ws.join(recs) + ws, False)


@pytest.mark.parametrize("block", [1, 5, 1 << 20])
@pytest.mark.parametrize("text, array", [
    (b"\xef\xbb\xbf" + as_array(TRICKY), True),
    (b"[]", True), (b"[ ]", True),
    (as_array(TRICKY) + b"\n]", True),
    (as_array(TRICKY) + b", {}", True),
    (as_objects(TRICKY, indent=2) + b"\n \n", False),
    (as_objects(TRICKY, indent=2) + b"\n[1, 2]", False),
    (as_objects(TRICKY, indent=2) + b"\n{", False),
])
def test_odd_ends_and_starts(monkeypatch, block, text, array):
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    same_as_careful(text, array)


@pytest.mark.parametrize("block", [1, 5, 1 << 20])
@pytest.mark.parametrize("text, lost, bad", [
    (b"\xef\xbb\xbf" + as_objects(TRICKY), 0, []),  # (ingest drops a BOM before the reader; so does this one)
    (as_objects(TRICKY, sep=",\n"), 0, [2, 4, 6, 8]),  # each comma a piece of no object
])
def test_odd_objects_are_stepped_over_where_ijson_stops(monkeypatch, block, text, lost, bad):
    # ijson, and the fast way before, read up to the first of them
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    rows, stats = fast(text, False)
    assert ids(rows) == [r["id"] for r in TRICKY[lost:]]
    assert stats.problems == [("f", f":item {n}", "not valid JSON") for n in bad] and stats.cut == []


ESCAPES = [
    rec(1, s="ends in a backslash \\", t="quote \"}, {\" inside"),
    rec(2, s='\\"}, {\\"', nested=[[{"a": "}{"}], [{"b": "},{"}]]),
    rec(3, s="\\\\\\", u="\u2028\u0000\U0001F600"),
]


@pytest.mark.parametrize("block", [1, 2, 3, 64, 1 << 20])
@pytest.mark.parametrize("indent", [None, 0, 2])
def test_escapes_and_separators_inside_strings(monkeypatch, block, indent):
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    for text, array in ((as_array(ESCAPES, indent=indent), True), (as_objects(ESCAPES, indent=indent), False)):
        rows, stats = fast(text, array)
        assert ids(rows) == ["rec-1", "rec-2", "rec-3"] and stats.malformed == 0
        same_as_careful(text, array)


@pytest.mark.parametrize("block", [7, 1 << 20])
def test_a_record_bigger_than_max_record_is_refused(monkeypatch, block):
    # One size limit for a record in every input shape: lines refuse more, so do documents.
    monkeypatch.setattr(jsondoc, "MAX_RECORD", 2000)
    monkeypatch.setattr(careful_module, "MAX_RECORD", 2000)
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    records = [rec(1), rec(2, big="y" * 5000), rec(3)]
    for text, array in ((as_array(records, indent=1), True), (as_objects(records, indent=1), False)):
        rows, stats = fast(text, array)
        assert ids(rows) == ["rec-1"] and stats.malformed == 1
        assert "an item larger than 2000 bytes; stopped reading" in stats.problems[0][2]


@pytest.mark.parametrize("array", [True, False])
@pytest.mark.parametrize("block", [7, 1 << 20])
def test_a_number_item_bigger_than_max_record_is_refused_where_it_passes_the_limit(monkeypatch, block, array):
    # a bare number between items was never an item to the guard: ijson took it whole,
    # in memory and time that grew with it (120 MB: 145 s, 217 MB), and said "invalid
    # JSON; stopped reading, 0 bytes left unread" with the records after it unread
    monkeypatch.setattr(jsondoc, "MAX_RECORD", 2000)
    monkeypatch.setattr(careful_module, "MAX_RECORD", 2000)
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    first, last = json.dumps(rec(1)).encode(), json.dumps(rec(3)).encode()
    number = b"1" * 5000
    text = b"[" + first + b",\n" + number + b",\n" + last + b"]" if array else first + b"\n" + number + b"\n" + last
    rows, stats = fast(text, array)
    assert ids(rows) == ["rec-1"] and stats.malformed == 1
    start = text.index(number)
    assert stats.problems == [("f", f"@byte {start + 2000}", "an item larger than 2000 bytes; stopped reading, "
                                                             f"{len(text) - start - 2000} bytes left unread")]


def buffer_sizes(monkeypatch) -> list[int]:
    """The reader's buffer's size after each read, as the reading goes."""
    most: list[int] = []
    real = jsondoc._Items.more

    def more(self, keep):
        moved = real(self, keep)
        most.append(len(self.buf))
        return moved
    monkeypatch.setattr(jsondoc._Items, "more", more)
    return most


def test_the_buffer_stays_one_record_plus_one_block(monkeypatch):
    monkeypatch.setattr(jsondoc, "BLOCK", 1000)
    most = buffer_sizes(monkeypatch)
    records = [rec(i, pad="z" * (i % 7 * 300)) for i in range(300)]
    size = max(len(json.dumps(r)) for r in records)
    for text, array in ((as_array(records, indent=1), True), (as_objects(records), False)):
        most.clear()
        rows, _ = fast(text, array)
        assert len(rows) == 300
        assert max(most) <= size * 1.5 + 1000


def test_array_nesting_msgspec_reads_is_what_ijson_refuses():
    # checked: a record nesting 70 arrays loads on the fast way but is "nested too deep"
    # for ijson alone -- a divergence by design (msgspec stops itself near depth 1000)
    text = as_array([rec(1, x=json.loads("[" * 70 + "]" * 70)), rec(2)])
    rows, _ = fast(text, True)
    assert ids(rows) == ["rec-1", "rec-2"]
    assert careful(text, True)[1].malformed == 1


def test_item_numbers_go_on_after_a_not_object_in_objects_mode():
    text = as_objects([rec(1), rec(2)], indent=2) + b"\n[1]\n" + as_objects([rec(3), {"id": "x"}], indent=2)
    rows, stats = fast(text, False)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"]
    assert [pos for _, pos, _ in stats.problems] == [":item 3", ":item 5"]
    same_as_careful(text, False)


def test_a_break_during_the_ijson_part_is_reported_once(monkeypatch):
    text = as_array([rec(1), 5, rec(2), rec(3)])[:-1]
    st = LoadStats()
    got = ids(until_broken(jsondoc.json_rows(_Breaks(text, 11), "f", st, True), "f", st))
    assert got == ["rec-1", "rec-2", "rec-3"]
    assert [p for _, p, _ in st.problems] == [":item 2", "@end"]


# -- every shape of the same records gives the same rows and the same malformed entries ----

_ODD_VALUES = {  # a value msgspec refuses, in a field the struct decodes or skips: why the record is malformed, or None
    "invalid UTF-8": (b'"A\xff"', "skipped", "invalid UTF-8"),
    "lone surrogate, decoded": (b'"ev\\udcff"', "decoded", "invalid Unicode escape"),
    "lone surrogate, skipped": (b'"ev\\udcff"', "skipped", None),
    "lone high half at the end, skipped": (b'"x\\ud83d"', "last", None),
    "number out of range, decoded": (b"1e999", "decoded", None),
    "number out of range, skipped": (b"1e999", "skipped", None),
}


def _record_bytes(n: int, kind: str, many: bool, tricky: bool) -> bytes:
    fields = {"requestMetadata": {"connection_id": 2**64 - 1}}  # valid; ijson with use_float stops at it
    if many:
        fields["items"] = [{"n": i} for i in range(jsondoc.MAX_TRIES + 6)]
    if tricky:
        fields["note"] = "}, {"
    if kind == "no id":
        return json.dumps({k: v for k, v in rec(n, **fields).items() if k != "id"}).encode()
    text = json.dumps(rec(n, **fields)).encode()
    if kind == "good":
        return text
    value, where, _ = _ODD_VALUES[kind]
    if where == "decoded":
        return text.replace(str(2**64 - 1).encode(), value)
    if where == "last":
        return text[:-1] + b', "z": ' + value + b"}"
    return b'{"z": ' + value + b", " + text[1:]


def _shapes(parts: list[bytes]) -> dict[str, tuple[bytes, bool]]:
    return {
        "lines": (b"\n".join(parts) + b"\n", False),
        "compact array": (b"[" + b",".join(parts) + b"]", True),
        "indented array": (b"[\n  " + b",\n  ".join(parts) + b"\n]\n", True),
        "objects": (b"\n".join(parts), False),
        "objects back to back": (b"".join(parts), False),
    }


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["good", "good", "no id", *_ODD_VALUES]), st.booleans(),
                          st.booleans()), min_size=1, max_size=6),
       st.sampled_from([1, 7, 1 << 20]))
def test_every_shape_of_the_same_records_gives_the_same_rows_and_reasons(records, block):
    # found by a differential fuzzer: the array and objects shapes lost records that lines kept
    parts = [_record_bytes(n, kind, many, tricky) for n, (kind, many, tricky) in enumerate(records, 1)]
    why = {"good": None, "no id": "no id", **{kind: odd[2] for kind, odd in _ODD_VALUES.items()}}
    want_ids = [f"rec-{n}" for n, (kind, _, _) in enumerate(records, 1) if why[kind] is None]
    want_reasons = [why[kind] for kind, _, _ in records if why[kind] is not None]
    with mock.patch.object(jsondoc, "BLOCK", block):
        for shape, (text, array) in _shapes(parts).items():
            stats = LoadStats()
            stream = io.BufferedReader(io.BytesIO(text))
            if shape == "lines":
                from ccaudit.ingest import iter_lines, line_rows
                rows = list(line_rows(iter_lines(stream), "f", stats))
            else:
                rows = list(jsondoc.json_rows(stream, "f", stats, array))
            assert (shape, ids(rows)) == (shape, want_ids)
            assert (shape, [why for _, _, why in stats.problems]) == (shape, want_reasons)


# -- arrays one after another; a syntax error in an array read past ----------------------

@pytest.mark.parametrize("block", [1, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("between", [b"", b"\n", b" \r\n\t", b"\n[]\n"])
def test_arrays_one_after_another_are_read_as_one(monkeypatch, block, between):
    # `cat day1.json day2.json`: was "text after the JSON array; stopped reading", the
    # second array's records unread
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    first, second = as_array(TRICKY[:2], indent=2), as_array(TRICKY[2:])
    rows, stats = fast(first + between + second + b"\n", True)
    assert ids(rows) == [r["id"] for r in TRICKY] and stats.problems == []
    rows, stats = fast(first + between + b"[1]" + second, True)  # an item that is no object, told as any
    assert ids(rows) == [r["id"] for r in TRICKY] and stats.problems == [("f", ":item 3", "not a JSON object")]


def test_what_follows_arrays_that_is_no_array_still_stops_reading():
    text = as_array([rec(1)]) + as_array([rec(2)]) + b"\n" + json.dumps(rec(3)).encode()
    rows, stats = fast(text, True)
    at = text.index(json.dumps(rec(3)).encode())
    assert ids(rows) == ["rec-1", "rec-2"]
    assert stats.problems == [("f", f"@byte {at}", f"text after the JSON array; stopped reading, "
                                                   f"{unread(len(text) - at)}")]


@pytest.mark.parametrize("block", [1, 5, 1 << 20])
def test_records_with_no_comma_between_them_are_read_each_told(monkeypatch, block):
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    text = as_array(TRICKY, sep="")
    rows, stats = fast(text, True)
    assert ids(rows) == [r["id"] for r in TRICKY]
    starts = [text.index(json.dumps(r, ensure_ascii=False).encode()) for r in TRICKY[1:]]
    assert stats.problems == [("f", f"@byte {at}", "invalid JSON: no comma before this item") for at in starts]


@pytest.mark.parametrize("block", [1, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("indent", [None, 2])
def test_a_broken_record_is_read_past_to_the_next_record_not_to_an_inner_object(monkeypatch, block, indent):
    # TRICKY's records hold lists of objects ("[{", ", {") and "}, {" in a string: each is a
    # place a record could begin, and none is a record
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    text = as_array(TRICKY + [rec(6)], indent=indent)
    broken = text.replace(b'"id": "rec-1"', b'"id": rec-1"', 1)
    rows, stats = fast(broken, True)
    assert ids(rows) == [r["id"] for r in TRICKY[1:]] + ["rec-6"] and stats.cut == []
    at = broken.index(b"rec-1")
    second = broken.rindex(b"{", 0, broken.index(b'"id": "rec-2"'))
    assert stats.problems == [("f", f"@byte {at}", f"invalid JSON; read on at the next record, byte {second}")]


@pytest.mark.parametrize("block", [7, 1 << 20])
def test_a_broken_part_longer_than_the_record_limit_still_stops_reading(monkeypatch, block):
    monkeypatch.setattr(jsondoc, "MAX_RECORD", 2000)
    monkeypatch.setattr(careful_module, "MAX_RECORD", 2000)
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    near = b"[" + json.dumps(rec(1)).encode() + b", {broken" + b" x" * 900 + b"}, " + json.dumps(rec(2)).encode() + b"]"
    rows, stats = fast(near, True)
    assert ids(rows) == ["rec-1", "rec-2"] and stats.cut == []
    far = near.replace(b" x" * 900, b" x" * 1100)
    rows, stats = fast(far, True)
    at = far.index(b"broken")
    assert ids(rows) == ["rec-1"]
    assert stats.problems == [("f", f"@byte {at}", f"invalid JSON; stopped reading, {unread(len(far) - at)}")]


def test_a_broken_part_keeps_the_buffer_to_one_record_plus_one_block(monkeypatch):
    monkeypatch.setattr(jsondoc, "MAX_RECORD", 5000)
    monkeypatch.setattr(jsondoc, "BLOCK", 1000)
    most = buffer_sizes(monkeypatch)
    broken = b"{broken, " + b'{"a": 1}, ' * 400  # (4,000 bytes of places a record could begin, none)
    text = b"[" + b",".join([json.dumps(rec(1)).encode(), broken] * 50 + [json.dumps(rec(2)).encode()]) + b"]"
    rows, stats = fast(text, True)
    assert ids(rows) == ["rec-1"] * 50 + ["rec-2"] and stats.malformed == 50 and stats.cut == []
    assert max(most) <= 5000 + 2 * 1000


@pytest.mark.parametrize("block", [1, 5, 1 << 20])
def test_a_comma_before_an_arrays_end_is_told_and_the_array_after_it_read(monkeypatch, block):
    # was "invalid JSON; stopped reading, N bytes left unread": the next array's records lost
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    first = as_array(TRICKY[:2])[:-1] + b"\n, ]"
    rows, stats = fast(first + as_array(TRICKY[2:]), True)
    assert ids(rows) == [r["id"] for r in TRICKY] and stats.cut == []
    assert stats.problems == [("f", f"@byte {first.rindex(b',')}", "invalid JSON: a comma before the array's end")]


# -- reading past a syntax error: what a review of it broke --------------------------------

EMBEDDED = {"id": "emb-1", "time": T, "data": {"methodName": "Inner"}}  # record-shaped, inside a record


def _compact(*items) -> bytes:
    return b"[" + b",".join(i if isinstance(i, bytes) else json.dumps(i).encode() for i in items) + b"]"


@pytest.mark.parametrize("block", [1, 7, 1 << 20])
@pytest.mark.parametrize("text, read, entries", [
    # a record-shaped object in a list inside the broken record: was loaded, and the list's
    # "]" taken for the array's end ("text after the JSON array"), rec-3 and rec-4 lost
    (_compact(rec(1), json.dumps(rec(2, events=[EMBEDDED])).replace('"rec-2",', '"rec-2", "x": tru,').encode(),
              rec(3), rec(4)), [1, 3, 4], 1),
    (_compact(b"tru", b"[" + json.dumps(EMBEDDED).encode() + b"]", rec(2)), [2], 1),
    # a "{" right after the separator where the error is: was skipped, its record lost
    (_compact(rec(1), b"", rec(2), rec(3)), [1, 2, 3], 1),
    (b"[," + _compact(rec(1), rec(2))[1:], [1, 2], 1),
    (_compact(rec(1)) + b"\n[," + _compact(rec(2))[1:], [1, 2], 1),
    (_compact(rec(1), b" ,\n" + json.dumps(rec(2)).encode()), [1, 2], 1),
    # garbage in place of a comma: was two entries, and the record after it lost
    (_compact(rec(1)).replace(b"}]", b"}x" + json.dumps(rec(2)).encode() + b"," + json.dumps(rec(3)).encode() + b"]"),
     [1, 2, 3], 1),
    (_compact(rec(1)).replace(b"}]", b"}:" + json.dumps(rec(2)).encode() + b"]"), [1, 2], 1),
    # a record read after the error, then no comma: was "stopped reading"
    (_compact(b"{bad}", rec(1)).replace(b"}]", b"} " + json.dumps(rec(2)).encode() + b"]"), [1, 2], 2),
    # a byte-order mark before a second array: was "text after the JSON array"
    (_compact(rec(1)) + b"\n\xef\xbb\xbf" + _compact(rec(2)), [1, 2], 0),
])
def test_reading_past_a_syntax_error_finds_the_arrays_own_next_record(monkeypatch, block, text, read, entries):
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    rows, stats = fast(text, True)
    assert ids(rows) == [f"rec-{n}" for n in read] and stats.cut == []
    assert stats.malformed == entries


@pytest.mark.parametrize("number", [b"-12345", b"1.25", b"-1.5e3", b"true", b"null"])
def test_a_record_after_an_error_is_found_whatever_read_ends_inside_its_numbers(monkeypatch, number):
    # a read that ended inside a number ("-", "1.") made msgspec say "invalid", not "cut
    # short": the record was passed over, and loading the file lost it or not by its offset
    text = _compact(rec(1), b"{broken}", json.dumps(rec(2, num=0)).replace('"num": 0', '"num": ' + number.decode())
                    .encode(), rec(3))
    for block in range(1, 40):
        monkeypatch.setattr(jsondoc, "BLOCK", block)
        rows, stats = fast(text, True)
        assert ids(rows) == ["rec-1", "rec-2", "rec-3"], block


def test_objects_inside_a_broken_record_are_not_decoded_one_by_one(monkeypatch):
    # each was decoded as a record could be, in Python for a crowded one: a broken item of
    # 1 MiB nested 300 deep took 26 s
    decoded = []
    real = jsondoc_pieces.record_piece
    monkeypatch.setattr(jsondoc_pieces, "record_piece", lambda piece: decoded.append(piece) or real(piece))
    inner = {"a": [{"b": k, "c": [{"d": 1}, {"e": 2}]} for k in range(2000)]}
    text = _compact(rec(1), json.dumps(rec(2, inner=inner)).replace('"rec-2",', '"rec-2" x').encode(), rec(3))
    rows, stats = fast(text, True)
    assert ids(rows) == ["rec-1", "rec-3"] and len(decoded) <= 2


def test_an_entry_is_never_placed_after_the_record_reading_went_on_at():
    # msgspec reads on past the record (it is in a list of the broken one, open) to where
    # the list's brackets fail: the entry said "@byte N" of a byte after the record read
    broken = b'{"id": "rec-2", "data": {"l": [1, ' + json.dumps(rec(3)).encode()  # its "]" then the array's
    text = _compact(rec(1), broken) + b"\n" + _compact(rec(4))
    rows, stats = fast(text, True)
    assert ids(rows) == ["rec-1", "rec-3", "rec-4"]
    (_, at, why), = stats.problems
    assert at == f"@byte {text.index(broken)}" and why.endswith(f"byte {text.index(json.dumps(rec(3)).encode())}")


def test_a_record_after_a_comma_and_a_long_run_of_spaces_is_found():
    # the comma was looked for in the 64 bytes before the "{" only
    broken = b'{"id": "rec-2", "data": {"l": [1,' + b" " * 1000 + json.dumps(rec(3)).encode()
    rows, stats = fast(_compact(rec(1), broken, rec(4)), True)
    assert ids(rows) == ["rec-1", "rec-3", "rec-4"] and stats.malformed == 1


class _Searches:
    """A separator pattern that counts the bytes its searches may cover."""

    def __init__(self, pattern):
        self.pattern, self.bytes = pattern, 0

    def search(self, buf, pos, end):
        self.bytes += min(end, len(buf)) - pos
        return self.pattern.search(buf, pos, end)


@pytest.mark.parametrize("between", [b"\n\xef\xbb\xbf", b",\n", b" x\n"])
def test_objects_that_no_separator_ends_are_read_in_time_linear_in_the_input(monkeypatch, between):
    # was: each searched on to the input's end (or 16 MiB) for a separator, then decoded:
    # 4,000 records of 300 bytes, each after a byte-order mark, took 41 s (0.24 s without)
    searches = _Searches(jsondoc._BETWEEN[False])
    monkeypatch.setitem(jsondoc._BETWEEN, False, searches)
    head = json.dumps(rec(0), indent=1).encode() + b"\n"
    text = head + b"".join(json.dumps(rec(i)).encode() + between for i in range(1, 2001))
    rows, stats = fast(text, array=False)
    assert len(rows) == 2001 == stats.records_read
    assert searches.bytes < 2001 * 8192  # a few KiB an object at most (was the rest of the input: 180 MB)


def test_a_comma_before_the_arrays_end_read_apart_from_it_is_told():
    # was not told once items were decoded to find their end: the read ended after the ",", and
    # what followed it was taken as read (--strict then passed the input)
    class InTwo(io.RawIOBase):
        def __init__(self, parts):
            self.parts = list(parts)

        def readable(self):
            return True

        def readinto(self, b):
            part = self.parts.pop(0) if self.parts else b""
            b[:len(part)] = part
            return len(part)

    stats = LoadStats()
    text = b"[" + json.dumps(rec(1)).encode() + b","
    rows = list(jsondoc.json_rows(io.BufferedReader(InTwo([text, b"]"])), "f", stats, True))
    assert len(rows) == 1 and [why for _, _, why in stats.problems] == ["invalid JSON: a comma before the array's end"]


@pytest.mark.parametrize("shape", ["objects", "array"])
def test_a_long_run_of_blank_lines_between_records_is_read_in_flat_memory(tmp_path, shape):
    # was 2 GiB for 16 MiB of blank lines: the patterns of what may come between objects or
    # after an array kept state for each byte they matched (a run a byte-order mark ends is
    # buffered whole, so every blank byte of it was matched at once)
    import subprocess
    import sys

    blank = b"\n" * (8 << 20)
    if shape == "objects":
        text = json.dumps(rec(1), indent=2).encode() + blank + b"\xef\xbb\xbf" + json.dumps(rec(2), indent=2).encode()
    else:
        text = b"[" + json.dumps(rec(1)).encode() + b",\n{x,\n" + json.dumps(rec(2)).encode() + b"]" + blank  # (read on
        # past a syntax error: the record found there is followed by the array's end, and what follows that)
    p = tmp_path / "d.json"
    p.write_bytes(text)
    code = f"""if True:
        import resource
        from ccaudit.ingest import Dump, read_rows
        from ccaudit.stats import LoadStats
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rows = list(read_rows(Dump({str(p)!r}), LoadStats()))
        print(len(rows), (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) == 2 and int(out[1]) < 64, out  # records, MiB grown


@pytest.mark.parametrize("array", [False, True])
def test_a_broken_item_is_not_searched_on_to_the_record_limit(monkeypatch, array):
    # was: an item whose syntax breaks in its first bytes ("{x"), with no separator near, was
    # decoded again from its start up to 16 MiB ahead: time grew with the square of the
    # number of such items (40,000 three-byte lines between two records, 577 bytes of gzip: 46 s)
    decoded: list[int] = []
    real = jsondoc.record_piece
    monkeypatch.setattr(jsondoc, "record_piece", lambda piece: decoded.append(len(piece)) or real(piece))
    last = json.dumps(rec(2, note="n" * 100_000)).encode()  # no separator in it, nor after it
    if array:
        text = b"[" + b"".join(json.dumps(rec(i)).encode() + b", 1,\n{x,\n" for i in range(3, 53)) + last + b"]"
    else:
        text = json.dumps(rec(1), indent=2).encode() + b"\n" + b"{x\n" * 50 + last + b"\n"
    rows, stats = fast(text, array)
    assert len(rows) == (51 if array else 2) and stats.malformed == (100 if array else 50)  # (each 1 and {x)
    assert len([n for n in decoded if n > jsondoc._LOOK]) <= 1  # the last record, read whole once


@pytest.mark.parametrize("array", [False, True])
@pytest.mark.parametrize("window", [1 << 12, 1 << 14, 1 << 16])
@pytest.mark.parametrize("number", ["-5", "1.5", "1e5", "1e+5"])
def test_a_record_whose_look_ahead_ends_inside_a_number_after_a_lone_surrogate_is_read(array, window, number):
    # was lost: the look for an item's end in windows of 4, 16 and 64 KiB found the window's
    # text broken (a number cut at its end), and the strict check of the rest, refusing the
    # lone surrogate escape in a field ccaudit does not read, placed the break inside it
    head = '{"id": "rec-1", "time": "%s", "data": {"methodName": "GetUsers", "note": "\\udc00", "pad": "' % T
    cut = len(number) // 2 or 1  # the window ends inside the number
    pad = "x" * (window - len(head) - len('", "n": ') - cut)
    first = (head + pad + '", "n": ' + number + "}}").encode()
    assert first[window - 1:window + 1] == number[cut - 1:cut + 1].encode()
    second = json.dumps(rec(2)).encode()
    text = b"[" + first + b",\n" + second + b"]" if array else first + b"\n" + second + b"\n"
    rows, stats = fast(text, array)
    assert [r[1] for r in rows] == ["rec-1", "rec-2"] and stats.malformed == 0, stats


@pytest.mark.parametrize("block, pad", [(7, 0), (1 << 16, 100_000), (1 << 20, 300_000)])  # (its syntax read
@pytest.mark.parametrize("layout", ["one line", "an item a line", "pretty"])  # in one window, or growing ones)
@pytest.mark.parametrize("escape", ["\\ud800", "\\udc00", "\\uD800 and more"])
def test_a_record_with_a_lone_surrogate_right_after_a_syntax_error_is_read(monkeypatch, block, pad, layout, escape):
    # was lost without a word: the look for the next record checked its syntax strictly,
    # which refuses half a UTF-16 pair escaped in a field ccaudit does not read
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    items = [rec(1), rec(2, x="TRU"), rec(3, note="ESCAPE", pad="p" * pad), rec(4)]
    text = ("[" + (",\n" if layout != "one line" else ",").join(
        json.dumps(item, indent=2 if layout == "pretty" else None) for item in items) + "]\n")
    rows, stats = fast(text.replace('"TRU"', "tru").replace("ESCAPE", escape).encode(), True)
    assert ids(rows) == ["rec-1", "rec-3", "rec-4"] and stats.malformed == 1, stats


@pytest.mark.parametrize("data, array", [
    (b'{"id": "a"}\n' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000, False),  # nested too deep
    (b'{"id": "a"}\n' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000, True),  # text after the array
    (b'[{"id": "a"}, {"b": 1, x}]', True)])  # invalid JSON
def test_a_document_read_in_part_is_freed_once_read(data, array):
    # was: each document ijson stopped reading was kept, its buffers too, until the process
    # ended (a cycle through ijson's parser, which the cycle collector cannot see into): a
    # fuzzing run grew by 15 KB an input, to 2 GB
    for _ in range(5):
        stats = LoadStats()
        list(jsondoc.json_rows(io.BufferedReader(io.BytesIO(data)), "d.json", stats, array=array))
        assert stats.cut or stats.malformed
    gc.collect()
    assert sum(isinstance(o, careful_module._Guarded) for o in gc.get_objects()) == 0


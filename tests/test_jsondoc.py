"""JSON documents (arrays, concatenated or pretty-printed objects): the fast cutting way
must give what the careful ijson way gives, wherever the read blocks happen to end.

Expected records are the ones each test writes; ``careful`` runs ijson alone over the
same bytes, as the reference for anything odd.
"""
from __future__ import annotations

import io
import json

import pytest

from ccaudit import jsondoc
from ccaudit.stats import LoadStats

T = "2024-05-06T10:00:00Z"


def rec(i, **data) -> dict:
    return {"id": f"rec-{i}", "time": T, "data": {"methodName": "GetUsers", **data}}


def fast(text: bytes, array: bool) -> tuple[list, LoadStats]:
    stats = LoadStats()
    return list(jsondoc.json_rows(io.BufferedReader(io.BytesIO(text)), "f", stats, array)), stats


def careful(text: bytes, array: bool) -> tuple[list, LoadStats]:
    stats = LoadStats()
    return list(jsondoc._ijson_rows(io.BufferedReader(io.BytesIO(text)), 0, "f", stats, array, 0)), stats


def ids(rows) -> list[str]:
    return [r[1] for r in rows]


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
    # ijson is only handed the array's closing bracket, to check that nothing follows it
    def only_the_end(stream, *args):
        assert stream.read().replace(b" ", b"").replace(b"\n", b"") == b"[]"
        return iter(())
    monkeypatch.setattr(jsondoc, "_ijson_rows", only_the_end)
    for text, array in SHAPES.values():
        assert len(fast(text, array)[0]) == len(TRICKY)


@pytest.mark.parametrize("text, array, good, reasons", [
    # an item that is not an object: ijson takes over from there, numbering goes on
    (as_array([rec(1), 5, rec(2), "x", rec(3)]), True, [1, 2, 3], ["not a JSON object"] * 2),
    # a record without an id, the fast way
    (as_array([rec(1), {"time": T, "data": {"methodName": "A"}}, rec(2)]), True, [1, 2], ["no id"]),
    # a syntax error: what came before is kept, then one entry for the rest
    (as_array([rec(1), rec(2)])[:-1] + b",{broken}, " + json.dumps(rec(3)).encode() + b"]", True, [1, 2],
     ["invalid JSON"]),
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


def test_item_numbers_and_byte_positions_continue_after_the_fast_way():
    text = as_array([rec(1), rec(2), 7, {"id": "x"}])
    rows, stats = fast(text, True)
    assert ids(rows) == ["rec-1", "rec-2"]
    assert [pos for _, pos, _ in stats.problems] == [":item 3", ":item 4"]
    cut = as_array([rec(1), rec(2)])[:-10]
    _, stats = fast(cut, True)
    (_, pos, why), = stats.problems
    assert pos == f"@byte {len(cut)}" and why.endswith("0 bytes left unread")


def test_invalid_utf8_inside_a_record_is_left_to_ijson():
    good = json.dumps(rec(1)).encode()
    bad = json.dumps(rec(2, note="AB")).encode().replace(b"AB", b"A\xff")
    text = b"[" + good + b"," + bad + b"]"
    rows, stats = fast(text, True)
    assert ids(rows) == ["rec-1"] and stats.malformed == 1
    assert stats.problems[0][2] == careful(text, True)[1].problems[0][2]


def test_a_record_with_very_many_inner_places_is_still_read(monkeypatch):
    # more `},{` inside one record than the fast way tries: ijson reads on from it
    many = rec(2, items=[{"n": i} for i in range(jsondoc.MAX_TRIES + 10)])
    text = as_array([rec(1), many, rec(3)], indent=1)
    used = []
    real = jsondoc._ijson_rows
    monkeypatch.setattr(jsondoc, "_ijson_rows", lambda *a: used.append(1) or real(*a))
    rows, stats = fast(text, True)
    assert ids(rows) == ["rec-1", "rec-2", "rec-3"] and stats.malformed == 0
    assert used  # the fallback did the work


@pytest.mark.parametrize("item, good", [
    (b"0", True), (b"[]", True), (b'""', True), (b"false", True), (b"null", True),
    (b"[1, {\"a\": [2, 3]}, 4]", True), (b'"a, b"', True),
    (b"5 6", False), (b"[1, 2", False), (b"tru", False),
])
def test_array_items_that_are_not_objects(item, good):
    # a whole value is one malformed item and reading goes on the fast way; anything
    # else is a syntax error (ijson says which, and reading stops there)
    text = b"[" + json.dumps(rec(1)).encode() + b", " + item + b", " + json.dumps(rec(2)).encode() + b"]"
    rows, stats = fast(text, True)
    ref_rows, ref = careful(text, True)
    assert rows == ref_rows and (stats.records_read, stats.malformed) == (ref.records_read, ref.malformed)
    assert ids(rows) == (["rec-1", "rec-2"] if good else ["rec-1"])
    if good:
        assert stats.problems == [("f", ":item 2", "not a JSON object")]
    else:
        assert [why.split(";")[0] for *_, why in stats.problems] == [why.split(";")[0] for *_, why in ref.problems]

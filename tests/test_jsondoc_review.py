"""jsondoc against ijson alone (``careful``) and against the records each test wrote:
the inputs a review of the fast way found it wrong on (each failed before its fix), then
more edge cases that were checked and hold.
"""
from __future__ import annotations

import gzip
import io
import json
import tracemalloc

import pytest

from ccaudit import jsondoc
from ccaudit.ingest import Dump, read_rows, until_broken
from ccaudit.stats import LoadStats

from test_jsondoc import TRICKY, T, as_array, as_objects, careful, fast, ids, rec


def same_as_careful(text: bytes, array: bool) -> None:
    rows, stats = fast(text, array)
    ref_rows, ref = careful(text, array)
    assert rows == ref_rows
    assert (stats.records_read, stats.malformed) == (ref.records_read, ref.malformed)
    assert [why.split(";")[0] for _, _, why in stats.problems] == [why.split(";")[0] for _, _, why in ref.problems]


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

@pytest.mark.parametrize("field", ["id", "time", "methodName"])
def test_invalid_utf8_in_a_decoded_field_does_not_crash(field):
    # was: msgspec raises UnicodeDecodeError (not a DecodeError) for a str field it
    # decodes; _record only checks UTF-8 after a successful decode
    good = json.dumps(rec(1)).encode()
    bad = json.dumps(rec(2)).encode().replace(f'"{field}": "'.encode(), f'"{field}": "\xff'.encode("latin-1"))
    assert bad != json.dumps(rec(2)).encode()
    text = b"[" + good + b"," + bad + b"," + json.dumps(rec(3)).encode() + b"]"
    same_as_careful(text, True)


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
    want = ids(until_broken(jsondoc._ijson_rows(_Breaks(text, chunk), 0, "f", ref, array, 0), "f", ref))
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


# -- deep nesting (got past the guard: memory quadratic in the depth) -------

@pytest.mark.parametrize("opener, closer", [(b"[ ", b"]"), (b'{"a":', b"}")])
def test_deep_nesting_without_a_run_of_brackets_is_bounded(opener, closer):
    # was: _TOO_DEEP is the substring "[" * 64; "[ [ [" or {"a":{"a": never matches it,
    # msgspec gives up (RecursionError) and ijson builds a prefix per level:
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
    (b"\xef\xbb\xbf" + as_objects(TRICKY), False),
    (b"[]", True), (b"[ ]", True),
    (as_array(TRICKY) + b"\n]", True),
    (as_array(TRICKY) + b"\n[1]", True),
    (as_array(TRICKY)[:-1] + b"\n, ]", True),
    (as_array(TRICKY) + b", {}", True),
    (as_objects(TRICKY, indent=2) + b"\n \n", False),
    (as_objects(TRICKY, indent=2) + b"\ngarbage", False),
    (as_objects(TRICKY, indent=2) + b"\n[1, 2]", False),
    (as_objects(TRICKY, indent=2) + b"\n{", False),
    (as_objects(TRICKY, sep=",\n"), False),
    (as_array(TRICKY, sep=""), True),
])
def test_odd_ends_and_starts(monkeypatch, block, text, array):
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    same_as_careful(text, array)


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
def test_a_record_bigger_than_max_record_goes_to_ijson(monkeypatch, block):
    monkeypatch.setattr(jsondoc, "MAX_RECORD", 2000)
    monkeypatch.setattr(jsondoc, "BLOCK", block)
    records = [rec(1), rec(2, big="y" * 5000), rec(3)]
    for text, array in ((as_array(records, indent=1), True), (as_objects(records, indent=1), False)):
        rows, stats = fast(text, array)
        assert ids(rows) == ["rec-1", "rec-2", "rec-3"] and stats.malformed == 0
        same_as_careful(text, array)


def test_the_buffer_stays_one_record_plus_one_block(monkeypatch):
    monkeypatch.setattr(jsondoc, "BLOCK", 1000)
    most = []
    real = jsondoc._Items._more

    def more(self, keep):
        moved = real(self, keep)
        most.append(len(self.buf))
        return moved
    monkeypatch.setattr(jsondoc._Items, "_more", more)
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

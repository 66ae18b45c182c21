"""Records crowded with values (``decoding.decode_crowded``, ``pruned.py``) give the row the whole decode gives them.

The expected row is the one the same record gets without the crowd: the crowd is put where
ccaudit reads nothing (a field of its own), or in a list of which ccaudit takes one item
(``clientAddress``, ``errors``), or in a principal object beside its name. Where the crowd
is itself read (a status that is a list), the expected row comes from msgspec's whole
decode (``decode_struct``, then ``decode_lenient``), which is what the load did before.
"""
from __future__ import annotations

import io
import json

import msgspec
import pytest

from ccaudit.careful import ijson_rows
from ccaudit.classify import classify
from ccaudit.decoding import (
    MAX_VALUES,
    Malformed,
    crowded,
    decode,
    decode_crowded,
    decode_lenient,
    decode_record,
    decode_struct,
)
from ccaudit.jsondoc import json_rows
from ccaudit.stats import LoadStats
from tests.records import confluent_user, kafka_auth, mds_authorize, record, request, signin

MANY = MAX_VALUES + 1_000
EMPTIES = [{}] * MANY  # millions in the attack; enough to be crowded here
T = "2024-05-06T10:00:00Z"
FAILED = {"status": "UNAUTHENTICATED", "data": {"errors": [{"status": "401", "detail": "bad password"}]}}


def _text(rec: dict) -> bytes:
    return json.dumps(rec, separators=(",", ":")).encode()


def _padded(raw: bytes, pad: bytes = b"[" + b"0," * MANY + b"0]") -> bytes:
    """``raw`` with a field ccaudit does not read, first: a list of MANY values."""
    return b'{"padding":' + pad + b"," + raw[1:]


def _whole(raw: bytes) -> tuple:
    try:
        record = decode_struct(raw)
    except msgspec.ValidationError:
        record = decode_lenient(raw)
    return classify(record)


GRANTED = mds_authorize(id="o5", operation="Alter")
GRANTED["data"]["authorizationInfo"]["granted"] = {"why": [1, 2]}
RECORDS = {
    "kafka success": kafka_auth(id="k1"),
    "kafka failure": kafka_auth(id="k2", status="UNAUTHENTICATED", connection_id=12345678901234567890123),
    "mds": mds_authorize(id="m1", operation="Read", principal=confluent_user("u-7")),
    "signin success": signin(id="s1", requestMetadata={"clientAddress": [{"ip": "10.0.0.1"}]}),
    "signin failure": signin(id="s2", outcome="FAILURE", result=FAILED),
    "service account": request(id="r1", principal={"confluentServiceAccount": {"resourceId": "sa-9"}}),
    "status a list": kafka_auth(id="o1", result={"status": ["UNAUTHENTICATED", 1.5e3, {"a": [None, True]}]}),
    "result a string": kafka_auth(id="o2", result="UNAUTHENTICATED"),
    "principal a number": request(id="o3", principal=121),
    "principal a list": request(id="o4", principal=["User:x", {}]),
    "granted an object": GRANTED,
    "empty lists read": signin(id="o6", outcome="FAILURE", result={"status": [], "data": {"errors": [{}, []]}},
                               requestMetadata={"clientAddress": [{"ip": []}, {"ip": {}}, {"ip": "10.0.0.2"}]}),
    "data a list": record("o7", T, "GetUsers", result=["x"]) | {"data": [1, 2]},
    "no id": signin(id="o8") | {"id": None},
    "unicode": signin(id="o9", email="zoë@例え.jp", outcome="FAILURE",
                      result={"status": "x", "data": {"errors": [{"status": "é\u2028", "detail": ["ü"]}]}}),
}


@pytest.mark.parametrize("name", RECORDS)
def test_a_record_crowded_where_ccaudit_reads_nothing_gives_its_row(name):
    raw = _text(RECORDS[name])
    padded = _padded(raw)
    assert crowded(padded) and not crowded(raw)
    try:
        want = classify(decode(raw))
    except Malformed as e:
        with pytest.raises(Malformed, match=e.why):
            classify(decode(padded))
        return
    assert classify(decode(padded)) == want


@pytest.mark.parametrize("field", ["clientAddress", "errors"])
def test_the_item_read_from_a_crowded_list_is_the_first_that_qualifies(field):
    # was: the whole list decoded, 30 times its size; the row must be what it was
    crowd = [{}] * MANY + [{"ip": "", "status": ""}] * 3 + [{"ip": "10.9.8.7", "status": "403", "detail": "no"}]
    crowd += [{"ip": "10.0.0.9", "status": "500"}]
    rec = signin(id="c1", outcome="FAILURE", result={"status": "FAILURE", "data": {"errors": FAILED["data"]["errors"]}},
                 requestMetadata={"clientAddress": [{"ip": "10.0.0.1"}]})
    if field == "errors":
        rec["data"]["result"]["data"]["errors"] = crowd
    else:
        rec["data"]["requestMetadata"]["clientAddress"] = crowd
    raw = _text(rec)
    assert crowded(raw)
    row = classify(decode(raw))
    assert row == _whole(raw)
    assert ("10.9.8.7" in row) == (field == "clientAddress") and ("403" in row) == (field == "errors")


def test_a_crowded_principal_object_gives_its_name():
    principal = {"noise": EMPTIES, "email": "eve@example.com", "more": EMPTIES}
    raw = _text(signin(id="p1", principal=principal, outcome="FAILURE", result=FAILED))
    row = classify(decode(raw))
    assert row == _whole(raw) and row[7] == "eve@example.com (401)"


@pytest.mark.parametrize("value", [EMPTIES, [[0.5, 1e300, -0.0, "\u00e9", None]] * (MANY // 5),
                                   [{"k": [1, {}]}] * MANY])
def test_a_crowded_value_read_as_text_is_its_json_text(value):
    raw = _text(kafka_auth(id="t1", result={"status": value}))
    assert crowded(raw)
    row = classify(decode(raw))
    assert row == _whole(raw) and row[7] == "sa-1 (" + msgspec.json.encode(value).decode() + ")"


def test_a_crowded_record_with_half_a_utf16_pair_in_a_field_it_reads_is_malformed():
    raw = _padded(_text(signin(id="u1", email="x")).replace(b'"x"', b'"\\ud800"'))
    with pytest.raises(Malformed, match="invalid Unicode escape"):
        decode_record(raw)
    unread = _padded(_text(signin(id="u2")), b'["\\ud800",' + b"0," * MANY + b"0]")
    assert classify(decode_record(unread)) == classify(decode(_text(signin(id="u2"))))


@pytest.mark.parametrize("cut", [b"", b"]", b"}"])
def test_a_crowded_record_cut_short_or_with_more_after_it_fails_as_any_record(cut):
    raw = _padded(_text(signin(id="x1")))
    bad = raw[:-1] if not cut else raw + cut
    with pytest.raises(msgspec.DecodeError) as crowd:
        decode(bad)
    with pytest.raises(msgspec.DecodeError) as whole:
        msgspec.json.decode(bad)
    assert str(crowd.value) == str(whole.value)


def test_decode_crowded_reads_what_the_struct_reads():
    raw = _padded(_text(RECORDS["signin failure"]))
    assert decode_crowded(raw) == decode_struct(raw)


@pytest.mark.parametrize("array", [True, False])
def test_the_careful_way_reads_crowded_records_as_the_fast_way_does(array):
    # ijson's events, where ijson once built each item whole
    crowd = signin(id="c2", requestMetadata={"clientAddress": [{}] * MANY + [{"ip": "10.1.1.1"}]})
    padded = RECORDS["status a list"] | {"padding": EMPTIES}
    recs = [RECORDS["signin failure"], padded, crowd, RECORDS["empty lists read"]]
    texts = [_text(r) for r in recs]
    doc = b"[" + b",".join(texts) + b"]" if array else b"\n".join(texts)
    stats = LoadStats()
    rows = list(ijson_rows(io.BufferedReader(io.BytesIO(doc)), 0, "f", stats, array, 0))
    assert rows == [classify(decode(t)) for t in texts] and stats.malformed == 0
    assert "10.1.1.1" in rows[2]


@pytest.mark.parametrize("after", [b"", b',"y":1.5', b',"e":"\\ud83d\\ude00"'])
def test_a_crowded_record_with_a_number_of_thousands_of_digits_is_malformed_not_a_crash(after):
    # ijson's C parser gave such a number as a Decimal past Python's 4,300-digit limit: a
    # SystemError, or, with a fraction after it, a segmentation fault that ended the load
    raw = _padded(b'{"id":"a","time":"' + T.encode() + b'","data":{"methodName":"X"},"x":' + b"1" * 4301 + after + b"}")
    with pytest.raises(Malformed, match="number out of range"):
        decode_record(raw)
    big = _padded(_text(kafka_auth(id="n1")).replace(b'"id"', b'"n":123456789012345678901234567890,"id"'))
    assert classify(decode(big)) == classify(decode(_text(kafka_auth(id="n1"))))


@pytest.mark.parametrize("array", [True, False])
def test_a_crowded_item_that_is_malformed_is_one_malformed_item(array):
    # was: its Malformed escaped json_rows, and the rest of the document was not read
    ok = _text(request(id="b"))
    bad = _padded(_text(request(id="x")).replace(b'"x"', b'"\\ud800"'))
    doc = b"[" + b",".join([ok, bad, ok]) + b"]" if array else b"\n".join([ok, bad, ok])
    stats = LoadStats()
    rows = list(json_rows(io.BytesIO(doc), "f", stats, array))
    assert len(rows) == 2 and stats.problem_lines() == ["f:item 2: invalid Unicode escape"]

"""Which section a record lands in and under which row key; times and their UTC buckets.

Records are built by hand here, loaded through the library API (``load_dumps`` into a
``Store``, then ``build``), and the keys read back from the report, so these tests pin the
behaviour, not the row layout. The key rules:

* kafka_authentication: principal without a leading ``User:``, plus `` (STATUS)`` when
  ``data.result.status`` is present and not SUCCESS;
* mds_authorize: ``principal-operation``, ``(none)`` when there is no operation;
* signin_failure: email (else the principal as shown) plus `` (status)`` of the first
  ``result.data.errors`` entry that has a status, the email alone when none has;
* signin_success: the email; outcome = authenticationInfo.result, else result.status;
* all_events: the methodName;
* object principals: first present of confluentUser.resourceId,
  confluentServiceAccount.resourceId, externalAccount.subject, identityPool.resourceId,
  email (leading ``User:`` removed), else ``(unknown)``. Keys are never truncated.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest

from ccaudit.classify import parse_time, shown_principal
from ccaudit.load import load_dumps
from ccaudit.report import build
from ccaudit.store import Store
from tests.records import ABSENT, T, kafka_auth, mds_authorize, numbered, request, signin, write_jsonl

_n = itertools.count(1)


def keys_of(tmp_path, *records) -> dict:
    """{section id: {key: total}} over the whole report of ``records`` (empty sections left out)."""
    n = next(_n)
    p = write_jsonl(tmp_path, records, f"d{n}.jsonl")
    store = Store(str(tmp_path / f"s{n}.db"))
    try:
        stats = load_dumps([p], store, workers=0)
        assert stats.malformed == 0, stats.problem_lines()
        report = build(store).in_memory()
    finally:
        store.close()
    out: dict = {}
    for day in report.days:
        for sid, section in day.sections.items():
            for row in section.rows:
                out.setdefault(sid, {}).setdefault(row.key, 0)
                out[sid][row.key] += row.total
    return out


def only_key(tmp_path, section, record) -> str:
    keys = keys_of(tmp_path, record)
    assert list(keys.get(section, {})) and len(keys[section]) == 1, keys
    return next(iter(keys[section]))


# -- kafka_authentication -----------------------------------------------------------------

@pytest.mark.parametrize("principal, result, key", [
    ("User:sa-q1w2e3", {"status": "SUCCESS"}, "sa-q1w2e3"),
    ("User:sa-q1w2e3", {"status": "UNAUTHENTICATED", "message": "x"}, "sa-q1w2e3 (UNAUTHENTICATED)"),
    ("None:UNKNOWN_USER", {"status": "UNAUTHENTICATED"}, "None:UNKNOWN_USER (UNAUTHENTICATED)"),
    ("User:424242", {"status": "FAILURE"}, "424242 (FAILURE)"),
    ("User:sa-1", ABSENT, "sa-1"),  # no result at all: no suffix
    ("User:sa-1", {}, "sa-1"),  # result without status: no suffix
    ("User:sa-1", {"status": None}, "sa-1"),
    ("User:sa-1", {"status": "success"}, "sa-1 (success)"),  # only SUCCESS itself is left bare
    ("sa-no-prefix", {"status": "SUCCESS"}, "sa-no-prefix"),
    ("User:User:x", {"status": "SUCCESS"}, "User:x"),  # one leading User: removed, no more
    ("Group:g-1", {"status": "SUCCESS"}, "Group:g-1"),
    ({"confluentServiceAccount": {"resourceId": "sa-obj"}}, {"status": "SUCCESS"}, "sa-obj"),
    (424242, {"status": "FAILURE"}, "424242 (FAILURE)"),  # a number, as its digits
])
def test_kafka_authentication_key(tmp_path, principal, result, key):
    keys = keys_of(tmp_path, kafka_auth(principal=principal, result=result))
    assert keys["kafka_authentication"] == {key: 1}
    assert keys["all_events"] == {"kafka.Authentication": 1}
    assert set(keys) == {"kafka_authentication", "all_events"}


# -- mds_authorize ----------------------------------------------------------------------

@pytest.mark.parametrize("record, key", [
    (mds_authorize(T, "User:u-8p71o5", "AccessMetrics"), "u-8p71o5-AccessMetrics"),
    (mds_authorize(T, "User:sa-zz9"), "sa-zz9-(none)"),
    (mds_authorize(T, "User:sa-zz9", None), "sa-zz9-(none)"),
    (mds_authorize(T, "User:sa-zz9", ""), "sa-zz9-(none)"),
    (mds_authorize(T, "User:sa-zz9", authz=False), "sa-zz9-(none)"),  # no authorizationInfo at all
    (mds_authorize(T, "User:u-1", "DescribeAccessTransparencyResources"), "u-1-DescribeAccessTransparencyResources"),
    (mds_authorize(T, {"confluentUser": {"resourceId": "u-obj"}}, "View"), "u-obj-View"),
])
def test_mds_authorize_key(tmp_path, record, key):
    keys = keys_of(tmp_path, record)
    assert keys["mds_authorize"] == {key: 1}
    assert keys["all_events"] == {"mds.Authorize": 1}


# -- sign-in ----------------------------------------------------------------------------

ALICE = {"email": "alice@example.com", "confluentUser": {"resourceId": "u-abc123"}}


@pytest.mark.parametrize("record, section, key", [
    (signin(T, principal=ALICE), "signin_success", "alice@example.com"),
    # outcome falls back to result.status when authenticationInfo.result is absent
    (signin(T, "carol@example.com", ABSENT, result={"status": "SUCCESS"}), "signin_success", "carol@example.com"),
    (signin(T, "bob@example.com", ABSENT, result={"status": "FAILURE"}), "signin_failure", "bob@example.com"),
    # authenticationInfo.result wins over result.status
    (signin(T, "d@example.com", "FAILURE", result={"status": "SUCCESS"}), "signin_failure", "d@example.com"),
    (signin(T, "e@example.com", "SUCCESS", result={"status": "FAILURE"}), "signin_success", "e@example.com"),
    # the first errors[] entry *with a status* gives the suffix
    (signin(T, "f@example.com", "FAILURE",
            result={"status": "FAILURE", "data": {"errors": [{"detail": "no status"}, {"status": "401", "detail": "x"},
                                                             {"status": "403"}]}}),
     "signin_failure", "f@example.com (401)"),
    (signin(T, "g@example.com", "FAILURE", result={"status": "FAILURE", "data": {"errors": [{"status": 429}]}}),
     "signin_failure", "g@example.com (429)"),
    (signin(T, "h@example.com", "FAILURE", result={"status": "FAILURE", "data": {"errors": []}}),
     "signin_failure", "h@example.com"),
    (signin(T, "i@example.com", "FAILURE", result={"status": "FAILURE", "data": {"errors": [{"detail": "d"}]}}),
     "signin_failure", "i@example.com"),
    (signin(T, "j@example.com", "FAILURE", result={"status": "FAILURE", "data": {"errors": "oops"}}),
     "signin_failure", "j@example.com"),
    (signin(T, "k@example.com", "FAILURE", result={"status": "FAILURE", "data": {}}),
     "signin_failure", "k@example.com"),
    # no email: the principal as shown
    (signin(T, principal={"confluentUser": {"resourceId": "u-noemail"}}, result=ABSENT), "signin_success",
     "u-noemail"),
    (signin(T, principal="User:u-str", outcome="FAILURE", result=ABSENT), "signin_failure", "u-str"),
    (signin(T, principal={}, outcome="FAILURE", result=ABSENT), "signin_failure", "(unknown)"),
])
def test_signin_key(tmp_path, record, section, key):
    keys = keys_of(tmp_path, record)
    assert keys[section] == {key: 1}
    other = {"signin_success": "signin_failure", "signin_failure": "signin_success"}[section]
    assert other not in keys
    assert keys["all_events"] == {"SignIn": 1}


@pytest.mark.parametrize("authn_result, result", [
    ("UNSET", {"status": "UNSET"}),
    (ABSENT, ABSENT),
    (ABSENT, {"status": "UNSET"}),
    ("UNAUTHENTICATED", {"status": "FAILURE"}),  # the outcome is authN result: neither
])
def test_signin_with_other_outcome_is_only_in_all_events(tmp_path, authn_result, result):
    keys = keys_of(tmp_path, signin(T, "z@example.com", authn_result, result=result))
    assert keys == {"all_events": {"SignIn": 1}}


# -- all_events and object principals -----------------------------------------------------

def test_all_events_key_is_the_method(tmp_path):
    long_method = "io.confluent.some.VeryLongMethodNameThatTheOldToolCutAtThirtyCharacters.Describe"
    keys = keys_of(tmp_path, request(T, "CreateAPIKey", ALICE), request(T, "CreateAPIKey", ALICE),
                   request(T, "schema-registry.RegisterSchema", ALICE), request(T, long_method, ALICE))
    assert keys == {"all_events": {"CreateAPIKey": 2, "schema-registry.RegisterSchema": 1, long_method: 1}}


@pytest.mark.parametrize("principal, shown", [
    ("User:sa-abc", "sa-abc"),
    ("User:123456", "123456"),
    ("None:UNKNOWN_USER", "None:UNKNOWN_USER"),
    ("", "(unknown)"),
    (None, "(unknown)"),
    ({"email": "alice@example.com", "confluentUser": {"resourceId": "u-abc123"}}, "u-abc123"),
    ({"confluentUser": {"resourceId": "u-abc123"}}, "u-abc123"),
    ({"confluentServiceAccount": {"resourceId": "sa-q1w2e3"}}, "sa-q1w2e3"),
    ({"externalAccount": {"namespace": [{"type": "idp", "id": "confluent.cloud"}], "subject": "bob.builder"}},
     "bob.builder"),
    ({"identityPool": {"resourceId": "pool-abc"}}, "pool-abc"),
    ({"email": "only@example.com"}, "only@example.com"),
    ({"confluentUser": {"resourceId": "User:u-pref"}}, "u-pref"),
    ({"confluentUser": {"resourceId": ""}, "confluentServiceAccount": {"resourceId": "sa-2"}}, "sa-2"),
    ({"confluentServiceAccount": {"resourceId": "sa-3"}, "externalAccount": {"subject": "ext"}}, "sa-3"),
    ({"externalAccount": {"subject": "ext"}, "identityPool": {"resourceId": "pool-1"}}, "ext"),
    ({"identityPool": {"resourceId": "pool-1"}, "email": "e@example.com"}, "pool-1"),
    ({"confluentUser": {"resourceId": "confluent.privileged"}}, "confluent.privileged"),
    ({}, "(unknown)"),
    ({"confluentUser": {}}, "(unknown)"),
    ({"somethingNew": {"resourceId": "x"}}, "(unknown)"),
    # odd values are shown as text
    ("User:", "(unknown)"),
    # an id that is only "User:" is empty, as the string is (was shown as "User:")
    ({"confluentUser": {"resourceId": "User:"}}, "(unknown)"),
    ({"confluentUser": {"resourceId": "User:"}, "email": "e@x"}, "e@x"),
    ({"email": True}, "true"),
    ({"confluentUser": {"resourceId": 12345}}, "12345"),
    ({"confluentUser": {"resourceId": {"a": 1}}}, '{"a":1}'),
    (121, "121"),
    (12345678901234567890123, "12345678901234567890123"),
    (1.5, "1.5"),
    (False, "false"),
    (["sa-1"], '["sa-1"]'),
    (None, "(unknown)"),
])
def test_shown_principal(principal, shown):
    assert shown_principal(principal) == shown


@pytest.mark.parametrize("principal, shown", [
    ({"confluentServiceAccount": {"resourceId": "sa-terraform"}}, "sa-terraform"),
    ({"externalAccount": {"subject": "bob.builder"}}, "bob.builder"),
    ({"identityPool": {"resourceId": "pool-abc"}}, "pool-abc"),
    ({}, "(unknown)"),
])
def test_object_principal_in_mds_key(tmp_path, principal, shown):
    assert only_key(tmp_path, "mds_authorize", mds_authorize(T, principal, "Read")) == f"{shown}-Read"


@pytest.mark.parametrize("record, keys", [
    (kafka_auth(result={"status": ["UNAUTHENTICATED"]}), {"kafka_authentication": 'sa-1 (["UNAUTHENTICATED"])'}),
    (kafka_auth(result={"status": {"code": 401}}), {"kafka_authentication": 'sa-1 ({"code":401})'}),
    (kafka_auth(result="UNAUTHENTICATED"), {"kafka_authentication": "sa-1 (UNAUTHENTICATED)"}),
    (mds_authorize(T, "User:u-1", ["DeleteKafkaCluster"]), {"mds_authorize": 'u-1-["DeleteKafkaCluster"]'}),
    (signin(T, "eve@example.com", {"value": "FAILURE"}, result={"status": "SUCCESS"}), {}),  # no sign-in section
    (signin(T, "eve@example.com", "FAILURE", result={"status": "FAILURE", "data": {"errors": [{"status": [401]}]}}),
     {"signin_failure": "eve@example.com ([401])"}),
])
def test_a_value_of_another_shape_where_text_is_expected_is_its_json_text(tmp_path, record, keys):
    # was: dropped, so a failed authentication counted as a success, an operation as "(none)"
    got = keys_of(tmp_path, record)
    assert got == {**{section: {key: 1} for section, key in keys.items()},
                   "all_events": {record["data"]["methodName"]: 1}}


def test_a_number_beyond_a_float_where_ccaudit_reads_text_is_kept_as_its_text(tmp_path):
    # was: the record was malformed ("number out of range")
    rec = mds_authorize(T, "User:u-1", "Read", requestMetadata={"connection_id": "V"})
    p = tmp_path / "d.jsonl"
    p.write_bytes(json.dumps(rec).encode().replace(b'"V"', b"-1e999") + b"\n")
    store = Store(str(tmp_path / "s.db"))
    try:
        assert load_dumps([p], store, workers=0).malformed == 0
        assert store.conn.execute("SELECT connection_id FROM auth_events").fetchall() == [("-1e999",)]
    finally:
        store.close()


def test_principals_given_as_numbers_stay_apart(tmp_path):
    keys = keys_of(tmp_path, kafka_auth(principal=121), kafka_auth(principal=122),
                   kafka_auth(principal=122), kafka_auth(principal="User:121"))
    assert keys["kafka_authentication"] == {"121": 2, "122": 2}


def test_keys_are_never_truncated(tmp_path):
    email = "maximilian.schwarzenberger-contractor." * 4 + "@very-long-subsidiary.example.com"
    op = "ConfigureSchemaRegistryExporterSettings" * 3
    keys = keys_of(tmp_path, signin(T, email, "FAILURE", result={"status": "FAILURE",
                                                                 "data": {"errors": [{"status": "401"}]}}),
                   mds_authorize(T, "User:sa-" + "x" * 80, op))
    assert keys["signin_failure"] == {f"{email} (401)": 1}
    assert keys["mds_authorize"] == {f"sa-{'x' * 80}-{op}": 1}


def test_rows_that_share_a_30_character_prefix_stay_apart(tmp_path):
    # the old tool cut keys at 30 characters and merged such rows
    a, b = "a" * 30 + "-one@example.com", "a" * 30 + "-two@example.com"
    keys = keys_of(tmp_path, signin(T, a, result=ABSENT), signin(T, b, result=ABSENT))
    assert keys["signin_success"] == {a: 1, b: 1}


def test_non_ascii_keys(tmp_path):
    keys = keys_of(tmp_path, signin(T, "josé.garcía-núñez@ejemplo.es", result=ABSENT),
                   signin(T, "zoë.ångström@exempel.se", "FAILURE", result=ABSENT))
    assert keys["signin_success"] == {"josé.garcía-núñez@ejemplo.es": 1}
    assert keys["signin_failure"] == {"zoë.ångström@exempel.se": 1}


# -- time -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, utc", [
    ("2024-05-06T07:08:09Z", "2024-05-06 07:08:09.000000"),  # 0 fraction digits
    ("2024-05-06T07:08:09.123Z", "2024-05-06 07:08:09.123000"),  # 3
    ("2024-05-06T07:08:09.958333Z", "2024-05-06 07:08:09.958333"),  # 6
    ("2024-05-06T07:08:09.481804981Z", "2024-05-06 07:08:09.481804"),  # 9
    ("2024-05-06T07:08:09.5Z", "2024-05-06 07:08:09.500000"),  # 1
    ("2024-05-06T23:59:59.999999999Z", "2024-05-06 23:59:59.999999"),  # fraction never rounds up
    ("2024-05-06T11:30:00+02:00", "2024-05-06 09:30:00.000000"),
    ("2024-05-07T01:30:00+02:00", "2024-05-06 23:30:00.000000"),  # local next day, UTC previous
    ("2024-05-06T20:30:00-05:00", "2024-05-07 01:30:00.000000"),  # local previous day, UTC next
    ("2024-05-07T05:29:59.123+05:30", "2024-05-06 23:59:59.123000"),
    ("2024-05-06T07:08:09+00:00", "2024-05-06 07:08:09.000000"),
    ("2024-05-06T07:08:09.123456789-03:30", "2024-05-06 10:38:09.123456"),
    ("2024-12-31T23:59:59Z", "2024-12-31 23:59:59.000000"),
    ("2024-02-29T12:00:00Z", "2024-02-29 12:00:00.000000"),  # leap day
    # a leap second: the last µs of its minute (was the next second, here in the next year)
    ("2016-12-31T23:59:60.5Z", "2016-12-31 23:59:59.999999"),
    ("2016-12-31T23:59:60Z", "2016-12-31 23:59:59.999999"),
    ("2017-01-01T05:29:60+05:30", "2016-12-31 23:59:59.999999"),
    ("2024-05-06T23:59:00+23:59", "2024-05-06 00:00:00.000000"),  # the largest offset RFC 3339 allows
])
def test_parse_time(text, utc):
    us = parse_time(text)
    assert us is not None
    t = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=us)
    assert t.strftime("%Y-%m-%d %H:%M:%S.%f") == utc


def test_parse_time_twice_same_minute():
    # the fast path caches minutes: a second record in the same minute must still be exact
    a = parse_time("2024-05-06T07:08:09.123Z")
    b = parse_time("2024-05-06T07:08:59Z")
    c = parse_time("2024-05-06T07:08:00.000000001Z")
    assert (b - a, a - c) == (49_877_000, 9_123_000)  # µs: the fraction is kept, the ns dropped


@pytest.mark.parametrize("digits", range(10))
def test_parse_time_of_a_known_minute_keeps_every_fraction_digit_up_to_the_microsecond(digits):
    assert parse_time("2024-05-06T07:08:00Z") == 1_714_979_280_000_000  # the minute, now known
    fraction = "987654321"[:digits]
    text = f"2024-05-06T07:08:09{'.' if digits else ''}{fraction}Z"
    assert parse_time(text) == 1_714_979_289_000_000 + int(fraction[:6].ljust(6, "0") if digits else 0)


def test_parse_time_keeps_a_bounded_number_of_minutes(monkeypatch):
    # a record on each of 200,000 dates is 200,000 minutes: at most MINUTES_CACHED are
    # kept, and a minute forgotten is parsed again, as exactly
    from datetime import datetime, timedelta, timezone

    from ccaudit import classify

    monkeypatch.setattr(classify, "MINUTES_CACHED", 3)
    monkeypatch.setattr(classify, "_minute_base", {})
    times = [datetime(2000, 1, 1, 12, 30, 15, tzinfo=timezone.utc) + timedelta(days=i % 10) for i in range(30)]
    for t in times:
        assert parse_time(t.isoformat().replace("+00:00", "Z")) == int(t.timestamp()) * 10**6
        assert len(classify._minute_base) <= 3


@pytest.mark.parametrize("text", [
    None, "", "yesterday", "2024-05-06", "2024-05-06T10:00:00", "2024-13-06T10:00:00Z",
    "2024-05-32T10:00:00Z", "2023-02-29T10:00:00Z", "2024-05-06T24:00:00Z", "2024-05-06T10:60:00Z",
    "2024-05-06T10:00:61Z", "2024-05-06T10:00Z", "2024-05-06T10:00:00.Z", "2024-05-06T10:00:00.1234567890Z",
    "2024-05-06T10:00:00+25:00", "2024-05-06T10:00:00 Z", "1715000000", 1715000000, "2024-05-06T10:00:00ZZ",
    # an offset's minutes are 00-59 and its hours 00-23 (RFC 3339): +05:99 was read as +06:39
    "2024-05-06T10:00:00+05:99", "2024-05-06T10:00:00+05:60", "2024-05-06T10:00:00-00:75", "2024-05-06T10:00:00+24:00",
])
def test_unparseable_time(text):
    assert parse_time(text) is None


def test_unparseable_time_after_a_cached_minute():
    assert parse_time("2024-05-06T10:00:00Z") is not None
    assert parse_time("2024-05-06T10:00:99Z") is None
    assert parse_time("2024-05-06T10:00:0xZ") is None


@pytest.mark.parametrize("time, why", [("2024-05-06T10:00:30.1234567891Z", " (more than 9 fraction digits)"),
                                       ("2024-05-06T10:00:30.1234567891234+05:30", " (more than 9 fraction digits)"),
                                       ("2024-05-06T10:00:30.123456789Z", None), ("2024-05-06T10:00:30.Z", ""),
                                       ("2024-13-06T10:00:30.1234567891Z", ""),  # not for a time wrong otherwise
                                       ("2024-05-06T10:00:30.1234567891", ""),
                                       ("2024-05-06T10:00:30.1234567891Zx", "")])
def test_a_time_of_ten_fraction_digits_is_said_to_be_one(tmp_path, time, why):
    # was: "unparseable time" alone, while the same time as --since is taken (its digits past the µs dropped)
    rec = numbered("id-", principal="User:u-1")
    path = write_jsonl(tmp_path, [rec(1, T), rec(2, time)], "d.jsonl")
    store = Store(":memory:")
    try:
        stats = load_dumps([path], store, workers=0)
        assert stats.problem_lines() == ([] if why is None else [f"{path}:2: unparseable time{why}"])
    finally:
        store.close()


@pytest.mark.parametrize("time", ["2024-05-06T10:00:\u0663\u0660Z",  # Arabic-Indic "30"
                                  "2024-05-06T10:00:30.\u0665Z"])
def test_time_with_non_ascii_digits_is_unparseable(tmp_path, time):
    # RFC 3339 digits are ASCII; a non-ASCII digit in the date, hour or minute is refused,
    # and in the seconds it must be too (whether or not the minute was seen before).
    rec = numbered("id-", principal="User:u-1")
    path = write_jsonl(tmp_path, [rec(1, T), rec(2, time)], "d.jsonl")
    store = Store(":memory:")
    try:
        stats = load_dumps([path], store, workers=0)
        assert (stats.inserted, stats.malformed) == (1, 1)
        assert stats.problem_lines() == [f"{path}:2: unparseable time"]
    finally:
        store.close()


def test_events_are_bucketed_by_utc_date_and_hour(tmp_path):
    # hour buckets (UTC): 23 on 05-06 for the first three, 00 on 05-07 for the other two
    recs = [request("2024-05-06T23:00:00Z", "A", "User:u"),
            request("2024-05-06T23:59:59.999999999Z", "A", "User:u"),
            request("2024-05-07T01:30:00+02:00", "A", "User:u"),
            request("2024-05-07T00:00:00.000Z", "A", "User:u"),
            request("2024-05-06T19:00:00-05:00", "A", "User:u")]
    p = write_jsonl(tmp_path, recs)
    store = Store(str(tmp_path / "s.db"))
    try:
        load_dumps([p], store, workers=0)
        report = build(store).in_memory()
    finally:
        store.close()
    assert [d.date for d in report.days] == ["2024-05-06", "2024-05-07"]
    day1, day2 = report.days
    (row1,) = day1.sections["all_events"].rows
    (row2,) = day2.sections["all_events"].rows
    assert row1.hours[23] == 3 and row1.total == 3
    assert row2.hours[0] == 2 and row2.total == 2
    assert day1.hour_labels == [f"{h:02d}" for h in range(24)]


def test_big_numbers_and_odd_shapes_do_not_break_a_record(tmp_path):
    # connection_id beyond 2**53, result as a list, principal a number: still one good record
    # (a result that is not an object is shown as its status: it is not a success)
    rec = kafka_auth(T, "User:sa-1", requestMetadata={"connection_id": 171234567890100042123})
    rec2 = kafka_auth(T, "User:sa-2", result=[1, 2])
    rec3 = request(T, "GetUsers", 12345)
    keys = keys_of(tmp_path, rec, rec2, rec3)
    assert keys["kafka_authentication"] == {"sa-1": 1, "sa-2 ([1,2])": 1}
    assert keys["all_events"] == {"kafka.Authentication": 2, "GetUsers": 1}


@pytest.mark.parametrize("odd", ['"id": 7', '"id": "e7", "note": "\\udc00"'])
def test_records_read_leniently_cost_no_more_than_others_to_work_out_their_fields(monkeypatch, odd):
    # a numeric id, or half a surrogate pair in a field ccaudit does not read, sends a record to
    # the lenient reader, which asked msgspec for each struct's fields at each record (40 µs a
    # struct, 130 times a plain record's cost): a dump of such records loaded at 3 MB/s
    import msgspec

    from ccaudit.lines import line_rows
    from ccaudit.stats import LoadStats

    asked = []
    fields = msgspec.structs.fields
    monkeypatch.setattr(msgspec.structs, "fields", lambda cls: asked.append(cls) or fields(cls))
    line = ('{%s, "time": "2024-05-06T10:00:00Z", "data": {"methodName": "m", "result": {"status": "SUCCESS"}, '
            '"authenticationInfo": {"principal": "p"}}}\n') % odd
    stats = LoadStats()
    rows = list(line_rows(iter([line.encode()] * 200), "d.jsonl", stats))
    assert len(rows) == 200 and stats.malformed == 0
    assert len(asked) < 20

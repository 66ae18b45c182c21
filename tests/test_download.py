"""ccaudit download: against librdkafka's mock cluster (real wire protocol), plus a
fake of the five consumer calls for what the mock cannot do (retention gaps)."""
import contextlib
import errno
import gzip
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
import zlib
from collections import Counter

import click.testing
import pytest
from click.testing import CliRunner

from ccaudit import download as dl
from ccaudit import download_files as dlf
from ccaudit import kafka_source
from ccaudit.cli import cli
from ccaudit.errors import CcauditError, InputError, MissingExtra
from ccaudit.kafka_config import load_properties
from ccaudit.kafka_source import ASK_FOR, EARLIEST, Message
from ccaudit.stops import Program
from tests.records import audit_message

PASSWORD = "s3cr3t-Pa55w0rd-never-shown"


@pytest.fixture(autouse=True)
def no_credentials_from_env(monkeypatch):
    monkeypatch.delenv("CCAUDIT_API_KEY", raising=False)
    monkeypatch.delenv("CCAUDIT_API_SECRET", raising=False)


def write_props(path, body: str, mode: int = 0o600):
    path.write_text(body)
    path.chmod(mode)
    return path


def leftovers(directory) -> list:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


# --- client.properties ------------------------------------------------------------------

CONSOLE_PROPS = f"""\
# Required connection configs for Kafka producer, consumer, and admin
bootstrap.servers=pkc-abc12.us-east-1.aws.confluent.cloud:9092
security.protocol = SASL_SSL
sasl.mechanisms: PLAIN
sasl.username=ABCDEFGHIJKLMNOP
sasl.password={PASSWORD}=with=equals

! Best practice for higher availability in librdkafka clients prior to 1.7
session.timeout.ms=\\
    45000
# Required connections for Confluent Cloud Schema Registry
schema.registry.url=https://{{{{ SR_ENDPOINT }}}}
basic.auth.user.info={{{{ SR_API_KEY }}}}:{{{{ SR_API_SECRET }}}}
"""


def test_parses_console_properties(tmp_path):
    props = load_properties(write_props(tmp_path / "c.properties", CONSOLE_PROPS))
    assert props["bootstrap.servers"] == "pkc-abc12.us-east-1.aws.confluent.cloud:9092"
    assert props["security.protocol"] == "SASL_SSL"
    assert props["sasl.mechanisms"] == "PLAIN"
    assert props["sasl.password"] == PASSWORD + "=with=equals"
    assert props["session.timeout.ms"] == "45000"


def test_java_variant_credentials_come_from_jaas(tmp_path):
    body = ("bootstrap.servers=b:9092\nsecurity.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
            "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
            f"username='KEY1' password='{PASSWORD}';\nclient.dns.lookup=use_all_dns_ips\n")
    props = load_properties(write_props(tmp_path / "j.properties", body))
    assert (props["sasl.username"], props["sasl.password"]) == ("KEY1", PASSWORD)


@pytest.mark.parametrize("written, meant", [('"ab\\\\"cd"', 'ab"cd'), ("'it\\\\'s'", "it's"),
                                            ('"back\\\\\\\\slash"', "back\\slash"), ('"a\\\\101b"', "aAb"),
                                            ('"new\\\\nline"', "new\nline")])  # as Java's StreamTokenizer
def test_jaas_credentials_keep_their_escaped_quotes(tmp_path, written, meant):
    # was: password="ab\"cd" (as Java reads it, ab"cd) read as ab\ : a wrong credential
    body = ("bootstrap.servers=b:9092\nsecurity.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
            "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
            f"username='KEY1' password={written};\n")
    props = load_properties(write_props(tmp_path / "j.properties", body))
    assert (props["sasl.username"], props["sasl.password"]) == ("KEY1", meant)


def test_env_vars_supply_and_override_credentials(tmp_path, monkeypatch):
    path = write_props(tmp_path / "c.properties",
                       "bootstrap.servers=b:9092\nsecurity.protocol=SASL_SSL\nsasl.mechanisms=PLAIN\n"
                       "sasl.username=FROMFILE\n")
    monkeypatch.setenv("CCAUDIT_API_KEY", "ENVKEY")
    monkeypatch.setenv("CCAUDIT_API_SECRET", PASSWORD)
    props = load_properties(path)
    assert (props["sasl.username"], props["sasl.password"]) == ("ENVKEY", PASSWORD)


def test_rejects_properties_readable_by_others(tmp_path):
    path = write_props(tmp_path / "c.properties", "bootstrap.servers=b:9092\n", mode=0o644)
    with pytest.raises(InputError, match=r"chmod 600 .*--insecure-config") as e:
        load_properties(path)
    assert "may hold the API secret" in str(e.value)  # it holds none: it said it did
    assert load_properties(path, insecure=True)["bootstrap.servers"] == "b:9092"


def test_a_broker_list_is_not_masked_as_a_secret_and_a_secret_in_it_is():
    # was: [::1]:9092 masked in the client's messages, as if it were a secret
    from ccaudit.kafka_config import secret_values

    assert secret_values({"bootstrap.servers": "[::1]:9092, broker-1.example.com:9092"}) == []
    assert PASSWORD in secret_values({"bootstrap.servers": PASSWORD})



def test_the_words_of_a_java_login_line_are_not_masked_and_its_secrets_are(tmp_path):
    # was "Invalid *** or ***" for librdkafka's "Invalid username or password", and the
    # broker's port masked wherever it appeared
    from ccaudit.kafka_config import scrub_secrets, secret_values

    body = ("bootstrap.servers=SASL_SSL://b.example.com:9092\nsecurity.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
            "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
            f"username='KEY1' password='{PASSWORD}';\n")
    secrets = secret_values(load_properties(write_props(tmp_path / "j.properties", body)))
    said = "SASL authentication error: Invalid username or password (b.example.com:9092 required)"
    assert scrub_secrets(said, secrets) == said
    assert scrub_secrets(f"KEY1 {PASSWORD} '{PASSWORD}';", secrets) == "*** *** '***';"
    assert "password" in secret_values({"sasl.username": "1234", "sasl.password": "password"})  # however plain


@pytest.mark.parametrize("body, message", [
    ("security.protocol=PLAINTEXT\n", "missing bootstrap.servers"),
    ("bootstrap.servers= , \n", "missing bootstrap.servers"),  # was: accepted, then 30 s to "No brokers configured"
    ("bootstrap.servers=b:9092\nsecurity.protocol=SASL_SSL\nsasl.mechanisms=PLAIN\nsasl.username=K\n",
     "missing sasl.password .*CCAUDIT_API_SECRET"),
    (f"bootstrap.servers=b:9092\n{PASSWORD}\n", r":2: expected 'key=value'"),
    ("bootstrap.servers=b:9092\nsasl.username={{ CLUSTER_API_KEY }}\n", "placeholder"),
    (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "not a text"),
])
def test_rejects_bad_properties(tmp_path, body, message):
    path = tmp_path / "bad.properties"
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    path.chmod(0o600)
    with pytest.raises(InputError, match=message) as e:
        load_properties(path)
    assert PASSWORD not in str(e.value)


def test_a_character_past_u_ffff_escaped_as_java_writes_it_is_one_character(tmp_path):
    # Properties.store writes U+1F600 as two escapes; each became a lone surrogate, and the
    # Consumer then failed with a SystemError (exit 70)
    path = write_props(tmp_path / "c.properties", "bootstrap.servers=b:9092\nclient.id=a\\uD83D\\uDE00b\n")
    assert load_properties(path)["client.id"] == "a\U0001F600b"


def test_half_of_a_character_escaped_is_refused_without_echoing_the_value(tmp_path):
    path = write_props(tmp_path / "c.properties", f"bootstrap.servers=b:9092\nsasl.password={PASSWORD}\\uD83D\n")
    with pytest.raises(InputError, match=r"c.properties:2: a \\u escape that is half of a character") as e:
        load_properties(path)
    assert PASSWORD not in str(e.value)


@pytest.mark.parametrize("value", ["\\u0000", "\0", f"{PASSWORD}\\u0000x"])
def test_a_nul_in_a_value_is_refused_without_echoing_it(tmp_path, value):
    # was: librdkafka read group.id=\u0000 as empty, and an assertion aborted Python (exit 134)
    path = write_props(tmp_path / "c.properties", f"bootstrap.servers=b:9092\ngroup.id={value}\n")
    with pytest.raises(InputError, match=r"c.properties:2: a NUL character in the value$") as e:
        load_properties(path)
    assert PASSWORD not in str(e.value)


def test_a_byte_order_mark_before_the_first_setting_is_skipped(tmp_path):
    # was "c.properties:1: expected 'key=value'", of a line that looks right (Windows editors)
    path = write_props(tmp_path / "c.properties", "\ufeffbootstrap.servers=b:9092\n")
    assert load_properties(path)["bootstrap.servers"] == "b:9092"


def test_properties_are_read_as_java_reads_them(tmp_path):
    # were: a comment cut in two at a U+2028 (str.splitlines), its second half "expected
    # 'key=value'"; a backslash at the file's end kept in the secret; "key value" refused
    body = ("# Schl\u00fcssel \u2028 copied from a wiki\nbootstrap.servers=b:9092\nclient.id ccaudit-test\n"
            "sasl.password=abc\\")
    props = load_properties(write_props(tmp_path / "c.properties", body))
    assert props == {"bootstrap.servers": "b:9092", "client.id": "ccaudit-test", "sasl.password": "abc"}


def test_a_trailing_space_kept_by_a_backslash_stays_in_the_value(tmp_path):
    # was: "pa ss\\ " read as "pa ss" (the escaped space stripped with the unescaped ones)
    body = "bootstrap.servers=b:9092  \nsasl.password=pa ss\\ \t \nsasl.username=key\\\\ \n"
    props = load_properties(write_props(tmp_path / "c.properties", body))
    assert props == {"bootstrap.servers": "b:9092", "sasl.password": "pa ss ", "sasl.username": "key\\"}


@pytest.mark.parametrize("value, message", [
    ("{{ API_SECRET }}", "CCAUDIT_API_SECRET still holds a {{ placeholder }} from the template"),
    (os.fsdecode(b"\xffsecret"), "CCAUDIT_API_SECRET is not UTF-8 text"),
])
def test_a_credential_from_the_environment_is_refused_by_its_name(tmp_path, monkeypatch, value, message):
    # were: "c.properties: sasl.password still holds a {{ placeholder }}", and "bad Kafka
    # setting: ... sasl.username and sasl.password must be set" (both were)
    monkeypatch.setenv("CCAUDIT_API_SECRET", value)
    with pytest.raises(InputError) as e:
        load_properties(write_props(tmp_path / "c.properties", "bootstrap.servers=b:9092\n"))
    assert str(e.value) == message


def test_missing_properties_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_properties(tmp_path / "nope.properties")


# --- the loop, on a fake consumer ---------------------------------------------------------

class FakeSource:
    """The eight calls download() makes, over in-memory partitions {p: (low, [values])}."""

    def __init__(self, partitions, fail_on_consume=None, timestamp_ms=1714989600000):
        self.partitions = partitions
        self.fail_on_consume = fail_on_consume
        self.timestamp_ms = timestamp_ms
        self.position = {}
        self.closed = False

    def list_topics(self, timeout):
        return sorted(self.partitions)

    def check_topic(self, timeout):
        pass

    def get_watermark_offsets(self, p, timeout):
        low, values = self.partitions[p]
        return low, low + len(values)

    def assign(self, offsets):
        self.position = {p: self.partitions[p][0] if o == EARLIEST else o for p, o in offsets.items()}

    def restart(self, p):
        self.position[p] = self.partitions[p][0]

    def consume(self, num, timeout):
        if self.fail_on_consume:
            raise self.fail_on_consume
        out = []
        for p, pos in self.position.items():
            low, values = self.partitions[p]
            if pos < low:  # as auto.offset.reset=error answers an offset retention deleted
                out.append(Message(p, pos, gone=True))
                continue
            for offset in range(pos, low + len(values)):
                out.append(Message(p, offset, values[offset - low], self.timestamp_ms))
            out.append(Message(p, low + len(values), eof=True))
            self.position[p] = low + len(values)
        if not out:
            time.sleep(timeout)
        return out

    def unreachable(self):
        return ""

    def close(self):
        self.closed = True


@pytest.fixture
def props(tmp_path):
    return write_props(tmp_path / "client.properties", "bootstrap.servers=fake:9092\n")


def use_fake(monkeypatch, source):
    monkeypatch.setattr(dl, "_connect", lambda *connection: source)
    return source


def save_state(path, offsets, topic=dl.DEFAULT_TOPIC, bootstrap="fake:9092"):
    dlf.save_state(path, topic, bootstrap, offsets, "2024-05-06T10:00:00Z")
    return path.read_bytes()


def test_retention_gap_is_a_warning_and_resumes_from_earliest(tmp_path, props, monkeypatch):
    state = tmp_path / "state.json"
    save_state(state, {0: 2, 1: 0})
    use_fake(monkeypatch, FakeSource({0: (5, [audit_message(i) for i in range(5, 8)]),
                                      1: (0, [audit_message(i) for i in range(10, 13)])}))
    result = dl.download(props, tmp_path / "out.jsonl", state_path=state)
    assert (result.records, result.lost_to_retention) == (6, 3)
    assert "WARNING: 3 records were deleted by retention" in result.summary_line()
    assert json.loads(state.read_text())["offsets"] == {"0": 8, "1": 3}
    assert len((tmp_path / "out.jsonl").read_bytes().splitlines()) == 6


def test_record_lines_and_time_window(tmp_path, props, monkeypatch):
    pretty = json.dumps({"id": "p", "time": "2024-05-06T09:00:00.123456789Z", "data": {}}, indent=2).encode()
    values = [audit_message(0), pretty, b"not json\nsecond line", b"{broken json", None, b'{"id":"no-time"}']
    use_fake(monkeypatch, FakeSource({0: (0, values)}))
    result = dl.download(props, tmp_path / "out.jsonl")
    lines = (tmp_path / "out.jsonl").read_bytes().split(b"\n")
    assert lines == [audit_message(0), b'{"id":"p","time":"2024-05-06T09:00:00.123456789Z","data":{}}',
                     b'"not json\\nsecond line"', b'"{broken json"', b'{"id":"no-time"}', b""]
    assert result.records == 5
    # the earliest `time`, and the Kafka timestamp (10:00 UTC) for records without one
    assert dl._iso(result.first_time) == "2024-05-06T09:00:00.123Z"
    assert dl._iso(result.last_time) == "2024-05-06T10:00:00Z"
    assert "covering 2024-05-06T09:00:00.123Z to 2024-05-06T10:00:00Z" in result.summary_line()


def test_the_time_window_reads_the_time_of_a_record_held_in_a_json_string(tmp_path, props, monkeypatch):
    # was: the Kafka timestamp (10:00), as for a value of no record
    held = json.dumps(json.dumps({"id": "s", "time": "2024-05-06T08:00:00Z", "data": {}})).encode()
    use_fake(monkeypatch, FakeSource({0: (0, [held])}))
    result = dl.download(props, tmp_path / "out.jsonl")
    assert "covering 2024-05-06T08:00:00Z to 2024-05-06T08:00:00Z" in result.summary_line()


@pytest.mark.parametrize("held", [False, True])
def test_a_record_holding_an_integer_of_more_digits_than_python_reads_is_kept_as_it_came(tmp_path, props, monkeypatch,
                                                                                        held):
    # was written as a JSON string of its text, and its time read from Kafka's timestamp (10:00)
    big = b'{"id": "b", "time": "2024-05-06T08:00:00Z", "n": 1' + b"0" * 5000 + b', "data": {}}'
    value = json.dumps(big.decode()).encode() if held else big
    use_fake(monkeypatch, FakeSource({0: (0, [value, b"1" + b"0" * 5000])}))
    result = dl.download(props, tmp_path / "out.jsonl")
    assert (tmp_path / "out.jsonl").read_bytes().split(b"\n") == [value, b'"1' + b"0" * 5000 + b'"', b""]
    assert "covering 2024-05-06T08:00:00Z to 2024-05-06T10:00:00Z" in result.summary_line()  # (the number: Kafka's)


def test_a_record_after_a_byte_order_mark_is_kept(tmp_path, props, monkeypatch):
    # was made a JSON string (malformed) when values that are no record were: the load
    # reads a record after a byte-order mark, on any line
    # (and one of several lines, put on one, became a JSON string: the formatter refused the mark)
    pretty = json.dumps(json.loads(audit_message(3)), indent=2).encode()
    values = [b"\xef\xbb\xbf" + audit_message(i) for i in range(3)] + [b"\xef\xbb\xbf" + pretty]
    use_fake(monkeypatch, FakeSource({0: (0, values)}))
    dl.download(props, tmp_path / "out.jsonl")
    report = CliRunner().invoke(cli, ["report", str(tmp_path / "out.jsonl"), "--format", "json"])
    load = json.loads(report.stdout)["summary"]["load"]
    assert report.exit_code == 0 and (load["inserted"], load["malformed"]) == (4, 0)


@pytest.mark.parametrize("first", [b"[1,", b"[1, 2]", b"\x1f\x8b\x08\x00junk", b"BZh91AY&SY\x00", b"% Headers: []",
                                   '{"id": "x"}'.encode("utf-16"), '{"id": "x"}'.encode("utf-16-le"),
                                   b'\xef\xbb\xbf{"id": "x"}'])
def test_a_value_that_is_no_record_first_in_the_topic_leaves_the_rest_readable(tmp_path, props, monkeypatch, first):
    # was written as it came: "[1," first made the file a JSON array (4 of 5 records lost, exit 0),
    # magic bytes a compressed stream and UTF-16 text refused it whole, "%" was the consume
    # command's noise (not counted as malformed)
    use_fake(monkeypatch, FakeSource({0: (0, [first, *(audit_message(i) for i in range(5))])}))
    dl.download(props, tmp_path / "out.jsonl")
    report = CliRunner().invoke(cli, ["report", str(tmp_path / "out.jsonl"), "--format", "json"])
    assert report.exit_code == 0, report.output
    load = json.loads(report.stdout)["summary"]["load"]
    assert (load["inserted"], load["malformed"]) == (5, 1)


def test_a_store_given_as_the_output_is_refused(tmp_path, props, monkeypatch, sample_cli):
    # was replaced by the records without a word, as `report -o` refuses to
    store = tmp_path / "audit.db"
    loaded = CliRunner().invoke(cli, ["load", str(sample_cli), "--db", str(store), "-q"])
    assert loaded.exit_code == 0, (loaded.output, loaded.exception)
    before = store.read_bytes()
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    with pytest.raises(InputError, match=r"is an SQLite file \(a store\?\), which the download would replace"):
        dl.download(props, store)
    assert store.read_bytes() == before


@pytest.mark.parametrize("topic, shown", [("\udcff", "\\xff"), ("a\nb", "a\\x0ab"), ("a b", "a b"), ("", ""),
                                          ("x" * 250, "x" * 250), ("../x", "../x"), (".", "."), ("..", "..")])
def test_a_topic_name_kafka_does_not_take_is_refused(tmp_path, props, topic, shown):
    # was, for a name of bytes that are not UTF-8, "standard output's encoding (utf-8) cannot
    # write '\udcff'": the client's own error, taken for the output's; then the name's escapes
    # shown escaped again ('a\\x0ab\\xff' for a, a line end, b and the byte 0xff)
    with pytest.raises(InputError) as refused:
        dl.download(props, tmp_path / "out.jsonl", topic=topic)
    assert str(refused.value).startswith(f"--topic '{shown}': not a Kafka topic's name"), str(refused.value)
    assert not (tmp_path / "out.jsonl").exists()


def test_failure_mid_run_leaves_no_file_and_keeps_state(tmp_path, props, monkeypatch):
    state = tmp_path / "state.json"
    before = save_state(state, {0: 0})
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])},
                                     fail_on_consume=CcauditError("authentication failed: bad key")))
    with pytest.raises(CcauditError, match="authentication failed"):
        dl.download(props, tmp_path / "out.jsonl", state_path=state)
    assert not (tmp_path / "out.jsonl").exists() and leftovers(tmp_path) == []
    assert state.read_bytes() == before


def test_timeout_leaves_no_file(tmp_path, props, monkeypatch):
    source = use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    source.consume = lambda num, timeout: time.sleep(timeout) or []
    started = time.monotonic()
    with pytest.raises(CcauditError, match="timed out after 0.5s"):
        dl.download(props, tmp_path / "out.jsonl", timeout=0.5)
    assert time.monotonic() - started < 2
    assert not (tmp_path / "out.jsonl").exists() and leftovers(tmp_path) == []
    assert source.closed


@pytest.mark.parametrize("full", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG])  # was: EDQUOT and EFBIG "cannot write"
def test_disk_full_leaves_no_file(tmp_path, props, monkeypatch, full):
    class FullDisk:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise OSError(full, os.strerror(full))

        def __getattr__(self, name):
            return getattr(self.f, name)

    real_replacing = dlf.replacing

    @contextlib.contextmanager
    def on_a_full_disk(path, **kw):
        with real_replacing(path, **kw) as f:
            yield FullDisk(f)

    monkeypatch.setattr(dlf, "replacing", on_a_full_disk)
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    with pytest.raises(CcauditError, match="disk full while writing"):
        dl.download(props, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("topic, bootstrap, offsets, message", [
    ("other-topic", "fake:9092", {0: 0}, "state of topic other-topic"),
    (dl.DEFAULT_TOPIC, "other:9092", {0: 0}, "another cluster"),
    (dl.DEFAULT_TOPIC, "FAKE:9092", {0: 9}, "topic recreated"),
    # was: partition 7 dropped from the state without a word
    (dl.DEFAULT_TOPIC, "fake:9092", {0: 0, 7: 3}, "has partition 7, which the topic does not: was the topic recreated"),
])
def test_state_of_another_topic_cluster_or_past_the_end_is_refused(tmp_path, props, monkeypatch,
                                                                   topic, bootstrap, offsets, message):
    state = tmp_path / "state.json"
    before = save_state(state, offsets, topic=topic, bootstrap=bootstrap)
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    with pytest.raises(CcauditError, match=message):
        dl.download(props, tmp_path / "out.jsonl", state_path=state)
    assert state.read_bytes() == before and not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("field, value, message", [
    ("format", "ccaudit-download-state/2", "written by a newer ccaudit (ccaudit-download-state/2)"),
    ("format", "ccaudit-download-state/0", "not a ccaudit download state file"),
    ("format", "ccaudit-download-state/\u00b2", "not a ccaudit download state file"),  # was an internal error
    ("format", "ccaudit-download-state/" + "9" * 5000, "not a ccaudit download state file"),
    ("topic", "evil\n\x1b[2Jtopic", "is the state of topic evil\\x0a\\x1b[2Jtopic, not"),  # one line, inert
    ("topic", None, "state.json: no topic, which a ccaudit download state file has"),  # was "of topic None"
    ("topic", "null", "state.json: no topic, which a ccaudit download state file has"),
])
def test_a_state_file_of_a_newer_version_or_an_odd_topic_is_said_so(tmp_path, props, monkeypatch, field, value,
                                                                     message):
    # was: a newer version's "not a ccaudit download state file" (so a user might delete it and
    # fetch everything again), and the topic's text as it was, across lines
    state = tmp_path / "state.json"
    save_state(state, {0: 0})
    doc = json.loads(state.read_text())
    doc[field] = None if value == "null" else value
    if value is None:
        del doc[field]
    state.write_text(json.dumps(doc))
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    with pytest.raises(CcauditError) as e:
        dl.download(props, tmp_path / "out.jsonl", state_path=state)
    assert message in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_a_state_file_that_is_a_link_is_written_through(tmp_path, props, monkeypatch):
    # was: read through the link, then the link replaced by a file, so the state file it
    # named stayed behind and its next run fetched the records again
    (tmp_path / "var").mkdir()
    real, link = tmp_path / "var" / "audit.state", tmp_path / "st.json"
    save_state(real, {0: 1})
    link.symlink_to("var/audit.state")
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(i) for i in range(3)])}))
    assert dl.download(props, tmp_path / "out.jsonl", state_path=link).records == 2
    assert link.is_symlink() and json.loads(real.read_text())["offsets"] == {"0": 3}


@pytest.mark.parametrize("target, message", [
    # was: every record fetched again as if there were no state, the folder made, the link replaced
    ("nowhere/audit.state", "nowhere"),
    # was "not a readable ccaudit download state file", of a loop of links
    ("st.json", "cannot read the state file: Too many levels of symbolic links"),
])
def test_a_state_file_that_is_a_link_to_nothing_is_refused_saying_why(tmp_path, props, monkeypatch, target, message):
    link = tmp_path / "st.json"
    link.symlink_to(target)
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    with pytest.raises(CcauditError, match=message):
        dl.download(props, tmp_path / "out.jsonl", state_path=link)
    assert link.is_symlink() and not (tmp_path / "nowhere").exists() and not (tmp_path / "out.jsonl").exists()


def test_an_output_name_too_long_is_refused_before_connecting(tmp_path, props, monkeypatch):
    # was: the whole download, then "cannot write ...: File name too long; nothing written"
    source = use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    with pytest.raises(CcauditError, match="cannot create the output: its name is over the 255 bytes"):
        dl.download(props, tmp_path / ("a" * 300 + ".jsonl"))
    assert source.position == {}


def test_the_outputs_name_is_synced_before_the_state_is_saved(tmp_path, props, monkeypatch):
    # was: the output's data synced and renamed, but not its folder: a crash could keep the
    # state, saved next, and lose the output's name
    synced = []
    fsync = os.fsync

    def noting(fd):
        synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else os.readlink(f"/proc/self/fd/{fd}"))
        return fsync(fd)

    monkeypatch.setattr(os, "fsync", noting)
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    dl.download(props, tmp_path / "out.jsonl", state_path=tmp_path / "state.json")
    assert [s if s == "folder" else "file" for s in synced] == ["file", "folder", "file", "folder"]


def test_ctrl_c_exits_130_and_keeps_nothing(tmp_path, props, monkeypatch):
    state = tmp_path / "state.json"
    before = save_state(state, {0: 0})
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}, fail_on_consume=KeyboardInterrupt()))
    result = CliRunner().invoke(cli, ["download", "--config", str(props), "--out", str(tmp_path / "o.jsonl"),
                                      "--state", str(state)])
    assert result.exit_code == 130, result.output
    assert not (tmp_path / "o.jsonl").exists() and leftovers(tmp_path) == []
    assert state.read_bytes() == before


@pytest.mark.parametrize("gzipped", [False, True])
def test_ctrl_c_of_a_run_to_a_stream_says_what_it_already_had(tmp_path, props, monkeypatch, gzipped):
    # was "ccaudit: interrupted" alone, where a failure says it; and of gzip'd records, all of
    # them, where the records gzip had not compressed yet never came
    source = FakeSource({0: (0, [audit_message(i) for i in range(3)])})
    consume = source.consume

    def records_then_ctrl_c(num, timeout):  # two of the three, then Ctrl-C
        records = [m for m in consume(num, timeout) if not m.eof][:2]
        source.fail_on_consume = KeyboardInterrupt()
        return records

    source.consume = records_then_ctrl_c
    use_fake(monkeypatch, source)
    result = CliRunner().invoke(cli, ["download", "--config", str(props), "--out", "-", "--state",
                                      str(tmp_path / "s.json"), *(["--gzip"] if gzipped else [])])
    assert (result.exit_code, result.stderr) == (130, "ccaudit: interrupted; at most 2 records written to standard "
                                                      "output, state file unchanged\n")  # (its buffer is dropped)
    if not gzipped:
        assert result.stdout_bytes == b"".join(audit_message(i) + b"\n" for i in range(2))
    else:  # what gzip had compressed of them, or none
        assert len(zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(result.stdout_bytes).splitlines()) <= 2


@pytest.mark.parametrize("offsets, message", [
    ('{"0": 1e400}', "not whole numbers"),  # was: OverflowError, an internal error
    ('{"0": true}', "not whole numbers"),  # was: offset 1
    ('{"0": 4999.9}', "not whole numbers"),  # was: offset 4999
    ('{"0": "12"}', "not whole numbers"),
    ('{" 1": 3}', "not whole numbers"),  # int() takes it
    ('{"1_0": 3}', "not whole numbers"),
    ('{"0": 9223372036854775808}', "out of range"),
    ('{"0": -1}', "out of range"),
    ('[1, 2]', "not whole numbers"),
    ('{"0": 5, "00": 3}', "a partition is listed twice"),  # the last one won
    ('{"0": 5, "0": 3}', "'0' is listed twice in it"),  # the last one won
])
def test_a_state_file_offset_that_is_not_a_whole_number_is_refused(tmp_path, props, monkeypatch, offsets,
                                                                   message):
    state = tmp_path / "state.json"
    body = json.loads(save_state(state, {0: 0}))
    state.write_text(json.dumps(body).replace('{"0": 0}', offsets))
    source = use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    with pytest.raises(InputError, match=message):
        dl.download(props, tmp_path / "out.jsonl", state_path=state)
    assert source.position == {} and not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("servers", ["null", "9092", "[\"fake:9092\"]"])
def test_a_state_file_whose_servers_are_not_text_is_refused(tmp_path, props, monkeypatch, servers):
    # was exit 70: AttributeError: 'NoneType' object has no attribute 'split'
    state = tmp_path / "state.json"
    state.write_text(save_state(state, {0: 0}).decode().replace('"fake:9092"', servers))
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    with pytest.raises(InputError, match="its bootstrap.servers is not text"):
        dl.download(props, tmp_path / "out.jsonl", state_path=state)


def test_a_state_file_without_servers_is_refused_saying_so(tmp_path, props, monkeypatch):
    # was "the state of another cluster (***)"
    state = tmp_path / "state.json"
    state.write_text(save_state(state, {0: 0}).decode().replace('"bootstrap.servers"', '"servers"'))
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    with pytest.raises(InputError, match="no bootstrap.servers, which a ccaudit download state file has"):
        dl.download(props, tmp_path / "out.jsonl", state_path=state)


def test_an_empty_state_name_is_refused(tmp_path, props):
    # `--state "$STATE"` with STATE unset: was exit 0, no state read or saved, the whole topic each run
    r = CliRunner().invoke(cli, ["download", "--config", str(props), "--out", str(tmp_path / "o"), "--state", ""])
    assert r.exit_code == 2 and "'--state': needs a name (it is empty)" in r.stderr


def test_an_empty_out_name_is_refused_before_anything_is_fetched(props, monkeypatch):
    # was: the whole topic fetched, then "cannot write : No such file or directory"
    fetched = []
    monkeypatch.setattr(dl, "download", lambda *a, **k: fetched.append(a))
    r = CliRunner().invoke(cli, ["download", "--config", str(props), "--out", ""])
    assert r.exit_code == 2 and "'--out': needs a name (it is empty)" in r.stderr and not fetched


@contextlib.contextmanager
def _piped(data: bytes):
    """A pipe's name, as ``<(...)`` gives one (/proc/self/fd/N), with ``data`` written into it."""
    import threading

    read, write = os.pipe()

    def fill():
        with contextlib.suppress(BrokenPipeError), open(write, "wb") as f:
            f.write(data)

    writer = threading.Thread(target=fill, daemon=True)
    writer.start()
    try:
        yield f"/proc/self/fd/{read}"
    finally:
        os.close(read)  # a writer still writing gets a broken pipe
        writer.join(timeout=10)


def test_properties_from_a_pipe_nobody_writes_are_refused_at_once(tmp_path):
    # was: open() waited for a writer for ever, --timeout or not (a cron job hung)
    fifo = tmp_path / "client.properties"
    os.mkfifo(fifo, 0o600)
    code = f"from ccaudit.kafka_config import load_properties; load_properties({str(fifo)!r})"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "missing bootstrap.servers" in r.stderr


def test_properties_from_a_pipe_are_read(tmp_path):
    # `--config <(pass show kafka)` keeps the secret off the disk: was "not a regular file"
    with _piped(b"bootstrap.servers=fake:9092\nsasl.username=KEY\n") as name:
        assert load_properties(name)["bootstrap.servers"] == "fake:9092"
    with _piped(b"#" * (1 << 21)) as name, pytest.raises(InputError, match="too large to be a client.properties"):
        load_properties(name)
    with pytest.raises(InputError, match="/dev/zero: not a regular file or a pipe"):
        load_properties("/dev/zero")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_state_file_that_is_a_pipe_or_too_large_is_refused(tmp_path, props, monkeypatch):
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    fifo, large = tmp_path / "fifo", tmp_path / "large.json"
    os.mkfifo(fifo)  # was: waited forever for a writer
    with pytest.raises(InputError, match="not a regular file"):
        dl.download(props, tmp_path / "out.jsonl", state_path=fifo)
    large.write_text(" " * dlf.MAX_STATE + "{}")
    with pytest.raises(InputError, match="larger than 16,777,216 bytes"):
        dl.download(props, tmp_path / "out.jsonl", state_path=large)


def test_the_state_of_a_topic_of_twenty_thousand_partitions_is_read_back(tmp_path):
    # was: its 2.1 MB passed the 1 MiB a state file could be, so the next run refused the state it had saved
    state = tmp_path / "state.json"
    offsets = {p: 10**12 + p for p in range(20_000)}
    seen = {p: dlf.fingerprint(o - 1, 1_722_000_000_000, b"record %d" % p) for p, o in offsets.items()}
    dlf.save_state(state, "confluent-audit-log-events", "b:9092", offsets, "2024-08-16T00:00:00Z", seen)
    assert state.stat().st_size > 2 << 20
    assert dlf.load_state(state, "confluent-audit-log-events", "b:9092") == (offsets, seen)


def test_a_state_file_nested_too_deep_is_refused(tmp_path, props, monkeypatch):
    # was: RecursionError, an internal error (exit 70)
    source = use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    state = tmp_path / "state.json"
    state.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(InputError, match="not a readable ccaudit download state file"):
        dl.download(props, tmp_path / "out.jsonl", state_path=state)
    assert source.position == {} and not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("text", ["", "\n"])
def test_an_empty_state_file_says_how_to_start_from_the_beginning(tmp_path, props, monkeypatch, text):
    # was "not a readable ccaudit download state file" of a `touch`ed file: nothing said what to do
    source = use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    state = tmp_path / "state.json"
    state.write_text(text)
    with pytest.raises(InputError, match=r"an empty file, not a ccaudit download state file \(remove it, and the "
                                         "next run fetches everything still on the topic\\)"):
        dl.download(props, tmp_path / "out.jsonl", state_path=state)
    assert source.position == {} and not (tmp_path / "out.jsonl").exists() and state.read_text() == text


def test_a_state_file_that_cannot_be_written_is_found_before_the_download(tmp_path, props, monkeypatch):
    # was: the whole topic downloaded first, then "cannot write"
    source = use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    with pytest.raises(CcauditError, match="cannot create the state file: no folder"):
        dl.download(props, tmp_path / "out.jsonl", state_path=tmp_path / "missing" / "state.json")
    assert source.position == {} and not (tmp_path / "out.jsonl").exists()


def test_an_output_in_a_missing_folder_is_found_before_the_download(tmp_path, props, monkeypatch):
    # was: found only once the Kafka client had connected and read
    source = use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    with pytest.raises(CcauditError, match="cannot create the output: no folder"):
        dl.download(props, tmp_path / "missing" / "out.jsonl")
    assert source.position == {}


@pytest.mark.parametrize("program", [True, False], ids=["ccaudit", "a caller's"])
def test_a_ctrl_c_as_the_output_is_put_in_place_waits_for_the_state(tmp_path, props, monkeypatch, program):
    # was: the whole output kept, the old state, exit 130: the next run fetched every record again.
    # Held off, it came once the run was done (the state saved too, exit 143): in the ccaudit
    # program it now stops nothing; a caller's program gets it once the state is saved
    import threading

    monkeypatch.setattr(Program, "ends_with_command", program)
    state, out = tmp_path / "state.json", tmp_path / "out.jsonl"
    real_replacing = dlf.replacing

    @contextlib.contextmanager
    def stopped_as_it_ends(path, **kw):
        with real_replacing(path, **kw) as f:
            yield f
        if str(path) == str(out):
            # Ctrl-C, as the output appears: to the main thread, as in a download, whose only other
            # threads (librdkafka's) block signals; here other tests may have left threads that do not
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    monkeypatch.setattr(dlf, "replacing", stopped_as_it_ends)
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    with contextlib.nullcontext() if program else pytest.raises(KeyboardInterrupt):
        assert dl.download(props, out, state_path=state).records == 1  # then it came with nothing left to stop
    assert out.read_bytes() == audit_message(1) + b"\n"
    assert json.loads(state.read_text())["offsets"] == {"0": 1}  # the next run goes on after it


def test_runs_that_chain_on_one_state_file_take_turns(tmp_path, props, monkeypatch, capfd):
    # two at once (cron runs that overlap) each read the state before the other saved it, and
    # each wrote every record after it: the chain held them twice
    import fcntl
    import threading

    state = tmp_path / "state" / "state.json"
    state.parent.mkdir()
    save_state(state, {0: 0})
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    monkeypatch.setattr(Program, "ends_with_command", True)  # the ccaudit program, which tells its wait
    held = os.open(state.parent, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)  # as another run chaining on it holds it
    run = threading.Thread(target=dl.download, args=(props, tmp_path / "2.jsonl"), kwargs={"state_path": state})
    run.start()
    run.join(1.0)
    assert run.is_alive() and not (tmp_path / "2.jsonl").exists()
    assert "another ccaudit is writing into it; waiting for it to end" in capfd.readouterr().err
    save_state(state, {0: 1})  # what the other run saved
    os.close(held)
    run.join(10)
    assert not run.is_alive() and (tmp_path / "2.jsonl").read_bytes() == b""  # it went on after the other's


@pytest.mark.parametrize("stream", [True, False])
def test_stops_are_held_off_as_a_file_is_put_in_place_not_while_a_stream_is_flushed(tmp_path, props, monkeypatch,
                                                                                     stream):
    # a stream's last writes (gzip's trailer, the flush) to a reader that stalls made the run
    # deaf to Ctrl-C and SIGTERM for as long as it stalled
    import io
    import signal

    masks = []

    @contextlib.contextmanager
    def ending(path, compress, until):
        yield io.BytesIO()
        masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, set()))  # as it is closed, or put in place

    monkeypatch.setattr(dl, "output", ending)
    monkeypatch.setattr(dl, "is_stream", lambda path: stream)
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    dl.download(props, tmp_path / "out.jsonl", state_path=tmp_path / "state.json")
    assert (signal.SIGINT in masks[0]) is not stream and signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK,
                                                                                                       set())


def test_the_wait_for_another_run_on_the_state_is_within_the_timeout(tmp_path, props, monkeypatch):
    # was: waited as long as the other run took, then "timed out ... before reaching the end of the topic"
    import fcntl

    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    held = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)  # another run chaining on the state, for longer than --timeout
    started = time.monotonic()
    try:
        with pytest.raises(CcauditError) as caught:
            dl.download(props, tmp_path / "out.jsonl", state_path=tmp_path / "state.json", timeout=1)
    finally:
        os.close(held)
    assert str(caught.value) == f"timed out after 1s (--timeout) waiting for another ccaudit writing into {tmp_path}"
    assert time.monotonic() - started < 3 and not (tmp_path / "out.jsonl").exists()


def test_a_state_in_a_folder_behind_a_link_is_used(tmp_path, props, monkeypatch):
    # was refused ("is a symbolic link; give the real folder") by the lock that makes runs take turns
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    assert dl.download(props, tmp_path / "out.jsonl", state_path=tmp_path / "link" / "state.json").records == 1
    assert json.loads((tmp_path / "real" / "state.json").read_text())["offsets"] == {"0": 1}


def test_an_output_and_a_state_of_long_names_are_written(tmp_path, props, monkeypatch):
    # were refused after the whole download: their temporary names, ".NAME.ccaudit-RANDOM.part",
    # were past the 255 bytes a name may have ("the state was not saved (... File name too long)")
    out, state = tmp_path / ("o" * 240), tmp_path / ("s" * 240)
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    assert dl.download(props, out, state_path=state).records == 1
    assert out.read_bytes() == audit_message(1) + b"\n" and json.loads(state.read_text())["offsets"] == {"0": 1}


def test_a_state_that_cannot_be_saved_leaves_the_complete_output_and_says_so(tmp_path, props, monkeypatch):
    # was: "disk full while writing state.json; nothing written; the output is complete, ..."
    state, out = tmp_path / "state.json", tmp_path / "out.jsonl"
    before = save_state(state, {0: 0})
    real_replacing = dlf.replacing

    def full_for_the_state(path, **kw):
        if str(path) == str(state):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replacing(path, **kw)

    monkeypatch.setattr(dlf, "replacing", full_for_the_state)
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    with pytest.raises(CcauditError) as caught:
        dl.download(props, out, state_path=state)
    assert str(caught.value) == (f"the download is complete in {out}, but the state was not saved (disk full while "
                                 f"writing {state}), so the next run will fetch its records again")
    assert out.read_bytes() == audit_message(1) + b"\n" and state.read_bytes() == before


def read_fifo(tmp_path, after: float = 0.0):
    """A FIFO, and a thread that reads it whole (from ``after`` seconds on): (the FIFO, the
    thread, [what it read])."""
    import threading

    fifo, got = tmp_path / "pipe", []
    os.mkfifo(fifo)
    reader = threading.Timer(after, lambda: got.append(fifo.read_bytes()))
    reader.daemon = True
    reader.start()
    return fifo, reader, got


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("compress", [False, True])
def test_a_pipe_at_out_is_written_to_not_replaced(tmp_path, props, monkeypatch, compress):
    # `--out` a FIFO (or /dev/stdout): the records go to its reader; it was replaced by a
    # regular file, and its reader waited for ever
    (fifo, reader, got), state = read_fifo(tmp_path), tmp_path / "state.json"
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(i) for i in range(3)])}))
    result = dl.download(props, fifo, state_path=state, compress=compress)
    reader.join(timeout=10)
    data = gzip.decompress(got[0]) if compress else got[0]
    assert data == b"".join(audit_message(i) + b"\n" for i in range(3)) and result.records == 3
    assert fifo.is_fifo() and json.loads(state.read_text())["offsets"] == {"0": 3}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_gzip_stream_of_a_run_that_fails_is_left_cut_short(tmp_path, props, monkeypatch):
    # was ended (gzip's trailer written) on the way out: what the reader had got passed for
    # the whole stream, and `ccaudit load -` took a failed run's records for all of them
    fifo, reader, got = read_fifo(tmp_path)
    source = FakeSource({0: (0, [audit_message(i) for i in range(3)])})
    consume = source.consume

    def records_then_failure(num, timeout):
        source.fail_on_consume = CcauditError("the cluster went away")
        return [m for m in consume(num, timeout) if not m.eof]

    source.consume = records_then_failure
    use_fake(monkeypatch, source)
    with pytest.raises(CcauditError, match="the cluster went away"):
        dl.download(props, fifo, compress=True)
    reader.join(timeout=10)
    with pytest.raises(EOFError):
        gzip.decompress(got[0])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_pipe_at_out_that_nobody_reads_times_out(tmp_path, props, monkeypatch):
    # was: open() waited for a reader for ever, --timeout or not
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    started = time.monotonic()
    with pytest.raises(CcauditError) as caught:
        dl.download(props, fifo, timeout=0.5)
    assert time.monotonic() - started < 3
    assert str(caught.value) == f"timed out (--timeout) waiting for a reader of {fifo}; nothing written"
    state = tmp_path / "state.json"  # the state file is spoken of only when there is one
    with pytest.raises(CcauditError, match="; nothing written, state file unchanged$"):
        dl.download(props, fifo, state_path=state, timeout=0.5)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_pipe_at_out_whose_reader_stops_reading_times_out(tmp_path, props, monkeypatch):
    # was: the write waited for the reader for ever (a `| ccaudit load -` hung in a cron job), --timeout or not
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    held = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader that never reads
    try:
        use_fake(monkeypatch, FakeSource({0: (0, [audit_message(i) for i in range(5_000)])}))
        started = time.monotonic()
        with pytest.raises(CcauditError) as caught:
            dl.download(props, fifo, timeout=2)
        assert time.monotonic() - started < 5
    finally:
        os.close(held)
    assert re.fullmatch(f"timed out \\(--timeout\\) while {re.escape(str(fifo))} took no more; at most [0-9,]+ "
                        f"records written to {re.escape(str(fifo))}", str(caught.value)), str(caught.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("timeout", [10, 1e10])  # 1e10: select() took no such wait ("OverflowError", exit 70)
def test_a_pipe_at_out_whose_reader_comes_late_gets_every_record(tmp_path, props, monkeypatch, timeout):
    fifo, reader, got = read_fifo(tmp_path, after=0.3)
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(i) for i in range(3)])}))
    assert dl.download(props, fifo, timeout=timeout).records == 3
    reader.join(timeout=10)
    assert got == [b"".join(audit_message(i) + b"\n" for i in range(3))]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_run_that_fails_after_writing_to_a_pipe_says_how_many_records_it_had(tmp_path, props, monkeypatch):
    # was "...; nothing written, state file unchanged", of records a `| ccaudit load -` had loaded
    fifo, reader, got = read_fifo(tmp_path)
    source = use_fake(monkeypatch, FakeSource({0: (0, [audit_message(i) for i in range(3)])}))
    first = [Message(0, i, audit_message(i), source.timestamp_ms) for i in range(2)]
    source.consume = lambda num, timeout: (first.copy(), first.clear())[0] or time.sleep(timeout) or []
    with pytest.raises(CcauditError) as caught:
        dl.download(props, fifo, timeout=0.5)
    reader.join(timeout=10)
    assert str(caught.value) == ("timed out after 0.5s (--timeout) before reaching the end of the topic; "
                                 f"2 records already written to {fifo}")  # no --state: no state file to speak of
    assert got == [audit_message(0) + b"\n" + audit_message(1) + b"\n"]


def test_a_reader_of_out_that_goes_away_is_a_broken_pipe_and_the_state_stays(tmp_path, props, monkeypatch):
    # `--out /dev/stdout | head`: the boundary makes it exit 141, as for standard output (was: exit 2)
    state = tmp_path / "state.json"
    before = save_state(state, {0: 0})
    read, write = os.pipe()
    os.close(read)
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(i) for i in range(3)])}))
    try:
        with pytest.raises(BrokenPipeError):
            dl.download(props, f"/proc/self/fd/{write}", state_path=state)
    finally:
        os.close(write)
    assert state.read_bytes() == before


@pytest.mark.parametrize("compress", [False, True])
def test_a_stream_that_cannot_be_written_says_what_it_may_have_had_and_the_state_is_unchanged(
        tmp_path, props, monkeypatch, compress):
    # was: "disk full while writing /dev/full", not saying what became of the records or the
    # state; the records were all written to its buffer, which the write failed to empty
    state = tmp_path / "state.json"
    before = save_state(state, {0: 0})
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(i) for i in range(3)])}))
    with pytest.raises(CcauditError) as caught:
        dl.download(props, "/dev/full", state_path=state, compress=compress)
    assert str(caught.value) == ("disk full while writing /dev/full; at most 3 records written to /dev/full, "
                                 "state file unchanged")
    assert state.read_bytes() == before


def test_dev_stdout_sent_to_a_log_with_state_appends(tmp_path, props, monkeypatch):
    # `--out /dev/stdout --state s >> log`: was refused, the log taken for an earlier output
    log, state = tmp_path / "log.jsonl", tmp_path / "state.json"
    log.write_bytes(b"earlier\n")
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    with open(log, "ab") as held:
        dl.download(props, f"/proc/self/fd/{held.fileno()}", state_path=state)
    assert log.read_bytes() == b"earlier\n" + audit_message(1) + b"\n"
    assert json.loads(state.read_text())["offsets"] == {"0": 1}


def test_the_summary_line_escapes_control_characters_in_the_file_name(tmp_path, props, monkeypatch):
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    out = tmp_path / "out\x1b]0;pwned\x07.jsonl"
    result = CliRunner().invoke(cli, ["download", "--config", str(props), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stderr and "\\x1b]0;pwned\\x07" in result.stderr


# --- without the extra --------------------------------------------------------------------


def test_missing_confluent_kafka_gives_the_install_hint(tmp_path, props, monkeypatch):
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)
    hint = r"pip install 'confluent-kafka>=2.3' \(in ccaudit's clone: pip install '\.\[download\]'\)"
    with pytest.raises(MissingExtra, match=hint):
        dl.download(props, tmp_path / "out.jsonl")
    result = CliRunner().invoke(cli, ["download", "--config", str(props), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "pip install 'confluent-kafka>=2.3'" in result.stderr
    assert "Traceback" not in result.output


def test_missing_confluent_kafka_is_said_before_a_properties_file_it_would_refuse(tmp_path, monkeypatch):
    # was "run chmod 600 ...", and the missing extra said only once that was done
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)
    props = tmp_path / "c.properties"
    props.write_text("bootstrap.servers=fake:9092\n")
    props.chmod(0o644)
    with pytest.raises(MissingExtra, match="ccaudit download needs confluent-kafka"):
        dl.download(props, tmp_path / "out.jsonl")


def test_module_imports_without_confluent_kafka_or_click():
    # A bare parent package: only the download modules' own imports count.
    code = ("import sys, types; sys.modules['confluent_kafka'] = None; sys.modules['click'] = None; "
            "pkg = types.ModuleType('ccaudit'); pkg.__path__ = ['ccaudit']; sys.modules['ccaudit'] = pkg; "
            "import ccaudit.download, ccaudit.kafka_source")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.path.dirname(__file__)))


# --- against the mock cluster ------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("confluent_kafka", reason="confluent-kafka cannot be installed here; "
                                                  "mock-cluster tests skipped")
    try:
        from kafka_mock import MockCluster
    except ImportError:  # tests/ collected as a package
        from tests.kafka_mock import MockCluster
    return MockCluster(brokers=3)


@pytest.fixture
def topic():
    return f"audit-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def mock_props(tmp_path, cluster):
    # sasl.password is ignored under PLAINTEXT, but lets us check it never leaks
    return write_props(tmp_path / "client.properties",
                       f"# mock cluster\nbootstrap.servers = {cluster.bootstrap}\n"
                       f"sasl.username=KEY\nsasl.password={PASSWORD}\n")


def lines_of(path) -> Counter:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        return Counter(f.read().splitlines())


def test_fetches_every_partition_exactly_once_and_report_reads_it(tmp_path, cluster, topic, mock_props):
    pretty = json.dumps(json.loads(audit_message(99, topic)), indent=2).encode()
    values = [audit_message(i, topic) for i in range(40)] + [pretty, b"not json"]
    cluster.produce(topic, values)
    out = tmp_path / "out.jsonl"
    result = dl.download(mock_props, out, state_path=tmp_path / "state.json", topic=topic, timeout=20)
    expected = Counter(values[:40] + [audit_message(99, topic), b'"not json"'])
    assert lines_of(out) == expected
    assert (result.records, result.partitions, result.lost_to_retention) == (42, 4, 0)
    assert dl._iso(result.first_time) == "2024-05-06T10:00:00Z"
    # "not json" has no `time`: its Kafka timestamp (now) counts instead
    assert abs(result.last_time.timestamp() - time.time()) < 60

    report = CliRunner().invoke(cli, ["report", str(out), "--format", "json"])
    assert report.exit_code == 0, report.output
    summary = json.loads(report.stdout)["summary"]
    assert summary["events"] == 41
    assert (summary["load"]["inserted"], summary["load"]["malformed"]) == (41, 1)


def test_out_to_standard_output_in_a_file_the_shell_writes_on_keeps_its_place(tmp_path, cluster, topic, mock_props,
                                                                                ccaudit_exe):
    # was: /dev/stdout opened again, and the shell's next line written over the first records
    cluster.produce(topic, [audit_message(i, topic) for i in range(3)])
    log = tmp_path / "log.txt"
    script = '{ echo header; "$0" download --config "$1" --topic "$2" --out /dev/stdout -q; echo footer; } > "$3"'
    subprocess.run(["bash", "-c", script, ccaudit_exe, mock_props, topic, log], check=True, timeout=60)
    lines = log.read_bytes().splitlines()
    assert lines[0] == b"header" and lines[-1] == b"footer"
    assert sorted(lines[1:-1]) == sorted(audit_message(i, topic) for i in range(3))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("saved", [True, False])
def test_a_stop_once_the_state_is_saved_leaves_the_run_complete(tmp_path, cluster, topic, mock_props, ccaudit_exe,
                                                                 signum, saved):
    # was exit 143 or 130 (or killed by it) once the summary was out: `download && load`
    # skipped the load of records the state had moved past; and without a state, still so
    cluster.produce(topic, [audit_message(i, topic) for i in range(5)])
    out, state = tmp_path / "out.jsonl", tmp_path / "state.json"
    proc = subprocess.Popen([ccaudit_exe, "download", "--config", str(mock_props), "--topic", topic, "--out", str(out),
                             *(["--state", str(state)] if saved else []), "--timeout", "60", "-q"],
                            stderr=subprocess.PIPE)
    try:
        said = proc.stderr.readline()  # the summary: the output is in place and the state saved
        proc.send_signal(signum)  # as the program ends
        said += proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
    assert (proc.returncode, said.decode()[:22], len(lines_of(out))) == (0, "ccaudit: wrote 5 recor", 5)
    assert not saved or sum(json.loads(state.read_text())["offsets"].values()) == 5


def test_records_after_the_snapshot_go_to_the_next_run(tmp_path, cluster, topic, mock_props):
    cluster.produce(topic, [audit_message(i, topic) for i in range(12)])
    late = [audit_message(i, topic + "-late") for i in range(8)]
    state = tmp_path / "state.json"

    def produce_late_once(snapshot):
        if late:
            cluster.produce(topic, late)  # after the end offsets were taken
            late.clear()

    first = dl.download(mock_props, tmp_path / "1.jsonl", state_path=state, topic=topic,
                        timeout=20, progress=produce_late_once)
    assert first.records == 12 and not late
    assert lines_of(tmp_path / "1.jsonl") == Counter(audit_message(i, topic) for i in range(12))

    second = dl.download(mock_props, tmp_path / "2.jsonl", state_path=state, topic=topic, timeout=20)
    assert lines_of(tmp_path / "2.jsonl") == Counter(audit_message(i, topic + "-late") for i in range(8))
    assert second.records == 8
    assert json.loads(state.read_text())["offsets"] == {"0": 5, "1": 5, "2": 5, "3": 5}

    third = dl.download(mock_props, tmp_path / "3.jsonl", state_path=state, topic=topic, timeout=20)
    assert third.records == 0 and (tmp_path / "3.jsonl").read_bytes() == b""
    assert "nothing new" in third.summary_line()


def test_a_record_larger_than_the_clients_limits_fails_the_run_saying_which_limit(tmp_path, cluster, topic):
    # was: librdkafka asked again for ever, and the run said only "timed out after 20s (--timeout)
    # before reaching the end of the topic"
    cluster.produce(topic, [audit_message(1, topic), audit_message(2, topic) + b" " * 600_000], partition=0)
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={cluster.bootstrap}\n"
                        "message.max.bytes=100000\nfetch.max.bytes=100000\nreceive.message.max.bytes=200000\n")
    started = time.monotonic()
    with pytest.raises(CcauditError) as caught:
        dl.download(props, tmp_path / "out.jsonl", state_path=tmp_path / "state.json", topic=topic, timeout=20)
    assert time.monotonic() - started < 15
    said = str(caught.value)
    assert said.startswith("Kafka error") and "increase receive.message.max.bytes" in said
    assert said.endswith("; nothing written, state file unchanged") and "\n" not in said
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "state.json").exists()


@pytest.mark.parametrize("line", ["kafka1.corp.example:9092,audit-kafka.example.com:9092",
                                  "pkc-abc12.eu-west-1.aws.confluent.cloud", "SASL_SSL://[::1]:9092, b.example:9093"])
def test_a_broker_list_is_kept_and_shown_as_it_is(tmp_path, monkeypatch, line):
    # a first masking of the broker line changed hosts that hold another setting's value
    # (client.id=audit: "***-kafka.example.com"), and masked a host without a port whole:
    # its state then matched any cluster's
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={line}\nclient.id=audit\n"
                        "sasl.kerberos.service.name=kafka\n")
    source = FakeSource({0: (0, [audit_message(1)])})
    seen = []
    monkeypatch.setattr(dl, "_connect", lambda conf, *rest: seen.append(conf["bootstrap.servers"]) or source)
    state = tmp_path / "state.json"
    dl.download(props, tmp_path / "out.jsonl", state_path=state)
    assert json.loads(state.read_text())["bootstrap.servers"] == line and seen == [line]
    other = write_props(tmp_path / "o.properties", "bootstrap.servers=other.example.com:9092\n")
    with pytest.raises(InputError, match=re.escape(f"is the state of another cluster ({line})")):
        dl.download(other, tmp_path / "out2.jsonl", state_path=state)


def test_the_module_list_topics_imports_is_imported_before_any_wait():
    # was: confluent_kafka.admin imported by list_topics as a broker first answered; a Ctrl-C
    # then became an ImportError: "internal error", exit 70
    pytest.importorskip("confluent_kafka")
    code = ("import sys; from ccaudit.kafka_source import _import_confluent_kafka; _import_confluent_kafka();"
            "print('confluent_kafka.admin' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout == "True\n"


def test_a_secret_on_the_broker_line_is_masked_in_messages_and_the_state(tmp_path, cluster, topic):
    # was: ccaudit's own lines ("cannot reach Kafka at ...", "topic ... not found at ...") and
    # the state file gave the broker line as it was, a secret pasted into it too
    cluster.produce(topic, [audit_message(i, topic) for i in range(4)])
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={cluster.bootstrap},{PASSWORD}\n")
    state = tmp_path / "state.json"
    assert dl.download(props, tmp_path / "1.jsonl", state_path=state, topic=topic, timeout=20).records == 4
    assert PASSWORD not in state.read_text() and json.loads(state.read_text())["offsets"]
    assert json.loads(state.read_text())["bootstrap.servers"].startswith("blake2b:")  # tells the cluster still
    assert dl.download(props, tmp_path / "2.jsonl", state_path=state, topic=topic, timeout=20).records == 0
    with pytest.raises(CcauditError) as caught:
        dl.download(props, tmp_path / "3.jsonl", topic=topic + "-none", timeout=20)
    assert "not found at" in str(caught.value) and PASSWORD not in str(caught.value)
    unreachable = write_props(tmp_path / "u.properties", f"bootstrap.servers=127.0.0.1:1,{PASSWORD}\n")
    with pytest.raises(CcauditError) as caught:
        dl.download(unreachable, tmp_path / "4.jsonl", topic=topic, timeout=2)
    assert "cannot reach Kafka at" in str(caught.value) and PASSWORD not in str(caught.value)


def test_retention_gap_on_the_wire(tmp_path, cluster, topic, mock_props):
    # The mock keeps about 5 MiB per partition, dropping the oldest records: retention in small.
    state = tmp_path / "state.json"
    cluster.produce(topic, [audit_message(i, topic) for i in range(3)], partition=0)
    assert dl.download(mock_props, tmp_path / "1.jsonl", state_path=state, topic=topic, timeout=20).records == 3
    cluster.produce(topic, [audit_message(i, topic) + b" " * 10_000 for i in range(700)], partition=0)
    result = dl.download(mock_props, tmp_path / "2.jsonl", state_path=state, topic=topic, timeout=20)
    assert result.lost_to_retention > 0
    assert result.records + result.lost_to_retention == 700  # every new record: fetched or reported lost
    assert f"WARNING: {result.lost_to_retention:,} records were deleted" in result.summary_line()
    assert json.loads(state.read_text())["offsets"]["0"] == 703


def test_refuses_to_replace_the_previous_runs_output(tmp_path, props, monkeypatch):
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    out, state = tmp_path / "out.jsonl", tmp_path / "state.json"
    dl.download(props, out, state_path=state)
    with pytest.raises(InputError, match=r"already exists .* new file, e.g. audit-\$\(date \+%FT%H%M%S\).jsonl$"):
        dl.download(props, out, state_path=state)
    assert out.read_bytes() == audit_message(1) + b"\n"
    gz = tmp_path / "out.jsonl.gz"  # was told to name it audit-$(date +%F).jsonl: today's, as it was
    dl.download(props, gz, state_path=tmp_path / "gz.state", compress=True)
    with pytest.raises(InputError, match=r"\(date \+%FT%H%M%S\).jsonl.gz$"):
        dl.download(props, gz, state_path=tmp_path / "gz.state", compress=True)
    upper = tmp_path / "OUT.JSONL.GZ"  # was told to name the next one .jsonl, which --gzip refuses
    dl.download(props, upper, state_path=tmp_path / "upper.state", compress=True)
    with pytest.raises(InputError, match=r"\(date \+%FT%H%M%S\).jsonl.gz$"):
        dl.download(props, upper, state_path=tmp_path / "upper.state", compress=True)
    assert dl.download(props, out).records == 1  # without --state every run is a full dump


def test_gzip_output_via_cli(tmp_path, cluster, topic, mock_props):
    cluster.produce(topic, [audit_message(i, topic) for i in range(6)])
    out = tmp_path / "out.jsonl.gz"
    result = CliRunner().invoke(cli, ["download", "--config", str(mock_props), "--out", str(out),
                                      "--topic", topic, "--gzip", "--timeout", "20"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "wrote 6 records" in result.stderr
    assert lines_of(out) == Counter(audit_message(i, topic) for i in range(6))
    report = CliRunner().invoke(cli, ["report", str(out), "--format", "json"])
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["summary"]["events"] == 6


def test_unknown_topic(tmp_path, cluster, mock_props):
    with pytest.raises(CcauditError, match="topic no-such-topic not found"):
        dl.download(mock_props, tmp_path / "out.jsonl", topic="no-such-topic", timeout=10)
    assert not (tmp_path / "out.jsonl").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("timeout", [2, 0.5])  # 0.5: was "within 0s"
def test_unreachable_broker_fails_within_the_timeout(tmp_path, timeout):
    pytest.importorskip("confluent_kafka", reason="confluent-kafka cannot be installed here")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers=127.0.0.1:{port}\n")
    started = time.monotonic()
    with pytest.raises(CcauditError, match=f"cannot reach Kafka at 127.0.0.1:{port} within {timeout:g}s"):
        dl.download(props, tmp_path / "out.jsonl", timeout=timeout)
    assert time.monotonic() - started < timeout + 2
    assert not (tmp_path / "out.jsonl").exists() and leftovers(tmp_path) == []


def test_a_server_that_is_not_kafka_is_said_to_be_so_at_once(tmp_path):
    # an HTTP server at bootstrap.servers: its "HTTP" read as a Kafka answer's size (1.2 GB)
    # was "Kafka error: ... increase receive.message.max.bytes", a record too large
    pytest.importorskip("confluent_kafka", reason="confluent-kafka cannot be installed here")
    import threading

    server, done = socket.create_server(("127.0.0.1", 0)), threading.Event()
    server.settimeout(0.1)

    def answer():  # until done: a thread left behind keeps later reports to one process (halves.py)
        while not done.is_set():
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                with conn:
                    conn.settimeout(1)
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    answering = threading.Thread(target=answer, daemon=True)
    answering.start()
    port = server.getsockname()[1]
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers=127.0.0.1:{port}\n")
    try:
        started = time.monotonic()
        with pytest.raises(CcauditError) as caught:
            dl.download(props, tmp_path / "out.jsonl", timeout=20)
    finally:
        done.set()
        answering.join(5)
        server.close()
    assert not answering.is_alive()
    assert time.monotonic() - started < 15
    assert str(caught.value).startswith(f"cannot reach Kafka at 127.0.0.1:{port}: the server there does not "
                                        "answer as Kafka does (")
    assert not (tmp_path / "out.jsonl").exists()


def test_authentication_failure_on_the_wire_is_fast(tmp_path, cluster):
    # The mock broker has no SASL, so the client's SASL handshake fails like a bad key would.
    props = write_props(tmp_path / "c.properties",
                        f"bootstrap.servers={cluster.bootstrap}\nsecurity.protocol=SASL_PLAINTEXT\n"
                        f"sasl.mechanisms=PLAIN\nsasl.username=KEY\nsasl.password={PASSWORD}\n")
    started = time.monotonic()
    with pytest.raises(CcauditError, match="authentication failed") as e:
        dl.download(props, tmp_path / "out.jsonl", timeout=20)
    assert time.monotonic() - started < 5
    assert PASSWORD not in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("value", ["x" * 220 + " " + PASSWORD, "ab" * 350,
                                   "Z" + "ü" * 150 + "TAIL"])  # cut inside a character: was shown, 119 of them
def test_a_secret_librdkafka_cuts_short_in_its_message_is_masked(tmp_path, cluster, value):
    # librdkafka quotes about 240 characters of a value it refuses: the part of a secret
    # before its cut matched no masked value nor word, and was shown
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={cluster.bootstrap}\n"
                                                   f"security.protocol={value}\n")
    with pytest.raises(InputError, match="bad Kafka setting") as e:
        dl.download(props, tmp_path / "out.jsonl", timeout=20)
    secret = value.split()[-1]
    assert not any(secret[i:i + 8] in str(e.value) for i in range(len(secret) - 7)), str(e.value)


def test_bad_librdkafka_setting_is_an_input_error_naming_its_line(tmp_path, cluster):
    # was "c.properties: bad Kafka setting: ...", the line left to be found
    props = write_props(tmp_path / "c.properties", f"# mine\nbootstrap.servers={cluster.bootstrap}\n\n"
                                                   "no.such.setting=1\n")
    with pytest.raises(InputError, match=f"^{re.escape(str(props))}:4: bad Kafka setting: .*no.such.setting"):
        dl.download(props, tmp_path / "out.jsonl", timeout=10)


@pytest.mark.parametrize("blank", ["", "   "])
def test_an_empty_group_id_is_the_default_one(tmp_path, cluster, topic, blank, run_ccaudit):
    # was: an assertion in confluent-kafka's Consumer aborted the process (exit 134, a core dump)
    cluster.produce(topic, [audit_message(i, topic) for i in range(3)])
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={cluster.bootstrap}\ngroup.id={blank}\n")
    out = tmp_path / "out.jsonl"
    r = run_ccaudit("download", "--config", props, "--out", out, "--topic", topic, "--timeout", "20", "-q")
    assert r.returncode == 0 and r.stderr.startswith(f"ccaudit: wrote 3 records (927 B) from 4 partitions of {topic} ")
    assert len(out.read_text().splitlines()) == 3


@pytest.mark.parametrize("key", ["default.topic.config", "stats_cb", "logger"])
def test_a_setting_confluent_kafka_cannot_take_is_an_input_error(tmp_path, cluster, key):
    # was exit 70: AttributeError: 'str' object has no attribute 'keys'; then
    # "bad Kafka setting: 'str' object has no attribute 'keys'", naming no line or setting
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={cluster.bootstrap}\n{key}=foo\n")
    said = f"{props}:2: {key} cannot be set in a properties file (the Python client takes a Python object there)"
    with pytest.raises(InputError, match=f"^{re.escape(said)}$"):
        dl.download(props, tmp_path / "out.jsonl", timeout=10)


@pytest.mark.parametrize("key, value, why", [
    ("plugin.library.paths", "/tmp/x.so", "it loads a library into ccaudit, which runs its code"),
    ("ssl.engine.location", "/tmp/x.so", "it loads a library into ccaudit, which runs its code"),
    ("ssl.providers", "/tmp/x", "it loads a library into ccaudit, which runs its code"),
    ("sasl.kerberos.kinit.cmd", "touch /tmp/x", "it is a command that ccaudit would run"),
    ("internal.termination.signal", "2", "librdkafka would take that signal: Ctrl-C or kill could not stop ccaudit"),
    ("test.mock.num.brokers", "1", "it puts a fake cluster in the real one's place")])
def test_a_setting_that_would_change_what_ccaudit_is_is_refused(tmp_path, key, value, why):
    # was taken: a plugin ran its code (and was given the secret), signal 2 stopped Ctrl-C for
    # the whole run, and a mock cluster was said to be the real one
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers=127.0.0.1:1\n{key}={value}\n")
    with pytest.raises(InputError, match=f"^{re.escape(f'{props}:2: {key} is refused: {why}')}$"):
        dl.download(props, tmp_path / "out.jsonl", timeout=10)
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("args, said", [
    (["--out", "o.jsonl", "SECRETXYZ"], "download takes no arguments (not shown here; the output file is --out FILE)"),
    (["--out", "o.jsonl", "--password=SECRETXYZ"], "No such option '--password'"),
    (["--out", "o.jsonl", "--sasl.password", "SECRETXYZ"], "No such option '--sasl.password'")])
def test_a_secret_given_on_the_command_line_is_not_said_and_where_it_belongs_is(tmp_path, args, said):
    # was "Got unexpected extra argument (SECRETXYZ)": the secret, into the log a cron job keeps
    result = CliRunner().invoke(cli, ["download", "--config", str(tmp_path / "p.properties"), *args])
    assert (result.exit_code, result.stderr) == (2, f"ccaudit: error: {said}; the API key and secret come from "
                                                    "--config or CCAUDIT_API_KEY and CCAUDIT_API_SECRET, never the "
                                                    "command line\n")


def test_secret_appears_nowhere(tmp_path, cluster, topic, mock_props, capfd):
    cluster.produce(topic, [audit_message(i, topic) for i in range(4)])
    state, out = tmp_path / "state.json", tmp_path / "out.jsonl"
    runner = CliRunner()
    ok = runner.invoke(cli, ["download", "--config", str(mock_props), "--out", str(out), "--state", str(state),
                             "--topic", topic, "--timeout", "20"])
    assert ok.exit_code == 0, ok.output
    sasl = write_props(tmp_path / "sasl.properties",
                       mock_props.read_text() + "security.protocol=SASL_PLAINTEXT\nsasl.mechanisms=PLAIN\n")
    failed = runner.invoke(cli, ["download", "--config", str(sasl), "--out", str(tmp_path / "x"),
                                 "--topic", topic, "--timeout", "20"])
    assert failed.exit_code == 2 and "authentication failed" in failed.stderr
    captured = capfd.readouterr()  # includes anything librdkafka wrote to fd 1/2
    for text in (ok.output, failed.output, captured.out, captured.err, state.read_text(), out.read_text()):
        assert PASSWORD not in text
    assert "sasl" not in state.read_text()


def test_an_api_key_written_as_a_setting_name_is_not_echoed(tmp_path):
    # was: a line "KEY:SECRET" (':' separates a .properties key from its value) became a
    # setting named after the API key, and librdkafka's "No such configuration property"
    # put the key on stderr
    pytest.importorskip("confluent_kafka")
    path = write_props(tmp_path / "client.properties", "bootstrap.servers=localhost:1\n"
                                                        "ABCDEFGHIJKLMNOP:SUPERSECRET123\n")
    with pytest.raises(CcauditError) as caught:
        dl.download(path, tmp_path / "out.jsonl", timeout=1)
    assert "ABCDEFGHIJKLMNOP" not in str(caught.value) and "SUPERSECRET123" not in str(caught.value)
    assert "***" in str(caught.value)


@pytest.mark.parametrize("lines", [
    # librdkafka quotes the value from where it fails: a secret in another setting was printed
    "security.protocol=SASL_PLAINTEXT\nsasl.mechanisms=OAUTHBEARER\nenable.sasl.oauthbearer.unsecure.jwt=true\n"
    "sasl.oauthbearer.config=principal=me clientSecret=Zq9SECRETxyzzy-77\n",
    "security.protocol=SASL_PLAINTEXT\nsasl.mechanisms=Zq9SECRETxyzzy-77\n",  # pasted on the wrong line
])
def test_a_secret_in_any_setting_is_masked_in_librdkafkas_messages(tmp_path, cluster, topic, mock_props, lines):
    path = write_props(tmp_path / "client.properties", mock_props.read_text() + lines)
    with pytest.raises(CcauditError) as caught:
        dl.download(path, tmp_path / "out.jsonl", topic=topic, timeout=5)
    assert "Zq9SECRET" not in str(caught.value) and "***" in str(caught.value)


# --- values, timestamps and the summary line ------------------------------------------------


def test_a_value_nested_too_deep_is_written_as_it_is(tmp_path, props, monkeypatch):
    # was: RecursionError, exit 70, no file, and every later --state run stopped there
    deep, deep_pretty = b"[" * 1000 + b"]" * 1000, b"[" * 100_000 + b"\n" + b"]" * 100_000
    use_fake(monkeypatch, FakeSource({0: (0, [deep, deep_pretty, audit_message(1)])}))
    result = dl.download(props, tmp_path / "out.jsonl")
    assert (tmp_path / "out.jsonl").read_bytes().split(b"\n") == [  # not records: as JSON strings
        b'"' + deep + b'"', b'"' + b"[" * 100_000 + b"\\n" + b"]" * 100_000 + b'"', audit_message(1), b""]
    assert result.records == 3


def test_a_record_with_line_breaks_keeps_every_value_as_written(tmp_path, props, monkeypatch):
    # was re-serialised: 1e400 became Infinity (not JSON), a long number lost digits, and
    # the first of two equal keys went
    value = b'{"id": "a",\r\n "n": 1e400, "m": 12345678901234567890.5,\n "s": "x \\" y\\n", "k": 1, "k": 2}'
    use_fake(monkeypatch, FakeSource({0: (0, [value])}))
    dl.download(props, tmp_path / "out.jsonl")
    assert (tmp_path / "out.jsonl").read_bytes() == \
        b'{"id":"a","n":1e400,"m":12345678901234567890.5,"s":"x \\" y\\n","k":1,"k":2}\n'


@pytest.mark.parametrize("shape", ["one long string", "a million short tokens"])
def test_a_long_record_with_line_breaks_is_made_one_line_in_memory_of_its_size(tmp_path, props, monkeypatch, shape):
    # was a regular expression that kept state a character: 1,121 MB for a string of 8 MB
    import tracemalloc

    body = b'"' + b"B" * 4_000_000 + b'"' if shape == "one long string" else b",\n".join([b'"a"'] * 1_000_000)
    value = b'{"id": "long",\n "time": "2024-05-06T10:00:00Z", "data": {"methodName": "m", "x": [' + body + b"]}}"
    use_fake(monkeypatch, FakeSource({0: (0, [value])}))
    tracemalloc.start()
    try:
        dl.download(props, tmp_path / "out.jsonl")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    written = (tmp_path / "out.jsonl").read_bytes()
    assert written.count(b"\n") == 1 and json.loads(written) == json.loads(value)
    assert peak < 8 * len(value), f"{peak:,} bytes for a record of {len(value):,}"  # json.loads' objects, the line


@pytest.mark.parametrize("timestamp_ms", [253402300800000, -62135596800001, -1])  # 10000-01-01, before 0001
def test_a_kafka_timestamp_outside_years_1970_to_9999_is_ignored(tmp_path, props, monkeypatch, timestamp_ms):
    # was: OverflowError: date value out of range, exit 70; and -1, Kafka's "no timestamp",
    # made the window "covering 1969-12-31T23:59:59.999Z to ..."
    use_fake(monkeypatch, FakeSource({0: (0, [b'{"id":"no-time"}'])}, timestamp_ms=timestamp_ms))
    result = dl.download(props, tmp_path / "out.jsonl")
    assert result.records == 1 and result.first_time is None
    assert "no time window (no record has a time)" in result.summary_line()


def test_the_last_representable_kafka_timestamp_counts(tmp_path, props, monkeypatch):
    use_fake(monkeypatch, FakeSource({0: (0, [b'{"id":"no-time"}'])}, timestamp_ms=253402300799999))
    result = dl.download(props, tmp_path / "out.jsonl")
    assert dl._iso(result.last_time) == "9999-12-31T23:59:59.999Z"


def test_the_summary_says_record_and_partition_in_the_singular(tmp_path, props, monkeypatch):
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    line = dl.download(props, tmp_path / "out.jsonl").summary_line()  # was: "wrote 1 records ... 1 partitions"
    assert line.startswith("wrote 1 record (") and " from 1 partition of " in line


def test_the_summary_counts_the_empty_messages_skipped(tmp_path, props, monkeypatch):
    # was: "wrote 2 records" of 4 messages, the tombstone and the empty value unmentioned; and a
    # value of spaces was written as a record, which a load counts as a blank line
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1), None, b"", b" \t\r\n ", audit_message(2)])}))
    result = dl.download(props, tmp_path / "out.jsonl")
    assert (result.records, result.skipped) == (2, 3)
    assert result.summary_line().endswith(" (3 empty messages skipped)")
    assert (tmp_path / "out.jsonl").read_bytes() == audit_message(1) + b"\n" + audit_message(2) + b"\n"


# --- what --out may name ----------------------------------------------------------------------


@pytest.mark.parametrize("exists", [True, False])
def test_out_naming_the_state_file_is_refused(tmp_path, props, monkeypatch, exists):
    # was: the records written, then replaced by the state that points past them
    state = tmp_path / "same"
    before = save_state(state, {0: 0}) if exists else None
    source = use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["download", "--config", str(props), "--out", "./same", "--state", str(state)])
    assert result.exit_code == 2, result.output
    assert result.stderr == "ccaudit: error: --out ./same is the --state file: write the records to another file\n"
    assert source.position == {}
    assert (state.read_bytes() == before) if exists else not state.exists()


def test_out_naming_a_state_file_without_state_is_refused(tmp_path, props, monkeypatch):
    # was: --out audit.state typed for --state audit.state replaced the offsets a chain of daily
    # runs resumes from with records; the next run failed, and only a fetch of all 7 days mended it
    state = tmp_path / "audit.state"
    before = save_state(state, {0: 1})
    source = use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    result = CliRunner().invoke(cli, ["download", "--config", str(props), "--out", str(state)])
    assert result.exit_code == 2, result.output
    assert result.stderr == (f"ccaudit: error: --out {state} is a download's state file (--state), which the download "
                             "would replace: write the records to another file\n")
    assert source.position == {} and state.read_bytes() == before


def test_out_naming_the_config_file_is_refused(tmp_path, props, monkeypatch):
    # was: the client.properties, API secret and all, replaced by the records
    before = props.read_bytes()
    source = use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    link = tmp_path / "link"
    link.symlink_to(props)
    result = CliRunner().invoke(cli, ["download", "--config", str(props), "--out", str(link)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert "is the --config file" in result.stderr
    assert source.position == {} and props.read_bytes() == before


@pytest.mark.parametrize("name, compress, said", [
    ("out.jsonl", True, "--gzip writes gzip data: end the file's name in .gz (audit.jsonl.gz)"),
    ("out.JSONL.GZ", False, "a .gz name without --gzip: add --gzip, or drop .gz"),
])
def test_a_file_is_named_as_what_it_holds(tmp_path, props, monkeypatch, name, compress, said):
    # was: gzip data written under .jsonl (every tool but ccaudit takes it for text), JSON Lines under .gz
    source = use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    result = CliRunner().invoke(cli, ["download", "--config", str(props), "--out", str(tmp_path / name)]
                                + ["--gzip"] * compress)
    assert result.exit_code == 2 and not (tmp_path / name).exists()
    assert result.stderr == f"ccaudit: error: --out {tmp_path / name}: {said}\n"
    assert not source.position  # refused before it assigned a partition
    ok = tmp_path / ("ok.jsonl.gz" if compress else "ok.jsonl")
    assert dl.download(props, ok, compress=compress).records == 1


@pytest.mark.parametrize("compress", [False, True])
def test_out_dash_is_standard_output(tmp_path, props, monkeypatch, compress):
    # was: a file named "-"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").write_bytes(b"a file named -, not an earlier output\n")
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1), audit_message(2)])}))
    result = CliRunner().invoke(cli, ["download", "--config", str(props), "--out", "-", "--state", "s.json"]
                                + ["--gzip"] * compress)
    assert result.exit_code == 0, result.output
    data = gzip.decompress(result.stdout_bytes) if compress else result.stdout_bytes
    assert (" before gzip) from " in result.stderr) == compress  # the size is of the records, not the gzip stream
    assert data == audit_message(1) + b"\n" + audit_message(2) + b"\n"
    assert "to standard output," in result.stderr
    assert (tmp_path / "-").read_bytes() == b"a file named -, not an earlier output\n"
    assert json.loads((tmp_path / "s.json").read_text())["offsets"] == {"0": 2}


def test_out_naming_a_descriptor_that_is_not_open_is_refused_before_connecting(tmp_path, props, monkeypatch):
    # was: the records fetched, then written to whatever took the descriptor's number
    read, write = os.pipe()
    os.close(read)
    os.close(write)
    source = use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}))
    monkeypatch.setattr(dl, "_connect", lambda *connection: pytest.fail("connected"))
    with pytest.raises(InputError, match=f"--out /proc/self/fd/{write}: descriptor {write} is not open"):
        dl.download(props, f"/proc/self/fd/{write}")
    assert source.position == {}


# --- the progress line -------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [CcauditError("authentication failed: bad key"), KeyboardInterrupt()])
def test_the_progress_line_is_erased_before_an_error(tmp_path, props, monkeypatch, failure):
    # was: "…0 records/sccaudit: error: …" on one line
    monkeypatch.setattr(click.testing._NamedTextIOWrapper, "isatty", lambda self: True)
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)])}, fail_on_consume=failure))
    result = CliRunner().invoke(cli, ["download", "--config", str(props), "--out", str(tmp_path / "o.jsonl")],
                                color=True)  # keeps the escape sequences
    assert result.exit_code in (2, 130), result.output
    drawn, said = result.stderr.rsplit("\r\x1b[K", 1)
    assert "records/s" in drawn and said.startswith("ccaudit: ")


# --- a cluster that goes away --------------------------------------------------------------------


@pytest.fixture
def controlled():
    pytest.importorskip("confluent_kafka", reason="confluent-kafka cannot be installed here")
    try:
        from kafka_mock import ControlledCluster
    except ImportError:  # tests/ collected as a package
        from tests.kafka_mock import ControlledCluster
    cluster = ControlledCluster(brokers=3)
    yield cluster
    cluster.close()


NOT_LEADER, LIST_OFFSETS = 6, 2  # what a broker answers while a partition's leader moves


def test_a_retriable_error_to_an_offset_query_loses_no_record(tmp_path, controlled, topic):
    # was: the earliest offset answered as the end, so a chain of runs skipped 25 records for
    # good (exit 0), or warned of records "deleted by retention" that were never deleted
    controlled.create_topic(topic, 4)
    for p in range(4):
        controlled.produce(topic, [audit_message(10 * p + i, topic) for i in range(5)], partition=p)
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={controlled.bootstrap}\n")
    state = tmp_path / "state.json"
    controlled.fail_next(LIST_OFFSETS, NOT_LEADER)
    first = dl.download(props, tmp_path / "1.jsonl", state_path=state, topic=topic, timeout=30)
    assert first.records == 20 and len(lines_of(tmp_path / "1.jsonl")) == 20
    for p in range(4):
        controlled.produce(topic, [audit_message(100 + 10 * p + i, topic) for i in range(3)], partition=p)
    controlled.fail_next(LIST_OFFSETS, NOT_LEADER)
    second = dl.download(props, tmp_path / "2.jsonl", state_path=state, topic=topic, timeout=30)
    assert (second.records, second.lost_to_retention) == (12, 0)
    assert json.loads(state.read_text())["offsets"] == {str(p): 8 for p in range(4)}


@contextlib.contextmanager
def meanwhile(delay: float, action):
    """``action`` run ``delay`` seconds into the block, in a thread the block's end waits for."""
    import threading

    timer = threading.Timer(delay, action)
    timer.start()
    try:
        yield
    finally:
        timer.join()


@pytest.mark.parametrize("blip", [0.05, 1.0])
def test_brokers_that_restart_while_the_offsets_are_asked_for_are_asked_again(tmp_path, controlled, topic, blip):
    # was: "cannot read the offsets of ... partition 1: Failed to get watermark offsets: Local:
    # Broker transport failure", exit 2, for a restart of 50 ms while the end offsets were read
    controlled.create_topic(topic, 4)
    for p in range(4):
        controlled.produce(topic, [audit_message(10 * p + i, topic) for i in range(3)], partition=p)
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={controlled.bootstrap}\n")
    controlled.slow_next(LIST_OFFSETS, 8, 700)  # the snapshot takes about 3 s
    with meanwhile(1.5, lambda: (controlled.set_down(), time.sleep(blip), controlled.set_up())):
        result = dl.download(props, tmp_path / "out.jsonl", topic=topic, timeout=60)
    assert result.records == 12 and len(lines_of(tmp_path / "out.jsonl")) == 12


def test_a_partition_without_a_leader_for_a_while_is_waited_for(tmp_path, controlled, topic):
    # was: "cannot read the offsets of ... partition 1: ... Local: Unknown partition" at once, exit 2
    controlled.create_topic(topic, 2)
    for p in range(2):
        controlled.produce(topic, [audit_message(10 * p + i, topic) for i in range(3)], partition=p)
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={controlled.bootstrap}\n")
    controlled.set_leader(topic, 1, -1)  # as while its broker is replaced
    with meanwhile(2, lambda: controlled.set_leader(topic, 1, 2)):
        result = dl.download(props, tmp_path / "out.jsonl", topic=topic, timeout=30)
    assert result.records == 6 and len(lines_of(tmp_path / "out.jsonl")) == 6


def test_offset_queries_answered_wrongly_again_and_again_lose_no_record(tmp_path, controlled, topic):
    # was: the earliest offset answered as the end twice, so 3 records were skipped for good
    # with a false "deleted by retention" warning (exit 0); only the fetch now says what is gone
    controlled.create_topic(topic, 1)
    controlled.produce(topic, [audit_message(i, topic) for i in range(5)], partition=0)
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={controlled.bootstrap}\n")
    state = tmp_path / "state.json"
    dlf.save_state(state, topic, controlled.bootstrap, {0: 2}, "2024-05-06T10:00:00Z")
    controlled.fail_next(LIST_OFFSETS, *(NOT_LEADER, 0) * 4)
    result = dl.download(props, tmp_path / "1.jsonl", state_path=state, topic=topic, timeout=30)
    assert (result.records, result.lost_to_retention) == (3, 0)
    assert lines_of(tmp_path / "1.jsonl") == Counter(audit_message(i, topic) for i in range(2, 5))
    assert json.loads(state.read_text())["offsets"] == {"0": 5}


def test_ctrl_c_stops_a_run_while_a_broker_is_slow_to_give_the_offsets(tmp_path, controlled, topic):
    # was held off for the whole answer, up to 30 s a partition: one librdkafka call that long
    import signal
    import threading

    controlled.create_topic(topic, 1)
    controlled.produce(topic, [audit_message(1, topic)])
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={controlled.bootstrap}\n")
    controlled.slow_next(LIST_OFFSETS, 20, 25_000)
    ctrl_c = threading.Timer(2, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    ctrl_c.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            dl.download(props, tmp_path / "out.jsonl", topic=topic, timeout=100)
    finally:
        ctrl_c.cancel()  # never a stray Ctrl-C in a later test
    assert time.monotonic() - started < 2 + ASK_FOR + 2 and not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("slow", [1, 50])
def test_offsets_a_broker_answers_after_longer_than_one_ask_are_heard(tmp_path, controlled, topic, slow):
    # one slow answer: asked again. Every answer slow: was "cannot read the offsets ... Timed out"
    # after 30 s, each 4 s ask dropping the late answer; the asks now grow
    controlled.create_topic(topic, 1)
    controlled.produce(topic, [audit_message(1, topic)])
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={controlled.bootstrap}\n")
    controlled.slow_next(LIST_OFFSETS, slow, int(ASK_FOR * 1000) + 1000)
    assert dl.download(props, tmp_path / "out.jsonl", topic=topic, timeout=60).records == 1


def test_a_timeout_that_runs_out_while_the_offsets_are_asked_for_is_said_as_the_timeout(tmp_path, controlled, topic):
    # was "cannot read the offsets of ... partition 0: ... Timed out", as if Kafka had failed
    controlled.create_topic(topic, 1)
    controlled.produce(topic, [audit_message(1, topic)])
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={controlled.bootstrap}\n")
    controlled.slow_next(LIST_OFFSETS, 5, 5_000)
    with pytest.raises(CcauditError) as caught:
        dl.download(props, tmp_path / "out.jsonl", topic=topic, timeout=2)
    assert str(caught.value).startswith("timed out after 2s (--timeout): cannot read the offsets of ")
    assert str(caught.value).count("timed out after") == 1 and not (tmp_path / "out.jsonl").exists()


def test_a_timeout_that_runs_out_between_two_calls_is_said_once(tmp_path, props, monkeypatch):
    # was "timed out after 1s (--timeout): timed out after 1s (--timeout) before reaching the end of the topic"
    source = use_fake(monkeypatch, FakeSource({0: (0, [audit_message(1)]), 1: (0, [audit_message(2)])}))
    answer = source.get_watermark_offsets
    source.get_watermark_offsets = lambda p, timeout: time.sleep(1.2) or answer(p, timeout)
    with pytest.raises(CcauditError) as caught:
        dl.download(props, tmp_path / "out.jsonl", timeout=1)
    assert str(caught.value) == "timed out after 1s (--timeout) before reaching the end of the topic; nothing written"


def test_a_topic_deleted_and_made_again_is_told_from_the_one_the_state_read(tmp_path, controlled, topic):
    # was: the new topic's first records, at offsets the state had passed, skipped unsaid (exit 0)
    controlled.create_topic(topic, 2)
    for p in (0, 1):
        controlled.produce(topic, [audit_message(i, topic) for i in range(3)], partition=p)
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={controlled.bootstrap}\n")
    state = tmp_path / "state.json"
    assert dl.download(props, tmp_path / "1.jsonl", state_path=state, topic=topic, timeout=30).records == 6
    controlled.produce(topic, [audit_message(i, topic) for i in range(3, 5)], partition=1)
    assert dl.download(props, tmp_path / "2.jsonl", state_path=state, topic=topic, timeout=30).records == 2
    assert sorted(json.loads(state.read_text())["last_records"]) == ["0", "1"]
    before = state.read_bytes()
    controlled.delete_topic(topic)
    controlled.create_topic(topic, 2)
    for p in (0, 1):
        controlled.produce(topic, [audit_message(i, topic) for i in range(10, 16)], partition=p)
    with pytest.raises(CcauditError, match=r"partition (0|1) holds another record at offset (2|4) than the last run "
                                           r"read: was the topic recreated\? \(delete the state file to start over\)"):
        dl.download(props, tmp_path / "3.jsonl", state_path=state, topic=topic, timeout=30)
    assert state.read_bytes() == before and not (tmp_path / "3.jsonl").exists()
    state.unlink()
    assert dl.download(props, tmp_path / "3.jsonl", state_path=state, topic=topic, timeout=30).records == 12


def test_a_state_without_the_last_records_an_earlier_ccaudit_wrote_is_read_on(tmp_path, props, monkeypatch):
    state = tmp_path / "state.json"
    save_state(state, {0: 1})
    assert "last_records" in json.loads(state.read_text())
    written = json.loads(state.read_text())
    del written["last_records"]
    state.write_text(json.dumps(written))
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(i) for i in range(3)])}))
    assert dl.download(props, tmp_path / "out.jsonl", state_path=state).records == 2
    assert json.loads(state.read_text())["last_records"]["0"][0] == 2


@pytest.mark.parametrize("last, said", [
    ([], "its last_records are not a partition's"),
    ({"0": [1, None]}, "its last_records are not a partition's"),
    ({"0": [1, None, "xyz"]}, "its last_records are not a partition's"),
    ({"1": [0, None, "0" * 16]}, "its last_records are not a partition's"),  # a partition without an offset
    ({"0": ["1", None, "0" * 16]}, "its last_records are not a partition's"),
    ({"0": [1, 1.5, "0" * 16]}, "its last_records are not a partition's"),
    ({"0": [1, None, "0" * 16], "00": [0, None, "0" * 16]}, "a partition is listed twice in its last_records"),
])
def test_a_state_whose_last_records_are_misshapen_is_refused(tmp_path, props, last, said):
    state = tmp_path / "state.json"
    save_state(state, {0: 2})
    written = json.loads(state.read_text())
    written["last_records"] = last
    state.write_text(json.dumps(written))
    with pytest.raises(InputError, match=said):
        dl.download(props, tmp_path / "out.jsonl", state_path=state)


def _state_that_saw(path, offset, value, timestamp_ms=1714989600000):
    """A state whose partition 0 goes on after ``offset``, where it read ``value``."""
    dlf.save_state(path, dl.DEFAULT_TOPIC, "fake:9092", {0: offset + 1}, "2024-05-06T10:00:00Z",
                   {0: dlf.fingerprint(offset, timestamp_ms, value)})


def test_the_record_a_state_read_is_read_again_and_another_fails_the_run(tmp_path, props, monkeypatch):
    state = tmp_path / "state.json"
    _state_that_saw(state, 1, audit_message(1))
    use_fake(monkeypatch, FakeSource({0: (0, [audit_message(i) for i in range(4)])}))
    assert dl.download(props, tmp_path / "1.jsonl", state_path=state).records == 2  # the same: read on
    _state_that_saw(state, 1, audit_message(9))
    with pytest.raises(CcauditError, match="partition 0 holds another record at offset 1 than the last run read"):
        dl.download(props, tmp_path / "2.jsonl", state_path=state)


@pytest.mark.parametrize("low", [2, 3])  # the record read gone by retention; the run starting after it too
def test_a_state_whose_record_retention_deleted_is_read_on_unchecked(tmp_path, props, monkeypatch, low):
    state = tmp_path / "state.json"
    _state_that_saw(state, 1, audit_message(9))
    use_fake(monkeypatch, FakeSource({0: (low, [audit_message(i) for i in range(low, 5)])}))
    result = dl.download(props, tmp_path / "out.jsonl", state_path=state)
    assert result.records == 5 - low and result.lost_to_retention == low - 2


def test_a_broker_that_answers_in_over_a_second_is_heard(tmp_path, controlled, topic):
    # was "cannot reach Kafka at ... within 30s": each 1 s try asked again, and no answer came in time
    controlled.create_topic(topic, 1)
    controlled.produce(topic, [audit_message(i, topic) for i in range(3)])
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={controlled.bootstrap}\n")
    controlled.set_rtt(1100)
    assert dl.download(props, tmp_path / "out.jsonl", topic=topic, timeout=60).records == 3


def test_brokers_that_go_away_mid_run_fail_it_after_the_stall_not_the_timeout(tmp_path, controlled, topic,
                                                                               monkeypatch):
    # was: waited out the whole --timeout, then "timed out" (30 minutes with --timeout 1800)
    controlled.create_topic(topic, 2)
    for p in (0, 1):
        controlled.produce(topic, [audit_message(i, topic) for i in range(30)], partition=p)
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={controlled.bootstrap}\n"
                                                   "max.partition.fetch.bytes=1000\n")
    state = tmp_path / "state.json"
    dlf.save_state(state, topic, controlled.bootstrap, {0: 0, 1: 0}, "2024-05-06T10:00:00Z")
    before = state.read_bytes()
    monkeypatch.setattr(kafka_source, "STALL", 1.0)
    controlled.set_rtt(100)  # each fetch takes a while: some records are still unread when they go
    down = []
    started = time.monotonic()
    with pytest.raises(CcauditError) as caught:
        dl.download(props, tmp_path / "out.jsonl", state_path=state, topic=topic, timeout=30,
                    progress=lambda snapshot: down or down.append(controlled.set_down()))
    assert time.monotonic() - started < 15
    assert str(caught.value).startswith("Kafka stopped answering: nothing received for 1s")
    assert str(caught.value).endswith("; nothing written, state file unchanged")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out.jsonl").exists() and leftovers(tmp_path) == []
    assert state.read_bytes() == before


def test_a_topic_deleted_mid_run_fails_it_after_the_stall_not_the_timeout(tmp_path, controlled, topic, monkeypatch):
    # was: waited out the whole --timeout: librdkafka tells consume() nothing of a topic gone
    # until its next metadata refresh (5 minutes), and the brokers still answer
    controlled.create_topic(topic, 2)
    for p in (0, 1):
        controlled.produce(topic, [audit_message(i, topic) for i in range(30)], partition=p)
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={controlled.bootstrap}\n"
                                                   "max.partition.fetch.bytes=1000\n")
    monkeypatch.setattr(kafka_source, "STALL", 1.0)
    controlled.set_rtt(100)  # each fetch takes a while: some records are still unread when it goes
    gone: list = []
    started = time.monotonic()
    with pytest.raises(CcauditError) as caught:
        dl.download(props, tmp_path / "out.jsonl", topic=topic, timeout=60,
                    progress=lambda snapshot: gone or gone.append(controlled.delete_topic(topic)))
    assert time.monotonic() - started < 20
    said = str(caught.value)
    assert said.startswith(f"nothing received for 1s with records left to fetch: topic {topic} not found at "), said
    assert said.endswith("; nothing written") and "\n" not in said
    assert not (tmp_path / "out.jsonl").exists() and leftovers(tmp_path) == []


def test_a_stall_that_asks_for_the_topic_loses_no_record(tmp_path, controlled, topic, monkeypatch):
    # was: the stall's metadata request served error callbacks with poll(), which took a fetched
    # record each time and dropped it: 27 of 40 records written, exit 0 (here 12, each fetch one)
    controlled.create_topic(topic, 1)
    controlled.produce(topic, [audit_message(i, topic) for i in range(12)])
    props = write_props(tmp_path / "c.properties", f"bootstrap.servers={controlled.bootstrap}\n"
                                                   "max.partition.fetch.bytes=1000\n")
    monkeypatch.setattr(kafka_source, "STALL", 0.6)
    controlled.set_rtt(1300)  # each fetch takes longer than a stall: the topic is asked for between them
    asked = []
    real = kafka_source.KafkaSource.check_topic
    monkeypatch.setattr(kafka_source.KafkaSource, "check_topic", lambda self, t: asked.append(t) or real(self, t))
    result = dl.download(props, tmp_path / "out.jsonl", topic=topic, timeout=120)
    assert result.records == 12 and asked
    assert sorted(json.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()) == \
        sorted(json.loads(audit_message(i, topic))["id"] for i in range(12))


# --- standard output, in a real process --------------------------------------------------------


def ccaudit_in_sh(script: str, *args, cwd):
    """``sh -c script`` with $0 this Python and "$@" the arguments, ccaudit importable from here."""
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    return subprocess.run(["sh", "-c", script, sys.executable, *args], cwd=cwd, env=env,
                          capture_output=True, timeout=60)


def test_out_dash_pipes_into_load(tmp_path, cluster, topic, mock_props):
    # `ccaudit download --out - | ccaudit load -`: was a file named "-", and load read nothing
    cluster.produce(topic, [audit_message(i, topic) for i in range(5)])
    run = ccaudit_in_sh('"$0" -m ccaudit download --config "$1" --out - --topic "$2" --timeout 20 -q | '
                        '"$0" -m ccaudit load - --db "$3" --format json -q', str(mock_props), topic, "a.db",
                        cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["inserted"] == 5
    assert not (tmp_path / "-").exists()
    assert b"to standard output" in run.stderr


@pytest.mark.parametrize("gzip", ["", "--gzip"])
def test_out_dash_to_a_full_disk_is_one_line_and_exit_2(tmp_path, cluster, topic, mock_props, gzip):
    # was exit 120 and Python's "Exception ignored ... OSError: [Errno 28]": the failed write's
    # bytes were left in standard output's buffer, and failed again at exit
    cluster.produce(topic, [audit_message(i, topic) for i in range(200)])
    run = ccaudit_in_sh(f'"$0" -m ccaudit download --config "$1" --out - --topic "$2" -q {gzip} > /dev/full',
                        str(mock_props), topic, cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.startswith(b"ccaudit: error: disk full while writing standard output; "
                                                         b"at most "), run.stderr
    assert run.stderr.count(b"\n") == 1 and run.stderr.endswith(b" written to standard output\n")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_ctrl_c_into_a_fifo_whose_reader_it_stopped_too_is_the_interruption(tmp_path):
    # was BrokenPipeError (exit 141, nothing said): the flush as the FIFO closed met the reader gone
    os.mkfifo(fifo := tmp_path / "f")
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    with pytest.raises(KeyboardInterrupt):
        with dlf._appending(fifo, time.monotonic() + 10) as f:
            f.write(b"x" * 100)  # (buffered: written at close)
            os.close(reader)
            raise KeyboardInterrupt


@pytest.mark.parametrize("out, named", [("-", b"standard output"), ("/dev/stdout", b"/dev/stdout")])
def test_ctrl_c_of_out_dash_into_a_pipe_says_at_most_what_the_reader_got(tmp_path, cluster, topic, mock_props, out,
                                                                        named):
    # was "306 records already written to standard output" where the reader got 272: those in
    # standard output's buffer were dropped as the command stopped (and so for /dev/stdout,
    # whose buffer goes only to a reader not stopped with it)
    cluster.produce(topic, [audit_message(i, topic) for i in range(600)])
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    proc = subprocess.Popen([sys.executable, "-m", "ccaudit", "download", "--config", str(mock_props), "--topic", topic,
                             "--out", out, "--timeout", "60", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not proc.stdout.peek(1) and time.monotonic() < deadline:  # the first records are in the pipe, which
            time.sleep(0.05)  # is then left full: the rest wait in standard output's buffer
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        got, said = proc.stdout.read(), proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
    whole = got.count(b"\n")
    assert proc.returncode == 130 and whole < 600, said
    told = re.fullmatch(rb"ccaudit: interrupted; at most (\d+) records written to " + named + rb"\n", said)
    assert told and whole <= int(told[1]), said


@pytest.mark.parametrize("out", ["/dev/stdout", "-"])
def test_out_to_a_closed_standard_output_is_refused(tmp_path, cluster, topic, mock_props, out):
    # `>&-`: was exit 0, the state advanced and the records written into librdkafka's wakeup
    # pipe, which had taken descriptor 1
    cluster.produce(topic, [audit_message(i, topic) for i in range(3)])
    run = ccaudit_in_sh('exec "$0" -m ccaudit download --config "$1" --out "$2" --state s.json --topic "$3" '
                        '--timeout 20 >&-', str(mock_props), out, topic, cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.decode() == (f"ccaudit: error: --out {out}: descriptor 1 is not open (closed with 1>&-?), "
                                   "so the records would go nowhere\n")
    assert sorted(os.listdir(tmp_path)) == ["client.properties"]


def test_out_to_a_descriptor_open_only_for_reading_is_refused(tmp_path, cluster, topic, mock_props):
    # `--out /dev/fd/3 3<file`: was found only when the first batch was written
    cluster.produce(topic, [audit_message(i, topic) for i in range(3)])
    run = ccaudit_in_sh('exec "$0" -m ccaudit download --config "$1" --out /dev/fd/3 --state s.json --topic "$2" '
                        '--timeout 20 3<"$1"', str(mock_props), topic, cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.decode() == ("ccaudit: error: --out /dev/fd/3: descriptor 3 is open only for reading (<), "
                                   "so the records cannot be written there\n")
    assert sorted(os.listdir(tmp_path)) == ["client.properties"]


def test_the_timeout_counts_from_when_the_properties_are_read(tmp_path, cluster, topic, mock_props):
    # was: a properties file from a pipe (--config <(pass show ...)) whose writer took longer
    # than --timeout failed at once, "timed out ... before reaching the end of the topic"
    import threading

    cluster.produce(topic, [audit_message(i, topic) for i in range(3)])
    read, write = os.pipe()  # as <(...) gives it: the writer there from the start

    def slow_writer():
        time.sleep(2.5)
        with open(write, "wb") as f:
            f.write(mock_props.read_bytes())

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        result = dl.download(f"/dev/fd/{read}", tmp_path / "out.jsonl", topic=topic, timeout=2)
    finally:
        writer.join()
        os.close(read)
    assert result.records == 3 and len((tmp_path / "out.jsonl").read_text().splitlines()) == 3


def test_a_state_named_dash_is_refused(tmp_path, mock_props):
    # was written as a file named - in the folder one was in, where --out - is standard output
    with pytest.raises(InputError, match=r"^--state -: the state is kept in a file; name one \(\./- for a file"):
        dl.download(mock_props, tmp_path / "out.jsonl", state_path="-", timeout=5)


def test_a_message_of_librdkafka_ending_in_a_newline_is_one_line(tmp_path):
    # was "... outside allowed range 1..3600000\n", shown as \x0a at the end of the error line
    props = write_props(tmp_path / "c.properties", "bootstrap.servers=127.0.0.1:1\nsession.timeout.ms=-1\n")
    with pytest.raises(InputError) as e:
        dl.download(props, tmp_path / "out.jsonl", timeout=5)
    assert str(e.value).endswith('"session.timeout.ms" value -1 is outside allowed range 1..3600000')

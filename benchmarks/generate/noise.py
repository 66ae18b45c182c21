"""Lines that are not records (consumer chatter, blank lines) and records that are malformed.

``Noise.line(kind, last_time)`` makes one; the malformed kinds are built from a fresh record
(its own random id) dated like the last record written, so they look like their neighbours.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .records import Builder

# kind -> the line, for the kinds that are fixed text
TEXT = {
    "error": "% Error: Local: Broker transport failure: sasl_ssl://b0-pkc-4kgmg.eu-west-1.aws.confluent.cloud:9092/0: "
             "Disconnected (after 120034ms in state UP)",
    "rdkafka": "%4|1715000000.123|SESSTMOUT|rdkafka#consumer-1| [thrd:main]: Consumer group session timed out "
               "(in join-state steady) after 45012 ms without a successful response from the group coordinator",
    "blank": "",
    "spaces": "   \t  ",
    "headers": 'Headers: [content-type="application/cloudevents+json; charset=UTF-8"]',
    "notjson": "not json",
    "starting": "Starting Kafka Consumer. Use Ctrl-C to exit.",
    "brace": "{broken",
}
NOT_MALFORMED = ("error", "rdkafka", "blank", "spaces", "headers", "starting")  # skipped as noise lines
JAVA_MAP = ("{datacontenttype=application/json, data={serviceName=crn://confluent.cloud/, "
            "methodName=mds.Authorize, authenticationInfo={principal=User:%s}, authorizationInfo="
            "{granted=true, operation=AccessMetrics}}, id=%s, source=crn://confluent.cloud/, "
            "specversion=1.0, time=%s, type=io.confluent.kafka.server/authorization}")


@dataclass(frozen=True)
class NoiseLine:
    text: str
    malformed: bool  # counted as malformed; otherwise as a noise line
    record_line: bool  # written where a record goes: the Confluent CLI prints its headers line after it


class Noise:
    def __init__(self, plain_record: Builder, uuid4: Callable[[], str], metrics_sa: str):
        self.plain_record, self.uuid4, self.metrics_sa = plain_record, uuid4, metrics_sa

    def fresh_line(self, time: str) -> str:
        """A plain, valid record line (mds.Authorize by a user) at ``time``."""
        return self.plain_record(self.uuid4(), time)[0]

    def line(self, kind: str, last_time: str) -> NoiseLine:
        if kind in TEXT:
            return NoiseLine(TEXT[kind], kind not in NOT_MALFORMED, False)
        if kind == "broken":
            s = self.fresh_line(last_time)
            return NoiseLine(s[: len(s) // 2], True, False)
        if kind == "javamap":
            return NoiseLine(JAVA_MAP % (self.metrics_sa, self.uuid4(), last_time), True, False)
        return NoiseLine(self._spoiled_record(kind, last_time), True, True)

    def _spoiled_record(self, kind: str, time: str) -> str:
        """A record line with something wrong in or after it."""
        rid = self.uuid4()
        s, method, _, _ = self.plain_record(rid, time)
        if kind == "trailing":
            return s + " x"
        if kind == "two":
            return s + self.fresh_line(time)
        if kind == "no_id":
            return drop_key(s, "id", rid)
        if kind == "no_time":
            return drop_key(s, "time", time)
        if kind == "bad_time":
            return s.replace('"time":"%s"' % time, '"time":"yesterday"')
        if kind == "no_method":
            return drop_key(s, "methodName", method)
        raise AssertionError(kind)


def drop_key(line: str, key: str, value: str) -> str:
    """Remove `"key":"value"` (and one adjacent comma) from a compact JSON line."""
    for old in ('"%s":"%s",' % (key, value), ',"%s":"%s"' % (key, value)):
        if old in line:
            return line.replace(old, "", 1)
    raise AssertionError("key %s not found" % key)

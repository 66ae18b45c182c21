"""The Kafka consumer behind ``ccaudit download``, in plain Python types.

This is the only module that touches confluent_kafka, and it imports it only
when a ``KafkaSource`` is created, so the rest of ccaudit (and ``import
ccaudit.download``) works without the extra. The downloader makes just eight
calls, so tests can swap in a fake with the same eight methods. Every error is
turned into a one-line ``CcauditError`` with the API secret scrubbed out. Here
too: the stream of ``consume`` batches, which fails once Kafka went away
(``batches``).
"""
from __future__ import annotations

import contextlib
import importlib.util
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import CcauditError, InputError, MissingExtra
from .kafka_config import is_foreign_setting, line_of, scrub_secrets, secret_values, shown_brokers

INSTALL_HINT = ("ccaudit download needs confluent-kafka: pip install 'confluent-kafka>=2.3' "
                "(in ccaudit's clone: pip install '.[download]')")

# Settings the downloader's correctness depends on; the properties file cannot change them.
_FORCED = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "enable.partition.eof": True,
    "auto.offset.reset": "error",  # never skip records silently
}
_DEFAULTS = {"group.id": "ccaudit-download", "client.id": "ccaudit"}
ASK_FOR = 4.0  # seconds one librdkafka call may wait at most: it holds off Ctrl-C while it waits
EARLIEST = -2  # librdkafka's OFFSET_BEGINNING: a partition's earliest offset, found by the consumer
STALL = 30.0  # nothing received this long: ask whether Kafka went away, do not wait out --timeout
BATCH = 1000
POLL = 0.25  # consume() waits this long for a full batch; keeps Ctrl-C and progress snappy

_kafka_log = logging.getLogger("ccaudit.kafka")
_kafka_log.addHandler(logging.NullHandler())  # librdkafka chatter is not for stderr


@dataclass
class Message:
    """One record (or an end-of-partition event, ``eof=True``) in plain types."""

    partition: int
    offset: int
    value: bytes | None = None
    timestamp_ms: int | None = None
    eof: bool = False
    gone: bool = False  # the broker has no record at the partition's position: retention took them


class KafkaSource:
    """The eight consumer calls the downloader makes, with errors made readable."""

    def __init__(self, conf: dict, topic: str, origin: str):
        """``origin`` names the properties file the settings came from, in errors."""
        self._ck = ck = _import_confluent_kafka()
        self.topic = topic
        self._secrets = secret_values(conf)
        self._bootstrap = shown_brokers(str(conf["bootstrap.servers"]))
        self._errors: list = []
        self._unreachable = ""  # why the brokers cannot be reached, since the last message
        settings = {k: v for k, v in conf.items() if not is_foreign_setting(k)}
        if not settings.get("group.id", "x").strip():  # librdkafka aborts the process on an empty one
            del settings["group.id"]  # and assign() needs none: the default is as good
        settings = {**_DEFAULTS, **settings, **_FORCED}
        settings.update(error_cb=self._on_error, logger=_kafka_log)
        try:
            self._consumer = ck.Consumer(settings)
        except Exception as e:  # the binding's own checks raise anything (default.topic.config=x: AttributeError)
            said = self._text(e)
            raise InputError(f"{origin}{line_of(conf, said)}: bad Kafka setting: {said}") from None

    def list_topics(self, timeout: float) -> list[int]:
        """Partitions of the topic; waits up to ``timeout`` for a broker to answer. Each try
        sends the request again, and waits twice as long as the one before, up to 4 s: a
        broker that answers in 1.1 s was never heard by tries of 1 s, and the call holds
        off Ctrl-C while it waits."""
        until, wait = time.monotonic() + timeout, 1.0
        while True:
            try:
                meta = self._consumer.list_topics(self.topic, timeout=max(0.1, min(wait, until - time.monotonic())))
                break
            except self._ck.KafkaException:
                wait = min(2 * wait, ASK_FOR)
                self._consumer.poll(0)  # serves error_cb: tells auth failure from no answer
                self._raise_fatal()
                if time.monotonic() >= until:
                    last = f": {self._text(self._errors[-1])}" if self._errors else ""
                    seconds = f"{timeout:.1f}".removesuffix(".0")  # (0.5: was "within 0s")
                    raise CcauditError(f"cannot reach Kafka at {self._bootstrap} within {seconds}s{last}") from None
        return self._partitions(meta.topics.get(self.topic))

    def check_topic(self, timeout: float) -> None:
        """Raise if the topic is gone or may no longer be read, as ``list_topics`` says it; mid-run,
        so with one metadata request and no ``poll``, which would take a fetched record away. No
        answer, or another error, is no verdict: the run goes on, and --timeout bounds it."""
        try:
            meta = self._consumer.list_topics(self.topic, timeout=timeout).topics.get(self.topic)
        except self._ck.KafkaException:
            return
        codes = (self._ck.KafkaError.UNKNOWN_TOPIC_OR_PART, self._ck.KafkaError.TOPIC_AUTHORIZATION_FAILED)
        if meta is None or meta.error is not None and meta.error.code() in codes:
            self._partitions(meta)

    def _partitions(self, meta) -> list[int]:
        err = meta.error if meta is not None else None
        if meta is None or (err and err.code() == self._ck.KafkaError.UNKNOWN_TOPIC_OR_PART):
            raise CcauditError(
                f"topic {self.topic} not found at {self._bootstrap} "
                "(see 'confluent audit-log describe' for the audit cluster and topic)"
            )
        if err and err.code() == self._ck.KafkaError.TOPIC_AUTHORIZATION_FAILED:
            raise CcauditError(
                f"not authorized to read topic {self.topic}: use an API key of the audit-log "
                "cluster's service account (see 'confluent audit-log describe')"
            )
        if err:
            raise CcauditError(f"cannot read topic {self.topic}: {self._text(err)}")
        return sorted(meta.partitions)

    def get_watermark_offsets(self, partition: int, timeout: float) -> tuple[int, int]:
        """(earliest offset still kept, offset after the last record), asked until ``timeout``:
        ASK_FOR seconds at first, each ask twice as long as the one before (a late answer is
        dropped, so a broker slower than one ask is heard by a longer one)."""
        tp = self._ck.TopicPartition(self.topic, partition)
        until, marks, ask = time.monotonic() + timeout, None, ASK_FOR
        while True:
            try:
                marks = self._consumer.get_watermark_offsets(
                    tp, timeout=max(0.1, min(ask, until - time.monotonic())), cached=False)
                ask *= 2
                why = "no answer"
                if marks is not None or time.monotonic() >= until:
                    break
            except self._ck.KafkaException as e:  # asked again while a leader moves (NOT_LEADER), a broker
                why, code = self._text(e), e.args[0].code()  # restarts, or after ASK_FOR seconds unanswered
                timed_out = code == self._ck.KafkaError._TIMED_OUT
                ask *= 2 if timed_out else 1
                if not timed_out and code not in self._passing_codes() or time.monotonic() >= until:
                    break
                time.sleep(0 if timed_out else 0.1)
        if marks is None:
            self._raise_fatal()
            why = self._unreachable or why  # (the brokers gone: "Unknown partition" said less)
            raise CcauditError(f"cannot read the offsets of {self.topic} partition {partition}: {why}")
        return marks

    def assign(self, offsets: dict[int, int]) -> None:
        tps = [self._ck.TopicPartition(self.topic, p, o) for p, o in offsets.items()]
        self._consumer.assign(tps)

    def restart(self, partition: int) -> None:
        """Read ``partition`` on from the earliest record the broker still has."""
        tp = self._ck.TopicPartition(self.topic, partition, EARLIEST)
        self._consumer.incremental_unassign([tp])  # not seek: the partition is stopped in an error state
        self._consumer.incremental_assign([tp])

    def consume(self, num: int, timeout: float) -> list[Message]:
        out = []
        for m in self._consumer.consume(num, timeout):
            err = m.error()
            if err is None:
                out.append(Message(m.partition(), m.offset(), m.value(), _timestamp(m)))
            elif err.code() == self._ck.KafkaError._PARTITION_EOF:
                out.append(Message(m.partition(), m.offset(), eof=True))
            elif err.code() in (self._ck.KafkaError._AUTO_OFFSET_RESET, self._ck.KafkaError.OFFSET_OUT_OF_RANGE):
                out.append(Message(m.partition(), m.offset(), gone=True))
            elif self._is_fatal(err):
                raise CcauditError(f"Kafka error on partition {m.partition()}: {self._text(err)}")
            # anything else is transient: librdkafka retries, --timeout bounds it
        self._raise_fatal()
        if out:
            self._unreachable = ""
        return out

    def unreachable(self) -> str:
        """Why the brokers could not be reached since the last message ('' if they could):
        librdkafka retries for ever, so only the downloader can decide when to give up."""
        return self._unreachable

    def _on_error(self, err) -> None:
        """error_cb: keeps errors for _raise_fatal; notes the brokers going away."""
        self._errors.append(err)
        down = err.code() == self._ck.KafkaError._ALL_BROKERS_DOWN
        if down or (err.code() == self._ck.KafkaError._TRANSPORT and not self._unreachable):
            self._unreachable = self._text(err)  # "3/3 brokers are down" says more than one refusal

    def close(self) -> None:
        try:
            self._consumer.close()
        except Exception:  # closing must not hide the error that got us here
            pass

    def _is_fatal(self, err) -> bool:
        """Whether retrying cannot fix ``err``: a bad key or secret, TLS, no right to read the
        topic, or a broker's answer larger than ``receive.message.max.bytes`` takes (a record
        larger than the client's limits: librdkafka asks again for ever, and the run timed out
        saying only that)."""
        e = self._ck.KafkaError
        return err.fatal() or err.code() in {e._AUTHENTICATION, e.SASL_AUTHENTICATION_FAILED, e._SSL,
                                             e.TOPIC_AUTHORIZATION_FAILED} or self._too_large(err)

    def _too_large(self, err) -> bool:
        return err.code() == self._ck.KafkaError._BAD_MSG and "receive.message.max.bytes" in err.str()

    def _passing_codes(self) -> set:
        """Errors that asking again fixes: a broker's answers while a partition's leader moves,
        the client's while a broker restarts (a blip of 50 ms failed the run)."""
        e = self._ck.KafkaError
        return {e.NOT_LEADER_FOR_PARTITION, e.LEADER_NOT_AVAILABLE, e.KAFKA_STORAGE_ERROR, e.REQUEST_TIMED_OUT,
                e.FENCED_LEADER_EPOCH, e.UNKNOWN_LEADER_EPOCH, e.OFFSET_NOT_AVAILABLE,
                e._UNKNOWN_PARTITION,  # the client's own word for a partition listed without a leader
                e._TRANSPORT, e._ALL_BROKERS_DOWN, e._DESTROY_BROKER}

    def _raise_fatal(self) -> None:
        """Fail fast on errors retrying cannot fix (bad key/secret, TLS, lost offsets, a
        record too large for the client's limits, a server that is not Kafka)."""
        for err in self._errors:
            if self._too_large(err) and "in state UP)" not in err.str():  # its first answer: not Kafka's
                raise CcauditError(f"cannot reach Kafka at {self._bootstrap}: the server there does not answer as "
                                   f"Kafka does ({self._text(err)})")
            if self._is_fatal(err):
                kind = "authentication failed" if "AUTHENTICATION" in err.name() else "Kafka error"
                raise CcauditError(f"{kind}: {self._text(err)}")
        del self._errors[:-1]  # keep the last one for the "cannot reach" message

    def _text(self, err) -> str:
        if isinstance(err, self._ck.KafkaException) and err.args:
            err = err.args[0]
        text = err.str() if hasattr(err, "str") else str(err)
        return scrub_secrets(text.rstrip("\n"), self._secrets)  # (some of librdkafka's end in a newline)


def batches(source, deadline: Deadline) -> Iterator[list[Message]]:
    """Each ``consume``'s messages, for as long as asked for; failing if Kafka went away
    (``_check_stall``). ``source``: a KafkaSource, or a test's fake."""
    heard = time.monotonic()
    while True:
        batch = source.consume(BATCH, deadline.left(POLL))
        if any(not m.gone for m in batch):  # records, or a partition's end
            heard = time.monotonic()
        else:  # nothing, or records gone only (a deleted topic's partitions say so again and again)
            heard = _check_stall(source, heard, deadline)
        yield batch


def _check_stall(source, heard: float, deadline: Deadline) -> float:
    """After STALL seconds with nothing received since ``heard``, fail if the brokers are unreachable
    (librdkafka reconnects for ever, and --timeout may be half an hour away) or the topic is gone
    (``consume`` hears of that at the next metadata refresh, minutes on); else when to ask again."""
    if time.monotonic() - heard < STALL:
        return heard
    waited = f"nothing received for {STALL:g}s with records left to fetch"
    if why := source.unreachable():
        raise CcauditError(f"Kafka stopped answering: {waited}, and the brokers are unreachable ({why})")
    wait = deadline.left(ASK_FOR)  # (out of time: says so alone)
    try:
        source.check_topic(wait)
    except CcauditError as e:
        raise CcauditError(f"{waited}: {e}") from None
    return time.monotonic()


def confluent_kafka_installed() -> bool:
    """Whether confluent-kafka is there to import (found, not imported: that takes a second)."""
    return importlib.util.find_spec("confluent_kafka") is not None


def _import_confluent_kafka():
    try:
        import confluent_kafka
        import confluent_kafka.admin  # noqa: F401  (list_topics imports it lazily, as a broker first answers: a
        # Ctrl-C then became an ImportError, "internal error", exit 70)
    except ImportError:
        raise MissingExtra(INSTALL_HINT) from None
    return confluent_kafka


def _timestamp(m) -> int | None:
    """The message's Kafka timestamp in ms, or None when the broker has none."""
    kind, ms = m.timestamp()
    return ms if kind else None  # kind 0: TIMESTAMP_NOT_AVAILABLE


class Deadline:
    """--timeout for the whole run, handed out as per-call timeouts."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self, cap: float | None = None) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise CcauditError(f"timed out after {self.seconds:g}s (--timeout) before reaching the end of the topic")
        return min(left, cap) if cap else left

    @contextlib.contextmanager
    def owning(self, cap: float) -> Iterator[float]:
        """The time a call may take (``left``); if it fails once the run's time is up, it
        says so first: the time cut it short ("cannot read the offsets: Timed out" alone
        blamed a slow broker on Kafka)."""
        wait = self.left(cap)
        try:
            yield wait
        except CcauditError as e:
            if self.at - time.monotonic() <= 0:
                raise CcauditError(f"timed out after {self.seconds:g}s (--timeout): {e}") from None
            raise

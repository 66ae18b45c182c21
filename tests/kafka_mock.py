"""librdkafka's in-process mock cluster, for tests that need the real Kafka wire protocol.

The cluster lives inside a Producer created with ``test.mock.num.brokers`` and
listens on localhost TCP ports, so any separate consumer can connect to it. Its
address is only printed in the producer's ``mock`` debug log, so we catch it there.
Topics are auto-created with 4 partitions on first produce.
"""
import logging
import re
import time

PARTITIONS = 4  # the mock's default for auto-created topics


class _BootstrapCatcher(logging.Handler):
    def __init__(self):
        super().__init__()
        self.bootstrap = None

    def emit(self, record):
        m = re.search(r"bootstrap\.servers=(\S+)", record.getMessage())
        if m and not self.bootstrap:
            self.bootstrap = m.group(1)


class MockCluster:
    """A mock cluster and a producer to fill it; ``bootstrap`` is its real address."""

    def __init__(self, brokers: int = 3):
        from confluent_kafka import Producer

        catcher = _BootstrapCatcher()
        log = logging.getLogger(f"kafka_mock.{id(self)}")
        log.addHandler(catcher)
        log.propagate = False  # the mock's debug log is noise
        log.setLevel(logging.DEBUG)
        self._producer = Producer(
            {"test.mock.num.brokers": brokers, "bootstrap.servers": "dummy:9092",
             "debug": "mock", "logger": log}
        )
        until = time.monotonic() + 5
        while catcher.bootstrap is None and time.monotonic() < until:
            self._producer.poll(0.05)  # log lines are delivered by poll()
        if catcher.bootstrap is None:
            raise RuntimeError("mock cluster did not log its bootstrap.servers")
        self.bootstrap = catcher.bootstrap
        log.setLevel(logging.WARNING)  # drop the mock's per-request debug lines from now on

    def produce(self, topic: str, values, partition: int | None = None) -> None:
        """Produce ``values`` round-robin over the partitions (or all to ``partition``)."""
        for i, value in enumerate(values):
            p = partition if partition is not None else i % PARTITIONS
            self._producer.produce(topic, value=value, partition=p)
        if self._producer.flush(10) != 0:
            raise RuntimeError("mock cluster did not take all records")

"""librdkafka's in-process mock cluster, for tests that need the real Kafka wire protocol.

The cluster lives inside a Producer created with ``test.mock.num.brokers`` and
listens on localhost TCP ports, so any separate consumer can connect to it. Its
address is only printed in the producer's ``mock`` debug log, so we catch it there.
Topics are auto-created with 4 partitions on first produce. ``ControlledCluster`` makes
one through the C API instead, for what the Python client cannot ask (brokers going down).
"""
import ctypes
import ctypes.util
import glob
import logging
import os
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


class ControlledCluster:
    """A mock cluster made through librdkafka's C API (ctypes), for what the Python client
    cannot ask of it: exact partition counts, and brokers that go down mid-run."""

    def __init__(self, brokers: int = 1):
        self._lib = lib = _librdkafka()
        err = ctypes.create_string_buffer(512)
        conf = lib.rd_kafka_conf_new()
        lib.rd_kafka_conf_set(conf, b"log_level", b"3", err, len(err))  # not "no bootstrap.servers"
        self._rk = lib.rd_kafka_new(0, conf, err, len(err))  # 0: a producer
        if not self._rk:
            raise RuntimeError(err.value.decode())
        self._mc = lib.rd_kafka_mock_cluster_new(self._rk, brokers)
        self.brokers = range(1, brokers + 1)  # the mock numbers its brokers from 1
        self.bootstrap = lib.rd_kafka_mock_cluster_bootstraps(self._mc).decode()

    def create_topic(self, topic: str, partitions: int) -> None:
        if self._lib.rd_kafka_mock_topic_create(self._mc, topic.encode(), partitions, 1):
            raise RuntimeError(f"mock cluster did not create {topic}")

    def delete_topic(self, topic: str) -> None:
        if self._lib.rd_kafka_mock_topic_delete(self._mc, topic.encode()):
            raise RuntimeError(f"mock cluster did not delete {topic}")

    def produce(self, topic: str, values, partition: int = 0) -> None:
        """One request per value, so that a fetch cannot take them all at once."""
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 0})
        for value in values:
            producer.produce(topic, value=value, partition=partition)
            producer.flush(10)
        if producer.flush(10) != 0:
            raise RuntimeError("mock cluster did not take all records")

    def set_rtt(self, ms: int) -> None:
        for b in self.brokers:
            self._lib.rd_kafka_mock_broker_set_rtt(self._mc, b, ms)

    def set_leader(self, topic: str, partition: int, broker: int) -> None:
        """Make ``broker`` the partition's leader; -1: none (it is listed, but has no leader)."""
        if self._lib.rd_kafka_mock_partition_set_leader(self._mc, topic.encode(), partition, broker):
            raise RuntimeError(f"mock cluster did not set the leader of {topic} partition {partition}")

    def set_down(self) -> None:
        """Every broker closes its connections and refuses new ones."""
        for b in self.brokers:
            self._lib.rd_kafka_mock_broker_set_down(self._mc, b)

    def set_up(self) -> None:
        """Every broker takes connections again (after ``set_down``)."""
        for b in self.brokers:
            self._lib.rd_kafka_mock_broker_set_up(self._mc, b)

    def fail_next(self, api_key: int, *errors: int) -> None:
        """The next requests of ``api_key`` (2: ListOffsets) answered with these error codes."""
        self._lib.rd_kafka_mock_push_request_errors_array(self._mc, api_key, len(errors),
                                                          (ctypes.c_int * len(errors))(*errors))

    def slow_next(self, api_key: int, count: int, ms: int) -> None:
        """Each broker answers its next ``count`` requests of ``api_key`` only after ``ms``."""
        push = self._lib.rd_kafka_mock_broker_push_request_error_rtts  # variadic: (error, rtt) pairs
        for b in self.brokers:
            push(ctypes.c_void_p(self._mc), ctypes.c_int32(b), ctypes.c_int16(api_key), ctypes.c_size_t(count),
                 *[ctypes.c_int(v) for _ in range(count) for v in (0, ms)])

    def close(self) -> None:
        self._lib.rd_kafka_mock_cluster_destroy(self._mc)
        self._lib.rd_kafka_destroy(self._rk)


def _librdkafka():
    """The librdkafka the confluent-kafka wheel bundles, with the mock API's signatures."""
    import confluent_kafka

    folder = os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs")
    found = glob.glob(os.path.join(folder, "librdkafka*.so*"))
    lib = ctypes.CDLL(found[0] if found else ctypes.util.find_library("rdkafka"))
    vp, i32, cint = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int
    for name, restype, argtypes in [
        ("rd_kafka_conf_new", vp, []),
        ("rd_kafka_conf_set", cint, [vp, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]),
        ("rd_kafka_new", vp, [cint, vp, ctypes.c_char_p, ctypes.c_size_t]),
        ("rd_kafka_destroy", None, [vp]),
        ("rd_kafka_mock_cluster_new", vp, [vp, cint]),
        ("rd_kafka_mock_cluster_destroy", None, [vp]),
        ("rd_kafka_mock_cluster_bootstraps", ctypes.c_char_p, [vp]),
        ("rd_kafka_mock_topic_create", cint, [vp, ctypes.c_char_p, cint, cint]),
        ("rd_kafka_mock_topic_delete", cint, [vp, ctypes.c_char_p]),
        ("rd_kafka_mock_broker_set_down", cint, [vp, i32]),
        ("rd_kafka_mock_broker_set_up", cint, [vp, i32]),
        ("rd_kafka_mock_broker_set_rtt", cint, [vp, i32, cint]),
        ("rd_kafka_mock_partition_set_leader", cint, [vp, ctypes.c_char_p, i32, i32]),
        ("rd_kafka_mock_push_request_errors_array", None, [vp, ctypes.c_int16, ctypes.c_size_t,
                                                           ctypes.POINTER(cint)]),
    ]:
        getattr(lib, name).restype, getattr(lib, name).argtypes = restype, argtypes
    return lib

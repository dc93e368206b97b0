"""Real Kafka client libraries against `kafka-fuzz serve`.

Run by scripts/client-tests.sh, which starts the server and sets
KAFKA_FUZZ_BOOTSTRAP (host:port). Standard library unittest only:

    KAFKA_FUZZ_BOOTSTRAP=127.0.0.1:9092 python tests/clients/test_python_clients.py [TEST ...]

(TEST like ConfluentKafkaTest.test_codec_zstd; all of them by default.)

Every test uses its own topic and group, so the tests share one server.
Counts are exact: every test checks that the messages consumed are exactly
the messages acknowledged, partition by partition, offset by offset, in
produce order.
"""

import collections
import json
import logging
import os
import sys
import threading
import time
import unittest
import uuid


import confluent_kafka
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kafka
import kafka.admin
import kafka.errors

import suite

BOOTSTRAP = os.environ.get("KAFKA_FUZZ_BOOTSTRAP", "127.0.0.1:9092")
MESSAGES = 5000
PARTITIONS = 3
# Bounds on every wait: a hang fails the test instead of blocking CI.
PRODUCE_TIMEOUT_S = 60
CONSUME_TIMEOUT_S = 60
GROUP_TIMEOUT_S = 30
# How long a consumer keeps polling after it has everything, to catch
# duplicates and extra messages.
QUIET_S = 1.5

log = logging.getLogger("client-tests")


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def payload(tag, i):
    """A value that names its message and compresses like real data."""
    return f"{tag}-{i:05d}|".encode() + b"kafka-fuzz reference payload " * 3


def key_of(i):
    # Keyed so the default partitioners spread the messages over every
    # partition deterministically.
    return f"key-{i % 17}".encode()


class Record(collections.namedtuple("Record", "partition offset key value")):
    """One message as acknowledged to a producer or returned to a consumer."""


# ---------------------------------------------------------------------------
# checks shared by the tests


class ClientTestCase(unittest.TestCase):
    maxDiff = 4000

    def assert_exactly_once(self, produced, consumed, partitions):
        """`consumed` is exactly `produced`: same (partition, offset, key,
        value) set, nothing twice, offsets strictly increasing per partition,
        and per partition the values come in the order they were produced.
        `produced` lists acknowledged records in produce order."""
        self.assertEqual(len(consumed), len(produced), "consumed count != acknowledged count")
        values = [r.value for r in consumed]
        dupes = [v for v, n in collections.Counter(values).items() if n > 1]
        self.assertEqual(dupes[:5], [], f"{len(dupes)} values consumed more than once")
        self.assertEqual(set(consumed), set(produced), "consumed records differ from acknowledged ones")
        by_partition = collections.defaultdict(list)
        for r in consumed:
            by_partition[r.partition].append(r)
        self.assertEqual(sorted(by_partition), list(range(partitions)), "not every partition got messages")
        produced_order = collections.defaultdict(list)
        for r in produced:
            produced_order[r.partition].append(r.value)
        for p, records in by_partition.items():
            offsets = [r.offset for r in records]
            self.assertTrue(
                all(a < b for a, b in zip(offsets, offsets[1:])),
                f"partition {p}: offsets not strictly increasing",
            )
            # Nothing else was written to a fresh topic: offsets are 0..n-1.
            self.assertEqual(offsets, list(range(len(records))), f"partition {p}: offsets not 0..n-1")
            self.assertEqual([r.value for r in records], produced_order[p], f"partition {p}: not in produce order")

    def end_offsets(self, produced, partitions):
        ends = {p: 0 for p in range(partitions)}
        for r in produced:
            ends[r.partition] = max(ends[r.partition], r.offset + 1)
        return ends


# ---------------------------------------------------------------------------
# confluent-kafka (librdkafka)


def rd_admin():
    return AdminClient({"bootstrap.servers": BOOTSTRAP})


def rd_create_topic(test, name, partitions):
    """CreateTopics through the AdminClient, then checks Metadata lists it."""
    admin = rd_admin()
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)], request_timeout=15)
    futures[name].result(timeout=GROUP_TIMEOUT_S)
    # Creating it again is refused with TOPIC_ALREADY_EXISTS, as Kafka does.
    again = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)], request_timeout=15)
    with test.assertRaises(KafkaException) as raised:
        again[name].result(timeout=GROUP_TIMEOUT_S)
    test.assertEqual(raised.exception.args[0].code(), KafkaError.TOPIC_ALREADY_EXISTS)
    metadata = admin.list_topics(topic=name, timeout=15)
    topic = metadata.topics[name]
    test.assertIsNone(topic.error)
    test.assertEqual(sorted(topic.partitions), list(range(partitions)))
    test.assertEqual(len(metadata.brokers), 1)
    broker = next(iter(metadata.brokers.values()))
    test.assertEqual(f"{broker.host}:{broker.port}", BOOTSTRAP)
    for p in topic.partitions.values():
        test.assertEqual(p.leader, broker.id)
        test.assertIsNone(p.error)
    return metadata


def rd_produce(test, topic, n, tag, extra_config=None, headers=True):
    """Produces n keyed messages; returns the acknowledged records in
    produce order. Fails on any delivery error."""
    stats = []
    config = {
        "bootstrap.servers": BOOTSTRAP,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": PRODUCE_TIMEOUT_S * 1000,
        "statistics.interval.ms": 100,
        "stats_cb": stats.append,
    }
    config.update(extra_config or {})
    producer = Producer(config)
    acked = [None] * n
    errors = []

    def make_callback(i):
        def delivered(err, msg):
            if err is not None:
                errors.append((i, err))
            else:
                acked[i] = Record(msg.partition(), msg.offset(), msg.key(), msg.value())
        return delivered

    for i in range(n):
        kwargs = {"key": key_of(i), "value": payload(tag, i), "on_delivery": make_callback(i)}
        if headers:
            kwargs["headers"] = [("i", str(i).encode()), ("tag", tag.encode())]
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(PRODUCE_TIMEOUT_S)
    test.assertEqual(left, 0, f"{left} messages not delivered within {PRODUCE_TIMEOUT_S}s")
    test.assertEqual(errors[:5], [], f"{len(errors)} delivery errors")
    test.assertNotIn(None, acked)
    check_wire_size(test, producer, stats, config.get("compression.type", "none"), acked)
    return acked


def check_wire_size(test, producer, stats, codec, acked):
    """The codec really was used: librdkafka's count of bytes sent to the
    brokers is below half the payload when compressed (the payloads are
    repetitive), above all of it when not."""
    stats.clear()
    deadline = time.monotonic() + 5
    while not stats and time.monotonic() < deadline:
        producer.poll(0.1)
    test.assertTrue(stats, "no librdkafka statistics")
    sent = sum(b["txbytes"] for b in json.loads(stats[-1])["brokers"].values())
    payload_bytes = sum(len(r.value) for r in acked)
    if codec == "none":
        test.assertGreater(sent, payload_bytes, f"{sent} bytes sent for {payload_bytes} bytes uncompressed")
    else:
        test.assertLess(sent, payload_bytes / 2, f"{codec}: {sent} bytes sent for {payload_bytes} bytes of payload")


def rd_consumer(group, extra_config=None):
    config = {
        "bootstrap.servers": BOOTSTRAP,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 1000,
    }
    config.update(extra_config or {})
    return Consumer(config)


def rd_record(test, msg, expect_headers=True):
    test.assertIsNone(msg.error(), f"consumer error: {msg.error()}")
    if expect_headers:
        headers = dict(msg.headers() or [])
        index = int(msg.value().split(b"|")[0].rsplit(b"-", 1)[1])
        test.assertEqual(headers.get("i"), str(index).encode(), "header 'i' does not match the value")
    return Record(msg.partition(), msg.offset(), msg.key(), msg.value())


def rd_consume(test, consumer, expected, expect_headers=True):
    """Polls until `expected` messages came, then QUIET_S more to catch
    extras. Returns the records in arrival order."""
    records = []
    deadline = time.monotonic() + CONSUME_TIMEOUT_S
    quiet_until = None
    while True:
        now = time.monotonic()
        if quiet_until is None and len(records) >= expected:
            quiet_until = now + QUIET_S
        if quiet_until is not None and now >= quiet_until:
            break
        if now >= deadline:
            test.fail(f"consumed {len(records)} of {expected} messages in {CONSUME_TIMEOUT_S}s")
        for msg in consumer.consume(num_messages=500, timeout=0.2):
            if msg.error() is not None and msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            records.append(rd_record(test, msg, expect_headers))
    return records


def wait_assigned(test, consumer, count):
    """Polls (consuming nothing) until the consumer holds `count` partitions."""
    deadline = time.monotonic() + GROUP_TIMEOUT_S
    while len(consumer.assignment()) != count:
        test.assertLess(time.monotonic(), deadline, f"no assignment of {count} partitions in {GROUP_TIMEOUT_S}s")
        msg = consumer.poll(0.1)
        test.assertIsNone(msg, "a message arrived while only waiting for the assignment")


def rd_check_committed(test, group, topic, ends):
    """A fresh consumer of the group reads the committed offsets back
    (OffsetFetch), joins the group and gets nothing: it resumes at the
    committed offsets. Then one marker message per partition is produced:
    it gets exactly those, each at the old end offset of its partition."""
    partitions = [TopicPartition(topic, p) for p in sorted(ends)]
    consumer = rd_consumer(group)
    try:
        committed = consumer.committed(partitions, timeout=15)
        test.assertEqual({tp.partition: tp.offset for tp in committed}, ends, "committed offsets read back")
        for tp in committed:
            test.assertIsNone(tp.error)
        low_high = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15) for p in ends}
        test.assertEqual(low_high, {p: (0, end) for p, end in ends.items()}, "watermarks")
        consumer.subscribe([topic])
        wait_assigned(test, consumer, len(ends))
        quiet_until = time.monotonic() + QUIET_S
        while time.monotonic() < quiet_until:
            msg = consumer.poll(0.1)
            test.assertIsNone(msg, "a consumer of the group got a message after everything was committed")
        producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all"})
        for p in ends:
            producer.produce(topic, value=f"marker-{p}".encode(), partition=p)
        test.assertEqual(producer.flush(PRODUCE_TIMEOUT_S), 0)
        got = rd_consume(test, consumer, len(ends), expect_headers=False)
        test.assertEqual(
            sorted((r.partition, r.offset, r.value) for r in got),
            [(p, end, f"marker-{p}".encode()) for p, end in sorted(ends.items())],
            "after the commit, a group member reads exactly the new messages",
        )
    finally:
        consumer.close()


class EveryCodec:
    """One test per compression codec, each through the client's own
    produce_and_consume."""

    def test_codec_none(self):
        self.produce_and_consume("none")

    def test_codec_gzip(self):
        self.produce_and_consume("gzip")

    def test_codec_snappy(self):
        self.produce_and_consume("snappy")

    def test_codec_lz4(self):
        self.produce_and_consume("lz4")

    def test_codec_zstd(self):
        self.produce_and_consume("zstd")


class ConfluentKafkaTest(EveryCodec, ClientTestCase):
    """librdkafka through confluent-kafka."""

    def produce_and_consume(self, codec, extra_producer_config=None, partitions=PARTITIONS):
        topic = unique(f"rd-{codec}")
        group = unique(f"rd-{codec}-group")
        rd_create_topic(self, topic, partitions)
        config = {"compression.type": codec}
        config.update(extra_producer_config or {})
        produced = rd_produce(self, topic, MESSAGES, codec, config)
        consumer = rd_consumer(group)
        try:
            consumer.subscribe([topic])
            consumed = rd_consume(self, consumer, MESSAGES)
            self.assert_exactly_once(produced, consumed, partitions)
            consumer.commit(asynchronous=False)
            ends = self.end_offsets(produced, partitions)
            committed = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=15)
            self.assertEqual({tp.partition: tp.offset for tp in committed}, ends)
        finally:
            consumer.close()
        rd_check_committed(self, group, topic, ends)

    def test_idempotent_producer(self):
        """enable.idempotence=true (InitProducerId, sequence numbers), with
        up to 5 requests in flight per partition."""
        self.produce_and_consume(
            "lz4",
            {"enable.idempotence": True, "max.in.flight.requests.per.connection": 5, "linger.ms": 1},
        )

    def test_cluster_metadata(self):
        """Metadata of the whole cluster: the one broker, as controller;
        auto-creation by Metadata of a topic asked for by name.

        list_topics() without a topic makes librdkafka 2.x send Metadata
        v13 for all topics with the null topics array left in a 4-byte slot
        (`00 00 00 00`, librdkafka issue #5049), so 3 bytes follow the body
        as Kafka's schema reads it; Apache Kafka ignores them, and so must
        kafka-fuzz serve."""
        admin = rd_admin()
        metadata = admin.list_topics(timeout=15)
        self.assertEqual(len(metadata.brokers), 1)
        (broker_id,) = metadata.brokers
        self.assertEqual(metadata.controller_id, broker_id)
        # orig_broker_id is librdkafka's own handle for the connection that
        # answered: -1 while that is still the bootstrap connection.
        self.assertIn(metadata.orig_broker_id, (-1, broker_id))
        self.assertTrue(metadata.cluster_id, "cluster id")
        name = unique("rd-auto")
        self.assertNotIn(name, metadata.topics)
        # A producer's Metadata request for an unknown topic creates it.
        producer = Producer({"bootstrap.servers": BOOTSTRAP})
        topic = producer.list_topics(topic=name, timeout=15).topics[name]
        self.assertIsNone(topic.error)
        self.assertGreaterEqual(len(topic.partitions), 1)
        self.assertIn(name, admin.list_topics(timeout=15).topics)

    def test_64_concurrent_producers(self):
        """64 producers, each with its own connections, all connected before
        any of them sends and all kept open until every one has flushed;
        200 messages each. Every acknowledged message is consumed exactly
        once."""
        producers, per_producer = 64, 200
        topic = unique("rd-concurrent")
        group = unique("rd-concurrent-group")
        rd_create_topic(self, topic, PARTITIONS)
        connected = threading.Barrier(producers, timeout=GROUP_TIMEOUT_S)
        flushed = threading.Barrier(producers, timeout=PRODUCE_TIMEOUT_S + GROUP_TIMEOUT_S)
        lock = threading.Lock()
        acked, failed, crashed = [], [], []

        def run(n):
            try:
                producer = Producer({
                    "bootstrap.servers": BOOTSTRAP,
                    "acks": "all",
                    "linger.ms": 2,
                    "message.timeout.ms": PRODUCE_TIMEOUT_S * 1000,
                })
                # Connected (Metadata answered) before any sends.
                producer.list_topics(topic=topic, timeout=15)
                connected.wait()

                def delivered(err, msg):
                    with lock:
                        if err is None:
                            acked.append(Record(msg.partition(), msg.offset(), msg.key(), msg.value()))
                        else:
                            failed.append(err)

                for i in range(per_producer):
                    key = f"p{n:02d}-{i % 7}".encode()
                    value = f"p{n:02d}-{i:05d}|".encode()
                    producer.produce(topic, key=key, value=value, on_delivery=delivered)
                    producer.poll(0)
                left = producer.flush(PRODUCE_TIMEOUT_S)
                if left:
                    with lock:
                        failed.append(f"producer {n}: {left} undelivered")
                flushed.wait()
            except Exception as error:  # reported below, in the test thread
                connected.abort()
                flushed.abort()
                with lock:
                    crashed.append(f"producer {n}: {error!r}")

        threads = [threading.Thread(target=run, args=(n,)) for n in range(producers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(PRODUCE_TIMEOUT_S + 30)
        self.assertFalse(any(t.is_alive() for t in threads), "producer threads hang")
        self.assertEqual(crashed[:5], [], f"{len(crashed)} producer threads failed")
        self.assertEqual(failed[:5], [], f"{len(failed)} delivery failures")
        self.assertEqual(len(acked), producers * per_producer)
        # Acknowledged offsets are 0..n-1 per partition, and each producer's
        # messages are in its produce order within a partition.
        acked.sort(key=lambda r: (r.partition, r.offset))
        for p in range(PARTITIONS):
            offsets = [r.offset for r in acked if r.partition == p]
            self.assertEqual(offsets, list(range(len(offsets))), f"partition {p}: acknowledged offsets not 0..n-1")
        for n in range(producers):
            for p in range(PARTITIONS):
                seq = [int(r.value[4:9]) for r in acked if r.partition == p and r.value.startswith(f"p{n:02d}-".encode())]
                self.assertEqual(seq, sorted(seq), f"producer {n} partition {p}: acknowledged out of order")

        consumer = rd_consumer(group)
        try:
            consumer.subscribe([topic])
            consumed = rd_consume(self, consumer, len(acked), expect_headers=False)
            self.assert_exactly_once(acked, consumed, PARTITIONS)
            consumer.commit(asynchronous=False)
        finally:
            consumer.close()
        rd_check_committed(self, group, topic, self.end_offsets(acked, PARTITIONS))

    def test_group_of_two_members_rebalances(self):
        """Two consumers of one group on a 4-partition topic: the second
        member joining splits the partitions 2 + 2, the second leaving gives
        all 4 back to the first; offsets are committed on every revocation,
        so together they consume every message exactly once."""
        partitions = 4
        topic = unique("rd-group2")
        group = unique("rd-group2-group")
        rd_create_topic(self, topic, partitions)
        produced = rd_produce(self, topic, 2000, "phase1")

        class Member:
            def __init__(self, name):
                self.name = name
                self.records = []
                self.assignment = set()
                self.assignments = []  # every assignment, in order
                self.errors = []
                self.stop = threading.Event()
                self.lock = threading.Lock()
                self.consumer = rd_consumer(group, {"client.id": name})
                self.thread = threading.Thread(target=self.run, name=name)

            def on_assign(self, consumer, partitions):
                with self.lock:
                    self.assignment = {tp.partition for tp in partitions}
                    self.assignments.append(sorted(self.assignment))

            def on_revoke(self, consumer, partitions):
                # Eager rebalancing: commit what was consumed before the
                # partitions move, so the next owner starts after it.
                try:
                    consumer.commit(asynchronous=False)
                except KafkaException as error:
                    if error.args[0].code() != KafkaError._NO_OFFSET:
                        self.errors.append(f"commit on revoke: {error}")
                with self.lock:
                    self.assignment = set()

            def run(self):
                try:
                    self.consumer.subscribe([topic], on_assign=self.on_assign, on_revoke=self.on_revoke)
                    while not self.stop.is_set():
                        for msg in self.consumer.consume(num_messages=100, timeout=0.1):
                            if msg.error() is not None:
                                self.errors.append(str(msg.error()))
                                continue
                            with self.lock:
                                self.records.append(Record(msg.partition(), msg.offset(), msg.key(), msg.value()))
                    self.consumer.commit(asynchronous=False)
                except KafkaException as error:
                    if error.args[0].code() != KafkaError._NO_OFFSET:
                        self.errors.append(repr(error))
                except Exception as error:
                    self.errors.append(repr(error))
                finally:
                    self.consumer.close()

            def count(self):
                with self.lock:
                    return len(self.records)

            def held(self):
                with self.lock:
                    return set(self.assignment)

        def wait_for(what, condition, timeout=GROUP_TIMEOUT_S):
            deadline = time.monotonic() + timeout
            while not condition():
                if time.monotonic() > deadline:
                    self.fail(f"timed out waiting for {what}: a={a.held()} b={b.held()} "
                              f"a.count={a.count()} b.count={b.count()} errors={a.errors + b.errors}")
                time.sleep(0.05)

        a, b = Member("member-a"), Member("member-b")
        try:
            a.thread.start()
            wait_for("member a to hold all 4 partitions", lambda: a.held() == {0, 1, 2, 3})
            wait_for("member a to consume some", lambda: a.count() > 0)
            b.thread.start()
            wait_for(
                "the partitions split 2 + 2",
                lambda: len(a.held()) == 2 and len(b.held()) == 2 and a.held() | b.held() == {0, 1, 2, 3},
            )
            produced += rd_produce(self, topic, 2000, "phase2")
            wait_for("both members to consume phase 2", lambda: a.count() + b.count() >= 4000)
            time.sleep(QUIET_S)
            self.assertGreater(b.count(), 0, "member b consumed nothing")
            b.stop.set()
            b.thread.join(GROUP_TIMEOUT_S)
            self.assertFalse(b.thread.is_alive(), "member b does not stop")
            wait_for("member a to hold all 4 partitions again", lambda: a.held() == {0, 1, 2, 3})
            produced += rd_produce(self, topic, 1000, "phase3")
            wait_for("member a to consume phase 3", lambda: a.count() + b.count() >= 5000)
            time.sleep(QUIET_S)
        finally:
            a.stop.set()
            b.stop.set()
            for m in (a, b):
                if m.thread.is_alive() or m.thread.ident is not None:
                    m.thread.join(GROUP_TIMEOUT_S)
        self.assertEqual(a.errors + b.errors, [])
        log.info("group of two: a assignments %s, b assignments %s, a consumed %d, b consumed %d",
                 a.assignments, b.assignments, a.count(), b.count())
        consumed = sorted(a.records + b.records, key=lambda r: (r.partition, r.offset))
        self.assert_exactly_once(produced, consumed, partitions)
        # Each member's own records are in order per partition too.
        for m in (a, b):
            for p in range(partitions):
                offsets = [r.offset for r in m.records if r.partition == p]
                self.assertEqual(offsets, sorted(set(offsets)), f"{m.name} partition {p}")
        rd_check_committed(self, group, topic, self.end_offsets(produced, partitions))


# ---------------------------------------------------------------------------
# kafka-python


def kp_create_topic(test, name, partitions):
    admin = kafka.admin.KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=15000)
    try:
        admin.create_topics([kafka.admin.NewTopic(name, num_partitions=partitions, replication_factor=1)])
        with test.assertRaises(kafka.errors.TopicAlreadyExistsError):
            admin.create_topics([kafka.admin.NewTopic(name, num_partitions=partitions, replication_factor=1)])
        test.assertIn(name, admin.list_topics())
    finally:
        admin.close()


# kafka-python 3.0.12 can drop its own group join: when a poll() times out
# while a JoinGroup/SyncGroup round is in flight and, as group leader, it has
# meanwhile taken the metadata snapshot the round was started for, the next
# poll() sees need_rejoin() False and never awaits the round, so the
# assignment is never applied and the heartbeat stays disabled until the
# session times out (seen with poll(timeout_ms=100) on a first join that
# happens before the topic's metadata arrived). A client bug, not a server
# one: polls here use a timeout far longer than a loopback join takes.
KP_POLL_MS = 1000


def kp_consumer(topic, group):
    return kafka.KafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=10000,
        heartbeat_interval_ms=1000,
    )


def kp_poll(consumer, until):
    """Polls until the monotonic time `until`; returns every message."""
    got = []
    while True:
        left_ms = int((until - time.monotonic()) * 1000)
        if left_ms <= 0:
            return got
        for messages in consumer.poll(timeout_ms=min(left_ms, KP_POLL_MS)).values():
            got.extend(messages)


class KafkaPythonTest(EveryCodec, ClientTestCase):
    """kafka-python: pure-Python producer and group consumer."""

    def produce_and_consume(self, codec):
        topic = unique(f"kp-{codec}")
        group = unique(f"kp-{codec}-group")
        kp_create_topic(self, topic, PARTITIONS)
        producer = kafka.KafkaProducer(
            bootstrap_servers=BOOTSTRAP,
            acks="all",
            linger_ms=5,
            compression_type=None if codec == "none" else codec,
            request_timeout_ms=15000,
        )
        try:
            futures = []
            for i in range(MESSAGES):
                futures.append(producer.send(
                    topic,
                    key=key_of(i),
                    value=payload(codec, i),
                    headers=[("i", str(i).encode())],
                ))
            producer.flush(timeout=PRODUCE_TIMEOUT_S)
            produced = []
            for i, future in enumerate(futures):
                meta = future.get(timeout=PRODUCE_TIMEOUT_S)
                produced.append(Record(meta.partition, meta.offset, key_of(i), payload(codec, i)))
            # The codec really was used: compressed size / uncompressed size.
            rate = producer.metrics()["producer-metrics"]["compression-rate-avg"]
            if codec == "none":
                self.assertEqual(rate, 1.0)
            else:
                self.assertLess(rate, 0.5, f"{codec}: compression rate")
        finally:
            producer.close(timeout=15)

        ends = self.end_offsets(produced, PARTITIONS)
        tps = [kafka.TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer = kp_consumer(topic, group)
        try:
            consumed = []
            deadline = time.monotonic() + CONSUME_TIMEOUT_S
            while len(consumed) < MESSAGES:
                self.assertLess(time.monotonic(), deadline,
                                f"consumed {len(consumed)} of {MESSAGES} in {CONSUME_TIMEOUT_S}s")
                for tp, messages in consumer.poll(timeout_ms=KP_POLL_MS).items():
                    for m in messages:
                        index = int(m.value.split(b"|")[0].rsplit(b"-", 1)[1])
                        self.assertEqual(dict(m.headers).get("i"), str(index).encode(), "header 'i'")
                        consumed.append(Record(m.partition, m.offset, m.key, m.value))
            consumed += [Record(m.partition, m.offset, m.key, m.value)
                         for m in kp_poll(consumer, time.monotonic() + QUIET_S)]
            self.assert_exactly_once(produced, consumed, PARTITIONS)
            consumer.commit()
            self.assertEqual({tp.partition: consumer.committed(tp) for tp in tps}, ends)
            self.assertEqual({tp.partition: off for tp, off in consumer.end_offsets(tps).items()}, ends)
        finally:
            consumer.close()

        # A second consumer of the group: reads the committed offsets back,
        # gets nothing, and stands at the end of every partition.
        consumer = kp_consumer(topic, group)
        try:
            self.assertEqual({tp.partition: consumer.committed(tp) for tp in tps}, ends)
            deadline = time.monotonic() + GROUP_TIMEOUT_S
            got = []
            while len(consumer.assignment()) < PARTITIONS:
                self.assertLess(time.monotonic(), deadline, "second consumer got no assignment")
                for messages in consumer.poll(timeout_ms=KP_POLL_MS).values():
                    got.extend(messages)
            got += kp_poll(consumer, time.monotonic() + QUIET_S)
            self.assertEqual(got, [], "the group's second consumer got messages after the commit")
            self.assertEqual({tp.partition: consumer.position(tp) for tp in tps}, ends)
        finally:
            consumer.close()


class TimedResult(unittest.TextTestResult):
    """Prints each test's duration before its "ok" / "FAIL" / "ERROR"."""

    def startTest(self, test):
        self.started = time.monotonic()
        super().startTest(test)

    def elapsed(self):
        self.stream.write(f"[{time.monotonic() - self.started:.1f}s] ")
        self.stream.flush()

    def addSuccess(self, test):
        self.elapsed()
        super().addSuccess(test)

    def addFailure(self, test, err):
        self.elapsed()
        super().addFailure(test, err)

    def addError(self, test, err):
        self.elapsed()
        super().addError(test, err)


def main():
    return suite.run(__name__, "python client tests",
                     f"confluent-kafka {confluent_kafka.version()[0]} (librdkafka {confluent_kafka.libversion()[0]}), "
                     f"kafka-python {kafka.__version__}; server {BOOTSTRAP}", result_class=TimedResult)


if __name__ == "__main__":
    sys.exit(main())

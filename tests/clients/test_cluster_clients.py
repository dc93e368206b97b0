"""Real Kafka clients against a three-node `kafka-fuzz serve --cluster 3`.

Run by scripts/client-tests.sh, which starts the cluster and sets
KAFKA_FUZZ_BOOTSTRAP (host:port,...) and KAFKA_FUZZ_CLUSTER_OUT (the
cluster's output: which node has which pid).

- librdkafka produces 5000 messages with acks=all and idempotence to a
  3-replica topic while the process of a partition leader is killed with
  SIGKILL halfway (the cluster restarts it); a consumer group then reads
  every acknowledged message exactly once, in order per partition.
- kafka-python produces and consumes through a group.
"""

import os
import re
import signal
import sys
import time
import unittest
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

import kafka

import test_python_clients as base
from test_python_clients import Record

BOOTSTRAP = os.environ["KAFKA_FUZZ_BOOTSTRAP"]
CLUSTER_OUT = os.environ["KAFKA_FUZZ_CLUSTER_OUT"]
MESSAGES = 5000
PARTITIONS = 3


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def node_pids():
    """Each node's current pid, from the cluster's output."""
    pids = {}
    with open(CLUSTER_OUT) as out:
        for line in out:
            started = re.match(r"node (\d+) on \S+ pid (\d+)", line) or re.match(
                r"node (\d+) restarted, pid (\d+)", line
            )
            if started:
                pids[int(started.group(1))] = int(started.group(2))
    return pids


def create_replicated_topic(test, name):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    futures = admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=3)], request_timeout=15)
    futures[name].result(timeout=30)
    metadata = admin.list_topics(topic=name, timeout=15)
    test.assertEqual(len(metadata.brokers), 3)
    topic = metadata.topics[name]
    for p in topic.partitions.values():
        test.assertEqual(sorted(p.replicas), [1, 2, 3])
    return admin


def wait_ready(timeout_s=30):
    """Until every node is listed and a controller is elected (the metadata
    quorum's leader): admin requests go to the controller."""
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    deadline = time.monotonic() + timeout_s
    while True:
        metadata = admin.list_topics(timeout=5)
        if metadata.controller_id >= 0 and len(metadata.brokers) == 3:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the cluster was not ready in {timeout_s}s: {metadata.brokers}, controller {metadata.controller_id}")
        time.sleep(0.2)


class ClusterTest(base.ClientTestCase):
    @classmethod
    def setUpClass(cls):
        wait_ready()
    def test_librdkafka_idempotent_acks_all_survives_a_killed_leader(self):
        topic, group = unique("failover"), unique("failover-group")
        admin = create_replicated_topic(self, topic)
        producer = Producer(
            {
                "bootstrap.servers": BOOTSTRAP,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "message.timeout.ms": 120_000,
            }
        )
        acked = [None] * MESSAGES
        errors = []

        def callback(i):
            def delivered(err, msg):
                if err is not None:
                    errors.append((i, str(err)))
                else:
                    acked[i] = Record(msg.partition(), msg.offset(), msg.key(), msg.value())

            return delivered

        killed = None
        for i in range(MESSAGES):
            if i == MESSAGES // 2:
                producer.flush(60)
                leader = admin.list_topics(topic=topic, timeout=15).topics[topic].partitions[0].leader
                killed = (leader, node_pids()[leader])
                os.kill(killed[1], signal.SIGKILL)
                print(f"killed node {leader} (pid {killed[1]}), the leader of partition 0, after {i} messages")
            while True:
                try:
                    producer.produce(topic, key=base.key_of(i), value=base.payload("fo", i), on_delivery=callback(i))
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        left = producer.flush(120)
        self.assertEqual(left, 0, f"{left} messages not delivered")
        self.assertEqual(errors[:5], [], f"{len(errors)} delivery errors")
        self.assertNotIn(None, acked)
        # The killed node came back (the cluster restarts it) with a new pid.
        deadline = time.monotonic() + 30
        while node_pids()[killed[0]] == killed[1]:
            self.assertLess(time.monotonic(), deadline, "the killed node was not restarted")
            time.sleep(0.2)
        consumer = base.rd_consumer(group)
        try:
            consumer.subscribe([topic])
            consumed = base.rd_consume(self, consumer, MESSAGES, expect_headers=False)
        finally:
            consumer.close()
        self.assertEqual(len({r.value for r in consumed}), MESSAGES)
        self.assert_exactly_once(acked, consumed, PARTITIONS)

    def test_kafka_python_produces_and_consumes(self):
        topic, group = unique("kp-cluster"), unique("kp-cluster-group")
        create_replicated_topic(self, topic)
        producer = kafka.KafkaProducer(bootstrap_servers=BOOTSTRAP.split(","), acks="all")
        futures = [producer.send(topic, key=base.key_of(i), value=base.payload("kp", i)) for i in range(500)]
        producer.flush(60)
        acked = []
        for i, future in enumerate(futures):
            meta = future.get(timeout=60)
            acked.append(Record(meta.partition, meta.offset, base.key_of(i), base.payload("kp", i)))
        producer.close()
        consumer = kafka.KafkaConsumer(
            topic,
            bootstrap_servers=BOOTSTRAP.split(","),
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=5000,
        )
        consumed = [Record(m.partition, m.offset, m.key, m.value) for m in consumer]
        consumer.close()
        self.assert_exactly_once(acked, consumed, PARTITIONS)


if __name__ == "__main__":
    logging_level = os.environ.get("LOG_LEVEL", "WARNING")
    import logging

    logging.basicConfig(level=logging_level)
    result = unittest.main(argv=sys.argv[:1] + sys.argv[1:], exit=False, verbosity=2).result
    passed = result.testsRun - len(result.failures) - len(result.errors)
    print(f"cluster client tests: {passed} passed, {len(result.failures) + len(result.errors)} failed")
    sys.exit(0 if result.wasSuccessful() else 1)

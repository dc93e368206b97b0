"""Real admin clients against `kafka-fuzz serve`: librdkafka's AdminClient
(PyPI confluent-kafka) and kafka-python's KafkaAdminClient create, describe,
alter and delete topics, add partitions, delete records, list offsets by
every spec, list, describe and delete consumer groups, describe the
cluster, its log directories and a partition's producers, and hold a
preferred-leader election.

Run by scripts/client-tests.sh, which starts the server and sets
KAFKA_FUZZ_BOOTSTRAP (host:port). Standard library unittest only:

    KAFKA_FUZZ_BOOTSTRAP=127.0.0.1:9092 python tests/clients/test_admin_clients.py [TEST ...]
"""

import os
import sys
import time
import unittest

import uuid

import confluent_kafka
from confluent_kafka import Consumer, ElectionType, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, NewTopic, OffsetSpec, ResourceType)

import kafka
import kafka.admin
import kafka.errors

import suite

BOOTSTRAP = os.environ.get("KAFKA_FUZZ_BOOTSTRAP", "127.0.0.1:9092")
TIMEOUT_S = 30


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_all(futures):
    """The results of a dict of admin futures, each within the timeout."""
    return {key: future.result(timeout=TIMEOUT_S) for key, future in futures.items()}


def produce(topic, partition, count, timestamps=None, idempotent=False):
    """`count` records to `partition`, at `timestamps` (ms) if given."""
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "enable.idempotence": idempotent})
    for i in range(count):
        extra = {"timestamp": timestamps[i]} if timestamps else {}
        producer.produce(topic, value=f"v{i}".encode(), partition=partition, **extra)
    remaining = producer.flush(TIMEOUT_S)
    assert remaining == 0, f"{remaining} messages not delivered"


def consume_one(topic, group):
    """A consumer joins `group`, reads one message of `topic` and commits;
    it is returned open, a member of the group."""
    consumer = Consumer({
        "bootstrap.servers": BOOTSTRAP,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            consumer.commit(message=message, asynchronous=False)
            return consumer
    consumer.close()
    raise AssertionError(f"{group} read nothing from {topic}")


class LibrdkafkaAdminTest(unittest.TestCase):
    def setUp(self):
        self.admin = AdminClient({"bootstrap.servers": BOOTSTRAP})

    def partitions(self, topic):
        metadata = self.admin.list_topics(topic=topic, timeout=TIMEOUT_S)
        entry = metadata.topics[topic]
        if entry.error is not None:
            return None
        return len(entry.partitions)

    def test_topics_are_created_grown_and_deleted(self):
        topic = unique("rd-admin")
        wait_all(self.admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)],
                                          request_timeout=TIMEOUT_S))
        self.assertEqual(self.partitions(topic), 1)
        wait_all(self.admin.create_partitions([NewPartitions(topic, 3)], request_timeout=TIMEOUT_S))
        self.assertEqual(self.partitions(topic), 3)
        produce(topic, 2, 3)
        with self.assertRaises(confluent_kafka.KafkaException) as shrink:
            wait_all(self.admin.create_partitions([NewPartitions(topic, 2)], request_timeout=TIMEOUT_S))
        self.assertEqual(shrink.exception.args[0].code(), confluent_kafka.KafkaError.INVALID_PARTITIONS)
        wait_all(self.admin.delete_topics([topic], request_timeout=TIMEOUT_S))
        self.assertNotIn(topic, self.admin.list_topics(timeout=TIMEOUT_S).topics)

    def test_records_are_deleted_below_an_offset(self):
        topic = unique("rd-records")
        wait_all(self.admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)],
                                          request_timeout=TIMEOUT_S))
        produce(topic, 0, 5)
        results = wait_all(self.admin.delete_records([TopicPartition(topic, 0, 3)], request_timeout=TIMEOUT_S))
        deleted = next(iter(results.values()))
        self.assertEqual(deleted.low_watermark, 3)
        consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": unique("rd-watermarks")})
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT_S)
        finally:
            consumer.close()
        self.assertEqual((low, high), (3, 5))

    def test_offsets_are_listed_by_every_spec(self):
        topic = unique("rd-offsets")
        wait_all(self.admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)],
                                          request_timeout=TIMEOUT_S))
        produce(topic, 0, 3, timestamps=[5_000, 9_000, 7_000])
        partition = TopicPartition(topic, 0)

        def listed(spec):
            result = wait_all(self.admin.list_offsets({partition: spec}, request_timeout=TIMEOUT_S))[partition]
            return result.offset, result.timestamp

        self.assertEqual(listed(OffsetSpec.earliest()), (0, -1))
        self.assertEqual(listed(OffsetSpec.latest()), (3, -1))
        self.assertEqual(listed(OffsetSpec.max_timestamp()), (1, 9_000))
        self.assertEqual(listed(OffsetSpec.for_timestamp(6_000)), (1, 9_000))
        self.assertEqual(listed(OffsetSpec.for_timestamp(10_000))[0], -1)
        wait_all(self.admin.delete_records([TopicPartition(topic, 0, 2)], request_timeout=TIMEOUT_S))
        self.assertEqual(listed(OffsetSpec.earliest()), (2, -1))

    def test_groups_are_listed_described_and_deleted(self):
        topic = unique("rd-groups")
        group = unique("rd-group")
        wait_all(self.admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)],
                                          request_timeout=TIMEOUT_S))
        produce(topic, 0, 1)
        consumer = consume_one(topic, group)
        try:
            listed = self.admin.list_consumer_groups(request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S)
            self.assertIn(group, [g.group_id for g in listed.valid])
            described = wait_all(self.admin.describe_consumer_groups([group], request_timeout=TIMEOUT_S))[group]
            self.assertEqual(described.group_id, group)
            self.assertEqual(len(described.members), 1)
            self.assertEqual(str(described.state), "ConsumerGroupState.STABLE")
            with self.assertRaises(confluent_kafka.KafkaException) as busy:
                wait_all(self.admin.delete_consumer_groups([group], request_timeout=TIMEOUT_S))
            self.assertEqual(busy.exception.args[0].code(), confluent_kafka.KafkaError.NON_EMPTY_GROUP)
        finally:
            consumer.close()
        wait_all(self.admin.delete_consumer_groups([group], request_timeout=TIMEOUT_S))
        listed = self.admin.list_consumer_groups(request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S)
        self.assertNotIn(group, [g.group_id for g in listed.valid])


    def test_topic_configs_are_described_altered_and_honoured(self):
        topic = unique("rd-configs")
        wait_all(self.admin.create_topics(
            [NewTopic(topic, num_partitions=1, replication_factor=1, config={"max.message.bytes": "2000"})],
            request_timeout=TIMEOUT_S))
        resource = ConfigResource(ResourceType.TOPIC, topic)
        described = wait_all(self.admin.describe_configs([resource], request_timeout=TIMEOUT_S))[resource]
        self.assertEqual(described["max.message.bytes"].value, "2000")
        self.assertEqual(described["retention.ms"].value, "-1")
        self.assertTrue(described["retention.ms"].is_default)
        altered = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
            ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET)])
        wait_all(self.admin.incremental_alter_configs([altered], request_timeout=TIMEOUT_S))
        described = wait_all(self.admin.describe_configs([resource], request_timeout=TIMEOUT_S))[resource]
        self.assertEqual(described["cleanup.policy"].value, "compact")
        # Honoured: a compacted topic refuses a record without a key.
        producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "retries": 0})
        errors = []
        # Flushed apart: a batch with one keyless record is refused whole.
        producer.produce(topic, value=b"no key", on_delivery=lambda error, _: errors.append(error))
        self.assertEqual(producer.flush(TIMEOUT_S), 0)
        producer.produce(topic, key=b"k", value=b"keyed", on_delivery=lambda error, _: errors.append(error))
        self.assertEqual(producer.flush(TIMEOUT_S), 0)
        self.assertEqual([e.code() if e else None for e in errors], [confluent_kafka.KafkaError.INVALID_RECORD, None])

    def test_a_preferred_leader_election_is_not_needed_on_one_broker(self):
        topic = unique("rd-elect")
        wait_all(self.admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)],
                                          request_timeout=TIMEOUT_S))
        partition = TopicPartition(topic, 0)
        result = self.admin.elect_leaders(ElectionType.PREFERRED, [partition]).result(timeout=TIMEOUT_S)
        self.assertEqual(result[partition].code(), confluent_kafka.KafkaError.ELECTION_NOT_NEEDED)

    def test_the_cluster_is_described(self):
        cluster = self.admin.describe_cluster(request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S)
        self.assertEqual(cluster.cluster_id, "kafka-fuzz-cluster")
        self.assertEqual(len(cluster.nodes), 1)
        self.assertEqual(cluster.controller.id, cluster.nodes[0].id)


class KafkaPythonAdminTest(unittest.TestCase):
    def setUp(self):
        self.admin = kafka.admin.KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=TIMEOUT_S * 1000)

    def tearDown(self):
        self.admin.close()

    def test_topics_are_created_grown_and_deleted(self):
        topic = unique("kp-admin")
        self.admin.create_topics([kafka.admin.NewTopic(topic, num_partitions=1, replication_factor=1)])
        self.admin.create_partitions({topic: kafka.admin.NewPartitions(total_count=4)})
        described = self.admin.describe_topics([topic])
        self.assertEqual(len(described[0]["partitions"]), 4)
        self.admin.delete_topics([topic])
        self.assertNotIn(topic, self.admin.list_topics())

    def test_topic_configs_are_described_and_altered(self):
        topic = unique("kp-configs")
        self.admin.create_topics([kafka.admin.NewTopic(topic, num_partitions=1, replication_factor=1)])
        resource = kafka.admin.ConfigResource(kafka.admin.ConfigResourceType.TOPIC, topic, {"retention.ms": "60000"})
        self.assertEqual(self.admin.alter_configs([resource]), {"topic": {topic: "OK"}})
        described = self.admin.describe_configs([kafka.admin.ConfigResource(
            kafka.admin.ConfigResourceType.TOPIC, topic, ["retention.ms"])])
        entry = described["topic"][topic]["retention.ms"]
        self.assertEqual((entry["value"], entry["config_source"]), ("60000", "DYNAMIC_TOPIC_CONFIG"))

    def test_groups_are_listed_described_and_deleted(self):
        topic = unique("kp-groups")
        group = unique("kp-group")
        self.admin.create_topics([kafka.admin.NewTopic(topic, num_partitions=1, replication_factor=1)])
        produce(topic, 0, 1)
        consume_one(topic, group).close()
        listed = {g["group_id"]: g for g in self.admin.list_groups()}
        self.assertEqual(listed[group]["group_state"], "Empty")
        described = self.admin.describe_groups([group])[group]
        self.assertEqual((described["group_state"], described["members"], described["error"]), ("Empty", [], None))
        partition = kafka.TopicPartition(topic, 0)
        self.assertEqual(self.admin.list_group_offsets({group: None})[group][partition].offset, 1)
        # OffsetDelete, then DeleteGroups.
        deleted = self.admin.delete_group_offsets(group, [partition])
        self.assertIs(deleted[partition], kafka.errors.NoError)
        self.assertEqual(self.admin.list_group_offsets({group: None})[group], {})
        self.assertEqual(self.admin.delete_groups([group]), {group: "OK"})
        self.assertNotIn(group, [g["group_id"] for g in self.admin.list_groups()])


class KafkaPythonReplicaStateTest(unittest.TestCase):
    """DescribeLogDirs and DescribeProducers, which librdkafka has no call for."""

    def setUp(self):
        self.admin = kafka.admin.KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=TIMEOUT_S * 1000)

    def tearDown(self):
        self.admin.close()

    def test_log_dirs_and_producers_are_described(self):
        topic = unique("kp-replicas")
        self.admin.create_topics([kafka.admin.NewTopic(topic, num_partitions=1, replication_factor=1)])
        produce(topic, 0, 3, timestamps=[5_000, 9_000, 7_000], idempotent=True)
        [broker] = self.admin.describe_log_dirs()
        [log_dir] = broker["log_dirs"]
        self.assertEqual(log_dir["error_code"], 0)
        sizes = {t["name"]: t["partitions"][0]["partition_size"] for t in log_dir["topics"]}
        self.assertGreater(sizes[topic], 0)
        partition = kafka.TopicPartition(topic, 0)
        [state] = self.admin.describe_producers([partition])[partition].active_producers
        # librdkafka sent the three records as one batch of the producer.
        self.assertEqual((state.producer_epoch, state.last_sequence, state.last_timestamp), (0, 2, 9_000))


def main():
    return suite.run(__name__, "admin client tests",
                     f"confluent-kafka {confluent_kafka.version()[0]} (librdkafka {confluent_kafka.libversion()[0]}), "
                     f"kafka-python {kafka.__version__}; server {BOOTSTRAP}")


if __name__ == "__main__":
    sys.exit(main())

"""A short, typical workload of one Python client library against a Kafka
server, for scripts/capture-real-traffic.sh to capture as seed traffic:

    KAFKA_FUZZ_BOOTSTRAP=127.0.0.1:9092 python tests/clients/capture_workload.py librdkafka|kafka-python

librdkafka (confluent-kafka): admin CreateTopics and Metadata, a producer
per compression codec, an idempotent producer, a consumer group that
commits. kafka-python: admin CreateTopics and Metadata, a plain and a gzip
producer, a consumer group that commits. Few messages each: the capture is
for the shapes of the requests, not their number. Prints what it did and
exits non-zero if any step failed.
"""

import os
import sys
import time

BOOTSTRAP = os.environ.get("KAFKA_FUZZ_BOOTSTRAP", "127.0.0.1:9092")
MESSAGES = 20
PARTITIONS = 3
TIMEOUT_S = 30


def payload(tag, i):
    return f"{tag}-{i:03d}|".encode() + b"kafka-fuzz capture payload " * 3


def librdkafka():
    import confluent_kafka
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    print(f"confluent-kafka {confluent_kafka.__version__}, librdkafka {confluent_kafka.libversion()[0]}")
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    topic = "capture-librdkafka"
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])[topic].result(TIMEOUT_S)
    metadata = admin.list_topics(timeout=TIMEOUT_S)
    assert topic in metadata.topics, "the topic created is not in Metadata"

    def produce(tag, **config):
        producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "linger.ms": 5, **config})
        failed = []
        for i in range(MESSAGES):
            producer.produce(
                topic,
                key=f"key-{i % 7}".encode(),
                value=payload(tag, i),
                headers=[("i", str(i).encode())],
                on_delivery=lambda err, _msg: err and failed.append(err),
            )
        assert producer.flush(TIMEOUT_S) == 0 and not failed, f"{tag}: delivery failed: {failed[:3]}"
        print(f"produced {MESSAGES} messages ({tag})")

    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        produce(codec, **{"compression.type": codec})
    produce("idempotent", **{"enable.idempotence": True})

    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": "capture-librdkafka-group",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    consumed, deadline = 0, time.monotonic() + TIMEOUT_S
    expected = MESSAGES * 6
    while consumed < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            consumed += 1
    consumer.commit(asynchronous=False)
    consumer.close()
    assert consumed == expected, f"consumed {consumed} of {expected}"
    print(f"consumed and committed {consumed} messages in a group")


def kafka_python():
    import kafka
    import kafka.admin

    print(f"kafka-python {kafka.__version__}")
    topic = "capture-kafka-python"
    admin = kafka.admin.KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=TIMEOUT_S * 1000)
    admin.create_topics([kafka.admin.NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    assert topic in admin.list_topics(), "the topic created is not in Metadata"
    admin.close()

    for codec in [None, "gzip"]:
        producer = kafka.KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", compression_type=codec, linger_ms=5)
        for i in range(MESSAGES):
            producer.send(topic, key=f"key-{i % 7}".encode(), value=payload(codec or "none", i))
        producer.flush(TIMEOUT_S)
        producer.close()
        print(f"produced {MESSAGES} messages ({codec or 'none'})")

    consumer = kafka.KafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        group_id="capture-kafka-python-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    consumed, deadline = 0, time.monotonic() + TIMEOUT_S
    while consumed < MESSAGES * 2 and time.monotonic() < deadline:
        consumed += sum(len(batch) for batch in consumer.poll(timeout_ms=1000).values())
    consumer.commit()
    consumer.close()
    assert consumed == MESSAGES * 2, f"consumed {consumed} of {MESSAGES * 2}"
    print(f"consumed and committed {consumed} messages in a group")


WORKLOADS = {"librdkafka": librdkafka, "kafka-python": kafka_python}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in WORKLOADS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(WORKLOADS)}")
    WORKLOADS[sys.argv[1]]()

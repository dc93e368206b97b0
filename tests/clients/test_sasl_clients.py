"""SASL/PLAIN against `kafka-fuzz serve --sasl-user alice:alice-secret`:
librdkafka (PyPI confluent-kafka) and kafka-python authenticate, produce and
read back; a wrong password is refused.

Run by scripts/client-tests.sh, which starts that server and sets
KAFKA_FUZZ_SASL_BOOTSTRAP (host:port):

    KAFKA_FUZZ_SASL_BOOTSTRAP=127.0.0.1:9093 python tests/clients/test_sasl_clients.py
"""

import os
import sys
import unittest
import uuid

import confluent_kafka
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

import kafka
import kafka.errors

import suite

BOOTSTRAP = os.environ.get("KAFKA_FUZZ_SASL_BOOTSTRAP", "127.0.0.1:9093")
USER, PASSWORD = "alice", "alice-secret"
TIMEOUT_S = 30


def sasl(password):
    return {
        "bootstrap.servers": BOOTSTRAP,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": USER,
        "sasl.password": password,
    }


class LibrdkafkaSaslTest(unittest.TestCase):
    def test_the_right_password_produces_and_reads_back(self):
        topic = f"sasl-{uuid.uuid4().hex[:10]}"
        producer = Producer({**sasl(PASSWORD), "acks": "all"})
        for i in range(10):
            producer.produce(topic, value=f"v{i}".encode())
        self.assertEqual(producer.flush(TIMEOUT_S), 0)
        consumer = Consumer({**sasl(PASSWORD), "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
        consumer.subscribe([topic])
        values = []
        try:
            for _ in range(TIMEOUT_S * 2):
                message = consumer.poll(0.5)
                if message is not None and message.error() is None:
                    values.append(message.value())
                if len(values) == 10:
                    break
        finally:
            consumer.close()
        self.assertEqual(values, [f"v{i}".encode() for i in range(10)])

    def test_a_wrong_password_is_refused(self):
        errors = []
        admin = AdminClient({**sasl("wrong"), "error_cb": errors.append})
        with self.assertRaises(KafkaException):
            admin.list_topics(timeout=5)
        admin.poll(1)  # error_cb runs from poll
        self.assertIn(confluent_kafka.KafkaError._AUTHENTICATION, [e.code() for e in errors])


class KafkaPythonSaslTest(unittest.TestCase):
    def client(self, password):
        return dict(bootstrap_servers=BOOTSTRAP, security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                    sasl_plain_username=USER, sasl_plain_password=password, request_timeout_ms=10000)

    def test_the_right_password_produces(self):
        producer = kafka.KafkaProducer(**self.client(PASSWORD), acks="all")
        try:
            metadata = producer.send(f"sasl-kp-{uuid.uuid4().hex[:10]}", b"hello").get(timeout=TIMEOUT_S)
            self.assertEqual(metadata.offset, 0)
        finally:
            producer.close()

    def test_a_wrong_password_is_refused(self):
        with self.assertRaises(kafka.errors.KafkaError):
            kafka.KafkaProducer(**self.client("wrong"), max_block_ms=5000).send("sasl-refused", b"x").get(timeout=10)


def main():
    return suite.run(__name__, "sasl client tests",
                     f"confluent-kafka {confluent_kafka.version()[0]} (librdkafka {confluent_kafka.libversion()[0]}), "
                     f"kafka-python {kafka.__version__}; server {BOOTSTRAP}")


if __name__ == "__main__":
    sys.exit(main())

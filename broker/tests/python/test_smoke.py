"""Both clients produce and consume through the broker."""

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer


def test_kafka_python_round_trip(broker):
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=False)
    for i in range(10):
        p.send("smoke", key=b"k%d" % i, value=b"v%d" % i)
    p.flush()
    p.close()
    c = KafkaConsumer(
        "smoke",
        bootstrap_servers=broker.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    got = [(m.offset, m.key, m.value) for m in c]
    c.close()
    assert got == [(i, b"k%d" % i, b"v%d" % i) for i in range(10)]


def test_confluent_kafka_round_trip(broker):
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for i in range(5):
        p.produce("smoke-ck", key=b"k%d" % i, value=b"v%d" % i)
    assert p.flush(10) == 0
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "smoke"})
    c.assign([TopicPartition("smoke-ck", 0, 0)])
    got = []
    for _ in range(50):
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            got.append((m.offset(), m.key(), m.value()))
        if len(got) == 5:
            break
    c.close()
    assert got == [(i, b"k%d" % i, b"v%d" % i) for i in range(5)]


def test_kafka_pythons_default_idempotent_producer_fails_fast_with_a_reason(broker):
    # The idempotent producer (kafka-python 3's default) is not served: a
    # send fails at once, naming the API, rather than hanging.
    p = KafkaProducer(bootstrap_servers=broker.bootstrap)
    started = time.time()
    with pytest.raises(Exception) as e:
        p.send("idempotent", b"v").get(timeout=20)
    assert "InitProducerId" in str(e.value)
    assert time.time() - started < 10
    p.close(timeout=5)


def test_librdkafkas_metadata_request_for_every_topic_is_answered(broker):
    # librdkafka's Metadata request for all topics carries bytes after its
    # last field, which Kafka ignores.
    from confluent_kafka.admin import AdminClient

    p = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=False)
    p.send("listed", b"v").get(timeout=10)
    p.close()
    topics = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10).topics
    assert "listed" in topics
    assert "closing connection" not in broker.log()

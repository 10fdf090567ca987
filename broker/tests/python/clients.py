"""Small helpers over the two Kafka clients, shared by the tests."""

import time

from confluent_kafka import Consumer, Producer, TopicPartition as CkTopicPartition
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

CLIENTS = ["kafka-python", "confluent-kafka"]
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def produce(client, bootstrap, topic, records, codec="none", partition=None):
    """Produces `records` (key, value, headers, timestamp) in order and waits
    for every acknowledgement; returns [(partition, offset)]."""
    if client == "kafka-python":
        p = KafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=False,
            compression_type=None if codec == "none" else codec,
            linger_ms=5,
        )
        futures = [
            p.send(topic, value=v, key=k, headers=h, timestamp_ms=ts, partition=partition)
            for (k, v, h, ts) in records
        ]
        out = [(m.partition, m.offset) for m in (f.get(timeout=30) for f in futures)]
        p.close()
        return out
    out = [None] * len(records)

    def ack(i):
        def cb(err, msg):
            assert err is None, err
            out[i] = (msg.partition(), msg.offset())

        return cb

    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "compression.type": codec,
            "linger.ms": 5,
            # Java's partitioner, which is not librdkafka's default.
            "partitioner": "murmur2_random",
        }
    )
    for i, (k, v, h, ts) in enumerate(records):
        kwargs = {"key": k, "value": v, "headers": h, "on_delivery": ack(i)}
        if ts is not None:
            kwargs["timestamp"] = ts
        if partition is not None:
            kwargs["partition"] = partition
        p.produce(topic, **kwargs)
    assert p.flush(30) == 0
    return out


def consume(client, bootstrap, topic, partition, count, start=0, timeout=30):
    """Reads `count` records of one partition from `start`; returns
    [(offset, key, value, headers, timestamp)]."""
    deadline = time.time() + timeout
    got = []
    if client == "kafka-python":
        c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        c.seek(tp, start)
        while len(got) < count and time.time() < deadline:
            for records in c.poll(timeout_ms=500).values():
                for m in records:
                    got.append((m.offset, m.key, m.value, list(m.headers), m.timestamp))
        c.close()
        return got
    c = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False}
    )
    c.assign([CkTopicPartition(topic, partition, start)])
    while len(got) < count and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        assert m.error() is None, m.error()
        got.append((m.offset(), m.key(), m.value(), list(m.headers() or []), m.timestamp()[1]))
    c.close()
    return got

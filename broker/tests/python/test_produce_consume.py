"""Both clients produce and consume through the broker with every codec;
what they write is what Kafka's partitioner, ListOffsets and the
library's own reader see."""

import json
import subprocess
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition as CkTopicPartition
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.partitioner.default import murmur2

from clients import CLIENTS, CODECS, consume, produce
from conftest import seglog_binary


def records(tag, n=40, base_ts=1_700_000_000_000, repeat=1):
    return [
        (
            b"key-%d" % i,
            ("%s value %d " % (tag, i)).encode() * (repeat + i % 5),
            [("h", b"%d" % i), ("source", tag.encode())],
            base_ts + i,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("producer", CLIENTS)
def test_every_codec_round_trips_between_the_clients(broker, producer, codec):
    topic = "codec-%s-%s" % (producer, codec)
    sent = records(topic)
    acks = produce(producer, broker.bootstrap, topic, sent, codec=codec, partition=0)
    assert acks == [(0, i) for i in range(len(sent))]
    for consumer in CLIENTS:
        got = consume(consumer, broker.bootstrap, topic, 0, len(sent))
        assert [(o, k, v, h, ts) for (o, k, v, h, ts) in got] == [
            (i, k, v, h, ts) for i, (k, v, h, ts) in enumerate(sent)
        ], consumer


def test_what_the_clients_wrote_reads_back_with_the_library_and_seglog_dump(broker):
    expected = {}
    for client in CLIENTS:
        for codec in CODECS:
            topic = "dump-%s-%s" % (client, codec)
            # Values that compress, as a client sends a batch uncompressed
            # when compressing does not make it smaller.
            sent = records(topic, n=10, repeat=20)
            produce(client, broker.bootstrap, topic, sent, codec=codec, partition=0)
            expected[topic] = (codec, sent)
    # The store belongs to the broker while it runs.
    assert broker.stop() == 0
    for topic, (codec, sent) in expected.items():
        out = subprocess.run(
            [str(seglog_binary()), "dump", "--json", "--records", str(broker.data_dir / (topic + "-0"))],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        lines = [json.loads(l) for l in out.splitlines()]
        batches = [l for l in lines if l["type"] == "batch"]
        assert batches, topic
        for b in batches:
            # Written as the client compressed it, not re-encoded.
            assert b["compression"] == codec, (topic, b)
            assert b["crc_valid"], (topic, b)
        got = [
            (r["offset"], r["key"], r["value"], [(h["key"], h["value"]) for h in r["headers"]], r["timestamp"])
            for r in lines
            if r["type"] == "record"
        ]
        assert got == [
            (i, k.decode(), v.decode(), [(hk, hv.decode()) for hk, hv in h], ts)
            for i, (k, v, h, ts) in enumerate(sent)
        ], topic


@pytest.mark.parametrize("client", CLIENTS)
def test_keyed_records_land_where_kafkas_partitioner_puts_them(broker_factory, client):
    b = broker_factory("num.partitions=6", "group.initial.rebalance.delay.ms=0")
    keys = [b"user-%d" % i for i in range(60)]
    acks = produce(client, b.bootstrap, "keyed", [(k, b"v", [], None) for k in keys])
    for key, (partition, _) in zip(keys, acks):
        # Java's DefaultPartitioner: toPositive(murmur2(key)) % partitions.
        assert partition == (murmur2(key) & 0x7FFFFFFF) % 6, key
    assert len({p for p, _ in acks}) == 6
    # The library's own producer agrees: the seglog CLI routes the same
    # keys to the same partitions of another topic.
    assert b.stop() == 0
    cli = str(seglog_binary())
    subprocess.run([cli, "topics", "create", "cli-keyed", "--partitions", "6", "--dir", str(b.data_dir)], check=True)
    subprocess.run(
        [cli, "produce", "--topic", "cli-keyed", "--key-separator", ":", "--dir", str(b.data_dir)],
        input="".join("%s:v\n" % k.decode() for k in keys),
        text=True,
        check=True,
    )
    placed = {}
    for p in range(6):
        out = subprocess.run(
            [cli, "dump", "--json", "--records", str(b.data_dir / ("cli-keyed-%d" % p))],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for line in out.splitlines():
            r = json.loads(line)
            if r["type"] == "record":
                placed[r["key"].encode()] = p
    assert placed == {k: p for k, (p, _) in zip(keys, acks)}


@pytest.mark.parametrize("client", CLIENTS)
def test_offsets_for_times(broker, client):
    topic = "times-" + client
    base = 1_700_000_000_000
    sent = [(None, b"v%d" % i, [], base + 1000 * i) for i in range(20)]
    produce(client, broker.bootstrap, topic, sent, partition=0)
    cases = {base - 5: 0, base + 1000 * 7: 7, base + 1000 * 7 + 1: 8, base + 1000 * 19: 19, base + 10**7: None}
    for ts, want in cases.items():
        if client == "kafka-python":
            c = KafkaConsumer(bootstrap_servers=broker.bootstrap)
            tp = TopicPartition(topic, 0)
            found = c.offsets_for_times({tp: ts})[tp]
            c.close()
            got = None if found is None else found.offset
            if found is not None:
                assert found.timestamp == base + 1000 * want
        else:
            c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "times"})
            [found] = c.offsets_for_times([CkTopicPartition(topic, 0, ts)], timeout=10)
            c.close()
            assert found.error is None
            # librdkafka reports "no such record" as the end offset.
            got = None if found.offset in (-1, 20) else found.offset
        assert got == want, (ts, got, want)


def test_a_long_poll_fetch_returns_within_milliseconds_of_a_produce(broker):
    topic = "long-poll"
    produce("kafka-python", broker.bootstrap, topic, [(None, b"first", [], None)], partition=0)
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, fetch_max_wait_ms=5000, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek(tp, 1)
    c.poll(timeout_ms=200)  # the fetch is now parked on the broker
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=False, linger_ms=0)
    delays = []
    for i in range(5):
        time.sleep(0.3)
        p.send(topic, value=b"x%d" % i, partition=0).get(timeout=10)
        acked = time.perf_counter()
        got = []
        while not got and time.perf_counter() - acked < 5:
            got = [m for rs in c.poll(timeout_ms=5000).values() for m in rs]
        delays.append(time.perf_counter() - acked)
        assert [m.value for m in got] == [b"x%d" % i]
    p.close()
    c.close()
    delays.sort()
    print("long-poll delays after the produce acknowledgement (s):", delays)
    # A parked fetch is woken by the append, not by its 5 s max wait.
    assert delays[len(delays) // 2] < 0.25, delays


@pytest.mark.parametrize("client", CLIENTS)
def test_log_append_time_topics_stamp_the_brokers_time(broker, client):
    from kafka.admin import KafkaAdminClient, NewTopic

    topic = "append-time-" + client
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics(
        [NewTopic(topic, 1, 1, topic_configs={"message.timestamp.type": "LogAppendTime"})]
    )
    admin.close()
    before = int(time.time() * 1000)
    # The client's own timestamps are replaced by the broker's clock.
    produce(client, broker.bootstrap, topic, [(None, b"v%d" % i, [], 1_000 + i) for i in range(5)], codec="gzip", partition=0)
    after = int(time.time() * 1000)
    got = consume(client, broker.bootstrap, topic, 0, 5)
    stamps = {ts for (_, _, _, _, ts) in got}
    assert len(got) == 5
    assert all(before - 1000 <= ts <= after + 1000 for ts in stamps), (stamps, before, after)
    if client == "confluent-kafka":
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "append-time"})
        c.assign([CkTopicPartition(topic, 0, 0)])
        m = None
        while m is None:
            m = c.poll(1.0)
        # TIMESTAMP_LOG_APPEND_TIME
        assert m.timestamp()[0] == 2
        c.close()

"""Real clients carry on while other connections send bad input, and get
Kafka's errors for records the broker refuses."""

import socket
import struct

import pytest
from confluent_kafka import KafkaError, Producer
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import MessageSizeTooLargeError


def raw(bootstrap):
    host, port = bootstrap.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    return s


def closed(s):
    """Whether the broker closes `s` without answering."""
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def test_clients_carry_on_while_other_connections_send_garbage(broker_factory):
    broker = broker_factory("socket.request.max.bytes=4096")
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=False)
    bad = [
        # A Metadata v9 header, then bytes that are no Metadata request.
        struct.pack(">ihhih", 15, 3, 9, 1, -1) + b"\x00\xff\xff\xff\xff\x01",
        # A frame above socket.request.max.bytes, and a negative length.
        struct.pack(">i", 4097),
        struct.pack(">i", -5),
        # An API key no broker serves.
        struct.pack(">ihhih", 10, 9999, 0, 1, -1),
    ]
    for i in range(20):
        if i % 5 == 0:
            s = raw(broker.bootstrap)
            s.sendall(bad[(i // 5) % len(bad)])
            assert closed(s)
            s.close()
        producer.send("carry-on", value=b"v%d" % i)
    # A client that leaves in the middle of a frame.
    s = raw(broker.bootstrap)
    s.sendall(struct.pack(">i", 100) + b"\x00\x03")
    s.close()
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(
        "carry-on",
        bootstrap_servers=broker.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    got = [m.value for m in consumer]
    consumer.close()
    assert got == [b"v%d" % i for i in range(20)]
    log = broker.log()
    assert "Metadata v9 request" in log and "does not decode" in log, log
    assert "a request frame of 4097 bytes (socket.request.max.bytes is 4096)" in log, log
    assert "a request frame of -5 bytes" in log, log
    assert "API key 9999 (version 0) is not served" in log, log


def test_a_record_over_max_message_bytes_gets_message_too_large(broker_factory):
    broker = broker_factory("message.max.bytes=2000")

    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, enable_idempotence=False, retries=0
    )
    with pytest.raises(MessageSizeTooLargeError):
        producer.send("big", value=b"x" * 5000).get(timeout=10)
    # The next record, small enough, goes through on the same producer.
    meta = producer.send("big", value=b"small").get(timeout=10)
    assert meta.offset == 0
    producer.close()

    errors = []
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    p.produce("big-ck", value=b"y" * 5000, on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(10) == 0
    # Sent alone, not in the refused batch.
    p.produce("big-ck", value=b"ok", on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(10) == 0
    assert [e.code() if e else None for e in errors] == [KafkaError.MSG_SIZE_TOO_LARGE, None]

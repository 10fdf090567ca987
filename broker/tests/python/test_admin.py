"""Admin APIs through both clients' admin clients: CreateTopics,
DeleteTopics, CreatePartitions, DescribeConfigs and DeleteRecords."""

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)
from kafka import KafkaAdminClient
from kafka import TopicPartition as KpTopicPartition
from kafka.admin import ConfigResource as KpConfigResource
from kafka.admin import ConfigResourceType
from kafka.errors import (
    InvalidPartitionsError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)


def kp_admin(broker):
    return KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=5000)


def ck_admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def partition_count(admin, topic):
    [t] = admin.describe_topics([topic])
    return len(t["partitions"])


def partition_dirs(broker, topic):
    return sorted(p.name for p in broker.data_dir.iterdir() if p.name.startswith(topic + "-"))


def test_kafka_python_creates_topics_with_partitions_and_configs(broker_factory):
    broker = broker_factory("num.partitions=2")
    admin = kp_admin(broker)
    try:
        result = admin.create_topics(
            {
                "kp-three": {"num_partitions": 3, "configs": {"retention.ms": "60000"}},
                "kp-default": {},
            }
        )
        by_name = {t["name"]: t for t in result["topics"]}
        assert by_name["kp-three"]["error_code"] == 0
        assert by_name["kp-three"]["num_partitions"] == 3
        assert by_name["kp-three"]["configs"]["retention.ms"]["value"] == "60000"
        assert by_name["kp-default"]["num_partitions"] == 2
        assert partition_count(admin, "kp-three") == 3
        assert partition_count(admin, "kp-default") == 2
        assert partition_dirs(broker, "kp-three") == ["kp-three-0", "kp-three-1", "kp-three-2"]

        checked = admin.create_topics({"kp-checked": {"num_partitions": 4}}, validate_only=True)
        assert checked["topics"][0]["error_code"] == 0
        assert "kp-checked" not in admin.list_topics()
        assert partition_dirs(broker, "kp-checked") == []

        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics({"kp-three": {"num_partitions": 1}})
    finally:
        admin.close()


def test_kafka_python_deletes_topics_and_their_files(broker):
    admin = kp_admin(broker)
    try:
        admin.create_topics({"kp-doomed": {"num_partitions": 2}, "kp-kept": {}})
        assert partition_dirs(broker, "kp-doomed") == ["kp-doomed-0", "kp-doomed-1"]
        result = admin.delete_topics(["kp-doomed"])
        assert [(t["name"], t["error_code"]) for t in result["topics"]] == [("kp-doomed", 0)]
        assert partition_dirs(broker, "kp-doomed") == []
        assert "kp-doomed" not in admin.list_topics()
        assert "kp-kept" in admin.list_topics()
        with pytest.raises(UnknownTopicOrPartitionError):
            admin.delete_topics(["kp-doomed"])
    finally:
        admin.close()


def test_kafka_python_creates_partitions(broker):
    admin = kp_admin(broker)
    try:
        admin.create_topics({"kp-grow": {"num_partitions": 1}})
        admin.create_partitions({"kp-grow": 3})
        assert partition_count(admin, "kp-grow") == 3
        admin.create_partitions({"kp-grow": 5}, validate_only=True)
        assert partition_count(admin, "kp-grow") == 3
        with pytest.raises(InvalidPartitionsError):
            admin.create_partitions({"kp-grow": 2})
    finally:
        admin.close()


def test_kafka_python_describes_a_topics_configs(broker):
    admin = kp_admin(broker)
    try:
        admin.create_topics({"kp-conf": {"configs": {"cleanup.policy": "compact"}}})
        resource = KpConfigResource(ConfigResourceType.TOPIC, "kp-conf")
        configs = admin.describe_configs([resource], config_filter="all")["topic"]["kp-conf"]
        assert configs["cleanup.policy"]["value"] == "compact"
        assert configs["cleanup.policy"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        assert configs["segment.bytes"]["value"] == "1073741824"
        assert configs["segment.bytes"]["config_source"] == "DEFAULT_CONFIG"
        # The default filter keeps only what differs from the defaults.
        modified = admin.describe_configs([resource])["topic"]["kp-conf"]
        assert list(modified) == ["cleanup.policy"]
        # The broker's own settings, by its node id.
        node = KpConfigResource(ConfigResourceType.BROKER, "0")
        settings = admin.describe_configs([node], config_filter="all")["broker"]["0"]
        assert settings["num.partitions"]["value"] == "1"
        assert settings["group.initial.rebalance.delay.ms"]["value"] == "0"
        assert settings["group.initial.rebalance.delay.ms"]["config_source"] == "STATIC_BROKER_CONFIG"
    finally:
        admin.close()


def test_confluent_admin_creates_describes_grows_and_deletes(broker):
    admin = ck_admin(broker)
    topic = NewTopic("ck-admin", num_partitions=2, replication_factor=1,
                     config={"retention.ms": "120000"})
    admin.create_topics([topic])["ck-admin"].result(10)
    # validate_only creates nothing.
    admin.create_topics([NewTopic("ck-checked", 1, 1)], validate_only=True)["ck-checked"].result(10)
    assert partition_dirs(broker, "ck-checked") == []
    with pytest.raises(KafkaException) as exists:
        admin.create_topics([NewTopic("ck-admin", 1, 1)])["ck-admin"].result(10)
    assert exists.value.args[0].name() == "TOPIC_ALREADY_EXISTS"
    with pytest.raises(KafkaException) as replicas:
        admin.create_topics([NewTopic("ck-replicated", 1, 3)])["ck-replicated"].result(10)
    assert replicas.value.args[0].name() == "INVALID_REPLICATION_FACTOR"

    resource = ConfigResource(ConfigResource.Type.TOPIC, "ck-admin")
    entries = admin.describe_configs([resource])[resource].result(10)
    assert entries["retention.ms"].value == "120000"
    assert entries["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert entries["max.message.bytes"].value == "1048588"
    assert entries["max.message.bytes"].is_default

    admin.create_partitions([NewPartitions("ck-admin", 4)])["ck-admin"].result(10)
    assert len(admin.list_topics("ck-admin", timeout=10).topics["ck-admin"].partitions) == 4

    admin.delete_topics(["ck-admin"])["ck-admin"].result(10)
    assert partition_dirs(broker, "ck-admin") == []
    # (Listing every topic is left to kafka-python: librdkafka's Metadata
    # request for all topics carries bytes after its last field.)
    kp = kp_admin(broker)
    try:
        assert "ck-admin" not in kp.list_topics()
        assert "ck-checked" not in kp.list_topics()
    finally:
        kp.close()


def test_deleted_records_are_not_consumed(broker):
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for i in range(10):
        p.produce("dr", value=b"v%d" % i)
    assert p.flush(10) == 0

    admin = ck_admin(broker)
    [future] = admin.delete_records([TopicPartition("dr", 0, 4)]).values()
    assert future.result(10).low_watermark == 4

    # The beginning is the new low watermark.
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "dr",
                  "enable.auto.commit": False})
    c.assign([TopicPartition("dr", 0, OFFSET_BEGINNING)])
    first = None
    for _ in range(50):
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            first = (m.offset(), m.value())
            break
    c.close()
    assert first == (4, b"v4")

    # kafka-python's delete_records up to the high watermark (-1).
    kp = kp_admin(broker)
    try:
        result = kp.delete_records({KpTopicPartition("dr", 0): -1})
        assert result[KpTopicPartition("dr", 0)]["low_watermark"] == 10
    finally:
        kp.close()

"""Consumer groups through the broker, with both clients: members share a
topic's partitions, rebalance when one leaves, resume from their committed
offsets after a restart of everything, and the admin clients list,
describe and delete groups and read their offsets."""

import threading
import time

import pytest
from confluent_kafka import Consumer, ConsumerGroupState, ConsumerGroupTopicPartitions
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import TopicPartition as CkTopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition
from kafka.errors import (CommitFailedError, IllegalGenerationError,
                          RebalanceInProgressError, UnknownMemberIdError)
from kafka.structs import OffsetAndMetadata

PARTITIONS = 6
# Topics get six partitions; __consumer_offsets three (fifty cost seconds
# of fsyncs at its creation, for nothing these tests look at).
CONFIGS = (
    "group.initial.rebalance.delay.ms=0",
    "num.partitions=%d" % PARTITIONS,
    "offsets.topic.num.partitions=3",
)
CLIENTS = ["kafka-python", "confluent"]
# A commit refused because the group rebalances under it.
KP_REBALANCING = (RebalanceInProgressError, CommitFailedError, IllegalGenerationError,
                  UnknownMemberIdError)
CK_REBALANCING = (KafkaError.REBALANCE_IN_PROGRESS, KafkaError.ILLEGAL_GENERATION,
                  KafkaError.UNKNOWN_MEMBER_ID)


class Member(threading.Thread):
    """A group member polling on its own thread (neither client may be
    used from two threads). It processes the records `accept` lets
    through and, if `commit`, commits after each processed batch; it
    publishes its assignment after every poll.

    A commit the coordinator refuses because the group is rebalancing
    (the leader rejoins, for one, when topic metadata arrives after its
    first assignment) is retried after the next poll for the partitions
    the member still owns, as an application must: a partition that
    moved is processed again from its last commit by its new owner."""

    def __init__(self, client, bootstrap, group, topic, accept=None, commit=False):
        super().__init__(daemon=True)
        self.client, self.bootstrap, self.group, self.topic = client, bootstrap, group, topic
        self.accept = accept or (lambda partition, offset: True)
        self.commit = commit
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.processed = []  # (partition, offset, value)
        self.uncommitted = {}  # partition -> next offset, processed but not committed
        self.assigned = frozenset()
        self.error = None
        self.start()

    def run(self):
        try:
            if self.client == "kafka-python":
                self._run_kafka_python()
            else:
                self._run_confluent()
        except Exception as e:  # reported by the test through `check`
            self.error = e

    def _process(self, records, commit):
        with self.lock:
            for partition, offset, value in records:
                if self.accept(partition, offset):
                    self.processed.append((partition, offset, value))
                    if self.commit:
                        self.uncommitted[partition] = offset + 1
            # What moved to another member is its to process and commit.
            self.uncommitted = {p: o for p, o in self.uncommitted.items()
                                if p in self.assigned}
            pending = dict(self.uncommitted)
        if pending and commit(pending):
            with self.lock:
                for p, o in pending.items():
                    if self.uncommitted.get(p) == o:
                        del self.uncommitted[p]

    def _run_kafka_python(self):
        c = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            client_id="kp-member",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
            max_poll_interval_ms=10000,
        )
        c.subscribe([self.topic])
        # A metadata update between subscribing and the first poll: the
        # coordinator snapshots the topic's partitions from it. A leader
        # that assigned without that snapshot would rejoin once it came,
        # and kafka-python 3.0.12 loses the result of such a rejoin when a
        # poll times out during it: the member keeps its old assignment,
        # stops heartbeating and is expelled. (`topics` always asks the
        # broker; `partitions_for_topic` may answer from its cache.)
        assert self.topic in c.topics()

        def commit(done):
            try:
                c.commit({
                    KpTopicPartition(self.topic, p): OffsetAndMetadata(o, "", -1)
                    for p, o in done.items()
                })
                return True
            except KP_REBALANCING:
                return False

        try:
            while not self.stop_event.is_set():
                batches = c.poll(timeout_ms=100)
                records = [(m.partition, m.offset, m.value)
                           for ms in batches.values() for m in ms]
                self.assigned = frozenset(tp.partition for tp in c.assignment())
                self._process(records, commit)
        finally:
            c.close()

    def _run_confluent(self):
        c = Consumer({
            "bootstrap.servers": self.bootstrap,
            "group.id": self.group,
            "client.id": "ck-member",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            "max.poll.interval.ms": 10000,
        })
        c.subscribe([self.topic])

        def commit(done):
            try:
                c.commit(offsets=[CkTopicPartition(self.topic, p, o) for p, o in done.items()],
                         asynchronous=False)
                return True
            except KafkaException as e:
                if e.args[0].code() in CK_REBALANCING:
                    return False
                raise

        try:
            while not self.stop_event.is_set():
                msgs = c.consume(num_messages=100, timeout=0.1)
                records = [(m.partition(), m.offset(), m.value())
                           for m in msgs if m.error() is None]
                self.assigned = frozenset(tp.partition for tp in c.assignment())
                self._process(records, commit)
        finally:
            c.close()

    def records(self):
        with self.lock:
            return list(self.processed)

    def all_committed(self):
        with self.lock:
            return not self.uncommitted

    def check(self):
        assert self.error is None, "%s member failed: %r" % (self.client, self.error)

    def close(self):
        self.stop_event.set()
        self.join(timeout=30)
        assert not self.is_alive(), "a member did not close"
        self.check()


def wait_until(what, predicate, members=(), timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for m in members:
            m.check()
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting until " + what)


def shared_evenly(members, each):
    """Whether the members' assignments are disjoint, `each` partitions
    apiece, and cover the topic."""
    sets = [m.assigned for m in members]
    union = frozenset().union(*sets)
    return (all(len(s) == each for s in sets)
            and sum(len(s) for s in sets) == len(union)
            and union == frozenset(range(PARTITIONS)))


def committed(admin, group):
    """The group's committed offsets, by partition, as the broker has them."""
    offsets = admin.list_group_offsets([group])[group]
    return {tp.partition: o.offset for tp, o in offsets.items()}


def produce(bootstrap, topic, per_partition, tag):
    """`per_partition` records in every partition, valued tag-partition-i."""
    p = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    sent = set()
    for partition in range(PARTITIONS):
        for i in range(per_partition):
            value = ("%s-%d-%d" % (tag, partition, i)).encode()
            p.send(topic, value=value, partition=partition)
            sent.add(value)
    p.flush()
    p.close()
    return sent


def create_topic(bootstrap, topic):
    """Creates the topic (auto-created by the producer's metadata request)."""
    p = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    assert len(p.partitions_for(topic)) == PARTITIONS
    p.close()


def start_group(client, bootstrap, group, topic, count, **kwargs):
    members = [Member(client, bootstrap, group, topic, **kwargs) for _ in range(count)]
    wait_until("%d members share the partitions" % count,
               lambda: shared_evenly(members, PARTITIONS // count), members)
    return members


@pytest.mark.parametrize("client", CLIENTS)
def test_three_consumers_share_six_partitions(broker_factory, client):
    b = broker_factory(*CONFIGS)
    topic = "share-" + client
    create_topic(b.bootstrap, topic)
    members = start_group(client, b.bootstrap, "share", topic, 3)
    sent = produce(b.bootstrap, topic, 5, "share")
    wait_until("every record is consumed",
               lambda: sum(len(m.records()) for m in members) >= len(sent), members)
    got = [r for m in members for r in m.records()]
    assert sorted(v for _, _, v in got) == sorted(sent), "each record once"
    for m in members:
        assert {p for p, _, _ in m.records()} == set(m.assigned)
    for m in members:
        m.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_the_others_take_over_when_one_leaves(broker_factory, client):
    b = broker_factory(*CONFIGS)
    topic = "leave-" + client
    create_topic(b.bootstrap, topic)
    members = start_group(client, b.bootstrap, "leave", topic, 3)
    members[0].close()
    rest = members[1:]
    wait_until("the other two rebalance over every partition",
               lambda: shared_evenly(rest, PARTITIONS // 2), rest)
    sent = produce(b.bootstrap, topic, 2, "after")
    wait_until("the two consume every record",
               lambda: {v for m in rest for _, _, v in m.records()} >= sent, rest)
    for m in rest:
        m.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_a_group_resumes_from_its_commits_after_everything_restarts(broker_factory, client):
    b = broker_factory(*CONFIGS)
    topic = "resume-" + client
    create_topic(b.bootstrap, topic)
    # Before the restart: process and commit the first three records of
    # every partition, and leave the next two unprocessed.
    members = start_group(client, b.bootstrap, "resume", topic, 2,
                          accept=lambda p, o: o < 3, commit=True)
    produce(b.bootstrap, topic, 5, "before")
    first = {(p, o) for p in range(PARTITIONS) for o in range(3)}
    wait_until("three records of each partition are processed",
               lambda: {(p, o) for m in members for p, o, _ in m.records()} == first,
               members)
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    wait_until("the group commits offset 3 in every partition",
               lambda: committed(admin, "resume") == {p: 3 for p in range(PARTITIONS)},
               members)
    admin.close()
    for m in members:
        m.close()

    b.restart()
    produce(b.bootstrap, topic, 2, "after")
    members = [Member(client, b.bootstrap, "resume", topic) for _ in range(2)]
    expected = {(p, o) for p in range(PARTITIONS) for o in range(3, 7)}
    wait_until("the records after the commits are processed",
               lambda: {(p, o) for m in members for p, o, _ in m.records()} >= expected,
               members)
    time.sleep(0.5)  # room for a wrongly repeated record to show up
    after = {(p, o) for m in members for p, o, _ in m.records()}
    assert after == expected, "resumed exactly after the committed offsets"
    for m in members:
        m.close()


def test_kafka_python_admin_lists_describes_reads_and_deletes_groups(broker_factory):
    b = broker_factory(*CONFIGS)
    topic = "admin-kp"
    create_topic(b.bootstrap, topic)
    produce(b.bootstrap, topic, 1, "x")
    [live] = start_group("kafka-python", b.bootstrap, "admin-live", topic, 1, commit=True)
    wait_until("the member processes and commits every record",
               lambda: len({p for p, _, _ in live.records()}) == PARTITIONS
               and live.all_committed(), [live])
    # A group of committed offsets only: a consumer outside group management.
    simple = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id="admin-simple",
                           enable_auto_commit=False)
    simple.assign([KpTopicPartition(topic, 0)])
    simple.commit({KpTopicPartition(topic, 0): OffsetAndMetadata(1, "note", -1)})
    simple.close()

    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    listed = {g["group_id"]: g for g in admin.list_groups()}
    assert listed["admin-live"]["protocol_type"] == "consumer"
    assert listed["admin-simple"]["protocol_type"] == ""
    stable = [g["group_id"] for g in admin.list_groups(states_filter=["Stable"])]
    assert stable == ["admin-live"]

    described = admin.describe_groups(["admin-live", "admin-simple", "nobody"])
    g = described["admin-live"]
    assert (g["error"], g["group_state"], g["protocol_type"]) == (None, "Stable", "consumer")
    [m] = g["members"]
    assert (m["client_id"], m["client_host"]) == ("kp-member", "127.0.0.1")
    assert m["member_metadata"]["topics"] == [topic]
    [assigned] = m["member_assignment"]["assigned_partitions"]
    assert (assigned["topic"], sorted(assigned["partitions"])) == (topic, list(range(PARTITIONS)))
    assert "DELETE" in g["authorized_operations"]
    assert described["admin-simple"]["group_state"] == "Empty"
    assert described["nobody"]["group_state"] == "Dead"

    offsets = admin.list_group_offsets(["admin-live", "admin-simple"])
    assert {tp.partition: o.offset for tp, o in offsets["admin-live"].items()} == \
        {p: 1 for p in range(PARTITIONS)}
    [(tp, o)] = offsets["admin-simple"].items()
    assert (tp.partition, o.offset, o.metadata) == (0, 1, "note")

    deleted = admin.delete_groups(["admin-live", "admin-simple"])
    assert deleted == {"admin-live": "NonEmptyGroupError", "admin-simple": "OK"}
    live.close()
    assert admin.delete_groups(["admin-live"]) == {"admin-live": "OK"}
    assert admin.list_groups() == []
    admin.close()


def test_confluent_admin_lists_describes_reads_and_deletes_groups(broker_factory):
    b = broker_factory(*CONFIGS)
    topic = "admin-ck"
    create_topic(b.bootstrap, topic)
    produce(b.bootstrap, topic, 1, "x")
    [live] = start_group("confluent", b.bootstrap, "admin-live", topic, 1, commit=True)
    wait_until("the member processes and commits every record",
               lambda: len({p for p, _, _ in live.records()}) == PARTITIONS
               and live.all_committed(), [live])
    simple = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "admin-simple"})
    simple.commit(offsets=[CkTopicPartition(topic, 0, 1)], asynchronous=False)
    simple.close()

    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    listed = admin.list_consumer_groups().result(timeout=10)
    assert listed.errors == []
    states = {g.group_id: (g.is_simple_consumer_group, g.state) for g in listed.valid}
    assert states == {
        "admin-live": (False, ConsumerGroupState.STABLE),
        "admin-simple": (True, ConsumerGroupState.EMPTY),
    }
    stable = admin.list_consumer_groups(states={ConsumerGroupState.STABLE}).result(timeout=10)
    assert [g.group_id for g in stable.valid] == ["admin-live"]

    futures = admin.describe_consumer_groups(["admin-live", "admin-simple"])
    g = futures["admin-live"].result(timeout=10)
    assert (g.state, g.partition_assignor) == (ConsumerGroupState.STABLE, "range")
    [m] = g.members
    assert (m.client_id, m.host) == ("ck-member", "127.0.0.1")
    assert sorted(tp.partition for tp in m.assignment.topic_partitions) == list(range(PARTITIONS))
    assert futures["admin-simple"].result(timeout=10).state == ConsumerGroupState.EMPTY

    futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("admin-live")])
    got = futures["admin-live"].result(timeout=10)
    assert {tp.partition: tp.offset for tp in got.topic_partitions} == \
        {p: 1 for p in range(PARTITIONS)}

    futures = admin.delete_consumer_groups(["admin-live", "admin-simple"])
    with pytest.raises(KafkaException, match="NON_EMPTY_GROUP"):
        futures["admin-live"].result(timeout=10)
    futures["admin-simple"].result(timeout=10)
    live.close()
    admin.delete_consumer_groups(["admin-live"])["admin-live"].result(timeout=10)
    assert admin.list_consumer_groups().result(timeout=10).valid == []


@pytest.mark.parametrize("client", CLIENTS)
def test_the_broker_stops_promptly_with_members_connected(broker_factory, client):
    b = broker_factory(*CONFIGS)
    topic = "stop-" + client
    create_topic(b.bootstrap, topic)
    members = start_group(client, b.bootstrap, "stop", topic, 2)
    started = time.time()
    assert b.stop() == 0
    assert time.time() - started < 10, "members' requests held the shutdown"
    for m in members:
        m.close()

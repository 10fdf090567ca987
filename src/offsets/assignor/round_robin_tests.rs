//! Kafka's `RoundRobinAssignorTest` cases, and the example of its docs.

use super::*;
use crate::offsets::assignor::test_support::*;

fn assign(
    partitions: &BTreeMap<String, u32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let a = RoundRobinAssignor.assign(partitions, subscriptions);
    check_valid(partitions, subscriptions, &a);
    check_complete(partitions, subscriptions, &a);
    a
}

#[test]
fn one_consumer_no_topic() {
    let a = assign(&topics(&[]), &members(vec![("consumer", sub(&[]))]));
    assert_eq!(a, BTreeMap::from([("consumer".to_string(), vec![])]));
}

#[test]
fn one_consumer_nonexistent_topic() {
    let a = assign(&topics(&[]), &members(vec![("consumer", sub(&["topic"]))]));
    assert_eq!(a, BTreeMap::from([("consumer".to_string(), vec![])]));
}

#[test]
fn one_consumer_one_topic() {
    let a = assign(
        &topics(&[("topic", 3)]),
        &members(vec![("consumer", sub(&["topic"]))]),
    );
    assert_eq!(
        a["consumer"],
        [tp("topic", 0), tp("topic", 1), tp("topic", 2)]
    );
}

#[test]
fn only_assigns_partitions_from_subscribed_topics() {
    let a = assign(
        &topics(&[("topic", 3), ("other", 3)]),
        &members(vec![("consumer", sub(&["topic"]))]),
    );
    assert_eq!(
        a["consumer"],
        [tp("topic", 0), tp("topic", 1), tp("topic", 2)]
    );
}

#[test]
fn one_consumer_multiple_topics() {
    let a = assign(
        &topics(&[("topic1", 1), ("topic2", 2)]),
        &members(vec![("consumer", sub(&["topic1", "topic2"]))]),
    );
    assert_eq!(
        a["consumer"],
        [tp("topic1", 0), tp("topic2", 0), tp("topic2", 1)]
    );
}

#[test]
fn two_consumers_one_topic_one_partition() {
    let a = assign(
        &topics(&[("topic", 1)]),
        &members(vec![
            ("consumer1", sub(&["topic"])),
            ("consumer2", sub(&["topic"])),
        ]),
    );
    assert_eq!(a["consumer1"], [tp("topic", 0)]);
    assert!(a["consumer2"].is_empty());
}

#[test]
fn two_consumers_one_topic_two_partitions() {
    let a = assign(
        &topics(&[("topic", 2)]),
        &members(vec![
            ("consumer1", sub(&["topic"])),
            ("consumer2", sub(&["topic"])),
        ]),
    );
    assert_eq!(a["consumer1"], [tp("topic", 0)]);
    assert_eq!(a["consumer2"], [tp("topic", 1)]);
}

#[test]
fn multiple_consumers_mixed_topics() {
    let a = assign(
        &topics(&[("topic1", 3), ("topic2", 2)]),
        &members(vec![
            ("consumer1", sub(&["topic1"])),
            ("consumer2", sub(&["topic1", "topic2"])),
            ("consumer3", sub(&["topic1"])),
        ]),
    );
    assert_eq!(a["consumer1"], [tp("topic1", 0)]);
    assert_eq!(
        a["consumer2"],
        [tp("topic1", 1), tp("topic2", 0), tp("topic2", 1)]
    );
    assert_eq!(a["consumer3"], [tp("topic1", 2)]);
}

#[test]
fn different_subscriptions_pass_over_members_not_subscribed() {
    // The example of Kafka's RoundRobinAssignor documentation.
    let a = assign(
        &topics(&[("t0", 1), ("t1", 2), ("t2", 3)]),
        &members(vec![
            ("C0", sub(&["t0"])),
            ("C1", sub(&["t0", "t1"])),
            ("C2", sub(&["t0", "t1", "t2"])),
        ]),
    );
    assert_eq!(a["C0"], [tp("t0", 0)]);
    assert_eq!(a["C1"], [tp("t1", 0)]);
    assert_eq!(
        a["C2"],
        [tp("t1", 1), tp("t2", 0), tp("t2", 1), tp("t2", 2)]
    );
}

#[test]
fn two_dynamic_consumers_two_topics_six_partitions() {
    let both = ["topic1", "topic2"];
    let a = assign(
        &topics(&[("topic1", 3), ("topic2", 3)]),
        &members(vec![("consumer1", sub(&both)), ("consumer2", sub(&both))]),
    );
    assert_eq!(
        a["consumer1"],
        [tp("topic1", 0), tp("topic1", 2), tp("topic2", 1)]
    );
    assert_eq!(
        a["consumer2"],
        [tp("topic1", 1), tp("topic2", 0), tp("topic2", 2)]
    );
}

#[test]
fn static_members_sort_by_instance_id_not_member_id() {
    let six = topics(&[("topic1", 3), ("topic2", 3)]);
    let both = ["topic1", "topic2"];
    let first = [tp("topic1", 0), tp("topic1", 2), tp("topic2", 1)];
    let second = [tp("topic1", 1), tp("topic2", 0), tp("topic2", 2)];
    let a = assign(
        &six,
        &members(vec![
            ("consumer-b", sub(&both).with_group_instance_id("instance1")),
            ("consumer-a", sub(&both).with_group_instance_id("instance2")),
        ]),
    );
    assert_eq!(a["consumer-b"], first);
    assert_eq!(a["consumer-a"], second);
    let a = assign(
        &six,
        &members(vec![
            ("consumer-b", sub(&both).with_group_instance_id("instance1")),
            ("consumer-a", sub(&both)),
        ]),
    );
    assert_eq!(a["consumer-b"], first);
    assert_eq!(a["consumer-a"], second);
}

#[test]
fn static_member_assignment_persists_across_a_dynamic_member_change() {
    let partitions = topics(&[("topic1", 3), ("topic2", 3)]);
    let both = ["topic1", "topic2"];
    let mut group = members(vec![
        ("consumer1", sub(&both).with_group_instance_id("instance1")),
        ("consumer2", sub(&both).with_group_instance_id("instance2")),
        ("consumer3", sub(&both).with_group_instance_id("instance3")),
        ("consumer4", sub(&both)),
    ]);
    let a = assign(&partitions, &group);
    assert_eq!(a["consumer1"], [tp("topic1", 0), tp("topic2", 1)]);
    assert_eq!(a["consumer2"], [tp("topic1", 1), tp("topic2", 2)]);
    assert_eq!(a["consumer3"], [tp("topic1", 2)]);
    assert_eq!(a["consumer4"], [tp("topic2", 0)]);

    group.remove("consumer4");
    group.insert("consumer5".into(), sub(&both));
    let b = assign(&partitions, &group);
    assert_eq!(b["consumer5"], [tp("topic2", 0)]);
    for m in ["consumer1", "consumer2", "consumer3"] {
        assert_eq!(b[m], a[m]);
    }
}

#[test]
fn static_member_assignment_persists_after_member_ids_change() {
    let partitions = topics(&[("topic1", 5), ("topic2", 5)]);
    let both = ["topic1", "topic2"];
    let mut group = members(vec![
        ("consumer1", sub(&both).with_group_instance_id("instance1")),
        ("consumer2", sub(&both).with_group_instance_id("instance2")),
        ("consumer3", sub(&both).with_group_instance_id("instance3")),
    ]);
    let by_instance = |group: &BTreeMap<String, MemberSubscription>| {
        assign(&partitions, group)
            .into_iter()
            .map(|(m, p)| (group[&m].group_instance_id.clone().unwrap(), p))
            .collect::<BTreeMap<_, _>>()
    };
    let before = by_instance(&group);
    assert_eq!(
        before["instance1"],
        [
            tp("topic1", 0),
            tp("topic1", 3),
            tp("topic2", 1),
            tp("topic2", 4)
        ]
    );
    assert_eq!(
        before["instance2"],
        [tp("topic1", 1), tp("topic1", 4), tp("topic2", 2)]
    );
    assert_eq!(
        before["instance3"],
        [tp("topic1", 2), tp("topic2", 0), tp("topic2", 3)]
    );

    let s3 = group.remove("consumer3").unwrap();
    let s2 = group.remove("consumer2").unwrap();
    group.insert("consumer4".into(), s3);
    group.insert("consumer0".into(), s2);
    assert_eq!(by_instance(&group), before);
}

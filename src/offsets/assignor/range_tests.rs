//! Kafka's `RangeAssignorTest` cases (those without racks).

use super::*;
use crate::offsets::assignor::test_support::*;

fn assign(
    partitions: &BTreeMap<String, u32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let a = RangeAssignor.assign(partitions, subscriptions);
    check_valid(partitions, subscriptions, &a);
    a
}

#[test]
fn one_consumer_no_topic() {
    let a = assign(&topics(&[]), &members(vec![("consumer1", sub(&[]))]));
    assert_eq!(a, BTreeMap::from([("consumer1".to_string(), vec![])]));
}

#[test]
fn one_consumer_nonexistent_topic() {
    let a = assign(
        &topics(&[]),
        &members(vec![("consumer1", sub(&["topic1"]))]),
    );
    assert_eq!(a, BTreeMap::from([("consumer1".to_string(), vec![])]));
}

#[test]
fn one_consumer_one_topic() {
    let a = assign(
        &topics(&[("topic1", 3)]),
        &members(vec![("consumer1", sub(&["topic1"]))]),
    );
    assert_eq!(
        a["consumer1"],
        [tp("topic1", 0), tp("topic1", 1), tp("topic1", 2)]
    );
}

#[test]
fn only_assigns_partitions_from_subscribed_topics() {
    let a = assign(
        &topics(&[("topic1", 3), ("other", 3)]),
        &members(vec![("consumer1", sub(&["topic1"]))]),
    );
    assert_eq!(
        a["consumer1"],
        [tp("topic1", 0), tp("topic1", 1), tp("topic1", 2)]
    );
}

#[test]
fn one_consumer_multiple_topics() {
    let a = assign(
        &topics(&[("topic1", 1), ("topic2", 2)]),
        &members(vec![("consumer1", sub(&["topic1", "topic2"]))]),
    );
    assert_eq!(
        a["consumer1"],
        [tp("topic1", 0), tp("topic2", 0), tp("topic2", 1)]
    );
}

#[test]
fn two_consumers_one_topic_one_partition() {
    let a = assign(
        &topics(&[("topic1", 1)]),
        &members(vec![
            ("consumer1", sub(&["topic1"])),
            ("consumer2", sub(&["topic1"])),
        ]),
    );
    assert_eq!(a["consumer1"], [tp("topic1", 0)]);
    assert!(a["consumer2"].is_empty());
}

#[test]
fn two_consumers_one_topic_two_partitions() {
    let a = assign(
        &topics(&[("topic1", 2)]),
        &members(vec![
            ("consumer1", sub(&["topic1"])),
            ("consumer2", sub(&["topic1"])),
        ]),
    );
    assert_eq!(a["consumer1"], [tp("topic1", 0)]);
    assert_eq!(a["consumer2"], [tp("topic1", 1)]);
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
fn two_consumers_two_topics_six_partitions() {
    let a = assign(
        &topics(&[("topic1", 3), ("topic2", 3)]),
        &members(vec![
            ("consumer1", sub(&["topic1", "topic2"])),
            ("consumer2", sub(&["topic1", "topic2"])),
        ]),
    );
    let first = [
        tp("topic1", 0),
        tp("topic1", 1),
        tp("topic2", 0),
        tp("topic2", 1),
    ];
    assert_eq!(a["consumer1"], first);
    assert_eq!(a["consumer2"], [tp("topic1", 2), tp("topic2", 2)]);
}

#[test]
fn static_members_sort_by_instance_id_not_member_id() {
    let six = topics(&[("topic1", 3), ("topic2", 3)]);
    let both = ["topic1", "topic2"];
    let first = [
        tp("topic1", 0),
        tp("topic1", 1),
        tp("topic2", 0),
        tp("topic2", 1),
    ];
    // "consumer-b" sorts after "consumer-a", but its instance id first.
    let a = assign(
        &six,
        &members(vec![
            ("consumer-b", sub(&both).with_group_instance_id("instance1")),
            ("consumer-a", sub(&both).with_group_instance_id("instance2")),
        ]),
    );
    assert_eq!(a["consumer-b"], first);
    assert_eq!(a["consumer-a"], [tp("topic1", 2), tp("topic2", 2)]);
    // A static member sorts before every dynamic one.
    let a = assign(
        &six,
        &members(vec![
            ("consumer-b", sub(&both).with_group_instance_id("instance1")),
            ("consumer-a", sub(&both)),
        ]),
    );
    assert_eq!(a["consumer-b"], first);
    assert_eq!(a["consumer-a"], [tp("topic1", 2), tp("topic2", 2)]);
}

#[test]
fn static_member_assignment_persists_across_a_dynamic_member_change() {
    let partitions = topics(&[("topic1", 5), ("topic2", 4)]);
    let both = ["topic1", "topic2"];
    let mut group = members(vec![
        ("consumer1", sub(&both).with_group_instance_id("instance1")),
        ("consumer2", sub(&both).with_group_instance_id("instance2")),
        ("consumer3", sub(&both).with_group_instance_id("instance3")),
        ("consumer4", sub(&both)),
    ]);
    let a = assign(&partitions, &group);
    assert_eq!(
        a["consumer1"],
        [tp("topic1", 0), tp("topic1", 1), tp("topic2", 0)]
    );
    assert_eq!(a["consumer2"], [tp("topic1", 2), tp("topic2", 1)]);
    assert_eq!(a["consumer3"], [tp("topic1", 3), tp("topic2", 2)]);
    assert_eq!(a["consumer4"], [tp("topic1", 4), tp("topic2", 3)]);

    group.remove("consumer4");
    group.insert("consumer5".into(), sub(&both));
    let b = assign(&partitions, &group);
    assert_eq!(b["consumer5"], a["consumer4"]);
    for m in ["consumer1", "consumer2", "consumer3"] {
        assert_eq!(b[m], a[m]);
    }
}

/// Each static member's partitions, keyed by instance id.
fn by_instance(
    group: &BTreeMap<String, MemberSubscription>,
    a: &BTreeMap<String, Vec<TopicPartition>>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    a.iter()
        .filter_map(|(m, p)| Some((group[m].group_instance_id.clone()?, p.clone())))
        .collect()
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
    let before = by_instance(&group, &assign(&partitions, &group));
    assert_eq!(
        before["instance1"],
        [
            tp("topic1", 0),
            tp("topic1", 1),
            tp("topic2", 0),
            tp("topic2", 1)
        ]
    );
    assert_eq!(
        before["instance2"],
        [
            tp("topic1", 2),
            tp("topic1", 3),
            tp("topic2", 2),
            tp("topic2", 3)
        ]
    );
    assert_eq!(before["instance3"], [tp("topic1", 4), tp("topic2", 4)]);

    // The members rejoin under new member ids that sort the other way.
    let s3 = group.remove("consumer3").unwrap();
    let s2 = group.remove("consumer2").unwrap();
    group.insert("consumer4".into(), s3);
    group.insert("consumer0".into(), s2);
    assert_eq!(by_instance(&group, &assign(&partitions, &group)), before);
}

#[test]
fn duplicate_and_unknown_topics_in_a_subscription_are_harmless() {
    let a = assign(
        &topics(&[("t", 2)]),
        &members(vec![("c1", sub(&["t", "t", "gone"])), ("c2", sub(&["t"]))]),
    );
    assert_eq!(a["c1"], [tp("t", 0)]);
    assert_eq!(a["c2"], [tp("t", 1)]);
}

//! Kafka's `AbstractStickyAssignorTest` cases (those without racks), run on
//! the balanced assignment before any cooperative adjustment.

use super::*;
use crate::offsets::assignor::test_support::*;

pub(super) const GENERATION: i32 = 1;

/// Member data straight from the subscription's owned partitions and
/// generation.
fn owned_data(m: &MemberSubscription) -> MemberData {
    MemberData {
        partitions: m.owned_partitions.clone(),
        generation: m.known_generation(),
    }
}

/// The balanced assignment, checked for validity, completeness and
/// Kafka's balance criterion.
pub(super) fn run(
    partitions: &BTreeMap<String, u32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
) -> Balanced {
    let b = assign_balanced(partitions, subscriptions, owned_data);
    check_valid(partitions, subscriptions, &b.assignment);
    check_complete(partitions, subscriptions, &b.assignment);
    check_kafka_balance(&b.assignment);
    b
}

pub(super) fn no_transfers(b: &Balanced) {
    assert_eq!(b.transferring, Some(BTreeMap::new()), "{:?}", b.assignment);
}

pub(super) fn transfers(
    list: &[(TopicPartition, &str)],
) -> Option<BTreeMap<TopicPartition, String>> {
    Some(
        list.iter()
            .map(|(p, m)| (p.clone(), m.to_string()))
            .collect(),
    )
}

/// Kafka's test naming of numbered topics and members (`t01`, `c05`, ...).
fn name(prefix: &str, i: usize, max: usize) -> String {
    let digits = max.to_string().len();
    format!("{prefix}{i:0digits$}")
}

#[test]
fn one_consumer_no_topic() {
    let b = run(&topics(&[]), &members(vec![("consumer", sub(&[]))]));
    assert_eq!(
        b.assignment,
        BTreeMap::from([("consumer".to_string(), vec![])])
    );
    no_transfers(&b);
}

#[test]
fn one_consumer_nonexistent_topic() {
    let b = run(
        &topics(&[("topic", 0)]),
        &members(vec![("consumer", sub(&["topic"]))]),
    );
    assert_eq!(
        b.assignment,
        BTreeMap::from([("consumer".to_string(), vec![])])
    );
    no_transfers(&b);
}

#[test]
fn one_consumer_one_topic() {
    let b = run(
        &topics(&[("topic", 3)]),
        &members(vec![("consumer", sub(&["topic"]))]),
    );
    assert_eq!(
        b.assignment["consumer"],
        [tp("topic", 0), tp("topic", 1), tp("topic", 2)]
    );
    no_transfers(&b);
}

#[test]
fn only_assigns_partitions_from_subscribed_topics() {
    let owned = [
        tp("topic", 0),
        tp("topic", 1),
        tp("other", 0),
        tp("other", 1),
    ];
    let b = run(
        &topics(&[("topic", 2)]),
        &members(vec![("consumer", owning(&["topic"], &owned, GENERATION))]),
    );
    assert_eq!(b.assignment["consumer"], [tp("topic", 0), tp("topic", 1)]);
    no_transfers(&b);
}

#[test]
fn one_consumer_multiple_topics() {
    let b = run(
        &topics(&[("topic1", 1), ("topic2", 2)]),
        &members(vec![("consumer", sub(&["topic1", "topic2"]))]),
    );
    assert_eq!(
        b.assignment["consumer"],
        [tp("topic1", 0), tp("topic2", 0), tp("topic2", 1)]
    );
}

#[test]
fn two_consumers_one_topic_one_and_two_partitions() {
    let group = members(vec![
        ("consumer1", sub(&["topic"])),
        ("consumer2", sub(&["topic"])),
    ]);
    let b = run(&topics(&[("topic", 1)]), &group);
    assert_eq!(b.assignment.values().map(Vec::len).sum::<usize>(), 1);
    no_transfers(&b);
    let b = run(&topics(&[("topic", 2)]), &group);
    assert_eq!(b.assignment["consumer1"], [tp("topic", 0)]);
    assert_eq!(b.assignment["consumer2"], [tp("topic", 1)]);
    no_transfers(&b);
}

#[test]
fn multiple_consumers_mixed_topic_subscriptions() {
    let b = run(
        &topics(&[("topic1", 3), ("topic2", 2)]),
        &members(vec![
            ("consumer1", sub(&["topic1"])),
            ("consumer2", sub(&["topic1", "topic2"])),
            ("consumer3", sub(&["topic1"])),
        ]),
    );
    assert_eq!(
        b.assignment["consumer1"],
        [tp("topic1", 0), tp("topic1", 2)]
    );
    assert_eq!(
        b.assignment["consumer2"],
        [tp("topic2", 0), tp("topic2", 1)]
    );
    assert_eq!(b.assignment["consumer3"], [tp("topic1", 1)]);
    // The general case leaves finding the moves to the caller.
    assert_eq!(b.transferring, None);
}

#[test]
fn two_consumers_two_topics_six_partitions() {
    let both = ["topic1", "topic2"];
    let b = run(
        &topics(&[("topic1", 3), ("topic2", 3)]),
        &members(vec![("consumer1", sub(&both)), ("consumer2", sub(&both))]),
    );
    assert_eq!(
        b.assignment["consumer1"],
        [tp("topic1", 0), tp("topic1", 2), tp("topic2", 1)]
    );
    assert_eq!(
        b.assignment["consumer2"],
        [tp("topic1", 1), tp("topic2", 0), tp("topic2", 2)]
    );
    no_transfers(&b);
}

#[test]
fn a_member_owning_min_quota_gets_up_to_max_quota() {
    let both = ["topic1", "topic2"];
    let b = run(
        &topics(&[("topic1", 2), ("topic2", 3)]),
        &members(vec![
            (
                "consumer1",
                owning(&both, &[tp("topic1", 0), tp("topic2", 1)], GENERATION),
            ),
            (
                "consumer2",
                owning(&both, &[tp("topic1", 1), tp("topic2", 2)], GENERATION),
            ),
        ]),
    );
    assert_eq!(
        b.assignment["consumer1"],
        set(&[tp("topic1", 0), tp("topic2", 1), tp("topic2", 0)])
    );
    assert_eq!(
        b.assignment["consumer2"],
        [tp("topic1", 1), tp("topic2", 2)]
    );
    no_transfers(&b);
}

#[test]
fn more_members_at_max_quota_than_wanted_give_one_up() {
    let both = ["topic1", "topic2"];
    let b = run(
        &topics(&[("topic1", 2), ("topic2", 2)]),
        &members(vec![
            (
                "consumer1",
                owning(&both, &[tp("topic1", 0), tp("topic2", 0)], GENERATION),
            ),
            (
                "consumer2",
                owning(&both, &[tp("topic1", 1), tp("topic2", 1)], GENERATION),
            ),
            ("consumer3", owning(&both, &[], GENERATION)),
        ]),
    );
    // The first member in member-id order keeps its two; Kafka takes the
    // members in hash-map order, so its own test sees consumer2 keep two.
    assert_eq!(b.transferring, transfers(&[(tp("topic2", 1), "consumer3")]));
    assert_eq!(
        b.assignment["consumer1"],
        [tp("topic1", 0), tp("topic2", 0)]
    );
    assert_eq!(b.assignment["consumer2"], [tp("topic1", 1)]);
    assert_eq!(b.assignment["consumer3"], [tp("topic2", 1)]);
}

#[test]
fn all_members_under_min_quota_keep_theirs_and_fill_up() {
    let both = ["topic1", "topic2"];
    let b = run(
        &topics(&[("topic1", 2), ("topic2", 3)]),
        &members(vec![
            ("consumer1", owning(&both, &[tp("topic1", 0)], GENERATION)),
            ("consumer2", owning(&both, &[tp("topic1", 1)], GENERATION)),
            ("consumer3", owning(&both, &[], GENERATION)),
        ]),
    );
    no_transfers(&b);
    assert_eq!(
        b.assignment["consumer1"],
        [tp("topic1", 0), tp("topic2", 1)]
    );
    assert_eq!(
        b.assignment["consumer2"],
        [tp("topic1", 1), tp("topic2", 2)]
    );
    assert_eq!(b.assignment["consumer3"], [tp("topic2", 0)]);
}

#[test]
fn all_members_reach_their_quota_and_count_as_filled() {
    let b = run(
        &topics(&[("topic", 4)]),
        &members(vec![
            (
                "consumer1",
                owning(&["topic"], &[tp("topic", 0), tp("topic", 1)], GENERATION),
            ),
            (
                "consumer2",
                owning(&["topic"], &[tp("topic", 2)], GENERATION),
            ),
            ("consumer3", owning(&["topic"], &[], GENERATION)),
        ]),
    );
    assert_eq!(b.assignment["consumer1"], [tp("topic", 0), tp("topic", 1)]);
    assert_eq!(b.assignment["consumer2"], [tp("topic", 2)]);
    assert_eq!(b.assignment["consumer3"], [tp("topic", 3)]);
    no_transfers(&b);
}

#[test]
fn add_and_remove_a_member_of_one_topic() {
    let partitions = topics(&[("topic", 3)]);
    let b = run(&partitions, &members(vec![("consumer1", sub(&["topic"]))]));
    let all = [tp("topic", 0), tp("topic", 1), tp("topic", 2)];
    assert_eq!(b.assignment["consumer1"], all);

    let group = members(vec![
        ("consumer1", owning(&["topic"], &all, GENERATION)),
        ("consumer2", owning(&["topic"], &[], GENERATION)),
    ]);
    let b = run(&partitions, &group);
    assert_eq!(b.transferring, transfers(&[(tp("topic", 2), "consumer2")]));
    assert_eq!(b.assignment["consumer1"], [tp("topic", 0), tp("topic", 1)]);
    assert_eq!(b.assignment["consumer2"], [tp("topic", 2)]);

    let group = members(vec![(
        "consumer2",
        owning(&["topic"], &[tp("topic", 2)], GENERATION),
    )]);
    let b = run(&partitions, &group);
    assert_eq!(b.assignment["consumer2"], all);
    no_transfers(&b);
}

#[test]
fn add_and_remove_two_members_of_two_topics() {
    let both = ["topic1", "topic2"];
    let partitions = topics(&[("topic1", 3), ("topic2", 4)]);
    let b = run(
        &partitions,
        &members(vec![("consumer1", sub(&both)), ("consumer2", sub(&both))]),
    );
    let c1 = [
        tp("topic1", 0),
        tp("topic1", 2),
        tp("topic2", 1),
        tp("topic2", 3),
    ];
    let c2 = [tp("topic1", 1), tp("topic2", 0), tp("topic2", 2)];
    assert_eq!(b.assignment["consumer1"], c1);
    assert_eq!(b.assignment["consumer2"], c2);
    no_transfers(&b);

    let group = members(vec![
        ("consumer1", owning(&both, &c1, GENERATION)),
        ("consumer2", owning(&both, &c2, GENERATION)),
        ("consumer3", owning(&both, &[], GENERATION)),
        ("consumer4", owning(&both, &[], GENERATION)),
    ]);
    let b = run(&partitions, &group);
    assert_eq!(
        b.transferring,
        transfers(&[
            (tp("topic1", 2), "consumer3"),
            (tp("topic2", 3), "consumer3"),
            (tp("topic2", 2), "consumer4"),
        ])
    );
    let c1 = [tp("topic1", 0), tp("topic2", 1)];
    let c2 = [tp("topic1", 1), tp("topic2", 0)];
    let c3 = [tp("topic1", 2), tp("topic2", 3)];
    let c4 = [tp("topic2", 2)];
    assert_eq!(b.assignment["consumer1"], c1);
    assert_eq!(b.assignment["consumer2"], c2);
    assert_eq!(b.assignment["consumer3"], c3);
    assert_eq!(b.assignment["consumer4"], c4);

    let group = members(vec![
        ("consumer3", owning(&both, &c3, GENERATION)),
        ("consumer4", owning(&both, &c4, GENERATION)),
    ]);
    let b = run(&partitions, &group);
    assert_eq!(
        b.assignment["consumer3"],
        set(&[
            tp("topic1", 2),
            tp("topic2", 3),
            tp("topic1", 0),
            tp("topic2", 1)
        ])
    );
    assert_eq!(
        b.assignment["consumer4"],
        set(&[tp("topic2", 2), tp("topic1", 1), tp("topic2", 0)])
    );
    no_transfers(&b);
}

#[test]
fn topics_stay_balanced_as_members_come_and_go() {
    let both = ["topic1", "topic2"];
    let partitions = topics(&[("topic1", 12), ("topic2", 12)]);
    let per_topic = |a: &BTreeMap<String, Vec<TopicPartition>>, n: usize| {
        for partitions in a.values() {
            for topic in both {
                assert_eq!(
                    partitions.iter().filter(|p| p.topic == topic).count(),
                    n,
                    "{a:?}"
                );
            }
        }
    };
    let b = run(&partitions, &members(vec![("consumer1", sub(&both))]));
    per_topic(&b.assignment, 12);
    let mut group = members(vec![
        (
            "consumer1",
            owning(&both, &b.assignment["consumer1"], GENERATION),
        ),
        ("consumer2", owning(&both, &[], GENERATION)),
    ]);
    let b = run(&partitions, &group);
    per_topic(&b.assignment, 6);
    group = rejoin(&group, &b.assignment, GENERATION);
    group.insert("consumer3".into(), owning(&both, &[], GENERATION));
    group.insert("consumer4".into(), owning(&both, &[], GENERATION));
    let b = run(&partitions, &group);
    per_topic(&b.assignment, 3);
    group = rejoin(&group, &b.assignment, GENERATION);
    group.remove("consumer1");
    group.remove("consumer2");
    let b = run(&partitions, &group);
    per_topic(&b.assignment, 6);
    no_transfers(&b);
}

#[test]
fn poor_round_robin_scenario_is_balanced() {
    let partitions: BTreeMap<String, u32> = (1..=5)
        .map(|i| (format!("topic{i}"), (i % 2) + 1))
        .collect();
    let all = ["topic1", "topic2", "topic3", "topic4", "topic5"];
    let odd = ["topic1", "topic3", "topic5"];
    let b = run(
        &partitions,
        &members(vec![
            ("consumer1", sub(&all)),
            ("consumer2", sub(&odd)),
            ("consumer3", sub(&odd)),
            ("consumer4", sub(&all)),
        ]),
    );
    assert!(
        b.assignment.values().all(|p| p.len() == 2),
        "{:?}",
        b.assignment
    );
}

#[test]
fn adding_and_removing_a_topic_keeps_partitions_with_their_owners() {
    let mut partitions = topics(&[("topic", 3)]);
    let group = members(vec![
        ("consumer1", sub(&["topic"])),
        ("consumer2", sub(&["topic"])),
    ]);
    let first = run(&partitions, &group).assignment;
    assert_eq!(spread(&first), 1);

    partitions.insert("topic2".into(), 3);
    let both = ["topic", "topic2"];
    let group = members(vec![
        ("consumer1", owning(&both, &first["consumer1"], GENERATION)),
        ("consumer2", owning(&both, &first["consumer2"], GENERATION)),
    ]);
    let b = run(&partitions, &group);
    no_transfers(&b);
    let second = b.assignment;
    for m in ["consumer1", "consumer2"] {
        assert_eq!(second[m].len(), 3);
        assert!(
            first[m].iter().all(|p| second[m].contains(p)),
            "{m} lost a partition"
        );
    }

    partitions.remove("topic");
    let group = members(vec![
        (
            "consumer1",
            owning(&["topic2"], &second["consumer1"], GENERATION),
        ),
        (
            "consumer2",
            owning(&["topic2"], &second["consumer2"], GENERATION),
        ),
    ]);
    let b = run(&partitions, &group);
    no_transfers(&b);
    assert_eq!(spread(&b.assignment), 1);
    for m in ["consumer1", "consumer2"] {
        assert!(
            b.assignment[m].iter().all(|p| second[m].contains(p)),
            "{m} took another's"
        );
    }
}

/// Kafka's `testReassignmentAfterOneConsumerLeaves`: nineteen topics of 1
/// to 19 partitions, member `i` subscribed to the first `i` topics.
#[test]
fn a_member_leaving_a_group_of_unequal_subscriptions() {
    let partitions: BTreeMap<String, u32> = (1..20).map(|i| (name("t", i, 20), i as u32)).collect();
    let mut group: BTreeMap<String, MemberSubscription> = (1..20)
        .map(|i| {
            let topics: Vec<String> = (1..=i).map(|j| name("t", j, 20)).collect();
            (name("c", i, 20), MemberSubscription::new(topics))
        })
        .collect();
    let b = run(&partitions, &group);
    group = rejoin(&group, &b.assignment, GENERATION);
    group.remove("c10");
    let after = run(&partitions, &group).assignment;
    check_no_swaps(&group, &after);
}

#[test]
fn a_member_joining_a_group_of_equal_subscriptions() {
    let partitions = topics(&[("topic", 20)]);
    let mut group: BTreeMap<String, MemberSubscription> = (1..10)
        .map(|i| (name("c", i, 10), sub(&["topic"])))
        .collect();
    let b = run(&partitions, &group);
    no_transfers(&b);
    group.insert(name("c", 10, 10), sub(&["topic"]));
    let b = run(&partitions, &group);
    no_transfers(&b);
    assert_eq!(spread(&b.assignment), 0);
}

#[test]
fn a_member_leaving_a_group_of_equal_subscriptions() {
    let partitions: BTreeMap<String, u32> = (1..15).map(|i| (name("t", i, 15), i as u32)).collect();
    let all: Vec<String> = partitions.keys().cloned().collect();
    let mut group: BTreeMap<String, MemberSubscription> = (1..9)
        .map(|i| (name("c", i, 9), MemberSubscription::new(all.clone())))
        .collect();
    let b = run(&partitions, &group);
    no_transfers(&b);
    group = rejoin(&group, &b.assignment, GENERATION);
    group.remove(&name("c", 5, 9));
    let b = run(&partitions, &group);
    no_transfers(&b);
    assert!(spread(&b.assignment) <= 1);
}

#[test]
fn existing_assignments_of_unequal_subscriptions_are_moved_to_balance() {
    let partitions: BTreeMap<String, u32> = (1..=6).map(|i| (format!("topic{i}"), 1)).collect();
    let b = run(
        &partitions,
        &members(vec![
            (
                "consumer1",
                owning(&["topic1", "topic2"], &[tp("topic1", 0)], GENERATION),
            ),
            (
                "consumer2",
                owning(
                    &["topic1", "topic2", "topic3", "topic4"],
                    &[tp("topic2", 0), tp("topic3", 0)],
                    GENERATION,
                ),
            ),
            (
                "consumer3",
                owning(
                    &["topic2", "topic3", "topic4", "topic5", "topic6"],
                    &[tp("topic4", 0), tp("topic5", 0), tp("topic6", 0)],
                    GENERATION,
                ),
            ),
        ]),
    );
    assert_eq!(b.transferring, None);
}

#[test]
fn stickiness_when_the_leader_leaves() {
    let partitions = topics(&[("topic1", 3)]);
    let mut group: BTreeMap<String, MemberSubscription> = (1..=4)
        .map(|i| (format!("consumer{i}"), sub(&["topic1"])))
        .collect();
    let first = run(&partitions, &group);
    no_transfers(&first);
    assert!(first.assignment.values().all(|p| p.len() <= 1));
    group = rejoin(&group, &first.assignment, GENERATION);
    group.remove("consumer1");
    let second = run(&partitions, &group);
    no_transfers(&second);
    for (m, partitions) in &second.assignment {
        assert_eq!(partitions.len(), 1);
        if let [had] = first.assignment[m].as_slice() {
            assert_eq!(&partitions[0], had, "stickiness not honoured for {m}");
        }
    }
}

#[test]
fn a_deleted_topic_is_left_out() {
    let b = run(
        &topics(&[("topic1", 1), ("topic3", 100)]),
        &members(vec![("consumer", sub(&["topic1", "topic2", "topic3"]))]),
    );
    assert_eq!(b.assignment["consumer"].len(), 101);
    no_transfers(&b);

    let owned = [tp("topic", 0), tp("topic", 1)];
    let b = run(
        &topics(&[]),
        &members(vec![("consumer", owning(&["topic"], &owned, GENERATION))]),
    );
    assert_eq!(
        b.assignment,
        BTreeMap::from([("consumer".to_string(), vec![])])
    );
    no_transfers(&b);
}

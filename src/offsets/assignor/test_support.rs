//! Builders and checks shared by the assignor tests.

use std::collections::{BTreeMap, BTreeSet};

use super::{MemberSubscription, PartitionAssignor};
use crate::store::TopicPartition;

pub(crate) type Assignment = BTreeMap<String, Vec<TopicPartition>>;

pub(crate) fn tp(topic: &str, partition: u32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// Partition counts by topic.
pub(crate) fn topics(counts: &[(&str, u32)]) -> BTreeMap<String, u32> {
    counts.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

/// A member subscribing to `topics`, owning nothing.
pub(crate) fn sub(topics: &[&str]) -> MemberSubscription {
    MemberSubscription::new(topics.iter().copied())
}

/// A member subscribing to `topics`, owning `owned` since `generation`.
pub(crate) fn owning(
    topics: &[&str],
    owned: &[TopicPartition],
    generation: i32,
) -> MemberSubscription {
    sub(topics).with_owned_partitions(owned.to_vec(), generation)
}

pub(crate) fn members(
    list: Vec<(&str, MemberSubscription)>,
) -> BTreeMap<String, MemberSubscription> {
    list.into_iter().map(|(m, s)| (m.to_string(), s)).collect()
}

/// `list` sorted, for comparing with an assignor's sorted output.
pub(crate) fn set(list: &[TopicPartition]) -> Vec<TopicPartition> {
    let mut v = list.to_vec();
    v.sort();
    v
}

/// Every member is in the assignment, each only with partitions of topics
/// it subscribes to that exist, and no partition is assigned twice.
pub(crate) fn check_valid(
    partitions_per_topic: &BTreeMap<String, u32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
    assignment: &Assignment,
) {
    let names: BTreeSet<&String> = assignment.keys().collect();
    assert_eq!(
        names,
        subscriptions.keys().collect(),
        "members of {assignment:?}"
    );
    let mut seen = BTreeSet::new();
    for (member, partitions) in assignment {
        let s = &subscriptions[member];
        for p in partitions {
            assert!(
                s.topics.contains(&p.topic),
                "{member} got {p} of an unsubscribed topic"
            );
            assert!(
                partitions_per_topic
                    .get(&p.topic)
                    .is_some_and(|&n| p.partition < n),
                "{member} got {p}, which does not exist"
            );
            assert!(
                seen.insert(p.clone()),
                "{p} assigned twice in {assignment:?}"
            );
        }
    }
}

/// Every partition of every subscribed topic is assigned.
pub(crate) fn check_complete(
    partitions_per_topic: &BTreeMap<String, u32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
    assignment: &Assignment,
) {
    let assigned: BTreeSet<&TopicPartition> = assignment.values().flatten().collect();
    for (topic, &n) in partitions_per_topic {
        if subscriptions.values().any(|s| s.topics.contains(topic)) {
            for p in 0..n {
                assert!(
                    assigned.contains(&tp(topic, p)),
                    "{topic}-{p} unassigned: {assignment:?}"
                );
            }
        }
    }
}

/// Kafka's balance check for sticky assignments: two members whose counts
/// differ by more than one hold no partitions of a common topic.
pub(crate) fn check_kafka_balance(assignment: &Assignment) {
    let list: Vec<(&String, &Vec<TopicPartition>)> = assignment.iter().collect();
    for (i, (a, pa)) in list.iter().enumerate() {
        for (b, pb) in list.iter().skip(i + 1) {
            if pa.len().abs_diff(pb.len()) <= 1 {
                continue;
            }
            let ta: BTreeSet<&String> = pa.iter().map(|p| &p.topic).collect();
            let tb: BTreeSet<&String> = pb.iter().map(|p| &p.topic).collect();
            assert!(
                ta.is_disjoint(&tb),
                "{a} ({}) and {b} ({}) share a topic: {assignment:?}",
                pa.len(),
                pb.len()
            );
        }
    }
}

/// Kafka's stickiness check: no two members swapped partitions of one
/// topic (one moving from `a` to `b` while another moved from `b` to `a`),
/// measured from the partitions `subscriptions` say each member owned.
pub(crate) fn check_no_swaps(
    subscriptions: &BTreeMap<String, MemberSubscription>,
    assignment: &Assignment,
) {
    let holder: BTreeMap<&TopicPartition, &String> = assignment
        .iter()
        .flat_map(|(m, ps)| ps.iter().map(move |p| (p, m)))
        .collect();
    let mut moves = BTreeSet::new();
    for (m, s) in subscriptions {
        for p in &s.owned_partitions {
            if let Some(&to) = holder.get(p) {
                if to != m {
                    moves.insert((&p.topic, m, to));
                }
            }
        }
    }
    for &(topic, from, to) in &moves {
        assert!(
            !moves.contains(&(topic, to, from)),
            "{topic} partitions moved both {from} -> {to} and back: {assignment:?}"
        );
    }
}

/// The largest minus the smallest member's partition count.
pub(crate) fn spread(assignment: &Assignment) -> usize {
    let counts = assignment.values().map(Vec::len);
    counts.clone().max().unwrap_or(0) - counts.min().unwrap_or(0)
}

/// The subscriptions of the next rebalance: each member now owns what
/// `assignment` gave it, in `generation`.
pub(crate) fn rejoin(
    subscriptions: &BTreeMap<String, MemberSubscription>,
    assignment: &Assignment,
    generation: i32,
) -> BTreeMap<String, MemberSubscription> {
    subscriptions
        .iter()
        .map(|(m, s)| {
            let owned = assignment.get(m).cloned().unwrap_or_default();
            (
                m.clone(),
                s.clone().with_owned_partitions(owned, generation),
            )
        })
        .collect()
}

/// Runs cooperative rebalances from `subscriptions` until one revokes
/// nothing, checking that none gives a member a partition another member
/// gives up in the same rebalance. Returns the final assignment, the
/// subscriptions it was computed from, and how many rebalances ran.
pub(crate) fn settle(
    assignor: &dyn PartitionAssignor,
    partitions_per_topic: &BTreeMap<String, u32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
    generation: i32,
) -> (Assignment, BTreeMap<String, MemberSubscription>, usize) {
    let mut subs = subscriptions.clone();
    let mut generation = generation;
    for round in 1..=5 {
        let assignment = assignor.assign(partitions_per_topic, &subs);
        check_valid(partitions_per_topic, &subs, &assignment);
        let mut added = BTreeSet::new();
        let mut revoked = BTreeSet::new();
        for (m, s) in &subs {
            let got = &assignment[m];
            added.extend(
                got.iter()
                    .filter(|p| !s.owned_partitions.contains(p))
                    .cloned(),
            );
            revoked.extend(
                s.owned_partitions
                    .iter()
                    .filter(|p| !got.contains(p))
                    .cloned(),
            );
        }
        let both: Vec<_> = added.intersection(&revoked).collect();
        assert!(both.is_empty(), "revoked and reassigned at once: {both:?}");
        if revoked.is_empty() {
            return (assignment, subs, round);
        }
        generation += 1;
        subs = rejoin(&subs, &assignment, generation);
    }
    panic!("no stable assignment after 5 rebalances");
}

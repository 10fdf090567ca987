//! Builders and checks shared by the assignor tests.

use std::collections::{BTreeMap, BTreeSet};

use super::MemberSubscription;
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

pub(crate) fn members(
    list: Vec<(&str, MemberSubscription)>,
) -> BTreeMap<String, MemberSubscription> {
    list.into_iter().map(|(m, s)| (m.to_string(), s)).collect()
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

//! [`RoundRobinAssignor`]: Kafka's `roundrobin` strategy.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    assignable_topics, empty_assignment, member_order, sorted, MemberSubscription,
    PartitionAssignor,
};
use crate::store::TopicPartition;

/// Kafka's `roundrobin` strategy (`RoundRobinAssignor`).
///
/// All partitions of all subscribed topics, sorted by topic and then
/// partition, are dealt one at a time to the members in Kafka's order,
/// going round; a member not subscribed to a partition's topic is passed
/// over for it. With equal subscriptions the counts differ by at most one;
/// with different ones the result can be lopsided.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl PartitionAssignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, u32>,
        subscriptions: &BTreeMap<String, MemberSubscription>,
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let mut assignment = empty_assignment(subscriptions);
        let mut members: Vec<(&String, &MemberSubscription)> = subscriptions.iter().collect();
        members.sort_by(|a, b| member_order(*a, *b));
        let topics_of: Vec<BTreeSet<&str>> = members
            .iter()
            .map(|(_, s)| s.topics.iter().map(String::as_str).collect())
            .collect();
        let mut turn = 0;
        for (topic, count) in assignable_topics(partitions_per_topic, subscriptions) {
            // Some member subscribes to every assignable topic, so the
            // search below ends within one round.
            for partition in 0..count {
                let Some(offset) = (0..members.len()).find(|k| {
                    topics_of
                        .get((turn + k) % members.len())
                        .is_some_and(|t| t.contains(topic))
                }) else {
                    break;
                };
                let at = (turn + offset) % members.len();
                if let Some(partitions) = members
                    .get(at)
                    .and_then(|(member, _)| assignment.get_mut(member.as_str()))
                {
                    partitions.push(TopicPartition::new(topic, partition));
                }
                turn = (at + 1) % members.len();
            }
        }
        sorted(assignment)
    }
}

#[cfg(test)]
#[path = "round_robin_tests.rs"]
mod tests;

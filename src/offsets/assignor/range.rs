//! [`RangeAssignor`]: Kafka's `range` strategy.

use std::collections::BTreeMap;

use super::{
    assignable_topics, empty_assignment, member_order, sorted, MemberSubscription,
    PartitionAssignor,
};
use crate::store::TopicPartition;

/// Kafka's `range` strategy (`RangeAssignor`, without rack awareness).
///
/// Each topic is divided on its own: its partitions, in order, are cut
/// into consecutive ranges, one per member subscribed to it, members in
/// Kafka's order; with `P` partitions and `M` members each gets `P / M`
/// and the first `P % M` one more. Topics with the same partition count
/// and subscribers are thus divided alike (partition `i` of each goes to
/// the same member), but the first members get the extra partitions of
/// every topic, so many topics can leave the group unbalanced.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl PartitionAssignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, u32>,
        subscriptions: &BTreeMap<String, MemberSubscription>,
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let mut assignment = empty_assignment(subscriptions);
        for (topic, count) in assignable_topics(partitions_per_topic, subscriptions) {
            let mut members: Vec<(&String, &MemberSubscription)> = subscriptions
                .iter()
                .filter(|(_, s)| s.topics.iter().any(|t| t == topic))
                .collect();
            members.sort_by(|a, b| member_order(*a, *b));
            let Ok(m) = u32::try_from(members.len()) else {
                continue;
            };
            if m == 0 {
                continue;
            }
            let (each, extra) = (count / m, count % m);
            let mut next = 0;
            for (i, (member, _)) in (0u32..).zip(members) {
                let n = each + u32::from(i < extra);
                if let Some(partitions) = assignment.get_mut(member.as_str()) {
                    partitions.extend((next..next + n).map(|p| TopicPartition::new(topic, p)));
                }
                next += n;
            }
        }
        sorted(assignment)
    }
}

#[cfg(test)]
#[path = "range_tests.rs"]
mod tests;

//! [`StickyAssignor`] and [`CooperativeStickyAssignor`]: Kafka's `sticky`
//! and `cooperative-sticky` strategies, one balanced sticky assignment
//! read from different member data.

use std::collections::{BTreeMap, HashSet};

use super::sticky::{assign_balanced, MemberData};
use super::{MemberSubscription, PartitionAssignor, RebalanceProtocol};
use crate::error::Result;
use crate::offsets::consumer_protocol::{Reader, Writer};
use crate::store::TopicPartition;

/// Kafka's `cooperative-sticky` strategy (`CooperativeStickyAssignor`,
/// without rack awareness), the second of Kafka's default strategies.
///
/// It computes the balanced assignment that keeps as many partitions with
/// their owners as it can (see [`StickyAssignor`]), reading what each
/// member owned from its subscription's owned partitions and generation
/// (from `user_data` when the subscription has no generation, as version 1
/// subscriptions do not). Because members keep their partitions while
/// rejoining, a partition that would move to another member is left out of
/// this assignment: its owner, not given it back, revokes it and rejoins,
/// and the follow-up rebalance assigns it to its new member.
///
/// ```
/// use std::collections::BTreeMap;
/// use seglog::offsets::{CooperativeStickyAssignor, MemberSubscription, PartitionAssignor};
/// use seglog::TopicPartition;
///
/// let tp = |p| TopicPartition::new("t", p);
/// let partitions = BTreeMap::from([("t".to_string(), 2)]);
/// // "a" owns both partitions; "b" joins.
/// let mut members = BTreeMap::from([
///     ("a".to_string(), MemberSubscription::new(["t"]).with_owned_partitions(vec![tp(0), tp(1)], 1)),
///     ("b".to_string(), MemberSubscription::new(["t"])),
/// ]);
/// let first = CooperativeStickyAssignor.assign(&partitions, &members);
/// assert_eq!(first["a"], [tp(0)]); // "a" revokes t-1 ...
/// assert!(first["b"].is_empty()); // ... before "b" gets it
///
/// members.insert("a".into(), MemberSubscription::new(["t"]).with_owned_partitions(vec![tp(0)], 2));
/// members.insert("b".into(), MemberSubscription::new(["t"]).with_owned_partitions(vec![], 2));
/// let second = CooperativeStickyAssignor.assign(&partitions, &members);
/// assert_eq!(second["b"], [tp(1)]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeStickyAssignor;

impl CooperativeStickyAssignor {
    /// What a member owned, as Kafka's `CooperativeStickyAssignor` reads
    /// it: the owned partitions, with the subscription's generation when it
    /// has one, else the generation in `user_data` (an `int32`; one that
    /// cannot be read counts as -1), else none.
    fn member_data(member: &MemberSubscription) -> MemberData {
        let generation = member.known_generation().or_else(|| {
            let bytes = member.user_data.as_deref()?;
            let mut r = Reader::new("cooperative-sticky user data", bytes);
            Some(r.i32("generation").unwrap_or(-1))
        });
        MemberData {
            partitions: member.owned_partitions.clone(),
            generation,
        }
    }
}

impl PartitionAssignor for CooperativeStickyAssignor {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    fn supported_protocols(&self) -> &'static [RebalanceProtocol] {
        &[RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, u32>,
        subscriptions: &BTreeMap<String, MemberSubscription>,
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let balanced = assign_balanced(partitions_per_topic, subscriptions, Self::member_data);
        let mut assignment = balanced.assignment;
        let transferring = balanced
            .transferring
            .unwrap_or_else(|| changing_owner(subscriptions, &assignment));
        for (tp, member) in transferring {
            if let Some(list) = assignment.get_mut(&member) {
                list.retain(|p| *p != tp);
            }
        }
        assignment
    }

    /// The generation, as an `int32`: Kafka's cooperative-sticky user data,
    /// which carries the generation for subscriptions of version 1.
    fn subscription_user_data(
        &self,
        _owned_partitions: &[TopicPartition],
        generation: i32,
    ) -> Result<Option<Vec<u8>>> {
        Ok(Some(generation.to_be_bytes().to_vec()))
    }
}

/// The partitions `assignment` gives to a member that did not own them
/// while a member that owned them is not given them, with the receiving
/// member.
fn changing_owner(
    subscriptions: &BTreeMap<String, MemberSubscription>,
    assignment: &BTreeMap<String, Vec<TopicPartition>>,
) -> BTreeMap<TopicPartition, String> {
    let mut added: BTreeMap<TopicPartition, String> = BTreeMap::new();
    let mut revoked: HashSet<&TopicPartition> = HashSet::new();
    for (member, assigned) in assignment {
        let owned: &[TopicPartition] = subscriptions
            .get(member)
            .map_or(&[], |s| s.owned_partitions.as_slice());
        let owned_set: HashSet<&TopicPartition> = owned.iter().collect();
        let assigned_set: HashSet<&TopicPartition> = assigned.iter().collect();
        for tp in assigned {
            if !owned_set.contains(tp) {
                added.insert(tp.clone(), member.clone());
            }
        }
        revoked.extend(owned.iter().filter(|tp| !assigned_set.contains(tp)));
    }
    added.retain(|tp, _| revoked.contains(tp));
    added
}

/// Kafka's `sticky` strategy (`StickyAssignor`, without rack awareness),
/// for the eager protocol.
///
/// The assignment is balanced — each member's count differs from any
/// other's by at most one, or no partition could move to a member holding
/// two fewer — and keeps as many partitions with their previous owners as
/// balance allows. Under the eager protocol members revoke everything
/// before rejoining, so they carry their previous assignment in
/// `user_data` ([`PartitionAssignor::subscription_user_data`]): Kafka's
/// sticky user data, `[]{topic: string, partitions: []int32}` then an
/// `int32` generation (the older layout without the generation is read
/// too). The subscription's owned partitions are not used. Members owning
/// the same partition are resolved by generation: the higher keeps it; in
/// a tie neither does.
#[derive(Debug, Clone, Copy, Default)]
pub struct StickyAssignor;

impl StickyAssignor {
    /// What a member owned, from its sticky user data: nothing when it has
    /// none, nothing of generation -1 when it cannot be read.
    fn member_data(member: &MemberSubscription) -> MemberData {
        match member.user_data.as_deref() {
            None | Some([]) => MemberData {
                partitions: Vec::new(),
                generation: None,
            },
            Some(bytes) => decode_sticky_user_data(bytes).unwrap_or(MemberData {
                partitions: Vec::new(),
                generation: Some(-1),
            }),
        }
    }
}

/// Reads Kafka's sticky user data: the layout with a generation, else the
/// older one without.
fn decode_sticky_user_data(bytes: &[u8]) -> Result<MemberData> {
    let mut r = Reader::new("sticky user data", bytes);
    let partitions = r.topic_partitions("previous_assignment")?;
    let generation = r.i32("generation").ok();
    Ok(MemberData {
        partitions,
        generation,
    })
}

impl PartitionAssignor for StickyAssignor {
    fn name(&self) -> &'static str {
        "sticky"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, u32>,
        subscriptions: &BTreeMap<String, MemberSubscription>,
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        assign_balanced(partitions_per_topic, subscriptions, Self::member_data).assignment
    }

    /// Kafka's sticky user data for `owned_partitions` (grouped by topic)
    /// and `generation`; `None` before the member's first assignment
    /// (a negative generation).
    fn subscription_user_data(
        &self,
        owned_partitions: &[TopicPartition],
        generation: i32,
    ) -> Result<Option<Vec<u8>>> {
        if generation < 0 {
            return Ok(None);
        }
        let mut by_topic: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for tp in owned_partitions {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        let groups: Vec<(&str, Vec<u32>)> = by_topic.into_iter().collect();
        let mut w = Writer::new("sticky user data");
        w.topic_partitions("previous_assignment", &groups)?;
        w.i32(generation);
        Ok(Some(w.finish()))
    }
}

#[cfg(test)]
#[path = "cooperative_tests.rs"]
mod tests;

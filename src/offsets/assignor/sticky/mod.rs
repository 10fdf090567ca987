//! The balanced, sticky assignment behind [`StickyAssignor`] and
//! [`CooperativeStickyAssignor`]: Kafka's `AbstractStickyAssignor`,
//! without rack awareness.
//!
//! Goals, in order: the assignment is valid (each partition of a subscribed
//! topic goes to exactly one member subscribed to it); it is balanced (no
//! partition could move to a member holding two fewer); and it moves as
//! few partitions away from their previous owners as balance allows.
//!
//! 1. **Claims.** Each member reports the partitions it owned and the
//!    generation it got them in. When two members claim one partition,
//!    the higher generation keeps it; when both claim it in the same
//!    generation, neither does (the claim is invalid, and the partition
//!    is treated as owned by both, so moving it needs a revocation).
//! 2. **All subscriptions equal** ([`constrained`]): every member gets
//!    `⌊P/M⌋` or `⌈P/M⌉` partitions. Members first keep owned partitions
//!    up to their quota (the first members, in member-id order, that own
//!    enough keep `⌈P/M⌉` while the count of such members allows); the
//!    rest go round the members still under quota.
//! 3. **Otherwise** ([`general`]): owned partitions stay where they are
//!    (unless the member no longer subscribes to the topic), unowned ones
//!    go to the least loaded member that can take them, topics with the
//!    fewest potential members first; then partitions move from members
//!    with more to members with at least two fewer until nothing can move,
//!    back to a previous owner of an older generation when there is one,
//!    and the moves are kept only if they improve the balance.
//!
//! [`StickyAssignor`]: super::StickyAssignor
//! [`CooperativeStickyAssignor`]: super::CooperativeStickyAssignor

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use super::{assignable_topics, empty_assignment, sorted, MemberSubscription};
use crate::offsets::consumer_protocol::java_cmp;
use crate::store::TopicPartition;

mod constrained;
mod general;

/// Kafka's default generation: a member whose generation is unknown.
const DEFAULT_GENERATION: i32 = -1;

/// What a member reports it owned, as the assignor reads it from the
/// member's subscription (Kafka's `MemberData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MemberData {
    /// The partitions the member owned.
    pub(super) partitions: Vec<TopicPartition>,
    /// The generation it owned them in, if known.
    pub(super) generation: Option<i32>,
}

/// A balanced assignment and, when it was computed by the constrained
/// builder, the partitions it gives to a member other than the one that
/// must first give them up.
#[derive(Debug)]
pub(super) struct Balanced {
    /// Each member's partitions, sorted.
    pub(super) assignment: BTreeMap<String, Vec<TopicPartition>>,
    /// Partitions changing owner, with the member receiving each; `None`
    /// when the general builder ran (the caller works it out from the
    /// owned partitions).
    pub(super) transferring: Option<BTreeMap<TopicPartition, String>>,
}

/// The input numbered densely: topics, partitions and members are indexes,
/// each in the order Kafka sorts them (topics and member ids as Java
/// compares strings; a partition id orders by topic, then partition).
pub(super) struct Problem<'a> {
    topics: Vec<(&'a str, u32)>,
    topic_index: HashMap<&'a str, usize>,
    /// The first partition id of each topic.
    first: Vec<usize>,
    /// The topic of each partition id.
    part_topic: Vec<usize>,
    members: Vec<&'a str>,
    /// The assignable topics each member subscribes to, ascending.
    member_topics: Vec<Vec<usize>>,
}

impl<'a> Problem<'a> {
    fn new(
        partitions_per_topic: &'a BTreeMap<String, u32>,
        subscriptions: &'a BTreeMap<String, MemberSubscription>,
    ) -> Self {
        let topics = assignable_topics(partitions_per_topic, subscriptions);
        let topic_index: HashMap<&str, usize> = topics
            .iter()
            .enumerate()
            .map(|(i, (t, _))| (*t, i))
            .collect();
        let mut first = Vec::with_capacity(topics.len());
        let mut part_topic = Vec::new();
        for (t, (_, count)) in topics.iter().enumerate() {
            first.push(part_topic.len());
            part_topic.extend((0..*count).map(|_| t));
        }
        let mut members: Vec<&str> = subscriptions.keys().map(String::as_str).collect();
        members.sort_by(|a, b| java_cmp(a, b));
        let member_topics = members
            .iter()
            .map(|m| {
                let topics: BTreeSet<usize> = subscriptions
                    .get(*m)
                    .map(|s| &s.topics)
                    .into_iter()
                    .flatten()
                    .filter_map(|t| topic_index.get(t.as_str()).copied())
                    .collect();
                topics.into_iter().collect()
            })
            .collect();
        Problem {
            topics,
            topic_index,
            first,
            part_topic,
            members,
            member_topics,
        }
    }

    fn partition_count(&self) -> usize {
        self.part_topic.len()
    }

    fn topic_of(&self, pid: usize) -> usize {
        self.part_topic.get(pid).copied().unwrap_or(usize::MAX)
    }

    /// The partition ids of topic `t`.
    fn partitions_of(&self, t: usize) -> Range<usize> {
        let start = self.first.get(t).copied().unwrap_or(0);
        let count = self.topics.get(t).map_or(0, |(_, c)| *c);
        start..start + usize::try_from(count).unwrap_or(0)
    }

    fn subscribes(&self, member: usize, t: usize) -> bool {
        self.member_topics
            .get(member)
            .is_some_and(|topics| topics.binary_search(&t).is_ok())
    }

    /// The id of `tp`, if it is a partition being assigned.
    fn pid(&self, tp: &TopicPartition) -> Option<usize> {
        let t = *self.topic_index.get(tp.topic.as_str())?;
        let (_, count) = self.topics.get(t)?;
        let start = self.first.get(t)?;
        (tp.partition < *count).then(|| start + usize::try_from(tp.partition).unwrap_or(0))
    }

    fn topic_partition(&self, pid: usize) -> TopicPartition {
        let t = self.topic_of(pid);
        let (name, _) = self.topics.get(t).copied().unwrap_or(("", 0));
        let start = self.first.get(t).copied().unwrap_or(0);
        TopicPartition::new(
            name,
            u32::try_from(pid.saturating_sub(start)).unwrap_or(u32::MAX),
        )
    }

    /// The ids of `partitions` that are being assigned, each once, in
    /// their order.
    fn pids(&self, partitions: &[TopicPartition]) -> Vec<usize> {
        let mut seen = BTreeSet::new();
        partitions
            .iter()
            .filter_map(|tp| self.pid(tp))
            .filter(|pid| seen.insert(*pid))
            .collect()
    }
}

/// A member's [`MemberData`] in partition ids.
pub(super) struct Claim {
    partitions: Vec<usize>,
    generation: Option<i32>,
}

/// Who keeps what of the members' claims.
struct Claims {
    /// Each member's owned partitions that it keeps a claim to.
    owned: Vec<Vec<usize>>,
    /// Partitions claimed by two members of the same generation.
    contested: BTreeSet<usize>,
    /// The highest generation any member reported.
    max_generation: i32,
}

/// Resolves the members' claims (Kafka's `allSubscriptionsEqual`): the
/// member with the higher generation keeps a contested partition; in a
/// tie the earlier claimant loses it and the partition is marked
/// contested.
fn resolve_claims(claims: &[Claim]) -> Claims {
    let mut owned: Vec<Vec<usize>> = vec![Vec::new(); claims.len()];
    let mut owner: HashMap<usize, usize> = HashMap::new();
    let mut contested = BTreeSet::new();
    let mut max_generation = DEFAULT_GENERATION;
    let generation = |m: usize| {
        claims
            .get(m)
            .and_then(|c| c.generation)
            .unwrap_or(DEFAULT_GENERATION)
    };
    for (m, claim) in claims.iter().enumerate() {
        let gen = generation(m);
        max_generation = max_generation.max(gen);
        for &pid in &claim.partitions {
            let Some(&other) = owner.get(&pid) else {
                owner.insert(pid, m);
                if let Some(list) = owned.get_mut(m) {
                    list.push(pid);
                }
                continue;
            };
            let other_gen = generation(other);
            if gen < other_gen {
                continue;
            }
            if let Some(list) = owned.get_mut(other) {
                list.retain(|&p| p != pid);
            }
            owner.insert(pid, m);
            if gen == other_gen {
                contested.insert(pid);
            } else if let Some(list) = owned.get_mut(m) {
                list.push(pid);
            }
        }
    }
    Claims {
        owned,
        contested,
        max_generation,
    }
}

/// Whether every member subscribes to the same topics (whether they exist
/// or not).
fn all_subscriptions_equal(subscriptions: &BTreeMap<String, MemberSubscription>) -> bool {
    let mut sets = subscriptions.values().map(|s| {
        s.topics
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<&str>>()
    });
    match sets.next() {
        Some(first) => sets.all(|set| set == first),
        None => true,
    }
}

/// The balanced sticky assignment of the partitions of
/// `partitions_per_topic` among `subscriptions`, reading each member's
/// previous ownership with `member_data`.
pub(super) fn assign_balanced(
    partitions_per_topic: &BTreeMap<String, u32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
    member_data: impl Fn(&MemberSubscription) -> MemberData,
) -> Balanced {
    let problem = Problem::new(partitions_per_topic, subscriptions);
    let claims: Vec<Claim> = problem
        .members
        .iter()
        .map(|m| {
            let data = subscriptions
                .get(*m)
                .map(&member_data)
                .unwrap_or(MemberData {
                    partitions: Vec::new(),
                    generation: None,
                });
            Claim {
                partitions: problem.pids(&data.partitions),
                generation: data.generation,
            }
        })
        .collect();
    let resolved = resolve_claims(&claims);
    let equal = all_subscriptions_equal(subscriptions);
    let (by_member, transferring) = if equal {
        let (by_member, transferring) =
            constrained::assign(&problem, resolved.owned, &resolved.contested);
        (by_member, Some(transferring))
    } else {
        let by_member = general::assign(&problem, resolved.owned, &claims, resolved.max_generation);
        (by_member, None)
    };
    let mut assignment = empty_assignment(subscriptions);
    for (m, pids) in by_member.into_iter().enumerate() {
        if let Some(list) = problem
            .members
            .get(m)
            .and_then(|name| assignment.get_mut(*name))
        {
            list.extend(pids.into_iter().map(|pid| problem.topic_partition(pid)));
        }
    }
    let transferring = transferring.map(|t| {
        t.into_iter()
            .filter_map(|(pid, m)| {
                let member = problem.members.get(m)?;
                Some((problem.topic_partition(pid), (*member).to_string()))
            })
            .collect()
    });
    Balanced {
        assignment: sorted(assignment),
        transferring,
    }
}

#[cfg(test)]
mod generation_tests;
#[cfg(test)]
mod tests;

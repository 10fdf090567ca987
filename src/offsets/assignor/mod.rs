//! Client-side partition assignors of Kafka's classic consumer-group
//! protocol.
//!
//! In the classic protocol the group coordinator does not decide who
//! consumes what: it picks one member as leader, hands it every member's
//! [`ConsumerSubscription`], and the leader runs the assignor the group
//! agreed on and sends the result back through SyncGroup. The assignors
//! here are that computation, as pure functions of the topics' partition
//! counts and the members' subscriptions, following Kafka's Java client:
//!
//! * [`RangeAssignor`] (`"range"`): per topic, consecutive ranges of
//!   partitions to the members subscribed to it.
//! * [`RoundRobinAssignor`] (`"roundrobin"`): all partitions dealt one at
//!   a time to the members in turn.
//! * [`StickyAssignor`] (`"sticky"`): a balanced assignment that keeps as
//!   many partitions with their previous owner as it can (eager protocol).
//! * [`CooperativeStickyAssignor`] (`"cooperative-sticky"`): the same
//!   assignment, for the cooperative protocol: a partition moving between
//!   members is left out of this rebalance, so its owner revokes it first,
//!   and is assigned in the follow-up rebalance.
//!
//! Members are ordered as Kafka orders them: for range and roundrobin,
//! members with a `group.instance.id` first, by that id, then the others by
//! member id; the sticky assignors use member ids. Strings are compared as
//! Java compares them (UTF-16 code units). Topics a member subscribes to
//! that `partitions_per_topic` lacks (or gives no partitions) are skipped,
//! and so are topics no member subscribes to. Every member appears in the
//! result, with its partitions sorted.
//!
//! Range and roundrobin give exactly the assignment Kafka's client gives.
//! The sticky assignors run Kafka's algorithm, with three differences:
//! where Kafka takes members in the order of a hash map (deciding which of
//! several members owning enough partitions keep the larger quota), they
//! are taken in member-id order; when two members claim one partition,
//! both generations are read the same way (Kafka reads the earlier
//! claimant's from its subscription even where the assignor read it from
//! user data); and claimed partitions that do not exist are ignored. None
//! of the assignors is rack aware: `client.rack` is not used.
//!
//! ```
//! use std::collections::BTreeMap;
//! use seglog::offsets::{assignor_by_name, MemberSubscription};
//! use seglog::TopicPartition;
//!
//! let partitions = BTreeMap::from([("orders".to_string(), 3)]);
//! let members = BTreeMap::from([
//!     ("consumer-a".to_string(), MemberSubscription::new(["orders"])),
//!     ("consumer-b".to_string(), MemberSubscription::new(["orders"])),
//! ]);
//! let range = assignor_by_name("range").expect("a known assignor");
//! let assignment = range.assign(&partitions, &members);
//! assert_eq!(
//!     assignment["consumer-a"],
//!     [TopicPartition::new("orders", 0), TopicPartition::new("orders", 1)]
//! );
//! assert_eq!(assignment["consumer-b"], [TopicPartition::new("orders", 2)]);
//! ```
//!
//! [`ConsumerSubscription`]: super::ConsumerSubscription

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::consumer_protocol::{java_cmp, ConsumerSubscription};
use crate::error::Result;
use crate::store::TopicPartition;

mod cooperative;
mod range;
mod round_robin;
mod sticky;

pub use cooperative::{CooperativeStickyAssignor, StickyAssignor};
pub use range::RangeAssignor;
pub use round_robin::RoundRobinAssignor;

/// How members give up partitions in a rebalance (Kafka's
/// `RebalanceProtocol`); a group uses the most capable protocol all its
/// members' assignors support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RebalanceProtocol {
    /// Every member revokes all its partitions before rejoining, so an
    /// assignment may move any partition at once.
    Eager,
    /// Members keep their partitions while rejoining; an assignment must
    /// not give a member a partition another member still owns, so a
    /// moving partition is revoked in one rebalance and assigned in the
    /// next.
    Cooperative,
}

impl RebalanceProtocol {
    /// Kafka's id of the protocol: 0 eager, 1 cooperative.
    pub fn id(self) -> u8 {
        match self {
            RebalanceProtocol::Eager => 0,
            RebalanceProtocol::Cooperative => 1,
        }
    }

    /// The protocol with Kafka's id `id`, if there is one.
    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            0 => Some(RebalanceProtocol::Eager),
            1 => Some(RebalanceProtocol::Cooperative),
            _ => None,
        }
    }
}

/// One member's side of an assignment: what it subscribes to and what it
/// holds now, as the leader learns it from the member's
/// [`ConsumerSubscription`] and JoinGroup request.
///
/// ```
/// use seglog::offsets::MemberSubscription;
/// use seglog::TopicPartition;
///
/// let member = MemberSubscription::new(["orders", "payments"])
///     .with_group_instance_id("host-1")
///     .with_owned_partitions(vec![TopicPartition::new("orders", 0)], 3);
/// assert_eq!(member.generation, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSubscription {
    /// The topics the member subscribes to.
    pub topics: Vec<String>,
    /// The member's `group.instance.id` (static membership), if any.
    pub group_instance_id: Option<String>,
    /// The partitions the member owns as it joins.
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which the member was given `owned_partitions`;
    /// -1 (any negative value) when unknown.
    pub generation: i32,
    /// The assignor's data from the member's subscription, if any.
    pub user_data: Option<Vec<u8>>,
}

impl MemberSubscription {
    /// A member subscribing to `topics`, owning nothing, without a
    /// `group.instance.id`.
    pub fn new<I, S>(topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        MemberSubscription {
            topics: topics.into_iter().map(Into::into).collect(),
            group_instance_id: None,
            owned_partitions: Vec::new(),
            generation: -1,
            user_data: None,
        }
    }

    /// The member a decoded [`ConsumerSubscription`] describes, with the
    /// `group.instance.id` its JoinGroup request carried.
    pub fn from_subscription(
        subscription: ConsumerSubscription,
        group_instance_id: Option<String>,
    ) -> Self {
        MemberSubscription {
            topics: subscription.topics,
            group_instance_id,
            owned_partitions: subscription.owned_partitions,
            generation: subscription.generation_id,
            user_data: subscription.user_data,
        }
    }

    /// The member with `group.instance.id` `id`.
    #[must_use]
    pub fn with_group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.group_instance_id = Some(id.into());
        self
    }

    /// The member owning `partitions`, given to it in `generation`.
    #[must_use]
    pub fn with_owned_partitions(
        mut self,
        partitions: Vec<TopicPartition>,
        generation: i32,
    ) -> Self {
        self.owned_partitions = partitions;
        self.generation = generation;
        self
    }

    /// The member with assignor data `user_data`.
    #[must_use]
    pub fn with_user_data(mut self, user_data: Vec<u8>) -> Self {
        self.user_data = Some(user_data);
        self
    }

    /// The generation, `None` when unknown (negative).
    fn known_generation(&self) -> Option<i32> {
        (self.generation >= 0).then_some(self.generation)
    }
}

/// A strategy for dividing a group's partitions among its members, run by
/// the group's leader (Kafka's `ConsumerPartitionAssignor`).
pub trait PartitionAssignor: fmt::Debug + Send + Sync {
    /// The name members advertise the strategy by in JoinGroup
    /// (`"range"`, `"cooperative-sticky"`, ...).
    fn name(&self) -> &'static str;

    /// The rebalance protocols the assignor can work with, preferred
    /// first. Eager only, unless the assignor says otherwise.
    fn supported_protocols(&self) -> &'static [RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    /// Divides the partitions of the topics the members subscribe to:
    /// `partitions_per_topic` gives each topic's partition count,
    /// `subscriptions` each member by member id. The result has an entry
    /// for every member, its partitions sorted.
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, u32>,
        subscriptions: &BTreeMap<String, MemberSubscription>,
    ) -> BTreeMap<String, Vec<TopicPartition>>;

    /// The data a member using this assignor puts in its subscription's
    /// `user_data`, given the partitions it owns and the generation it got
    /// them in (-1 before its first assignment). `None` unless the assignor
    /// says otherwise.
    ///
    /// # Errors
    /// [`Error::InvalidRecord`](crate::Error::InvalidRecord) when the data
    /// cannot be encoded (a topic name longer than 32 767 bytes).
    fn subscription_user_data(
        &self,
        owned_partitions: &[TopicPartition],
        generation: i32,
    ) -> Result<Option<Vec<u8>>> {
        let _ = (owned_partitions, generation);
        Ok(None)
    }
}

/// The assignor configured by `name`: Kafka's short name (`"range"`,
/// `"roundrobin"`, `"sticky"`, `"cooperative-sticky"`) or the class name a
/// Java client's `partition.assignment.strategy` gives
/// (`"org.apache.kafka.clients.consumer.RangeAssignor"`, ...). `None` for
/// any other name.
pub fn assignor_by_name(name: &str) -> Option<Box<dyn PartitionAssignor>> {
    let short = name
        .strip_prefix("org.apache.kafka.clients.consumer.")
        .map(|class| match class {
            "RangeAssignor" => "range",
            "RoundRobinAssignor" => "roundrobin",
            "StickyAssignor" => "sticky",
            "CooperativeStickyAssignor" => "cooperative-sticky",
            _ => "",
        })
        .unwrap_or(name);
    match short {
        "range" => Some(Box::new(RangeAssignor)),
        "roundrobin" => Some(Box::new(RoundRobinAssignor)),
        "sticky" => Some(Box::new(StickyAssignor)),
        "cooperative-sticky" => Some(Box::new(CooperativeStickyAssignor)),
        _ => None,
    }
}

/// Kafka's order of members for range and roundrobin
/// (`MemberInfo.compareTo`): members with a `group.instance.id` first, by
/// it; then the others by member id.
fn member_order(a: (&String, &MemberSubscription), b: (&String, &MemberSubscription)) -> Ordering {
    match (&a.1.group_instance_id, &b.1.group_instance_id) {
        (Some(x), Some(y)) => java_cmp(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => java_cmp(a.0, b.0),
    }
}

/// The topics to assign, in Java's order of their names: those some member
/// subscribes to that have partitions.
fn assignable_topics<'a>(
    partitions_per_topic: &'a BTreeMap<String, u32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
) -> Vec<(&'a str, u32)> {
    let subscribed: BTreeSet<&str> = subscriptions
        .values()
        .flat_map(|s| s.topics.iter().map(String::as_str))
        .collect();
    let mut topics: Vec<(&str, u32)> = partitions_per_topic
        .iter()
        .filter(|(topic, &count)| count > 0 && subscribed.contains(topic.as_str()))
        .map(|(topic, &count)| (topic.as_str(), count))
        .collect();
    topics.sort_by(|a, b| java_cmp(a.0, b.0));
    topics
}

/// An assignment giving every member nothing yet.
fn empty_assignment(
    subscriptions: &BTreeMap<String, MemberSubscription>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    subscriptions
        .keys()
        .map(|m| (m.clone(), Vec::new()))
        .collect()
}

/// Sorts each member's partitions.
fn sorted(
    mut assignment: BTreeMap<String, Vec<TopicPartition>>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    for partitions in assignment.values_mut() {
        partitions.sort();
    }
    assignment
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

//! Committed consumer offsets and consumer groups, stored as Kafka stores
//! them: in the internal compacted topic `__consumer_offsets`.
//!
//! A group's committed offsets and its metadata live in one partition of
//! `__consumer_offsets`, chosen from the group id as Kafka chooses it. Each
//! commit appends a record keyed by (group, topic, partition); compaction
//! keeps the latest per key, and a tombstone deletes one. Opening the store
//! replays the topic to rebuild what every group has committed.

pub mod assignor;
mod config;
pub mod consumer_protocol;
pub mod records;

pub use assignor::{
    assignor_by_name, CooperativeStickyAssignor, MemberSubscription, PartitionAssignor,
    RangeAssignor, RebalanceProtocol, RoundRobinAssignor, StickyAssignor,
};
pub use config::GroupsConfig;
pub use consumer_protocol::{ConsumerAssignment, ConsumerSubscription, CONSUMER_PROTOCOL_VERSION};

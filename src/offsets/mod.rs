//! Committed consumer offsets and consumer groups, stored as Kafka stores
//! them: in the internal compacted topic `__consumer_offsets`.
//!
//! A group's committed offsets and its metadata live in one partition of
//! `__consumer_offsets`, chosen from the group id as Kafka chooses it. Each
//! commit appends a record keyed by (group, topic, partition); compaction
//! keeps the latest per key, and a tombstone deletes one. Opening the store
//! replays the topic to rebuild what every group has committed.
//!
//! Members of a group share its partitions through the [`coordinator`],
//! which runs Kafka's classic group protocol (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup) for in-process consumers and remote ones alike;
//! the generation's leader divides the partitions with an [`assignor`],
//! and members describe their subscriptions and receive their assignments
//! in the [`consumer_protocol`]'s encodings. [`records`] has the records
//! of `__consumer_offsets`, byte for byte as Kafka writes them.

pub mod assignor;
mod config;
pub mod consumer_protocol;
pub mod coordinator;
pub(crate) mod expiry;
pub(crate) mod manager;
pub mod records;
mod state;

pub use assignor::{
    assignor_by_name, CooperativeStickyAssignor, MemberSubscription, PartitionAssignor,
    RangeAssignor, RebalanceProtocol, RoundRobinAssignor, StickyAssignor,
};
pub use config::GroupsConfig;
pub use consumer_protocol::{ConsumerAssignment, ConsumerSubscription, CONSUMER_PROTOCOL_VERSION};
pub use coordinator::{GroupCoordinator, GroupStorage};
pub use state::OffsetAndMetadata;

/// A group id Kafka accepts: not empty, and short enough for the `int16`
/// length of its string in `__consumer_offsets`. Checked by the
/// coordinator and by every commit, so that no group is ever stored cut.
pub(crate) fn check_group_id(group: &str) -> crate::Result<()> {
    if group.is_empty() || group.len() > i16::MAX as usize {
        return Err(crate::Error::group(
            group,
            crate::GroupErrorKind::InvalidGroupId,
        ));
    }
    Ok(())
}

/// The protocol type of consumer groups, as consumers give it in
/// JoinGroup.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

#[cfg(test)]
mod records_tests;

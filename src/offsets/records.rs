//! The records of `__consumer_offsets`, byte for byte as Kafka's group
//! coordinator writes them.
//!
//! Key and value are each an `int16` version followed by a struct in
//! Kafka's classic protocol encoding (big-endian integers, `int16`-length
//! UTF-8 strings with -1 for null, `int32`-length bytes, `int32`-count
//! arrays); value versions marked flexible use the compact encoding
//! (unsigned-varint length + 1) and end with tagged fields. The key's
//! version says which record it is: 0 or 1 an offset commit (written as 1),
//! 2 a group's metadata. A null value (a tombstone) deletes what the key
//! names.

/// The key of a committed offset: which group committed it for which
/// partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OffsetCommitKey {
    /// The consumer group.
    pub group: String,
    /// The topic of the partition.
    pub topic: String,
    /// The partition.
    pub partition: i32,
}

/// A committed offset (the value under an [`OffsetCommitKey`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    /// The next offset the group will consume from the partition.
    pub offset: i64,
    /// The leader epoch of the last consumed record; -1 when unknown.
    pub leader_epoch: i32,
    /// The committer's free-form metadata.
    pub metadata: String,
    /// When the commit was made, in milliseconds since the Unix epoch.
    pub commit_timestamp: i64,
    /// An explicit expiry time (value version 1 only); `None` otherwise.
    pub expire_timestamp: Option<i64>,
}

/// A group's membership and assignment (the value under a group's
/// metadata key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    /// The protocol type the members use (`"consumer"` for consumers).
    pub protocol_type: String,
    /// The group's generation.
    pub generation: i32,
    /// The assignment protocol chosen for the generation (`"range"`, ...);
    /// `None` while the group has no members.
    pub protocol: Option<String>,
    /// The member that computed the assignment; `None` without members.
    pub leader: Option<String>,
    /// When the group last changed state, in milliseconds since the Unix
    /// epoch; -1 when not recorded (value versions 0 and 1).
    pub current_state_timestamp: i64,
    /// The members of the generation.
    pub members: Vec<MemberMetadata>,
}

/// One member of a group as its metadata record stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    /// The member id the coordinator gave the member.
    pub member_id: String,
    /// The member's `group.instance.id` (static membership), if any.
    pub group_instance_id: Option<String>,
    /// The member's client id.
    pub client_id: String,
    /// Where the member connects from.
    pub client_host: String,
    /// How long a rebalance waits for the member to rejoin, in ms.
    pub rebalance_timeout_ms: i32,
    /// How long the member may go without a heartbeat, in ms.
    pub session_timeout_ms: i32,
    /// The member's subscription, in its protocol's encoding (for
    /// consumers, Kafka's `ConsumerProtocolSubscription`).
    pub subscription: Vec<u8>,
    /// The member's assignment, in its protocol's encoding (for consumers,
    /// Kafka's `ConsumerProtocolAssignment`).
    pub assignment: Vec<u8>,
}

//! The requests the group coordinator takes and the answers it gives, as
//! plain structs carrying the fields of Kafka's JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, ListGroups and DescribeGroups messages that the
//! coordinator acts on.

use std::fmt;

/// The state of a group, as Kafka's classic protocol names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members: the group only holds committed offsets (or nothing),
    /// until they expire or the group is deleted.
    Empty,
    /// A rebalance has begun: members are expected to rejoin; heartbeats
    /// answer [`RebalanceInProgress`](crate::GroupErrorKind::RebalanceInProgress).
    PreparingRebalance,
    /// The members have joined the new generation; the coordinator waits
    /// for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment for the current generation.
    Stable,
    /// The group has been deleted or replaced; requests to it fail.
    Dead,
}

impl GroupState {
    /// Kafka's name of the state (`"Empty"`, `"PreparingRebalance"`,
    /// `"CompletingRebalance"`, `"Stable"`, `"Dead"`), as ListGroups and
    /// DescribeGroups report it.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JoinGroup request: a member asks to be part of the group's next
/// generation. `Default` gives empty strings, no protocols and zero
/// timeouts; fill in at least the group id, the protocol type, the
/// protocols and a session timeout within the coordinator's bounds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinGroupRequest {
    /// The group to join.
    pub group_id: String,
    /// The member id the coordinator gave the member; empty for a member
    /// joining for the first time.
    pub member_id: String,
    /// The member's `group.instance.id` (static membership), if any.
    pub group_instance_id: Option<String>,
    /// The client's id (`client.id`); a new member's id begins with it.
    pub client_id: String,
    /// Where the client connects from, as DescribeGroups reports it.
    pub client_host: String,
    /// How long the member may go without a heartbeat, in ms. Must lie
    /// within `group.min.session.timeout.ms` and
    /// `group.max.session.timeout.ms`.
    pub session_timeout_ms: i32,
    /// How long a rebalance waits for the member to rejoin, in ms (a
    /// consumer's `max.poll.interval.ms`). A negative value stands for the
    /// session timeout, as for JoinGroup version 0.
    pub rebalance_timeout_ms: i32,
    /// The kind of protocol the members speak (`"consumer"` for
    /// consumers); every member of a group must give the same.
    pub protocol_type: String,
    /// The assignment protocols the member supports, most preferred first,
    /// each with the member's metadata for it (for consumers, a
    /// `ConsumerProtocolSubscription`). A name given twice counts once.
    pub protocols: Vec<(String, Vec<u8>)>,
}

/// What a JoinGroup request led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The member is part of the new generation.
    Joined(JoinGroupResponse),
    /// A member joining without a member id and without a group instance
    /// id is given one and must join again with it (KIP-394; Kafka
    /// answers `MEMBER_ID_REQUIRED` with the id in the response's member
    /// id). The id is reserved for the member for its session timeout.
    MemberIdRequired(String),
}

/// The answer to a JoinGroup request that completed the join phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupResponse {
    /// The generation the member now belongs to.
    pub generation_id: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The assignment protocol chosen for the generation.
    pub protocol_name: Option<String>,
    /// The member id of the generation's leader, which computes the
    /// assignment.
    pub leader: String,
    /// The member's own id.
    pub member_id: String,
    /// Every member with its metadata for the chosen protocol, for the
    /// leader only; empty for the others.
    pub members: Vec<JoinGroupMember>,
}

impl JoinGroupResponse {
    /// Whether the member is the generation's leader.
    pub fn is_leader(&self) -> bool {
        self.leader == self.member_id
    }
}

/// One member as the leader's JoinGroup response lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupMember {
    /// The member's id.
    pub member_id: String,
    /// The member's group instance id, if it is a static member.
    pub group_instance_id: Option<String>,
    /// The member's metadata for the chosen protocol.
    pub metadata: Vec<u8>,
}

/// A SyncGroup request: the leader hands in the assignment of its
/// generation, the others ask for theirs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncGroupRequest {
    /// The group.
    pub group_id: String,
    /// The generation the member joined.
    pub generation_id: i32,
    /// The member's id.
    pub member_id: String,
    /// The member's group instance id, if it is a static member.
    pub group_instance_id: Option<String>,
    /// The protocol type the member expects, checked against the group's
    /// when given (SyncGroup version 5 and later); `None` skips the check.
    pub protocol_type: Option<String>,
    /// The protocol name the member expects, checked like `protocol_type`.
    pub protocol_name: Option<String>,
    /// The leader's assignment: each member's id with its assignment bytes.
    /// Members it leaves out get an empty assignment. Ignored from the
    /// other members.
    pub assignments: Vec<(String, Vec<u8>)>,
}

/// The answer to a SyncGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupResponse {
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The generation's assignment protocol.
    pub protocol_name: Option<String>,
    /// The member's assignment, as the leader encoded it (for consumers, a
    /// `ConsumerProtocolAssignment`).
    pub assignment: Vec<u8>,
}

/// A member named in a LeaveGroup request: by member id, or, for a static
/// member removed by an administrator, by group instance id with an empty
/// member id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberIdentity {
    /// The member's id; empty to name a static member by its instance id.
    pub member_id: String,
    /// The member's group instance id, if it is a static member.
    pub group_instance_id: Option<String>,
}

impl MemberIdentity {
    /// A dynamic member, by its id.
    pub fn new(member_id: impl Into<String>) -> Self {
        MemberIdentity {
            member_id: member_id.into(),
            group_instance_id: None,
        }
    }
}

/// One group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group's id.
    pub group_id: String,
    /// The group's protocol type; empty for a group that never had
    /// members.
    pub protocol_type: String,
    /// The group's state.
    pub state: GroupState,
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group's id.
    pub group_id: String,
    /// The group's state.
    pub state: GroupState,
    /// The group's protocol type; empty for a group that never had
    /// members.
    pub protocol_type: String,
    /// The generation's assignment protocol, reported only while the
    /// group is [`Stable`](GroupState::Stable), as Kafka does.
    pub protocol: Option<String>,
    /// The group's generation.
    pub generation: i32,
    /// The generation's leader, if the group has members.
    pub leader: Option<String>,
    /// The members.
    pub members: Vec<MemberDescription>,
}

/// One member of a [`GroupDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member's id.
    pub member_id: String,
    /// The member's group instance id, if it is a static member.
    pub group_instance_id: Option<String>,
    /// The member's client id.
    pub client_id: String,
    /// Where the member connects from.
    pub client_host: String,
    /// The member's metadata for the generation's protocol, reported only
    /// while the group is [`Stable`](GroupState::Stable).
    pub subscription: Option<Vec<u8>>,
    /// The member's assignment (empty until the leader has given one).
    pub assignment: Vec<u8>,
}

/// A group's state with what the offsets layer needs to decide when the
/// group's committed offsets expire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStatus {
    /// The group's state.
    pub state: GroupState,
    /// When the group entered its state, in ms since the Unix epoch; for
    /// an [`Empty`](GroupState::Empty) group, when it became empty. `None`
    /// for a group loaded from a record that did not store it.
    pub state_timestamp_ms: Option<i64>,
    /// The group's protocol type; `None` for a group that never had
    /// members.
    pub protocol_type: Option<String>,
    /// The group's generation.
    pub generation: i32,
    /// How many members the group has.
    pub members: usize,
}

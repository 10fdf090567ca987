//! One group's state: its members, generation, protocol and leader, the
//! requests parked on it, and the writes it has decided. The handling of
//! requests and timers that moves it between states is in `rebalance.rs`
//! and `timers.rs`; this file holds what they share.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::error::{Error, GroupErrorKind, Result};
use crate::offsets::config::GroupsConfig;
use crate::offsets::records::{GroupMetadataValue, MemberMetadata};

use super::member::Member;
use super::requests::{
    GroupDescription, GroupListing, GroupState, GroupStatus, JoinGroupMember, JoinGroupResponse,
    MemberDescription, SyncGroupResponse,
};

/// The timer of a group's join phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct JoinTimer {
    pub(super) deadline: i64,
    pub(super) kind: JoinTimerKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JoinTimerKind {
    /// Completes the join phase: members that have not rejoined are out.
    Rebalance,
    /// The first rebalance of an empty group (Kafka's initial delayed
    /// join): waits `delay` more for each batch of new members, while
    /// `remaining` of the rebalance timeout is left.
    Initial { delay: i64, remaining: i64 },
}

/// The timer of a group's sync phase: members of `generation` that have
/// not sent SyncGroup by `deadline` are out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SyncTimer {
    pub(super) deadline: i64,
    pub(super) generation: i32,
}

/// A write of the group's metadata, decided under the group's lock and
/// made after it is let go.
#[derive(Debug)]
pub(super) enum Write {
    /// The group has become empty. Best effort, as in Kafka: if it fails,
    /// the stored record still lists the members, whose sessions expire
    /// after a load.
    Empty(GroupMetadataValue),
    /// The leader's assignment of `generation`; its outcome completes the
    /// sync phase (see `Group::assignment_stored`).
    Assignment {
        generation: i32,
        assignments: BTreeMap<String, Vec<u8>>,
        value: GroupMetadataValue,
    },
}

impl Write {
    pub(super) fn value(&self) -> &GroupMetadataValue {
        match self {
            Write::Empty(value) | Write::Assignment { value, .. } => value,
        }
    }
}

/// The answers to parked requests, by ticket, until their waiters take
/// them. A ticket whose waiter gave up is dropped from `waiting`, and an
/// answer for it is not kept.
#[derive(Debug, Default)]
pub(super) struct Tickets {
    next: u64,
    waiting: HashSet<u64>,
    joins: HashMap<u64, Result<JoinGroupResponse>>,
    syncs: HashMap<u64, Result<SyncGroupResponse>>,
}

impl Tickets {
    pub(super) fn open(&mut self) -> u64 {
        self.next += 1;
        self.waiting.insert(self.next);
        self.next
    }

    pub(super) fn answer_join(&mut self, tickets: Vec<u64>, answer: &Result<JoinGroupResponse>) {
        for ticket in tickets {
            if self.waiting.contains(&ticket) {
                self.joins.insert(ticket, copy(answer));
            }
        }
    }

    pub(super) fn answer_sync(&mut self, tickets: Vec<u64>, answer: &Result<SyncGroupResponse>) {
        for ticket in tickets {
            if self.waiting.contains(&ticket) {
                self.syncs.insert(ticket, copy(answer));
            }
        }
    }

    pub(super) fn take_join(&mut self, ticket: u64) -> Option<Result<JoinGroupResponse>> {
        let answer = self.joins.remove(&ticket)?;
        self.waiting.remove(&ticket);
        Some(answer)
    }

    pub(super) fn take_sync(&mut self, ticket: u64) -> Option<Result<SyncGroupResponse>> {
        let answer = self.syncs.remove(&ticket)?;
        self.waiting.remove(&ticket);
        Some(answer)
    }

    /// The waiter of `ticket` has given up.
    pub(super) fn abandon(&mut self, ticket: u64) {
        self.waiting.remove(&ticket);
        self.joins.remove(&ticket);
        self.syncs.remove(&ticket);
    }
}

fn copy<T: Clone>(answer: &Result<T>) -> Result<T> {
    match answer {
        Ok(value) => Ok(value.clone()),
        Err(error) => Err(error.duplicate()),
    }
}

#[derive(Debug)]
pub(super) struct Group {
    pub(super) id: String,
    pub(super) config: GroupsConfig,
    pub(super) state: GroupState,
    pub(super) previous_state: GroupState,
    pub(super) state_timestamp: Option<i64>,
    pub(super) protocol_type: Option<String>,
    pub(super) protocol_name: Option<String>,
    pub(super) generation: i32,
    pub(super) leader: Option<String>,
    pub(super) members: BTreeMap<String, Member>,
    /// Static members: group instance id to member id.
    pub(super) static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, to the end of their
    /// reservation.
    pub(super) pending_join: BTreeMap<String, i64>,
    /// Members of the generation that have not sent SyncGroup yet.
    pub(super) pending_sync: BTreeSet<String>,
    /// A member joined during the initial delayed join.
    pub(super) new_member_added: bool,
    pub(super) join_timer: Option<JoinTimer>,
    pub(super) sync_timer: Option<SyncTimer>,
    pub(super) tickets: Tickets,
    pub(super) writes: Vec<Write>,
    /// A rebalance began that the coordinator's rebalance listener has
    /// not been told of yet.
    pub(super) rebalance_started: bool,
}

impl Group {
    /// A new, empty group.
    pub(super) fn new(id: &str, config: GroupsConfig, now: i64) -> Self {
        Group {
            id: id.to_string(),
            config,
            state: GroupState::Empty,
            previous_state: GroupState::Dead,
            state_timestamp: Some(now),
            protocol_type: None,
            protocol_name: None,
            generation: 0,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_join: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            new_member_added: false,
            join_timer: None,
            sync_timer: None,
            tickets: Tickets::default(),
            writes: Vec::new(),
            rebalance_started: false,
        }
    }

    /// The group as its stored metadata describes it: Stable with its
    /// members, each given a fresh session from `now` in which to heartbeat
    /// or rejoin, or Empty without members. A group over `group.max.size`
    /// starts a rebalance.
    pub(super) fn from_stored(
        id: &str,
        config: GroupsConfig,
        value: &GroupMetadataValue,
        now: i64,
    ) -> Self {
        let mut group = Group::new(id, config, now);
        group.state = if value.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        group.state_timestamp =
            (value.current_state_timestamp != -1).then_some(value.current_state_timestamp);
        group.protocol_type = Some(value.protocol_type.clone()).filter(|t| !t.is_empty());
        group.protocol_name = value.protocol.clone();
        group.generation = value.generation;
        let protocol = value.protocol.clone().unwrap_or_default();
        for stored in &value.members {
            let rebalance_timeout_ms = if stored.rebalance_timeout_ms == -1 {
                stored.session_timeout_ms
            } else {
                stored.rebalance_timeout_ms
            };
            let mut member = Member {
                id: stored.member_id.clone(),
                instance_id: stored.group_instance_id.clone(),
                client_id: stored.client_id.clone(),
                client_host: stored.client_host.clone(),
                rebalance_timeout_ms,
                session_timeout_ms: stored.session_timeout_ms,
                protocol_type: value.protocol_type.clone(),
                protocols: vec![(protocol.clone(), stored.subscription.clone())],
                assignment: stored.assignment.clone(),
                awaiting_join: Vec::new(),
                awaiting_sync: Vec::new(),
                is_new: false,
                session_deadline: 0,
            };
            member.touch(now);
            if let Some(instance) = &member.instance_id {
                group
                    .static_members
                    .insert(instance.clone(), member.id.clone());
            }
            group.members.insert(member.id.clone(), member);
        }
        group.leader = value
            .leader
            .clone()
            .filter(|leader| group.members.contains_key(leader))
            .or_else(|| group.members.keys().next().cloned());
        if group.members.len() > group.max_size() {
            group.prepare_rebalance(now);
        }
        group
    }

    pub(super) fn err(&self, kind: GroupErrorKind) -> Error {
        Error::group(&self.id, kind)
    }

    pub(super) fn max_size(&self) -> usize {
        usize::try_from(self.config.group_max_size).unwrap_or(usize::MAX)
    }

    pub(super) fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    /// The longest rebalance timeout of the members, in ms.
    pub(super) fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
            .max(0)
    }

    pub(super) fn all_members_joined(&self) -> bool {
        self.pending_join.is_empty() && self.members.values().all(Member::is_awaiting_join)
    }

    /// Whether a member of `protocol_type` with these protocols may join:
    /// any non-empty type and protocols while the group is Empty, else the
    /// group's type and a protocol every member supports.
    pub(super) fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[(String, Vec<u8>)],
    ) -> bool {
        if self.state == GroupState::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|(name, _)| self.members.values().all(|m| m.supports(name)))
    }

    /// The protocol of the next generation: among the protocols every
    /// member supports, each member votes for the one it prefers most, and
    /// the most votes win (a tie goes to the name that sorts first).
    pub(super) fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| self.members.values().all(|m| m.supports(name)))
            .collect();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for member in self.members.values() {
            if let Some(name) = member.vote(&candidates) {
                *votes.entry(name).or_default() += 1;
            }
        }
        let most = votes.values().copied().max()?;
        votes
            .into_iter()
            .find(|&(_, count)| count == most)
            .map(|(name, _)| name.to_string())
    }

    /// Adds a member; the first member of an empty group sets its protocol
    /// type, and the group's first member leads.
    pub(super) fn add(&mut self, member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        if let Some(instance) = &member.instance_id {
            self.static_members
                .insert(instance.clone(), member.id.clone());
        }
        self.pending_join.remove(&member.id);
        self.members.insert(member.id.clone(), member);
    }

    /// Removes a member (or a pending member id). Its parked requests are
    /// answered with UNKNOWN_MEMBER_ID; if it led, the first remaining
    /// member leads.
    pub(super) fn remove(&mut self, member_id: &str) {
        if let Some(member) = self.members.remove(member_id) {
            let unknown = Err(self.err(GroupErrorKind::UnknownMemberId));
            self.tickets.answer_join(member.awaiting_join, &unknown);
            let unknown = Err(self.err(GroupErrorKind::UnknownMemberId));
            self.tickets.answer_sync(member.awaiting_sync, &unknown);
            if let Some(instance) = &member.instance_id {
                self.static_members.remove(instance);
            }
        }
        if self.is_leader(member_id) {
            self.leader = self.members.keys().next().cloned();
        }
        self.pending_join.remove(member_id);
        self.pending_sync.remove(member_id);
    }

    /// Gives a static member a new member id: the old id's parked requests
    /// are answered with FENCED_INSTANCE_ID, everything else carries over.
    pub(super) fn replace_static_member(&mut self, instance: &str, old_id: &str, new_id: &str) {
        let Some(mut member) = self.members.remove(old_id) else {
            return;
        };
        let fenced = Err(self.err(GroupErrorKind::FencedInstanceId));
        self.tickets
            .answer_join(std::mem::take(&mut member.awaiting_join), &fenced);
        let fenced = Err(self.err(GroupErrorKind::FencedInstanceId));
        self.tickets
            .answer_sync(std::mem::take(&mut member.awaiting_sync), &fenced);
        member.id = new_id.to_string();
        if self.is_leader(old_id) {
            self.leader = Some(new_id.to_string());
        }
        self.pending_sync.remove(old_id);
        self.static_members
            .insert(instance.to_string(), new_id.to_string());
        self.members.insert(new_id.to_string(), member);
    }

    /// Checks that the request comes from a current member: a static
    /// member's instance id must map to the member id, and the member id
    /// must be in the group.
    pub(super) fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), GroupErrorKind> {
        if let Some(instance) = instance_id {
            match self.static_members.get(instance) {
                None => return Err(GroupErrorKind::UnknownMemberId),
                Some(current) if current != member_id => {
                    return Err(GroupErrorKind::FencedInstanceId)
                }
                Some(_) => {}
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(GroupErrorKind::UnknownMemberId);
        }
        Ok(())
    }

    pub(super) fn transition(&mut self, to: GroupState, now: i64) {
        debug_assert!(
            matches!(
                (self.state, to),
                (GroupState::PreparingRebalance, GroupState::Empty)
                    | (
                        GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty,
                        GroupState::PreparingRebalance
                    )
                    | (
                        GroupState::PreparingRebalance,
                        GroupState::CompletingRebalance
                    )
                    | (GroupState::CompletingRebalance, GroupState::Stable)
                    | (_, GroupState::Dead)
            ),
            "group {} cannot go from {} to {}",
            self.id,
            self.state,
            to
        );
        self.previous_state = self.state;
        self.state = to;
        self.state_timestamp = Some(now);
    }

    /// The JoinGroup answer of the current generation for `member_id`;
    /// the member list for the leader only.
    pub(super) fn join_response(&self, member_id: &str) -> JoinGroupResponse {
        let members = if self.is_leader(member_id) {
            let protocol = self.protocol_name.as_deref().unwrap_or_default();
            self.members
                .values()
                .map(|m| JoinGroupMember {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    metadata: m.metadata(protocol).unwrap_or_default().to_vec(),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinGroupResponse {
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
        }
    }

    /// The group's metadata record, with the given assignment of each
    /// member (an empty one for members it leaves out).
    pub(super) fn snapshot(&self, assignments: &BTreeMap<String, Vec<u8>>) -> GroupMetadataValue {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        GroupMetadataValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol_name.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_timestamp.unwrap_or(-1),
            members: self
                .members
                .values()
                .map(|m| MemberMetadata {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(protocol).unwrap_or_default().to_vec(),
                    assignment: assignments.get(&m.id).cloned().unwrap_or_default(),
                })
                .collect(),
        }
    }

    pub(super) fn listing(&self) -> GroupListing {
        GroupListing {
            group_id: self.id.clone(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            state: self.state,
        }
    }

    pub(super) fn status(&self) -> GroupStatus {
        GroupStatus {
            state: self.state,
            state_timestamp_ms: self.state_timestamp,
            protocol_type: self.protocol_type.clone(),
            generation: self.generation,
            members: self.members.len(),
        }
    }

    pub(super) fn describe(&self) -> GroupDescription {
        let stable = self.state == GroupState::Stable;
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        GroupDescription {
            group_id: self.id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol: self.protocol_name.clone().filter(|_| stable),
            generation: self.generation,
            leader: self.leader.clone(),
            members: self
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscription: stable.then(|| m.metadata(protocol).unwrap_or_default().to_vec()),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }
}

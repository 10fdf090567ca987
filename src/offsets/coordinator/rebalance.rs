//! The requests of Kafka's classic group protocol (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, the checks of OffsetCommit) and the rebalance
//! they drive, as changes to one [`Group`] made under its lock.
//!
//! A request that must wait (a join until the join phase completes, a
//! follower's sync until the leader's assignment is stored) is parked
//! under a ticket; the change that completes it leaves the answer under
//! the ticket for the waiting thread to take.

use std::collections::BTreeMap;

use crate::error::{Error, GroupErrorKind, Result};

use super::group::{Group, JoinTimer, JoinTimerKind, SyncTimer, Write};
use super::member::{dedup_protocols, generate_member_id, Member, NEW_MEMBER_JOIN_TIMEOUT_MS};
use super::requests::{
    GroupState, JoinGroupRequest, JoinOutcome, MemberIdentity, SyncGroupRequest, SyncGroupResponse,
};

/// What became of a request: answered at once, or parked under a ticket.
#[derive(Debug)]
pub(super) enum Step<T> {
    Done(Result<T>),
    Parked(u64),
}

impl Group {
    fn fail<T>(&self, kind: GroupErrorKind) -> Step<T> {
        Step::Done(Err(self.err(kind)))
    }

    /// JoinGroup, after the coordinator has checked the group id and the
    /// session timeout.
    pub(super) fn join(&mut self, request: &JoinGroupRequest, now: i64) -> Step<JoinOutcome> {
        let member_id = request.member_id.as_str();
        if !self.accepts_joining_member(member_id) {
            self.remove(member_id);
            return self.fail(GroupErrorKind::GroupMaxSizeReached);
        }
        let protocols = dedup_protocols(&request.protocols);
        if !self.supports_protocols(&request.protocol_type, &protocols) {
            return self.fail(GroupErrorKind::InconsistentGroupProtocol);
        }
        if member_id.is_empty() {
            self.join_new_member(request, protocols, now)
        } else {
            self.join_known_member(request, protocols, now)
        }
    }

    /// Whether the group has room for the member (`group.max.size`). While
    /// rebalancing, the members that have rejoined count, so that the last
    /// to rejoin of an oversized group are the ones turned away.
    fn accepts_joining_member(&self, member_id: &str) -> bool {
        let max = self.max_size();
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                self.members
                    .get(member_id)
                    .is_some_and(Member::is_awaiting_join)
                    || self
                        .members
                        .values()
                        .filter(|m| m.is_awaiting_join())
                        .count()
                        < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.members.contains_key(member_id) || self.members.len() < max
            }
        }
    }

    fn join_new_member(
        &mut self,
        request: &JoinGroupRequest,
        protocols: Vec<(String, Vec<u8>)>,
        now: i64,
    ) -> Step<JoinOutcome> {
        let prefix = request
            .group_instance_id
            .as_deref()
            .unwrap_or(&request.client_id);
        let mut new_id = generate_member_id(prefix, now);
        while self.members.contains_key(&new_id) || self.pending_join.contains_key(&new_id) {
            new_id = generate_member_id(prefix, now);
        }
        let Some(instance) = request.group_instance_id.as_deref() else {
            // KIP-394: the member must come back with the id, within its
            // session timeout.
            let deadline = now.saturating_add(i64::from(request.session_timeout_ms));
            self.pending_join.insert(new_id.clone(), deadline);
            return Step::Done(Ok(JoinOutcome::MemberIdRequired(new_id)));
        };
        match self.static_members.get(instance).cloned() {
            Some(old_id) => {
                self.replace_static_then_rebalance(request, protocols, &old_id, &new_id, now)
            }
            None => self.add_member_then_rebalance(request, protocols, new_id, now),
        }
    }

    fn join_known_member(
        &mut self,
        request: &JoinGroupRequest,
        protocols: Vec<(String, Vec<u8>)>,
        now: i64,
    ) -> Step<JoinOutcome> {
        let member_id = request.member_id.as_str();
        if self.pending_join.contains_key(member_id) {
            // Ids handed out with MEMBER_ID_REQUIRED belong to dynamic
            // members only.
            if request.group_instance_id.is_some() {
                return self.fail(GroupErrorKind::UnknownMemberId);
            }
            return self.add_member_then_rebalance(request, protocols, member_id.to_string(), now);
        }
        if let Err(kind) = self.validate_member(member_id, request.group_instance_id.as_deref()) {
            return self.fail(kind);
        }
        let unchanged = self
            .members
            .get(member_id)
            .is_some_and(|m| m.protocols == protocols);
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member_then_rebalance(request, protocols, member_id, now)
            }
            // The member missed the answer of this generation's join (or
            // asks again): answer it again, unless its metadata changed.
            GroupState::CompletingRebalance if unchanged => {
                Step::Done(Ok(JoinOutcome::Joined(self.join_response(member_id))))
            }
            // A follower with unchanged metadata gets the generation as it
            // is; the leader's join (it may have seen the topics change)
            // and changed metadata start a rebalance.
            GroupState::Stable if unchanged && !self.is_leader(member_id) => {
                Step::Done(Ok(JoinOutcome::Joined(self.join_response(member_id))))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_then_rebalance(request, protocols, member_id, now)
            }
            GroupState::Empty | GroupState::Dead => self.fail(GroupErrorKind::UnknownMemberId),
        }
    }

    fn add_member_then_rebalance(
        &mut self,
        request: &JoinGroupRequest,
        protocols: Vec<(String, Vec<u8>)>,
        member_id: String,
        now: i64,
    ) -> Step<JoinOutcome> {
        let ticket = self.tickets.open();
        let member = Member {
            id: member_id,
            instance_id: request.group_instance_id.clone(),
            client_id: request.client_id.clone(),
            client_host: request.client_host.clone(),
            rebalance_timeout_ms: rebalance_timeout(request),
            session_timeout_ms: request.session_timeout_ms,
            protocol_type: request.protocol_type.clone(),
            protocols,
            assignment: Vec::new(),
            awaiting_join: vec![ticket],
            awaiting_sync: Vec::new(),
            is_new: true,
            // A new member cannot heartbeat while its first join is parked.
            session_deadline: now.saturating_add(NEW_MEMBER_JOIN_TIMEOUT_MS),
        };
        if self.state == GroupState::PreparingRebalance && self.previous_state == GroupState::Empty
        {
            self.new_member_added = true;
        }
        self.add(member);
        self.maybe_prepare_rebalance_or_complete_join(now);
        Step::Parked(ticket)
    }

    fn update_member_then_rebalance(
        &mut self,
        request: &JoinGroupRequest,
        protocols: Vec<(String, Vec<u8>)>,
        member_id: &str,
        now: i64,
    ) -> Step<JoinOutcome> {
        let ticket = self.tickets.open();
        if let Some(member) = self.members.get_mut(member_id) {
            member.protocols = protocols;
            member.rebalance_timeout_ms = rebalance_timeout(request);
            member.session_timeout_ms = request.session_timeout_ms;
            member.awaiting_join.push(ticket);
        }
        self.maybe_prepare_rebalance_or_complete_join(now);
        Step::Parked(ticket)
    }

    /// A static member rejoining with a new member id takes over its old
    /// id's place, and the group rebalances (Kafka skips the rebalance of a
    /// Stable group when the protocol would not change; here the member's
    /// rejoin always rebalances, which is correct if slower).
    fn replace_static_then_rebalance(
        &mut self,
        request: &JoinGroupRequest,
        protocols: Vec<(String, Vec<u8>)>,
        old_id: &str,
        new_id: &str,
        now: i64,
    ) -> Step<JoinOutcome> {
        let Some(instance) = request.group_instance_id.as_deref() else {
            return self.fail(GroupErrorKind::UnknownMemberId);
        };
        self.replace_static_member(instance, old_id, new_id);
        if let Some(member) = self.members.get_mut(new_id) {
            member.touch(now);
        }
        self.update_member_then_rebalance(request, protocols, new_id, now)
    }

    /// SyncGroup, after the coordinator has checked the group id.
    pub(super) fn sync(&mut self, request: &SyncGroupRequest) -> Step<SyncGroupResponse> {
        if self.state == GroupState::Empty {
            return self.fail(GroupErrorKind::UnknownMemberId);
        }
        let member_id = request.member_id.as_str();
        if let Err(kind) = self.validate_member(member_id, request.group_instance_id.as_deref()) {
            return self.fail(kind);
        }
        if request.generation_id != self.generation {
            return self.fail(GroupErrorKind::IllegalGeneration);
        }
        let inconsistent =
            |asked: &Option<String>, ours: &Option<String>| asked.is_some() && asked != ours;
        if inconsistent(&request.protocol_type, &self.protocol_type)
            || inconsistent(&request.protocol_name, &self.protocol_name)
        {
            return self.fail(GroupErrorKind::InconsistentGroupProtocol);
        }
        match self.state {
            GroupState::PreparingRebalance => self.fail(GroupErrorKind::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                let ticket = self.tickets.open();
                if let Some(member) = self.members.get_mut(member_id) {
                    member.awaiting_sync.push(ticket);
                }
                self.remove_pending_sync(member_id);
                if self.is_leader(member_id) {
                    let mut assignments: BTreeMap<String, Vec<u8>> = BTreeMap::new();
                    for (id, assignment) in &request.assignments {
                        assignments.insert(id.clone(), assignment.clone());
                    }
                    let value = self.snapshot(&assignments);
                    self.writes.push(Write::Assignment {
                        generation: self.generation,
                        assignments,
                        value,
                    });
                }
                Step::Parked(ticket)
            }
            GroupState::Stable => {
                self.remove_pending_sync(member_id);
                let assignment = self
                    .members
                    .get(member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                Step::Done(Ok(self.sync_response(assignment)))
            }
            GroupState::Empty | GroupState::Dead => self.fail(GroupErrorKind::UnknownMemberId),
        }
    }

    fn sync_response(&self, assignment: Vec<u8>) -> SyncGroupResponse {
        SyncGroupResponse {
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment,
        }
    }

    fn remove_pending_sync(&mut self, member_id: &str) {
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.sync_timer = None;
        }
    }

    /// The outcome of storing the leader's assignment of `generation`. If
    /// the group is still waiting for that assignment, a success hands
    /// every member its assignment and makes the group Stable; a failure
    /// is every parked SyncGroup's answer, and the group rebalances.
    pub(super) fn assignment_stored(
        &mut self,
        generation: i32,
        assignments: BTreeMap<String, Vec<u8>>,
        outcome: Result<()>,
        now: i64,
    ) {
        if self.state != GroupState::CompletingRebalance || generation != self.generation {
            return;
        }
        match outcome {
            Ok(()) => {
                for member in self.members.values_mut() {
                    member.assignment = assignments.get(&member.id).cloned().unwrap_or_default();
                }
                self.propagate_assignment(Ok(()), now);
                self.transition(GroupState::Stable, now);
            }
            Err(error) => {
                self.reset_and_propagate_assignment(error, now);
                self.maybe_prepare_rebalance_or_complete_join(now);
            }
        }
    }

    /// Heartbeat: keeps the member's session, and tells it whether a
    /// rebalance needs it to rejoin.
    pub(super) fn heartbeat(
        &mut self,
        member_id: &str,
        generation: i32,
        instance_id: Option<&str>,
        now: i64,
    ) -> Result<()> {
        self.validate_member(member_id, instance_id)
            .map_err(|kind| self.err(kind))?;
        if generation != self.generation {
            return Err(self.err(GroupErrorKind::IllegalGeneration));
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => Err(self.err(GroupErrorKind::UnknownMemberId)),
            GroupState::PreparingRebalance => {
                if let Some(member) = self.members.get_mut(member_id) {
                    member.touch(now);
                }
                Err(self.err(GroupErrorKind::RebalanceInProgress))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                if let Some(member) = self.members.get_mut(member_id) {
                    member.touch(now);
                }
                Ok(())
            }
        }
    }

    /// LeaveGroup: one answer per named member, in order.
    pub(super) fn leave(&mut self, leaving: &[MemberIdentity], now: i64) -> Vec<Result<()>> {
        let mut answers = Vec::with_capacity(leaving.len());
        let mut left = false;
        for identity in leaving {
            let instance = identity.group_instance_id.as_deref();
            let answer = if identity.member_id.is_empty() {
                // An administrator removes a static member by instance id.
                match instance.and_then(|i| self.static_members.get(i)).cloned() {
                    Some(member_id) => {
                        self.remove(&member_id);
                        Ok(())
                    }
                    None => Err(GroupErrorKind::UnknownMemberId),
                }
            } else if self.pending_join.contains_key(&identity.member_id) {
                self.remove(&identity.member_id);
                Ok(())
            } else {
                self.validate_member(&identity.member_id, instance)
                    .map(|()| self.remove(&identity.member_id))
            };
            left |= answer.is_ok();
            answers.push(answer.map_err(|kind| self.err(kind)));
        }
        if left {
            match self.state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    self.maybe_prepare_rebalance_or_complete_join(now)
                }
                GroupState::PreparingRebalance => self.maybe_complete_join_phase(now),
                GroupState::Empty | GroupState::Dead => {}
            }
        }
        answers
    }

    /// Kafka's checks of a classic group's offset commit: a commit without
    /// member id and generation (-1) is a simple consumer's and needs an
    /// Empty group; any other commit must come from a current member in
    /// the current generation, and not while the group waits for its
    /// leader's assignment (commits during PreparingRebalance, of the
    /// generation being replaced, are let through).
    pub(super) fn validate_offset_commit(
        &self,
        member_id: &str,
        generation: i32,
        instance_id: Option<&str>,
    ) -> Result<()> {
        if generation < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
            self.validate_member(member_id, instance_id)
                .map_err(|kind| self.err(kind))?;
            if generation != self.generation {
                return Err(self.err(GroupErrorKind::IllegalGeneration));
            }
        } else {
            return Err(self.err(GroupErrorKind::UnknownMemberId));
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(self.err(GroupErrorKind::RebalanceInProgress));
        }
        Ok(())
    }

    pub(super) fn maybe_prepare_rebalance_or_complete_join(&mut self, now: i64) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(now);
        } else {
            self.maybe_complete_join_phase(now);
        }
    }

    /// Completes the join phase if every member has rejoined, except in a
    /// group's first rebalance, which only its delay timer completes.
    pub(super) fn maybe_complete_join_phase(&mut self, now: i64) {
        if self.state == GroupState::PreparingRebalance
            && self.previous_state != GroupState::Empty
            && self.all_members_joined()
        {
            self.complete_join(now);
        }
    }

    /// Starts a rebalance: parked syncs are told to rejoin, and the join
    /// phase waits for the members, for the longest rebalance timeout (or,
    /// for an empty group's first rebalance, for the initial delay).
    pub(super) fn prepare_rebalance(&mut self, now: i64) {
        if self.state == GroupState::CompletingRebalance {
            let error = self.err(GroupErrorKind::RebalanceInProgress);
            self.reset_and_propagate_assignment(error, now);
        }
        self.pending_sync.clear();
        self.sync_timer = None;
        let initial = self.state == GroupState::Empty;
        if initial {
            let delay = i64::from(self.config.group_initial_rebalance_delay_ms);
            let remaining = (self.rebalance_timeout_ms() - delay).max(0);
            self.join_timer = Some(JoinTimer {
                deadline: now.saturating_add(delay),
                kind: JoinTimerKind::Initial { delay, remaining },
            });
        }
        self.transition(GroupState::PreparingRebalance, now);
        self.rebalance_started = true;
        if !initial {
            if self.all_members_joined() {
                self.complete_join(now);
            } else {
                self.join_timer = Some(JoinTimer {
                    deadline: now.saturating_add(self.rebalance_timeout_ms()),
                    kind: JoinTimerKind::Rebalance,
                });
            }
        }
    }

    /// Ends the join phase: dynamic members that have not rejoined are
    /// removed, and the next generation begins with the others (or the
    /// group becomes Empty, and is stored so).
    pub(super) fn complete_join(&mut self, now: i64) {
        self.join_timer = None;
        let absent: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.is_awaiting_join() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in &absent {
            self.remove(id);
        }
        if !self.elect_joined_leader() && !self.members.is_empty() {
            // Only static members that have not rejoined are left: wait
            // for them to rejoin or for their sessions to expire.
            self.join_timer = Some(JoinTimer {
                deadline: now.saturating_add(self.rebalance_timeout_ms().max(1)),
                kind: JoinTimerKind::Rebalance,
            });
            return;
        }
        self.generation = self.generation.wrapping_add(1);
        self.pending_sync.clear();
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition(GroupState::Empty, now);
            let value = self.snapshot(&BTreeMap::new());
            self.writes.push(Write::Empty(value));
            return;
        }
        self.protocol_name = self.select_protocol();
        self.transition(GroupState::CompletingRebalance, now);
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let answer = Ok(self.join_response(&id));
            if let Some(member) = self.members.get_mut(&id) {
                let tickets = std::mem::take(&mut member.awaiting_join);
                member.touch(now);
                member.is_new = false;
                self.tickets.answer_join(tickets, &answer);
            }
            self.pending_sync.insert(id);
        }
        self.sync_timer = Some(SyncTimer {
            deadline: now.saturating_add(self.rebalance_timeout_ms()),
            generation: self.generation,
        });
    }

    /// Keeps the leader if it rejoined, else makes the first rejoined
    /// member the leader. False if no member rejoined.
    fn elect_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader.as_deref() else {
            return false;
        };
        if self
            .members
            .get(leader)
            .is_some_and(Member::is_awaiting_join)
        {
            return true;
        }
        match self.members.values().find(|m| m.is_awaiting_join()) {
            Some(member) => {
                self.leader = Some(member.id.clone());
                true
            }
            None => false,
        }
    }

    /// Clears every member's assignment and answers the parked syncs with
    /// `error`.
    fn reset_and_propagate_assignment(&mut self, error: Error, now: i64) {
        for member in self.members.values_mut() {
            member.assignment.clear();
        }
        self.propagate_assignment(Err(error), now);
    }

    /// Answers every parked sync with the member's assignment (or the
    /// error); answered members start a new session.
    fn propagate_assignment(&mut self, outcome: Result<()>, now: i64) {
        let (protocol_type, protocol_name) =
            (self.protocol_type.clone(), self.protocol_name.clone());
        for member in self.members.values_mut() {
            if !member.is_awaiting_sync() {
                continue;
            }
            let answer = match &outcome {
                Ok(()) => Ok(SyncGroupResponse {
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol_name.clone(),
                    assignment: member.assignment.clone(),
                }),
                Err(error) => Err(error.duplicate()),
            };
            self.tickets
                .answer_sync(std::mem::take(&mut member.awaiting_sync), &answer);
            member.touch(now);
        }
    }
}

/// The request's rebalance timeout; a negative one stands for the session
/// timeout.
fn rebalance_timeout(request: &JoinGroupRequest) -> i32 {
    if request.rebalance_timeout_ms < 0 {
        request.session_timeout_ms
    } else {
        request.rebalance_timeout_ms
    }
}

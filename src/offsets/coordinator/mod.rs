//! The group coordinator of Kafka's classic consumer-group protocol:
//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup, the checks of an offset
//! commit, and the administration of groups (list, describe, delete).
//!
//! ```
//! use std::sync::Arc;
//! use seglog::offsets::coordinator::{
//!     GroupCoordinator, JoinGroupRequest, JoinOutcome, NoStorage, SyncGroupRequest,
//! };
//! use seglog::{offsets::GroupsConfig, SystemClock};
//!
//! let config = GroupsConfig {
//!     group_initial_rebalance_delay_ms: 0,
//!     ..GroupsConfig::default()
//! };
//! let coordinator = GroupCoordinator::new(config, Arc::new(SystemClock), Arc::new(NoStorage));
//! let mut request = JoinGroupRequest {
//!     group_id: "billing".into(),
//!     client_id: "consumer-1".into(),
//!     session_timeout_ms: 10_000,
//!     rebalance_timeout_ms: 30_000,
//!     protocol_type: "consumer".into(),
//!     protocols: vec![("range".into(), b"subscription".to_vec())],
//!     ..JoinGroupRequest::default()
//! };
//! // A new member is first given its member id...
//! let JoinOutcome::MemberIdRequired(member_id) = coordinator.join_group(request.clone())? else {
//!     panic!("a new member must come back with a member id");
//! };
//! // ...and joins with it: alone in the group, it leads generation 1.
//! request.member_id = member_id.clone();
//! let JoinOutcome::Joined(joined) = coordinator.join_group(request)? else {
//!     panic!("the member id was given");
//! };
//! assert!(joined.is_leader());
//! assert_eq!(joined.generation_id, 1);
//! // The leader hands in the assignment; every member gets its part.
//! let synced = coordinator.sync_group(SyncGroupRequest {
//!     group_id: "billing".into(),
//!     generation_id: joined.generation_id,
//!     member_id: member_id.clone(),
//!     assignments: vec![(member_id.clone(), b"partitions".to_vec())],
//!     ..SyncGroupRequest::default()
//! })?;
//! assert_eq!(synced.assignment, b"partitions");
//! coordinator.heartbeat("billing", &member_id, joined.generation_id, None)?;
//! # Ok::<(), seglog::Error>(())
//! ```
//!
//! # How a group moves
//!
//! A group is `Empty` until a member joins; it is then
//! `PreparingRebalance` while members join, `CompletingRebalance` once the
//! join phase is over and the leader computes the assignment, and `Stable`
//! once the leader has handed it in. A member joining, leaving, changing
//! its metadata or missing its session starts a new rebalance; the group is
//! `Empty` again when its last member is gone, and `Dead` once deleted.
//!
//! * **Joining.** A new member without a member id and without a group
//!   instance id is given an id and must join again with it
//!   ([`JoinOutcome::MemberIdRequired`], KIP-394). A join blocks until the
//!   join phase completes: when every known member has rejoined, or when
//!   the rebalance timeout (the longest of the members') passes, and then
//!   members that did not rejoin are out. The first rebalance of an empty
//!   group waits `group.initial.rebalance.delay.ms` for more members, as
//!   long again whenever more came, within the rebalance timeout. Every
//!   member of the generation gets its generation id and the leader; the
//!   leader also gets every member's metadata.
//! * **The protocol** must be of the group's protocol type, and the
//!   generation's protocol is one all members support: each votes for the
//!   one it prefers most, and the most votes win.
//! * **Syncing.** The leader's SyncGroup hands in the assignment; it is
//!   stored ([`GroupStorage::store_group`]), and then every member's
//!   SyncGroup (a follower's blocks until then) returns its part. If the
//!   store fails, every parked SyncGroup fails with its error and the group
//!   rebalances. Members that have not asked for their assignment within
//!   the rebalance timeout are out.
//! * **Liveness.** A member that neither heartbeats nor rejoins within its
//!   session timeout is out. While a rebalance is on, heartbeats answer
//!   [`RebalanceInProgress`](GroupErrorKind::RebalanceInProgress): the
//!   member must rejoin.
//! * **Static members** (with a group instance id) keep their place across
//!   restarts: one rejoining without its member id gets a new one and
//!   fences the old; they stay in a rebalance they have not rejoined, until
//!   their session ends. (Kafka lets a static member rejoin a Stable group
//!   without a rebalance when the protocol would not change; here it always
//!   rebalances.)
//!
//! # Threads and time
//!
//! A [`GroupCoordinator`] is `Send + Sync` and shared by `Arc`; each group
//! has its own lock, so groups do not hold each other up. Requests are
//! synchronous: [`join_group`](GroupCoordinator::join_group) and
//! [`sync_group`](GroupCoordinator::sync_group) block the calling thread
//! as Kafka parks the requests, and have bounded variants.
//! [`shutdown`](GroupCoordinator::shutdown) wakes every blocked caller with
//! [`Error::Closed`].
//!
//! Deadlines come from the [`Clock`]; no thread runs timers in the
//! background. A group's due timers run at each request to it, at each
//! wake-up of a thread blocked on it (at least every 20 ms of real time, so
//! that a clock moved by another thread is seen) and at
//! [`expire_members`](GroupCoordinator::expire_members), which a host
//! calls periodically so that idle groups lose their dead members too.
//!
//! # Storage
//!
//! The group's metadata record is written when the leader hands in an
//! assignment and when the group becomes empty (a failure of the latter is
//! not the failure of the request that happened to cause it: the stored
//! record then still lists members whose sessions end after a load), and
//! its tombstone when the group is deleted. The writes are made outside the
//! group's lock, in the order they were decided. At open,
//! [`load_group`](GroupCoordinator::load_group) brings back each stored
//! group.

mod cell;
mod group;
mod member;
mod rebalance;
mod requests;
mod storage;
mod timers;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_rebalance;
#[cfg(test)]
mod tests_threads;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::error::{Error, GroupErrorKind, Result};
use crate::offsets::check_group_id;
use crate::offsets::config::GroupsConfig;
use crate::offsets::records::GroupMetadataValue;
use crate::segment::lock;

use cell::{deadline_after, GroupCell};
use group::{Group, Tickets};
use rebalance::Step;
use storage::WriteGate;

pub use requests::{
    GroupDescription, GroupListing, GroupState, GroupStatus, JoinGroupMember, JoinGroupRequest,
    JoinGroupResponse, JoinOutcome, MemberDescription, MemberIdentity, SyncGroupRequest,
    SyncGroupResponse,
};
pub use storage::{GroupStorage, NoStorage};

/// The group coordinator; see the [module docs](self).
pub struct GroupCoordinator {
    config: GroupsConfig,
    clock: Arc<dyn Clock>,
    storage: Arc<dyn GroupStorage>,
    groups: Mutex<HashMap<String, Arc<GroupCell>>>,
    closed: AtomicBool,
    gate: WriteGate,
    rebalance_listener: OnceLock<RebalanceListener>,
}

/// Called when a group begins a rebalance.
type RebalanceListener = Box<dyn Fn() + Send + Sync>;

impl fmt::Debug for GroupCoordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCoordinator")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("groups", &lock(&self.groups).len())
            .field("closed", &self.closed.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

impl GroupCoordinator {
    /// A coordinator without groups, taking time from `clock` and storing
    /// group metadata in `storage`. `config` is used as given; validate it
    /// first ([`GroupsConfig::validate`]).
    pub fn new(
        config: GroupsConfig,
        clock: Arc<dyn Clock>,
        storage: Arc<dyn GroupStorage>,
    ) -> Self {
        GroupCoordinator {
            config,
            clock,
            storage,
            groups: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            gate: WriteGate::default(),
            rebalance_listener: OnceLock::new(),
        }
    }

    /// JoinGroup: joins (or rejoins) the group, creating it if a member
    /// without a member id joins. Blocks until the join phase completes,
    /// or answers at once when the member has to come back with a member
    /// id, or (for a follower whose metadata did not change) with the
    /// current generation.
    ///
    /// # Errors
    /// [`Error::Group`] with [`InvalidGroupId`](GroupErrorKind::InvalidGroupId)
    /// for an empty group id,
    /// [`InvalidSessionTimeout`](GroupErrorKind::InvalidSessionTimeout)
    /// outside `group.min/max.session.timeout.ms`,
    /// [`InconsistentGroupProtocol`](GroupErrorKind::InconsistentGroupProtocol)
    /// for another protocol type or no protocol in common,
    /// [`UnknownMemberId`](GroupErrorKind::UnknownMemberId) for a member id
    /// the group does not know (or a member removed while it waited),
    /// [`FencedInstanceId`](GroupErrorKind::FencedInstanceId) for a static
    /// member replaced by a newer one,
    /// [`GroupMaxSizeReached`](GroupErrorKind::GroupMaxSizeReached); and
    /// [`Error::Closed`] once the coordinator is shut down.
    pub fn join_group(&self, request: JoinGroupRequest) -> Result<JoinOutcome> {
        match self.join(request, None)? {
            Some(outcome) => Ok(outcome),
            // Without a deadline only an answer ends the wait.
            None => Err(Error::Closed),
        }
    }

    /// [`join_group`](Self::join_group), waiting at most `timeout` (real
    /// time) for the join phase to complete. `Ok(None)` if it did not: the
    /// join stays parked in the group as a Kafka client's timed-out request
    /// would, and joining again picks up the generation once it is there.
    ///
    /// # Errors
    /// As [`join_group`](Self::join_group).
    pub fn join_group_timeout(
        &self,
        request: JoinGroupRequest,
        timeout: Duration,
    ) -> Result<Option<JoinOutcome>> {
        self.join(request, Some(deadline_after(timeout)))
    }

    fn join(
        &self,
        request: JoinGroupRequest,
        deadline: Option<Instant>,
    ) -> Result<Option<JoinOutcome>> {
        self.check_open()?;
        check_group_id(&request.group_id)?;
        let session = i64::from(request.session_timeout_ms);
        if session < i64::from(self.config.group_min_session_timeout_ms)
            || session > i64::from(self.config.group_max_session_timeout_ms)
        {
            return Err(Error::group(
                &request.group_id,
                GroupErrorKind::InvalidSessionTimeout,
            ));
        }
        let create = request.member_id.is_empty();
        let joined = self.with_live_group(&request.group_id, create, |cell, mut group| {
            let step = group.join(&request, self.clock.now_ms());
            let (group, _) = self.settle(cell, group);
            match step {
                Step::Done(answer) => answer.map(Some),
                Step::Parked(ticket) => Ok(self
                    .wait(cell, group, ticket, deadline, Tickets::take_join)?
                    .map(JoinOutcome::Joined)),
            }
        });
        joined.unwrap_or_else(|| {
            Err(Error::group(
                &request.group_id,
                GroupErrorKind::UnknownMemberId,
            ))
        })
    }

    /// SyncGroup: the leader hands in the generation's assignment, and
    /// every member gets its own. Blocks until the leader's assignment is
    /// stored (or at once once the group is Stable).
    ///
    /// # Errors
    /// [`Error::Group`] with
    /// [`UnknownMemberId`](GroupErrorKind::UnknownMemberId) (also for an
    /// empty or unknown group),
    /// [`FencedInstanceId`](GroupErrorKind::FencedInstanceId),
    /// [`IllegalGeneration`](GroupErrorKind::IllegalGeneration) for another
    /// generation,
    /// [`InconsistentGroupProtocol`](GroupErrorKind::InconsistentGroupProtocol)
    /// when the given protocol type or name is not the group's,
    /// [`RebalanceInProgress`](GroupErrorKind::RebalanceInProgress) when a
    /// rebalance began (before or while it waited): rejoin; the error of
    /// [`GroupStorage::store_group`] if storing the assignment failed (the
    /// group rebalances); [`Error::Closed`] once shut down.
    pub fn sync_group(&self, request: SyncGroupRequest) -> Result<SyncGroupResponse> {
        match self.sync(request, None)? {
            Some(response) => Ok(response),
            None => Err(Error::Closed),
        }
    }

    /// [`sync_group`](Self::sync_group), waiting at most `timeout` (real
    /// time). `Ok(None)` if no answer came: the request stays parked, and
    /// syncing again picks up the assignment once the group is Stable.
    ///
    /// # Errors
    /// As [`sync_group`](Self::sync_group).
    pub fn sync_group_timeout(
        &self,
        request: SyncGroupRequest,
        timeout: Duration,
    ) -> Result<Option<SyncGroupResponse>> {
        self.sync(request, Some(deadline_after(timeout)))
    }

    fn sync(
        &self,
        request: SyncGroupRequest,
        deadline: Option<Instant>,
    ) -> Result<Option<SyncGroupResponse>> {
        self.check_open()?;
        check_group_id(&request.group_id)?;
        let synced = self.with_live_group(&request.group_id, false, |cell, mut group| {
            let step = group.sync(&request);
            let (group, _) = self.settle(cell, group);
            match step {
                Step::Done(answer) => answer.map(Some),
                Step::Parked(ticket) => {
                    self.wait(cell, group, ticket, deadline, Tickets::take_sync)
                }
            }
        });
        synced.unwrap_or_else(|| {
            Err(Error::group(
                &request.group_id,
                GroupErrorKind::UnknownMemberId,
            ))
        })
    }

    /// Heartbeat: the member is alive; its session starts again.
    ///
    /// # Errors
    /// [`Error::Group`] with
    /// [`RebalanceInProgress`](GroupErrorKind::RebalanceInProgress) while
    /// the group rebalances (rejoin),
    /// [`IllegalGeneration`](GroupErrorKind::IllegalGeneration) for another
    /// generation, [`UnknownMemberId`](GroupErrorKind::UnknownMemberId) for
    /// a member (or group) the coordinator does not know,
    /// [`FencedInstanceId`](GroupErrorKind::FencedInstanceId),
    /// [`InvalidGroupId`](GroupErrorKind::InvalidGroupId);
    /// [`Error::Closed`] once shut down.
    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
        group_instance_id: Option<&str>,
    ) -> Result<()> {
        self.check_open()?;
        check_group_id(group_id)?;
        self.with_live_group(group_id, false, |cell, mut group| {
            let answer = group.heartbeat(
                member_id,
                generation_id,
                group_instance_id,
                self.clock.now_ms(),
            );
            self.finish(cell, group);
            answer
        })
        .unwrap_or_else(|| Err(Error::group(group_id, GroupErrorKind::UnknownMemberId)))
    }

    /// LeaveGroup: the members leave the group, which rebalances without
    /// them (or becomes Empty, and is stored so). A member is named by its
    /// member id, or a static member by its group instance id with an
    /// empty member id. Returns one answer per member, in order: `Ok`, or
    /// [`Error::Group`] with
    /// [`UnknownMemberId`](GroupErrorKind::UnknownMemberId) or
    /// [`FencedInstanceId`](GroupErrorKind::FencedInstanceId).
    ///
    /// # Errors
    /// [`Error::Group`] with
    /// [`UnknownMemberId`](GroupErrorKind::UnknownMemberId) for an unknown
    /// group, [`InvalidGroupId`](GroupErrorKind::InvalidGroupId);
    /// [`Error::Closed`] once shut down; the error of
    /// [`GroupStorage::store_group`] if storing the group that became
    /// empty failed (the members have left all the same).
    pub fn leave_group(
        &self,
        group_id: &str,
        members: &[MemberIdentity],
    ) -> Result<Vec<Result<()>>> {
        self.check_open()?;
        check_group_id(group_id)?;
        self.with_live_group(group_id, false, |cell, mut group| {
            let answers = group.leave(members, self.clock.now_ms());
            match self.finish(cell, group) {
                Some(error) => Err(error),
                None => Ok(answers),
            }
        })
        .unwrap_or_else(|| Err(Error::group(group_id, GroupErrorKind::UnknownMemberId)))
    }

    /// Kafka's checks of an offset commit to a group that uses the classic
    /// protocol (or to no group). A commit with generation -1, an empty
    /// member id and no instance id is a simple consumer's or an
    /// administrator's: allowed when the group is Empty or does not exist.
    /// Any other commit must come from a current member in the current
    /// generation, and not while the group waits for its leader's
    /// assignment. Whether the member owns the partitions is the caller's
    /// check ([`member_assignment`](Self::member_assignment)).
    ///
    /// # Errors
    /// [`Error::Group`] with
    /// [`UnknownMemberId`](GroupErrorKind::UnknownMemberId) (also for a
    /// simple commit to a group with members),
    /// [`IllegalGeneration`](GroupErrorKind::IllegalGeneration),
    /// [`RebalanceInProgress`](GroupErrorKind::RebalanceInProgress) while
    /// the group is CompletingRebalance,
    /// [`FencedInstanceId`](GroupErrorKind::FencedInstanceId),
    /// [`GroupIdNotFound`](GroupErrorKind::GroupIdNotFound) for a
    /// generation of a group that does not exist,
    /// [`InvalidGroupId`](GroupErrorKind::InvalidGroupId);
    /// [`Error::Closed`] once shut down.
    pub fn validate_offset_commit(
        &self,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
        group_instance_id: Option<&str>,
    ) -> Result<()> {
        self.check_open()?;
        check_group_id(group_id)?;
        self.with_live_group(group_id, false, |cell, group| {
            let answer = group.validate_offset_commit(member_id, generation_id, group_instance_id);
            self.finish(cell, group);
            answer
        })
        .unwrap_or_else(|| {
            if generation_id < 0 {
                Ok(())
            } else {
                Err(Error::group(group_id, GroupErrorKind::GroupIdNotFound))
            }
        })
    }

    /// The assignment the member got in the group's current generation,
    /// as the leader encoded it; `None` if the group or the member is
    /// unknown. Empty while the group is CompletingRebalance.
    pub fn member_assignment(&self, group_id: &str, member_id: &str) -> Option<Vec<u8>> {
        self.read_group(group_id, |group| {
            group.members.get(member_id).map(|m| m.assignment.clone())
        })
        .flatten()
    }

    /// Every group, by id.
    pub fn list_groups(&self) -> Vec<GroupListing> {
        let mut listings: Vec<GroupListing> = self
            .cells()
            .into_iter()
            .filter_map(|(id, _)| self.read_group(&id, Group::listing))
            .collect();
        listings.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        listings
    }

    /// The group's state, protocol, generation, leader and members;
    /// `None` for a group the coordinator does not have.
    pub fn describe_group(&self, group_id: &str) -> Option<GroupDescription> {
        self.read_group(group_id, Group::describe)
    }

    /// The group's state; `None` for a group the coordinator does not
    /// have.
    pub fn group_state(&self, group_id: &str) -> Option<GroupState> {
        self.read_group(group_id, |group| group.state)
    }

    /// The group's state, since when it is in it, and what else decides
    /// when its committed offsets expire; `None` for a group the
    /// coordinator does not have.
    pub fn group_status(&self, group_id: &str) -> Option<GroupStatus> {
        self.read_group(group_id, Group::status)
    }

    /// DeleteGroups: deletes an Empty group, and its stored metadata
    /// ([`GroupStorage::delete_group`]). Its committed offsets are the
    /// caller's to delete.
    ///
    /// # Errors
    /// [`Error::Group`] with [`NonEmptyGroup`](GroupErrorKind::NonEmptyGroup)
    /// while the group has members,
    /// [`GroupIdNotFound`](GroupErrorKind::GroupIdNotFound) for a group the
    /// coordinator does not have,
    /// [`InvalidGroupId`](GroupErrorKind::InvalidGroupId);
    /// [`Error::Closed`] once shut down; the error of
    /// [`GroupStorage::delete_group`] (the group is gone from the
    /// coordinator all the same, and comes back Empty at the next load).
    pub fn delete_group(&self, group_id: &str) -> Result<()> {
        self.check_open()?;
        check_group_id(group_id)?;
        let not_found = || Error::group(group_id, GroupErrorKind::GroupIdNotFound);
        // Let due timers run (the last member may just have expired).
        self.with_live_group(group_id, false, |cell, group| {
            self.finish(cell, group);
        })
        .ok_or_else(not_found)?;
        let reservation = {
            let mut groups = lock(&self.groups);
            let cell = groups.get(group_id).cloned().ok_or_else(not_found)?;
            let mut group = lock(&cell.group);
            match group.state {
                GroupState::Empty => {}
                GroupState::Dead => return Err(not_found()),
                _ => return Err(Error::group(group_id, GroupErrorKind::NonEmptyGroup)),
            }
            // The tombstone replaces any snapshot still to be written.
            group.writes.clear();
            group.transition(GroupState::Dead, self.clock.now_ms());
            groups.remove(group_id);
            cell.changed.notify_all();
            self.gate.reserve(group_id)
        };
        self.gate
            .write(reservation, |group| self.storage.delete_group(group))
    }

    /// Brings back a group from its stored metadata, replacing any group
    /// of that id, when the store opens: with members it is Stable, and
    /// each member has a full session timeout from now to heartbeat or
    /// rejoin; without members it is Empty. Give each group's latest
    /// record only (a group whose latest record is a tombstone is not
    /// loaded). Requests blocked on a replaced group fail with
    /// [`UnknownMemberId`](GroupErrorKind::UnknownMemberId).
    ///
    /// # Errors
    /// [`Error::Group`] with [`InvalidGroupId`](GroupErrorKind::InvalidGroupId)
    /// for an empty group id; [`Error::Closed`] once shut down.
    pub fn load_group(&self, group_id: &str, value: &GroupMetadataValue) -> Result<()> {
        self.check_open()?;
        check_group_id(group_id)?;
        let now = self.clock.now_ms();
        let cell = GroupCell::new(Group::from_stored(group_id, self.config, value, now));
        let replaced = {
            let mut groups = lock(&self.groups);
            let replaced = groups.insert(group_id.to_string(), cell);
            if let Some(old) = &replaced {
                lock(&old.group).transition(GroupState::Dead, now);
            }
            replaced
        };
        if let Some(old) = replaced {
            old.changed.notify_all();
        }
        Ok(())
    }

    /// Runs the due timers of every group: members whose sessions ended are
    /// removed (and their groups rebalance or become Empty), and join and
    /// sync phases past their timeouts complete. Call it periodically (a
    /// store's maintenance does), so that groups nobody sends requests to
    /// lose their dead members too.
    ///
    /// # Errors
    /// The first error of [`GroupStorage::store_group`] in storing a group
    /// that became empty (the others are still run);
    /// [`Error::Closed`] once shut down.
    pub fn expire_members(&self) -> Result<()> {
        self.check_open()?;
        let mut first_error = None;
        for (id, _) in self.cells() {
            let error = self
                .with_live_group(&id, false, |cell, group| self.finish(cell, group))
                .flatten();
            if first_error.is_none() {
                first_error = error;
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Sets a function called whenever a group begins a rebalance (once
    /// per rebalance, with the group's lock held: it must not call the
    /// coordinator). Members learn of a rebalance from their next
    /// heartbeat; this lets a host wake its members at once instead, as
    /// the store wakes its waiting consumers. Only the first call sets it.
    pub fn set_rebalance_listener(&self, listener: impl Fn() + Send + Sync + 'static) {
        let _ = self.rebalance_listener.set(Box::new(listener));
    }

    /// Shuts the coordinator down: every blocked JoinGroup and SyncGroup
    /// returns [`Error::Closed`], and so does every later request. Reads
    /// (list, describe, state) still answer, without running timers.
    pub fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        for (_, cell) in self.cells() {
            // Taking the lock orders the wake-up after a waiter's check.
            drop(lock(&cell.group));
            cell.changed.notify_all();
        }
    }
}

//! The leader's view of its followers: their fetch positions, when each was
//! last caught up, the ISR and the high watermark, as Kafka's
//! `Partition` and `Replica` keep them on the leader.
//!
//! Everything here is a pure decision over plain values: no I/O, no locks and
//! no clock. Time comes in as `now_ms`, offsets as the leader's log end offset
//! and log start offset at the moment of the call. The host applies the
//! decisions (sends the ISR change, records the new high watermark).
//!
//! Times are `Option<i64>`: `None` means "never", where Kafka stores 0 and
//! relies on wall-clock milliseconds never being within the lag of 0. With
//! `None` that holds for any clock origin the host picks.

use std::collections::BTreeMap;
use std::fmt;

use super::ReplicaId;

/// What the leader knows about one follower, as Kafka's `ReplicaState`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FollowerState {
    log_end_offset: Option<u64>,
    log_start_offset: Option<u64>,
    last_caught_up_ms: Option<i64>,
    last_fetch_leader_leo: u64,
    last_fetch_ms: Option<i64>,
}

impl FollowerState {
    /// The state of a follower the leader has heard nothing about (Kafka's
    /// `ReplicaState.Empty`): unknown offsets, never fetched, never caught up.
    fn empty() -> Self {
        FollowerState {
            log_end_offset: None,
            log_start_offset: None,
            last_caught_up_ms: None,
            last_fetch_leader_leo: 0,
            last_fetch_ms: None,
        }
    }

    /// The state of a follower when this replica becomes leader (Kafka's
    /// `resetReplicaState` with `isNewLeader`): offsets unknown, never
    /// fetched; caught up at `now_ms` if it is in the ISR, never otherwise,
    /// so a follower outside the ISR does not hold the high watermark back.
    fn at_election(in_sync: bool, now_ms: i64) -> Self {
        FollowerState {
            last_caught_up_ms: in_sync.then_some(now_ms),
            ..FollowerState::empty()
        }
    }

    /// The follower's log end offset (its last fetch offset); `None` until
    /// its first fetch to this leader.
    pub(crate) fn log_end_offset(&self) -> Option<u64> {
        self.log_end_offset
    }

    /// The follower's log start offset as of its last fetch; `None` until its
    /// first fetch to this leader.
    pub(crate) fn log_start_offset(&self) -> Option<u64> {
        self.log_start_offset
    }

    /// The latest time at which the follower had fetched up to the leader's
    /// log end offset of that time; `None` if never.
    pub(crate) fn last_caught_up_ms(&self) -> Option<i64> {
        self.last_caught_up_ms
    }

    /// The largest leader log end offset seen at any of the follower's
    /// fetches (Kafka's `lastFetchLeaderLogEndOffset`).
    pub(crate) fn last_fetch_leader_leo(&self) -> u64 {
        self.last_fetch_leader_leo
    }

    /// The time of the follower's last fetch; `None` if it has not fetched
    /// from this leader.
    pub(crate) fn last_fetch_ms(&self) -> Option<i64> {
        self.last_fetch_ms
    }

    /// Kafka's `ReplicaState.isCaughtUp`: the follower's log end offset equals
    /// the leader's, or it was caught up no more than `lag_ms` ago.
    fn is_caught_up(&self, leader_leo: u64, now_ms: i64, lag_ms: u64) -> bool {
        self.log_end_offset == Some(leader_leo)
            || self
                .last_caught_up_ms
                .is_some_and(|t| i128::from(now_ms) - i128::from(t) <= i128::from(lag_ms))
    }
}

/// A fetch state update named a replica that is not a follower of this
/// partition (not in its replicas, or the leader itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnknownReplica(pub(crate) ReplicaId);

impl fmt::Display for UnknownReplica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "replica {} is not a follower of this partition", self.0)
    }
}

impl std::error::Error for UnknownReplica {}

/// The leader's replication state for one partition: assignment, ISR,
/// followers' fetch states and the high watermark.
///
/// The local replica is always in `replicas` and in the ISR: the constructor
/// and the setters add it when the host leaves it out, since a leader is in
/// sync with itself by definition and Kafka's controller never elects a
/// leader outside the ISR. ISR members that are not in `replicas` are kept as
/// given (they count for the minimum ISR size, as in Kafka) and are reported
/// out of sync, so the next shrink removes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaderState {
    local: ReplicaId,
    epoch: i32,
    epoch_start_offset: u64,
    replicas: Vec<ReplicaId>,
    isr: Vec<ReplicaId>,
    followers: BTreeMap<ReplicaId, FollowerState>,
    high_watermark: u64,
    /// Followers whose addition to the ISR is being proposed: until the
    /// host answers they hold the high watermark back as members do
    /// (Kafka's maximal ISR), so none joins lacking a record below it.
    joining: Vec<ReplicaId>,
}

/// `ids` without duplicates, in first-seen order, with `local` added (first)
/// if it is missing.
fn with_local(local: ReplicaId, ids: &[ReplicaId]) -> Vec<ReplicaId> {
    let mut out = Vec::with_capacity(ids.len() + 1);
    if !ids.contains(&local) {
        out.push(local);
    }
    for &id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

impl LeaderState {
    /// Kafka's `makeLeader` for a replica that was not leader: epoch `epoch`
    /// starts at `epoch_start_offset` (the local log end offset when
    /// leadership began). Followers in `isr` start caught up at `now_ms`,
    /// the others never caught up; no follower's offsets are known yet.
    /// `high_watermark` is the starting high watermark, which the caller has
    /// clamped into `[log start, log end]`.
    pub(crate) fn new(
        local: ReplicaId,
        epoch: i32,
        epoch_start_offset: u64,
        replicas: &[ReplicaId],
        isr: &[ReplicaId],
        high_watermark: u64,
        now_ms: i64,
    ) -> Self {
        let replicas = with_local(local, replicas);
        let isr = with_local(local, isr);
        let followers = replicas
            .iter()
            .filter(|&&id| id != local)
            .map(|&id| (id, FollowerState::at_election(isr.contains(&id), now_ms)))
            .collect();
        LeaderState {
            local,
            epoch,
            epoch_start_offset,
            replicas,
            isr,
            followers,
            high_watermark,
            joining: Vec::new(),
        }
    }

    /// Kafka's `makeLeader` for a replica that is already leader. The
    /// assignment and ISR are replaced as by [`Self::set_assignment`]. If
    /// `epoch` is newer than the current one, the epoch starts at
    /// `epoch_start_offset` and every follower is reset as Kafka does on
    /// re-election: its known offsets stay, its last fetch is taken to have
    /// seen `epoch_start_offset`, and it is caught up (and last fetched) at
    /// `now_ms` if it is in the ISR, never otherwise. An epoch that is not
    /// newer leaves the epoch and the followers' times alone.
    pub(crate) fn make_leader(
        &mut self,
        epoch: i32,
        epoch_start_offset: u64,
        replicas: &[ReplicaId],
        isr: &[ReplicaId],
        now_ms: i64,
    ) {
        self.set_assignment(replicas, isr);
        if epoch <= self.epoch {
            return;
        }
        self.epoch = epoch;
        self.epoch_start_offset = epoch_start_offset;
        for (id, state) in self.followers.iter_mut() {
            let in_sync = self.isr.contains(id).then_some(now_ms);
            state.last_fetch_leader_leo = epoch_start_offset;
            state.last_fetch_ms = in_sync;
            state.last_caught_up_ms = in_sync;
        }
    }

    /// Replaces the assignment and the ISR without a leadership change
    /// (Kafka's `updateAssignmentAndIsr`): new followers start with no known
    /// offsets and never caught up, removed ones are forgotten, the others
    /// keep their state.
    pub(crate) fn set_assignment(&mut self, replicas: &[ReplicaId], isr: &[ReplicaId]) {
        self.replicas = with_local(self.local, replicas);
        let local = self.local;
        let assigned = &self.replicas;
        self.followers.retain(|id, _| assigned.contains(id));
        for &id in assigned.iter().filter(|&&id| id != local) {
            self.followers
                .entry(id)
                .or_insert_with(FollowerState::empty);
        }
        self.set_isr(isr);
    }

    /// Replaces the ISR, after the host had a change accepted (an expansion or
    /// a shrink). Followers' states are unchanged.
    pub(crate) fn set_isr(&mut self, isr: &[ReplicaId]) {
        self.isr = with_local(self.local, isr);
    }

    /// Kafka's `updateFetchState`: records a fetch from `replica` at
    /// `fetch_offset` (its log end offset) with its `log_start_offset`, the
    /// leader's log end offset being `leader_leo` when the fetch arrived.
    ///
    /// The follower's last caught-up time becomes `now_ms` if it fetched from
    /// at least `leader_leo`; else the time of its previous fetch if it fetched
    /// from at least the leader log end offset of that previous fetch; else
    /// it stays. It never moves back.
    ///
    /// Returns whether the follower's log end offset changed (only then may
    /// the high watermark move), or [`UnknownReplica`] if `replica` is not a
    /// follower of this partition.
    pub(crate) fn record_fetch(
        &mut self,
        replica: ReplicaId,
        fetch_offset: u64,
        log_start_offset: u64,
        leader_leo: u64,
        now_ms: i64,
    ) -> Result<bool, UnknownReplica> {
        let state = self
            .followers
            .get_mut(&replica)
            .ok_or(UnknownReplica(replica))?;
        let caught_up_at = if fetch_offset >= leader_leo {
            Some(now_ms)
        } else if fetch_offset >= state.last_fetch_leader_leo {
            state.last_fetch_ms
        } else {
            None
        };
        let changed = state.log_end_offset != Some(fetch_offset);
        state.last_caught_up_ms = state.last_caught_up_ms.max(caught_up_at);
        state.log_end_offset = Some(fetch_offset);
        state.log_start_offset = Some(log_start_offset);
        state.last_fetch_leader_leo = state.last_fetch_leader_leo.max(leader_leo);
        state.last_fetch_ms = Some(now_ms);
        Ok(changed)
    }

    /// Whether `replica` is caught up: its log end offset equals `leader_leo`,
    /// or it was caught up at most `lag_ms` before `now_ms` (Kafka's
    /// `replica.lag.time.max.ms`). The leader itself always is; a replica
    /// that is not a follower never is.
    pub(crate) fn is_caught_up(
        &self,
        replica: ReplicaId,
        leader_leo: u64,
        now_ms: i64,
        lag_ms: u64,
    ) -> bool {
        replica == self.local
            || self
                .followers
                .get(&replica)
                .is_some_and(|s| s.is_caught_up(leader_leo, now_ms, lag_ms))
    }

    /// Kafka's `getOutOfSyncReplicas`: the ISR members other than the leader
    /// that are not caught up (stuck: no fetch within the lag; slow: not at
    /// the leader's log end offset within the lag), in ISR order. These are
    /// the candidates to shrink the ISR by.
    pub(crate) fn out_of_sync_replicas(
        &self,
        leader_leo: u64,
        now_ms: i64,
        lag_ms: u64,
    ) -> Vec<ReplicaId> {
        self.isr
            .iter()
            .copied()
            .filter(|&id| id != self.local && !self.is_caught_up(id, leader_leo, now_ms, lag_ms))
            .collect()
    }

    /// Kafka's `maybeExpandIsr` check: the ISR to propose with `replica`
    /// added, if it is a follower outside the ISR whose known log end offset
    /// is at least the high watermark and at least the offset the current
    /// epoch started at (so it holds everything the previous leaders may have
    /// committed). `None` if it may not join.
    pub(crate) fn expanded_isr(&self, replica: ReplicaId) -> Option<Vec<ReplicaId>> {
        if self.isr.contains(&replica) {
            return None;
        }
        let leo = self.followers.get(&replica)?.log_end_offset?;
        if leo < self.high_watermark || leo < self.epoch_start_offset {
            return None;
        }
        let mut isr = self.isr.clone();
        isr.push(replica);
        Some(isr)
    }

    /// Marks `replica` as joining the ISR (its addition is proposed): it
    /// counts as a member for the high watermark until as many
    /// [`end_joining`](Self::end_joining) calls (proposals made at once
    /// each hold it).
    pub(crate) fn begin_joining(&mut self, replica: ReplicaId) {
        self.joining.push(replica);
    }

    /// One proposal to add `replica` was answered.
    pub(crate) fn end_joining(&mut self, replica: ReplicaId) {
        if let Some(i) = self.joining.iter().position(|&r| r == replica) {
            self.joining.swap_remove(i);
        }
    }

    /// The ISR without the replicas in `out`; the leader is never removed.
    pub(crate) fn shrunk_isr(&self, out: &[ReplicaId]) -> Vec<ReplicaId> {
        self.isr
            .iter()
            .copied()
            .filter(|id| *id == self.local || !out.contains(id))
            .collect()
    }

    /// Kafka's `maybeIncrementLeaderHW`. The candidate is the smallest of
    /// `leader_leo` and the log end offsets of every follower that is in the
    /// ISR or caught up (a caught-up follower outside the ISR is waited for, so
    /// it can reach the high watermark and join). A follower counted this
    /// way whose log end offset is unknown (no fetch since this replica became
    /// leader) blocks any move, as Kafka's unknown offset -1 does.
    ///
    /// Nothing moves while the ISR is smaller than
    /// `min(min_insync, replicas)`. The candidate is clamped into
    /// `[log_start, leader_leo]` and taken only if it is above the current
    /// high watermark. Returns the new high watermark if it moved.
    pub(crate) fn maybe_increment_high_watermark(
        &mut self,
        leader_leo: u64,
        log_start: u64,
        now_ms: i64,
        lag_ms: u64,
        min_insync: usize,
    ) -> Option<u64> {
        if self.assigned_isr_len() < min_insync.min(self.replicas.len()) {
            return None;
        }
        let mut candidate = leader_leo;
        for (id, state) in &self.followers {
            let member = self.isr.contains(id) || self.joining.contains(id);
            if member || state.is_caught_up(leader_leo, now_ms, lag_ms) {
                candidate = candidate.min(state.log_end_offset?);
            }
        }
        let candidate = candidate.max(log_start).min(leader_leo);
        (candidate > self.high_watermark).then(|| {
            self.high_watermark = candidate;
            candidate
        })
    }

    /// How many ISR members are assigned replicas: only those count towards
    /// `min.insync.replicas` (one the host listed but did not assign has
    /// no follower state here, and would hold no record back).
    pub(crate) fn assigned_isr_len(&self) -> usize {
        self.isr
            .iter()
            .filter(|r| self.replicas.contains(r))
            .count()
    }

    /// Keeps the high watermark at or above a raised log start offset (Kafka's
    /// `updateLogStartOffset`). Returns the new high watermark if it moved.
    pub(crate) fn raise_high_watermark_to_log_start(&mut self, log_start: u64) -> Option<u64> {
        (log_start > self.high_watermark).then(|| {
            self.high_watermark = log_start;
            log_start
        })
    }

    /// The high watermark.
    pub(crate) fn high_watermark(&self) -> u64 {
        self.high_watermark
    }

    /// The in-sync replicas, the leader included.
    pub(crate) fn isr(&self) -> &[ReplicaId] {
        &self.isr
    }

    /// The assigned replicas, the leader included.
    pub(crate) fn replicas(&self) -> &[ReplicaId] {
        &self.replicas
    }

    /// The local replica's id: the leader.
    pub(crate) fn local(&self) -> ReplicaId {
        self.local
    }

    /// The current leader epoch.
    pub(crate) fn epoch(&self) -> i32 {
        self.epoch
    }

    /// The offset at which the current leader epoch started.
    pub(crate) fn epoch_start_offset(&self) -> u64 {
        self.epoch_start_offset
    }

    /// The state of follower `id`; `None` if it is not a follower.
    pub(crate) fn follower(&self, id: ReplicaId) -> Option<&FollowerState> {
        self.followers.get(&id)
    }
}

#[cfg(test)]
#[path = "leader_state_tests.rs"]
mod tests;

//! [`ReplicatedPartition`]: one replica of a partition, led or following
//! as the host's controller says.

use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::fetch::{FetchError, FetchRequest, FetchResponse, LeaderFetch};
use super::leader_state::LeaderState;
use super::truncation::{
    check_last_fetched_epoch, out_of_range_action, truncation_for_diverging_epoch, FetchEpochCheck,
    OutOfRangeAction,
};
use super::{Acks, IsrChange, IsrListener, ReplicaId, ReplicationConfig, Role};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::log::{AppendInfo, FetchData, PartitionLog};
use crate::record::AsRecord;
use crate::segment::{lock, read_lock, write_lock};

/// One replica of a partition over its [`PartitionLog`]: the leader, a
/// follower, or neither until the host says.
///
/// The host plays Kafka's controller: it decides who leads, at which
/// epoch, with which replicas, and tells each replica
/// ([`become_leader`](Self::become_leader),
/// [`become_follower`](Self::become_follower)). It also carries the
/// followers' fetches to the leader and the answers back
/// ([`fetch_for_follower`](Self::fetch_for_follower) or
/// [`serve_fetch`](Self::serve_fetch) on the leader,
/// [`append_as_follower`](Self::append_as_follower) on the follower; the
/// [`Follower`](super::Follower) driver runs that loop over a
/// [`LeaderLink`](super::LeaderLink)). seglog keeps Kafka's rules: the
/// leader-epoch cache, the high watermark over the in-sync replicas, ISR
/// changes proposed to the host, `acks`, and a follower's truncation where
/// its log and the leader's diverge.
///
/// A cheap, cloneable handle (`Send + Sync`).
///
/// # Examples
///
/// ```
/// use seglog::replication::{Acks, ReplicatedPartition, ReplicationConfig};
/// use seglog::{LogConfig, PartitionLog, Record};
///
/// let dir = tempfile::tempdir()?;
/// let open = |name: &str| PartitionLog::open(dir.path().join(name), LogConfig::default());
/// let leader = ReplicatedPartition::new(open("a/t-0")?, 1, ReplicationConfig::default())?;
/// let follower = ReplicatedPartition::new(open("b/t-0")?, 2, ReplicationConfig::default())?;
/// leader.become_leader(1, &[1, 2], &[1, 2])?;
/// follower.become_follower(1, 1)?;
///
/// let pending = leader.append(&[Record::new("a")], Acks::All)?;
/// assert_eq!(leader.high_watermark(), 0); // the follower has not fetched it
///
/// // One fetch round: the host carries the request and the response.
/// let response = leader.serve_fetch(&follower.fetch_request(1 << 20))?;
/// follower.append_as_follower(&response)?;
/// // The next fetch tells the leader the follower has offset 0.
/// let response = leader.serve_fetch(&follower.fetch_request(1 << 20))?;
/// follower.append_as_follower(&response)?;
///
/// assert_eq!(leader.high_watermark(), 1);
/// assert_eq!(follower.high_watermark(), 1);
/// pending.wait(std::time::Duration::from_secs(1))?; // acknowledged
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ReplicatedPartition {
    shared: Arc<Shared>,
}

struct Shared {
    log: PartitionLog,
    local: ReplicaId,
    config: ReplicationConfig,
    clock: Arc<dyn Clock>,
    /// Held for reading across an append's check and write, and for
    /// writing by role changes: a deposed leader never appends.
    role_lock: RwLock<()>,
    state: Mutex<State>,
    /// Signalled when the high watermark, the ISR or the role changes.
    changed: Condvar,
    listener: Option<Arc<dyn IsrListener>>,
}

struct State {
    /// The current leader epoch; -1 before any.
    epoch: i32,
    role: RoleState,
    /// Bumped by every role change: an `acks=all` wait from an earlier
    /// one ends.
    generation: u64,
}

enum RoleState {
    Unassigned,
    Leader(LeaderState),
    Follower { leader: ReplicaId },
}

impl std::fmt::Debug for ReplicatedPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicatedPartition")
            .field("local", &self.shared.local)
            .field("role", &self.role())
            .field("leader_epoch", &self.leader_epoch())
            .field("high_watermark", &self.high_watermark())
            .finish()
    }
}

impl ReplicatedPartition {
    /// Makes `log` a replica with id `local`. Its high watermark is the
    /// one last checkpointed for it (clamped into the log), or its log
    /// start offset. It has no role until the host gives it one.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an invalid `config`; [`Error::Closed`];
    /// [`Error::Io`] or [`Error::Corrupt`] reading the checkpoint.
    pub fn new(log: PartitionLog, local: ReplicaId, config: ReplicationConfig) -> Result<Self> {
        Self::with_listener(log, local, config, None)
    }

    /// [`new`](Self::new), with `listener` told of every ISR change the
    /// leader wants (Kafka's AlterPartition); a change is made only if it
    /// accepts. Without one, the leader changes its ISR on its own.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_listener(
        log: PartitionLog,
        local: ReplicaId,
        config: ReplicationConfig,
        listener: Option<Arc<dyn IsrListener>>,
    ) -> Result<Self> {
        config.validate()?;
        if log.is_closed() {
            return Err(Error::Closed);
        }
        let high_watermark = log
            .read_high_watermark_checkpoint()?
            .unwrap_or_else(|| log.log_start_offset());
        log.attach_replication(high_watermark);
        let epoch = log.leader_epoch_cache().latest_epoch().unwrap_or(-1);
        Ok(ReplicatedPartition {
            shared: Arc::new(Shared {
                clock: log.clock(),
                log,
                local,
                config,
                role_lock: RwLock::new(()),
                state: Mutex::new(State {
                    epoch,
                    role: RoleState::Unassigned,
                    generation: 0,
                }),
                changed: Condvar::new(),
                listener,
            }),
        })
    }

    /// The log underneath.
    pub fn log(&self) -> &PartitionLog {
        &self.shared.log
    }

    /// This replica's id.
    pub fn local_replica(&self) -> ReplicaId {
        self.shared.local
    }

    /// The current leader epoch (-1 before any role was given or learned).
    pub fn leader_epoch(&self) -> i32 {
        lock(&self.shared.state).epoch
    }

    /// The current role.
    pub fn role(&self) -> Role {
        match &lock(&self.shared.state).role {
            RoleState::Unassigned => Role::Unassigned,
            RoleState::Leader(_) => Role::Leader,
            RoleState::Follower { leader } => Role::Follower { leader: *leader },
        }
    }

    /// The in-sync replicas, as this replica leads them; empty when it
    /// does not lead.
    pub fn isr(&self) -> Vec<ReplicaId> {
        match &lock(&self.shared.state).role {
            RoleState::Leader(ls) => ls.isr().to_vec(),
            _ => Vec::new(),
        }
    }

    /// The high watermark: consumers read below it, and it never passes
    /// a record some in-sync replica lacks.
    pub fn high_watermark(&self) -> u64 {
        self.shared.log.high_watermark()
    }

    /// Makes this replica the leader at `epoch` of `replicas` with
    /// in-sync set `isr` (Kafka's `makeLeader`; this replica is added to
    /// both if missing). A new epoch is recorded in the leader-epoch cache
    /// at the log end offset and stamped on every batch appended from now
    /// on. Called again at the same epoch while leading, it only updates
    /// the replicas and the ISR.
    ///
    /// # Errors
    /// [`Error::Fenced`] for an epoch below the current one, or equal to
    /// it when this replica does not lead in it;
    /// [`Error::InvalidLeaderEpoch`] for a negative epoch; [`Error::Io`]
    /// writing the checkpoint.
    pub fn become_leader(
        &self,
        epoch: i32,
        replicas: &[ReplicaId],
        isr: &[ReplicaId],
    ) -> Result<()> {
        if epoch < 0 {
            return Err(Error::InvalidLeaderEpoch { epoch });
        }
        let s = &*self.shared;
        let _role = write_lock(&s.role_lock);
        let mut st = lock(&s.state);
        let now = s.clock.now_ms();
        let leading_now = matches!(&st.role, RoleState::Leader(ls) if ls.epoch() == epoch);
        if leading_now {
            if let RoleState::Leader(ls) = &mut st.role {
                ls.set_assignment(replicas, isr);
            }
        } else {
            if epoch <= st.epoch {
                return Err(Error::Fenced {
                    epoch,
                    current: st.epoch,
                });
            }
            s.log.begin_leader_epoch(epoch)?;
            let leo = s.log.log_end_offset();
            match &mut st.role {
                RoleState::Leader(ls) => ls.make_leader(epoch, leo, replicas, isr, now),
                role => {
                    let hw = s.log.high_watermark();
                    *role = RoleState::Leader(LeaderState::new(
                        s.local, epoch, leo, replicas, isr, hw, now,
                    ));
                }
            }
            st.epoch = epoch;
            st.generation += 1;
        }
        self.advance_high_watermark(&mut st, now);
        drop(st);
        s.changed.notify_all();
        Ok(())
    }

    /// Makes this replica a follower of `leader` at `epoch` (Kafka's
    /// `makeFollower`). A replica whose leader-epoch cache is empty
    /// truncates its log to its high watermark first, as Kafka's fetcher
    /// does: without an epoch it cannot ask where its log diverges.
    ///
    /// # Errors
    /// [`Error::Fenced`] for an epoch below the current one, or equal to
    /// it unless this replica already follows `leader` in it (or has no
    /// role yet); [`Error::InvalidLeaderEpoch`] for a negative epoch;
    /// [`Error::Io`].
    pub fn become_follower(&self, epoch: i32, leader: ReplicaId) -> Result<()> {
        if epoch < 0 {
            return Err(Error::InvalidLeaderEpoch { epoch });
        }
        let s = &*self.shared;
        let _role = write_lock(&s.role_lock);
        let mut st = lock(&s.state);
        let same = match &st.role {
            RoleState::Follower { leader: l } => *l == leader,
            RoleState::Unassigned => true,
            RoleState::Leader(_) => false,
        };
        if epoch < st.epoch || (epoch == st.epoch && !same) {
            return Err(Error::Fenced {
                epoch,
                current: st.epoch,
            });
        }
        if s.log.leader_epoch_cache().is_empty() {
            let hw = s.log.high_watermark();
            if hw < s.log.log_end_offset() {
                s.log.truncate_to(hw)?;
            }
        }
        st.role = RoleState::Follower { leader };
        st.epoch = epoch;
        st.generation += 1;
        drop(st);
        s.changed.notify_all();
        Ok(())
    }

    /// Appends `records` as the leader (offsets from the log end, this
    /// epoch stamped), with `acks` as a Kafka producer asks: the returned
    /// [`PendingAppend`] completes at once for [`Acks::None`] and
    /// [`Acks::Leader`], and for [`Acks::All`] when the high watermark
    /// passes the records.
    ///
    /// # Errors
    /// [`Error::NotLeader`]; for [`Acks::All`], [`Error::NotEnoughReplicas`]
    /// when the ISR is smaller than `min.insync.replicas` (nothing is
    /// written); and as [`PartitionLog::append`].
    pub fn append<R: AsRecord>(&self, records: &[R], acks: Acks) -> Result<PendingAppend> {
        self.append_as_leader(acks, |log| log.append(records))
    }

    /// [`append`](Self::append) for batches encoded by a producer (as
    /// [`PartitionLog::append_encoded`]).
    ///
    /// # Errors
    /// As [`append`](Self::append) and [`PartitionLog::append_encoded`].
    pub fn append_encoded(&self, batches: &[u8], acks: Acks) -> Result<PendingAppend> {
        self.append_as_leader(acks, |log| log.append_encoded(batches))
    }

    fn append_as_leader(
        &self,
        acks: Acks,
        write: impl FnOnce(&PartitionLog) -> Result<AppendInfo>,
    ) -> Result<PendingAppend> {
        let s = &*self.shared;
        let _role = read_lock(&s.role_lock);
        let generation = {
            let st = lock(&s.state);
            let RoleState::Leader(ls) = &st.role else {
                return Err(self.not_leader(&st));
            };
            if acks == Acks::All {
                let min_insync = self.effective_min_isr(ls);
                if ls.isr().len() < min_insync {
                    return Err(Error::NotEnoughReplicas {
                        isr: ls.isr().len(),
                        min_insync,
                    });
                }
            }
            st.generation
        };
        let info = write(&s.log)?;
        let mut st = lock(&s.state);
        if self.advance_high_watermark(&mut st, s.clock.now_ms()) {
            drop(st);
            s.changed.notify_all();
        }
        Ok(PendingAppend {
            partition: self.clone(),
            info,
            acks,
            generation,
        })
    }

    /// Answers a follower's fetch as the leader (Kafka's
    /// `Partition.fetchRecords` for a replica): checks the request's
    /// leader epoch and its last fetched epoch against the leader-epoch
    /// cache (answering a diverging epoch, and no records, when they
    /// disagree), reads from the fetch offset, records the follower's log
    /// end offset and caught-up time, proposes adding it to the ISR when
    /// it caught up, and moves the high watermark.
    ///
    /// # Errors
    /// [`Error::NotLeader`]; [`Error::Fenced`] or
    /// [`Error::UnknownLeaderEpoch`] for a request at another epoch;
    /// [`Error::UnknownReplica`]; [`Error::OffsetOutOfRange`] for a fetch
    /// offset outside the log, or a last fetched epoch the cache cannot
    /// place (the error's offsets are the leader's log start and end);
    /// [`Error::Io`], [`Error::Corrupt`].
    pub fn fetch_for_follower(&self, request: &FetchRequest) -> Result<LeaderFetch> {
        let s = &*self.shared;
        let now = s.clock.now_ms();
        let mut st = lock(&s.state);
        let epoch = st.epoch;
        let not_leader = self.not_leader(&st);
        let RoleState::Leader(ls) = &mut st.role else {
            return Err(not_leader);
        };
        match request.current_leader_epoch {
            Some(e) if e < epoch => {
                return Err(Error::Fenced {
                    epoch: e,
                    current: epoch,
                })
            }
            Some(e) if e > epoch => {
                return Err(Error::UnknownLeaderEpoch {
                    epoch: e,
                    current: epoch,
                })
            }
            _ => {}
        }
        if request.replica == s.local || !ls.replicas().contains(&request.replica) {
            return Err(Error::UnknownReplica {
                replica: request.replica,
            });
        }
        let start = s.log.log_start_offset();
        let leo = s.log.log_end_offset();
        let out_of_range = Error::OffsetOutOfRange {
            requested: request.fetch_offset,
            earliest: start,
            latest: leo,
        };
        if let Some(last) = request.last_fetched_epoch {
            let answer = s.log.end_offset_for_epoch(last);
            match check_last_fetched_epoch(answer, last, request.fetch_offset, start) {
                FetchEpochCheck::Read => {}
                FetchEpochCheck::OffsetOutOfRange => return Err(out_of_range),
                FetchEpochCheck::Diverging(diverging) => {
                    return Ok(LeaderFetch {
                        data: FetchData::empty(request.fetch_offset, start, leo),
                        leader_epoch: epoch,
                        high_watermark: ls.high_watermark(),
                        log_start_offset: start,
                        log_end_offset: leo,
                        diverging_epoch: Some(diverging),
                    });
                }
            }
        }
        if request.fetch_offset < start || request.fetch_offset > leo {
            return Err(out_of_range);
        }
        let data = s.log.read(request.fetch_offset, request.max_bytes)?;
        ls.record_fetch(
            request.replica,
            request.fetch_offset,
            request.log_start_offset,
            leo,
            now,
        )
        .map_err(|u| Error::UnknownReplica { replica: u.0 })?;
        let expansion = ls.expanded_isr(request.replica);
        if expansion.is_some() {
            // Before the high watermark moves: the follower has all below
            // it now, and it must not join lacking what the watermark
            // passes while the host decides.
            ls.begin_joining(request.replica);
        }
        let moved = self.advance_high_watermark(&mut st, now);
        let high_watermark = s.log.high_watermark();
        drop(st);
        if moved {
            s.changed.notify_all();
        }
        if let Some(isr) = expansion {
            let proposed = self.propose_isr(epoch, isr);
            self.end_joining(request.replica);
            proposed?;
        }
        Ok(LeaderFetch {
            data,
            leader_epoch: epoch,
            high_watermark,
            log_start_offset: start,
            log_end_offset: leo,
            diverging_epoch: None,
        })
    }

    /// [`fetch_for_follower`](Self::fetch_for_follower) with an owned
    /// answer for a host that sends it over its own transport: the
    /// errors a follower acts on (out of range, not leader, fenced or
    /// unknown epoch) are answered as [`FetchResponse::error`], with this
    /// replica's log start and end offsets and epoch.
    ///
    /// # Errors
    /// Local failures only: [`Error::Io`], [`Error::Corrupt`],
    /// [`Error::Closed`].
    pub fn serve_fetch(&self, request: &FetchRequest) -> Result<FetchResponse> {
        match self.fetch_for_follower(request) {
            Ok(fetch) => fetch.to_response(),
            Err(e) => {
                let Some(error) = FetchError::of(&e) else {
                    return Err(e);
                };
                Ok(FetchResponse {
                    error: Some(error),
                    leader_epoch: self.leader_epoch(),
                    high_watermark: self.high_watermark(),
                    log_start_offset: self.shared.log.log_start_offset(),
                    log_end_offset: self.shared.log.log_end_offset(),
                    diverging_epoch: None,
                    records: Vec::new(),
                })
            }
        }
    }

    /// Removes from the ISR the followers that are not caught up: that
    /// have not reached the leader's log end offset within
    /// `replica.lag.time.max.ms` (Kafka's `maybeShrinkIsr`; a host calls
    /// it periodically, Kafka every half of that time). The change is
    /// proposed to the listener. Returns the new ISR if it changed.
    ///
    /// # Errors
    /// [`Error::Io`] if the high watermark could not be recorded.
    pub fn maybe_shrink_isr(&self) -> Result<Option<Vec<ReplicaId>>> {
        let s = &*self.shared;
        let (epoch, isr) = {
            let st = lock(&s.state);
            let RoleState::Leader(ls) = &st.role else {
                return Ok(None);
            };
            let now = s.clock.now_ms();
            let out = ls.out_of_sync_replicas(
                s.log.log_end_offset(),
                now,
                s.config.replica_lag_time_max_ms,
            );
            if out.is_empty() {
                return Ok(None);
            }
            (st.epoch, ls.shrunk_isr(&out))
        };
        Ok(self.propose_isr(epoch, isr.clone())?.then_some(isr))
    }

    /// The fetch this follower sends next: from its log end offset, with
    /// its latest cached epoch and its current leader epoch.
    pub fn fetch_request(&self, max_bytes: u64) -> FetchRequest {
        let log = &self.shared.log;
        FetchRequest {
            replica: self.shared.local,
            fetch_offset: log.log_end_offset(),
            log_start_offset: log.log_start_offset(),
            last_fetched_epoch: log.leader_epoch_cache().latest_epoch(),
            current_leader_epoch: Some(self.leader_epoch()),
            max_bytes,
        }
    }

    /// Applies the leader's answer to this follower's fetch (Kafka's
    /// `appendAsFollower` and the fetcher's truncation):
    ///
    /// * records are appended with the leader's offsets and epochs; the
    ///   high watermark becomes `min(leader's, log end offset)` and the
    ///   log start offset rises to the leader's (up to that high
    ///   watermark);
    /// * a diverging epoch truncates the log where it and the leader's
    ///   agree (KAFKA-REFERENCE 6.5); [`FollowerAppend::complete`] is
    ///   false when the next fetch must ask again;
    /// * out of range: a leader whose log ends below this one's truncates
    ///   it there; a leader whose log starts above this one's end makes
    ///   it start over, empty, at the leader's start.
    ///
    /// # Errors
    /// [`Error::NotLeader`] when this replica is not a follower, or the
    /// leader answered that it is not the leader; [`Error::Fenced`] for a
    /// response from an older epoch (it is dropped) and
    /// [`Error::UnknownLeaderEpoch`] for one from a newer; and as
    /// [`PartitionLog::append_replicated`] and
    /// [`PartitionLog::truncate_to`].
    pub fn append_as_follower(&self, response: &FetchResponse) -> Result<FollowerAppend> {
        let s = &*self.shared;
        let _role = read_lock(&s.role_lock);
        {
            let st = lock(&s.state);
            let RoleState::Follower { leader } = st.role else {
                return Err(self.not_leader(&st));
            };
            match response.error {
                Some(FetchError::NotLeaderOrFollower) => {
                    return Err(Error::NotLeader {
                        leader: Some(leader),
                    })
                }
                Some(FetchError::FencedLeaderEpoch) => {
                    return Err(Error::Fenced {
                        epoch: st.epoch,
                        current: response.leader_epoch,
                    })
                }
                Some(FetchError::UnknownLeaderEpoch) => {
                    return Err(Error::UnknownLeaderEpoch {
                        epoch: st.epoch,
                        current: response.leader_epoch,
                    })
                }
                _ => {}
            }
            if response.leader_epoch < st.epoch {
                return Err(Error::Fenced {
                    epoch: response.leader_epoch,
                    current: st.epoch,
                });
            }
            if response.leader_epoch > st.epoch {
                return Err(Error::UnknownLeaderEpoch {
                    epoch: response.leader_epoch,
                    current: st.epoch,
                });
            }
        }
        let log = &s.log;
        let mut outcome = FollowerAppend {
            appended: None,
            truncated_to: None,
            started_at: None,
            complete: true,
            high_watermark: log.high_watermark(),
        };
        if response.error == Some(FetchError::OffsetOutOfRange) {
            let leo = log.log_end_offset();
            match out_of_range_action(leo, response.log_start_offset, response.log_end_offset) {
                OutOfRangeAction::TruncateTo(to) => {
                    log.truncate_to(to)?;
                    outcome.truncated_to = Some(to);
                }
                OutOfRangeAction::StartAt(at) => {
                    log.truncate_fully_and_start_at(at)?;
                    outcome.started_at = Some(at);
                }
                OutOfRangeAction::FetchFrom(_) => {}
            }
        } else if let Some(diverging) = response.diverging_epoch {
            let leo = log.log_end_offset();
            let ours = log.end_offset_for_epoch(diverging.epoch);
            let decision =
                truncation_for_diverging_epoch(diverging, ours, leo, log.high_watermark());
            if decision.truncate_to < leo {
                log.truncate_to(decision.truncate_to)?;
                outcome.truncated_to = Some(decision.truncate_to);
            } else {
                log.truncate_epochs_from_end(leo)?;
            }
            outcome.complete = decision.complete;
        } else {
            if !response.records.is_empty() {
                outcome.appended = Some(log.append_replicated(&response.records)?);
            }
            let hw = response.high_watermark.min(log.log_end_offset());
            log.set_high_watermark(hw);
            let start = response.log_start_offset.min(log.high_watermark());
            if start > log.log_start_offset() {
                log.advance_log_start_offset(start)?;
            }
        }
        outcome.high_watermark = log.high_watermark();
        Ok(outcome)
    }

    /// Reads for consumers: whole batches from `offset`, only below the
    /// high watermark (Kafka's `read_uncommitted` isolation).
    ///
    /// # Errors
    /// As [`PartitionLog::read`].
    pub fn read(&self, offset: u64, max_bytes: u64) -> Result<FetchData> {
        let log = &self.shared.log;
        log.read_up_to(offset, max_bytes, log.high_watermark())
    }

    /// Writes the high watermark to `replication-offset-checkpoint`, as
    /// Kafka does every `replica.high.watermark.checkpoint.interval.ms`:
    /// a restart starts from it.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn checkpoint_high_watermark(&self) -> Result<()> {
        self.shared
            .log
            .write_high_watermark_checkpoint(self.high_watermark())
    }

    /// Proposes `isr` (made under `epoch`) to the listener; applies it if
    /// accepted and this replica still leads at `epoch` with the ISR the
    /// proposal was made from unchanged in membership. Returns whether it
    /// was applied.
    fn propose_isr(&self, epoch: i32, isr: Vec<ReplicaId>) -> Result<bool> {
        let s = &*self.shared;
        let previous = match &lock(&s.state).role {
            RoleState::Leader(ls) => ls.isr().to_vec(),
            _ => return Ok(false),
        };
        if previous == isr {
            return Ok(false);
        }
        let change = IsrChange {
            leader: s.local,
            leader_epoch: epoch,
            previous: previous.clone(),
            isr: isr.clone(),
        };
        let accepted = s.listener.as_ref().is_none_or(|l| l.alter_isr(&change));
        if !accepted {
            return Ok(false);
        }
        let mut st = lock(&s.state);
        if st.epoch != epoch {
            return Ok(false);
        }
        let RoleState::Leader(ls) = &mut st.role else {
            return Ok(false);
        };
        if ls.isr() != previous.as_slice() {
            return Ok(false);
        }
        ls.set_isr(&isr);
        self.advance_high_watermark(&mut st, s.clock.now_ms());
        drop(st);
        s.changed.notify_all();
        Ok(true)
    }

    /// The proposal to add `replica` to the ISR was answered: it no longer
    /// holds the high watermark back unless it joined.
    fn end_joining(&self, replica: ReplicaId) {
        let s = &*self.shared;
        let mut st = lock(&s.state);
        if let RoleState::Leader(ls) = &mut st.role {
            ls.end_joining(replica);
        }
        if self.advance_high_watermark(&mut st, s.clock.now_ms()) {
            drop(st);
            s.changed.notify_all();
        }
    }

    /// Moves the leader's high watermark as far as the ISR allows and
    /// hands it to the log; whether it moved.
    fn advance_high_watermark(&self, st: &mut State, now: i64) -> bool {
        let s = &*self.shared;
        let RoleState::Leader(ls) = &mut st.role else {
            return false;
        };
        let start = s.log.log_start_offset();
        ls.raise_high_watermark_to_log_start(start);
        let moved = ls
            .maybe_increment_high_watermark(
                s.log.log_end_offset(),
                start,
                now,
                s.config.replica_lag_time_max_ms,
                s.config.min_insync_replicas,
            )
            .is_some();
        s.log.set_high_watermark(ls.high_watermark());
        moved
    }

    fn effective_min_isr(&self, ls: &LeaderState) -> usize {
        self.shared
            .config
            .min_insync_replicas
            .min(ls.replicas().len())
            .max(1)
    }

    fn not_leader(&self, st: &State) -> Error {
        Error::NotLeader {
            leader: match st.role {
                RoleState::Follower { leader } => Some(leader),
                _ => None,
            },
        }
    }
}

/// What [`ReplicatedPartition::append_as_follower`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerAppend {
    /// The batches appended, if the response carried any.
    pub appended: Option<AppendInfo>,
    /// The log was truncated to this offset (a diverging epoch, or a
    /// leader whose log ends below this one's).
    pub truncated_to: Option<u64>,
    /// The log started over, empty, at this offset (the leader's log
    /// start was above this one's end).
    pub started_at: Option<u64>,
    /// False when the truncation was one round of several: the next fetch
    /// (with the new latest epoch) asks again.
    pub complete: bool,
    /// The follower's high watermark afterwards.
    pub high_watermark: u64,
}

/// An append made as leader, to wait on for its `acks`.
#[derive(Debug)]
#[must_use = "an acks=all append is acknowledged only once `wait` says so"]
pub struct PendingAppend {
    partition: ReplicatedPartition,
    info: AppendInfo,
    acks: Acks,
    generation: u64,
}

impl PendingAppend {
    /// What the append wrote to the leader's log.
    pub fn info(&self) -> &AppendInfo {
        &self.info
    }

    /// Whether the append is acknowledged now, without waiting: always for
    /// [`Acks::None`] and [`Acks::Leader`]; for [`Acks::All`] once the
    /// high watermark passed its last offset.
    ///
    /// # Errors
    /// [`Error::NotLeader`] if the role changed since the append (its
    /// records may be truncated away by the new leader);
    /// [`Error::NotEnoughReplicasAfterAppend`] if the high watermark passed
    /// the records while the ISR was below `min.insync.replicas`.
    pub fn poll(&self) -> Result<bool> {
        if self.acks != Acks::All {
            return Ok(true);
        }
        let p = &*self.partition.shared;
        let st = lock(&p.state);
        self.check(&st)
    }

    fn check(&self, st: &State) -> Result<bool> {
        let p = &*self.partition.shared;
        let RoleState::Leader(ls) = &st.role else {
            return Err(self.partition.not_leader(st));
        };
        if st.generation != self.generation {
            return Err(self.partition.not_leader(st));
        }
        if p.log.high_watermark() <= self.info.last_offset {
            return Ok(false);
        }
        let min_insync = self.partition.effective_min_isr(ls);
        if ls.isr().len() < min_insync {
            return Err(Error::NotEnoughReplicasAfterAppend {
                last_offset: self.info.last_offset,
                isr: ls.isr().len(),
                min_insync,
            });
        }
        Ok(true)
    }

    /// Waits up to `timeout` for the append to be acknowledged
    /// ([`poll`](Self::poll)), and returns what it wrote.
    ///
    /// # Errors
    /// As [`poll`](Self::poll), and [`Error::ReplicationTimeout`] when the
    /// time ran out first (the records stay in the log and may still be
    /// replicated).
    pub fn wait(self, timeout: Duration) -> Result<AppendInfo> {
        if self.acks != Acks::All {
            return Ok(self.info);
        }
        let p = &*self.partition.shared;
        let deadline = Instant::now() + timeout;
        let mut st = lock(&p.state);
        loop {
            if self.check(&st)? {
                return Ok(self.info);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::ReplicationTimeout {
                    last_offset: self.info.last_offset,
                    high_watermark: p.log.high_watermark(),
                });
            }
            st = p
                .changed
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;

//! [`ReplicatedPartition`]: one replica of a partition, led or following
//! as the host's controller says.

use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use super::leader_state::LeaderState;
use super::{IsrChange, IsrListener, ReplicaId, ReplicationConfig, Role};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::log::{FetchData, PartitionLog};
use crate::segment::{lock, write_lock};

/// How often a wait looks again at what no signal announces (the log
/// being closed).
pub(super) const RECHECK: Duration = Duration::from_millis(50);

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
    pub(super) shared: Arc<Shared>,
}

pub(super) struct Shared {
    pub(super) log: PartitionLog,
    pub(super) local: ReplicaId,
    pub(super) config: ReplicationConfig,
    pub(super) clock: Arc<dyn Clock>,
    /// Held for reading across an append's check and write, and for
    /// writing by role changes: a deposed leader never appends.
    pub(super) role_lock: RwLock<()>,
    pub(super) state: Mutex<State>,
    /// Signalled when the high watermark, the ISR or the role changes
    /// (what `acks=all` waits for).
    pub(super) changed: Condvar,
    /// Signalled when the leader appends or the role changes (what a
    /// held follower fetch waits for). Apart from `changed`, so that a
    /// moving high watermark does not wake held fetches, nor an append
    /// the waits on acknowledgements.
    pub(super) appended: Condvar,
    pub(super) listener: Option<Arc<dyn IsrListener>>,
}

pub(super) struct State {
    /// The current leader epoch; -1 before any.
    pub(super) epoch: i32,
    pub(super) role: RoleState,
    /// Bumped by every role change: an `acks=all` wait from an earlier
    /// one ends.
    pub(super) generation: u64,
    /// When the leader last looked for followers to drop from the ISR.
    pub(super) last_isr_check_ms: i64,
}

pub(super) enum RoleState {
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
        let epoch = log.latest_leader_epoch().unwrap_or(-1);
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
                    last_isr_check_ms: i64::MIN,
                }),
                changed: Condvar::new(),
                appended: Condvar::new(),
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
    /// The current epoch starts as the latest in the log's leader-epoch
    /// cache. A log appended to before it was replicated was led at epoch
    /// 0 (what [`PartitionLog::append`] stamps), so its first replicated
    /// leader takes epoch 1 or above.
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
        s.appended.notify_all();
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
        if s.log.latest_leader_epoch().is_none() {
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
        s.appended.notify_all();
        Ok(())
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

    /// Proposes `isr`, made under `epoch` from the ISR `from`, to the
    /// listener; applies it if accepted and this replica still leads at
    /// `epoch` with `from` as its ISR. A proposal made from an ISR that
    /// changed since is dropped before the listener hears of it: applied
    /// over another change it could bring back a follower dropped meanwhile
    /// (which the high watermark has passed), or undo another addition.
    /// Returns whether it was applied.
    pub(super) fn propose_isr(
        &self,
        epoch: i32,
        from: &[ReplicaId],
        isr: Vec<ReplicaId>,
    ) -> Result<bool> {
        let s = &*self.shared;
        let current = |st: &State| match &st.role {
            RoleState::Leader(ls) if st.epoch == epoch => ls.isr() == from,
            _ => false,
        };
        // A replica whose log is closed (shut down, or crashed as far as
        // the host is concerned) proposes nothing, as a Kafka broker that
        // stopped sends no AlterPartition: the host's election would see
        // an ISR that its own leader shrank after leaving.
        if from == isr || s.log.is_closed() || !current(&lock(&s.state)) {
            return Ok(false);
        }
        let change = IsrChange {
            leader: s.local,
            leader_epoch: epoch,
            previous: from.to_vec(),
            isr: isr.clone(),
        };
        let accepted = s.listener.as_ref().is_none_or(|l| l.alter_isr(&change));
        if !accepted {
            return Ok(false);
        }
        let mut st = lock(&s.state);
        if !current(&st) {
            return Ok(false);
        }
        let RoleState::Leader(ls) = &mut st.role else {
            return Ok(false);
        };
        ls.set_isr(&isr);
        self.advance_high_watermark(&mut st, s.clock.now_ms());
        drop(st);
        s.changed.notify_all();
        Ok(true)
    }

    /// The proposal to add `replica` to the ISR was answered: it no longer
    /// holds the high watermark back unless it joined.
    pub(super) fn end_joining(&self, replica: ReplicaId) {
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
    pub(super) fn advance_high_watermark(&self, st: &mut State, now: i64) -> bool {
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

    /// `(ISR size, min.insync.replicas)` when the ISR is smaller than
    /// `min.insync.replicas` (capped at the replica count), as `acks=all`
    /// checks it before and after an append; `None` when it is not.
    pub(super) fn isr_shortfall(&self, ls: &LeaderState) -> Option<(usize, usize)> {
        let min_insync = self
            .shared
            .config
            .min_insync_replicas
            .min(ls.replicas().len())
            .max(1);
        let isr = ls.assigned_isr_len();
        (isr < min_insync).then_some((isr, min_insync))
    }

    pub(super) fn not_leader(&self, st: &State) -> Error {
        Error::NotLeader {
            leader: match st.role {
                RoleState::Follower { leader } => Some(leader),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;

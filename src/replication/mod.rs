//! Replication hooks: leader and follower partitions as Kafka runs them,
//! over a transport the host supplies.
//!
//! seglog never opens a socket and elects nobody. A host that runs
//! replicas of a partition on several machines (or processes) does what
//! Kafka's controller and network layer do, and seglog does what Kafka's
//! `Partition`, `UnifiedLog` and replica fetcher do:
//!
//! | the host | seglog |
//! |---|---|
//! | decides who leads, at which leader epoch, with which replicas ([`ReplicatedPartition::become_leader`], [`ReplicatedPartition::become_follower`]) | refuses a role change or request from an older epoch ([`Error::Fenced`]), so a deposed leader cannot append |
//! | carries each follower's [`FetchRequest`] to the leader and the [`FetchResponse`] back (a [`LeaderLink`]; both have a wire form) | answers fetches ([`ReplicatedPartition::serve_fetch`], zero-copy [`ReplicatedPartition::fetch_for_follower`]), applies answers ([`ReplicatedPartition::append_as_follower`]), runs the loop ([`Follower`]) |
//! | owns ISR membership: accepts or refuses the leader's changes ([`IsrListener`], Kafka's AlterPartition) | tracks each follower's log end offset and caught-up time, proposes shrinking (after `replica.lag.time.max.ms`, [`ReplicatedPartition::maybe_shrink_isr`]) and growing the ISR |
//! | elects a new leader only from the ISR (no unclean election) | keeps the leader-epoch cache, the high watermark, and truncates a follower where its log and the leader's diverge |
//!
//! # Guarantees
//!
//! * **acks=all.** An append with [`Acks::All`] is refused before anything
//!   is written when the ISR is smaller than `min.insync.replicas`
//!   ([`Error::NotEnoughReplicas`]). Otherwise it is acknowledged
//!   ([`PendingAppend::wait`]) once the high watermark passes it: every
//!   replica in the ISR has it, and there were at least
//!   `min.insync.replicas` of them ([`Error::NotEnoughReplicasAfterAppend`]
//!   otherwise). An acknowledged record survives the loss of all but one
//!   in-sync replica, as long as the host elects from the ISR. As in
//!   Kafka, acknowledgement is replication, not fsync: with the default
//!   [`Durability`](crate::Durability) a power loss of every replica at
//!   once can lose it; logs that sync each append
//!   ([`Durability::Sync`](crate::Durability::Sync)) cannot.
//! * **The high watermark** is the smallest log end offset over the ISR
//!   (and over followers that are caught up but not yet back in it), moves
//!   only forward on a leader, and stands still while the ISR is smaller
//!   than `min.insync.replicas`. Consumers read only below it
//!   ([`ReplicatedPartition::read`], [`crate::PartitionLog::reader`], the
//!   store's consumers), so no consumer sees a record a leader change
//!   could take away. Retention and compaction never remove anything at or
//!   above it. It is checkpointed in `replication-offset-checkpoint`.
//! * **Convergence.** Every replica keeps Kafka's leader-epoch cache
//!   ([`LeaderEpochCache`], `leader-epoch-checkpoint`): the first offset of
//!   each leader epoch, learned from the epoch every leader stamps on its
//!   batches. A follower names the epoch of its last batch in each fetch;
//!   where the leader's cache says that epoch ended earlier (or never
//!   existed), the leader answers with a diverging epoch and the follower
//!   truncates to where both logs agree (KIP-101, KIP-279), in several
//!   rounds if it lacks the leader's epoch. Replicas then hold the same
//!   bytes at the same offsets.
//!
//! # One fetch round
//!
//! 1. The follower builds its request ([`ReplicatedPartition::fetch_request`]):
//!    fetch offset = its log end offset, its log start offset, the epoch
//!    of its last batch, and the leader epoch it follows.
//! 2. The host sends it to the leader, which checks the leader epoch
//!    (older: fenced; newer: unknown), then looks up where the follower's
//!    last epoch ends in its own cache. If that is below the fetch offset,
//!    or the leader never had the epoch, it answers with that diverging
//!    epoch and no records.
//! 3. Otherwise it reads whole batches from the fetch offset (file ranges:
//!    `sendfile`-able), records that the follower has everything below the
//!    fetch offset (and when it last caught up with the leader's end),
//!    proposes the follower for the ISR if it reached the high watermark
//!    and the start of the current epoch, and moves the high watermark to
//!    the smallest log end offset of the ISR. The answer carries the
//!    batches, the high watermark and the log start and end offsets.
//! 4. The follower appends the batches with the leader's offsets and
//!    epochs (learning new epochs into its cache), sets its high watermark
//!    to `min(leader's, its log end)` and raises its log start offset to
//!    the leader's. A diverging answer truncates instead; an out-of-range
//!    answer truncates to the leader's end, or starts the log over at the
//!    leader's start.
//!
//! The follower's next fetch (from its new end) is what tells the leader
//! it has the records: the leader's high watermark, and with it `acks=all`,
//! moves one round after the follower appended.
//!
//! # Examples
//!
//! ```
//! use seglog::replication::{Acks, Follower, ReplicatedPartition, ReplicationConfig};
//! use seglog::{LogConfig, PartitionLog, Record};
//!
//! let dir = tempfile::tempdir()?;
//! let open = |name: &str| PartitionLog::open(dir.path().join(name), LogConfig::default());
//! let config = ReplicationConfig { min_insync_replicas: 2, ..ReplicationConfig::default() };
//! let a = ReplicatedPartition::new(open("a/t-0")?, 1, config)?;
//! let b = ReplicatedPartition::new(open("b/t-0")?, 2, config)?;
//! a.become_leader(1, &[1, 2], &[1, 2])?;
//! b.become_follower(1, 1)?;
//!
//! let pending = a.append(&[Record::new("x")], Acks::All)?;
//! let mut follower = Follower::new(b.clone(), |request: &_| a.serve_fetch(request));
//! follower.catch_up(10)?; // b has the record...
//! follower.fetch_once()?; // ...and the leader knows it
//! let info = pending.wait(std::time::Duration::from_secs(1))?;
//! assert_eq!(info.last_offset, 0);
//! assert_eq!((a.high_watermark(), b.high_watermark()), (1, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::error::{Error, Result};

pub mod epoch_cache;
mod fetch;
mod follower;
mod follower_side;
mod leader_side;
#[cfg_attr(not(test), allow(dead_code))]
mod leader_state;
mod partition;
#[cfg_attr(not(test), allow(dead_code))]
mod truncation;

pub use epoch_cache::{EpochEndOffset, EpochEntry, LeaderEpochCache};
pub use fetch::{FetchError, FetchRequest, FetchResponse, LeaderFetch};
pub use follower::{FetchRound, Follower, LeaderLink};
pub use follower_side::FollowerAppend;
pub use leader_side::PendingAppend;
pub use partition::ReplicatedPartition;

/// A replica's id: the id of the broker (or process) that holds it, as
/// Kafka's broker ids.
pub type ReplicaId = i32;

/// Kafka's default `replica.lag.time.max.ms`.
pub const DEFAULT_REPLICA_LAG_TIME_MAX_MS: u64 = 30_000;

/// How a replicated partition judges its followers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationConfig {
    /// `replica.lag.time.max.ms`: a follower that has not reached the
    /// leader's log end offset for this long leaves the ISR (default
    /// 30 000).
    pub replica_lag_time_max_ms: u64,
    /// `min.insync.replicas`: an `acks=all` append needs at least this
    /// many in-sync replicas, the leader included (capped at the number of
    /// replicas), and the high watermark does not move with fewer
    /// (default 1).
    pub min_insync_replicas: usize,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            replica_lag_time_max_ms: DEFAULT_REPLICA_LAG_TIME_MAX_MS,
            min_insync_replicas: 1,
        }
    }
}

impl ReplicationConfig {
    /// Checks the values as Kafka bounds them.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for `min_insync_replicas` 0.
    pub fn validate(&self) -> Result<()> {
        if self.min_insync_replicas == 0 {
            return Err(Error::config(
                "min.insync.replicas",
                "must be at least 1".to_string(),
            ));
        }
        Ok(())
    }
}

/// How many replicas must have an append before it is acknowledged
/// (Kafka's producer `acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// `acks=0`: nobody; the producer does not wait.
    None,
    /// `acks=1`: the leader's log.
    #[default]
    Leader,
    /// `acks=all` (-1): every in-sync replica, with at least
    /// `min.insync.replicas` of them.
    All,
}

impl Acks {
    /// The setting for Kafka's value (0, 1, or -1 for all).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for any other value.
    pub fn from_kafka(acks: i16) -> Result<Self> {
        match acks {
            0 => Ok(Acks::None),
            1 => Ok(Acks::Leader),
            -1 => Ok(Acks::All),
            other => Err(Error::config(
                "acks",
                format!("must be 0, 1 or -1 (all), not {other}"),
            )),
        }
    }
}

/// What a replica is, as the host last said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// No role yet: it neither appends nor serves fetches.
    Unassigned,
    /// The leader: it appends and serves its followers.
    Leader,
    /// A follower of `leader`.
    Follower {
        /// The leader's id.
        leader: ReplicaId,
    },
}

/// A change of the in-sync replica set that a leader wants (Kafka's
/// AlterPartition request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChange {
    /// The leader asking.
    pub leader: ReplicaId,
    /// Its leader epoch: a host refuses changes from an older one.
    pub leader_epoch: i32,
    /// The ISR the change was made from.
    pub previous: Vec<ReplicaId>,
    /// The ISR wanted.
    pub isr: Vec<ReplicaId>,
}

/// The host's side of ISR changes: it owns the membership (as Kafka's
/// controller does), so a leader's change takes effect only if it
/// accepts it.
pub trait IsrListener: Send + Sync {
    /// Whether the host commits `change`. Called without any of the
    /// partition's locks held; it may call back into the partition.
    fn alter_isr(&self, change: &IsrChange) -> bool;
}

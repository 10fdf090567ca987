//! Replication hooks: leader and follower partitions as Kafka runs them,
//! over a transport the host supplies.

use crate::error::{Error, Result};

pub mod epoch_cache;
mod fetch;
mod follower;
#[cfg_attr(not(test), allow(dead_code))]
mod leader_state;
mod partition;
#[cfg_attr(not(test), allow(dead_code))]
mod truncation;

pub use epoch_cache::{EpochEndOffset, EpochEntry, LeaderEpochCache};
pub use fetch::{FetchError, FetchRequest, FetchResponse, LeaderFetch};
pub use follower::{FetchRound, Follower, LeaderLink};
pub use partition::{FollowerAppend, PendingAppend, ReplicatedPartition};

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

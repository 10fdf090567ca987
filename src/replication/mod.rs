//! Replication hooks: leader and follower partitions as Kafka runs them,
//! over a transport the host supplies.

/// A replica's id: the id of the broker (or process) that holds it, as
/// Kafka's broker ids.
pub type ReplicaId = i32;

pub mod epoch_cache;
#[cfg_attr(not(test), allow(dead_code))]
mod leader_state;
#[cfg_attr(not(test), allow(dead_code))]
mod truncation;

pub use epoch_cache::{EpochEndOffset, EpochEntry, LeaderEpochCache};

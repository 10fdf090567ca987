//! One simulated replica: its own in-memory file system, the log on it,
//! and the [`ReplicatedPartition`] over that log while its process is up.
//!
//! Every log fsyncs each append (`Durability::Sync`, for leader appends
//! and follower appends alike): see the crate docs of the harness for
//! why.

use std::sync::Arc;

use seglog::io::{CrashMode, MemFs};
use seglog::replication::{
    FetchRequest, FetchResponse, IsrListener, ReplicaId, ReplicatedPartition, ReplicationConfig,
    Role,
};
use seglog::{Durability, LogConfig, ManualClock, OpenOptions, PartitionLog};

/// The partition directory on every replica's file system.
pub const DIR: &str = "/data/sim-0";

pub fn log_config() -> LogConfig {
    LogConfig {
        // Small segments and indexes: rolls happen within a run.
        segment_bytes: 1024,
        segment_index_bytes: 240,
        index_interval_bytes: 0,
        durability: Durability::Sync,
        ..LogConfig::default()
    }
}

/// The fetch a follower is waiting on.
#[derive(Debug, Clone, Copy)]
pub struct Outstanding {
    pub id: u64,
    pub sent_at: u64,
}

pub struct Node {
    pub id: ReplicaId,
    pub fs: MemFs,
    /// `None` while the process is down.
    pub part: Option<ReplicatedPartition>,
    /// The controller epoch this process was last told its role in.
    pub told_epoch: Option<i32>,
    pub outstanding: Option<Outstanding>,
    next_id: u64,
    /// The step it went down at.
    pub down_since: u64,
    /// Bumped by every restart.
    pub incarnation: u64,
}

impl Node {
    pub fn new(id: ReplicaId) -> Self {
        Node {
            id,
            fs: MemFs::new(),
            part: None,
            told_epoch: None,
            outstanding: None,
            next_id: 0,
            down_since: 0,
            incarnation: 0,
        }
    }

    pub fn is_up(&self) -> bool {
        self.part.is_some()
    }

    /// Starts the process: opens (and recovers) the log on its file system.
    pub fn start(
        &mut self,
        clock: &ManualClock,
        config: ReplicationConfig,
        listener: Arc<dyn IsrListener>,
    ) -> Result<(), String> {
        let log = OpenOptions::new()
            .fs(self.fs.clone())
            .clock(clock.clone())
            .open(DIR, log_config())
            .map_err(|e| format!("node {}: open after restart failed: {e}", self.id))?;
        let part = ReplicatedPartition::with_listener(log, self.id, config, Some(listener))
            .map_err(|e| format!("node {}: replicated partition: {e}", self.id))?;
        self.part = Some(part);
        self.told_epoch = None;
        self.outstanding = None;
        self.incarnation += 1;
        Ok(())
    }

    /// Power loss: what was not synced may be lost (a torn tail may be
    /// left), and the process is gone.
    pub fn power_loss(&mut self, seed: u64, now: u64) {
        let image = self.fs.crash(CrashMode::TornTail { seed });
        // Dropping the old log closes it on the old file system, which no
        // one looks at again.
        self.part = None;
        self.fs = image;
        self.told_epoch = None;
        self.outstanding = None;
        self.down_since = now;
    }

    pub fn part(&self) -> Option<&ReplicatedPartition> {
        self.part.as_ref()
    }

    pub fn log(&self) -> Option<&PartitionLog> {
        self.part.as_ref().map(|p| p.log())
    }

    pub fn role(&self) -> Option<Role> {
        self.part.as_ref().map(|p| p.role())
    }

    /// The leader this follower fetches from, if it follows one.
    pub fn following(&self) -> Option<ReplicaId> {
        match self.role()? {
            Role::Follower { leader } => Some(leader),
            _ => None,
        }
    }

    /// A fetch to send, if this process follows and has none outstanding
    /// (or the one it has timed out).
    pub fn next_fetch(
        &mut self,
        now: u64,
        timeout: u64,
        max_bytes: u64,
    ) -> Option<(ReplicaId, u64, FetchRequest)> {
        let leader = self.following()?;
        if let Some(o) = self.outstanding {
            if now < o.sent_at + timeout {
                return None;
            }
        }
        let request = self.part.as_ref()?.fetch_request(max_bytes);
        self.next_id += 1;
        let id = self.next_id;
        self.outstanding = Some(Outstanding { id, sent_at: now });
        Some((leader, id, request))
    }

    /// Takes a reply: only the one to the outstanding fetch counts (a
    /// Kafka fetcher drops a response whose fetch offset is no longer its
    /// own); the rest are stale or duplicates.
    pub fn accept_reply(&mut self, id: u64) -> bool {
        match self.outstanding {
            Some(o) if o.id == id => {
                self.outstanding = None;
                true
            }
            _ => false,
        }
    }
}

/// Decodes what a replica sent, as the receiving side would.
pub fn decode_request(bytes: &[u8]) -> Result<FetchRequest, String> {
    FetchRequest::decode(bytes).map_err(|e| format!("fetch request does not decode: {e}"))
}

pub fn decode_response(bytes: &[u8]) -> Result<FetchResponse, String> {
    FetchResponse::decode(bytes).map_err(|e| format!("fetch response does not decode: {e}"))
}

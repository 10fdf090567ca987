//! Helpers shared by the replication tests: replicas on temporary
//! directories (or an in-memory file system) sharing one manual clock, a
//! fetch round carried by hand, and views of a log's batches.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use seglog::io::MemFs;
use seglog::replication::Acks;
use seglog::replication::{FollowerAppend, ReplicaId, ReplicatedPartition, ReplicationConfig};
use seglog::{AppendInfo, LogConfig, ManualClock, PartitionLog, Record};

/// Fetches ask for this much.
pub const MAX_BYTES: u64 = 1 << 20;

/// The clock's starting time.
pub const T0: i64 = 1_700_000_000_000;

/// Replicas in one temporary directory, each in its own partition
/// directory, all on one manual clock.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub clock: ManualClock,
    pub config: ReplicationConfig,
    pub log_config: LogConfig,
}

impl Cluster {
    /// A cluster with `replica.lag.time.max.ms` 1000 and
    /// `min.insync.replicas` `min_insync`.
    pub fn new(min_insync: usize) -> Self {
        Cluster {
            dir: tempfile::tempdir().expect("tempdir"),
            clock: ManualClock::new(T0),
            config: ReplicationConfig {
                replica_lag_time_max_ms: 1_000,
                min_insync_replicas: min_insync,
            },
            log_config: LogConfig::default(),
        }
    }

    /// The partition directory of replica `id`.
    pub fn path(&self, id: ReplicaId) -> PathBuf {
        self.dir.path().join(format!("r{id}")).join("t-0")
    }

    /// Opens replica `id`'s log.
    pub fn open_log(&self, id: ReplicaId) -> PartitionLog {
        PartitionLog::options()
            .clock(self.clock.clone())
            .open(self.path(id), self.log_config.clone())
            .expect("open log")
    }

    /// Opens replica `id` with no role.
    pub fn replica(&self, id: ReplicaId) -> ReplicatedPartition {
        ReplicatedPartition::new(self.open_log(id), id, self.config).expect("replica")
    }

    /// Advances the shared clock by `ms`.
    pub fn advance(&self, ms: i64) {
        self.clock.advance(ms);
    }
}

/// Opens a log at `dir` on `fs` with `clock`.
pub fn open_mem(fs: &MemFs, dir: &Path, clock: &ManualClock) -> seglog::Result<PartitionLog> {
    PartitionLog::options()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(dir, LogConfig::default())
}

/// One fetch round carried by hand: the follower's request to the
/// leader, the answer back.
pub fn round(leader: &ReplicatedPartition, follower: &ReplicatedPartition) -> FollowerAppend {
    let response = leader
        .serve_fetch(&follower.fetch_request(MAX_BYTES))
        .expect("serve fetch");
    follower
        .append_as_follower(&response)
        .expect("append as follower")
}

/// Rounds until the follower's log ends where the leader's does (at most
/// 10), then one more, which tells the leader so and brings back the
/// high watermark that follows.
pub fn sync(leader: &ReplicatedPartition, follower: &ReplicatedPartition) {
    for _ in 0..10 {
        round(leader, follower);
        if follower.log().log_end_offset() == leader.log().log_end_offset() {
            round(leader, follower);
            assert_eq!(follower.high_watermark(), leader.high_watermark());
            return;
        }
    }
    panic!(
        "follower {} did not catch up: LEO {} vs {}",
        follower.local_replica(),
        follower.log().log_end_offset(),
        leader.log().log_end_offset(),
    );
}

/// `n` records with values `{prefix}{i}`.
pub fn records(prefix: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record::new(format!("{prefix}{i}")))
        .collect()
}

/// The bytes of every batch of `log` from its start that ends below `end`.
pub fn bytes_below(log: &PartitionLog, end: u64) -> Vec<u8> {
    log.read_up_to(log.log_start_offset(), u64::MAX / 2, end)
        .expect("read")
        .to_vec()
        .expect("to_vec")
}

/// `(base offset, partition leader epoch)` of every batch in `bytes`.
pub fn batch_epochs(bytes: &[u8]) -> Vec<(u64, i32)> {
    seglog::record::batches(bytes)
        .map(|b| {
            let b = b.expect("batch");
            (b.header().base_offset, b.header().partition_leader_epoch)
        })
        .collect()
}

/// `(base offset, partition leader epoch)` of every batch of `log`.
pub fn log_epochs(log: &PartitionLog) -> Vec<(u64, i32)> {
    batch_epochs(&bytes_below(log, u64::MAX))
}

/// The values of the records `log.iter(from)` yields (below the HW).
pub fn values(log: &PartitionLog, from: u64) -> Vec<String> {
    log.iter(from)
        .map(|r| {
            let r = r.expect("record");
            String::from_utf8(r.value.unwrap_or_default()).expect("utf8")
        })
        .collect()
}

/// The leader-epoch cache as `(epoch, start offset)` pairs.
pub fn epoch_entries(log: &PartitionLog) -> Vec<(i32, u64)> {
    log.leader_epoch_cache()
        .entries()
        .iter()
        .map(|e| (e.epoch, e.start_offset))
        .collect()
}

/// Appends `n` records `{prefix}{i}` as leader with `acks=1`.
pub fn put(r: &ReplicatedPartition, prefix: &str, n: usize) -> AppendInfo {
    r.append(&records(prefix, n), Acks::Leader)
        .expect("append")
        .wait(std::time::Duration::ZERO)
        .expect("acks=1")
}

//! Building compacted logs and reading them back.
#![allow(dead_code)]

use seglog::io::MemFs;
use seglog::topic::CleanupPolicy;
use seglog::{
    BatchBuilder, LogConfig, ManualClock, OpenOptions, PartitionLog, Record, RecoveryMode,
};

use crate::common_crash::DIR;

/// A compacted log's config: small segments, an index entry per batch.
pub fn config() -> LogConfig {
    LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        index_interval_bytes: 0,
        ..LogConfig::default()
    }
}

pub fn open_log(fs: &MemFs, clock: &ManualClock, config: &LogConfig) -> PartitionLog {
    OpenOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .recovery_mode(RecoveryMode::Strict)
        .open(DIR, config.clone())
        .unwrap()
}

/// Appends one batch holding one record `key -> value` (a tombstone for
/// `None`), stamped `ts`.
pub fn put(log: &PartitionLog, key: &str, value: Option<&str>, ts: i64) -> u64 {
    let r = match value {
        Some(v) => Record::new(v).with_key(key),
        None => Record::tombstone(key),
    };
    log.append(&[r.with_timestamp(ts)]).unwrap().first_offset
}

/// Every record of the log from its start: (offset, key, value).
pub fn records(log: &PartitionLog) -> Vec<(u64, String, Option<String>)> {
    keyed_records(log)
}

pub fn offsets(log: &PartitionLog) -> Vec<u64> {
    records(log).into_iter().map(|r| r.0).collect()
}

/// Keys whose records have values, in log order (Kafka's `keysInLog`).
pub fn keys_with_values(log: &PartitionLog) -> Vec<String> {
    records(log)
        .into_iter()
        .filter(|r| r.2.is_some())
        .map(|r| r.1)
        .collect()
}

/// Writes a cleaner checkpoint for the log in [`DIR`] (closed meanwhile).
pub fn write_checkpoint(fs: &MemFs, offset: u64) {
    use seglog::io::{Fs, OpenMode};
    let path = std::path::Path::new(DIR).join("cleaner-offset-checkpoint");
    let f = fs.open(&path, OpenMode::Truncate).unwrap();
    f.write_all_at(format!("0\n1\nt 0 {offset}\n").as_bytes(), 0)
        .unwrap();
}

/// Batches with a producer id, for the producer rules.
pub fn producer_batch(base_seq: i32, pid: i64, key: &str, ts: i64) -> Vec<u8> {
    BatchBuilder::new()
        .producer(pid, 0, base_seq)
        .build(&[Record::new("v").with_key(key).with_timestamp(ts)])
        .unwrap()
}

/// Small segments (400 bytes), for logs of a few segments.
pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        ..config()
    }
}

/// A read-only view of the log in [`DIR`] with [`small_config`].
pub fn open_view(fs: &MemFs, clock: &ManualClock) -> seglog::Result<PartitionLog> {
    OpenOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .read_only(true)
        .open(DIR, small_config())
}

/// A one-entry map: Kafka's `FakeOffsetMap(2)` at load factor 0.75.
pub fn one_key_map() -> seglog::compaction::CompactOptions {
    seglog::compaction::CompactOptions {
        dedupe_buffer_bytes: 48,
        load_factor: 0.75,
        ..seglog::compaction::CompactOptions::default()
    }
}

/// A log of [`small_config`] holding 60 values of 6 keys, flushed.
pub fn write_six_keys(fs: &MemFs, clock: &ManualClock) -> PartitionLog {
    let log = open_log(fs, clock, &small_config());
    for i in 0..60u64 {
        put(&log, &format!("k{}", i % 6), Some(&format!("v{i}")), 1);
    }
    log.sync().unwrap();
    log
}

#[path = "../common_keyed/mod.rs"]
mod keyed;
#[allow(unused_imports)]
pub use keyed::{keyed_records, table};

//! A log whose cleanup policy compacts: its active segment rolls in time
//! for the maximum compaction lag (Kafka's `LogConfig.maxSegmentMs`).

mod common_crash;

use common_crash::open;
use seglog::io::MemFs;
use seglog::{
    BatchBuilder, CleanupPolicy, LogConfig, ManualClock, PartitionLog, Record, RecoveryMode,
    TimestampType,
};

const STRICT: RecoveryMode = RecoveryMode::Strict;

fn clock() -> ManualClock {
    ManualClock::new(1_000_000)
}

/// A config of small indexes (no 10 MiB preallocation on `MemFs`).
fn config(policy: CleanupPolicy, segment_ms: u64, max_compaction_lag_ms: u64) -> LogConfig {
    LogConfig {
        cleanup_policy: policy,
        segment_ms,
        max_compaction_lag_ms,
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

fn keyed(value: &str, timestamp: i64) -> Record {
    Record::new(value).with_key("k").with_timestamp(timestamp)
}

/// One keyed record as a producer encodes it.
fn encoded(value: &str, timestamp: i64) -> Vec<u8> {
    BatchBuilder::new()
        .build(&[keyed(value, timestamp)])
        .unwrap()
}

fn segments(log: &PartitionLog) -> usize {
    log.segments().len()
}

#[test]
fn a_compacted_log_rolls_by_time_at_its_max_compaction_lag() {
    for policy in [CleanupPolicy::Compact, CleanupPolicy::CompactDelete] {
        let log = open(
            &MemFs::new(),
            &clock(),
            STRICT,
            &config(policy, 10_000, 1_000),
        )
        .unwrap();
        log.append(&[keyed("a", 10_000)]).unwrap();
        log.append(&[keyed("b", 11_000)]).unwrap();
        assert_eq!(segments(&log), 1, "{policy}: the lag is not exceeded");
        log.append(&[keyed("c", 11_001)]).unwrap();
        assert_eq!(segments(&log), 2, "{policy}: more than the lag");
        // Encoded batches follow the same rule.
        log.append_encoded(&encoded("d", 12_001)).unwrap();
        assert_eq!(segments(&log), 2, "{policy}");
        log.append_encoded(&encoded("e", 12_002)).unwrap();
        assert_eq!(segments(&log), 3, "{policy}");
    }
}

#[test]
fn a_log_that_only_deletes_rolls_at_segment_ms_whatever_the_lag() {
    let log = open(
        &MemFs::new(),
        &clock(),
        STRICT,
        &config(CleanupPolicy::Delete, 10_000, 1_000),
    )
    .unwrap();
    log.append(&[keyed("a", 10_000)]).unwrap();
    log.append(&[keyed("b", 11_001)]).unwrap();
    log.append_encoded(&encoded("c", 20_000)).unwrap();
    assert_eq!(segments(&log), 1);
    log.append(&[keyed("d", 20_001)]).unwrap();
    assert_eq!(segments(&log), 2);
}

#[test]
fn a_compacted_log_rolls_at_segment_ms_when_that_is_sooner() {
    let log = open(
        &MemFs::new(),
        &clock(),
        STRICT,
        &config(CleanupPolicy::Compact, 1_000, 10_000),
    )
    .unwrap();
    log.append(&[keyed("a", 10_000)]).unwrap();
    log.append(&[keyed("b", 11_000)]).unwrap();
    assert_eq!(segments(&log), 1);
    log.append(&[keyed("c", 11_001)]).unwrap();
    assert_eq!(segments(&log), 2);
}

#[test]
fn a_compacted_log_rolls_by_the_clock_at_its_max_compaction_lag() {
    let clock = clock();
    let log = open(
        &MemFs::new(),
        &clock,
        STRICT,
        &LogConfig {
            message_timestamp_type: TimestampType::LogAppendTime,
            ..config(CleanupPolicy::Compact, 10_000, 1_000)
        },
    )
    .unwrap();
    log.append(&[Record::new("a").with_key("k")]).unwrap();
    clock.advance(1_000);
    log.append(&[Record::new("b").with_key("k")]).unwrap();
    assert_eq!(segments(&log), 1);
    clock.advance(1);
    log.append(&[Record::new("c").with_key("k")]).unwrap();
    assert_eq!(segments(&log), 2);
}

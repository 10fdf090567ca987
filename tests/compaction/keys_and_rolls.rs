//! A log whose cleanup policy compacts: its active segment rolls in time
//! for the maximum compaction lag (Kafka's `LogConfig.maxSegmentMs`), and
//! a leader append refuses records without a key, whole (Kafka's
//! "Compacted topic cannot accept message without key").

use crate::common::patch_batch;
use crate::common_crash::{open, DIR};
use crate::common_read_only::snapshot;
use seglog::io::MemFs;
use seglog::{
    BatchBuilder, CleanupPolicy, Compression, Error, LogConfig, ManualClock, PartitionLog, Record,
    RecoveryMode, TimestampType,
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

/// A compacted log on `MemFs` holding one keyed record.
fn compacted_log(policy: CleanupPolicy) -> (MemFs, PartitionLog) {
    let fs = MemFs::new();
    let log = open(
        &fs,
        &clock(),
        STRICT,
        &config(policy, 604_800_000, u64::MAX >> 1),
    )
    .unwrap();
    log.append(&[keyed("first", 1_000)]).unwrap();
    (fs, log)
}

/// The log's end offset and files, to show a refused append left both.
fn state(fs: &MemFs, log: &PartitionLog) -> (u64, usize, impl PartialEq + std::fmt::Debug) {
    (
        log.log_end_offset(),
        log.segments().len(),
        snapshot(fs, DIR),
    )
}

/// Records as a producer encodes them into one batch.
fn batch(records: &[Record], codec: Compression) -> Vec<u8> {
    BatchBuilder::new()
        .compression(codec)
        .build(records)
        .unwrap()
}

#[test]
fn append_refuses_a_keyless_record_and_writes_nothing() {
    for policy in [CleanupPolicy::Compact, CleanupPolicy::CompactDelete] {
        let (fs, log) = compacted_log(policy);
        let before = state(&fs, &log);
        let refused = log.append(&[
            keyed("a", 2_000),
            Record::new("no key").with_timestamp(2_000),
            Record::new("no key either").with_timestamp(2_000),
        ]);
        assert!(
            matches!(
                refused,
                Err(Error::MissingKey {
                    index: 1,
                    batch_position: None
                })
            ),
            "{policy}: {refused:?}"
        );
        assert_eq!(state(&fs, &log), before, "{policy}: nothing was written");
        let message = refused.unwrap_err().to_string();
        assert!(
            message.contains("compacted topic cannot accept message without key"),
            "{message}"
        );
        // Keyed records, tombstones included, still go in.
        let info = log
            .append(&[
                keyed("b", 3_000),
                Record::tombstone("k").with_timestamp(3_000),
            ])
            .unwrap();
        assert_eq!((info.first_offset, info.last_offset), (1, 2), "{policy}");
        assert_eq!(log.log_end_offset(), 3);
    }
}

#[test]
fn append_encoded_refuses_a_keyless_record_in_any_batch_and_writes_nothing() {
    let (fs, log) = compacted_log(CleanupPolicy::Compact);
    let before = state(&fs, &log);
    let first = batch(&[keyed("a", 2_000), keyed("b", 2_000)], Compression::None);
    // The keyless record is inside a compressed batch, after another
    // batch: every batch is checked before anything is written.
    for codec in [Compression::None, Compression::Gzip, Compression::Lz4] {
        let second = batch(
            &[
                keyed("c", 2_000),
                Record::new("no key").with_timestamp(2_000),
            ],
            codec,
        );
        let input = [first.clone(), second].concat();
        let refused = log.append_encoded(&input);
        let at = first.len() as u64;
        assert!(
            matches!(
                refused,
                Err(Error::MissingKey {
                    index: 3,
                    batch_position: Some(p)
                }) if p == at
            ),
            "{codec}: {refused:?}"
        );
        assert_eq!(state(&fs, &log), before, "{codec}: nothing was written");
    }
    // The first record of the first batch.
    let refused = log.append_encoded(&batch(
        &[Record::new("no key").with_timestamp(2_000)],
        Compression::Gzip,
    ));
    assert!(
        matches!(
            refused,
            Err(Error::MissingKey {
                index: 0,
                batch_position: Some(0)
            })
        ),
        "{refused:?}"
    );
    assert_eq!(state(&fs, &log), before);
    // Keyed batches go in.
    let keyed_batches = [
        first.clone(),
        batch(&[keyed("c", 2_000)], Compression::Gzip),
    ]
    .concat();
    let info = log.append_encoded(&keyed_batches).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (1, 3));
}

#[test]
fn a_log_that_only_deletes_takes_keyless_records() {
    let fs = MemFs::new();
    let log = open(
        &fs,
        &clock(),
        STRICT,
        &config(CleanupPolicy::Delete, 604_800_000, 1),
    )
    .unwrap();
    log.append(&[Record::new("no key").with_timestamp(1_000)])
        .unwrap();
    log.append_encoded(&batch(
        &[Record::new("no key").with_timestamp(1_000)],
        Compression::Gzip,
    ))
    .unwrap();
    assert_eq!(log.log_end_offset(), 2);
}

/// A control batch (a transaction marker) of one keyless record at
/// `base`: transactional and control attribute bits set.
fn control_batch(base: u64) -> Vec<u8> {
    let mut b = BatchBuilder::new()
        .base_offset(base)
        .build(&[Record::new("marker").with_timestamp(1_000)])
        .unwrap();
    patch_batch(&mut b, 21, &0x30u16.to_be_bytes());
    b
}

#[test]
fn replicated_batches_and_control_batches_are_not_checked_for_keys() {
    let (fs, log) = compacted_log(CleanupPolicy::Compact);
    // A follower copies what its leader has, keyless or not.
    let keyless = BatchBuilder::new()
        .base_offset(1)
        .build(&[Record::new("no key").with_timestamp(1_000)])
        .unwrap();
    log.append_replicated(&keyless).unwrap();
    log.append_replicated(&control_batch(2)).unwrap();
    assert_eq!(log.log_end_offset(), 3);
    let read: Vec<_> = log.iter(0).map(|r| r.unwrap().offset).collect();
    assert_eq!(read, [0, 1], "the marker is no record");
    // From a producer, a control batch is refused for what it is, not for
    // its keyless record.
    let before = state(&fs, &log);
    let mut from_producer = control_batch(0);
    patch_batch(&mut from_producer, 21, &0x20u16.to_be_bytes());
    let refused = log.append_encoded(&from_producer);
    assert!(
        matches!(&refused, Err(Error::InvalidBatch { reason, .. }) if reason.contains("control")),
        "{refused:?}"
    );
    assert_eq!(state(&fs, &log), before);
}

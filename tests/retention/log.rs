//! Retention carried out on one log: what goes, what stays, and when the
//! files of deleted segments disappear.

use crate::common_crash;

use common_crash::file_names;
use seglog::io::{CrashMode, Fault, FsOp, MemFs};
use seglog::retention::{DeleteReason, RetentionPolicy};
use seglog::{Error, LogConfig, ManualClock, OpenOptions, PartitionLog, Record};

const DIR: &str = "/data/t-0";

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1_000,
        segment_index_bytes: 4_096,
        ..LogConfig::default()
    }
}

fn open(fs: &MemFs, clock: &ManualClock, delay_ms: u64) -> PartitionLog {
    OpenOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .file_delete_delay_ms(delay_ms)
        .open(DIR, config())
        .unwrap()
}

/// Appends `n` records of about 100 bytes stamped `timestamp`, one batch
/// each, so that segments roll every few records.
fn append(log: &PartitionLog, n: usize, timestamp: i64) {
    for _ in 0..n {
        log.append(&[Record::new(vec![b'v'; 100]).with_timestamp(timestamp)])
            .unwrap();
    }
}

fn by_time(ms: u64) -> RetentionPolicy {
    RetentionPolicy {
        retention_ms: Some(ms),
        retention_bytes: None,
        delete_enabled: true,
    }
}

#[test]
fn time_retention_deletes_expired_segments_but_never_the_active_one() {
    let fs = MemFs::new();
    let clock = ManualClock::new(100_000);
    let log = open(&fs, &clock, 0);
    append(&log, 20, 10_000);
    append(&log, 20, 50_000);
    let before = log.segments();
    assert!(before.len() > 4);

    // Nothing is older than an hour yet.
    let outcome = log.apply_retention(&by_time(3_600_000)).unwrap();
    assert!(outcome.deleted.is_empty());
    assert_eq!(outcome.log_start_offset, 0);

    // At 70 s, records stamped 10 s are more than 30 s old; 50 s ones not.
    clock.set(70_000);
    let outcome = log.apply_retention(&by_time(30_000)).unwrap();
    assert!(!outcome.deleted.is_empty());
    assert!(outcome.deleted.iter().all(|r| *r == DeleteReason::Time));
    let start = log.log_start_offset();
    assert_eq!(start, outcome.log_start_offset);
    assert_eq!(start, log.segments()[0].base_offset);
    assert!(start <= 20, "a segment holding a 50 s record went: {start}");
    let freed: u64 = before[..outcome.deleted.len()].iter().map(|s| s.size).sum();
    assert_eq!(outcome.bytes_freed, freed);
    assert!(matches!(
        log.read(0, 1 << 20),
        Err(Error::OffsetOutOfRange { earliest, .. }) if earliest == start
    ));

    // Much later everything has expired, but the active segment stays.
    clock.set(10_000_000);
    log.apply_retention(&by_time(30_000)).unwrap();
    let left = log.segments();
    assert_eq!(left.len(), 1);
    assert!(left[0].active);
    assert_eq!(log.log_end_offset(), 40);
    // Applying again changes nothing.
    let again = log.apply_retention(&by_time(30_000)).unwrap();
    assert!(again.deleted.is_empty());
    assert_eq!(again.log_start_offset, log.log_start_offset());
}

#[test]
fn size_retention_keeps_the_partition_at_or_above_the_limit() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = open(&fs, &clock, 0);
    append(&log, 60, 0);
    let policy = RetentionPolicy {
        retention_ms: None,
        retention_bytes: Some(2_500),
        delete_enabled: true,
    };
    let outcome = log.apply_retention(&policy).unwrap();
    assert!(outcome.deleted.iter().all(|r| *r == DeleteReason::Size));
    let size = log.size_bytes();
    assert!(size >= 2_500, "{size}");
    let largest = log.segments().iter().map(|s| s.size).max().unwrap();
    assert!(size < 2_500 + largest, "{size}");
    // The start moved to the first kept segment, and data there is intact.
    let start = log.log_start_offset();
    assert!(start > 0);
    let first = log
        .read(start, 1)
        .unwrap()
        .records()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(first.offset, start);
}

#[test]
fn delete_records_then_retention_removes_segments_below_the_start() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = open(&fs, &clock, 0);
    append(&log, 30, 0);
    let keep_one = RetentionPolicy {
        retention_ms: None,
        retention_bytes: None,
        delete_enabled: false,
    };
    // Raising the start deletes whole segments below it at once.
    log.advance_log_start_offset(25).unwrap();
    assert!(log.segments()[0].base_offset <= 25);
    // The planner finds nothing more to delete.
    let outcome = log.apply_retention(&keep_one).unwrap();
    assert!(outcome.deleted.is_empty());
    assert_eq!(outcome.log_start_offset, 25);
}

#[test]
fn deleted_files_wait_for_the_delay_and_readers_finish() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000_000);
    let log = open(&fs, &clock, 60_000);
    append(&log, 30, 0);
    let held = log.read(0, 1 << 20).unwrap();
    let logs_before = file_names(&fs, ".log");

    let outcome = log.apply_retention(&by_time(1)).unwrap();
    let gone = outcome.deleted.len();
    assert!(gone > 0);
    let renamed = file_names(&fs, ".log.deleted");
    assert_eq!(renamed.len(), gone);
    assert_eq!(file_names(&fs, ".log").len(), logs_before.len() - gone);

    // Not yet due.
    clock.advance(59_999);
    assert_eq!(log.remove_deleted_files().unwrap(), 0);
    assert_eq!(file_names(&fs, ".log.deleted").len(), gone);
    // A read taken before the deletion still reads.
    let first = held.records().next().unwrap().unwrap();
    assert_eq!(first.offset, 0);

    clock.advance(1);
    assert!(log.remove_deleted_files().unwrap() >= gone);
    assert!(file_names(&fs, ".deleted").is_empty());
}

#[test]
fn pending_deletions_are_finished_at_close_or_after_a_crash() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000_000);
    let log = open(&fs, &clock, 60_000);
    append(&log, 30, 0);
    log.apply_retention(&by_time(1)).unwrap();
    assert!(!file_names(&fs, ".deleted").is_empty());
    log.close().unwrap();
    assert!(file_names(&fs, ".deleted").is_empty());
    drop(log);

    // A crash with renamed files still there: the next open removes them.
    let log = open(&fs, &clock, 60_000);
    append(&log, 30, 0);
    log.apply_retention(&by_time(1)).unwrap();
    log.sync().unwrap();
    let start = log.log_start_offset();
    assert!(!file_names(&fs, ".deleted").is_empty());
    let crashed = fs.crash(CrashMode::DurableOnly);
    drop(log);
    let log = open(&crashed, &clock, 60_000);
    assert!(file_names(&crashed, ".deleted").is_empty());
    assert_eq!(log.log_start_offset(), start);
}

/// The directory fsync after removing deleted segments' files is an fsync
/// like any other: when it fails the log is poisoned (the kernel may have
/// dropped what it could not write), not just the call failed.
#[test]
fn a_failed_directory_fsync_after_removing_deleted_files_poisons_the_log() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000_000);
    let log = open(&fs, &clock, 60_000);
    append(&log, 30, 0);
    assert!(!log.apply_retention(&by_time(1)).unwrap().deleted.is_empty());
    clock.advance(60_000);
    fs.set_fault_hook(|call| {
        (call.op == FsOp::SyncDir).then_some(Fault::Error(std::io::ErrorKind::Other))
    });
    let r = log.remove_deleted_files();
    fs.clear_fault_hook();
    assert!(matches!(r, Err(Error::Io { .. })), "{r:?}");
    assert!(log.is_poisoned());
    assert!(matches!(
        log.append(&[Record::new("x")]),
        Err(Error::Poisoned { .. })
    ));
}

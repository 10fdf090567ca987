//! The log start offset and the offsets that follow it: raising the start
//! (DeleteRecords, retention) raises the recovery point with it, and a
//! truncation below the start that fails part-way never leaves the start
//! above the end.

use std::io;

use seglog::io::{CrashMode, Fault, FsOp, MemFs};
use seglog::retention::RetentionPolicy;
use seglog::{Durability, Error, LogConfig, ManualClock, OpenOptions, PartitionLog, Record};

const DIR: &str = "/data/t-0";

/// Small preallocated indexes: many segments stay cheap in memory.
fn config() -> LogConfig {
    LogConfig {
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

fn open(fs: &MemFs) -> PartitionLog {
    OpenOptions::new()
        .fs(fs.clone())
        .clock(ManualClock::new(1_000_000))
        .open(DIR, config())
        .unwrap()
}

/// Appends `n` single-record batches as durable as `durability` says.
fn append(log: &PartitionLog, n: usize, durability: Durability) {
    for _ in 0..n {
        log.append_with(&[Record::new("v")], durability).unwrap();
    }
}

/// Kafka: `UnifiedLog.maybeIncrementLogStartOffset` sets the new start
/// through `updateLogStartOffset`, which calls
/// `LocalLog.updateRecoveryPoint(offset)` when the recovery point is below
/// it. DeleteRecords is such an increment. Here the records up to the new
/// start are also fsynced before the start is written, so the recovery
/// point it reaches is a true one (see the next test but one).
#[test]
fn raising_the_log_start_raises_the_recovery_point_below_it() {
    let fs = MemFs::new();
    let log = open(&fs);
    append(&log, 10, Durability::Flush); // handed to the OS, never fsynced
    assert_eq!(log.recovery_point(), 0);
    log.advance_log_start_offset(4).unwrap();
    assert_eq!(log.recovery_point(), 10, "synced up to the end first");
    append(&log, 5, Durability::Flush);
    assert_eq!(log.recovery_point(), 10);
    // A start at or below the recovery point needs no sync.
    log.advance_log_start_offset(7).unwrap();
    assert_eq!(log.recovery_point(), 10);
    // Lowering the start changes nothing.
    log.advance_log_start_offset(5).unwrap();
    assert_eq!((log.log_start_offset(), log.recovery_point()), (7, 10));
    log.advance_log_start_offset(12).unwrap();
    assert_eq!(log.recovery_point(), 15);
    log.close().unwrap();
}

/// Kafka: `UnifiedLog.deleteSegments` raises the start to the first
/// surviving segment with `maybeIncrementLogStartOffset(...,
/// SegmentDeletion)`, which raises the recovery point as above.
#[test]
fn retention_that_raises_the_log_start_raises_the_recovery_point() {
    let fs = MemFs::new();
    let log = open(&fs);
    for _ in 0..5 {
        append(&log, 2, Durability::Flush);
        log.roll().unwrap(); // sealed, not fsynced
    }
    append(&log, 2, Durability::Flush);
    assert_eq!(log.recovery_point(), 0);
    let policy = RetentionPolicy {
        retention_ms: None,
        retention_bytes: Some(1),
        delete_enabled: true,
    };
    let outcome = log.apply_retention(&policy).unwrap();
    assert_eq!(outcome.deleted.len(), 5);
    assert_eq!(outcome.log_start_offset, 10);
    assert_eq!(log.recovery_point(), 10);
    log.close().unwrap();
}

/// A start raised over records that were never fsynced makes them durable
/// first: a power loss then cannot leave the log ending below a start it
/// has on disk, which an open takes for damage (it reports it and serves
/// the log from its first segment, so that no record is hidden).
#[test]
fn a_start_raised_over_unsynced_records_survives_a_power_loss() {
    let fs = MemFs::new();
    let log = open(&fs);
    append(&log, 10, Durability::Flush);
    log.advance_log_start_offset(6).unwrap();
    assert_eq!(log.recovery_point(), 10);
    let crashed = fs.crash(CrashMode::DurableOnly);
    drop(log);

    let log = open(&crashed);
    assert!(log.recovery_report().checkpoint_mismatches.is_empty());
    assert_eq!(log.log_start_offset(), 6);
    assert_eq!(log.log_end_offset(), 10);
    log.append_with(&[Record::new("after")], Durability::Sync)
        .unwrap();
    assert_eq!(
        log.iter(6).map(|r| r.unwrap().offset).collect::<Vec<_>>(),
        [6, 7, 8, 9, 10]
    );
    log.close().unwrap();
}

/// Fails every rename of a segment file.
fn fail_segment_renames(fs: &MemFs) {
    fs.set_fault_hook(|call| {
        let name = call.path.file_name()?.to_str()?;
        (call.op == FsOp::Rename && name.starts_with(|c: char| c.is_ascii_digit()))
            .then_some(Fault::Error(io::ErrorKind::Other))
    });
}

/// A truncation below the log start moves the start down to the new end;
/// when it fails part-way (here renaming the segments it removes), the
/// log is poisoned and its start is still at or below its end, whichever
/// way the truncation goes: into a segment that stays, or below every
/// segment (the log then starts over).
#[test]
fn a_failed_truncation_below_the_log_start_leaves_the_start_at_or_below_the_end() {
    // Into the segment that straddles the start: segments 0 (0..=4) and
    // 5 (5..=9), the active one at 10, the start at 7.
    let fs = MemFs::new();
    let log = open(&fs);
    for _ in 0..2 {
        let batch: Vec<Record> = (0..5).map(|_| Record::new("v")).collect();
        log.append_with(&batch, Durability::Sync).unwrap();
        log.roll().unwrap();
    }
    assert_eq!(log.advance_log_start_offset(7).unwrap(), 1);
    fail_segment_renames(&fs);
    let r = log.truncate_to(6); // the batch 5..=9 goes: the end is 5
    fs.clear_fault_hook();
    assert!(matches!(r, Err(Error::Io { .. })), "{r:?}");
    assert!(log.is_poisoned());
    assert!(
        log.log_start_offset() <= log.log_end_offset(),
        "start {} above end {}",
        log.log_start_offset(),
        log.log_end_offset()
    );

    // Below the first segment: one record a segment, the start at 8.
    let fs = MemFs::new();
    let log = open(&fs);
    for _ in 0..10 {
        append(&log, 1, Durability::Sync);
        log.roll().unwrap();
    }
    assert_eq!(log.advance_log_start_offset(8).unwrap(), 8);
    fail_segment_renames(&fs);
    let r = log.truncate_to(3);
    fs.clear_fault_hook();
    assert!(matches!(r, Err(Error::Io { .. })), "{r:?}");
    assert!(log.is_poisoned());
    assert!(
        log.log_start_offset() <= log.log_end_offset(),
        "start {} above end {}",
        log.log_start_offset(),
        log.log_end_offset()
    );
}

/// A truncation below the log start leaves nothing readable (Kafka's
/// `UnifiedLog.truncateTo` lowers the start to the target). A power loss
/// at any of its fsyncs must not make records below the old start, which
/// DeleteRecords removed, readable again: the log comes back as it was, a
/// prefix of it, or empty.
#[test]
fn a_truncation_below_the_log_start_cut_by_a_power_loss_brings_back_no_deleted_record() {
    // Six single-record batches a segment: the start (16) and the
    // truncation (14) fall in the segment based at 12.
    let small = LogConfig {
        segment_bytes: 430,
        ..config()
    };
    let build = || {
        let fs = MemFs::new();
        let log = OpenOptions::new()
            .fs(fs.clone())
            .clock(ManualClock::new(1_000_000))
            .open(DIR, small.clone())
            .unwrap();
        append(&log, 40, Durability::Sync);
        log.advance_log_start_offset(16).unwrap();
        assert_eq!(log.segments()[0].base_offset, 12);
        (fs, log)
    };
    let (fs, log) = build();
    let before = fs.sync_count();
    log.truncate_to(14).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (14, 14));
    let syncs = fs.sync_count() - before;
    drop(log);
    for k in 0..=syncs {
        let (fs, log) = build();
        fs.freeze_after_syncs(fs.sync_count() + k);
        log.truncate_to(14).unwrap();
        let crashed = fs.crash(CrashMode::DurableOnly);
        drop(log);
        let log = OpenOptions::new()
            .fs(crashed)
            .clock(ManualClock::new(1_000_000))
            .open(DIR, small.clone())
            .unwrap();
        let start = log.log_start_offset();
        let offsets: Vec<u64> = log.iter(start).map(|r| r.unwrap().offset).collect();
        // The old log, or a prefix of it (the truncation removes from the
        // end), or nothing: never a record below the old start.
        let prefix = start == 16 && offsets == (16..16 + offsets.len() as u64).collect::<Vec<_>>();
        let empty = offsets.is_empty() && start >= 14;
        assert!(
            prefix || empty,
            "power cut after sync {k} of {syncs}: start {start}, end {}, records {offsets:?}, {:?}",
            log.log_end_offset(),
            log.recovery_report()
        );
    }
}

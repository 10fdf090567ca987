//! Maintenance at the `LogStore` level: `maintain()` and its report,
//! `delete_records`, `file.delete.delay.ms`, per-partition errors, and the
//! background maintenance thread.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use seglog::io::{Fault, FsOp, MemFs};
use seglog::store::{MaintenanceReport, StoreOptions};
use seglog::{Clock, Error, LogStore, ManualClock, ProducerRecord, TopicPartition};

mod common_store;
use common_store::*;

#[path = "store_maintenance/compaction.rs"]
mod compaction;
#[path = "store_maintenance/default_thread.rs"]
mod default_thread;

/// Partition 0 and 1 of `TOPIC` get 20 records stamped `T0`, then 5
/// stamped `T0 + 100 s`; with 1,000-byte segments of 5 records each, the
/// old records fill segments 0, 5, 10 and 15, and segment 20 is active.
/// A store with `TOPIC` of `partitions` partitions of 1,000-byte segments
/// kept for a minute, whose deleted files wait `delete_delay_ms`.
fn open_with_retention(
    fs: &MemFs,
    clock: &ManualClock,
    partitions: u32,
    delete_delay_ms: &str,
) -> LogStore {
    let store = open(fs, clock);
    store
        .create_topic(
            TOPIC,
            partitions,
            &[
                ("retention.ms", "60000"),
                ("segment.bytes", "1000"),
                ("file.delete.delay.ms", delete_delay_ms),
            ],
        )
        .unwrap();
    store
}

fn old_and_new(store: &LogStore, partitions: u32) {
    for p in 0..partitions {
        produce(store, TOPIC, p, 20, T0);
        produce(store, TOPIC, p, 5, T0 + 100_000);
        assert_eq!(
            bases(&store.partition(TOPIC, p).unwrap().segments()),
            [0, 5, 10, 15, 20],
            "partition {p}: records do not fill segments as this test expects"
        );
    }
}

fn sizes(store: &LogStore, p: u32) -> Vec<u64> {
    store
        .partition(TOPIC, p)
        .unwrap()
        .segments()
        .iter()
        .map(|s| s.size)
        .collect()
}

fn assert_no_errors(report: &MaintenanceReport) {
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

#[test]
fn maintain_deletes_expired_segments_and_reports_them() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 60_000);
    let store = open_with_retention(&fs, &clock, 2, "0");
    store.create_topic("other", 1, &[]).unwrap();
    produce(&store, "other", 0, 3, 0);
    old_and_new(&store, 2);
    let freed: u64 = (0..2)
        .map(|p| sizes(&store, p)[..4].iter().sum::<u64>())
        .sum();

    // The old records are exactly 60 s old: not expired yet (Kafka
    // compares strictly).
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(report.partitions, 3);
    assert_eq!(report.segments_deleted, 0);
    assert_eq!(report.bytes_freed, 0);
    assert_eq!(report.files_removed, 0);

    clock.set(T0 + 60_001);
    let segment_files = |p| {
        [".log", ".index", ".timeindex"]
            .iter()
            .map(|suffix| files(&fs, TOPIC, p, suffix).len())
            .sum::<usize>()
    };
    let files_before: usize = (0..2).map(segment_files).sum();
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(report.partitions, 3);
    assert_eq!(report.segments_deleted, 8);
    assert_eq!(report.bytes_freed, freed);
    // Without a delay the files go at once, and are counted.
    let files_after: usize = (0..2).map(segment_files).sum();
    assert_eq!(files_before - files_after, 8 * 3);
    assert_eq!(report.files_removed, 8 * 3);
    for p in 0..2 {
        let log = store.partition(TOPIC, p).unwrap();
        assert_eq!(log.log_start_offset(), 20);
        assert_eq!(log.log_end_offset(), 25);
        assert_eq!(bases(&log.segments()), [20]);
        assert!(files(&fs, TOPIC, p, ".deleted").is_empty());
        assert_eq!(
            files(&fs, TOPIC, p, ".log"),
            BTreeSet::from(["00000000000000000020.log".to_string()])
        );
        let first = log.iter(20).next().unwrap().unwrap();
        assert_eq!(first.offset, 20);
        assert_eq!(first.value, Some(value_for(p, 20, 100)));
        assert!(matches!(
            log.read(19, 1 << 20),
            Err(Error::OffsetOutOfRange { earliest: 20, .. })
        ));
    }
    // The default topic (7 days) keeps its records stamped at the epoch,
    // long expired: they are in the active segment, which never goes.
    assert_eq!(store.partition("other", 0).unwrap().log_start_offset(), 0);
    let d = store.describe_topic(TOPIC).unwrap();
    assert!(d
        .partitions
        .iter()
        .all(|p| p.log_start_offset == 20 && p.segments == 1));

    // A second pass finds nothing to do.
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(
        (
            report.segments_deleted,
            report.bytes_freed,
            report.files_removed
        ),
        (0, 0, 0)
    );

    // The new start survives a reopen.
    store.close().unwrap();
    assert!(matches!(store.maintain(), Err(Error::StoreClosed { .. })));
    drop(store);
    let store = open(&fs, &clock);
    for p in 0..2 {
        assert_eq!(store.partition(TOPIC, p).unwrap().log_start_offset(), 20);
    }
    store.close().unwrap();
}

#[test]
fn deleted_files_stay_until_the_delay_passes() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 100_000);
    let store = open_with_retention(&fs, &clock, 2, "30000");
    old_and_new(&store, 2);
    let freed: u64 = (0..2)
        .map(|p| sizes(&store, p)[..4].iter().sum::<u64>())
        .sum();

    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(report.segments_deleted, 8);
    assert_eq!(report.bytes_freed, freed);
    assert_eq!(report.files_removed, 0);
    let mut waiting = 0;
    for p in 0..2 {
        assert_eq!(deleted_bases(&fs, TOPIC, p), BTreeSet::from([0, 5, 10, 15]));
        // .log, .index and .timeindex of each (whichever exist).
        let renamed = files(&fs, TOPIC, p, ".deleted");
        assert!(renamed.len() >= 4, "{renamed:?}");
        waiting += renamed.len();
        assert_eq!(files(&fs, TOPIC, p, ".log").len(), 1);
        assert_eq!(store.partition(TOPIC, p).unwrap().log_start_offset(), 20);
    }

    // Not yet due.
    clock.advance(29_999);
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!((report.segments_deleted, report.files_removed), (0, 0));
    assert_eq!(deleted_bases(&fs, TOPIC, 0).len(), 4);

    // Due now: the next pass removes them all.
    clock.advance(1);
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(report.segments_deleted, 0);
    assert_eq!(report.files_removed, waiting);
    for p in 0..2 {
        assert!(files(&fs, TOPIC, p, ".deleted").is_empty());
    }
    let report = store.maintain().unwrap();
    assert_eq!(report.files_removed, 0);

    // delete_records goes through the same delay.
    produce(&store, TOPIC, 0, 10, clock.now_ms());
    let segs = bases(&store.partition(TOPIC, 0).unwrap().segments());
    assert_eq!(segs, [20, 25, 30]);
    assert_eq!(store.delete_records(TOPIC, 0, 31).unwrap(), 31);
    assert_eq!(deleted_bases(&fs, TOPIC, 0), BTreeSet::from([20, 25]));
    clock.advance(30_000);
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert!(report.files_removed >= 2);
    assert!(deleted_bases(&fs, TOPIC, 0).is_empty());
    store.close().unwrap();
}

#[test]
fn pending_deleted_files_are_removed_by_close() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 100_000);
    let store = open_with_retention(&fs, &clock, 1, "3600000");
    old_and_new(&store, 1);
    assert_eq!(store.maintain().unwrap().segments_deleted, 4);
    assert_eq!(deleted_bases(&fs, TOPIC, 0).len(), 4);
    store.close().unwrap();
    assert!(files(&fs, TOPIC, 0, ".deleted").is_empty());
    drop(store);
    let store = open(&fs, &clock);
    assert_eq!(store.partition(TOPIC, 0).unwrap().log_start_offset(), 20);
    store.close().unwrap();
}

#[test]
fn maintain_applies_retention_bytes_by_kafkas_rule() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    store
        .create_topic(
            TOPIC,
            1,
            &[
                ("retention.ms", "-1"),
                ("retention.bytes", "2500"),
                ("segment.bytes", "1000"),
                ("file.delete.delay.ms", "0"),
            ],
        )
        .unwrap();
    produce(&store, TOPIC, 0, 30, T0);
    let before = store.partition(TOPIC, 0).unwrap().segments();
    assert_eq!(bases(&before), [0, 5, 10, 15, 20, 25]);
    let total: u64 = before.iter().map(|s| s.size).sum();
    assert!(total >= 2_500);
    // Delete the oldest while each fits in what is over the limit.
    let mut excess = total - 2_500;
    let mut expect = 0;
    for s in &before[..before.len() - 1] {
        if s.size > excess {
            break;
        }
        excess -= s.size;
        expect += 1;
    }
    assert!(expect > 0);

    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(report.partitions, 1);
    assert_eq!(report.segments_deleted, expect);
    assert_eq!(
        report.bytes_freed,
        before[..expect].iter().map(|s| s.size).sum::<u64>()
    );
    let log = store.partition(TOPIC, 0).unwrap();
    let after = log.segments();
    assert_eq!(after, before[expect..]);
    let size = log.size_bytes();
    assert!(size >= 2_500, "{size}");
    assert!(size < 2_500 + after[0].size, "{size}");
    assert_eq!(log.log_start_offset(), after[0].base_offset);
    assert_eq!(log.log_end_offset(), 30);
    // Idempotent.
    assert_eq!(store.maintain().unwrap().segments_deleted, 0);

    // A limit of 0 leaves only the active segment.
    drop(log);
    store.close().unwrap();
    drop(store);
    let store = open(&fs, &clock);
    store
        .create_topic(
            "zero",
            1,
            &[("retention.bytes", "0"), ("segment.bytes", "1000")],
        )
        .unwrap();
    produce(&store, "zero", 0, 12, clock.now_ms());
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(report.segments_deleted, 2);
    let log = store.partition("zero", 0).unwrap();
    assert_eq!(bases(&log.segments()), [10]);
    assert_eq!(log.log_start_offset(), 10);
    assert_eq!(log.iter(10).count(), 2);
    store.close().unwrap();
}

#[test]
fn delete_records_refuses_offsets_past_the_high_watermark() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    store
        .create_topic(TOPIC, 2, &[("segment.bytes", "1000")])
        .unwrap();
    produce(&store, TOPIC, 0, 12, T0);
    assert!(matches!(
        store.delete_records(TOPIC, 0, 13),
        Err(Error::OffsetOutOfRange {
            requested: 13,
            earliest: 0,
            latest: 12
        })
    ));
    assert!(matches!(
        store.delete_records(TOPIC, 1, 1),
        Err(Error::OffsetOutOfRange {
            requested: 1,
            earliest: 0,
            latest: 0
        })
    ));
    assert!(matches!(
        store.delete_records(TOPIC, 2, 0),
        Err(Error::UnknownPartition { partition: 2, .. })
    ));
    assert!(matches!(
        store.delete_records("nope", 0, 0),
        Err(Error::UnknownTopic { .. })
    ));
    assert_eq!(store.delete_records(TOPIC, 1, 0).unwrap(), 0);
    assert_eq!(store.delete_records(TOPIC, 0, 7).unwrap(), 7);
    // Never moves back.
    assert_eq!(store.delete_records(TOPIC, 0, 3).unwrap(), 7);
    let log = store.partition(TOPIC, 0).unwrap();
    assert_eq!(bases(&log.segments()), [5, 10]);
    // Up to the high watermark itself: everything but the active segment
    // goes, and the log reads empty until the next append.
    assert_eq!(store.delete_records(TOPIC, 0, 12).unwrap(), 12);
    assert_eq!(bases(&log.segments()), [10]);
    assert!(log.read(12, 1 << 20).unwrap().is_empty());
    assert!(matches!(
        log.read(11, 1 << 20),
        Err(Error::OffsetOutOfRange { earliest: 12, .. })
    ));
    let last = produce(&store, TOPIC, 0, 1, T0);
    assert_eq!(last, 12);
    let r = log.iter(12).next().unwrap().unwrap();
    assert_eq!(r.value, Some(value_for(0, 12, 100)));
    store.close().unwrap();
}

/// A fault in one partition is reported for that partition; the pass goes
/// on with the others.
#[test]
fn a_failing_partition_is_reported_and_the_others_are_maintained() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 100_000);
    let store = open_with_retention(&fs, &clock, 3, "0");
    old_and_new(&store, 3);
    // Renaming a segment of partition 1 to `.deleted` fails.
    let sick = partition_dir(TOPIC, 1);
    fs.set_fault_hook(move |call| {
        (call.op == FsOp::Rename
            && call.path.parent() == Some(sick.as_path())
            && call.path.extension().is_some_and(|e| e == "log"))
        .then_some(Fault::Error(std::io::ErrorKind::Other))
    });

    let report = store.maintain().unwrap();
    assert_eq!(report.partitions, 3);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(report.errors[0].partition, TopicPartition::new(TOPIC, 1));
    assert!(
        matches!(report.errors[0].error, Error::Io { .. }),
        "{:?}",
        report.errors[0].error
    );
    // Partitions 0 and 2 (before and after the failing one) were done.
    assert_eq!(report.segments_deleted, 8);
    for p in [0, 2] {
        let log = store.partition(TOPIC, p).unwrap();
        assert_eq!(log.log_start_offset(), 20);
        assert_eq!(bases(&log.segments()), [20]);
    }
    // Partition 1 still serves every record from its log start.
    let log1 = store.partition(TOPIC, 1).unwrap();
    let start = log1.log_start_offset();
    assert_eq!(log1.iter(start).count() as u64, 25 - start);
    assert_eq!(log1.log_end_offset(), 25);

    // The others keep being maintained while partition 1 is broken.
    fs.clear_fault_hook();
    clock.advance(1_000_000);
    let report = store.maintain().unwrap();
    assert!(
        report
            .errors
            .iter()
            .all(|e| e.partition == TopicPartition::new(TOPIC, 1)),
        "{:?}",
        report.errors
    );
    assert_eq!(report.partitions, 3);
    let _ = store.close();
    drop(log1);
    drop(store);

    // Reopened, partition 1 has lost nothing at or above its start, and
    // retention finishes there.
    let store = open(&fs, &clock);
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    for p in 0..3 {
        let log = store.partition(TOPIC, p).unwrap();
        assert_eq!(log.log_end_offset(), 25);
        assert_eq!(log.log_start_offset(), 20, "partition {p}");
        assert_eq!(bases(&log.segments()), [20], "partition {p}");
        assert_eq!(files(&fs, TOPIC, p, ".log").len(), 1, "partition {p}");
        assert!(files(&fs, TOPIC, p, ".deleted").is_empty());
        let values: Vec<_> = log.iter(20).map(|r| r.unwrap().value.unwrap()).collect();
        assert_eq!(
            values,
            (20..25).map(|o| value_for(p, o, 100)).collect::<Vec<_>>()
        );
    }
    store.close().unwrap();
}

#[test]
fn a_failed_checkpoint_write_is_reported_as_a_store_wide_error() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 100_000);
    let store = open_with_retention(&fs, &clock, 2, "0");
    old_and_new(&store, 2);
    fs.set_fault_hook(|call| {
        (call.op == FsOp::Open
            && call.path.parent() == Some(Path::new(ROOT))
            && call.path.file_name().is_some_and(|n| {
                n.to_string_lossy()
                    .starts_with("recovery-point-offset-checkpoint")
            }))
        .then_some(Fault::Error(std::io::ErrorKind::Other))
    });
    let report = store.maintain().unwrap();
    // Retention was done everywhere; only the root checkpoints failed,
    // reported once, under no topic.
    assert_eq!(report.partitions, 2);
    assert_eq!(report.segments_deleted, 8);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(report.errors[0].partition, TopicPartition::new("", 0));
    assert!(matches!(report.errors[0].error, Error::Io { .. }));
    fs.clear_fault_hook();
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    store.close().unwrap();
    drop(store);
    let store = open(&fs, &clock);
    for p in 0..2 {
        assert_eq!(store.partition(TOPIC, p).unwrap().log_start_offset(), 20);
    }
    store.close().unwrap();
}

/// `files_removed` counts the files a pass did remove even when a later
/// removal in the same partition fails (the partition's error is
/// reported); the next pass removes and counts only what was left.
#[test]
fn files_removed_counts_what_went_even_when_a_removal_fails() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 100_000);
    let store = open_with_retention(&fs, &clock, 1, "1000");
    old_and_new(&store, 1);
    // Two deletions waiting: segment 0 (delete_records), then 5, 10 and
    // 15 (retention).
    assert_eq!(store.delete_records(TOPIC, 0, 5).unwrap(), 5);
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(report.segments_deleted, 3);
    let waiting = files(&fs, TOPIC, 0, ".deleted");
    assert_eq!(deleted_bases(&fs, TOPIC, 0), BTreeSet::from([0, 5, 10, 15]));

    clock.advance(1_000);
    fs.set_fault_hook(|call| {
        (call.op == FsOp::RemoveFile
            && call
                .path
                .to_string_lossy()
                .ends_with("00000000000000000010.index.deleted"))
        .then_some(Fault::Error(std::io::ErrorKind::Other))
    });
    let first = store.maintain().unwrap();
    assert_eq!(first.errors.len(), 1, "{:?}", first.errors);
    assert_eq!(first.errors[0].partition, TopicPartition::new(TOPIC, 0));
    let removed_by_first = waiting.len() - files(&fs, TOPIC, 0, ".deleted").len();
    fs.clear_fault_hook();
    let second = store.maintain().unwrap();
    assert_no_errors(&second);
    assert!(files(&fs, TOPIC, 0, ".deleted").is_empty());
    assert_eq!(
        first.files_removed + second.files_removed,
        waiting.len(),
        "{} files were removed ({} by the failing pass, which reports {}), \
         but the two passes report {} + {}",
        waiting.len(),
        removed_by_first,
        first.files_removed,
        first.files_removed,
        second.files_removed
    );
    store.close().unwrap();
}

// ---------------------------------------------------------------------
// The background thread
// ---------------------------------------------------------------------

/// Polls `f` every few milliseconds until it returns `Some`, for at most
/// ten seconds.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn background_maintenance_runs_and_close_stops_it() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 60_000);
    let store = open_with_retention(&fs, &clock, 2, "0");
    old_and_new(&store, 2);
    // Nothing has expired: passes run but delete nothing.
    assert!(store.last_maintenance_report().is_none());
    store.start_maintenance(Duration::from_millis(20)).unwrap();
    let report = eventually("a report", || store.last_maintenance_report());
    assert_eq!(report.partitions, 2);
    assert_no_errors(&report);
    assert_eq!(report.segments_deleted, 0);
    // Taken: gone until the next pass.
    assert_eq!(store.partition(TOPIC, 0).unwrap().log_start_offset(), 0);

    // Time passes: the thread applies retention on its own.
    clock.set(T0 + 60_001);
    eventually("retention", || {
        (0..2)
            .all(|p| store.partition(TOPIC, p).unwrap().log_start_offset() == 20)
            .then_some(())
    });
    let report = eventually("a report", || store.last_maintenance_report());
    assert_no_errors(&report);
    assert_eq!(report.partitions, 2);
    for p in 0..2 {
        assert_eq!(bases(&store.partition(TOPIC, p).unwrap().segments()), [20]);
    }

    let started = Instant::now();
    store.close().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "close took {:?}",
        started.elapsed()
    );
    assert!(matches!(
        store.start_maintenance(Duration::from_millis(20)),
        Err(Error::StoreClosed { .. })
    ));
    assert!(matches!(store.maintain(), Err(Error::StoreClosed { .. })));
    // No pass runs after close.
    let _ = store.last_maintenance_report();
    std::thread::sleep(Duration::from_millis(60));
    assert!(store.last_maintenance_report().is_none());
}

#[test]
fn close_does_not_wait_for_a_long_interval() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    store.create_topic(TOPIC, 1, &[]).unwrap();
    store.start_maintenance(Duration::from_secs(60)).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(store.last_maintenance_report().is_none());
    let started = Instant::now();
    store.close().unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "close took {took:?}");
    // Closing again is a no-op.
    store.close().unwrap();
}

#[test]
fn starting_again_replaces_the_interval() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    store.create_topic(TOPIC, 1, &[]).unwrap();
    store.start_maintenance(Duration::from_secs(60)).unwrap();
    let started = Instant::now();
    store.start_maintenance(Duration::from_millis(10)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    let report = eventually("a report", || store.last_maintenance_report());
    assert_eq!(report.partitions, 1);
    let started = Instant::now();
    store.close().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn dropping_the_store_without_close_stops_the_thread() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    {
        let store = open(&fs, &clock);
        store.create_topic(TOPIC, 2, &[]).unwrap();
        store.close().unwrap();
    }
    // A long interval (the thread waits), then short ones (the drop may
    // race with a pass, which then holds the last handle).
    let intervals = [60_000, 1, 1, 2, 3, 5, 1, 1];
    for (i, ms) in intervals.into_iter().enumerate() {
        let (tx, rx) = mpsc::channel();
        let (fs2, clock2) = (fs.clone(), clock.clone());
        let worker = std::thread::spawn(move || {
            let store = open(&fs2, &clock2);
            store.start_maintenance(Duration::from_millis(ms)).unwrap();
            std::thread::sleep(Duration::from_millis(i as u64 % 4));
            let producer = store.producer(Default::default());
            let _ = producer
                .send(ProducerRecord::new(TOPIC, "x").with_partition(0))
                .unwrap();
            drop(producer);
            let started = Instant::now();
            drop(store);
            tx.send(started.elapsed()).unwrap();
        });
        let took = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("dropping the store hung (interval {ms} ms)"));
        assert!(took < Duration::from_secs(2), "drop took {took:?}");
        worker.join().unwrap();
        // The directory is released and was closed cleanly.
        let store = StoreOptions::new()
            .fs(fs.clone())
            .clock(clock.clone())
            .open(ROOT, store_config())
            .unwrap_or_else(|e| panic!("reopen after drop (interval {ms} ms): {e}"));
        assert!(store.open_report().clean_shutdown, "interval {ms} ms");
        assert_eq!(
            store.partition(TOPIC, 0).unwrap().log_end_offset(),
            i as u64 + 1
        );
        store.close().unwrap();
    }
}

#[test]
fn background_maintenance_with_the_system_clock() {
    let now_ms = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let store = StoreOptions::new()
        .fs(MemFs::new())
        .open(ROOT, store_config())
        .unwrap();
    store
        .create_topic(
            TOPIC,
            1,
            &[
                ("retention.ms", "3600000"),
                ("segment.bytes", "1000"),
                ("file.delete.delay.ms", "0"),
            ],
        )
        .unwrap();
    produce(&store, TOPIC, 0, 20, now_ms() - 2 * 3_600_000);
    produce(&store, TOPIC, 0, 3, now_ms());
    let log = store.partition(TOPIC, 0).unwrap();
    assert_eq!(bases(&log.segments()), [0, 5, 10, 15, 20]);
    store.start_maintenance(Duration::from_millis(10)).unwrap();
    eventually("retention", || (log.log_start_offset() == 20).then_some(()));
    let report = eventually("a report", || store.last_maintenance_report());
    assert_no_errors(&report);
    assert_eq!(bases(&log.segments()), [20]);
    assert_eq!(log.iter(20).count(), 3);
    let started = Instant::now();
    store.close().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// Dropping the last `LogStore` handle while a background pass runs
/// waits for the pass and closes the store before `drop` returns (the
/// pass holds the store itself, not an application handle): opening the
/// directory again at once succeeds.
#[test]
fn dropping_the_store_during_a_background_pass_releases_it_at_once() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    store.create_topic(TOPIC, 1, &[]).unwrap();
    // Hold the next pass in its checkpoint write for a while, and say so.
    let armed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<()>();
    let tx = std::sync::Mutex::new(tx);
    let hook_armed = armed.clone();
    fs.set_fault_hook(move |call| {
        if call.op == FsOp::Rename && hook_armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let _ = tx.lock().unwrap().send(());
            std::thread::sleep(Duration::from_millis(300));
        }
        None
    });
    store.start_maintenance(Duration::from_millis(1)).unwrap();
    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    rx.recv_timeout(Duration::from_secs(10))
        .expect("no maintenance pass ran");
    // A pass is running. Drop the only handle the application has.
    drop(store);
    let reopened = StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(ROOT, store_config());
    let result = reopened.as_ref().map(|_| ()).map_err(|e| e.to_string());
    // Let the maintenance thread finish its close before the test ends.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        result.is_ok(),
        "the store was still open after its last handle was dropped: {result:?}"
    );
}

/// Maintenance of a store nothing was written to since a clean reopen
/// changes nothing, so it syncs nothing per partition (the partitions'
/// clean-shutdown markers stay, and no directory is fsynced for them).
#[test]
fn maintaining_an_idle_store_syncs_nothing_per_partition() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    store
        .create_topic(TOPIC, 50, &[("retention.ms", "60000")])
        .unwrap();
    store.close().unwrap();
    drop(store);
    let store = open(&fs, &clock);
    clock.advance(3_600_000);
    let before = fs.sync_count();
    let report = store.maintain().unwrap();
    assert_eq!(report.partitions, 50);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let syncs = fs.sync_count() - before;
    // The two root checkpoint files, each written durably.
    assert!(syncs <= 4, "{syncs} syncs for an idle store");
    store.close().unwrap();
    drop(store);
    let store = open(&fs, &clock);
    assert!(store.open_report().clean_shutdown);
}

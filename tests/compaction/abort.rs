//! A round that loses a race: a truncation or a deletion that removes
//! (or cuts) a segment of the round while the round writes its `.cleaned`
//! files aborts it, changing nothing. The race is made deterministic by a
//! fault hook that runs the truncation or deletion from inside the
//! round's first write of a `.cleaned` file (the round does not hold the
//! writer lock then).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use seglog::io::{FsOp, MemFs};
use seglog::retention::RetentionPolicy;
use seglog::{ManualClock, PartitionLog, Record};

use crate::common_crash::{dir, file_names};
use crate::helpers::*;

type Rec = (u64, String, Option<String>);

/// Three closed segments of five one-record batches each (offsets 0-4,
/// 5-9, 10-14; keys k0 to k2, a tombstone among them) and one record
/// (15) in the active segment.
fn three_segments(fs: &MemFs, clock: &ManualClock) -> PartitionLog {
    let log = open_log(fs, clock, &config());
    for o in 0..15u64 {
        let value = (o != 7).then(|| format!("v{o}"));
        put(&log, &format!("k{}", o % 3), value.as_deref(), 10);
        if o % 5 == 4 {
            log.roll().unwrap();
        }
    }
    put(&log, "k9", Some("active"), 10);
    log.sync().unwrap();
    log
}

/// Runs `action` on the log once, from inside the round's first write of
/// a `.cleaned` file.
fn when_the_round_writes(
    fs: &MemFs,
    log: &PartitionLog,
    action: impl Fn(&PartitionLog) + Send + Sync + 'static,
) -> Arc<AtomicBool> {
    let fired = Arc::new(AtomicBool::new(false));
    let (flag, log) = (fired.clone(), log.clone());
    fs.set_fault_hook(move |call| {
        let cleaned = call.path.to_string_lossy().ends_with(".log.cleaned");
        if call.op == FsOp::Write && cleaned && !flag.swap(true, Ordering::SeqCst) {
            action(&log);
        }
        None
    });
    fired
}

fn leftovers(fs: &MemFs) -> Vec<String> {
    let mut left = file_names(fs, ".cleaned");
    left.extend(file_names(fs, ".swap"));
    left.extend(file_names(fs, ".deleted"));
    left
}

fn table_of(rs: &[Rec]) -> std::collections::BTreeMap<String, String> {
    let mut t = std::collections::BTreeMap::new();
    for (_, k, v) in rs {
        match v {
            Some(v) => t.insert(k.clone(), v.clone()),
            None => t.remove(k),
        };
    }
    t
}

/// The round aborted and left the log as `action` made it: no leftovers,
/// `expected` records, the checkpoint unchanged; then a record appended
/// at the end reads back, and the next round cleans, also after a reopen.
fn check_aborted(
    fs: &MemFs,
    clock: &ManualClock,
    log: PartitionLog,
    fired: &AtomicBool,
    out: &seglog::compaction::CompactionOutcome,
    expected: &[Rec],
) {
    fs.clear_fault_hook();
    assert!(fired.load(Ordering::SeqCst), "the hook ran");
    assert!(out.aborted, "{out:?}");
    assert_eq!(out.end_offset, out.first_dirty_offset, "{out:?}");
    assert_eq!(out.segments_written, 0, "{out:?}");
    assert_eq!(leftovers(fs), Vec::<String>::new());
    assert_eq!(records(&log), expected);
    assert_eq!(
        log.cleaner_checkpoint(),
        None,
        "the checkpoint is unchanged"
    );
    // Appends go on where the log ends, into files that are the log's.
    let leo = log.log_end_offset();
    assert_eq!(put(&log, "k1", Some("after"), 20), leo);
    let mut expected = expected.to_vec();
    expected.push((leo, "k1".into(), Some("after".into())));
    assert_eq!(records(&log), expected);
    log.close().unwrap();
    seglog::inspect::verify_partition_dir_with(fs, dir()).unwrap();
    let log = open_log(fs, clock, &config());
    assert_eq!(records(&log), expected, "reopened");
    // The next round works.
    log.roll().unwrap();
    let out = log.compact(20).unwrap();
    assert!(!out.aborted && out.segments_written > 0, "{out:?}");
    assert_eq!(table(&log), table_of(&expected));
    assert_eq!(log.cleaner_checkpoint(), Some(out.end_offset));
    assert_eq!(leftovers(fs), Vec::<String>::new());
    log.close().unwrap();
    seglog::inspect::verify_partition_dir_with(fs, dir()).unwrap();
}

/// A round of [`three_segments`] during which the log is truncated to
/// `offset` aborts, leaving the records below `offset`.
fn check_truncation_to_aborts(offset: u64) {
    let fs = MemFs::new();
    let clock = ManualClock::new(10);
    let log = three_segments(&fs, &clock);
    let before = records(&log);
    let fired = when_the_round_writes(&fs, &log, move |log| log.truncate_to(offset).unwrap());
    let out = log.compact(10).unwrap();
    let expected: Vec<Rec> = before.into_iter().filter(|r| r.0 < offset).collect();
    check_aborted(&fs, &clock, log, &fired, &out, &expected);
}

#[test]
fn a_truncation_that_deletes_a_segment_of_the_round_aborts_it() {
    // Into the second segment: the third one goes.
    check_truncation_to_aborts(7);
}

/// A truncation into the last segment of the round deletes no segment of
/// it, but cuts that one (which becomes the active segment again). The
/// round must not swap its old contents back in. (It did: the records
/// truncated came back, and appends went to the replaced segment's
/// renamed file.)
#[test]
fn a_truncation_into_the_last_segment_of_the_round_aborts_it() {
    check_truncation_to_aborts(12);
}

/// The same, with the cut segment filled up again and rolled before the
/// round swaps: it is sealed again, with the same size, but other records.
#[test]
fn a_truncation_refilled_and_rolled_during_the_round_aborts_it() {
    let fs = MemFs::new();
    let clock = ManualClock::new(10);
    let log = three_segments(&fs, &clock);
    let before = records(&log);
    let fired = when_the_round_writes(&fs, &log, |log| {
        log.truncate_to(12).unwrap();
        for o in 12..15u64 {
            // Same sizes as the records cut.
            let r = Record::new(format!("w{o}"))
                .with_key(format!("k{}", o % 3))
                .with_timestamp(10);
            log.append(&[r]).unwrap();
        }
        log.roll().unwrap();
    });
    let out = log.compact(10).unwrap();
    let mut expected: Vec<Rec> = before.into_iter().filter(|r| r.0 < 12).collect();
    for o in 12..15u64 {
        expected.push((o, format!("k{}", o % 3), Some(format!("w{o}"))));
    }
    check_aborted(&fs, &clock, log, &fired, &out, &expected);
}

/// A truncation into a closed segment while the round's map pass walks
/// the segments through memory maps of their files waits for the pass (a
/// file shrinking under a map would kill the process), which stops after
/// the batch it is on; the round aborts before it writes anything.
#[test]
fn a_truncation_during_the_map_pass_stops_it_and_aborts_the_round() {
    let fs = MemFs::new();
    let clock = ManualClock::new(10);
    let log = three_segments(&fs, &clock);
    let before = records(&log);
    let fired = Arc::new(AtomicBool::new(false));
    let persisted = Arc::new(AtomicBool::new(false));
    let truncation: Arc<Mutex<Option<JoinHandle<seglog::Result<()>>>>> = Arc::default();
    let (flag, cut, running, cutter) = (
        fired.clone(),
        persisted.clone(),
        truncation.clone(),
        log.clone(),
    );
    fs.set_fault_hook(move |call| {
        let path = call.path.to_string_lossy();
        if call.op == FsOp::Write && path.contains("seglog.checkpoint") {
            cut.store(true, Ordering::SeqCst);
        }
        // The map pass maps the second segment: a truncation into it
        // starts on another thread (the pass holds what it waits for).
        if call.op == FsOp::Map
            && path.ends_with("00000000000000000005.log")
            && !flag.swap(true, Ordering::SeqCst)
        {
            let log = cutter.clone();
            *running.lock().unwrap() = Some(std::thread::spawn(move || log.truncate_to(7)));
            // It persists its new end, then waits for the pass.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !cut.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    });
    let out = log.compact(10).unwrap();
    let truncated = truncation
        .lock()
        .unwrap()
        .take()
        .expect("the truncation ran");
    truncated.join().unwrap().unwrap();
    // Stopped in the map pass: the rewrite read nothing.
    assert_eq!(out.records_read, 0, "{out:?}");
    let expected: Vec<Rec> = before.into_iter().filter(|r| r.0 < 7).collect();
    check_aborted(&fs, &clock, log, &fired, &out, &expected);
}

#[test]
fn deleting_segments_below_a_new_log_start_aborts_the_round() {
    let fs = MemFs::new();
    let clock = ManualClock::new(10);
    let log = three_segments(&fs, &clock);
    let before = records(&log);
    let fired = when_the_round_writes(&fs, &log, |log| {
        assert_eq!(log.advance_log_start_offset(5).unwrap(), 1);
    });
    let out = log.compact(10).unwrap();
    let expected: Vec<Rec> = before.into_iter().filter(|r| r.0 >= 5).collect();
    check_aborted(&fs, &clock, log, &fired, &out, &expected);
}

#[test]
fn retention_deleting_a_segment_of_the_round_aborts_it() {
    let fs = MemFs::new();
    let clock = ManualClock::new(10);
    let log = three_segments(&fs, &clock);
    let before = records(&log);
    let first = log.segments()[0].size;
    let fired = when_the_round_writes(&fs, &log, move |log| {
        let total: u64 = log.segments().iter().map(|s| s.size).sum();
        let policy = RetentionPolicy {
            retention_ms: None,
            retention_bytes: Some(total - first),
            delete_enabled: true,
        };
        assert_eq!(log.apply_retention(&policy).unwrap().deleted.len(), 1);
    });
    let out = log.compact(10).unwrap();
    let expected: Vec<Rec> = before.into_iter().filter(|r| r.0 >= 5).collect();
    check_aborted(&fs, &clock, log, &fired, &out, &expected);
}

/// A truncation below the cleaner checkpoint lowers it: the records
/// appended after it are dirty, so a tombstone among them is mapped (and
/// the value it deletes removed) before it may go. (The checkpoint stayed
/// above the truncation: once the log grew past it again, the tombstone
/// counted as clean, went at its horizon, and the deleted value came
/// back.)
#[test]
fn a_truncation_below_the_cleaner_checkpoint_lowers_it() {
    let fs = MemFs::new();
    let clock = ManualClock::new(10);
    let config = seglog::LogConfig {
        delete_retention_ms: 100,
        ..config()
    };
    let log = open_log(&fs, &clock, &config);
    put(&log, "a", Some("1"), 10);
    put(&log, "b", Some("1"), 10);
    put(&log, "c", Some("1"), 10);
    log.roll().unwrap();
    assert_eq!(log.compact(10).unwrap().end_offset, 3);
    log.truncate_to(1).unwrap();
    assert!(
        log.cleaner_checkpoint().is_none_or(|c| c <= 1),
        "checkpoint {:?} above the log end 1",
        log.cleaner_checkpoint()
    );
    put(&log, "a", None, 10);
    for k in ["d", "e", "f"] {
        put(&log, k, Some("1"), 10);
    }
    log.roll().unwrap();
    log.compact(10).unwrap();
    put(&log, "g", Some("1"), 10);
    log.roll().unwrap();
    log.compact(1_000).unwrap();
    assert_eq!(table(&log).get("a"), None, "{:?}", records(&log));
    log.close().unwrap();
    let log = open_log(&fs, &clock, &config);
    assert_eq!(table(&log).get("a"), None, "{:?}", records(&log));
}

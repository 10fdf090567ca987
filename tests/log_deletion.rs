//! Deleting segments below the log start without holding up the writer:
//! the renames, the directory fsync and the removals happen outside the
//! writer lock, one directory fsync covers all the renames of a deletion,
//! a truncation never has a new segment's files renamed from under it,
//! and a crash part-way leaves a consistent log.

#[path = "log_deletion/log_start.rs"]
mod log_start;

mod common_crash;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common_crash::file_names;
use seglog::io::{CrashMode, Fs, FsCall, FsOp, MemFs};
use seglog::retention::RetentionPolicy;
use seglog::{Error, LogConfig, ManualClock, OpenOptions, PartitionLog, Record};

const DIR: &str = "/data/t-0";

/// How long a blocked file-system call waits before it gives up (only a
/// broken implementation makes it wait that long).
const PATIENCE: Duration = Duration::from_secs(5);

/// Small preallocated indexes: many segments stay cheap in memory.
fn config() -> LogConfig {
    LogConfig {
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

fn open(fs: &MemFs, delay_ms: u64) -> PartitionLog {
    OpenOptions::new()
        .fs(fs.clone())
        .clock(ManualClock::new(1_000_000))
        .file_delete_delay_ms(delay_ms)
        .open(DIR, config())
        .unwrap()
}

/// One record per segment: segment `i` holds offset `i`; `n` closed
/// segments and an empty active one at `n`.
fn one_record_segments(log: &PartitionLog, n: u64) {
    for i in 0..n {
        log.append(&[Record::new(format!("record {i}"))]).unwrap();
        log.roll().unwrap();
    }
    assert_eq!(log.segments().len() as u64, n + 1);
}

/// Whether the call is on one of the segment files (named by a base
/// offset) rather than on the checkpoint or the directory.
fn on_segment_file(call: &FsCall<'_>) -> bool {
    call.path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
}

/// Blocks the deletion of 15 segments at its first call that `blocks`
/// picks, appends from this thread meanwhile, and checks the append did
/// not have to wait for the deletion.
fn append_completes_while_a_deletion_is_blocked(what: &str, blocks: fn(&FsCall<'_>, bool) -> bool) {
    let fs = MemFs::new();
    let log = open(&fs, 0);
    one_record_segments(&log, 16);
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let timed_out = Arc::new(AtomicBool::new(false));
    let fired = AtomicBool::new(false);
    let renamed = AtomicBool::new(false);
    let gave_up = timed_out.clone();
    fs.set_fault_hook(move |call| {
        if call.op == FsOp::Rename && on_segment_file(call) {
            renamed.store(true, Ordering::SeqCst);
        }
        if blocks(call, renamed.load(Ordering::SeqCst)) && !fired.swap(true, Ordering::SeqCst) {
            let _ = entered_tx.send(());
            let released = release_rx.lock().unwrap().recv_timeout(PATIENCE);
            gave_up.store(released.is_err(), Ordering::SeqCst);
        }
        None
    });

    let deleter = {
        let log = log.clone();
        thread::spawn(move || log.advance_log_start_offset(15))
    };
    entered_rx
        .recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("the deletion never reached its {what}"));
    // The deletion is stuck in its first {what}: an append must go through.
    let info = log.append(&[Record::new("during the deletion")]).unwrap();
    let _ = release_tx.send(());
    assert_eq!(deleter.join().unwrap().unwrap(), 15);
    fs.clear_fault_hook();
    assert!(
        !timed_out.load(Ordering::SeqCst),
        "the append waited for the deletion's {what}: it runs under the writer lock"
    );
    assert_eq!(info.first_offset, 16);
    assert_eq!(log.log_start_offset(), 15);
    let bases: Vec<u64> = log.segments().iter().map(|s| s.base_offset).collect();
    assert_eq!(bases, [15, 16]);
    assert_eq!(
        file_names(&fs, ".log"),
        ["00000000000000000015.log", "00000000000000000016.log"]
    );
    assert!(file_names(&fs, ".deleted").is_empty());
    let offsets: Vec<u64> = log.iter(15).map(|r| r.unwrap().offset).collect();
    assert_eq!(offsets, [15, 16]);
}

#[test]
fn appends_do_not_wait_for_the_renames_of_a_deletion() {
    append_completes_while_a_deletion_is_blocked("rename", |call, _| {
        call.op == FsOp::Rename && on_segment_file(call)
    });
}

#[test]
fn appends_do_not_wait_for_the_directory_fsync_after_the_renames() {
    append_completes_while_a_deletion_is_blocked("directory fsync", |call, renamed| {
        call.op == FsOp::SyncDir && renamed
    });
}

#[test]
fn appends_do_not_wait_for_the_removals_of_a_deletion() {
    append_completes_while_a_deletion_is_blocked("removal", |call, _| {
        call.op == FsOp::RemoveFile && on_segment_file(call)
    });
}

/// Counts the calls of each kind the hook sees.
fn count_calls(fs: &MemFs) -> Arc<Mutex<Vec<FsOp>>> {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    fs.set_fault_hook(move |call| {
        seen.lock().unwrap().push(call.op);
        None
    });
    calls
}

fn count(calls: &Mutex<Vec<FsOp>>, op: FsOp) -> usize {
    calls.lock().unwrap().iter().filter(|o| **o == op).count()
}

/// Deleting 40 segments costs a fixed number of fsyncs, not one per
/// segment: the checkpoint (file and directory), one directory fsync for
/// all the renames, and one for all the removals.
#[test]
fn one_directory_fsync_covers_all_the_renames_of_a_deletion() {
    let fs = MemFs::new();
    let log = open(&fs, 0);
    one_record_segments(&log, 40);
    // Records not fsynced would be fsynced first (a start never passes
    // records that a power loss could take): counted apart.
    log.sync().unwrap();
    let calls = count_calls(&fs);
    assert_eq!(log.advance_log_start_offset(40).unwrap(), 40);
    fs.clear_fault_hook();
    assert_eq!(count(&calls, FsOp::SyncData), 1, "the checkpoint's file");
    assert_eq!(
        count(&calls, FsOp::SyncDir),
        3,
        "checkpoint, renames, removals"
    );
    assert_eq!(file_names(&fs, ".log"), ["00000000000000000040.log"]);
    assert!(file_names(&fs, ".deleted").is_empty());

    // Retention too; with a delay the removals come later, with one
    // directory fsync.
    let fs = MemFs::new();
    let log = open(&fs, 60_000);
    one_record_segments(&log, 40);
    let calls = count_calls(&fs);
    let policy = RetentionPolicy {
        retention_ms: None,
        retention_bytes: Some(1),
        delete_enabled: true,
    };
    // (All but the last closed segment: keeping it keeps the log at or
    // above the limit.)
    let deleted = log.apply_retention(&policy).unwrap().deleted.len();
    assert_eq!(deleted, 39);
    assert_eq!(count(&calls, FsOp::SyncDir), 2, "checkpoint, renames");
    assert_eq!(count(&calls, FsOp::RemoveFile), 0);
    assert_eq!(file_names(&fs, ".log.deleted").len(), deleted);
    log.close().unwrap();
    assert!(file_names(&fs, ".deleted").is_empty());
}

/// A truncation that starts while a deletion is renaming files waits for
/// it: the segment it creates at a base offset the deletion is working on
/// keeps its files.
#[test]
fn truncation_waits_for_a_deletion_in_flight() {
    let fs = MemFs::new();
    let log = open(&fs, 0);
    one_record_segments(&log, 10);
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let fired = AtomicBool::new(false);
    fs.set_fault_hook(move |call| {
        // The first rename of segment 0's files, by the deletion.
        let first = call
            .path
            .to_string_lossy()
            .ends_with("00000000000000000000.log");
        if call.op == FsOp::Rename && first && !fired.swap(true, Ordering::SeqCst) {
            let _ = entered_tx.send(());
            let _ = release_rx.lock().unwrap().recv_timeout(PATIENCE);
        }
        None
    });
    let deleter = {
        let log = log.clone();
        thread::spawn(move || log.advance_log_start_offset(5))
    };
    entered_rx.recv_timeout(PATIENCE).unwrap();
    let restarted = Arc::new(AtomicUsize::new(0));
    let truncator = {
        let log = log.clone();
        let restarted = restarted.clone();
        thread::spawn(move || {
            log.truncate_fully_and_start_at(0)?;
            restarted.store(1, Ordering::SeqCst);
            log.append(&[Record::new("new 0"), Record::new("new 1")])?;
            log.sync()
        })
    };
    // Give a truncation that does not wait the time to create its segment.
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        restarted.load(Ordering::SeqCst),
        0,
        "the truncation did not wait for the deletion in flight"
    );
    release_tx.send(()).unwrap();
    assert_eq!(deleter.join().unwrap().unwrap(), 5);
    truncator.join().unwrap().unwrap();
    fs.clear_fault_hook();

    let values = |log: &PartitionLog| -> Vec<(u64, Vec<u8>)> {
        log.iter(0)
            .map(|r| r.unwrap())
            .map(|r| (r.offset, r.value.unwrap().to_vec()))
            .collect()
    };
    let want = vec![(0, b"new 0".to_vec()), (1, b"new 1".to_vec())];
    assert_eq!(values(&log), want);
    assert_eq!(file_names(&fs, ".log"), ["00000000000000000000.log"]);
    assert!(file_names(&fs, ".deleted").is_empty());
    log.close().unwrap();
    drop(log);
    let log = open(&fs, 0);
    assert!(log.recovery_report().clean_shutdown);
    assert_eq!(values(&log), want);
}

/// Ten synced one-record segments whose log start is raised to 6, with a
/// power loss after `syncs` fsyncs of that: the image it leaves.
fn start_raised_to_6_then_power_cut(syncs: u64) -> MemFs {
    let fs = MemFs::new();
    let log = open(&fs, 0);
    one_record_segments(&log, 10);
    log.sync().unwrap();
    fs.freeze_after_syncs(fs.sync_count() + syncs);
    assert_eq!(log.advance_log_start_offset(6).unwrap(), 6);
    fs.crash(CrashMode::DurableOnly)
}

/// A power loss after the new log start is durable but before any file
/// was renamed: the segments wholly below the start are still there, as
/// valid files below the start. The next open finishes the deletion.
#[test]
fn a_deletion_a_crash_interrupted_is_finished_by_the_next_open() {
    // The checkpoint: its file, then the directory.
    let crashed = start_raised_to_6_then_power_cut(2);
    assert_eq!(
        file_names(&crashed, ".log").len(),
        11,
        "nothing was renamed"
    );

    let log = open(&crashed, 0);
    assert_eq!(log.recovery_report().segments_below_start_deleted, 6);
    assert_eq!(log.log_start_offset(), 6);
    assert_eq!(log.log_end_offset(), 10);
    for offset in [0, 5] {
        assert!(matches!(
            log.read(offset, 1 << 20),
            Err(Error::OffsetOutOfRange { earliest: 6, .. })
        ));
    }
    let offsets: Vec<u64> = log.iter(6).map(|r| r.unwrap().offset).collect();
    assert_eq!(offsets, [6, 7, 8, 9]);
    let bases: Vec<u64> = log.segments().iter().map(|s| s.base_offset).collect();
    assert_eq!(bases, [6, 7, 8, 9, 10]);
    assert_eq!(file_names(&crashed, ".log").len(), 5);
    assert!(file_names(&crashed, ".deleted").is_empty());
    log.close().unwrap();
}

/// A power loss after the renames are durable but before the files were
/// removed: the next open removes the `.deleted` files.
#[test]
fn renamed_files_a_crash_left_are_removed_at_open() {
    // The checkpoint's file and directory, then the renames' directory.
    let crashed = start_raised_to_6_then_power_cut(3);
    assert_eq!(file_names(&crashed, ".log.deleted").len(), 6);

    let log = open(&crashed, 0);
    assert!(log.recovery_report().temp_files_removed >= 6);
    assert!(file_names(&crashed, ".deleted").is_empty());
    assert_eq!(log.log_start_offset(), 6);
    let bases: Vec<u64> = log.segments().iter().map(|s| s.base_offset).collect();
    assert_eq!(bases, [6, 7, 8, 9, 10]);
    log.close().unwrap();
}

/// A deletion opens no file of a segment nobody reads (a reader still
/// holding one keeps it open through the rename): deleting thousands of
/// segments must not hold as many files open while appends go on.
#[test]
fn a_deletion_opens_no_file_of_a_segment_nobody_reads() {
    let fs = MemFs::new();
    let log = open(&fs, 0);
    one_record_segments(&log, 300);
    log.close().unwrap();
    drop(log);
    let log = open(&fs, 0);
    // A reader in the middle of the log: its file is open.
    let fetch = log.read(150, 1 << 20).unwrap();
    let opened = Arc::new(AtomicUsize::new(0));
    let seen = opened.clone();
    fs.set_fault_hook(move |call| {
        let name = call.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if call.op == FsOp::Open && name.ends_with(".log") {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        None
    });
    assert_eq!(log.advance_log_start_offset(300).unwrap(), 300);
    fs.clear_fault_hook();
    assert_eq!(opened.load(Ordering::SeqCst), 0, "segment files opened");
    // The fetch taken before still reads its bytes.
    assert_eq!(fetch.records().next().unwrap().unwrap().offset, 150);
    log.close().unwrap();
}

/// Finishing an interrupted deletion removes segment files only: a `.log`
/// below the start that is a directory stays, reported; an emptied one
/// goes, and is not reported as damage any more.
#[test]
fn finishing_a_deletion_removes_no_directory() {
    let crashed = start_raised_to_6_then_power_cut(2);
    let dir_log = Path::new(DIR).join(format!("{:020}.log", 2));
    crashed.remove_file(&dir_log).unwrap();
    crashed.create_dir_all(&dir_log).unwrap();
    let emptied = Path::new(DIR).join(format!("{:020}.log", 3));
    crashed.write(&emptied, b"").unwrap();

    let log = open(&crashed, 0);
    let report = log.recovery_report().clone();
    assert_eq!(report.segments_below_start_deleted, 5);
    assert_eq!(report.damaged_segments.len(), 1, "{report:?}");
    assert_eq!(report.damaged_segments[0].path, dir_log);
    assert!(crashed.exists(&dir_log).unwrap());
    assert!(!crashed.exists(&emptied).unwrap());
    let offsets: Vec<u64> = log.iter(6).map(|r| r.unwrap().offset).collect();
    assert_eq!(offsets, [6, 7, 8, 9]);
    log.close().unwrap();
}

//! Damage an open finds without reading the data, and what it must not
//! hide: older segments that lost their records, checkpointed offsets
//! beyond the end of the log, and stale index files.
//!
//! The rule throughout: records that are there are served, records that
//! are missing are reported (in the open report, and as `Error::Corrupt`
//! naming the segment by every read that reaches them), and nothing is
//! deleted because of a checkpoint value alone.

use crate::common_crash;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common_crash::{dir, open};
use seglog::inspect::verify_partition_dir_with;
use seglog::io::{CrashMode, Fault, Fs, FsOp, MemFs, StdFs};
use seglog::store::{StoreConfig, StoreOptions};
use seglog::{
    CheckpointField, CheckpointMismatch, Error, LogConfig, ManualClock, OpenOptions, PartitionLog,
    Record, RecoveryMode,
};

const STRICT: RecoveryMode = RecoveryMode::Strict;

/// Small segments with an index entry for every batch.
fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1000,
        index_interval_bytes: 0,
        ..LogConfig::default()
    }
}

fn log_path(base: u64) -> PathBuf {
    dir().join(format!("{base:020}.log"))
}

/// A log of single-record batches (timestamps 1000 + offset) over several
/// segments, closed cleanly. Returns the segments' base offsets.
fn build(fs: &MemFs, clock: &ManualClock, records: u64) -> Vec<u64> {
    let log = open(fs, clock, STRICT, &config()).unwrap();
    for i in 0..records {
        log.append(&[Record::new(vec![b'x'; 90]).with_timestamp(1000 + i as i64)])
            .unwrap();
    }
    let bases = log.segments().iter().map(|s| s.base_offset).collect();
    log.close().unwrap();
    bases
}

/// Reads every record from the log start, to the first error.
fn read_all(log: &PartitionLog) -> (Vec<u64>, Option<Error>) {
    let mut offsets = Vec::new();
    for r in log.iter(log.log_start_offset()) {
        match r {
            Ok(r) => offsets.push(r.offset),
            Err(e) => return (offsets, Some(e)),
        }
    }
    (offsets, None)
}

fn is_corrupt_at(e: &Option<Error>, want: &Path) -> bool {
    matches!(e, Some(Error::Corrupt { path, .. }) if path == want)
}

fn read_only(fs: &MemFs) -> PartitionLog {
    OpenOptions::new()
        .fs(fs.clone())
        .read_only(true)
        .open(dir(), config())
        .unwrap()
}

fn write_checkpoint(fs: &MemFs, recovery_point: u64, log_start: u64) {
    let text = format!("0\n2\nrecovery-point {recovery_point}\nlog-start-offset {log_start}\n");
    fs.write(&dir().join("seglog.checkpoint"), text.as_bytes())
        .unwrap();
}

#[test]
fn an_emptied_older_segment_is_reported_and_never_passed_over() {
    let clock = ManualClock::new(0);
    for (unclean, mode) in [
        (false, STRICT),
        (true, STRICT),
        (true, RecoveryMode::TruncateCorrupt),
    ] {
        let fs = MemFs::new();
        let bases = build(&fs, &clock, 30);
        assert!(bases.len() >= 4, "{bases:?}");
        let emptied = log_path(bases[1]);
        fs.write(&emptied, b"").unwrap();
        if unclean {
            fs.remove_file(&dir().join("seglog.clean-shutdown"))
                .unwrap();
        }
        let view = read_only(&fs);
        assert_eq!(view.recovery_report().damaged_segments.len(), 1);
        assert!(is_corrupt_at(&read_all(&view).1, &emptied));
        drop(view);
        let log = open(&fs, &clock, mode, &config()).unwrap();
        let report = log.recovery_report();
        assert_eq!(report.damaged_segments.len(), 1, "{report:?}");
        assert_eq!(report.damaged_segments[0].path, emptied);
        assert!(report.damaged_segments[0].reason.contains("is empty"));
        assert_eq!(report.segments_deleted, 0);
        // Reads stop at the damage with an error, never skip it.
        let (offsets, end) = read_all(&log);
        assert_eq!(offsets, (0..bases[1]).collect::<Vec<_>>());
        assert!(is_corrupt_at(&end, &emptied), "{end:?}");
        assert!(is_corrupt_at(&log.read(bases[1], 1 << 20).err(), &emptied));
        // A time lookup that reaches it too.
        assert!(is_corrupt_at(
            &log.offset_for_timestamp(1000 + bases[1] as i64).err(),
            &emptied
        ));
        // Later segments are still there and readable.
        let later = log.read(bases[2], 1 << 20).unwrap();
        assert_eq!(later.slices()[0].first_offset(), bases[2]);
        log.close().unwrap();
        assert!(matches!(
            verify_partition_dir_with(&fs, dir()),
            Err(Error::Corrupt { path, .. }) if path == emptied
        ));
    }
}

#[test]
fn a_segment_log_that_is_a_directory_is_reported_and_never_passed_over() {
    let tmp = tempfile::tempdir().unwrap();
    let part = tmp.path().join("t-0");
    let log = PartitionLog::open(&part, config()).unwrap();
    for i in 0..30 {
        log.append(&[Record::new(vec![b'x'; 90]).with_timestamp(1000 + i)])
            .unwrap();
    }
    let bases: Vec<u64> = log.segments().iter().map(|s| s.base_offset).collect();
    log.close().unwrap();
    let bad = part.join(format!("{:020}.log", bases[1]));
    std::fs::remove_file(&bad).unwrap();
    std::fs::create_dir(&bad).unwrap();

    let log = PartitionLog::open(&part, config()).unwrap();
    let report = log.recovery_report().clone();
    assert_eq!(report.damaged_segments.len(), 1, "{report:?}");
    assert_eq!(report.damaged_segments[0].path, bad);
    assert!(report.damaged_segments[0].reason.contains("directory"));
    let (offsets, end) = read_all(&log);
    assert_eq!(offsets, (0..bases[1]).collect::<Vec<_>>());
    match &end {
        Some(Error::Corrupt { path, reason, .. }) => {
            assert_eq!(path, &bad);
            assert!(reason.contains("directory"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    log.close().unwrap();
    assert!(matches!(
        verify_partition_dir_with(&StdFs, &part),
        Err(Error::Corrupt { path, .. }) if path == bad
    ));
    // Recovery that would re-read it refuses, naming it, and removes
    // nothing.
    std::fs::remove_file(part.join("seglog.clean-shutdown")).unwrap();
    std::fs::write(
        part.join("seglog.checkpoint"),
        "0\n2\nrecovery-point 0\nlog-start-offset 0\n",
    )
    .unwrap();
    let r = PartitionLog::open(&part, config());
    assert!(
        matches!(&r, Err(Error::Corrupt { path, .. }) if *path == bad),
        "{r:?}"
    );
    assert!(bad.is_dir());
}

/// An older segment's `.log` cut at a batch boundary: the index files,
/// made durable before the segment was trusted, still name what is gone.
/// Whether the cut removes batches with offset-index entries (an entry
/// every batch) or only the last batch, after the last entry (sparse
/// entries: only the time index's last entry names it), reads fail at the
/// segment instead of passing over the missing offsets, now and after
/// another open.
#[test]
fn an_older_segment_cut_short_fails_reads_at_the_cut() {
    let clock = ManualClock::new(0);
    for (interval, keep_all_but_last) in [(0, false), (0, true), (400, true)] {
        let fs = MemFs::new();
        let config = LogConfig {
            index_interval_bytes: interval,
            ..config()
        };
        let log = open(&fs, &clock, STRICT, &config).unwrap();
        for i in 0..30 {
            log.append(&[Record::new(vec![b'x'; 90]).with_timestamp(1000 + i)])
                .unwrap();
        }
        let bases: Vec<u64> = log.segments().iter().map(|s| s.base_offset).collect();
        log.close().unwrap();
        let cut = log_path(bases[1]);
        let bytes = fs.read(&cut).unwrap();
        // Every batch is the same size.
        let batches = (bases[2] - bases[1]) as usize;
        let batch = bytes.len() / batches;
        let keep = if keep_all_but_last { batches - 1 } else { 2 };
        fs.write(&cut, &bytes[..keep * batch]).unwrap();
        let what = format!("interval {interval}, {keep} of {batches} batches kept");
        for _ in 0..2 {
            let log = open(&fs, &clock, STRICT, &config).unwrap();
            let (offsets, end) = read_all(&log);
            assert!(is_corrupt_at(&end, &cut), "{what}: {end:?}");
            // The segments before it are served whole; the damaged one
            // fails from its first read (its records before the cut are
            // not served either: its indexes cannot be trusted).
            assert_eq!(
                offsets,
                (0..bases[1]).collect::<Vec<_>>(),
                "{what}: nothing past the cut is served"
            );
            assert!(is_corrupt_at(&log.read(bases[2] - 1, 1 << 20).err(), &cut));
            log.close().unwrap();
        }
        assert!(matches!(
            verify_partition_dir_with(&fs, dir()),
            Err(Error::Corrupt { .. })
        ));
    }
}

#[test]
fn a_log_start_checkpoint_beyond_the_end_hides_and_deletes_nothing() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let bases = build(&fs, &clock, 30);
    // The first segment goes through the log start offset, as retention
    // would remove it; then the checkpoint is damaged.
    let log = open(&fs, &clock, STRICT, &config()).unwrap();
    log.advance_log_start_offset(bases[1]).unwrap();
    log.close().unwrap();
    write_checkpoint(&fs, 30, 1_000_000);
    let files_before = fs.list_dir(dir()).unwrap().len();

    // A read-only view (which writes nothing) serves the same records and
    // reports the same, also after a refresh.
    let view = read_only(&fs);
    assert_eq!(view.log_start_offset(), bases[1]);
    assert_eq!(view.recovery_report().checkpoint_mismatches.len(), 1);
    assert_eq!(read_all(&view).0, (bases[1]..30).collect::<Vec<_>>());
    view.refresh().unwrap();
    assert_eq!(view.log_start_offset(), bases[1]);
    drop(view);

    let log = open(&fs, &clock, STRICT, &config()).unwrap();
    assert_eq!(log.log_start_offset(), bases[1]);
    assert_eq!(log.log_end_offset(), 30);
    assert_eq!(
        log.recovery_report().checkpoint_mismatches,
        [CheckpointMismatch {
            path: dir().join("seglog.checkpoint"),
            field: CheckpointField::LogStartOffset,
            value: 1_000_000,
            log_end_offset: 30,
            used: bases[1],
        }]
    );
    let (offsets, end) = read_all(&log);
    assert_eq!(offsets, (bases[1]..30).collect::<Vec<_>>());
    assert!(end.is_none(), "{end:?}");
    log.close().unwrap();
    assert_eq!(fs.list_dir(dir()).unwrap().len(), files_before);
    // The open wrote the start it used: the next one finds nothing wrong.
    let log = open(&fs, &clock, STRICT, &config()).unwrap();
    assert!(log.recovery_report().checkpoint_mismatches.is_empty());
    assert_eq!(log.log_start_offset(), bases[1]);
}

#[test]
fn an_empty_log_moves_up_to_a_log_start_beyond_its_end() {
    // No record to hide: the log starts at the checkpointed offset, so
    // that offsets below it are not given out again.
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    open(&fs, &clock, STRICT, &config())
        .unwrap()
        .close()
        .unwrap();
    write_checkpoint(&fs, 0, 500);
    let log = open(&fs, &clock, STRICT, &config()).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (500, 500));
    let m = &log.recovery_report().checkpoint_mismatches;
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].value, m[0].log_end_offset, m[0].used), (500, 0, 500));
    let info = log.append(&[Record::new("a")]).unwrap();
    assert_eq!(info.first_offset, 500);
    log.close().unwrap();
    let names: Vec<String> = fs
        .list_dir(dir())
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .filter(|n| n.ends_with(".log"))
        .collect();
    assert_eq!(names, [format!("{:020}.log", 500)]);
}

#[test]
fn a_recovery_point_beyond_the_end_is_reset_and_the_log_recovered() {
    // Kafka's `LogLoader.recoverLog`: recovery runs from the segment
    // holding the checkpointed recovery point, and the new recovery point
    // is `min(recoveryPointCheckpoint, logEndOffset)`.
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    build(&fs, &clock, 30);
    write_checkpoint(&fs, 7_000, 0);
    // The clean-shutdown marker is still there, but the recovery point
    // contradicts it: the last segment is re-read.
    let log = open(&fs, &clock, STRICT, &config()).unwrap();
    let report = log.recovery_report().clone();
    assert!(!report.clean_shutdown);
    // A recovery point that is wrong cannot say what was synced: every
    // segment is re-read, and fsynced.
    assert_eq!(report.segments_recovered, log.segments().len());
    assert_eq!(
        report.checkpoint_mismatches,
        [CheckpointMismatch {
            path: dir().join("seglog.checkpoint"),
            field: CheckpointField::RecoveryPoint,
            value: 7_000,
            log_end_offset: 30,
            used: 30,
        }]
    );
    assert_eq!(log.recovery_point(), 30);
    assert_eq!(read_all(&log).0, (0..30).collect::<Vec<_>>());
}

#[test]
fn a_store_root_log_start_checkpoint_beyond_the_end_hides_nothing() {
    let fs = MemFs::new();
    let root = Path::new("/store");
    let options = || StoreOptions::new().fs(fs.clone());
    let store = options().open(root, StoreConfig::default()).unwrap();
    store.create_topic("t", 1, &[]).unwrap();
    let log = store.partition("t", 0).unwrap();
    for i in 0..5 {
        log.append(&[Record::new(format!("r{i}"))]).unwrap();
    }
    drop(log);
    store.close().unwrap();
    // Only the root checkpoints remain to say where the partition starts.
    fs.remove_file(&root.join("t-0").join("seglog.checkpoint"))
        .unwrap();
    let start_file = root.join("log-start-offset-checkpoint");
    fs.write(&start_file, b"0\n1\nt 0 99\n").unwrap();

    let store = options().open(root, StoreConfig::default()).unwrap();
    // The store's open report names the partition, with its own report.
    let damaged = &store.open_report().damaged_partitions;
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert_eq!(
        (damaged[0].0.topic.as_str(), damaged[0].0.partition),
        ("t", 0)
    );
    assert_eq!(damaged[0].1.checkpoint_mismatches[0].path, start_file);
    let log = store.partition("t", 0).unwrap();
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(read_all(&log).0, (0..5).collect::<Vec<_>>());
    let m = &log.recovery_report().checkpoint_mismatches;
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].path, start_file);
    assert_eq!((m[0].value, m[0].used), (99, 0));
}

/// Counts renames (an index rebuild replaces the files by renaming).
fn count_renames(fs: &MemFs) -> Arc<AtomicUsize> {
    let renames = Arc::new(AtomicUsize::new(0));
    let seen = renames.clone();
    fs.set_fault_hook(move |call| {
        if call.op == FsOp::Rename {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        None
    });
    renames
}

/// Every offset and every timestamp lookup of a log of single-record
/// batches with timestamps 1000 + offset.
fn check_lookups(log: &PartitionLog, records: u64) {
    assert_eq!(read_all(log).0, (0..records).collect::<Vec<_>>());
    for o in 0..records {
        let found = log.offset_for_timestamp(1000 + o as i64).unwrap().unwrap();
        assert_eq!((found.offset, found.timestamp), (o, 1000 + o as i64));
    }
}

#[test]
fn index_files_that_describe_the_log_are_trusted_as_they_are() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    build(&fs, &clock, 30);
    let log = open(&fs, &clock, STRICT, &config()).unwrap();
    let renames = count_renames(&fs);
    check_lookups(&log, 30);
    assert_eq!(renames.load(Ordering::SeqCst), 0, "an index was rebuilt");
}

#[test]
fn stale_index_files_below_the_recovery_point_are_rebuilt_at_load() {
    // What a power loss could leave before a sealed segment's indexes were
    // made durable: an empty time index, an offset entry into the middle
    // of a batch, a time entry at an offset where no batch ends. Kafka's
    // `sanityCheck` passes all three; the load checks the last entries
    // against the `.log` and rebuilds.
    let clock = ManualClock::new(0);
    type Damage = fn(&MemFs, &Path, &Path);
    let damages: [(&str, Damage); 3] = [
        ("empty time index", |fs, _, time| {
            fs.write(time, b"").unwrap()
        }),
        ("offset entry inside a batch", |fs, index, _| {
            let mut b = fs.read(index).unwrap();
            let n = b.len();
            let pos = u32::from_be_bytes(b[n - 4..].try_into().unwrap()) + 3;
            b[n - 4..].copy_from_slice(&pos.to_be_bytes());
            fs.write(index, &b).unwrap();
        }),
        ("time entry its batch does not match", |fs, _, time| {
            let mut b = fs.read(time).unwrap();
            let n = b.len();
            // The last entry's timestamp is not the largest of the batch
            // ending at its offset (a stale entry from before a rewrite).
            let ts = i64::from_be_bytes(b[n - 12..n - 4].try_into().unwrap());
            b[n - 12..n - 4].copy_from_slice(&(ts - 1).to_be_bytes());
            fs.write(time, &b).unwrap();
        }),
    ];
    for (what, damage) in damages {
        let fs = MemFs::new();
        let bases = build(&fs, &clock, 30);
        let index = dir().join(format!("{:020}.index", bases[1]));
        let time = dir().join(format!("{:020}.timeindex", bases[1]));
        damage(&fs, &index, &time);
        let log = open(&fs, &clock, STRICT, &config()).unwrap();
        let renames = count_renames(&fs);
        check_lookups(&log, 30);
        assert!(renames.load(Ordering::SeqCst) > 0, "{what}: not rebuilt");
        log.close().unwrap();
        verify_partition_dir_with(&fs, dir()).unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}

/// Every file of the partition directory and its bytes.
fn snapshot(fs: &MemFs) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs
        .list_dir(dir())
        .unwrap()
        .into_iter()
        .map(|e| {
            let bytes = fs.read(&dir().join(&e.name)).unwrap();
            (e.name, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn an_open_that_fails_on_damage_changes_nothing() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let bases = build(&fs, &clock, 30);
    let last = log_path(*bases.last().unwrap());
    // Synced data damaged in the last segment, and the segment longer
    // than the clean-shutdown marker says, so the open re-reads it.
    let mut bytes = fs.read(&last).unwrap();
    bytes[70] ^= 0xff;
    bytes.extend_from_slice(&[0u8; 5]);
    fs.write(&last, &bytes).unwrap();
    // And an index file without its .log, which a successful open removes.
    fs.write(&dir().join(format!("{:020}.index", 9999)), b"")
        .unwrap();
    let before = snapshot(&fs);
    assert!(before.iter().any(|(n, _)| n == "seglog.clean-shutdown"));
    for _ in 0..2 {
        let r = open(&fs, &clock, STRICT, &config());
        assert!(
            matches!(&r, Err(Error::Corrupt { path, .. }) if *path == last),
            "{:?}",
            r.map(|l| l.recovery_report().clone())
        );
        let after = snapshot(&fs);
        let names = |s: &[(String, Vec<u8>)]| -> Vec<(String, usize)> {
            s.iter().map(|(n, b)| (n.clone(), b.len())).collect()
        };
        assert!(
            after == before,
            "the failed open changed files: {:?} -> {:?}",
            names(&before),
            names(&after)
        );
    }
    // The lenient open repairs, and only then takes the marker away.
    let log = open(&fs, &clock, RecoveryMode::TruncateCorrupt, &config()).unwrap();
    assert!(log.recovery_report().truncated.is_some());
    assert!(!fs
        .list_dir(dir())
        .unwrap()
        .iter()
        .any(|e| e.name == "seglog.clean-shutdown" || e.name.starts_with("00000000000000009999")));
}

/// A process killed with records it never fsynced, then a checkpoint
/// damaged to put the recovery point or the log start beyond the end: the
/// open cannot tell from either which segments need no re-reading, so it
/// re-reads (and fsyncs) them all, and a power loss afterwards loses
/// nothing it then called durable.
#[test]
fn a_checkpoint_beyond_the_end_does_not_make_unsynced_records_count_as_synced() {
    let clock = ManualClock::new(0);
    for (recovery_point, log_start) in [(1_000_000, 0), (0, 1_000_000)] {
        let fs = MemFs::new();
        let log = open(&fs, &clock, STRICT, &config()).unwrap();
        for i in 0..30 {
            log.append(&[Record::new(vec![b'x'; 90]).with_timestamp(1000 + i)])
                .unwrap();
        }
        assert!(log.segments().len() >= 4);
        assert_eq!(log.recovery_point(), 0);
        // Killed: its close fails, nothing more is written.
        fs.set_fault_hook(|_| Some(Fault::Error(std::io::ErrorKind::Other)));
        drop(log);
        fs.clear_fault_hook();
        write_checkpoint(&fs, recovery_point, log_start);

        let log = open(&fs, &clock, STRICT, &config()).unwrap();
        assert_eq!(log.recovery_point(), 30);
        assert_eq!(log.log_start_offset(), 0);
        assert_eq!(
            log.recovery_report().segments_recovered,
            log.segments().len()
        );
        let crashed = fs.crash(CrashMode::DurableOnly);
        drop(log);
        let log = open(&crashed, &clock, STRICT, &config()).unwrap();
        assert_eq!(
            read_all(&log).0,
            (0..30).collect::<Vec<_>>(),
            "recovery point {recovery_point}, log start {log_start}"
        );
    }
}

/// An empty last segment named far above the end of the one before it
/// (its records lost, or never synced): the offsets between are a gap.
/// Every read into the gap returns at once, with what lies at or after
/// its offset, which is nothing.
#[test]
fn reads_into_a_gap_below_an_empty_last_segment_end() {
    let clock = ManualClock::new(0);
    let fs = MemFs::new();
    let bases = build(&fs, &clock, 30);
    fs.write(&log_path(1000), b"").unwrap();
    fs.remove_file(&dir().join("seglog.clean-shutdown"))
        .unwrap();
    // Everything below 1000 counts as synced: the open trusts the
    // segments as they are.
    write_checkpoint(&fs, 1000, 0);
    let log = open(&fs, &clock, STRICT, &config()).unwrap();
    let bases_now: Vec<u64> = log.segments().iter().map(|s| s.base_offset).collect();
    assert_eq!(
        bases_now.last(),
        Some(&1000),
        "{bases_now:?} after {bases:?}"
    );
    assert_eq!(log.log_end_offset(), 1000);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for offset in [30, 500, 999] {
            let fetch = log.read(offset, 1).unwrap();
            assert!(fetch.is_empty(), "{offset}: {fetch:?}");
            assert_eq!(log.read_record(offset).unwrap(), None, "{offset}");
            let mut reader = log.reader(offset);
            assert!(reader.next_batch().unwrap().is_none(), "{offset}");
            assert!(reader.record_at(offset).unwrap().is_none(), "{offset}");
        }
        // Below the gap, the records are all there.
        assert_eq!(read_all(&log).0, (0..30).collect::<Vec<_>>());
        tx.send(()).unwrap();
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("reads into the gap return");
}

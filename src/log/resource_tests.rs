//! Open files and loaded indexes stay within their bounds however many
//! segments a log has, and releasing them never breaks a read.

use super::OpenOptions;
use crate::io::MemFs;
use crate::segment::Resources;
use crate::{LogConfig, ManualClock, PartitionLog, Record};

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 100,
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

fn open(fs: &MemFs, resources: &std::sync::Arc<Resources>) -> PartitionLog {
    let mut opts = OpenOptions::new()
        .fs(fs.clone())
        .clock(ManualClock::new(1_000));
    opts.resources = Some(resources.clone());
    opts.open("/d/t-0", small_segments()).unwrap()
}

fn value(i: u64) -> Vec<u8> {
    format!("value-{i:04}-{}", "x".repeat(40)).into_bytes()
}

#[test]
fn reads_across_many_segments_keep_few_files_open() {
    let fs = MemFs::new();
    let resources = Resources::new(3, 2);
    let log = open(&fs, &resources);
    for i in 0..300u64 {
        log.append(&[Record::new(value(i))]).unwrap();
    }
    let segments = log.segments().len();
    assert!(segments > 50, "{segments} segments");
    log.close().unwrap();
    drop(log);

    let log = open(&fs, &resources);
    // Every record, in an order that keeps moving between segments.
    for round in 0..2 {
        for i in (0..300u64).rev().step_by(7).chain((round..300).step_by(13)) {
            let got = log.read(i, 1).unwrap();
            let first = got.records().next().unwrap().unwrap();
            assert_eq!(first.offset, i);
            assert_eq!(first.value.as_deref(), Some(&value(i)[..]));
            drop(got);
            // The bound holds after every read (the active segment's slot
            // may be the one over it for a moment).
            assert!(resources.open_files.len() <= 3, "{:?}", resources);
            assert!(resources.loaded_indexes.len() <= 2, "{:?}", resources);
        }
    }
    // Writing goes on after the active segment's file was released.
    let info = log.append(&[Record::new(value(300))]).unwrap();
    assert_eq!(info.first_offset, 300);
    log.close().unwrap();
    drop(log);
    let log = open(&fs, &resources);
    assert_eq!(log.log_end_offset(), 301);
    let last = log.read(300, 1).unwrap();
    assert_eq!(
        last.records().next().unwrap().unwrap().value.as_deref(),
        Some(&value(300)[..])
    );
}

#[test]
fn a_fetch_result_outlives_its_file_being_released_and_deleted() {
    let fs = MemFs::new();
    let resources = Resources::new(1, 1);
    let log = open(&fs, &resources);
    for i in 0..100u64 {
        log.append(&[Record::new(value(i))]).unwrap();
    }
    let held = log.read(0, 1).unwrap();
    // Read elsewhere so the first segment's slot is released...
    for i in (10..100u64).step_by(10) {
        log.read(i, 1).unwrap();
    }
    // ...and delete it.
    assert!(log.advance_log_start_offset(50).unwrap() > 0);
    let first = held.records().next().unwrap().unwrap();
    assert_eq!(first.value.as_deref(), Some(&value(0)[..]));
}

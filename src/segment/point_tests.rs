//! Point reads keep their record tables within the store's byte budget
//! however many segments are read, and give the same records as a fetch
//! whether a batch's table is remembered, evicted or never kept.

use crate::io::MemFs;
use crate::log::OpenOptions;
use crate::segment::Resources;
use crate::{LogConfig, ManualClock, PartitionLog, Record};
use std::sync::Arc;

fn open(fs: &MemFs, resources: &Arc<Resources>) -> PartitionLog {
    let mut opts = OpenOptions::new()
        .fs(fs.clone())
        .clock(ManualClock::new(1_000));
    opts.resources = Some(resources.clone());
    let config = LogConfig {
        segment_bytes: 1_000,
        ..LogConfig::default()
    };
    opts.open("/d/t-0", config).unwrap()
}

fn value(i: u64) -> Vec<u8> {
    format!("value-{i:04}").into_bytes()
}

/// A log of many small sealed segments, batches of four records.
fn many_segments(fs: &MemFs, resources: &Arc<Resources>) -> PartitionLog {
    let log = open(fs, resources);
    for i in (0..800u64).step_by(4) {
        let batch: Vec<Record> = (i..i + 4).map(|j| Record::new(value(j))).collect();
        log.append(&batch).unwrap();
    }
    assert!(
        log.segments().len() > 20,
        "{} segments",
        log.segments().len()
    );
    log
}

fn check_record(log: &PartitionLog, offset: u64) {
    let record = log.read_record(offset).unwrap().unwrap();
    assert_eq!(record.offset, offset);
    assert_eq!(record.value.as_deref(), Some(&value(offset)[..]));
}

#[test]
fn record_tables_stay_within_the_budget_across_many_segments() {
    let fs = MemFs::new();
    // Room for the tables of a handful of batches only.
    let budget = 1_000;
    let resources = Resources::with_record_table_bytes(16, 16, budget);
    let log = many_segments(&fs, &resources);
    for round in 0..2u64 {
        for offset in (round..800).step_by(3).chain((0..800).rev().step_by(7)) {
            check_record(&log, offset);
            assert!(
                resources.record_tables.bytes() <= budget,
                "{:?}",
                resources.record_tables
            );
        }
    }
    assert!(resources.record_tables.bytes() > 0, "tables were kept");
    // Every byte charged is refunded when the segments go.
    drop(log);
    assert_eq!(resources.record_tables.bytes(), 0);
}

#[test]
fn a_large_budget_keeps_a_table_for_every_batch_read() {
    let fs = MemFs::new();
    let resources = Resources::with_record_table_bytes(16, 16, 1 << 20);
    let log = many_segments(&fs, &resources);
    let active_base = log.segments().last().unwrap().base_offset;
    for offset in 0..800 {
        check_record(&log, offset);
    }
    // One table a sealed batch, each charged for its four record ends.
    let sealed_batches = active_base as usize / 4;
    let charged = resources.record_tables.bytes();
    assert_eq!(charged, sealed_batches * super::point::table_bytes(4));
    // Read again from the tables: the same records, nothing new charged.
    for offset in (0..800).rev() {
        check_record(&log, offset);
    }
    assert_eq!(resources.record_tables.bytes(), charged);
    // Truncating forgets the tables of the segment that becomes active.
    log.truncate_to(active_base - 4).unwrap();
    assert!(resources.record_tables.bytes() < charged);
    check_record(&log, active_base - 5);
}

#[test]
fn a_table_larger_than_the_budget_is_not_kept() {
    let fs = MemFs::new();
    let resources = Resources::with_record_table_bytes(16, 16, 8);
    let log = many_segments(&fs, &resources);
    for offset in (0..800).step_by(5) {
        check_record(&log, offset);
    }
    assert_eq!(resources.record_tables.bytes(), 0);
}

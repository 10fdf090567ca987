//! PartitionLog behaviour, mostly the storage scenarios of Kafka's own
//! tests (numbers refer to KAFKA-REFERENCE.md section 10).

mod common_compacted;
mod common_crash;
#[path = "log_behaviour/compacted.rs"]
mod compacted;
#[path = "log_behaviour/crc_checks.rs"]
mod crc_checks;
#[path = "log_behaviour/fuzz_regressions.rs"]
mod fuzz_regressions;
#[path = "log_behaviour/records_api.rs"]
mod records_api;
#[path = "log_behaviour/roll_rules.rs"]
mod roll_rules;
#[path = "log_behaviour/smoke.rs"]
mod smoke;

use std::path::Path;
use std::sync::Arc;

use seglog::io::{Fault, Fs, FsOp, MemFs};
use seglog::{
    BatchBuilder, Compression, Durability, Error, LogConfig, ManualClock, OpenOptions,
    PartitionLog, Record, RecordBatch, TimestampType,
};

const DIR: &str = "/data/t-0";

fn mem_log(config: LogConfig) -> (MemFs, ManualClock, PartitionLog) {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000_000);
    let log = OpenOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(DIR, config)
        .unwrap();
    (fs, clock, log)
}

fn reopen(fs: &MemFs, clock: &ManualClock, config: LogConfig) -> PartitionLog {
    OpenOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(DIR, config)
        .unwrap()
}

fn rec(v: &str, ts: i64) -> Record {
    Record::new(v).with_timestamp(ts)
}

/// Appends `n` single-record batches, record `i` with timestamp
/// `ts_base + i`, each as durable as `durability` says.
fn append_numbered(log: &PartitionLog, n: i64, ts_base: i64, durability: Durability) {
    for i in 0..n {
        log.append_with(&[rec(&format!("record {i:04}"), ts_base + i)], durability)
            .unwrap();
    }
}

fn offsets(log: &PartitionLog, from: u64) -> Vec<u64> {
    log.iter(from).map(|r| r.unwrap().offset).collect()
}

/// Batches with preassigned offsets, for follower-style appends.
fn batch_at(offsets: &[u64], ts: i64) -> Vec<u8> {
    // One batch per run of consecutive offsets.
    let mut out = Vec::new();
    let mut i = 0;
    while i < offsets.len() {
        let mut j = i + 1;
        while j < offsets.len() && offsets[j] == offsets[j - 1] + 1 {
            j += 1;
        }
        let records: Vec<Record> = (i..j)
            .map(|k| rec(&format!("v{}", offsets[k]), ts))
            .collect();
        out.extend(
            BatchBuilder::new()
                .base_offset(offsets[i])
                .build(&records)
                .unwrap(),
        );
        i = j;
    }
    out
}

#[test]
fn empty_log_and_reads_at_the_end() {
    let (_, _, log) = mem_log(LogConfig::default());
    assert!(log.recovery_report().created);
    assert_eq!(log.log_end_offset(), 0);
    assert!(log.read(0, 1 << 20).unwrap().is_empty());
    log.append(&[rec("a", 1), rec("b", 2)]).unwrap();
    assert!(
        log.read(2, 1 << 20).unwrap().is_empty(),
        "reading at the end returns nothing"
    );
    assert!(matches!(
        log.read(3, 100),
        Err(Error::OffsetOutOfRange {
            requested: 3,
            earliest: 0,
            latest: 2
        })
    ));
}

#[test]
fn reads_out_of_range_around_a_moved_start() {
    // Scenario 46: a log starting at 1024 with one record.
    let (_, _, log) = mem_log(LogConfig::default());
    log.truncate_fully_and_start_at(1024).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (1024, 1024));
    log.append(&[rec("x", 1)]).unwrap();
    assert!(log.read(1025, 100).unwrap().is_empty());
    for bad in [0, 1023, 1026] {
        assert!(
            matches!(log.read(bad, 100), Err(Error::OffsetOutOfRange { .. })),
            "{bad}"
        );
    }
    assert_eq!(offsets(&log, 1024), [1024]);
}

#[test]
fn max_bytes_zero_one_and_min_one_batch() {
    // Scenario 47.
    let (_, _, log) = mem_log(LogConfig::default());
    log.append(&[rec("first", 1), rec("second", 2)]).unwrap();
    log.append(&[rec("third", 3)]).unwrap();
    assert!(log.read(0, 0).unwrap().is_empty());
    let one = log.read(0, 1).unwrap();
    assert_eq!(one.slices().len(), 1);
    let recs: Vec<_> = one.records().map(|r| r.unwrap().offset).collect();
    assert_eq!(recs, [0, 1], "at least one whole batch");
    assert_eq!(one.next_offset(), 2);
    let all = log.read(0, 1 << 20).unwrap();
    assert_eq!(all.records().count(), 3);
    // A read from the middle of a batch returns the whole batch but only
    // the records from the offset on.
    let mid = log.read(1, 1).unwrap();
    assert_eq!(mid.slices()[0].first_offset(), 0);
    assert_eq!(
        mid.records().map(|r| r.unwrap().offset).collect::<Vec<_>>(),
        [1]
    );
}

#[test]
fn reads_skip_gaps_to_the_next_existing_offset() {
    // Scenarios 23, 24 and the sparse part of 47.
    let (_, _, log) = mem_log(LogConfig::default());
    log.append_replicated(&batch_at(&[50, 51, 60, 61, 70], 5))
        .unwrap();
    assert_eq!(log.log_end_offset(), 71);
    assert_eq!(offsets(&log, 55), [60, 61, 70]);
    let f = log.read(55, 1).unwrap();
    assert_eq!(f.records().next().unwrap().unwrap().offset, 60);
    assert_eq!(offsets(&log, 0), [50, 51, 60, 61, 70]);
}

#[test]
fn size_based_roll() {
    // Scenario 38: segment_bytes = 10 x (batch size - 1) gives 2 segments
    // for 11 single-record batches.
    let size = BatchBuilder::new().build(&[rec("v", 1)]).unwrap().len() as u64;
    let config = LogConfig {
        segment_bytes: 10 * (size - 1),
        ..LogConfig::default()
    };
    let (_, _, log) = mem_log(config);
    for _ in 0..11 {
        log.append(&[rec("v", 1)]).unwrap();
    }
    let segs = log.segments();
    assert_eq!(segs.len(), 2, "{segs:?}");
    assert_eq!(segs[1].base_offset, 9);
    assert!(segs[1].active && !segs[0].active);
    assert_eq!(offsets(&log, 0), (0..11).collect::<Vec<_>>());
}

#[test]
fn a_batch_larger_than_limits_is_refused() {
    // Scenario 42.
    let config = LogConfig {
        segment_bytes: 1000,
        max_message_bytes: 500,
        ..LogConfig::default()
    };
    let (_, _, log) = mem_log(config);
    let big = Record::new(vec![7u8; 600]);
    match log.append(std::slice::from_ref(&big)) {
        Err(Error::RecordTooLarge { size, max: 500 }) => assert!(size > 600),
        other => panic!("{other:?}"),
    }
    // Followers are not held to max_message_bytes, only to segment_bytes.
    let replicated = BatchBuilder::new().now(1).build(&[big]).unwrap();
    log.append_replicated(&replicated).unwrap();
    let huge = BatchBuilder::new()
        .base_offset(1)
        .now(1)
        .build(&[Record::new(vec![0u8; 2000])])
        .unwrap();
    assert!(matches!(
        log.append_replicated(&huge),
        Err(Error::RecordTooLarge { max: 1000, .. })
    ));
    assert_eq!(
        log.log_end_offset(),
        1,
        "nothing was written by the refused appends"
    );
}

#[test]
fn time_based_roll_uses_record_time_then_the_clock() {
    // Scenario 39.
    let config = LogConfig {
        segment_ms: 1000,
        ..LogConfig::default()
    };
    let (_, clock, log) = mem_log(config);
    // Records with timestamps: the roll follows them, not the clock.
    log.append(&[rec("a", 10_000)]).unwrap();
    clock.advance(5000);
    log.append(&[rec("b", 10_500)]).unwrap();
    assert_eq!(log.segments().len(), 1, "only 500 ms of record time passed");
    log.append(&[rec("c", 11_001)]).unwrap();
    assert_eq!(
        log.segments().len(),
        2,
        "more than segment_ms after the first batch"
    );
    // An empty active segment never rolls for time.
    log.roll().unwrap();
    let n = log.segments().len();
    clock.advance(100_000);
    log.roll().unwrap();
    assert_eq!(
        log.segments().len(),
        n,
        "rolling an empty segment does nothing"
    );
}

#[test]
fn time_based_roll_with_the_clock_when_batches_have_no_time() {
    let config = LogConfig {
        segment_ms: 1000,
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let (_, clock, log) = mem_log(config);
    let info = log.append(&[Record::new("a").with_timestamp(5)]).unwrap();
    assert_eq!(info.log_append_time, Some(1_000_000));
    assert_eq!(log.iter(0).next().unwrap().unwrap().timestamp, 1_000_000);
    clock.advance(999);
    log.append(&[Record::new("b")]).unwrap();
    assert_eq!(log.segments().len(), 1);
    clock.advance(2);
    log.append(&[Record::new("c")]).unwrap();
    assert_eq!(log.segments().len(), 2);
}

#[test]
fn full_indexes_roll_the_segment() {
    // 24 bytes hold 3 offset entries and 2 time entries; the time index
    // keeps its last slot for the closing entry, so it is full at 1.
    let config = LogConfig {
        segment_index_bytes: 24,
        index_interval_bytes: 0,
        ..LogConfig::default()
    };
    let (_, _, log) = mem_log(config);
    for i in 0..10 {
        log.append(&[rec("x", 1000 + i)]).unwrap();
    }
    assert!(log.segments().len() >= 4, "{:?}", log.segments());
    assert_eq!(offsets(&log, 0), (0..10).collect::<Vec<_>>());
    log.close().unwrap();
}

#[test]
fn offsets_beyond_32_bits_of_a_segment_roll_it() {
    // Scenario 63: a follower appends 0, then 2^31+1.. which cannot be
    // stored relative to base 0.
    let (fs, clock, log) = mem_log(LogConfig::default());
    let far = i32::MAX as u64 + 2;
    log.append_replicated(&batch_at(&[0], 1)).unwrap();
    log.append_replicated(&batch_at(&[far, far + 1, far + 2], 1))
        .unwrap();
    let segs = log.segments();
    assert_eq!(
        segs.iter().map(|s| s.base_offset).collect::<Vec<_>>(),
        [0, far]
    );
    assert_eq!(offsets(&log, 0), [0, far, far + 1, far + 2]);
    log.close().unwrap();
    seglog::inspect::verify_partition_dir_with(&fs, Path::new(DIR)).unwrap();
    let log = reopen(&fs, &clock, LogConfig::default());
    assert_eq!(log.log_end_offset(), far + 3);
}

#[test]
fn replicated_appends_must_continue_the_log() {
    // Scenario 44.
    let (_, _, log) = mem_log(LogConfig::default());
    log.append_replicated(&batch_at(&[0, 1], 1)).unwrap();
    let mut out_of_order = batch_at(&[5], 1);
    out_of_order.extend(batch_at(&[3], 1));
    assert!(matches!(
        log.append_replicated(&out_of_order),
        Err(Error::UnexpectedOffset {
            offset: 3,
            expected: 6
        })
    ));
    assert!(matches!(
        log.append_replicated(&batch_at(&[1], 1)),
        Err(Error::UnexpectedOffset {
            offset: 1,
            expected: 2
        })
    ));
    let mut bad_crc = batch_at(&[2], 1);
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    assert!(matches!(
        log.append_replicated(&bad_crc),
        Err(Error::InvalidBatch { .. })
    ));
    assert!(matches!(
        log.append_replicated(&[]),
        Err(Error::InvalidBatch { .. })
    ));
    assert_eq!(log.log_end_offset(), 2);
}

#[test]
fn producer_batches_get_offsets_in_place() {
    let (_, _, log) = mem_log(LogConfig::default());
    log.append(&[rec("before", 1)]).unwrap();
    let codec = if Compression::Lz4.is_available() {
        Compression::Lz4
    } else {
        Compression::None
    };
    let records: Vec<Record> = (0..10).map(|i| rec(&format!("p{i}"), 100 + i)).collect();
    let sent = BatchBuilder::new()
        .compression(codec)
        .producer(7, 0, 0)
        .build(&records)
        .unwrap();
    let info = log.append_encoded(&sent).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (1, 10));
    // The stored batch is the producer's, with only the base offset and
    // the partition leader epoch set, both outside the CRC (a broker
    // stamps its leader epoch where the producer sent -1).
    let stored = log.read(1, 1).unwrap().to_vec().unwrap();
    let batch = RecordBatch::parse(&stored).unwrap();
    assert_eq!(batch.header().base_offset, 1);
    assert_eq!(batch.header().partition_leader_epoch, 0);
    assert_eq!(batch.header().compression(), codec);
    assert_eq!(batch.header().producer_id, 7);
    assert_eq!(&stored[8..12], &sent[8..12], "same length");
    assert_eq!(
        &stored[16..],
        &sent[16..],
        "nothing but the base offset and leader epoch changed"
    );
    batch.verify_crc().unwrap();
    assert_eq!(offsets(&log, 0), (0..11).collect::<Vec<_>>());
}

#[test]
fn producer_batches_are_validated() {
    let (_, _, log) = mem_log(LogConfig::default());
    let good = BatchBuilder::new()
        .build(&[rec("a", 1), rec("b", 2)])
        .unwrap();
    let mut bad_crc = good.clone();
    bad_crc[70] ^= 0x10;
    let nonzero_base = BatchBuilder::new()
        .base_offset(5)
        .build(&[rec("a", 1)])
        .unwrap();
    let mut wrong_count = good.clone();
    wrong_count[60] = 3;
    let crc = crc32c::crc32c(&wrong_count[21..]);
    wrong_count[17..21].copy_from_slice(&crc.to_be_bytes());
    let mut truncated = good.clone();
    truncated.truncate(good.len() - 3);
    for (bad, what) in [
        (&bad_crc, "CRC-32C mismatch"),
        (&nonzero_base, "base offset 0"),
        (&wrong_count, "records count 3"),
        (&truncated, "truncated batch"),
    ] {
        match log.append_encoded(bad) {
            Err(Error::InvalidBatch { reason, .. }) => assert!(reason.contains(what), "{reason}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    assert_eq!(log.log_end_offset(), 0);
    // A header max timestamp that disagrees with the records is corrected,
    // as Kafka's leader does.
    let mut lying = good.clone();
    lying[35..43].copy_from_slice(&999i64.to_be_bytes());
    let crc = crc32c::crc32c(&lying[21..]);
    lying[17..21].copy_from_slice(&crc.to_be_bytes());
    log.append_encoded(&lying).unwrap();
    let stored = log.read(0, 1).unwrap().to_vec().unwrap();
    let batch = RecordBatch::parse(&stored).unwrap();
    batch.verify_crc().unwrap();
    assert_eq!(batch.header().max_timestamp, 2);
}

#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after() {
    // Scenario 31: offsets 40..49 with timestamps 400..490.
    let config = LogConfig {
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let (_, _, log) = mem_log(config);
    log.truncate_fully_and_start_at(40).unwrap();
    for i in 0..10 {
        log.append(&[rec("x", 400 + 10 * i)]).unwrap();
    }
    for (ts, want) in [
        (420, Some(42)),
        (421, Some(43)),
        (430, Some(43)),
        (431, Some(44)),
        (401, Some(41)),
        (399, Some(40)),
        (491, None),
    ] {
        assert_eq!(
            log.offset_for_timestamp(ts).unwrap().map(|l| l.offset),
            want,
            "ts {ts}"
        );
    }
    // Out-of-order timestamps inside batches: the first record >= target.
    log.append(&[rec("a", 900), rec("b", 700), rec("c", 800)])
        .unwrap();
    let found = log.offset_for_timestamp(750).unwrap().unwrap();
    assert_eq!((found.offset, found.timestamp), (50, 900));
}

#[test]
fn truncation_scenarios() {
    // Scenarios 26, 27, 28 and 48.
    let config = LogConfig {
        segment_bytes: 400,
        ..LogConfig::default()
    };
    let (fs, clock, log) = mem_log(config.clone());
    append_numbered(&log, 30, 0, Durability::Flush);
    assert!(log.segments().len() > 3);
    log.truncate_to(30).unwrap();
    log.truncate_to(31).unwrap();
    assert_eq!(log.log_end_offset(), 30);
    log.truncate_to(17).unwrap();
    assert_eq!(log.log_end_offset(), 17);
    assert_eq!(offsets(&log, 0), (0..17).collect::<Vec<_>>());
    assert!(log.segments().iter().all(|s| s.base_offset <= 17));
    // Appending continues at the truncation point with the same offsets.
    log.append(&[rec("again", 100)]).unwrap();
    assert_eq!(offsets(&log, 15), [15, 16, 17]);
    // Truncating into the first segment, then filling again, rolls by size
    // only (the indexes are back to their full size).
    log.truncate_to(1).unwrap();
    assert_eq!(log.segments().len(), 1);
    append_numbered(&log, 30, 0, Durability::Flush);
    assert!(log.segments().len() > 3);
    log.truncate_to(0).unwrap();
    assert_eq!((log.log_end_offset(), log.segments().len()), (0, 1));
    log.append(&[rec("zero", 1)]).unwrap();
    log.truncate_fully_and_start_at(500).unwrap();
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.recovery_point()
        ),
        (500, 500, 500)
    );
    log.append(&[rec("x", 1)]).unwrap();
    log.close().unwrap();
    let log = reopen(&fs, &clock, config);
    assert_eq!(offsets(&log, 500), [500]);
}

#[test]
fn truncation_removes_a_whole_batch_holding_the_offset() {
    let (_, _, log) = mem_log(LogConfig::default());
    log.append(&[rec("a", 1), rec("b", 2), rec("c", 3)])
        .unwrap();
    log.append(&[rec("d", 4)]).unwrap();
    log.truncate_to(2).unwrap();
    // The batch 0..=2 held offset 2 and went entirely; the log ends where
    // its data ends, so offsets stay contiguous.
    assert_eq!(log.log_end_offset(), 0);
    assert!(offsets(&log, 0).is_empty());
    log.append(&[rec("e", 5)]).unwrap();
    assert_eq!(offsets(&log, 0), [0]);
}

#[test]
fn log_start_offset_and_segment_deletion() {
    // Scenario 52: 3 segments of 5 records.
    let (_, _, log) = mem_log(LogConfig::default());
    for s in 0..3 {
        if s > 0 {
            log.roll().unwrap();
        }
        log.append(&(0..5).map(|i| rec("r", i)).collect::<Vec<_>>())
            .unwrap();
    }
    assert_eq!(log.segments().len(), 3);
    assert_eq!(log.advance_log_start_offset(1).unwrap(), 0);
    assert_eq!(log.segments().len(), 3);
    assert!(matches!(
        log.read(0, 10),
        Err(Error::OffsetOutOfRange { earliest: 1, .. })
    ));
    assert_eq!(log.advance_log_start_offset(6).unwrap(), 1);
    assert_eq!(log.segments().len(), 2);
    // A read at the start returns the straddling batch from the start on.
    assert_eq!(offsets(&log, 6), (6..15).collect::<Vec<_>>());
    assert_eq!(log.advance_log_start_offset(15).unwrap(), 1);
    assert_eq!(log.segments().len(), 1, "the active segment stays");
    assert_eq!(log.advance_log_start_offset(3).unwrap(), 0, "never lowered");
    assert_eq!(log.log_start_offset(), 15);
    assert!(matches!(
        log.advance_log_start_offset(16),
        Err(Error::OffsetOutOfRange { .. })
    ));
}

#[test]
fn a_fetch_outlives_the_deletion_of_its_segment() {
    let (_, _, log) = mem_log(LogConfig::default());
    log.append(&[rec("old", 1)]).unwrap();
    log.roll().unwrap();
    log.append(&[rec("new", 2)]).unwrap();
    let fetch = log.read(0, 1).unwrap();
    assert_eq!(log.advance_log_start_offset(1).unwrap(), 1);
    let recs: Vec<_> = fetch.records().map(|r| r.unwrap()).collect();
    assert_eq!(recs[0].value.as_deref(), Some(&b"old"[..]));
}

#[test]
fn durability_levels_move_the_recovery_point() {
    let (_, _, log) = mem_log(LogConfig::default());
    log.append_with(&[rec("a", 1)], Durability::None).unwrap();
    log.append_with(&[rec("b", 1)], Durability::Flush).unwrap();
    assert_eq!(log.recovery_point(), 0);
    log.append_with(&[rec("c", 1)], Durability::Sync).unwrap();
    assert_eq!(log.recovery_point(), 3);
    log.append_with(&[rec("d", 1)], Durability::None).unwrap();
    // Buffered records are readable at once.
    assert_eq!(offsets(&log, 0), [0, 1, 2, 3]);
    log.sync().unwrap();
    assert_eq!(log.recovery_point(), 4);
}

#[test]
fn flush_messages_and_flush_ms() {
    let config = LogConfig {
        flush_messages: 3,
        ..LogConfig::default()
    };
    let (_, _, log) = mem_log(config);
    log.append(&[rec("a", 1), rec("b", 1)]).unwrap();
    assert_eq!(log.recovery_point(), 0);
    log.append(&[rec("c", 1)]).unwrap();
    assert_eq!(log.recovery_point(), 3);

    let config = LogConfig {
        flush_ms: 1000,
        ..LogConfig::default()
    };
    let (_, clock, log) = mem_log(config);
    log.append(&[rec("a", 1)]).unwrap();
    assert!(!log.maybe_flush().unwrap());
    clock.advance(1000);
    assert!(log.maybe_flush().unwrap());
    assert_eq!(log.recovery_point(), 1);
    log.append(&[rec("b", 1)]).unwrap();
    clock.advance(1500);
    log.append(&[rec("c", 1)]).unwrap();
    assert_eq!(log.recovery_point(), 3, "an append past flush_ms fsyncs");
}

#[test]
fn clean_reopen_reads_no_segment_data() {
    // Scenario 61 and the open-time requirement: after a clean close the
    // next open must not read a single byte of any .log file.
    let config = LogConfig {
        segment_bytes: 200,
        // Small preallocated indexes keep the in-memory file system cheap.
        segment_index_bytes: 1024,
        ..LogConfig::default()
    };
    let (fs, clock, log) = mem_log(config.clone());
    append_numbered(&log, 2000, 0, Durability::Flush);
    let segments = log.segments().len();
    assert!(segments >= 1000, "{segments}");
    log.close().unwrap();
    fs.set_fault_hook(|call| {
        let log_file = call.path.extension().is_some_and(|e| e == "log");
        (log_file && matches!(call.op, FsOp::Read | FsOp::Map))
            .then_some(Fault::Error(std::io::ErrorKind::Other))
    });
    let log = reopen(&fs, &clock, config);
    assert!(log.recovery_report().clean_shutdown);
    assert_eq!(log.recovery_report().segments_recovered, 0);
    assert_eq!(log.log_end_offset(), 2000);
    assert_eq!(log.segments().len(), segments);
    fs.clear_fault_hook();
    assert_eq!(offsets(&log, 1990), (1990..2000).collect::<Vec<_>>());
    assert_eq!(offsets(&log, 0).len(), 2000);
}

#[test]
fn unclean_reopen_rereads_only_from_the_recovery_point() {
    // Scenario 57.
    let config = LogConfig {
        segment_bytes: 300,
        ..LogConfig::default()
    };
    let (fs, clock, log) = mem_log(config.clone());
    append_numbered(&log, 100, 0, Durability::Flush);
    let n = log.segments().len();
    assert!(n > 5);
    drop(log);
    // Dropping closes cleanly; remove the marker to make it unclean.
    let marker = Path::new(DIR).join("seglog.clean-shutdown");
    seglog::io::Fs::remove_file(&fs, &marker).unwrap();
    let log = reopen(&fs, &clock, config);
    let report = log.recovery_report();
    assert!(!report.clean_shutdown);
    assert_eq!(
        report.segments_recovered, 1,
        "only the segment holding the recovery point"
    );
    assert_eq!(offsets(&log, 0), (0..100).collect::<Vec<_>>());
}

#[test]
fn damaged_or_missing_indexes_are_rebuilt() {
    // Scenario 58, and 59 (orphans and leftovers are removed).
    let config = LogConfig {
        segment_bytes: 600,
        index_interval_bytes: 64,
        ..LogConfig::default()
    };
    let (fs, clock, log) = mem_log(config.clone());
    append_numbered(&log, 200, 1000, Durability::Flush);
    log.close().unwrap();
    let dir = Path::new(DIR);
    let segs = seglog::inspect::segments(&fs, dir).unwrap();
    for (i, s) in segs.iter().enumerate() {
        match i % 3 {
            0 => fs.write(&s.index, b"  ").unwrap(),
            1 => seglog::io::Fs::remove_file(&fs, &s.time_index).unwrap(),
            _ => fs.write(&s.index, &[0u8; 64]).unwrap(),
        }
    }
    fs.write(&dir.join("00000000000000099999.index"), b"orphan")
        .unwrap();
    fs.write(&dir.join("00000000000000000000.log.deleted"), b"left over")
        .unwrap();
    let log = reopen(&fs, &clock, config);
    assert_eq!(log.recovery_report().temp_files_removed, 1);
    assert!(!seglog::io::Fs::exists(&fs, &dir.join("00000000000000099999.index")).unwrap());
    for o in (0..200).step_by(7) {
        assert_eq!(
            log.read(o, 1)
                .unwrap()
                .records()
                .next()
                .unwrap()
                .unwrap()
                .offset,
            o
        );
        assert_eq!(
            log.offset_for_timestamp(1000 + o as i64)
                .unwrap()
                .unwrap()
                .offset,
            o
        );
    }
    log.close().unwrap();
    seglog::inspect::verify_partition_dir_with(&fs, dir).unwrap();
}

#[test]
fn garbage_after_the_active_segment_is_cut_off() {
    // Scenario 60.
    let (fs, clock, log) = mem_log(LogConfig::default());
    append_numbered(&log, 20, 0, Durability::Flush);
    let active = log.segments().last().unwrap().path.clone();
    drop(log);
    seglog::io::Fs::remove_file(&fs, &Path::new(DIR).join("seglog.clean-shutdown")).unwrap();
    let mut bytes = fs.read(&active).unwrap();
    bytes.extend((0..500u32).map(|i| (i * 7919 % 251) as u8));
    fs.write(&active, &bytes).unwrap();
    let log = reopen(&fs, &clock, LogConfig::default());
    assert_eq!(log.log_end_offset(), 20);
    assert_eq!(
        log.recovery_report()
            .truncated
            .as_ref()
            .unwrap()
            .bytes_removed,
        500
    );
    assert_eq!(offsets(&log, 0), (0..20).collect::<Vec<_>>());
}

#[test]
fn end_below_the_saved_start_starts_over_there() {
    // Scenario 62.
    let config = LogConfig {
        segment_bytes: 200,
        ..LogConfig::default()
    };
    let (fs, clock, log) = mem_log(config.clone());
    for i in 0..10 {
        log.append(&[rec("record", i)]).unwrap();
    }
    log.advance_log_start_offset(8).unwrap();
    log.close().unwrap();
    // Lose the data files but keep the checkpoint.
    for s in seglog::inspect::segments(&fs, Path::new(DIR)).unwrap() {
        seglog::io::Fs::remove_file(&fs, &s.log).unwrap();
    }
    let log = reopen(&fs, &clock, config);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (8, 8));
    assert_eq!(log.segments().len(), 1);
}

#[test]
fn second_open_of_a_directory_is_locked() {
    let (fs, clock, log) = mem_log(LogConfig::default());
    let again = OpenOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(DIR, LogConfig::default());
    assert!(matches!(again, Err(Error::Locked { .. })));
    log.close().unwrap();
    let _ok = reopen(&fs, &clock, LogConfig::default());

    let tmp = tempfile::tempdir().unwrap();
    let a = PartitionLog::open(tmp.path(), LogConfig::default()).unwrap();
    let e = PartitionLog::open(tmp.path(), LogConfig::default()).unwrap_err();
    assert!(matches!(e, Error::Locked { .. }));
    assert!(e.to_string().contains("already in use"), "{e}");
    drop(a);
    PartitionLog::open(tmp.path(), LogConfig::default()).unwrap();
}

#[test]
fn closed_handles_refuse_work_but_fetches_stay_readable() {
    let (_, _, log) = mem_log(LogConfig::default());
    log.append(&[rec("a", 1)]).unwrap();
    let other = log.clone();
    let fetch = log.read(0, 100).unwrap();
    log.close().unwrap();
    log.close().unwrap();
    assert!(matches!(other.append(&[rec("b", 1)]), Err(Error::Closed)));
    assert!(matches!(other.read(0, 1), Err(Error::Closed)));
    assert!(matches!(other.sync(), Err(Error::Closed)));
    assert_eq!(fetch.records().count(), 1);
}

#[test]
fn bad_records_and_configs_are_refused() {
    let (_, _, log) = mem_log(LogConfig::default());
    assert!(matches!(
        log.append::<Record>(&[]),
        Err(Error::InvalidRecord { .. })
    ));
    assert!(matches!(
        log.append(&[rec("x", -7)]),
        Err(Error::InvalidRecord { .. })
    ));
    assert_eq!(log.log_end_offset(), 0);

    let fs = MemFs::new();
    let bad = LogConfig {
        segment_bytes: 5,
        ..LogConfig::default()
    };
    match OpenOptions::new().fs(fs).open(DIR, bad) {
        Err(
            e @ Error::InvalidConfig {
                field: "segment_bytes",
                ..
            },
        ) => assert!(e.to_string().contains("segment_bytes")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn handles_are_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<PartitionLog>();
    fn send_sync<T: Send + Sync>() {}
    send_sync::<seglog::FetchData>();
    send_sync::<seglog::LogReader>();
    let (_, _, log) = mem_log(LogConfig::default());
    let shared = Arc::new(log);
    let t = {
        let l = shared.clone();
        std::thread::spawn(move || l.append(&[rec("from a thread", 1)]).unwrap())
    };
    t.join().unwrap();
    assert_eq!(shared.log_end_offset(), 1);
}

#[test]
fn rolls_do_not_wait_for_fsync_and_sync_sealed_catches_up() {
    let config = LogConfig {
        segment_bytes: 300,
        ..LogConfig::default()
    };
    let (fs, clock, log) = mem_log(config.clone());
    append_numbered(&log, 40, 0, Durability::Flush);
    let segments = log.segments();
    assert!(segments.len() > 4);
    assert_eq!(log.recovery_point(), 0, "rolling fsyncs nothing");
    let syncs_before = fs.sync_count();
    let synced = log.sync_sealed().unwrap();
    assert_eq!(synced, segments.len() - 1);
    assert!(fs.sync_count() > syncs_before);
    let active_base = segments.last().unwrap().base_offset;
    assert_eq!(log.recovery_point(), active_base);
    assert_eq!(log.sync_sealed().unwrap(), 0, "nothing left to sync");

    // A power loss now keeps every sealed segment; the active one's records
    // were never synced.
    let crashed = fs.crash(seglog::io::CrashMode::DurableOnly);
    drop(log);
    let log = OpenOptions::new()
        .fs(crashed)
        .clock(clock)
        .open(DIR, config)
        .unwrap();
    assert!(!log.recovery_report().clean_shutdown);
    assert_eq!(offsets(&log, 0), (0..active_base).collect::<Vec<_>>());
}

#[test]
fn a_sync_append_syncs_sealed_segments_first() {
    let config = LogConfig {
        segment_bytes: 300,
        ..LogConfig::default()
    };
    let (fs, clock, log) = mem_log(config.clone());
    append_numbered(&log, 30, 0, Durability::None);
    log.append_with(&[rec("last", 99)], Durability::Sync)
        .unwrap();
    assert_eq!(log.recovery_point(), 31);
    let crashed = fs.crash(seglog::io::CrashMode::DurableOnly);
    drop(log);
    let log = OpenOptions::new()
        .fs(crashed)
        .clock(clock)
        .open(DIR, config)
        .unwrap();
    assert_eq!(offsets(&log, 0), (0..31).collect::<Vec<_>>());
}

/// A log of three closed segments (offsets 0..10, 10..20, 20..30) and an
/// empty active one, closed cleanly; returns the bytes of each `.log`.
fn three_segments(fs: &MemFs, clock: &ManualClock) -> Vec<Vec<u8>> {
    let log = OpenOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(DIR, LogConfig::default())
        .unwrap();
    for s in 0..3 {
        let records: Vec<Record> = (0..10).map(|i| rec(&format!("s{s} r{i}"), i)).collect();
        log.append(&records).unwrap();
        log.roll().unwrap();
    }
    log.close().unwrap();
    let segs = seglog::inspect::segments(fs, Path::new(DIR)).unwrap();
    segs.iter().map(|s| fs.read(&s.log).unwrap()).collect()
}

#[test]
fn an_interrupted_swap_is_completed_at_open() {
    // Scenario 77: a cleaner wrote the replacement of segments 0 and 10 as
    // one segment 0 and renamed it `.swap`, then the process died before
    // the old segments were removed. The open finishes the swap.
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let logs = three_segments(&fs, &clock);
    let dir = Path::new(DIR);
    let mut merged = logs[0].clone();
    merged.extend_from_slice(&logs[1]);
    fs.write(&dir.join("00000000000000000000.log.swap"), &merged)
        .unwrap();
    // The swap's indexes are not written: they are rebuilt on first use.
    let log = reopen(&fs, &clock, LogConfig::default());
    let bases: Vec<u64> = log.segments().iter().map(|s| s.base_offset).collect();
    assert_eq!(bases, [0, 20, 30], "the swap replaced segments 0 and 10");
    assert!(!seglog::io::Fs::exists(&fs, &dir.join("00000000000000000000.log.swap")).unwrap());
    assert!(!seglog::io::Fs::exists(&fs, &dir.join("00000000000000000010.log")).unwrap());
    assert_eq!(offsets(&log, 0), (0..30).collect::<Vec<_>>());
    assert_eq!(
        log.read(15, 1)
            .unwrap()
            .records()
            .next()
            .unwrap()
            .unwrap()
            .offset,
        15
    );
    log.close().unwrap();
    seglog::inspect::verify_partition_dir_with(&fs, dir).unwrap();
}

#[test]
fn an_interrupted_split_is_rolled_back_at_open() {
    // Scenario 64: a split wrote `.cleaned` files and started renaming them
    // to `.swap` (highest base first). Everything at or above the lowest
    // `.cleaned` is discarded; the original segments stay.
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let logs = three_segments(&fs, &clock);
    let dir = Path::new(DIR);
    fs.write(
        &dir.join("00000000000000000010.log.cleaned"),
        &logs[1][..40],
    )
    .unwrap();
    fs.write(&dir.join("00000000000000000015.log.swap"), &logs[1])
        .unwrap();
    let log = reopen(&fs, &clock, LogConfig::default());
    assert_eq!(log.recovery_report().temp_files_removed, 2);
    let bases: Vec<u64> = log.segments().iter().map(|s| s.base_offset).collect();
    assert_eq!(bases, [0, 10, 20, 30]);
    assert_eq!(offsets(&log, 0), (0..30).collect::<Vec<_>>());
}

/// Opening a cleanly closed log and reading it writes nothing: the
/// clean-shutdown marker stays until the first change, so a power loss
/// before then still finds a clean shutdown, and one after it does not.
#[test]
fn the_clean_marker_stays_until_the_first_change() {
    let config = LogConfig::default();
    let (fs, clock, log) = mem_log(config.clone());
    append_numbered(&log, 10, 1_000, Durability::Flush);
    log.close().unwrap();
    drop(log);

    let syncs = fs.sync_count();
    let log = reopen(&fs, &clock, config.clone());
    assert!(log.recovery_report().clean_shutdown);
    assert_eq!(offsets(&log, 0).len(), 10);
    assert_eq!(
        fs.sync_count(),
        syncs,
        "a clean open and reads fsync nothing"
    );
    let crashed = fs.crash(seglog::io::CrashMode::DurableOnly);
    drop(log);
    let log = reopen(&crashed, &clock, config.clone());
    assert!(log.recovery_report().clean_shutdown);

    // The first append takes the marker away before it writes.
    log.append(&[rec("more", 2_000)]).unwrap();
    log.sync().unwrap();
    let again = crashed.crash(seglog::io::CrashMode::DurableOnly);
    drop(log);
    let log = reopen(&again, &clock, config);
    assert!(!log.recovery_report().clean_shutdown);
    assert_eq!(offsets(&log, 0).len(), 11);
}

/// Opening cleanly, reading, flushing and closing a log nothing was
/// written to changes no file and fsyncs nothing: a store of thousands of
/// idle partitions closes at once.
#[test]
fn closing_an_unchanged_log_writes_nothing() {
    let config = LogConfig {
        segment_bytes: 4_000,
        segment_index_bytes: 4_096,
        ..LogConfig::default()
    };
    let (fs, clock, log) = mem_log(config.clone());
    append_numbered(&log, 100, 1_000, Durability::Flush);
    log.close().unwrap();
    drop(log);
    let snapshot = |fs: &MemFs| -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = fs
            .list_dir(Path::new(DIR))
            .unwrap()
            .into_iter()
            .filter(|e| !e.is_dir)
            .map(|e| {
                let bytes = fs.read(&Path::new(DIR).join(&e.name)).unwrap();
                (e.name, bytes)
            })
            .collect();
        files.sort();
        files
    };
    let before = snapshot(&fs);
    let syncs = fs.sync_count();
    for _ in 0..2 {
        let log = reopen(&fs, &clock, config.clone());
        assert!(log.recovery_report().clean_shutdown);
        assert_eq!(offsets(&log, 0).len(), 100);
        log.sync().unwrap();
        log.sync_sealed().unwrap();
        log.close().unwrap();
    }
    assert_eq!(fs.sync_count(), syncs);
    assert_eq!(snapshot(&fs), before);
    seglog::inspect::verify_partition_dir_with(&fs, Path::new(DIR)).unwrap();
    // And the first change after that is kept as ever.
    let log = reopen(&fs, &clock, config.clone());
    log.append(&[rec("more", 2_000)]).unwrap();
    log.close().unwrap();
    let log = reopen(&fs, &clock, config);
    assert!(log.recovery_report().clean_shutdown);
    assert_eq!(offsets(&log, 0).len(), 101);
}

/// `(offset, timestamp)` of [`PartitionLog::max_timestamp`].
fn max_ts(log: &PartitionLog) -> Option<(u64, i64)> {
    log.max_timestamp()
        .unwrap()
        .map(|m| (m.offset, m.timestamp))
}

#[test]
fn max_timestamp_of_a_log_without_records_is_none() {
    let (_, _, log) = mem_log(LogConfig::default());
    assert_eq!(max_ts(&log), None);
    log.truncate_fully_and_start_at(40).unwrap();
    assert_eq!(max_ts(&log), None);
    log.append(&[rec("a", 5)]).unwrap();
    assert_eq!(max_ts(&log), Some((40, 5)));
    // Everything below the start: nothing left.
    log.roll().unwrap();
    log.advance_log_start_offset(41).unwrap();
    assert_eq!(max_ts(&log), None);
}

/// Three segments with producer-set timestamps out of order; the largest
/// is in the oldest.
fn out_of_order_segments(log: &PartitionLog) {
    // Segment 0: one batch, offsets 0..=2, the largest in the middle.
    log.append(&[rec("a", 100), rec("b", 900), rec("c", 200)])
        .unwrap();
    log.roll().unwrap();
    // Segment 3: offsets 3, 4 (one batch each).
    log.append(&[rec("d", 300)]).unwrap();
    log.append(&[rec("e", 700)]).unwrap();
    log.roll().unwrap();
    // Segment 5: offsets 5, 6, 7; 7 ties with 4.
    log.append(&[rec("f", 500)]).unwrap();
    log.append(&[rec("g", 600), rec("h", 700)]).unwrap();
}

#[test]
fn max_timestamp_finds_a_larger_timestamp_in_an_older_segment() {
    let (_, _, log) = mem_log(LogConfig::default());
    out_of_order_segments(&log);
    assert_eq!(log.segments().len(), 3);
    // The record's own offset, not the last offset of its batch.
    assert_eq!(max_ts(&log), Some((1, 900)));
    // Ties go to the earliest offset: across segments...
    log.append(&[rec("i", 900)]).unwrap();
    assert_eq!(max_ts(&log), Some((1, 900)));
    // ...and within a batch.
    log.append(&[rec("j", 950), rec("k", 950)]).unwrap();
    assert_eq!(max_ts(&log), Some((9, 950)));
}

#[test]
fn max_timestamp_with_rolls_by_size() {
    let config = LogConfig {
        segment_bytes: 300,
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let (_, _, log) = mem_log(config);
    let ts = |i: i64| if i == 7 { 5_000 } else { 1_000 + i };
    for i in 0..60 {
        log.append(&[rec(&format!("record {i:04}"), ts(i))])
            .unwrap();
    }
    let segments = log.segments();
    assert!(segments.len() > 5, "{}", segments.len());
    // The first segment starting after offset 7.
    let after = segments.iter().position(|s| s.base_offset > 7).unwrap();
    assert!(after + 3 < segments.len(), "offset 7 is in an old segment");
    assert_eq!(max_ts(&log), Some((7, 5_000)));
    // Once the segment holding it is gone, the newest record wins.
    let deleted = log
        .advance_log_start_offset(segments[after].base_offset)
        .unwrap();
    assert_eq!(deleted, after);
    assert_eq!(max_ts(&log), Some((59, 1_059)));
}

#[test]
fn max_timestamp_ignores_records_below_the_log_start_offset() {
    let (_, _, log) = mem_log(LogConfig::default());
    out_of_order_segments(&log);
    // The start inside the batch that holds the largest timestamp, after
    // it: the rest of that segment is read.
    assert_eq!(log.advance_log_start_offset(2).unwrap(), 0);
    assert_eq!(max_ts(&log), Some((4, 700)));
    // The segment holding the largest is deleted.
    assert_eq!(log.advance_log_start_offset(3).unwrap(), 1);
    assert_eq!(max_ts(&log), Some((4, 700)));
    // The start past the batch that carried a segment's largest timestamp:
    // the segment is read from the start on.
    assert_eq!(log.advance_log_start_offset(5).unwrap(), 1);
    assert_eq!(max_ts(&log), Some((7, 700)));

    // The same with one batch per record, where the segment's largest
    // timestamp names a batch wholly below the start.
    let (_, _, log) = mem_log(LogConfig::default());
    for (v, ts) in [("a", 100), ("b", 900), ("c", 200), ("d", 150)] {
        log.append(&[rec(v, ts)]).unwrap();
    }
    log.roll().unwrap();
    log.append(&[rec("e", 120)]).unwrap();
    assert_eq!(max_ts(&log), Some((1, 900)));
    log.advance_log_start_offset(2).unwrap();
    assert_eq!(max_ts(&log), Some((2, 200)));
    log.advance_log_start_offset(3).unwrap();
    assert_eq!(max_ts(&log), Some((3, 150)));
    log.advance_log_start_offset(4).unwrap();
    assert_eq!(max_ts(&log), Some((4, 120)));
}

#[test]
fn max_timestamp_of_log_append_time_batches() {
    let config = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let (_, clock, log) = mem_log(config);
    log.append(&[rec("a", 1), rec("b", 2)]).unwrap();
    clock.advance(10);
    log.append(&[rec("c", 3), rec("d", 4)]).unwrap();
    // Every record of a batch carries its time: the batch's first record.
    assert_eq!(max_ts(&log), Some((2, 1_000_010)));
    log.advance_log_start_offset(3).unwrap();
    assert_eq!(max_ts(&log), Some((3, 1_000_010)));
}

#[test]
fn max_timestamp_is_the_same_after_a_reopen() {
    let config = LogConfig {
        segment_bytes: 300,
        ..LogConfig::default()
    };
    let (fs, clock, log) = mem_log(config.clone());
    out_of_order_segments(&log);
    for i in 0..20 {
        log.append(&[rec(&format!("record {i:04}"), 400 + i)])
            .unwrap();
    }
    log.advance_log_start_offset(2).unwrap();
    let before = max_ts(&log);
    assert_eq!(before, Some((4, 700)));
    log.sync().unwrap();
    let crashed = fs.crash(seglog::io::CrashMode::DurableOnly);
    log.close().unwrap();
    assert!(matches!(log.max_timestamp(), Err(Error::Closed)));
    drop(log);
    // Clean: the time indexes are loaded lazily.
    let log = reopen(&fs, &clock, config.clone());
    assert!(log.recovery_report().clean_shutdown);
    assert_eq!(max_ts(&log), before);
    // After a power loss: the segments after the recovery point are
    // re-read and their indexes rebuilt.
    let log = reopen(&crashed, &clock, config);
    assert!(!log.recovery_report().clean_shutdown);
    assert_eq!(log.log_start_offset(), 2);
    assert_eq!(max_ts(&log), before);
}

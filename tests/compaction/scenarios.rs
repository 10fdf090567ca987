//! Kafka's cleaner scenarios (reference 10.6) and the rules around them.

use seglog::compaction::CompactOptions;
use seglog::io::{Fs, MemFs};
use seglog::record::{self, RecordBatch};
use seglog::topic::CleanupPolicy;
use seglog::{Error, LogConfig, ManualClock, Record};

use crate::common_crash::{dir, DIR};
use crate::helpers::*;

const DAY: i64 = 86_400_000;

#[test]
fn deleted_keys_lose_their_values() {
    // Kafka: testCleaningWithDeletes.
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let config = LogConfig {
        segment_bytes: 1024,
        ..config()
    };
    let log = open_log(&fs, &clock, &config);
    while log.segments().len() < 2 {
        let o = log.log_end_offset();
        put(&log, &o.to_string(), Some(&o.to_string()), 1_000);
    }
    let leo = log.log_end_offset();
    for key in (0..leo).step_by(2) {
        put(&log, &key.to_string(), None, 1_000);
    }
    while log.segments().len() < 4 {
        let o = log.log_end_offset();
        put(&log, &o.to_string(), Some(&o.to_string()), 1_000);
    }
    let before = table(&log);
    let out = log.compact(1_000).unwrap();
    assert!(out.records_dropped > 0);
    let keys = keys_with_values(&log);
    for key in (0..leo).step_by(2) {
        assert!(!keys.contains(&key.to_string()), "key {key} kept its value");
    }
    assert_eq!(table(&log), before);
}

#[test]
fn a_round_reports_what_it_read_and_wrote() {
    // Kafka: testLogCleanerStats. Keys 0,1,0,1,0, roll, clean from 2.
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = open_log(&fs, &clock, &config());
    for k in ["0", "1", "0", "1", "0"] {
        put(&log, k, Some(k), 10);
    }
    log.roll().unwrap();
    log.close().unwrap();
    write_checkpoint(&fs, 2);
    let log = open_log(&fs, &clock, &config());
    let out = log.compact(10).unwrap();
    assert_eq!(out.first_dirty_offset, 2);
    assert_eq!(out.end_offset, 5);
    assert_eq!(out.records_read, 5);
    assert_eq!(out.records_kept, 2);
    assert_eq!(out.records_dropped, 3);
    assert_eq!(offsets(&log), [3, 4]);
    assert_eq!(log.cleaner_checkpoint(), Some(5));
}

#[test]
fn a_map_of_one_key_still_makes_progress_round_by_round() {
    // Kafka: testPartialSegmentClean.
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = open_log(&fs, &clock, &config());
    for k in ["0", "1", "0", "1", "0"] {
        put(&log, k, Some(k), 10);
    }
    log.roll().unwrap();
    log.close().unwrap();
    let expected: [(u64, &[u64], &[&str], u64); 3] = [
        (2, &[1, 2, 3, 4], &["1", "0", "1", "0"], 3),
        (3, &[2, 3, 4], &["0", "1", "0"], 4),
        (4, &[3, 4], &["1", "0"], 5),
    ];
    for (dirty, offs, keys, end) in expected {
        write_checkpoint(&fs, dirty);
        let log = open_log(&fs, &clock, &config());
        let out = log.compact_with(10, &one_key_map()).unwrap();
        assert_eq!(offsets(&log), offs, "from {dirty}");
        assert_eq!(keys_with_values(&log), keys, "from {dirty}");
        assert_eq!(out.end_offset, end, "from {dirty}");
        assert_eq!(out.keys_mapped, 1);
        log.close().unwrap();
    }
}

#[test]
fn a_full_map_ends_the_round_where_it_stopped_and_the_next_continues() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        segment_bytes: 512,
        ..config()
    };
    let log = open_log(&fs, &clock, &config);
    for i in 0..300u64 {
        put(&log, &format!("k{}", i % 40), Some(&i.to_string()), 10);
    }
    log.roll().unwrap();
    let before = table(&log);
    let small = CompactOptions {
        dedupe_buffer_bytes: 24 * 10,
        load_factor: 1.0,
        ..CompactOptions::default()
    };
    let mut rounds = 0;
    loop {
        let out = log.compact_with(10, &small).unwrap();
        assert!(out.map_bytes <= 24 * 10);
        assert!(out.keys_mapped <= 10);
        assert_eq!(table(&log), before, "round {rounds}");
        rounds += 1;
        if out.segments_read == 0 || out.end_offset == log.segments().last().unwrap().base_offset {
            break;
        }
        assert!(rounds < 100, "no progress");
    }
    assert!(rounds >= 4, "{rounds} rounds with a map of 10 keys for 40");
    let out = log.compact(10).unwrap();
    assert_eq!(records(&log).len(), 40, "{out:?}");
}

#[test]
fn segments_at_and_after_the_first_uncleanable_offset_are_untouched() {
    // Kafka: testCleaningWithUncleanableSection. min.compaction.lag.ms
    // keeps the young segments out of the round.
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        min_compaction_lag_ms: 1_000,
        ..config()
    };
    let log = open_log(&fs, &clock, &config);
    for (i, ts) in [(0u64, 10i64), (1, 10), (2, 5_000), (3, 5_000)] {
        put(&log, "k", Some(&i.to_string()), ts);
        log.roll().unwrap();
    }
    let files_before: Vec<_> = log
        .segments()
        .iter()
        .map(|s| (s.base_offset, s.size))
        .collect();
    let out = log.compact(5_500).unwrap();
    assert_eq!(out.first_uncleanable_offset, 2);
    assert_eq!(offsets(&log), [1, 2, 3]);
    let after: Vec<_> = log
        .segments()
        .iter()
        .map(|s| (s.base_offset, s.size))
        .collect();
    assert_eq!(after[1..], files_before[2..]);
    let section = log.cleanable_section(5_500).unwrap();
    assert_eq!(section.first_dirty_offset, 2);
}

#[test]
fn all_keys_superseded_leaves_one_empty_batch_per_group() {
    // Kafka: testCleanSegmentsRetainingLastEmptyBatch, with groups of
    // three one-record segments.
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = open_log(&fs, &clock, &config());
    let mut size = 0;
    for i in 0..4u64 {
        put(&log, "1", Some(&i.to_string()), 10);
        size = log.segments().last().unwrap().size;
        log.roll().unwrap();
    }
    log.close().unwrap();
    let config = LogConfig {
        segment_bytes: size * 3,
        ..config()
    };
    let log = open_log(&fs, &clock, &config);
    let out = log.compact(10).unwrap();
    assert_eq!(out.segments_written, 2);
    assert_eq!(offsets(&log), [3]);
    let segs = log.segments();
    assert_eq!(segs[0].base_offset, 0);
    let bytes = fs.read(&segs[0].path).unwrap();
    let batches: Vec<_> = record::batches(&bytes).collect::<Result<_, _>>().unwrap();
    assert_eq!(batches.len(), 1);
    let h = batches[0].header();
    assert_eq!((h.records_count, h.last_offset()), (0, 2));
    assert_eq!(h.base_timestamp, -1);
    batches[0].verify_crc().unwrap();
    assert_eq!(log.log_end_offset(), 4);
}

#[test]
fn a_tombstone_lives_until_its_horizon_set_by_the_round_that_kept_it() {
    // Kafka: testCleanTombstone, and KIP-534's horizon.
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        delete_retention_ms: DAY as u64,
        ..config()
    };
    let log = open_log(&fs, &clock, &config);
    put(&log, "a", Some("1"), 0);
    put(&log, "b", Some("1"), 0);
    // The tombstone's own timestamp is long past delete.retention.ms.
    put(&log, "a", None, 0);
    log.roll().unwrap();
    let now = 10 * DAY;
    log.compact(now).unwrap();
    assert_eq!(
        offsets(&log),
        [1, 2],
        "the tombstone stays after the first round"
    );
    let seg = &log.segments()[0];
    let bytes = fs.read(&seg.path).unwrap();
    let horizon_batch = record::batches(&bytes)
        .map(|b| b.unwrap())
        .find(|b| b.header().base_offset == 2)
        .unwrap();
    assert!(horizon_batch.header().attributes.has_delete_horizon());
    assert_eq!(horizon_batch.header().base_timestamp, now + DAY);
    // The tombstone keeps its own timestamp.
    let ts = log.iter(2).next().unwrap().unwrap().timestamp;
    assert_eq!(ts, 0);
    // Rounds before the horizon keep it; append more so a round has work.
    put(&log, "b", Some("2"), now);
    log.roll().unwrap();
    log.compact(now + DAY - 1).unwrap();
    assert!(offsets(&log).contains(&2));
    put(&log, "b", Some("3"), now);
    log.roll().unwrap();
    log.compact(now + DAY).unwrap();
    assert!(!offsets(&log).contains(&2), "{:?}", offsets(&log));
    assert_eq!(table(&log).get("a"), None);
    assert_eq!(table(&log).get("b").map(String::as_str), Some("3"));
}

#[test]
fn offset_gaps_between_segments_do_not_stop_the_dirty_section() {
    // Kafka: testCleaningBeyondMissingOffsets.
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = open_log(&fs, &clock, &config());
    for (base, key) in [(0u64, "a"), (15, "b"), (30, "a")] {
        let b = seglog::BatchBuilder::new()
            .base_offset(base)
            .build(&[Record::new("v").with_key(key).with_timestamp(1)])
            .unwrap();
        log.append_replicated(&b).unwrap();
        log.roll().unwrap();
    }
    let active = log.segments().last().unwrap().base_offset;
    let out = log.compact(1).unwrap();
    assert_eq!(out.end_offset, active);
    assert_eq!(log.cleaner_checkpoint(), Some(active));
    assert_eq!(offsets(&log), [15, 30]);
}

#[test]
fn the_last_batch_of_an_active_producer_stays_until_it_writes_again() {
    // Kafka: testLogCleanerRetainsProducerLastSequence.
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = open_log(&fs, &clock, &config());
    log.append_encoded(&producer_batch(0, 7, "k", 100)).unwrap();
    put(&log, "k", Some("plain"), 100);
    put(&log, "other", Some("x"), 100);
    log.roll().unwrap();
    log.compact(200).unwrap();
    let seg = &log.segments()[0];
    let bytes = fs.read(&seg.path).unwrap();
    let first: RecordBatch<'_> = record::batches(&bytes).next().unwrap().unwrap();
    assert_eq!(first.header().producer_id, 7);
    assert_eq!(first.header().records_count, 0, "kept, emptied");
    // The producer writes again: its old batch can go.
    log.append_encoded(&producer_batch(1, 7, "z", 100)).unwrap();
    log.roll().unwrap();
    log.compact(200).unwrap();
    let bytes = fs.read(&log.segments()[0].path).unwrap();
    let pids: Vec<(u64, i64)> = record::batches(&bytes)
        .map(|b| b.unwrap())
        .map(|b| (b.header().base_offset, b.header().producer_id))
        .collect();
    assert!(!pids.contains(&(0, 7)), "{pids:?}");
    // A producer silent for a day is not active any more.
    let log2 = {
        log.close().unwrap();
        open_log(&fs, &clock, &config())
    };
    put(&log2, "z", Some("new"), 100);
    log2.roll().unwrap();
    log2.compact(100 + DAY).unwrap();
    assert!(records(&log2)
        .iter()
        .all(|r| r.1 != "z" || r.2.as_deref() == Some("new")));
}

#[test]
fn only_compacted_logs_can_be_compacted() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        cleanup_policy: CleanupPolicy::Delete,
        ..config()
    };
    let log = open_log(&fs, &clock, &config);
    log.append(&[Record::new("no key").with_timestamp(1)])
        .unwrap();
    log.roll().unwrap();
    let err = log.compact(1).unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { field, .. } if field == "cleanup_policy"));
    assert_eq!(offsets(&log), [0]);
}

#[test]
fn records_without_a_key_are_dropped_and_nothing_uncleanable_changes() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = open_log(&fs, &clock, &config());
    // A follower copies what its leader has, keys or not.
    let keyless = seglog::BatchBuilder::new()
        .build(&[Record::new("x").with_timestamp(1)])
        .unwrap();
    log.append_replicated(&keyless).unwrap();
    put(&log, "k", Some("v"), 1);
    log.roll().unwrap();
    let active = seglog::BatchBuilder::new()
        .base_offset(2)
        .build(&[Record::new("y").with_timestamp(1)])
        .unwrap();
    log.append_replicated(&active).unwrap();
    let out = log.compact(1).unwrap();
    assert_eq!(out.records_without_key, 1);
    assert_eq!(offsets(&log), [1, 2]);
}

#[test]
fn keyless_records_dropped_where_the_map_filled_mid_batch_are_counted() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = open_log(&fs, &clock, &config());
    let keyed = |k: &str| Record::new("v").with_key(k).with_timestamp(1);
    put(&log, "a", Some("v"), 1);
    put(&log, "b", Some("v"), 1);
    // Room for four keys: the map fills at "e", after mapping the keyless
    // record at offset 3, which the round drops.
    let batch = seglog::BatchBuilder::new()
        .base_offset(2)
        .build(&[
            keyed("c"),
            Record::new("x").with_timestamp(1),
            keyed("d"),
            keyed("e"),
        ])
        .unwrap();
    log.append_replicated(&batch).unwrap();
    log.roll().unwrap();
    let options = seglog::compaction::CompactOptions {
        dedupe_buffer_bytes: 4 * seglog::compaction::ENTRY_BYTES,
        load_factor: 1.0,
        ..Default::default()
    };
    let out = log.compact_with(1, &options).unwrap();
    assert!(out.map_full);
    assert_eq!(out.end_offset, 5);
    assert_eq!(offsets(&log), [0, 1, 2, 4, 5]);
    assert_eq!(out.records_without_key, 1);
    assert_eq!(out.records_read - out.records_kept, 1);
}

#[test]
fn compressed_batches_are_rebuilt_with_their_codec() {
    for codec in [
        seglog::Compression::Gzip,
        seglog::Compression::Snappy,
        seglog::Compression::Lz4,
        seglog::Compression::Zstd,
    ] {
        if !codec.is_available() {
            continue;
        }
        let fs = MemFs::new();
        let clock = ManualClock::new(0);
        let config = LogConfig {
            compression: codec,
            ..config()
        };
        let log = open_log(&fs, &clock, &config);
        let recs: Vec<Record> = (0..10)
            .map(|i| {
                Record::new(format!("v{i}"))
                    .with_key(format!("k{}", i % 3))
                    .with_timestamp(i)
            })
            .collect();
        log.append(&recs).unwrap();
        log.roll().unwrap();
        let before = table(&log);
        log.compact(100).unwrap();
        assert_eq!(table(&log), before, "{codec:?}");
        assert_eq!(offsets(&log), [7, 8, 9], "{codec:?}");
        let bytes = fs.read(&log.segments()[0].path).unwrap();
        let b = record::batches(&bytes).next().unwrap().unwrap();
        b.verify_crc().unwrap();
        assert_eq!(b.header().compression(), codec);
        assert_eq!(b.header().last_offset(), 9);
    }
}

#[test]
fn cleaned_indexes_are_what_recovery_rebuilds() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        segment_bytes: 2048,
        ..config()
    };
    let log = open_log(&fs, &clock, &config);
    for i in 0..200u64 {
        put(
            &log,
            &format!("k{}", i % 25),
            Some(&format!("value {i}")),
            i as i64,
        );
    }
    log.roll().unwrap();
    log.compact(1_000).unwrap();
    let segs = log.segments();
    log.close().unwrap();
    let mut written = Vec::new();
    for s in &segs[..segs.len() - 1] {
        let index = s.path.with_extension("index");
        let time = s.path.with_extension("timeindex");
        written.push((fs.read(&index).unwrap(), fs.read(&time).unwrap()));
        fs.remove_file(&index).unwrap();
        fs.remove_file(&time).unwrap();
    }
    // Reopening rebuilds the missing indexes from the `.log` on first use.
    let log = open_log(&fs, &clock, &config);
    assert_eq!(records(&log).len(), 25);
    log.close().unwrap();
    for (s, (index, time)) in segs.iter().zip(&written) {
        assert_eq!(&fs.read(&s.path.with_extension("index")).unwrap(), index);
        assert_eq!(&fs.read(&s.path.with_extension("timeindex")).unwrap(), time);
    }
    seglog::inspect::verify_partition_dir_with(&fs, dir()).unwrap();
    let _ = DIR;
}

#[test]
fn a_truncation_below_the_checkpoint_lowers_it() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = open_log(&fs, &clock, &config());
    for i in 0..6u64 {
        put(&log, &format!("k{}", i % 2), Some(&i.to_string()), 1);
    }
    log.roll().unwrap();
    put(&log, "k9", Some("x"), 1);
    log.compact(1).unwrap();
    assert_eq!(log.cleaner_checkpoint(), Some(6));
    // Offsets 0..=3 were compacted away: the log ends where its data
    // below 5 ends. As in Kafka, the checkpoint goes down to the base of
    // the segment the truncation cut into.
    log.truncate_to(5).unwrap();
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(log.cleaner_checkpoint(), Some(0));
    log.close().unwrap();
    let log = open_log(&fs, &clock, &config());
    assert_eq!(
        log.cleaner_checkpoint(),
        Some(0),
        "the lowered checkpoint is on disk"
    );
    // Records appended again from 5 are dirty: the next round compacts them.
    for i in 0..4u64 {
        put(&log, "k0", Some(&format!("again {i}")), 1);
    }
    log.roll().unwrap();
    let out = log.compact(1).unwrap();
    assert_eq!(out.first_dirty_offset, 0);
    assert_eq!(table(&log).get("k0").map(String::as_str), Some("again 3"));
    assert_eq!(records(&log).iter().filter(|r| r.1 == "k0").count(), 1);
}

#[test]
fn a_round_moves_the_recovery_point_past_the_segments_it_fsynced() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        segment_bytes: 300,
        ..config()
    };
    let log = open_log(&fs, &clock, &config);
    // Rolls do not fsync the sealed segments: the recovery point stays.
    for i in 0..40u64 {
        put(&log, &format!("k{}", i % 5), Some(&format!("v{i}")), 1);
    }
    let active = log.segments().last().unwrap().base_offset;
    assert!(log.recovery_point() < active);
    log.compact(1).unwrap();
    assert_eq!(log.recovery_point(), active);
    let kept: Vec<_> = records(&log).into_iter().filter(|r| r.0 < active).collect();
    // A power loss now keeps every record the round wrote.
    let image = fs.crash(seglog::io::CrashMode::DurableOnly);
    drop(log);
    let log = open_log(&image, &clock, &config);
    let after: Vec<_> = records(&log).into_iter().filter(|r| r.0 < active).collect();
    assert_eq!(after, kept);
}

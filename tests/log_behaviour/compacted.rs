//! Reading a log with the offset gaps and empty batches a compaction
//! leaves (see `common_compacted`): every reader, from every offset.

use std::path::Path;

use seglog::inspect::verify_partition_dir_with;
use seglog::io::{Fs, MemFs};
use seglog::{BatchBuilder, Compression, LogConfig, ManualClock, PartitionLog, RecordBatch};

use crate::common_compacted::{
    append_compacted_log, compacted_config, compacted_offsets_from, compacted_records, empty_batch,
    CompactedBatch, COMPACTED_BATCHES, COMPACTED_END, HORIZON,
};
use crate::{mem_log, rec, reopen, DIR};

/// A log holding the compacted shape, with the file system and clock.
fn compacted() -> (MemFs, ManualClock, PartitionLog) {
    let (fs, clock, log) = mem_log(compacted_config());
    append_compacted_log(&log);
    (fs, clock, log)
}

/// The (offset, timestamp, value) of every record `iter(from)` returns.
fn iter_records(log: &PartitionLog, from: u64) -> Vec<(u64, i64, Option<Vec<u8>>)> {
    log.iter(from)
        .map(|r| {
            let r = r.unwrap();
            (r.offset, r.timestamp, r.value)
        })
        .collect()
}

/// Every reader returns, from every offset of the log (in gaps, in
/// batches around removed records, on empty batches, below the first
/// batch), the records from there on, with their own offsets and
/// timestamps.
fn check_every_reader(log: &PartitionLog) {
    let all: Vec<(u64, i64, Option<Vec<u8>>)> = compacted_records()
        .into_iter()
        .map(|(o, t, _, v)| (o, t, v))
        .collect();
    assert_eq!(iter_records(log, 0), all);
    // One record by offset: the record where one is left, nothing in a
    // gap or on a control batch, out of range at the end.
    for offset in 0..COMPACTED_END {
        let want = all.iter().find(|r| r.0 == offset).cloned();
        let got = log
            .read_record(offset)
            .unwrap()
            .map(|r| (r.offset, r.timestamp, r.value));
        assert_eq!(got, want, "read_record({offset})");
        let mut reader = log.reader(COMPACTED_END);
        let got = reader
            .record_at(offset)
            .unwrap()
            .map(|r| (r.offset, r.timestamp, r.value.map(<[u8]>::to_vec)));
        assert_eq!(got, want, "record_at({offset})");
    }
    // One kept reader, from the last offset down, twice.
    let mut reader = log.reader(0);
    for offset in (0..COMPACTED_END).rev().chain((0..COMPACTED_END).rev()) {
        let want = all.iter().find(|r| r.0 == offset).map(|r| r.0);
        let got = reader.record_at(offset).unwrap().map(|r| r.offset);
        assert_eq!(got, want, "kept reader's record_at({offset})");
    }
    assert!(matches!(
        log.read_record(COMPACTED_END),
        Err(seglog::Error::OffsetOutOfRange { requested, .. }) if requested == COMPACTED_END
    ));
    for from in 0..=COMPACTED_END {
        let want = compacted_offsets_from(from);
        let got: Vec<u64> = iter_records(log, from).iter().map(|r| r.0).collect();
        assert_eq!(got, want, "iter({from})");
        // One fetch of everything, and its owned records.
        let fetch = log.read(from, 1 << 20).unwrap();
        let got: Vec<u64> = fetch.records().map(|r| r.unwrap().offset).collect();
        assert_eq!(got, want, "read({from}).records()");
        assert_eq!(fetch.next_offset(), COMPACTED_END, "read({from})");
        // One batch a fetch: each fetch's first batch holds `from` or is
        // the next one after it, and the next fetch starts after it.
        let mut at = from;
        let mut got = Vec::new();
        for _ in 0..COMPACTED_BATCHES.len() + 1 {
            let fetch = log.read(at, 1).unwrap();
            if fetch.is_empty() {
                break;
            }
            let bytes = fetch.to_vec().unwrap();
            let h = *RecordBatch::parse(&bytes).unwrap().header();
            assert!(h.last_offset() >= at, "read({at}) gave {h:?}");
            assert_eq!(fetch.next_offset(), h.next_offset(), "read({at}, 1)");
            got.extend(fetch.records().map(|r| r.unwrap().offset));
            at = fetch.next_offset();
        }
        assert_eq!(at, COMPACTED_END, "one batch a fetch from {from}");
        assert_eq!(got, want, "one batch a fetch from {from}");
        // A decoding cursor one batch at a time: every batch at or after
        // `from`, empty ones included, each moving it to its next offset.
        let mut reader = log.reader(from).with_fetch_bytes(1);
        let mut batches = Vec::new();
        let mut got = Vec::new();
        while let Some(batch) = reader.next_batch().unwrap() {
            let h = *batch.header();
            batches.push((h.base_offset, h.last_offset(), h.records_count));
            for r in batch {
                got.push(r.unwrap().offset);
            }
            assert_eq!(reader.position(), h.next_offset());
            assert!(batches.len() <= COMPACTED_BATCHES.len(), "{batches:?}");
        }
        let want_batches: Vec<(u64, u64, u32)> = COMPACTED_BATCHES
            .into_iter()
            .filter(|b| b.1 >= from)
            .collect();
        assert_eq!(batches, want_batches, "reader({from})");
        assert_eq!(got, want, "reader({from})");
        assert_eq!(reader.position(), COMPACTED_END.max(from));
        assert!(reader.next_batch().unwrap().is_none());
    }
}

#[test]
fn every_reader_reads_a_compacted_log_from_every_offset() {
    let (fs, clock, log) = compacted();
    assert_eq!(log.log_start_offset(), 0);
    check_every_reader(&log);
    // The same once the log is closed and reopened (indexes read from
    // the files), and after an unclean shutdown with no checkpoint and no
    // index files (every segment read again, its indexes rebuilt).
    log.close().unwrap();
    let log = reopen(&fs, &clock, compacted_config());
    assert!(log.recovery_report().clean_shutdown);
    check_every_reader(&log);
    log.close().unwrap();
    for entry in fs.list_dir(Path::new(DIR)).unwrap() {
        let name = entry.name;
        if name.starts_with("seglog.") || name.ends_with("index") {
            fs.remove_file(&Path::new(DIR).join(name)).unwrap();
        }
    }
    let log = reopen(&fs, &clock, compacted_config());
    assert!(!log.recovery_report().clean_shutdown);
    assert_eq!(log.recovery_report().segments_recovered, 3);
    assert_eq!(
        (log.log_start_offset(), log.log_end_offset()),
        (0, COMPACTED_END)
    );
    check_every_reader(&log);
}

#[test]
fn the_decoded_records_of_empty_and_delete_horizon_batches() {
    // An empty batch: a header and nothing else, no records, no error.
    let bytes = empty_batch(10, 2, 1_050);
    assert_eq!(bytes.len(), 61);
    let batch = RecordBatch::parse(&bytes).unwrap();
    batch.verify_crc().unwrap();
    let h = batch.header();
    assert_eq!((h.records_count, h.next_offset()), (0, 13));
    assert_eq!((h.base_timestamp, h.max_timestamp), (-1, 1_050));
    let mut scratch = Vec::new();
    assert_eq!(batch.records(&mut scratch).unwrap().count(), 0);
    // A delete horizon: record timestamps are the horizon plus deltas
    // that are negative, not the horizon.
    let bytes = CompactedBatch::new(13, 2)
        .delete_horizon(HORIZON)
        .record(0, 1_010, "k3", Some(b"c"))
        .record(2, 1_012, "k4", None)
        .build();
    let batch = RecordBatch::parse(&bytes).unwrap();
    batch.verify_crc().unwrap();
    let h = batch.header();
    assert!(h.attributes.has_delete_horizon());
    assert_eq!((h.base_timestamp, h.max_timestamp), (HORIZON, 1_012));
    let got: Vec<(u64, i64, Option<Vec<u8>>)> = batch
        .records(&mut scratch)
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.offset, r.timestamp, r.value.map(<[u8]>::to_vec))
        })
        .collect();
    assert_eq!(got, [(13, 1_010, Some(b"c".to_vec())), (15, 1_012, None)]);
    // With log-append time every record reports the max timestamp.
    let bytes = CompactedBatch::new(13, 2)
        .delete_horizon(HORIZON)
        .log_append_time()
        .record(1, 1_010, "k3", Some(b"c"))
        .max_timestamp(2_000)
        .build();
    let batch = RecordBatch::parse(&bytes).unwrap();
    let got: Vec<(u64, i64)> = batch
        .records(&mut scratch)
        .unwrap()
        .map(|r| r.map(|r| (r.offset, r.timestamp)).unwrap())
        .collect();
    assert_eq!(got, [(14, 2_000)]);
}

#[test]
fn offset_for_timestamp_counts_records_not_batch_timestamps() {
    let (_fs, _clock, log) = compacted();
    let lookup = |ts: i64| {
        log.offset_for_timestamp(ts)
            .unwrap()
            .map(|l| (l.offset, l.timestamp))
    };
    // The first record at or after each target. The empty batch 10..=12
    // claims 1050 and the one at 31..=34 claims 1040, but holds no record:
    // targets above a record's timestamp go on to the next record, in
    // this segment or a later one, and past the last one there is none.
    // The delete horizon (far above every record) counts for nothing.
    for (ts, want) in [
        (-1, Some((4, 1_000))),
        (1_000, Some((4, 1_000))),
        (1_001, Some((6, 1_003))),
        (1_004, Some((13, 1_010))),
        (1_011, Some((15, 1_012))),
        (1_013, Some((23, 1_020))),
        (1_021, Some((30, 1_030))),
        (1_030, Some((30, 1_030))),
        (1_031, None),
        (1_040, None),
        (1_050, None),
        (HORIZON, None),
    ] {
        assert_eq!(lookup(ts), want, "target {ts}");
    }
    // Records below the log start offset never count.
    log.advance_log_start_offset(5).unwrap();
    assert_eq!(lookup(0), Some((6, 1_003)));
    log.advance_log_start_offset(16).unwrap();
    assert_eq!(lookup(0), Some((23, 1_020)));
}

#[test]
fn max_timestamp_is_a_records_not_an_empty_batchs() {
    let (fs, clock, log) = compacted();
    let max = |log: &PartitionLog| {
        log.max_timestamp()
            .unwrap()
            .map(|m| (m.offset, m.timestamp))
    };
    // Segment 0's largest timestamp (1050) and segment 30's (1040) belong
    // to empty batches: the largest record timestamp is 1030, at 30.
    assert_eq!(max(&log), Some((30, 1_030)));
    log.close().unwrap();
    let log = reopen(&fs, &clock, compacted_config());
    assert_eq!(max(&log), Some((30, 1_030)));
    // A log whose only batch is empty holds no record at all.
    let (_, _, empty) = crate::mem_log(LogConfig::default());
    empty.append_replicated(&empty_batch(0, 9, 1_000)).unwrap();
    assert_eq!(empty.log_end_offset(), 10);
    assert_eq!(max(&empty), None);
    assert_eq!(empty.offset_for_timestamp(0).unwrap(), None);
    assert!(empty.iter(0).next().is_none());
}

#[test]
fn verify_accepts_every_gap_and_counts_what_is_there() {
    let (fs, _clock, log) = compacted();
    log.close().unwrap();
    let report = verify_partition_dir_with(&fs, Path::new(DIR)).unwrap();
    let counts: Vec<(u64, u64, u64)> = report
        .segments
        .iter()
        .map(|s| (s.base_offset, s.batches, s.records))
        .collect();
    assert_eq!(counts, [(0, 3, 4), (16, 1, 1), (30, 2, 1)]);
    // The first record's offset, and the last offset of the last batch.
    let offsets: Vec<(Option<u64>, Option<u64>)> = report
        .segments
        .iter()
        .map(|s| (s.first_offset, s.last_offset))
        .collect();
    assert_eq!(
        offsets,
        [
            (Some(4), Some(15)),
            (Some(23), Some(23)),
            (Some(30), Some(34))
        ]
    );
    // Segment 0's largest timestamp is its empty batch's.
    assert_eq!(report.segments[0].max_timestamp, 1_050);
}

#[test]
fn verify_still_rejects_damage_around_gaps() {
    let fs = MemFs::new();
    let log_path = Path::new(DIR).join("00000000000000000000.log");
    let write = |batches: &[Vec<u8>]| {
        fs.create_dir_all(Path::new(DIR)).unwrap();
        fs.write(&log_path, &batches.concat()).unwrap();
    };
    let reason = |fs: &MemFs| match verify_partition_dir_with(fs, Path::new(DIR)) {
        Err(seglog::Error::Corrupt {
            path,
            position,
            reason,
        }) => {
            assert_eq!(path, log_path);
            (position, reason)
        }
        other => panic!("{other:?}"),
    };
    // Offsets going back after an empty batch.
    write(&[empty_batch(10, 2, 5), empty_batch(12, 0, 5)]);
    let (position, why) = reason(&fs);
    assert_eq!(position, 61);
    assert!(why.contains("not strictly increasing"), "{why}");
    // A damaged empty batch.
    let mut bad = empty_batch(10, 2, 5);
    bad[40] ^= 1;
    write(&[empty_batch(3, 0, 5), bad]);
    let (position, why) = reason(&fs);
    assert_eq!(position, 61);
    assert!(why.contains("CRC"), "{why}");
    // Record offsets inside a batch out of order.
    let backwards = CompactedBatch::new(3, 4)
        .record(3, 1, "a", Some(b"a"))
        .record(1, 2, "b", Some(b"b"))
        .build();
    write(&[backwards]);
    let (position, why) = reason(&fs);
    assert_eq!(position, 0);
    assert!(why.contains("not increasing"), "{why}");
    // A delete-horizon batch whose max timestamp is not its records'.
    let lying = CompactedBatch::new(3, 4)
        .delete_horizon(HORIZON)
        .record(1, 1_000, "a", None)
        .max_timestamp(HORIZON)
        .build();
    write(&[lying]);
    let (_, why) = reason(&fs);
    assert!(why.contains("max_timestamp"), "{why}");
}

#[test]
fn a_log_of_empty_batches_is_read_past() {
    let config = LogConfig {
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let (_fs, _clock, log) = mem_log(config);
    let batches = [
        empty_batch(57, 0, 1),
        empty_batch(58, 9, 2),
        empty_batch(100, 0, 3),
    ]
    .concat();
    log.append_replicated(&batches).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 101));
    for from in [0, 57, 58, 60, 67, 68, 99, 100] {
        assert!(log.iter(from).next().is_none(), "{from}");
        let fetch = log.read(from, 1 << 20).unwrap();
        assert_eq!(fetch.next_offset(), 101, "{from}");
        assert_eq!(fetch.records().count(), 0);
        let mut reader = log.reader(from).with_fetch_bytes(1);
        let mut n = 0;
        while reader.next_batch().unwrap().is_some() {
            n += 1;
            assert!(n <= 3);
        }
        assert_eq!(reader.position(), 101, "{from}");
    }
    assert!(log.read(101, 1 << 20).unwrap().is_empty());
}

#[test]
fn a_compressed_batch_whose_last_records_were_removed() {
    if !Compression::Gzip.is_available() {
        return;
    }
    // A gzip batch of offsets 0..=9 holding records 0..=2 only (its last
    // offset delta kept at 9, as a cleaner rewrites it), then one at 20.
    let mut first = BatchBuilder::new()
        .compression(Compression::Gzip)
        .build(&[rec("a", 1), rec("b", 2), rec("c", 3)])
        .unwrap();
    first[23..27].copy_from_slice(&9i32.to_be_bytes());
    let crc = crc32c::crc32c(&first[21..]);
    first[17..21].copy_from_slice(&crc.to_be_bytes());
    let second = BatchBuilder::new()
        .base_offset(20)
        .compression(Compression::Gzip)
        .build(&[rec("d", 4)])
        .unwrap();
    let (_fs, _clock, log) = mem_log(LogConfig::default());
    log.append_replicated(&[first, second].concat()).unwrap();
    assert_eq!(log.log_end_offset(), 21);
    for (from, want) in [
        (0, &[0, 1, 2, 20][..]),
        (1, &[1, 2, 20]),
        (3, &[20]),
        (9, &[20]),
        (10, &[20]),
    ] {
        let got: Vec<u64> = log.iter(from).map(|r| r.unwrap().offset).collect();
        assert_eq!(got, want, "iter({from})");
        // One batch: the first one (up to 9), or the one at 20.
        let in_batch: Vec<u64> = want
            .iter()
            .copied()
            .filter(|o| (*o < 10) == (from < 10))
            .collect();
        let fetch = log.read(from, 1).unwrap();
        let got: Vec<u64> = fetch.records().map(|r| r.unwrap().offset).collect();
        assert_eq!(got, in_batch, "read({from}, 1)");
        let next = if from < 10 { 10 } else { 21 };
        assert_eq!(fetch.next_offset(), next);
        let mut reader = log.reader(from).with_fetch_bytes(1);
        let got: Vec<u64> = reader
            .next_batch()
            .unwrap()
            .unwrap()
            .map(|r| r.unwrap().offset)
            .collect();
        assert_eq!(got, in_batch, "reader({from})");
        assert_eq!(reader.position(), next, "reader({from})");
    }
    // One record by offset from the compressed batches, owned and borrowed
    // (a kept reader, its cursor left alone).
    let mut reader = log.reader(0);
    for offset in 0..21 {
        let want = [0, 1, 2, 20].contains(&offset).then_some(offset);
        let owned = log.read_record(offset).unwrap().map(|r| r.offset);
        assert_eq!(owned, want, "read_record({offset})");
        let borrowed = reader.record_at(offset).unwrap().map(|r| r.offset);
        assert_eq!(borrowed, want, "record_at({offset})");
    }
    let value = reader.record_at(20).unwrap().and_then(|r| r.value);
    assert_eq!(value, Some(&b"d"[..]));
    assert_eq!(reader.position(), 0);
}

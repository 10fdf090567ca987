//! Kafka's rules for rolling segments, indexing appends and stamping
//! batches, each test named after the Kafka code it follows.

use crate::common_crash;

use common_crash::{dir, open};
use seglog::inspect::{read_offset_index, read_time_index};
use seglog::io::{CrashMode, MemFs};
use seglog::{
    BatchBuilder, Durability, Error, LogConfig, ManualClock, PartitionLog, Record, RecordBatch,
    RecoveryMode,
};

const STRICT: RecoveryMode = RecoveryMode::Strict;

fn clock() -> ManualClock {
    ManualClock::new(1_000_000)
}

/// A batch of `n` records of `len` bytes at `base`, as a leader wrote it.
fn batch_at(base: u64, n: usize, len: usize, epoch: i32) -> Vec<u8> {
    let records: Vec<Record> = (0..n)
        .map(|i| Record::new(vec![b'r'; len]).with_timestamp(5_000 + i as i64))
        .collect();
    BatchBuilder::new()
        .base_offset(base)
        .partition_leader_epoch(epoch)
        .build(&records)
        .unwrap()
}

fn bases(log: &PartitionLog) -> Vec<u64> {
    log.segments().iter().map(|s| s.base_offset).collect()
}

/// Kafka's `UnifiedLog.append` calls `maybeRoll` once with the size and
/// offsets of the whole append (`LogSegment.shouldRoll` with the append's
/// total size), then appends all of it to one segment.
#[test]
fn one_append_never_spans_two_segments() {
    let fs = MemFs::new();
    let one = batch_at(0, 1, 100, 0).len() as u64;
    let config = LogConfig {
        segment_bytes: 10 * one,
        ..LogConfig::default()
    };
    let log = open(&fs, &clock(), STRICT, &config).unwrap();
    // Seven batches: room for three more.
    for o in 0..7 {
        log.append_replicated(&batch_at(o, 1, 100, 0)).unwrap();
    }
    // Four batches in one append: more than the room left. Appended one
    // by one, three would fill this segment and the fourth start the
    // next; as one append, all four go to a new segment.
    let four: Vec<u8> = (7..11).flat_map(|o| batch_at(o, 1, 100, 0)).collect();
    log.append_replicated(&four).unwrap();
    assert_eq!(bases(&log), [0, 7]);
    // Three more fit in what is left of the new segment: no roll.
    let three: Vec<u8> = (11..14).flat_map(|o| batch_at(o, 1, 100, 0)).collect();
    log.append_replicated(&three).unwrap();
    assert_eq!(bases(&log), [0, 7]);
    // The same with producer batches.
    let produced: Vec<u8> = (0..4).flat_map(|_| batch_at(0, 1, 100, -1)).collect();
    let info = log.append_encoded(&produced).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (14, 17));
    assert_eq!(bases(&log), [0, 7, 14]);
    // An append larger than a segment as a whole is refused, as Kafka
    // refuses it (`RecordBatchTooLargeException`), and nothing is written.
    let eleven: Vec<u8> = (18..29).flat_map(|o| batch_at(o, 1, 100, 0)).collect();
    let r = log.append_replicated(&eleven);
    assert!(
        matches!(r, Err(Error::RecordTooLarge { size, max }) if size == 11 * one && max == 10 * one),
        "{r:?}"
    );
    assert_eq!(log.log_end_offset(), 18);
    log.close().unwrap();
    let log = open(&fs, &clock(), STRICT, &config).unwrap();
    assert_eq!(bases(&log), [0, 7, 14]);
}

/// An append whose offsets no single segment can hold relative to one
/// base offset is split where it must be (Kafka would fail it with
/// `LogSegmentOffsetOverflowException`); each part goes whole into a
/// segment.
#[test]
fn an_append_spanning_more_than_2_pow_31_offsets_is_split_where_it_must_be() {
    let fs = MemFs::new();
    let log = open(&fs, &clock(), STRICT, &LogConfig::default()).unwrap();
    let far = (1u64 << 31) + 5;
    let mut input = batch_at(0, 2, 10, 0);
    input.extend(batch_at(2, 1, 10, 0));
    input.extend(batch_at(far, 1, 10, 0));
    input.extend(batch_at(far + 1, 1, 10, 0));
    log.append_replicated(&input).unwrap();
    assert_eq!(bases(&log), [0, far]);
    assert_eq!(log.log_end_offset(), far + 2);
}

/// Kafka's `LocalLog.roll(expectedNextOffset)`: the new segment's base
/// offset is `max(expectedNextOffset, logEndOffset)`, where
/// `UnifiedLog.maybeRoll` passes the first offset of the append.
#[test]
fn a_replicated_append_above_the_log_end_rolls_to_its_first_offset() {
    let fs = MemFs::new();
    let one = batch_at(0, 1, 100, 0).len() as u64;
    let config = LogConfig {
        segment_bytes: 3 * one,
        ..LogConfig::default()
    };
    let log = open(&fs, &clock(), STRICT, &config).unwrap();
    for o in 0..3 {
        log.append_replicated(&batch_at(o, 1, 100, 0)).unwrap();
    }
    // The segment is full: the append at 100 rolls, to a segment based at
    // 100 (not at the log end offset, 3).
    log.append_replicated(&batch_at(100, 1, 100, 0)).unwrap();
    assert_eq!(bases(&log), [0, 100]);
    // An append above the end that does not roll stays in the segment.
    log.append_replicated(&batch_at(200, 1, 100, 0)).unwrap();
    assert_eq!(bases(&log), [0, 100]);
    assert_eq!(log.log_end_offset(), 201);
    let offsets: Vec<u64> = log.iter(0).map(|r| r.unwrap().offset).collect::<Vec<_>>();
    assert_eq!(offsets, [0, 1, 2, 100, 200]);
    // After a power loss the gap between the segments is no loss: the
    // open finds the log as it was.
    drop(log);
    let crashed = fs.crash(CrashMode::DurableOnly);
    let log = open(&crashed, &clock(), STRICT, &config).unwrap();
    assert_eq!(bases(&log), [0, 100]);
    assert!(log.log_end_offset() >= 101);
}

/// Single-record batches of a fixed size, and an index interval of two
/// and a half batches: Kafka adds an entry before a batch when more than
/// the interval has been appended since the last entry.
fn interval_setup() -> (MemFs, LogConfig, u64) {
    let size = batch_at(0, 1, 60, 0).len() as u64;
    let config = LogConfig {
        index_interval_bytes: (size * 5 / 2) as u32,
        ..LogConfig::default()
    };
    (MemFs::new(), config, size)
}

fn append_n(log: &PartitionLog, n: usize) {
    for _ in 0..n {
        log.append(&[Record::new(vec![b'r'; 60]).with_timestamp(5_000)])
            .unwrap();
    }
}

fn index_positions(fs: &MemFs) -> Vec<u64> {
    let path = dir().join(format!("{:020}.index", 0));
    read_offset_index(fs, &path, 0)
        .unwrap()
        .iter()
        .map(|e| u64::from(e.position))
        .collect()
}

/// Kafka's `LogSegment` starts `bytesSinceLastIndexEntry` at 0 when it is
/// opened from disk (the field's initial value; `LogSegment.recover` does
/// not change it): the first entry after a reopen comes only once more
/// than the interval has been appended since.
#[test]
fn a_reopened_segment_counts_bytes_since_its_last_entry_from_zero() {
    for unclean in [false, true] {
        let (fs, config, size) = interval_setup();
        let log = open(&fs, &clock(), STRICT, &config).unwrap();
        append_n(&log, 5);
        // A clean close, or a power loss after the batches were synced
        // (the open then recovers the segment).
        let fs = if unclean {
            log.sync().unwrap();
            let crashed = fs.crash(CrashMode::DurableOnly);
            drop(log);
            crashed
        } else {
            log.close().unwrap();
            fs
        };
        let log = open(&fs, &clock(), STRICT, &config).unwrap();
        assert_eq!(log.recovery_report().clean_shutdown, !unclean);
        append_n(&log, 4);
        log.close().unwrap();
        // Entries before batches 3 and (after the reopen at batch 5)
        // batch 8, not batch 6.
        assert_eq!(
            index_positions(&fs),
            [3 * size, 8 * size],
            "unclean: {unclean}"
        );
    }
}

/// Kafka's `LogSegment.truncateTo` sets `bytesSinceLastIndexEntry = 0` and
/// resizes the indexes to their maximum (`UnifiedLogTest.testIndexResizingAtTruncation`).
#[test]
fn truncation_counts_bytes_since_the_last_entry_from_zero() {
    let (fs, config, size) = interval_setup();
    let log = open(&fs, &clock(), STRICT, &config).unwrap();
    append_n(&log, 8);
    log.truncate_to(7).unwrap();
    append_n(&log, 4);
    log.close().unwrap();
    // Entries before batches 3 and 6; after the truncation at batch 7 the
    // next comes before batch 10, not 9.
    assert_eq!(index_positions(&fs), [3 * size, 6 * size, 10 * size]);
}

/// Kafka's `LogLoader.load` resizes the active segment's indexes to
/// `segment.index.bytes` (`resizeIndexes(config.maxIndexSize)`); they are
/// trimmed when the segment rolls (`onBecomeInactiveSegment`).
#[test]
fn the_active_segment_indexes_are_preallocated_again_after_a_reopen() {
    let fs = MemFs::new();
    let config = LogConfig {
        segment_index_bytes: 1000,
        index_interval_bytes: 0,
        ..LogConfig::default()
    };
    let index = dir().join(format!("{:020}.index", 0));
    let time = dir().join(format!("{:020}.timeindex", 0));
    let log = open(&fs, &clock(), STRICT, &config).unwrap();
    append_n(&log, 3);
    log.close().unwrap();
    assert_eq!(fs.read(&index).unwrap().len(), 16, "trimmed by the close");
    // Reopened: the files are untouched until the log changes, then back
    // at their full size, whole entries (1000 rounded down).
    let log = open(&fs, &clock(), STRICT, &config).unwrap();
    assert_eq!(fs.read(&index).unwrap().len(), 16);
    append_n(&log, 1);
    assert_eq!(fs.read(&index).unwrap().len(), 1000);
    assert_eq!(fs.read(&time).unwrap().len(), 996);
    log.roll().unwrap();
    assert_eq!(
        read_offset_index(&fs, &index, 0).unwrap().len() * 8,
        fs.read(&index).unwrap().len(),
        "trimmed by the roll"
    );
    assert_eq!(
        read_time_index(&fs, &time, 0).unwrap().len() * 12,
        fs.read(&time).unwrap().len()
    );
}

/// A Kafka leader stamps its leader epoch on every batch it appends
/// (`UnifiedLog.appendAsLeader(records, leaderEpoch)`, applied by
/// `LogValidator`), where a producer sends -1; followers keep the epoch
/// the batches carry (`appendAsFollower`).
#[test]
fn leader_appends_carry_partition_leader_epoch_zero() {
    let fs = MemFs::new();
    let log = open(&fs, &clock(), STRICT, &LogConfig::default()).unwrap();
    log.append(&[Record::new("a")]).unwrap();
    log.append_with(&[Record::new("b")], Durability::Sync)
        .unwrap();
    log.append_encoded(&batch_at(0, 2, 10, -1)).unwrap();
    log.append_replicated(&batch_at(4, 1, 10, 7)).unwrap();
    let bytes = log.read(0, 1 << 20).unwrap().to_vec().unwrap();
    let epochs: Vec<i32> = seglog::record::batches(&bytes)
        .map(|b| b.unwrap().header().partition_leader_epoch)
        .collect();
    assert_eq!(epochs, [0, 0, 0, 7]);
    for b in seglog::record::batches(&bytes) {
        RecordBatch::parse(b.unwrap().as_bytes())
            .unwrap()
            .verify_crc()
            .unwrap();
    }
}

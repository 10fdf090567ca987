//! Consumers of a partition with the offset gaps and empty batches a
//! compaction leaves (see `common_compacted`), in a store open for
//! writing and in a read-only store following it.

use std::time::{Duration, Instant};

use seglog::io::MemFs;
use seglog::store::{LogStore, StoreConfig, StoreOptions};
use seglog::{ConsumerConfig, ManualClock};

use crate::common_compacted::{
    append_compacted_log, compacted_appends, compacted_offsets_from, empty_batch, CompactedBatch,
    COMPACTED_END,
};
use crate::{earliest, mem_store, ROOT};

/// The topic overrides the compacted shape needs.
const OVERRIDES: [(&str, &str); 2] = [("segment.bytes", "2048"), ("index.interval.bytes", "1")];

fn compacted_store() -> (MemFs, ManualClock, LogStore) {
    let (fs, clock, store) = mem_store();
    store.create_topic("t", 1, &OVERRIDES).unwrap();
    append_compacted_log(&store.partition("t", 0).unwrap());
    (fs, clock, store)
}

/// Polls from `from` until the position reaches the end, checking that
/// the position only moves forward, stays within the log, and after each
/// poll is past what it returned. Returns the offsets, and the positions
/// after each poll that returned records.
fn consume_from(
    store: &LogStore,
    config: &ConsumerConfig,
    from: u64,
) -> (Vec<u64>, Vec<(u64, u64)>) {
    let mut consumer = store.consumer(config.clone());
    consumer.assign(&[("t", 0)]).unwrap();
    consumer.seek(("t", 0), from).unwrap();
    let mut position = consumer.position(("t", 0)).unwrap();
    assert_eq!(position, from);
    let (mut got, mut after) = (Vec::new(), Vec::new());
    for _ in 0..40 {
        if position == COMPACTED_END {
            break;
        }
        let records = consumer.poll(Duration::from_millis(10)).unwrap();
        let now = consumer.position(("t", 0)).unwrap();
        assert!(
            now >= position && now <= COMPACTED_END,
            "{position} -> {now}"
        );
        if let Some(last) = records.last() {
            assert!(
                now > last.offset,
                "position {now} after offset {}",
                last.offset
            );
            after.push((last.offset, now));
        }
        got.extend(records.iter().map(|r| r.offset));
        position = now;
    }
    assert_eq!(position, COMPACTED_END, "from {from}: stuck");
    // At the end: nothing more, and the position stays.
    assert!(consumer.poll(Duration::ZERO).unwrap().is_empty());
    assert_eq!(consumer.position(("t", 0)).unwrap(), COMPACTED_END);
    (got, after)
}

#[test]
fn a_consumer_reads_a_compacted_partition_from_every_position() {
    let (_fs, _clock, store) = compacted_store();
    let one_batch = ConsumerConfig {
        max_partition_fetch_bytes: 1,
        ..earliest()
    };
    let one_record = ConsumerConfig {
        max_poll_records: 1,
        ..one_batch.clone()
    };
    for config in [earliest(), one_batch, one_record.clone()] {
        for from in 0..=COMPACTED_END {
            let (got, _) = consume_from(&store, &config, from);
            assert_eq!(got, compacted_offsets_from(from), "from {from}, {config:?}");
        }
    }
    // One record a poll: once the last record of a batch is returned, the
    // position is the batch's next offset, not the record's + 1 (the
    // records after it were removed); before that, the next record's
    // offset is still to come.
    let (_, after) = consume_from(&store, &one_record, 0);
    assert_eq!(
        after,
        [(4, 5), (6, 8), (13, 14), (15, 16), (23, 24), (30, 31)]
    );
}

#[test]
fn a_poll_reads_past_offsets_without_records_within_its_timeout() {
    // A partition limit of one batch, and a run of empty batches before
    // the next record: each read moves the position past one of them,
    // and the poll goes on reading instead of waiting for an append.
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 1, &[]).unwrap();
    let log = store.partition("t", 0).unwrap();
    let mut batches: Vec<u8> = (0..5).flat_map(|i| empty_batch(10 * i, 9, 5)).collect();
    batches.extend(
        CompactedBatch::new(50, 0)
            .record(0, 7, "k", Some(b"v"))
            .build(),
    );
    log.append_replicated(&batches).unwrap();
    let mut consumer = store.consumer(ConsumerConfig {
        max_partition_fetch_bytes: 1,
        ..earliest()
    });
    consumer.assign(&[("t", 0)]).unwrap();
    let started = Instant::now();
    let records = consumer.poll(Duration::from_secs(2)).unwrap();
    let offsets: Vec<u64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [50]);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the poll waited out its timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(consumer.position(("t", 0)).unwrap(), 51);
}

#[test]
fn a_read_only_consumer_follows_a_compacted_partition() {
    let (fs, clock, writer) = mem_store();
    writer.create_topic("t", 1, &OVERRIDES).unwrap();
    let reader = StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .read_only(true)
        .open(
            ROOT,
            StoreConfig {
                refresh_interval: Duration::from_millis(5),
                ..StoreConfig::default()
            },
        )
        .unwrap();
    let mut consumer = reader.consumer(earliest());
    consumer.assign(&[("t", 0)]).unwrap();
    let log = writer.partition("t", 0).unwrap();
    let [first, second, third] = compacted_appends();
    let mut got = Vec::new();
    // What the reader sees after each step of the writer: the records
    // and the position (the next offset of the last batch).
    let mut poll_until = |end: u64, got: &mut Vec<u64>| {
        let started = Instant::now();
        while consumer.position(("t", 0)).unwrap() < end {
            assert!(started.elapsed() < Duration::from_secs(10), "stuck");
            got.extend(
                consumer
                    .poll(Duration::from_millis(50))
                    .unwrap()
                    .iter()
                    .map(|r| r.offset),
            );
        }
        assert_eq!(consumer.position(("t", 0)).unwrap(), end);
    };
    log.append_replicated(&first).unwrap();
    poll_until(16, &mut got);
    assert_eq!(got, [4, 6, 13, 15]);
    log.roll().unwrap();
    log.append_replicated(&second).unwrap();
    poll_until(24, &mut got);
    log.append_replicated(&third).unwrap();
    poll_until(COMPACTED_END, &mut got);
    assert_eq!(got, compacted_offsets_from(0));
    // A second reader opened on the finished log reads the same.
    let late = StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .read_only(true)
        .open(ROOT, StoreConfig::default())
        .unwrap();
    let part = late.partition("t", 0).unwrap();
    assert_eq!(
        (part.log_start_offset(), part.log_end_offset()),
        (0, COMPACTED_END)
    );
    let mut consumer = late.consumer(earliest());
    consumer.assign(&[("t", 0)]).unwrap();
    let mut got = Vec::new();
    let started = Instant::now();
    while consumer.position(("t", 0)).unwrap() < COMPACTED_END {
        assert!(started.elapsed() < Duration::from_secs(10), "stuck");
        got.extend(
            consumer
                .poll(Duration::from_millis(50))
                .unwrap()
                .iter()
                .map(|r| r.offset),
        );
    }
    assert_eq!(got, compacted_offsets_from(0));
}

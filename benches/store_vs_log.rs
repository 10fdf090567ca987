//! Criterion benchmarks of the store's producer and consumer against the
//! partition log beneath them, each beside its log baseline in the same
//! group and run, for records of 100 B and 1 KiB:
//!
//! * `send_vs_append/<size>`: 1,024 records per iteration to one
//!   partition, through `Producer::send` (default batching, no durability
//!   per record, `Durability::None`) against `PartitionLog::append_with`
//!   of the same records in batches of the size the producer makes (read
//!   back from its log), on a partition of the same store. Each value is
//!   copied into its record in both, and both take their timestamps from
//!   the system clock. Iterations are timed in stretches of about 64 MiB,
//!   at the end of which the producer is flushed and both logs' buffered
//!   bytes are handed to the OS; between stretches, untimed, the log is
//!   truncated to its start. So gigabytes of appends go to one segment
//!   file that never outgrows 64 MiB: they neither fill the disk nor make
//!   the OS throttle the writes of whichever side happens to run while
//!   it writes back dirty pages, and no file is created or deleted while
//!   timed (which costs more the more files were deleted before). Beside
//!   them, 1,024 reads of the system clock: what stamping each record at
//!   `send` costs.
//! * `consume/<size>`: a partition of about 21 MiB (200,000 records of
//!   100 B, 20,000 of 1 KiB, written by a producer) read from the start:
//!   a `LogReader` touching every record's value (the baseline), against
//!   `Consumer::poll` (owned records) and `Consumer::poll_each` (borrowed
//!   records), default config (500 records a poll). Throughput is in
//!   `.log` bytes.
//! * `seek_poll/<size>`: one record at a random offset of the same
//!   partitions: `LogReader::seek` + its first record (the baseline),
//!   against `Consumer::seek` + `poll` and + `poll_each` of a consumer
//!   with `max_poll_records` 1.
//!
//! `cargo bench --bench store_vs_log` runs them; `-- --quick` for a
//! shorter run.

use std::cell::OnceCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use seglog::store::{
    AutoOffsetReset, Consumer, ConsumerConfig, LogStore, ProducerConfig, ProducerRecord,
    StoreConfig,
};
use seglog::{Clock, Durability, PartitionLog, Record, SystemClock};
use tempfile::TempDir;

mod common;
use common::{poll_owned, xorshift};

const SIZES: [(&str, usize); 2] = [("100B", 100), ("1KiB", 1024)];

fn value(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j * 7) as u8).collect()
}

fn producer(store: &LogStore) -> seglog::Producer {
    store.producer(ProducerConfig {
        durability: Some(Durability::None),
        ..ProducerConfig::default()
    })
}

/// Records sent per `send_vs_append` iteration.
const SEND_RECORDS: usize = 1_024;

fn bench_send_vs_append(c: &mut Criterion) {
    for (name, len) in SIZES {
        let values: Vec<Vec<u8>> = (0..SEND_RECORDS).map(|i| value(i, len)).collect();
        // Built on first use, so that a filtered run does not pay for it.
        let setup: OnceCell<(TempDir, LogStore, PartitionLog, PartitionLog, usize)> =
            OnceCell::new();
        let setup = || {
            setup.get_or_init(|| {
                let dir = tempfile::tempdir().unwrap();
                let store = LogStore::open(dir.path(), StoreConfig::default()).unwrap();
                for topic in ["sent", "appended"] {
                    store
                        .create_topic(topic, 1, &[("retention.ms", "-1")])
                        .unwrap();
                }
                let sent = store.partition("sent", 0).unwrap();
                let appended = store.partition("appended", 0).unwrap();
                // The producer's batch size, for the baseline's appends.
                let p = producer(&store);
                for v in &values {
                    p.send(ProducerRecord::new("sent", v.clone()).with_partition(0))
                        .unwrap();
                }
                p.flush().unwrap();
                let mut reader = sent.reader(0);
                let per_batch = reader.next_batch().unwrap().unwrap().header().records_count;
                (dir, store, sent, appended, per_batch as usize)
            })
        };
        let mut group = c.benchmark_group(format!("send_vs_append/{name}"));
        group.throughput(Throughput::Bytes((SEND_RECORDS * len) as u64));
        group.sample_size(30);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(4));
        let stretch = (STRETCH_BYTES / (SEND_RECORDS * len)).max(1) as u64;
        group.bench_function("PartitionLog::append", |b| {
            let (_, _, _, log, per_batch) = setup();
            b.iter_custom(|iters| {
                in_stretches(iters, stretch, log, |n| {
                    for _ in 0..n {
                        for chunk in values.chunks(*per_batch) {
                            let records: Vec<Record> =
                                chunk.iter().map(|v| Record::new(v.clone())).collect();
                            log.append_with(&records, Durability::None).unwrap();
                        }
                    }
                    log.flush_with(Durability::Flush).unwrap();
                })
            })
        });
        // What the producer's timestamps alone cost: one clock read a
        // record, as `send` makes (Kafka's producer stamps each record at
        // send), where the log's append reads it once a batch.
        group.bench_function("system clock, once a record", |b| {
            b.iter(|| {
                let mut sum = 0i64;
                for _ in 0..SEND_RECORDS {
                    sum = sum.wrapping_add(SystemClock.now_ms());
                }
                black_box(sum)
            })
        });
        group.bench_function("Producer::send+flush", |b| {
            let (_, store, log, _, _) = setup();
            b.iter_custom(|iters| {
                let producer = producer(store);
                in_stretches(iters, stretch, log, |n| {
                    for _ in 0..n {
                        for v in &values {
                            let record = ProducerRecord::new("sent", v.clone()).with_partition(0);
                            producer.send(record).unwrap();
                        }
                    }
                    producer.flush().unwrap();
                    log.flush_with(Durability::Flush).unwrap();
                })
            })
        });
        group.finish();
    }
}

/// Bytes appended between two maintenance passes of `send_vs_append`.
const STRETCH_BYTES: usize = 64 << 20;

/// Runs `iters` iterations as `run(n)` calls of at most `stretch`
/// iterations each, timed, each followed by an untimed truncation of
/// `log` to its start; returns the time of the calls.
fn in_stretches(
    iters: u64,
    stretch: u64,
    log: &PartitionLog,
    mut run: impl FnMut(u64),
) -> Duration {
    let mut elapsed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(stretch);
        let start = Instant::now();
        run(n);
        elapsed += start.elapsed();
        log.truncate_to(log.log_start_offset()).unwrap();
        left -= n;
    }
    elapsed
}

/// `.log` bytes of each `consume` partition, about.
const CONSUME_BYTES: usize = 21 << 20;

/// A store whose partition 0 of `topic` holds about `CONSUME_BYTES` of
/// records of `len` bytes; returns it and the record count.
fn build_consume_store(len: usize) -> (TempDir, LogStore, usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), StoreConfig::default()).unwrap();
    store
        .create_topic("t", 1, &[("retention.ms", "-1")])
        .unwrap();
    let n = CONSUME_BYTES / (len + 10);
    {
        let p = producer(&store);
        for i in 0..n {
            let record = ProducerRecord::new("t", value(i, len))
                .with_partition(0)
                .with_timestamp(1_700_000_000_000 + i as i64);
            p.send(record).unwrap();
        }
        p.flush().unwrap();
    }
    store.sync().unwrap();
    (dir, store, n)
}

fn consumer(store: &LogStore, max_poll_records: usize) -> Consumer {
    let mut consumer = store.consumer(ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Error,
        max_poll_records,
        ..ConsumerConfig::default()
    });
    consumer.assign(&[("t", 0)]).unwrap();
    consumer
}

fn bench_consume(c: &mut Criterion) {
    for (name, len) in SIZES {
        let (_dir, store, n) = build_consume_store(len);
        let log = store.partition("t", 0).unwrap();
        assert_eq!(log.log_end_offset(), n as u64);
        let mut group = c.benchmark_group(format!("consume/{name}"));
        group.throughput(Throughput::Bytes(log.size_bytes()));
        group.sample_size(20);
        group.measurement_time(Duration::from_secs(6));
        group.bench_function("LogReader", |b| {
            b.iter(|| {
                let mut reader = log.reader(0);
                let (mut records, mut value_bytes) = (0usize, 0usize);
                while let Some(batch) = reader.next_batch().unwrap() {
                    for r in batch {
                        let r = r.unwrap();
                        records += 1;
                        value_bytes += r.value.map_or(0, <[u8]>::len);
                    }
                }
                assert_eq!((records, value_bytes), (n, n * len));
            })
        });
        group.bench_function("Consumer::poll", |b| {
            let mut consumer = consumer(&store, 500);
            b.iter(|| {
                consumer.seek_to_beginning().unwrap();
                assert_eq!(poll_owned(&mut consumer, n), (n, n * len));
            })
        });
        group.bench_function("Consumer::poll_each", |b| {
            let mut consumer = consumer(&store, 500);
            b.iter(|| {
                consumer.seek_to_beginning().unwrap();
                let (mut records, mut value_bytes) = (0usize, 0usize);
                while records < n {
                    let polled = consumer
                        .poll_each(Duration::from_secs(1), |r| {
                            value_bytes += r.value.map_or(0, <[u8]>::len);
                        })
                        .unwrap();
                    assert!(polled > 0);
                    records += polled;
                }
                assert_eq!((records, value_bytes), (n, n * len));
            })
        });
        group.finish();

        let mut group = c.benchmark_group(format!("seek_poll/{name}"));
        group.throughput(Throughput::Elements(1));
        let mut random = xorshift();
        let mut next = move || random() % n as u64;
        group.bench_function("LogReader::seek", |b| {
            let mut reader = log.reader(0).with_fetch_bytes(1);
            b.iter(|| {
                let offset = next();
                reader.seek(offset);
                let mut batch = reader.next_batch().unwrap().unwrap();
                let r = batch.next().unwrap().unwrap();
                assert_eq!(r.offset, offset);
                r.value.map(|v| v[0])
            })
        });
        group.bench_function("Consumer::seek+poll", |b| {
            let mut consumer = consumer(&store, 1);
            b.iter(|| {
                let offset = next();
                consumer.seek(("t", 0), offset).unwrap();
                let polled = consumer.poll(Duration::from_secs(1)).unwrap();
                assert_eq!(polled[0].offset, offset);
                polled[0].value.as_ref().map(|v| v[0])
            })
        });
        group.bench_function("Consumer::seek+poll_each", |b| {
            let mut consumer = consumer(&store, 1);
            b.iter(|| {
                let offset = next();
                consumer.seek(("t", 0), offset).unwrap();
                let mut first = None;
                consumer
                    .poll_each(Duration::from_secs(1), |r| {
                        first = Some((r.offset, r.value.map(|v| v[0])));
                    })
                    .unwrap();
                assert_eq!(first.map(|(o, _)| o), Some(offset));
                first
            })
        });
        group.finish();
        drop(log);
        store.close().unwrap();
    }
}

criterion_group!(benches, bench_send_vs_append, bench_consume);
criterion_main!(benches);

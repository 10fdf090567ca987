//! Criterion benchmarks of the store API (`LogStore`, `Producer`,
//! `Consumer`), each beside a plain `std::fs` baseline doing the same I/O
//! on the same bytes in the same run.
//!
//! * `produce/100B`: 1,024 records of 100 bytes per iteration, spread
//!   round-robin over 1, 8 and 64 partitions by explicit partition, sent
//!   through a `Producer` with default batching and no durability per
//!   record (`Durability::None`); at the end of each batch of iterations
//!   the producer is flushed and every partition's buffered bytes are
//!   handed to the OS. Against one `BufWriter<File>` per partition writing
//!   the same values (the same total bytes), flushed at the end. After
//!   each batch of iterations, untimed, the baseline's files are deleted,
//!   and seglog's logs truncated to their start once they hold 256 MiB.
//!   Throughput is in value bytes. Each record is sent as an application
//!   would: its value copied into the `ProducerRecord`, its timestamp
//!   taken from the system clock by `send`.
//! * `poll`: 200,000 records of 100 bytes in one partition read back from
//!   the start with `Consumer::poll` (default config: 500 records a poll),
//!   against `File::read` of the same `.log` bytes into a page-aligned
//!   buffer. Throughput is in `.log` bytes.
//! * `open`: opening a store of 2,000 partitions (4 segments each) after a
//!   clean close, against `read_dir` + `metadata` of the same directory
//!   tree, on the real file system. Only the open is timed; the clean
//!   close after it (which writes nothing for a partition nothing was
//!   written to) is not. The store is built through a wrapper of `StdFs`
//!   whose fsyncs do nothing, since creating 2,000 partitions makes
//!   several each. Beside them, on the same store: `open_read_only` (no
//!   lock; the last segment of every partition is read for its index
//!   entries; the drop of the store after each iteration is timed too,
//!   and writes nothing) and `refresh` of that read-only store when
//!   nothing changed (per partition: its checkpoint read, its directory
//!   listed, its last segment opened and two batch headers read).
//!
//! `cargo bench --bench store` runs them; `-- --quick` for a shorter run.

use std::cell::OnceCell;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use seglog::store::{
    AutoOffsetReset, ConsumerConfig, LogStore, ProducerConfig, ProducerRecord, StoreConfig,
    StoreOptions,
};
use seglog::{Durability, PartitionLog, Record};
use tempfile::TempDir;

mod common;
#[path = "../tests/common_nosync/mod.rs"]
mod common_nosync;

use common::{log_files, poll_owned, read_files, Aligned};
use common_nosync::NoSyncFs;

const TOPIC: &str = "bench";
const VALUE_LEN: usize = 100;

fn value(i: usize) -> Vec<u8> {
    (0..VALUE_LEN).map(|j| (i * 31 + j * 7) as u8).collect()
}

/// Records sent per `produce` iteration.
const PRODUCE_RECORDS: usize = 1_024;

fn bench_produce(c: &mut Criterion) {
    let values: Vec<Vec<u8>> = (0..PRODUCE_RECORDS).map(value).collect();
    let mut group = c.benchmark_group("produce/100B");
    group.throughput(Throughput::Bytes((PRODUCE_RECORDS * VALUE_LEN) as u64));
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for partitions in [1u32, 8, 64] {
        let n = partitions as usize;
        group.bench_with_input(
            BenchmarkId::new("std BufWriter", partitions),
            &partitions,
            |b, _| {
                b.iter_custom(|iters| {
                    let dir = tempfile::tempdir().unwrap();
                    let mut files: Vec<BufWriter<File>> = (0..n)
                        .map(|p| {
                            BufWriter::new(File::create(dir.path().join(p.to_string())).unwrap())
                        })
                        .collect();
                    let start = Instant::now();
                    for _ in 0..iters {
                        for (i, v) in values.iter().enumerate() {
                            files[i % n].write_all(v).unwrap();
                        }
                    }
                    for f in &mut files {
                        f.flush().unwrap();
                    }
                    start.elapsed()
                })
            },
        );

        // One store per partition count, kept across samples (creating a
        // topic makes several fsyncs per partition), built on first use so
        // that a filtered run does not pay for it.
        let setup: OnceCell<(TempDir, LogStore, Vec<PartitionLog>)> = OnceCell::new();
        group.bench_with_input(
            BenchmarkId::new("seglog Producer", partitions),
            &partitions,
            |b, _| {
                let (_, store, logs) = setup.get_or_init(|| {
                    let dir = tempfile::tempdir().unwrap();
                    let store = LogStore::open(dir.path(), StoreConfig::default()).unwrap();
                    store
                        .create_topic(TOPIC, partitions, &[("retention.ms", "-1")])
                        .unwrap();
                    let logs = (0..partitions)
                        .map(|p| store.partition(TOPIC, p).unwrap())
                        .collect();
                    (dir, store, logs)
                });
                b.iter_custom(|iters| {
                    let producer = store.producer(ProducerConfig {
                        durability: Some(Durability::None),
                        ..ProducerConfig::default()
                    });
                    let start = Instant::now();
                    for _ in 0..iters {
                        for (i, v) in values.iter().enumerate() {
                            let record = ProducerRecord::new(TOPIC, v.clone())
                                .with_partition((i % n) as u32);
                            producer.send(record).unwrap();
                        }
                    }
                    producer.flush().unwrap();
                    // What is still buffered must reach the OS too.
                    for log in logs {
                        log.flush_with(Durability::Flush).unwrap();
                    }
                    let elapsed = start.elapsed();
                    // Untimed: past 256 MiB the logs go back to empty, as
                    // the baseline's files go with their directory, so
                    // that neither side writes into gigabytes of dirty
                    // pages.
                    if logs.iter().map(PartitionLog::size_bytes).sum::<u64>() > 256 << 20 {
                        for log in logs {
                            log.truncate_to(log.log_start_offset()).unwrap();
                        }
                    }
                    elapsed
                })
            },
        );
        if let Some((_dir, store, _)) = setup.into_inner() {
            store.close().unwrap();
        }
    }
    group.finish();
}

/// Records in the `poll` partition.
const POLL_RECORDS: usize = 200_000;

fn bench_poll(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), StoreConfig::default()).unwrap();
    store
        .create_topic(TOPIC, 1, &[("retention.ms", "-1")])
        .unwrap();
    {
        let producer = store.producer(ProducerConfig {
            durability: Some(Durability::None),
            ..ProducerConfig::default()
        });
        for i in 0..POLL_RECORDS {
            let record = ProducerRecord::new(TOPIC, value(i))
                .with_partition(0)
                .with_timestamp(1_700_000_000_000 + i as i64);
            producer.send(record).unwrap();
        }
        producer.flush().unwrap();
    }
    store.sync().unwrap();
    let log = store.partition(TOPIC, 0).unwrap();
    assert_eq!(log.log_end_offset(), POLL_RECORDS as u64);
    let files = log_files(log.dir());
    let total: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
    assert_eq!(total, log.size_bytes());

    let mut group = c.benchmark_group("poll");
    group.throughput(Throughput::Bytes(total));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(6));
    group.bench_function("std File::read", |b| {
        let mut buf = Aligned::new(1 << 20);
        b.iter(|| assert_eq!(read_files(&files, &mut buf), total))
    });
    group.bench_function("seglog Consumer::poll", |b| {
        let mut consumer = store.consumer(ConsumerConfig {
            auto_offset_reset: AutoOffsetReset::Error,
            ..ConsumerConfig::default()
        });
        consumer.assign(&[(TOPIC, 0)]).unwrap();
        b.iter(|| {
            consumer.seek_to_beginning().unwrap();
            let (records, value_bytes) = poll_owned(&mut consumer, POLL_RECORDS);
            assert_eq!(records, POLL_RECORDS);
            assert_eq!(value_bytes, POLL_RECORDS * VALUE_LEN);
        })
    });
    group.finish();
    drop(log);
    store.close().unwrap();
}

const OPEN_PARTITIONS: u32 = 2_000;
const OPEN_SEGMENTS: usize = 4;
const OPEN_RECORDS_PER_SEGMENT: usize = 25;

/// A store of `OPEN_PARTITIONS` partitions of `OPEN_SEGMENTS` segments,
/// closed cleanly.
fn build_open_store() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = no_sync().open(dir.path(), StoreConfig::default()).unwrap();
    store
        .create_topic(TOPIC, OPEN_PARTITIONS, &[("retention.ms", "-1")])
        .unwrap();
    let batch: Vec<Record> = (0..OPEN_RECORDS_PER_SEGMENT)
        .map(|i| Record::new(value(i)).with_timestamp(1_700_000_000_000 + i as i64))
        .collect();
    for p in 0..OPEN_PARTITIONS {
        let log = store.partition(TOPIC, p).unwrap();
        for s in 0..OPEN_SEGMENTS {
            if s > 0 {
                log.roll().unwrap();
            }
            log.append_with(&batch, Durability::None).unwrap();
        }
        assert_eq!(log.segments().len(), OPEN_SEGMENTS);
    }
    store.close().unwrap();
    let partition_dirs = fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
        .count();
    assert_eq!(partition_dirs, OPEN_PARTITIONS as usize);
    dir
}

fn no_sync() -> StoreOptions {
    LogStore::options().fs(NoSyncFs)
}

fn bench_open(c: &mut Criterion) {
    // Built on first use, so that a filtered run does not pay for it.
    let store_dir: OnceCell<TempDir> = OnceCell::new();
    let dir = || store_dir.get_or_init(build_open_store).path();

    let mut group = c.benchmark_group("open");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.bench_with_input(
        BenchmarkId::new("std read_dir+metadata", OPEN_PARTITIONS),
        &OPEN_PARTITIONS,
        |b, _| {
            let dir = dir();
            b.iter(|| {
                let mut files = 0usize;
                let mut bytes = 0u64;
                for entry in fs::read_dir(dir).unwrap() {
                    let entry = entry.unwrap();
                    let meta = entry.metadata().unwrap();
                    if !meta.is_dir() {
                        continue;
                    }
                    for file in fs::read_dir(entry.path()).unwrap() {
                        bytes += file.unwrap().metadata().unwrap().len();
                        files += 1;
                    }
                }
                assert!(files >= OPEN_PARTITIONS as usize * OPEN_SEGMENTS * 3 && bytes > 0);
            })
        },
    );
    group.bench_with_input(
        BenchmarkId::new("seglog LogStore::open", OPEN_PARTITIONS),
        &OPEN_PARTITIONS,
        |b, _| {
            let dir = dir();
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let store = LogStore::open(dir, StoreConfig::default()).unwrap();
                    total += start.elapsed();
                    let report = store.open_report();
                    assert!(report.clean_shutdown);
                    assert_eq!(report.partitions, OPEN_PARTITIONS as usize);
                    assert_eq!(report.partitions_recovered, 0);
                    store.close().unwrap();
                }
                total
            })
        },
    );
    group.bench_with_input(
        BenchmarkId::new("seglog LogStore::open_read_only", OPEN_PARTITIONS),
        &OPEN_PARTITIONS,
        |b, _| {
            let dir = dir();
            b.iter(|| {
                let store = LogStore::open_read_only(dir, StoreConfig::default()).unwrap();
                assert_eq!(store.open_report().partitions, OPEN_PARTITIONS as usize);
                store
            })
        },
    );
    group.bench_with_input(
        BenchmarkId::new("seglog LogStore::refresh", OPEN_PARTITIONS),
        &OPEN_PARTITIONS,
        |b, _| {
            let store = LogStore::open_read_only(dir(), StoreConfig::default()).unwrap();
            b.iter(|| assert!(!store.refresh().unwrap()))
        },
    );
    group.finish();
}

criterion_group!(benches, bench_produce, bench_poll, bench_open);
criterion_main!(benches);

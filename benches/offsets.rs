//! Criterion benchmarks of committed offsets, each beside a plain
//! `std::fs` baseline in the same run.
//!
//! * `commit/100_partitions/sync`: a consumer of a group, assigned 100
//!   partitions, calls `commit_sync` (one batch in `__consumer_offsets`,
//!   fsynced, the default). Baseline: the same number of bytes appended to
//!   a plain file with `write_all` and fsynced with `sync_data`.
//! * `commit/100_partitions/flush`: the same with
//!   `commit_durability = Flush` (handed to the OS, no fsync). Baseline:
//!   the `write_all` alone.
//! * `open/1000_groups_x_100`: opening a store whose `__consumer_offsets`
//!   holds the commits of 1,000 groups for 100 partitions each (three
//!   commits per partition, compacted, so one record per key is left,
//!   plus the uncleaned active segments), which replays the topic into
//!   memory. Baseline: reading the same `.log` files with `File::read`
//!   into a page-aligned 1 MiB buffer.
//!
//! `cargo bench --bench offsets` runs them (about a minute).

use std::fs::OpenOptions as FileOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use seglog::offsets::OffsetAndMetadata;
use seglog::{ConsumerConfig, Durability, LogStore, StoreConfig, TopicPartition};

mod common;

use common::{log_files, read_files, Aligned};

const PARTITIONS: u32 = 100;
const GROUPS: usize = 1_000;
const OFFSETS: &str = "__consumer_offsets";

fn config(durability: Durability) -> StoreConfig {
    let mut config = StoreConfig::default();
    config.groups.commit_durability = durability;
    config
}

fn partitions() -> Vec<TopicPartition> {
    (0..PARTITIONS)
        .map(|p| TopicPartition::new("t", p))
        .collect()
}

fn commits(round: u64) -> Vec<(TopicPartition, OffsetAndMetadata)> {
    partitions()
        .into_iter()
        .map(|tp| {
            let offset = round * 1_000 + u64::from(tp.partition);
            (tp, OffsetAndMetadata::new(offset))
        })
        .collect()
}

/// Bytes one commit of 100 partitions adds to its partition's log.
fn commit_bytes(store: &LogStore) -> u64 {
    let size = |store: &LogStore| -> u64 {
        (0..store.describe_topic(OFFSETS).unwrap().partitions.len() as u32)
            .map(|p| {
                store
                    .partition(OFFSETS, p)
                    .unwrap()
                    .segments()
                    .iter()
                    .map(|s| s.size)
                    .sum::<u64>()
            })
            .sum()
    };
    // The first commit creates the topic.
    store.commit_offsets("sizing", &commits(0)).unwrap();
    let before = size(store);
    store.commit_offsets("sizing", &commits(0)).unwrap();
    size(store) - before
}

fn bench_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit/100_partitions");
    group.measurement_time(Duration::from_secs(10));
    for (name, durability) in [("sync", Durability::Sync), ("flush", Durability::Flush)] {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path(), config(durability)).unwrap();
        store.create_topic("t", PARTITIONS, &[]).unwrap();
        let bytes = commit_bytes(&store);
        let mut consumer = store.consumer(ConsumerConfig {
            group_id: Some("bench".into()),
            enable_auto_commit: false,
            ..ConsumerConfig::default()
        });
        consumer.assign(&partitions()).unwrap();
        let mut round = 1;
        group.bench_function(format!("{name}/seglog"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // New positions each time, as after a poll (untimed).
                    round += 1;
                    for (tp, offset) in commits(round) {
                        consumer.seek(tp, offset.offset).unwrap();
                    }
                    let start = Instant::now();
                    consumer.commit_sync().unwrap();
                    total += start.elapsed();
                }
                total
            })
        });
        let path = dir.path().join("baseline");
        let mut file = FileOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let payload = vec![7u8; bytes as usize];
        group.bench_function(format!("{name}/std_fs"), |b| {
            b.iter(|| {
                file.write_all(&payload).unwrap();
                if durability == Durability::Sync {
                    file.sync_data().unwrap();
                }
            })
        });
        println!("commit/100_partitions: {bytes} bytes per commit");
        store.close().unwrap();
    }
    group.finish();
}

/// A store with 1,000 groups' commits of 100 partitions, compacted.
fn build_store(dir: &Path) {
    let store = LogStore::open(dir, config(Durability::Flush)).unwrap();
    store.create_topic("t", PARTITIONS, &[]).unwrap();
    for round in 0..3 {
        for g in 0..GROUPS {
            store
                .commit_offsets(&format!("group-{g}"), &commits(round))
                .unwrap();
        }
        for p in 0..store.describe_topic(OFFSETS).unwrap().partitions.len() as u32 {
            store.partition(OFFSETS, p).unwrap().roll().unwrap();
        }
    }
    store.compact(OFFSETS, None).unwrap();
    store.close().unwrap();
}

fn offsets_log_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(OFFSETS) && !name.ends_with("-delete") && path.is_dir() {
            files.extend(log_files(&path));
        }
    }
    files
}

fn bench_open(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    build_store(dir.path());
    let files = offsets_log_files(dir.path());
    let mut buf = Aligned::new(1 << 20);
    let bytes = read_files(&files, &mut buf);
    println!(
        "open/1000_groups_x_100: {bytes} bytes in {} files",
        files.len()
    );
    let mut group = c.benchmark_group("open/1000_groups_x_100");
    group.sample_size(20);
    group.bench_function("seglog", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let store = LogStore::open(dir.path(), StoreConfig::default()).unwrap();
                total += start.elapsed();
                let tp = TopicPartition::new("t", 7);
                let committed = store.committed_offsets("group-999", &[tp]).unwrap();
                assert_eq!(committed[0].as_ref().map(|c| c.offset), Some(2_007));
                store.close().unwrap();
            }
            total
        })
    });
    group.bench_function("std_fs", |b| {
        b.iter(|| assert_eq!(read_files(&files, &mut buf), bytes))
    });
    group.finish();
}

criterion_group!(benches, bench_commit, bench_open);
criterion_main!(benches);

//! Criterion benchmark of an append issued while many segments are being
//! deleted, beside the same append with nothing deleted.
//!
//! * `append_during_deletion/idle`: one 100-record batch appended
//!   (`Durability::Flush`) to a log of 10,000 one-batch segments.
//! * `append_during_deletion/deleting`: the same append, issued while
//!   another thread's `advance_log_start_offset` deletes those 10,000
//!   segments (once their files have started to be renamed), on the real
//!   file system with real fsyncs. Each sample builds a fresh log (without
//!   fsyncs, untimed) and times one append.
//!
//! `cargo bench --bench deletion` runs it.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use seglog::{Durability, LogConfig, OpenOptions, PartitionLog, Record};

#[path = "../tests/common_nosync/mod.rs"]
mod common_nosync;

use common_nosync::NoSyncFs;

const SEGMENTS: u64 = 10_000;

fn config() -> LogConfig {
    LogConfig {
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

fn batch() -> Vec<Record> {
    (0..100)
        .map(|i| Record::new(vec![i as u8; 100]).with_timestamp(1_700_000_000_000 + i))
        .collect()
}

/// A closed log of `SEGMENTS` segments of one small batch each, built
/// without fsyncs.
fn build(dir: &Path) {
    let log = OpenOptions::new().fs(NoSyncFs).open(dir, config()).unwrap();
    let record = [Record::new("x")];
    for _ in 0..SEGMENTS {
        log.append_with(&record, Durability::None).unwrap();
        log.roll().unwrap();
    }
    log.close().unwrap();
}

/// Times one append issued once another thread's deletion of every
/// segment has started renaming their files.
fn append_while_deleting(batch: &[Record]) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    let first = dir.path().join("00000000000000000000.log");
    let deleter = {
        let log = log.clone();
        thread::spawn(move || log.advance_log_start_offset(SEGMENTS).unwrap())
    };
    while first.exists() {
        thread::yield_now();
    }
    assert!(
        !deleter.is_finished(),
        "the deletion finished before the append was issued"
    );
    let start = Instant::now();
    log.append_with(batch, Durability::Flush).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(deleter.join().unwrap(), SEGMENTS as usize);
    log.close().unwrap();
    elapsed
}

fn bench_append_during_deletion(c: &mut Criterion) {
    let batch = batch();
    let mut group = c.benchmark_group("append_during_deletion");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(1));

    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let log = PartitionLog::open(dir.path(), config()).unwrap();
    group.bench_function("idle", |b| {
        b.iter(|| log.append_with(&batch, Durability::Flush).unwrap())
    });
    log.close().unwrap();

    group.bench_function("deleting", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| append_while_deleting(&batch)).sum())
    });
    group.finish();
}

criterion_group!(benches, bench_append_during_deletion);
criterion_main!(benches);

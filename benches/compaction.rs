//! Criterion benchmarks of a compaction round, each beside a plain
//! `std::fs` baseline doing the round's I/O on the same bytes in the same
//! run.
//!
//! * `compact/10k_keys`: one round (the default 128 MiB offset map) over a
//!   256 MiB log of 100-byte records under 10,000 distinct keys, so that
//!   all but the latest record of each key go.
//! * `compact/5M_keys_16MiB_map`: rounds with a 16 MiB map, as many as it
//!   takes for the cleaner checkpoint to reach the active segment, over a
//!   log of 5 million records each under its own key.
//!
//! The logs are appended as a producer would, in batches of 12 to 15 KiB
//! (100 records of 100 bytes, 400 of 16 bytes), codec none, into 64 MiB
//! segments, so that the rounds read and write several segments (with
//! Kafka's 1 GiB default the whole log would sit in the active segment,
//! which is never cleaned). Each log is built once
//! (without fsyncs, then synced); each sample copies it into a fresh
//! directory, synced, outside the timed section, and times only the
//! rounds, with real fsyncs. The log is opened with Kafka's default
//! `file.delete.delay.ms` (60 s, as a `LogStore` opens its partitions), so
//! the files of the replaced segments are removed after the rounds; a
//! bare `PartitionLog` removes them at once, and the kernel's freeing of
//! their cached pages then adds about 60 ms per 64 MiB segment here.
//!
//! Two `std::fs` baselines, both reading into a page-aligned 1 MiB buffer
//! and writing in 512 KiB writes, each file written fsynced:
//!
//! * `std read twice+write once`: the plain two-pass cleaner, which reads
//!   the `.log` files twice (once to map the keys, once to copy) and writes
//!   the surviving bytes once, into as many files as the cleaned log has
//!   segments.
//! * `std same I/O as the rounds`: stricter, as many bytes as the rounds
//!   read ([`CompactionOutcome::bytes_read`]: the dirty section to map it,
//!   then every rewritten segment, whose dropped batches a round steps over
//!   by their headers, so less than twice the log) and as many as they
//!   write, into as many files.
//!
//! Throughput is bytes of the log per second.
//!
//! `cargo bench --bench compaction` runs them (about 4 minutes, most of
//! it the second); `-- 10k_keys` runs the first alone.

use std::cell::OnceCell;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use seglog::compaction::{CompactOptions, CompactionOutcome};
use seglog::{BatchBuilder, CleanupPolicy, Durability, LogConfig, OpenOptions, Record};

mod common;
#[path = "../tests/common_nosync/mod.rs"]
mod common_nosync;

use common::{log_files, xorshift, Aligned};
use common_nosync::NoSyncFs;

const SEGMENT_BYTES: u64 = 64 << 20;
const FIRST_TIMESTAMP: i64 = 1_700_000_000_000;
/// Kafka's default `file.delete.delay.ms`, as a `LogStore` opens its
/// partitions: the files of replaced segments are removed after the
/// rounds (at close, untimed).
const FILE_DELETE_DELAY_MS: u64 = 60_000;
/// Bytes per read of the baseline, as the cleaner's walks read.
const READ_CHUNK: usize = 1 << 20;

fn config() -> LogConfig {
    LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        segment_bytes: SEGMENT_BYTES,
        ..LogConfig::default()
    }
}

/// How the keys of a log's records are chosen.
#[derive(Clone, Copy)]
enum Keys {
    /// Drawn at random (a fixed sequence) from this many keys.
    Random(u64),
    /// A key of its own for every record.
    Distinct,
}

/// What a benchmark's log holds.
#[derive(Clone, Copy)]
struct Shape {
    records: u64,
    keys: Keys,
    value_bytes: usize,
    records_per_batch: u64,
}

/// The records of batch `n` (stamped with its number), under `key(i)` for
/// record `i` of the log.
fn batch(shape: &Shape, n: u64, count: u64, mut key: impl FnMut(u64) -> u64) -> Vec<Record> {
    let first = n * shape.records_per_batch;
    (first..first + count)
        .map(|i| {
            let mut value = vec![0u8; shape.value_bytes];
            for (j, b) in value.iter_mut().enumerate() {
                *b = (i as usize * 31 + j * 7) as u8;
            }
            Record::new(value)
                .with_key(format!("key-{:010}", key(i)))
                .with_timestamp(FIRST_TIMESTAMP + n as i64)
        })
        .collect()
}

/// Bytes of the log of `shape`: every full batch has the same size (keys
/// and values of fixed length, one timestamp per batch).
fn log_bytes_of(shape: &Shape) -> u64 {
    let len = |count| {
        let b = BatchBuilder::new().build(&batch(shape, 0, count, |i| i));
        b.unwrap().len() as u64
    };
    let per_batch = shape.records_per_batch;
    let rest = shape.records % per_batch;
    shape.records / per_batch * len(per_batch) + if rest > 0 { len(rest) } else { 0 }
}

/// A closed log of `shape`, appended batch by batch, built without fsyncs
/// and then synced, followed by an empty active segment so that every
/// record is cleanable. Returns a time after every record's timestamp.
fn build(dir: &Path, shape: &Shape) -> i64 {
    let log = OpenOptions::new().fs(NoSyncFs).open(dir, config()).unwrap();
    let mut random = xorshift();
    let mut key = |i| match shape.keys {
        Keys::Random(n) => random() % n,
        Keys::Distinct => i,
    };
    let per_batch = shape.records_per_batch;
    let batches = shape.records.div_ceil(per_batch);
    for n in 0..batches {
        let count = per_batch.min(shape.records - n * per_batch);
        log.append_with(&batch(shape, n, count, &mut key), Durability::None)
            .unwrap();
    }
    log.roll().unwrap();
    log.close().unwrap();
    sync_dir_files(dir);
    FIRST_TIMESTAMP + batches as i64
}

/// Fsyncs every file of `dir` and the directory, so that no dirty page of
/// a setup step is written back during a timed section.
fn sync_dir_files(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            File::open(&path).unwrap().sync_all().unwrap();
        }
    }
    File::open(dir).unwrap().sync_all().unwrap();
}

/// A synced copy of the log in `pristine`, in a new directory.
fn copy_log(pristine: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(pristine).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    sync_dir_files(copy.path());
    copy
}

/// The `.log` bytes of a log directory.
fn log_bytes(dir: &Path) -> u64 {
    log_files(dir)
        .iter()
        .map(|f| f.metadata().unwrap().len())
        .sum()
}

/// Runs compaction rounds on the log in `dir` until the cleaner checkpoint
/// reaches the active segment. Returns each round's outcome and the time
/// the rounds took (opening and closing the log not included).
fn compact_fully(
    dir: &Path,
    now_ms: i64,
    options: &CompactOptions,
) -> (Vec<CompactionOutcome>, Duration) {
    let log = OpenOptions::new()
        .file_delete_delay_ms(FILE_DELETE_DELAY_MS)
        .open(dir, config())
        .unwrap();
    let active = log.segments().last().unwrap().base_offset;
    let mut outcomes = Vec::new();
    let start = Instant::now();
    while log.cleaner_checkpoint() < Some(active) {
        let outcome = log.compact_with(now_ms, options).unwrap();
        assert!(!outcome.aborted);
        assert!(
            outcome.end_offset > outcome.first_dirty_offset,
            "a round made no progress: {outcome:?}"
        );
        outcomes.push(outcome);
    }
    let elapsed = start.elapsed();
    log.close().unwrap();
    (outcomes, elapsed)
}

/// The I/O of one round, for the baseline.
#[derive(Debug, Clone, Default)]
struct RoundIo {
    bytes_read: u64,
    bytes_written: u64,
    files_written: usize,
}

impl From<&CompactionOutcome> for RoundIo {
    fn from(o: &CompactionOutcome) -> Self {
        RoundIo {
            bytes_read: o.bytes_read,
            bytes_written: o.bytes_written,
            files_written: o.segments_written,
        }
    }
}

/// Reads `bytes` bytes of `files` in order (starting over at the first
/// when they run out) into `buf`.
fn read_prefix(files: &[PathBuf], mut bytes: u64, buf: &mut Aligned) {
    while bytes > 0 {
        for path in files {
            let mut f = File::open(path).unwrap();
            while bytes > 0 {
                let want = (bytes as usize).min(READ_CHUNK);
                let n = f.read(&mut buf.buf()[..want]).unwrap();
                if n == 0 {
                    break;
                }
                bytes -= n as u64;
            }
        }
    }
}

/// The baseline of a sequence of rounds: each round's bytes read from
/// `files`, then its bytes written into `files_written` new files in
/// `out`, in 512 KiB writes (the cleaner's default I/O buffer), each file
/// fsynced.
fn baseline(files: &[PathBuf], rounds: &[RoundIo], out: &Path, buf: &mut Aligned) {
    let write_chunk = CompactOptions::default().io_buffer_bytes;
    let mut written = Aligned::new(write_chunk);
    written.buf().fill(0x5a);
    for (r, round) in rounds.iter().enumerate() {
        read_prefix(files, round.bytes_read, buf);
        if round.files_written == 0 && round.bytes_written == 0 {
            continue;
        }
        let n = round.files_written.max(1) as u64;
        for i in 0..n {
            let len = round.bytes_written / n + u64::from(i < round.bytes_written % n);
            let f = File::create(out.join(format!("{r}-{i}.log"))).unwrap();
            let mut at = 0;
            while at < len {
                let chunk = (len - at).min(write_chunk as u64) as usize;
                f.write_all_at(&written.buf()[..chunk], at).unwrap();
                at += chunk as u64;
            }
            f.sync_data().unwrap();
        }
    }
}

/// A log built once, with the I/O of its rounds measured by one run
/// outside the measurements.
struct Prepared {
    dir: tempfile::TempDir,
    files: Vec<PathBuf>,
    now_ms: i64,
    rounds: Vec<RoundIo>,
    /// The cleaned log's bytes and segments, as one write-only round.
    survivors: RoundIo,
}

impl Prepared {
    fn new(name: &str, shape: &Shape, options: &CompactOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let now_ms = build(dir.path(), shape);
        let files = log_files(dir.path());
        let input = log_bytes(dir.path());
        assert_eq!(input, log_bytes_of(shape));
        let copy = copy_log(dir.path());
        let (outcomes, elapsed) = compact_fully(copy.path(), now_ms, options);
        // The cleaned log: its segments' bytes and count (the empty active
        // segment aside).
        let survivors = log_files(copy.path())
            .iter()
            .map(|f| f.metadata().unwrap().len())
            .filter(|&len| len > 0)
            .fold(RoundIo::default(), |io, len| RoundIo {
                bytes_read: 0,
                bytes_written: io.bytes_written + len,
                files_written: io.files_written + 1,
            });
        drop(copy);
        let rounds: Vec<RoundIo> = outcomes.iter().map(RoundIo::from).collect();
        let read: u64 = rounds.iter().map(|r| r.bytes_read).sum();
        let written: u64 = rounds.iter().map(|r| r.bytes_written).sum();
        let map_bytes = outcomes.iter().map(|o| o.map_bytes).max().unwrap();
        assert!(
            map_bytes <= options.dedupe_buffer_bytes,
            "offset map of {map_bytes} bytes, above its bound of {}",
            options.dedupe_buffer_bytes
        );
        let last = outcomes.last().unwrap();
        eprintln!(
            "{name}: {input} bytes of log in {} segments; {} round(s) in {elapsed:.2?}: \
             read {read} bytes, wrote {written} bytes in {} segments; \
             the last round kept {} of {} records; offset map {map_bytes} bytes, \
             {} keys in the last round",
            files.len(),
            outcomes.len(),
            outcomes.iter().map(|o| o.segments_written).sum::<usize>(),
            last.records_kept,
            last.records_read,
            last.keys_mapped,
        );
        Prepared {
            dir,
            files,
            now_ms,
            rounds,
            survivors,
        }
    }
}

/// One benchmark group: rounds with `options` over a log of `shape`,
/// beside their baseline. The log is built only if the group is run.
fn bench_rounds(c: &mut Criterion, name: &str, shape: Shape, options: CompactOptions) {
    let prepared = OnceCell::new();
    let prepare = || prepared.get_or_init(|| Prepared::new(name, &shape, &options));

    let mut group = c.benchmark_group(format!("compact/{name}"));
    group.throughput(Throughput::Bytes(log_bytes_of(&shape)));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(1));
    group.bench_function("std read twice+write once", |b| {
        let p = prepare();
        let mut buf = Aligned::new(READ_CHUNK);
        let log_bytes: u64 = p.files.iter().map(|f| f.metadata().unwrap().len()).sum();
        let read_twice = RoundIo {
            bytes_read: 2 * log_bytes,
            bytes_written: 0,
            files_written: 0,
        };
        let rounds = [read_twice, p.survivors.clone()];
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let out = tempfile::tempdir().unwrap();
                let start = Instant::now();
                baseline(&p.files, &rounds, out.path(), &mut buf);
                total += start.elapsed();
            }
            total
        })
    });
    group.bench_function("std same I/O as the rounds", |b| {
        let p = prepare();
        let mut buf = Aligned::new(READ_CHUNK);
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let out = tempfile::tempdir().unwrap();
                let start = Instant::now();
                baseline(&p.files, &p.rounds, out.path(), &mut buf);
                total += start.elapsed();
            }
            total
        })
    });
    group.bench_function("seglog compact", |b| {
        let p = prepare();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let copy = copy_log(p.dir.path());
                let (outcomes, elapsed) = compact_fully(copy.path(), p.now_ms, &options);
                assert_eq!(outcomes.len(), p.rounds.len());
                total += elapsed;
            }
            total
        })
    });
    group.finish();
}

fn bench_one_round(c: &mut Criterion) {
    // 100-byte values under 14-byte keys, 124 bytes a record with its
    // framing, in batches of 100 (12 KiB): 4 full segments, 256 MiB.
    let shape = Shape {
        records: 2_165_200,
        keys: Keys::Random(10_000),
        value_bytes: 100,
        records_per_batch: 100,
    };
    bench_rounds(c, "10k_keys", shape, CompactOptions::default());
}

fn bench_rounds_until_clean(c: &mut Criterion) {
    // 5 million keys, a 16 MiB map: about 630,000 keys a round, 8 rounds.
    // Each record has a key of its own, so every round rewrites all it
    // reads; 16-byte values (38 bytes a record, in batches of 400, 15 KiB)
    // keep the log at 184 MiB and a run at a few seconds.
    let shape = Shape {
        records: 5_000_000,
        keys: Keys::Distinct,
        value_bytes: 16,
        records_per_batch: 400,
    };
    let options = CompactOptions {
        dedupe_buffer_bytes: 16 << 20,
        ..CompactOptions::default()
    };
    bench_rounds(c, "5M_keys_16MiB_map", shape, options);
}

criterion_group!(benches, bench_one_round, bench_rounds_until_clean);
criterion_main!(benches);

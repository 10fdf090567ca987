//! Scale: opening stores of 1,000 and 10,000 partitions of 10 segments
//! each, and appending round-robin across 1,000 partitions.
//!
//! * Open (printed figures, not criterion: each open of the large store
//!   takes a second or more): a store of `P` partitions × 10 segments (one
//!   5-record batch of 100 B records per segment) is built, then opened
//!   with `LogStore::open` on the real file system, with background
//!   maintenance off:
//!   - *first*: the first open after the build's clean close, in a
//!     fresh process (this benchmark run again), so that its resident
//!     set is the open's alone. The kernel's page, dentry and inode
//!     caches are warm (the build has just written the files); dropping
//!     them needs root (`/proc/sys/vm/drop_caches`), so no open here is
//!     truly cold.
//!   - *clean*: the median of several opens, each after a clean close.
//!   - *unclean*: the median of a few opens after a close whose
//!     clean-shutdown marker (`.kafka_cleanshutdown`) is then removed, as
//!     after a crash (the partitions recovered are printed).
//!
//!   For each, the time per partition and, between the two sizes, its
//!   ratio (10,000 over 1,000; 1.0 is linear), beside the same for a
//!   plain `read_dir` + `metadata` of every partition directory. Beside
//!   them the resident set (`VmRSS` in `/proc/self/status`) of the
//!   process of the first open, after it, and its growth over the open.
//! * `append/100B` (criterion): 1,000 batches of 10 records of 100 B per
//!   iteration, appended with `PartitionLog::append_with(..,
//!   Durability::None)` either all to one partition, or one batch to each
//!   of 1,000 partitions in turn (the same records, the same batches). At
//!   the end of each sample every partition's buffered bytes are handed to
//!   the OS, so how much each partition buffers (up to its 1 MiB
//!   `write_buffer_bytes`) depends on the iterations criterion puts in a
//!   sample. `append+flush` hands them to the OS after every iteration
//!   instead (about 1.2 KB a partition, one `write` each, round-robin;
//!   one 1.2 MB `write` for the single partition). Then the same records through a `Producer` (explicit
//!   partition, default batching), flushed at the end of each sample. The
//!   ratio of interest is one partition's time over round-robin's. The
//!   resident set after the appends is printed: each partition buffers
//!   up to `write_buffer_bytes` (1 MiB) of appends before it writes them.
//!   The store keeps up to 2,000 files open (`max_open_files`), so that
//!   the 1,000 active segments' files stay open; with the default 512
//!   every write of a partition in turn reopens its file.
//!
//! Building the stores makes several fsyncs per partition (topic creation,
//! checkpoints), so it goes through a wrapper of the real file system
//! whose fsyncs do nothing; every timed open and append uses the real file
//! system (`StdFs`). As in `tests/store_scale.rs`, one partition is filled
//! through the store and its files are linked (sealed segments) or copied
//! (the active segment) over the other partitions' directories; the store
//! is then opened and closed once, which brings its root checkpoints up to
//! date.
//!
//! `cargo bench --bench scale` runs both: one and a half to four minutes
//! on a shared 2-core machine, most of it making and removing the
//! 320,000 files of the large store. `SEGLOG_SCALE_OPEN=0` skips the open
//! figures; `SEGLOG_SCALE_ONLY=<partitions>` measures the open of that one
//! size only (once each); `SEGLOG_SCALE_KEEP=1` keeps the built stores
//! (their paths are printed), for profiling an open with
//! `SEGLOG_SCALE_CHILD_DIR=<path>`, which opens that store once and
//! prints the time and the resident set.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Bencher, BenchmarkId, Criterion, SamplingMode, Throughput};
use seglog::store::{LogStore, ProducerConfig, ProducerRecord, StoreConfig, StoreOptions};
use seglog::{Durability, PartitionLog, Record};
use tempfile::TempDir;

#[path = "../tests/common_nosync/mod.rs"]
mod common_nosync;

use common_nosync::{clone_partition_zero, NoSyncFs};

const TOPIC: &str = "scale";
const VALUE_LEN: usize = 100;
const SEGMENTS: u64 = 10;
/// Records per segment: one batch each, which `segment.bytes` leaves no
/// room beside.
const RECORDS_PER_SEGMENT: u64 = 5;
/// Small segments and small preallocated indexes; nothing expires.
const OVERRIDES: [(&str, &str); 3] = [
    ("segment.bytes", "1024"),
    ("segment.index.bytes", "4096"),
    ("retention.ms", "-1"),
];
/// The clean-shutdown marker a clean close leaves in the store's root.
const CLEAN_SHUTDOWN_MARKER: &str = ".kafka_cleanshutdown";

fn value(i: u64) -> Vec<u8> {
    (0..VALUE_LEN as u64)
        .map(|j| (i * 31 + j * 7) as u8)
        .collect()
}

fn config() -> StoreConfig {
    StoreConfig {
        background_maintenance: false,
        ..StoreConfig::default()
    }
}

fn no_sync() -> StoreOptions {
    LogStore::options().fs(NoSyncFs)
}

/// The process's resident set in KiB.
fn rss_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A store of `partitions` partitions of `SEGMENTS` segments, closed
/// cleanly, its root checkpoints up to date.
fn build(partitions: u32) -> TempDir {
    let t = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let store = no_sync().open(root, config()).unwrap();
    store.create_topic(TOPIC, partitions, &OVERRIDES).unwrap();
    let log = store.partition(TOPIC, 0).unwrap();
    for s in 0..SEGMENTS {
        let batch: Vec<Record> = (0..RECORDS_PER_SEGMENT)
            .map(|i| {
                let offset = s * RECORDS_PER_SEGMENT + i;
                Record::new(value(offset)).with_timestamp(1_700_000_000_000 + offset as i64)
            })
            .collect();
        log.append_with(&batch, Durability::None).unwrap();
    }
    assert_eq!(log.segments().len() as u64, SEGMENTS);
    drop(log);
    store.close().unwrap();
    let created = t.elapsed();

    let files = clone_partition_zero(
        root,
        TOPIC,
        partitions,
        (SEGMENTS - 1) * RECORDS_PER_SEGMENT,
    );
    assert!(files >= 3 * SEGMENTS as usize);
    let linked = t.elapsed() - created;
    let store = no_sync().open(root, config()).unwrap();
    let report = store.open_report();
    assert!(report.clean_shutdown, "{report:?}");
    assert_eq!(report.partitions, partitions as usize);
    assert_eq!(report.partitions_recovered, 0, "{report:?}");
    for p in [0, partitions / 2, partitions - 1] {
        let log = store.partition(TOPIC, p).unwrap();
        assert_eq!(log.segments().len() as u64, SEGMENTS, "partition {p}");
        assert_eq!(log.log_end_offset(), SEGMENTS * RECORDS_PER_SEGMENT);
    }
    store.close().unwrap();
    println!(
        "built {partitions} partitions x {SEGMENTS} segments ({} files) in {:.2?}: \
         created and filled {created:.2?}, linked {linked:.2?}",
        files * partitions as usize,
        t.elapsed()
    );
    dir
}

/// One timed `LogStore::open` on the real file system, after a clean
/// close or (`clean` false) after a crash; the close after it is not
/// timed.
/// Returns the time and the partitions recovered.
fn open_once(root: &Path, partitions: u32, clean: bool) -> (Duration, usize) {
    let start = Instant::now();
    let store = LogStore::open(root, config()).unwrap();
    let took = start.elapsed();
    let report = store.open_report();
    assert_eq!(report.clean_shutdown, clean, "{report:?}");
    assert_eq!(report.partitions, partitions as usize);
    if clean {
        assert_eq!(report.partitions_recovered, 0, "{report:?}");
    }
    let recovered = report.partitions_recovered;
    store.close().unwrap();
    (took, recovered)
}

/// Env var naming a store directory: the process only opens that store
/// once and prints the figures (see [`child_open`]).
const CHILD_ENV: &str = "SEGLOG_SCALE_CHILD_DIR";

/// The first open, in a fresh process (this benchmark run again with
/// [`CHILD_ENV`] set): nothing of the store is in the process's memory
/// yet, and its resident set before and after is the open's alone.
/// Returns the time, the resident set after the open, and its growth.
fn first_open(root: &Path) -> (Duration, u64, u64) {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("child-open "))
        .unwrap();
    let n: Vec<u64> = line
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    (Duration::from_nanos(n[0]), n[2], n[2] - n[1])
}

/// The child's part of [`first_open`]: prints the open's time in
/// nanoseconds and the resident set in KiB before and after it.
fn child_open(root: &Path) {
    let before = rss_kib();
    let start = Instant::now();
    let store = LogStore::open(root, config()).unwrap();
    let took = start.elapsed();
    let after = rss_kib();
    assert!(store.open_report().clean_shutdown);
    store.close().unwrap();
    println!("child-open {} {before} {after}", took.as_nanos());
}

/// The baseline: `read_dir` of the root and of every partition
/// directory, and `metadata` of every entry, as the open lists them.
fn walk(root: &Path) -> Duration {
    let start = Instant::now();
    let mut files = 0usize;
    for entry in fs::read_dir(root).unwrap() {
        let entry = entry.unwrap();
        if !entry.metadata().unwrap().is_dir() {
            continue;
        }
        for file in fs::read_dir(entry.path()).unwrap() {
            assert!(file.unwrap().metadata().unwrap().len() < u64::MAX);
            files += 1;
        }
    }
    assert!(files > 0);
    start.elapsed()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Open times of one store size.
struct OpenFigures {
    partitions: u32,
    first: Duration,
    walked: Duration,
    clean: Duration,
    unclean: Duration,
    rss_kib: u64,
    rss_growth_kib: u64,
}

fn open_figures(partitions: u32, clean_runs: usize, unclean_runs: usize) -> OpenFigures {
    let dir = build(partitions);
    let root = dir.path();
    let (first, rss_kib, rss_growth_kib) = first_open(root);
    let clean = median(
        (0..clean_runs)
            .map(|_| open_once(root, partitions, true).0)
            .collect(),
    );
    let walked = median((0..clean_runs).map(|_| walk(root)).collect());
    let mut recovered = 0;
    let unclean = median(
        (0..unclean_runs)
            .map(|_| {
                fs::remove_file(root.join(CLEAN_SHUTDOWN_MARKER)).unwrap();
                let (took, r) = open_once(root, partitions, false);
                recovered = r;
                took
            })
            .collect(),
    );
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(partitions);
    println!(
        "open {partitions} partitions: first {first:.2?} ({:.1} us/partition), \
         clean median of {clean_runs} {clean:.2?} ({:.1} us/partition), \
         unclean median of {unclean_runs} {unclean:.2?} ({:.1} us/partition, \
         {recovered} recovered); \
         std read_dir+metadata {walked:.2?} ({:.1} us/partition); \
         VmRSS after first open {:.1} MiB (+{:.1} MiB)",
        per(first),
        per(clean),
        per(unclean),
        per(walked),
        rss_kib as f64 / 1024.0,
        rss_growth_kib as f64 / 1024.0,
    );
    if std::env::var_os("SEGLOG_SCALE_KEEP").is_some() {
        println!("kept {}", dir.keep().display());
        return OpenFigures {
            partitions,
            first,
            walked,
            clean,
            unclean,
            rss_kib,
            rss_growth_kib,
        };
    }
    let t = Instant::now();
    drop(dir);
    println!("removed in {:.2?}", t.elapsed());
    OpenFigures {
        partitions,
        first,
        walked,
        clean,
        unclean,
        rss_kib,
        rss_growth_kib,
    }
}

fn report_open() {
    if let Some(n) = std::env::var_os("SEGLOG_SCALE_ONLY") {
        open_figures(n.to_str().unwrap().parse().unwrap(), 1, 1);
        return;
    }
    let small = open_figures(1_000, 9, 5);
    let large = open_figures(10_000, 5, 3);
    let per = |d: Duration, f: &OpenFigures| d.as_secs_f64() / f64::from(f.partitions);
    println!("open time per partition, 10,000 over 1,000 partitions (1.00 = linear):");
    for (name, a, b) in [
        ("first", small.first, large.first),
        ("clean", small.clean, large.clean),
        ("unclean", small.unclean, large.unclean),
        ("std read_dir+metadata", small.walked, large.walked),
    ] {
        let ratio = per(b, &large) / per(a, &small);
        let flag = if ratio > 1.5 { "  <-- superlinear" } else { "" };
        println!("  {name:21} {ratio:.2}{flag}");
    }
    println!(
        "VmRSS after first open: {:.1} MiB (+{:.1}) at 1,000, {:.1} MiB (+{:.1}) at 10,000",
        small.rss_kib as f64 / 1024.0,
        small.rss_growth_kib as f64 / 1024.0,
        large.rss_kib as f64 / 1024.0,
        large.rss_growth_kib as f64 / 1024.0,
    );
}

const APPEND_PARTITIONS: u32 = 1_000;
const BATCH_RECORDS: u64 = 10;
/// Batches per iteration: one to each of the round-robin partitions.
const BATCHES: u64 = APPEND_PARTITIONS as u64;

fn bench_append(c: &mut Criterion) {
    // Built without fsyncs, then reopened on the real file system.
    let dir = tempfile::tempdir().unwrap();
    {
        let store = no_sync().open(dir.path(), config()).unwrap();
        store
            .create_topic(TOPIC, APPEND_PARTITIONS, &[("retention.ms", "-1")])
            .unwrap();
        store
            .create_topic("one", 1, &[("retention.ms", "-1")])
            .unwrap();
        store.close().unwrap();
    }
    // Every round-robin partition's active `.log` stays open: with the
    // default 512 open files, 1,000 partitions written in turn reopen
    // their file for every write (a quarter of the time in `open` and
    // `close` in a profile).
    let store = LogStore::open(
        dir.path(),
        StoreConfig {
            max_open_files: 2 * APPEND_PARTITIONS as usize,
            ..config()
        },
    )
    .unwrap();
    let many: Vec<PartitionLog> = (0..APPEND_PARTITIONS)
        .map(|p| store.partition(TOPIC, p).unwrap())
        .collect();
    let one = store.partition("one", 0).unwrap();
    let partitions_open = rss_kib() as f64 / 1024.0;
    let batches: Vec<Vec<Record>> = (0..BATCHES)
        .map(|b| {
            (0..BATCH_RECORDS)
                .map(|i| Record::new(value(b * BATCH_RECORDS + i)))
                .collect()
        })
        .collect();

    let mut group = c.benchmark_group("append/100B");
    group.throughput(Throughput::Bytes(
        BATCHES * BATCH_RECORDS * VALUE_LEN as u64,
    ));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    let many_refs: Vec<&PartitionLog> = many.iter().collect();
    for (name, flush_each) in [
        ("PartitionLog::append", false),
        ("PartitionLog::append+flush", true),
    ] {
        group.bench_function(BenchmarkId::new(name, 1), |b| {
            append(b, &[&one], &batches, flush_each)
        });
        settle(&store);
        group.bench_function(BenchmarkId::new(name, APPEND_PARTITIONS), |b| {
            append(b, &many_refs, &batches, flush_each)
        });
        settle(&store);
    }
    group.bench_function(BenchmarkId::new("Producer::send", 1), |b| {
        produce(b, &store, ("one", &[&one]), &batches)
    });
    settle(&store);
    group.bench_function(BenchmarkId::new("Producer::send", APPEND_PARTITIONS), |b| {
        produce(b, &store, (TOPIC, &many_refs), &batches)
    });
    group.finish();
    println!(
        "VmRSS after the appends: {:.1} MiB (before them, {partitions_open:.1} MiB with the \
         {APPEND_PARTITIONS} partitions open)",
        rss_kib() as f64 / 1024.0,
    );
    drop(many);
    drop(one);
    store.close().unwrap();
}

/// Writes back what the last benchmark left in the page cache (an fsync of
/// every partition), so that the next one does not pay for it: a
/// benchmark run right after another that wrote gigabytes was throttled
/// by the kernel's writeback of them, several times slower.
fn settle(store: &LogStore) {
    store.sync().unwrap();
}

/// Appends `batches` to `logs` in turn, then hands every log's buffered
/// bytes to the OS: after every iteration if `flush_each`, else once at
/// the end of the sample.
fn append(b: &mut Bencher, logs: &[&PartitionLog], batches: &[Vec<Record>], flush_each: bool) {
    let flush = || {
        for log in logs {
            log.flush_with(Durability::Flush).unwrap();
        }
    };
    b.iter_custom(|iters| {
        let start = Instant::now();
        for _ in 0..iters {
            for (i, batch) in batches.iter().enumerate() {
                logs[i % logs.len()]
                    .append_with(batch, Durability::None)
                    .unwrap();
            }
            if flush_each {
                flush();
            }
        }
        flush();
        start.elapsed()
    })
}

/// Sends the records of `batches` through a producer, each batch's to the
/// next partition of `topic` (whose logs are `logs`), then flushes.
fn produce(
    b: &mut Bencher,
    store: &LogStore,
    (topic, logs): (&str, &[&PartitionLog]),
    batches: &[Vec<Record>],
) {
    let partitions = logs.len();
    b.iter_custom(|iters| {
        let producer = store.producer(ProducerConfig {
            durability: Some(Durability::None),
            ..ProducerConfig::default()
        });
        let start = Instant::now();
        for _ in 0..iters {
            for (i, batch) in batches.iter().enumerate() {
                let partition = (i % partitions) as u32;
                for r in batch {
                    let value = r.value.clone().unwrap_or_default();
                    let record = ProducerRecord::new(topic, value).with_partition(partition);
                    producer.send(record).unwrap();
                }
            }
        }
        producer.flush().unwrap();
        for log in logs {
            log.flush_with(Durability::Flush).unwrap();
        }
        start.elapsed()
    })
}

fn main() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child_open(Path::new(&dir));
        return;
    }
    if std::env::var_os("SEGLOG_SCALE_OPEN").is_none_or(|v| v != "0") {
        report_open();
    }
    let mut c = Criterion::default().configure_from_args();
    bench_append(&mut c);
    c.final_summary();
}

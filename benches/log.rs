//! Criterion benchmarks of the partition log, each beside a plain
//! `std::fs` baseline doing the same I/O on the same bytes in the same run.
//!
//! * `append/{100B,1KiB}`: batches of 100 records appended without fsync,
//!   in-process buffered (`Durability::None`) and written through
//!   (`Durability::Flush`), against the naive log (each value as a 4-byte
//!   length and its bytes through a `BufWriter`) and a `BufWriter`
//!   writing the encoded batches. Then, not through criterion, the CPU
//!   seconds per GB of 100 B records appended, seglog against the naive
//!   log (median of 3, 1 GiB of values each).
//! * `scan`: a 64 MiB log of 100 B records read from start to end four
//!   ways (its bytes through `read`, its batches with every CRC checked,
//!   every record decoded with every CRC checked, and every record decoded
//!   as a reader does by default: every CRC checked by the first
//!   iteration, and trusted by the later ones), against the naive log of the same records (1 MiB
//!   `pread`s into an aligned buffer, frames walked) and `File::read` of
//!   the same `.log` files. Throughput is in records.
//! * `random_read`: one record at a random offset, at 100 B and 1 KiB
//!   records: `read_record` (owned), a kept reader's `record_at`
//!   (borrowed), a fetch + decode, and a kept reader's seek + next batch,
//!   against a `read_at` of exactly that record from a dense position
//!   array (into one kept buffer, and into a new `Vec` as an owned read
//!   must), and of its whole batch, at known positions.
//! * `reopen`: opening a log of 1000 segments after a clean close and after
//!   a crash, against listing and stat-ing the directory.
//!
//! `cargo bench --bench log` runs them; `-- --quick` for a shorter run.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use seglog::{BatchBuilder, CrcCheck, Durability, LogConfig, PartitionLog, RecordBatch};

mod common;

use common::{log_files, read_files, records, xorshift, Aligned};

fn bench_append(c: &mut Criterion) {
    for (name, value_len) in [("100B", 100usize), ("1KiB", 1024)] {
        let batch = records(100, value_len);
        let encoded = BatchBuilder::new().now(0).build(&batch).unwrap();
        let mut group = c.benchmark_group(format!("append/{name}"));
        // Records per second: the contenders write different bytes for
        // the same records.
        group.throughput(Throughput::Elements(batch.len() as u64));
        group.measurement_time(Duration::from_secs(4));

        group.bench_function("naive frames", |b| {
            b.iter_custom(|iters| {
                let dir = tempfile::tempdir().unwrap();
                let mut w = NaiveFrames::create(&dir.path().join("naive.log"));
                let start = Instant::now();
                for _ in 0..iters {
                    w.append(&batch);
                }
                w.finish();
                start.elapsed()
            })
        });
        group.bench_function("std BufWriter batches", |b| {
            b.iter_custom(|iters| {
                let dir = tempfile::tempdir().unwrap();
                let mut w = BufWriter::new(File::create(dir.path().join("baseline.log")).unwrap());
                let start = Instant::now();
                for _ in 0..iters {
                    w.write_all(&encoded).unwrap();
                }
                w.flush().unwrap();
                start.elapsed()
            })
        });
        for (label, durability) in [
            ("seglog None", Durability::None),
            ("seglog Flush", Durability::Flush),
        ] {
            group.bench_function(label, |b| {
                b.iter_custom(|iters| {
                    let dir = tempfile::tempdir().unwrap();
                    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
                    let start = Instant::now();
                    for _ in 0..iters {
                        log.append_with(&batch, durability).unwrap();
                    }
                    // What is still buffered must reach the OS too.
                    log.flush_with(Durability::Flush).unwrap();
                    let elapsed = start.elapsed();
                    drop(log);
                    elapsed
                })
            });
        }
        group.finish();
    }
}

/// The naive log the append and CPU figures compare against: each
/// record's value as a 4-byte length and its bytes, through a `BufWriter`.
struct NaiveFrames(BufWriter<File>);

impl NaiveFrames {
    fn create(path: &Path) -> Self {
        NaiveFrames(BufWriter::new(File::create(path).unwrap()))
    }

    fn append(&mut self, records: &[seglog::Record]) {
        for r in records {
            let value = r.value.as_deref().unwrap_or_default();
            self.0
                .write_all(&(value.len() as u32).to_be_bytes())
                .unwrap();
            self.0.write_all(value).unwrap();
        }
    }

    fn finish(mut self) {
        self.0.flush().unwrap();
    }
}

/// CPU seconds (user and system) this process has used so far, from
/// `/proc/self/stat` (Linux; `None` elsewhere).
fn cpu_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux architecture Rust targets.
    Some((utime + stime) / 100.0)
}

/// Not a criterion benchmark: CPU seconds per GB of 100 B records
/// appended (batches of 100, no fsync, 1 GiB of values), seglog against
/// the naive frames, median of 3, printed.
fn report_append_cpu(_c: &mut Criterion) {
    let Some(_) = cpu_seconds() else {
        return;
    };
    let batch = records(100, 100);
    let batches = (1u64 << 30) / (100 * 100);
    // (CPU seconds, wall seconds) of `run`, which returns what must be
    // dropped after the clocks stop (a log, whose close syncs).
    let measure = |run: &dyn Fn(&Path) -> Option<PartitionLog>| {
        let mut samples: Vec<(f64, f64)> = (0..3)
            .map(|_| {
                let dir = tempfile::tempdir().unwrap();
                let (cpu, wall) = (cpu_seconds().unwrap(), Instant::now());
                let keep = run(dir.path());
                let elapsed = wall.elapsed().as_secs_f64();
                let used = cpu_seconds().unwrap() - cpu;
                drop(keep);
                (used, elapsed)
            })
            .collect();
        samples.sort_by(|a, b| a.1.total_cmp(&b.1));
        samples[1]
    };
    let naive = measure(&|dir| {
        let mut w = NaiveFrames::create(&dir.join("naive.log"));
        for _ in 0..batches {
            w.append(&batch);
        }
        w.finish();
        None
    });
    let seglog = measure(&|dir| {
        let log = PartitionLog::open(dir, LogConfig::default()).unwrap();
        for _ in 0..batches {
            log.append_with(&batch, Durability::None).unwrap();
        }
        log.flush_with(Durability::Flush).unwrap();
        Some(log)
    });
    let gb = (batches * 100 * 100) as f64 / 1e9;
    println!(
        "append/100B 1 GiB of values: naive {:.2} s ({:.2} CPU s/GB), seglog {:.2} s \
         ({:.2} CPU s/GB): {:.2}x the naive rate, {:.2}x its CPU",
        naive.1,
        naive.0 / gb,
        seglog.1,
        seglog.0 / gb,
        naive.1 / seglog.1,
        seglog.0 / naive.0
    );
}

/// A log of `bytes` bytes of 100-byte records in batches of 100, closed.
fn build_log(dir: &Path, bytes: u64, config: LogConfig) -> u64 {
    build_log_of(dir, bytes, 100, config)
}

/// A log of `bytes` bytes of `value_len`-byte records in batches of 100,
/// closed.
fn build_log_of(dir: &Path, bytes: u64, value_len: usize, config: LogConfig) -> u64 {
    let log = PartitionLog::open(dir, config).unwrap();
    let batch = records(100, value_len);
    while log.size_bytes() < bytes {
        log.append_with(&batch, Durability::None).unwrap();
    }
    let end = log.log_end_offset();
    log.close().unwrap();
    end
}

fn bench_scan(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 16 << 20,
        ..LogConfig::default()
    };
    let end = build_log(dir.path(), 64 << 20, config.clone());
    let files = log_files(dir.path());
    let total: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
    let log = PartitionLog::open(dir.path(), config).unwrap();
    // The same records in the naive log.
    let naive_path = dir.path().join("naive.frames");
    let mut naive = NaiveFrames::create(&naive_path);
    let batch = records(100, 100);
    for _ in 0..end / 100 {
        naive.append(&batch);
    }
    naive.finish();
    let naive = File::open(&naive_path).unwrap();

    // Records per second: the naive log holds the same records in fewer
    // bytes.
    let mut group = c.benchmark_group("scan");
    group.throughput(Throughput::Elements(end));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(6));
    group.bench_function("naive frames", |b| {
        let mut buf = Aligned::new(1 << 20);
        b.iter(|| assert_eq!(scan_frames(&naive, &mut buf), (end, end * 100)))
    });
    group.bench_function("std File::read", |b| {
        let mut buf = Aligned::new(1 << 20);
        b.iter(|| assert_eq!(read_files(&files, &mut buf), total))
    });
    group.bench_function("seglog fetch bytes", |b| {
        // The broker path: fetch whole batches and read their bytes.
        let mut buf = Aligned::new(1 << 20);
        b.iter(|| {
            let mut offset = 0;
            let mut sum = 0u64;
            loop {
                let fetch = log.read(offset, 1 << 20).unwrap();
                if fetch.is_empty() {
                    break;
                }
                for slice in fetch.slices() {
                    let len = slice.len() as usize;
                    slice.read_into(&mut buf.buf()[..len]).unwrap();
                    sum += len as u64;
                }
                offset = fetch.next_offset();
            }
            assert_eq!(sum, total);
        })
    });
    group.bench_function("seglog batches+crc", |b| {
        b.iter(|| {
            let mut reader = log.reader(0).with_crc_check(CrcCheck::EveryRead);
            let mut records = 0u64;
            while let Some(batch) = reader.next_batch().unwrap() {
                records += u64::from(batch.header().records_count);
            }
            assert!(records > 0);
        })
    });
    for (name, check) in [
        ("seglog records", CrcCheck::FirstRead),
        ("seglog records, every CRC", CrcCheck::EveryRead),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut reader = log.reader(0).with_crc_check(check);
                let mut records = 0u64;
                let mut value_bytes = 0u64;
                while let Some(batch) = reader.next_batch().unwrap() {
                    for r in batch {
                        let r = r.unwrap();
                        records += 1;
                        value_bytes += r.value.map_or(0, |v| v.len() as u64);
                    }
                }
                assert_eq!(value_bytes, records * 100);
            })
        });
    }
    group.finish();
}

/// The naive scan: 1 MiB `pread`s into a page-aligned buffer, walking the
/// frames in it (a frame cut by the buffer's end is read again at the
/// start of the next). Returns the records and their value bytes.
fn scan_frames(file: &File, buf: &mut Aligned) -> (u64, u64) {
    let (mut records, mut bytes, mut at) = (0u64, 0u64, 0u64);
    loop {
        let n = file.read_at(buf.buf(), at).unwrap();
        if n == 0 {
            return (records, bytes);
        }
        let data = &buf.buf()[..n];
        let mut pos = 0usize;
        while let Some(head) = data.get(pos..pos + 4) {
            let len = u32::from_be_bytes(head.try_into().unwrap()) as usize;
            let Some(value) = data.get(pos + 4..pos + 4 + len) else {
                break;
            };
            records += 1;
            bytes += value.len() as u64;
            pos += 4 + len;
        }
        at += pos as u64;
    }
}

/// Where every record of the log's files lies, as (file, position,
/// length), by offset: the dense position array of the point-read
/// baseline. Batches are uncompressed and hold consecutive offsets.
fn record_positions(files: &[PathBuf]) -> Vec<(usize, u64, usize)> {
    fn varint(b: &[u8], pos: &mut usize) -> i64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = b[*pos];
            *pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return ((v >> 1) as i64) ^ -((v & 1) as i64);
            }
            shift += 7;
        }
    }
    let mut out = Vec::new();
    for (f, path) in files.iter().enumerate() {
        let bytes = fs::read(path).unwrap();
        let mut at = 0usize;
        while at < bytes.len() {
            let batch = RecordBatch::parse(&bytes[at..]).unwrap();
            let mut pos = at + 61;
            for _ in 0..batch.header().records_count {
                let start = pos;
                let len = varint(&bytes, &mut pos) as usize;
                pos += len;
                out.push((f, start as u64, pos - start));
            }
            at += batch.size();
        }
    }
    out
}

fn bench_random_read(c: &mut Criterion) {
    for (name, value_len) in [("100B", 100usize), ("1KiB", 1024)] {
        let dir = tempfile::tempdir().unwrap();
        // Several sealed segments and a small active one.
        let config = LogConfig {
            segment_bytes: 16 << 20,
            ..LogConfig::default()
        };
        let end = build_log_of(dir.path(), 64 << 20, value_len, config.clone());
        let log = PartitionLog::open(dir.path(), config).unwrap();
        // Positions of every batch, for the baseline's known-position read.
        let batch_len = log.read(0, 1).unwrap().len_bytes();
        let batches_per_segment = log.segments()[1].base_offset / 100;
        let paths = log_files(dir.path());
        let files: Vec<File> = paths.iter().map(|p| File::open(p).unwrap()).collect();
        let positions = record_positions(&paths);
        assert_eq!(positions.len() as u64, end);

        let mut group = c.benchmark_group(format!("random_read/{name}"));
        group.throughput(Throughput::Elements(1));
        let mut next = xorshift();
        let mut buf = Aligned::new(batch_len as usize);
        group.bench_function("std read_at batch", |b| {
            b.iter(|| {
                let batch = next() % (end / 100);
                let file = &files[(batch / batches_per_segment) as usize];
                let at = (batch % batches_per_segment) * batch_len;
                file.read_exact_at(buf.buf(), at).unwrap();
                buf.buf()[100]
            })
        });
        group.bench_function("std read_at record", |b| {
            b.iter(|| {
                let (file, at, len) = positions[(next() % end) as usize];
                let out = &mut buf.buf()[..len];
                files[file].read_exact_at(out, at).unwrap();
                out[len - 1]
            })
        });
        group.bench_function("std read_at record into a Vec", |b| {
            b.iter(|| {
                let (file, at, len) = positions[(next() % end) as usize];
                let mut out = vec![0u8; len];
                files[file].read_exact_at(&mut out, at).unwrap();
                out[len - 1]
            })
        });
        group.bench_function("seglog read_record", |b| {
            b.iter(|| {
                let offset = next() % end;
                let r = log.read_record(offset).unwrap().unwrap();
                assert_eq!(r.offset, offset);
                r.value.map(|v| v[0])
            })
        });
        group.bench_function("seglog reader record_at", |b| {
            let mut reader = log.reader(0);
            b.iter(|| {
                let offset = next() % end;
                let r = reader.record_at(offset).unwrap().unwrap();
                assert_eq!(r.offset, offset);
                r.value.map(|v| v[0])
            })
        });
        group.bench_function("seglog read+decode", |b| {
            b.iter(|| {
                let offset = next() % end;
                let fetch = log.read(offset, 1).unwrap();
                let r = fetch.records().next().unwrap().unwrap();
                assert_eq!(r.offset, offset);
                r.value.map(|v| v[0])
            })
        });
        group.bench_function("seglog reader seek", |b| {
            let mut reader = log.reader(0).with_fetch_bytes(1);
            b.iter(|| {
                let offset = next() % end;
                reader.seek(offset);
                let mut batch = reader.next_batch().unwrap().unwrap();
                let r = batch.next().unwrap().unwrap();
                assert_eq!(r.offset, offset);
                r.value.map(|v| v[0])
            })
        });
        group.finish();
    }
}

fn bench_reopen(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 64 << 10,
        ..LogConfig::default()
    };
    build_log(dir.path(), 1000 * (64 << 10) - 1, config.clone());
    let segments = log_files(dir.path()).len();
    assert!(segments >= 1000, "{segments} segments");

    let mut group = c.benchmark_group("reopen");
    group.sample_size(20);
    group.bench_with_input(
        BenchmarkId::new("std read_dir+stat", segments),
        &segments,
        |b, _| {
            b.iter(|| {
                let mut files = 0usize;
                let mut bytes = 0u64;
                for entry in fs::read_dir(dir.path()).unwrap() {
                    bytes += entry.unwrap().metadata().unwrap().len();
                    files += 1;
                }
                assert!(files >= segments * 3 && bytes > 0);
            })
        },
    );
    group.bench_with_input(
        BenchmarkId::new("seglog clean", segments),
        &segments,
        |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let log = PartitionLog::open(dir.path(), config.clone()).unwrap();
                    total += start.elapsed();
                    assert!(log.recovery_report().clean_shutdown);
                    log.close().unwrap();
                }
                total
            })
        },
    );
    group.bench_with_input(
        BenchmarkId::new("seglog unclean", segments),
        &segments,
        |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    fs::remove_file(dir.path().join("seglog.clean-shutdown")).unwrap();
                    let start = Instant::now();
                    let log = PartitionLog::open(dir.path(), config.clone()).unwrap();
                    total += start.elapsed();
                    assert_eq!(log.recovery_report().segments_recovered, 1);
                    log.close().unwrap();
                }
                total
            })
        },
    );
    group.finish();
}

criterion_group!(
    benches,
    bench_append,
    report_append_cpu,
    bench_scan,
    bench_random_read,
    bench_reopen
);
criterion_main!(benches);

//! Crash safety at the store level.
//!
//! Two kinds of tests:
//!
//! * **Process kills on the real file system.** A child process (this test
//!   binary, re-executed with `--exact store_crash_child`) opens a
//!   [`LogStore`], creates the topic if needed, toggles a side topic
//!   (creates it, or deletes it), and produces records with
//!   `Durability::Sync`, appending `partition offset round seq timestamp`
//!   to an ack file after each acknowledgement. The parent kills it with
//!   SIGKILL after a random delay (during open, topic changes, produce,
//!   segment rolls, `maintain`), reopens the store and checks that every
//!   acknowledged record is there, byte for byte, that every partition
//!   reads back from its start to its end as valid records with contiguous
//!   offsets (each record one the child sent, each at most once, in send
//!   order), and that `verify_partition_dir` passes on every partition
//!   directory after a clean close. `SEGLOG_CRASH_ROUNDS` sets the number
//!   of rounds (default 30).
//!
//! * **Power loss on `MemFs`.** Each store operation that changes the
//!   store's metadata (`create_topic`, `add_partitions`, `delete_topic`,
//!   `close` and `maintain`, which write the root checkpoints) runs once
//!   per sync point with the file system frozen after that sync, until it
//!   completes without reaching the frozen point. Every image (durable
//!   bytes only, and with a torn tail) is reopened: the open must succeed
//!   (and not panic), the store must be in the state before or the state
//!   after the operation (never a mix, and never back to "before" once
//!   "after" was seen at an earlier sync point), acknowledged data must be
//!   there, every partition must take and serve new records, every
//!   partition directory must pass `verify_partition_dir_with` after a
//!   close, and a second reopen must find the same store. For deletions
//!   and unclean shutdowns the open that repairs the store is itself
//!   crashed at each of its sync points, and the store reopened again.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use seglog::inspect::{verify_partition_dir, verify_partition_dir_with};
use seglog::io::{CrashMode, Fs, MemFs};
use seglog::store::{LogStore, StoreConfig, StoreOptions};
use seglog::{
    Durability, Header, LogRecord, ManualClock, ProducerConfig, ProducerRecord, Record,
    TimestampType,
};

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// xorshift64*: deterministic test data without a dependency.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

fn sync_producer(store: &LogStore) -> seglog::Producer {
    store.producer(ProducerConfig {
        durability: Some(Durability::Sync),
        ..ProducerConfig::default()
    })
}

/// Whether `found` is the record `sent` (its timestamp too, if it was
/// sent with one).
fn same_record(found: &LogRecord, sent: &Record) -> bool {
    found.timestamp_type == TimestampType::CreateTime
        && found.key == sent.key
        && found.value == sent.value
        && found.headers == sent.headers
        && sent.timestamp.is_none_or(|t| t == found.timestamp)
}

// ---------------------------------------------------------------------------
// Process kills on the real file system
// ---------------------------------------------------------------------------

const ENV_DIR: &str = "SEGLOG_STORE_CRASH_DIR";
const ENV_ROUND: &str = "SEGLOG_STORE_CRASH_ROUND";
const ENV_SEED: &str = "SEGLOG_STORE_CRASH_SEED";
const TOPIC: &str = "crash";
const PARTITIONS: u32 = 3;
const SIDE: &str = "side";
const SIDE_PARTITIONS: u32 = 2;
/// Records a child sends at most in one round.
const MAX_PER_ROUND: u64 = 600;
const BASE_TS: i64 = 1_700_000_000_000;

fn topic_overrides() -> Vec<(&'static str, &'static str)> {
    vec![
        ("segment.bytes", "16384"),
        // 480 bytes: 60 offset-index or 40 time-index entries, so some
        // segments roll on a full index before 16 KiB.
        ("segment.index.bytes", "480"),
        ("index.interval.bytes", "256"),
        ("retention.ms", "-1"),
    ]
}

/// The record a child sends as `seq` of `round`: varied sizes (a few up to
/// 4 KiB, a quarter of a segment), keyed and keyless, a few tombstones and
/// explicit partitions, some headers (a null-valued one too), and mostly
/// explicit timestamps that go back a little at times. Its identity is the
/// value's prefix `round:seq:` (the key `tomb-round-seq` for tombstones).
fn crash_record(round: u64, seq: u64) -> ProducerRecord {
    let mut rng = Rng::new((round << 32) ^ seq ^ 0xC0FF_EE00);
    let kind = rng.below(12);
    let size = match rng.below(10) {
        0 | 9 => 1500 + rng.below(2600),
        1 => 0,
        _ => rng.below(400),
    } as usize;
    let mut rec = if kind == 0 {
        ProducerRecord::tombstone(TOPIC, format!("tomb-{round}-{seq}"))
    } else {
        let mut v = format!("{round}:{seq}:").into_bytes();
        let fill = rng.next() as u8;
        v.extend((0..size).map(|i| fill.wrapping_add((i * 7 % 251) as u8)));
        ProducerRecord::new(TOPIC, v)
    };
    if (1..=4).contains(&kind) {
        rec = rec.with_key(format!("key-{}", rng.below(16)));
    }
    if kind.is_multiple_of(3) {
        rec = rec.with_header("trace", format!("{round}/{seq}"));
    }
    if kind == 5 {
        rec.record.headers.push(Header {
            key: "null".into(),
            value: None,
        });
        rec = rec.with_header("", vec![0u8, 255, 7]);
    }
    if kind == 11 {
        rec = rec.with_partition(rng.below(u64::from(PARTITIONS)) as u32);
    }
    if rng.below(4) != 0 {
        let ts = BASE_TS + (round * 100_000 + seq) as i64 - rng.below(1000) as i64;
        rec = rec.with_timestamp(ts);
    }
    rec
}

/// The `(round, seq)` a record read back claims to be.
fn identity(r: &LogRecord) -> Option<(u64, u64)> {
    let text = match &r.value {
        Some(v) => {
            let end = v.iter().position(|&b| b == b':')?;
            let rest = &v[end + 1..];
            let end2 = rest.iter().position(|&b| b == b':')?;
            format!(
                "{}-{}",
                std::str::from_utf8(&v[..end]).ok()?,
                std::str::from_utf8(&rest[..end2]).ok()?
            )
        }
        None => std::str::from_utf8(r.key.as_deref()?)
            .ok()?
            .strip_prefix("tomb-")?
            .to_string(),
    };
    let (round, seq) = text.split_once('-')?;
    Some((round.parse().ok()?, seq.parse().ok()?))
}

fn progress(dir: &Path, round: u64, what: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("progress-{round}")))
        .unwrap();
    f.write_all(format!("{what}\n").as_bytes()).unwrap();
}

/// Run by `sigkill_never_loses_acknowledged_records` in a child process;
/// does nothing when run directly.
#[test]
fn store_crash_child() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let round: u64 = std::env::var(ENV_ROUND).unwrap().parse().unwrap();
    let seed: u64 = std::env::var(ENV_SEED).unwrap().parse().unwrap();
    let mut rng = Rng::new(seed ^ (round << 20));
    progress(&dir, round, "open");
    let store = LogStore::open(dir.join("store"), StoreConfig::default()).unwrap();
    progress(&dir, round, "opened");
    if !store.list_topics().iter().any(|t| t == TOPIC) {
        store
            .create_topic(TOPIC, PARTITIONS, &topic_overrides())
            .unwrap();
    }
    progress(&dir, round, "topic");
    // The side topic changes every third round: deleted if it is there,
    // created (with a few records) if not.
    let side_exists = store.list_topics().iter().any(|t| t == SIDE);
    if round % 3 == 1 && side_exists {
        store.delete_topic(SIDE).unwrap();
    } else if round % 3 == 1 {
        store
            .create_topic(
                SIDE,
                SIDE_PARTITIONS,
                &[("segment.bytes", "4096"), ("segment.index.bytes", "4096")],
            )
            .unwrap();
        let side = sync_producer(&store);
        for i in 0..3u32 {
            side.send_and_wait(ProducerRecord::new(SIDE, format!("side {round} {i}")))
                .unwrap();
        }
    }
    progress(&dir, round, "side");
    let producer = sync_producer(&store);
    let mut acks = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("acks-{round}")))
        .unwrap();
    let mut ack = |meta: seglog::RecordMetadata, seq: u64| {
        // One write per line: the parent trusts only lines ending in '\n'.
        let line = format!(
            "{} {} {round} {seq} {}\n",
            meta.partition, meta.offset, meta.timestamp
        );
        acks.write_all(line.as_bytes()).unwrap();
    };
    let mut seq = 0;
    let mut first = true;
    while seq < MAX_PER_ROUND {
        // At most 3 records (of at most ~4.2 KB) in flight: a batch must
        // fit a 16 KiB segment (see
        // `producer_batches_records_that_each_fit_a_segment`).
        let k = if rng.below(3) == 0 {
            2 + rng.below(2)
        } else {
            1
        };
        if k == 1 {
            let meta = producer.send_and_wait(crash_record(round, seq)).unwrap();
            ack(meta, seq);
        } else {
            // Several records in flight: batches of more than one record.
            let sent: Vec<_> = (seq..seq + k)
                .map(|s| (s, producer.send(crash_record(round, s)).unwrap()))
                .collect();
            for (s, delivery) in sent {
                ack(delivery.wait().unwrap(), s);
            }
        }
        seq += k;
        if first {
            progress(&dir, round, "acked");
            first = false;
        }
        if rng.below(40) == 0 {
            store.maintain().unwrap();
        }
    }
    drop(producer);
    store.close().unwrap();
    progress(&dir, round, "done");
}

/// A complete ack line: (partition, offset, round, seq, timestamp).
type Ack = (u32, u64, u64, u64, i64);

fn read_acks(dir: &Path, rounds: u64) -> Vec<Ack> {
    let mut out = Vec::new();
    for round in 0..rounds {
        let Ok(text) = fs::read_to_string(dir.join(format!("acks-{round}"))) else {
            continue;
        };
        let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        for line in complete.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 5, "ack line {line:?}");
            out.push((
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            ));
        }
    }
    out
}

fn last_progress(dir: &Path, round: u64) -> String {
    let text = fs::read_to_string(dir.join(format!("progress-{round}"))).unwrap_or_default();
    text.lines().last().unwrap_or("not started").to_string()
}

/// Reopens the store after round `round`'s child died (or closed it:
/// `clean`) and checks it; returns the number of records it holds in the
/// main topic.
fn check_after_kill(dir: &Path, round: u64, clean: bool) -> u64 {
    let ctx = format!("after the kill in round {round}");
    let acks = read_acks(dir, round + 1);
    let store_dir = dir.join("store");
    let store = LogStore::open(&store_dir, StoreConfig::default())
        .unwrap_or_else(|e| panic!("{ctx}: the store does not open: {e}"));
    let report = store.open_report().clone();
    // (Only those still there: the report may name directories a finished
    // deletion removed, see
    // `open_report_names_no_directory_a_finished_deletion_removed`.)
    let unknown: Vec<&PathBuf> = report
        .unknown_directories
        .iter()
        .filter(|d| d.exists())
        .collect();
    assert!(unknown.is_empty(), "{ctx}: unknown directories {report:?}");
    if clean {
        assert!(
            report.clean_shutdown && report.partitions_recovered == 0,
            "{ctx}: the child closed the store: {report:?}"
        );
    }
    let topics = store.list_topics();
    let has_main = topics.iter().any(|t| t == TOPIC);
    if !has_main {
        assert!(acks.is_empty(), "{ctx}: acknowledged records but no topic");
    }
    for t in &topics {
        assert!(t == TOPIC || t == SIDE, "{ctx}: unexpected topic {t}");
    }
    let mut total = 0;
    let mut ends: BTreeMap<String, u64> = BTreeMap::new();
    if has_main {
        let d = store.describe_topic(TOPIC).unwrap();
        assert_eq!(d.partitions.len() as u32, PARTITIONS, "{ctx}");
        let want: Vec<(String, String)> = topic_overrides()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(d.overrides, want, "{ctx}");
        let mut seen = HashSet::new();
        // (partition, offset) -> (round, seq, timestamp)
        let mut at = BTreeMap::new();
        for p in 0..PARTITIONS {
            let log = store.partition(TOPIC, p).unwrap();
            let start = log.log_start_offset();
            let leo = log.log_end_offset();
            assert_eq!(start, 0, "{ctx}: partition {p} lost its beginning");
            let records: Vec<LogRecord> = log
                .iter(start)
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{ctx}: reading partition {p}: {e}"));
            assert_eq!(
                records.len() as u64,
                leo - start,
                "{ctx}: partition {p} has {} records in [{start}, {leo})",
                records.len()
            );
            let mut last: Option<(u64, u64)> = None;
            for (i, r) in records.iter().enumerate() {
                assert_eq!(r.offset, start + i as u64, "{ctx}: partition {p}");
                let id = identity(r).unwrap_or_else(|| {
                    panic!("{ctx}: partition {p}: a record we never sent {r:?}")
                });
                let sent = crash_record(id.0, id.1);
                assert!(
                    same_record(r, &sent.record),
                    "{ctx}: partition {p} offset {}: {r:?} is not {sent:?}",
                    r.offset
                );
                if let Some(sp) = sent.partition {
                    assert_eq!(sp, p, "{ctx}: {id:?} in the wrong partition");
                }
                assert!(seen.insert(id), "{ctx}: {id:?} stored twice");
                assert!(
                    last.is_none_or(|l| l < id),
                    "{ctx}: partition {p}: {id:?} after {last:?}"
                );
                last = Some(id);
                at.insert((p, r.offset), (id, r.timestamp));
            }
            total += leo;
            ends.insert(format!("{TOPIC}-{p}"), leo);
        }
        for (p, offset, round, seq, ts) in &acks {
            match at.get(&(*p, *offset)) {
                Some((id, found_ts)) => {
                    assert_eq!(
                        *id,
                        (*round, *seq),
                        "{ctx}: acknowledged record at {p}/{offset} replaced"
                    );
                    assert_eq!(found_ts, ts, "{ctx}: timestamp of {p}/{offset}");
                }
                None => panic!(
                    "{ctx}: acknowledged record {round}/{seq} at partition {p} offset {offset} is lost"
                ),
            }
        }
    }
    let side_partitions = if topics.iter().any(|t| t == SIDE) {
        let d = store.describe_topic(SIDE).unwrap();
        assert_eq!(d.partitions.len() as u32, SIDE_PARTITIONS, "{ctx}");
        for p in 0..SIDE_PARTITIONS {
            let log = store.partition(SIDE, p).unwrap();
            let mut n = 0u64;
            for r in log.iter(log.log_start_offset()) {
                r.unwrap_or_else(|e| panic!("{ctx}: reading side-{p}: {e}"));
                n += 1;
            }
            assert_eq!(n, log.log_end_offset() - log.log_start_offset(), "{ctx}");
        }
        SIDE_PARTITIONS
    } else {
        0
    };
    store
        .close()
        .unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
    drop(store);
    // Only the partitions of the listed topics are left.
    let mut dirs: Vec<String> = fs::read_dir(&store_dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    dirs.sort();
    let mut want: Vec<String> = Vec::new();
    if has_main {
        want.extend((0..PARTITIONS).map(|p| format!("{TOPIC}-{p}")));
    }
    want.extend((0..side_partitions).map(|p| format!("{SIDE}-{p}")));
    want.sort();
    assert_eq!(dirs, want, "{ctx}: partition directories");
    for d in &dirs {
        let v = verify_partition_dir(store_dir.join(d))
            .unwrap_or_else(|e| panic!("{ctx}: verify {d}: {e}"));
        if let Some(leo) = ends.get(d) {
            assert_eq!(v.records(), *leo, "{ctx}: records in {d}");
        }
    }
    total
}

#[test]
fn sigkill_never_loses_acknowledged_records() {
    let rounds: u64 = std::env::var("SEGLOG_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let seed: u64 = std::env::var("SEGLOG_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5E6_106);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::new(seed);
    let mut phases: BTreeMap<String, u32> = BTreeMap::new();
    let mut records = 0;
    let started = Instant::now();
    for round in 0..rounds {
        // The shortest delays (from the start) land in process start-up
        // and open, short ones in topic changes and the first appends; the
        // rest count from the first append, so that they land in produce
        // however slow the machine's fsyncs are (a roll every dozen records
        // or so at 16 KiB segments, a `maintain` every 40 or so).
        let (after_first_ack, delay) = match rng.below(5) {
            0 => (false, 1 + rng.below(9)),
            1 => (false, 10 + rng.below(40)),
            _ => (true, 2 + rng.below(200)),
        };
        let log = File::create(dir.join(format!("child-{round}.log"))).unwrap();
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "store_crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV_DIR, dir)
            .env(ENV_ROUND, round.to_string())
            .env(ENV_SEED, seed.to_string())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        if after_first_ack {
            let deadline = Instant::now() + Duration::from_secs(5);
            while last_progress(dir, round) != "acked"
                && Instant::now() < deadline
                && child.try_wait().unwrap().is_none()
            {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        std::thread::sleep(Duration::from_millis(delay));
        let killed = match child.try_wait().unwrap() {
            Some(_) => false,
            None => {
                // (It may have exited since: then there is nothing to kill.)
                let _ = child.kill();
                true
            }
        };
        let status = child.wait().unwrap();
        // Killed, it has no exit code (on Unix); 101 is a failed test.
        if (!killed && !status.success()) || status.code() == Some(101) {
            let out = fs::read_to_string(dir.join(format!("child-{round}.log"))).unwrap();
            panic!("the child of round {round} failed ({status}):\n{out}");
        }
        let phase = last_progress(dir, round);
        *phases.entry(phase.clone()).or_default() += 1;
        records = check_after_kill(dir, round, phase == "done");
    }
    let acks = read_acks(dir, rounds).len();
    eprintln!(
        "{rounds} rounds in {:?}; killed after: {phases:?}; {records} records kept, {acks} acknowledged",
        started.elapsed()
    );
    if rounds >= 10 {
        assert!(records > 0, "no child got to acknowledge anything");
    }
}

// ---------------------------------------------------------------------------
// Power loss on MemFs
// ---------------------------------------------------------------------------

const ROOT: &str = "/store";

fn mem_config() -> StoreConfig {
    let mut config = StoreConfig::default();
    config.topic_defaults.log.segment_index_bytes = 4096;
    config
}

/// Opens the store on `fs`; an error or a panic fails the test with `ctx`.
fn open_mem(fs: &MemFs, clock: &ManualClock, ctx: &str) -> LogStore {
    let opened = catch_unwind(AssertUnwindSafe(|| {
        StoreOptions::new()
            .fs(fs.clone())
            .clock(clock.clone())
            .open(ROOT, mem_config())
    }));
    match opened {
        Ok(Ok(store)) => store,
        Ok(Err(e)) => panic!("{ctx}: open failed: {e}"),
        Err(_) => panic!("{ctx}: open panicked"),
    }
}

fn root_dirs(fs: &MemFs) -> Vec<String> {
    let mut d: Vec<String> = fs
        .list_dir(Path::new(ROOT))
        .unwrap()
        .into_iter()
        .filter(|e| e.is_dir)
        .map(|e| e.name)
        .collect();
    d.sort();
    d
}

/// What one partition must hold: the records sent, in offset order from 0,
/// and how many of them were acknowledged as synced.
#[derive(Debug, Clone, Default)]
struct PartModel {
    start: u64,
    records: Vec<Record>,
    synced: u64,
}

type TopicModel = Vec<PartModel>;

fn mem_record(topic: &str, p: u32, i: usize, tag: u64) -> Record {
    let mut rng = Rng::new(tag ^ ((p as u64) << 40) ^ i as u64);
    let len = match rng.below(6) {
        0 => 0,
        // (At most 4 records of at most ~450 bytes in one batch: a batch
        // must fit a 2 KiB segment, see
        // `producer_batches_records_that_each_fit_a_segment`.)
        1 => 200 + rng.below(200) as usize,
        _ => rng.below(200) as usize,
    };
    let value: Vec<u8> = (0..len).map(|j| (j as u64 ^ tag) as u8).collect();
    let mut r = match rng.below(5) {
        0 => Record::tombstone(format!("{topic}-{p}-{i}")),
        1 | 2 => Record::new(value).with_key(format!("{topic}-k{}", rng.below(8))),
        _ => Record::new(value),
    };
    if rng.below(3) == 0 {
        r = r.with_header("h", format!("{tag}/{p}/{i}"));
    }
    r.with_timestamp(10_000 + (tag as i64 % 1000) * 100 + i as i64)
}

/// Sends `n` records to every partition of `topic` with `durability`
/// (single records and small batches), and records them in `model`.
fn produce(
    store: &LogStore,
    topic: &str,
    model: &mut TopicModel,
    n: usize,
    tag: u64,
    durability: Durability,
) {
    let producer = store.producer(ProducerConfig {
        durability: Some(durability),
        ..ProducerConfig::default()
    });
    for (p, part) in model.iter_mut().enumerate() {
        let p = p as u32;
        let mut i = 0;
        while i < n {
            let k = (1 + (i % 4)).min(n - i);
            let sent: Vec<_> = (i..i + k)
                .map(|j| {
                    let r = mem_record(topic, p, part.records.len() + j - i, tag);
                    let d = producer
                        .send(ProducerRecord {
                            topic: topic.to_string(),
                            partition: Some(p),
                            record: r.clone(),
                        })
                        .unwrap();
                    (r, d)
                })
                .collect();
            for (r, d) in sent {
                let meta = d.wait().unwrap();
                assert_eq!(meta.offset, part.records.len() as u64);
                part.records.push(r);
                if durability == Durability::Sync {
                    part.synced = part.records.len() as u64;
                }
            }
            i += k;
        }
    }
    producer.flush().unwrap();
}

/// Checks a partition against its model: it starts where the model does,
/// holds a prefix of the model's records (all of them with `complete`), at
/// least every synced one, with contiguous offsets.
fn check_partition(
    store: &LogStore,
    topic: &str,
    p: u32,
    m: &PartModel,
    complete: bool,
) -> Result<(), String> {
    let log = store.partition(topic, p).map_err(|e| e.to_string())?;
    let start = log.log_start_offset();
    let leo = log.log_end_offset();
    if start != m.start {
        return Err(format!(
            "{topic}-{p}: log start {start}, expected {}",
            m.start
        ));
    }
    let total = m.records.len() as u64;
    if leo > total || leo < m.synced.max(start) || (complete && leo != total) {
        return Err(format!(
            "{topic}-{p}: log end {leo}, expected {} (synced {}, complete {complete})",
            total, m.synced
        ));
    }
    let found: Vec<LogRecord> = log
        .iter(start)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{topic}-{p}: reading: {e}"))?;
    if found.len() as u64 != leo - start {
        return Err(format!(
            "{topic}-{p}: {} records in [{start}, {leo})",
            found.len()
        ));
    }
    for (i, r) in found.iter().enumerate() {
        let o = start + i as u64;
        if r.offset != o {
            return Err(format!(
                "{topic}-{p}: offset {} where {o} belongs",
                r.offset
            ));
        }
        if !same_record(r, &m.records[o as usize]) {
            return Err(format!(
                "{topic}-{p}: offset {o} reads {r:?}, sent {:?}",
                m.records[o as usize]
            ));
        }
    }
    Ok(())
}

fn check_topic(
    store: &LogStore,
    topic: &str,
    m: &TopicModel,
    complete: bool,
) -> Result<(), String> {
    let d = store.describe_topic(topic).map_err(|e| e.to_string())?;
    if d.partitions.len() != m.len() {
        return Err(format!(
            "{topic} has {} partitions, expected {}",
            d.partitions.len(),
            m.len()
        ));
    }
    for (p, pm) in m.iter().enumerate() {
        check_partition(store, topic, p as u32, pm, complete)?;
    }
    Ok(())
}

/// Every partition of every topic takes a synced record at its end and
/// serves it back through a consumer; a keyed record finds a partition.
fn check_usable(store: &LogStore) -> Result<(), String> {
    let producer = sync_producer(store);
    for topic in store.list_topics() {
        let n = store.describe_topic(&topic).unwrap().partitions.len() as u32;
        for p in 0..n {
            let log = store.partition(&topic, p).unwrap();
            let leo = log.log_end_offset();
            let value = format!("probe {topic} {p}");
            let meta = producer
                .send_and_wait(ProducerRecord::new(topic.as_str(), value.clone()).with_partition(p))
                .map_err(|e| format!("{topic}-{p}: produce: {e}"))?;
            if meta.offset != leo {
                return Err(format!(
                    "{topic}-{p}: a new record went to {}, the end was {leo}",
                    meta.offset
                ));
            }
            let mut consumer = store.consumer(Default::default());
            consumer
                .assign(&[(topic.as_str(), p)])
                .map_err(|e| e.to_string())?;
            consumer
                .seek((topic.as_str(), p), leo)
                .map_err(|e| e.to_string())?;
            let got = consumer
                .poll(Duration::from_millis(50))
                .map_err(|e| format!("{topic}-{p}: poll: {e}"))?;
            if got.len() != 1 || got[0].value.as_deref() != Some(value.as_bytes()) {
                return Err(format!(
                    "{topic}-{p}: polled {got:?} after producing at {leo}"
                ));
            }
        }
        producer
            .send_and_wait(ProducerRecord::new(topic.as_str(), "keyed").with_key("any key"))
            .map_err(|e| format!("{topic}: keyed produce: {e}"))?;
    }
    Ok(())
}

/// What a reopened store looks like: topics with their partitions' (log
/// start, log end).
fn summary(store: &LogStore) -> BTreeMap<String, Vec<(u64, u64)>> {
    store
        .list_topics()
        .into_iter()
        .map(|t| {
            let d = store.describe_topic(&t).unwrap();
            let parts = d
                .partitions
                .iter()
                .map(|p| (p.log_start_offset, p.log_end_offset))
                .collect();
            (t, parts)
        })
        .collect()
}

/// Opens a crash image: the open must succeed, and leave no directory
/// that is not a partition of a topic (no `-delete` directories either).
fn reopen(fs: &MemFs, clock: &ManualClock, ctx: &str) -> LogStore {
    let store = open_mem(fs, clock, ctx);
    let report = store.open_report();
    // (Only those still there, see
    // `open_report_names_no_directory_a_finished_deletion_removed`.)
    let unknown: Vec<&PathBuf> = report
        .unknown_directories
        .iter()
        .filter(|d| fs.exists(d).unwrap())
        .collect();
    assert!(unknown.is_empty(), "{ctx}: unknown directories {unknown:?}");
    let mut want: Vec<String> = summary(&store)
        .iter()
        .flat_map(|(t, ps)| (0..ps.len()).map(move |p| format!("{t}-{p}")))
        .collect();
    want.sort();
    assert_eq!(
        root_dirs(fs),
        want,
        "{ctx}: partition directories after the open"
    );
    store
}

/// Checks common to every reopened store: every partition usable; then
/// closes, verifies every partition directory, reopens and
/// finds the same store, and closes again.
fn finish_checks(fs: &MemFs, clock: &ManualClock, store: LogStore, ctx: &str) {
    if let Err(e) = check_usable(&store) {
        panic!("{ctx}: {e}");
    }
    let before = summary(&store);
    store
        .close()
        .unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
    drop(store);
    let mut want: Vec<String> = before
        .iter()
        .flat_map(|(t, ps)| (0..ps.len()).map(move |p| format!("{t}-{p}")))
        .collect();
    want.sort();
    assert_eq!(root_dirs(fs), want, "{ctx}: partition directories");
    for d in &want {
        let path = Path::new(ROOT).join(d);
        verify_partition_dir_with(fs, &path).unwrap_or_else(|e| panic!("{ctx}: verify {d}: {e}"));
    }
    let again = open_mem(fs, clock, &format!("{ctx}, second reopen"));
    assert!(again.open_report().clean_shutdown, "{ctx}: second reopen");
    assert_eq!(summary(&again), before, "{ctx}: second reopen");
    again.close().unwrap();
}

/// The root checkpoint file `name` as (topic, partition) -> offset.
fn root_checkpoint(fs: &MemFs, name: &str) -> Option<BTreeMap<(String, u32), u64>> {
    let bytes = fs.read(&Path::new(ROOT).join(name)).ok()?;
    let text = String::from_utf8(bytes).expect("a checkpoint is text");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("0"), "{name}: version line in {text:?}");
    let count: usize = lines.next().unwrap().parse().unwrap();
    let entries: BTreeMap<(String, u32), u64> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 3, "{name}: {l:?}");
            (
                (f[0].to_string(), f[1].parse().unwrap()),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(entries.len(), count, "{name}: {text:?}");
    Some(entries)
}

/// One crash image to check.
struct Image<'a> {
    /// Whether the operation had finished before the freeze point.
    completed: bool,
    fs: &'a MemFs,
    ctx: String,
}

/// Runs `op` on a fresh store prepared by `setup`, freezing the file system
/// after each sync point in turn, until `op` finishes without reaching
/// it. Each image (durable bytes only, and with torn tails) goes to
/// `check`, which reopens it and returns whether it found the state after
/// the operation (`Some(true)`), before it (`Some(false)`), or `None` if
/// the operation has no such two states. With `crash_open`, the first open
/// of each durable-only image is crashed at each of its own sync points
/// too, and `check` applied to what that leaves (the state must be the
/// same). Returns the number of sync points.
fn sweep<S>(
    what: &str,
    setup: impl Fn(&LogStore, &ManualClock) -> S,
    op: impl Fn(&LogStore, &S),
    crash_open: bool,
    check: impl Fn(&Image<'_>, &S, &ManualClock) -> Option<bool>,
) -> u64 {
    let mut after_seen: BTreeMap<String, u64> = BTreeMap::new();
    for n in 0.. {
        assert!(n < 2_000, "{what}: the operation never finishes");
        let fs = MemFs::new();
        let clock = ManualClock::new(1_000_000);
        let store = open_mem(&fs, &clock, what);
        let state = setup(&store, &clock);
        let base = fs.sync_count();
        fs.freeze_after_syncs(base + n);
        op(&store, &state);
        let completed = fs.sync_count() < base + n;
        let modes = [
            CrashMode::DurableOnly,
            CrashMode::TornTail { seed: n * 31 + 7 },
            CrashMode::TornTail { seed: n * 31 + 8 },
        ];
        let images: Vec<(CrashMode, MemFs)> = modes.iter().map(|m| (*m, fs.crash(*m))).collect();
        drop(store);
        for (mode, crashed) in images {
            let pristine = crashed.crash(CrashMode::DurableOnly);
            let ctx = format!("{what}: frozen after sync {n} of the operation, {mode:?}");
            let image = Image {
                completed,
                fs: &crashed,
                ctx: ctx.clone(),
            };
            let phase = check(&image, &state, &clock);
            if completed {
                assert_ne!(phase, Some(false), "{ctx}: a finished operation undone");
            }
            if n == 0 {
                assert_ne!(phase, Some(true), "{ctx}: done before it started");
            }
            let key = format!("{mode:?}").split(' ').next().unwrap().to_string();
            match phase {
                Some(true) => {
                    after_seen.entry(key).or_insert(n);
                }
                Some(false) => {
                    if let Some(first) = after_seen.get(&key) {
                        panic!("{ctx}: back to the state before, after sync {first} showed the state after");
                    }
                }
                None => {}
            }
            if crash_open && mode == CrashMode::DurableOnly {
                crash_during_open(&pristine, &state, &clock, &ctx, phase, &check);
            }
        }
        if completed {
            eprintln!("{what}: {n} sync points");
            return n;
        }
    }
    unreachable!()
}

/// Opens a copy of `image`, frozen after each sync point of the open in
/// turn, and checks what that crash leaves.
fn crash_during_open<S>(
    image: &MemFs,
    state: &S,
    clock: &ManualClock,
    ctx: &str,
    phase: Option<bool>,
    check: &impl Fn(&Image<'_>, &S, &ManualClock) -> Option<bool>,
) {
    for m in 0.. {
        assert!(m < 2_000, "{ctx}: the open never finishes");
        let copy = image.crash(CrashMode::DurableOnly);
        copy.freeze_after_syncs(m);
        let store = open_mem(&copy, clock, ctx);
        let completed = copy.sync_count() < m;
        let crashed = copy.crash(CrashMode::DurableOnly);
        drop(store);
        let nested = format!("{ctx}, then frozen after sync {m} of the reopen");
        let again = check(
            &Image {
                completed: false,
                fs: &crashed,
                ctx: nested.clone(),
            },
            state,
            clock,
        );
        assert_eq!(
            again, phase,
            "{nested}: the interrupted open changed the state"
        );
        if completed {
            return;
        }
    }
}

fn owned(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const NEW_OVERRIDES: &[(&str, &str)] = &[("segment.bytes", "2048"), ("retention.ms", "-1")];

#[test]
fn power_loss_during_create_topic() {
    let points = sweep(
        "create_topic",
        |store, _| {
            store.create_topic("base", 2, &[]).unwrap();
            let mut m = vec![PartModel::default(); 2];
            produce(store, "base", &mut m, 6, 1, Durability::Sync);
            m
        },
        |store, _| store.create_topic("fresh", 3, NEW_OVERRIDES).unwrap(),
        false,
        |img, base, clock| {
            let ctx = &img.ctx;
            let store = reopen(img.fs, clock, ctx);
            if let Err(e) = check_topic(&store, "base", base, true) {
                panic!("{ctx}: {e}");
            }
            let after = match store.describe_topic("fresh") {
                Ok(d) => {
                    assert_eq!(d.partitions.len(), 3, "{ctx}");
                    assert_eq!(d.overrides, owned(NEW_OVERRIDES), "{ctx}");
                    assert_eq!(d.config.log.segment_bytes, 2048, "{ctx}");
                    let empty = vec![PartModel::default(); 3];
                    if let Err(e) = check_topic(&store, "fresh", &empty, true) {
                        panic!("{ctx}: {e}");
                    }
                    true
                }
                Err(seglog::Error::UnknownTopic { .. }) => {
                    for d in root_dirs(img.fs) {
                        assert!(!d.starts_with("fresh"), "{ctx}: {d} of no topic");
                    }
                    false
                }
                Err(e) => panic!("{ctx}: {e}"),
            };
            assert_eq!(store.list_topics().len(), 1 + usize::from(after), "{ctx}");
            finish_checks(img.fs, clock, store, ctx);
            Some(after)
        },
    );
    assert!(points >= 3, "create_topic made {points} syncs");
}

#[test]
fn power_loss_during_add_partitions() {
    let points = sweep(
        "add_partitions",
        |store, _| {
            store
                .create_topic("grow", 2, &[("segment.bytes", "2048")])
                .unwrap();
            let mut m = vec![PartModel::default(); 2];
            produce(store, "grow", &mut m, 12, 2, Durability::Sync);
            m
        },
        |store, _| store.add_partitions("grow", 5).unwrap(),
        false,
        |img, old, clock| {
            let ctx = &img.ctx;
            let store = reopen(img.fs, clock, ctx);
            let d = store
                .describe_topic("grow")
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let after = match d.partitions.len() {
                2 => false,
                5 => true,
                n => panic!("{ctx}: {n} partitions"),
            };
            assert_eq!(d.overrides, owned(&[("segment.bytes", "2048")]), "{ctx}");
            let mut m = old.clone();
            if after {
                m.resize(5, PartModel::default());
            }
            if let Err(e) = check_topic(&store, "grow", &m, true) {
                panic!("{ctx}: {e}");
            }
            finish_checks(img.fs, clock, store, ctx);
            Some(after)
        },
    );
    assert!(points >= 3, "add_partitions made {points} syncs");
}

#[test]
fn power_loss_during_delete_topic() {
    let points = sweep(
        "delete_topic",
        |store, _| {
            store.create_topic("keep", 1, &[]).unwrap();
            store
                .create_topic("doomed", 3, &[("segment.bytes", "2048")])
                .unwrap();
            let mut keep = vec![PartModel::default(); 1];
            let mut doomed = vec![PartModel::default(); 3];
            produce(store, "keep", &mut keep, 5, 3, Durability::Sync);
            produce(store, "doomed", &mut doomed, 10, 4, Durability::Sync);
            // Some unsynced data too: it goes either way.
            produce(store, "doomed", &mut doomed, 3, 5, Durability::Flush);
            (keep, doomed)
        },
        |store, _| store.delete_topic("doomed").unwrap(),
        true,
        |img, (keep, doomed), clock| {
            let ctx = &img.ctx;
            let store = reopen(img.fs, clock, ctx);
            if let Err(e) = check_topic(&store, "keep", keep, true) {
                panic!("{ctx}: {e}");
            }
            let after = match store.describe_topic("doomed") {
                Ok(_) => {
                    // Fully there: every synced record (the deletion's
                    // close may have synced the rest).
                    if let Err(e) = check_topic(&store, "doomed", doomed, false) {
                        panic!("{ctx}: {e}");
                    }
                    false
                }
                Err(seglog::Error::UnknownTopic { .. }) => {
                    for d in root_dirs(img.fs) {
                        assert!(!d.starts_with("doomed"), "{ctx}: {d} left behind");
                    }
                    // The name can be used again, and starts empty.
                    store.create_topic("doomed", 2, &[]).unwrap();
                    let empty = vec![PartModel::default(); 2];
                    if let Err(e) = check_topic(&store, "doomed", &empty, true) {
                        panic!("{ctx}: re-created: {e}");
                    }
                    true
                }
                Err(e) => panic!("{ctx}: {e}"),
            };
            finish_checks(img.fs, clock, store, ctx);
            Some(after)
        },
    );
    assert!(points >= 4, "delete_topic made {points} syncs");
}

#[test]
fn power_loss_during_close_keeps_acknowledged_data() {
    let points = sweep(
        "close",
        |store, _| {
            store
                .create_topic("data", 3, &[("segment.bytes", "2048")])
                .unwrap();
            store.create_topic("other", 1, &[]).unwrap();
            let mut data = vec![PartModel::default(); 3];
            let mut other = vec![PartModel::default(); 1];
            produce(store, "data", &mut data, 8, 6, Durability::Sync);
            produce(store, "other", &mut other, 4, 7, Durability::Sync);
            // Acknowledged without fsync: durable only once close syncs.
            produce(store, "data", &mut data, 9, 8, Durability::Flush);
            produce(store, "data", &mut data, 4, 9, Durability::None);
            produce(store, "other", &mut other, 2, 10, Durability::Flush);
            (data, other)
        },
        |store, _| store.close().unwrap(),
        true,
        |img, (data, other), clock| {
            let ctx = &img.ctx;
            let clean_marker = img
                .fs
                .exists(&Path::new(ROOT).join(".kafka_cleanshutdown"))
                .unwrap();
            let recovery_points = root_checkpoint(img.fs, "recovery-point-offset-checkpoint");
            let store = reopen(img.fs, clock, ctx);
            let report = store.open_report().clone();
            assert_eq!(report.clean_shutdown, clean_marker, "{ctx}: {report:?}");
            if clean_marker {
                assert_eq!(report.partitions_recovered, 0, "{ctx}: {report:?}");
            }
            // A clean shutdown has everything; otherwise a prefix with
            // every synced record.
            for (t, m) in [("data", data), ("other", other)] {
                if let Err(e) = check_topic(&store, t, m, clean_marker) {
                    panic!("{ctx}: {e}");
                }
            }
            if img.completed {
                assert!(clean_marker, "{ctx}: a finished close left no marker");
            }
            // A recovery point in the root checkpoint is never beyond the
            // data that survived.
            for ((t, p), offset) in recovery_points.unwrap_or_default() {
                let leo = store.partition(&t, p).unwrap().log_end_offset();
                assert!(
                    offset <= leo,
                    "{ctx}: checkpointed recovery point {offset} of {t}-{p} beyond its end {leo}"
                );
            }
            finish_checks(img.fs, clock, store, ctx);
            None
        },
    );
    assert!(points >= 5, "close made {points} syncs");
}

#[test]
fn power_loss_during_maintain_keeps_acknowledged_data() {
    let points = sweep(
        "maintain",
        |store, clock| {
            store
                .create_topic(
                    "aged",
                    2,
                    &[
                        ("segment.bytes", "2048"),
                        ("retention.ms", "60000"),
                        ("file.delete.delay.ms", "0"),
                    ],
                )
                .unwrap();
            store
                .create_topic("moved", 1, &[("segment.bytes", "2048")])
                .unwrap();
            let mut aged = vec![PartModel::default(); 2];
            let mut moved = vec![PartModel::default(); 1];
            produce(store, "aged", &mut aged, 10, 11, Durability::Sync);
            produce(store, "moved", &mut moved, 10, 12, Durability::Sync);
            // Rolled segments left unsynced, and a moved log start.
            produce(store, "aged", &mut aged, 6, 13, Durability::Flush);
            produce(store, "moved", &mut moved, 6, 14, Durability::Flush);
            moved[0].start = store.delete_records("moved", 0, 5).unwrap();
            assert_eq!(moved[0].start, 5);
            // The records' timestamps are around 10 s; at 2 000 s the
            // closed segments of "aged" are past retention.
            clock.set(2_000_000);
            (aged, moved)
        },
        |store, _| {
            let report = store.maintain().unwrap();
            assert!(report.errors.is_empty(), "{:?}", report.errors);
            assert!(report.segments_deleted > 0, "{report:?}");
        },
        true,
        |img, (aged, moved), clock| {
            let ctx = &img.ctx;
            let store = reopen(img.fs, clock, ctx);
            if let Err(e) = check_topic(&store, "moved", moved, false) {
                panic!("{ctx}: {e}");
            }
            for (p, m) in aged.iter().enumerate() {
                let log = store.partition("aged", p as u32).unwrap();
                // Retention may or may not have happened: check from
                // wherever the log starts now.
                let mut m = m.clone();
                m.start = log.log_start_offset();
                if let Err(e) = check_partition(&store, "aged", p as u32, &m, false) {
                    panic!("{ctx}: {e}");
                }
            }
            finish_checks(img.fs, clock, store, ctx);
            None
        },
    );
    assert!(points >= 3, "maintain made {points} syncs");
}

/// A topic deleted and created again must start empty at offset 0, even
/// when a crash interrupts the creation: the root checkpoint files still
/// named the old topic's offsets until its deletion was finished, and a
/// stale entry must never be taken as the new partition's state.
#[test]
fn power_loss_while_recreating_a_deleted_topic() {
    sweep(
        "re-create",
        |store, _| {
            store.create_topic("again", 2, &[]).unwrap();
            let mut m = vec![PartModel::default(); 2];
            produce(store, "again", &mut m, 20, 15, Durability::Sync);
            store.delete_records("again", 0, 12).unwrap();
            store.delete_records("again", 1, 7).unwrap();
            // The root checkpoints now name again-0 and again-1.
            store.maintain().unwrap();
            store.delete_topic("again").unwrap();
        },
        |store, _| store.create_topic("again", 2, &[]).unwrap(),
        false,
        |img, _, clock| {
            let ctx = &img.ctx;
            let store = reopen(img.fs, clock, ctx);
            let after = match store.describe_topic("again") {
                Ok(d) => {
                    for p in &d.partitions {
                        assert_eq!(
                            (p.log_start_offset, p.log_end_offset),
                            (0, 0),
                            "{ctx}: the re-created again-{} is not empty at 0",
                            p.partition
                        );
                    }
                    true
                }
                Err(seglog::Error::UnknownTopic { .. }) => false,
                Err(e) => panic!("{ctx}: {e}"),
            };
            finish_checks(img.fs, clock, store, ctx);
            Some(after)
        },
    );
}

/// After a crash that interrupted a topic deletion, the open finishes it
/// (the directories go), and its report names none of the removed
/// partition directories as unknown ones.
#[test]
fn open_report_names_no_directory_a_finished_deletion_removed() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000_000);
    let store = open_mem(&fs, &clock, "setup");
    store.create_topic("gone", 2, &[]).unwrap();
    let mut m = vec![PartModel::default(); 2];
    produce(&store, "gone", &mut m, 3, 16, Durability::Sync);
    // Frozen right after the `deleting` entry is committed (the
    // temporary file's fsync, then the directory's).
    fs.freeze_after_syncs(fs.sync_count() + 2);
    store.delete_topic("gone").unwrap();
    let crashed = fs.crash(CrashMode::DurableOnly);
    drop(store);
    assert!(crashed.exists(Path::new("/store/gone-0")).unwrap());
    let store = open_mem(&crashed, &clock, "reopen");
    let report = store.open_report().clone();
    assert_eq!(report.deletions_finished, 1, "{report:?}");
    assert!(store.list_topics().is_empty());
    assert!(root_dirs(&crashed).is_empty(), "{:?}", root_dirs(&crashed));
    assert!(
        report.unknown_directories.is_empty(),
        "the report names directories that are gone: {:?}",
        report.unknown_directories
    );
}

/// Records that each fit a segment are never batched by the producer into
/// one batch larger than the segment, which the log would refuse (as
/// Kafka's broker does): a batch is capped at the smaller of
/// `max.message.bytes` and `segment.bytes`.
#[test]
fn producer_batches_records_that_each_fit_a_segment() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000_000);
    let store = open_mem(&fs, &clock, "open");
    store
        .create_topic("small", 1, &[("segment.bytes", "1024")])
        .unwrap();
    let producer = store.producer(ProducerConfig::default());
    let sent: Vec<_> = (0..4)
        .map(|i| {
            producer
                .send(ProducerRecord::new("small", vec![i as u8; 400]).with_partition(0))
                .unwrap()
        })
        .collect();
    for (i, d) in sent.into_iter().enumerate() {
        match d.wait() {
            Ok(meta) => assert_eq!(meta.offset, i as u64),
            Err(e) => panic!("record {i} of 400 bytes, in a topic of 1 KiB segments: {e}"),
        }
    }
    store.close().unwrap();
}

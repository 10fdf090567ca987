//! Crash safety at the store level: process kills on the real file system.
//!
//! A child process (this test binary, re-executed with `--exact
//! store_crash_child`) opens a [`LogStore`], creates the topic if needed,
//! toggles a side topic (creates it, or deletes it), and produces records
//! with `Durability::Sync`, appending `partition offset round seq
//! timestamp` to an ack file after each acknowledgement. The parent kills
//! it with SIGKILL after a random delay (during open, topic changes,
//! produce, segment rolls, `maintain`), reopens the store and checks that
//! every acknowledged record is there, byte for byte, that every partition
//! reads back from its start to its end as valid records with contiguous
//! offsets (each record one the child sent, each at most once, in send
//! order), and that `verify_partition_dir` passes on every partition
//! directory after a clean close. `SEGLOG_CRASH_ROUNDS` sets the number of
//! rounds (default 30). Power loss is in `store_power_loss.rs`.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use seglog::inspect::verify_partition_dir;
use seglog::store::{LogStore, StoreConfig};
use seglog::{Header, LogRecord, ProducerRecord};

mod common_crash;
mod common_store;

#[path = "store_kill/compaction.rs"]
mod compaction;

use common_crash::Rng;
use common_store::{same_record, sync_producer};

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

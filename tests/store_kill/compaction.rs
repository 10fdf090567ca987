//! Process kills during compaction rounds, on the real file system.
//!
//! A child process (this test binary, re-executed with `--exact
//! compaction::compaction_crash_child`) opens a store with a compacted
//! topic of small segments, writes keyed records and tombstones over a few
//! keys with `Durability::Sync`, appending the sequence number of each to
//! an ack file once it is acknowledged, and runs a compaction round (or a
//! maintenance pass, which compacts) every few writes. The parent kills it
//! with SIGKILL, at a random time or just after a round began, reopens the
//! store (strict recovery) and checks each partition: offsets increase,
//! every record is one the child wrote, none is one it had not started,
//! and the key -> value table equals the table after some prefix of the
//! child's writes that holds every acknowledged one (the writes are
//! sequential, so only the write after the last acknowledged one may or
//! may not be there). After a clean close no temporary file of a round is
//! left and `verify_partition_dir` passes. `SEGLOG_COMPACT_KILL_ROUNDS`
//! sets the number of kills (default 8).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use seglog::inspect::verify_partition_dir;
use seglog::store::{LogStore, StoreConfig};
use seglog::{Header, ProducerRecord};

use crate::common_crash::Rng;
use crate::common_store::sync_producer;
use crate::{last_progress, progress};

const ENV_DIR: &str = "SEGLOG_COMPACT_KILL_DIR";
const ENV_ROUND: &str = "SEGLOG_COMPACT_KILL_ROUND";
const ENV_SEED: &str = "SEGLOG_COMPACT_KILL_SEED";
const TOPIC: &str = "compacted";
const PARTITIONS: u32 = 2;
/// Writes a child makes at most in one round.
const MAX_WRITES: u64 = 3_000;
/// A compaction round (or a maintenance pass) every this many writes.
const COMPACT_EVERY: u64 = 3;

fn topic_overrides() -> Vec<(&'static str, &'static str)> {
    vec![
        ("cleanup.policy", "compact"),
        ("segment.bytes", "1024"),
        ("segment.index.bytes", "4096"),
        ("index.interval.bytes", "128"),
        ("min.cleanable.dirty.ratio", "0.01"),
        // Tombstones go in the round after the one that first keeps them.
        ("delete.retention.ms", "0"),
    ]
}

/// One write of the child: partition, key, value (`None`: a tombstone).
#[derive(Debug, Clone, PartialEq)]
struct Put {
    partition: u32,
    key: String,
    value: Option<Vec<u8>>,
}

/// Write `seq` of `round`: one of 10 keys, a tombstone one time in five,
/// values of 0 to 300 bytes starting `round:seq:`.
fn write_of(round: u64, seq: u64) -> Put {
    let mut rng = Rng::new((round << 32) ^ seq ^ 0x0C0A_C7ED);
    let partition = rng.below(u64::from(PARTITIONS)) as u32;
    let key = format!("key-{}", rng.below(10));
    let value = (rng.below(5) != 0).then(|| {
        let mut v = format!("{round}:{seq}:").into_bytes();
        let fill = rng.next() as u8;
        let len = rng.below(300) as usize;
        v.extend((0..len).map(|i| fill.wrapping_add(i as u8)));
        v
    });
    Put {
        partition,
        key,
        value,
    }
}

fn record_of(round: u64, seq: u64) -> ProducerRecord {
    let w = write_of(round, seq);
    let record = match w.value {
        Some(v) => ProducerRecord::new(TOPIC, v).with_key(w.key),
        None => ProducerRecord::tombstone(TOPIC, w.key),
    };
    record
        .with_partition(w.partition)
        .with_header("id", format!("{round}:{seq}"))
}

/// Run by `sigkill_during_compaction_keeps_the_latest_of_every_key` in a
/// child process; does nothing when run directly.
#[test]
fn compaction_crash_child() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let round: u64 = std::env::var(ENV_ROUND).unwrap().parse().unwrap();
    let seed: u64 = std::env::var(ENV_SEED).unwrap().parse().unwrap();
    let mut rng = Rng::new(seed ^ (round << 24));
    let store = LogStore::open(dir.join("store"), StoreConfig::default()).unwrap();
    if !store.list_topics().iter().any(|t| t == TOPIC) {
        store
            .create_topic(TOPIC, PARTITIONS, &topic_overrides())
            .unwrap();
    }
    let producer = sync_producer(&store);
    let mut acks = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("acks-{round}")))
        .unwrap();
    for seq in 0..MAX_WRITES {
        producer.send_and_wait(record_of(round, seq)).unwrap();
        // One write per line: the parent trusts only lines ending in '\n'.
        acks.write_all(format!("{seq}\n").as_bytes()).unwrap();
        if seq == 0 {
            progress(&dir, round, "acked");
        }
        if seq % COMPACT_EVERY == COMPACT_EVERY - 1 {
            progress(&dir, round, "compacting");
            if rng.below(4) == 0 {
                let report = store.maintain().unwrap();
                assert!(report.errors.is_empty(), "{:?}", report.errors);
            } else {
                store.compact(TOPIC, None).unwrap();
            }
            progress(&dir, round, "compacted");
        }
    }
    drop(producer);
    store.close().unwrap();
    progress(&dir, round, "done");
}

/// How many writes of `round` were acknowledged (complete lines).
fn acknowledged(dir: &Path, round: u64) -> u64 {
    let text = fs::read_to_string(dir.join(format!("acks-{round}"))).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let mut n = 0;
    for line in complete.lines() {
        assert_eq!(line.parse::<u64>().unwrap(), n, "ack lines out of order");
        n += 1;
    }
    n
}

type Table = BTreeMap<String, Vec<u8>>;

fn apply(tables: &mut [Table], w: &Put) {
    let table = &mut tables[w.partition as usize];
    match &w.value {
        Some(v) => table.insert(w.key.clone(), v.clone()),
        None => table.remove(&w.key),
    };
}

/// Reopens the store after round `round`'s child died (or closed it),
/// checks it against `before` (the tables the store held when the round
/// began), and returns the tables it holds now.
fn check_after_kill(dir: &Path, round: u64, before: &[Table]) -> Vec<Table> {
    let ctx = format!("after the kill in round {round}");
    let acked = acknowledged(dir, round);
    let store_dir = dir.join("store");
    let store = LogStore::open(&store_dir, StoreConfig::default())
        .unwrap_or_else(|e| panic!("{ctx}: the store does not open: {e}"));
    let mut found: Vec<Table> = vec![Table::new(); PARTITIONS as usize];
    let mut latest_seq: Option<u64> = None;
    if store.list_topics().iter().any(|t| t == TOPIC) {
        for p in 0..PARTITIONS {
            let log = store.partition(TOPIC, p).unwrap();
            assert!(
                log.cleaner_checkpoint()
                    .is_none_or(|c| c <= log.log_end_offset()),
                "{ctx}: partition {p}: checkpoint {:?} beyond the end",
                log.cleaner_checkpoint()
            );
            let mut last: Option<u64> = None;
            for r in log.iter(log.log_start_offset()) {
                let r = r.unwrap_or_else(|e| panic!("{ctx}: reading partition {p}: {e}"));
                assert!(
                    last.is_none_or(|l| l < r.offset),
                    "{ctx}: partition {p}: offset {} after {last:?}",
                    r.offset
                );
                last = Some(r.offset);
                let id = match r.headers.as_slice() {
                    [Header {
                        key,
                        value: Some(v),
                    }] if key == "id" => String::from_utf8(v.clone()).unwrap(),
                    other => panic!("{ctx}: partition {p}: headers {other:?}"),
                };
                let (w_round, w_seq) = id.split_once(':').unwrap();
                let (w_round, w_seq): (u64, u64) =
                    (w_round.parse().unwrap(), w_seq.parse().unwrap());
                let w = write_of(w_round, w_seq);
                let read = Put {
                    partition: p,
                    key: String::from_utf8(r.key.clone().unwrap()).unwrap(),
                    value: r.value.clone(),
                };
                assert_eq!(read, w, "{ctx}: partition {p} offset {}", r.offset);
                assert!(w_round <= round, "{ctx}: a write of a later round");
                if w_round == round {
                    latest_seq = latest_seq.max(Some(w_seq));
                }
                apply(&mut found, &w);
            }
        }
    }
    // Writes are sequential: the one after the last acknowledged may be
    // there, no later one.
    assert!(
        latest_seq.is_none_or(|s| s <= acked),
        "{ctx}: write {latest_seq:?} found, {acked} acknowledged"
    );
    let mut model = before.to_vec();
    for seq in 0..acked {
        apply(&mut model, &write_of(round, seq));
    }
    if found != model {
        apply(&mut model, &write_of(round, acked));
        assert!(
            found == model,
            "{ctx}: the tables are not those of the {acked} acknowledged writes \
             (with or without the next)\nfound {found:?}"
        );
    }
    store
        .close()
        .unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
    drop(store);
    for p in 0..PARTITIONS {
        let part = store_dir.join(format!("{TOPIC}-{p}"));
        if !part.exists() {
            continue;
        }
        for e in fs::read_dir(&part).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            assert!(
                !name.ends_with(".cleaned") && !name.ends_with(".swap"),
                "{ctx}: {name} left in partition {p}"
            );
        }
        verify_partition_dir(&part).unwrap_or_else(|e| panic!("{ctx}: verify partition {p}: {e}"));
    }
    found
}

#[test]
fn sigkill_during_compaction_keeps_the_latest_of_every_key() {
    let rounds: u64 = std::env::var("SEGLOG_COMPACT_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let seed: u64 = std::env::var("SEGLOG_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0xC0_4AC7);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::new(seed);
    let mut tables = vec![Table::new(); PARTITIONS as usize];
    let mut phases: BTreeMap<String, u32> = BTreeMap::new();
    let started = Instant::now();
    for round in 0..rounds {
        let log = File::create(dir.join(format!("child-{round}.log"))).unwrap();
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "compaction::compaction_crash_child",
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
        // Half the kills land just after a round began (it takes a few
        // fsyncs): the first to sixth of the child; the others at a random
        // time after its first write.
        let at_round = rng.below(2) == 0;
        let rounds_begun = 1 + rng.below(6) as usize;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
            let text =
                fs::read_to_string(dir.join(format!("progress-{round}"))).unwrap_or_default();
            let ready = if at_round {
                text.lines().filter(|l| *l == "compacting").count() >= rounds_begun
            } else {
                text.lines().any(|l| l == "acked")
            };
            if ready {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(if at_round {
            Duration::from_micros(rng.below(3_000))
        } else {
            Duration::from_millis(rng.below(150))
        });
        let killed = match child.try_wait().unwrap() {
            Some(_) => false,
            None => {
                let _ = child.kill();
                true
            }
        };
        let status = child.wait().unwrap();
        if (!killed && !status.success()) || status.code() == Some(101) {
            let out = fs::read_to_string(dir.join(format!("child-{round}.log"))).unwrap();
            panic!("the child of round {round} failed ({status}):\n{out}");
        }
        *phases.entry(last_progress(dir, round)).or_default() += 1;
        tables = check_after_kill(dir, round, &tables);
    }
    let keys: usize = tables.iter().map(|t| t.len()).sum();
    eprintln!(
        "{rounds} kills in {:?}; killed after: {phases:?}; {keys} keys in the end",
        started.elapsed()
    );
    if rounds >= 4 {
        assert!(keys > 0, "no child got to write anything");
    }
}

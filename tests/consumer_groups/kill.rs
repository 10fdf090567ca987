//! Process kills of a consumer that commits, on the real file system.
//!
//! A child process (this test binary, re-executed with `--exact
//! kill::group_kill_child`) opens the store, subscribes to a topic in a
//! group, and loops: it polls, "processes" each record by appending
//! `round partition offset` to a file, and commits with `commit_sync`,
//! appending what it committed to another file once that returned. The
//! parent kills it with SIGKILL at a random time and starts it again, a
//! few times, then lets a last child run until it has read everything.
//! Then every record was processed at least once, and no child processed
//! a record below an offset an earlier child had committed (acknowledged):
//! a commit, once `commit_sync` returned, is where the group resumes.
//! `SEGLOG_GROUP_KILL_ROUNDS` sets the number of kills (default 6).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use seglog::store::StoreConfig;
use seglog::{AutoOffsetReset, ConsumerConfig, LogStore, ProducerRecord};

use crate::common_crash::Rng;
use crate::common_store::sync_producer;

const ENV_DIR: &str = "SEGLOG_GROUP_KILL_DIR";
const ENV_ROUND: &str = "SEGLOG_GROUP_KILL_ROUND";
const TOPIC: &str = "jobs";
const PARTITIONS: u32 = 3;
const RECORDS_PER_PARTITION: u64 = 1_500;

fn store_config() -> StoreConfig {
    let mut config = StoreConfig::default();
    config.groups.offsets_topic_num_partitions = 3;
    config.groups.group_initial_rebalance_delay_ms = 0;
    config.groups.group_min_session_timeout_ms = 100;
    config
}

fn append(path: &Path, line: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(line.as_bytes()).unwrap();
}

/// Complete `round partition offset` lines of a file.
fn lines(path: &Path) -> Vec<(u64, u32, u64)> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .map(|l| {
            let mut parts = l.split(' ').map(|x| x.parse::<u64>().unwrap());
            let (r, p, o) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            (r, p as u32, o)
        })
        .collect()
}

/// Run by `a_killed_consumer_resumes_from_its_last_commit` in a child
/// process; does nothing when run directly.
#[test]
fn group_kill_child() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let round: u64 = std::env::var(ENV_ROUND).unwrap().parse().unwrap();
    let store = LogStore::open(dir.join("store"), store_config()).unwrap();
    let mut consumer = store.consumer(ConsumerConfig {
        group_id: Some("workers".into()),
        enable_auto_commit: false,
        auto_offset_reset: AutoOffsetReset::Earliest,
        max_poll_records: 40,
        // The member a kill left behind is removed this long after the
        // new one asks to join.
        max_poll_interval: Duration::from_millis(500),
        ..ConsumerConfig::default()
    });
    consumer.subscribe(&[TOPIC]).unwrap();
    let processed = dir.join("processed");
    let commits = dir.join("commits");
    let mut idle = 0;
    while idle < 10 {
        let records = consumer.poll(Duration::from_millis(50)).unwrap();
        if records.is_empty() {
            idle += 1;
            continue;
        }
        idle = 0;
        let mut batch = String::new();
        for r in &records {
            batch.push_str(&format!("{round} {} {}\n", r.partition, r.offset));
        }
        append(&processed, &batch);
        let positions: Vec<_> = consumer
            .assignment()
            .into_iter()
            .map(|tp| (tp.partition, consumer.position(tp).unwrap()))
            .collect();
        consumer.commit_sync().unwrap();
        let mut acked = String::new();
        for (p, o) in positions {
            acked.push_str(&format!("{round} {p} {o}\n"));
        }
        append(&commits, &acked);
    }
    consumer.close().unwrap();
    store.close().unwrap();
}

#[test]
fn a_killed_consumer_resumes_from_its_last_commit() {
    let kills: u64 = std::env::var("SEGLOG_GROUP_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    {
        let store = LogStore::open(dir.join("store"), store_config()).unwrap();
        store.create_topic(TOPIC, PARTITIONS, &[]).unwrap();
        let producer = sync_producer(&store);
        for p in 0..PARTITIONS {
            for i in 0..RECORDS_PER_PARTITION {
                let _ = producer
                    .send(ProducerRecord::new(TOPIC, format!("{p}-{i}")).with_partition(p))
                    .unwrap();
            }
        }
        producer.flush().unwrap();
        store.close().unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::new(0x6A0);
    for round in 0..=kills {
        let log = File::create(dir.join(format!("child-{round}.log"))).unwrap();
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "kill::group_kill_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV_DIR, dir)
            .env(ENV_ROUND, round.to_string())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let last = round == kills;
        if !last {
            // Kill once this child has processed something, after a while.
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline
                && !lines(&dir.join("processed"))
                    .iter()
                    .any(|(r, _, _)| *r == round)
                && child.try_wait().unwrap().is_none()
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(rng.below(60)));
            let _ = child.kill();
        }
        let status = child.wait().unwrap();
        if (last && !status.success()) || status.code() == Some(101) {
            let out = fs::read_to_string(dir.join(format!("child-{round}.log"))).unwrap();
            panic!("the child of round {round} failed ({status}):\n{out}");
        }
    }
    let processed = lines(&dir.join("processed"));
    let commits = lines(&dir.join("commits"));
    // Every record at least once.
    for p in 0..PARTITIONS {
        let mut seen = vec![false; RECORDS_PER_PARTITION as usize];
        for (_, _, o) in processed.iter().filter(|(_, q, _)| *q == p) {
            seen[*o as usize] = true;
        }
        let missing = seen.iter().filter(|s| !**s).count();
        assert_eq!(
            missing, 0,
            "partition {p}: {missing} records never processed"
        );
    }
    // No child processed a record below what an earlier child had
    // committed.
    let mut committed: BTreeMap<u32, u64> = BTreeMap::new();
    let mut resumed = 0;
    for round in 0..=kills {
        for (_, p, o) in processed.iter().filter(|(r, _, _)| *r == round) {
            let floor = committed.get(p).copied().unwrap_or(0);
            assert!(
                *o >= floor,
                "round {round}: partition {p} offset {o} processed again after a commit of {floor}"
            );
        }
        resumed += committed.len();
        for (_, p, o) in commits.iter().filter(|(r, _, _)| *r == round) {
            let c = committed.entry(*p).or_default();
            *c = (*c).max(*o);
        }
    }
    assert!(resumed > 0, "no child ever resumed from a commit");
    // The store agrees with the last child's commits.
    let store = LogStore::open(dir.join("store"), store_config()).unwrap();
    for p in 0..PARTITIONS {
        let tp = seglog::TopicPartition::new(TOPIC, p);
        let c = store.committed_offsets("workers", &[tp]).unwrap()[0].clone();
        assert_eq!(c.map(|c| c.offset), Some(RECORDS_PER_PARTITION));
    }
}

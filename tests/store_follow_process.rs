//! A read-only store following a store another process writes, on the
//! real file system.
//!
//! A child process (this test binary, re-executed with `--exact
//! follow_writer_child`) produces records to two partitions, each value
//! naming its partition and offset, rolling segments often and now and
//! then deleting old records (`delete_records`), while this process
//! consumes the topic through a read-only store. Every record the reader
//! gets must be the one the writer put at that offset, offsets must only
//! go up, and the reader must reach the writer's end. In the second round
//! the writer is killed with SIGKILL part-way; the store it leaves is then
//! opened for writing (recovery), and every record the reader saw must be
//! there, the same, unless deleted.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use seglog::store::{AutoOffsetReset, ConsumerConfig, LogStore, ProducerRecord, StoreConfig};

const ENV_DIR: &str = "SEGLOG_FOLLOW_DIR";
const TOPIC: &str = "f";
const PARTITIONS: u32 = 2;
const RECORDS: u64 = 3_000;

fn value(partition: u32, offset: u64) -> Vec<u8> {
    let mut v = format!("{partition}:{offset}:").into_bytes();
    v.resize(20 + (offset % 7) as usize * 40, b'x');
    v
}

/// The writer: run only as the child of `a_reader_follows_a_writing_process`.
#[test]
fn follow_writer_child() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let store = LogStore::open(&dir, StoreConfig::default()).unwrap();
    store
        .create_topic(
            TOPIC,
            PARTITIONS,
            &[("segment.bytes", "8192"), ("retention.ms", "-1")],
        )
        .unwrap();
    let producer = store.producer(Default::default());
    for i in 0..RECORDS {
        let p = (i % u64::from(PARTITIONS)) as u32;
        let log = store.partition(TOPIC, p).unwrap();
        let offset = log.log_end_offset();
        let sent = producer
            .send_and_wait(ProducerRecord::new(TOPIC, value(p, offset)).with_partition(p))
            .unwrap();
        assert_eq!(sent.offset, offset);
        if i % 500 == 499 {
            store.delete_records(TOPIC, p, offset - 100).unwrap();
        }
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    store.close().unwrap();
}

fn spawn_writer(dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "follow_writer_child", "--test-threads=1"])
        .env(ENV_DIR, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Opens the store read-only once the writer has created the topic.
fn open_reader(dir: &Path) -> LogStore {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(store) = LogStore::open_read_only(dir, StoreConfig::default()) {
            if store.list_topics() == [TOPIC] {
                return store;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the writer never created its topic"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Consumes until `done` says to stop; checks every record on the way and
/// returns them by partition and offset.
fn follow(
    reader: &LogStore,
    mut done: impl FnMut(&BTreeMap<(u32, u64), Vec<u8>>) -> bool,
) -> BTreeMap<(u32, u64), Vec<u8>> {
    let mut consumer = reader.consumer(ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Earliest,
        max_poll_records: 97,
        ..ConsumerConfig::default()
    });
    consumer.assign_topic(TOPIC).unwrap();
    let mut seen = BTreeMap::new();
    let mut last: BTreeMap<u32, u64> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done(&seen) {
        assert!(Instant::now() < deadline, "the reader fell behind for good");
        for r in consumer.poll(Duration::from_millis(200)).unwrap() {
            let value = r.value.unwrap();
            assert_eq!(
                value,
                self::value(r.partition, r.offset),
                "at {}-{}",
                r.partition,
                r.offset
            );
            if let Some(prev) = last.insert(r.partition, r.offset) {
                assert!(
                    r.offset > prev,
                    "offsets went back in {}: {prev} then {}",
                    r.partition,
                    r.offset
                );
            }
            seen.insert((r.partition, r.offset), value);
        }
    }
    seen
}

#[test]
fn a_reader_follows_a_writing_process() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");

    // Round 1: the writer runs to the end; the reader gets there too.
    let mut child = spawn_writer(&dir);
    let reader = open_reader(&dir);
    let per_partition = RECORDS / u64::from(PARTITIONS);
    let mut while_writing = 0;
    let seen = follow(&reader, |seen| {
        if !seen.is_empty() && child.try_wait().unwrap().is_none() {
            while_writing = seen.len();
        }
        (0..PARTITIONS).all(|p| seen.contains_key(&(p, per_partition - 1)))
    });
    assert!(child.wait().unwrap().success(), "the writer failed");
    assert!(
        while_writing > 0,
        "the writer was done before the reader read"
    );
    assert!(
        seen.len() as u64 >= RECORDS / 2,
        "only {} records seen",
        seen.len()
    );
    reader.close().unwrap();

    // Round 2: a writer killed part-way. What the reader saw survives.
    let dir = tmp.path().join("store-2");
    let mut child = spawn_writer(&dir);
    let reader = open_reader(&dir);
    let kill_after = 600;
    let seen = follow(&reader, |seen| seen.len() >= kill_after);
    child.kill().unwrap();
    child.wait().unwrap();
    reader.close().unwrap();
    drop(reader);
    let store = LogStore::open(&dir, StoreConfig::default()).unwrap();
    for ((p, offset), value) in &seen {
        let log = store.partition(TOPIC, *p).unwrap();
        if *offset < log.log_start_offset() {
            continue;
        }
        match log.iter(*offset).next() {
            Some(Ok(r)) => {
                assert_eq!(r.offset, *offset);
                assert_eq!(r.value.as_deref(), Some(&value[..]));
            }
            Some(Err(e)) => panic!("reading {p}-{offset} after recovery: {e}"),
            None => panic!("{p}-{offset}, seen by the reader, is gone after recovery"),
        }
    }
    store.close().unwrap();
}

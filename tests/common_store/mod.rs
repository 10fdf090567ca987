//! Helpers shared by the store retention and maintenance tests: a store on
//! `MemFs` with a manual clock, partition files, deterministic records.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use seglog::io::{Fs, MemFs, OpenMode};
use seglog::store::StoreOptions;
use seglog::{
    Durability, LogRecord, LogStore, ManualClock, ProducerConfig, ProducerRecord, Record,
    SegmentInfo, StoreConfig, TimestampType,
};

pub const ROOT: &str = "/store";
pub const TOPIC: &str = "t";
/// A clock far from the epoch.
pub const T0: i64 = 1_700_000_000_000;

pub fn store_config() -> StoreConfig {
    let mut config = StoreConfig::default();
    // No 10 MiB index preallocations on MemFs.
    config.topic_defaults.log.segment_index_bytes = 4_096;
    config
}

pub fn open(fs: &MemFs, clock: &ManualClock) -> LogStore {
    open_with(fs, clock, store_config())
}

/// The store at [`ROOT`] opened with `config`.
pub fn open_with(fs: &MemFs, clock: &ManualClock, config: StoreConfig) -> LogStore {
    StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(ROOT, config)
        .unwrap()
}

/// A read-only view of the store at [`ROOT`].
pub fn open_read_only(fs: &MemFs, clock: &ManualClock) -> LogStore {
    StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .read_only(true)
        .open(ROOT, store_config())
        .unwrap()
}

pub fn partition_dir(topic: &str, partition: u32) -> PathBuf {
    Path::new(ROOT).join(format!("{topic}-{partition}"))
}

/// Names of the files in a partition's directory ending with `suffix`.
pub fn files(fs: &MemFs, topic: &str, partition: u32, suffix: &str) -> BTreeSet<String> {
    fs.list_dir(&partition_dir(topic, partition))
        .unwrap()
        .into_iter()
        .filter(|e| !e.is_dir && e.name.ends_with(suffix))
        .map(|e| e.name)
        .collect()
}

/// Base offsets of the `.log.deleted` files in a partition's directory.
pub fn deleted_bases(fs: &MemFs, topic: &str, partition: u32) -> BTreeSet<u64> {
    files(fs, topic, partition, ".log.deleted")
        .iter()
        .map(|n| n.trim_end_matches(".log.deleted").parse().unwrap())
        .collect()
}

/// The value of the record at `offset` of `partition`: unique, `len`
/// bytes or a little more.
pub fn value_for(partition: u32, offset: u64, len: usize) -> Vec<u8> {
    let mut v = format!("{partition}:{offset}:").into_bytes();
    let n = v.len();
    v.extend((0..len.saturating_sub(n)).map(|i| b'a' + (i % 26) as u8));
    v
}

/// Sends `n` records of about 100 bytes stamped `timestamp` to
/// `partition`, each its own batch; returns the last offset.
pub fn produce(store: &LogStore, topic: &str, partition: u32, n: usize, timestamp: i64) -> u64 {
    produce_with_key(store, topic, partition, n, timestamp, None)
}

/// [`produce`], each record with `key` if it is given.
pub fn produce_with_key(
    store: &LogStore,
    topic: &str,
    partition: u32,
    n: usize,
    timestamp: i64,
    key: Option<&str>,
) -> u64 {
    let producer = store.producer(Default::default());
    let mut last = 0;
    for _ in 0..n {
        let offset = store.partition(topic, partition).unwrap().log_end_offset();
        let mut record = ProducerRecord::new(topic, value_for(partition, offset, 100))
            .with_partition(partition)
            .with_timestamp(timestamp);
        if let Some(key) = key {
            record = record.with_key(key);
        }
        let meta = producer.send_and_wait(record).unwrap();
        assert_eq!(meta.offset, offset);
        last = meta.offset;
    }
    last
}

pub fn bases(segments: &[SegmentInfo]) -> Vec<u64> {
    segments.iter().map(|s| s.base_offset).collect()
}

/// A producer whose every batch is fsynced before it is acknowledged.
pub fn sync_producer(store: &LogStore) -> seglog::Producer {
    store.producer(ProducerConfig {
        durability: Some(Durability::Sync),
        ..ProducerConfig::default()
    })
}

/// Whether `found` is the record `sent` (its timestamp too, if it was
/// sent with one).
pub fn same_record(found: &LogRecord, sent: &Record) -> bool {
    found.timestamp_type == TimestampType::CreateTime
        && found.key == sent.key
        && found.value == sent.value
        && found.headers == sent.headers
        && sent.timestamp.is_none_or(|t| t == found.timestamp)
}

/// The directories at the store's root (`ROOT`) on `fs`, sorted.
pub fn root_dirs(fs: &MemFs) -> Vec<String> {
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

/// Every file under the store's root (`ROOT`) on `fs`, with its bytes.
pub fn snapshot(fs: &MemFs) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(fs: &MemFs, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in fs.list_dir(dir).unwrap() {
            let path = dir.join(&e.name);
            if e.is_dir {
                walk(fs, &path, out);
            } else {
                let f = fs.open(&path, OpenMode::Read).unwrap();
                let mut bytes = vec![0; f.len().unwrap() as usize];
                f.read_exact_at(&mut bytes, 0).unwrap();
                out.insert(path, bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(fs, Path::new(ROOT), &mut out);
    out
}

/// Sends `key -> value` (a tombstone for `None`) to `partition`, stamped
/// `timestamp`, and waits for it; returns its offset.
pub fn put(
    store: &LogStore,
    topic: &str,
    partition: u32,
    key: &str,
    value: Option<&str>,
    timestamp: i64,
) -> u64 {
    let record = match value {
        Some(v) => ProducerRecord::new(topic, v).with_key(key),
        None => ProducerRecord::tombstone(topic, key),
    };
    store
        .producer(Default::default())
        .send_and_wait(record.with_partition(partition).with_timestamp(timestamp))
        .unwrap()
        .offset
}

#[path = "../common_keyed/mod.rs"]
mod keyed;
#[allow(unused_imports)]
pub use keyed::{keyed_records, table};

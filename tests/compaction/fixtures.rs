//! Kafka-written partitions compacted: each keyed fixture of
//! `tests/data/kafka-v2/good` is copied into a `MemFs`, opened as a
//! compacted log, given new values and tombstones for some of its keys,
//! and compacted twice, the second time after the tombstones' delete
//! horizon. Every batch of the result passes its CRC check, the
//! directory verifies, the indexes written are the ones recovery
//! rebuilds, every record read is the one Kafka (or the test) wrote at
//! its offset, and the key -> value table is `expected.jsonl`'s last value
//! per key with the test's changes.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use serde_json::Value;

use seglog::io::{Fs, MemFs};
use seglog::topic::CleanupPolicy;
use seglog::{Compression, LogConfig, ManualClock, OpenOptions, PartitionLog, Record};

use crate::common::{fixtures, read_jsonl};
use crate::common_crash::{dir, DIR};

/// The keyed fixtures: gaps and tombstones, several segments, every
/// codec, log-append time, producers, varied records and timestamps.
const CASES: &[&str] = &[
    "compacted-gaps",
    "multi-segment",
    "compression-mixed",
    "compression-gzip",
    "log-append-time",
    "producer-state",
    "records-variety",
    "timestamps-unordered",
];

/// A little after the fixtures' timestamps.
const NOW: i64 = 1_700_000_100_000;

type Bytes = Vec<u8>;

/// A record as expected at an offset: key, value, timestamp.
type Expected = (Option<Bytes>, Option<Bytes>, i64);

fn b64(v: &Value) -> Option<Bytes> {
    v.as_str()
        .map(|s| base64::engine::general_purpose::STANDARD.decode(s).unwrap())
}

fn codec_missing(case: &Path) -> bool {
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("case.json")).unwrap()).unwrap();
    json["codecs"].as_array().unwrap().iter().any(|c| {
        let codec = match c.as_str().unwrap() {
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            _ => Compression::None,
        };
        !codec.is_available()
    })
}

fn config() -> LogConfig {
    LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        // Several index entries per segment, to compare with recovery's.
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

fn open(fs: &MemFs, clock: &ManualClock) -> PartitionLog {
    OpenOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(DIR, config())
        .unwrap()
}

fn copy_into(fs: &MemFs, from: &Path) {
    fs.create_dir_all(dir()).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let bytes = std::fs::read(entry.path()).unwrap();
        fs.write(&dir().join(entry.file_name()), &bytes).unwrap();
    }
}

fn segment_files(fs: &MemFs, ext: &str) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = fs
        .list_dir(dir())
        .unwrap()
        .into_iter()
        .filter(|e| e.name.ends_with(ext))
        .map(|e| dir().join(e.name))
        .collect();
    paths.sort();
    paths
}

fn apply(table: &mut BTreeMap<Bytes, Bytes>, key: &Option<Bytes>, value: &Option<Bytes>) {
    if let Some(k) = key {
        match value {
            Some(v) => table.insert(k.clone(), v.clone()),
            None => table.remove(k),
        };
    }
}

fn compact_fixture(name: &str) {
    let case = fixtures().join("good").join(name);
    if codec_missing(&case) {
        return;
    }
    let fs = MemFs::new();
    let clock = ManualClock::new(NOW);
    copy_into(&fs, &case.join("topic-0"));
    let mut want: BTreeMap<u64, Expected> = BTreeMap::new();
    let mut table = BTreeMap::new();
    let mut keys: Vec<Bytes> = Vec::new();
    for r in read_jsonl(&case.join("expected.jsonl")) {
        let (key, value) = (b64(&r["key"]), b64(&r["value"]));
        apply(&mut table, &key, &value);
        if let Some(k) = &key {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        let offset = r["offset"].as_u64().unwrap();
        want.insert(offset, (key, value, r["timestamp"].as_i64().unwrap()));
    }
    let log = open(&fs, &clock);
    // New values for a quarter of the keys, tombstones for another.
    for (i, key) in keys.iter().enumerate() {
        let record = match i % 4 {
            0 => Record::new(format!("new value {i}")).with_key(key.clone()),
            1 => Record::tombstone(key.clone()),
            _ => continue,
        };
        let info = log.append(&[record.with_timestamp(NOW)]).unwrap();
        let value = (i % 4 == 0).then(|| format!("new value {i}").into_bytes());
        apply(&mut table, &Some(key.clone()), &value);
        want.insert(info.first_offset, (Some(key.clone()), value, NOW));
    }
    log.roll().unwrap();
    let info = log
        .append(&[Record::new("active").with_key("k").with_timestamp(NOW)])
        .unwrap();
    want.insert(
        info.first_offset,
        (Some(b"k".to_vec()), Some(b"active".to_vec()), NOW),
    );
    apply(&mut table, &Some(b"k".to_vec()), &Some(b"active".to_vec()));

    let out = log.compact(NOW).unwrap();
    assert!(
        !out.aborted && out.segments_written > 0 && out.records_dropped > 0,
        "{name}: {out:?}"
    );
    // A day later the tombstones go.
    let later = NOW + 86_400_001;
    clock.advance(later - NOW);
    log.roll().unwrap();
    let out = log.compact(later).unwrap();
    assert!(
        !out.aborted && out.tombstones_dropped > 0,
        "{name}: {out:?}"
    );
    let check = |log: &PartitionLog, what: &str| {
        let mut got = BTreeMap::new();
        let mut last = None;
        for r in log.iter(log.log_start_offset()) {
            let r = r.unwrap();
            assert!(last < Some(r.offset), "{name} {what}: offset {}", r.offset);
            last = Some(r.offset);
            let expected = want.get(&r.offset);
            assert_eq!(
                expected,
                Some(&(r.key.clone(), r.value.clone(), r.timestamp)),
                "{name} {what}: offset {}",
                r.offset
            );
            apply(&mut got, &r.key, &r.value);
        }
        assert_eq!(got, table, "{name} {what}");
    };
    check(&log, "compacted");
    for path in segment_files(&fs, ".log") {
        let bytes = fs.read(&path).unwrap();
        for batch in seglog::record::batches(&bytes) {
            batch.unwrap().verify_crc().unwrap();
        }
    }
    let closed: Vec<u64> = log.segments()[..log.segments().len() - 1]
        .iter()
        .map(|s| s.base_offset)
        .collect();
    log.close().unwrap();
    seglog::inspect::verify_partition_dir_with(&fs, dir())
        .unwrap_or_else(|e| panic!("{name}: {e}"));

    // The indexes of the cleaned segments are what recovery rebuilds.
    let mut written = Vec::new();
    for base in &closed {
        for ext in ["index", "timeindex"] {
            let path = dir().join(format!("{base:020}.{ext}"));
            written.push((path.clone(), fs.read(&path).unwrap()));
            fs.remove_file(&path).unwrap();
        }
    }
    let log = open(&fs, &clock);
    check(&log, "reopened");
    log.close().unwrap();
    for (path, bytes) in written {
        assert_eq!(fs.read(&path).unwrap(), bytes, "{name}: {}", path.display());
    }
}

#[test]
fn kafka_fixtures_compact_into_segments_that_pass_kafkas_checks() {
    for name in CASES {
        compact_fixture(name);
    }
}

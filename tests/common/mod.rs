//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{json, Value};

use seglog::record::{BatchHeader, RecordView};

/// `tests/data/kafka-v2`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/kafka-v2")
}

/// Copies a directory's files (one level) into `to`, making them writable.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        fs::copy(entry.path(), &target).unwrap();
        let mut perms = fs::metadata(&target).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(&target, perms).unwrap();
    }
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A record in the shape of the fixtures' `expected.jsonl` lines.
pub fn record_json(segment_base: u64, h: &BatchHeader, r: &RecordView<'_>) -> Value {
    let headers: Vec<Value> = r
        .headers()
        .map(|h| json!({"key": String::from_utf8_lossy(h.key), "value": h.value.map(b64)}))
        .collect();
    json!({
        "offset": r.offset,
        "timestamp": r.timestamp,
        "timestamp_type": r.timestamp_type.to_string(),
        "key": r.key.map(b64),
        "value": r.value.map(b64),
        "headers": headers,
        "segment_base_offset": segment_base,
        "batch_base_offset": h.base_offset,
        "batch_last_offset": h.last_offset(),
        "partition_leader_epoch": h.partition_leader_epoch,
        "compression": h.compression().name(),
        "is_transactional": h.is_transactional(),
        "is_control": h.is_control(),
        "producer_id": h.producer_id,
        "producer_epoch": h.producer_epoch,
        "base_sequence": h.base_sequence,
    })
}

/// Rewrites a batch's header field at `at` and recomputes its CRC, as a
/// compaction (records gone from the end of a batch) or a transaction
/// marker (control bit) leaves batches.
pub fn patch_batch(batch: &mut [u8], at: usize, bytes: &[u8]) {
    batch[at..at + bytes.len()].copy_from_slice(bytes);
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// The lines of a `.jsonl` file.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The base offset in a segment file's name.
pub fn segment_base(path: &Path) -> u64 {
    let name = path.file_name().unwrap().to_str().unwrap();
    name.split('.').next().unwrap().parse().unwrap()
}

/// Sub-directories of a directory, sorted.
pub fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

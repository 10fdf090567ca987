//! Helpers shared by the read-only log tests: a log on `MemFs` written
//! one record a batch, read back, and damaged in place.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use seglog::io::{Fs, MemFs, OpenMode};
use seglog::record::BatchBuilder;
use seglog::{Error, LogConfig, OpenOptions, PartitionLog, Record};

pub const DIR: &str = "/data/t-0";

pub fn config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        segment_index_bytes: 4096,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

pub fn writer(fs: &MemFs, config: LogConfig) -> PartitionLog {
    OpenOptions::new().fs(fs.clone()).open(DIR, config).unwrap()
}

pub fn try_reader(fs: &MemFs, config: LogConfig) -> seglog::Result<PartitionLog> {
    OpenOptions::new()
        .fs(fs.clone())
        .read_only(true)
        .open(DIR, config)
}

pub fn reader(fs: &MemFs, config: LogConfig) -> PartitionLog {
    try_reader(fs, config).unwrap()
}

/// Appends `n` one-record batches whose values name their offsets.
pub fn append(log: &PartitionLog, n: u64) {
    for _ in 0..n {
        let next = log.log_end_offset();
        log.append(&[Record::new(format!("value-{next}")).with_timestamp(next as i64)])
            .unwrap();
    }
}

/// The (offset, value) pairs `append` wrote at `offsets`.
pub fn values(offsets: std::ops::Range<u64>) -> Vec<(u64, String)> {
    offsets.map(|o| (o, format!("value-{o}"))).collect()
}

/// Every record's (offset, value) from the log start.
pub fn contents(log: &PartitionLog) -> Vec<(u64, String)> {
    log.iter(log.log_start_offset())
        .map(|r| {
            let r = r.unwrap();
            (r.offset, String::from_utf8(r.value.unwrap()).unwrap())
        })
        .collect()
}

/// Every file of the directory with its bytes.
pub fn snapshot(fs: &MemFs, dir: &str) -> BTreeMap<String, Vec<u8>> {
    fs.list_dir(Path::new(dir))
        .unwrap()
        .into_iter()
        .filter(|e| !e.is_dir)
        .map(|e| {
            let path = Path::new(dir).join(&e.name);
            let f = fs.open(&path, OpenMode::Read).unwrap();
            let mut bytes = vec![0; f.len().unwrap() as usize];
            f.read_exact_at(&mut bytes, 0).unwrap();
            (e.name, bytes)
        })
        .collect()
}

/// Byte positions of the batches of a `.log`, found from their length
/// fields.
pub fn batch_positions(fs: &MemFs, path: &Path) -> Vec<u64> {
    let bytes = fs.read(path).unwrap();
    let mut positions = Vec::new();
    let mut pos = 0;
    while pos + 12 <= bytes.len() {
        positions.push(pos as u64);
        let length = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
        pos += 12 + usize::try_from(length).unwrap();
    }
    positions
}

/// Overwrites bytes of a file in place.
pub fn overwrite(fs: &MemFs, path: &Path, at: u64, bytes: &[u8]) {
    let f = fs.open(path, OpenMode::Write).unwrap();
    f.write_all_at(bytes, at).unwrap();
}

/// Flips a byte just before `end`, the end of a batch: a byte of its last
/// record, so the batch's CRC no longer matches.
pub fn break_crc(fs: &MemFs, path: &Path, end: u64) {
    let byte = fs.read(path).unwrap()[end as usize - 1];
    overwrite(fs, path, end - 1, &[byte ^ 0xff]);
}

pub fn cut(fs: &MemFs, path: &Path, len: u64) {
    fs.open(path, OpenMode::Write)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// The one-record batch `append` writes at `offset`, on its own.
pub fn next_batch(offset: u64) -> Vec<u8> {
    BatchBuilder::new()
        .base_offset(offset)
        .build(&[Record::new(format!("value-{offset}")).with_timestamp(offset as i64)])
        .unwrap()
}

/// Position and reason of the `Error::Corrupt` naming `path` that
/// `result` must be.
pub fn corrupt_in<T: std::fmt::Debug>(result: seglog::Result<T>, path: &Path) -> (u64, String) {
    match result {
        Err(Error::Corrupt {
            path: p,
            position,
            reason,
        }) => {
            assert_eq!(p, path, "{reason}");
            (position, reason)
        }
        other => panic!("expected Corrupt in {}, got {other:?}", path.display()),
    }
}

//! Pieces shared by the benchmarks: the page-aligned buffer, the plain
//! `std::fs` sequential read that the read benchmarks compare against, and
//! the records they append.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A page-aligned buffer, allocated safely by over-allocating.
pub struct Aligned {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    pub fn new(len: usize) -> Self {
        let storage = vec![0u8; len + 4096];
        let start = storage.as_ptr().align_offset(4096);
        Aligned {
            storage,
            start,
            len,
        }
    }

    pub fn buf(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// The `.log` files of a partition directory, in offset order.
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

/// The baseline of the read benchmarks: every byte of `files` through
/// `File::read` into `buf`. Returns the bytes read.
pub fn read_files(files: &[PathBuf], buf: &mut Aligned) -> u64 {
    let mut sum = 0u64;
    for path in files {
        let mut f = File::open(path).unwrap();
        loop {
            let n = f.read(buf.buf()).unwrap();
            if n == 0 {
                break;
            }
            sum += n as u64;
        }
    }
    sum
}

/// `count` records of `value_len` bytes of varied content, with
/// increasing timestamps.
pub fn records(count: usize, value_len: usize) -> Vec<seglog::Record> {
    (0..count)
        .map(|i| {
            let mut v = vec![0u8; value_len];
            for (j, b) in v.iter_mut().enumerate() {
                *b = (i * 31 + j * 7) as u8;
            }
            seglog::Record::new(v).with_timestamp(1_700_000_000_000 + i as i64)
        })
        .collect()
}

/// A xorshift64 generator with a fixed seed: the same numbers every run,
/// with no dependency and next to no cost beside what is measured.
pub fn xorshift() -> impl FnMut() -> u64 {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// Polls `consumer` (owned records) until `n` records came back; returns
/// how many, and the bytes of their values.
pub fn poll_owned(consumer: &mut seglog::store::Consumer, n: usize) -> (usize, usize) {
    let (mut records, mut value_bytes) = (0usize, 0usize);
    while records < n {
        let polled = consumer.poll(std::time::Duration::from_secs(1)).unwrap();
        assert!(!polled.is_empty());
        records += polled.len();
        value_bytes += polled
            .iter()
            .map(|r| r.value.as_ref().map_or(0, Vec::len))
            .sum::<usize>();
    }
    (records, value_bytes)
}

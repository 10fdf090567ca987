//! Arbitrary `.index` and `.timeindex` bytes next to a valid (or fuzzed)
//! `.log`, read by the inspection functions and by a `PartitionLog` that
//! trusts the segment and loads its indexes lazily.
//!
//! Input layout:
//!
//! ```text
//! byte 0      flags: bit 0 = 0: the segment is closed (a second, empty
//!                               active segment follows it and the
//!                               checkpoint's recovery point is past it)
//!                            1: the segment is the active one, trusted
//!                               through a clean-shutdown marker
//!                    bit 1 = 0: built-in valid .log, 1: the .log is the
//!                               bytes after the two index parts
//! bytes 1..3  u16 BE length of the .index part
//! bytes 3..5  u16 BE length of the .timeindex part
//! then        .index bytes, .timeindex bytes, [.log bytes]
//! ```
//!
//! Lengths past the end of the input are cut to what is there.
#![no_main]

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::*;
use libfuzzer_sys::fuzz_target;
use seglog::io::MemFs;
use seglog::{BatchBuilder, Compression, Record, RecoveryMode};

/// A valid log of 24 batches at base offset 0, some multi-record, some
/// compressed, timestamps going up and down.
fn builtin_log() -> &'static [u8] {
    static LOG: OnceLock<Vec<u8>> = OnceLock::new();
    LOG.get_or_init(|| {
        let codecs = [Compression::None, Compression::Gzip, Compression::Lz4];
        let mut out = Vec::new();
        let mut offset = 0u64;
        for i in 0..24u64 {
            let n = 1 + (i % 3) as usize;
            let records: Vec<Record> = (0..n)
                .map(|j| {
                    let ts = 1_700_000_000_000 + (i as i64 * 10) - (j as i64 * 3)
                        + if i % 5 == 4 { -40 } else { 0 };
                    Record::new(vec![b'v'; 20 + (i as usize * 7) % 50])
                        .with_key(format!("k{i}-{j}"))
                        .with_timestamp(ts)
                })
                .collect();
            let batch = BatchBuilder::new()
                .base_offset(offset)
                .compression(codecs[(i % 3) as usize])
                .build(&records)
                .expect("builtin batch");
            out.extend_from_slice(&batch);
            offset += n as u64;
        }
        out
    })
}

fn u16_at(data: &[u8], at: usize) -> usize {
    match data.get(at..at + 2) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]) as usize,
        None => 0,
    }
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(data.len());
    let (head, rest) = data.split_at(n);
    *data = rest;
    head
}

fuzz_target!(|data: &[u8]| {
    let Some(&flags) = data.first() else { return };
    let active = flags & 1 != 0;
    let fuzzed_log = flags & 2 != 0;
    let index_len = u16_at(data, 1);
    let time_len = u16_at(data, 3);
    let mut rest = data.get(5..).unwrap_or(&[]);
    let index = take(&mut rest, index_len);
    let times = take(&mut rest, time_len);
    let log: &[u8] = if fuzzed_log { rest } else { builtin_log() };

    let facts = scan(log);
    // Name the segment after its first batch, as Kafka does (fixture
    // segments start at 50, 120, ...).
    let base = facts
        .first_base
        .filter(|&b| b <= i64::MAX as u64 / 2)
        .unwrap_or(0);
    let next = facts.next_offset.unwrap_or(base).max(base + 1);

    let fs: MemFs = new_fs();
    let dir = Path::new(DIR);
    let index_path = seg_path(base, "index");
    let time_path = seg_path(base, "timeindex");
    fs.write(&seg_path(base, "log"), log).unwrap();
    fs.write(&index_path, index).unwrap();
    fs.write(&time_path, times).unwrap();
    if active {
        let marker = clean_marker_text(base, log.len() as u64, &facts);
        fs.write(&dir.join("seglog.clean-shutdown"), marker.as_bytes())
            .unwrap();
        fs.write(
            &dir.join("seglog.checkpoint"),
            checkpoint_text(next, 0).as_bytes(),
        )
        .unwrap();
    } else {
        fs.write(&seg_path(next, "log"), b"").unwrap();
        fs.write(
            &dir.join("seglog.checkpoint"),
            checkpoint_text(next, 0).as_bytes(),
        )
        .unwrap();
    }

    // Read-only inspection first: it changes nothing.
    let offsets = seglog::inspect::read_offset_index(&fs, &index_path, base);
    let time_entries = seglog::inspect::read_time_index(&fs, &time_path, base);
    let _ = seglog::inspect::verify_partition_dir_with(&fs, dir);
    if let Ok(segments) = seglog::inspect::segments(&fs, dir) {
        for seg in &segments {
            let mut n = 0;
            let _ = seglog::inspect::for_each_batch(&fs, seg, |_, _| {
                n += 1;
                Ok(())
            });
        }
    }

    let mut timestamps: Vec<i64> = Vec::new();
    if let Ok(t) = &time_entries {
        timestamps.extend(t.iter().map(|e| e.timestamp));
    }
    for batch in seglog::record::batches(log).take(64) {
        let Ok(b) = batch else { break };
        timestamps.push(b.header().max_timestamp);
    }

    let Ok(plog) = open(&fs, RecoveryMode::Strict) else {
        return;
    };
    read_each(&plog);
    // Offsets named by the index itself, even bogus ones.
    if let Ok(entries) = &offsets {
        for e in entries.iter().take(64) {
            let _ = plog
                .read(e.offset, 1)
                .map(|f| f.records().take(MAX_RECORDS).count());
        }
    }
    lookup_times(&plog, &timestamps);
    let _ = plog.close();
});

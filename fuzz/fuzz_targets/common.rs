//! Helpers shared by the partition-directory targets.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use seglog::io::{Fs, MemFs};
use seglog::{LogConfig, ManualClock, OpenOptions, PartitionLog, RecoveryMode};

/// The partition directory every target uses.
pub const DIR: &str = "/p";

/// The fixed clock time (ms) so runs are repeatable.
pub const NOW_MS: i64 = 1_700_000_100_000;

/// Most records a target decodes from one log (compressed batches can hold
/// millions of tiny records; decoding them all only slows fuzzing down).
pub const MAX_RECORDS: usize = 20_000;

/// Most single-offset reads a target makes.
pub const MAX_READS: u64 = 256;

/// A small config: the active segment's indexes are preallocated to
/// `segment_index_bytes`, so the default 10 MiB would dominate every run.
pub fn config() -> LogConfig {
    LogConfig {
        segment_index_bytes: 1024,
        index_interval_bytes: 64,
        ..Default::default()
    }
}

/// What the valid prefix of a `.log` holds, as a clean close would record
/// it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogFacts {
    pub first_base: Option<u64>,
    pub next_offset: Option<u64>,
    /// Largest max_timestamp and the last offset of the first batch with it
    /// (Kafka's `TimestampOffset.UNKNOWN` is (-1, 0)).
    pub max_timestamp: (i64, u64),
    pub first_batch_timestamp: Option<i64>,
    pub batches: usize,
}

pub fn scan(log: &[u8]) -> LogFacts {
    let mut f = LogFacts {
        max_timestamp: (-1, 0),
        ..LogFacts::default()
    };
    for batch in seglog::record::batches(log) {
        let Ok(batch) = batch else { break };
        let h = batch.header();
        f.first_base.get_or_insert(h.base_offset);
        f.first_batch_timestamp.get_or_insert(h.max_timestamp);
        f.next_offset = Some(h.next_offset());
        if h.max_timestamp > f.max_timestamp.0 {
            f.max_timestamp = (h.max_timestamp, h.last_offset());
        }
        f.batches += 1;
    }
    f
}

pub fn seg_path(base: u64, suffix: &str) -> PathBuf {
    Path::new(DIR).join(format!("{base:020}.{suffix}"))
}

pub fn new_fs() -> MemFs {
    let fs = MemFs::new();
    fs.create_dir_all(Path::new(DIR)).expect("mkdir on MemFs");
    fs
}

/// `seglog.checkpoint` text.
pub fn checkpoint_text(recovery_point: u64, log_start_offset: u64) -> String {
    format!("0\n2\nrecovery-point {recovery_point}\nlog-start-offset {log_start_offset}\n")
}

/// `seglog.clean-shutdown` text for an active segment at `base` whose
/// `.log` is `size` bytes and holds what `facts` says.
pub fn clean_marker_text(base: u64, size: u64, facts: &LogFacts) -> String {
    let next = facts.next_offset.unwrap_or(base);
    let max_offset = facts.max_timestamp.1;
    let first = facts
        .first_batch_timestamp
        .map_or_else(|| "none".to_string(), |t| t.to_string());
    format!(
        "0\n6\nactive-base-offset {base}\nactive-size {size}\nnext-offset {next}\n\
         max-timestamp {}\nmax-timestamp-offset {}\nfirst-batch-timestamp {first}\n",
        facts.max_timestamp.0, max_offset
    )
}

pub fn open(fs: &MemFs, mode: RecoveryMode) -> seglog::Result<PartitionLog> {
    OpenOptions::new()
        .fs(fs.clone())
        .clock(ManualClock::new(NOW_MS))
        .recovery_mode(mode)
        .create(false)
        .open(DIR, config())
}

/// Reads the log from its start to its end, record by record, at most
/// [`MAX_RECORDS`]. Returns how many records were read.
pub fn iterate(log: &PartitionLog) -> usize {
    let mut n = 0;
    for r in log.iter(log.log_start_offset()) {
        if r.is_err() {
            break;
        }
        n += 1;
        if n >= MAX_RECORDS {
            break;
        }
    }
    n
}

/// Offsets to probe with single-offset reads: every one when there are
/// few, else an even spread plus the edges.
pub fn probe_offsets(start: u64, end: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let span = end.saturating_sub(start);
    if span <= MAX_READS {
        out.extend(start..=end);
    } else {
        let step = span / MAX_READS;
        let mut o = start;
        while o < end && out.len() < MAX_READS as usize {
            out.push(o);
            o = o.saturating_add(step);
        }
        out.extend([end.saturating_sub(1), end]);
    }
    if end < u64::MAX {
        out.push(end + 1);
    }
    if start > 0 {
        out.push(start - 1);
    }
    out
}

/// Reads every probe offset with a 1-byte budget and decodes what comes
/// back; and as point reads: `read_record` twice (the second from what
/// the first remembered of a sealed segment) and a kept reader's
/// `record_at`, which must agree whenever they return a record.
pub fn read_each(log: &PartitionLog) {
    let start = log.log_start_offset();
    let end = log.log_end_offset();
    let mut decoded = 0usize;
    let mut reader = log.reader(start);
    for o in probe_offsets(start, end) {
        let first = log.read_record(o);
        let again = log.read_record(o);
        if let (Ok(Some(a)), Ok(Some(b))) = (&first, &again) {
            assert_eq!(a, b, "two point reads of offset {o} differ");
        }
        if let (Ok(Some(a)), Ok(Some(view))) = (&first, reader.record_at(o)) {
            assert_eq!(
                *a,
                view.to_owned(),
                "record_at({o}) differs from read_record"
            );
        }
        let Ok(fetch) = log.read(o, 1) else { continue };
        let _ = (fetch.next_offset(), fetch.len_bytes(), fetch.is_empty());
        for r in fetch.records() {
            if r.is_err() {
                break;
            }
            decoded += 1;
            if decoded >= MAX_RECORDS {
                return;
            }
        }
    }
}

/// Asks for the offset of a range of timestamps.
pub fn lookup_times(log: &PartitionLog, extra: &[i64]) {
    let mut ts = vec![i64::MIN, -1, 0, 1, NOW_MS, i64::MAX];
    for &t in extra.iter().take(64) {
        ts.extend([t.saturating_sub(1), t, t.saturating_add(1)]);
    }
    for t in ts {
        let _ = log.offset_for_timestamp(t);
    }
}

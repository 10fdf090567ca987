//! Inputs found by the fuzz targets in `fuzz/` (see `fuzz/README.md`),
//! replayed with the exact bytes the target wrote. Each one failed before
//! its fix.

use std::path::Path;

use seglog::io::{Fs, MemFs};
use seglog::{LogConfig, ManualClock, OpenOptions, PartitionLog, Record, RecoveryMode};

const DIR: &str = "/p";
/// The fuzz targets' fixed clock.
const NOW_MS: i64 = 1_700_000_100_000;

/// A MemFs holding the partition directory `/p` with `files` in it.
fn fs_with(files: &[(&str, &[u8])]) -> MemFs {
    let fs = MemFs::new();
    fs.create_dir_all(Path::new(DIR)).unwrap();
    for (name, bytes) in files {
        fs.write(&Path::new(DIR).join(name), bytes).unwrap();
    }
    fs
}

/// The config the fuzz targets use.
fn config() -> LogConfig {
    LogConfig {
        segment_index_bytes: 1024,
        index_interval_bytes: 64,
        ..LogConfig::default()
    }
}

fn open(fs: &MemFs, mode: RecoveryMode) -> seglog::Result<PartitionLog> {
    OpenOptions::new()
        .fs(fs.clone())
        .clock(ManualClock::new(NOW_MS))
        .recovery_mode(mode)
        .create(false)
        .open(DIR, config())
}

/// `(offset, value)` of every record the log returns from its start,
/// stopping at the first error.
fn contents(log: &PartitionLog) -> Vec<(u64, Option<Vec<u8>>)> {
    log.iter(log.log_start_offset())
        .map_while(Result::ok)
        .map(|r| (r.offset, r.value))
        .collect()
}

/// `segment_open` input `65 61 6f 75 75`: two segments (flags bit 0) and a
/// checkpoint (bit 2); knobs 0x61: recovery point = the second segment's
/// base, log start 0, truncate at 6/16 of the log (offset 0).
///
/// Segment 0 is one garbage byte (`u`), segment 1 is empty, and the
/// checkpoint puts the recovery point at 1, so the open trusts segment 0
/// without reading it. `truncate_to(0)` stores the new end offset (0)
/// first, then fails loading segment 0's index (`Segment::rebuild_indexes`
/// -> `Error::Corrupt`, reached from `truncate_locked`,
/// src/log/truncate.rs, `holder.with_indexes(..)?`). The log is neither
/// restored nor poisoned: the next append gets offset 0, which is below
/// the active segment's base, so it rolls a *new* segment 0 (replacing the
/// damaged file) in front of segment 1, which still holds the truncated
/// record at offset 1. `close()` succeeds; the reopen finds the marker
/// does not match the last segment, recovers, and the end offset goes
/// from 1 to 2 with the truncated record back.
#[test]
fn failed_truncate_leaves_log_half_truncated() {
    let fs = fs_with(&[
        ("00000000000000000000.log", &[0x75]),
        ("00000000000000000001.log", &[]),
        (
            "seglog.checkpoint",
            b"0\n2\nrecovery-point 1\nlog-start-offset 0\n",
        ),
    ]);
    let log = open(&fs, RecoveryMode::Strict).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 1));
    let info = log
        .append(&[Record::new("fuzz").with_key("k").with_timestamp(NOW_MS)])
        .unwrap();
    assert_eq!(info.first_offset, 1);
    // Segment 0 is damaged, so truncating into it fails. That is fine, but
    // it must leave a consistent log (or a poisoned one).
    assert!(log.truncate_to(0).is_err());
    let _ = log.append(&[Record::new("again").with_timestamp(NOW_MS + 1)]);
    let start = log.log_start_offset();
    let end = log.log_end_offset();
    let before = contents(&log);
    let poisoned = log.is_poisoned();
    let closed = log.close();
    drop(log);
    if closed.is_err() || poisoned {
        return;
    }
    let log = open(&fs, RecoveryMode::Strict).expect("reopen after a clean close");
    assert_eq!(log.log_end_offset(), end, "end offset changed across close");
    assert_eq!(
        log.log_start_offset(),
        start,
        "start offset changed across close"
    );
    assert_eq!(contents(&log), before, "records changed across close");
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `index_read` input (127 bytes): flags 0x03 (the segment is the active
/// one, trusted through a clean-shutdown marker; the `.log` is fuzzed),
/// empty `.index` and `.timeindex`, then a `.log` of two record-less
/// batches: base offset 1 (max timestamp 100), then base offset 0 (max
/// timestamp 200). CRCs are not valid; nothing reads them before the
/// panic.
///
/// The target names the segment after its first batch (1) and writes the
/// marker a clean close would write for those batches: the largest
/// timestamp (200) is at offset 0, below the segment's base offset. The
/// open trusts the marker (`load_clean` checks only the index files), and
/// `close()` seals the active segment: `ActiveSegment::seal_inner`
/// (src/segment/active.rs) adds the final time-index entry `(200, 0)`
/// and `push_time_entry` (src/segment/index.rs) computes `0 - 1`:
/// "attempt to subtract with overflow" with overflow checks on; with them
/// off the entry's relative offset wraps to 0xFFFFFFFF. The marker's
/// offsets (`max-timestamp-offset`, `next-offset`) are never checked
/// against `active-base-offset`.
const CLEAN_MARKER_BELOW_BASE_INPUT: &str = "
    0300000000
    0000000000000001 00000031 00000000 02 00000000 0000 00000000
    0000000000000000 0000000000000064 ffffffffffffffff ffff ffffffff 00000000
    0000000000000000 00000031 00000000 02 00000000 0000 00000000
    0000000000000000 00000000000000c8 ffffffffffffffff ffff ffffffff 00000000";

#[test]
fn clean_marker_offset_below_base_panics_on_close() {
    let input = hex(CLEAN_MARKER_BELOW_BASE_INPUT);
    assert_eq!(input.len(), 127);
    let log_bytes = &input[5..];
    let fs = fs_with(&[
        ("00000000000000000001.log", log_bytes),
        ("00000000000000000001.index", b""),
        ("00000000000000000001.timeindex", b""),
        (
            "seglog.clean-shutdown",
            b"0\n6\nactive-base-offset 1\nactive-size 122\nnext-offset 1\n\
              max-timestamp 200\nmax-timestamp-offset 0\nfirst-batch-timestamp 100\n",
        ),
        (
            "seglog.checkpoint",
            b"0\n2\nrecovery-point 2\nlog-start-offset 0\n",
        ),
    ]);
    // Errors are fine (the marker is inconsistent); a panic is not.
    if let Ok(log) = open(&fs, RecoveryMode::Strict) {
        let _ = log.close();
    }
}

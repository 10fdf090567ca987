//! Arbitrary bytes as one or two `.log` segments of a partition directory,
//! with or without a clean-shutdown marker and a checkpoint, opened in both
//! recovery modes; a log that opens is read to the end and at single
//! offsets (fetches and point reads), appended to, truncated, closed and
//! reopened.
//!
//! Input layout:
//!
//! ```text
//! byte 0      flags: bit 0: two segments
//!                    bit 1: a clean-shutdown marker describing the last
//!                           segment's valid prefix (and its full size)
//!                    bit 2: a seglog.checkpoint (values from byte 1)
//!                    bits 3-4: the second segment's name ends in .log,
//!                           .log.swap, .log.deleted or .log.cleaned
//! byte 1      bits 0-1: recovery point: 0, second base, end, end + 1000
//!             bits 2-3: log start offset: 0, first base + 1, end, u64::MAX
//!             bits 4-7: where to truncate, in sixteenths of the log
//! bytes 2..4  u16 BE length of the first segment (two segments only)
//! then        the segment bytes
//! ```
#![no_main]

mod common;

use std::path::Path;

use common::*;
use libfuzzer_sys::fuzz_target;
use seglog::io::MemFs;
use seglog::{Record, RecoveryMode};

struct Input<'a> {
    flags: u8,
    knobs: u8,
    first: &'a [u8],
    second: Option<&'a [u8]>,
}

fn parse(data: &[u8]) -> Option<Input<'_>> {
    let (&flags, rest) = data.split_first()?;
    let (&knobs, rest) = rest.split_first()?;
    if flags & 1 == 0 {
        return Some(Input {
            flags,
            knobs,
            first: rest,
            second: None,
        });
    }
    let len = rest
        .get(..2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]) as usize);
    let rest = rest.get(2..).unwrap_or(&[]);
    let (first, second) = rest.split_at(len.min(rest.len()));
    Some(Input {
        flags,
        knobs,
        first,
        second: Some(second),
    })
}

/// Lays the input out as a partition directory on a fresh MemFs.
fn build(input: &Input<'_>) -> MemFs {
    let fs = new_fs();
    let dir = Path::new(DIR);
    let f1 = scan(input.first);
    let base1 = f1
        .first_base
        .filter(|&b| b <= i64::MAX as u64 / 2)
        .unwrap_or(0);
    fs.write(&seg_path(base1, "log"), input.first).unwrap();
    let mut last = (base1, input.first, f1);
    let mut base2 = None;
    if let Some(second) = input.second {
        let f2 = scan(second);
        let named = f2
            .first_base
            .or(f1.next_offset)
            .filter(|&b| b <= i64::MAX as u64 / 2)
            .unwrap_or(base1 + 1)
            .max(base1 + 1);
        let suffix =
            ["log", "log.swap", "log.deleted", "log.cleaned"][(input.flags >> 3 & 3) as usize];
        fs.write(&seg_path(named, suffix), second).unwrap();
        base2 = Some(named);
        if suffix == "log" {
            last = (named, second, f2);
        }
    }
    let (last_base, last_bytes, last_facts) = last;
    let end = last_facts.next_offset.unwrap_or(last_base);
    if input.flags & 2 != 0 {
        let marker = clean_marker_text(last_base, last_bytes.len() as u64, &last_facts);
        fs.write(&dir.join("seglog.clean-shutdown"), marker.as_bytes())
            .unwrap();
    }
    if input.flags & 4 != 0 {
        let recovery_point = match input.knobs & 3 {
            0 => 0,
            1 => base2.unwrap_or(base1),
            2 => end,
            _ => end.saturating_add(1000),
        };
        let log_start = match input.knobs >> 2 & 3 {
            0 => 0,
            1 => base1 + 1,
            2 => end,
            _ => u64::MAX,
        };
        fs.write(
            &dir.join("seglog.checkpoint"),
            checkpoint_text(recovery_point, log_start).as_bytes(),
        )
        .unwrap();
    }
    fs
}

fn exercise(fs: &MemFs, mode: RecoveryMode, knobs: u8) {
    let Ok(log) = open(fs, mode) else { return };
    let _ = (log.segments(), log.size_bytes(), log.recovery_report());
    iterate(&log);
    read_each(&log);
    let _ = log.offset_for_timestamp(0);
    let _ = log.append(&[Record::new("fuzz").with_key("k").with_timestamp(NOW_MS)]);
    iterate(&log);
    let start = log.log_start_offset();
    let end = log.log_end_offset();
    let sixteenths = u64::from(knobs >> 4);
    let target = start.saturating_add(
        u64::try_from(u128::from(end.saturating_sub(start)) * u128::from(sixteenths) / 16)
            .unwrap_or(u64::MAX),
    );
    let _ = log.truncate_to(target);
    let _ = log.append(&[Record::new("again").with_timestamp(NOW_MS + 1)]);
    let start = log.log_start_offset();
    let end = log.log_end_offset();
    let poisoned = log.is_poisoned();
    let closed = log.close();
    drop(log);
    if closed.is_err() || poisoned {
        return;
    }
    // A log that closed cleanly must come back as it was.
    let log = match open(fs, RecoveryMode::Strict) {
        Ok(log) => log,
        Err(e) => panic!("reopen after a clean close failed: {e}"),
    };
    assert_eq!(log.log_end_offset(), end, "end offset changed across close");
    assert_eq!(
        log.log_start_offset(),
        start,
        "start offset changed across close"
    );
    iterate(&log);
    let _ = log.close();
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = parse(data) else { return };
    for mode in [RecoveryMode::Strict, RecoveryMode::TruncateCorrupt] {
        let fs = build(&input);
        exercise(&fs, mode, input.knobs);
    }
});

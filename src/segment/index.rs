//! The sparse `.index` and `.timeindex` formats, lookups, and the rule for
//! when entries are added.
//!
//! `.index` entries are 8 bytes: relative offset (u32 BE) and file position
//! (u32 BE). An entry `(o, p)` says "the batch starting at byte `p` ends at
//! offset `base + o`". `.timeindex` entries are 12 bytes: timestamp (i64
//! BE) and relative offset (u32 BE); `(t, o)` says "the largest timestamp
//! in the segment up to the batch ending at `base + o` is `t`". Neither file
//! has a header or a count: the number of entries is the file length
//! divided by the entry size, which is why a closed segment's index files
//! are trimmed to their entries.
//!
//! Entries are kept as their raw big-endian bytes in memory (a `Vec` while
//! the segment is active, a read-only map once it is closed), and every
//! lookup is a binary search over those bytes.

use std::path::Path;

use crate::error::{Error, Result};

/// Size of an offset-index entry.
pub(crate) const OFFSET_ENTRY_LEN: usize = 8;
/// Size of a time-index entry.
pub(crate) const TIME_ENTRY_LEN: usize = 12;

/// How many of the entries `0..n` satisfy `pred`, which must hold for a
/// prefix of them and not after (a binary search over index entries).
fn partition_point(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Fails unless `bytes` is a whole number of `entry_len`-byte entries.
pub(crate) fn check_whole_entries(
    path: &Path,
    bytes: &[u8],
    entry_len: usize,
    what: &str,
) -> Result<()> {
    if bytes.len().is_multiple_of(entry_len) {
        Ok(())
    } else {
        Err(Error::corrupt(
            path,
            0,
            format!(
                "{what} length {} is not a multiple of {entry_len}",
                bytes.len()
            ),
        ))
    }
}

/// An offset-index entry with its absolute offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OffsetPosition {
    /// The last offset of the batch at `position`.
    pub offset: u64,
    /// Byte position of that batch in the `.log` file.
    pub position: u32,
}

/// A time-index entry with its absolute offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimestampOffset {
    /// The largest timestamp seen up to `offset`.
    pub timestamp: i64,
    /// The last offset of the first batch that carried `timestamp`.
    pub offset: u64,
}

impl TimestampOffset {
    /// "No timestamp yet" (Kafka's `TimestampOffset.UNKNOWN`).
    pub(crate) const UNKNOWN: TimestampOffset = TimestampOffset {
        timestamp: -1,
        offset: 0,
    };
}

#[inline]
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Offset-index entries over raw bytes (a whole number of entries).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OffsetEntries<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) base: u64,
}

impl<'a> OffsetEntries<'a> {
    pub(crate) fn new(bytes: &'a [u8], base: u64) -> Self {
        let whole = bytes.len() - bytes.len() % OFFSET_ENTRY_LEN;
        OffsetEntries {
            bytes: &bytes[..whole],
            base,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes.len() / OFFSET_ENTRY_LEN
    }

    /// Entry `i` as (relative offset, position).
    pub(crate) fn raw(&self, i: usize) -> (u32, u32) {
        let at = i * OFFSET_ENTRY_LEN;
        (u32_at(self.bytes, at), u32_at(self.bytes, at + 4))
    }

    pub(crate) fn get(&self, i: usize) -> OffsetPosition {
        let (rel, position) = self.raw(i);
        OffsetPosition {
            offset: self.base + u64::from(rel),
            position,
        }
    }

    pub(crate) fn last(&self) -> Option<OffsetPosition> {
        self.len().checked_sub(1).map(|i| self.get(i))
    }

    /// The entry with the largest offset `<= offset`, or `None` if every
    /// entry is above it (Kafka then starts at the segment's first byte).
    pub(crate) fn floor(&self, offset: u64) -> Option<OffsetPosition> {
        let target = offset.checked_sub(self.base)?;
        let below = partition_point(self.len(), |i| u64::from(self.raw(i).0) <= target);
        below.checked_sub(1).map(|i| self.get(i))
    }

    /// The entry with the smallest offset `>= offset`.
    pub(crate) fn ceiling(&self, offset: u64) -> Option<OffsetPosition> {
        let target = offset.saturating_sub(self.base);
        let i = partition_point(self.len(), |i| u64::from(self.raw(i).0) < target);
        (i < self.len()).then(|| self.get(i))
    }

    /// The entry with the largest position `<= position`.
    pub(crate) fn floor_by_position(&self, position: u64) -> Option<OffsetPosition> {
        let below = partition_point(self.len(), |i| u64::from(self.raw(i).1) <= position);
        below.checked_sub(1).map(|i| self.get(i))
    }

    /// How many leading entries have an offset below `offset` (what
    /// truncating the index to `offset` keeps).
    pub(crate) fn count_below(&self, offset: u64) -> usize {
        let Some(target) = offset.checked_sub(self.base) else {
            return 0;
        };
        partition_point(self.len(), |i| u64::from(self.raw(i).0) < target)
    }
}

/// Time-index entries over raw bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeEntries<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) base: u64,
}

impl<'a> TimeEntries<'a> {
    pub(crate) fn new(bytes: &'a [u8], base: u64) -> Self {
        let whole = bytes.len() - bytes.len() % TIME_ENTRY_LEN;
        TimeEntries {
            bytes: &bytes[..whole],
            base,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes.len() / TIME_ENTRY_LEN
    }

    pub(crate) fn raw(&self, i: usize) -> (i64, u32) {
        let at = i * TIME_ENTRY_LEN;
        (i64_at(self.bytes, at), u32_at(self.bytes, at + 8))
    }

    pub(crate) fn get(&self, i: usize) -> TimestampOffset {
        let (timestamp, rel) = self.raw(i);
        TimestampOffset {
            timestamp,
            offset: self.base + u64::from(rel),
        }
    }

    pub(crate) fn last(&self) -> Option<TimestampOffset> {
        self.len().checked_sub(1).map(|i| self.get(i))
    }

    /// The entry with the largest timestamp `<= timestamp`.
    pub(crate) fn floor(&self, timestamp: i64) -> Option<TimestampOffset> {
        let below = partition_point(self.len(), |i| self.raw(i).0 <= timestamp);
        below.checked_sub(1).map(|i| self.get(i))
    }

    /// How many leading entries have an offset below `offset`.
    pub(crate) fn count_below(&self, offset: u64) -> usize {
        let Some(target) = offset.checked_sub(self.base) else {
            return 0;
        };
        partition_point(self.len(), |i| u64::from(self.raw(i).1) < target)
    }
}

/// `offset - base` as an index entry's relative offset. Every caller
/// passes an offset of the segment (batches are checked against the
/// segment's base and the 32-bit span when they are appended or read back),
/// so the fallback is never taken; it keeps a broken invariant from
/// panicking.
fn relative(offset: u64, base: u64) -> u32 {
    debug_assert!(offset >= base && offset - base <= u64::from(u32::MAX));
    u32::try_from(offset.saturating_sub(base)).unwrap_or(u32::MAX)
}

pub(crate) fn push_offset_entry(out: &mut Vec<u8>, base: u64, e: OffsetPosition) {
    out.extend_from_slice(&relative(e.offset, base).to_be_bytes());
    out.extend_from_slice(&e.position.to_be_bytes());
}

pub(crate) fn push_time_entry(out: &mut Vec<u8>, base: u64, e: TimestampOffset) {
    out.extend_from_slice(&e.timestamp.to_be_bytes());
    out.extend_from_slice(&relative(e.offset, base).to_be_bytes());
}

/// The running state behind Kafka's index-entry rule, shared by the append
/// path and recovery so both produce the same entries.
///
/// Before a batch that starts more than `interval` bytes after the last
/// entry's batch (or after the segment start), an offset entry
/// `(batch last offset, batch position)` is added, together with a time
/// entry `(max timestamp so far, offset of it)` when that maximum grew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexCursor {
    interval: u64,
    last_entry_position: u64,
    max: TimestampOffset,
}

/// The entries one batch adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct NewEntries {
    pub(crate) offset: Option<OffsetPosition>,
    pub(crate) time: Option<TimestampOffset>,
}

impl IndexCursor {
    pub(crate) fn new(interval: u32) -> Self {
        IndexCursor {
            interval: u64::from(interval),
            last_entry_position: 0,
            max: TimestampOffset::UNKNOWN,
        }
    }

    /// A cursor resumed after existing entries: `last_entry_position` is
    /// the last offset entry's position (0 without one) and `max` the
    /// segment's largest timestamp so far.
    pub(crate) fn resume(interval: u32, last_entry_position: u64, max: TimestampOffset) -> Self {
        IndexCursor {
            interval: u64::from(interval),
            last_entry_position,
            max,
        }
    }

    pub(crate) fn max_timestamp(&self) -> TimestampOffset {
        self.max
    }

    /// Accounts for the batch at `position` ending at `last_offset` with
    /// `max_timestamp`; `last_time_entry` is the time index's last
    /// timestamp (entries only grow).
    pub(crate) fn on_batch(
        &mut self,
        position: u64,
        last_offset: u64,
        max_timestamp: i64,
        last_time_entry: Option<i64>,
    ) -> NewEntries {
        if max_timestamp > self.max.timestamp {
            self.max = TimestampOffset {
                timestamp: max_timestamp,
                offset: last_offset,
            };
        }
        if position.saturating_sub(self.last_entry_position) <= self.interval || position == 0 {
            return NewEntries::default();
        }
        self.last_entry_position = position;
        NewEntries {
            offset: Some(OffsetPosition {
                offset: last_offset,
                position: position as u32,
            }),
            time: self.time_entry_after(last_time_entry),
        }
    }

    /// The time entry to append now if the maximum grew past the last one
    /// (also used for the final entry when a segment is closed).
    pub(crate) fn time_entry_after(&self, last_time_entry: Option<i64>) -> Option<TimestampOffset> {
        let grew = match last_time_entry {
            None => self.max.timestamp >= 0,
            Some(last) => self.max.timestamp > last,
        };
        grew.then_some(self.max)
    }
}

/// Why an index file cannot be trusted.
pub(crate) fn index_corrupt(path: &Path, entry: usize, entry_len: usize, reason: String) -> Error {
    Error::corrupt(path, (entry * entry_len) as u64, reason)
}

/// Checks the offset index of a closed segment: whole entries, strictly
/// increasing offsets and positions, positions inside the log, no
/// zero-filled preallocated tail.
pub(crate) fn check_offset_index(
    path: &Path,
    bytes: &[u8],
    base: u64,
    log_size: u64,
) -> Result<()> {
    check_whole_entries(path, bytes, OFFSET_ENTRY_LEN, "index")?;
    let entries = OffsetEntries::new(bytes, base);
    let mut prev: Option<(u32, u32)> = None;
    for i in 0..entries.len() {
        let (rel, pos) = entries.raw(i);
        if i > 0 && rel == 0 && pos == 0 && (i..entries.len()).all(|j| entries.raw(j) == (0, 0)) {
            return Err(index_corrupt(
                path,
                i,
                OFFSET_ENTRY_LEN,
                format!(
                    "{} trailing zero-filled (preallocated) entries after entry {}; a closed segment's index must be trimmed",
                    entries.len() - i,
                    i - 1
                ),
            ));
        }
        if let Some((prel, ppos)) = prev {
            if rel <= prel || pos <= ppos {
                return Err(index_corrupt(
                    path,
                    i,
                    OFFSET_ENTRY_LEN,
                    format!(
                        "entry {i} ({rel}, {pos}) does not increase on entry {} ({prel}, {ppos})",
                        i - 1
                    ),
                ));
            }
        }
        if u64::from(pos) >= log_size {
            return Err(index_corrupt(
                path,
                i,
                OFFSET_ENTRY_LEN,
                format!(
                    "entry {i} points at byte {pos}, past the end of the log ({log_size} bytes)"
                ),
            ));
        }
        prev = Some((rel, pos));
    }
    Ok(())
}

/// Checks the time index of a closed segment: whole entries, timestamps
/// and offsets never decreasing, no zero-filled tail.
pub(crate) fn check_time_index(path: &Path, bytes: &[u8], base: u64) -> Result<()> {
    check_whole_entries(path, bytes, TIME_ENTRY_LEN, "time index")?;
    let entries = TimeEntries::new(bytes, base);
    for i in 1..entries.len() {
        let (ts, rel) = entries.raw(i);
        let (pts, prel) = entries.raw(i - 1);
        if ts == 0 && rel == 0 && (i..entries.len()).all(|j| entries.raw(j) == (0, 0)) {
            return Err(index_corrupt(
                path,
                i,
                TIME_ENTRY_LEN,
                format!(
                    "{} trailing zero-filled (preallocated) entries after entry {}; a closed segment's time index must be trimmed",
                    entries.len() - i,
                    i - 1
                ),
            ));
        }
        if ts < pts {
            return Err(index_corrupt(
                path,
                i,
                TIME_ENTRY_LEN,
                format!(
                    "timestamps decrease: entry {i} has {ts}, entry {} has {pts}",
                    i - 1
                ),
            ));
        }
        if rel < prel {
            return Err(index_corrupt(
                path,
                i,
                TIME_ENTRY_LEN,
                format!(
                    "offsets decrease: entry {i} has relative offset {rel}, entry {} has {prel}",
                    i - 1
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(base: u64, entries: &[(u64, u32)]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(offset, position) in entries {
            push_offset_entry(&mut out, base, OffsetPosition { offset, position });
        }
        out
    }

    fn times(base: u64, entries: &[(i64, u64)]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(timestamp, offset) in entries {
            push_time_entry(&mut out, base, TimestampOffset { timestamp, offset });
        }
        out
    }

    #[test]
    fn reference_example_bytes() {
        assert_eq!(offsets(100, &[(150, 4096)]), [0, 0, 0, 0x32, 0, 0, 0x10, 0]);
        assert_eq!(
            times(100, &[(1_700_000_000_005, 150)]),
            [0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, 0, 0, 0, 0x32]
        );
    }

    #[test]
    fn offset_lookups_match_kafka() {
        let empty = OffsetEntries::new(&[], 0);
        assert_eq!(empty.floor(5), None);
        let bytes = offsets(0, &(1..10).map(|i| (i, i as u32 * 10)).collect::<Vec<_>>());
        let idx = OffsetEntries::new(&bytes, 0);
        assert_eq!(idx.floor(0), None);
        for o in 1..10 {
            assert_eq!(idx.floor(o).unwrap().offset, o);
        }
        assert_eq!(idx.floor(100).unwrap().offset, 9);
        assert_eq!(idx.ceiling(0).unwrap().offset, 1);
        assert_eq!(idx.ceiling(5).unwrap().offset, 5);
        assert_eq!(idx.ceiling(9).unwrap().offset, 9);
        assert_eq!(idx.ceiling(10), None);
        assert_eq!(idx.floor_by_position(35).unwrap().position, 30);
        assert_eq!(idx.floor_by_position(5), None);
        // Truncation keeps entries strictly below the offset.
        assert_eq!(idx.count_below(12), 9);
        assert_eq!(idx.count_below(10), 9);
        assert_eq!(idx.count_below(9), 8);
        assert_eq!(idx.count_below(5), 4);
        assert_eq!(idx.count_below(0), 0);
    }

    #[test]
    fn time_lookups_match_kafka() {
        // Base 45, entries (10,55), (20,65), (30,75).
        let bytes = times(45, &[(10, 55), (20, 65), (30, 75)]);
        let idx = TimeEntries::new(&bytes, 45);
        assert_eq!(idx.floor(9), None);
        assert_eq!(
            idx.floor(25).unwrap(),
            TimestampOffset {
                timestamp: 20,
                offset: 65
            }
        );
        assert_eq!(
            idx.floor(30).unwrap(),
            TimestampOffset {
                timestamp: 30,
                offset: 75
            }
        );
        assert_eq!(idx.last().unwrap().offset, 75);
    }

    #[test]
    fn cursor_follows_the_interval_rule() {
        // interval 100, batches of 60 bytes: entries before batches starting
        // more than 100 bytes after the previous entry.
        let mut c = IndexCursor::new(100);
        let mut entries = Vec::new();
        let mut last_ts = None;
        for i in 0..6u64 {
            let e = c.on_batch(i * 60, i, 1000 + i as i64, last_ts);
            if let Some(t) = e.time {
                last_ts = Some(t.timestamp);
            }
            entries.push((e.offset.map(|o| o.position), e.time.map(|t| t.timestamp)));
        }
        assert_eq!(
            entries,
            vec![
                (None, None),
                (None, None),
                (Some(120), Some(1002)),
                (None, None),
                (Some(240), Some(1004)),
                (None, None)
            ]
        );
        // The final entry records the last maximum.
        assert_eq!(c.time_entry_after(last_ts).unwrap().timestamp, 1005);
        assert_eq!(c.time_entry_after(Some(1005)), None);
    }

    #[test]
    fn interval_zero_indexes_every_batch_but_the_first() {
        let mut c = IndexCursor::new(0);
        assert_eq!(c.on_batch(0, 0, 1, None).offset, None);
        assert!(c.on_batch(10, 1, 1, Some(1)).offset.is_some());
        assert!(c.on_batch(20, 2, 1, Some(1)).offset.is_some());
    }

    #[test]
    fn sanity_checks_name_the_problem() {
        let p = Path::new("x.index");
        check_offset_index(p, &offsets(0, &[(9, 100), (19, 200)]), 0, 300).unwrap();
        let mut padded = offsets(0, &[(9, 100)]);
        padded.extend([0u8; 32]);
        let e = check_offset_index(p, &padded, 0, 300)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("trailing zero-filled (preallocated) entries"),
            "{e}"
        );
        let e = check_offset_index(p, &offsets(0, &[(9, 100), (5, 200)]), 0, 300).unwrap_err();
        assert!(matches!(e, Error::Corrupt { position: 8, .. }), "{e}");
        let e = check_offset_index(p, &offsets(0, &[(9, 400)]), 0, 300).unwrap_err();
        assert!(e.to_string().contains("past the end of the log"));
        assert!(check_offset_index(p, &[0; 7], 0, 300).is_err());
        // A single entry at the base offset is fine.
        check_offset_index(p, &offsets(0, &[(0, 100)]), 0, 300).unwrap();

        let t = Path::new("x.timeindex");
        check_time_index(t, &times(0, &[(10, 1), (20, 2)]), 0).unwrap();
        let e = check_time_index(t, &times(0, &[(20, 1), (10, 2)]), 0).unwrap_err();
        assert!(e.to_string().contains("timestamps decrease"), "{e}");
        assert!(check_time_index(t, &[0; 13], 0).is_err());
    }
}

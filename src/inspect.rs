//! Read-only inspection of a partition directory, for tools.
//!
//! Nothing here takes the directory lock or changes a file, so it is safe
//! on a copy, on a read-only mount, or on Kafka's own data. It lists the
//! segments, walks their batches, reads index entries, and
//! [`verify_partition_dir`] checks everything Kafka's `DumpLogSegments`
//! checks and more:
//!
//! * every batch: a sane header, whole, its CRC, every record decoding,
//!   record offsets inside the batch and increasing, and (for create-time
//!   batches with records) a header max timestamp equal to the largest
//!   record timestamp;
//! * offsets strictly increasing across batches and segments, and never
//!   below the segment's base offset. They need not be contiguous, in any
//!   log: a compaction leaves gaps between batches and segments, before a
//!   segment's first batch, and inside batches (a batch's last offset
//!   stays where it was when its last records go), and may keep batches
//!   without records, so a gap is not damage (Kafka's `DumpLogSegments`
//!   lists the gaps it sees with `--deep-iteration`, as information);
//! * every offset-index entry pointing at the start of a batch whose last
//!   offset it names; every time-index entry naming a batch's last offset
//!   and that batch's max timestamp, timestamps never decreasing; closed
//!   segments' indexes trimmed (no zero-filled preallocated tail) and their
//!   time index ending with the segment's largest timestamp.
//!
//! The first problem found is returned as [`Error::Corrupt`] with the file
//! and the byte position in it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::{self as fsio, Fs, IoContext, OpenMode, StdFs};
use crate::record::{RecordBatch, TimestampType};
use crate::segment::{
    check_whole_entries, parse_file_name, FileKind, OffsetEntries, Scanner, TimeEntries,
    OFFSET_ENTRY_LEN, TIME_ENTRY_LEN,
};
/// The entries of the index files, as [`read_offset_index`] and
/// [`read_time_index`] return them.
pub use crate::segment::{OffsetPosition, TimestampOffset};

/// The files of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFiles {
    /// The segment's base offset (its file name).
    pub base_offset: u64,
    /// The `.log` file.
    pub log: PathBuf,
    /// The `.index` file (it may not exist).
    pub index: PathBuf,
    /// The `.timeindex` file (it may not exist).
    pub time_index: PathBuf,
}

/// The segments of a partition directory, oldest first (a directory named
/// like a segment's `.log` included: it stands where a segment should be).
///
/// # Errors
/// [`Error::Io`] if the directory cannot be listed.
pub fn segments(fs: &dyn Fs, dir: &Path) -> Result<Vec<SegmentFiles>> {
    let mut bases: Vec<u64> = fs
        .list_dir(dir)
        .ctx("list", dir)?
        .iter()
        .filter_map(|e| parse_file_name(&e.name))
        .filter(|p| p.kind == FileKind::Log && p.temp.is_none())
        .map(|p| p.base_offset)
        .collect();
    bases.sort_unstable();
    Ok(bases
        .into_iter()
        .map(|base| SegmentFiles {
            base_offset: base,
            log: dir.join(crate::segment::file_name(base, FileKind::Log)),
            index: dir.join(crate::segment::file_name(base, FileKind::Index)),
            time_index: dir.join(crate::segment::file_name(base, FileKind::TimeIndex)),
        })
        .collect())
}

/// Calls `f` with every batch of a segment's `.log` and its byte position,
/// checking headers, offsets and CRCs on the way (records are not
/// decoded).
///
/// # Errors
/// [`Error::Corrupt`] at the first invalid batch; [`Error::Io`]; or the
/// first error `f` returns.
pub fn for_each_batch(
    fs: &dyn Fs,
    segment: &SegmentFiles,
    mut f: impl FnMut(u64, &RecordBatch<'_>) -> Result<()>,
) -> Result<()> {
    let path = &segment.log;
    let file = fs.open(path, OpenMode::Read).ctx("open", path)?;
    let size = file.len().ctx("stat", path)?;
    let mut scanner = Scanner::new(&*file, segment.base_offset, 0, size, 1 << 20);
    while let Some(b) = scanner.next_intact(path)? {
        let bytes = scanner.batch_bytes(&b).ctx("read", path)?;
        let batch = RecordBatch::parse_raw(bytes).map_err(|e| e.in_file(path, b.position))?;
        batch.check_crc().map_err(|e| e.in_file(path, b.position))?;
        f(b.position, &batch)?;
    }
    Ok(())
}

/// Every entry of an `.index` file as stored (including zero-filled
/// preallocated entries); empty if the file does not exist.
///
/// # Errors
/// [`Error::Corrupt`] if the length is not a multiple of 8; [`Error::Io`].
pub fn read_offset_index(
    fs: &dyn Fs,
    path: &Path,
    base_offset: u64,
) -> Result<Vec<OffsetPosition>> {
    let bytes = fsio::read_file_if_exists(fs, path)?.unwrap_or_default();
    check_whole_entries(path, &bytes, OFFSET_ENTRY_LEN, "index")?;
    let entries = OffsetEntries::new(&bytes, base_offset);
    Ok((0..entries.len()).map(|i| entries.get(i)).collect())
}

/// Every entry of a `.timeindex` file as stored; empty if it does not
/// exist.
///
/// # Errors
/// [`Error::Corrupt`] if the length is not a multiple of 12; [`Error::Io`].
pub fn read_time_index(fs: &dyn Fs, path: &Path, base_offset: u64) -> Result<Vec<TimestampOffset>> {
    let bytes = fsio::read_file_if_exists(fs, path)?.unwrap_or_default();
    check_whole_entries(path, &bytes, TIME_ENTRY_LEN, "time index")?;
    let entries = TimeEntries::new(&bytes, base_offset);
    Ok((0..entries.len()).map(|i| entries.get(i)).collect())
}

/// What [`verify_partition_dir`] found in one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSegment {
    /// The segment's base offset.
    pub base_offset: u64,
    /// Whether it is the last (active) segment.
    pub active: bool,
    /// Batches in its `.log`.
    pub batches: u64,
    /// Records in its `.log`.
    pub records: u64,
    /// Size of its `.log`.
    pub bytes: u64,
    /// Offset of its first record, if any.
    pub first_offset: Option<u64>,
    /// Last offset of its last batch, if any.
    pub last_offset: Option<u64>,
    /// Valid offset-index entries.
    pub index_entries: usize,
    /// Valid time-index entries.
    pub time_index_entries: usize,
    /// Its largest timestamp (-1 if none).
    pub max_timestamp: i64,
}

/// What [`verify_partition_dir`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// The segments, oldest first.
    pub segments: Vec<VerifiedSegment>,
}

impl VerifyReport {
    /// Records in all segments.
    pub fn records(&self) -> u64 {
        self.segments.iter().map(|s| s.records).sum()
    }

    /// Batches in all segments.
    pub fn batches(&self) -> u64 {
        self.segments.iter().map(|s| s.batches).sum()
    }

    /// Bytes of all `.log` files.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }
}

/// Checks a partition directory on the real file system; see the module
/// docs for what is checked.
///
/// # Errors
/// [`Error::Corrupt`] naming the file and byte position of the first
/// problem; [`Error::CompressionUnavailable`] for a codec not compiled in;
/// [`Error::Io`].
pub fn verify_partition_dir(dir: impl AsRef<Path>) -> Result<VerifyReport> {
    verify_partition_dir_with(&StdFs, dir.as_ref())
}

/// [`verify_partition_dir`] on any file system.
///
/// # Errors
/// As [`verify_partition_dir`].
pub fn verify_partition_dir_with(fs: &dyn Fs, dir: &Path) -> Result<VerifyReport> {
    verify_partition_dir_progress(fs, dir, &mut |_| {})
}

/// How many `.log` bytes [`verify_partition_dir_progress`] checks between
/// two calls of its callback inside a segment (a batch is never split).
const PROGRESS_STEP: u64 = 4 << 20;

/// [`verify_partition_dir_with`], telling `progress` how far it got: it is
/// called with the number of `.log` bytes checked since its last call,
/// once the batches of a segment add up to 4 MiB more, and at the end of
/// each segment once its indexes are checked (never with 0). When the
/// call succeeds the numbers add up to the report's
/// [`bytes`](VerifyReport::bytes); when it fails, the error is the one
/// [`verify_partition_dir_with`] returns, and part of the failing segment
/// may have been reported.
///
/// ```
/// use seglog::{io::MemFs, LogConfig, OpenOptions, Record};
/// let fs = MemFs::new();
/// let log = OpenOptions::new().fs(fs.clone()).open("/data/t-0", LogConfig::default())?;
/// log.append(&[Record::new("a")])?;
/// log.close()?;
/// let mut done = 0;
/// let report = seglog::inspect::verify_partition_dir_progress(
///     &fs,
///     "/data/t-0".as_ref(),
///     &mut |bytes| done += bytes,
/// )?;
/// assert_eq!(done, report.bytes());
/// # Ok::<(), seglog::Error>(())
/// ```
///
/// # Errors
/// As [`verify_partition_dir`].
pub fn verify_partition_dir_progress(
    fs: &dyn Fs,
    dir: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport> {
    let all = segments(fs, dir)?;
    let mut report = VerifyReport::default();
    let mut prev_last: Option<u64> = None;
    for (i, seg) in all.iter().enumerate() {
        let active = i + 1 == all.len();
        if let Some(prev) = prev_last.filter(|p| seg.base_offset <= *p) {
            return Err(Error::corrupt(
                &seg.log,
                0,
                format!(
                    "segment base offset {} is not above the last offset {prev} of the previous segment",
                    seg.base_offset
                ),
            ));
        }
        let is_dir = fs.list_dir(&seg.log).is_ok();
        if is_dir || (!active && file_len(fs, &seg.log)? == 0) {
            return Err(Error::corrupt(
                &seg.log,
                0,
                crate::segment::missing_records_reason(is_dir),
            ));
        }
        let v = verify_segment(fs, seg, active, progress)?;
        prev_last = v.last_offset.or(prev_last);
        report.segments.push(v);
    }
    Ok(report)
}

fn file_len(fs: &dyn Fs, path: &Path) -> Result<u64> {
    fs.open(path, OpenMode::Read)
        .ctx("open", path)?
        .len()
        .ctx("stat", path)
}

fn verify_segment(
    fs: &dyn Fs,
    seg: &SegmentFiles,
    active: bool,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifiedSegment> {
    let mut out = VerifiedSegment {
        base_offset: seg.base_offset,
        active,
        batches: 0,
        records: 0,
        bytes: 0,
        first_offset: None,
        last_offset: None,
        index_entries: 0,
        time_index_entries: 0,
        max_timestamp: -1,
    };
    // Batch position -> last offset, and last offset -> max timestamp.
    let mut by_position: HashMap<u64, u64> = HashMap::new();
    let mut by_last_offset: HashMap<u64, i64> = HashMap::new();
    let mut scratch = Vec::new();
    // `.log` bytes handed to `progress` so far.
    let mut reported = 0u64;
    for_each_batch(fs, seg, |position, batch| {
        let h = batch.header();
        let mut records = batch
            .records_raw(&mut scratch)
            .map_err(|e| e.in_file(&seg.log, position))?;
        let mut prev: Option<u64> = None;
        let mut max_record_ts = i64::MIN;
        let mut count = 0u64;
        while let Some(r) = records.next_raw() {
            let r = r.map_err(|e| e.in_file(&seg.log, position))?;
            if prev.is_some_and(|p| r.offset <= p) {
                return Err(Error::corrupt(
                    &seg.log,
                    position,
                    format!(
                        "record offsets not increasing inside the batch at offset {}",
                        r.offset
                    ),
                ));
            }
            prev = Some(r.offset);
            out.first_offset.get_or_insert(r.offset);
            max_record_ts = max_record_ts.max(r.timestamp);
            count += 1;
        }
        if count > 0
            && h.timestamp_type() == TimestampType::CreateTime
            && max_record_ts != h.max_timestamp
        {
            return Err(Error::corrupt(
                &seg.log,
                position,
                format!(
                    "header max_timestamp {} differs from the largest record timestamp {max_record_ts}",
                    h.max_timestamp
                ),
            ));
        }
        out.batches += 1;
        out.records += count;
        out.bytes = position + batch.size() as u64;
        out.last_offset = Some(h.last_offset());
        out.max_timestamp = out.max_timestamp.max(h.max_timestamp);
        by_position.insert(position, h.last_offset());
        by_last_offset.insert(h.last_offset(), h.max_timestamp);
        if out.bytes - reported >= PROGRESS_STEP {
            progress(out.bytes - reported);
            reported = out.bytes;
        }
        Ok(())
    })?;

    out.index_entries = verify_offset_index(fs, seg, active, &by_position)?;
    out.time_index_entries =
        verify_time_index(fs, seg, active, &by_last_offset, out.max_timestamp)?;
    if out.bytes > reported {
        progress(out.bytes - reported);
    }
    Ok(out)
}

/// Entries before a zero-filled tail: all of them for a closed segment
/// (where such a tail is an error), the real ones for the active one.
fn real_entries<E: PartialEq>(
    path: &Path,
    entries: &[E],
    zero: &E,
    entry_len: usize,
    active: bool,
) -> Result<usize> {
    if entries.is_empty() {
        return Ok(0);
    }
    // Entry 0 may legitimately equal the zero entry; a run of them after
    // the last non-zero entry is preallocated space. In the active segment
    // of a live log, whose entries may not be written yet, a preallocated
    // file can be zeros from entry 0 on; such an entry 0 is taken as
    // preallocation too (checking one entry less is harmless).
    let first_possible_tail = if active && entries.len() > 1 { 0 } else { 1 };
    let tail_start = (first_possible_tail..entries.len())
        .rev()
        .find(|&i| entries[i] != *zero)
        .map_or(first_possible_tail, |i| i + 1);
    if tail_start < entries.len() {
        if !active {
            return Err(Error::corrupt(
                path,
                (tail_start * entry_len) as u64,
                format!(
                    "{} trailing zero-filled (preallocated) entries after entry {}; a closed segment's index must be trimmed",
                    entries.len() - tail_start,
                    tail_start - 1
                ),
            ));
        }
        return Ok(tail_start);
    }
    Ok(entries.len())
}

fn verify_offset_index(
    fs: &dyn Fs,
    seg: &SegmentFiles,
    active: bool,
    batches: &HashMap<u64, u64>,
) -> Result<usize> {
    let path = &seg.index;
    let entries = read_offset_index(fs, path, seg.base_offset)?;
    let zero = OffsetPosition {
        offset: seg.base_offset,
        position: 0,
    };
    let n = real_entries(path, &entries, &zero, OFFSET_ENTRY_LEN, active)?;
    let mut prev: Option<OffsetPosition> = None;
    for (i, e) in entries[..n].iter().enumerate() {
        let at = (i * OFFSET_ENTRY_LEN) as u64;
        if let Some(p) = prev.filter(|p| e.offset <= p.offset || e.position <= p.position) {
            return Err(Error::corrupt(
                path,
                at,
                format!(
                    "entry {i} ({}, {}) does not increase on entry {} ({}, {})",
                    e.offset,
                    e.position,
                    i - 1,
                    p.offset,
                    p.position
                ),
            ));
        }
        prev = Some(*e);
        let Some(&batch_last) = batches.get(&u64::from(e.position)) else {
            return Err(Error::corrupt(
                path,
                at,
                format!(
                    "entry {i} (offset {}) points at byte {}, which is not the start of a batch",
                    e.offset, e.position
                ),
            ));
        };
        if e.offset != batch_last {
            let relation = if e.offset > batch_last {
                "offset is beyond the batch at that position"
            } else {
                "offset is before the end of the batch at that position"
            };
            return Err(Error::corrupt(
                path,
                at,
                format!(
                    "entry {i} names offset {} but the batch at byte {} ends at offset {}: {relation}",
                    e.offset, e.position, batch_last
                ),
            ));
        }
    }
    Ok(n)
}

fn verify_time_index(
    fs: &dyn Fs,
    seg: &SegmentFiles,
    active: bool,
    batches: &HashMap<u64, i64>,
    max_timestamp: i64,
) -> Result<usize> {
    let path = &seg.time_index;
    let entries = read_time_index(fs, path, seg.base_offset)?;
    let zero = TimestampOffset {
        timestamp: 0,
        offset: seg.base_offset,
    };
    let n = real_entries(path, &entries, &zero, TIME_ENTRY_LEN, active)?;
    let mut prev: Option<TimestampOffset> = None;
    for (i, e) in entries[..n].iter().enumerate() {
        let at = (i * TIME_ENTRY_LEN) as u64;
        if let Some(p) = prev {
            if e.timestamp < p.timestamp {
                return Err(Error::corrupt(
                    path,
                    at,
                    format!(
                        "timestamps decrease: entry {i} has {}, entry {} has {}",
                        e.timestamp,
                        i - 1,
                        p.timestamp
                    ),
                ));
            }
            if e.offset < p.offset {
                return Err(Error::corrupt(
                    path,
                    at,
                    format!(
                        "offsets decrease: entry {i} has {}, entry {} has {}",
                        e.offset,
                        i - 1,
                        p.offset
                    ),
                ));
            }
        }
        prev = Some(*e);
        match batches.get(&e.offset) {
            None => {
                return Err(Error::corrupt(
                    path,
                    at,
                    format!("entry {i} ({}, {}): no batch ends at offset {}", e.timestamp, e.offset, e.offset),
                ))
            }
            Some(&ts) if ts != e.timestamp => {
                return Err(Error::corrupt(
                    path,
                    at,
                    format!(
                        "entry {i} has timestamp {} but the batch ending at offset {} has max timestamp {ts}",
                        e.timestamp, e.offset
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    if !active && max_timestamp >= 0 && prev.is_none_or(|p| p.timestamp < max_timestamp) {
        return Err(Error::corrupt(
            path,
            (n * TIME_ENTRY_LEN) as u64,
            format!("the time index of a closed segment must end with its largest timestamp {max_timestamp}"),
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemFs;
    use crate::{LogConfig, OpenOptions, Record};

    const DIR: &str = "/data/t-0";

    /// A closed log in `fs`: segments of about 1 KiB, then one of more
    /// than two progress steps, then the active one.
    fn multi_segment_log(fs: &MemFs) {
        let small = LogConfig {
            segment_bytes: 1024,
            segment_index_bytes: 4096,
            ..LogConfig::default()
        };
        let log = OpenOptions::new().fs(fs.clone()).open(DIR, small).unwrap();
        for i in 0..100 {
            log.append(&[Record::new(format!("record {i:04}"))])
                .unwrap();
        }
        log.close().unwrap();
        let log = OpenOptions::new()
            .fs(fs.clone())
            .open(DIR, LogConfig::default())
            .unwrap();
        log.roll().unwrap();
        let big = vec![b'x'; 1_000_000];
        for _ in 0..9 {
            log.append(&[Record::new(big.clone())]).unwrap();
        }
        log.roll().unwrap();
        log.append(&[Record::new("last")]).unwrap();
        log.close().unwrap();
    }

    #[test]
    fn progress_adds_up_to_the_bytes_verified() {
        let fs = MemFs::new();
        multi_segment_log(&fs);
        let (report, calls) = verify_counting(&fs);
        let report = report.unwrap();
        assert!(report.segments.len() > 5, "{}", report.segments.len());
        assert_eq!(calls.iter().sum::<u64>(), report.bytes());
        assert!(!calls.contains(&0));
        // One call per small segment; more than one for the big one,
        // every call but its last after at least a step.
        let at = report
            .segments
            .iter()
            .position(|s| s.bytes > 2 * PROGRESS_STEP)
            .unwrap();
        let big_calls = calls.len() - (report.segments.len() - 1);
        assert!(big_calls >= 2, "{calls:?}");
        let steps = &calls[at..at + big_calls];
        assert!(
            steps[..big_calls - 1].iter().all(|&n| n >= PROGRESS_STEP),
            "{steps:?}"
        );
        assert_eq!(steps.iter().sum::<u64>(), report.segments[at].bytes);
        for (i, s) in report.segments.iter().enumerate().filter(|(i, _)| *i != at) {
            let call = if i < at {
                calls[i]
            } else {
                calls[i + big_calls - 1]
            };
            assert_eq!(call, s.bytes, "segment {i}");
        }
        assert_eq!(
            report,
            verify_partition_dir_with(&fs, Path::new(DIR)).unwrap()
        );
    }

    #[test]
    fn progress_keeps_the_error_of_a_corrupt_segment() {
        let fs = MemFs::new();
        multi_segment_log(&fs);
        let all = segments(&fs, Path::new(DIR)).unwrap();
        // Damage a record of the third segment (past its batch header).
        let path = &all[2].log;
        let mut bytes = fs.read(path).unwrap();
        let at = bytes.len() - 3;
        bytes[at] ^= 0xff;
        fs.write(path, &bytes).unwrap();
        let plain = verify_partition_dir_with(&fs, Path::new(DIR)).unwrap_err();
        let (report, calls) = verify_counting(&fs);
        let err = report.unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt { path: p, .. } if p == path),
            "{err}"
        );
        assert_eq!(err.to_string(), plain.to_string());
        // The two segments before it were reported.
        let before: u64 = all[..2]
            .iter()
            .map(|s| fs.read(&s.log).unwrap().len() as u64)
            .sum();
        assert_eq!(calls.iter().sum::<u64>(), before);
    }

    /// Verifies with a progress callback, returning the report and the
    /// numbers it was called with.
    fn verify_counting(fs: &MemFs) -> (Result<VerifyReport>, Vec<u64>) {
        let mut calls = Vec::new();
        let report = verify_partition_dir_progress(fs, Path::new(DIR), &mut |n| calls.push(n));
        (report, calls)
    }

    #[test]
    fn zero_tails_are_errors_only_for_closed_segments() {
        let p = Path::new("x.index");
        let z = 0u8;
        assert_eq!(real_entries(p, &[5u8, 0, 0], &z, 8, true).unwrap(), 1);
        assert!(real_entries(p, &[5u8, 0, 0], &z, 8, false).is_err());
        assert_eq!(real_entries(p, &[5u8, 6], &z, 8, false).unwrap(), 2);
        // A lone entry equal to "zero" (offset = base, position 0) is real.
        assert_eq!(real_entries(p, &[0u8], &z, 8, false).unwrap(), 1);
        assert_eq!(real_entries::<u8>(p, &[], &z, 8, false).unwrap(), 0);
        // A live log's preallocated active index, nothing written yet.
        assert_eq!(real_entries(p, &[0u8, 0, 0], &z, 8, true).unwrap(), 0);
        assert!(real_entries(p, &[0u8, 0, 0], &z, 8, false).is_err());
    }
}

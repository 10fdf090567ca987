//! Re-reading a `.log` to validate it and rebuild its indexes.
//!
//! Every batch is checked as recovery must: a sane header, offsets that
//! increase and belong to the segment, a whole batch, and a CRC that
//! matches. Records themselves are not decoded; the CRC covers them. The
//! walk stops at the first batch that fails, and reports where and why, so
//! the caller can decide between truncating there and refusing to open.

use std::path::Path;

use super::index::{push_offset_entry, push_time_entry, IndexCursor, TimestampOffset};
use super::scan::{Scanner, Step, BULK_CHUNK};
use crate::error::Result;
use crate::io::{FileHandle, IoContext};
use crate::record::{BatchHeader, RecordBatch};

/// What re-reading a segment's `.log` found.
#[derive(Debug, Clone)]
pub(crate) struct RecoveredLog {
    /// Bytes of whole, valid batches from the start of the file.
    pub(crate) valid_bytes: u64,
    /// Offset-index entries for the valid batches.
    pub(crate) offsets: Vec<u8>,
    /// Time-index entries for the valid batches.
    pub(crate) times: Vec<u8>,
    pub(crate) cursor: IndexCursor,
    pub(crate) max_timestamp: TimestampOffset,
    /// Max timestamp of the first batch (what time-based rolling measures
    /// from); `None` for an empty segment.
    pub(crate) first_batch_timestamp: Option<i64>,
    /// Last offset of the last valid batch.
    pub(crate) last_offset: Option<u64>,
    /// Position, base offset and CRC of the last valid batch.
    pub(crate) last_batch: Option<(u64, u64, u32)>,
    /// Position and reason of the first invalid batch, if any.
    pub(crate) invalid: Option<(u64, String)>,
    /// Whether that batch is only incomplete (see [`Step::Invalid`]): the
    /// sane start of a batch running past the end, which a writer may
    /// still be completing. A batch whose bytes are all there but whose
    /// CRC does not match is not.
    pub(crate) incomplete: bool,
    /// The time index's last timestamp (kept apart from `times`, which a
    /// caller following a growing segment drains).
    last_time: Option<i64>,
    /// `(partition leader epoch, base offset)` of each valid batch whose
    /// epoch (not -1) is larger than every epoch before it here: what the
    /// leader-epoch cache learns from this segment.
    pub(crate) epochs: Vec<(i32, u64)>,
}

impl RecoveredLog {
    /// The offset after the last valid batch (the base offset if none).
    pub(crate) fn next_offset(&self, base_offset: u64) -> u64 {
        self.last_offset.map_or(base_offset, |l| l + 1)
    }

    /// Nothing read yet.
    pub(crate) fn empty(index_interval_bytes: u32) -> Self {
        RecoveredLog {
            valid_bytes: 0,
            offsets: Vec::new(),
            times: Vec::new(),
            cursor: IndexCursor::new(index_interval_bytes),
            max_timestamp: TimestampOffset::UNKNOWN,
            first_batch_timestamp: None,
            last_offset: None,
            last_batch: None,
            invalid: None,
            incomplete: false,
            last_time: None,
            epochs: Vec::new(),
        }
    }

    /// A walk to be continued from `position` (where a batch starts), with
    /// the index entries for what lies before it, the largest timestamp
    /// there (or more: of the whole segment) and the time index's last
    /// timestamp.
    pub(crate) fn resumed(
        index_interval_bytes: u32,
        position: u64,
        offsets: Vec<u8>,
        times: Vec<u8>,
        max: TimestampOffset,
        last_time: Option<i64>,
    ) -> Self {
        RecoveredLog {
            valid_bytes: position,
            offsets,
            times,
            cursor: IndexCursor::resume(index_interval_bytes, position, max),
            max_timestamp: max,
            first_batch_timestamp: None,
            last_offset: None,
            last_batch: None,
            invalid: None,
            incomplete: false,
            last_time,
            epochs: Vec::new(),
        }
    }

    /// Appends the entry a segment gets when it stops being active: the
    /// segment's max timestamp, if the time index does not end with it.
    pub(crate) fn add_final_time_entry(&mut self, base_offset: u64) {
        if let Some(t) = self.cursor.time_entry_after(self.last_time) {
            push_time_entry(&mut self.times, base_offset, t);
            self.last_time = Some(t.timestamp);
        }
    }

    /// Walks on from `valid_bytes` to `size`, checking batches and adding
    /// index entries (to `offsets` and `times`) as [`recover_log`] does.
    /// An earlier `invalid` is forgotten first: a segment another process
    /// is appending to may have held half a batch then.
    pub(crate) fn extend(
        &mut self,
        file: &dyn FileHandle,
        path: &Path,
        base_offset: u64,
        size: u64,
    ) -> Result<()> {
        self.invalid = None;
        self.incomplete = false;
        let mut scanner = Scanner::new(file, base_offset, self.valid_bytes, size, BULK_CHUNK)
            .after(self.last_offset);
        loop {
            let batch = match scanner.next().ctx("read", path)? {
                Step::Batch(b) => b,
                Step::End => break,
                Step::Invalid {
                    position,
                    reason,
                    incomplete,
                } => {
                    self.invalid = Some((position, reason));
                    self.incomplete = incomplete;
                    break;
                }
            };
            let bytes = scanner.batch_bytes(&batch).ctx("read", path)?;
            let crc = RecordBatch::parse_raw(bytes).and_then(|b| b.check_crc());
            if let Err(e) = crc {
                self.invalid = Some((
                    batch.position,
                    format!("batch at position {}: {}", batch.position, e.reason),
                ));
                break;
            }
            self.record_batch(base_offset, batch.position, &batch.header);
        }
        self.max_timestamp = self.cursor.max_timestamp();
        Ok(())
    }

    /// Accounts for a valid batch at `position` (the end of what was
    /// accounted so far): index entries, timestamps, offsets.
    pub(crate) fn record_batch(&mut self, base_offset: u64, position: u64, h: &BatchHeader) {
        let entries =
            self.cursor
                .on_batch(position, h.last_offset(), h.max_timestamp, self.last_time);
        if let Some(o) = entries.offset {
            push_offset_entry(&mut self.offsets, base_offset, o);
        }
        if let Some(t) = entries.time {
            push_time_entry(&mut self.times, base_offset, t);
            self.last_time = Some(t.timestamp);
        }
        self.first_batch_timestamp.get_or_insert(h.max_timestamp);
        let epoch = h.partition_leader_epoch;
        if epoch >= 0 && self.epochs.last().is_none_or(|(e, _)| epoch > *e) {
            self.epochs.push((epoch, h.base_offset));
        }
        self.last_offset = Some(h.last_offset());
        self.last_batch = Some((position, h.base_offset, h.crc));
        self.valid_bytes = position + h.size() as u64;
        self.max_timestamp = self.cursor.max_timestamp();
    }
}

/// Walks `[0, size)` of a segment's `.log`, checking every batch and
/// building index entries the way the append path does.
pub(crate) fn recover_log(
    file: &dyn FileHandle,
    path: &Path,
    base_offset: u64,
    size: u64,
    index_interval_bytes: u32,
) -> Result<RecoveredLog> {
    let mut out = RecoveredLog::empty(index_interval_bytes);
    out.extend(file, path, base_offset, size)?;
    Ok(out)
}

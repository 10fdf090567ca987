//! Finding and reading batches in a segment: the offset index narrows the
//! search, a walk of batch headers finishes it.

use std::path::Path;
use std::sync::atomic::Ordering;

use super::{
    OffsetPosition, ScannedBatch, Scanner, Segment, SegmentRead, SegmentSlice, Step, HEADER_CHUNK,
};
use crate::error::{Error, Result};
use crate::io::{FileHandle, IoContext};
use crate::record::{BatchHeader, RecordBatch, TimestampType, BATCH_HEADER_LEN};

impl Segment {
    /// The position to start scanning from for `offset`, from the offset
    /// index, with the index entry it came from.
    fn start_for(&self, offset: u64) -> Result<Option<OffsetPosition>> {
        self.with_indexes(|o, _| o.floor(offset))
    }

    /// The batch holding `offset`, found with one small read: the first
    /// index entry at or above `offset` names a batch that ends at or after
    /// it; if that batch also starts at or before it, it is the one. `None`
    /// when the index cannot tell (the caller then walks).
    fn probe(&self, file: &dyn FileHandle, offset: u64, end: u64) -> Result<Option<ScannedBatch>> {
        let Some(entry) = self.with_indexes(|o, _| o.ceiling(offset))? else {
            return Ok(None);
        };
        let position = u64::from(entry.position);
        if end.saturating_sub(position) < BATCH_HEADER_LEN as u64 {
            return Ok(None);
        }
        let mut head = [0u8; BATCH_HEADER_LEN];
        file.read_exact_at(&mut head, position)
            .ctx("read", &self.log_path)?;
        let Ok(header) = BatchHeader::parse(&head) else {
            return Ok(None);
        };
        let fits = header.last_offset() == entry.offset
            && header.base_offset <= offset
            && header.base_offset >= self.base_offset
            && position + header.size() as u64 <= end;
        Ok(fits.then_some(ScannedBatch { position, header }))
    }

    /// Finds the first batch whose last offset is `>= offset`, or `None`
    /// if the segment has none. When a closed segment's index turns out not
    /// to match its log, the index is rebuilt from the log and the search
    /// retried once.
    pub(super) fn locate(
        &self,
        file: &dyn FileHandle,
        offset: u64,
        end: u64,
    ) -> Result<Option<ScannedBatch>> {
        if let Some(found) = self.probe(file, offset, end)? {
            return Ok(Some(found));
        }
        for attempt in 0..2 {
            let entry = self.start_for(offset)?;
            let start = entry.map_or(0, |e| u64::from(e.position));
            let mut scanner =
                Scanner::new(file, self.base_offset, start.min(end), end, HEADER_CHUNK);
            let mut first = true;
            loop {
                let step = scanner.next().ctx("read", &self.log_path)?;
                match step {
                    Step::Batch(b) => {
                        // An index entry names the last offset of the batch
                        // at its position. (Kafka before 4.1 could name the
                        // last offset of a multi-batch append instead; such
                        // an index is rebuilt once, per batch.)
                        if first
                            && entry.is_some_and(|e| b.header.last_offset() != e.offset)
                            && attempt == 0
                            && !self.is_active()
                        {
                            self.index_suspect()?;
                            break;
                        }
                        first = false;
                        if b.header.last_offset() >= offset {
                            return Ok(Some(b));
                        }
                    }
                    Step::End => return Ok(None),
                    Step::Invalid {
                        position, reason, ..
                    } => {
                        if first && entry.is_some() && attempt == 0 && !self.is_active() {
                            self.index_suspect()?;
                            break;
                        }
                        return Err(Error::corrupt(&self.log_path, position, reason));
                    }
                }
            }
        }
        Err(Error::corrupt(
            &self.log_path,
            0,
            "the offset index does not match the log even after rebuilding it",
        ))
    }

    /// The base offset of the first batch whose last offset is `>= offset`
    /// (where truncating at `offset` cuts), or `None` if there is none.
    pub(crate) fn batch_holding(&self, offset: u64) -> Result<Option<u64>> {
        let end = self.readable_end()?;
        let file = self.handle()?;
        Ok(self
            .locate(&*file, offset, end)?
            .map(|b| b.header.base_offset))
    }

    /// Reads whole batches starting with the one holding `offset`, then
    /// more while the total stays within `max_bytes`, taking only batches
    /// whose last offset is below `max_offset` (at most `log_end`, the log
    /// end offset the caller saw). With `min_one` the first batch is taken
    /// even if it alone exceeds `max_bytes`.
    ///
    /// A damaged batch after the first ends the range before it (the read
    /// that starts there reports it); the first batch being damaged, or
    /// claiming offsets past `log_end` although it starts below it, is
    /// [`Error::Corrupt`].
    pub(crate) fn read(
        &self,
        offset: u64,
        max_bytes: u64,
        max_offset: u64,
        log_end: u64,
        min_one: bool,
    ) -> Result<SegmentRead> {
        let checked = self.checked_at();
        let end = self.readable_end()?;
        let file = self.handle()?;
        let Some(first) = self.locate(&*file, offset, end)? else {
            return Ok(SegmentRead::Nothing);
        };
        let h = &first.header;
        if h.base_offset < log_end && h.last_offset() >= log_end {
            // Batches appended later start at or above the end the caller
            // saw; one that starts below it cannot end above it.
            return Err(Error::corrupt(
                &self.log_path,
                first.position,
                format!(
                    "batch at offset {} claims offsets up to {}, past the log end offset {log_end}",
                    h.base_offset,
                    h.last_offset()
                ),
            ));
        }
        if h.last_offset() >= max_offset {
            return Ok(SegmentRead::Stop);
        }
        let first_size = first.header.size() as u64;
        if !min_one && first_size > max_bytes {
            return Ok(SegmentRead::Stop);
        }
        let start = first.position;
        let limit = start.saturating_add(max_bytes.max(first_size));
        let mut covered_to = first.end();
        let mut next_offset = first.header.next_offset();
        let mut reached_end = covered_to >= end;
        if covered_to < limit && !reached_end {
            // Jump over whole batches with the index, then walk headers to
            // fill what is left.
            let jump = self.with_indexes(|o, _| {
                let by_position = o.floor_by_position(limit);
                let by_offset = max_offset.checked_sub(1).and_then(|m| o.floor(m));
                match (by_position, by_offset) {
                    (Some(a), Some(b)) => Some(if a.position <= b.position { a } else { b }),
                    _ => None,
                }
            })?;
            let from = match jump {
                Some(e) if u64::from(e.position) > covered_to && u64::from(e.position) < end => {
                    u64::from(e.position)
                }
                _ => covered_to,
            };
            let mut scanner = Scanner::new(&*file, self.base_offset, from, end, HEADER_CHUNK);
            let mut first_step = true;
            loop {
                match scanner.next().ctx("read", &self.log_path)? {
                    Step::Batch(b) => {
                        if first_step && from > covered_to {
                            // Everything between the first batch and the
                            // jump target is whole batches below this one.
                            covered_to = from;
                            next_offset = b.header.base_offset;
                        }
                        first_step = false;
                        if b.end() > limit || b.header.last_offset() >= max_offset {
                            break;
                        }
                        covered_to = b.end();
                        next_offset = b.header.next_offset();
                    }
                    Step::End => {
                        reached_end = true;
                        break;
                    }
                    // Serve the batches before it; the read that starts
                    // at the damaged batch reports it.
                    Step::Invalid { .. } => break,
                }
            }
        }
        Ok(SegmentRead::Slice {
            slice: SegmentSlice {
                file,
                path: self.log_path.clone(),
                position: start,
                len: covered_to - start,
                first_offset: first.header.base_offset,
                next_offset,
                checked,
            },
            reached_end,
        })
    }

    /// The visible size, after handing buffered bytes to the OS so that
    /// the file holds all of it.
    pub(crate) fn readable_end(&self) -> Result<u64> {
        self.check_holds_data()?;
        let end = self.size();
        if end <= self.os_size.load(Ordering::Acquire) {
            return Ok(end);
        }
        if self.ctx.poison.is_poisoned() {
            // Try to make buffered bytes readable anyway; if even that
            // fails, serve what reached the OS.
            let _ = self.write_tail_unchecked();
            return Ok(self.os_size.load(Ordering::Acquire).min(end));
        }
        self.write_tail()?;
        Ok(end)
    }

    /// Fails for a closed segment with no bytes: only the last segment of
    /// a log may be empty (a roll never leaves an empty segment behind), so
    /// an empty older one, or a `.log` that is a directory, has lost the
    /// records it held. Reads must not pass over it as if it held nothing.
    pub(crate) fn check_holds_data(&self) -> Result<()> {
        if self.size() > 0 || self.is_active() {
            return Ok(());
        }
        let is_dir = self.ctx.fs.list_dir(&self.log_path).is_ok();
        Err(Error::corrupt(
            &self.log_path,
            0,
            super::missing_records_reason(is_dir),
        ))
    }

    /// The first record at or after `starting_offset` whose timestamp is
    /// `>= timestamp`, as (offset, timestamp).
    pub(crate) fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        starting_offset: u64,
    ) -> Result<Option<(u64, i64)>> {
        let end = self.readable_end()?;
        let file = self.handle()?;
        let position = self.with_indexes(|o, t| {
            let from = t.floor(timestamp).map_or(self.base_offset, |e| e.offset);
            o.floor(from.max(starting_offset))
                .map_or(0, |p| u64::from(p.position))
        })?;
        let mut scanner = Scanner::new(
            &*file,
            self.base_offset,
            position.min(end),
            end,
            HEADER_CHUNK,
        );
        let mut scratch = Vec::new();
        while let Some(b) = scanner.next_intact(&self.log_path)? {
            if b.header.max_timestamp < timestamp || b.header.last_offset() < starting_offset {
                continue;
            }
            let bytes = scanner.batch_bytes(&b).ctx("read", &self.log_path)?;
            let batch =
                RecordBatch::parse_raw(bytes).map_err(|e| e.in_file(&self.log_path, b.position))?;
            if b.header.timestamp_type() == TimestampType::LogAppendTime {
                // Every record carries the batch's timestamp.
                let first = first_record_at_or_after(
                    &batch,
                    starting_offset,
                    &mut scratch,
                    &self.log_path,
                    b.position,
                )?;
                if let Some(o) = first {
                    return Ok(Some((o, b.header.max_timestamp)));
                }
                continue;
            }
            let mut records = batch
                .records_raw(&mut scratch)
                .map_err(|e| e.in_file(&self.log_path, b.position))?;
            while let Some(r) = records.next_raw() {
                let r = r.map_err(|e| e.in_file(&self.log_path, b.position))?;
                if r.timestamp >= timestamp && r.offset >= starting_offset {
                    return Ok(Some((r.offset, r.timestamp)));
                }
            }
        }
        Ok(None)
    }
}

fn first_record_at_or_after(
    batch: &RecordBatch<'_>,
    offset: u64,
    scratch: &mut Vec<u8>,
    path: &Path,
    position: u64,
) -> Result<Option<u64>> {
    let mut records = batch
        .records_raw(scratch)
        .map_err(|e| e.in_file(path, position))?;
    while let Some(r) = records.next_raw() {
        let r = r.map_err(|e| e.in_file(path, position))?;
        if r.offset >= offset {
            return Ok(Some(r.offset));
        }
    }
    Ok(None)
}

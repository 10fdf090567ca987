//! Point reads: one record by offset, reading only that record's bytes
//! once its batch is known to be intact.
//!
//! Integrity: every record handed out comes from a batch whose CRC was
//! checked. The first point read of a batch reads it whole, checks its
//! CRC and remembers where each record starts ([`RecordTables`]); later
//! point reads of that batch re-read its header (to find it, and to see
//! that the batch at that position is still the one checked: same stored
//! CRC) and then only the record. Only sealed segments remember: seglog
//! never writes into a sealed segment's file in place, while the active
//! segment's batches are checked on every read. Damage that reaches a
//! sealed file's bytes after its batch was checked, in the same open log,
//! goes unseen by point reads until the log is reopened (as it would for a
//! Kafka consumer that already fetched the batch); fetches and readers
//! check every batch they return.

use std::collections::HashMap;

use super::{lock, Segment};
use crate::error::Result;
use crate::io::IoContext;
use crate::record::{Compression, LogRecord, RecordBatch, RecordIter, BATCH_HEADER_LEN};

/// Record entries one segment remembers at most (4 bytes each); when
/// full, it forgets them all and starts over.
const MAX_ENTRIES: usize = 1 << 20;

/// For checked batches of a sealed segment, by position: the stored CRC
/// and where each record ends, relative to the batch.
#[derive(Debug, Default)]
pub(crate) struct RecordTables {
    tables: HashMap<u64, (u32, Box<[u32]>)>,
    entries: usize,
}

impl RecordTables {
    /// Forgets every table.
    pub(crate) fn clear(&mut self) {
        self.tables.clear();
        self.entries = 0;
    }

    /// The byte range of record `index` in the batch at `position`, if
    /// that batch was checked with stored CRC `crc`.
    fn get(&self, position: u64, crc: u32, index: usize) -> Option<(u32, u32)> {
        let (stored, ends) = self.tables.get(&position)?;
        if *stored != crc {
            return None;
        }
        let end = *ends.get(index)?;
        let start = match index.checked_sub(1) {
            Some(i) => *ends.get(i)?,
            None => BATCH_HEADER_LEN as u32,
        };
        Some((start, end))
    }

    fn insert(&mut self, position: u64, crc: u32, ends: Box<[u32]>) {
        if self.entries + ends.len() > MAX_ENTRIES {
            self.clear();
        }
        self.entries += ends.len();
        if let Some((_, old)) = self.tables.insert(position, (crc, ends)) {
            self.entries -= old.len();
        }
    }
}

/// Where each record of an intact, uncompressed batch ends, relative to
/// the batch; `None` if a record does not decode (the general read then
/// reports it).
fn record_ends(batch: &RecordBatch<'_>) -> Option<Box<[u32]>> {
    let mut scratch = Vec::new();
    let mut records = batch.records_raw(&mut scratch).ok()?;
    let mut ends = Vec::with_capacity(records.remaining());
    while let Some(record) = records.next_raw() {
        record.ok()?;
        ends.push(u32::try_from(BATCH_HEADER_LEN + records.position()).ok()?);
    }
    Some(ends.into_boxed_slice())
}

impl Segment {
    /// The record at `offset`, read as little as the checks allow; `None`
    /// when this path does not apply (no batch holds `offset` here, the
    /// batch is compressed, a control batch, compacted, or claims offsets
    /// at or past `log_end`) and the caller must take the general read,
    /// which also reports what is wrong.
    ///
    /// # Errors
    /// [`Error::Corrupt`](crate::Error::Corrupt) for a damaged batch;
    /// [`Error::Io`](crate::Error::Io).
    pub(crate) fn read_record(&self, offset: u64, log_end: u64) -> Result<Option<LogRecord>> {
        let end = self.readable_end()?;
        let file = self.handle()?;
        let Some(found) = self.locate(&*file, offset, end)? else {
            return Ok(None);
        };
        let h = &found.header;
        let dense = u64::from(h.records_count) == u64::from(h.last_offset_delta) + 1;
        if h.compression() != Compression::None
            || h.is_control()
            || !dense
            || h.base_offset > offset
            || h.last_offset() >= log_end
        {
            return Ok(None);
        }
        let Ok(index) = usize::try_from(offset - h.base_offset) else {
            return Ok(None);
        };
        let remember = !self.is_active();
        let known = if remember {
            lock(&self.record_tables).get(found.position, h.crc, index)
        } else {
            None
        };
        let in_file = |e: crate::record::DecodeError| e.in_file(&self.log_path, found.position);
        let (start, stop) = match known {
            Some(range) => range,
            None => {
                let mut bytes = vec![0u8; h.size()];
                file.read_exact_at(&mut bytes, found.position)
                    .ctx("read", &self.log_path)?;
                let batch = RecordBatch::parse_raw(&bytes).map_err(in_file)?;
                batch.check_crc().map_err(in_file)?;
                let Some(ends) = record_ends(&batch) else {
                    return Ok(None);
                };
                let Some(&stop) = ends.get(index) else {
                    return Ok(None);
                };
                let start = match index.checked_sub(1) {
                    Some(i) => ends.get(i).copied().unwrap_or(stop),
                    None => BATCH_HEADER_LEN as u32,
                };
                let record = decode_one(&batch, &bytes[start as usize..stop as usize], start)
                    .map_err(in_file)?;
                if remember {
                    lock(&self.record_tables).insert(found.position, h.crc, ends);
                }
                return Ok(record.filter(|r| r.offset == offset));
            }
        };
        let mut bytes = vec![0u8; stop.saturating_sub(start) as usize];
        file.read_exact_at(&mut bytes, found.position + u64::from(start))
            .ctx("read", &self.log_path)?;
        let mut records = RecordIter::new(h, &bytes, Some(start as usize));
        match records.next_raw() {
            Some(Ok(r)) if r.offset == offset => Ok(Some(r.to_owned())),
            Some(Err(e)) => Err(in_file(e)),
            _ => Ok(None),
        }
    }
}

/// The one record in `bytes` (which start at byte `start` of `batch`).
fn decode_one(
    batch: &RecordBatch<'_>,
    bytes: &[u8],
    start: u32,
) -> std::result::Result<Option<LogRecord>, crate::record::DecodeError> {
    let mut records = RecordIter::new(batch.header(), bytes, Some(start as usize));
    match records.next_raw() {
        Some(Ok(r)) => Ok(Some(r.to_owned())),
        Some(Err(e)) => Err(e),
        None => Ok(None),
    }
}

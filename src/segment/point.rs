//! Point reads: one record by offset, reading only that record's bytes
//! once its batch is known to be intact.
//!
//! Integrity: every record handed out comes from a batch whose CRC was
//! checked. The first point read of a batch in a sealed segment reads the
//! batch whole, checks its CRC and remembers its header and where each
//! record ends ([`RecordTables`]); later point reads of that batch read
//! only the record, with one `pread`. seglog never writes into a sealed
//! segment's file in place: a segment that is truncated becomes active
//! again first, and that forgets what it remembered (and makes a read that
//! raced with it start over). The active segment's batches are checked on
//! every read. Damage that reaches a sealed file's bytes after its batch
//! was checked, in the same open log, goes unseen by point reads until the
//! log is reopened (as for a Kafka consumer that already fetched the
//! batch); fetches and readers check every batch they return.

use std::collections::BTreeMap;

use super::{lock, Segment};
use crate::error::Result;
use crate::io::IoContext;
use crate::record::{
    BatchHeader, Compression, DecodeError, LogRecord, RecordBatch, RecordIter, BATCH_HEADER_LEN,
};

/// Record entries one segment remembers at most (4 bytes each); when
/// full, it forgets them all and starts over.
const MAX_ENTRIES: usize = 1 << 20;

/// A checked batch: its header, position, and where each record ends,
/// relative to the batch.
#[derive(Debug)]
struct Table {
    header: BatchHeader,
    position: u64,
    ends: Box<[u32]>,
}

/// Where a record of a checked batch lies.
#[derive(Debug, Clone, Copy)]
struct Known {
    header: BatchHeader,
    position: u64,
    start: u32,
    end: u32,
}

/// For checked batches of a sealed segment, by last offset: where their
/// records lie.
#[derive(Debug, Default)]
pub(crate) struct RecordTables {
    tables: BTreeMap<u64, Table>,
    entries: usize,
    /// Counts the times the segment became active or sealed: a read that
    /// saw another count than the one after its `pread` starts over.
    epoch: u64,
}

impl RecordTables {
    /// Forgets every table, as the segment becomes active or sealed.
    pub(crate) fn reset(&mut self) {
        self.tables.clear();
        self.entries = 0;
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// The checked batch holding `offset`: its header, its position, and
    /// the record's byte range within it.
    fn find(&self, offset: u64) -> Option<Known> {
        let (_, t) = self.tables.range(offset..).next()?;
        let index = usize::try_from(offset.checked_sub(t.header.base_offset)?).ok()?;
        let (start, end) = record_range(&t.ends, index)?;
        Some(Known {
            header: t.header,
            position: t.position,
            start,
            end,
        })
    }

    fn insert(&mut self, header: BatchHeader, position: u64, ends: Box<[u32]>) {
        if self.entries + ends.len() > MAX_ENTRIES {
            self.tables.clear();
            self.entries = 0;
        }
        self.entries += ends.len();
        let table = Table {
            header,
            position,
            ends,
        };
        if let Some(old) = self.tables.insert(header.last_offset(), table) {
            self.entries -= old.ends.len();
        }
    }
}

/// Record `index`'s byte range within its batch.
fn record_range(ends: &[u32], index: usize) -> Option<(u32, u32)> {
    let end = *ends.get(index)?;
    let start = match index.checked_sub(1) {
        Some(i) => *ends.get(i)?,
        None => BATCH_HEADER_LEN as u32,
    };
    Some((start, end))
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

/// The one record in `bytes`, which start at byte `start` of the batch
/// with `header`.
fn decode_one(
    header: &BatchHeader,
    bytes: &[u8],
    start: usize,
) -> std::result::Result<Option<LogRecord>, DecodeError> {
    let mut records = RecordIter::new(header, bytes, Some(start));
    match records.next_raw() {
        Some(Ok(r)) => Ok(Some(r.to_owned())),
        Some(Err(e)) => Err(e),
        None => Ok(None),
    }
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
        let (epoch, known) = {
            let tables = lock(&self.record_tables);
            (tables.epoch, tables.find(offset))
        };
        if let (Some(known), false) = (known, self.is_active()) {
            if let Some(record) = self.read_known(offset, &known, epoch)? {
                return Ok(Some(record));
            }
        }
        self.read_and_check(offset, log_end, epoch)
    }

    /// The record at `offset` from a checked batch, with one `pread`;
    /// `None` if the segment changed state meanwhile.
    fn read_known(&self, offset: u64, known: &Known, epoch: u64) -> Result<Option<LogRecord>> {
        let file = self.handle()?;
        let mut bytes = vec![0u8; known.end.saturating_sub(known.start) as usize];
        let read = file.read_exact_at(&mut bytes, known.position + u64::from(known.start));
        if lock(&self.record_tables).epoch != epoch {
            return Ok(None);
        }
        read.ctx("read", &self.log_path)?;
        let record = decode_one(&known.header, &bytes, known.start as usize)
            .map_err(|e| e.in_file(&self.log_path, known.position))?;
        Ok(record.filter(|r| r.offset == offset))
    }

    /// Finds the batch holding `offset`, reads it whole and checks it, and
    /// remembers it if the segment is sealed.
    fn read_and_check(&self, offset: u64, log_end: u64, epoch: u64) -> Result<Option<LogRecord>> {
        let end = self.readable_end()?;
        let file = self.handle()?;
        let Some(found) = self.locate(&*file, offset, end)? else {
            return Ok(None);
        };
        let h = found.header;
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
        let in_file = |e: DecodeError| e.in_file(&self.log_path, found.position);
        let mut bytes = vec![0u8; h.size()];
        file.read_exact_at(&mut bytes, found.position)
            .ctx("read", &self.log_path)?;
        let batch = RecordBatch::parse_raw(&bytes).map_err(in_file)?;
        batch.check_crc().map_err(in_file)?;
        let Some(ends) = record_ends(&batch) else {
            return Ok(None);
        };
        let Some((start, stop)) = record_range(&ends, index) else {
            return Ok(None);
        };
        let (start, stop) = (start as usize, stop as usize);
        let record = decode_one(&h, &bytes[start..stop], start).map_err(in_file)?;
        if !self.is_active() {
            let mut tables = lock(&self.record_tables);
            if tables.epoch == epoch {
                tables.insert(h, found.position, ends);
            }
        }
        Ok(record.filter(|r| r.offset == offset))
    }
}

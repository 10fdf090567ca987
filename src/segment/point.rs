//! Point reads: one record by offset, reading only that record's bytes
//! once its batch is known to be intact.
//!
//! Integrity: every record handed out comes from a batch whose CRC was
//! checked. The first point read of a batch in a sealed segment reads the
//! batch whole, checks its CRC and remembers its header and where each
//! record ends (a record table); later point reads of that batch read
//! only the record, with one `pread`. seglog never writes into a sealed
//! segment's file in place: a segment that is truncated becomes active
//! again first, and that forgets what it remembered (and makes a read that
//! raced with it start over). The active segment's batches are checked on
//! every read. Damage that reaches a sealed file's bytes after its batch
//! was checked, in the same open log, goes unseen by point reads until the
//! table is forgotten (evicted, or the log reopened), as for a Kafka
//! consumer that already fetched the batch; the records of a fetch are
//! checked every time, a reader's as its `CrcCheck` says.
//!
//! Memory: the tables of every segment of a store (or of a log opened on
//! its own) share one byte budget, [`Resources::record_tables`]: 4 bytes a
//! record plus a fixed cost a batch. A segment's tables are one slot of
//! that set; when the total is over budget, the least recently used
//! segments forget theirs (CLOCK, as for open files and loaded indexes,
//! see [`resident`](super::resident)). A batch whose table alone exceeds
//! the budget is checked on every read instead. The total can exceed the
//! budget only briefly, by the tables being inserted while a sweep runs.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::resident::{Resident, Resources};
use super::{lock, Segment};
use crate::error::Result;
use crate::io::IoContext;
use crate::record::{
    BatchHeader, Compression, DecodeError, LogRecord, RecordBatch, RecordIter, RecordView,
    BATCH_HEADER_LEN,
};

/// What a batch's table costs besides its record ends: the table itself,
/// its key, and room the vectors may hold spare.
const TABLE_OVERHEAD: usize =
    2 * (std::mem::size_of::<Entry>() + std::mem::size_of::<(BatchHeader, u64)>());

/// What the table of a batch of `records` records is charged.
pub(super) fn table_bytes(records: usize) -> usize {
    records.saturating_mul(4).saturating_add(TABLE_OVERHEAD)
}

/// What finds a record of a checked batch: its offsets and where each
/// record ends, relative to the batch.
#[derive(Debug)]
struct Entry {
    last_offset: u64,
    base_offset: u64,
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
/// records lie. A point read is bound by its cache misses as much as by
/// its `pread`, so the search runs over a dense sorted vector whose entry
/// leads straight to the record ends, and the headers (needed only to
/// decode) lie in a parallel vector, loaded alongside.
#[derive(Debug, Default)]
struct RecordTables {
    /// By last offset, ascending.
    entries: Vec<Entry>,
    /// The batches' headers and positions, in the same order.
    batches: Vec<(BatchHeader, u64)>,
    /// What the tables are charged in the budget.
    bytes: usize,
}

impl RecordTables {
    /// Forgets every table; returns the bytes they were charged.
    fn clear(&mut self) -> usize {
        self.entries = Vec::new();
        self.batches = Vec::new();
        std::mem::take(&mut self.bytes)
    }

    /// The checked batch holding `offset`: its header, its position, and
    /// the record's byte range within it.
    fn find(&self, offset: u64) -> Option<Known> {
        let at = self.position_of(offset);
        let entry = self.entries.get(at)?;
        let &(header, position) = self.batches.get(at)?;
        let index = usize::try_from(offset.checked_sub(entry.base_offset)?).ok()?;
        let (start, end) = record_range(&entry.ends, index)?;
        Some(Known {
            header,
            position,
            start,
            end,
        })
    }

    /// The index in `entries` of the first table whose last offset is at
    /// or past `offset` (`entries.len()` if none is). The batches of a
    /// segment mostly hold as many records each, so the table found in
    /// proportion to `offset` over the tables' span usually is the one:
    /// checked with one or two loads, instead of a binary search whose
    /// every step waits for the one before. Otherwise, the binary search.
    fn position_of(&self, offset: u64) -> usize {
        let entries = &self.entries;
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return 0;
        };
        if offset <= first.last_offset {
            return 0;
        }
        if offset > last.last_offset {
            return entries.len();
        }
        // `first.base_offset <= first.last_offset < offset <= last.last_offset`.
        let span = last.last_offset - first.base_offset;
        let into = offset - first.base_offset;
        let tables = entries.len() as u64;
        // `into <= span`; a product past 64 bits (a span of 2^40 offsets)
        // takes the binary search.
        let guess = into
            .checked_mul(tables)
            .map(|p| ((p / (span + 1)) as usize).min(entries.len() - 1));
        let holds = |g: &usize| {
            entries[*g].last_offset >= offset && (*g == 0 || entries[*g - 1].last_offset < offset)
        };
        guess
            .filter(holds)
            .unwrap_or_else(|| entries.partition_point(|e| e.last_offset < offset))
    }

    /// Adds a table; returns the bytes to charge (what was added less
    /// what a table it replaced was charged).
    fn insert(&mut self, header: BatchHeader, position: u64, ends: Box<[u32]>) -> isize {
        let added = table_bytes(ends.len());
        let last = header.last_offset();
        let entry = Entry {
            last_offset: last,
            base_offset: header.base_offset,
            ends,
        };
        let at = self.entries.partition_point(|e| e.last_offset < last);
        let removed = match (self.entries.get_mut(at), self.batches.get_mut(at)) {
            (Some(old), Some(batch)) if old.last_offset == last => {
                *batch = (header, position);
                table_bytes(std::mem::replace(old, entry).ends.len())
            }
            _ => {
                self.entries.insert(at, entry);
                self.batches.insert(at, (header, position));
                0
            }
        };
        self.bytes = self.bytes + added - removed;
        added as isize - removed as isize
    }
}

/// A segment's record tables, a slot of [`Resources::record_tables`].
pub(crate) struct TableSlot {
    tables: Mutex<RecordTables>,
    /// Counts the times the segment became active or sealed: a read that
    /// saw another count than the one after its `pread` starts over.
    /// Changed only with `tables` locked.
    epoch: AtomicU64,
    referenced: AtomicBool,
    /// A member of the budget's set.
    registered: AtomicBool,
    resources: Arc<Resources>,
}

impl std::fmt::Debug for TableSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableSlot")
            .field("epoch", &self.epoch.load(Ordering::Relaxed))
            .finish()
    }
}

impl TableSlot {
    pub(crate) fn new(resources: Arc<Resources>) -> Arc<Self> {
        Arc::new(TableSlot {
            tables: Mutex::new(RecordTables::default()),
            epoch: AtomicU64::new(0),
            referenced: AtomicBool::new(false),
            registered: AtomicBool::new(false),
            resources,
        })
    }

    /// Forgets every table, as the segment becomes active or sealed, and
    /// makes reads in flight start over.
    pub(crate) fn reset(&self) {
        let mut tables = lock(&self.tables);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let freed = tables.clear();
        self.resources.record_tables.refund(freed);
    }

    /// Remembers a checked batch unless the segment changed state since
    /// `epoch`, then keeps the budget.
    fn remember(
        self: &Arc<Self>,
        header: BatchHeader,
        position: u64,
        ends: Box<[u32]>,
        epoch: u64,
    ) {
        let budget = &self.resources.record_tables;
        if table_bytes(ends.len()) > budget.capacity() {
            return;
        }
        {
            let mut tables = lock(&self.tables);
            if self.epoch.load(Ordering::Acquire) != epoch {
                return;
            }
            let delta = tables.insert(header, position, ends);
            match usize::try_from(delta) {
                Ok(more) => budget.charge(more),
                Err(_) => budget.refund(delta.unsigned_abs()),
            }
        }
        self.referenced.store(true, Ordering::Release);
        if self.registered.swap(true, Ordering::AcqRel) {
            budget.trim();
        } else {
            let weak: Weak<TableSlot> = Arc::downgrade(self);
            budget.admit(weak);
        }
    }

    /// Marks the tables used.
    fn touch(&self) {
        if !self.referenced.load(Ordering::Relaxed) {
            self.referenced.store(true, Ordering::Relaxed);
        }
    }
}

impl Resident for TableSlot {
    fn take_referenced(&self) -> bool {
        self.referenced.swap(false, Ordering::AcqRel)
    }

    fn release(&self) -> bool {
        match self.tables.try_lock() {
            Ok(mut tables) => {
                let freed = tables.clear();
                self.resources.record_tables.refund(freed);
                self.registered.store(false, Ordering::Release);
                true
            }
            Err(_) => false,
        }
    }
}

impl Drop for TableSlot {
    fn drop(&mut self) {
        let tables = self
            .tables
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let freed = tables.clear();
        self.resources.record_tables.refund(freed);
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

thread_local! {
    /// Where [`Segment::read_record`] reads the bytes of a record, between
    /// two reads of the thread (at most [`KEPT_BUFFER`] of memory).
    static RECORD_BYTES: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Buffers of point reads larger than this are not kept for the next
/// read of a smaller record.
const KEPT_BUFFER: usize = 64 << 10;

/// Makes `buf` `len` bytes long, zeroing only bytes it never held; drops
/// the memory of a large buffer first when `len` is small.
fn size_buffer(buf: &mut Vec<u8>, len: usize) {
    if buf.capacity() > KEPT_BUFFER && len <= KEPT_BUFFER {
        *buf = Vec::new();
    }
    buf.resize(len, 0);
}

/// Where a point read put the bytes of a record (the whole buffer), for
/// [`Segment::decode_point`]: its batch's header and position, and where
/// the record starts within its batch.
#[derive(Debug, Clone)]
pub(crate) struct PointRead {
    header: BatchHeader,
    position: u64,
    start: usize,
}

impl Segment {
    /// The record at `offset`, owned, read as little as the checks allow;
    /// `None` as [`read_record_bytes`](Self::read_record_bytes).
    ///
    /// # Errors
    /// As [`read_record_bytes`](Self::read_record_bytes), and
    /// [`Error::Corrupt`](crate::Error::Corrupt) for a record that does not
    /// decode.
    pub(crate) fn read_record(&self, offset: u64, log_end: u64) -> Result<Option<LogRecord>> {
        // The record's bytes go to a buffer the thread keeps, and only its
        // fields are allocated: a value of 1 KiB gets an allocation of
        // exactly 1 KiB, which the allocator serves from its per-thread
        // cache, where one of the record's length missed it. The buffer is
        // taken out while it is used, so that a read that runs inside this
        // one (a file system's own code, say) or in a thread's teardown
        // gets a buffer of its own.
        let mut buf = RECORD_BYTES.try_with(Cell::take).unwrap_or_default();
        let record = self.read_record_into(offset, log_end, &mut buf);
        if buf.capacity() <= KEPT_BUFFER {
            let _ = RECORD_BYTES.try_with(|kept| kept.set(buf));
        }
        record
    }

    fn read_record_into(
        &self,
        offset: u64,
        log_end: u64,
        buf: &mut Vec<u8>,
    ) -> Result<Option<LogRecord>> {
        let Some(found) = self.read_record_bytes(offset, log_end, buf)? else {
            return Ok(None);
        };
        Ok(self
            .decode_point(offset, &found, buf)?
            .map(|view| view.to_owned()))
    }

    /// Decodes the record at `offset` that [`read_record_bytes`](Self::read_record_bytes)
    /// put in `buf`; `None` if the record there has another offset.
    ///
    /// # Errors
    /// [`Error::Corrupt`](crate::Error::Corrupt) for a record that does not
    /// decode.
    pub(crate) fn decode_point<'b>(
        &self,
        offset: u64,
        found: &PointRead,
        buf: &'b [u8],
    ) -> Result<Option<RecordView<'b>>> {
        let mut records = RecordIter::new(&found.header, buf, Some(found.start));
        match records.next_raw() {
            Some(Ok(view)) => Ok(Some(view).filter(|v| v.offset == offset)),
            Some(Err(e)) => Err(e.in_file(&self.log_path, found.position)),
            None => Ok(None),
        }
    }

    /// Puts the bytes of the record at `offset` in `buf` (replacing what
    /// it held), read as little as the checks allow, and says where they
    /// lie; `None` when this path does not apply (no batch holds `offset`
    /// here, the batch is compressed, a control batch, compacted, or claims
    /// offsets at or past `log_end`) and the caller must take the general
    /// read, which also reports what is wrong.
    ///
    /// # Errors
    /// [`Error::Corrupt`](crate::Error::Corrupt) for a damaged batch;
    /// [`Error::Io`](crate::Error::Io).
    pub(crate) fn read_record_bytes(
        &self,
        offset: u64,
        log_end: u64,
        buf: &mut Vec<u8>,
    ) -> Result<Option<PointRead>> {
        let slot = &self.record_tables;
        let (epoch, known) = {
            let tables = lock(&slot.tables);
            (slot.epoch.load(Ordering::Acquire), tables.find(offset))
        };
        if let (Some(known), false) = (known, self.is_active()) {
            slot.touch();
            if let Some(found) = self.read_known(&known, log_end, epoch, buf)? {
                return Ok(Some(found));
            }
        }
        self.read_and_check(offset, log_end, epoch, buf)
    }

    /// Reads a record of a checked batch into `buf`, with one `pread`;
    /// `None` if the segment changed state meanwhile, or the batch claims
    /// offsets at or past `log_end`.
    fn read_known(
        &self,
        known: &Known,
        log_end: u64,
        epoch: u64,
        buf: &mut Vec<u8>,
    ) -> Result<Option<PointRead>> {
        if known.header.last_offset() >= log_end {
            return Ok(None);
        }
        let len = known.end.saturating_sub(known.start) as usize;
        size_buffer(buf, len);
        let at = known.position + u64::from(known.start);
        let read = self.with_handle(|file| file.read_exact_at(buf, at))?;
        if self.record_tables.epoch.load(Ordering::Acquire) != epoch {
            return Ok(None);
        }
        read.ctx("read", &self.log_path)?;
        Ok(Some(PointRead {
            header: known.header,
            position: known.position,
            start: known.start as usize,
        }))
    }

    /// Finds the batch holding `offset`, reads it whole and checks it,
    /// remembers it if the segment is sealed, and puts the record's bytes
    /// in `buf`.
    fn read_and_check(
        &self,
        offset: u64,
        log_end: u64,
        epoch: u64,
        buf: &mut Vec<u8>,
    ) -> Result<Option<PointRead>> {
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
        if !self.is_active() {
            self.record_tables.remember(h, found.position, ends, epoch);
        }
        let (start, stop) = (start as usize, stop as usize);
        size_buffer(buf, stop - start);
        buf.copy_from_slice(&bytes[start..stop]);
        Ok(Some(PointRead {
            header: h,
            position: found.position,
            start,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, Record};

    /// The header of a batch of `records` records from offset `base`.
    fn header(base: u64, records: u32) -> BatchHeader {
        let bytes = BatchBuilder::new()
            .build(&[Record::new("v").with_timestamp(0)])
            .unwrap();
        let mut h = *RecordBatch::parse(&bytes).unwrap().header();
        h.base_offset = base;
        h.last_offset_delta = records - 1;
        h.records_count = records;
        h
    }

    fn tables(batches: &[(u64, u32)]) -> RecordTables {
        let mut t = RecordTables::default();
        for &(base, records) in batches {
            let ends: Box<[u32]> = (0..records).map(|i| 100 + i).collect();
            t.insert(header(base, records), base.wrapping_mul(10), ends);
        }
        t
    }

    fn check_every_offset(t: &RecordTables, offsets: impl Iterator<Item = u64>) {
        for offset in offsets {
            let want = t.entries.partition_point(|e| e.last_offset < offset);
            assert_eq!(t.position_of(offset), want, "offset {offset}");
        }
    }

    #[test]
    fn the_table_of_an_offset_is_found_whatever_the_batches() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        check_every_offset(&tables(&[]), 0..4);
        for _ in 0..200 {
            // Batches of uneven sizes, some not remembered (gaps between
            // tables), from a random first offset.
            let mut batches = Vec::new();
            let mut base = next() % 1000;
            for _ in 0..next() % 40 {
                let records = 1 + (next() % 30) as u32;
                if next() % 3 != 0 {
                    batches.push((base, records));
                }
                base += u64::from(records) + next() % 3;
            }
            check_every_offset(&tables(&batches), 0..base + 3);
        }
        // Spans so wide that the proportion overflows 64 bits.
        let huge = 1u64 << 62;
        let t = tables(&[(0, 10), (huge, 10), (huge + 10, 5), (2 * huge, 3)]);
        let around = |o: u64| o.saturating_sub(2)..o + 12;
        let offsets = around(0)
            .chain(around(huge))
            .chain(around(huge + 10))
            .chain(around(2 * huge));
        check_every_offset(&t, offsets);
    }
}

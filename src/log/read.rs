//! Reading: fetches as file ranges, and iterators that decode them.
//!
//! [`PartitionLog::read`] answers a fetch as Kafka does: whole batches,
//! starting with the one that holds the requested offset (it may start
//! before it), at least one batch even if it is larger than `max_bytes`.
//! The answer is a list of file ranges ([`FileSlice`]) that a host can send
//! with `sendfile`/`copy_file_range`, or read into memory.
//!
//! On top of that sit two decoders: [`LogReader`], a cursor that reads
//! ranges into one page-aligned buffer and hands out batches whose records
//! borrow it (no allocation per record), and the owned iterators
//! [`FetchRecords`] and [`LogIter`]. [`FetchRecords`] checks every batch's
//! CRC, as a Kafka consumer does; a [`LogReader`] (and [`LogIter`] over it)
//! as its [`CrcCheck`](super::CrcCheck) says, by default once per batch in
//! the open log. [`PartitionLog::read_record`] checks a batch of a sealed
//! segment once and then reads single records of it directly.
//!
//! Offsets need not be contiguous. A compacted log skips offsets between
//! batches, between segments and before its first batch, and inside a
//! batch whose records were removed (its last offset stays where it was);
//! a batch may even hold no record at all. Reads from an offset nobody
//! holds start at the next batch, and every reader moves on to the next
//! offset of the last batch it read (its last offset + 1), never to the
//! last record's offset + 1.

use std::sync::atomic::Ordering;
use std::sync::Arc;

#[cfg(doc)]
use super::FetchRecords;
use super::{FetchData, FileSlice, Inner, LogIter, LogReader, PartitionLog, TimestampLookup};
use crate::error::{Error, Result};
use crate::record::{LogRecord, RecordView};
use crate::segment::{read_lock, Segment, SegmentRead};

impl PartitionLog {
    /// Reads whole batches from `offset` on: the batch holding `offset`
    /// first (it may start before it), or the first batch after `offset`
    /// if none holds it (offsets a compaction removed), then more while
    /// the total stays within `max_bytes` (at least one batch, however
    /// large), possibly across segments.
    ///
    /// Reading exactly at the log end offset returns nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a"), Record::new("b")])?;
    /// log.append(&[Record::new("c")])?;
    /// let fetch = log.read(1, 1 << 20)?;
    /// assert_eq!(fetch.slices()[0].first_offset(), 0); // whole batches
    /// let records = fetch.records().collect::<Result<Vec<_>, _>>()?;
    /// assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), [1, 2]);
    /// assert!(log.read(4, 1 << 20).is_err()); // past the log end offset
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] if `offset` is below the log start
    /// offset or above the log end offset; [`Error::Corrupt`] if the log's
    /// bytes around `offset` are damaged; [`Error::Closed`]; [`Error::Io`].
    pub fn read(&self, offset: u64, max_bytes: u64) -> Result<FetchData> {
        self.inner.read(offset, max_bytes, u64::MAX)
    }

    /// Like [`read`](Self::read), but only batches that end below
    /// `max_offset` (for example a high watermark).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// for value in ["a", "b", "c"] {
    ///     log.append(&[Record::new(value)])?;
    /// }
    /// let high_watermark = 2;
    /// let fetch = log.read_up_to(0, 1 << 20, high_watermark)?;
    /// assert_eq!(fetch.records().count(), 2);
    /// assert_eq!(fetch.next_offset(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn read_up_to(&self, offset: u64, max_bytes: u64, max_offset: u64) -> Result<FetchData> {
        self.inner.read(offset, max_bytes, max_offset)
    }

    /// The record at `offset`, owned; `None` when the log has no record
    /// there although the offset is in range: compaction removed it, or it
    /// is a control record (a transaction marker).
    ///
    /// The record always comes from a batch whose CRC was checked. In a
    /// sealed segment the first `read_record` of a batch reads it whole,
    /// checks it, and remembers where its records lie; later ones read
    /// only the record's bytes, with one `pread`, for as long as that is
    /// remembered. What is remembered (4 bytes a record) shares one budget
    /// across the store, 32 MiB, and the least recently read segments
    /// forget theirs first; a forgotten batch is checked again on its next
    /// point read. A batch of the active segment is checked on every point
    /// read. The records of a fetch ([`read`](Self::read)) are checked
    /// every time, as a Kafka consumer with `check.crcs` does; a reader's,
    /// as its [`CrcCheck`](crate::CrcCheck) says. A damaged batch is
    /// reported as [`Error::Corrupt`] by every read that checks it.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{LogConfig, PartitionLog, Record};
    /// let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a"), Record::new("b").with_key("k")])?;
    /// let record = log.read_record(1)?.expect("offset 1 holds a record");
    /// assert_eq!(record.key.as_deref(), Some(&b"k"[..]));
    /// assert_eq!(record.value.as_deref(), Some(&b"b"[..]));
    /// assert!(log.read_record(2).is_err()); // the log end offset
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] if `offset` is below the log start
    /// offset or at or above the log end offset; [`Error::Corrupt`] if the
    /// batch holding it is damaged; [`Error::Closed`]; [`Error::Io`].
    pub fn read_record(&self, offset: u64) -> Result<Option<LogRecord>> {
        let end = self.log_end_offset();
        self.check_point_offset(offset, end)?;
        if let Some(seg) = self.segment_of(offset) {
            if let Some(record) = seg.read_record(offset, end)? {
                return Ok(Some(record));
            }
        }
        let mut reader = self.reader(offset).with_fetch_bytes(1).reading_to_log_end();
        Ok(reader.record_in_next_batch(offset)?.map(|r| r.to_owned()))
    }

    /// The segment that would hold `offset`. Reads go through its own
    /// handle, not under the lock of the segment list, which a roll,
    /// retention or truncation waits on.
    fn segment_of(&self, offset: u64) -> Option<Arc<Segment>> {
        let segments = read_lock(&self.inner.segments);
        segments
            .range(..=offset)
            .next_back()
            .map(|(_, s)| s.clone())
    }

    /// Fails unless `offset` lies from the log start offset up to `end`
    /// (excluded) and the log is open.
    pub(super) fn check_point_offset(&self, offset: u64, end: u64) -> Result<()> {
        let out_of_range = || Error::OffsetOutOfRange {
            requested: offset,
            earliest: self.log_start_offset(),
            latest: end,
        };
        if offset >= end {
            return Err(out_of_range());
        }
        self.inner.check_open()?;
        if offset < self.log_start_offset() {
            return Err(out_of_range());
        }
        Ok(())
    }

    /// The record at `offset`, below `end`, read into `buf` by its
    /// segment's point read; `None` when that read does not apply, and
    /// the caller takes the general read (see `Segment::read_record_bytes`).
    pub(super) fn point_read<'b>(
        &self,
        offset: u64,
        end: u64,
        buf: &'b mut Vec<u8>,
    ) -> Result<Option<RecordView<'b>>> {
        let Some(seg) = self.segment_of(offset) else {
            return Ok(None);
        };
        let Some(found) = seg.read_record_bytes(offset, end, buf)? else {
            return Ok(None);
        };
        let buf: &'b [u8] = buf;
        seg.decode_point(offset, &found, buf)
    }

    /// A decoding cursor starting at `offset`; see [`LogReader`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a"), Record::new("b")])?;
    /// let mut reader = log.reader(1);
    /// let batch = reader.next_batch()?.expect("the batch holding offset 1");
    /// // Records borrow the reader's buffer: no allocation per record.
    /// let values = batch.map(|r| r.map(|r| r.value)).collect::<Result<Vec<_>, _>>()?;
    /// assert_eq!(values, [Some(&b"b"[..])]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reader(&self, offset: u64) -> LogReader {
        LogReader::new(self.clone(), offset)
    }

    /// Owned records from `offset` to the current end of the log, skipping
    /// control batches.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a"), Record::new("b"), Record::new("c")])?;
    /// let values: Vec<Vec<u8>> = log
    ///     .iter(1)
    ///     .map(|r| r.map(|r| r.value.unwrap_or_default()))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(values, [b"b".to_vec(), b"c".to_vec()]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&self, offset: u64) -> LogIter {
        LogIter::new(self.reader(offset))
    }

    /// The first record at or after the log start offset whose timestamp
    /// is `>= timestamp` (Kafka's ListOffsets by time), or `None` if every
    /// record is older. Only records count: a batch a compaction emptied
    /// keeps the largest timestamp of the records it lost, and a delete
    /// horizon is not a record's timestamp. When a segment's largest
    /// timestamp belongs to no record at or after the target, the search
    /// goes on in the next segments (Kafka searches only the first segment
    /// whose largest timestamp reaches the target, and then finds nothing).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a").with_timestamp(1_000)])?;
    /// log.append(&[Record::new("b").with_timestamp(2_000)])?;
    /// let found = log.offset_for_timestamp(1_500)?.expect("a record from 1500 on");
    /// assert_eq!((found.offset, found.timestamp), (1, 2_000));
    /// assert_eq!(log.offset_for_timestamp(3_000)?, None); // all older
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Corrupt`] for damaged data on the way; [`Error::Io`].
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampLookup>> {
        self.inner.check_open()?;
        let start = self.log_start_offset();
        let candidates: Vec<Arc<Segment>> = {
            let segments = read_lock(&self.inner.segments);
            let first = segments.range(..=start).next_back().map_or(0, |(b, _)| *b);
            segments.range(first..).map(|(_, s)| s.clone()).collect()
        };
        for seg in candidates {
            if seg.max_timestamp()?.timestamp < timestamp {
                continue;
            }
            if let Some((offset, timestamp)) = seg.find_offset_by_timestamp(timestamp, start)? {
                return Ok(Some(TimestampLookup { offset, timestamp }));
            }
        }
        Ok(None)
    }
}

impl Inner {
    pub(super) fn read(&self, offset: u64, max_bytes: u64, max_offset: u64) -> Result<FetchData> {
        self.check_open()?;
        let leo = self.log_end_offset.load(Ordering::Acquire);
        let start = self.log_start_offset.load(Ordering::Acquire);
        if offset < start || offset > leo {
            return Err(Error::OffsetOutOfRange {
                requested: offset,
                earliest: start,
                latest: leo,
            });
        }
        let upper = max_offset.min(leo);
        let mut fetch = FetchData {
            slices: Vec::new(),
            requested_offset: offset,
            next_offset: offset,
            log_start_offset: start,
            log_end_offset: leo,
        };
        if offset >= upper || max_bytes == 0 {
            return Ok(fetch);
        }
        let mut segment = {
            let segments = read_lock(&self.segments);
            segments
                .range(..=offset)
                .next_back()
                .or_else(|| segments.iter().next())
                .map(|(_, s)| s.clone())
        };
        let mut budget = max_bytes;
        let mut cursor = offset;
        // The segments read at the current cursor: each is read once per
        // cursor, so that a segment starting past the cursor with nothing
        // at it (a gap below an empty segment) cannot send the walk back
        // to the segment holding the cursor, and on, forever.
        let mut read_at_cursor: Vec<Arc<Segment>> = Vec::new();
        while let Some(seg) = segment {
            let min_one = fetch.slices.is_empty();
            let read = match seg.read(cursor, budget, upper, leo, min_one) {
                Ok(read) => read,
                // What was read before a damaged segment is served; the
                // read that starts at it reports the damage.
                Err(Error::Corrupt { .. }) if !fetch.slices.is_empty() => break,
                Err(e) => return Err(e),
            };
            match read {
                SegmentRead::Slice { slice, reached_end } => {
                    budget = budget.saturating_sub(slice.len);
                    if slice.next_offset > cursor {
                        cursor = slice.next_offset;
                        read_at_cursor.clear();
                    }
                    fetch.slices.push(FileSlice::from_segment(slice));
                    if !reached_end || budget == 0 || cursor >= upper {
                        break;
                    }
                }
                SegmentRead::Nothing => {}
                SegmentRead::Stop => break,
            }
            // On from the segment holding the cursor: a compaction round
            // may have replaced the one just read (and the ones after it)
            // by a segment that starts below the cursor. If that is a
            // segment read at this cursor already, the one after the
            // segment just read.
            read_at_cursor.push(seg.clone());
            segment = {
                let segments = read_lock(&self.segments);
                match segments.range(..=cursor).next_back() {
                    Some((_, s)) if !read_at_cursor.iter().any(|r| Arc::ptr_eq(r, s)) => {
                        Some(s.clone())
                    }
                    _ => segments
                        .range(seg.base_offset() + 1..)
                        .next()
                        .map(|(_, s)| s.clone()),
                }
            };
        }
        fetch.next_offset = cursor;
        Ok(fetch)
    }
}

//! Decoding a log in place: [`LogReader`], a cursor that hands out
//! batches ([`ReadBatch`]) whose records borrow its buffer, and
//! [`LogIter`], owned records on top of it.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::Ordering;

use super::fetch::check_crc_in;
use super::{FetchData, PartitionLog};
use crate::aligned::AlignedBuf;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::record::{BatchHeader, LogRecord, RecordBatch, RecordIter, RecordView};

/// When a [`LogReader`] checks the CRC-32C of the batches it returns.
///
/// Kafka's broker never checks a batch it serves (its consumers do, with
/// `check.crcs`); a [`LogReader`] is both, in one process. Whatever the
/// choice, a batch is parsed and its header checked on every read, and a
/// batch that fails its CRC check is [`Error::Corrupt`].
///
/// # Examples
///
/// ```
/// use seglog::{CrcCheck, LogConfig, PartitionLog, Record};
/// let dir = tempfile::tempdir()?;
/// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
/// log.append(&[Record::new("a")])?;
/// // Check every batch on every read, as a Kafka consumer does.
/// let mut reader = log.reader(0).with_crc_check(CrcCheck::EveryRead);
/// assert_eq!(reader.next_batch()?.expect("a batch").header().records_count, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CrcCheck {
    /// The default. A batch is checked until its segment's checked prefix
    /// covers it: the bytes from the segment's start that readers of the
    /// log in this process have read whole and checked, batch after
    /// batch, since the log was opened, the segment sealed, or a
    /// truncation cut it (which forgets the prefix of the segment it cuts).
    /// So the first scan of a segment (active or sealed) checks every
    /// batch and later scans of it, by any reader, check none. A read that
    /// starts inside a segment trusts the batches below the prefix's end
    /// and checks those past it, which join the prefix only once it
    /// reaches them (a read from the segment's start grows it; so does a
    /// reader with [`EveryRead`](Self::EveryRead)). Damage done to a file
    /// while the log is open, after its batches were checked, shows once
    /// the log is opened again (or to a reader with `EveryRead`). A log
    /// open read-only checks every batch on every read: its writer may
    /// change the files.
    #[default]
    FirstRead,
    /// Every batch on every read.
    EveryRead,
}

/// A cursor over a log's batches that decodes in place.
///
/// Each [`next_batch`](Self::next_batch) returns a [`ReadBatch`] whose
/// records borrow the cursor's buffer, so scanning allocates nothing per
/// record. The cursor fetches `fetch_bytes` at a time (default 1 MiB) into
/// one page-aligned buffer and checks each batch's CRC as its
/// [`CrcCheck`] says (by default until the batch was checked by a read
/// from its segment's start, in this open log). At the end of the log it
/// returns `None`; calling again later picks up new batches.
///
/// # Examples
///
/// ```
/// use seglog::{LogConfig, PartitionLog, Record};
/// let dir = tempfile::tempdir()?;
/// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
/// log.append(&[Record::new("a"), Record::new("b")])?;
/// let mut reader = log.reader(0);
/// let mut values = Vec::new();
/// while let Some(batch) = reader.next_batch()? {
///     for record in batch {
///         values.push(record?.value.unwrap_or_default().to_vec());
///     }
/// }
/// assert_eq!(values, [b"a".to_vec(), b"b".to_vec()]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LogReader {
    log: PartitionLog,
    next_offset: u64,
    fetch_bytes: u64,
    fetch: Option<FetchData>,
    slice: usize,
    loaded: bool,
    pos: usize,
    buf: AlignedBuf,
    scratch: Vec<u8>,
    /// Where [`record_at`](Self::record_at) reads a record's bytes.
    point_buf: Vec<u8>,
    /// The cursor of [`record_at`](Self::record_at)'s general read, made
    /// on its first use.
    fallback: Option<Box<LogReader>>,
    /// Whether it reads up to the log end offset (a point read of
    /// [`PartitionLog::read_record`]) rather than the high watermark.
    to_log_end: bool,
    crc_check: CrcCheck,
}

/// One batch handed out by a [`LogReader`]: its header, its bytes, and an
/// iterator over its records at or after the reader's position.
#[derive(Debug)]
pub struct ReadBatch<'a> {
    batch: RecordBatch<'a>,
    records: RecordIter<'a>,
    min_offset: u64,
    path: &'a Path,
    position: u64,
}

impl<'a> ReadBatch<'a> {
    /// The batch header.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a"), Record::new("b")])?;
    /// let mut reader = log.reader(0);
    /// let batch = reader.next_batch()?.expect("a batch");
    /// assert_eq!(batch.header().base_offset, 0);
    /// assert_eq!(batch.header().records_count, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn header(&self) -> &BatchHeader {
        self.batch.header()
    }

    /// The batch's bytes as stored.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let info = log.append(&[Record::new("a")])?;
    /// let mut reader = log.reader(0);
    /// let batch = reader.next_batch()?.expect("a batch");
    /// assert_eq!(batch.as_bytes().len() as u64, info.bytes);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_bytes(&self) -> &'a [u8] {
        self.batch.as_bytes()
    }

    /// The segment file the batch came from.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// let mut reader = log.reader(0);
    /// let batch = reader.next_batch()?.expect("a batch");
    /// assert_eq!(batch.path(), log.segments()[0].path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &'a Path {
        self.path
    }

    /// The batch's byte position in that file.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let first = log.append(&[Record::new("a")])?;
    /// log.append(&[Record::new("b")])?;
    /// let mut reader = log.reader(1);
    /// let batch = reader.next_batch()?.expect("the batch at offset 1");
    /// assert_eq!(batch.position(), first.bytes);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn position(&self) -> u64 {
        self.position
    }
}

impl<'a> Iterator for ReadBatch<'a> {
    type Item = Result<RecordView<'a>>;

    // Always inlined, with the record iterator's fast path: a scan calls
    // it once a record, and a call that returns the record through memory
    // costs a scan of 100 B records an eighth of its time.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.records.next_raw()? {
                Ok(r) if r.offset < self.min_offset => continue,
                Ok(r) => return Some(Ok(r)),
                Err(e) => return Some(Err(e.in_file(self.path, self.position))),
            }
        }
    }
}

impl LogReader {
    pub(super) fn new(log: PartitionLog, from: u64) -> Self {
        LogReader {
            log,
            next_offset: from,
            fetch_bytes: 1 << 20,
            fetch: None,
            slice: 0,
            loaded: false,
            pos: 0,
            buf: AlignedBuf::with_capacity(0),
            scratch: Vec::new(),
            point_buf: Vec::new(),
            fallback: None,
            to_log_end: false,
            crc_check: CrcCheck::default(),
        }
    }

    /// Sets when the batches read have their CRC checked (default
    /// [`CrcCheck::FirstRead`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{CrcCheck, LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// let reader = log.reader(0).with_crc_check(CrcCheck::EveryRead);
    /// assert_eq!(reader.crc_check(), CrcCheck::EveryRead);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_crc_check(mut self, check: CrcCheck) -> Self {
        self.crc_check = check;
        self
    }

    /// When the batches read have their CRC checked.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{CrcCheck, LogConfig, PartitionLog};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// assert_eq!(log.reader(0).crc_check(), CrcCheck::FirstRead);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn crc_check(&self) -> CrcCheck {
        self.crc_check
    }

    /// A cursor that reads up to the log end offset, past the high
    /// watermark: the general read of [`PartitionLog::read_record`].
    pub(super) fn reading_to_log_end(mut self) -> Self {
        self.to_log_end = true;
        self
    }

    /// Sets how many bytes each fetch asks for (at least one batch is
    /// always fetched).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// log.append(&[Record::new("b")])?;
    /// // Reads of 64 KiB; still a whole batch each time, however small.
    /// let mut reader = log.reader(0).with_fetch_bytes(64 << 10);
    /// let mut batches = 0;
    /// while reader.next_batch()?.is_some() {
    ///     batches += 1;
    /// }
    /// assert_eq!(batches, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_fetch_bytes(mut self, bytes: u64) -> Self {
        self.fetch_bytes = bytes.max(1);
        self
    }

    /// The offset the next record returned will be at or after.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a"), Record::new("b")])?;
    /// let mut reader = log.reader(0);
    /// assert_eq!(reader.position(), 0);
    /// reader.next_batch()?;
    /// assert_eq!(reader.position(), 2); // after the batch just read
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn position(&self) -> u64 {
        self.next_offset
    }

    /// Moves the cursor to `offset`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a"), Record::new("b")])?;
    /// let mut reader = log.reader(0);
    /// reader.seek(1);
    /// let batch = reader.next_batch()?.expect("the batch holding offset 1");
    /// let offsets: Vec<u64> = batch.map(|r| r.map(|r| r.offset)).collect::<Result<_, _>>()?;
    /// assert_eq!(offsets, [1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seek(&mut self, offset: u64) {
        self.next_offset = offset;
        self.fetch = None;
    }

    /// The record at `offset`, borrowed from the reader, without moving the
    /// cursor; `None` when the log has no record there although the offset
    /// is in range: compaction removed it, or it is a control record.
    ///
    /// This is [`PartitionLog::read_record`] for a reader kept across
    /// reads, with its integrity policy: the first read of a batch reads it
    /// whole and checks it, later ones (while its segment's record table
    /// is kept) read only the record, into a buffer the reader keeps, and
    /// allocate nothing. Records of compressed, control or compacted
    /// batches are read with their batch. Like
    /// [`next_batch`](Self::next_batch), it reads below the high watermark.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a"), Record::new("b").with_key("k")])?;
    /// let mut reader = log.reader(0);
    /// let record = reader.record_at(1)?.expect("offset 1 holds a record");
    /// assert_eq!(record.key, Some(&b"k"[..]));
    /// assert!(reader.record_at(2).is_err()); // the log end offset
    /// assert_eq!(reader.position(), 0); // the cursor did not move
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] if `offset` is below the log start
    /// offset or at or above the high watermark; [`Error::Corrupt`] if the
    /// batch holding it is damaged; [`Error::Closed`]; [`Error::Io`].
    pub fn record_at(&mut self, offset: u64) -> Result<Option<RecordView<'_>>> {
        let end = self.log.inner.high_watermark();
        self.log.check_point_offset(offset, end)?;
        if let Some(record) = self.log.point_read(offset, end, &mut self.point_buf)? {
            return Ok(Some(record));
        }
        let (log, check) = (&self.log, self.crc_check);
        let fallback = self.fallback.get_or_insert_with(|| {
            Box::new(
                LogReader::new(log.clone(), offset)
                    .with_fetch_bytes(1)
                    .with_crc_check(check),
            )
        });
        fallback.record_in_next_batch(offset)
    }

    /// The record at `offset` in the batch holding it, read by moving the
    /// cursor there; `None` if no batch holds it or it is a control record.
    pub(super) fn record_in_next_batch(&mut self, offset: u64) -> Result<Option<RecordView<'_>>> {
        self.seek(offset);
        let Some(batch) = self.next_batch()? else {
            return Ok(None);
        };
        if batch.header().is_control() || batch.header().base_offset > offset {
            return Ok(None);
        }
        for record in batch {
            let record = record?;
            if record.offset == offset {
                return Ok(Some(record));
            }
            if record.offset > offset {
                break;
            }
        }
        Ok(None)
    }

    /// The next batch holding records at or after the cursor, or `None` at
    /// the end of the log.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let mut reader = log.reader(0);
    /// assert!(reader.next_batch()?.is_none()); // the end of the log, for now
    /// log.append(&[Record::new("a")])?;
    /// let batch = reader.next_batch()?.expect("the new batch");
    /// assert_eq!(batch.header().base_offset, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] if the cursor fell below the log start
    /// (retention) or past the end (truncation); [`Error::Corrupt`] for a
    /// damaged batch; [`Error::Io`].
    pub fn next_batch(&mut self) -> Result<Option<ReadBatch<'_>>> {
        let (start, size) = loop {
            let Some(fetch) = &self.fetch else {
                // Consumers read below the high watermark (for a log
                // without replicas, the log end offset).
                let inner = &self.log.inner;
                let end = if self.to_log_end {
                    inner.log_end_offset.load(Ordering::Acquire)
                } else {
                    inner.high_watermark()
                };
                let fetch = inner.read(self.next_offset, self.fetch_bytes, end)?;
                if fetch.is_empty() {
                    return Ok(None);
                }
                self.fetch = Some(fetch);
                self.slice = 0;
                self.loaded = false;
                continue;
            };
            let Some(slice) = fetch.slices.get(self.slice) else {
                self.next_offset = self.next_offset.max(fetch.next_offset);
                self.fetch = None;
                continue;
            };
            if !self.loaded {
                slice.read_aligned(&mut self.buf)?;
                self.loaded = true;
                self.pos = 0;
            }
            let bytes = &self.buf.bytes()[self.pos..];
            if bytes.is_empty() {
                self.slice += 1;
                self.loaded = false;
                continue;
            }
            let at = slice.position + self.pos as u64;
            let batch = RecordBatch::parse_raw(bytes).map_err(|e| e.in_file(&slice.path, at))?;
            let size = batch.size();
            let start = self.pos;
            self.pos += size;
            if batch.header().last_offset() < self.next_offset {
                continue;
            }
            check_crc_in(&batch, slice, at, self.crc_check)
                .map_err(|e| e.in_file(&slice.path, at))?;
            break (start, size);
        };
        let min_offset = self.next_offset;
        let (path, position) = match self.fetch.as_ref().and_then(|f| f.slices.get(self.slice)) {
            Some(s) => (s.path.as_path(), s.position + start as u64),
            None => (Path::new(""), 0),
        };
        let batch = RecordBatch::parse_raw(&self.buf.bytes()[start..start + size])
            .map_err(|e| e.in_file(path, position))?;
        self.next_offset = batch.header().next_offset();
        let mut records = batch
            .records_raw(&mut self.scratch)
            .map_err(|e| e.in_file(path, position))?;
        records.skip_below(min_offset);
        Ok(Some(ReadBatch {
            batch,
            records,
            min_offset,
            path,
            position,
        }))
    }
}

/// Owned records from an offset to the end of the log; see
/// [`PartitionLog::iter`].
///
/// # Examples
///
/// ```
/// # use seglog::{LogConfig, PartitionLog, Record};
/// # let dir = tempfile::tempdir()?;
/// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
/// log.append(&[Record::new("a").with_key("k"), Record::new("b")])?;
/// let mut iter = log.iter(0);
/// let first = iter.next().expect("a record")?;
/// assert_eq!((first.offset, first.key.as_deref()), (0, Some(&b"k"[..])));
/// assert_eq!(iter.count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LogIter {
    reader: LogReader,
    pending: VecDeque<LogRecord>,
    failed: bool,
}

impl LogIter {
    pub(super) fn new(reader: LogReader) -> Self {
        LogIter {
            reader,
            pending: VecDeque::new(),
            failed: false,
        }
    }
}

impl Iterator for LogIter {
    type Item = Result<LogRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Some(Ok(r));
            }
            if self.failed {
                return None;
            }
            let batch = match self.reader.next_batch() {
                Ok(Some(b)) => b,
                Ok(None) => return None,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            };
            if batch.header().is_control() {
                continue;
            }
            for r in batch {
                match r {
                    Ok(r) => self.pending.push_back(r.to_owned()),
                    Err(e) => {
                        self.failed = true;
                        return Some(Err(e));
                    }
                }
            }
        }
    }
}

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
//! [`FetchRecords`] and [`LogIter`]. Both check every batch's CRC, as a
//! Kafka consumer does.
//!
//! Offsets need not be contiguous. A compacted log skips offsets between
//! batches, between segments and before its first batch, and inside a
//! batch whose records were removed (its last offset stays where it was);
//! a batch may even hold no record at all. Reads from an offset nobody
//! holds start at the next batch, and every reader moves on to the next
//! offset of the last batch it read (its last offset + 1), never to the
//! last record's offset + 1.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Inner, PartitionLog, TimestampLookup};
use crate::aligned::AlignedBuf;
use crate::error::{Error, Result};
use crate::io::{FileHandle, IoContext};
use crate::record::{
    BatchHeader, Compression, DecodeError, LogRecord, RecordBatch, RecordCursor, RecordIter,
    RecordView, BATCH_HEADER_LEN,
};
use crate::segment::{read_lock, Segment, SegmentRead, SegmentSlice};

/// A range of whole record batches in one segment file.
#[derive(Debug, Clone)]
pub struct FileSlice {
    file: Arc<dyn FileHandle>,
    path: PathBuf,
    position: u64,
    len: u64,
    first_offset: u64,
}

impl FileSlice {
    pub(super) fn from_segment(s: SegmentSlice) -> Self {
        FileSlice {
            file: s.file,
            path: s.path,
            position: s.position,
            len: s.len,
            first_offset: s.first_offset,
        }
    }

    /// The segment file the bytes are in.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// let fetch = log.read(0, 1 << 20)?;
    /// assert_eq!(fetch.slices()[0].path(), log.segments()[0].path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Byte position of the first batch in the file.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let first = log.append(&[Record::new("a")])?;
    /// log.append(&[Record::new("b")])?;
    /// let fetch = log.read(1, 1 << 20)?;
    /// // The batch holding offset 1 starts right after the first batch.
    /// assert_eq!(fetch.slices()[0].position(), first.bytes);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Number of bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let info = log.append(&[Record::new("a")])?;
    /// let fetch = log.read(0, 1 << 20)?;
    /// assert_eq!(fetch.slices()[0].len(), info.bytes);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the range is empty (never, for a slice in a [`FetchData`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// let fetch = log.read(0, 1 << 20)?;
    /// assert!(fetch.slices().iter().all(|slice| !slice.is_empty()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Base offset of the first batch (it may be below the offset that was
    /// asked for).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a"), Record::new("b")])?;
    /// let fetch = log.read(1, 1 << 20)?;
    /// // Offset 1 is in the batch that starts at offset 0.
    /// assert_eq!(fetch.slices()[0].first_offset(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn first_offset(&self) -> u64 {
        self.first_offset
    }

    /// The open file, for zero-copy transfer of `position..position + len`
    /// (`None` on a non-OS file system such as `MemFs`). The handle stays
    /// valid even if the segment is deleted meanwhile.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// use std::os::unix::fs::FileExt;
    ///
    /// log.append(&[Record::new("a")])?;
    /// let fetch = log.read(0, 1 << 20)?;
    /// let slice = &fetch.slices()[0];
    /// let file = slice.file().expect("a log on the real file system");
    /// let mut bytes = vec![0; slice.len() as usize]; // or sendfile(2) to a socket
    /// file.read_exact_at(&mut bytes, slice.position())?;
    /// assert_eq!(bytes, slice.to_vec()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn file(&self) -> Option<&std::fs::File> {
        self.file.as_std_file()
    }

    /// Reads the range into `buf`, which must be exactly [`len`](Self::len)
    /// bytes long.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// let fetch = log.read(0, 1 << 20)?;
    /// let slice = &fetch.slices()[0];
    /// let mut buf = vec![0; slice.len() as usize];
    /// slice.read_into(&mut buf)?;
    /// assert_eq!(seglog::RecordBatch::parse(&buf)?.header().records_count, 1);
    /// assert!(slice.read_into(&mut [0; 1]).is_err()); // the wrong length
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] if the read fails or `buf` has the wrong length.
    pub fn read_into(&self, buf: &mut [u8]) -> Result<()> {
        if buf.len() as u64 != self.len {
            return Err(Error::io(
                "read",
                &self.path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("buffer of {} bytes for a range of {}", buf.len(), self.len),
                ),
            ));
        }
        self.file
            .read_exact_at(buf, self.position)
            .ctx("read", &self.path)
    }

    /// Reads the range into a new buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let info = log.append(&[Record::new("a")])?;
    /// let fetch = log.read(0, 1 << 20)?;
    /// let bytes = fetch.slices()[0].to_vec()?;
    /// assert_eq!(bytes.len() as u64, info.bytes);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] if the read fails.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = vec![0; self.len as usize];
        self.read_into(&mut v)?;
        Ok(v)
    }

    fn read_aligned(&self, buf: &mut AlignedBuf) -> Result<()> {
        let len = usize::try_from(self.len).map_err(|_| {
            Error::io(
                "read",
                &self.path,
                std::io::Error::other("range too large for memory"),
            )
        })?;
        let got = buf
            .fill(&*self.file, self.position, len)
            .ctx("read", &self.path)?;
        if got < len {
            return Err(Error::io(
                "read",
                &self.path,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the segment was truncated while being read",
                ),
            ));
        }
        Ok(())
    }
}

/// The answer to a read: whole batches as file ranges, plus where the log
/// stood.
#[derive(Debug, Clone)]
pub struct FetchData {
    slices: Vec<FileSlice>,
    requested_offset: u64,
    next_offset: u64,
    log_start_offset: u64,
    log_end_offset: u64,
}

impl FetchData {
    /// The ranges, in offset order.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// log.roll()?;
    /// log.append(&[Record::new("b")])?;
    /// // One range per segment read.
    /// let fetch = log.read(0, 1 << 20)?;
    /// let firsts: Vec<u64> = fetch.slices().iter().map(|s| s.first_offset()).collect();
    /// assert_eq!(firsts, [0, 1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn slices(&self) -> &[FileSlice] {
        &self.slices
    }

    /// Whether nothing was found (the offset is at the end of the log).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// assert!(!log.read(0, 1 << 20)?.is_empty());
    /// assert!(log.read(1, 1 << 20)?.is_empty()); // at the log end offset
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.slices.is_empty()
    }

    /// Total bytes in all ranges.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let a = log.append(&[Record::new("a")])?;
    /// let b = log.append(&[Record::new("b")])?;
    /// assert_eq!(log.read(0, 1 << 20)?.len_bytes(), a.bytes + b.bytes);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len_bytes(&self) -> u64 {
        self.slices.iter().map(|s| s.len).sum()
    }

    /// The offset that was asked for.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a"), Record::new("b")])?;
    /// let fetch = log.read(1, 1 << 20)?;
    /// assert_eq!(fetch.requested_offset(), 1);
    /// assert_eq!(fetch.slices()[0].first_offset(), 0); // the batch holding it
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn requested_offset(&self) -> u64 {
        self.requested_offset
    }

    /// Where the next read should start to continue after this one.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a"), Record::new("b")])?;
    /// log.append(&[Record::new("c")])?;
    /// // However small `max_bytes`, a read returns a whole batch.
    /// let fetch = log.read(0, 1)?;
    /// assert_eq!(fetch.next_offset(), 2);
    /// let fetch = log.read(fetch.next_offset(), 1)?;
    /// assert_eq!(fetch.next_offset(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_offset(&self) -> u64 {
        self.next_offset
    }

    /// The log start offset when the read was made.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a"), Record::new("b")])?;
    /// log.advance_log_start_offset(1)?;
    /// assert_eq!(log.read(1, 1 << 20)?.log_start_offset(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_start_offset(&self) -> u64 {
        self.log_start_offset
    }

    /// The log end offset when the read was made.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a"), Record::new("b")])?;
    /// let fetch = log.read(0, 1 << 20)?;
    /// log.append(&[Record::new("c")])?;
    /// assert_eq!(fetch.log_end_offset(), 2); // as it was when read
    /// assert_eq!(log.log_end_offset(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_end_offset(&self) -> u64 {
        self.log_end_offset
    }

    /// All the bytes, concatenated: a fetch response's records field.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// log.append(&[Record::new("b")])?;
    /// let bytes = log.read(0, 1 << 20)?.to_vec()?;
    /// let bases: Vec<u64> = seglog::record::batches(&bytes)
    ///     .map(|b| b.map(|b| b.header().base_offset))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(bases, [0, 1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] if a read fails.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut out = vec![0; self.len_bytes() as usize];
        let mut at = 0usize;
        for s in &self.slices {
            s.read_into(&mut out[at..at + s.len as usize])?;
            at += s.len as usize;
        }
        Ok(out)
    }

    /// The records at or after the requested offset, decoded and owned.
    /// Control batches (transaction markers) are skipped, as a consumer
    /// skips them. Each batch's CRC is checked.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a"), Record::new("b")])?;
    /// let fetch = log.read(1, 1 << 20)?;
    /// // Only the records at or after the requested offset.
    /// let records: Vec<_> = fetch.records().collect::<Result<_, _>>()?;
    /// assert_eq!(records.len(), 1);
    /// assert_eq!((records[0].offset, records[0].value.as_deref()), (1, Some(&b"b"[..])));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn records(&self) -> FetchRecords<'_> {
        FetchRecords {
            fetch: self,
            slice: 0,
            buf: AlignedBuf::with_capacity(0),
            pos: 0,
            loaded: false,
            scratch: Vec::new(),
            current: None,
            failed: false,
        }
    }
}

/// Owned records of a [`FetchData`]; see [`FetchData::records`].
///
/// Records are decoded one at a time, so taking the first record of a
/// large batch costs one record, not the batch.
#[derive(Debug)]
pub struct FetchRecords<'a> {
    fetch: &'a FetchData,
    slice: usize,
    buf: AlignedBuf,
    /// Position in `buf` of the next batch.
    pos: usize,
    loaded: bool,
    /// Decompressed records of the current batch, if it is compressed.
    scratch: Vec<u8>,
    current: Option<CurrentBatch>,
    failed: bool,
}

/// The batch a [`FetchRecords`] is in the middle of.
#[derive(Debug)]
struct CurrentBatch {
    header: BatchHeader,
    /// Where its records are in `buf`, when they are not in `scratch`.
    records: Option<std::ops::Range<usize>>,
    /// Its position in its file, for errors.
    file_position: u64,
    cursor: RecordCursor,
}

impl FetchRecords<'_> {
    fn fail(&mut self, e: Error) -> Option<Result<LogRecord>> {
        self.failed = true;
        self.current = None;
        Some(Err(e))
    }

    /// Moves to the next batch holding records at or after the requested
    /// offset; `Ok(false)` at the end.
    fn next_batch(&mut self) -> Result<bool> {
        let min_offset = self.fetch.requested_offset;
        loop {
            let Some(slice) = self.fetch.slices.get(self.slice) else {
                return Ok(false);
            };
            if !self.loaded {
                slice.read_aligned(&mut self.buf)?;
                self.loaded = true;
                self.pos = 0;
            }
            let at = self.pos;
            let bytes = &self.buf.bytes()[at..];
            if bytes.is_empty() {
                self.slice += 1;
                self.loaded = false;
                continue;
            }
            let file_position = slice.position + at as u64;
            let in_file = |e: DecodeError| e.in_file(&slice.path, file_position);
            let batch = RecordBatch::parse_raw(bytes).map_err(in_file)?;
            batch.check_crc().map_err(in_file)?;
            self.pos += batch.size();
            let header = *batch.header();
            if header.is_control() || header.last_offset() < min_offset {
                continue;
            }
            let records = if header.compression() == Compression::None {
                Some(at + BATCH_HEADER_LEN..at + batch.size())
            } else {
                // Decompress once; records are then read from `scratch`.
                batch.records_raw(&mut self.scratch).map_err(in_file)?;
                None
            };
            let data = match &records {
                Some(r) => &self.buf.bytes()[r.clone()],
                None => &self.scratch[..],
            };
            let mut iter = RecordIter::new(&header, data, None);
            iter.skip_below(min_offset);
            let cursor = iter.cursor();
            self.current = Some(CurrentBatch {
                header,
                records,
                file_position,
                cursor,
            });
            return Ok(true);
        }
    }
}

impl Iterator for FetchRecords<'_> {
    type Item = Result<LogRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
            if let Some(cur) = &mut self.current {
                let (data, shift) = match &cur.records {
                    Some(r) => (&self.buf.bytes()[r.clone()], Some(BATCH_HEADER_LEN)),
                    None => (&self.scratch[..], None),
                };
                let mut records = RecordIter::resume(&cur.header, data, shift, cur.cursor);
                match records.next_raw() {
                    Some(Ok(r)) => {
                        cur.cursor = records.cursor();
                        if r.offset >= self.fetch.requested_offset {
                            return Some(Ok(r.to_owned()));
                        }
                    }
                    Some(Err(e)) => {
                        let slice = &self.fetch.slices[self.slice];
                        let e = e.in_file(&slice.path, cur.file_position);
                        return self.fail(e);
                    }
                    None => self.current = None,
                }
                continue;
            }
            match self.next_batch() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return self.fail(e),
            }
        }
    }
}

/// A cursor over a log's batches that decodes in place.
///
/// Each [`next_batch`](Self::next_batch) returns a [`ReadBatch`] whose
/// records borrow the cursor's buffer, so scanning allocates nothing per
/// record. The cursor fetches `fetch_bytes` at a time (default 1 MiB) into
/// one page-aligned buffer and checks every batch's CRC. At the end of the
/// log it returns `None`; calling again later picks up new batches.
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

    #[inline]
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
    fn new(log: PartitionLog, from: u64) -> Self {
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
        }
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
                let fetch = self.log.read(self.next_offset, self.fetch_bytes)?;
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
            batch.check_crc().map_err(|e| e.in_file(&slice.path, at))?;
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
        if offset >= end {
            return Err(Error::OffsetOutOfRange {
                requested: offset,
                earliest: self.log_start_offset(),
                latest: end,
            });
        }
        let mut reader = self.reader(offset).with_fetch_bytes(1);
        let Some(batch) = reader.next_batch()? else {
            return Ok(None);
        };
        if batch.header().is_control() || batch.header().base_offset > offset {
            return Ok(None);
        }
        for record in batch {
            let record = record?;
            if record.offset == offset {
                return Ok(Some(record.to_owned()));
            }
            if record.offset > offset {
                break;
            }
        }
        Ok(None)
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
        LogIter {
            reader: self.reader(offset),
            pending: VecDeque::new(),
            failed: false,
        }
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
    fn read(&self, offset: u64, max_bytes: u64, max_offset: u64) -> Result<FetchData> {
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
                    cursor = slice.next_offset.max(cursor);
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
            // by a segment that starts below the cursor. If that is the
            // segment just read, the next one.
            segment = {
                let segments = read_lock(&self.segments);
                match segments.range(..=cursor).next_back() {
                    Some((_, s)) if !Arc::ptr_eq(s, &seg) => Some(s.clone()),
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

//! What a read returns: [`FetchData`], whole batches as ranges of segment
//! files ([`FileSlice`]) that a host can send as they are or read into
//! memory, and [`FetchRecords`], its records decoded and owned.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::CrcCheck;
use crate::aligned::AlignedBuf;
use crate::error::{Error, Result};
use crate::io::{FileHandle, IoContext};
use crate::record::{
    BatchHeader, Compression, DecodeError, LogRecord, RecordBatch, RecordCursor, RecordIter,
    BATCH_HEADER_LEN,
};
use crate::segment::{CheckedAt, SegmentSlice};

/// A range of whole record batches in one segment file.
#[derive(Debug, Clone)]
pub struct FileSlice {
    file: Arc<dyn FileHandle>,
    pub(super) path: PathBuf,
    pub(super) position: u64,
    len: u64,
    first_offset: u64,
    /// The segment's checked prefix as the read began (see
    /// [`CrcCheck`](super::CrcCheck)).
    pub(super) checked: Option<CheckedAt>,
}

impl FileSlice {
    pub(super) fn from_segment(s: SegmentSlice) -> Self {
        FileSlice {
            file: s.file,
            path: s.path,
            position: s.position,
            len: s.len,
            first_offset: s.first_offset,
            checked: s.checked,
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

    pub(super) fn read_aligned(&self, buf: &mut AlignedBuf) -> Result<()> {
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
    pub(super) slices: Vec<FileSlice>,
    pub(super) requested_offset: u64,
    pub(super) next_offset: u64,
    pub(super) log_start_offset: u64,
    pub(super) log_end_offset: u64,
}

impl FetchData {
    /// An answer with no batches, for a read at `offset` of a log from
    /// `log_start_offset` to `log_end_offset`.
    pub(crate) fn empty(offset: u64, log_start_offset: u64, log_end_offset: u64) -> Self {
        FetchData {
            slices: Vec::new(),
            requested_offset: offset,
            next_offset: offset,
            log_start_offset,
            log_end_offset,
        }
    }

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
            // Checked every time, as a Kafka consumer checks what it fetches.
            let (size, found) = checked_batch_at(
                bytes,
                at,
                slice,
                CrcCheck::EveryRead,
                min_offset,
                &mut self.scratch,
            )?;
            self.pos += size;
            let Some(FoundBatch { header, records }) = found else {
                continue;
            };
            let (data, _) = record_bytes(&records, self.buf.bytes(), &self.scratch);
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
                let (data, shift) = record_bytes(&cur.records, self.buf.bytes(), &self.scratch);
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

/// A batch found in a read buffer, its CRC checked.
pub(crate) struct FoundBatch {
    pub(crate) header: BatchHeader,
    /// Where its records lie in the buffer; `None` when they were
    /// compressed and are now in the scratch buffer.
    pub(crate) records: Option<std::ops::Range<usize>>,
}

/// The records of a [`FoundBatch`]: where they lie in `buf`, or `scratch`
/// if they were decompressed; with the shift a resumed [`RecordIter`]
/// needs to tell positions within the batch.
pub(crate) fn record_bytes<'a>(
    records: &Option<std::ops::Range<usize>>,
    buf: &'a [u8],
    scratch: &'a [u8],
) -> (&'a [u8], Option<usize>) {
    match records {
        Some(r) => (&buf[r.clone()], Some(BATCH_HEADER_LEN)),
        None => (scratch, None),
    }
}

/// Checks the CRC of `batch`, which starts at `start` in the file of
/// `slice`, unless `check` lets the segment's checked prefix vouch for it
/// (see [`CrcCheck`]); a batch that passes joins the prefix if it reaches
/// it.
pub(crate) fn check_crc_in(
    batch: &RecordBatch<'_>,
    slice: &FileSlice,
    start: u64,
    check: CrcCheck,
) -> std::result::Result<(), DecodeError> {
    let end = start + batch.size() as u64;
    let prefix = slice.checked.as_ref();
    if check == CrcCheck::FirstRead && prefix.is_some_and(|p| p.covers(end)) {
        return Ok(());
    }
    batch.check_crc()?;
    if let Some(prefix) = prefix {
        prefix.checked(start, end);
    }
    Ok(())
}

/// Parses and checks the batch at the start of `bytes`, which lie at `at`
/// in their read buffer, read from `slice` (its CRC as `check` says);
/// decompresses its records into `scratch` if they are compressed.
/// Returns its size, and the batch unless a reader skips it (a control
/// batch, or one ending below `min_offset`).
///
/// # Errors
/// [`Error::Corrupt`] naming the file and position for a batch that does
/// not parse, fails its CRC or does not decompress.
pub(crate) fn checked_batch_at(
    bytes: &[u8],
    at: usize,
    slice: &FileSlice,
    check: CrcCheck,
    min_offset: u64,
    scratch: &mut Vec<u8>,
) -> Result<(usize, Option<FoundBatch>)> {
    let file_position = slice.position + at as u64;
    let in_file = |e: DecodeError| e.in_file(&slice.path, file_position);
    let batch = RecordBatch::parse_raw(bytes).map_err(in_file)?;
    check_crc_in(&batch, slice, file_position, check).map_err(in_file)?;
    let size = batch.size();
    let header = *batch.header();
    if header.is_control() || header.last_offset() < min_offset {
        return Ok((size, None));
    }
    let records = if header.compression() == Compression::None {
        Some(at + BATCH_HEADER_LEN..at + size)
    } else {
        // Decompressed once; records are then read from `scratch`.
        batch.records_raw(scratch).map_err(in_file)?;
        None
    };
    Ok((size, Some(FoundBatch { header, records })))
}

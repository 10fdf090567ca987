//! Kafka record batches, format v2 (magic 2): encode, decode, validate.
//!
//! A `.log` file, a produce request and a fetch response all carry the same
//! thing: record batches laid end to end, nothing before, between or after
//! them. A batch is a 61-byte header followed by its records:
//!
//! ```text
//! offset size field
//!      0    8 base offset             (i64; the leader rewrites it in place)
//!      8    4 batch length            (i32; bytes after this field)
//!     12    4 partition leader epoch  (i32; outside the CRC)
//!     16    1 magic                   (2)
//!     17    4 crc                     (CRC-32C of bytes 21..end)
//!     21    2 attributes              (codec, timestamp type, txn, control)
//!     23    4 last offset delta       (i32)
//!     27    8 base timestamp          (i64)
//!     35    8 max timestamp           (i64)
//!     43    8 producer id             (i64; -1 = none)
//!     51    2 producer epoch          (i16)
//!     53    4 base sequence           (i32)
//!     57    4 records count           (i32)
//!     61    . records                 (compressed as one stream if a codec is set)
//! ```
//!
//! Each record is `length, attributes, timestampDelta, offsetDelta, key,
//! value, headers` with zig-zag varints for every number and length
//! (`-1` = null). A null value is a tombstone.
//!
//! Decoding never trusts a length: every one is bounds-checked against the
//! bytes that are actually there, and a malformed batch yields an error,
//! never a panic. Decoding is zero-copy: [`RecordBatch`] and [`RecordView`]
//! borrow the bytes they were parsed from; [`LogRecord`] is the owned form.

mod batch;
mod borrowed;
mod builder;
mod compression;
mod rebuild;
mod records;
mod varint;

use std::fmt;

pub use batch::{batches, BatchAttributes, BatchHeader, Batches, RecordBatch};
pub use borrowed::{AsRecord, RecordRef};
pub(crate) use builder::upper_bound as record_size_bound;
pub use builder::BatchBuilder;
pub use records::{HeaderView, RecordIter, RecordView};

pub(crate) use rebuild::rebuild_batch;
pub(crate) use records::RecordCursor;

pub(crate) use batch::{peek_frame, Frame};

use crate::error::Error;

/// Size of the fixed part of a v2 record batch (`RECORD_BATCH_OVERHEAD`).
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes before a batch's length field ends: base offset + length
/// (`LOG_OVERHEAD`). A batch's total size is `batch_length + 12`.
pub const LOG_OVERHEAD: usize = 12;
/// The record batch format version seglog reads and writes.
pub const MAGIC_V2: u8 = 2;

/// Compression codec of a record batch (attribute bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Uncompressed (codec 0).
    #[default]
    None,
    /// gzip (codec 1).
    Gzip,
    /// Snappy in the xerial stream framing Kafka's Java client uses (codec 2).
    Snappy,
    /// LZ4 frame format with independent blocks (codec 3).
    Lz4,
    /// Zstandard (codec 4).
    Zstd,
}

impl Compression {
    /// The codec for Kafka's codec id, if it is one of the five.
    pub fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            _ => return None,
        })
    }

    /// Kafka's codec id (0-4).
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec's name as Kafka spells it (`none`, `gzip`, `snappy`, `lz4`,
    /// `zstd`); also the name of the cargo feature that enables it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Whether this build can compress and decompress with the codec.
    pub fn is_available(self) -> bool {
        compression::is_available(self)
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a batch's timestamps mean (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer when the record was created.
    #[default]
    CreateTime,
    /// Set by the log when the batch was appended; every record of the batch
    /// reports the batch's max timestamp.
    LogAppendTime,
}

impl fmt::Display for TimestampType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        })
    }
}

/// A record header: a string key and an optional byte value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// The header's key. Kafka keys are UTF-8; a key that is not is read
    /// with invalid sequences replaced (as Kafka's Java client does).
    pub key: String,
    /// The header's value; `None` is Kafka's null.
    pub value: Option<Vec<u8>>,
}

impl Header {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Header {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

/// A record to append: what a producer sends.
///
/// Offsets are assigned by the log. A record without a timestamp gets the
/// log's clock time when appended.
///
/// ```
/// use seglog::Record;
/// let r = Record::new("order shipped")
///     .with_key("order-17")
///     .with_header("trace-id", "abc123")
///     .with_timestamp(1_700_000_000_000);
/// assert_eq!(r.key.as_deref(), Some(&b"order-17"[..]));
/// let delete = Record::tombstone("order-17");
/// assert!(delete.value.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// The key, or `None` for a keyless record.
    pub key: Option<Vec<u8>>,
    /// The value; `None` is a tombstone (deletes the key under compaction).
    pub value: Option<Vec<u8>>,
    /// Headers, in order; keys may repeat.
    pub headers: Vec<Header>,
    /// Creation time in milliseconds since the Unix epoch; `None` means
    /// "now" at append time. Must not be negative.
    pub timestamp: Option<i64>,
}

impl Record {
    /// A keyless record with a value.
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Record {
            value: Some(value.into()),
            ..Record::default()
        }
    }

    /// A tombstone: a key with a null value.
    pub fn tombstone(key: impl Into<Vec<u8>>) -> Self {
        Record {
            key: Some(key.into()),
            ..Record::default()
        }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }

    /// Sets the creation timestamp (milliseconds since the Unix epoch).
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }
}

/// A record read back from a log: owned, with its offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The record's offset in its partition.
    pub offset: u64,
    /// Its timestamp (milliseconds since the Unix epoch, or -1 for none).
    pub timestamp: i64,
    /// Whether `timestamp` is the creation time or the log append time.
    pub timestamp_type: TimestampType,
    /// The key, or `None`.
    pub key: Option<Vec<u8>>,
    /// The value, or `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<Header>,
}

/// Why a piece of bytes is not a valid batch or record: a position within
/// the bytes that were being decoded, and a reason. Callers turn it into a
/// public [`Error`] with context (a file and its position, or the caller's
/// buffer).
///
/// Boxed, so that the decoders' `Result`s stay as small as their values
/// and decoding a record costs no extra moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError(Box<DecodeErrorInner>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeErrorInner {
    pub(crate) position: usize,
    pub(crate) reason: String,
    /// Set when the bytes are fine but their codec is not compiled in.
    pub(crate) unavailable: Option<Compression>,
}

impl std::ops::Deref for DecodeError {
    type Target = DecodeErrorInner;
    fn deref(&self) -> &DecodeErrorInner {
        &self.0
    }
}

impl DecodeError {
    #[cold]
    pub(crate) fn new(position: usize, reason: impl Into<String>) -> Self {
        DecodeError(Box::new(DecodeErrorInner {
            position,
            reason: reason.into(),
            unavailable: None,
        }))
    }

    #[cold]
    pub(crate) fn unavailable(codec: Compression) -> Self {
        DecodeError(Box::new(DecodeErrorInner {
            position: 0,
            reason: format!("compression codec {codec} is not compiled in"),
            unavailable: Some(codec),
        }))
    }

    /// Shifts the position by `by` bytes (when the decoded bytes started
    /// that far into a larger buffer).
    pub(crate) fn shifted(mut self, by: usize) -> Self {
        self.0.position = self.0.position.saturating_add(by);
        self
    }

    /// The reason, owned.
    pub(crate) fn into_reason(self) -> String {
        self.0.reason
    }

    /// The error for bytes read from `path`, where the decoded bytes started
    /// at file position `base`.
    pub(crate) fn in_file(self, path: &std::path::Path, base: u64) -> Error {
        let e = *self.0;
        match e.unavailable {
            Some(codec) => Error::CompressionUnavailable { codec },
            None => Error::corrupt(path, base.saturating_add(e.position as u64), e.reason),
        }
    }

    /// The error for bytes handed in by the caller.
    pub(crate) fn in_input(self) -> Error {
        let e = *self.0;
        match e.unavailable {
            Some(codec) => Error::CompressionUnavailable { codec },
            None => Error::InvalidBatch {
                position: e.position as u64,
                reason: e.reason,
            },
        }
    }
}

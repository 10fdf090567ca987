//! [`RecordRef`], a record to append that borrows its bytes, and
//! [`AsRecord`], what the encoder reads of a record.

use super::{Header, Record};

/// The fields of a record to append, as the batch encoder reads them:
/// implemented by the owned [`Record`] and the borrowed [`RecordRef`], so
/// that [`PartitionLog::append`](crate::PartitionLog::append) and
/// [`BatchBuilder::build`](crate::BatchBuilder::build) take either.
pub trait AsRecord {
    /// The key, or `None` for a keyless record.
    fn key(&self) -> Option<&[u8]>;
    /// The value; `None` is a tombstone.
    fn value(&self) -> Option<&[u8]>;
    /// Headers, in order.
    fn headers(&self) -> &[Header];
    /// Creation time in milliseconds since the Unix epoch; `None` means
    /// "now" at append time.
    fn timestamp(&self) -> Option<i64>;
}

impl AsRecord for Record {
    #[inline]
    fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }
    #[inline]
    fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }
    #[inline]
    fn headers(&self) -> &[Header] {
        &self.headers
    }
    #[inline]
    fn timestamp(&self) -> Option<i64> {
        self.timestamp
    }
}

/// A record to append whose key, value and headers are borrowed: appending
/// a slice of these copies each byte once, into the batch, without an
/// allocation per record.
///
/// # Examples
///
/// ```
/// use seglog::{LogConfig, PartitionLog, RecordRef};
/// let dir = tempfile::tempdir()?;
/// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
/// let lines = ["created", "paid", "shipped"];
/// let records: Vec<RecordRef> = lines
///     .iter()
///     .map(|l| RecordRef::new(l.as_bytes()).with_key(b"order-17"))
///     .collect();
/// let info = log.append(&records)?;
/// assert_eq!((info.first_offset, info.last_offset), (0, 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordRef<'a> {
    /// The key, or `None` for a keyless record.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is a tombstone (deletes the key under compaction).
    pub value: Option<&'a [u8]>,
    /// Headers, in order.
    pub headers: &'a [Header],
    /// Creation time in milliseconds since the Unix epoch; `None` means
    /// "now" at append time. Must not be negative.
    pub timestamp: Option<i64>,
}

impl<'a> RecordRef<'a> {
    /// A keyless record with a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::RecordRef;
    /// let record = RecordRef::new(b"order shipped");
    /// assert_eq!(record.value, Some(&b"order shipped"[..]));
    /// assert_eq!(record.key, None);
    /// ```
    pub fn new(value: &'a [u8]) -> Self {
        RecordRef {
            value: Some(value),
            ..RecordRef::default()
        }
    }

    /// A tombstone: a key with a null value.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::RecordRef;
    /// // Deletes "order-17" from a compacted log.
    /// let delete = RecordRef::tombstone(b"order-17");
    /// assert_eq!((delete.key, delete.value), (Some(&b"order-17"[..]), None));
    /// ```
    pub fn tombstone(key: &'a [u8]) -> Self {
        RecordRef {
            key: Some(key),
            ..RecordRef::default()
        }
    }

    /// Sets the key.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::RecordRef;
    /// let record = RecordRef::new(b"paid").with_key(b"order-17");
    /// assert_eq!(record.key, Some(&b"order-17"[..]));
    /// ```
    pub fn with_key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the headers.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{Header, RecordRef};
    /// let headers = [Header::new("trace-id", "abc123")];
    /// let record = RecordRef::new(b"paid").with_headers(&headers);
    /// assert_eq!(record.headers[0].key, "trace-id");
    /// ```
    pub fn with_headers(mut self, headers: &'a [Header]) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the creation timestamp (milliseconds since the Unix epoch).
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::RecordRef;
    /// let record = RecordRef::new(b"paid").with_timestamp(1_700_000_000_000);
    /// assert_eq!(record.timestamp, Some(1_700_000_000_000));
    /// ```
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }
}

impl<'a> From<&'a Record> for RecordRef<'a> {
    fn from(r: &'a Record) -> Self {
        RecordRef {
            key: r.key.as_deref(),
            value: r.value.as_deref(),
            headers: &r.headers,
            timestamp: r.timestamp,
        }
    }
}

impl AsRecord for RecordRef<'_> {
    #[inline]
    fn key(&self) -> Option<&[u8]> {
        self.key
    }
    #[inline]
    fn value(&self) -> Option<&[u8]> {
        self.value
    }
    #[inline]
    fn headers(&self) -> &[Header] {
        self.headers
    }
    #[inline]
    fn timestamp(&self) -> Option<i64> {
        self.timestamp
    }
}

//! The bytes a consumer embeds in the classic group protocol: its
//! subscription (the metadata of each protocol it offers in JoinGroup) and
//! its assignment (what the leader hands it through SyncGroup), encoded as
//! Kafka's `ConsumerProtocol` encodes them.
//!
//! Both are an `int16` version followed by a struct in Kafka's classic,
//! non-flexible encoding: big-endian integers, `int16`-length UTF-8
//! strings, `int32`-length bytes with -1 for null, `int32`-count arrays.
//!
//! | field              | type                               | versions |
//! |--------------------|------------------------------------|----------|
//! | **Subscription**   |                                    |          |
//! | `topics`           | `[]string`                         | 0+       |
//! | `user_data`        | nullable `bytes`                   | 0+       |
//! | `owned_partitions` | `[]{topic: string, partitions: []int32}` | 1+ |
//! | `generation_id`    | `int32` (-1 when unknown)          | 2+       |
//! | `rack_id`          | nullable `string`                  | 3+       |
//! | **Assignment**     |                                    |          |
//! | `assigned_partitions` | `[]{topic: string, partitions: []int32}` | 0+ |
//! | `user_data`        | nullable `bytes`                   | 0+       |
//!
//! Versions only ever append fields, so, as in Kafka, a decoder reads a
//! version newer than it knows by reading the fields it knows and ignoring
//! the rest; an encoder asked for a newer version writes the newest it
//! knows. Bytes after the last known field are ignored for the same
//! reason.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::store::TopicPartition;

/// The newest version of [`ConsumerSubscription`] and
/// [`ConsumerAssignment`] this crate knows (Kafka's
/// `ConsumerProtocolSubscription` / `ConsumerProtocolAssignment` 3).
pub const CONSUMER_PROTOCOL_VERSION: i16 = 3;

/// What a consumer tells the group when it joins: the topics it wants, what
/// it owns now, and data for the assignor. Kafka's
/// `ConsumerProtocolSubscription`.
///
/// ```
/// use seglog::offsets::ConsumerSubscription;
/// use seglog::TopicPartition;
///
/// let subscription = ConsumerSubscription {
///     topics: vec!["orders".into()],
///     owned_partitions: vec![TopicPartition::new("orders", 0)],
///     generation_id: 4,
///     ..ConsumerSubscription::default()
/// };
/// let bytes = subscription.encode(3)?;
/// assert_eq!(&bytes[..2], &[0, 3]); // the version prefix
/// assert_eq!(ConsumerSubscription::decode(&bytes)?, subscription);
/// # Ok::<(), seglog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSubscription {
    /// The topics the consumer subscribes to. Encoding sorts them, as
    /// Kafka does.
    pub topics: Vec<String>,
    /// Opaque data for the assignor (version 0+); `None` is null.
    pub user_data: Option<Vec<u8>>,
    /// The partitions the consumer owns as it joins (version 1+). Encoding
    /// sorts them and groups them by topic.
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which the consumer was given its owned partitions
    /// (version 2+); -1 when unknown, the default.
    pub generation_id: i32,
    /// The consumer's `client.rack` (version 3+). Decoding reads an empty
    /// rack as `None`, as Kafka does.
    pub rack_id: Option<String>,
}

impl Default for ConsumerSubscription {
    fn default() -> Self {
        ConsumerSubscription {
            topics: Vec::new(),
            user_data: None,
            owned_partitions: Vec::new(),
            generation_id: -1,
            rack_id: None,
        }
    }
}

/// What the group leader gives a consumer: its partitions and data from
/// the assignor. Kafka's `ConsumerProtocolAssignment`.
///
/// ```
/// use seglog::offsets::ConsumerAssignment;
/// use seglog::TopicPartition;
///
/// let assignment = ConsumerAssignment {
///     partitions: vec![TopicPartition::new("orders", 0), TopicPartition::new("orders", 2)],
///     user_data: None,
/// };
/// let bytes = assignment.encode(3)?;
/// assert_eq!(ConsumerAssignment::decode(&bytes)?, assignment);
/// # Ok::<(), seglog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerAssignment {
    /// The partitions assigned to the consumer. Encoding groups them by
    /// topic in the order each topic first appears, as Kafka does.
    pub partitions: Vec<TopicPartition>,
    /// Opaque data from the assignor; `None` is null.
    pub user_data: Option<Vec<u8>>,
}

impl ConsumerSubscription {
    /// The subscription in `version`'s encoding, prefixed with the version.
    /// Fields the version does not have are left out; a version above
    /// [`CONSUMER_PROTOCOL_VERSION`] is written as that version.
    ///
    /// # Errors
    /// [`Error::InvalidRecord`] for a negative version, or a field the
    /// encoding cannot hold: a topic or rack longer than 32 767 bytes, a
    /// partition above `i32::MAX`, more than `i32::MAX` items.
    pub fn encode(&self, version: i16) -> Result<Vec<u8>> {
        let version = effective_version("subscription", version)?;
        let mut w = Writer::new("consumer protocol subscription");
        w.i16(version);
        let mut topics: Vec<&String> = self.topics.iter().collect();
        topics.sort_by(|a, b| java_cmp(a, b));
        w.array_len("topics", topics.len())?;
        for topic in topics {
            w.string("topic", topic)?;
        }
        w.nullable_bytes("user_data", self.user_data.as_deref())?;
        if version >= 1 {
            let mut owned: Vec<&TopicPartition> = self.owned_partitions.iter().collect();
            owned.sort_by(|a, b| java_cmp(&a.topic, &b.topic).then(a.partition.cmp(&b.partition)));
            let groups = group_contiguous(owned);
            w.topic_partitions("owned_partitions", &groups)?;
        }
        if version >= 2 {
            w.i32(self.generation_id);
        }
        if version >= 3 {
            w.nullable_string("rack_id", self.rack_id.as_deref())?;
        }
        Ok(w.finish())
    }

    /// Reads a subscription of any version: 0 to 3 field by field, a newer
    /// one by the fields of version 3 (the bytes after them are ignored).
    /// Fields the version lacks keep their defaults.
    ///
    /// # Errors
    /// [`Error::InvalidRecord`] naming the field and byte position when the
    /// bytes end early, the version is negative, a non-nullable string or
    /// array is null, a string is not UTF-8, or a partition is negative.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new("consumer protocol subscription", bytes);
        let version = r.version()?;
        let topics = r.strings("topics")?;
        let user_data = r.nullable_bytes("user_data")?;
        let owned_partitions = if version >= 1 {
            r.topic_partitions("owned_partitions")?
        } else {
            Vec::new()
        };
        let generation_id = if version >= 2 {
            r.i32("generation_id")?
        } else {
            -1
        };
        let rack_id = if version >= 3 {
            r.nullable_string("rack_id")?
                .filter(|rack| !rack.is_empty())
        } else {
            None
        };
        Ok(ConsumerSubscription {
            topics,
            user_data,
            owned_partitions,
            generation_id,
            rack_id,
        })
    }
}

impl ConsumerAssignment {
    /// The assignment in `version`'s encoding, prefixed with the version
    /// (versions 0 to 3 share one layout; a higher one is written as 3).
    ///
    /// # Errors
    /// [`Error::InvalidRecord`] for a negative version, or a field the
    /// encoding cannot hold (see [`ConsumerSubscription::encode`]).
    pub fn encode(&self, version: i16) -> Result<Vec<u8>> {
        let version = effective_version("assignment", version)?;
        let mut w = Writer::new("consumer protocol assignment");
        w.i16(version);
        // One entry per topic, in the order the topics first appear.
        let mut groups: Vec<(&str, Vec<u32>)> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for tp in &self.partitions {
            let at = *index.entry(&tp.topic).or_insert_with(|| {
                groups.push((&tp.topic, Vec::new()));
                groups.len() - 1
            });
            if let Some((_, partitions)) = groups.get_mut(at) {
                partitions.push(tp.partition);
            }
        }
        w.topic_partitions("assigned_partitions", &groups)?;
        w.nullable_bytes("user_data", self.user_data.as_deref())?;
        Ok(w.finish())
    }

    /// Reads an assignment of any version (see
    /// [`ConsumerSubscription::decode`]).
    ///
    /// # Errors
    /// [`Error::InvalidRecord`] naming the field and byte position, as for
    /// [`ConsumerSubscription::decode`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new("consumer protocol assignment", bytes);
        r.version()?;
        let partitions = r.topic_partitions("assigned_partitions")?;
        let user_data = r.nullable_bytes("user_data")?;
        Ok(ConsumerAssignment {
            partitions,
            user_data,
        })
    }
}

/// The version to write for a requested one: negative is refused, above the
/// newest known is written as the newest.
fn effective_version(what: &str, version: i16) -> Result<i16> {
    if version < 0 {
        return Err(Error::invalid_record(format!(
            "unsupported consumer protocol {what} version {version}"
        )));
    }
    Ok(version.min(CONSUMER_PROTOCOL_VERSION))
}

/// Runs of partitions of one topic, from partitions sorted by topic.
fn group_contiguous(sorted: Vec<&TopicPartition>) -> Vec<(&str, Vec<u32>)> {
    let mut groups: Vec<(&str, Vec<u32>)> = Vec::new();
    for tp in sorted {
        match groups.last_mut() {
            Some((topic, partitions)) if *topic == tp.topic => partitions.push(tp.partition),
            _ => groups.push((&tp.topic, vec![tp.partition])),
        }
    }
    groups
}

/// Java's `String.compareTo`: UTF-16 code units compared in order. Kafka
/// sorts topics and member ids with it; it differs from `str`'s byte order
/// only between characters above U+FFFF and those in U+E000..=U+FFFF.
pub(crate) fn java_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Writes Kafka's classic (non-flexible) encoding, checking that each
/// length fits its field.
pub(crate) struct Writer {
    what: &'static str,
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(what: &'static str) -> Self {
        Writer {
            what,
            buf: Vec::new(),
        }
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }

    fn too_large(&self, field: &str, value: impl std::fmt::Display, max: i32) -> Error {
        Error::invalid_record(format!(
            "{}: {field} of {value} cannot be encoded (at most {max})",
            self.what
        ))
    }

    pub(crate) fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn array_len(&mut self, field: &str, len: usize) -> Result<()> {
        let n = i32::try_from(len).map_err(|_| self.too_large(field, len, i32::MAX))?;
        self.i32(n);
        Ok(())
    }

    pub(crate) fn string(&mut self, field: &str, s: &str) -> Result<()> {
        let n =
            i16::try_from(s.len()).map_err(|_| self.too_large(field, s.len(), i16::MAX.into()))?;
        self.i16(n);
        self.buf.extend_from_slice(s.as_bytes());
        Ok(())
    }

    pub(crate) fn nullable_string(&mut self, field: &str, s: Option<&str>) -> Result<()> {
        match s {
            Some(s) => self.string(field, s),
            None => {
                self.i16(-1);
                Ok(())
            }
        }
    }

    pub(crate) fn nullable_bytes(&mut self, field: &str, b: Option<&[u8]>) -> Result<()> {
        match b {
            Some(b) => {
                self.array_len(field, b.len())?;
                self.buf.extend_from_slice(b);
            }
            None => self.i32(-1),
        }
        Ok(())
    }

    pub(crate) fn partition(&mut self, field: &str, partition: u32) -> Result<()> {
        let p = i32::try_from(partition).map_err(|_| self.too_large(field, partition, i32::MAX))?;
        self.i32(p);
        Ok(())
    }

    /// `[]{topic: string, partitions: []int32}`.
    pub(crate) fn topic_partitions(
        &mut self,
        field: &str,
        groups: &[(&str, Vec<u32>)],
    ) -> Result<()> {
        self.array_len(field, groups.len())?;
        for (topic, partitions) in groups {
            self.string("topic", topic)?;
            self.array_len("partitions", partitions.len())?;
            for &p in partitions {
                self.partition("partition", p)?;
            }
        }
        Ok(())
    }
}

/// Reads Kafka's classic (non-flexible) encoding from a caller's buffer;
/// every failure names the field and its byte position.
pub(crate) struct Reader<'a> {
    what: &'static str,
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(what: &'static str, buf: &'a [u8]) -> Self {
        Reader { what, buf, pos: 0 }
    }

    pub(crate) fn error(&self, at: usize, reason: impl std::fmt::Display) -> Error {
        Error::invalid_record(format!("{}: at byte {at}: {reason}", self.what))
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn take(&mut self, field: &str, n: usize) -> Result<&'a [u8]> {
        let at = self.pos;
        let end = at
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| {
                self.error(
                    at,
                    format!(
                        "{field} needs {n} bytes but only {} remain",
                        self.remaining()
                    ),
                )
            })?;
        let bytes = self
            .buf
            .get(at..end)
            .ok_or_else(|| self.error(at, "out of bounds"))?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N]> {
        let bytes = self.take(field, N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(bytes);
        Ok(a)
    }

    pub(crate) fn i16(&mut self, field: &str) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn i32(&mut self, field: &str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    /// The version prefix; negative is refused. A version newer than
    /// known needs nothing special: each field is read when the version is
    /// at least the one that added it.
    fn version(&mut self) -> Result<i16> {
        let v = self.i16("version")?;
        if v < 0 {
            return Err(self.error(0, format!("unsupported version {v}")));
        }
        Ok(v)
    }

    /// An `int32` count of items each at least `min_item` bytes long; a
    /// count the remaining bytes cannot hold is refused before anything is
    /// allocated for it.
    pub(crate) fn array_len(&mut self, field: &str, min_item: usize) -> Result<usize> {
        let at = self.pos;
        let n = self.i32(field)?;
        let n = usize::try_from(n)
            .map_err(|_| self.error(at, format!("{field} is null or has a negative count {n}")))?;
        if n.saturating_mul(min_item) > self.remaining() {
            return Err(self.error(
                at,
                format!(
                    "{field} claims {n} items but only {} bytes remain",
                    self.remaining()
                ),
            ));
        }
        Ok(n)
    }

    fn str_body(&mut self, field: &str, len: usize) -> Result<String> {
        let at = self.pos;
        let bytes = self.take(field, len)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| self.error(at, format!("{field} is not UTF-8")))
    }

    pub(crate) fn string(&mut self, field: &str) -> Result<String> {
        let at = self.pos;
        let len = self.i16(field)?;
        let len = usize::try_from(len)
            .map_err(|_| self.error(at, format!("{field} is null but may not be")))?;
        self.str_body(field, len)
    }

    /// A nullable string: any negative length is null, as Kafka reads it.
    pub(crate) fn nullable_string(&mut self, field: &str) -> Result<Option<String>> {
        let len = self.i16(field)?;
        match usize::try_from(len) {
            Ok(len) => self.str_body(field, len).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Nullable bytes: any negative length is null, as Kafka reads it.
    pub(crate) fn nullable_bytes(&mut self, field: &str) -> Result<Option<Vec<u8>>> {
        let len = self.i32(field)?;
        match usize::try_from(len) {
            Ok(len) => Ok(Some(self.take(field, len)?.to_vec())),
            Err(_) => Ok(None),
        }
    }

    fn strings(&mut self, field: &str) -> Result<Vec<String>> {
        let n = self.array_len(field, 2)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.string("topic")?);
        }
        Ok(out)
    }

    pub(crate) fn partition(&mut self, field: &str) -> Result<u32> {
        let at = self.pos;
        let p = self.i32(field)?;
        u32::try_from(p).map_err(|_| self.error(at, format!("{field} {p} is negative")))
    }

    /// `[]{topic: string, partitions: []int32}`, flattened in order.
    pub(crate) fn topic_partitions(&mut self, field: &str) -> Result<Vec<TopicPartition>> {
        let n = self.array_len(field, 6)?;
        let mut out = Vec::new();
        for _ in 0..n {
            let topic = self.string("topic")?;
            let count = self.array_len("partitions", 4)?;
            out.reserve(count);
            for _ in 0..count {
                let p = self.partition("partition")?;
                out.push(TopicPartition::new(topic.clone(), p));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
#[path = "consumer_protocol_tests.rs"]
mod tests;

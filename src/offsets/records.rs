//! The records of `__consumer_offsets`, byte for byte as Kafka's group
//! coordinator writes them.
//!
//! Key and value are each an `int16` version followed by a struct in
//! Kafka's classic protocol encoding (big-endian integers, `int16`-length
//! UTF-8 strings with -1 for null, `int32`-length bytes, `int32`-count
//! arrays); value versions marked flexible use the compact encoding
//! (unsigned-varint length + 1) and end with tagged fields. The key's
//! version says which record it is: 0 or 1 an offset commit (written as 1),
//! 2 a group's metadata. A null value (a tombstone) deletes what the key
//! names.

/// The key of a committed offset: which group committed it for which
/// partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OffsetCommitKey {
    /// The consumer group.
    pub group: String,
    /// The topic of the partition.
    pub topic: String,
    /// The partition.
    pub partition: i32,
}

/// A committed offset (the value under an [`OffsetCommitKey`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    /// The next offset the group will consume from the partition.
    pub offset: i64,
    /// The leader epoch of the last consumed record; -1 when unknown.
    pub leader_epoch: i32,
    /// The committer's free-form metadata.
    pub metadata: String,
    /// When the commit was made, in milliseconds since the Unix epoch.
    pub commit_timestamp: i64,
    /// An explicit expiry time (value version 1 only); `None` otherwise.
    pub expire_timestamp: Option<i64>,
}

/// A group's membership and assignment (the value under a group's
/// metadata key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    /// The protocol type the members use (`"consumer"` for consumers).
    pub protocol_type: String,
    /// The group's generation.
    pub generation: i32,
    /// The assignment protocol chosen for the generation (`"range"`, ...);
    /// `None` while the group has no members.
    pub protocol: Option<String>,
    /// The member that computed the assignment; `None` without members.
    pub leader: Option<String>,
    /// When the group last changed state, in milliseconds since the Unix
    /// epoch; -1 when not recorded (value versions 0 and 1).
    pub current_state_timestamp: i64,
    /// The members of the generation.
    pub members: Vec<MemberMetadata>,
}

/// One member of a group as its metadata record stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    /// The member id the coordinator gave the member.
    pub member_id: String,
    /// The member's `group.instance.id` (static membership), if any.
    pub group_instance_id: Option<String>,
    /// The member's client id.
    pub client_id: String,
    /// Where the member connects from.
    pub client_host: String,
    /// How long a rebalance waits for the member to rejoin, in ms.
    pub rebalance_timeout_ms: i32,
    /// How long the member may go without a heartbeat, in ms.
    pub session_timeout_ms: i32,
    /// The member's subscription, in its protocol's encoding (for
    /// consumers, Kafka's `ConsumerProtocolSubscription`).
    pub subscription: Vec<u8>,
    /// The member's assignment, in its protocol's encoding (for consumers,
    /// Kafka's `ConsumerProtocolAssignment`).
    pub assignment: Vec<u8>,
}

use std::fmt;

/// The key of a `__consumer_offsets` record: what the record is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OffsetsKey {
    /// A committed offset of a group for a partition (key version 0 or 1).
    OffsetCommit(OffsetCommitKey),
    /// A group's metadata (key version 2); the group id.
    GroupMetadata(String),
}

/// Why the bytes of a `__consumer_offsets` key or value could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsRecordError {
    /// The key's version names a record this build does not know (Kafka's
    /// new consumer-group and share-group records, or garbage).
    UnknownKeyVersion(i16),
    /// The value's version is not one Kafka defines for its key.
    UnknownValueVersion(i16),
    /// The bytes are not a valid encoding: `reason` says what, `position`
    /// is the byte position within the key or value.
    Malformed {
        /// Byte position within the key or value.
        position: usize,
        /// What is wrong there.
        reason: &'static str,
    },
}

impl fmt::Display for OffsetsRecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OffsetsRecordError::UnknownKeyVersion(v) => {
                write!(f, "unknown __consumer_offsets key version {v}")
            }
            OffsetsRecordError::UnknownValueVersion(v) => {
                write!(f, "unknown __consumer_offsets value version {v}")
            }
            OffsetsRecordError::Malformed { position, reason } => {
                write!(
                    f,
                    "malformed __consumer_offsets record at byte {position}: {reason}"
                )
            }
        }
    }
}

impl std::error::Error for OffsetsRecordError {}

type Decoded<T> = std::result::Result<T, OffsetsRecordError>;

/// The key version Kafka writes for an offset commit.
pub const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// The key version of a group's metadata.
pub const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// The value version Kafka writes for a group's metadata.
pub const GROUP_METADATA_VALUE_VERSION: i16 = 3;

impl OffsetsKey {
    /// The key's bytes: version 1 for an offset commit, 2 for a group.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Writer::default();
        match self {
            OffsetsKey::OffsetCommit(key) => {
                out.i16(OFFSET_COMMIT_KEY_VERSION);
                out.string(&key.group);
                out.string(&key.topic);
                out.i32(key.partition);
            }
            OffsetsKey::GroupMetadata(group) => {
                out.i16(GROUP_METADATA_KEY_VERSION);
                out.string(group);
            }
        }
        out.0
    }

    /// Reads a key.
    ///
    /// # Errors
    /// [`OffsetsRecordError`] for a version other than 0, 1 or 2, or bytes
    /// that do not hold the key (trailing bytes included).
    pub fn decode(bytes: &[u8]) -> Decoded<Self> {
        let mut r = Reader::new(bytes, false);
        let key = match r.i16()? {
            0 | 1 => OffsetsKey::OffsetCommit(OffsetCommitKey {
                group: r.string()?,
                topic: r.string()?,
                partition: r.i32()?,
            }),
            2 => OffsetsKey::GroupMetadata(r.string()?),
            v => return Err(OffsetsRecordError::UnknownKeyVersion(v)),
        };
        r.finish()?;
        Ok(key)
    }
}

impl OffsetCommitValue {
    /// The value's version as Kafka picks it: 1 when the commit carries an
    /// explicit expiry time, else 3.
    pub fn version(&self) -> i16 {
        if self.expire_timestamp.is_some() {
            1
        } else {
            3
        }
    }

    /// The value's bytes, in [`version`](Self::version).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Writer::default();
        let version = self.version();
        out.i16(version);
        out.i64(self.offset);
        if version >= 3 {
            out.i32(self.leader_epoch);
        }
        out.string(&self.metadata);
        out.i64(self.commit_timestamp);
        if let Some(expire) = self.expire_timestamp {
            out.i64(expire);
        }
        out.0
    }

    /// Reads a value of any version Kafka defines (0 to 4).
    ///
    /// # Errors
    /// [`OffsetsRecordError`] for another version or bytes that do not hold
    /// the value.
    pub fn decode(bytes: &[u8]) -> Decoded<Self> {
        let mut r = Reader::new(bytes, false);
        let version = r.i16()?;
        if !(0..=4).contains(&version) {
            return Err(OffsetsRecordError::UnknownValueVersion(version));
        }
        r.flexible = version >= 4;
        let offset = r.i64()?;
        let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
        let metadata = r.string()?;
        let commit_timestamp = r.i64()?;
        let expire_timestamp = if version == 1 { Some(r.i64()?) } else { None };
        r.tagged_fields()?;
        r.finish()?;
        Ok(OffsetCommitValue {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp,
            expire_timestamp,
        })
    }
}

impl GroupMetadataValue {
    /// The value's bytes, in version 3 (the version Kafka writes).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Writer::default();
        out.i16(GROUP_METADATA_VALUE_VERSION);
        out.string(&self.protocol_type);
        out.i32(self.generation);
        out.nullable_string(self.protocol.as_deref());
        out.nullable_string(self.leader.as_deref());
        out.i64(self.current_state_timestamp);
        out.len_i32(self.members.len());
        for m in &self.members {
            out.string(&m.member_id);
            out.nullable_string(m.group_instance_id.as_deref());
            out.string(&m.client_id);
            out.string(&m.client_host);
            out.i32(m.rebalance_timeout_ms);
            out.i32(m.session_timeout_ms);
            out.bytes(&m.subscription);
            out.bytes(&m.assignment);
        }
        out.0
    }

    /// Reads a value of any version Kafka defines (0 to 4).
    ///
    /// # Errors
    /// [`OffsetsRecordError`] for another version or bytes that do not hold
    /// the value.
    pub fn decode(bytes: &[u8]) -> Decoded<Self> {
        let mut r = Reader::new(bytes, false);
        let version = r.i16()?;
        if !(0..=4).contains(&version) {
            return Err(OffsetsRecordError::UnknownValueVersion(version));
        }
        r.flexible = version >= 4;
        let protocol_type = r.string()?;
        let generation = r.i32()?;
        let protocol = r.nullable_string()?;
        let leader = r.nullable_string()?;
        let current_state_timestamp = if version >= 2 { r.i64()? } else { -1 };
        let count = r.array_len()?;
        let mut members = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let member_id = r.string()?;
            let group_instance_id = if version >= 3 {
                r.nullable_string()?
            } else {
                None
            };
            let client_id = r.string()?;
            let client_host = r.string()?;
            let rebalance_timeout_ms = if version >= 1 { r.i32()? } else { -1 };
            let session_timeout_ms = r.i32()?;
            let subscription = r.bytes()?;
            let assignment = r.bytes()?;
            r.tagged_fields()?;
            members.push(MemberMetadata {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms,
                session_timeout_ms,
                subscription,
                assignment,
            });
        }
        r.tagged_fields()?;
        r.finish()?;
        Ok(GroupMetadataValue {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp,
            members,
        })
    }
}

/// Writes Kafka's classic (non-flexible) encoding.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn i16(&mut self, v: i16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn len_i32(&mut self, len: usize) {
        self.i32(i32::try_from(len).unwrap_or(i32::MAX));
    }
    /// A string longer than `i16::MAX` bytes is cut at a character
    /// boundary below it; callers bound what they store (group ids, topic
    /// names, metadata of at most `offset.metadata.max.bytes`).
    fn string(&mut self, s: &str) {
        let mut end = s.len().min(i16::MAX as usize);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.i16(end as i16);
        self.0.extend_from_slice(&s.as_bytes()[..end]);
    }
    fn nullable_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.i16(-1),
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len_i32(b.len());
        self.0.extend_from_slice(b);
    }
}

/// Reads Kafka's classic encoding, or the compact (flexible) one.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    flexible: bool,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], flexible: bool) -> Self {
        Reader {
            bytes,
            pos: 0,
            flexible,
        }
    }

    fn malformed(&self, reason: &'static str) -> OffsetsRecordError {
        OffsetsRecordError::Malformed {
            position: self.pos,
            reason,
        }
    }

    fn take(&mut self, n: usize) -> Decoded<&'a [u8]> {
        match self.bytes.get(self.pos..self.pos.saturating_add(n)) {
            Some(b) if self.pos.checked_add(n).is_some() => {
                self.pos += n;
                Ok(b)
            }
            _ => Err(self.malformed("ends early")),
        }
    }

    fn array<const N: usize>(&mut self) -> Decoded<[u8; N]> {
        let b = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    fn i16(&mut self) -> Decoded<i16> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    fn i32(&mut self) -> Decoded<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    fn i64(&mut self) -> Decoded<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn unsigned_varint(&mut self) -> Decoded<u32> {
        let mut value = 0u32;
        for i in 0..5 {
            let byte = self.array::<1>()?[0];
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.malformed("varint longer than 5 bytes"))
    }

    /// A length: `i16`/`i32` in the classic encoding, length + 1 as an
    /// unsigned varint in the compact one; `None` for null.
    fn length(&mut self, wide: bool) -> Decoded<Option<usize>> {
        let len: i64 = if self.flexible {
            i64::from(self.unsigned_varint()?) - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        match len {
            -1 => Ok(None),
            n if n < 0 => Err(self.malformed("negative length")),
            n => Ok(Some(n as usize)),
        }
    }

    fn nullable_string(&mut self) -> Decoded<Option<String>> {
        let Some(len) = self.length(false)? else {
            return Ok(None);
        };
        let start = self.pos;
        let bytes = self.take(len)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Some(s.to_string())),
            Err(_) => Err(OffsetsRecordError::Malformed {
                position: start,
                reason: "string is not UTF-8",
            }),
        }
    }

    fn string(&mut self) -> Decoded<String> {
        let start = self.pos;
        self.nullable_string()?
            .ok_or(OffsetsRecordError::Malformed {
                position: start,
                reason: "null where a string is required",
            })
    }

    fn bytes(&mut self) -> Decoded<Vec<u8>> {
        let start = self.pos;
        let len = self.length(true)?.ok_or(OffsetsRecordError::Malformed {
            position: start,
            reason: "null where bytes are required",
        })?;
        Ok(self.take(len)?.to_vec())
    }

    fn array_len(&mut self) -> Decoded<usize> {
        let start = self.pos;
        let len = self.length(true)?.ok_or(OffsetsRecordError::Malformed {
            position: start,
            reason: "null where an array is required",
        })?;
        // Every element takes at least one byte; a count beyond what is left
        // is damage, not a reason to allocate.
        if len > self.bytes.len() - self.pos {
            return Err(self.malformed("array count exceeds the bytes left"));
        }
        Ok(len)
    }

    /// Skips the tagged fields of a flexible struct (none are defined for
    /// these records); nothing in the classic encoding.
    fn tagged_fields(&mut self) -> Decoded<()> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.unsigned_varint()?;
        for _ in 0..count {
            self.unsigned_varint()?;
            let size = self.unsigned_varint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }

    fn finish(&self) -> Decoded<()> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(self.malformed("trailing bytes"))
        }
    }
}

/// The partition of `__consumer_offsets` that holds a group's records, as
/// Kafka picks it: `abs(hash) % partitions`, where `hash` is Java's
/// `String.hashCode` of the group id (over its UTF-16 code units, in
/// wrapping 32-bit arithmetic) and `abs(i32::MIN)` counts as 0.
///
/// ```
/// use seglog::offsets::records::partition_for_group;
/// assert_eq!(partition_for_group("my-group", 50), 12);
/// ```
///
/// `partitions` of 0 is taken as 1.
pub fn partition_for_group(group: &str, partitions: u32) -> u32 {
    let hash = java_string_hash(group);
    let abs = if hash == i32::MIN {
        0
    } else {
        hash.unsigned_abs()
    };
    abs % partitions.max(1)
}

/// Java's `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16
/// code units, wrapping.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

//! The crate's one public error type.
//!
//! Every fallible operation returns [`Result<T>`](Result). The variants carry
//! structured fields so a caller can act on them (seek elsewhere, split a
//! batch, reopen the log) rather than parse a message.

use std::io;
use std::path::{Path, PathBuf};

use crate::record::Compression;

/// Shorthand for `std::result::Result<T, seglog::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in seglog.
///
/// Library code never panics on bad input or a bad file; it returns one of
/// these instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A read or seek asked for an offset the log does not hold.
    ///
    /// `earliest` is the log start offset and `latest` the log end offset
    /// (the next offset to be written). Offsets in `earliest..=latest` are
    /// valid read positions; reading at `latest` returns nothing yet.
    /// A consumer usually resets to `earliest` or `latest` and retries.
    #[error("offset {requested} is out of range: the log holds offsets from {earliest} to {latest} (exclusive)")]
    OffsetOutOfRange {
        /// The offset that was asked for.
        requested: u64,
        /// The log start offset at the time of the call.
        earliest: u64,
        /// The log end offset at the time of the call.
        latest: u64,
    },

    /// A record batch is larger than a configured limit
    /// (`max_message_bytes`, or `segment_bytes` for a batch that could
    /// never fit into a segment). Nothing was written; split the records
    /// into smaller appends.
    #[error("record batch of {size} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge {
        /// Size of the encoded batch in bytes.
        size: u64,
        /// The limit it broke.
        max: u64,
    },

    /// A file on disk does not hold what it must: a bad CRC, a torn or
    /// garbled batch, offsets out of order, an index that does not match
    /// its log. `position` is the byte position in `path` where the problem
    /// was found.
    ///
    /// Below the recovery point this means data that was synced has been
    /// damaged; opening the log with [`RecoveryMode::TruncateCorrupt`]
    /// discards it and everything after it.
    ///
    /// [`RecoveryMode::TruncateCorrupt`]: crate::RecoveryMode::TruncateCorrupt
    #[error("corrupt file {}: at byte {position}: {reason}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte position of the problem within the file.
        position: u64,
        /// What is wrong there.
        reason: String,
    },

    /// Bytes handed in by the caller (an encoded batch to append, a batch to
    /// decode) are not a valid Kafka v2 record batch. `position` is the byte
    /// position within the given buffer. Nothing was written.
    #[error("invalid record batch at byte {position}: {reason}")]
    InvalidBatch {
        /// Byte position within the caller's buffer.
        position: u64,
        /// What is wrong there.
        reason: String,
    },

    /// A record given to an append is not acceptable (no records, a negative
    /// timestamp, ...). Nothing was written. Also the error for a consumer
    /// group's subscription or assignment bytes that do not decode, or
    /// values they cannot encode ([`ConsumerSubscription`]); `reason` names
    /// the field and byte position.
    ///
    /// [`ConsumerSubscription`]: crate::offsets::ConsumerSubscription
    #[error("invalid record: {reason}")]
    InvalidRecord {
        /// What is wrong with it.
        reason: String,
    },

    /// A record without a key was appended as the leader
    /// ([`append`](crate::PartitionLog::append),
    /// [`append_encoded`](crate::PartitionLog::append_encoded), a
    /// [`Producer`](crate::Producer)) to a log whose
    /// [cleanup policy](crate::LogConfig::cleanup_policy) compacts:
    /// compaction keeps the latest record of each key, so, as in Kafka, a
    /// compacted log takes only keyed records. Nothing of the append was
    /// written. Give every record a key, or use a log that does not
    /// compact. Control batches and replicated appends are not checked.
    #[error(
        "compacted topic cannot accept message without key: record {index} of the append has no key{}",
        .batch_position.map_or(String::new(), |p| format!(" (in the batch at byte {p})"))
    )]
    MissingKey {
        /// The first keyless record's position among the records of the
        /// append, from 0, counting across all its batches (0 for the
        /// record a producer was sent).
        index: u64,
        /// For encoded batches, the byte position within the caller's
        /// buffer of the batch that holds the record; `None` for records.
        batch_position: Option<u64>,
    },

    /// Batches with preassigned offsets (replication, tools) do not continue
    /// the log: the first offset is below the log end offset, or offsets do
    /// not strictly increase. Nothing was written.
    #[error("unexpected offset {offset}: expected an offset of at least {expected}")]
    UnexpectedOffset {
        /// The offending base offset.
        offset: u64,
        /// The smallest acceptable offset at that point.
        expected: u64,
    },

    /// A topic name is not one Kafka accepts (ASCII letters, digits, `.`,
    /// `_`, `-`; 1 to 249 characters; not `.` or `..`), as `reason` says.
    #[error("invalid topic {name:?}: {reason}")]
    InvalidTopic {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A topic of that name already exists in the store.
    #[error("topic {name:?} already exists")]
    TopicExists {
        /// The topic's name.
        name: String,
    },

    /// The store has no topic of that name.
    #[error("unknown topic {name:?}")]
    UnknownTopic {
        /// The name asked for.
        name: String,
    },

    /// The topic exists but has no such partition.
    #[error("topic {topic:?} has no partition {partition} (it has {partitions})")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has.
        partitions: u32,
    },

    /// A consumer was asked about a partition it is not assigned (Kafka's
    /// "No current assignment for partition"): `seek`, `position`, `pause`
    /// and `resume` act only on the consumer's assignment.
    #[error(
        "partition {partition} of topic {topic:?} is not assigned to this consumer; \
         assign it (or subscribe to its topic) first"
    )]
    NotAssigned {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },

    /// A partition count that cannot be applied: zero or too many for a new
    /// topic, or not more than the topic has now (partitions are never
    /// removed).
    #[error("invalid partition count {requested} for topic {topic:?}: {reason}")]
    InvalidPartitions {
        /// The topic.
        topic: String,
        /// The count asked for.
        requested: u32,
        /// Why it was refused.
        reason: String,
    },

    /// A partition of a topic the store lists has no directory: its data
    /// is gone (removed by hand, a lost disk, a restore that missed it).
    /// Opening the store fails on it rather than serve an empty partition
    /// in its place. Restore the directory, or open the store with
    /// [`StoreConfig::recreate_missing_partitions`] to have it recreated
    /// empty (for a host that copies its data back from a replica).
    ///
    /// [`StoreConfig::recreate_missing_partitions`]: crate::store::StoreConfig::recreate_missing_partitions
    #[error(
        "partition {partition} of topic {topic:?} is missing: its directory {} does not exist; \
         restore it, or open the store with StoreConfig::recreate_missing_partitions set to recreate it empty",
        path.display()
    )]
    MissingPartition {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The directory that is missing.
        path: PathBuf,
    },

    /// A configuration value is out of bounds or malformed. `field` names
    /// it as it is spelled in [`LogConfig`](crate::LogConfig), or by its
    /// Kafka name where it was given by that name
    /// ([`TopicConfig::set`](crate::TopicConfig::set)) or stands for a
    /// Kafka broker config ([`CleanerConfig`](crate::CleanerConfig):
    /// `log.cleaner.dedupe.buffer.size`, ...).
    #[error("invalid configuration value for `{field}`: {reason}")]
    InvalidConfig {
        /// The field's name.
        field: &'static str,
        /// Why the value was refused.
        reason: String,
    },

    /// A batch uses a compression codec whose cargo feature is not enabled
    /// in this build. Rebuild with the feature (`gzip`, `snappy`, `lz4`,
    /// `zstd`) to read or write it.
    #[error("compression codec {codec} is not compiled into this build; enable the `{codec}` cargo feature of seglog")]
    CompressionUnavailable {
        /// The codec that was asked for.
        codec: Compression,
    },

    /// An operating-system call failed.
    ///
    /// The library's own calls name the operation and the file. An
    /// [`io::Error`] converted with `From` (so that `?` works on one in a
    /// function returning this crate's [`Result`]) has
    /// [`IO_OP`](Error::IO_OP) as its operation and an empty path.
    #[error("{}", io_message(op, path, source))]
    Io {
        /// The operation, e.g. `"write"` or `"fsync"`.
        op: &'static str,
        /// The file or directory it was applied to; empty when not known.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// An earlier write or fsync failed, so the log no longer knows what is
    /// on disk and refuses further writes. Reads still work (bytes that
    /// could not even be handed to the OS are not served). Close and reopen
    /// the log: recovery re-establishes a consistent state. An append that
    /// failed with [`Error::Io`] may or may not be in the log.
    #[error("the log refuses writes after an earlier I/O failure ({cause}); reopen it")]
    Poisoned {
        /// The failure that poisoned the log.
        cause: String,
    },

    /// The directory is locked by another open log or store, in this
    /// process or in another one: a log's directory by a log writing it or
    /// by the open store (or Kafka broker) whose directory holds it; a
    /// store's directory by another store, or by a log writing one of its
    /// partitions on its own, in which case `path` names that partition.
    /// Opening read-only takes no lock: to read a store that another
    /// process has open, open it with
    /// [`LogStore::open_read_only`](crate::LogStore::open_read_only) (a
    /// single log with
    /// [`OpenOptions::read_only`](crate::OpenOptions::read_only)).
    #[error(
        "{} is already in use by another open log or store; to read it beside the process \
         that has it open, open it with LogStore::open_read_only \
         (OpenOptions::read_only for a single log)",
        path.display()
    )]
    Locked {
        /// The locked directory.
        path: PathBuf,
    },

    /// The log or store was opened read-only (to look at a directory
    /// another process may be writing), and the call would change it.
    #[error("{} is open read-only", path.display())]
    ReadOnly {
        /// The log's or store's directory.
        path: PathBuf,
    },

    /// The log was closed (by [`PartitionLog::close`], by the store it
    /// belongs to closing, or by the deletion of its topic); the handle
    /// can no longer be used. Calls on a closed store itself, and on its
    /// producers and consumers, fail with [`Error::StoreClosed`] instead;
    /// [`is_closed`](Error::is_closed) is true for both.
    ///
    /// [`PartitionLog::close`]: crate::PartitionLog::close
    #[error("the log is closed")]
    Closed,

    /// The store was closed ([`LogStore::close`], or its last handle
    /// dropped); neither it nor its producers and consumers can be used
    /// any more. Reopen the directory to go on.
    /// [`is_closed`](Error::is_closed) is true for this and
    /// [`Error::Closed`].
    ///
    /// [`LogStore::close`]: crate::LogStore::close
    #[error("the store {} is closed", path.display())]
    StoreClosed {
        /// The store's directory.
        path: PathBuf,
    },

    /// A blocked [`Consumer::poll`](crate::Consumer::poll) was interrupted
    /// by [`ConsumerWaker::wakeup`](crate::store::ConsumerWaker::wakeup)
    /// (Kafka's `WakeupException`), or the wakeup came before the poll.
    /// Nothing was consumed: the positions are where they were. The
    /// consumer is fine to use; the next poll waits as usual.
    #[error("the consumer was woken up")]
    Wakeup,

    /// A role change or a replica's request carried a leader epoch older
    /// than the partition's (Kafka's `FENCED_LEADER_EPOCH`): it comes from
    /// a deposed leader or a stale controller decision, and was refused.
    #[error("leader epoch {epoch} is fenced: the partition is at epoch {current}")]
    Fenced {
        /// The epoch given.
        epoch: i32,
        /// The partition's current leader epoch.
        current: i32,
    },

    /// A request carried a leader epoch newer than the partition knows
    /// (Kafka's `UNKNOWN_LEADER_EPOCH`): the host has not yet told this
    /// replica about the change. Retry after the role change arrives.
    #[error("leader epoch {epoch} is unknown: the partition is at epoch {current}")]
    UnknownLeaderEpoch {
        /// The epoch given.
        epoch: i32,
        /// The partition's current leader epoch.
        current: i32,
    },

    /// A leader's operation (an append as leader, a follower's fetch) on a
    /// replica that is not the partition's leader (Kafka's
    /// `NOT_LEADER_OR_FOLLOWER`). Nothing was written.
    #[error("this replica is not the leader{}", .leader.map_or(String::new(), |l| format!(" (replica {l} is)")))]
    NotLeader {
        /// The leader this replica follows, when it follows one.
        leader: Option<i32>,
    },

    /// A follower fetch from a replica id the partition's assignment does
    /// not hold (Kafka answers such a fetch with `NOT_LEADER_OR_FOLLOWER`).
    #[error("replica {replica} is not assigned to this partition")]
    UnknownReplica {
        /// The id given.
        replica: i32,
    },

    /// An `acks=all` append was refused before anything was written: the
    /// in-sync replica set is smaller than `min.insync.replicas` (Kafka's
    /// `NOT_ENOUGH_REPLICAS`).
    #[error("not enough in-sync replicas: {isr} of at least {min_insync}")]
    NotEnoughReplicas {
        /// The size of the ISR.
        isr: usize,
        /// The required size.
        min_insync: usize,
    },

    /// An `acks=all` append was written to the leader's log, but the
    /// in-sync replica set shrank below `min.insync.replicas` before the
    /// high watermark passed it (Kafka's
    /// `NOT_ENOUGH_REPLICAS_AFTER_APPEND`). The records are in the log and
    /// may still be replicated; they were not acknowledged.
    #[error("records up to offset {last_offset} were appended, but the ISR shrank to {isr} (at least {min_insync} needed)")]
    NotEnoughReplicasAfterAppend {
        /// The last offset of the append.
        last_offset: u64,
        /// The size of the ISR.
        isr: usize,
        /// The required size.
        min_insync: usize,
    },

    /// Waiting for replication timed out (Kafka's `REQUEST_TIMED_OUT`):
    /// the records are in the leader's log but the high watermark had not
    /// passed them yet. They may still be replicated.
    #[error("timed out waiting for the high watermark to pass offset {last_offset} (it is at {high_watermark})")]
    ReplicationTimeout {
        /// The last offset of the append.
        last_offset: u64,
        /// The high watermark when the wait ended.
        high_watermark: u64,
    },

    /// A leader epoch that is not valid where it was given (negative).
    #[error("invalid leader epoch {epoch}")]
    InvalidLeaderEpoch {
        /// The epoch given.
        epoch: i32,
    },

    /// The group coordinator refused a consumer-group request (a join, a
    /// heartbeat, an offset commit, an administrative change), for the
    /// reason `kind` names. Nothing of the request was written.
    /// [`GroupErrorKind::kafka_code`] gives Kafka's error code for it.
    #[error("consumer group {group:?}: {kind}")]
    Group {
        /// The group the request was for.
        group: String,
        /// Why it was refused.
        kind: GroupErrorKind,
    },
}

/// Why the group coordinator refused a request, as Kafka's error codes
/// name the reasons (see [`Error::Group`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum GroupErrorKind {
    /// The group id is empty (`INVALID_GROUP_ID`).
    #[error("the group id is not valid")]
    InvalidGroupId,
    /// The member id is not a member of the group, or no longer one: it
    /// left, or its session expired (`UNKNOWN_MEMBER_ID`). Rejoin.
    #[error("unknown member id")]
    UnknownMemberId,
    /// A request carried a generation other than the group's current one:
    /// a rebalance has happened since the member last joined
    /// (`ILLEGAL_GENERATION`). Rejoin.
    #[error("illegal generation: the group has rebalanced since")]
    IllegalGeneration,
    /// The group is rebalancing; rejoin before committing or heartbeating
    /// again (`REBALANCE_IN_PROGRESS`).
    #[error("the group is rebalancing")]
    RebalanceInProgress,
    /// The member's protocol type or assignment protocols share nothing with
    /// the group's (`INCONSISTENT_GROUP_PROTOCOL`).
    #[error("the member's protocols are inconsistent with the group's")]
    InconsistentGroupProtocol,
    /// The session timeout is outside the coordinator's bounds
    /// (`INVALID_SESSION_TIMEOUT`).
    #[error("the session timeout is outside the allowed range")]
    InvalidSessionTimeout,
    /// A new member must rejoin with the member id the coordinator gave it
    /// (`MEMBER_ID_REQUIRED`).
    #[error("a member id is required: rejoin with the one given")]
    MemberIdRequired,
    /// Another member with the same `group.instance.id` has replaced this
    /// one (`FENCED_INSTANCE_ID`).
    #[error("fenced by a newer member with the same group instance id")]
    FencedInstanceId,
    /// The group does not exist (`GROUP_ID_NOT_FOUND`).
    #[error("the group does not exist")]
    GroupIdNotFound,
    /// The operation needs a group without members (`NON_EMPTY_GROUP`).
    #[error("the group still has members")]
    NonEmptyGroup,
    /// The group has reached its maximum size (`GROUP_MAX_SIZE_REACHED`).
    #[error("the group has reached its maximum size")]
    GroupMaxSizeReached,
    /// A commit's metadata string is longer than
    /// `offset.metadata.max.bytes` (`OFFSET_METADATA_TOO_LARGE`).
    #[error("the offset metadata is too large")]
    OffsetMetadataTooLarge,
    /// A member committed an offset for a partition the group's current
    /// assignment does not give it. Kafka's classic coordinator has no code
    /// for this; it is reported as `ILLEGAL_GENERATION` on the wire.
    #[error("the partition is not assigned to this member")]
    PartitionNotAssigned,
}

impl GroupErrorKind {
    /// Kafka's protocol error code for this reason.
    pub fn kafka_code(self) -> i16 {
        match self {
            GroupErrorKind::InvalidGroupId => 24,
            GroupErrorKind::UnknownMemberId => 25,
            GroupErrorKind::IllegalGeneration | GroupErrorKind::PartitionNotAssigned => 22,
            GroupErrorKind::RebalanceInProgress => 27,
            GroupErrorKind::InconsistentGroupProtocol => 23,
            GroupErrorKind::InvalidSessionTimeout => 26,
            GroupErrorKind::MemberIdRequired => 79,
            GroupErrorKind::FencedInstanceId => 82,
            GroupErrorKind::GroupIdNotFound => 69,
            GroupErrorKind::NonEmptyGroup => 68,
            GroupErrorKind::GroupMaxSizeReached => 81,
            GroupErrorKind::OffsetMetadataTooLarge => 12,
        }
    }
}

/// `io::Error` into [`Error::Io`], for `?` in an application's functions
/// that return this crate's [`Result`]. The operation reads
/// [`Error::IO_OP`] and the path is empty: the error itself says nothing
/// of them. (The library names both for its own calls.)
///
/// ```
/// use std::io::Write;
///
/// fn save(store: &seglog::LogStore, out: &mut impl Write) -> seglog::Result<()> {
///     for topic in store.list_topics() {
///         writeln!(out, "{topic}")?;
///     }
///     Ok(())
/// }
/// # let dir = tempfile::tempdir()?;
/// # let store = seglog::LogStore::open(dir.path(), Default::default())?;
/// # store.create_topic("t", 1, &[])?;
/// # let mut out = Vec::new();
/// # save(&store, &mut out)?;
/// # assert_eq!(out, b"t\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl From<io::Error> for Error {
    fn from(source: io::Error) -> Self {
        Error::Io {
            op: Error::IO_OP,
            path: PathBuf::new(),
            source,
        }
    }
}

/// The message of [`Error::Io`]: the operation, the path where there is
/// one, and the cause.
fn io_message(op: &str, path: &Path, source: &io::Error) -> String {
    if path.as_os_str().is_empty() {
        format!("{op}: {source}")
    } else {
        format!("{op} {}: {source}", path.display())
    }
}

impl Error {
    /// The operation of an [`Error::Io`] converted from a bare
    /// [`io::Error`] (`From`), which names none.
    pub const IO_OP: &'static str = "I/O";

    /// Whether this says a handle can no longer be used because what it
    /// belongs to was closed: [`Error::Closed`] (a log) or
    /// [`Error::StoreClosed`] (a store, its producers and consumers).
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed | Error::StoreClosed { .. })
    }

    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, position: u64, reason: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.to_path_buf(),
            position,
            reason: reason.into(),
        }
    }

    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }

    /// A copy of the error, for handing one failure to several waiters
    /// (an I/O error keeps its kind and message).
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::OffsetOutOfRange {
                requested,
                earliest,
                latest,
            } => Error::OffsetOutOfRange {
                requested: *requested,
                earliest: *earliest,
                latest: *latest,
            },
            Error::RecordTooLarge { size, max } => Error::RecordTooLarge {
                size: *size,
                max: *max,
            },
            Error::Corrupt {
                path,
                position,
                reason,
            } => Error::corrupt(path, *position, reason.clone()),
            Error::InvalidBatch { position, reason } => Error::InvalidBatch {
                position: *position,
                reason: reason.clone(),
            },
            Error::InvalidRecord { reason } => Error::invalid_record(reason.clone()),
            Error::MissingKey {
                index,
                batch_position,
            } => Error::MissingKey {
                index: *index,
                batch_position: *batch_position,
            },
            Error::UnexpectedOffset { offset, expected } => Error::UnexpectedOffset {
                offset: *offset,
                expected: *expected,
            },
            Error::InvalidTopic { name, reason } => Error::InvalidTopic {
                name: name.clone(),
                reason: reason.clone(),
            },
            Error::TopicExists { name } => Error::TopicExists { name: name.clone() },
            Error::UnknownTopic { name } => Error::UnknownTopic { name: name.clone() },
            Error::NotAssigned { topic, partition } => Error::NotAssigned {
                topic: topic.clone(),
                partition: *partition,
            },
            Error::UnknownPartition {
                topic,
                partition,
                partitions,
            } => Error::UnknownPartition {
                topic: topic.clone(),
                partition: *partition,
                partitions: *partitions,
            },
            Error::InvalidPartitions {
                topic,
                requested,
                reason,
            } => Error::InvalidPartitions {
                topic: topic.clone(),
                requested: *requested,
                reason: reason.clone(),
            },
            Error::MissingPartition {
                topic,
                partition,
                path,
            } => Error::MissingPartition {
                topic: topic.clone(),
                partition: *partition,
                path: path.clone(),
            },
            Error::InvalidConfig { field, reason } => Error::config(field, reason.clone()),
            Error::CompressionUnavailable { codec } => {
                Error::CompressionUnavailable { codec: *codec }
            }
            Error::Io { op, path, source } => {
                Error::io(op, path, io::Error::new(source.kind(), source.to_string()))
            }
            Error::Poisoned { cause } => Error::Poisoned {
                cause: cause.clone(),
            },
            Error::Locked { path } => Error::Locked { path: path.clone() },
            Error::ReadOnly { path } => Error::ReadOnly { path: path.clone() },
            Error::Closed => Error::Closed,
            Error::StoreClosed { path } => Error::StoreClosed { path: path.clone() },
            Error::Wakeup => Error::Wakeup,
            Error::Fenced { epoch, current } => Error::Fenced {
                epoch: *epoch,
                current: *current,
            },
            Error::UnknownLeaderEpoch { epoch, current } => Error::UnknownLeaderEpoch {
                epoch: *epoch,
                current: *current,
            },
            Error::NotLeader { leader } => Error::NotLeader { leader: *leader },
            Error::UnknownReplica { replica } => Error::UnknownReplica { replica: *replica },
            Error::NotEnoughReplicas { isr, min_insync } => Error::NotEnoughReplicas {
                isr: *isr,
                min_insync: *min_insync,
            },
            Error::NotEnoughReplicasAfterAppend {
                last_offset,
                isr,
                min_insync,
            } => Error::NotEnoughReplicasAfterAppend {
                last_offset: *last_offset,
                isr: *isr,
                min_insync: *min_insync,
            },
            Error::ReplicationTimeout {
                last_offset,
                high_watermark,
            } => Error::ReplicationTimeout {
                last_offset: *last_offset,
                high_watermark: *high_watermark,
            },
            Error::InvalidLeaderEpoch { epoch } => Error::InvalidLeaderEpoch { epoch: *epoch },
            Error::Group { group, kind } => Error::Group {
                group: group.clone(),
                kind: *kind,
            },
        }
    }

    pub(crate) fn group(group: &str, kind: GroupErrorKind) -> Self {
        Error::Group {
            group: group.to_string(),
            kind,
        }
    }

    pub(crate) fn invalid_record(reason: impl Into<String>) -> Self {
        Error::InvalidRecord {
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_missing() -> Result<Vec<u8>> {
        Ok(std::fs::read("/no/such/seglog/file")?)
    }

    #[test]
    fn an_io_error_converts_with_question_mark() {
        match read_missing() {
            Err(Error::Io { op, path, source }) => {
                assert_eq!(op, Error::IO_OP);
                assert!(path.as_os_str().is_empty());
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
        let e = Error::from(io::Error::other("disk on fire"));
        assert_eq!(e.to_string(), "I/O: disk on fire");
        // The library's own errors still name the operation and path.
        let e = Error::io("fsync", Path::new("/d/f"), io::Error::other("no"));
        assert_eq!(e.to_string(), "fsync /d/f: no");
        // The cause stays reachable.
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("no"));
    }

    #[test]
    fn closed_logs_and_closed_stores_are_told_apart() {
        let store = Error::StoreClosed {
            path: PathBuf::from("/data"),
        };
        assert_eq!(store.to_string(), "the store /data is closed");
        assert_eq!(Error::Closed.to_string(), "the log is closed");
        assert!(store.is_closed() && Error::Closed.is_closed());
        assert!(!Error::Wakeup.is_closed());
        assert!(
            matches!(store.duplicate(), Error::StoreClosed { path } if path == Path::new("/data"))
        );
        assert!(matches!(Error::Wakeup.duplicate(), Error::Wakeup));
    }

    #[test]
    fn a_locked_directory_points_readers_to_read_only_opens() {
        let e = Error::Locked {
            path: PathBuf::from("/data"),
        };
        let message = e.to_string();
        assert!(message.starts_with("/data is already in use"), "{message}");
        assert!(message.contains("LogStore::open_read_only"), "{message}");
    }
}

//! Kafka's storage layer as an embeddable, synchronous Rust library.
//!
//! seglog stores topics the way a Kafka broker does: a data directory of
//! partitions, each an append-only log of segments, each segment a `.log`
//! file of record batches (format v2) with a sparse `.index` and
//! `.timeindex`, named by base offset. The files are byte-compatible with
//! Kafka's, so batches go from a file to a socket unchanged and Kafka's own
//! tools can read what seglog writes. The application links the library in
//! and calls it; there is no server and no network.
//!
//! # From a topic to a consumer
//!
//! A [`LogStore`] is one data directory. Topics are created with a
//! partition count and Kafka's config keys as overrides; a [`Producer`]
//! routes records to partitions as Kafka's Java client does (by the
//! murmur2 hash of the key, else sticky) and batches them per partition; a
//! [`Consumer`] is assigned partitions and polls them from its positions.
//!
//! ```
//! use std::time::Duration;
//! use seglog::store::{
//!     AutoOffsetReset, ConsumerConfig, LogStore, ProducerConfig, ProducerRecord, StoreConfig,
//! };
//!
//! let dir = tempfile::tempdir()?;
//! let store = LogStore::open(dir.path(), StoreConfig::default())?;
//!
//! // A topic of three partitions whose records are kept for a week.
//! store.create_topic("orders", 3, &[("retention.ms", "604800000")])?;
//!
//! // Records with the same key go to the same partition, in order. `send`
//! // batches (a batch is appended once full, or 5 ms after its first
//! // record); `wait` (or `flush`) appends it now and gives the offset.
//! let producer = store.producer(ProducerConfig::default());
//! let created = producer.send(ProducerRecord::new("orders", "created").with_key("order-1"))?;
//! let paid = producer.send(ProducerRecord::new("orders", "paid").with_key("order-1"))?;
//! let (created, paid) = (created.wait()?, paid.wait()?);
//! assert_eq!(created.partition, paid.partition);
//! assert_eq!(paid.offset, created.offset + 1);
//!
//! // A consumer reads the whole topic from the beginning. `poll` waits
//! // up to its timeout for records to arrive.
//! let mut consumer = store.consumer(ConsumerConfig {
//!     auto_offset_reset: AutoOffsetReset::Earliest,
//!     ..ConsumerConfig::default()
//! });
//! consumer.assign_topic("orders")?;
//! let records = consumer.poll(Duration::from_secs(1))?;
//! let values: Vec<&[u8]> = records.iter().filter_map(|r| r.value.as_deref()).collect();
//! assert_eq!(values, [&b"created"[..], &b"paid"[..]]);
//! assert_eq!(consumer.position(("orders", paid.partition))?, paid.offset + 1);
//!
//! // Compaction of compacted topics, retention, time-based flushes and
//! // deleted files, for every partition, now; the store also runs this on
//! // its own thread every `StoreConfig::retention_check_interval`.
//! let report = store.maintain()?;
//! assert!(report.errors.is_empty());
//! store.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! One process opens a store for writing (it holds a lock). Others, or
//! tools, may read it meanwhile with [`LogStore::open_read_only`]: no
//! lock, nothing written, consumers that pick up what the writer appends,
//! and damage reported as an error, never skipped.
//!
//! # One partition
//!
//! Under the store, a [`PartitionLog`] is one partition directory, usable
//! on its own:
//!
//! ```
//! use seglog::{Durability, LogConfig, PartitionLog, Record};
//!
//! let dir = tempfile::tempdir()?;
//! let log = PartitionLog::open(dir.path().join("orders-0"), LogConfig::default())?;
//!
//! // Append: offsets are assigned from the log end offset.
//! let info = log.append(&[
//!     Record::new("created").with_key("order-1"),
//!     Record::new("paid").with_key("order-1"),
//! ])?;
//! assert_eq!((info.first_offset, info.last_offset), (0, 1));
//!
//! // Make it survive a power loss.
//! log.append_with(&[Record::new("shipped").with_key("order-1")], Durability::Sync)?;
//!
//! // Read back: whole batches from an offset, decoded on demand.
//! let values: Vec<Vec<u8>> = log
//!     .iter(1)
//!     .map(|r| r.map(|r| r.value.unwrap_or_default()))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(values, [b"paid".to_vec(), b"shipped".to_vec()]);
//!
//! // One record by offset: owned, or borrowed from a reader kept for
//! // many such reads.
//! let shipped = log.read_record(2)?.and_then(|r| r.value);
//! assert_eq!(shipped.as_deref(), Some(&b"shipped"[..]));
//! let mut reader = log.reader(0);
//! let created = reader.record_at(0)?.and_then(|r| r.value);
//! assert_eq!(created, Some(&b"created"[..]));
//!
//! // The same read as file ranges, for sendfile-style zero-copy.
//! let fetch = log.read(0, 1 << 20)?;
//! assert_eq!(fetch.next_offset(), 3);
//! log.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Compacted logs
//!
//! A log whose `cleanup_policy` compacts keeps the latest record of every
//! key (Kafka's `cleanup.policy=compact`): a change log or a table whose
//! size follows the number of keys, not the number of updates.
//! [`compaction`] has the rules and the guarantees.
//!
//! ```
//! use seglog::topic::CleanupPolicy;
//! use seglog::{Clock, LogConfig, PartitionLog, Record, SystemClock};
//!
//! let dir = tempfile::tempdir()?;
//! let config = LogConfig {
//!     cleanup_policy: CleanupPolicy::Compact,
//!     ..LogConfig::default()
//! };
//! let log = PartitionLog::open(dir.path().join("users-0"), config)?;
//! log.append(&[Record::new("alice@old").with_key("alice")])?;
//! log.append(&[Record::new("bob@home").with_key("bob")])?;
//! log.append(&[Record::new("alice@new").with_key("alice")])?;
//! log.append(&[Record::tombstone("bob")])?;
//! // Only closed segments are compacted.
//! log.roll()?;
//! log.append(&[Record::new("carol@work").with_key("carol")])?;
//!
//! let round = log.compact(SystemClock.now_ms())?;
//! assert_eq!(round.records_dropped, 2);
//! // Offsets never change; the latest record of every key stays, and the
//! // tombstone until `delete_retention_ms` after this round.
//! let left: Vec<u64> = log.iter(0).map(|r| r.map(|r| r.offset)).collect::<Result<_, _>>()?;
//! assert_eq!(left, [2, 3, 4]);
//!
//! // A record without a key has no place in a compacted log.
//! assert!(log.append(&[Record::new("anonymous")]).is_err());
//! log.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Consumer groups
//!
//! Consumers with a [`group_id`](ConsumerConfig::group_id) commit their
//! positions to the internal topic `__consumer_offsets`, as Kafka stores
//! them, and start from them; consumers that
//! [`subscribe`](Consumer::subscribe) share the topics' partitions as
//! members of their group, through Kafka's classic group protocol
//! ([`offsets`] has the pieces). Processing what `poll` returned and then
//! committing gives at-least-once delivery: after a crash, only records
//! returned since the last commit come again.
//!
//! ```
//! use std::time::Duration;
//! use seglog::{AutoOffsetReset, ConsumerConfig, LogStore, ProducerConfig, ProducerRecord, StoreConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let mut config = StoreConfig::default();
//! config.groups.group_initial_rebalance_delay_ms = 0;
//! let store = LogStore::open(dir.path(), config)?;
//! store.create_topic("jobs", 2, &[])?;
//! let producer = store.producer(ProducerConfig::default());
//! for job in ["a", "b", "c"] {
//!     producer.send(ProducerRecord::new("jobs", job))?.wait()?;
//! }
//!
//! let config = ConsumerConfig {
//!     group_id: Some("workers".into()),
//!     auto_offset_reset: AutoOffsetReset::Earliest,
//!     enable_auto_commit: false,
//!     ..ConsumerConfig::default()
//! };
//! let mut worker = store.consumer(config.clone());
//! worker.subscribe(&["jobs"])?;
//! let jobs = worker.poll(Duration::from_secs(1))?;
//! assert_eq!(worker.assignment().len(), 2); // the only member has both
//! assert_eq!(jobs.len(), 3);
//! worker.commit_sync()?; // after processing them
//! worker.close()?;
//!
//! // The next member of the group starts after the committed records.
//! let mut next = store.consumer(config);
//! next.subscribe(&["jobs"])?;
//! assert!(next.poll(Duration::from_millis(100))?.is_empty());
//! let lag: u64 = store.describe_group("workers")?.partitions.iter().filter_map(|p| p.lag).sum();
//! assert_eq!(lag, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What it is and is not
//!
//! * A [`LogStore`] is a data directory of topics: creating, growing and
//!   deleting topics crash-safely, producers, consumers, consumer groups
//!   with committed offsets, retention by time and size,
//!   `delete_records`, and maintenance.
//! * A [`PartitionLog`] is one partition directory: appends (records,
//!   producer-encoded batches, or batches with preassigned offsets for
//!   replication), reads by offset and by time, rolling, truncation, the
//!   log start offset, durability and crash recovery, and key-based
//!   compaction ([`compaction`]).
//! * [`record`] encodes and decodes Kafka v2 record batches, with gzip,
//!   snappy, lz4 and zstd as cargo features.
//! * [`inspect`] reads and verifies a partition directory without changing
//!   it, as Kafka's `DumpLogSegments` does.
//! * [`replication`] makes a partition one replica of several, led or
//!   following as the host says: leader epochs, the high watermark over
//!   the in-sync replicas, `acks=all`, and a follower's truncation where
//!   its log diverged. The host moves fetch requests and answers between
//!   replicas over its own transport ([`replication::Follower`] runs the
//!   loop over a [`replication::LeaderLink`] the host writes), and elects
//!   leaders.
//! * It is not a broker: it speaks no wire protocol. A store opened for
//!   writing runs a maintenance thread for retention and compaction
//!   ([`StoreConfig::background_maintenance`] turns it off). A host
//!   application drives it, and owns the transport.
//!
//! # Guarantees
//!
//! * **Ordering.** Offsets are assigned in append order and never reused
//!   while the log is open; a batch is visible to readers whole or not at
//!   all.
//! * **Durability.** Each append says how far it goes ([`Durability`]): an
//!   append with [`Durability::Sync`] is on stable storage when it returns
//!   and survives any crash; [`Durability::Flush`] (the default) survives a
//!   crash of the process but not of the machine; [`Durability::None`]
//!   survives neither until the log is flushed. What survives a crash is
//!   always a valid log: every record present is exactly as appended.
//! * **Recovery.** After a crash, opening re-reads only what was written
//!   since the last fsync, cuts off a torn tail there, and refuses (by
//!   default) to discard anything that had been synced. The exact protocol
//!   is in the [`log`] module's docs.
//! * **Bad input** (a corrupt file, a malformed batch, an offset out of
//!   range, a bad config value) is an [`Error`] naming what and where;
//!   seglog does not panic on it.
//!
//! # Limits
//!
//! * Segments are at most 2 GiB − 1 (index positions are 32-bit), and
//!   offsets within a segment span at most 2³¹ − 1, as in Kafka.
//! * One writer per partition at a time, against other opens in this
//!   process and in other processes: a store's directory is locked by the
//!   open store (which covers its partitions, without a lock file each),
//!   and a partition directory opened on its own by the open log, which
//!   also shares the lock of the directory holding it if that directory
//!   has one. So a log cannot write a partition of an open store, nor a
//!   store open while a log writes one of its partitions.
//! * Only record batch format v2 (Kafka 0.11 and later) is read; older
//!   message formats are reported as unsupported.
//! * Batches decompress to at most 256 MiB.
//!
//! # Cargo features
//!
//! * `gzip`, `snappy`, `lz4` (default) and `zstd`: Kafka's compression
//!   codecs. Reading the records of a batch in a codec that is not
//!   compiled in fails with [`Error::CompressionUnavailable`]; its bytes
//!   are still fetched unchanged.
//! * `cli`: the `seglog` command-line tool.
//! * `testing`: the seams the crate's own tests use, made public: the
//!   in-memory file system with fault injection and power loss
//!   (`io::MemFs`, `Fault`, `FsCall`, `FsOp`, `CrashMode`), the manual
//!   clock (`ManualClock`), `store::StoreOptions` (a store on another file
//!   system or clock), and the pure planners' steps
//!   (`retention::plan`, `compaction::cleanable_section` and the offset
//!   map). Not for applications: these may change in any release.
//!
//! # Design decisions
//!
//! * **One I/O seam.** Every file-system call goes through [`io::Fs`]; the
//!   in-memory `io::MemFs` of the `testing` feature simulates power loss
//!   and injects faults for tests.
//! * **Injected time.** Time comes from a [`Clock`], so rolling by age and
//!   flushing by time are testable.
//! * **Few threads, each named and switchable.** Work Kafka does in the
//!   background (flushing rolled segments, retention, compaction) is also
//!   exposed as calls a host can make from its own threads, such as
//!   [`LogStore::maintain`] and [`PartitionLog::sync_sealed`]. A writable
//!   store runs them on one maintenance thread unless
//!   [`StoreConfig::background_maintenance`] is off; a [`PartitionLog`]
//!   opened on its own runs no thread.
//! * **Index entries per batch**, as Kafka does since 4.1: every entry
//!   names the last offset of the batch at its position, which Kafka's
//!   `DumpLogSegments` verifies.
//! * **Active indexes in memory.** The active segment's index entries are
//!   kept in memory and written into the index files when the segment is
//!   sealed or closed (a log nothing was written to leaves its files
//!   untouched); closed segments' indexes are memory-mapped
//!   lazily. The files on disk are Kafka's either way.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
// Library code returns errors; tests may unwrap.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod aligned;
mod checkpoint;
pub mod clock;
pub mod compaction;
pub mod config;
pub mod error;
pub mod inspect;
pub mod io;
pub mod log;
pub mod offsets;
mod poison;
pub mod record;
pub mod replication;
pub mod retention;
mod segment;
pub mod store;
pub mod topic;

#[cfg(any(test, feature = "testing"))]
pub use clock::ManualClock;
pub use clock::{Clock, SystemClock};
pub use compaction::{CleanableSection, CompactOptions, CompactionOutcome, DueReason};
pub use config::{CleanupPolicy, Durability, LogConfig, RecoveryMode};
pub use error::{Error, GroupErrorKind, Result};
pub use log::{
    AppendInfo, CheckpointField, CheckpointMismatch, CrcCheck, FetchData, FileSlice, LogIter,
    LogReader, OpenOptions, PartitionLog, ReadBatch, RecoveryReport, RetentionOutcome,
    SegmentDamage, SegmentInfo, TimestampLookup, Truncation,
};
pub use offsets::{GroupsConfig, OffsetAndMetadata};
pub use record::{
    AsRecord, BatchBuilder, BatchHeader, Compression, Header, LogRecord, Record, RecordBatch,
    RecordRef, RecordView, TimestampType,
};
pub use replication::{Acks, ReplicatedPartition, ReplicationConfig};
pub use retention::{DeleteReason, RetentionPolicy};
#[cfg(any(test, feature = "testing"))]
pub use store::StoreOptions;
pub use store::{
    AutoOffsetReset, CleanerConfig, Consumer, ConsumerConfig, ConsumerGroupDescription,
    ConsumerGroupListing, ConsumerGroupMember, ConsumerRebalanceListener, ConsumerRecord,
    ConsumerRecordRef, ConsumerWaker, Delivery, LogStore, MaintenanceReport, OffsetResetSpec,
    PartitionCompaction, PartitionDescription, PartitionError, PartitionLag, Producer,
    ProducerConfig, ProducerRecord, RecordMetadata, StoreConfig, StoreOpenReport, TopicDescription,
    TopicPartition,
};
pub use topic::TopicConfig;

//! Key-based log compaction: Kafka's log cleaner.
//!
//! A log whose cleanup policy compacts (`cleanup.policy=compact` or
//! `compact,delete`) keeps, in the long run, at least the latest record of
//! every key. A compaction round ([`PartitionLog::compact`]) maps the
//! latest offset of each key in the log's *dirty* section (what was
//! appended since the last round) and rewrites the older segments without
//! the records that a later record of the same key supersedes.
//!
//! # What compaction guarantees
//!
//! * **The latest record of every key stays**, whatever it is: a value or
//!   a tombstone (a record with a key and no value). Reading the log from
//!   the start and applying records in order gives the same key -> value
//!   map before and after a round.
//! * **Offsets never change.** Records keep their offsets; a compacted log
//!   has gaps, which every reader skips. A batch whose later records were
//!   removed keeps its last offset, so a consumer's position moves past it.
//! * **Nothing at or above the first uncleanable offset changes**: the
//!   active segment, records younger than `min.compaction.lag.ms` (by
//!   their segment's newest timestamp), and anything above the high
//!   watermark are left as they are.
//! * **Tombstones live for `delete.retention.ms`** after the round that
//!   first kept them as the latest record of their key (KIP-534): that
//!   round stamps the batch with a delete horizon, `now +
//!   delete.retention.ms`, and a round after the horizon removes them. A
//!   consumer that reads the whole log within that time sees the delete.
//! * **Crash safety**: a round writes new segments beside the old ones and
//!   swaps them in with renames; an open after a crash or power loss at
//!   any point finds, for every part of the log, either its old or its new
//!   segments, never a mix that loses the latest record of a key.
//! * **Bounded memory**: the offset map takes a fixed amount of memory
//!   ([`CompactOptions::dedupe_buffer_bytes`], Kafka's
//!   `log.cleaner.dedupe.buffer.size`, 128 MiB by default) whatever the
//!   number of keys. When it fills, the round cleans what it mapped and
//!   the next round continues from there.
//!
//! # When it runs
//!
//! [`PartitionLog::compact`] runs a round at once. A store's maintenance
//! (`LogStore::maintain`, `LogStore::start_maintenance`) runs rounds on
//! the logs that are due: whose cleanable ratio, dirty bytes over clean
//! plus dirty bytes, passes `min.cleanable.dirty.ratio`, or whose oldest
//! dirty segment waited longer than `max.compaction.lag.ms`, the filthiest
//! first. The active segment of a compacted log rolls after
//! `min(segment.ms, max.compaction.lag.ms)` so that its records become
//! cleanable in time.
//!
//! # The rules of a round
//!
//! * The dirty section runs from the cleaner checkpoint (the end of the
//!   last round, or the log start offset; a truncation below it lowers it
//!   to the base offset of the segment cut) to the first uncleanable
//!   offset, rounded down to a segment boundary (`cleanable_section`).
//! * Every segment below the end of what was mapped, clean and dirty
//!   alike, is rewritten, in groups of consecutive segments that fit one
//!   segment (`group_segments`), each group into one new segment named
//!   after its first base offset.
//! * A record is kept if it lies beyond what was mapped; otherwise a
//!   record without a key is dropped, one below the latest offset of its
//!   key is dropped, and a tombstone is dropped once its batch's delete
//!   horizon has passed.
//! * A batch whose records all stay is copied byte for byte. Otherwise it
//!   is rebuilt with the same base offset, last offset, producer id, epoch
//!   and sequence, codec, timestamp type and leader epoch; every record
//!   keeps its offset and timestamp.
//! * The last batch of each group, and the last batch of a producer that
//!   wrote within `producer.id.expiration.ms` (one day), are kept even
//!   when no record of theirs stays (as a 61-byte empty batch), so the log
//!   keeps its offsets' extent and producers their sequence numbers.
//! * Every batch a round reads has its CRC checked, once (Kafka's cleaner
//!   checks none): the dirty section's as it is mapped, the others as
//!   they are rewritten. Damage, or records out of offset order within a
//!   batch, fail the round with [`Error::Corrupt`](crate::Error::Corrupt)
//!   and change nothing, rather than let a damaged key hide the latest
//!   record of another, or give damaged records a valid CRC. A batch of
//!   the dirty section none of whose records is the latest of its key is
//!   then dropped with only its header read again.
//!   Control batches are copied as they are.
//!
//! # Differences from Kafka
//!
//! * Keys are hashed with a randomly keyed 128-bit hash rather than
//!   MD5, of which the offset map keeps 120 bits, and the map probes
//!   groups of eight slots by their control bytes, as Swiss tables do,
//!   within a table that grows inside its buffer as keys come (see
//!   `OffsetMap`); the map holds as many entries for the same memory,
//!   but is filled to at most 15/16 of its slots, where Kafka's fills
//!   every slot at a load factor of 1.
//! * seglog does not track transactions: transactional batches are
//!   compacted like any other, and control batches (transaction markers)
//!   are kept as they are, never removed. Kafka removes aborted data and,
//!   eventually, markers. So do not compact a log that holds aborted
//!   transactions: a record of an aborted transaction counts as the latest
//!   of its key and may supersede a committed one, and the rewritten
//!   segments get no `.txnindex` (a read-committed Kafka consumer of the
//!   directory would then see aborted records).
//! * Kafka keeps only the last batch of the whole round even when empty;
//!   here the last batch of each group is, so that every new segment ends
//!   where the old ones it replaces did (a crash part-way through the swap
//!   is then undone or completed exactly). The difference is an empty
//!   61-byte batch at the end of some segments.
//! * New segments do not take the last-modified time of the segments they
//!   replace: seglog decides nothing by file times.
//! * The map pass reads the dirty segments' `.log` files through read-only
//!   memory maps rather than into read buffers (the rewrite writes through
//!   a buffer of `io_buffer_bytes`). A file must not shrink under a map,
//!   so a truncation into a closed segment waits for a round's map pass to
//!   let go of its maps, stopping it after the batch it is on (the round
//!   aborts), as Kafka's truncation waits for its cleaner to abort.
//!
//! [`PartitionLog::compact`]: crate::PartitionLog::compact

pub(crate) mod filter;
mod key_hash;
mod offset_map;
mod plan;
pub(crate) mod producers;
mod throttle;

use std::time::Duration;

pub use offset_map::ENTRY_BYTES;
pub use plan::{CleanableSection, CompactionPolicy, DueReason};
// The planner's steps and the offset map are the cleaner's own; the crate's
// tests and benchmarks reach them through the `testing` feature.
#[cfg(not(feature = "testing"))]
pub(crate) use offset_map::OffsetMap;
#[cfg(feature = "testing")]
pub use offset_map::OffsetMap;
pub(crate) use offset_map::{HashedKey, MapKeyHasher};
#[cfg(not(feature = "testing"))]
pub(crate) use plan::{cleanable_section, filthiest, group_segments, SegmentMeta};
#[cfg(feature = "testing")]
pub use plan::{cleanable_section, filthiest, group_segments, SegmentMeta};
pub use producers::PRODUCER_ID_EXPIRATION_MS;
pub(crate) use throttle::Throttle;

/// Settings of a compaction round (Kafka's `log.cleaner.*` settings).
#[derive(Debug, Clone, PartialEq)]
pub struct CompactOptions {
    /// Kafka `log.cleaner.dedupe.buffer.size`: memory of the offset map,
    /// in bytes. Default 134 217 728 (128 MiB).
    pub dedupe_buffer_bytes: usize,
    /// Kafka `log.cleaner.io.buffer.load.factor`: how full the offset map
    /// is filled before a round stops mapping. Default 0.9. A map of 16
    /// slots or more is filled to at most 15/16 of them whatever the value.
    pub load_factor: f64,
    /// Kafka `log.cleaner.io.buffer.size`: bytes of cleaned output
    /// gathered before each write. Default 524 288.
    pub io_buffer_bytes: usize,
    /// Kafka `log.cleaner.io.max.bytes.per.second`: a round reads and
    /// writes at most this many bytes per second. Default `None`
    /// (unlimited).
    pub io_max_bytes_per_second: Option<u64>,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            dedupe_buffer_bytes: 128 << 20,
            load_factor: 0.9,
            io_buffer_bytes: 512 << 10,
            io_max_bytes_per_second: None,
        }
    }
}

/// What one compaction round did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompactionOutcome {
    /// Where the dirty section started.
    pub first_dirty_offset: u64,
    /// Where the dirty section ended (nothing from here on was cleaned).
    pub first_uncleanable_offset: u64,
    /// The end of what the round cleaned: the new cleaner checkpoint, and
    /// the first dirty offset of the next round. Below
    /// `first_uncleanable_offset` when the offset map filled up.
    pub end_offset: u64,
    /// The log's cleanable ratio when the round started.
    pub cleanable_ratio: f64,
    /// Old segments rewritten.
    pub segments_read: usize,
    /// New segments written.
    pub segments_written: usize,
    /// Bytes of the log the round went through: the dirty section once
    /// to map it (and, when the map filled, up to a few chunks past that
    /// point, read ahead), then every rewritten segment (of which a batch
    /// that goes whole is stepped over, its header read at most).
    pub bytes_read: u64,
    /// Bytes of the new segments.
    pub bytes_written: u64,
    /// Records in the rewritten segments.
    pub records_read: u64,
    /// Records kept.
    pub records_kept: u64,
    /// Records removed (superseded, without a key, or expired tombstones).
    pub records_dropped: u64,
    /// Of those, tombstones whose delete horizon had passed.
    pub tombstones_dropped: u64,
    /// Of those, records without a key.
    pub records_without_key: u64,
    /// Distinct keys in the offset map.
    pub keys_mapped: usize,
    /// Whether the map filled up before the end of the dirty section (the
    /// next round continues from `end_offset`).
    pub map_full: bool,
    /// Memory of the offset map, in bytes.
    pub map_bytes: usize,
    /// A truncation or deletion of a segment of the round got there first:
    /// nothing changed.
    pub aborted: bool,
    /// How long the round took.
    pub duration: Duration,
}

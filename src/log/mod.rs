//! [`PartitionLog`]: one partition directory, as Kafka lays it out.
//!
//! A log is a list of segments ordered by base offset. Only the last one,
//! the *active* segment, is written to; it rolls (a new segment starts)
//! when it would pass `segment_bytes`, when its first batch is older than
//! `segment_ms` (for a compacted log, the smaller of `segment_ms` and
//! `max_compaction_lag_ms`), when an index is full, or when an offset would
//! not fit the 32-bit relative offsets of the indexes.
//!
//! Offsets: the *log start offset* is the first readable offset, the *log
//! end offset* (LEO) the next one to be written, the *recovery point* the
//! offset below which everything readable is known to be on stable
//! storage (raising the log start raises it too, as in Kafka).
//!
//! # Concurrency
//!
//! A [`PartitionLog`] is a cheap, cloneable handle (`Send + Sync`). Appends
//! and other changes are serialised by a writer lock; reads take no lock
//! the writer holds for long, use positional reads, and never see part of
//! a batch: the end of the log moves only after a batch is fully written.
//! A [`FetchData`] holds open handles to its files, so it stays readable
//! even if its segments are deleted or the log is closed meanwhile.
//!
//! # Durability and the fsync protocol
//!
//! Each append goes as far as its [`Durability`] says (in-process buffer,
//! the OS, or fsynced). Kafka's `flush_messages` and `flush_ms` add fsyncs
//! by count and time, and [`PartitionLog::sync`] fsyncs on demand. The
//! *recovery point* is the offset below which everything has been fsynced;
//! it only moves when an fsync completes. The steps that make this
//! crash-safe:
//!
//! 1. **New segment.** Its `.log`, `.index` and `.timeindex` are created
//!    (replacing stale files of the same name), the indexes preallocated
//!    to `segment_index_bytes`, the `.log` fsynced and then the directory
//!    fsynced, all before the first batch is written to it.
//! 2. **Roll.** The old segment is sealed first: buffered bytes handed to
//!    the OS, its final time-index entry added, both indexes written and
//!    trimmed to their entries. It is *not* fsynced in the writer's path
//!    (as in Kafka, where a background task flushes it): it joins the
//!    list of sealed, unsynced segments, and the recovery point stays
//!    where it was. Except when the recovery point already reaches the
//!    end of the sealed segment (its data was synced by a synced append):
//!    then its files, indexes included, are fsynced before the new segment
//!    exists, since from then on an open trusts its index files without
//!    re-reading it. Then step 1 for the new segment, and step 5.
//! 3. **Sync.** For an append with [`Durability::Sync`], a due
//!    `flush_messages`/`flush_ms`, or [`sync`](PartitionLog::sync): the
//!    sealed, unsynced segments are fsynced oldest first (`.log`, then
//!    indexes), then the active `.log`; then the recovery point moves to
//!    the log end offset. [`sync_sealed`](PartitionLog::sync_sealed) does
//!    the first half without taking the writer lock for the fsyncs, so a
//!    host's maintenance thread can keep the recovery point close behind
//!    the active segment while appends continue.
//! 4. **Metadata.** `seglog.checkpoint` (recovery point, log start
//!    offset), the clean-shutdown marker and rebuilt index files are
//!    written to a temporary file, fsynced, renamed over the old name,
//!    and the directory fsynced.
//! 5. **Checkpoint.** Written (step 4) at each roll, after
//!    [`sync_sealed`](PartitionLog::sync_sealed), truncation, a log start
//!    offset change, and at close. The recovery point in it may lag the
//!    one in memory; that only makes a later recovery re-read more.
//! 6. **Truncation and deletion.** A truncation moves readers' end (and a
//!    log start above it) back first, and a recovery point above the cut
//!    is lowered and written (step 5), so that neither a recovery nor a
//!    read-only view of the directory takes the cut for lost data; the
//!    removed segments are renamed `.deleted`, the directory fsynced once
//!    for all of them, the files removed (at once, or after
//!    [`OpenOptions::file_delete_delay_ms`]), the directory fsynced again;
//!    the `.log` is shortened and fsynced; then the checkpoint (step 5). A
//!    deletion below the log start (DeleteRecords, retention) writes the
//!    new start first (step 4) and takes the segments out of the log under
//!    the writer lock; their renames, the directory fsyncs and the
//!    removals then run outside it, so appends never wait for them.
//!    Truncation and close wait for such a deletion to finish first.
//! 7. **Clean close.** Every unsynced segment and the active one are
//!    sealed and fsynced, the checkpoint written with the recovery point at
//!    the log end offset, and last the clean-shutdown marker (step 4).
//! 8. **Open.** The marker is read. It is deleted, and the directory
//!    fsynced, before anything in the directory changes: before a
//!    recovery, or, after a clean open, before the first append, roll,
//!    truncation or deletion. So a crash later is never taken for a clean
//!    shutdown, and opening a log only to read it costs no fsync.
//!
//! A failed write or fsync *poisons* the log: later writes fail with
//! [`Error::Poisoned`] until it is reopened,
//! because after a failed fsync the kernel may have dropped data that a
//! retried fsync would then report as safe.
//!
//! # Recovery
//!
//! After a clean close, opening reads no segment data: the marker says
//! where the active segment ends, and closed segments are opened lazily.
//! After a crash, the segments from the one holding the recovery point (or
//! the log start offset, if higher: segments wholly below the start hold
//! no readable record, and the open deletes them, finishing the deletion a
//! crash interrupted) to the end are re-read: every batch's header and CRC
//! is checked and the
//! indexes rebuilt. The first torn or invalid batch at or beyond the
//! recovery point is cut off with everything after it, later segments
//! included: it was never synced, so a crash may have left it half
//! written. Damage below the recovery point is in data that had been
//! synced: the open fails with [`Error::Corrupt`] naming the file and
//! byte position, unless [`RecoveryMode::TruncateCorrupt`] was chosen.
//! Segments wholly below the recovery point are not re-read at open; damage in them is reported the
//! same way when a read reaches it. An older segment the directory listing
//! shows cannot hold its records (an empty `.log`, or a `.log` that is a
//! directory) is named in the [`RecoveryReport`] and fails every read that
//! reaches it; reads never pass over it. Leftover temporary files
//! (`.deleted`, `.cleaned`, `.tmp`) are removed and interrupted segment
//! swaps completed. An open that fails leaves every file as it was.
//!
//! Checkpointed offsets are never acted on against the data: a log start
//! offset beyond the log end would hide every record, so the log starts at
//! its first segment instead (an empty log at the checkpointed offset); a
//! recovery point beyond the end is reset to the end once the last segment
//! was re-read, as Kafka does. Both are reported in
//! [`RecoveryReport::checkpoint_mismatches`], and nothing is deleted for
//! them.
//!
//! A closed segment's index files are checked when first used: whole,
//! increasing entries inside the `.log`, and the last entry of each index
//! against the batch it names. One that fails is rebuilt from the `.log`;
//! entries naming batches past the end of the `.log` mean the `.log` lost
//! records, reported as [`Error::Corrupt`].

#[cfg(doc)]
use crate::config::RecoveryMode;

mod append;
mod cleanup;
mod compact;
mod compact_map;
mod deletion;
mod dir_lock;
mod durability;
mod epochs;
mod fetch;
mod follow;
mod load;
mod max_timestamp;
pub(crate) mod offset_checkpoint;
mod options;
mod read;
mod reader;
mod recover;
mod report;
#[cfg(test)]
mod resource_tests;
#[cfg(test)]
mod retired_tests;
mod state;
mod tail_damage;
mod truncate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

pub use cleanup::RetentionOutcome;
pub(crate) use compact::policy_of;
pub(crate) use fetch::{checked_batch_at, record_bytes, FoundBatch};
pub use fetch::{FetchData, FetchRecords, FileSlice};
pub use options::OpenOptions;
pub use reader::{CrcCheck, LogIter, LogReader, ReadBatch};
pub use report::{CheckpointField, CheckpointMismatch, RecoveryReport, SegmentDamage, Truncation};
pub(crate) use state::{PartitionState, SavedState};

use crate::clock::Clock;
use crate::config::{Durability, LogConfig};
use crate::error::{Error, Result};
use crate::io::DirLock;
use crate::segment::{lock, read_lock, write_lock, ActiveSegment, Segment, SegmentContext};

/// Called after every append that made records visible (the store uses it
/// to wake consumers waiting in `poll`).
pub(crate) type AppendListener = Arc<dyn Fn() + Send + Sync>;

/// Open `.log` files a log opened on its own keeps at most (see
/// [`OpenOptions::max_open_files`]).
pub const DEFAULT_MAX_OPEN_FILES: usize = 256;

/// Segments whose indexes a log opened on its own keeps loaded at most.
pub(crate) const DEFAULT_MAX_LOADED_INDEXES: usize = 4096;

/// One partition: an append-only log of segments in one directory.
///
/// # Examples
///
/// ```
/// use seglog::{LogConfig, PartitionLog, Record};
/// let dir = tempfile::tempdir()?;
/// let log = PartitionLog::open(dir.path().join("orders-0"), LogConfig::default())?;
/// let info = log.append(&[Record::new("hello").with_key("k")])?;
/// assert_eq!(info.first_offset, 0);
/// let records: Vec<_> = log.read(0, 1 << 20)?.records().collect::<Result<_, _>>()?;
/// assert_eq!(records[0].value.as_deref(), Some(&b"hello"[..]));
/// log.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct PartitionLog {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    config: LogConfig,
    ctx: Arc<SegmentContext>,
    clock: Arc<dyn Clock>,
    writer: Mutex<Writer>,
    segments: RwLock<BTreeMap<u64, Arc<Segment>>>,
    log_start_offset: AtomicU64,
    log_end_offset: AtomicU64,
    recovery_point: AtomicU64,
    closed: AtomicBool,
    recovery: RecoveryReport,
    dir_lock: Mutex<Option<Box<dyn DirLock>>>,
    listener: Option<AppendListener>,
    file_delete_delay_ms: u64,
    /// Deleted segments whose files are still to be renamed or removed.
    deletions: deletion::Deletions,
    /// `Some` for a log opened read-only: what following its writer needs.
    follow: Option<Mutex<follow::Follow>>,
    /// Compaction rounds and their checkpoint.
    cleaner: CleanerState,
    /// The leader-epoch cache, the epoch stamped on appends, the high
    /// watermark.
    epochs: epochs::Epochs,
    /// Where the high watermark is checkpointed.
    high_watermark_file: offset_checkpoint::OffsetCheckpointFile,
}

/// What compaction keeps about a log.
struct CleanerState {
    /// Held for the whole of a round: one at a time.
    round: Mutex<()>,
    /// The checkpoint, once read (`Some(None)`: the log has none).
    checkpoint: Mutex<Option<Option<u64>>>,
    file: offset_checkpoint::OffsetCheckpointFile,
    /// Held shared by a round's map pass, which reads the `.log` files of
    /// closed segments through memory maps, and exclusively by a
    /// truncation before it shortens a closed segment's file: reading a
    /// mapped page past the end of its file kills the process (SIGBUS).
    mapped: RwLock<()>,
    /// Set while a truncation waits for [`mapped`](Self::mapped): the map
    /// pass stops after the batch it is on, and its round is aborted.
    unmap: AtomicBool,
}

/// A truncation's hold on [`CleanerState::mapped`]: while it lasts, no
/// round has a segment's file mapped.
struct Unmapped<'a> {
    unmap: &'a AtomicBool,
    _mapped: std::sync::RwLockWriteGuard<'a, ()>,
}

impl Drop for Unmapped<'_> {
    fn drop(&mut self) {
        self.unmap.store(false, Ordering::Release);
    }
}

impl CleanerState {
    /// Stops a round's map pass (after the batch it is on) and waits until it
    /// has no file mapped.
    fn unmapped(&self) -> Unmapped<'_> {
        self.unmap.store(true, Ordering::Release);
        Unmapped {
            unmap: &self.unmap,
            _mapped: write_lock(&self.mapped),
        }
    }
}

/// The writer's state, behind the writer lock.
struct Writer {
    /// `None` only after close or a failed roll (the log is then closed or
    /// poisoned).
    active: Option<ActiveSegment>,
    /// Sealed segments not yet fsynced, oldest first (fsync protocol
    /// step 2).
    unsynced: Vec<Arc<Segment>>,
    scratch: Vec<u8>,
    compress_scratch: Vec<u8>,
    /// Records appended since the last fsync.
    unflushed_records: u64,
    last_flush_ms: i64,
    /// The clean-shutdown marker of the last close is still on disk: it
    /// must go before anything changes (fsync protocol step 8).
    clean_marker: bool,
    /// Truncations that cut into a closed segment (which becomes the
    /// active segment again) or emptied the log. A compaction round swaps
    /// its segments in only if none happened since it looked at the log:
    /// the segment cut is still in the log, but not with what the round
    /// read.
    rewinds: u64,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub first_offset: u64,
    /// Offset of the last record appended.
    pub last_offset: u64,
    /// The largest timestamp among the appended batches.
    pub max_timestamp: i64,
    /// The time stamped on the batches when the log uses log-append time.
    pub log_append_time: Option<i64>,
    /// Number of batches written.
    pub batches: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Facts about one segment of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The segment's base offset (its file name).
    pub base_offset: u64,
    /// Size of its `.log` in bytes.
    pub size: u64,
    /// Whether it is the active (last) segment.
    pub active: bool,
    /// Path of its `.log`.
    pub path: PathBuf,
}

/// The result of [`PartitionLog::offset_for_timestamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampLookup {
    /// The first offset whose record timestamp is at or after the target.
    pub offset: u64,
    /// That record's timestamp.
    pub timestamp: i64,
}

impl fmt::Debug for PartitionLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartitionLog")
            .field("dir", &self.inner.dir)
            .field("log_start_offset", &self.log_start_offset())
            .field("log_end_offset", &self.log_end_offset())
            .finish()
    }
}

impl PartitionLog {
    /// Opens (or creates) the log in `dir` on the real file system with the
    /// system clock and strict recovery. See [`OpenOptions`] for more.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{LogConfig, PartitionLog, Record};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("hello")])?;
    /// log.close()?;
    ///
    /// // Opening the directory again finds what was appended.
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// assert_eq!(log.log_end_offset(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`OpenOptions::open`].
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Self> {
        OpenOptions::new().open(dir, config)
    }

    /// Options for opening a log.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog};
    /// # let dir = tempfile::tempdir()?;
    /// let missing = PartitionLog::options()
    ///     .create(false)
    ///     .open(dir.path().join("events-0"), LogConfig::default());
    /// assert!(missing.is_err()); // no such directory, and none created
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// The partition directory.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// assert_eq!(log.dir(), dir.path().join("events-0"));
    /// // Its segment files are in it.
    /// assert!(log.segments()[0].path.starts_with(log.dir()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The configuration the log was opened with.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog};
    /// # let dir = tempfile::tempdir()?;
    /// let config = LogConfig {
    ///     segment_bytes: 1 << 20,
    ///     ..LogConfig::default()
    /// };
    /// let log = PartitionLog::open(dir.path().join("events-0"), config)?;
    /// assert_eq!(log.config().segment_bytes, 1 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn config(&self) -> &LogConfig {
        &self.inner.config
    }

    /// The first offset that can be read.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a"), Record::new("b"), Record::new("c")])?;
    /// assert_eq!(log.log_start_offset(), 0);
    /// log.advance_log_start_offset(2)?; // Kafka's DeleteRecords
    /// assert_eq!(log.log_start_offset(), 2);
    /// assert!(log.read(1, 1 << 20).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_start_offset(&self) -> u64 {
        self.inner.log_start_offset.load(Ordering::Acquire)
    }

    /// The offset the next record will get.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// assert_eq!(log.log_end_offset(), 0);
    /// let info = log.append(&[Record::new("a"), Record::new("b")])?;
    /// assert_eq!(info.last_offset, 1);
    /// assert_eq!(log.log_end_offset(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_end_offset(&self) -> u64 {
        self.inner.log_end_offset.load(Ordering::Acquire)
    }

    /// Everything from the log start offset up to this offset is on
    /// stable storage. Raising the log start offset raises it to the new
    /// start if it was below (as Kafka's `updateLogStartOffset` does):
    /// nothing below the start is kept.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?; // handed to the OS, not fsynced
    /// assert_eq!(log.recovery_point(), 0);
    /// log.sync()?;
    /// assert_eq!(log.recovery_point(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recovery_point(&self) -> u64 {
        self.inner.recovery_point.load(Ordering::Acquire)
    }

    /// What opening the log found and repaired.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// assert!(log.recovery_report().created);
    /// log.close()?;
    ///
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let report = log.recovery_report();
    /// assert!(report.clean_shutdown && !report.found_damage());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// Whether the log has been closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let handle = log.clone(); // handles share one log
    /// log.close()?;
    /// assert!(handle.is_closed());
    /// assert!(matches!(
    ///     handle.append(&[Record::new("a")]),
    ///     Err(seglog::Error::Closed)
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Whether an earlier I/O failure stopped writes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// // Only a failed write or fsync poisons a log; opening it again recovers.
    /// assert!(!log.is_poisoned());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.inner.ctx.poison.is_poisoned()
    }

    /// The log's segments, oldest first.
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
    /// let segments = log.segments();
    /// let bases: Vec<u64> = segments.iter().map(|s| s.base_offset).collect();
    /// assert_eq!(bases, [0, 1]);
    /// assert!(segments[1].active && !segments[0].active);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let segments = read_lock(&self.inner.segments);
        let last = segments.keys().next_back().copied();
        segments
            .values()
            .map(|s| SegmentInfo {
                base_offset: s.base_offset(),
                size: s.size(),
                active: Some(s.base_offset()) == last,
                path: s.log_path().to_path_buf(),
            })
            .collect()
    }

    /// Total bytes of all segments' `.log` files.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// assert_eq!(log.size_bytes(), 0);
    /// let info = log.append(&[Record::new("a")])?;
    /// assert_eq!(log.size_bytes(), info.bytes);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn size_bytes(&self) -> u64 {
        read_lock(&self.inner.segments)
            .values()
            .map(|s| s.size())
            .sum()
    }

    /// Closes the active segment and starts a new one at the log end
    /// offset (Kafka's `roll`). Rolling an empty segment does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// log.roll()?;
    /// log.roll()?; // the new segment is empty: nothing to do
    /// assert_eq!(log.segments().len(), 2);
    /// assert_eq!(log.segments()[1].base_offset, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] if sealing or creating a segment fails.
    pub fn roll(&self) -> Result<()> {
        let mut w = self.inner.writer_for_update()?;
        let empty = w.active.as_ref().is_none_or(|a| a.size() == 0);
        if empty {
            return Ok(());
        }
        let leo = self.log_end_offset();
        self.inner.roll_locked(&mut w, leo)
    }

    /// Flushes everything, trims the active segment's indexes, writes the
    /// checkpoint and the clean-shutdown marker, and releases the
    /// directory. Every handle of this log fails with [`Error::Closed`]
    /// afterwards; fetch results already taken stay readable. Closing twice
    /// is a no-op. Dropping the last handle closes on a best-effort basis.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// log.close()?;
    /// assert!(log.append(&[Record::new("b")]).is_err());
    ///
    /// // The next open need not re-read anything.
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// assert!(log.recovery_report().clean_shutdown);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] if the final writes fail; the directory is released
    /// anyway and the next open recovers.
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }
}

impl Inner {
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// The writer lock, for an operation that changes the log.
    fn writer_for_update(&self) -> Result<std::sync::MutexGuard<'_, Writer>> {
        let mut w = self.writer()?;
        self.mark_changing(&mut w)?;
        Ok(w)
    }

    /// The writer lock, for an operation that may change nothing (it calls
    /// [`mark_changing`](Self::mark_changing) before it does).
    fn writer(&self) -> Result<std::sync::MutexGuard<'_, Writer>> {
        self.check_open()?;
        if self.follow.is_some() {
            return Err(Error::ReadOnly {
                path: self.dir.clone(),
            });
        }
        self.ctx.poison.check()?;
        let w = lock(&self.writer);
        // Closed while waiting for the lock?
        self.check_open()?;
        Ok(w)
    }

    /// Removes the clean-shutdown marker before the first change to the
    /// log since it was opened (fsync protocol step 8).
    fn mark_changing(&self, w: &mut Writer) -> Result<()> {
        if w.clean_marker {
            let r = state::remove_clean_marker(&*self.ctx.fs, &self.dir);
            self.ctx.poison.guard(r)?;
            w.clean_marker = false;
            if let Some(active) = &w.active {
                self.ctx.poison.guard(active.preallocate_indexes())?;
            }
        }
        Ok(())
    }

    fn active<'w>(&self, w: &'w mut Writer) -> Result<&'w mut ActiveSegment> {
        match w.active.as_mut() {
            Some(a) => Ok(a),
            None => {
                self.check_open()?;
                self.ctx.poison.check()?;
                Err(Error::Closed)
            }
        }
    }

    fn flush_due(&self, w: &Writer, now: i64) -> bool {
        let c = &self.config;
        w.unflushed_records > 0
            && (w.unflushed_records >= c.flush_messages
                || now.saturating_sub(w.last_flush_ms) >= c.flush_ms.min(i64::MAX as u64) as i64)
    }

    /// Moves the recovery point to the first segment that is not synced
    /// yet: everything below it is on stable storage.
    fn advance_recovery_point(&self, w: &Writer) {
        let synced_to = match (w.unsynced.first(), w.active.as_ref()) {
            (Some(s), _) => s.base_offset(),
            (None, Some(a)) => a.base_offset(),
            (None, None) => return,
        };
        self.recovery_point.fetch_max(synced_to, Ordering::AcqRel);
    }

    /// Fsyncs the unsynced sealed segments and the active one, and moves
    /// the recovery point to the log end offset (fsync protocol step 3).
    fn sync_locked(&self, w: &mut Writer) -> Result<()> {
        for seg in std::mem::take(&mut w.unsynced) {
            if let Err(e) = seg.sync_files() {
                w.unsynced.insert(0, seg);
                return Err(e);
            }
        }
        self.active(w)?.sync()?;
        self.recovery_point.fetch_max(
            self.log_end_offset.load(Ordering::Acquire),
            Ordering::AcqRel,
        );
        w.unflushed_records = 0;
        w.last_flush_ms = self.clock.now_ms();
        Ok(())
    }

    /// Writes `seglog.checkpoint` (fsync protocol step 5). The recovery
    /// point written never passes a sealed segment whose files are not
    /// fsynced yet (its data may be, through a Sync append, but not its
    /// index files, which a later open would trust).
    fn persist_state(&self, w: &Writer) -> Result<()> {
        self.persist_state_with_start(w, self.log_start_offset.load(Ordering::Acquire))
    }

    /// [`persist_state`](Self::persist_state) with `log_start_offset` as
    /// the log start offset written.
    fn persist_state_with_start(&self, w: &Writer, log_start_offset: u64) -> Result<()> {
        let mut recovery_point = self.recovery_point.load(Ordering::Acquire);
        if let Some(first) = w.unsynced.first() {
            recovery_point = recovery_point.min(first.base_offset());
        }
        let state = state::PartitionState {
            recovery_point,
            log_start_offset,
        };
        let r = state::write_state(&*self.ctx.fs, &self.dir, &state);
        self.ctx.poison.guard(r)
    }

    /// Seals the active segment and starts a new one at `base_offset`
    /// (fsync protocol steps 1, 2 and 5).
    ///
    /// `base_offset` is the log end offset, except for a batch too far
    /// above it to be stored relative to it. Then the offsets in between do
    /// not exist: everything below them is fsynced at once and the recovery
    /// point moves past them, so that recovery, which treats a gap between
    /// the segments it re-reads as lost data, never looks across this one.
    fn roll_locked(&self, w: &mut Writer, base_offset: u64) -> Result<()> {
        let leo = self.log_end_offset.load(Ordering::Acquire);
        let old = w.active.take().ok_or(Error::Closed)?;
        let sealed = old.seal()?;
        // Once the new segment exists, a recovery point at or above its
        // base (already on disk, after a synced append) makes the next open
        // trust the sealed segment's index files without re-reading it: they
        // must be durable first (Kafka's flush includes the indexes).
        let covered = self.recovery_point.load(Ordering::Acquire) >= base_offset;
        if base_offset > leo {
            for seg in std::mem::take(&mut w.unsynced) {
                seg.sync_files()?;
            }
            sealed.sync_files()?;
            self.recovery_point.fetch_max(base_offset, Ordering::AcqRel);
        } else if covered && sealed.size() > 0 {
            sealed.sync_files()?;
        }
        if sealed.size() == 0 && sealed.base_offset() != base_offset {
            // Nothing to keep: an empty segment would only be a gap.
            write_lock(&self.segments).remove(&sealed.base_offset());
            let deleted = sealed
                .rename_to_deleted()
                .and_then(|paths| crate::segment::remove_files(&*self.ctx.fs, &self.dir, &paths));
            self.ctx.poison.guard(deleted)?;
        }
        let now = self.clock.now_ms();
        let created = ActiveSegment::create(&self.ctx, base_offset, now);
        let new = self.ctx.poison.guard(created)?;
        {
            let mut segments = write_lock(&self.segments);
            if sealed.size() == 0 && sealed.base_offset() == base_offset {
                segments.remove(&base_offset);
            }
            segments.insert(base_offset, new.segment().clone());
        }
        if sealed.size() > 0 && base_offset <= leo && !covered {
            w.unsynced.push(sealed);
        }
        w.active = Some(new);
        self.persist_state(w)
    }

    fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // A compaction round in progress sees the log closed at its next
        // batch (or at its swap) and stops, removing its `.cleaned` files;
        // nothing of it may outlive the directory lock. Appends holding the
        // writer lock finish; later ones find the log closed.
        drop(lock(&self.cleaner.round));
        let mut w = lock(&self.writer);
        // A deletion in flight finishes before the directory is released,
        // and the queued ones before the checkpoint is written.
        let deletions = self.deletions_lock();
        let result = self
            .ctx
            .poison
            .check()
            .and_then(|()| self.run_deletions(&deletions))
            .and_then(|_| self.close_locked(&mut w))
            // Nobody can reach the deleted segments through this log now.
            .and_then(|()| self.remove_all_pending());
        drop(deletions);
        // Nor any other segment: reads of a closed log fail. Dropping them
        // closes their files now (fetches in flight keep what they hold),
        // not when the last handle of this log goes.
        drop(std::mem::take(&mut *write_lock(&self.segments)));
        // Release the directory whatever happened.
        *lock(&self.dir_lock) = None;
        result
    }

    fn close_locked(&self, w: &mut Writer) -> Result<()> {
        self.ctx.poison.check()?;
        let Some(active) = w.active.take() else {
            return Ok(());
        };
        if w.clean_marker {
            // Nothing changed since a clean open: the files, the state
            // file and the clean-shutdown marker on disk are still right.
            return Ok(());
        }
        let marker = state::CleanShutdown {
            active_base_offset: active.base_offset(),
            active_size: active.size(),
            resume: active.resume_state(),
        };
        for seg in std::mem::take(&mut w.unsynced) {
            seg.sync_files()?;
        }
        active.close()?;
        self.recovery_point.fetch_max(
            self.log_end_offset.load(Ordering::Acquire),
            Ordering::AcqRel,
        );
        self.persist_state(w)?;
        let r = state::write_clean_marker(&*self.ctx.fs, &self.dir, &marker);
        self.ctx.poison.guard(r)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Best effort: a failure leaves no marker, so the next open recovers.
        let _ = self.close();
    }
}

/// True for the durability levels that hand bytes to the OS at once.
fn writes_through(d: Durability) -> bool {
    d >= Durability::Flush
}

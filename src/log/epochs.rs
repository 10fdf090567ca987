//! What a log keeps for replication: its leader-epoch cache (in
//! `leader-epoch-checkpoint`), the epoch it stamps on what it appends as
//! leader, and its high watermark.
//!
//! The cache follows the data: every batch appended or recovered teaches
//! it its partition leader epoch, a truncation trims it from the end, a
//! rising log start from the start, and a log that starts over empties
//! it. Every change is written to the checkpoint (atomically) before the
//! operation that made it returns, except a rise of the log start: the
//! entries it trims lie below the start, which is durable first, and an
//! open trims what it reads to the log's start again. A checkpoint that
//! cannot be parsed is
//! reported in [`RecoveryReport::epoch_checkpoint_damage`] and the cache
//! starts from what recovery read: a follower with no epoch truncates to
//! its high watermark before fetching, which is always safe.
//!
//! The high watermark of a log no replica set is attached to is its log
//! end offset. Once [`ReplicatedPartition`] attaches one, it is a value
//! of its own, kept within `[log start offset, log end offset]`, that
//! readers for consumers ([`PartitionLog::reader`], the store's
//! consumers), retention and compaction stay below.
//!
//! [`RecoveryReport::epoch_checkpoint_damage`]: super::RecoveryReport::epoch_checkpoint_damage
//! [`ReplicatedPartition`]: crate::replication::ReplicatedPartition

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Mutex;

use super::{Inner, PartitionLog};
use crate::error::{Error, Result};
use crate::replication::{EpochEndOffset, LeaderEpochCache};
use crate::segment::lock;

/// The epoch stamped on batches appended as leader by a log no replica set
/// leads: Kafka's first leader epoch.
pub(super) const DEFAULT_LEADER_EPOCH: i32 = 0;

/// A log's replication state.
pub(super) struct Epochs {
    cache: Mutex<LeaderEpochCache>,
    /// The cache's latest epoch, -1 for none: appends in it need no lock.
    latest: AtomicI32,
    /// The epoch stamped on batches appended as leader.
    stamp: AtomicI32,
    /// Whether a replica set is attached (the high watermark is its own).
    replicated: AtomicBool,
    high_watermark: AtomicU64,
}

impl Epochs {
    pub(super) fn new(cache: LeaderEpochCache) -> Self {
        Epochs {
            latest: AtomicI32::new(cache.latest_epoch().unwrap_or(-1)),
            stamp: AtomicI32::new(cache.latest_epoch().unwrap_or(DEFAULT_LEADER_EPOCH)),
            cache: Mutex::new(cache),
            replicated: AtomicBool::new(false),
            high_watermark: AtomicU64::new(0),
        }
    }
}

impl Inner {
    /// The epoch to stamp on a batch appended as leader.
    pub(super) fn stamp_epoch(&self) -> i32 {
        self.epochs.stamp.load(Ordering::Acquire)
    }

    /// Teaches the cache the epochs of appended batches, `(epoch, base
    /// offset)` in offset order (Kafka assigns every batch's); batches
    /// without an epoch (-1) are skipped. Writes the checkpoint if the
    /// cache changed.
    pub(super) fn learn_epochs(&self, epochs: &[(i32, u64)]) -> Result<()> {
        let latest = self.epochs.latest.load(Ordering::Acquire);
        if epochs.iter().all(|(e, _)| *e < 0 || *e == latest) {
            return Ok(());
        }
        self.change_epochs(|cache| {
            let mut changed = false;
            for &(epoch, offset) in epochs.iter().filter(|(e, _)| *e >= 0) {
                changed |= cache.assign(epoch, offset)?;
            }
            Ok(changed)
        })
    }

    /// Teaches the cache the epochs recovery read: only those above its
    /// latest epoch, as Kafka's segment recovery does.
    pub(super) fn learn_recovered_epochs(cache: &mut LeaderEpochCache, epochs: &[(i32, u64)]) {
        for &(epoch, offset) in epochs {
            if epoch >= 0 && cache.latest_epoch().is_none_or(|l| epoch > l) {
                // A non-negative epoch is always accepted.
                let _ = cache.assign(epoch, offset);
            }
        }
    }

    /// After a truncation to `end`: entries from it on go, and the high
    /// watermark comes down to it.
    pub(super) fn epochs_truncated_to(&self, end: u64) -> Result<()> {
        self.epochs.high_watermark.fetch_min(end, Ordering::AcqRel);
        self.change_epochs(|cache| Ok(cache.truncate_from_end(end)))
    }

    /// After the log started over, empty, at `offset`.
    pub(super) fn epochs_restarted_at(&self, offset: u64) -> Result<()> {
        self.epochs.high_watermark.store(offset, Ordering::Release);
        self.change_epochs(|cache| {
            let changed = !cache.is_empty();
            *cache = LeaderEpochCache::new();
            Ok(changed)
        })
    }

    /// After the log start rose to `start`.
    pub(super) fn epochs_started_at(&self, start: u64) {
        self.epochs
            .high_watermark
            .fetch_max(start, Ordering::AcqRel);
        // In memory only (see the module docs): nothing to fail.
        let _ = self.update_epochs(false, |cache| Ok(cache.truncate_from_start(start)));
    }

    /// Changes the cache and writes the checkpoint if it changed.
    fn change_epochs(
        &self,
        change: impl FnOnce(&mut LeaderEpochCache) -> Result<bool>,
    ) -> Result<()> {
        self.update_epochs(true, change)
    }

    /// Changes the cache, keeps `latest` in step, and with `persist`
    /// writes the checkpoint if the cache changed.
    fn update_epochs(
        &self,
        persist: bool,
        change: impl FnOnce(&mut LeaderEpochCache) -> Result<bool>,
    ) -> Result<()> {
        let mut cache = lock(&self.epochs.cache);
        let changed = change(&mut cache)?;
        self.epochs
            .latest
            .store(cache.latest_epoch().unwrap_or(-1), Ordering::Release);
        if persist && changed && !self.ctx.read_only {
            // A checkpoint that may not say what the data does is a failed
            // write like any other: the log is poisoned until reopened,
            // and the open derives the cache again.
            let written = cache.write(&*self.ctx.fs, &self.dir);
            self.ctx.poison.guard(written)?;
        }
        Ok(())
    }

    /// The end of what consumers may read: the high watermark.
    pub(super) fn high_watermark(&self) -> u64 {
        let leo = self.log_end_offset.load(Ordering::Acquire);
        if !self.epochs.replicated.load(Ordering::Acquire) {
            return leo;
        }
        let start = self.log_start_offset.load(Ordering::Acquire);
        self.epochs
            .high_watermark
            .load(Ordering::Acquire)
            .clamp(start.min(leo), leo)
    }
}

impl PartitionLog {
    /// The high watermark: the offset below which consumers read. For a
    /// log no [`ReplicatedPartition`](crate::replication::ReplicatedPartition)
    /// is attached to, the log end offset; otherwise the offset below which
    /// every in-sync replica holds the records.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{LogConfig, PartitionLog, Record};
    /// let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// assert_eq!(log.high_watermark(), log.log_end_offset());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn high_watermark(&self) -> u64 {
        self.inner.high_watermark()
    }

    /// A copy of the leader-epoch cache: for each leader epoch, the first
    /// offset written in it (Kafka's `leader-epoch-checkpoint`).
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{LogConfig, PartitionLog, Record};
    /// let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// assert!(log.leader_epoch_cache().is_empty());
    /// log.append(&[Record::new("a")])?; // stamped with leader epoch 0
    /// assert_eq!(log.leader_epoch_cache().latest_epoch(), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn leader_epoch_cache(&self) -> LeaderEpochCache {
        lock(&self.inner.epochs.cache).clone()
    }

    /// The latest epoch in the leader-epoch cache (the epoch of the last
    /// batch, or of a leadership begun since), without copying the cache.
    pub fn latest_leader_epoch(&self) -> Option<i32> {
        let latest = self.inner.epochs.latest.load(Ordering::Acquire);
        (latest >= 0).then_some(latest)
    }

    /// Where leader epoch `epoch` ended in this log, by the cache and the
    /// log end offset (Kafka's `endOffsetForEpoch`, see
    /// [`LeaderEpochCache::end_offset_for`]).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> EpochEndOffset {
        let cache = lock(&self.inner.epochs.cache);
        cache.end_offset_for(epoch, self.log_end_offset())
    }

    /// Makes `epoch` the one stamped on batches appended as leader, and
    /// records that it starts at the log end offset (Kafka's `makeLeader`
    /// assigns the new epoch before any append).
    pub(crate) fn begin_leader_epoch(&self, epoch: i32) -> Result<()> {
        let w = self.inner.writer_for_update()?;
        let leo = self.log_end_offset();
        self.inner.change_epochs(|cache| cache.assign(epoch, leo))?;
        self.inner.epochs.stamp.store(epoch, Ordering::Release);
        drop(w);
        Ok(())
    }

    /// Drops the leader-epoch cache's entries starting at or after `end`
    /// without touching the data: Kafka's `truncateTo` at or past the log
    /// end still trims the cache there. A follower needs it when the epoch
    /// it would ask about next began at its log end and holds no records.
    pub(crate) fn truncate_epochs_from(&self, end: u64) -> Result<()> {
        let w = self.inner.writer_for_update()?;
        self.inner
            .change_epochs(|cache| Ok(cache.truncate_from_end(end)))?;
        drop(w);
        Ok(())
    }

    /// Attaches a replica set: from now on the high watermark is its own,
    /// starting at `high_watermark` (clamped into the log's range).
    pub(crate) fn attach_replication(&self, high_watermark: u64) {
        let e = &self.inner.epochs;
        e.high_watermark.store(high_watermark, Ordering::Release);
        e.replicated.store(true, Ordering::Release);
    }

    /// The high watermark last checkpointed for this log, if any.
    pub(crate) fn read_high_watermark_checkpoint(&self) -> Result<Option<u64>> {
        self.inner.check_open()?;
        Ok(self
            .inner
            .high_watermark_file
            .read(&*self.inner.ctx.fs, &self.inner.dir))
    }

    /// Checkpoints `high_watermark` for this log.
    pub(crate) fn write_high_watermark_checkpoint(&self, high_watermark: u64) -> Result<()> {
        self.inner.check_open()?;
        if self.inner.ctx.read_only {
            return Err(Error::ReadOnly {
                path: self.inner.dir.clone(),
            });
        }
        self.inner.high_watermark_file.write(
            &*self.inner.ctx.fs,
            &self.inner.dir,
            Some(high_watermark),
        )
    }

    /// The log's clock.
    pub(crate) fn clock(&self) -> std::sync::Arc<dyn crate::clock::Clock> {
        self.inner.clock.clone()
    }

    /// Sets the high watermark of a replicated log, clamped into
    /// `[log start offset, log end offset]`; returns the value set.
    pub(crate) fn set_high_watermark(&self, offset: u64) -> u64 {
        let start = self.log_start_offset();
        let leo = self.log_end_offset();
        let hw = offset.clamp(start.min(leo), leo);
        self.inner
            .epochs
            .high_watermark
            .store(hw, Ordering::Release);
        hw
    }
}

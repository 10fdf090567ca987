//! Moving the ends of the log: truncation at the tail, the log start
//! offset at the head, and deleting segments wholly below it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Inner, PartitionLog, Writer};
use crate::error::{Error, Result};
use crate::segment::{read_lock, write_lock, ActiveSegment, IndexFiles, Segment};

impl PartitionLog {
    /// Removes every record at `offset` and above. A batch that holds
    /// `offset` goes entirely (batches are never split), so the log end
    /// offset becomes the offset after the last remaining batch: `offset`
    /// itself unless that batch started below it. Segments above it are
    /// deleted; the one holding it becomes the active segment. Truncating
    /// at or past the end does nothing; below the first segment it empties
    /// the log as [`truncate_fully_and_start_at`](Self::truncate_fully_and_start_at).
    /// The result is durable when this returns, and a crash on the way
    /// leaves either the old log or a prefix of it.
    ///
    /// On a compacted log, the cleaner checkpoint comes down to the base
    /// offset of the segment holding the cut (what is appended from there
    /// on is dirty), and a truncation into a closed segment aborts a
    /// compaction round running meanwhile. If the round is mapping keys,
    /// reading the segments' files through memory maps, the truncation
    /// waits for it to let go of them (it stops after the batch it is on)
    /// before it shortens a file.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// for value in ["a", "b", "c"] {
    ///     log.append(&[Record::new(value)])?;
    /// }
    /// log.truncate_to(1)?; // offsets 1 and 2 go
    /// assert_eq!(log.log_end_offset(), 1);
    /// assert_eq!(log.append(&[Record::new("d")])?.first_offset, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] (and the log is poisoned if anything had changed);
    /// [`Error::Corrupt`] if the data around `offset` is damaged;
    /// [`Error::Closed`].
    pub fn truncate_to(&self, offset: u64) -> Result<()> {
        let mut w = self.inner.writer_for_update()?;
        self.inner.truncate_locked(&mut w, offset)
    }

    /// Deletes every segment and starts an empty log at `offset`: log start,
    /// log end and recovery point all become `offset`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// log.truncate_fully_and_start_at(100)?;
    /// assert_eq!((log.log_start_offset(), log.log_end_offset()), (100, 100));
    /// assert_eq!(log.append(&[Record::new("b")])?.first_offset, 100);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] (and the log is poisoned); [`Error::Closed`].
    pub fn truncate_fully_and_start_at(&self, offset: u64) -> Result<()> {
        let mut w = self.inner.writer_for_update()?;
        self.inner.restart_locked(&mut w, offset)
    }

    /// Raises the log start offset to `offset` (Kafka's DeleteRecords):
    /// reads below it fail from now on, and segments wholly below it are
    /// deleted. The new start is durable when this returns, and the
    /// recovery point is at or above it (Kafka's
    /// `maybeIncrementLogStartOffset` raises it): records up to the new
    /// start that were not fsynced yet are fsynced first, so that a power
    /// loss never leaves the log ending below its start. Lowering it does
    /// nothing.
    /// Returns the number of segments deleted.
    ///
    /// The active segment is never deleted; a segment that straddles the
    /// new start stays, and a read at the start may return a batch that
    /// begins before it. The segments' files are renamed and removed
    /// without holding up appends, however many there are.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// log.roll()?;
    /// log.append(&[Record::new("b"), Record::new("c")])?;
    /// // The first segment lies wholly below offset 2 and goes.
    /// assert_eq!(log.advance_log_start_offset(2)?, 1);
    /// assert_eq!(log.log_start_offset(), 2);
    /// assert!(log.read(1, 1 << 20).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] if `offset` is above the high watermark
    /// (the log end offset, for a log without replicas; as Kafka's
    /// DeleteRecords, nothing not yet replicated may go);
    /// [`Error::Io`] (and the log is poisoned); [`Error::Closed`].
    pub fn advance_log_start_offset(&self, offset: u64) -> Result<usize> {
        let mut w = self.inner.writer_for_update()?;
        let limit = self.high_watermark();
        let start = self.log_start_offset();
        if offset > limit {
            return Err(Error::OffsetOutOfRange {
                requested: offset,
                earliest: start,
                latest: limit,
            });
        }
        let new_start = start.max(offset);
        if new_start > self.recovery_point() {
            // Records up to the new start are made durable before it is:
            // a power loss must not leave the log ending below a start it
            // has on disk (the open would take that for damage). Retention
            // needs no such sync: it raises the start to a segment's base.
            self.inner.sync_locked(&mut w)?;
        }
        let doomed = self.inner.segments_below(new_start);
        let deleted = doomed.len();
        self.inner
            .raise_start_and_retire(&mut w, new_start, doomed)?;
        // The files go without holding up appends.
        drop(w);
        self.inner.finish_deletions()?;
        Ok(deleted)
    }
}

impl Inner {
    fn truncate_locked(&self, w: &mut Writer, offset: u64) -> Result<()> {
        let leo = self.log_end_offset.load(Ordering::Acquire);
        if offset >= leo {
            return Ok(());
        }
        let (holder, above) = {
            let segments = read_lock(&self.segments);
            let Some(holder) = segments
                .range(..=offset)
                .next_back()
                .map(|(_, s)| s.clone())
            else {
                drop(segments);
                return self.restart_locked(w, offset);
            };
            let above: Vec<Arc<Segment>> = segments
                .range(offset + 1..)
                .map(|(_, s)| s.clone())
                .collect();
            (holder, above)
        };
        // Readers stop at the cut, a batch boundary, before any byte goes;
        // and a crash from here on re-reads the log from the holder on: the
        // lowered recovery point (at or below where the data will end) is
        // durable first.
        let cut = holder
            .batch_holding(offset)?
            .map_or(offset, |b| b.min(offset));
        // What is appended after the cut is dirty: a cleaner checkpoint
        // above the holder's base (which the end stays at or above) comes
        // down to it first, as Kafka's does to the new active segment's.
        self.lower_cleaner_checkpoint(holder.base_offset())?;
        if cut < self.log_start_offset.load(Ordering::Acquire) {
            // Nothing readable remains: the log starts over, empty, at the
            // cut (start and end where Kafka's `truncateTo` leaves them).
            // Cutting the holder instead would leave, until the new start
            // is durable, a log ending below its durable start with
            // records DeleteRecords removed in it: a crash there would
            // serve them again.
            return self.restart_locked(w, cut);
        }
        self.log_end_offset.store(cut, Ordering::Release);
        // A start above the cut follows it down at once, so that a failure
        // from here on never leaves the start above the end; the start
        // written stays the old one until the cut is durable (a crash
        // before must not make records below the old start readable).
        let old_start = self.log_start_offset.fetch_min(cut, Ordering::AcqRel);
        let recovery_point = self
            .recovery_point
            .fetch_min(holder.base_offset(), Ordering::AcqRel);
        self.persist_state_with_start(w, old_start)?;
        // Later segments go before the holder is cut, so that a crash in
        // between leaves a prefix of the log, never a hole.
        let holder_base = holder.base_offset();
        w.unsynced.retain(|s| s.base_offset() < holder_base);
        let now = self.clock.now_ms();
        let active_base = self.active(w)?.base_offset();
        let cuts_closed = holder_base != active_base;
        // A closed segment's file is about to shrink: no round may have it
        // mapped (a round mapping segments now is aborted).
        let _unmapped = cuts_closed.then(|| self.cleaner.unmapped());
        if cuts_closed {
            w.rewinds += 1;
            w.active = None;
            self.delete_segments_now(w, &above)?;
            // The end moves back into a closed segment: it becomes active
            // with fresh index files (readers may have the old ones mapped).
            let (offsets, times) =
                holder.with_indexes(|o, t| (o.bytes.to_vec(), t.bytes.to_vec()))?;
            let resumed = ActiveSegment::resume(
                holder.clone(),
                holder.size(),
                offsets,
                times,
                IndexFiles::Replace,
                now,
                None,
            );
            w.active = Some(self.ctx.poison.guard(resumed)?);
        } else {
            self.delete_segments_now(w, &above)?;
        }
        // The log ends where its data ends, which may be below `offset`
        // when the batch holding it started earlier.
        let end = self.active(w)?.truncate_to(offset, now)?;
        self.log_end_offset.store(end, Ordering::Release);
        self.epochs_truncated_to(end)?;
        // The cut is fsynced: what remains is as synced as it was before.
        self.recovery_point
            .store(recovery_point.min(end), Ordering::Release);
        self.log_start_offset.fetch_min(end, Ordering::AcqRel);
        self.persist_state(w)
    }

    fn restart_locked(&self, w: &mut Writer, offset: u64) -> Result<()> {
        self.lower_cleaner_checkpoint(offset)?;
        let all: Vec<Arc<Segment>> = read_lock(&self.segments).values().cloned().collect();
        self.log_end_offset.store(offset, Ordering::Release);
        // A reader that finds the segments gone must not take it for lost
        // synced data: a recovery point above the new start is lowered,
        // durably, first (as a truncation does), with the old start.
        if self.recovery_point.fetch_min(offset, Ordering::AcqRel) > offset {
            self.persist_state(w)?;
        }
        // Never a start above the end, even if what follows fails.
        self.log_start_offset.fetch_min(offset, Ordering::AcqRel);
        w.rewinds += 1;
        w.active = None;
        w.unsynced.clear();
        self.delete_segments_now(w, &all)?;
        let created = ActiveSegment::create(&self.ctx, offset, self.clock.now_ms());
        let active = self.ctx.poison.guard(created)?;
        write_lock(&self.segments).insert(offset, active.segment().clone());
        w.active = Some(active);
        w.unflushed_records = 0;
        self.log_start_offset.store(offset, Ordering::Release);
        self.recovery_point.store(offset, Ordering::Release);
        self.epochs_restarted_at(offset)?;
        self.persist_state(w)
    }

    /// The segments whose successor starts at or below `start` (never the
    /// last one): those wholly below a log start at `start`.
    fn segments_below(&self, start: u64) -> Vec<Arc<Segment>> {
        let segments = read_lock(&self.segments);
        let bases: Vec<u64> = segments.keys().copied().collect();
        bases
            .windows(2)
            .take_while(|pair| pair[1] <= start)
            .filter_map(|pair| segments.get(&pair[0]).cloned())
            .collect()
    }
}

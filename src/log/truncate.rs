//! Moving the ends of the log: truncation at the tail, the log start
//! offset at the head, and deleting segments wholly below it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Inner, PartitionLog, Writer};
use crate::error::{Error, Result};
use crate::segment::{read_lock, remove_files, write_lock, ActiveSegment, IndexFiles, Segment};

impl PartitionLog {
    /// Removes every record at `offset` and above (a batch that holds
    /// `offset` goes entirely, as in Kafka) and sets the log end offset to
    /// `offset`. Segments above it are deleted; the one holding it becomes
    /// the active segment. Truncating at or past the end does nothing;
    /// below the first segment it empties the log as
    /// [`truncate_fully_and_start_at`](Self::truncate_fully_and_start_at).
    /// The result is durable when this returns.
    ///
    /// # Errors
    /// [`Error::Io`] (and the log is poisoned); [`Error::Closed`].
    pub fn truncate_to(&self, offset: u64) -> Result<()> {
        let mut w = self.inner.writer_for_update()?;
        self.inner.truncate_locked(&mut w, offset)
    }

    /// Deletes every segment and starts an empty log at `offset`: log start,
    /// log end and recovery point all become `offset`.
    ///
    /// # Errors
    /// [`Error::Io`] (and the log is poisoned); [`Error::Closed`].
    pub fn truncate_fully_and_start_at(&self, offset: u64) -> Result<()> {
        let mut w = self.inner.writer_for_update()?;
        self.inner.restart_locked(&mut w, offset)
    }

    /// Raises the log start offset to `offset` (Kafka's DeleteRecords):
    /// reads below it fail from now on, and segments wholly below it are
    /// deleted. The new start is durable when this returns. Lowering it
    /// does nothing. Returns the number of segments deleted.
    ///
    /// The active segment is never deleted; a segment that straddles the
    /// new start stays, and a read at the start may return a batch that
    /// begins before it.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] if `offset` is above the log end offset;
    /// [`Error::Io`]; [`Error::Closed`].
    pub fn advance_log_start_offset(&self, offset: u64) -> Result<usize> {
        let mut w = self.inner.writer_for_update()?;
        let leo = self.log_end_offset();
        if offset > leo {
            return Err(Error::OffsetOutOfRange {
                requested: offset,
                earliest: self.log_start_offset(),
                latest: leo,
            });
        }
        if offset > self.log_start_offset() {
            self.inner.log_start_offset.store(offset, Ordering::Release);
            self.inner.persist_state()?;
        }
        self.inner.delete_segments_below_start(&mut w)
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
        // Readers stop at the new end before any byte goes.
        self.log_end_offset.store(offset, Ordering::Release);
        let now = self.clock.now_ms();
        let active_base = self.active(w)?.base_offset();
        if holder.base_offset() != active_base {
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
            let resumed = self.ctx.poison.guard(resumed)?;
            w.active = Some(resumed);
        }
        self.active(w)?.truncate_to(offset, now)?;
        // Segments that are gone, or active again, are no longer waiting
        // for an fsync.
        let holder_base = holder.base_offset();
        w.unsynced.retain(|s| s.base_offset() < holder_base);
        self.remove_segments(&above)?;
        self.recovery_point.fetch_min(offset, Ordering::AcqRel);
        self.log_start_offset.fetch_min(offset, Ordering::AcqRel);
        self.persist_state()
    }

    fn restart_locked(&self, w: &mut Writer, offset: u64) -> Result<()> {
        let all: Vec<Arc<Segment>> = read_lock(&self.segments).values().cloned().collect();
        self.log_end_offset.store(offset, Ordering::Release);
        w.active = None;
        w.unsynced.clear();
        self.remove_segments(&all)?;
        let created = ActiveSegment::create(&self.ctx, offset, self.clock.now_ms());
        let active = self.ctx.poison.guard(created)?;
        write_lock(&self.segments).insert(offset, active.segment().clone());
        w.active = Some(active);
        w.unflushed_records = 0;
        self.log_start_offset.store(offset, Ordering::Release);
        self.recovery_point.store(offset, Ordering::Release);
        self.persist_state()
    }

    /// Deletes the segments whose successor starts at or below the log
    /// start offset (never the last one).
    fn delete_segments_below_start(&self, w: &mut Writer) -> Result<usize> {
        let start = self.log_start_offset.load(Ordering::Acquire);
        let doomed: Vec<Arc<Segment>> = {
            let segments = read_lock(&self.segments);
            let bases: Vec<u64> = segments.keys().copied().collect();
            bases
                .windows(2)
                .take_while(|pair| pair[1] <= start)
                .filter_map(|pair| segments.get(&pair[0]).cloned())
                .collect()
        };
        w.unsynced
            .retain(|s| !doomed.iter().any(|d| Arc::ptr_eq(d, s)));
        self.remove_segments(&doomed)?;
        Ok(doomed.len())
    }

    /// Takes segments out of the log and deletes their files: renamed
    /// `.deleted` first (fsync protocol step 6), then removed. Readers
    /// holding their files keep reading.
    fn remove_segments(&self, doomed: &[Arc<Segment>]) -> Result<()> {
        if doomed.is_empty() {
            return Ok(());
        }
        {
            let mut segments = write_lock(&self.segments);
            for seg in doomed {
                segments.remove(&seg.base_offset());
            }
        }
        let result = (|| {
            let mut renamed = Vec::new();
            for seg in doomed {
                renamed.extend(seg.rename_to_deleted()?);
            }
            remove_files(&*self.ctx.fs, &self.dir, &renamed)
        })();
        self.ctx.poison.guard(result)
    }
}

//! Carrying out retention on one log, and removing deleted segment files
//! once their delay has passed.
//!
//! Deciding is [`crate::retention::plan`]'s job; this file only gathers the
//! segment metadata the planner needs, raises the log start offset and
//! deletes the segments the plan names (through [`super::deletion`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::PartitionLog;
use crate::error::Result;
use crate::retention::{self, DeleteReason, RetentionPolicy, SegmentMeta};
use crate::segment::{read_lock, Segment};

/// What [`PartitionLog::apply_retention`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Why each deleted segment went, oldest first.
    pub deleted: Vec<DeleteReason>,
    /// Bytes of `.log` data the deleted segments held.
    pub bytes_freed: u64,
    /// The log start offset afterwards.
    pub log_start_offset: u64,
    /// Files of deleted segments removed from disk by this call: all the
    /// files of the segments it deleted when the log has no
    /// [`file_delete_delay_ms`](super::OpenOptions::file_delete_delay_ms),
    /// none otherwise (they wait for the delay).
    pub files_removed: usize,
}

impl PartitionLog {
    /// Deletes the oldest segments that `policy` no longer retains (by
    /// the log start offset, `retention_bytes`, then `retention_ms`; see
    /// [`crate::retention`]), raising the log start offset
    /// first. The active segment is never deleted, nor anything at or
    /// above the log end offset (the high watermark while there is no
    /// replication). Time comes from the log's clock.
    ///
    /// A new log start offset is durable, and the recovery point raised to
    /// it if it was below, before any file changes. The segments' files are
    /// then renamed `.deleted` and removed, at once or after the delay the
    /// log was opened with, without holding up appends meanwhile; readers
    /// that hold them finish.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// use seglog::{DeleteReason, RetentionPolicy};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("old").with_timestamp(1_000)])?; // from 1970
    /// log.roll()?;
    /// log.append(&[Record::new("new")])?;
    /// // Kafka's default keeps a week of records.
    /// let outcome = log.apply_retention(&RetentionPolicy::default())?;
    /// assert_eq!(outcome.deleted, [DeleteReason::Time]);
    /// assert_eq!(log.log_start_offset(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) (and the log is poisoned) if persisting the log start
    /// offset, renaming or removing fails; a segment whose timestamps
    /// cannot be read fails with its error.
    pub fn apply_retention(&self, policy: &RetentionPolicy) -> Result<RetentionOutcome> {
        // Checking changes nothing: the clean-shutdown marker stays until
        // something is deleted.
        let mut w = self.inner.writer()?;
        let now = self.inner.clock.now_ms();
        let segments: Vec<Arc<Segment>> =
            read_lock(&self.inner.segments).values().cloned().collect();
        let leo = self.inner.log_end_offset.load(Ordering::Acquire);
        let start = self.inner.log_start_offset.load(Ordering::Acquire);
        let mut metas: Vec<SegmentMeta> = segments
            .iter()
            .enumerate()
            .map(|(i, s)| SegmentMeta {
                base_offset: s.base_offset(),
                size: s.size(),
                largest_timestamp: -1,
                next_offset: segments.get(i + 1).map_or(leo, |n| n.base_offset()),
            })
            .collect();
        // Timestamps are read (from a segment's time index, when not
        // known yet) only where the time pass can look: it starts after
        // what the other passes delete and stops at the first segment it
        // keeps. Planning with just those gives the plan that all of them
        // would.
        let untimed = RetentionPolicy {
            retention_ms: None,
            ..*policy
        };
        // Nothing at or above the high watermark goes (for a log without
        // replicas it is the log end offset).
        let hw = self.inner.high_watermark();
        let mut plan = retention::plan(&metas, start, hw, now, &untimed);
        if let Some(retention_ms) = policy.retention_ms.filter(|_| policy.delete_enabled) {
            let last = metas.len().saturating_sub(1);
            for i in plan.delete.len()..last {
                let ts = segments[i].max_timestamp()?.timestamp;
                metas[i].largest_timestamp = ts;
                let expired =
                    ts >= 0 && i128::from(now) - i128::from(ts) > i128::from(retention_ms);
                if !expired {
                    break;
                }
            }
            plan = retention::plan(&metas, start, hw, now, policy);
        }
        if plan.is_empty() {
            return Ok(RetentionOutcome {
                log_start_offset: start,
                ..RetentionOutcome::default()
            });
        }
        self.inner.mark_changing(&mut w)?;
        let doomed = segments[..plan.delete.len()].to_vec();
        let bytes_freed = doomed.iter().map(|s| s.size()).sum();
        self.inner
            .raise_start_and_retire(&mut w, plan.new_log_start_offset, doomed)?;
        let log_start_offset = self.log_start_offset();
        // The files go without holding up appends.
        drop(w);
        let files_removed = self.inner.finish_deletions()?;
        Ok(RetentionOutcome {
            deleted: plan.delete,
            bytes_freed,
            log_start_offset,
            files_removed,
        })
    }

    /// Removes the files of deleted segments whose delay has passed (see
    /// [`OpenOptions::file_delete_delay_ms`](super::OpenOptions::file_delete_delay_ms)).
    /// Returns how many files were removed.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::options()
    ///     .file_delete_delay_ms(1)
    ///     .open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// log.roll()?;
    /// log.advance_log_start_offset(1)?; // deletes the first segment
    /// std::thread::sleep(std::time::Duration::from_millis(10));
    /// // Its .log, .index and .timeindex, renamed .deleted until now.
    /// assert_eq!(log.remove_deleted_files()?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if a removal fails: the files stay
    /// pending and the next call tries again. If the directory fsync after
    /// the removals fails, the log is poisoned too.
    pub fn remove_deleted_files(&self) -> Result<usize> {
        let mut removed = 0;
        self.remove_deleted_files_counted(&mut removed)?;
        Ok(removed)
    }

    /// [`remove_deleted_files`](Self::remove_deleted_files), counting into
    /// `removed` the files removed even when a later removal fails.
    pub(crate) fn remove_deleted_files_counted(&self, removed: &mut usize) -> Result<()> {
        let now = self.inner.clock.now_ms();
        self.inner
            .remove_pending_counted(|p| p.due_ms <= now, removed)
    }
}

//! Carrying out retention on one log, and removing deleted segment files
//! once their delay has passed.
//!
//! Deciding is [`crate::retention::plan`]'s job; this file only gathers the
//! segment metadata the planner needs, raises the log start offset and
//! deletes the segments the plan names.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Inner, PartitionLog};
use crate::error::{Error, Result};
use crate::io::IoContext;
use crate::retention::{self, DeleteReason, RetentionPolicy, SegmentMeta};
use crate::segment::{lock, read_lock, remove_files, Segment};

/// What [`PartitionLog::apply_retention`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Why each deleted segment went, oldest first.
    pub deleted: Vec<DeleteReason>,
    /// Bytes of `.log` data the deleted segments held.
    pub bytes_freed: u64,
    /// The log start offset afterwards.
    pub log_start_offset: u64,
}

/// Segment files renamed `.deleted`, to be removed at `due_ms`.
#[derive(Debug)]
pub(super) struct PendingDeletion {
    pub(super) due_ms: i64,
    pub(super) paths: Vec<PathBuf>,
}

impl PartitionLog {
    /// Deletes the oldest segments that `policy` no longer retains (by
    /// the log start offset, `retention_bytes`, then `retention_ms`; see
    /// [`crate::retention`]), raising the log start offset
    /// first. The active segment is never deleted, nor anything at or
    /// above the log end offset (the high watermark while there is no
    /// replication). Time comes from the log's clock.
    ///
    /// The segments' files are renamed `.deleted` at once and removed after
    /// the delay the log was opened with; readers that hold them finish.
    ///
    /// # Errors
    /// [`Error::Io`] (and the log is poisoned) if
    /// persisting the log start offset or renaming fails; a segment whose
    /// timestamps cannot be read fails with its error.
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
        let mut plan = retention::plan(&metas, start, leo, now, &untimed);
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
            plan = retention::plan(&metas, start, leo, now, policy);
        }
        if plan.is_empty() {
            return Ok(RetentionOutcome {
                log_start_offset: start,
                ..RetentionOutcome::default()
            });
        }
        self.inner.mark_changing(&mut w)?;
        let doomed = &segments[..plan.delete.len()];
        let bytes_freed = doomed.iter().map(|s| s.size()).sum();
        if plan.new_log_start_offset > start {
            self.inner
                .log_start_offset
                .store(plan.new_log_start_offset, Ordering::Release);
            self.inner.persist_state(&w)?;
        }
        w.unsynced
            .retain(|s| !doomed.iter().any(|d| Arc::ptr_eq(d, s)));
        self.inner.remove_segments(doomed)?;
        Ok(RetentionOutcome {
            deleted: plan.delete,
            bytes_freed,
            log_start_offset: self.log_start_offset(),
        })
    }

    /// Removes the files of deleted segments whose delay has passed (see
    /// [`OpenOptions::file_delete_delay_ms`](super::OpenOptions::file_delete_delay_ms)).
    /// Returns how many files were removed.
    ///
    /// # Errors
    /// [`Error::Io`] if a removal fails; the files stay
    /// pending and the next call tries again.
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

impl Inner {
    /// Renamed files are removed now, or queued when the log has a delay.
    pub(super) fn schedule_removal(&self, paths: Vec<PathBuf>) -> Result<()> {
        if self.file_delete_delay_ms == 0 {
            return remove_files(&*self.ctx.fs, &self.dir, &paths);
        }
        let due_ms = self
            .clock
            .now_ms()
            .saturating_add(self.file_delete_delay_ms.min(i64::MAX as u64) as i64);
        lock(&self.pending_deletions).push(PendingDeletion { due_ms, paths });
        Ok(())
    }

    /// Removes the pending deletions `due` selects.
    pub(super) fn remove_pending(&self, due: impl Fn(&PendingDeletion) -> bool) -> Result<usize> {
        let mut removed = 0;
        self.remove_pending_counted(due, &mut removed)?;
        Ok(removed)
    }

    /// [`remove_pending`](Self::remove_pending), adding each file removed
    /// to `removed` as it goes, so a failure part-way still counts the
    /// files that did go. What is left stays pending for the next attempt.
    pub(super) fn remove_pending_counted(
        &self,
        due: impl Fn(&PendingDeletion) -> bool,
        removed: &mut usize,
    ) -> Result<()> {
        let ready: Vec<PendingDeletion> = {
            let mut pending = lock(&self.pending_deletions);
            let (ready, later) = std::mem::take(&mut *pending).into_iter().partition(&due);
            *pending = later;
            ready
        };
        if ready.is_empty() {
            return Ok(());
        }
        let fs = &*self.ctx.fs;
        let mut left = ready.into_iter();
        while let Some(mut p) = left.next() {
            for (j, path) in p.paths.iter().enumerate() {
                match fs.remove_file(path) {
                    Ok(()) => *removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        let error = Error::io("remove", path, e);
                        p.paths.drain(..j);
                        let mut pending = lock(&self.pending_deletions);
                        pending.push(p);
                        pending.extend(left);
                        return Err(error);
                    }
                }
            }
        }
        fs.sync_dir(&self.dir).ctx("fsync directory", &self.dir)
    }
}

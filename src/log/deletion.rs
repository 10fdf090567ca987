//! Deleting segments' files without holding up the writer.
//!
//! A deletion below the log start (DeleteRecords, retention) does under
//! the writer lock only what appends must see at once: the new log start
//! is written (fsync protocol step 4) and the segments are taken out of
//! the log and queued. The caller then releases the writer lock and
//! works through the queue holding only the *deletions lock*: every
//! queued segment's files are renamed `.deleted`, the directory is
//! fsynced once for all of them, and the files are removed at once (then
//! the directory fsynced once more) or left for
//! [`OpenOptions::file_delete_delay_ms`](super::OpenOptions::file_delete_delay_ms)
//! to pass. However many segments go, an append waits at most for the
//! checkpoint write.
//!
//! Truncation, restart and close take the deletions lock while they hold
//! the writer lock (the order is always writer, then deletions; nothing
//! holding the deletions lock takes the writer lock), and first finish
//! whatever is queued. So a segment the writer creates again at the base
//! offset of a queued one (after a truncation below it) never has its
//! files renamed by the deletion: queued segments are renamed before the
//! writer can create anything at their base offsets.
//!
//! A crash part-way leaves the log consistent: the start was durable
//! before the first rename, so segments not renamed yet lie wholly below
//! it. Recovery does not re-read them (a torn one holds no readable
//! record), the open deletes them, finishing the deletion, and removes
//! leftover `.deleted` files.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Inner, Writer};
use crate::error::{Error, Result};
use crate::io::IoContext;
use crate::segment::{lock, write_lock, Segment};

/// The deletions of one log: segments waiting for their files to be
/// renamed, and renamed files waiting for their delay.
#[derive(Default)]
pub(super) struct Deletions {
    /// Segments taken out of the log whose files are not renamed yet.
    queued: Mutex<Vec<Arc<Segment>>>,
    /// Held while queued segments' files are renamed and removed.
    running: Mutex<()>,
    /// Renamed files waiting for their delay to pass.
    pending: Mutex<Vec<PendingDeletion>>,
}

/// Segment files renamed `.deleted`, to be removed at `due_ms`.
#[derive(Debug)]
pub(super) struct PendingDeletion {
    pub(super) due_ms: i64,
    pub(super) paths: Vec<PathBuf>,
}

impl Inner {
    /// Raises the log start offset to `new_start` (when it is above it),
    /// and the recovery point with it (Kafka's `updateLogStartOffset`),
    /// makes the new start durable, then takes `doomed`, the segments
    /// wholly below it in base offset order, out of the log and queues their files for
    /// deletion ([`finish_deletions`](Self::finish_deletions) does it
    /// once the writer lock is released).
    pub(super) fn raise_start_and_retire(
        &self,
        w: &mut Writer,
        new_start: u64,
        doomed: Vec<Arc<Segment>>,
    ) -> Result<()> {
        // Segments about to go need no fsync: they hold no readable record
        // once the start is past them, and an open after a crash deletes
        // what is left of them (see the module docs).
        w.unsynced.retain(|s| !is_among(&doomed, s));
        if new_start > self.log_start_offset.load(Ordering::Acquire) {
            self.log_start_offset.store(new_start, Ordering::Release);
            self.recovery_point.fetch_max(new_start, Ordering::AcqRel);
            self.persist_state(w)?;
            self.epochs_started_at(new_start);
        }
        if doomed.is_empty() {
            return Ok(());
        }
        {
            let mut segments = write_lock(&self.segments);
            for seg in &doomed {
                segments.remove(&seg.base_offset());
            }
        }
        lock(&self.deletions.queued).extend(doomed);
        Ok(())
    }

    /// Deletes the files of the queued segments, without the writer lock.
    /// Returns how many files were removed (none when the log has a
    /// delay: they wait for it).
    pub(super) fn finish_deletions(&self) -> Result<usize> {
        let running = lock(&self.deletions.running);
        self.run_deletions(&running)
    }

    /// Takes `doomed` (in base offset order) out of the log and deletes
    /// their files now, with the writer lock held, after any deletion in
    /// flight (truncation).
    pub(super) fn delete_segments_now(
        &self,
        w: &mut Writer,
        doomed: &[Arc<Segment>],
    ) -> Result<()> {
        w.unsynced.retain(|s| !is_among(doomed, s));
        let running = lock(&self.deletions.running);
        {
            let mut segments = write_lock(&self.segments);
            for seg in doomed {
                segments.remove(&seg.base_offset());
            }
        }
        lock(&self.deletions.queued).extend(doomed.iter().cloned());
        self.run_deletions(&running).map(drop)
    }

    /// Finishes every queued deletion: all the files renamed, one
    /// directory fsync, then the files removed now or queued for their
    /// delay. A failure poisons the log (the renamed files are removed
    /// later; segments not renamed stay below the durable log start).
    pub(super) fn run_deletions(&self, _running: &MutexGuard<'_, ()>) -> Result<usize> {
        let segments = std::mem::take(&mut *lock(&self.deletions.queued));
        if segments.is_empty() {
            return Ok(0);
        }
        let fs = &*self.ctx.fs;
        let mut renamed = Vec::new();
        // Each segment is let go once renamed, so that its file handle
        // closes then: a deletion of thousands of segments must not hold
        // as many files open while appends go on. A reader still holding
        // one (nothing else can: it left the log) keeps its file open
        // through the rename.
        let result = segments
            .into_iter()
            .try_for_each(|seg| {
                let in_use = Arc::strong_count(&seg) > 1;
                seg.rename_files_to_deleted(&mut renamed, in_use)
            })
            .and_then(|()| fs.sync_dir(&self.dir).ctx("fsync directory", &self.dir));
        if let Err(e) = result {
            self.defer_removal(renamed, 0);
            return Err(self.ctx.poison.poison(e));
        }
        if self.file_delete_delay_ms > 0 {
            let due_ms = self
                .clock
                .now_ms()
                .saturating_add(self.file_delete_delay_ms.min(i64::MAX as u64) as i64);
            self.defer_removal(renamed, due_ms);
            return Ok(0);
        }
        let mut removed = 0;
        if let Err((e, left)) = self.remove_files_counted(renamed, &mut removed) {
            self.defer_removal(left, 0);
            return Err(self.ctx.poison.poison(e));
        }
        let synced = fs.sync_dir(&self.dir).ctx("fsync directory", &self.dir);
        self.ctx.poison.guard(synced)?;
        Ok(removed)
    }

    /// Queues files renamed `.deleted` (by a compaction swap) for removal
    /// once the log's delay has passed.
    pub(super) fn defer_deleted(&self, paths: Vec<PathBuf>) {
        let due_ms = self
            .clock
            .now_ms()
            .saturating_add(self.file_delete_delay_ms.min(i64::MAX as u64) as i64);
        self.defer_removal(paths, due_ms);
    }

    /// Queues renamed files for removal at `due_ms`.
    fn defer_removal(&self, paths: Vec<PathBuf>, due_ms: i64) {
        if !paths.is_empty() {
            lock(&self.deletions.pending).push(PendingDeletion { due_ms, paths });
        }
    }

    /// Removes `paths` (ignoring files already gone), adding each one
    /// removed to `removed`; on a failure, the error and the paths not
    /// removed yet.
    fn remove_files_counted(
        &self,
        paths: Vec<PathBuf>,
        removed: &mut usize,
    ) -> std::result::Result<(), (Error, Vec<PathBuf>)> {
        let fs = &*self.ctx.fs;
        for (i, path) in paths.iter().enumerate() {
            match fs.remove_file(path) {
                Ok(()) => *removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    let error = Error::io("remove", path, e);
                    return Err((error, paths[i..].to_vec()));
                }
            }
        }
        Ok(())
    }

    /// Removes the pending deletions `due` selects, adding each file
    /// removed to `removed` as it goes, so a failure part-way still counts
    /// the files that did go. What is left stays pending for the next
    /// attempt. The directory fsync that follows the removals poisons the
    /// log when it fails, as every failed fsync does.
    pub(super) fn remove_pending_counted(
        &self,
        due: impl Fn(&PendingDeletion) -> bool,
        removed: &mut usize,
    ) -> Result<()> {
        let ready: Vec<PendingDeletion> = {
            let mut pending = lock(&self.deletions.pending);
            let (ready, later) = std::mem::take(&mut *pending).into_iter().partition(&due);
            *pending = later;
            ready
        };
        if ready.is_empty() {
            return Ok(());
        }
        let mut left = ready.into_iter();
        while let Some(p) = left.next() {
            if let Err((error, paths)) = self.remove_files_counted(p.paths, removed) {
                let mut pending = lock(&self.deletions.pending);
                pending.push(PendingDeletion {
                    due_ms: p.due_ms,
                    paths,
                });
                pending.extend(left);
                return Err(error);
            }
        }
        let synced = self
            .ctx
            .fs
            .sync_dir(&self.dir)
            .ctx("fsync directory", &self.dir);
        self.ctx.poison.guard(synced)
    }

    /// Removes every pending deletion (at close: nobody can reach the
    /// deleted segments through this log any more).
    pub(super) fn remove_all_pending(&self) -> Result<()> {
        let mut removed = 0;
        self.remove_pending_counted(|_| true, &mut removed)
    }

    /// The deletions lock, for close to wait for a deletion in flight.
    pub(super) fn deletions_lock(&self) -> MutexGuard<'_, ()> {
        lock(&self.deletions.running)
    }
}

/// Whether `segment` is one of `sorted`, segments of this log in base
/// offset order (a log holds one segment per base offset). A binary
/// search: deleting many segments must not cost their number squared.
fn is_among(sorted: &[Arc<Segment>], segment: &Arc<Segment>) -> bool {
    sorted
        .binary_search_by_key(&segment.base_offset(), |s| s.base_offset())
        .is_ok_and(|i| Arc::ptr_eq(&sorted[i], segment))
}

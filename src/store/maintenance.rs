//! The store's housekeeping: retention, time-based flushes, syncing rolled
//! segments, removing deleted segment files, and the root checkpoints.
//!
//! [`LogStore::maintain`] does one pass synchronously, on the caller's
//! thread; [`LogStore::start_maintenance`] runs passes on a background
//! thread at an interval until the store closes.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use super::{LogStore, StoreInner, TopicPartition};
use crate::error::{Error, Result};
use crate::retention::RetentionPolicy;
use crate::segment::{lock, read_lock};

/// What one maintenance pass did.
#[derive(Debug, Default)]
pub struct MaintenanceReport {
    /// Partitions visited.
    pub partitions: usize,
    /// Segments deleted by retention.
    pub segments_deleted: usize,
    /// Bytes of `.log` data those segments held.
    pub bytes_freed: u64,
    /// Files of deleted segments removed from disk: right after their
    /// segments were deleted when the topic has no `file.delete.delay.ms`,
    /// or once the delay passed.
    pub files_removed: usize,
    /// Partitions fsynced because `flush_ms` had passed.
    pub partitions_flushed: usize,
    /// Rolled segments fsynced.
    pub segments_synced: usize,
    /// What failed, per partition; the pass went on with the others.
    pub errors: Vec<PartitionError>,
}

/// A partition that maintenance could not finish.
#[derive(Debug)]
pub struct PartitionError {
    /// The partition (the topic alone, with partition 0, for store-wide
    /// failures such as writing the checkpoints).
    pub partition: TopicPartition,
    /// What went wrong.
    pub error: Error,
}

impl LogStore {
    /// Runs one maintenance pass over every partition, now, on this
    /// thread: retention by each topic's `retention.ms` and
    /// `retention.bytes` where its `cleanup.policy` includes `delete`
    /// (segments renamed `.deleted`), `flush.ms`
    /// flushes, fsyncs of rolled segments, removal of deleted segments'
    /// files whose `file.delete.delay.ms` has passed, and the root
    /// checkpoint files. Time comes from the store's clock.
    ///
    /// A failing partition does not stop the pass: its error is in the
    /// report.
    ///
    /// # Errors
    /// [`Error::Closed`] if the store is closed; [`Error::ReadOnly`] if it
    /// was opened read-only.
    pub fn maintain(&self) -> Result<MaintenanceReport> {
        run_pass(&self.inner)
    }

    /// Runs [`maintain`](Self::maintain) on a background thread every
    /// `interval` until the store is closed (which stops and joins it).
    /// The latest report is kept, see
    /// [`last_maintenance_report`](Self::last_maintenance_report). Starting
    /// it again replaces the interval.
    ///
    /// # Errors
    /// [`Error::Closed`]; [`Error::ReadOnly`]; [`Error::Io`] if the thread
    /// cannot be started.
    pub fn start_maintenance(&self, interval: Duration) -> Result<()> {
        self.inner.check_writable()?;
        stop(&self.inner);
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let weak: Weak<StoreInner> = Arc::downgrade(&self.inner);
        let handle = std::thread::Builder::new()
            .name("seglog-maintenance".into())
            .spawn(move || loop {
                match stop_rx.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {}
                    // Told to stop, or the store is gone.
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                let Some(inner) = weak.upgrade() else { return };
                match run_pass(&inner) {
                    Ok(report) => *lock(&inner.last_maintenance) = Some(report),
                    Err(_) => return,
                }
            })
            .map_err(|e| Error::io("spawn maintenance thread", &self.inner.dir, e))?;
        *lock(&self.inner.maintenance) = Some(Background {
            stop: stop_tx,
            thread: handle.thread().id(),
            handle,
        });
        Ok(())
    }

    /// The report of the background thread's latest pass, taken (the next
    /// call returns `None` until another pass has run).
    pub fn last_maintenance_report(&self) -> Option<MaintenanceReport> {
        lock(&self.inner.last_maintenance).take()
    }
}

/// The background thread, while it runs.
pub(crate) struct Background {
    stop: mpsc::Sender<()>,
    thread: ThreadId,
    handle: JoinHandle<()>,
}

/// Stops the background thread, if any, and waits for it; unless this is
/// that thread (its pass held the last handle of the store).
pub(crate) fn stop(inner: &StoreInner) {
    let Some(bg) = lock(&inner.maintenance).take() else {
        return;
    };
    let _ = bg.stop.send(());
    if std::thread::current().id() != bg.thread {
        let _ = bg.handle.join();
    }
}

fn run_pass(inner: &StoreInner) -> Result<MaintenanceReport> {
    inner.check_writable()?;
    let topics: Vec<_> = read_lock(&inner.topics).values().cloned().collect();
    let mut report = MaintenanceReport::default();
    for t in topics {
        let policy = RetentionPolicy {
            retention_ms: t.config.retention_ms,
            retention_bytes: t.config.retention_bytes,
            delete_enabled: t.config.log.cleanup_policy.deletes(),
        };
        let logs = read_lock(&t.partitions).clone();
        for (p, log) in logs.into_iter().enumerate() {
            let tp = TopicPartition::new(t.name.clone(), p as u32);
            report.partitions += 1;
            let step = (|| -> Result<()> {
                let outcome = log.apply_retention(&policy)?;
                report.segments_deleted += outcome.deleted.len();
                report.bytes_freed += outcome.bytes_freed;
                report.files_removed += outcome.files_removed;
                report.partitions_flushed += usize::from(log.maybe_flush()?);
                report.segments_synced += log.sync_sealed()?;
                log.remove_deleted_files_counted(&mut report.files_removed)?;
                Ok(())
            })();
            match step {
                // A topic deleted or a store closed during the pass.
                Err(Error::Closed) if inner.check_open().is_err() => return Err(Error::Closed),
                Err(Error::Closed) => {}
                Err(error) => report.errors.push(PartitionError {
                    partition: tp,
                    error,
                }),
                Ok(()) => {}
            }
        }
    }
    // Topic changes and close write the same files: the partitions are
    // listed again under their lock, so that a topic deleted meanwhile is
    // not written back.
    let Ok(_admin) = inner.admin() else {
        return Err(Error::Closed);
    };
    let all = inner.all_logs()?;
    if let Err(error) = inner.write_checkpoints(&all) {
        report.errors.push(PartitionError {
            partition: TopicPartition::new(String::new(), 0),
            error,
        });
    }
    Ok(report)
}

//! The store's housekeeping: compaction, retention, time-based flushes,
//! syncing rolled segments, removing deleted segment files, and the root
//! checkpoints.
//!
//! A store opened for writing runs passes on a background thread every
//! [`StoreConfig::retention_check_interval`] (Kafka's
//! `log.retention.check.interval.ms`, 5 minutes by default) until it
//! closes, unless [`StoreConfig::background_maintenance`] is off.
//! [`LogStore::maintain`] does one pass synchronously, on the caller's
//! thread; [`LogStore::start_maintenance`] starts the thread (or restarts
//! it at another interval). A pass compacts first (see the `cleaner`
//! module), then applies retention, so a `compact,delete` topic gets
//! both, in Kafka's order.
//!
//! A pass holds up neither producers nor consumers for long: compaction
//! rounds and the fsyncs of rolled segments run outside a log's locks;
//! retention takes a partition's append lock only to plan (reading the
//! time indexes of the oldest segments, once each) and to commit a new
//! log start offset, and removes the files after; a `flush.ms` flush
//! fsyncs under it, as every flush does. The root checkpoints are written
//! under the lock of topic changes, which producers and consumers do not
//! take.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use super::cleaner::{self, PartitionCompaction};
#[cfg(doc)]
use super::StoreConfig;
use super::{groups, LogStore, StoreInner, TopicPartition};
use crate::error::{Error, Result};
use crate::retention::RetentionPolicy;
use crate::segment::{lock, read_lock};
#[cfg(doc)]
use crate::store::CleanerConfig;
use crate::topic::CONSUMER_OFFSETS_TOPIC;

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
    /// Compaction rounds run, over all partitions.
    pub compaction_rounds: usize,
    /// Bytes those rounds read.
    pub compaction_bytes_read: u64,
    /// Bytes of the segments those rounds wrote.
    pub compaction_bytes_written: u64,
    /// Records those rounds removed.
    pub compaction_records_dropped: u64,
    /// The partitions compacted, in the order the pass first picked them
    /// (the filthiest due log first), with what each round did.
    pub compactions: Vec<PartitionCompaction>,
    /// Whether the pass left logs that were due uncompacted because its
    /// rounds had read and written
    /// [`CleanerConfig::max_bytes_per_pass`] bytes.
    pub compaction_budget_exhausted: bool,
    /// Committed offsets deleted because they expired
    /// (`offsets.retention.minutes`) or their topic is gone.
    pub offsets_expired: usize,
    /// Groups deleted because they had neither members nor committed
    /// offsets left.
    pub groups_deleted: usize,
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
    /// thread: compaction rounds on the partitions of topics whose
    /// `cleanup.policy` compacts and that are due (the filthiest first,
    /// within [`CleanerConfig::max_bytes_per_pass`]; none if
    /// [`CleanerConfig::enable`] is off), retention by each topic's
    /// `retention.ms` and `retention.bytes` where its `cleanup.policy`
    /// deletes (segments renamed `.deleted`; segments below the log start
    /// offset go whatever the policy), `flush.ms` flushes, fsyncs of
    /// rolled segments, removal of deleted segments' files whose
    /// `file.delete.delay.ms` has passed, and the root checkpoint files.
    /// For consumer groups: members whose session expired are removed,
    /// and every `offsets.retention.check.interval.ms` expired committed
    /// offsets are deleted (see [`GroupsConfig`]). Time comes from the
    /// store's clock.
    ///
    /// [`GroupsConfig`]: crate::offsets::GroupsConfig
    ///
    /// A failing partition does not stop the pass: its error is in the
    /// report.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// // Records are kept a day, in segments of at most 100 bytes.
    /// store.create_topic("events", 1, &[("retention.ms", "86400000"), ("segment.bytes", "100")])?;
    /// let producer = store.producer(Default::default());
    /// producer.send_and_wait(ProducerRecord::new("events", "old").with_timestamp(0))?; // 1970
    /// producer.send_and_wait(ProducerRecord::new("events", "new"))?;
    ///
    /// let report = store.maintain()?;
    /// assert_eq!(report.segments_deleted, 1);
    /// assert_eq!(store.describe_topic("events")?.partitions[0].log_start_offset, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::StoreClosed`] if the store is closed; [`Error::ReadOnly`]
    /// if it was opened read-only.
    pub fn maintain(&self) -> Result<MaintenanceReport> {
        Ok(run_pass(&self.inner, true, None)?.0)
    }

    /// Runs [`maintain`](Self::maintain) on a background thread every
    /// `interval` until the store is closed (which stops and joins it).
    /// The latest report is kept, see
    /// [`last_maintenance_report`](Self::last_maintenance_report). Starting
    /// it again replaces the interval.
    ///
    /// A store opened for writing starts this thread itself, at
    /// [`StoreConfig::retention_check_interval`], unless
    /// [`StoreConfig::background_maintenance`] is off: call this to run
    /// passes at another interval, or to start them later in a store
    /// opened with the switch off.
    ///
    /// After a pass in which no log was due for compaction, the passes
    /// skip compaction for [`CleanerConfig::backoff_ms`] (Kafka's cleaner
    /// sleeps as long when it finds nothing to clean). Compaction rounds
    /// hold up neither producers nor consumers; a pass that compacts takes
    /// longer, and the next one starts `interval` after it ends. Closing
    /// the store (or starting again) lets the round in progress finish,
    /// and starts no other.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use seglog::{LogStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let config = StoreConfig { background_maintenance: false, ..StoreConfig::default() };
    /// let store = LogStore::open(dir.path(), config)?;
    /// store.create_topic("events", 1, &[])?;
    /// store.start_maintenance(Duration::from_millis(10))?;
    ///
    /// let pass = (0..1000).find_map(|_| {
    ///     std::thread::sleep(Duration::from_millis(10));
    ///     store.last_maintenance_report()
    /// });
    /// assert_eq!(pass.ok_or("no pass ran")?.partitions, 1);
    /// store.close()?; // stops the thread
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::StoreClosed`]; [`Error::ReadOnly`];
    /// [`Error::InvalidConfig`] for a zero `interval`; [`Error::Io`] if
    /// the thread cannot be started.
    pub fn start_maintenance(&self, interval: Duration) -> Result<()> {
        self.inner.check_writable()?;
        if interval.is_zero() {
            return Err(Error::config("interval", "must be at least 1 ms"));
        }
        stop(&self.inner);
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let halt = Arc::new(AtomicBool::new(false));
        let halted = halt.clone();
        let weak: Weak<StoreInner> = Arc::downgrade(&self.inner);
        let backoff = Duration::from_millis(self.inner.config.cleaner.backoff_ms);
        let handle = std::thread::Builder::new()
            .name("seglog-maintenance".into())
            .spawn(move || {
                // Since when the cleaner found nothing due.
                let mut idle_since: Option<Instant> = None;
                loop {
                    match stop_rx.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => {}
                        // Told to stop, or the store is gone.
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                    let Some(inner) = weak.upgrade() else { return };
                    let clean = idle_since.is_none_or(|t| t.elapsed() >= backoff);
                    match run_pass(&inner, clean, Some(&halted)) {
                        Ok((report, any_due)) => {
                            if clean {
                                idle_since = (!any_due).then(Instant::now);
                            }
                            *lock(&inner.last_maintenance) = Some(report);
                        }
                        Err(_) => return,
                    }
                }
            })
            .map_err(|e| Error::io("spawn maintenance thread", &self.inner.dir, e))?;
        let bg = Background {
            stop: stop_tx,
            halt,
            thread: handle.thread().id(),
            handle,
        };
        let mut slot = lock(&self.inner.maintenance);
        if slot.closing {
            // The store began to close after the check above.
            drop(slot);
            stop_thread(bg);
            return Err(self.inner.closed_error());
        }
        // Another start may have installed a thread since this one
        // stopped the previous: one runs, the other stops.
        let replaced = slot.running.replace(bg);
        drop(slot);
        if let Some(old) = replaced {
            stop_thread(old);
        }
        Ok(())
    }

    /// The report of the background thread's latest pass, taken (the next
    /// call returns `None` until another pass has run).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// // The background thread's first pass comes after 5 minutes, and a pass
    /// // run by hand returns its report instead.
    /// let report = store.maintain()?;
    /// assert!(report.errors.is_empty());
    /// assert!(store.last_maintenance_report().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn last_maintenance_report(&self) -> Option<MaintenanceReport> {
        lock(&self.inner.last_maintenance).take()
    }
}

/// The store's maintenance thread, if one runs, and whether the store is
/// closing (then none may start).
#[derive(Default)]
pub(crate) struct MaintenanceSlot {
    running: Option<Background>,
    closing: bool,
}

/// The background thread, while it runs.
pub(crate) struct Background {
    stop: mpsc::Sender<()>,
    /// Tells a pass in progress to start no more compaction rounds.
    halt: Arc<AtomicBool>,
    thread: ThreadId,
    handle: JoinHandle<()>,
}

/// Stops the background thread, if any, and waits for it; unless this is
/// that thread (its pass held the last handle of the store).
pub(crate) fn stop(inner: &StoreInner) {
    let running = lock(&inner.maintenance).running.take();
    if let Some(bg) = running {
        stop_thread(bg);
    }
}

/// Stops the background thread for good: the store is closing, and
/// [`LogStore::start_maintenance`] starts none from now on.
pub(crate) fn stop_for_close(inner: &StoreInner) {
    let running = {
        let mut slot = lock(&inner.maintenance);
        slot.closing = true;
        slot.running.take()
    };
    if let Some(bg) = running {
        stop_thread(bg);
    }
}

fn stop_thread(bg: Background) {
    bg.halt.store(true, Ordering::Release);
    let _ = bg.stop.send(());
    if std::thread::current().id() != bg.thread {
        let _ = bg.handle.join();
    }
}

/// Puts a partition's failure into the report; one closed under the pass
/// (its topic deleted meanwhile) is passed over.
///
/// # Errors
/// [`Error::StoreClosed`] if the store itself is closed.
pub(super) fn note_error(
    inner: &StoreInner,
    report: &mut MaintenanceReport,
    partition: TopicPartition,
    error: Error,
) -> Result<()> {
    match error {
        error if error.is_closed() && inner.check_open().is_err() => {
            Err(inner.closed_as_store(error))
        }
        error if error.is_closed() => Ok(()),
        error => {
            report.errors.push(PartitionError { partition, error });
            Ok(())
        }
    }
}

/// One pass, with compaction if `clean` (no round starting once `halt`
/// is set). Returns its report and whether a log was due for compaction.
fn run_pass(
    inner: &StoreInner,
    clean: bool,
    halt: Option<&AtomicBool>,
) -> Result<(MaintenanceReport, bool)> {
    inner.check_writable()?;
    let mut report = MaintenanceReport::default();
    let any_due = clean && cleaner::clean(inner, &mut report, halt)?;
    let topics: Vec<_> = read_lock(&inner.topics).values().cloned().collect();
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
            if let Err(error) = step {
                note_error(inner, &mut report, tp, error)?;
            }
        }
    }
    match groups::maintain_groups(inner) {
        Ok((offsets, groups)) => {
            report.offsets_expired += offsets;
            report.groups_deleted += groups;
        }
        Err(error) if error.is_closed() && inner.check_open().is_err() => {
            return Err(inner.closed_as_store(error))
        }
        Err(error) => report.errors.push(PartitionError {
            partition: TopicPartition::new(CONSUMER_OFFSETS_TOPIC, 0),
            error,
        }),
    }
    // Topic changes and close write the same files: the partitions are
    // listed again under their lock, so that a topic deleted meanwhile is
    // not written back.
    let _admin = inner.admin()?;
    for (partition, error) in inner.maintain_replicas(true) {
        report.errors.push(PartitionError { partition, error });
    }
    let all = inner.all_logs()?;
    if let Err(error) = inner.write_checkpoints(&all) {
        report.errors.push(PartitionError {
            partition: TopicPartition::new(String::new(), 0),
            error,
        });
    }
    Ok((report, any_due))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::io::MemFs;
    use crate::segment::lock;
    use crate::store::{LogStore, StoreConfig};
    use crate::Error;

    #[test]
    fn a_start_racing_the_close_leaves_no_thread_behind() {
        for _ in 0..50 {
            let store = LogStore::options()
                .fs(MemFs::new())
                .open(
                    "/s",
                    StoreConfig {
                        background_maintenance: false,
                        ..StoreConfig::default()
                    },
                )
                .unwrap();
            let starter = {
                let store = store.clone();
                std::thread::spawn(move || {
                    while store.start_maintenance(Duration::from_secs(3600)).is_ok() {}
                    store
                })
            };
            std::thread::sleep(Duration::from_micros(200));
            store.close().unwrap();
            let other = starter.join().unwrap();
            assert!(
                lock(&store.inner.maintenance).running.is_none(),
                "a maintenance thread outlived the close"
            );
            assert!(matches!(
                other.start_maintenance(Duration::from_secs(3600)),
                Err(Error::StoreClosed { .. })
            ));
        }
    }
}

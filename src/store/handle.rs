//! [`LogStore`]'s own calls: opening a store (for writing or
//! read-only), what it was opened with, a partition's log, deleting
//! records, waiting for appends, syncing and closing. The topics, groups,
//! clients and maintenance have their own modules.
//!
//! This module is declared first in `store`: rustdoc lists a type's
//! methods in the order it meets their modules, so `LogStore`'s page
//! starts with `open`.

use std::path::Path;
use std::time::Duration;

use super::{signal, LogStore, StoreConfig, StoreOpenReport, StoreOptions};
#[cfg(doc)]
use super::{verify_store_files, Consumer, Producer};
use crate::error::Result;
use crate::log::PartitionLog;
#[cfg(doc)]
use crate::{error::Error, log::OpenOptions};

impl LogStore {
    /// Opens (or creates) the store in `dir`, with the settings of
    /// `config`. An open that fails on the store's files changes none of
    /// them (see [`verify_store_files`] for the checks).
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{Error, LogStore, StoreConfig};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("events", 1, &[])?;
    /// // One process writes a store at a time.
    /// let second = LogStore::open(dir.path(), StoreConfig::default());
    /// assert!(matches!(second, Err(Error::Locked { .. })));
    /// store.close()?;
    ///
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// assert_eq!(store.list_topics(), ["events"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Locked`] if the directory is open elsewhere, or a
    /// [`PartitionLog`] opened on its own writes one of its partitions;
    /// [`Error::InvalidConfig`] for a bad config (the cleaner's settings
    /// and a stored override included); [`Error::Corrupt`] for damaged
    /// metadata (naming the file) or partition data that strict recovery
    /// keeps; [`Error::MissingPartition`] for a partition whose directory
    /// is gone (see [`StoreConfig::recreate_missing_partitions`]);
    /// [`Error::Io`].
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<Self> {
        StoreOptions::new().open(dir, config)
    }

    /// Opens the store in `dir` read-only, beside the process that has it
    /// open (as Kafka's tools read a running broker's files): no lock is
    /// taken and nothing is written. Topics, partitions and records are
    /// what the files hold now; [`LogStore::refresh`] picks up what the
    /// writer did since, and consumers do so themselves while they wait in
    /// [`poll`](Consumer::poll) (every
    /// [`StoreConfig::refresh_interval`]). Every change (creating topics,
    /// producing, deleting records, maintenance) fails with
    /// [`Error::ReadOnly`]. See [`OpenOptions::read_only`] for what one
    /// partition's view is.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::store::{LogStore, StoreConfig};
    /// let dir = tempfile::tempdir()?;
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("events", 1, &[])?;
    ///
    /// // Beside the open store, in this process or another one:
    /// let reader = LogStore::open_read_only(dir.path(), StoreConfig::default())?;
    /// assert_eq!(reader.list_topics(), ["events"]);
    /// assert!(reader.create_topic("other", 1, &[]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`LogStore::open`]; a missing directory is [`Error::Io`].
    pub fn open_read_only(dir: impl AsRef<Path>, config: StoreConfig) -> Result<Self> {
        StoreOptions::new().read_only(true).open(dir, config)
    }

    /// Whether the store was opened read-only.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// let reader = LogStore::open_read_only(dir.path(), StoreConfig::default())?;
    /// assert!(!store.is_read_only());
    /// assert!(reader.is_read_only());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// Options for opening a store on another file system or clock (a
    /// test seam).
    #[cfg(any(test, feature = "testing"))]
    pub fn options() -> StoreOptions {
        StoreOptions::new()
    }

    /// The data directory.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// assert_eq!(store.dir(), dir.path());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The store's config.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let config = StoreConfig { max_open_files: 64, ..StoreConfig::default() };
    /// let store = LogStore::open(dir.path(), config.clone())?;
    /// assert_eq!(store.config(), &config);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// What opening found.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("events", 2, &[])?;
    /// store.close()?;
    ///
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// let report = store.open_report();
    /// assert!(report.clean_shutdown);
    /// assert_eq!(report.partitions, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_report(&self) -> &StoreOpenReport {
        &self.inner.report
    }

    /// The log of one partition, for reading and writing it directly
    /// (fetches as file ranges, appends of encoded batches, replication).
    /// Do not close it: it belongs to the store.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("events", 1, &[])?;
    /// let producer = store.producer(Default::default());
    /// producer.send_and_wait(ProducerRecord::new("events", "hello"))?;
    ///
    /// let log = store.partition("events", 0)?;
    /// assert_eq!(log.log_end_offset(), 1);
    /// assert!(store.partition("events", 1).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::UnknownPartition`],
    /// [`Error::StoreClosed`].
    pub fn partition(&self, topic: &str, partition: u32) -> Result<PartitionLog> {
        self.inner.topic(topic)?.log(partition)
    }

    /// Raises a partition's log start offset to `before_offset` (Kafka's
    /// DeleteRecords): records below it are no longer readable, and
    /// segments wholly below it are deleted. Returns the new log start
    /// offset (the low watermark).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("events", 1, &[])?;
    /// let producer = store.producer(Default::default());
    /// for value in ["a", "b", "c"] {
    ///     producer.send_and_wait(ProducerRecord::new("events", value))?;
    /// }
    /// assert_eq!(store.delete_records("events", 0, 2)?, 2);
    /// assert_eq!(store.describe_topic("events")?.partitions[0].log_start_offset, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] if `before_offset` is above the high
    /// watermark; [`Error::UnknownTopic`], [`Error::UnknownPartition`],
    /// [`Error::ReadOnly`], [`Error::Io`].
    pub fn delete_records(&self, topic: &str, partition: u32, before_offset: u64) -> Result<u64> {
        self.inner.check_writable()?;
        let log = self.partition(topic, partition)?;
        log.advance_log_start_offset(before_offset)?;
        Ok(log.log_start_offset())
    }

    /// A counter that moves whenever records are appended to any
    /// partition of this store (or the store closes). Read it before
    /// looking for records, then [`wait_for_append`](Self::wait_for_append)
    /// with it: an append made after the read wakes the wait, so none is
    /// missed (a broker's long-polling fetch works this way).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use seglog::{LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("events", 1, &[])?;
    /// let producer = store.producer(Default::default());
    /// let seen = store.append_generation();
    /// producer.send_and_wait(ProducerRecord::new("events", "hello"))?;
    /// assert_ne!(store.append_generation(), seen);
    /// // The append came after `seen` was read: the wait returns at once.
    /// assert!(store.wait_for_append(seen, Duration::from_secs(10)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn append_generation(&self) -> u64 {
        self.inner.signal.generation()
    }

    /// Sleeps until [`append_generation`](Self::append_generation) moves
    /// past `seen` or `timeout` passes. Returns whether it moved. Appends
    /// made by another process holding the directory read-only are not
    /// seen; a store closing wakes every waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use seglog::{LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("events", 1, &[])?;
    /// let seen = store.append_generation();
    /// assert!(!store.wait_for_append(seen, Duration::from_millis(10)));
    ///
    /// let writer = store.producer(Default::default());
    /// let append = std::thread::spawn(move || writer.send_and_wait(ProducerRecord::new("events", "hi")));
    /// assert!(store.wait_for_append(seen, Duration::from_secs(10)));
    /// append.join().expect("the producer thread panicked")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for_append(&self, seen: u64, timeout: Duration) -> bool {
        self.inner
            .signal
            .wait_past(seen, signal::deadline_after(timeout))
    }

    /// Writes out and fsyncs every partition ([`PartitionLog::sync`]):
    /// everything appended so far survives a crash of the machine. Records
    /// still in a [`Producer`]'s open batches are not appended yet: flush
    /// the producer first.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("events", 1, &[])?;
    /// let producer = store.producer(Default::default());
    /// producer.send_and_wait(ProducerRecord::new("events", "hello"))?;
    /// store.sync()?;
    /// // Everything up to the log end offset is on stable storage.
    /// assert_eq!(store.partition("events", 0)?.recovery_point(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The first partition's error; the others are still synced.
    /// [`Error::ReadOnly`] on a store opened read-only.
    pub fn sync(&self) -> Result<()> {
        self.inner.check_writable()?;
        let mut first = None;
        for log in self.inner.all_logs()?.into_iter().map(|(_, l)| l) {
            if let Err(e) = log.sync() {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Writes out and fsyncs every partition: the former name of
    /// [`sync`](Self::sync), which says that it fsyncs.
    ///
    /// # Errors
    /// As [`sync`](Self::sync).
    #[deprecated(note = "renamed `sync`, which fsyncs every partition")]
    pub fn flush(&self) -> Result<()> {
        self.sync()
    }

    /// Stops background maintenance, closes every partition (flushing it
    /// and writing its clean-shutdown marker), writes the root checkpoint
    /// files and the store's clean-shutdown marker, and releases the
    /// directory. Every handle of this store, producers and consumers
    /// included, fails with [`Error::StoreClosed`] afterwards (the
    /// [`PartitionLog`]s it handed out with [`Error::Closed`]). Closing
    /// twice is a no-op; dropping the last handle closes on a best-effort
    /// basis.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{Error, LogStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("events", 1, &[])?;
    /// let handle = store.clone();
    /// store.close()?;
    /// assert!(matches!(handle.describe_topic("events"), Err(Error::StoreClosed { .. })));
    ///
    /// // The directory is free again, and was closed cleanly.
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// assert!(store.open_report().clean_shutdown);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The first failure; the rest of the close goes on, the directory is
    /// released, and the next open recovers what needs it.
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }
}

//! [`LogStore`]: one data directory holding many topics, each split into
//! partitions, as a Kafka broker lays out a log directory.
//!
//! ```
//! use seglog::store::{LogStore, ProducerRecord, StoreConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let store = LogStore::open(dir.path(), StoreConfig::default())?;
//! store.create_topic("orders", 3, &[("retention.ms", "86400000")])?;
//!
//! let producer = store.producer(Default::default());
//! let sent = producer.send(ProducerRecord::new("orders", "created").with_key("order-1"))?;
//! let meta = sent.wait()?;
//!
//! let mut consumer = store.consumer(Default::default());
//! consumer.assign(&[("orders", meta.partition)])?;
//! consumer.seek_to_beginning()?;
//! let records = consumer.poll(std::time::Duration::from_secs(1))?;
//! assert_eq!(records[0].value.as_deref(), Some(&b"created"[..]));
//! store.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout and crash safety
//!
//! The directory holds one `<topic>-<partition>/` directory per partition
//! (a [`PartitionLog`]), Kafka's root checkpoint files, a lock file and
//! `seglog.topics`, the list of topics with their partition counts and
//! config overrides (see the `layout` module). Every change to the topics
//! is committed by replacing `seglog.topics` atomically:
//!
//! * **Create a topic / add partitions:** the new entry is committed
//!   first, its new partitions marked as being created; then their
//!   directories are created (and the root fsynced), and the entry is
//!   committed again as live. A crash in between leaves a committed topic
//!   whose missing directories the next open creates.
//! * **Delete a topic:** the entry is marked `deleting` (from then on the
//!   topic is gone), the partition directories are renamed
//!   `<topic>-<partition>.<id>-delete` and the directory fsynced, the entry
//!   removed, and the renamed directories removed. The next open finishes
//!   whatever a crash interrupted.
//!
//! A partition of a live topic whose directory is missing has lost its
//! data: opening the store fails with [`Error::MissingPartition`] rather
//! than serve it empty, unless
//! [`StoreConfig::recreate_missing_partitions`] says to recreate it.
//! Directories of topics `seglog.topics` does not list are left alone. A
//! directory without `seglog.topics` (a Kafka log directory, say) is
//! adopted: every partition directory in it becomes part of a topic, and
//! the partitions between the numbers found are created empty (gaps are
//! normal there). The files at the root are checked before an open
//! changes anything, as [`verify_store_files`] checks them; an open that
//! fails on them changes nothing.
//!
//! # Reading a store another process has open
//!
//! The lock lets one process open a store for writing, and keeps
//! [`PartitionLog`]s opened on their own out of its partitions (and a
//! store out of a directory where such a log writes): one writer per
//! partition, in one process or across several. Any number of
//! others may open it read-only ([`LogStore::open_read_only`]) to list and
//! describe topics and consume records beside it, as Kafka's tools read a
//! running broker: no lock, nothing written, and consumers that pick up
//! new records (by looking at the files every
//! [`refresh_interval`](StoreConfig::refresh_interval)) while they wait
//! in [`poll`](Consumer::poll).
//!
//! # Retention and maintenance
//!
//! A store opened for writing runs maintenance on a background thread
//! every [`StoreConfig::retention_check_interval`] (Kafka's
//! `log.retention.check.interval.ms`, 5 minutes by default): retention by
//! each topic's `retention.ms` and `retention.bytes`, compaction,
//! `flush.ms` flushes, removal of deleted segment files, and expired
//! committed offsets. Closing the store (or dropping its last handle)
//! stops the thread. A pass holds up producers and consumers only while
//! a partition's new log start offset is committed. A host that drives
//! maintenance itself turns the thread off
//! ([`StoreConfig::background_maintenance`]) and calls
//! [`LogStore::maintain`], or starts the thread at another interval with
//! [`LogStore::start_maintenance`]. A read-only store runs none: its
//! writer does.
//!
//! # Cleanup policies
//!
//! Each topic's `cleanup.policy` says what maintenance does with its old
//! records: `delete` applies retention by time and size;
//! `compact` compacts the partitions that are due (see
//! [`crate::compaction`]) and deletes only below the log start offset;
//! `compact,delete` compacts, then applies retention.
//! [`LogStore::compact`] runs a round at once. The store keeps every
//! partition's cleaner checkpoint in the root's
//! `cleaner-offset-checkpoint`, as Kafka does, and the log cleaner's
//! settings are [`StoreConfig::cleaner`].
//!
//! # Resources
//!
//! Partitions share one bound on open segment files and one on loaded
//! segment indexes ([`StoreConfig::max_open_files`],
//! [`StoreConfig::max_loaded_indexes`]), so a store of thousands of
//! partitions runs within the usual limit of 1,024 open files.

// First: rustdoc lists `LogStore`'s methods in module order (see `handle`).
mod handle;

mod accumulator;
mod cleaner;
mod cleaner_config;
mod consumer;
mod consumer_commit;
mod consumer_config;
mod consumer_control;
mod consumer_fetch;
mod consumer_group;
mod follow;
mod group_admin;
mod groups;
mod layout;
mod maintenance;
mod open;
mod options;
mod producer;
mod replicas;
mod root_files;
mod sender;
mod signal;
mod topics;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

pub use cleaner::PartitionCompaction;
pub use cleaner_config::CleanerConfig;
pub use consumer::{Consumer, ConsumerRecord};
pub use consumer_config::{AutoOffsetReset, ConsumerConfig};
pub use consumer_control::ConsumerWaker;
pub use consumer_fetch::ConsumerRecordRef;
pub use consumer_group::ConsumerRebalanceListener;
pub use group_admin::{
    ConsumerGroupDescription, ConsumerGroupListing, ConsumerGroupMember, OffsetResetSpec,
    PartitionLag,
};
pub use maintenance::{MaintenanceReport, PartitionError};
#[cfg(not(any(test, feature = "testing")))]
pub(crate) use options::StoreOptions;
#[cfg(any(test, feature = "testing"))]
pub use options::StoreOptions;
pub use producer::{Delivery, Producer, ProducerConfig, ProducerRecord, RecordMetadata};
pub use root_files::{verify_store_files, StoreFilesReport};
pub use topics::{PartitionDescription, TopicDescription, MAX_PARTITIONS};

use crate::clock::Clock;
use crate::config::RecoveryMode;
use crate::error::{Error, Result};
use crate::io::{self as fsio, DirLock, Fs, IoContext};
use crate::log::offset_checkpoint::{OffsetCheckpointFile, SharedOffsetCheckpoints};
use crate::log::{OpenOptions, PartitionLog, PartitionState, RecoveryReport, SavedState};
use crate::offsets::manager::OffsetManager;
use crate::offsets::{GroupCoordinator, GroupsConfig};
use crate::replication::ReplicatedPartition;
use crate::segment::{lock, read_lock, Resources};
use crate::topic::{partition_dir_name, TopicConfig};
use layout::{OffsetEntry, TopicEntry, TopicState};
use signal::AppendSignal;

/// A topic and one of its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic's name.
    pub topic: String,
    /// The partition number, from 0.
    pub partition: u32,
}

impl TopicPartition {
    /// `topic`'s partition `partition`.
    pub fn new(topic: impl Into<String>, partition: u32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

impl<T: Into<String>> From<(T, u32)> for TopicPartition {
    fn from((topic, partition): (T, u32)) -> Self {
        TopicPartition::new(topic, partition)
    }
}

/// Settings of a [`LogStore`].
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// The config of every topic, before its own overrides (Kafka's broker
    /// defaults). Default [`TopicConfig::default()`].
    pub topic_defaults: TopicConfig,
    /// Segment files kept open at most across all partitions; the least
    /// recently used are closed beyond it. Default 512.
    pub max_open_files: usize,
    /// Segments whose indexes are kept loaded (memory-mapped) at most
    /// across all partitions. Default 8,192.
    pub max_loaded_indexes: usize,
    /// What opening does with damaged data in a partition. Default
    /// [`RecoveryMode::Strict`].
    pub recovery_mode: RecoveryMode,
    /// The log cleaner's settings (Kafka's `log.cleaner.*`), for the
    /// topics whose cleanup policy compacts. Default
    /// [`CleanerConfig::default()`].
    pub cleaner: CleanerConfig,
    /// Committed offsets and consumer groups (Kafka's `offsets.*` and
    /// `group.*`). Default [`GroupsConfig::default()`].
    pub groups: GroupsConfig,
    /// How often a read-only store's consumers look at the files for new
    /// records while they wait in [`poll`](Consumer::poll) (another
    /// process's appends cannot wake them). Default
    /// [`DEFAULT_REFRESH_INTERVAL`] (100 ms); at least 1 ms is used.
    pub refresh_interval: Duration,
    /// Whether a partition whose directory is missing is recreated empty
    /// (and listed in [`StoreOpenReport::recreated_partitions`]) instead of
    /// failing the open with [`Error::MissingPartition`]. Default `false`:
    /// a missing directory is data lost, which only the host can decide to
    /// accept (one that copies partitions back from replicas, say). A
    /// read-only store serves such a partition as empty and creates
    /// nothing.
    pub recreate_missing_partitions: bool,
    /// Whether a store opened for writing runs maintenance (retention,
    /// compaction, `flush.ms`, deleted files, expired offsets) on a
    /// background thread every
    /// [`retention_check_interval`](Self::retention_check_interval), as a
    /// Kafka broker does. Default `true`. Turn it off for a host that
    /// calls [`LogStore::maintain`] itself, or that starts the thread
    /// later with [`LogStore::start_maintenance`]. A read-only store never
    /// runs maintenance.
    pub background_maintenance: bool,
    /// How long the background maintenance thread waits between passes
    /// (Kafka's `log.retention.check.interval.ms`), counted from the end
    /// of one pass to the start of the next. Default 5 minutes, as Kafka.
    /// Must be at least 1 ms.
    pub retention_check_interval: Duration,
}

/// Kafka's default `log.retention.check.interval.ms`: 5 minutes.
pub const DEFAULT_RETENTION_CHECK_INTERVAL: Duration = Duration::from_secs(5 * 60);

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            topic_defaults: TopicConfig::default(),
            max_open_files: 512,
            max_loaded_indexes: 8_192,
            recovery_mode: RecoveryMode::Strict,
            cleaner: CleanerConfig::default(),
            groups: GroupsConfig::default(),
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            recreate_missing_partitions: false,
            background_maintenance: true,
            retention_check_interval: DEFAULT_RETENTION_CHECK_INTERVAL,
        }
    }
}

impl StoreConfig {
    /// Checks the store-wide settings: the topic defaults, the cleaner's
    /// and the groups' settings, and the retention check interval.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the setting.
    pub fn validate(&self) -> Result<()> {
        self.topic_defaults.validate()?;
        self.cleaner.validate()?;
        self.groups.validate()?;
        if self.retention_check_interval.is_zero() {
            return Err(Error::config(
                "log.retention.check.interval.ms",
                "must be at least 1 ms",
            ));
        }
        Ok(())
    }
}

/// What opening a store found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOpenReport {
    /// The directory held no store yet.
    pub created: bool,
    /// The store's previous close was clean.
    pub clean_shutdown: bool,
    /// Partitions opened.
    pub partitions: usize,
    /// Partitions whose data had to be re-read after a crash.
    pub partitions_recovered: usize,
    /// Partition directories created: those of a topic whose creation (or
    /// growth) a crash interrupted, those between the partitions of an
    /// adopted directory, and those in
    /// [`recreated_partitions`](Self::recreated_partitions).
    pub partitions_created: usize,
    /// Partitions whose directories were missing and were recreated
    /// empty, as [`StoreConfig::recreate_missing_partitions`] asked
    /// (without it, a missing one fails the open with
    /// [`Error::MissingPartition`]).
    pub recreated_partitions: Vec<TopicPartition>,
    /// Topic deletions a crash had interrupted, finished now.
    pub deletions_finished: usize,
    /// Directories that are not partitions of a known topic, left alone.
    pub unknown_directories: Vec<PathBuf>,
    /// The partitions whose open found damage or finished work a crash
    /// interrupted ([`RecoveryReport::found_damage`]), with what their open
    /// reported: data cut off, checkpointed offsets beyond the end,
    /// segments that cannot hold their records, and so on. Each
    /// partition's own report is also at
    /// [`PartitionLog::recovery_report`].
    pub damaged_partitions: Vec<(TopicPartition, RecoveryReport)>,
}

/// How often a read-only store's consumers look for new records while they
/// wait, by default.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_millis(100);

/// One data directory of topics and partitions. See the [module
/// docs](self).
///
/// A cheap, cloneable handle (`Send + Sync`). Closing it (or dropping the
/// last handle) flushes every partition and writes the checkpoints.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<StoreInner>,
    /// Shared by the application's handles only, not by the maintenance
    /// thread: the last handle to go closes the store on its own thread,
    /// so the directory is released when its drop returns.
    _open: Arc<CloseOnDrop>,
}

struct CloseOnDrop(Arc<StoreInner>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        // Best effort; `close` reports errors.
        let _ = self.0.close();
    }
}

impl fmt::Debug for LogStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogStore")
            .field("dir", &self.inner.dir)
            .field("topics", &self.list_topics())
            .finish()
    }
}

/// A topic as the store holds it.
pub(crate) struct Topic {
    pub(crate) name: String,
    pub(crate) config: TopicConfig,
    pub(crate) overrides: Vec<(String, String)>,
    pub(crate) partitions: RwLock<Vec<PartitionLog>>,
    /// The partitions this store replicates
    /// ([`LogStore::replicate`]), by partition.
    pub(crate) replicas: Mutex<BTreeMap<u32, ReplicatedPartition>>,
}

impl Topic {
    pub(crate) fn partition_count(&self) -> u32 {
        read_lock(&self.partitions).len() as u32
    }

    pub(crate) fn log(&self, partition: u32) -> Result<PartitionLog> {
        let logs = read_lock(&self.partitions);
        logs.get(partition as usize)
            .cloned()
            .ok_or_else(|| Error::UnknownPartition {
                topic: self.name.clone(),
                partition,
                partitions: logs.len() as u32,
            })
    }

    fn entry(&self) -> TopicEntry {
        TopicEntry {
            name: self.name.clone(),
            partitions: self.partition_count(),
            state: TopicState::Live,
            overrides: self.overrides.clone(),
        }
    }
}

pub(crate) struct StoreInner {
    pub(crate) dir: PathBuf,
    pub(crate) fs: Arc<dyn Fs>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: StoreConfig,
    resources: Arc<Resources>,
    /// The root's `cleaner-offset-checkpoint`, shared by every partition.
    pub(crate) cleaner_checkpoints: Arc<SharedOffsetCheckpoints>,
    /// The root's `replication-offset-checkpoint` (high watermarks of
    /// replicated partitions), shared by every partition.
    pub(crate) high_watermarks: Arc<SharedOffsetCheckpoints>,
    pub(crate) signal: Arc<AppendSignal>,
    pub(crate) topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Moved on by every change of `topics` or of a topic's partitions
    /// ([`topics_changed`](Self::topics_changed)): what a producer looked
    /// up while it had a value is current while it still has it.
    topics_version: AtomicU64,
    /// Topics committed as deleted whose directories may still be there
    /// (a deletion that failed part-way); finished by the next topic
    /// change, maintenance pass or open.
    deleting: Mutex<Vec<TopicEntry>>,
    /// Directories renamed for deletion may be left (their removal
    /// failed): the next topic change or maintenance pass tries again.
    leftover_dirs: AtomicBool,
    /// Serialises topic changes (and with them `seglog.topics` writes).
    admin: Mutex<()>,
    closed: AtomicBool,
    dir_lock: Mutex<Option<Box<dyn DirLock>>>,
    maintenance: Mutex<maintenance::MaintenanceSlot>,
    pub(crate) last_maintenance: Mutex<Option<MaintenanceReport>>,
    report: StoreOpenReport,
    /// Opened read-only: nothing is written, changes fail.
    pub(crate) read_only: bool,
    pub(crate) refresh_interval: Duration,
    /// Committed offsets and stored group metadata.
    pub(crate) offsets: OffsetManager,
    /// The group coordinator, set once the store is open.
    pub(crate) coordinator: OnceLock<Arc<GroupCoordinator>>,
    /// The sender threads of the producers, stopped on close.
    pub(crate) producer_threads: sender::ProducerThreads,
}

impl StoreInner {
    /// Opens (creating if needed) one partition's log with the store's
    /// shared resources.
    pub(crate) fn open_log(
        &self,
        topic: &str,
        partition: u32,
        config: &TopicConfig,
        fallback: Option<(u64, u64)>,
    ) -> Result<PartitionLog> {
        let mut opts = OpenOptions::new()
            .fs_shared(self.fs.clone())
            .clock_shared(self.clock.clone())
            .recovery_mode(self.config.recovery_mode)
            .file_delete_delay_ms(config.file_delete_delay_ms);
        opts.resources = Some(self.resources.clone());
        opts.lock_dir = false;
        opts.cleaner_checkpoint = Some(OffsetCheckpointFile::Shared {
            file: self.cleaner_checkpoints.clone(),
            topic: topic.to_string(),
            partition,
        });
        opts.high_watermark_checkpoint = Some(OffsetCheckpointFile::Shared {
            file: self.high_watermarks.clone(),
            topic: topic.to_string(),
            partition,
        });
        let signal = self.signal.clone();
        opts.listener = Some(Arc::new(move || signal.notify()));
        opts.fallback_state = fallback.map(|(recovery_point, log_start_offset)| SavedState {
            state: PartitionState {
                recovery_point,
                log_start_offset,
            },
            recovery_point_file: self.dir.join(layout::RECOVERY_POINT_FILE),
            log_start_file: self.dir.join(layout::LOG_START_FILE),
        });
        opts.read_only(self.read_only).open(
            self.dir.join(partition_dir_name(topic, partition)),
            config.log.clone(),
        )
    }

    /// Opens the logs of a range of a topic's partitions (no root
    /// checkpoint hints: they are new to this store handle).
    pub(crate) fn open_logs(
        &self,
        topic: &str,
        config: &TopicConfig,
        range: std::ops::Range<u32>,
    ) -> Result<Vec<PartitionLog>> {
        range
            .map(|p| self.open_log(topic, p, config, None))
            .collect()
    }

    /// [`Error::StoreClosed`] once the store is closed.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(self.closed_error())
        } else {
            Ok(())
        }
    }

    /// The error of a call on this store once it is closed.
    pub(crate) fn closed_error(&self) -> Error {
        Error::StoreClosed {
            path: self.dir.clone(),
        }
    }

    /// `e`, or [`Error::StoreClosed`] if `e` is a closed log's or
    /// coordinator's error and the store is closed: the store's close is
    /// what closed them.
    pub(crate) fn closed_as_store(&self, e: Error) -> Error {
        if e.is_closed() && self.closed.load(Ordering::Acquire) {
            self.closed_error()
        } else {
            e
        }
    }

    /// Marks the topics, or a topic's partitions, as changed; called
    /// after each change.
    pub(crate) fn topics_changed(&self) {
        self.topics_version.fetch_add(1, Ordering::Release);
    }

    /// The version of the topics: unchanged while no topic is created or
    /// deleted and no partition added.
    pub(crate) fn topics_version(&self) -> u64 {
        self.topics_version.load(Ordering::Acquire)
    }

    /// [`check_open`](Self::check_open), and [`Error::ReadOnly`] for a
    /// store opened read-only.
    pub(crate) fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.read_only {
            return Err(Error::ReadOnly {
                path: self.dir.clone(),
            });
        }
        Ok(())
    }

    pub(crate) fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.check_open()?;
        read_lock(&self.topics)
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownTopic {
                name: name.to_string(),
            })
    }

    /// Every partition's log, by topic and partition.
    pub(crate) fn all_logs(&self) -> Result<Vec<(TopicPartition, PartitionLog)>> {
        self.check_open()?;
        let topics: Vec<Arc<Topic>> = read_lock(&self.topics).values().cloned().collect();
        let mut out = Vec::new();
        for t in topics {
            for (p, log) in read_lock(&t.partitions).iter().enumerate() {
                out.push((TopicPartition::new(t.name.clone(), p as u32), log.clone()));
            }
        }
        Ok(out)
    }

    /// Writes the root checkpoint files from the partitions' current
    /// recovery points and log start offsets.
    pub(crate) fn write_checkpoints(&self, logs: &[(TopicPartition, PartitionLog)]) -> Result<()> {
        let entries = |f: &dyn Fn(&PartitionLog) -> u64| -> Vec<OffsetEntry> {
            logs.iter()
                .map(|(tp, log)| OffsetEntry {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    offset: f(log),
                })
                .collect()
        };
        let fs = &*self.fs;
        layout::write_offsets(
            fs,
            &self.dir.join(layout::RECOVERY_POINT_FILE),
            &entries(&|l| l.recovery_point()),
        )?;
        layout::write_offsets(
            fs,
            &self.dir.join(layout::LOG_START_FILE),
            &entries(&|l| l.log_start_offset()),
        )
    }

    /// The topics as `seglog.topics` lists them now: the live ones and
    /// those whose deletion is not finished.
    pub(crate) fn topic_entries(&self) -> Vec<TopicEntry> {
        let mut entries: Vec<TopicEntry> = read_lock(&self.topics)
            .values()
            .map(|t| t.entry())
            .collect();
        entries.extend(lock(&self.deleting).iter().cloned());
        entries
    }

    /// The admin lock, for a change to the topics. Deletions a failure
    /// left unfinished are tried again first (their errors are reported
    /// where they matter: [`finish_deletions`](Self::finish_deletions)).
    pub(crate) fn admin(&self) -> Result<std::sync::MutexGuard<'_, ()>> {
        self.check_writable()?;
        let guard = lock(&self.admin);
        self.check_open()?;
        let _ = self.finish_deletions();
        Ok(guard)
    }

    /// Finishes the deletions of topics committed as deleted: renames
    /// their remaining partition directories for deletion, fsyncs the
    /// root, drops their entries from `seglog.topics`, and removes the
    /// renamed directories. Called with the admin lock held (or while
    /// opening). A topic whose directories cannot be renamed stays pending
    /// without holding up the others; the first error is returned.
    pub(crate) fn finish_deletions(&self) -> Result<()> {
        let pending = lock(&self.deleting).clone();
        if pending.is_empty() {
            if self.leftover_dirs.swap(false, Ordering::AcqRel) {
                return self.remove_deleted_dirs().inspect_err(|_| {
                    self.leftover_dirs.store(true, Ordering::Release);
                });
            }
            return Ok(());
        }
        let fs = &*self.fs;
        let root = &self.dir;
        let mut first_error = None;
        let mut renamed: Vec<String> = Vec::new();
        for e in &pending {
            let result = (0..e.partitions).try_for_each(|p| {
                let path = root.join(partition_dir_name(&e.name, p));
                if fs.exists(&path).ctx("stat", &path)? {
                    topics::rename_for_deletion(fs, root, &e.name, p)?;
                }
                Ok(())
            });
            match result {
                Ok(()) => renamed.push(e.name.clone()),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        if !renamed.is_empty() {
            let committed = (|| -> Result<()> {
                fs.sync_dir(root).ctx("fsync directory", root)?;
                // Renamed away: a crash from here on leaves `-delete`
                // directories, which every open removes. The root
                // checkpoints (the cleaner's too) must forget the topics
                // before a topic of the same name can be created, or their
                // offsets would be taken for the new one's.
                self.write_checkpoints(&self.all_logs()?)?;
                for name in &renamed {
                    self.cleaner_checkpoints.remove_topic(name)?;
                    self.high_watermarks.remove_topic(name)?;
                }
                let entries: Vec<TopicEntry> = self
                    .topic_entries()
                    .into_iter()
                    .filter(|e| e.state != TopicState::Deleting || !renamed.contains(&e.name))
                    .collect();
                layout::write_topics(fs, root, &entries)?;
                lock(&self.deleting).retain(|d| !renamed.contains(&d.name));
                Ok(())
            })();
            // Whatever happened, there may be renamed directories to go.
            self.leftover_dirs.store(true, Ordering::Release);
            let removed = committed.and_then(|()| {
                self.leftover_dirs.store(false, Ordering::Release);
                self.remove_deleted_dirs().inspect_err(|_| {
                    self.leftover_dirs.store(true, Ordering::Release);
                })
            });
            if let Err(error) = removed {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Removes every directory renamed for deletion (by this deletion, or
    /// an earlier one that failed or crashed before removing them).
    fn remove_deleted_dirs(&self) -> Result<()> {
        let root = &self.dir;
        let listing = self.fs.list_dir(root).ctx("list", root)?;
        self.remove_dirs(
            listing
                .iter()
                .filter(|e| e.is_dir && e.name.ends_with(layout::DELETE_SUFFIX))
                .map(|e| &e.name),
        )
    }

    /// Removes these directories of the root, then fsyncs it once.
    fn remove_dirs<'a>(&self, names: impl IntoIterator<Item = &'a String>) -> Result<()> {
        let fs = &*self.fs;
        let root = &self.dir;
        let mut removed_any = false;
        for name in names {
            let path = root.join(name);
            fs.remove_dir_all(&path).ctx("remove", &path)?;
            removed_any = true;
        }
        if removed_any {
            fs.sync_dir(root).ctx("fsync directory", root)?;
        }
        Ok(())
    }

    fn close(&self) -> Result<()> {
        maintenance::stop_for_close(self);
        if let Some(coordinator) = self.coordinator.get() {
            coordinator.shutdown();
        }
        let _admin = lock(&self.admin);
        if self.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        let logs: Vec<(TopicPartition, PartitionLog)> = {
            let topics: Vec<Arc<Topic>> = read_lock(&self.topics).values().cloned().collect();
            topics
                .iter()
                .flat_map(|t| {
                    read_lock(&t.partitions)
                        .iter()
                        .enumerate()
                        .map(|(p, l)| (TopicPartition::new(t.name.clone(), p as u32), l.clone()))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        self.closed.store(true, Ordering::Release);
        // Wake consumers blocked in poll so they see the close.
        self.signal.wake_all();
        // Producers' sender threads append what was sent and stop.
        self.producer_threads.stop_all();
        let mut first: Option<Error> = None;
        // High watermarks are checkpointed while the logs are open.
        if !self.read_only {
            if let Some((_, e)) = self.maintain_replicas(false).into_iter().next() {
                first.get_or_insert(e);
            }
        }
        for (_, log) in &logs {
            if let Err(e) = log.close() {
                first.get_or_insert(e);
            }
        }
        // A read-only store's logs wrote nothing, and neither does it.
        let finish = if self.read_only {
            Ok(())
        } else {
            self.write_checkpoints(&logs).and_then(|()| {
                if first.is_some() {
                    return Ok(());
                }
                let marker = self.dir.join(layout::CLEAN_SHUTDOWN_FILE);
                fsio::write_file_atomically(&*self.fs, &marker, b"")
            })
        };
        if let Err(e) = finish {
            first.get_or_insert(e);
        }
        *lock(&self.dir_lock) = None;
        first.map_or(Ok(()), Err)
    }
}

impl Drop for StoreInner {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

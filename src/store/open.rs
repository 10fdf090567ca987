//! Opening a store: the lock, the checks of the store's files, the topics
//! and every partition's log, and last the clean-shutdown marker's
//! removal; or, read-only, the same without a lock or a write.
//!
//! Everything that can fail on the store's own files (a damaged
//! `seglog.topics`, root checkpoint or marker, a bad config override, a
//! missing partition directory, a partition another writer holds) is
//! checked before anything is written, and the partitions whose
//! directories exist are opened before any directory is made: an open
//! that fails on them changes no file. A partition's own open may repair
//! its directory (crash recovery); that is the partition's business.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use super::groups;
use super::layout::{self, TopicEntry, TopicState};
use super::root_files::RootFiles;
use super::signal::AppendSignal;
use super::{
    CloseOnDrop, LogStore, StoreConfig, StoreInner, StoreOpenReport, StoreOptions, Topic,
    TopicPartition, MAX_PARTITIONS,
};
use crate::config::RecoveryMode;
use crate::error::{Error, Result};
use crate::io::{self as fsio, Fs, IoContext, LockMode, LOCK_FILE_NAME};
use crate::log::offset_checkpoint::{self, SharedOffsetCheckpoints};
use crate::log::PartitionLog;
use crate::offsets::manager::OffsetManager;
use crate::segment::{lock, Resources};
use crate::topic::{partition_dir_name, TopicConfig};

impl StoreInner {
    pub(super) fn open(opts: StoreOptions, dir: &Path, config: StoreConfig) -> Result<LogStore> {
        config.validate()?;
        let recreate_missing = config.recreate_missing_partitions;
        let refresh_interval = config
            .refresh_interval
            .max(std::time::Duration::from_millis(1));
        let fs = opts.fs;
        let created = !fs.exists(dir).ctx("stat", dir)?;
        if created && opts.read_only {
            return Err(Error::io(
                "open",
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such data directory"),
            ));
        }
        let mut report = StoreOpenReport {
            created,
            ..StoreOpenReport::default()
        };
        let dir_lock = if opts.read_only {
            None
        } else {
            fsio::create_dir_durably(&*fs, dir)?;
            let dir_lock = fs
                .try_lock_dir(dir)
                .ctx("lock", dir)?
                .ok_or_else(|| Error::Locked {
                    path: dir.to_path_buf(),
                })?;
            Some(dir_lock)
        };
        let signal = Arc::new(AppendSignal::default());
        // Only read here: the root's files are checked by `load`.
        let cleaner_checkpoints = Arc::new(SharedOffsetCheckpoints::load(
            fs.clone(),
            dir,
            offset_checkpoint::FILE_NAME,
        ));
        let high_watermarks = Arc::new(SharedOffsetCheckpoints::load(
            fs.clone(),
            dir,
            offset_checkpoint::HIGH_WATERMARK_FILE_NAME,
        ));
        let mut inner = StoreInner {
            dir: dir.to_path_buf(),
            fs,
            cleaner_checkpoints,
            high_watermarks,
            clock: opts.clock,
            resources: Resources::new(config.max_open_files, config.max_loaded_indexes),
            config,
            signal,
            topics: RwLock::new(BTreeMap::new()),
            topics_version: AtomicU64::new(0),
            deleting: Mutex::new(Vec::new()),
            leftover_dirs: AtomicBool::new(false),
            admin: Mutex::new(()),
            closed: AtomicBool::new(false),
            dir_lock: Mutex::new(dir_lock),
            maintenance: Mutex::new(Default::default()),
            last_maintenance: Mutex::new(None),
            report: StoreOpenReport::default(),
            read_only: opts.read_only,
            refresh_interval,
            offsets: OffsetManager::default(),
            coordinator: OnceLock::new(),
            producer_threads: Default::default(),
        };
        let opened = inner
            .load(&mut report, recreate_missing)
            .and_then(|()| inner.offsets.load(&inner))
            .and_then(|()| inner.mark_unclean(&report));
        if let Err(e) = opened {
            // Nothing was opened as a store: dropping must not write
            // checkpoints or a clean-shutdown marker.
            inner.closed.store(true, Ordering::Release);
            return Err(e);
        }
        inner.report = report;
        let inner = Arc::new(inner);
        if let Err(e) = groups::start_coordinator(&inner) {
            inner.closed.store(true, Ordering::Release);
            return Err(e);
        }
        let store = LogStore {
            _open: Arc::new(CloseOnDrop(inner.clone())),
            inner,
        };
        if !store.inner.read_only && store.inner.config.background_maintenance {
            // A failure closes the store (the drop) and is the open's.
            store.start_maintenance(store.inner.config.retention_check_interval)?;
        }
        Ok(store)
    }

    /// Removes the clean-shutdown marker of a store opened for writing,
    /// once the open has succeeded: from here on a crash is not a clean
    /// shutdown. (Until here the open only finished what the files
    /// already said: topics being created or deleted, partitions adopted.)
    fn mark_unclean(&self, report: &StoreOpenReport) -> Result<()> {
        if self.read_only || !report.clean_shutdown {
            return Ok(());
        }
        let fs = &*self.fs;
        let marker = self.dir.join(layout::CLEAN_SHUTDOWN_FILE);
        fs.remove_file(&marker).ctx("remove", &marker)?;
        fs.sync_dir(&self.dir).ctx("fsync directory", &self.dir)
    }

    /// Checks the store's files, reads the topics (adopting the partition
    /// directories if there is no list yet), opens every partition (those
    /// whose directories exist first, then those to be made), commits
    /// topics whose creation was not finished, and finishes interrupted
    /// deletions.
    fn load(&mut self, report: &mut StoreOpenReport, recreate_missing: bool) -> Result<()> {
        let fs = &*self.fs;
        let root = self.dir.clone();
        // The root is listed once (again only if a writer beside a
        // read-only open changes the topics meanwhile).
        let lenient = self.config.recovery_mode == RecoveryMode::TruncateCorrupt;
        let files = RootFiles::read(fs, &root, lenient)?;
        report.clean_shutdown = files.clean_shutdown;
        if !self.read_only {
            check_no_writer_inside(fs, &root, &files.dirs)?;
        }
        let missing = files.missing_partitions();
        if let Some((tp, name)) = missing.first() {
            if !recreate_missing {
                return Err(Error::MissingPartition {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    path: root.join(name),
                });
            }
        }
        report.recreated_partitions = missing.into_iter().map(|(tp, _)| tp).collect();
        let adopted = files.topics.is_none();
        let entries = match &files.topics {
            Some(entries) => entries.clone(),
            None => adopt(&files.dirs),
        };
        let (mut finishing, live): (Vec<TopicEntry>, Vec<TopicEntry>) = entries
            .into_iter()
            .partition(|e| e.state == TopicState::Deleting);
        let unfinished = adopted
            || live
                .iter()
                .any(|e| matches!(e.state, TopicState::Creating { .. }));
        if self.read_only {
            // Their deletion is the writer's to finish.
            finishing.clear();
        }
        let configs = live
            .iter()
            .map(|e| {
                TopicConfig::with_overrides(
                    &self.config.topic_defaults,
                    e.overrides.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )
            })
            .collect::<Result<Vec<TopicConfig>>>()?;

        // Every check is done; from here on the open may write.
        let logs = self.open_partitions(&live, &configs, &files, report)?;
        report.deletions_finished = finishing.len();
        // Directories of topics being deleted are renamed away below.
        let mut expected: HashSet<String> = finishing
            .iter()
            .flat_map(|e| (0..e.partitions).map(|p| partition_dir_name(&e.name, p)))
            .collect();
        *lock(&self.deleting) = finishing;
        let mut topics = BTreeMap::new();
        for ((e, config), logs) in live.into_iter().zip(configs).zip(logs) {
            expected.extend((0..e.partitions).map(|p| partition_dir_name(&e.name, p)));
            topics.insert(
                e.name.clone(),
                Arc::new(Topic {
                    name: e.name,
                    config,
                    overrides: e.overrides,
                    partitions: RwLock::new(logs),
                    replicas: Default::default(),
                }),
            );
        }
        self.topics = RwLock::new(topics);
        if !self.read_only {
            if unfinished {
                // Every partition has its directory now: the topics are
                // live (and an adopted directory has its list).
                layout::write_topics(fs, &root, &self.topic_entries())?;
            }
            // Directories renamed for deletion but not removed, then the
            // deletions a crash interrupted (which remove what they
            // rename).
            self.remove_dirs(
                files
                    .dirs
                    .iter()
                    .filter(|d| d.ends_with(layout::DELETE_SUFFIX)),
            )?;
            self.finish_deletions()?;
        }
        report.unknown_directories = files
            .dirs
            .iter()
            .filter(|d| !d.ends_with(layout::DELETE_SUFFIX) && !expected.contains(*d))
            .map(|d| root.join(d))
            .collect();
        Ok(())
    }

    /// Opens the partitions of the live topics: first every one whose
    /// directory exists, then those it makes (of topics being created or
    /// adopted, or recreated empty). Returns each topic's logs in order.
    fn open_partitions(
        &self,
        live: &[TopicEntry],
        configs: &[TopicConfig],
        files: &RootFiles,
        report: &mut StoreOpenReport,
    ) -> Result<Vec<Vec<PartitionLog>>> {
        let mut slots: Vec<Vec<Option<PartitionLog>>> = live
            .iter()
            .map(|e| (0..e.partitions).map(|_| None).collect())
            .collect();
        for make in [false, true] {
            for ((e, config), slots) in live.iter().zip(configs).zip(&mut slots) {
                for (p, slot) in (0..e.partitions).zip(slots.iter_mut()) {
                    let existed = files.dirs.contains(&partition_dir_name(&e.name, p));
                    if existed == make {
                        continue;
                    }
                    // The root checkpoints may name an older topic of this
                    // name: they only stand in for a state file of a
                    // directory that is there.
                    let hint = if existed {
                        files.checkpoints.get(&(e.name.clone(), p)).copied()
                    } else {
                        None
                    };
                    let log = self.open_log(&e.name, p, config, hint)?;
                    let r = log.recovery_report();
                    report.partitions += 1;
                    report.partitions_created += usize::from(!existed);
                    report.partitions_recovered +=
                        usize::from(existed && !r.created && !r.clean_shutdown);
                    if r.found_damage() {
                        report
                            .damaged_partitions
                            .push((TopicPartition::new(e.name.clone(), p), r.clone()));
                    }
                    *slot = Some(log);
                }
            }
        }
        Ok(slots
            .into_iter()
            .map(|logs| logs.into_iter().flatten().collect())
            .collect())
    }
}

/// Fails with [`Error::Locked`] if a log opened for writing on its own
/// holds one of the root's partition directories. A log opened before the
/// root had a lock file does not share the store's lock (see the
/// `log::dir_lock` module docs); its own lock is tried here, and released
/// at once, so the store holds no file per partition. Only directories
/// named as partitions are tried: the store writes no other, and others
/// (a file system's `lost+found`) may not even be searchable.
fn check_no_writer_inside(fs: &dyn Fs, root: &Path, dirs: &BTreeSet<String>) -> Result<()> {
    let partitions = dirs
        .iter()
        .filter(|name| crate::topic::parse_partition_dir_name(name).is_some());
    for name in partitions {
        let dir = root.join(name);
        match fs.try_lock_existing(&dir, LockMode::Exclusive) {
            Ok(Some(_free)) => {}
            Ok(None) => return Err(Error::Locked { path: dir }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("lock", &dir.join(LOCK_FILE_NAME), e)),
        }
    }
    Ok(())
}

/// Topics made of the partition directories found (a directory without
/// `seglog.topics`): each topic gets as many partitions as its highest
/// partition number says, those between the numbers found being created
/// (gaps are normal in a Kafka log directory).
pub(super) fn adopt(dirs: &BTreeSet<String>) -> Vec<TopicEntry> {
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for d in dirs {
        if let Some((topic, partition)) = crate::topic::parse_partition_dir_name(d) {
            if partition >= MAX_PARTITIONS {
                // Not a partition this store could have: left alone.
                continue;
            }
            let n = counts.entry(topic).or_insert(0);
            *n = (*n).max(partition.saturating_add(1));
        }
    }
    counts
        .into_iter()
        .map(|(name, partitions)| TopicEntry {
            name,
            partitions,
            state: TopicState::Creating { complete: 0 },
            overrides: Vec::new(),
        })
        .collect()
}

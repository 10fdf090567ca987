//! Opening a store: the lock, the clean-shutdown marker, the topics and
//! every partition's log; or, read-only, the same without a lock or a
//! write.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::layout::{self, OffsetEntry, TopicEntry, TopicState};
use super::signal::AppendSignal;
use super::{
    CloseOnDrop, LogStore, StoreConfig, StoreInner, StoreOpenReport, StoreOptions, Topic,
    MAX_PARTITIONS,
};
use crate::config::RecoveryMode;
use crate::error::{Error, Result};
use crate::io::{self as fsio, Fs, IoContext, LockMode, LOCK_FILE_NAME};
use crate::segment::{lock, Resources};
use crate::topic::{partition_dir_name, TopicConfig};

impl StoreInner {
    pub(super) fn open(opts: StoreOptions, dir: &Path, config: StoreConfig) -> Result<LogStore> {
        config.topic_defaults.validate()?;
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
        let marker = dir.join(layout::CLEAN_SHUTDOWN_FILE);
        let dir_lock = if opts.read_only {
            report.clean_shutdown = fs.exists(&marker).ctx("stat", &marker)?;
            None
        } else {
            fsio::create_dir_durably(&*fs, dir)?;
            let dir_lock = fs
                .try_lock_dir(dir)
                .ctx("lock", dir)?
                .ok_or_else(|| Error::Locked {
                    path: dir.to_path_buf(),
                })?;
            if fs.exists(&marker).ctx("stat", &marker)? {
                report.clean_shutdown = true;
                fs.remove_file(&marker).ctx("remove", &marker)?;
                fs.sync_dir(dir).ctx("fsync directory", dir)?;
            }
            Some(dir_lock)
        };
        let signal = Arc::new(AppendSignal::default());
        let inner = StoreInner {
            dir: dir.to_path_buf(),
            fs,
            clock: opts.clock,
            resources: Resources::new(config.max_open_files, config.max_loaded_indexes),
            config,
            signal,
            topics: RwLock::new(BTreeMap::new()),
            deleting: Mutex::new(Vec::new()),
            leftover_dirs: AtomicBool::new(false),
            admin: Mutex::new(()),
            closed: AtomicBool::new(false),
            dir_lock: Mutex::new(dir_lock),
            maintenance: Mutex::new(None),
            last_maintenance: Mutex::new(None),
            report: StoreOpenReport::default(),
            read_only: opts.read_only,
            refresh_interval: opts.refresh_interval,
        };
        let mut inner = inner;
        if let Err(e) = inner.load(&mut report) {
            // Nothing was opened as a store: dropping must not write
            // checkpoints or a clean-shutdown marker.
            inner.closed.store(true, Ordering::Release);
            return Err(e);
        }
        inner.report = report;
        let inner = Arc::new(inner);
        Ok(LogStore {
            _open: Arc::new(CloseOnDrop(inner.clone())),
            inner,
        })
    }

    /// Reads the topics (adopting the partition directories if there is no
    /// list yet), finishes interrupted deletions, and opens every
    /// partition.
    fn load(&mut self, report: &mut StoreOpenReport) -> Result<()> {
        let fs = &*self.fs;
        let root = self.dir.clone();
        // The one listing of the root an open makes.
        let dirs: BTreeSet<String> = fs
            .list_dir(&root)
            .ctx("list", &root)?
            .into_iter()
            .filter(|e| e.is_dir)
            .map(|e| e.name)
            .collect();
        if !self.read_only {
            check_no_writer_inside(fs, &root, &dirs)?;
        }

        let entries = match layout::read_topics(fs, &root)? {
            Some(entries) => entries,
            None => {
                let adopted = adopt(&dirs);
                if !self.read_only {
                    layout::write_topics(fs, &root, &adopted)?;
                }
                adopted
            }
        };
        let mut live = Vec::new();
        let mut finishing = Vec::new();
        for e in entries {
            match e.state {
                TopicState::Live => live.push(e),
                TopicState::Deleting => finishing.push(e),
            }
        }
        if self.read_only {
            // Their deletion is the writer's to finish.
            finishing.clear();
        }
        report.deletions_finished = finishing.len();
        // Directories of topics being deleted are renamed away below.
        let mut expected: HashSet<String> = finishing
            .iter()
            .flat_map(|e| (0..e.partitions).map(|p| partition_dir_name(&e.name, p)))
            .collect();
        *lock(&self.deleting) = finishing;

        let fallback = self.read_checkpoints()?;
        let mut topics = BTreeMap::new();
        for e in live {
            let config = TopicConfig::with_overrides(
                &self.config.topic_defaults,
                e.overrides.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )?;
            let mut logs = Vec::with_capacity(e.partitions as usize);
            for p in 0..e.partitions {
                let name = partition_dir_name(&e.name, p);
                let existed = dirs.contains(&name);
                expected.insert(name);
                // The root checkpoints may name an older topic of this
                // name: they only stand in for a state file of a
                // directory that is there.
                let hint = if existed {
                    fallback.get(&(e.name.clone(), p)).copied()
                } else {
                    None
                };
                let log = self.open_log(&e.name, p, &config, hint)?;
                let r = log.recovery_report();
                report.partitions += 1;
                report.partitions_created += usize::from(!existed);
                report.partitions_recovered +=
                    usize::from(existed && !r.created && !r.clean_shutdown);
                logs.push(log);
            }
            topics.insert(
                e.name.clone(),
                Arc::new(Topic {
                    name: e.name,
                    config,
                    overrides: e.overrides,
                    partitions: RwLock::new(logs),
                }),
            );
        }
        self.topics = RwLock::new(topics);
        // Directories renamed for deletion but not removed, then the
        // deletions a crash interrupted (which remove what they rename).
        let (renamed, others): (Vec<&String>, Vec<&String>) = dirs
            .iter()
            .partition(|d| d.ends_with(layout::DELETE_SUFFIX));
        if !self.read_only {
            self.remove_dirs(renamed)?;
            self.finish_deletions()?;
        }
        report.unknown_directories = others
            .into_iter()
            .filter(|d| !expected.contains(*d))
            .map(|d| root.join(d))
            .collect();
        Ok(())
    }

    /// The root checkpoints, as hints for partitions without a state file
    /// of their own: (recovery point, log start offset).
    fn read_checkpoints(&self) -> Result<HashMap<(String, u32), (u64, u64)>> {
        let read = |name: &str| -> Result<Vec<OffsetEntry>> {
            let path = self.dir.join(name);
            match layout::read_offsets(&*self.fs, &path) {
                Ok(entries) => Ok(entries.unwrap_or_default()),
                Err(Error::Corrupt { .. })
                    if self.config.recovery_mode == RecoveryMode::TruncateCorrupt =>
                {
                    Ok(Vec::new())
                }
                Err(e) => Err(e),
            }
        };
        let starts: HashMap<(String, u32), u64> = read(layout::LOG_START_FILE)?
            .into_iter()
            .map(|e| ((e.topic, e.partition), e.offset))
            .collect();
        Ok(read(layout::RECOVERY_POINT_FILE)?
            .into_iter()
            .map(|e| {
                let start = starts
                    .get(&(e.topic.clone(), e.partition))
                    .copied()
                    .unwrap_or(0);
                ((e.topic, e.partition), (e.offset, start))
            })
            .collect())
    }
}

/// Fails with [`Error::Locked`] if a log opened for writing on its own
/// holds one of the root's directories. A log opened before the root had
/// a lock file does not share the store's lock (see the `log::dir_lock`
/// module docs); its own lock is tried here, and released at once, so the
/// store holds no file per partition.
fn check_no_writer_inside(fs: &dyn Fs, root: &Path, dirs: &BTreeSet<String>) -> Result<()> {
    for name in dirs {
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
/// partition number says, missing ones created on open.
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
            state: TopicState::Live,
            overrides: Vec::new(),
        })
        .collect()
}

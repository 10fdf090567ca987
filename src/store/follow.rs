//! Read-only stores: following the topics and records of a store another
//! process has open.
//!
//! A read-only store reads `seglog.topics` again to learn of topics
//! created, grown, deleted or created again, and has each partition's
//! read-only log read on from where it stands (see
//! [`PartitionLog::refresh`]). Nothing is written and no lock is taken.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use super::layout::{self, TopicEntry, TopicState};
use super::open::adopt;
use super::{LogStore, StoreInner, Topic};
use crate::error::{Error, Result};
use crate::io::IoContext;
use crate::log::PartitionLog;
use crate::segment::{lock, read_lock, write_lock};
use crate::topic::TopicConfig;

impl LogStore {
    /// Brings a read-only store up to date with what the process writing
    /// it did since: topics created, grown or deleted, records appended,
    /// segments deleted. Returns whether anything changed. Consumers of a
    /// read-only store do this for their own partitions while they wait in
    /// [`poll`](super::Consumer::poll); a store opened for writing is
    /// always up to date, and for it this does nothing.
    ///
    /// A partition whose directory is gone (its topic is being deleted) is
    /// skipped; the next refresh no longer lists its topic.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// let reader = LogStore::open_read_only(dir.path(), StoreConfig::default())?;
    /// store.create_topic("events", 1, &[])?;
    /// assert!(reader.list_topics().is_empty());
    ///
    /// assert!(reader.refresh()?);
    /// assert_eq!(reader.list_topics(), ["events"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Corrupt`] for damaged metadata or a damaged segment the
    /// writer has moved past (the other partitions are still refreshed);
    /// [`Error::Io`]; [`Error::StoreClosed`].
    pub fn refresh(&self) -> Result<bool> {
        let inner = &self.inner;
        inner.check_open()?;
        if !inner.read_only {
            return Ok(false);
        }
        let mut changed = inner.refresh_topics()?;
        let mut first = None;
        for (_, log) in inner.all_logs()? {
            match refresh_log(&log) {
                Ok(moved) => changed |= moved,
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(changed), Err)
    }
}

/// Refreshes one partition's log; a directory removed under it (its topic
/// is being deleted) is not an error.
pub(crate) fn refresh_log(log: &PartitionLog) -> Result<bool> {
    match log.refresh() {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(false),
        // Closed because its topic went: the caller finds out from the
        // topics.
        Err(Error::Closed) => Ok(true),
        other => other,
    }
}

impl StoreInner {
    /// Reads the topics again and opens, grows or drops topics to match.
    /// Returns whether any changed. Only for a read-only store.
    pub(crate) fn refresh_topics(&self) -> Result<bool> {
        let _serialised = lock(&self.admin);
        self.check_open()?;
        let fs = &*self.fs;
        let entries = match layout::read_topics(fs, &self.dir)? {
            Some(entries) => entries,
            None => {
                let dirs: BTreeSet<String> = fs
                    .list_dir(&self.dir)
                    .ctx("list", &self.dir)?
                    .into_iter()
                    .filter(|e| e.is_dir)
                    .map(|e| e.name)
                    .collect();
                adopt(&dirs)
            }
        };
        let live: Vec<TopicEntry> = entries
            .into_iter()
            .filter(|e| e.state != TopicState::Deleting)
            .collect();
        let current: Vec<Arc<Topic>> = read_lock(&self.topics).values().cloned().collect();
        let mut changed = false;
        for t in &current {
            let kept = live
                .iter()
                .find(|e| e.name == t.name)
                .is_some_and(|e| e.overrides == t.overrides && e.partitions >= t.partition_count());
            if !kept {
                // Deleted, or deleted and created again (fewer partitions,
                // other overrides): its logs go, readers see it closed.
                write_lock(&self.topics).remove(&t.name);
                self.topics_changed();
                for log in read_lock(&t.partitions).iter() {
                    let _ = log.close();
                }
                changed = true;
            }
        }
        for e in &live {
            let existing = read_lock(&self.topics).get(&e.name).cloned();
            match existing {
                Some(t) => {
                    let have = t.partition_count();
                    if have < e.partitions {
                        let logs = self.open_logs(&t.name, &t.config, have..e.partitions)?;
                        write_lock(&t.partitions).extend(logs);
                        self.topics_changed();
                        changed = true;
                    }
                }
                None => {
                    let config = TopicConfig::with_overrides(
                        &self.config.topic_defaults,
                        e.overrides.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    )?;
                    let logs = self.open_logs(&e.name, &config, 0..e.partitions)?;
                    let topic = Arc::new(Topic {
                        name: e.name.clone(),
                        config,
                        overrides: e.overrides.clone(),
                        partitions: RwLock::new(logs),
                        replicas: Default::default(),
                    });
                    write_lock(&self.topics).insert(e.name.clone(), topic);
                    self.topics_changed();
                    changed = true;
                }
            }
        }
        Ok(changed)
    }
}

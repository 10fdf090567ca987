//! Creating, growing, describing and deleting topics.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::layout::{self, TopicState};
use super::{LogStore, StoreInner, Topic};
#[cfg(doc)]
use crate::compaction::CleanableSection;
use crate::error::{Error, Result};
use crate::io::{Fs, IoContext};
use crate::log::PartitionLog;
use crate::segment::{lock, read_lock, write_lock};
use crate::topic::{is_internal_topic, partition_dir_name, validate_topic_name, TopicConfig};

/// Partitions one topic may have at most.
pub const MAX_PARTITIONS: u32 = 100_000;

/// A topic as [`LogStore::describe_topic`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicDescription {
    /// The topic's name.
    pub name: String,
    /// Its partitions, in order.
    pub partitions: Vec<PartitionDescription>,
    /// The topic's effective config (store defaults plus overrides).
    pub config: TopicConfig,
    /// The overrides it was created with, in Kafka's names.
    pub overrides: Vec<(String, String)>,
}

/// One partition of a [`TopicDescription`].
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionDescription {
    /// The partition number.
    pub partition: u32,
    /// The first readable offset.
    pub log_start_offset: u64,
    /// The offset the next record will get.
    pub log_end_offset: u64,
    /// The offset up to which consumers read (the log end offset, as
    /// there is no replication).
    pub high_watermark: u64,
    /// Bytes of `.log` data held.
    pub size_bytes: u64,
    /// Segments held.
    pub segments: usize,
    /// For a topic whose cleanup policy compacts: the partition's
    /// cleanable (dirty) ratio now, the share of its cleanable bytes not
    /// compacted yet ([`CleanableSection::cleanable_ratio`]). `None` for
    /// other topics.
    pub cleanable_ratio: Option<f64>,
    /// For a topic whose cleanup policy compacts: where its last
    /// compaction round ended ([`PartitionLog::cleaner_checkpoint`]), if
    /// one ran. `None` for other topics.
    pub cleaner_checkpoint: Option<u64>,
}

impl LogStore {
    /// Creates a topic with `partitions` partitions and the given config
    /// overrides (Kafka's names, e.g. `("retention.ms", "86400000")`; see
    /// [`TopicConfig::override_keys`]). The topic is durable when this
    /// returns.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{Error, LogStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("orders", 3, &[("retention.ms", "86400000")])?;
    ///
    /// let topic = store.describe_topic("orders")?;
    /// assert_eq!(topic.partitions.len(), 3);
    /// assert_eq!(topic.config.retention_ms, Some(86_400_000));
    /// assert!(matches!(store.create_topic("orders", 3, &[]), Err(Error::TopicExists { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidTopic`] for a bad name or the name of an internal
    /// topic (`__consumer_offsets`), [`Error::TopicExists`],
    /// [`Error::InvalidPartitions`] for 0 or more than
    /// [`MAX_PARTITIONS`], [`Error::InvalidConfig`] for a bad override,
    /// [`Error::Io`], [`Error::StoreClosed`].
    pub fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        overrides: &[(&str, &str)],
    ) -> Result<()> {
        validate_topic_name(name)?;
        if is_internal_topic(name) {
            return Err(Error::InvalidTopic {
                name: name.to_string(),
                reason:
                    "the name is reserved for an internal topic, which the store creates itself"
                        .to_string(),
            });
        }
        self.inner.create_topic(name, partitions, overrides)
    }
}

impl LogStore {
    /// Creates a topic with `partitions` partitions and the settings of
    /// `config`, a typed alternative to [`create_topic`](Self::create_topic)'s
    /// Kafka-named strings.
    ///
    /// As in Kafka, the topic keeps only its overrides: the settings in
    /// which `config` differs from the store's
    /// [`topic_defaults`](super::StoreConfig::topic_defaults), by their
    /// Kafka names ([`TopicConfig::override_keys`]), listed in
    /// [`TopicDescription::overrides`]. The others follow the store's
    /// defaults, also when the store is later opened with other defaults.
    /// Settings without a Kafka topic config name (`durability`,
    /// `write_buffer_bytes`) are store-wide: `config` must leave them as
    /// the defaults have them.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::store::{LogStore, StoreConfig};
    /// use seglog::topic::TopicConfig;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// let mut config = store.config().topic_defaults.clone();
    /// config.retention_ms = Some(86_400_000);
    /// store.create_topic_with_config("orders", 3, &config)?;
    ///
    /// let topic = store.describe_topic("orders")?;
    /// assert_eq!(topic.config, config);
    /// assert_eq!(topic.overrides, [("retention.ms".to_string(), "86400000".to_string())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`create_topic`](Self::create_topic); [`Error::InvalidConfig`]
    /// also for a `config` that does not pass [`TopicConfig::validate`],
    /// or that differs from the defaults in a setting without a Kafka
    /// name (naming that field).
    pub fn create_topic_with_config(
        &self,
        name: &str,
        partitions: u32,
        config: &TopicConfig,
    ) -> Result<()> {
        let overrides = overrides_of(config, &self.inner.config.topic_defaults)?;
        let pairs: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.create_topic(name, partitions, &pairs)
    }

    /// Creates a topic as [`create_topic_with_config`](Self::create_topic_with_config)
    /// does, unless one of that name exists (Kafka's
    /// `kafka-topics.sh --create --if-not-exists`). Returns whether it
    /// created the topic. An existing topic is left as it is, whatever
    /// its partition count and config; [`describe_topic`](Self::describe_topic)
    /// tells them. Safe to call from several threads or at every start of
    /// an application: exactly one call creates the topic.
    ///
    /// The arguments are checked either way: a bad name, partition count
    /// or config is an error even when the topic exists.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::store::{LogStore, StoreConfig};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// let config = store.config().topic_defaults.clone();
    /// assert!(store.create_topic_if_absent("events", 2, &config)?);
    /// assert!(!store.create_topic_if_absent("events", 2, &config)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`create_topic_with_config`](Self::create_topic_with_config),
    /// but never [`Error::TopicExists`].
    pub fn create_topic_if_absent(
        &self,
        name: &str,
        partitions: u32,
        config: &TopicConfig,
    ) -> Result<bool> {
        match self.create_topic_with_config(name, partitions, config) {
            Ok(()) => Ok(true),
            Err(Error::TopicExists { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The Kafka-named settings in which `config` differs from `defaults`,
/// with their values in Kafka's form: what a topic created with `config`
/// stores as its overrides.
///
/// # Errors
/// [`Error::InvalidConfig`] if `config` is invalid, or differs from
/// `defaults` in a setting without a Kafka topic config name.
fn overrides_of(
    config: &TopicConfig,
    defaults: &TopicConfig,
) -> Result<Vec<(&'static str, String)>> {
    config.validate()?;
    let overrides: Vec<(&'static str, String)> = TopicConfig::override_keys()
        .iter()
        .filter_map(|&key| {
            let value = config.value_of(key)?;
            (defaults.value_of(key).as_ref() != Some(&value)).then_some((key, value))
        })
        .collect();
    let stored =
        TopicConfig::with_overrides(defaults, overrides.iter().map(|(k, v)| (*k, v.as_str())))?;
    if stored == *config {
        return Ok(overrides);
    }
    let (field, reason) = if stored.log.durability != config.log.durability {
        ("durability", "durability")
    } else if stored.log.write_buffer_bytes != config.log.write_buffer_bytes {
        ("write_buffer_bytes", "write_buffer_bytes")
    } else {
        ("config", "a setting")
    };
    Err(Error::config(
        field,
        format!(
            "{reason} differs from the store's topic defaults, and a topic can only override \
             settings with a Kafka topic config name (TopicConfig::override_keys); \
             set it in StoreConfig::topic_defaults"
        ),
    ))
}

impl StoreInner {
    /// [`LogStore::create_topic`] for any valid name, internal ones
    /// included.
    pub(crate) fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        overrides: &[(&str, &str)],
    ) -> Result<()> {
        let _admin = self.admin()?;
        self.create_topic_locked(name, partitions, overrides)
    }

    /// Creates a topic; the caller holds the admin lock.
    pub(crate) fn create_topic_locked(
        &self,
        name: &str,
        partitions: u32,
        overrides: &[(&str, &str)],
    ) -> Result<()> {
        if partitions == 0 || partitions > MAX_PARTITIONS {
            return Err(Error::InvalidPartitions {
                topic: name.to_string(),
                requested: partitions,
                reason: format!("a topic has 1 to {MAX_PARTITIONS} partitions"),
            });
        }
        let inner = self;
        let config =
            TopicConfig::with_overrides(&inner.config.topic_defaults, overrides.iter().copied())?;
        for (_, v) in overrides {
            if v.trim().contains(char::is_whitespace) {
                return Err(Error::config(
                    "config value",
                    format!("{v:?} contains whitespace"),
                ));
            }
        }
        let overrides: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        if read_lock(&inner.topics).contains_key(name) {
            return Err(Error::TopicExists {
                name: name.to_string(),
            });
        }
        // A deletion of an older topic of this name must be finished (the
        // admin lock tried; if it is still pending, try again for its
        // error), and no directory may be taken over: its data is not
        // this topic's.
        if lock(&inner.deleting).iter().any(|d| d.name == name) {
            if let Err(e) = inner.finish_deletions() {
                if lock(&inner.deleting).iter().any(|d| d.name == name) {
                    return Err(e);
                }
            }
        }
        for p in 0..partitions {
            let dir = inner.dir.join(partition_dir_name(name, p));
            if inner.fs.exists(&dir).ctx("stat", &dir)? {
                return Err(Error::InvalidTopic {
                    name: name.to_string(),
                    reason: format!(
                        "directory {} already exists but is not part of this store; move it away first",
                        dir.display()
                    ),
                });
            }
        }
        // Cleaner checkpoints of an older topic of this name (a deletion
        // that failed to remove them, or another program's) are not this
        // topic's.
        inner.cleaner_checkpoints.remove_topic(name)?;
        inner.high_watermarks.remove_topic(name)?;
        // Commit first, as a topic being created: a crash from here on
        // leaves a topic whose missing directories the next open makes.
        let mut entries = inner.topic_entries();
        entries.push(layout::TopicEntry {
            name: name.to_string(),
            partitions,
            state: TopicState::Creating { complete: 0 },
            overrides: overrides.clone(),
        });
        layout::write_topics(&*inner.fs, &inner.dir, &entries)?;
        let made = self
            .open_new_partitions(name, &config, 0..partitions)
            .and_then(|logs| {
                // Every directory is made and durable: the topic is live,
                // and from now on a missing directory of it is data lost.
                if let Some(e) = entries.last_mut() {
                    e.state = TopicState::Live;
                }
                layout::write_topics(&*inner.fs, &inner.dir, &entries)?;
                Ok(logs)
            });
        let logs = match made {
            Ok(logs) => logs,
            Err(e) => {
                // Take the entry back if possible; if not, the next open
                // creates the missing directories.
                entries.pop();
                let _ = layout::write_topics(&*inner.fs, &inner.dir, &entries);
                return Err(e);
            }
        };
        write_lock(&inner.topics).insert(
            name.to_string(),
            Arc::new(Topic {
                name: name.to_string(),
                config,
                overrides,
                partitions: RwLock::new(logs),
                replicas: Default::default(),
            }),
        );
        inner.topics_changed();
        Ok(())
    }
}

impl LogStore {
    /// Grows a topic to `total` partitions. Keyed records may route to
    /// other partitions afterwards, as in Kafka.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("orders", 2, &[])?;
    /// store.add_partitions("orders", 4)?;
    /// assert_eq!(store.describe_topic("orders")?.partitions.len(), 4);
    /// // Partitions are never removed.
    /// assert!(store.add_partitions("orders", 3).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidPartitions`] if `total` is not more than the topic
    /// has (partitions are never removed) or above [`MAX_PARTITIONS`];
    /// [`Error::InvalidTopic`] for an internal topic;
    /// [`Error::UnknownTopic`], [`Error::Io`], [`Error::StoreClosed`].
    pub fn add_partitions(&self, topic: &str, total: u32) -> Result<()> {
        refuse_internal(topic, "grown: its partition count places every group")?;
        let inner = &self.inner;
        let _admin = inner.admin()?;
        let t = inner.topic(topic)?;
        let current = t.partition_count();
        if total <= current || total > MAX_PARTITIONS {
            return Err(Error::InvalidPartitions {
                topic: topic.to_string(),
                requested: total,
                reason: format!(
                    "the topic has {current} partitions; it can only grow, to at most {MAX_PARTITIONS}"
                ),
            });
        }
        for p in current..total {
            let dir = inner.dir.join(partition_dir_name(topic, p));
            if inner.fs.exists(&dir).ctx("stat", &dir)? {
                return Err(Error::InvalidPartitions {
                    topic: topic.to_string(),
                    requested: total,
                    reason: format!(
                        "directory {} already exists but is not part of this store; move it away first",
                        dir.display()
                    ),
                });
            }
        }
        // Commit first, the new partitions marked as being created: a crash
        // from here on leaves them for the next open to make.
        let mut entries = inner.topic_entries();
        if let Some(e) = entries.iter_mut().find(|e| e.name == topic) {
            e.partitions = total;
            e.state = TopicState::Creating { complete: current };
        }
        layout::write_topics(&*inner.fs, &inner.dir, &entries)?;
        let logs = inner.open_new_partitions(topic, &t.config, current..total)?;
        // Every new directory is made and durable: the topic is live with
        // all its partitions.
        if let Some(e) = entries.iter_mut().find(|e| e.name == topic) {
            e.state = TopicState::Live;
        }
        layout::write_topics(&*inner.fs, &inner.dir, &entries)?;
        write_lock(&t.partitions).extend(logs);
        inner.topics_changed();
        Ok(())
    }

    /// Deletes a topic and all its data. Producers and consumers using it
    /// get [`Error::UnknownTopic`] (or [`Error::Closed`] for a partition
    /// they already held) from then on; fetch results already taken stay
    /// readable. Crash-safe: the deletion is committed first; one that a
    /// crash interrupts is finished by the next open, and one that fails
    /// part-way (the error is returned) by the next topic change,
    /// maintenance pass or open.
    ///
    /// Every group's committed offsets for the topic are deleted too
    /// (tombstones in `__consumer_offsets`), as Kafka's coordinator deletes
    /// them; should that fail, the next maintenance pass does it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{Error, LogStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("orders", 2, &[])?;
    /// store.delete_topic("orders")?;
    /// assert!(store.list_topics().is_empty());
    /// assert!(matches!(store.describe_topic("orders"), Err(Error::UnknownTopic { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidTopic`] for an internal topic;
    /// [`Error::UnknownTopic`], [`Error::Io`], [`Error::StoreClosed`].
    pub fn delete_topic(&self, topic: &str) -> Result<()> {
        refuse_internal(topic, "deleted")?;
        let deleted = self.delete_topic_data(topic);
        // Outside the admin lock: the offsets topic may be written.
        let offsets = self.inner.remove_offsets_of_topic(topic);
        deleted.and(offsets)
    }

    fn delete_topic_data(&self, topic: &str) -> Result<()> {
        let inner = &self.inner;
        let _admin = inner.admin()?;
        let t = inner.topic(topic)?;
        // Commit: marked deleting, the topic is gone whatever happens next.
        let mut entries = inner.topic_entries();
        let Some(entry) = entries.iter_mut().find(|e| e.name == topic) else {
            return Err(Error::UnknownTopic {
                name: topic.to_string(),
            });
        };
        entry.state = TopicState::Deleting;
        let entry = entry.clone();
        layout::write_topics(&*inner.fs, &inner.dir, &entries)?;
        write_lock(&inner.topics).remove(topic);
        inner.topics_changed();
        lock(&inner.deleting).push(entry);
        let logs: Vec<PartitionLog> = read_lock(&t.partitions).clone();
        for log in &logs {
            // Its data is going: a failure to flush it does not matter.
            let _ = log.close();
        }
        inner.finish_deletions()
    }

    /// The names of the application's topics, sorted; internal topics
    /// (`__consumer_offsets`) are left out, as Kafka's admin client leaves
    /// them out unless asked ([`list_all_topics`](Self::list_all_topics)).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("payments", 1, &[])?;
    /// store.create_topic("orders", 1, &[])?;
    /// assert_eq!(store.list_topics(), ["orders", "payments"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn list_topics(&self) -> Vec<String> {
        read_lock(&self.inner.topics)
            .keys()
            .filter(|name| !is_internal_topic(name))
            .cloned()
            .collect()
    }

    /// The names of all topics, internal ones included, sorted.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, OffsetAndMetadata, StoreConfig, TopicPartition};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("orders", 1, &[])?;
    /// // The first commit creates the internal topic of committed offsets.
    /// let tp = TopicPartition::new("orders", 0);
    /// store.commit_offsets("billing", &[(tp, OffsetAndMetadata::new(0))])?;
    /// assert_eq!(store.list_all_topics(), ["__consumer_offsets", "orders"]);
    /// assert_eq!(store.list_topics(), ["orders"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn list_all_topics(&self) -> Vec<String> {
        read_lock(&self.inner.topics).keys().cloned().collect()
    }

    /// A topic's partitions (offsets, sizes, and for a compacted topic
    /// what the cleaner sees) and config.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("orders", 2, &[("cleanup.policy", "compact")])?;
    /// let producer = store.producer(Default::default());
    /// producer.send_and_wait(ProducerRecord::new("orders", "paid").with_key("o-1").with_partition(1))?;
    ///
    /// let topic = store.describe_topic("orders")?;
    /// assert_eq!(topic.overrides, [("cleanup.policy".to_string(), "compact".to_string())]);
    /// assert_eq!(topic.partitions[0].log_end_offset, 0);
    /// assert_eq!(topic.partitions[1].log_end_offset, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::StoreClosed`]; for a topic whose
    /// cleanup policy compacts, [`Error::Io`] or [`Error::Corrupt`] if a
    /// segment's metadata cannot be read (see
    /// [`PartitionLog::cleanable_section`]).
    pub fn describe_topic(&self, topic: &str) -> Result<TopicDescription> {
        let t = self.inner.topic(topic)?;
        let compacts = t.config.log.cleanup_policy.compacts();
        let logs = read_lock(&t.partitions).clone();
        let partitions = (0..)
            .zip(&logs)
            .map(|(p, log)| {
                let segments = log.segments();
                let (cleanable_ratio, cleaner_checkpoint) = if compacts {
                    let section = log.cleanable_section(self.inner.clock.now_ms())?;
                    (Some(section.cleanable_ratio()), log.cleaner_checkpoint())
                } else {
                    (None, None)
                };
                Ok(PartitionDescription {
                    partition: p,
                    log_start_offset: log.log_start_offset(),
                    log_end_offset: log.log_end_offset(),
                    high_watermark: log.high_watermark(),
                    size_bytes: segments.iter().map(|s| s.size).sum(),
                    segments: segments.len(),
                    cleanable_ratio,
                    cleaner_checkpoint,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TopicDescription {
            name: t.name.clone(),
            partitions,
            config: t.config.clone(),
            overrides: t.overrides.clone(),
        })
    }
}

impl StoreInner {
    /// Creates the directories of new partitions (one directory fsync for
    /// all of them) and opens their logs.
    fn open_new_partitions(
        &self,
        topic: &str,
        config: &TopicConfig,
        range: std::ops::Range<u32>,
    ) -> Result<Vec<PartitionLog>> {
        let inner = self;
        let fs = &*inner.fs;
        for p in range.clone() {
            let dir = inner.dir.join(partition_dir_name(topic, p));
            fs.create_dir_all(&dir).ctx("create directory", &dir)?;
        }
        fs.sync_dir(&inner.dir).ctx("fsync directory", &inner.dir)?;
        inner.open_logs(topic, config, range)
    }
}

/// [`Error::InvalidTopic`] for an internal topic, which cannot be `what`.
fn refuse_internal(topic: &str, what: &str) -> Result<()> {
    if is_internal_topic(topic) {
        return Err(Error::InvalidTopic {
            name: topic.to_string(),
            reason: format!("an internal topic cannot be {what}"),
        });
    }
    Ok(())
}

/// Renames a partition directory to a unique `-delete` name, returning
/// the new name. The caller fsyncs the root.
pub(crate) fn rename_for_deletion(
    fs: &dyn Fs,
    root: &Path,
    topic: &str,
    partition: u32,
) -> Result<String> {
    static UNIQUE: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let unique = nanos ^ UNIQUE.fetch_add(1, Ordering::Relaxed).rotate_left(48);
    let to = layout::delete_dir_name(topic, partition, unique);
    let from = root.join(partition_dir_name(topic, partition));
    fs.rename(&from, &root.join(&to)).ctx("rename", &from)?;
    Ok(to)
}

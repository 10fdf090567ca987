//! [`OffsetManager`]: the store's committed offsets and stored group
//! metadata, written to `__consumer_offsets` and kept in memory.
//!
//! Every change is appended to the group's partition of the topic first
//! (as one batch, with the configured durability, fsynced by default) and
//! applied to the in-memory [`OffsetsState`] only once the append has
//! returned, under a lock of that partition: the state always matches what
//! a replay of the log would give, and a change whose append failed is
//! not seen. Opening the store replays the topic.

use std::sync::{Arc, Mutex, RwLock};

use super::records::{
    partition_for_group, GroupMetadataValue, OffsetCommitKey, OffsetsKey, OffsetsRecordError,
};
use super::state::{Committed, OffsetAndMetadata, OffsetsState};
use crate::error::{Error, GroupErrorKind, Result};
use crate::log::PartitionLog;
use crate::record::Record;
use crate::segment::{lock, read_lock, write_lock};
use crate::store::{StoreInner, Topic, TopicPartition};
use crate::topic::CONSUMER_OFFSETS_TOPIC;

/// Lock stripes serialising the writes to `__consumer_offsets`, by
/// partition.
const WRITE_STRIPES: usize = 64;

/// One change to write: a key and its value (`None` for a tombstone).
type Change = (OffsetsKey, Option<Vec<u8>>);

/// The store's committed offsets and group metadata.
pub(crate) struct OffsetManager {
    state: RwLock<OffsetsState>,
    stripes: Vec<Mutex<()>>,
    /// When maintenance last looked for expired offsets (store clock).
    pub(crate) last_expiry_check: Mutex<Option<i64>>,
}

impl Default for OffsetManager {
    fn default() -> Self {
        OffsetManager {
            state: RwLock::new(OffsetsState::default()),
            stripes: (0..WRITE_STRIPES).map(|_| Mutex::new(())).collect(),
            last_expiry_check: Mutex::new(None),
        }
    }
}

impl OffsetManager {
    /// Replays `__consumer_offsets`, if the store has it, into the state.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the segment file and the batch's position
    /// for a record that cannot be read (an unknown key version, a
    /// malformed key or value, a record without a key); the log's own read
    /// errors.
    pub(crate) fn load(&self, inner: &StoreInner) -> Result<()> {
        let topic = match inner.topic(CONSUMER_OFFSETS_TOPIC) {
            Ok(t) => t,
            Err(Error::UnknownTopic { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut state = OffsetsState::default();
        for log in read_lock(&topic.partitions).iter() {
            replay(log, &mut state)?;
        }
        *write_lock(&self.state) = state;
        Ok(())
    }

    /// The committed offset of `group` for `tp`, if any.
    pub(crate) fn committed(&self, group: &str, tp: &TopicPartition) -> Option<OffsetAndMetadata> {
        read_lock(&self.state)
            .committed(group, tp)
            .map(|c| c.value.clone())
    }

    /// Every committed offset of `group`, by partition.
    pub(crate) fn group_offsets(&self, group: &str) -> Vec<(TopicPartition, Committed)> {
        read_lock(&self.state)
            .groups
            .get(group)
            .map(|g| {
                g.offsets
                    .iter()
                    .map(|(tp, c)| (tp.clone(), c.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every group with stored offsets or metadata.
    pub(crate) fn group_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = read_lock(&self.state).groups.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Every group's stored metadata, for the coordinator at open.
    pub(crate) fn all_metadata(&self) -> Vec<(String, GroupMetadataValue)> {
        read_lock(&self.state)
            .groups
            .iter()
            .filter_map(|(g, r)| Some((g.clone(), r.metadata.clone()?)))
            .collect()
    }

    /// Commits `offsets` for `group`: one batch in the group's partition,
    /// durable as the store's groups config says when this returns.
    ///
    /// # Errors
    /// [`Error::Group`] with [`GroupErrorKind::OffsetMetadataTooLarge`]
    /// for metadata over `offset.metadata.max.bytes`;
    /// [`Error::InvalidRecord`] for an offset above `i64::MAX`; the
    /// append's errors. Nothing is committed on an error.
    pub(crate) fn commit(
        &self,
        inner: &StoreInner,
        group: &str,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let max = inner.config.groups.offset_metadata_max_bytes as usize;
        let now = inner.clock.now_ms();
        let mut changes = Vec::with_capacity(offsets.len());
        let mut committed = Vec::with_capacity(offsets.len());
        for (tp, value) in offsets {
            if value.metadata.len() > max {
                return Err(Error::group(group, GroupErrorKind::OffsetMetadataTooLarge));
            }
            if i64::try_from(value.offset).is_err() {
                return Err(Error::invalid_record(format!(
                    "offset {} of {tp} is above the largest Kafka offset",
                    value.offset
                )));
            }
            let c = Committed {
                value: value.clone(),
                commit_timestamp: now,
                expire_timestamp: None,
            };
            changes.push((commit_key(group, tp), Some(c.to_value().encode())));
            committed.push((tp.clone(), c));
        }
        self.write(inner, group, changes, |state| {
            for (tp, c) in committed {
                state.put_offset(group, tp, c);
            }
        })
    }

    /// Stores `group`'s metadata (a generation's membership and
    /// assignment, or an empty group).
    ///
    /// # Errors
    /// The append's errors; nothing is stored then.
    pub(crate) fn store_group(
        &self,
        inner: &StoreInner,
        group: &str,
        value: &GroupMetadataValue,
    ) -> Result<()> {
        let change = (
            OffsetsKey::GroupMetadata(group.to_string()),
            Some(value.encode()),
        );
        self.write(inner, group, vec![change], |state| {
            state.groups.entry(group.to_string()).or_default().metadata = Some(value.clone());
        })
    }

    /// Deletes `group`: tombstones for each of its offsets and its
    /// metadata. Returns whether there was anything to delete.
    ///
    /// # Errors
    /// The append's errors; nothing is deleted then.
    pub(crate) fn delete_group(&self, inner: &StoreInner, group: &str) -> Result<bool> {
        if !read_lock(&self.state).groups.contains_key(group) {
            return Ok(false);
        }
        // What to delete is read again under the partition's write lock,
        // so that a commit made meanwhile gets its tombstone too.
        self.write_planned(inner, group, |state| {
            let records = state.groups.get(group)?;
            let mut changes: Vec<Change> = records
                .offsets
                .keys()
                .map(|tp| (commit_key(group, tp), None))
                .collect();
            if records.metadata.is_some() {
                changes.push((OffsetsKey::GroupMetadata(group.to_string()), None));
            }
            Some((changes, |state: &mut OffsetsState| {
                state.groups.remove(group);
            }))
        })
    }

    /// Deletes the given offsets of `group` (tombstones), as expiry and
    /// topic deletion do.
    ///
    /// # Errors
    /// The append's errors; nothing is deleted then.
    pub(crate) fn delete_offsets(
        &self,
        inner: &StoreInner,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<()> {
        if partitions.is_empty() {
            return Ok(());
        }
        let changes = partitions
            .iter()
            .map(|tp| (commit_key(group, tp), None))
            .collect();
        self.write(inner, group, changes, |state| {
            for tp in partitions {
                state.remove_offset(group, tp);
            }
        })
    }

    /// Deletes the offsets of `group` that `decide` picks from them, read
    /// and written under the group's partition write lock, so that a
    /// commit made meanwhile is either seen by `decide` or made after the
    /// tombstones. Returns how many were deleted and how many are left.
    ///
    /// # Errors
    /// The append's errors; nothing is deleted then.
    pub(crate) fn expire_offsets(
        &self,
        inner: &StoreInner,
        group: &str,
        decide: impl FnOnce(&[(TopicPartition, Committed)]) -> Vec<TopicPartition>,
    ) -> Result<(usize, usize)> {
        let mut counts = (0, 0);
        self.write_planned(inner, group, |state| {
            let offsets: Vec<(TopicPartition, Committed)> = state
                .groups
                .get(group)
                .map(|g| {
                    g.offsets
                        .iter()
                        .map(|(tp, c)| (tp.clone(), c.clone()))
                        .collect()
                })
                .unwrap_or_default();
            let expired = decide(&offsets);
            counts = (expired.len(), offsets.len().saturating_sub(expired.len()));
            if expired.is_empty() {
                return None;
            }
            let changes = expired
                .iter()
                .map(|tp| (commit_key(group, tp), None))
                .collect();
            Some((changes, move |state: &mut OffsetsState| {
                for tp in &expired {
                    state.remove_offset(group, tp);
                }
            }))
        })?;
        Ok(counts)
    }

    /// Every (group, partition) with a committed offset for `topic`.
    pub(crate) fn offsets_of_topic(&self, topic: &str) -> Vec<(String, Vec<TopicPartition>)> {
        read_lock(&self.state)
            .groups
            .iter()
            .filter_map(|(g, r)| {
                let tps: Vec<TopicPartition> = r
                    .offsets
                    .keys()
                    .filter(|tp| tp.topic == topic)
                    .cloned()
                    .collect();
                (!tps.is_empty()).then(|| (g.clone(), tps))
            })
            .collect()
    }

    /// Appends `changes` to `group`'s partition as one batch and, once
    /// that returned, applies them to the state with `apply`, all under
    /// the partition's write lock.
    fn write(
        &self,
        inner: &StoreInner,
        group: &str,
        changes: Vec<Change>,
        apply: impl FnOnce(&mut OffsetsState),
    ) -> Result<()> {
        self.write_planned(inner, group, |_| Some((changes, apply)))
            .map(|_| ())
    }

    /// [`write`](Self::write) of the changes `plan` makes from the state
    /// as it is under the partition's write lock; `plan` returning `None`
    /// writes nothing. Returns whether anything was written.
    fn write_planned<A: FnOnce(&mut OffsetsState)>(
        &self,
        inner: &StoreInner,
        group: &str,
        plan: impl FnOnce(&OffsetsState) -> Option<(Vec<Change>, A)>,
    ) -> Result<bool> {
        inner.check_writable()?;
        let topic = offsets_topic(inner)?;
        let partition = partition_for_group(group, topic.partition_count());
        let log = topic.log(partition)?;
        let now = inner.clock.now_ms();
        let _stripe = lock(&self.stripes[partition as usize % WRITE_STRIPES]);
        let Some((changes, apply)) = plan(&read_lock(&self.state)) else {
            return Ok(false);
        };
        let records: Vec<Record> = changes
            .into_iter()
            .map(|(key, value)| Record {
                key: Some(key.encode()),
                value,
                headers: Vec::new(),
                timestamp: Some(now),
            })
            .collect();
        append(&log, &records, inner.config.groups.commit_durability)?;
        apply(&mut write_lock(&self.state));
        Ok(true)
    }
}

fn append(log: &PartitionLog, records: &[Record], durability: crate::Durability) -> Result<()> {
    log.append_with(records, durability).map(|_| ())
}

fn commit_key(group: &str, tp: &TopicPartition) -> OffsetsKey {
    OffsetsKey::OffsetCommit(OffsetCommitKey {
        group: group.to_string(),
        topic: tp.topic.clone(),
        partition: i32::try_from(tp.partition).unwrap_or(i32::MAX),
    })
}

/// `__consumer_offsets`, created on first use with Kafka's settings for it.
pub(crate) fn offsets_topic(inner: &StoreInner) -> Result<Arc<Topic>> {
    match inner.topic(CONSUMER_OFFSETS_TOPIC) {
        Err(Error::UnknownTopic { .. }) => {}
        found => return found,
    }
    let groups = &inner.config.groups;
    let segment_bytes = groups.offsets_topic_segment_bytes.to_string();
    let overrides = [
        ("cleanup.policy", "compact"),
        ("compression.type", "producer"),
        ("segment.bytes", segment_bytes.as_str()),
    ];
    match inner.create_topic(
        CONSUMER_OFFSETS_TOPIC,
        groups.offsets_topic_num_partitions,
        &overrides,
    ) {
        Ok(()) | Err(Error::TopicExists { .. }) => inner.topic(CONSUMER_OFFSETS_TOPIC),
        Err(e) => Err(e),
    }
}

/// Applies every record of one partition of `__consumer_offsets`.
fn replay(log: &PartitionLog, state: &mut OffsetsState) -> Result<()> {
    let mut reader = log.reader(log.log_start_offset());
    while let Some(batch) = reader.next_batch()? {
        if batch.header().is_control() {
            continue;
        }
        let (path, position) = (batch.path().to_path_buf(), batch.position());
        let bad = |offset: u64, reason: String| {
            Error::corrupt(
                &path,
                position,
                format!("__consumer_offsets record at offset {offset}: {reason}"),
            )
        };
        for record in batch {
            let record = record?;
            let Some(key) = record.key else {
                return Err(bad(record.offset, "the record has no key".to_string()));
            };
            state
                .apply(key, record.value)
                .map_err(|e: OffsetsRecordError| bad(record.offset, e.to_string()))?;
        }
    }
    Ok(())
}

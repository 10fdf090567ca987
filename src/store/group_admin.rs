//! Administration of consumer groups, as Kafka's `kafka-consumer-groups`
//! offers it: list, describe (members, assignment, committed offsets and
//! lag), delete, and reset a group's offsets.

use std::collections::{BTreeMap, BTreeSet};

use super::{LogStore, TopicPartition};
use crate::error::{Error, GroupErrorKind, Result};
use crate::offsets::check_group_id;
use crate::offsets::coordinator::GroupState;
use crate::offsets::{ConsumerAssignment, OffsetAndMetadata};

/// A group as [`LogStore::list_groups`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupListing {
    /// The group id.
    pub group_id: String,
    /// Its state; [`GroupState::Empty`] for a group with only committed
    /// offsets.
    pub state: GroupState,
    /// Its protocol type (`"consumer"`); empty for a group that never had
    /// members.
    pub protocol_type: String,
}

/// A group as [`LogStore::describe_group`] describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    /// The group id.
    pub group_id: String,
    /// Its state.
    pub state: GroupState,
    /// Its protocol type; empty for a group that never had members.
    pub protocol_type: String,
    /// The assignor of the current generation, while the group is stable.
    pub assignor: Option<String>,
    /// The current generation.
    pub generation: i32,
    /// The member that computed the current assignment.
    pub leader: Option<String>,
    /// The members, with their partitions.
    pub members: Vec<ConsumerGroupMember>,
    /// Every partition the group has committed an offset for or that a
    /// member is assigned, by topic and partition.
    pub partitions: Vec<PartitionLag>,
}

/// One member of a [`ConsumerGroupDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMember {
    /// The member id.
    pub member_id: String,
    /// Its `group.instance.id`, for a static member.
    pub group_instance_id: Option<String>,
    /// Its client id.
    pub client_id: String,
    /// Where it connects from.
    pub client_host: String,
    /// The partitions assigned to it.
    pub assignment: Vec<TopicPartition>,
}

/// One partition of a [`ConsumerGroupDescription`]: what the group
/// committed and how far behind the log's end that is (Kafka's
/// CURRENT-OFFSET, LOG-END-OFFSET and LAG columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The partition.
    pub partition: TopicPartition,
    /// The group's committed offset, if any.
    pub committed: Option<OffsetAndMetadata>,
    /// The partition's log end offset (its high watermark), if the
    /// partition exists.
    pub log_end_offset: Option<u64>,
    /// `log_end_offset - committed`, when both are known (0 for a commit
    /// past the end).
    pub lag: Option<u64>,
    /// The member the partition is assigned to, if any.
    pub member_id: Option<String>,
}

/// Where [`LogStore::reset_offsets`] moves a group's offsets (Kafka's
/// `--to-earliest`, `--to-latest`, `--to-offset`, `--to-datetime`,
/// `--shift-by`). The results are kept within each partition's log, as
/// Kafka's tool keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetResetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset.
    Latest,
    /// This offset.
    Offset(u64),
    /// The first record at or after this timestamp (ms since the Unix
    /// epoch); the log end offset if there is none.
    Timestamp(i64),
    /// The committed offset moved by this many (the log start offset where
    /// the group has no commit).
    ShiftBy(i64),
}

impl LogStore {
    /// Every consumer group: those the coordinator knows (with members or
    /// stored metadata) and those with committed offsets only, by id.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, OffsetAndMetadata, StoreConfig, TopicPartition};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("events", 1, &[])?;
    /// use seglog::offsets::coordinator::GroupState;
    ///
    /// let tp = TopicPartition::new("events", 0);
    /// store.commit_offsets("billing", &[(tp, OffsetAndMetadata::new(1))])?;
    /// let groups = store.list_groups()?;
    /// assert_eq!(groups.len(), 1);
    /// assert_eq!(groups[0].group_id, "billing");
    /// assert_eq!(groups[0].state, GroupState::Empty); // no members, only offsets
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::StoreClosed`].
    pub fn list_groups(&self) -> Result<Vec<ConsumerGroupListing>> {
        let inner = &self.inner;
        inner.check_open()?;
        let mut groups: BTreeMap<String, ConsumerGroupListing> = BTreeMap::new();
        for g in inner.coordinator()?.list_groups() {
            if g.state == GroupState::Dead {
                continue;
            }
            groups.insert(
                g.group_id.clone(),
                ConsumerGroupListing {
                    group_id: g.group_id,
                    state: g.state,
                    protocol_type: g.protocol_type,
                },
            );
        }
        for id in inner.offsets.group_ids() {
            groups.entry(id.clone()).or_insert(ConsumerGroupListing {
                group_id: id,
                state: GroupState::Empty,
                protocol_type: String::new(),
            });
        }
        Ok(groups.into_values().collect())
    }

    /// A group's members, their partitions, and for every partition the
    /// group committed or is assigned: the committed offset, the log end
    /// offset and the lag between them.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, OffsetAndMetadata, ProducerRecord, StoreConfig, TopicPartition};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("events", 1, &[])?;
    /// # let producer = store.producer(Default::default());
    /// # for value in ["a", "b", "c"] {
    /// #     producer.send_and_wait(ProducerRecord::new("events", value))?;
    /// # }
    /// // "events" holds 3 records; the group has consumed the first one.
    /// let tp = TopicPartition::new("events", 0);
    /// store.commit_offsets("billing", &[(tp, OffsetAndMetadata::new(1))])?;
    ///
    /// let group = store.describe_group("billing")?;
    /// assert!(group.members.is_empty());
    /// assert_eq!(group.partitions[0].log_end_offset, Some(3));
    /// assert_eq!(group.partitions[0].lag, Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Group`] with [`GroupErrorKind::GroupIdNotFound`] for a
    /// group the store knows nothing of, [`GroupErrorKind::InvalidGroupId`];
    /// [`Error::StoreClosed`].
    pub fn describe_group(&self, group: &str) -> Result<ConsumerGroupDescription> {
        let inner = &self.inner;
        inner.check_open()?;
        check_group_id(group)?;
        let described = inner
            .coordinator()?
            .describe_group(group)
            .filter(|d| d.state != GroupState::Dead);
        let offsets = inner.offsets.group_offsets(group);
        if described.is_none() && offsets.is_empty() {
            return Err(Error::group(group, GroupErrorKind::GroupIdNotFound));
        }
        let mut members = Vec::new();
        let mut owner: BTreeMap<TopicPartition, String> = BTreeMap::new();
        if let Some(d) = &described {
            for m in &d.members {
                let assignment = if m.assignment.is_empty() {
                    Vec::new()
                } else {
                    ConsumerAssignment::decode(&m.assignment)
                        .map(|a| a.partitions)
                        .unwrap_or_default()
                };
                for tp in &assignment {
                    owner.insert(tp.clone(), m.member_id.clone());
                }
                members.push(ConsumerGroupMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    assignment,
                });
            }
        }
        let mut partitions: BTreeSet<TopicPartition> = owner.keys().cloned().collect();
        let committed: BTreeMap<TopicPartition, OffsetAndMetadata> =
            offsets.into_iter().map(|(tp, c)| (tp, c.value)).collect();
        partitions.extend(committed.keys().cloned());
        let partitions = partitions
            .into_iter()
            .map(|tp| {
                let log_end_offset = inner
                    .topic(&tp.topic)
                    .and_then(|t| t.log(tp.partition))
                    .ok()
                    .map(|log| log.high_watermark());
                let committed = committed.get(&tp).cloned();
                let lag = match (&committed, log_end_offset) {
                    (Some(c), Some(end)) => Some(end.saturating_sub(c.offset)),
                    _ => None,
                };
                PartitionLag {
                    member_id: owner.get(&tp).cloned(),
                    partition: tp,
                    committed,
                    log_end_offset,
                    lag,
                }
            })
            .collect();
        let (state, protocol_type, assignor, generation, leader) = match described {
            Some(d) => (d.state, d.protocol_type, d.protocol, d.generation, d.leader),
            None => (GroupState::Empty, String::new(), None, 0, None),
        };
        Ok(ConsumerGroupDescription {
            group_id: group.to_string(),
            state,
            protocol_type,
            assignor,
            generation,
            leader,
            members,
            partitions,
        })
    }

    /// Deletes a group without members: its committed offsets and its
    /// metadata (tombstones in `__consumer_offsets`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, OffsetAndMetadata, StoreConfig, TopicPartition};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("events", 1, &[])?;
    /// let tp = TopicPartition::new("events", 0);
    /// store.commit_offsets("billing", &[(tp.clone(), OffsetAndMetadata::new(1))])?;
    ///
    /// store.delete_group("billing")?;
    /// assert!(store.list_groups()?.is_empty());
    /// assert_eq!(store.committed_offsets("billing", &[tp])?, [None]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Group`] with [`GroupErrorKind::NonEmptyGroup`] while it has
    /// members, [`GroupErrorKind::GroupIdNotFound`] for a group the store
    /// knows nothing of; [`Error::ReadOnly`], [`Error::Io`],
    /// [`Error::StoreClosed`].
    pub fn delete_group(&self, group: &str) -> Result<()> {
        let inner = &self.inner;
        inner.check_writable()?;
        check_group_id(group)?;
        // The coordinator deletes a group it knows through its storage,
        // offsets included; a group of offsets only is deleted here.
        let known = match inner.coordinator()?.delete_group(group) {
            Ok(()) => true,
            Err(Error::Group {
                kind: GroupErrorKind::GroupIdNotFound,
                ..
            }) => false,
            Err(e) => return Err(e),
        };
        if !inner.offsets.delete_group(inner, group)? && !known {
            return Err(Error::group(group, GroupErrorKind::GroupIdNotFound));
        }
        Ok(())
    }

    /// Where [`reset_offsets`](Self::reset_offsets) would move the group's
    /// offsets, without moving them (Kafka's tool without `--execute`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, OffsetAndMetadata, ProducerRecord, StoreConfig, TopicPartition};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("events", 1, &[])?;
    /// # let producer = store.producer(Default::default());
    /// # for value in ["a", "b", "c"] {
    /// #     producer.send_and_wait(ProducerRecord::new("events", value))?;
    /// # }
    /// use seglog::OffsetResetSpec;
    ///
    /// // "events" holds 3 records, all consumed.
    /// let tp = TopicPartition::new("events", 0);
    /// store.commit_offsets("billing", &[(tp.clone(), OffsetAndMetadata::new(3))])?;
    /// let plan = store.plan_offset_reset("billing", &[tp.clone()], OffsetResetSpec::ShiftBy(-2))?;
    /// assert_eq!(plan, [(tp.clone(), 1)]);
    /// // Nothing moved.
    /// assert_eq!(store.committed_offsets("billing", &[tp])?[0].as_ref().map(|c| c.offset), Some(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Group`] with [`GroupErrorKind::NonEmptyGroup`] while the
    /// group has members, [`GroupErrorKind::InvalidGroupId`];
    /// [`Error::UnknownTopic`], [`Error::UnknownPartition`]; [`Error::Io`]
    /// or [`Error::Corrupt`] from a time-index lookup.
    pub fn plan_offset_reset(
        &self,
        group: &str,
        partitions: &[TopicPartition],
        to: OffsetResetSpec,
    ) -> Result<Vec<(TopicPartition, u64)>> {
        let inner = &self.inner;
        inner.check_open()?;
        check_group_id(group)?;
        if inner
            .coordinator()?
            .group_status(group)
            .is_some_and(|s| s.members > 0)
        {
            return Err(Error::group(group, GroupErrorKind::NonEmptyGroup));
        }
        let mut new = Vec::with_capacity(partitions.len());
        for tp in partitions {
            let log = inner.topic(&tp.topic)?.log(tp.partition)?;
            let (start, end) = (log.log_start_offset(), log.high_watermark());
            let target = match to {
                OffsetResetSpec::Earliest => start,
                OffsetResetSpec::Latest => end,
                OffsetResetSpec::Offset(o) => o,
                OffsetResetSpec::Timestamp(ts) => log
                    .offset_for_timestamp(ts)?
                    .map_or(end, |found| found.offset),
                OffsetResetSpec::ShiftBy(delta) => {
                    let from = inner
                        .offsets
                        .committed(group, tp)
                        .map_or(start, |c| c.offset);
                    from.saturating_add_signed(delta)
                }
            };
            new.push((tp.clone(), target.clamp(start, end)));
        }
        Ok(new)
    }

    /// Moves a group's committed offsets for `partitions` as `to` says, and
    /// returns the new offsets. Only for a group without members (stop its
    /// consumers first), as Kafka's tool requires.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, OffsetAndMetadata, ProducerRecord, StoreConfig, TopicPartition};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("events", 1, &[])?;
    /// # let producer = store.producer(Default::default());
    /// # for value in ["a", "b", "c"] {
    /// #     producer.send_and_wait(ProducerRecord::new("events", value))?;
    /// # }
    /// use seglog::OffsetResetSpec;
    ///
    /// // "events" holds 3 records, all consumed: consume them again.
    /// let tp = TopicPartition::new("events", 0);
    /// store.commit_offsets("billing", &[(tp.clone(), OffsetAndMetadata::new(3))])?;
    /// let moved = store.reset_offsets("billing", &[tp.clone()], OffsetResetSpec::Earliest)?;
    /// assert_eq!(moved, [(tp.clone(), 0)]);
    /// assert_eq!(store.committed_offsets("billing", &[tp])?[0].as_ref().map(|c| c.offset), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`plan_offset_reset`](Self::plan_offset_reset), and as
    /// [`commit_offsets`](Self::commit_offsets).
    pub fn reset_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
        to: OffsetResetSpec,
    ) -> Result<Vec<(TopicPartition, u64)>> {
        self.inner.check_writable()?;
        let new = self.plan_offset_reset(group, partitions, to)?;
        let commits: Vec<(TopicPartition, OffsetAndMetadata)> = new
            .iter()
            .map(|(tp, o)| (tp.clone(), OffsetAndMetadata::new(*o)))
            .collect();
        self.commit_offsets(group, &commits)?;
        Ok(new)
    }
}

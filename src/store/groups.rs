//! The store's committed offsets: commit and read them per consumer group
//! (Kafka's OffsetCommit and OffsetFetch), stored in `__consumer_offsets`.

use std::collections::BTreeSet;
use std::sync::{Arc, Weak};

use super::{LogStore, StoreInner, TopicPartition};
use crate::error::{Error, GroupErrorKind, Result};
use crate::offsets::check_group_id;
use crate::offsets::coordinator::GroupState;
use crate::offsets::expiry::{expired_offsets, GroupActivity};
use crate::offsets::records::GroupMetadataValue;
use crate::offsets::{
    ConsumerSubscription, GroupCoordinator, GroupStorage, OffsetAndMetadata, CONSUMER_PROTOCOL_TYPE,
};
use crate::segment::lock;

impl LogStore {
    /// The store's group coordinator, which runs Kafka's classic group
    /// protocol for every consumer group of the store: the in-process
    /// [`Consumer`](crate::Consumer)s use it, and a host that serves
    /// Kafka's wire protocol hands it the JoinGroup, SyncGroup, Heartbeat
    /// and LeaveGroup requests of remote consumers. Group metadata it
    /// decides is stored in `__consumer_offsets`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use seglog::{ConsumerConfig, GroupsConfig, LogStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # // A group of one: its first rebalance need not wait for more members.
    /// # let groups = GroupsConfig { group_initial_rebalance_delay_ms: 0, ..GroupsConfig::default() };
    /// # let store = LogStore::open(dir.path(), StoreConfig { groups, ..StoreConfig::default() })?;
    /// use seglog::offsets::coordinator::GroupState;
    ///
    /// store.create_topic("events", 1, &[])?;
    /// let coordinator = store.group_coordinator()?;
    /// assert_eq!(coordinator.group_state("g"), None);
    ///
    /// let config = ConsumerConfig { group_id: Some("g".into()), ..Default::default() };
    /// let mut consumer = store.consumer(config);
    /// consumer.subscribe(&["events"])?;
    /// consumer.poll(Duration::from_millis(100))?; // joins the group
    /// assert_eq!(coordinator.group_state("g"), Some(GroupState::Stable));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::StoreClosed`].
    pub fn group_coordinator(&self) -> Result<Arc<GroupCoordinator>> {
        self.inner.coordinator()
    }

    /// Commits `offsets` for `group`, as a consumer outside group
    /// management (manual assignment) does: each is the next offset the
    /// group will consume from its partition. All are written as one batch
    /// to the group's partition of `__consumer_offsets` (created on first
    /// use), durable as [`GroupsConfig::commit_durability`] says (fsynced
    /// by default) when this returns.
    ///
    /// [`GroupsConfig::commit_durability`]: crate::offsets::GroupsConfig::commit_durability
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{offsets::OffsetAndMetadata, LogStore, StoreConfig, TopicPartition};
    /// let dir = tempfile::tempdir()?;
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("events", 2, &[])?;
    /// let tp = TopicPartition::new("events", 1);
    /// store.commit_offsets("billing", &[(tp.clone(), OffsetAndMetadata::new(42))])?;
    /// let committed = store.committed_offsets("billing", &[tp])?;
    /// assert_eq!(committed[0].as_ref().map(|c| c.offset), Some(42));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Group`] with [`GroupErrorKind::UnknownMemberId`] while the
    /// group has members (they commit through their consumers),
    /// [`GroupErrorKind::InvalidGroupId`] for an
    /// empty group id (or one over 32,767 bytes) and
    /// [`GroupErrorKind::OffsetMetadataTooLarge`] for metadata over
    /// `offset.metadata.max.bytes`; [`Error::UnknownTopic`] or
    /// [`Error::UnknownPartition`] for a partition the store does not
    /// have; [`Error::ReadOnly`], [`Error::Io`], [`Error::StoreClosed`]. Nothing
    /// is committed on an error.
    pub fn commit_offsets(
        &self,
        group: &str,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<()> {
        // A commit from outside the group's membership: only while it
        // has no members, as Kafka's coordinator allows it.
        self.commit_as(group, "", -1, None, offsets)
    }

    /// Commits `offsets` for a member of `group` (Kafka's OffsetCommit from
    /// a consumer under group management): the coordinator checks that
    /// `member_id` is a member in generation `generation` and that the
    /// group is not waiting for its leader's assignment, then the offsets
    /// are written as [`commit_offsets`](Self::commit_offsets) writes them.
    /// Whether the member owns the partitions is the caller's check, as in
    /// Kafka (the in-process [`Consumer`](crate::Consumer) makes it).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use seglog::{ConsumerConfig, GroupsConfig, LogStore, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # // A group of one: its first rebalance need not wait for more members.
    /// # let groups = GroupsConfig { group_initial_rebalance_delay_ms: 0, ..GroupsConfig::default() };
    /// # let store = LogStore::open(dir.path(), StoreConfig { groups, ..StoreConfig::default() })?;
    /// # use seglog::{OffsetAndMetadata, TopicPartition};
    /// # store.create_topic("events", 1, &[])?;
    /// let config = ConsumerConfig { group_id: Some("g".into()), ..Default::default() };
    /// let mut consumer = store.consumer(config);
    /// consumer.subscribe(&["events"])?;
    /// consumer.poll(Duration::from_millis(100))?; // joins the group
    /// let (member, generation) = consumer.group_metadata().ok_or("not a member")?;
    ///
    /// let offsets = [(TopicPartition::new("events", 0), OffsetAndMetadata::new(7))];
    /// store.commit_member_offsets("g", &member, generation, None, &offsets)?;
    /// // A commit of an older generation is refused.
    /// assert!(store.commit_member_offsets("g", &member, generation - 1, None, &offsets).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Group`] with [`GroupErrorKind::UnknownMemberId`],
    /// [`GroupErrorKind::IllegalGeneration`],
    /// [`GroupErrorKind::RebalanceInProgress`] or
    /// [`GroupErrorKind::FencedInstanceId`] as
    /// [`GroupCoordinator::validate_offset_commit`] says; otherwise as
    /// [`commit_offsets`](Self::commit_offsets). Nothing is committed on
    /// an error.
    pub fn commit_member_offsets(
        &self,
        group: &str,
        member_id: &str,
        generation: i32,
        group_instance_id: Option<&str>,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<()> {
        self.commit_as(group, member_id, generation, group_instance_id, offsets)
    }

    /// A commit of `offsets` for `group` by the given member (an empty id
    /// and generation -1 for a commit from outside the membership): the
    /// partitions must exist and the coordinator accept the member.
    fn commit_as(
        &self,
        group: &str,
        member_id: &str,
        generation: i32,
        group_instance_id: Option<&str>,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<()> {
        self.inner.check_writable()?;
        check_group_id(group)?;
        for (tp, _) in offsets {
            self.inner.topic(&tp.topic)?.log(tp.partition)?;
        }
        self.inner.coordinator()?.validate_offset_commit(
            group,
            member_id,
            generation,
            group_instance_id,
        )?;
        self.inner.offsets.commit(&self.inner, group, offsets)
    }

    /// The offsets `group` has committed for `partitions`, in the same
    /// order: `None` where it has committed nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, OffsetAndMetadata, StoreConfig, TopicPartition};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("events", 2, &[])?;
    /// let partitions = [TopicPartition::new("events", 0), TopicPartition::new("events", 1)];
    /// store.commit_offsets("billing", &[(partitions[0].clone(), OffsetAndMetadata::new(5))])?;
    ///
    /// let committed = store.committed_offsets("billing", &partitions)?;
    /// assert_eq!(committed[0].as_ref().map(|c| c.offset), Some(5));
    /// assert_eq!(committed[1], None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Group`] with [`GroupErrorKind::InvalidGroupId`] for an
    /// empty group id; [`Error::StoreClosed`].
    pub fn committed_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<Option<OffsetAndMetadata>>> {
        self.inner.check_open()?;
        check_group_id(group)?;
        Ok(partitions
            .iter()
            .map(|tp| self.inner.offsets.committed(group, tp))
            .collect())
    }
}

/// Makes the store's group coordinator, storing group metadata in
/// `__consumer_offsets`, and brings back the groups stored there.
pub(super) fn start_coordinator(inner: &Arc<StoreInner>) -> Result<()> {
    let storage = Arc::new(StoreGroupStorage {
        inner: Arc::downgrade(inner),
    });
    let coordinator = Arc::new(GroupCoordinator::new(
        inner.config.groups,
        inner.clock.clone(),
        storage,
    ));
    // Consumers waiting in `poll` wake to rejoin when their group
    // rebalances.
    let signal = inner.signal.clone();
    coordinator.set_rebalance_listener(move || signal.notify());
    for (group, value) in inner.offsets.all_metadata() {
        coordinator.load_group(&group, &value)?;
    }
    let _ = inner.coordinator.set(coordinator);
    Ok(())
}

/// The coordinator's storage: records under the group's key in its
/// partition of `__consumer_offsets`.
struct StoreGroupStorage {
    inner: Weak<StoreInner>,
}

impl StoreGroupStorage {
    fn inner(&self) -> Result<Arc<StoreInner>> {
        self.inner.upgrade().ok_or(Error::Closed)
    }
}

impl GroupStorage for StoreGroupStorage {
    fn store_group(&self, group: &str, value: &GroupMetadataValue) -> Result<()> {
        let inner = self.inner()?;
        inner.offsets.store_group(&inner, group, value)
    }

    /// A deleted group goes with its committed offsets.
    fn delete_group(&self, group: &str) -> Result<()> {
        let inner = self.inner()?;
        inner.offsets.delete_group(&inner, group).map(|_| ())
    }
}

/// What maintenance does for groups: removes members whose session
/// expired, and every `offsets.retention.check.interval.ms` deletes the
/// committed offsets that have expired (then a group left with neither
/// members nor offsets), and those of topics that no longer exist.
/// Returns how many offsets and groups it deleted.
pub(super) fn maintain_groups(inner: &StoreInner) -> Result<(usize, usize)> {
    let coordinator = inner.coordinator()?;
    coordinator.expire_members()?;
    let now = inner.clock.now_ms();
    let config = &inner.config.groups;
    {
        let mut last = lock(&inner.offsets.last_expiry_check);
        let interval =
            i64::try_from(config.offsets_retention_check_interval_ms).unwrap_or(i64::MAX);
        if last.is_some_and(|t| now.saturating_sub(t) < interval) {
            return Ok((0, 0));
        }
        *last = Some(now);
    }
    let retention_ms = i64::from(config.offsets_retention_minutes) * 60_000;
    let (mut offsets_deleted, mut groups_deleted) = (0, 0);
    let mut first_error = None;
    for group in inner.offsets.group_ids() {
        let activity = group_activity(&coordinator, &group);
        let expired = inner.offsets.expire_offsets(inner, &group, |offsets| {
            let mut expired = expired_offsets(
                &activity,
                offsets.iter().map(|(tp, c)| (tp, c)),
                now,
                retention_ms,
            );
            // Offsets of topics deleted (a deletion a crash interrupted
            // before it removed them) go too.
            for (tp, _) in offsets {
                if inner.topic(&tp.topic).is_err() && !expired.contains(tp) {
                    expired.push(tp.clone());
                }
            }
            expired
        });
        let (expired, left) = match expired {
            Ok(counts) => counts,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        offsets_deleted += expired;
        // A group without members whose offsets are all gone is dead.
        let empty = matches!(
            activity,
            GroupActivity::Empty { .. } | GroupActivity::Standalone
        );
        if empty && left == 0 {
            let deleted = match coordinator.delete_group(&group) {
                Ok(()) => Ok(true),
                Err(Error::Group {
                    kind: GroupErrorKind::GroupIdNotFound | GroupErrorKind::NonEmptyGroup,
                    ..
                }) => Ok(false),
                Err(e) => Err(e),
            };
            match deleted {
                Ok(d) => groups_deleted += usize::from(d),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    first_error.map_or(Ok((offsets_deleted, groups_deleted)), Err)
}

/// What expiry needs to know of a group, from the coordinator.
fn group_activity(coordinator: &GroupCoordinator, group: &str) -> GroupActivity {
    let Some(status) = coordinator.group_status(group) else {
        return GroupActivity::Standalone;
    };
    if status.protocol_type.is_none() {
        return GroupActivity::Standalone;
    }
    match status.state {
        GroupState::Empty | GroupState::Dead => GroupActivity::Empty {
            since: status.state_timestamp_ms,
        },
        GroupState::Stable => {
            let subscribed = (status.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE))
                .then(|| coordinator.describe_group(group))
                .flatten()
                .and_then(|d| {
                    let mut topics = BTreeSet::new();
                    for m in d.members {
                        let subscription = ConsumerSubscription::decode(&m.subscription?).ok()?;
                        topics.extend(subscription.topics);
                    }
                    Some(topics)
                });
            GroupActivity::Stable { subscribed }
        }
        GroupState::PreparingRebalance | GroupState::CompletingRebalance => {
            GroupActivity::Rebalancing
        }
    }
}

impl StoreInner {
    /// The group coordinator.
    ///
    /// # Errors
    /// [`Error::StoreClosed`].
    pub(crate) fn coordinator(&self) -> Result<Arc<GroupCoordinator>> {
        self.check_open()?;
        self.coordinator
            .get()
            .cloned()
            .ok_or_else(|| self.closed_error())
    }

    /// Deletes every group's committed offsets of `topic` (which no
    /// longer exists).
    pub(crate) fn remove_offsets_of_topic(&self, topic: &str) -> Result<()> {
        let mut first = None;
        for (group, partitions) in self.offsets.offsets_of_topic(topic) {
            if let Err(e) = self.offsets.delete_offsets(self, &group, &partitions) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

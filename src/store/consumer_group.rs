//! A [`Consumer`] in a consumer group: [`subscribe`](Consumer::subscribe)
//! joins the group through the store's group coordinator (Kafka's classic
//! protocol), and `poll` keeps the membership: it heartbeats, rejoins when
//! the group rebalances (a member joined or left, a member stopped
//! polling, a subscribed topic gained partitions), computes the assignment
//! when this consumer leads the generation, and calls the
//! [`ConsumerRebalanceListener`].
//!
//! In one process a consumer's heartbeat is its `poll`: it joins with
//! [`max_poll_interval`](crate::ConsumerConfig::max_poll_interval) as both
//! its session and its rebalance timeout, so a consumer that has not
//! polled for that long is removed from the group and its partitions go to
//! the others, as Kafka's consumer leaves the group then.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::consumer::Consumer;
use super::TopicPartition;
use crate::error::{Error, GroupErrorKind, Result};
use crate::offsets::assignor::{
    assignor_by_name, MemberSubscription, PartitionAssignor, RebalanceProtocol,
};
use crate::offsets::coordinator::{
    JoinGroupRequest, JoinGroupResponse, JoinOutcome, MemberIdentity, SyncGroupRequest,
};
use crate::offsets::{
    ConsumerAssignment, ConsumerSubscription, CONSUMER_PROTOCOL_TYPE, CONSUMER_PROTOCOL_VERSION,
};

/// How often a subscribed consumer heartbeats at most while it waits in
/// `poll` (Kafka's `heartbeat.interval.ms`).
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(3);

/// Told by a subscribed [`Consumer`] when its partitions change (Kafka's
/// `ConsumerRebalanceListener`). The consumer is handed in, so a listener
/// can commit, seek or look up committed offsets from it.
///
/// ```
/// use seglog::{Consumer, ConsumerRebalanceListener, Result, TopicPartition};
///
/// /// Commits what was processed before partitions move to another member.
/// struct CommitOnRevoke;
///
/// impl ConsumerRebalanceListener for CommitOnRevoke {
///     fn on_partitions_revoked(&mut self, consumer: &mut Consumer, _: &[TopicPartition]) -> Result<()> {
///         consumer.commit_sync()
///     }
/// }
/// ```
pub trait ConsumerRebalanceListener: Send {
    /// Before partitions the consumer owned go to other members (with the
    /// eager protocol, all of them at the start of every rebalance): the
    /// place to commit the offsets of what was processed. The consumer
    /// still owns them and its generation is still current, so a commit
    /// here succeeds.
    ///
    /// # Errors
    /// An error is returned from the `poll` that ran the rebalance, after
    /// the rebalance has completed.
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut Consumer,
        partitions: &[TopicPartition],
    ) -> Result<()> {
        let _ = (consumer, partitions);
        Ok(())
    }

    /// After the consumer was given partitions (only the new ones with the
    /// cooperative protocol, the whole assignment with the eager one).
    /// They start from the group's committed offsets, or as
    /// `auto_offset_reset` says; a listener may seek elsewhere.
    ///
    /// # Errors
    /// As [`on_partitions_revoked`](Self::on_partitions_revoked).
    fn on_partitions_assigned(
        &mut self,
        consumer: &mut Consumer,
        partitions: &[TopicPartition],
    ) -> Result<()> {
        let _ = (consumer, partitions);
        Ok(())
    }

    /// When the consumer learns it is no longer a member (its session
    /// expired, another member with its `group.instance.id` replaced it):
    /// the partitions may already be someone else's, so a commit for them
    /// fails. By default calls
    /// [`on_partitions_revoked`](Self::on_partitions_revoked), as Kafka's
    /// listener does.
    ///
    /// # Errors
    /// As [`on_partitions_revoked`](Self::on_partitions_revoked).
    fn on_partitions_lost(
        &mut self,
        consumer: &mut Consumer,
        partitions: &[TopicPartition],
    ) -> Result<()> {
        self.on_partitions_revoked(consumer, partitions)
    }
}

/// A listener that does nothing.
struct NoListener;

impl ConsumerRebalanceListener for NoListener {}

/// A subscribed consumer's membership of its group.
pub(super) struct Membership {
    group: String,
    topics: BTreeSet<String>,
    assignors: Vec<Box<dyn PartitionAssignor>>,
    protocol: RebalanceProtocol,
    listener: Option<Box<dyn ConsumerRebalanceListener>>,
    /// The member id the coordinator gave; empty before the first join.
    pub(super) member_id: String,
    /// The generation of the current assignment; -1 before the first.
    pub(super) generation: i32,
    /// Whether the consumer must (re)join before it fetches.
    rejoin: bool,
    /// A newer instance with the same `group.instance.id` replaced it.
    fenced: bool,
    /// The partition counts of the subscribed topics the assignment was
    /// made with: a change rebalances the group.
    partition_counts: BTreeMap<String, u32>,
}

impl Consumer {
    /// Subscribes to `topics` as a member of the consumer's group
    /// ([`group_id`](crate::ConsumerConfig::group_id)): the next `poll`
    /// joins the group, and the partitions of these topics are divided
    /// among its members by the configured assignor. Replaces an earlier
    /// subscription (rejoining the group) and a manual assignment.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use seglog::{ConsumerConfig, GroupsConfig, LogStore, StoreConfig, TopicPartition};
    /// # let dir = tempfile::tempdir()?;
    /// // A group's first rebalance waits 3 s for more members to join
    /// // (`group.initial.rebalance.delay.ms`); a group of one need not.
    /// let groups = GroupsConfig { group_initial_rebalance_delay_ms: 0, ..GroupsConfig::default() };
    /// let store = LogStore::open(dir.path(), StoreConfig { groups, ..StoreConfig::default() })?;
    /// store.create_topic("events", 2, &[])?;
    ///
    /// let config = ConsumerConfig { group_id: Some("g".into()), ..Default::default() };
    /// let mut consumer = store.consumer(config);
    /// consumer.subscribe(&["events"])?;
    /// consumer.poll(Duration::from_millis(100))?; // joins the group
    /// // Its only member, the consumer gets both partitions.
    /// let all = [TopicPartition::new("events", 0), TopicPartition::new("events", 1)];
    /// assert_eq!(consumer.assignment(), all);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Group`] with [`GroupErrorKind::InvalidGroupId`] without a
    /// group id; [`Error::InvalidConfig`] for an unknown assignor name in
    /// [`partition_assignment_strategy`](crate::ConsumerConfig::partition_assignment_strategy)
    /// or none at all.
    pub fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        self.subscribe_with_listener(topics, NoListener)
    }

    /// [`subscribe`](Self::subscribe) with a listener told of every change
    /// of the consumer's partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use seglog::{AutoOffsetReset, ConsumerConfig, GroupsConfig, LogStore, ProducerRecord, StoreConfig, TopicPartition};
    /// # let dir = tempfile::tempdir()?;
    /// # // A group of one: its first rebalance need not wait for more members.
    /// # let groups = GroupsConfig { group_initial_rebalance_delay_ms: 0, ..GroupsConfig::default() };
    /// # let store = LogStore::open(dir.path(), StoreConfig { groups, ..StoreConfig::default() })?;
    /// # store.create_topic("events", 2, &[])?;
    /// # let producer = store.producer(Default::default());
    /// # for (partition, value) in [(0, "a"), (0, "b"), (0, "c"), (1, "d")] {
    /// #     producer.send_and_wait(ProducerRecord::new("events", value).with_partition(partition))?;
    /// # }
    /// use seglog::{Consumer, ConsumerRebalanceListener, Result};
    ///
    /// struct FromTheStart; // replays the partitions it is given
    /// impl ConsumerRebalanceListener for FromTheStart {
    ///     fn on_partitions_assigned(&mut self, c: &mut Consumer, _: &[TopicPartition]) -> Result<()> {
    ///         c.seek_to_beginning()
    ///     }
    /// }
    /// let config = ConsumerConfig { group_id: Some("g".into()), ..Default::default() };
    /// let mut consumer = store.consumer(config);
    /// consumer.subscribe_with_listener(&["events"], FromTheStart)?;
    /// // Joins the group, and reads from the start instead of the end.
    /// assert!(!consumer.poll(Duration::from_millis(100))?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`subscribe`](Self::subscribe).
    pub fn subscribe_with_listener(
        &mut self,
        topics: &[&str],
        listener: impl ConsumerRebalanceListener + 'static,
    ) -> Result<()> {
        let group = self.group()?;
        let mut assignors = Vec::new();
        for name in &self.config.partition_assignment_strategy {
            let assignor = assignor_by_name(name).ok_or_else(|| {
                Error::config(
                    "partition.assignment.strategy",
                    format!("unknown assignor {name:?}"),
                )
            })?;
            assignors.push(assignor);
        }
        // The group uses the most capable protocol every assignor takes.
        let protocol = if assignors.is_empty() {
            return Err(Error::config(
                "partition.assignment.strategy",
                "at least one assignor is needed",
            ));
        } else if assignors.iter().all(|a| {
            a.supported_protocols()
                .contains(&RebalanceProtocol::Cooperative)
        }) {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        };
        let (member_id, generation) = match self.membership.take() {
            Some(m) if m.group == group => (m.member_id, m.generation),
            Some(m) => {
                self.put_back(m);
                self.leave_group()?;
                (String::new(), -1)
            }
            None => (String::new(), -1),
        };
        if !self.assigned.is_empty() && member_id.is_empty() {
            // A manual assignment gives way.
            self.set_assignment(&[])?;
        }
        self.membership = Some(Membership {
            group,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            assignors,
            protocol,
            listener: Some(Box::new(listener)),
            member_id,
            generation,
            rejoin: true,
            fenced: false,
            partition_counts: BTreeMap::new(),
        });
        Ok(())
    }

    /// The topics the consumer subscribes to (empty without a
    /// subscription).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use seglog::{AutoOffsetReset, ConsumerConfig, LogStore, ProducerRecord, StoreConfig, TopicPartition};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("events", 2, &[])?;
    /// # let producer = store.producer(Default::default());
    /// # for (partition, value) in [(0, "a"), (0, "b"), (0, "c"), (1, "d")] {
    /// #     producer.send_and_wait(ProducerRecord::new("events", value).with_partition(partition))?;
    /// # }
    /// let config = ConsumerConfig { group_id: Some("g".into()), ..Default::default() };
    /// let mut consumer = store.consumer(config);
    /// assert!(consumer.subscription().is_empty());
    /// consumer.subscribe(&["events", "orders"])?;
    /// assert_eq!(consumer.subscription(), ["events", "orders"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn subscription(&self) -> Vec<String> {
        self.membership
            .as_ref()
            .map(|m| m.topics.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Leaves the group and drops the subscription and its partitions
    /// (committing first with auto-commit on, as Kafka's `unsubscribe`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use seglog::{AutoOffsetReset, ConsumerConfig, GroupsConfig, LogStore, ProducerRecord, StoreConfig, TopicPartition};
    /// # let dir = tempfile::tempdir()?;
    /// # // A group of one: its first rebalance need not wait for more members.
    /// # let groups = GroupsConfig { group_initial_rebalance_delay_ms: 0, ..GroupsConfig::default() };
    /// # let store = LogStore::open(dir.path(), StoreConfig { groups, ..StoreConfig::default() })?;
    /// # store.create_topic("events", 2, &[])?;
    /// # let producer = store.producer(Default::default());
    /// # for (partition, value) in [(0, "a"), (0, "b"), (0, "c"), (1, "d")] {
    /// #     producer.send_and_wait(ProducerRecord::new("events", value).with_partition(partition))?;
    /// # }
    /// let config = ConsumerConfig { group_id: Some("g".into()), ..Default::default() };
    /// let mut consumer = store.consumer(config);
    /// consumer.subscribe(&["events"])?;
    /// consumer.poll(Duration::from_millis(100))?; // joins the group, and gets both partitions
    /// assert_eq!(consumer.assignment().len(), 2);
    ///
    /// consumer.unsubscribe()?;
    /// assert!(consumer.assignment().is_empty());
    /// assert!(store.describe_group("g")?.members.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The auto-commit's error; the coordinator's error for the leave
    /// (the consumer has left its partitions all the same).
    pub fn unsubscribe(&mut self) -> Result<()> {
        if self.membership.is_none() {
            return Ok(());
        }
        let committed = if self.auto_commits() {
            self.commit_sync()
        } else {
            Ok(())
        };
        let left = self.leave_group();
        committed.and(left)
    }

    /// The member id and generation the consumer has in its group, once it
    /// has joined (Kafka's `groupMetadata()`): what its commits carry.
    /// `None` outside a group's membership.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use seglog::{AutoOffsetReset, ConsumerConfig, GroupsConfig, LogStore, ProducerRecord, StoreConfig, TopicPartition};
    /// # let dir = tempfile::tempdir()?;
    /// # // A group of one: its first rebalance need not wait for more members.
    /// # let groups = GroupsConfig { group_initial_rebalance_delay_ms: 0, ..GroupsConfig::default() };
    /// # let store = LogStore::open(dir.path(), StoreConfig { groups, ..StoreConfig::default() })?;
    /// # store.create_topic("events", 2, &[])?;
    /// # let producer = store.producer(Default::default());
    /// # for (partition, value) in [(0, "a"), (0, "b"), (0, "c"), (1, "d")] {
    /// #     producer.send_and_wait(ProducerRecord::new("events", value).with_partition(partition))?;
    /// # }
    /// let config = ConsumerConfig { group_id: Some("g".into()), ..Default::default() };
    /// let mut consumer = store.consumer(config);
    /// assert_eq!(consumer.group_metadata(), None);
    /// consumer.subscribe(&["events"])?;
    /// consumer.poll(Duration::from_millis(100))?; // joins the group
    /// let (member_id, generation) = consumer.group_metadata().ok_or("not a member")?;
    /// assert!(member_id.starts_with("consumer")); // the client id
    /// assert_eq!(generation, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn group_metadata(&self) -> Option<(String, i32)> {
        let m = self.membership.as_ref()?;
        (m.generation >= 0).then(|| (m.member_id.clone(), m.generation))
    }

    /// Leaves the group (if a member): revokes the partitions through the
    /// listener (unless `quietly`, as when the consumer is dropped) and
    /// tells the coordinator. The subscription goes too.
    pub(super) fn leave_group(&mut self) -> Result<()> {
        self.leave_group_with(false)
    }

    fn leave_group_with(&mut self, quietly: bool) -> Result<()> {
        let Some(m) = self.membership.as_mut() else {
            return Ok(());
        };
        let member = (m.generation >= 0).then(|| m.member_id.clone());
        let mut listener = m.listener.take();
        let owned = self.assignment();
        // Still a member while the listener runs, so that it can commit.
        let revoked = match listener.as_mut() {
            Some(l) if !quietly && !owned.is_empty() && member.is_some() => {
                l.on_partitions_revoked(self, &owned)
            }
            _ => Ok(()),
        };
        let Some(m) = self.membership.take() else {
            return revoked;
        };
        self.set_assignment(&[])?;
        // A static member keeps its place until its session ends, so that
        // it can come back without a rebalance (KIP-345).
        let member = member.filter(|_| self.config.group_instance_id.is_none());
        let left = match member.filter(|id| !id.is_empty()) {
            None => Ok(()),
            Some(member_id) => {
                let member = MemberIdentity {
                    member_id,
                    group_instance_id: self.config.group_instance_id.clone(),
                };
                match self
                    .store
                    .inner
                    .coordinator()?
                    .leave_group(&m.group, &[member])
                {
                    // Already gone (its session ended, the group was
                    // deleted): nothing to leave.
                    Ok(_) | Err(Error::Group { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        };
        revoked.and(left)
    }

    fn put_back(&mut self, m: Membership) {
        self.membership = Some(m);
    }

    /// How long a subscribed consumer waits in `poll` before it heartbeats
    /// again: Kafka's default heartbeat interval, or a third of
    /// `max_poll_interval` if that is shorter.
    pub(super) fn heartbeat_interval(&self) -> Duration {
        HEARTBEAT_INTERVAL.min(self.config.max_poll_interval / 3)
    }

    /// Keeps the membership before a fetch: heartbeats, and rejoins the
    /// group if it rebalances, the consumer was removed, or a subscribed
    /// topic's partition count changed. Returns a listener's error after
    /// the rebalance completed.
    pub(super) fn maintain_membership(&mut self) -> Result<()> {
        let Some(m) = self.membership.as_mut() else {
            return Ok(());
        };
        if m.fenced {
            return Err(Error::group(&m.group, GroupErrorKind::FencedInstanceId));
        }
        if !m.rejoin {
            let coordinator = self.store.inner.coordinator()?;
            let instance = self.config.group_instance_id.as_deref();
            match coordinator.heartbeat(&m.group, &m.member_id, m.generation, instance) {
                Ok(()) => {}
                Err(Error::Group {
                    kind: GroupErrorKind::RebalanceInProgress,
                    ..
                }) => m.rejoin = true,
                Err(Error::Group {
                    kind: GroupErrorKind::UnknownMemberId | GroupErrorKind::IllegalGeneration,
                    ..
                }) => {
                    m.member_id.clear();
                    m.generation = -1;
                    m.rejoin = true;
                    self.lose_partitions()?;
                }
                Err(Error::Group {
                    kind: GroupErrorKind::FencedInstanceId,
                    ..
                }) => return self.fence(),
                Err(e) => return Err(e),
            }
        }
        let Some(m) = self.membership.as_mut() else {
            return Ok(());
        };
        if !m.rejoin && self.store.inner.partition_counts(&m.topics) != m.partition_counts {
            m.rejoin = true;
        }
        if m.rejoin {
            return self.rebalance();
        }
        Ok(())
    }

    /// Another consumer with this one's `group.instance.id` took its place:
    /// as in Kafka that is fatal. The partitions are lost, and this poll
    /// and every later one fail with `FencedInstanceId` (the consumer does
    /// not fight the newer instance for its place).
    fn fence(&mut self) -> Result<()> {
        let lost = self.lose_partitions();
        let Some(m) = self.membership.as_mut() else {
            return lost;
        };
        m.fenced = true;
        m.rejoin = false;
        lost?;
        Err(Error::group(&m.group, GroupErrorKind::FencedInstanceId))
    }

    /// The consumer was removed from the group: its partitions are lost
    /// (no commit for them can succeed now).
    fn lose_partitions(&mut self) -> Result<()> {
        let owned = self.assignment();
        let Some(m) = self.membership.as_mut() else {
            return Ok(());
        };
        let mut listener = m.listener.take();
        let result = if owned.is_empty() {
            Ok(())
        } else {
            listener
                .as_mut()
                .map_or(Ok(()), |l| l.on_partitions_lost(self, &owned))
        };
        if let Some(m) = self.membership.as_mut() {
            m.listener = listener;
        }
        self.set_assignment(&[])?;
        result
    }

    /// Joins the group until the consumer has a stable assignment.
    fn rebalance(&mut self) -> Result<()> {
        if self.auto_commits() {
            // As Kafka's consumer before it rejoins: the positions of what
            // earlier polls returned are committed, so that partitions
            // moving to other members resume after them.
            self.auto_commit()?;
        }
        let mut listener_error = None;
        let mut listener = self.membership.as_mut().and_then(|m| m.listener.take());
        let result = self.rebalance_with(listener.as_deref_mut(), &mut listener_error);
        if let Some(m) = self.membership.as_mut() {
            m.listener = listener;
        }
        if let Err(Error::Group {
            kind: GroupErrorKind::FencedInstanceId,
            ..
        }) = result
        {
            return self.fence();
        }
        result?;
        listener_error.map_or(Ok(()), Err)
    }

    fn rebalance_with(
        &mut self,
        mut listener: Option<&mut (dyn ConsumerRebalanceListener + 'static)>,
        listener_error: &mut Option<Error>,
    ) -> Result<()> {
        let coordinator = self.store.inner.coordinator()?;
        let mut note = |r: Result<()>| {
            if let Err(e) = r {
                listener_error.get_or_insert(e);
            }
        };
        loop {
            let Some(m) = self.membership.as_ref() else {
                return Ok(());
            };
            let (group, protocol) = (m.group.clone(), m.protocol);
            if protocol == RebalanceProtocol::Eager {
                let owned = self.assignment();
                if !owned.is_empty() {
                    if let Some(l) = listener.as_deref_mut() {
                        note(l.on_partitions_revoked(self, &owned));
                    }
                    self.set_assignment(&[])?;
                }
            }
            let request = self.join_request()?;
            let response = match coordinator.join_group(request) {
                Ok(JoinOutcome::MemberIdRequired(id)) => {
                    if let Some(m) = self.membership.as_mut() {
                        m.member_id = id;
                    }
                    continue;
                }
                Ok(JoinOutcome::Joined(response)) => response,
                // The member id is no longer known (a rebalance completed
                // without it, its session ended): join as a new member, as
                // Kafka's consumer does.
                Err(Error::Group {
                    kind: GroupErrorKind::UnknownMemberId,
                    ..
                }) => {
                    self.forget_membership(listener.as_deref_mut(), &mut note)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let counts = self.store.inner.partition_counts(
                &self
                    .membership
                    .as_ref()
                    .map(|m| m.topics.clone())
                    .unwrap_or_default(),
            );
            let assignments = if response.is_leader() {
                self.lead(&response)?
            } else {
                Vec::new()
            };
            if let Some(m) = self.membership.as_mut() {
                m.member_id = response.member_id.clone();
            }
            let sync = coordinator.sync_group(SyncGroupRequest {
                group_id: group.clone(),
                generation_id: response.generation_id,
                member_id: response.member_id.clone(),
                group_instance_id: self.config.group_instance_id.clone(),
                protocol_type: Some(CONSUMER_PROTOCOL_TYPE.to_string()),
                protocol_name: response.protocol_name.clone(),
                assignments,
            });
            let sync = match sync {
                Ok(s) => s,
                Err(Error::Group {
                    kind: GroupErrorKind::RebalanceInProgress,
                    ..
                }) => continue,
                Err(Error::Group {
                    kind: GroupErrorKind::UnknownMemberId | GroupErrorKind::IllegalGeneration,
                    ..
                }) => {
                    self.forget_membership(listener.as_deref_mut(), &mut note)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let assignment = if sync.assignment.is_empty() {
                ConsumerAssignment::default()
            } else {
                ConsumerAssignment::decode(&sync.assignment)?
            };
            let owned: BTreeSet<TopicPartition> = self.assignment().into_iter().collect();
            let new: BTreeSet<TopicPartition> = assignment.partitions.iter().cloned().collect();
            let revoked: Vec<TopicPartition> = owned.difference(&new).cloned().collect();
            let added: Vec<TopicPartition> = new.difference(&owned).cloned().collect();
            if let Some(m) = self.membership.as_mut() {
                m.generation = response.generation_id;
                m.partition_counts = counts;
                m.rejoin = false;
            }
            if !revoked.is_empty() {
                // Cooperative: give these up now; the partitions move to
                // their new owners in a follow-up rebalance.
                if let Some(l) = listener.as_deref_mut() {
                    note(l.on_partitions_revoked(self, &revoked));
                }
                if let Some(m) = self.membership.as_mut() {
                    m.rejoin = true;
                }
            }
            let kept: Vec<TopicPartition> = new.iter().cloned().collect();
            self.set_assignment(&kept)?;
            let given = if protocol == RebalanceProtocol::Eager {
                kept
            } else {
                added
            };
            if let Some(l) = listener.as_deref_mut() {
                note(l.on_partitions_assigned(self, &given));
            }
            if !self.membership.as_ref().is_some_and(|m| m.rejoin) {
                return Ok(());
            }
        }
    }

    /// The consumer is no longer a member (its id unknown, its generation
    /// gone) in the middle of a rebalance: the partitions it still owns
    /// (cooperative) are lost, and it joins again as a new member.
    fn forget_membership(
        &mut self,
        listener: Option<&mut (dyn ConsumerRebalanceListener + 'static)>,
        note: &mut impl FnMut(Result<()>),
    ) -> Result<()> {
        if let Some(m) = self.membership.as_mut() {
            m.member_id.clear();
            m.generation = -1;
        }
        let owned = self.assignment();
        if owned.is_empty() {
            return Ok(());
        }
        if let Some(l) = listener {
            note(l.on_partitions_lost(self, &owned));
        }
        self.set_assignment(&[])
    }

    /// The JoinGroup request of this consumer: one protocol per assignor,
    /// each with the subscription (and, for cooperative assignors, the
    /// partitions owned now).
    fn join_request(&self) -> Result<JoinGroupRequest> {
        let Some(m) = self.membership.as_ref() else {
            return Err(Error::Closed);
        };
        let owned = self.assignment();
        let mut protocols = Vec::with_capacity(m.assignors.len());
        for assignor in &m.assignors {
            let subscription = ConsumerSubscription {
                topics: m.topics.iter().cloned().collect(),
                user_data: assignor.subscription_user_data(&owned, m.generation)?,
                owned_partitions: owned.clone(),
                generation_id: m.generation,
                rack_id: None,
            };
            protocols.push((
                assignor.name().to_string(),
                subscription.encode(CONSUMER_PROTOCOL_VERSION)?,
            ));
        }
        let timeout = i32::try_from(self.config.max_poll_interval.as_millis()).unwrap_or(i32::MAX);
        Ok(JoinGroupRequest {
            group_id: m.group.clone(),
            member_id: m.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            client_id: self.config.client_id.clone(),
            client_host: "localhost".to_string(),
            session_timeout_ms: timeout,
            rebalance_timeout_ms: timeout,
            protocol_type: CONSUMER_PROTOCOL_TYPE.to_string(),
            protocols,
        })
    }

    /// As the generation's leader: the assignment of every member, by the
    /// chosen assignor, encoded.
    fn lead(&self, response: &JoinGroupResponse) -> Result<Vec<(String, Vec<u8>)>> {
        let name = response.protocol_name.as_deref().unwrap_or_default();
        let assignor = assignor_by_name(name).ok_or_else(|| {
            Error::group(
                &self
                    .membership
                    .as_ref()
                    .map(|m| m.group.clone())
                    .unwrap_or_default(),
                GroupErrorKind::InconsistentGroupProtocol,
            )
        })?;
        let mut subscriptions = BTreeMap::new();
        let mut topics = BTreeSet::new();
        for member in &response.members {
            let subscription = ConsumerSubscription::decode(&member.metadata)?;
            topics.extend(subscription.topics.iter().cloned());
            subscriptions.insert(
                member.member_id.clone(),
                MemberSubscription::from_subscription(
                    subscription,
                    member.group_instance_id.clone(),
                ),
            );
        }
        let partitions_per_topic = self.store.inner.partition_counts(&topics);
        let assigned = assignor.assign(&partitions_per_topic, &subscriptions);
        let mut out = Vec::with_capacity(subscriptions.len());
        for member_id in subscriptions.keys() {
            let partitions = assigned.get(member_id).cloned().unwrap_or_default();
            let assignment = ConsumerAssignment {
                partitions,
                user_data: None,
            };
            out.push((
                member_id.clone(),
                assignment.encode(CONSUMER_PROTOCOL_VERSION)?,
            ));
        }
        Ok(out)
    }
}

impl Drop for Consumer {
    /// A subscribed consumer leaves its group (unless it is a static member,
    /// which keeps its place until its session ends), so that its partitions go
    /// to the others at once; nothing is committed and the listener is not
    /// called (the records last returned may not have been processed).
    fn drop(&mut self) {
        let _ = self.leave_group_with(true);
    }
}

impl super::StoreInner {
    /// The partition counts of those of `topics` that exist.
    pub(crate) fn partition_counts(&self, topics: &BTreeSet<String>) -> BTreeMap<String, u32> {
        topics
            .iter()
            .filter_map(|t| Some((t.clone(), self.topic(t).ok()?.partition_count())))
            .collect()
    }
}

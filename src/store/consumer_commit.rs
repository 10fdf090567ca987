//! A [`Consumer`]'s committed offsets: commits of its positions (by hand
//! or automatically) and reads of what its group committed.

use std::time::Instant;

use super::consumer::Consumer;
use super::TopicPartition;
use crate::error::{Error, GroupErrorKind, Result};
use crate::offsets::OffsetAndMetadata;

impl Consumer {
    /// Commits the positions of every assigned partition that has one:
    /// for each, the offset after the last record `poll` returned (or where
    /// a seek or reset put it). Durable when this returns, so a consumer of
    /// the same group that starts after a crash resumes from here
    /// (at-least-once: commit after processing what `poll` returned).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use seglog::{ConsumerConfig, LogStore, ProducerConfig, ProducerRecord, StoreConfig};
    /// let dir = tempfile::tempdir()?;
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("jobs", 1, &[])?;
    /// let producer = store.producer(ProducerConfig::default());
    /// for job in ["a", "b", "c"] {
    ///     producer.send_and_wait(ProducerRecord::new("jobs", job))?;
    /// }
    /// let config = ConsumerConfig {
    ///     group_id: Some("workers".into()),
    ///     enable_auto_commit: false,
    ///     auto_offset_reset: seglog::AutoOffsetReset::Earliest,
    ///     max_poll_records: 2,
    ///     ..ConsumerConfig::default()
    /// };
    /// let mut consumer = store.consumer(config.clone());
    /// consumer.assign(&[("jobs", 0)])?;
    /// let first = consumer.poll(Duration::from_secs(1))?;
    /// assert_eq!(first.len(), 2);
    /// consumer.commit_sync()?;
    /// drop(consumer);
    ///
    /// // A new consumer of the group resumes after the committed records.
    /// let mut consumer = store.consumer(config);
    /// consumer.assign(&[("jobs", 0)])?;
    /// let rest = consumer.poll(Duration::from_secs(1))?;
    /// assert_eq!(rest[0].value.as_deref(), Some(&b"c"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Group`] with [`GroupErrorKind::InvalidGroupId`] without a
    /// [`group_id`](crate::ConsumerConfig::group_id); as
    /// [`LogStore::commit_offsets`](crate::LogStore::commit_offsets).
    /// Nothing is committed on an error.
    pub fn commit_sync(&mut self) -> Result<()> {
        let positions: Vec<(TopicPartition, OffsetAndMetadata)> = self
            .assigned
            .iter()
            .filter_map(|a| Some((a.tp.clone(), OffsetAndMetadata::new(a.position.get()?))))
            .collect();
        self.commit_offsets(&positions)
    }

    /// Commits the given offsets for the consumer's group: each the next
    /// offset to consume from its partition.
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
    /// # use seglog::OffsetAndMetadata;
    /// let config = ConsumerConfig { group_id: Some("g".into()), ..Default::default() };
    /// let mut consumer = store.consumer(config.clone());
    /// consumer.assign(&[("events", 0)])?;
    /// consumer.commit_offsets(&[(TopicPartition::new("events", 0), OffsetAndMetadata::new(2))])?;
    ///
    /// // Another consumer of the group starts where the group left off.
    /// let mut next = store.consumer(config);
    /// next.assign(&[("events", 0)])?;
    /// assert_eq!(next.position(("events", 0))?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`commit_sync`](Self::commit_sync).
    pub fn commit_offsets(
        &mut self,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<()> {
        let group = self.group()?;
        match self.group_metadata() {
            Some((member_id, generation)) => {
                // A member commits only partitions it owns, in its
                // generation.
                let owned = self.assignment();
                if let Some((tp, _)) = offsets.iter().find(|(tp, _)| !owned.contains(tp)) {
                    let _ = tp;
                    return Err(Error::group(&group, GroupErrorKind::PartitionNotAssigned));
                }
                self.store.commit_member_offsets(
                    &group,
                    &member_id,
                    generation,
                    self.config.group_instance_id.as_deref(),
                    offsets,
                )?;
            }
            None if self.membership.is_some() => {
                // Subscribed but not (or no longer) a member.
                return Err(Error::group(&group, GroupErrorKind::RebalanceInProgress));
            }
            None => self.store.commit_offsets(&group, offsets)?,
        }
        self.last_auto_commit = Instant::now();
        Ok(())
    }

    /// The offsets the consumer's group has committed for `partitions`,
    /// in the same order (`None` where it has none).
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
    /// let tp = TopicPartition::new("events", 0);
    /// assert_eq!(consumer.committed(&[tp.clone()])?, [None]);
    ///
    /// consumer.assign(&[tp.clone()])?;
    /// consumer.seek(tp.clone(), 2)?;
    /// consumer.commit_sync()?;
    /// assert_eq!(consumer.committed(&[tp])?[0].as_ref().map(|c| c.offset), Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Group`] with [`GroupErrorKind::InvalidGroupId`] without a
    /// group id; [`Error::StoreClosed`].
    pub fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<Option<OffsetAndMetadata>>> {
        let group = self.group()?;
        self.store.committed_offsets(&group, partitions)
    }

    /// Closes the consumer: with auto-commit on, commits its positions
    /// first; a subscribed consumer then leaves its group (its partitions
    /// revoked through the listener), so the group rebalances without
    /// waiting for it to time out. Dropping a consumer leaves the group
    /// too, without committing. A static member (with a
    /// [`group_instance_id`](crate::ConsumerConfig::group_instance_id))
    /// does not leave: as in Kafka, it keeps its place for
    /// `max_poll_interval`, so that it comes back without a rebalance.
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
    /// consumer.assign(&[("events", 0)])?;
    /// consumer.seek_to_beginning()?;
    /// assert_eq!(consumer.poll(Duration::from_millis(100))?.len(), 3);
    /// consumer.close()?; // auto-commit is on: commits position 3
    ///
    /// let committed = store.committed_offsets("g", &[TopicPartition::new("events", 0)])?;
    /// assert_eq!(committed[0].as_ref().map(|c| c.offset), Some(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The auto-commit's error, or the leave's (the consumer is closed
    /// anyway).
    pub fn close(mut self) -> Result<()> {
        let committed = if self.auto_commits() {
            self.commit_sync()
        } else {
            Ok(())
        };
        let left = self.leave_group();
        committed.and(left)
    }

    /// Where a newly assigned partition starts: the group's committed
    /// offset, if any.
    pub(super) fn committed_position(&self, tp: &TopicPartition) -> Option<u64> {
        let group = self.config.group_id.as_deref()?;
        Some(self.store.inner.offsets.committed(group, tp)?.offset)
    }

    /// Commits the positions if auto-commit is on and its interval has
    /// passed since the last commit.
    pub(super) fn maybe_auto_commit(&mut self) -> Result<()> {
        if self.auto_commits()
            && self.last_auto_commit.elapsed() >= self.config.auto_commit_interval
        {
            self.auto_commit()?;
        }
        Ok(())
    }

    /// Auto-commit's commit of the positions. A subscribed consumer
    /// commits only as a member of its group's current generation; a
    /// refusal because it is not one (not joined yet, removed, fenced, the
    /// group completing a rebalance) is no error of the `poll`, whose
    /// membership maintenance rejoins, as Kafka's consumer only logs a
    /// failed auto-commit. The next interval tries again.
    pub(super) fn auto_commit(&mut self) -> Result<()> {
        if self.membership.is_none() {
            return self.commit_sync();
        }
        if self.group_metadata().is_none() {
            return Ok(());
        }
        match self.commit_sync() {
            Err(Error::Group {
                kind:
                    GroupErrorKind::UnknownMemberId
                    | GroupErrorKind::IllegalGeneration
                    | GroupErrorKind::RebalanceInProgress
                    | GroupErrorKind::FencedInstanceId,
                ..
            }) => Ok(()),
            other => other,
        }
    }

    pub(super) fn auto_commits(&self) -> bool {
        self.config.enable_auto_commit && self.config.group_id.is_some()
    }

    pub(super) fn group(&self) -> Result<String> {
        match self.config.group_id.as_deref() {
            Some(g) if !g.is_empty() => Ok(g.to_string()),
            other => Err(Error::group(
                other.unwrap_or_default(),
                GroupErrorKind::InvalidGroupId,
            )),
        }
    }
}

//! [`Consumer`]: pull-based reading of assigned partitions.
//!
//! A consumer reads the partitions it is assigned from its own positions,
//! as a Kafka consumer with manual assignment does: [`poll`](Consumer::poll)
//! returns the records after each position, in offset order per
//! partition, up to the high watermark, and blocks until records arrive
//! or its timeout passes (woken by appends, without busy-waiting). Where a
//! position has not been set, or has fallen out of the log (below the log
//! start after retention, or past the end after a truncation), the
//! [`AutoOffsetReset`] policy decides where to go.

use std::cell::Cell;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::consumer_config::{AutoOffsetReset, ConsumerConfig};
use super::consumer_fetch::{Fetched, Sink};
use super::consumer_group::Membership;
use super::follow;
use super::signal::deadline_after;
use super::{LogStore, TopicPartition};
use crate::error::{Error, Result};
use crate::log::PartitionLog;
use crate::record::{Header, TimestampType};

/// A record returned by [`Consumer::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: u32,
    /// The record's offset.
    pub offset: u64,
    /// Its timestamp (milliseconds since the Unix epoch).
    pub timestamp: i64,
    /// Whether that is the creation or the log-append time.
    pub timestamp_type: TimestampType,
    /// The key, or `None`.
    pub key: Option<Vec<u8>>,
    /// The value, or `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<Header>,
}

/// One assigned partition.
pub(super) struct Assigned {
    pub(super) tp: TopicPartition,
    pub(super) topic: Arc<str>,
    pub(super) log: PartitionLog,
    /// The offset of the next record to return; `None` until set by a
    /// seek, the group's committed offset or the reset policy (which
    /// [`Consumer::position`] may apply through a shared reference).
    pub(super) position: Cell<Option<u64>>,
    /// Paused by the application: `poll` returns none of its records.
    pub(super) paused: bool,
    /// Batches read but not all handed out yet, from `position` on.
    pub(super) fetched: Fetched,
}

/// Reads assigned partitions of a store: positions, seeks and a
/// blocking, pull-based `poll`, with the reset policy of
/// [`AutoOffsetReset`] for positions outside the log.
///
/// A consumer is used by one thread at a time (it is `Send`); give each
/// thread its own. Another thread can interrupt its `poll` through a
/// [`waker`](Consumer::waker).
pub struct Consumer {
    pub(super) store: LogStore,
    pub(super) config: ConsumerConfig,
    pub(super) assigned: Vec<Assigned>,
    /// Where the next poll starts, so that every partition gets its turn.
    pub(super) next: usize,
    /// An error met after records were collected: those records were
    /// returned, and the next poll reports it.
    pub(super) pending_error: Option<Error>,
    /// Whether the last fetch moved a position past offsets without
    /// records: more may be read at once.
    pub(super) stepped_over: bool,
    /// When auto-commit last committed (or the consumer was made).
    pub(super) last_auto_commit: Instant,
    /// The group membership of a subscribed consumer.
    pub(super) membership: Option<Membership>,
    /// Set by a [`ConsumerWaker`](super::ConsumerWaker): the next (or
    /// current) poll returns [`Error::Wakeup`].
    pub(super) woken: Arc<AtomicBool>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("config", &self.config)
            .field("assignment", &self.assignment())
            .finish()
    }
}

impl LogStore {
    /// A consumer of this store's topics, with nothing assigned yet.
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
    /// // Partition 0 of "events" holds "a", "b" and "c".
    /// let config = ConsumerConfig { auto_offset_reset: AutoOffsetReset::Earliest, ..Default::default() };
    /// let mut consumer = store.consumer(config);
    /// consumer.assign(&[("events", 0)])?;
    /// let records = consumer.poll(Duration::from_millis(100))?;
    /// assert_eq!(records.len(), 3);
    /// assert_eq!(records[0].value.as_deref(), Some(&b"a"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn consumer(&self, config: ConsumerConfig) -> Consumer {
        Consumer {
            store: self.clone(),
            config,
            assigned: Vec::new(),
            next: 0,
            pending_error: None,
            stepped_over: false,
            last_auto_commit: Instant::now(),
            membership: None,
            woken: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Consumer {
    /// Replaces the assignment with these partitions (`("topic", 0)` or
    /// [`TopicPartition`]s). Partitions that stay assigned keep their
    /// positions (and pauses); new ones start from the group's committed offset (with a
    /// [`group_id`](ConsumerConfig::group_id)), else as the reset policy
    /// says, unless sought. A committed offset outside the log (below its
    /// start after retention, past its end after a truncation) is handled
    /// by the reset policy, as in Kafka.
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
    /// let config = ConsumerConfig { auto_offset_reset: AutoOffsetReset::Earliest, ..Default::default() };
    /// let mut consumer = store.consumer(config);
    /// consumer.assign(&[("events", 1)])?;
    /// assert_eq!(consumer.assignment(), [TopicPartition::new("events", 1)]);
    /// // Partition 1 of "events" holds "d".
    /// assert_eq!(consumer.poll(Duration::from_millis(100))?[0].value.as_deref(), Some(&b"d"[..]));
    /// // "events" has 2 partitions.
    /// assert!(consumer.assign(&[("events", 2)]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::UnknownPartition`],
    /// [`Error::StoreClosed`]; [`Error::InvalidConfig`] for a consumer that
    /// subscribes to topics. The assignment is unchanged then.
    pub fn assign<T: Clone + Into<TopicPartition>>(&mut self, partitions: &[T]) -> Result<()> {
        if self.membership.is_some() {
            return Err(Error::config(
                "assignment",
                "the consumer subscribes to topics: unsubscribe before assigning partitions",
            ));
        }
        let partitions: Vec<TopicPartition> = partitions.iter().cloned().map(Into::into).collect();
        self.set_assignment(&partitions)
    }

    /// Replaces the assignment (the group's or the application's).
    pub(super) fn set_assignment(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        // Look every new partition up before changing anything.
        let mut wanted: Vec<(TopicPartition, Option<PartitionLog>)> = Vec::new();
        for tp in partitions {
            let tp = tp.clone();
            if wanted.iter().any(|(w, _)| *w == tp) {
                continue;
            }
            let log = if self.assigned.iter().any(|a| a.tp == tp) {
                None
            } else {
                Some(self.store.partition(&tp.topic, tp.partition)?)
            };
            wanted.push((tp, log));
        }
        let mut kept = std::mem::take(&mut self.assigned);
        for (tp, log) in wanted {
            let assigned = match log {
                Some(log) => Assigned {
                    topic: Arc::from(tp.topic.as_str()),
                    position: Cell::new(self.committed_position(&tp)),
                    paused: false,
                    tp,
                    log,
                    fetched: Fetched::default(),
                },
                None => match kept.iter().position(|a| a.tp == tp) {
                    Some(i) => kept.swap_remove(i),
                    None => continue,
                },
            };
            self.assigned.push(assigned);
        }
        self.next = 0;
        Ok(())
    }

    /// Assigns every partition of `topic`.
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
    /// let config = ConsumerConfig { auto_offset_reset: AutoOffsetReset::Earliest, ..Default::default() };
    /// let mut consumer = store.consumer(config);
    /// consumer.assign_topic("events")?;
    /// let all = [TopicPartition::new("events", 0), TopicPartition::new("events", 1)];
    /// assert_eq!(consumer.assignment(), all);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`assign`](Self::assign).
    pub fn assign_topic(&mut self, topic: &str) -> Result<()> {
        let partitions = self.store.inner.topic(topic)?.partition_count();
        let all: Vec<TopicPartition> = (0..partitions)
            .map(|p| TopicPartition::new(topic, p))
            .collect();
        self.assign(&all)
    }

    /// The assigned partitions.
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
    /// let mut consumer = store.consumer(ConsumerConfig::default());
    /// assert!(consumer.assignment().is_empty());
    /// let (p0, p1) = (TopicPartition::new("events", 0), TopicPartition::new("events", 1));
    /// consumer.assign(&[p1.clone(), p0.clone()])?;
    /// assert_eq!(consumer.assignment(), [p1, p0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.assigned.iter().map(|a| a.tp.clone()).collect()
    }

    /// Sets where the next `poll` reads `partition` from. An offset outside
    /// the log is handled by the reset policy at the next `poll`, as in
    /// Kafka.
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
    /// // Partition 0 of "events" holds "a", "b" and "c".
    /// let mut consumer = store.consumer(ConsumerConfig::default());
    /// consumer.assign(&[("events", 0)])?;
    /// consumer.seek(("events", 0), 2)?;
    /// let records = consumer.poll(Duration::from_millis(100))?;
    /// assert_eq!((records[0].offset, records[0].value.as_deref()), (2, Some(&b"c"[..])));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotAssigned`] if it is not assigned.
    pub fn seek(&mut self, partition: impl Into<TopicPartition>, offset: u64) -> Result<()> {
        let a = self.find(&partition.into())?;
        a.position.set(Some(offset));
        a.fetched.clear();
        Ok(())
    }

    /// Moves every assigned partition to its log start offset.
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
    /// // Reset to the latest offset: only new records, by default.
    /// let mut consumer = store.consumer(ConsumerConfig::default());
    /// consumer.assign(&[("events", 0)])?;
    /// consumer.seek_to_beginning()?;
    /// // Partition 0 of "events" holds 3 records.
    /// assert_eq!(consumer.poll(Duration::from_millis(100))?.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::StoreClosed`].
    pub fn seek_to_beginning(&mut self) -> Result<()> {
        self.seek_all(|log| Ok(log.log_start_offset()))
    }

    /// Moves every assigned partition to its log end offset (the high
    /// watermark): only records appended later are returned.
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
    /// let config = ConsumerConfig { auto_offset_reset: AutoOffsetReset::Earliest, ..Default::default() };
    /// let mut consumer = store.consumer(config);
    /// consumer.assign(&[("events", 0)])?;
    /// consumer.seek_to_end()?;
    /// // Partition 0 of "events" holds 3 records: none after them yet.
    /// assert_eq!(consumer.position(("events", 0))?, 3);
    /// assert!(consumer.poll(Duration::from_millis(100))?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::StoreClosed`].
    pub fn seek_to_end(&mut self) -> Result<()> {
        self.seek_all(|log| Ok(log.high_watermark()))
    }

    /// Moves every assigned partition to the first record whose timestamp
    /// is at or after `timestamp`, or to its end if there is none.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use seglog::{ConsumerConfig, LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("events", 1, &[])?;
    /// let producer = store.producer(Default::default());
    /// for (timestamp, value) in [(1_000, "a"), (2_000, "b"), (3_000, "c")] {
    ///     producer.send_and_wait(ProducerRecord::new("events", value).with_timestamp(timestamp))?;
    /// }
    /// let mut consumer = store.consumer(ConsumerConfig::default());
    /// consumer.assign(&[("events", 0)])?;
    /// consumer.seek_to_timestamp(1_500)?;
    /// assert_eq!(consumer.poll(Duration::from_millis(100))?[0].value.as_deref(), Some(&b"b"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Corrupt`] if a time index cannot be read;
    /// [`Error::StoreClosed`].
    pub fn seek_to_timestamp(&mut self, timestamp: i64) -> Result<()> {
        self.seek_all(|log| {
            Ok(log
                .offset_for_timestamp(timestamp)?
                .map_or_else(|| log.high_watermark(), |found| found.offset))
        })
    }

    /// The offset of the next record `poll` returns for `partition`
    /// (Kafka's `position`). Where the partition has no valid position
    /// yet (none set, or one outside the log), the reset policy gives it
    /// one now, and the position stays there, as Kafka's `position`
    /// does: a consumer resetting to the latest offset that asks for its
    /// position before records are appended gets those records at its
    /// next poll. Records already fetched are returned first, so their
    /// position stands even if retention has deleted them from the log
    /// since.
    ///
    /// Takes `&self`: setting a missing position is the lookup's own
    /// business, as it is in Kafka.
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
    /// let config = ConsumerConfig { auto_offset_reset: AutoOffsetReset::Earliest, ..Default::default() };
    /// let mut consumer = store.consumer(config);
    /// consumer.assign(&[("events", 0)])?;
    /// assert_eq!(consumer.position(("events", 0))?, 0);
    /// // Partition 0 of "events" holds 3 records.
    /// consumer.poll(Duration::from_millis(100))?;
    /// assert_eq!(consumer.position(("events", 0))?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotAssigned`] if it is not assigned;
    /// [`Error::OffsetOutOfRange`] under [`AutoOffsetReset::Error`].
    pub fn position(&self, partition: impl Into<TopicPartition>) -> Result<u64> {
        let tp = partition.into();
        let a = self
            .assigned
            .iter()
            .find(|a| a.tp == tp)
            .ok_or_else(|| not_assigned(&tp))?;
        resolve(a, self.config.auto_offset_reset)
    }

    /// Returns the records after the assigned partitions' positions, in
    /// offset order per partition, and moves the positions past them: at
    /// most `max_poll_records` records and about `fetch_max_bytes` bytes.
    /// If none are available, waits until some are appended or `timeout`
    /// passes (an empty result). Offsets without records (the empty
    /// batches and removed records of a compacted log, control batches)
    /// are read past without waiting, for as long as the timeout allows.
    /// Partitions take turns, so none starves.
    ///
    /// Paused partitions ([`pause`](Self::pause)) are passed over.
    ///
    /// With auto-commit on, a poll first commits the positions of what
    /// earlier polls returned, once every auto-commit interval.
    ///
    /// A [`ConsumerWaker`](super::ConsumerWaker) (from
    /// [`waker`](Self::waker)) on another thread makes a waiting poll
    /// return [`Error::Wakeup`] at once, as Kafka's `wakeup()` makes its
    /// poll throw; a wakeup that comes while no poll runs is answered by
    /// the next one, at once (before an auto-commit). A poll that has
    /// records returns them, and leaves the wakeup to the next. A rejoin
    /// in progress (below) is finished first.
    ///
    /// A subscribed consumer's poll first keeps its group membership: it
    /// heartbeats, and when the group rebalances it rejoins there and then.
    /// A rejoin waits until every member has rejoined (at most the longest
    /// `max_poll_interval` of the members), so such a poll can take longer
    /// than its timeout: give each consumer its own thread.
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
    /// let config = ConsumerConfig { auto_offset_reset: AutoOffsetReset::Earliest, ..Default::default() };
    /// let mut consumer = store.consumer(config);
    /// consumer.assign(&[("events", 0)])?;
    /// let records = consumer.poll(Duration::from_millis(100))?;
    /// let values: Vec<_> = records.iter().map(|r| r.value.as_deref()).collect();
    /// assert_eq!(values, [Some(&b"a"[..]), Some(&b"b"[..]), Some(&b"c"[..])]);
    /// // Nothing more yet: this poll waits out its timeout.
    /// assert!(consumer.poll(Duration::from_millis(100))?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Wakeup`] after a wakeup (nothing was consumed);
    /// [`Error::OffsetOutOfRange`] for a position outside its log under
    /// [`AutoOffsetReset::Error`]; an auto-commit's error (as
    /// [`commit_sync`](Self::commit_sync)); [`Error::UnknownTopic`] if an assigned
    /// topic was deleted; [`Error::Corrupt`] or [`Error::Io`] from a read;
    /// [`Error::StoreClosed`] once the store is closed.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let mut records = Vec::new();
        self.poll_into(timeout, &mut records)
            .map_err(|e| self.store.inner.closed_as_store(e))?;
        Ok(records)
    }

    /// [`poll`](Self::poll) into `out`, whose closed logs and coordinator
    /// may be a closed store's.
    pub(super) fn poll_into<S: Sink>(&mut self, timeout: Duration, out: &mut S) -> Result<()> {
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        self.take_wakeup()?;
        self.maybe_auto_commit()?;
        let deadline = deadline_after(timeout);
        loop {
            self.store.inner.check_open()?;
            self.take_wakeup()?;
            let seen = self.store.inner.signal.generation();
            self.maintain_membership()?;
            self.fetch(out)?;
            if out.count() > 0 {
                return Ok(());
            }
            if self.stepped_over && Instant::now() < deadline {
                // Only offsets without records were read, up to a fetch
                // limit: there may be records after them already.
                continue;
            }
            if self.store.inner.read_only {
                // Appends of another process signal nothing here: look at
                // the files, now and then every refresh interval.
                let changed = self.refresh_assigned()?;
                let now = Instant::now();
                if changed && now < deadline {
                    continue;
                }
                if now >= deadline {
                    self.store.inner.check_open()?;
                    if changed {
                        self.fetch(out)?;
                    }
                    return Ok(());
                }
                let wake = now
                    .checked_add(self.store.inner.refresh_interval)
                    .map_or(deadline, |t| t.min(deadline));
                self.wait(seen, wake);
                continue;
            }
            // A subscribed consumer wakes to heartbeat in time.
            let wake = match &self.membership {
                Some(_) => deadline.min(Instant::now() + self.heartbeat_interval()),
                None => deadline,
            };
            if !self.wait(seen, wake) && wake >= deadline {
                self.store.inner.check_open()?;
                self.take_wakeup()?;
                return Ok(());
            }
        }
    }

    /// On a read-only store: reads the topics again and refreshes every
    /// assigned partition's log. Returns whether anything changed; a
    /// partition's error (damage its writer moved past, say) is returned
    /// only when nothing changed, so the others' records still come.
    fn refresh_assigned(&mut self) -> Result<bool> {
        let mut changed = self.store.inner.refresh_topics()?;
        let mut first = None;
        for a in &self.assigned {
            match follow::refresh_log(&a.log) {
                Ok(moved) => changed |= moved,
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        match first {
            Some(e) if !changed => Err(e),
            _ => Ok(changed),
        }
    }

    pub(super) fn find(&mut self, tp: &TopicPartition) -> Result<&mut Assigned> {
        self.assigned
            .iter_mut()
            .find(|a| a.tp == *tp)
            .ok_or_else(|| not_assigned(tp))
    }

    fn seek_all(&mut self, to: impl Fn(&PartitionLog) -> Result<u64>) -> Result<()> {
        self.store.inner.check_open()?;
        for a in &mut self.assigned {
            a.position.set(Some(to(&a.log)?));
            a.fetched.clear();
        }
        Ok(())
    }

    /// After a read of partition `i` failed with `e`: if its log was
    /// closed because the topic was deleted (or deleted and created
    /// again), says so or picks up the new log. On a read-only store, a
    /// refresh that changes the partition's view clears the way for one
    /// more try. Anything else is `e`.
    pub(super) fn refresh_after(&mut self, i: usize, e: Error) -> Result<()> {
        if !matches!(e, Error::Closed) {
            // A read-only store's view may be behind its writer (a segment
            // deleted, a log cut back): look at the files once more.
            if self.store.inner.read_only {
                let log = &self.assigned[i].log;
                if follow::refresh_log(log)? {
                    return Ok(());
                }
            }
            return Err(e);
        }
        self.store.inner.check_open()?;
        let a = &mut self.assigned[i];
        a.log = self.store.partition(&a.tp.topic, a.tp.partition)?;
        a.position.set(None);
        a.fetched.clear();
        Ok(())
    }
}

/// [`Error::NotAssigned`] for a partition the consumer is not assigned.
pub(super) fn not_assigned(tp: &TopicPartition) -> Error {
    Error::NotAssigned {
        topic: tp.topic.clone(),
        partition: tp.partition,
    }
}

/// The partition's position, set by the reset policy if it has none or it
/// lies outside the log (records already fetched from it stand: `poll`
/// returns them first).
pub(super) fn resolve(a: &Assigned, reset: AutoOffsetReset) -> Result<u64> {
    let (start, end) = (a.log.log_start_offset(), a.log.log_end_offset());
    match a.position.get() {
        Some(p) if (start..=end).contains(&p) || !a.fetched.is_empty() => return Ok(p),
        _ => {}
    }
    let p = match reset {
        AutoOffsetReset::Earliest => start,
        // The latest offset a consumer is given is the high watermark
        // (Kafka's ListOffsets for consumers), not the log end.
        AutoOffsetReset::Latest => a.log.high_watermark(),
        AutoOffsetReset::Error => {
            return Err(Error::OffsetOutOfRange {
                requested: a.position.get().unwrap_or(end),
                earliest: start,
                latest: end,
            })
        }
    };
    // Nothing was fetched from a position being reset.
    a.position.set(Some(p));
    Ok(p)
}

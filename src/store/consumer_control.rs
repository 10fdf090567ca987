//! Controlling a [`Consumer`] beside its `poll`: waking a blocked poll
//! from another thread ([`ConsumerWaker`]), pausing and resuming
//! partitions, and looking up positions and end offsets (Kafka's
//! `wakeup`, `pause`, `resume`, `paused`, `position` and `endOffsets`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::consumer::{not_assigned, resolve, Consumer};
use super::follow;
use super::signal::AppendSignal;
use super::TopicPartition;
use crate::error::{Error, Result};

/// Interrupts a [`Consumer`]'s [`poll`](Consumer::poll) from another
/// thread, as Kafka's `KafkaConsumer.wakeup()` does: the poll returns
/// [`Error::Wakeup`] at once, without closing anything. Get one with
/// [`Consumer::waker`]; it is cheap to clone and `Send + Sync`.
///
/// A wakeup while no poll is running makes the next poll return
/// [`Error::Wakeup`] at once, once; later polls wait as usual. Wakeups
/// before a poll do not add up: one `Error::Wakeup` answers them all.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use seglog::store::{LogStore, StoreConfig};
/// use seglog::Error;
///
/// let dir = tempfile::tempdir()?;
/// let store = LogStore::open(dir.path(), StoreConfig::default())?;
/// store.create_topic("events", 1, &[])?;
/// let mut consumer = store.consumer(Default::default());
/// consumer.assign(&[("events", 0)])?;
///
/// // Another thread (a shutdown hook, say) stops the poll loop.
/// let waker = consumer.waker();
/// let stopper = std::thread::spawn(move || waker.wakeup());
/// loop {
///     match consumer.poll(Duration::from_secs(60)) {
///         Ok(_records) => { /* process them */ }
///         Err(Error::Wakeup) => break,
///         Err(e) => return Err(e.into()),
///     }
/// }
/// stopper.join().unwrap();
/// consumer.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConsumerWaker {
    woken: Arc<AtomicBool>,
    signal: Arc<AppendSignal>,
}

impl ConsumerWaker {
    /// Makes the consumer's poll in progress return [`Error::Wakeup`], or
    /// its next one if none is running. Other consumers of the store are
    /// not disturbed.
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
    /// use seglog::Error;
    ///
    /// let mut consumer = store.consumer(ConsumerConfig::default());
    /// consumer.assign(&[("events", 0)])?;
    /// let waker = consumer.waker();
    /// let stopper = std::thread::spawn(move || waker.wakeup());
    /// // Waits up to a minute for new records, unless woken.
    /// assert!(matches!(consumer.poll(Duration::from_secs(60)), Err(Error::Wakeup)));
    /// stopper.join().expect("the waking thread panicked");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wakeup(&self) {
        self.woken.store(true, Ordering::SeqCst);
        self.signal.interrupt();
    }
}

impl Consumer {
    /// A handle that interrupts this consumer's [`poll`](Self::poll) from
    /// another thread (see [`ConsumerWaker`]). Every handle wakes the same
    /// consumer.
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
    /// use seglog::Error;
    ///
    /// let mut consumer = store.consumer(ConsumerConfig::default());
    /// consumer.assign(&[("events", 0)])?;
    /// consumer.waker().wakeup();
    /// // Woken before it polls: the poll returns at once, and the next one waits.
    /// assert!(matches!(consumer.poll(Duration::from_secs(60)), Err(Error::Wakeup)));
    /// assert!(consumer.poll(Duration::from_millis(100))?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn waker(&self) -> ConsumerWaker {
        ConsumerWaker {
            woken: self.woken.clone(),
            signal: self.store.inner.signal.clone(),
        }
    }

    /// [`Error::Wakeup`] if a [`ConsumerWaker`] woke this consumer since
    /// the last time it was told; the wakeup is used up.
    pub(super) fn take_wakeup(&self) -> Result<()> {
        if self.woken.swap(false, Ordering::SeqCst) {
            Err(Error::Wakeup)
        } else {
            Ok(())
        }
    }

    /// Sleeps until records are appended to the store after generation
    /// `seen`, `until` passes, or a wakeup comes. Returns whether records
    /// came.
    pub(super) fn wait(&self, seen: u64, until: Instant) -> bool {
        self.store
            .inner
            .signal
            .wait_past_unless(seen, until, Some(&self.woken))
    }

    /// Stops returning records of these assigned partitions from
    /// [`poll`](Self::poll) until they are [`resume`](Self::resume)d
    /// (Kafka's `pause`): their positions stay where they are, and so do
    /// records already fetched from them. A poll of a consumer whose
    /// partitions are all paused waits out its timeout (a subscribed
    /// consumer keeps its group membership meanwhile). Pausing a paused
    /// partition does nothing.
    ///
    /// Pauses belong to the assignment: a partition that stays assigned
    /// when [`assign`](Self::assign) changes the assignment, or across a
    /// cooperative rebalance, stays paused; one that is revoked (every
    /// partition, in a rebalance of the eager protocol) loses its pause,
    /// and comes back, if it does, unpaused, as in Kafka.
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
    /// consumer.assign(&[("events", 0), ("events", 1)])?;
    /// consumer.pause(&[("events", 0)])?;
    /// let records = consumer.poll(Duration::from_millis(100))?;
    /// // Only partition 1's record, "d".
    /// assert_eq!(records.len(), 1);
    /// assert_eq!(records[0].partition, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotAssigned`] if one of them is not assigned; then
    /// none is paused.
    pub fn pause<T: Clone + Into<TopicPartition>>(&mut self, partitions: &[T]) -> Result<()> {
        self.set_paused(partitions, true)
    }

    /// Returns records of these paused partitions from
    /// [`poll`](Self::poll) again, from their positions (Kafka's
    /// `resume`). Resuming a partition that is not paused does nothing.
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
    /// consumer.pause(&[("events", 0)])?;
    /// assert!(consumer.poll(Duration::from_millis(100))?.is_empty());
    /// consumer.resume(&[("events", 0)])?;
    /// // Partition 0 of "events" holds 3 records.
    /// assert_eq!(consumer.poll(Duration::from_millis(100))?.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotAssigned`] if one of them is not assigned; then
    /// none is resumed.
    pub fn resume<T: Clone + Into<TopicPartition>>(&mut self, partitions: &[T]) -> Result<()> {
        self.set_paused(partitions, false)
    }

    /// The paused partitions, in the order of
    /// [`assignment`](Self::assignment) (Kafka's `paused`).
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
    /// consumer.assign(&[("events", 0), ("events", 1)])?;
    /// consumer.pause(&[("events", 1)])?;
    /// assert_eq!(consumer.paused(), [TopicPartition::new("events", 1)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.assigned
            .iter()
            .filter(|a| a.paused)
            .map(|a| a.tp.clone())
            .collect()
    }

    fn set_paused<T: Clone + Into<TopicPartition>>(
        &mut self,
        partitions: &[T],
        paused: bool,
    ) -> Result<()> {
        let partitions: Vec<TopicPartition> = partitions.iter().cloned().map(Into::into).collect();
        if let Some(tp) = partitions
            .iter()
            .find(|tp| !self.assigned.iter().any(|a| a.tp == **tp))
        {
            return Err(not_assigned(tp));
        }
        for tp in &partitions {
            self.find(tp)?.paused = paused;
        }
        Ok(())
    }

    /// Every assigned partition with its [`position`](Self::position), in
    /// the order of [`assignment`](Self::assignment); paused partitions
    /// included. A partition without a valid position gets one from the
    /// reset policy, as `position` gives it.
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
    /// let (p0, p1) = (TopicPartition::new("events", 0), TopicPartition::new("events", 1));
    /// consumer.assign(&[p0.clone(), p1.clone()])?;
    /// consumer.seek(p0.clone(), 2)?;
    /// assert_eq!(consumer.positions()?, [(p0, 2), (p1, 0)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] under
    /// [`AutoOffsetReset::Error`](super::AutoOffsetReset::Error) for a
    /// partition without a valid position (those before it have theirs).
    pub fn positions(&self) -> Result<Vec<(TopicPartition, u64)>> {
        let reset = self.config.auto_offset_reset;
        self.assigned
            .iter()
            .map(|a| Ok((a.tp.clone(), resolve(a, reset)?)))
            .collect()
    }

    /// The log end offsets (high watermarks: the offset the next record
    /// appended gets) of these partitions, in the same order, whether
    /// assigned to this consumer or not (Kafka's `endOffsets`). A
    /// consumer's lag on a partition is its end offset less its
    /// [`position`](Self::position). On a read-only store the partitions
    /// are looked at anew first, so the offsets are the writer's latest.
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
    /// // Partition 0 of "events" holds 3 records, partition 1 one.
    /// assert_eq!(consumer.end_offsets(&[("events", 0), ("events", 1)])?, [3, 1]);
    ///
    /// consumer.assign(&[("events", 0)])?;
    /// consumer.seek(("events", 0), 1)?;
    /// let lag = consumer.end_offsets(&[("events", 0)])?[0] - consumer.position(("events", 0))?;
    /// assert_eq!(lag, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::UnknownPartition`],
    /// [`Error::StoreClosed`]; on a read-only store, [`Error::Io`] or
    /// [`Error::Corrupt`] from reading the writer's files.
    pub fn end_offsets<T: Clone + Into<TopicPartition>>(
        &self,
        partitions: &[T],
    ) -> Result<Vec<u64>> {
        let inner = &self.store.inner;
        if inner.read_only {
            inner.refresh_topics()?;
        }
        partitions
            .iter()
            .cloned()
            .map(|tp| {
                let tp: TopicPartition = tp.into();
                let log = self.store.partition(&tp.topic, tp.partition)?;
                if inner.read_only {
                    follow::refresh_log(&log)?;
                }
                Ok(log.high_watermark())
            })
            .collect::<Result<Vec<u64>>>()
            .map_err(|e| inner.closed_as_store(e))
    }
}

//! [`Producer`]: records to topics, batched per partition.
//!
//! `send` picks the partition (the record's own, else the partitioner's)
//! and adds the record to that partition's open batch (see the
//! `accumulator` module). A batch is appended to the log, as one Kafka
//! record batch, when it is full ([`ProducerConfig::batch_size`] bytes or
//! [`ProducerConfig::max_batch_records`] records: the `send` that fills it
//! appends it), when its first record has waited
//! [`ProducerConfig::linger`] (the producer's sender thread appends it,
//! see the `sender` module), when a [`Delivery`] of it is waited for, or
//! on [`Producer::flush`]. Records of one partition are appended in the
//! order they were sent. The [`Producer`] docs say what this means for
//! the application.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};

use super::accumulator::{BatchResult, ClosedBy, OpenBatch, Slot};
use super::sender::{self, Sender};
use super::{LogStore, Topic};
use crate::config::Durability;
use crate::error::{Error, Result};
use crate::record::{record_size_bound, Header, Record, BATCH_HEADER_LEN};
use crate::replication::Acks;
use crate::segment::{lock, read_lock, write_lock};
use crate::topic::{is_internal_topic, DefaultPartitioner, Partitioner};

/// How a [`Producer`] batches and partitions.
#[derive(Clone)]
pub struct ProducerConfig {
    /// A partition's batch is appended once its records take this many
    /// bytes (Kafka's `batch.size`). Default 16 KiB.
    pub batch_size: usize,
    /// ... or once it holds this many records. Default 1,000.
    pub max_batch_records: usize,
    /// How long a batch waits for more records, from its first one,
    /// before the producer's sender thread appends it (Kafka's
    /// `linger.ms`). Default 5 ms, Kafka's default. Longer makes fuller
    /// batches of records that come slowly (fewer, larger appends), at the
    /// cost of their latency. Whatever the linger, the sender thread
    /// appends a partition's batches at most once a millisecond: with a
    /// linger of zero, a record sent after a quiet millisecond is appended
    /// at once, while records sent back to back fill their batches instead
    /// of going one small append at a time, and wait at most 1 ms. A full
    /// batch is appended at once by the `send` that fills it, and so is a
    /// batch whose delivery is waited for or whose producer is flushed.
    pub linger: Duration,
    /// How durable each appended batch is; `None` (the default) uses the
    /// topic's [`LogConfig::durability`](crate::LogConfig::durability).
    pub durability: Option<Durability>,
    /// How many replicas must have a batch before its deliveries complete
    /// (Kafka's `acks`), for partitions the store replicates
    /// ([`LogStore::replicate`](crate::LogStore::replicate)), which the
    /// producer appends to as their leader: [`Acks::All`] (the default, as
    /// Kafka's since 3.0) waits until the high watermark passes the batch,
    /// up to [`request_timeout`](Self::request_timeout); a partition's
    /// next batch is appended after that wait. A partition that is not
    /// replicated has only its log to wait for, whatever the setting.
    pub acks: Acks,
    /// How long an [`Acks::All`] batch waits for its replicas (Kafka's
    /// `request.timeout.ms`). Default 30 s. Its deliveries then fail with
    /// [`Error::ReplicationTimeout`] (the records stay in the log).
    pub request_timeout: Duration,
    /// Picks the partition of records that do not name one. Default
    /// [`DefaultPartitioner`] (murmur2 for keys, sticky for keyless
    /// records).
    pub partitioner: Arc<dyn Partitioner>,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            batch_size: 16 * 1024,
            max_batch_records: 1_000,
            linger: Duration::from_millis(5),
            durability: None,
            acks: Acks::All,
            request_timeout: Duration::from_secs(30),
            partitioner: Arc::new(DefaultPartitioner::new()),
        }
    }
}

impl fmt::Debug for ProducerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerConfig")
            .field("batch_size", &self.batch_size)
            .field("max_batch_records", &self.max_batch_records)
            .field("linger", &self.linger)
            .field("durability", &self.durability)
            .field("acks", &self.acks)
            .field("request_timeout", &self.request_timeout)
            .field("partitioner", &self.partitioner)
            .finish()
    }
}

/// A record to send: a topic, optionally a partition, and the record.
///
/// # Examples
///
/// ```
/// use seglog::store::ProducerRecord;
/// let record = ProducerRecord::new("orders", "shipped")
///     .with_key("order-17")
///     .with_header("trace-id", "abc123")
///     .with_timestamp(1_700_000_000_000);
/// assert_eq!(record.record.key.as_deref(), Some(&b"order-17"[..]));
/// assert_eq!(record.partition, None); // the partitioner chooses
/// let delete = ProducerRecord::tombstone("orders", "order-17").with_partition(2);
/// assert!(delete.record.value.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// The topic.
    pub topic: String,
    /// The partition; `None` lets the partitioner choose.
    pub partition: Option<u32>,
    /// Key, value, headers and timestamp (`None`: the time of `send`).
    pub record: Record,
}

impl ProducerRecord {
    /// A keyless record with a value.
    pub fn new(topic: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            record: Record::new(value),
        }
    }

    /// A tombstone (a key with a null value).
    pub fn tombstone(topic: impl Into<String>, key: impl Into<Vec<u8>>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            record: Record::tombstone(key),
        }
    }

    /// Sets the key (routes the record by `murmur2(key)`).
    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.record.key = Some(key.into());
        self
    }

    /// Sends the record to this partition.
    pub fn with_partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.record.headers.push(Header::new(key, value));
        self
    }

    /// Sets the timestamp (milliseconds since the Unix epoch).
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.record.timestamp = Some(timestamp);
        self
    }
}

/// Where a sent record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The partition.
    pub partition: u32,
    /// The record's offset in it.
    pub offset: u64,
    /// Its timestamp: the one it was sent with (or the time of `send`), or
    /// the append time for a topic with log-append time.
    pub timestamp: i64,
}

/// A sent record whose append may still be pending. [`wait`](Self::wait)
/// appends its batch if nobody has yet, and returns where it landed.
///
/// It need not be kept: dropping it does not cancel the send. The record
/// is appended within [`ProducerConfig::linger`] all the same, and an
/// error appending it then reaches [`Producer::flush`].
pub struct Delivery {
    partition: u32,
    index: u32,
    timestamp: i64,
    batch: Arc<BatchResult>,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("partition", &self.partition)
            .field("done", &self.batch.is_done())
            .finish()
    }
}

impl Delivery {
    /// The partition the record was sent to.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::store::{LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("orders", 3, &[])?;
    /// let producer = store.producer(Default::default());
    /// let record = ProducerRecord::new("orders", "paid").with_partition(2);
    /// assert_eq!(producer.send(record)?.partition(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// Appends the record's batch now if it is still open (without
    /// waiting for its linger), or waits for the append in progress, and
    /// returns where the record landed.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::store::{LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("orders", 3, &[])?;
    /// let producer = store.producer(Default::default());
    /// let first = producer.send(ProducerRecord::new("orders", "a").with_partition(0))?;
    /// let second = producer.send(ProducerRecord::new("orders", "b").with_partition(0))?;
    /// assert_eq!(first.wait()?.offset, 0);
    /// assert_eq!(second.wait()?.offset, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The error of the batch's append (every record of the batch gets
    /// it): [`Error::Io`], [`Error::Poisoned`], [`Error::StoreClosed`] or
    /// [`Error::Closed`].
    pub fn wait(self) -> Result<RecordMetadata> {
        self.batch.close_early();
        let done = self.batch.wait()?;
        Ok(RecordMetadata {
            partition: self.partition,
            offset: done.first_offset + u64::from(self.index),
            timestamp: done.log_append_time.unwrap_or(self.timestamp),
        })
    }
}

/// Sends records to a store's topics. `Send + Sync`: share one between
/// threads.
///
/// [`send`](Self::send) adds a record to its partition's open batch; the
/// batch is appended to the partition's log, as one Kafka record batch,
/// as soon as one of these happens:
///
/// * it is full: [`ProducerConfig::batch_size`] bytes or
///   [`ProducerConfig::max_batch_records`] records (the `send` that fills
///   it appends it);
/// * its first record has waited [`ProducerConfig::linger`] (Kafka's
///   `linger.ms`, 5 ms by default): the producer's sender thread appends
///   it, with no call from the application;
/// * a [`Delivery`] of it is waited for, or the producer is
///   [flushed](Self::flush).
///
/// So a sent record reaches consumers within about `linger` (1 ms at
/// most for a shorter linger, see below) even if nobody waits for it, and
/// `send` need not be followed by anything:
///
/// ```
/// # use seglog::store::{LogStore, ProducerRecord, StoreConfig};
/// # let dir = tempfile::tempdir()?;
/// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
/// # store.create_topic("events", 1, &[])?;
/// let producer = store.producer(Default::default());
/// producer.send(ProducerRecord::new("events", "fire and forget"))?;
/// // Appended within 5 ms; `flush` makes sure now, and reports errors.
/// producer.flush()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The sender thread appends whatever a partition has gathered when its
/// batch comes due, and a partition's batches at most once a
/// millisecond: even with a linger of zero, a producer sending as fast as
/// it can fills its batches rather than appending records one at a time.
///
/// Records of one partition are appended in the order they were sent
/// (from several threads: in the order their sends took the partition's
/// batch). An append's error reaches every [`Delivery`] of its batch; one
/// met by the sender thread is also returned by the next `flush`.
///
/// The sender thread starts with the first `send` and stops when the
/// producer is dropped or its store is closed, appending every open batch
/// before it ends: closing the store appends what was sent before. It
/// holds no handle of the store, so it keeps no store open. Dropping the
/// producer also flushes it, on a best-effort basis; call
/// [`flush`](Self::flush) to see errors.
pub struct Producer {
    store: LogStore,
    pub(super) shared: Arc<Shared>,
    /// The topics sent to, as last looked up.
    routes: RwLock<BTreeMap<String, Arc<Route>>>,
}

/// A topic as a producer looked it up, kept while the store's topics do
/// not change, so that a `send` need not look it up again.
struct Route {
    topic: Arc<Topic>,
    /// The store's topics version it was looked up at.
    version: u64,
    /// The open batches of its partitions then, one per partition, as
    /// they are used (taken from the producer's batches, which own them).
    slots: Vec<OnceLock<Arc<Slot>>>,
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// What a producer shares with its sender thread.
pub(super) struct Shared {
    config: ProducerConfig,
    /// Open batches by topic, indexed by partition.
    batches: RwLock<HashMap<String, Vec<Arc<Slot>>>>,
    pub(super) sender: Sender,
}

impl Shared {
    /// Every partition the producer has sent to.
    pub(super) fn slots(&self) -> Vec<Arc<Slot>> {
        read_lock(&self.batches)
            .values()
            .flat_map(|v| v.iter().cloned())
            .collect()
    }
}

impl LogStore {
    /// A producer for this store's topics. Cheap: its sender thread starts
    /// with its first `send`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::store::{LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("orders", 3, &[])?;
    /// use std::time::Duration;
    /// use seglog::store::ProducerConfig;
    /// let producer = store.producer(ProducerConfig {
    ///     linger: Duration::from_millis(20),
    ///     ..ProducerConfig::default()
    /// });
    /// producer.send(ProducerRecord::new("orders", "created").with_key("order-1"))?;
    /// producer.flush()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn producer(&self, config: ProducerConfig) -> Producer {
        Producer {
            store: self.clone(),
            shared: Arc::new(Shared {
                config,
                batches: RwLock::new(HashMap::new()),
                sender: Sender::default(),
            }),
            routes: RwLock::new(BTreeMap::new()),
        }
    }
}

impl Producer {
    /// Adds a record to its partition's open batch, appending the batch
    /// if it is full. Otherwise the batch is appended once its first
    /// record has waited [`ProducerConfig::linger`], or earlier when the
    /// returned [`Delivery`] is waited for or the producer is flushed. The
    /// delivery may be dropped: the record is sent all the same.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::store::{LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("orders", 3, &[])?;
    /// let producer = store.producer(Default::default());
    /// // Keyed records go where Kafka's partitioner puts them.
    /// let delivery = producer.send(ProducerRecord::new("orders", "paid").with_key("order-7"))?;
    /// assert_eq!(delivery.partition(), seglog::topic::partition_for_key(b"order-7", 3));
    /// assert!(producer.send(ProducerRecord::new("no-such-topic", "x")).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::UnknownPartition`];
    /// [`Error::InvalidTopic`] for an internal topic (`__consumer_offsets`);
    /// [`Error::RecordTooLarge`] for a record that cannot fit a batch of
    /// the topic's `max.message.bytes`; [`Error::InvalidRecord`] for a
    /// negative timestamp; [`Error::MissingKey`] for a record without a
    /// key to a topic whose cleanup policy compacts; an append's error
    /// when a full batch is appended (that batch's deliveries report it
    /// too); [`Error::StoreClosed`]; [`Error::ReadOnly`] on a store opened
    /// read-only; [`Error::Io`] if the producer's sender thread cannot be
    /// started (by the first send).
    pub fn send(&self, record: ProducerRecord) -> Result<Delivery> {
        self.store.inner.check_writable()?;
        let ProducerRecord {
            topic,
            partition,
            mut record,
        } = record;
        if is_internal_topic(&topic) {
            return Err(Error::InvalidTopic {
                name: topic,
                reason: "an internal topic is written only by the store itself".to_string(),
            });
        }
        let route = self.route(&topic)?;
        let (t, partitions) = (&route.topic, route.slots.len() as u32);
        let partition = match partition {
            Some(p) if p < partitions => p,
            Some(p) => {
                return Err(Error::UnknownPartition {
                    topic,
                    partition: p,
                    partitions,
                })
            }
            None => self
                .shared
                .config
                .partitioner
                .partition(&topic, record.key.as_deref(), partitions)
                .min(partitions.saturating_sub(1)),
        };
        // Refused here rather than by the append, which would fail every
        // record of the open batch with it, other senders' ones included.
        if record.key.is_none() && t.config.log.cleanup_policy.compacts() {
            return Err(Error::MissingKey {
                index: 0,
                batch_position: None,
            });
        }
        let timestamp = match record.timestamp {
            Some(ts) if ts < 0 => {
                return Err(Error::invalid_record(format!("timestamp {ts} is negative")))
            }
            Some(ts) => ts,
            None => {
                let now = self.store.inner.clock.now_ms();
                record.timestamp = Some(now);
                now
            }
        };
        let size = record_size_bound(&record);
        // A batch must fit both a message and a segment.
        let max_batch = u64::from(t.config.log.max_message_bytes).min(t.config.log.segment_bytes);
        let max = (max_batch as usize).saturating_sub(BATCH_HEADER_LEN);
        if size > max {
            return Err(Error::RecordTooLarge {
                size: (size + BATCH_HEADER_LEN) as u64,
                max: max_batch,
            });
        }
        if !self.shared.sender.started() {
            sender::start(&self.shared, &self.store.inner)?;
        }
        let slot = self.slot(&route, partition)?;
        let mut open = lock(&slot.open);
        loop {
            let current = Arc::ptr_eq(&open.topic, t);
            if !current && open.records.is_empty() {
                // The topic was deleted and created again: start over on
                // the new one.
                open.log = t.log(partition)?;
                open.topic = t.clone();
                continue;
            }
            if current && (open.records.is_empty() || open.bytes + size <= max) {
                break;
            }
            // The open batch is of the topic before, or the record does
            // not fit it: it goes first.
            let closed = slot.close(open, ClosedBy::Caller);
            if current {
                // The record is not sent if the batch before it failed:
                // the log is poisoned or closed, and it would fail too.
                if let Some(e) = closed.and_then(|batch| batch.error()) {
                    return Err(e);
                }
            }
            open = lock(&slot.open);
        }
        let index = open.records.len() as u32;
        let batch = self.add(slot, open, record, size)?;
        Ok(Delivery {
            partition,
            index,
            timestamp,
            batch,
        })
    }

    /// Adds a record of `size` bytes to the open batch of `slot` (locked
    /// as `open`), and appends the batch if it is full; else makes sure
    /// the sender thread appends it once it has lingered. Returns the
    /// batch's result.
    fn add(
        &self,
        slot: &Arc<Slot>,
        mut open: MutexGuard<'_, OpenBatch>,
        record: Record,
        size: usize,
    ) -> Result<Arc<BatchResult>> {
        open.records.push(record);
        open.bytes += size;
        let batch = open.result.clone();
        let config = &self.shared.config;
        if open.bytes >= config.batch_size || open.records.len() >= config.max_batch_records {
            let closed = slot.close(open, ClosedBy::Caller);
            if let Some(e) = closed.and_then(|batch| batch.error()) {
                return Err(e);
            }
        } else if open.due.is_none() {
            let due = sender::due(Instant::now(), config.linger, open.closed_at);
            open.due = Some(due);
            if !open.queued {
                open.queued = true;
                // Not under the batch's lock, which the woken sender
                // thread may want at once. Until the entry is in, the
                // partition's batches close as they would anyway.
                drop(open);
                self.shared.sender.schedule(slot.clone(), due);
            }
        }
        Ok(batch)
    }

    /// Sends a record and waits for it to be stored: `send` then
    /// [`Delivery::wait`]. Each such record is its own batch.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::store::{LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("orders", 3, &[])?;
    /// let producer = store.producer(Default::default());
    /// let meta = producer.send_and_wait(ProducerRecord::new("orders", "a").with_partition(1))?;
    /// assert_eq!((meta.partition, meta.offset), (1, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`send`](Self::send) and [`Delivery::wait`].
    pub fn send_and_wait(&self, record: ProducerRecord) -> Result<RecordMetadata> {
        self.send(record)?.wait()
    }

    /// Appends every open batch now, after the appends in progress: once
    /// it returns `Ok`, every record sent before it is in its log.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::store::{LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("orders", 3, &[])?;
    /// let producer = store.producer(Default::default());
    /// for i in 0..10 {
    ///     producer.send(ProducerRecord::new("orders", format!("order {i}")).with_partition(0))?;
    /// }
    /// producer.flush()?;
    /// assert_eq!(store.partition("orders", 0)?.log_end_offset(), 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The first error among the batches it appended and those appended
    /// since the last flush by the sender thread or by other calls (each
    /// of those is reported once); the other batches are appended anyway,
    /// and each batch's deliveries report its own outcome.
    pub fn flush(&self) -> Result<()> {
        let mut first = None;
        for slot in self.shared.slots() {
            if let Err(e) = slot.flush() {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// The topic `name` as the store has it now: the one looked up last
    /// if the store's topics have not changed since.
    fn route(&self, name: &str) -> Result<Arc<Route>> {
        let inner = &self.store.inner;
        let version = inner.topics_version();
        if let Some(route) = read_lock(&self.routes).get(name) {
            if route.version == version {
                return Ok(route.clone());
            }
        }
        let topic = inner.topic(name)?;
        let slots = (0..topic.partition_count())
            .map(|_| OnceLock::new())
            .collect();
        let route = Arc::new(Route {
            topic,
            version,
            slots,
        });
        write_lock(&self.routes).insert(name.to_string(), route.clone());
        Ok(route)
    }

    /// The open batch of a partition of `route` (below its partition
    /// count).
    fn slot<'r>(&self, route: &'r Route, partition: u32) -> Result<&'r Arc<Slot>> {
        let cell = &route.slots[partition as usize];
        if let Some(slot) = cell.get() {
            return Ok(slot);
        }
        let slot = self.make_slot(&route.topic, partition)?;
        // Any slot a racing send put in is this one, from the batches.
        Ok(cell.get_or_init(|| slot))
    }

    /// The open batch of a partition, created on first use.
    fn make_slot(&self, topic: &Arc<Topic>, partition: u32) -> Result<Arc<Slot>> {
        if let Some(s) = read_lock(&self.shared.batches)
            .get(&topic.name)
            .and_then(|v| v.get(partition as usize))
        {
            return Ok(s.clone());
        }
        let config = &self.shared.config;
        let mut batches = write_lock(&self.shared.batches);
        let slots = batches.entry(topic.name.clone()).or_default();
        while slots.len() <= partition as usize {
            let p = slots.len() as u32;
            slots.push(Slot::new(topic, p, config)?);
        }
        Ok(slots[partition as usize].clone())
    }

    /// Whether the sender thread is running.
    #[cfg(test)]
    pub(super) fn sender_running(&self) -> bool {
        self.shared.sender.is_running()
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.shared.sender.stop();
        let _ = self.flush();
    }
}

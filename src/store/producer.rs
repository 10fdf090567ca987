//! [`Producer`]: records to topics, batched per partition.
//!
//! `send` picks the partition (the record's own, else the partitioner's)
//! and adds the record to that partition's open batch. A batch is appended
//! to the log, as one Kafka record batch, when it reaches
//! [`ProducerConfig::batch_size`] bytes or
//! [`ProducerConfig::max_batch_records`] records, when a [`Delivery`] of
//! it is waited for, or on [`Producer::flush`]. Records of one partition
//! are appended in the order they were sent.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use super::{LogStore, Topic};
use crate::config::Durability;
use crate::error::{Error, Result};
use crate::log::{AppendInfo, PartitionLog};
use crate::record::{record_size_bound, Header, Record, BATCH_HEADER_LEN};
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
    /// How durable each appended batch is; `None` (the default) uses the
    /// topic's [`LogConfig::durability`](crate::LogConfig::durability).
    pub durability: Option<Durability>,
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
            durability: None,
            partitioner: Arc::new(DefaultPartitioner::new()),
        }
    }
}

impl fmt::Debug for ProducerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerConfig")
            .field("batch_size", &self.batch_size)
            .field("max_batch_records", &self.max_batch_records)
            .field("durability", &self.durability)
            .field("partitioner", &self.partitioner)
            .finish()
    }
}

/// A record to send: a topic, optionally a partition, and the record.
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
#[must_use = "a record is stored once its delivery is waited for or the producer is flushed"]
pub struct Delivery {
    partition: u32,
    index: u32,
    timestamp: i64,
    batch: Arc<BatchResult>,
    slot: Arc<Mutex<Accumulator>>,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("partition", &self.partition)
            .field("done", &lock(&self.batch.outcome).is_some())
            .finish()
    }
}

impl Delivery {
    /// The partition the record was sent to.
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// Appends the record's batch now if it is still open, and returns
    /// where the record landed.
    ///
    /// # Errors
    /// The error of the batch's append (every record of the batch gets
    /// it): [`Error::Io`], [`Error::Poisoned`], [`Error::Closed`].
    pub fn wait(self) -> Result<RecordMetadata> {
        if lock(&self.batch.outcome).is_none() {
            let mut acc = lock(&self.slot);
            if Arc::ptr_eq(&acc.result, &self.batch) {
                acc.append();
            }
        }
        let outcome = lock(&self.batch.outcome);
        match outcome.as_ref() {
            Some(Ok(done)) => Ok(RecordMetadata {
                partition: self.partition,
                offset: done.first_offset + u64::from(self.index),
                timestamp: done.log_append_time.unwrap_or(self.timestamp),
            }),
            Some(Err(e)) => Err(e.duplicate()),
            // The batch was appended (it is no longer open), so it has an
            // outcome; this is unreachable but not worth a panic.
            None => Err(Error::Closed),
        }
    }
}

/// Sends records to a store's topics. `Send + Sync`: share one between
/// threads. Dropping it flushes open batches on a best-effort basis; call
/// [`flush`](Self::flush) to see errors.
pub struct Producer {
    store: LogStore,
    config: ProducerConfig,
    /// Open batches by topic, indexed by partition.
    batches: RwLock<HashMap<String, Vec<Arc<Mutex<Accumulator>>>>>,
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The outcome of appending one batch, shared by its deliveries.
#[derive(Debug, Default)]
struct BatchResult {
    outcome: Mutex<Option<Result<Appended>>>,
}

impl BatchResult {
    /// A copy of the error the batch's append failed with, if it did.
    fn error(&self) -> Option<Error> {
        match lock(&self.outcome).as_ref() {
            Some(Err(e)) => Some(e.duplicate()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Appended {
    first_offset: u64,
    log_append_time: Option<i64>,
}

/// One partition's open batch.
struct Accumulator {
    topic: Arc<Topic>,
    partition: u32,
    log: PartitionLog,
    records: Vec<Record>,
    bytes: usize,
    result: Arc<BatchResult>,
    durability: Option<Durability>,
    partitioner: Arc<dyn Partitioner>,
}

impl Accumulator {
    /// Appends the open batch (if any) and starts a new one.
    fn append(&mut self) {
        if self.records.is_empty() {
            return;
        }
        let durability = self.durability.unwrap_or(self.topic.config.log.durability);
        let outcome = self
            .log
            .append_with(&self.records, durability)
            .map(|info: AppendInfo| Appended {
                first_offset: info.first_offset,
                log_append_time: info.log_append_time,
            });
        let ok = outcome.is_ok();
        *lock(&self.result.outcome) = Some(outcome);
        self.records.clear();
        self.bytes = 0;
        self.result = Arc::new(BatchResult::default());
        if ok {
            self.partitioner.on_batch_complete(
                &self.topic.name,
                self.partition,
                self.topic.partition_count(),
            );
        }
    }
}

impl LogStore {
    /// A producer for this store's topics.
    pub fn producer(&self, config: ProducerConfig) -> Producer {
        Producer {
            store: self.clone(),
            config,
            batches: RwLock::new(HashMap::new()),
        }
    }
}

impl Producer {
    /// Adds a record to its partition's open batch, appending the batch
    /// if it is full. The record is stored once the returned
    /// [`Delivery`] is waited for or the producer is flushed (or the
    /// batch fills up).
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::UnknownPartition`];
    /// [`Error::InvalidTopic`] for an internal topic (`__consumer_offsets`);
    /// [`Error::RecordTooLarge`] for a record that cannot fit a batch of
    /// the topic's `max.message.bytes`; [`Error::InvalidRecord`] for a
    /// negative timestamp; [`Error::MissingKey`] for a record without a
    /// key to a topic whose cleanup policy compacts; an append's error
    /// when a full batch is appended (that batch's deliveries report it
    /// too); [`Error::Closed`]; [`Error::ReadOnly`] on a store opened
    /// read-only.
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
        let t = self.store.inner.topic(&topic)?;
        let partitions = t.partition_count();
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
        let slot = self.slot(&t, partition)?;
        let mut acc = lock(&slot);
        if !Arc::ptr_eq(&acc.topic, &t) {
            // The topic was deleted and created again: start over on the
            // new one.
            acc.append();
            acc.log = t.log(partition)?;
            acc.topic = t.clone();
        }
        if !acc.records.is_empty() && acc.bytes + size > max {
            // The record is not sent if the batch before it failed: the
            // log is poisoned or closed, and it would fail too.
            let batch = acc.result.clone();
            acc.append();
            if let Some(e) = batch.error() {
                return Err(e);
            }
        }
        let index = acc.records.len() as u32;
        acc.records.push(record);
        acc.bytes += size;
        let delivery = Delivery {
            partition,
            index,
            timestamp,
            batch: acc.result.clone(),
            slot: slot.clone(),
        };
        if acc.bytes >= self.config.batch_size || acc.records.len() >= self.config.max_batch_records
        {
            let batch = acc.result.clone();
            acc.append();
            if let Some(e) = batch.error() {
                return Err(e);
            }
        }
        Ok(delivery)
    }

    /// Sends a record and waits for it to be stored: `send` then
    /// [`Delivery::wait`]. Each such record is its own batch.
    ///
    /// # Errors
    /// As [`send`](Self::send) and [`Delivery::wait`].
    pub fn send_and_wait(&self, record: ProducerRecord) -> Result<RecordMetadata> {
        self.send(record)?.wait()
    }

    /// Appends every open batch.
    ///
    /// # Errors
    /// The first batch's error; the other batches are appended anyway, and
    /// each batch's deliveries report its own outcome.
    pub fn flush(&self) -> Result<()> {
        let slots: Vec<Arc<Mutex<Accumulator>>> = read_lock(&self.batches)
            .values()
            .flat_map(|v| v.iter().cloned())
            .collect();
        let mut first = None;
        for slot in slots {
            let mut acc = lock(&slot);
            let batch = acc.result.clone();
            acc.append();
            if let Some(e) = batch.error() {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// The open batch of a partition, created on first use.
    fn slot(&self, topic: &Arc<Topic>, partition: u32) -> Result<Arc<Mutex<Accumulator>>> {
        if let Some(s) = read_lock(&self.batches)
            .get(&topic.name)
            .and_then(|v| v.get(partition as usize))
        {
            return Ok(s.clone());
        }
        let mut batches = write_lock(&self.batches);
        let slots = batches.entry(topic.name.clone()).or_default();
        while slots.len() <= partition as usize {
            let p = slots.len() as u32;
            slots.push(Arc::new(Mutex::new(Accumulator {
                topic: topic.clone(),
                partition: p,
                log: topic.log(p)?,
                records: Vec::new(),
                bytes: 0,
                result: Arc::new(BatchResult::default()),
                durability: self.config.durability,
                partitioner: self.config.partitioner.clone(),
            })));
        }
        Ok(slots[partition as usize].clone())
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

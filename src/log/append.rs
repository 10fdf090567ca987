//! The three ways in: records from the caller, batches encoded by a
//! producer, and batches that already carry their offsets.

use std::sync::atomic::Ordering;

use super::{writes_through, AppendInfo, Inner, PartitionLog, Writer};
use crate::config::Durability;
use crate::error::{Error, Result};
use crate::record::{
    batches as split_batches, AsRecord, BatchAttributes, BatchBuilder, DecodeError, RecordBatch,
    TimestampType,
};
use crate::segment::{BatchMeta, InPlace};

// Field positions patched in place (see `record` for the layout).
const BASE_OFFSET_POS: usize = 0;
const LEADER_EPOCH_POS: usize = 12;
const CRC_POS: usize = 17;
const ATTRIBUTES_POS: usize = 21;
const MAX_TIMESTAMP_POS: usize = 35;
const TIMESTAMP_TYPE_BIT: u16 = 0x08;

impl PartitionLog {
    /// Appends `records` as one batch, as a Kafka leader does: offsets from
    /// the log end offset on, a timestamp from the clock for records
    /// without one (or for all of them with log-append time), the log's
    /// compression codec. Durability as the log's config says. On a log
    /// whose cleanup policy compacts, every record must have a key.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let info = log.append(&[
    ///     Record::new("created").with_key("order-1"),
    ///     Record::new("paid").with_key("order-1"),
    /// ])?;
    /// assert_eq!((info.first_offset, info.last_offset), (0, 1));
    /// assert_eq!(info.batches, 1);
    /// assert!(log.append::<Record>(&[]).is_err()); // a batch needs a record
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidRecord`] for no records or a bad timestamp,
    /// [`Error::MissingKey`] for a record without a key on a compacted
    /// log, [`Error::RecordTooLarge`] for a batch over
    /// `max_message_bytes`, [`Error::Poisoned`]/[`Error::Closed`],
    /// [`Error::Io`]. Nothing is written when an error other than `Io` is
    /// returned.
    pub fn append<R: AsRecord>(&self, records: &[R]) -> Result<AppendInfo> {
        self.append_with(records, self.inner.config.durability)
    }

    /// [`append`](Self::append) with an explicit durability for this call.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// use seglog::Durability;
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let info = log.append_with(&[Record::new("payment")], Durability::Sync)?;
    /// // Fsynced before it returned: it survives a power loss.
    /// assert_eq!(log.recovery_point(), info.last_offset + 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub fn append_with<R: AsRecord>(
        &self,
        records: &[R],
        durability: Durability,
    ) -> Result<AppendInfo> {
        self.inner
            .notify(self.inner.append_records(records, durability))
    }

    /// Appends batches as a Kafka producer sends them (a produce request's
    /// records: one or more v2 batches with base offset 0). Each batch is
    /// checked (size, CRC, record count, every record decodes) and then
    /// written as it is, with only the base offset and partition leader
    /// epoch set in place. As Kafka does, the header's max timestamp is set
    /// to the largest record timestamp (or, with log-append time, the type
    /// and max timestamp to the append time), recomputing the CRC only when
    /// that changes the header. On a log whose cleanup policy compacts,
    /// every record of every batch must have a key (compressed batches are
    /// decompressed to check). All batches are checked before any is
    /// written.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// use seglog::BatchBuilder;
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("first")])?;
    /// // A producer's batch: offsets from 0, timestamps of its own.
    /// let batch = BatchBuilder::new()
    ///     .now(1_700_000_000_000)
    ///     .build(&[Record::new("a"), Record::new("b")])?;
    /// let info = log.append_encoded(&batch)?;
    /// assert_eq!((info.first_offset, info.last_offset), (1, 2));
    /// assert_eq!(info.max_timestamp, 1_700_000_000_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidBatch`] for bytes that are not valid producer
    /// batches, [`Error::MissingKey`] naming the first keyless record and
    /// its batch, [`Error::RecordTooLarge`],
    /// [`Error::CompressionUnavailable`], and as [`append`](Self::append).
    pub fn append_encoded(&self, batches: &[u8]) -> Result<AppendInfo> {
        self.append_encoded_with(batches, self.inner.config.durability)
    }

    /// [`append_encoded`](Self::append_encoded) with an explicit durability.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// use seglog::{BatchBuilder, Durability};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let batch = BatchBuilder::new()
    ///     .now(1_700_000_000_000)
    ///     .build(&[Record::new("a")])?;
    /// log.append_encoded_with(&batch, Durability::Sync)?;
    /// assert_eq!(log.recovery_point(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`append_encoded`](Self::append_encoded).
    pub fn append_encoded_with(
        &self,
        batches: &[u8],
        durability: Durability,
    ) -> Result<AppendInfo> {
        self.inner
            .notify(self.inner.append_producer_batches(batches, durability))
    }

    /// Appends batches that already carry their offsets, keeping them as
    /// they are (replication, restores, tools). Offsets must strictly
    /// increase and start at or after the log end offset; gaps are allowed.
    /// CRCs are checked; `max_message_bytes` and, on a compacted log,
    /// record keys are not (as for Kafka followers, which keep what their
    /// leader accepted).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// use seglog::BatchBuilder;
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let batch = BatchBuilder::new()
    ///     .base_offset(10) // a gap below is allowed
    ///     .now(1_700_000_000_000)
    ///     .build(&[Record::new("a"), Record::new("b")])?;
    /// let info = log.append_replicated(&batch)?;
    /// assert_eq!(info.first_offset, 10);
    /// assert_eq!(log.log_end_offset(), 12);
    /// assert!(log.append_replicated(&batch).is_err()); // offsets must continue
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidBatch`] for malformed batches or a bad CRC,
    /// [`Error::UnexpectedOffset`] for offsets that do not continue the
    /// log, [`Error::RecordTooLarge`] for batches larger than a segment (together:
    /// an append goes into one segment),
    /// and as [`append`](Self::append).
    pub fn append_replicated(&self, batches: &[u8]) -> Result<AppendInfo> {
        self.append_replicated_with(batches, self.inner.config.durability)
    }

    /// [`append_replicated`](Self::append_replicated) with an explicit
    /// durability.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// use seglog::{BatchBuilder, Durability};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let batch = BatchBuilder::new()
    ///     .base_offset(5)
    ///     .now(1_700_000_000_000)
    ///     .build(&[Record::new("a")])?;
    /// log.append_replicated_with(&batch, Durability::Sync)?;
    /// assert_eq!(log.recovery_point(), 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`append_replicated`](Self::append_replicated).
    pub fn append_replicated_with(
        &self,
        batches: &[u8],
        durability: Durability,
    ) -> Result<AppendInfo> {
        self.inner
            .notify(self.inner.append_replicated(batches, durability))
    }
}

impl Inner {
    /// Tells the listener, if any, that records became visible.
    fn notify(&self, result: Result<AppendInfo>) -> Result<AppendInfo> {
        if let (Ok(_), Some(listener)) = (&result, &self.listener) {
            listener();
        }
        result
    }

    fn append_records<R: AsRecord>(
        &self,
        records: &[R],
        durability: Durability,
    ) -> Result<AppendInfo> {
        if self.config.cleanup_policy.compacts() {
            if let Some(index) = records.iter().position(|r| r.key().is_none()) {
                return Err(Error::MissingKey {
                    index: index as u64,
                    batch_position: None,
                });
            }
        }
        let mut w = self.writer_for_update()?;
        let now = self.clock.now_ms();
        let base = self.log_end_offset.load(Ordering::Acquire);
        let timestamp_type = self.config.message_timestamp_type;
        // A Kafka leader stamps its leader epoch on every batch it accepts
        // (the first leader's is 0), where a client sends -1.
        let epoch = self.stamp_epoch();
        // The cache learns a batch's epoch before the batch is written (as
        // Kafka's does): a crash in between leaves an entry at or beyond
        // the log end, which the open trims, never a batch whose epoch the
        // cache lacks.
        self.learn_epochs(&[(epoch, base)])?;
        let builder = BatchBuilder::new()
            .base_offset(base)
            .partition_leader_epoch(epoch)
            .compression(self.config.compression)
            .timestamp_type(timestamp_type)
            .now(now);
        let mut scratch = std::mem::take(&mut w.compress_scratch);
        // Encoded straight into the active segment's write buffer.
        let outcome = self.active(&mut w)?.append_in_place(
            self.config.segment_bytes,
            self.config.max_segment_ms(),
            now,
            |buf| {
                let enc = builder.encode_into(records, buf, &mut scratch)?;
                self.check_size(enc.size as u64, true)?;
                Ok(BatchMeta {
                    base_offset: enc.base_offset,
                    last_offset: enc.last_offset,
                    max_timestamp: enc.max_timestamp,
                    size: enc.size,
                })
            },
        );
        w.compress_scratch = scratch;
        let count = records.len() as u64;
        let mut info = match outcome? {
            InPlace::Appended(meta) => {
                self.log_end_offset
                    .store(meta.last_offset + 1, Ordering::Release);
                self.finish_append(&mut w, &[meta], count, durability, now)?
            }
            // Once per segment: roll, then append the bytes.
            InPlace::NeedsRoll { bytes, meta } => {
                self.write_batches(&mut w, &bytes, &[meta], count, durability, now)?
            }
        };
        info.log_append_time = (timestamp_type == TimestampType::LogAppendTime).then_some(now);
        Ok(info)
    }

    fn check_size(&self, size: u64, client: bool) -> Result<()> {
        let max_message = u64::from(self.config.max_message_bytes);
        if client && size > max_message {
            return Err(Error::RecordTooLarge {
                size,
                max: max_message,
            });
        }
        if size > self.config.segment_bytes {
            return Err(Error::RecordTooLarge {
                size,
                max: self.config.segment_bytes,
            });
        }
        Ok(())
    }

    fn append_producer_batches(&self, input: &[u8], durability: Durability) -> Result<AppendInfo> {
        // Validate everything before taking the writer lock.
        let mut metas = Vec::new();
        let mut header_max = Vec::new();
        let mut records_total = 0u64;
        let mut scratch = Vec::new();
        let mut position = 0usize;
        let keys_required = self.config.cleanup_policy.compacts();
        for batch in split_batches(input) {
            let batch = batch?;
            self.check_size(batch.size() as u64, true)?;
            let checked = validate_producer_batch(&batch, keys_required, &mut scratch)
                .map_err(|e| e.shifted(position).in_input())?;
            let (meta, count) = match checked {
                Checked::Valid { meta, records } => (meta, records),
                Checked::Keyless { record } => {
                    return Err(Error::MissingKey {
                        index: records_total + record,
                        batch_position: Some(position as u64),
                    })
                }
            };
            header_max.push(batch.header().max_timestamp);
            metas.push(meta);
            records_total += count;
            position += batch.size();
        }
        // The whole append goes into one segment (Kafka refuses an append
        // larger than `segment.bytes` as a whole, not only per batch).
        self.check_size(position as u64, false)?;
        if metas.is_empty() {
            return Err(Error::InvalidBatch {
                position: 0,
                reason: "no record batches".into(),
            });
        }

        let mut w = self.writer_for_update()?;
        let now = self.clock.now_ms();
        let append_time =
            (self.config.message_timestamp_type == TimestampType::LogAppendTime).then_some(now);
        let mut bytes = std::mem::take(&mut w.scratch);
        bytes.clear();
        bytes.extend_from_slice(input);
        // Assign offsets in place: base offset and leader epoch are outside
        // the CRC; log-append time changes the CRC, so it is recomputed.
        let mut next = self.log_end_offset.load(Ordering::Acquire);
        let first_offset = next;
        let epoch = self.stamp_epoch();
        let mut at = 0usize;
        for (meta, header_max) in metas.iter_mut().zip(header_max) {
            let b = &mut bytes[at..at + meta.size];
            let delta = meta.last_offset - meta.base_offset;
            b[BASE_OFFSET_POS..BASE_OFFSET_POS + 8].copy_from_slice(&(next as i64).to_be_bytes());
            b[LEADER_EPOCH_POS..LEADER_EPOCH_POS + 4].copy_from_slice(&epoch.to_be_bytes());
            if let Some(t) = append_time {
                let attrs = u16::from_be_bytes([b[ATTRIBUTES_POS], b[ATTRIBUTES_POS + 1]])
                    | TIMESTAMP_TYPE_BIT;
                b[ATTRIBUTES_POS..ATTRIBUTES_POS + 2].copy_from_slice(&attrs.to_be_bytes());
                meta.max_timestamp = t;
            }
            if append_time.is_some() || meta.max_timestamp != header_max {
                b[MAX_TIMESTAMP_POS..MAX_TIMESTAMP_POS + 8]
                    .copy_from_slice(&meta.max_timestamp.to_be_bytes());
                let crc = crc32c::crc32c(&b[ATTRIBUTES_POS..]);
                b[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
            }
            meta.base_offset = next;
            meta.last_offset = next + delta;
            next = meta.last_offset + 1;
            at += meta.size;
        }
        let learned = self.learn_epochs(&[(epoch, first_offset)]);
        let result = learned.and_then(|()| {
            self.write_batches(&mut w, &bytes, &metas, records_total, durability, now)
        });
        w.scratch = bytes;
        let mut info = result?;
        info.log_append_time = append_time;
        Ok(info)
    }

    fn append_replicated(&self, input: &[u8], durability: Durability) -> Result<AppendInfo> {
        let mut metas = Vec::new();
        let mut epochs: Vec<(i32, u64)> = Vec::new();
        let mut records_total = 0u64;
        let mut position = 0u64;
        let mut prev_last: Option<u64> = None;
        for batch in split_batches(input) {
            let batch = batch?;
            batch.check_crc().map_err(|e| Error::InvalidBatch {
                position,
                reason: e.into_reason(),
            })?;
            self.check_size(batch.size() as u64, false)?;
            let h = batch.header();
            if let Some(prev) = prev_last {
                if h.base_offset <= prev {
                    return Err(Error::UnexpectedOffset {
                        offset: h.base_offset,
                        expected: prev + 1,
                    });
                }
            }
            prev_last = Some(h.last_offset());
            if epochs
                .last()
                .is_none_or(|(e, _)| *e != h.partition_leader_epoch)
            {
                epochs.push((h.partition_leader_epoch, h.base_offset));
            }
            records_total += u64::from(h.records_count);
            metas.push(BatchMeta {
                base_offset: h.base_offset,
                last_offset: h.last_offset(),
                max_timestamp: h.max_timestamp,
                size: batch.size(),
            });
            position += batch.size() as u64;
        }
        self.check_size(position, false)?;
        let Some(first) = metas.first().copied() else {
            return Err(Error::InvalidBatch {
                position: 0,
                reason: "no record batches".into(),
            });
        };
        let mut w = self.writer_for_update()?;
        let leo = self.log_end_offset.load(Ordering::Acquire);
        if first.base_offset < leo {
            return Err(Error::UnexpectedOffset {
                offset: first.base_offset,
                expected: leo,
            });
        }
        let now = self.clock.now_ms();
        // Epochs first, as for the leader's appends.
        self.learn_epochs(&epochs)?;
        self.write_batches(&mut w, input, &metas, records_total, durability, now)
    }

    /// Writes validated batches laid end to end in `bytes`, then makes them
    /// as durable as asked.
    ///
    /// As in Kafka's `UnifiedLog.append`/`maybeRoll`, whether to roll is
    /// decided once, before the whole append, so an append never spans two
    /// segments; the new segment starts at `max(first offset of the append,
    /// log end offset)` (`LocalLog.roll(expectedNextOffset)`). Only an
    /// append that no segment could hold whole (offsets more than 2^31
    /// apart, or more batches than an index has room for) is split, at the
    /// batch that does not fit.
    fn write_batches(
        &self,
        w: &mut Writer,
        bytes: &[u8],
        metas: &[BatchMeta],
        records: u64,
        durability: Durability,
        now: i64,
    ) -> Result<AppendInfo> {
        let (Some(first), Some(last)) = (metas.first(), metas.last()) else {
            return Err(Error::InvalidBatch {
                position: 0,
                reason: "no record batches".into(),
            });
        };
        let whole = BatchMeta {
            base_offset: first.base_offset,
            last_offset: last.last_offset,
            max_timestamp: metas.iter().map(|m| m.max_timestamp).max().unwrap_or(-1),
            size: metas.iter().map(|m| m.size).sum(),
        };
        let mut at = 0usize;
        for (i, meta) in metas.iter().enumerate() {
            let active = self.active(w)?;
            let roll = if i == 0 {
                active.should_roll(
                    &whole,
                    metas.len(),
                    self.config.segment_bytes,
                    self.config.max_segment_ms(),
                    now,
                )
            } else {
                active.cannot_hold(meta, 1)
            };
            if roll.is_some() {
                let leo = self.log_end_offset.load(Ordering::Acquire);
                self.roll_locked(w, meta.base_offset.max(leo))?;
            }
            let last = i + 1 == metas.len();
            let chunk = &bytes[at..at + meta.size];
            self.active(w)?
                .append(chunk, meta, last && writes_through(durability))?;
            self.log_end_offset
                .store(meta.last_offset + 1, Ordering::Release);
            at += meta.size;
        }
        self.finish_append(w, metas, records, durability, now)
    }

    /// Makes appended batches as durable as asked (and as the flush
    /// policies want), and describes them.
    fn finish_append(
        &self,
        w: &mut Writer,
        metas: &[BatchMeta],
        records: u64,
        durability: Durability,
        now: i64,
    ) -> Result<AppendInfo> {
        w.unflushed_records += records;
        if durability == Durability::Sync || self.flush_due(w, now) {
            self.sync_locked(w)?;
        } else if writes_through(durability) {
            self.active(w)?.write_out()?;
        }
        Ok(AppendInfo {
            first_offset: metas.first().map_or(0, |m| m.base_offset),
            last_offset: metas.last().map_or(0, |m| m.last_offset),
            max_timestamp: metas.iter().map(|m| m.max_timestamp).max().unwrap_or(-1),
            log_append_time: None,
            batches: metas.len(),
            bytes: metas.iter().map(|m| m.size as u64).sum(),
        })
    }
}

/// What [`validate_producer_batch`] found, short of an invalid batch.
enum Checked {
    /// A valid batch: its facts (at base offset 0, with the largest record
    /// timestamp) and its record count.
    Valid { meta: BatchMeta, records: u64 },
    /// Keys were required and the record at this offset delta, the first
    /// without one, has none (the records after it were not looked at).
    Keyless { record: u64 },
}

/// Checks a batch as a Kafka leader checks a producer's: v2, a valid CRC,
/// not a control batch, base offset 0, `lastOffsetDelta + 1` records, and
/// every record decoding with consecutive offset deltas; with
/// `keys_required` (a compacted log), every record having a key. Control
/// batches, whose records are markers, are refused before their records
/// are looked at.
fn validate_producer_batch(
    batch: &RecordBatch<'_>,
    keys_required: bool,
    scratch: &mut Vec<u8>,
) -> Result<Checked, DecodeError> {
    let h = batch.header();
    batch.check_crc()?;
    if h.is_control() {
        return Err(DecodeError::new(
            21,
            "producers may not send control batches",
        ));
    }
    if h.base_offset != 0 {
        return Err(DecodeError::new(
            0,
            format!(
                "a producer batch must have base offset 0, not {}",
                h.base_offset
            ),
        ));
    }
    if h.records_count == 0 || u64::from(h.records_count) != u64::from(h.last_offset_delta) + 1 {
        return Err(DecodeError::new(
            57,
            format!(
                "records count {} does not match last offset delta {}",
                h.records_count, h.last_offset_delta
            ),
        ));
    }
    if BatchAttributes(h.attributes.0).timestamp_type() == TimestampType::LogAppendTime {
        return Err(DecodeError::new(
            21,
            "producers may not send log-append-time batches",
        ));
    }
    let mut records = batch.records_raw(scratch)?;
    let mut expected = 0u64;
    let mut max_timestamp = -1i64;
    while let Some(r) = records.next_raw() {
        let r = r?;
        if r.offset != expected {
            return Err(DecodeError::new(
                0,
                format!(
                    "record {expected} has offset delta {} (must be consecutive)",
                    r.offset
                ),
            ));
        }
        if keys_required && r.key.is_none() {
            return Ok(Checked::Keyless { record: expected });
        }
        max_timestamp = max_timestamp.max(r.timestamp);
        expected += 1;
    }
    Ok(Checked::Valid {
        meta: BatchMeta {
            base_offset: 0,
            last_offset: u64::from(h.last_offset_delta),
            max_timestamp,
            size: batch.size(),
        },
        records: u64::from(h.records_count),
    })
}

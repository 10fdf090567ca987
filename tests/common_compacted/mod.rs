//! Record batches in the shapes Kafka's log cleaner leaves behind, built
//! byte by byte, and a partition log made of them.
//!
//! A cleaned batch keeps its base offset and `lastOffsetDelta` while
//! records go from its start, middle or end (offset deltas skip); one whose
//! records are all gone may stay as a 61-byte empty batch (records count
//! 0, base timestamp -1, the old max timestamp); one holding a tombstone
//! may carry a delete horizon (attribute bit 6) in its base timestamp, with
//! record timestamp deltas relative to it, often negative. See
//! KAFKA-REFERENCE.md 1.4, 1.11 and 5.7.
#![allow(dead_code)]

use seglog::{LogConfig, PartitionLog};

const DELETE_HORIZON_BIT: u16 = 0x40;
const LOG_APPEND_TIME_BIT: u16 = 0x08;
const CONTROL_BIT: u16 = 0x20;
const TRANSACTIONAL_BIT: u16 = 0x10;

/// One record kept in a batch.
#[derive(Debug, Clone)]
pub struct Kept {
    pub offset_delta: u32,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// A batch with explicit offsets and timestamps, as a cleaner writes it.
#[derive(Debug, Clone)]
pub struct CompactedBatch {
    base_offset: u64,
    last_offset_delta: u32,
    records: Vec<Kept>,
    max_timestamp: Option<i64>,
    delete_horizon: Option<i64>,
    attributes: u16,
    leader_epoch: i32,
}

impl CompactedBatch {
    /// A batch for offsets `base_offset ..= base_offset + last_offset_delta`
    /// holding no records yet (built as it is, it is an empty batch).
    pub fn new(base_offset: u64, last_offset_delta: u32) -> Self {
        CompactedBatch {
            base_offset,
            last_offset_delta,
            records: Vec::new(),
            max_timestamp: None,
            delete_horizon: None,
            attributes: 0,
            leader_epoch: 0,
        }
    }

    /// Keeps a record at `base_offset + offset_delta` (add them in offset
    /// order); `value` `None` is a tombstone.
    pub fn record(
        mut self,
        offset_delta: u32,
        timestamp: i64,
        key: &str,
        value: Option<&[u8]>,
    ) -> Self {
        self.records.push(Kept {
            offset_delta,
            timestamp,
            key: Some(key.as_bytes().to_vec()),
            value: value.map(<[u8]>::to_vec),
        });
        self
    }

    /// The header's max timestamp (by default the largest record
    /// timestamp, -1 without records); an empty batch keeps the max of
    /// the records it lost.
    pub fn max_timestamp(mut self, timestamp: i64) -> Self {
        self.max_timestamp = Some(timestamp);
        self
    }

    /// Sets attribute bit 6 and stores `horizon` as the base timestamp.
    pub fn delete_horizon(mut self, horizon: i64) -> Self {
        self.delete_horizon = Some(horizon);
        self
    }

    /// Marks the batch log-append-time: every record reports the max
    /// timestamp.
    pub fn log_append_time(mut self) -> Self {
        self.attributes |= LOG_APPEND_TIME_BIT;
        self
    }

    /// Marks the batch a transactional control batch (a marker).
    pub fn control(mut self) -> Self {
        self.attributes |= CONTROL_BIT | TRANSACTIONAL_BIT;
        self
    }

    /// The base timestamp the header gets.
    pub fn base_timestamp(&self) -> i64 {
        match (self.delete_horizon, self.records.first()) {
            (Some(h), _) => h,
            (None, Some(first)) => first.timestamp,
            (None, None) => -1,
        }
    }

    /// Encodes the batch (uncompressed) with a valid CRC.
    pub fn build(&self) -> Vec<u8> {
        let base_timestamp = self.base_timestamp();
        let mut records = Vec::new();
        for r in &self.records {
            let mut body = vec![0u8]; // attributes
            put_varlong(&mut body, r.timestamp - base_timestamp);
            put_varint(&mut body, r.offset_delta as i32);
            put_bytes(&mut body, r.key.as_deref());
            put_bytes(&mut body, r.value.as_deref());
            put_varint(&mut body, 0); // headers
            put_varint(&mut records, body.len() as i32);
            records.extend(body);
        }
        let max_timestamp = self
            .max_timestamp
            .unwrap_or_else(|| self.records.iter().map(|r| r.timestamp).max().unwrap_or(-1));
        let mut attributes = self.attributes;
        if self.delete_horizon.is_some() {
            attributes |= DELETE_HORIZON_BIT;
        }
        let mut b = Vec::with_capacity(61 + records.len());
        b.extend((self.base_offset as i64).to_be_bytes());
        b.extend(((49 + records.len()) as i32).to_be_bytes());
        b.extend(self.leader_epoch.to_be_bytes());
        b.push(2); // magic
        b.extend([0u8; 4]); // crc, below
        b.extend(attributes.to_be_bytes());
        b.extend((self.last_offset_delta as i32).to_be_bytes());
        b.extend(base_timestamp.to_be_bytes());
        b.extend(max_timestamp.to_be_bytes());
        b.extend((-1i64).to_be_bytes()); // producer id
        b.extend((-1i16).to_be_bytes()); // producer epoch
        b.extend((-1i32).to_be_bytes()); // base sequence
        b.extend((self.records.len() as i32).to_be_bytes());
        b.extend(records);
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }
}

/// The 61-byte batch a cleaner keeps for offsets whose records are all
/// gone: `base_offset ..= base_offset + last_offset_delta`, records count
/// 0, base timestamp -1, `max_timestamp` of the records it held.
pub fn empty_batch(base_offset: u64, last_offset_delta: u32, max_timestamp: i64) -> Vec<u8> {
    CompactedBatch::new(base_offset, last_offset_delta)
        .max_timestamp(max_timestamp)
        .build()
}

fn put_unsigned(out: &mut Vec<u8>, mut u: u64) {
    while u >= 0x80 {
        out.push((u as u8 & 0x7f) | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}

fn put_varint(out: &mut Vec<u8>, n: i32) {
    put_unsigned(out, u64::from(((n << 1) ^ (n >> 31)) as u32));
}

fn put_varlong(out: &mut Vec<u8>, n: i64) {
    put_unsigned(out, ((n << 1) ^ (n >> 63)) as u64);
}

fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

/// The delete horizon of the tombstone batch in [`append_compacted_log`].
pub const HORIZON: i64 = 1_700_086_400_000;

/// The records [`append_compacted_log`] leaves, as (offset, timestamp,
/// key, value).
pub fn compacted_records() -> Vec<(u64, i64, &'static str, Option<Vec<u8>>)> {
    vec![
        (4, 1_000, "k1", Some(b"a".to_vec())),
        (6, 1_003, "k2", Some(b"b".to_vec())),
        (13, 1_010, "k3", Some(b"c".to_vec())),
        (15, 1_012, "k4", None),
        (23, 1_020, "k5", Some(vec![b'd'; 500])),
        (30, 1_030, "k6", Some(vec![b'e'; 1_450])),
    ]
}

/// The offsets of the records [`append_compacted_log`] leaves at or after
/// `from`.
pub fn compacted_offsets_from(from: u64) -> Vec<u64> {
    compacted_records()
        .into_iter()
        .map(|r| r.0)
        .filter(|o| *o >= from)
        .collect()
}

/// The config [`append_compacted_log`] needs: 2 KiB segments, an index
/// entry for every batch.
pub fn compacted_config() -> LogConfig {
    LogConfig {
        segment_bytes: 2_048,
        index_interval_bytes: 1,
        ..LogConfig::default()
    }
}

/// The log end offset of [`append_compacted_log`].
pub const COMPACTED_END: u64 = 35;

/// Each batch of [`append_compacted_log`] as (base offset, last offset,
/// records count).
pub const COMPACTED_BATCHES: [(u64, u64, u32); 6] = [
    (3, 7, 2),
    (10, 12, 0),
    (13, 15, 2),
    (22, 23, 1),
    (30, 30, 1),
    (31, 34, 0),
];

/// The three appends of [`append_compacted_log`], in order (the log rolls
/// between the first and the second).
pub fn compacted_appends() -> [Vec<u8>; 3] {
    let recs = compacted_records();
    let value = |i: usize| recs[i].3.as_deref();
    let first = [
        CompactedBatch::new(3, 4)
            .record(1, 1_000, "k1", value(0))
            .record(3, 1_003, "k2", value(1))
            .build(),
        empty_batch(10, 2, 1_050),
        CompactedBatch::new(13, 2)
            .delete_horizon(HORIZON)
            .record(0, 1_010, "k3", value(2))
            .record(2, 1_012, "k4", value(3))
            .build(),
    ]
    .concat();
    let second = CompactedBatch::new(22, 1)
        .record(1, 1_020, "k5", value(4))
        .build();
    let third = [
        CompactedBatch::new(30, 0)
            .record(0, 1_030, "k6", value(5))
            .build(),
        empty_batch(31, 3, 1_040),
    ]
    .concat();
    [first, second, third]
}

/// Appends, to an empty log opened with [`compacted_config`], the shape a
/// cleaned log can have, every kind of gap in it:
///
/// ```text
/// segment 0   log start 0, first batch at 3
///             3..=7    records at 4 and 6 only (first, middle, last gone)
///             8..=9    no batch
///             10..=12  empty batch, max timestamp 1050 (no record has it)
///             13..=15  delete horizon; 13, tombstone at 15 (14 gone)
/// segment 16  rolled at the log end offset; first batch at 22
///             22..=23  record at 23 only (a 500-byte value)
/// segment 30  rolled by size across the gap 24..=29
///             30       one record (a 1450-byte value)
///             31..=34  empty batch, max timestamp 1040: the log ends
///                      with it (log end offset 35)
/// ```
pub fn append_compacted_log(log: &PartitionLog) {
    let [first, second, third] = compacted_appends();
    log.append_replicated(&first).unwrap();
    log.roll().unwrap();
    log.append_replicated(&second).unwrap();
    log.append_replicated(&third).unwrap();
    let bases: Vec<u64> = log.segments().iter().map(|s| s.base_offset).collect();
    assert_eq!(bases, [0, 16, 30], "the shape needs these segments");
    assert_eq!(log.log_end_offset(), COMPACTED_END);
}

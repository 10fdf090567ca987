//! Encoding records into a v2 batch.

use super::batch::{
    ATTRIBUTES_POS, BASE_OFFSET_POS, BASE_SEQUENCE_POS, BASE_TIMESTAMP_POS, CRC_POS,
    LAST_OFFSET_DELTA_POS, LEADER_EPOCH_POS, LENGTH_POS, MAGIC_POS, MAX_TIMESTAMP_POS,
    PRODUCER_EPOCH_POS, PRODUCER_ID_POS, RECORDS_COUNT_POS,
};
use super::varint::{varint_len, varlong_len, SliceWriter};
use super::{
    compression, AsRecord, BatchAttributes, Compression, TimestampType, BATCH_HEADER_LEN,
    LOG_OVERHEAD, MAGIC_V2,
};
use crate::error::{Error, Result};

/// Builds a Kafka v2 record batch from [`Record`](super::Record)s, byte for byte as a
/// Kafka producer (or leader, for log-append time) would.
///
/// The log uses it for [`PartitionLog::append`](crate::PartitionLog::append);
/// it is public so that applications and tests can produce batches for
/// [`PartitionLog::append_encoded`](crate::PartitionLog::append_encoded) or
/// for a wire protocol.
///
/// ```
/// use seglog::{BatchBuilder, Compression, Record, RecordBatch};
/// let bytes = BatchBuilder::new()
///     .compression(Compression::None)
///     .build(&[Record::new("v").with_key("k").with_timestamp(1_700_000_000_000)])?;
/// let batch = RecordBatch::parse(&bytes)?;
/// batch.verify_crc()?;
/// assert_eq!(batch.header().records_count, 1);
/// # Ok::<(), seglog::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    base_offset: u64,
    partition_leader_epoch: i32,
    compression: Compression,
    timestamp_type: TimestampType,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    now: Option<i64>,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Facts about a batch that was just encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EncodedBatch {
    pub(crate) base_offset: u64,
    pub(crate) last_offset: u64,
    pub(crate) max_timestamp: i64,
    pub(crate) size: usize,
}

impl BatchBuilder {
    /// A builder for an uncompressed, non-transactional CreateTime batch at
    /// base offset 0 with no producer id and leader epoch -1.
    pub fn new() -> Self {
        BatchBuilder {
            base_offset: 0,
            partition_leader_epoch: -1,
            compression: Compression::None,
            timestamp_type: TimestampType::CreateTime,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            now: None,
        }
    }

    /// Offset of the first record (producers send 0).
    pub fn base_offset(mut self, offset: u64) -> Self {
        self.base_offset = offset;
        self
    }

    /// The partition leader epoch stamped on the batch.
    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// The codec for the records.
    pub fn compression(mut self, codec: Compression) -> Self {
        self.compression = codec;
        self
    }

    /// The timestamp type. With [`TimestampType::LogAppendTime`] every
    /// record gets the time given to [`now`](Self::now).
    pub fn timestamp_type(mut self, t: TimestampType) -> Self {
        self.timestamp_type = t;
        self
    }

    /// Idempotent-producer fields: producer id, epoch and the sequence
    /// number of the first record.
    pub fn producer(mut self, id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = id;
        self.producer_epoch = epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Marks the batch as part of a transaction.
    pub fn transactional(mut self, yes: bool) -> Self {
        self.transactional = yes;
        self
    }

    /// The current time in milliseconds: the timestamp of records that have
    /// none, and the log append time.
    pub fn now(mut self, now_ms: i64) -> Self {
        self.now = Some(now_ms);
        self
    }

    /// Encodes `records` into a new buffer.
    ///
    /// # Errors
    /// [`Error::InvalidRecord`] for no records, a negative timestamp, a
    /// record without a timestamp when no [`now`](Self::now) was given, or
    /// a field too large for Kafka's 32-bit lengths;
    /// [`Error::CompressionUnavailable`] for a codec not compiled in.
    pub fn build<R: AsRecord>(&self, records: &[R]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.encode_into(records, &mut out, &mut Vec::new())?;
        Ok(out)
    }

    /// Appends the encoded batch to `out`, using `scratch` for the
    /// uncompressed records when compressing.
    pub(crate) fn encode_into<R: AsRecord>(
        &self,
        records: &[R],
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Result<EncodedBatch> {
        if records.is_empty() {
            return Err(Error::invalid_record("a batch needs at least one record"));
        }
        let count = i32::try_from(records.len())
            .map_err(|_| Error::invalid_record("more than 2^31-1 records in one batch"))?;
        let last_offset_delta = count - 1;
        let last_offset = self
            .base_offset
            .checked_add(last_offset_delta as u64)
            .filter(|&o| o <= i64::MAX as u64)
            .ok_or_else(|| Error::invalid_record("offsets would exceed 2^63-1"))?;
        if self.compression != Compression::None && !self.compression.is_available() {
            return Err(Error::CompressionUnavailable {
                codec: self.compression,
            });
        }

        let (base_timestamp, max_timestamp) = self.timestamps(records)?;
        let start = out.len();
        out.resize(start + BATCH_HEADER_LEN, 0);
        if self.compression == Compression::None {
            encode_records(records, base_timestamp, self.timestamps_of(), out)?;
        } else {
            scratch.clear();
            encode_records(records, base_timestamp, self.timestamps_of(), scratch)?;
            compression::compress(self.compression, scratch, out)?;
        }
        let size = out.len() - start;
        let batch_length = i32::try_from(size - LOG_OVERHEAD)
            .map_err(|_| Error::invalid_record("batch larger than 2 GiB"))?;

        let h = &mut out[start..start + BATCH_HEADER_LEN];
        put(h, BASE_OFFSET_POS, &(self.base_offset as i64).to_be_bytes());
        put(h, LENGTH_POS, &batch_length.to_be_bytes());
        put(
            h,
            LEADER_EPOCH_POS,
            &self.partition_leader_epoch.to_be_bytes(),
        );
        h[MAGIC_POS] = MAGIC_V2;
        let attributes = BatchAttributes::new(
            self.compression,
            self.timestamp_type,
            self.transactional,
            false,
        );
        put(h, ATTRIBUTES_POS, &(attributes.0 as i16).to_be_bytes());
        put(h, LAST_OFFSET_DELTA_POS, &last_offset_delta.to_be_bytes());
        put(h, BASE_TIMESTAMP_POS, &base_timestamp.to_be_bytes());
        put(h, MAX_TIMESTAMP_POS, &max_timestamp.to_be_bytes());
        put(h, PRODUCER_ID_POS, &self.producer_id.to_be_bytes());
        put(h, PRODUCER_EPOCH_POS, &self.producer_epoch.to_be_bytes());
        put(h, BASE_SEQUENCE_POS, &self.base_sequence.to_be_bytes());
        put(h, RECORDS_COUNT_POS, &count.to_be_bytes());
        let crc = crc32c::crc32c(&out[start + ATTRIBUTES_POS..]);
        put(&mut out[start..], CRC_POS, &crc.to_be_bytes());
        Ok(EncodedBatch {
            base_offset: self.base_offset,
            last_offset,
            max_timestamp,
            size,
        })
    }

    fn timestamps_of(&self) -> RecordTimestamps {
        match self.timestamp_type {
            TimestampType::LogAppendTime => RecordTimestamps::AppendTime,
            TimestampType::CreateTime => RecordTimestamps::Own { now: self.now },
        }
    }

    /// The batch's base and max timestamps, checking every record's.
    fn timestamps<R: AsRecord>(&self, records: &[R]) -> Result<(i64, i64)> {
        if self.timestamp_type == TimestampType::LogAppendTime {
            let now = self
                .now
                .ok_or_else(|| Error::invalid_record("log-append time needs the current time"))?;
            return Ok((now, now));
        }
        let mut base = None;
        let mut max = i64::MIN;
        for (i, r) in records.iter().enumerate() {
            let ts = match (r.timestamp(), self.now) {
                (Some(ts), _) if ts < 0 => {
                    return Err(Error::invalid_record(format!(
                        "record {i} has a negative timestamp {ts}"
                    )))
                }
                (Some(ts), _) | (None, Some(ts)) => ts,
                (None, None) => {
                    return Err(Error::invalid_record(format!(
                        "record {i} has no timestamp and no current time was given"
                    )))
                }
            };
            base.get_or_insert(ts);
            max = max.max(ts);
        }
        Ok((base.unwrap_or(-1), max))
    }
}

pub(super) fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

/// The largest length Kafka's 32-bit fields can carry.
const MAX_LEN: usize = i32::MAX as usize;

/// Where the records' timestamps come from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RecordTimestamps {
    /// Log-append time: every record reports the batch's max timestamp, so
    /// the deltas are all 0.
    AppendTime,
    /// Each record's own timestamp, or `now` for records without one.
    Own { now: Option<i64> },
}

/// Appends the records region for `records` to `out`: offset deltas 0..n,
/// timestamp deltas against `base_timestamp`.
///
/// Lengths are checked and a bound of the size computed, so `out` grows
/// once; then every byte is written exactly once: the small varint fields
/// go through a stack buffer, keys and values are copied straight from the
/// records (no zero-filling of the region first).
pub(crate) fn encode_records<R: AsRecord>(
    records: &[R],
    base_timestamp: i64,
    timestamps: RecordTimestamps,
    out: &mut Vec<u8>,
) -> Result<()> {
    // An upper bound of the size, so that `out` grows once.
    let mut bound = 0usize;
    for (i, r) in records.iter().enumerate() {
        check_lengths(r, i)?;
        bound += upper_bound(r);
    }
    out.reserve(bound);
    for (i, r) in records.iter().enumerate() {
        let delta = ts_delta(r, base_timestamp, timestamps);
        let body = body_len(r, i as i32, delta);
        if body > MAX_LEN {
            return Err(Error::invalid_record(format!(
                "record {i} is larger than 2 GiB"
            )));
        }
        // length, attributes, timestamp delta, offset delta: at most 21 bytes
        let mut head = [0u8; 21];
        let mut w = SliceWriter::new(&mut head);
        w.varint(body as i32);
        w.byte(0); // attributes
        w.varlong(delta);
        w.varint(i as i32);
        let n = w.position();
        out.extend_from_slice(&head[..n]);
        put_field(out, r.key());
        put_field(out, r.value());
        put_varint(out, r.headers().len() as i32);
        for h in r.headers() {
            put_field(out, Some(h.key.as_bytes()));
            put_field(out, h.value.as_deref());
        }
    }
    Ok(())
}

#[inline]
pub(super) fn put_varint(out: &mut Vec<u8>, v: i32) {
    let mut buf = [0u8; 5];
    let mut w = SliceWriter::new(&mut buf);
    w.varint(v);
    let n = w.position();
    out.extend_from_slice(&buf[..n]);
}

/// A length-prefixed field, `-1` for null.
#[inline]
pub(super) fn put_field(out: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

/// At least the encoded size of a record: its bytes plus the most its
/// varints can take.
#[inline]
pub(crate) fn upper_bound<R: AsRecord>(r: &R) -> usize {
    let field = |f: Option<&[u8]>| 5 + f.map_or(0, <[u8]>::len);
    let mut n = 21 + field(r.key()) + field(r.value()) + 5;
    for h in r.headers() {
        n += field(Some(h.key.as_bytes())) + field(h.value.as_deref());
    }
    n
}

#[inline]
fn ts_delta<R: AsRecord>(r: &R, base_timestamp: i64, timestamps: RecordTimestamps) -> i64 {
    match timestamps {
        RecordTimestamps::AppendTime => 0,
        RecordTimestamps::Own { now } => r
            .timestamp()
            .or(now)
            .map_or(0, |ts| ts.wrapping_sub(base_timestamp)),
    }
}

/// Refuses fields too long for Kafka's 32-bit lengths.
fn check_lengths<R: AsRecord>(r: &R, i: usize) -> Result<()> {
    let too_long = |what: &str| {
        Err(Error::invalid_record(format!(
            "record {i}: {what} larger than 2 GiB"
        )))
    };
    if r.key().is_some_and(|k| k.len() > MAX_LEN) {
        return too_long("key");
    }
    if r.value().is_some_and(|v| v.len() > MAX_LEN) {
        return too_long("value");
    }
    if r.headers().len() > MAX_LEN {
        return too_long("header count");
    }
    for h in r.headers() {
        if h.key.len() > MAX_LEN || h.value.as_ref().is_some_and(|v| v.len() > MAX_LEN) {
            return too_long("header");
        }
    }
    Ok(())
}

/// Length of a record after its length prefix (lengths already checked).
#[inline]
fn body_len<R: AsRecord>(r: &R, offset_delta: i32, ts_delta: i64) -> usize {
    let mut len = 1 + varlong_len(ts_delta) + varint_len(offset_delta);
    len += field_len(r.key());
    len += field_len(r.value());
    len += varint_len(r.headers().len() as i32);
    for h in r.headers() {
        len += field_len(Some(h.key.as_bytes())) + field_len(h.value.as_deref());
    }
    len
}

#[inline]
fn field_len(field: Option<&[u8]>) -> usize {
    match field {
        None => 1,
        Some(b) => varint_len(b.len() as i32) + b.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::batch::tests::{hex, VECTOR_A};
    use super::super::{Header, Record, RecordBatch};
    use super::*;

    #[test]
    fn encodes_golden_vector_a_byte_for_byte() {
        let records = [
            Record::new("v1")
                .with_key("k1")
                .with_timestamp(1_700_000_000_000),
            Record {
                key: None,
                value: Some(b"hello".to_vec()),
                headers: vec![Header::new("h", "x")],
                timestamp: Some(1_700_000_000_005),
            },
        ];
        let bytes = BatchBuilder::new()
            .partition_leader_epoch(0)
            .build(&records)
            .unwrap();
        assert_eq!(bytes, hex(VECTOR_A));
    }

    #[test]
    fn encodes_golden_vector_b_tombstone() {
        let bytes = BatchBuilder::new()
            .base_offset(5)
            .partition_leader_epoch(0)
            .build(&[Record::tombstone("k1").with_timestamp(1_700_000_000_000)])
            .unwrap();
        assert_eq!(
            bytes,
            hex("00000000000000050000003a0000000002c700b71f0000000000000000018bcfe568000000018bcfe56800ffffffffffffffffffffffffffff0000000110000000046b310100")
        );
    }

    #[test]
    fn encodes_golden_vector_d_idempotent() {
        let records: Vec<Record> = ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(i, v)| Record::new(*v).with_timestamp(1_700_000_000_000 + i as i64))
            .collect();
        let bytes = BatchBuilder::new()
            .base_offset(200)
            .partition_leader_epoch(2)
            .producer(42, 1, 7)
            .build(&records)
            .unwrap();
        assert_eq!(
            bytes,
            hex("00000000000000c80000004900000002022b7554590000000000020000018bcfe568000000018bcfe56802000000000000002a000100000007000000030e000000010261000e000202010262000e00040401026300")
        );
    }

    #[test]
    fn log_append_time_stamps_every_record() {
        let records = [Record::new("a").with_timestamp(5), Record::new("b")];
        let bytes = BatchBuilder::new()
            .timestamp_type(TimestampType::LogAppendTime)
            .now(1_000)
            .build(&records)
            .unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(batch.header().max_timestamp, 1_000);
        assert!(batch.header().attributes.0 & 0x08 != 0);
        let mut s = Vec::new();
        for r in batch.records(&mut s).unwrap() {
            assert_eq!(r.unwrap().timestamp, 1_000);
        }
    }

    #[test]
    fn out_of_order_timestamps_give_negative_deltas_and_the_max() {
        let records = [
            Record::new("a").with_timestamp(100),
            Record::new("b").with_timestamp(40),
            Record::new("c").with_timestamp(150),
        ];
        let bytes = BatchBuilder::new().build(&records).unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(batch.header().base_timestamp, 100);
        assert_eq!(batch.header().max_timestamp, 150);
        let mut s = Vec::new();
        let ts: Vec<i64> = batch
            .records(&mut s)
            .unwrap()
            .map(|r| r.unwrap().timestamp)
            .collect();
        assert_eq!(ts, [100, 40, 150]);
    }

    #[test]
    fn bad_records_are_refused() {
        let b = BatchBuilder::new();
        assert!(matches!(
            b.build::<Record>(&[]),
            Err(Error::InvalidRecord { .. })
        ));
        assert!(matches!(
            b.build(&[Record::new("x").with_timestamp(-5)]),
            Err(Error::InvalidRecord { .. })
        ));
        assert!(matches!(
            b.build(&[Record::new("x")]),
            Err(Error::InvalidRecord { .. })
        ));
        // A record without a timestamp gets `now`, even after one with its own.
        let bytes = b
            .clone()
            .now(7)
            .build(&[Record::new("x").with_timestamp(3), Record::new("y")])
            .unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap();
        let mut s = Vec::new();
        let ts: Vec<i64> = batch
            .records(&mut s)
            .unwrap()
            .map(|r| r.unwrap().timestamp)
            .collect();
        assert_eq!(ts, [3, 7]);
        assert_eq!(batch.header().max_timestamp, 7);
        assert!(matches!(
            BatchBuilder::new().base_offset(i64::MAX as u64).build(&[
                Record::new("x").with_timestamp(0),
                Record::new("y").with_timestamp(0)
            ]),
            Err(Error::InvalidRecord { .. })
        ));
    }

    #[test]
    fn compressed_batches_round_trip() {
        let records: Vec<Record> = (0..50)
            .map(|i| {
                Record::new(format!("value {i} value value value"))
                    .with_key(format!("k{i}"))
                    .with_header("n", i.to_string())
                    .with_timestamp(1_000 + i)
            })
            .collect();
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let result = BatchBuilder::new().compression(codec).build(&records);
            if !codec.is_available() {
                assert!(matches!(result, Err(Error::CompressionUnavailable { .. })));
                continue;
            }
            let bytes = result.unwrap();
            let batch = RecordBatch::parse(&bytes).unwrap();
            batch.verify_crc().unwrap();
            assert_eq!(batch.header().compression(), codec);
            let mut s = Vec::new();
            let back: Vec<_> = batch
                .records(&mut s)
                .unwrap()
                .map(|r| r.unwrap().to_owned())
                .collect();
            assert_eq!(back.len(), 50);
            for (i, r) in back.iter().enumerate() {
                assert_eq!(r.offset, i as u64);
                assert_eq!(r.key, records[i].key);
                assert_eq!(r.value, records[i].value);
                assert_eq!(r.headers, records[i].headers);
                assert_eq!(Some(r.timestamp), records[i].timestamp);
            }
        }
    }
}

//! Re-encoding a batch with some of its records removed, as the log
//! cleaner does (Kafka's `MemoryRecords.filterTo`): every field of the
//! original header is kept except the CRC, the length, the record count,
//! the timestamps and, when asked, the delete-horizon bit.

use super::batch::{
    ATTRIBUTES_POS, BASE_OFFSET_POS, BASE_SEQUENCE_POS, BASE_TIMESTAMP_POS, CRC_POS,
    DELETE_HORIZON_BIT, LAST_OFFSET_DELTA_POS, LEADER_EPOCH_POS, LENGTH_POS, MAGIC_POS,
    MAX_TIMESTAMP_POS, PRODUCER_EPOCH_POS, PRODUCER_ID_POS, RECORDS_COUNT_POS,
};
use super::builder::{put, put_field, put_varint};
use super::varint::{varint_len, varlong_len, SliceWriter};
use super::{
    compression, BatchAttributes, BatchHeader, Compression, RecordView, TimestampType,
    BATCH_HEADER_LEN, LOG_OVERHEAD, MAGIC_V2,
};
use crate::error::{Error, Result};

/// Appends to `out` a batch holding `retained`, records of the batch
/// `original` in offset order, with the original's base offset, last
/// offset delta, producer fields, codec, timestamp type, flags and leader
/// epoch. Every record keeps its offset and its timestamp.
///
/// With `delete_horizon`, the batch gets the delete-horizon attribute and
/// that time as its base timestamp, record timestamp deltas computed
/// against it (they may be negative); without it the base timestamp is
/// the first record's. The max timestamp is the largest record timestamp,
/// or the original's for a log-append-time batch.
///
/// An empty `retained` gives Kafka's empty batch: 61 bytes, no codec, no
/// delete horizon, base timestamp -1 and the original's max timestamp.
///
/// `scratch` holds the uncompressed records of a compressed batch.
pub(crate) fn rebuild_batch(
    original: &BatchHeader,
    retained: &[RecordView<'_>],
    delete_horizon: Option<i64>,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Result<()> {
    let start = out.len();
    out.resize(start + BATCH_HEADER_LEN, 0);
    let log_append = original.timestamp_type() == TimestampType::LogAppendTime;
    let (codec, base_ts, max_ts, horizon_bit) = match retained.first() {
        None => (Compression::None, -1, original.max_timestamp, false),
        Some(first) => {
            let max = if log_append {
                original.max_timestamp
            } else {
                retained.iter().map(|r| r.timestamp).max().unwrap_or(-1)
            };
            match delete_horizon {
                Some(h) => (original.compression(), h, max, true),
                None => (original.compression(), first.timestamp, max, false),
            }
        }
    };
    if codec == Compression::None {
        encode_views(retained, original.base_offset, base_ts, out)?;
    } else {
        scratch.clear();
        encode_views(retained, original.base_offset, base_ts, scratch)?;
        compression::compress(codec, scratch, out)?;
    }
    let size = out.len() - start;
    let batch_length = i32::try_from(size - LOG_OVERHEAD)
        .map_err(|_| Error::invalid_record("batch larger than 2 GiB"))?;
    let count = retained.len() as i32;
    let mut attributes = BatchAttributes::new(
        codec,
        original.timestamp_type(),
        original.is_transactional(),
        original.is_control(),
    )
    .0;
    if horizon_bit {
        attributes |= DELETE_HORIZON_BIT;
    }
    let h = &mut out[start..start + BATCH_HEADER_LEN];
    put(
        h,
        BASE_OFFSET_POS,
        &(original.base_offset as i64).to_be_bytes(),
    );
    put(h, LENGTH_POS, &batch_length.to_be_bytes());
    put(
        h,
        LEADER_EPOCH_POS,
        &original.partition_leader_epoch.to_be_bytes(),
    );
    h[MAGIC_POS] = MAGIC_V2;
    put(h, ATTRIBUTES_POS, &(attributes as i16).to_be_bytes());
    put(
        h,
        LAST_OFFSET_DELTA_POS,
        &(original.last_offset_delta as i32).to_be_bytes(),
    );
    put(h, BASE_TIMESTAMP_POS, &base_ts.to_be_bytes());
    put(h, MAX_TIMESTAMP_POS, &max_ts.to_be_bytes());
    put(h, PRODUCER_ID_POS, &original.producer_id.to_be_bytes());
    put(
        h,
        PRODUCER_EPOCH_POS,
        &original.producer_epoch.to_be_bytes(),
    );
    put(h, BASE_SEQUENCE_POS, &original.base_sequence.to_be_bytes());
    put(h, RECORDS_COUNT_POS, &count.to_be_bytes());
    let crc = crc32c::crc32c(&out[start + ATTRIBUTES_POS..]);
    put(&mut out[start..], CRC_POS, &crc.to_be_bytes());
    Ok(())
}

/// The records region for `records`: each keeps its offset (as a delta
/// from `base_offset`) and its timestamp (as a delta from `base_ts`), its
/// key, value and headers.
fn encode_views(
    records: &[RecordView<'_>],
    base_offset: u64,
    base_ts: i64,
    out: &mut Vec<u8>,
) -> Result<()> {
    let field_len = |f: Option<&[u8]>| f.map_or(1, |b| varint_len(b.len() as i32) + b.len());
    for r in records {
        let ts_delta = r.timestamp.wrapping_sub(base_ts);
        let offset_delta = i32::try_from(r.offset - base_offset)
            .map_err(|_| Error::invalid_record("offset delta beyond 2^31-1"))?;
        let headers = r.raw_headers();
        let count = r.header_count() as i32;
        let body = 1
            + varlong_len(ts_delta)
            + varint_len(offset_delta)
            + field_len(r.key)
            + field_len(r.value)
            + varint_len(count)
            + headers.len();
        let body =
            i32::try_from(body).map_err(|_| Error::invalid_record("record larger than 2 GiB"))?;
        // length, attributes, timestamp delta, offset delta: at most 21 bytes
        let mut head = [0u8; 21];
        let mut w = SliceWriter::new(&mut head);
        w.varint(body);
        w.byte(0);
        w.varlong(ts_delta);
        w.varint(offset_delta);
        let n = w.position();
        out.extend_from_slice(&head[..n]);
        put_field(out, r.key);
        put_field(out, r.value);
        put_varint(out, count);
        out.extend_from_slice(headers);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, Record, RecordBatch};

    fn views_of(bytes: &[u8], keep: impl Fn(u64) -> bool) -> (BatchHeader, Vec<u8>, Vec<u64>) {
        let batch = RecordBatch::parse(bytes).unwrap();
        let mut scratch = Vec::new();
        let views: Vec<RecordView<'_>> = batch
            .records(&mut scratch)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let kept: Vec<RecordView<'_>> = views.into_iter().filter(|r| keep(r.offset)).collect();
        let offsets = kept.iter().map(|r| r.offset).collect();
        let mut out = Vec::new();
        rebuild_batch(batch.header(), &kept, None, &mut out, &mut Vec::new()).unwrap();
        (*batch.header(), out, offsets)
    }

    fn sample(codec: Compression, ts_type: TimestampType) -> Vec<u8> {
        let records: Vec<Record> = (0..5)
            .map(|i| {
                Record::new(format!("v{i}"))
                    .with_key(format!("k{i}"))
                    .with_header("h", format!("x{i}"))
                    .with_timestamp(1_000 + i * 10)
            })
            .collect();
        BatchBuilder::new()
            .base_offset(100)
            .compression(codec)
            .timestamp_type(ts_type)
            .now(5_000)
            .producer(7, 2, 40)
            .partition_leader_epoch(3)
            .build(&records)
            .unwrap()
    }

    #[test]
    fn retained_records_keep_offsets_timestamps_and_header_fields() {
        for codec in [Compression::None, Compression::Gzip] {
            if !codec.is_available() {
                continue;
            }
            let original = sample(codec, TimestampType::CreateTime);
            let (h, out, kept) = views_of(&original, |o| o == 101 || o == 103);
            let b = RecordBatch::parse(&out).unwrap();
            b.verify_crc().unwrap();
            let nh = b.header();
            assert_eq!(nh.base_offset, 100);
            assert_eq!(nh.last_offset(), h.last_offset());
            assert_eq!(nh.records_count, 2);
            assert_eq!(nh.compression(), codec);
            assert_eq!(
                (nh.producer_id, nh.producer_epoch, nh.base_sequence),
                (7, 2, 40)
            );
            assert_eq!(nh.partition_leader_epoch, 3);
            assert_eq!(nh.base_timestamp, 1_010);
            assert_eq!(nh.max_timestamp, 1_030);
            assert!(!nh.attributes.has_delete_horizon());
            let mut s = Vec::new();
            let got: Vec<_> = b
                .records(&mut s)
                .unwrap()
                .map(|r| r.unwrap().to_owned())
                .collect();
            assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), kept);
            assert_eq!(got[0].timestamp, 1_010);
            assert_eq!(got[1].key.as_deref(), Some(&b"k3"[..]));
            assert_eq!(got[1].headers[0].value.as_deref(), Some(&b"x3"[..]));
        }
    }

    #[test]
    fn a_delete_horizon_becomes_the_base_timestamp_and_record_timestamps_stay() {
        let original = sample(Compression::None, TimestampType::CreateTime);
        let batch = RecordBatch::parse(&original).unwrap();
        let mut scratch = Vec::new();
        let views: Vec<RecordView<'_>> = batch
            .records(&mut scratch)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut out = Vec::new();
        rebuild_batch(
            batch.header(),
            &views,
            Some(90_000),
            &mut out,
            &mut Vec::new(),
        )
        .unwrap();
        let b = RecordBatch::parse(&out).unwrap();
        b.verify_crc().unwrap();
        assert!(b.header().attributes.has_delete_horizon());
        assert_eq!(b.header().base_timestamp, 90_000);
        let mut s = Vec::new();
        let ts: Vec<i64> = b
            .records(&mut s)
            .unwrap()
            .map(|r| r.unwrap().timestamp)
            .collect();
        assert_eq!(ts, [1_000, 1_010, 1_020, 1_030, 1_040]);
    }

    #[test]
    fn nothing_retained_gives_kafkas_empty_batch() {
        let original = sample(Compression::None, TimestampType::LogAppendTime);
        let (h, out, _) = views_of(&original, |_| false);
        assert_eq!(out.len(), BATCH_HEADER_LEN);
        let b = RecordBatch::parse(&out).unwrap();
        b.verify_crc().unwrap();
        let nh = b.header();
        assert_eq!(nh.records_count, 0);
        assert_eq!(nh.base_timestamp, -1);
        assert_eq!(nh.max_timestamp, h.max_timestamp);
        assert_eq!(nh.last_offset(), 104);
        assert_eq!(nh.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(nh.compression(), Compression::None);
    }

    #[test]
    fn log_append_time_batches_keep_their_broker_time() {
        let original = sample(Compression::None, TimestampType::LogAppendTime);
        let (_, out, _) = views_of(&original, |o| o == 104);
        let b = RecordBatch::parse(&out).unwrap();
        assert_eq!(b.header().max_timestamp, 5_000);
        let mut s = Vec::new();
        let r = b.records(&mut s).unwrap().next().unwrap().unwrap();
        assert_eq!(r.timestamp, 5_000);
    }
}

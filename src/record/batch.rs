//! The batch header and a borrowed view of one whole batch.

use super::compression;
use super::records::RecordIter;
use super::{Compression, DecodeError, TimestampType, BATCH_HEADER_LEN, LOG_OVERHEAD, MAGIC_V2};
use crate::error::Error;

// Field positions within a batch.
pub(crate) const BASE_OFFSET_POS: usize = 0;
pub(crate) const LENGTH_POS: usize = 8;
pub(crate) const LEADER_EPOCH_POS: usize = 12;
pub(crate) const MAGIC_POS: usize = 16;
pub(crate) const CRC_POS: usize = 17;
pub(crate) const ATTRIBUTES_POS: usize = 21;
pub(crate) const LAST_OFFSET_DELTA_POS: usize = 23;
pub(crate) const BASE_TIMESTAMP_POS: usize = 27;
pub(crate) const MAX_TIMESTAMP_POS: usize = 35;
pub(crate) const PRODUCER_ID_POS: usize = 43;
pub(crate) const PRODUCER_EPOCH_POS: usize = 51;
pub(crate) const BASE_SEQUENCE_POS: usize = 53;
pub(crate) const RECORDS_COUNT_POS: usize = 57;
/// Bytes a reader needs to find a batch's size and format.
pub(crate) const HEADER_SIZE_UP_TO_MAGIC: usize = MAGIC_POS + 1;

const COMPRESSION_MASK: u16 = 0x07;
const TIMESTAMP_TYPE_BIT: u16 = 0x08;
const TRANSACTIONAL_BIT: u16 = 0x10;
const CONTROL_BIT: u16 = 0x20;
pub(crate) const DELETE_HORIZON_BIT: u16 = 0x40;

#[inline]
pub(crate) fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
pub(crate) fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// The attributes field of a batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BatchAttributes(pub u16);

impl BatchAttributes {
    /// Builds the attributes for a batch.
    pub fn new(
        compression: Compression,
        timestamp_type: TimestampType,
        transactional: bool,
        control: bool,
    ) -> Self {
        let mut bits = u16::from(compression.id());
        if timestamp_type == TimestampType::LogAppendTime {
            bits |= TIMESTAMP_TYPE_BIT;
        }
        if transactional {
            bits |= TRANSACTIONAL_BIT;
        }
        if control {
            bits |= CONTROL_BIT;
        }
        BatchAttributes(bits)
    }

    /// The raw codec id (bits 0-2).
    pub fn compression_id(self) -> u8 {
        (self.0 & COMPRESSION_MASK) as u8
    }

    /// The codec, or `None` for the invalid ids 5-7.
    pub fn compression(self) -> Option<Compression> {
        Compression::from_id(self.compression_id())
    }

    /// The timestamp type (bit 3).
    pub fn timestamp_type(self) -> TimestampType {
        if self.0 & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch belongs to a transaction (bit 4).
    pub fn is_transactional(self) -> bool {
        self.0 & TRANSACTIONAL_BIT != 0
    }

    /// Whether the batch is a control batch, e.g. a transaction marker (bit 5).
    pub fn is_control(self) -> bool {
        self.0 & CONTROL_BIT != 0
    }

    /// Whether the base timestamp holds a compaction delete horizon (bit 6).
    pub fn has_delete_horizon(self) -> bool {
        self.0 & DELETE_HORIZON_BIT != 0
    }
}

/// The fixed 61-byte header of a v2 record batch, decoded and checked.
///
/// Fields keep Kafka's meaning; values that can never be negative in a
/// valid batch (offsets, counts, lengths) are unsigned here and a negative
/// value on disk is a decoding error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchHeader {
    /// Offset of the first record (before offset deltas).
    pub base_offset: u64,
    /// Bytes after the length field; the whole batch is `batch_length + 12`.
    pub batch_length: u32,
    /// The leader epoch that appended the batch; -1 when unknown.
    pub partition_leader_epoch: i32,
    /// Format version; always 2 for a decoded header.
    pub magic: u8,
    /// Stored CRC-32C of bytes 21 to the end of the batch.
    pub crc: u32,
    /// Codec, timestamp type, transactional and control flags.
    pub attributes: BatchAttributes,
    /// Last offset minus base offset.
    pub last_offset_delta: u32,
    /// Timestamp of the first record, -1 for none, or the delete horizon.
    pub base_timestamp: i64,
    /// Largest record timestamp, or the log append time.
    pub max_timestamp: i64,
    /// Idempotent/transactional producer id; -1 for none.
    pub producer_id: i64,
    /// Producer epoch; -1 for none.
    pub producer_epoch: i16,
    /// Sequence number of the first record; -1 for none.
    pub base_sequence: i32,
    /// Number of records in the batch (0 is legal after compaction).
    pub records_count: u32,
}

impl BatchHeader {
    /// Decodes and checks the header at the start of `bytes`, which must
    /// hold at least 61 bytes. Does not look at the records or the CRC.
    pub(crate) fn parse(bytes: &[u8]) -> Result<BatchHeader, DecodeError> {
        if bytes.len() < BATCH_HEADER_LEN {
            return Err(DecodeError::new(
                0,
                format!(
                    "batch header needs {BATCH_HEADER_LEN} bytes, only {} present",
                    bytes.len()
                ),
            ));
        }
        let size = frame_size(bytes)?;
        if size < BATCH_HEADER_LEN {
            return Err(DecodeError::new(
                LENGTH_POS,
                format!("batch size {size} is below the minimum of {BATCH_HEADER_LEN} bytes"),
            ));
        }
        let base_offset = be_i64(bytes, BASE_OFFSET_POS);
        let base_offset = u64::try_from(base_offset).map_err(|_| {
            DecodeError::new(
                BASE_OFFSET_POS,
                format!("negative base offset {base_offset}"),
            )
        })?;
        let attributes = BatchAttributes(be_i16(bytes, ATTRIBUTES_POS) as u16);
        if attributes.compression().is_none() {
            return Err(DecodeError::new(
                ATTRIBUTES_POS,
                format!(
                    "unknown compression type id {}",
                    attributes.compression_id()
                ),
            ));
        }
        let last_offset_delta = be_i32(bytes, LAST_OFFSET_DELTA_POS);
        let last_offset_delta = u32::try_from(last_offset_delta).map_err(|_| {
            DecodeError::new(
                LAST_OFFSET_DELTA_POS,
                format!("negative last offset delta {last_offset_delta}"),
            )
        })?;
        if base_offset
            .checked_add(u64::from(last_offset_delta))
            .is_none_or(|l| l > i64::MAX as u64)
        {
            return Err(DecodeError::new(
                LAST_OFFSET_DELTA_POS,
                "last offset does not fit in a signed 64-bit offset",
            ));
        }
        let records_count = be_i32(bytes, RECORDS_COUNT_POS);
        let records_count = u32::try_from(records_count).map_err(|_| {
            DecodeError::new(
                RECORDS_COUNT_POS,
                format!("negative records count {records_count}"),
            )
        })?;
        Ok(BatchHeader {
            base_offset,
            batch_length: (size - LOG_OVERHEAD) as u32,
            partition_leader_epoch: be_i32(bytes, LEADER_EPOCH_POS),
            magic: MAGIC_V2,
            crc: be_i32(bytes, CRC_POS) as u32,
            attributes,
            last_offset_delta,
            base_timestamp: be_i64(bytes, BASE_TIMESTAMP_POS),
            max_timestamp: be_i64(bytes, MAX_TIMESTAMP_POS),
            producer_id: be_i64(bytes, PRODUCER_ID_POS),
            producer_epoch: be_i16(bytes, PRODUCER_EPOCH_POS),
            base_sequence: be_i32(bytes, BASE_SEQUENCE_POS),
            records_count,
        })
    }

    /// Size of the whole batch in bytes.
    pub fn size(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }

    /// Offset of the last record (`base_offset + last_offset_delta`).
    pub fn last_offset(&self) -> u64 {
        self.base_offset + u64::from(self.last_offset_delta)
    }

    /// The offset after this batch.
    pub fn next_offset(&self) -> u64 {
        self.last_offset() + 1
    }

    /// The batch's codec (always valid in a decoded header).
    pub fn compression(&self) -> Compression {
        self.attributes.compression().unwrap_or_default()
    }

    /// The batch's timestamp type.
    pub fn timestamp_type(&self) -> TimestampType {
        self.attributes.timestamp_type()
    }

    /// Whether this is a control batch (transaction marker and the like).
    pub fn is_control(&self) -> bool {
        self.attributes.is_control()
    }

    /// Whether this batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes.is_transactional()
    }
}

/// What the first bytes of a batch say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame {
    /// Fewer than 17 bytes: not enough to tell.
    Short,
    /// A batch of `size` bytes starts here (it may not all be present).
    Batch { size: usize },
}

/// The batch size declared by the length field at bytes 8..12.
fn frame_size(bytes: &[u8]) -> Result<usize, DecodeError> {
    let length = be_i32(bytes, LENGTH_POS);
    if length < (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32 {
        return Err(DecodeError::new(
            LENGTH_POS,
            format!(
                "batch length {length} is below the minimum of {}",
                BATCH_HEADER_LEN - LOG_OVERHEAD
            ),
        ));
    }
    Ok(length as usize + LOG_OVERHEAD)
}

/// Looks at the start of a batch the way Kafka's file iterator does: with
/// fewer than 17 bytes there is nothing to read; a length field too small
/// for a v2 batch, or a magic other than 2, is an error; otherwise the
/// batch's declared size.
pub(crate) fn peek_frame(bytes: &[u8]) -> Result<Frame, DecodeError> {
    if bytes.len() < HEADER_SIZE_UP_TO_MAGIC {
        return Ok(Frame::Short);
    }
    let size = frame_size(bytes)?;
    check_magic(bytes[MAGIC_POS])?;
    Ok(Frame::Batch { size })
}

fn check_magic(magic: u8) -> Result<(), DecodeError> {
    match magic {
        MAGIC_V2 => Ok(()),
        0 | 1 => Err(DecodeError::new(
            MAGIC_POS,
            format!("record batch magic {magic} (legacy message format) is not supported; only magic 2 is"),
        )),
        other => Err(DecodeError::new(MAGIC_POS, format!("unknown record batch magic {other}"))),
    }
}

/// One whole record batch, borrowed from the bytes it was parsed from.
#[derive(Debug, Clone, Copy)]
pub struct RecordBatch<'a> {
    header: BatchHeader,
    bytes: &'a [u8],
}

impl<'a> RecordBatch<'a> {
    /// Parses the batch at the start of `bytes` (which may hold more after
    /// it). Checks the header and that the whole batch is present; does not
    /// check the CRC (see [`verify_crc`](Self::verify_crc)).
    ///
    /// # Errors
    /// [`Error::InvalidBatch`] if the bytes are not a complete v2 batch.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        Self::parse_raw(bytes).map_err(DecodeError::in_input)
    }

    pub(crate) fn parse_raw(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        match peek_frame(bytes)? {
            Frame::Short => Err(DecodeError::new(
                0,
                format!("truncated batch: only {} bytes", bytes.len()),
            )),
            Frame::Batch { size } if size > bytes.len() => Err(DecodeError::new(
                0,
                format!(
                    "truncated batch: declares {size} bytes, only {} present",
                    bytes.len()
                ),
            )),
            Frame::Batch { size } => {
                let bytes = &bytes[..size];
                let header = BatchHeader::parse(bytes)?;
                Ok(RecordBatch { header, bytes })
            }
        }
    }

    /// The decoded header.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The batch's bytes, exactly as stored.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The batch's size in bytes.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// The CRC-32C the stored bytes actually have.
    pub fn computed_crc(&self) -> u32 {
        crc32c::crc32c(&self.bytes[ATTRIBUTES_POS..])
    }

    /// Checks the stored CRC against the bytes.
    ///
    /// # Errors
    /// [`Error::InvalidBatch`] on a mismatch.
    pub fn verify_crc(&self) -> Result<(), Error> {
        self.check_crc().map_err(DecodeError::in_input)
    }

    pub(crate) fn check_crc(&self) -> Result<(), DecodeError> {
        let computed = self.computed_crc();
        if computed == self.header.crc {
            Ok(())
        } else {
            Err(DecodeError::new(
                0,
                format!(
                    "CRC-32C mismatch in batch at base offset {}: stored {:#010x}, computed {:#010x}",
                    self.header.base_offset, self.header.crc, computed
                ),
            ))
        }
    }

    /// Iterates over the batch's records, decompressing them into `scratch`
    /// first if the batch is compressed. Every length is checked as the
    /// iterator goes; a malformed record ends it with an error.
    ///
    /// # Errors
    /// [`Error::CompressionUnavailable`] if the codec is not compiled in,
    /// [`Error::InvalidBatch`] if the compressed stream is malformed.
    pub fn records<'s>(&self, scratch: &'s mut Vec<u8>) -> Result<RecordIter<'s>, Error>
    where
        'a: 's,
    {
        self.records_raw(scratch).map_err(DecodeError::in_input)
    }

    pub(crate) fn records_raw<'s>(
        &self,
        scratch: &'s mut Vec<u8>,
    ) -> Result<RecordIter<'s>, DecodeError>
    where
        'a: 's,
    {
        let body = &self.bytes[BATCH_HEADER_LEN..];
        match self.header.compression() {
            Compression::None => Ok(RecordIter::new(&self.header, body, Some(BATCH_HEADER_LEN))),
            codec => {
                scratch.clear();
                compression::decompress(codec, body, scratch)
                    .map_err(|e| e.shifted(BATCH_HEADER_LEN))?;
                Ok(RecordIter::new(&self.header, scratch, None))
            }
        }
    }
}

/// Iterates over the complete batches laid end to end in a buffer (a
/// produce request, a fetched range, a whole `.log` file read into memory).
///
/// Each item is checked as [`RecordBatch::parse`] checks; bytes after the
/// last complete batch are an error, as is anything that is not a batch.
/// CRCs are not checked.
///
/// ```
/// use seglog::{BatchBuilder, Record, record};
/// let mut bytes = BatchBuilder::new().build(&[Record::new("a").with_timestamp(1)])?;
/// bytes.extend(BatchBuilder::new().base_offset(1).build(&[Record::new("b").with_timestamp(2)])?);
/// let offsets: Vec<u64> = record::batches(&bytes)
///     .map(|b| b.map(|b| b.header().base_offset))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(offsets, [0, 1]);
/// # Ok::<(), seglog::Error>(())
/// ```
pub fn batches(bytes: &[u8]) -> Batches<'_> {
    Batches {
        bytes,
        position: 0,
        failed: false,
    }
}

/// The iterator returned by [`batches`].
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    bytes: &'a [u8],
    position: usize,
    failed: bool,
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<RecordBatch<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.position >= self.bytes.len() {
            return None;
        }
        match RecordBatch::parse_raw(&self.bytes[self.position..]) {
            Ok(batch) => {
                self.position += batch.size();
                Some(Ok(batch))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e.shifted(self.position).in_input()))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Golden vector A of the reference: 2 records, CRC 0x32DEAE19.
    pub(crate) const VECTOR_A: &str =
        "00000000000000000000004c000000000232deae190000000000010000018bcf\
        e568000000018bcfe56805ffffffffffffffffffffffffffff00000002140000\
        00046b31047631001e000a02010a68656c6c6f0202680278";

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn parses_golden_vector_a_header() {
        let bytes = hex(VECTOR_A);
        assert_eq!(bytes.len(), 88);
        let batch = RecordBatch::parse(&bytes).unwrap();
        let h = batch.header();
        assert_eq!(h.base_offset, 0);
        assert_eq!(h.size(), 88);
        assert_eq!(h.crc, 0x32DE_AE19);
        assert_eq!(h.last_offset(), 1);
        assert_eq!(h.base_timestamp, 1_700_000_000_000);
        assert_eq!(h.max_timestamp, 1_700_000_000_005);
        assert_eq!(h.producer_id, -1);
        assert_eq!(h.records_count, 2);
        assert_eq!(h.compression(), Compression::None);
        batch.verify_crc().unwrap();
    }

    #[test]
    fn crc_covers_attributes_onwards_but_not_offset_or_epoch() {
        let original = hex(VECTOR_A);
        for i in 0..original.len() {
            let mut b = original.clone();
            b[i] ^= 0x01;
            let parsed = RecordBatch::parse_raw(&b);
            let crc_ok = parsed.as_ref().map(|p| p.check_crc().is_ok());
            if i < LENGTH_POS || (LEADER_EPOCH_POS..MAGIC_POS).contains(&i) {
                assert_eq!(crc_ok, Ok(true), "byte {i} is outside the CRC");
            } else if i >= ATTRIBUTES_POS || (CRC_POS..ATTRIBUTES_POS).contains(&i) {
                assert_ne!(crc_ok, Ok(true), "byte {i} must break the batch");
            }
        }
    }

    #[test]
    fn kafka_crc32c_vector() {
        assert_eq!(crc32c::crc32c(b"Some String"), 608_512_271);
        let half = crc32c::crc32c(b"Some ");
        assert_eq!(crc32c::crc32c_append(half, b"String"), 608_512_271);
    }

    #[test]
    fn short_or_bad_frames_are_rejected() {
        let bytes = hex(VECTOR_A);
        assert_eq!(peek_frame(&bytes[..16]).unwrap(), Frame::Short);
        assert_eq!(peek_frame(&bytes[..17]).unwrap(), Frame::Batch { size: 88 });
        assert!(RecordBatch::parse_raw(&bytes[..87])
            .unwrap_err()
            .reason
            .contains("truncated"));
        let mut zeros = [0u8; 61];
        assert!(peek_frame(&zeros).unwrap_err().reason.contains("length 0"));
        zeros[11] = 49;
        zeros[16] = 1;
        assert!(peek_frame(&zeros).unwrap_err().reason.contains("legacy"));
        let mut bad_codec = bytes.clone();
        bad_codec[22] = 0x05;
        assert!(RecordBatch::parse_raw(&bad_codec)
            .unwrap_err()
            .reason
            .contains("unknown compression type id 5"));
        let mut negative_count = bytes;
        negative_count[57] = 0xff;
        assert!(RecordBatch::parse_raw(&negative_count)
            .unwrap_err()
            .reason
            .contains("negative records count"));
    }

    #[test]
    fn batches_iterates_and_reports_trailing_garbage() {
        let mut bytes = hex(VECTOR_A);
        bytes.extend(hex(VECTOR_A));
        assert_eq!(batches(&bytes).count(), 2);
        bytes.extend([0, 0, 0]);
        let items: Vec<_> = batches(&bytes).collect();
        assert_eq!(items.len(), 3);
        match &items[2] {
            Err(Error::InvalidBatch { position, .. }) => assert_eq!(*position, 176),
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

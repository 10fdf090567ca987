//! Decoding the records inside a batch, without copying them.

use super::varint::{get_varint, get_varlong};
use super::{BatchHeader, DecodeError, Header, LogRecord, TimestampType};

/// A record decoded in place: its key, value and headers borrow the batch
/// (or decompression) buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// The record's offset.
    pub offset: u64,
    /// Its timestamp: base timestamp + delta, or the batch's max timestamp
    /// for a log-append-time batch.
    pub timestamp: i64,
    /// What the timestamp means.
    pub timestamp_type: TimestampType,
    /// The key, or `None`.
    pub key: Option<&'a [u8]>,
    /// The value, or `None` for a tombstone.
    pub value: Option<&'a [u8]>,
    headers: &'a [u8],
    header_count: u32,
}

/// One header of a [`RecordView`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderView<'a> {
    /// The header key's bytes (UTF-8 when written by a Kafka client).
    pub key: &'a [u8],
    /// The value, or `None` for null.
    pub value: Option<&'a [u8]>,
}

impl<'a> RecordView<'a> {
    /// Iterates over the record's headers (already validated when the
    /// record was decoded).
    pub fn headers(&self) -> impl Iterator<Item = HeaderView<'a>> + 'a {
        let data = self.headers;
        let mut pos = 0usize;
        (0..self.header_count).map_while(move |_| {
            // The region was fully decoded once, so these cannot fail.
            let (h, next) = decode_header(data, pos, data.len()).ok()?;
            pos = next;
            Some(h)
        })
    }

    /// The number of headers.
    pub fn header_count(&self) -> usize {
        self.header_count as usize
    }

    /// The headers region as encoded (without its count), to copy into a
    /// rebuilt batch.
    pub(crate) fn raw_headers(&self) -> &'a [u8] {
        self.headers
    }

    /// An owned copy of the record.
    pub fn to_owned(&self) -> LogRecord {
        LogRecord {
            offset: self.offset,
            timestamp: self.timestamp,
            timestamp_type: self.timestamp_type,
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.map(<[u8]>::to_vec),
            headers: self
                .headers()
                .map(|h| Header {
                    key: String::from_utf8_lossy(h.key).into_owned(),
                    value: h.value.map(<[u8]>::to_vec),
                })
                .collect(),
        }
    }
}

/// The fields of a record both decoders found, before its view is built.
struct Decoded<'s> {
    end: usize,
    timestamp_delta: i64,
    offset_delta: u32,
    key: Option<&'s [u8]>,
    value: Option<&'s [u8]>,
    headers: &'s [u8],
    header_count: u32,
}

/// A record's offset and key, as [`RecordIter::next_key`] finds them.
pub(crate) type KeyAt<'s> = (u64, Option<&'s [u8]>);

/// A record's fields up to its key, decoded.
struct Head {
    /// Where the key's length starts.
    key_at: usize,
    /// Where the record ends.
    end: usize,
    timestamp_delta: i64,
    offset_delta: u32,
}

/// A saved position of a [`RecordIter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordCursor {
    pos: usize,
    remaining: u32,
    index: u32,
    done: bool,
}

/// Iterates over the records of one batch; see [`RecordBatch::records`].
///
/// [`RecordBatch::records`]: super::RecordBatch::records
#[derive(Debug, Clone)]
pub struct RecordIter<'s> {
    data: &'s [u8],
    pos: usize,
    remaining: u32,
    index: u32,
    base_offset: u64,
    last_offset_delta: u32,
    base_timestamp: i64,
    max_timestamp: i64,
    timestamp_type: TimestampType,
    /// Where `data` starts within the batch, for uncompressed batches;
    /// `None` when `data` is a decompressed stream.
    shift: Option<usize>,
    done: bool,
}

impl<'s> RecordIter<'s> {
    pub(crate) fn new(header: &BatchHeader, data: &'s [u8], shift: Option<usize>) -> Self {
        RecordIter {
            data,
            pos: 0,
            remaining: header.records_count,
            index: 0,
            base_offset: header.base_offset,
            last_offset_delta: header.last_offset_delta,
            base_timestamp: header.base_timestamp,
            max_timestamp: header.max_timestamp,
            timestamp_type: header.timestamp_type(),
            shift,
            done: false,
        }
    }

    /// Where the iterator stands, to resume it later over the same bytes.
    pub(crate) fn cursor(&self) -> RecordCursor {
        RecordCursor {
            pos: self.pos,
            remaining: self.remaining,
            index: self.index,
            done: self.done,
        }
    }

    /// An iterator over `data` (as for [`new`](Self::new)) that continues
    /// where `cursor` was taken.
    pub(crate) fn resume(
        header: &BatchHeader,
        data: &'s [u8],
        shift: Option<usize>,
        cursor: RecordCursor,
    ) -> Self {
        RecordIter {
            pos: cursor.pos,
            remaining: cursor.remaining,
            index: cursor.index,
            done: cursor.done,
            ..Self::new(header, data, shift)
        }
    }

    /// Steps over the records whose offset is below `min_offset`, reading
    /// only their length and offset delta (the batch CRC covers the rest;
    /// a skipped record is never handed out). Stops early, leaving the
    /// record for [`next_raw`](Self::next_raw) to decode or report, at
    /// anything it cannot step over.
    pub(crate) fn skip_below(&mut self, min_offset: u64) {
        let Some(min_delta) = min_offset.checked_sub(self.base_offset) else {
            return;
        };
        while self.remaining > 0 && !self.done {
            let data = self.data;
            let mut pos = self.pos;
            let Some(end) = fast_varint(data, &mut pos)
                .and_then(|l| usize::try_from(l).ok())
                .and_then(|l| pos.checked_add(l))
                .filter(|&e| e <= data.len() && e > pos)
            else {
                return;
            };
            pos += 1; // attributes
            let body = &data[..end];
            let Some(delta) = fast_varlong(body, &mut pos)
                .and_then(|_| fast_varint(body, &mut pos))
                .and_then(|d| u32::try_from(d).ok())
            else {
                return;
            };
            if u64::from(delta) >= min_delta || delta > self.last_offset_delta {
                return;
            }
            self.pos = end;
            self.remaining -= 1;
            self.index += 1;
        }
    }

    /// Where the next record starts in the records region.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Records not yet returned, as the batch header declares them.
    pub fn remaining(&self) -> usize {
        self.remaining as usize
    }

    fn fail(&mut self, e: DecodeError) -> Option<Result<RecordView<'s>, DecodeError>> {
        self.done = true;
        self.remaining = 0;
        let e = match self.shift {
            Some(shift) => e.shifted(shift),
            None => DecodeError::new(
                0,
                format!(
                    "{} (at byte {} of the decompressed records)",
                    e.reason, e.position
                ),
            ),
        };
        Some(Err(e))
    }

    /// The next record, with errors as [`DecodeError`]. Valid records take
    /// the inlined fast path; the end of the batch and every error go
    /// through [`next_slow`](Self::next_slow).
    #[inline(always)]
    pub(crate) fn next_raw(&mut self) -> Option<Result<RecordView<'s>, DecodeError>> {
        if self.remaining > 0 {
            if let Some(view) = self.decode_fast() {
                self.remaining -= 1;
                self.index += 1;
                return Some(Ok(view));
            }
        }
        self.next_slow()
    }

    /// The offset and key of the next record, stepping over the rest of
    /// it: the cleaner maps keys this way, and checks the values and
    /// headers of the records it keeps when it copies them. A record that
    /// does not decode quickly is decoded in full, so that errors read as
    /// [`next_raw`](Self::next_raw)'s.
    #[inline]
    pub(crate) fn next_key(&mut self) -> Option<Result<KeyAt<'s>, DecodeError>> {
        if self.remaining > 0 {
            if let Some(found) = self.key_fast() {
                self.remaining -= 1;
                self.index += 1;
                return Some(Ok(found));
            }
        }
        self.next_slow()
            .map(|r| r.map(|view| (view.offset, view.key)))
    }

    #[inline(always)]
    fn key_fast(&mut self) -> Option<KeyAt<'s>> {
        let head = self.fast_head()?;
        let mut pos = head.key_at;
        let key = fast_nullable(&self.data[..head.end], &mut pos)?;
        self.pos = head.end;
        Some((self.base_offset + u64::from(head.offset_delta), key))
    }

    #[cold]
    #[inline(never)]
    fn next_slow(&mut self) -> Option<Result<RecordView<'s>, DecodeError>> {
        if self.done {
            return None;
        }
        if self.remaining == 0 {
            self.done = true;
            if self.pos != self.data.len() {
                let extra = self.data.len() - self.pos;
                return self.fail(DecodeError::new(
                    self.pos,
                    format!(
                        "incorrect declared batch size: {extra} bytes left after the {} declared records",
                        self.index
                    ),
                ));
            }
            return None;
        }
        match self.decode_precise() {
            Ok(view) => {
                self.remaining -= 1;
                self.index += 1;
                Some(Ok(view))
            }
            Err(e) => self.fail(e),
        }
    }

    /// The fields of the record at the iterator's position up to its key,
    /// checked as [`decode_precise`](Self::decode_precise) checks them.
    #[inline(always)]
    fn fast_head(&self) -> Option<Head> {
        let data = self.data;
        let mut pos = self.pos;
        let length = usize::try_from(fast_varint(data, &mut pos)?).ok()?;
        let end = pos.checked_add(length).filter(|&e| e <= data.len())?;
        let body = &data[..end];
        if pos >= end {
            return None;
        }
        pos += 1; // attributes
        let timestamp_delta = fast_varlong(body, &mut pos)?;
        let offset_delta = u32::try_from(fast_varint(body, &mut pos)?)
            .ok()
            .filter(|&d| d <= self.last_offset_delta)?;
        Some(Head {
            key_at: pos,
            end,
            timestamp_delta,
            offset_delta,
        })
    }

    /// The same checks as [`decode_precise`](Self::decode_precise), with
    /// `None` for any failure and nothing else to carry.
    #[inline(always)]
    fn decode_fast(&mut self) -> Option<RecordView<'s>> {
        let data = self.data;
        let Head {
            key_at: mut pos,
            end,
            timestamp_delta,
            offset_delta,
        } = self.fast_head()?;
        let body = &data[..end];
        let key = fast_nullable(body, &mut pos)?;
        let value = fast_nullable(body, &mut pos)?;
        let header_count = u32::try_from(fast_varint(body, &mut pos)?)
            .ok()
            .filter(|&c| c as usize <= end - pos)?;
        let headers_start = pos;
        for _ in 0..header_count {
            fast_nullable(body, &mut pos)??;
            fast_nullable(body, &mut pos)?;
        }
        if pos != end {
            return None;
        }
        Some(self.finish(Decoded {
            end,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers: &data[headers_start..end],
            header_count,
        }))
    }

    fn decode_precise(&mut self) -> Result<RecordView<'s>, DecodeError> {
        let data = self.data;
        let record_start = self.pos;
        if record_start >= data.len() {
            return Err(DecodeError::new(
                record_start,
                format!(
                    "batch declares {} more records but its data has ended",
                    self.remaining
                ),
            ));
        }
        let mut pos = record_start;
        let length = get_varint(data, &mut pos)?;
        let body_start = pos;
        let end = usize::try_from(length)
            .ok()
            .and_then(|l| body_start.checked_add(l))
            .filter(|&e| e <= data.len())
            .ok_or_else(|| {
                DecodeError::new(
                    record_start,
                    format!(
                        "record length {length} does not fit in the {} bytes left",
                        data.len() - body_start
                    ),
                )
            })?;
        let body = &data[..end];
        if pos >= end {
            return Err(DecodeError::new(
                pos,
                "record is missing its attributes byte",
            ));
        }
        pos += 1; // attributes: unused
        let timestamp_delta = get_varlong(body, &mut pos)?;
        let offset_delta_at = pos;
        let offset_delta = get_varint(body, &mut pos)?;
        let offset_delta = u32::try_from(offset_delta)
            .ok()
            .filter(|&d| d <= self.last_offset_delta)
            .ok_or_else(|| {
                DecodeError::new(
                    offset_delta_at,
                    format!(
                        "offset delta {offset_delta} is outside the batch (last offset delta {})",
                        self.last_offset_delta
                    ),
                )
            })?;
        let key = get_nullable_bytes(body, &mut pos, end, "key")?;
        let value = get_nullable_bytes(body, &mut pos, end, "value")?;
        let count_at = pos;
        let header_count = get_varint(body, &mut pos)?;
        let header_count = u32::try_from(header_count)
            .ok()
            .filter(|&c| c as usize <= end - pos)
            .ok_or_else(|| {
                DecodeError::new(count_at, format!("invalid header count {header_count}"))
            })?;
        let headers_start = pos;
        for _ in 0..header_count {
            let (_, next) = decode_header(body, pos, end)?;
            pos = next;
        }
        if pos != end {
            return Err(DecodeError::new(
                record_start,
                format!(
                    "record declares {length} bytes but its fields take {}",
                    pos - body_start
                ),
            ));
        }
        Ok(self.finish(Decoded {
            end,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers: &data[headers_start..end],
            header_count,
        }))
    }

    /// Moves past a decoded record and builds its view.
    #[inline(always)]
    fn finish(&mut self, d: Decoded<'s>) -> RecordView<'s> {
        self.pos = d.end;
        let timestamp = match self.timestamp_type {
            TimestampType::LogAppendTime => self.max_timestamp,
            TimestampType::CreateTime => self.base_timestamp.wrapping_add(d.timestamp_delta),
        };
        RecordView {
            offset: self.base_offset + u64::from(d.offset_delta),
            timestamp,
            timestamp_type: self.timestamp_type,
            key: d.key,
            value: d.value,
            headers: d.headers,
            header_count: d.header_count,
        }
    }
}

impl<'s> Iterator for RecordIter<'s> {
    type Item = Result<RecordView<'s>, crate::Error>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_raw().map(|r| r.map_err(DecodeError::in_input))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            (0, Some(self.remaining as usize + 1))
        }
    }
}

/// An unsigned base-128 number of at most `max` bytes, or `None`.
#[inline(always)]
fn fast_unsigned(data: &[u8], pos: &mut usize, max: usize) -> Option<u64> {
    // Most numbers in a record take one or two bytes.
    let b0 = *data.get(*pos)?;
    if b0 < 0x80 {
        *pos += 1;
        return Some(u64::from(b0));
    }
    let b1 = *data.get(*pos + 1)?;
    if b1 < 0x80 {
        *pos += 2;
        return Some(u64::from(b0 & 0x7f) | u64::from(b1) << 7);
    }
    let mut value = 0u64;
    for i in 0..max {
        let b = *data.get(*pos + i)?;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *pos += i + 1;
            return Some(value);
        }
    }
    None
}

#[inline(always)]
fn fast_varint(data: &[u8], pos: &mut usize) -> Option<i32> {
    let u = fast_unsigned(data, pos, 5)? as u32;
    Some(((u >> 1) as i32) ^ -((u & 1) as i32))
}

#[inline(always)]
fn fast_varlong(data: &[u8], pos: &mut usize) -> Option<i64> {
    let u = fast_unsigned(data, pos, 10)?;
    Some(((u >> 1) as i64) ^ -((u & 1) as i64))
}

/// A nullable length-prefixed field: `Some(None)` for null, `None` for an
/// invalid one. `data` ends where the record ends.
#[inline(always)]
fn fast_nullable<'a>(data: &'a [u8], pos: &mut usize) -> Option<Option<&'a [u8]>> {
    let len = fast_varint(data, pos)?;
    if len == -1 {
        return Some(None);
    }
    let start = *pos;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    let bytes = data.get(start..end)?;
    *pos = end;
    Some(Some(bytes))
}

/// Reads a length-prefixed field that may be null (`-1`), within `..end`.
fn get_nullable_bytes<'a>(
    data: &'a [u8],
    pos: &mut usize,
    end: usize,
    what: &str,
) -> Result<Option<&'a [u8]>, DecodeError> {
    let at = *pos;
    let len = get_varint(data, pos)?;
    if len == -1 {
        return Ok(None);
    }
    let field_end = usize::try_from(len)
        .ok()
        .and_then(|l| pos.checked_add(l))
        .filter(|&e| e <= end)
        .ok_or_else(|| {
            DecodeError::new(
                at,
                format!("{what} length {len} runs past the end of the record"),
            )
        })?;
    let bytes = &data[*pos..field_end];
    *pos = field_end;
    Ok(Some(bytes))
}

/// Decodes one header at `pos`, returning it and the position after it.
fn decode_header(
    data: &[u8],
    pos: usize,
    end: usize,
) -> Result<(HeaderView<'_>, usize), DecodeError> {
    let mut pos = pos;
    let at = pos;
    let key = get_nullable_bytes(data, &mut pos, end, "header key")?
        .ok_or_else(|| DecodeError::new(at, "header key is null"))?;
    let value = get_nullable_bytes(data, &mut pos, end, "header value")?;
    Ok((HeaderView { key, value }, pos))
}

#[cfg(test)]
mod tests {
    use super::super::batch::tests::{hex, VECTOR_A};
    use super::super::RecordBatch;
    use super::*;

    #[test]
    fn decodes_golden_vector_a_records() {
        let bytes = hex(VECTOR_A);
        let batch = RecordBatch::parse(&bytes).unwrap();
        let mut scratch = Vec::new();
        let records: Vec<LogRecord> = batch
            .records(&mut scratch)
            .unwrap()
            .map(|r| r.unwrap().to_owned())
            .collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].offset, 0);
        assert_eq!(records[0].key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(records[0].value.as_deref(), Some(&b"v1"[..]));
        assert_eq!(records[0].timestamp, 1_700_000_000_000);
        assert!(records[0].headers.is_empty());
        assert_eq!(records[1].offset, 1);
        assert_eq!(records[1].key, None);
        assert_eq!(records[1].value.as_deref(), Some(&b"hello"[..]));
        assert_eq!(records[1].timestamp, 1_700_000_000_005);
        assert_eq!(records[1].headers, vec![Header::new("h", "x")]);
    }

    /// Builds an uncompressed batch around a hand-written records region.
    fn batch_with_records(count: i32, records: &[u8]) -> Vec<u8> {
        let mut b = hex(VECTOR_A)[..61].to_vec();
        b.extend_from_slice(records);
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[57..61].copy_from_slice(&count.to_be_bytes());
        b
    }

    fn first_error(bytes: &[u8]) -> DecodeError {
        let batch = RecordBatch::parse_raw(bytes).unwrap();
        let mut scratch = Vec::new();
        let mut it = batch.records_raw(&mut scratch).unwrap();
        loop {
            match it.next_raw() {
                Some(Ok(_)) => continue,
                Some(Err(e)) => return e,
                None => panic!("expected a decoding error"),
            }
        }
    }

    #[test]
    fn record_level_corruption_is_rejected() {
        // Valid record: length 6: attributes 0, timestamp delta 0, offset
        // delta 0, null key, null value, no headers.
        let ok = [0x0c, 0, 0, 0, 1, 1, 0];
        let batch = batch_with_records(1, &ok);
        let parsed = RecordBatch::parse_raw(&batch).unwrap();
        let mut s = Vec::new();
        assert_eq!(parsed.records_raw(&mut s).unwrap().count(), 1);

        let cases: &[(i32, &[u8], &str)] = &[
            // More records declared than present.
            (2, &[0x0c, 0, 0, 0, 1, 1, 0], "data has ended"),
            // Fewer declared than present.
            (
                0,
                &[0x0c, 0, 0, 0, 1, 1, 0],
                "incorrect declared batch size",
            ),
            // Body length longer than the data.
            (1, &[0x7e, 0, 0, 0, 1, 1, 0], "does not fit"),
            // Body length shorter than the fields.
            (1, &[0x0a, 0, 0, 0, 1, 1, 0], "runs past"),
            // Body length longer than the fields.
            (
                1,
                &[0x0e, 0, 0, 0, 1, 1, 0, 0],
                "declares 7 bytes but its fields take 6",
            ),
            // Key length running past the record.
            (1, &[0x0c, 0, 0, 0, 0x40, 1, 0], "key length 32"),
            // Negative key length other than -1.
            (1, &[0x0c, 0, 0, 0, 3, 1, 0], "key length -2"),
            // Negative header count.
            (1, &[0x0c, 0, 0, 0, 1, 1, 1], "invalid header count -1"),
            // Header count larger than the bytes left.
            (1, &[0x0c, 0, 0, 0, 1, 1, 4], "invalid header count 2"),
            // Null header key.
            (1, &[0x10, 0, 0, 0, 1, 1, 2, 1, 1], "header key is null"),
            // Offset delta beyond the batch's last offset delta (1).
            (1, &[0x0c, 0, 0, 4, 1, 1, 0], "offset delta 2"),
            // Malformed varlong timestamp (never terminates).
            (
                1,
                &[
                    0x18, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                ],
                "longer than 10",
            ),
        ];
        for (count, records, expect) in cases {
            let e = first_error(&batch_with_records(*count, records));
            assert!(
                e.reason.contains(expect),
                "{expect:?} not in {:?}",
                e.reason
            );
            assert!(
                e.position >= 61,
                "position {} should be inside the records",
                e.position
            );
        }
    }
}

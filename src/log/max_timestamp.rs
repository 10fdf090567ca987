//! [`PartitionLog::max_timestamp`]: the largest record timestamp of a log
//! (Kafka's ListOffsets with `MAX_TIMESTAMP`).

use std::sync::Arc;

use super::{FileSlice, PartitionLog, TimestampLookup};
use crate::error::Result;
use crate::record::{DecodeError, RecordBatch};
use crate::segment::{read_lock, Segment, SegmentRead, TimestampOffset};

impl PartitionLog {
    /// The largest record timestamp at or after the log start offset, with
    /// the offset of the record that carries it (Kafka's ListOffsets with
    /// `MAX_TIMESTAMP`, -3), or `None` if the log holds no record there
    /// with a timestamp.
    ///
    /// When several records share the largest timestamp, the one with the
    /// lowest offset wins, as in Kafka: the first segment whose largest
    /// timestamp is the maximum, in it the first batch that reached it, in
    /// that batch the first record carrying it. The offset is that
    /// record's own, not the last offset of its batch (which is what a
    /// time-index entry holds). Records below the log start offset never
    /// count, even in the segment that holds it; nor do records without a
    /// timestamp (-1). Nor does a batch a compaction emptied, which keeps
    /// the largest timestamp of the records it lost: its segment is then
    /// read batch by batch for the largest timestamp a record still has.
    /// (Kafka's answer there is no offset at all.)
    ///
    /// Each segment's largest timestamp comes from its time index (loaded
    /// if needed), then one batch is read to find the record. Only when
    /// that record lies below the log start offset (the segment holding
    /// the start is then read batch by batch from there), or the batch
    /// holds no record with it, is more read.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{LogConfig, PartitionLog, Record};
    /// let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// assert_eq!(log.max_timestamp()?, None);
    /// log.append(&[Record::new("a").with_timestamp(300)])?;
    /// log.roll()?;
    /// log.append(&[Record::new("b").with_timestamp(200)])?;
    /// let max = log.max_timestamp()?.unwrap();
    /// assert_eq!((max.offset, max.timestamp), (0, 300));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Corrupt`] for damaged data on the way; [`Error::Closed`];
    /// [`Error::OffsetOutOfRange`] if retention moves the log start offset
    /// past a segment while it is being read; [`Error::Io`].
    ///
    /// [`Error::Corrupt`]: crate::Error::Corrupt
    /// [`Error::Closed`]: crate::Error::Closed
    /// [`Error::OffsetOutOfRange`]: crate::Error::OffsetOutOfRange
    /// [`Error::Io`]: crate::Error::Io
    pub fn max_timestamp(&self) -> Result<Option<TimestampLookup>> {
        self.inner.check_open()?;
        let start = self.log_start_offset();
        // The segments from the one holding the start on, each with the
        // base offset of the next (where its records end).
        let segments: Vec<(Arc<Segment>, u64)> = {
            let segments = read_lock(&self.inner.segments);
            let first = segments.range(..=start).next_back().map_or(0, |(b, _)| *b);
            let mut it = segments.range(first..).peekable();
            let mut out = Vec::new();
            while let Some((_, s)) = it.next() {
                let until = it.peek().map_or(u64::MAX, |(b, _)| **b);
                out.push((s.clone(), until));
            }
            out
        };
        let mut candidates = Vec::with_capacity(segments.len());
        for (seg, until) in segments {
            let max = seg.max_timestamp()?;
            candidates.push(MaxCandidate {
                seg,
                until,
                max: Some(max).filter(|m| m.timestamp >= 0),
                exact: None,
            });
        }
        let leo = self.log_end_offset();
        loop {
            // The first segment with the largest timestamp. The segment
            // holding the start may claim a record below it: checked when
            // it wins, then replaced by what a scan from the start finds.
            let mut winner: Option<&mut MaxCandidate> = None;
            for c in &mut candidates {
                let ts = c.timestamp();
                if ts.is_some() && winner.as_ref().is_none_or(|w| ts > w.timestamp()) {
                    winner = Some(c);
                }
            }
            let Some(w) = winner else {
                return Ok(None);
            };
            let max = match (w.exact, w.max) {
                (Some(exact), _) => return Ok(Some(exact)),
                (None, Some(max)) => max,
                (None, None) => return Ok(None),
            };
            if max.offset >= start {
                if let Some(offset) = first_record_with(&w.seg, max, start, leo)? {
                    return Ok(Some(TimestampLookup {
                        offset,
                        timestamp: max.timestamp,
                    }));
                }
            }
            let from = w.seg.base_offset().max(start);
            let found = self.scan_max_timestamp(from, w.until)?;
            w.max = None;
            w.exact = found;
        }
    }

    /// The largest record timestamp in `from..until`, and the first record
    /// carrying it, read batch by batch.
    fn scan_max_timestamp(&self, from: u64, until: u64) -> Result<Option<TimestampLookup>> {
        let mut best: Option<TimestampLookup> = None;
        let mut reader = self.reader(from);
        while let Some(batch) = reader.next_batch()? {
            let header = *batch.header();
            if header.base_offset >= until {
                break;
            }
            if best.is_some_and(|b| header.max_timestamp <= b.timestamp) {
                continue;
            }
            for r in batch {
                let r = r?;
                if r.offset >= until {
                    break;
                }
                if r.timestamp >= 0 && best.is_none_or(|b| r.timestamp > b.timestamp) {
                    best = Some(TimestampLookup {
                        offset: r.offset,
                        timestamp: r.timestamp,
                    });
                }
            }
        }
        Ok(best)
    }
}

/// A segment's claim in [`PartitionLog::max_timestamp`].
struct MaxCandidate {
    seg: Arc<Segment>,
    /// The next segment's base offset (`u64::MAX` for the last).
    until: u64,
    /// The segment's largest timestamp and the last offset of the first
    /// batch carrying it, from its time index; `None` once scanned or if
    /// it has no timestamp.
    max: Option<TimestampOffset>,
    /// What a scan from the log start offset found.
    exact: Option<TimestampLookup>,
}

impl MaxCandidate {
    fn timestamp(&self) -> Option<i64> {
        self.exact
            .map(|e| e.timestamp)
            .or(self.max.map(|m| m.timestamp))
    }
}

/// The offset of the first record at or after `start` with timestamp
/// `max.timestamp` in the batch of `seg` ending at `max.offset`, or `None`
/// if that batch has no such record (or is not that batch).
fn first_record_with(
    seg: &Segment,
    max: TimestampOffset,
    start: u64,
    leo: u64,
) -> Result<Option<u64>> {
    let slice = match seg.read(
        max.offset,
        1,
        u64::MAX,
        leo.max(max.offset.saturating_add(1)),
        true,
    )? {
        SegmentRead::Slice { slice, .. } => FileSlice::from_segment(slice),
        SegmentRead::Nothing | SegmentRead::Stop => return Ok(None),
    };
    let bytes = slice.to_vec()?;
    let in_file = |e: DecodeError| e.in_file(slice.path(), slice.position());
    let batch = RecordBatch::parse_raw(&bytes).map_err(in_file)?;
    batch.check_crc().map_err(in_file)?;
    let header = batch.header();
    if header.last_offset() != max.offset || header.max_timestamp != max.timestamp {
        return Ok(None);
    }
    let mut scratch = Vec::new();
    let mut records = batch.records_raw(&mut scratch).map_err(in_file)?;
    while let Some(r) = records.next_raw() {
        let r = r.map_err(in_file)?;
        if r.offset >= start && r.timestamp == max.timestamp {
            return Ok(Some(r.offset));
        }
    }
    Ok(None)
}

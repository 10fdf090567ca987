//! How a [`Consumer`] reads its partitions: batches read from a log are
//! kept as bytes ([`Fetched`]) and decoded one record at a time as a poll
//! hands them out, owned ([`Consumer::poll`]) or borrowed
//! ([`Consumer::poll_each`], [`ConsumerRecordRef`]).

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use super::consumer::{resolve, Consumer, ConsumerRecord};
use crate::error::{Error, Result};
use crate::log::{checked_batch_at, record_bytes, CrcCheck, FetchData, FoundBatch};
use crate::record::{BatchHeader, HeaderView, RecordCursor, RecordIter, RecordView, TimestampType};

/// The most a consumer reads from a partition at a time; a poll reads
/// again while it has room.
const READ_CHUNK_BYTES: u64 = 64 * 1024;

/// A record handed to the closure of [`Consumer::poll_each`]: the fields
/// of a [`ConsumerRecord`], borrowed from the bytes read from the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerRecordRef<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: u32,
    /// The record's offset.
    pub offset: u64,
    /// Its timestamp (milliseconds since the Unix epoch).
    pub timestamp: i64,
    /// Whether that is the creation or the log-append time.
    pub timestamp_type: TimestampType,
    /// The key, or `None`.
    pub key: Option<&'a [u8]>,
    /// The value, or `None` for a tombstone.
    pub value: Option<&'a [u8]>,
    record: RecordView<'a>,
}

impl<'a> ConsumerRecordRef<'a> {
    fn new(topic: &'a str, partition: u32, record: RecordView<'a>) -> Self {
        ConsumerRecordRef {
            topic,
            partition,
            offset: record.offset,
            timestamp: record.timestamp,
            timestamp_type: record.timestamp_type,
            key: record.key,
            value: record.value,
            record,
        }
    }

    /// The headers, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use seglog::{AutoOffsetReset, ConsumerConfig, LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("events", 1, &[])?;
    /// let producer = store.producer(Default::default());
    /// producer.send_and_wait(ProducerRecord::new("events", "a").with_header("trace", "t1"))?;
    /// let config = ConsumerConfig { auto_offset_reset: AutoOffsetReset::Earliest, ..Default::default() };
    /// let mut consumer = store.consumer(config);
    /// consumer.assign(&[("events", 0)])?;
    /// let mut traces = Vec::new();
    /// consumer.poll_each(Duration::from_millis(100), |record| {
    ///     traces.extend(record.headers().map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec))));
    /// })?;
    /// assert_eq!(traces, [(b"trace".to_vec(), Some(b"t1".to_vec()))]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn headers(&self) -> impl Iterator<Item = HeaderView<'a>> + 'a {
        self.record.headers()
    }

    /// An owned copy: the record [`Consumer::poll`] would have returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use seglog::{AutoOffsetReset, ConsumerConfig, LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("events", 1, &[])?;
    /// # let producer = store.producer(Default::default());
    /// # producer.send_and_wait(ProducerRecord::new("events", "a").with_key("k"))?;
    /// let config = ConsumerConfig { auto_offset_reset: AutoOffsetReset::Earliest, ..Default::default() };
    /// let mut consumer = store.consumer(config);
    /// consumer.assign(&[("events", 0)])?;
    /// let mut kept = Vec::new();
    /// consumer.poll_each(Duration::from_millis(100), |record| kept.push(record.to_owned()))?;
    /// assert_eq!(kept[0].key.as_deref(), Some(&b"k"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_owned(&self) -> ConsumerRecord {
        owned(Arc::from(self.topic), self.partition, &self.record)
    }
}

fn owned(topic: Arc<str>, partition: u32, r: &RecordView<'_>) -> ConsumerRecord {
    let r = r.to_owned();
    ConsumerRecord {
        topic,
        partition,
        offset: r.offset,
        timestamp: r.timestamp,
        timestamp_type: r.timestamp_type,
        key: r.key,
        value: r.value,
        headers: r.headers,
    }
}

/// Where a poll puts the records it hands out.
pub(super) trait Sink {
    /// Records handed out so far.
    fn count(&self) -> usize;
    /// Hands out one record.
    fn take(&mut self, topic: &Arc<str>, partition: u32, record: RecordView<'_>);
    /// Makes room for up to `additional` more records.
    fn reserve(&mut self, _additional: usize) {}
}

impl Sink for Vec<ConsumerRecord> {
    fn count(&self) -> usize {
        self.len()
    }

    #[inline]
    fn take(&mut self, topic: &Arc<str>, partition: u32, record: RecordView<'_>) {
        self.push(owned(topic.clone(), partition, &record));
    }

    fn reserve(&mut self, additional: usize) {
        // Not all at once for a huge `max_poll_records`.
        Vec::reserve(self, additional.min(1024));
    }
}

/// Hands each record to a closure.
struct Each<F> {
    f: F,
    count: usize,
}

impl<F: FnMut(ConsumerRecordRef<'_>)> Sink for Each<F> {
    fn count(&self) -> usize {
        self.count
    }

    #[inline]
    fn take(&mut self, topic: &Arc<str>, partition: u32, record: RecordView<'_>) {
        self.count += 1;
        (self.f)(ConsumerRecordRef::new(topic, partition, record));
    }
}

/// The batch of a [`Fetched`] whose records are being handed out.
#[derive(Debug)]
struct CurrentBatch {
    header: BatchHeader,
    /// Where its records are in the buffer, when they are not in
    /// `scratch` (decompressed).
    records: Option<Range<usize>>,
    /// Its position in its file, for errors.
    file_position: u64,
    cursor: RecordCursor,
    /// Records left to hand out.
    remaining: usize,
}

/// Whole batches read from a partition's log from the consumer's position
/// on, not all handed out yet. Records are decoded as they are handed
/// out, so a poll that takes a few records of a large read decodes only
/// those, and a batch's CRC is checked once however many polls take its
/// records.
#[derive(Debug, Default)]
pub(super) struct Fetched {
    /// The read; `None` once everything in it was handed out.
    fetch: Option<FetchData>,
    /// Its slice in the buffer.
    slice: usize,
    loaded: bool,
    /// The slice's bytes (the first `len`; the buffer only grows).
    buf: Vec<u8>,
    len: usize,
    /// Where in `buf` the batch after `current` starts.
    pos: usize,
    current: Option<CurrentBatch>,
    scratch: Vec<u8>,
    /// Where the last read that was all handed out ended: a read from
    /// there continues a scan.
    scanned_to: Option<u64>,
    /// When the batches read have their CRC checked.
    crc_check: CrcCheck,
}

impl Fetched {
    /// Whether records read before are still to be handed out: the
    /// partition's position is where they continue.
    pub(super) fn is_empty(&self) -> bool {
        self.fetch.is_none()
    }

    /// Drops what was read (the position moved elsewhere).
    pub(super) fn clear(&mut self) {
        self.fetch = None;
        self.current = None;
        self.scanned_to = None;
    }

    /// Ends a read whose records were all handed out.
    fn finish(&mut self) {
        self.scanned_to = self.fetch.as_ref().map(FetchData::next_offset);
        self.fetch = None;
        self.current = None;
    }

    /// How many bytes to read from `position`: a chunk when the read
    /// continues a scan, else (after a seek) only the batch holding
    /// `position`, which is all that a poll of a few records needs.
    fn read_size(&self, position: u64) -> u64 {
        if self.scanned_to == Some(position) {
            READ_CHUNK_BYTES
        } else {
            1
        }
    }

    /// Where the read ends: the position once it is all handed out.
    fn end(&self) -> u64 {
        self.fetch.as_ref().map_or(0, FetchData::next_offset)
    }

    fn start(&mut self, fetch: FetchData, crc_check: CrcCheck) {
        self.fetch = Some(fetch);
        self.crc_check = crc_check;
        self.slice = 0;
        self.loaded = false;
        self.current = None;
    }

    fn fail(&mut self, e: Error) -> Error {
        self.clear();
        e
    }

    /// Makes the next batch holding records at or after the requested
    /// offset current; `Ok(false)` at the end of the read.
    fn next_batch(&mut self) -> Result<bool> {
        let Some(fetch) = &self.fetch else {
            return Ok(false);
        };
        let min_offset = fetch.requested_offset();
        loop {
            let Some(slice) = fetch.slices().get(self.slice) else {
                return Ok(false);
            };
            if !self.loaded {
                let len = usize::try_from(slice.len()).map_err(|_| {
                    Error::io(
                        "read",
                        slice.path(),
                        std::io::Error::other("range too large for memory"),
                    )
                })?;
                if self.buf.len() < len {
                    self.buf.resize(len, 0);
                }
                slice.read_into(&mut self.buf[..len])?;
                self.len = len;
                self.loaded = true;
                self.pos = 0;
            }
            let at = self.pos;
            let bytes = &self.buf[at..self.len];
            if bytes.is_empty() {
                self.slice += 1;
                self.loaded = false;
                continue;
            }
            let file_position = slice.position() + at as u64;
            let (size, found) = checked_batch_at(
                bytes,
                at,
                slice,
                self.crc_check,
                min_offset,
                &mut self.scratch,
            )?;
            self.pos += size;
            let Some(FoundBatch { header, records }) = found else {
                continue;
            };
            let (data, _) = record_bytes(&records, &self.buf, &self.scratch);
            let mut iter = RecordIter::new(&header, data, None);
            iter.skip_below(min_offset);
            if iter.remaining() == 0 {
                continue;
            }
            self.current = Some(CurrentBatch {
                header,
                records,
                file_position,
                cursor: iter.cursor(),
                remaining: iter.remaining(),
            });
            return Ok(true);
        }
    }

    /// Moves to a batch with records left; `Ok(false)` when the read has
    /// none left.
    fn advance(&mut self) -> Result<bool> {
        loop {
            if self.current.as_ref().is_some_and(|c| c.remaining > 0) {
                return Ok(true);
            }
            self.current = None;
            match self.next_batch() {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    /// Hands out up to `max` records of the next batch with records left
    /// to `take`, setting `last` to the offset of each; `Ok(false)` once
    /// the read is all handed out.
    fn take(
        &mut self,
        max: usize,
        last: &mut Option<u64>,
        mut take: impl FnMut(RecordView<'_>),
    ) -> Result<bool> {
        if !self.advance()? {
            return Ok(false);
        }
        let Fetched {
            fetch,
            slice,
            buf,
            scratch,
            current,
            ..
        } = self;
        let Some(cur) = current.as_mut() else {
            return Ok(false);
        };
        let (data, shift) = record_bytes(&cur.records, buf, scratch);
        let mut records = RecordIter::resume(&cur.header, data, shift, cur.cursor);
        let mut n = 0;
        while n < max {
            match records.next_raw() {
                Some(Ok(r)) => {
                    *last = Some(r.offset);
                    take(r);
                    n += 1;
                }
                Some(Err(e)) => {
                    let path = fetch
                        .as_ref()
                        .and_then(|f| f.slices().get(*slice))
                        .map(|s| s.path().to_path_buf())
                        .unwrap_or_default();
                    let e = e.in_file(&path, cur.file_position);
                    *fetch = None;
                    *current = None;
                    return Err(e);
                }
                None => break,
            }
        }
        cur.cursor = records.cursor();
        cur.remaining = records.remaining();
        Ok(true)
    }
}

impl Consumer {
    /// [`poll`](Self::poll) without copies: hands each record to `f`,
    /// borrowed from the bytes read from the log, and returns how many it
    /// handed out. Everything else is as for `poll`: which records, how
    /// many (`max_poll_records`, `fetch_max_bytes`), the wait, positions
    /// (moved past every record handed to `f`), auto-commit, group
    /// membership, pauses, wakeups and errors. A record is consumed once
    /// `f` has it: keep what you need of it (or
    /// [`to_owned`](ConsumerRecordRef::to_owned) it) before `f` returns.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use seglog::{AutoOffsetReset, ConsumerConfig, LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// # store.create_topic("events", 1, &[])?;
    /// let producer = store.producer(Default::default());
    /// for value in ["a", "bb", "ccc"] {
    ///     producer.send(ProducerRecord::new("events", value))?;
    /// }
    /// producer.flush()?;
    /// let config = ConsumerConfig { auto_offset_reset: AutoOffsetReset::Earliest, ..Default::default() };
    /// let mut consumer = store.consumer(config);
    /// consumer.assign(&[("events", 0)])?;
    /// let mut total = 0;
    /// let n = consumer.poll_each(Duration::from_millis(100), |record| {
    ///     total += record.value.map_or(0, <[u8]>::len);
    /// })?;
    /// assert_eq!((n, total), (3, 6));
    /// assert_eq!(consumer.position(("events", 0))?, 3);
    /// // Nothing more yet: this poll waits out its timeout.
    /// assert_eq!(consumer.poll_each(Duration::from_millis(10), |_| {})?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`poll`](Self::poll); records handed to `f` before an error are
    /// consumed, and the error comes at the next poll.
    pub fn poll_each<F>(&mut self, timeout: Duration, f: F) -> Result<usize>
    where
        F: FnMut(ConsumerRecordRef<'_>),
    {
        let mut sink = Each { f, count: 0 };
        self.poll_into(timeout, &mut sink)
            .map_err(|e| self.store.inner.closed_as_store(e))?;
        Ok(sink.count)
    }

    /// One pass over the assigned partitions, starting where the last poll
    /// stopped; records go to `out`.
    pub(super) fn fetch<S: Sink>(&mut self, out: &mut S) -> Result<()> {
        self.stepped_over = false;
        let n = self.assigned.len();
        let mut bytes_left = self.config.fetch_max_bytes;
        let max_records = self.config.max_poll_records.max(1);
        let start = self.next;
        for k in 0..n {
            if out.count() >= max_records {
                break;
            }
            let i = (start + k) % n;
            if self.assigned[i].paused {
                continue;
            }
            let before = out.count();
            let result = self
                .fetch_partition(i, out, &mut bytes_left, max_records)
                .or_else(|e| {
                    self.refresh_after(i, e)?;
                    // The topic was created again: read its new log now.
                    self.fetch_partition(i, out, &mut bytes_left, max_records)
                });
            if let Err(e) = result {
                if out.count() == 0 {
                    return Err(e);
                }
                // The records collected have moved their positions on:
                // return them, and the error at the next poll.
                self.pending_error = Some(e);
                self.next = i;
                return Ok(());
            }
            // The next poll starts after the last partition that gave
            // records, so every partition gets its turn whichever limit
            // (records or bytes) ends a poll.
            if out.count() > before {
                self.next = (i + 1) % n;
            }
        }
        Ok(())
    }

    /// Hands out records of partition `i` into `out`, reading more from
    /// the log when what was read before runs out.
    fn fetch_partition<S: Sink>(
        &mut self,
        i: usize,
        out: &mut S,
        bytes_left: &mut u64,
        max_records: usize,
    ) -> Result<()> {
        let reset = self.config.auto_offset_reset;
        let crc_check = self.config.check_crcs;
        let partition_bytes = self.config.max_partition_fetch_bytes.max(1);
        let mut partition_left = partition_bytes;
        let a = &mut self.assigned[i];
        if a.log.is_closed() {
            // The topic was deleted (perhaps created again) since the
            // partition was assigned: `refresh_after` finds out which.
            return Err(Error::Closed);
        }
        loop {
            let fresh = a.fetched.is_empty();
            let position = if fresh {
                if *bytes_left == 0 || partition_left == 0 {
                    return Ok(());
                }
                let position = resolve(a, reset)?;
                let high_watermark = a.log.high_watermark();
                if position >= high_watermark {
                    return Ok(());
                }
                // A scan reads in chunks about the size of a poll's share,
                // so the bytes stay in cache until their records are
                // handed out; a read after a seek, one batch.
                let want = partition_left
                    .min(*bytes_left)
                    .min(a.fetched.read_size(position));
                // Below the high watermark: what every in-sync replica
                // holds (all of it for a partition without replicas).
                let fetch = match a.log.read_up_to(position, want, high_watermark) {
                    Ok(f) => f,
                    Err(Error::OffsetOutOfRange { .. }) => {
                        // Retention or a truncation moved the log meanwhile.
                        a.position.set(None);
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                };
                let len = fetch.len_bytes();
                // As in Kafka, the first batch of a poll may go over
                // `fetch_max_bytes`, and the first batch of a partition over
                // `max_partition_fetch_bytes`, when it alone is larger.
                if len > *bytes_left && out.count() != 0 {
                    *bytes_left = 0;
                    return Ok(());
                }
                if len > partition_left && partition_left < partition_bytes {
                    return Ok(());
                }
                *bytes_left = bytes_left.saturating_sub(len);
                partition_left = partition_left.saturating_sub(len);
                a.fetched.start(fetch, crc_check);
                position
            } else {
                // The read continues at the position.
                a.position.get().unwrap_or(0)
            };
            let end = a.fetched.end();
            let mut last = None;
            let mut failed = None;
            out.reserve(max_records - out.count());
            while out.count() < max_records {
                let want = max_records - out.count();
                let (topic, partition) = (&a.topic, a.tp.partition);
                match a
                    .fetched
                    .take(want, &mut last, |r| out.take(topic, partition, r))
                {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            let next = last.map(|o| o + 1);
            let mut done = true;
            if failed.is_none() {
                match a.fetched.advance() {
                    Ok(more) => done = !more,
                    Err(e) => failed = Some(e),
                }
            }
            if let Some(e) = failed {
                // What was handed out is consumed; the error comes now.
                if next.is_some() {
                    a.position.set(next);
                }
                return Err(e);
            }
            match next {
                Some(next) if done => a.position.set(Some(next.max(end))),
                Some(next) => a.position.set(Some(next)),
                None if !done => {}
                None => {
                    if !fresh || end <= position {
                        // Nothing there (or nothing past what was taken).
                        a.fetched.finish();
                        if end > position {
                            a.position.set(Some(end));
                        }
                        return Ok(());
                    }
                    // Only offsets without records (a control batch, or
                    // the compacted end of a batch): step over them.
                    a.position.set(Some(end));
                    self.stepped_over = true;
                }
            }
            if done {
                a.fetched.finish();
            }
            if out.count() >= max_records {
                return Ok(());
            }
        }
    }
}

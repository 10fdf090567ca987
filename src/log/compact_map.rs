//! The map pass of a compaction round (Kafka's `buildOffsetMap`), on two
//! threads.
//!
//! A reader thread walks the dirty section: it reads every batch, checks
//! its CRC, notes its producer, decodes its records' offsets and keys and
//! hashes the keys (as the map hashes them, while their bytes are in the
//! cache), and hands the offsets and hashes over in chunks of up to
//! [`CHUNK_RECORDS`] records. The round's thread puts them in the offset
//! map. The reader's half is the larger (the CRCs, which are the first to
//! read the bytes from memory, and the hashes), so with two cores free
//! the pass takes about as long as the reader alone.
//!
//! The reader is at most [`CHUNKS_AHEAD`] chunks ahead (each of at most
//! [`CHUNK_BATCH_BYTES`] of batches read), and stops when the map is
//! full.
//!
//! The reader reads each segment's `.log` through a memory map of the
//! whole file, where the kernel caches it: reading into a buffer costs a
//! copy of every byte besides (on one CPU, walking a 256 MiB log and
//! checking its CRCs took 34 ms read into a buffer, 25 ms mapped). A
//! mapped file must not shrink (a read past its end would kill the
//! process), and the only thing that shrinks a closed segment's file is a
//! truncation into it. So the reader holds the log's
//! [`mapped`](CleanerState::mapped) lock for its whole walk and maps only
//! segments it finds closed under it, and a truncation that cuts a closed
//! segment sets [`unmap`](CleanerState::unmap) and waits for the lock. The
//! reader stops after the batch it is on (its throttle stops sleeping),
//! and the round aborts ([`MapPass::aborted`]).
//!
//! The map is filled exactly as one thread would fill it: in offset
//! order, and stopping at the same record when it is full. The reader may
//! have read past that record; whatever it found there (a damaged batch
//! included) is not the map pass's to report, as a one-thread pass would
//! have walked it by headers only (the round's copy of the segment where
//! the map filled still checks every batch it copies).
//!
//! The reader also lists the batches of each dirty segment it walks whole
//! ([`Listed`]), so that the round's rewrite steps over the batches it
//! drops without reading their headers again.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;

use super::CleanerState;
use crate::compaction::producers::Producers;
use crate::compaction::{
    CleanableSection, CompactionOutcome, HashedKey, MapKeyHasher, OffsetMap, SegmentMeta, Throttle,
};
use crate::error::{Error, Result};
use crate::io::IoContext;
use crate::record::{Compression, RecordBatch};
use crate::segment::{read_lock, ScannedBatch, Scanner, Segment};

/// Records (keyed or not) a chunk carries before it is handed over: at
/// most 384 KiB of [`HashedKey`] entries, and few hand-overs (one per 2 MiB
/// of 100-byte records). A hand-over can wake the other thread, which
/// costs little on two cores, but where two virtual CPUs share one core
/// it costs a switch between them: with chunks of 4,096 records the pass
/// took 20% longer there than on one thread.
const CHUNK_RECORDS: usize = 16384;

/// Bytes of batches read for a chunk before it is handed over, whatever
/// its records: bounds what the reader reads (and charges to the round's
/// I/O rate) past where the map fills.
const CHUNK_BATCH_BYTES: u64 = 8 << 20;

/// Events (batches, segment ends) after which a chunk is handed over
/// whatever its records, for sections of control batches.
const CHUNK_EVENTS: usize = 1024;

/// Chunks handed over and not yet taken: how far the reader may run
/// ahead of the map.
const CHUNKS_AHEAD: usize = 4;

/// Batches the reader lists for the rewrite, at most: 80 bytes each, about
/// 5 MiB.
const MAX_LISTED_BATCHES: usize = 1 << 16;

/// The batches of the dirty segments the reader walked whole, by segment
/// base offset, as far as [`MAX_LISTED_BATCHES`] allows: the rewrite
/// steps over those it drops without reading their headers again.
#[derive(Debug, Default)]
pub(super) struct Listed {
    segments: HashMap<u64, Vec<ScannedBatch>>,
    count: usize,
}

impl Listed {
    /// Every batch of the segment based at `base_offset`, in order, if the
    /// reader listed it whole.
    pub(super) fn batches(&self, base_offset: u64) -> Option<&[ScannedBatch]> {
        self.segments.get(&base_offset).map(Vec::as_slice)
    }
}

/// What a map pass walks.
#[derive(Clone, Copy)]
pub(super) struct ToMap<'a> {
    /// The log's segments, the last one active.
    pub(super) segments: &'a [Arc<Segment>],
    pub(super) metas: &'a [SegmentMeta],
    pub(super) section: &'a CleanableSection,
    /// The log's cleaner: the reader maps segments under its
    /// [`mapped`](CleanerState::mapped) lock.
    pub(super) cleaner: &'a CleanerState,
}

/// What the map pass found: the segments whose every batch was mapped, and
/// the batches listed for the rewrite.
pub(super) struct MapPass {
    pub(super) walked: Vec<usize>,
    pub(super) listed: Listed,
    /// Whether a truncation stopped the pass: the round is aborted.
    pub(super) aborted: bool,
}

/// What the reader found in one batch.
struct MappedBatch {
    last_offset: u64,
    /// Its keyed records at or above the first dirty offset, as a range of
    /// [`Chunk::keyed`].
    keyed: Range<usize>,
    /// Offsets of its records without a key at or above the first dirty
    /// offset, as a range of [`Chunk::keyless`].
    keyless: Range<usize>,
}

enum Event {
    Batch(MappedBatch),
    /// Every batch of dirty segment `index` was read; the next segment of
    /// the section (or the section's end) starts at `next_base`.
    SegmentEnd {
        index: usize,
        next_base: u64,
    },
}

/// What the reader hands over at a time.
#[derive(Default)]
struct Chunk {
    events: Vec<Event>,
    /// Keyed records: offsets and the keys' hashes in the map, hashed by
    /// the reader, where the keys' bytes are in the cache.
    keyed: Vec<HashedKey>,
    keyless: Vec<u64>,
    /// Bytes of the batches read for the chunk.
    batch_bytes: u64,
}

impl Chunk {
    fn is_ready(&self) -> bool {
        self.keyed.len() + self.keyless.len() >= CHUNK_RECORDS
            || self.events.len() >= CHUNK_EVENTS
            || self.batch_bytes >= CHUNK_BATCH_BYTES
    }

    fn clear(&mut self) {
        self.events.clear();
        self.keyed.clear();
        self.keyless.clear();
        self.batch_bytes = 0;
    }
}

/// Maps the latest offset of every key in the dirty section, as far as the
/// map holds, noting producers on the way.
pub(super) fn build_offset_map(
    to_map: &ToMap<'_>,
    map: &mut OffsetMap,
    producers: &mut Producers,
    throttle: &mut Throttle<'_>,
    outcome: &mut CompactionOutcome,
) -> Result<MapPass> {
    let ToMap {
        segments,
        metas,
        section,
        cleaner,
    } = *to_map;
    let start = section.first_dirty_offset;
    let end = section.first_uncleanable_offset;
    let first = metas
        .partition_point(|m| m.base_offset <= start)
        .saturating_sub(1);
    let indexes: Vec<usize> = (first..segments.len().saturating_sub(1))
        .filter(|&i| metas[i].base_offset < end)
        .collect();
    let dirty: Vec<(usize, u64)> = indexes
        .iter()
        .enumerate()
        .map(|(n, &i)| (i, indexes.get(n + 1).map_or(end, |&j| metas[j].base_offset)))
        .collect();
    let full = AtomicBool::new(false);
    let (chunks, received) = mpsc::sync_channel(CHUNKS_AHEAD);
    let (recycle, recycled) = mpsc::channel();
    let reader = Reader {
        segments,
        dirty: &dirty,
        start,
        full: &full,
        cleaner,
        chunks,
        recycled,
        hasher: map.key_hasher(),
    };
    std::thread::scope(|scope| {
        let walk = std::thread::Builder::new()
            .name("seglog-cleaner-map".into())
            .spawn_scoped(scope, || reader.run(producers, throttle))
            .map_err(|e| Error::io("spawn", std::path::Path::new("seglog-cleaner-map"), e))?;
        let result = fill(map, start, &full, &received, &recycle, outcome);
        // Stops the reader: it sees the flag before its next batch, or a closed
        // channel if it is waiting to hand a chunk over.
        full.store(true, Ordering::Relaxed);
        drop(received);
        let (listed, aborted) = match walk.join() {
            Ok((bytes_read, listed, aborted)) => {
                outcome.bytes_read += bytes_read;
                (listed, aborted)
            }
            Err(panic) => std::panic::resume_unwind(panic),
        };
        Ok(MapPass {
            walked: if aborted { Vec::new() } else { result? },
            listed,
            aborted,
        })
    })
}

/// The round's side: puts the reader's offsets and hashes in the map, in
/// order, until the map is full or the section ends.
fn fill(
    map: &mut OffsetMap,
    start: u64,
    full: &AtomicBool,
    received: &Receiver<Result<Chunk>>,
    recycle: &Sender<Chunk>,
    outcome: &mut CompactionOutcome,
) -> Result<Vec<usize>> {
    let mut walked = Vec::new();
    let mut is_full = false;
    for chunk in received {
        let mut chunk = match chunk {
            Ok(chunk) => chunk,
            // Found past where the map filled, which a one-thread pass
            // would have walked by headers only: the segment is left out
            // of `walked`, and its headers are walked again (and any
            // damage to them reported) by the round.
            Err(_) if is_full => return Ok(walked),
            Err(e) => return Err(e),
        };
        for event in &chunk.events {
            match event {
                Event::Batch(b) => {
                    if is_full {
                        continue;
                    }
                    let keyed = &chunk.keyed[b.keyed.clone()];
                    if map.put_hashed(keyed) < keyed.len() {
                        is_full = true;
                        full.store(true, Ordering::Relaxed);
                    }
                    // Dropped by the rewrite, unread if their batch goes
                    // whole: those up to where the map ends.
                    let mapped_to = map.latest_offset().unwrap_or(0);
                    outcome.records_without_key += chunk.keyless[b.keyless.clone()]
                        .iter()
                        .filter(|&&o| !is_full || o <= mapped_to)
                        .count() as u64;
                    if !is_full && b.last_offset >= start {
                        map.update_latest_offset(b.last_offset);
                    }
                }
                Event::SegmentEnd { index, next_base } => {
                    walked.push(*index);
                    if is_full {
                        return Ok(walked);
                    }
                    // Offsets missing at the end of a segment are covered
                    // too.
                    map.update_latest_offset(next_base.saturating_sub(1));
                }
            }
        }
        chunk.clear();
        // The reader may be gone: then the chunk is simply dropped.
        let _ = recycle.send(chunk);
    }
    Ok(walked)
}

/// The reader's side of the pass.
struct Reader<'a> {
    segments: &'a [Arc<Segment>],
    /// The dirty segments: index, and where the next one (or the section's
    /// end) starts.
    dirty: &'a [(usize, u64)],
    start: u64,
    /// Set when the map is full or the round stopped taking chunks.
    full: &'a AtomicBool,
    cleaner: &'a CleanerState,
    chunks: SyncSender<Result<Chunk>>,
    recycled: Receiver<Chunk>,
    hasher: MapKeyHasher,
}

impl Reader<'_> {
    /// Walks the dirty section, handing over chunks and, at the first
    /// error, the error. Returns the bytes of the batches it read whole,
    /// the batches it listed, and whether a truncation stopped it.
    fn run(self, producers: &mut Producers, throttle: &mut Throttle<'_>) -> (u64, Listed, bool) {
        let mut chunk = Chunk::default();
        let mut bytes_read = 0u64;
        let mut listed = Listed::default();
        let walk = Walking {
            chunk: &mut chunk,
            bytes_read: &mut bytes_read,
            listed: &mut listed,
        };
        let outcome = self.walk(producers, throttle, walk);
        let last = match outcome {
            Ok(Walk::Ended) => Ok(chunk),
            Ok(Walk::Stopped) => return (bytes_read, listed, false),
            Ok(Walk::Unmapped) => return (bytes_read, listed, true),
            // What was found before the error comes first.
            Err(e) => {
                if self.chunks.send(Ok(chunk)).is_err() {
                    return (bytes_read, listed, false);
                }
                Err(e)
            }
        };
        let _ = self.chunks.send(last);
        (bytes_read, listed, false)
    }

    fn walk(
        &self,
        producers: &mut Producers,
        throttle: &mut Throttle<'_>,
        walking: Walking<'_>,
    ) -> Result<Walk> {
        let Walking {
            chunk,
            bytes_read,
            listed,
        } = walking;
        let mut records = Vec::new();
        // No closed segment's file shrinks while this is held.
        let _mapped = read_lock(&self.cleaner.mapped);
        for &(index, next_base) in self.dirty {
            let seg = &self.segments[index];
            let path = seg.log_path();
            // A truncation between the round's look at the segments and
            // the pass's hold on `mapped` made this one the active segment
            // again: its file may shrink, and the round is aborted anyway.
            // A segment closed now stays closed until the pass is over.
            if seg.is_active() {
                return Ok(Walk::Unmapped);
            }
            let size = seg.readable_end()?;
            // The whole file, mapped: the walk reads its bytes where the
            // kernel caches them, where reading into a buffer would copy
            // every byte once more (a third of the pass's time).
            let bytes = seg.handle()?.map().ctx("map", path)?;
            let mut scanner = Scanner::over_bytes(&bytes, seg.base_offset(), 0, size);
            let mut list = (listed.count < MAX_LISTED_BATCHES).then(Vec::new);
            loop {
                if self.full.load(Ordering::Relaxed) {
                    return Ok(Walk::Stopped);
                }
                if self.cleaner.unmap.load(Ordering::Acquire) {
                    return Ok(Walk::Unmapped);
                }
                let Some(b) = scanner.next_intact(path)? else {
                    break;
                };
                if let Some(l) = &mut list {
                    if listed.count + l.len() < MAX_LISTED_BATCHES {
                        l.push(b);
                    } else {
                        list = None;
                    }
                }
                producers.observe(&b.header);
                if throttle.cancelled() {
                    return Err(Error::Closed);
                }
                let bytes = scanner.batch_bytes(&b).ctx("read", path)?;
                // A truncation waiting for the pass does not wait for the
                // rate.
                throttle.pace_unless(bytes.len() as u64, Some(&self.cleaner.unmap));
                *bytes_read += bytes.len() as u64;
                chunk.batch_bytes += bytes.len() as u64;
                // Damage must stop the round: a damaged key could otherwise
                // make a batch that holds the latest record of a key go
                // unread, and bring back an older record of it. No key of
                // a batch goes to the map before its CRC is checked: first
                // where its bytes are decompressed, after decoding where
                // they are not (the decoding is the first to read them from
                // memory, with work to do while they come, and the CRC then
                // reads them from the cache). A batch that does not decode
                // is reported by its CRC if that does not match, as where
                // the CRC is checked first.
                let batch =
                    RecordBatch::parse_raw(bytes).map_err(|e| e.in_file(path, b.position))?;
                let compressed = batch.header().compression() != Compression::None;
                let check_crc = || batch.check_crc().map_err(|e| e.in_file(path, b.position));
                if compressed {
                    check_crc()?;
                }
                let damaged = |e: Error| check_crc().err().unwrap_or(e);
                let (keyed_start, keyless_start) = (chunk.keyed.len(), chunk.keyless.len());
                if !batch.header().is_control() {
                    let mut iter = batch
                        .records_raw(&mut records)
                        .map_err(|e| damaged(e.in_file(path, b.position)))?;
                    let mut previous = None;
                    while let Some(record) = iter.next_key() {
                        let (offset, key) = record.map_err(|e| {
                            damaged(Error::corrupt(path, b.position, e.in_input().to_string()))
                        })?;
                        // The rewrite decides by offset, in order.
                        if let Some(p) = previous.filter(|&p| offset <= p) {
                            return Err(damaged(Error::corrupt(
                                path,
                                b.position,
                                format!("record offset {offset} follows offset {p} in its batch"),
                            )));
                        }
                        previous = Some(offset);
                        if offset < self.start {
                            continue;
                        }
                        match key {
                            Some(key) => chunk
                                .keyed
                                .push(HashedKey::new(offset, self.hasher.digest(key))),
                            None => chunk.keyless.push(offset),
                        }
                    }
                }
                if !compressed {
                    // The keys decoded above are past the chunk's last
                    // event, which is all the map reads.
                    check_crc()?;
                }
                chunk.events.push(Event::Batch(MappedBatch {
                    last_offset: b.header.last_offset(),
                    keyed: keyed_start..chunk.keyed.len(),
                    keyless: keyless_start..chunk.keyless.len(),
                }));
                if chunk.is_ready() && !self.hand_over(chunk) {
                    return Ok(Walk::Stopped);
                }
            }
            if let Some(list) = list {
                listed.count += list.len();
                listed.segments.insert(seg.base_offset(), list);
            }
            chunk.events.push(Event::SegmentEnd { index, next_base });
        }
        Ok(Walk::Ended)
    }

    /// Hands `chunk` over and takes a recycled (or new) one in its place;
    /// `false` if the round no longer takes chunks.
    fn hand_over(&self, chunk: &mut Chunk) -> bool {
        let next = self.recycled.try_recv().unwrap_or_default();
        let full = std::mem::replace(chunk, next);
        self.chunks.send(Ok(full)).is_ok()
    }
}

/// What a reader's walk fills.
struct Walking<'w> {
    chunk: &'w mut Chunk,
    bytes_read: &'w mut u64,
    listed: &'w mut Listed,
}

/// How a reader's walk ended.
enum Walk {
    /// At the end of the section.
    Ended,
    /// Told to stop (the map is full, or the round stopped taking chunks).
    Stopped,
    /// Stopped for a truncation, which waits for the pass to let go of
    /// its maps: the round is aborted.
    Unmapped,
}

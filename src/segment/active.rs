//! The writer's side of the active segment.
//!
//! Only the thread holding the log's writer lock touches an
//! [`ActiveSegment`]; what readers need is published through the shared
//! [`Segment`] (its visible size, index entries and max timestamp).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::index::{push_offset_entry, push_time_entry, IndexCursor, TimestampOffset};
use super::scan::{Scanner, HEADER_CHUNK};
use super::{
    lock, read_lock, write_lock, FileKind, IndexBytes, IndexState, OffsetEntries, Segment,
    SegmentContext, TimeEntries, OFFSET_ENTRY_LEN, TIME_ENTRY_LEN,
};
use crate::error::Result;
use crate::io::{self as fsio, FileHandle, IoContext, OpenMode};
use crate::record::BATCH_HEADER_LEN;

/// What the log knows about a batch it is about to append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchMeta {
    pub(crate) base_offset: u64,
    pub(crate) last_offset: u64,
    pub(crate) max_timestamp: i64,
    pub(crate) size: usize,
}

/// What [`ActiveSegment::append_in_place`] did.
#[derive(Debug)]
pub(crate) enum InPlace {
    /// The batch is appended.
    Appended(BatchMeta),
    /// The segment must roll first; here is the encoded batch.
    NeedsRoll { bytes: Vec<u8>, meta: BatchMeta },
}

/// Why the active segment must be closed before an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RollReason {
    /// The append would take the segment past `segment_bytes`.
    Size,
    /// The segment's first batch is older than `segment_ms`.
    Time,
    /// The offset index has no room for another entry.
    OffsetIndexFull,
    /// The time index has no room (its last slot is kept for closing).
    TimeIndexFull,
    /// An offset of the append is not representable relative to the base.
    OffsetOverflow,
}

/// How [`ActiveSegment::resume`] treats the index files on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexFiles {
    /// They already hold the entries given (a clean open).
    Current,
    /// Write the entries into them in place (nobody has them mapped).
    Rewrite,
    /// Write fresh files and rename them over the old ones, which readers
    /// may still have mapped.
    Replace,
}

/// The active segment, as the writer sees it.
///
/// It holds no file open of its own: the `.log` handle is the segment's
/// (released like any other when the store has too many files open, and
/// reopened for writing on the next append), and the index files are
/// opened only to write entries into them at seal, close or truncation.
#[derive(Debug)]
pub(crate) struct ActiveSegment {
    segment: Arc<Segment>,
    cursor: IndexCursor,
    last_time_entry: Option<i64>,
    offset_entries: usize,
    time_entries: usize,
    /// Entry bytes already written to the index files.
    offsets_on_disk: usize,
    times_on_disk: usize,
    first_batch_timestamp: Option<i64>,
    created_ms: i64,
    next_offset: u64,
}

impl ActiveSegment {
    /// Creates the files of a new, empty segment based at `base_offset` and
    /// makes them durable before anything is written to them (fsync
    /// protocol, steps 1-2): stale files of the same name are replaced, the
    /// index files preallocated, the new `.log` and the directory fsynced.
    pub(crate) fn create(ctx: &Arc<SegmentContext>, base_offset: u64, now_ms: i64) -> Result<Self> {
        let fs = &*ctx.fs;
        let log_path = ctx.path(base_offset, FileKind::Log);
        let index_path = ctx.path(base_offset, FileKind::Index);
        let time_path = ctx.path(base_offset, FileKind::TimeIndex);
        let log_file = fs
            .open(&log_path, OpenMode::Truncate)
            .ctx("create", &log_path)?;
        fs.open(&index_path, OpenMode::Truncate)
            .ctx("create", &index_path)?
            .set_len((ctx.max_offset_entries * OFFSET_ENTRY_LEN) as u64)
            .ctx("preallocate", &index_path)?;
        fs.open(&time_path, OpenMode::Truncate)
            .ctx("create", &time_path)?
            .set_len((ctx.max_time_entries * TIME_ENTRY_LEN) as u64)
            .ctx("preallocate", &time_path)?;
        log_file.sync_data().ctx("fsync", &log_path)?;
        fs.sync_dir(&ctx.dir).ctx("fsync directory", &ctx.dir)?;
        let segment = Arc::new(Segment::new(
            ctx.clone(),
            base_offset,
            0,
            IndexState::Loaded {
                offsets: IndexBytes::Owned(Vec::new()),
                times: IndexBytes::Owned(Vec::new()),
            },
            Some(TimestampOffset::UNKNOWN),
        ));
        segment.set_active(true);
        segment.set_handle(log_file);
        Ok(ActiveSegment {
            segment,
            cursor: IndexCursor::new(ctx.index_interval_bytes),
            last_time_entry: None,
            offset_entries: 0,
            time_entries: 0,
            offsets_on_disk: 0,
            times_on_disk: 0,
            first_batch_timestamp: None,
            created_ms: now_ms,
            next_offset: base_offset,
        })
    }

    /// Makes an existing segment the active one again: at open, or when a
    /// truncation moves the end of the log back into it. `offsets` and
    /// `times` are its current index entries, `size` its valid length.
    /// `known` is what a clean shutdown recorded; without it the batches
    /// after the last index entry are walked to find it out.
    pub(crate) fn resume(
        segment: Arc<Segment>,
        size: u64,
        offsets: Vec<u8>,
        times: Vec<u8>,
        files: IndexFiles,
        now_ms: i64,
        known: Option<ResumeState>,
    ) -> Result<Self> {
        let ctx = segment.ctx.clone();
        let fs = &*ctx.fs;
        let base = segment.base_offset;
        let log_path = segment.log_path.clone();
        let log_file = fs.open(&log_path, OpenMode::Write).ctx("open", &log_path)?;
        let index_path = ctx.path(base, FileKind::Index);
        let time_path = ctx.path(base, FileKind::TimeIndex);
        let offsets_len = (ctx.max_offset_entries * OFFSET_ENTRY_LEN) as u64;
        let times_len = (ctx.max_time_entries * TIME_ENTRY_LEN) as u64;
        open_index(&ctx, &index_path, &offsets, offsets_len, files)?;
        open_index(&ctx, &time_path, &times, times_len, files)?;

        let entries = OffsetEntries::new(&offsets, base);
        let last_entry_position = entries.last().map_or(0, |e| u64::from(e.position));
        let time_entries = TimeEntries::new(&times, base);
        let state = match known {
            Some(state) => state,
            None => walk_tail(
                &*log_file,
                &log_path,
                base,
                size,
                last_entry_position,
                time_entries.last(),
            )?,
        };
        segment.set_active(true);
        segment.set_handle(log_file);
        segment.size.store(size, Ordering::Release);
        segment.os_size.store(size, Ordering::Release);
        lock(&segment.tail).clear();
        *lock(&segment.max_timestamp) = Some(state.max);
        let offset_entries = entries.len();
        let time_entries_len = time_entries.len();
        let last_time_entry = time_entries.last().map(|t| t.timestamp);
        // Every entry given is on disk now, whichever way `files` said.
        let (offsets_on_disk, times_on_disk) = (offsets.len(), times.len());
        *write_lock(&segment.indexes.state) = IndexState::Loaded {
            offsets: IndexBytes::Owned(offsets),
            times: IndexBytes::Owned(times),
        };
        Ok(ActiveSegment {
            // Kafka's `LogSegment` starts `bytesSinceLastIndexEntry` at 0
            // when it is opened from disk, and `truncateTo` resets it: the
            // next entry comes only after `index_interval_bytes` more bytes.
            cursor: IndexCursor::resume(ctx.index_interval_bytes, size, state.max),
            next_offset: state.next_offset,
            segment,
            last_time_entry,
            offset_entries,
            time_entries: time_entries_len,
            offsets_on_disk,
            times_on_disk,
            first_batch_timestamp: state.first_batch_timestamp,
            created_ms: now_ms,
        })
    }

    /// Sizes the index files back to `segment_index_bytes`, as Kafka's
    /// loader resizes the active segment's indexes, where a clean close
    /// left them trimmed to their entries. Done before the first change
    /// after a clean open (opening and closing a log without writing to it
    /// leaves its files as they are); trimmed again when the segment rolls
    /// or the log closes.
    pub(crate) fn preallocate_indexes(&self) -> Result<()> {
        let ctx = &self.segment.ctx;
        let fs = &*ctx.fs;
        for (kind, len) in [
            (FileKind::Index, ctx.max_offset_entries * OFFSET_ENTRY_LEN),
            (FileKind::TimeIndex, ctx.max_time_entries * TIME_ENTRY_LEN),
        ] {
            let path = ctx.path(self.base_offset(), kind);
            let file = fs.open(&path, OpenMode::Create).ctx("open", &path)?;
            if file.len().ctx("stat", &path)? < len as u64 {
                file.set_len(len as u64).ctx("preallocate", &path)?;
            }
        }
        Ok(())
    }

    /// What a clean shutdown records about the active segment, so that the
    /// next open does not have to read it.
    pub(crate) fn resume_state(&self) -> ResumeState {
        ResumeState {
            max: self.cursor.max_timestamp(),
            next_offset: self.next_offset,
            first_batch_timestamp: self.first_batch_timestamp,
        }
    }

    pub(crate) fn segment(&self) -> &Arc<Segment> {
        &self.segment
    }

    pub(crate) fn base_offset(&self) -> u64 {
        self.segment.base_offset
    }

    pub(crate) fn size(&self) -> u64 {
        self.segment.size()
    }

    /// The offset after the last batch of this segment (its base if empty).
    pub(crate) fn next_offset(&self) -> u64 {
        self.next_offset
    }

    /// Whether the segment must roll before an append (Kafka's
    /// `shouldRoll`), decided once for the whole append: `append` describes
    /// all of it (first base offset, last offset, total size, largest
    /// timestamp) and `batches` is how many batches it holds, each of which
    /// may add an entry to each index. An empty segment never rolls for
    /// size or time.
    pub(crate) fn should_roll(
        &self,
        append: &BatchMeta,
        batches: usize,
        segment_bytes: u64,
        segment_ms: u64,
        now_ms: i64,
    ) -> Option<RollReason> {
        let size = self.size();
        if size > 0 && size > segment_bytes.saturating_sub(append.size as u64) {
            return Some(RollReason::Size);
        }
        if size > 0 {
            let waited = match self.first_batch_timestamp {
                Some(first) if first >= 0 => append.max_timestamp.saturating_sub(first),
                _ => now_ms.saturating_sub(self.created_ms),
            };
            if waited > 0 && waited as u64 > segment_ms {
                return Some(RollReason::Time);
            }
        }
        self.cannot_hold(append, batches)
    }

    /// Why the segment cannot take `append` (of `batches` batches) at all:
    /// an index without room for the entries it may add (the time index
    /// keeps its last slot for the entry added when the segment closes), or
    /// an offset that does not fit a 32-bit offset relative to the base.
    pub(crate) fn cannot_hold(&self, append: &BatchMeta, batches: usize) -> Option<RollReason> {
        let ctx = &self.segment.ctx;
        if self.offset_entries + batches > ctx.max_offset_entries {
            return Some(RollReason::OffsetIndexFull);
        }
        if self.time_entries + batches >= ctx.max_time_entries {
            return Some(RollReason::TimeIndexFull);
        }
        if append.base_offset < self.base_offset()
            || append.last_offset - self.base_offset() > i32::MAX as u64
        {
            return Some(RollReason::OffsetOverflow);
        }
        None
    }

    /// Appends one batch. `write_now` hands it to the OS right away when
    /// nothing is buffered ahead of it; otherwise it is buffered until the
    /// buffer fills or [`write_out`](Self::write_out) is called.
    pub(crate) fn append(
        &mut self,
        bytes: &[u8],
        batch: &BatchMeta,
        write_now: bool,
    ) -> Result<()> {
        let seg = self.segment.clone();
        let position = seg.size();
        // The bytes first: if a write fails, nothing about the batch is
        // recorded (the log is poisoned and recovery decides later).
        {
            let mut tail = lock(&seg.tail);
            if !tail.is_empty() && tail.len() + bytes.len() > seg.ctx.write_buffer_bytes {
                self.write_buffer(&mut tail, 0)?;
            }
            if tail.is_empty() && (write_now || bytes.len() >= seg.ctx.write_buffer_bytes) {
                let os = seg.os_size.load(Ordering::Acquire);
                let r = seg
                    .handle()
                    .and_then(|f| f.write_all_at(bytes, os).ctx("write", &seg.log_path));
                seg.ctx.poison.guard(r)?;
                seg.os_size
                    .store(os + bytes.len() as u64, Ordering::Release);
            } else {
                tail.extend_from_slice(bytes);
            }
        }
        self.record(position, batch);
        Ok(())
    }

    /// Encodes a batch with `encode` straight at the end of the write
    /// buffer, so its bytes are written once, and appends it; unless the
    /// segment must roll first: then the batch's bytes are taken back out
    /// and returned, for the caller to roll and [`append`](Self::append)
    /// them to the next segment. If `encode` fails, nothing is appended.
    pub(crate) fn append_in_place(
        &mut self,
        segment_bytes: u64,
        segment_ms: u64,
        now_ms: i64,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<BatchMeta>,
    ) -> Result<InPlace> {
        let seg = self.segment.clone();
        let position = seg.size();
        let meta = {
            let mut tail = lock(&seg.tail);
            let start = tail.len();
            let meta = match encode(&mut tail) {
                Ok(m) => m,
                Err(e) => {
                    tail.truncate(start);
                    return Err(e);
                }
            };
            if self
                .should_roll(&meta, 1, segment_bytes, segment_ms, now_ms)
                .is_some()
            {
                let bytes = tail.split_off(start);
                return Ok(InPlace::NeedsRoll { bytes, meta });
            }
            if tail.len() >= seg.ctx.write_buffer_bytes {
                self.write_buffer(&mut tail, start)?;
            }
            meta
        };
        self.record(position, &meta);
        Ok(InPlace::Appended(meta))
    }

    /// Writes the whole buffer to the OS. On failure the bytes from
    /// `keep_to` on (a batch not recorded yet) are dropped again.
    fn write_buffer(&self, tail: &mut Vec<u8>, keep_to: usize) -> Result<()> {
        let seg = &self.segment;
        let os = seg.os_size.load(Ordering::Acquire);
        let r = seg
            .handle()
            .and_then(|f| f.write_all_at(tail, os).ctx("write", &seg.log_path));
        if let Err(e) = seg.ctx.poison.guard(r) {
            if keep_to > 0 {
                tail.truncate(keep_to);
            }
            return Err(e);
        }
        seg.os_size.store(os + tail.len() as u64, Ordering::Release);
        tail.clear();
        Ok(())
    }

    /// Records a batch whose bytes are in place at `position`: index
    /// entries, timestamps, the next offset; then makes it visible.
    fn record(&mut self, position: u64, batch: &BatchMeta) {
        let seg = self.segment.clone();
        let entries = self.cursor.on_batch(
            position,
            batch.last_offset,
            batch.max_timestamp,
            self.last_time_entry,
        );
        if entries.offset.is_some() || entries.time.is_some() {
            let mut state = write_lock(&seg.indexes.state);
            if let IndexState::Loaded {
                offsets: IndexBytes::Owned(offsets),
                times: IndexBytes::Owned(times),
            } = &mut *state
            {
                if let Some(o) = entries.offset {
                    push_offset_entry(offsets, seg.base_offset, o);
                    self.offset_entries += 1;
                }
                if let Some(t) = entries.time {
                    push_time_entry(times, seg.base_offset, t);
                    self.time_entries += 1;
                    self.last_time_entry = Some(t.timestamp);
                }
            }
        }
        self.first_batch_timestamp
            .get_or_insert(batch.max_timestamp);
        seg.set_max_timestamp(self.cursor.max_timestamp());
        self.next_offset = batch.last_offset + 1;
        // Readers see the batch only now, whole.
        seg.size
            .store(position + batch.size as u64, Ordering::Release);
    }

    /// Hands buffered bytes to the OS.
    pub(crate) fn write_out(&self) -> Result<()> {
        self.segment.write_tail()
    }

    /// Writes buffered bytes and fsyncs the `.log` (fsync protocol step 3).
    pub(crate) fn sync(&self) -> Result<()> {
        self.write_out()?;
        let seg = &self.segment;
        let r = seg
            .handle()
            .and_then(|f| f.sync_data().ctx("fsync", &seg.log_path));
        seg.ctx.poison.guard(r)
    }

    /// Writes index entries not yet on disk into the preallocated files
    /// and trims each file to its entries.
    fn write_index_entries(&mut self) -> Result<()> {
        let seg = &self.segment;
        let (new_offsets, new_times) = {
            let state = read_lock(&seg.indexes.state);
            match &*state {
                IndexState::Loaded { offsets, times } => (
                    offsets
                        .get(self.offsets_on_disk..)
                        .unwrap_or_default()
                        .to_vec(),
                    times.get(self.times_on_disk..).unwrap_or_default().to_vec(),
                ),
                IndexState::Unloaded => (Vec::new(), Vec::new()),
            }
        };
        let fs = &*seg.ctx.fs;
        let index_path = seg.ctx.path(seg.base_offset, FileKind::Index);
        let time_path = seg.ctx.path(seg.base_offset, FileKind::TimeIndex);
        let index_file = fs
            .open(&index_path, OpenMode::Write)
            .ctx("open", &index_path)?;
        if !new_offsets.is_empty() {
            index_file
                .write_all_at(&new_offsets, self.offsets_on_disk as u64)
                .ctx("write", &index_path)?;
            self.offsets_on_disk += new_offsets.len();
        }
        index_file
            .set_len(self.offsets_on_disk as u64)
            .ctx("trim", &index_path)?;
        drop(index_file);
        let time_index_file = fs
            .open(&time_path, OpenMode::Write)
            .ctx("open", &time_path)?;
        if !new_times.is_empty() {
            time_index_file
                .write_all_at(&new_times, self.times_on_disk as u64)
                .ctx("write", &time_path)?;
            self.times_on_disk += new_times.len();
        }
        time_index_file
            .set_len(self.times_on_disk as u64)
            .ctx("trim", &time_path)
    }

    /// Closes the segment for writing, as Kafka does on roll: buffered
    /// bytes handed to the OS, the final time-index entry added, both
    /// indexes written and trimmed to their entries. Nothing is fsynced
    /// (see [`Segment::sync_files`]), so a roll never waits for writeback.
    /// The segment stays readable; its indexes are mapped again on next
    /// use.
    pub(crate) fn seal(mut self) -> Result<Arc<Segment>> {
        let poison = self.segment.ctx.poison.clone();
        poison.guard(self.seal_inner())?;
        self.segment.set_active(false);
        self.segment.unload_indexes();
        Ok(self.segment)
    }

    /// Seals the segment and fsyncs its `.log` and indexes (a clean close).
    pub(crate) fn close(mut self) -> Result<()> {
        let poison = self.segment.ctx.poison.clone();
        poison.guard(self.seal_inner().and_then(|()| self.segment.sync_files()))
    }

    fn seal_inner(&mut self) -> Result<()> {
        self.write_out()?;
        if let Some(t) = self.cursor.time_entry_after(self.last_time_entry) {
            let seg = &self.segment;
            if let IndexState::Loaded {
                times: IndexBytes::Owned(times),
                ..
            } = &mut *write_lock(&seg.indexes.state)
            {
                push_time_entry(times, seg.base_offset, t);
            }
            self.time_entries += 1;
            self.last_time_entry = Some(t.timestamp);
        }
        self.write_index_entries()
    }

    /// Removes every batch whose last offset is `>= offset` (a batch that
    /// holds `offset` goes entirely), drops the index entries for them, and
    /// fsyncs the shortened `.log`. Returns the new end of the segment: the
    /// offset after its last remaining batch (at most `offset`).
    pub(crate) fn truncate_to(&mut self, offset: u64, now_ms: i64) -> Result<u64> {
        let poison = self.segment.ctx.poison.clone();
        poison.guard(self.truncate_inner(offset, now_ms))
    }

    fn truncate_inner(&mut self, offset: u64, now_ms: i64) -> Result<u64> {
        let seg = self.segment.clone();
        self.write_out()?;
        let end = seg.size();
        let log_file = seg.handle()?;
        let cut = match seg.locate(&*log_file, offset, end)? {
            Some(b) => b.position,
            // Nothing at or above `offset`: the data already ends below it.
            None => return Ok(self.next_offset),
        };
        // Readers must stop short of the cut before the bytes go.
        seg.size.store(cut, Ordering::Release);
        seg.os_size.store(cut, Ordering::Release);
        // And forget the checks of bytes that appends will replace: after
        // the size, so that a read that sees this reset also sees the cut
        // (`resume` below resets again before any append).
        seg.checked.reset();
        log_file.set_len(cut).ctx("truncate", &seg.log_path)?;
        log_file.sync_data().ctx("fsync", &seg.log_path)?;
        drop(log_file);

        let (offsets, times) = {
            let mut state = write_lock(&seg.indexes.state);
            match &mut *state {
                IndexState::Loaded {
                    offsets: IndexBytes::Owned(offsets),
                    times: IndexBytes::Owned(times),
                } => {
                    let keep_o = OffsetEntries::new(offsets, seg.base_offset).count_below(offset);
                    let keep_t = TimeEntries::new(times, seg.base_offset).count_below(offset);
                    offsets.truncate(keep_o * OFFSET_ENTRY_LEN);
                    times.truncate(keep_t * TIME_ENTRY_LEN);
                    (offsets.clone(), times.clone())
                }
                _ => (Vec::new(), Vec::new()),
            }
        };
        // Zero stale entries on disk so the files never show them again.
        let index_path = seg.ctx.path(seg.base_offset, FileKind::Index);
        let time_path = seg.ctx.path(seg.base_offset, FileKind::TimeIndex);
        let fs = &*seg.ctx.fs;
        if self.offsets_on_disk > offsets.len() {
            let zeros = vec![0u8; self.offsets_on_disk - offsets.len()];
            fs.open(&index_path, OpenMode::Write)
                .ctx("open", &index_path)?
                .write_all_at(&zeros, offsets.len() as u64)
                .ctx("write", &index_path)?;
            self.offsets_on_disk = offsets.len();
        }
        if self.times_on_disk > times.len() {
            let zeros = vec![0u8; self.times_on_disk - times.len()];
            fs.open(&time_path, OpenMode::Write)
                .ctx("open", &time_path)?
                .write_all_at(&zeros, times.len() as u64)
                .ctx("write", &time_path)?;
            self.times_on_disk = times.len();
        }
        let resumed =
            ActiveSegment::resume(seg, cut, offsets, times, IndexFiles::Current, now_ms, None)?;
        let created = if cut == 0 { now_ms } else { self.created_ms };
        *self = ActiveSegment {
            offsets_on_disk: self.offsets_on_disk,
            times_on_disk: self.times_on_disk,
            created_ms: created,
            ..resumed
        };
        // The log ends where its data ends: when the batch holding `offset`
        // started before it and went entirely, that is below `offset`.
        Ok(self.next_offset)
    }
}

/// The active segment's state that is not in its index files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResumeState {
    pub(crate) max: TimestampOffset,
    pub(crate) next_offset: u64,
    pub(crate) first_batch_timestamp: Option<i64>,
}

/// Finds the largest timestamp and the next offset by walking the batches
/// after the last offset-index entry, and reads the first batch's max
/// timestamp.
fn walk_tail(
    log_file: &dyn FileHandle,
    log_path: &std::path::Path,
    base: u64,
    size: u64,
    from: u64,
    last_time_entry: Option<TimestampOffset>,
) -> Result<ResumeState> {
    let mut max = last_time_entry.unwrap_or(TimestampOffset::UNKNOWN);
    let mut last_offset = None;
    let mut scanner = Scanner::new(log_file, base, from.min(size), size, HEADER_CHUNK);
    while let Some(b) = scanner.next_intact(log_path)? {
        if b.header.max_timestamp > max.timestamp {
            max = TimestampOffset {
                timestamp: b.header.max_timestamp,
                offset: b.header.last_offset(),
            };
        }
        last_offset = Some(b.header.last_offset());
    }
    let first_batch_timestamp = if size == 0 {
        None
    } else {
        let mut head = [0u8; BATCH_HEADER_LEN];
        log_file.read_exact_at(&mut head, 0).ctx("read", log_path)?;
        let h = crate::record::BatchHeader::parse(&head).map_err(|e| e.in_file(log_path, 0))?;
        Some(h.max_timestamp)
    };
    Ok(ResumeState {
        max,
        next_offset: last_offset.map_or(base, |l| l + 1),
        first_batch_timestamp,
    })
}

/// Opens (or recreates) an index file for an active segment holding
/// `entries`, preallocated to `len` bytes.
fn open_index(
    ctx: &SegmentContext,
    path: &std::path::Path,
    entries: &[u8],
    len: u64,
    files: IndexFiles,
) -> Result<()> {
    let fs = &*ctx.fs;
    match files {
        IndexFiles::Current => {
            // The file holds `entries` as a clean close left it (trimmed):
            // it stays as it is, so that closing a log nothing was written
            // to leaves its files untouched. New entries are written, and
            // the file trimmed, when the segment is sealed or closed.
            fs.open(path, OpenMode::Create).ctx("open", path).map(drop)
        }
        IndexFiles::Rewrite => {
            let f = fs.open(path, OpenMode::Create).ctx("open", path)?;
            f.set_len(0).ctx("truncate", path)?;
            f.write_all_at(entries, 0).ctx("write", path)?;
            f.set_len(len.max(entries.len() as u64))
                .ctx("preallocate", path)
        }
        IndexFiles::Replace => {
            let tmp = fsio::temp_path(path);
            let f = fs.open(&tmp, OpenMode::Truncate).ctx("create", &tmp)?;
            f.write_all_at(entries, 0).ctx("write", &tmp)?;
            f.set_len(len.max(entries.len() as u64))
                .ctx("preallocate", &tmp)?;
            f.sync_data().ctx("fsync", &tmp)?;
            fs.rename(&tmp, path).ctx("rename", &tmp)?;
            fs.sync_dir(&ctx.dir).ctx("fsync directory", &ctx.dir)
        }
    }
}

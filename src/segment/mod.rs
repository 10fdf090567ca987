//! One segment: a `.log` file of record batches plus its sparse `.index`
//! and `.timeindex`, all named by the segment's base offset.
//!
//! ```text
//! 00000000000000001000.log        batches with offsets >= 1000
//! 00000000000000001000.index      (offset - 1000: u32, position: u32) ...
//! 00000000000000001000.timeindex  (timestamp: i64, offset - 1000: u32) ...
//! ```
//!
//! A `Segment` is shared by the writer and every reader. Readers see
//! `size()` bytes of the `.log`: whole batches only, because the writer
//! moves `size` after a batch is fully in place. Bytes the writer has
//! buffered in process (appends made with [`Durability::None`]) are handed
//! to the OS by the first reader that needs them, so readers always use
//! positional reads on the file and a fetch result is a plain file range.
//!
//! The writer-only side of the active segment lives in `ActiveSegment`:
//! index entries are built in memory as batches arrive and written to the
//! preallocated index files when the segment is flushed, sealed or closed.
//! A closed segment's indexes are loaded lazily (memory-mapped) on first
//! use and checked; one that is missing or fails the check is rebuilt from
//! the `.log`.
//!
//! [`Durability::None`]: crate::Durability::None

mod active;
mod checked;
mod index;
mod names;
mod point;
#[cfg(test)]
mod point_tests;
mod read;
mod recover;
mod resident;
mod sanity;
mod scan;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

pub(crate) use active::{ActiveSegment, BatchMeta, InPlace, IndexFiles, ResumeState};
pub(crate) use checked::CheckedAt;
pub(crate) use index::{
    check_offset_index, check_time_index, check_whole_entries, OffsetEntries, TimeEntries,
    OFFSET_ENTRY_LEN, TIME_ENTRY_LEN,
};
pub use index::{OffsetPosition, TimestampOffset};
pub(crate) use names::{file_name, parse as parse_file_name, FileKind, TempSuffix};
pub(crate) use recover::{recover_log, RecoveredLog};
pub(crate) use resident::Resources;
pub(crate) use scan::{ScannedBatch, Scanner, Step, BULK_CHUNK, HEADER_CHUNK};

use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::io::{self as fsio, FileHandle, Fs, IoContext, Mapping, OpenMode};
use crate::poison::Poison;
use resident::Resident;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn read_lock<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write_lock<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

/// What every segment of one log shares: where it lives, how to reach the
/// file system, the index settings, the log's poison flag, and the bounds
/// on open files and loaded indexes (shared by every log of a store).
#[derive(Debug)]
pub(crate) struct SegmentContext {
    pub(crate) dir: PathBuf,
    pub(crate) fs: Arc<dyn Fs>,
    pub(crate) poison: Arc<Poison>,
    pub(crate) index_interval_bytes: u32,
    /// Offset-index entries that fit in `segment_index_bytes`.
    pub(crate) max_offset_entries: usize,
    /// Time-index entries that fit in `segment_index_bytes`.
    pub(crate) max_time_entries: usize,
    pub(crate) write_buffer_bytes: usize,
    pub(crate) resources: Arc<Resources>,
    /// The log is open read-only (another process may be writing it):
    /// index files are read rather than memory-mapped, since their writer
    /// may shorten them, and nothing is ever written.
    pub(crate) read_only: bool,
}

impl SegmentContext {
    pub(crate) fn new(
        dir: PathBuf,
        fs: Arc<dyn Fs>,
        poison: Arc<Poison>,
        config: &LogConfig,
        resources: Arc<Resources>,
    ) -> Self {
        let index_bytes = config.segment_index_bytes as usize;
        SegmentContext {
            dir,
            fs,
            poison,
            index_interval_bytes: config.index_interval_bytes,
            max_offset_entries: index_bytes / OFFSET_ENTRY_LEN,
            max_time_entries: index_bytes / TIME_ENTRY_LEN,
            write_buffer_bytes: config.write_buffer_bytes as usize,
            resources,
            read_only: false,
        }
    }

    pub(crate) fn path(&self, base_offset: u64, kind: FileKind) -> PathBuf {
        self.dir.join(file_name(base_offset, kind))
    }
}

/// Index entries of a segment, as raw bytes.
enum IndexBytes {
    Owned(Vec<u8>),
    Mapped(Mapping),
}

impl std::ops::Deref for IndexBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            IndexBytes::Owned(v) => v,
            IndexBytes::Mapped(m) => m,
        }
    }
}

enum IndexState {
    /// Not read yet (a closed segment nobody has looked up), or released.
    Unloaded,
    Loaded {
        offsets: IndexBytes,
        times: IndexBytes,
    },
}

/// A segment's `.log` handle, opened on first use and released when the
/// store has too many files open (see [`resident`]).
struct FileSlot {
    file: RwLock<Option<Arc<dyn FileHandle>>>,
    referenced: AtomicBool,
    /// Counted in the store's open files.
    registered: AtomicBool,
    /// The active segment's file is opened for writing.
    writable: AtomicBool,
    /// A deleted segment's handle is kept for readers that still hold the
    /// segment: its file can no longer be opened by name.
    pinned: AtomicBool,
}

impl Resident for FileSlot {
    fn take_referenced(&self) -> bool {
        self.referenced.swap(false, Ordering::AcqRel)
    }

    fn release(&self) -> bool {
        if self.pinned.load(Ordering::Acquire) {
            return false;
        }
        match self.file.try_write() {
            Ok(mut slot) => {
                *slot = None;
                self.registered.store(false, Ordering::Release);
                true
            }
            Err(_) => false,
        }
    }
}

/// A segment's index entries, loaded on first use and released when the
/// store has too many loaded (see [`resident`]); never while the segment
/// is active, whose entries exist only here until it is sealed.
struct IndexSlot {
    state: RwLock<IndexState>,
    referenced: AtomicBool,
    registered: AtomicBool,
    active: AtomicBool,
}

impl Resident for IndexSlot {
    fn take_referenced(&self) -> bool {
        self.referenced.swap(false, Ordering::AcqRel)
    }

    fn release(&self) -> bool {
        if self.active.load(Ordering::Acquire) {
            return false;
        }
        match self.state.try_write() {
            Ok(mut state) => {
                *state = IndexState::Unloaded;
                self.registered.store(false, Ordering::Release);
                true
            }
            Err(_) => false,
        }
    }
}

/// Marks a slot used, without a store when the bit is already set (the
/// common case on a hot segment, which then stays read-shared).
fn touch(referenced: &AtomicBool) {
    if !referenced.load(Ordering::Relaxed) {
        referenced.store(true, Ordering::Relaxed);
    }
}

/// One segment, shared by the writer and readers. See the module docs.
pub(crate) struct Segment {
    base_offset: u64,
    ctx: Arc<SegmentContext>,
    log_path: PathBuf,
    file: Arc<FileSlot>,
    /// Bytes of the `.log` readers may see (always a batch boundary).
    size: AtomicU64,
    /// Bytes already handed to the OS; `tail` holds the rest.
    os_size: AtomicU64,
    tail: Mutex<Vec<u8>>,
    /// Whether this is the active segment (`indexes.active`): its index
    /// entries live in memory and must never be rebuilt behind the
    /// writer's back.
    indexes: Arc<IndexSlot>,
    /// The largest timestamp and its offset; `None` until known (a closed
    /// segment learns it from its time index).
    max_timestamp: Mutex<Option<TimestampOffset>>,
    /// The segment was replaced (by compaction) or deleted: files under its
    /// names may belong to another segment now, so its indexes are rebuilt
    /// in memory from its own (pinned) `.log` handle, and nothing is
    /// written under its names.
    retired: AtomicBool,
    /// Where the records of batches already checked start and end, for
    /// point reads (see [`point`]).
    record_tables: Arc<point::TableSlot>,
    /// How far from its start the `.log` has passed its CRC checks, for
    /// scans (see [`checked`]).
    checked: Arc<checked::CheckedPrefix>,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("base_offset", &self.base_offset)
            .field("size", &self.size())
            .finish()
    }
}

/// What [`Segment::read`] found.
#[derive(Debug)]
pub(crate) enum SegmentRead {
    /// Batches, and whether they run to the end of what the segment holds
    /// (so a read may continue in the next segment).
    Slice {
        slice: SegmentSlice,
        reached_end: bool,
    },
    /// Nothing at or after the offset in this segment.
    Nothing,
    /// The next batch is beyond the read's limits; later segments are too.
    Stop,
}

/// A range of whole batches in one segment's `.log`.
#[derive(Debug, Clone)]
pub(crate) struct SegmentSlice {
    pub(crate) file: Arc<dyn FileHandle>,
    pub(crate) path: PathBuf,
    pub(crate) position: u64,
    pub(crate) len: u64,
    /// Base offset of the first batch.
    pub(crate) first_offset: u64,
    /// Where a read after this slice continues: every record of the log
    /// below it and at or after `first_offset` is in the slice.
    pub(crate) next_offset: u64,
    /// The segment's checked prefix as the read began; `None` for a log
    /// open read-only, whose batches are checked on every read.
    pub(crate) checked: Option<CheckedAt>,
}

impl Segment {
    fn new(
        ctx: Arc<SegmentContext>,
        base_offset: u64,
        size: u64,
        indexes: IndexState,
        max_timestamp: Option<TimestampOffset>,
    ) -> Self {
        let record_tables = point::TableSlot::new(ctx.resources.clone());
        Segment {
            log_path: ctx.path(base_offset, FileKind::Log),
            base_offset,
            ctx,
            file: Arc::new(FileSlot {
                file: RwLock::new(None),
                referenced: AtomicBool::new(false),
                registered: AtomicBool::new(false),
                writable: AtomicBool::new(false),
                pinned: AtomicBool::new(false),
            }),
            size: AtomicU64::new(size),
            os_size: AtomicU64::new(size),
            tail: Mutex::new(Vec::new()),
            indexes: Arc::new(IndexSlot {
                state: RwLock::new(indexes),
                referenced: AtomicBool::new(false),
                registered: AtomicBool::new(false),
                active: AtomicBool::new(false),
            }),
            max_timestamp: Mutex::new(max_timestamp),
            retired: AtomicBool::new(false),
            record_tables,
            checked: Default::default(),
        }
    }

    /// A closed segment whose files are opened and read on first use.
    pub(crate) fn closed(ctx: Arc<SegmentContext>, base_offset: u64, size: u64) -> Self {
        Self::new(ctx, base_offset, size, IndexState::Unloaded, None)
    }

    /// A closed segment whose indexes are already in memory (just
    /// recovered).
    pub(crate) fn closed_with(
        ctx: Arc<SegmentContext>,
        base_offset: u64,
        size: u64,
        offsets: Vec<u8>,
        times: Vec<u8>,
        max_timestamp: TimestampOffset,
    ) -> Self {
        Self::new(
            ctx,
            base_offset,
            size,
            IndexState::Loaded {
                offsets: IndexBytes::Owned(offsets),
                times: IndexBytes::Owned(times),
            },
            Some(max_timestamp),
        )
    }

    /// A closed segment with the indexes recovery just built for it.
    pub(crate) fn recovered(ctx: Arc<SegmentContext>, base_offset: u64, rec: RecoveredLog) -> Self {
        Self::closed_with(
            ctx,
            base_offset,
            rec.valid_bytes,
            rec.offsets,
            rec.times,
            rec.max_timestamp,
        )
    }

    /// The last segment of a read-only log, which another process may
    /// still be appending to: its index entries, built by reading the
    /// `.log`, live in memory (the writer's index files lag behind) and
    /// grow with [`extend_followed`](Self::extend_followed).
    pub(crate) fn followed(
        ctx: Arc<SegmentContext>,
        base_offset: u64,
        size: u64,
        offsets: Vec<u8>,
        times: Vec<u8>,
        max_timestamp: TimestampOffset,
    ) -> Self {
        let segment = Self::closed_with(ctx, base_offset, size, offsets, times, max_timestamp);
        segment.indexes.active.store(true, Ordering::Release);
        segment
    }

    /// Adds what a read-only log found appended to its last segment: index
    /// entries, the new visible size (a batch boundary) and the largest
    /// timestamp so far. Entries go in before the size moves, so a reader
    /// never looks past what the entries cover without scanning.
    pub(crate) fn extend_followed(
        &self,
        offsets: &[u8],
        times: &[u8],
        size: u64,
        max_timestamp: TimestampOffset,
    ) {
        {
            let mut state = write_lock(&self.indexes.state);
            match &mut *state {
                IndexState::Loaded {
                    offsets: IndexBytes::Owned(o),
                    times: IndexBytes::Owned(t),
                } => {
                    o.extend_from_slice(offsets);
                    t.extend_from_slice(times);
                }
                // Not reachable for a followed segment (its entries are
                // never released); a sparse index that lacks entries is
                // still right, only slower.
                other => {
                    *other = IndexState::Loaded {
                        offsets: IndexBytes::Owned(offsets.to_vec()),
                        times: IndexBytes::Owned(times.to_vec()),
                    }
                }
            }
        }
        *lock(&self.max_timestamp) = Some(max_timestamp);
        self.os_size.store(size, Ordering::Release);
        self.size.store(size, Ordering::Release);
    }

    /// A followed segment another one now follows: its writer sealed it,
    /// so it is a closed segment from here on (its entries may be released
    /// and read again from the files the writer trimmed).
    pub(crate) fn seal_followed(&self) {
        self.indexes.active.store(false, Ordering::Release);
    }

    pub(crate) fn base_offset(&self) -> u64 {
        self.base_offset
    }

    pub(crate) fn is_active(&self) -> bool {
        self.indexes.active.load(Ordering::Acquire)
    }

    /// Makes the segment the active one (its file opened for writing and
    /// its index entries kept), or a closed one again.
    fn set_active(&self, active: bool) {
        self.record_tables.reset();
        self.file.writable.store(active, Ordering::Release);
        self.indexes.active.store(active, Ordering::Release);
        self.checked.reset();
    }

    /// The checked prefix as a read of the file begins, if reads may
    /// trust it: no other process may write the log.
    pub(crate) fn checked_at(&self) -> Option<CheckedAt> {
        (!self.ctx.read_only).then(|| self.checked.at())
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Bytes of the `.log` visible to readers.
    pub(crate) fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Calls `f` with the segment's open file, opening it first if it is
    /// not open. The file stays open (its slot read-locked, which only
    /// makes an eviction pass it by) while `f` runs: no count of its
    /// references to raise and drop.
    pub(crate) fn with_handle<R>(&self, f: impl FnOnce(&dyn FileHandle) -> R) -> Result<R> {
        if let Some(h) = read_lock(&self.file.file).as_ref() {
            touch(&self.file.referenced);
            return Ok(f(&**h));
        }
        let h = self.handle()?;
        Ok(f(&*h))
    }

    /// The segment's `.log` handle, opened on first use (for writing if
    /// the segment is active, read-only otherwise). The handle stays
    /// usable for as long as the caller holds it, even if the slot is
    /// released meanwhile.
    pub(crate) fn handle(&self) -> Result<Arc<dyn FileHandle>> {
        if let Some(h) = read_lock(&self.file.file).as_ref() {
            touch(&self.file.referenced);
            return Ok(h.clone());
        }
        let h = {
            let mut slot = write_lock(&self.file.file);
            if let Some(h) = slot.as_ref() {
                return Ok(h.clone());
            }
            if self.retired.load(Ordering::Acquire) {
                // Its files were renamed away, and a compaction's swap may
                // have put another segment's under its name: a segment
                // reads only the file it had open when it was retired.
                return Err(Error::io(
                    "open",
                    &self.log_path,
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "the segment was deleted or replaced, and its file was not kept open",
                    ),
                ));
            }
            let mode = if self.file.writable.load(Ordering::Acquire) {
                OpenMode::Write
            } else {
                OpenMode::Read
            };
            let h = self
                .ctx
                .fs
                .open(&self.log_path, mode)
                .ctx("open", &self.log_path)?;
            self.check_not_replaced(&*h)?;
            *slot = Some(h.clone());
            h
        };
        self.admit_handle();
        Ok(h)
    }

    /// For a closed segment of a read-only view: fails if the file under
    /// its name no longer has the size the view knows (its writer
    /// compacted or truncated it since), so that the view is refreshed
    /// rather than read at positions that belong to another file.
    fn check_not_replaced(&self, file: &dyn FileHandle) -> Result<()> {
        if !self.ctx.read_only || self.is_active() {
            return Ok(());
        }
        let len = file.len().ctx("stat", &self.log_path)?;
        if len == self.size() {
            return Ok(());
        }
        let reason = format!(
            "the segment's file is {len} bytes where the view holds {}: its writer replaced it",
            self.size()
        );
        Err(Error::io(
            "open",
            &self.log_path,
            std::io::Error::new(std::io::ErrorKind::NotFound, reason),
        ))
    }

    /// Puts a handle the writer opened into the slot.
    fn set_handle(&self, handle: Arc<dyn FileHandle>) {
        *write_lock(&self.file.file) = Some(handle);
        self.admit_handle();
    }

    /// Counts the loaded handle in the store's open files (outside the
    /// slot's lock: a sweep may release other slots).
    fn admit_handle(&self) {
        self.file.referenced.store(true, Ordering::Release);
        if !self.file.registered.swap(true, Ordering::AcqRel) {
            let weak: Weak<FileSlot> = Arc::downgrade(&self.file);
            self.ctx.resources.open_files.admit(weak);
        }
    }

    /// Counts loaded index entries in the store's loaded indexes.
    fn admit_indexes(&self) {
        self.indexes.referenced.store(true, Ordering::Release);
        if !self.indexes.registered.swap(true, Ordering::AcqRel) {
            let weak: Weak<IndexSlot> = Arc::downgrade(&self.indexes);
            self.ctx.resources.loaded_indexes.admit(weak);
        }
    }

    /// Hands every buffered byte to the OS.
    pub(crate) fn write_tail(&self) -> Result<()> {
        self.ctx.poison.check()?;
        self.write_tail_unchecked()
    }

    /// [`write_tail`](Self::write_tail) even on a poisoned log: readers
    /// still want what was appended to become readable, and handing bytes
    /// to the OS claims nothing about durability.
    fn write_tail_unchecked(&self) -> Result<()> {
        let mut tail = lock(&self.tail);
        if tail.is_empty() {
            return Ok(());
        }
        let at = self.os_size.load(Ordering::Acquire);
        let handle = self.handle()?;
        let written = handle.write_all_at(&tail, at).ctx("write", &self.log_path);
        self.ctx.poison.guard(written)?;
        self.os_size
            .store(at + tail.len() as u64, Ordering::Release);
        tail.clear();
        Ok(())
    }

    /// Fsyncs the segment's `.log` and index files (a sealed segment, or
    /// the active one at close). Failure poisons the log.
    pub(crate) fn sync_files(&self) -> Result<()> {
        let result = (|| {
            self.write_tail()?;
            self.handle()?.sync_data().ctx("fsync", &self.log_path)?;
            for kind in [FileKind::Index, FileKind::TimeIndex] {
                let path = self.ctx.path(self.base_offset, kind);
                match self.ctx.fs.open(&path, OpenMode::Read) {
                    Ok(f) => f.sync_data().ctx("fsync", &path)?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("open", &path, e)),
                }
            }
            Ok(())
        })();
        self.ctx.poison.guard(result)
    }

    /// Runs `f` over the segment's index entries, loading them first if
    /// needed.
    pub(crate) fn with_indexes<R>(
        &self,
        f: impl FnOnce(OffsetEntries<'_>, TimeEntries<'_>) -> R,
    ) -> Result<R> {
        loop {
            {
                let state = read_lock(&self.indexes.state);
                if let IndexState::Loaded { offsets, times } = &*state {
                    touch(&self.indexes.referenced);
                    return Ok(f(
                        OffsetEntries::new(offsets, self.base_offset),
                        TimeEntries::new(times, self.base_offset),
                    ));
                }
            }
            self.load_indexes()?;
        }
    }

    /// Maps and checks a closed segment's index files, rebuilding them from
    /// the `.log` when they are missing or fail the checks.
    fn load_indexes(&self) -> Result<()> {
        self.load_indexes_locked()?;
        self.admit_indexes();
        Ok(())
    }

    fn load_indexes_locked(&self) -> Result<()> {
        let mut state = write_lock(&self.indexes.state);
        if matches!(*state, IndexState::Loaded { .. }) {
            return Ok(());
        }
        self.check_holds_data()?;
        let fs = &*self.ctx.fs;
        let index_path = self.ctx.path(self.base_offset, FileKind::Index);
        let time_path = self.ctx.path(self.base_offset, FileKind::TimeIndex);
        let size = self.size();
        if self.retired.load(Ordering::Acquire) {
            return self.load_indexes_from_log(&mut state);
        }
        let loaded = if self.ctx.read_only {
            read_index_files(&self.ctx, &index_path, &time_path)
        } else {
            map_index_files(fs, &index_path, &time_path)
        };
        if self.retired.load(Ordering::Acquire) {
            // Retired while the files were opened: they may be those of
            // the segment that replaced it.
            return self.load_indexes_from_log(&mut state);
        }
        let mut named = None;
        if let Ok(Some((offsets, times))) = loaded {
            let sane = check_offset_index(&index_path, &offsets, self.base_offset, size)
                .and_then(|()| check_time_index(&time_path, &times, self.base_offset));
            if sane.is_ok() && self.index_ends_match(&offsets, &times, size)? {
                let max = TimeEntries::new(&times, self.base_offset).last();
                let mut slot = lock(&self.max_timestamp);
                if slot.is_none() {
                    *slot = Some(max.unwrap_or(TimestampOffset::UNKNOWN));
                }
                *state = IndexState::Loaded { offsets, times };
                return Ok(());
            }
            // Only an index about to be replaced needs asking what it names.
            named = self.offset_named(&index_path, &offsets, &time_path, &times);
        }
        let rebuilt = self.rebuild_indexes(named)?;
        *lock(&self.max_timestamp) = Some(rebuilt.max_timestamp);
        *state = IndexState::Loaded {
            offsets: IndexBytes::Owned(rebuilt.offsets),
            times: IndexBytes::Owned(rebuilt.times),
        };
        Ok(())
    }

    /// A retired segment's indexes, rebuilt in memory from its own `.log`
    /// handle: the files under its names may be another segment's.
    fn load_indexes_from_log(&self, state: &mut IndexState) -> Result<()> {
        let rebuilt = self.rebuild_indexes(None)?;
        *lock(&self.max_timestamp) = Some(rebuilt.max_timestamp);
        *state = IndexState::Loaded {
            offsets: IndexBytes::Owned(rebuilt.offsets),
            times: IndexBytes::Owned(rebuilt.times),
        };
        Ok(())
    }

    /// Rebuilds a closed segment's indexes from its `.log` and replaces the
    /// files. Any damage in the `.log` is an error: a closed segment's data
    /// was synced before the next segment was created.
    fn rebuild_indexes(&self, named: Option<u64>) -> Result<RecoveredLog> {
        let handle = self.handle()?;
        let size = self.size();
        let mut rebuilt = recover_log(
            &*handle,
            &self.log_path,
            self.base_offset,
            size,
            self.ctx.index_interval_bytes,
        )?;
        if let Some((position, reason)) = rebuilt.invalid.take() {
            return Err(Error::corrupt(&self.log_path, position, reason));
        }
        self.check_not_cut(named, &rebuilt)?;
        rebuilt.add_final_time_entry(self.base_offset);
        if self.ctx.read_only || self.retired.load(Ordering::Acquire) {
            return Ok(rebuilt);
        }
        // The files are derived data: if they cannot be rewritten (a
        // read-only directory), the entries in memory still serve reads and
        // the next open rebuilds them again.
        let fs = &*self.ctx.fs;
        let _ = fsio::write_file_atomically(
            fs,
            &self.ctx.path(self.base_offset, FileKind::Index),
            &rebuilt.offsets,
        )
        .and_then(|()| {
            fsio::write_file_atomically(
                fs,
                &self.ctx.path(self.base_offset, FileKind::TimeIndex),
                &rebuilt.times,
            )
        });
        Ok(rebuilt)
    }

    /// Forgets the loaded index entries (they are mapped again from the
    /// files on next use). Only for a segment that is no longer active: the
    /// active segment's entries exist only in memory until it is sealed.
    pub(crate) fn unload_indexes(&self) {
        *write_lock(&self.indexes.state) = IndexState::Unloaded;
    }

    fn index_suspect(&self) -> Result<()> {
        // Throw away what was loaded and rebuild from the log.
        let rebuilt = self.rebuild_indexes(None)?;
        *lock(&self.max_timestamp) = Some(rebuilt.max_timestamp);
        *write_lock(&self.indexes.state) = IndexState::Loaded {
            offsets: IndexBytes::Owned(rebuilt.offsets),
            times: IndexBytes::Owned(rebuilt.times),
        };
        self.admit_indexes();
        Ok(())
    }

    /// The segment's largest timestamp and the offset that carried it.
    pub(crate) fn max_timestamp(&self) -> Result<TimestampOffset> {
        if let Some(m) = *lock(&self.max_timestamp) {
            return Ok(m);
        }
        self.load_indexes()?;
        Ok(lock(&self.max_timestamp).unwrap_or(TimestampOffset::UNKNOWN))
    }

    pub(crate) fn set_max_timestamp(&self, max: TimestampOffset) {
        *lock(&self.max_timestamp) = Some(max);
    }

    /// Renames the segment's files with the `.deleted` suffix (readers
    /// holding its handle keep reading), fsyncs the directory, and returns
    /// the new paths.
    pub(crate) fn rename_to_deleted(&self) -> Result<Vec<PathBuf>> {
        let mut renamed = Vec::new();
        self.rename_files_to_deleted(&mut renamed, true)?;
        self.ctx
            .fs
            .sync_dir(&self.ctx.dir)
            .ctx("fsync directory", &self.ctx.dir)?;
        Ok(renamed)
    }

    /// Renames the segment's files with the `.deleted` suffix (readers
    /// holding it keep reading, if `in_use` says there may be any: its file
    /// is then opened first and kept open), adding each new path to
    /// `renamed` as it goes, so that a failure part-way still tells which
    /// files moved. The directory is not fsynced: the caller does it once
    /// for all the segments it renames.
    pub(crate) fn rename_files_to_deleted(
        &self,
        renamed: &mut Vec<PathBuf>,
        in_use: bool,
    ) -> Result<()> {
        if in_use {
            // Open the log first and keep it open, so that a reader that
            // still holds the segment can read it after the rename. If it
            // cannot be opened, such a reader gets an error instead.
            self.file.pinned.store(true, Ordering::Release);
            let _ = self.handle();
        }
        // From here on the segment's files are not opened by name again.
        self.retired.store(true, Ordering::Release);
        let fs = &*self.ctx.fs;
        for kind in [
            FileKind::Log,
            FileKind::Index,
            FileKind::TimeIndex,
            FileKind::TxnIndex,
        ] {
            let from = self.ctx.path(self.base_offset, kind);
            let mut to = from.clone().into_os_string();
            to.push(TempSuffix::Deleted.suffix());
            let to = PathBuf::from(to);
            match fs.rename(&from, &to) {
                Ok(()) => renamed.push(to),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("rename", &from, e)),
            }
        }
        Ok(())
    }
}

/// A segment's two index files, memory-mapped; `None` if one is missing.
fn map_index_files(
    fs: &dyn Fs,
    index_path: &Path,
    time_path: &Path,
) -> Result<Option<(IndexBytes, IndexBytes)>> {
    let Some(offsets) = map_if_exists(fs, index_path)? else {
        return Ok(None);
    };
    let Some(times) = map_if_exists(fs, time_path)? else {
        return Ok(None);
    };
    Ok(Some((
        IndexBytes::Mapped(offsets),
        IndexBytes::Mapped(times),
    )))
}

/// A segment's two index files, read into memory; `None` if one is
/// missing. One larger than `segment_index_bytes` is an error (the caller
/// then rebuilds the entries from the `.log`), never an allocation.
fn read_index_files(
    ctx: &SegmentContext,
    index_path: &Path,
    time_path: &Path,
) -> Result<Option<(IndexBytes, IndexBytes)>> {
    let fs = &*ctx.fs;
    let max_offsets = (ctx.max_offset_entries * OFFSET_ENTRY_LEN) as u64;
    let max_times = (ctx.max_time_entries * TIME_ENTRY_LEN) as u64;
    let Some(offsets) = fsio::read_file_at_most(fs, index_path, max_offsets)? else {
        return Ok(None);
    };
    let Some(times) = fsio::read_file_at_most(fs, time_path, max_times)? else {
        return Ok(None);
    };
    Ok(Some((IndexBytes::Owned(offsets), IndexBytes::Owned(times))))
}

/// Maps a whole file, or `None` if it does not exist.
fn map_if_exists(fs: &dyn Fs, path: &Path) -> Result<Option<Mapping>> {
    match fs.open(path, OpenMode::Read) {
        Ok(f) => f.map().ctx("map", path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("open", path, e)),
    }
}

/// Why a segment other than the last cannot hold the records it must: its
/// `.log` is a directory (`is_dir`), or it is empty (a roll never leaves an
/// empty segment behind). Opens, reads and verification say it alike.
pub(crate) fn missing_records_reason(is_dir: bool) -> &'static str {
    if is_dir {
        "is a directory, not a segment file: the records of this segment are missing"
    } else {
        "is empty, but it is not the last segment: the records of this segment are missing"
    }
}

/// Removes files, ignoring ones already gone, then syncs their directory.
pub(crate) fn remove_files(fs: &dyn Fs, dir: &Path, paths: &[PathBuf]) -> Result<()> {
    for p in paths {
        match fs.remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", p, e)),
        }
    }
    fs.sync_dir(dir).ctx("fsync directory", dir)
}

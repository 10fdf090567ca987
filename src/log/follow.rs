//! Read-only logs: a view of a partition directory that another process
//! may be writing, brought up to date by [`PartitionLog::refresh`].
//!
//! Opening read-only takes no lock and writes nothing. Only the last
//! segment is read, and its index entries are built in memory, since a
//! writer keeps its active segment's entries in memory until it seals it.
//! The view ends quietly only before a batch the writer may still be
//! writing, beyond what it had made durable; any other damage there is an
//! [`Error::Corrupt`] naming the file and byte position (see
//! [`tail_damage`](super::tail_damage)). After a clean shutdown the walk
//! starts at the last entry of the writer's index files that checks out
//! against the `.log` (the bytes before it were synced and checked when
//! written, and are not checked again), so a cleanly closed log opens
//! without reading its data. Earlier segments were sealed, indexes
//! written, before the next one was created: they are opened lazily, as
//! after a clean shutdown, and damage in them (left by a machine crash
//! nobody has recovered from yet) is reported when a read reaches it.
//!
//! A refresh lists the directory again and reads on from where the view
//! ends: new batches of the last segment, then the segments the writer
//! rolled to. Segments the writer deleted (retention) leave the view,
//! segments a compaction replaced are opened afresh (not while the writer
//! is still swapping them in), and the log start offset follows the
//! writer's checkpoint. If the writer
//! went back (a truncation, or a topic deleted and created again), the view
//! is read again from scratch. Half a batch at the end of the last segment,
//! beyond what the writer had made durable, is a write in progress: the
//! view stops before it and the next refresh tries again. Other damage in
//! the last segment is reported by every refresh that finds it still
//! there (a writer's recovery may cut it off and append after it); an
//! invalid batch in a segment this view was following when its writer
//! moved on is reported by every refresh from then on.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::load::{segment_logs, start_within, unusable_segments};
use super::state::{self, PartitionState, SavedState};
use super::tail_damage::{self, Durable};
use super::{Inner, PartitionLog, RecoveryReport};
use crate::config::RecoveryMode;
use crate::error::{Error, Result};
use crate::io::{self as fsio, FileHandle, IoContext, OpenMode};
use crate::record::{BatchHeader, BATCH_HEADER_LEN};
use crate::segment::{
    lock, read_lock, recover_log, write_lock, FileKind, RecoveredLog, Segment, SegmentContext,
    TimestampOffset, OFFSET_ENTRY_LEN, TIME_ENTRY_LEN,
};

/// What a read-only log knows beyond its segments.
#[derive(Default)]
pub(super) struct Follow {
    /// The last segment and the walk over it so far; `None` while the
    /// directory holds no segment.
    tail: Option<Tail>,
    /// Damage in a segment the writer has moved past: the view cannot go
    /// beyond it.
    stuck: Option<Error>,
    /// A refresh replaced closed segments (a compaction): the view changed
    /// even if its offsets did not.
    replaced: bool,
}

struct Tail {
    segment: Arc<Segment>,
    /// Where the walk stands; its index entries have been handed to the
    /// segment.
    scan: RecoveredLog,
    /// Base offset and CRC of the segment's first batch, once read: a file
    /// that no longer starts with it was replaced (a topic deleted and
    /// created again), even if it is as long as the one read before.
    first: Option<(u64, u32)>,
}

impl Tail {
    fn next_offset(&self) -> u64 {
        self.scan.next_offset(self.segment.base_offset())
    }
}

/// A read-only log's state, as loaded.
pub(super) struct View {
    pub(super) segments: BTreeMap<u64, Arc<Segment>>,
    pub(super) log_start: u64,
    pub(super) leo: u64,
    pub(super) recovery_point: u64,
    pub(super) report: RecoveryReport,
    pub(super) follow: Follow,
}

/// Reads the directory as it is now, changing nothing. A missing directory
/// is an empty log (its writer may not have created it yet). A segment the
/// writer deletes while it is being read (retention, or an empty segment
/// replaced at a roll) makes it start over, a few times at most.
pub(super) fn load(
    ctx: &Arc<SegmentContext>,
    mode: RecoveryMode,
    fallback: Option<SavedState>,
) -> Result<View> {
    let mut attempts = 0;
    let mut swap_waits = 0;
    loop {
        match load_once(ctx, mode, fallback.clone()) {
            Err(Error::Io { source, .. })
                if source.kind() == io::ErrorKind::NotFound && attempts < 3 =>
            {
                attempts += 1;
            }
            // The writer is swapping compacted segments in: the segments
            // they replace may already be renamed away. Wait for the swap
            // (a few renames) rather than show a log without them.
            Err(Error::Io { path, source, .. }) if source.kind() == io::ErrorKind::WouldBlock => {
                if swap_waits >= SWAP_WAITS {
                    return Err(Error::corrupt(
                        &path,
                        0,
                        "a compaction swap is in progress or was interrupted: the segments it \
                         replaces are renamed away, and opening the log for writing completes it",
                    ));
                }
                swap_waits += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// How many times (10 ms apart) a read-only open waits for a writer's
/// compaction swap to finish.
const SWAP_WAITS: u32 = 100;

/// A `.swap` file among the entries (a compaction swap under way), as the
/// error [`load`] waits on.
fn swap_in_progress(dir: &Path, entries: &[crate::io::DirEntry]) -> Result<()> {
    let swap = entries.iter().find(|e| {
        crate::segment::parse_file_name(&e.name)
            .is_some_and(|p| p.temp == Some(crate::segment::TempSuffix::Swap))
    });
    match swap {
        Some(e) => Err(Error::io(
            "list",
            &dir.join(&e.name),
            io::Error::new(io::ErrorKind::WouldBlock, "a compaction swap is under way"),
        )),
        None => Ok(()),
    }
}

fn load_once(
    ctx: &Arc<SegmentContext>,
    mode: RecoveryMode,
    fallback: Option<SavedState>,
) -> Result<View> {
    let fs = &*ctx.fs;
    let dir = &ctx.dir;
    let saved_from = match state::read_state(fs, dir, mode)? {
        Some(own) => Some(SavedState::own(dir, own)),
        None => fallback.clone(),
    };
    let saved = saved_from.as_ref().map(|s| s.state);
    let fallback = fallback.map(|s| s.state);
    let saved_start = saved.map_or(0, |s| s.log_start_offset);
    let recovery_point = saved.map_or(0, |s| s.recovery_point);
    let mut report = RecoveryReport::default();
    let entries = match fs.list_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    swap_in_progress(dir, &entries)?;
    let logs: Vec<(u64, u64)> = segment_logs(&entries).into_iter().collect();
    report.created = logs.is_empty();
    if logs.is_empty() {
        return Ok(View {
            segments: BTreeMap::new(),
            log_start: saved_start,
            leo: saved_start,
            recovery_point,
            report,
            follow: Follow::default(),
        });
    }

    let marker = state::read_clean_marker(fs, dir)?;
    let last = logs.len() - 1;
    let clean = marker.parsed.as_ref().is_some_and(|m| {
        let files: BTreeMap<u64, u64> = logs.iter().copied().collect();
        super::load::marker_matches(m, &files)
    });
    report.clean_shutdown = clean;
    // Only the last segment is read (for its index entries). The others
    // were sealed by their writer, indexes written, before the next one was
    // created: they are opened lazily, as after a clean shutdown, and
    // damage in them (a machine crash nobody has recovered from yet) is
    // reported when a read reaches it. Their listed sizes are final below
    // the recovery point (synced before the checkpoint was read); later
    // ones may have been sealed while the directory was listed, so they
    // are measured again.
    let settled = if clean {
        last
    } else {
        logs.iter()
            .rposition(|(b, _)| *b <= recovery_point)
            .unwrap_or(0)
    };
    let mut segments = BTreeMap::new();
    for (i, &(base, listed)) in logs[..last].iter().enumerate() {
        let size = if i < settled {
            listed
        } else {
            let path = ctx.path(base, FileKind::Log);
            let file = fs.open(&path, OpenMode::Read).ctx("open", &path)?;
            file.len().ctx("stat", &path)?
        };
        segments.insert(base, Arc::new(Segment::closed(ctx.clone(), base, size)));
    }
    let base = logs[last].0;
    let path = ctx.path(base, FileKind::Log);
    let file = fs.open(&path, OpenMode::Read).ctx("open", &path)?;
    let size = file.len().ctx("stat", &path)?;
    // After a clean shutdown the writer's index files of the last segment
    // are as its close left them, and the marker holds its largest
    // timestamp: the walk can start from them.
    let at_close = marker
        .parsed
        .as_ref()
        .filter(|_| clean)
        .map(|m| m.resume.max);
    let rec = read_last_segment(ctx, &*file, &path, base, size, at_close)?;
    let durable = Durable {
        recovery_point,
        closed: marker.parsed.map(|m| (m.active_base_offset, m.active_size)),
    };
    tail_damage::check(&rec, base, &path, &durable, || {
        Durable::read(fs, dir, mode, fallback)
    })?;
    report.segments_recovered = 1;
    let first = if rec.valid_bytes > 0 {
        batch_at(&*file, &path, 0)?
    } else {
        None
    };
    let mut tail = start_tail(ctx, base, rec);
    tail.first = first;
    segments.insert(tail.segment.base_offset(), tail.segment.clone());
    let leo = tail.next_offset();
    let first_base = logs[0].0;
    let (log_start, mismatch) = start_within(saved_from.as_ref(), first_base, leo);
    report.checkpoint_mismatches.extend(mismatch);
    report.damaged_segments = unusable_segments(ctx, &entries)
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    Ok(View {
        segments,
        log_start,
        leo,
        recovery_point,
        report,
        follow: Follow {
            tail: Some(tail),
            stuck: None,
            replaced: false,
        },
    })
}

/// The followed last segment for what `rec` read of it.
fn start_tail(ctx: &Arc<SegmentContext>, base: u64, mut rec: RecoveredLog) -> Tail {
    let segment = Arc::new(Segment::followed(
        ctx.clone(),
        base,
        rec.valid_bytes,
        std::mem::take(&mut rec.offsets),
        std::mem::take(&mut rec.times),
        rec.max_timestamp,
    ));
    Tail {
        segment,
        scan: rec,
        first: None,
    }
}

/// Walks the last segment to its end. After a clean shutdown
/// (`max_at_close` is the segment's largest timestamp then), the walk
/// starts at the last entry of the writer's offset index that lies inside
/// the file, if the batch found there ends with the offset it names; the
/// entries before it are taken from the index files as they are (they
/// were checked when written, not against the `.log` now). Otherwise, and
/// if the batch there is invalid, from the start.
fn read_last_segment(
    ctx: &SegmentContext,
    file: &dyn FileHandle,
    path: &Path,
    base: u64,
    size: u64,
    max_at_close: Option<TimestampOffset>,
) -> Result<RecoveredLog> {
    let resumed = max_at_close.and_then(|max| resume_point(ctx, file, base, size, max));
    if let Some(mut rec) = resumed {
        let from = rec.valid_bytes;
        rec.extend(file, path, base, size)?;
        let failed_at_start = rec.valid_bytes == from && rec.invalid.is_some();
        if !failed_at_start {
            return Ok(rec);
        }
    }
    recover_log(file, path, base, size, ctx.index_interval_bytes)
}

/// Where the writer's index files let a walk of the last segment start:
/// their entries up to the last offset entry that points inside the file
/// at a batch ending with the offset it names. `None` if there is none.
/// `max_at_close` (from the clean-shutdown marker) is the segment's
/// largest timestamp over everything before that point; the time index
/// alone cannot say, since it may lag the offset index.
fn resume_point(
    ctx: &SegmentContext,
    file: &dyn FileHandle,
    base: u64,
    size: u64,
    max_at_close: TimestampOffset,
) -> Option<RecoveredLog> {
    // A writer opening the store since may be rewriting these files as
    // they are read: whatever goes wrong only means no hint.
    let read = |kind, entries: usize, len: usize| {
        let max = (entries * len) as u64;
        fsio::read_file_at_most(&*ctx.fs, &ctx.path(base, kind), max)
            .ok()
            .flatten()
            .unwrap_or_default()
    };
    let offsets = read(FileKind::Index, ctx.max_offset_entries, OFFSET_ENTRY_LEN);
    let times = read(FileKind::TimeIndex, ctx.max_time_entries, TIME_ENTRY_LEN);
    // The entries written so far: positions and offsets strictly increase
    // (a preallocated file ends in zeros), positions inside the file.
    let mut kept = 0;
    let mut prev: Option<(u32, u32)> = None;
    for e in offsets.chunks_exact(OFFSET_ENTRY_LEN) {
        let rel = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
        let pos = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
        let grows = prev.is_none_or(|(r, p)| rel > r && pos > p);
        if !grows || pos == 0 || u64::from(pos) >= size {
            break;
        }
        prev = Some((rel, pos));
        kept += 1;
    }
    let (rel, pos) = prev?;
    let entry_offset = base + u64::from(rel);
    let mut head = [0u8; BATCH_HEADER_LEN];
    file.read_exact_at(&mut head, u64::from(pos)).ok()?;
    match BatchHeader::parse(&head) {
        Ok(h) if h.last_offset() == entry_offset && h.base_offset >= base => {}
        _ => return None,
    }
    let mut times_kept = 0;
    let mut last_entry = TimestampOffset::UNKNOWN;
    let mut last_time = None;
    for e in times.chunks_exact(TIME_ENTRY_LEN) {
        let ts = i64::from_be_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]);
        let rel_t = u32::from_be_bytes([e[8], e[9], e[10], e[11]]);
        let offset = base + u64::from(rel_t);
        let in_order = last_time.is_none_or(|t| ts >= t) && offset >= last_entry.offset.max(base);
        if e.iter().all(|b| *b == 0) || !in_order || offset > entry_offset {
            break;
        }
        last_entry = TimestampOffset {
            timestamp: ts,
            offset,
        };
        last_time = Some(ts);
        times_kept += 1;
    }
    Some(RecoveredLog::resumed(
        ctx.index_interval_bytes,
        u64::from(pos),
        offsets[..kept * OFFSET_ENTRY_LEN].to_vec(),
        times[..times_kept * TIME_ENTRY_LEN].to_vec(),
        max_at_close,
        last_time,
    ))
}

/// Base offset and CRC of the batch at `position` of `file`, if it holds a
/// whole header there.
fn batch_at(file: &dyn FileHandle, path: &Path, position: u64) -> Result<Option<(u64, u32)>> {
    let mut head = [0u8; BATCH_HEADER_LEN];
    match file.read_exact_at(&mut head, position) {
        Ok(()) => Ok(BatchHeader::parse(&head)
            .ok()
            .map(|h| (h.base_offset, h.crc))),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// A segment's `.log` as it is now, freshly opened (a handle kept from
/// before may name a file since replaced), with its length; `None` if it
/// is gone.
fn open_current(ctx: &SegmentContext, base: u64) -> Result<Option<(Arc<dyn FileHandle>, u64)>> {
    let path = ctx.path(base, FileKind::Log);
    match ctx.fs.open(&path, OpenMode::Read) {
        Ok(f) => {
            let len = f.len().ctx("stat", &path)?;
            Ok(Some((f, len)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("open", &path, e)),
    }
}

/// Whether the last segment's file is no longer what was read: gone,
/// shorter, or with other batches at its start or where the walk
/// stopped.
fn replaced(ctx: &SegmentContext, tail: &Tail) -> Result<bool> {
    let base = tail.segment.base_offset();
    let Some((file, len)) = open_current(ctx, base)? else {
        return Ok(true);
    };
    if len < tail.scan.valid_bytes {
        return Ok(true);
    }
    let path = ctx.path(base, FileKind::Log);
    if let Some(first) = tail.first {
        if batch_at(&*file, &path, 0)? != Some(first) {
            return Ok(true);
        }
    }
    // A truncation followed by new appends leaves the file as long as
    // before, or longer, but with other batches where the walk stopped.
    if let Some((position, base_offset, crc)) = tail.scan.last_batch {
        if batch_at(&*file, &path, position)? != Some((base_offset, crc)) {
            return Ok(true);
        }
    }
    Ok(false)
}

impl PartitionLog {
    /// Whether the log was opened read-only
    /// ([`OpenOptions::read_only`](super::OpenOptions::read_only)).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let view = PartitionLog::options()
    ///     .read_only(true)
    ///     .open(dir.path().join("events-0"), LogConfig::default())?;
    /// assert!(view.is_read_only() && !log.is_read_only());
    /// assert!(view.append(&[Record::new("a")]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_read_only(&self) -> bool {
        self.inner.follow.is_some()
    }

    /// Brings a read-only log up to date with what its writer (another
    /// process, or another open of the directory) has done since: batches
    /// appended, segments rolled to or deleted, the log start offset
    /// moved. Returns whether the view changed (its start or end offset,
    /// or its segments). A log opened for writing is always up to date:
    /// for it this does nothing.
    ///
    /// Records become visible once the writer has handed them to the OS
    /// (every append with the default [`Durability::Flush`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let view = PartitionLog::options()
    ///     .read_only(true)
    ///     .open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// assert_eq!(view.log_end_offset(), 0);
    /// assert!(view.refresh()?);
    /// assert_eq!(view.read_record(0)?.and_then(|r| r.value), Some(b"a".to_vec()));
    /// assert!(!view.refresh()?); // nothing new since
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the file and byte position if the last
    /// segment holds damage: a batch that cannot be one (a bad CRC, length
    /// or offsets), or one cut short, or its data ending, below what the
    /// writer had made durable (the view takes what comes before it, and
    /// every refresh that finds the damage still there reports it); or if
    /// the segment this view was following holds an invalid batch although
    /// its writer has moved on to a new one (the view cannot go beyond it;
    /// every later refresh reports it again); [`Error::Io`], for example
    /// when the directory was removed; [`Error::Closed`].
    ///
    /// [`Durability::Flush`]: crate::Durability::Flush
    pub fn refresh(&self) -> Result<bool> {
        let Some(follow) = &self.inner.follow else {
            self.inner.check_open()?;
            return Ok(false);
        };
        let mut follow = lock(follow);
        self.inner.check_open()?;
        let shape = |log: &Self| {
            let segments = read_lock(&log.inner.segments);
            let first = segments.keys().next().copied();
            (
                log.log_start_offset(),
                log.log_end_offset(),
                first,
                segments.len(),
            )
        };
        let before = shape(self);
        let result = self.inner.refresh(&mut follow);
        let replaced = std::mem::take(&mut follow.replaced);
        let after = shape(self);
        if after.1 != before.1 {
            if let Some(listener) = &self.inner.listener {
                listener();
            }
        }
        result.map(|()| replaced || after != before)
    }
}

impl Inner {
    fn refresh(&self, f: &mut Follow) -> Result<()> {
        let ctx = &self.ctx;
        let fs = &*ctx.fs;
        let saved = state::read_state(fs, &self.dir, RecoveryMode::TruncateCorrupt)?;
        let mut entries = fs.list_dir(&self.dir).ctx("list", &self.dir)?;
        // Let a compaction swap under way finish (a few renames), so that
        // the view moves from the old segments to the new ones at once.
        for _ in 0..SWAP_WAITS {
            if swap_in_progress(&self.dir, &entries).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            entries = fs.list_dir(&self.dir).ctx("list", &self.dir)?;
        }
        let logs = segment_logs(&entries);
        let went_back = match &f.tail {
            None => !logs.is_empty(),
            Some(t) => !logs.contains_key(&t.segment.base_offset()) || replaced(ctx, t)?,
        };
        if went_back {
            let view = load(ctx, RecoveryMode::TruncateCorrupt, None)?;
            *write_lock(&self.segments) = view.segments;
            self.log_start_offset
                .store(view.log_start, Ordering::Release);
            self.log_end_offset.store(view.leo, Ordering::Release);
            // A fresh view starts with no damage on record.
            *f = view.follow;
            return Ok(());
        }
        let Some(tail) = f.tail.as_mut() else {
            return Ok(());
        };
        // While the writer swaps compacted segments in (`.swap` files
        // exist), its closed segments are half renamed: the view keeps
        // them as they were until the swap is over.
        if swap_in_progress(&self.dir, &entries).is_ok() {
            f.replaced |= self.reconcile_closed(tail.segment.base_offset(), &logs);
        }
        let result = match &f.stuck {
            Some(e) => Err(e.duplicate()),
            None => self.read_on(tail, &logs),
        };
        if let Err(e @ Error::Corrupt { .. }) = &result {
            f.stuck = Some(e.duplicate());
        }
        // Damage at the end of the last segment is not recorded: a writer's
        // recovery may cut it off and append after it.
        let result = result.and_then(|read_last| {
            if read_last {
                self.check_last(tail, saved)
            } else {
                Ok(())
            }
        });
        // The log end offset moved with what was published (see
        // `publish`), never ahead of it.
        let end = self.log_end_offset.load(Ordering::Acquire);
        let first = read_lock(&self.segments).keys().next().copied();
        let saved = saved.map(|s| SavedState::own(&self.dir, s));
        let (start, _) = start_within(saved.as_ref(), first.unwrap_or(0), end);
        self.log_start_offset.fetch_max(start, Ordering::AcqRel);
        result
    }

    /// Brings the view's closed segments (below `tail_base`) in line with
    /// the directory: segments the writer deleted (retention) leave the
    /// view; a segment whose `.log` changed size was replaced by a
    /// compaction and is opened afresh (readers that hold the old one keep
    /// it); a segment the view lacks (one a compaction swapped in while
    /// the view was listed) joins it.
    /// Returns whether a segment was replaced or added.
    fn reconcile_closed(&self, tail_base: u64, logs: &super::load::LogFiles) -> bool {
        let mut segments = write_lock(&self.segments);
        segments.retain(|base, _| logs.contains_key(base));
        let mut replaced = false;
        for (&base, &len) in logs.range(..tail_base) {
            let stale = segments.get(&base).is_none_or(|s| s.size() != len);
            if stale {
                let fresh = Segment::closed(self.ctx.clone(), base, len);
                segments.insert(base, Arc::new(fresh));
                replaced = true;
            }
        }
        replaced
    }

    /// Checks where the walk of the last segment ended (see
    /// [`tail_damage`]), against the checkpoint `saved` read before the
    /// directory was listed.
    fn check_last(&self, tail: &Tail, saved: Option<PartitionState>) -> Result<()> {
        let recovery_point = saved.map_or(0, |s| s.recovery_point);
        if tail.scan.invalid.is_none() && tail.next_offset() >= recovery_point {
            return Ok(());
        }
        let fs = &*self.ctx.fs;
        let durable = Durable {
            recovery_point,
            closed: tail_damage::closed_segment(fs, &self.dir)?,
        };
        let base = tail.segment.base_offset();
        let path = self.ctx.path(base, FileKind::Log);
        tail_damage::check(&tail.scan, base, &path, &durable, || {
            Durable::read(fs, &self.dir, RecoveryMode::TruncateCorrupt, None)
        })
    }

    /// Reads on from the end of the view: the rest of the last segment,
    /// then the segments the writer rolled to since. Returns whether the
    /// last segment was read as it is now (not if its file went away).
    fn read_on(&self, tail: &mut Tail, logs: &BTreeMap<u64, u64>) -> Result<bool> {
        let ctx = &self.ctx;
        loop {
            let base = tail.segment.base_offset();
            let path = ctx.path(base, FileKind::Log);
            // Listed first, measured second: a segment after this one in
            // the listing means the writer sealed this one before, so the
            // length measured now is final.
            let next = logs.range(base + 1..).next().map(|(b, _)| *b);
            let Some((file, len)) = open_current(ctx, base)? else {
                return Ok(false);
            };
            if len > tail.scan.valid_bytes {
                let extended = tail.scan.extend(&*file, &path, base, len);
                // What was read before a failure is whole and checked.
                self.publish(tail);
                extended?;
                if tail.first.is_none() {
                    tail.first = batch_at(&*file, &path, 0)?;
                }
            } else {
                // Nothing beyond the view: what was found there before
                // was taken back.
                tail.scan.invalid = None;
            }
            let Some(next) = next else {
                return Ok(true);
            };
            if tail.scan.valid_bytes < len {
                // Sealed by its writer, yet not whole batches to its end.
                let (position, reason) = tail.scan.invalid.clone().unwrap_or((
                    tail.scan.valid_bytes,
                    "the segment ends inside a batch although a later segment follows it"
                        .to_string(),
                ));
                return Err(Error::corrupt(&path, position, reason));
            }
            // Half a batch seen earlier was taken back before the roll.
            tail.scan.invalid = None;
            tail.scan.add_final_time_entry(base);
            self.publish(tail);
            tail.segment.seal_followed();
            // Segments rolled past without being seen as the last one were
            // sealed by the writer: taken as they are, like a clean open.
            let mut after = logs.range(next..).map(|(b, _)| *b).peekable();
            while let Some(b) = after.next() {
                if after.peek().is_none() {
                    let segment = Arc::new(Segment::followed(
                        ctx.clone(),
                        b,
                        0,
                        Vec::new(),
                        Vec::new(),
                        crate::segment::TimestampOffset::UNKNOWN,
                    ));
                    write_lock(&self.segments).insert(b, segment.clone());
                    *tail = Tail {
                        segment,
                        scan: RecoveredLog::empty(ctx.index_interval_bytes),
                        first: None,
                    };
                    break;
                }
                let Some((_, size)) = open_current(ctx, b)? else {
                    continue;
                };
                write_lock(&self.segments)
                    .insert(b, Arc::new(Segment::closed(ctx.clone(), b, size)));
            }
        }
    }

    /// Hands what the walk found to the segment and moves the log end
    /// offset (after the segment's size: readers check the offset first).
    fn publish(&self, tail: &mut Tail) {
        let offsets = std::mem::take(&mut tail.scan.offsets);
        let times = std::mem::take(&mut tail.scan.times);
        tail.segment.extend_followed(
            &offsets,
            &times,
            tail.scan.valid_bytes,
            tail.scan.max_timestamp,
        );
        self.log_end_offset
            .store(tail.next_offset(), Ordering::Release);
    }
}

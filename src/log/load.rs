//! Opening a partition directory: clean load, crash recovery, cleanup.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};

use super::follow::{self, Follow};
use super::offset_checkpoint::{self, OffsetCheckpointFile};
use super::recover::recover;
use super::state::{self, CleanShutdown, PartitionState, SavedState};
use super::{
    CheckpointField, CheckpointMismatch, Inner, OpenOptions, PartitionLog, RecoveryReport,
    SegmentDamage, Writer,
};
use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::io::{self as fsio, DirEntry, Fs, IoContext, OpenMode};
use crate::poison::Poison;
use crate::replication::LeaderEpochCache;
use crate::segment::{
    check_offset_index, check_time_index, missing_records_reason, parse_file_name, recover_log,
    remove_files, ActiveSegment, FileKind, IndexFiles, Resources, Segment, SegmentContext,
    TempSuffix,
};

/// Segment `.log` files found in a directory: base offset to size.
pub(super) type LogFiles = BTreeMap<u64, u64>;

/// What a directory listing shows of a log's segments: every `.log` with
/// its size, and those (not the last) that cannot hold their records.
pub(super) struct Listing<'a> {
    pub(super) logs: &'a LogFiles,
    pub(super) unusable: Vec<(u64, SegmentDamage)>,
}

/// The segments an open ends up with.
pub(super) struct Loaded {
    pub(super) closed: Vec<Arc<Segment>>,
    pub(super) active: ActiveSegment,
    /// Leader epochs of the batches recovery re-read, in offset order.
    pub(super) epochs: Vec<(i32, u64)>,
}

/// What an open hands to the log it builds.
struct Opened {
    segments: BTreeMap<u64, Arc<Segment>>,
    log_start: u64,
    leo: u64,
    recovery_point: u64,
    report: RecoveryReport,
    /// Leader epochs of the batches recovery re-read.
    epochs: Vec<(i32, u64)>,
    active: Option<ActiveSegment>,
    clean_marker: bool,
    follow: Option<Follow>,
}

pub(super) fn open(opts: OpenOptions, dir: &Path, config: LogConfig) -> Result<PartitionLog> {
    config.validate()?;
    let fs = opts.fs.clone();
    if !fs.exists(dir).ctx("stat", dir)? {
        if !opts.create {
            return Err(Error::io(
                "open",
                dir,
                io::Error::new(io::ErrorKind::NotFound, "no such partition directory"),
            ));
        }
        // A read-only log of a directory not created yet is empty.
        if !opts.read_only {
            fsio::create_dir_durably(&*fs, dir)?;
        }
    }
    let dir_lock = if opts.lock_dir && !opts.read_only {
        Some(super::dir_lock::lock(&*fs, dir)?)
    } else {
        None
    };

    let poison = Arc::new(Poison::default());
    let resources = opts
        .resources
        .clone()
        .unwrap_or_else(|| Resources::new(opts.max_open_files, super::DEFAULT_MAX_LOADED_INDEXES));
    let mut ctx = SegmentContext::new(dir.to_path_buf(), fs, poison, &config, resources);
    ctx.read_only = opts.read_only;
    let ctx = Arc::new(ctx);
    let now = opts.clock.now_ms();
    let fallback = opts.fallback_state.clone();
    let opened = if opts.read_only {
        let view = follow::load(&ctx, opts.recovery_mode, fallback)?;
        Opened {
            segments: view.segments,
            log_start: view.log_start,
            leo: view.leo,
            recovery_point: view.recovery_point,
            report: view.report,
            epochs: Vec::new(),
            active: None,
            clean_marker: false,
            follow: Some(view.follow),
        }
    } else {
        open_writable(&ctx, &opts, fallback, now)?
    };
    let mut report = opened.report;
    let cache = load_epoch_cache(
        &ctx,
        &opened.epochs,
        opened.log_start,
        opened.leo,
        &mut report,
    )?;
    let inner =
        Inner {
            dir: dir.to_path_buf(),
            config,
            ctx,
            clock: opts.clock,
            writer: Mutex::new(Writer {
                active: opened.active,
                unsynced: Vec::new(),
                scratch: Vec::new(),
                compress_scratch: Vec::new(),
                unflushed_records: 0,
                last_flush_ms: now,
                clean_marker: opened.clean_marker,
                rewinds: 0,
            }),
            segments: RwLock::new(opened.segments),
            log_start_offset: AtomicU64::new(opened.log_start),
            log_end_offset: AtomicU64::new(opened.leo),
            recovery_point: AtomicU64::new(opened.recovery_point),
            closed: AtomicBool::new(false),
            recovery: report,
            dir_lock: Mutex::new(dir_lock),
            listener: opts.listener,
            file_delete_delay_ms: opts.file_delete_delay_ms,
            deletions: Default::default(),
            follow: opened.follow.map(Mutex::new),
            cleaner: super::CleanerState {
                round: Mutex::new(()),
                mapped: std::sync::RwLock::new(()),
                unmap: std::sync::atomic::AtomicBool::new(false),
                checkpoint: Mutex::new(None),
                file: opts
                    .cleaner_checkpoint
                    .unwrap_or(OffsetCheckpointFile::Own(offset_checkpoint::FILE_NAME)),
            },
            high_watermark_file: opts.high_watermark_checkpoint.unwrap_or(
                OffsetCheckpointFile::Own(offset_checkpoint::HIGH_WATERMARK_FILE_NAME),
            ),
            epochs: super::epochs::Epochs::new(cache),
        };
    let log = PartitionLog {
        inner: Arc::new(inner),
    };
    // A recovery that cut the log below the cleaner checkpoint (or a
    // truncation the checkpoint file did not hear of) must not leave it
    // above the end: records appended there again would count as clean.
    // The file is derived data: if it cannot be written now, the value in
    // memory is lowered and the next round writes it.
    if !log.is_read_only() && log.inner.config.cleanup_policy.compacts() {
        let leo = log.log_end_offset();
        if log.cleaner_checkpoint().is_some_and(|c| c > leo)
            && log.inner.lower_cleaner_checkpoint(leo).is_err()
        {
            *crate::segment::lock(&log.inner.cleaner.checkpoint) = Some(Some(leo));
        }
    }
    Ok(log)
}

/// The leader-epoch cache of a log being opened: its checkpoint, the
/// epochs recovery read, trimmed to the log's range (Kafka's load step 9),
/// and written back if that changed it. A checkpoint that cannot be parsed
/// is reported and replaced by what the data says.
fn load_epoch_cache(
    ctx: &SegmentContext,
    recovered: &[(i32, u64)],
    log_start: u64,
    leo: u64,
    report: &mut RecoveryReport,
) -> Result<LeaderEpochCache> {
    let (mut cache, damaged) = match LeaderEpochCache::read(&*ctx.fs, &ctx.dir) {
        Ok(cache) => (cache.unwrap_or_default(), false),
        Err(e @ Error::Corrupt { .. }) => {
            report.epoch_checkpoint_damage = Some(e.to_string());
            (LeaderEpochCache::new(), true)
        }
        Err(e) => return Err(e),
    };
    let before = cache.clone();
    Inner::learn_recovered_epochs(&mut cache, recovered);
    cache.truncate_from_end(leo);
    cache.truncate_from_start(log_start);
    if !ctx.read_only && (damaged || cache != before) {
        cache.write(&*ctx.fs, &ctx.dir)?;
    }
    Ok(cache)
}

/// Opens the directory for writing: a clean load or a recovery, leftovers
/// removed, the state file brought up to date.
fn open_writable(
    ctx: &Arc<SegmentContext>,
    opts: &OpenOptions,
    fallback: Option<SavedState>,
    now: i64,
) -> Result<Opened> {
    let fs = &ctx.fs;
    let dir = ctx.dir.as_path();
    let mut report = RecoveryReport::default();
    // The marker is trusted only while nothing in the directory changes:
    // it goes before anything does, so a crash from then on is never
    // mistaken for a clean shutdown (fsync protocol step 8). A clean open
    // leaves it in place until the first write (`Writer::clean_marker`),
    // so opening and reading a log costs no fsync.
    let marker = state::read_clean_marker(&**fs, dir)?;
    let mut marker_on_disk = marker.present;
    let invalidate = |on_disk: &mut bool| -> Result<()> {
        if std::mem::take(on_disk) {
            state::remove_clean_marker(&**fs, dir)?;
        }
        Ok(())
    };
    let saved = match state::read_state(&**fs, dir, opts.recovery_mode)? {
        Some(own) => Some(SavedState::own(dir, own)),
        None => fallback,
    };
    // One listing serves both steps, unless the first changes the directory.
    let mut entries = fs.list_dir(dir).ctx("list", dir)?;
    // A recovery point beyond the end the marker records contradicts it:
    // the last segment is re-read (and the mismatch reported) instead.
    let mut trusted = marker.parsed.filter(|m| {
        saved
            .as_ref()
            .is_none_or(|s| s.state.recovery_point <= m.resume.next_offset)
    });
    if entries.iter().any(is_leftover) {
        // Leftovers of interrupted work: not a clean shutdown after all.
        trusted = None;
        invalidate(&mut marker_on_disk)?;
        report.temp_files_removed = remove_temp_files(ctx, &entries)?;
        entries = fs.list_dir(dir).ctx("list", dir)?;
    }
    let logs = segment_logs(&entries);
    let unusable = unusable_segments(ctx, &entries);
    let saved_start = saved.as_ref().map_or(0, |s| s.state.log_start_offset);

    report.created = logs.is_empty();
    let clean = match trusted {
        Some(m) if !logs.is_empty() && marker_matches(&m, &logs) => {
            load_clean(ctx, &logs, &m, now)?
        }
        _ => None,
    };
    let mut loaded = match clean {
        Some(l) => {
            report.clean_shutdown = true;
            report.damaged_segments = unusable.into_iter().map(|(_, d)| d).collect();
            l
        }
        None if logs.is_empty() => {
            invalidate(&mut marker_on_disk)?;
            Loaded {
                closed: Vec::new(),
                active: ActiveSegment::create(ctx, saved_start, now)?,
                epochs: Vec::new(),
            }
        }
        // The marker goes only once recovery has decided to change
        // something: an open that fails on damage leaves every file as it
        // was.
        None => recover(
            ctx,
            Listing {
                logs: &logs,
                unusable,
            },
            saved.as_ref(),
            opts.recovery_mode,
            now,
            &mut report,
            &mut || invalidate(&mut marker_on_disk),
        )?,
    };
    remove_orphan_indexes(&**fs, dir, &entries, &logs)?;

    // A saved log start offset beyond the end of the data must not hide
    // the records that are there, nor have any deleted.
    let first_base = loaded
        .closed
        .first()
        .map_or(loaded.active.base_offset(), |s| s.base_offset());
    let (mut log_start, mismatch) =
        start_within(saved.as_ref(), first_base, loaded.active.next_offset());
    if let Some(mut mismatch) = mismatch {
        if loaded.closed.is_empty() && loaded.active.size() == 0 {
            // No record to hide: the empty log moves up to the saved start,
            // so that no offset below it is given out again (Kafka starts
            // over there too). The old (empty) segment goes first: a crash
            // in between leaves no segment, and the next open creates one
            // at the saved start.
            invalidate(&mut marker_on_disk)?;
            delete_segment_files(ctx, loaded.active.base_offset())?;
            loaded = Loaded {
                closed: Vec::new(),
                active: ActiveSegment::create(ctx, saved_start, now)?,
                epochs: Vec::new(),
            };
            log_start = saved_start;
            mismatch.used = saved_start;
        }
        report.checkpoint_mismatches.push(mismatch);
    } else if !report.clean_shutdown {
        // Segments wholly below the log start are what a deletion a crash
        // interrupted left (the start is written before any file goes):
        // recovery did not re-read them, and the open finishes the job.
        // A closed segment is wholly below the start when the segment after
        // it starts at or below the start.
        let below = loaded
            .closed
            .iter()
            .skip(1)
            .map(|s| s.base_offset())
            .chain(std::iter::once(loaded.active.base_offset()))
            .take(loaded.closed.len())
            .take_while(|next| *next <= log_start)
            .count();
        let mut kept = Vec::new();
        for seg in loaded.closed.drain(..below) {
            if ctx.fs.list_dir(seg.log_path()).is_ok() {
                // A `.log` that is a directory is not removed: it stays
                // reported, for the operator.
                kept.push(seg);
                continue;
            }
            report
                .damaged_segments
                .retain(|d| d.path.as_path() != seg.log_path());
            delete_segment_files(ctx, seg.base_offset())?;
            report.segments_below_start_deleted += 1;
        }
        loaded.closed.splice(0..0, kept);
    }

    let leo = loaded.active.next_offset();
    let epochs = std::mem::take(&mut loaded.epochs);
    let state = PartitionState {
        // After a clean close everything is on disk; after recovery every
        // re-read segment was fsynced.
        recovery_point: leo,
        log_start_offset: log_start,
    };
    if saved.as_ref().map(|s| s.state) != Some(state) {
        state::write_state(&**fs, dir, &state)?;
    }

    let mut segments = BTreeMap::new();
    for seg in loaded.closed {
        segments.insert(seg.base_offset(), seg);
    }
    segments.insert(loaded.active.base_offset(), loaded.active.segment().clone());
    Ok(Opened {
        segments,
        log_start,
        leo,
        recovery_point: leo,
        report,
        epochs,
        active: Some(loaded.active),
        clean_marker: marker_on_disk,
        follow: None,
    })
}

/// The log start offset of a log whose data runs from `first_base` to
/// `leo`, given the saved one. A saved start beyond the end is damage (or
/// files removed by hand): it must not hide the records that are there,
/// so the log starts at its first segment instead, and the mismatch is
/// returned for the open report. No segment is deleted because of it.
pub(super) fn start_within(
    saved: Option<&SavedState>,
    first_base: u64,
    leo: u64,
) -> (u64, Option<CheckpointMismatch>) {
    let Some(saved) = saved else {
        return (first_base, None);
    };
    let start = saved.state.log_start_offset;
    if start <= leo {
        return (start.max(first_base), None);
    }
    let mismatch = CheckpointMismatch {
        path: saved.log_start_file.clone(),
        field: CheckpointField::LogStartOffset,
        value: start,
        log_end_offset: leo,
        used: first_base,
    };
    (first_base, Some(mismatch))
}

/// Whether the clean-shutdown marker describes the directory's last
/// segment, with offsets that can belong to it. Anything else is treated as
/// no marker: the open then re-reads the segment, which is always safe.
pub(super) fn marker_matches(m: &CleanShutdown, logs: &LogFiles) -> bool {
    let base = m.active_base_offset;
    let r = &m.resume;
    let in_segment = |o: u64| o >= base && o - base <= i32::MAX as u64;
    logs.iter().next_back() == Some((&base, &m.active_size))
        && r.next_offset >= base
        && r.next_offset - base <= i32::MAX as u64 + 1
        && (m.active_size > 0 || r.next_offset == base)
        && (r.max.timestamp < 0 || (in_segment(r.max.offset) && r.max.offset < r.next_offset))
}

/// After a clean shutdown: closed segments are opened lazily and the active
/// one resumes from what the marker recorded, reading no segment data.
/// `None` if the active segment's index files are not as the close left
/// them (the caller then recovers).
fn load_clean(
    ctx: &Arc<SegmentContext>,
    logs: &LogFiles,
    m: &CleanShutdown,
    now: i64,
) -> Result<Option<Loaded>> {
    let fs = &*ctx.fs;
    let base = m.active_base_offset;
    let index_path = ctx.path(base, FileKind::Index);
    let time_path = ctx.path(base, FileKind::TimeIndex);
    let offsets = fsio::read_file_if_exists(fs, &index_path)?.unwrap_or_default();
    let times = fsio::read_file_if_exists(fs, &time_path)?.unwrap_or_default();
    let sane = check_offset_index(&index_path, &offsets, base, m.active_size).is_ok()
        && check_time_index(&time_path, &times, base).is_ok();
    if !sane {
        return Ok(None);
    }
    let closed = logs
        .iter()
        .filter(|(b, _)| **b != base)
        .map(|(b, size)| Arc::new(Segment::closed(ctx.clone(), *b, *size)))
        .collect();
    let segment = Arc::new(Segment::closed(ctx.clone(), base, m.active_size));
    let active = ActiveSegment::resume(
        segment,
        m.active_size,
        offsets,
        times,
        IndexFiles::Current,
        now,
        Some(m.resume),
    )?;
    Ok(Some(Loaded {
        closed,
        active,
        epochs: Vec::new(),
    }))
}

/// Removes every file of the segment based at `base_offset`.
pub(super) fn delete_segment_files(ctx: &SegmentContext, base_offset: u64) -> Result<()> {
    let paths: Vec<_> = [
        FileKind::Log,
        FileKind::Index,
        FileKind::TimeIndex,
        FileKind::TxnIndex,
    ]
    .into_iter()
    .map(|k| ctx.path(base_offset, k))
    .collect();
    remove_files(&*ctx.fs, &ctx.dir, &paths)
}

/// Removes leftovers of interrupted work and completes interrupted swaps
/// (Kafka's load steps 1 and 2). Returns how many files were removed.
fn remove_temp_files(ctx: &SegmentContext, entries: &[DirEntry]) -> Result<usize> {
    let fs = &*ctx.fs;
    let dir = &ctx.dir;
    let mut removed = 0usize;
    let mut swaps = Vec::new();
    let mut min_cleaned = u64::MAX;
    for e in entries.iter().filter(|e| !e.is_dir) {
        let parsed = parse_file_name(&e.name);
        let remove = e.name.ends_with(".tmp")
            || match parsed.and_then(|p| p.temp) {
                Some(TempSuffix::Deleted) => true,
                Some(TempSuffix::Cleaned) => {
                    min_cleaned = min_cleaned.min(parsed.map_or(u64::MAX, |p| p.base_offset));
                    true
                }
                Some(TempSuffix::Swap) => {
                    swaps.extend(parsed.map(|p| (p, e.name.clone())));
                    false
                }
                None => false,
            };
        if remove {
            let path = dir.join(&e.name);
            fs.remove_file(&path).ctx("remove", &path)?;
            removed += 1;
        }
    }
    // Swaps at or above the smallest `.cleaned` belong to an interrupted
    // split: drop them. The rest replace the segments they overlap.
    let (doomed, live): (Vec<_>, Vec<_>) = swaps
        .into_iter()
        .partition(|(p, _)| p.base_offset >= min_cleaned);
    for (_, name) in doomed {
        let path = dir.join(&name);
        fs.remove_file(&path).ctx("remove", &path)?;
        removed += 1;
    }
    // Each `.swap` segment replaces the old segments within its own
    // offset range: a compaction swap renames every old segment away
    // before it renames any `.swap` into place, and every new segment
    // ends where the old ones it replaces did, so a swap interrupted at
    // any point is completed without touching the new segments already
    // in place.
    let mut ranges = Vec::new();
    for (p, name) in live.iter().filter(|(p, _)| p.kind == FileKind::Log) {
        let path = dir.join(name);
        let file = fs.open(&path, OpenMode::Read).ctx("open", &path)?;
        let size = file.len().ctx("stat", &path)?;
        let rec = recover_log(&*file, &path, p.base_offset, size, ctx.index_interval_bytes)?;
        ranges.push(p.base_offset..rec.next_offset(p.base_offset).max(p.base_offset + 1));
    }
    if !ranges.is_empty() {
        for e in entries {
            if let Some(p) = parse_file_name(&e.name).filter(|p| p.temp.is_none()) {
                if ranges.iter().any(|r| r.contains(&p.base_offset)) {
                    let path = dir.join(&e.name);
                    fs.remove_file(&path).ctx("remove", &path)?;
                    removed += 1;
                }
            }
        }
    }
    for (_, name) in &live {
        let from = dir.join(name);
        let to = dir.join(name.trim_end_matches(TempSuffix::Swap.suffix()));
        fs.rename(&from, &to).ctx("rename", &from)?;
    }
    if removed > 0 || !live.is_empty() {
        fs.sync_dir(dir).ctx("fsync directory", dir)?;
    }
    Ok(removed)
}

/// Whether [`remove_temp_files`] has work to do for the entry.
fn is_leftover(e: &DirEntry) -> bool {
    !e.is_dir
        && (e.name.ends_with(".tmp") || parse_file_name(&e.name).is_some_and(|p| p.temp.is_some()))
}

/// The `.log` files among a directory's entries: base offset to size. A
/// directory named like a segment's `.log` is listed too, with size 0: it
/// stands where a segment's records should be, and must not be passed over
/// as if there were none (reads of it fail, see
/// `Segment::check_holds_data`).
pub(super) fn segment_logs(entries: &[DirEntry]) -> LogFiles {
    entries
        .iter()
        .filter_map(|e| parse_file_name(&e.name).map(|p| (p, e.len)))
        .filter(|(p, _)| p.temp.is_none() && p.kind == FileKind::Log)
        .map(|(p, len)| (p.base_offset, len))
        .collect()
}

/// Segments of the listing, other than the last, that cannot hold the
/// records they must: a `.log` that is a directory, or an empty one.
pub(super) fn unusable_segments(
    ctx: &SegmentContext,
    entries: &[DirEntry],
) -> Vec<(u64, SegmentDamage)> {
    let logs: Vec<(u64, &DirEntry)> = entries
        .iter()
        .filter_map(|e| parse_file_name(&e.name).map(|p| (p, e)))
        .filter(|(p, _)| p.temp.is_none() && p.kind == FileKind::Log)
        .map(|(p, e)| (p.base_offset, e))
        .collect();
    let last = logs.iter().map(|(b, _)| *b).max();
    let mut out: Vec<(u64, SegmentDamage)> = logs
        .into_iter()
        .filter(|(b, e)| Some(*b) != last && (e.is_dir || e.len == 0))
        .map(|(b, e)| {
            let damage = SegmentDamage {
                path: ctx.path(b, FileKind::Log),
                reason: missing_records_reason(e.is_dir).to_string(),
            };
            (b, damage)
        })
        .collect();
    out.sort_by_key(|(b, _)| *b);
    out
}

/// Removes index files without a `.log` (Kafka's loader does the same).
fn remove_orphan_indexes(
    fs: &dyn Fs,
    dir: &Path,
    entries: &[DirEntry],
    logs: &LogFiles,
) -> Result<()> {
    let orphans: Vec<_> = entries
        .iter()
        .filter(|e| !e.is_dir)
        .filter_map(|e| parse_file_name(&e.name).map(|p| (p, &e.name)))
        .filter(|(p, _)| {
            p.temp.is_none()
                && matches!(
                    p.kind,
                    FileKind::Index | FileKind::TimeIndex | FileKind::TxnIndex
                )
                && !logs.contains_key(&p.base_offset)
        })
        .map(|(_, name)| dir.join(name))
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    remove_files(fs, dir, &orphans)
}

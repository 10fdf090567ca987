//! Carrying out one compaction round on a log.
//!
//! Deciding what may be cleaned is [`crate::compaction`]'s job; this file
//! gathers the segment metadata, builds the offset map over the dirty
//! section, rewrites every segment below the round's end into new
//! segments under `.cleaned` names and swaps them in:
//!
//! 1. Each group of old segments is copied into one new segment written
//!    under `.cleaned` names, its `.log` and indexes fsynced.
//! 2. Under the writer lock, if every old segment of the round is still in
//!    the log as the round read it (a deletion meanwhile, or a truncation
//!    into a closed segment, aborts the round): the
//!    `.cleaned` files are renamed `.swap`, highest base offset first, and
//!    the directory fsynced.
//! 3. The old segments' files are renamed `.deleted` (readers holding them
//!    keep reading) and the directory fsynced.
//! 4. The `.swap` files are renamed to their final names, lowest base
//!    offset first, and the directory fsynced.
//! 5. The cleaner checkpoint is set to the round's end offset.
//!
//! Each new segment ends with the last batch of its group (kept, emptied
//! if need be), so a new segment covers exactly the offsets of the old
//! segments it replaces. An open after a crash at any point therefore
//! sees the old version or the new version of every part of the log: it
//! deletes `.cleaned` files and any `.swap` above the lowest `.cleaned`
//! (step 2 interrupted), and for every remaining `.swap` it deletes the
//! old segments within its offset range and renames it into place (steps
//! 3 and 4 interrupted).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::compact_map::{build_offset_map, Listed, MapPass, ToMap};
use super::PartitionLog;
use crate::compaction::filter::{filter_batch, Buffers, FilterCounts, RoundRules, Survivors};
use crate::compaction::producers::Producers;
use crate::compaction::{
    cleanable_section, group_segments, CleanableSection, CompactOptions, CompactionOutcome,
    CompactionPolicy, OffsetMap, SegmentMeta, Throttle,
};
use crate::error::{Error, Result};
use crate::io::{IoContext, OpenMode};
use crate::record::{BatchHeader, RecordBatch, BATCH_HEADER_LEN};
use crate::segment::{
    lock, read_lock, write_lock, FileKind, RecoveredLog, Scanner, Segment, TempSuffix, BULK_CHUNK,
    HEADER_CHUNK, OFFSET_ENTRY_LEN, TIME_ENTRY_LEN,
};

/// Bytes a rewrite reads at a batch header after dropping the batch
/// before it unread: most often that batch goes too, and only its header
/// is needed.
const SKIP_CHUNK: usize = 512;

/// Why a swap failed.
enum Swap {
    /// Before anything was renamed: the `.cleaned` files may go.
    NotStarted(Error),
    /// Part-way: the files stay for the next open to sort out.
    Failed(Error),
}

/// A new segment written under `.cleaned` names.
struct Cleaned {
    base_offset: u64,
    size: u64,
    index: RecoveredLog,
}

impl PartitionLog {
    /// Runs one compaction round now with Kafka's default cleaner
    /// settings (a 128 MiB offset map): see
    /// [`compact_with`](Self::compact_with).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// use seglog::{CleanupPolicy, Clock, SystemClock};
    /// # let dir = tempfile::tempdir()?;
    /// let config = LogConfig { cleanup_policy: CleanupPolicy::Compact, ..LogConfig::default() };
    /// let log = PartitionLog::open(dir.path().join("users-0"), config)?;
    /// log.append(&[Record::new("alice@old").with_key("alice")])?;
    /// log.append(&[Record::new("alice@new").with_key("alice")])?;
    /// log.roll()?; // the active segment is never compacted
    /// let outcome = log.compact(SystemClock.now_ms())?;
    /// assert_eq!(outcome.records_dropped, 1);
    /// assert_eq!(log.read_record(0)?, None); // superseded by offset 1
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`compact_with`](Self::compact_with).
    pub fn compact(&self, now_ms: i64) -> Result<CompactionOutcome> {
        self.compact_with(now_ms, &CompactOptions::default())
    }

    /// Runs one compaction round now, whatever the log's dirty ratio (the
    /// store's maintenance runs rounds only on logs that are due): the
    /// latest record of every key in the dirty section is mapped (as many
    /// keys as the offset map holds), and every segment below the end of
    /// what was mapped is rewritten without the records it supersedes (see
    /// [`crate::compaction`] for the rules). Tombstones are dropped once
    /// their delete horizon, set by the round that first keeps them, is
    /// before `now_ms`. Offsets never change.
    ///
    /// The round reads and writes without holding up appends or reads;
    /// only the final swap of the files takes the writer lock. A segment
    /// deletion that removes a segment of the round meanwhile, or a
    /// truncation that reaches into a closed segment, aborts it
    /// ([`CompactionOutcome::aborted`]); nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// use seglog::{CleanupPolicy, Clock, CompactOptions, SystemClock};
    /// # let dir = tempfile::tempdir()?;
    /// let config = LogConfig { cleanup_policy: CleanupPolicy::Compact, ..LogConfig::default() };
    /// let log = PartitionLog::open(dir.path().join("users-0"), config)?;
    /// log.append(&[Record::new("v1").with_key("k")])?;
    /// log.append(&[Record::new("v2").with_key("k")])?;
    /// log.roll()?;
    /// // An offset map of 1 MiB instead of 128.
    /// let options = CompactOptions { dedupe_buffer_bytes: 1 << 20, ..CompactOptions::default() };
    /// let outcome = log.compact_with(SystemClock.now_ms(), &options)?;
    /// assert_eq!((outcome.keys_mapped, outcome.records_kept), (1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// * [`Error::InvalidConfig`] if the log's cleanup policy does not
    ///   compact (compaction drops keyless records);
    /// * [`Error::Corrupt`] for damage met in a segment (nothing changes);
    /// * [`Error::Io`] (and the log is poisoned if the swap had begun);
    /// * [`Error::ReadOnly`], [`Error::Closed`], [`Error::Poisoned`].
    pub fn compact_with(&self, now_ms: i64, options: &CompactOptions) -> Result<CompactionOutcome> {
        let inner = &self.inner;
        if !inner.config.cleanup_policy.compacts() {
            return Err(Error::config(
                "cleanup_policy",
                format!(
                    "the log's cleanup policy is {}; compaction would drop records without a key",
                    inner.config.cleanup_policy
                ),
            ));
        }
        drop(inner.writer()?);
        let _round = lock(&inner.cleaner.round);
        inner.check_open()?;
        let started = Instant::now();
        let (segments, leo, start, hw, rewinds) = {
            let w = inner.writer()?;
            let segments: Vec<Arc<Segment>> =
                read_lock(&inner.segments).values().cloned().collect();
            (
                segments,
                inner.log_end_offset.load(Ordering::Acquire),
                inner.log_start_offset.load(Ordering::Acquire),
                inner.high_watermark(),
                w.rewinds,
            )
        };
        let metas = segment_metas(&segments)?;
        let checkpoint = self.cleaner_checkpoint();
        let section = cleanable_section(
            &metas,
            start,
            leo,
            checkpoint,
            hw,
            now_ms,
            &policy_of(&inner.config),
        );
        let mut outcome = CompactionOutcome {
            first_dirty_offset: section.first_dirty_offset,
            first_uncleanable_offset: section.first_uncleanable_offset,
            end_offset: section.first_dirty_offset,
            cleanable_ratio: section.cleanable_ratio(),
            ..CompactionOutcome::default()
        };
        if section.checkpoint_reset {
            // Under the writer lock, and only if no truncation went below
            // the log start read: it would have lowered the checkpoint.
            let w = inner.writer()?;
            if w.rewinds == rewinds {
                self.set_cleaner_checkpoint(Some(section.first_dirty_offset))?;
            }
        }
        if section.cleanable_bytes == 0 {
            outcome.duration = started.elapsed();
            return Ok(outcome);
        }
        let mut throttle = Throttle::new(options.io_max_bytes_per_second, &inner.closed);
        // Kafka's bound on one cleaner's map; zeroed memory is taken from
        // the system page by page as entries land.
        let map_bytes = options.dedupe_buffer_bytes.min(i32::MAX as usize);
        let mut map = OffsetMap::new(map_bytes, options.load_factor);
        let mut producers = Producers::default();
        let walk = ToMap {
            segments: &segments,
            metas: &metas,
            section: &section,
            cleaner: &inner.cleaner,
        };
        let MapPass {
            walked,
            listed,
            aborted,
        } = build_offset_map(&walk, &mut map, &mut producers, &mut throttle, &mut outcome)?;
        if aborted {
            // A truncation cut a closed segment: nothing was written yet.
            outcome.aborted = true;
            outcome.duration = started.elapsed();
            return Ok(outcome);
        }
        let Some(latest) = map.latest_offset() else {
            outcome.duration = started.elapsed();
            return Ok(outcome);
        };
        let end_offset = latest + 1;
        // Producers whose batches lie outside what the map walked.
        for (i, seg) in segments.iter().enumerate() {
            if !walked.contains(&i) {
                observe_producers(seg, &mut producers)?;
            }
        }
        let round = segments
            .iter()
            .take_while(|s| s.base_offset() < end_offset)
            .count()
            .min(segments.len().saturating_sub(1));
        let groups = group_segments(
            &metas[..round],
            inner.config.segment_bytes,
            u64::from(inner.config.segment_index_bytes),
            section.first_uncleanable_offset,
        );
        let rules = RoundRules {
            now_ms,
            delete_retention_ms: inner.config.delete_retention_ms,
        };
        let mut counts = FilterCounts {
            records_without_key: outcome.records_without_key,
            ..FilterCounts::default()
        };
        let mut survivors = Survivors::new(&mut map, section.first_dirty_offset);
        let mut cleaned = Vec::new();
        for group in &groups {
            let result = self.clean_group(
                &segments[group.clone()],
                &listed,
                &mut survivors,
                &producers,
                &rules,
                options,
                &mut throttle,
                &mut counts,
            );
            match result {
                Ok(c) => cleaned.push(c),
                Err(e) => {
                    self.remove_cleaned(&cleaned);
                    if let Some(first) = segments.get(group.start) {
                        self.remove_cleaned_files(first.base_offset());
                    }
                    return Err(e);
                }
            }
        }
        outcome.end_offset = end_offset;
        outcome.segments_read = round;
        outcome.segments_written = cleaned.len();
        outcome.bytes_read += metas[..round].iter().map(|m| m.size).sum::<u64>();
        outcome.bytes_written = cleaned.iter().map(|c| c.size).sum();
        outcome.records_read = counts.records_read;
        outcome.records_kept = counts.records_kept;
        outcome.records_dropped = counts.records_read - counts.records_kept;
        outcome.tombstones_dropped = counts.tombstones_dropped;
        outcome.records_without_key = counts.records_without_key;
        outcome.keys_mapped = map.len();
        outcome.map_full = map.is_full();
        outcome.map_bytes = map.memory_bytes();
        let swapped = match self.swap_in(&segments[..round], &cleaned, end_offset, rewinds) {
            Ok(s) => s,
            Err(Swap::NotStarted(e)) => {
                self.remove_cleaned(&cleaned);
                return Err(e);
            }
            // Files may be half renamed: the next open completes or undoes
            // the swap from what it finds; removing `.cleaned` files now
            // would make it complete a part of it.
            Err(Swap::Failed(e)) => return Err(e),
        };
        if !swapped {
            self.remove_cleaned(&cleaned);
            outcome.aborted = true;
            outcome.end_offset = section.first_dirty_offset;
            outcome.segments_written = 0;
            outcome.bytes_written = 0;
        } else {
            // Files of replaced segments go now unless the log delays
            // deletions.
            inner.remove_pending_counted(|p| p.due_ms <= inner.clock.now_ms(), &mut 0)?;
        }
        outcome.duration = started.elapsed();
        Ok(outcome)
    }

    /// Copies the batches of `group` that survive into one new segment
    /// under `.cleaned` names, named after the group's first base offset,
    /// and fsyncs it.
    #[allow(clippy::too_many_arguments)]
    fn clean_group(
        &self,
        group: &[Arc<Segment>],
        listed: &Listed,
        survivors: &mut Survivors<'_>,
        producers: &Producers,
        rules: &RoundRules,
        options: &CompactOptions,
        throttle: &mut Throttle<'_>,
        counts: &mut FilterCounts,
    ) -> Result<Cleaned> {
        let ctx = &self.inner.ctx;
        let fs = &*ctx.fs;
        let base = group[0].base_offset();
        let log_path = cleaned_path(ctx.path(base, FileKind::Log));
        let out_file = fs
            .open(&log_path, OpenMode::Truncate)
            .ctx("create", &log_path)?;
        let mut index = RecoveredLog::empty(ctx.index_interval_bytes);
        let mut written = 0u64;
        let io_buffer = options.io_buffer_bytes.min(i32::MAX as usize);
        let mut out: Vec<u8> = Vec::with_capacity(io_buffer.min(16 << 20));
        let mut buffers = Buffers::default();
        for (i, seg) in group.iter().enumerate() {
            let last_segment = i + 1 == group.len();
            let file = seg.handle()?;
            let end = seg.readable_end()?;
            let path = seg.log_path();
            let mut scanner = Scanner::new(&*file, seg.base_offset(), 0, end, BULK_CHUNK);
            // The batches the map pass listed walking this very file, if
            // they still end where it ends: dropped ones then cost no read.
            let mut known = listed
                .batches(seg.base_offset())
                .filter(|l| l.last().map_or(end, |b| b.end()) == end)
                .map(|l| l.iter());
            let mut previous_kept = false;
            loop {
                let b = match &mut known {
                    Some(batches) => match batches.next() {
                        Some(&b) => b,
                        None => break,
                    },
                    None => match scanner.next_intact(path)? {
                        Some(b) => b,
                        None => break,
                    },
                };
                // A log closing meanwhile stops the round.
                self.inner.check_open()?;
                // The walk checks that batches lie end to end up to `end`.
                let is_last = last_segment && b.end() == end;
                let h = &b.header;
                let retain_empty = is_last || producers.is_last_of_active(h, rules.now_ms);
                if !retain_empty
                    && !h.is_control()
                    && !survivors.may_keep(h.base_offset, h.last_offset())
                {
                    // Every record goes: the batch goes unread.
                    counts.records_read += u64::from(h.records_count);
                    counts.batches_dropped += 1;
                    scanner.set_chunk(SKIP_CHUNK);
                    previous_kept = false;
                    continue;
                }
                // A listed batch after a dropped one is read alone; a run
                // of kept batches in large reads.
                let alone = known.is_some() && !previous_kept;
                scanner.set_chunk(if alone { 0 } else { BULK_CHUNK });
                previous_kept = true;
                let bytes = scanner.batch_bytes(&b).ctx("read", path)?;
                throttle.pace(bytes.len() as u64);
                // Whatever goes into a new segment has its CRC checked (a
                // rebuilt batch gets a new one): the map pass checked the
                // batches it mapped whole.
                let checked = survivors.mapped(h.base_offset, h.last_offset());
                let batch = RecordBatch::parse_raw(bytes)
                    .and_then(|batch| {
                        if !checked {
                            batch.check_crc()?;
                        }
                        Ok(batch)
                    })
                    .map_err(|e| e.in_file(path, b.position))?;
                let at = out.len();
                let kept = filter_batch(
                    &batch,
                    survivors,
                    rules,
                    retain_empty,
                    &mut out,
                    &mut buffers,
                    counts,
                )
                .map_err(|e| Error::corrupt(path, b.position, e.to_string()))?;
                if kept {
                    let position = written + at as u64;
                    let h = BatchHeader::parse(&out[at..])
                        .map_err(|e| e.in_file(&log_path, position))?;
                    index.record_batch(base, position, &h);
                }
                if out.len() >= io_buffer {
                    out_file
                        .write_all_at(&out, written)
                        .ctx("write", &log_path)?;
                    written += out.len() as u64;
                    out.clear();
                }
            }
        }
        if !out.is_empty() {
            out_file
                .write_all_at(&out, written)
                .ctx("write", &log_path)?;
            written += out.len() as u64;
        }
        out_file.sync_data().ctx("fsync", &log_path)?;
        drop(out_file);
        index.add_final_time_entry(base);
        for (kind, bytes) in [
            (FileKind::Index, &index.offsets),
            (FileKind::TimeIndex, &index.times),
        ] {
            let path = cleaned_path(ctx.path(base, kind));
            let f = fs.open(&path, OpenMode::Truncate).ctx("create", &path)?;
            f.write_all_at(bytes, 0).ctx("write", &path)?;
            f.sync_data().ctx("fsync", &path)?;
        }
        Ok(Cleaned {
            base_offset: base,
            size: written,
            index,
        })
    }

    /// Swaps the new segments in for `old` (steps 2 to 5 of the module
    /// docs). Returns `false`, changing nothing, if the log no longer holds
    /// every segment of `old` as the round read it: one was deleted, or a
    /// truncation cut into a closed segment since the round counted
    /// `rewinds`.
    fn swap_in(
        &self,
        old: &[Arc<Segment>],
        cleaned: &[Cleaned],
        end_offset: u64,
        rewinds: u64,
    ) -> std::result::Result<bool, Swap> {
        let inner = &self.inner;
        let mut w = inner.writer().map_err(Swap::NotStarted)?;
        if w.rewinds != rewinds {
            return Ok(false);
        }
        {
            let segments = read_lock(&inner.segments);
            let intact = old.iter().all(|s| {
                segments
                    .get(&s.base_offset())
                    .is_some_and(|c| Arc::ptr_eq(c, s))
            });
            if !intact {
                return Ok(false);
            }
        }
        inner.mark_changing(&mut w).map_err(Swap::NotStarted)?;
        let deletions = inner.deletions_lock();
        let ctx = &inner.ctx;
        let fs = &*ctx.fs;
        let dir = &inner.dir;
        let kinds = [FileKind::Log, FileKind::Index, FileKind::TimeIndex];
        let result = (|| -> Result<Vec<std::path::PathBuf>> {
            for c in cleaned.iter().rev() {
                for kind in kinds {
                    let path = ctx.path(c.base_offset, kind);
                    let from = cleaned_path(path.clone());
                    fs.rename(&from, &with_suffix(path, TempSuffix::Swap))
                        .ctx("rename", &from)?;
                }
            }
            fs.sync_dir(dir).ctx("fsync directory", dir)?;
            let mut renamed = Vec::new();
            for seg in old {
                seg.rename_files_to_deleted(&mut renamed, true)?;
            }
            fs.sync_dir(dir).ctx("fsync directory", dir)?;
            for c in cleaned {
                for kind in kinds {
                    let path = ctx.path(c.base_offset, kind);
                    let from = with_suffix(path.clone(), TempSuffix::Swap);
                    fs.rename(&from, &path).ctx("rename", &from)?;
                }
            }
            fs.sync_dir(dir).ctx("fsync directory", dir)?;
            Ok(renamed)
        })();
        let renamed = ctx.poison.guard(result).map_err(Swap::Failed)?;
        {
            let mut segments = write_lock(&inner.segments);
            for seg in old {
                segments.remove(&seg.base_offset());
            }
            for c in cleaned {
                let seg = Segment::closed_with(
                    ctx.clone(),
                    c.base_offset,
                    c.size,
                    c.index.offsets.clone(),
                    c.index.times.clone(),
                    c.index.max_timestamp,
                );
                segments.insert(c.base_offset, Arc::new(seg));
            }
        }
        w.unsynced
            .retain(|s| !old.iter().any(|o| Arc::ptr_eq(o, s)));
        // The new segments are fsynced: the recovery point may pass them,
        // so that a recovery never re-reads them (it would take a gap
        // between two of them for lost data).
        let before = inner.recovery_point.load(Ordering::Acquire);
        inner.advance_recovery_point(&w);
        if inner.recovery_point.load(Ordering::Acquire) != before {
            ctx.poison
                .guard(inner.persist_state(&w))
                .map_err(Swap::Failed)?;
        }
        inner.defer_deleted(renamed);
        drop(deletions);
        // The swap is done; the checkpoint is derived data (a stale one
        // only makes the next round clean more).
        self.set_cleaner_checkpoint(Some(end_offset))
            .map_err(Swap::Failed)?;
        drop(w);
        Ok(true)
    }

    /// Removes the `.cleaned` files of new segments (an aborted or failed
    /// round). Best effort: an open removes leftovers anyway.
    fn remove_cleaned(&self, cleaned: &[Cleaned]) {
        for c in cleaned {
            self.remove_cleaned_files(c.base_offset);
        }
    }

    fn remove_cleaned_files(&self, base_offset: u64) {
        let ctx = &self.inner.ctx;
        for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex] {
            let _ = ctx
                .fs
                .remove_file(&cleaned_path(ctx.path(base_offset, kind)));
        }
    }

    /// The end offset of the last compaction round (the first dirty
    /// offset of the next), if the log was ever compacted.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # use seglog::CleanupPolicy;
    /// # let dir = tempfile::tempdir()?;
    /// # let config = LogConfig { cleanup_policy: CleanupPolicy::Compact, ..LogConfig::default() };
    /// // A log whose cleanup policy compacts.
    /// let log = PartitionLog::open(dir.path().join("users-0"), config)?;
    /// log.append(&[Record::new("v1").with_key("k")])?;
    /// log.roll()?;
    /// assert_eq!(log.cleaner_checkpoint(), None);
    /// log.compact(0)?;
    /// assert_eq!(log.cleaner_checkpoint(), Some(1)); // the next round starts here
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cleaner_checkpoint(&self) -> Option<u64> {
        self.inner.cleaner_checkpoint()
    }

    fn set_cleaner_checkpoint(&self, offset: Option<u64>) -> Result<()> {
        self.inner.set_cleaner_checkpoint(offset)
    }

    /// The log's sections as the cleaner sees them now (dirty ratio and
    /// the rest), for reporting. Reads segment metadata (index files,
    /// each closed segment's first batch header).
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # use seglog::CleanupPolicy;
    /// # let dir = tempfile::tempdir()?;
    /// # let config = LogConfig { cleanup_policy: CleanupPolicy::Compact, ..LogConfig::default() };
    /// // A log whose cleanup policy compacts.
    /// let log = PartitionLog::open(dir.path().join("users-0"), config)?;
    /// log.append(&[Record::new("v1").with_key("k")])?;
    /// log.roll()?;
    /// let section = log.cleanable_section(0)?;
    /// assert_eq!(section.first_uncleanable_offset, 1); // the active segment
    /// assert_eq!(section.cleanable_ratio(), 1.0); // nothing compacted yet
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Corrupt`] if a segment's metadata cannot
    /// be read.
    pub fn cleanable_section(&self, now_ms: i64) -> Result<CleanableSection> {
        let inner = &self.inner;
        let segments: Vec<Arc<Segment>> = read_lock(&inner.segments).values().cloned().collect();
        let leo = inner.log_end_offset.load(Ordering::Acquire);
        let start = inner.log_start_offset.load(Ordering::Acquire);
        let metas = segment_metas(&segments)?;
        Ok(cleanable_section(
            &metas,
            start,
            leo,
            self.cleaner_checkpoint(),
            inner.high_watermark(),
            now_ms,
            &policy_of(&inner.config),
        ))
    }
}

impl super::Inner {
    fn cleaner_checkpoint(&self) -> Option<u64> {
        let mut slot = lock(&self.cleaner.checkpoint);
        if let Some(known) = *slot {
            return known;
        }
        let read = self.cleaner.file.read(&*self.ctx.fs, &self.dir);
        *slot = Some(read);
        read
    }

    fn set_cleaner_checkpoint(&self, offset: Option<u64>) -> Result<()> {
        let mut slot = lock(&self.cleaner.checkpoint);
        if *slot == Some(offset) {
            return Ok(());
        }
        self.cleaner.file.write(&*self.ctx.fs, &self.dir, offset)?;
        *slot = Some(offset);
        Ok(())
    }

    /// Lowers the cleaner checkpoint to `offset` if it is above it, before
    /// a truncation that may end the log at `offset` or above: what is
    /// appended after the cut is dirty, and a tombstone among it must be
    /// mapped before it may go (Kafka's `maybeTruncateCheckpoint`).
    pub(super) fn lower_cleaner_checkpoint(&self, offset: u64) -> Result<()> {
        match self.cleaner_checkpoint() {
            Some(c) if c > offset => self.set_cleaner_checkpoint(Some(offset)),
            _ => Ok(()),
        }
    }
}

fn cleaned_path(path: std::path::PathBuf) -> std::path::PathBuf {
    with_suffix(path, TempSuffix::Cleaned)
}

fn with_suffix(path: std::path::PathBuf, suffix: TempSuffix) -> std::path::PathBuf {
    let mut s = path.into_os_string();
    s.push(suffix.suffix());
    s.into()
}

/// The planner's view of a log's compaction settings.
pub(crate) fn policy_of(config: &crate::config::LogConfig) -> CompactionPolicy {
    CompactionPolicy {
        min_cleanable_dirty_ratio: config.min_cleanable_dirty_ratio,
        min_compaction_lag_ms: config.min_compaction_lag_ms,
        max_compaction_lag_ms: config.max_compaction_lag_ms,
    }
}

/// What the planner needs of each segment: sizes (index sizes from the
/// loaded entries), the largest timestamp, the first batch's timestamp.
fn segment_metas(segments: &[Arc<Segment>]) -> Result<Vec<SegmentMeta>> {
    let last = segments.len().saturating_sub(1);
    segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let size = s.size();
            let (offset_index_bytes, time_index_bytes) = if i == last {
                (0, 0)
            } else {
                s.with_indexes(|o, t| {
                    (
                        (o.len() * OFFSET_ENTRY_LEN) as u64,
                        (t.len() * TIME_ENTRY_LEN) as u64,
                    )
                })?
            };
            let largest_timestamp = s.max_timestamp()?.timestamp;
            let first_batch_timestamp = if i == last || size < BATCH_HEADER_LEN as u64 {
                -1
            } else {
                let file = s.handle()?;
                let mut head = [0u8; BATCH_HEADER_LEN];
                file.read_exact_at(&mut head, 0).ctx("read", s.log_path())?;
                BatchHeader::parse(&head)
                    .map_err(|e| e.in_file(s.log_path(), 0))?
                    .max_timestamp
            };
            Ok(SegmentMeta {
                base_offset: s.base_offset(),
                size,
                offset_index_bytes,
                time_index_bytes,
                largest_timestamp,
                first_batch_timestamp,
            })
        })
        .collect()
}

/// Notes the producers of every batch of `seg` (headers only).
fn observe_producers(seg: &Segment, producers: &mut Producers) -> Result<()> {
    let file = seg.handle()?;
    let size = seg.readable_end()?;
    let mut scanner = Scanner::new(&*file, seg.base_offset(), 0, size, HEADER_CHUNK);
    while let Some(b) = scanner.next_intact(seg.log_path())? {
        producers.observe(&b.header);
    }
    Ok(())
}

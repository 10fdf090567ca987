//! What may be cleaned, whether a log is due, and how its segments are
//! grouped: pure functions of segment metadata (Kafka's
//! `LogCleanerManager.cleanableOffsets`, `LogToClean`,
//! `grabFilthiestCompactedLog` and `Cleaner.groupSegmentsBySize`).

use std::ops::Range;

/// The compaction settings of one log (Kafka's topic configs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactionPolicy {
    /// Kafka `min.cleanable.dirty.ratio`: a log is due once its dirty
    /// bytes are more than this share of its cleanable bytes.
    pub min_cleanable_dirty_ratio: f64,
    /// Kafka `min.compaction.lag.ms`: a record stays uncompacted at least
    /// this long (its segment's newest timestamp is compared with now).
    pub min_compaction_lag_ms: u64,
    /// Kafka `max.compaction.lag.ms`: a log whose oldest dirty segment
    /// started longer ago than this is due whatever its ratio.
    pub max_compaction_lag_ms: u64,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy {
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX as u64,
        }
    }
}

/// What the planner needs to know of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SegmentMeta {
    /// The segment's base offset.
    pub base_offset: u64,
    /// Bytes of its `.log`.
    pub size: u64,
    /// Bytes of its offset index (entries only).
    pub offset_index_bytes: u64,
    /// Bytes of its time index (entries only).
    pub time_index_bytes: u64,
    /// Its largest record timestamp, -1 if none.
    pub largest_timestamp: i64,
    /// The max timestamp of its first batch, -1 if none or unknown.
    pub first_batch_timestamp: i64,
}

/// The sections of a log as the cleaner sees them.
///
/// The *clean* section is `[log start, first_dirty_offset)`, already
/// compacted; the *dirty* (cleanable) section is `[first_dirty_offset,
/// first_uncleanable_offset)`; everything from `first_uncleanable_offset`
/// on is left alone this round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanableSection {
    /// Where the dirty section starts: the cleaner checkpoint, or the log
    /// start offset when there is none or it lies outside `[log start,
    /// log end]`.
    pub first_dirty_offset: u64,
    /// Whether the checkpoint given was outside `[log start, log end]`
    /// (and must be rewritten with `first_dirty_offset`).
    pub checkpoint_reset: bool,
    /// The first offset not cleaned this round: the smallest of the high
    /// watermark, the active segment's base offset and the base offset of
    /// the first dirty segment younger than `min.compaction.lag.ms`,
    /// rounded down to the base offset of the segment holding it.
    pub first_uncleanable_offset: u64,
    /// Bytes of the segments based below `first_dirty_offset`.
    pub clean_bytes: u64,
    /// Bytes of the segments from the one holding `first_dirty_offset` up
    /// to the first uncleanable one.
    pub cleanable_bytes: u64,
    /// Bytes of every segment.
    pub total_bytes: u64,
    /// How long past `max.compaction.lag.ms` the oldest dirty segment is,
    /// in milliseconds (0 if it is not).
    pub max_compaction_delay_ms: u64,
}

impl CleanableSection {
    /// `cleanable / (clean + cleanable)`, 0 for a log without either.
    pub fn cleanable_ratio(&self) -> f64 {
        let sum = self.clean_bytes + self.cleanable_bytes;
        if sum == 0 {
            0.0
        } else {
            self.cleanable_bytes as f64 / sum as f64
        }
    }

    /// Why the log is due for cleaning under `policy`, or `None`: its
    /// ratio is above `min.cleanable.dirty.ratio`, or some dirty segment
    /// waited longer than `max.compaction.lag.ms` and there is something to
    /// clean. A log without bytes is never due.
    pub fn due(&self, policy: &CompactionPolicy) -> Option<DueReason> {
        if self.total_bytes == 0 {
            return None;
        }
        if self.max_compaction_delay_ms > 0 && self.cleanable_bytes > 0 {
            return Some(DueReason::MaxCompactionLag);
        }
        if self.cleanable_ratio() > policy.min_cleanable_dirty_ratio {
            return Some(DueReason::DirtyRatio);
        }
        None
    }
}

/// Why a log is due for cleaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueReason {
    /// Its cleanable ratio passed `min.cleanable.dirty.ratio`.
    DirtyRatio,
    /// A dirty segment has waited longer than `max.compaction.lag.ms`.
    MaxCompactionLag,
}

/// The sections of a log: `segments` oldest first, the last being the
/// active segment; `checkpoint` the cleaner's last end offset for it;
/// `high_watermark` the offset nothing at or above which may be cleaned
/// (the log end offset without replication); `now_ms` the clock.
///
/// Never panics; an empty segment list gives an empty section.
pub fn cleanable_section(
    segments: &[SegmentMeta],
    log_start_offset: u64,
    log_end_offset: u64,
    checkpoint: Option<u64>,
    high_watermark: u64,
    now_ms: i64,
    policy: &CompactionPolicy,
) -> CleanableSection {
    let total_bytes = segments.iter().map(|s| s.size).sum();
    let (first_dirty_offset, checkpoint_reset) = match checkpoint {
        None => (log_start_offset, false),
        Some(c) if c < log_start_offset || c > log_end_offset => (log_start_offset, true),
        Some(c) => (c, false),
    };
    let Some((active, closed)) = segments.split_last() else {
        return CleanableSection {
            first_dirty_offset,
            checkpoint_reset,
            first_uncleanable_offset: first_dirty_offset,
            clean_bytes: 0,
            cleanable_bytes: 0,
            total_bytes,
            max_compaction_delay_ms: 0,
        };
    };
    // The closed segments from the one holding the first dirty offset
    // (none when it lies in the active segment).
    let dirty_from = if first_dirty_offset >= active.base_offset {
        closed.len()
    } else {
        floor_index(closed, first_dirty_offset).unwrap_or(0)
    };
    let dirty_closed = &closed[dirty_from..];

    let mut uncleanable = high_watermark.min(active.base_offset);
    if policy.min_compaction_lag_ms > 0 {
        let horizon = i128::from(now_ms) - i128::from(policy.min_compaction_lag_ms);
        if let Some(young) = dirty_closed
            .iter()
            .find(|s| i128::from(s.largest_timestamp) > horizon)
        {
            uncleanable = uncleanable.min(young.base_offset);
        }
    }
    // Only whole segments are cleaned: round down to a segment boundary.
    let first_uncleanable_offset = if uncleanable >= active.base_offset {
        active.base_offset
    } else {
        floor_index(closed, uncleanable)
            .or(if closed.is_empty() { None } else { Some(0) })
            .map_or(active.base_offset, |i| closed[i].base_offset)
    };
    let clean_bytes = segments
        .iter()
        .filter(|s| s.base_offset < first_dirty_offset)
        .map(|s| s.size)
        .sum();
    let cleanable_bytes = if first_uncleanable_offset > first_dirty_offset {
        segments[dirty_from.min(closed.len())..]
            .iter()
            .take_while(|s| s.base_offset < first_uncleanable_offset)
            .map(|s| s.size)
            .sum()
    } else {
        0
    };
    let earliest = dirty_closed
        .iter()
        .map(|s| s.first_batch_timestamp)
        .filter(|&t| t > 0)
        .min();
    let clean_until = i128::from(now_ms) - i128::from(policy.max_compaction_lag_ms);
    let max_compaction_delay_ms = match earliest {
        Some(t) if i128::from(t) < clean_until => {
            u64::try_from(clean_until - i128::from(t)).unwrap_or(u64::MAX)
        }
        _ => 0,
    };
    CleanableSection {
        first_dirty_offset,
        checkpoint_reset,
        first_uncleanable_offset,
        clean_bytes,
        cleanable_bytes,
        total_bytes,
        max_compaction_delay_ms,
    }
}

/// Index of the last segment based at or below `offset`.
fn floor_index(segments: &[SegmentMeta], offset: u64) -> Option<usize> {
    segments
        .partition_point(|s| s.base_offset <= offset)
        .checked_sub(1)
}

/// Picks the log to clean first: among those that are due, the one with
/// the highest cleanable ratio ("filthiest"); the first of equals.
pub fn filthiest<K>(
    logs: impl IntoIterator<Item = (K, CleanableSection, CompactionPolicy)>,
) -> Option<(K, CleanableSection)> {
    let mut best: Option<(K, CleanableSection)> = None;
    for (key, section, policy) in logs {
        if section.due(&policy).is_none() {
            continue;
        }
        let better = best
            .as_ref()
            .is_none_or(|(_, b)| section.cleanable_ratio() > b.cleanable_ratio());
        if better {
            best = Some((key, section));
        }
    }
    best
}

/// Groups the segments to rewrite, oldest first, into runs each copied
/// into one new segment: a run grows while its `.log` bytes stay within
/// `max_segment_bytes`, its offset-index and time-index bytes each within
/// `max_index_bytes`, and the offsets it may hold span at most 2^31-1 (a
/// segment's last offset is estimated as the next one's base offset - 1,
/// or `first_uncleanable_offset - 1` for the last; an empty segment is
/// not checked). Every segment is in exactly one group.
pub fn group_segments(
    segments: &[SegmentMeta],
    max_segment_bytes: u64,
    max_index_bytes: u64,
    first_uncleanable_offset: u64,
) -> Vec<Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    while start < segments.len() {
        let first = &segments[start];
        let (mut log, mut index, mut time) =
            (first.size, first.offset_index_bytes, first.time_index_bytes);
        let mut end = start + 1;
        while let Some(next) = segments.get(end) {
            let last_offset = segments
                .get(end + 1)
                .map_or(first_uncleanable_offset, |s| s.base_offset)
                .saturating_sub(1);
            let fits = log.saturating_add(next.size) <= max_segment_bytes
                && index.saturating_add(next.offset_index_bytes) <= max_index_bytes
                && time.saturating_add(next.time_index_bytes) <= max_index_bytes
                && (next.size == 0
                    || last_offset.saturating_sub(first.base_offset) <= i32::MAX as u64);
            if !fits {
                break;
            }
            log += next.size;
            index += next.offset_index_bytes;
            time += next.time_index_bytes;
            end += 1;
        }
        groups.push(start..end);
        start = end;
    }
    groups
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;

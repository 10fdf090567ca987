//! Retention's planner: which segments retention deletes.

/// What [`plan`] needs to know about one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentMeta {
    /// The segment's base offset (its file name).
    pub base_offset: u64,
    /// Size of its `.log` in bytes.
    pub size: u64,
    /// The largest record timestamp in the segment, in milliseconds since
    /// the epoch; negative (normally `-1`) if it holds no timestamp. Such
    /// a segment is never deleted by time (see the module docs).
    pub largest_timestamp: i64,
    /// The offset after the segment: the next segment's base offset, or
    /// the log end offset for the last segment.
    pub next_offset: u64,
}

/// The retention settings of one partition, Kafka's topic configs.
///
/// The [`Default`] is Kafka's: seven days, no size limit, deletion on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetentionPolicy {
    /// `retention.ms`: segments whose newest record is more than this many
    /// milliseconds older than now are deleted. `None` (Kafka's `-1`)
    /// means no limit. Default `Some(604_800_000)` (7 days).
    pub retention_ms: Option<u64>,
    /// `retention.bytes`: the size in bytes, per partition, above which the
    /// oldest segments are deleted. `None` (Kafka's `-1`, the default)
    /// means no limit.
    pub retention_bytes: Option<u64>,
    /// Whether `cleanup.policy` contains `delete`. When `false` (a
    /// compact-only topic) neither limit above applies; segments below the
    /// log start offset are deleted all the same. Default `true`.
    pub delete_enabled: bool,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            retention_ms: Some(604_800_000),
            retention_bytes: None,
            delete_enabled: true,
        }
    }
}

/// Why a segment is to be deleted: the pass of retention that chose it.
///
/// The order of the variants is the order of the passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeleteReason {
    /// It lies entirely below the log start offset.
    LogStartOffset,
    /// The partition is over `retention.bytes`.
    Size,
    /// Its newest record is older than `retention.ms`.
    Time,
}

/// What to delete: the result of [`plan`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RetentionPlan {
    /// One reason per leading segment to delete, oldest first: delete
    /// `segments[..delete.len()]`. Reasons appear in pass order (all
    /// [`DeleteReason::LogStartOffset`], then all `Size`, then all
    /// `Time`). Never covers the last segment.
    pub delete: Vec<DeleteReason>,
    /// The log start offset once those segments are gone: never below the
    /// one given to [`plan`]. Raise it before removing the segments, so no
    /// reader is sent to a deleted one.
    pub new_log_start_offset: u64,
}

impl RetentionPlan {
    /// Whether the plan deletes nothing.
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty()
    }
}

/// Decides which leading segments to delete, and the new log start offset.
///
/// `segments` are the partition's segments oldest first, the last being
/// the active one; `now_ms` is the current time in milliseconds since the
/// epoch. The rules, and what the planner expects of its input, are in the
/// [`retention`](crate::retention) module docs.
pub fn plan(
    segments: &[SegmentMeta],
    log_start_offset: u64,
    high_watermark: u64,
    now_ms: i64,
    policy: &RetentionPolicy,
) -> RetentionPlan {
    // How many leading segments any pass may delete at all: not the last,
    // wholly below the high watermark, and in order (see the module docs).
    let limit = segments
        .windows(2)
        .take_while(|pair| match pair {
            [seg, next] => {
                seg.next_offset <= high_watermark
                    && seg.base_offset < seg.next_offset
                    && seg.next_offset == next.base_offset
            }
            _ => false,
        })
        .count();
    let candidates = segments.get(..limit).unwrap_or_default();
    let mut delete = Vec::new();

    // (a) Below the log start offset, whatever the policy.
    let below_start = candidates
        .iter()
        .take_while(|seg| seg.next_offset <= log_start_offset)
        .count();
    delete.resize(below_start, DeleteReason::LogStartOffset);

    if policy.delete_enabled {
        // (b) Size, over everything the first pass left, the active
        // segment included.
        if let Some(retention_bytes) = policy.retention_bytes {
            let rest = segments.get(delete.len()..).unwrap_or_default();
            let total: u128 = rest.iter().map(|seg| u128::from(seg.size)).sum();
            if let Some(mut excess) = total.checked_sub(u128::from(retention_bytes)) {
                for seg in candidates.get(delete.len()..).unwrap_or_default() {
                    match excess.checked_sub(u128::from(seg.size)) {
                        Some(left) => {
                            excess = left;
                            delete.push(DeleteReason::Size);
                        }
                        None => break,
                    }
                }
            }
        }
        // (c) Time.
        if let Some(retention_ms) = policy.retention_ms {
            let expired = |seg: &SegmentMeta| {
                // No timestamp, no age (Kafka would use the file's mtime).
                seg.largest_timestamp >= 0
                    && i128::from(now_ms) - i128::from(seg.largest_timestamp)
                        > i128::from(retention_ms)
            };
            let old = candidates
                .get(delete.len()..)
                .unwrap_or_default()
                .iter()
                .take_while(|seg| expired(seg))
                .count();
            delete.extend(std::iter::repeat_n(DeleteReason::Time, old));
        }
    }

    let new_log_start_offset = match segments.get(delete.len()) {
        Some(survivor) if !delete.is_empty() => log_start_offset.max(survivor.base_offset),
        _ => log_start_offset,
    };
    RetentionPlan {
        delete,
        new_log_start_offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use DeleteReason::{LogStartOffset, Size, Time};

    /// Contiguous segments from offset 0, one per `(records, size,
    /// largest_timestamp)`.
    fn segs(spec: &[(u64, u64, i64)]) -> Vec<SegmentMeta> {
        let mut base = 0;
        spec.iter()
            .map(|&(records, size, largest_timestamp)| {
                let seg = SegmentMeta {
                    base_offset: base,
                    size,
                    largest_timestamp,
                    next_offset: base + records,
                };
                base += records;
                seg
            })
            .collect()
    }

    fn policy(retention_ms: Option<u64>, retention_bytes: Option<u64>) -> RetentionPolicy {
        RetentionPolicy {
            retention_ms,
            retention_bytes,
            delete_enabled: true,
        }
    }

    const UNLIMITED: RetentionPolicy = RetentionPolicy {
        retention_ms: None,
        retention_bytes: None,
        delete_enabled: true,
    };

    /// Kafka's test log: 15 records of `RECORD` bytes in 5-record segments.
    const RECORD: u64 = 70;

    fn kafka_log(timestamp: i64) -> Vec<SegmentMeta> {
        segs(&[(5, 5 * RECORD, timestamp); 3])
    }

    /// A clock far from the epoch, as Kafka's `MockTime`.
    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn empty_list_yields_empty_plan() {
        let plan = plan(&[], 7, 100, NOW, &policy(Some(0), Some(0)));
        assert_eq!(
            plan,
            RetentionPlan {
                delete: vec![],
                new_log_start_offset: 7
            }
        );
        assert!(plan.is_empty());
    }

    #[test]
    fn default_policy_is_kafkas() {
        assert_eq!(
            RetentionPolicy::default(),
            policy(Some(7 * 24 * 60 * 60 * 1000), None)
        );
    }

    #[test]
    fn size_deletes_down_to_ten_records() {
        // [UnifiedLogTest.shouldDeleteSizeBasedSegments]
        let plan = plan(
            &kafka_log(NOW),
            0,
            15,
            NOW,
            &policy(None, Some(10 * RECORD)),
        );
        assert_eq!(plan.delete, [Size]);
        assert_eq!(plan.new_log_start_offset, 5);
    }

    #[test]
    fn size_keeps_log_at_its_limit() {
        // [UnifiedLogTest.shouldNotDeleteSizeBasedSegmentsWhenUnderRetentionSize]
        let plan = plan(
            &kafka_log(NOW),
            0,
            15,
            NOW,
            &policy(None, Some(15 * RECORD)),
        );
        assert!(plan.is_empty());
        assert_eq!(plan.new_log_start_offset, 0);
    }

    #[test]
    fn size_may_leave_the_log_above_its_limit_by_one_segment() {
        // 1050 bytes against 699: excess 351 < 350 + 350, one segment goes,
        // 700 remain.
        let plan = plan(&kafka_log(NOW), 0, 15, NOW, &policy(None, Some(699)));
        assert_eq!(plan.delete, [Size]);
        // Just under the limit by 1 byte: excess 1 < 350, nothing goes.
        let plan2 = super::plan(&kafka_log(NOW), 0, 15, NOW, &policy(None, Some(1049)));
        assert!(plan2.is_empty());
        // A limit of 0 deletes everything but the active segment.
        let plan3 = super::plan(&kafka_log(NOW), 0, 15, NOW, &policy(None, Some(0)));
        assert_eq!(plan3.delete, [Size, Size]);
        assert_eq!(plan3.new_log_start_offset, 10);
    }

    #[test]
    fn size_counts_the_active_segment() {
        // 100 + 100 + 900 = 1100 against 1000: excess 100, the first goes.
        let segments = segs(&[(1, 100, NOW), (1, 100, NOW), (1, 900, NOW)]);
        let plan = plan(&segments, 0, 3, NOW, &policy(None, Some(1000)));
        assert_eq!(plan.delete, [Size]);
    }

    #[test]
    fn old_timestamps_leave_only_the_active_segment() {
        // [UnifiedLogTest.shouldDeleteTimeBasedSegmentsReadyToBeDeleted]
        let plan = plan(&kafka_log(10), 0, 15, NOW, &policy(Some(10_000), None));
        assert_eq!(plan.delete, [Time, Time]);
        assert_eq!(plan.new_log_start_offset, 10);
    }

    #[test]
    fn fresh_timestamps_keep_everything() {
        // [UnifiedLogTest.shouldNotDeleteTimeBasedSegmentsWhenNoneReadyToBeDeleted]
        let plan = plan(&kafka_log(NOW), 0, 15, NOW, &policy(Some(10_000), None));
        assert!(plan.is_empty());
    }

    #[test]
    fn time_compares_strictly() {
        let segments = kafka_log(NOW - 10_000);
        assert!(plan(&segments, 0, 15, NOW, &policy(Some(10_000), None)).is_empty());
        let plan = plan(&segments, 0, 15, NOW + 1, &policy(Some(10_000), None));
        assert_eq!(plan.delete, [Time, Time]);
    }

    #[test]
    fn delete_disabled_keeps_everything_but_what_lies_below_the_log_start() {
        // [UnifiedLogTest.shouldNotDeleteSegmentsWhenPolicyDoesNotIncludeDelete,
        //  shouldDeleteStartOffsetBreachedSegmentsWhenPolicyDoesNotIncludeDelete]
        let compact = RetentionPolicy {
            retention_ms: Some(10_000),
            retention_bytes: Some(0),
            delete_enabled: false,
        };
        let log = kafka_log(10);
        assert!(plan(&log, 0, 15, NOW, &compact).is_empty());
        let plan = plan(&log, 5, 15, NOW, &compact);
        assert_eq!(plan.delete, [LogStartOffset]);
        assert_eq!(plan.new_log_start_offset, 5);
    }

    #[test]
    fn compact_and_delete_deletes() {
        // [UnifiedLogTest.shouldDeleteSegmentsReadyToBeDeletedWhenCleanupPolicyIsCompactAndDelete]
        let plan = plan(&kafka_log(10), 0, 15, NOW, &RetentionPolicy::default());
        assert_eq!(plan.delete, [Time, Time]);
    }

    #[test]
    fn log_start_deletes_whole_segments_below_it() {
        // [UnifiedLogTest.testLogDeletionAfterDeleteRecords]: 3 segments of
        // 5 records; start at 1 -> 3 segments, 6 -> 2, 15 -> 1.
        let log = kafka_log(NOW);
        let at = |start| plan(&log, start, 15, NOW, &UNLIMITED);
        assert!(at(1).is_empty());
        assert_eq!(at(1).new_log_start_offset, 1);
        assert_eq!(at(5).delete, [LogStartOffset]);
        assert_eq!(at(6).delete, [LogStartOffset]);
        // A straddling segment stays; the start stays where it was raised.
        assert_eq!(at(6).new_log_start_offset, 6);
        // The active segment is never deleted, even wholly below the start.
        assert_eq!(at(15).delete, [LogStartOffset, LogStartOffset]);
        assert_eq!(at(15).new_log_start_offset, 15);
    }

    #[test]
    fn log_start_rule_ignores_the_policy() {
        let log = kafka_log(NOW);
        for policy in [
            UNLIMITED,
            RetentionPolicy::default(),
            RetentionPolicy {
                delete_enabled: false,
                ..UNLIMITED
            },
        ] {
            assert_eq!(plan(&log, 10, 15, NOW, &policy).delete, [LogStartOffset; 2]);
        }
    }

    #[test]
    fn nothing_is_deleted_while_the_high_watermark_is_zero() {
        // [UnifiedLogTest.testDeleteOldSegments]
        let everything = policy(Some(0), Some(0));
        let plan = plan(&kafka_log(10), 0, 0, NOW, &everything);
        assert!(plan.is_empty());
        assert_eq!(plan.new_log_start_offset, 0);
    }

    #[test]
    fn nothing_at_or_above_the_high_watermark_is_deleted() {
        // [UnifiedLogTest.testCannotDeleteSegmentsAtOrAboveHighWatermark]
        let everything = policy(Some(0), Some(0));
        let log = kafka_log(10);
        for hw in 0..=15 {
            let plan = plan(&log, 0, hw, NOW, &everything);
            let expect = match hw {
                0..=4 => 0,
                5..=9 => 1,
                _ => 2,
            };
            assert_eq!(plan.delete.len(), expect, "hw {hw}");
            assert!(plan.new_log_start_offset <= hw, "hw {hw}");
        }
        // The same for the log start rule.
        let plan = plan(&log, 12, 9, NOW, &UNLIMITED);
        assert_eq!(plan.delete, [LogStartOffset]);
        assert_eq!(plan.new_log_start_offset, 12);
    }

    #[test]
    fn far_future_timestamp_pins_its_segment_and_all_later_ones() {
        let log = segs(&[
            (5, 100, 10),
            (5, 100, NOW + 3_600_000),
            (5, 100, 10),
            (5, 100, 10),
        ]);
        let plan = plan(&log, 0, 20, NOW, &policy(Some(10_000), None));
        assert_eq!(plan.delete, [Time]);
        assert_eq!(plan.new_log_start_offset, 5);
    }

    #[test]
    fn segment_without_timestamp_is_not_deleted_by_time() {
        let log = segs(&[(5, 100, 10), (5, 100, -1), (5, 100, 10), (5, 100, 10)]);
        let plan = plan(&log, 0, 20, NOW, &policy(Some(10_000), None));
        assert_eq!(plan.delete, [Time]);
        // Any negative timestamp counts as none.
        let log = segs(&[(5, 100, -5), (5, 100, 10)]);
        assert!(super::plan(&log, 0, 10, NOW, &policy(Some(0), None)).is_empty());
    }

    #[test]
    fn passes_run_in_order_each_on_what_the_previous_left() {
        // seg 0 lies below the start; size then takes seg 1 (excess 100
        // counted without seg 0); time takes seg 2 (old) and stops at 3.
        let log = segs(&[
            (5, 1_000, 10),
            (5, 100, 10),
            (5, 100, 10),
            (5, 100, NOW),
            (5, 100, 10),
        ]);
        let plan = plan(&log, 5, 25, NOW, &policy(Some(10_000), Some(300)));
        assert_eq!(plan.delete, [LogStartOffset, Size, Time]);
        assert_eq!(plan.new_log_start_offset, 15);
    }

    #[test]
    fn a_segment_both_too_old_and_over_size_is_deleted_for_size() {
        let plan = plan(&kafka_log(10), 0, 15, NOW, &policy(Some(0), Some(700)));
        assert_eq!(plan.delete, [Size, Time]);
    }

    #[test]
    fn size_and_time_stop_at_the_high_watermark_too() {
        let plan = plan(&kafka_log(10), 0, 7, NOW, &policy(Some(0), Some(0)));
        assert_eq!(plan.delete, [Size]);
        assert_eq!(plan.new_log_start_offset, 5);
    }

    #[test]
    fn the_log_start_never_decreases() {
        // A start inside the second segment: the first goes by size, and
        // the start stays above the survivor's base.
        let plan = plan(&kafka_log(NOW), 7, 15, NOW, &policy(None, Some(0)));
        assert_eq!(plan.delete, [LogStartOffset, Size]);
        assert_eq!(plan.new_log_start_offset, 10);
        let plan = super::plan(&kafka_log(NOW), 12, 15, NOW, &UNLIMITED);
        assert_eq!(plan.new_log_start_offset, 12);
        // A start below the first segment's base is kept when nothing goes.
        let mut log = kafka_log(NOW);
        for seg in &mut log {
            seg.base_offset += 100;
            seg.next_offset += 100;
        }
        let plan = super::plan(&log, 0, 115, NOW, &UNLIMITED);
        assert!(plan.is_empty());
        assert_eq!(plan.new_log_start_offset, 0);
    }

    #[test]
    fn an_empty_active_segment_is_kept() {
        // What Kafka leaves after deleting everything: one empty segment.
        let log = segs(&[(5, 100, 10), (5, 100, 10), (0, 0, -1)]);
        let plan = plan(&log, 0, 10, NOW, &policy(Some(0), Some(0)));
        assert_eq!(plan.delete, [Size, Size]);
        assert_eq!(plan.new_log_start_offset, 10);
        let plan = super::plan(&log, 10, 10, NOW, &UNLIMITED);
        assert_eq!(plan.delete, [LogStartOffset, LogStartOffset]);
    }

    #[test]
    fn an_empty_segment_before_the_last_stops_the_walk() {
        // Two segments with base offset 5 cannot both exist (their files
        // would have the same name): the walk stops at the first of them.
        let log = segs(&[(5, 100, 10), (0, 0, -1), (5, 100, 10), (5, 100, 10)]);
        let plan = plan(&log, 15, 15, NOW, &policy(Some(0), Some(0)));
        assert_eq!(plan.delete, [LogStartOffset]);
        assert_eq!(plan.new_log_start_offset, 15);
    }

    #[test]
    fn unsorted_or_inconsistent_input_stops_the_walk() {
        let everything = policy(Some(0), Some(0));
        // Out of order.
        let mut log = kafka_log(10);
        log.swap(0, 1);
        assert!(plan(&log, 15, 15, NOW, &everything).is_empty());
        // A gap after the second segment: it may not go, nor anything after.
        let mut log = kafka_log(10);
        log[2].base_offset = 11;
        assert_eq!(
            plan(&log, 15, 15, NOW, &everything).delete,
            [LogStartOffset]
        );
        // A segment that ends before it begins.
        let mut log = kafka_log(10);
        log[1].next_offset = 4;
        log[2].base_offset = 4;
        assert_eq!(plan(&log, 0, 15, NOW, &everything).delete, [Size]);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let huge = [
            SegmentMeta {
                base_offset: 0,
                size: u64::MAX,
                largest_timestamp: i64::MIN,
                next_offset: u64::MAX,
            },
            SegmentMeta {
                base_offset: u64::MAX,
                size: u64::MAX,
                largest_timestamp: i64::MAX,
                next_offset: u64::MAX,
            },
        ];
        let all = policy(Some(u64::MAX), Some(u64::MAX));
        for now in [i64::MIN, -1, 0, i64::MAX] {
            let plan = plan(&huge, 0, u64::MAX, now, &all);
            // 2 * MAX - MAX = MAX >= MAX: the first goes by size.
            assert_eq!(plan.delete, [Size]);
            assert_eq!(plan.new_log_start_offset, u64::MAX);
        }
        let old = [
            SegmentMeta {
                base_offset: 0,
                size: 1,
                largest_timestamp: 0,
                next_offset: 1,
            },
            SegmentMeta {
                base_offset: 1,
                size: 1,
                largest_timestamp: 0,
                next_offset: 1,
            },
        ];
        let plan = plan(&old, 0, 1, i64::MAX, &policy(Some(u64::MAX), None));
        assert!(plan.is_empty());
        let plan = super::plan(
            &old,
            0,
            1,
            i64::MAX,
            &policy(Some(i64::MAX as u64 - 1), None),
        );
        assert_eq!(plan.delete, [Time]);
    }

    #[test]
    fn reasons_are_ordered_as_the_passes() {
        assert!(LogStartOffset < Size && Size < Time);
    }
}

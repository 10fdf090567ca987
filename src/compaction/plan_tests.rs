use super::*;

/// Segments of `size` bytes based at each offset of `bases`; the last is
/// the active one. Timestamps: largest = first batch = base * 10.
fn segs(bases: &[u64], size: u64) -> Vec<SegmentMeta> {
    bases
        .iter()
        .map(|&b| SegmentMeta {
            base_offset: b,
            size,
            offset_index_bytes: 8,
            time_index_bytes: 12,
            largest_timestamp: b as i64 * 10,
            first_batch_timestamp: b as i64 * 10,
        })
        .collect()
}

fn policy() -> CompactionPolicy {
    CompactionPolicy::default()
}

#[test]
fn without_a_checkpoint_everything_below_the_active_segment_is_dirty() {
    let s = segs(&[0, 10, 20, 30], 100);
    let c = cleanable_section(&s, 0, 35, None, 35, 1_000, &policy());
    assert_eq!(c.first_dirty_offset, 0);
    assert!(!c.checkpoint_reset);
    assert_eq!(c.first_uncleanable_offset, 30);
    assert_eq!(
        (c.clean_bytes, c.cleanable_bytes, c.total_bytes),
        (0, 300, 400)
    );
    assert_eq!(c.cleanable_ratio(), 1.0);
    assert_eq!(c.due(&policy()), Some(DueReason::DirtyRatio));
}

#[test]
fn clean_and_cleanable_bytes_split_at_the_checkpoint() {
    // Six one-record segments, checkpoint at 2, uncleanable from 4.
    let s = segs(&[0, 1, 2, 3, 4, 5], 100);
    let c = cleanable_section(&s, 0, 6, Some(2), 4, 1_000, &policy());
    assert_eq!(c.first_dirty_offset, 2);
    assert_eq!(c.first_uncleanable_offset, 4);
    assert_eq!(c.clean_bytes, 200);
    assert_eq!(c.cleanable_bytes, 200);
    assert_eq!(c.cleanable_ratio(), 0.5);
    // Not above the default ratio of 0.5.
    assert_eq!(c.due(&policy()), None);
    let eager = CompactionPolicy {
        min_cleanable_dirty_ratio: 0.4,
        ..policy()
    };
    assert_eq!(c.due(&eager), Some(DueReason::DirtyRatio));
}

#[test]
fn a_checkpoint_outside_the_log_is_reset_to_the_log_start() {
    let s = segs(&[10, 20, 30], 100);
    for bad in [5, 36] {
        let c = cleanable_section(&s, 10, 35, Some(bad), 35, 0, &policy());
        assert_eq!(c.first_dirty_offset, 10, "checkpoint {bad}");
        assert!(c.checkpoint_reset);
    }
    let c = cleanable_section(&s, 10, 35, Some(35), 35, 0, &policy());
    assert_eq!(c.first_dirty_offset, 35);
    assert!(!c.checkpoint_reset);
    assert_eq!(c.cleanable_bytes, 0);
}

#[test]
fn the_high_watermark_bounds_the_dirty_section_rounded_down_to_a_segment() {
    let s = segs(&[0, 10, 20, 30], 100);
    // A high watermark inside segment 10 leaves segment 10 uncleanable.
    let c = cleanable_section(&s, 0, 35, None, 15, 0, &policy());
    assert_eq!(c.first_uncleanable_offset, 10);
    assert_eq!(c.cleanable_bytes, 100);
    // A high watermark beyond the active base: the active segment bounds.
    let c = cleanable_section(&s, 0, 35, None, 35, 0, &policy());
    assert_eq!(c.first_uncleanable_offset, 30);
}

#[test]
fn the_minimum_compaction_lag_keeps_young_segments_dirty() {
    // Largest timestamps 0, 100, 200 for the closed segments.
    let s = segs(&[0, 10, 20, 30], 100);
    let lagged = CompactionPolicy {
        min_compaction_lag_ms: 150,
        ..policy()
    };
    // now 300: segments newer than 150 (200) are uncleanable.
    let c = cleanable_section(&s, 0, 35, None, 35, 300, &lagged);
    assert_eq!(c.first_uncleanable_offset, 20);
    // now 1000: all closed segments are old enough.
    let c = cleanable_section(&s, 0, 35, None, 35, 1_000, &lagged);
    assert_eq!(c.first_uncleanable_offset, 30);
    // A segment without timestamps is never too young.
    let mut untimed = segs(&[0, 10, 20], 100);
    untimed[0].largest_timestamp = -1;
    untimed[1].largest_timestamp = 900;
    let c = cleanable_section(&untimed, 0, 25, None, 25, 1_000, &lagged);
    assert_eq!(c.first_uncleanable_offset, 10);
}

#[test]
fn the_maximum_compaction_lag_makes_a_log_due_whatever_its_ratio() {
    let s = segs(&[0, 10, 20, 30], 100);
    let c = cleanable_section(&s, 0, 35, Some(20), 35, 1_000, &policy());
    assert_eq!(c.cleanable_ratio(), 1.0 / 3.0);
    assert_eq!(c.max_compaction_delay_ms, 0);
    assert_eq!(c.due(&policy()), None);
    let lag = CompactionPolicy {
        max_compaction_lag_ms: 500,
        ..policy()
    };
    // The dirty segment 20 started at 200; now 1000 - 500 = 500 > 200.
    let c = cleanable_section(&s, 0, 35, Some(20), 35, 1_000, &lag);
    assert_eq!(c.max_compaction_delay_ms, 300);
    assert_eq!(c.due(&lag), Some(DueReason::MaxCompactionLag));
    // Nothing cleanable: never due for the lag.
    let c = cleanable_section(&s, 0, 35, Some(30), 35, 1_000, &lag);
    assert_eq!(c.cleanable_bytes, 0);
    assert_eq!(c.due(&lag), None);
    // First-batch timestamps of 0 or less do not count (Kafka's filter).
    let mut zero = segs(&[0, 10], 100);
    zero[0].first_batch_timestamp = 0;
    let c = cleanable_section(&zero, 0, 15, None, 15, 1_000, &lag);
    assert_eq!(c.max_compaction_delay_ms, 0);
}

#[test]
fn an_empty_log_is_never_due() {
    let c = cleanable_section(&[], 0, 0, None, 0, 0, &policy());
    assert_eq!(c.total_bytes, 0);
    assert_eq!(c.due(&policy()), None);
    let s = segs(&[0], 0);
    let c = cleanable_section(&s, 0, 0, None, 0, 0, &policy());
    assert_eq!(c.due(&policy()), None);
}

#[test]
fn the_filthiest_due_log_goes_first() {
    let s = segs(&[0, 10, 20, 30], 100);
    let p = policy();
    let a = cleanable_section(&s, 0, 35, Some(20), 35, 0, &p); // 0.5, not due
    let b = cleanable_section(&s, 0, 35, Some(10), 35, 0, &p); // 2/3
    let c = cleanable_section(&s, 0, 35, None, 35, 0, &p); // 1.0
    let pick = filthiest([("a", a, p), ("b", b, p), ("c", c, p)]);
    assert_eq!(pick.map(|(k, _)| k), Some("c"));
    let pick = filthiest([("a", a, p), ("b", b, p)]);
    assert_eq!(pick.map(|(k, _)| k), Some("b"));
    assert!(filthiest([("a", a, p)]).is_none());
}

#[test]
fn grouping_with_unlimited_sizes_makes_one_group() {
    let s = segs(&[0, 10, 20, 30, 40], 100);
    assert_eq!(group_segments(&s, u64::MAX, u64::MAX, 50), vec![0..5]);
}

#[test]
fn grouping_with_size_one_makes_singletons() {
    let s = segs(&[0, 10, 20], 100);
    assert_eq!(group_segments(&s, 1, u64::MAX, 30), vec![0..1, 1..2, 2..3]);
    assert_eq!(group_segments(&s, u64::MAX, 1, 30), vec![0..1, 1..2, 2..3]);
}

#[test]
fn grouping_by_three_segments_of_log_or_index_bytes() {
    let s = segs(&[0, 10, 20, 30, 40, 50, 60], 100);
    assert_eq!(
        group_segments(&s, 300, u64::MAX, 70),
        vec![0..3, 3..6, 6..7]
    );
    // Time index entries of 12 bytes each: 36 bytes hold three.
    assert_eq!(group_segments(&s, u64::MAX, 36, 70), vec![0..3, 3..6, 6..7]);
    // At 24 bytes the time index binds before the offset index (8 each).
    assert_eq!(
        group_segments(&s, u64::MAX, 24, 70),
        vec![0..2, 2..4, 4..6, 6..7]
    );
    let mut small_times = s.clone();
    for m in &mut small_times {
        m.time_index_bytes = 0;
    }
    assert_eq!(
        group_segments(&small_times, u64::MAX, 24, 70),
        vec![0..3, 3..6, 6..7]
    );
}

#[test]
fn a_group_never_spans_more_than_2_pow_31_offsets() {
    let max = i32::MAX as u64;
    let s = segs(&[0, max / 2, max], 100);
    // Segment `max / 2` may end at `max - 1`: fits. Segment `max` would
    // take the group to its own last offset.
    let groups = group_segments(&s, u64::MAX, u64::MAX, max + 10);
    assert_eq!(groups, vec![0..2, 2..3]);
    // An empty segment skips the offset check.
    let mut e = segs(&[0, max / 2, max], 100);
    e[2].size = 0;
    assert_eq!(group_segments(&e, u64::MAX, u64::MAX, max + 10), vec![0..3]);
}

//! Property tests of the retention planner, `seglog::retention::plan`.
//!
//! Random partitions (contiguous segments with random record counts, sizes
//! and timestamps, the active one possibly empty), random log start offset, high
//! watermark, clock and policy; every plan is checked against the rules in
//! the module docs. A second property feeds the planner arbitrary,
//! inconsistent metadata and checks that it neither panics nor breaks the
//! safety rules.
//!
//! The seed is fixed, so runs are repeatable; set `SEGLOG_RETENTION_SEED`
//! for another one and `SEGLOG_RETENTION_CASES` for more cases (default
//! 1024). A failure prints the shrunk case.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError};

use seglog::retention::{plan, DeleteReason, RetentionPlan, RetentionPolicy, SegmentMeta};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config() -> Config {
    Config {
        cases: u32::try_from(env_u64("SEGLOG_RETENTION_CASES", 1024)).unwrap_or(u32::MAX),
        rng_seed: RngSeed::Fixed(env_u64("SEGLOG_RETENTION_SEED", 0x5E6_4E7)),
        // No regression files in the source tree; the seed reproduces.
        failure_persistence: None,
        ..Config::default()
    }
}

/// One planner call.
#[derive(Debug, Clone)]
struct Case {
    segments: Vec<SegmentMeta>,
    log_start_offset: u64,
    high_watermark: u64,
    now_ms: i64,
    policy: RetentionPolicy,
}

impl Case {
    fn plan(&self) -> RetentionPlan {
        plan(
            &self.segments,
            self.log_start_offset,
            self.high_watermark,
            self.now_ms,
            &self.policy,
        )
    }
}

/// A segment before offsets are assigned: records, size, timestamp.
fn segment() -> impl Strategy<Value = (u64, u64, i64)> {
    (
        1..=5u64,
        1..=20u64,
        prop_oneof![1 => Just(-1i64), 6 => 0..=60i64],
    )
}

/// The active segment, which may also be empty.
fn active_segment() -> impl Strategy<Value = (u64, u64, i64)> {
    prop_oneof![
        1 => Just((0, 0, -1)),
        3 => segment(),
    ]
}

fn policy() -> impl Strategy<Value = RetentionPolicy> {
    (
        proptest::option::of(0..=40u64),
        proptest::option::of(0..=100u64),
        proptest::bool::weighted(0.8),
    )
        .prop_map(
            |(retention_ms, retention_bytes, delete_enabled)| RetentionPolicy {
                retention_ms,
                retention_bytes,
                delete_enabled,
            },
        )
}

/// A well-formed partition: contiguous segments from a random base, only
/// the active one possibly empty, the log start and high watermark
/// anywhere from 0 to the log end, with the log start at or below the
/// high watermark.
fn case() -> impl Strategy<Value = Case> {
    (
        0..=50u64,
        proptest::collection::vec(segment(), 0..=7),
        active_segment(),
        any::<u64>(),
        any::<u64>(),
        0..=80i64,
        policy(),
    )
        .prop_map(
            |(first_base, mut spec, active, hw_seed, start_seed, now_ms, policy)| {
                spec.push(active);
                let mut base = first_base;
                let segments: Vec<SegmentMeta> = spec
                    .iter()
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
                    .collect();
                let log_end = base;
                let high_watermark = hw_seed % (log_end + 1);
                let log_start_offset = start_seed % (high_watermark + 1);
                Case {
                    segments,
                    log_start_offset,
                    high_watermark,
                    now_ms,
                    policy,
                }
            },
        )
}

/// Mostly small numbers, so that arbitrary metadata sometimes lines up.
fn small_or_any() -> impl Strategy<Value = u64> {
    prop_oneof![3 => 0..=8u64, 1 => any::<u64>()]
}

fn expired(case: &Case, seg: &SegmentMeta, retention_ms: u64) -> bool {
    seg.largest_timestamp >= 0
        && i128::from(case.now_ms) - i128::from(seg.largest_timestamp) > i128::from(retention_ms)
}

/// Every rule of the module docs, for a well-formed case.
fn check(case: &Case) -> Result<(), TestCaseError> {
    let segments = &case.segments;
    let plan = case.plan();
    let deleted = plan.delete.len();
    let count = |reason| plan.delete.iter().filter(|r| **r == reason).count();
    let (by_start, by_size) = (
        count(DeleteReason::LogStartOffset),
        count(DeleteReason::Size),
    );
    let after_start = by_start;
    let after_size = by_start + by_size;
    // May segment `i` be deleted at all?
    let may_delete =
        |i: usize| i + 1 < segments.len() && segments[i].next_offset <= case.high_watermark;

    // A prefix, never the last segment, never at or above the HW.
    prop_assert!(deleted < segments.len(), "deletes the last segment");
    for (i, seg) in segments[..deleted].iter().enumerate() {
        prop_assert!(
            seg.next_offset <= case.high_watermark,
            "segment {i} reaches above the high watermark"
        );
    }
    // Reasons in pass order.
    prop_assert!(
        plan.delete.windows(2).all(|w| w[0] <= w[1]),
        "reasons out of pass order: {:?}",
        plan.delete
    );

    // (a) Exactly the segments wholly below the log start, as far as they
    // may be deleted.
    for seg in &segments[..after_start] {
        prop_assert!(seg.next_offset <= case.log_start_offset);
    }
    prop_assert!(
        !(may_delete(after_start) && segments[after_start].next_offset <= case.log_start_offset),
        "stopped the log start pass early"
    );

    // (b) Size.
    match case.policy.retention_bytes {
        Some(limit) if case.policy.delete_enabled => {
            let total =
                |from: usize| -> u128 { segments[from..].iter().map(|s| u128::from(s.size)).sum() };
            let limit = u128::from(limit);
            if total(after_start) < limit {
                prop_assert_eq!(by_size, 0, "size pass ran under the limit");
            } else {
                // Never below the limit ...
                prop_assert!(total(after_size) >= limit, "size pass went below the limit");
                // ... and deleting one more segment would go below it, or
                // that segment may not be deleted.
                prop_assert!(
                    !may_delete(after_size)
                        || total(after_size) - u128::from(segments[after_size].size) < limit,
                    "size pass stopped early"
                );
            }
        }
        _ => prop_assert_eq!(by_size, 0, "size pass ran without a size limit"),
    }

    // (c) Time.
    match case.policy.retention_ms {
        Some(retention_ms) if case.policy.delete_enabled => {
            for (i, seg) in segments.iter().enumerate().take(deleted).skip(after_size) {
                prop_assert!(
                    expired(case, seg, retention_ms),
                    "segment {} deleted by time but not older than retention.ms",
                    i
                );
            }
            prop_assert!(
                !(may_delete(deleted) && expired(case, &segments[deleted], retention_ms)),
                "time pass stopped early at segment {}",
                deleted
            );
        }
        _ => prop_assert_eq!(deleted, after_size, "time pass ran without a time limit"),
    }

    // The new log start: never lower, and the first survivor's base when
    // something was deleted.
    prop_assert!(plan.new_log_start_offset >= case.log_start_offset);
    if deleted == 0 {
        prop_assert_eq!(plan.new_log_start_offset, case.log_start_offset);
    } else {
        let survivor = segments[deleted].base_offset;
        prop_assert_eq!(
            plan.new_log_start_offset,
            case.log_start_offset.max(survivor)
        );
        // Given log start <= HW, the new start never passes the HW.
        prop_assert!(plan.new_log_start_offset <= case.high_watermark);
    }

    // A fixed point: planning again over the survivors deletes nothing.
    let again = Case {
        segments: segments[deleted..].to_vec(),
        log_start_offset: plan.new_log_start_offset,
        ..case.clone()
    };
    let second = again.plan();
    prop_assert!(second.is_empty(), "second plan deletes {:?}", second.delete);
    prop_assert_eq!(second.new_log_start_offset, plan.new_log_start_offset);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn plans_follow_the_rules(case in case()) {
        check(&case)?;
    }

    #[test]
    fn unlimited_policy_with_log_start_zero_deletes_nothing(
        case in case(),
        delete_enabled in any::<bool>(),
    ) {
        let case = Case {
            log_start_offset: 0,
            policy: RetentionPolicy { retention_ms: None, retention_bytes: None, delete_enabled },
            ..case
        };
        let plan = case.plan();
        prop_assert!(plan.is_empty(), "deletes {:?}", plan.delete);
        prop_assert_eq!(plan.new_log_start_offset, 0);
    }

    #[test]
    fn disabled_deletion_only_follows_the_log_start(case in case()) {
        let case = Case {
            policy: RetentionPolicy { delete_enabled: false, ..case.policy },
            ..case
        };
        let plan = case.plan();
        prop_assert!(plan.delete.iter().all(|r| *r == DeleteReason::LogStartOffset));
        check(&case)?;
    }

    /// Nonsense input: unsorted, overlapping, gapped, extreme values.
    #[test]
    fn arbitrary_metadata_is_safe(
        segments in proptest::collection::vec(
            (small_or_any(), small_or_any(), any::<i64>(), small_or_any()).prop_map(
                |(base_offset, size, largest_timestamp, next_offset)| SegmentMeta {
                    base_offset, size, largest_timestamp, next_offset,
                },
            ),
            0..=6,
        ),
        log_start_offset in small_or_any(),
        high_watermark in small_or_any(),
        now_ms in any::<i64>(),
        retention_ms in proptest::option::of(any::<u64>()),
        retention_bytes in proptest::option::of(any::<u64>()),
        delete_enabled in any::<bool>(),
    ) {
        let policy = RetentionPolicy { retention_ms, retention_bytes, delete_enabled };
        let plan = plan(&segments, log_start_offset, high_watermark, now_ms, &policy);
        if segments.is_empty() {
            prop_assert!(plan.is_empty());
        } else {
            prop_assert!(plan.delete.len() < segments.len());
        }
        prop_assert!(plan.new_log_start_offset >= log_start_offset);
        for (i, seg) in segments[..plan.delete.len()].iter().enumerate() {
            prop_assert!(seg.next_offset <= high_watermark);
            prop_assert!(seg.base_offset < seg.next_offset);
            prop_assert_eq!(seg.next_offset, segments[i + 1].base_offset);
        }
        prop_assert!(plan.delete.windows(2).all(|w| w[0] <= w[1]));
    }
}

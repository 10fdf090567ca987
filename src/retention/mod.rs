//! Retention: which segments of a partition may be deleted.
//!
//! This module only *decides*. `plan` is a pure function over segment
//! metadata: it reads no file and changes nothing, and returns a
//! `RetentionPlan` that an executor carries out (remove the leading
//! segments it names, raise the log start offset). It is Kafka's
//! `UnifiedLog.deleteOldSegments` (reference section 4), with the
//! differences listed below.
//!
//! # Rules
//!
//! Only a prefix of the segments is ever deleted: each pass walks from the
//! oldest remaining segment and stops at the first one it may not delete.
//! A segment may be deleted at all only if
//!
//! * it is not the last (active) segment, and
//! * the high watermark is at or above its `next_offset`: nothing at or
//!   above the high watermark is ever deleted.
//!
//! Three passes run in this order, each deleting a prefix of what the one
//! before left:
//!
//! 1. **Log start offset** ([`DeleteReason::LogStartOffset`]), always,
//!    whatever the policy: a segment whose `next_offset <=
//!    log_start_offset` lies entirely below the log start and goes.
//! 2. **Size** ([`DeleteReason::Size`]), only if
//!    [`RetentionPolicy::delete_enabled`] and `retention_bytes` is set: if
//!    the total size of the remaining segments (the active one included)
//!    is at least `retention_bytes`, let `excess = total -
//!    retention_bytes` and delete the oldest segments while `segment.size
//!    <= excess`, subtracting each deleted size from `excess`. The log can
//!    therefore stay above the limit by up to one segment, but never drops
//!    below it by this pass.
//! 3. **Time** ([`DeleteReason::Time`]), only if `delete_enabled` and
//!    `retention_ms` is set: delete while `now_ms - largest_timestamp >
//!    retention_ms`. A single far-future timestamp therefore pins its
//!    segment, and all later ones, until that time has passed.
//!
//! The new log start offset is `max(log_start_offset, base offset of the
//! first surviving segment)` when anything is deleted, and
//! `log_start_offset` otherwise: it never decreases.
//!
//! # Differences from Kafka
//!
//! * **The active segment is never deleted.** Kafka rolls a new empty
//!   segment when every segment, the active one included, is deletable,
//!   and then deletes them all. Here the active segment always stays; it
//!   is deleted once it has rolled and a later check finds it expired. The
//!   number of segments left is the same (one).
//! * **No file-time fallback.** A segment without a timestamp
//!   (`largest_timestamp < 0`, normally `-1`) is never deleted by time.
//!   Kafka would use the `.log` file's last-modified time instead; a pure
//!   planner has no file to look at, and the executor may pass that time
//!   as `largest_timestamp` if it wants Kafka's behaviour.
//!
//! # Expected input, and what happens otherwise
//!
//! `segments` is the partition's segments oldest first, the last being the
//! active segment. Every segment but the last has `base_offset <
//! next_offset`, and its `next_offset` is the next segment's
//! `base_offset`: base offsets strictly increase, as segment file names
//! are unique. Only the last segment may be empty (`base_offset ==
//! next_offset`). Normally `log_start_offset <= high_watermark`, as Kafka
//! keeps it.
//!
//! The planner never panics. An empty list yields an empty plan. A segment
//! that breaks these invariants (unsorted input, duplicate base offsets,
//! overlaps, gaps) may not be deleted, so every pass stops there: deleting
//! less is always safe. Sums and differences are computed without
//! overflow.
//!
//! On such input every plan is a fixed point: planning again over the
//! survivors, with the new log start offset and the same high watermark,
//! clock and policy, deletes nothing more.
//!
//! ```
//! use seglog::retention::{plan, DeleteReason, RetentionPolicy, SegmentMeta};
//!
//! // Three segments of 5 records, 500 bytes each; the last is active.
//! let segments: Vec<SegmentMeta> = (0..3)
//!     .map(|i| SegmentMeta {
//!         base_offset: i * 5,
//!         size: 500,
//!         largest_timestamp: 1_000 * i as i64,
//!         next_offset: i * 5 + 5,
//!     })
//!     .collect();
//! let policy = RetentionPolicy {
//!     retention_ms: None,
//!     retention_bytes: Some(1_000),
//!     delete_enabled: true,
//! };
//! let plan = plan(&segments, 0, 15, 5_000, &policy);
//! assert_eq!(plan.delete, [DeleteReason::Size]);
//! assert_eq!(plan.new_log_start_offset, 5);
//! ```
//!
//! `plan` and its input and output types are the crate's own; they are
//! public only with the `testing` feature, for the crate's tests and
//! benchmarks. Applications apply retention with
//! [`PartitionLog::apply_retention`](crate::PartitionLog::apply_retention)
//! or let a [`LogStore`](crate::LogStore) do it.

mod plan;

#[cfg(feature = "testing")]
pub use plan::{plan, RetentionPlan, SegmentMeta};
#[cfg(not(feature = "testing"))]
pub(crate) use plan::{plan, SegmentMeta};
pub use plan::{DeleteReason, RetentionPolicy};

//! The decisions that reconcile a follower's log with its leader's after a
//! leadership change, as Kafka's fetch-based protocol makes them (KIP-101,
//! KIP-279, truncation on fetch): the leader's check of a fetch's last
//! fetched epoch (`Partition.readRecords`), the follower's choice of a
//! truncation offset from the leader's diverging epoch
//! (`AbstractFetcherThread.getOffsetTruncationState`), and the follower's
//! recovery from an out-of-range fetch offset
//! (`AbstractFetcherThread.fetchOffsetAndTruncate`).
//!
//! All of it is pure: the callers look up the epoch caches and offsets and
//! carry out the truncation.

use super::epoch_cache::{EpochEndOffset, UNDEFINED_EPOCH};

/// Where a follower truncates its log to, and whether that settles the
/// divergence (Kafka's `OffsetTruncationState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TruncationDecision {
    /// The offset to truncate the log to (its new log end offset; a no-op if
    /// it is not below the current one).
    pub(crate) truncate_to: u64,
    /// `false` if the follower must ask the leader again after truncating
    /// (with its new latest epoch as the last fetched epoch): the leader named
    /// an epoch the follower does not have.
    pub(crate) complete: bool,
}

/// The follower's truncation for the leader's answer `leader` about its last
/// fetched epoch (a diverging epoch from a fetch, or an
/// OffsetsForLeaderEpoch answer), as Kafka's `getOffsetTruncationState`.
///
/// `follower_end_for` is the follower's own cache answer for the leader's
/// epoch, `endOffsetFor(leader.epoch, follower_leo)`; `follower_hw` is its
/// high watermark (Kafka's initial fetch offset).
///
/// * The leader has no end offset: truncate to `follower_hw`.
/// * The leader has an offset but no epoch (old protocol): truncate to
///   `min(leader end, follower_leo)`.
/// * The follower's cache has no end offset for the epoch: truncate to
///   `min(leader end, follower_leo)`.
/// * The follower's cache answers a different (smaller) epoch, i.e. it lacks
///   the leader's: truncate to `min(follower end, follower_leo)`, incomplete.
/// * The follower has the epoch: truncate to
///   `min(leader end, follower end, follower_leo)`.
pub(crate) fn truncation_for_diverging_epoch(
    leader: EpochEndOffset,
    follower_end_for: EpochEndOffset,
    follower_leo: u64,
    follower_hw: u64,
) -> TruncationDecision {
    let done = |truncate_to| TruncationDecision {
        truncate_to,
        complete: true,
    };
    let Some(leader_end) = leader.offset() else {
        return done(follower_hw);
    };
    if leader.epoch == UNDEFINED_EPOCH {
        return done(leader_end.min(follower_leo));
    }
    let Some(follower_end) = follower_end_for.offset() else {
        return done(leader_end.min(follower_leo));
    };
    if follower_end_for.epoch != leader.epoch {
        return TruncationDecision {
            truncate_to: follower_end.min(follower_leo),
            complete: false,
        };
    }
    done(leader_end.min(follower_end).min(follower_leo))
}

/// What the leader does with a follower's fetch that names the epoch of the
/// last batch the follower has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FetchEpochCheck {
    /// The follower's log agrees with the leader's up to the fetch offset:
    /// read records as usual.
    Read,
    /// The logs diverge: answer with this epoch and end offset and no records.
    Diverging(EpochEndOffset),
    /// Answer OFFSET_OUT_OF_RANGE: the leader cannot place the last fetched
    /// epoch, or the fetch offset is below its log start offset.
    OffsetOutOfRange,
}

/// The leader's check of a fetch carrying `last_fetched_epoch` (Kafka's
/// `Partition.readRecords`). `answer` is the leader's cache answer
/// `endOffsetFor(last_fetched_epoch, leader LEO)`.
///
/// In Kafka's order: an undefined answer, or a fetch offset below
/// `leader_log_start`, is out of range; the logs diverge if the answer's
/// epoch is below `last_fetched_epoch` (the leader never had that epoch) or
/// its end offset is below `fetch_offset` (the epoch ended earlier on the
/// leader); otherwise the fetch reads. A fetch without a last fetched epoch
/// skips this check.
pub(crate) fn check_last_fetched_epoch(
    answer: EpochEndOffset,
    last_fetched_epoch: i32,
    fetch_offset: u64,
    leader_log_start: u64,
) -> FetchEpochCheck {
    let Some(end_offset) = answer.offset() else {
        return FetchEpochCheck::OffsetOutOfRange;
    };
    if answer.epoch == UNDEFINED_EPOCH || fetch_offset < leader_log_start {
        return FetchEpochCheck::OffsetOutOfRange;
    }
    if answer.epoch < last_fetched_epoch || end_offset < fetch_offset {
        return FetchEpochCheck::Diverging(answer);
    }
    FetchEpochCheck::Read
}

/// What a follower does when its fetch offset is out of the leader's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutOfRangeAction {
    /// The leader's log ends below the follower's (only after an unclean
    /// election): truncate to the leader's log end offset and fetch from it.
    TruncateTo(u64),
    /// The follower's log ends below the leader's log start offset: its data
    /// is all stale. Replace the log with an empty one starting at this
    /// offset (Kafka's `truncateFullyAndStartAt`) and fetch from it.
    StartAt(u64),
    /// Keep the log as it is and fetch again from its end, this offset (the
    /// leader's log has grown past the follower's again since it answered).
    FetchFrom(u64),
}

/// The follower's recovery from an out-of-range fetch (Kafka's
/// `fetchOffsetAndTruncate`), given its log end offset and the leader's
/// current log start and end offsets.
pub(crate) fn out_of_range_action(
    follower_leo: u64,
    leader_log_start: u64,
    leader_leo: u64,
) -> OutOfRangeAction {
    if leader_leo < follower_leo {
        OutOfRangeAction::TruncateTo(leader_leo)
    } else if leader_log_start > follower_leo {
        OutOfRangeAction::StartAt(leader_log_start)
    } else {
        OutOfRangeAction::FetchFrom(follower_leo)
    }
}

#[cfg(test)]
#[path = "truncation_tests.rs"]
mod tests;

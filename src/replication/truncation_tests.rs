use super::*;

/// Kafka's `LeaderEpochFileCache.endOffsetFor` over a cache of
/// `(epoch, start offset)` entries in increasing order, to drive the
/// decisions from whole logs in the tests.
fn end_offset_for(cache: &[(i32, u64)], requested: i32, leo: u64) -> EpochEndOffset {
    let offset = |o: u64| i64::try_from(o).unwrap();
    if requested == UNDEFINED_EPOCH {
        return EpochEndOffset::UNDEFINED;
    }
    if cache.last().map(|&(e, _)| e) == Some(requested) {
        return EpochEndOffset::new(requested, offset(leo));
    }
    let Some(&(_, higher_start)) = cache.iter().find(|&&(e, _)| e > requested) else {
        return EpochEndOffset::UNDEFINED;
    };
    match cache.iter().rev().find(|&&(e, _)| e <= requested) {
        None => EpochEndOffset::new(requested, offset(higher_start)),
        Some(&(floor, _)) => EpochEndOffset::new(floor, offset(higher_start)),
    }
}

/// Kafka's `truncateFromEnd`: drops entries starting at or after `offset`.
fn truncate_from_end(cache: &mut Vec<(i32, u64)>, offset: u64) {
    cache.retain(|&(_, start)| start < offset);
}

#[test]
fn test_cache_helper_answers_the_reference_examples() {
    let cache = [(0, 10), (2, 13), (4, 17)];
    assert_eq!(end_offset_for(&cache, 1, 30), EpochEndOffset::new(0, 13));
    assert_eq!(end_offset_for(&cache, 2, 30), EpochEndOffset::new(2, 17));
    assert_eq!(end_offset_for(&cache, 3, 30), EpochEndOffset::new(2, 17));
    assert_eq!(end_offset_for(&cache, 4, 30), EpochEndOffset::new(4, 30));
    assert_eq!(end_offset_for(&cache, 5, 30), EpochEndOffset::UNDEFINED);
    assert_eq!(end_offset_for(&[], 1, 30), EpochEndOffset::UNDEFINED);
    let cache = [(5, 11), (6, 12), (7, 13)];
    assert_eq!(end_offset_for(&cache, 4, 30), EpochEndOffset::new(4, 11));
}

#[test]
fn epoch_end_offset_treats_negative_offsets_as_undefined() {
    assert_eq!(EpochEndOffset::UNDEFINED.offset(), None);
    assert_eq!(EpochEndOffset::new(3, -7).offset(), None);
    assert_eq!(EpochEndOffset::new(3, 0).offset(), Some(0));
}

#[test]
fn undefined_leader_offset_truncates_to_the_follower_high_watermark() {
    let decision = truncation_for_diverging_epoch(
        EpochEndOffset::UNDEFINED,
        EpochEndOffset::new(2, 15),
        20,
        12,
    );
    assert_eq!(
        decision,
        TruncationDecision {
            truncate_to: 12,
            complete: true
        }
    );
}

#[test]
fn leader_offset_without_epoch_truncates_to_it_bounded_by_the_leo() {
    let follower = EpochEndOffset::new(2, 15);
    assert_eq!(
        truncation_for_diverging_epoch(EpochEndOffset::new(UNDEFINED_EPOCH, 14), follower, 20, 0),
        TruncationDecision {
            truncate_to: 14,
            complete: true
        }
    );
    assert_eq!(
        truncation_for_diverging_epoch(EpochEndOffset::new(UNDEFINED_EPOCH, 25), follower, 20, 0),
        TruncationDecision {
            truncate_to: 20,
            complete: true
        }
    );
}

#[test]
fn follower_without_an_answer_for_the_epoch_truncates_to_the_leader_offset() {
    // The follower's cache is empty (it tracked no epochs).
    let follower = end_offset_for(&[], 3, 20);
    assert_eq!(
        truncation_for_diverging_epoch(EpochEndOffset::new(3, 14), follower, 20, 0),
        TruncationDecision {
            truncate_to: 14,
            complete: true
        }
    );
    assert_eq!(
        truncation_for_diverging_epoch(EpochEndOffset::new(3, 24), follower, 20, 0),
        TruncationDecision {
            truncate_to: 20,
            complete: true
        }
    );
}

#[test]
fn follower_with_the_epoch_truncates_to_the_smallest_end() {
    let leader = EpochEndOffset::new(2, 17);
    // Follower's epoch 2 ends at 15: its own end is the smallest.
    let follower = end_offset_for(&[(0, 0), (2, 10), (3, 15)], 2, 18);
    assert_eq!(follower, EpochEndOffset::new(2, 15));
    assert_eq!(
        truncation_for_diverging_epoch(leader, follower, 18, 0),
        TruncationDecision {
            truncate_to: 15,
            complete: true
        }
    );
    // Follower's epoch 2 is its latest (ends at its LEO 19): the leader's end
    // is the smallest.
    let follower = end_offset_for(&[(0, 0), (2, 10)], 2, 19);
    assert_eq!(
        truncation_for_diverging_epoch(leader, follower, 19, 0),
        TruncationDecision {
            truncate_to: 17,
            complete: true
        }
    );
}

#[test]
fn follower_with_all_epochs_after_the_leader_epoch_truncates_to_the_smallest_end() {
    // The follower's cache starts after epoch 1 (older epochs were removed
    // with old segments): its cache answers (1, start of epoch 3), which
    // Kafka takes as having the epoch.
    let follower = end_offset_for(&[(3, 12), (4, 16)], 1, 20);
    assert_eq!(follower, EpochEndOffset::new(1, 12));
    assert_eq!(
        truncation_for_diverging_epoch(EpochEndOffset::new(1, 14), follower, 20, 0),
        TruncationDecision {
            truncate_to: 12,
            complete: true
        }
    );
}

#[test]
fn follower_lacking_the_epoch_truncates_to_its_earlier_epoch_end_and_asks_again() {
    let follower = end_offset_for(&[(0, 0), (1, 8), (3, 15)], 2, 18);
    assert_eq!(follower, EpochEndOffset::new(1, 15));
    assert_eq!(
        truncation_for_diverging_epoch(EpochEndOffset::new(2, 20), follower, 18, 0),
        TruncationDecision {
            truncate_to: 15,
            complete: false
        }
    );
}

#[test]
fn multi_round_truncation_converges_on_the_common_prefix() {
    let leader_cache = [(0, 0), (2, 10), (4, 20)];
    let leader_leo = 30;
    let mut follower_cache = vec![(0, 0), (1, 8), (3, 15)];
    let mut follower_leo = 18;

    // Round 1: fetch at 18 with last fetched epoch 3, which the leader never
    // had: it answers (2, 20).
    let answer = end_offset_for(&leader_cache, 3, leader_leo);
    assert_eq!(answer, EpochEndOffset::new(2, 20));
    let diverging = EpochEndOffset::new(2, 20);
    assert_eq!(
        check_last_fetched_epoch(answer, 3, follower_leo, 0),
        FetchEpochCheck::Diverging(diverging)
    );
    // The follower lacks epoch 2; its cache ends epoch 1 at 15.
    let own = end_offset_for(&follower_cache, diverging.epoch, follower_leo);
    assert_eq!(own, EpochEndOffset::new(1, 15));
    let decision = truncation_for_diverging_epoch(diverging, own, follower_leo, 0);
    assert_eq!(
        decision,
        TruncationDecision {
            truncate_to: 15,
            complete: false
        }
    );
    follower_leo = decision.truncate_to;
    truncate_from_end(&mut follower_cache, follower_leo);
    assert_eq!(follower_cache, vec![(0, 0), (1, 8)]);

    // Round 2: fetch at 15 with last fetched epoch 1 (its latest now); the
    // leader never had epoch 1 either and answers (0, 10).
    let answer = end_offset_for(&leader_cache, 1, leader_leo);
    assert_eq!(answer, EpochEndOffset::new(0, 10));
    let diverging = EpochEndOffset::new(0, 10);
    assert_eq!(
        check_last_fetched_epoch(answer, 1, follower_leo, 0),
        FetchEpochCheck::Diverging(diverging)
    );
    let own = end_offset_for(&follower_cache, diverging.epoch, follower_leo);
    assert_eq!(own, EpochEndOffset::new(0, 8));
    let decision = truncation_for_diverging_epoch(diverging, own, follower_leo, 0);
    assert_eq!(
        decision,
        TruncationDecision {
            truncate_to: 8,
            complete: true
        }
    );
    follower_leo = decision.truncate_to;
    truncate_from_end(&mut follower_cache, follower_leo);
    assert_eq!(follower_cache, vec![(0, 0)]);

    // Round 3: fetch at 8 with last fetched epoch 0: the logs agree.
    let answer = end_offset_for(&leader_cache, 0, leader_leo);
    assert_eq!(answer, EpochEndOffset::new(0, 10));
    assert_eq!(
        check_last_fetched_epoch(answer, 0, follower_leo, 0),
        FetchEpochCheck::Read
    );
}

#[test]
fn fetch_in_the_leader_current_epoch_reads() {
    let answer = end_offset_for(&[(0, 0), (2, 10)], 2, 30);
    assert_eq!(
        check_last_fetched_epoch(answer, 2, 25, 0),
        FetchEpochCheck::Read
    );
    assert_eq!(
        check_last_fetched_epoch(answer, 2, 30, 0),
        FetchEpochCheck::Read
    );
}

#[test]
fn fetch_past_the_end_of_the_last_fetched_epoch_diverges() {
    // The follower has epoch 0 up to 12, the leader's epoch 0 ended at 10.
    let answer = end_offset_for(&[(0, 0), (2, 10)], 0, 30);
    assert_eq!(
        check_last_fetched_epoch(answer, 0, 12, 0),
        FetchEpochCheck::Diverging(EpochEndOffset::new(0, 10))
    );
    assert_eq!(
        check_last_fetched_epoch(answer, 0, 10, 0),
        FetchEpochCheck::Read
    );
}

#[test]
fn fetch_with_an_epoch_the_leader_never_had_diverges() {
    let answer = end_offset_for(&[(0, 0), (2, 10)], 1, 30);
    assert_eq!(
        check_last_fetched_epoch(answer, 1, 10, 0),
        FetchEpochCheck::Diverging(EpochEndOffset::new(0, 10))
    );
}

#[test]
fn fetch_with_an_epoch_the_leader_cannot_place_is_out_of_range() {
    // An epoch above everything the leader has cached.
    let answer = end_offset_for(&[(0, 0), (2, 10)], 3, 30);
    assert_eq!(
        check_last_fetched_epoch(answer, 3, 10, 0),
        FetchEpochCheck::OffsetOutOfRange
    );
    assert_eq!(
        check_last_fetched_epoch(EpochEndOffset::new(UNDEFINED_EPOCH, 10), 3, 10, 0),
        FetchEpochCheck::OffsetOutOfRange
    );
}

#[test]
fn fetch_below_the_leader_log_start_is_out_of_range_even_when_diverging() {
    let answer = end_offset_for(&[(0, 0), (2, 10)], 1, 30);
    assert_eq!(
        check_last_fetched_epoch(answer, 1, 4, 5),
        FetchEpochCheck::OffsetOutOfRange
    );
    assert_eq!(
        check_last_fetched_epoch(EpochEndOffset::new(2, 30), 2, 4, 5),
        FetchEpochCheck::OffsetOutOfRange
    );
}

#[test]
fn out_of_range_with_leader_log_behind_the_follower_truncates_to_the_leader_end() {
    assert_eq!(
        out_of_range_action(20, 0, 15),
        OutOfRangeAction::TruncateTo(15)
    );
}

#[test]
fn out_of_range_below_the_leader_log_start_starts_over_at_it() {
    assert_eq!(
        out_of_range_action(5, 10, 30),
        OutOfRangeAction::StartAt(10)
    );
}

#[test]
fn out_of_range_within_the_leader_range_again_fetches_from_the_follower_end() {
    assert_eq!(
        out_of_range_action(12, 10, 30),
        OutOfRangeAction::FetchFrom(12)
    );
    assert_eq!(
        out_of_range_action(10, 10, 10),
        OutOfRangeAction::FetchFrom(10)
    );
}

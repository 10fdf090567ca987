use super::*;

const LAG: u64 = 30_000;
const T0: i64 = 1_000_000;

/// Leader 1 of replicas [1, 2, 3] with the given ISR, epoch 5 starting at
/// offset 10, high watermark 10, elected at T0.
fn leader(isr: &[ReplicaId]) -> LeaderState {
    LeaderState::new(1, 5, 10, &[1, 2, 3], isr, 10, T0)
}

fn caught_up_ms(state: &LeaderState, id: ReplicaId) -> Option<i64> {
    state
        .follower(id)
        .and_then(FollowerState::last_caught_up_ms)
}

#[test]
fn election_marks_isr_followers_caught_up_and_others_never() {
    let state = leader(&[1, 2]);
    assert_eq!(caught_up_ms(&state, 2), Some(T0));
    assert_eq!(caught_up_ms(&state, 3), None);
    let f2 = state.follower(2).unwrap();
    assert_eq!(f2.log_end_offset(), None);
    assert_eq!(f2.log_start_offset(), None);
    assert_eq!(f2.last_fetch_ms(), None);
    assert!(
        state.follower(1).is_none(),
        "the leader is not its own follower"
    );
}

#[test]
fn election_adds_the_leader_to_replicas_and_isr_when_left_out() {
    let state = LeaderState::new(1, 0, 0, &[2, 3, 2], &[2], 0, T0);
    assert_eq!(state.replicas(), &[1, 2, 3]);
    assert_eq!(state.isr(), &[1, 2]);
    assert_eq!(state.local(), 1);
    assert_eq!(state.epoch(), 0);
    assert_eq!(state.epoch_start_offset(), 0);
}

#[test]
fn fetch_at_leader_leo_is_caught_up_now() {
    let mut state = leader(&[1]);
    assert_eq!(state.record_fetch(3, 20, 0, 20, T0 + 100), Ok(true));
    assert_eq!(caught_up_ms(&state, 3), Some(T0 + 100));
    let f3 = state.follower(3).unwrap();
    assert_eq!(f3.log_end_offset(), Some(20));
    assert_eq!(f3.log_start_offset(), Some(0));
    assert_eq!(f3.last_fetch_ms(), Some(T0 + 100));
    assert_eq!(f3.last_fetch_leader_leo(), 20);
}

#[test]
fn fetch_reaching_the_previous_fetch_leader_leo_is_caught_up_at_the_previous_fetch() {
    let mut state = leader(&[1]);
    // First fetch: the leader was at 20, the follower at 15.
    state.record_fetch(3, 15, 0, 20, T0 + 100).unwrap();
    assert_eq!(caught_up_ms(&state, 3), None);
    // Second fetch reaches 20 (the LEO of the first fetch) while the leader
    // moved on to 25: caught up as of the first fetch.
    state.record_fetch(3, 20, 0, 25, T0 + 200).unwrap();
    assert_eq!(caught_up_ms(&state, 3), Some(T0 + 100));
}

#[test]
fn fetch_below_both_leader_leos_leaves_the_caught_up_time() {
    let mut state = leader(&[1, 3]);
    state.record_fetch(3, 15, 0, 20, T0 + 100).unwrap();
    // Still below 20 (the previous fetch's leader LEO) and below 25.
    state.record_fetch(3, 18, 0, 25, T0 + 200).unwrap();
    assert_eq!(caught_up_ms(&state, 3), Some(T0));
}

#[test]
fn caught_up_time_never_moves_back() {
    let mut state = leader(&[1]);
    state.record_fetch(3, 20, 0, 20, T0 + 500).unwrap();
    // A fetch stamped earlier that reached the leader LEO does not set the
    // time back.
    state.record_fetch(3, 20, 0, 20, T0 + 400).unwrap();
    assert_eq!(caught_up_ms(&state, 3), Some(T0 + 500));
}

#[test]
fn fetch_reports_whether_the_follower_leo_changed() {
    let mut state = leader(&[1, 2]);
    assert_eq!(state.record_fetch(2, 10, 0, 12, T0 + 1), Ok(true));
    assert_eq!(state.record_fetch(2, 10, 0, 12, T0 + 2), Ok(false));
    assert_eq!(state.record_fetch(2, 12, 0, 12, T0 + 3), Ok(true));
}

#[test]
fn fetch_from_unknown_replica_is_an_error() {
    let mut state = leader(&[1, 2]);
    assert_eq!(state.record_fetch(9, 10, 0, 10, T0), Err(UnknownReplica(9)));
    assert_eq!(
        state.record_fetch(1, 10, 0, 10, T0),
        Err(UnknownReplica(1)),
        "the leader does not fetch from itself"
    );
    assert_eq!(
        UnknownReplica(9).to_string(),
        "replica 9 is not a follower of this partition"
    );
}

#[test]
fn caught_up_by_equal_leo_or_within_the_lag() {
    let mut state = leader(&[1, 2]);
    state.record_fetch(2, 20, 0, 20, T0).unwrap();
    // Within the lag.
    assert!(state.is_caught_up(2, 30, T0 + LAG as i64, LAG));
    // Past the lag but at the leader's LEO.
    assert!(state.is_caught_up(2, 20, T0 + LAG as i64 + 1, LAG));
    // Past the lag and behind.
    assert!(!state.is_caught_up(2, 30, T0 + LAG as i64 + 1, LAG));
    // The leader always is, a stranger never.
    assert!(state.is_caught_up(1, 30, T0 + 10 * LAG as i64, LAG));
    assert!(!state.is_caught_up(9, 30, T0, LAG));
}

#[test]
fn never_caught_up_follower_is_not_caught_up_at_any_clock_origin() {
    // A clock starting at 0 must not make "never" look recent.
    let state = LeaderState::new(1, 0, 0, &[1, 2], &[1], 0, 0);
    assert!(!state.is_caught_up(2, 5, 0, LAG));
    assert!(!state.is_caught_up(2, 5, i64::MIN, LAG));
}

#[test]
fn stuck_follower_falls_out_of_sync_after_the_lag() {
    let state = leader(&[1, 2, 3]);
    // No fetch at all since the election at T0.
    assert!(state
        .out_of_sync_replicas(20, T0 + LAG as i64, LAG)
        .is_empty());
    assert_eq!(
        state.out_of_sync_replicas(20, T0 + LAG as i64 + 1, LAG),
        vec![2, 3]
    );
}

#[test]
fn slow_follower_falls_out_of_sync_while_a_current_one_stays() {
    let mut state = leader(&[1, 2, 3]);
    let now = T0 + LAG as i64 + 1_000;
    // 3 keeps fetching but never reaches the leader's LEO of its time.
    state.record_fetch(3, 15, 0, 20, T0 + 500).unwrap();
    state.record_fetch(3, 18, 0, 25, now).unwrap();
    // 2 is at the leader's LEO.
    state.record_fetch(2, 25, 0, 25, now).unwrap();
    assert_eq!(state.out_of_sync_replicas(25, now, LAG), vec![3]);
}

#[test]
fn isr_member_outside_the_replicas_is_out_of_sync() {
    let state = LeaderState::new(1, 0, 0, &[1, 2], &[1, 2, 7], 0, T0);
    assert_eq!(state.out_of_sync_replicas(0, T0, LAG), vec![7]);
}

#[test]
fn shrink_never_removes_the_leader() {
    let state = leader(&[1, 2, 3]);
    assert_eq!(state.shrunk_isr(&[1, 3]), vec![1, 2]);
    assert_eq!(state.shrunk_isr(&[]), vec![1, 2, 3]);
}

#[test]
fn expansion_needs_leo_at_high_watermark_and_epoch_start() {
    // HW 12, epoch started at 10.
    let mut state = LeaderState::new(1, 5, 10, &[1, 2, 3], &[1, 2], 12, T0);
    // No fetch yet: unknown LEO.
    assert_eq!(state.expanded_isr(3), None);
    // Below the high watermark.
    state.record_fetch(3, 11, 0, 20, T0 + 1).unwrap();
    assert_eq!(state.expanded_isr(3), None);
    // At the high watermark.
    state.record_fetch(3, 12, 0, 20, T0 + 2).unwrap();
    assert_eq!(state.expanded_isr(3), Some(vec![1, 2, 3]));
}

#[test]
fn expansion_waits_for_the_epoch_start_offset() {
    // HW 8 lags the epoch start 10 (committed data may sit in 8..10).
    let mut state = LeaderState::new(1, 5, 10, &[1, 2, 3], &[1, 2], 8, T0);
    state.record_fetch(3, 9, 0, 20, T0 + 1).unwrap();
    assert_eq!(state.expanded_isr(3), None);
    state.record_fetch(3, 10, 0, 20, T0 + 2).unwrap();
    assert_eq!(state.expanded_isr(3), Some(vec![1, 2, 3]));
}

#[test]
fn expansion_refuses_isr_members_and_non_followers() {
    let mut state = leader(&[1, 2]);
    state.record_fetch(2, 30, 0, 30, T0).unwrap();
    assert_eq!(state.expanded_isr(2), None, "already in the ISR");
    assert_eq!(state.expanded_isr(1), None, "the leader");
    assert_eq!(state.expanded_isr(9), None, "not assigned");
}

#[test]
fn high_watermark_is_the_minimum_leo_over_the_isr() {
    let mut state = leader(&[1, 2, 3]);
    state.record_fetch(2, 18, 0, 20, T0 + 1).unwrap();
    state.record_fetch(3, 15, 0, 20, T0 + 1).unwrap();
    assert_eq!(
        state.maybe_increment_high_watermark(20, 0, T0 + 2, LAG, 1),
        Some(15)
    );
    assert_eq!(state.high_watermark(), 15);
}

#[test]
fn isr_follower_with_unknown_leo_holds_the_high_watermark() {
    let mut state = leader(&[1, 2, 3]);
    state.record_fetch(2, 20, 0, 20, T0 + 1).unwrap();
    // 3 has not fetched since the election.
    assert_eq!(
        state.maybe_increment_high_watermark(20, 0, T0 + 2, LAG, 1),
        None
    );
    assert_eq!(state.high_watermark(), 10);
}

#[test]
fn caught_up_follower_outside_the_isr_holds_the_high_watermark() {
    // Kafka's shouldWaitForReplicaToJoinIsr: ISR is the leader alone, 3 is
    // caught up (it reached the leader LEO of its time) but behind now.
    let mut state = leader(&[1]);
    state.record_fetch(3, 14, 0, 14, T0 + 1).unwrap();
    assert_eq!(
        state.maybe_increment_high_watermark(20, 0, T0 + 2, LAG, 1),
        Some(14)
    );
}

#[test]
fn lagging_follower_outside_the_isr_does_not_hold_the_high_watermark() {
    let mut state = leader(&[1]);
    // 3 never reached the leader's LEO.
    state.record_fetch(3, 12, 0, 20, T0 + 1).unwrap();
    assert_eq!(
        state.maybe_increment_high_watermark(20, 0, T0 + 2, LAG, 1),
        Some(20)
    );
}

#[test]
fn caught_up_follower_outside_the_isr_stops_holding_after_the_lag() {
    let mut state = leader(&[1]);
    state.record_fetch(3, 14, 0, 14, T0 + 1).unwrap();
    let later = T0 + 1 + LAG as i64 + 1;
    assert_eq!(
        state.maybe_increment_high_watermark(20, 0, later, LAG, 1),
        Some(20)
    );
}

#[test]
fn high_watermark_only_moves_forward() {
    let mut state = leader(&[1, 2]);
    state.record_fetch(2, 18, 0, 20, T0 + 1).unwrap();
    assert_eq!(
        state.maybe_increment_high_watermark(20, 0, T0 + 1, LAG, 1),
        Some(18)
    );
    // The follower's reported LEO falls back (it truncated): no move back.
    state.record_fetch(2, 16, 0, 20, T0 + 2).unwrap();
    assert_eq!(
        state.maybe_increment_high_watermark(20, 0, T0 + 2, LAG, 1),
        None
    );
    assert_eq!(state.high_watermark(), 18);
}

#[test]
fn high_watermark_is_clamped_into_log_start_and_leader_leo() {
    // Starting HW 0 below a log start of 5; the ISR holds the candidate at 3.
    let mut state = LeaderState::new(1, 0, 0, &[1, 2], &[1, 2], 0, T0);
    state.record_fetch(2, 3, 0, 20, T0 + 1).unwrap();
    assert_eq!(
        state.maybe_increment_high_watermark(20, 5, T0 + 1, LAG, 1),
        Some(5)
    );
    // A follower ahead of the leader (before it truncates) does not lift the
    // high watermark past the leader's LEO.
    let mut state = LeaderState::new(1, 0, 0, &[1, 2], &[1, 2], 0, T0);
    state.record_fetch(2, 30, 0, 20, T0 + 1).unwrap();
    assert_eq!(
        state.maybe_increment_high_watermark(20, 0, T0 + 1, LAG, 1),
        Some(20)
    );
}

#[test]
fn isr_below_min_insync_blocks_the_high_watermark() {
    let mut state = leader(&[1]);
    assert_eq!(
        state.maybe_increment_high_watermark(20, 0, T0, LAG, 2),
        None
    );
    assert_eq!(state.high_watermark(), 10);
    // The same ISR is enough with min.insync.replicas 1.
    assert_eq!(
        state.maybe_increment_high_watermark(20, 0, T0, LAG, 1),
        Some(20)
    );
}

#[test]
fn min_insync_above_the_replication_factor_is_capped() {
    // Replication factor 2, min.insync.replicas 3: the effective minimum is 2.
    let mut state = LeaderState::new(1, 0, 0, &[1, 2], &[1, 2], 0, T0);
    state.record_fetch(2, 20, 0, 20, T0).unwrap();
    assert_eq!(
        state.maybe_increment_high_watermark(20, 0, T0, LAG, 3),
        Some(20)
    );
}

#[test]
fn raised_log_start_lifts_the_high_watermark() {
    let mut state = leader(&[1]);
    assert_eq!(state.raise_high_watermark_to_log_start(8), None);
    assert_eq!(state.raise_high_watermark_to_log_start(14), Some(14));
    assert_eq!(state.high_watermark(), 14);
}

#[test]
fn set_isr_replaces_the_isr_and_keeps_the_leader() {
    let mut state = leader(&[1, 2, 3]);
    state.set_isr(&[2]);
    assert_eq!(state.isr(), &[1, 2]);
}

#[test]
fn set_assignment_adds_new_followers_empty_and_forgets_removed_ones() {
    let mut state = leader(&[1, 2, 3]);
    state.record_fetch(2, 20, 0, 20, T0 + 1).unwrap();
    state.set_assignment(&[1, 2, 4], &[1, 2]);
    assert_eq!(state.replicas(), &[1, 2, 4]);
    assert_eq!(state.isr(), &[1, 2]);
    assert!(state.follower(3).is_none());
    assert_eq!(state.follower(2).unwrap().log_end_offset(), Some(20));
    assert_eq!(state.follower(4), Some(&FollowerState::empty()));
}

#[test]
fn re_election_with_a_newer_epoch_resets_times_but_keeps_offsets() {
    let mut state = leader(&[1, 2, 3]);
    state.record_fetch(2, 20, 3, 20, T0 + 1).unwrap();
    state.record_fetch(3, 20, 3, 20, T0 + 1).unwrap();
    state.make_leader(6, 25, &[1, 2, 3], &[1, 2], T0 + 50);
    assert_eq!(state.epoch(), 6);
    assert_eq!(state.epoch_start_offset(), 25);
    let f2 = state.follower(2).unwrap();
    assert_eq!(f2.log_end_offset(), Some(20));
    assert_eq!(f2.log_start_offset(), Some(3));
    assert_eq!(f2.last_caught_up_ms(), Some(T0 + 50));
    assert_eq!(f2.last_fetch_ms(), Some(T0 + 50));
    assert_eq!(f2.last_fetch_leader_leo(), 25);
    let f3 = state.follower(3).unwrap();
    assert_eq!(f3.last_caught_up_ms(), None);
    assert_eq!(f3.last_fetch_ms(), None);
}

#[test]
fn make_leader_with_the_same_epoch_only_refreshes_the_assignment() {
    let mut state = leader(&[1, 2, 3]);
    state.record_fetch(2, 20, 0, 20, T0 + 1).unwrap();
    state.make_leader(5, 99, &[1, 2, 3], &[1, 2], T0 + 50);
    assert_eq!(state.epoch_start_offset(), 10);
    assert_eq!(state.isr(), &[1, 2]);
    assert_eq!(caught_up_ms(&state, 2), Some(T0 + 1));
    assert_eq!(caught_up_ms(&state, 3), Some(T0));
}

#[test]
fn a_joining_follower_holds_the_high_watermark_back_until_every_proposal_ends() {
    // Follower 2 (outside the ISR, not caught up) at offset 12; leader at 15.
    let mut state = leader(&[1]);
    state.record_fetch(2, 12, 0, 10, T0 - 1).unwrap();
    let now = T0 + 2 * LAG as i64;
    state.begin_joining(2);
    state.begin_joining(2);
    assert_eq!(
        state.maybe_increment_high_watermark(15, 0, now, LAG, 1),
        Some(12)
    );
    state.end_joining(2);
    assert_eq!(
        state.maybe_increment_high_watermark(15, 0, now, LAG, 1),
        None
    );
    state.end_joining(2);
    assert_eq!(
        state.maybe_increment_high_watermark(15, 0, now, LAG, 1),
        Some(15)
    );
}

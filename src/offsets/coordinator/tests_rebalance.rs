//! Rebalances driven by the clock and by members coming and going, on a
//! manual clock and without threads: parked joins are made with a zero
//! timeout and picked up by joining again.

use super::tests::*;
use super::*;

#[test]
fn a_member_that_does_not_rejoin_is_removed_when_the_rebalance_timeout_passes() {
    let f = fixture(0);
    let (ids, generation) = stable_group(&f, "g", &["a", "b"]);
    let (a, b) = (&ids[0], &ids[1]);
    let c = new_member_id(&f, "g", "c");
    assert!(join_now(&f, join_request("g", &c, "c")).is_none());
    assert!(join_now(&f, join_request("g", a, "a")).is_none());
    f.clock.advance(i64::from(REBALANCE_MS) - 1);
    assert_eq!(
        f.coordinator.group_state("g"),
        Some(GroupState::PreparingRebalance)
    );
    f.clock.advance(1);
    assert_eq!(
        f.coordinator.group_state("g"),
        Some(GroupState::CompletingRebalance)
    );
    let response = joined(join_now(&f, join_request("g", a, "a")));
    assert_eq!(response.generation_id, generation + 1);
    let mut members: Vec<&str> = response
        .members
        .iter()
        .map(|m| m.member_id.as_str())
        .collect();
    members.sort_unstable();
    let mut expected = [a.as_str(), c.as_str()];
    expected.sort_unstable();
    assert_eq!(members, expected);
    let gone = f.coordinator.heartbeat("g", b, generation, None);
    assert_eq!(kind(gone), GroupErrorKind::UnknownMemberId);
}

#[test]
fn a_member_whose_session_ends_is_removed_and_the_generation_moves_on() {
    let f = fixture(0);
    let (ids, generation) = stable_group(&f, "g", &["a", "b"]);
    let (a, b) = (&ids[0], &ids[1]);
    let half = i64::from(SESSION_MS) / 2;
    f.clock.advance(half);
    f.coordinator.heartbeat("g", a, generation, None).unwrap();
    f.coordinator.heartbeat("g", b, generation, None).unwrap();
    f.clock.advance(half);
    f.coordinator.heartbeat("g", a, generation, None).unwrap();
    f.clock.advance(half - 1);
    // b's session has a millisecond left.
    f.coordinator.heartbeat("g", a, generation, None).unwrap();
    f.clock.advance(1);
    let rebalancing = f.coordinator.heartbeat("g", a, generation, None);
    assert_eq!(kind(rebalancing), GroupErrorKind::RebalanceInProgress);
    let gone = f.coordinator.heartbeat("g", b, generation, None);
    assert_eq!(kind(gone), GroupErrorKind::UnknownMemberId);
    let response = joined(join_now(&f, join_request("g", a, "a")));
    assert_eq!(response.generation_id, generation + 1);
    assert_eq!(response.members.len(), 1);
}

#[test]
fn the_sweep_expires_members_of_groups_nobody_asks_about() {
    let f = fixture(0);
    let (ids, generation) = stable_group(&f, "g", &["a"]);
    let stored_before = f.storage.stored().len();
    f.clock.advance(i64::from(SESSION_MS));
    f.coordinator.expire_members().unwrap();
    let stored = f.storage.stored();
    assert_eq!(stored.len(), stored_before + 1);
    let (group, value) = stored.last().unwrap();
    assert_eq!(group, "g");
    assert_eq!(value.generation, generation + 1);
    assert!(value.members.is_empty());
    assert_eq!(value.current_state_timestamp, f.clock.now_ms());
    let status = f.coordinator.group_status("g").unwrap();
    assert_eq!(status.state, GroupState::Empty);
    assert_eq!(status.state_timestamp_ms, Some(f.clock.now_ms()));
    let gone = f.coordinator.heartbeat("g", &ids[0], generation, None);
    assert_eq!(kind(gone), GroupErrorKind::UnknownMemberId);
}

#[test]
fn the_last_member_leaving_empties_the_group_and_stores_it() {
    let f = fixture(0);
    let (ids, generation) = stable_group(&f, "g", &["a", "b"]);
    f.clock.advance(7);
    let answers = f
        .coordinator
        .leave_group(
            "g",
            &[
                MemberIdentity::new(ids[0].as_str()),
                MemberIdentity::new("stranger"),
            ],
        )
        .unwrap();
    assert!(matches!(answers[0], Ok(())));
    assert!(matches!(
        answers[1],
        Err(Error::Group {
            kind: GroupErrorKind::UnknownMemberId,
            ..
        })
    ));
    // One member left: the other must rejoin.
    assert_eq!(
        kind(f.coordinator.heartbeat("g", &ids[1], generation, None)),
        GroupErrorKind::RebalanceInProgress
    );
    let stored_before = f.storage.stored().len();
    let answers = f
        .coordinator
        .leave_group("g", &[MemberIdentity::new(ids[1].as_str())])
        .unwrap();
    assert!(matches!(answers[..], [Ok(())]));
    assert_eq!(f.coordinator.group_state("g"), Some(GroupState::Empty));
    let stored = f.storage.stored();
    assert_eq!(stored.len(), stored_before + 1);
    let (_, value) = stored.last().unwrap();
    assert_eq!(value.generation, generation + 1);
    assert!(value.members.is_empty());
    assert_eq!(value.protocol, None);
    assert_eq!(value.leader, None);
    assert_eq!(value.protocol_type, "consumer");
    assert_eq!(value.current_state_timestamp, f.clock.now_ms());

    // A failed write of the empty group is reported; the member is gone
    // all the same.
    let (ids, _) = stable_group(&f, "h", &["a"]);
    f.storage
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = f
        .coordinator
        .leave_group("h", &[MemberIdentity::new(ids[0].as_str())]);
    assert!(matches!(failed, Err(Error::Io { .. })), "{failed:?}");
    assert_eq!(f.coordinator.group_state("h"), Some(GroupState::Empty));
    assert_eq!(
        kind(f.coordinator.leave_group("nope", &[])),
        GroupErrorKind::UnknownMemberId
    );
}

#[test]
fn a_member_id_handed_out_can_be_given_back() {
    let f = fixture(0);
    let (_, generation) = stable_group(&f, "g", &["a"]);
    let pending = new_member_id(&f, "g", "b");
    let answers = f
        .coordinator
        .leave_group("g", &[MemberIdentity::new(pending.as_str())])
        .unwrap();
    assert!(matches!(answers[..], [Ok(())]));
    let refused = f.coordinator.join_group(join_request("g", &pending, "b"));
    assert_eq!(kind(refused), GroupErrorKind::UnknownMemberId);
    assert_eq!(
        f.coordinator.group_status("g").unwrap().generation,
        generation
    );
}

#[test]
fn the_first_rebalance_waits_the_initial_delay_again_while_members_come() {
    let f = fixture(100);
    let rebalance = |request: JoinGroupRequest| JoinGroupRequest {
        rebalance_timeout_ms: 300,
        ..request
    };
    let state = |group: &str| f.coordinator.group_state(group);

    // Alone, a member waits the delay once.
    let solo = new_member_id(&f, "solo", "s");
    assert!(join_now(&f, rebalance(join_request("solo", &solo, "s"))).is_none());
    f.clock.advance(99);
    assert_eq!(state("solo"), Some(GroupState::PreparingRebalance));
    f.clock.advance(1);
    assert_eq!(state("solo"), Some(GroupState::CompletingRebalance));

    // A second member within the delay: the join phase waits as long
    // again, from when the first delay ran out.
    let a = new_member_id(&f, "g", "a");
    let b = new_member_id(&f, "g", "b");
    assert!(join_now(&f, rebalance(join_request("g", &a, "a"))).is_none());
    f.clock.advance(99);
    assert!(join_now(&f, rebalance(join_request("g", &b, "b"))).is_none());
    f.clock.advance(2);
    assert_eq!(state("g"), Some(GroupState::PreparingRebalance));
    f.clock.advance(98);
    assert_eq!(state("g"), Some(GroupState::PreparingRebalance));
    f.clock.advance(1);
    assert_eq!(state("g"), Some(GroupState::CompletingRebalance));
    let response = joined(join_now(&f, rebalance(join_request("g", &a, "a"))));
    assert_eq!(response.generation_id, 1);
    assert_eq!(response.members.len(), 2);
}

#[test]
fn the_initial_delay_ends_with_the_rebalance_timeout() {
    let f = fixture(100);
    let rebalance = |request: JoinGroupRequest| JoinGroupRequest {
        rebalance_timeout_ms: 200,
        ..request
    };
    let ids: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|c| new_member_id(&f, "g", c))
        .collect();
    join_now(&f, rebalance(join_request("g", &ids[0], "a")));
    join_now(&f, rebalance(join_request("g", &ids[1], "b")));
    f.clock.advance(101);
    join_now(&f, rebalance(join_request("g", &ids[2], "c")));
    f.clock.advance(98);
    assert_eq!(
        f.coordinator.group_state("g"),
        Some(GroupState::PreparingRebalance)
    );
    // c came after the delay was extended, but the rebalance timeout is
    // reached: the join phase ends.
    f.clock.advance(1);
    assert_eq!(
        f.coordinator.group_state("g"),
        Some(GroupState::CompletingRebalance)
    );
    let response = joined(join_now(&f, rebalance(join_request("g", &ids[0], "a"))));
    assert_eq!(response.members.len(), 3);
}

#[test]
fn members_that_do_not_sync_in_time_are_removed() {
    let f = fixture(0);
    let (ids, generation) = stable_group(&f, "g", &["a", "b"]);
    let (a, b) = (&ids[0], &ids[1]);
    // a rejoins (as the leader, that starts a rebalance), then b.
    assert!(join_now(&f, join_request("g", a, "a")).is_none());
    let b_joined = joined(join_now(&f, join_request("g", b, "b")));
    let a_joined = joined(join_now(&f, join_request("g", a, "a")));
    assert_eq!(a_joined.generation_id, generation + 1);
    assert!(a_joined.is_leader());
    assert!(!b_joined.is_leader());
    assert!(b_joined.members.is_empty());
    let mut sync = sync_request("g", a, generation + 1);
    sync.assignments = vec![(a.clone(), assigned(a))];
    f.coordinator.sync_group(sync).unwrap();
    // The leader left b out: b's assignment is empty.
    assert_eq!(f.coordinator.member_assignment("g", b), Some(Vec::new()));
    assert_eq!(f.coordinator.group_state("g"), Some(GroupState::Stable));
    // b never asks for its assignment.
    f.clock.advance(i64::from(REBALANCE_MS));
    f.coordinator.heartbeat("g", a, generation + 1, None).ok();
    assert_eq!(
        f.coordinator.group_state("g"),
        Some(GroupState::PreparingRebalance)
    );
    assert_eq!(f.coordinator.member_assignment("g", b), None);
}

#[test]
fn a_failed_store_of_the_assignment_fails_the_sync_and_the_group_rebalances() {
    let f = fixture(0);
    let id = new_member_id(&f, "g", "a");
    let first = joined(join_now(&f, join_request("g", &id, "a")));
    f.storage
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let mut sync = sync_request("g", &id, first.generation_id);
    sync.assignments = vec![(id.clone(), b"p0".to_vec())];
    let failed = f.coordinator.sync_group(sync.clone());
    assert!(matches!(failed, Err(Error::Io { .. })), "{failed:?}");
    assert_eq!(
        f.coordinator.group_state("g"),
        Some(GroupState::PreparingRebalance)
    );
    assert_eq!(f.coordinator.member_assignment("g", &id), Some(Vec::new()));
    // A sync of the failed generation is told to rejoin.
    let rebalancing = f.coordinator.sync_group(sync);
    assert_eq!(kind(rebalancing), GroupErrorKind::RebalanceInProgress);

    f.storage
        .fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let second = joined(join_now(&f, join_request("g", &id, "a")));
    assert_eq!(second.generation_id, first.generation_id + 1);
    let mut sync = sync_request("g", &id, second.generation_id);
    sync.assignments = vec![(id.clone(), b"p0".to_vec())];
    assert_eq!(f.coordinator.sync_group(sync).unwrap().assignment, b"p0");
    assert_eq!(f.storage.stored().len(), 1);
}

#[test]
fn a_follower_rejoining_a_stable_group_unchanged_keeps_the_generation() {
    let f = fixture(0);
    let (ids, generation) = stable_group(&f, "g", &["a", "b"]);
    let again = joined(join_now(&f, join_request("g", &ids[1], "b")));
    assert_eq!(again.generation_id, generation);
    assert_eq!(f.coordinator.group_state("g"), Some(GroupState::Stable));
    // With other metadata it starts a rebalance.
    let changed = JoinGroupRequest {
        protocols: vec![("range".to_string(), b"new topics".to_vec())],
        ..join_request("g", &ids[1], "b")
    };
    assert!(join_now(&f, changed).is_none());
    assert_eq!(
        f.coordinator.group_state("g"),
        Some(GroupState::PreparingRebalance)
    );
}

#[test]
fn a_member_parked_in_a_join_outlives_its_session() {
    let f = fixture(0);
    let (ids, generation) = stable_group(&f, "g", &["a", "b"]);
    // a rejoins and waits for b, with a rebalance timeout longer than the
    // sessions; b neither rejoins nor heartbeats.
    let request = JoinGroupRequest {
        rebalance_timeout_ms: 3 * SESSION_MS,
        ..join_request("g", &ids[0], "a")
    };
    assert!(join_now(&f, request.clone()).is_none());
    f.clock.advance(i64::from(SESSION_MS));
    // Both sessions ran out; only b's counts, and without b everyone has
    // rejoined.
    let response = joined(join_now(&f, request));
    assert_eq!(response.generation_id, generation + 1);
    assert_eq!(response.members.len(), 1);
    assert_eq!(response.members[0].member_id, ids[0]);
}

#[test]
fn the_rebalance_listener_is_told_once_per_rebalance() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let f = fixture(0);
    let told = Arc::new(AtomicUsize::new(0));
    let count = told.clone();
    f.coordinator.set_rebalance_listener(move || {
        count.fetch_add(1, Ordering::SeqCst);
    });
    let (ids, generation) = stable_group(&f, "g", &["a", "b"]);
    let settled = told.load(Ordering::SeqCst);
    assert!(settled >= 1, "the first generation began with a rebalance");
    // Heartbeats of a stable group start none.
    f.coordinator
        .heartbeat("g", &ids[0], generation, None)
        .unwrap();
    assert_eq!(told.load(Ordering::SeqCst), settled);
    // A new member's join starts one, and it is told at once, before any
    // member has heartbeat.
    let c = new_member_id(&f, "g", "c");
    assert!(join_now(&f, join_request("g", &c, "c")).is_none());
    assert_eq!(told.load(Ordering::SeqCst), settled + 1);
    assert_eq!(
        f.coordinator.group_state("g"),
        Some(GroupState::PreparingRebalance)
    );
}

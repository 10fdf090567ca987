//! Members on their own threads, blocked in JoinGroup and SyncGroup while
//! another thread moves the manual clock, sends the request they wait for,
//! or shuts the coordinator down.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::tests::*;
use super::*;

/// Waits (in real time, up to ten seconds) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting until {what}"
        );
        thread::sleep(Duration::from_millis(2));
    }
}

/// Whether `group` has `n` members.
fn has_members(f: &Fixture, group: &str, n: usize) -> bool {
    f.coordinator
        .describe_group(group)
        .is_some_and(|d| d.members.len() == n)
}

fn still_blocked<T>(handle: &JoinHandle<T>) -> bool {
    thread::sleep(Duration::from_millis(60));
    !handle.is_finished()
}

#[test]
fn three_members_on_three_threads_share_a_generation_and_get_their_assignments() {
    let f = fixture(50);
    let clients = ["a", "b", "c"];
    let handles: Vec<_> = clients
        .iter()
        .map(|&client| {
            let coordinator = f.coordinator.clone();
            thread::spawn(move || {
                let id = match coordinator.join_group(join_request("g", "", client)) {
                    Ok(JoinOutcome::MemberIdRequired(id)) => id,
                    other => panic!("expected MemberIdRequired, got {other:?}"),
                };
                let response = match coordinator.join_group(join_request("g", &id, client)) {
                    Ok(JoinOutcome::Joined(response)) => response,
                    other => panic!("expected a join, got {other:?}"),
                };
                let mut sync = sync_request("g", &id, response.generation_id);
                if response.is_leader() {
                    sync.assignments = response
                        .members
                        .iter()
                        .map(|m| (m.member_id.clone(), assigned(&m.member_id)))
                        .collect();
                }
                let assignment = coordinator.sync_group(sync).unwrap().assignment;
                (response, assignment)
            })
        })
        .collect();
    // The first join's delay is extended as the others come: move the
    // clock on until the join phase is over.
    eventually("all three have joined", || has_members(&f, "g", 3));
    eventually("the join phase is over", || {
        f.clock.advance(50);
        f.coordinator.group_state("g") != Some(GroupState::PreparingRebalance)
    });
    let results: Vec<(JoinGroupResponse, Vec<u8>)> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();

    let generation = results[0].0.generation_id;
    assert_eq!(generation, 1);
    assert!(results.iter().all(|(r, _)| r.generation_id == generation));
    let leaders: Vec<&JoinGroupResponse> = results
        .iter()
        .map(|(r, _)| r)
        .filter(|r| r.is_leader())
        .collect();
    assert_eq!(leaders.len(), 1);
    let leader = leaders[0];
    assert!(results.iter().all(|(r, _)| r.leader == leader.member_id));
    let mut listed: Vec<(String, Vec<u8>)> = leader
        .members
        .iter()
        .map(|m| (m.member_id.clone(), m.metadata.clone()))
        .collect();
    listed.sort();
    let mut expected: Vec<(String, Vec<u8>)> = results
        .iter()
        .map(|(r, _)| {
            let client = r.member_id.split('-').next().unwrap();
            (r.member_id.clone(), client.as_bytes().to_vec())
        })
        .collect();
    expected.sort();
    assert_eq!(listed, expected);
    for (response, assignment) in &results {
        assert!(response.is_leader() || response.members.is_empty());
        assert_eq!(*assignment, assigned(&response.member_id));
    }
    assert_eq!(f.coordinator.group_state("g"), Some(GroupState::Stable));
}

#[test]
fn a_new_member_starts_a_rebalance_that_the_others_learn_of_by_heartbeat() {
    let f = fixture(0);
    let (ids, generation) = stable_group(&f, "g", &["a"]);
    let a = &ids[0];
    let b = new_member_id(&f, "g", "b");
    let joiner = {
        let coordinator = f.coordinator.clone();
        let b = b.clone();
        thread::spawn(move || coordinator.join_group(join_request("g", &b, "b")))
    };
    eventually("b has joined", || has_members(&f, "g", 2));
    let rebalancing = f.coordinator.heartbeat("g", a, generation, None);
    assert_eq!(kind(rebalancing), GroupErrorKind::RebalanceInProgress);
    assert!(still_blocked(&joiner));
    // a rejoins: everyone is in, and both joins complete.
    let a_joined = joined(Some(
        f.coordinator.join_group(join_request("g", a, "a")).unwrap(),
    ));
    let b_joined = joined(Some(joiner.join().unwrap().unwrap()));
    assert_eq!(a_joined.generation_id, generation + 1);
    assert_eq!(b_joined.generation_id, generation + 1);
    assert_eq!(a_joined.leader, *a);
    assert_eq!(b_joined.leader, *a);
    assert_eq!(a_joined.members.len(), 2);
}

#[test]
fn a_followers_sync_waits_for_the_leaders_assignment() {
    let f = fixture(0);
    let (ids, generation) = stable_group(&f, "g", &["a", "b"]);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    // The leader rejoins, then b: a new generation awaits its assignment.
    join_now(&f, join_request("g", &a, "a"));
    joined(join_now(&f, join_request("g", &b, "b")));
    let next = generation + 1;
    let follower = {
        let coordinator = f.coordinator.clone();
        let b = b.clone();
        thread::spawn(move || coordinator.sync_group(sync_request("g", &b, next)))
    };
    assert!(still_blocked(&follower));
    let mut sync = sync_request("g", &a, next);
    sync.assignments = vec![(a.clone(), b"for a".to_vec()), (b, b"for b".to_vec())];
    assert_eq!(f.coordinator.sync_group(sync).unwrap().assignment, b"for a");
    assert_eq!(follower.join().unwrap().unwrap().assignment, b"for b");
}

#[test]
fn a_failed_store_fails_every_waiting_sync() {
    let f = fixture(0);
    let (ids, generation) = stable_group(&f, "g", &["a", "b"]);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    join_now(&f, join_request("g", &a, "a"));
    joined(join_now(&f, join_request("g", &b, "b")));
    let next = generation + 1;
    let follower = {
        let coordinator = f.coordinator.clone();
        thread::spawn(move || coordinator.sync_group(sync_request("g", &b, next)))
    };
    assert!(still_blocked(&follower));
    f.storage.fail.store(true, Ordering::SeqCst);
    let failed = f.coordinator.sync_group(sync_request("g", &a, next));
    assert!(matches!(failed, Err(Error::Io { .. })), "{failed:?}");
    let failed = follower.join().unwrap();
    assert!(matches!(failed, Err(Error::Io { .. })), "{failed:?}");
    assert_eq!(
        f.coordinator.group_state("g"),
        Some(GroupState::PreparingRebalance)
    );
}

#[test]
fn a_bounded_join_gives_up_in_real_time() {
    let f = fixture(3_000);
    let id = new_member_id(&f, "g", "a");
    let start = Instant::now();
    let outcome = f
        .coordinator
        .join_group_timeout(join_request("g", &id, "a"), Duration::from_millis(40))
        .unwrap();
    assert!(outcome.is_none());
    assert!(start.elapsed() >= Duration::from_millis(40));
    // The join stays parked: once the delay is over, joining again gets
    // the generation.
    f.clock.advance(3_000);
    let response = joined(join_now(&f, join_request("g", &id, "a")));
    assert_eq!(response.generation_id, 1);
}

#[test]
fn shutdown_wakes_every_blocked_request() {
    let f = fixture(3_000);
    // One member blocked in a follower's sync, another in a join (the
    // initial delay does not pass: the manual clock stays).
    let synced = completing_group(&f, "syncing");
    let id = new_member_id(&f, "joining", "a");
    let joiner = {
        let coordinator = f.coordinator.clone();
        thread::spawn(move || coordinator.join_group(join_request("joining", &id, "a")))
    };
    let syncer = {
        let coordinator = f.coordinator.clone();
        let (id, generation) = synced.clone();
        thread::spawn(move || coordinator.sync_group(sync_request("syncing", &id, generation)))
    };
    assert!(still_blocked(&joiner));
    assert!(still_blocked(&syncer));
    let start = Instant::now();
    f.coordinator.shutdown();
    assert!(matches!(joiner.join().unwrap(), Err(Error::Closed)));
    assert!(matches!(syncer.join().unwrap(), Err(Error::Closed)));
    assert!(start.elapsed() < Duration::from_secs(5));
    let (id, generation) = synced;
    assert!(matches!(
        f.coordinator.heartbeat("syncing", &id, generation, None),
        Err(Error::Closed)
    ));
    assert!(matches!(
        f.coordinator.join_group(join_request("joining", "", "a")),
        Err(Error::Closed)
    ));
    // Reads still answer.
    assert_eq!(
        f.coordinator.group_state("syncing"),
        Some(GroupState::CompletingRebalance)
    );
}

/// A group in CompletingRebalance with two members, made by moving the
/// clock past the rebalance timeout; returns the follower's id and the
/// generation.
fn completing_group(f: &Fixture, group: &str) -> (String, i32) {
    let a = new_member_id(f, group, "a");
    let b = new_member_id(f, group, "b");
    join_now(f, join_request(group, &a, "a"));
    join_now(f, join_request(group, &b, "b"));
    f.clock.advance(i64::from(REBALANCE_MS));
    let a_joined = joined(join_now(f, join_request(group, &a, "a")));
    let follower = if a_joined.is_leader() { b } else { a };
    (follower, a_joined.generation_id)
}

/// A consumer's group loop, as a client drives it: join (again with the
/// member id it is given), sync (assigning as the leader), heartbeat
/// until told to rejoin; after `rounds` good heartbeats it leaves.
fn consumer_loop(
    coordinator: &GroupCoordinator,
    group: &str,
    client: &str,
    rounds: usize,
) -> Result<()> {
    let mut member_id = String::new();
    let mut good = 0;
    loop {
        let response = match coordinator.join_group(join_request(group, &member_id, client)) {
            Ok(JoinOutcome::MemberIdRequired(id)) => {
                member_id = id;
                continue;
            }
            Ok(JoinOutcome::Joined(response)) => response,
            Err(Error::Group {
                kind: GroupErrorKind::UnknownMemberId,
                ..
            }) => {
                member_id.clear();
                continue;
            }
            Err(error) => return Err(error),
        };
        let mut sync = sync_request(group, &member_id, response.generation_id);
        if response.is_leader() {
            sync.assignments = response
                .members
                .iter()
                .map(|m| (m.member_id.clone(), assigned(&m.member_id)))
                .collect();
        }
        match coordinator.sync_group(sync) {
            Ok(synced) => assert_eq!(synced.assignment, assigned(&member_id)),
            Err(Error::Group {
                kind: GroupErrorKind::RebalanceInProgress | GroupErrorKind::IllegalGeneration,
                ..
            }) => continue,
            Err(Error::Group {
                kind: GroupErrorKind::UnknownMemberId,
                ..
            }) => {
                member_id.clear();
                continue;
            }
            Err(error) => return Err(error),
        }
        loop {
            thread::sleep(Duration::from_millis(3));
            match coordinator.heartbeat(group, &member_id, response.generation_id, None) {
                Ok(()) => {
                    good += 1;
                    if good >= rounds {
                        coordinator
                            .leave_group(group, &[MemberIdentity::new(member_id.as_str())])?;
                        return Ok(());
                    }
                }
                Err(Error::Group {
                    kind: GroupErrorKind::RebalanceInProgress | GroupErrorKind::IllegalGeneration,
                    ..
                }) => break,
                Err(Error::Group {
                    kind: GroupErrorKind::UnknownMemberId,
                    ..
                }) => {
                    member_id.clear();
                    break;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

#[test]
fn consumers_on_the_system_clock_come_and_go() {
    let config = GroupsConfig {
        group_min_session_timeout_ms: 1_000,
        group_initial_rebalance_delay_ms: 0,
        ..GroupsConfig::default()
    };
    let storage = Arc::new(TestStorage::default());
    let coordinator = Arc::new(GroupCoordinator::new(
        config,
        Arc::new(crate::SystemClock),
        storage.clone(),
    ));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let coordinator = coordinator.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(7 * i));
                consumer_loop(&coordinator, "g", &format!("c{i}"), 10 + 5 * i as usize)
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap().unwrap();
    }
    assert_eq!(coordinator.group_state("g"), Some(GroupState::Empty));
    let stored = storage.stored();
    assert!(stored.last().unwrap().1.members.is_empty());
    // The stored records follow the generations in order.
    let generations: Vec<i32> = stored.iter().map(|(_, v)| v.generation).collect();
    assert!(
        generations.windows(2).all(|w| w[0] < w[1]),
        "{generations:?}"
    );
}

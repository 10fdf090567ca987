//! The coordinator's single-request behaviour: a member's join and sync,
//! KIP-394, protocols, offset-commit checks, administration and loading.
//! The helpers here serve the other test files too.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::offsets::records::MemberMetadata;
use crate::ManualClock;

/// Records what the coordinator stores; fails every write while `fail`
/// is set.
#[derive(Debug, Default)]
pub(super) struct TestStorage {
    pub(super) stored: Mutex<Vec<(String, GroupMetadataValue)>>,
    pub(super) deleted: Mutex<Vec<String>>,
    pub(super) fail: AtomicBool,
}

impl TestStorage {
    pub(super) fn stored(&self) -> Vec<(String, GroupMetadataValue)> {
        lock(&self.stored).clone()
    }

    fn check(&self) -> Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::io(
                "write",
                Path::new("__consumer_offsets-0"),
                io::Error::other("disk full"),
            ));
        }
        Ok(())
    }
}

impl GroupStorage for TestStorage {
    fn store_group(&self, group: &str, value: &GroupMetadataValue) -> Result<()> {
        self.check()?;
        lock(&self.stored).push((group.to_string(), value.clone()));
        Ok(())
    }

    fn delete_group(&self, group: &str) -> Result<()> {
        self.check()?;
        lock(&self.deleted).push(group.to_string());
        Ok(())
    }
}

pub(super) struct Fixture {
    pub(super) clock: ManualClock,
    pub(super) storage: Arc<TestStorage>,
    pub(super) coordinator: Arc<GroupCoordinator>,
}

pub(super) const SESSION_MS: i32 = 10_000;
pub(super) const REBALANCE_MS: i32 = 5_000;
pub(super) const START_MS: i64 = 1_000_000;

/// A coordinator on a manual clock, with the given initial rebalance delay.
pub(super) fn fixture(initial_delay_ms: u32) -> Fixture {
    fixture_with(GroupsConfig {
        group_min_session_timeout_ms: 1_000,
        group_max_session_timeout_ms: 60_000,
        group_initial_rebalance_delay_ms: initial_delay_ms,
        ..GroupsConfig::default()
    })
}

pub(super) fn fixture_with(config: GroupsConfig) -> Fixture {
    let clock = ManualClock::new(START_MS);
    let storage = Arc::new(TestStorage::default());
    let coordinator = Arc::new(GroupCoordinator::new(
        config,
        Arc::new(clock.clone()),
        storage.clone(),
    ));
    Fixture {
        clock,
        storage,
        coordinator,
    }
}

/// A consumer's join: protocol type "consumer", protocol "range" with the
/// client's name as metadata.
pub(super) fn join_request(group: &str, member_id: &str, client: &str) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: group.to_string(),
        member_id: member_id.to_string(),
        client_id: client.to_string(),
        client_host: format!("/{client}"),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        protocol_type: "consumer".to_string(),
        protocols: vec![("range".to_string(), client.as_bytes().to_vec())],
        ..JoinGroupRequest::default()
    }
}

pub(super) fn sync_request(group: &str, member_id: &str, generation: i32) -> SyncGroupRequest {
    SyncGroupRequest {
        group_id: group.to_string(),
        generation_id: generation,
        member_id: member_id.to_string(),
        ..SyncGroupRequest::default()
    }
}

/// The kind of a group error, failing the test on anything else.
pub(super) fn kind<T: fmt::Debug>(result: Result<T>) -> GroupErrorKind {
    match result {
        Err(Error::Group { kind, .. }) => kind,
        other => panic!("expected a group error, got {other:?}"),
    }
}

pub(super) fn joined(outcome: Option<JoinOutcome>) -> JoinGroupResponse {
    match outcome {
        Some(JoinOutcome::Joined(response)) => response,
        other => panic!("expected a completed join, got {other:?}"),
    }
}

/// The member id a new member of `client` is given (KIP-394's first
/// round).
pub(super) fn new_member_id(f: &Fixture, group: &str, client: &str) -> String {
    match f.coordinator.join_group(join_request(group, "", client)) {
        Ok(JoinOutcome::MemberIdRequired(id)) => id,
        other => panic!("expected MemberIdRequired, got {other:?}"),
    }
}

/// A join that does not wait: `None` while the join phase is on.
pub(super) fn join_now(f: &Fixture, request: JoinGroupRequest) -> Option<JoinOutcome> {
    f.coordinator
        .join_group_timeout(request, Duration::ZERO)
        .unwrap()
}

/// A Stable group of one member per client (initial delay 0): each gets a
/// member id and joins; every member is then in the returned generation
/// with assignment `assigned:<member id>`.
pub(super) fn stable_group(f: &Fixture, group: &str, clients: &[&str]) -> (Vec<String>, i32) {
    let ids: Vec<String> = clients
        .iter()
        .map(|client| new_member_id(f, group, client))
        .collect();
    for (id, client) in ids.iter().zip(clients) {
        join_now(f, join_request(group, id, client));
    }
    // Everyone asks again (without waiting), so that the join phase that
    // the last join started completes with all of them.
    let mut responses = Vec::new();
    for (id, client) in ids.iter().zip(clients) {
        responses.push(joined(join_now(f, join_request(group, id, client))));
    }
    let generation = responses[0].generation_id;
    assert!(responses.iter().all(|r| r.generation_id == generation));
    let leader = responses.iter().find(|r| r.is_leader()).unwrap();
    let mut sync = sync_request(group, &leader.member_id, generation);
    sync.assignments = leader
        .members
        .iter()
        .map(|m| (m.member_id.clone(), assigned(&m.member_id)))
        .collect();
    f.coordinator.sync_group(sync).unwrap();
    for id in &ids {
        let response = f
            .coordinator
            .sync_group(sync_request(group, id, generation))
            .unwrap();
        assert_eq!(response.assignment, assigned(id));
    }
    assert_eq!(f.coordinator.group_state(group), Some(GroupState::Stable));
    (ids, generation)
}

pub(super) fn assigned(member_id: &str) -> Vec<u8> {
    format!("assigned:{member_id}").into_bytes()
}

#[test]
fn coordinator_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<GroupCoordinator>();
}

#[test]
fn a_single_member_joins_syncs_and_its_assignment_is_stored() {
    let f = fixture(0);
    let id = new_member_id(&f, "g", "client");
    assert!(id.starts_with("client-"), "{id}");
    let response = joined(Some(
        f.coordinator
            .join_group(join_request("g", &id, "client"))
            .unwrap(),
    ));
    assert_eq!(response.generation_id, 1);
    assert_eq!(response.member_id, id);
    assert_eq!(response.leader, id);
    assert_eq!(response.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(response.protocol_name.as_deref(), Some("range"));
    assert_eq!(
        response.members,
        [JoinGroupMember {
            member_id: id.clone(),
            group_instance_id: None,
            metadata: b"client".to_vec(),
        }]
    );
    assert_eq!(
        f.coordinator.group_state("g"),
        Some(GroupState::CompletingRebalance)
    );
    assert!(f.storage.stored().is_empty());

    let mut sync = sync_request("g", &id, 1);
    sync.assignments = vec![(id.clone(), b"p0".to_vec())];
    let answer = f.coordinator.sync_group(sync).unwrap();
    assert_eq!(answer.assignment, b"p0");
    assert_eq!(answer.protocol_name.as_deref(), Some("range"));
    assert_eq!(f.coordinator.group_state("g"), Some(GroupState::Stable));
    assert_eq!(
        f.coordinator.member_assignment("g", &id),
        Some(b"p0".to_vec())
    );

    let stored = f.storage.stored();
    assert_eq!(stored.len(), 1);
    let (group, value) = &stored[0];
    assert_eq!(group, "g");
    assert_eq!(value.generation, 1);
    assert_eq!(value.protocol.as_deref(), Some("range"));
    assert_eq!(value.leader.as_deref(), Some(id.as_str()));
    assert_eq!(value.protocol_type, "consumer");
    assert_eq!(
        value.members,
        [MemberMetadata {
            member_id: id.clone(),
            group_instance_id: None,
            client_id: "client".to_string(),
            client_host: "/client".to_string(),
            rebalance_timeout_ms: REBALANCE_MS,
            session_timeout_ms: SESSION_MS,
            subscription: b"client".to_vec(),
            assignment: b"p0".to_vec(),
        }]
    );
    f.coordinator.heartbeat("g", &id, 1, None).unwrap();
}

#[test]
fn a_new_member_must_rejoin_with_the_member_id_it_is_given() {
    let f = fixture(0);
    let id = new_member_id(&f, "g", "c");
    // The group exists, without members, until the member comes back.
    assert_eq!(f.coordinator.group_state("g"), Some(GroupState::Empty));
    // Another id is not one the group handed out.
    let unknown = f
        .coordinator
        .join_group(join_request("g", "c-made-up", "c"));
    assert_eq!(kind(unknown), GroupErrorKind::UnknownMemberId);
    let response = joined(Some(
        f.coordinator
            .join_group(join_request("g", &id, "c"))
            .unwrap(),
    ));
    assert_eq!(response.member_id, id);

    // An id not used within the session timeout is withdrawn.
    let late = new_member_id(&f, "g2", "c");
    f.clock.advance(i64::from(SESSION_MS));
    let expired = f.coordinator.join_group(join_request("g2", &late, "c"));
    assert_eq!(kind(expired), GroupErrorKind::UnknownMemberId);
    // A known member id for a group that does not exist is unknown too.
    let no_group = f.coordinator.join_group(join_request("nope", &id, "c"));
    assert_eq!(kind(no_group), GroupErrorKind::UnknownMemberId);
}

#[test]
fn joins_are_checked_before_the_group_is_touched() {
    let f = fixture(0);
    let empty_id = f.coordinator.join_group(join_request("", "", "c"));
    assert_eq!(kind(empty_id), GroupErrorKind::InvalidGroupId);
    // An id too long for the stored record's `int16` string length.
    let long = "g".repeat(i16::MAX as usize + 1);
    let long_id = f.coordinator.join_group(join_request(&long, "", "c"));
    assert_eq!(kind(long_id), GroupErrorKind::InvalidGroupId);
    assert_eq!(f.coordinator.group_state(&long), None);
    for session_timeout_ms in [999, 60_001] {
        let request = JoinGroupRequest {
            session_timeout_ms,
            ..join_request("g", "", "c")
        };
        let refused = f.coordinator.join_group(request);
        assert_eq!(kind(refused), GroupErrorKind::InvalidSessionTimeout);
    }
    assert_eq!(f.coordinator.group_state("g"), None);
    let no_protocols = JoinGroupRequest {
        protocols: Vec::new(),
        ..join_request("g", "", "c")
    };
    let refused = f.coordinator.join_group(no_protocols);
    assert_eq!(kind(refused), GroupErrorKind::InconsistentGroupProtocol);
}

#[test]
fn a_member_of_another_protocol_type_or_without_a_common_protocol_is_refused() {
    let f = fixture(0);
    let (ids, _) = stable_group(&f, "g", &["a"]);
    let other_type = JoinGroupRequest {
        protocol_type: "connect".to_string(),
        ..join_request("g", "", "b")
    };
    let refused = f.coordinator.join_group(other_type);
    assert_eq!(kind(refused), GroupErrorKind::InconsistentGroupProtocol);
    let no_common = JoinGroupRequest {
        protocols: vec![("roundrobin".to_string(), Vec::new())],
        ..join_request("g", "", "b")
    };
    let refused = f.coordinator.join_group(no_common);
    assert_eq!(kind(refused), GroupErrorKind::InconsistentGroupProtocol);
    // The refusals changed nothing.
    assert_eq!(f.coordinator.group_state("g"), Some(GroupState::Stable));
    f.coordinator.heartbeat("g", &ids[0], 1, None).unwrap();
}

#[test]
fn the_protocol_is_the_one_most_members_prefer_among_those_all_support() {
    let f = fixture(0);
    let protocols = |names: &[&str]| -> Vec<(String, Vec<u8>)> {
        names
            .iter()
            .map(|n| (n.to_string(), n.as_bytes().to_vec()))
            .collect()
    };
    let prefs: [&[&str]; 3] = [
        &["sticky", "range", "roundrobin"],
        &["roundrobin", "range"],
        &["roundrobin", "sticky", "range"],
    ];
    let ids: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|c| new_member_id(&f, "g", c))
        .collect();
    for (id, names) in ids.iter().zip(prefs) {
        let request = JoinGroupRequest {
            protocols: protocols(names),
            ..join_request("g", id, "c")
        };
        join_now(&f, request.clone());
    }
    let request = JoinGroupRequest {
        protocols: protocols(prefs[0]),
        ..join_request("g", &ids[0], "c")
    };
    let response = joined(join_now(&f, request));
    // b does not support "sticky"; of the rest, a prefers range and the
    // other two roundrobin.
    assert_eq!(response.protocol_name.as_deref(), Some("roundrobin"));
    let leader = f
        .coordinator
        .describe_group("g")
        .and_then(|d| d.leader)
        .unwrap();
    assert_eq!(leader, ids[0]);
    assert!(response.members.iter().all(|m| m.metadata == b"roundrobin"));
}

#[test]
fn heartbeats_and_commits_of_another_generation_are_illegal() {
    let f = fixture(0);
    let (ids, generation) = stable_group(&f, "g", &["a"]);
    let id = &ids[0];
    let stale = f.coordinator.heartbeat("g", id, generation - 1, None);
    assert_eq!(kind(stale), GroupErrorKind::IllegalGeneration);
    let stale = f
        .coordinator
        .validate_offset_commit("g", id, generation - 1, None);
    assert_eq!(kind(stale), GroupErrorKind::IllegalGeneration);
    let unknown = f.coordinator.heartbeat("g", "someone", generation, None);
    assert_eq!(kind(unknown), GroupErrorKind::UnknownMemberId);
    let no_group = f.coordinator.heartbeat("other", id, generation, None);
    assert_eq!(kind(no_group), GroupErrorKind::UnknownMemberId);
    let stale_sync = f
        .coordinator
        .sync_group(sync_request("g", id, generation + 1));
    assert_eq!(kind(stale_sync), GroupErrorKind::IllegalGeneration);
    f.coordinator.heartbeat("g", id, generation, None).unwrap();
    f.coordinator
        .validate_offset_commit("g", id, generation, None)
        .unwrap();
}

#[test]
fn offset_commits_follow_kafkas_rules_for_classic_groups() {
    let f = fixture(0);
    let commit = |group: &str, member: &str, generation: i32| {
        f.coordinator
            .validate_offset_commit(group, member, generation, None)
    };
    // A simple consumer's commit: to no group, or to an Empty one.
    commit("nobody", "", -1).unwrap();
    assert_eq!(f.coordinator.group_state("nobody"), None);
    assert_eq!(
        kind(commit("nobody", "m", 1)),
        GroupErrorKind::GroupIdNotFound
    );
    new_member_id(&f, "empty", "c");
    commit("empty", "", -1).unwrap();
    assert_eq!(kind(commit("", "", -1)), GroupErrorKind::InvalidGroupId);

    let (ids, generation) = stable_group(&f, "g", &["a", "b"]);
    // Not without member id and generation once the group has members.
    assert_eq!(kind(commit("g", "", -1)), GroupErrorKind::UnknownMemberId);
    assert_eq!(
        kind(commit("g", "stranger", generation)),
        GroupErrorKind::UnknownMemberId
    );
    commit("g", &ids[1], generation).unwrap();

    // A new member starts a rebalance: commits of the generation being
    // replaced still pass while members rejoin...
    let c = new_member_id(&f, "g", "c");
    assert!(join_now(&f, join_request("g", &c, "c")).is_none());
    assert_eq!(
        f.coordinator.group_state("g"),
        Some(GroupState::PreparingRebalance)
    );
    commit("g", &ids[0], generation).unwrap();
    // ...but not once the new generation waits for its assignment.
    for (id, client) in ids.iter().zip(["a", "b"]) {
        join_now(&f, join_request("g", id, client));
    }
    assert_eq!(
        f.coordinator.group_state("g"),
        Some(GroupState::CompletingRebalance)
    );
    assert_eq!(
        kind(commit("g", &ids[0], generation + 1)),
        GroupErrorKind::RebalanceInProgress
    );
    assert_eq!(
        kind(commit("g", &ids[0], generation)),
        GroupErrorKind::IllegalGeneration
    );
}

#[test]
fn commits_and_heartbeats_of_a_replaced_static_member_are_fenced() {
    let f = fixture(0);
    let static_join = |member_id: &str| JoinGroupRequest {
        group_instance_id: Some("instance-1".to_string()),
        ..join_request("g", member_id, "c")
    };
    // A static member joins at once, without MEMBER_ID_REQUIRED.
    let first = joined(join_now(&f, static_join("")));
    assert!(first.member_id.starts_with("instance-1-"));
    // Restarted, it joins again without its member id: the old id is
    // fenced.
    let second = joined(join_now(&f, static_join("")));
    assert_ne!(second.member_id, first.member_id);
    assert_eq!(second.generation_id, first.generation_id + 1);
    let fenced = f.coordinator.heartbeat(
        "g",
        &first.member_id,
        second.generation_id,
        Some("instance-1"),
    );
    assert_eq!(kind(fenced), GroupErrorKind::FencedInstanceId);
    let fenced = f.coordinator.validate_offset_commit(
        "g",
        &first.member_id,
        second.generation_id,
        Some("instance-1"),
    );
    assert_eq!(kind(fenced), GroupErrorKind::FencedInstanceId);
    let unknown_instance = f.coordinator.heartbeat(
        "g",
        &second.member_id,
        second.generation_id,
        Some("instance-2"),
    );
    assert_eq!(kind(unknown_instance), GroupErrorKind::UnknownMemberId);
    f.coordinator
        .heartbeat(
            "g",
            &second.member_id,
            second.generation_id,
            Some("instance-1"),
        )
        .unwrap();
    // An administrator removes it by instance id.
    let answers = f
        .coordinator
        .leave_group(
            "g",
            &[MemberIdentity {
                member_id: String::new(),
                group_instance_id: Some("instance-1".to_string()),
            }],
        )
        .unwrap();
    assert!(matches!(answers[..], [Ok(())]));
    assert_eq!(f.coordinator.group_state("g"), Some(GroupState::Empty));
}

#[test]
fn a_group_with_members_cannot_be_deleted() {
    let f = fixture(0);
    let (ids, _) = stable_group(&f, "g", &["a"]);
    assert_eq!(
        kind(f.coordinator.delete_group("g")),
        GroupErrorKind::NonEmptyGroup
    );
    assert_eq!(
        kind(f.coordinator.delete_group("unknown")),
        GroupErrorKind::GroupIdNotFound
    );
    let answers = f
        .coordinator
        .leave_group("g", &[MemberIdentity::new(ids[0].as_str())])
        .unwrap();
    assert!(matches!(answers[..], [Ok(())]));
    f.coordinator.delete_group("g").unwrap();
    assert_eq!(*lock(&f.storage.deleted), ["g"]);
    assert_eq!(f.coordinator.group_state("g"), None);
    assert!(f.coordinator.list_groups().is_empty());
    assert_eq!(
        kind(f.coordinator.delete_group("g")),
        GroupErrorKind::GroupIdNotFound
    );
    // The id can be used again.
    new_member_id(&f, "g", "a");
    assert_eq!(f.coordinator.group_state("g"), Some(GroupState::Empty));
}

#[test]
fn groups_are_listed_and_described() {
    let f = fixture(0);
    let (ids, generation) = stable_group(&f, "b-group", &["a"]);
    new_member_id(&f, "a-group", "c");
    assert_eq!(
        f.coordinator.list_groups(),
        [
            GroupListing {
                group_id: "a-group".to_string(),
                protocol_type: String::new(),
                state: GroupState::Empty,
            },
            GroupListing {
                group_id: "b-group".to_string(),
                protocol_type: "consumer".to_string(),
                state: GroupState::Stable,
            },
        ]
    );
    let description = f.coordinator.describe_group("b-group").unwrap();
    assert_eq!(description.state, GroupState::Stable);
    assert_eq!(description.protocol.as_deref(), Some("range"));
    assert_eq!(description.generation, generation);
    assert_eq!(description.leader.as_deref(), Some(ids[0].as_str()));
    assert_eq!(
        description.members,
        [MemberDescription {
            member_id: ids[0].clone(),
            group_instance_id: None,
            client_id: "a".to_string(),
            client_host: "/a".to_string(),
            subscription: Some(b"a".to_vec()),
            assignment: assigned(&ids[0]),
        }]
    );
    assert!(f.coordinator.describe_group("none").is_none());
}

#[test]
fn a_loaded_group_is_stable_and_its_members_must_heartbeat_or_rejoin() {
    let f = fixture(0);
    let member = |id: &str| MemberMetadata {
        member_id: id.to_string(),
        group_instance_id: None,
        client_id: "c".to_string(),
        client_host: "/c".to_string(),
        rebalance_timeout_ms: -1,
        session_timeout_ms: SESSION_MS,
        subscription: b"sub".to_vec(),
        assignment: assigned(id),
    };
    let value = GroupMetadataValue {
        protocol_type: "consumer".to_string(),
        generation: 7,
        protocol: Some("range".to_string()),
        leader: Some("m1".to_string()),
        current_state_timestamp: 123,
        members: vec![member("m1"), member("m2")],
    };
    f.coordinator.load_group("g", &value).unwrap();
    let status = f.coordinator.group_status("g").unwrap();
    assert_eq!(status.state, GroupState::Stable);
    assert_eq!(status.generation, 7);
    assert_eq!(status.state_timestamp_ms, Some(123));
    assert_eq!(status.members, 2);
    assert_eq!(
        f.coordinator.member_assignment("g", "m2"),
        Some(assigned("m2"))
    );
    f.coordinator
        .validate_offset_commit("g", "m1", 7, None)
        .unwrap();

    // m1 heartbeats; m2 is never heard of: its session, counted from the
    // load, ends and the group rebalances without it.
    f.clock.advance(i64::from(SESSION_MS) / 2);
    f.coordinator.heartbeat("g", "m1", 7, None).unwrap();
    f.clock.advance(i64::from(SESSION_MS) / 2);
    let rebalancing = f.coordinator.heartbeat("g", "m1", 7, None);
    assert_eq!(kind(rebalancing), GroupErrorKind::RebalanceInProgress);
    assert_eq!(f.coordinator.member_assignment("g", "m2"), None);
    let response = joined(join_now(
        &f,
        JoinGroupRequest {
            protocols: vec![("range".to_string(), b"sub".to_vec())],
            ..join_request("g", "m1", "c")
        },
    ));
    assert_eq!(response.generation_id, 8);
    assert_eq!(response.members.len(), 1);

    // A group stored without members is Empty, since when it says.
    let empty = GroupMetadataValue {
        protocol_type: "consumer".to_string(),
        generation: 3,
        protocol: None,
        leader: None,
        current_state_timestamp: 456,
        members: Vec::new(),
    };
    f.coordinator.load_group("e", &empty).unwrap();
    let status = f.coordinator.group_status("e").unwrap();
    assert_eq!(status.state, GroupState::Empty);
    assert_eq!(status.state_timestamp_ms, Some(456));
    assert_eq!(status.protocol_type.as_deref(), Some("consumer"));
    f.coordinator
        .validate_offset_commit("e", "", -1, None)
        .unwrap();
}

#[test]
fn a_group_over_its_maximum_size_turns_new_members_away() {
    let f = fixture_with(GroupsConfig {
        group_min_session_timeout_ms: 1_000,
        group_max_session_timeout_ms: 60_000,
        group_initial_rebalance_delay_ms: 0,
        group_max_size: 1,
        ..GroupsConfig::default()
    });
    let (ids, generation) = stable_group(&f, "g", &["a"]);
    let refused = f.coordinator.join_group(join_request("g", "", "b"));
    assert_eq!(kind(refused), GroupErrorKind::GroupMaxSizeReached);
    assert_eq!(f.coordinator.group_state("g"), Some(GroupState::Stable));
    // The member already in is still welcome.
    let again = joined(join_now(&f, join_request("g", &ids[0], "a")));
    assert_eq!(again.generation_id, generation + 1);
}

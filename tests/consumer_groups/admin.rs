//! Group administration through the store: list, describe with lag,
//! reset, delete, and the expiry of committed offsets by maintenance.

use seglog::offsets::coordinator::{GroupState, JoinGroupRequest, JoinOutcome, SyncGroupRequest};
use seglog::store::{OffsetResetSpec, PartitionLag};
use seglog::{Error, GroupErrorKind};

use crate::common_store::T0;
use crate::helpers::*;

const MINUTE: i64 = 60_000;
const WEEK: i64 = 7 * 24 * 60 * MINUTE;

fn group_error<T: std::fmt::Debug>(r: seglog::Result<T>) -> GroupErrorKind {
    match r {
        Err(Error::Group { kind, .. }) => kind,
        other => panic!("expected a group error, got {other:?}"),
    }
}

/// Makes `member` the one member of `group` (joined and synced through
/// the store's coordinator, as a remote consumer would).
fn join(store: &seglog::LogStore, group: &str, member: &str) -> (String, i32) {
    let coordinator = store.group_coordinator().unwrap();
    let mut request = JoinGroupRequest {
        group_id: group.into(),
        member_id: String::new(),
        client_id: member.into(),
        client_host: "/test".into(),
        session_timeout_ms: 30_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), vec![0, 0, 0, 0, 0, 0, 255, 255, 255, 255])],
        ..JoinGroupRequest::default()
    };
    let joined = loop {
        match coordinator.join_group(request.clone()).unwrap() {
            JoinOutcome::MemberIdRequired(id) => request.member_id = id,
            JoinOutcome::Joined(j) => break j,
        }
    };
    coordinator
        .sync_group(SyncGroupRequest {
            group_id: group.into(),
            generation_id: joined.generation_id,
            member_id: joined.member_id.clone(),
            assignments: vec![(joined.member_id.clone(), Vec::new())],
            ..SyncGroupRequest::default()
        })
        .unwrap();
    (joined.member_id, joined.generation_id)
}

#[test]
fn groups_with_offsets_only_are_listed_and_described_with_lag() {
    let (_fs, _clock, store) = setup();
    fill(&store, "t", 2, 10);
    store
        .commit_offsets("standalone", &[(tp("t", 0), at(4)), (tp("t", 1), at(10))])
        .unwrap();
    let listed = store.list_groups().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].group_id, "standalone");
    assert_eq!(listed[0].state, GroupState::Empty);
    assert_eq!(listed[0].protocol_type, "");

    let described = store.describe_group("standalone").unwrap();
    assert!(described.members.is_empty());
    let lags: Vec<(u32, Option<u64>, Option<u64>)> = described
        .partitions
        .iter()
        .map(|p: &PartitionLag| (p.partition.partition, p.log_end_offset, p.lag))
        .collect();
    assert_eq!(lags, [(0, Some(10), Some(6)), (1, Some(10), Some(0))]);
    assert_eq!(
        group_error(store.describe_group("nobody")),
        GroupErrorKind::GroupIdNotFound
    );
}

#[test]
fn a_group_with_members_is_described_and_guarded() {
    let (_fs, _clock, store) = setup();
    fill(&store, "t", 1, 5);
    let (member, generation) = join(&store, "live", "c1");
    let described = store.describe_group("live").unwrap();
    assert_eq!(described.state, GroupState::Stable);
    assert_eq!(described.generation, generation);
    assert_eq!(described.members.len(), 1);
    assert_eq!(described.members[0].member_id, member);
    assert_eq!(described.members[0].client_id, "c1");
    // While it has members, nobody outside it commits, resets or deletes.
    assert_eq!(
        group_error(store.commit_offsets("live", &[(tp("t", 0), at(1))])),
        GroupErrorKind::UnknownMemberId
    );
    assert_eq!(
        group_error(store.reset_offsets("live", &[tp("t", 0)], OffsetResetSpec::Earliest)),
        GroupErrorKind::NonEmptyGroup
    );
    assert_eq!(
        group_error(store.delete_group("live")),
        GroupErrorKind::NonEmptyGroup
    );
    // Once the member leaves, all three work.
    let coordinator = store.group_coordinator().unwrap();
    coordinator
        .leave_group(
            "live",
            &[seglog::offsets::coordinator::MemberIdentity::new(member)],
        )
        .unwrap();
    store
        .commit_offsets("live", &[(tp("t", 0), at(1))])
        .unwrap();
    store
        .reset_offsets("live", &[tp("t", 0)], OffsetResetSpec::Latest)
        .unwrap();
    assert_eq!(committed(&store, "live", &tp("t", 0)), Some(5));
    store.delete_group("live").unwrap();
    assert!(store.list_groups().unwrap().is_empty());
    assert_eq!(committed(&store, "live", &tp("t", 0)), None);
    assert_eq!(
        group_error(store.delete_group("live")),
        GroupErrorKind::GroupIdNotFound
    );
}

#[test]
fn reset_offsets_moves_them_within_the_log() {
    let (_fs, _clock, store) = setup();
    store.create_topic("t", 1, &[]).unwrap();
    let producer = store.producer(seglog::ProducerConfig::default());
    for i in 0..10 {
        producer
            .send_and_wait(seglog::ProducerRecord::new("t", "v").with_timestamp(T0 + i * 1000))
            .unwrap();
    }
    store.delete_records("t", 0, 2).unwrap();
    let p = [tp("t", 0)];
    let reset = |to| store.reset_offsets("g", &p, to).unwrap()[0].1;
    assert_eq!(reset(OffsetResetSpec::Earliest), 2);
    assert_eq!(reset(OffsetResetSpec::Latest), 10);
    assert_eq!(reset(OffsetResetSpec::Offset(7)), 7);
    assert_eq!(reset(OffsetResetSpec::Offset(70)), 10, "clamped to the end");
    assert_eq!(reset(OffsetResetSpec::ShiftBy(-3)), 7);
    assert_eq!(
        reset(OffsetResetSpec::ShiftBy(-30)),
        2,
        "clamped to the start"
    );
    assert_eq!(reset(OffsetResetSpec::Timestamp(T0 + 5_500)), 6);
    assert_eq!(reset(OffsetResetSpec::Timestamp(T0 + 50_000)), 10);
    assert_eq!(committed(&store, "g", &tp("t", 0)), Some(10));
    assert!(matches!(
        store.reset_offsets("g", &[tp("t", 3)], OffsetResetSpec::Earliest),
        Err(Error::UnknownPartition { .. })
    ));
}

#[test]
fn maintenance_expires_offsets_after_the_retention_and_the_group_with_them() {
    let (fs, clock, store) = setup();
    fill(&store, "t", 2, 3);
    store.commit_offsets("old", &[(tp("t", 0), at(1))]).unwrap();
    clock.advance(WEEK - 5 * MINUTE);
    store.commit_offsets("new", &[(tp("t", 1), at(2))]).unwrap();
    // The first pass looks; nothing is a week old yet.
    assert_eq!(store.maintain().unwrap().offsets_expired, 0);
    clock.advance(5 * MINUTE);
    // "old" is due, but within the check interval nothing is looked at.
    assert_eq!(store.maintain().unwrap().offsets_expired, 0);
    clock.advance(5 * MINUTE);
    let report = store.maintain().unwrap();
    assert_eq!((report.offsets_expired, report.groups_deleted), (1, 0));
    assert_eq!(committed(&store, "old", &tp("t", 0)), None);
    assert_eq!(committed(&store, "new", &tp("t", 1)), Some(2));
    assert_eq!(
        store
            .list_groups()
            .unwrap()
            .into_iter()
            .map(|g| g.group_id)
            .collect::<Vec<_>>(),
        ["new"]
    );
    // The expiry is durable.
    store.close().unwrap();
    let store = open(&fs, &clock);
    assert_eq!(committed(&store, "old", &tp("t", 0)), None);
    assert_eq!(committed(&store, "new", &tp("t", 1)), Some(2));
}

#[test]
fn an_empty_groups_offsets_expire_a_retention_after_it_emptied() {
    let (_fs, clock, store) = setup();
    fill(&store, "t", 1, 3);
    const DAY: i64 = 24 * 60 * MINUTE;
    // Both committed now; "g" then has a member for a while on day 3.
    store.commit_offsets("g", &[(tp("t", 0), at(3))]).unwrap();
    store
        .commit_offsets("other", &[(tp("t", 0), at(0))])
        .unwrap();
    clock.advance(3 * DAY);
    let (member, _) = join(&store, "g", "c1");
    clock.advance(10_000);
    let coordinator = store.group_coordinator().unwrap();
    let left = coordinator
        .leave_group(
            "g",
            &[seglog::offsets::coordinator::MemberIdentity::new(member)],
        )
        .unwrap();
    assert!(left.iter().all(Result::is_ok));
    // A week after the commits, only the group that never had members
    // loses its offset: "g" counts from when it became empty.
    clock.set(T0 + WEEK + MINUTE);
    store.maintain().unwrap();
    assert_eq!(committed(&store, "g", &tp("t", 0)), Some(3));
    assert_eq!(committed(&store, "other", &tp("t", 0)), None);
    clock.set(T0 + 3 * DAY + 10_000 + WEEK + MINUTE);
    let report = store.maintain().unwrap();
    assert_eq!((report.offsets_expired, report.groups_deleted), (1, 1));
    assert_eq!(committed(&store, "g", &tp("t", 0)), None);
    assert!(store.list_groups().unwrap().is_empty());
}

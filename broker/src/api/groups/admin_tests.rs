use bytes::Bytes;
use kafka_protocol::messages::{DeleteGroupsRequest, DescribeGroupsRequest, ListGroupsRequest};
use seglog::offsets::coordinator::MemberDescription;
use seglog::offsets::OffsetAndMetadata;
use seglog::TopicPartition;

use super::*;
use crate::api::groups::harness::{body, encodes_at, s, stable_member, Harness, CLIENT_HOST};
use crate::api::key::{DELETE_GROUPS, DESCRIBE_GROUPS, LIST_GROUPS};

/// A store with a Stable group "live" of one member, and a group "simple"
/// with a committed offset only. Returns the member id.
fn groups(h: &Harness) -> String {
    h.store().create_topic("t", 1, &[]).unwrap();
    let (_, member) = stable_member(h, "live", b"assignment");
    h.store()
        .commit_offsets(
            "simple",
            &[(TopicPartition::new("t", 0), OffsetAndMetadata::new(3))],
        )
        .unwrap();
    member
}

fn describe_request(ids: &[&str], operations: bool) -> DescribeGroupsRequest {
    let mut r = DescribeGroupsRequest::default();
    r.groups = ids.iter().map(|id| GroupId(s(id))).collect();
    r.include_authorized_operations = operations;
    r
}

fn delete_request(ids: &[&str]) -> DeleteGroupsRequest {
    let mut r = DeleteGroupsRequest::default();
    r.groups_names = ids.iter().map(|id| GroupId(s(id))).collect();
    r
}

#[test]
fn decodes_classic_and_flexible_versions() {
    for v in 0..=4 {
        let mut req = ListGroupsRequest::default();
        if v >= 4 {
            req.states_filter = vec![s("Stable")];
        }
        let states = decode_list(&mut Reader::new(Bytes::from(body(&req, v)), v >= 3), v).unwrap();
        assert_eq!(
            states,
            if v >= 4 {
                vec!["Stable".to_string()]
            } else {
                vec![]
            }
        );
    }
    for v in 0..=5 {
        let req = describe_request(&["a", "b"], v >= 3);
        let d = decode_describe(&mut Reader::new(Bytes::from(body(&req, v)), v >= 5), v).unwrap();
        assert_eq!(d, (vec!["a".to_string(), "b".to_string()], v >= 3), "v{v}");
    }
    for v in 0..=2 {
        let b = body(&delete_request(&["a"]), v);
        let d = decode_delete(&mut Reader::new(Bytes::from(b), v >= 2)).unwrap();
        assert_eq!(d, ["a"]);
    }
    let b = body(&describe_request(&["a"], true), 3);
    assert!(decode_describe(
        &mut Reader::new(Bytes::from(b[..b.len() - 1].to_vec()), false),
        3
    )
    .is_err());
}

#[test]
fn list_groups_lists_members_groups_and_offset_only_groups() {
    let h = Harness::new();
    groups(&h);
    for v in 0..=4 {
        let r: ListGroupsResponse = h.call(LIST_GROUPS, v, &ListGroupsRequest::default());
        assert_eq!(r.error_code, 0);
        let listed: Vec<(&str, &str, &str)> = r
            .groups
            .iter()
            .map(|g| {
                (
                    g.group_id.as_str(),
                    g.protocol_type.as_str(),
                    g.group_state.as_str(),
                )
            })
            .collect();
        let (live, simple) = if v >= 4 {
            ("Stable", "Empty")
        } else {
            ("", "")
        };
        assert_eq!(
            listed,
            [("live", "consumer", live), ("simple", "", simple)],
            "v{v}"
        );
    }
    let mut stable_only = ListGroupsRequest::default();
    stable_only.states_filter = vec![s("stable")];
    let r: ListGroupsResponse = h.call(LIST_GROUPS, 4, &stable_only);
    let ids: Vec<&str> = r.groups.iter().map(|g| g.group_id.as_str()).collect();
    assert_eq!(ids, ["live"]);
}

#[test]
fn describe_groups_reports_members_with_their_metadata_and_assignment() {
    let h = Harness::new();
    let member = groups(&h);
    for v in 0..=5 {
        let req = describe_request(&["live", "simple", "nobody", ""], v >= 3);
        let r: DescribeGroupsResponse = h.call(DESCRIBE_GROUPS, v, &req);
        let live = &r.groups[0];
        assert_eq!(live.error_code, 0);
        assert_eq!(live.group_state.as_str(), "Stable");
        assert_eq!(live.protocol_type.as_str(), "consumer");
        assert_eq!(live.protocol_data.as_str(), "range");
        let m = &live.members[0];
        assert_eq!(m.member_id.as_str(), member);
        assert_eq!(
            (m.client_id.as_str(), m.client_host.as_str()),
            ("test-client", CLIENT_HOST)
        );
        assert_eq!(&m.member_metadata[..], b"subscription");
        assert_eq!(&m.member_assignment[..], b"assignment");
        let operations = if v >= 3 { GROUP_OPERATIONS } else { i32::MIN };
        assert_eq!(live.authorized_operations, operations, "v{v}");
        let states: Vec<(&str, &str, usize, i16)> = r.groups[1..]
            .iter()
            .map(|g| {
                (
                    g.group_id.as_str(),
                    g.group_state.as_str(),
                    g.members.len(),
                    g.error_code,
                )
            })
            .collect();
        assert_eq!(
            states,
            [
                ("simple", "Empty", 0, 0),
                ("nobody", "Dead", 0, 0),
                ("", "Dead", 0, 0)
            ],
            "v{v}"
        );
    }
}

#[test]
fn delete_groups_deletes_groups_without_members_only() {
    let h = Harness::new();
    groups(&h);
    for v in 0..=2 {
        let req = delete_request(&["live", "simple", "nobody", ""]);
        let r: DeleteGroupsResponse = h.call(DELETE_GROUPS, v, &req);
        let codes: Vec<(&str, i16)> = r
            .results
            .iter()
            .map(|g| (g.group_id.as_str(), g.error_code))
            .collect();
        // "simple" is deleted by the first request; then it is not found.
        let simple = if v == 0 { 0 } else { code::GROUP_ID_NOT_FOUND };
        assert_eq!(
            codes,
            [
                ("live", code::NON_EMPTY_GROUP),
                ("simple", simple),
                ("nobody", code::GROUP_ID_NOT_FOUND),
                ("", code::INVALID_GROUP_ID),
            ],
            "v{v}"
        );
    }
    let left = h
        .store()
        .committed_offsets("simple", &[TopicPartition::new("t", 0)])
        .unwrap();
    assert_eq!(left, [None], "the deleted group's offsets are gone");
}

#[test]
fn a_closed_store_is_reported_per_request_or_group() {
    let h = Harness::new();
    groups(&h);
    h.store().close().unwrap();
    let r: ListGroupsResponse = h.call(LIST_GROUPS, 4, &ListGroupsRequest::default());
    assert_eq!(r.error_code, code::COORDINATOR_NOT_AVAILABLE);
    let r: DescribeGroupsResponse = h.call(DESCRIBE_GROUPS, 5, &describe_request(&["live"], true));
    assert_eq!(r.groups[0].error_code, code::COORDINATOR_NOT_AVAILABLE);
    assert_eq!(r.groups[0].authorized_operations, i32::MIN);
}

#[test]
fn every_response_encodes_at_every_version() {
    let d = GroupDescription {
        group_id: "g".into(),
        state: GroupState::Stable,
        protocol_type: "consumer".into(),
        protocol: Some("range".into()),
        generation: 1,
        leader: Some("m".into()),
        members: vec![MemberDescription {
            member_id: "m".into(),
            group_instance_id: Some("i".into()),
            client_id: "c".into(),
            client_host: "h".into(),
            subscription: Some(b"s".to_vec()),
            assignment: b"a".to_vec(),
        }],
    };
    for found in [Ok(Some(d)), Ok(None), Err(code::COORDINATOR_NOT_AVAILABLE)] {
        encodes_at(
            |v| {
                let mut r = DescribeGroupsResponse::default();
                r.groups = vec![described(v, "g".into(), found.clone())];
                r
            },
            0..=5,
        );
    }
}

use bytes::Bytes;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{GroupId, OffsetCommitRequest};

use super::*;
use crate::api::groups::harness::{body, encodes_at, s, stable_member, Harness};
use crate::api::key::OFFSET_COMMIT;

fn partition(index: i32, offset: i64, metadata: &str) -> OffsetCommitRequestPartition {
    let mut p = OffsetCommitRequestPartition::default();
    p.partition_index = index;
    p.committed_offset = offset;
    p.committed_metadata = Some(s(metadata));
    p
}

fn request(
    group: &str,
    generation: i32,
    member: &str,
    topics: Vec<(&str, Vec<OffsetCommitRequestPartition>)>,
) -> OffsetCommitRequest {
    let mut r = OffsetCommitRequest::default();
    r.group_id = GroupId(s(group));
    r.generation_id_or_member_epoch = generation;
    r.member_id = s(member);
    r.topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            let mut t = OffsetCommitRequestTopic::default();
            t.name = TopicName(s(name));
            t.partitions = partitions;
            t
        })
        .collect();
    r
}

/// Each partition's (topic, index, error code).
fn codes(r: &OffsetCommitResponse) -> Vec<(String, i32, i16)> {
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index, p.error_code))
        })
        .collect()
}

fn committed(h: &Harness, group: &str, topic: &str, p: u32) -> Option<OffsetAndMetadata> {
    h.store()
        .committed_offsets(group, &[TopicPartition::new(topic, p)])
        .unwrap()
        .remove(0)
}

#[test]
fn decodes_classic_and_flexible_versions() {
    for v in 2..=9 {
        let mut p = partition(1, 42, "meta");
        if v >= 6 {
            p.committed_leader_epoch = 5;
        }
        let mut req = request("g", 3, "m", vec![("t", vec![p])]);
        if v <= 4 {
            req.retention_time_ms = 1000;
        }
        if v >= 7 {
            req.group_instance_id = Some(s("i"));
        }
        let mut r = Reader::new(Bytes::from(body(&req, v)), v >= 8);
        let d = decode(&mut r, v).unwrap();
        assert_eq!(
            (d.group_id.as_str(), d.generation_id, d.member_id.as_str()),
            ("g", 3, "m")
        );
        assert_eq!(d.group_instance_id.is_some(), v >= 7, "v{v}");
        let expected = Partition {
            index: 1,
            offset: 42,
            leader_epoch: if v >= 6 { 5 } else { -1 },
            metadata: Some("meta".into()),
        };
        assert_eq!(d.topics, vec![("t".to_string(), vec![expected])], "v{v}");
    }
    let b = body(
        &request("g", -1, "", vec![("t", vec![partition(0, 1, "")])]),
        8,
    );
    let mut r = Reader::new(Bytes::from(b[..b.len() - 3].to_vec()), true);
    assert!(decode(&mut r, 8).is_err());
}

#[test]
fn a_simple_commit_is_stored_with_its_metadata_and_epoch() {
    let h = Harness::new();
    h.store().create_topic("t", 2, &[]).unwrap();
    let mut p = partition(1, 42, "meta");
    p.committed_leader_epoch = 3;
    let req = request("g", -1, "", vec![("t", vec![p])]);
    let r: OffsetCommitResponse = h.call(OFFSET_COMMIT, 8, &req);
    assert_eq!(codes(&r), [("t".to_string(), 1, 0)]);
    let c = committed(&h, "g", "t", 1).unwrap();
    assert_eq!(
        (c.offset, c.leader_epoch, c.metadata.as_str()),
        (42, Some(3), "meta")
    );
}

#[test]
fn bad_partitions_get_their_own_error_and_the_rest_are_committed() {
    let h = Harness::new();
    h.store().create_topic("t", 2, &[]).unwrap();
    let too_long = "x".repeat(h.store().config().groups.offset_metadata_max_bytes as usize + 1);
    let req = request(
        "g",
        -1,
        "",
        vec![
            (
                "t",
                vec![
                    partition(0, 7, ""),
                    partition(1, 8, &too_long),
                    partition(2, 9, ""),
                    partition(-1, 9, ""),
                ],
            ),
            ("missing", vec![partition(0, 1, "")]),
            ("t", vec![partition(1, -5, "")]),
        ],
    );
    let r: OffsetCommitResponse = h.call(OFFSET_COMMIT, 5, &req);
    assert_eq!(
        codes(&r),
        [
            ("t".to_string(), 0, 0),
            ("t".to_string(), 1, code::OFFSET_METADATA_TOO_LARGE),
            ("t".to_string(), 2, code::UNKNOWN_TOPIC_OR_PARTITION),
            ("t".to_string(), -1, code::UNKNOWN_TOPIC_OR_PARTITION),
            ("missing".to_string(), 0, code::UNKNOWN_TOPIC_OR_PARTITION),
            ("t".to_string(), 1, code::OFFSET_OUT_OF_RANGE),
        ]
    );
    assert_eq!(committed(&h, "g", "t", 0).map(|c| c.offset), Some(7));
    assert_eq!(committed(&h, "g", "t", 1), None);
}

#[test]
fn members_commit_in_their_generation_only() {
    let h = Harness::new();
    h.store().create_topic("t", 1, &[]).unwrap();
    let (generation, member) = stable_member(&h, "g", b"");
    let commit = |generation: i32, member: &str, offset: i64| {
        let req = request(
            "g",
            generation,
            member,
            vec![("t", vec![partition(0, offset, "")])],
        );
        let r: OffsetCommitResponse = h.call(OFFSET_COMMIT, 7, &req);
        codes(&r)[0].2
    };
    assert_eq!(commit(generation, &member, 10), 0);
    assert_eq!(committed(&h, "g", "t", 0).map(|c| c.offset), Some(10));
    assert_eq!(
        commit(generation + 1, &member, 11),
        code::ILLEGAL_GENERATION
    );
    assert_eq!(commit(generation, "stranger", 12), code::UNKNOWN_MEMBER_ID);
    // A commit from outside the membership while the group has members.
    assert_eq!(commit(-1, "", 13), code::UNKNOWN_MEMBER_ID);
    assert_eq!(committed(&h, "g", "t", 0).map(|c| c.offset), Some(10));
}

#[test]
fn a_generation_of_a_group_that_does_not_exist_is_refused_per_version() {
    let h = Harness::new();
    h.store().create_topic("t", 1, &[]).unwrap();
    let req = request("nobody", 1, "m", vec![("t", vec![partition(0, 1, "")])]);
    let r: OffsetCommitResponse = h.call(OFFSET_COMMIT, 8, &req);
    assert_eq!(codes(&r)[0].2, code::ILLEGAL_GENERATION);
    let r: OffsetCommitResponse = h.call(OFFSET_COMMIT, 9, &req);
    assert_eq!(codes(&r)[0].2, code::GROUP_ID_NOT_FOUND);
    let empty = request("", -1, "", vec![("t", vec![partition(0, 1, "")])]);
    let r: OffsetCommitResponse = h.call(OFFSET_COMMIT, 9, &empty);
    assert_eq!(codes(&r)[0].2, code::INVALID_GROUP_ID);
}

#[test]
fn every_response_encodes_at_every_version() {
    let req = Request {
        group_id: "g".into(),
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
        topics: vec![(
            "t".into(),
            vec![Partition {
                index: 0,
                offset: 1,
                leader_epoch: -1,
                metadata: None,
            }],
        )],
    };
    encodes_at(
        |_| response(&req, &[vec![code::OFFSET_METADATA_TOO_LARGE]]),
        2..=9,
    );
}

use bytes::Bytes;
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::OffsetFetchRequest;
use seglog::offsets::OffsetAndMetadata;

use super::*;
use crate::api::groups::harness::{body, encodes_at, s, Harness};
use crate::api::key::OFFSET_FETCH;

/// Partitions asked by topic; `None` for every partition committed.
type Asked<'a> = Option<Vec<(&'a str, Vec<i32>)>>;

/// A request of version 1 to 7 for `group`.
fn request(group: &str, topics: Asked<'_>) -> OffsetFetchRequest {
    let mut r = OffsetFetchRequest::default();
    r.group_id = GroupId(s(group));
    r.topics = topics.map(|ts| {
        ts.into_iter()
            .map(|(name, ps)| {
                let mut t = OffsetFetchRequestTopic::default();
                t.name = TopicName(s(name));
                t.partition_indexes = ps;
                t
            })
            .collect()
    });
    r
}

/// A request of version 8 or 9 for several groups.
fn batched(groups: Vec<(&str, Asked<'_>)>) -> OffsetFetchRequest {
    let mut r = OffsetFetchRequest::default();
    r.groups = groups
        .into_iter()
        .map(|(id, topics)| {
            let mut g = OffsetFetchRequestGroup::default();
            g.group_id = GroupId(s(id));
            g.topics = topics.map(|ts| {
                ts.into_iter()
                    .map(|(name, ps)| {
                        let mut t = OffsetFetchRequestTopics::default();
                        t.name = TopicName(s(name));
                        t.partition_indexes = ps;
                        t
                    })
                    .collect()
            });
            g
        })
        .collect();
    r
}

/// (topic, partition, offset, epoch, metadata, error) of a response of
/// version 1 to 7.
fn rows(r: &OffsetFetchResponse) -> Vec<(String, i32, i64, i32, String, i16)> {
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.to_string(),
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.metadata.as_deref().unwrap_or("null").to_string(),
                    p.error_code,
                )
            })
        })
        .collect()
}

fn row(
    t: &str,
    p: i32,
    offset: i64,
    epoch: i32,
    meta: &str,
) -> (String, i32, i64, i32, String, i16) {
    (t.to_string(), p, offset, epoch, meta.to_string(), 0)
}

/// A store with topic "t" (3 partitions) and "u" (1), and group "g"
/// having committed t-0 at 5 (epoch 2, "m") and u-0 at 9.
fn committed() -> Harness {
    let h = Harness::new();
    h.store().create_topic("t", 3, &[]).unwrap();
    h.store().create_topic("u", 1, &[]).unwrap();
    let mut t0 = OffsetAndMetadata::new(5).with_metadata("m");
    t0.leader_epoch = Some(2);
    h.store()
        .commit_offsets(
            "g",
            &[
                (TopicPartition::new("t", 0), t0),
                (TopicPartition::new("u", 0), OffsetAndMetadata::new(9)),
            ],
        )
        .unwrap();
    h
}

#[test]
fn decodes_classic_flexible_and_batched_versions() {
    for v in 1..=7 {
        let mut req = request("g", Some(vec![("t", vec![0, 2])]));
        if v >= 7 {
            req.require_stable = true;
        }
        let mut r = Reader::new(Bytes::from(body(&req, v)), v >= 6);
        let d = decode(&mut r, v).unwrap();
        let expected = GroupRequest {
            group_id: "g".into(),
            topics: Some(vec![("t".into(), vec![0, 2])]),
        };
        assert_eq!(d, vec![expected], "v{v}");
        if v >= 2 {
            let b = body(&request("g", None), v);
            let d = decode(&mut Reader::new(Bytes::from(b), v >= 6), v).unwrap();
            assert_eq!(d[0].topics, None, "v{v}: null asks for all");
        }
    }
    for v in 8..=9 {
        let mut req = batched(vec![("a", Some(vec![("t", vec![1])])), ("b", None)]);
        if v >= 9 {
            req.groups[0].member_id = Some(s("m"));
            req.groups[0].member_epoch = 3;
        }
        let d = decode(&mut Reader::new(Bytes::from(body(&req, v)), true), v).unwrap();
        let ids: Vec<&str> = d.iter().map(|g| g.group_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(d[0].topics, Some(vec![("t".into(), vec![1])]));
        assert_eq!(d[1].topics, None);
    }
    let b = body(&request("g", None), 3);
    assert!(decode(&mut Reader::new(Bytes::from(b[..4].to_vec()), false), 3).is_err());
}

#[test]
fn asked_partitions_get_their_commit_or_minus_one() {
    let h = committed();
    let req = request("g", Some(vec![("t", vec![0, 1, -1]), ("missing", vec![0])]));
    let r: OffsetFetchResponse = h.call(OFFSET_FETCH, 5, &req);
    assert_eq!(r.error_code, 0);
    assert_eq!(
        rows(&r),
        [
            row("t", 0, 5, 2, "m"),
            row("t", 1, -1, -1, ""),
            row("t", -1, -1, -1, ""),
            row("missing", 0, -1, -1, ""),
        ]
    );
    // Before version 5 there is no leader epoch.
    let r: OffsetFetchResponse = h.call(OFFSET_FETCH, 1, &req);
    assert_eq!(rows(&r)[0], row("t", 0, 5, -1, "m"));
}

#[test]
fn null_topics_ask_for_every_commit_of_the_group() {
    let h = committed();
    for v in 2..=7 {
        let r: OffsetFetchResponse = h.call(OFFSET_FETCH, v, &request("g", None));
        let epoch = if v >= 5 { 2 } else { -1 };
        assert_eq!(
            rows(&r),
            [row("t", 0, 5, epoch, "m"), row("u", 0, 9, -1, "")],
            "v{v}"
        );
    }
    let r: OffsetFetchResponse = h.call(OFFSET_FETCH, 6, &request("nobody", None));
    assert_eq!((r.error_code, r.topics.len()), (0, 0));
}

#[test]
fn a_group_error_is_reported_where_each_version_has_room_for_it() {
    let h = committed();
    let req = request("", Some(vec![("t", vec![0])]));
    let r: OffsetFetchResponse = h.call(OFFSET_FETCH, 1, &req);
    assert_eq!(rows(&r)[0].5, code::INVALID_GROUP_ID);
    assert_eq!(rows(&r)[0].2, -1);
    let r: OffsetFetchResponse = h.call(OFFSET_FETCH, 2, &req);
    assert_eq!(r.error_code, code::INVALID_GROUP_ID);
    assert!(r.topics.is_empty());
}

#[test]
fn batched_versions_answer_each_group() {
    let h = committed();
    let req = batched(vec![
        ("g", Some(vec![("t", vec![0, 1])])),
        ("", None),
        ("g", None),
    ]);
    for v in 8..=9 {
        let r: OffsetFetchResponse = h.call(OFFSET_FETCH, v, &req);
        assert_eq!(r.groups.len(), 3);
        let first: Vec<(i32, i64)> = r.groups[0].topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.committed_offset))
            .collect();
        assert_eq!(first, [(0, 5), (1, -1)]);
        assert_eq!(r.groups[1].error_code, code::INVALID_GROUP_ID);
        let all: Vec<&str> = r.groups[2].topics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(all, ["t", "u"]);
        assert_eq!(
            r.groups[2].topics[0].partitions[0].committed_leader_epoch,
            2
        );
    }
}

#[test]
fn every_response_encodes_at_every_version() {
    let offsets = GroupOffsets {
        group_id: "g".into(),
        error: code::NONE,
        topics: vec![(
            "t".into(),
            vec![Offset {
                partition: 0,
                offset: 5,
                leader_epoch: 2,
                metadata: "m".into(),
            }],
        )],
    };
    let failed = GroupOffsets {
        error: code::INVALID_GROUP_ID,
        ..offsets.clone()
    };
    encodes_at(|v| response(v, vec![offsets.clone()]), 1..=9);
    encodes_at(|v| response(v, vec![failed.clone()]), 1..=9);
    encodes_at(
        |v| response(v, vec![offsets.clone(), failed.clone()]),
        8..=9,
    );
}

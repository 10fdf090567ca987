use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{BrokerId, CreateTopicsRequest as Wire, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::*;
use crate::api::admin::config_entries::source;
use crate::api::admin::testing::{encoded, encodes_at, TestBroker};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn topic(name: &str, partitions: i32, replication: i16) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(TopicName(s(name)))
        .with_num_partitions(partitions)
        .with_replication_factor(replication)
}

fn configs(pairs: &[(&str, Option<&str>)]) -> Vec<CreatableTopicConfig> {
    pairs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(s(k))
                .with_value(v.map(s))
        })
        .collect()
}

fn request(topics: Vec<CreatableTopic>) -> Wire {
    Wire::default().with_topics(topics).with_timeout_ms(30_000)
}

fn create(b: &TestBroker, version: i16, topics: Vec<CreatableTopic>) -> Vec<CreatableTopicResult> {
    b.call(version, &request(topics)).topics
}

fn codes(results: &[CreatableTopicResult]) -> Vec<(String, i16)> {
    results
        .iter()
        .map(|r| (r.name.0.to_string(), r.error_code))
        .collect()
}

#[test]
fn decodes_what_kafka_protocol_encodes_classic_and_flexible() {
    let wire = request(vec![
        topic("a", 3, 1).with_configs(configs(&[("retention.ms", Some("1000")), ("x", None)])),
        topic("b", -1, -1).with_assignments(vec![CreatableReplicaAssignment::default()
            .with_partition_index(0)
            .with_broker_ids(vec![BrokerId(0)])]),
    ])
    .with_validate_only(true);
    let expected = CreateTopicsRequest {
        topics: vec![
            NewTopic {
                name: "a".into(),
                num_partitions: 3,
                replication_factor: 1,
                assignments: vec![],
                configs: vec![
                    ("retention.ms".into(), Some("1000".into())),
                    ("x".into(), None),
                ],
            },
            NewTopic {
                name: "b".into(),
                num_partitions: -1,
                replication_factor: -1,
                assignments: vec![(0, vec![0])],
                configs: vec![],
            },
        ],
        validate_only: true,
    };
    for version in [4, 5] {
        let mut r = Reader::new(encoded(&wire, version), version >= 5);
        assert_eq!(decode(&mut r).unwrap(), expected, "v{version}");
    }
    // Unknown tagged fields of a flexible version are skipped.
    let tagged = wire.with_unknown_tagged_field(9, Bytes::from_static(b"xyz"));
    let mut r = Reader::new(encoded(&tagged, 7), true);
    assert_eq!(decode(&mut r).unwrap(), expected);
}

#[test]
fn a_truncated_request_closes_the_connection() {
    let b = TestBroker::new();
    let body = encoded(&request(vec![topic("a", 1, 1)]), 5);
    let why = b.refused::<Wire>(5, body.slice(..body.len() - 2));
    assert!(why.contains("CreateTopics v5"), "{why}");
    assert!(b.store().list_topics().is_empty());
}

#[test]
fn creates_topics_with_their_partitions_and_configs() {
    let b = TestBroker::with_config(|c| c.num_partitions = 3);
    let results = create(
        &b,
        7,
        vec![
            topic("two", 2, 1).with_configs(configs(&[("retention.ms", Some("1000"))])),
            topic("default", -1, -1),
        ],
    );
    assert_eq!(codes(&results), [("two".into(), 0), ("default".into(), 0)]);
    let two = &results[0];
    assert_eq!(two.error_message, None);
    assert_eq!((two.num_partitions, two.replication_factor), (2, 1));
    assert_eq!(two.topic_id, crate::api::metadata::topic_id("two"));
    let configs = two.configs.as_ref().unwrap();
    assert_eq!(configs.len(), TopicConfig::override_keys().len());
    let retention = configs
        .iter()
        .find(|c| c.name.as_str() == "retention.ms")
        .unwrap();
    assert_eq!(retention.value.as_deref(), Some("1000"));
    assert_eq!(retention.config_source, source::TOPIC_CONFIG);
    let segment = configs
        .iter()
        .find(|c| c.name.as_str() == "segment.bytes")
        .unwrap();
    assert_eq!(segment.value.as_deref(), Some("1073741824"));
    assert_eq!(segment.config_source, source::DEFAULT_CONFIG);
    assert_eq!(results[1].num_partitions, 3);

    let d = b.store().describe_topic("two").unwrap();
    assert_eq!(d.partitions.len(), 2);
    assert_eq!(d.config.retention_ms, Some(1000));
    assert_eq!(
        b.store()
            .describe_topic("default")
            .unwrap()
            .partitions
            .len(),
        3
    );
}

#[test]
fn validate_only_checks_without_creating() {
    let b = TestBroker::new();
    let wire = request(vec![
        topic("checked", 4, 1).with_configs(configs(&[("cleanup.policy", Some("compact"))])),
        topic("bad", 1, 1).with_configs(configs(&[("segment.bytes", Some("10"))])),
    ])
    .with_validate_only(true);
    let results = b.call(5, &wire).topics;
    assert_eq!(
        codes(&results),
        [("checked".into(), 0), ("bad".into(), code::INVALID_CONFIG)]
    );
    assert_eq!(results[0].num_partitions, 4);
    let policy = results[0]
        .configs
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.name.as_str() == "cleanup.policy")
        .unwrap();
    assert_eq!(policy.value.as_deref(), Some("compact"));
    assert!(results[1]
        .error_message
        .as_ref()
        .unwrap()
        .contains("segment.bytes"));
    assert!(b.store().list_topics().is_empty());
}

#[test]
fn refusals_get_kafkas_codes() {
    let b = TestBroker::new();
    b.store().create_topic("there", 1, &[]).unwrap();
    b.store().create_topic("a.b", 1, &[]).unwrap();
    let results = create(
        &b,
        4,
        vec![
            topic("there", 1, 1),
            topic("bad/name", 1, 1),
            topic("a_b", 1, 1),
            topic("three-replicas", 1, 3),
            topic("no-replicas", 1, 0),
            topic("no-partitions", 0, 1),
            topic("too-many", 200_000, 1),
            topic("unknown-key", 1, 1).with_configs(configs(&[("retention.hours", Some("1"))])),
            topic("null-value", 1, 1).with_configs(configs(&[("retention.ms", None)])),
            topic("spaced", 1, 1)
                .with_configs(configs(&[("cleanup.policy", Some("compact, delete"))])),
            topic("__consumer_offsets", 1, 1),
        ],
    );
    let expected = [
        ("there", code::TOPIC_ALREADY_EXISTS),
        ("bad/name", code::INVALID_TOPIC_EXCEPTION),
        ("a_b", code::INVALID_TOPIC_EXCEPTION),
        ("three-replicas", code::INVALID_REPLICATION_FACTOR),
        ("no-replicas", code::INVALID_REPLICATION_FACTOR),
        ("no-partitions", code::INVALID_PARTITIONS),
        ("too-many", code::INVALID_PARTITIONS),
        ("unknown-key", code::INVALID_CONFIG),
        ("null-value", code::INVALID_CONFIG),
        ("spaced", code::INVALID_CONFIG),
        ("__consumer_offsets", code::INVALID_TOPIC_EXCEPTION),
    ];
    let expected: Vec<(String, i16)> = expected.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    assert_eq!(codes(&results), expected);
    let message = |i: usize| results[i].error_message.as_deref().unwrap().to_string();
    assert_eq!(message(0), "Topic 'there' already exists.");
    assert_eq!(message(2), "Topic 'a_b' collides with existing topic: a.b");
    assert!(message(3).contains("only 1 broker(s)"), "{}", message(3));
    assert!(message(7).contains("retention.hours"), "{}", message(7));
    assert_eq!(
        message(8),
        "Null value not supported for topic configs: retention.ms"
    );
    assert_eq!(b.store().list_topics(), ["a.b", "there"]);
}

#[test]
fn a_name_given_twice_is_refused_after_the_others() {
    let b = TestBroker::new();
    let results = create(
        &b,
        5,
        vec![
            topic("dup", 1, 1),
            topic("single", 1, 1),
            topic("dup", 2, 1),
        ],
    );
    assert_eq!(
        codes(&results),
        [("single".into(), 0), ("dup".into(), code::INVALID_REQUEST)]
    );
    assert_eq!(
        results[1].error_message.as_deref(),
        Some("Duplicate topic name.")
    );
    assert_eq!(b.store().list_topics(), ["single"]);
}

#[test]
fn manual_assignments_naming_this_node_create_their_partitions() {
    let b = TestBroker::with_config(|c| c.node_id = 5);
    let assign = |parts: &[(i32, &[i32])]| {
        parts
            .iter()
            .map(|(p, replicas)| {
                CreatableReplicaAssignment::default()
                    .with_partition_index(*p)
                    .with_broker_ids(replicas.iter().map(|&r| BrokerId(r)).collect())
            })
            .collect::<Vec<_>>()
    };
    let results = create(
        &b,
        6,
        vec![
            topic("manual", -1, -1).with_assignments(assign(&[(1, &[5]), (0, &[5])])),
            topic("other-node", -1, -1).with_assignments(assign(&[(0, &[1])])),
            topic("gap", -1, -1).with_assignments(assign(&[(0, &[5]), (2, &[5])])),
            topic("twice", -1, -1).with_assignments(assign(&[(0, &[5]), (0, &[5])])),
            topic("with-count", 2, -1).with_assignments(assign(&[(0, &[5])])),
            topic("with-factor", -1, 1).with_assignments(assign(&[(0, &[5])])),
        ],
    );
    let expected: Vec<(String, i16)> = [
        ("manual", code::NONE),
        ("other-node", code::INVALID_REPLICA_ASSIGNMENT),
        ("gap", code::INVALID_REPLICA_ASSIGNMENT),
        ("twice", code::INVALID_REPLICA_ASSIGNMENT),
        ("with-count", code::INVALID_REQUEST),
        ("with-factor", code::INVALID_REQUEST),
    ]
    .iter()
    .map(|(n, c)| (n.to_string(), *c))
    .collect();
    assert_eq!(codes(&results), expected);
    assert_eq!(results[0].num_partitions, 2);
    assert_eq!(b.store().list_topics(), ["manual"]);
    assert_eq!(
        b.store().describe_topic("manual").unwrap().partitions.len(),
        2
    );
}

#[test]
fn responses_encode_at_every_served_version() {
    let b = TestBroker::new();
    let wire = request(vec![
        topic("ok", 1, 1).with_configs(configs(&[("retention.ms", Some("5"))])),
        topic("ok", 1, 1),
        topic("bad name", 1, 1),
    ])
    .with_validate_only(true);
    for version in 2..=7 {
        let req = decode(&mut Reader::new(encoded(&wire, version), version >= 5)).unwrap();
        let response = answer(&b.shared, &req, version);
        encodes_at(&response, version..=version);
        // Through the dispatch too: what a client reads back.
        let read = b.call(
            version,
            &request(vec![topic("v", 1, 1)]).with_validate_only(true),
        );
        assert_eq!(read.topics[0].error_code, 0, "v{version}");
    }
}

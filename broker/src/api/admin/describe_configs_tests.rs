use bytes::Bytes;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use kafka_protocol::messages::DescribeConfigsRequest as Wire;
use kafka_protocol::protocol::StrBytes;
use seglog::topic::TopicConfig;

use super::*;
use crate::api::admin::config_entries::{kind, source};
use crate::api::admin::testing::{encoded, encodes_at, TestBroker};

fn res(resource_type: i8, name: &str, keys: Option<&[&str]>) -> DescribeConfigsResource {
    DescribeConfigsResource::default()
        .with_resource_type(resource_type)
        .with_resource_name(StrBytes::from_string(name.to_string()))
        .with_configuration_keys(keys.map(|k| {
            k.iter()
                .map(|k| StrBytes::from_string(k.to_string()))
                .collect()
        }))
}

fn request(resources: Vec<DescribeConfigsResource>) -> Wire {
    Wire::default().with_resources(resources)
}

fn find<'a>(
    configs: &'a [DescribeConfigsResourceResult],
    name: &str,
) -> &'a DescribeConfigsResourceResult {
    configs.iter().find(|c| c.name.as_str() == name).unwrap()
}

#[test]
fn decodes_what_kafka_protocol_encodes_classic_and_flexible() {
    let wire = request(vec![
        res(resource::TOPIC, "t", Some(&["retention.ms"])),
        res(resource::BROKER, "0", None),
    ])
    .with_include_synonyms(true);
    let expected = DescribeConfigsRequest {
        resources: vec![
            Resource {
                resource_type: resource::TOPIC,
                name: "t".into(),
                keys: Some(vec!["retention.ms".into()]),
            },
            Resource {
                resource_type: resource::BROKER,
                name: "0".into(),
                keys: None,
            },
        ],
        include_synonyms: true,
    };
    for version in [1, 3, 4] {
        let mut r = Reader::new(encoded(&wire, version), version >= 4);
        assert_eq!(decode(&mut r, version).unwrap(), expected, "v{version}");
    }
    let tagged = wire.with_unknown_tagged_field(2, Bytes::from_static(b"ab"));
    let mut r = Reader::new(encoded(&tagged, 4), true);
    assert_eq!(decode(&mut r, 4).unwrap(), expected);
    let body = encoded(&request(vec![res(resource::TOPIC, "t", None)]), 4);
    let why = TestBroker::new().refused::<Wire>(4, body.slice(..body.len() - 2));
    assert!(why.contains("DescribeConfigs v4"), "{why}");
}

#[test]
fn a_topic_reports_its_overrides_and_defaults() {
    let b = TestBroker::with_config(|c| {
        c.apply([("log.segment.bytes", "1048576")]).unwrap();
    });
    b.store()
        .create_topic(
            "t",
            1,
            &[("retention.ms", "1000"), ("cleanup.policy", "compact")],
        )
        .unwrap();
    let response = b.call(
        4,
        &request(vec![res(resource::TOPIC, "t", None)]).with_include_synonyms(true),
    );
    let result = &response.results[0];
    assert_eq!(
        (result.error_code, result.error_message.as_deref()),
        (0, None)
    );
    assert_eq!(result.resource_name.as_str(), "t");
    assert_eq!(result.resource_type, resource::TOPIC);
    assert_eq!(result.configs.len(), TopicConfig::override_keys().len());

    let retention = find(&result.configs, "retention.ms");
    assert_eq!(retention.value.as_deref(), Some("1000"));
    assert_eq!(retention.config_source, source::TOPIC_CONFIG);
    assert_eq!(retention.config_type, kind::LONG);
    assert_eq!(retention.documentation, None);
    assert!(!retention.read_only && !retention.is_sensitive);
    assert_eq!(retention.synonyms.len(), 1);
    assert_eq!(retention.synonyms[0].name.as_str(), "retention.ms");

    let segment = find(&result.configs, "segment.bytes");
    assert_eq!(segment.value.as_deref(), Some("1048576"));
    assert_eq!(segment.config_source, source::STATIC_BROKER_CONFIG);
    let synonyms: Vec<(&str, Option<&str>, i8)> = segment
        .synonyms
        .iter()
        .map(|s| (s.name.as_str(), s.value.as_deref(), s.source))
        .collect();
    assert_eq!(
        synonyms,
        [
            (
                "log.segment.bytes",
                Some("1048576"),
                source::STATIC_BROKER_CONFIG
            ),
            (
                "log.segment.bytes",
                Some("1073741824"),
                source::DEFAULT_CONFIG
            ),
        ]
    );
    let index = find(&result.configs, "index.interval.bytes");
    assert_eq!(index.value.as_deref(), Some("4096"));
    assert_eq!(index.config_source, source::DEFAULT_CONFIG);
    assert_eq!(
        find(&result.configs, "cleanup.policy").value.as_deref(),
        Some("compact")
    );

    // Without synonyms asked for, none are sent.
    let response = b.call(4, &request(vec![res(resource::TOPIC, "t", None)]));
    assert!(response.results[0]
        .configs
        .iter()
        .all(|c| c.synonyms.is_empty()));
}

#[test]
fn the_keys_asked_for_filter_and_an_empty_list_means_all() {
    let b = TestBroker::new();
    b.store().create_topic("t", 1, &[]).unwrap();
    let names = |keys: Option<&[&str]>| {
        let r = b.call(2, &request(vec![res(resource::TOPIC, "t", keys)]));
        r.results[0]
            .configs
            .iter()
            .map(|c| c.name.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(Some(&["segment.ms", "retention.ms", "nonsense"])),
        ["retention.ms", "segment.ms"]
    );
    assert_eq!(names(Some(&[])).len(), TopicConfig::override_keys().len());
    assert_eq!(names(None).len(), TopicConfig::override_keys().len());
}

#[test]
fn the_broker_reports_its_settings() {
    let b = TestBroker::with_config(|c| {
        c.node_id = 3;
        c.num_partitions = 4;
    });
    let response = b.call(
        3,
        &request(vec![
            res(
                resource::BROKER,
                "3",
                Some(&["num.partitions", "log.segment.bytes"]),
            ),
            res(resource::BROKER, "", None),
        ]),
    );
    let node = &response.results[0];
    assert_eq!(node.error_code, 0);
    let partitions = find(&node.configs, "num.partitions");
    assert_eq!(partitions.value.as_deref(), Some("4"));
    assert_eq!(partitions.config_source, source::STATIC_BROKER_CONFIG);
    assert_eq!(partitions.config_type, kind::INT);
    assert!(partitions.read_only);
    let segment = find(&node.configs, "log.segment.bytes");
    assert_eq!(segment.config_source, source::DEFAULT_CONFIG);
    assert_eq!(node.configs.len(), 2);
    let cluster = &response.results[1];
    assert_eq!((cluster.error_code, cluster.configs.len()), (0, 0));
}

#[test]
fn unknown_resources_get_kafkas_errors() {
    let b = TestBroker::new();
    let response = b.call(
        1,
        &request(vec![
            res(resource::TOPIC, "missing", None),
            res(resource::TOPIC, "bad/name", None),
            res(resource::BROKER, "7", None),
            res(resource::BROKER, "zero", None),
            res(8, "0", None),
            res(99, "x", None),
        ]),
    );
    let got: Vec<(i16, usize)> = response
        .results
        .iter()
        .map(|r| (r.error_code, r.configs.len()))
        .collect();
    assert_eq!(
        got,
        [
            (code::UNKNOWN_TOPIC_OR_PARTITION, 0),
            (code::INVALID_TOPIC_EXCEPTION, 0),
            (code::INVALID_REQUEST, 0),
            (code::INVALID_REQUEST, 0),
            (code::INVALID_REQUEST, 0),
            (code::INVALID_REQUEST, 0),
        ]
    );
    let message = |i: usize| {
        response.results[i]
            .error_message
            .as_deref()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        message(2),
        "Unexpected broker id, expected 0 or empty string, but received 7"
    );
    assert_eq!(message(3), "Broker id must be an integer, but it is: zero");
    assert_eq!(message(5), "Unsupported resource type: 99");
    assert_eq!(response.results[5].resource_type, 99);
}

#[test]
fn responses_encode_at_every_served_version() {
    let b = TestBroker::new();
    b.store()
        .create_topic("t", 1, &[("retention.ms", "1")])
        .unwrap();
    let req = DescribeConfigsRequest {
        resources: vec![
            Resource {
                resource_type: resource::TOPIC,
                name: "t".into(),
                keys: None,
            },
            Resource {
                resource_type: resource::BROKER,
                name: "0".into(),
                keys: None,
            },
            Resource {
                resource_type: resource::TOPIC,
                name: "missing".into(),
                keys: None,
            },
        ],
        include_synonyms: true,
    };
    for version in 1..=4 {
        encodes_at(&answer(&b.shared, &req, version), version..=version);
        let read = b.call(
            version,
            &request(vec![res(resource::TOPIC, "t", Some(&["retention.ms"]))]),
        );
        let retention = &read.results[0].configs[0];
        assert_eq!(retention.value.as_deref(), Some("1"), "v{version}");
        let kind = if version >= 3 { kind::LONG } else { 0 };
        assert_eq!(retention.config_type, kind, "v{version}");
    }
}

//! CreatePartitions: topics grown to a new partition count, each new
//! partition with one replica on this node; or, with `validate_only`, the
//! same checks without growing anything.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsResponse, TopicName};
use seglog::store::MAX_PARTITIONS;
use seglog::topic::is_internal_topic;

use std::collections::HashSet;

use super::{check_replicas, duplicate_name, repeated_names, str_bytes, ApiError};
use crate::api::{Context, Outcome};
use crate::codec::{DecodeResult, Reader};
use crate::errors::code;
use crate::Shared;

/// One topic of a CreatePartitions request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Growth {
    /// The topic.
    pub name: String,
    /// The partition count wanted.
    pub count: i32,
    /// The replicas of each new partition, if the client chose them.
    pub assignments: Option<Vec<Vec<i32>>>,
}

/// A CreatePartitions request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePartitionsRequest {
    /// The topics.
    pub topics: Vec<Growth>,
    /// Only check, grow nothing.
    pub validate_only: bool,
}

/// Reads a CreatePartitions request (versions 0 to 3).
pub fn decode(body: &mut Reader) -> DecodeResult<CreatePartitionsRequest> {
    let topics = body.array(|r| {
        let name = r.string()?;
        let count = r.i32()?;
        let assignments = r.nullable_array(|r| {
            let replicas = r.array(|r| r.i32())?;
            r.tagged_fields()?;
            Ok(replicas)
        })?;
        r.tagged_fields()?;
        Ok(Growth {
            name,
            count,
            assignments,
        })
    })?;
    let _timeout_ms = body.i32()?;
    let validate_only = body.bool()?;
    body.tagged_fields()?;
    body.finish()?;
    Ok(CreatePartitionsRequest {
        topics,
        validate_only,
    })
}

/// CreatePartitions.
pub fn handle(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let request = decode(body)?;
    Ok(ctx.respond(&answer(ctx.shared, &request)))
}

/// Grows (or checks) each topic; a name given twice gets
/// `INVALID_REQUEST` first and is not grown, as Kafka answers.
pub fn answer(shared: &Shared, request: &CreatePartitionsRequest) -> CreatePartitionsResponse {
    let twice = repeated_names(request.topics.iter().map(|t| t.name.as_str()));
    let mut response = CreatePartitionsResponse::default();
    for &name in &twice {
        response.results.push(result(name, Err(duplicate_name())));
    }
    let skip: HashSet<&str> = twice.into_iter().collect();
    for growth in request
        .topics
        .iter()
        .filter(|t| !skip.contains(t.name.as_str()))
    {
        let outcome = check(shared, growth).and_then(|total| {
            if request.validate_only {
                return Ok(());
            }
            shared
                .store
                .add_partitions(&growth.name, total)
                .map_err(|e| ApiError::from_store(&e))
        });
        response.results.push(result(&growth.name, outcome));
    }
    response
}

/// Kafka's checks, in Kafka's order; the new total on success.
fn check(shared: &Shared, growth: &Growth) -> Result<u32, ApiError> {
    let name = growth.name.as_str();
    let description = shared
        .store
        .describe_topic(name)
        .map_err(|e| ApiError::from_store(&e))?;
    if is_internal_topic(name) {
        return Err(ApiError::new(
            code::INVALID_TOPIC_EXCEPTION,
            format!("The internal topic {name} cannot be grown: its partition count places every group."),
        ));
    }
    let current = description.partitions.len();
    let count = usize::try_from(growth.count).unwrap_or(0);
    if count == current {
        return Err(ApiError::new(
            code::INVALID_PARTITIONS,
            format!("Topic already has {current} partition(s)."),
        ));
    }
    if count < current {
        return Err(ApiError::new(
            code::INVALID_PARTITIONS,
            format!(
                "The topic {name} currently has {current} partition(s); {} would not be an increase.",
                growth.count
            ),
        ));
    }
    let additional = count - current;
    if let Some(assignments) = &growth.assignments {
        if assignments.len() != additional {
            return Err(ApiError::new(
                code::INVALID_REPLICA_ASSIGNMENT,
                format!(
                    "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
                    assignments.len()
                ),
            ));
        }
        for replicas in assignments {
            check_replicas(shared.config.node_id, replicas, Some(1))?;
        }
    }
    match u32::try_from(count) {
        Ok(total) if total <= MAX_PARTITIONS => Ok(total),
        _ => Err(ApiError::new(
            code::INVALID_PARTITIONS,
            format!("{count} partitions: a topic has at most {MAX_PARTITIONS} partitions"),
        )),
    }
}

fn result(name: &str, outcome: Result<(), ApiError>) -> CreatePartitionsTopicResult {
    let mut r = CreatePartitionsTopicResult::default();
    r.name = TopicName(str_bytes(name));
    if let Err(e) = outcome {
        r.error_code = e.code;
        r.error_message = e.message();
    }
    r
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafka_protocol::messages::create_partitions_request::{
        CreatePartitionsAssignment, CreatePartitionsTopic,
    };
    use kafka_protocol::messages::{BrokerId, CreatePartitionsRequest as Wire};
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::api::admin::testing::{encoded, encodes_at, TestBroker};

    fn grow(name: &str, count: i32, assignments: Option<&[&[i32]]>) -> CreatePartitionsTopic {
        CreatePartitionsTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_count(count)
            .with_assignments(assignments.map(|a| {
                a.iter()
                    .map(|replicas| {
                        CreatePartitionsAssignment::default()
                            .with_broker_ids(replicas.iter().map(|&r| BrokerId(r)).collect())
                    })
                    .collect()
            }))
    }

    fn request(topics: Vec<CreatePartitionsTopic>) -> Wire {
        Wire::default().with_topics(topics).with_timeout_ms(1000)
    }

    fn codes(r: &CreatePartitionsResponse) -> Vec<(String, i16)> {
        r.results
            .iter()
            .map(|t| (t.name.0.to_string(), t.error_code))
            .collect()
    }

    fn partitions(b: &TestBroker, topic: &str) -> usize {
        b.store().describe_topic(topic).unwrap().partitions.len()
    }

    #[test]
    fn decodes_what_kafka_protocol_encodes_classic_and_flexible() {
        let wire = request(vec![grow("a", 3, None), grow("b", 2, Some(&[&[0, 1]]))])
            .with_validate_only(true);
        let expected = CreatePartitionsRequest {
            topics: vec![
                Growth {
                    name: "a".into(),
                    count: 3,
                    assignments: None,
                },
                Growth {
                    name: "b".into(),
                    count: 2,
                    assignments: Some(vec![vec![0, 1]]),
                },
            ],
            validate_only: true,
        };
        for version in [1, 2] {
            let mut r = Reader::new(encoded(&wire, version), version >= 2);
            assert_eq!(decode(&mut r).unwrap(), expected, "v{version}");
        }
        let tagged = wire.with_unknown_tagged_field(1, Bytes::from_static(b"?"));
        let mut r = Reader::new(encoded(&tagged, 3), true);
        assert_eq!(decode(&mut r).unwrap(), expected);
        let body = encoded(&request(vec![grow("a", 2, None)]), 2);
        let why = TestBroker::new().refused::<Wire>(2, body.slice(..body.len() - 3));
        assert!(why.contains("CreatePartitions v2"), "{why}");
    }

    #[test]
    fn grows_topics_and_validate_only_grows_nothing() {
        let b = TestBroker::with_config(|c| c.node_id = 2);
        b.store().create_topic("t", 1, &[]).unwrap();
        b.store().create_topic("u", 1, &[]).unwrap();
        let response = b.call(
            3,
            &request(vec![grow("t", 3, None), grow("u", 2, Some(&[&[2]]))]),
        );
        assert_eq!(codes(&response), [("t".into(), 0), ("u".into(), 0)]);
        assert_eq!(response.results[0].error_message, None);
        assert_eq!((partitions(&b, "t"), partitions(&b, "u")), (3, 2));
        let response = b.call(
            0,
            &request(vec![grow("t", 5, None)]).with_validate_only(true),
        );
        assert_eq!(codes(&response), [("t".into(), 0)]);
        assert_eq!(partitions(&b, "t"), 3);
    }

    #[test]
    fn refusals_get_kafkas_codes_and_messages() {
        let b = TestBroker::new();
        b.store().create_topic("t", 2, &[]).unwrap();
        let response = b.call(
            2,
            &request(vec![
                grow("missing", 2, None),
                grow("t", 2, None),
                grow("t", 1, None),
                grow("t", 4, Some(&[&[0]])),
                grow("t", 3, Some(&[&[1]])),
                grow("t", 3, Some(&[&[0, 0]])),
                grow("t", 300_000, None),
            ]),
        );
        // "t" is given more than once: refused first, and only once.
        assert_eq!(
            codes(&response),
            [
                ("t".into(), code::INVALID_REQUEST),
                ("missing".into(), code::UNKNOWN_TOPIC_OR_PARTITION)
            ]
        );
        let one = |g: CreatePartitionsTopic| {
            let r = b.call(2, &request(vec![g]));
            let t = &r.results[0];
            (
                t.error_code,
                t.error_message.as_deref().unwrap().to_string(),
            )
        };
        assert_eq!(
            one(grow("t", 2, None)),
            (
                code::INVALID_PARTITIONS,
                "Topic already has 2 partition(s).".into()
            )
        );
        assert_eq!(
            one(grow("t", 1, None)),
            (
                code::INVALID_PARTITIONS,
                "The topic t currently has 2 partition(s); 1 would not be an increase.".into()
            )
        );
        let (c, m) = one(grow("t", 4, Some(&[&[0]])));
        assert_eq!(c, code::INVALID_REPLICA_ASSIGNMENT);
        assert!(
            m.contains("add 2 additional partition(s), but only 1"),
            "{m}"
        );
        assert_eq!(
            one(grow("t", 3, Some(&[&[1]]))).0,
            code::INVALID_REPLICA_ASSIGNMENT
        );
        assert_eq!(
            one(grow("t", 3, Some(&[&[0, 0]]))).0,
            code::INVALID_REPLICA_ASSIGNMENT
        );
        assert_eq!(one(grow("t", 300_000, None)).0, code::INVALID_PARTITIONS);
        assert_eq!(one(grow("t", -1, None)).0, code::INVALID_PARTITIONS);
        assert_eq!(partitions(&b, "t"), 2);
    }

    #[test]
    fn responses_encode_at_every_served_version() {
        let b = TestBroker::new();
        b.store().create_topic("t", 1, &[]).unwrap();
        for version in 0..=3 {
            let req = CreatePartitionsRequest {
                topics: vec![Growth {
                    name: "missing".into(),
                    count: 2,
                    assignments: None,
                }],
                validate_only: false,
            };
            encodes_at(&answer(&b.shared, &req), version..=version);
            let read = b.call(
                version,
                &request(vec![grow("t", 2 + i32::from(version), None)]),
            );
            assert_eq!(codes(&read), [("t".into(), 0)], "v{version}");
        }
    }
}

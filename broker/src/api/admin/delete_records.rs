//! DeleteRecords: a partition's log start offset raised to a given
//! offset (or to the high watermark), so that records below it are no
//! longer read and segments wholly below it are deleted.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsResponse, TopicName};
use seglog::topic::is_internal_topic;

use super::str_bytes;
use crate::api::{Context, Outcome};
use crate::codec::{DecodeResult, Reader};
use crate::errors::{code, error_code};
use crate::Shared;

/// The offset that means the high watermark.
const HIGH_WATERMARK: i64 = -1;

/// A DeleteRecords request: per topic, (partition, offset) pairs.
pub type DeleteRecordsRequest = Vec<(String, Vec<(i32, i64)>)>;

/// Reads a DeleteRecords request (versions 0 to 2).
pub fn decode(body: &mut Reader) -> DecodeResult<DeleteRecordsRequest> {
    let topics = body.topic_partitions(|r| {
        let partition = r.i32()?;
        let offset = r.i64()?;
        Ok((partition, offset))
    })?;
    let _timeout_ms = body.i32()?;
    body.tagged_fields()?;
    body.finish()?;
    Ok(topics)
}

/// DeleteRecords.
pub fn handle(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let request = decode(body)?;
    Ok(ctx.respond(&answer(ctx.shared, &request)))
}

/// Deletes the records below each offset; each partition's answer is its
/// new low watermark (log start offset), or an error and -1.
pub fn answer(shared: &Shared, request: &DeleteRecordsRequest) -> DeleteRecordsResponse {
    let mut response = DeleteRecordsResponse::default();
    for (name, partitions) in request {
        let mut topic = DeleteRecordsTopicResult::default();
        topic.name = TopicName(str_bytes(name));
        for &(partition, offset) in partitions {
            let mut p = DeleteRecordsPartitionResult::default();
            p.partition_index = partition;
            match delete(shared, name, partition, offset) {
                Ok(low_watermark) => p.low_watermark = low_watermark,
                Err(e) => {
                    p.error_code = e;
                    p.low_watermark = -1;
                }
            }
            topic.partitions.push(p);
        }
        response.topics.push(topic);
    }
    response
}

/// Kafka's checks (`ReplicaManager.deleteRecordsOnLocalLog`,
/// `Partition.deleteRecordsOnLeader`): not an internal topic, a known
/// partition, a policy that deletes, an offset from 0 to the high
/// watermark.
fn delete(shared: &Shared, topic: &str, partition: i32, offset: i64) -> Result<i64, i16> {
    if is_internal_topic(topic) {
        return Err(code::INVALID_TOPIC_EXCEPTION);
    }
    let partition = u32::try_from(partition).map_err(|_| code::UNKNOWN_TOPIC_OR_PARTITION)?;
    let log = shared
        .store
        .partition(topic, partition)
        .map_err(|e| error_code(&e))?;
    if !log.config().cleanup_policy.deletes() {
        return Err(code::POLICY_VIOLATION);
    }
    let offset = if offset == HIGH_WATERMARK {
        log.log_end_offset()
    } else {
        u64::try_from(offset).map_err(|_| code::OFFSET_OUT_OF_RANGE)?
    };
    let low_watermark = shared
        .store
        .delete_records(topic, partition, offset)
        .map_err(|e| error_code(&e))?;
    Ok(i64::try_from(low_watermark).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    use kafka_protocol::messages::DeleteRecordsRequest as Wire;
    use kafka_protocol::protocol::StrBytes;
    use seglog::Record;

    use super::*;
    use crate::api::admin::testing::{encoded, encodes_at, TestBroker};

    fn request(topics: &[(&str, &[(i32, i64)])]) -> Wire {
        Wire::default()
            .with_topics(
                topics
                    .iter()
                    .map(|(name, partitions)| {
                        DeleteRecordsTopic::default()
                            .with_name(TopicName(StrBytes::from_string(name.to_string())))
                            .with_partitions(
                                partitions
                                    .iter()
                                    .map(|&(p, o)| {
                                        DeleteRecordsPartition::default()
                                            .with_partition_index(p)
                                            .with_offset(o)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
            .with_timeout_ms(1000)
    }

    /// (partition, low watermark, error) of every answer.
    fn results(r: &DeleteRecordsResponse) -> Vec<(i32, i64, i16)> {
        r.topics
            .iter()
            .flat_map(|t| &t.partitions)
            .map(|p| (p.partition_index, p.low_watermark, p.error_code))
            .collect()
    }

    fn fill(b: &TestBroker, topic: &str, partitions: u32, records: usize) {
        b.store().create_topic(topic, partitions, &[]).unwrap();
        for p in 0..partitions {
            let log = b.store().partition(topic, p).unwrap();
            for i in 0..records {
                log.append(&[Record::new(format!("v{i}"))]).unwrap();
            }
        }
    }

    #[test]
    fn decodes_what_kafka_protocol_encodes_classic_and_flexible() {
        let wire = request(&[("a", &[(0, 5), (1, -1)]), ("b", &[])]);
        let expected: DeleteRecordsRequest =
            vec![("a".into(), vec![(0, 5), (1, -1)]), ("b".into(), vec![])];
        for version in [1, 2] {
            let mut r = Reader::new(encoded(&wire, version), version >= 2);
            assert_eq!(decode(&mut r).unwrap(), expected, "v{version}");
        }
        let tagged = wire.with_unknown_tagged_field(0, Bytes::from_static(b"."));
        let mut r = Reader::new(encoded(&tagged, 2), true);
        assert_eq!(decode(&mut r).unwrap(), expected);
        let body = encoded(&request(&[("a", &[(0, 1)])]), 0);
        let why = TestBroker::new().refused::<Wire>(0, body.slice(..body.len() - 5));
        assert!(why.contains("DeleteRecords v0"), "{why}");
    }

    #[test]
    fn raises_the_low_watermark_and_minus_one_means_the_high_watermark() {
        let b = TestBroker::new();
        fill(&b, "t", 2, 10);
        let response = b.call(2, &request(&[("t", &[(0, 4), (1, -1)])]));
        assert_eq!(results(&response), [(0, 4, 0), (1, 10, 0)]);
        assert_eq!(b.store().partition("t", 0).unwrap().log_start_offset(), 4);
        assert_eq!(b.store().partition("t", 1).unwrap().log_start_offset(), 10);
        // Lower than the low watermark: nothing moves, the answer says where it is.
        let response = b.call(0, &request(&[("t", &[(0, 2)])]));
        assert_eq!(results(&response), [(0, 4, 0)]);
    }

    #[test]
    fn refusals_get_kafkas_codes() {
        let b = TestBroker::new();
        fill(&b, "t", 1, 3);
        b.store()
            .create_topic("compacted", 1, &[("cleanup.policy", "compact")])
            .unwrap();
        let response = b.call(
            1,
            &request(&[
                ("t", &[(0, 4), (0, -2), (1, 0), (-1, 0)]),
                ("missing", &[(0, 0)]),
                ("compacted", &[(0, 0)]),
                ("__consumer_offsets", &[(0, 0)]),
            ]),
        );
        assert_eq!(
            results(&response),
            [
                (0, -1, code::OFFSET_OUT_OF_RANGE),
                (0, -1, code::OFFSET_OUT_OF_RANGE),
                (1, -1, code::UNKNOWN_TOPIC_OR_PARTITION),
                (-1, -1, code::UNKNOWN_TOPIC_OR_PARTITION),
                (0, -1, code::UNKNOWN_TOPIC_OR_PARTITION),
                (0, -1, code::POLICY_VIOLATION),
                (0, -1, code::INVALID_TOPIC_EXCEPTION),
            ]
        );
        assert_eq!(b.store().partition("t", 0).unwrap().log_start_offset(), 0);
    }

    #[test]
    fn responses_encode_at_every_served_version() {
        let b = TestBroker::new();
        fill(&b, "t", 1, 3);
        for version in 0..=2 {
            let req: DeleteRecordsRequest = vec![("missing".into(), vec![(0, 1)])];
            encodes_at(&answer(&b.shared, &req), version..=version);
            let read = b.call(version, &request(&[("t", &[(0, i64::from(version))])]));
            assert_eq!(results(&read), [(0, i64::from(version), 0)], "v{version}");
        }
    }
}

//! ListOffsets: the earliest and latest offsets, the offset for a
//! timestamp, and the record with the largest timestamp.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{Context, Outcome};
use crate::codec::{DecodeResult, Reader};
use crate::errors::{code, error_code};

/// Kafka's special timestamps.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;
const EARLIEST_PENDING_UPLOAD: i64 = -6;

/// Each special timestamp with the first version that may ask for it
/// (Kafka's `ReplicaManager.timestampMinSupportedVersion`).
const SPECIAL: [(i64, i16); 6] = [
    (LATEST, 1),
    (EARLIEST, 1),
    (MAX_TIMESTAMP, 7),
    (EARLIEST_LOCAL, 8),
    (LATEST_TIERED, 9),
    (EARLIEST_PENDING_UPLOAD, 11),
];

/// Whether version `v` may not ask for `timestamp`: a special timestamp
/// below its first version, or a negative one that is not special
/// (Kafka's `ReplicaManager.isListOffsetsTimestampUnsupported`).
fn unsupported(timestamp: i64, v: i16) -> bool {
    timestamp < 0
        && !SPECIAL
            .iter()
            .any(|&(special, min)| special == timestamp && v >= min)
}

/// ListOffsets.
pub fn handle(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let v = ctx.version();
    let _replica_id = body.i32()?;
    if v >= 2 {
        let _isolation_level = body.i8()?;
    }
    let topics = body.topic_partitions(|r| {
        let partition = r.i32()?;
        if v >= 4 {
            let _current_leader_epoch = r.i32()?;
        }
        let timestamp = r.i64()?;
        Ok((partition, timestamp))
    })?;
    body.tagged_fields()?;
    body.finish()?;

    let mut response = ListOffsetsResponse::default();
    for (name, partitions) in topics {
        let mut topic = ListOffsetsTopicResponse::default();
        topic.name = TopicName(StrBytes::from_string(name.clone()));
        for (partition, timestamp) in partitions {
            let found = lookup(ctx, &name, partition, timestamp);
            topic
                .partitions
                .push(partition_response(v, partition, found));
        }
        response.topics.push(topic);
    }
    Ok(ctx.respond(&response))
}

/// One partition's answer at version `v`: (timestamp, offset) or an
/// error code.
fn partition_response(
    v: i16,
    partition: i32,
    found: Result<(i64, i64), i16>,
) -> ListOffsetsPartitionResponse {
    let mut out = ListOffsetsPartitionResponse::default();
    out.partition_index = partition;
    match found {
        Ok((timestamp, offset)) => {
            out.timestamp = timestamp;
            out.offset = offset;
            // Versions before 4 have no leader epoch: it stays at its
            // default, which the encoder requires of a missing field.
            if v >= 4 && offset >= 0 {
                out.leader_epoch = 0;
            }
        }
        Err(error) => {
            out.error_code = error;
            out.timestamp = -1;
            out.offset = -1;
        }
    }
    out
}

/// (timestamp, offset) for one partition; -1, -1 when no record is at or
/// after the timestamp. A timestamp the version may not ask for gets
/// UNSUPPORTED_VERSION before the partition is looked up, as in Kafka.
fn lookup(
    ctx: &Context<'_>,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> Result<(i64, i64), i16> {
    if unsupported(timestamp, ctx.version()) {
        return Err(code::UNSUPPORTED_VERSION);
    }
    let partition = u32::try_from(partition).map_err(|_| code::UNKNOWN_TOPIC_OR_PARTITION)?;
    let log = ctx
        .shared
        .store
        .partition(topic, partition)
        .map_err(|e| error_code(&e))?;
    let found = match timestamp {
        LATEST => (-1, log.log_end_offset() as i64),
        // All of a partition is local: its earliest local offset is its
        // earliest.
        EARLIEST | EARLIEST_LOCAL => (-1, log.log_start_offset() as i64),
        // Without tiered storage nothing is tiered: Kafka answers -1, -1.
        LATEST_TIERED => (-1, -1),
        MAX_TIMESTAMP => match log.max_timestamp().map_err(|e| error_code(&e))? {
            Some(t) => (t.timestamp, t.offset as i64),
            None => (-1, -1),
        },
        // Not special, or unsupported at every served version: refused above.
        t if t < 0 => return Err(code::UNSUPPORTED_VERSION),
        t => match log.offset_for_timestamp(t).map_err(|e| error_code(&e))? {
            Some(t) => (t.timestamp, t.offset as i64),
            None => (-1, -1),
        },
    };
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn each_special_timestamp_is_supported_from_its_first_version() {
        let firsts = [
            (LATEST, 1),
            (EARLIEST, 1),
            (MAX_TIMESTAMP, 7),
            (EARLIEST_LOCAL, 8),
            (LATEST_TIERED, 9),
            (EARLIEST_PENDING_UPLOAD, 11),
        ];
        for (timestamp, first) in firsts {
            assert!(
                unsupported(timestamp, first - 1),
                "{timestamp} at v{}",
                first - 1
            );
            assert!(!unsupported(timestamp, first), "{timestamp} at v{first}");
            assert!(
                !unsupported(timestamp, i16::MAX),
                "{timestamp} at the last version"
            );
        }
        for timestamp in [-7, -100, i64::MIN] {
            for v in 0..=11 {
                assert!(unsupported(timestamp, v), "{timestamp} at v{v}");
            }
        }
        for timestamp in [0, 1, i64::MAX] {
            assert!(!unsupported(timestamp, 0), "{timestamp}");
        }
    }

    #[test]
    fn responses_encode_at_every_served_version() {
        let spec = crate::api::served(crate::api::key::LIST_OFFSETS).unwrap();
        for v in spec.min..=spec.max {
            let mut topic = ListOffsetsTopicResponse::default();
            topic.name = TopicName(StrBytes::from_static_str("t"));
            topic.partitions = vec![
                partition_response(v, 0, Ok((-1, 7))),
                partition_response(v, 1, Ok((1_000, 3))),
                partition_response(v, 2, Ok((-1, -1))),
                partition_response(v, 3, Err(code::UNKNOWN_TOPIC_OR_PARTITION)),
            ];
            let mut response = ListOffsetsResponse::default();
            response.topics = vec![topic];
            let mut buf = BytesMut::new();
            response
                .encode(&mut buf, v)
                .unwrap_or_else(|e| panic!("v{v}: {e}"));
            let epoch = response.topics[0].partitions[0].leader_epoch;
            assert_eq!(epoch, if v >= 4 { 0 } else { -1 }, "v{v}");
        }
    }
}

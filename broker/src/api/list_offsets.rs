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
const EARLIEST_PENDING_UPLOAD: i64 = -5;

/// ListOffsets.
pub fn handle(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let v = ctx.version();
    let _replica_id = body.i32()?;
    if v >= 2 {
        let _isolation_level = body.i8()?;
    }
    let topics = body.array(|r| {
        let name = r.string()?;
        let partitions = r.array(|r| {
            let partition = r.i32()?;
            if v >= 4 {
                let _current_leader_epoch = r.i32()?;
            }
            let timestamp = r.i64()?;
            r.tagged_fields()?;
            Ok((partition, timestamp))
        })?;
        r.tagged_fields()?;
        Ok((name, partitions))
    })?;
    body.tagged_fields()?;
    body.finish()?;

    let mut response = ListOffsetsResponse::default();
    for (name, partitions) in topics {
        let mut topic = ListOffsetsTopicResponse::default();
        topic.name = TopicName(StrBytes::from_string(name.clone()));
        for (partition, timestamp) in partitions {
            let mut out = ListOffsetsPartitionResponse::default();
            out.partition_index = partition;
            match lookup(ctx, &name, partition, timestamp) {
                Ok((ts, offset)) => {
                    out.timestamp = ts;
                    out.offset = offset;
                    out.leader_epoch = if offset >= 0 { 0 } else { -1 };
                }
                Err(error) => {
                    out.error_code = error;
                    out.timestamp = -1;
                    out.offset = -1;
                }
            }
            topic.partitions.push(out);
        }
        response.topics.push(topic);
    }
    Ok(ctx.respond(&response))
}

/// (timestamp, offset) for one partition; -1, -1 when no record is at or
/// after the timestamp.
fn lookup(
    ctx: &Context<'_>,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> Result<(i64, i64), i16> {
    let partition = u32::try_from(partition).map_err(|_| code::UNKNOWN_TOPIC_OR_PARTITION)?;
    let log = ctx
        .shared
        .store
        .partition(topic, partition)
        .map_err(|e| error_code(&e))?;
    let found = match timestamp {
        LATEST => (-1, log.log_end_offset() as i64),
        EARLIEST | EARLIEST_LOCAL | EARLIEST_PENDING_UPLOAD => (-1, log.log_start_offset() as i64),
        MAX_TIMESTAMP if ctx.version() >= 7 => {
            match log.max_timestamp().map_err(|e| error_code(&e))? {
                Some(t) => (t.timestamp, t.offset as i64),
                None => (-1, -1),
            }
        }
        t if t >= 0 => match log.offset_for_timestamp(t).map_err(|e| error_code(&e))? {
            Some(t) => (t.timestamp, t.offset as i64),
            None => (-1, -1),
        },
        _ => return Err(code::INVALID_REQUEST),
    };
    Ok(found)
}

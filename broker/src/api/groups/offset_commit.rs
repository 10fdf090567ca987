//! OffsetCommit: a group's consumers (or an administrator) commit the
//! next offsets to consume.
//!
//! Each partition is checked first, as Kafka checks it: a partition the
//! store does not have gets `UNKNOWN_TOPIC_OR_PARTITION`, metadata over
//! `offset.metadata.max.bytes` gets `OFFSET_METADATA_TOO_LARGE`, and a
//! negative offset (which the store cannot keep) `OFFSET_OUT_OF_RANGE`.
//! The rest are committed together: generation -1 with an empty member id
//! is a commit from outside the group's membership (a simple consumer's,
//! allowed while the group has no members); any other is checked against
//! the group's members and generation. A refusal of the commit is every
//! remaining partition's error.
//!
//! `retention_time_ms` (versions 2 to 4) is read and not applied: the
//! store expires a group's offsets after `offsets.retention.minutes`, as
//! Kafka does for clients that leave it at -1, which they all do.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitResponse, TopicName};
use seglog::offsets::OffsetAndMetadata;
use seglog::{Error, GroupErrorKind, TopicPartition};

use super::{group_error_code, text};
use crate::api::{Context, Outcome};
use crate::codec::{DecodeResult, Reader};
use crate::errors::{code, error_code};

/// An OffsetCommit request's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    group_id: String,
    generation_id: i32,
    member_id: String,
    group_instance_id: Option<String>,
    topics: Vec<(String, Vec<Partition>)>,
}

/// One partition's commit.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Partition {
    index: i32,
    offset: i64,
    /// -1 when not given.
    leader_epoch: i32,
    metadata: Option<String>,
}

fn decode(body: &mut Reader, v: i16) -> DecodeResult<Request> {
    let group_id = body.string()?;
    let generation_id = body.i32()?;
    let member_id = body.string()?;
    let group_instance_id = if v >= 7 {
        body.nullable_string()?
    } else {
        None
    };
    if v <= 4 {
        let _retention_time_ms = body.i64()?;
    }
    let topics = body.topic_partitions(|r| {
        let index = r.i32()?;
        let offset = r.i64()?;
        let leader_epoch = if v >= 6 { r.i32()? } else { -1 };
        let metadata = r.nullable_string()?;
        Ok(Partition {
            index,
            offset,
            leader_epoch,
            metadata,
        })
    })?;
    body.tagged_fields()?;
    body.finish()?;
    Ok(Request {
        group_id,
        generation_id,
        member_id,
        group_instance_id,
        topics,
    })
}

/// OffsetCommit.
pub fn handle(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let v = ctx.version();
    let request = decode(body, v)?;
    let codes = commit(ctx, v, &request);
    Ok(ctx.respond(&response(&request, &codes)))
}

/// Checks and commits; returns each partition's error code, in the
/// request's order.
fn commit(ctx: &Context<'_>, v: i16, request: &Request) -> Vec<Vec<i16>> {
    let store = &ctx.shared.store;
    let max_metadata = store.config().groups.offset_metadata_max_bytes as usize;
    let mut codes = Vec::with_capacity(request.topics.len());
    // Where each commit's code goes.
    let mut pending: Vec<(usize, usize)> = Vec::new();
    let mut commits = Vec::new();
    for (t, (topic, partitions)) in request.topics.iter().enumerate() {
        let mut topic_codes = Vec::with_capacity(partitions.len());
        for (p, partition) in partitions.iter().enumerate() {
            let tp = u32::try_from(partition.index)
                .map_err(|_| code::UNKNOWN_TOPIC_OR_PARTITION)
                .and_then(|index| {
                    store
                        .partition(topic, index)
                        .map(|_| TopicPartition::new(topic.as_str(), index))
                        .map_err(|e| error_code(&e))
                });
            let metadata = partition.metadata.clone().unwrap_or_default();
            let checked = tp.and_then(|tp| {
                if metadata.len() > max_metadata {
                    return Err(code::OFFSET_METADATA_TOO_LARGE);
                }
                let offset =
                    u64::try_from(partition.offset).map_err(|_| code::OFFSET_OUT_OF_RANGE)?;
                let mut value = OffsetAndMetadata::new(offset).with_metadata(metadata);
                value.leader_epoch =
                    (partition.leader_epoch >= 0).then_some(partition.leader_epoch);
                Ok((tp, value))
            });
            match checked {
                Ok(commit) => {
                    pending.push((t, p));
                    commits.push(commit);
                    topic_codes.push(code::NONE);
                }
                Err(error) => topic_codes.push(error),
            }
        }
        codes.push(topic_codes);
    }
    // Kafka answers a commit of no valid partition without asking the
    // group.
    if commits.is_empty() {
        return codes;
    }
    let simple = request.generation_id < 0
        && request.member_id.is_empty()
        && request.group_instance_id.is_none();
    let committed = if simple {
        store.commit_offsets(&request.group_id, &commits)
    } else {
        store.commit_member_offsets(
            &request.group_id,
            &request.member_id,
            request.generation_id,
            request.group_instance_id.as_deref(),
            &commits,
        )
    };
    if let Err(e) = committed {
        let error = commit_error_code(v, &e);
        for (t, p) in pending {
            codes[t][p] = error;
        }
    }
    codes
}

/// A refused commit's code. A generation for a group that does not exist
/// is `GROUP_ID_NOT_FOUND` from version 9, and `ILLEGAL_GENERATION` before
/// it, as Kafka answers older clients.
fn commit_error_code(v: i16, e: &Error) -> i16 {
    match e {
        Error::Group {
            kind: GroupErrorKind::GroupIdNotFound,
            ..
        } if v < 9 => code::ILLEGAL_GENERATION,
        other => group_error_code(other),
    }
}

fn response(request: &Request, codes: &[Vec<i16>]) -> OffsetCommitResponse {
    let mut r = OffsetCommitResponse::default();
    r.topics = request
        .topics
        .iter()
        .zip(codes)
        .map(|((name, partitions), codes)| {
            let mut topic = OffsetCommitResponseTopic::default();
            topic.name = TopicName(text(name.as_str()));
            topic.partitions = partitions
                .iter()
                .zip(codes)
                .map(|(p, &error)| {
                    let mut out = OffsetCommitResponsePartition::default();
                    out.partition_index = p.index;
                    out.error_code = error;
                    out
                })
                .collect();
            topic
        })
        .collect();
    r
}

#[cfg(test)]
#[path = "offset_commit_tests.rs"]
mod tests;

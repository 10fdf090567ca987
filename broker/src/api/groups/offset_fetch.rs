//! OffsetFetch: a group's committed offsets, for the partitions asked or
//! (null topics, version 2 and later) every partition it committed.
//!
//! A partition without a commit gets offset -1 and empty metadata, without
//! an error, as Kafka answers. A group's error (an empty group id, a closed
//! store) is the response's from version 2, each group's from version 8,
//! and each partition's in version 1. `require_stable` asks to wait for
//! pending transactional commits; the broker has no transactions, so it
//! changes nothing.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchResponse, TopicName};
use seglog::store::LogStore;
use seglog::{Error, GroupErrorKind, TopicPartition};

use super::{group_error_code, text};
use crate::api::{Context, Outcome};
use crate::codec::{DecodeResult, Reader};
use crate::errors::code;

/// The partitions asked of one group; `None` for all it committed.
type Topics = Option<Vec<(String, Vec<i32>)>>;

/// One group asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupRequest {
    group_id: String,
    topics: Topics,
}

fn decode_topic(r: &mut Reader) -> DecodeResult<(String, Vec<i32>)> {
    let name = r.string()?;
    let partitions = r.array(|r| r.i32())?;
    r.tagged_fields()?;
    Ok((name, partitions))
}

fn decode(body: &mut Reader, v: i16) -> DecodeResult<Vec<GroupRequest>> {
    let groups = if v <= 7 {
        let group_id = body.string()?;
        // Version 1 has no null: it always names its partitions.
        let topics = if v == 1 {
            Some(body.array(decode_topic)?)
        } else {
            body.nullable_array(decode_topic)?
        };
        vec![GroupRequest { group_id, topics }]
    } else {
        body.array(|r| {
            let group_id = r.string()?;
            if v >= 9 {
                let _member_id = r.nullable_string()?;
                let _member_epoch = r.i32()?;
            }
            let topics = r.nullable_array(decode_topic)?;
            r.tagged_fields()?;
            Ok(GroupRequest { group_id, topics })
        })?
    };
    if v >= 7 {
        let _require_stable = body.bool()?;
    }
    body.tagged_fields()?;
    body.finish()?;
    Ok(groups)
}

/// OffsetFetch.
pub fn handle(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let v = ctx.version();
    let groups = decode(body, v)?;
    let answers: Vec<GroupOffsets> = groups
        .into_iter()
        .map(|g| fetch(&ctx.shared.store, g))
        .collect();
    Ok(ctx.respond(&response(v, answers)))
}

/// A partition's committed offset as the response carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Offset {
    partition: i32,
    /// -1 for none.
    offset: i64,
    /// -1 for none.
    leader_epoch: i32,
    metadata: String,
}

impl Offset {
    fn none(partition: i32) -> Self {
        Offset {
            partition,
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
        }
    }
}

/// One group's answer: its error, and its offsets by topic.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupOffsets {
    group_id: String,
    error: i16,
    topics: Vec<(String, Vec<Offset>)>,
}

fn fetch(store: &LogStore, request: GroupRequest) -> GroupOffsets {
    let group_id = request.group_id;
    let topics = match request.topics {
        Some(topics) => asked(store, &group_id, topics),
        None => all(store, &group_id),
    };
    match topics {
        Ok(topics) => GroupOffsets {
            group_id,
            error: code::NONE,
            topics,
        },
        Err((error, topics)) => GroupOffsets {
            group_id,
            error,
            topics,
        },
    }
}

/// The offsets of the partitions asked; on a group error, the partitions
/// without offsets (version 1 reports the error on each).
type Fetched = Result<Vec<(String, Vec<Offset>)>, (i16, Vec<(String, Vec<Offset>)>)>;

fn asked(store: &LogStore, group: &str, topics: Vec<(String, Vec<i32>)>) -> Fetched {
    // A negative partition has no commit; only the others are looked up.
    let partitions: Vec<TopicPartition> = topics
        .iter()
        .flat_map(|(name, ps)| {
            ps.iter().filter_map(move |&p| {
                u32::try_from(p)
                    .ok()
                    .map(|p| TopicPartition::new(name.as_str(), p))
            })
        })
        .collect();
    let committed = match store.committed_offsets(group, &partitions) {
        Ok(c) => c,
        Err(e) => {
            let none = topics
                .into_iter()
                .map(|(name, ps)| (name, ps.into_iter().map(Offset::none).collect()))
                .collect();
            return Err((group_error_code(&e), none));
        }
    };
    let mut committed = committed.into_iter();
    Ok(topics
        .into_iter()
        .map(|(name, ps)| {
            let offsets = ps
                .into_iter()
                .map(|p| {
                    let c = if p >= 0 {
                        committed.next().flatten()
                    } else {
                        None
                    };
                    match c {
                        Some(c) => Offset {
                            partition: p,
                            offset: i64::try_from(c.offset).unwrap_or(i64::MAX),
                            leader_epoch: c.leader_epoch.unwrap_or(-1),
                            metadata: c.metadata,
                        },
                        None => Offset::none(p),
                    }
                })
                .collect();
            (name, offsets)
        })
        .collect())
}

/// Every partition the group has committed, by topic.
fn all(store: &LogStore, group: &str) -> Fetched {
    let described = match store.describe_group(group) {
        Ok(d) => d,
        Err(Error::Group {
            kind: GroupErrorKind::GroupIdNotFound,
            ..
        }) => return Ok(Vec::new()),
        Err(e) => return Err((group_error_code(&e), Vec::new())),
    };
    let mut topics: BTreeMap<String, Vec<Offset>> = BTreeMap::new();
    for p in described.partitions {
        let Some(c) = p.committed else { continue };
        let (Ok(partition), Ok(offset)) = (
            i32::try_from(p.partition.partition),
            i64::try_from(c.offset),
        ) else {
            continue;
        };
        topics.entry(p.partition.topic).or_default().push(Offset {
            partition,
            offset,
            leader_epoch: c.leader_epoch.unwrap_or(-1),
            metadata: c.metadata,
        });
    }
    Ok(topics.into_iter().collect())
}

fn response(v: i16, groups: Vec<GroupOffsets>) -> OffsetFetchResponse {
    let mut r = OffsetFetchResponse::default();
    if v >= 8 {
        r.groups = groups.into_iter().map(group_response).collect();
        return r;
    }
    // Versions before 8 ask for one group.
    let Some(mut g) = groups.into_iter().next() else {
        return r;
    };
    if v >= 2 {
        r.error_code = g.error;
        if g.error != code::NONE {
            g.topics.clear();
        }
    }
    r.topics = g
        .topics
        .into_iter()
        .map(|(name, offsets)| {
            let mut t = OffsetFetchResponseTopic::default();
            t.name = TopicName(text(name));
            t.partitions = offsets
                .into_iter()
                .map(|o| {
                    let mut p = OffsetFetchResponsePartition::default();
                    p.partition_index = o.partition;
                    p.committed_offset = o.offset;
                    if v >= 5 {
                        p.committed_leader_epoch = o.leader_epoch;
                    }
                    p.metadata = Some(text(o.metadata));
                    if v < 2 {
                        p.error_code = g.error;
                    }
                    p
                })
                .collect();
            t
        })
        .collect();
    r
}

fn group_response(g: GroupOffsets) -> OffsetFetchResponseGroup {
    let mut out = OffsetFetchResponseGroup::default();
    out.group_id = GroupId(text(g.group_id));
    out.error_code = g.error;
    if g.error != code::NONE {
        return out;
    }
    out.topics = g
        .topics
        .into_iter()
        .map(|(name, offsets)| {
            let mut t = OffsetFetchResponseTopics::default();
            t.name = TopicName(text(name));
            t.partitions = offsets
                .into_iter()
                .map(|o| {
                    let mut p = OffsetFetchResponsePartitions::default();
                    p.partition_index = o.partition;
                    p.committed_offset = o.offset;
                    p.committed_leader_epoch = o.leader_epoch;
                    p.metadata = Some(text(o.metadata));
                    p
                })
                .collect();
            t
        })
        .collect();
    out
}

#[cfg(test)]
#[path = "offset_fetch_tests.rs"]
mod tests;

//! Metadata: the one broker and the topics, creating unknown ones when
//! `auto.create.topics.enable` allows.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use seglog::topic::is_internal_topic;
use seglog::Error;

use super::{Context, Outcome};
use crate::codec::{DecodeResult, Reader};
use crate::errors::{code, error_code};
use crate::Shared;

/// Metadata.
pub fn handle(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let v = ctx.version();
    let topics = body.nullable_array(|r| {
        if v >= 10 {
            let _id = r.uuid()?;
            let name = r.nullable_string()?;
            r.tagged_fields()?;
            Ok(name)
        } else {
            let name = r.string()?;
            r.tagged_fields()?;
            Ok(Some(name))
        }
    })?;
    let allow_auto_create = if v >= 4 { body.bool()? } else { true };
    if (8..=10).contains(&v) {
        let _cluster_operations = body.bool()?;
    }
    if v >= 8 {
        let _topic_operations = body.bool()?;
    }
    body.tagged_fields()?;
    body.finish()?;

    let shared = ctx.shared;
    // Version 0 has no null: an empty list asks for every topic.
    let names: Vec<Option<String>> = match topics {
        None => all_topics(shared),
        Some(t) if t.is_empty() && v == 0 => all_topics(shared),
        Some(t) => t,
    };
    let mut response = MetadataResponse::default();
    let mut broker = MetadataResponseBroker::default();
    broker.node_id = BrokerId(shared.config.node_id);
    broker.host = StrBytes::from_string(shared.advertised_host.clone());
    broker.port = i32::from(shared.advertised_port);
    response.brokers = vec![broker];
    if v >= 2 {
        response.cluster_id = Some(StrBytes::from_string(shared.cluster_id()));
    }
    response.controller_id = BrokerId(shared.config.node_id);
    response.topics = names
        .into_iter()
        .map(|name| describe(shared, name, allow_auto_create))
        .collect();
    Ok(ctx.respond(&response))
}

fn all_topics(shared: &Shared) -> Vec<Option<String>> {
    shared
        .store
        .list_all_topics()
        .into_iter()
        .map(Some)
        .collect()
}

/// One topic's metadata; an unknown topic is created first if allowed.
fn describe(
    shared: &Shared,
    name: Option<String>,
    allow_auto_create: bool,
) -> MetadataResponseTopic {
    let mut topic = MetadataResponseTopic::default();
    let Some(name) = name else {
        // A topic asked for by id only: ids are not kept by the store.
        topic.error_code = code::UNKNOWN_TOPIC_OR_PARTITION;
        return topic;
    };
    topic.name = Some(TopicName(StrBytes::from_string(name.clone())));
    topic.topic_id = topic_id(&name);
    topic.is_internal = is_internal_topic(&name);
    let mut description = shared.store.describe_topic(&name);
    if matches!(description, Err(Error::UnknownTopic { .. }))
        && allow_auto_create
        && shared.config.auto_create_topics
    {
        description = match shared
            .store
            .create_topic(&name, shared.config.num_partitions, &[])
        {
            // Another request created it meanwhile.
            Ok(()) | Err(Error::TopicExists { .. }) => shared.store.describe_topic(&name),
            Err(e) => Err(e),
        };
    }
    match description {
        Ok(d) => {
            topic.partitions = d
                .partitions
                .iter()
                .map(|p| partition(shared.config.node_id, p.partition))
                .collect();
        }
        Err(e) => topic.error_code = error_code(&e),
    }
    topic
}

fn partition(node: i32, index: u32) -> MetadataResponsePartition {
    let mut p = MetadataResponsePartition::default();
    p.partition_index = index as i32;
    p.leader_id = BrokerId(node);
    p.leader_epoch = 0;
    p.replica_nodes = vec![BrokerId(node)];
    p.isr_nodes = vec![BrokerId(node)];
    p
}

/// A topic id derived from the name, stable across restarts (the store
/// keeps no ids; clients only compare them), never the all-zero id.
pub fn topic_id(name: &str) -> uuid::Uuid {
    let fnv = |seed: u64| {
        name.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let hi = fnv(0xcbf2_9ce4_8422_2325);
    let lo = fnv(0x8422_2325_cbf2_9ce4) | 1;
    uuid::Uuid::from_u64_pair(hi, lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_ids_are_stable_distinct_and_never_zero() {
        assert_eq!(topic_id("a"), topic_id("a"));
        assert_ne!(topic_id("a"), topic_id("b"));
        assert!(!topic_id("").is_nil());
    }
}

//! CreateTopics: new topics with a partition count (or the broker's
//! `num.partitions`), one replica each, and config overrides; or, with
//! `validate_only`, the same checks without creating anything.

use std::collections::{HashMap, HashSet};

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsResponse, TopicName};
use seglog::store::MAX_PARTITIONS;
use seglog::topic::{is_internal_topic, validate_topic_name, TopicConfig};
use seglog::Error;

use super::config_entries::topic_entries;
use super::{check_replicas, duplicate_name, repeated_names, str_bytes, ApiError};
use crate::api::{Context, Outcome};
use crate::codec::{DecodeResult, Reader};
use crate::errors::code;
use crate::Shared;

/// One topic of a CreateTopics request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Its name.
    pub name: String,
    /// Partitions, or -1 for the broker's default.
    pub num_partitions: i32,
    /// Replicas of each partition, or -1 for the broker's default.
    pub replication_factor: i16,
    /// Manual assignments: (partition, replicas).
    pub assignments: Vec<(i32, Vec<i32>)>,
    /// Config overrides; a value may be null.
    pub configs: Vec<(String, Option<String>)>,
}

/// A CreateTopics request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicsRequest {
    /// The topics.
    pub topics: Vec<NewTopic>,
    /// Only check, create nothing.
    pub validate_only: bool,
}

/// Reads a CreateTopics request (versions 2 to 7).
pub fn decode(body: &mut Reader) -> DecodeResult<CreateTopicsRequest> {
    let topics = body.array(|r| {
        let name = r.string()?;
        let num_partitions = r.i32()?;
        let replication_factor = r.i16()?;
        let assignments = r.array(|r| {
            let partition = r.i32()?;
            let replicas = r.array(|r| r.i32())?;
            r.tagged_fields()?;
            Ok((partition, replicas))
        })?;
        let configs = r.array(|r| {
            let name = r.string()?;
            let value = r.nullable_string()?;
            r.tagged_fields()?;
            Ok((name, value))
        })?;
        r.tagged_fields()?;
        Ok(NewTopic {
            name,
            num_partitions,
            replication_factor,
            assignments,
            configs,
        })
    })?;
    let _timeout_ms = body.i32()?;
    let validate_only = body.bool()?;
    body.tagged_fields()?;
    body.finish()?;
    Ok(CreateTopicsRequest {
        topics,
        validate_only,
    })
}

/// CreateTopics.
pub fn handle(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let request = decode(body)?;
    Ok(ctx.respond(&answer(ctx.shared, &request, ctx.version())))
}

/// What a topic would be created as.
struct Plan {
    partitions: u32,
    config: TopicConfig,
    overrides: Vec<(String, String)>,
}

/// Creates (or, with `validate_only`, checks) each topic; a name given
/// twice gets `INVALID_REQUEST` after the others, as Kafka answers.
pub fn answer(
    shared: &Shared,
    request: &CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let twice = repeated_names(request.topics.iter().map(|t| t.name.as_str()));
    let skip: HashSet<&str> = twice.iter().copied().collect();
    // As in Kafka, names are checked against the topics there were
    // before the request.
    let existing = Existing::new(shared.store.list_all_topics());
    let mut response = CreateTopicsResponse::default();
    for topic in request
        .topics
        .iter()
        .filter(|t| !skip.contains(t.name.as_str()))
    {
        let outcome = plan(shared, &existing, topic).and_then(|plan| {
            if !request.validate_only {
                let overrides: Vec<(&str, &str)> = plan
                    .overrides
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                shared
                    .store
                    .create_topic(&topic.name, plan.partitions, &overrides)
                    .map_err(|e| created_error(&topic.name, &e))?;
            }
            Ok(plan)
        });
        response.topics.push(match outcome {
            Ok(plan) => success(shared, &topic.name, &plan, version),
            Err(e) => failure(&topic.name, &e),
        });
    }
    for name in twice {
        response.topics.push(failure(name, &duplicate_name()));
    }
    response
}

/// The topics there are, by name and by the name their metrics would
/// have ('.' read as '_').
struct Existing {
    unified: HashMap<String, String>,
}

impl Existing {
    fn new(names: Vec<String>) -> Self {
        let mut e = Existing {
            unified: HashMap::with_capacity(names.len()),
        };
        for n in &names {
            e.add(n);
        }
        e
    }

    fn add(&mut self, name: &str) {
        self.unified
            .insert(name.replace('.', "_"), name.to_string());
    }

    /// The existing topic whose name reads as `name`'s, if any.
    fn colliding(&self, name: &str) -> Option<&str> {
        self.unified
            .get(&name.replace('.', "_"))
            .map(String::as_str)
    }
}

/// Kafka's checks, in Kafka's order: the name, whether the topic exists,
/// the configs, then partitions and replicas.
fn plan(shared: &Shared, existing: &Existing, topic: &NewTopic) -> Result<Plan, ApiError> {
    let name = topic.name.as_str();
    validate_topic_name(name).map_err(|e| ApiError::from_store(&e))?;
    match existing.colliding(name) {
        Some(other) if other == name => return Err(exists(name)),
        // Kafka refuses a name that differs from an existing one only in
        // '.' against '_': their metric names would be the same.
        Some(other) => {
            return Err(ApiError::new(
                code::INVALID_TOPIC_EXCEPTION,
                format!("Topic '{name}' collides with existing topic: {other}"),
            ))
        }
        None => {}
    }
    if is_internal_topic(name) {
        return Err(ApiError::new(
            code::INVALID_TOPIC_EXCEPTION,
            format!("Topic '{name}' is internal: the broker creates it itself."),
        ));
    }
    let nulls: Vec<&str> = topic
        .configs
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.as_str())
        .collect();
    if !nulls.is_empty() {
        return Err(ApiError::new(
            code::INVALID_CONFIG,
            format!(
                "Null value not supported for topic configs: {}",
                nulls.join(",")
            ),
        ));
    }
    let overrides: Vec<(String, String)> = topic
        .configs
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_deref()?.trim().to_string())))
        .collect();
    let defaults = &shared.store.config().topic_defaults;
    // Every error here is the config's: a codec this build lacks too.
    let config = TopicConfig::with_overrides(
        defaults,
        overrides.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .map_err(|e| ApiError::new(code::INVALID_CONFIG, e.to_string()))?;
    // The store keeps overrides in a whitespace-separated file.
    if let Some((k, v)) = overrides
        .iter()
        .find(|(_, v)| v.contains(char::is_whitespace))
    {
        return Err(ApiError::new(
            code::INVALID_CONFIG,
            format!("the value {v:?} of {k} contains whitespace"),
        ));
    }
    let partitions = partitions(shared, topic)?;
    Ok(Plan {
        partitions,
        config,
        overrides,
    })
}

/// The partition count, from the count asked for or the assignments.
fn partitions(shared: &Shared, topic: &NewTopic) -> Result<u32, ApiError> {
    let (np, rf) = (topic.num_partitions, topic.replication_factor);
    let count = if !topic.assignments.is_empty() {
        if rf != -1 {
            return Err(ApiError::new(
                code::INVALID_REQUEST,
                "A manual partition assignment was specified, but replication factor was not set to -1.",
            ));
        }
        if np != -1 {
            return Err(ApiError::new(
                code::INVALID_REQUEST,
                "A manual partition assignment was specified, but numPartitions was not set to -1.",
            ));
        }
        let mut seen = HashSet::new();
        let mut replication = None;
        for (partition, replicas) in &topic.assignments {
            if !seen.insert(*partition) {
                return Err(ApiError::new(
                    code::INVALID_REPLICA_ASSIGNMENT,
                    format!(
                        "Found multiple manual partition assignments for partition {partition}"
                    ),
                ));
            }
            check_replicas(shared.config.node_id, replicas, replication)?;
            replication = Some(replicas.len());
        }
        let n = topic.assignments.len();
        if (0..n).any(|p| i32::try_from(p).map_or(true, |p| !seen.contains(&p))) {
            return Err(ApiError::new(
                code::INVALID_REPLICA_ASSIGNMENT,
                "partitions should be a consecutive 0-based integer sequence",
            ));
        }
        u32::try_from(n).unwrap_or(u32::MAX)
    } else if rf < -1 || rf == 0 {
        return Err(ApiError::new(
            code::INVALID_REPLICATION_FACTOR,
            "Replication factor must be larger than 0, or -1 to use the default value.",
        ));
    } else if np < -1 || np == 0 {
        return Err(ApiError::new(
            code::INVALID_PARTITIONS,
            "Number of partitions was set to an invalid non-positive value.",
        ));
    } else if rf > 1 {
        return Err(ApiError::new(
            code::INVALID_REPLICATION_FACTOR,
            format!(
                "Unable to replicate the partition {rf} time(s): The target replication factor \
                 of {rf} cannot be reached because only 1 broker(s) are registered."
            ),
        ));
    } else if np == -1 {
        shared.config.num_partitions
    } else {
        u32::try_from(np).unwrap_or(u32::MAX)
    };
    if count > MAX_PARTITIONS {
        return Err(ApiError::new(
            code::INVALID_PARTITIONS,
            format!("{count} partitions: a topic has 1 to {MAX_PARTITIONS} partitions"),
        ));
    }
    Ok(count)
}

fn exists(name: &str) -> ApiError {
    ApiError::new(
        code::TOPIC_ALREADY_EXISTS,
        format!("Topic '{name}' already exists."),
    )
}

/// The error of a creation the checks passed (another request created
/// the topic meanwhile, or the disk failed).
fn created_error(name: &str, e: &Error) -> ApiError {
    match e {
        Error::TopicExists { .. } => exists(name),
        e => ApiError::from_store(e),
    }
}

fn success(shared: &Shared, name: &str, plan: &Plan, version: i16) -> CreatableTopicResult {
    let mut result = CreatableTopicResult::default();
    result.name = TopicName(str_bytes(name));
    result.error_message = None;
    if version >= 7 {
        result.topic_id = crate::api::metadata::topic_id(name);
    }
    if version >= 5 {
        result.num_partitions = i32::try_from(plan.partitions).unwrap_or(i32::MAX);
        result.replication_factor = 1;
        let defaults = &shared.store.config().topic_defaults;
        result.configs = Some(
            topic_entries(defaults, &plan.config, &plan.overrides)
                .into_iter()
                .map(|e| {
                    let mut c = CreatableTopicConfigs::default();
                    c.name = str_bytes(&e.name);
                    c.value = Some(str_bytes(&e.value));
                    c.read_only = e.read_only;
                    c.config_source = e.source;
                    c.is_sensitive = false;
                    c
                })
                .collect(),
        );
    }
    result
}

fn failure(name: &str, e: &ApiError) -> CreatableTopicResult {
    let mut result = CreatableTopicResult::default();
    result.name = TopicName(str_bytes(name));
    result.error_code = e.code;
    result.error_message = e.message();
    result
}

#[cfg(test)]
#[path = "create_topics_tests.rs"]
mod tests;

//! DescribeConfigs: a topic's effective settings and where each comes
//! from, or this broker's settings.

use std::collections::HashSet;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::DescribeConfigsResponse;
use seglog::topic::validate_topic_name;

use super::config_entries::{broker_entries, topic_entries, Entry};
use super::{str_bytes, ApiError};
use crate::api::{Context, Outcome};
use crate::codec::{DecodeResult, Reader};
use crate::errors::code;
use crate::Shared;

/// Kafka's resource types (`ConfigResource.Type`).
pub mod resource {
    /// A topic, by name.
    pub const TOPIC: i8 = 2;
    /// A broker, by node id (or empty: the cluster's dynamic defaults).
    pub const BROKER: i8 = 4;
}

/// One resource asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Its type ([`resource`]).
    pub resource_type: i8,
    /// Its name.
    pub name: String,
    /// The settings wanted; `None` (or empty) for all.
    pub keys: Option<Vec<String>>,
}

/// A DescribeConfigs request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeConfigsRequest {
    /// The resources.
    pub resources: Vec<Resource>,
    /// Whether to list each setting's sources.
    pub include_synonyms: bool,
}

/// Reads a DescribeConfigs request (versions 1 to 4).
pub fn decode(body: &mut Reader, version: i16) -> DecodeResult<DescribeConfigsRequest> {
    let resources = body.array(|r| {
        let resource_type = r.i8()?;
        let name = r.string()?;
        let keys = r.nullable_array(|r| r.string())?;
        r.tagged_fields()?;
        Ok(Resource {
            resource_type,
            name,
            keys,
        })
    })?;
    let include_synonyms = body.bool()?;
    if version >= 3 {
        // Documentation is not kept: it is always null.
        let _include_documentation = body.bool()?;
    }
    body.tagged_fields()?;
    body.finish()?;
    Ok(DescribeConfigsRequest {
        resources,
        include_synonyms,
    })
}

/// DescribeConfigs.
pub fn handle(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let request = decode(body, ctx.version())?;
    Ok(ctx.respond(&answer(ctx.shared, &request, ctx.version())))
}

/// Describes each resource.
pub fn answer(
    shared: &Shared,
    request: &DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let mut response = DescribeConfigsResponse::default();
    for res in &request.resources {
        let mut result = DescribeConfigsResult::default();
        result.resource_type = res.resource_type;
        result.resource_name = str_bytes(&res.name);
        match entries(shared, res) {
            Ok(entries) => {
                result.error_message = None;
                // No keys, or an empty list, asks for every setting.
                let wanted: Option<HashSet<&str>> = res
                    .keys
                    .as_ref()
                    .filter(|k| !k.is_empty())
                    .map(|k| k.iter().map(String::as_str).collect());
                result.configs = entries
                    .iter()
                    .filter(|e| wanted.as_ref().is_none_or(|w| w.contains(e.name.as_str())))
                    .map(|e| config(e, request.include_synonyms, version))
                    .collect();
            }
            Err(e) => {
                result.error_code = e.code;
                result.error_message = e.message();
            }
        }
        response.results.push(result);
    }
    response
}

/// The settings of one resource, as Kafka's `ConfigHelper` finds them.
fn entries(shared: &Shared, res: &Resource) -> Result<Vec<Entry>, ApiError> {
    match res.resource_type {
        resource::TOPIC => {
            validate_topic_name(&res.name).map_err(|e| ApiError::from_store(&e))?;
            let d = shared
                .store
                .describe_topic(&res.name)
                .map_err(|e| ApiError::from_store(&e))?;
            let defaults = &shared.store.config().topic_defaults;
            Ok(topic_entries(defaults, &d.config, &d.overrides))
        }
        resource::BROKER => {
            // An empty name asks for the cluster's dynamic defaults, of
            // which this broker has none.
            if res.name.is_empty() {
                return Ok(Vec::new());
            }
            let id: i32 = res.name.parse().map_err(|_| {
                ApiError::new(
                    code::INVALID_REQUEST,
                    format!("Broker id must be an integer, but it is: {}", res.name),
                )
            })?;
            let node = shared.config.node_id;
            if id != node {
                return Err(ApiError::new(
                    code::INVALID_REQUEST,
                    format!(
                        "Unexpected broker id, expected {node} or empty string, but received {id}"
                    ),
                ));
            }
            Ok(broker_entries(&shared.config))
        }
        other => Err(ApiError::new(
            code::INVALID_REQUEST,
            format!("Unsupported resource type: {other}"),
        )),
    }
}

fn config(e: &Entry, include_synonyms: bool, version: i16) -> DescribeConfigsResourceResult {
    let mut c = DescribeConfigsResourceResult::default();
    c.name = str_bytes(&e.name);
    c.value = Some(str_bytes(&e.value));
    c.read_only = e.read_only;
    c.config_source = e.source;
    c.is_sensitive = false;
    if include_synonyms {
        c.synonyms = e
            .synonyms
            .iter()
            .map(|s| {
                let mut out = DescribeConfigsSynonym::default();
                out.name = str_bytes(&s.name);
                out.value = Some(str_bytes(&s.value));
                out.source = s.source;
                out
            })
            .collect();
    }
    if version >= 3 {
        c.config_type = e.config_type;
        c.documentation = None;
    }
    c
}

#[cfg(test)]
#[path = "describe_configs_tests.rs"]
mod tests;

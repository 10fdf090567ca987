//! The APIs the broker serves: their versions, the request header, and the
//! dispatch from a request to its handler.

use std::net::TcpStream;

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::Encodable;

use crate::codec::{DecodeError, DecodeResult, Reader};
use crate::response::{Part, Response};
use crate::Shared;

mod admin;
mod api_versions;
mod fetch;
mod groups;
mod list_offsets;
mod metadata;
mod produce;
mod unserved;

/// One API the broker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSpec {
    /// Kafka's API key.
    pub key: i16,
    /// Its name, for log lines.
    pub name: &'static str,
    /// The oldest version served.
    pub min: i16,
    /// The newest version served.
    pub max: i16,
    /// The first flexible version (compact encodings, tagged fields).
    pub flexible_from: i16,
}

impl ApiSpec {
    /// Whether `version` is flexible.
    pub fn flexible(&self, version: i16) -> bool {
        version >= self.flexible_from
    }
}

const fn spec(key: i16, name: &'static str, min: i16, max: i16, flexible_from: i16) -> ApiSpec {
    ApiSpec {
        key,
        name,
        min,
        max,
        flexible_from,
    }
}

/// API keys, as Kafka numbers them.
#[allow(missing_docs)]
pub mod key {
    pub const PRODUCE: i16 = 0;
    pub const FETCH: i16 = 1;
    pub const LIST_OFFSETS: i16 = 2;
    pub const METADATA: i16 = 3;
    pub const OFFSET_COMMIT: i16 = 8;
    pub const OFFSET_FETCH: i16 = 9;
    pub const FIND_COORDINATOR: i16 = 10;
    pub const JOIN_GROUP: i16 = 11;
    pub const HEARTBEAT: i16 = 12;
    pub const LEAVE_GROUP: i16 = 13;
    pub const SYNC_GROUP: i16 = 14;
    pub const DESCRIBE_GROUPS: i16 = 15;
    pub const LIST_GROUPS: i16 = 16;
    pub const API_VERSIONS: i16 = 18;
    pub const CREATE_TOPICS: i16 = 19;
    pub const DELETE_TOPICS: i16 = 20;
    pub const DELETE_RECORDS: i16 = 21;
    pub const DESCRIBE_CONFIGS: i16 = 32;
    pub const CREATE_PARTITIONS: i16 = 37;
    pub const DELETE_GROUPS: i16 = 42;
}

/// Every API served, with the versions served. The newest versions stop
/// before those that name topics only by id (Produce 13, Fetch 13), which
/// a store without topic ids cannot answer (so DeleteTopics stops at 5).
pub const SERVED: &[ApiSpec] = &[
    spec(key::PRODUCE, "Produce", 3, 12, 9),
    spec(key::FETCH, "Fetch", 4, 12, 12),
    spec(key::LIST_OFFSETS, "ListOffsets", 1, 9, 6),
    spec(key::METADATA, "Metadata", 0, 12, 9),
    spec(key::OFFSET_COMMIT, "OffsetCommit", 2, 9, 8),
    spec(key::OFFSET_FETCH, "OffsetFetch", 1, 9, 6),
    spec(key::FIND_COORDINATOR, "FindCoordinator", 0, 4, 3),
    spec(key::JOIN_GROUP, "JoinGroup", 0, 9, 6),
    spec(key::HEARTBEAT, "Heartbeat", 0, 4, 4),
    spec(key::LEAVE_GROUP, "LeaveGroup", 0, 5, 4),
    spec(key::SYNC_GROUP, "SyncGroup", 0, 5, 4),
    spec(key::DESCRIBE_GROUPS, "DescribeGroups", 0, 5, 5),
    spec(key::LIST_GROUPS, "ListGroups", 0, 4, 3),
    spec(key::DELETE_GROUPS, "DeleteGroups", 0, 2, 2),
    spec(key::API_VERSIONS, "ApiVersions", 0, 3, 3),
    spec(key::CREATE_TOPICS, "CreateTopics", 2, 7, 5),
    spec(key::DELETE_TOPICS, "DeleteTopics", 1, 5, 4),
    spec(key::DELETE_RECORDS, "DeleteRecords", 0, 2, 2),
    spec(key::DESCRIBE_CONFIGS, "DescribeConfigs", 1, 4, 4),
    spec(key::CREATE_PARTITIONS, "CreatePartitions", 0, 3, 2),
];

/// The spec of a served API.
pub fn served(key: i16) -> Option<&'static ApiSpec> {
    SERVED.iter().find(|s| s.key == key)
}

/// A request's header (v1, or v2 in flexible versions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// The API key.
    pub api_key: i16,
    /// The API version.
    pub api_version: i16,
    /// Echoed in the response.
    pub correlation_id: i32,
    /// The client's `client.id`.
    pub client_id: Option<String>,
}

/// What to do with a request that cannot be served.
#[derive(Debug)]
pub enum Refusal {
    /// Close the connection, logging why (Kafka closes it for an unknown
    /// API, an unsupported version or a body that does not decode).
    Close(String),
}

/// What a request led to.
#[derive(Debug)]
pub enum Outcome {
    /// Send this response.
    Respond(Response),
    /// Send nothing (Produce with acks=0).
    Silent,
    /// Close the connection, logging why.
    Close(String),
}

/// Reads the first three header fields, which every version has.
pub fn peek_header(frame: &[u8]) -> Option<(i16, i16, i32)> {
    if frame.len() < 8 {
        return None;
    }
    Some((
        i16::from_be_bytes([frame[0], frame[1]]),
        i16::from_be_bytes([frame[2], frame[3]]),
        i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
    ))
}

/// Handles one request frame (header and body).
pub fn handle(shared: &Shared, frame: Bytes, client_host: &str) -> Result<Outcome, Refusal> {
    handle_from(shared, frame, client_host, None)
}

/// [`handle`] for a request read from `peer`, which a long wait looks at
/// so that it ends when the client goes away.
pub fn handle_from(
    shared: &Shared,
    frame: Bytes,
    client_host: &str,
    peer: Option<&TcpStream>,
) -> Result<Outcome, Refusal> {
    let Some((api_key, api_version, correlation_id)) = peek_header(&frame) else {
        return Err(Refusal::Close(format!(
            "a request of {} bytes, too short for a header",
            frame.len()
        )));
    };
    let Some(spec) = served(api_key).or_else(|| unserved::answered(api_key)) else {
        return Err(Refusal::Close(format!(
            "API key {api_key} (version {api_version}) is not served"
        )));
    };
    if api_version < spec.min || api_version > spec.max {
        if api_key == key::API_VERSIONS {
            // KIP-511: answer with version 0 and UNSUPPORTED_VERSION, so
            // the client can retry with a version listed in it.
            return Ok(api_versions::unsupported(correlation_id));
        }
        return Err(Refusal::Close(format!(
            "{} version {api_version} is not served (versions {} to {})",
            spec.name, spec.min, spec.max
        )));
    }
    let flexible = spec.flexible(api_version);
    // Request header v2 in flexible versions (tagged fields after the
    // client id), whose client id is a classic string either way.
    let mut body = Reader::new(frame.slice(8..), false);
    let client_id = body.nullable_string().and_then(|id| {
        body.set_flexible(flexible);
        body.tagged_fields()?;
        Ok(id)
    });
    let client_id = client_id
        .map_err(|e| Refusal::Close(format!("{} v{api_version} header: {e}", spec.name)))?;
    let header = RequestHeader {
        api_key,
        api_version,
        correlation_id,
        client_id,
    };
    let ctx = Context {
        shared,
        header: &header,
        spec,
        client_host,
        peer,
    };
    dispatch(&ctx, body).map_err(|e: DecodeError| {
        Refusal::Close(format!(
            "{} v{api_version} request from {:?} does not decode: {e}",
            spec.name, header.client_id
        ))
    })
}

/// What a handler gets besides the request body.
pub struct Context<'a> {
    /// The broker.
    pub shared: &'a Shared,
    /// The request's header.
    pub header: &'a RequestHeader,
    /// The API's spec.
    pub spec: &'a ApiSpec,
    /// The client's address, as DescribeGroups reports it.
    pub client_host: &'a str,
    /// The client's connection, if the request came from one.
    pub peer: Option<&'a TcpStream>,
}

impl Context<'_> {
    /// Whether the client has closed its connection (a request waiting
    /// for data or a rebalance then stops waiting for it).
    pub fn client_gone(&self) -> bool {
        let Some(peer) = self.peer else {
            return false;
        };
        if peer.set_nonblocking(true).is_err() {
            return false;
        }
        let mut byte = [0u8; 1];
        let gone = match peer.peek(&mut byte) {
            Ok(0) => true,
            // Pipelined requests waiting: the client is there.
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ),
        };
        let _ = peer.set_nonblocking(false);
        gone
    }

    /// The request's version.
    pub fn version(&self) -> i16 {
        self.header.api_version
    }

    /// Encodes `message` as this request's response.
    pub fn respond<M: Encodable>(&self, message: &M) -> Outcome {
        let mut body = BytesMut::new();
        if let Err(e) = message.encode(&mut body, self.version()) {
            // A response this broker built that its codec refuses is a bug
            // of the broker; the client gets a closed connection and the
            // log says why.
            return Outcome::Close(format!(
                "{} v{} response does not encode: {e}",
                self.spec.name,
                self.version()
            ));
        }
        Outcome::Respond(self.response(vec![Part::Bytes(body.freeze())]))
    }

    /// A response to this request made of `parts`.
    pub fn response(&self, parts: Vec<Part>) -> Response {
        // ApiVersions answers with header v0 whatever its version, so that
        // a client can read it before it knows what the broker speaks.
        let flexible_header =
            self.spec.flexible(self.version()) && self.spec.key != key::API_VERSIONS;
        Response::new(self.header.correlation_id, flexible_header, parts)
    }
}

fn dispatch(ctx: &Context<'_>, mut body: Reader) -> DecodeResult<Outcome> {
    let outcome = match ctx.spec.key {
        key::API_VERSIONS => api_versions::handle(ctx, &mut body)?,
        key::CREATE_TOPICS => admin::create_topics::handle(ctx, &mut body)?,
        key::DELETE_TOPICS => admin::delete_topics::handle(ctx, &mut body)?,
        key::DELETE_RECORDS => admin::delete_records::handle(ctx, &mut body)?,
        key::DESCRIBE_CONFIGS => admin::describe_configs::handle(ctx, &mut body)?,
        key::CREATE_PARTITIONS => admin::create_partitions::handle(ctx, &mut body)?,
        key::METADATA => metadata::handle(ctx, &mut body)?,
        key::PRODUCE => produce::handle(ctx, &mut body)?,
        key::FETCH => fetch::handle(ctx, &mut body)?,
        key::LIST_OFFSETS => list_offsets::handle(ctx, &mut body)?,
        unserved::INIT_PRODUCER_ID => unserved::init_producer_id(ctx, &mut body)?,
        key::OFFSET_COMMIT => groups::offset_commit::handle(ctx, &mut body)?,
        key::OFFSET_FETCH => groups::offset_fetch::handle(ctx, &mut body)?,
        key::FIND_COORDINATOR => groups::coordinator::handle(ctx, &mut body)?,
        key::JOIN_GROUP => groups::join::handle(ctx, &mut body)?,
        key::HEARTBEAT => groups::membership::heartbeat(ctx, &mut body)?,
        key::LEAVE_GROUP => groups::membership::leave_group(ctx, &mut body)?,
        key::SYNC_GROUP => groups::sync::handle(ctx, &mut body)?,
        key::DESCRIBE_GROUPS => groups::admin::describe_groups(ctx, &mut body)?,
        key::LIST_GROUPS => groups::admin::list_groups(ctx, &mut body)?,
        key::DELETE_GROUPS => groups::admin::delete_groups(ctx, &mut body)?,
        other => {
            return Err(DecodeError(format!("no handler for API key {other}")));
        }
    };
    Ok(outcome)
}

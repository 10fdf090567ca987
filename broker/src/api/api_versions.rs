//! ApiVersions: the APIs served and their versions.

use bytes::BytesMut;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::protocol::Encodable;

use super::{key, Context, Outcome, SERVED};
use crate::codec::{DecodeResult, Reader};
use crate::errors::code;
use crate::response::{Part, Response};

/// The oldest Produce version listed. Versions 0 to 2 (message formats 0
/// and 1) are not served, but librdkafka compresses with LZ4 only for a
/// broker that lists Produce version 0, so they are listed as Kafka 4
/// lists them, and a request of one closes its connection.
const PRODUCE_LISTED_MIN: i16 = 0;

fn response(error_code: i16) -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    r.error_code = error_code;
    r.api_keys = SERVED
        .iter()
        .map(|s| {
            let mut v = ApiVersion::default();
            v.api_key = s.key;
            v.min_version = if s.key == key::PRODUCE {
                PRODUCE_LISTED_MIN
            } else {
                s.min
            };
            v.max_version = s.max;
            v
        })
        .collect();
    r
}

/// ApiVersions of a served version.
pub fn handle(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    if ctx.version() >= 3 {
        let _software_name = body.string()?;
        let _software_version = body.string()?;
        body.tagged_fields()?;
    }
    body.finish()?;
    Ok(ctx.respond(&response(code::NONE)))
}

/// The answer to an ApiVersions request of a version not served: version
/// 0 with `UNSUPPORTED_VERSION` and the list, from which the client picks
/// a version both sides speak (KIP-511).
pub fn unsupported(correlation_id: i32) -> Outcome {
    let mut body = BytesMut::new();
    match response(code::UNSUPPORTED_VERSION).encode(&mut body, 0) {
        Ok(()) => Outcome::Respond(Response::new(
            correlation_id,
            false,
            vec![Part::Bytes(body.freeze())],
        )),
        Err(e) => Outcome::Close(format!("ApiVersions v0 response does not encode: {e}")),
    }
}

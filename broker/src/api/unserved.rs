//! APIs that are not served but that clients send without looking at
//! ApiVersions first: each gets a response with an error, so that the
//! client fails with a reason instead of a closed connection.
//!
//! kafka-python 3 starts every producer with InitProducerId (its
//! idempotent producer is on by default); answered with
//! `UNSUPPORTED_VERSION`, its sends fail at once with that error.

use kafka_protocol::messages::{InitProducerIdResponse, ProducerId};

use super::{spec, ApiSpec, Context, Outcome};
use crate::codec::{DecodeResult, Reader};
use crate::errors::code;

/// InitProducerId's key.
pub const INIT_PRODUCER_ID: i16 = 22;

/// The unserved APIs answered with an error: not listed by ApiVersions.
pub const ANSWERED: &[ApiSpec] = &[spec(INIT_PRODUCER_ID, "InitProducerId", 0, 5, 2)];

/// The spec of an unserved API answered with an error.
pub fn answered(key: i16) -> Option<&'static ApiSpec> {
    ANSWERED.iter().find(|s| s.key == key)
}

/// InitProducerId: the idempotent and transactional producers are not
/// served.
pub fn init_producer_id(ctx: &Context<'_>, _body: &mut Reader) -> DecodeResult<Outcome> {
    let mut response = InitProducerIdResponse::default();
    response.error_code = code::UNSUPPORTED_VERSION;
    response.producer_id = ProducerId(-1);
    response.producer_epoch = -1;
    Ok(ctx.respond(&response))
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::protocol::Encodable;

    use super::*;

    #[test]
    fn the_init_producer_id_refusal_encodes_at_every_version() {
        let spec = answered(INIT_PRODUCER_ID).unwrap();
        let mut response = InitProducerIdResponse::default();
        response.error_code = code::UNSUPPORTED_VERSION;
        for v in spec.min..=spec.max {
            let mut buf = BytesMut::new();
            response.encode(&mut buf, v).unwrap();
            // throttle_time_ms, then the error code.
            assert_eq!(&buf[4..6], &35i16.to_be_bytes(), "v{v}");
        }
        assert!(
            super::super::served(INIT_PRODUCER_ID).is_none(),
            "not listed"
        );
    }
}

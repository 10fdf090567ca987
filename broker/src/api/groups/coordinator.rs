//! FindCoordinator: this node coordinates every group. It has no
//! transaction coordinator, so transactional ids get
//! `COORDINATOR_NOT_AVAILABLE`, as Kafka answers while its transaction
//! coordinator cannot be found; an unknown key type is an invalid request.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorResponse};

use super::text;
use crate::api::{Context, Outcome};
use crate::codec::{DecodeResult, Reader};
use crate::errors::code;
use crate::Shared;

/// Kafka's key types.
const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

/// A FindCoordinator request: one key (versions 0 to 3) or several.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    key_type: i8,
    keys: Vec<String>,
}

fn decode(body: &mut Reader, v: i16) -> DecodeResult<Request> {
    let key = if v <= 3 { Some(body.string()?) } else { None };
    let key_type = if v >= 1 { body.i8()? } else { GROUP };
    let keys = if v >= 4 {
        body.array(|r| r.string())?
    } else {
        key.into_iter().collect()
    };
    body.tagged_fields()?;
    body.finish()?;
    Ok(Request { key_type, keys })
}

/// FindCoordinator.
pub fn handle(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let request = decode(body, ctx.version())?;
    Ok(ctx.respond(&response(ctx.shared, ctx.version(), &request)))
}

/// (error code, message) for a key of `key_type`.
fn lookup(key_type: i8) -> (i16, Option<&'static str>) {
    match key_type {
        GROUP => (code::NONE, None),
        TRANSACTION => (
            code::COORDINATOR_NOT_AVAILABLE,
            Some("this broker has no transaction coordinator"),
        ),
        _ => (code::INVALID_REQUEST, Some("unknown coordinator key type")),
    }
}

fn response(shared: &Shared, v: i16, request: &Request) -> FindCoordinatorResponse {
    let (error, message) = lookup(request.key_type);
    // The node, or Kafka's "no node" (-1, "", -1) with an error.
    let (node_id, host, port) = if error == code::NONE {
        (
            shared.config.node_id,
            shared.advertised_host.as_str(),
            i32::from(shared.advertised_port),
        )
    } else {
        (-1, "", -1)
    };
    let mut r = FindCoordinatorResponse::default();
    if v >= 4 {
        r.coordinators = request
            .keys
            .iter()
            .map(|key| {
                let mut c = Coordinator::default();
                c.key = text(key.as_str());
                c.node_id = BrokerId(node_id);
                c.host = text(host);
                c.port = port;
                c.error_code = error;
                c.error_message = message.map(text);
                c
            })
            .collect();
    } else {
        r.error_code = error;
        if v >= 1 {
            r.error_message = message.map(text);
        }
        r.node_id = BrokerId(node_id);
        r.host = text(host);
        r.port = port;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::groups::harness::{body, encodes_at, s, Harness};
    use crate::api::key::FIND_COORDINATOR;
    use bytes::Bytes;
    use kafka_protocol::messages::FindCoordinatorRequest;

    fn request(key_type: i8, v: i16) -> FindCoordinatorRequest {
        let mut r = FindCoordinatorRequest::default();
        r.key_type = key_type;
        if v >= 4 {
            r.coordinator_keys = vec![s("g1"), s("g2")];
        } else {
            r.key = s("g1");
        }
        r
    }

    #[test]
    fn decodes_classic_flexible_and_batched_versions() {
        for v in 0..=4 {
            let key_type = if v == 0 { GROUP } else { TRANSACTION };
            let b = body(&request(key_type, v), v);
            let mut r = Reader::new(Bytes::from(b), v >= 3);
            let decoded = decode(&mut r, v).unwrap();
            assert_eq!(decoded.key_type, key_type, "v{v}");
            let keys: Vec<&str> = if v >= 4 { vec!["g1", "g2"] } else { vec!["g1"] };
            assert_eq!(decoded.keys, keys, "v{v}");
        }
    }

    #[test]
    fn a_truncated_request_does_not_decode() {
        let b = body(&request(GROUP, 2), 2);
        let mut r = Reader::new(Bytes::from(b[..b.len() - 1].to_vec()), false);
        assert!(decode(&mut r, 2).is_err());
    }

    #[test]
    fn groups_are_coordinated_by_this_node_at_every_version() {
        let h = Harness::new();
        for v in 0..=3 {
            let r: FindCoordinatorResponse = h.call(FIND_COORDINATOR, v, &request(GROUP, v));
            assert_eq!(r.error_code, 0, "v{v}");
            assert_eq!(r.node_id, BrokerId(0));
            assert_eq!(r.host.as_str(), "broker.example");
            assert_eq!(r.port, 9092);
        }
        let r: FindCoordinatorResponse = h.call(FIND_COORDINATOR, 4, &request(GROUP, 4));
        let keys: Vec<&str> = r.coordinators.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["g1", "g2"]);
        for c in &r.coordinators {
            assert_eq!((c.error_code, c.node_id, c.port), (0, BrokerId(0), 9092));
        }
    }

    #[test]
    fn transactions_and_unknown_key_types_have_no_coordinator() {
        let h = Harness::new();
        let r: FindCoordinatorResponse = h.call(FIND_COORDINATOR, 2, &request(TRANSACTION, 2));
        assert_eq!(r.error_code, code::COORDINATOR_NOT_AVAILABLE);
        assert_eq!((r.node_id, r.port), (BrokerId(-1), -1));
        assert!(r.error_message.is_some());
        let r: FindCoordinatorResponse = h.call(FIND_COORDINATOR, 4, &request(TRANSACTION, 4));
        assert!(r
            .coordinators
            .iter()
            .all(|c| c.error_code == code::COORDINATOR_NOT_AVAILABLE && c.node_id == BrokerId(-1)));
        let r: FindCoordinatorResponse = h.call(FIND_COORDINATOR, 4, &request(5, 4));
        assert!(r
            .coordinators
            .iter()
            .all(|c| c.error_code == code::INVALID_REQUEST));
    }

    #[test]
    fn every_response_encodes_at_every_version() {
        let h = Harness::new();
        for key_type in [GROUP, TRANSACTION, 9] {
            encodes_at(
                |v| {
                    let keys = if v >= 4 {
                        vec!["a".into(), "b".into()]
                    } else {
                        vec!["a".into()]
                    };
                    response(&h.shared, v, &Request { key_type, keys })
                },
                0..=4,
            );
        }
    }
}

//! SyncGroup: the leader hands in its generation's assignment, and every
//! member gets its own part.
//!
//! A follower's request blocks the connection's thread until the leader's
//! assignment is stored. The coordinator answers it within the group's
//! rebalance timeout (a leader that does not sync by then is removed and
//! the group rebalances); [`SYNC_WAIT_CAP`] only bounds the wait should
//! that ever fail. Closing the store wakes a waiting sync.

use std::time::Duration;

use kafka_protocol::messages::SyncGroupResponse;
use seglog::offsets::coordinator as lib;

use super::{group_error_code, text};
use crate::api::{Context, Outcome};
use crate::codec::{DecodeResult, Reader};
use crate::errors::code;

/// The longest a SyncGroup blocks (Kafka's default `max.poll.interval.ms`,
/// the usual rebalance timeout); past it the member is told to rejoin.
pub const SYNC_WAIT_CAP: Duration = Duration::from_secs(300);

fn decode(body: &mut Reader, v: i16) -> DecodeResult<lib::SyncGroupRequest> {
    let group_id = body.string()?;
    let generation_id = body.i32()?;
    let member_id = body.string()?;
    let group_instance_id = if v >= 3 {
        body.nullable_string()?
    } else {
        None
    };
    let (protocol_type, protocol_name) = if v >= 5 {
        (body.nullable_string()?, body.nullable_string()?)
    } else {
        (None, None)
    };
    let assignments = body.array(|r| {
        let member = r.string()?;
        let assignment = r.bytes()?;
        r.tagged_fields()?;
        Ok((member, assignment.to_vec()))
    })?;
    body.tagged_fields()?;
    body.finish()?;
    Ok(lib::SyncGroupRequest {
        group_id,
        generation_id,
        member_id,
        group_instance_id,
        protocol_type,
        protocol_name,
        assignments,
    })
}

/// SyncGroup.
pub fn handle(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let v = ctx.version();
    let request = decode(body, v)?;
    let synced = ctx
        .shared
        .store
        .group_coordinator()
        .and_then(|c| c.sync_group_timeout(request, SYNC_WAIT_CAP));
    let answer = match synced {
        Ok(Some(synced)) => Ok(synced),
        Ok(None) => Err(code::REBALANCE_IN_PROGRESS),
        Err(e) => Err(group_error_code(&e)),
    };
    Ok(ctx.respond(&response(v, answer)))
}

fn response(v: i16, answer: Result<lib::SyncGroupResponse, i16>) -> SyncGroupResponse {
    let mut r = SyncGroupResponse::default();
    match answer {
        Ok(synced) => {
            if v >= 5 {
                r.protocol_type = synced.protocol_type.map(text);
                r.protocol_name = synced.protocol_name.map(text);
            }
            r.assignment = synced.assignment.into();
        }
        Err(error) => r.error_code = error,
    }
    r
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
    use kafka_protocol::messages::{
        GroupId, JoinGroupRequest, JoinGroupResponse, SyncGroupRequest,
    };

    use super::*;
    use crate::api::groups::harness::{body, encodes_at, s, Harness};
    use crate::api::key::{JOIN_GROUP, SYNC_GROUP};

    fn request(v: i16, generation: i32, member: &str) -> SyncGroupRequest {
        let mut a = SyncGroupRequestAssignment::default();
        a.member_id = s(member);
        a.assignment = Bytes::from_static(b"partitions");
        let mut r = SyncGroupRequest::default();
        r.group_id = GroupId(s("g"));
        r.generation_id = generation;
        r.member_id = s(member);
        r.assignments = vec![a];
        if v >= 5 {
            r.protocol_type = Some(s("consumer"));
            r.protocol_name = Some(s("range"));
        }
        r
    }

    #[test]
    fn decodes_classic_and_flexible_versions() {
        for v in 0..=5 {
            let mut req = request(v, 4, "m");
            if v >= 3 {
                req.group_instance_id = Some(s("i"));
            }
            let mut r = Reader::new(Bytes::from(body(&req, v)), v >= 4);
            let d = decode(&mut r, v).unwrap();
            assert_eq!(
                (d.group_id.as_str(), d.generation_id, d.member_id.as_str()),
                ("g", 4, "m")
            );
            assert_eq!(d.group_instance_id.is_some(), v >= 3, "v{v}");
            assert_eq!(d.protocol_type.is_some(), v >= 5, "v{v}");
            assert_eq!(d.protocol_name.as_deref(), (v >= 5).then_some("range"));
            assert_eq!(
                d.assignments,
                vec![("m".to_string(), b"partitions".to_vec())]
            );
        }
        let b = body(&request(4, 1, "m"), 4);
        assert!(decode(
            &mut Reader::new(Bytes::from(b[..b.len() - 2].to_vec()), true),
            4
        )
        .is_err());
    }

    fn joined(h: &Harness) -> (i32, String) {
        let mut p = JoinGroupRequestProtocol::default();
        p.name = s("range");
        let mut j = JoinGroupRequest::default();
        j.group_id = GroupId(s("g"));
        j.session_timeout_ms = 6000;
        j.rebalance_timeout_ms = 6000;
        j.protocol_type = s("consumer");
        j.protocols = vec![p];
        let r: JoinGroupResponse = h.call(JOIN_GROUP, 3, &j);
        assert_eq!(r.error_code, 0);
        (r.generation_id, r.member_id.to_string())
    }

    #[test]
    fn the_leader_gets_its_assignment_at_every_version() {
        for v in 0..=5 {
            let h = Harness::new();
            let (generation, member) = joined(&h);
            let r: SyncGroupResponse = h.call(SYNC_GROUP, v, &request(v, generation, &member));
            assert_eq!(r.error_code, 0, "v{v}");
            assert_eq!(&r.assignment[..], b"partitions");
            if v >= 5 {
                assert_eq!(r.protocol_name.as_deref(), Some("range"));
                assert_eq!(r.protocol_type.as_deref(), Some("consumer"));
            }
        }
    }

    #[test]
    fn stale_and_unknown_members_are_refused() {
        let h = Harness::new();
        let (generation, member) = joined(&h);
        let r: SyncGroupResponse = h.call(SYNC_GROUP, 4, &request(4, generation + 1, &member));
        assert_eq!(r.error_code, code::ILLEGAL_GENERATION);
        assert!(r.assignment.is_empty());
        let r: SyncGroupResponse = h.call(SYNC_GROUP, 4, &request(4, generation, "stranger"));
        assert_eq!(r.error_code, code::UNKNOWN_MEMBER_ID);
        let mut other = request(5, generation, &member);
        other.protocol_name = Some(s("roundrobin"));
        let r: SyncGroupResponse = h.call(SYNC_GROUP, 5, &other);
        assert_eq!(r.error_code, 23, "INCONSISTENT_GROUP_PROTOCOL");
    }

    #[test]
    fn every_response_encodes_at_every_version() {
        let synced = lib::SyncGroupResponse {
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignment: b"a".to_vec(),
        };
        encodes_at(|v| response(v, Ok(synced.clone())), 0..=5);
        encodes_at(|v| response(v, Err(code::REBALANCE_IN_PROGRESS)), 0..=5);
    }
}

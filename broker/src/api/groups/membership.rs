//! Heartbeat (a member is alive, and learns of a rebalance) and
//! LeaveGroup (members leave, and the group rebalances without them).

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{HeartbeatResponse, LeaveGroupResponse};
use seglog::offsets::coordinator::MemberIdentity;

use super::{group_error_code, text};
use crate::api::{Context, Outcome};
use crate::codec::{DecodeResult, Reader};
use crate::errors::code;

/// A Heartbeat request's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Heartbeat {
    group_id: String,
    generation_id: i32,
    member_id: String,
    group_instance_id: Option<String>,
}

fn decode_heartbeat(body: &mut Reader, v: i16) -> DecodeResult<Heartbeat> {
    let group_id = body.string()?;
    let generation_id = body.i32()?;
    let member_id = body.string()?;
    let group_instance_id = if v >= 3 {
        body.nullable_string()?
    } else {
        None
    };
    body.tagged_fields()?;
    body.finish()?;
    Ok(Heartbeat {
        group_id,
        generation_id,
        member_id,
        group_instance_id,
    })
}

/// Heartbeat.
pub fn heartbeat(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let h = decode_heartbeat(body, ctx.version())?;
    let answer = ctx.shared.store.group_coordinator().and_then(|c| {
        c.heartbeat(
            &h.group_id,
            &h.member_id,
            h.generation_id,
            h.group_instance_id.as_deref(),
        )
    });
    let mut r = HeartbeatResponse::default();
    r.error_code = answer.map_or_else(|e| group_error_code(&e), |()| code::NONE);
    Ok(ctx.respond(&r))
}

/// A LeaveGroup request's fields: one member before version 3, a batch
/// from then on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Leave {
    group_id: String,
    members: Vec<MemberIdentity>,
}

fn decode_leave(body: &mut Reader, v: i16) -> DecodeResult<Leave> {
    let group_id = body.string()?;
    let members = if v <= 2 {
        vec![MemberIdentity::new(body.string()?)]
    } else {
        body.array(|r| {
            let member_id = r.string()?;
            let group_instance_id = r.nullable_string()?;
            if v >= 5 {
                let _reason = r.nullable_string()?;
            }
            r.tagged_fields()?;
            Ok(MemberIdentity {
                member_id,
                group_instance_id,
            })
        })?
    };
    body.tagged_fields()?;
    body.finish()?;
    Ok(Leave { group_id, members })
}

/// LeaveGroup.
pub fn leave_group(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let v = ctx.version();
    let leave = decode_leave(body, v)?;
    let answers = ctx
        .shared
        .store
        .group_coordinator()
        .and_then(|c| c.leave_group(&leave.group_id, &leave.members));
    let answers = match answers {
        Ok(each) => Ok(each
            .iter()
            .map(|a| a.as_ref().map_or_else(group_error_code, |()| code::NONE))
            .collect()),
        Err(e) => Err(group_error_code(&e)),
    };
    Ok(ctx.respond(&leave_response(v, &leave.members, answers)))
}

/// The response: per member from version 3; before it, the first
/// member's error stands for the request, as Kafka reports it.
fn leave_response(
    v: i16,
    members: &[MemberIdentity],
    answers: Result<Vec<i16>, i16>,
) -> LeaveGroupResponse {
    let mut r = LeaveGroupResponse::default();
    match answers {
        Err(error) => r.error_code = error,
        Ok(codes) if v <= 2 => {
            r.error_code = codes
                .iter()
                .copied()
                .find(|&c| c != code::NONE)
                .unwrap_or(code::NONE);
        }
        Ok(codes) => {
            r.members = members
                .iter()
                .zip(codes)
                .map(|(m, error)| {
                    let mut out = MemberResponse::default();
                    out.member_id = text(m.member_id.as_str());
                    out.group_instance_id = m.group_instance_id.clone().map(text);
                    out.error_code = error;
                    out
                })
                .collect();
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafka_protocol::messages::leave_group_request::MemberIdentity as WireMember;
    use kafka_protocol::messages::{GroupId, HeartbeatRequest, LeaveGroupRequest};
    use seglog::offsets::coordinator::GroupState;

    use super::*;
    use crate::api::groups::harness::{body, encodes_at, s, stable_member, Harness};
    use crate::api::key::{HEARTBEAT, LEAVE_GROUP};

    fn heartbeat_request(generation: i32, member: &str) -> HeartbeatRequest {
        let mut r = HeartbeatRequest::default();
        r.group_id = GroupId(s("g"));
        r.generation_id = generation;
        r.member_id = s(member);
        r
    }

    fn leave_request(v: i16, members: &[&str]) -> LeaveGroupRequest {
        let mut r = LeaveGroupRequest::default();
        r.group_id = GroupId(s("g"));
        if v <= 2 {
            r.member_id = s(members[0]);
        } else {
            r.members = members
                .iter()
                .map(|m| {
                    let mut w = WireMember::default();
                    w.member_id = s(m);
                    if v >= 5 {
                        w.reason = Some(s("closing"));
                    }
                    w
                })
                .collect();
        }
        r
    }

    #[test]
    fn decodes_classic_and_flexible_versions() {
        for v in 0..=4 {
            let mut req = heartbeat_request(3, "m");
            if v >= 3 {
                req.group_instance_id = Some(s("i"));
            }
            let mut r = Reader::new(Bytes::from(body(&req, v)), v >= 4);
            let d = decode_heartbeat(&mut r, v).unwrap();
            assert_eq!(
                (d.group_id.as_str(), d.generation_id, d.member_id.as_str()),
                ("g", 3, "m")
            );
            assert_eq!(d.group_instance_id.is_some(), v >= 3, "v{v}");
        }
        for v in 0..=5 {
            let names: &[&str] = if v <= 2 { &["a"] } else { &["a", "b"] };
            let mut r = Reader::new(Bytes::from(body(&leave_request(v, names), v)), v >= 4);
            let d = decode_leave(&mut r, v).unwrap();
            let ids: Vec<&str> = d.members.iter().map(|m| m.member_id.as_str()).collect();
            assert_eq!(ids, names, "v{v}");
        }
        let b = body(&heartbeat_request(1, "m"), 4);
        assert!(decode_heartbeat(&mut Reader::new(Bytes::from(b[..3].to_vec()), true), 4).is_err());
    }

    fn stable(h: &Harness) -> (i32, String) {
        stable_member(h, "g", b"")
    }

    #[test]
    fn heartbeats_answer_members_and_refuse_strangers() {
        let h = Harness::new();
        let (generation, member) = stable(&h);
        for v in 0..=4 {
            let r: HeartbeatResponse =
                h.call(HEARTBEAT, v, &heartbeat_request(generation, &member));
            assert_eq!(r.error_code, 0, "v{v}");
        }
        let r: HeartbeatResponse =
            h.call(HEARTBEAT, 4, &heartbeat_request(generation + 1, &member));
        assert_eq!(r.error_code, code::ILLEGAL_GENERATION);
        let r: HeartbeatResponse = h.call(HEARTBEAT, 4, &heartbeat_request(generation, "x"));
        assert_eq!(r.error_code, code::UNKNOWN_MEMBER_ID);
        let mut no_group = heartbeat_request(generation, &member);
        no_group.group_id = GroupId(s(""));
        let r: HeartbeatResponse = h.call(HEARTBEAT, 4, &no_group);
        assert_eq!(r.error_code, code::INVALID_GROUP_ID);
    }

    #[test]
    fn leaving_empties_the_group_and_reports_each_member() {
        let h = Harness::new();
        let (_, member) = stable(&h);
        let r: LeaveGroupResponse = h.call(LEAVE_GROUP, 5, &leave_request(5, &[&member, "x"]));
        assert_eq!(r.error_code, 0);
        let codes: Vec<(&str, i16)> = r
            .members
            .iter()
            .map(|m| (m.member_id.as_str(), m.error_code))
            .collect();
        assert_eq!(
            codes,
            [(member.as_str(), 0), ("x", code::UNKNOWN_MEMBER_ID)]
        );
        let coordinator = h.store().group_coordinator().unwrap();
        assert_eq!(coordinator.group_state("g"), Some(GroupState::Empty));
    }

    #[test]
    fn before_version_3_the_member_error_is_the_request_error() {
        let h = Harness::new();
        let (_, member) = stable(&h);
        let r: LeaveGroupResponse = h.call(LEAVE_GROUP, 1, &leave_request(1, &["x"]));
        assert_eq!(r.error_code, code::UNKNOWN_MEMBER_ID);
        let r: LeaveGroupResponse = h.call(LEAVE_GROUP, 0, &leave_request(0, &[&member]));
        assert_eq!(r.error_code, 0);
        let mut unknown = leave_request(2, &[&member]);
        unknown.group_id = GroupId(s("nobody"));
        let r: LeaveGroupResponse = h.call(LEAVE_GROUP, 2, &unknown);
        assert_eq!(r.error_code, code::UNKNOWN_MEMBER_ID);
    }

    #[test]
    fn every_response_encodes_at_every_version() {
        let members = [
            MemberIdentity::new("a"),
            MemberIdentity {
                member_id: String::new(),
                group_instance_id: Some("i".into()),
            },
        ];
        encodes_at(|v| leave_response(v, &members, Ok(vec![0, 25])), 0..=5);
        encodes_at(
            |v| leave_response(v, &members, Err(code::INVALID_GROUP_ID)),
            0..=5,
        );
        encodes_at(
            |_| {
                let mut r = HeartbeatResponse::default();
                r.error_code = code::REBALANCE_IN_PROGRESS;
                r
            },
            0..=4,
        );
    }
}

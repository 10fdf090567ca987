//! JoinGroup: a member joins (or rejoins) a group's next generation.
//!
//! The request blocks the connection's thread until the coordinator ends
//! the join phase, which it does within the group's rebalance timeout; the
//! wait is bounded by the member's own rebalance timeout plus
//! [`JOIN_MARGIN`], after which the member is told to rejoin
//! (`REBALANCE_IN_PROGRESS`). Closing the store wakes a waiting join, which
//! then answers `COORDINATOR_NOT_AVAILABLE`.
//!
//! From version 4 a new member without a member id is given one with
//! `MEMBER_ID_REQUIRED` and joins again with it (KIP-394). Older clients do
//! not know that error: for them the broker makes the second join itself,
//! so the member joins with one request, as Kafka lets it.

use std::time::Duration;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::JoinGroupResponse;
use seglog::offsets::coordinator::{self as lib, JoinOutcome};

use super::{group_error_code, text};
use crate::api::{Context, Outcome};
use crate::codec::{DecodeResult, Reader};
use crate::errors::code;

/// How much longer than its rebalance timeout a join may wait: the
/// coordinator ends the join phase by then, and clients give their
/// JoinGroup a few seconds more than that before they give up on it.
pub const JOIN_MARGIN: Duration = Duration::from_secs(2);

/// A JoinGroup request's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    group_id: String,
    session_timeout_ms: i32,
    /// -1 in version 0, which has none (the session timeout then stands
    /// for it).
    rebalance_timeout_ms: i32,
    member_id: String,
    group_instance_id: Option<String>,
    protocol_type: String,
    protocols: Vec<(String, Vec<u8>)>,
}

fn decode(body: &mut Reader, v: i16) -> DecodeResult<Request> {
    let group_id = body.string()?;
    let session_timeout_ms = body.i32()?;
    let rebalance_timeout_ms = if v >= 1 { body.i32()? } else { -1 };
    let member_id = body.string()?;
    let group_instance_id = if v >= 5 {
        body.nullable_string()?
    } else {
        None
    };
    let protocol_type = body.string()?;
    let protocols = body.array(|r| {
        let name = r.string()?;
        let metadata = r.bytes()?;
        r.tagged_fields()?;
        Ok((name, metadata.to_vec()))
    })?;
    if v >= 8 {
        let _reason = body.nullable_string()?;
    }
    body.tagged_fields()?;
    body.finish()?;
    Ok(Request {
        group_id,
        session_timeout_ms,
        rebalance_timeout_ms,
        member_id,
        group_instance_id,
        protocol_type,
        protocols,
    })
}

/// JoinGroup.
pub fn handle(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let v = ctx.version();
    let request = decode(body, v)?;
    Ok(ctx.respond(&join(ctx, v, request)))
}

/// What a join led to: the generation joined, a member id to join with
/// (version 4 and later), or an error code for the member id.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Joined(lib::JoinGroupResponse),
    MemberIdRequired(String),
    Error(i16, String),
}

fn join(ctx: &Context<'_>, v: i16, request: Request) -> JoinGroupResponse {
    let wait = wait_for(&request);
    let mut lib_request = lib::JoinGroupRequest {
        group_id: request.group_id,
        member_id: request.member_id,
        group_instance_id: request.group_instance_id,
        client_id: ctx.header.client_id.clone().unwrap_or_default(),
        client_host: ctx.client_host.to_string(),
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        protocol_type: request.protocol_type,
        protocols: request.protocols,
    };
    let mut answer = attempt(ctx, &lib_request, wait);
    if v < 4 {
        if let Answer::MemberIdRequired(id) = answer {
            lib_request.member_id = id;
            answer = attempt(ctx, &lib_request, wait);
        }
    }
    response(v, answer)
}

/// How long the join may block: the member's rebalance timeout (its
/// session timeout in version 0) and [`JOIN_MARGIN`].
fn wait_for(request: &Request) -> Duration {
    let timeout = if request.rebalance_timeout_ms < 0 {
        request.session_timeout_ms
    } else {
        request.rebalance_timeout_ms
    };
    Duration::from_millis(u64::try_from(timeout).unwrap_or(0)) + JOIN_MARGIN
}

fn attempt(ctx: &Context<'_>, request: &lib::JoinGroupRequest, wait: Duration) -> Answer {
    let joined = ctx
        .shared
        .store
        .group_coordinator()
        .and_then(|c| c.join_group_timeout(request.clone(), wait));
    match joined {
        Ok(Some(JoinOutcome::Joined(joined))) => Answer::Joined(joined),
        Ok(Some(JoinOutcome::MemberIdRequired(id))) => Answer::MemberIdRequired(id),
        // The join phase outlasted the wait: the member rejoins.
        Ok(None) => Answer::Error(code::REBALANCE_IN_PROGRESS, request.member_id.clone()),
        Err(e) => Answer::Error(group_error_code(&e), request.member_id.clone()),
    }
}

fn response(v: i16, answer: Answer) -> JoinGroupResponse {
    let mut r = JoinGroupResponse::default();
    r.generation_id = -1;
    // Versions before 7 have a protocol name that cannot be null.
    if v < 7 {
        r.protocol_name = Some(text(""));
    }
    match answer {
        Answer::Joined(joined) => {
            r.generation_id = joined.generation_id;
            if v >= 7 {
                r.protocol_type = joined.protocol_type.map(text);
            }
            if let Some(name) = joined.protocol_name {
                r.protocol_name = Some(text(name));
            }
            r.leader = text(joined.leader);
            r.member_id = text(joined.member_id);
            r.members = joined
                .members
                .into_iter()
                .map(|m| {
                    let mut member = JoinGroupResponseMember::default();
                    member.member_id = text(m.member_id);
                    if v >= 5 {
                        member.group_instance_id = m.group_instance_id.map(text);
                    }
                    member.metadata = m.metadata.into();
                    member
                })
                .collect();
        }
        Answer::MemberIdRequired(id) => {
            r.error_code = code::MEMBER_ID_REQUIRED;
            r.member_id = text(id);
        }
        Answer::Error(error, member_id) => {
            r.error_code = error;
            r.member_id = text(member_id);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::Bytes;
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::{
        GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, SyncGroupRequest,
        SyncGroupResponse,
    };

    use super::*;
    use crate::api::groups::harness::{body, encodes_at, s, Harness, CLIENT_HOST};
    use crate::api::key::{HEARTBEAT, JOIN_GROUP, SYNC_GROUP};

    fn request(v: i16, member_id: &str) -> JoinGroupRequest {
        let mut p = JoinGroupRequestProtocol::default();
        p.name = s("range");
        p.metadata = Bytes::from_static(b"subscription");
        let mut r = JoinGroupRequest::default();
        r.group_id = GroupId(s("g"));
        r.session_timeout_ms = 6000;
        if v >= 1 {
            r.rebalance_timeout_ms = 10_000;
        }
        r.member_id = s(member_id);
        r.protocol_type = s("consumer");
        r.protocols = vec![p];
        r
    }

    #[test]
    fn decodes_classic_and_flexible_versions() {
        for v in 0..=9 {
            let mut req = request(v, "m-1");
            if v >= 5 {
                req.group_instance_id = Some(s("instance"));
            }
            if v >= 8 {
                req.reason = Some(s("why"));
            }
            let mut r = Reader::new(Bytes::from(body(&req, v)), v >= 6);
            let d = decode(&mut r, v).unwrap();
            assert_eq!(d.group_id, "g", "v{v}");
            assert_eq!(d.session_timeout_ms, 6000);
            assert_eq!(d.rebalance_timeout_ms, if v >= 1 { 10_000 } else { -1 });
            assert_eq!(d.member_id, "m-1");
            let instance = (v >= 5).then(|| "instance".to_string());
            assert_eq!(d.group_instance_id, instance, "v{v}");
            assert_eq!(d.protocol_type, "consumer");
            assert_eq!(
                d.protocols,
                vec![("range".to_string(), b"subscription".to_vec())]
            );
        }
    }

    #[test]
    fn bytes_after_the_last_field_are_ignored_as_kafka_ignores_them() {
        let mut b = body(&request(6, ""), 6);
        b.push(0);
        let d = decode(&mut Reader::new(Bytes::from(b), true), 6).unwrap();
        assert_eq!(d.protocol_type, "consumer");
    }

    #[test]
    fn a_request_that_does_not_decode_closes_the_connection() {
        let h = Harness::new();
        let b = body(&request(5, ""), 5);
        let reason = h.handle_body(JOIN_GROUP, 5, &b[..b.len() - 4]).unwrap_err();
        assert!(reason.contains("JoinGroup v5 request"), "{reason}");
        assert!(h
            .store()
            .group_coordinator()
            .unwrap()
            .list_groups()
            .is_empty());
    }

    #[test]
    fn before_version_4_a_new_member_joins_in_one_request() {
        for v in 0..=3 {
            let h = Harness::new();
            let r: JoinGroupResponse = h.call(JOIN_GROUP, v, &request(v, ""));
            assert_eq!(r.error_code, 0, "v{v}");
            assert_eq!(r.generation_id, 1);
            assert!(!r.member_id.is_empty());
            assert_eq!(r.leader, r.member_id, "alone, it leads");
            assert_eq!(r.protocol_name.as_deref(), Some("range"));
            assert_eq!(r.members.len(), 1);
            assert_eq!(&r.members[0].metadata[..], b"subscription");
        }
    }

    #[test]
    fn from_version_4_a_new_member_is_given_its_id_first() {
        for v in 4..=9 {
            let h = Harness::new();
            let r: JoinGroupResponse = h.call(JOIN_GROUP, v, &request(v, ""));
            assert_eq!(r.error_code, code::MEMBER_ID_REQUIRED, "v{v}");
            assert_eq!(r.generation_id, -1);
            assert!(r.member_id.starts_with("test-client-"), "{:?}", r.member_id);
            let id = r.member_id.to_string();
            let r: JoinGroupResponse = h.call(JOIN_GROUP, v, &request(v, &id));
            assert_eq!(r.error_code, 0, "v{v}");
            assert_eq!((r.generation_id, r.member_id.as_str()), (1, id.as_str()));
            assert_eq!(r.leader.as_str(), id);
            if v >= 7 {
                assert_eq!(r.protocol_type.as_deref(), Some("consumer"));
            }
            let described = h
                .store()
                .group_coordinator()
                .unwrap()
                .describe_group("g")
                .unwrap();
            assert_eq!(described.members[0].client_host, CLIENT_HOST);
            assert_eq!(described.members[0].client_id, "test-client");
        }
    }

    #[test]
    fn refused_joins_get_kafkas_error_codes() {
        let h = Harness::new();
        let mut short = request(5, "");
        short.session_timeout_ms = 10;
        let r: JoinGroupResponse = h.call(JOIN_GROUP, 5, &short);
        assert_eq!(r.error_code, 26, "INVALID_SESSION_TIMEOUT");
        assert_eq!(r.protocol_name.as_deref(), Some(""));
        let mut no_group = request(5, "");
        no_group.group_id = GroupId(s(""));
        let r: JoinGroupResponse = h.call(JOIN_GROUP, 5, &no_group);
        assert_eq!(r.error_code, code::INVALID_GROUP_ID);
        let r: JoinGroupResponse = h.call(JOIN_GROUP, 5, &request(5, "stranger"));
        assert_eq!(r.error_code, code::UNKNOWN_MEMBER_ID);
        assert_eq!(r.member_id.as_str(), "stranger");
        // A member of another protocol type than the group's.
        let _: JoinGroupResponse = h.call(JOIN_GROUP, 3, &request(3, ""));
        let mut other = request(3, "");
        other.protocol_type = s("connect");
        let r: JoinGroupResponse = h.call(JOIN_GROUP, 3, &other);
        assert_eq!(r.error_code, 23, "INCONSISTENT_GROUP_PROTOCOL");
    }

    /// Joins with a new member (both steps) and returns the response.
    fn join_new(h: &Harness, v: i16) -> JoinGroupResponse {
        let first: JoinGroupResponse = h.call(JOIN_GROUP, v, &request(v, ""));
        h.call(JOIN_GROUP, v, &request(v, &first.member_id))
    }

    #[test]
    fn a_new_member_rebalances_the_group_and_the_leader_sees_every_member() {
        let h = Harness::new();
        let a = join_new(&h, 5);
        assert_eq!((a.error_code, a.generation_id), (0, 1));
        let (a, b) = std::thread::scope(|scope| {
            // The new member's join waits for the first to rejoin.
            let b = scope.spawn(|| join_new(&h, 5));
            let mut beat = HeartbeatRequest::default();
            beat.group_id = GroupId(s("g"));
            beat.generation_id = 1;
            beat.member_id = a.member_id.clone();
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let r: HeartbeatResponse = h.call(HEARTBEAT, 4, &beat);
                if r.error_code == code::REBALANCE_IN_PROGRESS {
                    break;
                }
                assert!(Instant::now() < deadline, "no rebalance began");
                std::thread::sleep(Duration::from_millis(10));
            }
            let a: JoinGroupResponse = h.call(JOIN_GROUP, 5, &request(5, &a.member_id));
            (a, b.join().unwrap())
        });
        assert_eq!((a.error_code, b.error_code), (0, 0));
        assert_eq!((a.generation_id, b.generation_id), (2, 2));
        assert_eq!(a.leader, b.leader);
        let (leader, follower) = if a.leader == a.member_id {
            (a, b)
        } else {
            (b, a)
        };
        let mut members: Vec<&str> = leader
            .members
            .iter()
            .map(|m| m.member_id.as_str())
            .collect();
        members.sort_unstable();
        let mut expected = [leader.member_id.as_str(), follower.member_id.as_str()];
        expected.sort_unstable();
        assert_eq!(members, expected);
        assert!(
            follower.members.is_empty(),
            "only the leader gets the members"
        );
    }

    /// A Stable group of one member with a long rebalance timeout.
    fn stable_group(h: &Harness) -> String {
        let mut req = request(5, "");
        req.rebalance_timeout_ms = 60_000;
        let first: JoinGroupResponse = h.call(JOIN_GROUP, 5, &req);
        req.member_id = first.member_id.clone();
        let joined: JoinGroupResponse = h.call(JOIN_GROUP, 5, &req);
        assert_eq!(joined.error_code, 0);
        let mut sync = SyncGroupRequest::default();
        sync.group_id = GroupId(s("g"));
        sync.generation_id = joined.generation_id;
        sync.member_id = joined.member_id.clone();
        let synced: SyncGroupResponse = h.call(SYNC_GROUP, 3, &sync);
        assert_eq!(synced.error_code, 0);
        joined.member_id.to_string()
    }

    #[test]
    fn a_join_that_outlasts_its_rebalance_timeout_is_told_to_rejoin() {
        let h = Harness::new();
        stable_group(&h);
        // The group waits up to a minute for its first member to rejoin;
        // this one waits for its own rebalance timeout (0) and the margin.
        let mut req = request(5, "");
        req.rebalance_timeout_ms = 0;
        let first: JoinGroupResponse = h.call(JOIN_GROUP, 5, &req);
        req.member_id = first.member_id.clone();
        let started = Instant::now();
        let r: JoinGroupResponse = h.call(JOIN_GROUP, 5, &req);
        assert_eq!(r.error_code, code::REBALANCE_IN_PROGRESS);
        assert_eq!(r.member_id, first.member_id, "it rejoins with its id");
        assert!(started.elapsed() >= JOIN_MARGIN);
        assert!(started.elapsed() < JOIN_MARGIN + Duration::from_secs(5));
    }

    #[test]
    fn closing_the_store_wakes_a_waiting_join() {
        let h = Harness::new();
        stable_group(&h);
        let first: JoinGroupResponse = h.call(JOIN_GROUP, 5, &request(5, ""));
        let started = Instant::now();
        let r = std::thread::scope(|scope| {
            let waiting = scope.spawn(|| {
                h.call::<_, JoinGroupResponse>(JOIN_GROUP, 5, &request(5, &first.member_id))
            });
            std::thread::sleep(Duration::from_millis(200));
            h.store().close().unwrap();
            waiting.join().unwrap()
        });
        assert_eq!(r.error_code, code::COORDINATOR_NOT_AVAILABLE);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn every_response_encodes_at_every_version() {
        let joined = lib::JoinGroupResponse {
            generation_id: 3,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            leader: "m1".into(),
            member_id: "m1".into(),
            members: vec![lib::JoinGroupMember {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                metadata: b"meta".to_vec(),
            }],
        };
        encodes_at(|v| response(v, Answer::Joined(joined.clone())), 0..=9);
        encodes_at(
            |v| response(v, Answer::MemberIdRequired("m2".into())),
            0..=9,
        );
        encodes_at(
            |v| response(v, Answer::Error(code::UNKNOWN_MEMBER_ID, "m3".into())),
            0..=9,
        );
    }
}

//! A broker without sockets for the group APIs' tests: requests built with
//! kafka-protocol's encoders go through the broker's own header decoding
//! and dispatch, and responses are read back with kafka-protocol's
//! decoders, as a client reads them.

use std::sync::atomic::{AtomicBool, AtomicUsize};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::{Decodable, Encodable};
use seglog::store::LogStore;

use crate::api::{self, served, Outcome};
use crate::{BrokerConfig, Shared};

/// The address the handlers see as the client's.
pub const CLIENT_HOST: &str = "10.1.2.3";
/// The `client.id` of every request.
pub const CLIENT_ID: &str = "test-client";

/// A store in a temporary directory behind the broker's dispatch.
pub struct Harness {
    /// The broker's shared state.
    pub shared: Shared,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A broker whose groups rebalance without the initial delay, and
    /// whose `__consumer_offsets` has one partition (creating fifty takes
    /// seconds of fsyncs).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = BrokerConfig::new(dir.path(), "127.0.0.1:9092".parse().unwrap());
        config
            .apply([
                ("group.initial.rebalance.delay.ms", "0"),
                ("offsets.topic.num.partitions", "1"),
            ])
            .unwrap();
        let store = LogStore::open(dir.path(), config.store.clone()).unwrap();
        Harness {
            shared: Shared {
                store,
                config,
                advertised_host: "broker.example".into(),
                advertised_port: 9092,
                local_addr: "127.0.0.1:9092".parse().unwrap(),
                shutdown: AtomicBool::new(false),
                connections: AtomicUsize::new(0),
            },
            _dir: dir,
        }
    }

    /// The store.
    pub fn store(&self) -> &LogStore {
        &self.shared.store
    }

    /// Sends `request` as API `key` version `version` and decodes the
    /// response.
    pub fn call<Req: Encodable, Resp: Decodable>(
        &self,
        key: i16,
        version: i16,
        request: &Req,
    ) -> Resp {
        let flexible = served(key).unwrap().flexible(version);
        let mut body = self.raw(key, version, request);
        assert_eq!(body.get_i32(), 7, "correlation id");
        if flexible {
            assert_eq!(body.get_u8(), 0, "tagged fields of the response header");
        }
        let response = Resp::decode(&mut body, version).unwrap();
        assert!(!body.has_remaining(), "bytes after the response");
        response
    }

    /// The response frame to `request`, after its length prefix.
    pub fn raw<Req: Encodable>(&self, key: i16, version: i16, request: &Req) -> Bytes {
        let frame = frame(key, version, request);
        match api::handle(&self.shared, frame, CLIENT_HOST) {
            Ok(Outcome::Respond(response)) => {
                let mut bytes = Bytes::from(response.to_vec().unwrap());
                let len = bytes.get_i32();
                assert_eq!(len as usize, bytes.len());
                bytes
            }
            Ok(Outcome::Silent) => panic!("no response"),
            Ok(Outcome::Close(reason)) => panic!("closed: {reason}"),
            Err(api::Refusal::Close(reason)) => panic!("refused: {reason}"),
        }
    }

    /// What the broker makes of a request whose body is `body`.
    pub fn handle_body(&self, key: i16, version: i16, body: &[u8]) -> Result<Outcome, String> {
        let mut frame = header(key, version);
        frame.put_slice(body);
        api::handle(&self.shared, frame.freeze(), CLIENT_HOST).map_err(|api::Refusal::Close(r)| r)
    }
}

fn header(key: i16, version: i16) -> BytesMut {
    let mut frame = BytesMut::new();
    frame.put_i16(key);
    frame.put_i16(version);
    frame.put_i32(7);
    frame.put_i16(CLIENT_ID.len() as i16);
    frame.put_slice(CLIENT_ID.as_bytes());
    if served(key).unwrap().flexible(version) {
        frame.put_u8(0);
    }
    frame
}

/// A request frame (header and body) as a client sends it, without the
/// length prefix.
pub fn frame<Req: Encodable>(key: i16, version: i16, request: &Req) -> Bytes {
    let mut frame = header(key, version);
    request.encode(&mut frame, version).unwrap();
    frame.freeze()
}

/// The body of `request` encoded at `version`.
pub fn body<Req: Encodable>(request: &Req, version: i16) -> Vec<u8> {
    let mut b = BytesMut::new();
    request.encode(&mut b, version).unwrap();
    b.to_vec()
}

/// Encodes `response` at every version in `versions`, and decodes it back:
/// every response the broker builds must encode at every version served.
pub fn encodes_at<Resp: Encodable + Decodable>(
    response: impl Fn(i16) -> Resp,
    versions: std::ops::RangeInclusive<i16>,
) {
    for v in versions {
        let r = response(v);
        let mut b = BytesMut::new();
        r.encode(&mut b, v)
            .unwrap_or_else(|e| panic!("version {v}: {e}"));
        let mut bytes = b.freeze();
        Resp::decode(&mut bytes, v).unwrap_or_else(|e| panic!("version {v}: {e}"));
        assert!(!bytes.has_remaining(), "version {v}");
    }
}

/// A string for a request.
pub fn s(v: &str) -> kafka_protocol::protocol::StrBytes {
    kafka_protocol::protocol::StrBytes::from_string(v.to_string())
}

/// Makes `group` Stable with one consumer member (JoinGroup and SyncGroup
/// version 3) whose assignment is `assignment`; returns its generation and
/// member id.
pub fn stable_member(h: &Harness, group: &str, assignment: &[u8]) -> (i32, String) {
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
    use kafka_protocol::messages::{
        GroupId, JoinGroupRequest, JoinGroupResponse, SyncGroupRequest, SyncGroupResponse,
    };

    use crate::api::key::{JOIN_GROUP, SYNC_GROUP};

    let mut p = JoinGroupRequestProtocol::default();
    p.name = s("range");
    p.metadata = Bytes::from_static(b"subscription");
    let mut j = JoinGroupRequest::default();
    j.group_id = GroupId(s(group));
    j.session_timeout_ms = 6000;
    j.rebalance_timeout_ms = 6000;
    j.protocol_type = s("consumer");
    j.protocols = vec![p];
    let joined: JoinGroupResponse = h.call(JOIN_GROUP, 3, &j);
    assert_eq!(joined.error_code, 0);
    let mut a = SyncGroupRequestAssignment::default();
    a.member_id = joined.member_id.clone();
    a.assignment = Bytes::copy_from_slice(assignment);
    let mut sync = SyncGroupRequest::default();
    sync.group_id = GroupId(s(group));
    sync.generation_id = joined.generation_id;
    sync.member_id = joined.member_id.clone();
    sync.assignments = vec![a];
    let synced: SyncGroupResponse = h.call(SYNC_GROUP, 3, &sync);
    assert_eq!(synced.error_code, 0);
    (joined.generation_id, joined.member_id.to_string())
}

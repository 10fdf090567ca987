//! A broker without sockets for unit tests: requests built with
//! kafka-protocol's encoders go through the broker's own dispatch, and the
//! response frames are read back with kafka-protocol's decoders, as a
//! client reads them.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use seglog::store::LogStore;
use tempfile::TempDir;

use crate::api::{handle, Outcome};
use crate::{BrokerConfig, Shared};

/// A store in a temporary directory behind the broker's dispatch.
pub struct TestBroker {
    pub shared: Shared,
    _dir: TempDir,
}

impl TestBroker {
    /// A broker with Kafka's defaults.
    pub fn new() -> Self {
        Self::with_config(|_| {})
    }

    /// A broker whose settings `configure` changes first.
    pub fn with_config(configure: impl FnOnce(&mut BrokerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listen: SocketAddr = "127.0.0.1:9092".parse().unwrap();
        let mut config = BrokerConfig::new(dir.path(), listen);
        configure(&mut config);
        let store = LogStore::open(dir.path(), config.store.clone()).unwrap();
        let shared = Shared {
            store,
            config,
            advertised_host: "127.0.0.1".into(),
            advertised_port: 9092,
            local_addr: listen,
            shutdown: Default::default(),
            connections: Default::default(),
        };
        TestBroker { shared, _dir: dir }
    }

    /// The store.
    pub fn store(&self) -> &LogStore {
        &self.shared.store
    }

    /// Sends `request` at `version` and reads the response.
    pub fn call<R: Request>(&self, version: i16, request: &R) -> R::Response {
        let mut frame = BytesMut::new();
        let mut header = RequestHeader::default();
        header.request_api_key = R::KEY;
        header.request_api_version = version;
        header.correlation_id = 7;
        header.client_id = Some(StrBytes::from_static_str("test"));
        header
            .encode(&mut frame, R::header_version(version))
            .unwrap();
        request.encode(&mut frame, version).unwrap();
        let response = match handle(&self.shared, frame.freeze(), "127.0.0.1") {
            Ok(Outcome::Respond(r)) => r,
            Ok(Outcome::Silent) => panic!("no response"),
            Ok(Outcome::Close(why)) | Err(crate::api::Refusal::Close(why)) => {
                panic!("connection closed: {why}")
            }
        };
        let mut bytes = Bytes::from(response.to_vec().unwrap()).slice(4..);
        let header =
            ResponseHeader::decode(&mut bytes, R::Response::header_version(version)).unwrap();
        assert_eq!(header.correlation_id, 7);
        let decoded = R::Response::decode(&mut bytes, version).unwrap();
        assert!(bytes.is_empty(), "{} bytes after the response", bytes.len());
        decoded
    }

    /// Sends `body` as a request of `R`'s API at `version`, expecting the
    /// connection to close; returns why it closed.
    pub fn refused<R: Request>(&self, version: i16, body: Bytes) -> String {
        let mut frame = BytesMut::new();
        let mut header = RequestHeader::default();
        header.request_api_key = R::KEY;
        header.request_api_version = version;
        header
            .encode(&mut frame, R::header_version(version))
            .unwrap();
        frame.extend_from_slice(&body);
        match handle(&self.shared, frame.freeze(), "127.0.0.1") {
            Err(crate::api::Refusal::Close(why)) => why,
            Ok(_) => panic!("a response to a request that should not decode"),
        }
    }
}

/// `message` encoded at `version`.
pub fn encoded<M: Encodable>(message: &M, version: i16) -> Bytes {
    let mut b = BytesMut::new();
    message.encode(&mut b, version).unwrap();
    b.freeze()
}

/// Encodes `message` at every version in `versions`, failing on the first
/// that kafka-protocol refuses.
pub fn encodes_at<M: Encodable>(message: &M, versions: std::ops::RangeInclusive<i16>) {
    for v in versions {
        let mut b = BytesMut::new();
        if let Err(e) = message.encode(&mut b, v) {
            panic!("version {v}: {e}");
        }
    }
}

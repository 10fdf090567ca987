//! The input is one request frame of seglog-broker (header and body,
//! without the length prefix), handed to the broker's request path
//! (`seglog_broker::api::handle`) as a connection would hand it, over a
//! fresh in-memory store holding:
//!
//! - `t`: two partitions, three batches in partition 0 (offsets 0..=3);
//! - `compact`: one compacted partition with one keyed record;
//! - `small`: one partition whose `max.message.bytes` is 200.
//!
//! Topics unknown to Metadata are created (`auto.create.topics.enable`).
//! A long poll answers at once: the broker is marked as shutting down,
//! which a fetch checks before it waits (nothing else on the request path
//! looks at it).
//!
//! Any outcome is fine: a response, none (acks=0) or a closed connection,
//! except a close because the broker's own response did not encode.
//! A response must echo the request's correlation id and decode, whole,
//! with kafka-protocol at the request's version (version 0 for an
//! ApiVersions version not served). Panics, hangs and unbounded
//! allocations are bugs.
#![no_main]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Decodable;
use libfuzzer_sys::fuzz_target;
use seglog::io::{Fs, MemFs};
use seglog::store::{LogStore, StoreConfig};
use seglog::{BatchBuilder, ManualClock, Record};
use seglog_broker::api::{self, Outcome, Refusal};
use seglog_broker::{BrokerConfig, Shared};

const DIR: &str = "/store";

fn shared() -> Shared {
    let fs = MemFs::new();
    fs.create_dir_all(Path::new(DIR)).expect("mkdir on MemFs");
    let mut config = StoreConfig::default();
    // Small preallocated indexes and few partitions of
    // __consumer_offsets keep a fresh store cheap.
    config.topic_defaults.log.segment_index_bytes = 1024;
    config.groups.offsets_topic_num_partitions = 1;
    let store = LogStore::options()
        .fs(fs)
        .clock(ManualClock::new(1_700_000_000_000))
        .open(DIR, config.clone())
        .expect("store opens on MemFs");
    store.create_topic("t", 2, &[]).expect("t");
    store
        .create_topic("compact", 1, &[("cleanup.policy", "compact")])
        .expect("compact");
    store
        .create_topic("small", 1, &[("max.message.bytes", "200")])
        .expect("small");
    let t0 = store.partition("t", 0).expect("t-0");
    for n in 1..=2 {
        let records: Vec<Record> = (0..n)
            .map(|i| Record::new(format!("v{i}")).with_timestamp(1_000 + i))
            .collect();
        let batch = BatchBuilder::new().build(&records).expect("batch");
        t0.append_encoded(&batch).expect("append");
    }
    t0.append(&[Record::new("last")]).expect("append");
    let keyed = BatchBuilder::new()
        .build(&[Record::new("v").with_key("k").with_timestamp(1)])
        .expect("batch");
    store
        .partition("compact", 0)
        .expect("compact-0")
        .append_encoded(&keyed)
        .expect("append");

    let addr: SocketAddr = "127.0.0.1:9092".parse().expect("addr");
    let mut broker_config = BrokerConfig::new(DIR, addr);
    broker_config.store = config;
    let shared = Shared::new(store, broker_config, addr);
    shared.shutdown.store(true, Ordering::SeqCst);
    shared
}

/// Checks a response frame: length prefix, correlation id, and a body
/// kafka-protocol decodes whole.
fn check_response(frame: &[u8], api_key: i16, version: i16, correlation_id: i32) {
    let len = i32::from_be_bytes(frame[..4].try_into().expect("a length prefix"));
    assert_eq!(len as usize, frame.len() - 4, "length prefix");
    let key = ApiKey::try_from(api_key).expect("a response only to a known key");
    let served = api::served(api_key).expect("a response only to a served key");
    // An ApiVersions version not served is answered with version 0.
    let version = if version < served.min || version > served.max {
        assert_eq!(key, ApiKey::ApiVersions);
        0
    } else {
        version
    };
    let mut body = Bytes::copy_from_slice(&frame[4..]);
    let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
        .expect("the response header decodes");
    assert_eq!(header.correlation_id, correlation_id);
    ResponseKind::decode(key, &mut body, version).expect("the response decodes");
    assert!(body.is_empty(), "{} bytes after the response", body.len());
}

fuzz_target!(|data: &[u8]| {
    let shared = shared();
    let frame = Bytes::copy_from_slice(data);
    let outcome = api::handle(&shared, frame, "127.0.0.1");
    if let Ok(Outcome::Respond(response)) = &outcome {
        let (api_key, version, correlation_id) =
            api::peek_header(data).expect("a response only to a whole header");
        let bytes = response.to_vec().expect("the response's file ranges read");
        check_response(&bytes, api_key, version, correlation_id);
    }
    match outcome {
        // A response the broker built and cannot encode is its own bug.
        Ok(Outcome::Close(reason)) => assert!(!reason.contains("does not encode"), "{reason}"),
        Ok(Outcome::Respond(_) | Outcome::Silent) | Err(Refusal::Close(_)) => {}
    }
    shared.store.close().expect("the store closes");
});

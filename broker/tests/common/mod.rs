//! What the broker's integration tests share: a broker started in-process
//! on a temporary directory, a raw TCP client that writes request frames
//! (encoded with kafka-protocol, or any bytes at all) and reads response
//! frames, and builders for the requests the tests send.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    FetchRequest, FetchResponse, ListOffsetsRequest, MetadataRequest, ProduceRequest,
    ProduceResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use seglog::{BatchBuilder, Record};
use seglog_broker::{Broker, BrokerConfig};
use tempfile::TempDir;

/// How long a test waits for a response before it fails.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A broker serving a temporary directory on a free loopback port.
pub struct TestBroker {
    broker: Option<Broker>,
    dir: TempDir,
}

impl TestBroker {
    /// A broker with Kafka's defaults.
    pub fn start() -> TestBroker {
        Self::start_with(|_| {})
    }

    /// A broker whose config `configure` adjusts first.
    pub fn start_with(configure: impl FnOnce(&mut BrokerConfig)) -> TestBroker {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = BrokerConfig::new(dir.path(), "127.0.0.1:0".parse().expect("addr"));
        configure(&mut config);
        let broker = Broker::start(config).expect("broker starts");
        TestBroker {
            broker: Some(broker),
            dir,
        }
    }

    /// The running broker.
    pub fn broker(&self) -> &Broker {
        self.broker.as_ref().expect("broker running")
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.broker().local_addr()
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A new client connection.
    pub fn client(&self) -> Client {
        Client::connect(self.addr())
    }

    /// Creates a topic in the store directly.
    pub fn create_topic(&self, name: &str, partitions: u32, overrides: &[(&str, &str)]) {
        self.broker()
            .store()
            .create_topic(name, partitions, overrides)
            .expect("create topic");
    }

    /// A partition's log end offset, read from the store.
    pub fn log_end_offset(&self, topic: &str, partition: u32) -> u64 {
        self.broker()
            .store()
            .partition(topic, partition)
            .expect("partition")
            .log_end_offset()
    }

    /// The path of a partition's first segment file.
    pub fn first_segment(&self, topic: &str, partition: u32) -> PathBuf {
        self.dir()
            .join(format!("{topic}-{partition}"))
            .join("00000000000000000000.log")
    }

    /// Shuts the broker down; returns the directory, still there, with
    /// the result of the store's close.
    pub fn shutdown(mut self) -> (TempDir, Result<(), seglog::Error>) {
        let broker = self.broker.take().expect("broker running");
        let result = broker.shutdown();
        (self.dir, result)
    }
}

/// One connection, written to and read from frame by frame.
pub struct Client {
    stream: TcpStream,
    next_correlation: i32,
}

impl Client {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream,
            next_correlation: 1,
        }
    }

    /// The socket, for tests that need it bare.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Writes `bytes` as they are; a write the broker refused (it closed
    /// the connection) is not an error here: the test looks at what comes
    /// back.
    pub fn write_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
        let _ = self.stream.flush();
    }

    /// Writes `body` as one frame (its length first).
    pub fn write_frame(&mut self, body: &[u8]) {
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(body);
        self.write_raw(&frame);
    }

    /// Encodes `request` at `version` with its header; returns the frame's
    /// body and the correlation id used.
    pub fn encode<R: Request>(&mut self, version: i16, request: &R) -> (Vec<u8>, i32) {
        let correlation_id = self.next_correlation;
        self.next_correlation += 1;
        (
            encode_request(version, correlation_id, request),
            correlation_id,
        )
    }

    /// Sends `request` at `version`; returns its correlation id.
    pub fn send<R: Request>(&mut self, version: i16, request: &R) -> i32 {
        let (body, correlation_id) = self.encode(version, request);
        self.write_frame(&body);
        correlation_id
    }

    /// Reads one response frame's body (after its length); `None` if the
    /// broker closed the connection.
    pub fn read_frame(&mut self) -> Option<Vec<u8>> {
        let mut size = [0u8; 4];
        match self.stream.read_exact(&mut size) {
            Ok(()) => {}
            Err(e) if is_closed(&e) => return None,
            Err(e) => panic!("reading a response: {e}"),
        }
        let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut body).expect("a whole response");
        Some(body)
    }

    /// Reads the response to the request `correlation_id` of type `R` at
    /// `version`.
    pub fn recv<R: Request>(&mut self, version: i16, correlation_id: i32) -> R::Response {
        let body = self
            .read_frame()
            .expect("a response, not a closed connection");
        decode_response::<R>(version, correlation_id, body)
    }

    /// Sends `request` and reads its response.
    pub fn call<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        let correlation_id = self.send(version, request);
        self.recv::<R>(version, correlation_id)
    }

    /// Whether the broker closes the connection within `within` without
    /// sending anything (a response arriving instead fails the test).
    pub fn closed_within(&mut self, within: Duration) -> bool {
        self.stream.set_read_timeout(Some(within)).expect("timeout");
        let mut byte = [0u8; 1];
        let closed = match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => panic!("the broker sent data where it should close the connection"),
            Err(e) if is_closed(&e) => true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(e) => panic!("reading: {e}"),
        };
        self.stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .expect("timeout");
        closed
    }

    /// Asserts that the broker closes the connection (within a second).
    pub fn assert_closed(&mut self, what: &str) {
        assert!(
            self.closed_within(Duration::from_secs(1)),
            "{what}: the connection stayed open"
        );
    }

    /// Waits up to `within` for the broker to close the connection;
    /// returns how long that took, or `None` if it stayed open.
    pub fn time_to_close(&mut self, within: Duration) -> Option<Duration> {
        let started = Instant::now();
        self.closed_within(within).then(|| started.elapsed())
    }
}

fn is_closed(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
    )
}

/// A request's frame body: header (of the version `R` uses at `version`)
/// then the request.
pub fn encode_request<R: Request>(version: i16, correlation_id: i32, request: &R) -> Vec<u8> {
    let mut header = RequestHeader::default();
    header.request_api_key = R::KEY;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(StrBytes::from_static_str("bad-input-test"));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, R::header_version(version))
        .expect("header encodes");
    request.encode(&mut buf, version).expect("request encodes");
    buf.to_vec()
}

/// Decodes a response frame's body, checking its correlation id.
pub fn decode_response<R: Request>(
    version: i16,
    correlation_id: i32,
    body: Vec<u8>,
) -> R::Response {
    let mut buf = Bytes::from(body);
    let header = kafka_protocol::messages::ResponseHeader::decode(
        &mut buf,
        <R::Response as HeaderVersion>::header_version(version),
    )
    .expect("response header decodes");
    assert_eq!(header.correlation_id, correlation_id, "correlation id");
    let response = R::Response::decode(&mut buf, version).expect("response decodes");
    assert!(buf.is_empty(), "{} bytes after the response", buf.len());
    response
}

/// A frame body made of a request header only (API key, version,
/// correlation id, null client id), for keys and versions kafka-protocol
/// will not encode.
pub fn bare_header(api_key: i16, version: i16, correlation_id: i32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&api_key.to_be_bytes());
    b.extend_from_slice(&version.to_be_bytes());
    b.extend_from_slice(&correlation_id.to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b
}

/// A v2 record batch of `count` keyless records of `value_len` bytes
/// each, as a producer sends it.
pub fn batch(count: usize, value_len: usize) -> Vec<u8> {
    let records: Vec<Record> = (0..count)
        .map(|i| {
            Record::new(vec![b'a' + (i % 26) as u8; value_len]).with_timestamp(1_000 + i as i64)
        })
        .collect();
    BatchBuilder::new().build(&records).expect("batch builds")
}

/// A v2 record batch of one record with a key.
pub fn keyed_batch(key: &str, value: &str) -> Vec<u8> {
    BatchBuilder::new()
        .build(&[Record::new(value).with_key(key).with_timestamp(1_000)])
        .expect("batch builds")
}

/// A topic name for kafka-protocol.
pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// A Produce request of `records` for each (topic, partition).
pub fn produce(acks: i16, parts: &[(&str, i32, Option<Vec<u8>>)]) -> ProduceRequest {
    let mut topics: Vec<TopicProduceData> = Vec::new();
    for (topic, partition, records) in parts {
        let data = PartitionProduceData::default()
            .with_index(*partition)
            .with_records(records.clone().map(Bytes::from));
        match topics.iter_mut().find(|t| t.name.0.as_str() == *topic) {
            Some(t) => t.partition_data.push(data),
            None => topics.push(
                TopicProduceData::default()
                    .with_name(topic_name(topic))
                    .with_partition_data(vec![data]),
            ),
        }
    }
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5_000)
        .with_topic_data(topics)
}

/// Produces `records` to one partition with acks=1 over `client` and
/// returns (error code, base offset).
pub fn produce_one(
    client: &mut Client,
    topic: &str,
    partition: i32,
    records: Vec<u8>,
) -> (i16, i64) {
    let response = client.call(9, &produce(1, &[(topic, partition, Some(records))]));
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// A Fetch request for each (topic, partition, offset, partition_max_bytes).
pub fn fetch(
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
    parts: &[(&str, i32, i64, i32)],
) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for (topic, partition, offset, partition_max_bytes) in parts {
        let p = FetchPartition::default()
            .with_partition(*partition)
            .with_fetch_offset(*offset)
            .with_partition_max_bytes(*partition_max_bytes);
        match topics.iter_mut().find(|t| t.topic.0.as_str() == *topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(topic_name(topic))
                    .with_partitions(vec![p]),
            ),
        }
    }
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(max_bytes)
        .with_topics(topics)
}

/// The records bytes of each partition of a Fetch response, in order, as
/// (topic, partition, error code, bytes).
pub fn fetched(response: &FetchResponse) -> Vec<(String, i32, i16, Vec<u8>)> {
    response
        .responses
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (
                    t.topic.0.to_string(),
                    p.partition_index,
                    p.error_code,
                    p.records.as_ref().map_or_else(Vec::new, |r| r.to_vec()),
                )
            })
        })
        .collect()
}

/// A ListOffsets request for (topic, partition, timestamp).
pub fn list_offsets(parts: &[(&str, i32, i64)]) -> ListOffsetsRequest {
    let topics = parts
        .iter()
        .map(|(topic, partition, timestamp)| {
            ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(*partition)
                    .with_timestamp(*timestamp)])
        })
        .collect();
    ListOffsetsRequest::default().with_topics(topics)
}

/// A Metadata request for `topics`.
pub fn metadata(topics: &[&str], allow_auto_create: bool) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(
            topics
                .iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                .collect(),
        ))
        .with_allow_auto_topic_creation(allow_auto_create)
}

/// Produces with acks=1 and checks it succeeded; returns the base offset.
pub fn produce_ok(client: &mut Client, topic: &str, partition: i32, records: Vec<u8>) -> i64 {
    let (error, base) = produce_one(client, topic, partition, records);
    assert_eq!(error, 0, "produce to {topic}-{partition}");
    base
}

/// Asserts `client` is still served: a Metadata request gets its answer.
pub fn assert_served(client: &mut Client) {
    let response = client.call(9, &MetadataRequest::default().with_topics(Some(vec![])));
    assert_eq!(response.brokers.len(), 1);
}

/// A ProduceResponse's codes by (topic, partition).
pub fn produce_errors(response: &ProduceResponse) -> Vec<(String, i32, i16)> {
    response
        .responses
        .iter()
        .flat_map(|t| {
            t.partition_responses
                .iter()
                .map(move |p| (t.name.0.to_string(), p.index, p.error_code))
        })
        .collect()
}

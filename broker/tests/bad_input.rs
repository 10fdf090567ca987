//! Bad input at the broker's door: frames that do not decode, frames too
//! large or of a negative length, APIs and versions not served, requests
//! for topics that do not exist, produce requests Kafka refuses, clients
//! that leave or stall in the middle of a request, and more connections
//! than `max.connections`. Each refusal is Kafka's (an error code, or a
//! closed connection), and never disturbs the other connections or the
//! store.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::{ApiVersionsRequest, ListOffsetsRequest, MetadataRequest};

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const CORRUPT_MESSAGE: i16 = 2;
const MESSAGE_TOO_LARGE: i16 = 10;
const RECORD_LIST_TOO_LARGE: i16 = 18;
const INVALID_REQUIRED_ACKS: i16 = 21;
const UNSUPPORTED_VERSION: i16 = 35;
const INVALID_RECORD: i16 = 87;

/// A Metadata v9 header followed by bytes that are no Metadata request.
fn garbage_metadata_frame() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&3i16.to_be_bytes()); // Metadata
    body.extend_from_slice(&9i16.to_be_bytes()); // flexible
    body.extend_from_slice(&7i32.to_be_bytes());
    body.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
    body.push(0); // no header tagged fields
                  // A compact array claiming 2^28 topics, then noise.
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x01, 0xde, 0xad, 0xbe, 0xef]);
    body
}

#[test]
fn a_body_that_does_not_decode_closes_only_its_connection() {
    let b = TestBroker::start();
    b.create_topic("t", 1, &[]);
    let mut healthy = b.client();
    produce_ok(&mut healthy, "t", 0, batch(1, 10));

    let mut bad = b.client();
    bad.write_frame(&garbage_metadata_frame());
    bad.assert_closed("a Metadata body that does not decode");

    // Shorter than a request header.
    let mut short = b.client();
    short.write_frame(&[0, 3, 0]);
    short.assert_closed("a frame shorter than a header");

    // A header whose client id runs past the frame.
    let mut header = b.client();
    let mut body = bare_header(3, 1, 1);
    body.truncate(8);
    body.extend_from_slice(&100i16.to_be_bytes());
    header.write_frame(&body);
    header.assert_closed("a client id longer than the frame");

    // Valid fields with bytes left over are answered: Kafka ignores the
    // extra bytes (librdkafka sends some).
    let mut trailing = b.client();
    let (mut body, id) = trailing.encode(1, &MetadataRequest::default());
    body.push(0);
    trailing.write_frame(&body);
    let answer = trailing.recv::<MetadataRequest>(1, id);
    assert_eq!(answer.brokers.len(), 1);

    // A good request and garbage in one write: the first is answered,
    // then the connection closes.
    let mut pipelined = b.client();
    let (good, id) = pipelined.encode(9, &MetadataRequest::default());
    let mut both = (good.len() as i32).to_be_bytes().to_vec();
    both.extend_from_slice(&good);
    let garbage = garbage_metadata_frame();
    both.extend_from_slice(&(garbage.len() as i32).to_be_bytes());
    both.extend_from_slice(&garbage);
    pipelined.write_raw(&both);
    let answer = pipelined.recv::<MetadataRequest>(9, id);
    assert_eq!(answer.brokers.len(), 1);
    pipelined.assert_closed("garbage after a good request");

    // The connection opened before, and new ones, are served; the store
    // takes appends and serves them back.
    assert_served(&mut healthy);
    assert_eq!(produce_ok(&mut healthy, "t", 0, batch(1, 10)), 1);
    let mut fresh = b.client();
    let response = fresh.call(12, &fetch(0, 0, 1 << 20, &[("t", 0, 0, 1 << 20)]));
    let parts = fetched(&response);
    assert_eq!(parts[0].2, 0);
    assert_eq!(parts[0].3, std::fs::read(b.first_segment("t", 0)).unwrap());
}

#[test]
fn the_broker_logs_why_it_closes_a_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_seglog-broker"))
        .args([
            "--dir",
            dir.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--config", "socket.request.max.bytes=1000"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("the broker binary starts");
    let (lines_tx, lines) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_line = |what: &str| {
        lines
            .recv_timeout(REPLY_TIMEOUT)
            .unwrap_or_else(|_| panic!("no log line for {what}"))
    };
    let listening = next_line("listening");
    let addr = listening
        .split("listening on ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_else(|| panic!("{listening}"))
        .parse()
        .unwrap();

    let mut c = Client::connect(addr);
    c.write_frame(&garbage_metadata_frame());
    c.assert_closed("garbage");
    let line = next_line("a body that does not decode");
    assert!(
        line.contains("closing connection from 127.0.0.1:")
            && line.contains("Metadata v9 request")
            && line.contains("does not decode"),
        "{line}"
    );

    let mut c = Client::connect(addr);
    c.write_raw(&1001i32.to_be_bytes());
    c.assert_closed("a large frame");
    let line = next_line("a large frame");
    assert!(
        line.contains("a request frame of 1001 bytes (socket.request.max.bytes is 1000)"),
        "{line}"
    );

    let mut c = Client::connect(addr);
    c.write_frame(&bare_header(9999, 0, 1));
    c.assert_closed("an unknown key");
    let line = next_line("an unknown API key");
    assert!(
        line.contains("API key 9999 (version 0) is not served"),
        "{line}"
    );

    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn frames_above_socket_request_max_bytes_or_of_negative_length_close_the_connection() {
    // A produce frame of exactly the limit is served; one byte more is
    // not (Kafka refuses a size above socket.request.max.bytes).
    let exact = encode_request(9, 1, &produce(1, &[("t", 0, Some(batch(3, 100)))]));
    let limit = exact.len();
    let b = TestBroker::start_with(|c| c.socket_request_max_bytes = limit);
    b.create_topic("t", 1, &[]);

    let mut c = b.client();
    c.write_frame(&exact);
    let response = c
        .read_frame()
        .expect("a frame of exactly the limit is served");
    assert!(!response.is_empty());

    let mut c = b.client();
    c.write_raw(&(limit as i32 + 1).to_be_bytes());
    c.assert_closed("a frame one byte above the limit");

    let mut c = b.client();
    c.write_raw(&i32::MAX.to_be_bytes());
    c.assert_closed("a frame of 2 GiB");

    for size in [-1i32, i32::MIN] {
        let mut c = b.client();
        c.write_raw(&size.to_be_bytes());
        c.assert_closed("a negative frame length");
    }
    // Nothing of them reached the store.
    assert_eq!(b.log_end_offset("t", 0), 3);
    assert_served(&mut b.client());
}

#[test]
fn unknown_api_keys_and_versions_not_served_close_the_connection() {
    let b = TestBroker::start();
    for (key, version, what) in [
        (9999, 0, "an unknown API key"),
        (-1, 0, "a negative API key"),
        (67, 0, "a key Kafka knows but this broker does not serve"),
        (0, 2, "Produce below its oldest served version"),
        (0, 13, "Produce v13 (topic ids)"),
        (1, 3, "Fetch below its oldest served version"),
        (1, 13, "Fetch v13 (topic ids)"),
        (2, 0, "ListOffsets v0"),
        (3, 13, "Metadata above its newest served version"),
        (3, -1, "a negative version"),
    ] {
        let mut c = b.client();
        let mut body = bare_header(key, version, 1);
        body.extend_from_slice(&[0; 16]);
        c.write_frame(&body);
        c.assert_closed(what);
    }
    assert_served(&mut b.client());
}

#[test]
fn an_api_versions_version_not_served_gets_v0_with_unsupported_version() {
    let b = TestBroker::start();
    for version in [4, 127, -1] {
        let mut c = b.client();
        let mut body = bare_header(18, version, 42);
        // A newer version's body, which the broker must not try to read.
        body.extend_from_slice(&[0x05, b'x', b'y', b'z', b'w', 0x02, b'1', 0x00, 0xff]);
        c.write_frame(&body);
        // Version 0 of the response (header v0), whatever was asked.
        let response = c.recv::<ApiVersionsRequest>(0, 42);
        assert_eq!(response.error_code, UNSUPPORTED_VERSION, "v{version}");
        let own = response
            .api_keys
            .iter()
            .find(|k| k.api_key == 18)
            .expect("ApiVersions is listed");
        assert_eq!((own.min_version, own.max_version), (0, 3));
        // The connection stays open: the client retries with a version
        // from the list.
        let retry = c.call(3, &ApiVersionsRequest::default());
        assert_eq!(retry.error_code, 0);
        assert!(retry.api_keys.iter().any(|k| k.api_key == 0));
    }
}

#[test]
fn requests_for_a_topic_that_does_not_exist_get_unknown_topic_or_partition() {
    let b = TestBroker::start_with(|c| c.auto_create_topics = false);
    b.create_topic("t", 2, &[]);
    let mut c = b.client();

    // Produce: the missing topic, and partitions the topic lacks.
    let response = c.call(
        9,
        &produce(
            1,
            &[
                ("missing", 0, Some(batch(1, 1))),
                ("missing", 1, Some(batch(1, 1))),
                ("t", 2, Some(batch(1, 1))),
                ("t", -1, Some(batch(1, 1))),
                ("t", 0, Some(batch(1, 1))),
            ],
        ),
    );
    let codes = produce_errors(&response);
    assert_eq!(
        codes,
        [
            ("missing".into(), 0, UNKNOWN_TOPIC_OR_PARTITION),
            ("missing".into(), 1, UNKNOWN_TOPIC_OR_PARTITION),
            ("t".into(), 2, UNKNOWN_TOPIC_OR_PARTITION),
            ("t".into(), -1, UNKNOWN_TOPIC_OR_PARTITION),
            ("t".into(), 0, 0),
        ]
    );

    // Fetch: an error answers at once, even with a long max wait.
    let started = Instant::now();
    let response = c.call(
        12,
        &fetch(
            5_000,
            1,
            1 << 20,
            &[
                ("missing", 0, 0, 1 << 20),
                ("missing", 1, 0, 1 << 20),
                ("t", 7, 0, 1 << 20),
            ],
        ),
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let codes: Vec<_> = fetched(&response).into_iter().map(|p| (p.1, p.2)).collect();
    assert_eq!(
        codes,
        [
            (0, UNKNOWN_TOPIC_OR_PARTITION),
            (1, UNKNOWN_TOPIC_OR_PARTITION),
            (7, UNKNOWN_TOPIC_OR_PARTITION)
        ]
    );

    // ListOffsets.
    for version in [1, 5, 9] {
        let response = c.call::<ListOffsetsRequest>(
            version,
            &list_offsets(&[("missing", 0, -1), ("missing", 1, -2), ("t", 9, -1)]),
        );
        let codes: Vec<_> = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (p.error_code, p.offset)))
            .collect();
        assert_eq!(codes, [(UNKNOWN_TOPIC_OR_PARTITION, -1); 3], "v{version}");
    }

    // Metadata with auto-creation off: the topic is not created.
    for version in [1, 4, 9, 12] {
        let response = c.call(version, &metadata(&["missing"], true));
        assert_eq!(response.topics.len(), 1);
        assert_eq!(
            response.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION,
            "v{version}"
        );
        assert!(response.topics[0].partitions.is_empty());
    }
    assert_eq!(b.broker().store().list_topics(), ["t"]);
}

#[test]
fn a_special_timestamp_below_its_first_version_gets_unsupported_version() {
    let b = TestBroker::start();
    b.create_topic("t", 1, &[]);
    let mut c = b.client();
    produce_ok(&mut c, "t", 0, batch(3, 10));
    let refused = (UNSUPPORTED_VERSION, -1, -1);
    let mut check = |topic: &str, version: i16, timestamp: i64, want: (i16, i64, i64)| {
        let response =
            c.call::<ListOffsetsRequest>(version, &list_offsets(&[(topic, 0, timestamp)]));
        let p = &response.topics[0].partitions[0];
        let got = (p.error_code, p.timestamp, p.offset);
        assert_eq!(got, want, "{topic}: {timestamp} at v{version}");
    };
    // (timestamp, first version, answer there); ListOffsets is served
    // from v1 to v9, so -1 and -2 have no version below, -6 none at all.
    let special = [
        (-1, 1, (0, -1, 3)),
        (-2, 1, (0, -1, 0)),
        (-3, 7, (0, 1_002, 2)),
        (-4, 8, (0, -1, 0)),
        (-5, 9, (0, -1, -1)),
    ];
    for (timestamp, first, answer) in special {
        check("t", first, timestamp, answer);
        check("t", 9, timestamp, answer);
        if first > 1 {
            check("t", first - 1, timestamp, refused);
        }
    }
    for timestamp in [-6, -7, i64::MIN] {
        check("t", 1, timestamp, refused);
        check("t", 9, timestamp, refused);
    }
    // Refused before the partition is looked up, as Kafka does.
    check("missing", 9, -7, refused);
}

#[test]
fn metadata_creates_no_topic_when_the_request_forbids_it() {
    let b = TestBroker::start();
    let mut c = b.client();
    let response = c.call(9, &metadata(&["later"], false));
    assert_eq!(response.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    assert!(b.broker().store().list_topics().is_empty());
    // Produce never creates a topic (Metadata does, when allowed).
    let (error, _) = produce_one(&mut c, "later", 0, batch(1, 1));
    assert_eq!(error, UNKNOWN_TOPIC_OR_PARTITION);
    assert!(b.broker().store().list_topics().is_empty());
    let response = c.call(9, &metadata(&["later"], true));
    assert_eq!(response.topics[0].error_code, 0);
    assert_eq!(b.broker().store().list_topics(), ["later"]);
}

/// Asserts a produce of `records` to t-0 gets `code` and writes nothing,
/// while a good batch to t-1 in the same request is appended.
fn assert_refused(b: &TestBroker, records: Vec<u8>, code: i16, what: &str) {
    let mut c = b.client();
    let before = (b.log_end_offset("t", 0), file_len(b, "t", 0));
    let response = c.call(
        9,
        &produce(1, &[("t", 0, Some(records)), ("t", 1, Some(batch(1, 5)))]),
    );
    let codes = produce_errors(&response);
    assert_eq!(codes[0].2, code, "{what}: {:?}", response.responses[0]);
    assert_eq!(codes[1].2, 0, "{what}: the other partition");
    let refused = &response.responses[0].partition_responses[0];
    assert_eq!(refused.base_offset, -1, "{what}");
    assert!(refused.error_message.is_some(), "{what}: v8+ says why");
    assert_eq!(
        (b.log_end_offset("t", 0), file_len(b, "t", 0)),
        before,
        "{what}: nothing of it is written"
    );
    assert_served(&mut c);
}

fn file_len(b: &TestBroker, topic: &str, partition: u32) -> u64 {
    std::fs::metadata(b.first_segment(topic, partition))
        .map(|m| m.len())
        .unwrap_or(0)
}

#[test]
fn produce_refuses_what_kafka_refuses_and_writes_none_of_it() {
    let b = TestBroker::start();
    b.create_topic("t", 2, &[("max.message.bytes", "2000")]);
    let mut c = b.client();
    produce_ok(&mut c, "t", 0, batch(2, 10));

    let mut bad_crc = batch(3, 10);
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xff;
    assert_refused(&b, bad_crc, CORRUPT_MESSAGE, "a wrong CRC");

    let two = [batch(1, 10), batch(1, 10)].concat();
    assert_refused(&b, two, INVALID_RECORD, "two batches");

    let mut magic1 = batch(1, 10);
    magic1[16] = 1;
    assert_refused(&b, magic1, INVALID_RECORD, "a magic-1 batch");

    let mut cut = batch(2, 10);
    cut.truncate(cut.len() - 3);
    assert_refused(&b, cut, INVALID_RECORD, "a batch cut short");

    assert_refused(&b, vec![0; 5], INVALID_RECORD, "five bytes");

    let big = batch(1, 2100);
    assert!(big.len() > 2000);
    assert_refused(&b, big, MESSAGE_TOO_LARGE, "a batch over max.message.bytes");

    // A batch of exactly max.message.bytes is accepted.
    let fits = (1900..2000)
        .map(|n| batch(1, n))
        .find(|b| b.len() == 2000)
        .unwrap();
    assert_eq!(fits.len(), 2000);
    produce_ok(&mut c, "t", 0, fits);

    // Null records.
    let response = c.call(9, &produce(1, &[("t", 0, None)]));
    assert_eq!(produce_errors(&response)[0].2, CORRUPT_MESSAGE);
    assert_eq!(b.log_end_offset("t", 0), 3);
}

#[test]
fn a_batch_over_segment_bytes_gets_record_list_too_large() {
    let b = TestBroker::start();
    let limits = [("segment.bytes", "16384"), ("max.message.bytes", "40000")];
    b.create_topic("t", 2, &limits);
    let over_segment = batch(1, 20_000);
    assert!(over_segment.len() > 16384 && over_segment.len() <= 40000);
    let what = "a batch over segment.bytes within max.message.bytes";
    assert_refused(&b, over_segment, RECORD_LIST_TOO_LARGE, what);
    let what = "a batch over both segment.bytes and max.message.bytes";
    assert_refused(&b, batch(1, 41_000), MESSAGE_TOO_LARGE, what);
}

#[test]
fn acks_other_than_0_1_and_all_get_invalid_required_acks() {
    let b = TestBroker::start();
    b.create_topic("t", 2, &[]);
    let mut c = b.client();
    for acks in [5, 2, -2] {
        let response = c.call(
            9,
            &produce(
                acks,
                &[("t", 0, Some(batch(1, 1))), ("t", 1, Some(batch(1, 1)))],
            ),
        );
        let codes: Vec<_> = produce_errors(&response).into_iter().map(|p| p.2).collect();
        assert_eq!(codes, [INVALID_REQUIRED_ACKS; 2], "acks={acks}");
    }
    assert_eq!((b.log_end_offset("t", 0), b.log_end_offset("t", 1)), (0, 0));
    produce_ok(&mut c, "t", 0, batch(1, 1));
}

#[test]
fn a_keyless_record_to_a_compacted_topic_gets_invalid_record() {
    let b = TestBroker::start();
    b.create_topic("t", 2, &[("cleanup.policy", "compact")]);
    let mut c = b.client();
    produce_ok(&mut c, "t", 0, keyed_batch("k", "v"));
    let response = c.call(
        9,
        &produce(
            1,
            &[
                ("t", 0, Some(batch(1, 5))),
                ("t", 1, Some(keyed_batch("k", "v"))),
            ],
        ),
    );
    let codes: Vec<_> = produce_errors(&response).into_iter().map(|p| p.2).collect();
    assert_eq!(codes, [INVALID_RECORD, 0]);
    assert_eq!(b.log_end_offset("t", 0), 1);
}

#[test]
fn a_produce_with_acks_0_that_fails_closes_the_connection() {
    let b = TestBroker::start();
    b.create_topic("t", 1, &[]);
    let mut c = b.client();
    // One that succeeds gets no response: the next response is the
    // Metadata request's.
    c.send(9, &produce(0, &[("t", 0, Some(batch(1, 1)))]));
    assert_served(&mut c);
    assert_eq!(b.log_end_offset("t", 0), 1);

    let mut bad = batch(2, 1);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    c.send(9, &produce(0, &[("t", 0, Some(bad))]));
    c.assert_closed("a failed produce with acks=0");

    let mut c = b.client();
    c.send(9, &produce(0, &[("missing", 0, Some(batch(1, 1)))]));
    c.assert_closed("a produce with acks=0 to a missing topic");
    assert_eq!(b.log_end_offset("t", 0), 1);
    assert_served(&mut b.client());
}

#[test]
fn a_client_that_leaves_in_the_middle_of_a_request_disturbs_no_one() {
    let b = TestBroker::start();
    b.create_topic("t", 1, &[]);
    let mut healthy = b.client();
    produce_ok(&mut healthy, "t", 0, batch(1, 1));
    let (frame, _) = healthy.encode(9, &produce(1, &[("t", 0, Some(batch(5, 100)))]));
    let mut whole = (frame.len() as i32).to_be_bytes().to_vec();
    whole.extend_from_slice(&frame);
    for cut in [1, 3, 4, 20, whole.len() - 1] {
        let mut c = b.client();
        c.write_raw(&whole[..cut]);
        drop(c);
    }
    // Nothing of the partial produces was appended, and the broker still
    // serves every connection.
    assert_eq!(produce_ok(&mut healthy, "t", 0, batch(1, 1)), 1);
    assert_served(&mut b.client());
    assert_eq!(b.log_end_offset("t", 0), 2);
    // Their connections end as the broker sees them close.
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.broker().connections() > 1 {
        assert!(
            Instant::now() < deadline,
            "{} open",
            b.broker().connections()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn max_connections_closes_the_one_beyond_and_accepts_again_after_a_close() {
    let b = TestBroker::start_with(|c| c.max_connections = 2);
    let mut first = b.client();
    let mut second = b.client();
    assert_served(&mut first);
    assert_served(&mut second);

    let mut third = b.client();
    // Closed at once, before it sends anything.
    let closed_in = third.time_to_close(Duration::from_secs(2));
    assert!(closed_in.is_some(), "the third connection stayed open");

    drop(first);
    // The broker sees the close when the connection's thread ends.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = b.client();
        let mut body = bare_header(3, 1, 1);
        body.extend_from_slice(&0i32.to_be_bytes()); // no topics
        again.write_frame(&body);
        if again.read_frame().is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no connection accepted after a close"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_served(&mut second);
}

#[test]
fn a_client_that_stalls_is_dropped_after_connections_max_idle_ms() {
    let idle = Duration::from_millis(300);
    let b = TestBroker::start_with(|c| c.connections_max_idle = idle);
    // Idle between requests; stalled after 2 bytes of a length; stalled
    // in the middle of a body.
    let started = Instant::now();
    let mut idle_client = b.client();
    assert_served(&mut idle_client);
    let mut in_length = b.client();
    in_length.write_raw(&[0, 0]);
    let mut in_body = b.client();
    in_body.write_raw(&100i32.to_be_bytes());
    in_body.write_raw(&[0, 3, 0, 1, 0]);

    for (c, what) in [
        (&mut idle_client, "idle"),
        (&mut in_length, "stalled in the frame length"),
        (&mut in_body, "stalled in the body"),
    ] {
        assert!(
            c.closed_within(Duration::from_secs(3)),
            "{what}: not dropped"
        );
        let after = started.elapsed();
        println!("{what}: dropped after {after:?}");
        assert!(after >= idle, "{what}: dropped after {after:?}");
    }
    // A connection that keeps asking is not idle.
    let mut busy = b.client();
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(100));
        assert_served(&mut busy);
    }
}

/// The fuzz target `broker_request`'s seeds: requests of every served API
/// at a few versions, over the topics of the target's store (`t` with two
/// partitions, `compact`, `small`), as (file name, frame body). None of
/// them waits: a fetch asks for data there is.
fn fuzz_seeds() -> Vec<(String, Vec<u8>)> {
    use kafka_protocol::messages::ApiVersionsRequest as Versions;
    let mut seeds = Vec::new();
    let mut add = |name: &str, body: Vec<u8>| seeds.push((name.to_string(), body));
    for v in [0, 3] {
        let request = Versions::default()
            .with_client_software_name(kafka_protocol::protocol::StrBytes::from_static_str("seed"))
            .with_client_software_version(kafka_protocol::protocol::StrBytes::from_static_str("1"));
        add(
            &format!("api-versions-v{v}"),
            encode_request(v, 1, &request),
        );
    }
    add(
        "metadata-v0-all",
        encode_request(0, 2, &MetadataRequest::default().with_topics(Some(vec![]))),
    );
    add(
        "metadata-v1-null",
        encode_request(1, 3, &MetadataRequest::default()),
    );
    add(
        "metadata-v4-create",
        encode_request(4, 4, &metadata(&["t", "new"], true)),
    );
    add(
        "metadata-v9",
        encode_request(9, 5, &metadata(&["t", "compact"], false)),
    );
    add(
        "metadata-v12",
        encode_request(12, 6, &metadata(&["small", "t"], true)),
    );
    let gzip = seglog::BatchBuilder::new()
        .compression(seglog::Compression::Gzip)
        .build(&[seglog::Record::new("zipped").with_timestamp(7)])
        .unwrap();
    add(
        "produce-v3",
        encode_request(3, 7, &produce(1, &[("t", 0, Some(batch(2, 4)))])),
    );
    add(
        "produce-v8-two-partitions",
        encode_request(
            8,
            8,
            &produce(-1, &[("t", 0, Some(batch(1, 3))), ("t", 1, Some(gzip))]),
        ),
    );
    add(
        "produce-v9-compact",
        encode_request(
            9,
            9,
            &produce(1, &[("compact", 0, Some(keyed_batch("k", "v")))]),
        ),
    );
    add(
        "produce-v12-small",
        encode_request(12, 10, &produce(1, &[("small", 0, Some(batch(1, 150)))])),
    );
    add(
        "produce-v9-acks0",
        encode_request(9, 11, &produce(0, &[("t", 1, Some(batch(1, 1)))])),
    );
    for (i, v) in [4, 7, 11, 12].into_iter().enumerate() {
        let request = fetch(
            0,
            1,
            1 << 20,
            &[
                ("t", 0, 0, 1 << 20),
                ("t", 1, 0, 100),
                ("compact", 0, 0, 1 << 20),
            ],
        );
        add(
            &format!("fetch-v{v}"),
            encode_request(v, 20 + i as i32, &request),
        );
    }
    for (i, (v, timestamp)) in [(1, -1), (4, -2), (7, -3), (9, 1_000)]
        .into_iter()
        .enumerate()
    {
        let request = list_offsets(&[("t", 0, timestamp), ("t", 1, timestamp)]);
        add(
            &format!("list-offsets-v{v}"),
            encode_request(v, 30 + i as i32, &request),
        );
    }
    seeds
}

#[test]
fn the_fuzz_seeds_are_current_and_answered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/broker_request");
    let seeds = fuzz_seeds();
    if std::env::var_os("SEGLOG_WRITE_FUZZ_SEEDS").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, body) in &seeds {
            std::fs::write(dir.join(name), body).unwrap();
        }
    }
    let mut committed: Vec<String> = std::fs::read_dir(&dir)
        .expect("fuzz/seeds/broker_request (SEGLOG_WRITE_FUZZ_SEEDS=1 writes it)")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    committed.sort();
    let mut names: Vec<String> = seeds.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(
        committed, names,
        "SEGLOG_WRITE_FUZZ_SEEDS=1 writes the seeds again"
    );

    let b = TestBroker::start();
    b.create_topic("t", 2, &[]);
    b.create_topic("compact", 1, &[("cleanup.policy", "compact")]);
    b.create_topic("small", 1, &[("max.message.bytes", "200")]);
    let mut c = b.client();
    for (name, body) in &seeds {
        assert_eq!(
            &std::fs::read(dir.join(name)).unwrap(),
            body,
            "{name} is stale"
        );
        c.write_frame(body);
        if name.ends_with("acks0") {
            continue;
        }
        let response = c
            .read_frame()
            .unwrap_or_else(|| panic!("{name}: the connection closed"));
        assert_eq!(response[..4], body[4..8], "{name}: correlation id");
    }
    assert_served(&mut c);
    assert_eq!(
        b.log_end_offset("t", 1),
        2,
        "both produces to t-1 were appended"
    );
}

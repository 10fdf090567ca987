//! Fetch's limits (`max_bytes` across partitions, `partition_max_bytes`,
//! the first batch whole above both, KIP-74), its long poll, that fetched
//! bytes are the segment files' bytes, and a clean shutdown while requests
//! wait or connections idle.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::FetchRequest;
use seglog::store::{LogStore, StoreConfig};
use seglog::{BatchBuilder, Compression, Record};

/// Produces `batches` batches of one record of `value_len` bytes to each
/// partition of `topic`; returns one batch's size.
fn fill(c: &mut Client, topic: &str, partitions: i32, batches: usize, value_len: usize) -> usize {
    for p in 0..partitions {
        for _ in 0..batches {
            produce_ok(c, topic, p, batch(1, value_len));
        }
    }
    batch(1, value_len).len()
}

/// The bytes fetched from each partition, in the order asked.
fn sizes(response: &kafka_protocol::messages::FetchResponse) -> Vec<usize> {
    fetched(response)
        .into_iter()
        .map(|(t, p, error, bytes)| {
            assert_eq!(error, 0, "{t}-{p}");
            bytes.len()
        })
        .collect()
}

#[test]
fn max_bytes_bounds_the_whole_response() {
    let b = TestBroker::start();
    b.create_topic("t", 3, &[]);
    let mut c = b.client();
    let s = fill(&mut c, "t", 3, 3, 1000);
    let all = [
        ("t", 0, 0, 1 << 20),
        ("t", 1, 0, 1 << 20),
        ("t", 2, 0, 1 << 20),
    ];

    // Two and a half batches: two from the first partition, and the rest
    // is too small for a batch of the second.
    let r = c.call(12, &fetch(0, 1, (2 * s + s / 2) as i32, &all));
    assert_eq!(sizes(&r), [2 * s, 0, 0]);
    // The partitions left out still tell where their log ends.
    for p in &r.responses[0].partitions {
        assert_eq!(p.high_watermark, 3);
    }

    // Four batches' worth: three from the first, one from the second.
    let r = c.call(12, &fetch(0, 1, (4 * s) as i32, &all));
    assert_eq!(sizes(&r), [3 * s, s, 0]);

    // Old versions apply it the same way.
    for v in [4, 7, 11] {
        let r = c.call(v, &fetch(0, 1, (4 * s) as i32, &all));
        assert_eq!(sizes(&r), [3 * s, s, 0], "v{v}");
    }
}

#[test]
fn partition_max_bytes_bounds_each_partition() {
    let b = TestBroker::start();
    b.create_topic("t", 3, &[]);
    let mut c = b.client();
    let s = fill(&mut c, "t", 3, 3, 1000);
    let each = |limit: usize| {
        fetch(
            0,
            1,
            1 << 20,
            &[
                ("t", 0, 0, limit as i32),
                ("t", 1, 0, limit as i32),
                ("t", 2, 1, limit as i32),
            ],
        )
    };
    assert_eq!(sizes(&c.call(12, &each(s + s / 2))), [s, s, s]);
    assert_eq!(sizes(&c.call(12, &each(2 * s))), [2 * s, 2 * s, 2 * s]);
    // From offset 1 of partition 2 only two batches are left.
    assert_eq!(sizes(&c.call(12, &each(10 * s))), [3 * s, 3 * s, 2 * s]);
}

#[test]
fn the_first_batch_of_the_first_partition_with_data_comes_whole_above_the_limits() {
    let b = TestBroker::start();
    b.create_topic("big", 3, &[]);
    let mut c = b.client();
    // Partition 0 is empty; 1 and 2 hold two large batches each.
    for p in 1..3 {
        produce_ok(&mut c, "big", p, batch(1, 5000));
        produce_ok(&mut c, "big", p, batch(1, 5000));
    }
    let s = batch(1, 5000).len();
    let parts = |order: [i32; 3], pmb: i32| -> Vec<(&'static str, i32, i64, i32)> {
        order.iter().map(|&p| ("big", p, 0, pmb)).collect()
    };

    // Both limits far below one batch: the first partition with data gets
    // exactly one batch, the next one nothing.
    let r = c.call(12, &fetch(0, 1, 100, &parts([0, 1, 2], 100)));
    assert_eq!(sizes(&r), [0, s, 0]);
    let r = c.call(12, &fetch(0, 1, 100, &parts([2, 1, 0], 100)));
    assert_eq!(sizes(&r), [s, 0, 0]);
    // Only partition_max_bytes below a batch.
    let r = c.call(12, &fetch(0, 1, 1 << 20, &parts([0, 1, 2], 100)));
    assert_eq!(sizes(&r), [0, s, 0]);
    // Only max_bytes below a batch.
    let r = c.call(12, &fetch(0, 1, 100, &parts([0, 1, 2], 1 << 20)));
    assert_eq!(sizes(&r), [0, s, 0]);
    // A zero limit too.
    let r = c.call(12, &fetch(0, 1, 0, &parts([1, 2, 0], 0)));
    assert_eq!(sizes(&r), [s, 0, 0]);
}

#[test]
fn fetched_bytes_are_the_segment_files_bytes() {
    let b = TestBroker::start();
    b.create_topic("t", 1, &[]);
    let mut c = b.client();
    let mut offsets = Vec::new();
    for (i, codec) in [
        Compression::None,
        Compression::Gzip,
        Compression::None,
        Compression::Lz4,
        Compression::Snappy,
    ]
    .into_iter()
    .enumerate()
    {
        let records: Vec<Record> = (0..=i)
            .map(|j| {
                Record::new(format!("value {i} {j}"))
                    .with_key(format!("k{j}"))
                    .with_timestamp(5)
            })
            .collect();
        let batch = BatchBuilder::new()
            .compression(codec)
            .build(&records)
            .unwrap();
        offsets.push(produce_ok(&mut c, "t", 0, batch));
    }
    let file = std::fs::read(b.first_segment("t", 0)).unwrap();
    assert!(!file.is_empty());
    for v in [4, 7, 11, 12] {
        let r = c.call(v, &fetch(0, 1, 1 << 20, &[("t", 0, 0, 1 << 20)]));
        assert_eq!(fetched(&r)[0].3, file, "v{v}");
    }
    // From the third batch on: the file from that batch's position.
    let mut pos = 0;
    for _ in 0..2 {
        let len = i32::from_be_bytes(file[pos + 8..pos + 12].try_into().unwrap());
        pos += 12 + len as usize;
    }
    let r = c.call(12, &fetch(0, 1, 1 << 20, &[("t", 0, offsets[2], 1 << 20)]));
    assert_eq!(fetched(&r)[0].3, &file[pos..]);
}

#[test]
fn a_long_poll_returns_as_soon_as_another_connection_produces() {
    let b = TestBroker::start();
    b.create_topic("t", 1, &[]);
    let mut waiter = b.client();
    let asked = Instant::now();
    let id = waiter.send(12, &fetch(5_000, 1, 1 << 20, &[("t", 0, 0, 1 << 20)]));
    std::thread::sleep(Duration::from_millis(300));
    let mut producer = b.client();
    let produced = Instant::now();
    produce_ok(&mut producer, "t", 0, batch(2, 10));
    let r = waiter.recv::<FetchRequest>(12, id);
    let latency = produced.elapsed();
    println!("long poll answered {latency:?} after the produce began");
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    assert!(asked.elapsed() >= Duration::from_millis(300), "it waited");
    assert_eq!(fetched(&r)[0].3.len(), batch(2, 10).len());
}

#[test]
fn a_fetch_with_too_little_data_returns_after_about_max_wait_ms() {
    let b = TestBroker::start();
    b.create_topic("t", 1, &[]);
    let mut c = b.client();

    let started = Instant::now();
    let r = c.call(12, &fetch(400, 1, 1 << 20, &[("t", 0, 0, 1 << 20)]));
    let waited = started.elapsed();
    println!("an empty fetch with max_wait_ms=400 took {waited:?}");
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    assert!(waited < Duration::from_millis(1_000), "{waited:?}");
    assert!(fetched(&r)[0].3.is_empty());

    // min_bytes above what there is: the data comes after the wait.
    produce_ok(&mut c, "t", 0, batch(1, 100));
    let started = Instant::now();
    let r = c.call(12, &fetch(300, 100_000, 1 << 20, &[("t", 0, 0, 1 << 20)]));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_millis(900), "{waited:?}");
    assert_eq!(fetched(&r)[0].3.len(), batch(1, 100).len());

    // No wait at all.
    let started = Instant::now();
    c.call(12, &fetch(0, 1, 1 << 20, &[("t", 0, 1, 1 << 20)]));
    assert!(started.elapsed() < Duration::from_millis(250));
}

/// The store in `dir` reopens clean, with `records` records in t-0.
fn assert_reopens_clean(dir: &std::path::Path, records: u64) {
    let store = LogStore::open(dir, StoreConfig::default()).expect("reopens");
    assert!(
        store.open_report().clean_shutdown,
        "{:?}",
        store.open_report()
    );
    assert!(store.open_report().damaged_partitions.is_empty());
    assert_eq!(store.partition("t", 0).unwrap().log_end_offset(), records);
    store.close().unwrap();
}

#[test]
fn shutdown_while_a_long_poll_waits_is_quick_and_clean() {
    let b = TestBroker::start();
    b.create_topic("t", 1, &[]);
    let mut c = b.client();
    produce_ok(&mut c, "t", 0, batch(1, 10));
    let id = c.send(12, &fetch(10_000, 1, 1 << 20, &[("t", 0, 1, 1 << 20)]));
    std::thread::sleep(Duration::from_millis(100));

    let started = Instant::now();
    let (dir, closed) = b.shutdown();
    let took = started.elapsed();
    println!("shutdown with a waiting long poll took {took:?}");
    closed.expect("the store closes cleanly");
    assert!(took < Duration::from_secs(2), "{took:?}");
    // The waiting fetch was answered (empty) before its connection closed.
    let r = c.recv::<FetchRequest>(12, id);
    assert!(fetched(&r)[0].3.is_empty());
    assert!(c.closed_within(Duration::from_secs(1)));
    assert_reopens_clean(dir.path(), 1);
}

#[test]
fn shutdown_with_idle_and_half_sent_connections_is_quick_and_clean() {
    let b = TestBroker::start();
    b.create_topic("t", 1, &[]);
    let mut idle = b.client();
    produce_ok(&mut idle, "t", 0, batch(3, 10));
    let mut half = b.client();
    half.write_raw(&50i32.to_be_bytes());
    half.write_raw(&[0, 0, 0]);
    std::thread::sleep(Duration::from_millis(50));

    let started = Instant::now();
    let (dir, closed) = b.shutdown();
    let took = started.elapsed();
    println!("shutdown with idle connections took {took:?}");
    closed.expect("the store closes cleanly");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(idle.closed_within(Duration::from_secs(1)));
    assert!(half.closed_within(Duration::from_secs(1)));
    assert_reopens_clean(dir.path(), 3);
}

/// Sends `frame_len` announced bytes one at a time, every `gap`, until the
/// connection breaks or `stop` says so.
fn trickle(mut c: Client, frame_len: i32, gap: Duration, stop: Instant) -> Client {
    c.write_raw(&frame_len.to_be_bytes());
    let _ = c.stream().set_write_timeout(Some(Duration::from_secs(1)));
    while Instant::now() < stop {
        use std::io::Write;
        if c.stream().write_all(&[0]).is_err() {
            break;
        }
        std::thread::sleep(gap);
    }
    c
}

#[test]
fn a_client_trickling_a_request_is_dropped_after_connections_max_idle_ms() {
    let b = TestBroker::start_with(|c| c.connections_max_idle = Duration::from_millis(600));
    let started = Instant::now();
    // A byte every 50 ms never lets a 200 ms read time out.
    let c = trickle(
        b.client(),
        100_000,
        Duration::from_millis(50),
        started + Duration::from_secs(5),
    );
    let took = started.elapsed();
    let _ = c;
    println!("a trickling client was dropped after {took:?}");
    assert!(took >= Duration::from_millis(600), "{took:?}");
    assert!(
        took < Duration::from_secs(4),
        "still connected after {took:?}"
    );
}

#[test]
fn shutdown_ends_a_trickling_client_and_one_that_does_not_read_its_fetch() {
    let b = TestBroker::start();
    b.create_topic("t", 1, &[]);
    let mut producer = b.client();
    // 22 MiB, more than loopback socket buffers hold.
    for _ in 0..24 {
        produce_ok(&mut producer, "t", 0, batch(15, 64 * 1024));
    }
    let mut reader = b.client();
    reader.send(4, &fetch(0, 1, i32::MAX, &[("t", 0, 0, i32::MAX)]));
    let trickler = {
        let c = b.client();
        std::thread::spawn(move || {
            trickle(
                c,
                100_000,
                Duration::from_millis(50),
                Instant::now() + Duration::from_secs(60),
            )
        })
    };
    std::thread::sleep(Duration::from_millis(300));

    let started = Instant::now();
    let (dir, closed) = b.shutdown();
    let took = started.elapsed();
    println!("shutdown with a trickling and a non-reading client took {took:?}");
    closed.expect("the store closes cleanly");
    // The 5 s grace, then the sockets are shut.
    assert!(took < Duration::from_secs(10), "{took:?}");
    let _ = trickler.join();
    assert_reopens_clean(dir.path(), 24 * 15);
}

#[test]
fn a_long_poll_of_a_client_that_left_gives_its_connection_back() {
    let b = TestBroker::start_with(|c| c.max_connections = 1);
    b.create_topic("t", 1, &[]);
    let mut waiting = b.client();
    waiting.send(
        12,
        &fetch(i32::MAX, i32::MAX, i32::MAX, &[("t", 0, 0, 1 << 20)]),
    );
    std::thread::sleep(Duration::from_millis(100));
    drop(waiting);
    let started = Instant::now();
    loop {
        let mut next = b.client();
        let (body, id) = next.encode(9, &metadata(&["t"], false));
        next.write_frame(&body);
        if next.read_frame().is_some() {
            let _ = id;
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the slot of the departed long poll was not given back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("the slot came back after {:?}", started.elapsed());
}

//! Producers and consumers of a LogStore: routing, batching, linger,
//! positions, blocking polls, offset resets, and many threads at once.

#[path = "store_clients/borrowed.rs"]
mod borrowed;
mod common;
mod common_compacted;
#[path = "store_clients/compacted.rs"]
mod compacted;
#[path = "store_clients/control.rs"]
mod control;
#[path = "store_clients/crc_checks.rs"]
mod crc_checks;
#[path = "store_clients/linger.rs"]
mod linger;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use seglog::inspect::verify_partition_dir_with;
use seglog::io::MemFs;
use seglog::store::{LogStore, StoreConfig, StoreOptions};
use seglog::topic::{Partitioner, TopicConfig};
use seglog::{
    AutoOffsetReset, ConsumerConfig, Error, ManualClock, ProducerConfig, ProducerRecord,
    TimestampType,
};

const ROOT: &str = "/store";

fn mem_store() -> (MemFs, ManualClock, LogStore) {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_700_000_000_000);
    let store = StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(ROOT, StoreConfig::default())
        .unwrap();
    (fs, clock, store)
}

fn earliest() -> ConsumerConfig {
    ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Earliest,
        ..ConsumerConfig::default()
    }
}

fn batches(fs: &MemFs, topic: &str, partition: u32) -> u64 {
    verify_partition_dir_with(fs, Path::new(&format!("{ROOT}/{topic}-{partition}")))
        .unwrap()
        .batches()
}

/// Kafka's test vectors: murmur2 of the key, and so the partition a Java
/// client picks among `n` (`(hash & 0x7fffffff) % n`).
const VECTORS: [(&str, i32); 5] = [
    ("21", -973_932_308),
    ("foobar", -790_332_482),
    ("a-little-bit-long-string", -985_981_536),
    ("a-little-bit-longer-string", -1_486_304_829),
    ("abc", 479_470_107),
];

#[test]
fn keyed_records_land_where_a_kafka_client_puts_them() {
    let (_fs, _clock, store) = mem_store();
    for n in [1u32, 3, 7, 16] {
        let topic = format!("t{n}");
        store.create_topic(&topic, n, &[]).unwrap();
        let producer = store.producer(ProducerConfig::default());
        for (key, hash) in VECTORS {
            let expected = ((hash as u32) & 0x7fff_ffff) % n;
            let meta = producer
                .send_and_wait(ProducerRecord::new(&topic, "v").with_key(key))
                .unwrap();
            assert_eq!(meta.partition, expected, "{key} among {n}");
        }
        // An explicit partition wins over the key.
        let meta = producer
            .send_and_wait(
                ProducerRecord::new(&topic, "v")
                    .with_key("abc")
                    .with_partition(n - 1),
            )
            .unwrap();
        assert_eq!(meta.partition, n - 1);
        assert!(matches!(
            producer.send(ProducerRecord::new(&topic, "v").with_partition(n)),
            Err(Error::UnknownPartition { partition, partitions, .. }) if partition == n && partitions == n
        ));
    }
}

#[test]
fn records_of_a_partition_are_appended_as_one_batch() {
    let (fs, _clock, store) = mem_store();
    store.create_topic("t", 2, &[]).unwrap();
    // A linger that never passes: only full batches, waits and flushes
    // append.
    let producer = store.producer(ProducerConfig {
        max_batch_records: 50,
        linger: Duration::from_secs(3600),
        ..ProducerConfig::default()
    });
    let deliveries: Vec<_> = (0..120)
        .map(|i| {
            producer
                .send(ProducerRecord::new("t", format!("{i}")).with_partition(0))
                .unwrap()
        })
        .collect();
    // Two full batches went at 50 and 100; the rest waits for a flush.
    assert_eq!(store.partition("t", 0).unwrap().log_end_offset(), 100);
    assert_eq!(batches(&fs, "t", 0), 2);
    // Waiting for a delivery appends its open batch.
    let last = deliveries.into_iter().last().unwrap().wait().unwrap();
    assert_eq!((last.partition, last.offset), (0, 119));
    assert_eq!(batches(&fs, "t", 0), 3);

    // Explicit flush, and byte-bound batches.
    let producer = store.producer(ProducerConfig {
        batch_size: 1_000,
        linger: Duration::from_secs(3600),
        ..ProducerConfig::default()
    });
    for _ in 0..25 {
        let _ = producer
            .send(ProducerRecord::new("t", vec![b'x'; 100]).with_partition(1))
            .unwrap();
    }
    producer.flush().unwrap();
    assert_eq!(store.partition("t", 1).unwrap().log_end_offset(), 25);
    let b = batches(&fs, "t", 1);
    assert!(
        (3..=4).contains(&b),
        "{b} batches of ~1000 bytes for 25 records"
    );
}

#[test]
fn keyless_records_stick_to_a_partition_for_a_batch() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 6, &[]).unwrap();
    let producer = store.producer(ProducerConfig {
        max_batch_records: 10,
        // Only full batches move the partitioner on.
        linger: Duration::from_secs(3600),
        partitioner: Arc::new(seglog::topic::DefaultPartitioner::with_seed(3)),
        ..ProducerConfig::default()
    });
    let partitions: Vec<u32> = (0..100)
        .map(|i| {
            producer
                .send(ProducerRecord::new("t", format!("{i}")))
                .unwrap()
                .partition()
        })
        .collect();
    for chunk in partitions.chunks(10) {
        assert!(chunk.iter().all(|p| *p == chunk[0]), "{partitions:?}");
    }
    for pair in partitions.chunks(10).collect::<Vec<_>>().windows(2) {
        assert_ne!(pair[0][0], pair[1][0], "moves on after a full batch");
    }
    let used: HashSet<u32> = partitions.iter().copied().collect();
    assert!(used.len() >= 3, "{used:?}");
}

#[test]
fn a_custom_partitioner_is_used_for_records_without_a_partition() {
    #[derive(Debug)]
    struct Last;
    impl Partitioner for Last {
        fn partition(&self, _topic: &str, _key: Option<&[u8]>, partitions: u32) -> u32 {
            partitions - 1
        }
    }
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 4, &[]).unwrap();
    let producer = store.producer(ProducerConfig {
        partitioner: Arc::new(Last),
        ..ProducerConfig::default()
    });
    let meta = producer
        .send_and_wait(ProducerRecord::new("t", "v").with_key("abc"))
        .unwrap();
    assert_eq!(meta.partition, 3);
}

#[test]
fn timestamps_are_the_senders_or_the_append_time() {
    let (_fs, clock, store) = mem_store();
    store.create_topic("create", 1, &[]).unwrap();
    store
        .create_topic("append", 1, &[("message.timestamp.type", "LogAppendTime")])
        .unwrap();
    let producer = store.producer(ProducerConfig::default());
    let given = producer
        .send_and_wait(ProducerRecord::new("create", "a").with_timestamp(42))
        .unwrap();
    assert_eq!(given.timestamp, 42);
    let now = clock_now(&clock);
    let stamped = producer
        .send_and_wait(ProducerRecord::new("create", "b"))
        .unwrap();
    assert_eq!(stamped.timestamp, now);
    clock.advance(5);
    let appended = producer
        .send_and_wait(ProducerRecord::new("append", "c").with_timestamp(42))
        .unwrap();
    assert_eq!(appended.timestamp, now + 5);

    let mut consumer = store.consumer(earliest());
    consumer.assign(&[("create", 0), ("append", 0)]).unwrap();
    let records = consumer.poll(Duration::from_secs(5)).unwrap();
    let by_value: BTreeMap<Vec<u8>, (i64, TimestampType)> = records
        .into_iter()
        .map(|r| (r.value.unwrap(), (r.timestamp, r.timestamp_type)))
        .collect();
    assert_eq!(by_value[&b"a"[..]], (42, TimestampType::CreateTime));
    assert_eq!(by_value[&b"b"[..]], (now, TimestampType::CreateTime));
    assert_eq!(by_value[&b"c"[..]], (now + 5, TimestampType::LogAppendTime));

    assert!(matches!(
        producer.send(ProducerRecord::new("create", "x").with_timestamp(-5)),
        Err(Error::InvalidRecord { .. })
    ));
    assert!(matches!(
        producer.send(ProducerRecord::new("nope", "x")),
        Err(Error::UnknownTopic { name }) if name == "nope"
    ));
}

fn clock_now(clock: &ManualClock) -> i64 {
    use seglog::Clock;
    clock.now_ms()
}

#[test]
fn a_record_larger_than_max_message_bytes_is_refused_at_send() {
    let (_fs, _clock, store) = mem_store();
    store
        .create_topic("small", 1, &[("max.message.bytes", "1000")])
        .unwrap();
    let producer = store.producer(ProducerConfig::default());
    match producer.send(ProducerRecord::new("small", vec![0u8; 2_000])) {
        Err(Error::RecordTooLarge { size, max }) => {
            assert!(size > 2_000);
            assert_eq!(max, 1_000);
        }
        other => panic!("{other:?}"),
    }
    // Records that fit are batched below the limit, however many there are.
    for _ in 0..50 {
        let _ = producer
            .send(ProducerRecord::new("small", vec![1u8; 300]))
            .unwrap();
    }
    producer.flush().unwrap();
    assert_eq!(store.partition("small", 0).unwrap().log_end_offset(), 50);
}

#[cfg(feature = "gzip")]
#[test]
fn a_topic_with_compression_stores_compressed_batches() {
    let (fs, _clock, store) = mem_store();
    store
        .create_topic("zipped", 1, &[("compression.type", "gzip")])
        .unwrap();
    let producer = store.producer(ProducerConfig::default());
    for i in 0..200 {
        let _ = producer
            .send(ProducerRecord::new("zipped", format!("{i:0>100}")))
            .unwrap();
    }
    producer.flush().unwrap();
    let report = verify_partition_dir_with(&fs, Path::new("/store/zipped-0")).unwrap();
    assert_eq!(report.records(), 200);
    assert!(report.bytes() < 200 * 100 / 4, "{} bytes", report.bytes());
    let mut consumer = store.consumer(earliest());
    consumer.assign(&[("zipped", 0)]).unwrap();
    let records = consumer.poll(Duration::from_secs(1)).unwrap();
    assert_eq!(records.len(), 200);
    assert_eq!(
        records[7].value.as_deref(),
        Some(format!("{:0>100}", 7).as_bytes())
    );
}

#[test]
fn positions_seeks_and_poll_limits() {
    let (_fs, clock, store) = mem_store();
    store.create_topic("t", 2, &[]).unwrap();
    let producer = store.producer(ProducerConfig::default());
    for p in 0..2u32 {
        for i in 0..100i64 {
            let _ = producer
                .send(
                    ProducerRecord::new("t", format!("{p}:{i}"))
                        .with_partition(p)
                        .with_timestamp(10_000 + i * 10),
                )
                .unwrap();
        }
    }
    producer.flush().unwrap();
    clock.advance(1);

    let mut consumer = store.consumer(ConsumerConfig {
        max_poll_records: 30,
        ..earliest()
    });
    assert!(matches!(
        consumer.seek(("t", 0), 5),
        Err(Error::NotAssigned { partition: 0, .. })
    ));
    consumer.assign(&[("t", 0), ("t", 1)]).unwrap();
    assert_eq!(consumer.position(("t", 0)).unwrap(), 0);
    let mut seen: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    loop {
        let records = consumer.poll(Duration::from_millis(10)).unwrap();
        if records.is_empty() {
            break;
        }
        assert!(records.len() <= 30);
        for r in records {
            assert_eq!(
                r.value.as_deref(),
                Some(format!("{}:{}", r.partition, r.offset).as_bytes())
            );
            seen.entry(r.partition).or_default().push(r.offset);
        }
    }
    for p in 0..2 {
        assert_eq!(seen[&p], (0..100).collect::<Vec<u64>>(), "partition {p}");
    }
    assert_eq!(consumer.position(("t", 1)).unwrap(), 100);

    consumer.seek(("t", 1), 42).unwrap();
    consumer.seek_to_end().unwrap();
    assert_eq!(consumer.position(("t", 1)).unwrap(), 100);
    consumer.seek_to_beginning().unwrap();
    assert_eq!(consumer.position(("t", 0)).unwrap(), 0);
    consumer.seek(("t", 1), 42).unwrap();
    consumer.assign(&[("t", 1)]).unwrap();
    let first = consumer.poll(Duration::from_millis(10)).unwrap();
    assert_eq!(first[0].offset, 42, "a kept partition keeps its position");
    consumer.seek_to_timestamp(10_000 + 55 * 10 - 3).unwrap();
    assert_eq!(consumer.position(("t", 1)).unwrap(), 55);
    consumer.seek_to_timestamp(1 << 50).unwrap();
    assert_eq!(consumer.position(("t", 1)).unwrap(), 100);

    // fetch_max_bytes bounds a poll (at least one batch is read).
    let mut small = store.consumer(ConsumerConfig {
        fetch_max_bytes: 1,
        max_partition_fetch_bytes: 1,
        ..earliest()
    });
    small.assign(&[("t", 0)]).unwrap();
    let got = small.poll(Duration::from_millis(10)).unwrap();
    assert!(!got.is_empty() && got.len() <= 100);
    assert_eq!(got[0].offset, 0);
}

#[test]
fn poll_blocks_until_records_arrive_or_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), StoreConfig::default()).unwrap();
    store.create_topic("t", 1, &[]).unwrap();
    let mut consumer = store.consumer(ConsumerConfig::default());
    consumer.assign(&[("t", 0)]).unwrap();

    let started = Instant::now();
    assert!(consumer
        .poll(Duration::from_millis(100))
        .unwrap()
        .is_empty());
    assert!(started.elapsed() >= Duration::from_millis(100));

    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let producer = store.producer(ProducerConfig::default());
            producer
                .send_and_wait(ProducerRecord::new("t", "hello"))
                .unwrap()
        })
    };
    let started = Instant::now();
    let records = consumer.poll(Duration::from_secs(60)).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "woken by the append"
    );
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].value.as_deref(), Some(&b"hello"[..]));
    assert_eq!(writer.join().unwrap().offset, 0);

    // Closing the store wakes a blocked poll with an error.
    let closer = {
        let store = store.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            store.close().unwrap();
        })
    };
    let closed = consumer.poll(Duration::from_secs(60));
    assert!(
        matches!(&closed, Err(Error::StoreClosed { path }) if path == dir.path()),
        "{closed:?}"
    );
    let message = closed.unwrap_err().to_string();
    assert_eq!(
        message,
        format!("the store {} is closed", dir.path().display())
    );
    closer.join().unwrap();
}

#[test]
fn positions_below_the_log_start_follow_the_reset_policy() {
    let (_fs, _clock, store) = mem_store();
    store
        .create_topic("t", 1, &[("segment.bytes", "1000")])
        .unwrap();
    let producer = store.producer(ProducerConfig::default());
    for i in 0..50 {
        producer
            .send_and_wait(ProducerRecord::new("t", format!("{i:0>60}")))
            .unwrap();
    }
    let consumer_with = |reset| {
        let mut c = store.consumer(ConsumerConfig {
            auto_offset_reset: reset,
            ..ConsumerConfig::default()
        });
        c.assign(&[("t", 0)]).unwrap();
        c.seek(("t", 0), 3).unwrap();
        c
    };
    let mut early = consumer_with(AutoOffsetReset::Earliest);
    let mut late = consumer_with(AutoOffsetReset::Latest);
    let mut strict = consumer_with(AutoOffsetReset::Error);
    assert_eq!(store.delete_records("t", 0, 20).unwrap(), 20);

    let got = early.poll(Duration::from_millis(10)).unwrap();
    assert_eq!(got[0].offset, 20);
    assert!(late.poll(Duration::from_millis(10)).unwrap().is_empty());
    assert_eq!(late.position(("t", 0)).unwrap(), 50);
    match strict.poll(Duration::from_millis(10)) {
        Err(Error::OffsetOutOfRange {
            requested,
            earliest,
            latest,
        }) => assert_eq!((requested, earliest, latest), (3, 20, 50)),
        other => panic!("{other:?}"),
    }
    strict.seek(("t", 0), 25).unwrap();
    assert_eq!(
        strict.poll(Duration::from_millis(10)).unwrap()[0].offset,
        25
    );
    assert!(matches!(
        store.delete_records("t", 0, 51),
        Err(Error::OffsetOutOfRange { .. })
    ));
}

#[test]
fn a_deleted_topic_is_reported_to_its_clients() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 1, &[]).unwrap();
    let producer = store.producer(ProducerConfig::default());
    producer
        .send_and_wait(ProducerRecord::new("t", "a"))
        .unwrap();
    let mut consumer = store.consumer(earliest());
    consumer.assign(&[("t", 0)]).unwrap();
    assert_eq!(consumer.poll(Duration::from_millis(10)).unwrap().len(), 1);
    store.delete_topic("t").unwrap();
    assert!(matches!(
        consumer.poll(Duration::from_millis(10)),
        Err(Error::UnknownTopic { .. })
    ));
    assert!(matches!(
        producer.send(ProducerRecord::new("t", "b")),
        Err(Error::UnknownTopic { .. })
    ));
    // Created again: both carry on with the new, empty topic.
    store.create_topic("t", 1, &[]).unwrap();
    let meta = producer
        .send_and_wait(ProducerRecord::new("t", "c"))
        .unwrap();
    assert_eq!(meta.offset, 0);
    let got = consumer.poll(Duration::from_millis(10)).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].value.as_deref(), Some(&b"c"[..]));
}

/// A producer keeps what it looked up of a topic only while the store's
/// topics are unchanged: it sees partitions added, and a topic created
/// again with other settings.
#[test]
fn a_producer_sees_its_topics_change() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 1, &[]).unwrap();
    let producer = store.producer(ProducerConfig::default());
    producer
        .send_and_wait(ProducerRecord::new("t", "a").with_partition(0))
        .unwrap();
    assert!(matches!(
        producer.send(ProducerRecord::new("t", "b").with_partition(2)),
        Err(Error::UnknownPartition { partitions: 1, .. })
    ));
    store.add_partitions("t", 3).unwrap();
    let meta = producer
        .send_and_wait(ProducerRecord::new("t", "b").with_partition(2))
        .unwrap();
    assert_eq!((meta.partition, meta.offset), (2, 0));
    // Keyed records are spread over the three partitions now.
    let partitions: HashSet<u32> = (0..30)
        .map(|i| {
            let record = ProducerRecord::new("t", "v").with_key(format!("key-{i}"));
            producer.send(record).unwrap().partition()
        })
        .collect();
    assert_eq!(partitions.len(), 3);
    producer.flush().unwrap();

    // Deleted and created again, compacted: keyless records are refused
    // by the new topic's policy, keyed ones land in its empty log.
    store.delete_topic("t").unwrap();
    store
        .create_topic("t", 1, &[("cleanup.policy", "compact")])
        .unwrap();
    assert!(matches!(
        producer.send(ProducerRecord::new("t", "c")),
        Err(Error::MissingKey { .. })
    ));
    let meta = producer
        .send_and_wait(ProducerRecord::new("t", "c").with_key("k"))
        .unwrap();
    assert_eq!((meta.partition, meta.offset), (0, 0));
    assert_eq!(store.partition("t", 0).unwrap().log_end_offset(), 1);
}

/// Sends on two threads while the topic grows, and is deleted and created
/// again: each send lands in the topic it found or fails as the topic it
/// found is gone, and afterwards the producer sends to every partition
/// of the topic as it is now.
#[test]
fn sends_race_topic_changes() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 1, &[]).unwrap();
    let producer = Arc::new(store.producer(ProducerConfig::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..2)
        .map(|n| {
            let (producer, stop) = (producer.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let record = ProducerRecord::new("t", "v").with_key(format!("{n}-{i}"));
                    match producer.send(record) {
                        Ok(_)
                        | Err(Error::UnknownTopic { .. })
                        | Err(Error::UnknownPartition { .. })
                        | Err(Error::Closed) => {}
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                    i += 1;
                }
            })
        })
        .collect();
    for round in 0..20u32 {
        store.add_partitions("t", 2 + round % 3).unwrap_or(());
        std::thread::sleep(Duration::from_millis(1));
        store.delete_topic("t").unwrap();
        store.create_topic("t", 1 + round % 4, &[]).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for s in senders {
        s.join().unwrap();
    }
    let _ = producer.flush();
    let partitions = store.describe_topic("t").unwrap().partitions.len() as u32;
    assert_eq!(partitions, 4);
    for p in 0..partitions {
        let end = store.partition("t", p).unwrap().log_end_offset();
        let meta = producer
            .send_and_wait(ProducerRecord::new("t", "last").with_partition(p))
            .unwrap();
        assert_eq!((meta.partition, meta.offset), (p, end));
    }
}

/// A delivery outlives its producer: dropping the producer appends the
/// open batch, and the delivery reports where its record landed.
#[test]
fn a_delivery_is_waited_for_after_its_producer_is_dropped() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 1, &[]).unwrap();
    let producer = store.producer(ProducerConfig {
        linger: Duration::from_secs(60),
        ..ProducerConfig::default()
    });
    producer
        .send(ProducerRecord::new("t", "a").with_partition(0))
        .unwrap();
    let delivery = producer
        .send(ProducerRecord::new("t", "b").with_partition(0))
        .unwrap();
    drop(producer);
    assert_eq!(delivery.wait().unwrap().offset, 1);
    assert_eq!(store.partition("t", 0).unwrap().log_end_offset(), 2);
}

/// Should a partitioner's panic stop a dropped producer from appending
/// its open batches, their deliveries fail instead of waiting forever.
#[test]
fn a_delivery_of_a_batch_its_producer_never_appended_fails() {
    #[derive(Debug)]
    struct Panics;
    impl Partitioner for Panics {
        fn partition(&self, _topic: &str, _key: Option<&[u8]>, _partitions: u32) -> u32 {
            0
        }
        fn on_batch_complete(&self, _topic: &str, _partition: u32, _partitions: u32) {
            panic!("a partitioner that fails");
        }
    }
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 3, &[]).unwrap();
    let producer = store.producer(ProducerConfig {
        linger: Duration::from_secs(60),
        partitioner: Arc::new(Panics),
        ..ProducerConfig::default()
    });
    let deliveries: Vec<_> = (0..3)
        .map(|p| {
            producer
                .send(ProducerRecord::new("t", "v").with_partition(p))
                .unwrap()
        })
        .collect();
    // The sender thread's last sweep and the drop's flush both stop at
    // the first batch they append.
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(producer)));
    assert!(dropped.is_err());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let outcomes: Vec<_> = deliveries.into_iter().map(|d| d.wait()).collect();
        tx.send(outcomes).unwrap();
    });
    let outcomes = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("every delivery returns");
    let appended = outcomes.iter().filter(|o| o.is_ok()).count() as u64;
    let end: u64 = (0..3)
        .map(|p| store.partition("t", p).unwrap().log_end_offset())
        .sum();
    assert_eq!(appended, end, "{outcomes:?}");
    assert!(
        outcomes.iter().any(|o| matches!(o, Err(Error::Closed))),
        "{outcomes:?}"
    );
}

/// Producers on four threads, consumers on two, eight partitions: every
/// record arrives exactly once, in the order it was sent per partition.
#[test]
fn many_threads_produce_and_consume_at_once() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        topic_defaults: TopicConfig {
            log: seglog::LogConfig {
                segment_bytes: 64 * 1024,
                ..seglog::LogConfig::default()
            },
            ..TopicConfig::default()
        },
        ..StoreConfig::default()
    };
    let store = LogStore::open(dir.path(), config).unwrap();
    store.create_topic("t", 8, &[]).unwrap();
    let producer = Arc::new(store.producer(ProducerConfig {
        max_batch_records: 64,
        ..ProducerConfig::default()
    }));
    let consumers: Vec<_> = [[0u32, 1, 2, 3], [4, 5, 6, 7]]
        .into_iter()
        .map(|parts| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut c = store.consumer(earliest());
                let tps: Vec<(&str, u32)> = parts.iter().map(|p| ("t", *p)).collect();
                c.assign(&tps).unwrap();
                let mut got: Vec<(u32, u64, Vec<u8>)> = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(120);
                while Instant::now() < deadline {
                    for r in c.poll(Duration::from_millis(200)).unwrap() {
                        got.push((r.partition, r.offset, r.value.unwrap()));
                    }
                    if got.len() as u64 >= THREADS * PER_THREAD / 2 {
                        // Keep going until nothing more comes.
                        if c.poll(Duration::from_millis(200)).unwrap().is_empty() {
                            break;
                        }
                    }
                }
                got
            })
        })
        .collect();
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            let producer = producer.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    // Thread t writes to partitions 2t and 2t+1 by key.
                    let partition = (2 * t + i % 2) as u32;
                    let _ = producer
                        .send(
                            ProducerRecord::new("t", format!("{t}:{i}")).with_partition(partition),
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    producer.flush().unwrap();
    let mut all: Vec<(u32, u64, Vec<u8>)> = Vec::new();
    for c in consumers {
        all.extend(c.join().unwrap());
    }
    assert_eq!(all.len() as u64, THREADS * PER_THREAD);
    let mut by_partition: BTreeMap<u32, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
    for (p, o, v) in all {
        by_partition.entry(p).or_default().push((o, v));
    }
    for (p, records) in by_partition {
        let offsets: Vec<u64> = records.iter().map(|(o, _)| *o).collect();
        assert_eq!(
            offsets,
            (0..offsets.len() as u64).collect::<Vec<_>>(),
            "partition {p}"
        );
        // One thread per partition, so its sequence numbers ascend.
        let seqs: Vec<u64> = records
            .iter()
            .map(|(_, v)| {
                let s = String::from_utf8(v.clone()).unwrap();
                let (t, i) = s.split_once(':').unwrap();
                assert_eq!(t.parse::<u32>().unwrap(), p / 2);
                i.parse().unwrap()
            })
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "partition {p}");
        assert_eq!(seqs.len() as u64, PER_THREAD / 2);
    }
    drop(producer);
    store.close().unwrap();
}

/// An error in one partition does not lose the records a poll already
/// took from others: they are returned, and the error comes next.
#[test]
fn an_error_in_one_partition_does_not_lose_records_of_another() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("a", 1, &[]).unwrap();
    store.create_topic("b", 1, &[]).unwrap();
    let producer = store.producer(ProducerConfig::default());
    for topic in ["a", "b"] {
        for i in 0..3 {
            let _ = producer
                .send(ProducerRecord::new(topic, format!("{topic}{i}")))
                .unwrap();
        }
    }
    producer.flush().unwrap();
    let mut consumer = store.consumer(earliest());
    consumer.assign(&[("a", 0), ("b", 0)]).unwrap();
    store.delete_topic("b").unwrap();
    let got = consumer.poll(Duration::from_millis(10)).unwrap();
    let values: Vec<&[u8]> = got.iter().filter_map(|r| r.value.as_deref()).collect();
    assert_eq!(values, [&b"a0"[..], b"a1", b"a2"]);
    assert!(matches!(
        consumer.poll(Duration::from_millis(10)),
        Err(Error::UnknownTopic { .. })
    ));
    assert_eq!(consumer.position(("a", 0)).unwrap(), 3);
}

/// A failed `assign` leaves the assignment as it was.
#[test]
fn a_failed_assign_changes_nothing() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("a", 2, &[]).unwrap();
    let mut consumer = store.consumer(earliest());
    consumer.assign(&[("a", 0), ("a", 1)]).unwrap();
    consumer.seek(("a", 1), 0).unwrap();
    assert!(matches!(
        consumer.assign(&[("a", 0), ("nope", 0)]),
        Err(Error::UnknownTopic { .. })
    ));
    assert!(matches!(
        consumer.assign(&[("a", 1), ("a", 7)]),
        Err(Error::UnknownPartition { partition: 7, .. })
    ));
    assert_eq!(
        consumer.assignment(),
        [seglog::TopicPartition::new("a", 0), ("a", 1).into()]
    );
}

/// When `fetch_max_bytes` ends each poll early, the partitions still take
/// turns.
#[test]
fn partitions_take_turns_when_bytes_end_the_poll() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 2, &[]).unwrap();
    let producer = store.producer(ProducerConfig {
        max_batch_records: 1,
        ..ProducerConfig::default()
    });
    for p in 0..2 {
        for i in 0..50 {
            let _ = producer
                .send(ProducerRecord::new("t", vec![b'x'; 100 + i]).with_partition(p))
                .unwrap();
        }
    }
    producer.flush().unwrap();
    let mut consumer = store.consumer(ConsumerConfig {
        fetch_max_bytes: 1_000,
        max_partition_fetch_bytes: 1_000,
        ..earliest()
    });
    consumer.assign_topic("t").unwrap();
    let mut per_partition = [0usize; 2];
    for _ in 0..10 {
        for r in consumer.poll(Duration::from_millis(10)).unwrap() {
            per_partition[r.partition as usize] += 1;
        }
    }
    assert!(
        per_partition[0] > 0 && per_partition[1] > 0,
        "{per_partition:?}"
    );
    assert!(
        per_partition[0].abs_diff(per_partition[1]) <= per_partition[0].max(per_partition[1]) / 2,
        "{per_partition:?}"
    );
}

/// Offsets without records (the compacted end of a batch, a control
/// batch) are stepped over: the consumer neither stalls on them nor
/// returns anything for them, even reading one batch at a time.
#[test]
fn a_consumer_steps_over_offsets_without_records() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 1, &[]).unwrap();
    let log = store.partition("t", 0).unwrap();
    let build = |base: u64, values: &[&str]| {
        let records: Vec<seglog::Record> = values.iter().map(|v| seglog::Record::new(*v)).collect();
        seglog::BatchBuilder::new()
            .base_offset(base)
            .now(1_700_000_000_000)
            .build(&records)
            .unwrap()
    };
    // Offsets 0..=3, records left at 0 and 1 only.
    let mut compacted = build(0, &["a", "b"]);
    common::patch_batch(&mut compacted, 23, &3u32.to_be_bytes());
    // A control batch at 4 (attributes bit 5).
    let mut control = build(4, &["marker"]);
    common::patch_batch(&mut control, 21, &0x20u16.to_be_bytes());
    let last = build(5, &["c"]);
    for batch in [compacted, control, last] {
        log.append_replicated(&batch).unwrap();
    }
    assert_eq!(log.log_end_offset(), 6);
    let mut consumer = store.consumer(ConsumerConfig {
        max_partition_fetch_bytes: 1,
        ..earliest()
    });
    consumer.assign(&[("t", 0)]).unwrap();
    let mut got = Vec::new();
    for _ in 0..10 {
        for r in consumer.poll(Duration::from_millis(1)).unwrap() {
            got.push((r.offset, r.value.unwrap()));
        }
    }
    assert_eq!(
        got,
        [(0, b"a".to_vec()), (1, b"b".to_vec()), (5, b"c".to_vec())]
    );
    assert_eq!(consumer.position(("t", 0)).unwrap(), 6);
}

/// A partition whose next batch is larger than `max_partition_fetch_bytes`
/// still gets its turn while other partitions have records.
#[test]
fn a_batch_larger_than_the_partition_limit_does_not_starve() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 3, &[]).unwrap();
    let producer = store.producer(ProducerConfig {
        max_batch_records: 1,
        ..ProducerConfig::default()
    });
    for i in 0..300 {
        for p in [0, 2] {
            let _ = producer
                .send(ProducerRecord::new("t", format!("{p}-{i}")).with_partition(p))
                .unwrap();
        }
    }
    producer
        .send_and_wait(ProducerRecord::new("t", vec![b'x'; 5_000]).with_partition(1))
        .unwrap();
    let mut consumer = store.consumer(ConsumerConfig {
        max_partition_fetch_bytes: 1_024,
        max_poll_records: 20,
        ..earliest()
    });
    consumer.assign_topic("t").unwrap();
    let polls = (1..=3).find(|_| {
        consumer
            .poll(Duration::from_millis(10))
            .unwrap()
            .iter()
            .any(|r| r.partition == 1)
    });
    assert!(polls.is_some(), "partition 1 starved");
}

#[test]
fn a_waiter_on_the_append_generation_wakes_on_an_append_and_times_out_without_one() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 1, &[]).unwrap();
    let seen = store.append_generation();
    let started = Instant::now();
    assert!(!store.wait_for_append(seen, Duration::from_millis(50)));
    assert!(started.elapsed() >= Duration::from_millis(50));

    let store = Arc::new(store);
    let seen = store.append_generation();
    let waiter = {
        let store = store.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            (
                store.wait_for_append(seen, Duration::from_secs(30)),
                started.elapsed(),
            )
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    let log = store.partition("t", 0).unwrap();
    log.append(&[seglog::Record::new("v").with_timestamp(1)])
        .unwrap();
    let (moved, waited) = waiter.join().unwrap();
    assert!(moved);
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert_ne!(store.append_generation(), seen);
    // An append made before the wait, after the read, is not missed.
    let seen = store.append_generation();
    log.append(&[seglog::Record::new("w").with_timestamp(1)])
        .unwrap();
    assert!(store.wait_for_append(seen, Duration::from_secs(30)));
}

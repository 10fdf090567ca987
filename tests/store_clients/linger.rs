//! A producer's linger: sent records are appended by its sender thread
//! with no call from the application, in order, with errors reported, and
//! nothing lost when the producer or the store goes.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use seglog::io::{Fault, FsOp, MemFs};
use seglog::store::{LogStore, StoreConfig, StoreOptions};
use seglog::{Consumer, Durability, Error, ManualClock, ProducerConfig, ProducerRecord};

use super::{earliest, mem_store, ROOT};

/// Long enough for a loaded machine; a test that passes waits far less.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A linger that never passes in a test.
const FOREVER: Duration = Duration::from_secs(3600);

/// Polls until `n` records came or `TIMEOUT` passed; their values.
fn poll_values(consumer: &mut Consumer, n: usize) -> Vec<String> {
    let deadline = Instant::now() + TIMEOUT;
    let mut values = Vec::new();
    while values.len() < n {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        for r in consumer.poll(left).unwrap() {
            values.push(String::from_utf8(r.value.unwrap()).unwrap());
        }
    }
    values
}

fn reopen(fs: &MemFs) -> LogStore {
    StoreOptions::new()
        .fs(fs.clone())
        .clock(ManualClock::new(1_700_000_000_000))
        .open(ROOT, StoreConfig::default())
        .unwrap()
}

#[test]
fn a_sent_record_reaches_a_consumer_without_flush_or_wait() {
    let (_fs, _clock, store) = mem_store();
    for (topic, linger) in [
        ("zero", Duration::ZERO),
        ("default", Duration::from_millis(5)),
    ] {
        store.create_topic(topic, 1, &[]).unwrap();
        let mut consumer = store.consumer(earliest());
        consumer.assign_topic(topic).unwrap();
        let producer = store.producer(ProducerConfig {
            linger,
            ..ProducerConfig::default()
        });
        producer.send(ProducerRecord::new(topic, "first")).unwrap();
        assert_eq!(poll_values(&mut consumer, 1), ["first"], "{topic}");
        // And again, once the first batch is gone.
        producer.send(ProducerRecord::new(topic, "second")).unwrap();
        producer.send(ProducerRecord::new(topic, "third")).unwrap();
        assert_eq!(
            poll_values(&mut consumer, 2),
            ["second", "third"],
            "{topic}"
        );
        drop(producer);
    }
    assert_eq!(ProducerConfig::default().linger, Duration::from_millis(5));
}

/// Two threads send to a partition each, faster than the sender thread
/// appends, waiting for some deliveries on the way (so that batches are
/// closed by full sends, waits and the sender thread alike).
#[test]
fn records_of_a_partition_are_appended_in_send_order() {
    const RECORDS: usize = 600;
    let (_fs, _clock, store) = mem_store();
    for (topic, linger) in [
        ("zero", Duration::ZERO),
        ("default", Duration::from_millis(5)),
    ] {
        store.create_topic(topic, 2, &[]).unwrap();
        let producer = Arc::new(store.producer(ProducerConfig {
            linger,
            max_batch_records: 7,
            ..ProducerConfig::default()
        }));
        let senders: Vec<_> = (0..2u32)
            .map(|p| {
                let producer = producer.clone();
                std::thread::spawn(move || {
                    let mut deliveries = Vec::new();
                    for i in 0..RECORDS {
                        let record =
                            ProducerRecord::new(topic, format!("{p}-{i}")).with_partition(p);
                        let delivery = producer.send(record).unwrap();
                        if i % 50 == 49 {
                            assert_eq!(delivery.wait().unwrap().offset, i as u64);
                        } else {
                            deliveries.push((i, delivery));
                        }
                        if i % 100 == 0 {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                    for (i, delivery) in deliveries {
                        let meta = delivery.wait().unwrap();
                        assert_eq!((meta.partition, meta.offset), (p, i as u64));
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.join().unwrap();
        }
        for p in 0..2u32 {
            let mut consumer = store.consumer(earliest());
            consumer.assign(&[(topic, p)]).unwrap();
            let expected: Vec<String> = (0..RECORDS).map(|i| format!("{p}-{i}")).collect();
            assert_eq!(poll_values(&mut consumer, RECORDS), expected, "{topic}");
        }
    }
}

#[test]
fn dropping_the_producer_or_the_store_loses_nothing_sent() {
    let (fs, _clock, store) = mem_store();
    store.create_topic("t", 2, &[]).unwrap();
    let send = |producer: &seglog::Producer, n: usize| {
        for i in 0..n {
            let record = ProducerRecord::new("t", format!("{i}")).with_partition(i as u32 % 2);
            producer.send(record).unwrap();
        }
    };
    let end = |store: &LogStore| {
        (0..2)
            .map(|p| store.partition("t", p).unwrap().log_end_offset())
            .collect::<Vec<_>>()
    };

    // Dropping the producer appends what it held.
    let producer = store.producer(ProducerConfig {
        linger: FOREVER,
        ..ProducerConfig::default()
    });
    send(&producer, 10);
    assert_eq!(end(&store), [0, 0]);
    drop(producer);
    assert_eq!(end(&store), [5, 5]);

    // Closing the store appends what a live producer held, flushed or
    // not, and stops its thread; the producer then refuses to send, and
    // goes quietly.
    let producer = store.producer(ProducerConfig {
        linger: FOREVER,
        ..ProducerConfig::default()
    });
    send(&producer, 4);
    producer.flush().unwrap();
    send(&producer, 6);
    store.close().unwrap();
    assert!(matches!(
        producer.send(ProducerRecord::new("t", "late")),
        Err(Error::StoreClosed { .. })
    ));
    producer.flush().unwrap();
    drop(producer);
    let store = reopen(&fs);
    assert!(store.open_report().clean_shutdown);
    assert_eq!(end(&store), [10, 10]);

    // The sender thread keeps no store open: the producer holds the store
    // until it goes, and then the store closes as its last handle goes.
    let producer = store.producer(ProducerConfig::default());
    send(&producer, 2);
    drop(store);
    drop(producer);
    let store = reopen(&fs);
    assert!(store.open_report().clean_shutdown);
    assert_eq!(end(&store), [11, 11]);
    store.close().unwrap();
}

#[test]
fn an_error_of_the_sender_thread_reaches_the_delivery_and_the_next_flush() {
    let (fs, _clock, store) = mem_store();
    store.create_topic("t", 1, &[]).unwrap();
    let partition = Path::new(ROOT).join("t-0");
    let log = store.partition("t", 0).unwrap();
    let producer = store.producer(ProducerConfig {
        linger: Duration::ZERO,
        durability: Some(Durability::Sync),
        ..ProducerConfig::default()
    });
    producer
        .send_and_wait(ProducerRecord::new("t", "stored"))
        .unwrap();
    fs.set_fault_hook(move |call| {
        (call.op == FsOp::SyncData && call.path.starts_with(&partition))
            .then_some(Fault::Error(std::io::ErrorKind::Other))
    });
    let lost = producer.send(ProducerRecord::new("t", "lost")).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while !log.is_poisoned() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(log.is_poisoned(), "the sender thread appended nothing");
    // The sender thread appended the batch; its error reaches the
    // delivery, and the next flush (once).
    assert!(matches!(lost.wait(), Err(Error::Io { .. })));
    assert!(matches!(producer.flush(), Err(Error::Io { .. })));
    producer.flush().unwrap();
    // A record sent and forgotten: its error reaches the next flush,
    // whoever appended it.
    producer
        .send(ProducerRecord::new("t", "forgotten"))
        .unwrap();
    assert!(matches!(producer.flush(), Err(Error::Poisoned { .. })));
    fs.clear_fault_hook();
}

/// A partitioner whose `on_batch_complete` is slow on the sender thread,
/// so that its final appends are still running when the store closes.
#[derive(Debug)]
struct SlowOnSender;

impl seglog::topic::Partitioner for SlowOnSender {
    fn partition(&self, _: &str, _: Option<&[u8]>, _: u32) -> u32 {
        0
    }
    fn on_batch_complete(&self, _: &str, _: u32, _: u32) {
        if std::thread::current().name() == Some("seglog-producer") {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn a_store_closing_while_its_producer_drops_waits_for_the_last_appends() {
    let fs = MemFs::new();
    let store = reopen(&fs);
    store.create_topic("t", 2, &[]).unwrap();
    let producer = store.producer(ProducerConfig {
        linger: FOREVER,
        partitioner: Arc::new(SlowOnSender),
        ..ProducerConfig::default()
    });
    producer
        .send(ProducerRecord::new("t", "a").with_partition(0))
        .unwrap();
    producer
        .send(ProducerRecord::new("t", "b").with_partition(1))
        .unwrap();
    // The drop joins the sender thread, which appends both batches, slowly;
    // the close, meanwhile, must wait for it rather than close the logs
    // under it.
    let dropper = std::thread::spawn(move || drop(producer));
    std::thread::sleep(Duration::from_millis(50));
    store.close().unwrap();
    dropper.join().unwrap();
    drop(store);
    let store = reopen(&fs);
    let ends: Vec<u64> = (0..2)
        .map(|p| store.partition("t", p).unwrap().log_end_offset())
        .collect();
    assert_eq!(ends, [1, 1], "records sent before the close were lost");
    store.close().unwrap();
}

#[test]
fn a_failed_batch_another_sender_closed_reaches_every_senders_flush() {
    let fs = MemFs::new();
    let store = reopen(&fs);
    store.create_topic("t", 1, &[]).unwrap();
    let producer = Arc::new(store.producer(ProducerConfig {
        linger: FOREVER,
        max_batch_records: 2,
        durability: Some(Durability::Sync),
        ..ProducerConfig::default()
    }));
    fs.set_fault_hook(|call| {
        (call.op == FsOp::SyncData && call.path.starts_with(Path::new(ROOT).join("t-0")))
            .then_some(Fault::Error(std::io::ErrorKind::Other))
    });
    // One sender forgets its record; another fills the batch and is told
    // the append failed; the first learns it from its flush.
    producer.send(ProducerRecord::new("t", "x")).unwrap();
    let other = producer.clone();
    let filled = std::thread::spawn(move || other.send(ProducerRecord::new("t", "y")).map(|_| ()))
        .join()
        .unwrap();
    assert!(matches!(filled, Err(Error::Io { .. })), "{filled:?}");
    let flushed = producer.flush();
    assert!(matches!(flushed, Err(Error::Io { .. })), "{flushed:?}");
    // Reported once.
    fs.clear_fault_hook();
    assert!(producer.flush().is_ok());
}

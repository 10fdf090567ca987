//! Controlling a consumer beside its poll: wakeups from another thread,
//! paused partitions, positions and end offsets.

use std::time::Duration;

use seglog::io::MemFs;
use seglog::store::{ConsumerWaker, LogStore, StoreOptions};
use seglog::{
    AutoOffsetReset, Consumer, ConsumerConfig, Error, ManualClock, ProducerConfig, ProducerRecord,
    StoreConfig, TopicPartition,
};

use super::{earliest, mem_store, ROOT};

/// Appends `n` records to `partition` of `topic`.
fn send(store: &LogStore, topic: &str, partition: u32, n: usize) {
    let producer = store.producer(ProducerConfig::default());
    for i in 0..n {
        producer
            .send_and_wait(ProducerRecord::new(topic, format!("{i}")).with_partition(partition))
            .unwrap();
    }
}

/// (partition, offset) of each record of a poll.
fn polled(consumer: &mut Consumer, timeout: Duration) -> Vec<(u32, u64)> {
    consumer
        .poll(timeout)
        .unwrap()
        .iter()
        .map(|r| (r.partition, r.offset))
        .collect()
}

fn tp(partition: u32) -> TopicPartition {
    TopicPartition::new("t", partition)
}

#[test]
fn a_waker_is_cloneable_and_shared_between_threads() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    fn movable<T: Send + 'static>() {}
    shareable::<ConsumerWaker>();
    // The consumer itself still moves to the thread that polls.
    movable::<Consumer>();
}

#[test]
fn a_wakeup_interrupts_a_poll_blocked_on_another_thread() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 1, &[]).unwrap();
    let mut consumer = store.consumer(earliest());
    consumer.assign(&[("t", 0)]).unwrap();
    let waker = consumer.waker();
    let poller = std::thread::spawn(move || {
        // Without the wakeup this would wait a minute and return no
        // records.
        let result = consumer.poll(Duration::from_secs(60));
        (consumer, result)
    });
    std::thread::sleep(Duration::from_millis(30));
    waker.wakeup();
    let (mut consumer, result) = poller.join().unwrap();
    assert!(matches!(result, Err(Error::Wakeup)), "{result:?}");
    assert_eq!(result.unwrap_err().to_string(), "the consumer was woken up");
    // The store and the consumer go on.
    send(&store, "t", 0, 2);
    assert_eq!(
        polled(&mut consumer, Duration::from_secs(10)),
        [(0, 0), (0, 1)]
    );
    consumer.close().unwrap();
    store.close().unwrap();
}

#[test]
fn a_wakeup_before_poll_answers_the_next_poll_once() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 1, &[]).unwrap();
    send(&store, "t", 0, 3);
    let mut consumer = store.consumer(earliest());
    consumer.assign(&[("t", 0)]).unwrap();
    let waker = consumer.waker();
    let clone = waker.clone();
    // Several wakeups, from any handle: one answer.
    waker.wakeup();
    clone.wakeup();
    assert!(matches!(
        consumer.poll(Duration::from_secs(60)),
        Err(Error::Wakeup)
    ));
    // Nothing was consumed: the records come next, from where they were.
    assert_eq!(consumer.position(tp(0)).unwrap(), 0);
    assert_eq!(
        polled(&mut consumer, Duration::from_secs(10)),
        [(0, 0), (0, 1), (0, 2)]
    );
    // Used up: the next poll waits out its timeout as usual.
    assert_eq!(polled(&mut consumer, Duration::from_millis(20)), []);
    store.close().unwrap();
}

#[test]
fn a_wakeup_leaves_other_consumers_alone() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 1, &[]).unwrap();
    let mut woken = store.consumer(earliest());
    woken.assign(&[("t", 0)]).unwrap();
    let mut other = store.consumer(earliest());
    other.assign(&[("t", 0)]).unwrap();
    let other_poll = std::thread::spawn(move || other.poll(Duration::from_millis(200)));
    std::thread::sleep(Duration::from_millis(20));
    woken.waker().wakeup();
    // The other consumer's poll ends with its timeout, not a wakeup.
    assert!(matches!(other_poll.join().unwrap(), Ok(records) if records.is_empty()));
    assert!(matches!(
        woken.poll(Duration::from_secs(60)),
        Err(Error::Wakeup)
    ));
    store.close().unwrap();
}

#[test]
fn a_read_only_stores_consumer_can_be_woken() {
    let (fs, clock, store) = mem_store();
    store.create_topic("t", 1, &[]).unwrap();
    let reader = StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .read_only(true)
        .open(ROOT, StoreConfig::default())
        .unwrap();
    let mut consumer = reader.consumer(earliest());
    consumer.assign(&[("t", 0)]).unwrap();
    let waker = consumer.waker();
    let poller = std::thread::spawn(move || consumer.poll(Duration::from_secs(60)));
    std::thread::sleep(Duration::from_millis(30));
    waker.wakeup();
    assert!(matches!(poller.join().unwrap(), Err(Error::Wakeup)));
    reader.close().unwrap();
    store.close().unwrap();
}

#[test]
fn paused_partitions_return_nothing_and_keep_their_positions() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 2, &[]).unwrap();
    send(&store, "t", 0, 2);
    send(&store, "t", 1, 2);
    let mut consumer = store.consumer(earliest());
    consumer.assign(&[("t", 0), ("t", 1)]).unwrap();
    assert!(consumer.paused().is_empty());

    consumer.pause(&[("t", 0)]).unwrap();
    // Twice is the same as once.
    consumer.pause(&[tp(0)]).unwrap();
    assert_eq!(consumer.paused(), [tp(0)]);
    assert_eq!(
        polled(&mut consumer, Duration::from_secs(10)),
        [(1, 0), (1, 1)]
    );
    // Nothing more while partition 0 is paused, even records appended now.
    send(&store, "t", 0, 1);
    assert_eq!(polled(&mut consumer, Duration::from_millis(20)), []);
    assert_eq!(consumer.position(tp(0)).unwrap(), 0);
    assert_eq!(consumer.position(tp(1)).unwrap(), 2);

    consumer.resume(&[tp(0)]).unwrap();
    assert!(consumer.paused().is_empty());
    assert_eq!(
        polled(&mut consumer, Duration::from_secs(10)),
        [(0, 0), (0, 1), (0, 2)]
    );
    // Resuming what is not paused does nothing.
    consumer.resume(&[tp(0), tp(1)]).unwrap();
    store.close().unwrap();
}

#[test]
fn a_consumer_with_every_partition_paused_waits_out_its_timeout() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 1, &[]).unwrap();
    send(&store, "t", 0, 3);
    let mut consumer = store.consumer(earliest());
    consumer.assign(&[("t", 0)]).unwrap();
    consumer.pause(&[tp(0)]).unwrap();
    assert_eq!(polled(&mut consumer, Duration::from_millis(30)), []);
    consumer.resume(&[tp(0)]).unwrap();
    assert_eq!(
        polled(&mut consumer, Duration::from_secs(10)),
        [(0, 0), (0, 1), (0, 2)]
    );
    // Records fetched before a pause stay for after it.
    let mut fewer = store.consumer(ConsumerConfig {
        max_poll_records: 1,
        ..earliest()
    });
    fewer.assign(&[("t", 0)]).unwrap();
    assert_eq!(polled(&mut fewer, Duration::from_secs(10)), [(0, 0)]);
    fewer.pause(&[tp(0)]).unwrap();
    assert_eq!(polled(&mut fewer, Duration::from_millis(20)), []);
    fewer.resume(&[tp(0)]).unwrap();
    assert_eq!(polled(&mut fewer, Duration::from_secs(10)), [(0, 1)]);
    store.close().unwrap();
}

#[test]
fn pausing_a_partition_not_assigned_changes_nothing() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 2, &[]).unwrap();
    let mut consumer = store.consumer(earliest());
    consumer.assign(&[("t", 0)]).unwrap();
    for bad in [tp(1), TopicPartition::new("nope", 0)] {
        let e = consumer.pause(&[tp(0), bad.clone()]);
        assert!(
            matches!(&e, Err(Error::NotAssigned { topic, partition })
                if *topic == bad.topic && *partition == bad.partition),
            "{e:?}"
        );
        assert!(consumer.paused().is_empty());
    }
    consumer.pause(&[tp(0)]).unwrap();
    assert!(matches!(
        consumer.resume(&[tp(0), tp(1)]),
        Err(Error::NotAssigned { partition: 1, .. })
    ));
    assert_eq!(consumer.paused(), [tp(0)]);
    store.close().unwrap();
}

#[test]
fn pauses_follow_the_assignment() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 3, &[]).unwrap();
    let mut consumer = store.consumer(earliest());
    consumer.assign(&[("t", 0), ("t", 1)]).unwrap();
    consumer.pause(&[("t", 0), ("t", 1)]).unwrap();
    // Partition 0 stays assigned and paused; 1 goes; 2 comes unpaused.
    consumer.assign(&[("t", 0), ("t", 2)]).unwrap();
    assert_eq!(consumer.paused(), [tp(0)]);
    // Back again, partition 1 is a new assignment: not paused.
    consumer.assign(&[("t", 0), ("t", 1)]).unwrap();
    assert_eq!(consumer.paused(), [tp(0)]);
    consumer.assign::<TopicPartition>(&[]).unwrap();
    assert!(consumer.paused().is_empty());
    store.close().unwrap();
}

#[test]
fn positions_lists_every_assigned_partition() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 3, &[]).unwrap();
    send(&store, "t", 0, 2);
    send(&store, "t", 2, 5);
    let mut consumer = store.consumer(earliest());
    consumer.assign(&[("t", 2), ("t", 0)]).unwrap();
    consumer.pause(&[tp(0)]).unwrap();
    assert_eq!(consumer.positions().unwrap(), [(tp(2), 0), (tp(0), 0)]);
    polled(&mut consumer, Duration::from_secs(10));
    consumer.seek(tp(0), 1).unwrap();
    // Paused partitions are listed too.
    assert_eq!(consumer.positions().unwrap(), [(tp(2), 5), (tp(0), 1)]);

    // Without a reset policy, a partition without a position is an error.
    let mut strict = store.consumer(ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Error,
        ..ConsumerConfig::default()
    });
    strict.assign(&[("t", 0)]).unwrap();
    assert!(matches!(
        strict.positions(),
        Err(Error::OffsetOutOfRange {
            earliest: 0,
            latest: 2,
            ..
        })
    ));
    strict.seek(tp(0), 1).unwrap();
    assert_eq!(strict.positions().unwrap(), [(tp(0), 1)]);
    store.close().unwrap();
}

/// Kafka's pattern: a consumer resetting to the latest offset asks for
/// its position, and then gets every record appended after that, though
/// it polls only later.
#[test]
fn asking_for_a_position_fixes_where_the_latest_reset_starts() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 1, &[]).unwrap();
    send(&store, "t", 0, 2);
    let mut consumer = store.consumer(ConsumerConfig::default());
    consumer.assign(&[("t", 0)]).unwrap();
    // Through a shared reference.
    let shared: &Consumer = &consumer;
    assert_eq!(shared.position(tp(0)).unwrap(), 2);
    send(&store, "t", 0, 2);
    assert_eq!(consumer.position(tp(0)).unwrap(), 2);
    assert_eq!(
        polled(&mut consumer, Duration::from_secs(10)),
        [(0, 2), (0, 3)]
    );
    assert!(matches!(
        consumer.position(tp(5)),
        Err(Error::NotAssigned { partition: 5, .. })
    ));
    store.close().unwrap();
}

#[test]
fn end_offsets_are_the_log_end_offsets_of_any_partition() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 3, &[]).unwrap();
    send(&store, "t", 0, 4);
    send(&store, "t", 2, 1);
    let mut consumer = store.consumer(earliest());
    consumer.assign(&[("t", 0)]).unwrap();
    // Assigned or not, in the order asked.
    assert_eq!(
        consumer
            .end_offsets(&[("t", 2), ("t", 0), ("t", 1)])
            .unwrap(),
        [1, 4, 0]
    );
    polled(&mut consumer, Duration::from_secs(10));
    send(&store, "t", 0, 1);
    let lag = consumer.end_offsets(&[tp(0)]).unwrap()[0] - consumer.position(tp(0)).unwrap();
    assert_eq!(lag, 1);
    assert!(consumer
        .end_offsets::<TopicPartition>(&[])
        .unwrap()
        .is_empty());

    assert!(matches!(
        consumer.end_offsets(&[("nope", 0)]),
        Err(Error::UnknownTopic { .. })
    ));
    assert!(matches!(
        consumer.end_offsets(&[("t", 3)]),
        Err(Error::UnknownPartition {
            partition: 3,
            partitions: 3,
            ..
        })
    ));
    store.close().unwrap();
    assert!(matches!(
        consumer.end_offsets(&[("t", 0)]),
        Err(Error::StoreClosed { .. })
    ));
}

#[test]
fn a_read_only_consumer_sees_the_writers_latest_end_offsets() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_700_000_000_000);
    let open = |read_only: bool| {
        StoreOptions::new()
            .fs(fs.clone())
            .clock(clock.clone())
            .read_only(read_only)
            .open(ROOT, StoreConfig::default())
            .unwrap()
    };
    let writer = open(false);
    writer.create_topic("t", 1, &[]).unwrap();
    let reader = open(true);
    let consumer = reader.consumer(earliest());
    assert_eq!(consumer.end_offsets(&[("t", 0)]).unwrap(), [0]);
    send(&writer, "t", 0, 3);
    writer.sync().unwrap();
    assert_eq!(consumer.end_offsets(&[("t", 0)]).unwrap(), [3]);
    // A topic the writer created since is found too.
    writer.create_topic("later", 1, &[]).unwrap();
    send(&writer, "later", 0, 2);
    writer.sync().unwrap();
    assert_eq!(consumer.end_offsets(&[("later", 0)]).unwrap(), [2]);
    drop(consumer);
    reader.close().unwrap();
    writer.close().unwrap();
}

#[test]
fn a_closed_store_says_so_to_its_consumers() {
    let (_fs, _clock, store) = mem_store();
    store.create_topic("t", 1, &[]).unwrap();
    let mut consumer = store.consumer(earliest());
    consumer.assign(&[("t", 0)]).unwrap();
    store.close().unwrap();
    for e in [
        consumer.poll(Duration::from_secs(1)).unwrap_err(),
        consumer.seek_to_beginning().unwrap_err(),
        consumer.assign_topic("t").unwrap_err(),
        consumer.end_offsets(&[("t", 0)]).unwrap_err(),
    ] {
        assert!(matches!(&e, Error::StoreClosed { .. }), "{e:?}");
        assert!(e.is_closed());
        assert_eq!(e.to_string(), "the store /store is closed");
    }
}

//! A store's replicated partitions: its producer appends as their leader
//! with `acks`, its consumers read below the high watermark, and the high
//! watermarks are checkpointed at the store's root.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use seglog::replication::{Follower, ReplicationConfig};
use seglog::{
    Acks, ConsumerConfig, Error, LogConfig, LogStore, PartitionLog, ProducerConfig, ProducerRecord,
    ReplicatedPartition, StoreConfig,
};

fn store(dir: &std::path::Path) -> LogStore {
    let config = StoreConfig {
        background_maintenance: false,
        ..StoreConfig::default()
    };
    LogStore::open(dir, config).unwrap()
}

/// A store with topic `orders` of one partition, replicated as replica 1
/// and made leader at epoch 1 of replicas 1 and 2 with ISR `isr`.
fn leading_store(
    dir: &std::path::Path,
    min_insync_replicas: usize,
    isr: &[i32],
) -> (LogStore, ReplicatedPartition) {
    let store = store(dir);
    store.create_topic("orders", 1, &[]).unwrap();
    let config = ReplicationConfig {
        min_insync_replicas,
        ..ReplicationConfig::default()
    };
    let leader = store.replicate("orders", 0, 1, config, None).unwrap();
    leader.become_leader(1, &[1, 2], isr).unwrap();
    (store, leader)
}

/// A follower replica 2 in its own directory, following replica 1.
fn follower(dir: &std::path::Path) -> ReplicatedPartition {
    let log = PartitionLog::open(dir.join("follower/orders-0"), LogConfig::default()).unwrap();
    let replica = ReplicatedPartition::new(log, 2, ReplicationConfig::default()).unwrap();
    replica.become_follower(1, 1).unwrap();
    replica
}

fn producer(store: &LogStore, acks: Acks, timeout: Duration) -> seglog::Producer {
    store.producer(ProducerConfig {
        acks,
        request_timeout: timeout,
        linger: Duration::ZERO,
        ..ProducerConfig::default()
    })
}

#[test]
fn acks_all_deliveries_complete_once_the_follower_has_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let (store, leader) = leading_store(dir.path(), 1, &[1, 2]);
    let replica = follower(dir.path());

    let stop = Arc::new(AtomicBool::new(false));
    let fetching = {
        let (leader, replica, stop) = (leader.clone(), replica.clone(), stop.clone());
        thread::spawn(move || {
            let link = move |request: &_| leader.serve_fetch(request);
            Follower::new(replica, link).run(&stop, Duration::from_millis(1))
        })
    };
    let producer = producer(&store, Acks::All, Duration::from_secs(20));
    let deliveries: Vec<_> = (0..20)
        .map(|i| {
            producer
                .send(ProducerRecord::new("orders", format!("v{i}")).with_partition(0))
                .unwrap()
        })
        .collect();
    for (i, d) in deliveries.into_iter().enumerate() {
        let meta = d.wait().unwrap();
        assert_eq!(meta.offset, i as u64);
        // Acknowledged: below the leader's high watermark, on the follower.
        assert!(leader.high_watermark() > meta.offset);
        assert!(replica.log().log_end_offset() > meta.offset);
    }
    stop.store(true, Ordering::Release);
    fetching.join().unwrap().unwrap();
    store.close().unwrap();
}

#[test]
fn acks_all_is_refused_with_too_few_in_sync_replicas_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (store, leader) = leading_store(dir.path(), 2, &[1]);
    let producer = producer(&store, Acks::All, Duration::from_secs(5));
    let delivery = producer
        .send(ProducerRecord::new("orders", "a").with_partition(0))
        .unwrap();
    assert!(matches!(
        delivery.wait(),
        Err(Error::NotEnoughReplicas {
            isr: 1,
            min_insync: 2
        })
    ));
    assert_eq!(leader.log().log_end_offset(), 0);
    // acks=1 needs only the leader.
    let one = producer_with_acks_one(&store);
    let meta = one
        .send(ProducerRecord::new("orders", "b").with_partition(0))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(meta.offset, 0);
    store.close().unwrap();
}

fn producer_with_acks_one(store: &LogStore) -> seglog::Producer {
    producer(store, Acks::Leader, Duration::from_secs(5))
}

#[test]
fn acks_all_times_out_when_no_follower_fetches_and_the_records_stay() {
    let dir = tempfile::tempdir().unwrap();
    let (store, leader) = leading_store(dir.path(), 1, &[1, 2]);
    let producer = producer(&store, Acks::All, Duration::from_millis(20));
    let delivery = producer
        .send(ProducerRecord::new("orders", "a").with_partition(0))
        .unwrap();
    assert!(matches!(
        delivery.wait(),
        Err(Error::ReplicationTimeout {
            last_offset: 0,
            high_watermark: 0
        })
    ));
    assert_eq!(leader.log().log_end_offset(), 1);
    store.close().unwrap();
}

#[test]
fn consumers_of_a_replicated_partition_read_only_below_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let (store, leader) = leading_store(dir.path(), 1, &[1, 2]);
    let replica = follower(dir.path());
    let producer = producer(&store, Acks::Leader, Duration::from_secs(5));
    for i in 0..3 {
        producer
            .send(ProducerRecord::new("orders", format!("v{i}")).with_partition(0))
            .unwrap()
            .wait()
            .unwrap();
    }
    let mut consumer = store.consumer(ConsumerConfig::default());
    consumer.assign(&[("orders", 0)]).unwrap();
    assert!(consumer.poll(Duration::ZERO).unwrap().is_empty());
    assert_eq!(
        consumer.end_offsets(&[("orders", 0)]).unwrap()[0],
        0,
        "the end a consumer sees is the high watermark"
    );

    let link = |request: &_| leader.serve_fetch(request);
    let mut fetcher = Follower::new(replica, link);
    fetcher.catch_up(5).unwrap();
    // One more round tells the leader the follower has everything.
    fetcher.fetch_once().unwrap();
    assert_eq!(leader.high_watermark(), 3);
    let values: Vec<Vec<u8>> = consumer
        .poll(Duration::from_millis(100))
        .unwrap()
        .into_iter()
        .filter_map(|r| r.value)
        .collect();
    assert_eq!(values, [b"v0".to_vec(), b"v1".to_vec(), b"v2".to_vec()]);
    store.close().unwrap();
}

#[test]
fn high_watermarks_are_checkpointed_at_the_root_and_restored() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = store(dir.path());
        store.create_topic("orders", 1, &[]).unwrap();
        let leader = store
            .replicate("orders", 0, 1, ReplicationConfig::default(), None)
            .unwrap();
        leader.become_leader(1, &[1], &[1]).unwrap();
        leader
            .append(
                &[seglog::Record::new("a"), seglog::Record::new("b")],
                Acks::All,
            )
            .unwrap()
            .wait(Duration::from_secs(1))
            .unwrap();
        assert_eq!(leader.high_watermark(), 2);
        store.close().unwrap();
    }
    let text = std::fs::read_to_string(dir.path().join("replication-offset-checkpoint")).unwrap();
    assert_eq!(text, "0\n1\norders 0 2\n");
    let store = store(dir.path());
    let again = store
        .replicate("orders", 0, 1, ReplicationConfig::default(), None)
        .unwrap();
    assert_eq!(again.high_watermark(), 2);
    // Asked again, the same partition; another local id is refused.
    assert_eq!(
        store.replica("orders", 0).unwrap().unwrap().local_replica(),
        1
    );
    assert!(matches!(
        store.replicate("orders", 0, 7, ReplicationConfig::default(), None),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(store.replica("orders", 0).is_ok());
    store.delete_topic("orders").unwrap();
    let text = std::fs::read_to_string(dir.path().join("replication-offset-checkpoint")).unwrap();
    assert_eq!(text, "0\n0\n", "a deleted topic's high watermarks go");
    store.close().unwrap();
}

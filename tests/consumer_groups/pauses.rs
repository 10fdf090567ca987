//! A subscribed consumer's pauses across rebalances, and wakeups of its
//! poll.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use seglog::{ConsumerConfig, Error, TopicPartition};

use crate::membership::{member_config, real_time_store, shares, wait_until};

/// Member `a` of a group on a two-partition topic owns both partitions
/// and pauses them; member `b` joins. Returns `a`'s assignment and paused
/// partitions once each member owns one, with `strategy` as the assignor.
fn pauses_across_a_rebalance(strategy: &str) -> (Vec<TopicPartition>, Vec<TopicPartition>) {
    let store = real_time_store();
    store.create_topic("t", 2, &[]).unwrap();
    // `a` stops first: `b` leaving would rebalance again.
    let (stop_a, stop_b) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let config = |name: &str| ConsumerConfig {
        partition_assignment_strategy: vec![strategy.to_string()],
        ..member_config("g", name)
    };
    let (paused_tx, paused_rx) = mpsc::channel();
    let a = {
        let (store, stop, config) = (store.clone(), stop_a.clone(), config("a"));
        thread::spawn(move || {
            let mut consumer = store.consumer(config);
            consumer.subscribe(&["t"]).unwrap();
            while consumer.assignment().len() < 2 {
                consumer.poll(Duration::from_millis(20)).unwrap();
            }
            let all = consumer.assignment();
            consumer.pause(&all).unwrap();
            paused_tx.send(consumer.paused()).unwrap();
            while !stop.load(Ordering::Acquire) {
                consumer.poll(Duration::from_millis(20)).unwrap();
            }
            let out = (consumer.assignment(), consumer.paused());
            consumer.close().unwrap();
            out
        })
    };
    let paused = paused_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(paused.len(), 2);
    let b = {
        let (store, stop, config) = (store.clone(), stop_b.clone(), config("b"));
        thread::spawn(move || {
            let mut consumer = store.consumer(config);
            consumer.subscribe(&["t"]).unwrap();
            while !stop.load(Ordering::Acquire) {
                consumer.poll(Duration::from_millis(20)).unwrap();
            }
            let paused = consumer.paused();
            consumer.close().unwrap();
            paused
        })
    };
    wait_until("each member owns one partition", || {
        shares(&store, "g") == [1, 1]
    });
    stop_a.store(true, Ordering::Release);
    let out = a.join().unwrap();
    stop_b.store(true, Ordering::Release);
    assert!(b.join().unwrap().is_empty(), "b paused nothing");
    store.close().unwrap();
    out
}

#[test]
fn a_cooperative_rebalance_keeps_the_pauses_of_the_partitions_that_stay() {
    let (assignment, paused) = pauses_across_a_rebalance("cooperative-sticky");
    assert_eq!(assignment.len(), 1);
    assert_eq!(paused, assignment);
}

#[test]
fn an_eager_rebalance_drops_every_pause() {
    let (assignment, paused) = pauses_across_a_rebalance("range");
    assert_eq!(assignment.len(), 1);
    assert!(paused.is_empty(), "{paused:?}");
}

#[test]
fn a_wakeup_interrupts_a_subscribed_consumers_poll_and_keeps_it_a_member() {
    let store = real_time_store();
    store.create_topic("t", 1, &[]).unwrap();
    let mut consumer = store.consumer(member_config("g", "a"));
    consumer.subscribe(&["t"]).unwrap();
    while consumer.assignment().is_empty() {
        consumer.poll(Duration::from_millis(20)).unwrap();
    }
    let member = consumer.group_metadata();
    assert!(member.is_some());
    let waker = consumer.waker();
    let waking = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        waker.wakeup();
    });
    assert!(matches!(
        consumer.poll(Duration::from_secs(60)),
        Err(Error::Wakeup)
    ));
    waking.join().unwrap();
    // Still the same member of the same generation, polling on.
    assert_eq!(consumer.group_metadata(), member);
    assert!(consumer.poll(Duration::from_millis(20)).unwrap().is_empty());
    assert_eq!(consumer.assignment(), [TopicPartition::new("t", 0)]);
    consumer.close().unwrap();
    store.close().unwrap();
}

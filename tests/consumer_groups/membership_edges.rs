//! A subscribed consumer's membership as Kafka's consumer keeps it: an
//! auto-commit never stops it from (re)joining, positions are committed
//! before partitions move, a fenced static
//! member stops, and a static member's close keeps its place. A commit
//! racing a group's deletion leaves the store reading what it reads after
//! a reopen.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use seglog::io::{FsOp, MemFs};
use seglog::store::StoreOptions;
use seglog::{Clock, ConsumerConfig, ConsumerRecord, Error, GroupErrorKind, ManualClock};

use crate::common_store::{ROOT, T0};

use crate::helpers::*;
use crate::membership::{member_config, real_time_store};

fn auto_committing(interval: Duration) -> ConsumerConfig {
    ConsumerConfig {
        enable_auto_commit: true,
        auto_commit_interval: interval,
        max_poll_records: 500,
        ..member_config("g", "a")
    }
}

#[test]
fn a_new_member_joins_although_an_auto_commit_is_due() {
    let (_fs, _clock, store) = setup();
    fill(&store, "t", 2, 3);
    let mut consumer = store.consumer(auto_committing(Duration::ZERO));
    consumer.subscribe(&["t"]).unwrap();
    let polled = consumer.poll(Duration::ZERO);
    assert!(
        matches!(&polled, Ok(records) if records.len() == 6),
        "{polled:?}"
    );
}

#[test]
fn a_member_removed_for_not_polling_rejoins_with_auto_commit_on() {
    let (_fs, clock, store) = setup();
    fill(&store, "t", 2, 3);
    let config = ConsumerConfig {
        max_poll_interval: Duration::from_secs(10),
        ..auto_committing(Duration::from_millis(300))
    };
    let mut consumer = store.consumer(config);
    consumer.subscribe(&["t"]).unwrap();
    assert_eq!(consumer.poll(Duration::ZERO).unwrap().len(), 6);
    // The consumer takes longer than max_poll_interval over its records.
    clock.advance(11_000);
    thread::sleep(Duration::from_millis(400));
    let mut results = Vec::new();
    for _ in 0..3 {
        let polled = consumer.poll(Duration::ZERO);
        let rejoined = polled.is_ok() && consumer.assignment().len() == 2;
        results.push(polled.map(|r| r.len()));
        if rejoined {
            return;
        }
    }
    panic!("the consumer never rejoined its group: {results:?}");
}

/// `a` reads everything of a two-partition topic, then `b` joins while
/// `a` keeps polling (it has processed what it got). Neither sees a
/// record twice: with auto-commit on, the positions are committed before
/// partitions move.
fn nothing_is_read_twice_across_a_rebalance(strategy: &str) {
    let store = real_time_store();
    fill(&store, "t", 2, 5);
    let config = ConsumerConfig {
        partition_assignment_strategy: vec![strategy.into()],
        ..auto_committing(Duration::from_secs(3600))
    };
    let mut a = store.consumer(config.clone());
    a.subscribe(&["t"]).unwrap();
    assert_eq!(a.poll(Duration::ZERO).unwrap().len(), 10);
    let b_store = store.clone();
    let b = thread::spawn(move || {
        let mut b = b_store.consumer(ConsumerConfig {
            client_id: "b".into(),
            ..config
        });
        b.subscribe(&["t"]).unwrap();
        let start = Instant::now();
        let mut seen: Vec<ConsumerRecord> = Vec::new();
        while b.assignment().is_empty() {
            seen.extend(b.poll(Duration::from_millis(20)).unwrap());
            assert!(start.elapsed() < Duration::from_secs(20));
        }
        seen.extend(b.poll(Duration::from_millis(200)).unwrap());
        (b, seen)
    });
    let mut a_again = Vec::new();
    while !b.is_finished() {
        a_again.extend(a.poll(Duration::from_millis(20)).unwrap());
    }
    let (b, b_seen) = b.join().unwrap();
    let offsets = |records: &[ConsumerRecord]| -> Vec<(u32, u64)> {
        records.iter().map(|r| (r.partition, r.offset)).collect()
    };
    assert!(
        a_again.is_empty() && b_seen.is_empty(),
        "read again: by a {:?}, by b {:?}",
        offsets(&a_again),
        offsets(&b_seen)
    );
    drop(b);
}

#[test]
fn auto_commit_commits_before_an_eager_rebalance_revokes() {
    nothing_is_read_twice_across_a_rebalance("range");
}

#[test]
fn auto_commit_commits_before_a_cooperative_rebalance_revokes() {
    nothing_is_read_twice_across_a_rebalance("cooperative-sticky");
}

#[test]
fn a_fenced_static_member_fails_instead_of_fencing_back() {
    let (_fs, _clock, store) = setup();
    fill(&store, "t", 2, 3);
    let config = ConsumerConfig {
        group_instance_id: Some("worker-1".into()),
        ..member_config("g", "a")
    };
    let mut old = store.consumer(config.clone());
    old.subscribe(&["t"]).unwrap();
    old.poll(Duration::ZERO).unwrap();
    assert_eq!(old.assignment().len(), 2);
    // A second process with the same instance id takes the place over.
    let mut new = store.consumer(config);
    new.subscribe(&["t"]).unwrap();
    new.poll(Duration::ZERO).unwrap();
    assert_eq!(new.assignment().len(), 2);
    let polled = old.poll(Duration::ZERO);
    assert!(
        matches!(
            polled,
            Err(Error::Group {
                kind: GroupErrorKind::FencedInstanceId,
                ..
            })
        ),
        "{polled:?}, old now owns {:?}",
        old.assignment()
    );
    new.poll(Duration::ZERO).unwrap();
    assert_eq!(new.assignment().len(), 2);
}

#[test]
fn a_static_member_keeps_its_place_when_closed() {
    let (_fs, _clock, store) = setup();
    fill(&store, "t", 2, 3);
    let mut consumer = store.consumer(ConsumerConfig {
        group_instance_id: Some("worker-1".into()),
        ..member_config("g", "a")
    });
    consumer.subscribe(&["t"]).unwrap();
    consumer.poll(Duration::ZERO).unwrap();
    consumer.close().unwrap();
    let members = store.describe_group("g").unwrap().members;
    assert_eq!(members.len(), 1, "{members:?}");
}

/// A manual clock that tells when a thread named `deleter` first reads
/// it once armed.
#[derive(Debug, Clone)]
struct WatchedClock {
    time: ManualClock,
    armed: Arc<AtomicBool>,
    read: Arc<AtomicBool>,
}

impl Clock for WatchedClock {
    fn now_ms(&self) -> i64 {
        if thread::current().name() == Some("deleter") && self.armed.swap(false, Ordering::SeqCst) {
            self.read.store(true, Ordering::SeqCst);
        }
        self.time.now_ms()
    }
}

fn wait_for(flag: &AtomicBool) {
    let start = Instant::now();
    while !flag.load(Ordering::SeqCst) {
        assert!(start.elapsed() < Duration::from_secs(20));
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_commit_racing_a_group_deletion_reads_the_same_after_a_reopen() {
    let fs = MemFs::new();
    let clock = WatchedClock {
        time: ManualClock::new(T0),
        armed: Arc::new(AtomicBool::new(false)),
        read: Arc::new(AtomicBool::new(false)),
    };
    let store = StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(ROOT, config())
        .unwrap();
    fill(&store, "t", 2, 5);
    store.commit_offsets("g", &[(tp("t", 0), at(1))]).unwrap();
    // The next write to `__consumer_offsets` (a commit's) waits for `open`.
    let (gate, entered, open) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    {
        let (gate, entered, open) = (gate.clone(), entered.clone(), open.clone());
        fs.set_fault_hook(move |call| {
            if call.op == FsOp::Write
                && call.path.to_string_lossy().contains("__consumer_offsets")
                && gate.swap(false, Ordering::SeqCst)
            {
                entered.store(true, Ordering::SeqCst);
                while !open.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(1));
                }
            }
            None
        });
    }
    let committer = {
        let store = store.clone();
        thread::spawn(move || store.commit_offsets("g", &[(tp("t", 1), at(3))]))
    };
    wait_for(&entered);
    // The deletion reads the group's offsets, then (reading the clock to
    // write its tombstones) waits for the commit's write.
    clock.armed.store(true, Ordering::SeqCst);
    let deleter = {
        let store = store.clone();
        thread::Builder::new()
            .name("deleter".into())
            .spawn(move || store.delete_group("g"))
            .unwrap()
    };
    wait_for(&clock.read);
    open.store(true, Ordering::SeqCst);
    committer.join().unwrap().unwrap();
    deleter.join().unwrap().unwrap();
    fs.clear_fault_hook();
    let before = committed(&store, "g", &tp("t", 1));
    store.close().unwrap();
    let store = StoreOptions::new()
        .fs(fs.clone())
        .clock(clock)
        .open(ROOT, config())
        .unwrap();
    assert_eq!(
        committed(&store, "g", &tp("t", 1)),
        before,
        "the store read another commit before it was closed"
    );
}

//! Consumers of one group in several threads: the partitions are shared,
//! every partition has one owner after each rebalance, and a consumer
//! that commits in `on_partitions_revoked` never sees a record twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use seglog::io::MemFs;
use seglog::store::StoreOptions;
use seglog::{
    AutoOffsetReset, Consumer, ConsumerConfig, ConsumerRebalanceListener, Error, GroupErrorKind,
    LogStore, ProducerConfig, ProducerRecord, SystemClock, TopicPartition,
};

use crate::common_store::ROOT;
use crate::helpers::*;

/// A store on `MemFs` with the system clock, for timeouts in real time.
pub fn real_time_store() -> LogStore {
    let mut config = config();
    config.groups.group_min_session_timeout_ms = 100;
    StoreOptions::new()
        .fs(MemFs::new())
        .clock(SystemClock)
        .open(ROOT, config)
        .unwrap()
}

pub fn member_config(group: &str, client: &str) -> ConsumerConfig {
    ConsumerConfig {
        group_id: Some(group.into()),
        client_id: client.into(),
        enable_auto_commit: false,
        auto_offset_reset: AutoOffsetReset::Earliest,
        max_poll_records: 7,
        ..ConsumerConfig::default()
    }
}

/// Commits what was processed before partitions move.
struct CommitOnRevoke;

impl ConsumerRebalanceListener for CommitOnRevoke {
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut Consumer,
        _partitions: &[TopicPartition],
    ) -> seglog::Result<()> {
        consumer.commit_sync()
    }
}

/// Polls until `stop`, recording (partition, offset) of every record into
/// `seen`; commits in `on_partitions_revoked` and before returning.
fn run_member(
    store: LogStore,
    config: ConsumerConfig,
    topic: &'static str,
    seen: Arc<Mutex<Vec<(u32, u64)>>>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut consumer = store.consumer(config);
        consumer
            .subscribe_with_listener(&[topic], CommitOnRevoke)
            .unwrap();
        while !stop.load(Ordering::Acquire) {
            for r in consumer.poll(Duration::from_millis(20)).unwrap() {
                seen.lock().unwrap().push((r.partition, r.offset));
            }
        }
        consumer.commit_sync().expect("final commit");
        consumer.close().expect("close");
    })
}

fn produce(store: &LogStore, topic: &str, partitions: u32, per_partition: usize) {
    let producer = store.producer(ProducerConfig::default());
    for p in 0..partitions {
        for i in 0..per_partition {
            let _ = producer
                .send(ProducerRecord::new(topic, format!("{p}-{i}")).with_partition(p))
                .unwrap();
        }
    }
    producer.flush().unwrap();
}

/// The number of partitions of each member of `group`, once it exists.
pub fn shares(store: &LogStore, group: &str) -> Vec<usize> {
    store.describe_group(group).map_or(Vec::new(), |d| {
        d.members.iter().map(|m| m.assignment.len()).collect()
    })
}

pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Each partition's owners among the group's members, from the
/// coordinator's view.
fn owners(store: &LogStore, group: &str) -> BTreeMap<TopicPartition, Vec<String>> {
    let mut owners: BTreeMap<TopicPartition, Vec<String>> = BTreeMap::new();
    let members = store
        .describe_group(group)
        .map_or(Vec::new(), |d| d.members);
    for m in members {
        for tp in m.assignment {
            owners.entry(tp).or_default().push(m.member_id.clone());
        }
    }
    owners
}

#[test]
fn three_consumers_share_a_six_partition_topic_and_rebalance_without_duplicates() {
    let store = real_time_store();
    store.create_topic("work", 6, &[]).unwrap();
    produce(&store, "work", 6, 50);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stops: Vec<Arc<AtomicBool>> = (0..3).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let mut members = Vec::new();
    for (i, stop) in stops.iter().enumerate().take(2) {
        members.push(run_member(
            store.clone(),
            member_config("workers", &format!("c{i}")),
            "work",
            seen.clone(),
            stop.clone(),
        ));
    }
    wait_until("two members share the partitions", || {
        let o = owners(&store, "workers");
        o.len() == 6 && o.values().all(|v| v.len() == 1)
    });
    // A third member joins while records flow.
    members.push(run_member(
        store.clone(),
        member_config("workers", "c2"),
        "work",
        seen.clone(),
        stops[2].clone(),
    ));
    produce(&store, "work", 6, 50);
    wait_until("three members own two partitions each", || {
        shares(&store, "workers") == [2, 2, 2]
    });
    produce(&store, "work", 6, 50);
    // One leaves: the other two take its partitions.
    stops[0].store(true, Ordering::Release);
    members.remove(0).join().unwrap();
    wait_until("two members own the six partitions", || {
        let o = owners(&store, "workers");
        shares(&store, "workers").len() == 2 && o.len() == 6 && o.values().all(|v| v.len() == 1)
    });
    produce(&store, "work", 6, 50);
    wait_until("every record is processed", || {
        seen.lock().unwrap().len() >= 6 * 200
    });
    for stop in &stops {
        stop.store(true, Ordering::Release);
    }
    for m in members {
        m.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    let unique: BTreeSet<(u32, u64)> = seen.iter().copied().collect();
    assert_eq!(unique.len(), 6 * 200, "every record once");
    assert_eq!(seen.len(), 6 * 200, "no record twice");
    for p in 0..6 {
        assert_eq!(committed(&store, "workers", &tp("work", p)), Some(200));
    }
    assert!(store.describe_group("workers").unwrap().members.is_empty());
}

#[test]
fn a_member_that_stops_polling_loses_its_partitions_after_max_poll_interval() {
    let store = real_time_store();
    store.create_topic("t", 4, &[]).unwrap();
    let config = ConsumerConfig {
        max_poll_interval: Duration::from_millis(600),
        ..member_config("g", "busy")
    };
    let mut busy = store.consumer(config.clone());
    busy.subscribe(&["t"]).unwrap();
    busy.poll(Duration::ZERO).unwrap();
    assert_eq!(busy.assignment().len(), 4);
    // The other joins from a thread (its join waits for `busy`, which is
    // not polling), and ends up with everything.
    let other_store = store.clone();
    let other = thread::spawn(move || {
        let mut other = other_store.consumer(ConsumerConfig {
            client_id: "other".into(),
            ..config
        });
        other.subscribe(&["t"]).unwrap();
        let start = Instant::now();
        while other.assignment().len() < 4 {
            other.poll(Duration::from_millis(50)).unwrap();
            assert!(start.elapsed() < Duration::from_secs(20));
        }
        start.elapsed()
    });
    let waited = other.join().unwrap();
    assert!(
        waited >= Duration::from_millis(400),
        "took over after {waited:?}"
    );
    // The busy one comes back: it is no longer a member, commits fail
    // until it has rejoined.
    assert!(matches!(
        busy.commit_offsets(&[(tp("t", 0), at(0))]),
        Err(Error::Group { .. })
    ));
    drop(busy);
}

#[test]
fn a_topic_that_gains_partitions_is_shared_again() {
    let store = real_time_store();
    store.create_topic("t", 2, &[]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let members: Vec<_> = (0..2)
        .map(|i| {
            run_member(
                store.clone(),
                member_config("g", &format!("c{i}")),
                "t",
                seen.clone(),
                stop.clone(),
            )
        })
        .collect();
    wait_until("each member has one partition", || {
        shares(&store, "g") == [1, 1]
    });
    store.add_partitions("t", 6).unwrap();
    wait_until("each member has three partitions", || {
        shares(&store, "g") == [3, 3]
    });
    stop.store(true, Ordering::Release);
    for m in members {
        m.join().unwrap();
    }
}

#[test]
fn members_commit_only_their_own_partitions_in_their_generation() {
    let store = real_time_store();
    fill(&store, "t", 2, 3);
    let mut a = store.consumer(member_config("g", "a"));
    a.subscribe(&["t"]).unwrap();
    let records = a.poll(Duration::ZERO).unwrap();
    assert_eq!(records.len(), 6);
    let (member, generation) = a.group_metadata().unwrap();
    a.commit_sync().unwrap();
    assert_eq!(committed(&store, "g", &tp("t", 1)), Some(3));
    // Outside the group nobody commits while it has members.
    assert!(matches!(
        store.commit_offsets("g", &[(tp("t", 0), at(0))]),
        Err(Error::Group {
            kind: GroupErrorKind::UnknownMemberId,
            ..
        })
    ));
    // A stale generation is refused.
    assert!(matches!(
        store.commit_member_offsets("g", &member, generation - 1, None, &[(tp("t", 0), at(0))]),
        Err(Error::Group {
            kind: GroupErrorKind::IllegalGeneration,
            ..
        })
    ));
    // A second member takes one partition; `a` can no longer commit it.
    let other_store = store.clone();
    let b = thread::spawn(move || {
        let mut b = other_store.consumer(member_config("g", "b"));
        b.subscribe(&["t"]).unwrap();
        while b.assignment().is_empty() {
            b.poll(Duration::from_millis(20)).unwrap();
        }
        b
    });
    while a.assignment().len() != 1 {
        a.poll(Duration::from_millis(20)).unwrap();
    }
    let b = b.join().unwrap();
    let lost = b.assignment()[0].clone();
    assert!(matches!(
        a.commit_offsets(&[(lost, at(0))]),
        Err(Error::Group {
            kind: GroupErrorKind::PartitionNotAssigned,
            ..
        })
    ));
    assert!(matches!(
        store.commit_member_offsets("g", &member, generation, None, &[(tp("t", 0), at(0))]),
        Err(Error::Group {
            kind: GroupErrorKind::IllegalGeneration,
            ..
        })
    ));
    assert!(a.group_metadata().unwrap().1 > generation);
    drop(b);
    drop(a);
}

/// Revocations as members were told of them: member name, partitions.
type Revocations = Arc<Mutex<Vec<(String, Vec<TopicPartition>)>>>;

/// Records every revocation it is told of.
struct RecordRevocations(Revocations, String);

impl ConsumerRebalanceListener for RecordRevocations {
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut Consumer,
        partitions: &[TopicPartition],
    ) -> seglog::Result<()> {
        self.0
            .lock()
            .unwrap()
            .push((self.1.clone(), partitions.to_vec()));
        consumer.commit_sync()
    }
}

#[test]
fn cooperative_members_give_up_only_the_partitions_that_move() {
    let store = real_time_store();
    store.create_topic("t", 6, &[]).unwrap();
    let revoked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let spawn = |name: &str| {
        let (store, revoked, stop, name) = (
            store.clone(),
            revoked.clone(),
            stop.clone(),
            name.to_string(),
        );
        thread::spawn(move || {
            let mut consumer = store.consumer(ConsumerConfig {
                partition_assignment_strategy: vec!["cooperative-sticky".into()],
                ..member_config("coop", &name)
            });
            consumer
                .subscribe_with_listener(&["t"], RecordRevocations(revoked, name))
                .unwrap();
            while !stop.load(Ordering::Acquire) {
                consumer.poll(Duration::from_millis(20)).unwrap();
            }
            consumer.close().unwrap();
        })
    };
    let mut members = vec![spawn("a"), spawn("b")];
    wait_until("two members own three partitions each", || {
        shares(&store, "coop") == [3, 3]
    });
    let before = owners(&store, "coop");
    revoked.lock().unwrap().clear();
    members.push(spawn("c"));
    wait_until("three members own two partitions each", || {
        shares(&store, "coop") == [2, 2, 2]
    });
    // Only the two partitions that moved were revoked, one from each of
    // the first members; the others stayed with their owners throughout.
    let moved: Vec<TopicPartition> = revoked
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, p)| p.clone())
        .collect();
    assert_eq!(moved.len(), 2, "revoked: {:?}", revoked.lock().unwrap());
    let after = owners(&store, "coop");
    let stayed = before
        .iter()
        .filter(|(tp, o)| after.get(*tp) == Some(o))
        .count();
    assert_eq!(stayed, 4);
    stop.store(true, Ordering::Release);
    for m in members {
        m.join().unwrap();
    }
}

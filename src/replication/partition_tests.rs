use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;
use crate::clock::ManualClock;
use crate::io::MemFs;
use crate::record::Record;
use crate::replication::{Acks, FollowerAppend};
use crate::LogConfig;

const MAX: u64 = 1 << 20;

fn replica(
    id: ReplicaId,
    clock: &ManualClock,
    lag_ms: u64,
    listener: Option<Arc<dyn IsrListener>>,
) -> ReplicatedPartition {
    let log = PartitionLog::options()
        .fs(MemFs::new())
        .clock(clock.clone())
        .open("/data/t-0", LogConfig::default())
        .unwrap();
    let config = ReplicationConfig {
        replica_lag_time_max_ms: lag_ms,
        min_insync_replicas: 1,
    };
    ReplicatedPartition::with_listener(log, id, config, listener).unwrap()
}

/// One fetch round trip from `follower` to `leader`.
fn fetch(leader: &ReplicatedPartition, follower: &ReplicatedPartition) -> FollowerAppend {
    let response = leader.serve_fetch(&follower.fetch_request(MAX)).unwrap();
    follower.append_as_follower(&response).unwrap()
}

/// Accepts ISR changes only while `accept` is set.
struct Gate {
    accept: AtomicBool,
}

impl IsrListener for Gate {
    fn alter_isr(&self, _: &IsrChange) -> bool {
        self.accept.load(Ordering::SeqCst)
    }
}

#[test]
fn a_follower_joins_the_isr_only_with_every_record_below_the_high_watermark() {
    let clock = ManualClock::new(1_000_000);
    let gate = Arc::new(Gate {
        accept: AtomicBool::new(false),
    });
    let leader = replica(1, &clock, 100, Some(gate.clone()));
    let follower = replica(2, &clock, 100, None);
    leader.become_leader(1, &[1, 2], &[1]).unwrap();
    follower.become_follower(1, 1).unwrap();
    // Caught up (at offset 0) but kept out of the ISR by the host.
    fetch(&leader, &follower);
    assert_eq!(leader.isr(), vec![1]);
    // Still caught up when this is appended: the high watermark waits.
    let pending = leader.append(&[Record::new("a")], Acks::All).unwrap();
    assert_eq!(leader.high_watermark(), 0);

    // Past the lag time the follower is no longer caught up, and its next
    // fetch (still at offset 0, the high watermark) proposes it for the
    // ISR. The watermark must not pass offset 0 on the way, or the ISR
    // would hold a member without the acknowledged record.
    clock.advance(1_000);
    gate.accept.store(true, Ordering::SeqCst);
    let out = fetch(&leader, &follower);
    assert_eq!(leader.isr(), vec![1, 2]);
    assert_eq!(leader.high_watermark(), 0, "{out:?}");
    assert!(!pending.poll().unwrap());

    // The next fetch brings the record; then it is acknowledged.
    fetch(&leader, &follower);
    fetch(&leader, &follower);
    assert_eq!(leader.high_watermark(), 1);
    assert!(pending.poll().unwrap());
}

#[test]
fn a_deposed_leader_that_appended_nothing_in_its_epoch_follows_the_new_leader() {
    let clock = ManualClock::new(1_000_000);
    let a = replica(1, &clock, 30_000, None);
    let b = replica(2, &clock, 30_000, None);
    a.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    b.become_follower(1, 1).unwrap();
    let _ = a.append(&[Record::new("x")], Acks::Leader).unwrap();
    fetch(&a, &b);
    fetch(&a, &b);
    // `a` is made leader at epoch 2 (the cache records it at offset 1) and
    // deposed before it appends; `b` leads epoch 3 and appends.
    a.become_leader(2, &[1, 2], &[1, 2]).unwrap();
    b.become_leader(3, &[1, 2], &[2]).unwrap();
    a.become_follower(3, 2).unwrap();
    let _ = b.append(&[Record::new("y")], Acks::Leader).unwrap();

    // The first answer says epoch 2 is unknown to the leader (diverging
    // at epoch 1's end, `a`'s own end): the entry goes, and the next
    // fetch reads.
    for _ in 0..3 {
        fetch(&b, &a);
    }
    assert_eq!(a.log().leader_epoch_cache().latest_epoch(), Some(3));
    assert_eq!(a.log().log_end_offset(), 2);
    let record = a.log().read_record(1).unwrap().unwrap();
    assert_eq!(record.value.as_deref(), Some(&b"y"[..]));
}

/// Counts the ISR changes it hears of, accepting all.
#[derive(Default)]
struct Counting {
    heard: std::sync::atomic::AtomicUsize,
}

impl IsrListener for Counting {
    fn alter_isr(&self, _: &IsrChange) -> bool {
        self.heard.fetch_add(1, Ordering::SeqCst);
        true
    }
}

#[test]
fn a_proposal_made_from_an_isr_that_changed_since_is_dropped_unheard() {
    let clock = ManualClock::new(1_000_000);
    let host = Arc::new(Counting::default());
    let leader = replica(1, &clock, 100, Some(host.clone()));
    leader.become_leader(1, &[1, 2, 3], &[1, 2]).unwrap();
    // Meanwhile follower 2 was dropped: an addition of 3 worked out from
    // [1, 2] before that must not bring 2 back.
    assert!(leader.propose_isr(1, &[1, 2], vec![1]).unwrap());
    assert_eq!(host.heard.load(Ordering::SeqCst), 1);
    assert!(!leader.propose_isr(1, &[1, 2], vec![1, 2, 3]).unwrap());
    assert_eq!(leader.isr(), vec![1]);
    assert_eq!(
        host.heard.load(Ordering::SeqCst),
        1,
        "the host never hears of it"
    );
    // Nor is a proposal of another epoch applied.
    assert!(!leader.propose_isr(0, &[1], vec![1, 3]).unwrap());
    assert_eq!(leader.isr(), vec![1]);
}

/// Panics when asked.
struct Panicking;

impl IsrListener for Panicking {
    fn alter_isr(&self, _: &IsrChange) -> bool {
        panic!("the host failed")
    }
}

#[test]
fn a_listener_that_panics_leaves_no_follower_holding_the_high_watermark() {
    let clock = ManualClock::new(1_000_000);
    let leader = replica(1, &clock, 100, Some(Arc::new(Panicking)));
    let follower = replica(2, &clock, 100, None);
    leader.become_leader(1, &[1, 2], &[1]).unwrap();
    follower.become_follower(1, 1).unwrap();
    // The follower's fetch makes the leader propose it; the listener
    // panics.
    let request = follower.fetch_request(MAX);
    let leader_ref = leader.clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        leader_ref.fetch_for_follower(&request).map(|_| ())
    }));
    assert!(outcome.is_err());
    // Not in the ISR, and not holding the high watermark: appends move it.
    let pending = leader.append(&[Record::new("a")], Acks::Leader).unwrap();
    pending.wait(std::time::Duration::ZERO).unwrap();
    assert_eq!(leader.isr(), vec![1]);
    clock.advance(1_000);
    let pending = leader.append(&[Record::new("b")], Acks::Leader).unwrap();
    pending.wait(std::time::Duration::ZERO).unwrap();
    assert_eq!(leader.high_watermark(), 2);
}

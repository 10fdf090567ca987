//! The leader's side of a follower's fetch: follower positions, the high
//! watermark over the ISR, ISR shrink and expansion through the host's
//! listener, and the errors and diverging epochs a fetch is answered with
//! (KAFKA-REFERENCE 6.2, 6.3, 6.5).

mod common_repl;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common_repl::{put, round, sync, Cluster, MAX_BYTES};
use seglog::replication::{
    EpochEndOffset, FetchError, FetchRequest, IsrChange, IsrListener, ReplicatedPartition,
};
use seglog::Error;

/// A fetch from `replica` at `offset`, at leader epoch `epoch`, having
/// last fetched in `last`.
fn req(replica: i32, offset: u64, epoch: i32, last: Option<i32>) -> FetchRequest {
    FetchRequest {
        replica,
        fetch_offset: offset,
        log_start_offset: 0,
        last_fetched_epoch: last,
        current_leader_epoch: Some(epoch),
        max_bytes: MAX_BYTES,
        max_wait_ms: 0,
    }
}

fn leader_of_three(c: &Cluster) -> ReplicatedPartition {
    let leader = c.replica(1);
    leader.become_leader(1, &[1, 2, 3], &[1, 2, 3]).unwrap();
    leader
}

#[test]
fn the_hw_is_the_smallest_log_end_offset_in_the_isr_and_never_falls() {
    let c = Cluster::new(1);
    let leader = leader_of_three(&c);
    put(&leader, "a", 5);
    let fetch = leader.fetch_for_follower(&req(2, 0, 1, Some(1))).unwrap();
    assert_eq!(fetch.data.records().count(), 5);
    assert_eq!(fetch.log_end_offset, 5);
    assert_eq!(fetch.high_watermark, 0, "follower 3's position is unknown");
    leader.fetch_for_follower(&req(2, 5, 1, Some(1))).unwrap();
    assert_eq!(leader.high_watermark(), 0);
    let fetch = leader.fetch_for_follower(&req(3, 3, 1, Some(1))).unwrap();
    assert_eq!(fetch.high_watermark, 3);
    assert_eq!(leader.high_watermark(), 3);
    leader.fetch_for_follower(&req(3, 4, 1, Some(1))).unwrap();
    assert_eq!(leader.high_watermark(), 4);
    // A follower reporting less does not take the high watermark back.
    leader.fetch_for_follower(&req(3, 2, 1, Some(1))).unwrap();
    assert_eq!(leader.high_watermark(), 4);
    leader.fetch_for_follower(&req(3, 5, 1, Some(1))).unwrap();
    assert_eq!(leader.high_watermark(), 5);
}

#[test]
fn the_hw_does_not_move_while_the_isr_is_below_min_insync() {
    let c = Cluster::new(3);
    let leader = c.replica(1);
    leader.become_leader(1, &[1, 2, 3], &[1, 2]).unwrap();
    put(&leader, "a", 3);
    leader.fetch_for_follower(&req(2, 3, 1, Some(1))).unwrap();
    assert_eq!(leader.isr(), [1, 2]);
    assert_eq!(leader.high_watermark(), 0, "ISR of 2 < min.insync 3");
    // Follower 3 catches up and joins: now it may move.
    leader.fetch_for_follower(&req(3, 3, 1, Some(1))).unwrap();
    assert_eq!(leader.isr(), [1, 2, 3]);
    assert_eq!(leader.high_watermark(), 3);
}

#[test]
fn a_stuck_follower_leaves_the_isr_after_the_lag_time() {
    let c = Cluster::new(1);
    let leader = leader_of_three(&c);
    let (f2, f3) = (c.replica(2), c.replica(3));
    f2.become_follower(1, 1).unwrap();
    f3.become_follower(1, 1).unwrap();
    put(&leader, "a", 2);
    sync(&leader, &f2);
    sync(&leader, &f3);
    put(&leader, "b", 2);
    c.advance(500);
    round(&leader, &f2);
    round(&leader, &f2);
    assert_eq!(f2.log().log_end_offset(), 4);
    assert_eq!(leader.high_watermark(), 2, "follower 3 holds it back");
    c.advance(500);
    // Exactly the lag: still in.
    assert_eq!(leader.maybe_shrink_isr().unwrap(), None);
    c.advance(1);
    assert_eq!(leader.maybe_shrink_isr().unwrap(), Some(vec![1, 2]));
    assert_eq!(leader.isr(), [1, 2]);
    assert_eq!(leader.high_watermark(), 4);
    assert_eq!(leader.maybe_shrink_isr().unwrap(), None);
}

#[test]
fn a_leader_whose_log_is_closed_proposes_no_isr_change() {
    let c = Cluster::new(1);
    let leader = leader_of_three(&c);
    put(&leader, "a", 1);
    c.advance(1_001);
    leader.log().close().unwrap();
    // Both followers are past the lag, but the leader is gone: the host
    // elects from the ISR it had.
    assert_eq!(leader.maybe_shrink_isr().unwrap(), None);
    assert_eq!(leader.isr(), [1, 2, 3]);
}

#[test]
fn a_slow_follower_leaves_the_isr_though_it_fetches() {
    let c = Cluster::new(1);
    let leader = leader_of_three(&c);
    put(&leader, "a", 1);
    leader.fetch_for_follower(&req(2, 1, 1, Some(1))).unwrap();
    leader.fetch_for_follower(&req(3, 1, 1, Some(1))).unwrap();
    assert_eq!(leader.high_watermark(), 1);
    for step in 0..3 {
        put(&leader, "b", 1);
        c.advance(400);
        let leo = leader.log().log_end_offset();
        leader.fetch_for_follower(&req(2, leo, 1, Some(1))).unwrap();
        // Follower 3 keeps fetching, but from where it was.
        leader.fetch_for_follower(&req(3, 1, 1, Some(1))).unwrap();
        let shrunk = leader.maybe_shrink_isr().unwrap();
        if step < 2 {
            assert_eq!(shrunk, None, "step {step}");
        } else {
            assert_eq!(shrunk, Some(vec![1, 2]), "step {step}");
        }
    }
    assert_eq!(leader.high_watermark(), leader.log().log_end_offset());
}

#[test]
fn a_follower_that_keeps_reaching_the_previous_end_stays_in_sync() {
    let c = Cluster::new(1);
    let leader = leader_of_three(&c);
    put(&leader, "a", 1);
    leader.fetch_for_follower(&req(3, 1, 1, Some(1))).unwrap();
    for _ in 0..5 {
        let leo = leader.log().log_end_offset();
        put(&leader, "b", 1);
        // Under half the lag time between fetches: follower 3 reached the
        // leader's end as it was at its previous fetch, in time, whenever
        // the leader looks (it also looks on its own as it serves fetches).
        c.advance(450);
        leader
            .fetch_for_follower(&req(2, leader.log().log_end_offset(), 1, Some(1)))
            .unwrap();
        // Always one batch behind, but at the end of its previous fetch.
        leader.fetch_for_follower(&req(3, leo, 1, Some(1))).unwrap();
        assert_eq!(leader.maybe_shrink_isr().unwrap(), None);
    }
    assert_eq!(leader.isr(), [1, 2, 3]);
}

#[test]
fn a_follower_rejoins_only_at_the_hw_and_the_epoch_start() {
    let c = Cluster::new(1);
    let leader = c.replica(1);
    leader.become_leader(1, &[1, 2, 3], &[1, 2]).unwrap();
    put(&leader, "a", 5);
    assert_eq!(leader.high_watermark(), 0, "follower 2 has not fetched");
    leader.become_leader(2, &[1, 2, 3], &[1, 2]).unwrap();
    put(&leader, "b", 2);
    // Epoch 2 began at 5: a follower at 3 lacks what epoch 1 may have
    // committed, though it is at the high watermark.
    leader.fetch_for_follower(&req(3, 3, 2, Some(1))).unwrap();
    assert_eq!(leader.isr(), [1, 2]);
    leader.fetch_for_follower(&req(3, 5, 2, Some(1))).unwrap();
    assert_eq!(leader.isr(), [1, 2, 3]);
    // Follower 2 sets the high watermark at 6; follower 3 drops out, and
    // below it cannot rejoin.
    leader.fetch_for_follower(&req(2, 6, 2, Some(2))).unwrap();
    leader.fetch_for_follower(&req(3, 6, 2, Some(2))).unwrap();
    assert_eq!(leader.high_watermark(), 6);
    c.advance(1_001);
    // The leader looks for laggards on its own as it serves the fetch.
    leader.fetch_for_follower(&req(2, 7, 2, Some(2))).unwrap();
    assert_eq!(leader.isr(), [1, 2]);
    assert_eq!(leader.maybe_shrink_isr().unwrap(), None);
    assert_eq!(leader.high_watermark(), 7);
    leader.fetch_for_follower(&req(3, 6, 2, Some(2))).unwrap();
    assert_eq!(leader.isr(), [1, 2], "below the high watermark");
    leader.fetch_for_follower(&req(3, 7, 2, Some(2))).unwrap();
    assert_eq!(leader.isr(), [1, 2, 3]);
}

struct Recorder {
    accept: AtomicBool,
    seen: Mutex<Vec<IsrChange>>,
}

impl IsrListener for Recorder {
    fn alter_isr(&self, change: &IsrChange) -> bool {
        self.seen.lock().unwrap().push(change.clone());
        self.accept.load(Ordering::SeqCst)
    }
}

#[test]
fn isr_changes_go_through_the_listener_and_a_refusal_changes_nothing() {
    let c = Cluster::new(1);
    let recorder = Arc::new(Recorder {
        accept: AtomicBool::new(false),
        seen: Mutex::new(Vec::new()),
    });
    let listener: Arc<dyn IsrListener> = recorder.clone();
    let leader =
        ReplicatedPartition::with_listener(c.open_log(1), 1, c.config, Some(listener)).unwrap();
    leader.become_leader(4, &[1, 2], &[1, 2]).unwrap();
    put(&leader, "a", 2);
    c.advance(1_001);
    assert_eq!(leader.maybe_shrink_isr().unwrap(), None);
    assert_eq!(leader.isr(), [1, 2]);
    let shrink = IsrChange {
        leader: 1,
        leader_epoch: 4,
        previous: vec![1, 2],
        isr: vec![1],
    };
    assert_eq!(*recorder.seen.lock().unwrap(), [shrink]);
    assert_eq!(leader.high_watermark(), 0, "the refused shrink kept 2 in");

    recorder.accept.store(true, Ordering::SeqCst);
    assert_eq!(leader.maybe_shrink_isr().unwrap(), Some(vec![1]));
    assert_eq!(leader.isr(), [1]);
    assert_eq!(leader.high_watermark(), 2);

    // Expansion is proposed the same way; refused, nothing changes.
    recorder.accept.store(false, Ordering::SeqCst);
    leader.fetch_for_follower(&req(2, 2, 4, Some(4))).unwrap();
    assert_eq!(leader.isr(), [1]);
    let grow = IsrChange {
        leader: 1,
        leader_epoch: 4,
        previous: vec![1],
        isr: vec![1, 2],
    };
    assert_eq!(recorder.seen.lock().unwrap().last(), Some(&grow));
    recorder.accept.store(true, Ordering::SeqCst);
    leader.fetch_for_follower(&req(2, 2, 4, Some(4))).unwrap();
    assert_eq!(leader.isr(), [1, 2]);
    assert_eq!(recorder.seen.lock().unwrap().len(), 4);
}

#[test]
fn a_fetch_at_another_leader_epoch_is_fenced_or_unknown() {
    let c = Cluster::new(1);
    let leader = c.replica(1);
    leader.become_leader(3, &[1, 2], &[1, 2]).unwrap();
    put(&leader, "a", 1);
    assert!(matches!(
        leader.fetch_for_follower(&req(2, 0, 2, None)),
        Err(Error::Fenced {
            epoch: 2,
            current: 3
        })
    ));
    assert!(matches!(
        leader.fetch_for_follower(&req(2, 0, 4, None)),
        Err(Error::UnknownLeaderEpoch {
            epoch: 4,
            current: 3
        })
    ));
    let fenced = leader.serve_fetch(&req(2, 0, 2, None)).unwrap();
    assert_eq!(fenced.error, Some(FetchError::FencedLeaderEpoch));
    assert_eq!(fenced.leader_epoch, 3);
    assert!(fenced.records.is_empty());
    let unknown = leader.serve_fetch(&req(2, 0, 4, None)).unwrap();
    assert_eq!(unknown.error, Some(FetchError::UnknownLeaderEpoch));
    // Neither was taken as the follower's position.
    assert_eq!(leader.high_watermark(), 0);
    // Without an epoch the check is skipped.
    let mut request = req(2, 1, 0, None);
    request.current_leader_epoch = None;
    leader.fetch_for_follower(&request).unwrap();
    assert_eq!(leader.high_watermark(), 1);
}

#[test]
fn a_fetch_from_a_replica_not_assigned_is_refused() {
    let c = Cluster::new(1);
    let leader = c.replica(1);
    leader.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    assert!(matches!(
        leader.fetch_for_follower(&req(9, 0, 1, None)),
        Err(Error::UnknownReplica { replica: 9 })
    ));
    assert!(matches!(
        leader.fetch_for_follower(&req(1, 0, 1, None)),
        Err(Error::UnknownReplica { replica: 1 })
    ));
    let response = leader.serve_fetch(&req(9, 0, 1, None)).unwrap();
    assert_eq!(response.error, Some(FetchError::NotLeaderOrFollower));
    assert_eq!(leader.isr(), [1, 2]);
}

#[test]
fn a_fetch_outside_the_log_is_out_of_range() {
    let c = Cluster::new(1);
    let leader = c.replica(1);
    leader.become_leader(1, &[1, 2], &[1]).unwrap();
    put(&leader, "a", 3);
    leader.log().roll().unwrap();
    put(&leader, "b", 3);
    assert_eq!(leader.high_watermark(), 6);
    assert!(matches!(
        leader.fetch_for_follower(&req(2, 7, 1, None)),
        Err(Error::OffsetOutOfRange {
            requested: 7,
            earliest: 0,
            latest: 6
        })
    ));
    leader.log().advance_log_start_offset(3).unwrap();
    assert!(matches!(
        leader.fetch_for_follower(&req(2, 1, 1, None)),
        Err(Error::OffsetOutOfRange {
            requested: 1,
            earliest: 3,
            latest: 6
        })
    ));
    // With a last fetched epoch too.
    assert!(matches!(
        leader.fetch_for_follower(&req(2, 1, 1, Some(1))),
        Err(Error::OffsetOutOfRange { .. })
    ));
    let response = leader.serve_fetch(&req(2, 1, 1, None)).unwrap();
    assert_eq!(response.error, Some(FetchError::OffsetOutOfRange));
    assert_eq!((response.log_start_offset, response.log_end_offset), (3, 6));
    // At the log end offset: nothing, but no error.
    let fetch = leader.fetch_for_follower(&req(2, 6, 1, Some(1))).unwrap();
    assert!(fetch.data.is_empty());
}

#[test]
fn a_fetch_whose_last_epoch_disagrees_is_answered_with_a_diverging_epoch() {
    let c = Cluster::new(1);
    let leader = c.replica(1);
    // Epochs (1, 0) and (3, 4); log end 6.
    leader.become_leader(1, &[1, 2], &[1]).unwrap();
    put(&leader, "a", 4);
    leader.become_leader(3, &[1, 2], &[1]).unwrap();
    put(&leader, "b", 2);
    let diverging = |offset, last| {
        let fetch = leader
            .fetch_for_follower(&req(2, offset, 3, Some(last)))
            .unwrap();
        if fetch.diverging_epoch.is_some() {
            assert!(fetch.data.is_empty());
            assert_eq!(fetch.log_end_offset, 6);
        }
        fetch.diverging_epoch
    };
    // The leader never had epoch 2: epoch 1 ended at 4.
    assert_eq!(diverging(5, 2), Some(EpochEndOffset::new(1, 4)));
    // Epoch 1 ended at 4 here, before the follower's end.
    assert_eq!(diverging(5, 1), Some(EpochEndOffset::new(1, 4)));
    // Older than anything cached: it ended where epoch 1 began.
    assert_eq!(diverging(2, 0), Some(EpochEndOffset::new(0, 0)));
    // Agreeing fetches read.
    assert_eq!(diverging(4, 1), None);
    assert_eq!(diverging(6, 3), None);
    assert_eq!(diverging(0, 0), None);
    // An epoch newer than the leader's cannot be placed: out of range.
    assert!(matches!(
        leader.fetch_for_follower(&req(2, 6, 3, Some(5))),
        Err(Error::OffsetOutOfRange { .. })
    ));
    // A diverging answer is carried in the owned response too.
    let response = leader.serve_fetch(&req(2, 5, 3, Some(2))).unwrap();
    assert_eq!(response.error, None);
    assert_eq!(response.diverging_epoch, Some(EpochEndOffset::new(1, 4)));
    assert!(response.records.is_empty());
}

#[test]
fn a_fetch_records_where_the_follower_is() {
    let c = Cluster::new(1);
    let leader = c.replica(1);
    let f2 = c.replica(2);
    leader.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    f2.become_follower(1, 1).unwrap();
    put(&leader, "a", 3);
    let first = round(&leader, &f2);
    assert_eq!(first.appended.map(|a| a.last_offset), Some(2));
    assert_eq!(
        leader.high_watermark(),
        0,
        "the leader learns at the next fetch"
    );
    let second = round(&leader, &f2);
    assert_eq!(second.appended, None);
    assert_eq!(leader.high_watermark(), 3);
    assert_eq!(second.high_watermark, 3);
}

#[test]
fn dropping_a_silent_replica_from_the_assignment_frees_the_hw() {
    let c = Cluster::new(1);
    let leader = leader_of_three(&c);
    put(&leader, "a", 2);
    leader.fetch_for_follower(&req(2, 2, 1, Some(1))).unwrap();
    assert_eq!(leader.high_watermark(), 0, "follower 3 never fetched");
    leader.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    assert_eq!(leader.high_watermark(), 2);
    assert!(matches!(
        leader.fetch_for_follower(&req(3, 2, 1, Some(1))),
        Err(Error::UnknownReplica { replica: 3 })
    ));
}

#[test]
fn a_held_fetch_is_answered_as_soon_as_a_record_arrives() {
    let c = Cluster::new(1);
    let leader = leader_of_three(&c);
    let mut request = req(2, 0, 1, None);
    request.max_wait_ms = 60_000;
    let appender = {
        let leader = leader.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            put(&leader, "late", 1)
        })
    };
    // Without the hold this fetch would answer at once with nothing.
    let fetch = leader.fetch_for_follower(&request).unwrap();
    appender.join().unwrap();
    let offsets: Vec<u64> = fetch
        .data
        .records()
        .map(|r| r.map(|r| r.offset))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(offsets, [0]);
}

#[test]
fn a_held_fetch_with_nothing_new_ends_after_its_wait_or_a_role_change() {
    let c = Cluster::new(1);
    let leader = leader_of_three(&c);
    let mut request = req(2, 0, 1, None);
    request.max_wait_ms = 10;
    let fetch = leader.fetch_for_follower(&request).unwrap();
    assert!(fetch.data.is_empty());

    request.max_wait_ms = 60_000;
    let demoter = {
        let leader = leader.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            leader.become_follower(2, 2).unwrap();
        })
    };
    let fetch = leader.fetch_for_follower(&request).unwrap();
    demoter.join().unwrap();
    assert!(fetch.data.is_empty());
    assert!(matches!(
        leader.fetch_for_follower(&request),
        Err(Error::NotLeader { leader: Some(2) })
    ));
}

#[test]
fn the_log_start_cannot_pass_the_high_watermark_of_a_replicated_log() {
    let c = Cluster::new(1);
    let leader = leader_of_three(&c);
    put(&leader, "a", 3);
    assert_eq!(leader.high_watermark(), 0);
    assert!(matches!(
        leader.log().advance_log_start_offset(1),
        Err(Error::OffsetOutOfRange { latest: 0, .. })
    ));
    assert_eq!(leader.log().log_start_offset(), 0);
}

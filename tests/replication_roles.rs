//! Roles and leader epochs: fencing of stale role changes, who may append
//! and serve fetches, the epoch stamped on batches, and the leader-epoch
//! cache and its checkpoint (KAFKA-REFERENCE 6.4).

mod common_repl;

use common_repl::{epoch_entries, log_epochs, put, records, Cluster, MAX_BYTES};
use seglog::replication::{Acks, FetchError, Role};
use seglog::Error;

#[test]
fn an_older_epoch_is_fenced_on_a_leader() {
    let c = Cluster::new(1);
    let r = c.replica(1);
    r.become_leader(3, &[1, 2], &[1, 2]).unwrap();
    assert!(matches!(
        r.become_leader(2, &[1, 2], &[1, 2]),
        Err(Error::Fenced {
            epoch: 2,
            current: 3
        })
    ));
    assert!(matches!(
        r.become_follower(2, 2),
        Err(Error::Fenced {
            epoch: 2,
            current: 3
        })
    ));
    // The same epoch cannot make a leader a follower either.
    assert!(matches!(
        r.become_follower(3, 2),
        Err(Error::Fenced {
            epoch: 3,
            current: 3
        })
    ));
    assert_eq!(r.role(), Role::Leader);
    assert_eq!(r.leader_epoch(), 3);
}

#[test]
fn an_older_epoch_is_fenced_on_a_follower() {
    let c = Cluster::new(1);
    let r = c.replica(2);
    r.become_follower(3, 1).unwrap();
    assert!(matches!(
        r.become_follower(2, 1),
        Err(Error::Fenced {
            epoch: 2,
            current: 3
        })
    ));
    assert!(matches!(
        r.become_leader(2, &[1, 2], &[1, 2]),
        Err(Error::Fenced {
            epoch: 2,
            current: 3
        })
    ));
    // Leading needs a newer epoch than the one it follows in.
    assert!(matches!(
        r.become_leader(3, &[1, 2], &[1, 2]),
        Err(Error::Fenced {
            epoch: 3,
            current: 3
        })
    ));
    // Another leader at the same epoch is fenced; the same one is a no-op.
    assert!(matches!(
        r.become_follower(3, 5),
        Err(Error::Fenced {
            epoch: 3,
            current: 3
        })
    ));
    r.become_follower(3, 1).unwrap();
    assert_eq!(r.role(), Role::Follower { leader: 1 });
    r.become_leader(4, &[1, 2], &[1, 2]).unwrap();
    assert_eq!(r.role(), Role::Leader);
}

#[test]
fn a_negative_epoch_is_refused() {
    let c = Cluster::new(1);
    let r = c.replica(1);
    assert!(matches!(
        r.become_leader(-1, &[1], &[1]),
        Err(Error::InvalidLeaderEpoch { epoch: -1 })
    ));
    assert!(matches!(
        r.become_follower(-2, 2),
        Err(Error::InvalidLeaderEpoch { epoch: -2 })
    ));
    assert_eq!(r.role(), Role::Unassigned);
    assert_eq!(r.leader_epoch(), -1);
    assert!(r.log().leader_epoch_cache().is_empty());
}

#[test]
fn a_same_epoch_leader_call_updates_the_isr_only() {
    let c = Cluster::new(1);
    let r = c.replica(1);
    r.become_leader(1, &[1, 2, 3], &[1]).unwrap();
    assert_eq!(r.isr(), [1]);
    put(&r, "a", 2);
    r.become_leader(1, &[1, 2, 3], &[1, 2, 3]).unwrap();
    assert_eq!(r.isr(), [1, 2, 3]);
    assert_eq!(r.leader_epoch(), 1);
    // No new epoch was begun at the log end offset.
    assert_eq!(epoch_entries(r.log()), [(1, 0)]);
    // The leader is always in its ISR, even when the host leaves it out.
    r.become_leader(1, &[1, 2, 3], &[2]).unwrap();
    assert_eq!(r.isr(), [1, 2]);
}

#[test]
fn a_deposed_leader_cannot_append() {
    let c = Cluster::new(1);
    let r = c.replica(1);
    assert!(matches!(
        r.append(&records("a", 1), Acks::Leader),
        Err(Error::NotLeader { leader: None })
    ));
    r.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    put(&r, "a", 2);
    r.become_follower(2, 2).unwrap();
    for acks in [Acks::None, Acks::Leader, Acks::All] {
        assert!(matches!(
            r.append(&records("b", 1), acks),
            Err(Error::NotLeader { leader: Some(2) })
        ));
    }
    assert!(matches!(
        r.append_encoded(&[], Acks::Leader),
        Err(Error::NotLeader { leader: Some(2) })
    ));
    assert_eq!(r.log().log_end_offset(), 2);
}

#[test]
fn a_follower_does_not_serve_fetches() {
    let c = Cluster::new(1);
    let leader = c.replica(1);
    let follower = c.replica(2);
    leader.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    follower.become_follower(1, 1).unwrap();
    let request = leader_request(&follower);
    assert!(matches!(
        follower.fetch_for_follower(&request),
        Err(Error::NotLeader { leader: Some(1) })
    ));
    let response = follower.serve_fetch(&request).unwrap();
    assert_eq!(response.error, Some(FetchError::NotLeaderOrFollower));
    assert!(response.records.is_empty());
    // A replica with no role serves nobody either.
    let idle = c.replica(3);
    assert!(matches!(
        idle.fetch_for_follower(&request),
        Err(Error::NotLeader { leader: None })
    ));
    // And a leader's answer cannot be applied by a non-follower.
    let good = leader.serve_fetch(&request).unwrap();
    assert!(matches!(
        leader.append_as_follower(&good),
        Err(Error::NotLeader { leader: None })
    ));
}

fn leader_request(
    follower: &seglog::replication::ReplicatedPartition,
) -> seglog::replication::FetchRequest {
    follower.fetch_request(MAX_BYTES)
}

#[test]
fn the_leader_stamps_its_epoch_on_every_batch() {
    let c = Cluster::new(1);
    let r = c.replica(1);
    r.become_leader(5, &[1], &[1]).unwrap();
    put(&r, "a", 2);
    put(&r, "b", 1);
    r.become_leader(7, &[1], &[1]).unwrap();
    put(&r, "c", 3);
    let mut reader = r.log().reader(0);
    let mut seen = Vec::new();
    while let Some(batch) = reader.next_batch().unwrap() {
        let h = batch.header();
        seen.push((h.base_offset, h.partition_leader_epoch));
    }
    assert_eq!(seen, [(0, 5), (2, 5), (3, 7)]);
    assert_eq!(log_epochs(r.log()), seen);
}

#[test]
fn becoming_leader_records_the_epoch_at_the_log_end_offset() {
    let c = Cluster::new(1);
    let r = c.replica(1);
    r.become_leader(1, &[1], &[1]).unwrap();
    assert_eq!(epoch_entries(r.log()), [(1, 0)]);
    put(&r, "a", 3);
    r.become_leader(4, &[1], &[1]).unwrap();
    // Before any append in epoch 4.
    assert_eq!(epoch_entries(r.log()), [(1, 0), (4, 3)]);
    let e1 = r.log().end_offset_for_epoch(1);
    assert_eq!((e1.epoch, e1.end_offset), (1, 3));
    let e4 = r.log().end_offset_for_epoch(4);
    assert_eq!((e4.epoch, e4.end_offset), (4, 3));
    // An epoch in between was never a leader's here: epoch 1 ended at 3.
    let e2 = r.log().end_offset_for_epoch(2);
    assert_eq!((e2.epoch, e2.end_offset), (1, 3));
}

#[test]
fn the_leader_epoch_checkpoint_is_kafkas_text_format() {
    let c = Cluster::new(1);
    let r = c.replica(1);
    r.become_leader(0, &[1], &[1]).unwrap();
    put(&r, "a", 2);
    r.become_leader(3, &[1], &[1]).unwrap();
    put(&r, "b", 1);
    let text = std::fs::read_to_string(c.path(1).join("leader-epoch-checkpoint")).unwrap();
    // Version 0, the entry count, then `epoch start-offset` lines.
    assert_eq!(text, "0\n2\n0 0\n3 2\n");
}

#[test]
fn a_reopened_replica_remembers_its_latest_epoch() {
    let c = Cluster::new(1);
    {
        let r = c.replica(1);
        r.become_leader(3, &[1], &[1]).unwrap();
        put(&r, "a", 1);
        r.log().close().unwrap();
    }
    let r = c.replica(1);
    assert_eq!(r.leader_epoch(), 3);
    assert_eq!(r.role(), Role::Unassigned);
    // The epoch it led in cannot be led in again after a restart.
    assert!(matches!(
        r.become_leader(3, &[1], &[1]),
        Err(Error::Fenced {
            epoch: 3,
            current: 3
        })
    ));
    assert!(matches!(
        r.become_follower(2, 2),
        Err(Error::Fenced {
            epoch: 2,
            current: 3
        })
    ));
    r.become_leader(4, &[1], &[1]).unwrap();
    assert_eq!(epoch_entries(r.log()), [(3, 0), (4, 1)]);
}

#[test]
fn a_replica_needs_an_open_log_and_a_valid_config() {
    use seglog::replication::{ReplicatedPartition, ReplicationConfig};
    let c = Cluster::new(1);
    let bad = ReplicationConfig {
        min_insync_replicas: 0,
        ..ReplicationConfig::default()
    };
    assert!(matches!(
        ReplicatedPartition::new(c.open_log(1), 1, bad),
        Err(Error::InvalidConfig { .. })
    ));
    let log = c.open_log(2);
    log.close().unwrap();
    assert!(matches!(
        ReplicatedPartition::new(log, 2, ReplicationConfig::default()),
        Err(Error::Closed)
    ));
}

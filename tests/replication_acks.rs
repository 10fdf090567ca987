//! `acks` on a leader: 0 and 1 at once, `all` once the high watermark
//! passes the records, with Kafka's errors (KAFKA-REFERENCE 6.3).

mod common_repl;

use std::time::Duration;

use common_repl::{put, records, round, sync, Cluster};
use seglog::replication::Acks;
use seglog::Error;

#[test]
fn acks_0_and_1_complete_at_once() {
    let c = Cluster::new(2);
    let leader = c.replica(1);
    leader.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    for acks in [Acks::None, Acks::Leader] {
        let pending = leader.append(&records("a", 2), acks).unwrap();
        assert!(pending.poll().unwrap());
        let info = pending.wait(Duration::ZERO).unwrap();
        assert_eq!(info.last_offset + 1, leader.log().log_end_offset());
    }
    // The follower has fetched nothing: nothing is committed.
    assert_eq!(leader.high_watermark(), 0);
    assert_eq!(leader.log().log_end_offset(), 4);
}

#[test]
fn acks_from_kafka_values() {
    assert_eq!(Acks::from_kafka(0).unwrap(), Acks::None);
    assert_eq!(Acks::from_kafka(1).unwrap(), Acks::Leader);
    assert_eq!(Acks::from_kafka(-1).unwrap(), Acks::All);
    assert!(matches!(
        Acks::from_kafka(2),
        Err(Error::InvalidConfig { .. })
    ));
}

#[test]
fn acks_all_is_refused_before_writing_when_the_isr_is_too_small() {
    let c = Cluster::new(2);
    let leader = c.replica(1);
    leader.become_leader(1, &[1, 2, 3], &[1]).unwrap();
    put(&leader, "a", 1);
    let before = leader.log().log_end_offset();
    assert!(matches!(
        leader.append(&records("b", 3), Acks::All),
        Err(Error::NotEnoughReplicas {
            isr: 1,
            min_insync: 2
        })
    ));
    assert!(matches!(
        leader.append_encoded(b"not even a batch", Acks::All),
        Err(Error::NotEnoughReplicas { .. })
    ));
    assert_eq!(leader.log().log_end_offset(), before);
}

#[test]
fn min_insync_is_capped_at_the_replica_count() {
    let c = Cluster::new(3);
    let leader = c.replica(1);
    leader.become_leader(1, &[1], &[1]).unwrap();
    let info = leader
        .append(&records("a", 2), Acks::All)
        .unwrap()
        .wait(Duration::ZERO)
        .unwrap();
    assert_eq!(info.last_offset, 1);
    assert_eq!(leader.high_watermark(), 2);
}

#[test]
fn acks_all_completes_once_every_in_sync_follower_fetched() {
    let c = Cluster::new(2);
    let leader = c.replica(1);
    let (f2, f3) = (c.replica(2), c.replica(3));
    leader.become_leader(1, &[1, 2, 3], &[1, 2, 3]).unwrap();
    f2.become_follower(1, 1).unwrap();
    f3.become_follower(1, 1).unwrap();
    let pending = leader.append(&records("a", 3), Acks::All).unwrap();
    assert!(!pending.poll().unwrap());
    // Follower 2 gets the records, then says so.
    round(&leader, &f2);
    round(&leader, &f2);
    assert!(!pending.poll().unwrap(), "follower 3 is in the ISR too");
    assert_eq!(leader.high_watermark(), 0);
    round(&leader, &f3);
    assert!(!pending.poll().unwrap());
    round(&leader, &f3);
    assert!(pending.poll().unwrap());
    assert_eq!(leader.high_watermark(), 3);
    let info = pending.wait(Duration::from_secs(5)).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (0, 2));
}

#[test]
fn acks_all_times_out_when_followers_do_not_fetch() {
    let c = Cluster::new(2);
    let leader = c.replica(1);
    leader.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    let pending = leader.append(&records("a", 2), Acks::All).unwrap();
    assert!(matches!(
        pending.wait(Duration::from_millis(5)),
        Err(Error::ReplicationTimeout {
            last_offset: 1,
            high_watermark: 0
        })
    ));
    // The records stay, for the follower to fetch later.
    assert_eq!(leader.log().log_end_offset(), 2);
}

#[test]
fn acks_all_after_the_isr_shrank_below_min_is_not_enough_replicas_after_append() {
    let c = Cluster::new(2);
    let leader = c.replica(1);
    let f2 = c.replica(2);
    leader.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    f2.become_follower(1, 1).unwrap();
    let pending = leader.append(&records("a", 1), Acks::All).unwrap();
    // The high watermark passes the record while the ISR is full...
    round(&leader, &f2);
    round(&leader, &f2);
    assert_eq!(leader.high_watermark(), 1);
    // ...then the follower falls behind and out of the ISR.
    put(&leader, "b", 1);
    c.advance(1_001);
    assert_eq!(leader.maybe_shrink_isr().unwrap(), Some(vec![1]));
    assert!(matches!(
        pending.poll(),
        Err(Error::NotEnoughReplicasAfterAppend {
            last_offset: 0,
            isr: 1,
            min_insync: 2
        })
    ));
    assert!(matches!(
        pending.wait(Duration::ZERO),
        Err(Error::NotEnoughReplicasAfterAppend { .. })
    ));
    // The data is in the log, and new acks=all appends are refused.
    assert_eq!(leader.log().log_end_offset(), 2);
    assert!(matches!(
        leader.append(&records("c", 1), Acks::All),
        Err(Error::NotEnoughReplicas {
            isr: 1,
            min_insync: 2
        })
    ));
}

#[test]
fn a_wait_ends_with_not_leader_when_the_replica_becomes_a_follower() {
    let c = Cluster::new(2);
    let leader = c.replica(1);
    leader.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    let pending = leader.append(&records("a", 1), Acks::All).unwrap();
    let waiter = std::thread::spawn(move || pending.wait(Duration::from_secs(30)));
    leader.become_follower(2, 2).unwrap();
    let outcome = waiter.join().unwrap();
    assert!(
        matches!(outcome, Err(Error::NotLeader { leader: Some(2) })),
        "{outcome:?}"
    );
}

#[test]
fn an_append_from_an_earlier_leadership_is_not_acknowledged() {
    let c = Cluster::new(2);
    let leader = c.replica(1);
    let f2 = c.replica(2);
    leader.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    f2.become_follower(1, 1).unwrap();
    let pending = leader.append(&records("a", 1), Acks::All).unwrap();
    // Leading again at a newer epoch: the new leadership may not carry it.
    leader.become_leader(2, &[1, 2], &[1, 2]).unwrap();
    f2.become_follower(2, 1).unwrap();
    sync(&leader, &f2);
    assert_eq!(leader.high_watermark(), 1);
    assert!(matches!(
        pending.poll(),
        Err(Error::NotLeader { leader: None })
    ));
    // A refresh at the same epoch does not end a wait.
    let pending = leader.append(&records("b", 1), Acks::All).unwrap();
    leader.become_leader(2, &[1, 2], &[1, 2]).unwrap();
    sync(&leader, &f2);
    assert!(pending.wait(Duration::ZERO).is_ok());
}

#[test]
fn acks_all_completes_on_its_own_once_a_silent_follower_leaves_the_isr() {
    let c = Cluster::new(1);
    let leader = c.replica(1);
    leader.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    let pending = leader.append(&records("a", 1), Acks::All).unwrap();
    assert!(!pending.poll().unwrap(), "follower 2 has not fetched");
    // Follower 2 never fetches. Once the lag time passes, the waiting
    // append itself has the leader drop it, and the high watermark moves
    // with the ISR down to the leader (min.insync.replicas is 1).
    c.advance(1_001);
    let info = pending.wait(Duration::from_secs(10)).unwrap();
    assert_eq!(info.last_offset, 0);
    assert_eq!(leader.isr(), [1]);
    assert_eq!(leader.high_watermark(), 1);
}

//! The high watermark everywhere a replicated log is read or cleaned:
//! consumers' reads, retention, compaction; its checkpoint; and the
//! leader-epoch cache across restarts and power loss.

mod common_repl;

use std::path::Path;

use common_repl::{
    epoch_entries, log_epochs, put, records, round, sync, values, Cluster, MAX_BYTES, T0,
};
use seglog::io::{CrashMode, MemFs};
use seglog::replication::{Acks, ReplicatedPartition, ReplicationConfig};
use seglog::{
    CleanupPolicy, Durability, LogConfig, ManualClock, PartitionLog, Record, RetentionPolicy,
};

/// A leader (1) of replicas 1 and 2, both in sync, and its follower.
fn pair(c: &Cluster) -> (ReplicatedPartition, ReplicatedPartition) {
    let leader = c.replica(1);
    let follower = c.replica(2);
    leader.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    follower.become_follower(1, 1).unwrap();
    (leader, follower)
}

/// Three batches of two records, in three segments; the follower has the
/// first batch and the leader knows it: HW 2.
fn three_segments_hw_2(c: &Cluster) -> (ReplicatedPartition, ReplicatedPartition) {
    let (leader, follower) = pair(c);
    for prefix in ["p", "q", "r"] {
        put(&leader, prefix, 2);
        leader.log().roll().unwrap();
    }
    let response = leader.serve_fetch(&follower.fetch_request(1)).unwrap();
    follower.append_as_follower(&response).unwrap();
    round(&leader, &follower);
    assert_eq!(leader.high_watermark(), 2);
    (leader, follower)
}

#[test]
fn consumer_reads_stop_at_the_hw() {
    let c = Cluster::new(1);
    let (leader, follower) = pair(&c);
    for prefix in ["p", "q", "r"] {
        put(&leader, prefix, 2);
    }
    let log = leader.log();
    assert_eq!(leader.high_watermark(), 0);
    assert!(log.reader(0).next_batch().unwrap().is_none());
    assert!(values(log, 0).is_empty());
    assert!(leader.read(0, MAX_BYTES).unwrap().is_empty());
    // Replication reads everything.
    assert_eq!(log.read(0, MAX_BYTES).unwrap().records().count(), 6);

    let response = leader.serve_fetch(&follower.fetch_request(1)).unwrap();
    follower.append_as_follower(&response).unwrap();
    round(&leader, &follower);
    assert_eq!(leader.high_watermark(), 2);
    assert_eq!(values(log, 0), ["p0", "p1"]);
    let read = leader.read(0, MAX_BYTES).unwrap();
    assert_eq!(read.records().count(), 2);
    assert_eq!(read.next_offset(), 2);
    let mut reader = log.reader(0);
    assert_eq!(
        reader.next_batch().unwrap().unwrap().header().base_offset,
        0
    );
    assert!(reader.next_batch().unwrap().is_none());
    // A kept reader's point read stops there too; `read_record` reads to
    // the log end.
    let point = reader
        .record_at(1)
        .unwrap()
        .map(|r| r.value.map(<[u8]>::to_vec));
    assert_eq!(point, Some(Some(b"p1".to_vec())));
    assert!(matches!(
        reader.record_at(2),
        Err(seglog::Error::OffsetOutOfRange {
            requested: 2,
            latest: 2,
            ..
        })
    ));
    assert_eq!(log.read_record(2).unwrap().unwrap().offset, 2);
    // A reader left at the old high watermark goes on once it moves.
    sync(&leader, &follower);
    assert_eq!(reader.record_at(5).unwrap().unwrap().offset, 5);
    assert_eq!(
        reader.next_batch().unwrap().unwrap().header().base_offset,
        2
    );
    assert_eq!(values(log, 0).len(), 6);
    assert_eq!(values(follower.log(), 3), ["q1", "r0", "r1"]);
}

#[test]
fn retention_never_deletes_at_or_above_the_hw() {
    let c = Cluster::new(1);
    let (leader, _follower) = pair(&c);
    for prefix in ["p", "q", "r"] {
        put(&leader, prefix, 2);
        leader.log().roll().unwrap();
    }
    let everything = RetentionPolicy {
        retention_ms: None,
        retention_bytes: Some(0),
        delete_enabled: true,
    };
    let outcome = leader.log().apply_retention(&everything).unwrap();
    assert!(outcome.deleted.is_empty(), "{outcome:?}");
    assert_eq!(leader.log().log_start_offset(), 0);
    drop(_follower);
    let c = Cluster::new(1);
    let (leader, _follower) = three_segments_hw_2(&c);
    let outcome = leader.log().apply_retention(&everything).unwrap();
    assert_eq!(outcome.deleted.len(), 1);
    assert_eq!(outcome.log_start_offset, 2);
    assert_eq!(leader.log().log_start_offset(), 2);
    let again = leader.log().apply_retention(&everything).unwrap();
    assert!(again.deleted.is_empty());
    // By time, too.
    c.advance(10 * 24 * 3_600_000);
    let by_time = leader
        .log()
        .apply_retention(&RetentionPolicy::default())
        .unwrap();
    assert!(by_time.deleted.is_empty());
    assert_eq!(leader.log().log_end_offset(), 6);
}

#[test]
fn compaction_cleans_only_below_the_hw() {
    let mut c = Cluster::new(1);
    c.log_config.cleanup_policy = CleanupPolicy::Compact;
    let (leader, follower) = pair(&c);
    for round_no in 0..3 {
        let batch: Vec<Record> = (0..2)
            .map(|k| Record::new(format!("v{round_no}")).with_key(format!("k{k}")))
            .collect();
        leader
            .append(&batch, Acks::Leader)
            .unwrap()
            .wait(std::time::Duration::ZERO)
            .unwrap();
        leader.log().roll().unwrap();
    }
    let now = T0 + 1;
    let section = leader.log().cleanable_section(now).unwrap();
    assert_eq!(section.first_uncleanable_offset, 0);
    // One batch a fetch: the third tells the leader of the second.
    for _ in 0..3 {
        let response = leader.serve_fetch(&follower.fetch_request(1)).unwrap();
        follower.append_as_follower(&response).unwrap();
    }
    assert_eq!(leader.high_watermark(), 4);
    let section = leader.log().cleanable_section(now).unwrap();
    assert!(section.first_uncleanable_offset <= leader.high_watermark());
    assert_eq!(section.first_uncleanable_offset, 4);
    leader.log().compact(now).unwrap();
    // The batches at and above the high watermark are untouched.
    let above = leader.log().read(4, MAX_BYTES).unwrap();
    let keys: Vec<_> = above.records().map(|r| r.unwrap().offset).collect();
    assert_eq!(keys, [4, 5]);
}

#[test]
fn the_hw_checkpoint_is_restored_after_a_reopen() {
    let c = Cluster::new(1);
    {
        let (leader, follower) = pair(&c);
        put(&leader, "a", 4);
        sync(&leader, &follower);
        assert_eq!(leader.high_watermark(), 4);
        leader.checkpoint_high_watermark().unwrap();
        put(&leader, "b", 2);
        sync(&leader, &follower);
        assert_eq!(leader.high_watermark(), 6);
        // Not checkpointed since: a restart starts from 4.
        assert!(c.path(1).join("replication-offset-checkpoint").is_file());
        leader.log().close().unwrap();
        follower.log().close().unwrap();
    }
    let leader = c.replica(1);
    assert_eq!(leader.high_watermark(), 4);
    assert_eq!(values(leader.log(), 0).len(), 4);
    // A replica never checkpointed starts at its log start.
    let follower = c.replica(2);
    assert_eq!(follower.high_watermark(), 0);
    assert!(values(follower.log(), 0).is_empty());
    // A plain log (no replica set attached) reads to its end.
    drop(follower);
    let plain = c.open_log(3);
    plain.append(&records("x", 2)).unwrap();
    assert_eq!(plain.high_watermark(), 2);
}

#[test]
fn the_leader_epoch_cache_survives_a_reopen() {
    let c = Cluster::new(1);
    {
        let r = c.replica(1);
        r.become_leader(2, &[1], &[1]).unwrap();
        put(&r, "a", 3);
        r.become_leader(5, &[1], &[1]).unwrap();
        put(&r, "b", 1);
        r.log().close().unwrap();
    }
    let log = c.open_log(1);
    assert_eq!(epoch_entries(&log), [(2, 0), (5, 3)]);
    assert!(log.recovery_report().epoch_checkpoint_damage.is_none());
    let e = log.end_offset_for_epoch(2);
    assert_eq!((e.epoch, e.end_offset), (2, 3));
}

/// Appends every batch with an fsync: what a power loss keeps is known.
fn synced() -> LogConfig {
    LogConfig {
        durability: Durability::Sync,
        ..LogConfig::default()
    }
}

/// A leader at epoch 1 writes two records, (if `roll`) rolls, leads at
/// epoch 3 and writes two more, every append fsynced; then the power
/// goes, the log still open. The open re-reads the active segment only.
fn crash_after_two_epochs(dir: &Path, clock: &ManualClock, roll: bool) -> MemFs {
    let fs = MemFs::new();
    let log = open_synced(&fs, dir, clock);
    let r = ReplicatedPartition::new(log, 1, ReplicationConfig::default()).unwrap();
    r.become_leader(1, &[1], &[1]).unwrap();
    put(&r, "a", 2);
    if roll {
        r.log().roll().unwrap();
    }
    r.become_leader(3, &[1], &[1]).unwrap();
    put(&r, "b", 2);
    let crashed = fs.crash(CrashMode::DurableOnly);
    drop(r);
    crashed
}

/// The log in `dir` on `fs`, opened (or reopened) with [`synced`].
fn open_synced(fs: &MemFs, dir: &Path, clock: &ManualClock) -> PartitionLog {
    PartitionLog::options()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(dir, synced())
        .unwrap()
}

#[test]
fn after_power_loss_the_epoch_cache_matches_the_batches() {
    let clock = ManualClock::new(T0);
    let dir = Path::new("/data/t-0");
    let crashed = crash_after_two_epochs(dir, &clock, true);
    let log = open_synced(&crashed, dir, &clock);
    assert!(!log.recovery_report().clean_shutdown);
    assert_eq!(log.recovery_report().segments_recovered, 1);
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(epoch_entries(&log), [(1, 0), (3, 2)]);
    let r = ReplicatedPartition::new(log, 1, ReplicationConfig::default()).unwrap();
    assert_eq!(r.leader_epoch(), 3);
}

#[test]
fn after_power_loss_a_lost_checkpoint_is_relearned_from_the_batches() {
    let clock = ManualClock::new(T0);
    let dir = Path::new("/data/t-0");
    let crashed = crash_after_two_epochs(dir, &clock, false);
    let checkpoint = dir.join("leader-epoch-checkpoint");
    seglog::io::Fs::remove_file(&crashed, &checkpoint).unwrap();
    let log = open_synced(&crashed, dir, &clock);
    assert_eq!(epoch_entries(&log), [(1, 0), (3, 2)]);
}

#[test]
fn a_damaged_epoch_checkpoint_is_reported_and_rebuilt() {
    let clock = ManualClock::new(T0);
    let dir = Path::new("/data/t-0");
    let crashed = crash_after_two_epochs(dir, &clock, true);
    let checkpoint = dir.join("leader-epoch-checkpoint");
    crashed.write(&checkpoint, b"0\n2\n3 2\n1 zero\n").unwrap();
    let log = open_synced(&crashed, dir, &clock);
    let damage = log.recovery_report().epoch_checkpoint_damage.clone();
    assert!(damage.is_some(), "{:?}", log.recovery_report());
    // Only the active segment was re-read: the cache starts at epoch 3,
    // and still places epoch 1 (older than anything cached) before it.
    assert_eq!(epoch_entries(&log), [(3, 2)]);
    let e1 = log.end_offset_for_epoch(1);
    assert_eq!((e1.epoch, e1.end_offset), (1, 2));
    let text = String::from_utf8(crashed.read(&checkpoint).unwrap()).unwrap();
    assert_eq!(text, "0\n1\n3 2\n");
    drop(log);
    // Rebuilt: the next open finds no damage.
    let log = open_synced(&crashed, dir, &clock);
    assert!(log.recovery_report().epoch_checkpoint_damage.is_none());
    assert_eq!(epoch_entries(&log), [(3, 2)]);
}

#[test]
fn the_hw_checkpoint_survives_power_loss_and_is_clamped_into_the_log() {
    let clock = ManualClock::new(T0);
    let dir = Path::new("/data/t-0");
    let fs = MemFs::new();
    let log = open_synced(&fs, dir, &clock);
    let r = ReplicatedPartition::new(log, 1, ReplicationConfig::default()).unwrap();
    r.become_leader(1, &[1], &[1]).unwrap();
    put(&r, "a", 3);
    r.checkpoint_high_watermark().unwrap();
    // Appended without an fsync: lost to the power cut.
    r.log()
        .append_with(&records("b", 2), Durability::None)
        .unwrap();
    // Written past the partition: the high watermark moves only when the
    // partition looks again (here, a refresh of the leadership).
    assert_eq!(r.high_watermark(), 3);
    r.become_leader(1, &[1], &[1]).unwrap();
    assert_eq!(r.high_watermark(), 5);
    r.checkpoint_high_watermark().unwrap();
    let crashed = fs.crash(CrashMode::DurableOnly);
    drop(r);
    let log = open_synced(&crashed, dir, &clock);
    assert_eq!(log.log_end_offset(), 3);
    let r = ReplicatedPartition::new(log, 1, ReplicationConfig::default()).unwrap();
    // The checkpoint said 5; the log ends at 3.
    assert_eq!(r.high_watermark(), 3);
    assert_eq!(values(r.log(), 0), ["a0", "a1", "a2"]);
}

#[test]
fn a_follower_truncated_below_its_hw_brings_the_hw_down() {
    let c = Cluster::new(1);
    let (leader, follower) = pair(&c);
    put(&leader, "a", 2);
    put(&leader, "b", 2);
    sync(&leader, &follower);
    assert_eq!(follower.high_watermark(), 4);
    follower.log().truncate_to(2).unwrap();
    assert_eq!(follower.high_watermark(), 2);
    assert_eq!(values(follower.log(), 0), ["a0", "a1"]);
}

/// A power loss at any sync of a follower's append of a new epoch's batch
/// leaves a log every batch of which the cache places in its own epoch:
/// the cache learns an epoch before the batch is written, and the open
/// trims what lies past the data.
#[test]
fn a_power_loss_during_an_append_of_a_new_epoch_never_leaves_a_batch_the_cache_misplaces() {
    let clock = ManualClock::new(T0);
    let dir = Path::new("/data/t-0");
    let batch = |base: u64, epoch: i32| {
        seglog::BatchBuilder::new()
            .base_offset(base)
            .partition_leader_epoch(epoch)
            .now(T0)
            .build(&records("x", 2))
            .unwrap()
    };
    for k in 0..8 {
        let fs = MemFs::new();
        let log = open_synced(&fs, dir, &clock);
        log.append_replicated(&batch(0, 1)).unwrap();
        fs.freeze_after_syncs(fs.sync_count() + k);
        log.append_replicated(&batch(2, 2)).unwrap();
        let crashed = fs.crash(CrashMode::DurableOnly);
        drop(log);
        let log = open_synced(&crashed, dir, &clock);
        let cache = epoch_entries(&log);
        for (base, epoch) in log_epochs(&log) {
            let placed = cache
                .iter()
                .rev()
                .find(|(_, start)| *start <= base)
                .map(|(e, _)| *e);
            assert_eq!(
                placed,
                Some(epoch),
                "sync {k}: batch at {base}, cache {cache:?}"
            );
        }
        assert!(
            cache.iter().all(|(_, start)| *start < log.log_end_offset()),
            "sync {k}: no entry past the data: {cache:?}"
        );
    }
}

#[test]
fn read_record_reads_compressed_records_above_the_hw_as_uncompressed_ones() {
    let mut c = Cluster::new(1);
    c.log_config.compression = seglog::Compression::Gzip;
    if !c.log_config.compression.is_available() {
        return;
    }
    let (leader, _follower) = pair(&c);
    put(&leader, "p", 2);
    let log = leader.log();
    assert_eq!((leader.high_watermark(), log.log_end_offset()), (0, 2));
    // The gzip batch takes the general read, which reads to the log end.
    let record = log.read_record(1).unwrap().expect("a record at 1");
    assert_eq!(record.value.as_deref(), Some(&b"p1"[..]));
    // A kept reader stops at the high watermark.
    assert!(matches!(
        log.reader(0).record_at(1),
        Err(seglog::Error::OffsetOutOfRange {
            requested: 1,
            latest: 0,
            ..
        })
    ));
}

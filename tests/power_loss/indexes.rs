//! Index files across power loss.
//!
//! A closed segment's `.index` and `.timeindex` are trusted at open once
//! the recovery point is past the segment (its data is not re-read), so
//! they must be durable, and right, before anything lets the recovery
//! point cover them. These tests cut power at every fsync of rolls,
//! truncations and log start changes, over random index sizes and
//! intervals, and after every reopen check every index entry of every
//! segment against its `.log` (`verify_partition_dir_with`, as Kafka's
//! `DumpLogSegments --verify-index-only` does) and every time lookup
//! against the records the log holds.

use crate::common_crash;

use common_crash::{dir, open, Rng};
use seglog::inspect::verify_partition_dir_with;
use seglog::io::{CrashMode, MemFs};
use seglog::{Durability, LogConfig, ManualClock, PartitionLog, Record, RecoveryMode};

const STRICT: RecoveryMode = RecoveryMode::Strict;

/// Records whose timestamps are `ts` and up; their values name them.
fn timed(ts: i64, n: usize, len: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record::new(vec![b'v'; len]).with_timestamp(ts + i as i64))
        .collect()
}

/// For every record the log holds, the first offset whose timestamp is at
/// least the record's must be what `offset_for_timestamp` answers, and a
/// timestamp above every record's finds nothing.
fn check_time_lookups(log: &PartitionLog, what: &str) {
    let start = log.log_start_offset();
    let records: Vec<(u64, i64)> = log
        .iter(start)
        .map(|r| r.map(|r| (r.offset, r.timestamp)))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{what}: reading from {start}: {e}"));
    for &(_, ts) in &records {
        let want = records
            .iter()
            .find(|(_, t)| *t >= ts)
            .map(|&(offset, timestamp)| (offset, timestamp));
        let got = log
            .offset_for_timestamp(ts)
            .unwrap_or_else(|e| panic!("{what}: offset_for_timestamp({ts}): {e}"))
            .map(|l| (l.offset, l.timestamp));
        assert_eq!(got, want, "{what}: offset_for_timestamp({ts})");
    }
    let above = records.iter().map(|(_, t)| *t).max().unwrap_or(0) + 1;
    assert_eq!(
        log.offset_for_timestamp(above).unwrap(),
        None,
        "{what}: a timestamp above every record"
    );
}

/// The reproduction: a roll right after a synced append and a log
/// start change, cut by a power loss after the roll's first two fsyncs.
#[test]
fn sealed_segment_indexes_are_durable_before_the_recovery_point_covers_them() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let config = LogConfig {
        index_interval_bytes: 0,
        ..LogConfig::default()
    };
    let log = open(&fs, &clock, STRICT, &config).unwrap();
    for i in 0..10 {
        log.append_with(&timed(i * 10, 1, 20), Durability::Sync)
            .unwrap();
    }
    log.advance_log_start_offset(1).unwrap();
    fs.freeze_after_syncs(fs.sync_count() + 2);
    log.roll().unwrap();
    drop(log);
    let crashed = fs.crash(CrashMode::DurableOnly);
    let log = open(&crashed, &clock, STRICT, &config).unwrap();
    let found = log.offset_for_timestamp(0).unwrap();
    assert_eq!(
        found.map(|l| (l.offset, l.timestamp)),
        Some((1, 10)),
        "the first record at or after the log start"
    );
    check_time_lookups(&log, "after the power loss");
    verify_partition_dir_with(&crashed, dir()).unwrap();
}

/// One step of a workload.
#[derive(Debug, Clone, Copy)]
enum Op {
    Append {
        n: usize,
        len: usize,
        sync: bool,
    },
    Roll,
    Flush,
    SyncSealed,
    /// `truncate_to(leo - x)`.
    TruncateBack(u64),
    /// `advance_log_start_offset(leo - x)`.
    AdvanceStartBack(u64),
}

fn workload(rng: &mut Rng) -> Vec<Op> {
    (0..40)
        .map(|_| match rng.below(20) {
            0..=9 => Op::Append {
                n: 1 + rng.below(4) as usize,
                len: 1 + rng.below(120) as usize,
                sync: rng.below(3) > 0,
            },
            10..=12 => Op::Roll,
            13 => Op::Flush,
            14 => Op::SyncSealed,
            15..=16 => Op::TruncateBack(rng.below(30)),
            _ => Op::AdvanceStartBack(rng.below(8)),
        })
        .collect()
}

/// Runs `ops`, with timestamps that mostly grow but sometimes step back
/// (the time index keeps the largest so far).
fn run(log: &PartitionLog, ops: &[Op], rng: &mut Rng) {
    let mut ts = 1_000i64;
    for op in ops {
        let leo = log.log_end_offset();
        match *op {
            Op::Append { n, len, sync } => {
                ts += rng.below(50) as i64 - 10;
                let durability = if sync {
                    Durability::Sync
                } else {
                    Durability::Flush
                };
                log.append_with(&timed(ts, n, len), durability).unwrap();
                ts += n as i64;
            }
            Op::Roll => log.roll().unwrap(),
            Op::Flush => log.sync().unwrap(),
            Op::SyncSealed => {
                log.sync_sealed().unwrap();
            }
            Op::TruncateBack(x) => log.truncate_to(leo.saturating_sub(x)).unwrap(),
            Op::AdvanceStartBack(x) => {
                let to = leo.saturating_sub(x).max(log.log_start_offset());
                log.advance_log_start_offset(to).unwrap();
            }
        }
    }
}

/// Random configurations and workloads; power cut after every fsync.
#[test]
fn every_index_entry_and_time_lookup_is_right_after_power_loss_at_every_fsync() {
    let cases: u64 = std::env::var("SEGLOG_INDEX_CRASH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let seed: u64 = std::env::var("SEGLOG_INDEX_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_261_204);
    for case in 0..cases {
        let mut rng = Rng::new(seed + case);
        // 4 to 25 offset-index entries, an entry every batch to every few.
        let config = LogConfig {
            segment_bytes: 600 + rng.below(1500),
            segment_index_bytes: 24 * (1 + rng.below(8) as u32) + 8,
            index_interval_bytes: [0, 1, 100, 300][rng.below(4) as usize],
            write_buffer_bytes: 4096,
            ..LogConfig::default()
        };
        let ops = workload(&mut rng);
        let ctx = format!("seed {} ({config:?})", seed + case);
        let data_seed = rng.next();
        let clock = ManualClock::new(1_000);
        let reference = MemFs::new();
        let log = open(&reference, &clock, STRICT, &config).unwrap();
        run(&log, &ops, &mut Rng::new(data_seed));
        log.close().unwrap();
        let syncs = reference.sync_count();
        for k in 0..=syncs {
            let fs = MemFs::new();
            fs.freeze_after_syncs(k);
            let log = open(&fs, &clock, STRICT, &config).unwrap();
            run(&log, &ops, &mut Rng::new(data_seed));
            let _ = log.close();
            drop(log);
            for mode in [CrashMode::DurableOnly, CrashMode::TornTail { seed: k }] {
                let what = format!("{ctx}: power cut after sync {k} of {syncs}, {mode:?}");
                let crashed = fs.crash(mode);
                let log = open(&crashed, &clock, STRICT, &config)
                    .unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
                // Every entry of every index file the log trusts.
                verify_partition_dir_with(&crashed, dir())
                    .unwrap_or_else(|e| panic!("{what}: verify after reopen: {e}"));
                check_time_lookups(&log, &what);
                log.close().unwrap();
            }
        }
    }
}

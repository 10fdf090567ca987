//! Power loss at every fsync of a compaction round, on the in-memory file
//! system: every image reopens to the same key -> value table, with
//! offsets that only increase, the records at and above the first
//! uncleanable offset unchanged, and a directory that verifies.

use seglog::io::{CrashMode, MemFs};
use seglog::{LogConfig, ManualClock, PartitionLog};

use crate::common_crash::dir;
use crate::helpers::*;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 700,
        ..crate::helpers::config()
    }
}

/// Keyed appends with tombstones over several segments, all synced, plus
/// a few records in the active segment. Returns the log.
fn workload(fs: &MemFs, clock: &ManualClock, round: usize) -> PartitionLog {
    let log = open_log(fs, clock, &config());
    for i in 0..120u64 {
        let key = format!("k{}", (i * 7 + round as u64) % 17);
        let value = if i % 11 == 5 {
            None
        } else {
            Some(format!("v{i}"))
        };
        put(&log, &key, value.as_deref(), 1_000 + i as i64);
    }
    log.sync().unwrap();
    log
}

fn check(
    image: &MemFs,
    clock: &ManualClock,
    before: &[(u64, String, Option<String>)],
    tail_from: u64,
    what: &str,
) {
    let log = open_log(image, clock, &config());
    let after = records(&log);
    let offs: Vec<u64> = after.iter().map(|r| r.0).collect();
    assert!(
        offs.windows(2).all(|w| w[0] < w[1]),
        "{what}: offsets {offs:?}"
    );
    let table_of = |rs: &[(u64, String, Option<String>)]| {
        let mut t = std::collections::BTreeMap::new();
        for (_, k, v) in rs {
            match v {
                Some(v) => t.insert(k.clone(), v.clone()),
                None => t.remove(k),
            };
        }
        t
    };
    assert_eq!(table_of(&after), table_of(before), "{what}");
    // Every record kept is one of the log's, unchanged.
    for r in &after {
        assert!(
            before.contains(r),
            "{what}: {r:?} is not a record of the log"
        );
    }
    // Nothing from the first uncleanable offset on changed.
    let tail = |rs: &[(u64, String, Option<String>)]| -> Vec<_> {
        rs.iter().filter(|r| r.0 >= tail_from).cloned().collect()
    };
    assert_eq!(tail(&after), tail(before), "{what}");
    // Every key's latest record is there.
    for (k, _) in table_of(before) {
        let latest = before.iter().rev().find(|r| r.1 == k).unwrap();
        assert!(after.contains(latest), "{what}: latest of {k} lost");
    }
    log.close().unwrap();
    seglog::inspect::verify_partition_dir_with(image, dir()).unwrap();
}

#[test]
fn power_loss_at_every_fsync_of_a_round_loses_no_latest_value() {
    let clock = ManualClock::new(10_000);
    // Learn the syncs of the round.
    let fs = MemFs::new();
    let log = workload(&fs, &clock, 0);
    let before = records(&log);
    let tail_from = log.segments().last().unwrap().base_offset;
    let start = fs.sync_count();
    let out = log.compact(10_000).unwrap();
    assert!(
        out.segments_written > 0 && out.records_dropped > 0,
        "{out:?}"
    );
    let end = fs.sync_count();
    assert!(end - start >= 5, "{} syncs", end - start);
    for k in start..=end {
        let fs = MemFs::new();
        let log = workload(&fs, &clock, 0);
        fs.freeze_after_syncs(k);
        let _ = log.compact(10_000);
        for mode in [CrashMode::DurableOnly, CrashMode::TornTail { seed: k }] {
            let image = fs.crash(mode);
            check(
                &image,
                &clock,
                &before,
                tail_from,
                &format!("sync {k} {mode:?}"),
            );
        }
        drop(log);
    }
}

#[test]
fn a_second_round_after_a_crash_finishes_the_job() {
    let clock = ManualClock::new(10_000);
    let fs = MemFs::new();
    let log = workload(&fs, &clock, 1);
    let before = records(&log);
    let start = fs.sync_count();
    fs.freeze_after_syncs(start + 3);
    let _ = log.compact(10_000);
    let image = fs.crash(CrashMode::DurableOnly);
    drop(log);
    let log = open_log(&image, &clock, &config());
    log.compact(10_000).unwrap();
    let mut keys: Vec<String> = records(&log)
        .iter()
        .filter(|r| r.0 < log.segments().last().unwrap().base_offset)
        .map(|r| r.1.clone())
        .collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "one record per key below the active segment");
    assert_eq!(table(&log).len(), {
        let mut t = std::collections::BTreeMap::new();
        for (_, k, v) in &before {
            match v {
                Some(v) => t.insert(k.clone(), v.clone()),
                None => t.remove(k),
            };
        }
        t.len()
    });
}

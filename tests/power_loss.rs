//! Power loss at every fsync, and I/O failures at every write-path call.
//!
//! Each workload runs once to learn how many successful syncs
//! (`sync_data` + `sync_dir`) it makes, N, taking a power-loss image after
//! every operation on the way (when unsynced appends are in the files).
//! Then, for every k in 0..=N, it runs again on a fresh `MemFs` frozen
//! after the k-th sync. Every image (durable bytes only, and durable bytes
//! plus a torn tail, with several seeds) is reopened and checked:
//!
//! * the open succeeds in strict mode;
//! * what the log holds is a prefix of the log as it was just before or
//!   just after the operation that made sync k: the same log start, an
//!   end no further, and exactly the appended records in between;
//! * every record below the recovery point the log reported (for an
//!   operation that had finished its syncs, after it; otherwise the lower
//!   of before and after) is there, and in particular every append
//!   acknowledged with `Durability::Sync` whose call returned by sync k
//!   (unless a truncation that had started by then removed it);
//! * a crash right after a clean close reopens as a clean shutdown;
//! * the reopened log takes a new append at its end, closes, passes
//!   `verify_partition_dir_with`, and reopens cleanly with the same
//!   contents.
//!
//! Rolls do not fsync the sealed segment (fsync protocol step 2), so many
//! images are taken while sealed segments are unsynced: what comes back
//! must still be a prefix of the log, without offset holes, and every
//! directory must pass `verify_partition_dir_with`, closed segments'
//! index files included.
//!
//! The fault tests inject an error into the n-th call of one kind (a failed
//! fsync, a short write, ...) for every n the workload makes, and check
//! that the log is poisoned, refuses writes, keeps serving acknowledged
//! data, closes with `Error::Poisoned` and no clean-shutdown marker, and
//! recovers, after a restart and after a power loss, to a prefix of the
//! log before or after the failed operation.
//!
//! The other tests pin down single cases the sweeps found, each small
//! enough to debug on its own.

mod common_crash;

#[path = "power_loss/indexes.rs"]
mod indexes;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common_crash::{
    append_checked, check_floor, check_prefix_of, dir, found, make_records, open, Model,
};
use seglog::inspect::verify_partition_dir_with;
use seglog::io::{CrashMode, Fault, Fs, FsOp, MemFs};
use seglog::{Durability, Error, LogConfig, ManualClock, PartitionLog, Record, RecoveryMode};

const STRICT: RecoveryMode = RecoveryMode::Strict;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        // 20 time-index / 30 offset-index entries: with an entry for every
        // batch, small appends roll on a full index before 2048 bytes.
        segment_index_bytes: 240,
        index_interval_bytes: 0,
        write_buffer_bytes: 4096,
        ..LogConfig::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Append {
        n: usize,
        size: usize,
        dur: Durability,
    },
    Roll,
    /// `flush()`: fsync everything.
    Flush,
    /// `flush_with(Durability::Flush)`: buffered bytes to the OS.
    FlushOs,
    /// `sync_sealed()`: fsync the segments sealed by rolls.
    SyncSealed,
    /// `truncate_to(leo - x)`.
    TruncateBack(u64),
    /// `truncate_to(o)`.
    TruncateTo(u64),
    /// `truncate_to(max(leo - x, base offset of the active segment))`:
    /// a truncation that stays in the active segment.
    TruncateInActive(u64),
    /// `advance_log_start_offset(o)`.
    AdvanceStartTo(u64),
    /// `advance_log_start_offset(leo - x)`.
    AdvanceStartBack(u64),
    Close,
    Open,
}

use Durability::{Flush as F, None as N, Sync as S};

fn app(n: usize, size: usize, dur: Durability) -> Op {
    Op::Append { n, size, dur }
}

fn rep(times: usize, op: Op) -> Vec<Op> {
    vec![op; times]
}

fn workload_sync_rolls() -> Vec<Op> {
    let mut ops = Vec::new();
    ops.extend(rep(24, app(1, 4, S))); // index-full rolls
    ops.extend(rep(5, app(3, 450, S))); // size rolls
    ops.push(app(1, 1900, S)); // one batch nearly a whole segment
    ops.push(app(10, 20, S));
    ops.push(app(40, 2, S));
    ops.extend(rep(3, app(2, 700, S)));
    ops.push(Op::Close);
    ops
}

fn workload_mixed_durability() -> Vec<Op> {
    let mut ops = Vec::new();
    ops.extend(rep(10, app(2, 60, F)));
    ops.push(app(1, 5, S));
    ops.extend(rep(5, app(3, 30, N)));
    ops.push(Op::Flush);
    ops.extend(rep(4, app(2, 300, F)));
    ops.push(Op::Roll);
    ops.push(app(1, 1, N));
    ops.push(Op::FlushOs);
    ops.extend(rep(5, app(2, 300, F))); // rolls by size, unsynced
    ops.push(Op::SyncSealed);
    ops.push(app(2, 300, N));
    ops.push(Op::SyncSealed); // nothing sealed since
    ops.push(app(4, 100, S));
    ops.push(Op::Roll);
    ops.push(Op::Roll); // an empty active segment: nothing to do
    ops.push(app(2, 10, F));
    ops.extend(rep(6, app(2, 250, N)));
    ops.push(app(1, 3, S));
    ops.extend(rep(3, app(1, 3, F)));
    ops.push(Op::Close);
    ops.push(Op::Open);
    ops.push(app(2, 40, N));
    ops.push(app(2, 40, S));
    ops.push(Op::Close);
    ops
}

fn workload_truncate_active() -> Vec<Op> {
    let mut ops = Vec::new();
    ops.extend(rep(12, app(3, 200, S))); // offsets 0..36, 4 batches a segment
    ops.push(app(5, 10, F));
    ops.push(Op::TruncateInActive(3)); // inside the last (unsynced) batch
    ops.push(app(2, 10, S));
    ops.push(app(3, 10, N));
    ops.push(Op::TruncateInActive(3)); // exactly the buffered batch
    ops.push(app(2, 100, F));
    ops.push(app(1, 100, F));
    ops.push(Op::TruncateInActive(1_000)); // to the active segment's base
    ops.extend(rep(6, app(3, 200, S)));
    ops.push(Op::TruncateInActive(2)); // inside a synced batch...
    ops.push(Op::TruncateBack(0)); // (at the end: nothing to do)
    ops.push(app(1, 5, S)); // ...and synced again at once
    ops.push(app(2, 50, F));
    ops.push(Op::Close);
    ops
}

/// Truncation inside a synced batch, then unsynced appends.
fn workload_truncate_inside_synced_batch() -> Vec<Op> {
    let mut ops = Vec::new();
    ops.extend(rep(4, app(3, 200, S)));
    ops.push(Op::TruncateInActive(1)); // the batch 9..=11 goes, the log ends at 11
    ops.push(app(2, 100, F));
    ops.push(app(2, 100, F));
    ops.push(Op::Close);
    ops
}

fn workload_truncate_closed() -> Vec<Op> {
    let mut ops = Vec::new();
    ops.extend(rep(12, app(3, 200, S))); // offsets 0..36, 4 batches a segment
    ops.push(app(5, 10, F));
    ops.push(Op::TruncateBack(3)); // inside the last (unsynced) batch
    ops.push(app(2, 10, S));
    ops.push(Op::TruncateTo(10)); // inside batch 9..=11, in a closed segment
    ops.extend(rep(3, app(3, 200, S)));
    ops.push(app(2, 30, F));
    ops.push(Op::TruncateTo(4)); // inside batch 3..=5, in the first segment
    ops.push(app(2, 15, S));
    ops.push(Op::TruncateBack(0)); // at the end: nothing to do
    ops.extend(rep(4, app(3, 200, S)));
    ops.push(Op::Close);
    ops
}

fn workload_log_start() -> Vec<Op> {
    let mut ops = Vec::new();
    ops.extend(rep(14, app(3, 200, S))); // offsets 0..42
    ops.push(Op::AdvanceStartTo(20)); // deletes the segments below 20
    ops.push(app(2, 50, F));
    ops.push(Op::AdvanceStartBack(0)); // up to the end: all but the active go
    ops.extend(rep(3, app(3, 200, S)));
    ops.push(Op::Close);
    ops.push(Op::Open);
    ops.push(app(1, 10, S));
    ops.push(Op::AdvanceStartBack(1));
    ops.push(app(3, 200, F));
    ops.push(Op::TruncateBack(6)); // below the log start: the start follows
    ops.push(app(2, 200, S));
    ops.push(Op::Close);
    ops
}

/// The log start moved over many segments at once, sealed ones never
/// fsynced among them, and into the active segment over records never
/// fsynced, so that the recovery point is raised over unsynced data.
fn workload_log_start_over_unsynced() -> Vec<Op> {
    let mut ops = Vec::new();
    ops.extend(rep(8, app(3, 200, S)));
    ops.extend(rep(12, app(3, 200, F))); // rolls, unsynced
    ops.push(Op::AdvanceStartBack(2)); // into the last, unsynced batch
    ops.push(app(2, 50, F));
    ops.push(Op::AdvanceStartBack(0)); // the end: only the active segment stays
    ops.push(app(2, 50, S));
    ops.extend(rep(6, app(3, 200, F)));
    ops.push(Op::Roll);
    ops.push(Op::AdvanceStartBack(1));
    ops.push(app(1, 10, F));
    ops.push(Op::Close);
    ops
}

/// Where a truncating operation truncates to.
fn truncation_target(op: Op, log: &PartitionLog, model: &Model) -> u64 {
    match op {
        Op::TruncateBack(x) => model.leo - x,
        Op::TruncateTo(o) => o,
        Op::TruncateInActive(x) => {
            let active = log.segments().last().unwrap().base_offset;
            model.leo.saturating_sub(x).max(active)
        }
        _ => unreachable!("{op:?} does not truncate"),
    }
}

fn is_truncation(op: Op) -> bool {
    matches!(
        op,
        Op::TruncateBack(_) | Op::TruncateTo(_) | Op::TruncateInActive(_)
    )
}

/// One operation of a run and what it left behind.
#[derive(Debug, Clone)]
struct Step {
    op: Op,
    /// Sync count before and after the operation.
    a: u64,
    b: u64,
    after: Model,
    /// The recovery point after the operation (the log end when closed).
    rp_after: u64,
    /// Offsets of an append acknowledged with `Durability::Sync`.
    synced: Option<(u64, u64)>,
}

/// Runs `ops` on `fs`; the first step is the initial open.
fn run(ops: &[Op], fs: &MemFs, config: &LogConfig) -> Vec<Step> {
    run_observed(ops, fs, config, &mut |_, _| {})
}

/// [`run`], calling `observe` after each step with the steps so far.
fn run_observed(
    ops: &[Op],
    fs: &MemFs,
    config: &LogConfig,
    observe: &mut dyn FnMut(&[Step], &MemFs),
) -> Vec<Step> {
    let clock = ManualClock::new(1_000_000);
    let mut model = Model::default();
    let mut steps = Vec::new();
    let a = fs.sync_count();
    let mut log = Some(open(fs, &clock, STRICT, config).expect("first open"));
    steps.push(Step {
        op: Op::Open,
        a,
        b: fs.sync_count(),
        after: model.clone(),
        rp_after: 0,
        synced: None,
    });
    for (i, &op) in ops.iter().enumerate() {
        clock.advance(7);
        let a = fs.sync_count();
        let mut synced = None;
        match op {
            Op::Append { n, size, dur } => {
                let l = log.as_ref().unwrap();
                let records = make_records(i as u64, n, size);
                let r = append_checked(l, &mut model, &clock, &records, dur)
                    .unwrap_or_else(|e| panic!("op {i} {op:?}: {e}"));
                if dur == S {
                    assert_eq!(
                        l.recovery_point(),
                        model.leo,
                        "a synced append moves the recovery point"
                    );
                    synced = Some(r);
                }
            }
            Op::Roll => {
                // A roll seals the segment without an fsync: the recovery
                // point stays.
                let l = log.as_ref().unwrap();
                let rp = l.recovery_point();
                l.roll().unwrap();
                assert_eq!(
                    l.recovery_point(),
                    rp,
                    "a roll does not move the recovery point"
                );
            }
            Op::SyncSealed => {
                let l = log.as_ref().unwrap();
                l.sync_sealed().unwrap();
                let active = l.segments().last().unwrap().base_offset;
                assert!(
                    l.recovery_point() >= active,
                    "sync_sealed leaves the recovery point at {} below the active segment {active}",
                    l.recovery_point()
                );
            }
            Op::FlushOs => {
                let l = log.as_ref().unwrap();
                let rp = l.recovery_point();
                l.flush_with(F).unwrap();
                assert_eq!(l.recovery_point(), rp);
            }
            Op::Flush => {
                let l = log.as_ref().unwrap();
                l.sync().unwrap();
                assert_eq!(l.recovery_point(), model.leo);
            }
            Op::TruncateBack(_) | Op::TruncateTo(_) | Op::TruncateInActive(_) => {
                let l = log.as_ref().unwrap();
                let o = truncation_target(op, l, &model);
                l.truncate_to(o).unwrap();
                model.truncate_to(o);
                assert_eq!(l.log_end_offset(), model.leo);
                assert_eq!(l.log_start_offset(), model.start);
            }
            Op::AdvanceStartTo(_) | Op::AdvanceStartBack(_) => {
                let l = log.as_ref().unwrap();
                let o = match op {
                    Op::AdvanceStartBack(x) => model.leo - x,
                    Op::AdvanceStartTo(o) => o,
                    _ => unreachable!(),
                };
                l.advance_log_start_offset(o).unwrap();
                model.advance_start(o);
                assert_eq!(l.log_start_offset(), model.start);
            }
            Op::Close => {
                log.take().unwrap().close().unwrap();
            }
            Op::Open => {
                assert!(log.is_none());
                let l = open(fs, &clock, STRICT, config).unwrap();
                assert!(l.recovery_report().clean_shutdown);
                assert_eq!(l.log_end_offset(), model.leo);
                log = Some(l);
            }
        }
        // (Only the ends: a read would hand buffered appends to the OS.)
        if let Some(l) = &log {
            assert_eq!(l.log_end_offset(), model.leo, "op {i} {op:?}");
            assert_eq!(l.log_start_offset(), model.start, "op {i} {op:?}");
        }
        steps.push(Step {
            op,
            a,
            b: fs.sync_count(),
            after: model.clone(),
            rp_after: log.as_ref().map_or(model.leo, |l| l.recovery_point()),
            synced,
        });
        observe(&steps, fs);
    }
    if let Some(l) = &log {
        let f = found(l);
        check_prefix_of(&f, &model).unwrap_or_else(|e| panic!("live log at the end: {e}"));
        assert_eq!(f.leo, model.leo);
    }
    steps
}

/// The records both models hold, identically.
fn common_part(x: &Model, y: &Model) -> Model {
    let mut m = x.clone();
    m.records
        .retain(|o, e| y.records.get(o).is_some_and(|f| f == e));
    m
}

/// Where a crash image was taken: inside step `j`, right after sync `k`
/// (`complete` if the step had made all its syncs by then), or after step
/// `j` returned.
#[derive(Debug, Clone, Copy)]
struct At {
    j: usize,
    k: u64,
    complete: bool,
    between_steps: bool,
}

impl At {
    /// The image frozen right after sync `k`.
    fn sync(steps: &[Step], k: u64) -> At {
        let j = if k == 0 {
            0
        } else {
            steps
                .iter()
                .position(|s| s.a < k && k <= s.b)
                .unwrap_or_else(|| panic!("no step made sync {k}"))
        };
        At {
            j,
            k,
            complete: k == steps[j].b,
            between_steps: false,
        }
    }

    /// The image taken after step `j` returned.
    fn after_step(steps: &[Step], j: usize) -> At {
        At {
            j,
            k: steps[j].b,
            complete: true,
            between_steps: true,
        }
    }
}

/// Checks the log reopened from a crash image taken at `at`.
fn check_crash_image(
    steps: &[Step],
    at: At,
    crashed: &MemFs,
    config: &LogConfig,
    label: &str,
) -> Result<Outcome, String> {
    let At { j, k, complete, .. } = at;
    let step = &steps[j];
    let (before, rp_before) = if at.between_steps {
        (step.after.clone(), step.rp_after)
    } else if j == 0 {
        (Model::default(), 0)
    } else {
        (steps[j - 1].after.clone(), steps[j - 1].rp_after)
    };
    let ctx = if at.between_steps {
        format!("{label}: crash after step {j} {:?} (sync {k})", step.op)
    } else {
        format!(
            "{label}: crash after sync {k}, during step {j} {:?}",
            step.op
        )
    };

    let clock = ManualClock::new(9_000_000);
    let log = open(crashed, &clock, STRICT, config)
        .map_err(|e| format!("{ctx}: strict reopen failed: {e}"))?;
    let report = log.recovery_report().clone();
    let f = found(&log);
    if let (Err(x), Err(y)) = (
        check_prefix_of(&f, &before),
        check_prefix_of(&f, &step.after),
    ) {
        return Err(format!(
            "{ctx}: the log [{}, {}) is no prefix of the log before ({x}) or after ({y}) the step; {report:?}",
            f.start, f.leo
        ));
    }

    // What must have survived.
    let (floor_model, floor) = if complete {
        (step.after.clone(), step.rp_after)
    } else {
        (
            common_part(&before, &step.after),
            rp_before.min(step.rp_after),
        )
    };
    check_floor(&f, &floor_model, floor).map_err(|e| format!("{ctx}: {e}; {report:?}"))?;
    for (i, s) in steps.iter().enumerate() {
        let Some((first, last)) = s.synced else {
            continue;
        };
        if s.b > k {
            continue;
        }
        for x in first.max(f.start)..=last {
            let removed_later = steps[i + 1..]
                .iter()
                .any(|t| is_truncation(t.op) && t.a < k && !t.after.records.contains_key(&x));
            if removed_later {
                continue;
            }
            let want = &s.after.records[&x];
            if !f.records.iter().any(|r| r.offset == x && want.matches(r)) {
                return Err(format!(
                    "{ctx}: record {x} of the append at step {i} was acknowledged with Sync at sync {} but is missing; log is [{}, {})",
                    s.b, f.start, f.leo
                ));
            }
        }
    }
    if step.op == Op::Close && complete && !report.clean_shutdown {
        return Err(format!(
            "{ctx}: the clean-shutdown marker was durable, but {report:?}"
        ));
    }
    if log.recovery_point() != f.leo {
        return Err(format!(
            "{ctx}: recovery point {} after open, log end {}",
            log.recovery_point(),
            f.leo
        ));
    }

    // The log goes on from where it came back.
    let mut model = Model::from_found(&f);
    let extra = make_records(7_777, 2, 30);
    append_checked(&log, &mut model, &clock, &extra, S)
        .map_err(|e| format!("{ctx}: append after reopen: {e}"))?;
    log.close()
        .map_err(|e| format!("{ctx}: close after reopen: {e}"))?;
    verify_partition_dir_with(crashed, dir())
        .map_err(|e| format!("{ctx}: verify after reopen and close: {e}"))?;
    let again =
        open(crashed, &clock, STRICT, config).map_err(|e| format!("{ctx}: second reopen: {e}"))?;
    if !again.recovery_report().clean_shutdown {
        return Err(format!("{ctx}: second reopen not clean"));
    }
    let f2 = found(&again);
    check_prefix_of(&f2, &model).map_err(|e| format!("{ctx}: second reopen: {e}"))?;
    if f2.leo != model.leo {
        return Err(format!(
            "{ctx}: second reopen ends at {}, not {}",
            f2.leo, model.leo
        ));
    }
    again
        .close()
        .map_err(|e| format!("{ctx}: final close: {e}"))?;
    Ok(Outcome {
        clean: report.clean_shutdown,
        truncated: report.truncated.is_some(),
        lost: f.leo < step.after.leo.min(before.leo),
    })
}

/// What one crash image came back as.
#[derive(Debug, Clone, Copy, Default)]
struct Outcome {
    clean: bool,
    truncated: bool,
    /// The log came back shorter than it was.
    lost: bool,
}

/// Torn tails tried per crash point, besides durable bytes only.
const TORN_SEEDS: u64 = 4;

fn crash_modes(point: u64) -> impl Iterator<Item = CrashMode> {
    std::iter::once(CrashMode::DurableOnly).chain((0..TORN_SEEDS).map(move |i| {
        CrashMode::TornTail {
            seed: point * TORN_SEEDS + i,
        }
    }))
}

/// What a sweep must reach, to show it tests something.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Only synced appends: no image may come back shorter than the log
    /// before the step.
    NoLoss,
    /// Unsynced appends: some images must have torn tails to cut.
    TornTails,
}

fn sweep(name: &str, ops: &[Op], expect: Expect) {
    let config = config();
    let mut failures = Vec::new();
    let mut outcomes = Vec::new();
    let mut tally = |r: Result<Outcome, String>| match r {
        Ok(o) => outcomes.push(o),
        Err(e) => failures.push(e),
    };

    // Power loss between steps, when unsynced appends are in the files.
    let reference = MemFs::new();
    let steps = run_observed(ops, &reference, &config, &mut |steps, fs| {
        let j = steps.len() - 1;
        for mode in crash_modes(j as u64) {
            let crashed = fs.crash(mode);
            let at = At::after_step(steps, j);
            tally(check_crash_image(
                steps,
                at,
                &crashed,
                &config,
                &format!("{name} {mode:?}"),
            ));
        }
    });
    let n = reference.sync_count();
    assert!(n > 10, "{name}: only {n} syncs");

    // Power loss right after every sync.
    for k in 0..=n {
        let fs = MemFs::new();
        fs.freeze_after_syncs(k);
        let again = run(ops, &fs, &config);
        let sync_points: Vec<(u64, u64)> = again.iter().map(|s| (s.a, s.b)).collect();
        let expected: Vec<(u64, u64)> = steps.iter().map(|s| (s.a, s.b)).collect();
        assert_eq!(
            sync_points, expected,
            "{name}: the workload is not deterministic"
        );
        for mode in crash_modes(k) {
            let crashed = fs.crash(mode);
            let at = At::sync(&steps, k);
            tally(check_crash_image(
                &steps,
                at,
                &crashed,
                &config,
                &format!("{name} {mode:?}"),
            ));
        }
    }
    let images = failures.len() + outcomes.len();
    assert!(
        failures.is_empty(),
        "{} of {images} crash images failed; the first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(12)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let (clean, truncated, lost) = (
        count(|o| o.clean),
        count(|o| o.truncated),
        count(|o| o.lost),
    );
    eprintln!(
        "{name}: {images} crash images: {clean} clean shutdowns, {truncated} torn tails cut, {lost} shorter than before"
    );
    assert!(clean > 0, "{name}: no crash image after a clean close");
    match expect {
        // (An append's batch can be torn when the power fails during the
        // fsyncs of segments sealed by its roll, before its own fsync.)
        Expect::NoLoss => assert_eq!(lost, 0, "{name}: synced appends were lost"),
        Expect::TornTails => assert!(truncated > 0, "{name}: no torn tail was ever cut"),
    }
}

/// Synced appends only, rolling by a full index and by size: no image may
/// lose an acknowledged record.
#[test]
fn power_loss_sync_appends_across_rolls() {
    sweep("sync_rolls", &workload_sync_rolls(), Expect::NoLoss);
}

/// Appends of every durability, explicit and implicit rolls, flushes,
/// `sync_sealed`, and a clean close and reopen, so that many images hold
/// sealed segments that were never fsynced.
#[test]
fn power_loss_mixed_durability_roll_flush_close_reopen() {
    sweep(
        "mixed_durability",
        &workload_mixed_durability(),
        Expect::TornTails,
    );
}

/// Truncations that stay in the active segment: inside an unsynced batch,
/// of exactly the buffered batch, to the segment's base, inside a synced
/// batch.
#[test]
fn power_loss_truncate_in_active_segment() {
    sweep(
        "truncate_active",
        &workload_truncate_active(),
        Expect::TornTails,
    );
}

/// Truncation inside a synced batch, then unsynced appends: the recovery
/// point follows the log end down to where the data ends, so a torn
/// append after it is cut off, never taken for synced data. (This once
/// left the recovery point above the data.)
#[test]
fn power_loss_truncate_inside_synced_batch() {
    sweep(
        "truncate_inside_synced_batch",
        &workload_truncate_inside_synced_batch(),
        Expect::TornTails,
    );
}

/// Truncations into closed segments, which become active again: a power
/// loss at any point of the truncation leaves the log before it or a
/// prefix of it, and the segment's index files intact. (This once left
/// offset holes and unsynced index files renamed into place.)
#[test]
fn power_loss_truncate_into_closed_segment() {
    sweep(
        "truncate_closed",
        &workload_truncate_closed(),
        Expect::TornTails,
    );
}

/// Moving the log start, which deletes segments, across a clean close and
/// reopen, and a truncation below the log start.
#[test]
fn power_loss_log_start() {
    sweep("log_start", &workload_log_start(), Expect::TornTails);
}

/// Moving the log start over unsynced sealed segments and unsynced
/// records: a power loss at every fsync of the deletion (the checkpoint,
/// the one directory fsync after all the renames, the one after the
/// removals) comes back as the log before or after, and a strict open
/// never takes unsynced records below the start for lost synced data.
#[test]
fn power_loss_log_start_over_unsynced_data() {
    sweep(
        "log_start_over_unsynced",
        &workload_log_start_over_unsynced(),
        Expect::TornTails,
    );
}

// ---------------------------------------------------------------------------
// Truncation into a closed segment, with a power loss after every sync.

/// Ten closed segments of three 200-byte records each, all synced.
fn ten_segments(fs: &MemFs, clock: &ManualClock) -> (PartitionLog, LogConfig, Model) {
    let config = LogConfig {
        segment_bytes: 1024,
        ..LogConfig::default()
    };
    let log = open(fs, clock, STRICT, &config).unwrap();
    let mut model = Model::default();
    for i in 0..30u64 {
        clock.advance(10);
        let records = [Record::new(vec![i as u8; 200])];
        append_checked(&log, &mut model, clock, &records, S).unwrap();
    }
    let bases: Vec<u64> = log.segments().iter().map(|s| s.base_offset).collect();
    assert_eq!(bases, [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]);
    (log, config, model)
}

/// Runs `truncate_to(2)` on [`ten_segments`] once for every sync it makes,
/// with a power loss right after that sync, and calls `check` with the
/// sync's number, the crashed image, the config and the model before the
/// truncation.
fn truncate_into_first_segment_at_every_sync(check: impl Fn(u64, &MemFs, &LogConfig, &Model)) {
    let syncs = {
        let fs = MemFs::new();
        let (log, _, _) = ten_segments(&fs, &ManualClock::new(1_000));
        let a = fs.sync_count();
        log.truncate_to(2).unwrap();
        fs.sync_count() - a
    };
    assert!(syncs >= 4, "truncate_to makes only {syncs} syncs");
    for k in 0..=syncs {
        let fs = MemFs::new();
        let clock = ManualClock::new(1_000);
        let (log, config, model) = ten_segments(&fs, &clock);
        fs.freeze_after_syncs(fs.sync_count() + k);
        log.truncate_to(2).unwrap();
        let crashed = fs.crash(CrashMode::DurableOnly);
        drop(log);
        check(k, &crashed, &config, &model);
    }
}

/// `truncate_to` into a closed segment removes the later segments before
/// it shortens that segment's `.log`: a power loss after any of its syncs
/// leaves a prefix of the log without offset holes (the log as it was,
/// truncated, or in between), and the synced records below the truncation
/// point are all there. (This once shortened the `.log` first, and a
/// power loss before the later segments were gone left a hole with the
/// truncated records coming back after it.)
#[test]
fn truncate_into_closed_segment_crash_leaves_no_offset_hole() {
    truncate_into_first_segment_at_every_sync(|k, crashed, config, model| {
        let clock = ManualClock::new(2_000);
        let log = open(crashed, &clock, STRICT, config).unwrap();
        let f = found(&log);
        let offsets: Vec<u64> = f.records.iter().map(|r| r.offset).collect();
        assert!(
            offsets.iter().copied().eq(f.start..f.leo),
            "power loss after sync {k}: offsets {} in a log [{}, {})",
            common_crash::short(&offsets),
            f.start,
            f.leo
        );
        check_prefix_of(&f, model).unwrap_or_else(|e| panic!("power loss after sync {k}: {e}"));
        assert!(
            f.leo >= 2,
            "power loss after sync {k}: synced records below 2 are gone, the log ends at {}",
            f.leo
        );
    });
}

/// Making a closed segment active again for `truncate_to` writes new
/// index files and fsyncs them before renaming them into place, like
/// every other atomic replacement: after a power loss at any of its syncs
/// the segment's `.index` and `.timeindex` are the old ones or the new
/// ones, never empty, so `offset_for_timestamp` still finds the segment's
/// records and `verify_partition_dir_with` passes. (This once renamed
/// unsynced files into place, which came back empty.)
#[test]
fn truncate_into_closed_segment_keeps_its_indexes_durable() {
    truncate_into_first_segment_at_every_sync(|k, crashed, config, _| {
        let clock = ManualClock::new(2_000);
        let log = open(crashed, &clock, STRICT, config).unwrap();
        assert_eq!(
            log.offset_for_timestamp(0).unwrap().map(|t| t.offset),
            Some(0),
            "power loss after sync {k}: offset 0 (timestamp 1010) is the first record at or after timestamp 0"
        );
        log.close().unwrap();
        verify_partition_dir_with(crashed, dir())
            .unwrap_or_else(|e| panic!("power loss after sync {k}: {e}"));
    });
}

// ---------------------------------------------------------------------------
// I/O failures.

/// Which calls a fault sweep fails, and how.
#[derive(Debug, Clone, Copy)]
struct Inject {
    op: FsOp,
    /// The failing call's path must end with this.
    suffix: &'static str,
    fault: Fault,
}

fn inject(op: FsOp, suffix: &'static str, fault: Fault) -> Inject {
    Inject { op, suffix, fault }
}

fn eio() -> Fault {
    Fault::Error(io::ErrorKind::Other)
}

fn short_write(written: usize) -> Fault {
    Fault::PartialWrite {
        written,
        kind: io::ErrorKind::StorageFull,
    }
}

/// A workload without reopening in the middle: appends of every
/// durability, rolls (by size and by a full index), flush, truncation in
/// the active segment, moving the log start, and a final close.
fn fault_workload() -> Vec<Op> {
    let mut ops = Vec::new();
    ops.extend(rep(3, app(3, 200, S)));
    ops.push(app(2, 30, N));
    ops.push(app(2, 30, F));
    ops.extend(rep(4, app(3, 200, S)));
    ops.push(app(2, 30, N));
    ops.push(app(1, 30, N));
    ops.push(Op::Flush);
    ops.push(app(2, 600, F));
    ops.push(app(1, 20, N));
    ops.push(Op::FlushOs);
    ops.push(Op::Roll);
    ops.extend(rep(4, app(2, 500, F))); // rolls, unsynced
    ops.push(Op::SyncSealed);
    ops.extend(rep(20, app(1, 3, S))); // a full time index rolls
    ops.push(app(3, 10, F));
    ops.push(Op::TruncateInActive(2));
    ops.push(app(2, 10, N));
    ops.push(Op::AdvanceStartTo(30)); // deletes the first segments
    ops.push(app(3, 200, S));
    ops.push(Op::Close);
    ops
}

/// Truncation into a closed segment, then more appends.
fn fault_workload_truncate_closed() -> Vec<Op> {
    let mut ops = Vec::new();
    ops.extend(rep(12, app(3, 200, S))); // offsets 0..36, 4 batches a segment
    ops.push(app(2, 30, F));
    ops.push(Op::TruncateTo(16)); // inside batch 15..=17 of segment 12
    ops.extend(rep(2, app(3, 200, S)));
    ops.push(Op::Close);
    ops
}

/// Runs `ops`, failing the `fail_at`-th call that `inj` matches (counting
/// from 1, from just after the first open), and checks what happens after
/// the failure. Returns how many matching calls were made.
fn run_with_fault(ops: &[Op], inj: Inject, fail_at: Option<u64>) -> u64 {
    let config = config();
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000_000);
    let log = open(&fs, &clock, STRICT, &config).unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let seen = counter.clone();
    fs.set_fault_hook(move |call| {
        if call.op != inj.op || !call.path.to_string_lossy().ends_with(inj.suffix) {
            return None;
        }
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        (Some(n) == fail_at).then_some(inj.fault)
    });
    let ctx = format!("{inj:?} failing call {fail_at:?}");

    let mut model = Model::default();
    // Everything below this was handed to the OS (survives the process).
    let mut os_floor = 0u64;
    let mut closed = false;
    for (i, &op) in ops.iter().enumerate() {
        clock.advance(7);
        let before = model.clone();
        let rp_before = log.recovery_point();
        let os_before = os_floor;
        let mut after = model.clone();
        let result: Result<(), Error> = match op {
            Op::Append { n, size, dur } => {
                let records = make_records(i as u64, n, size);
                let now = seglog::Clock::now_ms(&clock);
                let r = log.append_with(&records, dur);
                after.append(
                    model.leo,
                    records
                        .iter()
                        .map(|r| common_crash::Exp::of(r, now))
                        .collect(),
                );
                r.map(|info| {
                    assert_eq!(info.first_offset, model.leo, "{ctx}");
                    if dur >= F {
                        os_floor = after.leo;
                    }
                })
            }
            Op::Roll => log.roll().map(|()| os_floor = model.leo),
            Op::Flush => log.sync().map(|()| os_floor = model.leo),
            Op::FlushOs => log.flush_with(F).map(|()| os_floor = model.leo),
            Op::SyncSealed => log.sync_sealed().map(|_| ()),
            Op::TruncateBack(_) | Op::TruncateTo(_) | Op::TruncateInActive(_) => {
                let o = truncation_target(op, &log, &model);
                after.truncate_to(o);
                log.truncate_to(o).map(|()| {
                    os_floor = os_floor.min(after.records.keys().next_back().map_or(0, |l| l + 1))
                })
            }
            Op::AdvanceStartTo(_) | Op::AdvanceStartBack(_) => {
                let o = match op {
                    Op::AdvanceStartBack(x) => model.leo - x,
                    Op::AdvanceStartTo(o) => o,
                    _ => unreachable!(),
                };
                after.advance_start(o);
                log.advance_log_start_offset(o).map(|_| ())
            }
            Op::Close => {
                closed = true;
                log.close()
            }
            Op::Open => unreachable!("no reopening in a fault workload"),
        };
        match result {
            Ok(()) => model = after,
            Err(e) => {
                let ctx = format!("{ctx}: step {i} {op:?}");
                check_after_failure(
                    &fs, &clock, &config, log, e, closed, &before, &after, rp_before, os_before,
                    &ctx,
                );
                return counter.load(Ordering::SeqCst);
            }
        }
    }
    assert!(closed);
    fs.clear_fault_hook();
    counter.load(Ordering::SeqCst)
}

#[allow(clippy::too_many_arguments)]
fn check_after_failure(
    fs: &MemFs,
    clock: &ManualClock,
    config: &LogConfig,
    log: PartitionLog,
    error: Error,
    closed: bool,
    before: &Model,
    after: &Model,
    rp_before: u64,
    os_before: u64,
    ctx: &str,
) {
    assert!(
        matches!(error, Error::Io { .. }),
        "{ctx}: the failing call returns the I/O error, not {error:?}"
    );
    let kept = common_part(before, after);
    if !closed && !log.is_poisoned() {
        // A failure before anything changed (a read while looking for the
        // truncation point) need not poison: the log must be exactly as it
        // was and still take writes.
        let f = found(&log);
        check_prefix_of(&f, before)
            .unwrap_or_else(|e| panic!("{ctx}: {error} did not poison the log, and {e}"));
        assert_eq!(
            f.leo, before.leo,
            "{ctx}: {error} did not poison the log, but it changed"
        );
        log.append_with(&make_records(1, 1, 5), S)
            .unwrap_or_else(|e| {
                panic!("{ctx}: {error} did not poison the log, but it refuses writes: {e}")
            });
        return;
    }
    if !closed {
        assert!(log.is_poisoned(), "{ctx}: {error} did not poison the log");
        let more = make_records(1, 1, 5);
        for (what, r) in [
            ("append", log.append_with(&more, S).map(|_| ())),
            ("append", log.append_with(&more, N).map(|_| ())),
            ("flush", log.sync()),
            ("roll", log.roll()),
            ("truncate_to", log.truncate_to(0)),
            (
                "advance_log_start_offset",
                log.advance_log_start_offset(log.log_start_offset())
                    .map(|_| ()),
            ),
        ] {
            assert!(
                matches!(r, Err(Error::Poisoned { .. })),
                "{ctx}: {what} after the failure: {r:?}"
            );
        }
        // Acknowledged data is still served.
        let f = found(&log);
        for (o, e) in kept.range(f.start, before.leo) {
            let r = f.records.iter().find(|r| r.offset == o);
            assert!(
                r.is_some_and(|r| e.matches(r)),
                "{ctx}: acknowledged record {o} is not served after the failure: {r:?}"
            );
        }
    }
    // A power loss now, and a restart of the process now.
    let crashed = fs.crash(CrashMode::DurableOnly);
    if !closed {
        // Closing reports the poisoning and writes no clean-shutdown
        // marker (checked below).
        let r = log.close();
        assert!(
            matches!(r, Err(Error::Poisoned { .. })),
            "{ctx}: closing a poisoned log: {r:?}"
        );
    }
    fs.clear_fault_hook();
    drop(log);
    for (image, floor, what) in [
        (fs, os_before, "restart"),
        (&crashed, rp_before, "power loss"),
    ] {
        let ctx = format!("{ctx}: after a {what}");
        let log = open(image, clock, STRICT, config)
            .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
        if !closed {
            assert!(
                !log.recovery_report().clean_shutdown,
                "{ctx}: a poisoned log left a clean-shutdown marker"
            );
        }
        let f = found(&log);
        if let (Err(x), Err(y)) = (check_prefix_of(&f, before), check_prefix_of(&f, after)) {
            panic!("{ctx}: the log is no prefix of the log before ({x}) or after ({y}) the failed step");
        }
        check_floor(&f, &kept, floor).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let mut model = Model::from_found(&f);
        append_checked(&log, &mut model, clock, &make_records(2, 2, 20), S)
            .unwrap_or_else(|e| panic!("{ctx}: append after reopen: {e}"));
        log.close().unwrap();
        verify_partition_dir_with(image, dir())
            .unwrap_or_else(|e| panic!("{ctx}: verify after reopen: {e}"));
    }
}

fn fault_sweep(inj: Inject) {
    fault_sweep_on(&fault_workload(), inj);
}

fn fault_sweep_on(ops: &[Op], inj: Inject) {
    let calls = run_with_fault(ops, inj, None);
    assert!(calls > 0, "{inj:?}: the workload makes no such call");
    for n in 1..=calls {
        run_with_fault(ops, inj, Some(n));
    }
}

#[test]
fn failed_fsync_of_a_segment_poisons_the_log() {
    fault_sweep(inject(FsOp::SyncData, ".log", eio()));
}

#[test]
fn failed_fsync_of_any_file_poisons_the_log() {
    fault_sweep(inject(FsOp::SyncData, "", eio()));
}

#[test]
fn short_write_to_a_segment_poisons_the_log() {
    for written in [0, 1, 17, 61, 150] {
        fault_sweep(inject(FsOp::Write, ".log", short_write(written)));
    }
}

#[test]
fn short_write_to_any_file_poisons_the_log() {
    fault_sweep(inject(FsOp::Write, "", short_write(3)));
}

#[test]
fn failed_directory_fsync_poisons_the_log() {
    fault_sweep(inject(FsOp::SyncDir, "", eio()));
}

#[test]
fn failed_set_len_rename_or_remove_poisons_the_log() {
    fault_sweep(inject(FsOp::SetLen, "", eio()));
    fault_sweep(inject(FsOp::Rename, "", eio()));
    fault_sweep(inject(FsOp::RemoveFile, "", eio()));
}

/// A failure of any kind of call during a truncation into a closed
/// segment (and the appends around it) leaves, after a restart or a power
/// loss, a prefix of the log without offset holes and intact index files,
/// as a power loss does (see
/// `truncate_into_closed_segment_crash_leaves_no_offset_hole` and
/// `truncate_into_closed_segment_keeps_its_indexes_durable`). A read that
/// fails while looking for the truncation point, before anything changed,
/// may return the error without poisoning the log. (Failures here once
/// left offset holes after a restart.)
#[test]
fn failures_during_truncate_into_a_closed_segment() {
    let ops = fault_workload_truncate_closed();
    for inj in [
        inject(FsOp::Open, "", eio()),
        inject(FsOp::Map, "", eio()),
        inject(FsOp::Read, "", eio()),
        inject(FsOp::Write, "", short_write(5)),
        inject(FsOp::SyncData, "", eio()),
        inject(FsOp::SyncDir, "", eio()),
        inject(FsOp::Rename, "", eio()),
        inject(FsOp::SetLen, "", eio()),
        inject(FsOp::RemoveFile, "", eio()),
    ] {
        fault_sweep_on(&ops, inj);
    }
}

#[test]
fn failed_open_poisons_the_log() {
    fault_sweep(inject(FsOp::Open, "", eio()));
}

/// A failed write of buffered bytes poisons the log, but reads of the
/// active segment still serve what was acknowledged, as `Error::Poisoned`
/// promises. (This once failed every read of the active segment with
/// `Error::Poisoned`: each read first tried to write out the bytes left in
/// the write buffer.)
#[test]
fn reads_of_the_active_segment_work_after_a_failed_write() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let log = open(&fs, &clock, STRICT, &LogConfig::default()).unwrap();
    log.append_with(&[Record::new("synced")], S).unwrap();
    log.append_with(&[Record::new("buffered")], N).unwrap();
    fs.set_fault_hook(|call| {
        (call.op == FsOp::Write).then_some(Fault::PartialWrite {
            written: 10,
            kind: io::ErrorKind::StorageFull,
        })
    });
    let r = log.append_with(&[Record::new("flushed")], F);
    assert!(matches!(r, Err(Error::Io { .. })), "{r:?}");
    assert!(log.is_poisoned());
    fs.clear_fault_hook();
    let first = log.iter(0).next().expect("offset 0 exists");
    assert_eq!(
        first.expect("reading synced offset 0").value.as_deref(),
        Some(&b"synced"[..])
    );
}

/// A log poisoned by a failed roll (which leaves it without an active
/// segment) closes with `Error::Poisoned`, like a log poisoned anywhere
/// else. (This once returned `Ok(())`.)
#[test]
fn close_of_a_log_poisoned_during_a_roll_fails() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let log = open(&fs, &clock, STRICT, &LogConfig::default()).unwrap();
    log.append_with(&[Record::new("a")], S).unwrap();
    fs.set_fault_hook(|call| (call.op == FsOp::SyncData).then_some(eio()));
    assert!(matches!(log.roll(), Err(Error::Io { .. })));
    assert!(log.is_poisoned());
    fs.clear_fault_hook();
    let r = log.close();
    assert!(matches!(r, Err(Error::Poisoned { .. })), "close: {r:?}");
}

/// The same, for a failure that is not in a roll: close reports it and
/// leaves no clean-shutdown marker.
#[test]
fn close_of_a_poisoned_log_fails_and_leaves_no_marker() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let config = LogConfig::default();
    let log = open(&fs, &clock, STRICT, &config).unwrap();
    log.append_with(&[Record::new("a")], S).unwrap();
    fs.set_fault_hook(|call| (call.op == FsOp::SyncData).then_some(eio()));
    assert!(matches!(
        log.append_with(&[Record::new("b")], S),
        Err(Error::Io { .. })
    ));
    fs.clear_fault_hook();
    assert!(matches!(
        log.append_with(&[Record::new("c")], S),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(log.close(), Err(Error::Poisoned { .. })));
    assert!(!fs.exists(&dir().join("seglog.clean-shutdown")).unwrap());
    let log = open(&fs, &clock, STRICT, &config).unwrap();
    assert!(!log.recovery_report().clean_shutdown);
    let values: Vec<_> = log.iter(0).map(|r| r.unwrap().value.unwrap()).collect();
    // "b" was written before its fsync failed; after a restart (no power
    // loss) it is still in the file and valid.
    assert_eq!(values, [b"a".to_vec(), b"b".to_vec()]);
}

/// Truncating inside a batch removes the whole batch and ends the log
/// where its data ends; the recovery point follows. A later unsynced
/// append torn by a power loss is then cut off by strict recovery. (This
/// once left the recovery point at the truncation offset, above the data,
/// and the torn batch was taken for synced data.)
#[test]
fn torn_append_after_truncating_inside_a_batch_is_cut_off() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let config = LogConfig::default();
    let log = open(&fs, &clock, STRICT, &config).unwrap();
    log.append_with(&[Record::new("a"), Record::new("b")], S)
        .unwrap(); // offsets 0 and 1, one batch
    log.truncate_to(1).unwrap(); // the batch goes entirely; the log ends at 0
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.recovery_point(), 0);
    log.append_with(&[Record::new("c")], F).unwrap(); // offset 0, not synced
    let path = dir().join("00000000000000000000.log");
    let live = fs.read(&path).unwrap();
    // A power loss that kept all but the last 10 bytes of the unsynced batch.
    let crashed = fs.crash(CrashMode::DurableOnly);
    assert!(crashed.read(&path).unwrap().is_empty());
    crashed.write(&path, &live[..live.len() - 10]).unwrap();
    drop(log);

    let log = open(&crashed, &clock, STRICT, &config)
        .expect("the torn batch was never synced, so strict recovery cuts it off");
    let t = log.recovery_report().truncated.clone().unwrap();
    assert_eq!(t.position, 0);
    assert_eq!(log.log_end_offset(), 0);
}

/// A roll seals the segment without fsyncing it (fsync protocol step 2),
/// and the next segment is created with an fsync of its `.log` and of the
/// directory. If the power fails before the next fsync, the sealed
/// segment's unsynced batches are lost while the next segment survives;
/// recovery treats the gap between them as lost data and cuts there, so
/// the offsets that come back are contiguous. (This once kept the later
/// segment, leaving a hole of offsets that no read returned.)
#[test]
fn roll_then_power_loss_leaves_no_offset_hole() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let config = LogConfig::default();
    let log = open(&fs, &clock, STRICT, &config).unwrap();
    log.append_with(&[Record::new("a"), Record::new("b")], F)
        .unwrap(); // offsets 0 and 1, not synced
    log.roll().unwrap(); // segment 2 is created
    let crashed = fs.crash(CrashMode::DurableOnly);
    drop(log);

    let log = open(&crashed, &clock, STRICT, &config).unwrap();
    let f = found(&log);
    let offsets: Vec<u64> = f.records.iter().map(|r| r.offset).collect();
    assert!(
        offsets.iter().copied().eq(f.start..f.leo),
        "offsets {offsets:?} in a log [{}, {}); {:?}",
        f.start,
        f.leo,
        log.recovery_report()
    );
}

/// A roll writes the sealed segment's index files without fsyncing them,
/// so the checkpoint it writes keeps its recovery point below the sealed
/// segment, even when every record in it was synced by its append: after
/// a power loss the segment is re-read and its indexes rebuilt, so
/// `offset_for_timestamp` finds its records and `verify_partition_dir_with`
/// passes. (This once checkpointed a recovery point past the segment, and
/// its empty index files were trusted.)
#[test]
fn roll_then_power_loss_keeps_closed_segment_indexes() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let config = LogConfig::default();
    let log = open(&fs, &clock, STRICT, &config).unwrap();
    for v in ["a", "b", "c"] {
        clock.advance(10);
        log.append_with(&[Record::new(v)], S).unwrap();
    }
    log.roll().unwrap();
    let crashed = fs.crash(CrashMode::DurableOnly);
    drop(log);

    let log = open(&crashed, &clock, STRICT, &config).unwrap();
    assert_eq!(log.log_end_offset(), 3, "every record was synced");
    let hit = log.offset_for_timestamp(0).unwrap();
    assert_eq!(
        hit.map(|t| (t.offset, t.timestamp)),
        Some((0, 1_010)),
        "offset 0 is the first record at or after timestamp 0"
    );
    log.close().unwrap();
    verify_partition_dir_with(&crashed, dir()).unwrap();
}

/// `sync_sealed` leaves the recovery point at or above the active segment
/// even when there is nothing left to fsync, here because the segments
/// sealed since the last fsync were all deleted by moving the log start
/// past them; moving the start raised the recovery point to it already
/// (Kafka's `UnifiedLog.updateLogStartOffset`). (This once returned early
/// and left the recovery point below the active segment.)
#[test]
fn sync_sealed_moves_the_recovery_point_to_the_active_segment() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let log = open(&fs, &clock, STRICT, &LogConfig::default()).unwrap();
    log.append_with(&[Record::new("a")], F).unwrap(); // offset 0
    log.roll().unwrap(); // segment 0 sealed, not synced
    log.append_with(&[Record::new("b")], F).unwrap(); // offset 1
    assert_eq!(log.advance_log_start_offset(1).unwrap(), 1); // segment 0 deleted
    assert_eq!(
        log.recovery_point(),
        2,
        "raised past the new log start: the records up to it were synced first"
    );
    log.sync_sealed().unwrap();
    assert!(
        log.recovery_point() >= 1,
        "recovery point {} below the active segment at 1",
        log.recovery_point()
    );
}

/// Unsynced sealed-segment index files, seen from a truncation: after
/// `truncate_to(0)`, a new synced batch and a roll, a power loss must not
/// leave the closed segment with its `.index` from before the truncation
/// (whose entry points into the middle of the batch now there) trusted:
/// a later `truncate_to` into that segment succeeds on the intact data.
/// (This once failed with `Error::Corrupt` and poisoned the log.)
#[test]
fn stale_index_after_power_loss_does_not_break_truncate_to() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let config = LogConfig {
        index_interval_bytes: 0, // an index entry for every batch but the first
        ..LogConfig::default()
    };
    let log = open(&fs, &clock, STRICT, &config).unwrap();
    log.append_with(&[Record::new("a")], S).unwrap(); // offset 0, first batch
    log.append_with(&[Record::new("b")], S).unwrap(); // offset 1, second batch
    log.close().unwrap(); // the index entry for offset 1 is synced
    let log = open(&fs, &clock, STRICT, &config).unwrap();
    log.truncate_to(0).unwrap();
    log.append_with(&[Record::new(vec![7u8; 200])], S).unwrap(); // offset 0, one long batch
    log.roll().unwrap();
    let crashed = fs.crash(CrashMode::DurableOnly);
    drop(log);

    let log = open(&crashed, &clock, STRICT, &config).unwrap();
    assert_eq!(log.log_end_offset(), 1);
    let r = log.truncate_to(0);
    assert!(r.is_ok(), "truncate_to(0): {r:?}");
    assert_eq!(log.log_end_offset(), 0);
}

//! A model test: random operation sequences against a `PartitionLog` on a
//! `MemFs`, compared after every step with an in-memory model of what the
//! log must hold.
//!
//! The model keeps every appended record by offset, the batch boundaries
//! (a truncation removes the whole batch that holds its offset), the log
//! start and end. A power loss (`Crash`) keeps everything below the
//! recovery point the log reported, may keep any prefix of what was
//! appended after it, and the model then adopts the end the log came back
//! with. A clean close and reopen (`Reopen`) loses nothing. Rolls do not
//! fsync, so a power loss often finds sealed segments unsynced; the model
//! requires a prefix of the log all the same, without offset holes.
//!
//! 512 cases of up to 60 operations by default; set `SEGLOG_MODEL_CASES`
//! to run more and `SEGLOG_MODEL_SEED` to use another seed (the default
//! seed is fixed, so runs are repeatable). A failure prints the shrunk
//! case.

mod common_crash;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

use common_crash::{check_floor, check_prefix_of, dir, found, open, Exp, Model};
use seglog::inspect::verify_partition_dir_with;
use seglog::io::{CrashMode, MemFs};
use seglog::{
    BatchBuilder, Clock, Compression, Durability, Error, LogConfig, ManualClock, PartitionLog,
    Record, RecoveryMode, TimestampLookup,
};

/// A position relative to the log when the operation runs.
#[derive(Debug, Clone, Copy)]
enum Pos {
    /// `from + (to - from) * permille / 1000` of the operation's range.
    Within(u16),
    /// This far below the log start (or at 0).
    Below(u64),
    /// This far above the log end.
    Above(u64),
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        n: usize,
        size: usize,
        durability: Durability,
        explicit_timestamps: bool,
    },
    Read {
        at: Pos,
        max_bytes: u64,
    },
    Roll,
    /// `flush_with(Durability::Flush)`.
    FlushOs,
    SyncSealed,
    TruncateTo {
        at: Pos,
    },
    AdvanceLogStart {
        at: Pos,
    },
    Flush,
    Crash {
        torn: bool,
        seed: u64,
    },
    Reopen,
    OffsetForTimestamp {
        timestamp: i64,
    },
    Tick {
        ms: i64,
    },
}

fn pos() -> impl Strategy<Value = Pos> {
    prop_oneof![
        6 => (0u16..=1000).prop_map(Pos::Within),
        1 => (0u64..5).prop_map(Pos::Below),
        1 => (0u64..5).prop_map(Pos::Above),
    ]
}

fn durability() -> impl Strategy<Value = Durability> {
    prop_oneof![
        Just(Durability::None),
        Just(Durability::Flush),
        Just(Durability::Sync)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1usize..20, 0usize..300, durability(), proptest::bool::weighted(0.25)).prop_map(
            |(n, size, durability, explicit_timestamps)| Op::Append {
                n,
                size,
                durability,
                explicit_timestamps,
            }
        ),
        3 => (
            pos(),
            prop_oneof![Just(0u64), Just(1u64), 1u64..400, 400u64..8000, Just(1 << 20)]
        )
            .prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        1 => Just(Op::Roll),
        1 => Just(Op::FlushOs),
        1 => Just(Op::SyncSealed),
        1 => pos().prop_map(|at| Op::TruncateTo { at }),
        1 => pos().prop_map(|at| Op::AdvanceLogStart { at }),
        1 => Just(Op::Flush),
        1 => (any::<bool>(), any::<u64>()).prop_map(|(torn, seed)| Op::Crash { torn, seed }),
        1 => Just(Op::Reopen),
        1 => prop_oneof![Just(0i64), Just(i64::MAX), 998_000i64..1_030_000]
            .prop_map(|timestamp| Op::OffsetForTimestamp { timestamp }),
        2 => (0i64..400).prop_map(|ms| Op::Tick { ms }),
    ]
}

/// The log's configuration, varied per case.
#[derive(Debug, Clone)]
struct Setup {
    config: LogConfig,
}

fn setup() -> impl Strategy<Value = Setup> {
    let mut codecs = vec![Compression::None];
    for c in [Compression::Lz4, Compression::Snappy, Compression::Gzip] {
        if c.is_available() {
            codecs.push(c);
        }
    }
    (
        prop_oneof![Just(3000u64), Just(8192u64), Just(65536u64)],
        prop_oneof![Just(96u32), Just(240u32), Just(1u32 << 20)],
        prop_oneof![Just(0u32), Just(300u32), Just(4096u32)],
        prop_oneof![Just(500u64), Just(86_400_000u64)],
        proptest::sample::select(codecs),
        prop_oneof![3 => Just(seglog::config::NEVER), 1 => Just(5u64)],
    )
        .prop_map(
            |(
                segment_bytes,
                segment_index_bytes,
                index_interval_bytes,
                segment_ms,
                compression,
                flush_messages,
            )| Setup {
                config: LogConfig {
                    segment_bytes,
                    segment_index_bytes,
                    index_interval_bytes,
                    segment_ms,
                    compression,
                    flush_messages,
                    write_buffer_bytes: 4096,
                    ..LogConfig::default()
                },
            },
        )
}

/// What happens right before a power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BeforePowerLoss {
    /// Nothing: segments sealed by rolls may still be unsynced.
    Nothing,
    /// `sync_sealed()`, as a host's maintenance thread calls it: only the
    /// active segment holds unsynced data when the power fails.
    SyncSealed,
}

/// Where truncations may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truncations {
    /// Only at batch boundaries (or past the end).
    AtBatchBoundaries,
    /// Anywhere, also inside a batch.
    Anywhere,
}

/// Records of one append: varied values, keys, headers, tombstones, and
/// with `explicit` creation times out of order.
fn make_records(tag: u64, n: usize, size: usize, explicit: bool, now: i64) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let len = (size + i * 37) % 300;
            let value: Vec<u8> = (0..len)
                .map(|j| ((tag as usize).wrapping_mul(131) + i * 17 + j / 3) as u8)
                .collect();
            let mut r = match (tag as usize + i) % 7 {
                0 => Record::tombstone(format!("k{tag}-{i}")),
                1 | 2 => Record::new(value).with_key(format!("k{tag}-{i}")),
                3 => Record::new(value)
                    .with_header("h", format!("{tag}"))
                    .with_header("h", vec![i as u8]),
                _ => Record::new(value),
            };
            if explicit {
                r = r.with_timestamp(now - ((tag as i64 * 13 + i as i64 * 7) % 1000));
            }
            r
        })
        .collect()
}

/// What the cases exercised, to show that they test something.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    ops: u64,
    appends: u64,
    too_large: u64,
    reads: u64,
    reads_out_of_range: u64,
    truncations: u64,
    start_moves: u64,
    crashes: u64,
    crashes_losing_data: u64,
    reopens: u64,
    timestamp_hits: u64,
    max_segments: u64,
    /// Power losses with a sealed segment not yet synced (the recovery
    /// point below the active segment).
    crashes_with_unsynced_sealed: u64,
    /// Power losses preceded by a `sync_sealed` that synced something (see
    /// `BeforePowerLoss`).
    sealed_synced_first: u64,
    /// Power losses after which the log opened as cleanly shut down
    /// (nothing had changed it since a clean close).
    clean_after_power_loss: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.ops += o.ops;
        self.appends += o.appends;
        self.too_large += o.too_large;
        self.reads += o.reads;
        self.reads_out_of_range += o.reads_out_of_range;
        self.truncations += o.truncations;
        self.start_moves += o.start_moves;
        self.crashes += o.crashes;
        self.crashes_losing_data += o.crashes_losing_data;
        self.reopens += o.reopens;
        self.timestamp_hits += o.timestamp_hits;
        self.max_segments = self.max_segments.max(o.max_segments);
        self.crashes_with_unsynced_sealed += o.crashes_with_unsynced_sealed;
        self.sealed_synced_first += o.sealed_synced_first;
        self.clean_after_power_loss += o.clean_after_power_loss;
    }
}

struct World {
    stats: Stats,
    config: LogConfig,
    truncations: Truncations,
    before_power_loss: BeforePowerLoss,
    fs: MemFs,
    clock: ManualClock,
    log: PartitionLog,
    model: Model,
    /// Below this the model knows the log is synced.
    durable: u64,
    tag: u64,
    /// The log was opened after a clean close and nothing has changed it
    /// since: its clean-shutdown marker still holds after a power loss.
    untouched: bool,
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(TestCaseError::fail(format!($($fmt)+)));
        }
    };
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

impl World {
    fn new(
        config: LogConfig,
        truncations: Truncations,
        before_power_loss: BeforePowerLoss,
    ) -> Result<Self, TestCaseError> {
        let fs = MemFs::new();
        let clock = ManualClock::new(1_000_000);
        let log = open(&fs, &clock, RecoveryMode::Strict, &config)
            .map_err(|e| fail(format!("open: {e}")))?;
        Ok(World {
            stats: Stats::default(),
            config,
            truncations,
            before_power_loss,
            fs,
            clock,
            log,
            model: Model::default(),
            durable: 0,
            tag: 0,
            untouched: false,
        })
    }

    fn resolve(&self, at: Pos, from: u64, to: u64) -> u64 {
        match at {
            Pos::Within(p) => from + (to - from) * u64::from(p) / 1000,
            Pos::Below(x) => self.model.start.saturating_sub(1 + x),
            Pos::Above(x) => self.model.leo + 1 + x,
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        self.stats.ops += 1;
        // Reads, and flushes of a log nothing was appended to, change
        // nothing: the clean-shutdown marker may stay.
        let changes_nothing = matches!(
            op,
            Op::Read { .. }
                | Op::OffsetForTimestamp { .. }
                | Op::Tick { .. }
                | Op::FlushOs
                | Op::Flush
                | Op::SyncSealed
        );
        let was_untouched = self.untouched;
        if !changes_nothing {
            self.untouched = false;
        }
        let m = &self.model;
        match *op {
            Op::Append {
                n,
                size,
                durability,
                explicit_timestamps,
            } => {
                self.tag += 1;
                let now = self.clock.now_ms();
                let records = make_records(self.tag, n, size, explicit_timestamps, now);
                // The batch the log will build, to know its size.
                let encoded = BatchBuilder::new()
                    .base_offset(m.leo)
                    .compression(self.config.compression)
                    .now(now)
                    .build(&records)
                    .map_err(|e| fail(format!("building the batch: {e}")))?;
                let size = encoded.len() as u64;
                let r = self.log.append_with(&records, durability);
                if size > self.config.segment_bytes {
                    ensure!(
                        matches!(r, Err(Error::RecordTooLarge { size: s, max }) if s == size && max == self.config.segment_bytes),
                        "a {size}-byte batch in {}-byte segments: {r:?}",
                        self.config.segment_bytes
                    );
                    self.stats.too_large += 1;
                    return Ok(());
                }
                let info = r.map_err(|e| fail(format!("append: {e}")))?;
                self.stats.appends += 1;
                ensure!(
                    info.first_offset == m.leo && info.last_offset == m.leo + n as u64 - 1,
                    "append at {}: {info:?}",
                    m.leo
                );
                ensure!(
                    info.bytes == size,
                    "append wrote {} bytes, not {size}",
                    info.bytes
                );
                let exps = records.iter().map(|r| Exp::of(r, now)).collect();
                self.model.append(info.first_offset, exps);
                if durability == Durability::Sync {
                    self.durable = self.model.leo;
                }
            }
            Op::Read { at, max_bytes } => {
                self.stats.reads += 1;
                let offset = self.resolve(at, m.start, m.leo);
                let r = self.log.read(offset, max_bytes);
                if offset < m.start || offset > m.leo {
                    ensure!(
                        matches!(r, Err(Error::OffsetOutOfRange { requested, earliest, latest })
                            if requested == offset && earliest == m.start && latest == m.leo),
                        "read({offset}) outside [{}, {}]: {r:?}",
                        m.start,
                        m.leo
                    );
                    self.stats.reads_out_of_range += 1;
                    return Ok(());
                }
                let fetch = r.map_err(|e| fail(format!("read({offset}, {max_bytes}): {e}")))?;
                let got = fetch
                    .records()
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| fail(format!("decoding read({offset}, {max_bytes}): {e}")))?;
                let next = fetch.next_offset();
                ensure!(
                    fetch.log_start_offset() == m.start && fetch.log_end_offset() == m.leo,
                    "read({offset}): fetch reports [{}, {})",
                    fetch.log_start_offset(),
                    fetch.log_end_offset()
                );
                ensure!(
                    offset <= next && next <= m.leo,
                    "read({offset}, {max_bytes}): next offset {next}"
                );
                let want = m.range(offset, next);
                let same = want.len() == got.len()
                    && want
                        .iter()
                        .zip(&got)
                        .all(|((o, e), r)| r.offset == *o && e.matches(r));
                ensure!(
                    same,
                    "read({offset}, {max_bytes}) up to {next}: got offsets {:?}, model {:?}",
                    got.iter().map(|r| r.offset).collect::<Vec<_>>(),
                    want.iter().map(|(o, _)| *o).collect::<Vec<_>>()
                );
                let more = !m.range(offset, m.leo).is_empty();
                ensure!(
                    (max_bytes == 0 || !more) == got.is_empty(),
                    "read({offset}, {max_bytes}) in [{}, {}) returned {} records",
                    m.start,
                    m.leo,
                    got.len()
                );
                // Whole batches, within max_bytes unless a single batch.
                let bytes = fetch.to_vec().map_err(|e| fail(format!("{e}")))?;
                let batches = seglog::record::batches(&bytes).count();
                ensure!(
                    bytes.len() as u64 <= max_bytes || batches == 1,
                    "read({offset}, {max_bytes}) returned {} bytes in {batches} batches",
                    bytes.len()
                );
            }
            Op::Roll => {
                // Rolls do not fsync: the recovery point stays.
                let rp = self.log.recovery_point();
                self.log.roll().map_err(|e| fail(format!("roll: {e}")))?;
                ensure!(
                    self.log.recovery_point() == rp,
                    "a roll moved the recovery point from {rp} to {}",
                    self.log.recovery_point()
                );
            }
            Op::FlushOs => {
                self.log
                    .flush_with(Durability::Flush)
                    .map_err(|e| fail(format!("flush_with(Flush): {e}")))?;
            }
            Op::SyncSealed => {
                self.log
                    .sync_sealed()
                    .map_err(|e| fail(format!("sync_sealed: {e}")))?;
                // Everything below the active segment is synced now, also
                // when there was nothing left to sync.
                let active = self.log.segments().last().unwrap().base_offset;
                self.durable = self.durable.max(active);
            }
            Op::Flush => {
                self.log.sync().map_err(|e| fail(format!("flush: {e}")))?;
                self.durable = m.leo;
            }
            Op::TruncateTo { at } => {
                self.stats.truncations += 1;
                let mut offset = self.resolve(at, 0, m.leo);
                if self.truncations == Truncations::AtBatchBoundaries {
                    // The start of the first batch not below it, or the end:
                    // never inside a batch, nor in a hole the log's data
                    // does not reach (see `truncate_past_the_data_then_close_keeps_the_end`).
                    offset = m
                        .batches
                        .iter()
                        .find(|(_, last)| *last >= offset)
                        .map_or(m.leo.max(offset), |(base, _)| *base);
                }
                // Below the first segment (the batch holding `offset` was
                // deleted with the segments below the log start) the log
                // starts over at `offset`, as `truncate_fully_and_start_at`.
                let first = self.log.segments().first().map_or(0, |s| s.base_offset);
                let restart = offset < first && offset < m.leo;
                self.log
                    .truncate_to(offset)
                    .map_err(|e| fail(format!("truncate_to({offset}): {e}")))?;
                if restart {
                    self.model.restart_at(offset);
                }
                self.model.truncate_to(offset);
                // What remains was synced as far as it was before.
                self.durable = self.durable.min(self.model.leo);
            }
            Op::AdvanceLogStart { at } => {
                let offset = self.resolve(at, m.start, m.leo);
                let r = self.log.advance_log_start_offset(offset);
                if offset > m.leo {
                    ensure!(
                        matches!(r, Err(Error::OffsetOutOfRange { requested, earliest, latest })
                            if requested == offset && earliest == m.start && latest == m.leo),
                        "advance_log_start_offset({offset}) past {}: {r:?}",
                        m.leo
                    );
                    return Ok(());
                }
                r.map_err(|e| fail(format!("advance_log_start_offset({offset}): {e}")))?;
                self.stats.start_moves += 1;
                self.model.advance_start(offset);
            }
            Op::Crash { torn, seed } => {
                if self.before_power_loss == BeforePowerLoss::SyncSealed {
                    let synced = self
                        .log
                        .sync_sealed()
                        .map_err(|e| fail(format!("sync_sealed: {e}")))?;
                    self.stats.sealed_synced_first += u64::from(synced > 0);
                    let active = self.log.segments().last().unwrap().base_offset;
                    ensure!(
                        self.log.recovery_point() >= active,
                        "sync_sealed left the recovery point at {} below the active segment {active}",
                        self.log.recovery_point()
                    );
                }
                // Syncing sealed segments changes nothing either.
                let untouched = was_untouched;
                let floor = self.log.recovery_point();
                let active = self.log.segments().last().unwrap().base_offset;
                self.stats.crashes_with_unsynced_sealed += u64::from(floor < active);
                let mode = if torn {
                    CrashMode::TornTail { seed }
                } else {
                    CrashMode::DurableOnly
                };
                let crashed = self.fs.crash(mode);
                self.fs = crashed;
                let log = open(&self.fs, &self.clock, RecoveryMode::Strict, &self.config)
                    .map_err(|e| fail(format!("strict open after a power loss: {e}")))?;
                // The old handle closes against the old file system.
                self.log = log;
                let f = found(&self.log);
                check_prefix_of(&f, &self.model)
                    .map_err(|e| fail(format!("after a power loss: {e}")))?;
                self.stats.crashes += 1;
                self.stats.crashes_losing_data += u64::from(f.leo < self.model.leo);
                check_floor(&f, &self.model, floor).map_err(|e| {
                    fail(format!(
                        "after a power loss: {e}; {:?}",
                        self.log.recovery_report()
                    ))
                })?;
                // Only a log nothing changed since a clean close may come
                // back as cleanly shut down.
                let clean = self.log.recovery_report().clean_shutdown;
                ensure!(
                    !clean || untouched,
                    "a power loss after changes is not a clean shutdown"
                );
                self.stats.clean_after_power_loss += u64::from(clean);
                self.untouched = clean;
                self.model.adopt_found(&f);
                self.durable = f.leo;
            }
            Op::Reopen => {
                self.log.close().map_err(|e| fail(format!("close: {e}")))?;
                verify_partition_dir_with(&self.fs, dir())
                    .map_err(|e| fail(format!("verify after close: {e}")))?;
                self.stats.reopens += 1;
                self.log = open(&self.fs, &self.clock, RecoveryMode::Strict, &self.config)
                    .map_err(|e| fail(format!("reopen: {e}")))?;
                ensure!(
                    self.log.recovery_report().clean_shutdown,
                    "reopen after a clean close: {:?}",
                    self.log.recovery_report()
                );
                self.durable = self.model.leo;
                self.untouched = true;
            }
            Op::OffsetForTimestamp { timestamp } => {
                let want = m
                    .range(m.start, m.leo)
                    .into_iter()
                    .find(|(_, e)| e.timestamp >= timestamp)
                    .map(|(offset, e)| TimestampLookup {
                        offset,
                        timestamp: e.timestamp,
                    });
                let got = self
                    .log
                    .offset_for_timestamp(timestamp)
                    .map_err(|e| fail(format!("offset_for_timestamp({timestamp}): {e}")))?;
                ensure!(
                    got == want,
                    "offset_for_timestamp({timestamp}): got {got:?}, model {want:?}"
                );
                self.stats.timestamp_hits += u64::from(want.is_some());
            }
            Op::Tick { ms } => self.clock.advance(ms),
        }
        self.check_ends()
    }

    /// The log's ends and recovery point agree with the model.
    fn check_ends(&mut self) -> Result<(), TestCaseError> {
        let segments = self.log.segments().len() as u64;
        self.stats.max_segments = self.stats.max_segments.max(segments);
        let (log, m) = (&self.log, &self.model);
        ensure!(
            log.log_start_offset() == m.start && log.log_end_offset() == m.leo,
            "log [{}, {}), model [{}, {})",
            log.log_start_offset(),
            log.log_end_offset(),
            m.start,
            m.leo
        );
        let rp = log.recovery_point();
        ensure!(
            self.durable <= rp && rp <= m.leo,
            "recovery point {rp}, but the model has synced up to {} of {}",
            self.durable,
            m.leo
        );
        Ok(())
    }

    /// Everything reads back, closes, verifies and reopens the same.
    fn finish(self) -> Result<Stats, TestCaseError> {
        let f = found(&self.log);
        check_prefix_of(&f, &self.model).map_err(|e| fail(format!("at the end: {e}")))?;
        ensure!(f.leo == self.model.leo, "the log ends at {}", f.leo);
        self.log.close().map_err(|e| fail(format!("close: {e}")))?;
        verify_partition_dir_with(&self.fs, dir())
            .map_err(|e| fail(format!("verify at the end: {e}")))?;
        let log = open(&self.fs, &self.clock, RecoveryMode::Strict, &self.config)
            .map_err(|e| fail(format!("reopen at the end: {e}")))?;
        let f = found(&log);
        check_prefix_of(&f, &self.model).map_err(|e| fail(format!("reopened: {e}")))?;
        ensure!(
            f.leo == self.model.leo,
            "reopened, the log ends at {}",
            f.leo
        );
        log.close().map_err(|e| fail(format!("close: {e}")))?;
        Ok(self.stats)
    }
}

fn run_case(
    setup: &Setup,
    ops: &[Op],
    truncations: Truncations,
    before_power_loss: BeforePowerLoss,
) -> Result<Stats, TestCaseError> {
    let mut world = World::new(setup.config.clone(), truncations, before_power_loss)?;
    for (i, op) in ops.iter().enumerate() {
        world
            .apply(op)
            .map_err(|e| fail(format!("step {i} {op:?}: {e}")))?;
    }
    world.finish()
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")),
        Err(_) => default,
    }
}

fn run_model(truncations: Truncations, before_power_loss: BeforePowerLoss) {
    let cases = env_u64("SEGLOG_MODEL_CASES", 512) as u32;
    let seed = env_u64("SEGLOG_MODEL_SEED", 0x5E6_106);
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        // No regression files in the source tree; the seed reproduces.
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (setup(), proptest::collection::vec(op(), 1..60));
    let total = std::sync::Mutex::new(Stats::default());
    let result = runner.run(&strategy, |(setup, ops)| {
        let stats = run_case(&setup, &ops, truncations, before_power_loss)?;
        total.lock().unwrap().add(&stats);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\n(SEGLOG_MODEL_SEED={seed}, SEGLOG_MODEL_CASES={cases})");
    }
    let t = total.into_inner().unwrap();
    eprintln!("{cases} cases: {t:?}");
    // The cases reach what they are meant to test.
    if cases >= 64 {
        assert!(t.appends > 100 && t.too_large > 0, "{t:?}");
        assert!(t.reads > 50 && t.reads_out_of_range > 0, "{t:?}");
        assert!(t.crashes > 20 && t.crashes_losing_data > 0, "{t:?}");
        assert!(
            t.reopens > 10 && t.truncations > 10 && t.start_moves > 10,
            "{t:?}"
        );
        assert!(t.timestamp_hits > 10 && t.max_segments >= 5, "{t:?}");
        match before_power_loss {
            BeforePowerLoss::Nothing => assert!(
                t.crashes_with_unsynced_sealed > 0 && t.clean_after_power_loss > 0,
                "{t:?}"
            ),
            BeforePowerLoss::SyncSealed => assert!(t.sealed_synced_first > 0, "{t:?}"),
        }
    }
    if before_power_loss == BeforePowerLoss::SyncSealed {
        assert_eq!(t.crashes_with_unsynced_sealed, 0, "{t:?}");
    }
}

/// Truncations at batch boundaries (or past the end), and power losses
/// whenever they come, also while segments sealed by rolls are unsynced:
/// what survives is a prefix of the log without offset holes, with every
/// record below the recovery point, and every later clean close leaves a
/// directory that verifies, closed segments' index files included. (Power
/// losses with unsynced sealed segments once left offset holes and stale
/// index files.)
#[test]
fn model_truncating_at_batch_boundaries() {
    run_model(Truncations::AtBatchBoundaries, BeforePowerLoss::Nothing);
}

/// Truncation anywhere, inside batches too: the whole batch goes, the log
/// ends where its data ends, and the recovery point never passes it. (This
/// once left the recovery point above the data, and a later torn append
/// then failed the strict open, see
/// `power_loss::torn_append_after_truncating_inside_a_batch_is_cut_off`;
/// and a clean close recorded a stale end, see
/// `truncate_past_the_data_then_close_keeps_the_end`.)
#[test]
fn model_truncating_anywhere() {
    run_model(Truncations::Anywhere, BeforePowerLoss::Nothing);
}

/// A host whose maintenance thread calls `sync_sealed()` (here right
/// before every power loss): it moves the recovery point up to the active
/// segment, so a power loss loses nothing below it.
#[test]
fn model_syncing_sealed_segments_before_power_loss() {
    run_model(Truncations::Anywhere, BeforePowerLoss::SyncSealed);
}

/// A truncation inside a batch removes the whole batch, and the log then
/// ends where its data ends, below the truncation offset; a second
/// truncation between that end and the first offset does nothing, and a
/// clean close records that end. (This once left a stale end in the
/// clean-shutdown marker.)
#[test]
fn truncate_past_the_data_then_close_keeps_the_end() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let config = LogConfig::default();
    let log = open(&fs, &clock, RecoveryMode::Strict, &config).unwrap();
    log.append_with(&[Record::new("a"), Record::new("b")], Durability::Sync)
        .unwrap(); // one batch, offsets 0 and 1
    log.truncate_to(1).unwrap(); // the batch holding 1 goes entirely
    assert_eq!(log.log_end_offset(), 0, "the log ends where its data ends");
    log.truncate_to(0).unwrap();
    assert_eq!(log.log_end_offset(), 0);
    log.close().unwrap();
    let log = open(&fs, &clock, RecoveryMode::Strict, &config).unwrap();
    assert!(log.recovery_report().clean_shutdown);
    assert_eq!(
        log.log_end_offset(),
        0,
        "the end the log had when it was closed"
    );
}

/// A truncation keeps what is known about the durability of the data that
/// remains: afterwards the recovery point is the lower of where it was and
/// the new log end (as in Kafka), whether the truncation stays in the
/// active segment or goes back into a closed one. The remaining records
/// were synced before, and the truncation is durable when it returns.
#[test]
fn truncate_to_keeps_the_recovery_point_of_the_remaining_data() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let config = LogConfig::default();
    let log = open(&fs, &clock, RecoveryMode::Strict, &config).unwrap();
    for v in ["a", "b", "c", "d"] {
        // Offsets 0 to 3, a batch each, all synced.
        log.append_with(&[Record::new(v)], Durability::Sync)
            .unwrap();
    }
    log.truncate_to(3).unwrap(); // in the active segment
    assert_eq!(log.log_end_offset(), 3);
    assert_eq!(log.recovery_point(), 3, "offsets 0 to 2 are synced");
    log.roll().unwrap(); // segment 0 closed, segment 3 active
    log.append_with(&[Record::new("e")], Durability::Sync)
        .unwrap(); // offset 3
    log.truncate_to(2).unwrap(); // back into segment 0
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(log.recovery_point(), 2, "offsets 0 and 1 are synced");
}

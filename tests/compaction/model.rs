//! A model test of compaction: random operations on a compacted log over
//! `MemFs` with a `ManualClock`, checked after every step against a plain
//! model of what the log must hold.
//!
//! Operations: keyed appends of values and tombstones (and a few records
//! without a key) in batches of one to five records, through `append`
//! with the log's codec, `append_encoded` with batches built by
//! `BatchBuilder` in every codec, and `append_replicated` of such batches
//! with their offsets, in both timestamp types; rolls; clock
//! ticks and jumps past `delete.retention.ms`; rounds with Kafka's default
//! map or with a map of a few keys (so that rounds stop part-way);
//! truncations; clean reopens; power losses after a flush and without
//! one; and a fetch held across all of it.
//!
//! The model keeps every record appended (by offset; a truncation forgets
//! those compacted away below it), the offsets the log holds, and for
//! each tombstone the time of the first round that
//! rewrote its segment (which stamps its batch with a delete horizon).
//! After every step the log, read from the start, must hold exactly those
//! offsets, each with the record appended there and the timestamp first
//! read, and give the model's key -> value table. A round may only remove
//! a record that a later record of its key below the round's end offset
//! supersedes, a record without a key below that end, or a tombstone
//! whose horizon (an earlier round's time + `delete.retention.ms`) has
//! passed; it never changes the log end offset or anything at or above
//! its first uncleanable offset, byte for byte. A power loss without a
//! flush keeps at least what was flushed, and what it keeps is what the
//! log held.
//!
//! `SEGLOG_COMPACTION_CASES` sets the number of cases (default 40),
//! `SEGLOG_MODEL_SEED` the seed; a failure prints the shrunk case.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

use seglog::compaction::{CompactOptions, CompactionOutcome, ENTRY_BYTES};
use seglog::inspect::verify_partition_dir_with;
use seglog::io::{CrashMode, MemFs};
use seglog::topic::CleanupPolicy;
use seglog::{
    BatchBuilder, Clock, Compression, FetchData, LogConfig, LogRecord, ManualClock, OpenOptions,
    PartitionLog, Record, RecoveryMode, TimestampType,
};

use crate::common_crash::{dir, DIR};

/// One record of an append: a key out of six (`None`: no key), a value
/// (`None`: a tombstone) whose number sets its length, and how far before
/// the clock its explicit timestamp is (`None`: the clock's).
#[derive(Debug, Clone)]
struct Rec {
    key: Option<u8>,
    value: Option<u8>,
    ts_back: Option<u16>,
}

#[derive(Debug, Clone, Copy)]
enum Via {
    /// `append`, with the log's codec and timestamp type.
    Append,
    /// `append_encoded` of a batch built with this codec.
    Encoded(Compression),
    /// `append_replicated` of a batch built with this codec and its
    /// offsets, with log-append time if set (as a leader stamped it).
    Replicated(Compression, bool),
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        recs: Vec<Rec>,
        via: Via,
    },
    Roll,
    Tick {
        ms: u16,
    },
    /// Past `delete.retention.ms`, and `ms` more.
    PastRetention {
        ms: u16,
    },
    /// A round with Kafka's map, or with one of this many keys.
    Compact {
        map_keys: Option<u8>,
        small_io: bool,
    },
    Flush,
    Reopen,
    /// A power loss, after a flush or not; torn unsynced tails with a seed.
    Crash {
        flush: bool,
        torn: Option<u64>,
    },
    /// Takes a fetch from `permille` of the log and keeps it.
    HoldFetch {
        permille: u16,
    },
    /// `truncate_to` at `permille` of the log.
    TruncateTo {
        permille: u16,
    },
}

#[derive(Debug, Clone)]
struct Setup {
    config: LogConfig,
    file_delete_delay_ms: u64,
}

fn codecs() -> Vec<Compression> {
    [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ]
    .into_iter()
    .filter(|c| c.is_available())
    .collect()
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![Just(512u64), Just(1024u64), Just(4096u64)],
        prop_oneof![Just(0u32), Just(128u32), Just(4096u32)],
        proptest::sample::select(codecs()),
        prop_oneof![3 => Just(TimestampType::CreateTime), 1 => Just(TimestampType::LogAppendTime)],
        prop_oneof![Just(0u64), Just(1_000u64), Just(30_000u64)],
        prop_oneof![3 => Just(0u64), 1 => Just(500u64)],
        prop_oneof![Just(0u64), Just(1_000u64)],
    )
        .prop_map(
            |(segment_bytes, index_interval_bytes, compression, ts_type, retention, lag, delay)| {
                Setup {
                    config: LogConfig {
                        cleanup_policy: CleanupPolicy::Compact,
                        segment_bytes,
                        index_interval_bytes,
                        compression,
                        message_timestamp_type: ts_type,
                        delete_retention_ms: retention,
                        min_compaction_lag_ms: lag,
                        write_buffer_bytes: 4096,
                        ..LogConfig::default()
                    },
                    file_delete_delay_ms: delay,
                }
            },
        )
}

fn rec() -> impl Strategy<Value = Rec> {
    (
        prop_oneof![12 => (0u8..6).prop_map(Some), 1 => Just(None)],
        prop_oneof![4 => any::<u8>().prop_map(Some), 1 => Just(None)],
        prop_oneof![2 => Just(None), 1 => (0u16..2_000).prop_map(Some)],
    )
        .prop_map(|(key, value, ts_back)| Rec {
            key,
            // A record without a key always has a value.
            value: if key.is_none() {
                value.or(Some(0))
            } else {
                value
            },
            ts_back,
        })
}

fn via() -> impl Strategy<Value = Via> {
    prop_oneof![
        3 => Just(Via::Append),
        1 => proptest::sample::select(codecs()).prop_map(Via::Encoded),
        1 => (proptest::sample::select(codecs()), any::<bool>())
            .prop_map(|(c, lat)| Via::Replicated(c, lat)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (proptest::collection::vec(rec(), 1..6), via())
            .prop_map(|(recs, via)| Op::Append { recs, via }),
        3 => Just(Op::Roll),
        2 => (0u16..400).prop_map(|ms| Op::Tick { ms }),
        1 => (0u16..100).prop_map(|ms| Op::PastRetention { ms }),
        4 => (prop_oneof![Just(None), (1u8..5).prop_map(Some)], any::<bool>())
            .prop_map(|(map_keys, small_io)| Op::Compact { map_keys, small_io }),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => (any::<bool>(), proptest::option::of(any::<u64>()))
            .prop_map(|(flush, torn)| Op::Crash { flush, torn }),
        1 => (0u16..=1000).prop_map(|permille| Op::HoldFetch { permille }),
        1 => (0u16..=1000).prop_map(|permille| Op::TruncateTo { permille }),
    ]
}

/// A record appended, and the timestamp it first read back with.
#[derive(Debug, Clone)]
struct Appended {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    seen: (i64, TimestampType),
}

/// What the cases reached, to show that they test something.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    appends: u64,
    encoded_log_append_time: u64,
    rounds: u64,
    partial_rounds: u64,
    records_dropped: u64,
    tombstones_dropped: u64,
    keyless_dropped: u64,
    crashes: u64,
    crashes_losing_data: u64,
    reopens: u64,
    held_fetches_checked: u64,
    truncations: u64,
    max_segments: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.appends += o.appends;
        self.encoded_log_append_time += o.encoded_log_append_time;
        self.rounds += o.rounds;
        self.partial_rounds += o.partial_rounds;
        self.records_dropped += o.records_dropped;
        self.tombstones_dropped += o.tombstones_dropped;
        self.keyless_dropped += o.keyless_dropped;
        self.crashes += o.crashes;
        self.crashes_losing_data += o.crashes_losing_data;
        self.reopens += o.reopens;
        self.held_fetches_checked += o.held_fetches_checked;
        self.truncations += o.truncations;
        self.max_segments = self.max_segments.max(o.max_segments);
    }
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

fn open(fs: &MemFs, clock: &ManualClock, setup: &Setup) -> Result<PartitionLog, TestCaseError> {
    OpenOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .recovery_mode(RecoveryMode::Strict)
        .file_delete_delay_ms(setup.file_delete_delay_ms)
        .open(DIR, setup.config.clone())
        .map_err(|e| fail(format!("open: {e}")))
}

fn read_all(log: &PartitionLog) -> Result<Vec<LogRecord>, TestCaseError> {
    log.iter(log.log_start_offset())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("reading the log: {e}")))
}

/// The bytes of every batch from `offset` on.
fn bytes_from(log: &PartitionLog, offset: u64) -> Result<Vec<u8>, TestCaseError> {
    log.read(offset, u64::MAX)
        .and_then(|f| f.to_vec())
        .map_err(|e| fail(format!("read({offset}): {e}")))
}

struct World {
    setup: Setup,
    fs: MemFs,
    clock: ManualClock,
    log: PartitionLog,
    /// Every record appended (and not lost in a power loss), by offset.
    appended: BTreeMap<u64, Appended>,
    /// The offsets the log holds.
    present: BTreeSet<u64>,
    /// Tombstone offset -> time of the first round that rewrote it.
    stamped: BTreeMap<u64, i64>,
    leo: u64,
    /// Offsets below this were flushed.
    durable: u64,
    tag: u64,
    held: Option<(FetchData, Vec<u8>)>,
    stats: Stats,
}

impl World {
    fn new(setup: Setup) -> Result<Self, TestCaseError> {
        let fs = MemFs::new();
        let clock = ManualClock::new(1_000_000);
        let log = open(&fs, &clock, &setup)?;
        Ok(World {
            setup,
            fs,
            clock,
            log,
            appended: BTreeMap::new(),
            present: BTreeSet::new(),
            stamped: BTreeMap::new(),
            leo: 0,
            durable: 0,
            tag: 0,
            held: None,
            stats: Stats::default(),
        })
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Append { recs, via } => self.append(recs, *via)?,
            Op::Roll => self.log.roll().map_err(|e| fail(format!("roll: {e}")))?,
            Op::Tick { ms } => self.clock.advance(i64::from(*ms)),
            Op::PastRetention { ms } => {
                let r = self.setup.config.delete_retention_ms as i64;
                self.clock.advance(r + i64::from(*ms));
            }
            Op::Compact { map_keys, small_io } => self.compact(*map_keys, *small_io)?,
            Op::Flush => {
                self.log.sync().map_err(|e| fail(format!("flush: {e}")))?;
                self.durable = self.leo;
            }
            Op::Reopen => {
                self.log.close().map_err(|e| fail(format!("close: {e}")))?;
                verify_partition_dir_with(&self.fs, dir())
                    .map_err(|e| fail(format!("verify after close: {e}")))?;
                self.log = open(&self.fs, &self.clock, &self.setup)?;
                self.durable = self.leo;
                self.stats.reopens += 1;
            }
            Op::Crash { flush, torn } => self.crash(*flush, *torn)?,
            Op::HoldFetch { permille } => {
                let offset = self.leo * u64::from(*permille) / 1000;
                let fetch = self
                    .log
                    .read(offset, 1 << 20)
                    .map_err(|e| fail(format!("read({offset}): {e}")))?;
                let bytes = fetch.to_vec().map_err(|e| fail(format!("{e}")))?;
                self.held = Some((fetch, bytes));
            }
            Op::TruncateTo { permille } => self.truncate(*permille)?,
        }
        self.check()
    }

    fn append(&mut self, recs: &[Rec], via: Via) -> Result<(), TestCaseError> {
        self.tag += 1;
        let now = self.clock.now_ms();
        let records: Vec<Record> = recs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut record = match (r.key, r.value) {
                    (key, Some(v)) => {
                        let pad = "x".repeat(usize::from(v) % 24);
                        let rec = Record::new(format!("{}.{i}:{pad}", self.tag));
                        match key {
                            Some(k) => rec.with_key(format!("k{k}")),
                            None => rec,
                        }
                    }
                    (Some(k), None) => Record::tombstone(format!("k{k}")),
                    (None, None) => unreachable!("a record without a key has a value"),
                };
                if let Some(back) = r.ts_back {
                    record = record.with_timestamp(now - i64::from(back));
                }
                record
            })
            .collect();
        // A compacted log refuses keyless records from producers; a
        // follower copies whatever its leader has.
        let keyless = records.iter().any(|r| r.key.is_none());
        let via = match via {
            Via::Append | Via::Encoded(_) if keyless => Via::Replicated(Compression::None, false),
            other => other,
        };
        let result = match via {
            Via::Append => self.log.append(&records),
            Via::Encoded(codec) => {
                let batch = BatchBuilder::new()
                    .compression(codec)
                    .now(now)
                    .build(&records)
                    .map_err(|e| fail(format!("building a batch: {e}")))?;
                self.log.append_encoded(&batch)
            }
            Via::Replicated(codec, log_append_time) => {
                let ts_type = if log_append_time {
                    self.stats.encoded_log_append_time += 1;
                    TimestampType::LogAppendTime
                } else {
                    TimestampType::CreateTime
                };
                let batch = BatchBuilder::new()
                    .base_offset(self.leo)
                    .compression(codec)
                    .timestamp_type(ts_type)
                    .now(now)
                    .build(&records)
                    .map_err(|e| fail(format!("building a batch: {e}")))?;
                self.log.append_replicated(&batch)
            }
        };
        let info = result.map_err(|e| fail(format!("append: {e}")))?;
        ensure!(
            info.first_offset == self.leo && info.last_offset == self.leo + recs.len() as u64 - 1,
            "append at {}: {info:?}",
            self.leo
        );
        let read: Vec<LogRecord> = self
            .log
            .iter(info.first_offset)
            .collect::<Result<_, _>>()
            .map_err(|e| fail(format!("reading the append: {e}")))?;
        ensure!(read.len() == records.len(), "appended {read:?}");
        for (r, got) in records.iter().zip(&read) {
            ensure!(
                got.key == r.key && got.value == r.value,
                "appended {r:?}, read {got:?}"
            );
            self.appended.insert(
                got.offset,
                Appended {
                    key: r.key.clone(),
                    value: r.value.clone(),
                    seen: (got.timestamp, got.timestamp_type),
                },
            );
            self.present.insert(got.offset);
        }
        self.leo = info.last_offset + 1;
        self.stats.appends += 1;
        Ok(())
    }

    fn compact(&mut self, map_keys: Option<u8>, small_io: bool) -> Result<(), TestCaseError> {
        let now = self.clock.now_ms();
        let bases: Vec<u64> = self.log.segments().iter().map(|s| s.base_offset).collect();
        let options = CompactOptions {
            dedupe_buffer_bytes: map_keys.map_or(128 << 20, |n| ENTRY_BYTES * usize::from(n)),
            load_factor: if map_keys.is_some() { 1.0 } else { 0.9 },
            io_buffer_bytes: if small_io { 100 } else { 512 << 10 },
            ..CompactOptions::default()
        };
        // What the round must leave alone, byte for byte: it is known once
        // the round says where its uncleanable part starts, so keep the
        // bytes from every segment base.
        let tails: Vec<(u64, Vec<u8>)> = bases
            .iter()
            .map(|&b| {
                Ok((
                    b,
                    bytes_from(&self.log, b.max(self.log.log_start_offset()))?,
                ))
            })
            .collect::<Result<_, TestCaseError>>()?;
        let out = self
            .log
            .compact_with(now, &options)
            .map_err(|e| fail(format!("compact_with({now}, {options:?}): {e}")))?;
        ensure!(!out.aborted, "a round alone aborted: {out:?}");
        ensure!(
            self.log.log_end_offset() == self.leo,
            "the round moved the log end to {}: {out:?}",
            self.log.log_end_offset()
        );
        let first_uncleanable = out.first_uncleanable_offset;
        self.check_uncleanable(&bases, &out, now)?;
        if let Some((_, tail)) = tails.iter().find(|(b, _)| *b == first_uncleanable) {
            ensure!(
                bytes_from(&self.log, first_uncleanable)? == *tail,
                "bytes from the first uncleanable offset {first_uncleanable} changed: {out:?}"
            );
        } else {
            ensure!(
                out.segments_read == 0,
                "first uncleanable offset {first_uncleanable} is no segment base {bases:?}"
            );
        }
        let after: BTreeSet<u64> = read_all(&self.log)?.iter().map(|r| r.offset).collect();
        ensure!(
            after.is_subset(&self.present),
            "the round added offsets {:?}",
            after.difference(&self.present).collect::<Vec<_>>()
        );
        for &o in self.present.difference(&after) {
            self.justify_removal(o, &out, now)?;
        }
        if out.segments_read > 0 {
            // Tombstones in the segments rewritten got their horizon now,
            // unless an earlier round set it.
            let rewritten_until = bases
                .iter()
                .copied()
                .find(|&b| b >= out.end_offset)
                .unwrap_or(self.leo);
            for &o in after.range(..rewritten_until) {
                let a = &self.appended[&o];
                if a.key.is_some() && a.value.is_none() {
                    self.stamped.entry(o).or_insert(now);
                }
            }
            ensure!(
                self.log.cleaner_checkpoint() == Some(out.end_offset),
                "checkpoint {:?} after {out:?}",
                self.log.cleaner_checkpoint()
            );
            self.stats.rounds += 1;
            self.stats.partial_rounds += u64::from(out.map_full);
            self.stats.records_dropped += out.records_dropped;
            self.stats.tombstones_dropped += out.tombstones_dropped;
            self.stats.keyless_dropped += out.records_without_key;
        }
        self.present = after;
        Ok(())
    }

    /// The round left alone the active segment and every dirty segment
    /// from the first one holding a record younger than
    /// `min.compaction.lag.ms` on.
    fn check_uncleanable(
        &self,
        bases: &[u64],
        out: &CompactionOutcome,
        now: i64,
    ) -> Result<(), TestCaseError> {
        let active = bases.last().copied().unwrap_or(0);
        ensure!(
            out.first_uncleanable_offset <= active,
            "the active segment {active} was cleanable: {out:?}"
        );
        let lag = self.setup.config.min_compaction_lag_ms as i64;
        if lag == 0 {
            return Ok(());
        }
        for pair in bases.windows(2) {
            let (base, next) = (pair[0], pair[1]);
            if next <= out.first_dirty_offset {
                continue;
            }
            let young = self
                .present
                .range(base..next)
                .any(|o| self.appended[o].seen.0 > now - lag);
            if young {
                ensure!(
                    out.first_uncleanable_offset <= base,
                    "segment {base} holds records younger than {lag} ms at {now}: {out:?}"
                );
                break;
            }
        }
        Ok(())
    }

    /// Why a round may have removed the record at `o`.
    fn justify_removal(
        &self,
        o: u64,
        out: &CompactionOutcome,
        now: i64,
    ) -> Result<(), TestCaseError> {
        let a = &self.appended[&o];
        ensure!(
            o < out.first_uncleanable_offset,
            "offset {o} at or above the first uncleanable offset went: {out:?}"
        );
        let Some(key) = &a.key else {
            ensure!(
                o < out.end_offset,
                "record {o} without a key beyond the round's end went: {out:?}"
            );
            return Ok(());
        };
        let superseded = self
            .appended
            .range(o + 1..out.end_offset.max(o + 1))
            .any(|(_, later)| later.key.as_ref() == Some(key));
        if superseded {
            return Ok(());
        }
        ensure!(
            a.value.is_none(),
            "the latest value of {key:?} at {o} went: {out:?}"
        );
        let retention = self.setup.config.delete_retention_ms as i64;
        match self.stamped.get(&o) {
            Some(&t0) if now >= t0 + retention => Ok(()),
            stamped => Err(fail(format!(
                "tombstone {o} of {key:?} went at {now}, first rewritten at {stamped:?}, \
                 delete.retention.ms {retention}: {out:?}"
            ))),
        }
    }

    fn truncate(&mut self, permille: u16) -> Result<(), TestCaseError> {
        let offset = self.leo * u64::from(permille) / 1000;
        self.log
            .truncate_to(offset)
            .map_err(|e| fail(format!("truncate_to({offset}): {e}")))?;
        let leo = self.log.log_end_offset();
        ensure!(
            leo == self.leo.min(offset) || leo < offset,
            "truncate_to({offset}) of a log ending at {} left it ending at {leo}",
            self.leo
        );
        if leo < self.leo {
            // The file under a held fetch may be cut.
            self.held = None;
            self.stats.truncations += 1;
            self.appended.split_off(&leo);
            self.present.split_off(&leo);
            self.stamped.split_off(&leo);
            // What the log holds now is what remains of the compacted
            // log: records compacted away below the cut are no longer
            // superseded by anything, and no part of what it must hold.
            let present = &self.present;
            self.appended.retain(|o, _| present.contains(o));
            self.leo = leo;
            self.durable = self.durable.min(leo);
        }
        Ok(())
    }

    fn crash(&mut self, flush: bool, torn: Option<u64>) -> Result<(), TestCaseError> {
        if flush {
            self.log.sync().map_err(|e| fail(format!("flush: {e}")))?;
            self.durable = self.leo;
        }
        let mode = torn.map_or(CrashMode::DurableOnly, |seed| CrashMode::TornTail { seed });
        let image = self.fs.crash(mode);
        self.fs = image;
        self.log = open(&self.fs, &self.clock, &self.setup)?;
        let leo = self.log.log_end_offset();
        ensure!(
            self.durable <= leo && leo <= self.leo,
            "after a power loss the log ends at {leo}; flushed {}, appended {}",
            self.durable,
            self.leo
        );
        self.stats.crashes += 1;
        if leo < self.leo {
            self.stats.crashes_losing_data += 1;
            self.appended.split_off(&leo);
            self.present.split_off(&leo);
            self.stamped.split_off(&leo);
            self.leo = leo;
        }
        Ok(())
    }

    /// The log holds what the model says.
    fn check(&mut self) -> Result<(), TestCaseError> {
        let segments = self.log.segments().len() as u64;
        self.stats.max_segments = self.stats.max_segments.max(segments);
        ensure!(
            self.log.log_end_offset() == self.leo,
            "log end {} but the model's is {}",
            self.log.log_end_offset(),
            self.leo
        );
        let checkpoint = self.log.cleaner_checkpoint();
        ensure!(
            checkpoint.is_none_or(|c| c <= self.leo),
            "cleaner checkpoint {checkpoint:?} above the log end {}",
            self.leo
        );
        let got = read_all(&self.log)?;
        let offsets: Vec<u64> = got.iter().map(|r| r.offset).collect();
        ensure!(
            offsets.iter().copied().eq(self.present.iter().copied()),
            "offsets {offsets:?}, the model has {:?}",
            self.present
        );
        let mut table = BTreeMap::new();
        for r in &got {
            let a = &self.appended[&r.offset];
            ensure!(
                r.key == a.key && r.value == a.value && (r.timestamp, r.timestamp_type) == a.seen,
                "offset {}: read {r:?}, appended {a:?}",
                r.offset
            );
            if let Some(k) = &r.key {
                match &r.value {
                    Some(v) => table.insert(k.clone(), v.clone()),
                    None => table.remove(k),
                };
            }
        }
        let mut want = BTreeMap::new();
        for a in self.appended.values() {
            if let Some(k) = &a.key {
                match &a.value {
                    Some(v) => want.insert(k.clone(), v.clone()),
                    None => want.remove(k),
                };
            }
        }
        ensure!(
            table == want,
            "the log's table {table:?}, the model's {want:?}"
        );
        if let Some((fetch, bytes)) = &self.held {
            let now = fetch
                .to_vec()
                .map_err(|e| fail(format!("held fetch: {e}")))?;
            ensure!(
                now == *bytes,
                "a fetch held since earlier reads other bytes"
            );
            self.stats.held_fetches_checked += 1;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Stats, TestCaseError> {
        self.held = None;
        self.log.close().map_err(|e| fail(format!("close: {e}")))?;
        verify_partition_dir_with(&self.fs, dir())
            .map_err(|e| fail(format!("verify at the end: {e}")))?;
        self.log = open(&self.fs, &self.clock, &self.setup)?;
        self.check()?;
        self.log.close().map_err(|e| fail(format!("close: {e}")))?;
        Ok(self.stats)
    }
}

fn run_case(setup: &Setup, ops: &[Op]) -> Result<Stats, TestCaseError> {
    let mut world = World::new(setup.clone())?;
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

/// Random operations keep every guarantee of compaction; see the module
/// docs.
#[test]
fn model_compacted_log() {
    let cases = env_u64("SEGLOG_COMPACTION_CASES", 40) as u32;
    let seed = env_u64("SEGLOG_MODEL_SEED", 0xC0_4AC7);
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (setup(), proptest::collection::vec(op(), 1..60));
    let total = std::sync::Mutex::new(Stats::default());
    let result = runner.run(&strategy, |(setup, ops)| {
        let stats = run_case(&setup, &ops)?;
        total.lock().unwrap().add(&stats);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\n(SEGLOG_MODEL_SEED={seed}, SEGLOG_COMPACTION_CASES={cases})");
    }
    let t = total.into_inner().unwrap();
    eprintln!("{cases} cases: {t:?}");
    if cases >= 40 {
        assert!(t.appends > 200 && t.encoded_log_append_time > 10, "{t:?}");
        assert!(t.rounds > 40 && t.partial_rounds > 5, "{t:?}");
        assert!(
            t.records_dropped > 100 && t.tombstones_dropped > 0 && t.keyless_dropped > 0,
            "{t:?}"
        );
        assert!(
            t.crashes > 10 && t.crashes_losing_data > 0 && t.reopens > 10,
            "{t:?}"
        );
        assert!(t.held_fetches_checked > 50 && t.max_segments >= 5, "{t:?}");
        assert!(t.truncations > 10, "{t:?}");
    }
}

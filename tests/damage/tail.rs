//! Damage to the last batch of the last segment, at every byte.
//!
//! A log is written with synced batches of varying sizes (some LZ4
//! compressed when the codec is compiled in) over several segments. Then,
//! for every byte position p of its last batch, the `.log` is (a) cut at p
//! and (b) has the byte at p flipped (XOR 0xFF), and the log is reopened
//! in strict mode and in `TruncateCorrupt` mode. Four ways the log can
//! have been left:
//!
//! * `CleanClose`: closed cleanly, the clean-shutdown marker
//!   (`seglog.clean-shutdown`) kept. The open reads no segment data, so a
//!   flipped byte is only found by a read: fetches of any size serve every
//!   record before the batch, and the read that reaches it reports it as
//!   `Error::Corrupt`. A cut changes the `.log`'s size, the marker no
//!   longer matches and the open recovers as below.
//! * `CleanCloseNoMarker`: closed cleanly, then the marker removed. The
//!   checkpoint (`seglog.checkpoint`) holds the recovery point written at
//!   close, the log end offset: the last batch is synced data.
//! * `SyncedNoClose`: every batch appended with `Durability::Sync`, then a
//!   power loss (no close). The checkpoint's recovery point is the one
//!   written at the last roll; the last segment's batches lie beyond it.
//! * `Unsynced`: the last batch appended with `Durability::Flush` and
//!   reaching the disk whole but unsynced, then a power loss.
//!
//! Kafka's CRC covers bytes 21.. of a batch. The length (8..12), magic (16)
//! and CRC (17..21) fields are checked by their own rules. Two fields are
//! protected by nothing: the base offset (0..8) and the partition leader
//! epoch (12..16). What happens there is asserted below (`Flip::class`):
//!
//! * a flipped leader-epoch byte is accepted everywhere: the batch reads
//!   back with its records unchanged (the epoch is not in a `LogRecord`);
//! * a flipped base-offset byte gives a batch whose offsets are shifted.
//!   If the new base offset breaks a rule the walk checks (not negative,
//!   not below the segment's base, above the previous batch's last offset,
//!   within 2^31-1 of the segment's base), the batch is invalid like any
//!   other damaged batch. Otherwise recovery accepts it: the records come
//!   back unchanged at offsets `new_base + i`, leaving a gap, and the log
//!   end offset follows them.

use crate::common_crash;

use std::path::PathBuf;

use common_crash::{check_prefix_of, dir, found, open, Exp, Model};
use seglog::inspect::verify_partition_dir_with;
use seglog::io::{CrashMode, Fs, MemFs, OpenMode};
use seglog::{
    BatchBuilder, CheckpointField, CheckpointMismatch, Clock, Compression, Durability, Error,
    LogConfig, ManualClock, PartitionLog, Record, RecoveryMode,
};

const MARKER: &str = "seglog.clean-shutdown";
const CHECKPOINT: &str = "seglog.checkpoint";
const MODES: [RecoveryMode; 2] = [RecoveryMode::Strict, RecoveryMode::TruncateCorrupt];

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 0,
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

/// LZ4 when it is compiled in.
fn lz4() -> Option<Compression> {
    Compression::Lz4.is_available().then_some(Compression::Lz4)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    CleanClose,
    CleanCloseNoMarker,
    SyncedNoClose,
    Unsynced,
}

/// A damaged log's starting point.
struct Built {
    scenario: Scenario,
    /// Everything durable: each test case starts from `image.crash(..)`.
    image: MemFs,
    model: Model,
    config: LogConfig,
    /// The last segment's `.log`, its base offset, its size.
    path: PathBuf,
    segment_base: u64,
    /// Position and size of the last batch, and its offsets.
    pos: u64,
    size: u64,
    first: u64,
    last: u64,
}

/// Appends `records` as one producer batch built with `codec`.
fn append_encoded(
    log: &PartitionLog,
    model: &mut Model,
    clock: &ManualClock,
    records: &[Record],
    codec: Compression,
    durability: Durability,
) -> seglog::AppendInfo {
    let now = clock.now_ms();
    let bytes = BatchBuilder::new()
        .compression(codec)
        .now(now)
        .build(records)
        .unwrap();
    let info = log.append_encoded_with(&bytes, durability).unwrap();
    assert_eq!(info.first_offset, model.leo);
    model.append(
        info.first_offset,
        records.iter().map(|r| Exp::of(r, now)).collect(),
    );
    info
}

fn records(tag: u64, n: usize, len: usize) -> Vec<Record> {
    common_crash::make_records(tag, n, len)
}

fn build(scenario: Scenario, last_codec: Compression) -> Built {
    let config = config();
    let fs = MemFs::new();
    let clock = ManualClock::new(1_700_000_000_000);
    let log = open(&fs, &clock, RecoveryMode::Strict, &config).unwrap();
    let mut model = Model::default();
    // Batches of 1 to 6 records and 10 to 900 bytes, some compressed.
    for i in 0..14u64 {
        clock.advance(13);
        let n = 1 + (i as usize * 5) % 6;
        let len = 10 + (i as usize * 337) % 900 / n;
        let recs = records(i, n, len);
        match (i % 3, lz4()) {
            (1, Some(codec)) => {
                append_encoded(&log, &mut model, &clock, &recs, codec, Durability::Sync);
            }
            _ => {
                common_crash::append_checked(&log, &mut model, &clock, &recs, Durability::Sync)
                    .unwrap();
            }
        }
    }
    assert!(log.segments().len() >= 3, "{:?}", log.segments());
    clock.advance(13);
    let durability = match scenario {
        Scenario::Unsynced => Durability::Flush,
        _ => Durability::Sync,
    };
    // Compressible values, so that an LZ4 batch is small but not trivial.
    let last_records: Vec<Record> = (0..5)
        .map(|i| Record::new(format!("last batch record {i} ").repeat(4)).with_key(format!("k{i}")))
        .collect();
    let info = append_encoded(
        &log,
        &mut model,
        &clock,
        &last_records,
        last_codec,
        durability,
    );
    let segs = log.segments();
    let active = segs.last().unwrap();
    assert!(active.base_offset <= info.first_offset);
    let size = info.bytes;
    let pos = active.size - size;
    let path = active.path.clone();
    let segment_base = active.base_offset;

    let image = match scenario {
        Scenario::CleanClose | Scenario::CleanCloseNoMarker => {
            log.close().unwrap();
            let image = fs.crash(CrashMode::DurableOnly);
            assert!(image.exists(&dir().join(MARKER)).unwrap());
            assert!(image.exists(&dir().join(CHECKPOINT)).unwrap());
            if scenario == Scenario::CleanCloseNoMarker {
                // No marker: the next open takes the close for a crash.
                image.remove_file(&dir().join(MARKER)).unwrap();
                image.sync_dir(dir()).unwrap();
            }
            image
        }
        Scenario::SyncedNoClose => {
            let image = fs.crash(CrashMode::DurableOnly);
            drop(log);
            image
        }
        Scenario::Unsynced => {
            let live = fs.read(&path).unwrap();
            let image = fs.crash(CrashMode::DurableOnly);
            drop(log);
            assert_eq!(
                image.read(&path).unwrap().len() as u64,
                pos,
                "the last batch was not synced"
            );
            // It reached the disk whole nonetheless.
            image.write(&path, &live).unwrap();
            image
                .open(&path, OpenMode::Write)
                .unwrap()
                .sync_data()
                .unwrap();
            image
        }
    };
    assert!(!image.exists(&dir().join(MARKER)).unwrap() || scenario == Scenario::CleanClose);
    assert_eq!(image.read(&path).unwrap().len() as u64, pos + size);
    Built {
        scenario,
        image,
        model,
        config,
        path,
        segment_base,
        pos,
        size,
        first: info.first_offset,
        last: info.last_offset,
    }
}

/// The damage done to the last batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    /// The `.log` ends `at` bytes into the batch.
    Cut { at: u64 },
    /// The byte `at` bytes into the batch is XORed with 0xFF.
    Flip { at: u64 },
}

/// What a flipped byte amounts to (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flip {
    /// The batch is invalid (bad CRC, length, magic, header field, or a
    /// base offset the walk rejects).
    Invalid,
    /// The leader epoch changed; the batch reads back the same.
    Epoch,
    /// The base offset changed to a value the walk accepts.
    Shifted { new_base: u64 },
}

impl Built {
    fn classify(&self, at: u64) -> Flip {
        match at {
            0..=7 => {
                let mut bytes = self.first.to_be_bytes();
                bytes[at as usize] ^= 0xFF;
                let new_base = i64::from_be_bytes(bytes);
                let delta = self.last - self.first;
                let accepted = new_base >= 0
                    && (new_base as u64) >= self.segment_base
                    && (new_base as u64) > self.first - 1
                    && (new_base as u64) + delta - self.segment_base <= i32::MAX as u64;
                if accepted {
                    Flip::Shifted {
                        new_base: new_base as u64,
                    }
                } else {
                    Flip::Invalid
                }
            }
            12..=15 => Flip::Epoch,
            _ => Flip::Invalid,
        }
    }

    /// A fresh copy of the log with `damage` done.
    fn damaged(&self, damage: Damage) -> MemFs {
        let fs = self.image.crash(CrashMode::DurableOnly);
        let mut bytes = fs.read(&self.path).unwrap();
        match damage {
            Damage::Cut { at } => bytes.truncate((self.pos + at) as usize),
            Damage::Flip { at } => bytes[(self.pos + at) as usize] ^= 0xFF,
        }
        fs.write(&self.path, &bytes).unwrap();
        fs
    }

    /// The model without the last batch.
    fn before_last(&self) -> Model {
        let mut m = self.model.clone();
        m.adopt_end(self.first);
        m
    }

    /// The model with the last batch at `new_base`.
    fn shifted(&self, new_base: u64) -> Model {
        let mut m = self.before_last();
        let exps: Vec<Exp> = (self.first..=self.last)
            .map(|o| self.model.records[&o].clone())
            .collect();
        m.leo = new_base;
        m.append(new_base, exps);
        m
    }

    /// Whether recovery counts the last batch as synced data (below the
    /// recovery point in `seglog.checkpoint`).
    fn synced(&self) -> bool {
        matches!(
            self.scenario,
            Scenario::CleanClose | Scenario::CleanCloseNoMarker
        )
    }
}

/// What a reopen must do.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    /// The open fails: `Error::Corrupt` at the batch's position.
    Corrupt,
    /// The open cuts the batch off (`bytes_removed` bytes at its start) and
    /// the log ends before it.
    Cut { bytes_removed: u64 },
    /// The open finds the log ending exactly before the batch.
    EndsBefore,
    /// The open succeeds and serves this log.
    Serves(Model),
    /// A clean open that does not look at the data; reading the batch
    /// fails with `Error::Corrupt` inside it.
    CleanReadFails,
    /// A clean open that does not look at the data, of a batch whose base
    /// offset moved: its records are not served at all (a fetch at its
    /// offsets finds nothing, and the iterator fails with
    /// `OffsetOutOfRange` when it follows the batch's new offsets past the
    /// log end).
    CleanNotServed,
}

fn expected(b: &Built, damage: Damage, mode: RecoveryMode) -> Expected {
    let strict = mode == RecoveryMode::Strict;
    let damaged_batch = |removed: u64| {
        if b.synced() && strict {
            Expected::Corrupt
        } else {
            Expected::Cut {
                bytes_removed: removed,
            }
        }
    };
    match damage {
        // The file ends exactly where the batch started (a whole batch is
        // gone): valid data up to its end. A recovery point beyond it is
        // reset, as Kafka does, and reported: see
        // `synced_batch_cut_off_at_its_start_resets_the_recovery_point`.
        Damage::Cut { at: 0 } => Expected::EndsBefore,
        Damage::Cut { at } => damaged_batch(at),
        Damage::Flip { at } => match (b.classify(at), b.scenario) {
            (Flip::Epoch, _) => Expected::Serves(b.model.clone()),
            (Flip::Invalid, Scenario::CleanClose) => Expected::CleanReadFails,
            (Flip::Invalid, _) => damaged_batch(b.size),
            (Flip::Shifted { .. }, Scenario::CleanClose) => Expected::CleanNotServed,
            (Flip::Shifted { new_base }, _) => Expected::Serves(b.shifted(new_base)),
        },
    }
}

/// Checks reads of a log opened cleanly with a damaged last batch: fetches
/// of any size serve every record before the damaged batch and nothing
/// that is not the record appended at its offset, and reading the batch
/// fails with `Error::Corrupt` inside it (or, for a batch whose base offset
/// moved, finds nothing).
fn check_clean_reads(b: &Built, log: &PartitionLog, want: &Expected) -> Result<(), String> {
    let before = b.before_last();
    let start = log.log_start_offset();
    // Whatever a reader returns must be what was appended there.
    let collect = |reader: seglog::LogReader| {
        let mut reader = reader;
        let mut got = Vec::new();
        loop {
            match reader.next_batch() {
                Ok(Some(batch)) => {
                    for r in batch {
                        match r {
                            Ok(r) => got.push(r.to_owned()),
                            Err(e) => return (got, Some(e)),
                        }
                    }
                }
                Ok(None) => return (got, None),
                Err(e) => return (got, Some(e)),
            }
        }
    };
    let (one_by_one, end_one) = collect(log.reader(start).with_fetch_bytes(1));
    let (big, end_big) = collect(log.reader(start));
    let iterated: Vec<_> = log
        .iter(start)
        .take_while(|r| r.is_ok())
        .map(|r| r.unwrap())
        .collect();
    for (what, got) in [
        ("batch-at-a-time reads", &one_by_one),
        ("1 MiB reads", &big),
        ("the iterator", &iterated),
    ] {
        let f = common_crash::Found {
            start,
            leo: before.leo,
            records: got.clone(),
        };
        // A prefix of the records before the batch, and nothing else.
        let mut m = before.clone();
        m.adopt_end(got.last().map_or(start, |r| r.offset + 1).min(before.leo));
        if got.last().is_some_and(|r| r.offset >= before.leo) {
            return Err(format!(
                "{what} served offset {} of the damaged batch",
                got.last().unwrap().offset
            ));
        }
        check_prefix_of(&common_crash::Found { leo: m.leo, ..f }, &m)
            .map_err(|e| format!("{what}: {e}"))?;
    }
    let all_before = |got: &Vec<seglog::LogRecord>| got.len() == before.records.len();
    if !all_before(&one_by_one) {
        return Err(format!(
            "batch-at-a-time reads stop at offset {:?} ({end_one:?})",
            one_by_one.last().map(|r| r.offset)
        ));
    }
    let fetched = log
        .read(b.first, 1 << 20)
        .and_then(|f| f.records().collect::<Result<Vec<_>, _>>());
    let in_batch = |e: &Option<Error>| {
        matches!(
            e,
            Some(Error::Corrupt { path, position, .. })
                if *path == b.path && (b.pos..b.pos + b.size).contains(position)
        )
    };
    let ok = match want {
        Expected::CleanReadFails => {
            all_before(&big)
                && in_batch(&end_one)
                && in_batch(&end_big)
                && matches!(fetched, Err(Error::Corrupt { .. }))
        }
        // A batch whose base offset moved: not served, and no error but
        // running past the log end.
        _ => {
            all_before(&big)
                && matches!(end_one, None | Some(Error::OffsetOutOfRange { .. }))
                && matches!(end_big, None | Some(Error::OffsetOutOfRange { .. }))
                && matches!(&fetched, Ok(v) if v.is_empty())
        }
    };
    if !ok {
        return Err(format!(
            "reading up to the batch: batch-at-a-time {} records then {end_one:?}, 1 MiB reads {} records then {end_big:?}; a fetch at the batch {fetched:?}",
            one_by_one.len(),
            big.len(),
        ));
    }
    if let Ok(v) = &fetched {
        if !v.is_empty() {
            return Err(format!("a fetch at the damaged batch served {v:?}"));
        }
    }
    Ok(())
}

/// Reopens a damaged copy and checks it against `expected`.
fn check(b: &Built, damage: Damage, mode: RecoveryMode) -> Result<(), String> {
    let fs = b.damaged(damage);
    let clock = ManualClock::new(1_800_000_000_000);
    let want = expected(b, damage, mode);
    let ctx = format!(
        "{:?}, last batch at {} ({} bytes, offsets {}..={}), {damage:?}, {mode:?}, expecting {}",
        b.scenario,
        b.pos,
        b.size,
        b.first,
        b.last,
        match &want {
            Expected::Serves(m) => format!("a log [{}, {})", m.start, m.leo),
            other => format!("{other:?}"),
        }
    );
    let opened = open(&fs, &clock, mode, &b.config);
    let log = match (&want, opened) {
        (Expected::Corrupt, Err(Error::Corrupt { path, position, .. })) => {
            if path != b.path || position != b.pos {
                return Err(format!("{ctx}: corrupt at {path:?} {position}"));
            }
            return Ok(());
        }
        (Expected::Corrupt, Ok(log)) => {
            return Err(format!(
                "{ctx}: the open succeeded: {:?}, log end {}",
                log.recovery_report(),
                log.log_end_offset()
            ))
        }
        (_, Err(e)) => return Err(format!("{ctx}: the open failed: {e}")),
        (_, Ok(log)) => log,
    };
    let report = log.recovery_report().clone();
    let clean_expected =
        b.scenario == Scenario::CleanClose && matches!(damage, Damage::Flip { .. });
    if report.clean_shutdown != clean_expected {
        return Err(format!("{ctx}: {report:?}"));
    }
    let served = match &want {
        Expected::Cut { bytes_removed } => {
            let ok = report.truncated.as_ref().is_some_and(|t| {
                t.path == b.path && t.position == b.pos && t.bytes_removed == *bytes_removed
            });
            if !ok || report.segments_deleted != 0 {
                return Err(format!("{ctx}: {report:?}"));
            }
            b.before_last()
        }
        Expected::EndsBefore => {
            // Nothing is cut; the recovery point of a batch that had been
            // synced is reported as beyond the log end, and reset.
            let mismatch = match report.checkpoint_mismatches.as_slice() {
                [] => false,
                [m] => {
                    m.field == CheckpointField::RecoveryPoint
                        && m.path == b.path.with_file_name("seglog.checkpoint")
                        && m.log_end_offset == b.first
                        && m.used == b.first
                        && m.value > b.first
                }
                _ => return Err(format!("{ctx}: {report:?}")),
            };
            let ok = report.truncated.is_none() && mismatch == b.synced();
            if !ok {
                return Err(format!("{ctx}: {report:?}"));
            }
            b.before_last()
        }
        Expected::Serves(m) => {
            if report.truncated.is_some() {
                return Err(format!("{ctx}: {report:?}"));
            }
            m.clone()
        }
        Expected::CleanReadFails | Expected::CleanNotServed => {
            check_clean_reads(b, &log, &want).map_err(|e| format!("{ctx}: {e}"))?;
            log.close().map_err(|e| format!("{ctx}: close: {e}"))?;
            if !matches!(
                verify_partition_dir_with(&fs, dir()),
                Err(Error::Corrupt { .. })
            ) {
                return Err(format!("{ctx}: verify finds no damage"));
            }
            return Ok(());
        }
        Expected::Corrupt => unreachable!(),
    };
    let f = found(&log);
    check_prefix_of(&f, &served).map_err(|e| format!("{ctx}: {e}"))?;
    if f.leo != served.leo {
        return Err(format!(
            "{ctx}: the log ends at {}, not {}",
            f.leo, served.leo
        ));
    }
    // The log takes appends at its end, and the directory verifies.
    let mut model = served;
    common_crash::append_checked(
        &log,
        &mut model,
        &clock,
        &records(99, 2, 20),
        Durability::Sync,
    )
    .map_err(|e| format!("{ctx}: append after open: {e}"))?;
    let f = found(&log);
    check_prefix_of(&f, &model).map_err(|e| format!("{ctx}: after an append: {e}"))?;
    log.close().map_err(|e| format!("{ctx}: close: {e}"))?;
    verify_partition_dir_with(&fs, dir()).map_err(|e| format!("{ctx}: verify: {e}"))?;
    Ok(())
}

/// Every damage at every byte of the last batch, in both modes.
fn every_byte(scenario: Scenario, last_codec: Compression) {
    let b = build(scenario, last_codec);
    let mut failures = Vec::new();
    let mut cases = 0;
    for at in 0..b.size {
        for damage in [Damage::Cut { at }, Damage::Flip { at }] {
            for mode in MODES {
                cases += 1;
                if let Err(e) = check(&b, damage, mode) {
                    failures.push(e);
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed; the first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn clean_close_uncompressed() {
    every_byte(Scenario::CleanClose, Compression::None);
}

#[test]
fn clean_close_without_marker_uncompressed() {
    every_byte(Scenario::CleanCloseNoMarker, Compression::None);
}

#[test]
fn synced_without_close_uncompressed() {
    every_byte(Scenario::SyncedNoClose, Compression::None);
}

#[test]
fn unsynced_uncompressed() {
    every_byte(Scenario::Unsynced, Compression::None);
}

#[test]
fn clean_close_lz4() {
    if let Some(codec) = lz4() {
        every_byte(Scenario::CleanClose, codec);
    }
}

#[test]
fn clean_close_without_marker_lz4() {
    if let Some(codec) = lz4() {
        every_byte(Scenario::CleanCloseNoMarker, codec);
    }
}

#[test]
fn synced_without_close_lz4() {
    if let Some(codec) = lz4() {
        every_byte(Scenario::SyncedNoClose, codec);
    }
}

#[test]
fn unsynced_lz4() {
    if let Some(codec) = lz4() {
        every_byte(Scenario::Unsynced, codec);
    }
}

/// Three one-record batches in one segment, closed cleanly; then `damage`
/// is applied to the third batch and the log reopened (a clean open).
fn three_batches_damaged(at: usize) -> (MemFs, PartitionLog, PathBuf, u64) {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let config = LogConfig::default();
    let log = open(&fs, &clock, RecoveryMode::Strict, &config).unwrap();
    for v in ["a", "b"] {
        log.append_with(&[Record::new(v)], Durability::Sync)
            .unwrap();
    }
    let pos = log.segments()[0].size;
    log.append_with(&[Record::new("c")], Durability::Sync)
        .unwrap();
    let path = log.segments()[0].path.clone();
    log.close().unwrap();
    let mut bytes = fs.read(&path).unwrap();
    bytes[pos as usize + at] ^= 0xFF;
    fs.write(&path, &bytes).unwrap();
    let log = open(&fs, &clock, RecoveryMode::Strict, &config).unwrap();
    assert!(log.recovery_report().clean_shutdown);
    assert_eq!(log.log_end_offset(), 3);
    (fs, log, path, pos)
}

/// A fetch walks batch headers to fill `max_bytes`; a batch whose header
/// is invalid (here its magic byte) ends the fetch before it, so the
/// intact batches before it are served, and the read that starts at the
/// damaged batch reports it. (A damaged header once failed the whole
/// fetch.)
#[test]
fn fetch_serves_batches_before_a_damaged_header() {
    let (_fs, log, _path, pos) = three_batches_damaged(16);
    let fetch = log.read(0, 1 << 20).expect("offsets 0 and 1 are intact");
    let mut records = fetch.records();
    assert_eq!(records.next().unwrap().unwrap().offset, 0);
    assert_eq!(records.next().unwrap().unwrap().offset, 1);
    assert!(records.next().is_none());
    assert_eq!(fetch.next_offset(), 2);
    assert!(matches!(
        log.read(2, 1 << 20),
        Err(Error::Corrupt { position, .. }) if position == pos
    ));
    // The iterator serves the intact records, then reports the damage.
    let mut all = log.iter(0);
    assert_eq!(all.next().unwrap().unwrap().offset, 0);
    assert_eq!(all.next().unwrap().unwrap().offset, 1);
    assert!(matches!(
        all.next(),
        Some(Err(Error::Corrupt { position, .. })) if position == pos
    ));
}

/// The CRC covers the last offset delta, but a fetch decides from the
/// header, before any CRC check, whether a batch is below the log end. A
/// flipped byte there makes the last batch, which starts below the log
/// end, claim offsets past it: the read at its offset reports the batch as
/// corrupt, and so does `iter(0)` after offset 1. (This once returned an
/// empty fetch, and the iterator ended quietly, although the log end
/// offset is 3.)
#[test]
fn corrupted_last_offset_delta_is_reported_by_reads() {
    let (_fs, log, path, pos) = three_batches_damaged(26);
    let r = log
        .read(2, 1 << 20)
        .and_then(|f| f.records().collect::<Result<Vec<_>, _>>());
    assert!(
        matches!(&r, Err(Error::Corrupt { path: p, position, .. }) if *p == path && *position == pos),
        "read(2): {r:?}"
    );
    let last = log.iter(0).last().unwrap();
    assert!(matches!(last, Err(Error::Corrupt { .. })), "{last:?}");
}

/// A synced batch that is entirely gone (the `.log` ends exactly where it
/// started) fails a strict open with `Error::Corrupt` naming the `.log`:
/// the checkpoint's recovery point says offsets up to the end were
/// synced, and acknowledged, synced records must not be dropped without
/// the caller's say-so. `TruncateCorrupt` opens what is there. (Strict
/// recovery once accepted the shorter log and rewrote the checkpoint's
/// recovery point down to it.)
#[test]
fn synced_batch_cut_off_at_its_start_resets_the_recovery_point() {
    // Kafka's `LogLoader.recoverLog`: the new recovery point is
    // `min(recoveryPointCheckpoint, logEndOffset)`; the data that is there
    // is whole, so the open serves it and reports the checkpoint's value.
    for scenario in [Scenario::CleanClose, Scenario::CleanCloseNoMarker] {
        for mode in [RecoveryMode::Strict, RecoveryMode::TruncateCorrupt] {
            let b = build(scenario, Compression::None);
            let fs = b.damaged(Damage::Cut { at: 0 });
            let clock = ManualClock::new(1_800_000_000_000);
            let log = open(&fs, &clock, mode, &b.config).unwrap();
            assert_eq!(log.log_end_offset(), b.first, "{scenario:?} {mode:?}");
            assert_eq!(log.recovery_point(), b.first);
            let report = log.recovery_report();
            assert_eq!(report.truncated, None);
            assert_eq!(
                report.checkpoint_mismatches,
                [CheckpointMismatch {
                    path: b.path.with_file_name("seglog.checkpoint"),
                    field: CheckpointField::RecoveryPoint,
                    value: b.last + 1,
                    log_end_offset: b.first,
                    used: b.first,
                }],
                "{scenario:?} {mode:?}"
            );
            log.close().unwrap();
        }
    }
}

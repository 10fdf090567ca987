//! Crash safety at the store level: power loss on `MemFs`.
//!
//! Each store operation that changes the store's metadata (`create_topic`,
//! `add_partitions`, `delete_topic`, `close` and `maintain`, which write
//! the root checkpoints) runs once per sync point with the file system
//! frozen after that sync, until it completes without reaching the frozen
//! point. Every image (durable bytes only, and with a torn tail) is
//! reopened: the open must succeed (and not panic), the store must be in
//! the state before or the state after the operation (never a mix, and
//! never back to "before" once "after" was seen at an earlier sync point),
//! acknowledged data must be there, every partition must take and serve
//! new records, every partition directory must pass
//! `verify_partition_dir_with` after a close, and a second reopen must find
//! the same store. For deletions and unclean shutdowns the open that
//! repairs the store is itself crashed at each of its sync points, and the
//! store reopened again. Process kills are in `store_kill.rs`.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use seglog::inspect::verify_partition_dir_with;
use seglog::io::{CrashMode, Fs, MemFs};
use seglog::store::{LogStore, StoreConfig, StoreOptions};
use seglog::{Durability, LogRecord, ManualClock, ProducerConfig, ProducerRecord, Record};

mod common_crash;
mod common_store;

use common_crash::Rng;
use common_store::{root_dirs, same_record, sync_producer};

const ROOT: &str = "/store";

fn mem_config() -> StoreConfig {
    let mut config = StoreConfig::default();
    config.topic_defaults.log.segment_index_bytes = 4096;
    config
}

/// Opens the store on `fs`; an error or a panic fails the test with `ctx`.
fn open_mem(fs: &MemFs, clock: &ManualClock, ctx: &str) -> LogStore {
    let opened = catch_unwind(AssertUnwindSafe(|| {
        StoreOptions::new()
            .fs(fs.clone())
            .clock(clock.clone())
            .open(ROOT, mem_config())
    }));
    match opened {
        Ok(Ok(store)) => store,
        Ok(Err(e)) => panic!("{ctx}: open failed: {e}"),
        Err(_) => panic!("{ctx}: open panicked"),
    }
}

/// What one partition must hold: the records sent, in offset order from 0,
/// and how many of them were acknowledged as synced.
#[derive(Debug, Clone, Default)]
struct PartModel {
    start: u64,
    records: Vec<Record>,
    synced: u64,
}

type TopicModel = Vec<PartModel>;

fn mem_record(topic: &str, p: u32, i: usize, tag: u64) -> Record {
    let mut rng = Rng::new(tag ^ ((p as u64) << 40) ^ i as u64);
    let len = match rng.below(6) {
        0 => 0,
        // (At most 4 records of at most ~450 bytes in one batch: a batch
        // must fit a 2 KiB segment, see
        // `producer_batches_records_that_each_fit_a_segment`.)
        1 => 200 + rng.below(200) as usize,
        _ => rng.below(200) as usize,
    };
    let value: Vec<u8> = (0..len).map(|j| (j as u64 ^ tag) as u8).collect();
    let mut r = match rng.below(5) {
        0 => Record::tombstone(format!("{topic}-{p}-{i}")),
        1 | 2 => Record::new(value).with_key(format!("{topic}-k{}", rng.below(8))),
        _ => Record::new(value),
    };
    if rng.below(3) == 0 {
        r = r.with_header("h", format!("{tag}/{p}/{i}"));
    }
    r.with_timestamp(10_000 + (tag as i64 % 1000) * 100 + i as i64)
}

/// Sends `n` records to every partition of `topic` with `durability`
/// (single records and small batches), and records them in `model`.
fn produce(
    store: &LogStore,
    topic: &str,
    model: &mut TopicModel,
    n: usize,
    tag: u64,
    durability: Durability,
) {
    let producer = store.producer(ProducerConfig {
        durability: Some(durability),
        ..ProducerConfig::default()
    });
    for (p, part) in model.iter_mut().enumerate() {
        let p = p as u32;
        let mut i = 0;
        while i < n {
            let k = (1 + (i % 4)).min(n - i);
            let sent: Vec<_> = (i..i + k)
                .map(|j| {
                    let r = mem_record(topic, p, part.records.len() + j - i, tag);
                    let d = producer
                        .send(ProducerRecord {
                            topic: topic.to_string(),
                            partition: Some(p),
                            record: r.clone(),
                        })
                        .unwrap();
                    (r, d)
                })
                .collect();
            for (r, d) in sent {
                let meta = d.wait().unwrap();
                assert_eq!(meta.offset, part.records.len() as u64);
                part.records.push(r);
                if durability == Durability::Sync {
                    part.synced = part.records.len() as u64;
                }
            }
            i += k;
        }
    }
    producer.flush().unwrap();
}

/// Checks a partition against its model: it starts where the model does,
/// holds a prefix of the model's records (all of them with `complete`), at
/// least every synced one, with contiguous offsets.
fn check_partition(
    store: &LogStore,
    topic: &str,
    p: u32,
    m: &PartModel,
    complete: bool,
) -> Result<(), String> {
    let log = store.partition(topic, p).map_err(|e| e.to_string())?;
    let start = log.log_start_offset();
    let leo = log.log_end_offset();
    if start != m.start {
        return Err(format!(
            "{topic}-{p}: log start {start}, expected {}",
            m.start
        ));
    }
    let total = m.records.len() as u64;
    if leo > total || leo < m.synced.max(start) || (complete && leo != total) {
        return Err(format!(
            "{topic}-{p}: log end {leo}, expected {} (synced {}, complete {complete})",
            total, m.synced
        ));
    }
    let found: Vec<LogRecord> = log
        .iter(start)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{topic}-{p}: reading: {e}"))?;
    if found.len() as u64 != leo - start {
        return Err(format!(
            "{topic}-{p}: {} records in [{start}, {leo})",
            found.len()
        ));
    }
    for (i, r) in found.iter().enumerate() {
        let o = start + i as u64;
        if r.offset != o {
            return Err(format!(
                "{topic}-{p}: offset {} where {o} belongs",
                r.offset
            ));
        }
        if !same_record(r, &m.records[o as usize]) {
            return Err(format!(
                "{topic}-{p}: offset {o} reads {r:?}, sent {:?}",
                m.records[o as usize]
            ));
        }
    }
    Ok(())
}

fn check_topic(
    store: &LogStore,
    topic: &str,
    m: &TopicModel,
    complete: bool,
) -> Result<(), String> {
    let d = store.describe_topic(topic).map_err(|e| e.to_string())?;
    if d.partitions.len() != m.len() {
        return Err(format!(
            "{topic} has {} partitions, expected {}",
            d.partitions.len(),
            m.len()
        ));
    }
    for (p, pm) in m.iter().enumerate() {
        check_partition(store, topic, p as u32, pm, complete)?;
    }
    Ok(())
}

/// Every partition of every topic takes a synced record at its end and
/// serves it back through a consumer; a keyed record finds a partition.
fn check_usable(store: &LogStore) -> Result<(), String> {
    let producer = sync_producer(store);
    for topic in store.list_topics() {
        let n = store.describe_topic(&topic).unwrap().partitions.len() as u32;
        for p in 0..n {
            let log = store.partition(&topic, p).unwrap();
            let leo = log.log_end_offset();
            let value = format!("probe {topic} {p}");
            let meta = producer
                .send_and_wait(ProducerRecord::new(topic.as_str(), value.clone()).with_partition(p))
                .map_err(|e| format!("{topic}-{p}: produce: {e}"))?;
            if meta.offset != leo {
                return Err(format!(
                    "{topic}-{p}: a new record went to {}, the end was {leo}",
                    meta.offset
                ));
            }
            let mut consumer = store.consumer(Default::default());
            consumer
                .assign(&[(topic.as_str(), p)])
                .map_err(|e| e.to_string())?;
            consumer
                .seek((topic.as_str(), p), leo)
                .map_err(|e| e.to_string())?;
            let got = consumer
                .poll(Duration::from_millis(50))
                .map_err(|e| format!("{topic}-{p}: poll: {e}"))?;
            if got.len() != 1 || got[0].value.as_deref() != Some(value.as_bytes()) {
                return Err(format!(
                    "{topic}-{p}: polled {got:?} after producing at {leo}"
                ));
            }
        }
        producer
            .send_and_wait(ProducerRecord::new(topic.as_str(), "keyed").with_key("any key"))
            .map_err(|e| format!("{topic}: keyed produce: {e}"))?;
    }
    Ok(())
}

/// What a reopened store looks like: topics with their partitions' (log
/// start, log end).
fn summary(store: &LogStore) -> BTreeMap<String, Vec<(u64, u64)>> {
    store
        .list_topics()
        .into_iter()
        .map(|t| {
            let d = store.describe_topic(&t).unwrap();
            let parts = d
                .partitions
                .iter()
                .map(|p| (p.log_start_offset, p.log_end_offset))
                .collect();
            (t, parts)
        })
        .collect()
}

/// Opens a crash image: the open must succeed, and leave no directory
/// that is not a partition of a topic (no `-delete` directories either).
fn reopen(fs: &MemFs, clock: &ManualClock, ctx: &str) -> LogStore {
    let store = open_mem(fs, clock, ctx);
    let report = store.open_report();
    // (Only those still there, see
    // `open_report_names_no_directory_a_finished_deletion_removed`.)
    let unknown: Vec<&PathBuf> = report
        .unknown_directories
        .iter()
        .filter(|d| fs.exists(d).unwrap())
        .collect();
    assert!(unknown.is_empty(), "{ctx}: unknown directories {unknown:?}");
    let mut want: Vec<String> = summary(&store)
        .iter()
        .flat_map(|(t, ps)| (0..ps.len()).map(move |p| format!("{t}-{p}")))
        .collect();
    want.sort();
    assert_eq!(
        root_dirs(fs),
        want,
        "{ctx}: partition directories after the open"
    );
    store
}

/// Checks common to every reopened store: every partition usable; then
/// closes, verifies every partition directory, reopens and
/// finds the same store, and closes again.
fn finish_checks(fs: &MemFs, clock: &ManualClock, store: LogStore, ctx: &str) {
    if let Err(e) = check_usable(&store) {
        panic!("{ctx}: {e}");
    }
    let before = summary(&store);
    store
        .close()
        .unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
    drop(store);
    let mut want: Vec<String> = before
        .iter()
        .flat_map(|(t, ps)| (0..ps.len()).map(move |p| format!("{t}-{p}")))
        .collect();
    want.sort();
    assert_eq!(root_dirs(fs), want, "{ctx}: partition directories");
    for d in &want {
        let path = Path::new(ROOT).join(d);
        verify_partition_dir_with(fs, &path).unwrap_or_else(|e| panic!("{ctx}: verify {d}: {e}"));
    }
    let again = open_mem(fs, clock, &format!("{ctx}, second reopen"));
    assert!(again.open_report().clean_shutdown, "{ctx}: second reopen");
    assert_eq!(summary(&again), before, "{ctx}: second reopen");
    again.close().unwrap();
}

/// The root checkpoint file `name` as (topic, partition) -> offset.
fn root_checkpoint(fs: &MemFs, name: &str) -> Option<BTreeMap<(String, u32), u64>> {
    let bytes = fs.read(&Path::new(ROOT).join(name)).ok()?;
    let text = String::from_utf8(bytes).expect("a checkpoint is text");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("0"), "{name}: version line in {text:?}");
    let count: usize = lines.next().unwrap().parse().unwrap();
    let entries: BTreeMap<(String, u32), u64> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 3, "{name}: {l:?}");
            (
                (f[0].to_string(), f[1].parse().unwrap()),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(entries.len(), count, "{name}: {text:?}");
    Some(entries)
}

/// One crash image to check.
struct Image<'a> {
    /// Whether the operation had finished before the freeze point.
    completed: bool,
    fs: &'a MemFs,
    ctx: String,
}

/// Runs `op` on a fresh store prepared by `setup`, freezing the file system
/// after each sync point in turn, until `op` finishes without reaching
/// it. Each image (durable bytes only, and with torn tails) goes to
/// `check`, which reopens it and returns whether it found the state after
/// the operation (`Some(true)`), before it (`Some(false)`), or `None` if
/// the operation has no such two states. With `crash_open`, the first open
/// of each durable-only image is crashed at each of its own sync points
/// too, and `check` applied to what that leaves (the state must be the
/// same). Returns the number of sync points.
fn sweep<S>(
    what: &str,
    setup: impl Fn(&LogStore, &ManualClock) -> S,
    op: impl Fn(&LogStore, &S),
    crash_open: bool,
    check: impl Fn(&Image<'_>, &S, &ManualClock) -> Option<bool>,
) -> u64 {
    let mut after_seen: BTreeMap<String, u64> = BTreeMap::new();
    for n in 0.. {
        assert!(n < 2_000, "{what}: the operation never finishes");
        let fs = MemFs::new();
        let clock = ManualClock::new(1_000_000);
        let store = open_mem(&fs, &clock, what);
        let state = setup(&store, &clock);
        let base = fs.sync_count();
        fs.freeze_after_syncs(base + n);
        op(&store, &state);
        let completed = fs.sync_count() < base + n;
        let modes = [
            CrashMode::DurableOnly,
            CrashMode::TornTail { seed: n * 31 + 7 },
            CrashMode::TornTail { seed: n * 31 + 8 },
        ];
        let images: Vec<(CrashMode, MemFs)> = modes.iter().map(|m| (*m, fs.crash(*m))).collect();
        drop(store);
        for (mode, crashed) in images {
            let pristine = crashed.crash(CrashMode::DurableOnly);
            let ctx = format!("{what}: frozen after sync {n} of the operation, {mode:?}");
            let image = Image {
                completed,
                fs: &crashed,
                ctx: ctx.clone(),
            };
            let phase = check(&image, &state, &clock);
            if completed {
                assert_ne!(phase, Some(false), "{ctx}: a finished operation undone");
            }
            if n == 0 {
                assert_ne!(phase, Some(true), "{ctx}: done before it started");
            }
            let key = format!("{mode:?}").split(' ').next().unwrap().to_string();
            match phase {
                Some(true) => {
                    after_seen.entry(key).or_insert(n);
                }
                Some(false) => {
                    if let Some(first) = after_seen.get(&key) {
                        panic!("{ctx}: back to the state before, after sync {first} showed the state after");
                    }
                }
                None => {}
            }
            if crash_open && mode == CrashMode::DurableOnly {
                crash_during_open(&pristine, &state, &clock, &ctx, phase, &check);
            }
        }
        if completed {
            eprintln!("{what}: {n} sync points");
            return n;
        }
    }
    unreachable!()
}

/// Opens a copy of `image`, frozen after each sync point of the open in
/// turn, and checks what that crash leaves.
fn crash_during_open<S>(
    image: &MemFs,
    state: &S,
    clock: &ManualClock,
    ctx: &str,
    phase: Option<bool>,
    check: &impl Fn(&Image<'_>, &S, &ManualClock) -> Option<bool>,
) {
    for m in 0.. {
        assert!(m < 2_000, "{ctx}: the open never finishes");
        let copy = image.crash(CrashMode::DurableOnly);
        copy.freeze_after_syncs(m);
        let store = open_mem(&copy, clock, ctx);
        let completed = copy.sync_count() < m;
        let crashed = copy.crash(CrashMode::DurableOnly);
        drop(store);
        let nested = format!("{ctx}, then frozen after sync {m} of the reopen");
        let again = check(
            &Image {
                completed: false,
                fs: &crashed,
                ctx: nested.clone(),
            },
            state,
            clock,
        );
        assert_eq!(
            again, phase,
            "{nested}: the interrupted open changed the state"
        );
        if completed {
            return;
        }
    }
}

fn owned(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const NEW_OVERRIDES: &[(&str, &str)] = &[("segment.bytes", "2048"), ("retention.ms", "-1")];

#[test]
fn power_loss_during_create_topic() {
    let points = sweep(
        "create_topic",
        |store, _| {
            store.create_topic("base", 2, &[]).unwrap();
            let mut m = vec![PartModel::default(); 2];
            produce(store, "base", &mut m, 6, 1, Durability::Sync);
            m
        },
        |store, _| store.create_topic("fresh", 3, NEW_OVERRIDES).unwrap(),
        false,
        |img, base, clock| {
            let ctx = &img.ctx;
            let store = reopen(img.fs, clock, ctx);
            if let Err(e) = check_topic(&store, "base", base, true) {
                panic!("{ctx}: {e}");
            }
            let after = match store.describe_topic("fresh") {
                Ok(d) => {
                    assert_eq!(d.partitions.len(), 3, "{ctx}");
                    assert_eq!(d.overrides, owned(NEW_OVERRIDES), "{ctx}");
                    assert_eq!(d.config.log.segment_bytes, 2048, "{ctx}");
                    let empty = vec![PartModel::default(); 3];
                    if let Err(e) = check_topic(&store, "fresh", &empty, true) {
                        panic!("{ctx}: {e}");
                    }
                    true
                }
                Err(seglog::Error::UnknownTopic { .. }) => {
                    for d in root_dirs(img.fs) {
                        assert!(!d.starts_with("fresh"), "{ctx}: {d} of no topic");
                    }
                    false
                }
                Err(e) => panic!("{ctx}: {e}"),
            };
            assert_eq!(store.list_topics().len(), 1 + usize::from(after), "{ctx}");
            finish_checks(img.fs, clock, store, ctx);
            Some(after)
        },
    );
    assert!(points >= 3, "create_topic made {points} syncs");
}

#[test]
fn power_loss_during_add_partitions() {
    let points = sweep(
        "add_partitions",
        |store, _| {
            store
                .create_topic("grow", 2, &[("segment.bytes", "2048")])
                .unwrap();
            let mut m = vec![PartModel::default(); 2];
            produce(store, "grow", &mut m, 12, 2, Durability::Sync);
            m
        },
        |store, _| store.add_partitions("grow", 5).unwrap(),
        false,
        |img, old, clock| {
            let ctx = &img.ctx;
            let store = reopen(img.fs, clock, ctx);
            let d = store
                .describe_topic("grow")
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let after = match d.partitions.len() {
                2 => false,
                5 => true,
                n => panic!("{ctx}: {n} partitions"),
            };
            assert_eq!(d.overrides, owned(&[("segment.bytes", "2048")]), "{ctx}");
            let mut m = old.clone();
            if after {
                m.resize(5, PartModel::default());
            }
            if let Err(e) = check_topic(&store, "grow", &m, true) {
                panic!("{ctx}: {e}");
            }
            finish_checks(img.fs, clock, store, ctx);
            Some(after)
        },
    );
    assert!(points >= 3, "add_partitions made {points} syncs");
}

#[test]
fn power_loss_during_delete_topic() {
    let points = sweep(
        "delete_topic",
        |store, _| {
            store.create_topic("keep", 1, &[]).unwrap();
            store
                .create_topic("doomed", 3, &[("segment.bytes", "2048")])
                .unwrap();
            let mut keep = vec![PartModel::default(); 1];
            let mut doomed = vec![PartModel::default(); 3];
            produce(store, "keep", &mut keep, 5, 3, Durability::Sync);
            produce(store, "doomed", &mut doomed, 10, 4, Durability::Sync);
            // Some unsynced data too: it goes either way.
            produce(store, "doomed", &mut doomed, 3, 5, Durability::Flush);
            (keep, doomed)
        },
        |store, _| store.delete_topic("doomed").unwrap(),
        true,
        |img, (keep, doomed), clock| {
            let ctx = &img.ctx;
            let store = reopen(img.fs, clock, ctx);
            if let Err(e) = check_topic(&store, "keep", keep, true) {
                panic!("{ctx}: {e}");
            }
            let after = match store.describe_topic("doomed") {
                Ok(_) => {
                    // Fully there: every synced record (the deletion's
                    // close may have synced the rest).
                    if let Err(e) = check_topic(&store, "doomed", doomed, false) {
                        panic!("{ctx}: {e}");
                    }
                    false
                }
                Err(seglog::Error::UnknownTopic { .. }) => {
                    for d in root_dirs(img.fs) {
                        assert!(!d.starts_with("doomed"), "{ctx}: {d} left behind");
                    }
                    // The name can be used again, and starts empty.
                    store.create_topic("doomed", 2, &[]).unwrap();
                    let empty = vec![PartModel::default(); 2];
                    if let Err(e) = check_topic(&store, "doomed", &empty, true) {
                        panic!("{ctx}: re-created: {e}");
                    }
                    true
                }
                Err(e) => panic!("{ctx}: {e}"),
            };
            finish_checks(img.fs, clock, store, ctx);
            Some(after)
        },
    );
    assert!(points >= 4, "delete_topic made {points} syncs");
}

#[test]
fn power_loss_during_close_keeps_acknowledged_data() {
    let points = sweep(
        "close",
        |store, _| {
            store
                .create_topic("data", 3, &[("segment.bytes", "2048")])
                .unwrap();
            store.create_topic("other", 1, &[]).unwrap();
            let mut data = vec![PartModel::default(); 3];
            let mut other = vec![PartModel::default(); 1];
            produce(store, "data", &mut data, 8, 6, Durability::Sync);
            produce(store, "other", &mut other, 4, 7, Durability::Sync);
            // Acknowledged without fsync: durable only once close syncs.
            produce(store, "data", &mut data, 9, 8, Durability::Flush);
            produce(store, "data", &mut data, 4, 9, Durability::None);
            produce(store, "other", &mut other, 2, 10, Durability::Flush);
            (data, other)
        },
        |store, _| store.close().unwrap(),
        true,
        |img, (data, other), clock| {
            let ctx = &img.ctx;
            let clean_marker = img
                .fs
                .exists(&Path::new(ROOT).join(".kafka_cleanshutdown"))
                .unwrap();
            let recovery_points = root_checkpoint(img.fs, "recovery-point-offset-checkpoint");
            let store = reopen(img.fs, clock, ctx);
            let report = store.open_report().clone();
            assert_eq!(report.clean_shutdown, clean_marker, "{ctx}: {report:?}");
            if clean_marker {
                assert_eq!(report.partitions_recovered, 0, "{ctx}: {report:?}");
            }
            // A clean shutdown has everything; otherwise a prefix with
            // every synced record.
            for (t, m) in [("data", data), ("other", other)] {
                if let Err(e) = check_topic(&store, t, m, clean_marker) {
                    panic!("{ctx}: {e}");
                }
            }
            if img.completed {
                assert!(clean_marker, "{ctx}: a finished close left no marker");
            }
            // A recovery point in the root checkpoint is never beyond the
            // data that survived.
            for ((t, p), offset) in recovery_points.unwrap_or_default() {
                let leo = store.partition(&t, p).unwrap().log_end_offset();
                assert!(
                    offset <= leo,
                    "{ctx}: checkpointed recovery point {offset} of {t}-{p} beyond its end {leo}"
                );
            }
            finish_checks(img.fs, clock, store, ctx);
            None
        },
    );
    assert!(points >= 5, "close made {points} syncs");
}

#[test]
fn power_loss_during_maintain_keeps_acknowledged_data() {
    let points = sweep(
        "maintain",
        |store, clock| {
            store
                .create_topic(
                    "aged",
                    2,
                    &[
                        ("segment.bytes", "2048"),
                        ("retention.ms", "60000"),
                        ("file.delete.delay.ms", "0"),
                    ],
                )
                .unwrap();
            store
                .create_topic("moved", 1, &[("segment.bytes", "2048")])
                .unwrap();
            let mut aged = vec![PartModel::default(); 2];
            let mut moved = vec![PartModel::default(); 1];
            produce(store, "aged", &mut aged, 10, 11, Durability::Sync);
            produce(store, "moved", &mut moved, 10, 12, Durability::Sync);
            // Rolled segments left unsynced, and a moved log start.
            produce(store, "aged", &mut aged, 6, 13, Durability::Flush);
            produce(store, "moved", &mut moved, 6, 14, Durability::Flush);
            moved[0].start = store.delete_records("moved", 0, 5).unwrap();
            assert_eq!(moved[0].start, 5);
            // The records' timestamps are around 10 s; at 2 000 s the
            // closed segments of "aged" are past retention.
            clock.set(2_000_000);
            (aged, moved)
        },
        |store, _| {
            let report = store.maintain().unwrap();
            assert!(report.errors.is_empty(), "{:?}", report.errors);
            assert!(report.segments_deleted > 0, "{report:?}");
        },
        true,
        |img, (aged, moved), clock| {
            let ctx = &img.ctx;
            let store = reopen(img.fs, clock, ctx);
            if let Err(e) = check_topic(&store, "moved", moved, false) {
                panic!("{ctx}: {e}");
            }
            for (p, m) in aged.iter().enumerate() {
                let log = store.partition("aged", p as u32).unwrap();
                // Retention may or may not have happened: check from
                // wherever the log starts now.
                let mut m = m.clone();
                m.start = log.log_start_offset();
                if let Err(e) = check_partition(&store, "aged", p as u32, &m, false) {
                    panic!("{ctx}: {e}");
                }
            }
            finish_checks(img.fs, clock, store, ctx);
            None
        },
    );
    assert!(points >= 3, "maintain made {points} syncs");
}

/// A topic deleted and created again must start empty at offset 0, even
/// when a crash interrupts the creation: the root checkpoint files still
/// named the old topic's offsets until its deletion was finished, and a
/// stale entry must never be taken as the new partition's state.
#[test]
fn power_loss_while_recreating_a_deleted_topic() {
    sweep(
        "re-create",
        |store, _| {
            store.create_topic("again", 2, &[]).unwrap();
            let mut m = vec![PartModel::default(); 2];
            produce(store, "again", &mut m, 20, 15, Durability::Sync);
            store.delete_records("again", 0, 12).unwrap();
            store.delete_records("again", 1, 7).unwrap();
            // The root checkpoints now name again-0 and again-1.
            store.maintain().unwrap();
            store.delete_topic("again").unwrap();
        },
        |store, _| store.create_topic("again", 2, &[]).unwrap(),
        false,
        |img, _, clock| {
            let ctx = &img.ctx;
            let store = reopen(img.fs, clock, ctx);
            let after = match store.describe_topic("again") {
                Ok(d) => {
                    for p in &d.partitions {
                        assert_eq!(
                            (p.log_start_offset, p.log_end_offset),
                            (0, 0),
                            "{ctx}: the re-created again-{} is not empty at 0",
                            p.partition
                        );
                    }
                    true
                }
                Err(seglog::Error::UnknownTopic { .. }) => false,
                Err(e) => panic!("{ctx}: {e}"),
            };
            finish_checks(img.fs, clock, store, ctx);
            Some(after)
        },
    );
}

/// After a crash that interrupted a topic deletion, the open finishes it
/// (the directories go), and its report names none of the removed
/// partition directories as unknown ones.
#[test]
fn open_report_names_no_directory_a_finished_deletion_removed() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000_000);
    let store = open_mem(&fs, &clock, "setup");
    store.create_topic("gone", 2, &[]).unwrap();
    let mut m = vec![PartModel::default(); 2];
    produce(&store, "gone", &mut m, 3, 16, Durability::Sync);
    // Frozen right after the `deleting` entry is committed (the
    // temporary file's fsync, then the directory's).
    fs.freeze_after_syncs(fs.sync_count() + 2);
    store.delete_topic("gone").unwrap();
    let crashed = fs.crash(CrashMode::DurableOnly);
    drop(store);
    assert!(crashed.exists(Path::new("/store/gone-0")).unwrap());
    let store = open_mem(&crashed, &clock, "reopen");
    let report = store.open_report().clone();
    assert_eq!(report.deletions_finished, 1, "{report:?}");
    assert!(store.list_topics().is_empty());
    assert!(root_dirs(&crashed).is_empty(), "{:?}", root_dirs(&crashed));
    assert!(
        report.unknown_directories.is_empty(),
        "the report names directories that are gone: {:?}",
        report.unknown_directories
    );
}

/// Records that each fit a segment are never batched by the producer into
/// one batch larger than the segment, which the log would refuse (as
/// Kafka's broker does): a batch is capped at the smaller of
/// `max.message.bytes` and `segment.bytes`.
#[test]
fn producer_batches_records_that_each_fit_a_segment() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000_000);
    let store = open_mem(&fs, &clock, "open");
    store
        .create_topic("small", 1, &[("segment.bytes", "1024")])
        .unwrap();
    let producer = store.producer(ProducerConfig::default());
    let sent: Vec<_> = (0..4)
        .map(|i| {
            producer
                .send(ProducerRecord::new("small", vec![i as u8; 400]).with_partition(0))
                .unwrap()
        })
        .collect();
    for (i, d) in sent.into_iter().enumerate() {
        match d.wait() {
            Ok(meta) => assert_eq!(meta.offset, i as u64),
            Err(e) => panic!("record {i} of 400 bytes, in a topic of 1 KiB segments: {e}"),
        }
    }
    store.close().unwrap();
}

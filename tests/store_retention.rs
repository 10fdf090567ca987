//! Retention and maintenance at the `LogStore` level: `maintain()` and its
//! report, `delete_records`, `file.delete.delay.ms`, per-partition errors,
//! and the background maintenance thread.
//!
//! The property test drives a store on `MemFs` with a manual clock through
//! random produces, clock moves, `delete_records`, maintenance passes and
//! reopens, against a model of every record produced (offset -> value,
//! timestamp) and of the deleted segment files waiting for their delay.
//! Each maintenance pass is checked against `seglog::retention::plan`
//! computed from the model: exactly the segments the plan names go (no
//! more, no fewer), and afterwards nothing more is due (Kafka's rules:
//! a prefix of expired segments by time, the size rule by bytes).
//!
//! The seed is fixed, so runs are repeatable; set
//! `SEGLOG_STORE_RETENTION_SEED` for another one and
//! `SEGLOG_STORE_RETENTION_CASES` for more cases (default 64).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError};

use seglog::io::{Fault, Fs, FsOp, MemFs};
use seglog::retention::{plan, RetentionPlan, RetentionPolicy, SegmentMeta};
use seglog::store::{MaintenanceReport, StoreOptions};
use seglog::{
    AutoOffsetReset, Clock, ConsumerConfig, Error, LogStore, ManualClock, PartitionLog, Producer,
    ProducerRecord, SegmentInfo, StoreConfig, TopicPartition,
};

const ROOT: &str = "/store";
const TOPIC: &str = "t";
/// A clock far from the epoch.
const T0: i64 = 1_700_000_000_000;

fn store_config() -> StoreConfig {
    let mut config = StoreConfig::default();
    // No 10 MiB index preallocations on MemFs.
    config.topic_defaults.log.segment_index_bytes = 4_096;
    config
}

fn open(fs: &MemFs, clock: &ManualClock) -> LogStore {
    StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(ROOT, store_config())
        .unwrap()
}

fn partition_dir(topic: &str, partition: u32) -> PathBuf {
    Path::new(ROOT).join(format!("{topic}-{partition}"))
}

/// Names of the files in a partition's directory ending with `suffix`.
fn files(fs: &MemFs, topic: &str, partition: u32, suffix: &str) -> BTreeSet<String> {
    fs.list_dir(&partition_dir(topic, partition))
        .unwrap()
        .into_iter()
        .filter(|e| !e.is_dir && e.name.ends_with(suffix))
        .map(|e| e.name)
        .collect()
}

/// Base offsets of the `.log.deleted` files in a partition's directory.
fn deleted_bases(fs: &MemFs, topic: &str, partition: u32) -> BTreeSet<u64> {
    files(fs, topic, partition, ".log.deleted")
        .iter()
        .map(|n| n.trim_end_matches(".log.deleted").parse().unwrap())
        .collect()
}

/// The value of the record at `offset` of `partition`: unique, `len`
/// bytes or a little more.
fn value_for(partition: u32, offset: u64, len: usize) -> Vec<u8> {
    let mut v = format!("{partition}:{offset}:").into_bytes();
    let n = v.len();
    v.extend((0..len.saturating_sub(n)).map(|i| b'a' + (i % 26) as u8));
    v
}

/// Sends `n` records of about 100 bytes stamped `timestamp` to
/// `partition`, each its own batch; returns the last offset.
fn produce(store: &LogStore, topic: &str, partition: u32, n: usize, timestamp: i64) -> u64 {
    let producer = store.producer(Default::default());
    let mut last = 0;
    for _ in 0..n {
        let offset = store.partition(topic, partition).unwrap().log_end_offset();
        let meta = producer
            .send_and_wait(
                ProducerRecord::new(topic, value_for(partition, offset, 100))
                    .with_partition(partition)
                    .with_timestamp(timestamp),
            )
            .unwrap();
        assert_eq!(meta.offset, offset);
        last = meta.offset;
    }
    last
}

fn bases(segments: &[SegmentInfo]) -> Vec<u64> {
    segments.iter().map(|s| s.base_offset).collect()
}

// ---------------------------------------------------------------------
// The property test
// ---------------------------------------------------------------------

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn proptest_config() -> Config {
    Config {
        cases: u32::try_from(env_u64("SEGLOG_STORE_RETENTION_CASES", 64)).unwrap_or(u32::MAX),
        rng_seed: RngSeed::Fixed(env_u64("SEGLOG_STORE_RETENTION_SEED", 0x5E6_570E)),
        failure_persistence: None,
        ..Config::default()
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// `count` records to `partition`, stamped `now - age_ms`, values of
    /// `len` bytes; one batch for all of them if `batched`, else one each.
    Produce {
        partition: u32,
        count: usize,
        age_ms: i64,
        len: usize,
        batched: bool,
    },
    /// Moves the clock forward.
    Advance(i64),
    /// `delete_records` to `pick % (log end + 3)`: below the start, in
    /// range, or past the high watermark.
    DeleteRecords { partition: u32, pick: u64 },
    /// `store.maintain()`.
    Maintain,
    /// Close and open again.
    Reopen,
    /// Roll the partition's active segment by hand.
    Roll(u32),
}

#[derive(Debug, Clone)]
struct Case {
    partitions: u32,
    retention_ms: Option<u64>,
    retention_bytes: Option<u64>,
    delay_ms: u64,
    segment_bytes: u64,
    segment_ms: Option<u64>,
    index_interval_bytes: Option<u32>,
    /// Open files and loaded indexes at most (the store's bounds), or the
    /// defaults.
    resources: Option<(usize, usize)>,
    ops: Vec<Op>,
}

fn op(partitions: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (
            0..partitions,
            1..=10usize,
            prop_oneof![4 => 0..=400_000i64, 1 => -5_000..=0i64],
            0..=80usize,
            any::<bool>(),
        )
            .prop_map(|(partition, count, age_ms, len, batched)| Op::Produce {
                partition,
                count,
                age_ms,
                len,
                batched,
            }),
        4 => prop_oneof![0..=2_000i64, 0..=200_000i64].prop_map(Op::Advance),
        2 => (0..partitions, any::<u64>())
            .prop_map(|(partition, pick)| Op::DeleteRecords { partition, pick }),
        4 => Just(Op::Maintain),
        1 => Just(Op::Reopen),
        1 => (0..partitions).prop_map(Op::Roll),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (2..=3u32)
        .prop_flat_map(|partitions| {
            (
                Just(partitions),
                proptest::option::weighted(0.75, 1_000..=300_000u64),
                proptest::option::weighted(0.5, 300..=2_500u64),
                prop_oneof![Just(0u64), 1..=5_000u64, 1..=200_000u64],
                400..=1_500u64,
                proptest::option::weighted(0.3, 1_000..=300_000u64),
                proptest::option::weighted(0.3, 0..=300u32),
                proptest::option::weighted(0.3, (1..=3usize, 1..=3usize)),
                proptest::collection::vec(op(partitions), 1..=80),
            )
        })
        .prop_map(
            |(
                partitions,
                retention_ms,
                retention_bytes,
                delay_ms,
                segment_bytes,
                segment_ms,
                index_interval_bytes,
                resources,
                ops,
            )| Case {
                partitions,
                retention_ms,
                retention_bytes,
                delay_ms,
                segment_bytes,
                segment_ms,
                index_interval_bytes,
                resources,
                ops,
            },
        )
}

fn fail(what: impl std::fmt::Display, e: impl std::fmt::Debug) -> TestCaseError {
    TestCaseError::fail(format!("{what}: {e:?}"))
}

/// What the model knows of one partition.
#[derive(Debug, Default)]
struct PartitionModel {
    /// Every record ever produced, by offset: (value, timestamp).
    records: Vec<(Vec<u8>, i64)>,
    /// The log start offset.
    start: u64,
    /// Deleted segments whose files wait for the delay: (base, due).
    pending: Vec<(u64, i64)>,
}

impl PartitionModel {
    fn leo(&self) -> u64 {
        self.records.len() as u64
    }

    /// The largest timestamp of the records in `[from, to)`, or -1.
    fn max_timestamp(&self, from: u64, to: u64) -> i64 {
        self.records[from as usize..to as usize]
            .iter()
            .map(|(_, ts)| *ts)
            .max()
            .unwrap_or(-1)
    }

    /// The planner's view of `segments`, timestamps from the model.
    fn metas(&self, segments: &[SegmentInfo]) -> Vec<SegmentMeta> {
        segments
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let next = segments.get(i + 1).map_or(self.leo(), |n| n.base_offset);
                SegmentMeta {
                    base_offset: s.base_offset,
                    size: s.size,
                    largest_timestamp: self.max_timestamp(s.base_offset, next),
                    next_offset: next,
                }
            })
            .collect()
    }
}

struct Harness {
    fs: MemFs,
    clock: ManualClock,
    config: StoreConfig,
    store: LogStore,
    producer: Producer,
    policy: RetentionPolicy,
    delay_ms: u64,
    parts: Vec<PartitionModel>,
}

impl Harness {
    fn new(case: &Case) -> Result<Self, TestCaseError> {
        let fs = MemFs::new();
        let clock = ManualClock::new(T0);
        let mut config = store_config();
        if let Some((files, indexes)) = case.resources {
            config.max_open_files = files;
            config.max_loaded_indexes = indexes;
        }
        let store = StoreOptions::new()
            .fs(fs.clone())
            .clock(clock.clone())
            .open(ROOT, config.clone())
            .map_err(|e| fail("open", e))?;
        let retention_ms = case
            .retention_ms
            .map_or_else(|| "-1".to_string(), |v| v.to_string());
        let retention_bytes = case
            .retention_bytes
            .map_or_else(|| "-1".to_string(), |v| v.to_string());
        let delay = case.delay_ms.to_string();
        let segment_bytes = case.segment_bytes.to_string();
        let segment_ms = case.segment_ms.map(|v| v.to_string());
        let index_interval = case.index_interval_bytes.map(|v| v.to_string());
        let mut overrides = vec![
            ("retention.ms", retention_ms.as_str()),
            ("retention.bytes", retention_bytes.as_str()),
            ("file.delete.delay.ms", delay.as_str()),
            ("segment.bytes", segment_bytes.as_str()),
        ];
        if let Some(ms) = &segment_ms {
            overrides.push(("segment.ms", ms));
        }
        if let Some(bytes) = &index_interval {
            overrides.push(("index.interval.bytes", bytes));
        }
        store
            .create_topic(TOPIC, case.partitions, &overrides)
            .map_err(|e| fail("create_topic", e))?;
        let topic = store.describe_topic(TOPIC).unwrap().config;
        prop_assert_eq!(topic.retention_ms, case.retention_ms);
        prop_assert_eq!(topic.retention_bytes, case.retention_bytes);
        prop_assert_eq!(topic.file_delete_delay_ms, case.delay_ms);
        prop_assert_eq!(topic.log.segment_bytes, case.segment_bytes);
        prop_assert_eq!(topic.log.segment_index_bytes, 4_096);
        let producer = store.producer(Default::default());
        Ok(Harness {
            fs,
            clock,
            config,
            store,
            producer,
            policy: RetentionPolicy {
                retention_ms: case.retention_ms,
                retention_bytes: case.retention_bytes,
                delete_enabled: true,
            },
            delay_ms: case.delay_ms,
            parts: (0..case.partitions)
                .map(|_| PartitionModel::default())
                .collect(),
        })
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    fn log(&self, partition: u32) -> Result<PartitionLog, TestCaseError> {
        self.store
            .partition(TOPIC, partition)
            .map_err(|e| fail(format!("partition {partition}"), e))
    }

    fn segments(&self) -> Result<Vec<Vec<SegmentInfo>>, TestCaseError> {
        (0..self.parts.len() as u32)
            .map(|p| Ok(self.log(p)?.segments()))
            .collect()
    }

    /// Segments deleted by a retention step (`before` minus `after`) now
    /// wait for the delay, or are gone at once without one.
    fn schedule(&mut self, partition: usize, deleted: &[u64]) {
        if self.delay_ms > 0 {
            let due = self.now() + self.delay_ms as i64;
            self.parts[partition]
                .pending
                .extend(deleted.iter().map(|&b| (b, due)));
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let before = self.segments()?;
        match *op {
            Op::Produce {
                partition,
                count,
                age_ms,
                len,
                batched,
            } => {
                let timestamp = self.now() - age_ms;
                let model = &mut self.parts[partition as usize];
                let first = model.leo();
                let records: Vec<(u64, Vec<u8>)> = (0..count as u64)
                    .map(|i| (first + i, value_for(partition, first + i, len)))
                    .collect();
                let mut metas = Vec::new();
                if batched {
                    // Batches of up to 3 records: within the smallest
                    // segment size (a batch must fit a segment).
                    for chunk in records.chunks(3) {
                        let mut deliveries = Vec::new();
                        for (_, v) in chunk {
                            let r = ProducerRecord::new(TOPIC, v.clone())
                                .with_partition(partition)
                                .with_timestamp(timestamp);
                            deliveries.push(self.producer.send(r).map_err(|e| fail("send", e))?);
                        }
                        self.producer.flush().map_err(|e| fail("flush", e))?;
                        for d in deliveries {
                            metas.push(d.wait().map_err(|e| fail("wait", e))?);
                        }
                    }
                } else {
                    for (_, v) in &records {
                        let r = ProducerRecord::new(TOPIC, v.clone())
                            .with_partition(partition)
                            .with_timestamp(timestamp);
                        metas.push(
                            self.producer
                                .send_and_wait(r)
                                .map_err(|e| fail("send_and_wait", e))?,
                        );
                    }
                }
                for ((offset, value), meta) in records.into_iter().zip(metas) {
                    prop_assert_eq!(meta.partition, partition);
                    prop_assert_eq!(meta.offset, offset);
                    prop_assert_eq!(meta.timestamp, timestamp);
                    model.records.push((value, timestamp));
                }
                // Appends only add segments.
                let after = self.log(partition)?.segments();
                let now: BTreeSet<u64> = bases(&after).into_iter().collect();
                for b in bases(&before[partition as usize]) {
                    prop_assert!(now.contains(&b), "append removed segment {}", b);
                }
            }
            Op::Advance(ms) => self.clock.advance(ms),
            Op::Roll(partition) => {
                let log = self.log(partition)?;
                log.roll().map_err(|e| fail("roll", e))?;
                let after = bases(&log.segments());
                let mut expected = bases(&before[partition as usize]);
                if before[partition as usize]
                    .last()
                    .is_some_and(|s| s.size > 0)
                {
                    expected.push(self.parts[partition as usize].leo());
                }
                prop_assert_eq!(after, expected);
            }
            Op::DeleteRecords { partition, pick } => {
                let p = partition as usize;
                let (start, leo) = (self.parts[p].start, self.parts[p].leo());
                let target = pick % (leo + 3);
                let result = self.store.delete_records(TOPIC, partition, target);
                if target > leo {
                    match result {
                        Err(Error::OffsetOutOfRange {
                            requested,
                            earliest,
                            latest,
                        }) => {
                            prop_assert_eq!(requested, target);
                            prop_assert_eq!(earliest, start);
                            prop_assert_eq!(latest, leo);
                        }
                        other => {
                            return Err(fail(
                                format!("delete_records({target}) past the high watermark {leo}"),
                                other,
                            ))
                        }
                    }
                    prop_assert_eq!(&self.log(partition)?.segments(), &before[p]);
                } else {
                    let new_start = result.map_err(|e| fail("delete_records", e))?;
                    prop_assert_eq!(new_start, start.max(target));
                    self.parts[p].start = new_start;
                    // Exactly the segments wholly below the new start go,
                    // never the active one.
                    let segs = &before[p];
                    let doomed: Vec<u64> = segs
                        .windows(2)
                        .take_while(|w| w[1].base_offset <= new_start)
                        .map(|w| w[0].base_offset)
                        .collect();
                    let after = self.log(partition)?.segments();
                    prop_assert_eq!(&after[..], &segs[doomed.len()..]);
                    self.schedule(p, &doomed);
                }
            }
            Op::Maintain => self.maintain(&before)?,
            Op::Reopen => {
                self.producer.flush().map_err(|e| fail("flush", e))?;
                self.store.close().map_err(|e| fail("close", e))?;
                let store = StoreOptions::new()
                    .fs(self.fs.clone())
                    .clock(self.clock.clone())
                    .open(ROOT, self.config.clone())
                    .map_err(|e| fail("reopen", e))?;
                prop_assert!(store.open_report().clean_shutdown);
                self.producer = store.producer(Default::default());
                self.store = store;
                // Closing removed the pending files.
                for part in &mut self.parts {
                    part.pending.clear();
                }
                let after = self.segments()?;
                for (p, (b, a)) in before.iter().zip(&after).enumerate() {
                    prop_assert_eq!(bases(b), bases(a), "segments of partition {} changed", p);
                }
            }
        }
        self.check()
    }

    fn maintain(&mut self, before: &[Vec<SegmentInfo>]) -> Result<(), TestCaseError> {
        let now = self.now();
        let plans: Vec<RetentionPlan> = self
            .parts
            .iter()
            .zip(before)
            .map(|(m, segs)| plan(&m.metas(segs), m.start, m.leo(), now, &self.policy))
            .collect();
        let deleted_before: Vec<BTreeSet<String>> = (0..self.parts.len() as u32)
            .map(|p| files(&self.fs, TOPIC, p, ".deleted"))
            .collect();

        let report = self.store.maintain().map_err(|e| fail("maintain", e))?;

        prop_assert!(report.errors.is_empty(), "errors: {:?}", report.errors);
        prop_assert_eq!(report.partitions, self.parts.len());
        let mut segments_deleted = 0;
        let mut bytes_freed = 0;
        let mut files_removed = 0;
        for p in 0..self.parts.len() {
            let expected = &plans[p];
            let segs = &before[p];
            let after = self.log(p as u32)?.segments();
            // Exactly the plan: no more, no fewer; the active one stays.
            prop_assert!(expected.delete.len() < segs.len());
            prop_assert_eq!(
                &after[..],
                &segs[expected.delete.len()..],
                "partition {}: plan {:?}",
                p,
                expected
            );
            prop_assert_eq!(
                self.log(p as u32)?.log_start_offset(),
                expected.new_log_start_offset,
                "partition {}",
                p
            );
            self.parts[p].start = expected.new_log_start_offset;
            segments_deleted += expected.delete.len();
            bytes_freed += segs[..expected.delete.len()]
                .iter()
                .map(|s| s.size)
                .sum::<u64>();
            // Files whose delay passed are removed in the same pass.
            self.parts[p].pending.retain(|&(_, due)| due > now);
            let doomed = bases(&segs[..expected.delete.len()]);
            self.schedule(p, &doomed);
            let deleted_after = files(&self.fs, TOPIC, p as u32, ".deleted");
            files_removed += deleted_before[p].difference(&deleted_after).count();

            // Nothing more is due: the plan over what is left is empty.
            let m = &self.parts[p];
            let metas = m.metas(&after);
            let again = plan(&metas, m.start, m.leo(), now, &self.policy);
            prop_assert!(again.is_empty(), "partition {}: still due {:?}", p, again);
            if after.len() > 1 {
                // Kafka's size rule: deleting the oldest segment would
                // take the partition below retention.bytes.
                if let Some(limit) = self.policy.retention_bytes {
                    let total: u64 = after.iter().map(|s| s.size).sum();
                    prop_assert!(
                        total < limit + after[0].size,
                        "partition {}: {} bytes, limit {}, oldest {}",
                        p,
                        total,
                        limit,
                        after[0].size
                    );
                }
                // Kafka's time rule: the oldest segment is not expired
                // (later ones may be; they wait behind it).
                if let Some(limit) = self.policy.retention_ms {
                    let ts = metas[0].largest_timestamp;
                    prop_assert!(ts >= 0);
                    prop_assert!(
                        now - ts <= limit as i64,
                        "partition {}: oldest segment's newest record {} ms old, limit {}",
                        p,
                        now - ts,
                        limit
                    );
                }
            }
        }
        prop_assert_eq!(report.segments_deleted, segments_deleted);
        prop_assert_eq!(report.bytes_freed, bytes_freed);
        prop_assert_eq!(report.files_removed, files_removed);
        Ok(())
    }

    /// The invariants that hold after every step.
    fn check(&self) -> Result<(), TestCaseError> {
        let description = self
            .store
            .describe_topic(TOPIC)
            .map_err(|e| fail("describe_topic", e))?;
        prop_assert_eq!(description.partitions.len(), self.parts.len());
        for (p, m) in self.parts.iter().enumerate() {
            let log = self.log(p as u32)?;
            let (start, leo) = (m.start, m.leo());
            prop_assert_eq!(log.log_start_offset(), start, "partition {}", p);
            prop_assert_eq!(log.log_end_offset(), leo, "partition {}", p);
            prop_assert!(start <= leo);

            let segs = log.segments();
            prop_assert!(!segs.is_empty());
            for (i, s) in segs.iter().enumerate() {
                prop_assert_eq!(s.active, i + 1 == segs.len());
                if let Some(next) = segs.get(i + 1) {
                    prop_assert!(s.base_offset < next.base_offset);
                    prop_assert!(s.size > 0, "empty sealed segment {:?}", s);
                }
            }
            // Nothing at or above the log start is gone. (A segment that
            // rolled after the start passed it may lie wholly below the
            // start until the next retention pass, as in Kafka.)
            prop_assert!(segs[0].base_offset <= start, "partition {}: {:?}", p, segs);
            prop_assert!(segs.last().unwrap().base_offset <= leo);

            let d = &description.partitions[p];
            prop_assert_eq!(d.partition, p as u32);
            prop_assert_eq!(d.log_start_offset, start);
            prop_assert_eq!(d.log_end_offset, leo);
            prop_assert_eq!(d.high_watermark, leo);
            prop_assert_eq!(d.segments, segs.len());
            prop_assert_eq!(d.size_bytes, segs.iter().map(|s| s.size).sum::<u64>());

            // Every offset from the start to the end reads back as
            // produced.
            let mut expected = start;
            for r in log.iter(start) {
                let r = r.map_err(|e| fail(format!("partition {p}: read at {expected}"), e))?;
                prop_assert_eq!(r.offset, expected, "partition {}", p);
                let (value, ts) = &m.records[r.offset as usize];
                prop_assert_eq!(
                    r.value.as_ref(),
                    Some(value),
                    "partition {} offset {}",
                    p,
                    r.offset
                );
                prop_assert_eq!(r.timestamp, *ts);
                expected += 1;
            }
            prop_assert_eq!(expected, leo, "partition {}: records stop early", p);
            // Nothing below the start, or past the end, is served.
            if start > 0 {
                match log.read(start - 1, 1 << 20) {
                    Err(Error::OffsetOutOfRange { earliest, .. }) => {
                        prop_assert_eq!(earliest, start)
                    }
                    other => return Err(fail(format!("partition {p}: read below start"), other)),
                }
            }
            let past_end = matches!(
                log.read(leo + 1, 1 << 20),
                Err(Error::OffsetOutOfRange { .. })
            );
            prop_assert!(past_end, "partition {}: read past the end", p);
            prop_assert!(log
                .read(leo, 1 << 20)
                .map_err(|e| fail("read at end", e))?
                .is_empty());

            // Deleted segments' files stay exactly while their delay runs.
            let pending: BTreeSet<u64> = m.pending.iter().map(|&(b, _)| b).collect();
            prop_assert_eq!(
                deleted_bases(&self.fs, TOPIC, p as u32),
                pending,
                "partition {}",
                p
            );
        }
        self.check_consumer()
    }

    /// A consumer reads every partition from its start to its end, and
    /// is refused below the start.
    fn check_consumer(&self) -> Result<(), TestCaseError> {
        let mut consumer = self.store.consumer(ConsumerConfig {
            auto_offset_reset: AutoOffsetReset::Error,
            ..ConsumerConfig::default()
        });
        let tps: Vec<(&str, u32)> = (0..self.parts.len() as u32).map(|p| (TOPIC, p)).collect();
        consumer.assign(&tps).map_err(|e| fail("assign", e))?;
        for (p, m) in self.parts.iter().enumerate() {
            consumer
                .seek((TOPIC, p as u32), m.start)
                .map_err(|e| fail("seek", e))?;
        }
        let mut next: Vec<u64> = self.parts.iter().map(|m| m.start).collect();
        loop {
            let records = consumer.poll(Duration::ZERO).map_err(|e| fail("poll", e))?;
            if records.is_empty() {
                break;
            }
            for r in records {
                let p = r.partition as usize;
                prop_assert_eq!(r.offset, next[p], "partition {}", p);
                prop_assert_eq!(
                    r.value.as_ref(),
                    Some(&self.parts[p].records[r.offset as usize].0)
                );
                next[p] += 1;
            }
        }
        for (p, m) in self.parts.iter().enumerate() {
            prop_assert_eq!(
                next[p],
                m.leo(),
                "consumer stopped early in partition {}",
                p
            );
        }
        for (p, m) in self.parts.iter().enumerate() {
            if m.start == 0 {
                continue;
            }
            let mut c = self.store.consumer(ConsumerConfig {
                auto_offset_reset: AutoOffsetReset::Error,
                ..ConsumerConfig::default()
            });
            c.assign(&[(TOPIC, p as u32)])
                .map_err(|e| fail("assign", e))?;
            c.seek((TOPIC, p as u32), m.start - 1)
                .map_err(|e| fail("seek", e))?;
            match c.poll(Duration::ZERO) {
                Err(Error::OffsetOutOfRange { earliest, .. }) => prop_assert_eq!(earliest, m.start),
                other => return Err(fail(format!("partition {p}: poll below start"), other)),
            }
        }
        Ok(())
    }
}

fn run(case: &Case) -> Result<(), TestCaseError> {
    let mut h = Harness::new(case)?;
    for (i, op) in case.ops.iter().enumerate() {
        h.apply(op)
            .map_err(|e| TestCaseError::fail(format!("step {i} {op:?}: {e}")))?;
    }
    h.producer.flush().map_err(|e| fail("flush", e))?;
    h.store.close().map_err(|e| fail("close", e))?;
    Ok(())
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn retention_keeps_the_store_invariants(case in case()) {
        run(&case)?;
    }
}

// ---------------------------------------------------------------------
// maintain() and its report
// ---------------------------------------------------------------------

/// Partition 0 and 1 of `TOPIC` get 20 records stamped `T0`, then 5
/// stamped `T0 + 100 s`; with 1,000-byte segments of 5 records each, the
/// old records fill segments 0, 5, 10 and 15, and segment 20 is active.
fn old_and_new(store: &LogStore, partitions: u32) {
    for p in 0..partitions {
        produce(store, TOPIC, p, 20, T0);
        produce(store, TOPIC, p, 5, T0 + 100_000);
        assert_eq!(
            bases(&store.partition(TOPIC, p).unwrap().segments()),
            [0, 5, 10, 15, 20],
            "partition {p}: records do not fill segments as this test expects"
        );
    }
}

fn sizes(store: &LogStore, p: u32) -> Vec<u64> {
    store
        .partition(TOPIC, p)
        .unwrap()
        .segments()
        .iter()
        .map(|s| s.size)
        .collect()
}

fn assert_no_errors(report: &MaintenanceReport) {
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

#[test]
fn maintain_deletes_expired_segments_and_reports_them() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 60_000);
    let store = open(&fs, &clock);
    store
        .create_topic(
            TOPIC,
            2,
            &[
                ("retention.ms", "60000"),
                ("segment.bytes", "1000"),
                ("file.delete.delay.ms", "0"),
            ],
        )
        .unwrap();
    store.create_topic("other", 1, &[]).unwrap();
    produce(&store, "other", 0, 3, 0);
    old_and_new(&store, 2);
    let freed: u64 = (0..2)
        .map(|p| sizes(&store, p)[..4].iter().sum::<u64>())
        .sum();

    // The old records are exactly 60 s old: not expired yet (Kafka
    // compares strictly).
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(report.partitions, 3);
    assert_eq!(report.segments_deleted, 0);
    assert_eq!(report.bytes_freed, 0);
    assert_eq!(report.files_removed, 0);

    clock.set(T0 + 60_001);
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(report.partitions, 3);
    assert_eq!(report.segments_deleted, 8);
    assert_eq!(report.bytes_freed, freed);
    // Without a delay the files go at once; `files_removed` counts only
    // files whose delay ran out.
    assert_eq!(report.files_removed, 0);
    for p in 0..2 {
        let log = store.partition(TOPIC, p).unwrap();
        assert_eq!(log.log_start_offset(), 20);
        assert_eq!(log.log_end_offset(), 25);
        assert_eq!(bases(&log.segments()), [20]);
        assert!(files(&fs, TOPIC, p, ".deleted").is_empty());
        assert_eq!(
            files(&fs, TOPIC, p, ".log"),
            BTreeSet::from(["00000000000000000020.log".to_string()])
        );
        let first = log.iter(20).next().unwrap().unwrap();
        assert_eq!(first.offset, 20);
        assert_eq!(first.value, Some(value_for(p, 20, 100)));
        assert!(matches!(
            log.read(19, 1 << 20),
            Err(Error::OffsetOutOfRange { earliest: 20, .. })
        ));
    }
    // The default topic (7 days) keeps its records stamped at the epoch,
    // long expired: they are in the active segment, which never goes.
    assert_eq!(store.partition("other", 0).unwrap().log_start_offset(), 0);
    let d = store.describe_topic(TOPIC).unwrap();
    assert!(d
        .partitions
        .iter()
        .all(|p| p.log_start_offset == 20 && p.segments == 1));

    // A second pass finds nothing to do.
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(
        (
            report.segments_deleted,
            report.bytes_freed,
            report.files_removed
        ),
        (0, 0, 0)
    );

    // The new start survives a reopen.
    store.close().unwrap();
    assert!(matches!(store.maintain(), Err(Error::Closed)));
    drop(store);
    let store = open(&fs, &clock);
    for p in 0..2 {
        assert_eq!(store.partition(TOPIC, p).unwrap().log_start_offset(), 20);
    }
    store.close().unwrap();
}

#[test]
fn deleted_files_stay_until_the_delay_passes() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 100_000);
    let store = open(&fs, &clock);
    store
        .create_topic(
            TOPIC,
            2,
            &[
                ("retention.ms", "60000"),
                ("segment.bytes", "1000"),
                ("file.delete.delay.ms", "30000"),
            ],
        )
        .unwrap();
    old_and_new(&store, 2);
    let freed: u64 = (0..2)
        .map(|p| sizes(&store, p)[..4].iter().sum::<u64>())
        .sum();

    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(report.segments_deleted, 8);
    assert_eq!(report.bytes_freed, freed);
    assert_eq!(report.files_removed, 0);
    let mut waiting = 0;
    for p in 0..2 {
        assert_eq!(deleted_bases(&fs, TOPIC, p), BTreeSet::from([0, 5, 10, 15]));
        // .log, .index and .timeindex of each (whichever exist).
        let renamed = files(&fs, TOPIC, p, ".deleted");
        assert!(renamed.len() >= 4, "{renamed:?}");
        waiting += renamed.len();
        assert_eq!(files(&fs, TOPIC, p, ".log").len(), 1);
        assert_eq!(store.partition(TOPIC, p).unwrap().log_start_offset(), 20);
    }

    // Not yet due.
    clock.advance(29_999);
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!((report.segments_deleted, report.files_removed), (0, 0));
    assert_eq!(deleted_bases(&fs, TOPIC, 0).len(), 4);

    // Due now: the next pass removes them all.
    clock.advance(1);
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(report.segments_deleted, 0);
    assert_eq!(report.files_removed, waiting);
    for p in 0..2 {
        assert!(files(&fs, TOPIC, p, ".deleted").is_empty());
    }
    let report = store.maintain().unwrap();
    assert_eq!(report.files_removed, 0);

    // delete_records goes through the same delay.
    produce(&store, TOPIC, 0, 10, clock.now_ms());
    let segs = bases(&store.partition(TOPIC, 0).unwrap().segments());
    assert_eq!(segs, [20, 25, 30]);
    assert_eq!(store.delete_records(TOPIC, 0, 31).unwrap(), 31);
    assert_eq!(deleted_bases(&fs, TOPIC, 0), BTreeSet::from([20, 25]));
    clock.advance(30_000);
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert!(report.files_removed >= 2);
    assert!(deleted_bases(&fs, TOPIC, 0).is_empty());
    store.close().unwrap();
}

#[test]
fn pending_deleted_files_are_removed_by_close() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 100_000);
    let store = open(&fs, &clock);
    store
        .create_topic(
            TOPIC,
            1,
            &[
                ("retention.ms", "60000"),
                ("segment.bytes", "1000"),
                ("file.delete.delay.ms", "3600000"),
            ],
        )
        .unwrap();
    old_and_new(&store, 1);
    assert_eq!(store.maintain().unwrap().segments_deleted, 4);
    assert_eq!(deleted_bases(&fs, TOPIC, 0).len(), 4);
    store.close().unwrap();
    assert!(files(&fs, TOPIC, 0, ".deleted").is_empty());
    drop(store);
    let store = open(&fs, &clock);
    assert_eq!(store.partition(TOPIC, 0).unwrap().log_start_offset(), 20);
    store.close().unwrap();
}

#[test]
fn maintain_applies_retention_bytes_by_kafkas_rule() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    store
        .create_topic(
            TOPIC,
            1,
            &[
                ("retention.ms", "-1"),
                ("retention.bytes", "2500"),
                ("segment.bytes", "1000"),
                ("file.delete.delay.ms", "0"),
            ],
        )
        .unwrap();
    produce(&store, TOPIC, 0, 30, T0);
    let before = store.partition(TOPIC, 0).unwrap().segments();
    assert_eq!(bases(&before), [0, 5, 10, 15, 20, 25]);
    let total: u64 = before.iter().map(|s| s.size).sum();
    assert!(total >= 2_500);
    // Delete the oldest while each fits in what is over the limit.
    let mut excess = total - 2_500;
    let mut expect = 0;
    for s in &before[..before.len() - 1] {
        if s.size > excess {
            break;
        }
        excess -= s.size;
        expect += 1;
    }
    assert!(expect > 0);

    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(report.partitions, 1);
    assert_eq!(report.segments_deleted, expect);
    assert_eq!(
        report.bytes_freed,
        before[..expect].iter().map(|s| s.size).sum::<u64>()
    );
    let log = store.partition(TOPIC, 0).unwrap();
    let after = log.segments();
    assert_eq!(after, before[expect..]);
    let size = log.size_bytes();
    assert!(size >= 2_500, "{size}");
    assert!(size < 2_500 + after[0].size, "{size}");
    assert_eq!(log.log_start_offset(), after[0].base_offset);
    assert_eq!(log.log_end_offset(), 30);
    // Idempotent.
    assert_eq!(store.maintain().unwrap().segments_deleted, 0);

    // A limit of 0 leaves only the active segment.
    drop(log);
    store.close().unwrap();
    drop(store);
    let store = open(&fs, &clock);
    store
        .create_topic(
            "zero",
            1,
            &[("retention.bytes", "0"), ("segment.bytes", "1000")],
        )
        .unwrap();
    produce(&store, "zero", 0, 12, clock.now_ms());
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(report.segments_deleted, 2);
    let log = store.partition("zero", 0).unwrap();
    assert_eq!(bases(&log.segments()), [10]);
    assert_eq!(log.log_start_offset(), 10);
    assert_eq!(log.iter(10).count(), 2);
    store.close().unwrap();
}

#[test]
fn delete_records_refuses_offsets_past_the_high_watermark() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    store
        .create_topic(TOPIC, 2, &[("segment.bytes", "1000")])
        .unwrap();
    produce(&store, TOPIC, 0, 12, T0);
    assert!(matches!(
        store.delete_records(TOPIC, 0, 13),
        Err(Error::OffsetOutOfRange {
            requested: 13,
            earliest: 0,
            latest: 12
        })
    ));
    assert!(matches!(
        store.delete_records(TOPIC, 1, 1),
        Err(Error::OffsetOutOfRange {
            requested: 1,
            earliest: 0,
            latest: 0
        })
    ));
    assert!(matches!(
        store.delete_records(TOPIC, 2, 0),
        Err(Error::UnknownPartition { partition: 2, .. })
    ));
    assert!(matches!(
        store.delete_records("nope", 0, 0),
        Err(Error::UnknownTopic { .. })
    ));
    assert_eq!(store.delete_records(TOPIC, 1, 0).unwrap(), 0);
    assert_eq!(store.delete_records(TOPIC, 0, 7).unwrap(), 7);
    // Never moves back.
    assert_eq!(store.delete_records(TOPIC, 0, 3).unwrap(), 7);
    let log = store.partition(TOPIC, 0).unwrap();
    assert_eq!(bases(&log.segments()), [5, 10]);
    // Up to the high watermark itself: everything but the active segment
    // goes, and the log reads empty until the next append.
    assert_eq!(store.delete_records(TOPIC, 0, 12).unwrap(), 12);
    assert_eq!(bases(&log.segments()), [10]);
    assert!(log.read(12, 1 << 20).unwrap().is_empty());
    assert!(matches!(
        log.read(11, 1 << 20),
        Err(Error::OffsetOutOfRange { earliest: 12, .. })
    ));
    let last = produce(&store, TOPIC, 0, 1, T0);
    assert_eq!(last, 12);
    let r = log.iter(12).next().unwrap().unwrap();
    assert_eq!(r.value, Some(value_for(0, 12, 100)));
    store.close().unwrap();
}

/// A fault in one partition is reported for that partition; the pass goes
/// on with the others.
#[test]
fn a_failing_partition_is_reported_and_the_others_are_maintained() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 100_000);
    let store = open(&fs, &clock);
    store
        .create_topic(
            TOPIC,
            3,
            &[
                ("retention.ms", "60000"),
                ("segment.bytes", "1000"),
                ("file.delete.delay.ms", "0"),
            ],
        )
        .unwrap();
    old_and_new(&store, 3);
    // Renaming a segment of partition 1 to `.deleted` fails.
    let sick = partition_dir(TOPIC, 1);
    fs.set_fault_hook(move |call| {
        (call.op == FsOp::Rename
            && call.path.parent() == Some(sick.as_path())
            && call.path.extension().is_some_and(|e| e == "log"))
        .then_some(Fault::Error(std::io::ErrorKind::Other))
    });

    let report = store.maintain().unwrap();
    assert_eq!(report.partitions, 3);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(report.errors[0].partition, TopicPartition::new(TOPIC, 1));
    assert!(
        matches!(report.errors[0].error, Error::Io { .. }),
        "{:?}",
        report.errors[0].error
    );
    // Partitions 0 and 2 (before and after the failing one) were done.
    assert_eq!(report.segments_deleted, 8);
    for p in [0, 2] {
        let log = store.partition(TOPIC, p).unwrap();
        assert_eq!(log.log_start_offset(), 20);
        assert_eq!(bases(&log.segments()), [20]);
    }
    // Partition 1 still serves every record from its log start.
    let log1 = store.partition(TOPIC, 1).unwrap();
    let start = log1.log_start_offset();
    assert_eq!(log1.iter(start).count() as u64, 25 - start);
    assert_eq!(log1.log_end_offset(), 25);

    // The others keep being maintained while partition 1 is broken.
    fs.clear_fault_hook();
    clock.advance(1_000_000);
    let report = store.maintain().unwrap();
    assert!(
        report
            .errors
            .iter()
            .all(|e| e.partition == TopicPartition::new(TOPIC, 1)),
        "{:?}",
        report.errors
    );
    assert_eq!(report.partitions, 3);
    let _ = store.close();
    drop(log1);
    drop(store);

    // Reopened, partition 1 has lost nothing at or above its start, and
    // retention finishes there.
    let store = open(&fs, &clock);
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    for p in 0..3 {
        let log = store.partition(TOPIC, p).unwrap();
        assert_eq!(log.log_end_offset(), 25);
        assert_eq!(log.log_start_offset(), 20, "partition {p}");
        assert_eq!(bases(&log.segments()), [20], "partition {p}");
        assert_eq!(files(&fs, TOPIC, p, ".log").len(), 1, "partition {p}");
        assert!(files(&fs, TOPIC, p, ".deleted").is_empty());
        let values: Vec<_> = log.iter(20).map(|r| r.unwrap().value.unwrap()).collect();
        assert_eq!(
            values,
            (20..25).map(|o| value_for(p, o, 100)).collect::<Vec<_>>()
        );
    }
    store.close().unwrap();
}

#[test]
fn a_failed_checkpoint_write_is_reported_as_a_store_wide_error() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 100_000);
    let store = open(&fs, &clock);
    store
        .create_topic(
            TOPIC,
            2,
            &[
                ("retention.ms", "60000"),
                ("segment.bytes", "1000"),
                ("file.delete.delay.ms", "0"),
            ],
        )
        .unwrap();
    old_and_new(&store, 2);
    fs.set_fault_hook(|call| {
        (call.op == FsOp::Open
            && call.path.parent() == Some(Path::new(ROOT))
            && call.path.file_name().is_some_and(|n| {
                n.to_string_lossy()
                    .starts_with("recovery-point-offset-checkpoint")
            }))
        .then_some(Fault::Error(std::io::ErrorKind::Other))
    });
    let report = store.maintain().unwrap();
    // Retention was done everywhere; only the root checkpoints failed,
    // reported once, under no topic.
    assert_eq!(report.partitions, 2);
    assert_eq!(report.segments_deleted, 8);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(report.errors[0].partition, TopicPartition::new("", 0));
    assert!(matches!(report.errors[0].error, Error::Io { .. }));
    fs.clear_fault_hook();
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    store.close().unwrap();
    drop(store);
    let store = open(&fs, &clock);
    for p in 0..2 {
        assert_eq!(store.partition(TOPIC, p).unwrap().log_start_offset(), 20);
    }
    store.close().unwrap();
}

/// `files_removed` counts the files a pass did remove even when a later
/// removal in the same partition fails (the partition's error is
/// reported); the next pass removes and counts only what was left.
#[test]
fn files_removed_counts_what_went_even_when_a_removal_fails() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 100_000);
    let store = open(&fs, &clock);
    store
        .create_topic(
            TOPIC,
            1,
            &[
                ("retention.ms", "60000"),
                ("segment.bytes", "1000"),
                ("file.delete.delay.ms", "1000"),
            ],
        )
        .unwrap();
    old_and_new(&store, 1);
    // Two deletions waiting: segment 0 (delete_records), then 5, 10 and
    // 15 (retention).
    assert_eq!(store.delete_records(TOPIC, 0, 5).unwrap(), 5);
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(report.segments_deleted, 3);
    let waiting = files(&fs, TOPIC, 0, ".deleted");
    assert_eq!(deleted_bases(&fs, TOPIC, 0), BTreeSet::from([0, 5, 10, 15]));

    clock.advance(1_000);
    fs.set_fault_hook(|call| {
        (call.op == FsOp::RemoveFile
            && call
                .path
                .to_string_lossy()
                .ends_with("00000000000000000010.index.deleted"))
        .then_some(Fault::Error(std::io::ErrorKind::Other))
    });
    let first = store.maintain().unwrap();
    assert_eq!(first.errors.len(), 1, "{:?}", first.errors);
    assert_eq!(first.errors[0].partition, TopicPartition::new(TOPIC, 0));
    let removed_by_first = waiting.len() - files(&fs, TOPIC, 0, ".deleted").len();
    fs.clear_fault_hook();
    let second = store.maintain().unwrap();
    assert_no_errors(&second);
    assert!(files(&fs, TOPIC, 0, ".deleted").is_empty());
    assert_eq!(
        first.files_removed + second.files_removed,
        waiting.len(),
        "{} files were removed ({} by the failing pass, which reports {}), \
         but the two passes report {} + {}",
        waiting.len(),
        removed_by_first,
        first.files_removed,
        first.files_removed,
        second.files_removed
    );
    store.close().unwrap();
}

// ---------------------------------------------------------------------
// The background thread
// ---------------------------------------------------------------------

/// Polls `f` every few milliseconds until it returns `Some`, for at most
/// ten seconds.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn background_maintenance_runs_and_close_stops_it() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 60_000);
    let store = open(&fs, &clock);
    store
        .create_topic(
            TOPIC,
            2,
            &[
                ("retention.ms", "60000"),
                ("segment.bytes", "1000"),
                ("file.delete.delay.ms", "0"),
            ],
        )
        .unwrap();
    old_and_new(&store, 2);
    // Nothing has expired: passes run but delete nothing.
    assert!(store.last_maintenance_report().is_none());
    store.start_maintenance(Duration::from_millis(20)).unwrap();
    let report = eventually("a report", || store.last_maintenance_report());
    assert_eq!(report.partitions, 2);
    assert_no_errors(&report);
    assert_eq!(report.segments_deleted, 0);
    // Taken: gone until the next pass.
    assert_eq!(store.partition(TOPIC, 0).unwrap().log_start_offset(), 0);

    // Time passes: the thread applies retention on its own.
    clock.set(T0 + 60_001);
    eventually("retention", || {
        (0..2)
            .all(|p| store.partition(TOPIC, p).unwrap().log_start_offset() == 20)
            .then_some(())
    });
    let report = eventually("a report", || store.last_maintenance_report());
    assert_no_errors(&report);
    assert_eq!(report.partitions, 2);
    for p in 0..2 {
        assert_eq!(bases(&store.partition(TOPIC, p).unwrap().segments()), [20]);
    }

    let started = Instant::now();
    store.close().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "close took {:?}",
        started.elapsed()
    );
    assert!(matches!(
        store.start_maintenance(Duration::from_millis(20)),
        Err(Error::Closed)
    ));
    assert!(matches!(store.maintain(), Err(Error::Closed)));
    // No pass runs after close.
    let _ = store.last_maintenance_report();
    std::thread::sleep(Duration::from_millis(60));
    assert!(store.last_maintenance_report().is_none());
}

#[test]
fn close_does_not_wait_for_a_long_interval() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    store.create_topic(TOPIC, 1, &[]).unwrap();
    store.start_maintenance(Duration::from_secs(60)).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(store.last_maintenance_report().is_none());
    let started = Instant::now();
    store.close().unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "close took {took:?}");
    // Closing again is a no-op.
    store.close().unwrap();
}

#[test]
fn starting_again_replaces_the_interval() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    store.create_topic(TOPIC, 1, &[]).unwrap();
    store.start_maintenance(Duration::from_secs(60)).unwrap();
    let started = Instant::now();
    store.start_maintenance(Duration::from_millis(10)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    let report = eventually("a report", || store.last_maintenance_report());
    assert_eq!(report.partitions, 1);
    let started = Instant::now();
    store.close().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn dropping_the_store_without_close_stops_the_thread() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    {
        let store = open(&fs, &clock);
        store.create_topic(TOPIC, 2, &[]).unwrap();
        store.close().unwrap();
    }
    // A long interval (the thread waits), then short ones (the drop may
    // race with a pass, which then holds the last handle).
    let intervals = [60_000, 1, 1, 2, 3, 5, 1, 1];
    for (i, ms) in intervals.into_iter().enumerate() {
        let (tx, rx) = mpsc::channel();
        let (fs2, clock2) = (fs.clone(), clock.clone());
        let worker = std::thread::spawn(move || {
            let store = open(&fs2, &clock2);
            store.start_maintenance(Duration::from_millis(ms)).unwrap();
            std::thread::sleep(Duration::from_millis(i as u64 % 4));
            let producer = store.producer(Default::default());
            let _ = producer
                .send(ProducerRecord::new(TOPIC, "x").with_partition(0))
                .unwrap();
            drop(producer);
            let started = Instant::now();
            drop(store);
            tx.send(started.elapsed()).unwrap();
        });
        let took = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("dropping the store hung (interval {ms} ms)"));
        assert!(took < Duration::from_secs(2), "drop took {took:?}");
        worker.join().unwrap();
        // The directory is released and was closed cleanly.
        let store = StoreOptions::new()
            .fs(fs.clone())
            .clock(clock.clone())
            .open(ROOT, store_config())
            .unwrap_or_else(|e| panic!("reopen after drop (interval {ms} ms): {e}"));
        assert!(store.open_report().clean_shutdown, "interval {ms} ms");
        assert_eq!(
            store.partition(TOPIC, 0).unwrap().log_end_offset(),
            i as u64 + 1
        );
        store.close().unwrap();
    }
}

#[test]
fn background_maintenance_with_the_system_clock() {
    let now_ms = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let store = StoreOptions::new()
        .fs(MemFs::new())
        .open(ROOT, store_config())
        .unwrap();
    store
        .create_topic(
            TOPIC,
            1,
            &[
                ("retention.ms", "3600000"),
                ("segment.bytes", "1000"),
                ("file.delete.delay.ms", "0"),
            ],
        )
        .unwrap();
    produce(&store, TOPIC, 0, 20, now_ms() - 2 * 3_600_000);
    produce(&store, TOPIC, 0, 3, now_ms());
    let log = store.partition(TOPIC, 0).unwrap();
    assert_eq!(bases(&log.segments()), [0, 5, 10, 15, 20]);
    store.start_maintenance(Duration::from_millis(10)).unwrap();
    eventually("retention", || (log.log_start_offset() == 20).then_some(()));
    let report = eventually("a report", || store.last_maintenance_report());
    assert_no_errors(&report);
    assert_eq!(bases(&log.segments()), [20]);
    assert_eq!(log.iter(20).count(), 3);
    let started = Instant::now();
    store.close().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// Dropping the last `LogStore` handle while a background pass runs
/// waits for the pass and closes the store before `drop` returns (the
/// pass holds the store itself, not an application handle): opening the
/// directory again at once succeeds.
#[test]
fn dropping_the_store_during_a_background_pass_releases_it_at_once() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    store.create_topic(TOPIC, 1, &[]).unwrap();
    // Hold the next pass in its checkpoint write for a while, and say so.
    let armed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<()>();
    let tx = std::sync::Mutex::new(tx);
    let hook_armed = armed.clone();
    fs.set_fault_hook(move |call| {
        if call.op == FsOp::Rename && hook_armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let _ = tx.lock().unwrap().send(());
            std::thread::sleep(Duration::from_millis(300));
        }
        None
    });
    store.start_maintenance(Duration::from_millis(1)).unwrap();
    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    rx.recv_timeout(Duration::from_secs(10))
        .expect("no maintenance pass ran");
    // A pass is running. Drop the only handle the application has.
    drop(store);
    let reopened = StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(ROOT, store_config());
    let result = reopened.as_ref().map(|_| ()).map_err(|e| e.to_string());
    // Let the maintenance thread finish its close before the test ends.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        result.is_ok(),
        "the store was still open after its last handle was dropped: {result:?}"
    );
}

/// Maintenance of a store nothing was written to since a clean reopen
/// changes nothing, so it syncs nothing per partition (the partitions'
/// clean-shutdown markers stay, and no directory is fsynced for them).
#[test]
fn maintaining_an_idle_store_syncs_nothing_per_partition() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    store
        .create_topic(TOPIC, 50, &[("retention.ms", "60000")])
        .unwrap();
    store.close().unwrap();
    drop(store);
    let store = open(&fs, &clock);
    clock.advance(3_600_000);
    let before = fs.sync_count();
    let report = store.maintain().unwrap();
    assert_eq!(report.partitions, 50);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let syncs = fs.sync_count() - before;
    // The two root checkpoint files, each written durably.
    assert!(syncs <= 4, "{syncs} syncs for an idle store");
    store.close().unwrap();
    drop(store);
    let store = open(&fs, &clock);
    assert!(store.open_report().clean_shutdown);
}

//! Retention at the `LogStore` level, as a property test (the
//! deterministic maintenance tests are in `store_maintenance.rs`).
//!
//! The test drives a store on `MemFs` with a manual clock through
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
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError};

use seglog::io::MemFs;
use seglog::retention::{plan, RetentionPlan, RetentionPolicy, SegmentMeta};
use seglog::store::StoreOptions;
use seglog::{
    AutoOffsetReset, Clock, ConsumerConfig, Error, LogStore, ManualClock, PartitionLog, Producer,
    ProducerRecord, SegmentInfo, StoreConfig,
};

use crate::common_store;
use common_store::*;

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
        let fs = self.fs.clone();
        let segment_files = move |p: u32| -> BTreeSet<String> {
            [".log", ".index", ".timeindex"]
                .iter()
                .flat_map(|suffix| files(&fs, TOPIC, p, suffix))
                .collect()
        };
        let segment_files_before: Vec<BTreeSet<String>> =
            (0..self.parts.len() as u32).map(&segment_files).collect();

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
            if self.delay_ms == 0 {
                // Without a delay the deleted segments' files go at once.
                let now_there = segment_files(p as u32);
                files_removed += segment_files_before[p].difference(&now_there).count();
            }

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

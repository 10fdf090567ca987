//! The log cleaner in the store's maintenance: which topics `maintain`
//! compacts, cleanup policies together, and background maintenance
//! compacting while producers and consumers work.

use std::collections::BTreeMap;
use std::time::Duration;

use seglog::compaction::DueReason;
use seglog::io::MemFs;
use seglog::store::PartitionCompaction;
use seglog::{Error, LogStore, ManualClock, StoreConfig, TopicPartition};

use crate::common_store::*;

/// Keys `k0` to `k6`: records `i` of a topic have key `k{i % 7}`.
const KEYS: u64 = 7;

/// `n` records to partition 0 of `topic`, from offset `from` on, stamped
/// `timestamp`: key `k{offset % 7}`, a unique value of 100 bytes
/// (so that 1,000-byte segments hold 5 records each). Adds them to
/// `model`, the key -> value table of everything written.
fn fill(
    store: &LogStore,
    topic: &str,
    n: u64,
    timestamp: i64,
    model: &mut BTreeMap<String, String>,
) {
    let log = store.partition(topic, 0).unwrap();
    for _ in 0..n {
        let offset = log.log_end_offset();
        let key = format!("k{}", offset % KEYS);
        let value = padded(&format!("{topic}-{offset}-"));
        assert_eq!(put(store, topic, 0, &key, Some(&value), timestamp), offset);
        model.insert(key, value);
    }
}

/// `prefix` padded with dots to 100 bytes.
fn padded(prefix: &str) -> String {
    format!("{prefix:.<100}")
}

fn offsets(store: &LogStore, topic: &str) -> Vec<u64> {
    let log = store.partition(topic, 0).unwrap();
    keyed_records(&log).into_iter().map(|r| r.0).collect()
}

/// A compacted topic whose dirty ratio passes its threshold is compacted
/// by `maintain`; one whose threshold is not passed and one whose policy
/// is `delete` are left as they are. Retention never deletes from the
/// compact-only topic, however old its records.
#[test]
fn maintain_compacts_a_due_topic_and_skips_the_others() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    let topics: [(&str, &[(&str, &str)]); 4] = [
        ("due", &[("cleanup.policy", "compact")]),
        // Never due by its ratio, but its oldest dirty records waited
        // longer than its max.compaction.lag.ms.
        (
            "overdue",
            &[
                ("cleanup.policy", "compact"),
                ("min.cleanable.dirty.ratio", "1"),
                ("max.compaction.lag.ms", "100000"),
            ],
        ),
        (
            "lazy",
            &[
                ("cleanup.policy", "compact"),
                ("min.cleanable.dirty.ratio", "1"),
            ],
        ),
        ("deletes", &[("cleanup.policy", "delete")]),
    ];
    let mut models = BTreeMap::new();
    for (name, overrides) in topics {
        let mut all = vec![("segment.bytes", "1000"), ("retention.ms", "60000")];
        all.extend_from_slice(overrides);
        store.create_topic(name, 1, &all).unwrap();
        let mut model = BTreeMap::new();
        fill(&store, name, 23, T0, &mut model);
        assert_eq!(
            bases(&store.partition(name, 0).unwrap().segments()),
            [0, 5, 10, 15, 20],
            "{name}: records do not fill segments as this test expects"
        );
        models.insert(name, model);
    }
    clock.advance(200_000);
    let report = store.maintain().unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let compacted: Vec<(&str, DueReason)> = report
        .compactions
        .iter()
        .map(|c| (c.partition.topic.as_str(), c.due))
        .collect();
    // Both have a ratio of 1; "due" comes first in topic order.
    assert_eq!(
        compacted,
        [
            ("due", DueReason::DirtyRatio),
            ("overdue", DueReason::MaxCompactionLag)
        ]
    );
    let c = &report.compactions[0];
    assert_eq!(c.partition, TopicPartition::new("due", 0));
    assert_eq!(c.rounds.len(), 1);
    assert_eq!(c.rounds[0].end_offset, 20);
    // 20 records below the active segment, 7 kept.
    assert_eq!(c.records_dropped(), 13);
    assert!(c.bytes_read() > c.bytes_written() && c.bytes_written() > 0);
    assert_eq!(report.compaction_rounds, 2);
    assert_eq!(
        report.compaction_records_dropped,
        c.records_dropped() + report.compactions[1].records_dropped()
    );
    assert_eq!(
        report.compaction_bytes_read,
        c.bytes_read() + report.compactions[1].bytes_read()
    );
    assert!(!report.compaction_budget_exhausted);

    let overdue = store.partition("overdue", 0).unwrap();
    assert_eq!(offsets(&store, "overdue"), offsets(&store, "due"));
    assert_eq!(table(&overdue), models["overdue"]);

    let due = store.partition("due", 0).unwrap();
    // Below the active segment only the latest record of each key there
    // stays (13 to 19, one per key); the active segment is never cleaned,
    // nor mapped.
    assert_eq!(
        offsets(&store, "due"),
        [13, 14, 15, 16, 17, 18, 19, 20, 21, 22]
    );
    assert_eq!(table(&due), models["due"]);
    assert_eq!(
        due.log_start_offset(),
        0,
        "retention deleted from a compact-only topic"
    );
    assert_eq!(due.cleaner_checkpoint(), Some(20));

    // The deleting topic lost its expired segments, nothing else.
    let deletes = store.partition("deletes", 0).unwrap();
    assert_eq!(deletes.log_start_offset(), 20);
    assert_eq!(offsets(&store, "deletes"), [20, 21, 22]);
    let lazy = store.partition("lazy", 0).unwrap();
    assert_eq!(offsets(&store, "lazy"), (0..23).collect::<Vec<u64>>());
    for log in [&lazy, &deletes] {
        assert_eq!(log.cleaner_checkpoint(), None);
    }
    store.close().unwrap();
}

/// `compact,delete`: old segments go by retention, and what retention
/// keeps is compacted, in one pass.
#[test]
fn compact_delete_topics_are_compacted_and_retained() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 200_000);
    let store = open(&fs, &clock);
    store
        .create_topic(
            "both",
            1,
            &[
                ("cleanup.policy", "compact,delete"),
                ("segment.bytes", "1000"),
                ("retention.ms", "60000"),
            ],
        )
        .unwrap();
    let mut model = BTreeMap::new();
    fill(&store, "both", 10, T0, &mut model);
    fill(&store, "both", 15, T0 + 190_000, &mut model);
    let log = store.partition("both", 0).unwrap();
    assert_eq!(bases(&log.segments()), [0, 5, 10, 15, 20]);
    let report = store.maintain().unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    // Segments 0 and 5 expired; of 10 and 15 only the latest record of
    // each key below the active segment stays (13 to 19).
    assert_eq!(log.log_start_offset(), 10);
    assert_eq!(offsets(&store, "both"), (13..25).collect::<Vec<u64>>());
    assert_eq!(table(&log), model);
    store.close().unwrap();
}

/// The background thread compacts a topic while a producer keeps
/// producing to it and a consumer reads it: every send is acknowledged,
/// the consumer reads to the end with increasing offsets, and what it
/// read gives the producer's key -> value table.
#[test]
fn background_maintenance_compacts_while_producing_and_consuming() {
    let store = seglog::store::StoreOptions::new()
        .fs(MemFs::new())
        .open(ROOT, store_config())
        .unwrap();
    store
        .create_topic(
            "live",
            1,
            &[
                ("cleanup.policy", "compact"),
                ("segment.bytes", "2000"),
                ("min.cleanable.dirty.ratio", "0.1"),
            ],
        )
        .unwrap();
    store.start_maintenance(Duration::from_millis(2)).unwrap();
    const N: u64 = 1_500;
    let producer = {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut model = BTreeMap::new();
            let producer = store.producer(Default::default());
            for i in 0..N {
                let key = format!("k{}", i % 20);
                let value = format!("{i}-{}", ".".repeat(50));
                let record = seglog::ProducerRecord::new("live", value.clone())
                    .with_key(key.clone())
                    .with_partition(0);
                producer.send_and_wait(record).unwrap();
                model.insert(key, value);
            }
            model
        })
    };
    let consumer = {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut consumer = store.consumer(Default::default());
            consumer.assign(&[("live", 0)]).unwrap();
            consumer.seek_to_beginning().unwrap();
            let mut read = BTreeMap::new();
            let mut last: Option<u64> = None;
            // Until the last record sent is read.
            while last != Some(N - 1) {
                for r in consumer.poll(Duration::from_millis(50)).unwrap() {
                    assert!(
                        last.is_none_or(|l| l < r.offset),
                        "{last:?} then {}",
                        r.offset
                    );
                    last = Some(r.offset);
                    let key = String::from_utf8(r.key.unwrap()).unwrap();
                    read.insert(key, String::from_utf8(r.value.unwrap()).unwrap());
                }
            }
            read
        })
    };
    let model = producer.join().unwrap();
    let read = consumer.join().unwrap();
    assert_eq!(read, model);
    let log = store.partition("live", 0).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while log.cleaner_checkpoint().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(log.cleaner_checkpoint().is_some(), "never compacted");
    assert!(
        (keyed_records(&log).len() as u64) < N,
        "compaction removed nothing"
    );
    assert_eq!(table(&log), model);
    store.close().unwrap();
}

/// Two compacted topics, "a" and "b", of 23 records each, compacted once
/// (checkpoints at 20); then "a" gets 10 more records and "b" 25, so "b"
/// is the filthier (about 0.77 against 0.57), and both are due at their
/// ratio of 0.01.
fn two_dirty_topics(config: StoreConfig) -> LogStore {
    let store = open_with(&MemFs::new(), &ManualClock::new(T0), config);
    let mut model = BTreeMap::new();
    for (name, more) in [("a", 10), ("b", 25)] {
        store
            .create_topic(
                name,
                1,
                &[
                    ("cleanup.policy", "compact"),
                    ("segment.bytes", "1000"),
                    ("min.cleanable.dirty.ratio", "0.01"),
                ],
            )
            .unwrap();
        fill(&store, name, 23, T0, &mut model);
        store.compact(name, None).unwrap();
        fill(&store, name, more, T0, &mut model);
    }
    let ratio = |name: &str| {
        store.describe_topic(name).unwrap().partitions[0]
            .cleanable_ratio
            .unwrap()
    };
    assert!(
        ratio("b") > ratio("a") && ratio("a") > 0.5,
        "{} {}",
        ratio("a"),
        ratio("b")
    );
    store
}

fn compacted(compactions: &[PartitionCompaction]) -> Vec<String> {
    compactions
        .iter()
        .map(|c| c.partition.to_string())
        .collect()
}

#[test]
fn the_filthiest_log_is_compacted_first() {
    let store = two_dirty_topics(store_config());
    let report = store.maintain().unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(compacted(&report.compactions), ["b-0", "a-0"]);
    assert!(!report.compaction_budget_exhausted);
    assert_eq!(
        store.partition("a", 0).unwrap().cleaner_checkpoint(),
        Some(30)
    );
    assert_eq!(
        store.partition("b", 0).unwrap().cleaner_checkpoint(),
        Some(45)
    );
    // Nothing is due any more.
    let report = store.maintain().unwrap();
    assert!(report.compactions.is_empty(), "{:?}", report.compactions);
    assert_eq!(report.compaction_rounds, 0);
    store.close().unwrap();
}

/// A pass starts no round once its rounds have read and written the
/// budget; the next pass goes on with the next filthiest log.
#[test]
fn a_pass_stops_starting_rounds_at_its_byte_budget() {
    let mut config = store_config();
    config.cleaner.max_bytes_per_pass = Some(1);
    let store = two_dirty_topics(config);
    let report = store.maintain().unwrap();
    assert_eq!(compacted(&report.compactions), ["b-0"]);
    assert!(report.compaction_budget_exhausted);
    assert_eq!(
        store.partition("a", 0).unwrap().cleaner_checkpoint(),
        Some(20)
    );
    let report = store.maintain().unwrap();
    assert_eq!(compacted(&report.compactions), ["a-0"]);
    assert!(!report.compaction_budget_exhausted);
    let report = store.maintain().unwrap();
    assert!(report.compactions.is_empty());
    store.close().unwrap();
}

/// A round whose offset map fills up leaves the rest of the dirty section
/// to the next round, which the same pass runs while the log is due.
#[test]
fn a_pass_goes_on_where_a_full_offset_map_stopped() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let mut config = store_config();
    // The smallest map there is: 1 MiB and a byte, about 43,690 keys
    // with a load factor of 1; at a load factor of 0.0001, 4 keys.
    config.cleaner.dedupe_buffer_size = (1 << 20) + 1;
    config.cleaner.io_buffer_load_factor = 0.0001;
    let store = open_with(&fs, &clock, config);
    store
        .create_topic(
            "c",
            1,
            &[
                ("cleanup.policy", "compact"),
                ("segment.bytes", "1000"),
                ("min.cleanable.dirty.ratio", "0.01"),
            ],
        )
        .unwrap();
    let mut model = BTreeMap::new();
    fill(&store, "c", 23, T0, &mut model);
    let report = store.maintain().unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let c = &report.compactions[0];
    assert!(c.rounds.len() > 1, "{:?}", c.rounds);
    assert!(c.rounds[..c.rounds.len() - 1].iter().all(|r| r.map_full));
    assert_eq!(c.rounds.last().unwrap().end_offset, 20);
    let log = store.partition("c", 0).unwrap();
    assert_eq!(log.cleaner_checkpoint(), Some(20));
    assert_eq!(table(&log), model);
    store.close().unwrap();
}

#[test]
fn with_the_cleaner_off_maintenance_compacts_nothing() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let mut config = store_config();
    config.cleaner.enable = false;
    let store = open_with(&fs, &clock, config);
    store
        .create_topic(
            "c",
            1,
            &[("cleanup.policy", "compact"), ("segment.bytes", "1000")],
        )
        .unwrap();
    fill(&store, "c", 23, T0, &mut BTreeMap::new());
    let report = store.maintain().unwrap();
    assert_eq!(report.compaction_rounds, 0);
    assert!(report.compactions.is_empty());
    assert_eq!(offsets(&store, "c").len(), 23);
    // Asked for, a round runs all the same.
    let done = store.compact("c", None).unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].1.end_offset, 20);
    assert_eq!(offsets(&store, "c").len(), 10);
    store.close().unwrap();
}

#[test]
fn compact_runs_a_round_on_one_partition_or_all() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    store
        .create_topic(
            "c",
            3,
            &[("cleanup.policy", "compact"), ("segment.bytes", "1000")],
        )
        .unwrap();
    for p in 0..3 {
        for i in 0..23 {
            let value = padded(&format!("{i}-"));
            put(&store, "c", p, &format!("k{}", i % 7), Some(&value), T0);
        }
    }
    let done = store.compact("c", Some(1)).unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, 1);
    assert_eq!(done[0].1.end_offset, 20);
    assert_eq!(done[0].1.records_dropped, 13);
    let checkpoints = |store: &LogStore| -> Vec<Option<u64>> {
        (0..3)
            .map(|p| store.partition("c", p).unwrap().cleaner_checkpoint())
            .collect()
    };
    assert_eq!(checkpoints(&store), [None, Some(20), None]);
    let done = store.compact("c", None).unwrap();
    let summary: Vec<(u32, u64, u64)> = done
        .iter()
        .map(|(p, o)| (*p, o.end_offset, o.records_dropped))
        .collect();
    // Partition 1 had nothing dirty.
    assert_eq!(summary, [(0, 20, 13), (1, 20, 0), (2, 20, 13)]);
    assert_eq!(checkpoints(&store), [Some(20); 3]);

    store.create_topic("plain", 1, &[]).unwrap();
    let err = store.compact("plain", None).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field, .. } if *field == "cleanup.policy"),
        "{err:?}"
    );
    assert!(matches!(
        store.compact("nope", None),
        Err(Error::UnknownTopic { .. })
    ));
    assert!(matches!(
        store.compact("c", Some(3)),
        Err(Error::UnknownPartition { partition: 3, .. })
    ));
    let reader = open_read_only(&fs, &clock);
    assert!(matches!(
        reader.compact("c", None),
        Err(Error::ReadOnly { .. })
    ));
    reader.close().unwrap();
    store.close().unwrap();
    assert!(matches!(
        store.compact("c", None),
        Err(Error::StoreClosed { .. })
    ));
}

#[test]
fn describe_reports_the_cleanable_ratio_and_checkpoint_of_compacted_topics() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    for (name, policy) in [("c", "compact"), ("plain", "delete")] {
        store
            .create_topic(
                name,
                1,
                &[("cleanup.policy", policy), ("segment.bytes", "1000")],
            )
            .unwrap();
        fill(&store, name, 23, T0, &mut BTreeMap::new());
    }
    let describe = |name: &str| store.describe_topic(name).unwrap().partitions[0].clone();
    let c = describe("c");
    assert_eq!((c.cleanable_ratio, c.cleaner_checkpoint), (Some(1.0), None));
    store.compact("c", None).unwrap();
    let c = describe("c");
    assert_eq!(
        (c.cleanable_ratio, c.cleaner_checkpoint),
        (Some(0.0), Some(20))
    );
    // Two more segments of records: dirty again.
    fill(&store, "c", 10, T0, &mut BTreeMap::new());
    let ratio = describe("c").cleanable_ratio.unwrap();
    assert!(ratio > 0.5 && ratio < 1.0, "{ratio}");
    let plain = describe("plain");
    assert_eq!(
        (plain.cleanable_ratio, plain.cleaner_checkpoint),
        (None, None)
    );
    store.close().unwrap();
}

/// After a background pass that found nothing due, compaction waits
/// `log.cleaner.backoff.ms` before it looks again; the other work of the
/// passes goes on.
#[test]
fn background_compaction_backs_off_when_nothing_was_due() {
    for (backoff_ms, compacts) in [(3_600_000, false), (0, true)] {
        let mut config = store_config();
        config.cleaner.backoff_ms = backoff_ms;
        let store = open_with(&MemFs::new(), &ManualClock::new(T0), config);
        store
            .create_topic(
                "c",
                1,
                &[("cleanup.policy", "compact"), ("segment.bytes", "1000")],
            )
            .unwrap();
        store.start_maintenance(Duration::from_millis(1)).unwrap();
        // A pass with nothing due.
        crate::eventually("a pass", || store.last_maintenance_report());
        fill(&store, "c", 23, T0, &mut BTreeMap::new());
        let log = store.partition("c", 0).unwrap();
        for _ in 0..20 {
            crate::eventually("a pass", || store.last_maintenance_report());
            if log.cleaner_checkpoint().is_some() {
                break;
            }
        }
        let checkpoint = log.cleaner_checkpoint();
        assert_eq!(checkpoint.is_some(), compacts, "backoff {backoff_ms} ms");
        store.close().unwrap();
    }
}

/// Closing the store while the background thread compacts lets the round
/// in progress finish and starts no other, however many logs are due.
#[test]
fn close_does_not_wait_for_every_due_log_to_be_compacted() {
    use seglog::io::FsOp;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc, Mutex};

    let fs = MemFs::new();
    let mut config = store_config();
    config.cleaner.max_bytes_per_pass = None;
    let store = open_with(&fs, &ManualClock::new(T0), config);
    const TOPICS: usize = 20;
    for t in 0..TOPICS {
        let name = format!("c{t:02}");
        store
            .create_topic(
                &name,
                1,
                &[("cleanup.policy", "compact"), ("segment.bytes", "1000")],
            )
            .unwrap();
        fill(&store, &name, 23, T0, &mut BTreeMap::new());
    }
    // Every rename of a round's new segment files takes 20 ms: a round
    // (4 new segments of 3 files) about a quarter of a second, all 20 of
    // them 5 s.
    let (tx, rx) = mpsc::channel::<()>();
    let tx = Mutex::new(tx);
    let told = Arc::new(AtomicBool::new(false));
    let hook_told = told.clone();
    fs.set_fault_hook(move |call| {
        if call.op == FsOp::Rename && call.path.to_string_lossy().ends_with(".cleaned") {
            if !hook_told.swap(true, Ordering::SeqCst) {
                let _ = tx.lock().unwrap().send(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    });
    store.start_maintenance(Duration::from_millis(1)).unwrap();
    rx.recv_timeout(Duration::from_secs(10))
        .expect("no compaction round began");
    let started = std::time::Instant::now();
    store.close().unwrap();
    let took = started.elapsed();
    fs.clear_fault_hook();
    assert!(took < Duration::from_millis(2_500), "close took {took:?}");
    let store = open(&fs, &ManualClock::new(T0));
    let compacted = (0..TOPICS)
        .filter(|t| {
            store
                .partition(&format!("c{t:02}"), 0)
                .unwrap()
                .cleaner_checkpoint()
                .is_some()
        })
        .count();
    assert!(
        (1..TOPICS).contains(&compacted),
        "{compacted} of {TOPICS} logs compacted"
    );
    store.close().unwrap();
}

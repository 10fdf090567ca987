//! Kafka's `cleanup.policy` and the log cleaner's settings at the
//! `LogStore` level: which topics retention deletes from, the policy each
//! partition's log is opened with, keyless records refused by producers
//! of compacted topics, and the cleaner's settings checked at open.

use std::path::Path;

use seglog::io::{Fs, MemFs};
use seglog::store::StoreOptions;
use seglog::topic::CleanupPolicy;
use seglog::{CleanerConfig, Error, LogStore, ManualClock, ProducerRecord};

use crate::common_store::*;

#[path = "cleaner_checkpoint.rs"]
mod cleaner_checkpoint;

/// Topics of one partition of 1,000-byte segments kept for a minute, one
/// per way of spelling each policy.
const TOPICS: [(&str, &str, CleanupPolicy); 4] = [
    ("deletes", "delete", CleanupPolicy::Delete),
    ("compacts", "compact", CleanupPolicy::Compact),
    ("both", "compact,delete", CleanupPolicy::CompactDelete),
    (
        "both-reversed",
        "delete,compact",
        CleanupPolicy::CompactDelete,
    ),
];

fn create_topics(store: &LogStore) {
    for (name, policy, _) in TOPICS {
        store
            .create_topic(
                name,
                1,
                &[
                    ("retention.ms", "60000"),
                    ("segment.bytes", "1000"),
                    ("cleanup.policy", policy),
                ],
            )
            .unwrap();
    }
}

#[test]
fn retention_deletes_only_where_the_policy_deletes() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 200_000);
    let store = open(&fs, &clock);
    create_topics(&store);
    for (name, _, _) in TOPICS {
        produce_with_key(&store, name, 0, 20, T0, Some("k"));
        produce_with_key(&store, name, 0, 5, T0 + 190_000, Some("k"));
        assert_eq!(
            bases(&store.partition(name, 0).unwrap().segments()),
            [0, 5, 10, 15, 20],
            "{name}: records do not fill segments as this test expects"
        );
    }
    let report = store.maintain().unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.segments_deleted, 3 * 4);
    for (name, _, policy) in TOPICS {
        let log = store.partition(name, 0).unwrap();
        if policy.deletes() {
            assert_eq!(log.log_start_offset(), 20, "{name}");
            assert_eq!(bases(&log.segments()), [20], "{name}");
        } else {
            assert_eq!(log.log_start_offset(), 0, "{name}");
            assert_eq!(bases(&log.segments()), [0, 5, 10, 15, 20], "{name}");
        }
    }
    store.close().unwrap();
}

#[test]
fn each_partition_log_is_opened_with_its_topics_policy() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    create_topics(&store);
    store.create_topic("plain", 1, &[]).unwrap();
    let check = |store: &LogStore| {
        for (name, _, policy) in
            TOPICS
                .iter()
                .copied()
                .chain([("plain", "", CleanupPolicy::Delete)])
        {
            let d = store.describe_topic(name).unwrap();
            assert_eq!(d.config.log.cleanup_policy, policy, "{name}");
            let log = store.partition(name, 0).unwrap();
            assert_eq!(log.config().cleanup_policy, policy, "{name}");
        }
    };
    check(&store);
    store.close().unwrap();
    // The policy is kept with the topic's overrides.
    let store = open(&fs, &clock);
    check(&store);
    store.close().unwrap();

    // A store whose topics compact unless they say otherwise.
    let mut config = store_config();
    config.topic_defaults.log.cleanup_policy = CleanupPolicy::Compact;
    let store = StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(ROOT, config)
        .unwrap();
    store.create_topic("compacted-by-default", 1, &[]).unwrap();
    for (name, policy) in [
        ("compacted-by-default", CleanupPolicy::Compact),
        ("plain", CleanupPolicy::Compact),
        ("deletes", CleanupPolicy::Delete),
    ] {
        let log = store.partition(name, 0).unwrap();
        assert_eq!(log.config().cleanup_policy, policy, "{name}");
    }
    store.close().unwrap();
}

#[test]
fn a_store_with_bad_cleaner_settings_is_not_opened() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let mut config = store_config();
    config.cleaner = CleanerConfig {
        io_buffer_load_factor: 1.5,
        ..CleanerConfig::default()
    };
    let opened = StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(ROOT, config.clone());
    assert!(
        matches!(
            &opened,
            Err(Error::InvalidConfig {
                field: "log.cleaner.io.buffer.load.factor",
                ..
            })
        ),
        "{:?}",
        opened.err()
    );
    assert!(!fs.exists(Path::new(ROOT)).unwrap(), "nothing was created");

    config.cleaner.io_buffer_load_factor = 1.0;
    let store = StoreOptions::new()
        .fs(fs.clone())
        .clock(clock)
        .open(ROOT, config)
        .unwrap();
    assert_eq!(store.config().cleaner.io_buffer_load_factor, 1.0);
    store.close().unwrap();
}

#[test]
fn a_producer_refuses_a_keyless_record_to_a_compacted_topic_alone() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    create_topics(&store);
    // A linger that never passes: the keyed record stays in its batch.
    let producer = store.producer(seglog::ProducerConfig {
        linger: std::time::Duration::from_secs(3600),
        ..Default::default()
    });
    for (name, _, policy) in TOPICS {
        // A keyed record waits in the open batch of partition 0.
        let kept = producer
            .send(ProducerRecord::new(name, "kept").with_key("k"))
            .unwrap();
        let before = snapshot(&fs);
        for record in [
            ProducerRecord::new(name, "no key").with_partition(0),
            ProducerRecord::new(name, "no key, no partition"),
        ] {
            let sent = producer.send(record);
            if policy.compacts() {
                assert!(
                    matches!(
                        sent,
                        Err(Error::MissingKey {
                            index: 0,
                            batch_position: None
                        })
                    ),
                    "{name}: {sent:?}"
                );
            } else {
                assert!(sent.is_ok(), "{name}: {sent:?}");
            }
        }
        if policy.compacts() {
            assert_eq!(snapshot(&fs), before, "{name}: nothing was written");
        }
        // The record sent before is stored all the same.
        assert_eq!(kept.wait().unwrap().offset, 0, "{name}");
        producer.flush().unwrap();
        let stored = store.partition(name, 0).unwrap().log_end_offset();
        assert_eq!(stored, if policy.compacts() { 1 } else { 3 }, "{name}");
    }
    store.close().unwrap();
}

//! Topics created from a typed `TopicConfig`, and only if absent.

use std::sync::{Arc, Barrier};

use seglog::io::MemFs;
use seglog::store::{LogStore, StoreConfig, StoreOptions};
use seglog::topic::{CleanupPolicy, TopicConfig};
use seglog::{Durability, Error, ManualClock};

use crate::common_store::ROOT;

fn defaults() -> StoreConfig {
    let mut config = StoreConfig::default();
    config.topic_defaults.log.segment_index_bytes = 4_096;
    config
}

fn open_with(fs: &MemFs, config: StoreConfig) -> LogStore {
    StoreOptions::new()
        .fs(fs.clone())
        .clock(ManualClock::new(1_000))
        .open(ROOT, config)
        .unwrap()
}

fn pairs(overrides: &[(String, String)]) -> Vec<(&str, &str)> {
    overrides
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[test]
fn only_the_settings_that_differ_from_the_defaults_are_stored() {
    let fs = MemFs::new();
    let store = open_with(&fs, defaults());
    let mut config = store.config().topic_defaults.clone();
    config.retention_ms = None;
    config.retention_bytes = Some(1 << 20);
    config.log.segment_bytes = 1 << 16;
    config.log.cleanup_policy = CleanupPolicy::CompactDelete;
    config.log.min_cleanable_dirty_ratio = 0.3;
    store.create_topic_with_config("typed", 2, &config).unwrap();

    let described = store.describe_topic("typed").unwrap();
    assert_eq!(described.config, config);
    assert_eq!(described.partitions.len(), 2);
    assert_eq!(
        pairs(&described.overrides),
        [
            ("segment.bytes", "65536"),
            ("retention.ms", "-1"),
            ("retention.bytes", "1048576"),
            ("cleanup.policy", "compact,delete"),
            ("min.cleanable.dirty.ratio", "0.3"),
        ]
    );
    // The same as the strings would have made.
    store
        .create_topic("strings", 2, &pairs(&described.overrides))
        .unwrap();
    assert_eq!(store.describe_topic("strings").unwrap().config, config);

    // The defaults themselves: nothing to store.
    let plain = store.config().topic_defaults.clone();
    store.create_topic_with_config("plain", 1, &plain).unwrap();
    assert!(store.describe_topic("plain").unwrap().overrides.is_empty());
    store.close().unwrap();

    // Reopened with other defaults, the overrides stand and the rest
    // follows the new defaults, as in Kafka.
    let mut other = defaults();
    other.topic_defaults.log.segment_ms = 60_000;
    other.topic_defaults.retention_ms = Some(1_000);
    let store = open_with(&fs, other);
    let typed = store.describe_topic("typed").unwrap().config;
    assert_eq!(typed.retention_ms, None);
    assert_eq!(typed.log.segment_bytes, 1 << 16);
    assert_eq!(typed.log.segment_ms, 60_000);
    let plain = store.describe_topic("plain").unwrap().config;
    assert_eq!(plain.retention_ms, Some(1_000));
    store.close().unwrap();
}

#[test]
fn settings_without_a_kafka_name_cannot_differ() {
    let fs = MemFs::new();
    let store = open_with(&fs, defaults());
    let mut config = store.config().topic_defaults.clone();
    config.log.durability = Durability::Sync;
    match store.create_topic_with_config("t", 1, &config) {
        Err(Error::InvalidConfig { field, reason }) => {
            assert_eq!(field, "durability");
            assert!(reason.contains("StoreConfig::topic_defaults"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let mut config = store.config().topic_defaults.clone();
    config.log.write_buffer_bytes = 1 << 16;
    assert!(matches!(
        store.create_topic_with_config("t", 1, &config),
        Err(Error::InvalidConfig {
            field: "write_buffer_bytes",
            ..
        })
    ));
    assert!(matches!(
        store.create_topic_if_absent("t", 1, &config),
        Err(Error::InvalidConfig { .. })
    ));
    // An invalid value is refused by its own check.
    let mut config = store.config().topic_defaults.clone();
    config.log.segment_bytes = 10;
    assert!(matches!(
        store.create_topic_with_config("t", 1, &config),
        Err(Error::InvalidConfig {
            field: "segment_bytes",
            ..
        })
    ));
    // Nothing was created on the way.
    assert!(store.list_topics().is_empty());
    assert!(crate::common_store::root_dirs(&fs)
        .iter()
        .all(|d| !d.starts_with("t-")));
    store.close().unwrap();
}

#[test]
fn create_if_absent_creates_once_and_leaves_an_existing_topic_alone() {
    let fs = MemFs::new();
    let store = open_with(&fs, defaults());
    let mut config = store.config().topic_defaults.clone();
    config.retention_ms = Some(60_000);
    assert!(store.create_topic_if_absent("events", 2, &config).unwrap());
    assert!(!store.create_topic_if_absent("events", 2, &config).unwrap());
    // Another partition count or config: still there, unchanged.
    let other = store.config().topic_defaults.clone();
    assert!(!store.create_topic_if_absent("events", 5, &other).unwrap());
    let described = store.describe_topic("events").unwrap();
    assert_eq!(described.partitions.len(), 2);
    assert_eq!(described.config.retention_ms, Some(60_000));

    // Bad arguments are errors whether the topic exists or not.
    for (name, partitions) in [("events", 0), ("fresh", 0), ("bad name", 1)] {
        let e = store.create_topic_if_absent(name, partitions, &config);
        assert!(
            matches!(
                e,
                Err(Error::InvalidPartitions { .. } | Error::InvalidTopic { .. })
            ),
            "{name}/{partitions}: {e:?}"
        );
    }
    assert!(matches!(
        store.create_topic_if_absent("__consumer_offsets", 1, &config),
        Err(Error::InvalidTopic { .. })
    ));
    assert_eq!(store.list_topics(), ["events"]);
    store.close().unwrap();
    assert!(matches!(
        store.create_topic_if_absent("late", 1, &config),
        Err(Error::StoreClosed { .. })
    ));
}

#[test]
fn create_if_absent_from_many_threads_creates_exactly_once() {
    let fs = MemFs::new();
    let store = open_with(&fs, defaults());
    let threads = 4;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                let config: TopicConfig = store.config().topic_defaults.clone();
                barrier.wait();
                store.create_topic_if_absent("shared", 3, &config).unwrap()
            })
        })
        .collect();
    let created = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|&c| c)
        .count();
    assert_eq!(created, 1);
    assert_eq!(store.describe_topic("shared").unwrap().partitions.len(), 3);
    store.close().unwrap();
}

#[test]
fn a_read_only_store_creates_nothing() {
    let fs = MemFs::new();
    open_with(&fs, defaults()).close().unwrap();
    let reader = StoreOptions::new()
        .fs(fs.clone())
        .read_only(true)
        .open(ROOT, defaults())
        .unwrap();
    let config = reader.config().topic_defaults.clone();
    assert!(matches!(
        reader.create_topic_if_absent("t", 1, &config),
        Err(Error::ReadOnly { .. })
    ));
    assert!(matches!(
        reader.create_topic_with_config("t", 1, &config),
        Err(Error::ReadOnly { .. })
    ));
    reader.close().unwrap();
}

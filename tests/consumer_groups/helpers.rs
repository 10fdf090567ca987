//! Shared setup of the consumer-group tests: a store on `MemFs` with a
//! manual clock and a few `__consumer_offsets` partitions.
#![allow(dead_code)]

use seglog::io::MemFs;
use seglog::offsets::OffsetAndMetadata;
use seglog::{LogStore, ManualClock, ProducerConfig, ProducerRecord, StoreConfig, TopicPartition};

use crate::common_store::{self, T0};

/// Partitions of `__consumer_offsets` in these tests.
pub const OFFSETS_PARTITIONS: u32 = 5;

pub fn config() -> StoreConfig {
    let mut config = common_store::store_config();
    config.groups.offsets_topic_num_partitions = OFFSETS_PARTITIONS;
    config.groups.group_initial_rebalance_delay_ms = 0;
    config
}

pub fn open(fs: &MemFs, clock: &ManualClock) -> LogStore {
    common_store::open_with(fs, clock, config())
}

pub fn setup() -> (MemFs, ManualClock, LogStore) {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    (fs, clock, store)
}

pub fn tp(topic: &str, partition: u32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

pub fn at(offset: u64) -> OffsetAndMetadata {
    OffsetAndMetadata::new(offset)
}

/// Appends `count` records with values `"{topic}-{i}"` to each partition
/// of `topic` (creating it with `partitions` partitions).
pub fn fill(store: &LogStore, topic: &str, partitions: u32, count: usize) {
    store.create_topic(topic, partitions, &[]).unwrap();
    let producer = store.producer(ProducerConfig::default());
    for p in 0..partitions {
        for i in 0..count {
            let _ = producer
                .send(ProducerRecord::new(topic, format!("{topic}-{p}-{i}")).with_partition(p))
                .unwrap();
        }
    }
    producer.flush().unwrap();
}

/// The committed offset of `group` for `tp`, as a number.
pub fn committed(store: &LogStore, group: &str, tp: &TopicPartition) -> Option<u64> {
    store
        .committed_offsets(group, std::slice::from_ref(tp))
        .unwrap()[0]
        .as_ref()
        .map(|c| c.offset)
}

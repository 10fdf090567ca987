//! A topic of three partitions: produces keyed records, consumes the topic
//! from the beginning and prints how many records each partition held.
//!
//! ```text
//! cargo run --release --example quickstart [DATA_DIR]
//! ```
//!
//! The store lives in `DATA_DIR` (default `./seglog-data`). Running it
//! again finds the topic there and continues after the last run's records.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use seglog::store::{
    AutoOffsetReset, ConsumerConfig, LogStore, ProducerConfig, ProducerRecord, StoreConfig,
};

const TOPIC: &str = "quickstart";
const PARTITIONS: u32 = 3;
const RECORDS: u32 = 10_000;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "seglog-data".into()),
    );
    let store = LogStore::open(&dir, StoreConfig::default())?;
    match store.create_topic(TOPIC, PARTITIONS, &[("retention.ms", "604800000")]) {
        Ok(()) => println!("created topic {TOPIC} with {PARTITIONS} partitions"),
        Err(seglog::Error::TopicExists { .. }) => println!("topic {TOPIC} exists"),
        Err(e) => return Err(e.into()),
    }
    let before: Vec<u64> = store
        .describe_topic(TOPIC)?
        .partitions
        .iter()
        .map(|p| p.log_end_offset)
        .collect();
    println!("log end offsets before this run: {before:?}");

    // Records with the same key go to the same partition, in order; the
    // producer batches them per partition.
    let started = Instant::now();
    let producer = store.producer(ProducerConfig::default());
    let mut last = None;
    for i in 0..RECORDS {
        let record = ProducerRecord::new(TOPIC, format!("event {i}"))
            .with_key(format!("customer-{}", i % 10))
            .with_header("source", "quickstart");
        last = Some(producer.send(record)?);
    }
    producer.flush()?;
    if let Some(delivery) = last {
        let meta = delivery.wait()?;
        println!(
            "produced {RECORDS} records in {:.1?}; the last went to partition {} at offset {}",
            started.elapsed(),
            meta.partition,
            meta.offset
        );
    }

    // Read every partition from its beginning up to its end.
    let started = Instant::now();
    let mut consumer = store.consumer(ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Earliest,
        ..ConsumerConfig::default()
    });
    consumer.assign_topic(TOPIC)?;
    consumer.seek_to_beginning()?;
    let ends: Vec<u64> = store
        .describe_topic(TOPIC)?
        .partitions
        .iter()
        .map(|p| p.log_end_offset)
        .collect();
    let mut per_partition: BTreeMap<u32, u64> = BTreeMap::new();
    // Until every partition's position reaches the end it had: stopping at
    // the first empty poll instead would count its timeout as reading time.
    let mut partition = 0;
    while partition < ends.len() {
        if consumer.position((TOPIC, partition as u32))? >= ends[partition] {
            partition += 1;
            continue;
        }
        for record in &consumer.poll(Duration::from_millis(100))? {
            *per_partition.entry(record.partition).or_default() += 1;
        }
    }
    println!(
        "consumed {} records from the beginning in {:.1?}",
        per_partition.values().sum::<u64>(),
        started.elapsed()
    );
    for (p, end) in ends.iter().enumerate() {
        let p = p as u32;
        println!(
            "  partition {p}: {} records (log end offset {end})",
            per_partition.get(&p).copied().unwrap_or(0)
        );
    }
    store.close()?;
    Ok(())
}

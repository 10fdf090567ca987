//! The in-process baseline of the broker's throughput benchmark
//! (`broker/bench/run.sh`): the library's own `Producer` and `Consumer`
//! move the same records as the Kafka client does over the wire, in one
//! process, with nothing between them and the store.
//!
//! `cargo run --release -p seglog-broker --example inprocess_throughput -- DIR RECORDS SIZE`
//! prints one JSON line: `{"produce_s": ..., "consume_s": ...}`.

use std::time::{Duration, Instant};

use seglog::store::{LogStore, StoreConfig};
use seglog::{AutoOffsetReset, ConsumerConfig, ProducerConfig, ProducerRecord};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: DIR RECORDS SIZE")?;
    let records: u64 = args.next().ok_or("usage: DIR RECORDS SIZE")?.parse()?;
    let size: usize = args.next().ok_or("usage: DIR RECORDS SIZE")?.parse()?;

    let store = LogStore::open(&dir, StoreConfig::default())?;
    store.create_topic("bench", 1, &[])?;
    let value = vec![b'x'; size];

    let started = Instant::now();
    let producer = store.producer(ProducerConfig::default());
    for _ in 0..records {
        producer.send(ProducerRecord::new("bench", value.clone()))?;
    }
    producer.flush()?;
    let produce_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut consumer = store.consumer(ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Earliest,
        ..ConsumerConfig::default()
    });
    consumer.assign_topic("bench")?;
    let mut seen = 0u64;
    let mut bytes = 0usize;
    while seen < records {
        for r in consumer.poll(Duration::from_secs(1))? {
            bytes += r.value.as_ref().map_or(0, Vec::len);
            seen += 1;
        }
    }
    let consume_s = started.elapsed().as_secs_f64();
    if bytes != size * records as usize {
        return Err(format!(
            "consumed {bytes} bytes of values, expected {}",
            size * records as usize
        )
        .into());
    }
    store.close()?;
    println!("{{\"produce_s\": {produce_s:.6}, \"consume_s\": {consume_s:.6}}}");
    Ok(())
}

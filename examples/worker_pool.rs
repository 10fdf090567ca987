//! A worker pool: three consumers in one group share a topic of six
//! partitions, each on its own thread. Every job is processed once; the
//! workers commit what they processed when partitions move and when they
//! stop, so a pool started again on the same directory goes on where this
//! one stopped.
//!
//! `cargo run --release --example worker_pool [DIR]` (default
//! `./seglog-worker-pool`); run it twice to see the second run pick up
//! only the new jobs.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use seglog::{
    AutoOffsetReset, Consumer, ConsumerConfig, ConsumerRebalanceListener, LogStore, ProducerConfig,
    ProducerRecord, StoreConfig, TopicPartition,
};

const TOPIC: &str = "jobs";
const JOBS: usize = 600;

/// Commits the positions of what was processed before partitions go to
/// another worker: the next owner starts right after them.
struct CommitOnRevoke;

impl ConsumerRebalanceListener for CommitOnRevoke {
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut Consumer,
        _partitions: &[TopicPartition],
    ) -> seglog::Result<()> {
        consumer.commit_sync()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "./seglog-worker-pool".into());
    let mut config = StoreConfig::default();
    // The pool's three workers join at once; no need to wait for more.
    config.groups.group_initial_rebalance_delay_ms = 0;
    let store = LogStore::open(&dir, config)?;
    if !store.list_topics().iter().any(|t| t == TOPIC) {
        store.create_topic(TOPIC, 6, &[])?;
    }
    let producer = store.producer(ProducerConfig::default());
    for i in 0..JOBS {
        let key = format!("customer-{}", i % 37);
        producer.send(ProducerRecord::new(TOPIC, format!("job {i}")).with_key(key))?;
    }
    producer.flush()?;

    let processed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (store, processed) = (store.clone(), processed.clone());
            thread::spawn(move || -> seglog::Result<(usize, BTreeSet<u32>)> {
                let mut consumer = store.consumer(ConsumerConfig {
                    group_id: Some("workers".into()),
                    client_id: format!("worker-{w}"),
                    auto_offset_reset: AutoOffsetReset::Earliest,
                    enable_auto_commit: false,
                    ..ConsumerConfig::default()
                });
                consumer.subscribe_with_listener(&[TOPIC], CommitOnRevoke)?;
                let (mut mine, mut partitions) = (0, BTreeSet::new());
                let mut idle = Instant::now();
                // Until nothing has come for a second.
                while idle.elapsed() < Duration::from_secs(1) {
                    let records = consumer.poll(Duration::from_millis(100))?;
                    if !records.is_empty() {
                        idle = Instant::now();
                    }
                    mine += records.len();
                    partitions.extend(records.iter().map(|r| r.partition));
                    processed.fetch_add(records.len(), Ordering::Relaxed);
                    consumer.commit_sync()?;
                }
                consumer.close()?;
                Ok((mine, partitions))
            })
        })
        .collect();
    for (w, worker) in workers.into_iter().enumerate() {
        let (jobs, partitions) = worker.join().expect("worker panicked")?;
        println!("worker-{w}: {jobs} jobs from partitions {partitions:?}");
    }
    println!(
        "{} jobs processed in {:?} ({} new this run)",
        processed.load(Ordering::Relaxed),
        started.elapsed(),
        JOBS
    );
    let lag: u64 = store
        .describe_group("workers")?
        .partitions
        .iter()
        .filter_map(|p| p.lag)
        .sum();
    println!("lag of group \"workers\": {lag}");
    store.close()?;
    Ok(())
}

//! What `ProducerConfig::linger` costs and buys: how soon a sent record
//! reaches a consumer, and how fast a producer sending at full speed goes.
//!
//! * `latency` (printed, not a criterion measurement): 200 records of
//!   100 bytes sent to one partition 5 ms apart, with neither `flush` nor
//!   `Delivery::wait`; each timed from just before its `send` until
//!   `Consumer::poll`, blocked on another thread, returns it. p50 and p99
//!   for linger 0 and 5 ms. On an idle machine p99 should stay below
//!   linger + 5 ms.
//! * `produce-linger/100B` (criterion): 10,000 records of 100 bytes to one
//!   partition from one thread sending as fast as it can (no wait per
//!   record, one `flush` at the end of each iteration), with linger 0,
//!   5 ms and one hour (only full batches and the flush append: the
//!   producer as it was before linger). Against `PartitionLog::append` of
//!   the same records in batches of 128 (about what fills the producer's
//!   16 KiB batch) as the same-run baseline. Every append is written to
//!   the OS (the topic's default durability, `Flush`). Throughput is in
//!   value bytes.
//! * `interleaved` (printed): the same four, taking turns for 15 rounds of
//!   10 iterations each, with the median time of an iteration per
//!   variant. On a shared machine whose load changes while criterion
//!   runs one benchmark after the other, this compares them under the
//!   same load.
//!
//! On the real file system, in a temporary directory. `cargo bench --bench
//! linger`; `-- --quick` for a shorter run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use seglog::store::{
    AutoOffsetReset, ConsumerConfig, LogStore, ProducerConfig, ProducerRecord, StoreConfig,
};
use seglog::{PartitionLog, Record};

const VALUE_LEN: usize = 100;
/// Segments small enough that deleting the records of past iterations
/// frees their space.
const TOPIC_CONFIG: &[(&str, &str)] = &[
    ("segment.bytes", "8388608"),
    ("retention.ms", "-1"),
    ("file.delete.delay.ms", "0"),
];

fn value(i: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..VALUE_LEN).map(|j| (i * 31 + j * 7) as u8).collect();
    v[..8].copy_from_slice(&(i as u64).to_be_bytes());
    v
}

fn producer_config(linger: Duration) -> ProducerConfig {
    ProducerConfig {
        linger,
        ..ProducerConfig::default()
    }
}

const LATENCY_RECORDS: usize = 200;
const LATENCY_INTERVAL: Duration = Duration::from_millis(5);

/// Send→poll latencies of `LATENCY_RECORDS` records sent every
/// `LATENCY_INTERVAL`, sorted.
fn latencies(linger: Duration) -> Vec<Duration> {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), StoreConfig::default()).unwrap();
    store.create_topic("latency", 1, TOPIC_CONFIG).unwrap();
    let mut consumer = store.consumer(ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Earliest,
        ..ConsumerConfig::default()
    });
    consumer.assign(&[("latency", 0)]).unwrap();
    let ready = Arc::new(std::sync::Barrier::new(2));
    let reader = {
        let ready = ready.clone();
        std::thread::spawn(move || {
            let mut received = vec![None; LATENCY_RECORDS];
            let mut got = 0;
            ready.wait();
            let deadline = Instant::now() + Duration::from_secs(60);
            while got < LATENCY_RECORDS && Instant::now() < deadline {
                let records = consumer.poll(Duration::from_secs(1)).unwrap();
                let now = Instant::now();
                for r in records {
                    let value = r.value.unwrap();
                    let i = u64::from_be_bytes(value[..8].try_into().unwrap()) as usize;
                    received[i] = Some(now);
                    got += 1;
                }
            }
            received
        })
    };
    let producer = store.producer(producer_config(linger));
    ready.wait();
    // Give the consumer time to block in `poll`.
    std::thread::sleep(Duration::from_millis(20));
    let start = Instant::now();
    let mut sent = Vec::with_capacity(LATENCY_RECORDS);
    for i in 0..LATENCY_RECORDS {
        let at = start + LATENCY_INTERVAL * i as u32;
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        sent.push(Instant::now());
        producer
            .send(ProducerRecord::new("latency", value(i)).with_partition(0))
            .unwrap();
    }
    let received = reader.join().unwrap();
    let mut latencies: Vec<Duration> = sent
        .iter()
        .zip(&received)
        .map(|(s, r)| r.expect("every record reaches the consumer") - *s)
        .collect();
    latencies.sort();
    drop(producer);
    store.close().unwrap();
    latencies
}

fn bench_latency(_c: &mut Criterion) {
    for linger in [Duration::ZERO, Duration::from_millis(5)] {
        let l = latencies(linger);
        let at = |q: usize| l[(l.len() * q / 100).min(l.len() - 1)];
        println!(
            "latency/send-to-poll linger={:?}: p50 {:.2?} p99 {:.2?} max {:.2?} ({} records {:?} apart)",
            linger,
            at(50),
            at(99),
            l[l.len() - 1],
            l.len(),
            LATENCY_INTERVAL
        );
    }
}

const THROUGHPUT_RECORDS: usize = 10_000;
const BASELINE_BATCH: usize = 128;

fn bench_throughput(c: &mut Criterion) {
    let values: Vec<Vec<u8>> = (0..THROUGHPUT_RECORDS).map(value).collect();
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), StoreConfig::default()).unwrap();
    store.create_topic("produce", 1, TOPIC_CONFIG).unwrap();
    store.create_topic("append", 1, TOPIC_CONFIG).unwrap();
    // After each measurement, outside the timed part: the records go, so
    // that the run does not fill the disk.
    let truncate = |topic: &str| {
        let end = store.partition(topic, 0).unwrap().log_end_offset();
        store.delete_records(topic, 0, end).unwrap();
        store.maintain().unwrap();
    };

    let mut group = c.benchmark_group("produce-linger/100B");
    group.throughput(Throughput::Bytes((THROUGHPUT_RECORDS * VALUE_LEN) as u64));
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("PartitionLog::append", |b| {
        let log = store.partition("append", 0).unwrap();
        b.iter_custom(|iters| {
            let elapsed = append(&log, &values, iters);
            truncate("append");
            elapsed
        })
    });
    for (name, linger) in LINGERS {
        group.bench_with_input(
            BenchmarkId::new("Producer linger", name),
            &linger,
            |b, &linger| {
                b.iter_custom(|iters| {
                    let elapsed = produce(&store, &values, linger, iters);
                    truncate("produce");
                    elapsed
                })
            },
        );
    }
    group.finish();

    // The same, taking turns.
    const ROUNDS: usize = 15;
    const ITERS: u64 = 10;
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); LINGERS.len() + 1];
    let log = store.partition("append", 0).unwrap();
    for _ in 0..ROUNDS {
        times[0].push(append(&log, &values, ITERS) / ITERS as u32);
        truncate("append");
        for (k, (_, linger)) in LINGERS.iter().enumerate() {
            times[k + 1].push(produce(&store, &values, *linger, ITERS) / ITERS as u32);
            truncate("produce");
        }
    }
    let names = std::iter::once("PartitionLog::append".to_string()).chain(
        LINGERS
            .iter()
            .map(|(name, _)| format!("Producer linger {name}")),
    );
    for (name, mut t) in names.zip(times) {
        t.sort();
        let median = t[t.len() / 2];
        let mib_s =
            (THROUGHPUT_RECORDS * VALUE_LEN) as f64 / median.as_secs_f64() / f64::from(1 << 20);
        println!(
            "interleaved/100B {name}: median {median:.2?} per {THROUGHPUT_RECORDS} records ({mib_s:.0} MiB/s)"
        );
    }
    store.close().unwrap();
}

const LINGERS: [(&str, Duration); 3] = [
    ("0ms", Duration::ZERO),
    ("5ms", Duration::from_millis(5)),
    ("1h", Duration::from_secs(3600)),
];

/// `iters` times: `values` appended in batches of `BASELINE_BATCH` to
/// `log`. Returns the time taken.
fn append(log: &PartitionLog, values: &[Vec<u8>], iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        for chunk in values.chunks(BASELINE_BATCH) {
            // As the producer does: the value copied into a record
            // stamped with the time of sending.
            let records: Vec<Record> = chunk
                .iter()
                .map(|v| Record::new(v.clone()).with_timestamp(now_ms()))
                .collect();
            log.append(&records).unwrap();
        }
    }
    start.elapsed()
}

/// `iters` times: `values` sent to partition 0 of `produce` by one
/// producer, then a flush. Returns the time taken (the producer's drop
/// not included).
fn produce(store: &LogStore, values: &[Vec<u8>], linger: Duration, iters: u64) -> Duration {
    let producer = store.producer(producer_config(linger));
    let start = Instant::now();
    for _ in 0..iters {
        for v in values {
            producer
                .send(ProducerRecord::new("produce", v.clone()).with_partition(0))
                .unwrap();
        }
        producer.flush().unwrap();
    }
    start.elapsed()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

criterion_group!(benches, bench_latency, bench_throughput);
criterion_main!(benches);

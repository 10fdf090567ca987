//! The layer under the store: appends records to one partition log, reads
//! them back, prints a summary.
//!
//! ```text
//! cargo run --release --example partition_log [DATA_DIR]
//! ```
//!
//! The log lives in `DATA_DIR/partition-log-0` (default `./seglog-partition-log`).
//! Running it again continues where the last run stopped.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use seglog::{Durability, LogConfig, PartitionLog, Record};

fn main() -> Result<(), Box<dyn Error>> {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "seglog-partition-log".into()),
    );
    let dir = root.join("partition-log-0");
    let log = PartitionLog::open(&dir, LogConfig::default())?;
    let first = log.log_end_offset();
    let report = log.recovery_report();
    let how = if report.created {
        "created"
    } else if report.clean_shutdown {
        "reopened after a clean shutdown"
    } else {
        "recovered after a crash"
    };
    println!("{how} {}, log end offset {first}", dir.display());

    // Append 10 000 small keyed records in batches of 100; make the last
    // batch durable with an fsync.
    let started = Instant::now();
    let records: Vec<Record> = (0..10_000u32)
        .map(|i| {
            Record::new(format!(
                "event {} from run starting at {first}",
                first + u64::from(i)
            ))
            .with_key(format!("user-{}", i % 8))
            .with_header("source", "quickstart")
        })
        .collect();
    let mut last = None;
    for (n, chunk) in records.chunks(100).enumerate() {
        let durability = if n + 1 == records.len() / 100 {
            Durability::Sync
        } else {
            Durability::Flush
        };
        last = Some(log.append_with(chunk, durability)?);
    }
    let appended = started.elapsed();
    if let Some(info) = last {
        println!(
            "appended {} records (offsets {first}..={}) in {:.1?}",
            records.len(),
            info.last_offset,
            appended
        );
    }

    // Read back what this run wrote and count records per key.
    let started = Instant::now();
    let mut per_key: BTreeMap<String, u64> = BTreeMap::new();
    let mut bytes = 0u64;
    for record in log.iter(first) {
        let record = record?;
        bytes += record.value.as_ref().map_or(0, |v| v.len() as u64);
        let key = String::from_utf8_lossy(record.key.as_deref().unwrap_or_default()).into_owned();
        *per_key.entry(key).or_default() += 1;
    }
    println!(
        "read back {} records ({bytes} value bytes) in {:.1?}",
        per_key.values().sum::<u64>(),
        started.elapsed()
    );
    for (key, count) in &per_key {
        println!("  {key}: {count}");
    }
    let segments = log.segments();
    println!(
        "log now holds offsets {}..{} in {} segment(s), {} bytes",
        log.log_start_offset(),
        log.log_end_offset(),
        segments.len(),
        log.size_bytes()
    );
    if let Some(found) = log.offset_for_timestamp(0)? {
        println!("first record at or after time 0: offset {}", found.offset);
    }
    log.close()?;
    Ok(())
}

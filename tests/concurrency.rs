//! One writer and many readers at once, on the real file system.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use seglog::{Durability, Error, LogConfig, PartitionLog, Record};

fn value_of(offset: u64) -> Vec<u8> {
    let mut v = format!("offset {offset} ").into_bytes();
    v.resize(20 + (offset % 90) as usize, b'.');
    v
}

/// Appends `total` records in batches of varying size, as fast as it can.
fn write_all(log: &PartitionLog, total: u64, durability: Durability) {
    let mut next = 0u64;
    let mut n = 1u64;
    while next < total {
        let count = n.min(total - next);
        let records: Vec<Record> = (next..next + count)
            .map(|o| Record::new(value_of(o)))
            .collect();
        let info = log.append_with(&records, durability).unwrap();
        assert_eq!(info.first_offset, next);
        next += count;
        n = n % 17 + 1;
    }
}

#[test]
fn readers_see_whole_batches_while_the_writer_appends_and_rolls() {
    for durability in [Durability::None, Durability::Flush] {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes: 16 << 10,
            index_interval_bytes: 512,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(dir.path(), config).unwrap();
        const TOTAL: u64 = 20_000;
        let done = Arc::new(AtomicBool::new(false));
        let mut readers = Vec::new();
        // Tailing readers: every record, in order, with the right value.
        for _ in 0..3 {
            let log = log.clone();
            readers.push(thread::spawn(move || {
                let mut reader = log.reader(0).with_fetch_bytes(4096);
                let mut expected = 0u64;
                while expected < TOTAL {
                    match reader.next_batch().unwrap() {
                        Some(batch) => {
                            for r in batch {
                                let r = r.unwrap();
                                assert_eq!(r.offset, expected);
                                assert_eq!(r.value, Some(&value_of(r.offset)[..]));
                                expected += 1;
                            }
                        }
                        None => thread::yield_now(),
                    }
                }
            }));
        }
        // Random readers: any offset below the end they saw is readable.
        for seed in 0..2u64 {
            let log = log.clone();
            let done = done.clone();
            readers.push(thread::spawn(move || {
                let mut x = seed + 1;
                let mut reads = 0;
                while !done.load(Ordering::Acquire) || reads < 100 {
                    let end = log.log_end_offset();
                    if end == 0 {
                        continue;
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let offset = x % end;
                    let fetch = log.read(offset, 1).unwrap();
                    let first = fetch.records().next().unwrap().unwrap();
                    assert_eq!(first.offset, offset);
                    assert_eq!(first.value, Some(value_of(offset)));
                    reads += 1;
                }
            }));
        }
        write_all(&log, TOTAL, durability);
        done.store(true, Ordering::Release);
        for r in readers {
            r.join().unwrap();
        }
        assert!(log.segments().len() > 10);
        log.close().unwrap();
    }
}

#[test]
fn readers_survive_retention_deleting_what_they_read() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 8 << 10,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir.path(), config).unwrap();
    const TOTAL: u64 = 10_000;
    let reader = {
        let log = log.clone();
        thread::spawn(move || {
            let mut reader = log.reader(0).with_fetch_bytes(2048);
            let mut seen = 0u64;
            let mut last: Option<u64> = None;
            loop {
                match reader.next_batch() {
                    Ok(Some(batch)) => {
                        for r in batch {
                            let r = r.unwrap();
                            assert!(last.is_none_or(|l| r.offset > l));
                            assert_eq!(r.value, Some(&value_of(r.offset)[..]));
                            last = Some(r.offset);
                            seen += 1;
                        }
                    }
                    Ok(None) if last == Some(TOTAL - 1) => return seen,
                    Ok(None) => thread::yield_now(),
                    // Retention overtook the reader: skip to the start.
                    Err(Error::OffsetOutOfRange { earliest, .. }) => reader.seek(earliest),
                    Err(e) => panic!("{e}"),
                }
            }
        })
    };
    let mut next = 0;
    while next < TOTAL {
        let records: Vec<Record> = (next..next + 10)
            .map(|o| Record::new(value_of(o)))
            .collect();
        log.append(&records).unwrap();
        next += 10;
        if next % 500 == 0 {
            log.advance_log_start_offset(next - 300).unwrap();
        }
    }
    let seen = reader.join().unwrap();
    assert!(seen > 0);
    assert!(log.segments().len() < 10, "old segments were deleted");
}

#[test]
fn many_appenders_share_one_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    let writers: Vec<_> = (0..4u8)
        .map(|w| {
            let log = log.clone();
            thread::spawn(move || {
                for i in 0..500u32 {
                    log.append(&[Record::new(vec![w; 10]).with_key(i.to_be_bytes())])
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let all: Vec<_> = log.iter(0).map(|r| r.unwrap()).collect();
    assert_eq!(all.len(), 2000);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.offset, i as u64);
    }
    for w in 0..4u8 {
        let mine: Vec<u32> = all
            .iter()
            .filter(|r| r.value.as_deref() == Some(&[w; 10][..]))
            .map(|r| u32::from_be_bytes(r.key.as_deref().unwrap().try_into().unwrap()))
            .collect();
        assert_eq!(
            mine,
            (0..500).collect::<Vec<_>>(),
            "each writer's records keep their order"
        );
    }
}

/// Run by `a_directory_open_in_another_process_is_refused` in a child
/// process; does nothing when run directly.
#[test]
fn lock_probe_child() {
    let Ok(dir) = std::env::var("SEGLOG_LOCK_PROBE_DIR") else {
        return;
    };
    match PartitionLog::open(&dir, LogConfig::default()) {
        Err(e @ Error::Locked { .. }) => println!("LOCKED: {e}"),
        Err(e) => println!("OTHER ERROR: {e}"),
        Ok(_) => println!("OPENED"),
    }
}

#[test]
fn a_directory_open_in_another_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    let probe = |dir: &std::path::Path| {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "lock_probe_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("SEGLOG_LOCK_PROBE_DIR", dir)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let seen = probe(dir.path());
    assert!(seen.contains("LOCKED: "), "{seen}");
    assert!(seen.contains("already in use"), "{seen}");
    log.close().unwrap();
    let seen = probe(dir.path());
    assert!(seen.contains("OPENED"), "{seen}");
}

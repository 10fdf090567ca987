//! Read-only stores: reading a store another open holds, following its
//! topics and records, and never writing.

mod common_store;

use std::path::Path;
use std::time::{Duration, Instant};

use common_store::{open, produce, snapshot, store_config, value_for, ROOT, T0};
use seglog::io::{Fs, MemFs, OpenMode};
use seglog::store::{AutoOffsetReset, ConsumerConfig, StoreConfig, StoreOptions};
use seglog::{Error, LogStore, ManualClock, ProducerRecord};

fn open_read_only(fs: &MemFs, clock: &ManualClock) -> LogStore {
    StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .read_only(true)
        .open(
            ROOT,
            StoreConfig {
                refresh_interval: Duration::from_millis(10),
                ..store_config()
            },
        )
        .unwrap()
}

fn is_read_only(e: &Error) -> bool {
    matches!(e, Error::ReadOnly { path } if path == Path::new(ROOT))
}

#[test]
fn a_read_only_store_opens_beside_the_writer_and_its_consumers_follow_it() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let writer = open(&fs, &clock);
    writer.create_topic("t", 2, &[]).unwrap();
    produce(&writer, "t", 0, 5, T0);
    produce(&writer, "t", 1, 3, T0);

    let reader = open_read_only(&fs, &clock);
    assert!(reader.is_read_only() && !writer.is_read_only());
    assert_eq!(reader.list_topics(), ["t"]);
    let d = reader.describe_topic("t").unwrap();
    let ends: Vec<u64> = d.partitions.iter().map(|p| p.log_end_offset).collect();
    assert_eq!(ends, [5, 3]);

    let mut consumer = reader.consumer(ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Earliest,
        ..ConsumerConfig::default()
    });
    consumer.assign_topic("t").unwrap();
    let mut got = Vec::new();
    while got.len() < 8 {
        got.extend(consumer.poll(Duration::from_secs(5)).unwrap());
    }
    for r in &got {
        assert_eq!(
            r.value.as_deref().unwrap(),
            value_for(r.partition, r.offset, 100)
        );
    }

    // New records reach a waiting poll without an explicit refresh.
    let appender = {
        let writer = writer.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            produce(&writer, "t", 1, 2, T0);
        })
    };
    let started = Instant::now();
    let mut more = Vec::new();
    while more.len() < 2 && started.elapsed() < Duration::from_secs(10) {
        more.extend(consumer.poll(Duration::from_secs(10)).unwrap());
    }
    appender.join().unwrap();
    let offsets: Vec<(u32, u64)> = more.iter().map(|r| (r.partition, r.offset)).collect();
    assert_eq!(offsets, [(1, 3), (1, 4)]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the poll waited out its timeout"
    );

    // A poll with nothing new waits its timeout, then returns nothing.
    let started = Instant::now();
    assert!(consumer.poll(Duration::from_millis(60)).unwrap().is_empty());
    assert!(started.elapsed() >= Duration::from_millis(60));
}

#[test]
fn topics_created_grown_and_deleted_by_the_writer_are_followed() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let writer = open(&fs, &clock);
    writer.create_topic("a", 1, &[]).unwrap();
    let reader = open_read_only(&fs, &clock);
    assert!(!reader.refresh().unwrap(), "nothing changed yet");

    writer
        .create_topic("b", 2, &[("retention.ms", "1000")])
        .unwrap();
    writer.add_partitions("a", 3).unwrap();
    produce(&writer, "a", 2, 4, T0);
    assert!(reader.refresh().unwrap());
    assert_eq!(reader.list_topics(), ["a", "b"]);
    let a = reader.describe_topic("a").unwrap();
    assert_eq!(a.partitions.len(), 3);
    assert_eq!(a.partitions[2].log_end_offset, 4);
    let b = reader.describe_topic("b").unwrap();
    assert_eq!(b.config.retention_ms, Some(1000));

    // A consumer of a topic the writer deletes is told so.
    let mut consumer = reader.consumer(ConsumerConfig::default());
    consumer.assign_topic("b").unwrap();
    writer.delete_topic("b").unwrap();
    let err = consumer.poll(Duration::from_secs(5)).unwrap_err();
    assert!(
        matches!(err, Error::UnknownTopic { ref name } if name == "b"),
        "{err}"
    );
    assert_eq!(reader.list_topics(), ["a"]);

    // Deleted and created again with the same shape: its new records are
    // read, not the old ones.
    produce(&writer, "a", 0, 3, T0);
    let mut consumer = reader.consumer(ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Earliest,
        ..ConsumerConfig::default()
    });
    consumer.assign(&[("a", 0)]).unwrap();
    assert_eq!(consumer.poll(Duration::from_secs(5)).unwrap().len(), 3);
    writer.delete_topic("a").unwrap();
    writer.create_topic("a", 3, &[]).unwrap();
    let producer = writer.producer(Default::default());
    let sent = producer
        .send_and_wait(ProducerRecord::new("a", "new").with_partition(0))
        .unwrap();
    assert_eq!(sent.offset, 0);
    reader.refresh().unwrap();
    let log = reader.partition("a", 0).unwrap();
    assert_eq!(log.log_end_offset(), 1);
    let first = log.iter(0).next().unwrap().unwrap();
    assert_eq!(first.value.as_deref(), Some(&b"new"[..]));
}

#[test]
fn every_change_fails_with_read_only_and_nothing_is_written() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let writer = open(&fs, &clock);
    writer.create_topic("t", 2, &[]).unwrap();
    produce(&writer, "t", 0, 10, T0);
    writer.close().unwrap();
    let before = snapshot(&fs);

    let reader = open_read_only(&fs, &clock);
    assert!(reader.open_report().clean_shutdown);
    assert!(is_read_only(&reader.create_topic("u", 1, &[]).unwrap_err()));
    assert!(is_read_only(&reader.add_partitions("t", 3).unwrap_err()));
    assert!(is_read_only(&reader.delete_topic("t").unwrap_err()));
    assert!(is_read_only(&reader.delete_records("t", 0, 5).unwrap_err()));
    assert!(is_read_only(&reader.maintain().unwrap_err()));
    assert!(is_read_only(
        &reader
            .start_maintenance(Duration::from_secs(1))
            .unwrap_err()
    ));
    let producer = reader.producer(Default::default());
    assert!(is_read_only(
        &producer.send(ProducerRecord::new("t", "x")).unwrap_err()
    ));
    assert!(is_read_only(&reader.sync().unwrap_err()));

    let mut consumer = reader.consumer(ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Earliest,
        ..ConsumerConfig::default()
    });
    consumer.assign_topic("t").unwrap();
    assert_eq!(consumer.poll(Duration::from_secs(5)).unwrap().len(), 10);
    reader.refresh().unwrap();
    assert_eq!(snapshot(&fs), before, "a read-only store wrote");
    // A writer can open while the reader is open: no lock is held.
    let writer = open(&fs, &clock);
    writer.close().unwrap();
    let before_close = snapshot(&fs);
    reader.close().unwrap();
    drop(reader);
    assert_eq!(
        snapshot(&fs),
        before_close,
        "closing a read-only store wrote"
    );
}

#[test]
fn a_missing_directory_is_an_error_and_is_not_created() {
    let fs = MemFs::new();
    let err = StoreOptions::new()
        .fs(fs.clone())
        .read_only(true)
        .open(ROOT, store_config())
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("no such data directory"), "{err}");
    assert!(!fs.exists(Path::new(ROOT)).unwrap());
}

fn earliest(reader: &LogStore, max_poll_records: usize) -> seglog::Consumer {
    reader.consumer(ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Earliest,
        max_poll_records,
        ..ConsumerConfig::default()
    })
}

#[test]
fn a_consumer_follows_segments_its_writer_deleted_under_it() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let writer = open(&fs, &clock);
    writer
        .create_topic("t", 1, &[("segment.bytes", "600")])
        .unwrap();
    produce(&writer, "t", 0, 50, T0);
    let reader = open_read_only(&fs, &clock);
    // One batch a fetch: nothing read ahead.
    let mut consumer = reader.consumer(ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Earliest,
        max_poll_records: 1,
        max_partition_fetch_bytes: 1,
        ..ConsumerConfig::default()
    });
    consumer.assign_topic("t").unwrap();
    assert_eq!(consumer.poll(Duration::from_secs(5)).unwrap()[0].offset, 0);
    // The segments the consumer reads next go before it gets to them.
    assert_eq!(writer.delete_records("t", 0, 40).unwrap(), 40);
    // Records fetched before are still returned; then the position,
    // below the new log start, resets to it.
    let mut offsets = vec![0];
    while *offsets.last().unwrap() < 40 {
        let got = consumer.poll(Duration::from_secs(5)).unwrap();
        assert!(!got.is_empty());
        offsets.extend(got.iter().map(|r| r.offset));
    }
    let k = offsets.iter().position(|o| *o == 40).unwrap();
    assert_eq!(offsets[..k], (0..k as u64).collect::<Vec<_>>()[..]);
    assert!(
        k < 40,
        "nothing was deleted under the consumer: {offsets:?}"
    );
}

#[test]
fn damage_in_one_partition_does_not_hold_up_the_others() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let writer = open(&fs, &clock);
    writer
        .create_topic("t", 2, &[("segment.bytes", "600")])
        .unwrap();
    produce(&writer, "t", 0, 2, T0);
    let reader = open_read_only(&fs, &clock);
    let mut consumer = earliest(&reader, 500);
    consumer.assign_topic("t").unwrap();
    assert_eq!(consumer.poll(Duration::from_secs(5)).unwrap().len(), 2);

    // Partition 0 gets a batch that is damaged before the reader reads it,
    // and its writer rolls past it; partition 1 gets records.
    produce(&writer, "t", 0, 1, T0);
    let seg = writer.partition("t", 0).unwrap().segments()[0].clone();
    let f = fs.open(&seg.path, OpenMode::Write).unwrap();
    let mut byte = [0u8; 1];
    f.read_exact_at(&mut byte, seg.size - 2).unwrap();
    f.write_all_at(&[byte[0] ^ 0x55], seg.size - 2).unwrap();
    writer.partition("t", 0).unwrap().roll().unwrap();
    produce(&writer, "t", 1, 5, T0);

    let got = consumer.poll(Duration::from_secs(5)).unwrap();
    let offsets: Vec<(u32, u64)> = got.iter().map(|r| (r.partition, r.offset)).collect();
    assert_eq!(offsets, [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4)]);
    // With nothing else to give, the damage is reported, with its file.
    match consumer.poll(Duration::from_millis(100)) {
        Err(Error::Corrupt { path, .. }) => assert_eq!(path, seg.path),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn any_refresh_interval_is_usable() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let writer = open(&fs, &clock);
    writer.create_topic("t", 1, &[]).unwrap();
    for interval in [Duration::ZERO, Duration::MAX] {
        let reader = StoreOptions::new()
            .fs(fs.clone())
            .read_only(true)
            .open(
                ROOT,
                StoreConfig {
                    refresh_interval: interval,
                    ..store_config()
                },
            )
            .unwrap();
        let mut consumer = earliest(&reader, 500);
        consumer.assign_topic("t").unwrap();
        let started = Instant::now();
        assert!(consumer.poll(Duration::from_millis(50)).unwrap().is_empty());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn damage_in_a_last_segment_reaches_a_consumer_and_fails_a_read_only_open() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let writer = open(&fs, &clock);
    writer.create_topic("t", 1, &[]).unwrap();
    produce(&writer, "t", 0, 5, T0);
    let reader = open_read_only(&fs, &clock);
    let mut consumer = earliest(&reader, 500);
    consumer.assign_topic("t").unwrap();
    assert_eq!(consumer.poll(Duration::from_secs(5)).unwrap().len(), 5);

    // Two more batches, the second damaged (its CRC no longer matches),
    // then valid ones after it.
    let log = writer.partition("t", 0).unwrap();
    produce(&writer, "t", 0, 1, T0);
    let damaged_at = log.segments()[0].size;
    produce(&writer, "t", 0, 1, T0);
    let seg = log.segments()[0].clone();
    let f = fs.open(&seg.path, OpenMode::Write).unwrap();
    let mut byte = [0u8; 1];
    f.read_exact_at(&mut byte, seg.size - 1).unwrap();
    f.write_all_at(&[byte[0] ^ 0xff], seg.size - 1).unwrap();
    produce(&writer, "t", 0, 3, T0);

    // The consumer gets the record before the damage, and the damage
    // (the poll that finds it reports it; the next one returns what was
    // read before it).
    let mut offsets = Vec::new();
    let mut errors = Vec::new();
    for _ in 0..4 {
        match consumer.poll(Duration::from_millis(50)) {
            Ok(got) => offsets.extend(got.iter().map(|r| r.offset)),
            Err(e) => errors.push(e),
        }
    }
    assert_eq!(offsets, [5]);
    assert!(!errors.is_empty(), "the damage was never reported");
    for err in errors {
        assert!(
            matches!(err, Error::Corrupt { ref path, position, .. } if *path == seg.path && position == damaged_at),
            "{err}"
        );
    }
    // A read-only open reports it.
    let err = StoreOptions::new()
        .fs(fs.clone())
        .read_only(true)
        .open(ROOT, store_config())
        .unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { ref path, position, .. } if *path == seg.path && position == damaged_at),
        "{err}"
    );
}

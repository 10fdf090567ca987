//! The maintenance thread a store opened for writing runs by itself every
//! `retention_check_interval`, and the switch that turns it off.

use std::time::Duration;

use seglog::io::{Fs, MemFs};
use seglog::store::{StoreConfig, StoreOptions, DEFAULT_RETENTION_CHECK_INTERVAL};
use seglog::{AutoOffsetReset, ConsumerConfig, Error, ManualClock, ProducerRecord};

use super::{assert_no_errors, eventually, old_and_new};
use crate::common_store::*;

/// The test store's config with the background thread every `interval`,
/// or off.
fn config_with(background: bool, interval: Duration) -> StoreConfig {
    StoreConfig {
        background_maintenance: background,
        retention_check_interval: interval,
        ..store_config()
    }
}

/// `TOPIC` with `partitions` partitions of 1,000-byte segments kept for a
/// minute, deleted files removed at once, filled by `old_and_new`.
fn with_old_records(store: &seglog::LogStore, partitions: u32) {
    store
        .create_topic(
            TOPIC,
            partitions,
            &[
                ("retention.ms", "60000"),
                ("segment.bytes", "1000"),
                ("file.delete.delay.ms", "0"),
            ],
        )
        .unwrap();
    old_and_new(store, partitions);
}

#[test]
fn the_defaults_are_kafkas() {
    let config = StoreConfig::default();
    assert!(config.background_maintenance);
    assert_eq!(config.retention_check_interval, Duration::from_secs(300));
    assert_eq!(DEFAULT_RETENTION_CHECK_INTERVAL, Duration::from_secs(300));
}

#[test]
fn a_writable_store_applies_retention_by_itself() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 60_000);
    let store = open_with(&fs, &clock, config_with(true, Duration::from_millis(5)));
    with_old_records(&store, 2);
    // Passes run (the first perhaps before the topic was there), but
    // nothing has expired yet.
    let report = eventually("a pass over the topic", || {
        store
            .last_maintenance_report()
            .filter(|r| r.partitions == 2)
    });
    assert_no_errors(&report);
    assert_eq!(report.partitions, 2);
    for p in 0..2 {
        assert_eq!(store.partition(TOPIC, p).unwrap().log_start_offset(), 0);
    }

    // Time passes: retention applies without the application asking.
    clock.set(T0 + 60_001);
    eventually("retention", || {
        (0..2)
            .all(|p| store.partition(TOPIC, p).unwrap().log_start_offset() == 20)
            .then_some(())
    });
    for p in 0..2 {
        assert_eq!(bases(&store.partition(TOPIC, p).unwrap().segments()), [20]);
        assert!(deleted_bases(&fs, TOPIC, p).is_empty());
    }
    store.close().unwrap();
    assert!(matches!(
        store.start_maintenance(Duration::from_millis(5)),
        Err(Error::StoreClosed { .. })
    ));
}

#[test]
fn with_the_switch_off_only_the_host_runs_maintenance() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 60_001);
    // The interval would be short: the switch alone keeps passes away.
    let store = open_with(&fs, &clock, config_with(false, Duration::from_millis(1)));
    with_old_records(&store, 1);
    std::thread::sleep(Duration::from_millis(50));
    assert!(store.last_maintenance_report().is_none());
    let log = store.partition(TOPIC, 0).unwrap();
    assert_eq!(log.log_start_offset(), 0, "a pass ran with the switch off");

    // The host's own pass applies retention.
    let report = store.maintain().unwrap();
    assert_no_errors(&report);
    assert_eq!(report.segments_deleted, 4);
    assert_eq!(log.log_start_offset(), 20);
    // A pass it runs itself is not the background thread's report.
    assert!(store.last_maintenance_report().is_none());

    // It may still start the thread itself.
    produce(&store, TOPIC, 0, 1, T0 + 100_000);
    store.start_maintenance(Duration::from_millis(5)).unwrap();
    let report = eventually("a background pass", || {
        store
            .last_maintenance_report()
            .filter(|r| r.partitions == 1)
    });
    assert_no_errors(&report);
    assert_eq!(report.partitions, 1);
    store.close().unwrap();
}

#[test]
fn a_read_only_store_runs_no_maintenance() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0 + 60_001);
    let writer = open_with(&fs, &clock, config_with(false, Duration::from_millis(1)));
    with_old_records(&writer, 1);
    let reader = StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .read_only(true)
        .open(ROOT, config_with(true, Duration::from_millis(1)))
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(reader.last_maintenance_report().is_none());
    // Expired segments are the writer's to delete; the reader touched none.
    assert_eq!(writer.partition(TOPIC, 0).unwrap().log_start_offset(), 0);
    assert_eq!(
        bases(&writer.partition(TOPIC, 0).unwrap().segments()),
        [0, 5, 10, 15, 20]
    );
    assert!(matches!(
        reader.start_maintenance(Duration::from_millis(1)),
        Err(Error::ReadOnly { .. })
    ));
    reader.close().unwrap();
    writer.close().unwrap();
}

#[test]
fn a_zero_interval_is_refused() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let opened = StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(ROOT, config_with(true, Duration::ZERO));
    match opened {
        Err(Error::InvalidConfig { field, .. }) => {
            assert_eq!(field, "log.retention.check.interval.ms")
        }
        other => panic!("{other:?}"),
    }
    // Refused before anything was written.
    assert!(!fs.exists(std::path::Path::new(ROOT)).unwrap());
    // Refused with the switch off too: the setting is wrong either way.
    assert!(matches!(
        StoreOptions::new()
            .fs(fs.clone())
            .open(ROOT, config_with(false, Duration::ZERO)),
        Err(Error::InvalidConfig { .. })
    ));
    let store = open(&fs, &clock);
    assert!(matches!(
        store.start_maintenance(Duration::ZERO),
        Err(Error::InvalidConfig {
            field: "interval",
            ..
        })
    ));
    store.close().unwrap();
}

/// Passes every millisecond hold up neither producers nor consumers:
/// every record sent while they run is consumed, in order.
#[test]
fn producers_and_consumers_work_beside_the_thread() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open_with(&fs, &clock, config_with(true, Duration::from_millis(1)));
    store
        .create_topic(TOPIC, 2, &[("segment.bytes", "1000")])
        .unwrap();
    let producer = store.producer(Default::default());
    let mut consumer = store.consumer(ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Earliest,
        ..ConsumerConfig::default()
    });
    consumer.assign_topic(TOPIC).unwrap();
    let mut seen = [Vec::new(), Vec::new()];
    for i in 0..200u32 {
        let p = i % 2;
        producer
            .send_and_wait(ProducerRecord::new(TOPIC, i.to_string()).with_partition(p))
            .unwrap();
        for r in consumer.poll(Duration::ZERO).unwrap() {
            seen[r.partition as usize].push(r.offset);
        }
    }
    while seen[0].len() + seen[1].len() < 200 {
        let records = consumer.poll(Duration::from_secs(10)).unwrap();
        assert!(!records.is_empty(), "records went missing: {seen:?}");
        for r in records {
            seen[r.partition as usize].push(r.offset);
        }
    }
    for offsets in &seen {
        assert_eq!(*offsets, (0..100).collect::<Vec<u64>>());
    }
    eventually("a pass", || store.last_maintenance_report());
    drop(consumer);
    drop(producer);
    store.close().unwrap();
}

/// Dropping the last handle stops the thread the store started itself
/// and releases the directory, closed cleanly.
#[test]
fn dropping_the_store_stops_its_own_thread() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    for interval_ms in [1, 60_000] {
        let config = config_with(true, Duration::from_millis(interval_ms));
        {
            let store = open_with(&fs, &clock, config.clone());
            if store.list_topics().is_empty() {
                store.create_topic(TOPIC, 1, &[]).unwrap();
            }
            produce(&store, TOPIC, 0, 1, T0);
            if interval_ms == 1 {
                eventually("a pass", || store.last_maintenance_report());
            }
        }
        let store = open_with(&fs, &clock, config);
        assert!(store.open_report().clean_shutdown, "interval {interval_ms}");
        store.close().unwrap();
    }
}

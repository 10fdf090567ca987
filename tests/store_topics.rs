//! LogStore topics: create, list, describe, grow, delete, reopen; names
//! and configs refused with clear errors.

use std::path::Path;

use seglog::io::{Fs, MemFs};
use seglog::store::{LogStore, StoreConfig, StoreOptions};
use seglog::{Error, ManualClock, ProducerRecord};

mod common_store;

use common_store::{root_dirs, ROOT};

fn open(fs: &MemFs, clock: &ManualClock) -> LogStore {
    StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(ROOT, StoreConfig::default())
        .unwrap()
}

#[test]
fn topics_are_created_described_grown_and_deleted() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let store = open(&fs, &clock);
    assert!(store.open_report().created);
    store
        .create_topic(
            "orders",
            3,
            &[("retention.ms", "60000"), ("segment.bytes", "1048576")],
        )
        .unwrap();
    store.create_topic("audit", 1, &[]).unwrap();
    assert_eq!(store.list_topics(), ["audit", "orders"]);
    assert_eq!(
        root_dirs(&fs),
        ["audit-0", "orders-0", "orders-1", "orders-2"]
    );

    let d = store.describe_topic("orders").unwrap();
    assert_eq!(d.partitions.len(), 3);
    assert_eq!(d.config.retention_ms, Some(60_000));
    assert_eq!(d.config.log.segment_bytes, 1_048_576);
    assert_eq!(
        d.overrides,
        [
            ("retention.ms".to_string(), "60000".to_string()),
            ("segment.bytes".to_string(), "1048576".to_string())
        ]
    );
    assert!(d.partitions.iter().all(|p| p.log_end_offset == 0));

    let producer = store.producer(Default::default());
    for i in 0..30 {
        let _ = producer
            .send(ProducerRecord::new("orders", format!("v{i}")).with_key(format!("k{i}")))
            .unwrap();
    }
    producer.flush().unwrap();
    let d = store.describe_topic("orders").unwrap();
    assert_eq!(
        d.partitions.iter().map(|p| p.log_end_offset).sum::<u64>(),
        30
    );
    assert!(d
        .partitions
        .iter()
        .all(|p| p.size_bytes > 0 && p.segments == 1));

    store.add_partitions("orders", 5).unwrap();
    assert_eq!(store.describe_topic("orders").unwrap().partitions.len(), 5);
    assert!(matches!(
        store.add_partitions("orders", 5),
        Err(Error::InvalidPartitions { requested: 5, .. })
    ));
    assert!(matches!(
        store.add_partitions("orders", 2),
        Err(Error::InvalidPartitions { requested: 2, .. })
    ));

    store.delete_topic("audit").unwrap();
    assert_eq!(store.list_topics(), ["orders"]);
    assert!(root_dirs(&fs).iter().all(|d| !d.starts_with("audit")));
    assert!(matches!(
        store.describe_topic("audit"),
        Err(Error::UnknownTopic { name }) if name == "audit"
    ));
    assert!(matches!(
        store.delete_topic("audit"),
        Err(Error::UnknownTopic { .. })
    ));
    // The name can be used again, and starts empty.
    store.create_topic("audit", 2, &[]).unwrap();
    assert_eq!(
        store.describe_topic("audit").unwrap().partitions[0].log_end_offset,
        0
    );
    store.close().unwrap();
}

#[test]
fn reopen_keeps_topics_configs_and_offsets() {
    let fs = MemFs::new();
    let clock = ManualClock::new(1_000);
    let store = open(&fs, &clock);
    store
        .create_topic(
            "events",
            4,
            &[("retention.bytes", "1000000"), ("compression.type", "none")],
        )
        .unwrap();
    let producer = store.producer(Default::default());
    for i in 0..100 {
        let _ = producer
            .send(ProducerRecord::new("events", format!("value {i}")).with_key(format!("{i}")))
            .unwrap();
    }
    drop(producer);
    assert_eq!(store.delete_records("events", 0, 3).unwrap(), 3);
    let before = store.describe_topic("events").unwrap();
    store.close().unwrap();
    drop(store);

    let store = open(&fs, &clock);
    let report = store.open_report().clone();
    assert!(report.clean_shutdown && !report.created, "{report:?}");
    assert_eq!(report.partitions, 4);
    assert_eq!(report.partitions_recovered, 0);
    let after = store.describe_topic("events").unwrap();
    assert_eq!(after, before);
    assert_eq!(after.config.retention_bytes, Some(1_000_000));
    assert_eq!(after.partitions[0].log_start_offset, 3);
    // Root checkpoint files in Kafka's format name every partition.
    let text = String::from_utf8(
        fs.open(
            Path::new("/store/recovery-point-offset-checkpoint"),
            seglog::io::OpenMode::Read,
        )
        .map(|f| {
            let mut buf = vec![0; f.len().unwrap() as usize];
            f.read_exact_at(&mut buf, 0).unwrap();
            buf
        })
        .unwrap(),
    )
    .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "0");
    assert_eq!(lines[1], "4");
    for p in &before.partitions {
        let line = format!("events {} {}", p.partition, p.log_end_offset);
        assert!(lines.contains(&line.as_str()), "{line} in {text}");
    }
}

#[test]
fn bad_names_and_configs_are_refused_with_clear_errors() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let store = open(&fs, &clock);
    for name in [
        "",
        ".",
        "..",
        "a/b",
        "../x",
        "with space",
        "ünïcode",
        &"x".repeat(250),
    ] {
        match store.create_topic(name, 1, &[]) {
            Err(Error::InvalidTopic { name: n, reason }) => {
                assert_eq!(n, name);
                assert!(!reason.is_empty());
            }
            other => panic!("{name:?}: {other:?}"),
        }
    }
    assert!(matches!(
        store.create_topic("ok", 0, &[]),
        Err(Error::InvalidPartitions { requested: 0, .. })
    ));
    match store.create_topic("ok", 1, &[("segment.bytes", "12")]) {
        Err(Error::InvalidConfig { field, reason }) => {
            assert_eq!(field, "segment.bytes");
            assert!(reason.contains("12"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.create_topic("ok", 1, &[("no.such.key", "1")]),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        store.create_topic("ok", 1, &[("cleanup.policy", "compact,remove")]),
        Err(Error::InvalidConfig { .. })
    ));
    // Nothing was created by the failed attempts.
    assert!(store.list_topics().is_empty());
    assert!(root_dirs(&fs).is_empty());
    store.create_topic("ok", 1, &[]).unwrap();
    assert!(matches!(
        store.create_topic("ok", 1, &[]),
        Err(Error::TopicExists { name }) if name == "ok"
    ));
    assert!(matches!(
        store.partition("ok", 1),
        Err(Error::UnknownPartition {
            partition: 1,
            partitions: 1,
            ..
        })
    ));
    let bad_defaults = StoreConfig {
        topic_defaults: seglog::TopicConfig {
            log: seglog::LogConfig {
                index_interval_bytes: 0,
                segment_bytes: 1,
                ..Default::default()
            },
            ..Default::default()
        },
        ..StoreConfig::default()
    };
    assert!(matches!(
        StoreOptions::new()
            .fs(MemFs::new())
            .open("/other", bad_defaults),
        Err(Error::InvalidConfig { .. })
    ));
}

#[test]
fn a_second_open_of_the_same_directory_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), StoreConfig::default()).unwrap();
    match LogStore::open(dir.path(), StoreConfig::default()) {
        Err(e @ Error::Locked { .. }) => {
            // Readers in another process are told how to get in.
            assert!(e.to_string().contains("LogStore::open_read_only"), "{e}");
            let Error::Locked { path } = e else {
                unreachable!()
            };
            assert_eq!(path, dir.path());
        }
        other => panic!("{other:?}"),
    }
    store.close().unwrap();
    drop(store);
    LogStore::open(dir.path(), StoreConfig::default()).unwrap();
}

#[test]
fn a_directory_without_topic_metadata_is_adopted() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    // Partition directories written by plain logs, as a Kafka log dir.
    for p in [0u32, 1] {
        let log = seglog::OpenOptions::new()
            .fs(fs.clone())
            .open(format!("{ROOT}/legacy-{p}"), seglog::LogConfig::default())
            .unwrap();
        log.append(&[seglog::Record::new("x")]).unwrap();
        log.close().unwrap();
    }
    fs.create_dir_all(Path::new("/store/not a partition"))
        .unwrap();
    let store = open(&fs, &clock);
    assert_eq!(store.list_topics(), ["legacy"]);
    let d = store.describe_topic("legacy").unwrap();
    assert_eq!(d.partitions.len(), 2);
    assert!(d.partitions.iter().all(|p| p.log_end_offset == 1));
    assert_eq!(
        store.open_report().unknown_directories,
        [Path::new("/store/not a partition")]
    );
}

/// A deletion that fails part-way stays committed: the topic is gone, a
/// topic of the same name cannot take over the old data, and the next
/// change finishes the deletion.
#[test]
fn a_deletion_that_fails_part_way_is_finished_later() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let store = open(&fs, &clock);
    store.create_topic("t", 2, &[]).unwrap();
    let producer = store.producer(Default::default());
    for p in 0..2 {
        producer
            .send_and_wait(ProducerRecord::new("t", format!("old-{p}")).with_partition(p))
            .unwrap();
    }
    fs.set_fault_hook(|call| {
        (call.op == seglog::io::FsOp::Rename && call.path.ends_with("t-1")).then_some(
            seglog::io::Fault::Error(std::io::ErrorKind::PermissionDenied),
        )
    });
    assert!(matches!(store.delete_topic("t"), Err(Error::Io { .. })));
    assert!(store.list_topics().is_empty());
    // Still failing: creating the name again reports it, and changes nothing.
    assert!(matches!(
        store.create_topic("t", 2, &[]),
        Err(Error::Io { .. })
    ));
    assert!(store.list_topics().is_empty());
    fs.clear_fault_hook();
    store.create_topic("t", 2, &[]).unwrap();
    let d = store.describe_topic("t").unwrap();
    assert!(d.partitions.iter().all(|p| p.log_end_offset == 0), "{d:?}");
    assert_eq!(root_dirs(&fs), ["t-0", "t-1"]);
    store.close().unwrap();
    let store = open(&fs, &clock);
    assert!(store.open_report().unknown_directories.is_empty());
    assert_eq!(store.describe_topic("t").unwrap().partitions.len(), 2);
}

/// A failed deletion left to the next open: the open finishes it.
#[test]
fn a_deletion_that_failed_is_finished_by_the_next_open() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let store = open(&fs, &clock);
    store.create_topic("t", 2, &[]).unwrap();
    store.create_topic("u", 1, &[]).unwrap();
    fs.set_fault_hook(|call| {
        (call.op == seglog::io::FsOp::Rename && call.path.ends_with("t-0")).then_some(
            seglog::io::Fault::Error(std::io::ErrorKind::PermissionDenied),
        )
    });
    assert!(store.delete_topic("t").is_err());
    fs.clear_fault_hook();
    drop(store);
    let store = open(&fs, &clock);
    assert_eq!(store.open_report().deletions_finished, 1);
    assert_eq!(store.list_topics(), ["u"]);
    assert_eq!(root_dirs(&fs), ["u-0"]);
}

/// A directory that looks like a partition but is not the store's is never
/// taken over by a new topic or partition.
#[test]
fn foreign_partition_directories_are_not_taken_over() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let store = open(&fs, &clock);
    store.create_topic("t", 1, &[]).unwrap();
    drop(store);
    for d in ["/store/x-0", "/store/t-1"] {
        fs.create_dir_all(Path::new(d)).unwrap();
    }
    let store = open(&fs, &clock);
    assert_eq!(
        store.open_report().unknown_directories,
        [Path::new("/store/t-1"), Path::new("/store/x-0")]
    );
    match store.create_topic("x", 1, &[]) {
        Err(Error::InvalidTopic { name, reason }) => {
            assert_eq!(name, "x");
            assert!(reason.contains("/store/x-0"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.add_partitions("t", 2),
        Err(Error::InvalidPartitions { .. })
    ));
    assert_eq!(store.list_topics(), ["t"]);
}

/// The longest topic name Kafka allows can be deleted: the `-delete`
/// name is cut to fit a file name, as Kafka cuts it.
#[test]
fn a_topic_with_the_longest_name_is_deleted_on_a_real_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let name = "n".repeat(249);
    let store = LogStore::open(dir.path(), StoreConfig::default()).unwrap();
    store.create_topic(&name, 2, &[]).unwrap();
    store.delete_topic(&name).unwrap();
    assert!(store.list_topics().is_empty());
    store.close().unwrap();
    drop(store);
    let store = LogStore::open(dir.path(), StoreConfig::default()).unwrap();
    assert!(store.list_topics().is_empty());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A topic list naming an absurd partition count is reported as corrupt,
/// not acted on.
#[test]
fn a_topic_list_with_an_absurd_partition_count_is_corrupt() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    drop(open(&fs, &clock));
    fs.write(
        Path::new("/store/seglog.topics"),
        b"seglog-topics 1\n1\nt 4294967295 live\n",
    )
    .unwrap();
    match StoreOptions::new()
        .fs(fs.clone())
        .open(ROOT, StoreConfig::default())
    {
        Err(Error::Corrupt { reason, .. }) => assert!(reason.contains("4294967295"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

/// Files under `dir` this process holds open (Linux), by their paths.
fn open_files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .collect()
}

/// A deleted topic's files are closed at once, even while a producer and
/// a consumer that used it still hold its partitions.
#[test]
fn a_deleted_topics_files_are_closed_while_its_clients_live_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), StoreConfig::default()).unwrap();
    store
        .create_topic("t", 2, &[("segment.bytes", "2000")])
        .unwrap();
    let producer = store.producer(Default::default());
    for i in 0..200 {
        let _ = producer
            .send(ProducerRecord::new("t", vec![b'v'; 100]).with_partition(i % 2))
            .unwrap();
    }
    producer.flush().unwrap();
    let mut consumer = store.consumer(seglog::ConsumerConfig {
        auto_offset_reset: seglog::AutoOffsetReset::Earliest,
        ..Default::default()
    });
    consumer.assign_topic("t").unwrap();
    assert!(!consumer
        .poll(std::time::Duration::from_millis(10))
        .unwrap()
        .is_empty());
    if std::path::Path::new("/proc/self/fd").exists() {
        assert!(!open_files_under(dir.path()).is_empty());
    }
    store.delete_topic("t").unwrap();
    let left = open_files_under(dir.path())
        .into_iter()
        .filter(|p| !p.ends_with(".lock"))
        .collect::<Vec<_>>();
    assert!(left.is_empty(), "{left:?}");
    drop((producer, consumer));
}

/// A deletion that keeps failing holds up only its own topic's name: other
/// topics are created and deleted as usual, and renamed directories whose
/// removal failed go at the next change.
#[test]
fn a_stuck_deletion_holds_up_only_its_own_name() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let store = open(&fs, &clock);
    store.create_topic("stuck", 1, &[]).unwrap();
    store.create_topic("b", 1, &[]).unwrap();
    fs.set_fault_hook(|call| {
        let stuck = call.op == seglog::io::FsOp::Rename && call.path.ends_with("stuck-0");
        let removal =
            call.op == seglog::io::FsOp::RemoveDir && call.path.to_string_lossy().contains("b-0.");
        (stuck || removal).then_some(seglog::io::Fault::Error(
            std::io::ErrorKind::PermissionDenied,
        ))
    });
    assert!(store.delete_topic("stuck").is_err());
    // Another topic is created, and deleted (its renamed directory stays
    // for now: removing it fails too).
    store.create_topic("c", 1, &[]).unwrap();
    assert!(store.delete_topic("b").is_err());
    assert_eq!(store.list_topics(), ["c"]);
    assert!(matches!(
        store.create_topic("stuck", 1, &[]),
        Err(Error::Io { .. })
    ));
    assert!(
        root_dirs(&fs).iter().any(|d| d.starts_with("b-0.")),
        "{:?}",
        root_dirs(&fs)
    );
    fs.clear_fault_hook();
    store.create_topic("d", 1, &[]).unwrap();
    assert_eq!(root_dirs(&fs), ["c-0", "d-0"]);
    store.create_topic("stuck", 1, &[]).unwrap();
    assert_eq!(
        store.describe_topic("stuck").unwrap().partitions[0].log_end_offset,
        0
    );
}

#[path = "store_topics/cleanup_config.rs"]
mod cleanup_config;
#[path = "store_topics/typed_config.rs"]
mod typed_config;

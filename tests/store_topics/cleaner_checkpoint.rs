//! The store's `cleaner-offset-checkpoint`: one file in the root for
//! every partition, as Kafka keeps it in a log directory.

use std::path::Path;

use seglog::io::{Fs, MemFs};
use seglog::store::{verify_store_files, StoreOptions};
use seglog::{Error, LogStore, ManualClock};

use crate::common_store::*;

const FILE: &str = "/store/cleaner-offset-checkpoint";

/// A compacted topic of 1,000-byte segments (5 records each).
fn create_compacted(store: &LogStore, name: &str, partitions: u32) {
    store
        .create_topic(
            name,
            partitions,
            &[("cleanup.policy", "compact"), ("segment.bytes", "1000")],
        )
        .unwrap();
}

/// 12 records over 3 keys to each partition of `topic` (segments 0, 5
/// and the active 10), then a round on each: their checkpoints are 10.
fn fill_and_compact(store: &LogStore, topic: &str, partitions: u32) {
    for p in 0..partitions {
        for i in 0..12 {
            let value = format!("{i}-{}", ".".repeat(100));
            put(store, topic, p, &format!("k{}", i % 3), Some(&value), T0);
        }
        let log = store.partition(topic, p).unwrap();
        assert_eq!(bases(&log.segments()), [0, 5, 10]);
        log.compact(T0).unwrap();
        assert_eq!(log.cleaner_checkpoint(), Some(10));
    }
}

fn text(fs: &MemFs, path: &str) -> String {
    String::from_utf8(fs.read(Path::new(path)).unwrap()).unwrap()
}

#[test]
fn every_partitions_checkpoint_is_in_the_roots_file() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    create_compacted(&store, "c", 2);
    fill_and_compact(&store, "c", 2);
    assert_eq!(text(&fs, FILE), "0\n2\nc 0 10\nc 1 10\n");
    for p in 0..2 {
        assert!(
            files(&fs, "c", p, "cleaner-offset-checkpoint").is_empty(),
            "a partition directory has its own file"
        );
    }
    store.close().unwrap();
    drop(store);

    let store = open(&fs, &clock);
    for p in 0..2 {
        assert_eq!(
            store.partition("c", p).unwrap().cleaner_checkpoint(),
            Some(10)
        );
    }
    store.close().unwrap();
    drop(store);

    // The file is Kafka's: what it says is what the partitions take.
    fs.write(Path::new(FILE), b"0\n2\nc 0 5\nc 1 7\n").unwrap();
    let store = open(&fs, &clock);
    let checkpoints: Vec<Option<u64>> = (0..2)
        .map(|p| store.partition("c", p).unwrap().cleaner_checkpoint())
        .collect();
    assert_eq!(checkpoints, [Some(5), Some(7)]);
    store.close().unwrap();
}

#[test]
fn deleting_a_topic_removes_its_entries() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    create_compacted(&store, "gone", 2);
    create_compacted(&store, "kept", 1);
    fill_and_compact(&store, "gone", 2);
    fill_and_compact(&store, "kept", 1);
    assert_eq!(text(&fs, FILE), "0\n3\ngone 0 10\ngone 1 10\nkept 0 10\n");
    store.delete_topic("gone").unwrap();
    assert_eq!(text(&fs, FILE), "0\n1\nkept 0 10\n");
    // A topic of the same name starts without a checkpoint.
    create_compacted(&store, "gone", 2);
    assert_eq!(
        store.partition("gone", 0).unwrap().cleaner_checkpoint(),
        None
    );
    store.close().unwrap();
    drop(store);
    let store = open(&fs, &clock);
    assert_eq!(
        store.partition("gone", 1).unwrap().cleaner_checkpoint(),
        None
    );
    assert_eq!(
        store.partition("kept", 0).unwrap().cleaner_checkpoint(),
        Some(10)
    );
    store.close().unwrap();
}

/// Entries of a topic the store no longer has (left by a deletion that
/// failed to remove them, or by another program) do not pass to a new
/// topic of that name.
#[test]
fn a_new_topic_takes_no_entry_left_in_the_file() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    store.close().unwrap();
    drop(store);
    fs.write(Path::new(FILE), b"0\n2\nc 0 3\nother 0 4\n")
        .unwrap();
    let store = open(&fs, &clock);
    create_compacted(&store, "c", 1);
    assert_eq!(store.partition("c", 0).unwrap().cleaner_checkpoint(), None);
    assert_eq!(text(&fs, FILE), "0\n1\nother 0 4\n");
    store.close().unwrap();
}

#[test]
fn a_read_only_store_reads_the_checkpoints_and_writes_nothing() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    create_compacted(&store, "c", 1);
    fill_and_compact(&store, "c", 1);
    // More records after the round: the reader sees a dirty section.
    for i in 0..7 {
        put(&store, "c", 0, &format!("k{}", i % 3), Some("v"), T0);
    }
    store.sync().unwrap();
    let before = snapshot(&fs);
    let reader = open_read_only(&fs, &clock);
    let log = reader.partition("c", 0).unwrap();
    assert_eq!(log.cleaner_checkpoint(), Some(10));
    let section = log.cleanable_section(T0).unwrap();
    assert_eq!(section.first_dirty_offset, 10);
    assert!(matches!(log.compact(T0), Err(Error::ReadOnly { .. })));
    reader.describe_topic("c").unwrap();
    assert!(matches!(reader.maintain(), Err(Error::ReadOnly { .. })));
    reader.close().unwrap();
    assert_eq!(snapshot(&fs), before, "the read-only store wrote");
    store.close().unwrap();
}

#[test]
fn a_checkpoint_that_is_a_directory_is_refused_and_a_damaged_one_ignored() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    create_compacted(&store, "c", 1);
    fill_and_compact(&store, "c", 1);
    store.close().unwrap();
    drop(store);
    let good = fs.read(Path::new(FILE)).unwrap();

    fs.remove_file(Path::new(FILE)).unwrap();
    fs.create_dir_all(Path::new(FILE)).unwrap();
    match verify_store_files(&fs, Path::new(ROOT)) {
        Err(Error::Corrupt { path, .. }) => assert_eq!(path, Path::new(FILE)),
        other => panic!("{other:?}"),
    }
    let opened = StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(ROOT, store_config());
    assert!(
        matches!(&opened, Err(Error::Corrupt { path, .. }) if path == Path::new(FILE)),
        "{:?}",
        opened.err()
    );
    fs.remove_dir_all(Path::new(FILE)).unwrap();

    // Derived data: a damaged file means rounds start from the log start
    // again, and the next round writes it whole.
    fs.write(Path::new(FILE), b"0\n1\nc zero 10\n").unwrap();
    verify_store_files(&fs, Path::new(ROOT)).unwrap();
    let store = open(&fs, &clock);
    let log = store.partition("c", 0).unwrap();
    assert_eq!(log.cleaner_checkpoint(), None);
    log.compact(T0).unwrap();
    assert_eq!(fs.read(Path::new(FILE)).unwrap(), good);
    store.close().unwrap();
}

/// A deletion that a crash interrupted right after its commit is finished
/// by the next open, which removes the topic's entries too.
#[test]
fn a_deletion_finished_by_the_open_removes_the_entries() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    create_compacted(&store, "gone", 1);
    create_compacted(&store, "kept", 1);
    fill_and_compact(&store, "gone", 1);
    fill_and_compact(&store, "kept", 1);
    store.close().unwrap();
    drop(store);
    // What the commit of the deletion leaves.
    let topics_file = "/store/seglog.topics";
    let topics = text(&fs, topics_file);
    let line = topics.lines().find(|l| l.starts_with("gone ")).unwrap();
    let marked = topics.replace(line, &line.replacen(" live", " deleting", 1));
    assert_ne!(marked, topics);
    fs.write(Path::new(topics_file), marked.as_bytes()).unwrap();
    let store = open(&fs, &clock);
    assert_eq!(store.open_report().deletions_finished, 1);
    assert_eq!(store.list_topics(), ["kept"]);
    assert_eq!(text(&fs, FILE), "0\n1\nkept 0 10\n");
    store.close().unwrap();
}

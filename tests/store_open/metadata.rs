//! The store's own files: a partition directory that is missing is an
//! error (unless recreating it was asked for), damaged metadata is an
//! error naming the file, `verify_store_files` checks all of it, and an
//! open that fails changes no file.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::common_store::{open, partition_dir, produce, snapshot, store_config, ROOT, T0};
use seglog::io::{Fault, Fs, FsOp, MemFs};
use seglog::store::{verify_store_files, StoreConfig, StoreOptions, TopicPartition};
use seglog::{Error, LogStore, ManualClock};

const TOPICS: &str = "/store/seglog.topics";

fn try_open(fs: &MemFs, clock: &ManualClock) -> seglog::Result<LogStore> {
    StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(ROOT, store_config())
}

fn try_open_read_only(fs: &MemFs, clock: &ManualClock) -> seglog::Result<LogStore> {
    StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .read_only(true)
        .open(ROOT, store_config())
}

/// A store with topic `t` of three partitions holding 2, 3 and 4
/// records, closed cleanly.
fn store_with_data(fs: &MemFs, clock: &ManualClock) {
    let store = open(fs, clock);
    store.create_topic("t", 3, &[]).unwrap();
    for p in 0..3 {
        produce(&store, "t", p, 2 + p as usize, T0);
    }
    store.close().unwrap();
}

fn assert_missing(result: seglog::Result<LogStore>, partition: u32) {
    match result {
        Err(Error::MissingPartition {
            topic,
            partition: p,
            path,
        }) => {
            assert_eq!((topic.as_str(), p), ("t", partition));
            assert_eq!(path, partition_dir("t", partition));
        }
        other => panic!("expected partition {partition} to be missing: {other:?}"),
    }
}

fn text(fs: &MemFs, path: &str) -> String {
    String::from_utf8(fs.read(Path::new(path)).unwrap()).unwrap()
}

#[test]
fn a_missing_partition_directory_is_an_error_naming_it() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    store_with_data(&fs, &clock);
    fs.remove_dir_all(&partition_dir("t", 1)).unwrap();
    let before = snapshot(&fs);
    assert_missing(try_open(&fs, &clock), 1);
    assert_missing(try_open_read_only(&fs, &clock), 1);
    assert_eq!(snapshot(&fs), before, "a failed open changed files");
    assert!(!fs.exists(&partition_dir("t", 1)).unwrap());
    // The message names the directory and says what to do.
    let message = try_open(&fs, &clock).unwrap_err().to_string();
    assert!(message.contains("/store/t-1"), "{message}");
    assert!(message.contains("recreate_missing_partitions"), "{message}");
}

#[test]
fn missing_partitions_are_recreated_empty_only_when_asked() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    store_with_data(&fs, &clock);
    fs.remove_dir_all(&partition_dir("t", 1)).unwrap();
    let store = StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(
            ROOT,
            StoreConfig {
                recreate_missing_partitions: true,
                ..store_config()
            },
        )
        .unwrap();
    let report = store.open_report().clone();
    assert_eq!(report.recreated_partitions, [TopicPartition::new("t", 1)]);
    assert_eq!(report.partitions_created, 1);
    let ends: Vec<u64> = (0..3)
        .map(|p| store.partition("t", p).unwrap().log_end_offset())
        .collect();
    assert_eq!(ends, [2, 0, 4]);
    store.close().unwrap();
    drop(store);
    // From then on it is an ordinary, empty partition.
    let store = open(&fs, &clock);
    assert!(store.open_report().recreated_partitions.is_empty());
    assert_eq!(store.partition("t", 1).unwrap().log_end_offset(), 0);
}

/// `create_topic` and `add_partitions` commit the topic before they create
/// its directories: the partitions not yet made are marked in
/// `seglog.topics`, and the next open makes them; the ones made before
/// must be there.
#[test]
fn partitions_still_being_created_are_made_by_the_next_open() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let store = open(&fs, &clock);
    store
        .create_topic("t", 2, &[("retention.ms", "-1")])
        .unwrap();
    produce(&store, "t", 1, 3, T0);
    store.create_topic("u", 1, &[]).unwrap();
    store.close().unwrap();
    drop(store);
    assert_eq!(
        text(&fs, TOPICS),
        "seglog-topics 1\n2\nt 2 live retention.ms=-1\nu 1 live\n"
    );
    // As a crash inside `add_partitions("t", 4)` and `create_topic("v", 2)`
    // leaves it: committed, directories not all made.
    fs.write(
        Path::new(TOPICS),
        b"seglog-topics 1\n3\nt 4 creating 2 retention.ms=-1\nu 1 live\nv 2 creating 0\n",
    )
    .unwrap();
    fs.create_dir_all(&partition_dir("t", 2)).unwrap();
    let store = open(&fs, &clock);
    assert_eq!(store.open_report().partitions_created, 3);
    assert!(store.open_report().recreated_partitions.is_empty());
    assert_eq!(store.describe_topic("t").unwrap().partitions.len(), 4);
    assert_eq!(store.describe_topic("v").unwrap().partitions.len(), 2);
    assert_eq!(store.partition("t", 1).unwrap().log_end_offset(), 3);
    assert_eq!(
        text(&fs, TOPICS),
        "seglog-topics 1\n3\nt 4 live retention.ms=-1\nu 1 live\nv 2 live\n"
    );
    store.close().unwrap();
    drop(store);

    // A partition made before the interrupted growth must be there.
    fs.write(
        Path::new(TOPICS),
        b"seglog-topics 1\n1\nt 6 creating 4 retention.ms=-1\n",
    )
    .unwrap();
    fs.remove_dir_all(&partition_dir("t", 1)).unwrap();
    assert_missing(try_open(&fs, &clock), 1);
}

/// Partition directories of `topic`, one record each, written by logs
/// opened on their own: a data directory no store has opened yet.
fn partitions_without_a_store(fs: &MemFs, topic: &str, partitions: &[u32]) {
    for &p in partitions {
        let log = seglog::OpenOptions::new()
            .fs(fs.clone())
            .open(partition_dir(topic, p), store_config().topic_defaults.log)
            .unwrap();
        log.append(&[seglog::Record::new("x")]).unwrap();
        log.close().unwrap();
    }
}

/// A directory without `seglog.topics` (a Kafka log directory) is adopted
/// with the partitions between the numbers found made empty: gaps are
/// normal there.
#[test]
fn adoption_makes_the_partitions_between_those_found() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    partitions_without_a_store(&fs, "k", &[0, 3]);
    let store = open(&fs, &clock);
    assert_eq!(store.open_report().partitions_created, 2);
    assert!(store.open_report().recreated_partitions.is_empty());
    let ends: Vec<u64> = (0..4)
        .map(|p| store.partition("k", p).unwrap().log_end_offset())
        .collect();
    assert_eq!(ends, [1, 0, 0, 1]);
    assert_eq!(text(&fs, TOPICS), "seglog-topics 1\n1\nk 4 live\n");
}

/// Each kind of damage an open finds before it changes anything: the open
/// fails, every file in the tree is as it was (the clean-shutdown marker
/// too), and once the damage is repaired the open finds the clean
/// shutdown.
#[test]
fn a_failed_open_changes_no_file() {
    type Damage = fn(&MemFs);
    type Expected = fn(&Error) -> bool;
    let cases: &[(&str, Damage, Expected)] = &[
        (
            "garbage in seglog.topics",
            |fs| {
                fs.write(Path::new(TOPICS), b"seglog-topics 1\n1\nt three live\n")
                    .unwrap()
            },
            |e| matches!(e, Error::Corrupt { path, .. } if path == Path::new(TOPICS)),
        ),
        (
            "a missing partition",
            |fs| fs.remove_dir_all(&partition_dir("t", 2)).unwrap(),
            |e| matches!(e, Error::MissingPartition { partition: 2, .. }),
        ),
        (
            "a damaged root checkpoint",
            |fs| {
                let path = Path::new("/store/recovery-point-offset-checkpoint");
                fs.write(path, b"0\n3\nt 0 2\nt one 3\nt 2 4\n").unwrap()
            },
            |e| {
                matches!(e, Error::Corrupt { path, .. }
                    if path == Path::new("/store/recovery-point-offset-checkpoint"))
            },
        ),
        (
            "a bad config override",
            |fs| {
                fs.write(
                    Path::new(TOPICS),
                    b"seglog-topics 1\n1\nt 3 live retention.ms=soon\n",
                )
                .unwrap()
            },
            |e| matches!(e, Error::InvalidConfig { .. }),
        ),
        (
            "garbage in the clean-shutdown marker",
            |fs| {
                fs.write(Path::new("/store/.kafka_cleanshutdown"), b"\x00\x01garbage")
                    .unwrap()
            },
            |e| {
                matches!(e, Error::Corrupt { path, .. }
                    if path == Path::new("/store/.kafka_cleanshutdown"))
            },
        ),
    ];
    for (what, damage, expected) in cases {
        let fs = MemFs::new();
        let clock = ManualClock::new(T0);
        store_with_data(&fs, &clock);
        let good = snapshot(&fs);
        damage(&fs);
        let before = snapshot(&fs);
        match try_open(&fs, &clock) {
            Err(e) => assert!(expected(&e), "{what}: {e:?}"),
            Ok(_) => panic!("{what}: the open succeeded"),
        }
        assert_eq!(
            snapshot(&fs),
            before,
            "{what}: the failed open changed files"
        );
        // Repaired: the previous close was clean, and it is seen.
        for (path, bytes) in &good {
            fs.create_dir_all(path.parent().unwrap()).unwrap();
            fs.write(path, bytes).unwrap();
        }
        assert_eq!(snapshot(&fs), good, "{what}");
        let store = try_open(&fs, &clock).unwrap();
        assert!(store.open_report().clean_shutdown, "{what}");
    }
}

/// Adopting a directory writes `seglog.topics` and makes the missing
/// partitions only once every partition found has opened.
#[test]
fn a_failed_adoption_writes_no_topic_list_and_makes_no_directory() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    partitions_without_a_store(&fs, "k", &[0, 2]);
    // (Taking the store's lock makes its lock file, the one file an open
    // may have to make before it can check anything.)
    fs.write(Path::new("/store/.lock"), b"").unwrap();
    let before = snapshot(&fs);
    fs.set_fault_hook(|call| {
        (call.op == FsOp::Open && call.path.starts_with("/store/k-2/"))
            .then_some(Fault::Error(ErrorKind::Other))
    });
    assert!(matches!(try_open(&fs, &clock), Err(Error::Io { .. })));
    fs.clear_fault_hook();
    assert_eq!(snapshot(&fs), before);
    assert!(!fs.exists(&partition_dir("k", 1)).unwrap());
    let store = try_open(&fs, &clock).unwrap();
    assert_eq!(store.describe_topic("k").unwrap().partitions.len(), 3);
}

#[test]
fn verify_store_files_checks_every_file_at_the_root() {
    let fs = MemFs::new();
    let clock = ManualClock::new(T0);
    store_with_data(&fs, &clock);
    let report = verify_store_files(&fs, Path::new(ROOT)).unwrap();
    assert!(report.has_topic_list && report.clean_shutdown);
    assert_eq!(report.topics, [("t".to_string(), 3)]);
    assert!(report.partitions_being_created.is_empty());

    type Damage = fn(&MemFs);
    let corrupt: &[(&str, Damage)] = &[
        ("seglog.topics", |fs| {
            fs.write(Path::new(TOPICS), b"seglog-topics 1\n1\n\xff\xfe 3 live\n")
                .unwrap()
        }),
        ("seglog.topics", |fs| {
            fs.write(Path::new(TOPICS), b"seglog-topics 1\n2\nt 3 live\n")
                .unwrap()
        }),
        ("recovery-point-offset-checkpoint", |fs| {
            let path = Path::new("/store/recovery-point-offset-checkpoint");
            fs.write(path, b"0\n1\nt 0\n").unwrap()
        }),
        ("log-start-offset-checkpoint", |fs| {
            let path = Path::new("/store/log-start-offset-checkpoint");
            fs.write(path, b"0\n2\nt 0 0\nt 0 1\n").unwrap()
        }),
        ("log-start-offset-checkpoint", |fs| {
            let path = Path::new("/store/log-start-offset-checkpoint");
            fs.write(path, b"0\n1\n../x 0 0\n").unwrap()
        }),
        (".kafka_cleanshutdown", |fs| {
            fs.write(Path::new("/store/.kafka_cleanshutdown"), b"yes")
                .unwrap()
        }),
        (".kafka_cleanshutdown", |fs| {
            let marker = Path::new("/store/.kafka_cleanshutdown");
            fs.remove_file(marker).unwrap();
            fs.create_dir_all(marker).unwrap();
        }),
        (".lock", |fs| {
            fs.remove_file(Path::new("/store/.lock")).unwrap();
            fs.create_dir_all(Path::new("/store/.lock")).unwrap();
        }),
    ];
    for (file, damage) in corrupt {
        let fs = MemFs::new();
        store_with_data(&fs, &clock);
        damage(&fs);
        let want = Path::new(ROOT).join(file);
        match verify_store_files(&fs, Path::new(ROOT)) {
            Err(Error::Corrupt { path, reason, .. }) => {
                assert_eq!(path, want, "{reason}");
            }
            other => panic!("{file}: {other:?}"),
        }
        // The open refuses it too.
        assert!(try_open(&fs, &clock).is_err(), "{file}");
    }

    // Kafka's own clean-shutdown marker is fine.
    let fs = MemFs::new();
    store_with_data(&fs, &clock);
    fs.write(
        Path::new("/store/.kafka_cleanshutdown"),
        br#"{"version":0,"brokerEpoch":17}"#,
    )
    .unwrap();
    assert!(
        verify_store_files(&fs, Path::new(ROOT))
            .unwrap()
            .clean_shutdown
    );
    drop(try_open(&fs, &clock).unwrap());

    // A missing partition, but not one still being created.
    fs.remove_dir_all(&partition_dir("t", 2)).unwrap();
    assert!(matches!(
        verify_store_files(&fs, Path::new(ROOT)),
        Err(Error::MissingPartition { partition: 2, .. })
    ));
    fs.write(Path::new(TOPICS), b"seglog-topics 1\n1\nt 3 creating 2\n")
        .unwrap();
    let report = verify_store_files(&fs, Path::new(ROOT)).unwrap();
    assert_eq!(
        report.partitions_being_created,
        [TopicPartition::new("t", 2)]
    );

    // A directory without any of the files (a Kafka log directory's
    // partitions, say) passes.
    let bare = MemFs::new();
    bare.create_dir_all(Path::new("/store/x-0")).unwrap();
    let report = verify_store_files(&bare, Path::new(ROOT)).unwrap();
    assert!(!report.has_topic_list && report.topics.is_empty());
    let missing: PathBuf = Path::new(ROOT).join("nothing");
    assert!(matches!(
        verify_store_files(&bare, &missing),
        Err(Error::Io { .. })
    ));
}

//! Readers that hold segments a round replaces finish with them: a fetch
//! keeps reading the old records after the swap and after the old files
//! are removed, decoding readers read on consistently, and a read that
//! holds a replaced segment while its indexes are released rebuilds them
//! from that segment's own `.log`, then continues in the segment that
//! replaced the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use seglog::io::{Fs, FsOp, MemFs};
use seglog::{LogRecord, LogStore, ManualClock, PartitionLog, StoreConfig};

use crate::common_crash::file_names;
use crate::helpers::*;

type Rec = (u64, String, Option<String>);

fn rec(r: &LogRecord) -> Rec {
    (
        r.offset,
        String::from_utf8(r.key.clone().unwrap_or_default()).unwrap(),
        r.value.clone().map(|v| String::from_utf8(v).unwrap()),
    )
}

fn table_of(rs: &[Rec]) -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    for (_, k, v) in rs {
        match v {
            Some(v) => t.insert(k.clone(), v.clone()),
            None => t.remove(k),
        };
    }
    t
}

/// Four closed segments of four one-record batches (keys k0 to k3, each
/// updated in every segment, a tombstone among them) and one record in
/// the active segment: a round merges the closed ones into one segment.
fn fill(log: &PartitionLog) {
    for o in 0..16u64 {
        let value = (o != 9).then(|| format!("v{o}"));
        put(log, &format!("k{}", o % 4), value.as_deref(), 10);
        if o % 4 == 3 {
            log.roll().unwrap();
        }
    }
    put(log, "k0", Some("active"), 10);
}

/// Records read one after another by a reader that straddled a round:
/// offsets increase, each is a record of the log as appended, and
/// applying them gives the log's table.
fn check_straddling(what: &str, read: &[Rec], before: &[Rec]) {
    assert!(
        read.windows(2).all(|w| w[0].0 < w[1].0),
        "{what}: offsets {read:?}"
    );
    for r in read {
        assert!(before.contains(r), "{what}: {r:?} is no record of the log");
    }
    assert_eq!(table_of(read), table_of(before), "{what}");
}

#[test]
fn fetches_readers_and_iterators_taken_before_a_round_read_on_after_it() {
    let fs = MemFs::new();
    let clock = ManualClock::new(10);
    let log = open_log(&fs, &clock, &config());
    fill(&log);
    let before = records(&log);
    let fetch = log.read(0, u64::MAX).unwrap();
    let fetched = fetch.to_vec().unwrap();
    // A reader (fetching about two batches at a time) and an iterator
    // part-way through the first segment.
    let mut reader = log.reader(0).with_fetch_bytes(150);
    let mut by_reader: Vec<Rec> = Vec::new();
    for _ in 0..2 {
        let batch = reader.next_batch().unwrap().unwrap();
        by_reader.extend(batch.map(|r| rec(&r.unwrap().to_owned())));
    }
    let mut iter = log.iter(0);
    let mut by_iter: Vec<Rec> = (0..2)
        .map(|_| rec(&iter.next().unwrap().unwrap()))
        .collect();

    let out = log.compact(10).unwrap();
    assert_eq!((out.segments_read, out.segments_written), (4, 1), "{out:?}");
    assert!(out.records_dropped > 0, "{out:?}");
    assert_eq!(
        file_names(&fs, ".deleted"),
        Vec::<String>::new(),
        "the replaced files are gone"
    );
    // The fetch reads the files it was given: the old records.
    assert_eq!(fetch.to_vec().unwrap(), fetched);
    let old: Vec<Rec> = fetch.records().map(|r| rec(&r.unwrap())).collect();
    assert_eq!(old, before);
    // The decoding readers go on into the new segments.
    while let Some(batch) = reader.next_batch().unwrap() {
        by_reader.extend(batch.map(|r| rec(&r.unwrap().to_owned())));
    }
    by_iter.extend(iter.map(|r| rec(&r.unwrap())));
    check_straddling("reader", &by_reader, &before);
    assert!(
        by_reader.len() < before.len(),
        "the reader read the new segment"
    );
    // The iterator's one fetch held every old segment.
    assert_eq!(by_iter, before);
    assert_eq!(table(&log), table_of(&before));
    drop(fetch);
    log.close().unwrap();
    seglog::inspect::verify_partition_dir_with(&fs, crate::common_crash::dir()).unwrap();
}

const STORE: &str = "/store";

fn open_store(fs: &MemFs, clock: &ManualClock) -> LogStore {
    let config = StoreConfig {
        // Two `.log` files open and one segment's indexes loaded at most,
        // across the store: a read of another partition releases them.
        max_open_files: 2,
        max_loaded_indexes: 1,
        ..StoreConfig::default()
    };
    LogStore::options()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(STORE, config)
        .unwrap()
}

fn partition_dir(partition: u32) -> PathBuf {
    Path::new(STORE).join(format!("t-{partition}"))
}

fn names_in(fs: &MemFs, dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs
        .list_dir(dir)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    names
}

/// A read that holds the first segment when a round replaces it, and
/// whose indexes for it are released meanwhile, reads that segment's old
/// records (its indexes rebuilt from its own `.log`, not from the files
/// now under its names) and then the rest of the log from the segment
/// that replaced the others. (It went on after the segment it held,
/// skipping every offset the new segment covers beyond it: the latest
/// records of most keys.)
#[test]
fn a_read_holding_a_replaced_segment_continues_where_it_ended() {
    let fs = MemFs::new();
    let clock = ManualClock::new(10);
    let store = open_store(&fs, &clock);
    store
        .create_topic(
            "t",
            2,
            &[
                ("cleanup.policy", "compact"),
                ("file.delete.delay.ms", "0"),
                ("index.interval.bytes", "0"),
            ],
        )
        .unwrap();
    for p in 0..2 {
        fill(&store.partition("t", p).unwrap());
    }
    store.close().unwrap();
    drop(store);
    // Reopened: no segment has its file open or its indexes loaded.
    let store = open_store(&fs, &clock);
    let log = store.partition("t", 0).unwrap();
    let other = store.partition("t", 1).unwrap();
    let before = records(&log);
    let first_end = log.segments()[1].base_offset;
    let held = partition_dir(0).join("00000000000000000000.log");
    // The first segment's file open and its indexes loaded, so that the
    // read below starts with a read of its first batch.
    log.read(0, 1).unwrap();
    let armed = Arc::new(AtomicBool::new(true));
    let (flag, round_log) = (armed.clone(), log.clone());
    fs.set_fault_hook(move |call| {
        // The read below has found the first segment and looked up its
        // index: the round runs now, and reads of the other partition
        // release the indexes the read still needs.
        if call.op == FsOp::Read
            && call.path == held.as_path()
            && flag.swap(false, Ordering::SeqCst)
        {
            let out = round_log.compact(10).unwrap();
            assert_eq!(out.segments_written, 1, "{out:?}");
            for _ in 0..3 {
                for o in (0..16).step_by(4) {
                    other.read(o, 1).unwrap().to_vec().unwrap();
                }
            }
        }
        None
    });
    let fetch = log.read(0, u64::MAX).unwrap();
    fs.clear_fault_hook();
    assert!(
        !armed.load(Ordering::SeqCst),
        "the round ran during the read"
    );
    let after = records(&log);
    assert!(after.len() < before.len());
    let got: Vec<Rec> = fetch.records().map(|r| rec(&r.unwrap())).collect();
    let want: Vec<Rec> = before
        .iter()
        .filter(|r| r.0 < first_end)
        .chain(after.iter().filter(|r| r.0 >= first_end))
        .cloned()
        .collect();
    assert_eq!(got, want);
    assert_eq!(table_of(&got), table_of(&before));
    drop(fetch);
    store.close().unwrap();
    drop(store);

    // Nothing was written under the replaced segment's names: the
    // directory holds the new segments, with the indexes an open rebuilds.
    let dir = partition_dir(0);
    let names = names_in(&fs, &dir);
    assert!(
        names
            .iter()
            .all(|n| !n.ends_with(".deleted") && !n.ends_with(".cleaned") && !n.ends_with(".swap")),
        "{names:?}"
    );
    seglog::inspect::verify_partition_dir_with(&fs, &dir).unwrap();
    let new_base = "00000000000000000000";
    let index = dir.join(format!("{new_base}.index"));
    let time = dir.join(format!("{new_base}.timeindex"));
    let written = (fs.read(&index).unwrap(), fs.read(&time).unwrap());
    fs.remove_file(&index).unwrap();
    fs.remove_file(&time).unwrap();
    let store = open_store(&fs, &clock);
    assert_eq!(records(&store.partition("t", 0).unwrap()), after);
    store.close().unwrap();
    assert_eq!((fs.read(&index).unwrap(), fs.read(&time).unwrap()), written);
}

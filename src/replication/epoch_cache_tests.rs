//! The leader-epoch cache's rules, with the examples of Kafka's
//! `LeaderEpochFileCacheTest`.

use std::path::Path;

use super::*;
use crate::io::{write_file_atomically, Fs, MemFs};

fn cache(entries: &[(i32, u64)]) -> LeaderEpochCache {
    let mut c = LeaderEpochCache::new();
    for &(e, o) in entries {
        c.assign(e, o).unwrap();
    }
    c
}

fn pairs(c: &LeaderEpochCache) -> Vec<(i32, u64)> {
    c.entries()
        .iter()
        .map(|e| (e.epoch, e.start_offset))
        .collect()
}

fn answer(epoch: i32, end_offset: i64) -> EpochEndOffset {
    EpochEndOffset { epoch, end_offset }
}

#[test]
fn the_first_start_of_an_epoch_wins() {
    let mut c = cache(&[(2, 6)]);
    assert!(!c.assign(2, 10).unwrap());
    assert_eq!(pairs(&c), [(2, 6)]);
}

#[test]
fn a_new_epoch_at_the_same_offset_replaces_the_old() {
    let c = cache(&[(2, 9), (3, 9)]);
    assert_eq!(pairs(&c), [(3, 9)]);
}

#[test]
fn an_earlier_start_for_the_latest_epoch_truncates_conflicting_entries() {
    let c = cache(&[(5, 11), (6, 12), (7, 13), (7, 12)]);
    assert_eq!(pairs(&c), [(5, 11), (7, 12)]);
}

#[test]
fn a_smaller_epoch_removes_every_entry_at_or_above_it() {
    let c = cache(&[(2, 6), (3, 8), (4, 11), (3, 20)]);
    assert_eq!(pairs(&c), [(2, 6), (3, 20)]);
}

#[test]
fn negative_epochs_are_refused_and_change_nothing() {
    let mut c = cache(&[(1, 0)]);
    assert!(matches!(
        c.assign(-1, 5),
        Err(Error::InvalidLeaderEpoch { epoch: -1 })
    ));
    assert_eq!(pairs(&c), [(1, 0)]);
}

#[test]
fn end_offset_of_an_empty_cache_or_undefined_epoch_is_undefined() {
    assert_eq!(
        LeaderEpochCache::new().end_offset_for(0, 10),
        EpochEndOffset::UNDEFINED
    );
    let c = cache(&[(0, 10)]);
    assert_eq!(
        c.end_offset_for(UNDEFINED_EPOCH, 20),
        EpochEndOffset::UNDEFINED
    );
    assert!(!EpochEndOffset::UNDEFINED.is_defined());
}

#[test]
fn end_offset_of_the_latest_epoch_is_the_log_end_offset() {
    let c = cache(&[(5, 11), (6, 12), (7, 13)]);
    assert_eq!(c.end_offset_for(7, 40), answer(7, 40));
}

#[test]
fn end_offset_of_an_epoch_older_than_every_entry_is_the_first_start() {
    let c = cache(&[(5, 11), (6, 12), (7, 13)]);
    assert_eq!(c.end_offset_for(4, 40), answer(4, 11));
}

#[test]
fn end_offset_of_an_uncached_epoch_is_the_next_epochs_start() {
    let c = cache(&[(0, 10), (2, 13), (4, 17)]);
    assert_eq!(c.end_offset_for(1, 30), answer(0, 13));
    assert_eq!(c.end_offset_for(2, 30), answer(2, 17));
    assert_eq!(c.end_offset_for(3, 30), answer(2, 17));
    assert!(c.end_offset_for(3, 30).is_defined());
}

#[test]
fn end_offset_of_an_epoch_above_every_entry_is_undefined() {
    let c = cache(&[(0, 10), (2, 13), (4, 17)]);
    assert_eq!(c.end_offset_for(5, 30), EpochEndOffset::UNDEFINED);
}

#[test]
fn truncate_from_end_removes_entries_at_or_after_the_offset() {
    let mut c = cache(&[(2, 6), (3, 8), (4, 11)]);
    assert!(c.truncate_from_end(9));
    assert_eq!(pairs(&c), [(2, 6), (3, 8)]);
    assert!(c.truncate_from_end(8));
    assert_eq!(pairs(&c), [(2, 6)]);
    assert!(!c.truncate_from_end(100));
    assert!(c.truncate_from_end(0));
    assert!(c.is_empty());
}

#[test]
fn truncate_from_start_moves_the_last_removed_epoch_to_the_new_start() {
    let base = [(2, 6), (3, 8), (4, 11)];
    for (start, expect) in [
        (9, vec![(3, 9), (4, 11)]),
        (8, vec![(3, 8), (4, 11)]),
        (6, vec![(2, 6), (3, 8), (4, 11)]),
        (1, vec![(2, 6), (3, 8), (4, 11)]),
        (11, vec![(4, 11)]),
        (15, vec![(4, 15)]),
    ] {
        let mut c = cache(&base);
        let changed = c.truncate_from_start(start);
        assert_eq!(pairs(&c), expect, "truncate_from_start({start})");
        assert_eq!(changed, expect != base, "truncate_from_start({start})");
    }
    assert!(!LeaderEpochCache::new().truncate_from_start(5));
}

#[test]
fn accessors_answer_from_the_entries() {
    let c = cache(&[(0, 0), (3, 40)]);
    assert_eq!(c.latest_epoch(), Some(3));
    assert_eq!(c.start_offset_of(3), Some(40));
    assert_eq!(c.start_offset_of(1), None);
    assert_eq!(LeaderEpochCache::new().latest(), None);
}

#[test]
fn entries_out_of_order_are_refused() {
    let e = |epoch, start_offset| EpochEntry {
        epoch,
        start_offset,
    };
    assert!(LeaderEpochCache::from_entries(vec![e(1, 0), e(1, 5)]).is_err());
    assert!(LeaderEpochCache::from_entries(vec![e(2, 5), e(3, 4)]).is_err());
    assert!(LeaderEpochCache::from_entries(vec![e(-2, 0)]).is_err());
    let ok = LeaderEpochCache::from_entries(vec![e(1, 0), e(4, 0), e(5, 9)]).unwrap();
    assert_eq!(pairs(&ok), [(1, 0), (4, 0), (5, 9)]);
}

#[test]
fn the_checkpoint_is_kafkas_text_format() {
    let fs = MemFs::new();
    let dir = Path::new("/p/t-0");
    fs.create_dir_all(dir).unwrap();
    assert_eq!(LeaderEpochCache::read(&fs, dir).unwrap(), None);
    let c = cache(&[(0, 0), (1, 2)]);
    c.write(&fs, dir).unwrap();
    let text = fs.read(&dir.join(FILE_NAME)).unwrap();
    assert_eq!(text, b"0\n2\n0 0\n1 2\n");
    assert_eq!(LeaderEpochCache::read(&fs, dir).unwrap(), Some(c));
}

#[test]
fn a_damaged_checkpoint_is_corrupt() {
    let fs = MemFs::new();
    let dir = Path::new("/p/t-0");
    fs.create_dir_all(dir).unwrap();
    for text in [
        "0\n1\nx 0\n",
        "0\n1\n1 -5\n",
        "0\n2\n3 0\n2 5\n",
        "1\n0\n",
        "0\n2\n0 0\n",
    ] {
        write_file_atomically(&fs, &dir.join(FILE_NAME), text.as_bytes()).unwrap();
        assert!(
            matches!(LeaderEpochCache::read(&fs, dir), Err(Error::Corrupt { .. })),
            "{text:?}"
        );
    }
}

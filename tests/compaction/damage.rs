//! Damage met by a round: what it must refuse to copy, and what it may
//! drop unread.

use seglog::io::{Fs, MemFs, OpenMode};
use seglog::{record, Error, ManualClock};

use super::helpers::{records, table, write_six_keys};
use crate::common_crash::{file_names, DIR};

/// The segment file holding the batch of `offset`, with the batch's
/// position and size in it.
fn batch_of(fs: &MemFs, offset: u64) -> (std::path::PathBuf, usize, usize) {
    for name in file_names(fs, ".log") {
        let path = std::path::Path::new(DIR).join(&name);
        let f = fs.open(&path, OpenMode::Read).unwrap();
        let mut bytes = vec![0u8; f.len().unwrap() as usize];
        f.read_exact_at(&mut bytes, 0).unwrap();
        let mut at = 0;
        for b in record::batches(&bytes) {
            let b = b.unwrap();
            let h = b.header();
            if (h.base_offset..=h.last_offset()).contains(&offset) {
                return (path, at, b.as_bytes().len());
            }
            at += b.as_bytes().len();
        }
    }
    panic!("no batch holds offset {offset}");
}

/// Flips the last byte (in the last record's value) of the batch of
/// `offset`: its CRC no longer matches.
fn damage(fs: &MemFs, offset: u64) -> (std::path::PathBuf, u64) {
    let (path, at, size) = batch_of(fs, offset);
    let f = fs.open(&path, OpenMode::Write).unwrap();
    let mut byte = [0u8; 1];
    f.read_exact_at(&mut byte, (at + size - 1) as u64).unwrap();
    byte[0] ^= 0x55;
    f.write_all_at(&byte, (at + size - 1) as u64).unwrap();
    (path, at as u64)
}

#[test]
fn a_damaged_batch_whose_record_stays_fails_the_round_and_changes_nothing() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = write_six_keys(&fs, &clock);
    log.roll().unwrap();
    // Offset 57 holds the latest value of k3.
    let (path, position) = damage(&fs, 57);
    let before = file_names(&fs, "");
    let err = log.compact(1).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { path: p, position: at, reason }
            if *p == path && *at == position && reason.contains("CRC")),
        "{err:?}"
    );
    assert_eq!(file_names(&fs, ""), before);
    assert_eq!(log.cleaner_checkpoint(), None);
}

#[test]
fn a_dirty_batch_none_of_whose_records_stays_goes_unread() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = write_six_keys(&fs, &clock);
    log.roll().unwrap();
    // Offset 3 (k3 -> v3) is superseded: its batch goes whole, as in
    // Kafka without its bytes being read, so damage in them does not stop
    // the round.
    damage(&fs, 3);
    let outcome = log.compact(1).unwrap();
    assert_eq!(outcome.records_kept, 6);
    assert_eq!(
        records(&log).iter().map(|r| r.0).collect::<Vec<_>>(),
        [54, 55, 56, 57, 58, 59]
    );
    assert_eq!(table(&log)["k3"], "v57");
}

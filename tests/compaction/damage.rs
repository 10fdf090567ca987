//! Damage met by a round: what it must refuse to copy, and what it may
//! drop unread.

use seglog::compaction::CompactOptions;
use seglog::io::{Fs, MemFs, OpenMode};
use seglog::{record, Error, ManualClock};

use super::helpers::{one_key_map, records, table, write_six_keys};
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

/// Checks that `err` reports a CRC mismatch in the batch at `position`
/// of `path`.
fn assert_crc_error(err: &Error, path: &std::path::Path, position: u64) {
    assert!(
        matches!(err, Error::Corrupt { path: p, position: at, reason }
            if p == path && *at == position && reason.contains("CRC")),
        "{err:?}"
    );
}

/// Damages the batch of `offset` in a closed log of six keys and checks
/// that a round with `options` fails there, naming the CRC, and changes
/// nothing.
fn check_round_stops_at_damage_to(offset: u64, options: &CompactOptions) {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = write_six_keys(&fs, &clock);
    log.roll().unwrap();
    let (path, position) = damage(&fs, offset);
    let before = file_names(&fs, "");
    let err = log.compact_with(1, options).unwrap_err();
    assert_crc_error(&err, &path, position);
    assert_eq!(file_names(&fs, ""), before);
    assert_eq!(log.cleaner_checkpoint(), None);
}

#[test]
fn a_damaged_batch_whose_record_stays_fails_the_round_and_changes_nothing() {
    // Offset 57 holds the latest value of k3.
    check_round_stops_at_damage_to(57, &CompactOptions::default());
}

#[test]
fn damage_in_a_batch_whose_records_all_go_still_stops_the_round() {
    // Offset 3 (k3 -> v3) is superseded, and its batch would go unread by
    // the rewrite; but a damaged key could as well have hidden the latest
    // record of another key, so the map pass stops at the damage.
    check_round_stops_at_damage_to(3, &CompactOptions::default());
}

/// Damage to a record's framing (its length, the first byte after the
/// batch header, made -1), which stops the decoding, is reported as what
/// it is: a CRC mismatch, whether the CRC is checked before or after the
/// records are decoded.
#[test]
fn damage_that_breaks_the_records_is_reported_as_the_crc_mismatch() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = write_six_keys(&fs, &clock);
    log.roll().unwrap();
    let (path, at, _) = batch_of(&fs, 57);
    let f = fs.open(&path, OpenMode::Write).unwrap();
    // Zigzag 1 is -1.
    f.write_all_at(&[1], (at + record::BATCH_HEADER_LEN) as u64)
        .unwrap();
    let before = file_names(&fs, "");
    let err = log.compact_with(1, &CompactOptions::default()).unwrap_err();
    assert_crc_error(&err, &path, at as u64);
    assert_eq!(file_names(&fs, ""), before);
}

/// A damaged compressed batch (LZ4) stops the round at its CRC, which is
/// checked before its records are decompressed.
#[test]
fn damage_in_a_compressed_batch_stops_the_round_at_its_crc() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let config = seglog::LogConfig {
        compression: record::Compression::Lz4,
        ..super::helpers::small_config()
    };
    let log = super::helpers::open_log(&fs, &clock, &config);
    for i in 0..60u64 {
        super::helpers::put(&log, &format!("k{}", i % 6), Some(&format!("v{i}")), 1);
    }
    log.roll().unwrap();
    // The batch is stored compressed (attributes, bytes 21-22: codec 3).
    let (path, at, _) = batch_of(&fs, 3);
    let mut attributes = [0u8; 2];
    let f = fs.open(&path, OpenMode::Read).unwrap();
    f.read_exact_at(&mut attributes, (at + 21) as u64).unwrap();
    assert_eq!(i16::from_be_bytes(attributes) & 7, 3);
    let (path, position) = damage(&fs, 3);
    let before = file_names(&fs, "");
    let err = log.compact_with(1, &CompactOptions::default()).unwrap_err();
    assert_crc_error(&err, &path, position);
    assert_eq!(file_names(&fs, ""), before);
    assert_eq!(log.cleaner_checkpoint(), None);
}

/// A batch at `base` of "a" -> "1" and "b" -> "2" whose two records carry
/// the offset deltas 1 and 0, out of order, with a valid CRC (a replica
/// may be handed such a batch).
fn batch_with_records_out_of_order(base: u64) -> Vec<u8> {
    let mut bytes = seglog::BatchBuilder::new()
        .base_offset(base)
        .build(&[
            seglog::Record::new("1").with_key("a").with_timestamp(1),
            seglog::Record::new("2").with_key("b").with_timestamp(1),
        ])
        .unwrap();
    // Each record: length, attributes, timestamp delta, offset delta (one
    // byte each here).
    let first = record::BATCH_HEADER_LEN;
    let second = first + 1 + bytes[first] as usize / 2;
    assert_eq!((bytes[first + 3], bytes[second + 3]), (0, 2));
    bytes[first + 3] = 2;
    bytes[second + 3] = 0;
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    bytes
}

#[test]
fn records_out_of_offset_order_in_a_batch_fail_the_round_and_lose_nothing() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = write_six_keys(&fs, &clock);
    log.append_replicated(&batch_with_records_out_of_order(60))
        .unwrap();
    super::helpers::put(&log, "a", Some("3"), 1);
    log.roll().unwrap();
    let before = records(&log);
    let err = log.compact(1).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { reason, .. } if reason.contains("follows offset")),
        "{err:?}"
    );
    // The only record of "b" is still there.
    assert_eq!(records(&log), before);
    assert_eq!(table(&log)["b"], "2");
}

#[test]
fn damage_past_where_the_map_fills_is_left_to_a_later_round() {
    // The map holds one key, so the first round maps the first segment
    // only (from its second key on, nothing more fits) and must not read
    // beyond it, whatever the reading thread found ahead.
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = write_six_keys(&fs, &clock);
    log.roll().unwrap();
    let (path, position) = damage(&fs, 50);
    let one_key = one_key_map();
    let first = log.compact_with(1, &one_key).unwrap();
    assert!(first.map_full, "{first:?}");
    assert!(first.end_offset < 50, "{first:?}");
    assert_eq!(log.cleaner_checkpoint(), Some(first.end_offset));
    // Rounds go on from there until one maps the damaged batch.
    let err = loop {
        match log.compact_with(1, &one_key) {
            Ok(round) => assert!(round.end_offset <= 50, "{round:?}"),
            Err(e) => break e,
        }
    };
    assert_crc_error(&err, &path, position);
}

#[test]
fn damage_after_the_map_fills_in_its_segment_fails_the_copy_of_that_segment() {
    // The map fills at offset 1, the second key. The map pass walks the
    // rest of that segment by headers only, but the round copies the
    // whole segment, checking every batch it copies: the damage at
    // offset 3 stops the round there, and nothing changes.
    // Every log of six keys is laid out alike: offsets 1 and 3 share a
    // segment.
    let fs = MemFs::new();
    write_six_keys(&fs, &ManualClock::new(0)).close().unwrap();
    assert_eq!(batch_of(&fs, 1).0, batch_of(&fs, 3).0, "one segment");
    check_round_stops_at_damage_to(3, &one_key_map());
}

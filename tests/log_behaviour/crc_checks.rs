//! When reads check batch CRCs (`CrcCheck`): a segment's batches once,
//! from its start, until a roll or a truncation changes it; everything on
//! every read when asked.

use std::path::Path;

use seglog::io::MemFs;
use seglog::{
    Compression, CrcCheck, Durability, Error, LogConfig, ManualClock, PartitionLog, Record,
};

use crate::{mem_log, reopen};

/// Ten batches of three records a segment: 30 batches over three sealed
/// segments, then an empty active one.
fn three_sealed() -> (MemFs, ManualClock, PartitionLog, LogConfig) {
    let config = LogConfig::default();
    let (fs, clock, log) = mem_log(config.clone());
    for segment in 0..3 {
        for batch in 0..10 {
            let records: Vec<Record> = (0..3)
                .map(|i| Record::new(format!("segment {segment} batch {batch} record {i}")))
                .collect();
            log.append_with(&records, Durability::Flush).unwrap();
        }
        log.roll().unwrap();
    }
    assert_eq!(log.segments().len(), 4);
    (fs, clock, log, config)
}

/// Every value from `from` on, or the first error.
fn scan(log: &PartitionLog, from: u64, check: CrcCheck) -> Result<Vec<Vec<u8>>, Error> {
    let mut reader = log.reader(from).with_crc_check(check);
    let mut values = Vec::new();
    while let Some(batch) = reader.next_batch()? {
        for record in batch {
            values.push(record?.value.unwrap().to_vec());
        }
    }
    Ok(values)
}

/// Where each batch of the segment file at `path` starts and ends (a read
/// from the log's start, which checks, and so vouches for, every batch).
fn batch_ranges(log: &PartitionLog, path: &Path) -> Vec<(u64, u64)> {
    let mut reader = log.reader(0).with_crc_check(CrcCheck::EveryRead);
    let mut ranges = Vec::new();
    while let Some(batch) = reader.next_batch().unwrap() {
        if batch.path() == path {
            let start = batch.position();
            ranges.push((start, start + batch.as_bytes().len() as u64));
        }
    }
    ranges
}

/// Changes the case of the last letter of the last value in the batch
/// ending at `end` (its record's last byte is the header count), in the
/// file under the log: the records still decode, only the CRC tells.
fn damage(fs: &MemFs, path: &Path, end: u64) {
    let mut bytes = fs.read(path).unwrap();
    bytes[end as usize - 2] ^= 0x20;
    fs.write(path, &bytes).unwrap();
}

fn assert_corrupt(result: Result<Vec<Vec<u8>>, Error>) {
    match result {
        Err(Error::Corrupt { .. }) => {}
        other => panic!("expected a corrupt batch, got {other:?}"),
    }
}

#[test]
fn a_sealed_segment_is_checked_on_its_first_scan_and_trusted_after() {
    let (fs, clock, log, config) = three_sealed();
    let expected = scan(&log, 0, CrcCheck::EveryRead).unwrap();
    assert_eq!(expected.len(), 90);
    // The first scan with the default checks and remembers every batch.
    assert_eq!(scan(&log, 0, CrcCheck::FirstRead).unwrap(), expected);

    let first = log.segments()[0].path.clone();
    let ranges = batch_ranges(&log, &first);
    damage(&fs, &first, ranges[4].1);
    // Later scans trust what was checked: the damage goes unseen ...
    let trusted = scan(&log, 0, CrcCheck::FirstRead).unwrap();
    assert_ne!(trusted, expected);
    assert_eq!(trusted.len(), expected.len());
    // ... by any reader of the log, except one that checks every read.
    assert_corrupt(scan(&log, 0, CrcCheck::EveryRead));
    assert_corrupt(scan(&log, 14, CrcCheck::EveryRead));
    // Opened again, the log checks from scratch.
    log.close().unwrap();
    let log = reopen(&fs, &clock, config);
    assert_corrupt(scan(&log, 0, CrcCheck::FirstRead));
}

#[test]
fn a_read_from_inside_a_segment_does_not_vouch_for_it() {
    let (fs, clock, log, config) = three_sealed();
    let first = log.segments()[0].path.clone();
    let ranges = batch_ranges(&log, &first);
    // That read checked the segment whole: start again from nothing.
    log.close().unwrap();
    let log = reopen(&fs, &clock, config);
    // From the third batch on: every batch read is checked, but what it
    // checked does not join the segment's checked prefix, which starts at
    // the segment's start.
    assert_eq!(scan(&log, 6, CrcCheck::FirstRead).unwrap().len(), 84);
    damage(&fs, &first, ranges[5].1);
    assert_corrupt(scan(&log, 0, CrcCheck::FirstRead));
    assert_corrupt(scan(&log, 6, CrcCheck::FirstRead));
}

#[test]
fn a_truncation_of_the_active_segment_forgets_what_was_checked_in_it() {
    let config = LogConfig::default();
    let (fs, _clock, log) = mem_log(config);
    let value = |i: u64| Record::new(format!("value {i}"));
    for i in 0..5 {
        log.append_with(&[value(i)], Durability::Flush).unwrap();
    }
    // Checked whole, then trusted.
    assert_eq!(scan(&log, 0, CrcCheck::FirstRead).unwrap().len(), 5);
    let active = log.segments()[0].path.clone();
    let ranges = batch_ranges(&log, &active);
    // Cut after two batches and write a batch of the same size where the
    // third was, inside the range checked before the cut.
    log.truncate_to(2).unwrap();
    log.append_with(&[value(2)], Durability::Flush).unwrap();
    damage(&fs, &active, ranges[2].1);
    let mut reader = log.reader(0);
    for base in [0, 1] {
        assert_eq!(
            reader.next_batch().unwrap().unwrap().header().base_offset,
            base
        );
    }
    match reader.next_batch() {
        Err(Error::Corrupt { position, .. }) => assert_eq!(position, ranges[2].0),
        other => panic!("expected the new batch to be corrupt, got {other:?}"),
    }
}

#[test]
fn a_truncation_into_a_sealed_segment_forgets_what_was_checked_in_it() {
    let (fs, _clock, log, _config) = three_sealed();
    assert_eq!(scan(&log, 0, CrcCheck::FirstRead).unwrap().len(), 90);
    let first = log.segments()[0].path.clone();
    let ranges = batch_ranges(&log, &first);
    // The first segment is checked whole. Cut it after five batches, write
    // a batch of the same size where the sixth was, and seal it again: the
    // new batch lies inside the range checked before the cut.
    log.truncate_to(15).unwrap();
    let records: Vec<Record> = (0..3)
        .map(|i| Record::new(format!("segment 0 batch 5 record {i}")))
        .collect();
    let info = log.append_with(&records, Durability::Flush).unwrap();
    assert_eq!(info.first_offset, 15);
    log.roll().unwrap();
    // Damaged before any read since: the checks made before the cut count
    // no more, so the damage is seen, after the five batches before it.
    damage(&fs, &first, ranges[5].1);
    let mut reader = log.reader(0);
    for base in [0, 3, 6, 9, 12] {
        let batch = reader.next_batch().unwrap().unwrap();
        assert_eq!(batch.header().base_offset, base);
    }
    match reader.next_batch() {
        Err(Error::Corrupt { position, .. }) => assert_eq!(position, ranges[5].0),
        other => panic!("expected the new batch to be corrupt, got {other:?}"),
    }
    assert_eq!(
        scan(&log, 0, CrcCheck::EveryRead).unwrap_err().to_string(),
        { scan(&log, 0, CrcCheck::FirstRead).unwrap_err().to_string() }
    );
}

#[test]
fn a_reader_that_checks_every_read_checks_its_point_reads_of_compressed_batches() {
    // Records of a compressed batch go through the reader's general read,
    // which must keep the reader's choice.
    if !Compression::Gzip.is_available() {
        return;
    }
    let config = LogConfig {
        compression: Compression::Gzip,
        ..LogConfig::default()
    };
    let (fs, _clock, log) = mem_log(config);
    for batch in 0..3 {
        let records: Vec<Record> = (0..3)
            .map(|i| Record::new(format!("batch {batch} record {i}")))
            .collect();
        log.append_with(&records, Durability::Flush).unwrap();
    }
    log.roll().unwrap();
    let first = log.segments()[0].path.clone();
    // Checked whole by this read, so trusted by default from here on.
    let ranges = batch_ranges(&log, &first);
    let mut every = log.reader(0).with_crc_check(CrcCheck::EveryRead);
    let mut first_read = log.reader(0);
    let value =
        |r: &mut seglog::LogReader| r.record_at(4).unwrap().unwrap().value.unwrap().to_vec();
    assert_eq!(value(&mut every), b"batch 1 record 1");
    assert_eq!(value(&mut first_read), b"batch 1 record 1");
    // A bit of the second batch's producer id: only its CRC can tell.
    let mut bytes = fs.read(&first).unwrap();
    bytes[ranges[1].0 as usize + 50] ^= 0x01;
    fs.write(&first, &bytes).unwrap();
    assert!(matches!(every.record_at(4), Err(Error::Corrupt { .. })));
    assert_eq!(value(&mut first_read), b"batch 1 record 1");
}

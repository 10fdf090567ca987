use super::*;
use crate::record::{BatchBuilder, Compression, Record, TimestampType};

const NOW: i64 = 1_000_000;
const RULES: RoundRules = RoundRules {
    now_ms: NOW,
    delete_retention_ms: 500,
};

fn batch(base: u64, records: &[Record]) -> Vec<u8> {
    BatchBuilder::new()
        .base_offset(base)
        .producer(9, 1, 30)
        .partition_leader_epoch(4)
        .build(records)
        .unwrap()
}

fn kv(k: &str, v: &str, ts: i64) -> Record {
    Record::new(v).with_key(k).with_timestamp(ts)
}

/// Filters `bytes` against `map` as a batch below the dirty section (by
/// key); returns what was appended.
fn run(bytes: &[u8], map: &mut OffsetMap, retain_empty: bool) -> (Option<Vec<u8>>, FilterCounts) {
    run_from(bytes, map, u64::MAX, retain_empty)
}

/// Filters `bytes` against `map`, filled from `first_dirty`.
fn run_from(
    bytes: &[u8],
    map: &mut OffsetMap,
    first_dirty: u64,
    retain_empty: bool,
) -> (Option<Vec<u8>>, FilterCounts) {
    let b = RecordBatch::parse(bytes).unwrap();
    let mut out = Vec::new();
    let mut counts = FilterCounts::default();
    let kept = filter_batch(
        &b,
        &mut Survivors::new(map, first_dirty),
        &RULES,
        retain_empty,
        &mut out,
        &mut Buffers::default(),
        &mut counts,
    )
    .unwrap();
    (kept.then_some(out), counts)
}

fn offsets(bytes: &[u8]) -> Vec<u64> {
    let b = RecordBatch::parse(bytes).unwrap();
    b.verify_crc().unwrap();
    let mut s = Vec::new();
    b.records(&mut s)
        .unwrap()
        .map(|r| r.unwrap().offset)
        .collect()
}

fn map_of(entries: &[(&str, u64)], latest: u64) -> OffsetMap {
    let mut m = OffsetMap::new(crate::compaction::ENTRY_BYTES * 64, 0.9);
    for (k, o) in entries {
        m.put(k.as_bytes(), *o);
    }
    m.update_latest_offset(latest);
    m
}

#[test]
fn a_batch_whose_records_all_stay_is_copied_byte_for_byte() {
    let bytes = batch(10, &[kv("a", "1", 5), kv("b", "2", 6)]);
    let mut map = map_of(&[("a", 10), ("b", 11)], 11);
    let (out, counts) = run(&bytes, &mut map, false);
    assert_eq!(out.unwrap(), bytes);
    assert_eq!((counts.batches_copied, counts.records_kept), (1, 2));
}

#[test]
fn a_record_below_the_latest_offset_of_its_key_goes() {
    let bytes = batch(10, &[kv("a", "1", 5), kv("b", "2", 6), kv("a", "3", 7)]);
    let mut map = map_of(&[("a", 20), ("b", 11)], 30);
    let (out, counts) = run(&bytes, &mut map, false);
    let out = out.unwrap();
    assert_eq!(offsets(&out), [11]);
    assert_eq!(counts.records_superseded, 2);
    // The rebuilt batch keeps its offsets' extent and producer fields.
    let h = *RecordBatch::parse(&out).unwrap().header();
    assert_eq!((h.base_offset, h.last_offset()), (10, 12));
    assert_eq!(
        (h.producer_id, h.producer_epoch, h.base_sequence),
        (9, 1, 30)
    );
    assert_eq!(h.partition_leader_epoch, 4);
    assert_eq!(h.base_timestamp, 6);
}

#[test]
fn records_beyond_what_was_mapped_stay_even_without_a_key() {
    let bytes = batch(
        10,
        &[
            kv("a", "1", 5),
            Record::new("keyless").with_timestamp(6),
            kv("a", "2", 7),
        ],
    );
    // Only offset 10 was mapped: 11 and 12 lie beyond it and stay, the
    // keyless one too, though "a" maps to 10.
    let mut map = map_of(&[("a", 10)], 10);
    let (out, counts) = run(&bytes, &mut map, false);
    assert_eq!(offsets(&out.unwrap()), [10, 11, 12]);
    assert_eq!(
        (counts.records_without_key, counts.records_superseded),
        (0, 0)
    );
}

#[test]
fn records_without_a_key_go() {
    let bytes = batch(10, &[Record::new("x").with_timestamp(1), kv("a", "1", 2)]);
    let mut map = map_of(&[("a", 11)], 11);
    let (out, counts) = run(&bytes, &mut map, false);
    assert_eq!(offsets(&out.unwrap()), [11]);
    assert_eq!(counts.records_without_key, 1);
}

#[test]
fn a_key_absent_from_the_map_keeps_its_record() {
    let bytes = batch(10, &[kv("z", "1", 1)]);
    let mut map = map_of(&[("a", 11)], 11);
    let (out, _) = run(&bytes, &mut map, false);
    assert_eq!(out.unwrap(), bytes);
}

#[test]
fn a_kept_tombstone_gets_a_delete_horizon_and_keeps_its_timestamp() {
    let bytes = batch(10, &[Record::tombstone("a").with_timestamp(3)]);
    let mut map = map_of(&[("a", 10)], 10);
    let (out, _) = run(&bytes, &mut map, false);
    let out = out.unwrap();
    let b = RecordBatch::parse(&out).unwrap();
    assert!(b.header().attributes.has_delete_horizon());
    assert_eq!(b.header().base_timestamp, NOW + 500);
    let mut s = Vec::new();
    let r = b.records(&mut s).unwrap().next().unwrap().unwrap();
    assert_eq!((r.offset, r.timestamp, r.value), (10, 3, None));
    // With its horizon set, the batch is copied as it is while the horizon
    // is ahead...
    let mut map = map_of(&[("a", 10)], 10);
    let (again, _) = run(&out, &mut map, false);
    assert_eq!(again.unwrap(), out);
}

#[test]
fn a_tombstone_goes_once_its_horizon_has_passed() {
    let bytes = batch(10, &[Record::tombstone("a").with_timestamp(3)]);
    let mut map = map_of(&[("a", 10)], 10);
    let (out, _) = run(&bytes, &mut map, false);
    let stamped = out.unwrap();
    let later = RoundRules {
        now_ms: NOW + 500,
        ..RULES
    };
    let b = RecordBatch::parse(&stamped).unwrap();
    let mut out = Vec::new();
    let mut counts = FilterCounts::default();
    let kept = filter_batch(
        &b,
        &mut Survivors::new(&mut map, u64::MAX),
        &later,
        false,
        &mut out,
        &mut Buffers::default(),
        &mut counts,
    )
    .unwrap();
    assert!(!kept);
    assert_eq!(counts.tombstones_dropped, 1);
    assert_eq!(counts.batches_dropped, 1);
}

#[test]
fn an_emptied_batch_goes_unless_it_must_stay_and_then_keeps_its_header() {
    let bytes = batch(10, &[kv("a", "1", 5), kv("a", "2", 6)]);
    let mut map = map_of(&[("a", 50)], 50);
    let (out, counts) = run(&bytes, &mut map, false);
    assert!(out.is_none());
    assert_eq!(counts.batches_dropped, 1);
    let (out, _) = run(&bytes, &mut map, true);
    let out = out.unwrap();
    let h = *RecordBatch::parse(&out).unwrap().header();
    assert_eq!(out.len(), crate::record::BATCH_HEADER_LEN);
    assert_eq!(
        (h.records_count, h.base_offset, h.last_offset()),
        (0, 10, 11)
    );
    assert_eq!((h.base_timestamp, h.max_timestamp), (-1, 6));
    assert_eq!(h.producer_id, 9);
}

#[test]
fn control_batches_are_copied_and_never_compared_by_key() {
    // A marker whose record key bytes are those of a superseded data key.
    let mut bytes = BatchBuilder::new()
        .base_offset(10)
        .producer(9, 1, -1)
        .transactional(true)
        .build(&[Record::new("m").with_key("a").with_timestamp(1)])
        .unwrap();
    // Attributes are at bytes 21..23; the control flag is bit 5; the CRC
    // at 17..21 covers everything from the attributes on.
    bytes[22] |= 0x20;
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(RecordBatch::parse(&bytes).unwrap().header().is_control());
    let mut map = map_of(&[("a", 99)], 99);
    let (out, counts) = run(&bytes, &mut map, false);
    assert_eq!(out.unwrap(), bytes);
    assert_eq!(counts.records_superseded, 0);
}

#[test]
fn a_rebuilt_batch_keeps_its_codec_and_timestamp_type() {
    if !Compression::Lz4.is_available() {
        return;
    }
    let bytes = BatchBuilder::new()
        .base_offset(10)
        .compression(Compression::Lz4)
        .timestamp_type(TimestampType::LogAppendTime)
        .now(777)
        .build(&[kv("a", "1", 5), kv("b", "2", 6)])
        .unwrap();
    let mut map = map_of(&[("a", 50), ("b", 11)], 50);
    let (out, _) = run(&bytes, &mut map, false);
    let out = out.unwrap();
    let b = RecordBatch::parse(&out).unwrap();
    assert_eq!(b.header().compression(), Compression::Lz4);
    assert_eq!(b.header().timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(b.header().max_timestamp, 777);
    assert_eq!(offsets(&out), [11]);
}

#[test]
fn in_the_dirty_section_a_record_stays_exactly_when_the_map_holds_its_offset() {
    // As the round maps it: "a" at 10 and 12, "b" at 11, a keyless record
    // at 13, all from the first dirty offset 10.
    let bytes = batch(
        10,
        &[
            kv("a", "1", 5),
            kv("b", "2", 6),
            kv("a", "3", 7),
            Record::new("x").with_timestamp(8),
        ],
    );
    let mut by_key = map_of(&[("a", 10), ("b", 11), ("a", 12)], 13);
    let (keyed, keyed_counts) = run(&bytes, &mut by_key, false);
    let mut by_offset = map_of(&[("a", 10), ("b", 11), ("a", 12)], 13);
    let (sorted, counts) = run_from(&bytes, &mut by_offset, 10, false);
    assert_eq!(offsets(sorted.as_ref().unwrap()), [11, 12]);
    assert_eq!(sorted, keyed);
    assert_eq!(counts.records_superseded, 1);
    // The keyless record was counted as the dirty section was mapped.
    assert_eq!(
        (keyed_counts.records_without_key, counts.records_without_key),
        (1, 0)
    );
    // The map became the list of its offsets.
    assert_eq!(by_offset.get(b"a"), None);
    assert_eq!(
        [0, 1, 2].map(|i| by_offset.sorted_offset(i)),
        [Some(11), Some(12), None]
    );
}

#[test]
fn a_dirty_batch_none_of_whose_offsets_the_map_holds_may_go_unread() {
    let mut map = map_of(&[("a", 12), ("b", 20), ("c", 35)], 40);
    let mut survivors = Survivors::new(&mut map, 10);
    // Below the dirty section, or straddling its start: its records must
    // be read.
    assert!(survivors.may_keep(0, 5));
    assert!(survivors.may_keep(8, 11));
    assert!(survivors.may_keep(10, 12));
    assert!(!survivors.may_keep(13, 19));
    assert!(survivors.may_keep(20, 20));
    assert!(!survivors.may_keep(21, 34));
    // Straddling the end of what was mapped.
    assert!(survivors.may_keep(36, 41));
    // Record by record, in order, after the batches.
    assert_eq!(survivors.fate(Some(b"c"), 35), Fate::Latest);
    assert_eq!(survivors.fate(Some(b"c"), 39), Fate::Superseded);
    assert_eq!(survivors.fate(Some(b"c"), 41), Fate::Unmapped);
    assert_eq!(survivors.fate(None, 41), Fate::Unmapped);
}

#[test]
fn a_map_that_mapped_nothing_keeps_everything() {
    let mut map = OffsetMap::new(crate::compaction::ENTRY_BYTES * 64, 0.9);
    let mut survivors = Survivors::new(&mut map, 0);
    assert!(survivors.may_keep(0, 10));
    assert_eq!(survivors.fate(Some(b"a"), 3), Fate::Unmapped);
}

#[test]
fn a_batch_across_the_start_of_the_dirty_section_looks_up_its_older_records_by_key() {
    // The dirty section starts at 11: "b" at 11 and "a" at 12 were mapped.
    // Record 10 lies below it and is looked up by key, before the map
    // becomes a list of offsets for the records from 11 on.
    let bytes = batch(10, &[kv("a", "1", 5), kv("b", "2", 6), kv("a", "3", 7)]);
    let mut map = map_of(&[("b", 11), ("a", 12)], 12);
    let (out, counts) = run_from(&bytes, &mut map, 11, false);
    assert_eq!(offsets(&out.unwrap()), [11, 12]);
    assert_eq!(counts.records_superseded, 1);
}

#[test]
fn records_out_of_offset_order_are_an_error() {
    let mut bytes = batch(10, &[kv("a", "1", 0), kv("b", "2", 0)]);
    // Swap the one-byte offset deltas (0 and 1, zigzag 0 and 2) of the two
    // records: length, attributes and timestamp delta come first.
    let first = crate::record::BATCH_HEADER_LEN;
    let second = first + 1 + usize::from(bytes[first]) / 2;
    bytes[first + 3] = 2;
    bytes[second + 3] = 0;
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    let b = RecordBatch::parse(&bytes).unwrap();
    let mut map = map_of(&[("a", 11), ("b", 10)], 11);
    let err = filter_batch(
        &b,
        &mut Survivors::new(&mut map, 10),
        &RULES,
        false,
        &mut Vec::new(),
        &mut Buffers::default(),
        &mut FilterCounts::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("do not increase"), "{err}");
}

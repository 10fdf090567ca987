//! Appending borrowed records, reading one record by offset, and `sync`.

use seglog::io::CrashMode;
use seglog::{Durability, Error, Header, LogConfig, PartitionLog, Record, RecordRef};

use crate::common_compacted::CompactedBatch;
use crate::{mem_log, reopen, DIR};

const TS: i64 = 1_700_000_000_000;

/// Every byte of the log, as one fetch returns it.
fn log_bytes(log: &PartitionLog) -> Vec<u8> {
    log.read(log.log_start_offset(), u64::MAX)
        .unwrap()
        .to_vec()
        .unwrap()
}

#[test]
fn borrowed_records_are_encoded_exactly_as_owned_ones() {
    let headers = [Header::new("trace", "t-1")];
    let owned = vec![
        Record::new("v0").with_timestamp(TS),
        Record::new("v1").with_key("k1").with_header("trace", "t-1"),
        Record::tombstone("k2").with_timestamp(TS + 5),
    ];
    let borrowed = [
        RecordRef::new(b"v0").with_timestamp(TS),
        RecordRef::new(b"v1").with_key(b"k1").with_headers(&headers),
        RecordRef::tombstone(b"k2").with_timestamp(TS + 5),
    ];
    let (_, _, a) = mem_log(LogConfig::default());
    let (_, _, b) = mem_log(LogConfig::default());
    let info_a = a.append(&owned).unwrap();
    let info_b = b.append(&borrowed).unwrap();
    assert_eq!(info_a, info_b);
    assert_eq!(log_bytes(&a), log_bytes(&b));
    let via_from: Vec<RecordRef> = owned.iter().map(RecordRef::from).collect();
    assert_eq!(via_from, borrowed);
}

#[test]
fn borrowed_records_follow_the_same_rules() {
    let compacted = LogConfig {
        cleanup_policy: seglog::CleanupPolicy::Compact,
        ..LogConfig::default()
    };
    let (_, _, log) = mem_log(compacted);
    let err = log
        .append(&[
            RecordRef::new(b"keyed").with_key(b"k"),
            RecordRef::new(b"keyless"),
        ])
        .unwrap_err();
    assert!(matches!(err, Error::MissingKey { index: 1, .. }), "{err}");
    assert_eq!(log.log_end_offset(), 0, "nothing of the batch is written");
    let err = log
        .append(&[RecordRef::new(b"v").with_key(b"k").with_timestamp(-5)])
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRecord { .. }), "{err}");
    assert!(matches!(
        log.append::<RecordRef>(&[]),
        Err(Error::InvalidRecord { .. })
    ));
}

#[test]
fn read_record_returns_the_record_at_an_offset() {
    let (fs, _, log) = mem_log(LogConfig::default());
    log.append(&[
        Record::new("a").with_timestamp(TS),
        Record::new("b").with_key("kb").with_timestamp(TS + 1),
    ])
    .unwrap();
    // A transaction marker at offset 2, then a record at 3.
    let marker = CompactedBatch::new(2, 0)
        .control()
        .record(0, TS + 2, "marker", Some(b"\0\0\0\0"))
        .build();
    log.append_replicated(&marker).unwrap();
    log.append(&[Record::new("d").with_timestamp(TS + 3)])
        .unwrap();

    let b = log.read_record(1).unwrap().expect("a record at 1");
    assert_eq!((b.offset, b.timestamp), (1, TS + 1));
    assert_eq!(b.key.as_deref(), Some(&b"kb"[..]));
    assert_eq!(b.value.as_deref(), Some(&b"b"[..]));
    assert_eq!(log.read_record(0).unwrap().unwrap().value.unwrap(), b"a");
    assert_eq!(log.read_record(2).unwrap(), None, "a control record");
    assert_eq!(log.read_record(3).unwrap().unwrap().value.unwrap(), b"d");
    match log.read_record(4) {
        Err(Error::OffsetOutOfRange {
            requested: 4,
            earliest: 0,
            latest: 4,
        }) => {}
        other => panic!("{other:?}"),
    }
    // A damaged batch is reported by the read that returns its records.
    log.sync().unwrap();
    let seg = format!("{DIR}/00000000000000000000.log");
    let mut bytes = fs.read(seg.as_ref()).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs.write(seg.as_ref(), &bytes).unwrap();
    let err = log.read_record(3).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert_eq!(log.read_record(1).unwrap().unwrap().offset, 1);

    log.advance_log_start_offset(1).unwrap();
    assert!(matches!(
        log.read_record(0),
        Err(Error::OffsetOutOfRange { requested: 0, .. })
    ));
    assert_eq!(log.read_record(1).unwrap().unwrap().offset, 1);
}

#[test]
fn sync_makes_appends_survive_a_power_loss() {
    let (fs, clock, log) = mem_log(LogConfig::default());
    log.append_with(&[Record::new("kept")], Durability::None)
        .unwrap();
    assert!(log.recovery_point() < log.log_end_offset());
    log.sync().unwrap();
    assert_eq!(log.recovery_point(), 1);
    log.append_with(&[Record::new("lost")], Durability::Flush)
        .unwrap();
    let crashed = fs.crash(CrashMode::DurableOnly);
    drop(log);
    let log = reopen(&crashed, &clock, LogConfig::default());
    assert_eq!(log.log_end_offset(), 1);
    assert_eq!(log.read_record(0).unwrap().unwrap().value.unwrap(), b"kept");
}

/// Three batches of three records, in a sealed segment, and one batch in
/// the active segment.
fn sealed_log() -> (seglog::io::MemFs, PartitionLog) {
    let (fs, _, log) = mem_log(LogConfig::default());
    for batch in 0..3 {
        let records: Vec<Record> = (0..3)
            .map(|i| Record::new(format!("v{batch}-{i}")).with_key(format!("k{i}")))
            .collect();
        log.append(&records).unwrap();
    }
    log.roll().unwrap();
    log.append(&[Record::new("active")]).unwrap();
    (fs, log)
}

#[test]
fn read_record_of_a_sealed_segment_is_the_same_when_read_again() {
    let (_, log) = sealed_log();
    let all: Vec<_> = log.iter(0).collect::<Result<_, _>>().unwrap();
    assert_eq!(all.len(), 10);
    // The first round checks each batch, the second reads remembered ones.
    for _ in 0..2 {
        for expected in all.iter().rev() {
            let got = log.read_record(expected.offset).unwrap();
            assert_eq!(got.as_ref(), Some(expected), "offset {}", expected.offset);
        }
    }
    assert_eq!(
        log.read_record(4).unwrap().unwrap().value.as_deref(),
        Some(&b"v1-1"[..])
    );
}

/// Flips the last byte of the second batch (offsets 3..6) of the sealed
/// segment.
fn damage_second_batch(fs: &seglog::io::MemFs, log: &PartitionLog) {
    let seg = format!("{DIR}/00000000000000000000.log");
    let mut bytes = fs.read(seg.as_ref()).unwrap();
    let second_end = log.read(3, 1).unwrap().slices()[0].position() as usize
        + log.read(3, 1).unwrap().len_bytes() as usize;
    bytes[second_end - 1] ^= 0xff;
    fs.write(seg.as_ref(), &bytes).unwrap();
}

#[test]
fn read_record_reports_a_damaged_batch_of_a_sealed_segment() {
    let (fs, log) = sealed_log();
    assert_eq!(log.read_record(1).unwrap().unwrap().offset, 1);
    damage_second_batch(&fs, &log);
    for offset in 3..6 {
        let err = log.read_record(offset).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{offset}: {err}");
    }
    assert_eq!(log.read_record(1).unwrap().unwrap().offset, 1);
    assert_eq!(log.read_record(6).unwrap().unwrap().offset, 6);
    assert_eq!(log.read_record(9).unwrap().unwrap().offset, 9);
}

#[test]
fn a_kept_reader_reports_a_damaged_batch_at_every_point_read() {
    let (fs, log) = sealed_log();
    let mut reader = log.reader(0).with_fetch_bytes(1);
    reader.seek(4);
    let mut batch = reader.next_batch().unwrap().expect("the batch of 4");
    assert_eq!(batch.next().unwrap().unwrap().offset, 4);
    damage_second_batch(&fs, &log);
    for offset in [4, 3, 5] {
        reader.seek(offset);
        let err = reader.next_batch().unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{offset}: {err}");
    }
    reader.seek(7);
    let mut batch = reader.next_batch().unwrap().expect("the batch of 7");
    assert_eq!(batch.next().unwrap().unwrap().offset, 7);
}

#[test]
fn read_record_after_a_truncation_into_a_sealed_segment_sees_the_new_records() {
    let (_, log) = sealed_log();
    for offset in 0..10 {
        log.read_record(offset).unwrap().expect("a record");
    }
    log.truncate_to(3).unwrap();
    assert!(matches!(
        log.read_record(4),
        Err(Error::OffsetOutOfRange { latest: 3, .. })
    ));
    log.append(&[Record::new("x"), Record::new("y"), Record::new("z")])
        .unwrap();
    log.roll().unwrap();
    log.append(&[Record::new("after")]).unwrap();
    let values: Vec<_> = (0..7)
        .map(|o| log.read_record(o).unwrap().unwrap().value.unwrap())
        .collect();
    assert_eq!(
        values,
        [&b"v0-0"[..], b"v0-1", b"v0-2", b"x", b"y", b"z", b"after"]
    );
}

#[test]
fn a_kept_readers_record_at_reads_as_read_record_without_moving_the_cursor() {
    let (fs, log) = sealed_log();
    // A transaction marker at offset 10, then a record at 11, active.
    let marker = CompactedBatch::new(10, 0)
        .control()
        .record(0, TS, "marker", Some(b"\0\0\0\0"))
        .build();
    log.append_replicated(&marker).unwrap();
    log.append(&[Record::new("last").with_key("k")]).unwrap();
    let all: Vec<_> = log.iter(0).collect::<Result<_, _>>().unwrap();
    assert_eq!(all.len(), 11);

    let mut reader = log.reader(0);
    // The first round checks each batch, the second reads remembered ones;
    // the marker's offset holds no record.
    for _ in 0..2 {
        for offset in (0..12).rev() {
            let want = log.read_record(offset).unwrap();
            assert_eq!(want.as_ref(), all.iter().find(|r| r.offset == offset));
            let got = reader.record_at(offset).unwrap().map(|r| r.to_owned());
            assert_eq!(got, want, "record_at({offset})");
        }
    }
    assert_eq!(reader.position(), 0, "record_at moves no cursor");
    let first = reader.next_batch().unwrap().expect("the first batch");
    assert_eq!(first.header().base_offset, 0);
    assert_eq!(reader.position(), 3);

    for beyond in [12, 13] {
        match reader.record_at(beyond) {
            Err(Error::OffsetOutOfRange {
                requested,
                earliest: 0,
                latest: 12,
            }) if requested == beyond => {}
            other => panic!("record_at({beyond}): {other:?}"),
        }
    }
    log.advance_log_start_offset(2).unwrap();
    assert!(matches!(
        reader.record_at(1),
        Err(Error::OffsetOutOfRange {
            requested: 1,
            earliest: 2,
            ..
        })
    ));
    let record = reader.record_at(2).unwrap().expect("the new first record");
    assert_eq!(record.value, Some(&b"v0-2"[..]));

    // A damaged batch not checked yet is reported at each of its offsets,
    // by a new reader as by the kept one.
    let (fs2, log2) = sealed_log();
    let mut reader = log2.reader(0);
    assert_eq!(reader.record_at(1).unwrap().unwrap().offset, 1);
    damage_second_batch(&fs2, &log2);
    for offset in 3..6 {
        let err = reader.record_at(offset).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{offset}: {err}");
        let err = log2.reader(0).record_at(offset).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{offset}: {err}");
    }
    assert_eq!(reader.record_at(6).unwrap().unwrap().offset, 6);
    drop(fs);
}

#[test]
fn an_owned_point_read_hands_out_values_sized_to_them() {
    let (_, _, log) = mem_log(LogConfig::default());
    let big_key = vec![b'k'; 4096];
    let big_value = vec![b'v'; 4096];
    log.append(&[
        Record::new("v").with_key(big_key.clone()),
        Record::new(big_value.clone()).with_key("k"),
        Record::new("w").with_header("h", vec![0u8; 4096]),
    ])
    .unwrap();
    log.roll().unwrap();
    log.append(&[Record::new("active")]).unwrap();
    // The first read of the batch checks it whole, the second reads the
    // remembered record alone.
    for _ in 0..2 {
        let small = log.read_record(0).unwrap().unwrap();
        assert_eq!(small.key.as_deref(), Some(&big_key[..]));
        let value = small.value.unwrap();
        assert_eq!(value, b"v");
        assert!(value.capacity() < 64, "{} bytes kept", value.capacity());
        let large = log.read_record(1).unwrap().unwrap();
        assert_eq!(large.value.as_deref(), Some(&big_value[..]));
        let with_header = log.read_record(2).unwrap().unwrap();
        assert_eq!(with_header.headers.len(), 1);
        let value = with_header.value.unwrap();
        assert_eq!(value, b"w");
        assert!(value.capacity() < 64, "{} bytes kept", value.capacity());
    }
}

#[test]
fn a_point_read_made_during_another_on_the_same_thread_reads_its_own_record() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use seglog::io::FsOp;

    let (fs, _clock, log) = mem_log(LogConfig::default());
    for i in 0..3 {
        log.append_with(&[Record::new(format!("value {i}"))], Durability::Flush)
            .unwrap();
    }
    log.roll().unwrap();
    for offset in 0..3 {
        log.read_record(offset).unwrap().unwrap();
    }
    // The file system's own code runs inside a read: here it makes a read
    // of its own, on the same thread, while the outer one is under way.
    let inner = log.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let armed = Arc::new(AtomicBool::new(true));
    let (seen_by_hook, armed_hook) = (seen.clone(), armed.clone());
    fs.set_fault_hook(move |call| {
        if call.op == FsOp::Read && armed_hook.swap(false, Ordering::SeqCst) {
            let record = inner.read_record(0).unwrap().unwrap();
            seen_by_hook.lock().unwrap().push(record.value.unwrap());
        }
        None
    });
    let outer = log.read_record(1).unwrap().unwrap();
    fs.clear_fault_hook();
    assert!(!armed.load(Ordering::SeqCst));
    assert_eq!(outer.value.unwrap(), b"value 1");
    assert_eq!(*seen.lock().unwrap(), [b"value 0".to_vec()]);
}

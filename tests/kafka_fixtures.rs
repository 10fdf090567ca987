//! Reads every Kafka-written fixture in `tests/data/kafka-v2` and compares
//! every record with its `expected.jsonl`; checks that every corrupt
//! fixture is reported with the file and position its `case.json` names,
//! and what opening each one as a log does.

mod common;

use std::fs;
use std::path::Path;

use serde_json::Value;

use common::{copy_dir, fixtures, read_jsonl, record_json, segment_base, subdirs};
use seglog::inspect::{self, SegmentFiles};
use seglog::io::StdFs;
use seglog::{Compression, Error, LogConfig, OpenOptions, PartitionLog, RecoveryMode};

fn case_json(case: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(case.join("case.json")).unwrap()).unwrap()
}

/// Codecs the case uses that this build lacks.
fn missing_codecs(case: &Value) -> Vec<Compression> {
    case["codecs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| match c.as_str().unwrap() {
            "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            other => panic!("unknown codec {other}"),
        })
        .filter(|c| !c.is_available())
        .collect()
}

/// Every record of a partition directory, read file by file.
fn records_via_inspect(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    for seg in inspect::segments(&StdFs, dir).unwrap() {
        inspect::for_each_batch(&StdFs, &seg, |_, batch| {
            for r in batch.records(&mut scratch)? {
                out.push(record_json(seg.base_offset, batch.header(), &r?));
            }
            Ok(())
        })
        .unwrap();
    }
    out
}

/// Every record of an open log, read through the log's reader.
fn records_via_log(log: &PartitionLog) -> Vec<Value> {
    let mut out = Vec::new();
    let mut reader = log.reader(log.log_start_offset()).with_fetch_bytes(3000);
    while let Some(batch) = reader.next_batch().unwrap() {
        let base = segment_base(batch.path());
        let header = *batch.header();
        for r in batch {
            out.push(record_json(base, &header, &r.unwrap()));
        }
    }
    out
}

fn open_copy(from: &Path, to: &Path, mode: RecoveryMode) -> seglog::Result<PartitionLog> {
    copy_dir(from, to);
    OpenOptions::new()
        .recovery_mode(mode)
        .open(to, LogConfig::default())
}

#[test]
fn every_good_fixture_reads_back_exactly() {
    let cases = subdirs(&fixtures().join("good"));
    assert_eq!(cases.len(), 13, "all good fixtures are present");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let meta = case_json(&case);
        let dir = case.join("topic-0");
        let expected = read_jsonl(&case.join("expected.jsonl"));
        assert_eq!(
            expected.len() as u64,
            meta["records"].as_u64().unwrap(),
            "{name}"
        );

        let missing = missing_codecs(&meta);
        if !missing.is_empty() {
            let e = inspect::verify_partition_dir(&dir).unwrap_err();
            assert!(
                matches!(e, Error::CompressionUnavailable { codec } if missing.contains(&codec)),
                "{name}: {e}"
            );
            continue;
        }

        // Read-only: verification passes and every field matches.
        let report = inspect::verify_partition_dir(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.records(), expected.len() as u64, "{name}");
        assert_eq!(
            report.segments.len(),
            meta["segments"].as_array().unwrap().len(),
            "{name}"
        );
        let got = records_via_inspect(&dir);
        assert_eq!(got.len(), expected.len(), "{name}");
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(g, e, "{name}");
        }

        // As a log: an unclean open (no seglog checkpoint) re-reads every
        // segment; every record comes back through the read path.
        let tmp = tempfile::tempdir().unwrap();
        let copy = tmp.path().join("topic-0");
        let log =
            open_copy(&dir, &copy, RecoveryMode::Strict).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            log.recovery_report().truncated.is_none(),
            "{name}: {:?}",
            log.recovery_report()
        );
        let last = meta["segments"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["last_offset"].as_u64())
            .max()
            .unwrap();
        assert_eq!(log.log_end_offset(), last + 1, "{name}");
        assert_eq!(records_via_log(&log), expected, "{name}");
        log.close().unwrap();

        // Rebuilt indexes are Kafka's, byte for byte: closed segments exactly,
        // the active one up to the entry a close adds.
        for seg in inspect::segments(&StdFs, &dir).unwrap() {
            for (orig, kind) in [(&seg.index, "index"), (&seg.time_index, "timeindex")] {
                let ours = fs::read(copy.join(orig.file_name().unwrap())).unwrap();
                let theirs = fs::read(orig).unwrap();
                let theirs = trim_zero_entries(&theirs, if kind == "index" { 8 } else { 12 });
                assert!(
                    ours == theirs
                        || (ours.starts_with(&theirs)
                            && ours.len() == theirs.len() + 12
                            && kind == "timeindex"),
                    "{name}: {kind} of segment {} differs: ours {} bytes, Kafka's {}",
                    seg.base_offset,
                    ours.len(),
                    theirs.len()
                );
            }
        }

        // A clean reopen serves the same records and the copy still verifies.
        let log = OpenOptions::new()
            .open(&copy, LogConfig::default())
            .unwrap();
        assert!(log.recovery_report().clean_shutdown, "{name}");
        assert_eq!(records_via_log(&log), expected, "{name}");
        drop(log);
        inspect::verify_partition_dir(&copy).unwrap_or_else(|e| panic!("{name} after reopen: {e}"));
    }
}

/// Index bytes without a zero-filled preallocated tail.
fn trim_zero_entries(bytes: &[u8], entry: usize) -> Vec<u8> {
    let mut n = bytes.len() / entry;
    while n > 1 && bytes[(n - 1) * entry..n * entry].iter().all(|b| *b == 0) {
        n -= 1;
    }
    bytes[..n * entry].to_vec()
}

#[test]
fn every_corrupt_fixture_is_reported_where_case_json_says() {
    let cases = subdirs(&fixtures().join("corrupt"));
    assert_eq!(cases.len(), 10, "all corrupt fixtures are present");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let expect = &case_json(&case)["expect"];
        let dir = case.join("topic-0");
        let err = inspect::verify_partition_dir(&dir).expect_err(&name);
        let Error::Corrupt {
            path,
            position,
            reason,
        } = &err
        else {
            panic!("{name}: expected Corrupt, got {err}");
        };
        assert_eq!(
            path.file_name().unwrap().to_str().unwrap(),
            expect["file"].as_str().unwrap(),
            "{name}: {err}"
        );
        let needle = expect["error_contains"].as_str().unwrap();
        assert!(
            reason.contains(needle),
            "{name}: {reason:?} lacks {needle:?}"
        );
        if let Some(p) = expect["batch_position"].as_u64() {
            assert_eq!(*position, p, "{name}: {err}");
        }
        if let Some(entry) = expect["entry"].as_u64() {
            let size = if needle.contains("timestamps") { 12 } else { 8 };
            assert_eq!(*position, entry * size, "{name}: {err}");
        }
        assert!(
            err.to_string().contains(needle),
            "the message names the problem: {err}"
        );
    }
}

/// Records of a corrupt case's expected file (full or valid prefix).
fn corrupt_expected(case: &Path) -> Vec<Value> {
    let full = case.join("expected.jsonl");
    if full.exists() {
        read_jsonl(&full)
    } else {
        read_jsonl(&case.join("expected-valid-prefix.jsonl"))
    }
}

#[test]
fn opening_corrupt_fixtures_as_logs() {
    let root = fixtures().join("corrupt");
    let tmp = tempfile::tempdir().unwrap();
    let open = |case: &str, mode: RecoveryMode| {
        let to = tmp.path().join(format!("{case}-{mode:?}"));
        open_copy(&root.join(case).join("topic-0"), &to, mode)
    };

    // Index-only damage: the log is intact, recovery rebuilds the indexes,
    // every record is served and the repaired copy verifies.
    for case in [
        "index-entry-mid-batch",
        "index-offset-outside-batch",
        "closed-segment-preallocated-index",
        "timeindex-not-monotonic",
    ] {
        let log = open(case, RecoveryMode::Strict).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(
            records_via_log(&log),
            corrupt_expected(&root.join(case)),
            "{case}"
        );
        let dir = log.dir().to_path_buf();
        log.close().unwrap();
        inspect::verify_partition_dir(&dir).unwrap_or_else(|e| panic!("{case} repaired: {e}"));
    }

    // Without a seglog checkpoint nothing is known to have been synced (the
    // recovery point is 0), so, as in Kafka, recovery cuts the log at the
    // first invalid batch and drops every later segment.
    for (case, cut_at, deleted) in [
        ("truncated-last-batch", 5176, 0),
        ("duplicate-offsets", 3313, 0),
        ("segment-name-above-first-offset", 0, 0),
        ("crc-flipped-byte", 2578, 1),
    ] {
        let log = open(case, RecoveryMode::Strict).unwrap_or_else(|e| panic!("{case}: {e}"));
        let report = log.recovery_report();
        let t = report.truncated.clone().expect(case);
        assert_eq!(t.position, cut_at, "{case}");
        assert_eq!(report.segments_deleted, deleted, "{case}");
        assert_eq!(
            records_via_log(&log),
            corrupt_expected(&root.join(case)),
            "{case}"
        );
    }
    let log = open("overlapping-segments", RecoveryMode::Strict).unwrap();
    assert_eq!(log.log_end_offset(), 30);
    assert!(log
        .recovery_report()
        .truncated
        .as_ref()
        .unwrap()
        .reason
        .contains("segment base offset 20 is not above the last offset 29"));
    assert_eq!(
        records_via_log(&log),
        corrupt_expected(&root.join("overlapping-segments"))
    );

    // With a recovery point beyond the damage, the damaged bytes had been
    // synced: strict recovery refuses, naming the file and position, and
    // the lenient mode cuts there as before.
    let with_checkpoint = |case: &str, recovery_point: u64, mode: RecoveryMode| {
        let to = tmp.path().join(format!("{case}-checkpointed-{mode:?}"));
        copy_dir(&root.join(case).join("topic-0"), &to);
        fs::write(
            to.join("seglog.checkpoint"),
            format!("0\n2\nrecovery-point {recovery_point}\nlog-start-offset 0\n"),
        )
        .unwrap();
        OpenOptions::new()
            .recovery_mode(mode)
            .open(&to, LogConfig::default())
    };
    let e = with_checkpoint("crc-flipped-byte", 40, RecoveryMode::Strict).unwrap_err();
    assert!(
        matches!(&e, Error::Corrupt { path, position: 2578, reason } if path.ends_with("00000000000000000000.log") && reason.contains("CRC-32C mismatch")),
        "{e}"
    );
    let log = with_checkpoint("crc-flipped-byte", 40, RecoveryMode::TruncateCorrupt).unwrap();
    assert_eq!(log.recovery_report().segments_deleted, 1);
    assert_eq!(
        records_via_log(&log),
        corrupt_expected(&root.join("crc-flipped-byte"))
    );
    let e = with_checkpoint("truncated-last-batch", 95, RecoveryMode::Strict).unwrap_err();
    assert!(matches!(&e, Error::Corrupt { position: 5176, .. }), "{e}");

    // Below the recovery point a segment is not re-read at open: damage in
    // it is reported by the read that reaches it.
    let log = with_checkpoint("crc-flipped-byte", 50, RecoveryMode::Strict).unwrap();
    let e = log
        .read(25, 1)
        .unwrap()
        .records()
        .find_map(|r| r.err())
        .unwrap();
    assert!(matches!(&e, Error::Corrupt { position: 2578, .. }), "{e}");
    assert_eq!(
        log.read(10, 1)
            .unwrap()
            .records()
            .next()
            .unwrap()
            .unwrap()
            .offset,
        10
    );

    // A header max timestamp that disagrees with its records is caught by
    // verification; recovery checks CRCs, not record contents, and keeps
    // the (readable) data, as Kafka's does.
    let log = open("bad-max-timestamp", RecoveryMode::Strict).unwrap();
    assert!(log.recovery_report().truncated.is_none());
    assert_eq!(log.log_end_offset(), 30);
}

#[test]
fn trusted_segments_with_bad_indexes_are_rebuilt_on_first_use() {
    // With a recovery point at the last segment, the first segment is
    // trusted and not re-read at open; its damaged index is noticed and
    // rebuilt when a read first uses it.
    let root = fixtures().join("corrupt");
    for case in [
        "index-entry-mid-batch",
        "index-offset-outside-batch",
        "closed-segment-preallocated-index",
        "timeindex-not-monotonic",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let copy = tmp.path().join("topic-0");
        copy_dir(&root.join(case).join("topic-0"), &copy);
        let segs: Vec<SegmentFiles> = inspect::segments(&StdFs, &copy).unwrap();
        let last_base = segs.last().unwrap().base_offset;
        fs::write(
            copy.join("seglog.checkpoint"),
            format!("0\n2\nrecovery-point {last_base}\nlog-start-offset 0\n"),
        )
        .unwrap();
        let log = OpenOptions::new()
            .open(&copy, LogConfig::default())
            .unwrap();
        assert_eq!(log.recovery_report().segments_recovered, 1, "{case}");
        let expected = corrupt_expected(&root.join(case));
        // Every offset read on its own finds its record.
        for want in &expected {
            let offset = want["offset"].as_u64().unwrap();
            let got = log
                .read(offset, 1)
                .unwrap()
                .records()
                .next()
                .unwrap()
                .unwrap();
            assert_eq!(got.offset, offset, "{case}");
        }
        // Lookups by time agree with a scan.
        for want in expected.iter().step_by(7) {
            let ts = want["timestamp"].as_i64().unwrap();
            let first = expected
                .iter()
                .find(|r| r["timestamp"].as_i64().unwrap() >= ts)
                .unwrap();
            let got = log.offset_for_timestamp(ts).unwrap().unwrap();
            assert_eq!(
                got.offset,
                first["offset"].as_u64().unwrap(),
                "{case} ts {ts}"
            );
        }
        log.close().unwrap();
        inspect::verify_partition_dir(&copy).unwrap_or_else(|e| panic!("{case} repaired: {e}"));
    }
}

/// A Kafka data directory after an unclean shutdown: no
/// `.kafka_cleanshutdown`, Kafka's root checkpoint files with a recovery
/// point below a compacted segment that ends before the next segment
/// starts. Kafka does not take such a gap for lost data; nor does a store
/// opening the directory: every segment is kept.
#[test]
fn a_kafka_compacted_log_with_gaps_between_segments_survives_an_unclean_open() {
    let case = fixtures().join("good/compacted-gaps");
    let expected = read_jsonl(&case.join("expected.jsonl"));
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&case.join("topic-0"), &data.join("topic-0"));
    for file in [
        "recovery-point-offset-checkpoint",
        "log-start-offset-checkpoint",
    ] {
        fs::write(data.join(file), "0\n1\ntopic 0 0\n").unwrap();
    }
    let store =
        seglog::store::LogStore::open(&data, seglog::store::StoreConfig::default()).unwrap();
    let log = store.partition("topic", 0).unwrap();
    let report = log.recovery_report();
    assert!(!report.clean_shutdown);
    assert!(report.truncated.is_none(), "{report:?}");
    assert_eq!(report.segments_deleted, 0);
    // Segment 0 ends at 141; segment 149 starts with a batch at 152.
    let bases: Vec<u64> = log.segments().iter().map(|s| s.base_offset).collect();
    assert_eq!(bases, [0, 149]);
    assert_eq!(log.log_end_offset(), 298);
    assert_eq!(records_via_log(&log), expected);
}

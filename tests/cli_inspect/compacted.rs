//! The tool over a store whose partition has the offset gaps, empty
//! batches and delete horizon a compaction leaves (see
//! `common_compacted`): `dump` shows every batch as it is, `verify`
//! accepts it, `stats` and `consume` see its records, and `consume` ends.

use std::path::Path;

use seglog::store::{LogStore, StoreConfig};

use crate::common_cli::*;
use crate::common_compacted::{
    append_compacted_log, compacted_records, COMPACTED_BATCHES, HORIZON,
};
use crate::{dump_ok, jsonl};

/// A closed store in `dir` with topic `t`, its one partition compacted.
fn compacted_store(dir: &Path) {
    let store = LogStore::open(dir, StoreConfig::default()).unwrap();
    store
        .create_topic(
            "t",
            1,
            &[("segment.bytes", "2048"), ("index.interval.bytes", "1")],
        )
        .unwrap();
    append_compacted_log(&store.partition("t", 0).unwrap());
    store.close().unwrap();
}

#[test]
fn dump_shows_empty_and_delete_horizon_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    compacted_store(&dir);
    let lines = jsonl(&dump_ok(&dir.join("t-0"), &["--records", "--json"]));
    let batches: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == "batch").collect();
    let got: Vec<(u64, u64, u32)> = batches
        .iter()
        .map(|b| {
            (
                b["base_offset"].as_u64().unwrap(),
                b["last_offset"].as_u64().unwrap(),
                b["count"].as_u64().unwrap() as u32,
            )
        })
        .collect();
    assert_eq!(got, COMPACTED_BATCHES);
    // (first timestamp, max timestamp, delete horizon) of each batch: an
    // empty batch has no first timestamp and keeps the max of the records
    // it lost; a batch with a delete horizon shows it apart, and its
    // first record's timestamp as the first timestamp.
    let times: Vec<(i64, i64, Option<i64>)> = batches
        .iter()
        .map(|b| {
            (
                b["first_timestamp"].as_i64().unwrap(),
                b["max_timestamp"].as_i64().unwrap(),
                b["delete_horizon_ms"].as_i64(),
            )
        })
        .collect();
    assert_eq!(
        times,
        [
            (1_000, 1_003, None),
            (-1, 1_050, None),
            (1_010, 1_012, Some(HORIZON)),
            (1_020, 1_020, None),
            (1_030, 1_030, None),
            (-1, 1_040, None),
        ]
    );
    for b in &batches {
        assert!(b.get("delete_horizon_ms").is_some(), "{b}");
        if b["count"] == 0 {
            assert_eq!(b["size"], 61);
        }
    }
    let records: Vec<(u64, i64)> = lines
        .iter()
        .filter(|l| l["type"] == "record")
        .map(|r| {
            (
                r["offset"].as_u64().unwrap(),
                r["timestamp"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(u64, i64)> = compacted_records().iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(records, want);

    // As text: the same fields, with Kafka's name for the horizon.
    let text = dump_ok(&dir.join("t-0"), &["--records"]);
    let headers: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("baseOffset: "))
        .collect();
    assert_eq!(headers.len(), COMPACTED_BATCHES.len());
    assert!(
        headers[1].starts_with("baseOffset: 10 lastOffset: 12 count: 0 "),
        "{}",
        headers[1]
    );
    assert!(headers[1].contains(" firstTimestamp: -1 maxTimestamp: 1050 "));
    assert!(headers[1].contains(" isControl: false deleteHorizonMs: null "));
    assert!(headers[2].contains(" firstTimestamp: 1010 maxTimestamp: 1012 "));
    assert!(
        headers[2].contains(&format!(" isControl: false deleteHorizonMs: {HORIZON} ")),
        "{}",
        headers[2]
    );
    assert!(text.contains("| offset: 15 CreateTime: 1012 key: k4 value: null headers: []\n"));
}

#[test]
fn verify_stats_and_consume_read_a_compacted_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    compacted_store(&dir);
    let out = ok(&dir, &["verify"]);
    assert_eq!(
        out,
        format!(
            "verified 1 partition(s): 3 segments, 6 batches, 6 records, {} bytes; no problems found\n",
            dir_log_bytes(&dir.join("t-0"))
        )
    );
    // From the start, and from inside gaps and empty batches: the records
    // from there on, and the command ends at the log end offset (the end
    // of an empty batch).
    for (from, want) in [(0, 0), (5, 1), (8, 2), (11, 2), (24, 5), (31, 6)] {
        let out = ok(
            &dir,
            &[
                "consume",
                "--topic",
                "t",
                "--offset",
                &from.to_string(),
                "--format",
                "json",
            ],
        );
        let offsets: Vec<u64> = out
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["offset"].as_u64().unwrap()
            })
            .collect();
        let all: Vec<u64> = compacted_records().iter().map(|r| r.0).collect();
        assert_eq!(offsets, all[want..], "from {from}");
    }
    // The oldest timestamp is the first record's, the newest the largest
    // a record has (not an empty batch's 1050).
    let out = ok(&dir, &["stats"]);
    assert_eq!(
        out.lines().nth(1),
        Some(&*format!(
            // The topic's policy deletes: no dirty ratio, no checkpoint.
            "t\t0\t3\t{}\t0\t35\t1970-01-01T00:00:01.000Z\t1970-01-01T00:00:01.030Z\t-\t-",
            dir_log_bytes(&dir.join("t-0"))
        ))
    );
    let out = ok(&dir, &["consume", "--topic", "t", "--from-beginning"]);
    assert_eq!(out.lines().count(), 6);
    assert_eq!(out.lines().nth(3), Some("null"));
}

/// The total size of a partition directory's `.log` files.
fn dir_log_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

//! The `seglog` binary's read-only tools, run as a process: `dump` of
//! Kafka's fixtures and of damaged logs, and `verify` of stores and of
//! every corrupt fixture.

#![cfg(feature = "cli")]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use seglog::store::{LogStore, StoreConfig};

mod common;
mod common_cli;
mod common_compacted;
#[path = "cli_inspect/compacted.rs"]
mod compacted;
#[path = "cli_inspect/verify_store.rs"]
mod verify_store;

use common::{b64, copy_dir, fixtures, read_jsonl, subdirs};
use common_cli::*;

/// The fixture cases of `kind` (`good` or `corrupt`), skipping codecs
/// this build lacks.
fn fixture_cases(kind: &str) -> Vec<std::path::PathBuf> {
    let cases: Vec<_> = subdirs(&fixtures().join(kind))
        .into_iter()
        .filter(|p| cfg!(feature = "zstd") || !p.ends_with("compression-zstd"))
        .collect();
    assert!(!cases.is_empty());
    cases
}

fn json_file(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn jsonl(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// Runs the binary with exactly `args` (no `--dir`).
fn run_args(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seglog"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("start seglog")
}

fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
    args.iter().map(Into::into).collect()
}

fn dump(path: &Path, options: &[&str]) -> Output {
    let mut args = vec![std::ffi::OsString::from("dump"), path.as_os_str().into()];
    args.extend(os(options));
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    run_args(&refs)
}

fn dump_ok(path: &Path, options: &[&str]) -> String {
    let o = dump(path, options);
    assert_eq!(o.status.code(), Some(0), "dump {path:?}: {}", stderr(&o));
    assert_eq!(stderr(&o), "");
    stdout(&o)
}

/// A key or value of `dump --json` (string, `{"base64": ...}` or null) as
/// the fixtures spell it (base64 or null).
fn as_b64(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Null => serde_json::Value::Null,
        serde_json::Value::String(s) => b64(s.as_bytes()).into(),
        other => other["base64"].clone(),
    }
}

#[test]
fn dump_matches_every_good_kafka_fixture() {
    for case in fixture_cases("good") {
        let dir = case.join("topic-0");
        let expected = read_jsonl(&case.join("expected.jsonl"));
        // Batches named by the fixture: (base, last) in order, deduplicated.
        let mut want_batches: Vec<(u64, u64)> = Vec::new();
        for r in &expected {
            let b = (
                r["batch_base_offset"].as_u64().unwrap(),
                r["batch_last_offset"].as_u64().unwrap(),
            );
            if want_batches.last() != Some(&b) {
                want_batches.push(b);
            }
        }

        let lines = jsonl(&dump_ok(&dir, &["--records", "--json"]));
        let batches: Vec<&serde_json::Value> =
            lines.iter().filter(|l| l["type"] == "batch").collect();
        let got: Vec<(u64, u64)> = batches
            .iter()
            .map(|b| {
                (
                    b["base_offset"].as_u64().unwrap(),
                    b["last_offset"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, want_batches, "{case:?}");
        for b in &batches {
            assert_eq!(b["crc_valid"], true);
            assert_eq!(b["magic"], 2);
            assert!(b["count"].as_u64().unwrap() >= 1);
            assert!(b["size"].as_u64().unwrap() > 61);
        }
        let records: Vec<&serde_json::Value> =
            lines.iter().filter(|l| l["type"] == "record").collect();
        assert_eq!(records.len(), expected.len(), "{case:?}");
        for (got, want) in records.iter().zip(&expected) {
            assert_eq!(got["offset"], want["offset"], "{case:?}");
            assert_eq!(got["timestamp"], want["timestamp"], "{case:?}");
            assert_eq!(got["timestamp_type"], want["timestamp_type"], "{case:?}");
            assert_eq!(got["batch_base_offset"], want["batch_base_offset"]);
            assert_eq!(as_b64(&got["key"]), want["key"], "{case:?}");
            assert_eq!(as_b64(&got["value"]), want["value"], "{case:?}");
            let got_headers = got["headers"].as_array().unwrap();
            let want_headers = want["headers"].as_array().unwrap();
            assert_eq!(got_headers.len(), want_headers.len());
            for (g, w) in got_headers.iter().zip(want_headers) {
                assert_eq!(g["key"], w["key"]);
                assert_eq!(as_b64(&g["value"]), w["value"]);
            }
        }
        // The first batch's facts agree with the first record's.
        let (b, r) = (batches[0], &expected[0]);
        for (bk, rk) in [
            ("compression", "compression"),
            ("producer_id", "producer_id"),
            ("producer_epoch", "producer_epoch"),
            ("base_sequence", "base_sequence"),
            ("is_transactional", "is_transactional"),
            ("is_control", "is_control"),
            ("partition_leader_epoch", "partition_leader_epoch"),
        ] {
            assert_eq!(b[bk], r[rk], "{case:?} {bk}");
        }

        // Text: one header line per batch, with its offsets and count.
        let text = dump_ok(&dir, &[]);
        let headers: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("baseOffset: "))
            .collect();
        assert_eq!(headers.len(), want_batches.len(), "{case:?}");
        for ((line, (base, last)), b) in headers.iter().zip(&want_batches).zip(&batches) {
            let count = b["count"].as_u64().unwrap();
            assert!(
                line.starts_with(&format!(
                    "baseOffset: {base} lastOffset: {last} count: {count} position: "
                )),
                "{line}"
            );
            assert!(line.contains("isValid: true"), "{line}");
        }
    }
}

#[test]
fn dump_of_one_segment_file_with_records_as_text() {
    let dir = fixtures().join("good/multi-segment/topic-0");
    let log = dir.join("00000000000000000040.log");
    let text = dump_ok(&log, &["--records"]);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(&*format!("Dumping {}", log.display())));
    assert_eq!(lines.next(), Some("Log starting offset: 40"));
    let first = lines.next().unwrap();
    assert!(first.starts_with("baseOffset: 40 "), "{first}");
    assert!(first.contains(" position: 0 "), "{first}");
    let record = lines.next().unwrap();
    assert!(record.starts_with("| offset: 40 CreateTime: "), "{record}");
    assert!(record.contains(" key: key-40 "), "{record}");
    // Only this segment's batches.
    assert!(!text.contains("Dumping") || text.matches("Dumping").count() == 1);
}

#[test]
fn dump_finds_a_relative_path_in_the_data_directory() {
    let data = fixtures().join("good/multi-segment");
    let full = data.join("topic-0");
    // `topic-0` is not in the working directory: it is looked up in --dir.
    let by_name = ok(&data, &["dump", "topic-0", "--records"]);
    assert_eq!(by_name, dump_ok(&full, &["--records"]));
    assert!(by_name.contains(&format!(
        "Dumping {}",
        full.join("00000000000000000040.log").display()
    )));
    let err = fails(&data, &["dump", "topic-9"]);
    assert!(
        err.contains(&format!(
            "topic-9 does not exist (nor does {})",
            data.join("topic-9").display()
        )),
        "{err}"
    );
    let missing = data.join("no-such-dir/topic-0");
    let err = fails(&data, &["dump", missing.to_str().unwrap()]);
    assert!(
        err.ends_with(&format!("{} does not exist\n", missing.display())),
        "{err}"
    );
    // Something that exists but is neither is told so.
    #[cfg(unix)]
    {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("pipe");
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let err = fails(tmp.path(), &["dump", "pipe"]);
        assert!(
            err.contains("pipe is neither a segment file nor a directory"),
            "{err}"
        );
    }
}

#[test]
fn dump_indexes_shows_their_entries() {
    let dir = fixtures().join("good/multi-segment/topic-0");
    let text = dump_ok(&dir, &["--indexes"]);
    let index = dir.join("00000000000000000000.index");
    let timeindex = dir.join("00000000000000000000.timeindex");
    assert!(text.contains(&format!("Dumping {}\n", index.display())));
    assert!(text.contains(&format!("Dumping {}\n", timeindex.display())));

    let lines = jsonl(&dump_ok(&dir, &["--indexes", "--json"]));
    let entries = |kind: &str, file: &str| -> Vec<serde_json::Value> {
        lines
            .iter()
            .filter(|l| l["type"] == kind && l["file"] == file)
            .cloned()
            .collect()
    };
    let case = json_file(&fixtures().join("good/multi-segment/case.json"));
    for seg in case["segments"].as_array().unwrap() {
        let log = seg["file"].as_str().unwrap();
        let stem = log.strip_suffix(".log").unwrap();
        let index = entries("index", &format!("{stem}.index"));
        let time = entries("timeindex", &format!("{stem}.timeindex"));
        assert_eq!(index.len() as u64, seg["index_entries"].as_u64().unwrap());
        assert_eq!(
            time.len() as u64,
            seg["timeindex_entries"].as_u64().unwrap()
        );
        // Every offset-index entry is printed in text too, and points at a
        // batch whose last offset it names.
        for e in &index {
            let (offset, position) = (&e["offset"], &e["position"]);
            assert!(text.contains(&format!("offset: {offset} position: {position}\n")));
            assert!(lines.iter().any(|b| b["type"] == "batch"
                && b["file"] == log
                && b["position"] == *position
                && b["last_offset"] == *offset));
        }
        for e in &time {
            let (ts, offset) = (&e["timestamp"], &e["offset"]);
            assert!(text.contains(&format!("timestamp: {ts} offset: {offset}\n")));
        }
    }
    assert!(lines.iter().any(|l| l["type"] == "index"));
    assert!(lines.iter().any(|l| l["type"] == "timeindex"));
}

#[test]
fn dump_of_damaged_log_prints_the_valid_part_then_fails() {
    let case = fixtures().join("corrupt/crc-flipped-byte");
    let expect = &json_file(&case.join("case.json"))["expect"];
    let position = expect["batch_position"].as_u64().unwrap();
    let o = dump(&case.join("topic-0"), &["--json", "--records"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: ") && err.lines().count() == 1,
        "{err:?}"
    );
    assert!(err.contains(expect["file"].as_str().unwrap()), "{err}");
    assert!(err.contains(&format!("at byte {position}")), "{err}");
    assert!(
        err.contains(expect["error_contains"].as_str().unwrap()),
        "{err}"
    );
    let lines = jsonl(&stdout(&o));
    let batches: Vec<_> = lines.iter().filter(|l| l["type"] == "batch").collect();
    // The batches before the damaged one, then the damaged one's header
    // marked invalid; nothing after it.
    let (last, valid) = batches.split_last().unwrap();
    assert!(valid.iter().all(|b| b["crc_valid"] == true));
    assert!(valid
        .iter()
        .all(|b| b["position"].as_u64().unwrap() < position));
    assert_eq!(last["crc_valid"], false);
    assert_eq!(last["position"], position);
    assert_eq!(last["base_offset"], expect["batch_base_offset"]);
    let records = lines.iter().filter(|l| l["type"] == "record").count();
    assert_eq!(
        records as u64,
        expect["batch_base_offset"].as_u64().unwrap()
    );

    // A truncated batch: the valid batches, then the error.
    let case = fixtures().join("corrupt/truncated-last-batch");
    let expect = &json_file(&case.join("case.json"))["expect"];
    let o = dump(&case.join("topic-0"), &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("00000000000000000050.log"), "{err}");
    assert!(
        err.contains(expect["error_contains"].as_str().unwrap()),
        "{err}"
    );
    assert_eq!(
        stdout(&o)
            .lines()
            .filter(|l| l.starts_with("baseOffset: "))
            .count(),
        9
    );
}

#[test]
fn verify_passes_on_a_store_made_by_the_tool_and_prints_no_progress_when_piped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("data");
    ok(dir, &["topics", "create", "orders", "--partitions", "2"]);
    ok(dir, &["topics", "create", "audit", "--partitions", "1"]);
    let input: String = (0..200).map(|i| format!("k{i}:value {i}\n")).collect();
    ok_with_input(
        dir,
        &["produce", "--topic", "orders", "--key-separator", ":"],
        input.as_bytes(),
    );
    ok_with_input(dir, &["produce", "--topic", "audit"], b"a\nb\n");
    // `ok` also checks standard error is empty: no progress bar when piped.
    let out = ok(dir, &["verify"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with("verified 3 partition(s): 3 segments, "),
        "{out}"
    );
    assert!(out.contains(" 202 records, "), "{out}");
    let out = ok(dir, &["verify", "--topic", "audit"]);
    assert!(out.starts_with("verified 1 partition(s): "), "{out}");
    assert!(out.contains(" 2 records, "), "{out}");
    // Nothing was changed or left behind (the store is closed: no lock).
    ok(dir, &["consume", "--topic", "audit", "--from-beginning"]);
    let err = fails(dir, &["verify", "--topic", "nope"]);
    assert!(err.contains("nope"), "{err}");
    let err = fails(&tmp.path().join("missing"), &["verify"]);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn verify_runs_beside_an_open_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let store = LogStore::open(&dir, StoreConfig::default()).unwrap();
    store.create_topic("events", 2, &[]).unwrap();
    let producer = store.producer(seglog::ProducerConfig::default());
    for i in 0..50u32 {
        let _delivery = producer
            .send(seglog::ProducerRecord::new("events", format!("v{i}")).with_key(format!("k{i}")))
            .unwrap();
    }
    producer.flush().unwrap();
    // The store holds its lock; verify does not need it.
    let out = ok(&dir, &["verify"]);
    assert!(out.starts_with("verified 2 partition(s): "), "{out}");
    assert!(out.contains(" 50 records, "), "{out}");
    drop(producer);
    store.close().unwrap();
    // And after a clean close.
    let out = ok(&dir, &["verify", "--topic", "events"]);
    assert!(out.contains(" 50 records, "), "{out}");
}

#[test]
fn verify_passes_on_every_good_fixture() {
    for case in fixture_cases("good") {
        // The case directory holds `topic-0`; read in place, read-only.
        let out = ok(&case, &["verify"]);
        let facts = json_file(&case.join("case.json"));
        let segments = facts["segments"].as_array().unwrap().len();
        assert!(
            out.starts_with(&format!("verified 1 partition(s): {segments} segments, ")),
            "{case:?}: {out}"
        );
    }
}

#[test]
fn verify_reports_every_corrupt_fixture_with_file_and_position() {
    for case in fixture_cases("corrupt") {
        let facts = json_file(&case.join("case.json"));
        let expect = &facts["expect"];
        let tmp = tempfile::tempdir().unwrap();
        let partition = tmp.path().join("topic-0");
        copy_dir(&case.join("topic-0"), &partition);
        let err = fails(tmp.path(), &["verify"]);
        let file = expect["file"].as_str().unwrap();
        assert!(
            err.contains(&partition.join(file).display().to_string()),
            "{case:?}: {err}"
        );
        assert!(
            err.contains(expect["error_contains"].as_str().unwrap()),
            "{case:?}: {err}"
        );
        let entry_len = if file.ends_with(".timeindex") { 12 } else { 8 };
        let position = expect["batch_position"]
            .as_u64()
            .or_else(|| expect["entry"].as_u64().map(|entry| entry * entry_len));
        if let Some(p) = position {
            assert!(err.contains(&format!(": at byte {p}: ")), "{case:?}: {err}");
        } else {
            assert!(err.contains(": at byte "), "{case:?}: {err}");
        }
    }
}

#[test]
fn dump_and_verify_reject_bad_arguments_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        os(&["dump"]),
        os(&["dump", "a", "b"]),
        os(&["dump", "x.log", "--bogus"]),
        os(&["verify", "--bogus"]),
        os(&["verify", "extra"]),
        os(&["verify", "--topic"]),
    ] {
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let o = run_args(&refs);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty());
    }
    // A path that is not a segment file is an operation error.
    let not_segment = tmp.path().join("notes.txt");
    std::fs::write(&not_segment, "x").unwrap();
    for path in [not_segment, tmp.path().join("missing.log")] {
        let o = dump(&path, &[]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).starts_with("error: "));
        assert_eq!(stderr(&o).lines().count(), 1);
    }
}

//! Runs the example programs: `dump` over every fixture (its output must be
//! the fixture's `expected.jsonl`, byte for byte), `quickstart`, `worker_pool` and
//! `partition_log` twice each.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use common::{fixtures, subdirs};
use seglog::Compression;

/// The built example. `cargo test` builds examples, but not when only
/// this test target is asked for, so the example is built once per test
/// run (a no-op when it is up to date), never run stale.
fn example(name: &'static str) -> PathBuf {
    static BUILT: Mutex<Vec<&str>> = Mutex::new(Vec::new());
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let path = profile_dir.join("examples").join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.contains(&name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--all-features", "--example", name]);
        // The profile this test was built with, so that the library and its
        // dependencies are not compiled again for another one (`cargo
        // test` has built the example with it already).
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        } else {
            cmd.args(["--profile", "test"]);
        }
        let status = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "building example {name}");
        built.push(name);
    }
    assert!(path.exists(), "{} was not built", path.display());
    path
}

fn dump(dir: &Path, extra: &[&str]) -> Output {
    Command::new(example("dump"))
        .arg(dir)
        .args(extra)
        .output()
        .unwrap()
}

fn all_codecs_available() -> bool {
    [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ]
    .iter()
    .all(|c| c.is_available())
}

#[test]
fn dump_prints_each_fixtures_expected_jsonl_exactly() {
    for case in subdirs(&fixtures().join("good")) {
        let out = dump(&case.join("topic-0"), &[]);
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        if name.contains("zstd") || name.contains("mixed") {
            // The example is built with the test run's features.
            if !all_codecs_available() {
                continue;
            }
        }
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = std::fs::read(case.join("expected.jsonl")).unwrap();
        assert!(
            out.stdout == expected,
            "{name}: dump output differs from expected.jsonl"
        );
    }
}

#[test]
fn dump_prints_index_entries() {
    let dir = fixtures().join("good/multi-segment/topic-0");
    let out = dump(&dir, &["--indexes"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let index_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("{\"entry\""))
        .collect();
    // Segments 0 and 40 have one offset entry each; time entries 1 + 2 + 1.
    assert_eq!(
        index_lines
            .iter()
            .filter(|l| l.contains(".index\""))
            .count(),
        2
    );
    assert_eq!(
        index_lines
            .iter()
            .filter(|l| l.contains(".timeindex\""))
            .count(),
        4
    );
    assert!(index_lines
        .iter()
        .any(|l| l.contains("\"file\":\"00000000000000000040.index\"")));
}

#[test]
fn dump_fails_clearly_on_each_corrupt_fixture() {
    for case in subdirs(&fixtures().join("corrupt")) {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("case.json")).unwrap())
                .unwrap();
        let out = dump(&case.join("topic-0"), &[]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("error: corrupt file "),
            "{name}: {stderr}"
        );
        assert!(
            stderr.contains(meta["expect"]["file"].as_str().unwrap()),
            "{name}: {stderr}"
        );
        assert!(
            stderr.contains(meta["expect"]["error_contains"].as_str().unwrap()),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

#[test]
fn dump_rejects_bad_usage() {
    let out = Command::new(example("dump")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = dump(Path::new("/nonexistent/partition"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a directory"));
}

/// Runs an example on `dir`; it must succeed. Returns its output.
fn run_ok(name: &'static str, dir: &Path) -> String {
    let out = Command::new(example(name)).arg(dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn quickstart_runs_twice_and_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let run = || run_ok("quickstart", tmp.path());
    // Per partition: (records consumed, log end offset).
    let counts = |out: &str| -> Vec<(u64, u64)> {
        out.lines()
            .filter_map(|l| l.trim().strip_prefix("partition "))
            .map(|l| {
                let n: Vec<u64> = l
                    .split(|c: char| !c.is_ascii_digit())
                    .filter(|w| !w.is_empty())
                    .map(|w| w.parse().unwrap())
                    .collect();
                (n[1], n[2])
            })
            .collect()
    };
    let first = run();
    assert!(
        first.starts_with("created topic quickstart with 3 partitions"),
        "{first}"
    );
    assert!(first.contains("[0, 0, 0]"), "{first}");
    assert!(first.contains("consumed 10000 records"), "{first}");
    let first_counts = counts(&first);
    assert_eq!(first_counts.len(), 3, "{first}");
    for (consumed, end) in &first_counts {
        // Ten keys of 1 000 records each, all of one key in one partition.
        assert_eq!(consumed % 1000, 0, "{first}");
        assert_eq!(consumed, end, "{first}");
    }
    let second = run();
    assert!(second.starts_with("topic quickstart exists"), "{second}");
    assert!(second.contains("consumed 20000 records"), "{second}");
    let second_counts = counts(&second);
    for (a, b) in first_counts.iter().zip(&second_counts) {
        assert_eq!(b.0, 2 * a.0, "{second}");
        assert_eq!(b.1, 2 * a.1, "{second}");
    }
}

#[test]
fn partition_log_example_runs_twice_and_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let run = || run_ok("partition_log", tmp.path());
    let first = run();
    assert!(first.starts_with("created "), "{first}");
    assert!(first.contains("log end offset 0"), "{first}");
    assert!(first.contains("read back 10000 records"), "{first}");
    let second = run();
    assert!(
        second.starts_with("reopened after a clean shutdown"),
        "{second}"
    );
    assert!(second.contains("log end offset 10000"), "{second}");
    assert!(second.contains("offsets 0..20000"), "{second}");
}

#[test]
fn worker_pool_shares_the_partitions_and_resumes_after_its_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let run = || run_ok("worker_pool", tmp.path());
    for round in 0..2 {
        let out = run();
        // Each run processes only the 600 jobs it added.
        assert!(out.contains("\n600 jobs processed"), "run {round}: {out}");
        assert!(
            out.contains("lag of group \"workers\": 0"),
            "run {round}: {out}"
        );
        let mut partitions: Vec<u32> = out
            .lines()
            .filter_map(|l| l.split_once("from partitions {"))
            .flat_map(|(_, rest)| {
                rest.trim_end_matches('}')
                    .split(", ")
                    .filter(|p| !p.is_empty())
                    .map(|p| p.parse::<u32>().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect();
        partitions.sort_unstable();
        partitions.dedup();
        assert_eq!(partitions, [0, 1, 2, 3, 4, 5], "run {round}: {out}");
    }
}

#[test]
fn replicated_example_loses_no_acknowledged_record_through_a_leader_crash() {
    let out = Command::new(example("replicated")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("truncated its log"), "{stdout}");
    assert!(
        stdout.contains("OK: no acknowledged record was lost"),
        "{stdout}"
    );
}

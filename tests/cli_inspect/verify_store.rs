//! `seglog verify` checks the store's own files (the topic list, the root
//! checkpoints, the clean-shutdown marker, the lock file) and that every
//! partition has its directory, not only the partition directories.

use std::fs;
use std::path::Path;

use crate::common_cli::*;

/// A store made by the tool: topic `orders` of two partitions with a few
/// records, closed.
fn store(dir: &Path) {
    ok(dir, &["topics", "create", "orders", "--partitions", "2"]);
    ok_with_input(
        dir,
        &["produce", "--topic", "orders", "--key-separator", ":"],
        b"a:1\nb:2\nc:3\n",
    );
    let out = ok(dir, &["verify"]);
    assert!(out.starts_with("verified 2 partition(s): "), "{out}");
}

#[test]
fn verify_fails_on_a_damaged_store_file_naming_it() {
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "seglog.topics",
            b"seglog-topics 1\n1\norders two live\n",
            "at byte 18: bad partition count",
        ),
        ("seglog.topics", b"\x00\x00garbage", "at byte 0: "),
        (
            "recovery-point-offset-checkpoint",
            b"0\n2\norders 0 3\norders 1\n",
            "at byte 15: line 4 has 2 fields",
        ),
        (
            "log-start-offset-checkpoint",
            b"0\n1\norders zero 0\n",
            "the partition is not a number",
        ),
        (
            ".kafka_cleanshutdown",
            b"not a marker",
            "clean-shutdown marker",
        ),
    ];
    for (file, bytes, expect) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        store(&dir);
        fs::write(dir.join(file), bytes).unwrap();
        let err = fails(&dir, &["verify"]);
        assert!(
            err.contains(&dir.join(file).display().to_string()),
            "{file}: {err}"
        );
        assert!(err.contains(expect), "{file}: {err}");
        // Also when only one topic's partitions are asked for.
        fails(&dir, &["verify", "--topic", "orders"]);
    }
}

#[test]
fn verify_fails_on_a_lock_file_that_is_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    store(&dir);
    fs::remove_file(dir.join(".lock")).unwrap();
    fs::create_dir(dir.join(".lock")).unwrap();
    let err = fails(&dir, &["verify"]);
    assert!(err.contains(".lock"), "{err}");
    assert!(err.contains("is a directory"), "{err}");
}

#[test]
fn verify_reports_a_missing_partition_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    store(&dir);
    fs::remove_dir_all(dir.join("orders-1")).unwrap();
    let err = fails(&dir, &["verify"]);
    assert!(
        err.contains("partition 1 of topic \"orders\" is missing"),
        "{err}"
    );
    assert!(
        err.contains(&dir.join("orders-1").display().to_string()),
        "{err}"
    );
    // The store does not open on it either, and changes nothing.
    let err = fails(&dir, &["topics", "describe", "orders"]);
    assert!(err.contains("is missing"), "{err}");
    assert!(!dir.join("orders-1").exists());
}

//! `produce` and `consume` as long-running processes: lines appended as
//! they are typed, SIGINT and SIGTERM, `--timeout-ms`, `--print-key`, the
//! summary lines on standard error, negative partitions, and zstd.

use std::path::Path;
use std::time::{Duration, Instant};

use seglog::store::{LogStore, ProducerRecord, StoreConfig};

use crate::common_cli::*;

/// How long a line typed into `produce` may take to reach `consume
/// --follow` in another process: generous, since the machine may be
/// loaded; without the flush on a pause, the line would not come until
/// the input ends.
const VISIBLE_WITHIN: Duration = Duration::from_secs(5);

/// The log end offset of `t-0`, as a read-only open beside the writer
/// sees it.
fn end_offset(dir: &Path) -> u64 {
    let store = LogStore::open_read_only(dir, StoreConfig::default()).unwrap();
    let end = store.partition("t", 0).unwrap().log_end_offset();
    store.close().unwrap();
    end
}

/// Waits until `t-0` holds `n` records (failing after [`PATIENCE`]).
fn wait_for_records(dir: &Path, n: u64) {
    let deadline = Instant::now() + PATIENCE;
    while end_offset(dir) < n {
        assert!(Instant::now() < deadline, "t-0 never reached {n} records");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn clean_shutdown_marker(dir: &Path) -> bool {
    dir.join(".kafka_cleanshutdown").exists()
}

#[test]
fn a_typed_line_reaches_a_follower_while_produce_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "t", "--partitions", "1"]);
    let consumer = Running::start(
        dir,
        &["consume", "--topic", "t", "--from-beginning", "--follow"],
    );
    let mut producer = Running::start(dir, &["produce", "--topic", "t"]);

    producer.write(b"first\n");
    assert_eq!(consumer.next_line(VISIBLE_WITHIN).as_deref(), Some("first"));
    // Its input is still open: the record came without the end of it.
    assert!(producer.running());
    producer.write(b"second\nthird\n");
    assert_eq!(
        consumer.next_line(VISIBLE_WITHIN).as_deref(),
        Some("second")
    );
    assert_eq!(consumer.next_line(VISIBLE_WITHIN).as_deref(), Some("third"));
    assert!(producer.running());

    producer.close_stdin();
    let (code, out, err) = producer.finish();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "");
    assert_eq!(err, "produced 3 records to t\n  partition 0: 3\n");

    // Ctrl-C ends the follower, which says how many it printed.
    consumer.signal("INT");
    let (code, out, err) = consumer.finish();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "");
    assert_eq!(err, "processed 3 records\n");
}

#[test]
fn a_signal_stores_what_produce_read_and_prints_the_count() {
    for signal in ["TERM", "INT"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        ok(dir, &["topics", "create", "t", "--partitions", "1"]);
        let mut producer =
            Running::start(dir, &["produce", "--topic", "t", "--key-separator", ":"]);
        producer.write(b"k:a\nk:b\n");
        wait_for_records(dir, 2);
        // The store is open: no clean-shutdown marker yet.
        assert!(!clean_shutdown_marker(dir));

        producer.signal(signal);
        let (code, out, err) = producer.finish();
        assert_eq!(code, Some(0), "{signal}: {err}");
        assert_eq!(out, "");
        assert_eq!(
            err, "produced 2 records to t\n  partition 0: 2\n",
            "{signal}"
        );
        // It closed the store cleanly (synced, checkpoints and marker
        // written, lock released) rather than dying.
        assert!(clean_shutdown_marker(dir), "{signal}");
        assert_eq!(
            ok(
                dir,
                &["consume", "--topic", "t", "--from-beginning", "--print-key"]
            ),
            "k\ta\nk\tb\n"
        );
        produce(dir, &["--topic", "t"], b"after\n");
        assert_eq!(end_offset(dir), 3);
    }
}

#[test]
fn consume_timeout_ms_stops_once_no_record_comes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "t", "--partitions", "2"]);
    produce(dir, &["--topic", "t", "--partition", "1"], b"a\nb\n");
    // It prints what there is, then waits and gives up.
    let (out, err) = ok_both(
        dir,
        &[
            "consume",
            "--topic",
            "t",
            "--from-beginning",
            "--timeout-ms",
            "200",
        ],
        b"",
    );
    assert_eq!(
        (out.as_str(), err.as_str()),
        ("a\nb\n", "processed 2 records\n")
    );
    let (out, err) = ok_both(dir, &["consume", "--topic", "t", "--timeout-ms", "0"], b"");
    assert_eq!((out.as_str(), err.as_str()), ("", "processed 0 records\n"));

    // Unlike a plain run it waits for new records, as --follow does.
    let consumer = Running::start(dir, &["consume", "--topic", "t", "--timeout-ms", "600000"]);
    // Started at the end: "c" is new once the consumer has its position,
    // so keep appending until one arrives.
    let deadline = Instant::now() + PATIENCE;
    let line = loop {
        produce(dir, &["--topic", "t", "--partition", "0"], b"c\n");
        if let Some(line) = consumer.next_line(Duration::from_millis(500)) {
            break line;
        }
        assert!(Instant::now() < deadline, "no record reached the consumer");
    };
    assert_eq!(line, "c");
    consumer.signal("TERM");
    let (code, rest, err) = consumer.finish();
    assert_eq!(code, Some(0), "{err}");
    // It counts every line it printed (more "c"s may have come).
    assert!(rest.lines().all(|l| l == "c"), "{rest}");
    let printed = 1 + rest.lines().count();
    let plural = if printed == 1 { "" } else { "s" };
    assert_eq!(err, format!("processed {printed} record{plural}\n"));

    let err = usage_error(dir, &["consume", "--topic", "t", "--timeout-ms", "-1"]);
    assert!(
        err.contains("--timeout-ms") && err.contains("to wait without a limit, use --follow"),
        "{err}"
    );
    let err = usage_error(dir, &["consume", "--topic", "t", "--timeout-ms", "soon"]);
    assert!(
        err.contains("`soon` is not a number of milliseconds"),
        "{err}"
    );
}

#[test]
fn print_key_as_the_console_consumer_does() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "t", "--partitions", "1"]);
    produce(
        dir,
        &["--topic", "t", "--key-separator", ":"],
        b"k1:v1\nk2:a\tb\n",
    );
    produce(dir, &["--topic", "t"], b"plain\n");
    let store = LogStore::open(dir, StoreConfig::default()).unwrap();
    store
        .producer(Default::default())
        .send_and_wait(ProducerRecord::tombstone("t", "gone"))
        .unwrap();
    store.close().unwrap();
    drop(store);

    let (out, err) = ok_both(
        dir,
        &["consume", "--topic", "t", "--from-beginning", "--print-key"],
        b"",
    );
    assert_eq!(out, "k1\tv1\nk2\ta\tb\nnull\tplain\ngone\tnull\n");
    assert_eq!(err, "processed 4 records\n");
    assert_eq!(
        ok(
            dir,
            &[
                "consume",
                "--topic",
                "t",
                "--from-beginning",
                "--print-key",
                "--key-separator",
                " => "
            ]
        ),
        "k1 => v1\nk2 => a\tb\nnull => plain\ngone => null\n"
    );
    // Without it, values only; in JSON the key is there either way.
    assert_eq!(
        ok(
            dir,
            &["consume", "--topic", "t", "--from-beginning", "--max", "1"]
        ),
        "v1\n"
    );
    let json = ok(
        dir,
        &[
            "consume",
            "--topic",
            "t",
            "--from-beginning",
            "--print-key",
            "--format",
            "json",
            "--max",
            "1",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (v["key"].as_str(), v["value"].as_str()),
        (Some("k1"), Some("v1"))
    );
    // A separator without --print-key is bad usage.
    let err = usage_error(dir, &["consume", "--topic", "t", "--key-separator", ","]);
    assert!(err.contains("--print-key"), "{err}");
}

#[test]
fn the_processed_line_counts_what_was_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "t", "--partitions", "1"]);
    produce(dir, &["--topic", "t"], b"a\nb\nc\n");
    let count = |args: &[&str]| ok_both(dir, args, b"").1;
    assert_eq!(
        count(&["consume", "--topic", "t", "--from-beginning"]),
        "processed 3 records\n"
    );
    assert_eq!(
        count(&["consume", "--topic", "t", "--from-beginning", "--max", "1"]),
        "processed 1 record\n"
    );
    assert_eq!(count(&["consume", "--topic", "t"]), "processed 0 records\n");
    assert_eq!(
        count(&[
            "consume",
            "--topic",
            "t",
            "--from-beginning",
            "--group",
            "g"
        ]),
        "processed 3 records\n"
    );
    // A failed run prints its error only.
    assert_eq!(
        fails(dir, &["consume", "--topic", "nope"]),
        "error: unknown topic \"nope\"\n"
    );
}

#[test]
fn negative_partitions_get_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "t", "--partitions", "1"]);
    for (args, hint) in [
        (
            &["consume", "--topic", "t", "--partition", "-1"][..],
            "to read every partition, leave out --partition",
        ),
        (
            &[
                "consume",
                "--topic",
                "t",
                "--partition=-7",
                "--from-beginning",
            ],
            "to read every partition",
        ),
        (
            &["produce", "--topic", "t", "--partition", "-1"],
            "to let the key pick the partition, leave out --partition",
        ),
        (
            &[
                "delete-records",
                "--topic",
                "t",
                "--partition",
                "-1",
                "--before",
                "0",
            ],
            "name one of the topic's partitions",
        ),
        (
            &["compact", "--topic", "t", "--partition", "-2"],
            "name one of the topic's partitions",
        ),
    ] {
        let err = usage_error(dir, args);
        assert!(
            err.contains("partitions are numbered from 0; "),
            "{args:?}: {err}"
        );
        assert!(err.contains(hint), "{args:?}: {err}");
        assert!(err.contains("--partition"), "{args:?}: {err}");
    }
    let err = usage_error(dir, &["consume", "--topic", "t", "--partition", "one"]);
    assert!(err.contains("`one` is not a partition number"), "{err}");
    // A partition beyond the topic's is an operation error, as before.
    assert!(fails(dir, &["consume", "--topic", "t", "--partition", "3"]).contains("no partition 3"));
}

/// The tool reads and writes zstd topics (the `cli` feature brings the
/// codec).
#[test]
fn zstd_topics_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(
        dir,
        &[
            "topics",
            "create",
            "z",
            "--partitions",
            "1",
            "--config",
            "compression.type=zstd",
        ],
    );
    let input: String = (0..50).map(|i| format!("record number {i}\n")).collect();
    assert_eq!(
        produce(dir, &["--topic", "z"], input.as_bytes()),
        "produced 50 records to z\n  partition 0: 50\n"
    );
    assert_eq!(
        ok(dir, &["consume", "--topic", "z", "--from-beginning"]),
        input
    );
    let dump = ok(dir, &["dump", "z-0", "--json"]);
    assert!(dump.lines().count() >= 1);
    for line in dump.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["compression"], "zstd", "{line}");
    }
    ok(dir, &["verify"]);
}

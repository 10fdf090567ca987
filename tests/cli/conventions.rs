//! The conventions the tool shares with Kafka's and other command-line
//! tools: the global `--dir` and `SEGLOG_DIR`, shell completions, `topics
//! describe` of every topic, `topics create --if-not-exists`, and
//! `--output json` beside readable text.

use std::path::Path;

use seglog::store::{LogStore, ProducerRecord, StoreConfig};

use crate::common_cli::*;

/// `seglog` with `args` as given (no `--dir` added), in `cwd`.
fn run_in(cwd: &Path, env_dir: Option<&Path>, args: &[&str]) -> std::process::Output {
    let mut command = seglog();
    command.current_dir(cwd).args(args);
    if let Some(d) = env_dir {
        command.env("SEGLOG_DIR", d);
    }
    command.output().unwrap()
}

#[test]
fn dir_is_global_and_defaults_to_seglog_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let other = tmp.path().join("other");
    let d = data.to_str().unwrap();

    // Before the subcommand, and after a nested one.
    let o = run_in(
        tmp.path(),
        None,
        &["--dir", d, "topics", "create", "a", "--partitions", "1"],
    );
    assert_eq!(
        stdout(&o),
        "created topic a with 1 partition\n",
        "{}",
        stderr(&o)
    );
    let o = run_in(
        tmp.path(),
        None,
        &["topics", "create", "b", "--partitions", "1", "--dir", d],
    );
    assert_eq!(
        stdout(&o),
        "created topic b with 1 partition\n",
        "{}",
        stderr(&o)
    );
    let o = run_in(tmp.path(), None, &["topics", "--dir", d, "list"]);
    assert_eq!(stdout(&o), "a\nb\n", "{}", stderr(&o));

    // From the environment.
    let o = run_in(tmp.path(), Some(&data), &["topics", "list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "a\nb\n");

    // The flag wins over the environment, either way round.
    let o = run_in(tmp.path(), Some(&other), &["topics", "list", "--dir", d]);
    assert_eq!(stdout(&o), "a\nb\n", "{}", stderr(&o));
    let o = run_in(
        tmp.path(),
        Some(&data),
        &["--dir", other.to_str().unwrap(), "topics", "list"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("error: data directory {} does not exist\n", other.display())
    );

    // Neither: ./seglog-data.
    let o = run_in(
        tmp.path(),
        None,
        &["topics", "create", "c", "--partitions", "1"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(tmp.path().join("seglog-data").join("c-0").is_dir());
    assert!(!other.exists());

    // A --dir without a value is bad usage.
    let o = run_in(tmp.path(), None, &["topics", "list", "--dir"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // `--help` names the variable.
    let o = run_in(tmp.path(), None, &["--help"]);
    assert!(stdout(&o).contains("SEGLOG_DIR"), "{}", stdout(&o));
}

#[test]
fn completions_for_each_shell() {
    let tmp = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = run_in(tmp.path(), None, &["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        assert_eq!(stderr(&o), "");
        let script = stdout(&o);
        for word in ["seglog", "topics", "describe", "completions", "timeout-ms"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
        // Nothing is read or made: the script needs no data directory.
        assert!(!tmp.path().join("seglog-data").exists());
    }
    // The bash script is valid bash.
    let o = run_in(tmp.path(), None, &["completions", "bash"]);
    let path = tmp.path().join("seglog.bash");
    std::fs::write(&path, &o.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // An unknown shell, or none, is bad usage.
    for args in [&["completions", "tcsh"][..], &["completions"]] {
        let o = run_in(tmp.path(), None, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));
        assert_eq!(stdout(&o), "");
    }
}

#[test]
fn describe_without_a_name_describes_every_topic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "x", "--partitions", "1"]);
    // No topics: nothing, and an empty JSON array.
    ok(dir, &["topics", "delete", "x"]);
    assert_eq!(ok(dir, &["topics", "describe"]), "");
    assert_eq!(ok(dir, &["topics", "describe", "--output", "json"]), "[]\n");

    ok(dir, &["topics", "create", "orders", "--partitions", "2"]);
    ok(
        dir,
        &[
            "topics",
            "create",
            "audit",
            "--partitions",
            "1",
            "--config",
            "retention.ms=1000",
        ],
    );
    produce(dir, &["--topic", "orders", "--partition", "1"], b"a\nb\n");
    let all = ok(dir, &["topics", "describe"]);
    // Each topic as describing it alone prints it, in name order.
    let audit = ok(dir, &["topics", "describe", "audit"]);
    let orders = ok(dir, &["topics", "describe", "orders"]);
    assert_eq!(all, format!("{audit}{orders}"));
    assert!(audit.starts_with("Topic: audit\tPartitionCount: 1\tConfigs: retention.ms=1000\n"));
    assert!(orders.contains("\tPartition: 1\tLogStartOffset: 0\tLogEndOffset: 2\t"));
    // A name that is not a topic is still an error.
    assert_eq!(
        fails(dir, &["topics", "describe", "nope"]),
        "error: unknown topic \"nope\"\n"
    );
}

/// `topics create NAME --partitions P` followed by `extra`.
fn create<'a>(name: &'a str, partitions: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["topics", "create", name, "--partitions", partitions];
    args.extend_from_slice(extra);
    args
}

#[test]
fn create_if_not_exists_leaves_an_existing_topic_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A new topic is created, with or without the flag.
    assert_eq!(
        ok(
            dir,
            &create(
                "t",
                "2",
                &["--if-not-exists", "--config", "retention.ms=1000"]
            )
        ),
        "created topic t with 2 partitions\n"
    );
    let before = ok(dir, &["topics", "describe", "t"]);
    produce(dir, &["--topic", "t", "--partition", "0"], b"kept\n");
    // Again with the flag: success, nothing changed, whatever the request
    // said.
    assert_eq!(
        ok(
            dir,
            &create("t", "5", &["--if-not-exists", "--config", "retention.ms=5"])
        ),
        "topic t already exists with 2 partitions; nothing changed\n"
    );
    let after = ok(dir, &["topics", "describe", "t"]);
    assert_eq!(after.lines().count(), before.lines().count());
    assert!(after.starts_with("Topic: t\tPartitionCount: 2\tConfigs: retention.ms=1000\n"));
    assert_eq!(
        ok(dir, &["consume", "--topic", "t", "--from-beginning"]),
        "kept\n"
    );
    // Without it, an existing topic is an error.
    assert_eq!(
        fails(dir, &create("t", "2", &[])),
        "error: topic \"t\" already exists\n"
    );
    // The flag excuses nothing else: a bad name or config is an error.
    let err = fails(dir, &create("bad name", "1", &["--if-not-exists"]));
    assert!(err.contains("bad name"), "{err}");
    let err = fails(
        dir,
        &create(
            "u",
            "1",
            &["--if-not-exists", "--config", "segment.bytes=1"],
        ),
    );
    assert!(err.contains("segment.bytes"), "{err}");
    assert_eq!(ok(dir, &["topics", "list"]), "t\n");
}

#[test]
fn json_output_of_topics_and_stats() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_eq!(
        ok(dir, &["topics", "create", "t", "--partitions", "2"]),
        "created topic t with 2 partitions\n"
    );
    assert_eq!(ok(dir, &["topics", "list", "-o", "json"]), "[\"t\"]\n");
    ok(
        dir,
        &[
            "topics",
            "create",
            "users",
            "--partitions",
            "1",
            "--config",
            "cleanup.policy=compact",
            "--config",
            "retention.ms=1000",
        ],
    );
    produce(dir, &["--topic", "t", "--partition", "1"], b"a\nb\nc\n");
    produce(
        dir,
        &["--topic", "users", "--key-separator", ":"],
        b"k:1\nk:2\n",
    );

    let list: serde_json::Value =
        serde_json::from_str(&ok(dir, &["topics", "list", "--output", "json"])).unwrap();
    assert_eq!(list, serde_json::json!(["t", "users"]));

    let text = ok(dir, &["topics", "describe"]);
    let described: serde_json::Value =
        serde_json::from_str(&ok(dir, &["topics", "describe", "--output", "json"])).unwrap();
    let topics = described.as_array().unwrap();
    assert_eq!(topics.len(), 2);
    assert_eq!(topics[0]["name"], "t");
    assert_eq!(topics[0]["partition_count"], 2);
    assert_eq!(topics[0]["configs"], serde_json::json!({}));
    let p1 = &topics[0]["partitions"][1];
    assert_eq!(p1["partition"], 1);
    assert_eq!(p1["log_start_offset"], 0);
    assert_eq!(p1["log_end_offset"], 3);
    assert_eq!(p1["segments"], 1);
    assert!(p1["cleanable_ratio"].is_null() && p1["cleaner_checkpoint"].is_null());
    // The same size as the text says.
    let size = p1["size_bytes"].as_u64().unwrap();
    assert!(text.contains(&format!(
        "\tPartition: 1\tLogStartOffset: 0\tLogEndOffset: 3\tSize: {size}\t"
    )));
    assert_eq!(
        topics[1]["configs"],
        serde_json::json!({"cleanup.policy": "compact", "retention.ms": "1000"})
    );
    // A compacted topic's partition has a ratio (a number), and no
    // checkpoint before its first round.
    let users = &topics[1]["partitions"][0];
    assert!(users["cleanable_ratio"].as_f64().is_some(), "{users}");
    assert!(users["cleaner_checkpoint"].is_null());
    // A named topic: an array of one.
    let one: serde_json::Value =
        serde_json::from_str(&ok(dir, &["topics", "describe", "users", "-o", "json"])).unwrap();
    assert_eq!(one, serde_json::Value::Array(vec![topics[1].clone()]));

    let stats: serde_json::Value =
        serde_json::from_str(&ok(dir, &["stats", "--output", "json"])).unwrap();
    let rows = stats.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["topic"], "t");
    assert_eq!(rows[0]["partition"], 0);
    assert!(rows[0]["oldest_timestamp"].is_null() && rows[0]["newest_timestamp"].is_null());
    assert_eq!(rows[1]["log_end_offset"], 3);
    assert_eq!(rows[1]["size_bytes"], size);
    assert!(
        rows[1]["oldest_timestamp"].as_i64().unwrap()
            <= rows[1]["newest_timestamp"].as_i64().unwrap()
    );
    assert!(rows[1]["dirty_ratio"].is_null());
    assert_eq!(rows[2]["topic"], "users");
    assert!(rows[2]["dirty_ratio"].as_f64().is_some());
    assert!(rows[2]["cleaner_checkpoint"].is_null());

    // An unknown format is bad usage.
    for args in [
        &["topics", "list", "--output", "xml"][..],
        &["topics", "describe", "--output", "yaml"],
        &["stats", "-o", "csv"],
    ] {
        let err = usage_error(dir, args);
        assert!(err.contains("possible values: text, json"), "{err}");
    }
}

/// Text timestamps are RFC 3339 in UTC, to the millisecond; `-` where a
/// partition has no records.
#[test]
fn stats_text_shows_readable_timestamps() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "t", "--partitions", "2"]);
    let store = LogStore::open(dir, StoreConfig::default()).unwrap();
    let producer = store.producer(Default::default());
    // 2000-02-29 (a leap day of a century year), then a later one.
    for ts in [951_782_400_000, 1_709_251_199_999] {
        producer
            .send_and_wait(
                ProducerRecord::new("t", "v")
                    .with_partition(0)
                    .with_timestamp(ts),
            )
            .unwrap();
    }
    drop(producer);
    store.close().unwrap();
    drop(store);
    let stats = ok(dir, &["stats"]);
    let rows: Vec<Vec<&str>> = stats
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(
        &rows[0][6..8],
        ["2000-02-29T00:00:00.000Z", "2024-02-29T23:59:59.999Z"]
    );
    assert_eq!(&rows[1][6..8], ["-", "-"]);
    let json: serde_json::Value = serde_json::from_str(&ok(dir, &["stats", "-o", "json"])).unwrap();
    assert_eq!(json[0]["oldest_timestamp"], 951_782_400_000_i64);
    assert_eq!(json[0]["newest_timestamp"], 1_709_251_199_999_i64);
}

//! The `seglog` binary, run as a process over temporary data directories:
//! topics, produce, consume (text and JSON), delete-records, maintain,
//! stats, exit codes and error lines; in `cli/`, compaction, groups, the
//! global options and output formats, and produce and consume as
//! long-running processes.

#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use seglog::store::{LogStore, ProducerRecord, StoreConfig};

mod common_cli;

use common_cli::*;

#[path = "cli/compaction.rs"]
mod compaction;
#[path = "cli/conventions.rs"]
mod conventions;
#[path = "cli/groups.rs"]
mod groups;
#[path = "cli/streaming.rs"]
mod streaming;

#[test]
fn topics_create_list_describe() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("data");
    assert_eq!(
        ok(
            dir,
            &[
                "topics",
                "create",
                "orders",
                "--partitions",
                "3",
                "--config",
                "retention.ms=604800000"
            ]
        ),
        "created topic orders with 3 partitions\n"
    );
    ok(dir, &["topics", "create", "audit", "--partitions", "1"]);
    assert_eq!(ok(dir, &["topics", "list"]), "audit\norders\n");
    assert_eq!(
        ok(dir, &["topics", "describe", "orders"]),
        "Topic: orders\tPartitionCount: 3\tConfigs: retention.ms=604800000\n\
         \tPartition: 0\tLogStartOffset: 0\tLogEndOffset: 0\tSize: 0\tSegments: 1\n\
         \tPartition: 1\tLogStartOffset: 0\tLogEndOffset: 0\tSize: 0\tSegments: 1\n\
         \tPartition: 2\tLogStartOffset: 0\tLogEndOffset: 0\tSize: 0\tSegments: 1\n"
    );
    // Creating it again, or with a bad config value, is an operation error.
    let err = fails(dir, &["topics", "create", "orders", "--partitions", "1"]);
    assert_eq!(err, "error: topic \"orders\" already exists\n");
    let err = fails(
        dir,
        &[
            "topics",
            "create",
            "x",
            "--partitions",
            "1",
            "--config",
            "segment.bytes=1",
        ],
    );
    assert!(err.contains("segment.bytes"), "{err}");
}

#[test]
fn produce_and_consume_text_and_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "t", "--partitions", "1"]);
    let before = now_ms();
    let summary = produce(
        dir,
        &[
            "--topic",
            "t",
            "--key-separator",
            "::",
            "--header",
            "source=cli",
            "--header",
            "n=1=2",
        ],
        b"k1::v1\nk2::a \"quoted\" \\ value\twith tab::x\r\n",
    );
    assert_eq!(summary, "produced 2 records to t\n  partition 0: 2\n");
    // No key separator; an empty line, invalid UTF-8, no final newline.
    let summary = produce(dir, &["--topic", "t"], b"plain\n\n\xff\xfe");
    assert_eq!(summary, "produced 3 records to t\n  partition 0: 3\n");
    let after = now_ms();

    let text = ok(dir, &["consume", "--topic", "t", "--from-beginning"]);
    assert_eq!(
        text,
        "v1\na \"quoted\" \\ value\twith tab::x\nplain\n\n\u{fffd}\u{fffd}\n"
    );

    let json = ok(
        dir,
        &[
            "consume",
            "--topic",
            "t",
            "--from-beginning",
            "--format",
            "json",
        ],
    );
    let lines: Vec<&str> = json.lines().collect();
    assert_eq!(lines.len(), 5, "{json}");
    let ts: Vec<i64> = lines.iter().map(|l| json_timestamp(l)).collect();
    assert!(ts.iter().all(|t| (before..=after).contains(t)), "{ts:?}");
    let headers = r#"[{"key":"source","value":"cli"},{"key":"n","value":"1=2"}]"#;
    let expected = [
        format!(
            r#"{{"partition":0,"offset":0,"timestamp":{},"key":"k1","value":"v1","headers":{headers}}}"#,
            ts[0]
        ),
        format!(
            r#"{{"partition":0,"offset":1,"timestamp":{},"key":"k2","value":"a \"quoted\" \\ value\twith tab::x","headers":{headers}}}"#,
            ts[1]
        ),
        format!(
            r#"{{"partition":0,"offset":2,"timestamp":{},"key":null,"value":"plain","headers":[]}}"#,
            ts[2]
        ),
        format!(
            r#"{{"partition":0,"offset":3,"timestamp":{},"key":null,"value":"","headers":[]}}"#,
            ts[3]
        ),
        format!(
            r#"{{"partition":0,"offset":4,"timestamp":{},"key":null,"value":{{"base64":"//4="}},"headers":[]}}"#,
            ts[4]
        ),
    ];
    assert_eq!(lines, expected);
    // Every line is valid JSON that decodes to the original strings.
    let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(v["value"], "a \"quoted\" \\ value\twith tab::x");
}

#[test]
fn consume_start_positions_and_max() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "t", "--partitions", "2"]);
    ok_with_input(
        dir,
        &["produce", "--topic", "t", "--partition", "1"],
        b"a\nb\nc\nd\n",
    );
    // Kafka's default: start at the end, so nothing without --follow.
    assert_eq!(ok(dir, &["consume", "--topic", "t"]), "");
    assert_eq!(
        ok(
            dir,
            &[
                "consume",
                "--topic",
                "t",
                "--partition",
                "1",
                "--offset",
                "2"
            ]
        ),
        "c\nd\n"
    );
    assert_eq!(
        ok(
            dir,
            &["consume", "--topic", "t", "--from-beginning", "--max", "3"]
        ),
        "a\nb\nc\n"
    );
    assert_eq!(
        ok(dir, &["consume", "--topic", "t", "--timestamp", "0"]),
        "a\nb\nc\nd\n"
    );
    assert_eq!(
        ok(
            dir,
            &[
                "consume",
                "--topic",
                "t",
                "--timestamp",
                &(now_ms() + 3_600_000).to_string()
            ]
        ),
        ""
    );
    assert_eq!(
        ok(
            dir,
            &[
                "consume",
                "--topic",
                "t",
                "--partition",
                "0",
                "--from-beginning"
            ]
        ),
        ""
    );
    let err = fails(
        dir,
        &[
            "consume",
            "--topic",
            "t",
            "--partition",
            "1",
            "--offset",
            "9",
        ],
    );
    assert!(err.contains("offset 9 is out of range"), "{err}");
    let err = fails(dir, &["consume", "--topic", "t", "--partition", "5"]);
    assert!(err.contains("no partition 5"), "{err}");
}

#[test]
fn produce_routes_by_key_and_reports_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "t", "--partitions", "4"]);
    let input: String = (0..40).map(|i| format!("key-{i}:value-{i}\n")).collect();
    let out = produce(
        dir,
        &["--topic", "t", "--key-separator", ":"],
        input.as_bytes(),
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("produced 40 records to t"));
    let counts: Vec<(u32, u64)> = lines
        .map(|l| {
            let (p, n) = l
                .trim()
                .strip_prefix("partition ")
                .unwrap()
                .split_once(": ")
                .unwrap();
            (p.parse().unwrap(), n.parse().unwrap())
        })
        .collect();
    assert!(counts.len() > 1, "{out}");
    assert_eq!(counts.iter().map(|c| c.1).sum::<u64>(), 40);
    // The same numbers as the partitions' end offsets.
    let describe = ok(dir, &["topics", "describe", "t"]);
    for (p, n) in counts {
        assert!(
            describe.contains(&format!(
                "Partition: {p}\tLogStartOffset: 0\tLogEndOffset: {n}\t"
            )),
            "{describe}"
        );
    }
    // A line without the separator stops the input; what came before it
    // is stored and reported.
    let o = run_with_input(
        dir,
        &[
            "produce",
            "--topic",
            "t",
            "--key-separator",
            ":",
            "--partition",
            "2",
        ],
        b"a:1\nno separator\nb:2\n",
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "produced 1 record to t\n  partition 2: 1\n\
         error: line 2 of standard input has no key separator \":\"\n"
    );
}

#[test]
fn describe_and_stats_report_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "t", "--partitions", "2"]);
    let before = now_ms();
    ok_with_input(
        dir,
        &["produce", "--topic", "t", "--partition", "0"],
        b"one\ntwo\nthree\n",
    );
    let after = now_ms();

    // The size comes from the library; check the two commands agree.
    let store = LogStore::open(dir, StoreConfig::default()).unwrap();
    let d = store.describe_topic("t").unwrap();
    store.close().unwrap();
    drop(store);
    let size = d.partitions[0].size_bytes;
    assert!(size > 0);

    let describe = ok(dir, &["topics", "describe", "t"]);
    assert_eq!(
        describe,
        format!(
            "Topic: t\tPartitionCount: 2\tConfigs: \n\
             \tPartition: 0\tLogStartOffset: 0\tLogEndOffset: 3\tSize: {size}\tSegments: 1\n\
             \tPartition: 1\tLogStartOffset: 0\tLogEndOffset: 0\tSize: 0\tSegments: 1\n"
        )
    );

    let json: serde_json::Value =
        serde_json::from_str(&ok(dir, &["stats", "--output", "json"])).unwrap();
    let oldest = json[0]["oldest_timestamp"].as_i64().unwrap();
    let newest = json[0]["newest_timestamp"].as_i64().unwrap();
    assert!(before <= oldest && oldest <= newest && newest <= after);
    let stats = ok(dir, &["stats"]);
    let lines: Vec<&str> = stats.lines().collect();
    assert_eq!(
        lines[0],
        "TOPIC\tPARTITION\tSEGMENTS\tBYTES\tLOG-START\tLOG-END\tOLDEST-TIMESTAMP\tNEWEST-TIMESTAMP\t\
         DIRTY-RATIO\tCLEANER-CHECKPOINT"
    );
    let row: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(&row[..6], ["t", "0", "1", &size.to_string(), "0", "3"]);
    // The text has the same instants in RFC 3339, UTC.
    assert_eq!(
        &row[6..8],
        [rfc3339_by_date(oldest), rfc3339_by_date(newest)]
    );
    assert_eq!(&row[8..], ["-", "-"]);
    // A topic that does not compact has no dirty ratio or checkpoint.
    assert_eq!(lines[2], "t\t1\t1\t0\t0\t0\t-\t-\t-\t-");
    assert_eq!(lines.len(), 3);
}

#[test]
fn add_partitions_and_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "t", "--partitions", "1"]);
    assert_eq!(
        ok(dir, &["topics", "add-partitions", "t", "--partitions", "3"]),
        "topic t now has 3 partitions\n"
    );
    assert!(ok(dir, &["topics", "describe", "t"]).contains("PartitionCount: 3"));
    assert!(dir.join("t-2").is_dir());
    let err = fails(dir, &["topics", "add-partitions", "t", "--partitions", "2"]);
    assert!(err.contains("invalid partition count 2"), "{err}");

    assert_eq!(ok(dir, &["topics", "delete", "t"]), "deleted topic t\n");
    assert_eq!(ok(dir, &["topics", "list"]), "");
    assert!(!dir.join("t-0").exists());
    assert_eq!(
        fails(dir, &["topics", "delete", "t"]),
        "error: unknown topic \"t\"\n"
    );
}

#[test]
fn delete_records_moves_the_log_start() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "t", "--partitions", "1"]);
    ok_with_input(dir, &["produce", "--topic", "t"], b"0\n1\n2\n3\n4\n");
    assert_eq!(
        ok(
            dir,
            &[
                "delete-records",
                "--topic",
                "t",
                "--partition",
                "0",
                "--before",
                "3"
            ]
        ),
        "t-0: log start offset is now 3\n"
    );
    assert_eq!(
        ok(dir, &["consume", "--topic", "t", "--from-beginning"]),
        "3\n4\n"
    );
    assert!(ok(dir, &["topics", "describe", "t"])
        .contains("Partition: 0\tLogStartOffset: 3\tLogEndOffset: 5\t"));
    let err = fails(
        dir,
        &[
            "delete-records",
            "--topic",
            "t",
            "--partition",
            "0",
            "--before",
            "9",
        ],
    );
    assert!(err.contains("out of range"), "{err}");
}

#[test]
fn maintain_prints_a_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(
        dir,
        &[
            "topics",
            "create",
            "r",
            "--partitions",
            "1",
            "--config",
            "segment.bytes=150",
            "--config",
            "retention.ms=0",
        ],
    );
    // Each run appends one batch; a small segment size rolls after each.
    for i in 0..3 {
        ok_with_input(
            dir,
            &["produce", "--topic", "r"],
            format!("record-{i}\n").as_bytes(),
        );
    }
    assert!(ok(dir, &["topics", "describe", "r"]).contains("Segments: 3"));
    let report = ok(dir, &["maintain"]);
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines[0], "partitions visited: 1");
    assert_eq!(lines[1], "segments deleted: 2");
    assert!(lines[2].starts_with("bytes freed: "), "{report}");
    assert_ne!(lines[2], "bytes freed: 0");
    assert!(lines[3].starts_with("files removed: "), "{report}");
    assert_eq!(*lines.last().unwrap(), "errors: 0");
    assert_eq!(
        ok(dir, &["consume", "--topic", "r", "--from-beginning"]),
        "record-2\n"
    );
}

#[test]
fn follow_prints_what_other_processes_append_until_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "t", "--partitions", "2"]);
    ok_with_input(
        dir,
        &["produce", "--topic", "t", "--partition", "0"],
        b"first\n",
    );
    let mut child = seglog()
        .args([
            "consume",
            "--topic",
            "t",
            "--from-beginning",
            "--follow",
            "--dir",
        ])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let next = || lines.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(next(), "first");

    // Another process appends: the consumer holds no lock, and sees it.
    ok_with_input(
        dir,
        &["produce", "--topic", "t", "--partition", "1"],
        b"second\n",
    );
    assert_eq!(next(), "second");

    // A process that keeps the store open (here, this one) appends too,
    // across a new topic partition's files and a roll.
    let store = LogStore::open(dir, StoreConfig::default()).unwrap();
    let producer = store.producer(Default::default());
    for value in ["third", "fourth"] {
        producer
            .send_and_wait(ProducerRecord::new("t", value).with_partition(0))
            .unwrap();
    }
    store.partition("t", 0).unwrap().roll().unwrap();
    producer
        .send_and_wait(ProducerRecord::new("t", "fifth").with_partition(0))
        .unwrap();
    assert_eq!([next(), next(), next()], ["third", "fourth", "fifth"]);

    // Still running: it waits for more records.
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none());
    child.kill().unwrap();
    child.wait().unwrap();
    store.close().unwrap();
}

#[test]
fn bad_usage_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for args in [
        &["topics", "create", "t"][..],
        &["topics", "create", "t", "--partitions", "x"],
        &[
            "topics",
            "create",
            "t",
            "--partitions",
            "1",
            "--config",
            "novalue",
        ],
        &["topics", "frobnicate"],
        &["produce"],
        &["produce", "--topic", "t", "--header", "nokv"],
        &[
            "consume",
            "--topic",
            "t",
            "--from-beginning",
            "--offset",
            "1",
        ],
        &["consume", "--topic", "t", "--format", "xml"],
        &["delete-records", "--topic", "t", "--partition", "0"],
        &["stats", "--bogus"],
    ] {
        let o = run(dir, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).starts_with("error: "),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    // No subcommand at all.
    let o = seglog().output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    // --help works everywhere and shows an example.
    for args in [
        &["--help"][..],
        &["topics", "create", "--help"],
        &["produce", "--help"],
        &["consume", "--help"],
        &["stats", "--help"],
    ] {
        let o = seglog().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(stdout(&o).contains("Example"), "{args:?}");
    }
}

#[test]
fn unknown_topic_exits_1_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "t", "--partitions", "1"]);
    let expected = "error: unknown topic \"nope\"\n";
    assert_eq!(fails(dir, &["topics", "describe", "nope"]), expected);
    assert_eq!(fails(dir, &["consume", "--topic", "nope"]), expected);
    assert_eq!(fails(dir, &["produce", "--topic", "nope"]), expected);
    assert_eq!(
        fails(
            dir,
            &[
                "delete-records",
                "--topic",
                "nope",
                "--partition",
                "0",
                "--before",
                "0"
            ]
        ),
        expected
    );
    // A missing data directory is named, and not created.
    let missing = dir.join("missing");
    let err = fails(&missing, &["topics", "list"]);
    assert_eq!(
        err,
        format!(
            "error: data directory {} does not exist\n",
            missing.display()
        )
    );
    assert!(!missing.exists());
}

#[test]
fn a_store_in_use_is_read_but_not_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "t", "--partitions", "1"]);
    ok_with_input(dir, &["produce", "--topic", "t"], b"one\ntwo\n");
    let store = LogStore::open(dir, StoreConfig::default()).unwrap();
    // Commands that only look open the store read-only, beside its owner.
    assert_eq!(ok(dir, &["topics", "list"]), "t\n");
    assert!(ok(dir, &["topics", "describe", "t"]).contains("LogEndOffset: 2"));
    assert_eq!(
        ok(dir, &["consume", "--topic", "t", "--from-beginning"]),
        "one\ntwo\n"
    );
    let stats = ok(dir, &["stats"]);
    assert!(
        stats.lines().nth(1).unwrap().starts_with("t\t0\t1\t"),
        "{stats}"
    );
    // Commands that change it are refused, naming the directory.
    for args in [
        &["topics", "create", "u", "--partitions", "1"][..],
        &["produce", "--topic", "t"][..],
        &[
            "delete-records",
            "--topic",
            "t",
            "--partition",
            "0",
            "--before",
            "1",
        ][..],
        &["maintain"][..],
    ] {
        let err = fails(dir, args);
        assert!(
            err.contains("is in use by another process"),
            "{args:?}: {err}"
        );
        assert!(err.contains(&dir.display().to_string()), "{err}");
    }
    store.close().unwrap();
    drop(store);
    ok(dir, &["topics", "create", "u", "--partitions", "1"]);
    assert_eq!(ok(dir, &["topics", "list"]), "t\nu\n");
}

#[test]
fn read_commands_report_damage_in_a_last_segment_with_its_file_and_position() {
    // A record damaged with more after it; a batch cut short below what
    // the writer had synced at its clean close.
    for case in ["bad CRC", "cut short"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let store = LogStore::open(dir, StoreConfig::default()).unwrap();
        store.create_topic("t", 1, &[]).unwrap();
        let producer = store.producer(Default::default());
        let log = store.partition("t", 0).unwrap();
        let mut ends = Vec::new();
        for i in 0..4 {
            producer
                .send_and_wait(ProducerRecord::new("t", format!("record {i}")).with_partition(0))
                .unwrap();
            ends.push(log.segments()[0].size);
        }
        let path = log.segments()[0].path.clone();
        store.close().unwrap();
        drop((log, producer, store));
        let mut bytes = std::fs::read(&path).unwrap();
        if case == "bad CRC" {
            bytes[ends[1] as usize - 1] ^= 0xff;
        } else {
            bytes.truncate(ends[0] as usize + 20);
        }
        std::fs::write(&path, &bytes).unwrap();
        let named = |err: &str| {
            err.contains(&path.display().to_string())
                && err.contains(&format!(": at byte {}: ", ends[0]))
        };
        for args in [
            &["consume", "--topic", "t", "--from-beginning"][..],
            &["stats"][..],
            &["topics", "describe", "t"][..],
            &["verify"][..],
        ] {
            let err = fails(dir, args);
            assert!(named(&err), "{case}: {args:?}: {err}");
        }
    }
}

/// What an open found wrong in a partition it could open anyway is said on
/// standard error, naming the partition and the file, and the command
/// still does its job.
#[test]
fn damage_an_open_reports_is_printed_as_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(dir, &["topics", "create", "t", "--partitions", "1"]);
    ok_with_input(
        dir,
        &["produce", "--topic", "t", "--partition", "0"],
        b"one\ntwo\n",
    );
    let checkpoint = dir.join("t-0").join("seglog.checkpoint");
    std::fs::write(&checkpoint, "0\n2\nrecovery-point 2\nlog-start-offset 99\n").unwrap();
    for args in [&["stats"][..], &["topics", "describe", "t"]] {
        let o = run(dir, args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.starts_with("warning: t-0: ")
                && err.contains(&checkpoint.display().to_string())
                && err.contains("log start offset 99 is beyond the log end offset 2"),
            "{args:?}: {err}"
        );
    }
    // The records are all there. (A read-only open repairs nothing: the
    // warning stays until the store is opened for writing.)
    let o = run(
        dir,
        &["consume", "--topic", "t", "--from-beginning", "--max", "2"],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "one\ntwo\n");
    assert!(stderr(&o).starts_with("warning: t-0: "));
    // A writing command's open writes the start it used: no more warning.
    let o = run(dir, &["maintain"]);
    assert!(stderr(&o).starts_with("warning: t-0: "), "{}", stderr(&o));
    ok(dir, &["stats"]);
}

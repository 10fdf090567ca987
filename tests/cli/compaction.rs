//! Compacted topics through the tool: `topics create` with the
//! compaction configs, `maintain` and `compact`, and what `stats` and
//! `topics describe` show of them.

use crate::common_cli::*;

/// Four runs of `produce`, each one batch of three records
/// (`alice:a<i>`, `bob:b<i>`, `carol:c<i>`): with 200-byte segments, one
/// segment per batch, based at 0, 3, 6 and 9.
fn produce_rounds(dir: &std::path::Path, topic: &str) {
    for i in 1..=4 {
        ok_with_input(
            dir,
            &["produce", "--topic", topic, "--key-separator", ":"],
            format!("alice:a{i}\nbob:b{i}\ncarol:c{i}\n").as_bytes(),
        );
    }
}

fn line_of<'a>(output: &'a str, start: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in {output}"))
}

#[test]
fn compacted_topics_are_compacted_by_maintain_and_compact() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for (topic, ratio) in [("users", "0.3"), ("lazy", "1")] {
        ok(
            dir,
            &[
                "topics",
                "create",
                topic,
                "--partitions",
                "1",
                "--config",
                "cleanup.policy=compact",
                "--config",
                "segment.bytes=200",
                "--config",
                &format!("min.cleanable.dirty.ratio={ratio}"),
            ],
        );
        produce_rounds(dir, topic);
    }
    ok(dir, &["topics", "create", "plain", "--partitions", "1"]);
    let describe = ok(dir, &["topics", "describe", "users"]);
    assert_eq!(
        describe.lines().nth(1).unwrap(),
        "\tPartition: 0\tLogStartOffset: 0\tLogEndOffset: 12\tSize: 404\tSegments: 4\t\
         CleanableRatio: 1.000\tCleanerCheckpoint: -",
        "{describe}"
    );

    // Only "users" is due: "lazy" never is by its ratio.
    let report = ok(dir, &["maintain"]);
    assert_eq!(
        line_of(&report, "compaction rounds: "),
        "compaction rounds: 1"
    );
    let users = line_of(&report, "  users-0: ");
    assert!(
        users.starts_with("  users-0: 1 round, read ") && users.ends_with(", dropped 6 records"),
        "{report}"
    );
    assert_eq!(
        line_of(&report, "records dropped by compaction: "),
        "records dropped by compaction: 6"
    );
    assert_eq!(
        *report.lines().collect::<Vec<_>>().last().unwrap(),
        "errors: 0"
    );
    assert_eq!(
        ok(dir, &["consume", "--topic", "users", "--from-beginning"]),
        "a3\nb3\nc3\na4\nb4\nc4\n"
    );
    assert_eq!(
        ok(dir, &["consume", "--topic", "lazy", "--from-beginning"])
            .lines()
            .count(),
        12
    );

    // `compact` runs a round whatever the ratio.
    let out = ok(dir, &["compact", "--topic", "lazy", "--partition", "0"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Topic: lazy");
    assert!(
        lines[1]
            .starts_with("\tPartition: 0\tDirtyStart: 0\tDirtyEnd: 9\tEndOffset: 9\tBytesRead: "),
        "{out}"
    );
    assert!(
        lines[1]
            .contains("\tRecordsKept: 3\tRecordsDropped: 6\tTombstonesDropped: 0\tDurationMs: "),
        "{out}"
    );
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(
        ok(dir, &["consume", "--topic", "lazy", "--from-beginning"]),
        "a3\nb3\nc3\na4\nb4\nc4\n"
    );

    let stats = ok(dir, &["stats"]);
    for (topic, tail) in [
        ("lazy", "\t0.000\t9"),
        ("plain", "\t-\t-"),
        ("users", "\t0.000\t9"),
    ] {
        let line = line_of(&stats, &format!("{topic}\t"));
        assert!(line.ends_with(tail), "{stats}");
        assert_eq!(line.split('\t').count(), 10, "{line}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("cleaner-offset-checkpoint")).unwrap(),
        "0\n2\nlazy 0 9\nusers 0 9\n"
    );

    let err = fails(dir, &["compact", "--topic", "plain"]);
    assert!(err.contains("cleanup.policy"), "{err}");
    let err = fails(dir, &["compact", "--topic", "nope"]);
    assert!(err.contains("nope"), "{err}");
    let err = fails(dir, &["compact", "--topic", "users", "--partition", "1"]);
    assert!(err.contains("partition"), "{err}");
}

/// The other compaction configs reach the cleaner: records younger than
/// `min.compaction.lag.ms` are not cleaned; bad values are refused.
#[test]
fn compaction_configs_are_taken_and_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(
        dir,
        &[
            "topics",
            "create",
            "young",
            "--partitions",
            "1",
            "--config",
            "cleanup.policy=compact,delete",
            "--config",
            "segment.bytes=200",
            "--config",
            "min.compaction.lag.ms=3600000",
            "--config",
            "max.compaction.lag.ms=86400000",
            "--config",
            "delete.retention.ms=0",
        ],
    );
    produce_rounds(dir, "young");
    let describe = ok(dir, &["topics", "describe", "young"]);
    assert!(
        describe.starts_with(
            "Topic: young\tPartitionCount: 1\tConfigs: cleanup.policy=compact,delete,\
             segment.bytes=200,min.compaction.lag.ms=3600000,\
             max.compaction.lag.ms=86400000,delete.retention.ms=0\n"
        ),
        "{describe}"
    );
    // Nothing is old enough to clean.
    let out = ok(dir, &["compact", "--topic", "young"]);
    assert!(
        out.lines().nth(1).unwrap().starts_with(
            "\tPartition: 0\tDirtyStart: 0\tDirtyEnd: 0\tEndOffset: 0\tBytesRead: 0\t\
             BytesWritten: 0\tRecordsKept: 0\tRecordsDropped: 0\t"
        ),
        "{out}"
    );
    assert_eq!(
        ok(dir, &["consume", "--topic", "young", "--from-beginning"])
            .lines()
            .count(),
        12
    );
    for bad in [
        "min.cleanable.dirty.ratio=2",
        "cleanup.policy=shrink",
        "max.compaction.lag.ms=0",
    ] {
        let err = fails(
            dir,
            &[
                "topics",
                "create",
                "bad",
                "--partitions",
                "1",
                "--config",
                bad,
            ],
        );
        let key = bad.split('=').next().unwrap();
        assert!(err.contains(key), "{bad}: {err}");
    }
}

//! `seglog groups` and `consume --group`: committed offsets through the
//! tool, Kafka's columns, resets, deletion, and `dump --offsets-decoder`.

use crate::common_cli::*;

fn setup(dir: &std::path::Path) {
    ok(dir, &["topics", "create", "orders", "--partitions", "2"]);
    ok_with_input(
        dir,
        &["produce", "--topic", "orders", "--partition", "0"],
        b"a\nb\nc\nd\n",
    );
    ok_with_input(
        dir,
        &["produce", "--topic", "orders", "--partition", "1"],
        b"e\nf\n",
    );
}

#[test]
fn consume_with_a_group_commits_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("data");
    setup(dir);
    let first = ok(
        dir,
        &[
            "consume",
            "--topic",
            "orders",
            "--group",
            "billing",
            "--from-beginning",
            "--max",
            "3",
        ],
    );
    assert_eq!(first.lines().count(), 3);
    let rest = ok(
        dir,
        &[
            "consume",
            "--topic",
            "orders",
            "--group",
            "billing",
            "--from-beginning",
        ],
    );
    let mut all: Vec<&str> = first.lines().chain(rest.lines()).collect();
    all.sort_unstable();
    assert_eq!(all, ["a", "b", "c", "d", "e", "f"], "each record once");
    // Nothing left for the group.
    assert_eq!(
        ok(dir, &["consume", "--topic", "orders", "--group", "billing"]),
        ""
    );
    assert_eq!(ok(dir, &["groups", "list"]), "billing\n");
    assert_eq!(ok(dir, &["groups", "list", "--state"]), "billing Empty\n");
    let described = ok(dir, &["groups", "describe", "--group", "billing"]);
    let lines: Vec<&str> = described.lines().collect();
    assert_eq!(lines[0], "Consumer group 'billing' has no active members.");
    let header: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID"
        ]
    );
    let row: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(
        row,
        ["billing", "orders", "0", "4", "4", "0", "-", "-", "-"]
    );
    // --offset makes no sense with a group's committed offsets.
    let err = run(
        dir,
        &[
            "consume", "--topic", "orders", "--group", "g", "--offset", "1",
        ],
    );
    assert_eq!(err.status.code(), Some(2));
}

#[test]
fn reset_offsets_plans_then_executes_and_delete_removes_the_group() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("data");
    setup(dir);
    ok(
        dir,
        &[
            "consume",
            "--topic",
            "orders",
            "--group",
            "g",
            "--from-beginning",
        ],
    );
    let plan = ok(
        dir,
        &[
            "groups",
            "reset-offsets",
            "--group",
            "g",
            "--topic",
            "orders:0",
            "--shift-by",
            "-3",
        ],
    );
    let lines: Vec<Vec<&str>> = plan
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]);
    assert_eq!(lines[1], ["g", "orders", "0", "1"]);
    assert!(plan.contains("--execute"));
    // A plan changes nothing.
    let described = ok(dir, &["groups", "describe", "--group", "g"]);
    assert!(described.contains("orders  0          4"), "{described}");
    ok(
        dir,
        &[
            "groups",
            "reset-offsets",
            "--group",
            "g",
            "--topic",
            "orders",
            "--to-earliest",
            "--execute",
        ],
    );
    let again = ok(dir, &["consume", "--topic", "orders", "--group", "g"]);
    assert_eq!(again.lines().count(), 6);
    assert_eq!(
        ok(dir, &["groups", "delete", "--group", "g"]),
        "deleted group g\n"
    );
    assert_eq!(ok(dir, &["groups", "list"]), "");
    let err = fails(dir, &["groups", "delete", "--group", "g"]);
    assert!(err.contains("does not exist"), "{err}");
    let err = fails(dir, &["groups", "describe", "--group", "nobody"]);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn dump_decodes_the_offsets_topic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("data");
    setup(dir);
    ok(
        dir,
        &[
            "consume",
            "--topic",
            "orders",
            "--group",
            "my-group",
            "--from-beginning",
        ],
    );
    // "my-group" lives in partition 12 of the 50.
    let dumped = ok(dir, &["dump", "__consumer_offsets-12", "--offsets-decoder"]);
    assert!(
        dumped.contains(
            r#"key: {"type":"1","data":{"group":"my-group","topic":"orders","partition":0}} payload: {"version":"3","data":{"offset":4,"leaderEpoch":-1,"metadata":"","commitTimestamp":"#
        ),
        "{dumped}"
    );
    assert!(
        dumped.contains(r#"key: {"type":"2","data":{"group":"my-group"}}"#),
        "{dumped}"
    );
}

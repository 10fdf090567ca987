//! Commits through the store and the consumer, and `__consumer_offsets`
//! as an internal topic.

use std::time::Duration;

use seglog::offsets::records::{
    partition_for_group, OffsetCommitKey, OffsetCommitValue, OffsetsKey,
};
use seglog::offsets::OffsetAndMetadata;
use seglog::{
    AutoOffsetReset, CleanupPolicy, Clock, ConsumerConfig, Error, GroupErrorKind, ProducerConfig,
    ProducerRecord,
};

use crate::helpers::*;

const OFFSETS: &str = "__consumer_offsets";

fn group_consumer(group: &str) -> ConsumerConfig {
    ConsumerConfig {
        group_id: Some(group.to_string()),
        enable_auto_commit: false,
        auto_offset_reset: AutoOffsetReset::Earliest,
        ..ConsumerConfig::default()
    }
}

fn values(records: &[seglog::ConsumerRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect()
}

#[test]
fn commits_are_read_back_and_uncommitted_partitions_are_none() {
    let (_fs, _clock, store) = setup();
    fill(&store, "t", 3, 4);
    let with_meta = OffsetAndMetadata {
        offset: 3,
        leader_epoch: Some(2),
        metadata: "checkpoint 7".into(),
    };
    store
        .commit_offsets("g", &[(tp("t", 0), at(1)), (tp("t", 2), with_meta.clone())])
        .unwrap();
    let got = store
        .committed_offsets("g", &[tp("t", 0), tp("t", 1), tp("t", 2)])
        .unwrap();
    assert_eq!(got, vec![Some(at(1)), None, Some(with_meta)]);
    // Another group sees nothing; a later commit replaces the earlier.
    assert_eq!(committed(&store, "other", &tp("t", 0)), None);
    store.commit_offsets("g", &[(tp("t", 0), at(4))]).unwrap();
    assert_eq!(committed(&store, "g", &tp("t", 0)), Some(4));
}

#[test]
fn bad_commits_are_refused_and_write_nothing() {
    let (_fs, _clock, store) = setup();
    fill(&store, "t", 1, 1);
    let group_error = |r: seglog::Result<()>| match r {
        Err(Error::Group { kind, .. }) => kind,
        other => panic!("expected a group error, got {other:?}"),
    };
    assert_eq!(
        group_error(store.commit_offsets("", &[(tp("t", 0), at(1))])),
        GroupErrorKind::InvalidGroupId
    );
    let long = at(1).with_metadata("x".repeat(4097));
    assert_eq!(
        group_error(store.commit_offsets("g", &[(tp("t", 0), at(0)), (tp("t", 0), long)])),
        GroupErrorKind::OffsetMetadataTooLarge
    );
    assert!(matches!(
        store.commit_offsets("g", &[(tp("t", 0), at(1)), (tp("nope", 0), at(1))]),
        Err(Error::UnknownTopic { .. })
    ));
    assert!(matches!(
        store.commit_offsets("g", &[(tp("t", 1), at(1))]),
        Err(Error::UnknownPartition { .. })
    ));
    assert_eq!(committed(&store, "g", &tp("t", 0)), None);
    // None of them even created the internal topic.
    assert!(store.list_all_topics().iter().all(|t| t != OFFSETS));
}

#[test]
fn the_offsets_topic_is_internal_compacted_and_holds_kafkas_records() {
    let (_fs, clock, store) = setup();
    fill(&store, "t", 1, 1);
    assert!(store.list_all_topics().iter().all(|t| t != OFFSETS));
    store
        .commit_offsets("my-group", &[(tp("t", 0), at(1).with_metadata("m"))])
        .unwrap();
    assert_eq!(store.list_topics(), ["t"]);
    assert_eq!(store.list_all_topics(), [OFFSETS, "t"]);
    let description = store.describe_topic(OFFSETS).unwrap();
    assert_eq!(description.partitions.len(), OFFSETS_PARTITIONS as usize);
    assert_eq!(
        description.config.log.cleanup_policy,
        CleanupPolicy::Compact
    );
    assert_eq!(description.config.log.segment_bytes, 104_857_600);

    // The commit is one record in the group's partition, as Kafka's
    // coordinator writes it.
    let partition = partition_for_group("my-group", OFFSETS_PARTITIONS);
    let records: Vec<_> = store
        .partition(OFFSETS, partition)
        .unwrap()
        .iter(0)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(records.len(), 1);
    let key = OffsetsKey::decode(records[0].key.as_deref().unwrap()).unwrap();
    assert_eq!(
        key,
        OffsetsKey::OffsetCommit(OffsetCommitKey {
            group: "my-group".into(),
            topic: "t".into(),
            partition: 0,
        })
    );
    let value = records[0].value.as_deref().unwrap();
    assert_eq!(&value[..2], &[0, 3], "value version 3");
    assert_eq!(
        OffsetCommitValue::decode(value).unwrap(),
        OffsetCommitValue {
            offset: 1,
            leader_epoch: -1,
            metadata: "m".into(),
            commit_timestamp: clock.now_ms(),
            expire_timestamp: None,
        }
    );

    // Not the application's to write, make or remove.
    let producer = store.producer(ProducerConfig::default());
    assert!(matches!(
        producer.send(ProducerRecord::new(OFFSETS, "x").with_key("k")),
        Err(Error::InvalidTopic { .. })
    ));
    assert!(matches!(
        store.create_topic(OFFSETS, 1, &[]),
        Err(Error::InvalidTopic { .. })
    ));
    assert!(matches!(
        store.delete_topic(OFFSETS),
        Err(Error::InvalidTopic { .. })
    ));
    assert!(matches!(
        store.add_partitions(OFFSETS, 60),
        Err(Error::InvalidTopic { .. })
    ));
    assert_eq!(committed(&store, "my-group", &tp("t", 0)), Some(1));
}

#[test]
fn a_consumer_resumes_from_its_groups_commit() {
    let (_fs, _clock, store) = setup();
    fill(&store, "t", 1, 5);
    let mut consumer = store.consumer(ConsumerConfig {
        max_poll_records: 2,
        ..group_consumer("g")
    });
    consumer.assign(&[("t", 0)]).unwrap();
    assert_eq!(
        values(&consumer.poll(Duration::ZERO).unwrap()),
        ["t-0-0", "t-0-1"]
    );
    consumer.commit_sync().unwrap();
    assert_eq!(
        consumer.committed(&[tp("t", 0)]).unwrap(),
        vec![Some(at(2))]
    );
    // Records returned after the commit are not committed.
    assert_eq!(consumer.poll(Duration::ZERO).unwrap().len(), 2);
    drop(consumer);

    let mut again = store.consumer(group_consumer("g"));
    again.assign(&[("t", 0)]).unwrap();
    assert_eq!(again.position(tp("t", 0)).unwrap(), 2);
    assert_eq!(
        values(&again.poll(Duration::ZERO).unwrap()),
        ["t-0-2", "t-0-3", "t-0-4"]
    );
    // A consumer of another group starts by the reset policy.
    let mut other = store.consumer(group_consumer("other"));
    other.assign(&[("t", 0)]).unwrap();
    assert_eq!(other.position(tp("t", 0)).unwrap(), 0);
    // Without a group there is nothing to commit to.
    let mut lone = store.consumer(ConsumerConfig::default());
    lone.assign(&[("t", 0)]).unwrap();
    assert!(matches!(
        lone.commit_sync(),
        Err(Error::Group {
            kind: GroupErrorKind::InvalidGroupId,
            ..
        })
    ));
}

#[test]
fn a_commit_outside_the_log_follows_the_reset_policy() {
    let (_fs, _clock, store) = setup();
    fill(&store, "t", 1, 10);
    store
        .commit_offsets("below", &[(tp("t", 0), at(2))])
        .unwrap();
    store
        .commit_offsets("beyond", &[(tp("t", 0), at(50))])
        .unwrap();
    store.delete_records("t", 0, 5).unwrap();
    for (group, reset, expected) in [
        ("below", AutoOffsetReset::Earliest, 5),
        ("below", AutoOffsetReset::Latest, 10),
        ("beyond", AutoOffsetReset::Earliest, 5),
        ("beyond", AutoOffsetReset::Latest, 10),
    ] {
        let mut consumer = store.consumer(ConsumerConfig {
            auto_offset_reset: reset,
            ..group_consumer(group)
        });
        consumer.assign(&[("t", 0)]).unwrap();
        assert_eq!(
            consumer.position(tp("t", 0)).unwrap(),
            expected,
            "{group} {reset:?}"
        );
    }
    let mut strict = store.consumer(ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Error,
        ..group_consumer("below")
    });
    strict.assign(&[("t", 0)]).unwrap();
    assert!(matches!(
        strict.poll(Duration::ZERO),
        Err(Error::OffsetOutOfRange { requested: 2, .. })
    ));
}

#[test]
fn auto_commit_commits_in_poll_after_its_interval_and_in_close() {
    let (_fs, _clock, store) = setup();
    fill(&store, "t", 1, 6);
    let config = ConsumerConfig {
        enable_auto_commit: true,
        auto_commit_interval: Duration::from_millis(50),
        max_poll_records: 2,
        ..group_consumer("g")
    };
    let mut consumer = store.consumer(config.clone());
    consumer.assign(&[("t", 0)]).unwrap();
    consumer.poll(Duration::ZERO).unwrap();
    // Within the interval: nothing committed yet.
    consumer.poll(Duration::ZERO).unwrap();
    assert_eq!(committed(&store, "g", &tp("t", 0)), None);
    std::thread::sleep(Duration::from_millis(60));
    // The next poll commits what the earlier polls returned, then reads.
    assert_eq!(consumer.poll(Duration::ZERO).unwrap().len(), 2);
    assert_eq!(committed(&store, "g", &tp("t", 0)), Some(4));
    consumer.close().unwrap();
    assert_eq!(committed(&store, "g", &tp("t", 0)), Some(6));

    // Off, neither poll nor close commits.
    let mut manual = store.consumer(ConsumerConfig {
        enable_auto_commit: false,
        ..config
    });
    manual.assign(&[("t", 0)]).unwrap();
    manual.seek(tp("t", 0), 0).unwrap();
    std::thread::sleep(Duration::from_millis(60));
    manual.poll(Duration::ZERO).unwrap();
    manual.poll(Duration::ZERO).unwrap();
    manual.close().unwrap();
    assert_eq!(committed(&store, "g", &tp("t", 0)), Some(6));
}

#[test]
fn deleting_a_topic_deletes_its_committed_offsets() {
    let (fs, clock, store) = setup();
    fill(&store, "gone", 2, 1);
    fill(&store, "kept", 1, 1);
    for group in ["a", "b"] {
        store
            .commit_offsets(
                group,
                &[
                    (tp("gone", 0), at(1)),
                    (tp("gone", 1), at(1)),
                    (tp("kept", 0), at(1)),
                ],
            )
            .unwrap();
    }
    store.delete_topic("gone").unwrap();
    for group in ["a", "b"] {
        assert_eq!(committed(&store, group, &tp("gone", 0)), None);
        assert_eq!(committed(&store, group, &tp("kept", 0)), Some(1));
    }
    // A topic made again under the name starts without them, after a
    // reopen too.
    store.close().unwrap();
    let store = open(&fs, &clock);
    fill(&store, "gone", 2, 1);
    assert_eq!(committed(&store, "a", &tp("gone", 1)), None);
    assert_eq!(committed(&store, "a", &tp("kept", 0)), Some(1));
}

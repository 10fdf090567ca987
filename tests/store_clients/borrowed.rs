//! `Consumer::poll_each`, the borrowed poll: the same records, positions,
//! commits, pauses, wakeups and errors as `poll`.

use std::path::Path;
use std::time::Duration;

use seglog::store::LogStore;
use seglog::{
    AutoOffsetReset, ConsumerConfig, ConsumerRecord, Error, ProducerConfig, ProducerRecord,
    TopicPartition,
};

use crate::common_compacted::{append_compacted_log, COMPACTED_END};
use crate::{earliest, mem_store, ROOT};

/// Sends records of every shape (keys, headers, tombstones, empty
/// values) to both partitions of "t", in several batches.
fn fill(store: &LogStore) {
    store
        .create_topic("t", 2, &[("segment.bytes", "4096")])
        .unwrap();
    let producer = store.producer(ProducerConfig {
        batch_size: 300,
        ..ProducerConfig::default()
    });
    for i in 0..120u32 {
        let mut record = ProducerRecord::new("t", format!("value {i}")).with_partition(i % 2);
        if i % 3 == 0 {
            record = record.with_key(format!("k{i}"));
        }
        if i % 5 == 0 {
            record = record.with_header("h", format!("{i}")).with_header("e", "");
        }
        if i % 7 == 0 {
            record = ProducerRecord::tombstone("t", format!("k{i}")).with_partition(i % 2);
        }
        if i % 11 == 0 {
            record = ProducerRecord::new("t", Vec::new()).with_partition(i % 2);
        }
        producer.send(record).unwrap();
    }
    producer.flush().unwrap();
}

fn positions(consumer: &seglog::Consumer) -> Vec<u64> {
    consumer
        .assignment()
        .iter()
        .map(|tp| consumer.position(tp.clone()).unwrap())
        .collect()
}

/// One `poll_each`, its records made owned.
fn poll_each(consumer: &mut seglog::Consumer, timeout: Duration) -> Vec<ConsumerRecord> {
    let mut got = Vec::new();
    let n = consumer
        .poll_each(timeout, |r| got.push(r.to_owned()))
        .unwrap();
    assert_eq!(n, got.len());
    got
}

#[test]
fn poll_each_hands_out_what_poll_returns_and_moves_positions_alike() {
    let (_fs, _clock, store) = mem_store();
    fill(&store);
    let config = ConsumerConfig {
        max_poll_records: 7,
        ..earliest()
    };
    let mut owned = store.consumer(config.clone());
    let mut borrowed = store.consumer(config);
    for c in [&mut owned, &mut borrowed] {
        c.assign_topic("t").unwrap();
    }
    let mut total = 0;
    for round in 0..40 {
        if round == 5 {
            // A seek into the middle of a batch, on both.
            for c in [&mut owned, &mut borrowed] {
                c.seek(("t", 1), 13).unwrap();
            }
        }
        let a = owned.poll(Duration::from_millis(1)).unwrap();
        let b = poll_each(&mut borrowed, Duration::from_millis(1));
        assert_eq!(a, b, "round {round}");
        assert_eq!(positions(&owned), positions(&borrowed), "round {round}");
        total += b.len();
    }
    // Everything was read: 60 a partition, and 60 - 13 + 5 more of
    // partition 1 after the seek back.
    assert_eq!(positions(&borrowed), [60, 60]);
    assert!(total >= 120, "{total}");
    // The headers and the bytes borrowed are those of the owned records.
    borrowed.seek(("t", 0), 0).unwrap();
    borrowed.seek(("t", 1), 60).unwrap();
    let mut seen = Vec::new();
    borrowed
        .poll_each(Duration::from_millis(1), |r| {
            let headers: Vec<(Vec<u8>, Option<Vec<u8>>)> = r
                .headers()
                .map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec)))
                .collect();
            seen.push((
                r.topic.to_string(),
                r.partition,
                r.offset,
                r.key.map(<[u8]>::to_vec),
                r.value.map(<[u8]>::to_vec),
                headers,
            ));
        })
        .unwrap();
    assert_eq!(seen.len(), 7);
    assert_eq!(seen[0].0, "t");
    assert_eq!((seen[0].1, seen[0].2), (0, 0));
    // Record 0 has an empty value and no key (i % 11 == 0 wins).
    assert_eq!(
        (seen[0].3.as_deref(), seen[0].4.as_deref()),
        (None, Some(&b""[..]))
    );
    // Record 6 (offset 3 of partition 0) has key "k6".
    assert_eq!(seen[3].3.as_deref(), Some(&b"k6"[..]));
    // Record 10 of the topic (offset 5 of partition 0) has two headers.
    assert_eq!(
        seen[5].5,
        [
            (b"h".to_vec(), Some(b"10".to_vec())),
            (b"e".to_vec(), Some(Vec::new()))
        ]
    );
}

#[test]
fn poll_each_over_a_compacted_log_steps_over_gaps_as_poll_does() {
    let (_fs, _clock, store) = mem_store();
    store
        .create_topic(
            "c",
            1,
            &[("segment.bytes", "2048"), ("index.interval.bytes", "1")],
        )
        .unwrap();
    append_compacted_log(&store.partition("c", 0).unwrap());
    for max_poll_records in [1, 2, 500] {
        let config = ConsumerConfig {
            max_poll_records,
            ..earliest()
        };
        let mut owned = store.consumer(config.clone());
        let mut borrowed = store.consumer(config);
        for c in [&mut owned, &mut borrowed] {
            c.assign(&[("c", 0)]).unwrap();
        }
        for _ in 0..200 {
            if borrowed.position(("c", 0)).unwrap() == COMPACTED_END {
                break;
            }
            let a = owned.poll(Duration::from_millis(1)).unwrap();
            let b = poll_each(&mut borrowed, Duration::from_millis(1));
            assert_eq!(a, b);
            assert_eq!(
                owned.position(("c", 0)).unwrap(),
                borrowed.position(("c", 0)).unwrap()
            );
        }
        assert_eq!(borrowed.position(("c", 0)).unwrap(), COMPACTED_END);
        assert_eq!(owned.position(("c", 0)).unwrap(), COMPACTED_END);
    }
}

#[test]
fn poll_each_skips_paused_partitions_and_auto_commits_what_it_handed_out() {
    let (_fs, _clock, store) = mem_store();
    fill(&store);
    let config = ConsumerConfig {
        group_id: Some("g".to_string()),
        enable_auto_commit: true,
        auto_commit_interval: Duration::ZERO,
        max_poll_records: 10,
        ..earliest()
    };
    let mut consumer = store.consumer(config);
    consumer.assign_topic("t").unwrap();
    consumer.pause(&[("t", 0)]).unwrap();
    let got = poll_each(&mut consumer, Duration::from_millis(1));
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|r| r.partition == 1));
    assert_eq!(positions(&consumer), [0, 10]);
    // The next poll commits the positions of what the last one handed out.
    consumer.resume(&[("t", 0)]).unwrap();
    poll_each(&mut consumer, Duration::from_millis(1));
    let committed = consumer.committed(&[TopicPartition::new("t", 1)]).unwrap();
    assert_eq!(committed[0].as_ref().map(|c| c.offset), Some(10));
}

#[test]
fn poll_each_reports_errors_as_poll_does() {
    let (_fs, _clock, store) = mem_store();
    fill(&store);
    let config = ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Error,
        ..ConsumerConfig::default()
    };
    let mut consumer = store.consumer(config);
    consumer.assign(&[("t", 0)]).unwrap();
    // A position past the end under the `Error` policy.
    consumer.seek(("t", 0), 1_000).unwrap();
    let mut called = 0;
    let e = consumer
        .poll_each(Duration::from_millis(1), |_| called += 1)
        .unwrap_err();
    assert!(matches!(e, Error::OffsetOutOfRange { .. }), "{e:?}");
    // A wakeup: nothing handed out, the position unchanged.
    consumer.seek(("t", 0), 3).unwrap();
    consumer.waker().wakeup();
    let e = consumer
        .poll_each(Duration::from_millis(1), |_| called += 1)
        .unwrap_err();
    assert!(matches!(e, Error::Wakeup), "{e:?}");
    assert_eq!((called, consumer.position(("t", 0)).unwrap()), (0, 3));
    // A closed store.
    store.close().unwrap();
    let e = consumer
        .poll_each(Duration::from_millis(1), |_| called += 1)
        .unwrap_err();
    assert!(matches!(e, Error::StoreClosed { .. }), "{e:?}");
    assert_eq!(called, 0);
}

#[test]
fn records_before_a_damaged_batch_are_handed_out_then_the_damage_is_reported() {
    let (fs, _clock, store) = mem_store();
    store.create_topic("d", 1, &[]).unwrap();
    let producer = store.producer(ProducerConfig::default());
    for value in ["a", "b", "c"] {
        producer
            .send_and_wait(ProducerRecord::new("d", value))
            .unwrap();
    }
    let log = store.partition("d", 0).unwrap();
    let path = log.segments()[0].path.clone();
    let third = log.read(2, 1).unwrap().slices()[0].position() as usize;
    // Flip a byte of the third batch's record: its CRC no longer matches.
    let mut bytes = fs.read(Path::new(&path)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    assert!(last > third);
    fs.write(Path::new(&path), &bytes).unwrap();
    assert!(path.starts_with(ROOT));

    for borrowed in [false, true] {
        let mut consumer = store.consumer(earliest());
        consumer.assign(&[("d", 0)]).unwrap();
        let got: Vec<u64> = if borrowed {
            poll_each(&mut consumer, Duration::from_millis(1))
                .iter()
                .map(|r| r.offset)
                .collect()
        } else {
            consumer
                .poll(Duration::from_millis(1))
                .unwrap()
                .iter()
                .map(|r| r.offset)
                .collect()
        };
        assert_eq!(got, [0, 1]);
        assert_eq!(consumer.position(("d", 0)).unwrap(), 2);
        for _ in 0..2 {
            let e = if borrowed {
                consumer
                    .poll_each(Duration::from_millis(1), |_| {})
                    .unwrap_err()
            } else {
                consumer.poll(Duration::from_millis(1)).unwrap_err()
            };
            assert!(matches!(e, Error::Corrupt { .. }), "{e:?}");
            assert_eq!(consumer.position(("d", 0)).unwrap(), 2);
        }
    }
}

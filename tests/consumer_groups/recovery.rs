//! Rebuilding committed offsets from `__consumer_offsets` at open: after
//! power loss, after compaction, from a damaged tail, and the errors for
//! records that cannot be read.

use seglog::io::{CrashMode, MemFs};
use seglog::offsets::records::{partition_for_group, OffsetsKey};
use seglog::{Durability, Error, ManualClock, Record};

use crate::common_store;
use crate::helpers::*;

const OFFSETS: &str = "__consumer_offsets";

#[test]
fn a_commit_survives_power_loss_once_it_returns() {
    let (fs, clock, store) = setup();
    fill(&store, "t", 2, 3);
    store
        .commit_offsets("g", &[(tp("t", 0), at(2)), (tp("t", 1), at(3))])
        .unwrap();
    // Power fails with the store open: only synced bytes remain.
    let image = fs.crash(CrashMode::DurableOnly);
    drop(store);
    let store = open(&image, &clock);
    assert_eq!(committed(&store, "g", &tp("t", 0)), Some(2));
    assert_eq!(committed(&store, "g", &tp("t", 1)), Some(3));
}

#[test]
fn recovery_after_compaction_keeps_the_latest_commit_of_every_partition() {
    let (fs, clock, store) = setup();
    let groups: Vec<String> = (0..20).map(|g| format!("group-{g}")).collect();
    fill(&store, "t", 4, 1);
    let mut expected = std::collections::BTreeMap::new();
    for round in 0..30u64 {
        for (g, group) in groups.iter().enumerate() {
            let p = (round as usize + g) % 4;
            let offset = round * 10 + g as u64;
            store
                .commit_offsets(group, &[(tp("t", p as u32), at(offset))])
                .unwrap();
            expected.insert((group.clone(), p as u32), offset);
        }
        if round % 10 == 9 {
            // Roll every partition so there is something to clean.
            clock.advance(1);
            for p in 0..OFFSETS_PARTITIONS {
                store.partition(OFFSETS, p).unwrap().roll().unwrap();
            }
            store.compact(OFFSETS, None).unwrap();
        }
    }
    // The cleaner dropped superseded commits...
    let kept: u64 = (0..OFFSETS_PARTITIONS)
        .map(|p| store.partition(OFFSETS, p).unwrap().iter(0).count() as u64)
        .sum();
    assert!(kept < 600, "{kept} records left of 600");
    store.close().unwrap();
    // ...and a reopen finds the latest commit of every (group, partition).
    let store = open(&fs, &clock);
    for ((group, p), offset) in &expected {
        assert_eq!(committed(&store, group, &tp("t", *p)), Some(*offset));
    }
}

#[test]
fn a_torn_tail_of_the_offsets_topic_recovers_to_a_prefix_of_the_commits() {
    let mut config = config();
    config.groups.commit_durability = Durability::Flush;
    for seed in 0..12 {
        let fs = MemFs::new();
        let clock = ManualClock::new(common_store::T0);
        let store = common_store::open_with(&fs, &clock, config.clone());
        fill(&store, "t", 1, 1);
        store.sync().unwrap();
        let mut history = vec![None];
        for i in 0..20u64 {
            store.commit_offsets("g", &[(tp("t", 0), at(i))]).unwrap();
            history.push(Some(i));
            if i == 5 {
                store.sync().unwrap();
            }
        }
        let image = fs.crash(CrashMode::TornTail { seed });
        drop(store);
        let store = common_store::open_with(&image, &clock, config.clone());
        let got = committed(&store, "g", &tp("t", 0));
        let at_least = history.iter().position(|h| *h == Some(5)).unwrap();
        assert!(
            history[at_least..].contains(&got),
            "seed {seed}: {got:?} is not a commit made after the flush"
        );
    }
}

#[test]
fn an_unknown_key_version_fails_the_open_naming_file_and_position() {
    let (fs, clock, store) = setup();
    fill(&store, "t", 1, 1);
    store.commit_offsets("g", &[(tp("t", 0), at(1))]).unwrap();
    let partition = partition_for_group("g", OFFSETS_PARTITIONS);
    let log = store.partition(OFFSETS, partition).unwrap();
    // Key version 5: a record of Kafka's newer group protocol.
    let mut key = 5i16.to_be_bytes().to_vec();
    key.extend_from_slice(&[0, 1, b'g']);
    let position = log.segments().last().unwrap().size;
    log.append(&[Record::new("v").with_key(key)]).unwrap();
    store.close().unwrap();
    match seglog::store::StoreOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .open(common_store::ROOT, config())
    {
        Err(Error::Corrupt {
            path,
            position: at,
            reason,
        }) => {
            assert!(path.ends_with(format!("{OFFSETS}-{partition}/00000000000000000000.log")));
            assert_eq!(at, position);
            assert!(
                reason.contains("unknown __consumer_offsets key version 5"),
                "{reason}"
            );
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // A key that is not Kafka's at all, the same.
    assert!(matches!(
        OffsetsKey::decode(b"garbage"),
        Err(seglog::offsets::records::OffsetsRecordError::UnknownKeyVersion(_))
    ));
}

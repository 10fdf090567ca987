//! A model check of committed offsets: random commits, compaction rounds
//! of `__consumer_offsets`, clock moves with maintenance (expiry), group
//! deletions, clean reopens and power losses. After every step the store's
//! committed offsets and groups are the model's: the latest commit of every
//! (group, partition) that neither expired nor was deleted.
//! `SEGLOG_GROUPS_MODEL_CASES` sets the number of cases (default 48).

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use seglog::io::{CrashMode, MemFs};
use seglog::{Clock, LogStore, ManualClock, StoreConfig};

use crate::common_store::{self, T0};
use crate::helpers::{self, at, tp};

const GROUPS: u8 = 4;
const PARTITIONS: u32 = 3;
const OFFSETS: &str = "__consumer_offsets";
const RETENTION_MS: i64 = 60_000;

#[derive(Debug, Clone)]
enum Op {
    Commit {
        group: u8,
        partitions: Vec<(u32, u64)>,
    },
    Compact,
    Maintain {
        advance_ms: i64,
    },
    DeleteGroup {
        group: u8,
    },
    Reopen,
    PowerLoss,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..GROUPS, proptest::collection::vec((0..PARTITIONS, 0u64..1_000), 1..4))
            .prop_map(|(group, partitions)| Op::Commit { group, partitions }),
        2 => Just(Op::Compact),
        2 => (0i64..40_000).prop_map(|advance_ms| Op::Maintain { advance_ms }),
        1 => (0..GROUPS).prop_map(|group| Op::DeleteGroup { group }),
        1 => Just(Op::Reopen),
        1 => Just(Op::PowerLoss),
    ]
}

fn config() -> StoreConfig {
    let mut config = helpers::config();
    config.groups.offsets_topic_num_partitions = 2;
    config.groups.offsets_retention_minutes = 1;
    config.groups.offsets_retention_check_interval_ms = 1;
    // Small segments, so that compaction has sealed segments to clean.
    config.topic_defaults.log.segment_bytes = 2_048;
    config
}

fn name(group: u8) -> String {
    format!("group-{group}")
}

/// (group, partition) -> (offset, commit time).
type Model = BTreeMap<(u8, u32), (u64, i64)>;

fn check(store: &LogStore, model: &Model, step: usize) -> Result<(), TestCaseError> {
    for g in 0..GROUPS {
        for p in 0..PARTITIONS {
            let got = helpers::committed(store, &name(g), &tp("t", p));
            let want = model.get(&(g, p)).map(|(o, _)| *o);
            prop_assert_eq!(got, want, "step {}: group {} partition {}", step, g, p);
        }
    }
    let listed: Vec<String> = store
        .list_groups()
        .unwrap()
        .into_iter()
        .map(|l| l.group_id)
        .collect();
    let mut expected: Vec<String> = model.keys().map(|(g, _)| name(*g)).collect();
    expected.dedup();
    prop_assert_eq!(listed, expected, "step {}: groups", step);
    Ok(())
}

fn run_case(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut fs = MemFs::new();
    let clock = ManualClock::new(T0);
    let mut store = common_store::open_with(&fs, &clock, config());
    store.create_topic("t", PARTITIONS, &[]).unwrap();
    let mut model = Model::new();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Commit { group, partitions } => {
                let offsets: Vec<_> = partitions
                    .iter()
                    .map(|(p, o)| (tp("t", *p), at(*o)))
                    .collect();
                store.commit_offsets(&name(*group), &offsets).unwrap();
                for (p, o) in partitions {
                    model.insert((*group, *p), (*o, clock.now_ms()));
                }
            }
            Op::Compact => {
                if store.list_all_topics().iter().any(|t| t == OFFSETS) {
                    for p in 0..2 {
                        store.partition(OFFSETS, p).unwrap().roll().unwrap();
                    }
                    store.compact(OFFSETS, None).unwrap();
                }
            }
            Op::Maintain { advance_ms } => {
                clock.advance(*advance_ms);
                let report = store.maintain().unwrap();
                prop_assert!(report.errors.is_empty(), "{:?}", report.errors);
                let now = clock.now_ms();
                model.retain(|_, (_, at)| now - *at < RETENTION_MS);
            }
            Op::DeleteGroup { group } => {
                let had = model.keys().any(|(g, _)| g == group);
                match store.delete_group(&name(*group)) {
                    Ok(()) => prop_assert!(had),
                    Err(seglog::Error::Group { .. }) => prop_assert!(!had),
                    Err(e) => panic!("delete: {e}"),
                }
                model.retain(|(g, _), _| g != group);
            }
            Op::Reopen => {
                store.close().unwrap();
                store = common_store::open_with(&fs, &clock, config());
            }
            Op::PowerLoss => {
                let image = fs.crash(CrashMode::DurableOnly);
                drop(store);
                fs = image;
                store = common_store::open_with(&fs, &clock, config());
            }
        }
        check(&store, &model, step)?;
    }
    Ok(())
}

#[test]
fn committed_offsets_follow_the_model_through_compaction_expiry_and_crashes() {
    let cases: u32 = std::env::var("SEGLOG_GROUPS_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let seed: u64 = std::env::var("SEGLOG_GROUPS_MODEL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x0FF5E7);
    let mut runner = TestRunner::new(Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&proptest::collection::vec(op(), 1..50), |ops| {
        run_case(&ops)
    });
    if let Err(e) = result {
        panic!("{e}\n(SEGLOG_GROUPS_MODEL_SEED={seed}, SEGLOG_GROUPS_MODEL_CASES={cases})");
    }
}

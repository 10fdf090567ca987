//! Kafka's `AbstractStickyAssignorTest` cases about claims of several
//! generations, and the finer rules of balancing unequal subscriptions.

use super::tests::{no_transfers, run, transfers, GENERATION};
use super::*;
use crate::offsets::assignor::test_support::*;

#[test]
fn a_stale_generation_loses_its_claims() {
    let both = ["topic", "topic2"];
    let claimed = [tp("topic", 0), tp("topic", 2), tp("topic2", 1)];
    for stale in [9, -1] {
        let b = run(
            &topics(&[("topic", 3), ("topic2", 3)]),
            &members(vec![
                ("consumer1", owning(&both, &claimed, 10)),
                ("consumer2", owning(&both, &claimed, stale)),
            ]),
        );
        assert_eq!(b.assignment["consumer1"], set(&claimed));
        assert_eq!(
            b.assignment["consumer2"],
            [tp("topic", 1), tp("topic2", 0), tp("topic2", 2)]
        );
        no_transfers(&b);
    }
}

#[test]
fn each_claim_goes_to_the_highest_generation() {
    let all = ["topic", "topic2", "topic3"];
    let b = run(
        &topics(&[("topic", 3), ("topic2", 3), ("topic3", 3)]),
        &members(vec![
            (
                "consumer1",
                owning(
                    &all,
                    &[tp("topic", 0), tp("topic2", 0), tp("topic3", 0)],
                    10,
                ),
            ),
            (
                "consumer2",
                owning(&all, &[tp("topic", 1), tp("topic2", 1), tp("topic3", 1)], 9),
            ),
            (
                "consumer3",
                owning(
                    &all,
                    &[tp("topic2", 1), tp("topic3", 0), tp("topic3", 2)],
                    8,
                ),
            ),
        ]),
    );
    assert_eq!(
        b.assignment["consumer1"],
        [tp("topic", 0), tp("topic2", 0), tp("topic3", 0)]
    );
    assert_eq!(
        b.assignment["consumer2"],
        [tp("topic", 1), tp("topic2", 1), tp("topic3", 1)]
    );
    assert_eq!(
        b.assignment["consumer3"],
        [tp("topic", 2), tp("topic2", 2), tp("topic3", 2)]
    );
    no_transfers(&b);
}

#[test]
fn claims_of_several_generations_keep_current_members_in_place() {
    let all = ["topic", "topic2", "topic3", "topic1"];
    let b = run(
        &topics(&[("topic", 3), ("topic1", 3), ("topic2", 3), ("topic3", 3)]),
        &members(vec![
            ("consumer1", owning(&all, &[], -1)),
            (
                "consumer2",
                owning(&all, &[tp("topic", 0), tp("topic2", 0), tp("topic1", 0)], 9),
            ),
            (
                "consumer3",
                owning(
                    &all,
                    &[tp("topic3", 2), tp("topic2", 2), tp("topic1", 1)],
                    8,
                ),
            ),
            (
                "consumer4",
                owning(&all, &[tp("topic3", 1), tp("topic", 1), tp("topic", 2)], 7),
            ),
        ]),
    );
    assert_eq!(
        b.assignment["consumer1"],
        [tp("topic1", 2), tp("topic2", 1), tp("topic3", 0)]
    );
    no_transfers(&b);

    let both = ["topic", "topic2"];
    let b = run(
        &topics(&[("topic", 3), ("topic2", 3)]),
        &members(vec![
            (
                "consumer1",
                owning(
                    &both,
                    &[tp("topic", 0), tp("topic2", 1), tp("topic", 1)],
                    10,
                ),
            ),
            (
                "consumer2",
                owning(
                    &both,
                    &[tp("topic", 0), tp("topic2", 1), tp("topic2", 2)],
                    8,
                ),
            ),
        ]),
    );
    assert_eq!(
        b.assignment["consumer1"],
        set(&[tp("topic", 0), tp("topic2", 1), tp("topic", 1)])
    );
    assert_eq!(
        b.assignment["consumer2"],
        [tp("topic", 2), tp("topic2", 0), tp("topic2", 2)]
    );
    no_transfers(&b);
}

#[test]
fn a_partition_claimed_twice_in_one_generation_is_owned_by_neither() {
    let b = run(
        &topics(&[("topic", 3)]),
        &members(vec![
            (
                "consumer1",
                owning(&["topic"], &[tp("topic", 0), tp("topic", 1)], GENERATION),
            ),
            (
                "consumer2",
                owning(&["topic"], &[tp("topic", 0), tp("topic", 2)], GENERATION),
            ),
            ("consumer3", owning(&["topic"], &[], GENERATION)),
        ]),
    );
    assert_eq!(b.transferring, transfers(&[(tp("topic", 0), "consumer3")]));
    assert_eq!(b.assignment["consumer1"], [tp("topic", 1)]);
    assert_eq!(b.assignment["consumer2"], [tp("topic", 2)]);
    assert_eq!(b.assignment["consumer3"], [tp("topic", 0)]);
}

#[test]
fn unequal_subscriptions_with_one_partition_claimed_in_three_generations() {
    let partitions = topics(&[("topic", 6), ("topic1", 1)]);
    for g in [
        [1, 2, 3],
        [1, 3, 2],
        [2, 1, 3],
        [2, 3, 1],
        [3, 1, 2],
        [3, 2, 1],
    ] {
        let group = members(vec![
            (
                "consumer1",
                owning(&["topic"], &[tp("topic", 0), tp("topic", 2)], g[0]),
            ),
            (
                "consumer2",
                owning(
                    &["topic"],
                    &[tp("topic", 1), tp("topic", 2), tp("topic", 3)],
                    g[1],
                ),
            ),
            (
                "consumer3",
                owning(
                    &["topic"],
                    &[tp("topic", 2), tp("topic", 4), tp("topic", 5)],
                    g[2],
                ),
            ),
            ("consumer4", owning(&["topic1"], &[tp("topic1", 0)], 2)),
        ]);
        let b = run(&partitions, &group);
        assert!(
            b.assignment.values().all(|p| (1..=2).contains(&p.len())),
            "{g:?}: {:?}",
            b.assignment
        );
    }
}

/// A group where balancing first moves `t0-1` and `t0-2` from `m2` to
/// `m0`, then wants `t0-0` moved from `m0` to `m2`: it moves `t0-1` back
/// instead, so `m0` keeps the `t0-0` it owned and no two members trade
/// partitions of a topic.
#[test]
fn balancing_undoes_an_earlier_move_rather_than_trade_partitions() {
    let partitions = topics(&[("t0", 3), ("t1", 1), ("t2", 10), ("t3", 3), ("t4", 2)]);
    let list = |t: &str, ps: &[u32]| ps.iter().map(|&p| tp(t, p)).collect::<Vec<_>>();
    let m0_owned = [list("t0", &[0]), list("t2", &[1, 4, 7]), list("t3", &[0])].concat();
    let m2_owned = [
        list("t0", &[1, 2]),
        list("t1", &[0]),
        list("t2", &[0, 2, 3, 5, 6, 8, 9]),
        list("t3", &[1, 2]),
        list("t4", &[0, 1]),
    ]
    .concat();
    let group = members(vec![
        ("m0", owning(&["t0", "t2", "t3"], &m0_owned, GENERATION)),
        ("m1", owning(&["t4"], &[], GENERATION)),
        ("m2", owning(&["t0", "t2", "t4"], &m2_owned, GENERATION)),
    ]);
    let b = run(&partitions, &group);
    check_no_swaps(&group, &b.assignment);
    assert!(
        b.assignment["m0"].contains(&tp("t0", 0)),
        "{:?}",
        b.assignment
    );
    assert!(
        b.assignment["m2"].contains(&tp("t0", 1)),
        "{:?}",
        b.assignment
    );
}

/// A partition whose owner of an older generation can take it goes back
/// to that owner rather than to the least loaded member.
#[test]
fn balancing_returns_a_partition_to_its_owner_of_an_older_generation() {
    let six: Vec<TopicPartition> = (0..6).map(|p| tp("t", p)).collect();
    let b = run(
        &topics(&[("t", 6)]),
        &members(vec![
            // "x" does not exist, but makes the subscriptions unequal.
            ("c1", owning(&["t", "x"], &six, 2)),
            ("c2", owning(&["t"], &[], 2)),
            ("c3", owning(&["t"], &[tp("t", 0)], 1)),
        ]),
    );
    assert_eq!(b.assignment["c1"], [tp("t", 4), tp("t", 5)]);
    assert_eq!(b.assignment["c2"], [tp("t", 1), tp("t", 2)]);
    assert_eq!(b.assignment["c3"], [tp("t", 0), tp("t", 3)]);
}

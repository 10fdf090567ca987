//! The cooperative rule and member data of `cooperative-sticky` (Kafka's
//! `CooperativeStickyAssignorTest`), and the user data of `sticky`.

use super::*;
use crate::offsets::assignor::test_support::*;

const COOP: CooperativeStickyAssignor = CooperativeStickyAssignor;

#[test]
fn names_and_protocols() {
    assert_eq!(COOP.name(), "cooperative-sticky");
    assert_eq!(
        COOP.supported_protocols(),
        [RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
    );
    assert_eq!(StickyAssignor.name(), "sticky");
    assert_eq!(
        StickyAssignor.supported_protocols(),
        [RebalanceProtocol::Eager]
    );
}

#[test]
fn a_moving_partition_is_revoked_first_and_assigned_in_the_next_rebalance() {
    let partitions = topics(&[("topic", 3)]);
    let all = [tp("topic", 0), tp("topic", 1), tp("topic", 2)];
    let group = members(vec![
        ("consumer1", owning(&["topic"], &all, 1)),
        ("consumer2", owning(&["topic"], &[], 1)),
    ]);
    let first = COOP.assign(&partitions, &group);
    assert_eq!(first["consumer1"], [tp("topic", 0), tp("topic", 1)]);
    assert!(first["consumer2"].is_empty(), "{first:?}");

    let second = COOP.assign(&partitions, &rejoin(&group, &first, 2));
    assert_eq!(second["consumer1"], [tp("topic", 0), tp("topic", 1)]);
    assert_eq!(second["consumer2"], [tp("topic", 2)]);

    let (settled, _, rounds) = settle(&COOP, &partitions, &group, 1);
    assert_eq!(settled, second);
    assert_eq!(rounds, 2);
}

#[test]
fn a_joining_member_gets_a_balanced_share_and_the_rest_stay_put() {
    let partitions = topics(&[("t", 9)]);
    let owned = |ps: &[u32]| ps.iter().map(|&p| tp("t", p)).collect::<Vec<_>>();
    let group = members(vec![
        ("c1", owning(&["t"], &owned(&[0, 1, 2]), 4)),
        ("c2", owning(&["t"], &owned(&[3, 4, 5]), 4)),
        ("c3", owning(&["t"], &owned(&[6, 7, 8]), 4)),
        ("c4", owning(&["t"], &[], 4)),
    ]);
    let first = COOP.assign(&partitions, &group);
    // Quotas 3, 2, 2, 2: c1 keeps its three, c2 and c3 revoke one each.
    assert_eq!(first["c1"], owned(&[0, 1, 2]));
    assert_eq!(first["c2"], owned(&[3, 4]));
    assert_eq!(first["c3"], owned(&[6, 7]));
    assert!(first["c4"].is_empty());

    let (settled, _, rounds) = settle(&COOP, &partitions, &group, 4);
    assert_eq!(rounds, 2);
    assert_eq!(settled["c4"], owned(&[5, 8]));
    let moved = group
        .iter()
        .map(|(m, s)| {
            s.owned_partitions
                .iter()
                .filter(|p| !settled[m].contains(p))
                .count()
        })
        .sum::<usize>();
    assert_eq!(moved, 2, "only the new member's share moves: {settled:?}");
}

#[test]
fn a_leaving_member_hands_over_only_its_partitions() {
    let partitions = topics(&[("t", 9)]);
    let owned = |ps: &[u32]| ps.iter().map(|&p| tp("t", p)).collect::<Vec<_>>();
    let group = members(vec![
        ("c1", owning(&["t"], &owned(&[0, 1, 2]), 5)),
        ("c2", owning(&["t"], &owned(&[3, 4]), 5)),
        ("c3", owning(&["t"], &owned(&[6, 7]), 5)),
    ]);
    // c4 owned 5 and 8 and has left: nobody must revoke anything.
    let a = COOP.assign(&partitions, &group);
    assert_eq!(a["c1"], owned(&[0, 1, 2]));
    assert_eq!(a["c2"], owned(&[3, 4, 5]));
    assert_eq!(a["c3"], owned(&[6, 7, 8]));
    let (_, _, rounds) = settle(&COOP, &partitions, &group, 5);
    assert_eq!(rounds, 1);
}

#[test]
fn unequal_subscriptions_also_revoke_before_moving() {
    let partitions = topics(&[("t1", 4), ("t2", 2)]);
    let c1_owned: Vec<_> = (0..4)
        .map(|p| tp("t1", p))
        .chain((0..2).map(|p| tp("t2", p)))
        .collect();
    let group = members(vec![
        ("c1", owning(&["t1", "t2"], &c1_owned, 3)),
        ("c2", owning(&["t1"], &[], 3)),
    ]);
    let first = COOP.assign(&partitions, &group);
    assert!(first["c2"].is_empty(), "{first:?}");
    assert!(first["c1"].len() < 6, "c1 revokes nothing: {first:?}");
    let (settled, subs, rounds) = settle(&COOP, &partitions, &group, 3);
    assert_eq!(rounds, 2);
    assert_eq!(
        (settled["c1"].len(), settled["c2"].len()),
        (3, 3),
        "{settled:?}"
    );
    check_complete(&partitions, &subs, &settled);
    assert!(settled["c2"].iter().all(|p| p.topic == "t1"));
}

#[test]
fn the_higher_generation_wins_a_conflicting_claim() {
    let partitions = topics(&[("topic", 3), ("topic2", 3)]);
    let both = ["topic", "topic2"];
    let claimed = [tp("topic", 0), tp("topic", 2), tp("topic2", 1)];
    let group = members(vec![
        ("consumer1", owning(&both, &claimed, 10)),
        ("consumer2", owning(&both, &claimed, 9)),
    ]);
    let a = COOP.assign(&partitions, &group);
    assert_eq!(a["consumer1"], set(&claimed));
    assert_eq!(
        a["consumer2"],
        [tp("topic", 1), tp("topic2", 0), tp("topic2", 2)]
    );
    // Regardless of which member is listed first.
    let swapped = members(vec![
        ("consumer1", owning(&both, &claimed, 9)),
        ("consumer2", owning(&both, &claimed, 10)),
    ]);
    let a = COOP.assign(&partitions, &swapped);
    assert_eq!(a["consumer2"], set(&claimed));
}

#[test]
fn a_claim_made_twice_in_one_generation_is_assigned_only_after_both_revoke() {
    for count in [3, 4] {
        let partitions = topics(&[("topic", count)]);
        let group = members(vec![
            (
                "consumer1",
                owning(&["topic"], &[tp("topic", 0), tp("topic", 1)], 1),
            ),
            (
                "consumer2",
                owning(&["topic"], &[tp("topic", 0), tp("topic", 2)], 1),
            ),
            ("consumer3", owning(&["topic"], &[], 1)),
        ]);
        let first = COOP.assign(&partitions, &group);
        let c1 = if count == 3 {
            vec![tp("topic", 1)]
        } else {
            vec![tp("topic", 1), tp("topic", 3)]
        };
        assert_eq!(first["consumer1"], c1);
        assert_eq!(first["consumer2"], [tp("topic", 2)]);
        assert!(
            first["consumer3"].is_empty(),
            "topic-0 is still owned: {first:?}"
        );
        let (settled, _, rounds) = settle(&COOP, &partitions, &group, 1);
        assert_eq!(rounds, 2);
        assert_eq!(settled["consumer3"], [tp("topic", 0)]);
    }
}

#[test]
fn version_1_subscriptions_carry_the_generation_in_user_data() {
    let partitions = topics(&[("topic1", 3)]);
    let v1 = |owned: &[TopicPartition]| {
        sub(&["topic1"])
            .with_owned_partitions(owned.to_vec(), -1)
            .with_user_data(COOP.subscription_user_data(owned, 1).unwrap().unwrap())
    };
    let group = members(vec![
        ("consumer1", v1(&[tp("topic1", 0)])),
        ("consumer2", v1(&[tp("topic1", 1)])),
        ("consumer3", owning(&["topic1"], &[], 1)),
    ]);
    let a = COOP.assign(&partitions, &group);
    assert_eq!(a["consumer1"], [tp("topic1", 0)]);
    assert_eq!(a["consumer2"], [tp("topic1", 1)]);
    assert_eq!(a["consumer3"], [tp("topic1", 2)]);
}

#[test]
fn member_data_reads_the_generation_from_the_subscription_then_user_data() {
    let data = CooperativeStickyAssignor::member_data;
    assert_eq!(
        COOP.subscription_user_data(&[], 10).unwrap(),
        Some(vec![0, 0, 0, 10])
    );
    // No generation anywhere.
    assert_eq!(data(&sub(&["t"])).generation, None);
    // In user data only.
    let m = sub(&["t"]).with_user_data(vec![0, 0, 0, 10]);
    assert_eq!(data(&m).generation, Some(10));
    let m = sub(&["t"]).with_user_data(COOP.subscription_user_data(&[], -1).unwrap().unwrap());
    assert_eq!(data(&m).generation, Some(-1));
    // Unreadable user data counts as generation -1.
    let m = sub(&["t"]).with_user_data(vec![1]);
    assert_eq!(data(&m).generation, Some(-1));
    // The subscription's generation wins over user data, and the owned
    // partitions always come from the subscription.
    let m = owning(&["t"], &[tp("t", 0)], 3).with_user_data(vec![0, 0, 0, 2]);
    assert_eq!(
        data(&m),
        MemberData {
            partitions: vec![tp("t", 0)],
            generation: Some(3)
        }
    );
}

#[test]
fn sticky_user_data_encodes_the_previous_assignment_and_generation() {
    let owned = [tp("t", 0), tp("u", 1), tp("t", 2)];
    let bytes = StickyAssignor
        .subscription_user_data(&owned, 3)
        .unwrap()
        .unwrap();
    let expected = [
        &[0, 0, 0, 2][..],
        &[0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2],
        &[0, 1, b'u', 0, 0, 0, 1, 0, 0, 0, 1],
        &[0, 0, 0, 3],
    ]
    .concat();
    assert_eq!(bytes, expected);
    assert_eq!(
        StickyAssignor.subscription_user_data(&owned, -1).unwrap(),
        None
    );

    let data = StickyAssignor::member_data;
    let m = sub(&["t", "u"]).with_user_data(bytes.clone());
    assert_eq!(
        data(&m),
        MemberData {
            partitions: vec![tp("t", 0), tp("t", 2), tp("u", 1)],
            generation: Some(3)
        }
    );
    // The layout before generations were added.
    let m = sub(&["t", "u"]).with_user_data(bytes[..bytes.len() - 4].to_vec());
    assert_eq!(data(&m).generation, None);
    assert_eq!(data(&m).partitions.len(), 3);
    // Owned partitions in the subscription are not what sticky reads.
    let m = owning(&["t"], &[tp("t", 5)], 7);
    assert_eq!(
        data(&m),
        MemberData {
            partitions: vec![],
            generation: None
        }
    );
    // Unreadable user data: nothing owned, generation -1.
    let m = sub(&["t"]).with_user_data(vec![0, 0, 0, 1, 0xff]);
    assert_eq!(
        data(&m),
        MemberData {
            partitions: vec![],
            generation: Some(-1)
        }
    );
}

#[test]
fn eager_sticky_keeps_previous_owners_in_one_rebalance() {
    let partitions = topics(&[("topic", 3)]);
    let all = [tp("topic", 0), tp("topic", 1), tp("topic", 2)];
    let user_data = StickyAssignor
        .subscription_user_data(&all, 1)
        .unwrap()
        .unwrap();
    let group = members(vec![
        ("consumer1", sub(&["topic"]).with_user_data(user_data)),
        ("consumer2", sub(&["topic"])),
    ]);
    let a = StickyAssignor.assign(&partitions, &group);
    assert_eq!(a["consumer1"], [tp("topic", 0), tp("topic", 1)]);
    assert_eq!(a["consumer2"], [tp("topic", 2)]);
}

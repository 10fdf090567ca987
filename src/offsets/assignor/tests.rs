//! Choosing assignors by name, and properties every assignor keeps on
//! random groups.

use proptest::prelude::*;

use super::test_support::*;
use super::*;

#[test]
fn assignors_are_found_by_kafka_name_and_class_name() {
    for (name, class) in [
        ("range", "RangeAssignor"),
        ("roundrobin", "RoundRobinAssignor"),
        ("sticky", "StickyAssignor"),
        ("cooperative-sticky", "CooperativeStickyAssignor"),
    ] {
        assert_eq!(assignor_by_name(name).map(|a| a.name()), Some(name));
        let class = format!("org.apache.kafka.clients.consumer.{class}");
        assert_eq!(assignor_by_name(&class).map(|a| a.name()), Some(name));
    }
    for unknown in [
        "",
        "Range",
        "uniform",
        "org.apache.kafka.clients.consumer.Nope",
    ] {
        assert!(assignor_by_name(unknown).is_none(), "{unknown}");
    }
}

#[test]
fn rebalance_protocols_have_kafkas_ids() {
    assert_eq!(RebalanceProtocol::Eager.id(), 0);
    assert_eq!(RebalanceProtocol::Cooperative.id(), 1);
    assert_eq!(
        RebalanceProtocol::from_id(1),
        Some(RebalanceProtocol::Cooperative)
    );
    assert_eq!(
        RebalanceProtocol::from_id(0),
        Some(RebalanceProtocol::Eager)
    );
    assert_eq!(RebalanceProtocol::from_id(2), None);
}

#[test]
fn a_member_built_from_a_subscription_carries_its_fields() {
    let s = ConsumerSubscription {
        topics: vec!["t".into()],
        user_data: Some(vec![1]),
        owned_partitions: vec![tp("t", 2)],
        generation_id: 6,
        rack_id: Some("r".into()),
    };
    let m = MemberSubscription::from_subscription(s, Some("host-1".into()));
    assert_eq!(
        m,
        MemberSubscription::new(["t"])
            .with_group_instance_id("host-1")
            .with_owned_partitions(vec![tp("t", 2)], 6)
            .with_user_data(vec![1])
    );
}

#[test]
fn an_empty_group_gets_an_empty_assignment() {
    for name in ["range", "roundrobin", "sticky", "cooperative-sticky"] {
        let a = assignor_by_name(name).unwrap();
        assert!(
            a.assign(&topics(&[("t", 3)]), &BTreeMap::new()).is_empty(),
            "{name}"
        );
    }
}

/// A random group: partition counts of topics `t0..`, and for each member
/// which of them it subscribes to (plus, sometimes, a topic that does not
/// exist).
fn group_strategy(
) -> impl Strategy<Value = (BTreeMap<String, u32>, BTreeMap<String, MemberSubscription>)> {
    (
        proptest::collection::vec(0u32..7, 1..5),
        proptest::collection::vec(
            (proptest::collection::vec(any::<bool>(), 5), any::<bool>()),
            1..6,
        ),
    )
        .prop_map(|(counts, picks)| {
            let partitions = counts
                .iter()
                .enumerate()
                .map(|(i, &n)| (format!("t{i}"), n))
                .collect();
            let members = picks
                .into_iter()
                .enumerate()
                .map(|(i, (wants, missing))| {
                    let mut topics: Vec<String> = (0..counts.len())
                        .filter(|&t| wants[t])
                        .map(|t| format!("t{t}"))
                        .collect();
                    if missing {
                        topics.push("missing".into());
                    }
                    (format!("m{i}"), MemberSubscription::new(topics))
                })
                .collect();
            (partitions, members)
        })
}

/// What changes between two rebalances: a member leaves, one joins, and
/// some members change their subscriptions.
#[derive(Debug, Clone)]
struct Change {
    leave: Option<usize>,
    join: Option<Vec<bool>>,
    resubscribe: Vec<Option<Vec<bool>>>,
}

fn change_strategy() -> impl Strategy<Value = Change> {
    let picks = || proptest::collection::vec(any::<bool>(), 5);
    (
        proptest::option::of(0usize..6),
        proptest::option::of(picks()),
        proptest::collection::vec(proptest::option::weighted(0.3, picks()), 6),
    )
        .prop_map(|(leave, join, resubscribe)| Change {
            leave,
            join,
            resubscribe,
        })
}

fn picked(partitions: &BTreeMap<String, u32>, wants: &[bool]) -> Vec<String> {
    partitions
        .keys()
        .zip(wants)
        .filter(|(_, w)| **w)
        .map(|(t, _)| t.clone())
        .collect()
}

/// `subscriptions` after `change`, each remaining member owning what
/// `assignment` gave it in `generation`.
fn apply(
    change: &Change,
    partitions: &BTreeMap<String, u32>,
    subscriptions: &BTreeMap<String, MemberSubscription>,
    assignment: &Assignment,
    generation: i32,
) -> BTreeMap<String, MemberSubscription> {
    let mut next = rejoin(subscriptions, assignment, generation);
    for (i, s) in next.values_mut().enumerate() {
        if let Some(Some(wants)) = change.resubscribe.get(i) {
            s.topics = picked(partitions, wants);
        }
    }
    if let Some(i) = change.leave {
        if let Some(m) = subscriptions.keys().nth(i) {
            next.remove(m);
        }
    }
    if let Some(wants) = &change.join {
        next.insert(
            "joiner".into(),
            MemberSubscription::new(picked(partitions, wants)),
        );
    }
    next
}

proptest! {
    /// Every assignor gives each partition of a subscribed topic to exactly
    /// one member subscribed to it (cooperative-sticky once its follow-up
    /// rebalances are done), and nothing else; the sticky assignors meet
    /// Kafka's balance criterion, before and after the group changes.
    #[test]
    fn every_subscribed_partition_goes_to_exactly_one_subscriber(
        (partitions, group) in group_strategy(),
        change in change_strategy(),
    ) {
        for assignor in [&RangeAssignor as &dyn PartitionAssignor, &RoundRobinAssignor, &StickyAssignor] {
            let a = assignor.assign(&partitions, &group);
            check_valid(&partitions, &group, &a);
            check_complete(&partitions, &group, &a);
        }
        let eager = StickyAssignor.assign(&partitions, &group);
        check_kafka_balance(&eager);

        let (settled, subs, _) = settle(&CooperativeStickyAssignor, &partitions, &group, -1);
        check_complete(&partitions, &subs, &settled);
        check_kafka_balance(&settled);

        // The next generation, after the group changed.
        let next = apply(&change, &partitions, &subs, &settled, 1);
        if !next.is_empty() {
            let (again, subs, _) = settle(&CooperativeStickyAssignor, &partitions, &next, 1);
            check_complete(&partitions, &subs, &again);
            check_kafka_balance(&again);

            let eager_next: BTreeMap<String, MemberSubscription> = next
                .iter()
                .map(|(m, s)| {
                    let data = StickyAssignor
                        .subscription_user_data(&s.owned_partitions, s.generation)
                        .unwrap();
                    let mut s = s.clone().with_owned_partitions(Vec::new(), -1);
                    s.user_data = data;
                    (m.clone(), s)
                })
                .collect();
            let a = StickyAssignor.assign(&partitions, &eager_next);
            check_valid(&partitions, &eager_next, &a);
            check_complete(&partitions, &eager_next, &a);
            check_kafka_balance(&a);
        }
    }

    /// With equal subscriptions the sticky assignors' counts differ by at
    /// most one, from scratch and after a member joins or leaves.
    #[test]
    fn equal_subscriptions_are_balanced_within_one(
        counts in proptest::collection::vec(0u32..9, 1..4),
        size in 1usize..7,
        leave in proptest::option::of(0usize..7),
        join in any::<bool>(),
    ) {
        let partitions: BTreeMap<String, u32> =
            counts.iter().enumerate().map(|(i, &n)| (format!("t{i}"), n)).collect();
        let all: Vec<String> = partitions.keys().cloned().collect();
        let group: BTreeMap<String, MemberSubscription> =
            (0..size).map(|i| (format!("m{i}"), MemberSubscription::new(all.clone()))).collect();
        let eager = StickyAssignor.assign(&partitions, &group);
        prop_assert!(spread(&eager) <= 1, "{:?}", eager);
        let (settled, subs, _) = settle(&CooperativeStickyAssignor, &partitions, &group, -1);
        prop_assert!(spread(&settled) <= 1, "{:?}", settled);

        let change = Change {
            leave,
            join: join.then(|| vec![true; 5]),
            resubscribe: Vec::new(),
        };
        let next = apply(&change, &partitions, &subs, &settled, 1);
        if !next.is_empty() {
            let (again, _, _) = settle(&CooperativeStickyAssignor, &partitions, &next, 1);
            prop_assert!(spread(&again) <= 1, "{:?}", again);
        }
    }
}

/// Kafka's `testReassignmentWithRandomSubscriptionsAndChanges`: a large
/// group with random subscriptions, then new random subscriptions; the
/// sticky assignment stays valid and balanced, and no two members swap
/// partitions of a topic.
fn random_sublist(topics: &[String], keep: &[bool]) -> Vec<String> {
    topics
        .iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(t, _)| t.clone())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn large_groups_with_random_subscription_changes_stay_sticky(
        topic_count in 10usize..20,
        first in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 20), 20..40),
        second in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 20), 40),
    ) {
        let names: Vec<String> = (0..topic_count).map(|i| format!("t{i:02}")).collect();
        let partitions: BTreeMap<String, u32> =
            names.iter().enumerate().map(|(i, t)| (t.clone(), i as u32 + 1)).collect();
        let group: BTreeMap<String, MemberSubscription> = first
            .iter()
            .enumerate()
            .map(|(i, keep)| (format!("c{i:02}"), MemberSubscription::new(random_sublist(&names, keep))))
            .collect();
        let a = StickyAssignor.assign(&partitions, &group);
        check_valid(&partitions, &group, &a);
        check_complete(&partitions, &group, &a);
        check_kafka_balance(&a);

        let next: BTreeMap<String, MemberSubscription> = group
            .keys()
            .zip(&second)
            .map(|(m, keep)| {
                let owned = &a[m];
                let data = StickyAssignor.subscription_user_data(owned, 1).unwrap().unwrap();
                let s = MemberSubscription::new(random_sublist(&names, keep))
                    .with_owned_partitions(owned.clone(), 1)
                    .with_user_data(data);
                (m.clone(), s)
            })
            .collect();
        for assignor in [&StickyAssignor as &dyn PartitionAssignor, &CooperativeStickyAssignor] {
            let b = assignor.assign(&partitions, &next);
            check_valid(&partitions, &next, &b);
            check_no_swaps(&next, &b);
        }
        let b = StickyAssignor.assign(&partitions, &next);
        check_complete(&partitions, &next, &b);
        check_kafka_balance(&b);
    }
}

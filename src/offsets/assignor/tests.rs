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
    for name in ["range", "roundrobin"] {
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

proptest! {
    /// Range and roundrobin give each partition of a subscribed topic to
    /// exactly one member subscribed to it, and nothing else.
    #[test]
    fn every_subscribed_partition_goes_to_exactly_one_subscriber(
        (partitions, group) in group_strategy(),
    ) {
        for assignor in [&RangeAssignor as &dyn PartitionAssignor, &RoundRobinAssignor] {
            let a = assignor.assign(&partitions, &group);
            check_valid(&partitions, &group, &a);
            check_complete(&partitions, &group, &a);
        }
    }
}

use proptest::prelude::*;

use super::*;

fn tp(topic: &str, partition: u32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A subscription using every field, with topics and owned partitions
/// out of order.
fn full_subscription() -> ConsumerSubscription {
    ConsumerSubscription {
        topics: vec!["foo".into(), "bar".into()],
        user_data: Some(b"hi".to_vec()),
        owned_partitions: vec![tp("foo", 1), tp("bar", 2), tp("foo", 0)],
        generation_id: 7,
        rack_id: Some("r1".into()),
    }
}

// The expected bytes below are worked out by hand from Kafka's
// ConsumerProtocolSubscription.json / ConsumerProtocolAssignment.json.
const TOPICS: &[u8] = &[
    0, 0, 0, 2, // topics: 2 entries, sorted
    0, 3, b'b', b'a', b'r', //
    0, 3, b'f', b'o', b'o',
];
const USER_DATA: &[u8] = &[0, 0, 0, 2, b'h', b'i'];
const OWNED: &[u8] = &[
    0, 0, 0, 2, // owned_partitions: 2 topics, sorted
    0, 3, b'b', b'a', b'r', 0, 0, 0, 1, 0, 0, 0, 2, // bar: [2]
    0, 3, b'f', b'o', b'o', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, // foo: [0, 1]
];
const GENERATION: &[u8] = &[0, 0, 0, 7];
const RACK: &[u8] = &[0, 2, b'r', b'1'];

fn subscription_vector(version: i16) -> Vec<u8> {
    let prefix = version.to_be_bytes();
    match version {
        0 => cat(&[&prefix, TOPICS, USER_DATA]),
        1 => cat(&[&prefix, TOPICS, USER_DATA, OWNED]),
        2 => cat(&[&prefix, TOPICS, USER_DATA, OWNED, GENERATION]),
        _ => cat(&[&prefix, TOPICS, USER_DATA, OWNED, GENERATION, RACK]),
    }
}

#[test]
fn subscription_encodes_each_version_byte_for_byte() {
    let s = full_subscription();
    for version in 0..=3 {
        assert_eq!(
            s.encode(version).unwrap(),
            subscription_vector(version),
            "v{version}"
        );
    }
}

#[test]
fn subscription_encoding_above_the_newest_version_writes_the_newest() {
    let s = full_subscription();
    for version in [4, 100, i16::MAX] {
        assert_eq!(s.encode(version).unwrap(), subscription_vector(3));
    }
}

#[test]
fn subscription_decodes_each_version_with_defaults_for_missing_fields() {
    for version in 0..=3 {
        let got = ConsumerSubscription::decode(&subscription_vector(version)).unwrap();
        assert_eq!(got.topics, vec!["bar".to_string(), "foo".to_string()]);
        assert_eq!(got.user_data.as_deref(), Some(&b"hi"[..]));
        let owned = if version >= 1 {
            vec![tp("bar", 2), tp("foo", 0), tp("foo", 1)]
        } else {
            vec![]
        };
        assert_eq!(got.owned_partitions, owned, "v{version}");
        assert_eq!(got.generation_id, if version >= 2 { 7 } else { -1 });
        assert_eq!(got.rack_id.as_deref(), (version >= 3).then_some("r1"));
    }
}

#[test]
fn null_user_data_and_rack_are_minus_one_lengths() {
    let s = ConsumerSubscription {
        topics: vec!["t".into()],
        ..ConsumerSubscription::default()
    };
    let expected = cat(&[
        &[0, 3],
        &[0, 0, 0, 1, 0, 1, b't'],
        &[0xff, 0xff, 0xff, 0xff], // user_data null
        &[0, 0, 0, 0],             // no owned partitions
        &[0xff, 0xff, 0xff, 0xff], // generation -1
        &[0xff, 0xff],             // rack null
    ]);
    assert_eq!(s.encode(3).unwrap(), expected);
    assert_eq!(ConsumerSubscription::decode(&expected).unwrap(), s);
}

#[test]
fn an_empty_rack_decodes_as_none_and_empty_user_data_stays_empty() {
    let bytes = cat(&[
        &[0, 3],
        &[0, 0, 0, 0],
        &[0, 0, 0, 0],
        &[0, 0, 0, 0],
        &[0, 0, 0, 1],
        &[0, 0],
    ]);
    let s = ConsumerSubscription::decode(&bytes).unwrap();
    assert_eq!(s.rack_id, None);
    assert_eq!(s.user_data, Some(vec![]));
    assert_eq!(s.generation_id, 1);
}

#[test]
fn a_future_subscription_version_is_read_by_its_known_fields() {
    let bytes = cat(&[
        &100i16.to_be_bytes(),
        &subscription_vector(3)[2..],
        &[0, 3, b'n', b'e', b'w'], // a field a later version might add
    ]);
    let got = ConsumerSubscription::decode(&bytes).unwrap();
    assert_eq!(got.generation_id, 7);
    assert_eq!(got.rack_id.as_deref(), Some("r1"));
    assert_eq!(got.owned_partitions.len(), 3);
}

#[test]
fn assignment_encodes_grouped_by_first_appearance_of_each_topic() {
    let a = ConsumerAssignment {
        partitions: vec![tp("foo", 1), tp("bar", 0), tp("foo", 0)],
        user_data: Some(vec![9]),
    };
    let body = cat(&[
        &[0, 0, 0, 2],
        &[0, 3, b'f', b'o', b'o', 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0],
        &[0, 3, b'b', b'a', b'r', 0, 0, 0, 1, 0, 0, 0, 0],
        &[0, 0, 0, 1, 9],
    ]);
    for version in 0..=3i16 {
        let expected = cat(&[&version.to_be_bytes(), &body]);
        assert_eq!(a.encode(version).unwrap(), expected, "v{version}");
        let back = ConsumerAssignment::decode(&expected).unwrap();
        assert_eq!(
            back.partitions,
            vec![tp("foo", 1), tp("foo", 0), tp("bar", 0)]
        );
        assert_eq!(back.user_data, Some(vec![9]));
    }
    assert_eq!(a.encode(9).unwrap(), cat(&[&[0, 3], &body]));
}

#[test]
fn null_assignment_user_data_round_trips() {
    let a = ConsumerAssignment::default();
    let bytes = a.encode(0).unwrap();
    assert_eq!(bytes, vec![0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(ConsumerAssignment::decode(&bytes).unwrap(), a);
}

#[test]
fn a_future_assignment_version_is_read_by_its_known_fields() {
    // Kafka's own test: version 100 with a trailing string field "foo".
    let bytes = cat(&[
        &[0, 100],
        &[0, 0, 0, 1, 0, 3, b'f', b'o', b'o', 0, 0, 0, 1, 0, 0, 0, 1],
        &[0, 0, 0, 0],
        &[0, 3, b'b', b'a', b'r'],
    ]);
    let a = ConsumerAssignment::decode(&bytes).unwrap();
    assert_eq!(a.partitions, vec![tp("foo", 1)]);
    assert_eq!(a.user_data, Some(vec![]));
}

fn reason(e: Error) -> String {
    match e {
        Error::InvalidRecord { reason } => reason,
        other => panic!("expected InvalidRecord, got {other:?}"),
    }
}

#[test]
fn negative_versions_are_refused() {
    let s = full_subscription();
    assert!(matches!(s.encode(-1), Err(Error::InvalidRecord { .. })));
    assert!(matches!(
        ConsumerAssignment::default().encode(-5),
        Err(Error::InvalidRecord { .. })
    ));
    let mut bytes = subscription_vector(3);
    bytes[..2].copy_from_slice(&(-1i16).to_be_bytes());
    let r = reason(ConsumerSubscription::decode(&bytes).unwrap_err());
    assert!(r.contains("unsupported version -1"), "{r}");
    let r = reason(ConsumerAssignment::decode(&[0xff, 0xfe, 0, 0, 0, 0]).unwrap_err());
    assert!(r.contains("unsupported version -2"), "{r}");
}

#[test]
fn a_negative_partition_is_refused_naming_its_position() {
    let mut bytes = subscription_vector(1);
    // The last partition of the owned partitions (foo-1) is the last 4 bytes.
    let at = bytes.len() - 4;
    bytes[at..].copy_from_slice(&(-3i32).to_be_bytes());
    let r = reason(ConsumerSubscription::decode(&bytes).unwrap_err());
    assert!(r.contains(&format!("at byte {at}")), "{r}");
    assert!(r.contains("partition -3 is negative"), "{r}");

    let a = [
        0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
    ];
    let r = reason(ConsumerAssignment::decode(&a).unwrap_err());
    assert!(r.contains("at byte 13") && r.contains("negative"), "{r}");
}

#[test]
fn null_where_kafka_forbids_null_is_refused() {
    // topics array null
    let r = reason(ConsumerSubscription::decode(&[0, 0, 0xff, 0xff, 0xff, 0xff]).unwrap_err());
    assert!(
        r.contains("at byte 2") && r.contains("topics is null"),
        "{r}"
    );
    // a topic name null
    let bytes = [0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    let r = reason(ConsumerSubscription::decode(&bytes).unwrap_err());
    assert!(
        r.contains("at byte 6") && r.contains("topic is null"),
        "{r}"
    );
}

#[test]
fn counts_larger_than_the_bytes_left_are_refused_before_allocating() {
    let bytes = [0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 1, b'x'];
    let r = reason(ConsumerSubscription::decode(&bytes).unwrap_err());
    assert!(r.contains("claims 2147483647 items"), "{r}");
    let bytes = [0, 0, 0, 0, 0, 1, 0, 1, b't', 0x10, 0, 0, 0];
    let r = reason(ConsumerAssignment::decode(&bytes).unwrap_err());
    assert!(r.contains("partitions claims 268435456 items"), "{r}");
}

#[test]
fn a_topic_that_is_not_utf8_is_refused() {
    let bytes = [0, 0, 0, 0, 0, 1, 0, 2, 0xc3, 0x28, 0xff, 0xff, 0xff, 0xff];
    let r = reason(ConsumerSubscription::decode(&bytes).unwrap_err());
    assert!(r.contains("at byte 8") && r.contains("not UTF-8"), "{r}");
}

#[test]
fn every_strict_prefix_of_a_valid_encoding_is_refused() {
    let s = full_subscription();
    let a = ConsumerAssignment {
        partitions: s.owned_partitions.clone(),
        user_data: Some(vec![1, 2, 3]),
    };
    for version in 0..=3 {
        let bytes = s.encode(version).unwrap();
        for cut in 0..bytes.len() {
            let r = reason(ConsumerSubscription::decode(&bytes[..cut]).unwrap_err());
            assert!(r.contains("remain"), "v{version} cut {cut}: {r}");
        }
        let bytes = a.encode(version).unwrap();
        for cut in 0..bytes.len() {
            assert!(matches!(
                ConsumerAssignment::decode(&bytes[..cut]),
                Err(Error::InvalidRecord { .. })
            ));
        }
    }
}

#[test]
fn values_the_encoding_cannot_hold_are_refused() {
    let long = ConsumerSubscription {
        topics: vec!["t".repeat(32_768)],
        ..ConsumerSubscription::default()
    };
    let r = reason(long.encode(0).unwrap_err());
    assert!(r.contains("topic of 32768 cannot be encoded"), "{r}");
    let ok = ConsumerSubscription {
        topics: vec!["t".repeat(32_767)],
        ..ConsumerSubscription::default()
    };
    assert_eq!(
        ConsumerSubscription::decode(&ok.encode(0).unwrap()).unwrap(),
        ok
    );

    let big = ConsumerAssignment {
        partitions: vec![tp("t", 1 << 31)],
        user_data: None,
    };
    let r = reason(big.encode(0).unwrap_err());
    assert!(
        r.contains("partition of 2147483648 cannot be encoded"),
        "{r}"
    );
    let rack = ConsumerSubscription {
        rack_id: Some("r".repeat(40_000)),
        ..ConsumerSubscription::default()
    };
    assert!(matches!(rack.encode(3), Err(Error::InvalidRecord { .. })));
    // A version without the rack does not write it.
    assert!(rack.encode(2).is_ok());
}

#[test]
fn java_order_puts_supplementary_characters_before_the_top_of_the_bmp() {
    use std::cmp::Ordering;
    // U+1F600 is a surrogate pair (0xD83D ...) in UTF-16, below U+FF21.
    assert_eq!(java_cmp("\u{1F600}", "\u{FF21}"), Ordering::Less);
    assert_eq!("\u{1F600}".cmp("\u{FF21}"), Ordering::Greater);
    assert_eq!(java_cmp("a", "b"), Ordering::Less);
    assert_eq!(java_cmp("ab", "a"), Ordering::Greater);
}

fn subscription_strategy() -> impl Strategy<Value = ConsumerSubscription> {
    (
        proptest::collection::vec("[a-z]{0,4}", 0..4),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        proptest::collection::vec(("[a-c]{1,2}", 0u32..=i32::MAX as u32), 0..6),
        any::<i32>(),
        proptest::option::of("[a-z]{0,3}"),
    )
        .prop_map(
            |(topics, user_data, owned, generation_id, rack_id)| ConsumerSubscription {
                topics,
                user_data,
                owned_partitions: owned.into_iter().map(|(t, p)| tp(&t, p)).collect(),
                generation_id,
                rack_id,
            },
        )
}

proptest! {
    /// Encoding then decoding gives the subscription back, with topics and
    /// owned partitions sorted and an empty rack read as none.
    #[test]
    fn subscriptions_round_trip(s in subscription_strategy()) {
        let back = ConsumerSubscription::decode(&s.encode(3).unwrap()).unwrap();
        let mut expected = s.clone();
        expected.topics.sort();
        expected.owned_partitions.sort();
        expected.rack_id = s.rack_id.filter(|r| !r.is_empty());
        prop_assert_eq!(back, expected);
    }

    /// Random bytes, and valid encodings with a byte changed, cut short or
    /// extended, decode to a value or an error, never a panic.
    #[test]
    fn damaged_encodings_never_panic(
        s in subscription_strategy(),
        version in 0i16..=4,
        noise in proptest::collection::vec(any::<u8>(), 0..64),
        at in 0usize..128,
        cut in 0usize..128,
    ) {
        let _ = ConsumerSubscription::decode(&noise);
        let _ = ConsumerAssignment::decode(&noise);
        for mut bytes in [
            s.encode(version).unwrap(),
            ConsumerAssignment { partitions: s.owned_partitions.clone(), user_data: s.user_data.clone() }
                .encode(version)
                .unwrap(),
        ] {
            if let Some(b) = bytes.get_mut(at) {
                *b = noise.first().copied().unwrap_or(0xff);
            }
            bytes.truncate(cut);
            bytes.extend_from_slice(&noise);
            if let Err(e) = ConsumerSubscription::decode(&bytes) {
                prop_assert!(matches!(e, Error::InvalidRecord { .. }), "{:?}", e);
            }
            if let Err(e) = ConsumerAssignment::decode(&bytes) {
                prop_assert!(matches!(e, Error::InvalidRecord { .. }), "{:?}", e);
            }
        }
    }
}

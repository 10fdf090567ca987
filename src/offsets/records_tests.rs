//! Byte-level tests of the `__consumer_offsets` encodings, against vectors
//! written out by hand from Kafka's message schemas.

use super::records::*;

fn commit_key(group: &str, topic: &str, partition: i32) -> OffsetsKey {
    OffsetsKey::OffsetCommit(OffsetCommitKey {
        group: group.into(),
        topic: topic.into(),
        partition,
    })
}

#[test]
fn offset_commit_key_matches_the_reference_example() {
    // group "g", topic "t", partition 0 (KAFKA-REFERENCE 7.2).
    let bytes = commit_key("g", "t", 0).encode();
    assert_eq!(
        bytes,
        [0x00, 0x01, 0x00, 0x01, b'g', 0x00, 0x01, b't', 0, 0, 0, 0]
    );
    assert_eq!(OffsetsKey::decode(&bytes).unwrap(), commit_key("g", "t", 0));
}

#[test]
fn key_version_0_is_an_offset_commit_too() {
    let mut bytes = commit_key("grp", "orders", 7).encode();
    bytes[1] = 0;
    assert_eq!(
        OffsetsKey::decode(&bytes).unwrap(),
        commit_key("grp", "orders", 7)
    );
}

#[test]
fn group_metadata_key_is_version_2_and_the_group() {
    let key = OffsetsKey::GroupMetadata("my-group".into());
    let bytes = key.encode();
    let mut expected = vec![0x00, 0x02, 0x00, 0x08];
    expected.extend_from_slice(b"my-group");
    assert_eq!(bytes, expected);
    assert_eq!(OffsetsKey::decode(&bytes).unwrap(), key);
}

#[test]
fn unknown_key_versions_are_refused_by_number() {
    for version in [3i16, 8, 15, -1] {
        let mut bytes = version.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0, 1, b'g']);
        assert_eq!(
            OffsetsKey::decode(&bytes),
            Err(OffsetsRecordError::UnknownKeyVersion(version))
        );
    }
}

#[test]
fn offset_commit_value_is_written_in_version_3() {
    let value = OffsetCommitValue {
        offset: 42,
        leader_epoch: 5,
        metadata: "m".into(),
        commit_timestamp: 1_700_000_000_000,
        expire_timestamp: None,
    };
    let bytes = value.encode();
    let mut expected = vec![0x00, 0x03];
    expected.extend_from_slice(&42i64.to_be_bytes());
    expected.extend_from_slice(&[0, 0, 0, 5]);
    expected.extend_from_slice(&[0x00, 0x01, b'm']);
    expected.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
    assert_eq!(bytes, expected);
    assert_eq!(OffsetCommitValue::decode(&bytes).unwrap(), value);
}

#[test]
fn offset_commit_value_with_an_expiry_is_written_in_version_1() {
    let value = OffsetCommitValue {
        offset: 9,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: 100,
        expire_timestamp: Some(200),
    };
    let bytes = value.encode();
    let mut expected = vec![0x00, 0x01];
    expected.extend_from_slice(&9i64.to_be_bytes());
    expected.extend_from_slice(&[0x00, 0x00]);
    expected.extend_from_slice(&100i64.to_be_bytes());
    expected.extend_from_slice(&200i64.to_be_bytes());
    assert_eq!(bytes, expected);
    assert_eq!(OffsetCommitValue::decode(&bytes).unwrap(), value);
}

#[test]
fn offset_commit_values_of_versions_0_2_and_4_are_read() {
    // v0 and v2: offset, metadata, commit timestamp.
    for version in [0u8, 2] {
        let mut bytes = vec![0x00, version];
        bytes.extend_from_slice(&3i64.to_be_bytes());
        bytes.extend_from_slice(&[0x00, 0x02, b'h', b'i']);
        bytes.extend_from_slice(&77i64.to_be_bytes());
        let value = OffsetCommitValue::decode(&bytes).unwrap();
        assert_eq!(value.offset, 3);
        assert_eq!(value.leader_epoch, -1);
        assert_eq!(value.metadata, "hi");
        assert_eq!(value.commit_timestamp, 77);
        assert_eq!(value.expire_timestamp, None);
    }
    // v4: flexible; compact string (length + 1) and a tagged-field section,
    // here with one unknown tag of two bytes to skip.
    let mut bytes = vec![0x00, 0x04];
    bytes.extend_from_slice(&3i64.to_be_bytes());
    bytes.extend_from_slice(&[0, 0, 0, 2]);
    bytes.extend_from_slice(&[0x03, b'h', b'i']);
    bytes.extend_from_slice(&77i64.to_be_bytes());
    bytes.extend_from_slice(&[0x01, 0x05, 0x02, 0xaa, 0xbb]);
    let value = OffsetCommitValue::decode(&bytes).unwrap();
    assert_eq!(value.leader_epoch, 2);
    assert_eq!(value.metadata, "hi");
    assert_eq!(value.commit_timestamp, 77);
}

fn sample_group() -> GroupMetadataValue {
    GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 3,
        protocol: Some("range".into()),
        leader: Some("c-1".into()),
        current_state_timestamp: 1_000,
        members: vec![MemberMetadata {
            member_id: "c-1".into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "/h".into(),
            rebalance_timeout_ms: 300_000,
            session_timeout_ms: 45_000,
            subscription: vec![1, 2],
            assignment: vec![3],
        }],
    }
}

#[test]
fn group_metadata_value_is_written_in_version_3() {
    let bytes = sample_group().encode();
    let mut expected = vec![0x00, 0x03];
    expected.extend_from_slice(&[0x00, 0x08]);
    expected.extend_from_slice(b"consumer");
    expected.extend_from_slice(&3i32.to_be_bytes());
    expected.extend_from_slice(&[0x00, 0x05]);
    expected.extend_from_slice(b"range");
    expected.extend_from_slice(&[0x00, 0x03]);
    expected.extend_from_slice(b"c-1");
    expected.extend_from_slice(&1_000i64.to_be_bytes());
    expected.extend_from_slice(&1i32.to_be_bytes());
    expected.extend_from_slice(&[0x00, 0x03]);
    expected.extend_from_slice(b"c-1");
    expected.extend_from_slice(&[0xff, 0xff]); // no group.instance.id
    expected.extend_from_slice(&[0x00, 0x01, b'c']);
    expected.extend_from_slice(&[0x00, 0x02, b'/', b'h']);
    expected.extend_from_slice(&300_000i32.to_be_bytes());
    expected.extend_from_slice(&45_000i32.to_be_bytes());
    expected.extend_from_slice(&[0, 0, 0, 2, 1, 2]);
    expected.extend_from_slice(&[0, 0, 0, 1, 3]);
    assert_eq!(bytes, expected);
    assert_eq!(GroupMetadataValue::decode(&bytes).unwrap(), sample_group());
}

#[test]
fn group_metadata_value_version_0_lacks_the_later_fields() {
    let mut bytes = vec![0x00, 0x00, 0x00, 0x00]; // empty protocol type
    bytes.extend_from_slice(&0i32.to_be_bytes());
    bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // null protocol, leader
    bytes.extend_from_slice(&0i32.to_be_bytes()); // no members
    let value = GroupMetadataValue::decode(&bytes).unwrap();
    assert_eq!(value.protocol, None);
    assert_eq!(value.leader, None);
    assert_eq!(value.current_state_timestamp, -1);
    assert!(value.members.is_empty());
}

#[test]
fn damaged_values_are_errors_never_panics() {
    let good = [
        sample_group().encode(),
        OffsetCommitValue {
            offset: 1,
            leader_epoch: 0,
            metadata: "x".repeat(40),
            commit_timestamp: 5,
            expire_timestamp: None,
        }
        .encode(),
        commit_key("group", "topic", 3).encode(),
    ];
    for (kind, bytes) in good.iter().enumerate() {
        for cut in 0..bytes.len() {
            let short = &bytes[..cut];
            let results = [
                GroupMetadataValue::decode(short).is_err(),
                OffsetCommitValue::decode(short).is_err(),
                OffsetsKey::decode(short).is_err(),
            ];
            assert!(results[kind], "a cut at {cut} of encoding {kind} decoded");
        }
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad[i] ^= flip;
                let _ = GroupMetadataValue::decode(&bad);
                let _ = OffsetCommitValue::decode(&bad);
                let _ = OffsetsKey::decode(&bad);
            }
        }
    }
    let mut trailing = commit_key("g", "t", 0).encode();
    trailing.push(0);
    assert!(matches!(
        OffsetsKey::decode(&trailing),
        Err(OffsetsRecordError::Malformed {
            position: 12,
            reason: "trailing bytes"
        })
    ));
    let mut huge_count = vec![0x00, 0x03, 0x00, 0x00, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
    huge_count.extend_from_slice(&0i64.to_be_bytes());
    huge_count.extend_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(
        GroupMetadataValue::decode(&huge_count),
        Err(OffsetsRecordError::Malformed { .. })
    ));
    assert_eq!(
        OffsetCommitValue::decode(&[0x00, 0x05]),
        Err(OffsetsRecordError::UnknownValueVersion(5))
    );
}

#[test]
fn group_partition_is_javas_string_hash_mod_partitions() {
    assert_eq!(java_string_hash("my-group"), -1_906_497_762);
    assert_eq!(partition_for_group("my-group", 50), 12);
    assert_eq!(java_string_hash(""), 0);
    assert_eq!(java_string_hash("a"), 97);
    // "Aa" and "BB" collide in Java.
    assert_eq!(java_string_hash("Aa"), java_string_hash("BB"));
    assert_eq!(java_string_hash("hello"), 99_162_322);
    // Outside the BMP, Java hashes the two UTF-16 surrogates.
    assert_eq!(java_string_hash("\u{1F600}"), 0xD83D * 31 + 0xDE00);
    // A hash of i32::MIN counts as 0: "polygenelubricants" is Java's
    // well-known string with that hash.
    assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    assert_eq!(partition_for_group("polygenelubricants", 7), 0);
    assert_eq!(partition_for_group("any", 1), 0);
}

//! `dump --offsets-decoder`: the keys and values of `__consumer_offsets`
//! records as readable JSON, in the shape of Kafka's `kafka-dump-log
//! --offsets-decoder` (`{"type":"1","data":{...}}` for a key,
//! `{"version":"3","data":{...}}` for a value, `<DELETE>` for a
//! tombstone). Subscription and assignment bytes are base64.

use std::fmt::Write;

use seglog::offsets::records::{
    GroupMetadataValue, OffsetCommitValue, OffsetsKey, OffsetsRecordError,
};

use crate::json;

/// A record's key and value decoded: `(key, payload)`, each JSON (or
/// `<DELETE>` for a tombstone's payload). A key or value that cannot be
/// read is shown as `{"error": "..."}`.
pub fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> (String, String) {
    let Some(key) = key else {
        return (
            error("the record has no key"),
            value.map_or("<DELETE>".to_string(), |_| {
                error("no key to read the value by")
            }),
        );
    };
    let key = match OffsetsKey::decode(key) {
        Ok(k) => k,
        Err(e) => return (error(&e.to_string()), "null".to_string()),
    };
    let key_json = key_json(&key);
    let payload = match value {
        None => "<DELETE>".to_string(),
        Some(v) => match &key {
            OffsetsKey::OffsetCommit(_) => {
                versioned(v, OffsetCommitValue::decode(v).map(|c| commit_json(&c)))
            }
            OffsetsKey::GroupMetadata(_) => {
                versioned(v, GroupMetadataValue::decode(v).map(|g| group_json(&g)))
            }
        },
    };
    (key_json, payload)
}

fn error(reason: &str) -> String {
    let mut s = String::from("{\"error\":");
    json::string(&mut s, reason);
    s.push('}');
    s
}

fn versioned(bytes: &[u8], data: Result<String, OffsetsRecordError>) -> String {
    match data {
        Ok(data) => {
            let version = i16::from_be_bytes([bytes[0], bytes[1]]);
            format!("{{\"version\":\"{version}\",\"data\":{data}}}")
        }
        Err(e) => error(&e.to_string()),
    }
}

fn key_json(key: &OffsetsKey) -> String {
    let mut s = String::new();
    match key {
        OffsetsKey::OffsetCommit(k) => {
            s.push_str("{\"type\":\"1\",\"data\":{\"group\":");
            json::string(&mut s, &k.group);
            s.push_str(",\"topic\":");
            json::string(&mut s, &k.topic);
            let _ = write!(s, ",\"partition\":{}}}}}", k.partition);
        }
        OffsetsKey::GroupMetadata(group) => {
            s.push_str("{\"type\":\"2\",\"data\":{\"group\":");
            json::string(&mut s, group);
            s.push_str("}}");
        }
    }
    s
}

fn commit_json(c: &OffsetCommitValue) -> String {
    let mut s = format!(
        "{{\"offset\":{},\"leaderEpoch\":{},\"metadata\":",
        c.offset, c.leader_epoch
    );
    json::string(&mut s, &c.metadata);
    let _ = write!(s, ",\"commitTimestamp\":{}", c.commit_timestamp);
    if let Some(expire) = c.expire_timestamp {
        let _ = write!(s, ",\"expireTimestamp\":{expire}");
    }
    s.push('}');
    s
}

fn nullable(s: &mut String, text: Option<&str>) {
    match text {
        Some(t) => json::string(s, t),
        None => s.push_str("null"),
    }
}

fn group_json(g: &GroupMetadataValue) -> String {
    let mut s = String::from("{\"protocolType\":");
    json::string(&mut s, &g.protocol_type);
    let _ = write!(s, ",\"generation\":{},\"protocol\":", g.generation);
    nullable(&mut s, g.protocol.as_deref());
    s.push_str(",\"leader\":");
    nullable(&mut s, g.leader.as_deref());
    let _ = write!(
        s,
        ",\"currentStateTimestamp\":{},\"members\":[",
        g.current_state_timestamp
    );
    for (i, m) in g.members.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"memberId\":");
        json::string(&mut s, &m.member_id);
        s.push_str(",\"groupInstanceId\":");
        nullable(&mut s, m.group_instance_id.as_deref());
        s.push_str(",\"clientId\":");
        json::string(&mut s, &m.client_id);
        s.push_str(",\"clientHost\":");
        json::string(&mut s, &m.client_host);
        let _ = write!(
            s,
            ",\"rebalanceTimeout\":{},\"sessionTimeout\":{},\"subscription\":\"",
            m.rebalance_timeout_ms, m.session_timeout_ms
        );
        json::base64(&mut s, &m.subscription);
        s.push_str("\",\"assignment\":\"");
        json::base64(&mut s, &m.assignment);
        s.push_str("\"}");
    }
    s.push_str("]}");
    s
}

#[cfg(test)]
mod tests {
    use seglog::offsets::records::{MemberMetadata, OffsetCommitKey};

    use super::*;

    #[test]
    fn commits_and_groups_read_as_kafkas_tool_prints_them() {
        let key = OffsetsKey::OffsetCommit(OffsetCommitKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        })
        .encode();
        let value = OffsetCommitValue {
            offset: 42,
            leader_epoch: -1,
            metadata: "m".into(),
            commit_timestamp: 1000,
            expire_timestamp: None,
        }
        .encode();
        assert_eq!(
            decode(Some(&key), Some(&value)),
            (
                r#"{"type":"1","data":{"group":"g","topic":"t","partition":3}}"#.to_string(),
                r#"{"version":"3","data":{"offset":42,"leaderEpoch":-1,"metadata":"m","commitTimestamp":1000}}"#
                    .to_string()
            )
        );
        assert_eq!(decode(Some(&key), None).1, "<DELETE>");

        let key = OffsetsKey::GroupMetadata("g".into()).encode();
        let value = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 2,
            protocol: Some("range".into()),
            leader: Some("m-1".into()),
            current_state_timestamp: 5,
            members: vec![MemberMetadata {
                member_id: "m-1".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/h".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: b"foo".to_vec(),
                assignment: vec![],
            }],
        }
        .encode();
        assert_eq!(
            decode(Some(&key), Some(&value)).1,
            r#"{"version":"3","data":{"protocolType":"consumer","generation":2,"protocol":"range","leader":"m-1","currentStateTimestamp":5,"members":[{"memberId":"m-1","groupInstanceId":null,"clientId":"c","clientHost":"/h","rebalanceTimeout":300000,"sessionTimeout":45000,"subscription":"Zm9v","assignment":""}]}}"#
        );
    }

    #[test]
    fn records_that_are_not_offsets_records_are_shown_as_errors() {
        let (key, payload) = decode(Some(b"\x00\x07junk"), Some(b"v"));
        assert_eq!(
            key,
            r#"{"error":"unknown __consumer_offsets key version 7"}"#
        );
        assert_eq!(payload, "null");
        let (key, _) = decode(None, Some(b"v"));
        assert!(key.contains("no key"));
        let group_key = OffsetsKey::GroupMetadata("g".into()).encode();
        let (_, payload) = decode(Some(&group_key), Some(&[0, 3, 0]));
        assert!(payload.starts_with("{\"error\":\"malformed"), "{payload}");
    }
}

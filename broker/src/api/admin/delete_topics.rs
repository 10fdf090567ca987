//! DeleteTopics: topics named in the request are deleted with their data
//! (versions 1 to 5; version 6 names topics by id, which the store does
//! not keep).

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsResponse, TopicName};

use std::collections::HashSet;

use super::{duplicate_name, repeated_names, str_bytes, ApiError};
use crate::api::{Context, Outcome};
use crate::codec::{DecodeResult, Reader};
use crate::Shared;

/// Reads a DeleteTopics request (versions 1 to 5): the topic names.
pub fn decode(body: &mut Reader) -> DecodeResult<Vec<String>> {
    let names = body.array(|r| r.string())?;
    let _timeout_ms = body.i32()?;
    body.tagged_fields()?;
    body.finish()?;
    Ok(names)
}

/// DeleteTopics.
pub fn handle(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let names = decode(body)?;
    Ok(ctx.respond(&answer(ctx.shared, &names, ctx.version())))
}

/// Deletes each topic; a name given twice gets `INVALID_REQUEST` first
/// and is not deleted, as Kafka answers.
pub fn answer(shared: &Shared, names: &[String], version: i16) -> DeleteTopicsResponse {
    let twice = repeated_names(names.iter().map(String::as_str));
    let mut response = DeleteTopicsResponse::default();
    for &name in &twice {
        response
            .responses
            .push(result(name, Err(duplicate_name()), version));
    }
    let skip: HashSet<&str> = twice.into_iter().collect();
    for name in names.iter().filter(|n| !skip.contains(n.as_str())) {
        let deleted = shared
            .store
            .delete_topic(name)
            .map_err(|e| ApiError::from_store(&e));
        response.responses.push(result(name, deleted, version));
    }
    response
}

fn result(name: &str, outcome: Result<(), ApiError>, version: i16) -> DeletableTopicResult {
    let mut r = DeletableTopicResult::default();
    r.name = Some(TopicName(str_bytes(name)));
    if let Err(e) = outcome {
        r.error_code = e.code;
        if version >= 5 {
            r.error_message = e.message();
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafka_protocol::messages::DeleteTopicsRequest as Wire;
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::api::admin::testing::{encoded, encodes_at, TestBroker};
    use crate::errors::code;

    fn request(names: &[&str]) -> Wire {
        Wire::default()
            .with_topic_names(
                names
                    .iter()
                    .map(|n| TopicName(StrBytes::from_string(n.to_string())))
                    .collect(),
            )
            .with_timeout_ms(1000)
    }

    fn codes(r: &DeleteTopicsResponse) -> Vec<(String, i16)> {
        r.responses
            .iter()
            .map(|t| (t.name.as_ref().unwrap().0.to_string(), t.error_code))
            .collect()
    }

    #[test]
    fn decodes_what_kafka_protocol_encodes_classic_and_flexible() {
        let wire = request(&["a", "b"]);
        for version in [3, 4] {
            let mut r = Reader::new(encoded(&wire, version), version >= 4);
            assert_eq!(decode(&mut r).unwrap(), ["a", "b"], "v{version}");
        }
        let tagged = wire.with_unknown_tagged_field(3, Bytes::from_static(b"!"));
        let mut r = Reader::new(encoded(&tagged, 5), true);
        assert_eq!(decode(&mut r).unwrap(), ["a", "b"]);
        let body = encoded(&request(&["a"]), 1);
        let why = TestBroker::new().refused::<Wire>(1, body.slice(..body.len() - 1));
        assert!(why.contains("DeleteTopics v1"), "{why}");
    }

    #[test]
    fn deletes_topics_and_their_directories() {
        let b = TestBroker::new();
        b.store().create_topic("gone", 2, &[]).unwrap();
        b.store().create_topic("kept", 1, &[]).unwrap();
        let response = b.call(4, &request(&["gone"]));
        assert_eq!(codes(&response), [("gone".into(), 0)]);
        assert_eq!(response.responses[0].error_message, None);
        assert_eq!(b.store().list_topics(), ["kept"]);
        let dirs: Vec<String> = std::fs::read_dir(b.store().dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("gone"))
            .collect();
        assert!(dirs.is_empty(), "{dirs:?}");
    }

    #[test]
    fn unknown_internal_and_repeated_names_are_refused() {
        let b = TestBroker::new();
        b.store().create_topic("twice", 1, &[]).unwrap();
        let response = b.call(
            5,
            &request(&["missing", "twice", "__consumer_offsets", "twice"]),
        );
        assert_eq!(
            codes(&response),
            [
                ("twice".into(), code::INVALID_REQUEST),
                ("missing".into(), code::UNKNOWN_TOPIC_OR_PARTITION),
                ("__consumer_offsets".into(), code::INVALID_TOPIC_EXCEPTION),
            ]
        );
        let message = response.responses[2].error_message.as_deref().unwrap();
        assert!(message.contains("internal"), "{message}");
        assert_eq!(b.store().list_topics(), ["twice"]);
        // Before version 5 there is no message.
        let response = b.call(4, &request(&["missing"]));
        assert_eq!(response.responses[0].error_message, None);
    }

    #[test]
    fn responses_encode_at_every_served_version() {
        let b = TestBroker::new();
        b.store().create_topic("t", 1, &[]).unwrap();
        for version in 1..=5 {
            let response = answer(&b.shared, &["missing".to_string()], version);
            encodes_at(&response, version..=version);
            b.store().create_topic("t2", 1, &[]).unwrap();
            let read = b.call(version, &request(&["t2"]));
            assert_eq!(codes(&read), [("t2".into(), 0)], "v{version}");
        }
    }
}

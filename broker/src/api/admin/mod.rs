//! The admin APIs: creating, growing and deleting topics, describing
//! configs and deleting records, as a single-node Kafka cluster answers
//! them (every partition has one replica, on this node).
//!
//! Each API decodes its request into a plain struct (`decode`), acts on
//! the store and builds the response (`answer`); `handle` joins the two.
//! The checks follow Kafka's controller and broker, in Kafka's order and
//! with its messages where a client may show them.

pub mod create_partitions;
pub mod create_topics;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_configs;

mod config_entries;
#[cfg(test)]
mod testing;

use std::collections::HashSet;

use kafka_protocol::protocol::StrBytes;

use crate::errors::{code, error_code};

/// An error code and the message that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Kafka's error code.
    pub code: i16,
    /// A sentence for the client.
    pub message: String,
}

impl ApiError {
    /// An error of `code` saying `message`.
    pub fn new(code: i16, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// The code and message a store error gets.
    pub fn from_store(e: &seglog::Error) -> Self {
        ApiError::new(error_code(e), e.to_string())
    }

    /// The message as a response field.
    pub fn message(&self) -> Option<StrBytes> {
        Some(StrBytes::from_string(self.message.clone()))
    }
}

/// The names given more than once, each once, in the order in which each
/// is first repeated. Kafka's controller answers each of them once with
/// `INVALID_REQUEST` and acts on none of their entries.
pub fn repeated_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    let mut reported = HashSet::new();
    names
        .into_iter()
        .filter(|&n| !seen.insert(n) && reported.insert(n))
        .collect()
}

/// The error of a name given more than once.
pub fn duplicate_name() -> ApiError {
    ApiError::new(code::INVALID_REQUEST, "Duplicate topic name.")
}

/// Checks one partition's replicas in a manual assignment, as Kafka's
/// controller does: at least one, each a registered broker (here: only
/// this node), none twice, and as many as the topic's other partitions
/// have (`replication_factor`, when known).
///
/// # Errors
/// `INVALID_REPLICA_ASSIGNMENT` with Kafka's message.
pub fn check_replicas(
    node_id: i32,
    replicas: &[i32],
    replication_factor: Option<usize>,
) -> Result<(), ApiError> {
    let invalid = |m: String| Err(ApiError::new(code::INVALID_REPLICA_ASSIGNMENT, m));
    if replicas.is_empty() {
        return invalid(
            "The manual partition assignment includes an empty replica list.".to_string(),
        );
    }
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    for (i, &broker) in sorted.iter().enumerate() {
        if broker != node_id {
            return invalid(format!(
                "The manual partition assignment includes broker {broker}, but no such broker is registered."
            ));
        }
        if i > 0 && sorted[i - 1] == broker {
            return invalid(format!(
                "The manual partition assignment includes the broker {broker} more than once."
            ));
        }
    }
    match replication_factor {
        Some(rf) if rf != sorted.len() => invalid(format!(
            "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {rf} replica(s).",
            sorted.len()
        )),
        _ => Ok(()),
    }
}

/// A string as a response field.
pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_are_reported_once() {
        assert_eq!(repeated_names(["a", "b", "b", "c", "a", "b"]), ["b", "a"]);
        assert!(repeated_names(["x", "y"]).is_empty());
    }

    #[test]
    fn replicas_must_be_this_node_once() {
        check_replicas(0, &[0], None).unwrap();
        check_replicas(3, &[3], Some(1)).unwrap();
        for (replicas, rf, says) in [
            (&[][..], None, "empty replica list"),
            (&[1][..], None, "broker 1, but no such broker"),
            (&[0, 0][..], None, "broker 0 more than once"),
            (
                &[0][..],
                Some(2),
                "1 replica(s), but this is not consistent",
            ),
        ] {
            let e = check_replicas(0, replicas, rf).unwrap_err();
            assert_eq!(e.code, code::INVALID_REPLICA_ASSIGNMENT);
            assert!(e.message.contains(says), "{replicas:?}: {}", e.message);
        }
    }
}

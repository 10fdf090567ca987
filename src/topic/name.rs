//! Topic names and partition directory names.
//!
//! A topic name follows Kafka's rules: 1 to 249 characters, each an ASCII
//! letter, digit, `.`, `_` or `-`, and neither `.` nor `..`. The name is
//! part of a file-system path (a partition lives in the directory
//! `<topic>-<partition>`), and the character rule is what keeps it from
//! escaping the data directory: `/`, `\`, NUL and every other separator or
//! control character are refused, and the only names made of dots alone
//! that pass (`...` and longer) are ordinary file names.
//!
//! A partition directory's name is the topic, a `-`, and the partition
//! number in decimal: `orders-0`, `my-topic-12`. Since topic names may
//! contain `-` themselves, a directory name is split at its **last** `-`.

use crate::error::{Error, Result};

/// The longest topic name Kafka accepts, in characters.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Checks `name` against Kafka's rules for topic names.
///
/// ```
/// use seglog::topic::validate_topic_name;
/// assert!(validate_topic_name("orders.v2_eu-west").is_ok());
/// assert!(validate_topic_name("../etc").is_err());
/// ```
///
/// # Errors
/// [`Error::InvalidTopic`] whose reason names the rule broken: the name is
/// empty, is `.` or `..`, is longer than [`MAX_TOPIC_NAME_LEN`] bytes, or
/// holds a character other than an ASCII letter, digit, `.`, `_` or `-`
/// (the first such character is named, with its byte position).
pub fn validate_topic_name(name: &str) -> Result<()> {
    let invalid = |reason: String| Error::InvalidTopic {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("a topic name must not be empty".into()));
    }
    if name == "." || name == ".." {
        return Err(invalid(format!("a topic name must not be {name:?}")));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(invalid(format!(
            "a topic name is at most {MAX_TOPIC_NAME_LEN} characters long, this one has {} bytes",
            name.len()
        )));
    }
    if let Some((position, c)) = name.char_indices().find(|&(_, c)| !is_legal_char(c)) {
        return Err(invalid(format!(
            "character {c:?} at byte {position} is not allowed: \
             a topic name holds only ASCII letters, digits, '.', '_' and '-'"
        )));
    }
    Ok(())
}

fn is_legal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// The name of the directory holding partition `partition` of `topic`:
/// `<topic>-<partition>`, as Kafka names it.
///
/// The topic is not checked here; pass only names that passed
/// [`validate_topic_name`].
///
/// ```
/// use seglog::topic::partition_dir_name;
/// assert_eq!(partition_dir_name("orders", 3), "orders-3");
/// ```
pub fn partition_dir_name(topic: &str, partition: u32) -> String {
    format!("{topic}-{partition}")
}

/// Splits a partition directory name into topic and partition, the
/// inverse of [`partition_dir_name`].
///
/// The name is split at its last `-`. The part before it must be a valid
/// topic name ([`validate_topic_name`]) and the part after it a plain
/// decimal number that fits a `u32`: digits only (no sign, no `+`, no
/// spaces) and no leading zero unless the number is `0`, so that each
/// partition has exactly one directory name. Anything else (including the
/// directories Kafka marks for deletion, `orders-0.<id>-delete`, or for a
/// move, `orders-0.<id>-future`) gives `None`.
///
/// ```
/// use seglog::topic::parse_partition_dir_name;
/// assert_eq!(parse_partition_dir_name("my-topic-12"), Some(("my-topic".to_string(), 12)));
/// assert_eq!(parse_partition_dir_name("orders-+1"), None);
/// assert_eq!(parse_partition_dir_name("orders"), None);
/// ```
pub fn parse_partition_dir_name(dir: &str) -> Option<(String, u32)> {
    let (topic, partition) = dir.rsplit_once('-')?;
    validate_topic_name(topic).ok()?;
    if partition.is_empty()
        || !partition.bytes().all(|b| b.is_ascii_digit())
        || (partition.len() > 1 && partition.starts_with('0'))
    {
        return None;
    }
    let partition = partition.parse::<u32>().ok()?;
    Some((topic.to_owned(), partition))
}

/// The internal topic of committed consumer offsets and group metadata.
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Whether `name` is an internal topic (`__consumer_offsets`): the store
/// creates and writes it itself; producers may not write it.
pub fn is_internal_topic(name: &str) -> bool {
    name == CONSUMER_OFFSETS_TOPIC
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(name: &str) -> String {
        match validate_topic_name(name) {
            Err(Error::InvalidTopic { name: n, reason }) => {
                assert_eq!(n, name);
                reason
            }
            other => panic!("{name:?}: expected InvalidTopic, got {other:?}"),
        }
    }

    #[test]
    fn accepts_kafkas_legal_names() {
        let longest = "a".repeat(MAX_TOPIC_NAME_LEN);
        for name in [
            "a",
            "orders",
            "Orders.V2",
            "my_topic-1",
            "__consumer_offsets",
            "...",
            ".hidden",
            "-",
            "0",
            longest.as_str(),
        ] {
            validate_topic_name(name).unwrap();
        }
    }

    #[test]
    fn each_broken_rule_is_named() {
        assert!(reason("").contains("empty"));
        assert!(reason(".").contains("\".\""));
        assert!(reason("..").contains("\"..\""));
        assert!(reason(&"a".repeat(MAX_TOPIC_NAME_LEN + 1)).contains("249"));
        let r = reason("orders/eu");
        assert!(r.contains("'/'") && r.contains("byte 6"), "{r}");
        assert!(reason("a b").contains("' '"));
        assert!(reason("a\0").contains("'\\0'"));
        assert!(reason("a\\b").contains("'\\\\'"));
        assert!(reason("caf\u{e9}").contains("'\u{e9}'"));
        assert!(reason("a:b").contains("':'"));
        // The first bad character is the one named.
        let r = reason("ok*bad/");
        assert!(r.contains("'*'") && !r.contains("'/'"), "{r}");
    }

    #[test]
    fn no_name_escapes_its_directory() {
        for name in ["../x", "/abs", "a/..", "..\\x", "x\0y", "~", "a\nb", ""] {
            assert!(validate_topic_name(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn dir_names_round_trip() {
        for (topic, partition) in [
            ("orders", 0),
            ("my-topic", 12),
            ("a-1", 7),
            ("-", 3),
            ("...", 1),
            ("orders-", 1),
            ("t", u32::MAX),
        ] {
            let dir = partition_dir_name(topic, partition);
            assert_eq!(
                parse_partition_dir_name(&dir),
                Some((topic.to_owned(), partition)),
                "{dir}"
            );
        }
        assert_eq!(partition_dir_name("my-topic", 12), "my-topic-12");
    }

    #[test]
    fn bad_dir_names_are_not_partitions() {
        for dir in [
            "orders",
            "orders-",
            "-0",
            "orders-+1",
            "orders-01",
            "orders-1a",
            "orders- 1",
            "orders-4294967296",
            "..-0",
            ".-0",
            "a/b-0",
            "orders-0.f2c0e0b4a8d94b5e9f1b8a1c2d3e4f50-delete",
            "orders-0.f2c0e0b4a8d94b5e9f1b8a1c2d3e4f50-future",
            "",
        ] {
            assert_eq!(parse_partition_dir_name(dir), None, "{dir}");
        }
        assert_eq!(
            parse_partition_dir_name("orders-0"),
            Some(("orders".into(), 0))
        );
    }
}

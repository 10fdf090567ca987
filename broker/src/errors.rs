//! Kafka's protocol error codes, and which one each library error gets.

use seglog::Error;

/// Kafka's error codes used by this broker (`org.apache.kafka.common.protocol.Errors`).
#[allow(missing_docs)]
pub mod code {
    pub const UNKNOWN_SERVER_ERROR: i16 = -1;
    pub const NONE: i16 = 0;
    pub const OFFSET_OUT_OF_RANGE: i16 = 1;
    pub const CORRUPT_MESSAGE: i16 = 2;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    pub const MESSAGE_TOO_LARGE: i16 = 10;
    pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
    pub const RECORD_LIST_TOO_LARGE: i16 = 18;
    pub const INVALID_REQUIRED_ACKS: i16 = 21;
    pub const ILLEGAL_GENERATION: i16 = 22;
    pub const INVALID_GROUP_ID: i16 = 24;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    pub const INVALID_TIMESTAMP: i16 = 32;
    pub const UNSUPPORTED_VERSION: i16 = 35;
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
    pub const INVALID_PARTITIONS: i16 = 37;
    pub const INVALID_REPLICATION_FACTOR: i16 = 38;
    pub const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
    pub const INVALID_CONFIG: i16 = 40;
    pub const INVALID_REQUEST: i16 = 42;
    pub const POLICY_VIOLATION: i16 = 44;
    pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
    pub const KAFKA_STORAGE_ERROR: i16 = 56;
    pub const NON_EMPTY_GROUP: i16 = 68;
    pub const GROUP_ID_NOT_FOUND: i16 = 69;
    pub const UNSUPPORTED_COMPRESSION_TYPE: i16 = 76;
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    pub const INVALID_RECORD: i16 = 87;
}

/// The Kafka error code a client gets for `e`.
pub fn error_code(e: &Error) -> i16 {
    match e {
        Error::OffsetOutOfRange { .. } => code::OFFSET_OUT_OF_RANGE,
        Error::RecordTooLarge { .. } => code::MESSAGE_TOO_LARGE,
        Error::InvalidBatch { .. } => code::CORRUPT_MESSAGE,
        Error::InvalidRecord { .. } | Error::MissingKey { .. } => code::INVALID_RECORD,
        Error::InvalidTopic { .. } => code::INVALID_TOPIC_EXCEPTION,
        Error::TopicExists { .. } => code::TOPIC_ALREADY_EXISTS,
        Error::UnknownTopic { .. } | Error::UnknownPartition { .. } => {
            code::UNKNOWN_TOPIC_OR_PARTITION
        }
        Error::InvalidPartitions { .. } => code::INVALID_PARTITIONS,
        Error::InvalidConfig { .. } => code::INVALID_CONFIG,
        Error::CompressionUnavailable { .. } => code::UNSUPPORTED_COMPRESSION_TYPE,
        Error::Group { kind, .. } => kind.kafka_code(),
        // The store is closing: clients retry elsewhere (here: later).
        Error::Closed | Error::StoreClosed { .. } => code::NOT_LEADER_OR_FOLLOWER,
        Error::Io { .. }
        | Error::Corrupt { .. }
        | Error::Poisoned { .. }
        | Error::MissingPartition { .. } => code::KAFKA_STORAGE_ERROR,
        _ => code::UNKNOWN_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_map_to_kafkas_codes() {
        let unknown = Error::UnknownTopic { name: "t".into() };
        assert_eq!(error_code(&unknown), 3);
        let big = Error::InvalidBatch {
            position: 0,
            reason: "crc".into(),
        };
        assert_eq!(error_code(&big), 2);
        assert_eq!(error_code(&Error::Closed), 6);
        let closed = Error::StoreClosed { path: "/s".into() };
        assert_eq!(error_code(&closed), 6);
    }
}

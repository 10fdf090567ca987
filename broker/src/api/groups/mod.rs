//! The consumer-group APIs: finding the coordinator, the classic group
//! protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), committed
//! offsets (OffsetCommit, OffsetFetch) and the administration of groups
//! (ListGroups, DescribeGroups, DeleteGroups).
//!
//! The one node coordinates every group. The store's
//! [`GroupCoordinator`](seglog::offsets::GroupCoordinator) runs the
//! protocol; these handlers decode the requests, hand them to it (or to
//! the store's commit and group-administration calls) and encode its
//! answers in each version's shape. JoinGroup and SyncGroup block the
//! connection's thread while the coordinator parks them, as Kafka parks
//! the requests; closing the store wakes them.

pub mod admin;
pub mod coordinator;
pub mod join;
pub mod membership;
pub mod offset_commit;
pub mod offset_fetch;
pub mod sync;

#[cfg(test)]
mod harness;

use kafka_protocol::protocol::StrBytes;
use seglog::Error;

use crate::errors::{code, error_code};

/// The error code a group request gets for `e`: a closed store is a
/// coordinator that is not available (clients look for it again and
/// retry), as Kafka answers while its coordinator is shutting down.
pub fn group_error_code(e: &Error) -> i16 {
    match e {
        Error::Closed | Error::StoreClosed { .. } => code::COORDINATOR_NOT_AVAILABLE,
        other => error_code(other),
    }
}

/// A response string.
fn text(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use seglog::GroupErrorKind;

    #[test]
    fn a_closed_store_is_an_unavailable_coordinator() {
        assert_eq!(group_error_code(&Error::Closed), 15);
        let closed = Error::StoreClosed { path: "/s".into() };
        assert_eq!(group_error_code(&closed), 15);
        let unknown = Error::Group {
            group: "g".into(),
            kind: GroupErrorKind::UnknownMemberId,
        };
        assert_eq!(group_error_code(&unknown), 25);
    }
}

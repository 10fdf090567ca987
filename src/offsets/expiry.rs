//! Which committed offsets have expired (Kafka's
//! `offsets.retention.minutes`): a pure function of a group's state, its
//! offsets and the time, as Kafka's classic group decides it.
//!
//! * A group that has never had members (offsets committed by consumers
//!   outside group management): each offset expires `retention` after its
//!   own commit.
//! * A group without members now: all its offsets expire `retention` after
//!   the group became empty (or after their commit where that time is not
//!   known).
//! * A stable consumer group: only offsets of topics no member subscribes
//!   to expire, `retention` after their commit (KIP-496).
//! * Any other group (one rebalancing, or stable without known
//!   subscriptions): nothing expires.
//!
//! An offset committed with an explicit expiry time (value version 1)
//! expires at that time instead.

use std::collections::BTreeSet;

use super::state::Committed;
use crate::store::TopicPartition;

/// What expiry needs to know about a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GroupActivity {
    /// The group has never had members (no protocol type).
    Standalone,
    /// The group has no members; `since` is when it became empty, if known.
    Empty {
        /// When the group became empty (ms since the Unix epoch).
        since: Option<i64>,
    },
    /// The group is stable; `subscribed` are the topics its members
    /// subscribe to, when known (consumer groups).
    Stable {
        /// Topics some member subscribes to.
        subscribed: Option<BTreeSet<String>>,
    },
    /// The group is rebalancing: nothing expires.
    Rebalancing,
}

/// The partitions whose committed offsets have expired at `now`.
pub(crate) fn expired_offsets<'a>(
    activity: &GroupActivity,
    offsets: impl IntoIterator<Item = (&'a TopicPartition, &'a Committed)>,
    now: i64,
    retention_ms: i64,
) -> Vec<TopicPartition> {
    let (subscribed, base_override): (Option<&BTreeSet<String>>, Option<Option<i64>>) =
        match activity {
            GroupActivity::Standalone => (None, None),
            GroupActivity::Empty { since } => (None, Some(*since)),
            GroupActivity::Stable {
                subscribed: Some(topics),
            } => (Some(topics), None),
            GroupActivity::Stable { subscribed: None } | GroupActivity::Rebalancing => {
                return Vec::new()
            }
        };
    offsets
        .into_iter()
        .filter(|(tp, _)| subscribed.is_none_or(|topics| !topics.contains(&tp.topic)))
        .filter(|(_, c)| match c.expire_timestamp {
            Some(expire) => now >= expire,
            None => {
                let base = base_override.flatten().unwrap_or(c.commit_timestamp);
                now.saturating_sub(base) >= retention_ms
            }
        })
        .map(|(tp, _)| tp.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offsets::OffsetAndMetadata;

    const DAY: i64 = 86_400_000;
    const WEEK: i64 = 7 * DAY;

    fn offsets(entries: &[(&str, i64, Option<i64>)]) -> Vec<(TopicPartition, Committed)> {
        entries
            .iter()
            .map(|(topic, committed_at, expire)| {
                (
                    TopicPartition::new(*topic, 0),
                    Committed {
                        value: OffsetAndMetadata::new(1),
                        commit_timestamp: *committed_at,
                        expire_timestamp: *expire,
                    },
                )
            })
            .collect()
    }

    fn expired(
        activity: GroupActivity,
        entries: &[(&str, i64, Option<i64>)],
        now: i64,
    ) -> Vec<String> {
        let offsets = offsets(entries);
        expired_offsets(&activity, offsets.iter().map(|(tp, c)| (tp, c)), now, WEEK)
            .into_iter()
            .map(|tp| tp.topic)
            .collect()
    }

    #[test]
    fn standalone_offsets_expire_a_retention_after_their_own_commit() {
        let entries = [("old", 0, None), ("new", 3 * DAY, None)];
        assert_eq!(
            expired(GroupActivity::Standalone, &entries, WEEK - 1),
            Vec::<String>::new()
        );
        assert_eq!(expired(GroupActivity::Standalone, &entries, WEEK), ["old"]);
        assert_eq!(
            expired(GroupActivity::Standalone, &entries, WEEK + 3 * DAY),
            ["old", "new"]
        );
    }

    #[test]
    fn an_empty_groups_offsets_expire_a_retention_after_it_became_empty() {
        // Committed long ago, but the group only emptied on day 5.
        let entries = [("a", 0, None), ("b", DAY, None)];
        let empty = GroupActivity::Empty {
            since: Some(5 * DAY),
        };
        assert!(expired(empty.clone(), &entries, 5 * DAY + WEEK - 1).is_empty());
        assert_eq!(expired(empty, &entries, 5 * DAY + WEEK), ["a", "b"]);
        // Without the time it emptied, each commit's own time counts.
        let unknown = GroupActivity::Empty { since: None };
        assert_eq!(expired(unknown, &entries, WEEK), ["a"]);
    }

    #[test]
    fn a_stable_group_loses_only_offsets_of_topics_nobody_subscribes_to() {
        let entries = [("subscribed", 0, None), ("abandoned", 0, None)];
        let stable = GroupActivity::Stable {
            subscribed: Some(BTreeSet::from(["subscribed".to_string()])),
        };
        assert_eq!(expired(stable, &entries, WEEK), ["abandoned"]);
        let unknown = GroupActivity::Stable { subscribed: None };
        assert!(expired(unknown, &entries, 10 * WEEK).is_empty());
        assert!(expired(GroupActivity::Rebalancing, &entries, 10 * WEEK).is_empty());
    }

    #[test]
    fn an_explicit_expiry_time_wins() {
        let entries = [("short", 0, Some(DAY)), ("long", 0, Some(3 * WEEK))];
        assert_eq!(expired(GroupActivity::Standalone, &entries, DAY), ["short"]);
        assert_eq!(
            expired(GroupActivity::Standalone, &entries, 2 * WEEK),
            ["short"]
        );
    }
}

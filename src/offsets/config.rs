//! [`GroupsConfig`]: the store-wide settings of committed offsets and
//! consumer groups (Kafka's broker configs `offsets.*` and `group.*`).

use crate::config::Durability;
use crate::error::{Error, Result};

/// Settings of the internal topic `__consumer_offsets` and of the group
/// coordinator, one set for the whole store. `Default` gives Kafka's
/// defaults.
///
/// ```
/// use seglog::{offsets::GroupsConfig, StoreConfig};
/// let config = StoreConfig {
///     groups: GroupsConfig {
///         offsets_topic_num_partitions: 4,
///         group_initial_rebalance_delay_ms: 0,
///         ..GroupsConfig::default()
///     },
///     ..StoreConfig::default()
/// };
/// config.groups.validate()?;
/// # Ok::<(), seglog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupsConfig {
    /// Kafka `offsets.topic.num.partitions`: partitions of
    /// `__consumer_offsets`, fixed when the topic is created on first use.
    /// Default 50; at least 1.
    pub offsets_topic_num_partitions: u32,
    /// Kafka `offsets.topic.segment.bytes`: segment size of
    /// `__consumer_offsets`, kept small for fast loads and compaction.
    /// Default 104 857 600 (100 MiB); at least 1.
    pub offsets_topic_segment_bytes: u32,
    /// Kafka `offsets.retention.minutes`: a group's committed offsets are
    /// deleted this long after the group became empty (or, for a group
    /// that never had members, after the partition's last commit). Default
    /// 10 080 (7 days); at least 1.
    pub offsets_retention_minutes: u32,
    /// Kafka `offsets.retention.check.interval.ms`: how often maintenance
    /// looks for expired offsets. Default 600 000; at least 1.
    pub offsets_retention_check_interval_ms: u64,
    /// Kafka `offset.metadata.max.bytes`: the longest metadata string a
    /// commit may carry. Default 4 096.
    pub offset_metadata_max_bytes: u32,
    /// Kafka `group.min.session.timeout.ms`: the shortest session timeout a
    /// member may ask for. Default 6 000.
    pub group_min_session_timeout_ms: u32,
    /// Kafka `group.max.session.timeout.ms`: the longest session timeout a
    /// member may ask for. Default 1 800 000 (30 minutes).
    pub group_max_session_timeout_ms: u32,
    /// Kafka `group.initial.rebalance.delay.ms`: how long the first
    /// rebalance of an empty group waits for more members to join, each
    /// join extending it by as much again, up to the rebalance timeout.
    /// Default 3 000; 0 starts the first generation at once.
    pub group_initial_rebalance_delay_ms: u32,
    /// Kafka `group.max.size`: the most members a group may have. Default
    /// `i32::MAX` (unbounded); at least 1.
    pub group_max_size: u32,
    /// seglog's own: how durable a commit (and every other write to
    /// `__consumer_offsets`) is when the call returns. Default
    /// [`Durability::Sync`]: fsynced, so a process or machine that dies
    /// right after a commit resumes from it. [`Durability::Flush`] survives
    /// only a crash of the process, for more commits a second.
    pub commit_durability: Durability,
}

impl Default for GroupsConfig {
    fn default() -> Self {
        GroupsConfig {
            offsets_topic_num_partitions: 50,
            offsets_topic_segment_bytes: 104_857_600,
            offsets_retention_minutes: 10_080,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4_096,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3_000,
            group_max_size: i32::MAX as u32,
            commit_durability: Durability::Sync,
        }
    }
}

impl GroupsConfig {
    /// Checks every setting against Kafka's bounds.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first setting out of bounds.
    pub fn validate(&self) -> Result<()> {
        let at_least_one = [
            (
                "offsets.topic.num.partitions",
                u64::from(self.offsets_topic_num_partitions),
            ),
            (
                "offsets.topic.segment.bytes",
                u64::from(self.offsets_topic_segment_bytes),
            ),
            (
                "offsets.retention.minutes",
                u64::from(self.offsets_retention_minutes),
            ),
            (
                "offsets.retention.check.interval.ms",
                self.offsets_retention_check_interval_ms,
            ),
            ("group.max.size", u64::from(self.group_max_size)),
        ];
        for (field, value) in at_least_one {
            if value == 0 {
                return Err(Error::config(field, "must be at least 1"));
            }
        }
        if self.offsets_topic_num_partitions > crate::store::MAX_PARTITIONS {
            return Err(Error::config(
                "offsets.topic.num.partitions",
                format!("must be at most {}", crate::store::MAX_PARTITIONS),
            ));
        }
        if self.group_min_session_timeout_ms > self.group_max_session_timeout_ms {
            return Err(Error::config(
                "group.min.session.timeout.ms",
                "must not exceed group.max.session.timeout.ms",
            ));
        }
        for (field, value) in [
            (
                "offsets.topic.segment.bytes",
                self.offsets_topic_segment_bytes,
            ),
            ("group.max.size", self.group_max_size),
        ] {
            if value > i32::MAX as u32 {
                return Err(Error::config(field, "must be at most 2147483647"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas_and_valid() {
        let config = GroupsConfig::default();
        assert_eq!(config.offsets_topic_num_partitions, 50);
        assert_eq!(config.offsets_topic_segment_bytes, 100 << 20);
        assert_eq!(config.offsets_retention_minutes, 7 * 24 * 60);
        assert_eq!(config.group_initial_rebalance_delay_ms, 3_000);
        config.validate().unwrap();
    }

    #[test]
    fn out_of_bounds_settings_are_named() {
        let bad = |config: GroupsConfig| match config.validate() {
            Err(Error::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        };
        let base = GroupsConfig::default();
        assert_eq!(
            bad(GroupsConfig {
                offsets_topic_num_partitions: 0,
                ..base
            }),
            "offsets.topic.num.partitions"
        );
        assert_eq!(
            bad(GroupsConfig {
                group_min_session_timeout_ms: 10,
                group_max_session_timeout_ms: 5,
                ..base
            }),
            "group.min.session.timeout.ms"
        );
        assert_eq!(
            bad(GroupsConfig {
                group_max_size: u32::MAX,
                ..base
            }),
            "group.max.size"
        );
    }
}

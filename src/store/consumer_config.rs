//! How a [`Consumer`] fetches ([`ConsumerConfig`], Kafka's consumer
//! configs) and where it starts without a valid position
//! ([`AutoOffsetReset`]).

use std::time::Duration;

#[cfg(doc)]
use super::Consumer;
#[cfg(doc)]
use crate::error::Error;
use crate::log::CrcCheck;

/// Where a consumer starts when it has no valid position (Kafka's
/// `auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoOffsetReset {
    /// At the log start offset: everything still retained.
    Earliest,
    /// At the log end offset: only records appended from now on (Kafka's
    /// default).
    #[default]
    Latest,
    /// Nowhere: `poll` and `position` fail with
    /// [`Error::OffsetOutOfRange`] until the application seeks.
    Error,
}

/// How a [`Consumer`] fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// Records one `poll` returns at most (Kafka's `max.poll.records`).
    /// Default 500.
    pub max_poll_records: usize,
    /// Bytes of record batches one `poll` reads at most, over all
    /// partitions (Kafka's `fetch.max.bytes`); at least one batch is read
    /// even if it is larger. Default 50 MiB.
    pub fetch_max_bytes: u64,
    /// Bytes read from one partition at a time at most (Kafka's
    /// `max.partition.fetch.bytes`). Default 1 MiB.
    pub max_partition_fetch_bytes: u64,
    /// Where to go without a valid position. Default
    /// [`AutoOffsetReset::Latest`], as Kafka.
    pub auto_offset_reset: AutoOffsetReset,
    /// The consumer group (Kafka's `group.id`): with one, a newly assigned
    /// partition starts from the group's committed offset, and the
    /// consumer can commit. Default `None`.
    pub group_id: Option<String>,
    /// Whether the consumer commits its positions by itself (Kafka's
    /// `enable.auto.commit`): in [`poll`](Consumer::poll), once every
    /// [`auto_commit_interval`](Self::auto_commit_interval), the positions
    /// of what earlier polls returned, before a subscribed consumer
    /// rejoins its group, and in [`close`](Consumer::close). Only with a
    /// [`group_id`](Self::group_id). Default `true`, as Kafka.
    pub enable_auto_commit: bool,
    /// How often auto-commit commits (Kafka's `auto.commit.interval.ms`).
    /// Default 5 s.
    pub auto_commit_interval: Duration,
    /// The consumer's name in its group (Kafka's `client.id`): member ids
    /// begin with it, and `describe_group` shows it. Default `"consumer"`.
    pub client_id: String,
    /// A static member's identity (Kafka's `group.instance.id`): a
    /// consumer that comes back with the same id takes over its place
    /// without a rebalance. Default `None` (a dynamic member).
    pub group_instance_id: Option<String>,
    /// How long a subscribed consumer may go between polls (Kafka's
    /// `max.poll.interval.ms`). In one process a consumer's heartbeat is
    /// its `poll`, so this is both its session timeout and its rebalance
    /// timeout: a consumer that has not polled for this long is removed
    /// from its group and its partitions go to the others. Must lie within
    /// the store's `group.min/max.session.timeout.ms`. Default 300 s.
    pub max_poll_interval: Duration,
    /// The assignors a subscribed consumer offers its group, most
    /// preferred first (Kafka's `partition.assignment.strategy`): `range`,
    /// `roundrobin`, `sticky`, `cooperative-sticky`. The group uses the
    /// first one every member offers. The rebalance protocol is
    /// cooperative when every assignor listed supports it, else eager.
    /// Default `["range", "cooperative-sticky"]`, as Kafka.
    pub partition_assignment_strategy: Vec<String>,
    /// When the batches a poll reads have their CRC checked (after
    /// Kafka's `check.crcs`, which checks every batch a consumer fetches).
    /// By default [`CrcCheck::FirstRead`], as a [`LogReader`]: a batch is
    /// checked until the checked prefix of its segment (the batches read
    /// and checked from the segment's start by readers and consumers of
    /// the open log) reaches it, and trusted after. So a consumer that
    /// starts inside a segment checks each of its polls until a read from
    /// the segment's start has caught up, and one of a read-only store
    /// checks every batch. Weaker than Kafka's `check.crcs=true`: damage
    /// done to a file after its batch was checked shows at the next open.
    /// [`CrcCheck::EveryRead`] checks every batch of every poll.
    ///
    /// [`LogReader`]: crate::LogReader
    pub check_crcs: CrcCheck,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            max_poll_records: 500,
            fetch_max_bytes: 50 * 1024 * 1024,
            max_partition_fetch_bytes: 1024 * 1024,
            auto_offset_reset: AutoOffsetReset::Latest,
            group_id: None,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            client_id: "consumer".to_string(),
            group_instance_id: None,
            max_poll_interval: Duration::from_secs(300),
            partition_assignment_strategy: vec!["range".into(), "cooperative-sticky".into()],
            check_crcs: CrcCheck::default(),
        }
    }
}

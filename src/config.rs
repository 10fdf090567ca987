//! Configuration of a partition log.
//!
//! Field names and defaults follow Kafka's topic configs (`segment.bytes`
//! is [`LogConfig::segment_bytes`], and so on). Values are checked once,
//! when a log is opened; a bad one is [`Error::InvalidConfig`] naming the
//! field.

use std::fmt;

use crate::error::{Error, Result};
use crate::record::{Compression, TimestampType, BATCH_HEADER_LEN};

/// Kafka's `Long.MAX` "never" for `flush.messages` and `flush.ms`.
pub const NEVER: u64 = i64::MAX as u64;

/// The largest value of a Kafka `LONG` setting, 2^63-1.
const MAX_LONG: u64 = i64::MAX as u64;

/// How far an append goes before it returns.
///
/// | level   | survives a process crash | survives a power loss |
/// |---------|--------------------------|-----------------------|
/// | `None`  | no                       | no                    |
/// | `Flush` | yes                      | no                    |
/// | `Sync`  | yes                      | yes                   |
///
/// Readers see an append as soon as it returns, whatever the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Durability {
    /// The batch stays in the log's in-process write buffer until the buffer
    /// fills, a reader needs it, or the log is flushed or closed. Fastest;
    /// a process crash loses what is still buffered.
    None,
    /// The batch is handed to the operating system (`write`) before the
    /// append returns, as Kafka does by default: it survives a crash of the
    /// process but not of the machine.
    #[default]
    Flush,
    /// The batch is written and the segment file fsynced before the append
    /// returns; the recovery point moves to the log end offset.
    Sync,
}

/// What happens to a log's old data (Kafka `cleanup.policy`).
///
/// Kafka's setting is a list of `delete` and `compact`; the three lists
/// that mean something different are the three values here
/// (`delete,compact` is [`CompactDelete`](CleanupPolicy::CompactDelete)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CleanupPolicy {
    /// Kafka `delete`: whole segments are deleted once they fall outside
    /// the retention limits (`retention.ms`, `retention.bytes`). Default.
    #[default]
    Delete,
    /// Kafka `compact`: the log is compacted, keeping the latest record of
    /// each key; retention by time and size does not apply (segments below
    /// the log start offset are still deleted).
    Compact,
    /// Kafka `compact,delete`: the log is compacted, and retention by time
    /// and size deletes old segments too.
    CompactDelete,
}

impl CleanupPolicy {
    /// Whether the log is compacted (`compact` is in the list).
    pub fn compacts(self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }

    /// Whether retention by time and size deletes old segments (`delete`
    /// is in the list).
    pub fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }

    /// The policy as Kafka spells it: `delete`, `compact` or
    /// `compact,delete`.
    pub fn name(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        }
    }
}

impl fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Settings of one partition log. `Default` gives Kafka's defaults.
///
/// ```
/// use seglog::{Durability, LogConfig};
/// let config = LogConfig {
///     segment_bytes: 64 << 20,
///     durability: Durability::Sync,
///     ..LogConfig::default()
/// };
/// assert_eq!(config.index_interval_bytes, 4096);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// Kafka `segment.bytes`: a new segment starts when the active one
    /// would grow past this many bytes. Default 1 GiB (1 073 741 824);
    /// bounds 61 (one batch header) to 2^31-1 (index positions are 32-bit).
    pub segment_bytes: u64,
    /// Kafka `segment.ms`: a new segment starts when the active one's first
    /// batch is older than this, in milliseconds (compared with the new
    /// batch's timestamp, or with the clock when the first batch has none).
    /// A log whose policy compacts rolls sooner if
    /// [`max_compaction_lag_ms`](Self::max_compaction_lag_ms) is smaller
    /// (see [`max_segment_ms`](Self::max_segment_ms)). Default 604 800 000
    /// (7 days); at least 1.
    pub segment_ms: u64,
    /// Kafka `segment.index.bytes`: size to which the active segment's
    /// `.index` and `.timeindex` are preallocated; a full index rolls the
    /// segment. Default 10 485 760 (10 MiB); bounds 24 to 2^31-1, rounded
    /// down to a whole number of entries.
    pub segment_index_bytes: u32,
    /// Kafka `index.interval.bytes`: an offset-index entry (and time-index
    /// entry) is added before a batch once more than this many bytes were
    /// appended since the last entry. Default 4096; 0 indexes every batch
    /// but the first.
    pub index_interval_bytes: u32,
    /// Kafka `max.message.bytes`: the largest batch (after compression)
    /// accepted by [`append`](crate::PartitionLog::append) and
    /// [`append_encoded`](crate::PartitionLog::append_encoded). Default
    /// 1 048 588; at least 61.
    pub max_message_bytes: u32,
    /// Kafka `message.timestamp.type`: with
    /// [`TimestampType::LogAppendTime`] the log stamps each batch with the
    /// clock's time when appending it. Default `CreateTime`.
    pub message_timestamp_type: TimestampType,
    /// Codec for batches built by [`append`](crate::PartitionLog::append).
    /// Encoded batches keep the codec they arrive with. Default none.
    pub compression: Compression,
    /// Kafka `flush.messages`: fsync once this many records were appended
    /// since the last fsync. Default [`NEVER`].
    pub flush_messages: u64,
    /// Kafka `flush.ms`: fsync on an append (or
    /// [`maybe_flush`](crate::PartitionLog::maybe_flush)) once this many
    /// milliseconds passed since the last fsync. Default [`NEVER`].
    pub flush_ms: u64,
    /// How far each append goes before it returns, unless the call says
    /// otherwise. Default [`Durability::Flush`].
    pub durability: Durability,
    /// Size of the in-process write buffer that holds appends made with
    /// [`Durability::None`] until it is handed to the OS in one write. The
    /// memory is taken only by logs that buffer (appends that write
    /// through use just the space of their batch). Default 1 MiB; at least
    /// 4096.
    pub write_buffer_bytes: u32,
    /// Kafka `cleanup.policy`: whether old data is deleted by retention,
    /// compacted, or both. Default [`CleanupPolicy::Delete`].
    pub cleanup_policy: CleanupPolicy,
    /// Kafka `min.cleanable.dirty.ratio`: a compacted log is cleaned once
    /// its dirty bytes (those not compacted yet, up to the active segment)
    /// are more than this share of all its bytes up to there. Default 0.5;
    /// bounds 0 to 1.
    pub min_cleanable_dirty_ratio: f64,
    /// Kafka `min.compaction.lag.ms`: a record is not compacted away until
    /// its segment's newest record is at least this many milliseconds old.
    /// Default 0; at most [`max_compaction_lag_ms`](Self::max_compaction_lag_ms)
    /// and 2^63-1.
    pub min_compaction_lag_ms: u64,
    /// Kafka `max.compaction.lag.ms`: a compacted log is cleaned, whatever
    /// its dirty ratio, once a segment not cleaned yet has a first batch
    /// older than this many milliseconds; its active segment rolls at the
    /// smaller of this and [`segment_ms`](Self::segment_ms). Default
    /// 2^63-1 (Kafka's `Long.MAX`: no limit); bounds 1 to 2^63-1.
    pub max_compaction_lag_ms: u64,
    /// Kafka `delete.retention.ms`: how long, in milliseconds, compaction
    /// keeps a tombstone (a keyed record without a value) after it first
    /// cleaned the segment holding it, so that a consumer reading from
    /// the start within that time sees the delete. Default 86 400 000
    /// (1 day); at most 2^63-1.
    pub delete_retention_ms: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            segment_index_bytes: 10 << 20,
            index_interval_bytes: 4096,
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
            compression: Compression::None,
            flush_messages: NEVER,
            flush_ms: NEVER,
            durability: Durability::Flush,
            write_buffer_bytes: 1 << 20,
            cleanup_policy: CleanupPolicy::Delete,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: MAX_LONG,
            delete_retention_ms: 24 * 60 * 60 * 1000,
        }
    }
}

impl LogConfig {
    /// The age, in milliseconds, at which the active segment rolls
    /// (Kafka's `LogConfig.maxSegmentMs`): [`segment_ms`](Self::segment_ms),
    /// or the smaller of it and
    /// [`max_compaction_lag_ms`](Self::max_compaction_lag_ms) if the
    /// cleanup policy compacts, since the active segment is never cleaned:
    /// a record must leave it in time to be compacted within the lag.
    ///
    /// ```
    /// use seglog::{CleanupPolicy, LogConfig};
    /// let mut config = LogConfig {
    ///     segment_ms: 3_600_000,
    ///     max_compaction_lag_ms: 60_000,
    ///     ..LogConfig::default()
    /// };
    /// assert_eq!(config.max_segment_ms(), 3_600_000);
    /// config.cleanup_policy = CleanupPolicy::Compact;
    /// assert_eq!(config.max_segment_ms(), 60_000);
    /// ```
    pub fn max_segment_ms(&self) -> u64 {
        if self.cleanup_policy.compacts() {
            self.segment_ms.min(self.max_compaction_lag_ms)
        } else {
            self.segment_ms
        }
    }

    /// Checks every field against its bounds.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first field out of bounds.
    pub fn validate(&self) -> Result<()> {
        let max_i32 = i32::MAX as u64;
        if !(BATCH_HEADER_LEN as u64..=max_i32).contains(&self.segment_bytes) {
            return Err(Error::config(
                "segment_bytes",
                format!("{} is outside 61..=2147483647", self.segment_bytes),
            ));
        }
        if self.segment_ms == 0 {
            return Err(Error::config("segment_ms", "must be at least 1"));
        }
        if !(24..=i32::MAX as u32).contains(&self.segment_index_bytes) {
            return Err(Error::config(
                "segment_index_bytes",
                format!("{} is outside 24..=2147483647", self.segment_index_bytes),
            ));
        }
        if self.index_interval_bytes > i32::MAX as u32 {
            return Err(Error::config(
                "index_interval_bytes",
                format!("{} is above 2147483647", self.index_interval_bytes),
            ));
        }
        if !(BATCH_HEADER_LEN as u32..=i32::MAX as u32).contains(&self.max_message_bytes) {
            return Err(Error::config(
                "max_message_bytes",
                format!("{} is outside 61..=2147483647", self.max_message_bytes),
            ));
        }
        if self.flush_messages == 0 {
            return Err(Error::config(
                "flush_messages",
                "must be at least 1 (use Durability::Sync to fsync every append)",
            ));
        }
        if self.write_buffer_bytes < 4096 {
            return Err(Error::config("write_buffer_bytes", "must be at least 4096"));
        }
        if !self.compression.is_available() {
            return Err(Error::CompressionUnavailable {
                codec: self.compression,
            });
        }
        self.validate_compaction()
    }

    /// The bounds of the compaction settings, and Kafka's rule that the
    /// minimum compaction lag is not above the maximum.
    fn validate_compaction(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.min_cleanable_dirty_ratio) {
            return Err(Error::config(
                "min_cleanable_dirty_ratio",
                format!("{} is outside 0..=1", self.min_cleanable_dirty_ratio),
            ));
        }
        for (field, value) in [
            ("min_compaction_lag_ms", self.min_compaction_lag_ms),
            ("max_compaction_lag_ms", self.max_compaction_lag_ms),
            ("delete_retention_ms", self.delete_retention_ms),
        ] {
            if value > MAX_LONG {
                return Err(Error::config(field, format!("{value} is above {MAX_LONG}")));
            }
        }
        if self.max_compaction_lag_ms == 0 {
            return Err(Error::config("max_compaction_lag_ms", "must be at least 1"));
        }
        if self.min_compaction_lag_ms > self.max_compaction_lag_ms {
            return Err(Error::config(
                "min_compaction_lag_ms",
                format!(
                    "{} is more than the maximum compaction lag, {}",
                    self.min_compaction_lag_ms, self.max_compaction_lag_ms
                ),
            ));
        }
        Ok(())
    }
}

/// What an unclean open does with damage it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RecoveryMode {
    /// Truncate a torn or invalid tail only where a crash can leave one:
    /// in the last segment, beyond the recovery point. Damage anywhere else
    /// (synced data) makes the open fail with
    /// [`Error::Corrupt`] naming the file and byte
    /// position, so nothing is dropped without the caller's say-so.
    #[default]
    Strict,
    /// Truncate at the first invalid batch wherever it is and delete every
    /// later segment, as Kafka's recovery does. Data after the damage is
    /// lost; use it to get a damaged log open again.
    TruncateCorrupt,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas_and_valid() {
        let c = LogConfig::default();
        c.validate().unwrap();
        assert_eq!(c.segment_bytes, 1_073_741_824);
        assert_eq!(c.segment_ms, 604_800_000);
        assert_eq!(c.segment_index_bytes, 10_485_760);
        assert_eq!(c.max_message_bytes, 1_048_588);
        assert_eq!(c.flush_messages, 9_223_372_036_854_775_807);
        assert_eq!(c.cleanup_policy, CleanupPolicy::Delete);
        assert_eq!(c.min_cleanable_dirty_ratio, 0.5);
        assert_eq!(c.min_compaction_lag_ms, 0);
        assert_eq!(c.max_compaction_lag_ms, 9_223_372_036_854_775_807);
        assert_eq!(c.delete_retention_ms, 86_400_000);
    }

    #[test]
    fn compaction_settings_take_their_whole_range() {
        for c in [
            LogConfig {
                min_cleanable_dirty_ratio: 0.0,
                min_compaction_lag_ms: 0,
                max_compaction_lag_ms: 1,
                delete_retention_ms: 0,
                ..Default::default()
            },
            LogConfig {
                min_cleanable_dirty_ratio: 1.0,
                min_compaction_lag_ms: NEVER,
                max_compaction_lag_ms: NEVER,
                delete_retention_ms: NEVER,
                ..Default::default()
            },
            LogConfig {
                min_compaction_lag_ms: 5_000,
                max_compaction_lag_ms: 5_000,
                ..Default::default()
            },
        ] {
            c.validate().unwrap();
        }
    }

    #[test]
    fn cleanup_policies_say_what_they_do_in_kafkas_words() {
        let all = [
            (CleanupPolicy::Delete, "delete", false, true),
            (CleanupPolicy::Compact, "compact", true, false),
            (CleanupPolicy::CompactDelete, "compact,delete", true, true),
        ];
        for (policy, name, compacts, deletes) in all {
            assert_eq!(policy.name(), name);
            assert_eq!(policy.to_string(), name);
            assert_eq!(policy.compacts(), compacts, "{name}");
            assert_eq!(policy.deletes(), deletes, "{name}");
        }
    }

    #[test]
    fn each_bad_value_names_its_field() {
        let cases: Vec<(LogConfig, &str)> = vec![
            (
                LogConfig {
                    segment_bytes: 10,
                    ..Default::default()
                },
                "segment_bytes",
            ),
            (
                LogConfig {
                    segment_bytes: 1 << 31,
                    ..Default::default()
                },
                "segment_bytes",
            ),
            (
                LogConfig {
                    segment_ms: 0,
                    ..Default::default()
                },
                "segment_ms",
            ),
            (
                LogConfig {
                    segment_index_bytes: 8,
                    ..Default::default()
                },
                "segment_index_bytes",
            ),
            (
                LogConfig {
                    index_interval_bytes: u32::MAX,
                    ..Default::default()
                },
                "index_interval_bytes",
            ),
            (
                LogConfig {
                    max_message_bytes: 3,
                    ..Default::default()
                },
                "max_message_bytes",
            ),
            (
                LogConfig {
                    flush_messages: 0,
                    ..Default::default()
                },
                "flush_messages",
            ),
            (
                LogConfig {
                    write_buffer_bytes: 10,
                    ..Default::default()
                },
                "write_buffer_bytes",
            ),
            (
                LogConfig {
                    min_cleanable_dirty_ratio: 1.01,
                    ..Default::default()
                },
                "min_cleanable_dirty_ratio",
            ),
            (
                LogConfig {
                    min_cleanable_dirty_ratio: -0.0001,
                    ..Default::default()
                },
                "min_cleanable_dirty_ratio",
            ),
            (
                LogConfig {
                    min_cleanable_dirty_ratio: f64::NAN,
                    ..Default::default()
                },
                "min_cleanable_dirty_ratio",
            ),
            (
                LogConfig {
                    min_cleanable_dirty_ratio: f64::INFINITY,
                    ..Default::default()
                },
                "min_cleanable_dirty_ratio",
            ),
            (
                LogConfig {
                    min_compaction_lag_ms: NEVER + 1,
                    ..Default::default()
                },
                "min_compaction_lag_ms",
            ),
            (
                LogConfig {
                    max_compaction_lag_ms: 0,
                    ..Default::default()
                },
                "max_compaction_lag_ms",
            ),
            (
                LogConfig {
                    max_compaction_lag_ms: u64::MAX,
                    ..Default::default()
                },
                "max_compaction_lag_ms",
            ),
            (
                LogConfig {
                    delete_retention_ms: NEVER + 1,
                    ..Default::default()
                },
                "delete_retention_ms",
            ),
            (
                LogConfig {
                    min_compaction_lag_ms: 1_001,
                    max_compaction_lag_ms: 1_000,
                    ..Default::default()
                },
                "min_compaction_lag_ms",
            ),
        ];
        for (config, field) in cases {
            match config.validate() {
                Err(Error::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected InvalidConfig, got {other:?}"),
            }
        }
    }
}

//! Per-topic configuration: a [`LogConfig`] for each partition's log plus
//! the retention settings the store applies to it.
//!
//! Besides setting fields directly, a [`TopicConfig`] takes Kafka's topic
//! config names and string values ([`TopicConfig::set`],
//! [`TopicConfig::with_overrides`]), so that settings written for a Kafka
//! topic (`kafka-configs.sh --add-config retention.ms=86400000`) can be
//! used unchanged. [`TopicConfig::override_keys`] lists the names
//! understood. Values are read as Kafka reads them: surrounding whitespace
//! is ignored, numbers are decimal (an optional `+` is accepted, as Java's
//! `Long.parseLong` does), and names are case-sensitive.

use super::config_values::{
    double_string, parse_cleanup_policy, parse_double, parse_int, parse_limit, parse_long,
};
pub use crate::config::CleanupPolicy;
use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::record::{Compression, TimestampType};

/// Settings of one topic. `Default` gives Kafka's defaults.
///
/// ```
/// use seglog::topic::TopicConfig;
///
/// let base = TopicConfig::default();
/// assert_eq!(base.retention_ms, Some(604_800_000));
/// assert_eq!(base.retention_bytes, None);
///
/// let config = TopicConfig::with_overrides(
///     &base,
///     [("retention.ms", "-1"), ("segment.bytes", "67108864")],
/// )?;
/// assert_eq!(config.retention_ms, None);
/// assert_eq!(config.log.segment_bytes, 64 << 20);
///
/// assert!(TopicConfig::with_overrides(&base, [("retention.hours", "1")]).is_err());
/// # Ok::<(), seglog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TopicConfig {
    /// The configuration of each partition's log (segment size, roll age,
    /// indexes, limits, flushing, compression, cleanup policy). Default
    /// [`LogConfig::default()`], Kafka's defaults.
    pub log: LogConfig,
    /// Kafka `retention.ms`: a segment is deleted once its newest record is
    /// older than this many milliseconds, if the cleanup policy
    /// ([`LogConfig::cleanup_policy`]) deletes. `None` keeps segments
    /// forever (Kafka's `-1`). Default `Some(604_800_000)` (7 days).
    pub retention_ms: Option<u64>,
    /// Kafka `retention.bytes`: the oldest segments of a partition are
    /// deleted while the partition holds more than this many bytes, if the
    /// cleanup policy deletes. `None` puts no limit on the size (Kafka's
    /// `-1`). Default `None`.
    pub retention_bytes: Option<u64>,
    /// Kafka `file.delete.delay.ms`: how long, in milliseconds, a segment
    /// that retention removed from the log stays on disk (renamed with a
    /// `.deleted` suffix) before its files are deleted. Default 60 000.
    pub file_delete_delay_ms: u64,
}

/// Kafka's default `retention.ms`: 7 days.
const DEFAULT_RETENTION_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// Kafka's default `file.delete.delay.ms`: one minute.
const DEFAULT_FILE_DELETE_DELAY_MS: u64 = 60_000;

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            log: LogConfig::default(),
            retention_ms: Some(DEFAULT_RETENTION_MS),
            retention_bytes: None,
            file_delete_delay_ms: DEFAULT_FILE_DELETE_DELAY_MS,
        }
    }
}

/// The topic config names [`TopicConfig::set`] understands, in Kafka's
/// spelling.
const OVERRIDE_KEYS: &[&str] = &[
    "segment.bytes",
    "segment.ms",
    "segment.index.bytes",
    "index.interval.bytes",
    "max.message.bytes",
    "message.timestamp.type",
    "compression.type",
    "flush.messages",
    "flush.ms",
    "retention.ms",
    "retention.bytes",
    "file.delete.delay.ms",
    "cleanup.policy",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "max.compaction.lag.ms",
    "delete.retention.ms",
];

impl TopicConfig {
    /// The topic config names [`set`](TopicConfig::set) accepts, in
    /// Kafka's spelling: `segment.bytes`, `segment.ms`,
    /// `segment.index.bytes`, `index.interval.bytes`, `max.message.bytes`,
    /// `message.timestamp.type`, `compression.type`, `flush.messages`,
    /// `flush.ms`, `retention.ms`, `retention.bytes`,
    /// `file.delete.delay.ms`, `cleanup.policy`,
    /// `min.cleanable.dirty.ratio`, `min.compaction.lag.ms`,
    /// `max.compaction.lag.ms` and `delete.retention.ms`.
    pub fn override_keys() -> &'static [&'static str] {
        OVERRIDE_KEYS
    }

    /// Sets the setting Kafka calls `key` from its string form `value`.
    ///
    /// | key | field | value |
    /// |---|---|---|
    /// | `segment.bytes` | [`LogConfig::segment_bytes`] | 61 to 2 147 483 647 |
    /// | `segment.ms` | [`LogConfig::segment_ms`] | at least 1 |
    /// | `segment.index.bytes` | [`LogConfig::segment_index_bytes`] | 24 to 2 147 483 647 |
    /// | `index.interval.bytes` | [`LogConfig::index_interval_bytes`] | 0 to 2 147 483 647 |
    /// | `max.message.bytes` | [`LogConfig::max_message_bytes`] | 61 to 2 147 483 647 |
    /// | `message.timestamp.type` | [`LogConfig::message_timestamp_type`] | `CreateTime`, `LogAppendTime` |
    /// | `compression.type` | [`LogConfig::compression`] | `none`, `gzip`, `snappy`, `lz4`, `zstd`, `producer` |
    /// | `flush.messages` | [`LogConfig::flush_messages`] | 1 to 2^63-1 |
    /// | `flush.ms` | [`LogConfig::flush_ms`] | 0 to 2^63-1 |
    /// | `retention.ms` | [`retention_ms`](TopicConfig::retention_ms) | 0 to 2^63-1, or `-1` for unlimited |
    /// | `retention.bytes` | [`retention_bytes`](TopicConfig::retention_bytes) | 0 to 2^63-1, or `-1` for unlimited |
    /// | `file.delete.delay.ms` | [`file_delete_delay_ms`](TopicConfig::file_delete_delay_ms) | 0 to 2^63-1 |
    /// | `cleanup.policy` | [`LogConfig::cleanup_policy`] | a list of `delete` and `compact`, e.g. `compact,delete` |
    /// | `min.cleanable.dirty.ratio` | [`LogConfig::min_cleanable_dirty_ratio`] | a decimal number from 0 to 1, e.g. `0.5`, `.25`, `5e-1` |
    /// | `min.compaction.lag.ms` | [`LogConfig::min_compaction_lag_ms`] | 0 to `max.compaction.lag.ms` |
    /// | `max.compaction.lag.ms` | [`LogConfig::max_compaction_lag_ms`] | `min.compaction.lag.ms` (and at least 1) to 2^63-1 |
    /// | `delete.retention.ms` | [`LogConfig::delete_retention_ms`] | 0 to 2^63-1 |
    ///
    /// `compression.type=producer` (Kafka's default: keep the codec the
    /// producer chose) means `none` for the batches the log encodes itself;
    /// batches appended already encoded keep their codec either way.
    ///
    /// On success the whole configuration has passed
    /// [`LogConfig::validate`]; on error `self` is unchanged.
    ///
    /// # Errors
    /// * [`Error::InvalidConfig`] with `field` `"config key"` if `key` is
    ///   not one of [`override_keys`](TopicConfig::override_keys).
    /// * [`Error::InvalidConfig`] with `field` the key (e.g.
    ///   `"segment.bytes"`) if the value is malformed or out of bounds.
    /// * [`Error::CompressionUnavailable`] for a codec whose cargo feature
    ///   is not enabled in this build.
    /// * Any other error of [`LogConfig::validate`] if the configuration was
    ///   already invalid in another field.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let mut next = self.clone();
        let (key, log_field) = next.apply(key, value)?;
        match next.validate() {
            Ok(()) => {
                *self = next;
                Ok(())
            }
            // Name the key the caller used rather than the Rust field.
            Err(Error::InvalidConfig { field, reason }) if Some(field) == log_field => {
                Err(Error::config(key, reason))
            }
            Err(e) => Err(e),
        }
    }

    /// `base` with each `(key, value)` of `overrides` applied in order by
    /// [`set`](TopicConfig::set); a key given twice takes its last value.
    ///
    /// # Errors
    /// The first error of [`set`](TopicConfig::set), naming the key.
    pub fn with_overrides<'a>(
        base: &TopicConfig,
        overrides: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<TopicConfig> {
        let mut config = base.clone();
        for (key, value) in overrides {
            config.set(key, value)?;
        }
        Ok(config)
    }

    /// The value of the setting Kafka calls `key`, in Kafka's string form
    /// (as `kafka-configs.sh --describe` shows it, and as
    /// [`set`](TopicConfig::set) reads it back): numbers in decimal, `-1`
    /// for an unlimited retention, `cleanup.policy` as a list, a ratio as
    /// a Java `double` prints it (`0.5`, `1.0`). `compression.type` reads
    /// `producer` unless a codec is set: the log keeps the codec of the
    /// batches it is given either way, which is what Kafka's `producer`
    /// means. `None` for a key not in
    /// [`override_keys`](TopicConfig::override_keys).
    pub fn value_of(&self, key: &str) -> Option<String> {
        let log = &self.log;
        let limit = |v: Option<u64>| v.map_or_else(|| "-1".to_string(), |v| v.to_string());
        Some(match key {
            "segment.bytes" => log.segment_bytes.to_string(),
            "segment.ms" => log.segment_ms.to_string(),
            "segment.index.bytes" => log.segment_index_bytes.to_string(),
            "index.interval.bytes" => log.index_interval_bytes.to_string(),
            "max.message.bytes" => log.max_message_bytes.to_string(),
            "message.timestamp.type" => log.message_timestamp_type.to_string(),
            "compression.type" => match log.compression {
                Compression::None => "producer".to_string(),
                codec => codec.name().to_string(),
            },
            "flush.messages" => log.flush_messages.to_string(),
            "flush.ms" => log.flush_ms.to_string(),
            "retention.ms" => limit(self.retention_ms),
            "retention.bytes" => limit(self.retention_bytes),
            "file.delete.delay.ms" => self.file_delete_delay_ms.to_string(),
            "cleanup.policy" => log.cleanup_policy.name().to_string(),
            "min.cleanable.dirty.ratio" => double_string(log.min_cleanable_dirty_ratio),
            "min.compaction.lag.ms" => log.min_compaction_lag_ms.to_string(),
            "max.compaction.lag.ms" => log.max_compaction_lag_ms.to_string(),
            "delete.retention.ms" => log.delete_retention_ms.to_string(),
            _ => return None,
        })
    }

    /// Checks every field against its bounds. The retention settings take
    /// any value; the rest is [`LogConfig::validate`].
    ///
    /// # Errors
    /// The error of [`LogConfig::validate`].
    pub fn validate(&self) -> Result<()> {
        self.log.validate()
    }

    /// Parses `value` for `key` into `self`. Returns the key as a static
    /// string and, for a key stored in [`LogConfig`], that field's name as
    /// [`LogConfig::validate`] reports it.
    fn apply(&mut self, key: &str, value: &str) -> Result<(&'static str, Option<&'static str>)> {
        let value = value.trim();
        let log = &mut self.log;
        Ok(match key {
            "segment.bytes" => {
                let k = "segment.bytes";
                log.segment_bytes = u64::from(parse_int(k, value)?);
                (k, Some("segment_bytes"))
            }
            "segment.ms" => {
                let k = "segment.ms";
                log.segment_ms = parse_long(k, value)?;
                (k, Some("segment_ms"))
            }
            "segment.index.bytes" => {
                let k = "segment.index.bytes";
                log.segment_index_bytes = parse_int(k, value)?;
                (k, Some("segment_index_bytes"))
            }
            "index.interval.bytes" => {
                let k = "index.interval.bytes";
                log.index_interval_bytes = parse_int(k, value)?;
                (k, Some("index_interval_bytes"))
            }
            "max.message.bytes" => {
                let k = "max.message.bytes";
                log.max_message_bytes = parse_int(k, value)?;
                (k, Some("max_message_bytes"))
            }
            "message.timestamp.type" => {
                let k = "message.timestamp.type";
                log.message_timestamp_type = match value {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => {
                        return Err(Error::config(
                            k,
                            format!("{value:?} is neither \"CreateTime\" nor \"LogAppendTime\""),
                        ))
                    }
                };
                (k, None)
            }
            "compression.type" => {
                let k = "compression.type";
                log.compression = match value {
                    "none" | "producer" => Compression::None,
                    "gzip" => Compression::Gzip,
                    "snappy" => Compression::Snappy,
                    "lz4" => Compression::Lz4,
                    "zstd" => Compression::Zstd,
                    _ => {
                        return Err(Error::config(
                            k,
                            format!(
                                "{value:?} is not one of \"none\", \"gzip\", \"snappy\", \
                                 \"lz4\", \"zstd\", \"producer\""
                            ),
                        ))
                    }
                };
                (k, None)
            }
            "flush.messages" => {
                let k = "flush.messages";
                log.flush_messages = parse_long(k, value)?;
                (k, Some("flush_messages"))
            }
            "flush.ms" => {
                let k = "flush.ms";
                log.flush_ms = parse_long(k, value)?;
                (k, Some("flush_ms"))
            }
            "retention.ms" => {
                let k = "retention.ms";
                self.retention_ms = parse_limit(k, value)?;
                (k, None)
            }
            "retention.bytes" => {
                let k = "retention.bytes";
                self.retention_bytes = parse_limit(k, value)?;
                (k, None)
            }
            "file.delete.delay.ms" => {
                let k = "file.delete.delay.ms";
                self.file_delete_delay_ms = parse_long(k, value)?;
                (k, None)
            }
            "cleanup.policy" => {
                let k = "cleanup.policy";
                log.cleanup_policy = parse_cleanup_policy(k, value)?;
                (k, None)
            }
            "min.cleanable.dirty.ratio" => {
                let k = "min.cleanable.dirty.ratio";
                log.min_cleanable_dirty_ratio = parse_double(k, value)?;
                (k, Some("min_cleanable_dirty_ratio"))
            }
            "min.compaction.lag.ms" => {
                let k = "min.compaction.lag.ms";
                log.min_compaction_lag_ms = parse_long(k, value)?;
                (k, Some("min_compaction_lag_ms"))
            }
            "max.compaction.lag.ms" => {
                let k = "max.compaction.lag.ms";
                log.max_compaction_lag_ms = parse_long(k, value)?;
                // Validation blames the minimum for a conflict; here the
                // maximum is what changed.
                if log.min_compaction_lag_ms > log.max_compaction_lag_ms {
                    return Err(Error::config(
                        k,
                        format!(
                            "{} is less than the minimum compaction lag, {}",
                            log.max_compaction_lag_ms, log.min_compaction_lag_ms
                        ),
                    ));
                }
                (k, Some("max_compaction_lag_ms"))
            }
            "delete.retention.ms" => {
                let k = "delete.retention.ms";
                log.delete_retention_ms = parse_long(k, value)?;
                (k, Some("delete_retention_ms"))
            }
            _ => {
                return Err(Error::config(
                    "config key",
                    format!(
                        "unknown topic config {key:?}; supported are: {}",
                        OVERRIDE_KEYS.join(", ")
                    ),
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NEVER;

    fn field_of(result: Result<()>) -> &'static str {
        match result {
            Err(Error::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_kafkas() {
        let c = TopicConfig::default();
        c.validate().unwrap();
        assert_eq!(c.log, LogConfig::default());
        assert_eq!(c.retention_ms, Some(604_800_000));
        assert_eq!(c.retention_bytes, None);
        assert_eq!(c.file_delete_delay_ms, 60_000);
        assert_eq!(c.log.cleanup_policy, CleanupPolicy::Delete);
        assert_eq!(c.log.segment_bytes, 1_073_741_824);
        assert_eq!(c.log.segment_ms, 604_800_000);
        assert_eq!(c.log.segment_index_bytes, 10_485_760);
        assert_eq!(c.log.index_interval_bytes, 4096);
        assert_eq!(c.log.max_message_bytes, 1_048_588);
        assert_eq!(c.log.message_timestamp_type, TimestampType::CreateTime);
        assert_eq!(c.log.compression, Compression::None);
        assert_eq!(c.log.flush_messages, NEVER);
        assert_eq!(c.log.flush_ms, NEVER);
        assert_eq!(c.log.min_cleanable_dirty_ratio, 0.5);
        assert_eq!(c.log.min_compaction_lag_ms, 0);
        assert_eq!(c.log.max_compaction_lag_ms, NEVER);
        assert_eq!(c.log.delete_retention_ms, 86_400_000);
    }

    /// A value for each key other than its default, and how to read it back.
    #[allow(clippy::type_complexity)]
    fn samples() -> Vec<(&'static str, &'static str, fn(&TopicConfig) -> String)> {
        vec![
            ("segment.bytes", "67108864", |c| {
                c.log.segment_bytes.to_string()
            }),
            ("segment.ms", "3600000", |c| c.log.segment_ms.to_string()),
            ("segment.index.bytes", "4096", |c| {
                c.log.segment_index_bytes.to_string()
            }),
            ("index.interval.bytes", "0", |c| {
                c.log.index_interval_bytes.to_string()
            }),
            ("max.message.bytes", "2000000", |c| {
                c.log.max_message_bytes.to_string()
            }),
            ("message.timestamp.type", "LogAppendTime", |c| {
                c.log.message_timestamp_type.to_string()
            }),
            ("compression.type", "lz4", |c| c.log.compression.to_string()),
            ("flush.messages", "1", |c| c.log.flush_messages.to_string()),
            ("flush.ms", "1000", |c| c.log.flush_ms.to_string()),
            ("retention.ms", "86400000", |c| {
                c.retention_ms.map_or("-1".into(), |v| v.to_string())
            }),
            ("retention.bytes", "1073741824", |c| {
                c.retention_bytes.map_or("-1".into(), |v| v.to_string())
            }),
            ("file.delete.delay.ms", "0", |c| {
                c.file_delete_delay_ms.to_string()
            }),
            ("cleanup.policy", "compact", |c| {
                c.log.cleanup_policy.to_string()
            }),
            ("min.cleanable.dirty.ratio", "0.25", |c| {
                c.log.min_cleanable_dirty_ratio.to_string()
            }),
            ("min.compaction.lag.ms", "60000", |c| {
                c.log.min_compaction_lag_ms.to_string()
            }),
            ("max.compaction.lag.ms", "3600000", |c| {
                c.log.max_compaction_lag_ms.to_string()
            }),
            ("delete.retention.ms", "0", |c| {
                c.log.delete_retention_ms.to_string()
            }),
        ]
    }

    #[test]
    fn every_key_round_trips_a_value() {
        let samples = samples();
        let keys: Vec<&str> = samples.iter().map(|s| s.0).collect();
        assert_eq!(keys, TopicConfig::override_keys());
        for (key, value, get) in samples {
            if key == "compression.type" && !Compression::Lz4.is_available() {
                continue;
            }
            let mut c = TopicConfig::default();
            // The sample differs from the default.
            assert_ne!(get(&c), value, "{key}");
            c.set(key, value).unwrap();
            assert_eq!(get(&c), value, "{key}");
        }
    }

    #[test]
    fn every_value_reads_back_in_kafkas_form() {
        let defaults = TopicConfig::default();
        for key in TopicConfig::override_keys() {
            let value = defaults.value_of(key).unwrap();
            let mut c = defaults.clone();
            c.set(key, &value).unwrap();
            assert_eq!(c, defaults, "{key}={value}");
        }
        for (key, value, _) in samples() {
            if key == "compression.type" && !Compression::Lz4.is_available() {
                continue;
            }
            let c = TopicConfig::with_overrides(&defaults, [(key, value)]).unwrap();
            assert_eq!(c.value_of(key).as_deref(), Some(value), "{key}");
        }
        assert_eq!(defaults.value_of("retention.bytes").unwrap(), "-1");
        assert_eq!(defaults.value_of("compression.type").unwrap(), "producer");
        assert_eq!(
            defaults.value_of("flush.ms").unwrap(),
            "9223372036854775807"
        );
        let one = TopicConfig::with_overrides(&defaults, [("min.cleanable.dirty.ratio", "1")]);
        assert_eq!(
            one.unwrap().value_of("min.cleanable.dirty.ratio").unwrap(),
            "1.0"
        );
        assert_eq!(defaults.value_of("retention.hours"), None);
    }

    #[test]
    fn every_codec_and_timestamp_type_parses() {
        let mut c = TopicConfig::default();
        for (name, codec) in [
            ("gzip", Compression::Gzip),
            ("snappy", Compression::Snappy),
            ("lz4", Compression::Lz4),
            ("zstd", Compression::Zstd),
            ("none", Compression::None),
            ("producer", Compression::None),
        ] {
            match c.set("compression.type", name) {
                Ok(()) => assert_eq!(c.log.compression, codec),
                Err(Error::CompressionUnavailable { codec: missing }) => {
                    assert_eq!(missing, codec);
                    assert!(!codec.is_available());
                }
                Err(e) => panic!("{name}: {e}"),
            }
        }
        c.set("message.timestamp.type", "LogAppendTime").unwrap();
        assert_eq!(c.log.message_timestamp_type, TimestampType::LogAppendTime);
        c.set("message.timestamp.type", "CreateTime").unwrap();
        assert_eq!(c.log.message_timestamp_type, TimestampType::CreateTime);
    }

    #[test]
    fn values_are_read_as_kafka_reads_them() {
        let mut c = TopicConfig::default();
        c.set("segment.bytes", " 1048576\n").unwrap();
        assert_eq!(c.log.segment_bytes, 1 << 20);
        c.set("flush.ms", "+250").unwrap();
        assert_eq!(c.log.flush_ms, 250);
        c.set("flush.messages", "9223372036854775807").unwrap();
        assert_eq!(c.log.flush_messages, NEVER);
        c.set("cleanup.policy", " delete , delete ").unwrap();
        assert_eq!(c.log.cleanup_policy, CleanupPolicy::Delete);
    }

    #[test]
    fn cleanup_policy_is_a_list_in_any_order() {
        for (value, policy) in [
            ("delete", CleanupPolicy::Delete),
            ("compact", CleanupPolicy::Compact),
            ("compact,delete", CleanupPolicy::CompactDelete),
            ("delete,compact", CleanupPolicy::CompactDelete),
            (" compact , delete ", CleanupPolicy::CompactDelete),
            ("compact,compact", CleanupPolicy::Compact),
            ("delete,compact,delete", CleanupPolicy::CompactDelete),
        ] {
            let mut c = TopicConfig::default();
            c.set("cleanup.policy", value).unwrap();
            assert_eq!(c.log.cleanup_policy, policy, "{value:?}");
        }
        // Kafka's name reads back as the same policy.
        for policy in [
            CleanupPolicy::Delete,
            CleanupPolicy::Compact,
            CleanupPolicy::CompactDelete,
        ] {
            let mut c = TopicConfig::default();
            c.set("cleanup.policy", policy.name()).unwrap();
            assert_eq!(c.log.cleanup_policy, policy);
        }
        // An item that is no policy is named, whatever else the list holds.
        let e = TopicConfig::default().set("cleanup.policy", "compact,remove");
        assert!(
            matches!(&e, Err(Error::InvalidConfig { field: "cleanup.policy", reason })
                if reason.contains("\"remove\"")),
            "{e:?}"
        );
    }

    #[test]
    fn retention_minus_one_is_unlimited() {
        let mut c = TopicConfig::default();
        c.set("retention.ms", "-1").unwrap();
        assert_eq!(c.retention_ms, None);
        c.set("retention.ms", "0").unwrap();
        assert_eq!(c.retention_ms, Some(0));
        c.set("retention.bytes", "1024").unwrap();
        assert_eq!(c.retention_bytes, Some(1024));
        c.set("retention.bytes", "-1").unwrap();
        assert_eq!(c.retention_bytes, None);
        for key in ["retention.ms", "retention.bytes"] {
            for bad in ["-2", "-9223372036854775808", "unlimited", ""] {
                assert_eq!(field_of(c.set(key, bad)), key, "{key}={bad}");
            }
        }
        // -1 is special only where Kafka says so.
        assert_eq!(
            field_of(c.set("file.delete.delay.ms", "-1")),
            "file.delete.delay.ms"
        );
    }

    #[test]
    fn bad_values_name_the_key_and_change_nothing() {
        let cases = [
            ("segment.bytes", "10"),
            ("segment.bytes", "2147483648"),
            ("segment.bytes", "-1"),
            ("segment.bytes", "1GB"),
            ("segment.ms", "0"),
            ("segment.ms", "-5"),
            ("segment.ms", "9223372036854775808"),
            ("segment.index.bytes", "8"),
            ("segment.index.bytes", "1.5"),
            ("index.interval.bytes", "-1"),
            ("index.interval.bytes", "4096x"),
            ("max.message.bytes", "60"),
            ("max.message.bytes", ""),
            ("message.timestamp.type", "createtime"),
            ("message.timestamp.type", "NoTime"),
            ("compression.type", "GZIP"),
            ("compression.type", "brotli"),
            ("flush.messages", "0"),
            ("flush.messages", "-1"),
            ("flush.ms", "-1"),
            ("flush.ms", "soon"),
            ("file.delete.delay.ms", "1e3"),
            ("cleanup.policy", "remove"),
            ("cleanup.policy", "Compact"),
            ("cleanup.policy", "compact;delete"),
            ("cleanup.policy", ""),
            ("cleanup.policy", " "),
            ("cleanup.policy", "delete,"),
            ("cleanup.policy", ",compact"),
            ("cleanup.policy", "compact,,delete"),
            ("min.cleanable.dirty.ratio", "1.5"),
            ("min.cleanable.dirty.ratio", "-0.1"),
            ("min.cleanable.dirty.ratio", "NaN"),
            ("min.cleanable.dirty.ratio", "nan"),
            ("min.cleanable.dirty.ratio", "Infinity"),
            ("min.cleanable.dirty.ratio", "inf"),
            ("min.cleanable.dirty.ratio", "1e400"),
            ("min.cleanable.dirty.ratio", "half"),
            ("min.cleanable.dirty.ratio", "0.5.5"),
            ("min.cleanable.dirty.ratio", "0,5"),
            ("min.cleanable.dirty.ratio", "."),
            ("min.cleanable.dirty.ratio", ""),
            ("min.compaction.lag.ms", "-1"),
            ("min.compaction.lag.ms", "9223372036854775808"),
            ("min.compaction.lag.ms", "1.5"),
            ("min.compaction.lag.ms", "soon"),
            ("max.compaction.lag.ms", "0"),
            ("max.compaction.lag.ms", "-1"),
            ("max.compaction.lag.ms", "1e3"),
            ("max.compaction.lag.ms", ""),
            ("delete.retention.ms", "-1"),
            ("delete.retention.ms", "9223372036854775808"),
            ("delete.retention.ms", "1d"),
        ];
        for (key, value) in cases {
            let mut c = TopicConfig::default();
            assert_eq!(field_of(c.set(key, value)), key, "{key}={value:?}");
            assert_eq!(c, TopicConfig::default(), "{key}={value:?}");
        }
    }

    #[test]
    fn dirty_ratio_is_read_as_a_java_double() {
        for (value, ratio) in [
            ("0.5", 0.5),
            ("1", 1.0),
            ("0", 0.0),
            (".25", 0.25),
            ("1.", 1.0),
            ("+0.75", 0.75),
            ("5e-1", 0.5),
            ("2.5E-1", 0.25),
            ("-0", 0.0),
            (" 0.125 ", 0.125),
        ] {
            let mut c = TopicConfig::default();
            c.set("min.cleanable.dirty.ratio", value).unwrap();
            assert_eq!(c.log.min_cleanable_dirty_ratio, ratio, "{value:?}");
        }
        let e = TopicConfig::default().set("min.cleanable.dirty.ratio", "1.5");
        assert!(
            matches!(&e, Err(Error::InvalidConfig { field: "min.cleanable.dirty.ratio", reason })
                if reason.contains("1.5 is outside 0..=1")),
            "{e:?}"
        );
        let e = TopicConfig::default().set("min.cleanable.dirty.ratio", "NaN");
        assert!(
            matches!(&e, Err(Error::InvalidConfig { field: "min.cleanable.dirty.ratio", reason })
                if reason.contains("not a finite decimal number")),
            "{e:?}"
        );
    }

    #[test]
    fn the_compaction_lags_must_not_cross() {
        // The key being set is the one named, whichever it is.
        let mut c = TopicConfig::default();
        c.set("max.compaction.lag.ms", "1000").unwrap();
        c.set("min.compaction.lag.ms", "1000").unwrap();
        let before = c.clone();
        let e = c.set("min.compaction.lag.ms", "1001");
        assert!(
            matches!(&e, Err(Error::InvalidConfig { field: "min.compaction.lag.ms", reason })
                if reason.contains("1001 is more than the maximum compaction lag, 1000")),
            "{e:?}"
        );
        let e = c.set("max.compaction.lag.ms", "999");
        assert!(
            matches!(&e, Err(Error::InvalidConfig { field: "max.compaction.lag.ms", reason })
                if reason.contains("999 is less than the minimum compaction lag, 1000")),
            "{e:?}"
        );
        assert_eq!(c, before);
        // Raising both, the maximum first, works.
        let c = TopicConfig::with_overrides(
            &c,
            [
                ("max.compaction.lag.ms", "5000"),
                ("min.compaction.lag.ms", "4000"),
            ],
        )
        .unwrap();
        assert_eq!(
            (c.log.min_compaction_lag_ms, c.log.max_compaction_lag_ms),
            (4000, 5000)
        );
    }

    #[test]
    fn a_number_beyond_an_int_setting_names_the_limit() {
        for key in ["max.message.bytes", "segment.bytes", "segment.index.bytes"] {
            for (value, says) in [
                ("2147483648", "2147483648 is above 2147483647, the largest"),
                ("3000000000", "3000000000 is above 2147483647, the largest"),
                (
                    "99999999999999999999999",
                    "is above 2147483647, the largest",
                ),
                ("-2147483649", "-2147483649 is negative"),
            ] {
                let mut c = TopicConfig::default();
                match c.set(key, value) {
                    Err(Error::InvalidConfig { field, reason }) => {
                        assert_eq!(field, key);
                        assert!(reason.contains(says), "{key}={value}: {reason}");
                    }
                    other => panic!("{key}={value}: {other:?}"),
                }
            }
        }
        // What is not a number at all is told so.
        let e = TopicConfig::default().set("max.message.bytes", "1e9");
        assert!(
            matches!(&e, Err(Error::InvalidConfig { reason, .. }) if reason.contains("not a whole number")),
            "{e:?}"
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let mut c = TopicConfig::default();
        for key in ["retention.hours", "Segment.bytes", "", "segment_bytes"] {
            match c.set(key, "1") {
                Err(Error::InvalidConfig { field, reason }) => {
                    assert_eq!(field, "config key");
                    assert!(reason.contains(&format!("{key:?}")), "{reason}");
                }
                other => panic!("{key}: expected InvalidConfig, got {other:?}"),
            }
        }
    }

    #[test]
    fn an_invalid_base_is_reported_under_its_own_field() {
        let mut c = TopicConfig::default();
        c.log.write_buffer_bytes = 1;
        assert_eq!(field_of(c.set("segment.ms", "1000")), "write_buffer_bytes");
    }

    #[test]
    fn overrides_apply_in_order_and_stop_at_the_first_error() {
        let base = TopicConfig::default();
        let c = TopicConfig::with_overrides(
            &base,
            [
                ("retention.ms", "1000"),
                ("segment.bytes", "1048576"),
                ("retention.ms", "-1"),
            ],
        )
        .unwrap();
        assert_eq!(c.retention_ms, None);
        assert_eq!(c.log.segment_bytes, 1 << 20);
        assert_eq!(TopicConfig::with_overrides(&base, []).unwrap(), base);

        let err = TopicConfig::with_overrides(
            &base,
            [("segment.bytes", "1048576"), ("segment.ms", "never")],
        );
        assert!(matches!(
            err,
            Err(Error::InvalidConfig {
                field: "segment.ms",
                ..
            })
        ));
    }
}

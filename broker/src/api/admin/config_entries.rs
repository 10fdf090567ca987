//! Config entries as DescribeConfigs and CreateTopics report them: a
//! topic's effective settings, each with where its value comes from, and
//! the broker's own settings.
//!
//! A topic's setting comes from the topic's override (`TOPIC_CONFIG`),
//! else from the broker's `--config` (`STATIC_BROKER_CONFIG`, under the
//! broker's name for it, e.g. `log.retention.ms` for `retention.ms`), else
//! from Kafka's default (`DEFAULT_CONFIG`). The broker keeps the settings
//! it started with, not which were given: a broker setting counts as set
//! when its value differs from Kafka's default. Synonyms list the sources
//! in that order, as Kafka lists them; like Kafka, a setting whose broker
//! name has no default of its own (`log.retention.ms`, `log.roll.ms`,
//! `log.flush.interval.ms`: Kafka derives them from other settings) has
//! no `DEFAULT_CONFIG` synonym.

use seglog::topic::TopicConfig;

use crate::BrokerConfig;

/// Where a value comes from (Kafka's `DescribeConfigsResponse.ConfigSource`).
pub mod source {
    /// The topic's own override.
    pub const TOPIC_CONFIG: i8 = 1;
    /// The broker's settings at start.
    pub const STATIC_BROKER_CONFIG: i8 = 4;
    /// Kafka's default.
    pub const DEFAULT_CONFIG: i8 = 5;
}

/// A value's type (Kafka's `DescribeConfigsResponse.ConfigType`).
pub mod kind {
    /// `true` or `false`.
    pub const BOOLEAN: i8 = 1;
    /// Any string.
    pub const STRING: i8 = 2;
    /// A 32-bit number.
    pub const INT: i8 = 3;
    /// A 16-bit number.
    pub const SHORT: i8 = 4;
    /// A 64-bit number.
    pub const LONG: i8 = 5;
    /// A decimal number.
    pub const DOUBLE: i8 = 6;
    /// A comma-separated list.
    pub const LIST: i8 = 7;
}

/// One source of a setting's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    /// The setting's name at that source.
    pub name: String,
    /// Its value there.
    pub value: String,
    /// Which source ([`source`]).
    pub source: i8,
}

/// One setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name.
    pub name: String,
    /// Its value in effect.
    pub value: String,
    /// Where that value comes from ([`source`]).
    pub source: i8,
    /// Its type ([`kind`]).
    pub config_type: i8,
    /// Whether it cannot be changed while the broker runs.
    pub read_only: bool,
    /// Every source that sets it, the one in effect first.
    pub synonyms: Vec<Synonym>,
}

/// A topic setting and the broker setting that gives its default.
struct TopicKey {
    key: &'static str,
    broker: &'static str,
    config_type: i8,
    /// Whether Kafka has a default under the broker's name.
    broker_default: bool,
}

const fn tk(
    key: &'static str,
    broker: &'static str,
    config_type: i8,
    broker_default: bool,
) -> TopicKey {
    TopicKey {
        key,
        broker,
        config_type,
        broker_default,
    }
}

/// Kafka's `ServerTopicConfigSynonyms`, for the settings a topic has here.
const TOPIC_KEYS: &[TopicKey] = &[
    tk("cleanup.policy", "log.cleanup.policy", kind::LIST, true),
    tk("compression.type", "compression.type", kind::STRING, true),
    tk(
        "delete.retention.ms",
        "log.cleaner.delete.retention.ms",
        kind::LONG,
        true,
    ),
    tk(
        "file.delete.delay.ms",
        "log.segment.delete.delay.ms",
        kind::LONG,
        true,
    ),
    tk(
        "flush.messages",
        "log.flush.interval.messages",
        kind::LONG,
        true,
    ),
    tk("flush.ms", "log.flush.interval.ms", kind::LONG, false),
    tk(
        "index.interval.bytes",
        "log.index.interval.bytes",
        kind::INT,
        true,
    ),
    tk(
        "max.compaction.lag.ms",
        "log.cleaner.max.compaction.lag.ms",
        kind::LONG,
        true,
    ),
    tk("max.message.bytes", "message.max.bytes", kind::INT, true),
    tk(
        "message.timestamp.type",
        "log.message.timestamp.type",
        kind::STRING,
        true,
    ),
    tk(
        "min.cleanable.dirty.ratio",
        "log.cleaner.min.cleanable.ratio",
        kind::DOUBLE,
        true,
    ),
    tk(
        "min.compaction.lag.ms",
        "log.cleaner.min.compaction.lag.ms",
        kind::LONG,
        true,
    ),
    tk("retention.bytes", "log.retention.bytes", kind::LONG, true),
    tk("retention.ms", "log.retention.ms", kind::LONG, false),
    tk("segment.bytes", "log.segment.bytes", kind::INT, true),
    tk(
        "segment.index.bytes",
        "log.index.size.max.bytes",
        kind::INT,
        true,
    ),
    tk("segment.ms", "log.roll.ms", kind::LONG, false),
];

/// The settings of a topic whose effective config is `effective`, created
/// with `overrides` on a store whose topic defaults are `defaults`; sorted
/// by name.
pub fn topic_entries(
    defaults: &TopicConfig,
    effective: &TopicConfig,
    overrides: &[(String, String)],
) -> Vec<Entry> {
    let kafka = TopicConfig::default();
    let mut entries: Vec<Entry> = TopicConfig::override_keys()
        .iter()
        .filter_map(|&key| {
            let value = effective.value_of(key)?;
            let known = TOPIC_KEYS.iter().find(|k| k.key == key);
            let mut synonyms = Vec::new();
            if overrides.iter().any(|(k, _)| k == key) {
                synonyms.push(synonym(key, &value, source::TOPIC_CONFIG));
            }
            if let Some(k) = known {
                let broker_value = defaults.value_of(key)?;
                let kafka_value = kafka.value_of(key)?;
                if broker_value != kafka_value {
                    synonyms.push(synonym(
                        k.broker,
                        &broker_value,
                        source::STATIC_BROKER_CONFIG,
                    ));
                }
                if k.broker_default {
                    synonyms.push(synonym(k.broker, &kafka_value, source::DEFAULT_CONFIG));
                }
            }
            Some(Entry {
                name: key.to_string(),
                source: synonyms
                    .first()
                    .map_or(source::DEFAULT_CONFIG, |s| s.source),
                value,
                config_type: known.map_or(0, |k| k.config_type),
                read_only: false,
                synonyms,
            })
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}

fn synonym(name: &str, value: &str, source: i8) -> Synonym {
    Synonym {
        name: name.to_string(),
        value: value.to_string(),
        source,
    }
}

/// The broker's settings, by Kafka's names, sorted: those of
/// [`BrokerConfig`] and the topic defaults it holds. All are read-only
/// (settings change only with a restart). `log.dirs` is always set.
pub fn broker_entries(config: &BrokerConfig) -> Vec<Entry> {
    let defaults = broker_values(&BrokerConfig::new(config.dir.clone(), config.listen));
    let mut entries: Vec<Entry> = broker_values(config)
        .into_iter()
        .zip(defaults)
        .map(|((name, config_type, value), (_, _, default))| {
            let mut synonyms = Vec::new();
            if value != default || name == "log.dirs" {
                synonyms.push(synonym(name, &value, source::STATIC_BROKER_CONFIG));
            }
            if name != "log.dirs"
                && !TOPIC_KEYS
                    .iter()
                    .any(|k| k.broker == name && !k.broker_default)
            {
                synonyms.push(synonym(name, &default, source::DEFAULT_CONFIG));
            }
            Entry {
                name: name.to_string(),
                value,
                source: synonyms
                    .first()
                    .map_or(source::DEFAULT_CONFIG, |s| s.source),
                config_type,
                read_only: true,
                synonyms,
            }
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}

/// (name, type, value) of every broker setting reported.
fn broker_values(c: &BrokerConfig) -> Vec<(&'static str, i8, String)> {
    let groups = &c.store.groups;
    let mut values = vec![
        (
            "auto.create.topics.enable",
            kind::BOOLEAN,
            c.auto_create_topics.to_string(),
        ),
        ("broker.id", kind::INT, c.node_id.to_string()),
        (
            "connections.max.idle.ms",
            kind::LONG,
            c.connections_max_idle.as_millis().to_string(),
        ),
        ("default.replication.factor", kind::INT, "1".to_string()),
        (
            "group.initial.rebalance.delay.ms",
            kind::INT,
            groups.group_initial_rebalance_delay_ms.to_string(),
        ),
        (
            "group.max.session.timeout.ms",
            kind::INT,
            groups.group_max_session_timeout_ms.to_string(),
        ),
        (
            "group.max.size",
            kind::INT,
            groups.group_max_size.to_string(),
        ),
        (
            "group.min.session.timeout.ms",
            kind::INT,
            groups.group_min_session_timeout_ms.to_string(),
        ),
        (
            "log.cleaner.dedupe.buffer.size",
            kind::LONG,
            c.store.cleaner.dedupe_buffer_size.to_string(),
        ),
        (
            "log.cleaner.enable",
            kind::BOOLEAN,
            c.store.cleaner.enable.to_string(),
        ),
        ("log.dirs", kind::STRING, c.dir.display().to_string()),
        (
            "log.retention.check.interval.ms",
            kind::LONG,
            c.store.retention_check_interval.as_millis().to_string(),
        ),
        ("max.connections", kind::INT, c.max_connections.to_string()),
        ("min.insync.replicas", kind::INT, "1".to_string()),
        ("node.id", kind::INT, c.node_id.to_string()),
        ("num.partitions", kind::INT, c.num_partitions.to_string()),
        (
            "offset.metadata.max.bytes",
            kind::INT,
            groups.offset_metadata_max_bytes.to_string(),
        ),
        (
            "offsets.retention.check.interval.ms",
            kind::LONG,
            groups.offsets_retention_check_interval_ms.to_string(),
        ),
        (
            "offsets.retention.minutes",
            kind::INT,
            groups.offsets_retention_minutes.to_string(),
        ),
        (
            "offsets.topic.num.partitions",
            kind::INT,
            groups.offsets_topic_num_partitions.to_string(),
        ),
        (
            "offsets.topic.replication.factor",
            kind::SHORT,
            "1".to_string(),
        ),
        (
            "offsets.topic.segment.bytes",
            kind::INT,
            groups.offsets_topic_segment_bytes.to_string(),
        ),
        (
            "socket.request.max.bytes",
            kind::INT,
            c.socket_request_max_bytes.to_string(),
        ),
    ];
    for k in TOPIC_KEYS {
        if let Some(v) = c.store.topic_defaults.value_of(k.key) {
            values.push((k.broker, k.config_type, v));
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(entries: &'a [Entry], name: &str) -> &'a Entry {
        entries.iter().find(|e| e.name == name).unwrap()
    }

    fn broker(settings: &[(&str, &str)]) -> BrokerConfig {
        let mut c = BrokerConfig::new("/data", "127.0.0.1:9092".parse().unwrap());
        c.apply(settings.iter().copied()).unwrap();
        c
    }

    #[test]
    fn every_topic_setting_has_its_broker_name() {
        let keys: Vec<&str> = TOPIC_KEYS.iter().map(|k| k.key).collect();
        let mut all = TopicConfig::override_keys().to_vec();
        all.sort_unstable();
        assert_eq!(keys, all);
        // The broker accepts each under that name.
        for k in TOPIC_KEYS {
            let value = TopicConfig::default().value_of(k.key).unwrap();
            broker(&[(k.broker, &value)]);
        }
    }

    #[test]
    fn a_topic_setting_comes_from_its_override_then_the_broker_then_kafka() {
        let c = broker(&[
            ("log.retention.ms", "5000"),
            ("log.segment.bytes", "1048576"),
        ]);
        let defaults = &c.store.topic_defaults;
        let overrides = vec![("segment.bytes".to_string(), "2097152".to_string())];
        let effective =
            TopicConfig::with_overrides(defaults, [("segment.bytes", "2097152")]).unwrap();
        let entries = topic_entries(defaults, &effective, &overrides);
        assert_eq!(entries.len(), TopicConfig::override_keys().len());
        assert!(entries.windows(2).all(|w| w[0].name < w[1].name));

        let segment = entry(&entries, "segment.bytes");
        assert_eq!(segment.value, "2097152");
        assert_eq!(segment.source, source::TOPIC_CONFIG);
        assert_eq!(segment.config_type, kind::INT);
        assert_eq!(
            segment.synonyms,
            vec![
                synonym("segment.bytes", "2097152", source::TOPIC_CONFIG),
                synonym("log.segment.bytes", "1048576", source::STATIC_BROKER_CONFIG),
                synonym("log.segment.bytes", "1073741824", source::DEFAULT_CONFIG),
            ]
        );
        let retention = entry(&entries, "retention.ms");
        assert_eq!(retention.value, "5000");
        assert_eq!(retention.source, source::STATIC_BROKER_CONFIG);
        assert_eq!(
            retention.synonyms,
            vec![synonym(
                "log.retention.ms",
                "5000",
                source::STATIC_BROKER_CONFIG
            )]
        );
        let policy = entry(&entries, "cleanup.policy");
        assert_eq!(
            (policy.value.as_str(), policy.source),
            ("delete", source::DEFAULT_CONFIG)
        );
        assert_eq!(policy.config_type, kind::LIST);
        assert_eq!(
            policy.synonyms,
            vec![synonym(
                "log.cleanup.policy",
                "delete",
                source::DEFAULT_CONFIG
            )]
        );
        // Kafka has no default under log.roll.ms: no synonym at all.
        let roll = entry(&entries, "segment.ms");
        assert_eq!(roll.source, source::DEFAULT_CONFIG);
        assert!(roll.synonyms.is_empty());
        assert!(entries.iter().all(|e| !e.read_only));
    }

    #[test]
    fn broker_settings_read_back_and_say_which_were_set() {
        let c = broker(&[("num.partitions", "3"), ("log.retention.hours", "1")]);
        let entries = broker_entries(&c);
        assert!(entries.windows(2).all(|w| w[0].name < w[1].name));
        let partitions = entry(&entries, "num.partitions");
        assert_eq!(partitions.value, "3");
        assert_eq!(partitions.source, source::STATIC_BROKER_CONFIG);
        assert_eq!(
            partitions.synonyms,
            vec![
                synonym("num.partitions", "3", source::STATIC_BROKER_CONFIG),
                synonym("num.partitions", "1", source::DEFAULT_CONFIG),
            ]
        );
        let retention = entry(&entries, "log.retention.ms");
        assert_eq!(
            (retention.value.as_str(), retention.source),
            ("3600000", source::STATIC_BROKER_CONFIG)
        );
        let idle = entry(&entries, "connections.max.idle.ms");
        assert_eq!(
            (idle.value.as_str(), idle.source),
            ("600000", source::DEFAULT_CONFIG)
        );
        assert_eq!(entry(&entries, "log.dirs").value, "/data");
        assert_eq!(
            entry(&entries, "log.dirs").source,
            source::STATIC_BROKER_CONFIG
        );
        assert!(entries.iter().all(|e| e.read_only));
        // Every value is one the broker accepts back under its name, and
        // the same settings come out again.
        let again: Vec<(String, String)> = entries
            .iter()
            .filter(|e| e.name != "log.dirs")
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        let c2 = broker(
            &again
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        );
        let values = |es: Vec<Entry>| {
            es.into_iter()
                .map(|e| (e.name, e.value))
                .collect::<Vec<_>>()
        };
        assert_eq!(values(broker_entries(&c2)), values(broker_entries(&c)));
    }
}

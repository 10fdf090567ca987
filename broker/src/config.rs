//! The broker's settings, in Kafka's broker config names where they apply.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use seglog::store::StoreConfig;

/// What the broker serves and how.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// The store's directory.
    pub dir: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The host and port clients are told to connect to (Kafka's
    /// `advertised.listeners`); `None` advertises the listening address.
    pub advertised: Option<(String, u16)>,
    /// `node.id` / `broker.id`: the one node's id. Default 0.
    pub node_id: i32,
    /// `num.partitions`: partitions of a topic created without a count
    /// (auto-created, or CreateTopics with -1). Default 1.
    pub num_partitions: u32,
    /// `auto.create.topics.enable`: Metadata creates the unknown topics it
    /// is asked about (Produce does not: as in Kafka, it answers
    /// `UNKNOWN_TOPIC_OR_PARTITION` and the client asks Metadata). Default
    /// true.
    pub auto_create_topics: bool,
    /// `socket.request.max.bytes`: the largest request frame accepted; a
    /// larger one closes its connection. Default 100 MiB.
    pub socket_request_max_bytes: usize,
    /// `max.connections`: connections served at once; more are closed as
    /// they arrive. Default 1,000.
    pub max_connections: usize,
    /// `connections.max.idle.ms`: a connection with no request for this
    /// long is closed. Default 10 minutes.
    pub connections_max_idle: Duration,
    /// The store's own config, with the `log.*`, `offsets.*` and `group.*`
    /// settings applied.
    pub store: StoreConfig,
}

impl BrokerConfig {
    /// Kafka's defaults for a store in `dir` listening on `listen`.
    pub fn new(dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        BrokerConfig {
            dir: dir.into(),
            listen,
            advertised: None,
            node_id: 0,
            num_partitions: 1,
            auto_create_topics: true,
            socket_request_max_bytes: 100 * 1024 * 1024,
            max_connections: 1000,
            connections_max_idle: Duration::from_secs(600),
            store: StoreConfig::default(),
        }
    }

    /// Applies `key=value` settings in order. Retention in ms wins over
    /// minutes, which wins over hours, whatever the order, as in Kafka.
    ///
    /// # Errors
    /// A sentence naming the key for an unknown key or a bad value.
    pub fn apply<'a>(
        &mut self,
        settings: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), String> {
        let mut settings: Vec<(&str, &str)> = settings.into_iter().collect();
        // Coarser retention and roll units first, so a finer one overrides.
        let rank = |k: &str| match k {
            "log.retention.hours" | "log.roll.hours" => 0,
            "log.retention.minutes" => 1,
            _ => 2,
        };
        settings.sort_by_key(|(k, _)| rank(k));
        for (key, value) in settings {
            self.set(key, value.trim())
                .map_err(|e| format!("--config {key}={value}: {e}"))?;
        }
        Ok(())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let topic = |this: &mut Self, name: &str, value: &str| {
            this.store
                .topic_defaults
                .set(name, value)
                .map_err(|e| e.to_string())
        };
        match key {
            "node.id" | "broker.id" => self.node_id = parse(value)?,
            "num.partitions" => {
                self.num_partitions = parse(value)?;
                if self.num_partitions == 0 {
                    return Err("must be at least 1".into());
                }
            }
            "auto.create.topics.enable" => self.auto_create_topics = parse(value)?,
            "socket.request.max.bytes" => self.socket_request_max_bytes = parse(value)?,
            "max.connections" => self.max_connections = parse(value)?,
            "connections.max.idle.ms" => {
                self.connections_max_idle = Duration::from_millis(parse(value)?)
            }
            "log.retention.check.interval.ms" => {
                let ms: u64 = parse(value)?;
                if ms == 0 {
                    return Err("must be at least 1".into());
                }
                self.store.retention_check_interval = Duration::from_millis(ms);
            }
            "log.retention.ms" => topic(self, "retention.ms", value)?,
            "log.retention.minutes" => topic(self, "retention.ms", &scaled(value, 60_000)?)?,
            "log.retention.hours" => topic(self, "retention.ms", &scaled(value, 3_600_000)?)?,
            "log.retention.bytes" => topic(self, "retention.bytes", value)?,
            "log.segment.bytes" => topic(self, "segment.bytes", value)?,
            "log.roll.ms" => topic(self, "segment.ms", value)?,
            "log.roll.hours" => topic(self, "segment.ms", &scaled(value, 3_600_000)?)?,
            "log.cleanup.policy" => topic(self, "cleanup.policy", value)?,
            "message.max.bytes" => topic(self, "max.message.bytes", value)?,
            "compression.type" => topic(self, "compression.type", value)?,
            "log.message.timestamp.type" => topic(self, "message.timestamp.type", value)?,
            "log.index.interval.bytes" => topic(self, "index.interval.bytes", value)?,
            "log.index.size.max.bytes" => topic(self, "segment.index.bytes", value)?,
            "log.flush.interval.messages" => topic(self, "flush.messages", value)?,
            "log.flush.interval.ms" => topic(self, "flush.ms", value)?,
            "log.segment.delete.delay.ms" => topic(self, "file.delete.delay.ms", value)?,
            "log.cleaner.min.cleanable.ratio" => topic(self, "min.cleanable.dirty.ratio", value)?,
            "log.cleaner.delete.retention.ms" => topic(self, "delete.retention.ms", value)?,
            "log.cleaner.min.compaction.lag.ms" => topic(self, "min.compaction.lag.ms", value)?,
            "log.cleaner.max.compaction.lag.ms" => topic(self, "max.compaction.lag.ms", value)?,
            "log.cleaner.enable" => self.store.cleaner.enable = parse(value)?,
            "log.cleaner.dedupe.buffer.size" => {
                self.store.cleaner.dedupe_buffer_size = parse(value)?
            }
            "offsets.topic.num.partitions" => {
                self.store.groups.offsets_topic_num_partitions = parse(value)?
            }
            "offsets.topic.segment.bytes" => {
                self.store.groups.offsets_topic_segment_bytes = parse(value)?
            }
            "offsets.retention.minutes" => {
                self.store.groups.offsets_retention_minutes = parse(value)?
            }
            "offsets.retention.check.interval.ms" => {
                self.store.groups.offsets_retention_check_interval_ms = parse(value)?
            }
            "offset.metadata.max.bytes" => {
                self.store.groups.offset_metadata_max_bytes = parse(value)?
            }
            "group.min.session.timeout.ms" => {
                self.store.groups.group_min_session_timeout_ms = parse(value)?
            }
            "group.max.session.timeout.ms" => {
                self.store.groups.group_max_session_timeout_ms = parse(value)?
            }
            "group.initial.rebalance.delay.ms" => {
                self.store.groups.group_initial_rebalance_delay_ms = parse(value)?
            }
            "group.max.size" => self.store.groups.group_max_size = parse(value)?,
            // One node: a replication factor or ISR minimum other than 1
            // cannot be met, so only 1 is accepted.
            "default.replication.factor"
            | "offsets.topic.replication.factor"
            | "min.insync.replicas" => {
                if parse::<i32>(value)? != 1 {
                    return Err("this broker is a single node without replication: only 1".into());
                }
            }
            _ => return Err("not a setting this broker knows".into()),
        }
        Ok(())
    }
}

fn parse<T: std::str::FromStr>(value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{value:?} is not a valid value"))
}

/// `value` (a count of some unit) in ms, as a string; -1 stays -1.
fn scaled(value: &str, unit_ms: i64) -> Result<String, String> {
    let n: i64 = parse(value)?;
    if n == -1 {
        return Ok("-1".into());
    }
    n.checked_mul(unit_ms)
        .map(|ms| ms.to_string())
        .ok_or_else(|| format!("{value} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BrokerConfig {
        BrokerConfig::new("/tmp/x", "127.0.0.1:9092".parse().unwrap())
    }

    #[test]
    fn kafka_names_set_the_store_config() {
        let mut c = config();
        c.apply([
            ("num.partitions", "3"),
            ("log.retention.hours", "1"),
            ("log.segment.bytes", "1048576"),
            ("offsets.topic.num.partitions", "5"),
            ("auto.create.topics.enable", "false"),
        ])
        .unwrap();
        assert_eq!(c.num_partitions, 3);
        assert_eq!(c.store.topic_defaults.retention_ms, Some(3_600_000));
        assert_eq!(c.store.topic_defaults.log.segment_bytes, 1 << 20);
        assert_eq!(c.store.groups.offsets_topic_num_partitions, 5);
        assert!(!c.auto_create_topics);
    }

    #[test]
    fn finer_retention_units_win_whatever_the_order() {
        let mut c = config();
        c.apply([("log.retention.ms", "5000"), ("log.retention.hours", "2")])
            .unwrap();
        assert_eq!(c.store.topic_defaults.retention_ms, Some(5000));
        c.apply([("log.retention.hours", "-1")]).unwrap();
        assert_eq!(c.store.topic_defaults.retention_ms, None);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_by_name() {
        let mut c = config();
        let e = c.apply([("log.retention.weeks", "1")]).unwrap_err();
        assert!(e.contains("log.retention.weeks"), "{e}");
        assert!(c.apply([("num.partitions", "zero")]).is_err());
        assert!(c.apply([("num.partitions", "0")]).is_err());
        assert!(c.apply([("log.segment.bytes", "10")]).is_err());
        assert!(c.apply([("default.replication.factor", "3")]).is_err());
        c.apply([("default.replication.factor", "1")]).unwrap();
    }
}

//! Topics: names, per-topic configuration, and how records are spread
//! over a topic's partitions.
//!
//! * [`name`]: Kafka's rules for topic names and the `<topic>-<partition>`
//!   directory names of partitions.
//! * [`config`]: [`TopicConfig`], a [`LogConfig`](crate::LogConfig) plus
//!   retention settings, settable by Kafka's topic config names.
//! * [`partitioner`]: Kafka's murmur2 key hash and the sticky partitioner
//!   for keyless records, so keys land where a Kafka client puts them.

pub mod config;
mod config_values;
pub mod name;
pub mod partitioner;

pub use config::{CleanupPolicy, TopicConfig};
pub use name::{
    is_internal_topic, parse_partition_dir_name, partition_dir_name, validate_topic_name,
    CONSUMER_OFFSETS_TOPIC, MAX_TOPIC_NAME_LEN,
};
pub use partitioner::{murmur2, partition_for_key, DefaultPartitioner, Partitioner};

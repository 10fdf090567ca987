//! Topics: names, per-topic configuration, and how records are spread
//! over a topic's partitions.

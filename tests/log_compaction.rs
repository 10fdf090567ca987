//! Compaction of one partition log: Kafka's cleaner scenarios, the
//! delete horizon, producers, aborts, crash safety and a model check.

mod common;
mod common_crash;

#[path = "compaction/abort.rs"]
mod abort;
#[path = "compaction/fixtures.rs"]
mod fixtures;
#[path = "compaction/helpers.rs"]
mod helpers;
#[path = "compaction/model.rs"]
mod model;
#[path = "compaction/power_loss.rs"]
mod power_loss;
#[path = "compaction/readers.rs"]
mod readers;
#[path = "compaction/scenarios.rs"]
mod scenarios;

//! Compaction of one partition log: Kafka's cleaner scenarios, the
//! delete horizon, producers, aborts, crash safety and a model check.

mod common;
mod common_crash;
mod common_read_only;

#[path = "compaction/helpers.rs"]
mod helpers;
#[path = "compaction/keys_and_rolls.rs"]
mod keys_and_rolls;
#[path = "compaction/power_loss.rs"]
mod power_loss;
#[path = "compaction/read_only.rs"]
mod read_only;
#[path = "compaction/scenarios.rs"]
mod scenarios;

//! Compaction of one partition log: Kafka's cleaner scenarios, the
//! delete horizon, producers, aborts, crash safety and a model check.

mod common;
mod common_crash;
mod common_read_only;

#[path = "compaction/abort.rs"]
mod abort;
#[path = "compaction/damage.rs"]
mod damage;
#[path = "compaction/fixtures.rs"]
mod fixtures;
#[path = "compaction/helpers.rs"]
mod helpers;
#[path = "compaction/keys_and_rolls.rs"]
mod keys_and_rolls;
#[path = "compaction/mapped.rs"]
mod mapped;
#[path = "compaction/model.rs"]
mod model;
#[path = "compaction/power_loss.rs"]
mod power_loss;
#[path = "compaction/races.rs"]
mod races;
#[path = "compaction/read_only.rs"]
mod read_only;
#[path = "compaction/readers.rs"]
mod readers;
#[path = "compaction/scenarios.rs"]
mod scenarios;

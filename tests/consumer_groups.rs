//! Committed offsets and consumer groups: `__consumer_offsets`, commits,
//! recovery, the consumer's use of them.

mod common_crash;
mod common_store;

#[path = "consumer_groups/admin.rs"]
mod admin;
#[path = "consumer_groups/commits.rs"]
mod commits;
#[path = "consumer_groups/helpers.rs"]
mod helpers;
#[path = "consumer_groups/kill.rs"]
mod kill;
#[path = "consumer_groups/membership.rs"]
mod membership;
#[path = "consumer_groups/membership_edges.rs"]
mod membership_edges;
#[path = "consumer_groups/model.rs"]
mod model;
#[path = "consumer_groups/pauses.rs"]
mod pauses;
#[path = "consumer_groups/recovery.rs"]
mod recovery;

//! Retention: the pure plan of what goes, one partition log's retention
//! and deletion of segments, and the store's retention passes.

mod common_crash;
mod common_store;

#[path = "retention/log.rs"]
mod log;
#[path = "retention/plan.rs"]
mod plan;
#[path = "retention/store.rs"]
mod store;

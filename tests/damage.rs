//! Damaged files: what opening a log does with them, a damaged tail
//! against a model, and a read-only view of damage.

mod common_crash;
mod common_read_only;

#[path = "damage/open.rs"]
mod open;
#[path = "damage/read_only.rs"]
mod read_only;
#[path = "damage/tail.rs"]
mod tail;

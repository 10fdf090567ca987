//! Opening a store: one writer per partition (a store and standalone logs
//! exclude each other, in one process and across two), and the checks of
//! the store's own files, made before anything is written.

mod common_store;
#[path = "store_open/metadata.rs"]
mod metadata;
#[path = "store_open/writer_lock.rs"]
mod writer_lock;

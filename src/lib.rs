//! seglog (docs below are replaced in the next step)
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod aligned;
mod checkpoint;
pub mod clock;
pub mod config;
pub mod error;
pub mod inspect;
pub mod io;
pub mod log;
mod poison;
pub mod record;
pub mod segment;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Durability, LogConfig, RecoveryMode};
pub use error::{Error, Result};
pub use log::{
    AppendInfo, FetchData, FileSlice, LogIter, LogReader, OpenOptions, PartitionLog, ReadBatch,
    RecoveryReport, SegmentInfo, TimestampLookup, Truncation,
};
pub use record::{
    BatchBuilder, BatchHeader, Compression, Header, LogRecord, Record, RecordBatch, RecordView,
    TimestampType,
};

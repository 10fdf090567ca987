//! `seglog compact`: one compaction round now on a topic's partitions.

use std::path::Path;

use clap::Args;

use crate::store::{parse_partition, with_store, Create, Out};
use crate::CliError;

/// The example in `compact --help`.
pub const EXAMPLE: &str = "Example:\n  seglog compact --topic users --partition 0";

/// `compact`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The topic; its cleanup.policy must compact.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// The partition; all of the topic's partitions by default.
    #[arg(long, value_name = "P", value_parser = parse_partition, allow_negative_numbers = true)]
    pub partition: Option<u32>,
}

/// Runs `compact`: a line per partition, after a line naming the topic,
/// of what its round did: the dirty section it cleaned
/// (`DirtyStart`..`DirtyEnd`), where it ended (the new cleaner
/// checkpoint), bytes read and written, records kept and dropped (and of
/// those, tombstones), and how long it took. A round that an offset map
/// too small for the dirty section stopped early, or that a truncation
/// got ahead of, says so on the line after.
pub fn run(args: CompactArgs, dir: &Path) -> Result<(), CliError> {
    with_store(dir, Create::No, |store| {
        let done = store.compact(&args.topic, args.partition)?;
        let mut out = Out::new();
        writeln!(out, "Topic: {}", args.topic)?;
        for (p, o) in &done {
            writeln!(
                out,
                "\tPartition: {p}\tDirtyStart: {}\tDirtyEnd: {}\tEndOffset: {}\t\
                 BytesRead: {}\tBytesWritten: {}\tRecordsKept: {}\tRecordsDropped: {}\t\
                 TombstonesDropped: {}\tDurationMs: {}",
                o.first_dirty_offset,
                o.first_uncleanable_offset,
                o.end_offset,
                o.bytes_read,
                o.bytes_written,
                o.records_kept,
                o.records_dropped,
                o.tombstones_dropped,
                o.duration.as_millis()
            )?;
            if o.aborted {
                writeln!(
                    out,
                    "\t\t(aborted: the partition was truncated meanwhile; nothing changed)"
                )?;
            } else if o.map_full {
                writeln!(
                    out,
                    "\t\t(the offset map filled up: the next round goes on from EndOffset)"
                )?;
            }
        }
        out.flush()
    })
}

//! `seglog delete-records`, `maintain` and `stats`.

use clap::Args;
use seglog::PartitionLog;

use crate::store::{read_store, with_store, Create, Out};
use crate::topics::plural;
use crate::{CliError, DirArg};

/// The example in `delete-records --help`.
pub const DELETE_RECORDS_EXAMPLE: &str =
    "Example:\n  seglog delete-records --topic orders --partition 0 --before 1000";
/// The example in `maintain --help`.
pub const MAINTAIN_EXAMPLE: &str = "Example:\n  seglog maintain --dir ./seglog-data";
/// The example in `stats --help`.
pub const STATS_EXAMPLE: &str = "Example:\n  seglog stats --dir ./seglog-data";

/// `delete-records`.
#[derive(Debug, Args)]
pub struct DeleteRecordsArgs {
    /// The topic.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// The partition.
    #[arg(long, value_name = "P")]
    pub partition: u32,
    /// Records below this offset are deleted (it becomes the log start
    /// offset); at most the log end offset.
    #[arg(long, value_name = "OFFSET")]
    pub before: u64,
    #[command(flatten)]
    pub dir: DirArg,
}

/// `maintain`.
#[derive(Debug, Args)]
pub struct MaintainArgs {
    #[command(flatten)]
    pub dir: DirArg,
}

/// `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub dir: DirArg,
}

/// Runs `delete-records`: prints the new log start offset.
pub fn delete_records(args: DeleteRecordsArgs) -> Result<(), CliError> {
    with_store(&args.dir.dir, Create::No, |store| {
        let start = store.delete_records(&args.topic, args.partition, args.before)?;
        let mut out = Out::new();
        writeln!(
            out,
            "{}-{}: log start offset is now {start}",
            args.topic, args.partition
        )?;
        out.flush()
    })
}

/// Runs `maintain` once and prints its report; the errors it met (one a
/// line) make the exit code 1.
pub fn maintain(args: MaintainArgs) -> Result<(), CliError> {
    with_store(&args.dir.dir, Create::No, |store| {
        let report = store.maintain()?;
        let mut out = Out::new();
        writeln!(out, "partitions visited: {}", report.partitions)?;
        writeln!(out, "segments deleted: {}", report.segments_deleted)?;
        writeln!(out, "bytes freed: {}", report.bytes_freed)?;
        writeln!(out, "files removed: {}", report.files_removed)?;
        writeln!(out, "partitions flushed: {}", report.partitions_flushed)?;
        writeln!(out, "segments synced: {}", report.segments_synced)?;
        writeln!(out, "compaction rounds: {}", report.compaction_rounds)?;
        for c in &report.compactions {
            writeln!(
                out,
                "  {}: {} round{}, read {} bytes, wrote {} bytes, dropped {} records",
                c.partition,
                c.rounds.len(),
                plural(c.rounds.len()),
                c.bytes_read(),
                c.bytes_written(),
                c.records_dropped()
            )?;
        }
        writeln!(
            out,
            "compaction bytes read: {}",
            report.compaction_bytes_read
        )?;
        writeln!(
            out,
            "compaction bytes written: {}",
            report.compaction_bytes_written
        )?;
        writeln!(
            out,
            "records dropped by compaction: {}",
            report.compaction_records_dropped
        )?;
        writeln!(out, "errors: {}", report.errors.len())?;
        for e in &report.errors {
            writeln!(out, "  {}: {}", e.partition, e.error)?;
        }
        out.flush()?;
        match report.errors.len() {
            0 => Ok(()),
            n => Err(CliError::Message(format!(
                "maintenance failed in {n} partition(s); see the report above"
            ))),
        }
    })
}

/// The column names `stats` prints first.
const STATS_HEADER: &str = "TOPIC\tPARTITION\tSEGMENTS\tBYTES\tLOG-START\tLOG-END\t\
     OLDEST-TIMESTAMP\tNEWEST-TIMESTAMP\tDIRTY-RATIO\tCLEANER-CHECKPOINT";

/// Runs `stats`: one tab-separated line per partition, after a header
/// line. A timestamp is `-` for a partition without records. The store
/// is opened read-only, so this works beside the process that has it open.
///
/// For a topic whose cleanup policy compacts, the dirty ratio (the
/// partition's cleanable ratio, three decimals) and the cleaner
/// checkpoint (where its last compaction round ended, `-` before the
/// first); both are `-` for other topics.
///
/// The oldest timestamp is that of the record at the log start offset;
/// the newest is the largest record timestamp at or after it, in any
/// segment ([`PartitionLog::max_timestamp`]), so a producer-set timestamp
/// larger than those after it still counts. Records without a timestamp
/// (-1) are not counted for the newest.
pub fn stats(args: StatsArgs) -> Result<(), CliError> {
    read_store(&args.dir.dir, |store| {
        let mut out = Out::new();
        writeln!(out, "{STATS_HEADER}")?;
        for topic in store.list_topics() {
            let description = store.describe_topic(&topic)?;
            for p in &description.partitions {
                let log = store.partition(&topic, p.partition)?;
                let (oldest, newest) = timestamps(&log)?;
                let ratio = p
                    .cleanable_ratio
                    .map_or_else(|| "-".to_string(), |r| format!("{r:.3}"));
                let checkpoint = p
                    .cleaner_checkpoint
                    .map_or_else(|| "-".to_string(), |c| c.to_string());
                writeln!(
                    out,
                    "{topic}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{ratio}\t{checkpoint}",
                    p.partition,
                    p.segments,
                    p.size_bytes,
                    p.log_start_offset,
                    p.log_end_offset,
                    show(oldest),
                    show(newest)
                )?;
            }
        }
        out.flush()
    })
}

fn show(ts: Option<i64>) -> String {
    ts.map_or_else(|| "-".to_string(), |t| t.to_string())
}

/// The oldest and newest timestamps of a partition, as `stats` defines
/// them.
fn timestamps(log: &PartitionLog) -> Result<(Option<i64>, Option<i64>), CliError> {
    let start = log.log_start_offset();
    let end = log.log_end_offset();
    if start >= end {
        return Ok((None, None));
    }
    let oldest = log.iter(start).next().transpose()?.map(|r| r.timestamp);
    let newest = log.max_timestamp()?.map(|m| m.timestamp);
    Ok((oldest, newest))
}

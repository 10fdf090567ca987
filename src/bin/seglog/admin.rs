//! `seglog delete-records`, `maintain` and `stats`.

use std::path::Path;

use clap::Args;
use seglog::PartitionLog;

use crate::store::{parse_partition, read_store, with_store, Create, Format, Out};
use crate::topics::plural;
use crate::{json, time, CliError};

/// The example in `delete-records --help`.
pub const DELETE_RECORDS_EXAMPLE: &str =
    "Example:\n  seglog delete-records --topic orders --partition 0 --before 1000";
/// The example in `maintain --help`.
pub const MAINTAIN_EXAMPLE: &str = "Example:\n  seglog maintain --dir ./seglog-data";
/// The example in `stats --help`.
pub const STATS_EXAMPLE: &str = "Examples:\n  \
    seglog stats --dir ./seglog-data\n  \
    seglog stats --output json";

/// `delete-records`.
#[derive(Debug, Args)]
pub struct DeleteRecordsArgs {
    /// The topic.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// The partition.
    #[arg(long, value_name = "P", value_parser = parse_partition, allow_negative_numbers = true)]
    pub partition: u32,
    /// Records below this offset are deleted (it becomes the log start
    /// offset); at most the log end offset.
    #[arg(long, value_name = "OFFSET")]
    pub before: u64,
}

/// `maintain`.
#[derive(Debug, Args)]
pub struct MaintainArgs {}

/// `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Output format: tab-separated columns with RFC 3339 (UTC)
    /// timestamps, or a JSON array of partitions with timestamps in
    /// milliseconds.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

/// Runs `delete-records`: prints the new log start offset.
pub fn delete_records(args: DeleteRecordsArgs, dir: &Path) -> Result<(), CliError> {
    with_store(dir, Create::No, |store| {
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
pub fn maintain(_args: MaintainArgs, dir: &Path) -> Result<(), CliError> {
    with_store(dir, Create::No, |store| {
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
/// line, or with `--output json` an array of objects (`topic`,
/// `partition`, `segments`, `size_bytes`, `log_start_offset`,
/// `log_end_offset`, `oldest_timestamp`, `newest_timestamp`,
/// `dirty_ratio`, `cleaner_checkpoint`). A timestamp is RFC 3339 in UTC
/// in text (`-` for a partition without records, or a record without a
/// timestamp) and milliseconds since the Unix epoch in JSON (`null`). The
/// store is opened read-only, so this works beside the process that has
/// it open.
///
/// For a topic whose cleanup policy compacts, the dirty ratio (the
/// partition's cleanable ratio, three decimals in text) and the cleaner
/// checkpoint (where its last compaction round ended, `-` or `null`
/// before the first); both are `-` (`null`) for other topics.
///
/// The oldest timestamp is that of the record at the log start offset;
/// the newest is the largest record timestamp at or after it, in any
/// segment ([`PartitionLog::max_timestamp`]), so a producer-set timestamp
/// larger than those after it still counts. Records without a timestamp
/// (-1) are not counted for the newest.
pub fn stats(args: StatsArgs, dir: &Path) -> Result<(), CliError> {
    read_store(dir, |store| {
        let mut out = Out::new();
        let mut json_rows = Vec::new();
        if args.output == Format::Text {
            writeln!(out, "{STATS_HEADER}")?;
        }
        for topic in store.list_topics() {
            let description = store.describe_topic(&topic)?;
            for p in &description.partitions {
                let log = store.partition(&topic, p.partition)?;
                let (oldest, newest) = timestamps(&log)?;
                if args.output == Format::Json {
                    let mut row = String::from("{\"topic\":");
                    json::string(&mut row, &topic);
                    row.push_str(&format!(
                        ",\"partition\":{},\"segments\":{},\"size_bytes\":{},\
                         \"log_start_offset\":{},\"log_end_offset\":{},\
                         \"oldest_timestamp\":{},\"newest_timestamp\":{},\
                         \"dirty_ratio\":{},\"cleaner_checkpoint\":{}}}",
                        p.partition,
                        p.segments,
                        p.size_bytes,
                        p.log_start_offset,
                        p.log_end_offset,
                        json::or_null(oldest),
                        json::or_null(newest),
                        json::number_or_null(p.cleanable_ratio),
                        json::or_null(p.cleaner_checkpoint)
                    ));
                    json_rows.push(row);
                    continue;
                }
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
        if args.output == Format::Json {
            writeln!(out, "[{}]", json_rows.join(","))?;
        }
        out.flush()
    })
}

/// A timestamp in text: RFC 3339 in UTC, or `-` for none (or -1, a
/// record without one).
fn show(ts: Option<i64>) -> String {
    match ts {
        Some(t) if t >= 0 => time::rfc3339_utc(t),
        _ => "-".to_string(),
    }
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

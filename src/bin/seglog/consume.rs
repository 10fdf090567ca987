//! `seglog consume`: printing a topic's records.
//!
//! Where it starts, as Kafka's console consumer: by default at the end of
//! each partition (only records appended from now on, which without
//! `--follow` is nothing); `--from-beginning` at the log start offset;
//! `--offset N` at offset N of each partition read (an offset outside a
//! partition's log is an error); `--timestamp MS` at the first record
//! whose timestamp is at or after MS (or the end).
//!
//! Without `--follow` it stops once every partition has reached the log
//! end offset it had when the command started; with `--follow` it keeps
//! waiting for new records until interrupted (Ctrl-C). `--max N` stops
//! after N records either way.
//!
//! The store is opened read-only, so this runs beside the process that has
//! it open (a service embedding seglog, or `seglog produce`), and
//! `--follow` prints what that process appends, looking at the files every
//! 100 ms while it waits.
//!
//! Text output is each record's value as UTF-8 (invalid bytes replaced by
//! U+FFFD), one a line, and `null` for a record without a value, as
//! Kafka's console consumer prints. JSON output is one object a line, see
//! the `json` module.

use std::collections::HashMap;
use std::time::Duration;

use clap::{Args, ValueEnum};
use seglog::store::{AutoOffsetReset, ConsumerConfig, LogStore, TopicPartition};

use crate::store::{read_store, with_store, Create, Out};
use crate::{json, CliError, DirArg};

/// The example in `consume --help`.
pub const EXAMPLE: &str = "Examples:\n  \
    seglog consume --topic orders --from-beginning --format json\n  \
    seglog consume --topic orders --partition 0 --offset 42 --max 10\n  \
    seglog consume --topic orders --follow";

/// How records are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The value as UTF-8 (lossy), one a line.
    Text,
    /// One JSON object a line: partition, offset, timestamp, key, value,
    /// headers.
    Json,
}

/// `consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// The topic to read.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// Read only this partition (default: all of them).
    #[arg(long, value_name = "P")]
    pub partition: Option<u32>,
    /// Start at the log start offset (default: at the end, only new
    /// records).
    #[arg(long, group = "start")]
    pub from_beginning: bool,
    /// Start at this offset in each partition read.
    #[arg(long, value_name = "N", group = "start")]
    pub offset: Option<u64>,
    /// Start at the first record with a timestamp at or after MS
    /// (milliseconds since the Unix epoch).
    #[arg(long, value_name = "MS", group = "start")]
    pub timestamp: Option<i64>,
    /// Stop after N records.
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
    /// Keep waiting for new records until interrupted.
    #[arg(long)]
    pub follow: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Consume as a member of this consumer group: start from the group's
    /// committed offsets (else as --from-beginning says), and commit after
    /// the records of each poll are printed. Takes the store's lock.
    #[arg(long, value_name = "GROUP", conflicts_with_all = ["offset", "timestamp"])]
    pub group: Option<String>,
    #[command(flatten)]
    pub dir: DirArg,
}

/// How long one poll waits while following.
const FOLLOW_POLL: Duration = Duration::from_millis(500);
/// How long one poll waits otherwise (records up to the end offsets seen
/// at start are already there).
const CATCH_UP_POLL: Duration = Duration::from_millis(100);

/// Runs `consume`.
pub fn run(args: ConsumeArgs) -> Result<(), CliError> {
    if args.group.is_some() {
        with_store(&args.dir.dir, Create::No, |store| consume(store, &args))
    } else {
        read_store(&args.dir.dir, |store| consume(store, &args))
    }
}

fn consume(store: &LogStore, args: &ConsumeArgs) -> Result<(), CliError> {
    let reset = if args.from_beginning {
        AutoOffsetReset::Earliest
    } else if args.offset.is_some() {
        AutoOffsetReset::Error
    } else {
        AutoOffsetReset::Latest
    };
    let mut consumer = store.consumer(ConsumerConfig {
        auto_offset_reset: reset,
        group_id: args.group.clone(),
        enable_auto_commit: false,
        client_id: "seglog-cli".to_string(),
        ..ConsumerConfig::default()
    });
    if args.group.is_some() {
        return consume_in_group(store, consumer, args);
    }
    match args.partition {
        Some(p) => {
            // Name the topic and its partition count if `p` is not there.
            store.partition(&args.topic, p)?;
            consumer.assign(&[(args.topic.as_str(), p)])?;
        }
        None => consumer.assign_topic(&args.topic)?,
    }
    let assignment = consumer.assignment();
    // Where to stop without --follow.
    let mut ends: HashMap<u32, u64> = HashMap::new();
    for tp in &assignment {
        ends.insert(
            tp.partition,
            store.partition(&tp.topic, tp.partition)?.log_end_offset(),
        );
    }
    if args.from_beginning {
        consumer.seek_to_beginning()?;
    } else if let Some(offset) = args.offset {
        for tp in &assignment {
            consumer.seek(tp.clone(), offset)?;
        }
    } else if let Some(ts) = args.timestamp {
        consumer.seek_to_timestamp(ts)?;
    } else {
        consumer.seek_to_end()?;
    }

    let mut out = Out::new();
    let mut printed = 0u64;
    loop {
        if args.max.is_some_and(|max| printed >= max) || out.is_closed() {
            break;
        }
        if !args.follow && caught_up(&mut consumer, &assignment, &ends)? {
            break;
        }
        let timeout = if args.follow {
            FOLLOW_POLL
        } else {
            CATCH_UP_POLL
        };
        for record in consumer.poll(timeout)? {
            if !args.follow && record.offset >= ends[&record.partition] {
                continue;
            }
            if args.max.is_some_and(|max| printed >= max) {
                break;
            }
            print(&mut out, &record, args.format)?;
            printed += 1;
        }
        out.flush()?;
    }
    out.flush()
}

/// `consume --group`: the consumer subscribes to the topic (or is assigned
/// the one partition asked for), starts where the group committed, and
/// commits after each poll's records are printed and when it stops.
fn consume_in_group(
    store: &LogStore,
    mut consumer: seglog::Consumer,
    args: &ConsumeArgs,
) -> Result<(), CliError> {
    match args.partition {
        Some(p) => {
            store.partition(&args.topic, p)?;
            consumer.assign(&[(args.topic.as_str(), p)])?;
        }
        None => {
            store.describe_topic(&args.topic)?;
            consumer.subscribe(&[args.topic.as_str()])?;
        }
    }
    // Where to stop without --follow: the end offsets at the start.
    let topic = store.describe_topic(&args.topic)?;
    let ends: HashMap<u32, u64> = topic
        .partitions
        .iter()
        .map(|p| (p.partition, p.log_end_offset))
        .collect();
    let mut out = Out::new();
    let mut printed = 0u64;
    let mut polled = false;
    loop {
        if args.max.is_some_and(|max| printed >= max) || out.is_closed() {
            break;
        }
        let assignment = consumer.assignment();
        if !args.follow && polled && caught_up(&mut consumer, &assignment, &ends)? {
            break;
        }
        let timeout = if args.follow {
            FOLLOW_POLL
        } else {
            CATCH_UP_POLL
        };
        let records = consumer.poll(timeout)?;
        polled = true;
        let mut last: HashMap<u32, u64> = HashMap::new();
        for record in records {
            if args.max.is_some_and(|max| printed >= max) {
                break;
            }
            print(&mut out, &record, args.format)?;
            last.insert(record.partition, record.offset + 1);
            printed += 1;
        }
        out.flush()?;
        // Commit exactly what was printed (a --max may stop mid-poll).
        let commits: Vec<_> = last
            .into_iter()
            .map(|(p, next)| {
                (
                    TopicPartition::new(args.topic.as_str(), p),
                    seglog::offsets::OffsetAndMetadata::new(next),
                )
            })
            .collect();
        consumer.commit_offsets(&commits)?;
    }
    consumer.close()?;
    out.flush()
}

fn print(out: &mut Out, record: &seglog::ConsumerRecord, format: Format) -> Result<(), CliError> {
    match format {
        Format::Text => {
            match &record.value {
                Some(v) => out.write_bytes(String::from_utf8_lossy(v).as_bytes())?,
                None => out.write_bytes(b"null")?,
            }
            out.write_bytes(b"\n")
        }
        Format::Json => writeln!(out, "{}", json::record(record)),
    }
}

/// Whether every assigned partition's position reached its end offset.
fn caught_up(
    consumer: &mut seglog::Consumer,
    assignment: &[TopicPartition],
    ends: &HashMap<u32, u64>,
) -> Result<bool, CliError> {
    for tp in assignment {
        if consumer.position(tp.clone())? < ends.get(&tp.partition).copied().unwrap_or(0) {
            return Ok(false);
        }
    }
    Ok(true)
}

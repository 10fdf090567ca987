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
//! waiting for new records until interrupted (Ctrl-C or SIGTERM, which
//! stop it between polls). `--timeout-ms N` waits for new records as
//! `--follow` does, but stops once none has come for N ms, as Kafka's
//! console consumer's option does. `--max N` stops after N records either
//! way. When it stops without an error it prints `processed N records` on
//! standard error.
//!
//! The store is opened read-only, so this runs beside the process that has
//! it open (a service embedding seglog, or `seglog produce`), and
//! `--follow` prints what that process appends, looking at the files every
//! 100 ms while it waits.
//!
//! Text output is each record's value as UTF-8 (invalid bytes replaced by
//! U+FFFD), one a line, and `null` for a record without a value, as
//! Kafka's console consumer prints; `--print-key` puts the key (or `null`)
//! and a tab (`--key-separator`) before it, as the console consumer's
//! `print.key=true` does. JSON output is one object a line, see the `json`
//! module.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Args;
use seglog::store::{AutoOffsetReset, ConsumerConfig, LogStore, TopicPartition};

use crate::signals::StopRequest;
use crate::store::{partition_number, read_store, with_store, Create, Format, Out};
use crate::topics::plural;
use crate::{json, CliError};

/// The example in `consume --help`.
pub const EXAMPLE: &str = "Examples:\n  \
    seglog consume --topic orders --from-beginning --format json\n  \
    seglog consume --topic orders --partition 0 --offset 42 --max 10\n  \
    seglog consume --topic orders --from-beginning --print-key\n  \
    seglog consume --topic orders --follow\n  \
    seglog consume --topic orders --timeout-ms 5000";

/// `consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// The topic to read.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// Read only this partition (default: all of them).
    #[arg(long, value_name = "P", value_parser = partition, allow_negative_numbers = true)]
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
    /// Keep waiting for new records until interrupted (Ctrl-C).
    #[arg(long)]
    pub follow: bool,
    /// Wait for new records as --follow does, but stop once none has come
    /// for MS milliseconds.
    #[arg(long, value_name = "MS", value_parser = timeout_ms, allow_negative_numbers = true)]
    pub timeout_ms: Option<u64>,
    /// Output format: the value as UTF-8 (lossy), one a line; or one JSON
    /// object a line (partition, offset, timestamp, key, value, headers).
    #[arg(long, short = 'o', visible_alias = "output", value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// In text, print each record's key (`null` if it has none) and the
    /// key separator before its value (JSON always has the key).
    #[arg(long)]
    pub print_key: bool,
    /// What separates the key from the value with --print-key (default: a
    /// tab).
    #[arg(
        long,
        value_name = "SEP",
        default_value = "\t",
        hide_default_value = true,
        requires = "print_key"
    )]
    pub key_separator: String,
    /// Consume as a member of this consumer group: start from the group's
    /// committed offsets (else as --from-beginning says), and commit after
    /// the records of each poll are printed. Takes the store's lock.
    #[arg(long, value_name = "GROUP", conflicts_with_all = ["offset", "timestamp"])]
    pub group: Option<String>,
}

fn partition(s: &str) -> Result<u32, String> {
    partition_number(s, "to read every partition, leave out --partition")
}

/// Milliseconds, 0 or more; a negative number (Kafka's "no timeout")
/// gets what to do instead.
fn timeout_ms(s: &str) -> Result<u64, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if n < 0 => Err("a timeout is 0 or more milliseconds; \
             to wait without a limit, use --follow instead"
            .to_string()),
        _ => s
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("`{s}` is not a number of milliseconds")),
    }
}

/// How long one poll waits while following (a stop request is seen
/// between polls).
const FOLLOW_POLL: Duration = Duration::from_millis(200);
/// How long one poll waits otherwise (records up to the end offsets seen
/// at start are already there).
const CATCH_UP_POLL: Duration = Duration::from_millis(100);

/// Runs `consume` on the store in `dir`.
pub fn run(args: ConsumeArgs, dir: &Path) -> Result<(), CliError> {
    let stop = StopRequest::install()?;
    let mut printed = 0;
    if args.group.is_some() {
        with_store(dir, Create::No, |store| {
            consume(store, &args, &stop, &mut printed)
        })?;
    } else {
        read_store(dir, |store| consume(store, &args, &stop, &mut printed))?;
    }
    eprintln!("processed {printed} record{}", plural(printed as usize));
    Ok(())
}

/// The printing side of a run: the output, how many records were printed,
/// and when it should stop.
struct Printer<'a> {
    args: &'a ConsumeArgs,
    out: Out,
    printed: u64,
    /// When the last poll that returned records ended (or the start).
    last_records: Instant,
    stop: &'a StopRequest,
}

impl<'a> Printer<'a> {
    fn new(args: &'a ConsumeArgs, stop: &'a StopRequest) -> Self {
        Printer {
            args,
            out: Out::new(),
            printed: 0,
            last_records: Instant::now(),
            stop,
        }
    }

    /// Whether it waits for records beyond the end offsets of the start.
    fn waits(&self) -> bool {
        self.args.follow || self.args.timeout_ms.is_some()
    }

    /// Whether --max is reached.
    fn full(&self) -> bool {
        self.args.max.is_some_and(|max| self.printed >= max)
    }

    /// Whether to stop before the next poll: --max reached, the reader of
    /// the output gone, a signal, or --timeout-ms passed without records.
    fn done(&self) -> bool {
        self.full()
            || self.out.is_closed()
            || self.stop.requested()
            || self.idle_left() == Some(Duration::ZERO)
    }

    /// How much of --timeout-ms is left.
    fn idle_left(&self) -> Option<Duration> {
        self.args
            .timeout_ms
            .map(|ms| Duration::from_millis(ms).saturating_sub(self.last_records.elapsed()))
    }

    /// How long the next poll may wait.
    fn poll_timeout(&self) -> Duration {
        let wait = if self.waits() {
            FOLLOW_POLL
        } else {
            CATCH_UP_POLL
        };
        self.idle_left().map_or(wait, |left| left.min(wait))
    }

    /// Prints a poll's records (up to --max); returns the offset after the
    /// last one printed of each partition.
    fn print_all(
        &mut self,
        records: Vec<seglog::ConsumerRecord>,
        ends: Option<&HashMap<u32, u64>>,
    ) -> Result<HashMap<u32, u64>, CliError> {
        if !records.is_empty() {
            self.last_records = Instant::now();
        }
        let mut next = HashMap::new();
        for record in records {
            if ends
                .and_then(|ends| ends.get(&record.partition))
                .is_some_and(|&end| record.offset >= end)
            {
                continue;
            }
            if self.full() {
                break;
            }
            self.print(&record)?;
            next.insert(record.partition, record.offset + 1);
        }
        self.out.flush()?;
        Ok(next)
    }

    fn print(&mut self, record: &seglog::ConsumerRecord) -> Result<(), CliError> {
        self.printed += 1;
        let out = &mut self.out;
        match self.args.format {
            Format::Text => {
                if self.args.print_key {
                    text(out, record.key.as_deref())?;
                    out.write_bytes(self.args.key_separator.as_bytes())?;
                }
                text(out, record.value.as_deref())?;
                out.write_bytes(b"\n")
            }
            Format::Json => writeln!(out, "{}", json::record(record)),
        }
    }
}

/// Bytes as UTF-8 (invalid bytes replaced), or `null`.
fn text(out: &mut Out, bytes: Option<&[u8]>) -> Result<(), CliError> {
    match bytes {
        Some(b) => out.write_bytes(String::from_utf8_lossy(b).as_bytes()),
        None => out.write_bytes(b"null"),
    }
}

fn consume(
    store: &LogStore,
    args: &ConsumeArgs,
    stop: &StopRequest,
    printed: &mut u64,
) -> Result<(), CliError> {
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
    let mut printer = Printer::new(args, stop);
    let result = if args.group.is_some() {
        consume_in_group(store, consumer, &mut printer)
    } else {
        consume_assigned(store, &mut consumer, &mut printer)
    };
    *printed = printer.printed;
    result
}

/// `consume` without a group: the partitions are assigned, and read from
/// where the options say.
fn consume_assigned(
    store: &LogStore,
    consumer: &mut seglog::Consumer,
    printer: &mut Printer<'_>,
) -> Result<(), CliError> {
    let args = printer.args;
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

    let waits = printer.waits();
    loop {
        if printer.done() {
            break;
        }
        if !waits && caught_up(consumer, &assignment, &ends)? {
            break;
        }
        let records = consumer.poll(printer.poll_timeout())?;
        printer.print_all(records, (!waits).then_some(&ends))?;
    }
    Ok(())
}

/// `consume --group`: the consumer subscribes to the topic (or is assigned
/// the one partition asked for), starts where the group committed, and
/// commits after each poll's records are printed and when it stops.
fn consume_in_group(
    store: &LogStore,
    mut consumer: seglog::Consumer,
    printer: &mut Printer<'_>,
) -> Result<(), CliError> {
    let args = printer.args;
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
    let waits = printer.waits();
    let mut polled = false;
    loop {
        if printer.done() {
            break;
        }
        let assignment = consumer.assignment();
        if !waits && polled && caught_up(&mut consumer, &assignment, &ends)? {
            break;
        }
        let records = consumer.poll(printer.poll_timeout())?;
        polled = true;
        // Commit exactly what was printed (a --max may stop mid-poll).
        let commits: Vec<_> = printer
            .print_all(records, None)?
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
    Ok(())
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

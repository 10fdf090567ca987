//! `seglog topics ...`: creating, listing, describing, growing and
//! deleting topics.

use std::path::Path;

use clap::{Args, Subcommand};
use seglog::store::{LogStore, TopicDescription};

use crate::store::{parse_key_value, read_store, with_store, Create, Format, Out};
use crate::{json, CliError};

/// The `topics` subcommands.
#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Create a topic (with --if-not-exists, leave an existing one as it
    /// is).
    #[command(after_help = "Examples:\n  \
        seglog topics create orders --partitions 3 --config retention.ms=604800000 \
        --config segment.bytes=1048576\n  \
        seglog topics create orders --partitions 3 --if-not-exists")]
    Create(CreateArgs),
    /// List the topics, one name a line (a JSON array of names with
    /// --output json).
    #[command(after_help = "Examples:\n  \
        seglog topics list --dir ./seglog-data\n  \
        seglog topics list --output json")]
    List(ListArgs),
    /// Show a topic's partitions (offsets, size, segments; for a compacted
    /// topic the cleanable ratio and cleaner checkpoint) and config
    /// overrides; every topic's without a name.
    #[command(after_help = "Examples:\n  \
        seglog topics describe orders\n  \
        seglog topics describe --output json")]
    Describe(DescribeArgs),
    /// Grow a topic to a total number of partitions.
    #[command(after_help = "Example:\n  seglog topics add-partitions orders --partitions 6")]
    AddPartitions(AddPartitionsArgs),
    /// Delete a topic and its data.
    #[command(after_help = "Example:\n  seglog topics delete orders")]
    Delete(NameArgs),
}

/// `topics create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The topic's name (ASCII letters, digits, `.`, `_`, `-`).
    pub name: String,
    /// How many partitions it has.
    #[arg(long, value_name = "N")]
    pub partitions: u32,
    /// A config override in Kafka's names, e.g. retention.ms=604800000;
    /// repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub configs: Vec<(String, String)>,
    /// If the topic exists, succeed without changing it (its partitions
    /// and config stay as they are), as kafka-topics --if-not-exists.
    #[arg(long)]
    pub if_not_exists: bool,
}

/// `topics list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

/// `topics describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The topic's name; every topic, in name order, without it.
    pub name: Option<String>,
    /// Output format: text as kafka-topics --describe prints it, or a JSON
    /// array of topics (one element for a named topic).
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

/// A subcommand naming one topic.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// The topic's name.
    pub name: String,
}

/// `topics add-partitions`.
#[derive(Debug, Args)]
pub struct AddPartitionsArgs {
    /// The topic's name.
    pub name: String,
    /// The total number of partitions it is to have (more than now).
    #[arg(long, value_name = "TOTAL")]
    pub partitions: u32,
}

/// Runs a `topics` subcommand on the store in `dir`.
pub fn run(cmd: TopicsCommand, dir: &Path) -> Result<(), CliError> {
    let mut out = Out::new();
    match cmd {
        TopicsCommand::Create(a) => {
            with_store(dir, Create::Yes, |store| create(store, &a, &mut out))
        }
        TopicsCommand::List(a) => read_store(dir, |store| {
            let names = store.list_topics();
            match a.output {
                Format::Text => {
                    for name in names {
                        writeln!(out, "{name}")?;
                    }
                    Ok(())
                }
                Format::Json => writeln!(out, "{}", json::names(&names)),
            }
        }),
        TopicsCommand::Describe(a) => read_store(dir, |store| {
            let topics = match &a.name {
                Some(name) => vec![store.describe_topic(name)?],
                None => store
                    .list_topics()
                    .iter()
                    .map(|name| store.describe_topic(name))
                    .collect::<Result<Vec<_>, _>>()?,
            };
            match a.output {
                Format::Text => topics.iter().try_for_each(|t| describe(&mut out, t)),
                Format::Json => writeln!(out, "{}", json::topics(&topics)),
            }
        }),
        TopicsCommand::AddPartitions(a) => with_store(dir, Create::No, |store| {
            store.add_partitions(&a.name, a.partitions)?;
            writeln!(
                out,
                "topic {} now has {} partition{}",
                a.name,
                a.partitions,
                plural(a.partitions as usize)
            )
        }),
        TopicsCommand::Delete(a) => with_store(dir, Create::No, |store| {
            store.delete_topic(&a.name)?;
            writeln!(out, "deleted topic {}", a.name)
        }),
    }?;
    out.flush()
}

/// `topics create`: an existing topic is an error, unless
/// `--if-not-exists` is given.
fn create(store: &LogStore, a: &CreateArgs, out: &mut Out) -> Result<(), CliError> {
    let overrides: Vec<(&str, &str)> = a
        .configs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    match store.create_topic(&a.name, a.partitions, &overrides) {
        Ok(_) => writeln!(
            out,
            "created topic {} with {} partition{}",
            a.name,
            a.partitions,
            plural(a.partitions as usize)
        ),
        Err(seglog::Error::TopicExists { .. }) if a.if_not_exists => {
            let existing = store.describe_topic(&a.name)?.partitions.len();
            writeln!(
                out,
                "topic {} already exists with {existing} partition{}; nothing changed",
                a.name,
                plural(existing)
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// One topic as kafka-topics --describe prints it: a line for the topic,
/// then one for each partition.
fn describe(out: &mut Out, d: &TopicDescription) -> Result<(), CliError> {
    let configs = d
        .overrides
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    writeln!(
        out,
        "Topic: {}\tPartitionCount: {}\tConfigs: {}",
        d.name,
        d.partitions.len(),
        configs
    )?;
    for p in &d.partitions {
        write!(
            out,
            "\tPartition: {}\tLogStartOffset: {}\tLogEndOffset: {}\tSize: {}\tSegments: {}",
            p.partition, p.log_start_offset, p.log_end_offset, p.size_bytes, p.segments
        )?;
        // Only for a compacted topic: what its cleaner sees.
        if let Some(ratio) = p.cleanable_ratio {
            let checkpoint = p
                .cleaner_checkpoint
                .map_or_else(|| "-".to_string(), |c| c.to_string());
            write!(
                out,
                "\tCleanableRatio: {ratio:.3}\tCleanerCheckpoint: {checkpoint}"
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// `"s"` unless `n` is 1.
pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

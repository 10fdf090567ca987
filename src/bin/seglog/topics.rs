//! `seglog topics ...`: creating, listing, describing, growing and
//! deleting topics.

use clap::{Args, Subcommand};

use crate::store::{parse_key_value, read_store, with_store, Create, Out};
use crate::{CliError, DirArg};

/// The `topics` subcommands.
#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Create a topic.
    #[command(after_help = "Example:\n  \
        seglog topics create orders --partitions 3 --config retention.ms=604800000 \
        --config segment.bytes=1048576")]
    Create(CreateArgs),
    /// List the topics, one name a line.
    #[command(after_help = "Example:\n  seglog topics list --dir ./seglog-data")]
    List(ListArgs),
    /// Show a topic's partitions (offsets, size, segments; for a compacted
    /// topic the cleanable ratio and cleaner checkpoint) and config
    /// overrides.
    #[command(after_help = "Example:\n  seglog topics describe orders")]
    Describe(NameArgs),
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
    #[command(flatten)]
    pub dir: DirArg,
}

/// `topics list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub dir: DirArg,
}

/// A subcommand naming one topic.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// The topic's name.
    pub name: String,
    #[command(flatten)]
    pub dir: DirArg,
}

/// `topics add-partitions`.
#[derive(Debug, Args)]
pub struct AddPartitionsArgs {
    /// The topic's name.
    pub name: String,
    /// The total number of partitions it is to have (more than now).
    #[arg(long, value_name = "TOTAL")]
    pub partitions: u32,
    #[command(flatten)]
    pub dir: DirArg,
}

/// Runs a `topics` subcommand.
pub fn run(cmd: TopicsCommand) -> Result<(), CliError> {
    let mut out = Out::new();
    match cmd {
        TopicsCommand::Create(a) => with_store(&a.dir.dir, Create::Yes, |store| {
            let overrides: Vec<(&str, &str)> = a
                .configs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            store.create_topic(&a.name, a.partitions, &overrides)?;
            writeln!(
                out,
                "created topic {} with {} partition{}",
                a.name,
                a.partitions,
                plural(a.partitions as usize)
            )
        }),
        TopicsCommand::List(a) => read_store(&a.dir.dir, |store| {
            for name in store.list_topics() {
                writeln!(out, "{name}")?;
            }
            Ok(())
        }),
        TopicsCommand::Describe(a) => read_store(&a.dir.dir, |store| {
            let d = store.describe_topic(&a.name)?;
            let configs = if d.overrides.is_empty() {
                String::new()
            } else {
                d.overrides
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            };
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
        }),
        TopicsCommand::AddPartitions(a) => with_store(&a.dir.dir, Create::No, |store| {
            store.add_partitions(&a.name, a.partitions)?;
            writeln!(
                out,
                "topic {} now has {} partition{}",
                a.name,
                a.partitions,
                plural(a.partitions as usize)
            )
        }),
        TopicsCommand::Delete(a) => with_store(&a.dir.dir, Create::No, |store| {
            store.delete_topic(&a.name)?;
            writeln!(out, "deleted topic {}", a.name)
        }),
    }?;
    out.flush()
}

/// `"s"` unless `n` is 1.
pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

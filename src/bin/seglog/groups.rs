//! `seglog groups ...`: consumer groups as Kafka's `kafka-consumer-groups`
//! shows and changes them: list, describe (committed offsets, log end
//! offsets and lag per partition), reset offsets, delete.
//!
//! `list` and `describe` open the store read-only (beside the process that
//! has it open, they show what its files held at the open); `reset-offsets
//! --execute` and `delete` take its lock.

use std::collections::BTreeSet;
use std::path::Path;

use clap::{Args, Subcommand};
use seglog::store::{LogStore, OffsetResetSpec, TopicPartition};

use crate::store::{read_store, with_store, Create, Out};
use crate::CliError;

/// The `groups` subcommands.
#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// List the consumer groups, one a line.
    #[command(after_help = "Example:\n  seglog groups list --state")]
    List(ListArgs),
    /// Show a group's partitions: committed offset, log end offset, lag
    /// and owner (Kafka's columns).
    #[command(after_help = "Example:\n  seglog groups describe --group billing")]
    Describe(GroupArgs),
    /// Move a group's committed offsets (a plan unless --execute); only
    /// for a group without active members.
    #[command(after_help = "Examples:\n  \
        seglog groups reset-offsets --group billing --topic orders --to-earliest\n  \
        seglog groups reset-offsets --group billing --topic orders:0,2 --shift-by -10 --execute")]
    ResetOffsets(ResetArgs),
    /// Delete a group without active members: its committed offsets and
    /// metadata.
    #[command(after_help = "Example:\n  seglog groups delete --group billing")]
    Delete(GroupArgs),
}

/// `groups list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Also print each group's state.
    #[arg(long)]
    pub state: bool,
}

/// A subcommand naming one group.
#[derive(Debug, Args)]
pub struct GroupArgs {
    /// The group id.
    #[arg(long, value_name = "GROUP")]
    pub group: String,
}

/// `groups reset-offsets`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("to").required(true)))]
pub struct ResetArgs {
    /// The group id.
    #[arg(long, value_name = "GROUP")]
    pub group: String,
    /// The partitions to reset: `TOPIC` (all its partitions) or
    /// `TOPIC:P,P,...`; repeatable. Default: every partition the group has
    /// committed.
    #[arg(long, value_name = "TOPIC[:P,...]")]
    pub topic: Vec<String>,
    /// To the log start offset.
    #[arg(long, group = "to")]
    pub to_earliest: bool,
    /// To the log end offset.
    #[arg(long, group = "to")]
    pub to_latest: bool,
    /// To this offset (kept within the log).
    #[arg(long, value_name = "N", group = "to")]
    pub to_offset: Option<u64>,
    /// To the first record at or after this time (ms since the Unix
    /// epoch).
    #[arg(long, value_name = "MS", group = "to")]
    pub to_datetime: Option<i64>,
    /// By this many from the committed offset (negative: back).
    #[arg(long, value_name = "N", group = "to", allow_hyphen_values = true)]
    pub shift_by: Option<i64>,
    /// Commit the new offsets (without it, only print them).
    #[arg(long)]
    pub execute: bool,
}

/// Runs a `groups` subcommand.
pub fn run(cmd: GroupsCommand, dir: &Path) -> Result<(), CliError> {
    match cmd {
        GroupsCommand::List(a) => read_store(dir, |store| {
            let mut out = Out::new();
            for g in store.list_groups()? {
                if a.state {
                    writeln!(out, "{} {}", g.group_id, g.state)?;
                } else {
                    writeln!(out, "{}", g.group_id)?;
                }
            }
            out.flush()
        }),
        GroupsCommand::Describe(a) => read_store(dir, |store| describe(store, &a.group)),
        GroupsCommand::ResetOffsets(a) => {
            if a.execute {
                with_store(dir, Create::No, |store| reset(store, &a))
            } else {
                read_store(dir, |store| reset(store, &a))
            }
        }
        GroupsCommand::Delete(a) => with_store(dir, Create::No, |store| {
            store.delete_group(&a.group)?;
            let mut out = Out::new();
            writeln!(out, "deleted group {}", a.group)?;
            out.flush()
        }),
    }
}

fn dash(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn describe(store: &LogStore, group: &str) -> Result<(), CliError> {
    let d = store.describe_group(group)?;
    let mut rows = vec![[
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ]
    .map(String::from)];
    for p in &d.partitions {
        let member = p
            .member_id
            .as_ref()
            .and_then(|id| d.members.iter().find(|m| &m.member_id == id));
        rows.push([
            d.group_id.clone(),
            p.partition.topic.clone(),
            p.partition.partition.to_string(),
            dash(p.committed.as_ref().map(|c| c.offset)),
            dash(p.log_end_offset),
            dash(p.lag),
            dash(member.map(|m| m.member_id.clone())),
            dash(member.map(|m| m.client_host.clone())),
            dash(member.map(|m| m.client_id.clone())),
        ]);
    }
    let mut out = Out::new();
    if d.members.is_empty() {
        writeln!(
            out,
            "Consumer group '{}' has no active members.",
            d.group_id
        )?;
    }
    writeln!(out)?;
    write_table(&mut out, &rows)?;
    out.flush()
}

/// Rows with their columns padded to the widest cell, two spaces apart.
fn write_table<const N: usize>(out: &mut Out, rows: &[[String; N]]) -> Result<(), CliError> {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The partitions `--topic` names, or every partition the group has
/// committed.
fn partitions(store: &LogStore, args: &ResetArgs) -> Result<Vec<TopicPartition>, CliError> {
    if args.topic.is_empty() {
        let d = store.describe_group(&args.group)?;
        return Ok(d
            .partitions
            .into_iter()
            .filter(|p| p.committed.is_some())
            .map(|p| p.partition)
            .collect());
    }
    let mut out = BTreeSet::new();
    for spec in &args.topic {
        match spec.split_once(':') {
            None => {
                let count = store.describe_topic(spec)?.partitions.len() as u32;
                out.extend((0..count).map(|p| TopicPartition::new(spec.as_str(), p)));
            }
            Some((topic, list)) => {
                for p in list.split(',') {
                    let p: u32 = p.trim().parse().map_err(|_| {
                        CliError::Message(format!(
                            "--topic {spec}: {p:?} is not a partition number"
                        ))
                    })?;
                    out.insert(TopicPartition::new(topic, p));
                }
            }
        }
    }
    Ok(out.into_iter().collect())
}

fn reset(store: &LogStore, args: &ResetArgs) -> Result<(), CliError> {
    let to = if args.to_earliest {
        OffsetResetSpec::Earliest
    } else if args.to_latest {
        OffsetResetSpec::Latest
    } else if let Some(o) = args.to_offset {
        OffsetResetSpec::Offset(o)
    } else if let Some(ts) = args.to_datetime {
        OffsetResetSpec::Timestamp(ts)
    } else if let Some(n) = args.shift_by {
        OffsetResetSpec::ShiftBy(n)
    } else {
        return Err(CliError::Message("no --to-* or --shift-by given".into()));
    };
    let partitions = partitions(store, args)?;
    let new = if args.execute {
        store.reset_offsets(&args.group, &partitions, to)?
    } else {
        store.plan_offset_reset(&args.group, &partitions, to)?
    };
    let mut rows = vec![["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"].map(String::from)];
    for (tp, offset) in new {
        rows.push([
            args.group.clone(),
            tp.topic,
            tp.partition.to_string(),
            offset.to_string(),
        ]);
    }
    let mut out = Out::new();
    write_table(&mut out, &rows)?;
    if !args.execute {
        writeln!(
            out,
            "(a plan: run again with --execute to commit these offsets)"
        )?;
    }
    out.flush()
}

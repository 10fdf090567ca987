//! `seglog`: a command-line tool over a seglog data directory.
//!
//! Built only with the `cli` cargo feature
//! (`cargo install --path . --features cli`). Subcommands that change the
//! store (`topics create|add-partitions|delete`, `produce`,
//! `delete-records`, `maintain`, `compact`, `groups
//! reset-offsets --execute|delete`, `consume --group`) open it in `--dir`
//! (default `./seglog-data`) for writing, which takes its lock, and close
//! it cleanly. Those that only look (`topics list|describe`, `consume`
//! without a group, `stats`, `groups list|describe`) open it read-only:
//! no lock, nothing written, so they run beside the process that has the
//! store open. `dump` (of a file or partition directory given as its
//! argument) and `verify` read files only.
//!
//! Exit codes: 0 on success, 1 when an operation fails (unknown topic,
//! I/O error, a directory locked by another process, ...), 2 on bad usage
//! (clap's parse errors). Errors are printed as one line, `error: ...`.

mod admin;
mod compact;
mod consume;
mod dump;
mod groups;
mod json;
mod offsets_decoder;
mod produce;
mod store;
mod topics;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub use store::CliError;

/// Command-line tool for a seglog data directory: Kafka's storage layer
/// without a broker.
#[derive(Debug, Parser)]
#[command(name = "seglog", version)]
#[command(after_help = "Example:\n  \
    seglog topics create orders --partitions 3\n  \
    printf 'k1:hello\\nk2:world\\n' | seglog produce --topic orders --key-separator :\n  \
    seglog consume --topic orders --from-beginning")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The data directory option every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct DirArg {
    /// The store's data directory.
    #[arg(long, value_name = "DIR", default_value = "./seglog-data")]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, list, describe, grow and delete topics.
    #[command(subcommand)]
    #[command(after_help = "Example:\n  seglog topics list --dir ./seglog-data")]
    Topics(topics::TopicsCommand),
    /// Append one record per line of standard input to a topic.
    #[command(after_help = produce::EXAMPLE)]
    Produce(produce::ProduceArgs),
    /// Print a topic's records.
    #[command(after_help = consume::EXAMPLE)]
    Consume(consume::ConsumeArgs),
    /// Raise a partition's log start offset (Kafka's DeleteRecords).
    #[command(after_help = admin::DELETE_RECORDS_EXAMPLE)]
    DeleteRecords(admin::DeleteRecordsArgs),
    /// Run one maintenance pass: compaction of the compacted topics that
    /// are due, retention, flushes, removal of deleted segment files.
    #[command(after_help = admin::MAINTAIN_EXAMPLE)]
    Maintain(admin::MaintainArgs),
    /// Run one compaction round now on a compacted topic's partitions,
    /// however dirty they are.
    #[command(after_help = compact::EXAMPLE)]
    Compact(compact::CompactArgs),
    /// Print segments, bytes, offsets and timestamps of every partition.
    #[command(after_help = admin::STATS_EXAMPLE)]
    Stats(admin::StatsArgs),
    /// List, describe, reset and delete consumer groups (committed
    /// offsets and lag).
    #[command(subcommand)]
    #[command(after_help = "Example:\n  seglog groups describe --group billing")]
    Groups(groups::GroupsCommand),
    /// Print the batches of a segment file or partition directory (and
    /// with options their records and index entries), read-only.
    #[command(after_help = dump::EXAMPLE)]
    Dump(dump::DumpArgs),
    /// Check the store's own files, that every partition has its
    /// directory, and every segment, CRC and index entry of the partition
    /// directories, read-only and without the store's lock.
    #[command(after_help = verify::EXAMPLE)]
    Verify(verify::VerifyArgs),
}

fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Topics(cmd) => topics::run(cmd),
        Command::Produce(args) => produce::run(args),
        Command::Consume(args) => consume::run(args),
        Command::DeleteRecords(args) => admin::delete_records(args),
        Command::Maintain(args) => admin::maintain(args),
        Command::Compact(args) => compact::run(args),
        Command::Stats(args) => admin::stats(args),
        Command::Groups(cmd) => groups::run(cmd),
        Command::Dump(args) => dump::run(args),
        Command::Verify(args) => verify::run(args),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_has_an_example_and_dir() {
        fn check(cmd: &clap::Command) {
            if cmd.has_subcommands() {
                for sub in cmd.get_subcommands() {
                    check(sub);
                }
                return;
            }
            let help = cmd.get_after_help().map(|h| h.to_string());
            assert!(
                help.is_some_and(|h| h.contains("seglog")),
                "{} has no example",
                cmd.get_name()
            );
            assert!(
                cmd.get_arguments().any(|a| a.get_id() == "dir"),
                "{} has no --dir",
                cmd.get_name()
            );
        }
        check(&super::Cli::command());
    }
}

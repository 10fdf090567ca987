//! `seglog`: a command-line tool over a seglog data directory.
//!
//! Built only with the `cli` cargo feature
//! (`cargo install --path . --features cli`). Subcommands that change the
//! store (`topics create|add-partitions|delete`, `produce`,
//! `delete-records`, `maintain`, `compact`, `groups
//! reset-offsets --execute|delete`, `consume --group`) open it for
//! writing, which takes its lock, and close it cleanly. Those that only
//! look (`topics list|describe`, `consume` without a group, `stats`,
//! `groups list|describe`) open it read-only: no lock, nothing written, so
//! they run beside the process that has the store open. `dump` (of a file
//! or partition directory given as its argument) and `verify` read files
//! only. `completions` prints a shell's completion script.
//!
//! The data directory is the global `--dir` (before or after the
//! subcommand), else the `SEGLOG_DIR` environment variable, else
//! `./seglog-data`.
//!
//! Output goes to standard output; diagnostics (warnings, the summary
//! lines of `produce` and `consume`, errors) to standard error. Exit
//! codes: 0 on success (a `produce` or `consume` stopped by SIGINT or
//! SIGTERM included, once it has stored or printed what it had), 1 when
//! an operation fails (unknown topic, I/O error, a directory locked by
//! another process, ...), 2 on bad usage (clap's parse errors). Errors are
//! printed as one line, `error: ...`.

mod admin;
mod compact;
mod completions;
mod consume;
mod dump;
mod groups;
mod json;
mod offsets_decoder;
mod produce;
mod signals;
mod store;
mod time;
mod topics;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use store::CliError;

/// Command-line tool for a seglog data directory: Kafka's storage layer
/// without a broker.
#[derive(Debug, Parser)]
#[command(name = "seglog", version)]
#[command(after_help = "Example:\n  \
    seglog topics create orders --partitions 3\n  \
    printf 'k1:hello\\nk2:world\\n' | seglog produce --topic orders --key-separator :\n  \
    seglog consume --topic orders --from-beginning
  \
    SEGLOG_DIR=/var/lib/app/seglog seglog topics list")]
struct Cli {
    /// The store's data directory; accepted before or after the
    /// subcommand.
    #[arg(
        long,
        value_name = "DIR",
        global = true,
        env = "SEGLOG_DIR",
        default_value = "./seglog-data"
    )]
    dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, list, describe, grow and delete topics.
    #[command(subcommand)]
    #[command(after_help = "Example:\n  seglog topics list --dir ./seglog-data")]
    Topics(topics::TopicsCommand),
    /// Append one record per line of standard input to a topic, each line
    /// as it arrives.
    #[command(after_help = produce::EXAMPLE)]
    Produce(produce::ProduceArgs),
    /// Print a topic's records (and, on standard error, how many).
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
    /// Print the completion script of a shell to standard output.
    #[command(after_help = completions::EXAMPLE)]
    Completions(completions::CompletionsArgs),
}

fn run(command: Command, dir: &Path) -> Result<(), CliError> {
    match command {
        Command::Topics(cmd) => topics::run(cmd, dir),
        Command::Produce(args) => produce::run(args, dir),
        Command::Consume(args) => consume::run(args, dir),
        Command::DeleteRecords(args) => admin::delete_records(args, dir),
        Command::Maintain(args) => admin::maintain(args, dir),
        Command::Compact(args) => compact::run(args, dir),
        Command::Stats(args) => admin::stats(args, dir),
        Command::Groups(cmd) => groups::run(cmd, dir),
        Command::Dump(args) => dump::run(args, dir),
        Command::Verify(args) => verify::run(args, dir),
        Command::Completions(args) => completions::run(args),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command, &cli.dir) {
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

    /// Every subcommand shows an example, and takes the global `--dir`
    /// (which clap's `build` copies into each).
    #[test]
    fn every_subcommand_has_an_example_and_dir() {
        let mut cli = super::Cli::command();
        cli.build();
        fn check(cmd: &clap::Command) {
            if cmd.has_subcommands() {
                // clap's own `help` subcommands have no examples.
                for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
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
        check(&cli);
    }
}

//! `seglog verify`: checks the store's own files, then re-reads every
//! segment of every partition directory (or of one topic's) and checks
//! it.
//!
//! The store's files (see `seglog::store::verify_store_files`): the topic
//! list `seglog.topics`, the root checkpoint files, the clean-shutdown
//! marker and the lock file must be what seglog (or Kafka) writes, and
//! every partition of a listed topic must have its directory. Each
//! partition directory: every batch's header and CRC, every record,
//! offsets increasing within and across segments, and every `.index` and
//! `.timeindex` entry against the log (see
//! `seglog::inspect::verify_partition_dir`).
//!
//! It reads the files directly: it does not open the store, take its
//! lock, or change anything, so it can run next to a process that has the
//! store open. The first problem ends the run with exit code 1 and one
//! line naming the file and the byte position (or the missing partition
//! directory).
//!
//! On a terminal, a run that lasts more than a second draws a progress bar
//! on standard error (bytes done, rate, the partition), which moves as
//! each segment, or each few MiB of a large one, is checked. When standard
//! error is not a terminal nothing but the result is printed.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use seglog::inspect;
use seglog::io::StdFs;
use seglog::store::verify_store_files;
use seglog::topic::parse_partition_dir_name;

use crate::store::Out;
use crate::CliError;

/// The example in `verify --help`.
pub const EXAMPLE: &str = "Examples:\n  \
    seglog verify --dir ./seglog-data\n  \
    seglog verify --dir ./seglog-data --topic orders";

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify only this topic's partitions.
    #[arg(long, value_name = "TOPIC")]
    pub topic: Option<String>,
}

/// A partition directory to verify.
struct Partition {
    topic: String,
    partition: u32,
    path: PathBuf,
}

/// Runs `verify`.
pub fn run(args: VerifyArgs, dir: &Path) -> Result<(), CliError> {
    if !dir.is_dir() {
        return Err(CliError::Message(format!(
            "data directory {} does not exist",
            dir.display()
        )));
    }
    verify_store_files(&StdFs, dir)?;
    let partitions = partitions(&args, dir)?;
    if let Some(topic) = &args.topic {
        if partitions.is_empty() {
            return Err(CliError::Message(format!(
                "no partition directories of topic {topic:?} in {}",
                dir.display()
            )));
        }
    }

    let progress = std::io::stderr()
        .is_terminal()
        .then(|| progress_bar(&partitions));
    let mut out = Out::new();
    let (mut segments, mut batches, mut records, mut bytes) = (0usize, 0u64, 0u64, 0u64);
    for p in &partitions {
        if let Some(bar) = &progress {
            bar.set_message(format!("{}-{}", p.topic, p.partition));
        }
        let mut advance = |bytes: u64| {
            if let Some(bar) = &progress {
                bar.inc(bytes);
            }
        };
        let report = match inspect::verify_partition_dir_progress(&StdFs, &p.path, &mut advance) {
            Ok(report) => report,
            Err(e) => {
                if let Some(bar) = &progress {
                    bar.finish_and_clear();
                }
                out.flush()?;
                return Err(e.into());
            }
        };
        segments += report.segments.len();
        batches += report.batches();
        records += report.records();
        bytes += report.bytes();
    }
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    writeln!(
        out,
        "verified {} partition(s): {segments} segments, {batches} batches, {records} records, {bytes} bytes; no problems found",
        partitions.len()
    )?;
    out.flush()
}

/// The partition directories in `--dir` (of `--topic` if given), by topic
/// and partition.
fn partitions(args: &VerifyArgs, dir: &Path) -> Result<Vec<Partition>, CliError> {
    let listing = std::fs::read_dir(dir).map_err(|e| seglog::Error::Io {
        op: "list",
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut out = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| seglog::Error::Io {
            op: "list",
            path: dir.to_path_buf(),
            source: e,
        })?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let Some((topic, partition)) = entry
            .file_name()
            .to_str()
            .and_then(parse_partition_dir_name)
        else {
            continue;
        };
        if args.topic.as_ref().is_some_and(|t| *t != topic) {
            continue;
        }
        out.push(Partition {
            topic,
            partition,
            path,
        });
    }
    out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(out)
}

/// How long a run goes before its progress bar appears.
const SHOW_PROGRESS_AFTER: Duration = Duration::from_secs(1);

/// A bar over the total size of the partitions' `.log` files.
fn progress_bar(partitions: &[Partition]) -> ProgressBar {
    let total: u64 = partitions
        .iter()
        .filter_map(|p| inspect::segments(&StdFs, &p.path).ok())
        .flatten()
        .filter_map(|s| std::fs::metadata(&s.log).ok())
        .map(|m| m.len())
        .sum();
    // Hidden at first, so that a quick run prints nothing but its result.
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    if let Ok(style) = ProgressStyle::with_template(
        "verifying {bar:30} {bytes}/{total_bytes} ({binary_bytes_per_sec}, {eta}) {msg}",
    ) {
        bar.set_style(style);
    }
    let shown = bar.clone();
    std::thread::spawn(move || {
        std::thread::sleep(SHOW_PROGRESS_AFTER);
        if !shown.is_finished() {
            shown.set_draw_target(ProgressDrawTarget::stderr());
        }
    });
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

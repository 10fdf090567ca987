//! Opening and closing the store, the tool's error type, writing to
//! standard output, and the option values several commands share (output
//! format, partition numbers).

use std::fmt;
use std::io::{self, Write};
use std::path::Path;

use seglog::store::{LogStore, StoreConfig};

/// An operation that failed; printed as `error: <this>` with exit code 1.
#[derive(Debug)]
pub enum CliError {
    /// The library's error, printed with its `Display`.
    Store(seglog::Error),
    /// Writing the output failed.
    Output(io::Error),
    /// Reading standard input failed.
    Input(io::Error),
    /// Anything else, as a sentence.
    Message(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Store(seglog::Error::Locked { path }) => write!(
                f,
                "{} is in use by another process (the store's lock is held)",
                path.display()
            ),
            CliError::Store(e) => write!(f, "{e}"),
            CliError::Output(e) => write!(f, "writing to standard output: {e}"),
            CliError::Input(e) => write!(f, "reading standard input: {e}"),
            CliError::Message(m) => f.write_str(m),
        }
    }
}

impl From<seglog::Error> for CliError {
    fn from(e: seglog::Error) -> Self {
        CliError::Store(e)
    }
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        CliError::Output(e)
    }
}

/// Whether a command may create the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Create it if missing (creating topics).
    Yes,
    /// Fail if it is missing, rather than leave an empty store behind.
    No,
}

/// The store config of the tool: the defaults, but a group's first
/// rebalance starts at once (only the tool's own consumer can join: the
/// store is the tool's while it runs).
fn config() -> StoreConfig {
    let mut config = StoreConfig::default();
    config.groups.group_initial_rebalance_delay_ms = 0;
    config
}

/// Opens the store in `dir` for writing (which takes its lock), runs `f`
/// on it, and closes it. `f`'s error comes first; otherwise the close's.
pub fn with_store(
    dir: &Path,
    create: Create,
    f: impl FnOnce(&LogStore) -> Result<(), CliError>,
) -> Result<(), CliError> {
    if create == Create::No {
        must_exist(dir)?;
    }
    let store = LogStore::open(dir, config())?;
    warn_damage(&store);
    finish(&store, f(&store))
}

/// Opens the store in `dir` read-only, runs `f` on it, and closes it: for
/// commands that only look, so that they work beside the process that has
/// the store open (and change nothing in a store nobody has open).
pub fn read_store(
    dir: &Path,
    f: impl FnOnce(&LogStore) -> Result<(), CliError>,
) -> Result<(), CliError> {
    must_exist(dir)?;
    let store = LogStore::open_read_only(dir, config())?;
    warn_damage(&store);
    finish(&store, f(&store))
}

/// Prints to standard error, one line each, what the open found wrong in
/// partitions it could open anyway (data it cut off, checkpoints beyond
/// the end, segments that cannot hold their records).
fn warn_damage(store: &LogStore) {
    for (tp, r) in &store.open_report().damaged_partitions {
        let name = format!("{}-{}", tp.topic, tp.partition);
        if let Some(t) = &r.truncated {
            eprintln!(
                "warning: {name}: cut {} bytes of {} at byte {}: {}",
                t.bytes_removed,
                t.path.display(),
                t.position,
                t.reason
            );
        }
        if r.segments_deleted > 0 {
            eprintln!(
                "warning: {name}: {} segment(s) after damaged data deleted",
                r.segments_deleted
            );
        }
        for d in &r.damaged_segments {
            eprintln!("warning: {name}: {} {}", d.path.display(), d.reason);
        }
        for m in &r.checkpoint_mismatches {
            eprintln!("warning: {name}: {m}");
        }
        if r.segments_below_start_deleted > 0 {
            eprintln!(
                "warning: {name}: {} segment(s) below the log start deleted (a deletion a crash interrupted)",
                r.segments_below_start_deleted
            );
        }
    }
}

fn must_exist(dir: &Path) -> Result<(), CliError> {
    if dir.is_dir() {
        return Ok(());
    }
    Err(CliError::Message(format!(
        "data directory {} does not exist",
        dir.display()
    )))
}

/// Closes the store after `result`; `result`'s error comes first.
fn finish(store: &LogStore, result: Result<(), CliError>) -> Result<(), CliError> {
    let closed = store.close();
    result?;
    closed?;
    Ok(())
}

/// Buffered standard output; a closed pipe (`| head`) ends the output
/// quietly rather than as an error.
pub struct Out {
    inner: io::BufWriter<io::StdoutLock<'static>>,
    closed: bool,
}

impl Out {
    /// Standard output, locked and buffered.
    pub fn new() -> Self {
        Out {
            inner: io::BufWriter::new(io::stdout().lock()),
            closed: false,
        }
    }

    /// Whether the reader went away; further writes are dropped.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Writes `args`.
    pub fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> Result<(), CliError> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.write_fmt(args);
        self.check(result)
    }

    /// Writes raw bytes.
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), CliError> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.write_all(bytes);
        self.check(result)
    }

    /// Flushes what was written so far.
    pub fn flush(&mut self) -> Result<(), CliError> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.flush();
        self.check(result)
    }

    fn check(&mut self, result: io::Result<()>) -> Result<(), CliError> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other.map_err(CliError::Output),
        }
    }
}

/// Parses `key=value` (the value may be empty, and may hold `=`).
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some(("", _)) => Err(format!("`{s}` has an empty key; expected key=value")),
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
        None => Err(format!("`{s}` is not of the form key=value")),
    }
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For programs.
    Json,
}

/// A partition number (0 or more). A negative one gets `negative`, a
/// sentence saying what to do instead, rather than the generic "not a
/// number" of clap.
pub fn partition_number(s: &str, negative: &str) -> Result<u32, String> {
    if let Ok(n) = s.trim().parse::<i64>() {
        if n < 0 {
            return Err(format!("partitions are numbered from 0; {negative}"));
        }
    }
    s.trim()
        .parse::<u32>()
        .map_err(|_| format!("`{s}` is not a partition number (0 to {})", u32::MAX))
}

/// A partition number for `--partition` of the commands where it is
/// required.
pub fn parse_partition(s: &str) -> Result<u32, String> {
    partition_number(s, "name one of the topic's partitions")
}

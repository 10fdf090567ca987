//! [`OpenOptions`]: how to open a [`PartitionLog`].

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::{load, state, AppendListener, PartitionLog, DEFAULT_MAX_OPEN_FILES};
use crate::clock::{Clock, SystemClock};
use crate::config::{LogConfig, RecoveryMode};
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::io::{Fs, StdFs};
use crate::segment::Resources;

/// How to open a [`PartitionLog`]: file system, clock, recovery mode.
///
/// # Examples
///
/// ```
/// use seglog::{LogConfig, OpenOptions, RecoveryMode};
/// let dir = tempfile::tempdir()?;
/// let log = OpenOptions::new()
///     .recovery_mode(RecoveryMode::Strict)
///     .open(dir.path().join("t-0"), LogConfig::default())?;
/// assert_eq!(log.log_end_offset(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct OpenOptions {
    pub(super) fs: Arc<dyn Fs>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) recovery_mode: RecoveryMode,
    pub(super) create: bool,
    pub(super) max_open_files: usize,
    pub(super) file_delete_delay_ms: u64,
    pub(super) read_only: bool,
    /// Shared with the other logs of a store.
    pub(crate) resources: Option<Arc<Resources>>,
    /// Whether the log locks its directory (a store locks its root
    /// instead).
    pub(crate) lock_dir: bool,
    pub(crate) listener: Option<AppendListener>,
    /// The recovery point and log start offset to assume when the
    /// directory has no `seglog.checkpoint` of its own (from a store's
    /// root checkpoint files, as Kafka keeps them), with those files.
    pub(crate) fallback_state: Option<state::SavedState>,
    /// Where the cleaner checkpoint lives (`None`: the log's directory).
    pub(crate) cleaner_checkpoint: Option<super::offset_checkpoint::OffsetCheckpointFile>,
    /// Where the high-watermark checkpoint lives (`None`: the log's
    /// directory).
    pub(crate) high_watermark_checkpoint: Option<super::offset_checkpoint::OffsetCheckpointFile>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenOptions")
            .field("fs", &self.fs)
            .field("clock", &self.clock)
            .field("recovery_mode", &self.recovery_mode)
            .field("create", &self.create)
            .field("max_open_files", &self.max_open_files)
            .field("file_delete_delay_ms", &self.file_delete_delay_ms)
            .field("read_only", &self.read_only)
            .field("lock_dir", &self.lock_dir)
            .finish_non_exhaustive()
    }
}

impl OpenOptions {
    /// The real file system, the system clock, strict recovery, and a
    /// missing directory created.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{LogConfig, OpenOptions};
    /// # let dir = tempfile::tempdir()?;
    /// // The same as `PartitionLog::open`.
    /// let log = OpenOptions::new().open(dir.path().join("events-0"), LogConfig::default())?;
    /// assert!(log.recovery_report().created);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Self {
        OpenOptions {
            fs: Arc::new(StdFs),
            clock: Arc::new(SystemClock),
            recovery_mode: RecoveryMode::Strict,
            create: true,
            max_open_files: DEFAULT_MAX_OPEN_FILES,
            file_delete_delay_ms: 0,
            read_only: false,
            resources: None,
            lock_dir: true,
            listener: None,
            fallback_state: None,
            cleaner_checkpoint: None,
            high_watermark_checkpoint: None,
        }
    }

    /// The file system to use (in tests, for example, the in-memory
    /// `io::MemFs` of the `testing` feature).
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::io::StdFs;
    /// use seglog::{LogConfig, OpenOptions};
    /// # let dir = tempfile::tempdir()?;
    /// let log = OpenOptions::new()
    ///     .fs(StdFs) // the default: the real file system
    ///     .open(dir.path().join("events-0"), LogConfig::default())?;
    /// assert!(dir.path().join("events-0").is_dir());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fs(self, fs: impl Fs) -> Self {
        self.fs_shared(Arc::new(fs))
    }

    /// A file system shared with other logs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use seglog::io::{Fs, StdFs};
    /// use seglog::{LogConfig, OpenOptions};
    /// # let dir = tempfile::tempdir()?;
    /// let fs: Arc<dyn Fs> = Arc::new(StdFs);
    /// let options = OpenOptions::new().fs_shared(fs.clone());
    /// let a = options.clone().open(dir.path().join("events-0"), LogConfig::default())?;
    /// let b = options.open(dir.path().join("events-1"), LogConfig::default())?;
    /// assert_ne!(a.dir(), b.dir());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fs_shared(mut self, fs: Arc<dyn Fs>) -> Self {
        self.fs = fs;
        self
    }

    /// The clock for roll-by-age, flush-by-time, log-append time and the
    /// timestamp of records appended without one.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{Clock, LogConfig, OpenOptions, Record};
    /// # let dir = tempfile::tempdir()?;
    /// #[derive(Debug)]
    /// struct Fixed; // always 14 November 2023
    /// impl Clock for Fixed {
    ///     fn now_ms(&self) -> i64 { 1_700_000_000_000 }
    /// }
    ///
    /// let log = OpenOptions::new()
    ///     .clock(Fixed)
    ///     .open(dir.path().join("events-0"), LogConfig::default())?;
    /// assert_eq!(log.append(&[Record::new("a")])?.max_timestamp, 1_700_000_000_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clock(self, clock: impl Clock) -> Self {
        self.clock_shared(Arc::new(clock))
    }

    /// A clock shared with other logs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use seglog::{Clock, LogConfig, OpenOptions, SystemClock};
    /// # let dir = tempfile::tempdir()?;
    /// let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    /// let options = OpenOptions::new().clock_shared(clock.clone());
    /// let a = options.clone().open(dir.path().join("events-0"), LogConfig::default())?;
    /// let b = options.open(dir.path().join("events-1"), LogConfig::default())?;
    /// assert_eq!(a.log_end_offset(), b.log_end_offset());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clock_shared(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// What an unclean open does with damaged data.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{LogConfig, OpenOptions, RecoveryMode};
    /// # let dir = tempfile::tempdir()?;
    /// // Get a damaged log open again, losing what follows the damage.
    /// let log = OpenOptions::new()
    ///     .recovery_mode(RecoveryMode::TruncateCorrupt)
    ///     .open(dir.path().join("events-0"), LogConfig::default())?;
    /// assert!(!log.recovery_report().found_damage());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recovery_mode(mut self, mode: RecoveryMode) -> Self {
        self.recovery_mode = mode;
        self
    }

    /// Whether a missing directory is created (default) or an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{Error, LogConfig, OpenOptions};
    /// # let dir = tempfile::tempdir()?;
    /// let missing = OpenOptions::new()
    ///     .create(false)
    ///     .open(dir.path().join("events-0"), LogConfig::default());
    /// assert!(matches!(missing, Err(Error::Io { .. })));
    /// assert!(!dir.path().join("events-0").exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// How many segment files the log keeps open at most (default
    /// [`DEFAULT_MAX_OPEN_FILES`]). Files are opened on first use and the
    /// least recently used are closed beyond this; a read in progress or a
    /// fetch result keeps its file open regardless.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{LogConfig, OpenOptions, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = OpenOptions::new()
    ///     .max_open_files(1)
    ///     .open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// log.roll()?;
    /// log.append(&[Record::new("b")])?;
    /// // Files closed beyond the limit are opened again when read.
    /// assert_eq!(log.iter(0).count(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_open_files(mut self, max: usize) -> Self {
        self.max_open_files = max.max(1);
        self
    }

    /// How long the files of a deleted segment stay (renamed `.deleted`)
    /// before they are removed, as Kafka's `file.delete.delay.ms`. The
    /// default, 0, removes them at once; with a delay they are removed by
    /// [`PartitionLog::remove_deleted_files`] once it has passed, at
    /// close, or at the next open.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{LogConfig, OpenOptions, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = OpenOptions::new()
    ///     .file_delete_delay_ms(60_000) // Kafka's default
    ///     .open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// log.roll()?;
    /// log.advance_log_start_offset(1)?; // deletes the first segment
    /// let deleted = dir.path().join("events-0/00000000000000000000.log.deleted");
    /// assert!(deleted.exists()); // for another minute
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn file_delete_delay_ms(mut self, delay_ms: u64) -> Self {
        self.file_delete_delay_ms = delay_ms;
        self
    }

    /// Opens the log read-only: to look at a directory another process
    /// (or another open in this one) may be writing, as Kafka's tools read
    /// a live broker's files. No lock is taken and nothing is written, not
    /// even a repair. Only the last segment is read at open. Its view ends
    /// quietly only before an incomplete batch at the end that the writer
    /// may still be writing (one beyond the recovery point in the
    /// writer's checkpoint and, after a clean shutdown, beyond the size it
    /// recorded); any other damage there, or data ending below what the
    /// writer had synced, makes the open (or a later refresh) fail with
    /// [`Error::Corrupt`] naming the file and byte position, as damage in
    /// earlier segments does when a read reaches it.
    /// [`PartitionLog::refresh`] picks up what the writer did since;
    /// every call that would change the log fails with
    /// [`Error::ReadOnly`]. A missing directory is an empty log unless
    /// [`create(false)`](Self::create) makes it an error; it is never
    /// created.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{Error, LogConfig, OpenOptions, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// let view = OpenOptions::new()
    ///     .read_only(true)
    ///     .open(dir.path().join("events-0"), LogConfig::default())?;
    /// assert_eq!(view.log_end_offset(), 1);
    /// assert!(matches!(view.append(&[Record::new("b")]), Err(Error::ReadOnly { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Opens (or creates) the log in `dir`.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{Error, LogConfig, OpenOptions};
    /// # let dir = tempfile::tempdir()?;
    /// let log = OpenOptions::new().open(dir.path().join("events-0"), LogConfig::default())?;
    /// // One writer at a time per directory.
    /// let again = OpenOptions::new().open(dir.path().join("events-0"), LogConfig::default());
    /// assert!(matches!(again, Err(Error::Locked { .. })));
    /// log.close()?;
    /// assert!(OpenOptions::new().open(dir.path().join("events-0"), LogConfig::default()).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad config value, [`Error::Locked`]
    /// if the directory is open for writing elsewhere, or the directory
    /// holding it is a store that is open (a log and a store never write
    /// one partition at once), [`Error::Corrupt`] for damage that strict
    /// recovery will not discard (or, read-only, damage at the end of the
    /// last segment: see [`read_only`](Self::read_only)), [`Error::Io`] for
    /// I/O failures.
    pub fn open(self, dir: impl AsRef<Path>, config: LogConfig) -> Result<PartitionLog> {
        load::open(self, dir.as_ref(), config)
    }
}

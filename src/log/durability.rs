//! Making appends durable on demand: [`PartitionLog::sync`],
//! [`flush_with`](PartitionLog::flush_with),
//! [`sync_sealed`](PartitionLog::sync_sealed) and
//! [`maybe_flush`](PartitionLog::maybe_flush) (steps 3 and 5 of the fsync
//! protocol in the module docs of [`log`](super)).

use std::sync::Arc;

use super::PartitionLog;
use crate::config::Durability;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::segment::Segment;

impl PartitionLog {
    /// Writes buffered bytes and fsyncs the log (`fsync`, like
    /// `File::sync_data`): everything appended so far survives a crash of
    /// the machine once it returns. The recovery point moves to the log end
    /// offset.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// log.sync()?; // survives a power loss from here on
    /// assert_eq!(log.recovery_point(), log.log_end_offset());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] (and the log is poisoned) if the write or fsync fails.
    pub fn sync(&self) -> Result<()> {
        self.flush_with(Durability::Sync)
    }

    /// Writes buffered bytes and fsyncs: the former name of
    /// [`sync`](Self::sync), which says that it fsyncs.
    ///
    /// # Errors
    /// As [`sync`](Self::sync).
    #[deprecated(
        note = "renamed `sync`, which fsyncs; `flush_with(Durability::Flush)` only writes out"
    )]
    pub fn flush(&self) -> Result<()> {
        self.sync()
    }

    /// Makes everything appended so far as durable as `durability` says:
    /// [`Durability::Flush`] hands bytes buffered in process to the OS
    /// (like `BufWriter::flush`; survives a crash of the process),
    /// [`Durability::Sync`] also fsyncs (like [`sync`](Self::sync)),
    /// [`Durability::None`] does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::{Durability, LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// let view = PartitionLog::options()
    ///     .read_only(true)
    ///     .open(dir.path().join("events-0"), LogConfig::default())?;
    ///
    /// log.append_with(&[Record::new("a")], Durability::None)?; // in process
    /// assert!(!view.refresh()?); // other readers of the files do not see it yet
    /// log.flush_with(Durability::Flush)?; // handed to the OS
    /// assert!(view.refresh()?);
    /// assert_eq!(view.log_end_offset(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] (and the log is poisoned) if the write or fsync fails.
    pub fn flush_with(&self, durability: Durability) -> Result<()> {
        // Whatever there is to flush was appended, and the append removed
        // the clean-shutdown marker.
        let mut w = self.inner.writer()?;
        if w.clean_marker {
            // Nothing appended since a clean open: all of it is synced.
            return Ok(());
        }
        match durability {
            Durability::None => Ok(()),
            Durability::Flush => self.inner.active(&mut w)?.write_out(),
            Durability::Sync => self.inner.sync_locked(&mut w),
        }
    }

    /// Fsyncs the segments sealed by rolls since the last fsync, without
    /// holding up appends while the fsyncs run, and moves the recovery
    /// point up to the active segment. A host calls it from a maintenance
    /// thread so that little has to be re-read after a crash; appends with
    /// [`Durability::Sync`] and [`sync`](Self::sync) do it anyway.
    /// Returns the number of segments synced.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// log.roll()?; // seals the segment holding offset 0
    /// log.append(&[Record::new("b")])?;
    /// assert_eq!(log.sync_sealed()?, 1);
    /// assert_eq!(log.recovery_point(), 1); // the active segment's base
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] (and the log is poisoned) if an fsync fails.
    pub fn sync_sealed(&self) -> Result<usize> {
        // Unsynced segments come from rolls, which removed the
        // clean-shutdown marker: this changes nothing else.
        let pending: Vec<Arc<Segment>> = self.inner.writer()?.unsynced.clone();
        for seg in &pending {
            seg.sync_files()?;
        }
        let mut w = self.inner.writer()?;
        w.unsynced
            .retain(|s| !pending.iter().any(|p| Arc::ptr_eq(p, s)));
        self.inner.advance_recovery_point(&w);
        if !pending.is_empty() {
            self.inner.persist_state(&w)?;
        }
        Ok(pending.len())
    }

    /// Fsyncs if `flush_ms` has passed since the last fsync (for a host's
    /// timer; appends check it too). Returns whether it flushed.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let config = LogConfig {
    ///     flush_ms: 60_000,
    ///     ..LogConfig::default()
    /// };
    /// let log = PartitionLog::open(dir.path().join("events-0"), config)?;
    /// log.append(&[Record::new("a")])?;
    /// // Within the first minute of the log no fsync is due yet.
    /// assert!(!log.maybe_flush()?);
    /// assert_eq!(log.recovery_point(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`sync`](Self::sync).
    pub fn maybe_flush(&self) -> Result<bool> {
        let mut w = self.inner.writer()?;
        let now = self.inner.clock.now_ms();
        if self.inner.flush_due(&w, now) {
            self.inner.sync_locked(&mut w)?;
            return Ok(true);
        }
        Ok(false)
    }
}

//! What opening a log found and did: [`RecoveryReport`].

use std::fmt;
use std::path::PathBuf;

#[cfg(doc)]
use crate::error::Error;

/// What an open found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Whether this open created the log (the directory held no segments).
    pub created: bool,
    /// Whether the previous close was clean (nothing had to be re-read).
    pub clean_shutdown: bool,
    /// Segments whose data was re-read and re-validated.
    pub segments_recovered: usize,
    /// Where data was cut off, if anywhere.
    pub truncated: Option<Truncation>,
    /// Segments deleted because they came after damaged data.
    pub segments_deleted: usize,
    /// Leftover temporary files removed.
    pub temp_files_removed: usize,
    /// Segments wholly below the log start deleted: what a deletion below
    /// the start (retention, DeleteRecords) that a crash interrupted left.
    pub segments_below_start_deleted: usize,
    /// Older segments that cannot hold the records they must (an empty
    /// `.log` that is not the last segment, or a `.log` that is a
    /// directory), found in the listing without reading them. They are
    /// left as they are; a read that reaches one fails with
    /// [`Error::Corrupt`] naming it.
    pub damaged_segments: Vec<SegmentDamage>,
    /// Checkpointed offsets the data contradicts (a log start offset or a
    /// recovery point beyond the log end), and what the open used instead.
    pub checkpoint_mismatches: Vec<CheckpointMismatch>,
    /// Why `leader-epoch-checkpoint` could not be used, if it could not:
    /// the leader-epoch cache then started from the epochs of the batches
    /// recovery re-read (none after a clean shutdown), and the file was
    /// rewritten from it.
    pub epoch_checkpoint_damage: Option<String>,
}

/// A segment an open found unusable, left in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentDamage {
    /// The segment's `.log` path.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// A checkpointed offset beyond the end of the log's data, found at open.
///
/// Such a value is damage (or the files were changed behind the log's
/// back): it is reported, never acted on. A log start offset beyond the
/// end would hide every record, so the log starts at its first segment
/// instead (or, when the log holds no record at all, at the checkpointed
/// offset, so that offsets are not given out twice); a recovery point
/// beyond the end is reset to the end, as Kafka does, after the last
/// segment was re-read. No data is deleted because of either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointMismatch {
    /// The checkpoint file the value was read from (the partition's
    /// `seglog.checkpoint`, or a store's root checkpoint file).
    pub path: PathBuf,
    /// Which offset it is.
    pub field: CheckpointField,
    /// The value the file holds.
    pub value: u64,
    /// The log end offset of the data found.
    pub log_end_offset: u64,
    /// The offset the log uses instead.
    pub used: u64,
}

/// Which checkpointed offset a [`CheckpointMismatch`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckpointField {
    /// The log start offset (Kafka's `log-start-offset-checkpoint`).
    LogStartOffset,
    /// The recovery point (Kafka's `recovery-point-offset-checkpoint`).
    RecoveryPoint,
}

impl fmt::Display for CheckpointMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.field {
            CheckpointField::LogStartOffset => "log start offset",
            CheckpointField::RecoveryPoint => "recovery point",
        };
        write!(
            f,
            "{}: {what} {} is beyond the log end offset {}; using {}",
            self.path.display(),
            self.value,
            self.log_end_offset,
            self.used
        )
    }
}

/// Data an open discarded because it was torn or invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// The `.log` file that was cut.
    pub path: PathBuf,
    /// The byte position it was cut at.
    pub position: u64,
    /// Bytes removed from that file.
    pub bytes_removed: u64,
    /// Why the data there was invalid.
    pub reason: String,
}

impl RecoveryReport {
    /// Whether the open found damage or finished work a crash interrupted:
    /// data cut off or deleted, checkpointed offsets beyond the end,
    /// segments that cannot hold their records, segments below the log
    /// start deleted. (A clean open, or a recovery that re-read segments
    /// and found them whole, finds nothing.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// # use seglog::{LogConfig, PartitionLog, Record};
    /// # let dir = tempfile::tempdir()?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// log.append(&[Record::new("a")])?;
    /// let segment = log.segments()[0].path.clone();
    /// log.close()?;
    ///
    /// // Half a batch at the end, as a crash during a write leaves.
    /// std::fs::OpenOptions::new().append(true).open(&segment)?.write_all(&[0; 20])?;
    /// let log = PartitionLog::open(dir.path().join("events-0"), LogConfig::default())?;
    /// assert!(log.recovery_report().found_damage());
    /// assert_eq!(log.recovery_report().truncated.as_ref().map(|t| t.bytes_removed), Some(20));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn found_damage(&self) -> bool {
        self.truncated.is_some()
            || self.segments_deleted > 0
            || self.segments_below_start_deleted > 0
            || !self.damaged_segments.is_empty()
            || !self.checkpoint_mismatches.is_empty()
    }
}

//! The two small files a partition directory holds besides its segments.
//!
//! * `seglog.checkpoint`: the recovery point and the log start offset, in
//!   Kafka's checkpoint format (`recovery-point N`, `log-start-offset N`).
//!   Replaced atomically whenever either must be durable: at roll, on
//!   truncation, when the log start offset moves, at close.
//! * `seglog.clean-shutdown`: written last by a clean close, with what the
//!   next open needs to know about the active segment without reading it
//!   (its size, next offset, largest timestamp, first batch's timestamp).
//!   The next open reads it and, before anything in the directory changes
//!   (the first append, roll, truncation or deletion, or a recovery),
//!   deletes it and fsyncs the directory, so a crash afterwards is never
//!   taken for a clean shutdown.
//!
//! Kafka's loader ignores files it does not know, so neither file gets in
//! the way of Kafka's tools.

use std::path::{Path, PathBuf};

use crate::checkpoint::{self, KeyValues};
use crate::config::RecoveryMode;
use crate::error::{Error, Result};
use crate::io::{Fs, IoContext};
use crate::segment::{ResumeState, TimestampOffset};

pub(crate) const STATE_FILE: &str = "seglog.checkpoint";
pub(crate) const CLEAN_SHUTDOWN_FILE: &str = "seglog.clean-shutdown";

/// What `seglog.checkpoint` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionState {
    pub(crate) recovery_point: u64,
    pub(crate) log_start_offset: u64,
}

pub(crate) fn state_path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

/// A saved state with the files its two offsets were read from: the
/// partition's own `seglog.checkpoint`, or a store's root checkpoint files
/// standing in for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SavedState {
    pub(crate) state: PartitionState,
    pub(crate) recovery_point_file: PathBuf,
    pub(crate) log_start_file: PathBuf,
}

impl SavedState {
    /// A state read from the partition's own checkpoint in `dir`.
    pub(crate) fn own(dir: &Path, state: PartitionState) -> Self {
        SavedState {
            state,
            recovery_point_file: state_path(dir),
            log_start_file: state_path(dir),
        }
    }

    /// Whether the state was read from the partition's own checkpoint in
    /// `dir`, not from a store's root checkpoint files standing in for it
    /// (as Kafka's are, in a directory Kafka wrote).
    pub(crate) fn is_own(&self, dir: &Path) -> bool {
        self.recovery_point_file == state_path(dir)
    }
}

/// Reads `seglog.checkpoint`. A damaged file is an error in strict mode
/// and ignored (everything re-validated) otherwise.
pub(crate) fn read_state(
    fs: &dyn Fs,
    dir: &Path,
    mode: RecoveryMode,
) -> Result<Option<PartitionState>> {
    let path = state_path(dir);
    let parsed = checkpoint::read(fs, &path, 2).and_then(|entries| {
        let Some(entries) = entries else {
            return Ok(None);
        };
        let kv = KeyValues::from_entries(entries);
        Ok(Some(PartitionState {
            recovery_point: kv.number(&path, "recovery-point")?,
            log_start_offset: kv.number(&path, "log-start-offset")?,
        }))
    });
    match (parsed, mode) {
        (Err(Error::Corrupt { .. }), RecoveryMode::TruncateCorrupt) => Ok(None),
        (other, _) => other,
    }
}

pub(crate) fn write_state(fs: &dyn Fs, dir: &Path, state: &PartitionState) -> Result<()> {
    checkpoint::write(
        fs,
        &state_path(dir),
        &[
            vec![
                "recovery-point".to_string(),
                state.recovery_point.to_string(),
            ],
            vec![
                "log-start-offset".to_string(),
                state.log_start_offset.to_string(),
            ],
        ],
    )
}

/// What a clean close records about the active segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CleanShutdown {
    pub(crate) active_base_offset: u64,
    pub(crate) active_size: u64,
    pub(crate) resume: ResumeState,
}

pub(crate) fn write_clean_marker(fs: &dyn Fs, dir: &Path, marker: &CleanShutdown) -> Result<()> {
    let r = &marker.resume;
    let first = r
        .first_batch_timestamp
        .map_or_else(|| "none".to_string(), |t| t.to_string());
    checkpoint::write(
        fs,
        &dir.join(CLEAN_SHUTDOWN_FILE),
        &[
            vec![
                "active-base-offset".to_string(),
                marker.active_base_offset.to_string(),
            ],
            vec!["active-size".to_string(), marker.active_size.to_string()],
            vec!["next-offset".to_string(), r.next_offset.to_string()],
            vec!["max-timestamp".to_string(), r.max.timestamp.to_string()],
            vec!["max-timestamp-offset".to_string(), r.max.offset.to_string()],
            vec!["first-batch-timestamp".to_string(), first],
        ],
    )
}

/// The clean-shutdown marker as found at open.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FoundMarker {
    /// Whether the file exists.
    pub(crate) present: bool,
    /// What it says; `None` if it is missing or cannot be parsed (the open
    /// then re-validates, which is always safe).
    pub(crate) parsed: Option<CleanShutdown>,
}

/// Reads the clean-shutdown marker, leaving it in place.
pub(crate) fn read_clean_marker(fs: &dyn Fs, dir: &Path) -> Result<FoundMarker> {
    let path = dir.join(CLEAN_SHUTDOWN_FILE);
    let parsed = match checkpoint::read(fs, &path, 2) {
        Ok(None) => {
            return Ok(FoundMarker {
                present: false,
                parsed: None,
            })
        }
        Ok(Some(entries)) => parse_marker(&path, KeyValues::from_entries(entries)).ok(),
        Err(Error::Corrupt { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok(FoundMarker {
        present: true,
        parsed,
    })
}

/// Removes the marker durably: after this, a crash is recovered from.
pub(crate) fn remove_clean_marker(fs: &dyn Fs, dir: &Path) -> Result<()> {
    let path = dir.join(CLEAN_SHUTDOWN_FILE);
    match fs.remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove", &path, e)),
    }
    fs.sync_dir(dir).ctx("fsync directory", dir)
}

fn parse_marker(path: &Path, kv: KeyValues) -> Result<CleanShutdown> {
    let first = match kv.get("first-batch-timestamp") {
        Some("none") => None,
        _ => Some(kv.number(path, "first-batch-timestamp")?),
    };
    Ok(CleanShutdown {
        active_base_offset: kv.number(path, "active-base-offset")?,
        active_size: kv.number(path, "active-size")?,
        resume: ResumeState {
            max: TimestampOffset {
                timestamp: kv.number(path, "max-timestamp")?,
                offset: kv.number(path, "max-timestamp-offset")?,
            },
            next_offset: kv.number(path, "next-offset")?,
            first_batch_timestamp: first,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemFs;

    #[test]
    fn state_and_marker_round_trip() {
        let fs = MemFs::new();
        let dir = Path::new("/p");
        fs.create_dir_all(dir).unwrap();
        assert_eq!(read_state(&fs, dir, RecoveryMode::Strict).unwrap(), None);
        let s = PartitionState {
            recovery_point: 42,
            log_start_offset: 7,
        };
        write_state(&fs, dir, &s).unwrap();
        assert_eq!(read_state(&fs, dir, RecoveryMode::Strict).unwrap(), Some(s));

        let m = CleanShutdown {
            active_base_offset: 40,
            active_size: 1234,
            resume: ResumeState {
                max: TimestampOffset {
                    timestamp: 99,
                    offset: 41,
                },
                next_offset: 42,
                first_batch_timestamp: None,
            },
        };
        write_clean_marker(&fs, dir, &m).unwrap();
        let found = read_clean_marker(&fs, dir).unwrap();
        assert!(found.present);
        assert_eq!(found.parsed, Some(m));
        assert!(read_clean_marker(&fs, dir).unwrap().present, "still there");
        remove_clean_marker(&fs, dir).unwrap();
        let gone = read_clean_marker(&fs, dir).unwrap();
        assert!(!gone.present);
        assert_eq!(gone.parsed, None);
        // Removing it again is not an error.
        remove_clean_marker(&fs, dir).unwrap();
    }

    #[test]
    fn damaged_state_is_an_error_unless_lenient() {
        let fs = MemFs::new();
        let dir = Path::new("/p");
        fs.create_dir_all(dir).unwrap();
        fs.write(&dir.join(STATE_FILE), b"0\n2\nrecovery-point x\n")
            .unwrap();
        assert!(matches!(
            read_state(&fs, dir, RecoveryMode::Strict),
            Err(Error::Corrupt { .. })
        ));
        assert_eq!(
            read_state(&fs, dir, RecoveryMode::TruncateCorrupt).unwrap(),
            None
        );
    }
}

//! The leader-epoch cache: for each leader epoch, the first offset written
//! in it (Kafka's `LeaderEpochFileCache`), kept in the partition
//! directory's `leader-epoch-checkpoint`.
//!
//! A follower asks the leader where one of its epochs ended
//! ([`LeaderEpochCache::end_offset_for`]) and truncates there, so that two
//! replicas never hold different records at the same offset. The cache is
//! filled when a replica becomes leader (its new epoch starts at its log
//! end offset), from the partition leader epoch of every batch appended or
//! recovered, and trimmed when the log is truncated (from the end) or its
//! start offset rises (from the start).

use std::path::Path;

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::io::Fs;

/// The checkpoint's file name, in the partition directory.
pub const FILE_NAME: &str = "leader-epoch-checkpoint";

/// "No epoch" in Kafka's answers (`UNDEFINED_EPOCH`).
pub const UNDEFINED_EPOCH: i32 = -1;

/// "No offset" in Kafka's answers (`UNDEFINED_EPOCH_OFFSET`).
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// One entry: `epoch` began at `start_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: i32,
    /// The first offset written in it.
    pub start_offset: u64,
}

/// An epoch and the offset where it ended (the start of the next epoch, or
/// the log end offset for the latest), as Kafka's `EpochEndOffset`:
/// [`UNDEFINED_EPOCH`] and [`UNDEFINED_EPOCH_OFFSET`] when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    /// The epoch answered for (may be smaller than the one asked about).
    pub epoch: i32,
    /// The offset after its last record; -1 when undefined.
    pub end_offset: i64,
}

impl EpochEndOffset {
    /// The undefined answer `(-1, -1)`.
    pub const UNDEFINED: EpochEndOffset = EpochEndOffset {
        epoch: UNDEFINED_EPOCH,
        end_offset: UNDEFINED_EPOCH_OFFSET,
    };

    /// An answer of `epoch` ending at `end_offset`.
    pub fn new(epoch: i32, end_offset: i64) -> Self {
        EpochEndOffset { epoch, end_offset }
    }

    /// Whether the end offset is known (any negative offset is not).
    pub fn is_defined(&self) -> bool {
        self.end_offset >= 0
    }

    /// The end offset, or `None` if it is undefined.
    pub fn offset(&self) -> Option<u64> {
        u64::try_from(self.end_offset).ok()
    }
}

/// The cache: entries with epochs and start offsets both increasing.
///
/// # Examples
///
/// ```
/// use seglog::replication::{EpochEndOffset, LeaderEpochCache};
/// let mut cache = LeaderEpochCache::new();
/// cache.assign(0, 10)?;
/// cache.assign(2, 13)?;
/// cache.assign(4, 17)?;
/// // Epoch 1 was never a leader's here: epoch 0 ended where epoch 2 began.
/// assert_eq!(cache.end_offset_for(1, 20), EpochEndOffset { epoch: 0, end_offset: 13 });
/// // The latest epoch ends at the log end offset.
/// assert_eq!(cache.end_offset_for(4, 20), EpochEndOffset { epoch: 4, end_offset: 20 });
/// # Ok::<(), seglog::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache holding `entries`, which must have strictly increasing
    /// epochs and non-decreasing start offsets.
    ///
    /// # Errors
    /// [`Error::InvalidLeaderEpoch`] for a negative epoch,
    /// [`Error::InvalidRecord`] naming the first entry out of order.
    pub fn from_entries(entries: Vec<EpochEntry>) -> Result<Self> {
        if let Some(e) = entries.iter().find(|e| e.epoch < 0) {
            return Err(Error::InvalidLeaderEpoch { epoch: e.epoch });
        }
        for (i, pair) in entries.windows(2).enumerate() {
            if pair[1].epoch <= pair[0].epoch || pair[1].start_offset < pair[0].start_offset {
                return Err(Error::InvalidRecord {
                    reason: format!(
                        "leader epoch entry {} ({}, {}) does not follow ({}, {})",
                        i + 1,
                        pair[1].epoch,
                        pair[1].start_offset,
                        pair[0].epoch,
                        pair[0].start_offset
                    ),
                });
            }
        }
        Ok(LeaderEpochCache { entries })
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The latest entry.
    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// The latest epoch.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.latest().map(|e| e.epoch)
    }

    /// The start offset of `epoch`, if cached.
    pub fn start_offset_of(&self, epoch: i32) -> Option<u64> {
        self.entries
            .iter()
            .find(|e| e.epoch == epoch)
            .map(|e| e.start_offset)
    }

    /// Records that `epoch` began at `start_offset` (Kafka's `assign`).
    /// Ignored, returning `false`, when `epoch` is the latest epoch and
    /// `start_offset` is not below its start (the first start of an epoch
    /// wins). Otherwise every entry with an epoch at or above `epoch`, or
    /// a start offset at or above `start_offset`, is removed from the end
    /// before the new entry is added.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::replication::{EpochEntry, LeaderEpochCache};
    /// let mut cache = LeaderEpochCache::new();
    /// for (epoch, start) in [(5, 11), (6, 12), (7, 13)] {
    ///     cache.assign(epoch, start)?;
    /// }
    /// cache.assign(7, 12)?;
    /// let entries: Vec<_> = cache.entries().iter().map(|e| (e.epoch, e.start_offset)).collect();
    /// assert_eq!(entries, [(5, 11), (7, 12)]);
    /// assert!(cache.assign(-1, 0).is_err());
    /// # Ok::<(), seglog::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidLeaderEpoch`] for a negative epoch.
    pub fn assign(&mut self, epoch: i32, start_offset: u64) -> Result<bool> {
        if epoch < 0 {
            return Err(Error::InvalidLeaderEpoch { epoch });
        }
        if let Some(last) = self.latest() {
            if last.epoch == epoch && start_offset >= last.start_offset {
                return Ok(false);
            }
        }
        while let Some(last) = self.latest() {
            if last.epoch >= epoch || last.start_offset >= start_offset {
                self.entries.pop();
            } else {
                break;
            }
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        Ok(true)
    }

    /// Where `requested` ended, given the log end offset (Kafka's
    /// `endOffsetFor`, the answer to OffsetsForLeaderEpoch):
    ///
    /// * `-1` or an empty cache: undefined;
    /// * the latest epoch: `(requested, log_end_offset)`;
    /// * no cached epoch above `requested`: undefined;
    /// * no cached epoch at or below it: `(requested, start of the first
    ///   epoch above it)`;
    /// * otherwise `(largest epoch <= requested, start of the first epoch
    ///   above requested)`.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: u64) -> EpochEndOffset {
        if requested == UNDEFINED_EPOCH {
            return EpochEndOffset::UNDEFINED;
        }
        if self.latest_epoch() == Some(requested) {
            return EpochEndOffset {
                epoch: requested,
                end_offset: to_i64(log_end_offset),
            };
        }
        let Some(higher) = self.entries.iter().find(|e| e.epoch > requested) else {
            return EpochEndOffset::UNDEFINED;
        };
        let floor = self.entries.iter().rev().find(|e| e.epoch <= requested);
        EpochEndOffset {
            epoch: floor.map_or(requested, |f| f.epoch),
            end_offset: to_i64(higher.start_offset),
        }
    }

    /// Removes the entries starting at or after `end_offset` (Kafka's
    /// `truncateFromEnd`, on log truncation). Returns whether anything
    /// changed.
    pub fn truncate_from_end(&mut self, end_offset: u64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        self.entries.len() != before
    }

    /// Moves the cache's start up to `start_offset` (Kafka's
    /// `truncateFromStart`, when the log start offset rises): entries
    /// starting at or before it go, and the last of them comes back
    /// starting at `start_offset`. Returns whether anything changed.
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::replication::LeaderEpochCache;
    /// let mut cache = LeaderEpochCache::new();
    /// for (epoch, start) in [(2, 6), (3, 8), (4, 11)] {
    ///     cache.assign(epoch, start)?;
    /// }
    /// cache.truncate_from_start(9);
    /// let entries: Vec<_> = cache.entries().iter().map(|e| (e.epoch, e.start_offset)).collect();
    /// assert_eq!(entries, [(3, 9), (4, 11)]);
    /// # Ok::<(), seglog::Error>(())
    /// ```
    pub fn truncate_from_start(&mut self, start_offset: u64) -> bool {
        match self.entries.first() {
            Some(first) if first.start_offset < start_offset => {}
            _ => return false,
        }
        let removed = self
            .entries
            .iter()
            .take_while(|e| e.start_offset <= start_offset)
            .count();
        let last_removed = self.entries[removed - 1];
        self.entries.drain(..removed);
        self.entries.insert(
            0,
            EpochEntry {
                epoch: last_removed.epoch,
                start_offset,
            },
        );
        true
    }

    /// Reads `leader-epoch-checkpoint` from `dir`: `Ok(None)` when there is
    /// none.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a file not in Kafka's format or whose
    /// entries are out of order; [`Error::Io`].
    pub(crate) fn read(fs: &dyn Fs, dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(FILE_NAME);
        let Some(rows) = checkpoint::read(fs, &path, 2)? else {
            return Ok(None);
        };
        let mut entries = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let epoch = row[0].parse::<i32>().ok();
            let start = row[1].parse::<u64>().ok();
            let (Some(epoch), Some(start_offset)) = (epoch, start) else {
                return Err(Error::corrupt(
                    &path,
                    0,
                    format!(
                        "entry {i} is not `<epoch> <start offset>`: {:?}",
                        row.join(" ")
                    ),
                ));
            };
            entries.push(EpochEntry {
                epoch,
                start_offset,
            });
        }
        Self::from_entries(entries)
            .map(Some)
            .map_err(|e| Error::corrupt(&path, 0, e.to_string()))
    }

    /// Replaces `leader-epoch-checkpoint` in `dir` atomically.
    pub(crate) fn write(&self, fs: &dyn Fs, dir: &Path) -> Result<()> {
        let rows: Vec<Vec<String>> = self
            .entries
            .iter()
            .map(|e| vec![e.epoch.to_string(), e.start_offset.to_string()])
            .collect();
        checkpoint::write(fs, &dir.join(FILE_NAME), &rows)
    }
}

fn to_i64(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[path = "epoch_cache_tests.rs"]
mod tests;

//! Reading and checking the files at the root of a store's directory
//! (`seglog.topics`, the root checkpoints, the clean-shutdown marker, the
//! lock file, the cleaner's checkpoint) and which partition directories are there: what an open
//! checks before it changes anything, and what [`verify_store_files`]
//! reports.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::layout::{self, OffsetEntry, TopicEntry, TopicState};
use super::TopicPartition;
use crate::error::{Error, Result};
use crate::io::{self as fsio, DirEntry, Fs, IoContext, LOCK_FILE_NAME};
use crate::log::offset_checkpoint;
use crate::topic::partition_dir_name;

/// The files at the root that must be files, not directories.
const ROOT_FILES: [&str; 7] = [
    layout::TOPICS_FILE,
    layout::RECOVERY_POINT_FILE,
    layout::LOG_START_FILE,
    offset_checkpoint::FILE_NAME,
    offset_checkpoint::HIGH_WATERMARK_FILE_NAME,
    layout::CLEAN_SHUTDOWN_FILE,
    LOCK_FILE_NAME,
];

/// Times the topics and the listing are read again when `seglog.topics`
/// changed meanwhile (a writer beside a read-only reader).
const ATTEMPTS: usize = 10;

/// What the root of a store's directory holds, checked.
pub(crate) struct RootFiles {
    /// The names of the root's directories.
    pub(crate) dirs: BTreeSet<String>,
    /// `seglog.topics`; `None` if there is none.
    pub(crate) topics: Option<Vec<TopicEntry>>,
    /// The root checkpoints by partition: (recovery point, log start
    /// offset).
    pub(crate) checkpoints: HashMap<(String, u32), (u64, u64)>,
    /// Whether the clean-shutdown marker is there.
    pub(crate) clean_shutdown: bool,
}

impl RootFiles {
    /// Reads and checks the root files of the store in `root`, and lists
    /// its directories as `seglog.topics` stood (read again if it changed
    /// meanwhile). With `ignore_bad_checkpoints`, damaged root checkpoints
    /// count as missing.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the first file that is damaged (or a
    /// directory); [`Error::Io`].
    pub(crate) fn read(fs: &dyn Fs, root: &Path, ignore_bad_checkpoints: bool) -> Result<Self> {
        let topics_path = layout::topics_path(root);
        let (topics, listing) = read_consistently(fs, root, &topics_path)?;
        for name in ROOT_FILES {
            if listing.iter().any(|e| e.is_dir && e.name == name) {
                return Err(Error::corrupt(
                    &root.join(name),
                    0,
                    "is a directory, where the store keeps a file",
                ));
            }
        }
        let topics = match topics? {
            Some(bytes) => Some(layout::parse_topics(&topics_path, &bytes)?),
            None => None,
        };
        let marker = root.join(layout::CLEAN_SHUTDOWN_FILE);
        let clean_shutdown =
            match fsio::read_file_at_most(fs, &marker, layout::CLEAN_SHUTDOWN_MAX_LEN)? {
                Some(bytes) => {
                    layout::check_clean_marker(&marker, &bytes)?;
                    true
                }
                None => false,
            };
        let checkpoints = read_checkpoints(fs, root, ignore_bad_checkpoints)?;
        let dirs = listing
            .into_iter()
            .filter(|e| e.is_dir)
            .map(|e| e.name)
            .collect();
        Ok(RootFiles {
            dirs,
            topics,
            checkpoints,
            clean_shutdown,
        })
    }

    /// The partitions of live topics, and those below the count made of
    /// topics being created, whose directories are missing.
    pub(crate) fn missing_partitions(&self) -> Vec<(TopicPartition, String)> {
        self.partitions(|e, p| p < e.state.complete(e.partitions))
    }

    /// The partitions of topics being created whose directories are yet
    /// to be made.
    pub(crate) fn partitions_to_make(&self) -> Vec<(TopicPartition, String)> {
        self.partitions(|e, p| {
            matches!(e.state, TopicState::Creating { .. }) && p >= e.state.complete(e.partitions)
        })
    }

    /// The partitions of topics not being deleted, without a directory,
    /// that `pick` picks.
    fn partitions(&self, pick: impl Fn(&TopicEntry, u32) -> bool) -> Vec<(TopicPartition, String)> {
        let Some(topics) = &self.topics else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in topics.iter().filter(|e| e.state != TopicState::Deleting) {
            for p in 0..e.partitions {
                let name = partition_dir_name(&e.name, p);
                if pick(e, p) && !self.dirs.contains(&name) {
                    out.push((TopicPartition::new(e.name.clone(), p), name));
                }
            }
        }
        out
    }
}

/// `seglog.topics` as read: its bytes, `None`, or the error reading it.
type TopicsRead = Result<Option<Vec<u8>>>;

/// Reads `seglog.topics` and lists the root, then reads `seglog.topics`
/// again: if it changed, a writer changed the topics meanwhile, and both
/// are read again.
fn read_consistently(fs: &dyn Fs, root: &Path, path: &Path) -> Result<(TopicsRead, Vec<DirEntry>)> {
    let mut attempt = 1;
    loop {
        let before = fsio::read_file_if_exists(fs, path);
        let listing = fs.list_dir(root).ctx("list", root)?;
        if attempt == ATTEMPTS || before.is_err() {
            return Ok((before, listing));
        }
        if let (Ok(a), Ok(b)) = (&before, fsio::read_file_if_exists(fs, path)) {
            if *a == b {
                return Ok((before, listing));
            }
        }
        attempt += 1;
    }
}

/// The root checkpoints by partition: (recovery point, log start offset).
fn read_checkpoints(
    fs: &dyn Fs,
    root: &Path,
    ignore_bad: bool,
) -> Result<HashMap<(String, u32), (u64, u64)>> {
    let read = |name: &str| -> Result<Vec<OffsetEntry>> {
        match layout::read_offsets(fs, &root.join(name)) {
            Ok(entries) => Ok(entries.unwrap_or_default()),
            Err(Error::Corrupt { .. }) if ignore_bad => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    };
    let starts: HashMap<(String, u32), u64> = read(layout::LOG_START_FILE)?
        .into_iter()
        .map(|e| ((e.topic, e.partition), e.offset))
        .collect();
    Ok(read(layout::RECOVERY_POINT_FILE)?
        .into_iter()
        .map(|e| {
            let start = starts
                .get(&(e.topic.clone(), e.partition))
                .copied()
                .unwrap_or(0);
            ((e.topic, e.partition), (e.offset, start))
        })
        .collect())
}

/// What [`verify_store_files`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreFilesReport {
    /// Whether the directory has a `seglog.topics`. Without one, opening
    /// the store adopts the partition directories it finds (a Kafka log
    /// directory, say).
    pub has_topic_list: bool,
    /// The topics `seglog.topics` lists, with their partition counts (not
    /// those being deleted).
    pub topics: Vec<(String, u32)>,
    /// Partitions of topics whose creation or growth is not finished, and
    /// whose directories are not there yet (the next open makes them).
    pub partitions_being_created: Vec<TopicPartition>,
    /// Whether the clean-shutdown marker is there.
    pub clean_shutdown: bool,
}

/// Checks the files at the root of the store in `dir`, as opening it
/// does, without opening it, taking its lock or changing anything (so it
/// can run beside the process that has the store open): `seglog.topics`,
/// the root checkpoint files, the clean-shutdown marker and the lock file
/// are what seglog (or Kafka) writes there, and every partition of a
/// topic has its directory (except partitions still being created).
/// `cleaner-offset-checkpoint` must be a file; what it holds is derived
/// data, which a store reads leniently (a damaged one counts as empty:
/// compaction rounds start from each log's start again), so its content
/// is not checked.
/// Partition directories themselves are checked by
/// [`verify_partition_dir`](crate::inspect::verify_partition_dir).
///
/// # Errors
/// [`Error::Corrupt`] naming the first damaged file and the byte position
/// in it; [`Error::MissingPartition`] for the first partition whose
/// directory is missing; [`Error::Io`] (a missing directory included).
pub fn verify_store_files(fs: &dyn Fs, dir: &Path) -> Result<StoreFilesReport> {
    let root = RootFiles::read(fs, dir, false)?;
    if let Some((tp, name)) = root.missing_partitions().into_iter().next() {
        return Err(Error::MissingPartition {
            topic: tp.topic,
            partition: tp.partition,
            path: dir.join(name),
        });
    }
    let topics = root
        .topics
        .iter()
        .flatten()
        .filter(|e| e.state != TopicState::Deleting)
        .map(|e| (e.name.clone(), e.partitions))
        .collect();
    Ok(StoreFilesReport {
        has_topic_list: root.topics.is_some(),
        topics,
        partitions_being_created: root
            .partitions_to_make()
            .into_iter()
            .map(|(tp, _)| tp)
            .collect(),
        clean_shutdown: root.clean_shutdown,
    })
}

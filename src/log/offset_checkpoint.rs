//! Where a log keeps an offset that Kafka checkpoints per log directory,
//! in its text checkpoint format with `topic partition offset` entries:
//! the cleaner's (`cleaner-offset-checkpoint`, the offset up to which the
//! last compaction round cleaned) and the high watermark
//! (`replication-offset-checkpoint`).
//!
//! A log opened on its own keeps each file in its directory, with its one
//! entry; the logs of a store share one file in the store's root, as
//! Kafka's log directories do. Both are derived data: a cleaner
//! checkpoint that cannot be read only means the next round starts from
//! the log start offset, cleaning more than it had to; a lost high
//! watermark only starts lower (at the log start offset).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::io::Fs;
use crate::segment::lock;

/// The cleaner checkpoint's name, in a partition directory or a store's
/// root.
pub(crate) const FILE_NAME: &str = "cleaner-offset-checkpoint";

/// The high-watermark checkpoint's name, in a partition directory or a
/// store's root.
pub(crate) const HIGH_WATERMARK_FILE_NAME: &str = "replication-offset-checkpoint";

/// The checkpoints of every partition of a store, in the root's file.
pub(crate) struct SharedOffsetCheckpoints {
    fs: Arc<dyn Fs>,
    path: PathBuf,
    entries: Mutex<BTreeMap<(String, u32), u64>>,
}

impl std::fmt::Debug for SharedOffsetCheckpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedOffsetCheckpoints")
            .field("path", &self.path)
            .finish()
    }
}

impl SharedOffsetCheckpoints {
    /// Reads `<root>/<name>`; a missing or unreadable file holds no
    /// entries.
    pub(crate) fn load(fs: Arc<dyn Fs>, root: &Path, name: &str) -> Self {
        let path = root.join(name);
        let entries = read_entries(&*fs, &path).unwrap_or_default();
        SharedOffsetCheckpoints {
            fs,
            path,
            entries: Mutex::new(entries),
        }
    }

    fn get(&self, topic: &str, partition: u32) -> Option<u64> {
        lock(&self.entries)
            .get(&(topic.to_string(), partition))
            .copied()
    }

    /// Sets (or with `None` removes) a partition's entry and rewrites the
    /// file atomically.
    pub(crate) fn set(&self, topic: &str, partition: u32, offset: Option<u64>) -> Result<()> {
        let mut entries = lock(&self.entries);
        let key = (topic.to_string(), partition);
        let before = entries.get(&key).copied();
        if before == offset {
            return Ok(());
        }
        match offset {
            Some(o) => entries.insert(key, o),
            None => entries.remove(&key),
        };
        write_entries(&*self.fs, &self.path, &entries)
    }

    /// Removes every entry of `topic` (the topic was deleted).
    pub(crate) fn remove_topic(&self, topic: &str) -> Result<()> {
        let mut entries = lock(&self.entries);
        let before = entries.len();
        entries.retain(|(t, _), _| t != topic);
        if entries.len() == before {
            return Ok(());
        }
        write_entries(&*self.fs, &self.path, &entries)
    }
}

/// Where one log's checkpoint lives.
#[derive(Debug, Clone)]
pub(crate) enum OffsetCheckpointFile {
    /// The file of this name in the log's own directory.
    Own(&'static str),
    /// An entry of the store root's file.
    Shared {
        file: Arc<SharedOffsetCheckpoints>,
        topic: String,
        partition: u32,
    },
}

impl OffsetCheckpointFile {
    /// The offset stored for the log in `dir`, if any.
    pub(crate) fn read(&self, fs: &dyn Fs, dir: &Path) -> Option<u64> {
        match self {
            OffsetCheckpointFile::Own(name) => {
                let entries = read_entries(fs, &dir.join(name)).ok()?;
                let (topic, partition) = topic_partition(dir);
                entries.get(&(topic, partition)).copied()
            }
            OffsetCheckpointFile::Shared {
                file,
                topic,
                partition,
            } => file.get(topic, *partition),
        }
    }

    /// Stores `offset` (or removes the entry) for the log in `dir`.
    pub(crate) fn write(&self, fs: &dyn Fs, dir: &Path, offset: Option<u64>) -> Result<()> {
        match self {
            OffsetCheckpointFile::Own(name) => {
                let path = dir.join(name);
                let mut entries = BTreeMap::new();
                if let Some(o) = offset {
                    entries.insert(topic_partition(dir), o);
                }
                write_entries(fs, &path, &entries)
            }
            OffsetCheckpointFile::Shared {
                file,
                topic,
                partition,
            } => file.set(topic, *partition, offset),
        }
    }
}

/// A partition directory's topic and partition (`orders-3`); a name that
/// is not one is taken whole as the topic, partition 0.
fn topic_partition(dir: &Path) -> (String, u32) {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.rsplit_once('-') {
        Some((t, p)) if !t.is_empty() => match p.parse::<u32>() {
            Ok(p) => (t.to_string(), p),
            Err(_) => (name, 0),
        },
        _ => (name, 0),
    }
}

fn read_entries(fs: &dyn Fs, path: &Path) -> Result<BTreeMap<(String, u32), u64>> {
    let mut out = BTreeMap::new();
    let Some(entries) = checkpoint::read(fs, path, 3)? else {
        return Ok(out);
    };
    for e in entries {
        let bad = || Error::corrupt(path, 0, format!("malformed entry {e:?}"));
        let partition = e[1].parse::<u32>().map_err(|_| bad())?;
        let offset = e[2].parse::<u64>().map_err(|_| bad())?;
        out.insert((e[0].clone(), partition), offset);
    }
    Ok(out)
}

fn write_entries(fs: &dyn Fs, path: &Path, entries: &BTreeMap<(String, u32), u64>) -> Result<()> {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|((t, p), o)| vec![t.clone(), p.to_string(), o.to_string()])
        .collect();
    checkpoint::write(fs, path, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_directories_name_their_entry() {
        assert_eq!(
            topic_partition(Path::new("/d/orders-3")),
            ("orders".into(), 3)
        );
        assert_eq!(topic_partition(Path::new("/d/a-b-12")), ("a-b".into(), 12));
        assert_eq!(topic_partition(Path::new("/d/plain")), ("plain".into(), 0));
        assert_eq!(topic_partition(Path::new("/d/x-y")), ("x-y".into(), 0));
    }
}

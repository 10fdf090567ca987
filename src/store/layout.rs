//! The files at the root of a store's data directory, besides the
//! partition directories:
//!
//! ```text
//! .lock                              held while the store is open (empty)
//! seglog.topics                      topics, partition counts, overrides
//! recovery-point-offset-checkpoint   topic partition offset (Kafka's)
//! log-start-offset-checkpoint        topic partition offset (Kafka's)
//! cleaner-offset-checkpoint          topic partition offset (Kafka's), of
//!                                    the partitions ever compacted
//! .kafka_cleanshutdown               written last by a clean close (empty)
//! orders-0/ orders-1/ ...            one directory per partition
//! orders-2.1a2b3c-delete/            a partition being deleted
//! ```
//!
//! `seglog.topics` is the store's own metadata, one topic per line after a
//! version line and a count line:
//!
//! ```text
//! seglog-topics 1
//! 3
//! orders 3 live retention.ms=86400000 segment.bytes=1048576
//! payments 4 creating 2
//! audit 1 deleting
//! ```
//!
//! Each line holds the name, the partition count, the state and the
//! topic's config overrides in Kafka's names. The state is one of:
//!
//! * `live`: every partition's directory was made; one that is missing
//!   has been lost, and opening the store fails on it (unless it was told
//!   to recreate missing partitions empty).
//! * `creating <complete>`: a topic creation (`creating 0`) or a growth
//!   (`creating` the old partition count) is committed but its partition
//!   directories from `<complete>` up may not all exist yet. The next
//!   open makes those that are missing and commits the topic `live`; the
//!   partitions below `<complete>` must exist as for a live topic.
//! * `deleting`: the topic is deleted; its directories may still be
//!   there, and the next open removes them and the line.
//!
//! The file is replaced atomically (temporary file, fsync, rename, fsync
//! of the directory); each replacement is the commit point of a topic
//! change.
//!
//! The root checkpoint files are Kafka's (`topic partition offset` lines,
//! see the `checkpoint` module); a topic is named in each at most once per
//! partition. `.kafka_cleanshutdown` is empty when seglog writes it; Kafka
//! writes a small JSON object (`{"version":0,"brokerEpoch":N}`) there,
//! which is read as a clean shutdown too. Anything else in one of these
//! files is damage: opening the store fails on it, naming the file, and
//! so does [`verify_store_files`](super::verify_store_files).
//!
//! `cleaner-offset-checkpoint` holds, for each partition of a compacted
//! topic, where its last compaction round ended (the start of its dirty
//! section); a partition is named in it once compacted, and a topic's
//! entries go with the topic. Its offsets are derived data: a file that
//! cannot be read counts as empty (the next round of each partition
//! starts from its log start offset and writes the file whole again), and
//! is not an error; only a directory in its place is.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::io::{self as fsio, Fs};

pub(crate) const TOPICS_FILE: &str = "seglog.topics";
pub(crate) const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
pub(crate) const LOG_START_FILE: &str = "log-start-offset-checkpoint";
pub(crate) const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// Suffix of a partition directory being deleted (Kafka's).
pub(crate) const DELETE_SUFFIX: &str = "-delete";

const HEADER: &str = "seglog-topics 1";

/// Where a topic stands in `seglog.topics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopicState {
    Live,
    /// Committed, but the directories of the partitions from `complete` up
    /// may not all have been made: the next open makes the missing ones.
    Creating {
        complete: u32,
    },
    /// Deleted, but its directories may still be there: the next open
    /// finishes the deletion.
    Deleting,
}

impl TopicState {
    /// How many of the topic's first partitions must have a directory.
    pub(crate) fn complete(self, partitions: u32) -> u32 {
        match self {
            TopicState::Live => partitions,
            TopicState::Creating { complete } => complete.min(partitions),
            TopicState::Deleting => 0,
        }
    }
}

/// One line of `seglog.topics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicEntry {
    pub(crate) name: String,
    pub(crate) partitions: u32,
    pub(crate) state: TopicState,
    pub(crate) overrides: Vec<(String, String)>,
}

pub(crate) fn topics_path(root: &Path) -> PathBuf {
    root.join(TOPICS_FILE)
}

/// Reads `seglog.topics`; `None` if there is none.
pub(crate) fn read_topics(fs: &dyn Fs, root: &Path) -> Result<Option<Vec<TopicEntry>>> {
    let path = topics_path(root);
    let Some(bytes) = fsio::read_file_if_exists(fs, &path)? else {
        return Ok(None);
    };
    parse_topics(&path, &bytes).map(Some)
}

/// Replaces `seglog.topics` atomically.
pub(crate) fn write_topics(fs: &dyn Fs, root: &Path, topics: &[TopicEntry]) -> Result<()> {
    fsio::write_file_atomically(fs, &topics_path(root), render_topics(topics).as_bytes())
}

fn render_topics(topics: &[TopicEntry]) -> String {
    let mut out = format!("{HEADER}\n{}\n", topics.len());
    for t in topics {
        let state = match t.state {
            TopicState::Live => "live".to_string(),
            TopicState::Creating { complete } => format!("creating {complete}"),
            TopicState::Deleting => "deleting".to_string(),
        };
        out.push_str(&format!("{} {} {state}", t.name, t.partitions));
        for (k, v) in &t.overrides {
            out.push_str(&format!(" {k}={v}"));
        }
        out.push('\n');
    }
    out
}

pub(crate) fn parse_topics(path: &Path, bytes: &[u8]) -> Result<Vec<TopicEntry>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Error::corrupt(path, e.valid_up_to() as u64, "not UTF-8 text"))?;
    let end = text.len() as u64;
    let mut lines = text.split_inclusive('\n').scan(0u64, |at, line| {
        let start = *at;
        *at += line.len() as u64;
        Some((start, line.trim_end_matches(['\n', '\r'])))
    });
    match lines.next() {
        Some((_, HEADER)) => {}
        _ => {
            return Err(Error::corrupt(
                path,
                0,
                format!("the first line must be {HEADER:?}"),
            ))
        }
    }
    let (count_at, count) = lines
        .next()
        .ok_or_else(|| Error::corrupt(path, end, "missing topic count"))?;
    let count: usize = count
        .parse()
        .map_err(|_| Error::corrupt(path, count_at, format!("bad topic count {count:?}")))?;
    let mut topics: Vec<TopicEntry> = Vec::new();
    for (pos, line) in lines {
        if line.is_empty() {
            continue;
        }
        let bad = |reason: String| Error::corrupt(path, pos, reason);
        let mut fields = line.split(' ');
        let (Some(name), Some(partitions), Some(state)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(bad(format!(
                "a topic line needs a name, a partition count and a state: {line:?}"
            )));
        };
        crate::topic::validate_topic_name(name).map_err(|e| bad(e.to_string()))?;
        let partitions: u32 = partitions
            .parse()
            .ok()
            .filter(|p| (1..=super::MAX_PARTITIONS).contains(p))
            .ok_or_else(|| bad(format!("bad partition count {partitions:?} for {name}")))?;
        let state = match state {
            "live" => TopicState::Live,
            "deleting" => TopicState::Deleting,
            "creating" => {
                let complete = fields.next().unwrap_or("");
                let complete: u32 = complete
                    .parse()
                    .ok()
                    .filter(|c| *c < partitions)
                    .ok_or_else(|| {
                        bad(format!(
                            "bad count {complete:?} of partitions made before the creation of {name}: \
                             it must be below its {partitions} partitions"
                        ))
                    })?;
                TopicState::Creating { complete }
            }
            other => return Err(bad(format!("unknown topic state {other:?} for {name}"))),
        };
        let mut overrides = Vec::new();
        for kv in fields {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad(format!("bad config override {kv:?} for {name}")))?;
            overrides.push((k.to_string(), v.to_string()));
        }
        if topics.iter().any(|t| t.name == name) {
            return Err(bad(format!("topic {name} is listed twice")));
        }
        topics.push(TopicEntry {
            name: name.to_string(),
            partitions,
            state,
            overrides,
        });
    }
    if topics.len() != count {
        return Err(Error::corrupt(
            path,
            count_at,
            format!("the file says {count} topics but lists {}", topics.len()),
        ));
    }
    Ok(topics)
}

/// The clean-shutdown marker holds at most this many bytes.
pub(crate) const CLEAN_SHUTDOWN_MAX_LEN: u64 = 4096;

/// Checks the clean-shutdown marker's bytes: empty as seglog writes it, or
/// a JSON object with a `version` as Kafka writes it.
pub(crate) fn check_clean_marker(path: &Path, bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Error::corrupt(path, e.valid_up_to() as u64, "not UTF-8 text"))?;
    let json = text.trim();
    if json.starts_with('{') && json.ends_with('}') && json.contains("\"version\"") {
        return Ok(());
    }
    Err(Error::corrupt(
        path,
        0,
        "a clean-shutdown marker is empty, or Kafka's JSON object with a \"version\"",
    ))
}

/// One entry of a root checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub(crate) topic: String,
    pub(crate) partition: u32,
    pub(crate) offset: u64,
}

/// Reads a root checkpoint file (`topic partition offset` lines); `None`
/// if there is none. A topic name Kafka would not accept, a partition or
/// offset that is not a number, or a partition named twice is
/// [`Error::Corrupt`] at the line's byte position.
pub(crate) fn read_offsets(fs: &dyn Fs, path: &Path) -> Result<Option<Vec<OffsetEntry>>> {
    let Some(entries) = checkpoint::read_positioned(fs, path, 3)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(entries.len());
    let mut seen = HashSet::with_capacity(entries.len());
    for (at, e) in entries {
        let line = e.join(" ");
        let bad = |why: &str| Error::corrupt(path, at, format!("bad entry {line:?}: {why}"));
        crate::topic::validate_topic_name(&e[0]).map_err(|_| bad("not a topic name"))?;
        let partition = e[1]
            .parse()
            .map_err(|_| bad("the partition is not a number"))?;
        let offset = e[2]
            .parse()
            .map_err(|_| bad("the offset is not a number"))?;
        if !seen.insert((e[0].clone(), partition)) {
            return Err(bad("the partition is named twice"));
        }
        out.push(OffsetEntry {
            topic: e[0].clone(),
            partition,
            offset,
        });
    }
    Ok(Some(out))
}

/// Replaces a root checkpoint file atomically.
pub(crate) fn write_offsets(fs: &dyn Fs, path: &Path, entries: &[OffsetEntry]) -> Result<()> {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.topic.clone(),
                e.partition.to_string(),
                e.offset.to_string(),
            ]
        })
        .collect();
    checkpoint::write(fs, path, &rows)
}

/// A unique name for a partition directory on its way out, as Kafka names
/// them: `<topic>-<partition>.<unique>-delete`, the topic cut short so the
/// name stays within the 255 bytes a file name may have (topic names are
/// ASCII, so any cut is a character boundary).
pub(crate) fn delete_dir_name(topic: &str, partition: u32, unique: u64) -> String {
    let suffix = format!("-{partition}.{unique:016x}{DELETE_SUFFIX}");
    let keep = topic.len().min(255 - suffix.len());
    format!("{}{suffix}", &topic[..keep])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemFs;

    fn entry(name: &str, partitions: u32, state: TopicState, kv: &[(&str, &str)]) -> TopicEntry {
        TopicEntry {
            name: name.into(),
            partitions,
            state,
            overrides: kv
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn topics_round_trip() {
        let fs = MemFs::new();
        let root = Path::new("/store");
        fs.create_dir_all(root).unwrap();
        assert_eq!(read_topics(&fs, root).unwrap(), None);
        let topics = vec![
            entry(
                "orders",
                3,
                TopicState::Live,
                &[("retention.ms", "1000"), ("segment.bytes", "4096")],
            ),
            entry("audit.v2", 1, TopicState::Deleting, &[]),
            entry(
                "payments",
                4,
                TopicState::Creating { complete: 2 },
                &[("retention.ms", "-1")],
            ),
        ];
        write_topics(&fs, root, &topics).unwrap();
        let text = fsio::read_file_if_exists(&fs, &topics_path(root))
            .unwrap()
            .unwrap();
        assert!(text.ends_with(b"\npayments 4 creating 2 retention.ms=-1\n"));
        assert_eq!(read_topics(&fs, root).unwrap(), Some(topics));
        write_topics(&fs, root, &[]).unwrap();
        assert_eq!(read_topics(&fs, root).unwrap(), Some(vec![]));
    }

    #[test]
    fn damaged_topics_files_are_errors_with_a_position() {
        let path = Path::new("/store/seglog.topics");
        let cases: &[(&str, u64)] = &[
            ("", 0),
            ("seglog-topics 2\n0\n", 0),
            ("seglog-topics 1\n", 16),
            ("seglog-topics 1\nx\n", 16),
            ("seglog-topics 1\n1\norders\n", 18),
            ("seglog-topics 1\n1\n../x 1 live\n", 18),
            ("seglog-topics 1\n1\norders 0 live\n", 18),
            ("seglog-topics 1\n1\norders 1 gone\n", 18),
            ("seglog-topics 1\n1\norders 1 live retention.ms\n", 18),
            ("seglog-topics 1\n2\na 1 live\na 1 live\n", 27),
            ("seglog-topics 1\n2\na 1 live\n", 16),
            ("seglog-topics 1\n1\norders 3 creating\n", 18),
            ("seglog-topics 1\n1\norders 3 creating 3\n", 18),
            ("seglog-topics 1\n1\norders 3 creating two\n", 18),
        ];
        for (text, position) in cases {
            match parse_topics(path, text.as_bytes()) {
                Err(Error::Corrupt { position: p, .. }) => assert_eq!(p, *position, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert!(parse_topics(path, &[0xff, 0xfe]).is_err());
    }

    #[test]
    fn offsets_round_trip_in_kafkas_format() {
        let fs = MemFs::new();
        let root = Path::new("/store");
        fs.create_dir_all(root).unwrap();
        let path = root.join(RECOVERY_POINT_FILE);
        let entries = vec![
            OffsetEntry {
                topic: "orders".into(),
                partition: 0,
                offset: 42,
            },
            OffsetEntry {
                topic: "orders".into(),
                partition: 1,
                offset: 7,
            },
        ];
        write_offsets(&fs, &path, &entries).unwrap();
        let text = fsio::read_file_if_exists(&fs, &path).unwrap().unwrap();
        assert_eq!(text, b"0\n2\norders 0 42\norders 1 7\n");
        assert_eq!(read_offsets(&fs, &path).unwrap(), Some(entries));
        for (text, position) in [
            (&b"0\n1\norders x 1\n"[..], 4),
            (b"0\n1\norders 0 -1\n", 4),
            (b"0\n2\norders 0 1\n../x 0 1\n", 15),
            (b"0\n3\norders 0 1\norders 1 1\norders 0 2\n", 26),
        ] {
            fsio::write_file_atomically(&fs, &path, text).unwrap();
            match read_offsets(&fs, &path) {
                Err(Error::Corrupt { position: p, .. }) => assert_eq!(p, position, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn clean_shutdown_markers_of_seglog_and_kafka() {
        let path = Path::new("/store/.kafka_cleanshutdown");
        check_clean_marker(path, b"").unwrap();
        check_clean_marker(path, br#"{"version":0,"brokerEpoch":42}"#).unwrap();
        check_clean_marker(path, b"{\"version\": 0}\n").unwrap();
        for bad in [&b"x"[..], b"{}", b"\xff", b"{\"version\":0"] {
            assert!(
                matches!(check_clean_marker(path, bad), Err(Error::Corrupt { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn delete_dir_names_are_not_partition_dirs() {
        let name = delete_dir_name("orders", 2, 0x1a2b);
        assert_eq!(name, "orders-2.0000000000001a2b-delete");
        assert_eq!(crate::topic::parse_partition_dir_name(&name), None);
        // The longest topic name, the largest partition: still a file name.
        let long = "t".repeat(249);
        let name = delete_dir_name(&long, u32::MAX, u64::MAX);
        assert_eq!(name.len(), 255);
        assert!(name.ends_with("-4294967295.ffffffffffffffff-delete"));
    }

    proptest::proptest! {
        /// Damaged metadata files are errors, never panics: random bytes,
        /// and valid files with bytes changed, cut short or appended to.
        #[test]
        fn damaged_metadata_files_never_panic(
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            at in 0usize..400,
            cut in 0usize..400,
        ) {
            let path = Path::new("/store/seglog.topics");
            let _ = parse_topics(path, &noise);
            let valid = b"seglog-topics 1\n2\norders 3 live retention.ms=1000\nold 1 deleting\n";
            let mut bytes = valid.to_vec();
            if at < bytes.len() {
                bytes[at] = noise.first().copied().unwrap_or(b'9');
            }
            bytes.truncate(cut.max(1));
            bytes.extend_from_slice(&noise);
            let _ = parse_topics(path, &bytes);

            let fs = MemFs::new();
            fs.create_dir_all(Path::new("/store")).unwrap();
            let cp = Path::new("/store/log-start-offset-checkpoint");
            fs.write(cp, &noise).unwrap();
            let _ = read_offsets(&fs, cp);
            let mut text = b"0\n2\norders 0 5\norders 1 7\n".to_vec();
            if at < text.len() {
                text[at] = noise.first().copied().unwrap_or(b' ');
            }
            text.truncate(cut.max(1));
            fs.write(cp, &text).unwrap();
            let _ = read_offsets(&fs, cp);
        }
    }
}

//! The store's committed offsets: commit and read them per consumer group
//! (Kafka's OffsetCommit and OffsetFetch), stored in `__consumer_offsets`.

use super::{LogStore, StoreInner, TopicPartition};
use crate::error::{Error, GroupErrorKind, Result};
use crate::offsets::OffsetAndMetadata;

impl LogStore {
    /// Commits `offsets` for `group`, as a consumer outside group
    /// management (manual assignment) does: each is the next offset the
    /// group will consume from its partition. All are written as one batch
    /// to the group's partition of `__consumer_offsets` (created on first
    /// use), durable as [`GroupsConfig::commit_durability`] says (fsynced
    /// by default) when this returns.
    ///
    /// [`GroupsConfig::commit_durability`]: crate::offsets::GroupsConfig::commit_durability
    ///
    /// ```
    /// use seglog::{offsets::OffsetAndMetadata, LogStore, StoreConfig, TopicPartition};
    /// let dir = tempfile::tempdir()?;
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("events", 2, &[])?;
    /// let tp = TopicPartition::new("events", 1);
    /// store.commit_offsets("billing", &[(tp.clone(), OffsetAndMetadata::new(42))])?;
    /// let committed = store.committed_offsets("billing", &[tp])?;
    /// assert_eq!(committed[0].as_ref().map(|c| c.offset), Some(42));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Group`] with [`GroupErrorKind::InvalidGroupId`] for an
    /// empty group id (or one over 32,767 bytes) and
    /// [`GroupErrorKind::OffsetMetadataTooLarge`] for metadata over
    /// `offset.metadata.max.bytes`; [`Error::UnknownTopic`] or
    /// [`Error::UnknownPartition`] for a partition the store does not
    /// have; [`Error::ReadOnly`], [`Error::Io`], [`Error::Closed`]. Nothing
    /// is committed on an error.
    pub fn commit_offsets(
        &self,
        group: &str,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<()> {
        self.inner.check_writable()?;
        check_group_id(group)?;
        for (tp, _) in offsets {
            self.inner.topic(&tp.topic)?.log(tp.partition)?;
        }
        self.inner.offsets.commit(&self.inner, group, offsets)
    }

    /// The offsets `group` has committed for `partitions`, in the same
    /// order: `None` where it has committed nothing.
    ///
    /// # Errors
    /// [`Error::Group`] with [`GroupErrorKind::InvalidGroupId`] for an
    /// empty group id; [`Error::Closed`].
    pub fn committed_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<Option<OffsetAndMetadata>>> {
        self.inner.check_open()?;
        check_group_id(group)?;
        Ok(partitions
            .iter()
            .map(|tp| self.inner.offsets.committed(group, tp))
            .collect())
    }
}

impl StoreInner {
    /// Deletes every group's committed offsets of `topic` (which no
    /// longer exists).
    pub(crate) fn remove_offsets_of_topic(&self, topic: &str) -> Result<()> {
        let mut first = None;
        for (group, partitions) in self.offsets.offsets_of_topic(topic) {
            if let Err(e) = self.offsets.delete_offsets(self, &group, &partitions) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// A group id Kafka accepts: not empty, and short enough for its `int16`
/// string length.
pub(crate) fn check_group_id(group: &str) -> Result<()> {
    if group.is_empty() || group.len() > i16::MAX as usize {
        return Err(Error::group(group, GroupErrorKind::InvalidGroupId));
    }
    Ok(())
}

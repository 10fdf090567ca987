//! What `__consumer_offsets` says, replayed: every group's committed
//! offsets and stored metadata. A pure fold over the topic's records
//! (latest record per key wins, a tombstone deletes), used to recover at
//! open and kept up to date by every write.

use std::collections::{BTreeMap, HashMap};

use super::records::{
    GroupMetadataValue, OffsetCommitKey, OffsetCommitValue, OffsetsKey, OffsetsRecordError,
};
use crate::store::TopicPartition;

/// A committed offset as a consumer commits it and reads it back (Kafka's
/// `OffsetAndMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The next offset to consume: one past the last record processed.
    pub offset: u64,
    /// The leader epoch of the last record processed, if known (Kafka uses
    /// it to detect a truncated log).
    pub leader_epoch: Option<i32>,
    /// Free-form metadata stored with the offset (at most
    /// `offset.metadata.max.bytes`).
    pub metadata: String,
}

impl OffsetAndMetadata {
    /// An offset with no leader epoch and empty metadata.
    pub fn new(offset: u64) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: String::new(),
        }
    }

    /// The same offset with `metadata`.
    pub fn with_metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = metadata.into();
        self
    }
}

/// A committed offset with what the store keeps beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Committed {
    pub(crate) value: OffsetAndMetadata,
    /// When it was committed (ms since the Unix epoch).
    pub(crate) commit_timestamp: i64,
    /// An explicit expiry time, from a version-1 value.
    pub(crate) expire_timestamp: Option<i64>,
}

impl Committed {
    pub(crate) fn to_value(&self) -> OffsetCommitValue {
        OffsetCommitValue {
            offset: i64::try_from(self.value.offset).unwrap_or(i64::MAX),
            leader_epoch: self.value.leader_epoch.unwrap_or(-1),
            metadata: self.value.metadata.clone(),
            commit_timestamp: self.commit_timestamp,
            expire_timestamp: self.expire_timestamp,
        }
    }

    fn from_value(value: OffsetCommitValue) -> Result<Self, OffsetsRecordError> {
        let offset = u64::try_from(value.offset).map_err(|_| OffsetsRecordError::Malformed {
            position: 2,
            reason: "negative committed offset",
        })?;
        Ok(Committed {
            value: OffsetAndMetadata {
                offset,
                leader_epoch: (value.leader_epoch >= 0).then_some(value.leader_epoch),
                metadata: value.metadata,
            },
            commit_timestamp: value.commit_timestamp,
            expire_timestamp: value.expire_timestamp,
        })
    }
}

/// One group's stored state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GroupRecords {
    pub(crate) offsets: BTreeMap<TopicPartition, Committed>,
    pub(crate) metadata: Option<GroupMetadataValue>,
}

impl GroupRecords {
    fn is_empty(&self) -> bool {
        self.offsets.is_empty() && self.metadata.is_none()
    }
}

/// Every group's stored state, by group id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OffsetsState {
    pub(crate) groups: HashMap<String, GroupRecords>,
}

impl OffsetsState {
    /// Applies one record of `__consumer_offsets`: its key's bytes and its
    /// value's (`None` for a tombstone).
    ///
    /// # Errors
    /// The key or value cannot be read; the state is unchanged.
    pub(crate) fn apply(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), OffsetsRecordError> {
        match OffsetsKey::decode(key)? {
            OffsetsKey::OffsetCommit(key) => {
                let tp = topic_partition(&key)?;
                match value {
                    Some(v) => {
                        let committed = Committed::from_value(OffsetCommitValue::decode(v)?)?;
                        self.put_offset(&key.group, tp, committed);
                    }
                    None => self.remove_offset(&key.group, &tp),
                }
            }
            OffsetsKey::GroupMetadata(group) => match value {
                Some(v) => {
                    let metadata = GroupMetadataValue::decode(v)?;
                    self.groups.entry(group).or_default().metadata = Some(metadata);
                }
                None => {
                    if let Some(g) = self.groups.get_mut(&group) {
                        g.metadata = None;
                        if g.is_empty() {
                            self.groups.remove(&group);
                        }
                    }
                }
            },
        }
        Ok(())
    }

    pub(crate) fn put_offset(&mut self, group: &str, tp: TopicPartition, committed: Committed) {
        self.groups
            .entry(group.to_string())
            .or_default()
            .offsets
            .insert(tp, committed);
    }

    pub(crate) fn remove_offset(&mut self, group: &str, tp: &TopicPartition) {
        if let Some(g) = self.groups.get_mut(group) {
            g.offsets.remove(tp);
            if g.is_empty() {
                self.groups.remove(group);
            }
        }
    }

    pub(crate) fn committed(&self, group: &str, tp: &TopicPartition) -> Option<&Committed> {
        self.groups.get(group)?.offsets.get(tp)
    }
}

fn topic_partition(key: &OffsetCommitKey) -> Result<TopicPartition, OffsetsRecordError> {
    let partition = u32::try_from(key.partition).map_err(|_| OffsetsRecordError::Malformed {
        position: 0,
        reason: "negative partition in an offset commit key",
    })?;
    Ok(TopicPartition::new(key.topic.clone(), partition))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(group: &str, topic: &str, partition: i32, offset: i64) -> (Vec<u8>, Vec<u8>) {
        let key = OffsetsKey::OffsetCommit(OffsetCommitKey {
            group: group.into(),
            topic: topic.into(),
            partition,
        });
        let value = OffsetCommitValue {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 10,
            expire_timestamp: None,
        };
        (key.encode(), value.encode())
    }

    #[test]
    fn the_latest_record_per_key_wins_and_tombstones_delete() {
        let mut state = OffsetsState::default();
        let (k, v1) = commit("g", "t", 0, 5);
        let (_, v2) = commit("g", "t", 0, 9);
        let (k1, v3) = commit("g", "t", 1, 3);
        state.apply(&k, Some(&v1)).unwrap();
        state.apply(&k, Some(&v2)).unwrap();
        state.apply(&k1, Some(&v3)).unwrap();
        let tp0 = TopicPartition::new("t", 0);
        let tp1 = TopicPartition::new("t", 1);
        assert_eq!(state.committed("g", &tp0).unwrap().value.offset, 9);
        assert_eq!(state.committed("g", &tp0).unwrap().value.leader_epoch, None);
        state.apply(&k, None).unwrap();
        assert!(state.committed("g", &tp0).is_none());
        assert_eq!(state.committed("g", &tp1).unwrap().value.offset, 3);
        state.apply(&k1, None).unwrap();
        assert!(state.groups.is_empty(), "a group with nothing left goes");
    }

    #[test]
    fn group_metadata_is_kept_until_its_tombstone() {
        let mut state = OffsetsState::default();
        let key = OffsetsKey::GroupMetadata("g".into()).encode();
        let value = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 4,
            protocol: None,
            leader: None,
            current_state_timestamp: 7,
            members: vec![],
        };
        state.apply(&key, Some(&value.encode())).unwrap();
        assert_eq!(state.groups["g"].metadata.as_ref(), Some(&value));
        state.apply(&key, None).unwrap();
        assert!(state.groups.is_empty());
    }

    #[test]
    fn bad_records_leave_the_state_unchanged() {
        let mut state = OffsetsState::default();
        let (k, v) = commit("g", "t", -1, 5);
        assert!(matches!(
            state.apply(&k, Some(&v)),
            Err(OffsetsRecordError::Malformed { .. })
        ));
        let (k, v) = commit("g", "t", 0, -5);
        assert!(matches!(
            state.apply(&k, Some(&v)),
            Err(OffsetsRecordError::Malformed { .. })
        ));
        assert_eq!(
            state.apply(&[0, 9, 0, 0], None),
            Err(OffsetsRecordError::UnknownKeyVersion(9))
        );
        assert!(state.groups.is_empty());
    }
}

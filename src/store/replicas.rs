//! Partitions of a store that the host replicates
//! ([`LogStore::replicate`]).
//!
//! A store opens no socket: it holds the local replica of each partition
//! and keeps Kafka's rules for it (see [`crate::replication`]). What
//! changes for a replicated partition: its consumers read below the high
//! watermark, retention and compaction stay below it, the store's
//! producers append to it as its leader with their
//! [`acks`](crate::ProducerConfig::acks), maintenance passes shrink its
//! ISR and checkpoint its high watermark in the root's
//! `replication-offset-checkpoint`, as does closing the store.

use std::sync::Arc;

use super::{LogStore, StoreInner, Topic, TopicPartition};
use crate::error::{Error, Result};
use crate::replication::{IsrListener, ReplicaId, ReplicatedPartition, ReplicationConfig};
use crate::segment::{lock, read_lock};

impl LogStore {
    /// Makes `topic`'s `partition` a replicated partition whose local
    /// replica has id `local`, and returns it; the host then gives it a
    /// role ([`ReplicatedPartition::become_leader`],
    /// [`ReplicatedPartition::become_follower`]). Its high watermark
    /// starts where the store last checkpointed it. Asked again for the
    /// same `local`, it returns the same partition (the other arguments
    /// are not applied again).
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::replication::{Acks, ReplicationConfig};
    /// use seglog::{LogStore, Record, StoreConfig};
    /// let dir = tempfile::tempdir()?;
    /// let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("orders", 1, &[])?;
    /// let replica = store.replicate("orders", 0, 1, ReplicationConfig::default(), None)?;
    /// replica.become_leader(0, &[1, 2], &[1, 2])?;
    /// replica.append(&[Record::new("a")], Acks::Leader)?;
    /// // Replica 2 has not fetched it: consumers do not see it yet.
    /// assert_eq!(store.partition("orders", 0)?.high_watermark(), 0);
    /// assert_eq!(store.partition("orders", 0)?.log_end_offset(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownTopic`], [`Error::UnknownPartition`];
    /// [`Error::InvalidConfig`] if the partition is already replicated
    /// with another local id, or for an invalid `config`;
    /// [`Error::ReadOnly`]; [`Error::StoreClosed`].
    pub fn replicate(
        &self,
        topic: &str,
        partition: u32,
        local: ReplicaId,
        config: ReplicationConfig,
        listener: Option<Arc<dyn IsrListener>>,
    ) -> Result<ReplicatedPartition> {
        self.inner.check_writable()?;
        let t = self.inner.topic(topic)?;
        let log = t.log(partition)?;
        let mut replicas = lock(&t.replicas);
        if let Some(existing) = replicas.get(&partition) {
            if existing.local_replica() != local {
                return Err(Error::config(
                    "local",
                    format!(
                        "{topic}-{partition} is replicated as replica {}, not {local}",
                        existing.local_replica()
                    ),
                ));
            }
            return Ok(existing.clone());
        }
        let replica = ReplicatedPartition::with_listener(log, local, config, listener)?;
        replicas.insert(partition, replica.clone());
        Ok(replica)
    }

    /// The replicated partition [`replicate`](Self::replicate) made of
    /// `topic`'s `partition`, if it did.
    ///
    /// # Errors
    /// [`Error::UnknownTopic`]; [`Error::StoreClosed`].
    pub fn replica(&self, topic: &str, partition: u32) -> Result<Option<ReplicatedPartition>> {
        self.inner.check_open()?;
        Ok(self.inner.topic(topic)?.replica(partition))
    }
}

impl Topic {
    /// The partition's replica, if the store replicates it.
    pub(crate) fn replica(&self, partition: u32) -> Option<ReplicatedPartition> {
        lock(&self.replicas).get(&partition).cloned()
    }
}

impl StoreInner {
    /// Every replicated partition of the store.
    fn replicated(&self) -> Vec<(TopicPartition, ReplicatedPartition)> {
        let topics: Vec<Arc<Topic>> = read_lock(&self.topics).values().cloned().collect();
        topics
            .iter()
            .flat_map(|t| {
                lock(&t.replicas)
                    .iter()
                    .map(|(p, r)| (TopicPartition::new(t.name.clone(), *p), r.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Shrinks the ISR of every partition this store leads (Kafka's
    /// periodic `maybeShrinkIsr`) and checkpoints every replicated
    /// partition's high watermark. Returns the failures.
    pub(crate) fn maintain_replicas(&self, shrink: bool) -> Vec<(TopicPartition, Error)> {
        let mut errors = Vec::new();
        for (tp, replica) in self.replicated() {
            let shrunk = if shrink {
                replica.maybe_shrink_isr().map(|_| ())
            } else {
                Ok(())
            };
            if let Err(e) = shrunk.and_then(|()| replica.checkpoint_high_watermark()) {
                errors.push((tp, e));
            }
        }
        errors
    }
}

//! Where the coordinator stores a group's metadata ([`GroupStorage`]), and
//! the order in which its writes reach it.
//!
//! The coordinator decides a write while it holds the group's lock and
//! makes it after letting go, so that a slow write (an fsync) holds up no
//! other request of the group. Two writes of one group may then race to
//! the storage. Each write is a whole snapshot of the group (the latest
//! wins, as in the compacted topic), so the [`WriteGate`] numbers writes
//! when they are decided, makes the writes of one group one at a time, and
//! skips a write that a later-decided one of the same group has already
//! replaced: the storage never goes back to an older snapshot.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::offsets::records::GroupMetadataValue;
use crate::segment::lock;

/// Durable storage of group metadata, the records under a group's key in
/// `__consumer_offsets`. The coordinator calls it without holding any of
/// its locks, but one call at a time per group; an implementation must not
/// call back into the coordinator.
pub trait GroupStorage: Send + Sync {
    /// Stores the group's metadata, replacing what was stored. Called when
    /// the leader hands in a generation's assignment (a failure fails that
    /// SyncGroup and the group rebalances) and when the group becomes
    /// empty.
    ///
    /// # Errors
    /// Whatever stopped the write; the coordinator hands it to the
    /// requests that waited on the write.
    fn store_group(&self, group: &str, value: &GroupMetadataValue) -> Result<()>;

    /// Deletes the group's metadata (writes its tombstone).
    ///
    /// # Errors
    /// Whatever stopped the write.
    fn delete_group(&self, group: &str) -> Result<()>;
}

/// A storage that keeps nothing, for a coordinator whose groups need not
/// survive the process.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStorage;

impl GroupStorage for NoStorage {
    fn store_group(&self, _group: &str, _value: &GroupMetadataValue) -> Result<()> {
        Ok(())
    }

    fn delete_group(&self, _group: &str) -> Result<()> {
        Ok(())
    }
}

/// A write's place in the order of its group's writes.
#[derive(Debug)]
pub(super) struct Reservation {
    group: String,
    seq: u64,
}

/// Orders the writes of each group; see the module docs.
#[derive(Debug, Default)]
pub(super) struct WriteGate {
    next_seq: AtomicU64,
    groups: Mutex<HashMap<String, GateEntry>>,
}

#[derive(Debug, Default)]
struct GateEntry {
    /// Held while one of the group's writes is made.
    writing: Arc<Mutex<()>>,
    /// The latest reservation whose write succeeded.
    written: u64,
    /// Reservations not yet written or skipped.
    in_flight: usize,
}

impl WriteGate {
    /// Takes the next place for a write of `group`. Call it while holding
    /// the group's lock, so that places follow the group's changes.
    pub(super) fn reserve(&self, group: &str) -> Reservation {
        let mut groups = lock(&self.groups);
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed) + 1;
        groups.entry(group.to_string()).or_default().in_flight += 1;
        Reservation {
            group: group.to_string(),
            seq,
        }
    }

    /// Makes the write, after the group's earlier writes, unless a later
    /// one has already been made (then it is skipped and counts as done).
    pub(super) fn write(
        &self,
        reservation: Reservation,
        write: impl FnOnce(&str) -> Result<()>,
    ) -> Result<()> {
        let writing = match lock(&self.groups).get(&reservation.group) {
            Some(entry) => entry.writing.clone(),
            None => Arc::default(),
        };
        let _one_at_a_time = lock(&writing);
        let superseded = lock(&self.groups)
            .get(&reservation.group)
            .is_some_and(|entry| entry.written > reservation.seq);
        let result = if superseded {
            Ok(())
        } else {
            write(&reservation.group)
        };
        let mut groups = lock(&self.groups);
        if let Some(entry) = groups.get_mut(&reservation.group) {
            if !superseded && result.is_ok() {
                entry.written = entry.written.max(reservation.seq);
            }
            entry.in_flight = entry.in_flight.saturating_sub(1);
            if entry.in_flight == 0 {
                groups.remove(&reservation.group);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_reserved_before_a_written_one_is_skipped() {
        let gate = WriteGate::default();
        let older = gate.reserve("g");
        let newer = gate.reserve("g");
        let other = gate.reserve("h");
        let made = Mutex::new(Vec::new());
        let record = |name: &'static str| {
            let made = &made;
            move |group: &str| {
                lock(made).push((name, group.to_string()));
                Ok(())
            }
        };
        gate.write(newer, record("newer")).unwrap();
        gate.write(older, record("older")).unwrap();
        gate.write(other, record("other")).unwrap();
        assert_eq!(
            *lock(&made),
            [("newer", "g".to_string()), ("other", "h".to_string())]
        );
        // Nothing is left behind once every reservation is settled.
        assert!(lock(&gate.groups).is_empty());
    }

    #[test]
    fn a_failed_write_does_not_hide_an_older_one() {
        let gate = WriteGate::default();
        let older = gate.reserve("g");
        let newer = gate.reserve("g");
        let failed = gate.write(newer, |_| Err(crate::Error::Closed));
        assert!(matches!(failed, Err(crate::Error::Closed)));
        let mut made = false;
        gate.write(older, |_| {
            made = true;
            Ok(())
        })
        .unwrap();
        assert!(made);
    }
}

//! Bounds on what closed segments keep resident: open `.log` handles,
//! loaded index entries, and the bytes of point-read record tables.
//!
//! A store with thousands of partitions has tens of thousands of segments;
//! keeping each one's file open or its indexes mapped would run into the
//! process's open-file limit and its mapping limit. Instead each segment's
//! `.log` handle and index entries are *slots* that load on first use and
//! join a [`ResidentSet`] with a fixed capacity. When the set is over
//! capacity it releases the least recently used slots, by the CLOCK
//! algorithm: every use sets a slot's referenced bit without taking any
//! lock; a sweep gives referenced slots a second chance and releases the
//! first one that has not been used since the last pass. A released slot
//! loads again on its next use.
//!
//! Whoever holds a handle taken from a slot keeps it: releasing a slot only
//! drops the set's reference, so a read in progress or a fetch result is
//! never cut off, and the file closes when the last holder lets go.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::lock;

/// Something a [`ResidentSet`] can release.
pub(crate) trait Resident: Send + Sync {
    /// Clears the referenced bit and says whether it was set.
    fn take_referenced(&self) -> bool;
    /// Drops what the slot holds. `false` if it cannot be released now
    /// (in use by a writer, or pinned); the sweep then moves on.
    fn release(&self) -> bool;
}

/// A bounded set of loaded slots. See the module docs.
pub(crate) struct ResidentSet {
    capacity: usize,
    /// What `capacity` counts.
    unit: Unit,
    /// Bytes charged and not refunded, for a set of [`Unit::Bytes`].
    bytes: AtomicUsize,
    ring: Mutex<Ring>,
}

/// What a [`ResidentSet`]'s capacity counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Slots,
    Bytes,
}

struct Ring {
    members: Vec<Weak<dyn Resident>>,
    hand: usize,
}

impl std::fmt::Debug for ResidentSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResidentSet")
            .field("capacity", &self.capacity)
            .field("resident", &self.len())
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl ResidentSet {
    /// A set that keeps at most `capacity` slots loaded (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self::with_unit(capacity, Unit::Slots)
    }

    /// A set that keeps at most `capacity` bytes charged (see
    /// [`charge`](Self::charge)); its slots release what they hold and
    /// [`refund`](Self::refund) it.
    pub(crate) fn of_bytes(capacity: usize) -> Self {
        Self::with_unit(capacity, Unit::Bytes)
    }

    fn with_unit(capacity: usize, unit: Unit) -> Self {
        ResidentSet {
            capacity: capacity.max(1),
            unit,
            bytes: AtomicUsize::new(0),
            ring: Mutex::new(Ring {
                members: Vec::new(),
                hand: 0,
            }),
        }
    }

    /// The most this set keeps: slots, or bytes for a set of bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes charged and not refunded.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    /// Counts `bytes` a slot of this set now holds. The slot then calls
    /// [`admit`](Self::admit) (if it is not a member yet) or
    /// [`trim`](Self::trim), outside its own locks.
    pub(crate) fn charge(&self, bytes: usize) {
        self.bytes.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Stops counting `bytes` a slot dropped (each byte refunded once,
    /// after it was charged). Takes no lock: a slot may refund as it is
    /// dropped, even inside a sweep.
    pub(crate) fn refund(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Releases slots while the set is over capacity.
    pub(crate) fn trim(&self) {
        if self.over(0) {
            let mut ring = lock(&self.ring);
            self.sweep(&mut ring);
        }
    }

    fn over(&self, members: usize) -> bool {
        match self.unit {
            Unit::Slots => members > self.capacity,
            Unit::Bytes => self.bytes() > self.capacity,
        }
    }

    /// Slots currently counted as loaded.
    pub(crate) fn len(&self) -> usize {
        lock(&self.ring).members.len()
    }

    /// Adds a slot that has just loaded, releasing others if the set is
    /// over capacity. The caller must not hold any lock a slot's
    /// [`Resident::release`] takes.
    pub(crate) fn admit(&self, member: Weak<dyn Resident>) {
        let mut ring = lock(&self.ring);
        ring.members.push(member);
        if self.over(ring.members.len()) {
            self.sweep(&mut ring);
        }
    }

    fn sweep(&self, ring: &mut Ring) {
        // Two full turns give every referenced slot its second chance; what
        // is still busy after that stays (the set overshoots briefly rather
        // than waiting for a reader).
        let mut steps = ring.members.len() * 2 + 1;
        while self.over(ring.members.len()) && steps > 0 {
            steps -= 1;
            if ring.hand >= ring.members.len() {
                ring.hand = 0;
            }
            let hand = ring.hand;
            match ring.members[hand].upgrade() {
                // The segment is gone; its slot went with it.
                None => {
                    ring.members.swap_remove(hand);
                }
                Some(m) => {
                    if !m.take_referenced() && m.release() {
                        ring.members.swap_remove(hand);
                    } else {
                        ring.hand += 1;
                    }
                }
            }
        }
    }
}

/// Bytes of point-read record tables a store (or a log opened on its own)
/// keeps at most: 32 MiB, the positions of about eight million records.
pub(crate) const DEFAULT_RECORD_TABLE_BYTES: usize = 32 << 20;

/// The shared bounds of every segment of a store (or of one log opened on
/// its own).
#[derive(Debug)]
pub(crate) struct Resources {
    /// Open `.log` handles.
    pub(crate) open_files: ResidentSet,
    /// Segments with their index entries loaded.
    pub(crate) loaded_indexes: ResidentSet,
    /// Bytes of point-read record tables (see [`point`](super::point)).
    pub(crate) record_tables: ResidentSet,
}

impl Resources {
    pub(crate) fn new(max_open_files: usize, max_loaded_indexes: usize) -> Arc<Self> {
        Self::with_record_table_bytes(
            max_open_files,
            max_loaded_indexes,
            DEFAULT_RECORD_TABLE_BYTES,
        )
    }

    /// [`new`](Self::new) with another budget for record tables.
    pub(crate) fn with_record_table_bytes(
        max_open_files: usize,
        max_loaded_indexes: usize,
        record_table_bytes: usize,
    ) -> Arc<Self> {
        Arc::new(Resources {
            open_files: ResidentSet::new(max_open_files),
            loaded_indexes: ResidentSet::new(max_loaded_indexes),
            record_tables: ResidentSet::of_bytes(record_table_bytes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Default)]
    struct Slot {
        loaded: AtomicBool,
        referenced: AtomicBool,
        busy: AtomicBool,
    }

    impl Resident for Slot {
        fn take_referenced(&self) -> bool {
            self.referenced.swap(false, Ordering::AcqRel)
        }
        fn release(&self) -> bool {
            if self.busy.load(Ordering::Acquire) {
                return false;
            }
            self.loaded.store(false, Ordering::Release);
            true
        }
    }

    fn load(set: &ResidentSet, slot: &Arc<Slot>) {
        slot.loaded.store(true, Ordering::Release);
        slot.referenced.store(true, Ordering::Release);
        let weak: Weak<dyn Resident> = Arc::downgrade(&(slot.clone() as Arc<dyn Resident>));
        set.admit(weak);
    }

    #[test]
    fn never_holds_more_than_capacity_of_idle_slots() {
        let set = ResidentSet::new(3);
        let slots: Vec<Arc<Slot>> = (0..10).map(|_| Arc::new(Slot::default())).collect();
        for s in &slots {
            load(&set, s);
            assert!(set.len() <= 3);
        }
        let loaded = slots
            .iter()
            .filter(|s| s.loaded.load(Ordering::Acquire))
            .count();
        assert_eq!(loaded, 3);
        // The most recent one is always kept.
        assert!(slots[9].loaded.load(Ordering::Acquire));
    }

    #[test]
    fn a_recently_used_slot_survives_a_sweep() {
        let set = ResidentSet::new(2);
        let a = Arc::new(Slot::default());
        let b = Arc::new(Slot::default());
        let c = Arc::new(Slot::default());
        load(&set, &a);
        load(&set, &b);
        // Every bit is cleared by the first sweep, which then releases `a`.
        load(&set, &c);
        assert!(!a.loaded.load(Ordering::Acquire));
        // `b` is used again; `c` is not: the next sweep takes `c`.
        b.referenced.store(true, Ordering::Release);
        let d = Arc::new(Slot::default());
        load(&set, &d);
        assert!(b.loaded.load(Ordering::Acquire));
        assert!(!c.loaded.load(Ordering::Acquire));
        assert!(d.loaded.load(Ordering::Acquire));
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn busy_slots_are_skipped_and_dead_ones_dropped() {
        let set = ResidentSet::new(1);
        let busy = Arc::new(Slot::default());
        busy.busy.store(true, Ordering::Release);
        load(&set, &busy);
        let gone = Arc::new(Slot::default());
        load(&set, &gone);
        drop(gone);
        let last = Arc::new(Slot::default());
        load(&set, &last);
        assert!(busy.loaded.load(Ordering::Acquire), "busy slot kept");
        assert!(set.len() <= 2);
    }
}

//! The cleaner's offset map: key -> latest offset, in a fixed amount of
//! memory (Kafka's `SkimpyOffsetMap`).
//!
//! Each entry is a 16-byte hash of the key and the 8-byte offset, 24
//! bytes, in an open-addressing table laid out in one buffer of the
//! configured size: `slots = memory / 24`. Probe `i` reads bytes `[i,
//! i + 4)` of the hash as a big-endian integer for `i <= 12`, then the last
//! window plus `i - 12` (linear probing), modulo the number of slots, as
//! Kafka does. An all-zero slot is empty. Entries are never removed;
//! putting a key already present overwrites its offset.
//!
//! The map holds whatever keys it is given in that buffer and nothing
//! else: its memory does not grow with the number of distinct keys. The
//! cleaner stops filling it at `slots * load_factor` entries
//! ([`OffsetMap::is_full`]) and cleans what it mapped (a partial round).
//!
//! Kafka hashes keys with MD5. Here the hash is two SipHash-1-3 digests
//! under keys drawn at random for each map, so that keys cannot be chosen
//! to collide (two keys with one hash would make one of them lose its
//! latest record); for the same memory the map holds the same number of
//! entries as Kafka's.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Bytes of one entry: a 16-byte key hash and an 8-byte offset.
pub const ENTRY_BYTES: usize = 24;
const HASH_BYTES: usize = 16;

/// A fixed-size map from a key (by its hash) to the latest offset seen
/// for it. See the module docs.
pub struct OffsetMap {
    table: Vec<u8>,
    slots: usize,
    entries: usize,
    max_entries: usize,
    latest_offset: Option<u64>,
    hashers: (RandomState, RandomState),
    lookups: u64,
    probes: u64,
}

impl std::fmt::Debug for OffsetMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsetMap")
            .field("slots", &self.slots)
            .field("entries", &self.entries)
            .field("max_entries", &self.max_entries)
            .field("latest_offset", &self.latest_offset)
            .finish()
    }
}

impl OffsetMap {
    /// A map in `memory_bytes` of memory (at least one entry's worth),
    /// filled up to `load_factor` of its slots (in `(0, 1]`; values
    /// outside are clamped, and at least one entry is always allowed).
    pub fn new(memory_bytes: usize, load_factor: f64) -> Self {
        let slots = (memory_bytes / ENTRY_BYTES).max(1);
        let factor = if load_factor.is_finite() {
            load_factor.clamp(0.0, 1.0)
        } else {
            1.0
        };
        let max_entries = ((slots as f64 * factor) as usize).clamp(1, slots);
        OffsetMap {
            // Zeroed memory from the allocator: pages are touched only as
            // entries land in them.
            table: vec![0u8; slots * ENTRY_BYTES],
            slots,
            entries: 0,
            max_entries,
            latest_offset: None,
            hashers: (RandomState::new(), RandomState::new()),
            lookups: 0,
            probes: 0,
        }
    }

    /// Number of slots in the table.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Bytes of memory the table takes (`slots * 24`), whatever the number
    /// of keys put into it.
    pub fn memory_bytes(&self) -> usize {
        self.table.len()
    }

    /// Distinct keys in the map.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether no key was put.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The most entries the cleaner puts in the map (`slots *
    /// load_factor`).
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Whether the map holds [`max_entries`](Self::max_entries) keys: the
    /// cleaner stops mapping there.
    pub fn is_full(&self) -> bool {
        self.entries >= self.max_entries
    }

    /// The last offset the map covers, if any: every keyed record up to it
    /// (from where mapping started) is in the map.
    pub fn latest_offset(&self) -> Option<u64> {
        self.latest_offset
    }

    /// Moves [`latest_offset`](Self::latest_offset) up to `offset` (never
    /// down).
    pub fn update_latest_offset(&mut self, offset: u64) {
        self.latest_offset = Some(self.latest_offset.map_or(offset, |l| l.max(offset)));
    }

    /// Share of probes that landed on another key's slot (Kafka's
    /// `collisionRate`: extra probes over all probes).
    pub fn collision_rate(&self) -> f64 {
        if self.probes == 0 {
            0.0
        } else {
            (self.probes - self.lookups) as f64 / self.probes as f64
        }
    }

    /// Forgets every entry, keeping the memory.
    pub fn clear(&mut self) {
        if self.entries > 0 {
            self.table.fill(0);
        }
        self.entries = 0;
        self.latest_offset = None;
        self.lookups = 0;
        self.probes = 0;
    }

    fn hash(&self, key: &[u8]) -> [u8; HASH_BYTES] {
        let mut a = self.hashers.0.build_hasher();
        a.write(key);
        let mut b = self.hashers.1.build_hasher();
        b.write(key);
        let mut h = [0u8; HASH_BYTES];
        h[..8].copy_from_slice(&a.finish().to_be_bytes());
        h[8..].copy_from_slice(&b.finish().to_be_bytes());
        h
    }

    /// Byte position of the slot for probe `attempt` of `hash`.
    fn position_of(&mut self, hash: &[u8; HASH_BYTES], attempt: usize) -> usize {
        let window = attempt.min(HASH_BYTES - 4);
        let probe = i32::from_be_bytes([
            hash[window],
            hash[window + 1],
            hash[window + 2],
            hash[window + 3],
        ])
        .wrapping_add(attempt.saturating_sub(HASH_BYTES - 4) as i32);
        // Kafka's Utils.abs: Integer.MIN_VALUE maps to 0.
        let abs = if probe == i32::MIN {
            0
        } else {
            probe.unsigned_abs()
        };
        self.probes += 1;
        (abs as usize % self.slots) * ENTRY_BYTES
    }

    fn is_empty_slot(&self, pos: usize) -> bool {
        self.table[pos..pos + ENTRY_BYTES].iter().all(|&b| b == 0)
    }

    /// Records `offset` as the latest for `key`, and as the map's latest
    /// offset. Returns `false`, changing nothing, if the key is new and the
    /// table has no free slot.
    pub fn put(&mut self, key: &[u8], offset: u64) -> bool {
        let hash = self.hash(key);
        self.lookups += 1;
        // Linear probing after the windows visits every slot.
        for attempt in 0..self.slots + HASH_BYTES {
            let pos = self.position_of(&hash, attempt);
            if self.is_empty_slot(pos) {
                if self.entries >= self.slots {
                    return false;
                }
                self.table[pos..pos + HASH_BYTES].copy_from_slice(&hash);
                self.table[pos + HASH_BYTES..pos + ENTRY_BYTES]
                    .copy_from_slice(&offset.to_be_bytes());
                self.entries += 1;
                self.latest_offset = Some(offset);
                return true;
            }
            if self.table[pos..pos + HASH_BYTES] == hash {
                self.table[pos + HASH_BYTES..pos + ENTRY_BYTES]
                    .copy_from_slice(&offset.to_be_bytes());
                self.latest_offset = Some(offset);
                return true;
            }
        }
        false
    }

    /// The latest offset put for `key`, or `None`.
    pub fn get(&mut self, key: &[u8]) -> Option<u64> {
        let hash = self.hash(key);
        self.lookups += 1;
        for attempt in 0..self.slots + HASH_BYTES {
            let pos = self.position_of(&hash, attempt);
            if self.is_empty_slot(pos) {
                return None;
            }
            if self.table[pos..pos + HASH_BYTES] == hash {
                let mut o = [0u8; 8];
                o.copy_from_slice(&self.table[pos + HASH_BYTES..pos + ENTRY_BYTES]);
                return Some(u64::from_be_bytes(o));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_offsets_overwrite_and_absent_keys_are_none() {
        let mut m = OffsetMap::new(24 * 100, 0.9);
        assert_eq!(m.slots(), 100);
        assert_eq!(m.max_entries(), 90);
        for i in 0..50u64 {
            assert!(m.put(format!("k{}", i % 10).as_bytes(), i));
        }
        assert_eq!(m.len(), 10);
        assert_eq!(m.latest_offset(), Some(49));
        for k in 0..10u64 {
            assert_eq!(m.get(format!("k{k}").as_bytes()), Some(40 + k));
        }
        assert_eq!(m.get(b"absent"), None);
        m.clear();
        assert!(m.is_empty());
        assert_eq!(m.get(b"k1"), None);
        assert_eq!(m.latest_offset(), None);
    }

    #[test]
    fn memory_stays_at_its_bound_whatever_the_number_of_keys() {
        let mut m = OffsetMap::new(24 * 64, 1.0);
        let bytes = m.memory_bytes();
        let mut stored = 0;
        for i in 0..10_000u64 {
            if m.put(&i.to_be_bytes(), i) {
                stored += 1;
            }
        }
        assert_eq!(stored, 64, "a new key needs a free slot");
        assert_eq!(m.len(), 64);
        assert_eq!(m.memory_bytes(), bytes);
        assert!(m.is_full());
        // A full table still answers, for present and absent keys.
        assert!(m.get(&3u64.to_be_bytes()).is_some());
        assert_eq!(m.get(b"never put"), None);
    }

    #[test]
    fn the_load_factor_bounds_the_entries_the_cleaner_puts() {
        let m = OffsetMap::new(24 * 10, 0.5);
        assert_eq!(m.max_entries(), 5);
        let m = OffsetMap::new(1, 0.9);
        assert_eq!((m.slots(), m.max_entries()), (1, 1));
        let m = OffsetMap::new(24 * 10, f64::NAN);
        assert_eq!(m.max_entries(), 10);
    }
}

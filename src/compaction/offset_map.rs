//! The cleaner's offset map: key -> latest offset, in a bounded amount of
//! memory (Kafka's `SkimpyOffsetMap`).
//!
//! Each entry is a 16-byte hash of the key and the 8-byte offset, 24
//! bytes, in an open-addressing table laid out in one buffer of the
//! configured size: at most `slots = memory / 24`. An all-zero slot is
//! empty. Entries are never removed; putting a key already present
//! overwrites its offset.
//!
//! The buffer is allocated zeroed at its full size (the OS provides its
//! pages as they are first written), but the table starts on its first
//! 4,096 slots and doubles in place, up to the whole buffer, whenever half
//! of the slots in use are taken: a map of few keys then stays in the CPU
//! caches, where Kafka's spreads them over the whole buffer. A growth moves
//! every entry to its slot in the larger table, within the same buffer.
//!
//! Probing is linear, Robin Hood style: a key's probes start at its home
//! slot (the hash's first four bytes as a fraction of the slots in use)
//! and walk the next slots; an insertion takes the slot of any entry
//! nearer its own home, which moves on. A lookup then stops at the first
//! entry nearer its home than the key would be: in a nearly full table a
//! key that is not there (most lookups of a round, which come from the
//! records of segments cleaned before) costs a few probes in one or two
//! cache lines. Kafka probes up to 13 windows of the hash before probing
//! linearly, about ten cache misses for such a key.
//!
//! The map holds whatever keys it is given in that buffer and nothing
//! else: its memory does not grow with the number of distinct keys. The
//! cleaner stops filling it at `memory / 24 * load_factor` entries
//! ([`OffsetMap::is_full`]) and cleans what it mapped (a partial round).
//!
//! Kafka hashes keys with MD5. Here the hash is a 128-bit hash keyed with
//! a secret drawn at random for each map ([`super::key_hash`]), so that
//! keys cannot be chosen to collide (two keys with one hash would make one
//! of them lose its latest record); the hash's last bit is kept clear (it
//! marks the entries a growth has moved) and the one before it set (no
//! hash is zero, as an empty slot is). For the same memory the map holds
//! the same number of entries as Kafka's.
//!
//! Once a round has mapped the dirty section and looked up the keys of the
//! records below it, it has no more use for the keys: a record of the
//! dirty section is the latest of its key exactly when its offset is one
//! the map holds. [`OffsetMap::sort_by_offset`] then turns the table, in
//! its own buffer, into the sorted list of those offsets, which the round
//! walks alongside the log.

use super::key_hash::KeyHasher;

/// Bytes of one entry: a 16-byte key hash and an 8-byte offset.
pub const ENTRY_BYTES: usize = 24;
const HASH_BYTES: usize = 16;
/// Slots in use when the map is made.
const INITIAL_SLOTS: usize = 4096;
/// The bit of a hash's last byte that marks, during a growth, an entry
/// already moved; clear otherwise.
const MOVED: u8 = 1;
/// A bit of a hash's last byte that is always set, so that no hash is
/// zero, as an empty slot's is.
const NONZERO: u8 = 2;

/// A key's hash in an [`OffsetMap`] (valid for that map only).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyDigest([u8; HASH_BYTES]);

/// A fixed-size map from a key (by its hash) to the latest offset seen
/// for it. See the module docs.
pub struct OffsetMap {
    table: Vec<u8>,
    /// Slots in use: the first `slots * 24` bytes of `table`.
    slots: usize,
    max_slots: usize,
    entries: usize,
    max_entries: usize,
    latest_offset: Option<u64>,
    hasher: KeyHasher,
    /// Whether the table has become the sorted list of the entries'
    /// offsets (`entries` big-endian words at its start).
    sorted: bool,
    lookups: u64,
    probes: u64,
}

impl std::fmt::Debug for OffsetMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsetMap")
            .field("slots", &self.slots)
            .field("max_slots", &self.max_slots)
            .field("entries", &self.entries)
            .field("max_entries", &self.max_entries)
            .field("latest_offset", &self.latest_offset)
            .finish()
    }
}

// Some of the map's methods serve only its tests and the `testing` feature.
#[cfg_attr(not(any(test, feature = "testing")), allow(dead_code))]
impl OffsetMap {
    /// A map in `memory_bytes` of memory (at least one entry's worth),
    /// filled up to `load_factor` of its slots (in `(0, 1]`; values
    /// outside are clamped, and at least one entry is always allowed).
    pub fn new(memory_bytes: usize, load_factor: f64) -> Self {
        let max_slots = (memory_bytes / ENTRY_BYTES).max(1);
        let factor = if load_factor.is_finite() {
            load_factor.clamp(0.0, 1.0)
        } else {
            1.0
        };
        let max_entries = ((max_slots as f64 * factor) as usize).clamp(1, max_slots);
        OffsetMap {
            // Zeroed memory from the allocator: pages are touched only as
            // entries land in them.
            table: vec![0u8; max_slots * ENTRY_BYTES],
            slots: max_slots.min(INITIAL_SLOTS),
            max_slots,
            entries: 0,
            max_entries,
            latest_offset: None,
            hasher: KeyHasher::random(),
            sorted: false,
            lookups: 0,
            probes: 0,
        }
    }

    /// Number of slots in use: 4,096 (or all, if fewer) when the map is
    /// made, doubling as keys come, up to
    /// [`memory_bytes`](Self::memory_bytes) / 24.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Bytes of memory the table's buffer takes (`memory / 24` slots of 24
    /// bytes), whatever the number of keys put into it.
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

    /// The most entries the cleaner puts in the map (`memory / 24 *
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
            self.table[..self.slots * ENTRY_BYTES].fill(0);
        }
        self.slots = self.max_slots.min(INITIAL_SLOTS);
        self.sorted = false;
        self.entries = 0;
        self.latest_offset = None;
        self.lookups = 0;
        self.probes = 0;
    }

    #[inline]
    fn hash(&self, key: &[u8]) -> [u8; HASH_BYTES] {
        // The flag bits of the last byte, set on the number (the top byte
        // of its little-endian bytes), not by a byte store followed by a
        // wide load, which the CPU cannot forward.
        let last_byte = |bits: u8| u128::from(bits) << 120;
        let h = self.hasher.hash_u128(key);
        (h & !last_byte(MOVED) | last_byte(NONZERO)).to_le_bytes()
    }

    /// Probes for `hash` from its home slot (Robin Hood linear probing):
    /// `Ok(slot)` where it is, or else `Err((slot, distance))` where the
    /// search ended, `distance` slots past its home: at an empty slot, or
    /// at the first entry nearer its own home than `hash` would be there
    /// (insertion would have put `hash` before it), or after every slot.
    fn find(&mut self, hash: &[u8; HASH_BYTES]) -> Result<usize, (usize, usize)> {
        self.lookups += 1;
        let slots = self.slots;
        let mut slot = home_slot(hash, slots);
        let target = u128::from_ne_bytes(*hash);
        for distance in 0..slots {
            self.probes += 1;
            let entry = entry_at(&self.table, slot);
            let found = u128::from_ne_bytes(hash_of(entry));
            if found == target {
                return Ok(slot);
            }
            // No hash is zero: a zero hash is an empty slot.
            if found == 0 {
                return Err((slot, distance));
            }
            if distance_of(entry, slot, slots) < distance {
                return Err((slot, distance));
            }
            slot = next_slot(slot, slots);
        }
        Err((slot, slots))
    }

    /// Puts `entry` at `slot`, `distance` slots past its home, and moves
    /// the entries it displaces on, each where Robin Hood probing puts it,
    /// up to the next empty slot. During a growth (`growing`), a slot
    /// holding an entry not moved yet counts as empty: `entry` takes it,
    /// and the entry found there is returned, to be moved next.
    fn place(
        &mut self,
        mut entry: [u8; ENTRY_BYTES],
        mut slot: usize,
        mut distance: usize,
        growing: bool,
    ) -> Option<[u8; ENTRY_BYTES]> {
        let slots = self.slots;
        for _ in 0..slots {
            let resident = entry_at_mut(&mut self.table, slot);
            if is_empty(resident) {
                resident.copy_from_slice(&entry);
                return None;
            }
            if growing && !is_moved(resident) {
                swap_entry(resident, &mut entry);
                return Some(entry);
            }
            let d = distance_of(resident, slot, slots);
            if d < distance {
                swap_entry(resident, &mut entry);
                distance = d;
            }
            slot = next_slot(slot, slots);
            distance += 1;
        }
        None
    }

    /// Records `offset` as the latest for `key`, and as the map's latest
    /// offset. Returns `false`, changing nothing, if the key is new and the
    /// table has no free slot, or once the map is
    /// [sorted by offset](Self::sort_by_offset).
    pub fn put(&mut self, key: &[u8], offset: u64) -> bool {
        self.put_hash(KeyDigest(self.hash(key)), offset)
    }

    /// The map's hash of `key`, for [`put_hash`](Self::put_hash).
    #[inline]
    pub(crate) fn key_hash(&self, key: &[u8]) -> KeyDigest {
        KeyDigest(self.hash(key))
    }

    /// Loads a byte of each cache line the probes for each of `digests`
    /// are likely to read (where they start, and the next two lines, which
    /// a probe reaches in a full table): touching the slots of a batch's
    /// keys before looking them up lets their cache misses overlap.
    pub(crate) fn touch<'d>(&self, digests: impl Iterator<Item = &'d KeyDigest>) {
        let end = self.slots * ENTRY_BYTES;
        let byte = |at: usize| self.table.get(at).filter(|_| at < end).copied();
        let touched = digests.fold(0u8, |t, digest| {
            let at = home_slot(&digest.0, self.slots) * ENTRY_BYTES;
            t ^ self.table[at] ^ byte(at + 64).unwrap_or(0) ^ byte(at + 128).unwrap_or(0)
        });
        std::hint::black_box(touched);
    }

    /// [`put`](Self::put) of a key by its [`key_hash`](Self::key_hash).
    pub(crate) fn put_hash(&mut self, digest: KeyDigest, offset: u64) -> bool {
        if self.sorted {
            return false;
        }
        if self.entries >= self.slots / 2 && self.slots < self.max_slots {
            self.grow();
        }
        let hash = digest.0;
        let (slot, distance) = match self.find(&hash) {
            Ok(slot) => {
                entry_at_mut(&mut self.table, slot)[HASH_BYTES..]
                    .copy_from_slice(&offset.to_be_bytes());
                self.latest_offset = Some(offset);
                return true;
            }
            Err(end) => end,
        };
        if self.entries >= self.slots {
            return false;
        }
        let mut entry = [0u8; ENTRY_BYTES];
        entry[..HASH_BYTES].copy_from_slice(&hash);
        entry[HASH_BYTES..].copy_from_slice(&offset.to_be_bytes());
        self.place(entry, slot, distance, false);
        self.entries += 1;
        self.latest_offset = Some(offset);
        true
    }

    /// The latest offset put for `key`, or `None` (always, once the map
    /// is [sorted by offset](Self::sort_by_offset)).
    pub fn get(&mut self, key: &[u8]) -> Option<u64> {
        self.get_hash(KeyDigest(self.hash(key)))
    }

    /// [`get`](Self::get) of a key by its [`key_hash`](Self::key_hash).
    pub(crate) fn get_hash(&mut self, digest: KeyDigest) -> Option<u64> {
        if self.sorted {
            return None;
        }
        let hash = digest.0;
        let slot = self.find(&hash).ok()?;
        let mut o = [0u8; 8];
        o.copy_from_slice(&entry_at(&self.table, slot)[HASH_BYTES..]);
        Some(u64::from_be_bytes(o))
    }

    /// Turns the map, in its own buffer, into the ascending list of the
    /// offsets it holds, one per key, for
    /// [`sorted_offset`](Self::sorted_offset): the keys are forgotten
    /// ([`get`](Self::get) finds nothing, [`put`](Self::put) takes
    /// nothing) until [`clear`](Self::clear). [`len`](Self::len),
    /// [`latest_offset`](Self::latest_offset) and the memory stay as they
    /// were. Sorting again does nothing.
    pub fn sort_by_offset(&mut self) {
        if self.sorted {
            return;
        }
        let mut n = 0;
        for slot in 0..self.slots {
            let entry = entry_at(&self.table, slot);
            if is_empty(entry) {
                continue;
            }
            let mut offset = [0u8; 8];
            offset.copy_from_slice(&entry[HASH_BYTES..]);
            // Word `n` ends at or before the start of slot `n + 1 <= slot
            // + 1`: it never overwrites an entry not yet read.
            self.table[n * 8..n * 8 + 8].copy_from_slice(&offset);
            n += 1;
        }
        // Big-endian words sort as their numbers do.
        self.table[..n * 8].as_chunks_mut::<8>().0.sort_unstable();
        self.sorted = true;
    }

    /// The `i`-th smallest offset of a map [sorted by
    /// offset](Self::sort_by_offset), or `None` past the last one (or if
    /// the map is not sorted).
    pub fn sorted_offset(&self, i: usize) -> Option<u64> {
        if !self.sorted || i >= self.entries {
            return None;
        }
        let mut o = [0u8; 8];
        o.copy_from_slice(&self.table[i * 8..i * 8 + 8]);
        Some(u64::from_be_bytes(o))
    }

    /// Doubles the slots in use (up to the whole buffer) and moves every
    /// entry to its place in the larger table, by Robin Hood insertion in
    /// which an entry not moved yet counts as an empty slot: it gives the
    /// slot up and is moved next. Entries moved are marked (their hash's
    /// [`MOVED`] bit) until the end.
    fn grow(&mut self) {
        let old = self.slots;
        let slots = old.saturating_mul(2).min(self.max_slots);
        self.slots = slots;
        for i in 0..old {
            let taken = entry_at_mut(&mut self.table, i);
            if is_empty(taken) || is_moved(taken) {
                continue;
            }
            let mut entry = [0u8; ENTRY_BYTES];
            swap_entry(taken, &mut entry);
            // Each pass moves one more entry, the one its placing displaced.
            for _ in 0..slots {
                entry[HASH_BYTES - 1] |= MOVED;
                let home = home_slot(&entry, slots);
                match self.place(entry, home, 0, true) {
                    Some(displaced) => entry = displaced,
                    None => break,
                }
            }
        }
        // Only taken slots are written: pages of empty ones stay untouched.
        for i in 0..slots {
            let entry = entry_at_mut(&mut self.table, i);
            if is_moved(entry) {
                entry[HASH_BYTES - 1] &= !MOVED;
            }
        }
    }
}

fn entry_at(table: &[u8], slot: usize) -> &[u8] {
    &table[slot * ENTRY_BYTES..(slot + 1) * ENTRY_BYTES]
}

fn entry_at_mut(table: &mut [u8], slot: usize) -> &mut [u8] {
    &mut table[slot * ENTRY_BYTES..(slot + 1) * ENTRY_BYTES]
}

fn swap_entry(slot: &mut [u8], entry: &mut [u8; ENTRY_BYTES]) {
    let mut held = [0u8; ENTRY_BYTES];
    held.copy_from_slice(slot);
    slot.copy_from_slice(entry);
    *entry = held;
}

/// Whether an entry's bytes are all zero (an empty slot).
fn is_empty(entry: &[u8]) -> bool {
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&entry[at..at + 8]);
        u64::from_ne_bytes(w)
    };
    word(0) | word(8) | word(16) == 0
}

/// An entry's hash, as a value (compared without a call to `memcmp`).
#[inline(always)]
fn hash_of(entry: &[u8]) -> [u8; HASH_BYTES] {
    let mut h = [0u8; HASH_BYTES];
    h.copy_from_slice(&entry[..HASH_BYTES]);
    h
}

fn is_moved(entry: &[u8]) -> bool {
    entry[HASH_BYTES - 1] & MOVED != 0
}

/// The slot where the probes of a hash start, among `slots`: the hash's
/// first four bytes, as a big-endian fraction of 2^32, times `slots`.
fn home_slot(hash: &[u8], slots: usize) -> usize {
    let h = u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]);
    ((u128::from(h) * slots as u128) >> 32) as usize
}

/// How many slots past its home the entry in `slot` lies.
fn distance_of(entry: &[u8], slot: usize, slots: usize) -> usize {
    let home = home_slot(entry, slots);
    if slot >= home {
        slot - home
    } else {
        slot + slots - home
    }
}

fn next_slot(slot: usize, slots: usize) -> usize {
    if slot + 1 == slots {
        0
    } else {
        slot + 1
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

    #[test]
    fn the_table_starts_small_and_grows_as_keys_come() {
        let mut m = OffsetMap::new(24 * 1_000_000, 0.9);
        assert_eq!(m.memory_bytes(), 24 * 1_000_000);
        assert!(m.slots() <= 4096, "{} slots in use for no key", m.slots());
        for i in 0..100u64 {
            assert!(m.put(&i.to_be_bytes(), i));
        }
        assert!(m.slots() <= 4096, "{} slots in use for 100 keys", m.slots());
        // Keys below 100,000 are put twice: their second offset wins.
        for i in 0..300_000u64 {
            assert!(m.put(&(i % 200_000).to_be_bytes(), i));
        }
        assert!((400_000..=1_000_000).contains(&m.slots()), "{}", m.slots());
        assert_eq!(m.len(), 200_000);
        assert_eq!(m.memory_bytes(), 24 * 1_000_000);
        for k in 0..200_000u64 {
            let latest = if k < 100_000 { 200_000 + k } else { k };
            assert_eq!(m.get(&k.to_be_bytes()), Some(latest), "key {k}");
        }
        for k in 200_000..201_000u64 {
            assert_eq!(m.get(&k.to_be_bytes()), None, "key {k}");
        }
    }

    #[test]
    fn growth_ends_at_the_whole_buffer_which_fills_to_the_last_slot() {
        let mut m = OffsetMap::new(24 * 10_000, 1.0);
        let stored = (0..20_000u64)
            .filter(|&i| m.put(&i.to_be_bytes(), i))
            .count();
        assert_eq!(stored, 10_000);
        assert_eq!(m.slots(), 10_000);
        assert!(m.is_full());
        for k in 0..10_000u64 {
            assert_eq!(m.get(&k.to_be_bytes()), Some(k), "key {k}");
        }
        assert_eq!(m.get(&10_000u64.to_be_bytes()), None);
    }

    #[test]
    fn a_key_absent_from_a_nearly_full_table_takes_few_probes() {
        let mut m = OffsetMap::new(24 * 100_000, 0.9);
        let mut i = 0u64;
        while !m.is_full() {
            assert!(m.put(&i.to_be_bytes(), i));
            i += 1;
        }
        for k in 0..i {
            assert_eq!(m.get(&k.to_be_bytes()), Some(k));
        }
        let (lookups, probes) = (m.lookups, m.probes);
        for k in i..i + 10_000 {
            assert_eq!(m.get(&k.to_be_bytes()), None);
        }
        let per_lookup = (m.probes - probes) as f64 / (m.lookups - lookups) as f64;
        assert!(per_lookup < 8.0, "{per_lookup} probes per absent key");
    }

    #[test]
    fn sorting_turns_the_map_into_the_ascending_list_of_its_offsets() {
        // Enough keys for several growths, each put several times: the
        // list holds each key's latest offset once.
        let mut m = OffsetMap::new(24 * 50_000, 0.9);
        let keys = 20_000u64;
        let mut latest = std::collections::BTreeSet::new();
        for i in 0..3 * keys {
            let k = (i * 7919) % keys;
            assert!(m.put(&k.to_be_bytes(), 1_000 + i));
            if i >= 2 * keys {
                latest.insert(1_000 + i);
            }
        }
        m.update_latest_offset(9_999_999);
        let bytes = m.memory_bytes();
        m.sort_by_offset();
        m.sort_by_offset();
        let list: Vec<u64> = (0..).map_while(|i| m.sorted_offset(i)).collect();
        assert_eq!(list, latest.into_iter().collect::<Vec<_>>());
        assert_eq!(m.len(), keys as usize);
        assert_eq!(m.latest_offset(), Some(9_999_999));
        assert_eq!(m.memory_bytes(), bytes);
        // The keys are gone until the map is cleared.
        assert_eq!(m.get(&0u64.to_be_bytes()), None);
        assert!(!m.put(b"new", 1));
        m.clear();
        assert_eq!(m.sorted_offset(0), None);
        assert!(m.put(b"new", 1));
        assert_eq!(m.get(b"new"), Some(1));
        assert_eq!(m.get(&0u64.to_be_bytes()), None);
    }
}

//! The cleaner's offset map: key -> latest offset, in a bounded amount of
//! memory (Kafka's `SkimpyOffsetMap`).
//!
//! Each slot holds 15 bytes (120 bits) of a hash of a key and its 8-byte
//! offset, plus a control byte kept apart from the entries: 24 bytes,
//! [`ENTRY_BYTES`], as a slot of Kafka's map (a 16-byte MD5 and the
//! offset), so that a buffer of the configured size has `memory / 24`
//! slots. Entries are never removed; putting a key already present
//! overwrites its offset.
//!
//! The slots are probed in groups of eight, as Swiss tables probe them: a
//! control byte is zero for an empty slot and otherwise holds seven bits
//! of the hash of the key in its slot (with the top bit set). A lookup
//! loads the eight control bytes of a group as one word, finds the bytes
//! that match the key's seven bits with a few word operations, and
//! compares the whole hash only in those slots (one in 128 of the others
//! matches by chance). It starts at the group the key's hash names and
//! steps on by one of 16 strides that four other bits of the hash pick
//! (double hashing, each stride coprime with the number of groups, so
//! that a probe reads every group if it must), until a group has an empty
//! slot, and stops there. Almost every lookup reads one word of control
//! bytes and one entry, with branches the CPU predicts (probing slot by
//! slot, Robin Hood style, with a branch a slot, costs about twice as much
//! a lookup). In a table 90% full, a key that is not there reads about
//! three groups; 4.7 at 15/16, the most the cleaner fills it to, whatever
//! the load factor: with no empty slot left, such a lookup would read
//! every group.
//!
//! The buffer is allocated zeroed at its full size (the OS provides its
//! pages as they are first written), but the table starts on its first
//! 4,096 slots and doubles in place, up to the whole buffer, whenever
//! three quarters of the slots in use are taken: a map of few keys then
//! stays in the CPU caches, where Kafka's spreads them over the whole
//! buffer. A growth moves every entry to its group in the larger table,
//! within the same buffer, as Swiss tables rehash in place.
//!
//! The map holds whatever keys it is given in that buffer and nothing
//! else: its memory does not grow with the number of distinct keys. The
//! cleaner stops filling it at `memory / 24 * load_factor` entries, and at
//! most 15/16 of the slots ([`OffsetMap::is_full`]), and cleans what it
//! mapped (a partial round).
//!
//! Kafka hashes keys with MD5. Here the hash is a 128-bit hash keyed with
//! a secret drawn at random for each map ([`super::key_hash`]), so that
//! keys cannot be chosen to collide (two keys with one hash would make one
//! of them lose its latest record), of which the map keeps 120 bits: the
//! chance that two of a billion keys share them is below 10^-18.
//!
//! Once a round has mapped the dirty section and looked up the keys of the
//! records below it, it has no more use for the keys: a record of the
//! dirty section is the latest of its key exactly when its offset is one
//! the map holds. [`OffsetMap::sort_by_offset`] then turns the table, in
//! its own buffer, into the sorted list of those offsets, which the round
//! walks alongside the log.

use super::key_hash::KeyHasher;

/// Bytes of memory one slot of the map takes: 15 bytes of a key's hash,
/// an 8-byte offset and a control byte.
pub const ENTRY_BYTES: usize = HASH_BYTES + OFFSET_BYTES + 1;
/// Bytes of a key's hash the map keeps.
const HASH_BYTES: usize = 15;
const OFFSET_BYTES: usize = 8;
/// Bytes of an entry: the hash and the offset.
const STORED_BYTES: usize = HASH_BYTES + OFFSET_BYTES;
// `stored_hash` reads a hash as one 16-byte word, the offset's first
// byte included.
const _: () = assert!(STORED_BYTES >= 16);
/// Slots in use when the map is made.
const INITIAL_SLOTS: usize = 4096;
/// Slots whose control bytes a lookup loads as one word.
const GROUP: usize = 8;
/// The cleaner leaves one slot in this many empty, whatever the load
/// factor: in a table with no empty slot, a lookup of a key that is not
/// there would read every group.
const MAX_FILL: usize = 16;
/// Different steps between the groups a probe reads, one for each value
/// of four bits of a key's hash.
const STEPS: usize = 16;

/// Control byte of an empty slot.
const EMPTY: u8 = 0;
/// Control byte, during a growth, of a slot whose entry has not been moved
/// yet.
const PENDING: u8 = 1;
/// What a lookup reads for the slots past the last one in use, when the
/// last group is partial: neither empty nor any key's byte.
const PAST_END: u8 = 0x7f;
/// The bit set in the control byte of every slot in use.
const TAKEN: u8 = 0x80;

/// A byte repeated in every byte of a word.
const fn splat(byte: u8) -> u64 {
    u64::from_ne_bytes([byte; GROUP])
}

/// The top bit of every byte of `word` that is zero, and no other bit.
/// Exact: a byte's own sum never carries into the next.
#[inline(always)]
fn zero_bytes(word: u64) -> u64 {
    let low_bits = splat(0x7f);
    !(((word & low_bits) + low_bits) | word) & splat(0x80)
}

/// The index of the byte of `word` whose top bit is the lowest set bit of
/// `mask` (a mask from [`zero_bytes`]).
#[inline(always)]
fn first_byte(mask: u64) -> usize {
    let bit = if cfg!(target_endian = "little") {
        mask.trailing_zeros()
    } else {
        mask.leading_zeros()
    };
    bit as usize / 8
}

/// `mask` without the byte [`first_byte`] names.
#[inline(always)]
fn without_first(mask: u64) -> u64 {
    if cfg!(target_endian = "little") {
        mask & (mask - 1)
    } else {
        mask & !(1u64 << 63 >> mask.leading_zeros())
    }
}

/// The slots of a group (whose control bytes are `word`) whose control
/// byte is `digest`'s: the top bit of their byte, as [`zero_bytes`] marks
/// them.
#[inline(always)]
fn candidates(word: u64, digest: KeyDigest) -> u64 {
    zero_bytes(word ^ splat(digest.control()))
}

/// Hashes keys for one [`OffsetMap`], as its
/// [`key_hash`](OffsetMap::key_hash) does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MapKeyHasher(KeyHasher);

impl MapKeyHasher {
    /// The map's hash of `key`.
    #[inline(always)]
    pub(crate) fn digest(&self, key: &[u8]) -> KeyDigest {
        KeyDigest::new(self.0.hash_u128(key))
    }
}

/// A key's hash in an [`OffsetMap`] (valid for that map only): the
/// [`HASH_BYTES`] the map keeps, as the low bytes of a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyDigest(u128);

impl KeyDigest {
    /// The bytes of `hash` the map keeps.
    #[inline(always)]
    fn new(hash: u128) -> Self {
        KeyDigest(hash & (u128::MAX >> (128 - 8 * HASH_BYTES)))
    }

    /// The digest as two words (low half first), which travel where a
    /// `u128`'s 16-byte alignment would pad.
    #[inline(always)]
    pub(crate) fn to_words(self) -> [u64; 2] {
        [self.0 as u64, (self.0 >> 64) as u64]
    }

    /// The digest whose [`to_words`](Self::to_words) are `words` (the
    /// bytes past those the map keeps cleared, whatever `words` holds).
    #[inline(always)]
    pub(crate) fn from_words(words: [u64; 2]) -> Self {
        KeyDigest::new(u128::from(words[0]) | u128::from(words[1]) << 64)
    }

    /// The control byte of the key's slot: seven bits of the hash (other
    /// than those of its home group) with the top bit set.
    #[inline(always)]
    fn control(self) -> u8 {
        TAKEN | (self.0 >> 64) as u8 & !TAKEN
    }

    /// Which of a table's [`STEPS`] its probes take.
    #[inline(always)]
    fn step(self) -> usize {
        (self.0 >> 72) as usize % STEPS
    }

    /// The top 32 bits of the digest's low half, as a fraction of 2^32:
    /// where among the groups its probes start.
    #[inline(always)]
    fn home_group(self, groups: usize) -> usize {
        ((u64::from((self.0 as u64 >> 32) as u32) * groups as u64) >> 32) as usize
    }
}

/// A record's offset and its key's [`KeyDigest`], for
/// [`OffsetMap::put_hashed`]: 24 bytes, where a `u128`'s alignment would
/// pad them to 32.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HashedKey {
    offset: u64,
    digest: [u64; 2],
}

impl HashedKey {
    /// `offset` under the key of hash `digest`.
    #[inline(always)]
    pub(crate) fn new(offset: u64, digest: KeyDigest) -> Self {
        HashedKey {
            offset,
            digest: digest.to_words(),
        }
    }

    #[inline(always)]
    fn digest(&self) -> KeyDigest {
        KeyDigest::from_words(self.digest)
    }
}

/// Keys [`OffsetMap::put_hashed`] looks up together: their home groups'
/// control bytes first, then their entries, so that the cache misses of a
/// block's entries overlap.
const PUT_BLOCK: usize = 16;

/// Where a probe for a key ended.
enum Probe {
    /// The key's slot.
    Found(usize),
    /// The key is absent; it would go in this empty slot.
    Absent(usize),
    /// The key is absent and every slot in use is taken.
    Full,
}

/// A fixed-size map from a key (by its hash) to the latest offset seen
/// for it. See the module docs.
pub struct OffsetMap {
    /// The entries (`STORED_BYTES` each, from the start) and then the
    /// control bytes (one a slot, at `controls`).
    table: Vec<u8>,
    /// Where the control bytes start.
    controls: usize,
    /// Slots in use: the first `slots` entries and control bytes.
    slots: usize,
    /// Groups of slots in use (the last may be partial).
    groups: usize,
    /// Steps between the groups a probe reads, each coprime with `groups`.
    steps: [usize; STEPS],
    max_slots: usize,
    entries: usize,
    max_entries: usize,
    latest_offset: Option<u64>,
    hasher: MapKeyHasher,
    /// Whether the table has become the sorted list of the entries'
    /// offsets (`entries` big-endian words at its start).
    sorted: bool,
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
    /// A map in `memory_bytes` of memory (at least one slot's worth),
    /// filled up to `load_factor` of its slots (in `(0, 1]`; values
    /// outside are clamped, and at least one entry is always allowed), and
    /// never past 15/16 of them (all of them in a map of fewer than 16).
    pub fn new(memory_bytes: usize, load_factor: f64) -> Self {
        let max_slots = (memory_bytes / ENTRY_BYTES).max(1);
        let factor = if load_factor.is_finite() {
            load_factor.clamp(0.0, 1.0)
        } else {
            1.0
        };
        let max_entries =
            ((max_slots as f64 * factor) as usize).clamp(1, max_slots - max_slots / MAX_FILL);
        let mut map = OffsetMap {
            // Zeroed memory from the allocator: pages are touched only as
            // entries land in them.
            table: vec![0u8; max_slots * ENTRY_BYTES],
            controls: max_slots * STORED_BYTES,
            slots: 0,
            groups: 0,
            steps: [1; STEPS],
            max_slots,
            entries: 0,
            max_entries,
            latest_offset: None,
            hasher: MapKeyHasher(KeyHasher::random()),
            sorted: false,
        };
        map.use_slots(max_slots.min(INITIAL_SLOTS));
        map
    }

    /// Makes the first `slots` slots the table, and sets what probes need
    /// to know of it.
    fn use_slots(&mut self, slots: usize) {
        self.slots = slots;
        self.groups = slots.div_ceil(GROUP);
        self.steps = steps_for(self.groups);
    }

    /// Number of slots in use: 4,096 (or all, if fewer) when the map is
    /// made, doubling as keys come, up to
    /// [`memory_bytes`](Self::memory_bytes) / [`ENTRY_BYTES`].
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
    /// load_factor`, at most 15/16 of the slots).
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

    /// Forgets every entry, keeping the memory.
    pub fn clear(&mut self) {
        if self.entries > 0 || self.sorted {
            // Entries are read only where a control byte says so; the
            // sorted list lies over the entries.
            let controls = self.controls;
            self.table[controls..controls + self.slots].fill(EMPTY);
        }
        self.use_slots(self.max_slots.min(INITIAL_SLOTS));
        self.sorted = false;
        self.entries = 0;
        self.latest_offset = None;
    }

    /// The control bytes of group `group` as a word; in a partial last
    /// group, slots past the end read as [`PAST_END`].
    #[inline(always)]
    fn group_word(&self, group: usize) -> u64 {
        let at = self.controls + group * GROUP;
        let end = self.controls + self.slots;
        match self.table[at..end].first_chunk::<GROUP>() {
            Some(bytes) => u64::from_ne_bytes(*bytes),
            None => {
                let mut bytes = [PAST_END; GROUP];
                bytes[..end - at].copy_from_slice(&self.table[at..end]);
                u64::from_ne_bytes(bytes)
            }
        }
    }

    fn control(&self, slot: usize) -> u8 {
        self.table[self.controls + slot]
    }

    fn set_control(&mut self, slot: usize, byte: u8) {
        let at = self.controls + slot;
        self.table[at] = byte;
    }

    /// The hash stored in `slot`, read as one 16-byte word (the hash and
    /// the first byte of the offset after it) with the offset's byte
    /// masked off: one load where a 15-byte copy takes several.
    #[inline(always)]
    fn stored_hash(&self, slot: usize) -> KeyDigest {
        let at = slot * STORED_BYTES;
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&self.table[at..at + 16]);
        KeyDigest::new(u128::from_le_bytes(bytes))
    }

    fn stored_offset(&self, slot: usize) -> u64 {
        let at = slot * STORED_BYTES + HASH_BYTES;
        let mut bytes = [0u8; OFFSET_BYTES];
        bytes.copy_from_slice(&self.table[at..at + OFFSET_BYTES]);
        u64::from_le_bytes(bytes)
    }

    #[inline(always)]
    fn set_offset(&mut self, slot: usize, offset: u64) {
        let at = slot * STORED_BYTES + HASH_BYTES;
        self.table[at..at + OFFSET_BYTES].copy_from_slice(&offset.to_le_bytes());
    }

    fn store(&mut self, slot: usize, digest: KeyDigest, offset: u64) {
        let at = slot * STORED_BYTES;
        self.table[at..at + HASH_BYTES].copy_from_slice(&digest.0.to_le_bytes()[..HASH_BYTES]);
        self.set_offset(slot, offset);
        self.set_control(slot, digest.control());
    }

    /// The groups the probes for `digest` read, in order: from its home
    /// group, on by its step, every group once.
    #[inline(always)]
    fn probe(&self, digest: KeyDigest) -> Probes {
        Probes {
            group: digest.home_group(self.groups),
            step: self.steps[digest.step()],
            groups: self.groups,
            left: self.groups,
        }
    }

    /// The slot of group `group` (whose control bytes are `word`) that
    /// holds `digest`, if one does.
    #[inline(always)]
    fn slot_in_group(&self, group: usize, word: u64, digest: KeyDigest) -> Option<usize> {
        self.slot_among(group, candidates(word, digest), digest)
    }

    /// The slot, among the `candidates` of group `group` (from
    /// [`candidates`]), that holds `digest`, if one does.
    #[inline(always)]
    fn slot_among(&self, group: usize, mut matches: u64, digest: KeyDigest) -> Option<usize> {
        while matches != 0 {
            let slot = group * GROUP + first_byte(matches);
            if self.stored_hash(slot) == digest {
                return Some(slot);
            }
            matches = without_first(matches);
        }
        None
    }

    /// Probes the groups for `digest` from its home group, stopping at the
    /// first group with an empty slot.
    #[inline(always)]
    fn find(&self, digest: KeyDigest) -> Probe {
        self.find_counted(digest).0
    }

    /// [`find`](Self::find), and the number of groups it read (which its
    /// callers other than tests leave unused, and the compiler with them).
    #[inline(always)]
    fn find_counted(&self, digest: KeyDigest) -> (Probe, usize) {
        let mut read = 0;
        for group in self.probe(digest) {
            read += 1;
            let word = self.group_word(group);
            if let Some(slot) = self.slot_in_group(group, word, digest) {
                return (Probe::Found(slot), read);
            }
            let empty = zero_bytes(word);
            if empty != 0 {
                return (Probe::Absent(group * GROUP + first_byte(empty)), read);
            }
        }
        (Probe::Full, read)
    }

    /// Records `offset` as the latest for `key`, and as the map's latest
    /// offset. Returns `false`, changing nothing, if the key is new and the
    /// table has no free slot, or once the map is
    /// [sorted by offset](Self::sort_by_offset).
    pub fn put(&mut self, key: &[u8], offset: u64) -> bool {
        self.put_hash(self.key_hash(key), offset)
    }

    /// The map's hash of `key`, for [`put_hash`](Self::put_hash).
    #[inline]
    pub(crate) fn key_hash(&self, key: &[u8]) -> KeyDigest {
        self.hasher.digest(key)
    }

    /// What hashes keys as [`key_hash`](Self::key_hash) does, for another
    /// thread to hash them.
    pub(crate) fn key_hasher(&self) -> MapKeyHasher {
        self.hasher
    }

    /// Loads a byte of each cache line the lookups of `digests` are likely
    /// to read first (their home group's control bytes, and the start and
    /// the middle of its entries): touching the slots of a batch's keys
    /// before looking them up lets their cache misses overlap.
    pub(crate) fn touch<'d>(&self, digests: impl Iterator<Item = &'d KeyDigest>) {
        let groups = self.groups;
        let last = self.slots - 1;
        let touched = digests.fold(0u8, |t, digest| {
            let first = digest.home_group(groups) * GROUP;
            let middle = (first + GROUP / 2).min(last);
            t ^ self.control(first)
                ^ self.table[first * STORED_BYTES]
                ^ self.table[middle * STORED_BYTES]
        });
        std::hint::black_box(touched);
    }

    /// [`put`](Self::put) of a key by its [`key_hash`](Self::key_hash).
    ///
    /// Inline, the common case of a compacted log (a key already in the
    /// map, in its home group) is a few instructions; every other case
    /// (a new key, a later group, growth) is [`put_slow`](Self::put_slow).
    #[inline(always)]
    pub(crate) fn put_hash(&mut self, digest: KeyDigest, offset: u64) -> bool {
        if !self.sorted {
            let group = digest.home_group(self.groups);
            if let Some(slot) = self.slot_in_group(group, self.group_word(group), digest) {
                self.set_offset(slot, offset);
                self.latest_offset = Some(offset);
                return true;
            }
        }
        self.put_slow(digest, offset)
    }

    /// Puts `keys` in order, each as [`put_hash`](Self::put_hash) would,
    /// stopping before the first one the map does not take: a new key
    /// when the table has no free slot, or any key once the map
    /// [is full](Self::is_full) (checked before each key, as the cleaner
    /// checks it) or [sorted by offset](Self::sort_by_offset). Returns how
    /// many it put.
    ///
    /// The keys go in blocks of [`PUT_BLOCK`]: the candidate slots of
    /// every key of a block in its home group first, then the entries. A
    /// key put one at a time waits for its group's control bytes, then
    /// for its entry, before the next key's loads are under way; in
    /// blocks, the loads of the block's entries, which miss the cache
    /// whenever the table is larger than it, overlap.
    pub(crate) fn put_hashed(&mut self, keys: &[HashedKey]) -> usize {
        let mut put = 0;
        for block in keys.chunks(PUT_BLOCK) {
            let n = self.put_block(block);
            put += n;
            if n < block.len() {
                break;
            }
        }
        put
    }

    /// [`put_hashed`](Self::put_hashed) of at most [`PUT_BLOCK`] keys.
    #[inline(always)]
    fn put_block(&mut self, block: &[HashedKey]) -> usize {
        if self.sorted || self.is_full() {
            return 0;
        }
        let mut found = [(0usize, 0u64); PUT_BLOCK];
        for (at, key) in found.iter_mut().zip(block) {
            let digest = key.digest();
            let group = digest.home_group(self.groups);
            *at = (group, candidates(self.group_word(group), digest));
        }
        // The map fills only at a new key, which `put_slow` puts: until
        // then it is not full, as it was not above.
        for (i, (key, &(group, matches))) in block.iter().zip(&found).enumerate() {
            let digest = key.digest();
            if let Some(slot) = self.slot_among(group, matches, digest) {
                self.set_offset(slot, key.offset);
                self.latest_offset = Some(key.offset);
                continue;
            }
            if !self.put_slow(digest, key.offset) {
                return i;
            }
            // A growth may have moved every entry: the rest of the block
            // goes one key at a time.
            for (j, key) in block.iter().enumerate().skip(i + 1) {
                if self.is_full() || !self.put_hash(key.digest(), key.offset) {
                    return j;
                }
            }
            return block.len();
        }
        block.len()
    }

    /// [`put_hash`](Self::put_hash) past its home group: growth, probes
    /// and new keys.
    #[inline(never)]
    fn put_slow(&mut self, digest: KeyDigest, offset: u64) -> bool {
        if self.sorted {
            return false;
        }
        if self.entries >= self.slots / 4 * 3 && self.slots < self.max_slots {
            self.grow();
        }
        match self.find(digest) {
            Probe::Found(slot) => self.set_offset(slot, offset),
            Probe::Absent(slot) => {
                self.store(slot, digest, offset);
                self.entries += 1;
            }
            Probe::Full => return false,
        }
        self.latest_offset = Some(offset);
        true
    }

    /// The latest offset put for `key`, or `None` (always, once the map
    /// is [sorted by offset](Self::sort_by_offset)).
    pub fn get(&self, key: &[u8]) -> Option<u64> {
        self.get_hash(self.key_hash(key))
    }

    /// [`get`](Self::get) of a key by its [`key_hash`](Self::key_hash).
    pub(crate) fn get_hash(&self, digest: KeyDigest) -> Option<u64> {
        if self.sorted {
            return None;
        }
        match self.find(digest) {
            Probe::Found(slot) => Some(self.stored_offset(slot)),
            Probe::Absent(_) | Probe::Full => None,
        }
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
            if self.control(slot) & TAKEN == 0 {
                continue;
            }
            let offset = self.stored_offset(slot);
            // Word `n <= slot` ends at or before the start of entry `slot`
            // (8 * (slot + 1) <= 23 * slot once slot >= 1; slot 0 is read
            // first): it never overwrites an entry not yet read, nor the
            // control bytes, which follow every entry.
            self.table[n * 8..n * 8 + 8].copy_from_slice(&offset.to_be_bytes());
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

    /// The first slot, from `digest`'s home group on, that is empty or
    /// [`PENDING`], and its group (during a growth, for the entry pending
    /// in `slot`: its own slot is one).
    fn free_or_pending(&self, digest: KeyDigest, slot: usize) -> (usize, usize) {
        for group in self.probe(digest) {
            let word = self.group_word(group);
            let open = zero_bytes(word) | zero_bytes(word ^ splat(PENDING));
            if open != 0 {
                return (group, group * GROUP + first_byte(open));
            }
        }
        (slot / GROUP, slot)
    }

    /// Doubles the slots in use (up to the whole buffer) and moves every
    /// entry to its place in the larger table, as a Swiss table rehashes in
    /// place: every taken slot is marked [`PENDING`]; then each pending
    /// entry, in slot order, goes to the first empty or pending slot of its
    /// probes in the larger table. It stays where it is if that slot is in
    /// its own group; it moves if the slot is empty; and it changes places
    /// with a pending entry, which is moved next.
    ///
    /// What lookups need holds at the end: every group that an entry's
    /// probes read before its own has no empty slot. When the entry was
    /// placed, each such group had only taken slots (its first open group
    /// was its own). A taken slot stays taken for the rest of the growth;
    /// only pending slots are emptied, and none was in those groups.
    fn grow(&mut self) {
        let old = self.slots;
        let slots = old.saturating_mul(2).min(self.max_slots);
        for slot in 0..old {
            if self.control(slot) & TAKEN != 0 {
                self.set_control(slot, PENDING);
            }
        }
        self.use_slots(slots);
        for slot in 0..old {
            // Each pass places one entry for good.
            for _ in 0..slots {
                if self.control(slot) != PENDING {
                    break;
                }
                let digest = self.stored_hash(slot);
                let (group, to) = self.free_or_pending(digest, slot);
                if group == slot / GROUP {
                    self.set_control(slot, digest.control());
                    break;
                }
                let moving = slot * STORED_BYTES..(slot + 1) * STORED_BYTES;
                if self.control(to) == EMPTY {
                    self.table.copy_within(moving, to * STORED_BYTES);
                    self.set_control(to, digest.control());
                    self.set_control(slot, EMPTY);
                    break;
                }
                let (low, high) = self.table.split_at_mut(to.max(slot) * STORED_BYTES);
                let first = &mut low[to.min(slot) * STORED_BYTES..][..STORED_BYTES];
                first.swap_with_slice(&mut high[..STORED_BYTES]);
                self.set_control(to, digest.control());
            }
        }
    }
}

/// The groups a probe reads (see [`OffsetMap::probe`]).
struct Probes {
    group: usize,
    step: usize,
    groups: usize,
    /// Groups not read yet.
    left: usize,
}

impl Iterator for Probes {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let group = self.group;
        // The step is at most the number of groups: one subtraction wraps.
        self.group += self.step;
        if self.group >= self.groups {
            self.group -= self.groups;
        }
        Some(group)
    }
}

/// [`STEPS`] steps between groups for a table of `groups` groups, spread
/// over `1..groups` and each coprime with `groups`: a probe that takes one
/// of them reads every group once in `groups` reads, and keys whose probes
/// start in one group mostly part ways after it (double hashing), instead
/// of piling up in one run of full groups as with a step of one.
fn steps_for(groups: usize) -> [usize; STEPS] {
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    std::array::from_fn(|k| {
        if groups <= 2 {
            return 1;
        }
        // Near (k + 1) / (STEPS + 1) of the way, then the next coprime one.
        let mut step = (groups / (STEPS + 1) * (k + 1)).max(1);
        while gcd(step, groups) != 1 {
            step = step % (groups - 1) + 1;
        }
        step
    })
}

#[cfg(test)]
#[path = "offset_map_tests.rs"]
mod tests;

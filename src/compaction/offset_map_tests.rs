use super::*;

#[test]
fn later_offsets_overwrite_and_absent_keys_are_none() {
    let mut m = OffsetMap::new(ENTRY_BYTES * 100, 0.9);
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
    let mut m = OffsetMap::new(ENTRY_BYTES * 64, 1.0);
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
    let m = OffsetMap::new(ENTRY_BYTES * 10, 0.5);
    assert_eq!(m.max_entries(), 5);
    let m = OffsetMap::new(1, 0.9);
    assert_eq!((m.slots(), m.max_entries()), (1, 1));
    let m = OffsetMap::new(ENTRY_BYTES * 10, f64::NAN);
    assert_eq!(m.max_entries(), 10);
}

#[test]
fn the_table_starts_small_and_grows_as_keys_come() {
    let mut m = OffsetMap::new(ENTRY_BYTES * 1_000_000, 0.9);
    assert_eq!(m.memory_bytes(), ENTRY_BYTES * 1_000_000);
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
    assert_eq!(m.memory_bytes(), ENTRY_BYTES * 1_000_000);
    for k in 0..200_000u64 {
        let latest = if k < 100_000 { 200_000 + k } else { k };
        assert_eq!(m.get(&k.to_be_bytes()), Some(latest), "key {k}");
    }
    for k in 200_000..201_000u64 {
        assert_eq!(m.get(&k.to_be_bytes()), None, "key {k}");
    }
}

#[test]
fn updates_at_the_growth_threshold_leave_growth_to_the_next_new_key() {
    let mut m = OffsetMap::new(ENTRY_BYTES * 100_000, 0.9);
    let threshold = (INITIAL_SLOTS / 4 * 3) as u64;
    for i in 0..threshold {
        assert!(m.put(&i.to_be_bytes(), i));
    }
    assert_eq!(m.slots(), INITIAL_SLOTS);
    // Updates of keys in the map: in their home group they leave the
    // table as it is; past it they may grow it, as a new key would.
    for i in 0..threshold {
        assert!(m.put(&i.to_be_bytes(), threshold + i));
    }
    assert_eq!(m.len(), threshold as usize);
    assert!([INITIAL_SLOTS, 2 * INITIAL_SLOTS].contains(&m.slots()));
    assert_eq!(m.latest_offset(), Some(2 * threshold - 1));
    // The next new key grows the table first, if nothing did.
    assert!(m.put(b"new", 2 * threshold));
    assert_eq!(m.slots(), 2 * INITIAL_SLOTS);
    for i in 0..threshold {
        assert_eq!(m.get(&i.to_be_bytes()), Some(threshold + i), "key {i}");
    }
    assert_eq!(m.get(b"new"), Some(2 * threshold));
}

#[test]
fn another_thread_hashes_keys_as_the_map_does() {
    let m = OffsetMap::new(ENTRY_BYTES * 100, 0.9);
    let hasher = m.key_hasher();
    for key in [&b""[..], b"k", b"fourteen bytes", &[0xff; 40]] {
        let digest = m.key_hash(key);
        assert_eq!(hasher.digest(key), digest);
        assert_eq!(KeyDigest::from_words(digest.to_words()), digest);
    }
    // Bytes past those the map keeps never reach a digest.
    let digest = KeyDigest::from_words([u64::MAX, u64::MAX]);
    assert_eq!(digest, KeyDigest::new(u128::MAX));
    assert_eq!(digest.to_words()[1] >> (8 * (HASH_BYTES - 8)), 0);
}

#[test]
fn growth_ends_at_the_whole_buffer_which_fills_to_the_last_slot() {
    let mut m = OffsetMap::new(ENTRY_BYTES * 10_000, 1.0);
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
fn a_last_group_of_fewer_than_eight_slots_holds_as_many_keys() {
    for slots in [1usize, 5, 13, 4099] {
        let mut m = OffsetMap::new(ENTRY_BYTES * slots, 1.0);
        assert_eq!(m.slots(), slots.min(INITIAL_SLOTS));
        let stored = (0..2 * slots as u64 + 10)
            .filter(|&i| m.put(&i.to_le_bytes(), i + 7))
            .count();
        assert_eq!((stored, m.slots()), (slots, slots), "{slots} slots");
        for k in 0..slots as u64 {
            assert_eq!(m.get(&k.to_le_bytes()), Some(k + 7), "{slots} slots");
        }
        assert_eq!(m.get(b"absent"), None, "{slots} slots");
        // Overwrites still land when every slot is taken.
        assert!(m.put(&0u64.to_le_bytes(), 1_000));
        assert_eq!(m.get(&0u64.to_le_bytes()), Some(1_000));
    }
}

#[test]
fn control_bytes_match_exactly_the_bytes_they_are_compared_with() {
    let word = u64::from_ne_bytes([0, 1, 0x80, 0, 0xff, 0x7f, 0x81, 0]);
    let zeros = zero_bytes(word);
    let mut found = Vec::new();
    let mut m = zeros;
    while m != 0 {
        found.push(first_byte(m));
        m = without_first(m);
    }
    assert_eq!(found, [0, 3, 7]);
    // A byte of 1 above a zero byte is not taken for a zero.
    assert_eq!(
        zero_bytes(word ^ splat(0x81)),
        u64::from_ne_bytes([0, 0, 0, 0, 0, 0, 0x80, 0])
    );
    assert_eq!(zero_bytes(splat(0x80)), 0);
    assert_eq!(zero_bytes(0), splat(0x80));
}

#[test]
fn a_key_absent_from_a_map_the_cleaner_filled_takes_few_probes() {
    // At 90%, and at a load factor of 1, which the cleaner stops short
    // of: one slot in 16 stays empty.
    for (load_factor, entries, most_groups) in [(0.9, 90_000, 4.0), (1.0, 93_750, 6.0)] {
        let mut m = OffsetMap::new(ENTRY_BYTES * 100_000, load_factor);
        assert_eq!(m.max_entries(), entries);
        let mut i = 0u64;
        while !m.is_full() {
            assert!(m.put(&i.to_be_bytes(), i));
            i += 1;
        }
        assert_eq!(m.len(), entries);
        for k in 0..i {
            assert_eq!(m.get(&k.to_be_bytes()), Some(k));
        }
        let mut groups = 0;
        for k in i..i + 10_000 {
            assert_eq!(m.get(&k.to_be_bytes()), None);
            groups += m.find_counted(m.key_hash(&k.to_be_bytes())).1;
        }
        // About 3 groups of 8 slots at 90%, 4.7 at 15/16.
        let per_lookup = groups as f64 / 10_000.0;
        assert!(
            per_lookup < most_groups,
            "{load_factor}: {per_lookup} groups read per absent key"
        );
    }
}

#[test]
fn every_stride_is_coprime_with_the_groups_so_a_probe_reads_them_all() {
    for groups in 1..3_000usize {
        for step in steps_for(groups) {
            assert!((1..groups.max(2)).contains(&step), "{groups}: {step}");
            let mut seen = vec![false; groups];
            let mut g = 0;
            for _ in 0..groups {
                seen[g] = true;
                g = (g + step) % groups;
            }
            assert!(seen.iter().all(|&s| s), "{groups} groups, stride {step}");
        }
    }
    // Strides spread over the groups, not all small.
    let steps = steps_for(1 << 20);
    assert!(steps.iter().any(|&s| s > 1 << 19), "{steps:?}");
}

#[test]
fn sorting_turns_the_map_into_the_ascending_list_of_its_offsets() {
    // Enough keys for several growths, each put several times: the
    // list holds each key's latest offset once.
    let mut m = OffsetMap::new(ENTRY_BYTES * 50_000, 0.9);
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

/// What the cleaner's map pass did one key at a time: stop before the
/// first key once the map is full, or at a key the map does not take.
fn put_one_by_one(map: &mut OffsetMap, keys: &[HashedKey]) -> usize {
    for (i, key) in keys.iter().enumerate() {
        if map.is_full() || !map.put_hash(key.digest(), key.offset) {
            return i;
        }
    }
    keys.len()
}

#[test]
fn keys_put_in_blocks_land_as_keys_put_one_by_one() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut filled = 0;
    for case in 0..60u64 {
        // From maps that never fill to maps that fill mid-block, growing
        // (or not) on the way.
        let slots = [13, 100, 700, 4_099, 9_000][case as usize % 5];
        let load_factor = [0.5, 0.9, 1.0][case as usize % 3];
        let universe = 1 + next() % (slots as u64 * 2);
        let mut blocks = OffsetMap::new(ENTRY_BYTES * slots, load_factor);
        let mut single = OffsetMap::new(ENTRY_BYTES * slots, load_factor);
        let hasher = blocks.key_hasher();
        let digest_of = |k: u64| hasher.digest(&k.to_be_bytes());
        let mut offset = 0;
        let mut put_all = true;
        let mut seen = Vec::new();
        while put_all && offset < 20_000 {
            // Slices shorter and longer than a block, empty ones included.
            let len = (next() % 40) as usize;
            let keys: Vec<HashedKey> = (0..len)
                .map(|_| {
                    let k = next() % universe;
                    seen.push(k);
                    offset += 1 + next() % 3;
                    HashedKey::new(offset, digest_of(k))
                })
                .collect();
            let expected = put_one_by_one(&mut single, &keys);
            assert_eq!(blocks.put_hashed(&keys), expected, "case {case}");
            put_all = expected == keys.len();
        }
        filled += usize::from(!put_all);
        assert_eq!(blocks.len(), single.len(), "case {case}");
        assert_eq!(blocks.slots(), single.slots(), "case {case}");
        assert_eq!(
            blocks.latest_offset(),
            single.latest_offset(),
            "case {case}"
        );
        // Slot for slot, the same table.
        assert!(blocks.table == single.table, "case {case}");
        for k in seen {
            let digest = digest_of(k);
            assert_eq!(blocks.get_hash(digest), single.get_hash(digest), "key {k}");
        }
    }
    // Both ends were tried: maps that filled and maps that did not.
    assert!((10..=50).contains(&filled), "{filled} of 60 maps filled");
}

#[test]
fn a_full_or_sorted_map_takes_no_key_in_blocks() {
    let mut m = OffsetMap::new(ENTRY_BYTES * 64, 0.25);
    let keys: Vec<HashedKey> = (0..40u64)
        .map(|k| HashedKey::new(k, m.key_hash(&k.to_be_bytes())))
        .collect();
    // 16 keys fill it; the 17th is not put, nor anything after it.
    assert_eq!(m.put_hashed(&keys), 16);
    assert!(m.is_full());
    assert_eq!(m.latest_offset(), Some(15));
    // Once full, not even a key it holds.
    assert_eq!(m.put_hashed(&keys[..1]), 0);
    assert_eq!(m.get_hash(keys[0].digest()), Some(0));
    assert_eq!(m.put_hashed(&[]), 0);

    let mut m = OffsetMap::new(ENTRY_BYTES * 64, 1.0);
    assert_eq!(m.put_hashed(&keys[..10]), 10);
    m.sort_by_offset();
    assert_eq!(m.put_hashed(&keys[..10]), 0);
    assert_eq!(m.len(), 10);
}

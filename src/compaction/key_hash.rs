//! The 128-bit key hash of the offset map.
//!
//! Two keys with the same hash would make one of them lose its latest
//! record, so the hash is wide (Kafka uses MD5, also 128 bits, so that an
//! accidental collision is out of reach) and keyed with a secret of eight
//! words drawn for each map (derived from the 128 random bits of a fresh
//! `RandomState`): keys cannot be chosen to collide without knowing it,
//! where anyone can make two keys collide under Kafka's unkeyed MD5.
//!
//! It is the cleaner's most frequent computation (once per record mapped),
//! so it is built from 64 x 64 -> 128-bit multiplications folded to 64 bits
//! (the high half XOR the low half), the mixing step of today's fastest
//! quality hashes: the key is read 16 bytes at a time into two lanes, each
//! word masked with secret bits and multiplied into the lane's state, and
//! a final multiplication crosses the lanes into the low half of the
//! digest; the high half is the right lane XOR the low half, rotated (a
//! second final product, as the digest had before, took a tenth of the
//! map pass's time, for no better mixing: every bit of the digest flips
//! with one in two odds whichever bit of the key flips).
//! The length seeds both lanes, so a key and the same key with zero bytes
//! appended differ, and the last bytes are read in fixed-size pieces that
//! overlap as the length requires. A 14-byte key costs a few nanoseconds, a fifth of a
//! 128-bit SipHash-1-3.

/// A keyed 128-bit hash of byte strings; see the module docs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyHasher {
    secret: [u64; 8],
}

/// 64 x 64 -> 128-bit product, folded to 64 bits.
#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ (p >> 64) as u64
}

/// The 8 bytes at `at` as a little-endian word.
#[inline(always)]
fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The 4 bytes at `at` as a little-endian word.
#[inline(always)]
fn half_word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&bytes[at..at + 4]);
    u64::from(u32::from_le_bytes(w))
}

/// The last 1 to 15 bytes of a key as two words, read in fixed-size
/// pieces that overlap when they must (the length, mixed in already,
/// tells the cases apart): every byte lands in a word.
#[inline(always)]
fn tail_words(rest: &[u8]) -> (u64, u64) {
    let n = rest.len();
    if n >= 8 {
        (word(rest, 0), word(rest, n - 8))
    } else if n >= 4 {
        (half_word(rest, 0), half_word(rest, n - 4))
    } else if n > 0 {
        let small = u64::from(rest[0]) | u64::from(rest[n / 2]) << 8 | u64::from(rest[n - 1]) << 16;
        (small, 0)
    } else {
        (0, 0)
    }
}

impl KeyHasher {
    /// A hasher under the secret `secret`. Every word of it should be
    /// random; tests use fixed ones.
    pub(crate) fn new(secret: [u64; 8]) -> Self {
        KeyHasher { secret }
    }

    /// A hasher under a secret derived from a fresh `RandomState` (the
    /// random keys that seed `HashMap`s).
    pub(crate) fn random() -> Self {
        use std::collections::hash_map::RandomState;
        use std::hash::BuildHasher;
        let state = RandomState::new();
        let mut secret = [0u64; 8];
        for (i, s) in secret.iter_mut().enumerate() {
            // Odd, so that no word of the secret is zero.
            *s = state.hash_one(i) | 1;
        }
        Self::new(secret)
    }

    /// The 128-bit digest of `bytes`.
    #[inline]
    #[cfg(test)]
    pub(crate) fn hash(&self, bytes: &[u8]) -> [u8; 16] {
        self.hash_u128(bytes).to_le_bytes()
    }

    /// The digest as a number, whose little-endian bytes are
    /// [`hash`](Self::hash)'s.
    #[inline(always)]
    pub(crate) fn hash_u128(&self, bytes: &[u8]) -> u128 {
        let s = &self.secret;
        let len = bytes.len() as u64;
        let mut left = s[0] ^ len;
        let mut right = s[1] ^ len.rotate_left(32);
        let mut mix = |x: u64, y: u64| {
            left = fold(x ^ s[2] ^ left, y ^ s[3]);
            right = fold(y ^ s[4] ^ right, x ^ s[5]);
        };
        let mut chunks = bytes.chunks_exact(16);
        for c in &mut chunks {
            mix(word(c, 0), word(c, 8));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() || bytes.is_empty() {
            let (x, y) = tail_words(rest);
            mix(x, y);
        }
        // One product crosses the lanes; the high half keeps the right
        // lane whole (it is `b ^ a.rotate_left(32)`), so that two keys share
        // a digest only if they share both lanes or their final products
        // collide under the same right lane.
        let a = fold(left ^ s[6], right ^ s[7]);
        let b = right ^ a.rotate_left(32);
        u128::from(a) | u128::from(b) << 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const SECRET: [u64; 8] = [
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7345,
        0xa409_3822_299f_31d1,
        0x082e_fa98_ec4e_6c89,
        0x4528_21e6_38d0_1377,
        0xbe54_66cf_34e9_0c6d,
        0xc0ac_29b7_c97c_50dd,
        0x3f84_d5b5_b547_0917,
    ];

    fn halves(d: [u8; 16]) -> (u64, u64) {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&d[..8]);
        b.copy_from_slice(&d[8..]);
        (u64::from_le_bytes(a), u64::from_le_bytes(b))
    }

    #[test]
    fn each_half_alone_separates_a_million_structured_keys() {
        // Keys as applications make them: counters in text and as
        // big-endian integers, of one length and of many. A collision in
        // either 64-bit half among a million random values has a chance of
        // 1 in 36 million.
        let h = KeyHasher::new(SECRET);
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for i in 0..400_000u64 {
            keys.push(format!("key-{i:010}").into_bytes());
            keys.push(i.to_be_bytes().to_vec());
        }
        for i in 0..200_000u64 {
            keys.push(format!("user/{i}/profile").into_bytes());
        }
        let (mut lefts, mut rights) = (HashSet::new(), HashSet::new());
        for k in &keys {
            let (a, b) = halves(h.hash(k));
            assert!(lefts.insert(a), "first half collides at {k:?}");
            assert!(rights.insert(b), "second half collides at {k:?}");
        }
    }

    #[test]
    fn a_flipped_input_bit_flips_about_half_of_the_digest() {
        let h = KeyHasher::new(SECRET);
        for len in [1usize, 7, 8, 14, 16, 17, 31, 32, 40] {
            let key: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37)).collect();
            let base = halves(h.hash(&key));
            let (mut flipped, mut trials) = (0u64, 0u64);
            for bit in 0..len * 8 {
                let mut k = key.clone();
                k[bit / 8] ^= 1 << (bit % 8);
                let d = halves(h.hash(&k));
                let changed = (d.0 ^ base.0).count_ones() + (d.1 ^ base.1).count_ones();
                // No flip leaves most of the digest as it was.
                assert!(
                    (24..=104).contains(&changed),
                    "len {len}, bit {bit}: {changed}"
                );
                flipped += u64::from(changed);
                trials += 1;
            }
            let mean = flipped as f64 / trials as f64;
            assert!((56.0..=72.0).contains(&mean), "len {len}: {mean} bits");
        }
    }

    #[test]
    fn every_digest_bit_flips_with_even_odds_whichever_key_bit_flips() {
        // Random keys of the lengths that take each path of the hash; a
        // bias of 0.02 in 40,000 or more flips is over eight standard
        // deviations. (Without the final product, the digest's bits flip
        // with odds as far as 0.4 or 0.6 for keys of 3 and 8 bytes.)
        let h = KeyHasher::new(SECRET);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut random_byte = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        };
        for len in [3usize, 5, 8, 14, 16, 20, 33] {
            let mut flips = [0u32; 128];
            let mut trials = 0u32;
            while trials < 40_000 {
                let key: Vec<u8> = (0..len).map(|_| random_byte()).collect();
                let base = h.hash_u128(&key);
                for bit in 0..len * 8 {
                    let mut k = key.clone();
                    k[bit / 8] ^= 1 << (bit % 8);
                    let changed = h.hash_u128(&k) ^ base;
                    for (i, f) in flips.iter_mut().enumerate() {
                        *f += (changed >> i) as u32 & 1;
                    }
                    trials += 1;
                }
            }
            for (i, &f) in flips.iter().enumerate() {
                let odds = f64::from(f) / f64::from(trials);
                assert!((0.48..=0.52).contains(&odds), "len {len}, bit {i}: {odds}");
            }
        }
    }

    #[test]
    fn length_secret_and_every_byte_change_the_digest() {
        let h = KeyHasher::new(SECRET);
        let mut seen = HashSet::new();
        for len in 0..40u8 {
            let m: Vec<u8> = (0..len).collect();
            assert!(seen.insert(h.hash(&m)), "length {len}");
            for i in 0..m.len() {
                let mut flipped = m.clone();
                flipped[i] ^= 0x80;
                assert!(seen.insert(h.hash(&flipped)), "length {len}, byte {i}");
            }
        }
        // Trailing zero bytes are not padding.
        assert_ne!(h.hash(b""), h.hash(b"\0"));
        assert_ne!(h.hash(b"key"), h.hash(b"key\0"));
        assert_ne!(h.hash(&[0; 16]), h.hash(&[0; 32]));
        // Another secret, another digest.
        let mut other = SECRET;
        other[2] ^= 2;
        assert_ne!(h.hash(b"key"), KeyHasher::new(other).hash(b"key"));
        assert_eq!(h.hash(b"key"), KeyHasher::new(SECRET).hash(b"key"));
    }
}

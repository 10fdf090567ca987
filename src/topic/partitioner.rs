//! Which partition a record goes to.
//!
//! Keyed records are placed as Kafka's Java producer places them:
//! `to_positive(murmur2(key)) % partitions`, with [`murmur2`] the 32-bit
//! MurmurHash2 variant of Kafka's `Utils.murmur2`, so the same key bytes
//! land in the same partition as with a Kafka client (as long as the
//! partition count is the same: adding partitions moves keys). An empty key
//! is a key like any other; only a missing key (`None`) is keyless.
//!
//! Keyless records are spread with a *sticky* partitioner, as Kafka's
//! producer does since KIP-480: all of a topic's keyless records go to one
//! partition until a batch for it has been written, then another partition
//! is chosen at random. This keeps batches large while spreading load over
//! time. [`DefaultPartitioner`] implements both rules; a custom
//! [`Partitioner`] can replace it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Kafka's `Utils.murmur2`: the 32-bit MurmurHash2 of `data` with seed
/// `0x9747b28c`, as a signed int, bit for bit as Kafka computes it.
///
/// ```
/// use seglog::topic::murmur2;
/// assert_eq!(murmur2(b"21"), -973_932_308);
/// assert_eq!(murmur2(b"abc"), 479_470_107);
/// ```
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    // Kafka mixes in the length as a 32-bit int (a Java array is shorter
    // than 2^31); only its low 32 bits matter, hence the truncating cast.
    let len = data.len() as u32;
    let mut h = SEED ^ len;

    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }

    // The tail, with the fall-through of Kafka's `switch`.
    let tail = blocks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(&first) = tail.first() {
        h ^= u32::from(first);
        h = h.wrapping_mul(M);
    }

    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    i32::from_ne_bytes(h.to_ne_bytes())
}

/// Kafka's `Utils.toPositive`: `x & 0x7fffffff`, which maps negative
/// numbers to non-negative ones without `abs`'s trouble with `i32::MIN`.
pub(crate) fn to_positive(x: i32) -> i32 {
    x & 0x7fff_ffff
}

/// The partition of a keyed record, as Kafka's producer computes it:
/// `to_positive(murmur2(key)) % partitions`.
///
/// `key` is the serialized key. `partitions` must be at least 1; 0 is
/// treated as 1 (the result is then 0).
///
/// ```
/// use seglog::topic::partition_for_key;
/// assert_eq!(partition_for_key(b"foo", 3), 2);
/// assert_eq!(partition_for_key(b"foo", 12), 8);
/// ```
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    to_positive(murmur2(key)).unsigned_abs() % partitions.max(1)
}

/// Chooses the partition of a record that does not name one.
///
/// Implementations must be cheap and thread-safe: a producer calls
/// [`partition`](Partitioner::partition) for every record without a
/// partition, from any thread.
///
/// ```
/// use seglog::topic::{partition_for_key, Partitioner};
///
/// /// Keyed records by hash, keyless ones all to partition 0.
/// #[derive(Debug)]
/// struct FirstPartition;
///
/// impl Partitioner for FirstPartition {
///     fn partition(&self, _topic: &str, key: Option<&[u8]>, partitions: u32) -> u32 {
///         key.map_or(0, |key| partition_for_key(key, partitions))
///     }
/// }
///
/// let partitioner: Box<dyn Partitioner> = Box::new(FirstPartition);
/// assert_eq!(partitioner.partition("t", None, 4), 0);
/// ```
pub trait Partitioner: Send + Sync + std::fmt::Debug {
    /// The partition, below `partitions`, for a record of `topic` with the
    /// serialized key `key` (`None` for a record without a key; an empty
    /// key is `Some(&[])`).
    ///
    /// Called only for records that do not name a partition, with
    /// `partitions >= 1`, the topic's current partition count.
    fn partition(&self, topic: &str, key: Option<&[u8]>, partitions: u32) -> u32;

    /// Called by the producer after a batch for `partition` of `topic` was
    /// written, with the topic's partition count, so that a sticky
    /// partitioner can move on to another partition. The default does
    /// nothing.
    fn on_batch_complete(&self, topic: &str, partition: u32, partitions: u32) {
        let _ = (topic, partition, partitions);
    }
}

/// Kafka's Java producer's default rule.
///
/// * A record with a key (an empty key counts) goes to
///   [`partition_for_key`]`(key, partitions)`.
/// * Keyless records of a topic stick to one partition, chosen uniformly at
///   random the first time. Once
///   [`on_batch_complete`](Partitioner::on_batch_complete) reports a batch
///   for that partition, the next keyless record goes to another
///   partition, chosen uniformly at random among the others (there is only
///   one choice with one partition). If the partition count dropped so that
///   the sticky partition no longer exists, a new one is chosen.
///
/// Kafka 3.3 and later also switch after about `batch.size` bytes and
/// prefer partitions with shorter queues (adaptive partitioning); here the
/// producer decides when a batch is complete, and the choice is uniform.
///
/// The random choices come from a small internal generator; use
/// [`with_seed`](DefaultPartitioner::with_seed) for reproducible choices.
///
/// ```
/// use seglog::topic::{DefaultPartitioner, Partitioner};
///
/// let partitioner = DefaultPartitioner::with_seed(7);
/// assert_eq!(partitioner.partition("orders", Some(b"foo"), 12), 8);
///
/// let sticky = partitioner.partition("orders", None, 12);
/// assert_eq!(partitioner.partition("orders", None, 12), sticky);
/// partitioner.on_batch_complete("orders", sticky, 12);
/// assert_ne!(partitioner.partition("orders", None, 12), sticky);
/// ```
#[derive(Debug)]
pub struct DefaultPartitioner {
    state: Mutex<StickyState>,
}

#[derive(Debug)]
struct StickyState {
    rng: XorShift64Star,
    /// The current partition for keyless records, per topic.
    sticky: HashMap<String, u32>,
}

impl DefaultPartitioner {
    /// A partitioner whose random choices are seeded from the system time
    /// (and a per-process counter, so partitioners made at the same instant
    /// differ).
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let nanos = u64::try_from(nanos & u128::from(u64::MAX)).unwrap_or(0);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        Self::with_seed(nanos ^ count.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    /// A partitioner whose random choices are determined by `seed`: two
    /// partitioners with the same seed, called the same way, choose the
    /// same partitions.
    pub fn with_seed(seed: u64) -> Self {
        DefaultPartitioner {
            state: Mutex::new(StickyState {
                rng: XorShift64Star::new(seed),
                sticky: HashMap::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, StickyState> {
        // Every update of the state is a single assignment, so a thread
        // that panicked while holding the lock cannot have left it
        // half-changed: carry on with it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for DefaultPartitioner {
    /// Same as [`DefaultPartitioner::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl Partitioner for DefaultPartitioner {
    fn partition(&self, topic: &str, key: Option<&[u8]>, partitions: u32) -> u32 {
        if let Some(key) = key {
            return partition_for_key(key, partitions);
        }
        let partitions = partitions.max(1);
        let mut guard = self.state();
        let StickyState { rng, sticky } = &mut *guard;
        match sticky.get_mut(topic) {
            Some(current) if *current < partitions => *current,
            Some(current) => {
                *current = rng.below(partitions);
                *current
            }
            None => {
                let chosen = rng.below(partitions);
                sticky.insert(topic.to_owned(), chosen);
                chosen
            }
        }
    }

    fn on_batch_complete(&self, topic: &str, partition: u32, partitions: u32) {
        let partitions = partitions.max(1);
        let mut guard = self.state();
        let StickyState { rng, sticky } = &mut *guard;
        if let Some(current) = sticky.get_mut(topic) {
            if *current == partition {
                *current = rng.other_than(partition, partitions);
            }
        }
    }
}

/// Marsaglia's xorshift64* generator: small, fast, and good enough to
/// spread partitions. Not for anything that needs unpredictability.
#[derive(Debug)]
struct XorShift64Star {
    state: u64,
}

impl XorShift64Star {
    fn new(seed: u64) -> Self {
        // SplitMix64 spreads similar seeds apart; the state must not be 0.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        XorShift64Star {
            state: if z == 0 { 0x2545_f491_4f6c_dd1d } else { z },
        }
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n`, for `n >= 1` (multiply-shift, no modulo bias
    /// worth speaking of).
    fn below(&mut self, n: u32) -> u32 {
        let scaled = (u128::from(self.next_u64()) * u128::from(n)) >> 64;
        // `scaled < n`, so it always fits.
        u32::try_from(scaled).unwrap_or(0)
    }

    /// Uniform in `0..n` without `avoid`, when there is another choice.
    fn other_than(&mut self, avoid: u32, n: u32) -> u32 {
        if n <= 1 || avoid >= n {
            return self.below(n);
        }
        let r = self.below(n - 1);
        if r >= avoid {
            r + 1
        } else {
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const VECTORS: &[(&str, i32)] = &[
        ("21", -973_932_308),
        ("foobar", -790_332_482),
        ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829),
        (
            "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58_897_971,
        ),
        ("abc", 479_470_107),
        ("foo", 597_841_616),
        ("key-1", 193_331_640),
        ("", 275_646_681),
    ];

    #[test]
    fn murmur2_matches_kafkas_vectors() {
        for &(key, expected) in VECTORS {
            assert_eq!(murmur2(key.as_bytes()), expected, "{key:?}");
        }
    }

    #[test]
    fn murmur2_covers_every_tail_length_and_high_bytes() {
        // Each tail length takes a different path; bytes >= 0x80 must be
        // taken unsigned, as Kafka masks them with 0xff.
        let data = [0xffu8, 0x80, 0x7f, 0x01, 0xfe, 0x81, 0x00];
        let hashes: Vec<i32> = (0..=data.len()).map(|n| murmur2(&data[..n])).collect();
        for (i, a) in hashes.iter().enumerate() {
            for b in &hashes[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn to_positive_masks_the_sign_bit() {
        assert_eq!(to_positive(0), 0);
        assert_eq!(to_positive(5), 5);
        assert_eq!(to_positive(-1), 0x7fff_ffff);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(i32::MAX), i32::MAX);
        assert_eq!(to_positive(-973_932_308), 1_173_551_340);
    }

    #[test]
    fn keys_map_to_hash_mod_partitions() {
        assert_eq!(partition_for_key(b"foo", 3), 2);
        assert_eq!(partition_for_key(b"foo", 12), 8);
        let partitioner = DefaultPartitioner::with_seed(1);
        for &(key, hash) in VECTORS {
            for n in 1..=64u32 {
                let expected = u32::try_from(to_positive(hash)).unwrap() % n;
                assert_eq!(partition_for_key(key.as_bytes(), n), expected);
                // Keyed records are never sticky, whatever happened before.
                partitioner.on_batch_complete("t", expected, n);
                assert_eq!(
                    partitioner.partition("t", Some(key.as_bytes()), n),
                    expected
                );
            }
        }
        assert_eq!(partition_for_key(b"foo", 0), 0);
    }

    #[test]
    fn an_empty_key_is_a_key() {
        let partitioner = DefaultPartitioner::with_seed(3);
        for n in 1..=50 {
            assert_eq!(partitioner.partition("t", Some(&[]), n), 275_646_681 % n);
        }
    }

    #[test]
    fn keyless_records_stick_until_their_batch_completes() {
        let n = 7;
        let partitioner = DefaultPartitioner::with_seed(42);
        let mut current = partitioner.partition("t", None, n);
        let mut visits = [0u32; 7];
        for _ in 0..2000 {
            assert!(current < n);
            visits[current as usize] += 1;
            for _ in 0..5 {
                assert_eq!(partitioner.partition("t", None, n), current);
            }
            // A batch for another partition (or another topic) changes nothing.
            partitioner.on_batch_complete("t", (current + 1) % n, n);
            partitioner.on_batch_complete("other", current, n);
            assert_eq!(partitioner.partition("t", None, n), current);

            partitioner.on_batch_complete("t", current, n);
            let next = partitioner.partition("t", None, n);
            assert_ne!(next, current);
            current = next;
        }
        // Every partition is visited, roughly uniformly (2000 / 7 ~ 286).
        for (p, &count) in visits.iter().enumerate() {
            assert!((150..450).contains(&count), "partition {p}: {visits:?}");
        }
    }

    #[test]
    fn topics_stick_independently() {
        let partitioner = DefaultPartitioner::with_seed(9);
        let a = partitioner.partition("a", None, 1000);
        let b = partitioner.partition("b", None, 1000);
        partitioner.on_batch_complete("a", a, 1000);
        assert_ne!(partitioner.partition("a", None, 1000), a);
        assert_eq!(partitioner.partition("b", None, 1000), b);
    }

    #[test]
    fn a_single_partition_is_always_chosen() {
        let partitioner = DefaultPartitioner::with_seed(5);
        for _ in 0..10 {
            assert_eq!(partitioner.partition("t", None, 1), 0);
            partitioner.on_batch_complete("t", 0, 1);
        }
        // A 0 from a careless caller is treated as 1.
        assert_eq!(partitioner.partition("t", None, 0), 0);
    }

    #[test]
    fn a_sticky_partition_out_of_range_is_chosen_again() {
        // Find a seed whose first choice among 12 is beyond 3 partitions.
        let (partitioner, first) = (0..)
            .map(|seed| {
                let p = DefaultPartitioner::with_seed(seed);
                let first = p.partition("t", None, 12);
                (p, first)
            })
            .find(|&(_, first)| first >= 3)
            .unwrap();
        let shrunk = partitioner.partition("t", None, 3);
        assert!(shrunk < 3);
        // The new choice sticks, and still does when partitions are added.
        assert_eq!(partitioner.partition("t", None, 3), shrunk);
        assert_eq!(partitioner.partition("t", None, 12), shrunk);
        assert_ne!(shrunk, first);
        // A completed batch for a partition that is no longer current is
        // ignored.
        partitioner.on_batch_complete("t", first, 12);
        assert_eq!(partitioner.partition("t", None, 12), shrunk);
    }

    #[test]
    fn the_same_seed_makes_the_same_choices() {
        let run = |seed| {
            let p = DefaultPartitioner::with_seed(seed);
            (0..100)
                .map(|_| {
                    let chosen = p.partition("t", None, 10);
                    p.on_batch_complete("t", chosen, 10);
                    chosen
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
        // Seed 0 is as good as any.
        let zero = run(0);
        assert!(zero.iter().any(|&p| p != zero[0]));
        // Unseeded partitioners work too.
        let p = DefaultPartitioner::new();
        assert!(p.partition("t", None, 10) < 10);
        assert!(DefaultPartitioner::default().partition("t", None, 10) < 10);
    }

    #[test]
    fn shared_between_threads() {
        let partitioner: Arc<dyn Partitioner> = Arc::new(DefaultPartitioner::with_seed(8));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let partitioner = Arc::clone(&partitioner);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        let p = partitioner.partition("t", None, 16);
                        assert!(p < 16);
                        if i % 2 == 0 {
                            partitioner.on_batch_complete("t", p, 16);
                        }
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
    }

    /// Round-robin over all partitions, ignoring keys.
    #[derive(Debug, Default)]
    struct RoundRobin {
        next: AtomicU64,
    }

    impl Partitioner for RoundRobin {
        fn partition(&self, _topic: &str, _key: Option<&[u8]>, partitions: u32) -> u32 {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            u32::try_from(n % u64::from(partitions)).unwrap()
        }
    }

    #[test]
    fn a_custom_partitioner_is_a_trait_object() {
        let partitioners: Vec<Box<dyn Partitioner>> = vec![
            Box::new(RoundRobin::default()),
            Box::new(DefaultPartitioner::with_seed(1)),
        ];
        let rr = &partitioners[0];
        let chosen: Vec<u32> = (0..6).map(|_| rr.partition("t", Some(b"k"), 3)).collect();
        assert_eq!(chosen, [0, 1, 2, 0, 1, 2]);
        // The provided on_batch_complete does nothing.
        rr.on_batch_complete("t", 0, 3);
        assert_eq!(rr.partition("t", None, 3), 0);
        assert_eq!(partitioners[1].partition("t", Some(b"foo"), 12), 8);
        fn assert_send_sync<T: Send + Sync + ?Sized>(_: &T) {}
        assert_send_sync(&*partitioners[0]);
    }
}

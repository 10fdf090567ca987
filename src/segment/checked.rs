//! How much of a segment's `.log` has passed its CRC checks.
//!
//! A [`CheckedPrefix`] remembers the position up to which every batch of
//! the file, from its start, was read whole and passed its CRC check since
//! the segment was opened, last changed state (sealed by a roll, made
//! active by a truncation) or was cut by a truncation. A reader that finds
//! a batch below it may trust the batch without checking it again; see
//! `CrcCheck` in the log's reader. Bytes below the prefix never change
//! otherwise: appends only add bytes after the end.
//!
//! The position and a count of resets share one atomic word, so a check
//! that started before a reset can neither trust the prefix after it nor
//! extend it. A reader takes its [`CheckedAt`] before it reads the file
//! and asks [`covers`] after: the reset comes before any byte of the file
//! changes, so bytes read after a change are never judged by a prefix
//! from before it.
//!
//! [`covers`]: CheckedAt::covers

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bits of the word that hold the position: 1 TiB, past any segment
/// (Kafka's `segment.bytes` is an `int`).
const POSITION_BITS: u32 = 40;
const POSITION_MASK: u64 = (1 << POSITION_BITS) - 1;

/// The checked prefix of one segment's `.log`; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct CheckedPrefix {
    /// The count of resets (high bits) and the checked position (low
    /// bits).
    word: AtomicU64,
}

impl CheckedPrefix {
    /// Forgets the prefix, before bytes of the file change: checks made
    /// before count no more.
    pub(crate) fn reset(&self) {
        let word = self.word.load(Ordering::Acquire);
        let resets = (word >> POSITION_BITS).wrapping_add(1);
        self.word.store(resets << POSITION_BITS, Ordering::Release);
    }

    /// The prefix now, to take before reading the file.
    pub(crate) fn at(self: &Arc<Self>) -> CheckedAt {
        let word = self.word.load(Ordering::Acquire);
        CheckedAt {
            prefix: self.clone(),
            resets: word >> POSITION_BITS,
        }
    }

    #[cfg(test)]
    fn position(&self) -> u64 {
        self.word.load(Ordering::Acquire) & POSITION_MASK
    }
}

/// A [`CheckedPrefix`] as it was when a read began.
#[derive(Debug, Clone)]
pub(crate) struct CheckedAt {
    prefix: Arc<CheckedPrefix>,
    resets: u64,
}

impl CheckedAt {
    /// Whether the bytes before `end`, read since this was taken, lie in
    /// batches already checked since the last reset.
    pub(crate) fn covers(&self, end: u64) -> bool {
        let word = self.prefix.word.load(Ordering::Acquire);
        word >> POSITION_BITS == self.resets && end <= word & POSITION_MASK
    }

    /// Records that the batch at `start..end` passed its check: the prefix
    /// grows to `end` if it reaches `start` and was not reset since.
    pub(crate) fn checked(&self, start: u64, end: u64) {
        if end > POSITION_MASK {
            return;
        }
        let grow = |word: u64| {
            let same = word >> POSITION_BITS == self.resets;
            let position = word & POSITION_MASK;
            (same && start <= position && end > position)
                .then_some((self.resets << POSITION_BITS) | end)
        };
        // A failure means another reader got there first, or a reset came
        // between: either way there is nothing to record.
        let _ = self
            .prefix
            .word
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, grow);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_grows_only_from_its_end() {
        let prefix = Arc::new(CheckedPrefix::default());
        let at = prefix.at();
        assert!(at.covers(0));
        assert!(!at.covers(1));
        // A batch past the prefix leaves a gap: not recorded.
        at.checked(100, 200);
        assert_eq!(prefix.position(), 0);
        at.checked(0, 100);
        at.checked(100, 200);
        assert_eq!(prefix.position(), 200);
        assert!(at.covers(200));
        assert!(!at.covers(201));
        // A batch inside the prefix changes nothing.
        at.checked(50, 150);
        assert_eq!(prefix.position(), 200);
    }

    #[test]
    fn a_reset_forgets_the_prefix_and_reads_from_before_cannot_use_or_grow_it() {
        let prefix = Arc::new(CheckedPrefix::default());
        let before = prefix.at();
        before.checked(0, 100);
        prefix.reset();
        assert_eq!(prefix.position(), 0);
        // A read that began before the change trusts nothing.
        assert!(!before.covers(50));
        before.checked(0, 100);
        assert_eq!(prefix.position(), 0);
        // A read after it starts from nothing.
        let after = prefix.at();
        assert!(!after.covers(50));
        after.checked(0, 100);
        assert!(after.covers(100));
        assert!(!before.covers(100));
    }

    #[test]
    fn positions_past_the_word_are_never_recorded() {
        let prefix = Arc::new(CheckedPrefix::default());
        let at = prefix.at();
        at.checked(0, POSITION_MASK + 1);
        assert_eq!(prefix.position(), 0);
    }
}

//! A read buffer whose first byte sits on a page boundary.
//!
//! Copying from the page cache into a destination that starts a few bytes
//! past a page boundary is several times slower on common hardware than
//! into an aligned one, so every large read buffer in seglog is aligned.
//! Alignment is obtained safely, by over-allocating a `Vec` and starting
//! at the first aligned byte inside it.
//!
//! Buffers of up to [`POOLED_MAX`] bytes go back to a small per-thread pool
//! when dropped, so a read path that needs one per call (a random read)
//! neither allocates nor zero-fills after the first call.

use std::cell::RefCell;
use std::io;

use crate::io::FileHandle;

const PAGE: usize = 4096;
/// Largest buffer kept for reuse.
const POOLED_MAX: usize = 4 << 20;
/// Buffers kept per thread.
const POOL_SIZE: usize = 4;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A growable, page-aligned window of bytes read from a file.
#[derive(Debug)]
pub(crate) struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let pooled = POOL
            .try_with(|p| p.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        let mut buf = AlignedBuf {
            start: pooled.as_ptr().align_offset(PAGE).min(pooled.len()),
            storage: pooled,
            len: 0,
        };
        buf.reserve(capacity);
        buf
    }

    pub(crate) fn capacity(&self) -> usize {
        self.storage.len() - self.start
    }

    /// Makes room for at least `capacity` bytes, dropping the contents if
    /// the buffer has to grow.
    pub(crate) fn reserve(&mut self, capacity: usize) {
        if self.capacity() >= capacity && !self.storage.is_empty() {
            return;
        }
        let capacity = capacity.max(PAGE).next_multiple_of(PAGE);
        // `vec![0; n]` comes from zeroed pages, so this costs no writes.
        self.storage = vec![0; capacity + PAGE];
        let misalignment = self.storage.as_ptr().align_offset(PAGE);
        self.start = if misalignment < PAGE { misalignment } else { 0 };
        self.len = 0;
    }

    /// The bytes currently held.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    /// Replaces the contents with up to `want` bytes read from `file` at
    /// `pos` (fewer only at the end of the file); returns how many.
    pub(crate) fn fill(
        &mut self,
        file: &dyn FileHandle,
        pos: u64,
        want: usize,
    ) -> io::Result<usize> {
        self.reserve(want);
        self.len = 0;
        let dest = &mut self.storage[self.start..self.start + want];
        let mut filled = 0;
        while filled < want {
            match file.read_at(&mut dest[filled..], pos + filled as u64)? {
                0 => break,
                n => filled += n,
            }
        }
        self.len = filled;
        Ok(filled)
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if self.storage.is_empty() || self.storage.len() > POOLED_MAX + PAGE {
            return;
        }
        let storage = std::mem::take(&mut self.storage);
        let _ = POOL.try_with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOL_SIZE {
                p.push(storage);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{Fs, MemFs, OpenMode};
    use std::path::Path;

    #[test]
    fn buffer_is_page_aligned_and_reads_ranges() {
        let fs = MemFs::new();
        let f = fs.open(Path::new("f"), OpenMode::Create).unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        f.write_all_at(&data, 0).unwrap();
        let mut buf = AlignedBuf::with_capacity(100);
        assert_eq!(buf.bytes().as_ptr() as usize % PAGE, 0);
        assert_eq!(buf.fill(&*f, 5, 100).unwrap(), 100);
        assert_eq!(buf.bytes(), &data[5..105]);
        assert_eq!(buf.fill(&*f, 9_990, 5000).unwrap(), 10);
        assert_eq!(buf.bytes(), &data[9_990..]);
        assert_eq!(buf.bytes().as_ptr() as usize % PAGE, 0);
    }

    #[test]
    fn dropped_buffers_are_reused_aligned() {
        let first = AlignedBuf::with_capacity(8192);
        let ptr = first.storage.as_ptr();
        drop(first);
        let again = AlignedBuf::with_capacity(100);
        assert_eq!(again.storage.as_ptr(), ptr, "the pooled buffer is reused");
        assert_eq!(again.storage[again.start..].as_ptr() as usize % PAGE, 0);
        assert!(again.capacity() >= 8192);
    }
}

//! Walking the batches of a `.log` file.
//!
//! The walk follows Kafka's file iterator: read a batch's length, step over
//! it, repeat. It reads the file in page-aligned chunks so that finding the
//! next header rarely costs a system call, and it checks what a batch
//! header alone can show: a sane length and magic, a base offset not below
//! the segment's, offsets strictly increasing from batch to batch, and a
//! last offset that fits a 32-bit relative offset. CRCs and records are
//! checked by callers that read the batch's bytes
//! ([`Scanner::batch_bytes`]).
//!
//! A walk ends cleanly exactly at the end it was given. Anything else (a
//! batch cut short, a header that cannot be a batch, offsets out of order)
//! is reported as [`Step::Invalid`] with the byte position of the batch:
//! recovery truncates there, readers report corruption there. The step
//! also says whether the batch is only *incomplete*: a sane start of a
//! batch that runs past the end, as a write still in progress (or torn by
//! a crash) leaves it. A read-only view may end quietly before such a
//! batch; anything else is damage.

use std::io;
use std::path::Path;

use crate::aligned::AlignedBuf;
use crate::io::{FileHandle, IoContext};
use crate::record::{peek_frame, BatchHeader, Frame, BATCH_HEADER_LEN};

/// One batch found by a walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScannedBatch {
    pub(crate) position: u64,
    pub(crate) header: BatchHeader,
}

impl ScannedBatch {
    pub(crate) fn end(&self) -> u64 {
        self.position + self.header.size() as u64
    }
}

/// What the next step of a walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A batch with a sane header.
    Batch(ScannedBatch),
    /// The walk reached its end exactly.
    End,
    /// No valid batch starts at `position`.
    Invalid {
        position: u64,
        reason: String,
        /// Whether the bytes from `position` to the end are the sane start
        /// of a batch cut short by the end: fewer bytes than a header, or
        /// a header (as far as it is there) that checks out but declares
        /// more bytes than remain.
        incomplete: bool,
    },
}

/// Walks the batches of a segment's `.log` between two positions.
pub(crate) struct Scanner<'f> {
    source: Source<'f>,
    segment_base: u64,
    pos: u64,
    end: u64,
    prev_last: Option<u64>,
}

/// What a walk reads.
enum Source<'f> {
    /// The file, read a chunk at a time into `buf`, which holds its bytes
    /// from `buf_pos`; a read takes at least `chunk` bytes.
    File {
        file: &'f dyn FileHandle,
        buf: AlignedBuf,
        buf_pos: u64,
        chunk: usize,
    },
    /// The file's bytes, from its start, all there (a memory map).
    Bytes(&'f [u8]),
}

/// The error of a window that runs past the end of the file, at `at`.
fn cut_short(at: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("file ended at byte {at} inside a batch"),
    )
}

/// A page: large reads start at a multiple of it.
const PAGE: u64 = 4096;
/// Reads of at least this many bytes start at a page boundary.
const ALIGNED_READ_MIN: usize = 64 << 10;

/// Chunk size for walks that only need headers.
pub(crate) const HEADER_CHUNK: usize = 8 << 10;
/// Chunk size for walks that read whole batches (recovery, verification).
pub(crate) const BULK_CHUNK: usize = 1 << 20;

impl<'f> Scanner<'f> {
    /// A walk over `[start, end)` of `file`, which holds the segment based
    /// at `segment_base`. `start` must be the position of a batch.
    pub(crate) fn new(
        file: &'f dyn FileHandle,
        segment_base: u64,
        start: u64,
        end: u64,
        chunk: usize,
    ) -> Self {
        Scanner {
            source: Source::File {
                file,
                buf: AlignedBuf::with_capacity(chunk),
                buf_pos: start,
                chunk,
            },
            segment_base,
            pos: start,
            end,
            prev_last: None,
        }
    }

    /// A walk over `[start, end)` of `bytes`, the contents of the `.log`
    /// file of the segment based at `segment_base` from its first byte (a
    /// memory map of it): the walk's windows are slices of `bytes`, which
    /// it never copies. A file shorter than `end` is a batch cut short, as
    /// it is to a walk that reads.
    pub(crate) fn over_bytes(bytes: &'f [u8], segment_base: u64, start: u64, end: u64) -> Self {
        Scanner {
            source: Source::Bytes(bytes),
            segment_base,
            pos: start,
            end,
            prev_last: None,
        }
    }

    /// Continues a walk whose previous batch ended at `prev_last` (the
    /// next batch must start above it).
    pub(crate) fn after(mut self, prev_last: Option<u64>) -> Self {
        self.prev_last = prev_last;
        self
    }

    /// Reads at least `chunk` bytes (up to the end) whenever the window
    /// must move from now on (a walk over bytes reads nothing).
    pub(crate) fn set_chunk(&mut self, chunk: usize) {
        if let Source::File { chunk: c, .. } = &mut self.source {
            *c = chunk;
        }
    }

    /// Makes the window hold `[start, start + len)`. Large reads start at
    /// a page boundary of the file, so that the kernel copies whole pages
    /// of its cache to whole pages of the (page-aligned) buffer, several
    /// times faster than at an offset within a page.
    fn window(&mut self, start: u64, len: usize) -> io::Result<&[u8]> {
        let (file, buf, buf_pos, chunk) = match &mut self.source {
            Source::File {
                file,
                buf,
                buf_pos,
                chunk,
            } => (*file, buf, buf_pos, *chunk),
            Source::Bytes(bytes) => {
                let range = usize::try_from(start)
                    .ok()
                    .and_then(|from| Some(from..from.checked_add(len)?));
                return range
                    .and_then(|r| bytes.get(r))
                    .ok_or_else(|| cut_short(bytes.len() as u64));
            }
        };
        let held = buf.bytes().len() as u64;
        if !(start >= *buf_pos && start + len as u64 <= *buf_pos + held) {
            let size = len.max(chunk).min((self.end - start) as usize).max(len);
            let from = if size >= ALIGNED_READ_MIN {
                start - start % PAGE
            } else {
                start
            };
            let lead = (start - from) as usize;
            let want = lead + size;
            let got = buf.fill(file, from, want)?;
            *buf_pos = from;
            if got < lead + len {
                return Err(cut_short(from + got as u64));
            }
        }
        let from = (start - *buf_pos) as usize;
        Ok(&buf.bytes()[from..from + len])
    }

    /// Finds the next batch. I/O errors are returned as such; anything that
    /// is not a valid batch is a [`Step::Invalid`].
    pub(crate) fn next(&mut self) -> io::Result<Step> {
        let pos = self.pos;
        if pos >= self.end {
            return Ok(Step::End);
        }
        let remaining = self.end - pos;
        let want = (BATCH_HEADER_LEN as u64).min(remaining) as usize;
        let head = self.window(pos, want)?;
        let invalid = |reason: String, incomplete: bool| {
            Ok(Step::Invalid {
                position: pos,
                reason,
                incomplete,
            })
        };
        let size = match peek_frame(head) {
            Ok(Frame::Short) => {
                return invalid(
                    format!(
                        "truncated batch at position {pos}: only {remaining} bytes remain, too few for a batch header"
                    ),
                    true,
                )
            }
            Ok(Frame::Batch { size }) => size,
            Err(e) => {
                return invalid(
                    format!("invalid batch at position {pos}: {}", e.reason),
                    false,
                )
            }
        };
        let whole_header = head.len() == BATCH_HEADER_LEN;
        if size as u64 > remaining {
            // A header that is all there must check out for the batch to
            // be one a writer is still writing.
            if whole_header {
                if let Err(reason) = BatchHeader::parse(head)
                    .map_err(|e| format!("invalid batch at position {pos}: {}", e.reason))
                    .and_then(|h| self.check_offsets(&h))
                {
                    return invalid(reason, false);
                }
            }
            return invalid(
                format!(
                    "truncated batch at position {pos}: it declares {size} bytes but only {remaining} remain"
                ),
                true,
            );
        }
        let header = match BatchHeader::parse(head) {
            Ok(h) => h,
            Err(e) => {
                return invalid(
                    format!("invalid batch at position {pos}: {}", e.reason),
                    false,
                )
            }
        };
        if let Err(reason) = self.check_offsets(&header) {
            return invalid(reason, false);
        }
        self.prev_last = Some(header.last_offset());
        self.pos = pos + size as u64;
        Ok(Step::Batch(ScannedBatch {
            position: pos,
            header,
        }))
    }

    /// Checks a header's offsets against the segment and the batch before.
    fn check_offsets(&self, header: &BatchHeader) -> Result<(), String> {
        if header.base_offset < self.segment_base {
            return Err(format!(
                "batch base offset {} is below the segment's base offset {}",
                header.base_offset, self.segment_base
            ));
        }
        if header.last_offset() - self.segment_base > i32::MAX as u64 {
            return Err(format!(
                "batch last offset {} is more than 2^31-1 above the segment's base offset {}",
                header.last_offset(),
                self.segment_base
            ));
        }
        if let Some(prev) = self.prev_last {
            if header.base_offset <= prev {
                return Err(format!(
                    "offsets not strictly increasing: base offset {} <= last offset {prev} of the previous batch",
                    header.base_offset
                ));
            }
        }
        Ok(())
    }

    /// The next batch, or `None` at the end, for walks to which anything
    /// but a valid batch is damage: [`Error::Corrupt`](crate::Error::Corrupt)
    /// at its position in `path` (the file walked), I/O errors as
    /// [`Error::Io`](crate::Error::Io).
    pub(crate) fn next_intact(&mut self, path: &Path) -> crate::Result<Option<ScannedBatch>> {
        match self.next().ctx("read", path)? {
            Step::Batch(b) => Ok(Some(b)),
            Step::End => Ok(None),
            Step::Invalid {
                position, reason, ..
            } => Err(crate::Error::corrupt(path, position, reason)),
        }
    }

    /// The whole bytes of a batch this walk returned.
    pub(crate) fn batch_bytes(&mut self, batch: &ScannedBatch) -> io::Result<&[u8]> {
        self.window(batch.position, batch.header.size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{Fs, MemFs, OpenMode};
    use crate::record::{BatchBuilder, Record};
    use std::path::Path;
    use std::sync::Arc;

    fn log_with(batches: &[(u64, usize)]) -> (Arc<dyn FileHandle>, Vec<u64>) {
        let fs = MemFs::new();
        let f = fs.open(Path::new("l"), OpenMode::Create).unwrap();
        let mut pos = 0u64;
        let mut positions = Vec::new();
        for &(base, n) in batches {
            let records: Vec<Record> = (0..n)
                .map(|i| Record::new(vec![b'x'; 100]).with_timestamp(i as i64))
                .collect();
            let bytes = BatchBuilder::new()
                .base_offset(base)
                .build(&records)
                .unwrap();
            f.write_all_at(&bytes, pos).unwrap();
            positions.push(pos);
            pos += bytes.len() as u64;
        }
        (f, positions)
    }

    fn walk(f: &dyn FileHandle, base: u64, end: u64, chunk: usize) -> (Vec<u64>, Step) {
        let mut s = Scanner::new(f, base, 0, end, chunk);
        let mut seen = Vec::new();
        loop {
            match s.next().unwrap() {
                Step::Batch(b) => seen.push(b.position),
                other => return (seen, other),
            }
        }
    }

    #[test]
    fn walks_every_batch_with_small_and_large_chunks() {
        let (f, positions) = log_with(&[(0, 3), (3, 50), (53, 1), (54, 7)]);
        let len = f.len().unwrap();
        for chunk in [64, 100, 4096, 1 << 20] {
            let (seen, step) = walk(&*f, 0, len, chunk);
            assert_eq!(seen, positions, "chunk {chunk}");
            assert_eq!(step, Step::End);
        }
    }

    #[test]
    fn a_cut_batch_is_invalid_at_its_start() {
        let (f, positions) = log_with(&[(0, 3), (3, 5)]);
        let len = f.len().unwrap();
        for cut in [1, 16, 17, 60, 61, 200] {
            let (seen, step) = walk(&*f, 0, len - cut, 4096);
            assert_eq!(seen, positions[..1]);
            match step {
                Step::Invalid {
                    position,
                    reason,
                    incomplete,
                } => {
                    assert_eq!(position, positions[1]);
                    assert!(reason.contains("truncated batch at position"), "{reason}");
                    assert!(incomplete, "cut {cut}");
                }
                other => panic!("cut {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_cut_batch_whose_header_cannot_be_right_is_not_incomplete() {
        // The second batch's offsets go back: cut short, it is damage as
        // soon as its whole header is there, and until then incomplete.
        let (f, positions) = log_with(&[(0, 10), (5, 2)]);
        let len = f.len().unwrap();
        let header_end = positions[1] + BATCH_HEADER_LEN as u64;
        for end in [len - 1, header_end] {
            let (_, step) = walk(&*f, 0, end, 4096);
            assert_eq!(
                step,
                Step::Invalid {
                    position: positions[1],
                    reason: "offsets not strictly increasing: base offset 5 <= last offset 9 of the previous batch".into(),
                    incomplete: false,
                },
                "end {end}"
            );
        }
        let (_, step) = walk(&*f, 0, header_end - 1, 4096);
        assert!(
            matches!(step, Step::Invalid { incomplete: true, ref reason, .. } if reason.contains("truncated batch")),
            "{step:?}"
        );
        // A base offset below the segment's, or a header that does not
        // parse (a negative records count), as well.
        let (_, step) = walk(&*f, 6, positions[1] + 100, 4096);
        assert!(
            matches!(step, Step::Invalid { position: 0, incomplete: false, ref reason } if reason.contains("below the segment's base offset 6")),
            "{step:?}"
        );
        let mut bytes = vec![0u8; 100];
        f.read_exact_at(&mut bytes, 0).unwrap();
        // The records count, the header's last field.
        bytes[57..61].copy_from_slice(&(-1i32).to_be_bytes());
        let fs = MemFs::new();
        let g = fs.open(Path::new("g"), OpenMode::Create).unwrap();
        g.write_all_at(&bytes, 0).unwrap();
        let (_, step) = walk(&*g, 0, 100, 4096);
        assert!(
            matches!(step, Step::Invalid { position: 0, incomplete: false, ref reason } if reason.contains("negative records count")),
            "{step:?}"
        );
    }

    #[test]
    fn offsets_must_increase_and_stay_above_the_base() {
        let (f, positions) = log_with(&[(0, 10), (5, 2)]);
        let (_, step) = walk(&*f, 0, f.len().unwrap(), 4096);
        assert_eq!(
            step,
            Step::Invalid {
                position: positions[1],
                reason: "offsets not strictly increasing: base offset 5 <= last offset 9 of the previous batch".into(),
                incomplete: false,
            }
        );
        let (seen, step) = walk(&*f, 3, f.len().unwrap(), 4096);
        assert!(seen.is_empty());
        assert!(
            matches!(step, Step::Invalid { position: 0, reason, incomplete: false } if reason.contains("is below the segment's base offset 3"))
        );
    }

    #[test]
    fn zeros_are_invalid() {
        let fs = MemFs::new();
        let f = fs.open(Path::new("z"), OpenMode::Create).unwrap();
        f.write_all_at(&[0u8; 200], 0).unwrap();
        let (_, step) = walk(&*f, 0, 200, 4096);
        assert!(
            matches!(step, Step::Invalid { position: 0, reason, incomplete: false } if reason.contains("length 0"))
        );
    }

    /// Every step of a walk over `[0, end)` of `f`, with its batches'
    /// bytes, and the error that stopped it, if any.
    type Walked = (Vec<(Step, Vec<u8>)>, Option<io::ErrorKind>);

    fn steps(mut s: Scanner<'_>) -> Walked {
        let mut out = Vec::new();
        loop {
            let step = match s.next() {
                Ok(step) => step,
                Err(e) => return (out, Some(e.kind())),
            };
            let bytes = match &step {
                Step::Batch(b) => match s.batch_bytes(b) {
                    Ok(bytes) => bytes.to_vec(),
                    Err(e) => return (out, Some(e.kind())),
                },
                _ => Vec::new(),
            };
            let last = !matches!(step, Step::Batch(_));
            out.push((step, bytes));
            if last {
                return (out, None);
            }
        }
    }

    #[test]
    fn a_walk_over_mapped_bytes_steps_as_a_walk_that_reads() {
        let (f, positions) = log_with(&[(0, 3), (3, 50), (53, 1), (54, 7)]);
        let len = f.len().unwrap();
        let bytes = f.map().unwrap();
        assert_eq!(bytes.len() as u64, len);
        // Whole, cut inside a header and inside a batch, and from a later
        // batch on.
        for (start, end) in [
            (0, len),
            (0, positions[2] + 30),
            (0, len - 1),
            (positions[1], len),
        ] {
            let read = steps(Scanner::new(&*f, 0, start, end, 4096));
            let mapped = steps(Scanner::over_bytes(&bytes, 0, start, end));
            assert_eq!(mapped, read, "[{start}, {end})");
            assert!(read.1.is_none());
        }
        // A file shorter than the walk's end: the batch it cuts is an I/O
        // error (the end was the segment's size), as where the walk reads.
        let short = &bytes[..positions[3] as usize + 70];
        let mapped = steps(Scanner::over_bytes(short, 0, 0, len));
        assert_eq!(mapped.1, Some(io::ErrorKind::UnexpectedEof));
        assert_eq!(mapped.0.len(), 3);
        let fs = MemFs::new();
        let g = fs.open(Path::new("short"), OpenMode::Create).unwrap();
        g.write_all_at(short, 0).unwrap();
        assert_eq!(steps(Scanner::new(&*g, 0, 0, len, 4096)), mapped);
    }
}

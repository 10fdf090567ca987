//! Checks of a closed segment's index files against its `.log`, made when
//! they are loaded.
//!
//! Kafka's `sanityCheck` looks at an index file alone (whole entries, the
//! last offset not below the base, timestamps not decreasing), and so does
//! [`check_offset_index`] here, more strictly. A power loss or a stale file
//! can leave entries that pass those checks and still do not describe the
//! `.log`: an offset entry pointing into the middle of a batch, a time
//! entry at an offset where no batch ends, an empty time index for records
//! with timestamps. The last entry of each index is checked against the
//! `.log` with a read or two (Kafka's `DumpLogSegments` checks every entry
//! that way); an index that fails is rebuilt. Entries that name offsets
//! the `.log` no longer holds are different: they mean the `.log` lost its
//! end, which is reported, not papered over by a rebuild.

use std::path::Path;

use super::{
    check_offset_index, check_time_index, OffsetEntries, RecoveredLog, Scanner, Segment, Step,
    TimeEntries, HEADER_CHUNK,
};
use crate::error::{Error, Result};
use crate::io::{FileHandle, IoContext};
use crate::record::{BatchHeader, BATCH_HEADER_LEN};

/// Batch headers walked at most to find the batch a time entry names; a
/// time entry further from an offset entry than this is not checked.
const MAX_HEADERS_WALKED: usize = 64;

impl Segment {
    /// The largest offset the index files name, if they are well formed
    /// (an index that is not says nothing about the `.log`).
    pub(super) fn offset_named(
        &self,
        index_path: &Path,
        offsets: &[u8],
        time_path: &Path,
        times: &[u8],
    ) -> Option<u64> {
        let base = self.base_offset;
        let by_offsets = check_offset_index(index_path, offsets, base, u64::MAX)
            .ok()
            .and_then(|()| OffsetEntries::new(offsets, base).last())
            .map(|e| e.offset);
        let by_times = check_time_index(time_path, times, base)
            .ok()
            .and_then(|()| TimeEntries::new(times, base).last())
            .map(|e| e.offset);
        by_offsets.max(by_times)
    }

    /// Fails if the index files named an offset (`named`) that the `.log`,
    /// as `rebuilt` from it, no longer holds: a closed segment's index
    /// files were made durable before anything relied on them, so the
    /// `.log` has lost its end. Rebuilding the indexes from what is left
    /// would pass over the missing records as if they had never been
    /// written.
    pub(super) fn check_not_cut(&self, named: Option<u64>, rebuilt: &RecoveredLog) -> Result<()> {
        let Some(named) = named else {
            return Ok(());
        };
        if rebuilt.last_offset.is_some_and(|last| last >= named) {
            return Ok(());
        }
        let holds = rebuilt.last_offset.map_or_else(
            || "no record".to_string(),
            |l| format!("records up to offset {l}"),
        );
        Err(Error::corrupt(
            &self.log_path,
            rebuilt.valid_bytes,
            format!(
                "the segment's index files name offset {named}, but its .log holds {holds} ({} bytes): records are missing from the end of the segment",
                rebuilt.valid_bytes
            ),
        ))
    }

    /// Whether the last entries of the index files describe the `.log`
    /// (`size` bytes of it): the last offset entry names the batch at its
    /// position (that batch's last offset), the last time entry names a
    /// batch that ends at its offset and carries its timestamp as its
    /// largest, and an empty time index belongs to records without
    /// timestamps.
    pub(super) fn index_ends_match(&self, offsets: &[u8], times: &[u8], size: u64) -> Result<bool> {
        if size == 0 {
            return Ok(offsets.is_empty() && times.is_empty());
        }
        let file = self.handle()?;
        let o = OffsetEntries::new(offsets, self.base_offset);
        if let Some(e) = o.last() {
            match self.header_at(&*file, u64::from(e.position), size)? {
                Some(h) if h.last_offset() == e.offset => {}
                _ => return Ok(false),
            }
        }
        let Some(t) = TimeEntries::new(times, self.base_offset).last() else {
            // A sealed segment's time index ends with its largest
            // timestamp: empty, no batch may have one. The first batch
            // tells with one read.
            return Ok(self
                .header_at(&*file, 0, size)?
                .is_some_and(|h| h.max_timestamp < 0));
        };
        let from = o.floor(t.offset).map_or(0, |p| u64::from(p.position));
        let mut scanner =
            Scanner::new(&*file, self.base_offset, from.min(size), size, HEADER_CHUNK);
        for _ in 0..MAX_HEADERS_WALKED {
            match scanner.next().ctx("read", &self.log_path)? {
                Step::Batch(b) if b.header.last_offset() < t.offset => {}
                Step::Batch(b) => {
                    return Ok(
                        b.header.last_offset() == t.offset && b.header.max_timestamp == t.timestamp
                    )
                }
                Step::End | Step::Invalid { .. } => return Ok(false),
            }
        }
        Ok(true)
    }

    /// The header of a whole batch of this segment at `position`, if one
    /// starts there.
    fn header_at(
        &self,
        file: &dyn FileHandle,
        position: u64,
        size: u64,
    ) -> Result<Option<BatchHeader>> {
        if size.saturating_sub(position) < BATCH_HEADER_LEN as u64 {
            return Ok(None);
        }
        let mut head = [0u8; BATCH_HEADER_LEN];
        file.read_exact_at(&mut head, position)
            .ctx("read", &self.log_path)?;
        Ok(BatchHeader::parse(&head)
            .ok()
            .filter(|h| h.base_offset >= self.base_offset && position + h.size() as u64 <= size))
    }
}

//! The per-batch and per-record rules of a cleaning round (Kafka's
//! `Cleaner.cleanInto` with its `RecordFilter`, and
//! `MemoryRecords.filterTo`).

use super::offset_map::OffsetMap;
use crate::error::Result;
use crate::record::{rebuild_batch, RecordBatch, RecordView};

/// What a round knows when it filters a batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoundRules {
    /// The round's clock.
    pub(crate) now_ms: i64,
    /// Kafka `delete.retention.ms`.
    pub(crate) delete_retention_ms: u64,
}

/// Reusable buffers of a round.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    /// Records of a compressed batch, decompressed.
    pub(crate) decompressed: Vec<u8>,
    /// Records of a rebuilt batch before compression.
    pub(crate) scratch: Vec<u8>,
}

/// Counts of what filtering did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FilterCounts {
    pub(crate) records_read: u64,
    pub(crate) records_kept: u64,
    pub(crate) records_superseded: u64,
    pub(crate) records_without_key: u64,
    pub(crate) tombstones_dropped: u64,
    pub(crate) batches_copied: u64,
    pub(crate) batches_rebuilt: u64,
    pub(crate) batches_dropped: u64,
}

/// Filters one batch into `out`: appends the batch's bytes unchanged, a
/// rebuilt batch, or nothing. `retain_empty` keeps at least the batch's
/// header when no record survives (the last batch of the round or of an
/// active producer). Returns whether anything was appended.
///
/// Rules, for a data batch (control batches are copied unchanged: their
/// records are markers, never compared by key):
/// * a record beyond the map's latest offset is kept;
/// * a record without a key is dropped;
/// * a record below the latest offset mapped for its key is dropped;
/// * a record with a value is kept;
/// * a tombstone is kept while its batch has no delete horizon yet, or
///   the horizon has not passed.
///
/// A batch whose records all survive and that needs no new delete horizon
/// is copied byte for byte. One that keeps a tombstone and has no horizon
/// gets `now + delete.retention.ms` as its horizon.
pub(crate) fn filter_batch(
    batch: &RecordBatch<'_>,
    map: &mut OffsetMap,
    rules: &RoundRules,
    retain_empty: bool,
    out: &mut Vec<u8>,
    buffers: &mut Buffers,
    counts: &mut FilterCounts,
) -> Result<bool> {
    let header = batch.header();
    if header.is_control() {
        counts.batches_copied += 1;
        out.extend_from_slice(batch.as_bytes());
        return Ok(true);
    }
    let has_horizon = header.attributes.has_delete_horizon();
    let horizon_passed = has_horizon && rules.now_ms >= header.base_timestamp;
    let latest = map.latest_offset();
    let mut kept: Vec<RecordView<'_>> = Vec::new();
    let mut total = 0u64;
    let mut keeps_tombstone = false;
    for record in batch.records(&mut buffers.decompressed)? {
        let record = record?;
        total += 1;
        let keep = if latest.is_none_or(|l| record.offset > l) {
            true
        } else if let Some(key) = record.key {
            if map.get(key).is_some_and(|latest| record.offset < latest) {
                counts.records_superseded += 1;
                false
            } else if record.value.is_some() || !horizon_passed {
                true
            } else {
                counts.tombstones_dropped += 1;
                false
            }
        } else {
            counts.records_without_key += 1;
            false
        };
        if keep {
            keeps_tombstone |= record.value.is_none();
            kept.push(record);
        }
    }
    counts.records_read += total;
    counts.records_kept += kept.len() as u64;
    let needs_horizon = keeps_tombstone && !has_horizon;
    if kept.len() as u64 == total && !needs_horizon && total > 0 {
        counts.batches_copied += 1;
        out.extend_from_slice(batch.as_bytes());
        return Ok(true);
    }
    if kept.is_empty() && !retain_empty {
        counts.batches_dropped += 1;
        return Ok(false);
    }
    let horizon = if needs_horizon {
        let retention = i64::try_from(rules.delete_retention_ms).unwrap_or(i64::MAX);
        Some(rules.now_ms.saturating_add(retention))
    } else if has_horizon {
        Some(header.base_timestamp)
    } else {
        None
    };
    counts.batches_rebuilt += 1;
    rebuild_batch(header, &kept, horizon, out, &mut buffers.scratch)?;
    Ok(true)
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;

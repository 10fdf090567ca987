//! The per-batch and per-record rules of a cleaning round (Kafka's
//! `Cleaner.cleanInto` with its `RecordFilter`, and
//! `MemoryRecords.filterTo`).

use super::offset_map::{KeyDigest, OffsetMap};
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

/// Which records of a round are the latest of their key: by key in the
/// offset map for records below the dirty section, by offset for those
/// within it.
///
/// The round asks in offset order. A record of the dirty section up to
/// the map's latest offset had its key put in the map, which holds the
/// offset of the latest record of that key: the record is the latest
/// exactly when its offset is among the map's offsets. At the first such
/// question the map is [sorted by offset](OffsetMap::sort_by_offset), and
/// the answers come from a cursor over the sorted offsets, which only
/// moves forward.
pub(crate) struct Survivors<'m> {
    map: &'m mut OffsetMap,
    first_dirty: u64,
    latest: Option<u64>,
    cursor: usize,
    /// The fates of a batch's records, by index.
    fates: Vec<Fate>,
    /// The records of a batch to look up by key: index and key hash.
    by_key: Vec<(usize, KeyDigest)>,
}

/// What a record's key says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Beyond what was mapped: kept whatever it is.
    Unmapped,
    /// The latest of its key (or its key is not in the map).
    Latest,
    /// A later record of its key exists.
    Superseded,
    /// It has no key.
    NoKey,
}

impl<'m> Survivors<'m> {
    /// Decisions from `map`, filled from `first_dirty` up to its latest
    /// offset.
    pub(crate) fn new(map: &'m mut OffsetMap, first_dirty: u64) -> Self {
        let latest = map.latest_offset();
        Survivors {
            map,
            first_dirty,
            latest,
            cursor: 0,
            fates: Vec::new(),
            by_key: Vec::new(),
        }
    }

    /// Whether every offset of `[base, last]` was mapped from the dirty
    /// section (its batch read whole by the map pass), so that the
    /// offsets alone decide.
    pub(crate) fn mapped(&self, base: u64, last: u64) -> bool {
        base >= self.first_dirty && self.latest.is_some_and(|l| last <= l)
    }

    /// The first sorted offset at or above `offset`, the cursor moved to
    /// it (never back).
    fn seek(&mut self, offset: u64) -> Option<u64> {
        self.map.sort_by_offset();
        while let Some(o) = self.map.sorted_offset(self.cursor) {
            if o >= offset {
                return Some(o);
            }
            self.cursor += 1;
        }
        None
    }

    /// Whether a data batch over `[base, last]` may keep a record: `false`
    /// only when it lies within the mapped dirty section and none of its
    /// offsets is the latest of a key, so that the batch can go without
    /// its records being read.
    pub(crate) fn may_keep(&mut self, base: u64, last: u64) -> bool {
        if !self.mapped(base, last) {
            return true;
        }
        self.seek(base).is_some_and(|o| o <= last)
    }

    /// The fate of a record, unless its key must be looked up.
    fn by_offset(&mut self, has_key: bool, offset: u64) -> Option<Fate> {
        if self.latest.is_none_or(|l| offset > l) {
            return Some(Fate::Unmapped);
        }
        if !has_key {
            return Some(Fate::NoKey);
        }
        if offset >= self.first_dirty {
            return Some(if self.seek(offset) == Some(offset) {
                Fate::Latest
            } else {
                Fate::Superseded
            });
        }
        // Below the dirty section the map is still keyed: the records
        // come in offset order, and none of the dirty section came yet.
        None
    }

    /// The fate of one record.
    #[cfg(test)]
    fn fate(&mut self, key: Option<&[u8]>, offset: u64) -> Fate {
        match (self.by_offset(key.is_some(), offset), key) {
            (Some(fate), _) => fate,
            (None, Some(key)) => self.by_latest(self.map.key_hash(key), offset),
            (None, None) => Fate::NoKey,
        }
    }

    fn by_latest(&mut self, digest: KeyDigest, offset: u64) -> Fate {
        match self.map.get_hash(digest) {
            Some(latest) if offset < latest => Fate::Superseded,
            _ => Fate::Latest,
        }
    }

    /// Decides the fates of a batch's records, in
    /// [`fates`](Self::fates). The map's slots for the keys to look up
    /// are touched together first, so that their cache misses overlap.
    fn decide(&mut self, records: &[RecordView<'_>]) {
        self.fates.clear();
        self.by_key.clear();
        // Those below the dirty section first: the first record of the
        // dirty section turns the map into a list of offsets.
        let dirty = records.partition_point(|r| r.offset < self.first_dirty);
        for (i, r) in records[..dirty].iter().enumerate() {
            let fate = match (self.by_offset(r.key.is_some(), r.offset), r.key) {
                (Some(fate), _) => fate,
                (None, Some(key)) => {
                    self.by_key.push((i, self.map.key_hash(key)));
                    Fate::Latest
                }
                (None, None) => Fate::NoKey,
            };
            self.fates.push(fate);
        }
        self.map.touch(self.by_key.iter().map(|(_, digest)| digest));
        for n in 0..self.by_key.len() {
            let (i, digest) = self.by_key[n];
            self.fates[i] = self.by_latest(digest, records[i].offset);
        }
        for r in &records[dirty..] {
            let fate = self
                .by_offset(r.key.is_some(), r.offset)
                .unwrap_or(Fate::Latest);
            self.fates.push(fate);
        }
    }
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
/// * a record below the latest offset mapped for its key is dropped (see
///   [`Survivors`]);
/// * a record with a value is kept;
/// * a tombstone is kept while its batch has no delete horizon yet, or
///   the horizon has not passed.
///
/// A batch whose records all survive and that needs no new delete horizon
/// is copied byte for byte. One that keeps a tombstone and has no horizon
/// gets `now + delete.retention.ms` as its horizon.
pub(crate) fn filter_batch(
    batch: &RecordBatch<'_>,
    survivors: &mut Survivors<'_>,
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
    let records = batch
        .records(&mut buffers.decompressed)?
        .collect::<Result<Vec<RecordView<'_>>>>()?;
    if records.windows(2).any(|w| w[1].offset <= w[0].offset) {
        return Err(crate::Error::InvalidBatch {
            position: 0,
            reason: "record offsets do not increase within the batch".into(),
        });
    }
    survivors.decide(&records);
    let mut kept: Vec<RecordView<'_>> = Vec::with_capacity(records.len());
    let total = records.len() as u64;
    let mut keeps_tombstone = false;
    for (record, &fate) in records.into_iter().zip(&survivors.fates) {
        let keep = match fate {
            Fate::Unmapped => true,
            Fate::Superseded => {
                counts.records_superseded += 1;
                false
            }
            Fate::NoKey => {
                // Those of the dirty section were counted as it was mapped.
                counts.records_without_key += u64::from(record.offset < survivors.first_dirty);
                false
            }
            Fate::Latest if record.value.is_some() || !horizon_passed => true,
            Fate::Latest => {
                counts.tombstones_dropped += 1;
                false
            }
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

//! Which batches hold the last state of an active idempotent producer
//! (Kafka keeps them, even emptied, so that sequence numbers and epochs
//! survive cleaning).

use std::collections::HashMap;

use crate::record::BatchHeader;

/// Kafka's `producer.id.expiration.ms` default: a producer that wrote
/// nothing for this long is no longer active.
pub const PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy)]
struct LastBatch {
    /// Last offset of the producer's last data batch.
    last_data_offset: Option<u64>,
    /// Offset and epoch of its last batch of any kind.
    last_offset: u64,
    epoch: i16,
    /// Max timestamp of its last batch.
    timestamp: i64,
}

/// The last batch of each producer seen in a log.
#[derive(Debug, Default)]
pub(crate) struct Producers {
    last: HashMap<i64, LastBatch>,
}

impl Producers {
    /// Takes note of a batch (in any order).
    pub(crate) fn observe(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 {
            return;
        }
        let e = self.last.entry(h.producer_id).or_insert(LastBatch {
            last_data_offset: None,
            last_offset: h.last_offset(),
            epoch: h.producer_epoch,
            timestamp: h.max_timestamp,
        });
        if h.last_offset() >= e.last_offset {
            e.last_offset = h.last_offset();
            e.epoch = h.producer_epoch;
            e.timestamp = h.max_timestamp;
        }
        if !h.is_control() {
            e.last_data_offset = Some(
                e.last_data_offset
                    .map_or(h.last_offset(), |o| o.max(h.last_offset())),
            );
        }
    }

    /// Whether `h` is the batch that holds its producer's last state,
    /// the producer being still active at `now_ms`: the batch with its
    /// last data offset, or, for a producer that wrote only markers, a
    /// marker of its last epoch.
    pub(crate) fn is_last_of_active(&self, h: &BatchHeader, now_ms: i64) -> bool {
        if h.producer_id < 0 {
            return false;
        }
        let Some(e) = self.last.get(&h.producer_id) else {
            return false;
        };
        if now_ms.saturating_sub(e.timestamp) >= PRODUCER_ID_EXPIRATION_MS {
            return false;
        }
        match e.last_data_offset {
            Some(o) => h.last_offset() == o,
            None => h.is_control() && h.producer_epoch == e.epoch,
        }
    }
}

//! One partition's open batch in a [`Producer`](super::Producer), and the
//! append that closes it.
//!
//! Records are added to a partition's open batch under its lock. Closing
//! the batch takes its records out and, before letting go of that lock,
//! takes the partition's append gate, held while the records are appended:
//! a partition's batches are appended one at a time, in the order they
//! were closed, while new records already go into the next batch. Whoever
//! closes a batch (a full `send`, a `Delivery::wait`, a `flush`, or the
//! producer's sender thread once the batch has lingered) sets its outcome,
//! which every delivery of its records shares.

use std::mem;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::{ProducerConfig, Topic};
use crate::config::Durability;
use crate::error::{Error, Result};
use crate::log::{AppendInfo, PartitionLog};
use crate::record::Record;
use crate::replication::Acks;
use crate::segment::lock;
use crate::topic::Partitioner;

/// Where a batch landed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Appended {
    pub(super) first_offset: u64,
    pub(super) log_append_time: Option<i64>,
}

/// The outcome of appending one batch, shared by its deliveries.
#[derive(Debug)]
pub(super) struct BatchResult {
    outcome: Mutex<Outcome>,
    done: Condvar,
    /// The partition's slot, to close the batch early; gone with its
    /// producer, which appends every open batch as it goes.
    slot: Weak<Slot>,
}

#[derive(Debug, Default)]
struct Outcome {
    result: Option<Result<Appended>>,
    /// Threads waiting for `result` (only they need a wake-up).
    waiters: usize,
}

impl BatchResult {
    fn new(slot: Weak<Slot>) -> BatchResult {
        BatchResult {
            outcome: Mutex::default(),
            done: Condvar::new(),
            slot,
        }
    }

    /// Appends the batch now if it is still open (without waiting for its
    /// linger).
    pub(super) fn close_early(self: &Arc<Self>) {
        if self.is_done() {
            return;
        }
        if let Some(slot) = self.slot.upgrade() {
            let open = lock(&slot.open);
            if Arc::ptr_eq(&open.result, self) {
                slot.close(open, ClosedBy::Caller);
            }
        }
    }

    fn set(&self, result: Result<Appended>) {
        let mut outcome = lock(&self.outcome);
        outcome.result = Some(result);
        let waiters = outcome.waiters > 0;
        drop(outcome);
        if waiters {
            self.done.notify_all();
        }
    }

    /// Whether the batch has been appended (or failed to be).
    pub(super) fn is_done(&self) -> bool {
        lock(&self.outcome).result.is_some()
    }

    /// Waits until the batch is closed and appended, and returns a copy of
    /// the outcome. Only for a batch that has been closed: the closer
    /// always sets the outcome.
    pub(super) fn wait(&self) -> Result<Appended> {
        let mut outcome = lock(&self.outcome);
        loop {
            match outcome.result.as_ref() {
                Some(Ok(appended)) => return Ok(*appended),
                Some(Err(e)) => return Err(e.duplicate()),
                None => {
                    outcome.waiters += 1;
                    outcome = self
                        .done
                        .wait(outcome)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    outcome.waiters -= 1;
                }
            }
        }
    }

    /// A copy of the error the batch's append failed with, if it did.
    pub(super) fn error(&self) -> Option<Error> {
        match lock(&self.outcome).result.as_ref() {
            Some(Err(e)) => Some(e.duplicate()),
            _ => None,
        }
    }
}

/// Who closes a batch. A failed append's error goes to the deliveries of
/// the batch, and is kept for the next `flush` unless that flush closed
/// the batch (it returns the error itself): a caller closing a batch (a
/// `send` that fills it, a `Delivery::wait`) is told the error, but the
/// other senders of the batch learn it from their flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClosedBy {
    Caller,
    Flush,
    Sender,
}

/// One partition of a producer: its open batch and its append gate.
pub(super) struct Slot {
    /// Itself, for the results of its batches.
    me: Weak<Slot>,
    partition: u32,
    durability: Option<Durability>,
    acks: Acks,
    request_timeout: Duration,
    partitioner: Arc<dyn Partitioner>,
    pub(super) open: Mutex<OpenBatch>,
    /// Held while a closed batch is appended, and taken while `open` is
    /// held (never the other way round), so that batches are appended in
    /// the order they were closed.
    gate: Mutex<Gate>,
}

#[derive(Default)]
struct Gate {
    /// The first error of a batch the sender thread appended that no
    /// flush has reported yet.
    unreported: Option<Error>,
    /// The records of the batch appended last, cleared: the next batch
    /// reuses their room.
    spare: Vec<Record>,
}

/// A slot goes with its producer, which closes every open batch before
/// (flush and sender thread); should that have failed part-way (a panic
/// in the partitioner), the deliveries of a batch left open learn that it
/// was not appended rather than wait for it forever.
impl Drop for Slot {
    fn drop(&mut self) {
        let open = self.open.get_mut().unwrap_or_else(|p| p.into_inner());
        if !open.result.is_done() {
            open.result.set(Err(Error::Closed));
        }
    }
}

/// The records of a partition not yet appended.
pub(super) struct OpenBatch {
    /// The topic the records are for (a topic deleted and created again
    /// is another one), and its partition's log.
    pub(super) topic: Arc<Topic>,
    pub(super) log: PartitionLog,
    pub(super) records: Vec<Record>,
    /// Their size bound in a batch.
    pub(super) bytes: usize,
    pub(super) result: Arc<BatchResult>,
    /// When the batch has lingered long enough; set by its first record.
    pub(super) due: Option<Instant>,
    /// Whether the slot is in the sender thread's queue (at a time no
    /// later than `due`).
    pub(super) queued: bool,
    /// When the partition's previous batch was closed.
    pub(super) closed_at: Option<Instant>,
}

impl Slot {
    pub(super) fn new(
        topic: &Arc<Topic>,
        partition: u32,
        config: &ProducerConfig,
    ) -> Result<Arc<Slot>> {
        let log = topic.log(partition)?;
        Ok(Arc::new_cyclic(|me: &Weak<Slot>| Slot {
            me: me.clone(),
            partition,
            durability: config.durability,
            acks: config.acks,
            request_timeout: config.request_timeout,
            partitioner: config.partitioner.clone(),
            open: Mutex::new(OpenBatch {
                topic: topic.clone(),
                log,
                records: Vec::new(),
                bytes: 0,
                result: Arc::new(BatchResult::new(me.clone())),
                due: None,
                queued: false,
                closed_at: None,
            }),
            gate: Mutex::new(Gate::default()),
        }))
    }

    /// Closes the open batch, if it has records, and appends it after the
    /// batches closed before it. Returns its result, `None` if it was
    /// empty; either way, a batch being appended when this is called has
    /// been appended when it returns.
    pub(super) fn close(
        &self,
        mut open: MutexGuard<'_, OpenBatch>,
        by: ClosedBy,
    ) -> Option<Arc<BatchResult>> {
        let mut gate = lock(&self.gate);
        if open.records.is_empty() {
            return None;
        }
        let records = mem::replace(&mut open.records, mem::take(&mut gate.spare));
        let next = Arc::new(BatchResult::new(self.me.clone()));
        let result = mem::replace(&mut open.result, next);
        let (topic, log) = (open.topic.clone(), open.log.clone());
        open.bytes = 0;
        open.due = None;
        open.closed_at = Some(Instant::now());
        drop(open);

        let durability = self.durability.unwrap_or(topic.config.log.durability);
        // A replicated partition is appended to as its leader, and waited
        // for as `acks` says.
        let appended = match topic.replica(self.partition) {
            Some(replica) => replica
                .append_with(&records, durability, self.acks)
                .and_then(|pending| pending.wait(self.request_timeout)),
            None => log.append_with(&records, durability),
        };
        let outcome = appended.map(|info: AppendInfo| Appended {
            first_offset: info.first_offset,
            log_append_time: info.log_append_time,
        });
        let ok = outcome.is_ok();
        // A batch holds the records of every caller that sent to it, so
        // its failure is also kept for the next `flush` (which reports it
        // itself when it closed the batch).
        if let (Err(e), ClosedBy::Sender | ClosedBy::Caller) = (&outcome, by) {
            gate.unreported.get_or_insert_with(|| e.duplicate());
        }
        result.set(outcome);
        let mut records = records;
        records.clear();
        gate.spare = records;
        drop(gate);
        if ok {
            self.partitioner.on_batch_complete(
                &topic.name,
                self.partition,
                topic.partition_count(),
            );
        }
        Some(result)
    }

    /// Appends the open batch. Reports the first error since the last
    /// flush: of a batch appended since (by the sender thread or a
    /// caller), else of this one.
    pub(super) fn flush(&self) -> Result<()> {
        let own = self
            .close(lock(&self.open), ClosedBy::Flush)
            .and_then(|batch| batch.error());
        match lock(&self.gate).unreported.take().or(own) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

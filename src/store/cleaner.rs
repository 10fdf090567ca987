//! The log cleaner of a store: which partitions a maintenance pass
//! compacts, in what order and how far, and [`LogStore::compact`].
//!
//! A pass looks at every partition whose topic's cleanup policy compacts
//! (`compact` or `compact,delete`), takes its cleanable section
//! ([`PartitionLog::cleanable_section`]), and runs compaction rounds
//! ([`PartitionLog::compact_with`]) as Kafka's cleaner thread does
//! (`grabFilthiestCompactedLog`):
//!
//! 1. Of the logs that are due ([`CleanableSection::due`]: the cleanable
//!    ratio passes `min.cleanable.dirty.ratio`, or a dirty segment waited
//!    past `max.compaction.lag.ms`), the one with the highest ratio is
//!    cleaned first ([`filthiest`]).
//! 2. A log whose round stopped because the offset map was full is looked
//!    at again (its next round goes on from where the last stopped); any
//!    other log is done for this pass, as is one whose round failed (the
//!    error is in the pass's report) or was aborted.
//! 3. No round starts once the pass's rounds have read and written
//!    [`CleanerConfig::max_bytes_per_pass`] bytes together; a round that
//!    started runs to its end. The next pass goes on.
//!
//! With [`CleanerConfig::enable`] off, passes compact nothing.
//! [`LogStore::compact`] runs a round at once whatever the ratio and the
//! switch. Rounds read and write without holding up producers or
//! consumers: only the final swap of files takes a log's writer lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::maintenance::note_error;
use super::{CleanerConfig, LogStore, MaintenanceReport, StoreInner, Topic, TopicPartition};
use crate::compaction::{
    filthiest, CleanableSection, CompactOptions, CompactionOutcome, CompactionPolicy, DueReason,
};
use crate::error::{Error, Result};
use crate::log::{policy_of, PartitionLog};
use crate::segment::read_lock;

/// The compaction rounds a maintenance pass ran on one partition.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionCompaction {
    /// The partition.
    pub partition: TopicPartition,
    /// Why its log was due when the pass picked it first.
    pub due: DueReason,
    /// What each round did, in order (more than one when the offset map
    /// filled up).
    pub rounds: Vec<CompactionOutcome>,
}

impl PartitionCompaction {
    /// Bytes the rounds read.
    pub fn bytes_read(&self) -> u64 {
        self.rounds.iter().map(|r| r.bytes_read).sum()
    }

    /// Bytes of the segments the rounds wrote.
    pub fn bytes_written(&self) -> u64 {
        self.rounds.iter().map(|r| r.bytes_written).sum()
    }

    /// Records the rounds removed.
    pub fn records_dropped(&self) -> u64 {
        self.rounds.iter().map(|r| r.records_dropped).sum()
    }
}

/// The round settings the store's cleaner config gives. The offset map
/// takes at most 2^31-1 bytes, as Kafka's (one cleaner thread).
pub(crate) fn compact_options(config: &CleanerConfig) -> CompactOptions {
    let dedupe = config.dedupe_buffer_size.min(i32::MAX as u64);
    CompactOptions {
        dedupe_buffer_bytes: usize::try_from(dedupe).unwrap_or(usize::MAX),
        load_factor: config.io_buffer_load_factor,
        io_buffer_bytes: config.io_buffer_size as usize,
        io_max_bytes_per_second: config.io_max_bytes_per_second,
    }
}

/// A partition the pass may compact.
struct Candidate {
    partition: TopicPartition,
    log: PartitionLog,
    policy: CompactionPolicy,
    section: CleanableSection,
}

/// The cleaner's part of a maintenance pass (see the module docs), into
/// `report`; no round starts once `halt` is set (the background thread
/// is stopping). Returns whether any log was due.
///
/// # Errors
/// [`Error::StoreClosed`] if the store closed meanwhile; a partition's own
/// failure goes into the report.
pub(super) fn clean(
    inner: &StoreInner,
    report: &mut MaintenanceReport,
    halt: Option<&AtomicBool>,
) -> Result<bool> {
    let config = &inner.config.cleaner;
    if !config.enable {
        return Ok(false);
    }
    let options = compact_options(config);
    let budget = config.max_bytes_per_pass.unwrap_or(u64::MAX);
    let topics: Vec<Arc<Topic>> = read_lock(&inner.topics).values().cloned().collect();
    let mut candidates = Vec::new();
    for t in topics {
        if !t.config.log.cleanup_policy.compacts() {
            continue;
        }
        let policy = policy_of(&t.config.log);
        let logs = read_lock(&t.partitions).clone();
        for (p, log) in logs.into_iter().enumerate() {
            let partition = TopicPartition::new(t.name.clone(), p as u32);
            match log.cleanable_section(inner.clock.now_ms()) {
                Ok(section) => candidates.push(Candidate {
                    partition,
                    log,
                    policy,
                    section,
                }),
                Err(error) => note_error(inner, report, partition, error)?,
            }
        }
    }
    let mut any_due = false;
    let mut spent = 0u64;
    loop {
        let logs = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (i, c.section, c.policy));
        let Some((i, section)) = filthiest(logs) else {
            break;
        };
        any_due = true;
        if halt.is_some_and(|h| h.load(Ordering::Acquire)) {
            break;
        }
        if spent >= budget {
            report.compaction_budget_exhausted = true;
            break;
        }
        let c = &candidates[i];
        let due = section.due(&c.policy).unwrap_or(DueReason::DirtyRatio);
        let now = inner.clock.now_ms();
        let outcome = match c.log.compact_with(now, &options) {
            Ok(outcome) => outcome,
            Err(error) => {
                let c = candidates.swap_remove(i);
                note_error(inner, report, c.partition, error)?;
                continue;
            }
        };
        spent = spent.saturating_add(outcome.bytes_read + outcome.bytes_written);
        report.compaction_rounds += 1;
        report.compaction_bytes_read += outcome.bytes_read;
        report.compaction_bytes_written += outcome.bytes_written;
        report.compaction_records_dropped += outcome.records_dropped;
        let more =
            outcome.map_full && !outcome.aborted && outcome.end_offset > outcome.first_dirty_offset;
        match report
            .compactions
            .iter_mut()
            .find(|done| done.partition == c.partition)
        {
            Some(done) => done.rounds.push(outcome),
            None => report.compactions.push(PartitionCompaction {
                partition: c.partition.clone(),
                due,
                rounds: vec![outcome],
            }),
        }
        if !more {
            candidates.swap_remove(i);
            continue;
        }
        match c.log.cleanable_section(inner.clock.now_ms()) {
            Ok(section) => candidates[i].section = section,
            Err(error) => {
                let c = candidates.swap_remove(i);
                note_error(inner, report, c.partition, error)?;
            }
        }
    }
    Ok(any_due)
}

impl LogStore {
    /// Runs one compaction round now on partition `partition` of `topic`,
    /// or on each of its partitions in turn (`None`), whatever their
    /// cleanable ratio and [`CleanerConfig::enable`], with the store's
    /// cleaner settings and clock (see [`PartitionLog::compact_with`]).
    /// Returns what each round did, by partition number.
    ///
    /// Maintenance ([`maintain`](Self::maintain)) runs rounds on its own
    /// on the logs that are due; this is for running one at a time of the
    /// caller's choosing.
    ///
    /// # Examples
    ///
    /// ```
    /// # use seglog::{LogStore, ProducerRecord, StoreConfig};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = LogStore::open(dir.path(), StoreConfig::default())?;
    /// store.create_topic("users", 1, &[("cleanup.policy", "compact")])?;
    /// let producer = store.producer(Default::default());
    /// for (user, email) in [("alice", "a@old"), ("bob", "b@x"), ("alice", "a@new")] {
    ///     producer.send_and_wait(ProducerRecord::new("users", email).with_key(user))?;
    /// }
    /// store.partition("users", 0)?.roll()?; // the active segment is not compacted
    ///
    /// let rounds = store.compact("users", None)?;
    /// assert_eq!(rounds[0].1.records_dropped, 1); // alice's old email
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if the topic's cleanup policy does not
    /// compact; [`Error::UnknownTopic`], [`Error::UnknownPartition`];
    /// [`Error::ReadOnly`], [`Error::StoreClosed`]; the first failing round's
    /// error ([`Error::Corrupt`], [`Error::Io`], [`Error::Poisoned`]),
    /// the partitions before it having been compacted.
    pub fn compact(
        &self,
        topic: &str,
        partition: Option<u32>,
    ) -> Result<Vec<(u32, CompactionOutcome)>> {
        let inner = &self.inner;
        inner.check_writable()?;
        let t = inner.topic(topic)?;
        let policy = t.config.log.cleanup_policy;
        if !policy.compacts() {
            return Err(Error::config(
                "cleanup.policy",
                format!("topic {topic:?} has cleanup.policy={policy}, which does not compact"),
            ));
        }
        let logs: Vec<(u32, PartitionLog)> = match partition {
            Some(p) => vec![(p, t.log(p)?)],
            None => (0..)
                .zip(read_lock(&t.partitions).iter().cloned())
                .collect(),
        };
        let options = compact_options(&inner.config.cleaner);
        logs.into_iter()
            .map(|(p, log)| Ok((p, log.compact_with(inner.clock.now_ms(), &options)?)))
            .collect()
    }
}

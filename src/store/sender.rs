//! A producer's sender thread: appends the batches that have lingered.
//!
//! When a batch gets its first record, its partition goes into the
//! thread's queue, ordered by when the batch is due: see [`due`]. The
//! thread sleeps until the earliest entry is due (or, with none, until
//! one comes), then closes that partition's batch, which takes every
//! record the partition gathered meanwhile. A partition whose batch was
//! closed before it came due (full, flushed, waited for) and has a newer
//! batch goes back in the queue at that batch's time; one with no records
//! leaves the queue. A partition is in the queue at most once.
//!
//! A batch is due [`ProducerConfig::linger`](super::ProducerConfig::linger)
//! after its first record, and no sooner than [`MIN_INTERVAL`] (1 ms)
//! after the partition's previous batch was closed. The second rule only
//! matters for a linger below 1 ms. With a linger of zero, a record sent
//! to a partition that was quiet for a millisecond is appended as soon as
//! the thread gets to it; records sent back to back go into batches that
//! fill up (the sending thread appends them, full) rather than into one
//! small append after another, each of which would cost a write and a
//! hand-over between threads. A burst's last batch then waits at most
//! 1 ms.
//!
//! The thread is started by the producer's first `send` and stops when
//! the producer is dropped or its store closes (the store keeps a list of
//! its producers' threads for this). Before it ends it appends every open
//! batch, so that closing the store loses nothing that was sent before.
//! It holds the producer's batches, never the store: it keeps no store
//! open.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use super::accumulator::{ClosedBy, Slot};
use super::producer::Shared;
use super::signal::deadline_after;
use super::StoreInner;
use crate::error::{Error, Result};
use crate::segment::lock;

/// The sender thread of one producer, and its queue.
#[derive(Default)]
pub(super) struct Sender {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Signalled when the thread has appended its last batches and ends.
    finished: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
    started: AtomicBool,
}

#[derive(Default)]
struct Queue {
    entries: BinaryHeap<Entry>,
    sleep: Sleep,
    stop: bool,
    /// The thread has ended (its final appends done), or never ran.
    finished: bool,
    /// The thread's id, so that it never waits for itself.
    thread_id: Option<ThreadId>,
}

/// What the thread is doing, so that a new entry wakes it only when it
/// must.
#[derive(Default, Clone, Copy)]
enum Sleep {
    #[default]
    Awake,
    Until(Instant),
    Idle,
}

/// A partition whose batch is due at `at`.
struct Entry {
    at: Instant,
    slot: Arc<Slot>,
}

// Ordered by time, the earliest first out of the (max-)heap.
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.at.cmp(&self.at)
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Entry {}

impl Sender {
    /// Whether the thread was started (it may have stopped since).
    pub(super) fn started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// Puts a partition in the queue, due at `at`, for a caller that has
    /// marked its open batch queued.
    pub(super) fn schedule(&self, slot: Arc<Slot>, at: Instant) {
        let mut queue = lock(&self.queue);
        queue.entries.push(Entry { at, slot });
        let wake = match queue.sleep {
            Sleep::Awake => false,
            Sleep::Until(until) => at < until,
            Sleep::Idle => true,
        };
        drop(queue);
        if wake {
            self.wake.notify_one();
        }
    }

    /// Stops the thread, which appends every open batch first, and waits
    /// for it (unless this is that thread). Does nothing if it is not
    /// running. Every caller waits, also one that finds another caller
    /// joining the thread (a producer dropped while its store closes):
    /// once `stop` returns, the thread's last appends are done.
    pub(super) fn stop(&self) {
        lock(&self.queue).stop = true;
        self.wake.notify_all();
        let me = std::thread::current().id();
        let handle = lock(&self.thread).take();
        if let Some(handle) = handle {
            if handle.thread().id() != me {
                let _ = handle.join();
            }
            return;
        }
        if !self.started() {
            return;
        }
        let mut queue = lock(&self.queue);
        while !queue.finished && queue.thread_id != Some(me) {
            queue = self
                .finished
                .wait(queue)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Whether the thread is running.
    #[cfg(test)]
    pub(super) fn is_running(&self) -> bool {
        lock(&self.thread)
            .as_ref()
            .is_some_and(|handle| !handle.is_finished())
    }
}

/// The sender thread appends a partition's batches at most this often,
/// whatever the linger: a batch it appends was opened at least this long
/// after the partition's previous batch was closed, or waited until then.
pub(super) const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// When a batch whose first record came `now` is due: `linger` later,
/// and no sooner than [`MIN_INTERVAL`] after the partition's previous
/// batch was closed (at `closed`).
pub(super) fn due(now: Instant, linger: Duration, closed: Option<Instant>) -> Instant {
    let lingered = now
        .checked_add(linger)
        .unwrap_or_else(|| deadline_after(linger));
    match closed.and_then(|at| at.checked_add(MIN_INTERVAL)) {
        Some(spaced) => lingered.max(spaced),
        None => lingered,
    }
}

/// Starts the sender thread of a producer of `store`, if it is not yet.
///
/// # Errors
/// [`Error::Io`] if the thread cannot be started; [`Error::StoreClosed`]
/// if the store closed meanwhile.
pub(super) fn start(shared: &Arc<Shared>, store: &StoreInner) -> Result<()> {
    let sender = &shared.sender;
    let mut thread = lock(&sender.thread);
    if sender.started() {
        return Ok(());
    }
    let running = shared.clone();
    let handle = std::thread::Builder::new()
        .name("seglog-producer".into())
        .spawn(move || run(&running))
        .map_err(|e| Error::io("spawn producer thread", &store.dir, e))?;
    *thread = Some(handle);
    sender.started.store(true, Ordering::Release);
    drop(thread);
    if !store.producer_threads.add(Arc::downgrade(shared)) {
        sender.stop();
        return Err(Error::StoreClosed {
            path: store.dir.clone(),
        });
    }
    Ok(())
}

/// The thread: closes each partition's batch when it is due, until told
/// to stop; then closes every open batch.
/// Marks the thread finished when it ends, by returning or by a panic (of
/// a partitioner's callback, say), and wakes the callers of `stop`.
struct Finished<'a>(&'a Sender);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        lock(&self.0.queue).finished = true;
        self.0.finished.notify_all();
    }
}

fn run(shared: &Shared) {
    let sender = &shared.sender;
    let _finished = Finished(sender);
    let mut queue = lock(&sender.queue);
    queue.thread_id = Some(std::thread::current().id());
    while !queue.stop {
        let now = Instant::now();
        let next = queue.entries.peek().map(|e| e.at);
        match next {
            Some(at) if at <= now => {
                let Some(entry) = queue.entries.pop() else {
                    continue;
                };
                drop(queue);
                visit(sender, entry.slot, now);
                queue = lock(&sender.queue);
            }
            Some(at) => {
                queue.sleep = Sleep::Until(at);
                queue = match sender.wake.wait_timeout(queue, at - now) {
                    Ok((guard, _)) => guard,
                    Err(poisoned) => poisoned.into_inner().0,
                };
                queue.sleep = Sleep::Awake;
            }
            None => {
                queue.sleep = Sleep::Idle;
                queue = sender
                    .wake
                    .wait(queue)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                queue.sleep = Sleep::Awake;
            }
        }
    }
    queue.entries.clear();
    drop(queue);
    for slot in shared.slots() {
        slot.close(lock(&slot.open), ClosedBy::Sender);
    }
}

/// A partition's entry came due at `now`: closes its batch if that is
/// due, puts it back for a newer batch, or takes it out of the queue.
fn visit(sender: &Sender, slot: Arc<Slot>, now: Instant) {
    let mut open = lock(&slot.open);
    if open.records.is_empty() {
        open.queued = false;
        return;
    }
    match open.due {
        Some(due) if due > now => sender.schedule(slot.clone(), due),
        _ => {
            open.queued = false;
            slot.close(open, ClosedBy::Sender);
        }
    }
}

/// The sender threads of a store's producers, stopped when it closes.
#[derive(Default)]
pub(crate) struct ProducerThreads {
    inner: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    closed: bool,
    producers: Vec<Weak<Shared>>,
}

impl ProducerThreads {
    /// Adds a producer whose thread is running; `false` if the store is
    /// closing (the thread must stop).
    fn add(&self, producer: Weak<Shared>) -> bool {
        let mut registry = lock(&self.inner);
        if registry.closed {
            return false;
        }
        registry.producers.retain(|p| p.strong_count() > 0);
        registry.producers.push(producer);
        true
    }

    /// Stops every producer's thread, each appending its open batches
    /// first, and starts no other.
    pub(crate) fn stop_all(&self) {
        let producers = {
            let mut registry = lock(&self.inner);
            registry.closed = true;
            std::mem::take(&mut registry.producers)
        };
        for producer in producers.iter().filter_map(Weak::upgrade) {
            producer.sender.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::error::Error;
    use crate::io::MemFs;
    use crate::store::{LogStore, ProducerConfig, ProducerRecord, StoreConfig};

    fn producer(store: &LogStore) -> crate::store::Producer {
        store.producer(ProducerConfig {
            linger: Duration::from_secs(3600),
            ..ProducerConfig::default()
        })
    }

    #[test]
    fn a_batch_is_due_after_its_linger_and_a_while_after_the_batch_before() {
        use super::{due, MIN_INTERVAL};
        let now = Instant::now();
        let ms = Duration::from_millis;
        // A partition that was quiet (or never sent to): the linger alone.
        assert_eq!(due(now, Duration::ZERO, None), now);
        assert_eq!(due(now, ms(5), None), now + ms(5));
        let quiet = now.checked_sub(ms(2)).unwrap();
        assert_eq!(due(now, Duration::ZERO, Some(quiet)), now);
        // A batch closed just before: no sooner than MIN_INTERVAL after it.
        let busy = now.checked_sub(Duration::from_micros(100)).unwrap();
        assert_eq!(due(now, Duration::ZERO, Some(busy)), busy + MIN_INTERVAL);
        assert_eq!(due(now, ms(5), Some(busy)), now + ms(5));
        // A linger too long to add to an instant is far off, not a panic.
        assert!(due(now, Duration::MAX, Some(busy)) > now + ms(3_600_000));
    }

    #[test]
    fn the_thread_starts_with_the_first_send_and_stops_with_its_producer_or_store() {
        let fs = MemFs::new();
        let store = LogStore::options()
            .fs(fs.clone())
            .open("/s", StoreConfig::default())
            .unwrap();
        store.create_topic("t", 1, &[]).unwrap();

        let idle = producer(&store);
        assert!(!idle.sender_running());
        drop(idle);

        // Dropping the producer ends its thread, which held its batches
        // and nothing else.
        let dropped = producer(&store);
        dropped.send(ProducerRecord::new("t", "a")).unwrap();
        assert!(dropped.sender_running());
        let shared = Arc::downgrade(&dropped.shared);
        drop(dropped);
        assert!(shared.upgrade().is_none(), "the thread still runs");
        assert_eq!(store.partition("t", 0).unwrap().log_end_offset(), 1);

        // Closing the store stops the thread of a producer still alive,
        // after it appended what it held.
        let alive = producer(&store);
        alive.send(ProducerRecord::new("t", "b")).unwrap();
        assert!(alive.sender_running());
        store.close().unwrap();
        assert!(!alive.sender_running());
        assert!(matches!(
            alive.send(ProducerRecord::new("t", "c")),
            Err(Error::StoreClosed { .. })
        ));
        drop(alive);
        let store = LogStore::options()
            .fs(fs)
            .open("/s", StoreConfig::default())
            .unwrap();
        assert_eq!(store.partition("t", 0).unwrap().log_end_offset(), 2);
        store.close().unwrap();
    }
}

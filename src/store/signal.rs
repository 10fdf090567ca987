//! Waking consumers when records arrive, without busy-waiting.
//!
//! Every append to any partition of the store bumps a generation counter.
//! A consumer that found nothing to return notes the generation before it
//! looked, and sleeps until the counter moves past it or its timeout
//! passes. An append costs one atomic increment, plus a lock and a wake-up
//! only while somebody is waiting.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::segment::lock;

#[derive(Debug, Default)]
pub(crate) struct AppendSignal {
    generation: AtomicU64,
    waiters: AtomicUsize,
    mutex: Mutex<()>,
    cond: Condvar,
}

impl AppendSignal {
    /// The current generation; pass it to [`wait_past`](Self::wait_past)
    /// after looking for records.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Records arrived.
    pub(crate) fn notify(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            // Taking the lock orders this wake-up after a waiter's check.
            drop(lock(&self.mutex));
            self.cond.notify_all();
        }
    }

    /// Sleeps until the generation moves past `seen` or `deadline` passes.
    /// Returns whether it moved.
    pub(crate) fn wait_past(&self, seen: u64, deadline: Instant) -> bool {
        self.wait_past_unless(seen, deadline, None)
    }

    /// [`wait_past`](Self::wait_past), also returning (`false`) once
    /// `woken` is set and [`interrupt`](Self::interrupt) called.
    pub(crate) fn wait_past_unless(
        &self,
        seen: u64,
        deadline: Instant,
        woken: Option<&AtomicBool>,
    ) -> bool {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = lock(&self.mutex);
        let moved = loop {
            if self.generation.load(Ordering::SeqCst) != seen {
                break true;
            }
            if woken.is_some_and(|w| w.load(Ordering::SeqCst)) {
                break false;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            guard = match self.cond.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        };
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        moved
    }

    /// Wakes every waiter without new records (the store is closing).
    pub(crate) fn wake_all(&self) {
        self.notify();
    }

    /// Has every waiter look at its `woken` flag, set before this call,
    /// without moving the generation: the others go back to sleep.
    pub(crate) fn interrupt(&self) {
        // Taking the lock orders this wake-up after a waiter's check.
        drop(lock(&self.mutex));
        self.cond.notify_all();
    }
}

/// A deadline `timeout` from now, saturating far in the future.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(60 * 60 * 24 * 365))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_waiter_wakes_on_notify_and_times_out_without() {
        let signal = Arc::new(AppendSignal::default());
        let seen = signal.generation();
        let started = Instant::now();
        assert!(!signal.wait_past(seen, deadline_after(Duration::from_millis(30))));
        assert!(started.elapsed() >= Duration::from_millis(30));

        let waiter = {
            let signal = signal.clone();
            std::thread::spawn(move || {
                signal.wait_past(seen, deadline_after(Duration::from_secs(30)))
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        signal.notify();
        assert!(waiter.join().unwrap());
        assert!(started.elapsed() < Duration::from_secs(10));
        // A generation already past returns at once.
        assert!(signal.wait_past(seen, deadline_after(Duration::from_secs(30))));
    }

    #[test]
    fn an_interrupt_wakes_only_the_waiter_whose_flag_is_set() {
        let signal = Arc::new(AppendSignal::default());
        let seen = signal.generation();
        let flags = [
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        ];
        // The first would sleep long; the second only briefly.
        let waits = [Duration::from_secs(60), Duration::from_millis(50)];
        let waiters: Vec<_> = flags
            .iter()
            .zip(waits)
            .map(|(flag, wait)| {
                let (signal, flag) = (signal.clone(), flag.clone());
                std::thread::spawn(move || {
                    let deadline = deadline_after(wait);
                    let moved = signal.wait_past_unless(seen, deadline, Some(&flag));
                    (moved, Instant::now() >= deadline)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        flags[0].store(true, Ordering::SeqCst);
        signal.interrupt();
        let outcomes: Vec<(bool, bool)> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        // The first woke without records, long before its deadline; the
        // second (not interrupted by it) slept to its deadline. The
        // generation did not move.
        assert_eq!(outcomes, [(false, false), (false, true)]);
        assert_eq!(signal.generation(), seen);
        // A flag set before the wait returns at once.
        let deadline = deadline_after(Duration::from_secs(30));
        assert!(!signal.wait_past_unless(seen, deadline, Some(&flags[0])));
        assert!(Instant::now() < deadline);
    }
}

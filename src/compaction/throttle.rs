//! Keeping a round's I/O under a rate (Kafka's cleaner `Throttler`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Longest single sleep: a cancellation is noticed within it.
const SLICE: Duration = Duration::from_millis(50);

/// Sleeps as needed so that the bytes reported stay under a rate, and
/// stops sleeping once `cancel` is set (the log is closing).
#[derive(Debug)]
pub(crate) struct Throttle<'a> {
    bytes_per_second: Option<u64>,
    started: Instant,
    bytes: u64,
    cancel: &'a AtomicBool,
}

impl<'a> Throttle<'a> {
    /// A throttle at `bytes_per_second` (`None` or 0: unlimited).
    pub(crate) fn new(bytes_per_second: Option<u64>, cancel: &'a AtomicBool) -> Self {
        Throttle {
            bytes_per_second: bytes_per_second.filter(|&r| r > 0),
            started: Instant::now(),
            bytes: 0,
            cancel,
        }
    }

    /// Whether the round should stop.
    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Acquire)
    }

    /// Accounts for `bytes` of I/O, sleeping first if that would take the
    /// round above its rate (in slices, until cancelled).
    pub(crate) fn pace(&mut self, bytes: u64) {
        self.pace_unless(bytes, None);
    }

    /// [`pace`](Self::pace), sleeping no more once `stop` is set either.
    pub(crate) fn pace_unless(&mut self, bytes: u64, stop: Option<&AtomicBool>) {
        let Some(rate) = self.bytes_per_second else {
            return;
        };
        self.bytes += bytes;
        let due = Duration::from_secs_f64(self.bytes as f64 / rate as f64);
        loop {
            let elapsed = self.started.elapsed();
            let stopped = stop.is_some_and(|s| s.load(Ordering::Acquire));
            if due <= elapsed || self.cancelled() || stopped {
                return;
            }
            std::thread::sleep((due - elapsed).min(SLICE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_slows_the_bytes_down_and_none_does_not() {
        let cancel = AtomicBool::new(false);
        let mut free = Throttle::new(None, &cancel);
        let t = Instant::now();
        free.pace(1 << 30);
        assert!(t.elapsed() < Duration::from_millis(50));
        let mut slow = Throttle::new(Some(1_000_000), &cancel);
        let t = Instant::now();
        slow.pace(100_000);
        assert!(t.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn a_throttle_stops_sleeping_once_its_stop_flag_is_set() {
        let cancel = AtomicBool::new(false);
        let stop = AtomicBool::new(false);
        let mut slow = Throttle::new(Some(1_000_000), &cancel);
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                stop.store(true, Ordering::Release);
            });
            let t = Instant::now();
            // Ten seconds' worth, cut short by the flag.
            slow.pace_unless(10_000_000, Some(&stop));
            let took = t.elapsed();
            assert!(took >= Duration::from_millis(100), "{took:?}");
            assert!(took < Duration::from_secs(5), "{took:?}");
        });
        assert!(!slow.cancelled());
    }

    #[test]
    fn a_cancelled_throttle_stops_sleeping() {
        let cancel = AtomicBool::new(true);
        let mut slow = Throttle::new(Some(1), &cancel);
        let t = Instant::now();
        slow.pace(1 << 20);
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(slow.cancelled());
    }
}

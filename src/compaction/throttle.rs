//! Keeping a round's I/O under a rate (Kafka's cleaner `Throttler`).

use std::time::{Duration, Instant};

/// Sleeps as needed so that the bytes reported stay under a rate.
#[derive(Debug)]
pub(crate) struct Throttle {
    bytes_per_second: Option<u64>,
    started: Instant,
    bytes: u64,
}

impl Throttle {
    /// A throttle at `bytes_per_second` (`None` or 0: unlimited).
    pub(crate) fn new(bytes_per_second: Option<u64>) -> Self {
        Throttle {
            bytes_per_second: bytes_per_second.filter(|&r| r > 0),
            started: Instant::now(),
            bytes: 0,
        }
    }

    /// Accounts for `bytes` of I/O, sleeping first if that would take the
    /// round above its rate.
    pub(crate) fn pace(&mut self, bytes: u64) {
        let Some(rate) = self.bytes_per_second else {
            return;
        };
        self.bytes += bytes;
        let due = Duration::from_secs_f64(self.bytes as f64 / rate as f64);
        let elapsed = self.started.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_slows_the_bytes_down_and_none_does_not() {
        let mut free = Throttle::new(None);
        let t = Instant::now();
        free.pace(1 << 30);
        assert!(t.elapsed() < Duration::from_millis(50));
        let mut slow = Throttle::new(Some(1_000_000));
        let t = Instant::now();
        slow.pace(100_000);
        assert!(t.elapsed() >= Duration::from_millis(100));
    }
}

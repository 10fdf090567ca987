//! Injected time.
//!
//! Roll-by-age, flush-by-time and log-append timestamps read the time from
//! a [`Clock`] value given to the log, never from a global, so tests can
//! drive time by hand and still run in parallel.

use std::fmt;
#[cfg(any(test, feature = "testing"))]
use std::sync::atomic::{AtomicI64, Ordering};
#[cfg(any(test, feature = "testing"))]
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => millis(d),
            // A clock set before 1970: report the epoch rather than fail.
            Err(_) => 0,
        }
    }
}

/// Whole milliseconds in `d`, `i64::MAX` past it: from seconds and
/// milliseconds rather than `as_millis`, whose 128-bit arithmetic a
/// producer would pay on every record it stamps.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_secs())
        .ok()
        .and_then(|s| s.checked_mul(1_000))
        .and_then(|ms| ms.checked_add(i64::from(d.subsec_millis())))
        .unwrap_or(i64::MAX)
}

/// A clock that only moves when told to. Clones share the same time. A
/// test seam: public with the `testing` feature.
///
/// ```
/// use seglog::{Clock, ManualClock};
/// let clock = ManualClock::new(1_000);
/// clock.advance(500);
/// assert_eq!(clock.now_ms(), 1_500);
/// ```
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    ms: Arc<AtomicI64>,
}

#[cfg(any(test, feature = "testing"))]
impl ManualClock {
    /// A clock showing `ms`.
    pub fn new(ms: i64) -> Self {
        ManualClock {
            ms: Arc::new(AtomicI64::new(ms)),
        }
    }

    /// Sets the time.
    pub fn set(&self, ms: i64) {
        self.ms.store(ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.ms.fetch_add(ms, Ordering::SeqCst);
    }
}

#[cfg(any(test, feature = "testing"))]
impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.ms.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_turn_into_whole_milliseconds() {
        for (secs, nanos) in [
            (0, 0),
            (0, 999_999),
            (1, 1_000_000),
            (1_700_000_000, 999_999_999),
        ] {
            let d = Duration::new(secs, nanos);
            assert_eq!(millis(d), i64::try_from(d.as_millis()).unwrap(), "{d:?}");
        }
        let last = i64::MAX / 1_000;
        assert_eq!(millis(Duration::new(last as u64, 0)), last * 1_000);
        assert_eq!(millis(Duration::new(last as u64 + 1, 0)), i64::MAX);
        assert_eq!(millis(Duration::new(u64::MAX, 999_999_999)), i64::MAX);
    }

    #[test]
    fn the_system_clock_reads_milliseconds_since_the_epoch() {
        let read = || millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap());
        let before = read();
        let now = SystemClock.now_ms();
        let after = read();
        assert!(
            before <= now && now <= after,
            "{before} <= {now} <= {after}"
        );
    }
}

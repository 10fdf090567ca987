//! [`CleanerConfig`]: the store-wide settings of the log cleaner, which
//! compacts the logs whose cleanup policy says so. Kafka's broker configs
//! `log.cleaner.*`, with Kafka's defaults and bounds, and a bound on the
//! work of one maintenance pass of seglog's own.

use crate::error::{Error, Result};

/// The log cleaner's settings, one set for the whole store (Kafka's
/// broker configs `log.cleaner.*`). `Default` gives Kafka's defaults.
///
/// The per-topic settings of compaction (`min.cleanable.dirty.ratio`,
/// `min.compaction.lag.ms`, ...) are in [`LogConfig`](crate::LogConfig).
///
/// ```
/// use seglog::{CleanerConfig, StoreConfig};
/// let config = StoreConfig {
///     cleaner: CleanerConfig {
///         dedupe_buffer_size: 32 << 20,
///         ..CleanerConfig::default()
///     },
///     ..StoreConfig::default()
/// };
/// config.cleaner.validate()?;
/// # Ok::<(), seglog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanerConfig {
    /// Kafka `log.cleaner.dedupe.buffer.size`: bytes of memory for the
    /// offset map that finds the latest record of each key (Kafka's map
    /// takes 24 bytes per key: an MD5 hash and an offset). Default
    /// 134 217 728 (128 MiB); more than 1 048 576 (Kafka asks for more
    /// than 1 MiB per cleaner thread) and at most 2^63-1. As in Kafka, a
    /// round's map takes at most 2 147 483 647 bytes of it.
    pub dedupe_buffer_size: u64,
    /// Kafka `log.cleaner.io.buffer.size`: bytes of memory for the buffers
    /// the cleaner reads and writes segments through (Kafka gives half to
    /// each, and grows them for a batch larger than that). Default 524 288
    /// (512 KiB); at most 2 147 483 647.
    pub io_buffer_size: u32,
    /// Kafka `log.cleaner.io.buffer.load.factor`: how full the offset map
    /// may become (despite the name, this is the dedupe buffer's load
    /// factor); a higher value cleans more of a log in one pass, at the
    /// cost of more hash collisions. Default 0.9; more than 0, at most 1.
    /// A map of 16 slots or more is filled to at most 15/16 of them
    /// whatever the value: with no empty slot left, a lookup of a key the
    /// map does not hold would read the whole map.
    pub io_buffer_load_factor: f64,
    /// Kafka `log.cleaner.io.max.bytes.per.second`: the cleaner throttles
    /// its reads and writes together to this many bytes a second on
    /// average. `None` (the default, Kafka's `Double.MAX`) is unlimited; a
    /// limit is at least 1.
    pub io_max_bytes_per_second: Option<u64>,
    /// Kafka `log.cleaner.backoff.ms`: how long, in milliseconds, the
    /// cleaner waits before looking again when no log needs cleaning.
    /// Default 15 000; at most 2^63-1.
    pub backoff_ms: u64,
    /// Kafka `log.cleaner.enable`: whether maintenance passes compact the
    /// logs whose cleanup policy compacts. Default `true`. (Off, they are
    /// still compacted by [`LogStore::compact`](crate::LogStore::compact)
    /// when asked.)
    pub enable: bool,
    /// seglog's own bound (Kafka's cleaner thread has none): the bytes
    /// that the compaction rounds of one maintenance pass read and write
    /// together, after which the pass starts no more rounds (a round that
    /// started runs to its end; the next pass goes on). It bounds how long
    /// [`LogStore::maintain`](crate::LogStore::maintain) takes. Default
    /// `Some(4 GiB)`; `None` is unlimited; a limit is at least 1.
    pub max_bytes_per_pass: Option<u64>,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            dedupe_buffer_size: 128 << 20,
            io_buffer_size: 512 << 10,
            io_buffer_load_factor: 0.9,
            io_max_bytes_per_second: None,
            backoff_ms: 15_000,
            enable: true,
            max_bytes_per_pass: Some(DEFAULT_MAX_BYTES_PER_PASS),
        }
    }
}

/// The default [`CleanerConfig::max_bytes_per_pass`]: 4 GiB.
const DEFAULT_MAX_BYTES_PER_PASS: u64 = 4 << 30;

/// Kafka's smallest `log.cleaner.dedupe.buffer.size` for one cleaner
/// thread is one byte more than this.
const MIN_DEDUPE_BUFFER: u64 = 1 << 20;
/// The largest value of a Kafka `LONG` setting.
const MAX_LONG: u64 = i64::MAX as u64;

impl CleanerConfig {
    /// Checks every field against its bounds.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the Kafka config of the first field
    /// out of bounds (e.g. `"log.cleaner.dedupe.buffer.size"`).
    pub fn validate(&self) -> Result<()> {
        let size = self.dedupe_buffer_size;
        if size <= MIN_DEDUPE_BUFFER || size > MAX_LONG {
            return Err(Error::config(
                "log.cleaner.dedupe.buffer.size",
                format!("{size} is outside {}..={MAX_LONG}", MIN_DEDUPE_BUFFER + 1),
            ));
        }
        if self.io_buffer_size > i32::MAX as u32 {
            return Err(Error::config(
                "log.cleaner.io.buffer.size",
                format!("{} is above {}", self.io_buffer_size, i32::MAX),
            ));
        }
        let factor = self.io_buffer_load_factor;
        if !(factor > 0.0 && factor <= 1.0) {
            return Err(Error::config(
                "log.cleaner.io.buffer.load.factor",
                format!("{factor} is not more than 0 and at most 1"),
            ));
        }
        if self.io_max_bytes_per_second == Some(0) {
            return Err(Error::config(
                "log.cleaner.io.max.bytes.per.second",
                "must be at least 1 (None is unlimited)",
            ));
        }
        if self.backoff_ms > MAX_LONG {
            return Err(Error::config(
                "log.cleaner.backoff.ms",
                format!("{} is above {MAX_LONG}", self.backoff_ms),
            ));
        }
        if self.max_bytes_per_pass == Some(0) {
            return Err(Error::config(
                "max_bytes_per_pass",
                "must be at least 1 (None is unlimited)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas_and_valid() {
        let c = CleanerConfig::default();
        c.validate().unwrap();
        assert_eq!(c.dedupe_buffer_size, 134_217_728);
        assert_eq!(c.io_buffer_size, 524_288);
        assert_eq!(c.io_buffer_load_factor, 0.9);
        assert_eq!(c.io_max_bytes_per_second, None);
        assert_eq!(c.backoff_ms, 15_000);
        assert!(c.enable);
        assert_eq!(c.max_bytes_per_pass, Some(4_294_967_296));
    }

    #[test]
    fn the_edges_of_each_range_are_accepted() {
        for c in [
            CleanerConfig {
                dedupe_buffer_size: 1_048_577,
                io_buffer_size: 0,
                io_buffer_load_factor: f64::MIN_POSITIVE,
                io_max_bytes_per_second: Some(1),
                backoff_ms: 0,
                enable: false,
                max_bytes_per_pass: Some(1),
            },
            CleanerConfig {
                dedupe_buffer_size: i64::MAX as u64,
                io_buffer_size: i32::MAX as u32,
                io_buffer_load_factor: 1.0,
                io_max_bytes_per_second: Some(u64::MAX),
                backoff_ms: i64::MAX as u64,
                enable: true,
                max_bytes_per_pass: None,
            },
        ] {
            c.validate().unwrap();
        }
    }

    #[test]
    fn each_bad_value_names_its_kafka_config() {
        let bad = |f: fn(&mut CleanerConfig)| {
            let mut c = CleanerConfig::default();
            f(&mut c);
            c
        };
        let cases: Vec<(CleanerConfig, &str)> = vec![
            (
                bad(|c| c.dedupe_buffer_size = 1_048_576),
                "log.cleaner.dedupe.buffer.size",
            ),
            (
                bad(|c| c.dedupe_buffer_size = 0),
                "log.cleaner.dedupe.buffer.size",
            ),
            (
                bad(|c| c.dedupe_buffer_size = i64::MAX as u64 + 1),
                "log.cleaner.dedupe.buffer.size",
            ),
            (
                bad(|c| c.io_buffer_size = i32::MAX as u32 + 1),
                "log.cleaner.io.buffer.size",
            ),
            (
                bad(|c| c.io_buffer_load_factor = 0.0),
                "log.cleaner.io.buffer.load.factor",
            ),
            (
                bad(|c| c.io_buffer_load_factor = -0.5),
                "log.cleaner.io.buffer.load.factor",
            ),
            (
                bad(|c| c.io_buffer_load_factor = 1.0001),
                "log.cleaner.io.buffer.load.factor",
            ),
            (
                bad(|c| c.io_buffer_load_factor = f64::NAN),
                "log.cleaner.io.buffer.load.factor",
            ),
            (
                bad(|c| c.io_buffer_load_factor = f64::INFINITY),
                "log.cleaner.io.buffer.load.factor",
            ),
            (
                bad(|c| c.io_max_bytes_per_second = Some(0)),
                "log.cleaner.io.max.bytes.per.second",
            ),
            (bad(|c| c.backoff_ms = u64::MAX), "log.cleaner.backoff.ms"),
            (
                bad(|c| c.max_bytes_per_pass = Some(0)),
                "max_bytes_per_pass",
            ),
        ];
        for (config, key) in cases {
            match config.validate() {
                Err(Error::InvalidConfig { field, .. }) => assert_eq!(field, key, "{config:?}"),
                other => panic!("{key}: expected InvalidConfig, got {other:?}"),
            }
        }
    }
}

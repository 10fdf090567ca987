//! [`StoreOptions`]: a store on another file system or clock.
//!
//! Applications open a store with [`LogStore::open`] or
//! [`LogStore::open_read_only`] and set everything else in
//! [`StoreConfig`]. This builder is the seam tests use to put a store on
//! the in-memory file system or a manual clock; it is public with the
//! `testing` feature.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::{LogStore, StoreConfig, StoreInner};
use crate::clock::{Clock, SystemClock};
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::io::{Fs, StdFs};

/// How to open a [`LogStore`]: its file system and clock, and whether it
/// is read-only.
#[derive(Clone)]
pub struct StoreOptions {
    pub(super) fs: Arc<dyn Fs>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) read_only: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreOptions")
            .field("fs", &self.fs)
            .field("clock", &self.clock)
            .field("read_only", &self.read_only)
            .finish()
    }
}

// Without the `testing` feature only `LogStore::open*` use this builder.
#[cfg_attr(not(any(test, feature = "testing")), allow(dead_code))]
impl StoreOptions {
    /// The real file system and the system clock.
    pub fn new() -> Self {
        StoreOptions {
            fs: Arc::new(StdFs),
            clock: Arc::new(SystemClock),
            read_only: false,
        }
    }

    /// The file system to use (the in-memory `io::MemFs` in tests).
    pub fn fs(mut self, fs: impl Fs) -> Self {
        self.fs = Arc::new(fs);
        self
    }

    /// The clock for rolling, flushing, retention and log-append time.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Opens the store read-only, as [`LogStore::open_read_only`] does.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Opens (or creates) the store in `dir`; read-only, it must exist.
    ///
    /// # Errors
    /// As [`LogStore::open`].
    pub fn open(self, dir: impl AsRef<Path>, config: StoreConfig) -> Result<LogStore> {
        StoreInner::open(self, dir.as_ref(), config)
    }
}

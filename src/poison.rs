//! The flag that stops writes after a failed write or fsync.
//!
//! After `fsync` fails, the kernel may already have dropped the dirty pages
//! it could not write, so a later `fsync` can succeed although the data is
//! gone. The only safe answer is to stop writing: the log is poisoned until
//! it is reopened, and recovery then establishes what is really on disk.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};

#[derive(Debug, Default)]
pub(crate) struct Poison {
    poisoned: AtomicBool,
    cause: Mutex<Option<String>>,
}

impl Poison {
    /// Fails with [`Error::Poisoned`] once the log is poisoned.
    pub(crate) fn check(&self) -> Result<()> {
        if !self.poisoned.load(Ordering::Acquire) {
            return Ok(());
        }
        let cause = self
            .cause
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default();
        Err(Error::Poisoned { cause })
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// Poisons the log with `error` as the cause (the first cause wins) and
    /// hands the error back.
    pub(crate) fn poison(&self, error: Error) -> Error {
        let mut cause = self.cause.lock().unwrap_or_else(|e| e.into_inner());
        if cause.is_none() {
            *cause = Some(error.to_string());
        }
        self.poisoned.store(true, Ordering::Release);
        error
    }

    /// Runs a write-path step, poisoning the log if it fails.
    pub(crate) fn guard<T>(&self, result: Result<T>) -> Result<T> {
        result.map_err(|e| self.poison(e))
    }
}

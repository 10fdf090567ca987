//! The locks a log opened for writing holds on its directory.
//!
//! A writable [`PartitionLog`](super::PartitionLog) holds an exclusive
//! lock on its directory's lock file (`<dir>/.lock`). If the directory it
//! sits in has a lock file too (`<parent>/.lock`: the directory is a
//! store's, or a Kafka log directory), the log also holds a *shared* lock
//! on that one for as long as it is open. A store holds its directory's
//! lock exclusively (it does not lock its partitions one by one), so:
//!
//! * a store that is open keeps every standalone log out of its directory
//!   (the log cannot share the store's lock);
//! * a standalone log that is open keeps a store out of the directory it
//!   sits in (the store cannot take its lock exclusively while the log
//!   shares it);
//! * a log opened before the directory had a lock file shares nothing,
//!   which is why a store, once it holds its lock, also tries the lock of
//!   every directory in it and fails if one is held.
//!
//! Whatever the order in which a store and a log start, at most one of
//! them ends up writing: each checks for the other only after taking its
//! own lock. Logs of a store and logs opened read-only take no lock.

use std::io;
use std::path::Path;

use crate::error::{Error, Result};
use crate::io::{self as fsio, DirLock, Fs, IoContext, LockMode, LOCK_FILE_NAME};

/// A log's exclusive lock on its directory and, if the directory it sits
/// in has a lock file, its shared lock on that one.
#[derive(Debug)]
struct PartitionLocks {
    _dir: Box<dyn DirLock>,
    _parent: Option<Box<dyn DirLock>>,
}

impl DirLock for PartitionLocks {}

/// Locks `dir` for a log that writes it (see the module docs).
///
/// # Errors
/// [`Error::Locked`] naming `dir` if another log holds it, or a store or a
/// Kafka broker holds the directory it sits in; [`Error::Io`].
pub(super) fn lock(fs: &dyn Fs, dir: &Path) -> Result<Box<dyn DirLock>> {
    let locked = || Error::Locked {
        path: dir.to_path_buf(),
    };
    let own = fs.try_lock_dir(dir).ctx("lock", dir)?.ok_or_else(locked)?;
    // The directory that really holds it, whatever links the path goes
    // through: a store's partition reached by another path is still the
    // store's.
    let real = fs.canonical_path(dir).ctx("resolve", dir)?;
    // A path without a last component (`.`, `/`) does not say which
    // directory holds it: there is nothing to share.
    if real.file_name().is_none() {
        return Ok(own);
    }
    let parent = fsio::parent_dir(&real);
    let shared = match fs.try_lock_existing(parent, LockMode::Shared) {
        Ok(Some(shared)) => Some(shared),
        Ok(None) => return Err(locked()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("lock", &parent.join(LOCK_FILE_NAME), e)),
    };
    Ok(Box::new(PartitionLocks {
        _dir: own,
        _parent: shared,
    }))
}

//! The file-system seam: the only code in seglog that touches files.
//!
//! Everything above this module sees files through two small traits:
//! [`Fs`] (directories, opening, renaming, locking) and [`FileHandle`]
//! (positional reads and writes, `set_len`, `sync_data`, read-only maps).
//! Two implementations ship with the crate:
//!
//! * [`StdFs`], the real one, on `std::fs` and `memmap2`;
//! * `MemFs`, an in-memory file system that keeps, for every file and
//!   every directory, a *live* image (what the running process sees) and a
//!   *durable* image (what survives a power loss). `sync_data` and
//!   `sync_dir` promote live to durable; `MemFs::crash` returns a new file
//!   system holding only the durable state, optionally with a torn tail on
//!   files whose appended bytes were not synced. A fault hook injects
//!   errors (EIO, ENOSPC, short writes) into any call.
//!
//! Positional I/O (`read_at`, `write_all_at`) is used throughout, so
//! readers and the writer share one handle without a seek position and
//! never block each other.
//!
//! # Memory maps
//!
//! Files are mapped read-only, and only where nothing shortens them while
//! the map lives (reading a mapped page past the end of its file kills the
//! process with SIGBUS):
//!
//! * Index files of closed segments. seglog never changes such a file in
//!   place: a rebuilt or truncated index is written to a new file and
//!   renamed over the old one, so an existing map keeps seeing the old,
//!   unchanged inode.
//! * `.log` files of closed segments, by a compaction round's map pass,
//!   for as long as it walks them. The one thing that shortens a closed
//!   segment's `.log` in a running log is a truncation into it (the
//!   segment becomes the active one again); it first stops the map pass
//!   and waits until the pass has let go of its maps (the round aborts),
//!   and the pass maps only segments it finds closed once nothing can
//!   make them active again until it lets go.
//!   Deleting or replacing a segment renames and removes its files, which
//!   leaves an existing map on the old inode.
//!
//! Other processes must not modify the files of a locked log directory. A
//! log opened read-only maps nothing: its writer, in another process, does
//! change its active segment's index files (it trims them when the segment
//! rolls), so their bytes are read instead.

#[cfg(any(test, feature = "testing"))]
mod mem;
mod std_fs;

use std::fmt;
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[cfg(any(test, feature = "testing"))]
pub use mem::{CrashMode, Fault, FsCall, FsOp, MemFs};
pub use std_fs::StdFs;

use crate::error::{Error, Result};

/// How [`Fs::open`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// An existing file, read-only.
    Read,
    /// An existing file, for reading and writing.
    Write,
    /// Read and write, creating the file if it is missing (never truncates).
    Create,
    /// Read and write a new, empty file; an existing file is truncated.
    Truncate,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's file name (not the full path).
    pub name: String,
    /// Whether the entry is a directory.
    pub is_dir: bool,
    /// Length in bytes for files, 0 for directories.
    pub len: u64,
}

/// A lock on a directory, held until dropped.
pub trait DirLock: Send + Sync + fmt::Debug {}

/// The name of the lock file a directory lock is taken on, inside the
/// directory (Kafka's name for the lock file of a log directory).
pub const LOCK_FILE_NAME: &str = ".lock";

/// How [`Fs::try_lock_existing`] locks a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// The only holder: nobody else holds the lock, in either mode.
    Exclusive,
    /// One of any number of shared holders, while nobody holds the lock
    /// exclusively.
    Shared,
}

/// A file system: the operations seglog needs on directories and paths.
///
/// Implementations must be usable from many threads at once.
pub trait Fs: Send + Sync + fmt::Debug + 'static {
    /// Opens the file at `path` as `mode` says.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FileHandle>>;
    /// Creates `path` and every missing parent directory.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Lists the entries of the directory at `path`, in no particular order.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>>;
    /// Renames `from` to `to`, replacing a file at `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes the file at `path`.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes the directory at `path` and everything below it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Whether anything exists at `path`.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Takes an exclusive lock on the directory at `path` through its lock
    /// file ([`LOCK_FILE_NAME`]), creating the file if it is missing.
    /// Returns `Ok(None)` if another holder has it, in either mode, in
    /// this process or another one.
    fn try_lock_dir(&self, path: &Path) -> io::Result<Option<Box<dyn DirLock>>>;
    /// Locks the directory at `path` as `mode` says through the lock file
    /// it already has, without creating one: an error of kind
    /// [`NotFound`](io::ErrorKind::NotFound) if it has none. Returns
    /// `Ok(None)` if a holder in a conflicting mode has it (an exclusive
    /// one, or for [`LockMode::Exclusive`] any), in this process or
    /// another one. Locks taken through [`try_lock_dir`](Self::try_lock_dir)
    /// and through this are the same lock.
    fn try_lock_existing(
        &self,
        path: &Path,
        mode: LockMode,
    ) -> io::Result<Option<Box<dyn DirLock>>>;
    /// `path` absolute, with every symbolic link resolved, so that two
    /// paths to one directory give the same answer (`std::fs::canonicalize`
    /// on the real file system). A file system without links returns the
    /// path as given, which is what this default does.
    fn canonical_path(&self, path: &Path) -> io::Result<PathBuf> {
        Ok(path.to_path_buf())
    }
}

/// An open file. All reads and writes are positional.
pub trait FileHandle: Send + Sync + fmt::Debug {
    /// Reads up to `buf.len()` bytes at `pos`; returns how many were read
    /// (0 at or past the end of the file).
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `pos`, extending the file as needed.
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()>;
    /// The file's current length.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Truncates or extends (with zeros) the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes the file's contents and length durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// Maps the whole file read-only. The file must not change while the
    /// map is alive (see the module docs).
    fn map(&self) -> io::Result<Mapping>;
    /// The underlying `std::fs::File`, when there is one, so a host can hand
    /// byte ranges to `sendfile`/`copy_file_range` without copying them.
    fn as_std_file(&self) -> Option<&std::fs::File> {
        None
    }

    /// Reads exactly `buf.len()` bytes at `pos`, failing with
    /// `UnexpectedEof` if the file is shorter.
    fn read_exact_at(&self, mut buf: &mut [u8], mut pos: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, pos) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file ended before the requested range",
                    ))
                }
                Ok(n) => {
                    buf = &mut buf[n..];
                    pos += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A read-only view of a whole file: a memory map for [`StdFs`], a copy for
/// the in-memory `MemFs`.
pub struct Mapping(MappingInner);

enum MappingInner {
    Mmap(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Mapping {
    /// A mapping that owns its bytes.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        Mapping(MappingInner::Owned(bytes))
    }

    pub(crate) fn from_mmap(map: memmap2::Mmap) -> Self {
        Mapping(MappingInner::Mmap(map))
    }
}

impl Deref for Mapping {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            MappingInner::Mmap(m) => m,
            MappingInner::Owned(v) => v,
        }
    }
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.0 {
            MappingInner::Mmap(_) => "mmap",
            MappingInner::Owned(_) => "owned",
        };
        f.debug_struct("Mapping")
            .field("kind", &kind)
            .field("len", &self.len())
            .finish()
    }
}

/// Adds the operation and path to an `io::Error`, turning it into
/// [`Error::Io`].
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}

/// The directory holding `path`, or `.` for a bare file name.
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates `dir` and any missing parents, and makes every new directory
/// entry durable: each directory that gained an entry is fsynced, from the
/// deepest up.
pub(crate) fn create_dir_durably(fs: &dyn Fs, dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur.filter(|d| !d.as_os_str().is_empty()) {
        if fs.exists(d).ctx("stat", d)? {
            break;
        }
        missing.push(d);
        cur = d.parent();
    }
    if missing.is_empty() {
        return Ok(());
    }
    fs.create_dir_all(dir).ctx("create directory", dir)?;
    for d in missing {
        let parent = parent_dir(d);
        fs.sync_dir(parent).ctx("fsync directory", parent)?;
    }
    Ok(())
}

/// Replaces the file at `path` with `bytes` atomically: write a temporary
/// file, fsync it, rename it over `path`, fsync the directory. After a
/// crash the file holds either the old or the new contents, never a mix.
pub(crate) fn write_file_atomically(fs: &dyn Fs, path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    let file = fs.open(&tmp, OpenMode::Truncate).ctx("create", &tmp)?;
    file.write_all_at(bytes, 0).ctx("write", &tmp)?;
    file.sync_data().ctx("fsync", &tmp)?;
    drop(file);
    fs.rename(&tmp, path).ctx("rename", &tmp)?;
    let dir = parent_dir(path);
    fs.sync_dir(dir).ctx("fsync directory", dir)
}

/// Reads a whole file, or `None` if it does not exist.
pub(crate) fn read_file_if_exists(fs: &dyn Fs, path: &Path) -> Result<Option<Vec<u8>>> {
    read_file_at_most(fs, path, u64::MAX)
}

/// Reads a whole file of at most `max` bytes, or `None` if it does not
/// exist; a larger one is [`Error::Corrupt`] (nothing is allocated for
/// it).
pub(crate) fn read_file_at_most(fs: &dyn Fs, path: &Path, max: u64) -> Result<Option<Vec<u8>>> {
    let file = match fs.open(path, OpenMode::Read) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let len = file.len().ctx("stat", path)?;
    if len > max {
        return Err(Error::corrupt(
            path,
            max,
            format!("file of {len} bytes is larger than the {max} bytes it can hold"),
        ));
    }
    let len = usize::try_from(len)
        .map_err(|_| Error::corrupt(path, 0, "file is too large to read into memory"))?;
    let mut bytes = vec![0; len];
    file.read_exact_at(&mut bytes, 0).ctx("read", path)?;
    Ok(Some(bytes))
}

/// The temporary name used while `path` is being replaced.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

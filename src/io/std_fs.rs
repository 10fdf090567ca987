//! The real file system, on `std::fs`.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{DirEntry, DirLock, FileHandle, Fs, LockMode, Mapping, OpenMode, LOCK_FILE_NAME};

/// The operating system's file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

impl Fs for StdFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FileHandle>> {
        let mut opts = OpenOptions::new();
        opts.read(true);
        match mode {
            OpenMode::Read => {}
            OpenMode::Write => {
                opts.write(true);
            }
            OpenMode::Create => {
                opts.write(true).create(true);
            }
            OpenMode::Truncate => {
                opts.write(true).create(true).truncate(true);
            }
        }
        let file = opts.open(path)?;
        Ok(Arc::new(StdFile { file }))
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let mut entries = Vec::new();
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let meta = match entry.metadata() {
                Ok(m) => m,
                // Removed between the listing and the stat.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            entries.push(DirEntry {
                name: entry.file_name().to_string_lossy().into_owned(),
                is_dir: meta.is_dir(),
                len: if meta.is_dir() { 0 } else { meta.len() },
            });
        }
        Ok(entries)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir_all(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn try_lock_dir(&self, path: &Path) -> io::Result<Option<Box<dyn DirLock>>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path.join(LOCK_FILE_NAME))?;
        lock_file(file, LockMode::Exclusive)
    }

    fn canonical_path(&self, path: &Path) -> io::Result<PathBuf> {
        fs::canonicalize(path)
    }

    fn try_lock_existing(
        &self,
        path: &Path,
        mode: LockMode,
    ) -> io::Result<Option<Box<dyn DirLock>>> {
        // Read access is enough for a lock (`flock`), and creates nothing.
        let file = File::open(path.join(LOCK_FILE_NAME))?;
        lock_file(file, mode)
    }
}

/// Locks `file` as `mode` says, without waiting. `flock` locks belong to
/// the open file, so two opens of one lock file conflict even within one
/// process.
fn lock_file(file: File, mode: LockMode) -> io::Result<Option<Box<dyn DirLock>>> {
    let locked = match mode {
        LockMode::Exclusive => file.try_lock(),
        LockMode::Shared => file.try_lock_shared(),
    };
    match locked {
        Ok(()) => Ok(Some(Box::new(StdDirLock { file }))),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Holds the lock file open; the lock is released when it is dropped.
#[derive(Debug)]
struct StdDirLock {
    file: File,
}

impl DirLock for StdDirLock {}

impl Drop for StdDirLock {
    fn drop(&mut self) {
        // Unlocked explicitly, not only by closing the file: a child
        // process forked by another thread holds a copy of the descriptor
        // until it executes its program, and the lock would live on in it.
        let _ = self.file.unlock();
    }
}

#[derive(Debug)]
struct StdFile {
    file: File,
}

impl FileHandle for StdFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        loop {
            match self.file.read_at(buf, pos) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.file.write_all_at(buf, pos)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn map(&self) -> io::Result<Mapping> {
        if self.len()? == 0 {
            // Mapping an empty file fails on Linux; there is nothing to map.
            return Ok(Mapping::from_vec(Vec::new()));
        }
        // SAFETY: the map is read-only and seglog only maps files that
        // nothing modifies in place while the map lives: index files of
        // closed segments, which are replaced by writing a new file and
        // renaming it over the old name (the map keeps the old inode), and
        // `.log` files of closed segments during a compaction's map pass,
        // which a truncation (the one thing that shortens them) waits for
        // (`CleanerState::mapped` in the log). The directory is locked
        // against other seglog instances; other programs modifying the
        // files of an open log are outside the contract (module docs).
        let map = unsafe { memmap2::Mmap::map(&self.file)? };
        Ok(Mapping::from_mmap(map))
    }

    fn as_std_file(&self) -> Option<&File> {
        Some(&self.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_and_exclusive_locks_of_one_lock_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let missing = StdFs.try_lock_existing(dir, LockMode::Shared);
        assert_eq!(missing.unwrap_err().kind(), io::ErrorKind::NotFound);
        assert!(!dir.join(LOCK_FILE_NAME).exists());

        let exclusive = StdFs.try_lock_dir(dir).unwrap().unwrap();
        assert!(StdFs
            .try_lock_existing(dir, LockMode::Shared)
            .unwrap()
            .is_none());
        drop(exclusive);
        let a = StdFs.try_lock_existing(dir, LockMode::Shared).unwrap();
        let b = StdFs.try_lock_existing(dir, LockMode::Shared).unwrap();
        assert!(a.is_some() && b.is_some());
        assert!(StdFs.try_lock_dir(dir).unwrap().is_none());
        drop((a, b));
        assert!(StdFs
            .try_lock_existing(dir, LockMode::Exclusive)
            .unwrap()
            .is_some());
    }
}

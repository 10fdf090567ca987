//! A file system for tests and benchmarks that build large data sets on
//! the real file system, where durability is not what is measured.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

use seglog::io::{DirEntry, DirLock, FileHandle, Fs, LockMode, Mapping, OpenMode, StdFs};

/// [`StdFs`] with `sync_data` and `sync_dir` doing nothing.
#[derive(Debug)]
pub struct NoSyncFs;

#[derive(Debug)]
pub struct NoSyncFile(Arc<dyn FileHandle>);

impl Fs for NoSyncFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FileHandle>> {
        Ok(Arc::new(NoSyncFile(StdFs.open(path, mode)?)))
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        StdFs.create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        StdFs.list_dir(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdFs.remove_file(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        StdFs.remove_dir_all(path)
    }
    fn sync_dir(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        StdFs.exists(path)
    }
    fn try_lock_dir(&self, path: &Path) -> io::Result<Option<Box<dyn DirLock>>> {
        StdFs.try_lock_dir(path)
    }
    fn canonical_path(&self, path: &Path) -> io::Result<std::path::PathBuf> {
        StdFs.canonical_path(path)
    }

    fn try_lock_existing(
        &self,
        path: &Path,
        mode: LockMode,
    ) -> io::Result<Option<Box<dyn DirLock>>> {
        StdFs.try_lock_existing(path, mode)
    }
}

impl FileHandle for NoSyncFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.0.read_at(buf, pos)
    }
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.0.write_all_at(buf, pos)
    }
    fn len(&self) -> io::Result<u64> {
        self.0.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }
    fn map(&self) -> io::Result<Mapping> {
        self.0.map()
    }
    fn as_std_file(&self) -> Option<&File> {
        self.0.as_std_file()
    }
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, pos)
    }
}

/// Makes partitions `1..partitions` of `topic` in the store at `root`
/// copies of partition 0, whose active segment starts at `active_base`.
/// The active segment's files are written in place (appends, index
/// preallocation): copied. Sealed segments' files are never changed in
/// place, and the checkpoint files are only ever replaced (renamed over)
/// or removed: linked. Returns how many files partition 0 has.
// Not every binary that includes this module builds stores this way.
#[allow(dead_code)]
pub fn clone_partition_zero(root: &Path, topic: &str, partitions: u32, active_base: u64) -> usize {
    let template = root.join(format!("{topic}-0"));
    let files: Vec<_> = std::fs::read_dir(&template)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name())
        .collect();
    let active = format!("{active_base:020}.");
    for p in 1..partitions {
        let to = root.join(format!("{topic}-{p}"));
        // The empty partition the store created.
        std::fs::remove_dir_all(&to).unwrap();
        std::fs::create_dir(&to).unwrap();
        for name in &files {
            let (from, to) = (template.join(name), to.join(name));
            let link = !name.to_string_lossy().starts_with(&active);
            if !(link && std::fs::hard_link(&from, &to).is_ok()) {
                std::fs::copy(&from, &to).unwrap();
            }
        }
    }
    files.len()
}

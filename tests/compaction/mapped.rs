//! The map pass reads the `.log` files of closed segments through memory
//! maps. A file that shrank under a map would kill the process (SIGBUS)
//! at the first read of a page past its new end, so a truncation that
//! cuts a closed segment waits until no round has a file mapped: the map
//! pass stops at its next batch, and its round aborts.
//!
//! Tested on real files, with a hook in the file system's `map` that
//! starts the truncation on another thread and gives it time to cut the
//! file before the pass reads it: without the wait, the pass would read a
//! page past the file's end and the test binary would die.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use seglog::io::{DirEntry, DirLock, FileHandle, Fs, LockMode, Mapping, OpenMode, StdFs};
use seglog::{BatchBuilder, OpenOptions, Record};

use crate::helpers::*;

type Hook = Box<dyn Fn(&Path) + Send + Sync>;

/// [`StdFs`], with a hook run by every `map` of a file once it is mapped.
#[derive(Clone, Default)]
struct MapHookFs {
    hook: Arc<Mutex<Option<Arc<Hook>>>>,
}

impl std::fmt::Debug for MapHookFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MapHookFs")
    }
}

#[derive(Debug)]
struct MapHookFile {
    file: Arc<dyn FileHandle>,
    path: std::path::PathBuf,
    fs: MapHookFs,
}

impl Fs for MapHookFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FileHandle>> {
        Ok(Arc::new(MapHookFile {
            file: StdFs.open(path, mode)?,
            path: path.to_path_buf(),
            fs: self.clone(),
        }))
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
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        StdFs.sync_dir(path)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        StdFs.exists(path)
    }
    fn try_lock_dir(&self, path: &Path) -> io::Result<Option<Box<dyn DirLock>>> {
        StdFs.try_lock_dir(path)
    }
    fn try_lock_existing(
        &self,
        path: &Path,
        mode: LockMode,
    ) -> io::Result<Option<Box<dyn DirLock>>> {
        StdFs.try_lock_existing(path, mode)
    }
    fn canonical_path(&self, path: &Path) -> io::Result<std::path::PathBuf> {
        StdFs.canonical_path(path)
    }
}

impl FileHandle for MapHookFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.file.read_at(buf, pos)
    }
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.file.write_all_at(buf, pos)
    }
    fn len(&self) -> io::Result<u64> {
        self.file.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn map(&self) -> io::Result<Mapping> {
        let map = self.file.map()?;
        let hook = self.fs.hook.lock().unwrap().clone();
        if let Some(hook) = hook {
            hook(&self.path);
        }
        Ok(map)
    }
    fn as_std_file(&self) -> Option<&File> {
        self.file.as_std_file()
    }
}

/// A record under `key` whose one-record batch is exactly a page (4,096
/// bytes), so that a file cut after a batch ends at a page boundary.
fn page_record(key: &str) -> Record {
    let build = |len: usize| {
        Record::new(vec![b'v'; len])
            .with_key(key)
            .with_timestamp(10)
    };
    let overhead = BatchBuilder::new().build(&[build(4000)]).unwrap().len() - 4000;
    let record = build(4096 - overhead);
    assert_eq!(
        BatchBuilder::new()
            .build(std::slice::from_ref(&record))
            .unwrap()
            .len(),
        4096
    );
    record
}

#[test]
fn a_truncation_waits_for_the_map_pass_to_let_go_of_the_file_it_cuts() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = MapHookFs::default();
    let config = seglog::LogConfig {
        segment_bytes: 16 * 4096,
        ..config()
    };
    let log = OpenOptions::new()
        .fs(fs.clone())
        .open(tmp.path().join("t-0"), config)
        .unwrap();
    // Two closed segments of pages, then the active one.
    for i in 0..32u64 {
        log.append(&[page_record(&format!("k{}", i % 4))]).unwrap();
        if i % 16 == 15 {
            log.roll().unwrap();
        }
    }
    log.append(&[page_record("k0")]).unwrap();
    let before = records(&log);
    assert_eq!(log.segments().len(), 3);
    let second = log.segments()[1].path.clone();

    let fired = Arc::new(AtomicBool::new(false));
    let truncation: Arc<Mutex<Option<JoinHandle<seglog::Result<()>>>>> = Arc::default();
    let (flag, running, cutter) = (fired.clone(), truncation.clone(), log.clone());
    let hook: Hook = Box::new(move |path| {
        // The pass has mapped the second segment: a truncation to just
        // past its first batch would leave its file one page long, and
        // the pass reads the next page next.
        if path == second.as_path() && !flag.swap(true, Ordering::SeqCst) {
            let log = cutter.clone();
            *running.lock().unwrap() = Some(std::thread::spawn(move || log.truncate_to(17)));
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    *fs.hook.lock().unwrap() = Some(Arc::new(hook));
    let out = log.compact(10).unwrap();
    *fs.hook.lock().unwrap() = None;
    assert!(fired.load(Ordering::SeqCst), "the hook ran");
    let truncated = truncation
        .lock()
        .unwrap()
        .take()
        .expect("the truncation ran");
    truncated.join().unwrap().unwrap();

    assert!(out.aborted, "{out:?}");
    assert_eq!((out.records_read, out.segments_written), (0, 0), "{out:?}");
    let expected: Vec<_> = before.into_iter().filter(|r| r.0 < 17).collect();
    assert_eq!(records(&log), expected);
    // The next round cleans what is left.
    log.roll().unwrap();
    let out = log.compact(10).unwrap();
    assert!(!out.aborted && out.segments_written > 0, "{out:?}");
    assert_eq!(log.log_end_offset(), 17);
    log.close().unwrap();
}

//! The map pass reads the `.log` files of closed segments through memory
//! maps. A file that shrank under a map would kill the process (SIGBUS)
//! at the first read of a page past its new end, so a truncation that
//! cuts a closed segment waits until no round has a file mapped: the map
//! pass stops after the batch it is on, and its round aborts. And the pass
//! maps no segment that a truncation made active again before the pass
//! began.
//!
//! Tested on real files, with hooks in the file system that start the
//! truncations on other threads at the points that matter and give them
//! time to cut the file before the pass reads it: without the wait, the
//! pass would read a page past the file's end and the test binary would
//! die.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use seglog::io::{DirEntry, DirLock, FileHandle, Fs, LockMode, Mapping, OpenMode, StdFs};
use seglog::{BatchBuilder, OpenOptions, PartitionLog, Record};

use crate::helpers::*;

/// What a hook of [`MapHookFs`] is told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// A `map` of the file, once it is mapped.
    Map,
    /// A read of `len` bytes at `pos`, before it reads.
    Read { pos: u64, len: usize },
    /// A write, before it writes.
    Write,
}

type Hook = Box<dyn Fn(Call, &Path) + Send + Sync>;

/// [`StdFs`], with a hook run by every `map`, read and write of a file.
#[derive(Clone, Default)]
struct MapHookFs {
    hook: Arc<Mutex<Option<Arc<Hook>>>>,
}

impl MapHookFs {
    fn set_hook(&self, hook: Option<Hook>) {
        *self.hook.lock().unwrap() = hook.map(Arc::new);
    }

    fn call(&self, call: Call, path: &Path) {
        let hook = self.hook.lock().unwrap().clone();
        if let Some(hook) = hook {
            hook(call, path);
        }
    }
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
        let len = buf.len();
        self.fs.call(Call::Read { pos, len }, &self.path);
        self.file.read_at(buf, pos)
    }
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.fs.call(Call::Write, &self.path);
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
        self.fs.call(Call::Map, &self.path);
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

/// A log on real files under `fs`, of two closed segments of 16 pages
/// (offsets 0-15 and 16-31, keys k0 to k3) and an active one (32).
fn two_closed_segments_of_pages(dir: &Path, fs: &MapHookFs) -> PartitionLog {
    let config = seglog::LogConfig {
        segment_bytes: 16 * 4096,
        ..config()
    };
    let log = OpenOptions::new()
        .fs(fs.clone())
        .open(dir.join("t-0"), config)
        .unwrap();
    for i in 0..32u64 {
        log.append(&[page_record(&format!("k{}", i % 4))]).unwrap();
        if i % 16 == 15 {
            log.roll().unwrap();
        }
    }
    log.append(&[page_record("k0")]).unwrap();
    assert_eq!(log.segments().len(), 3);
    log
}

/// Waits until `flag` is set (at most 10 s), then a little more.
fn wait_for(flag: &AtomicBool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !flag.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(100));
}

#[test]
fn a_truncation_waits_for_the_map_pass_to_let_go_of_the_file_it_cuts() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = MapHookFs::default();
    let log = two_closed_segments_of_pages(tmp.path(), &fs);
    let before = records(&log);
    let second = log.segments()[1].path.clone();

    let fired = Arc::new(AtomicBool::new(false));
    let persisted = Arc::new(AtomicBool::new(false));
    let truncation: Arc<Mutex<Option<JoinHandle<seglog::Result<()>>>>> = Arc::default();
    let (flag, cut, running, cutter) = (
        fired.clone(),
        persisted.clone(),
        truncation.clone(),
        log.clone(),
    );
    fs.set_hook(Some(Box::new(move |call, path| {
        if call == Call::Write && path.to_string_lossy().contains("seglog.checkpoint") {
            cut.store(true, Ordering::SeqCst);
        }
        // The pass has mapped the second segment: a truncation to just
        // past its first batch would leave its file one page long, and
        // the pass reads the next page next. The truncation persists its
        // new end, then waits for the pass (or, without the wait, cuts).
        if call == Call::Map && path == second.as_path() && !flag.swap(true, Ordering::SeqCst) {
            let log = cutter.clone();
            *running.lock().unwrap() = Some(std::thread::spawn(move || log.truncate_to(17)));
            wait_for(&cut);
        }
    })));
    let out = log.compact(10).unwrap();
    fs.set_hook(None);
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

/// A truncation into the second segment after the round has looked at the
/// segments, before the pass begins: the segment is the active one again,
/// refilled, when the pass gets to it, and a second truncation into it
/// (into the active segment: it waits for nothing) would cut it under a
/// map. The pass maps no segment it finds active; the round aborts.
#[test]
fn the_map_pass_maps_no_segment_a_truncation_made_active_before_it_began() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = MapHookFs::default();
    let log = two_closed_segments_of_pages(tmp.path(), &fs);
    let first = log.segments()[0].path.clone();
    let second = log.segments()[1].path.clone();
    let first_read = Arc::new(AtomicBool::new(false));
    let mapped_second = Arc::new(AtomicBool::new(false));
    let truncation: Arc<Mutex<Option<JoinHandle<seglog::Result<()>>>>> = Arc::default();
    let (read_flag, map_flag, running, cutter) = (
        first_read.clone(),
        mapped_second.clone(),
        truncation.clone(),
        log.clone(),
    );
    fs.set_hook(Some(Box::new(move |call, path| {
        // The round reads the first batch header of each segment it looks
        // at, before the pass: the truncation runs to its end there,
        // refilling the second segment (not rolled: it stays active).
        if call == (Call::Read { pos: 0, len: 61 })
            && path == first.as_path()
            && !read_flag.swap(true, Ordering::SeqCst)
        {
            let log = cutter.clone();
            std::thread::spawn(move || {
                log.truncate_to(17).unwrap();
                for i in 17..32u64 {
                    log.append(&[page_record(&format!("k{}", i % 4))]).unwrap();
                }
            })
            .join()
            .unwrap();
        }
        if call == Call::Map && path == second.as_path() && !map_flag.swap(true, Ordering::SeqCst) {
            let log = cutter.clone();
            *running.lock().unwrap() = Some(std::thread::spawn(move || log.truncate_to(17)));
            std::thread::sleep(Duration::from_millis(300));
        }
    })));
    let out = log.compact(10).unwrap();
    fs.set_hook(None);
    assert!(
        first_read.load(Ordering::SeqCst),
        "the first truncation ran"
    );
    assert!(
        !mapped_second.load(Ordering::SeqCst),
        "the pass mapped the active segment"
    );
    assert!(truncation.lock().unwrap().is_none());
    assert!(out.aborted, "{out:?}");
    assert_eq!((out.records_read, out.segments_written), (0, 0), "{out:?}");
    assert_eq!(log.log_end_offset(), 32);
    log.close().unwrap();
}

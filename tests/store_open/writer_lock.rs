//! One writer per partition: a partition directory of an open store cannot
//! be opened for writing as a standalone log, and a store cannot open while
//! a standalone log writes one of its partitions, in one process and across
//! two. Read-only opens take no lock and stay allowed.
//!
//! The two-process test re-executes this test binary as a child (`--exact
//! writer_lock::writer_lock_child`) that opens a store or a log, says it is ready and
//! holds it until told to stop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use seglog::io::{Fs, MemFs, StdFs};
use seglog::store::{LogStore, StoreConfig, StoreOptions};
use seglog::{Error, LogConfig, OpenOptions, PartitionLog, Record};

const ENV_DIR: &str = "SEGLOG_WRITER_LOCK_DIR";
const ENV_ROLE: &str = "SEGLOG_WRITER_LOCK_ROLE";
const ENV_CONTROL: &str = "SEGLOG_WRITER_LOCK_CONTROL";

fn config() -> StoreConfig {
    let mut config = StoreConfig::default();
    config.topic_defaults.log.segment_index_bytes = 4_096;
    config
}

fn log_config() -> LogConfig {
    LogConfig {
        segment_index_bytes: 4_096,
        ..LogConfig::default()
    }
}

fn open_store<F: Fs + Clone>(fs: &F, root: &Path) -> seglog::Result<LogStore> {
    StoreOptions::new().fs(fs.clone()).open(root, config())
}

fn open_store_read_only<F: Fs + Clone>(fs: &F, root: &Path) -> seglog::Result<LogStore> {
    StoreOptions::new()
        .fs(fs.clone())
        .read_only(true)
        .open(root, config())
}

fn open_log<F: Fs + Clone>(fs: &F, dir: &Path) -> seglog::Result<PartitionLog> {
    OpenOptions::new().fs(fs.clone()).open(dir, log_config())
}

fn open_log_read_only<F: Fs + Clone>(fs: &F, dir: &Path) -> seglog::Result<PartitionLog> {
    OpenOptions::new()
        .fs(fs.clone())
        .read_only(true)
        .open(dir, log_config())
}

fn assert_locked<T: std::fmt::Debug>(result: seglog::Result<T>, path: &Path) {
    match result {
        Err(Error::Locked { path: p }) => assert_eq!(p, path),
        other => panic!("expected {} to be locked, got {other:?}", path.display()),
    }
}

/// A store with topic `t` of two partitions, one record in each, closed.
fn make_store<F: Fs + Clone>(fs: &F, root: &Path) {
    let store = open_store(fs, root).unwrap();
    store.create_topic("t", 2, &[]).unwrap();
    for p in 0..2 {
        store
            .partition("t", p)
            .unwrap()
            .append(&[Record::new("x")])
            .unwrap();
    }
    store.close().unwrap();
}

/// The store holds its partitions: no standalone log writes in them, or
/// beside them in its directory, until it closes.
fn store_then_log<F: Fs + Clone>(fs: &F, root: &Path) {
    make_store(fs, root);
    let store = open_store(fs, root).unwrap();
    assert_locked(open_log(fs, &root.join("t-0")), &root.join("t-0"));
    assert_locked(open_log(fs, &root.join("other-0")), &root.join("other-0"));
    // Reading beside the store is allowed.
    let reader = open_log_read_only(fs, &root.join("t-0")).unwrap();
    assert_eq!(reader.log_end_offset(), 1);
    store.close().unwrap();
    drop(store);
    let log = open_log(fs, &root.join("t-0")).unwrap();
    assert_eq!(log.log_end_offset(), 1);
    log.close().unwrap();
}

/// A standalone log in a store's partition keeps the store from opening
/// for writing until it closes; a read-only store opens beside it.
fn log_then_store<F: Fs + Clone>(fs: &F, root: &Path) {
    make_store(fs, root);
    let log = open_log(fs, &root.join("t-1")).unwrap();
    assert_locked(open_store(fs, root), root);
    assert_locked(open_log(fs, &root.join("t-1")), &root.join("t-1"));
    let reader = open_store_read_only(fs, root).unwrap();
    assert_eq!(reader.list_topics(), ["t"]);
    drop(reader);
    log.append(&[Record::new("y")]).unwrap();
    log.close().unwrap();
    drop(log);
    let store = open_store(fs, root).unwrap();
    assert_eq!(store.partition("t", 1).unwrap().log_end_offset(), 2);
    store.close().unwrap();
}

/// A store created in a directory where a standalone log already writes
/// (no store lock file to share yet) finds the log's lock, and adopts
/// nothing while it is held.
fn log_before_any_store<F: Fs + Clone>(fs: &F, root: &Path) {
    let log = open_log(fs, &root.join("t-0")).unwrap();
    log.append(&[Record::new("z")]).unwrap();
    assert_locked(open_store(fs, root), &root.join("t-0"));
    assert!(!fs.exists(&root.join("seglog.topics")).unwrap());
    log.close().unwrap();
    drop(log);
    let store = open_store(fs, root).unwrap();
    assert_eq!(store.list_topics(), ["t"]);
    assert_eq!(store.partition("t", 0).unwrap().log_end_offset(), 1);
    store.close().unwrap();
}

#[test]
fn a_store_and_a_standalone_log_exclude_each_other_on_the_real_file_system() {
    for case in [
        store_then_log::<StdFs>,
        log_then_store,
        log_before_any_store,
    ] {
        let tmp = tempfile::tempdir().unwrap();
        case(&StdFs, &tmp.path().join("store"));
    }
}

#[test]
fn a_store_and_a_standalone_log_exclude_each_other_on_mem_fs() {
    for case in [
        store_then_log::<MemFs>,
        log_then_store,
        log_before_any_store,
    ] {
        case(&MemFs::new(), Path::new("/store"));
    }
}

/// The store's logs and a standalone writer of another directory do not
/// get in each other's way: only the store's directory is shared.
#[test]
fn a_standalone_log_outside_the_store_is_not_held_up() {
    let fs = MemFs::new();
    make_store(&fs, Path::new("/data/store"));
    let store = open_store(&fs, Path::new("/data/store")).unwrap();
    let beside = open_log(&fs, Path::new("/data/t-0")).unwrap();
    beside.append(&[Record::new("a")]).unwrap();
    beside.close().unwrap();
    store.close().unwrap();
}

/// Run by `one_writer_per_partition_across_processes` as its child: opens
/// a store or a log, says so, and holds it until told to stop.
#[test]
fn writer_lock_child() {
    let (Ok(dir), Ok(role), Ok(control)) = (
        std::env::var(ENV_DIR),
        std::env::var(ENV_ROLE),
        std::env::var(ENV_CONTROL),
    ) else {
        return;
    };
    let control = PathBuf::from(control);
    let held: Box<dyn FnOnce()> = match role.as_str() {
        "store" => {
            let store = LogStore::open(&dir, config()).unwrap();
            Box::new(move || store.close().unwrap())
        }
        "log" => {
            let log = PartitionLog::open(&dir, log_config()).unwrap();
            log.append(&[Record::new("child")]).unwrap();
            Box::new(move || log.close().unwrap())
        }
        other => panic!("unknown role {other}"),
    };
    std::fs::write(control.join("ready"), b"").unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !control.join("stop").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    held();
}

/// A child holding `dir` as `role` (`store` or `log`), once it is ready.
struct Holder {
    child: Child,
    control: tempfile::TempDir,
}

impl Holder {
    fn start(role: &str, dir: &Path) -> Holder {
        let control = tempfile::tempdir().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "writer_lock::writer_lock_child",
                "--test-threads=1",
            ])
            .env(ENV_DIR, dir)
            .env(ENV_ROLE, role)
            .env(ENV_CONTROL, control.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !control.path().join("ready").exists() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the child holding {} as a {role} exited",
                dir.display()
            );
            assert!(Instant::now() < deadline, "the child never got ready");
            std::thread::sleep(Duration::from_millis(5));
        }
        Holder { child, control }
    }

    fn stop(mut self) {
        std::fs::write(self.control.path().join("stop"), b"").unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the child failed: {status}");
    }
}

#[test]
fn one_writer_per_partition_across_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    make_store(&StdFs, &root);

    // Store first, in the child: no log writes in it here.
    let holder = Holder::start("store", &root);
    assert_locked(
        PartitionLog::open(root.join("t-0"), log_config()),
        &root.join("t-0"),
    );
    let reader = open_log_read_only(&StdFs, &root.join("t-0")).unwrap();
    assert_eq!(reader.log_end_offset(), 1);
    holder.stop();
    PartitionLog::open(root.join("t-0"), log_config())
        .unwrap()
        .close()
        .unwrap();

    // A log first, in the child: the store does not open here.
    let holder = Holder::start("log", &root.join("t-0"));
    assert_locked(LogStore::open(&root, config()), &root);
    let reader = LogStore::open_read_only(&root, config()).unwrap();
    assert_eq!(reader.list_topics(), ["t"]);
    drop(reader);
    holder.stop();
    let store = LogStore::open(&root, config()).unwrap();
    assert_eq!(store.partition("t", 0).unwrap().log_end_offset(), 2);
    store.close().unwrap();

    // A log in a directory no store has used yet.
    let fresh = tmp.path().join("fresh");
    let holder = Holder::start("log", &fresh.join("t-0"));
    assert_locked(LogStore::open(&fresh, config()), &fresh.join("t-0"));
    holder.stop();
    let store = LogStore::open(&fresh, config()).unwrap();
    assert_eq!(store.partition("t", 0).unwrap().log_end_offset(), 1);
    store.close().unwrap();
}

/// The store probes only directories named as partitions: it writes no
/// other, and another (a file system's `lost+found`, a host's own files)
/// may be held, or not even be searchable, without concerning it.
#[test]
fn the_store_leaves_directories_that_are_not_partitions_alone() {
    let fs = MemFs::new();
    let root = Path::new("/store");
    // A writer in a directory of the root that no topic can own, before
    // the root has a lock file of its own.
    let beside = open_log(&fs, &root.join("scratch")).unwrap();
    beside.append(&[Record::new("a")]).unwrap();
    let store = open_store(&fs, root).unwrap();
    assert!(store.list_topics().is_empty());
    store.close().unwrap();
    beside.close().unwrap();
}

/// A partition of an open store reached through a symbolic link is still
/// the store's: a standalone writer there is refused, and a store does not
/// open while a writer holds one of its partitions through a link.
#[test]
fn a_partition_reached_through_a_link_is_still_the_stores() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    make_store(&StdFs, &root);
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let link = elsewhere.join("p");
    std::os::unix::fs::symlink(root.join("t-0"), &link).unwrap();

    let store = open_store(&StdFs, &root).unwrap();
    assert_locked(open_log(&StdFs, &link), &link);
    store.close().unwrap();
    drop(store);

    let log = open_log(&StdFs, &link).unwrap();
    assert!(matches!(
        open_store(&StdFs, &root),
        Err(Error::Locked { .. })
    ));
    log.close().unwrap();
}

//! A compaction round against what runs beside it: read-only views opened
//! or reading during the swap, a close in the middle of a round, options
//! out of range, and a checkpoint above the end at open.

use std::sync::{Arc, Mutex};
use std::thread;

use seglog::compaction::CompactOptions;
use seglog::io::{FsOp, MemFs};
use seglog::{Error, LogConfig, ManualClock, PartitionLog};

use crate::common_crash::{file_names, DIR};
use crate::helpers::*;

fn config() -> LogConfig {
    small_config()
}

fn view(fs: &MemFs, clock: &ManualClock) -> seglog::Result<PartitionLog> {
    open_view(fs, clock)
}

fn write(fs: &MemFs, clock: &ManualClock) -> PartitionLog {
    write_six_keys(fs, clock)
}

#[test]
fn a_view_opened_during_the_swap_waits_for_it_and_sees_every_key() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = write(&fs, &clock);
    let opened: Arc<Mutex<Option<thread::JoinHandle<seglog::Result<PartitionLog>>>>> =
        Arc::default();
    {
        let (fs2, clock2, opened) = (fs.clone(), clock.clone(), opened.clone());
        // When the first `.swap` goes into place, another thread opens a
        // view: it finds old segments renamed away and new ones not there.
        fs.set_fault_hook(move |call| {
            if call.op == FsOp::Rename && call.path.to_string_lossy().ends_with(".log.swap") {
                let mut slot = opened.lock().unwrap();
                if slot.is_none() {
                    let (fs, clock) = (fs2.clone(), clock2.clone());
                    *slot = Some(thread::spawn(move || view(&fs, &clock)));
                    // Let it list the directory mid-swap.
                    drop(slot);
                    thread::sleep(std::time::Duration::from_millis(30));
                }
            }
            None
        });
    }
    log.compact(1).unwrap();
    fs.clear_fault_hook();
    let handle = opened
        .lock()
        .unwrap()
        .take()
        .expect("the hook saw the swap");
    let reader = handle.join().unwrap().unwrap();
    assert_eq!(records(&reader), records(&log));
    assert_eq!(table(&reader).len(), 6);
}

#[test]
fn a_view_opened_while_a_swap_cannot_finish_fails_rather_than_hide_segments() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = write(&fs, &clock);
    let seen: Arc<Mutex<Option<seglog::Result<PartitionLog>>>> = Arc::default();
    {
        let (fs2, clock2, seen) = (fs.clone(), clock.clone(), seen.clone());
        fs.set_fault_hook(move |call| {
            if call.op == FsOp::Rename && call.path.to_string_lossy().ends_with(".log.swap") {
                if let Ok(mut slot) = seen.try_lock() {
                    if slot.is_none() {
                        // The writer is held up right here: the swap stays.
                        *slot = Some(view(&fs2, &clock2));
                    }
                }
            }
            None
        });
    }
    log.compact(1).unwrap();
    fs.clear_fault_hook();
    let result = seen.lock().unwrap().take().expect("the hook saw the swap");
    match result {
        Err(Error::Corrupt { path, reason, .. }) => {
            assert!(path.to_string_lossy().ends_with(".swap"), "{path:?}");
            assert!(reason.contains("swap"), "{reason}");
        }
        other => panic!("expected Corrupt, got {:?}", other.map(|l| records(&l))),
    }
}

#[test]
fn a_view_that_reads_a_replaced_segment_fails_until_it_refreshes() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = write(&fs, &clock);
    let reader = view(&fs, &clock).unwrap();
    log.compact(1).unwrap();
    // The view's first segment has the old size: reading it is an error,
    // never records from the wrong places of the new file.
    let err = reader.read(0, 1 << 20).map(|f| f.len_bytes()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(reader.refresh().unwrap(), "the refresh replaced segments");
    assert_eq!(records(&reader), records(&log));
}

#[test]
fn closing_the_log_stops_a_round_and_leaves_no_cleaned_files() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = write(&fs, &clock);
    let closer: Arc<Mutex<Option<thread::JoinHandle<seglog::Result<()>>>>> = Arc::default();
    {
        let (log2, closer) = (log.clone(), closer.clone());
        fs.set_fault_hook(move |call| {
            if call.op == FsOp::Write && call.path.to_string_lossy().ends_with(".log.cleaned") {
                let mut slot = closer.lock().unwrap();
                if slot.is_none() {
                    let log = log2.clone();
                    *slot = Some(thread::spawn(move || log.close()));
                    drop(slot);
                    // The close has begun: it waits for the round.
                    while !log2.is_closed() {
                        thread::yield_now();
                    }
                }
            }
            None
        });
    }
    let out = log.compact(1);
    fs.clear_fault_hook();
    assert!(matches!(out, Err(Error::Closed)), "{out:?}");
    closer
        .lock()
        .unwrap()
        .take()
        .unwrap()
        .join()
        .unwrap()
        .unwrap();
    assert!(file_names(&fs, ".cleaned").is_empty());
    assert!(file_names(&fs, ".swap").is_empty());
    let log = open_log(&fs, &clock, &config());
    assert_eq!(records(&log).len(), 60);
}

#[test]
fn options_out_of_range_are_bounded_not_a_panic() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = write(&fs, &clock);
    let before = table(&log);
    let out = log
        .compact_with(
            1,
            &CompactOptions {
                io_buffer_bytes: usize::MAX,
                load_factor: f64::NAN,
                dedupe_buffer_bytes: 0,
                ..CompactOptions::default()
            },
        )
        .unwrap();
    assert!(out.map_bytes > 0);
    assert_eq!(table(&log), before);
}

#[test]
fn an_open_lowers_a_checkpoint_above_the_log_end() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = write(&fs, &clock);
    log.close().unwrap();
    write_checkpoint(&fs, 1_000);
    let log = open_log(&fs, &clock, &config());
    assert_eq!(log.cleaner_checkpoint(), Some(60));
    log.close().unwrap();
    let text = fs
        .read(&std::path::Path::new(DIR).join("cleaner-offset-checkpoint"))
        .unwrap();
    assert_eq!(String::from_utf8(text).unwrap(), "0\n1\nt 0 60\n");
}

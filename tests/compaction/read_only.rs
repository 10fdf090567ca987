//! A read-only view of a log that another handle compacts: it follows the
//! new segments at its next refresh, and a refresh in the middle of the
//! swap keeps the old view whole.

use std::sync::{Arc, Mutex};

use seglog::io::{FsOp, MemFs};
use seglog::{ManualClock, PartitionLog};

use crate::helpers::*;

/// One record as [`records`] returns it.
type Row = (u64, String, Option<String>);

fn view(fs: &MemFs, clock: &ManualClock) -> PartitionLog {
    open_view(fs, clock).unwrap()
}

fn write(fs: &MemFs, clock: &ManualClock) -> PartitionLog {
    write_six_keys(fs, clock)
}

#[test]
fn a_view_follows_a_compaction_at_its_next_refresh() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = write(&fs, &clock);
    let reader = view(&fs, &clock);
    // The view has read nothing of the closed segments yet.
    assert_eq!(records(&reader), records(&log));
    let out = log.compact(1).unwrap();
    assert!(out.segments_read > 1 && out.records_dropped > 0, "{out:?}");
    reader.refresh().unwrap();
    assert_eq!(records(&reader), records(&log));
    assert_eq!(table(&reader), table(&log));
}

#[test]
fn a_refresh_during_the_swap_keeps_the_view_as_it_was() {
    let fs = MemFs::new();
    let clock = ManualClock::new(0);
    let log = write(&fs, &clock);
    let before = records(&log);
    let reader = Arc::new(view(&fs, &clock));
    let seen: Arc<Mutex<Vec<Vec<Row>>>> = Arc::default();
    {
        let (reader, seen) = (reader.clone(), seen.clone());
        // Refresh the view when the swap renames an old segment away.
        fs.set_fault_hook(move |call| {
            if call.op == FsOp::Rename && call.path.to_string_lossy().ends_with(".log") {
                if let Ok(mut seen) = seen.try_lock() {
                    if seen.len() < 3 {
                        reader.refresh().unwrap();
                        seen.push(records(&reader));
                    }
                }
            }
            None
        });
    }
    log.compact(1).unwrap();
    fs.clear_fault_hook();
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty(), "the hook saw the swap");
    for view in seen.iter() {
        assert_eq!(view, &before, "a view in the middle of the swap");
    }
    reader.refresh().unwrap();
    assert_eq!(records(&reader), records(&log));
}

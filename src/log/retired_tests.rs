//! A segment replaced by a compaction round reads only the file it had
//! open when it was replaced: the files under its names are then those of
//! the segment that replaced it.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::OpenOptions;
use crate::config::CleanupPolicy;
use crate::io::{Fault, FsOp, MemFs};
use crate::segment::{read_lock, Resources, Segment};
use crate::{Error, LogConfig, ManualClock, Record};

#[test]
fn a_replaced_segment_whose_file_was_not_kept_open_never_opens_its_successor() {
    let fs = MemFs::new();
    // One open file at a time: the first segment's `.log` is closed again
    // by the time the round swaps it out.
    let resources = Resources::new(1, 16);
    let mut opts = OpenOptions::new()
        .fs(fs.clone())
        .clock(ManualClock::new(1_000));
    opts.resources = Some(resources);
    let config = LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        segment_bytes: 400,
        ..LogConfig::default()
    };
    let log = opts.open("/d/t-0", config).unwrap();
    for i in 0..60u64 {
        let record = Record::new(format!("value-{i:04}")).with_key(format!("k{}", i % 3));
        log.append(&[record]).unwrap();
    }
    log.roll().unwrap();
    assert!(log.segments().len() > 4, "{:?}", log.segments());
    let first: Arc<Segment> = read_lock(&log.inner.segments)
        .values()
        .next()
        .cloned()
        .unwrap();
    let first_log = first.log_path().to_path_buf();

    // From the swap on (the first rename of a `.cleaned` file), the first
    // segment's `.log` cannot be opened: the round cannot keep it open.
    let swapping = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    {
        let (swapping, refused, first_log) = (swapping.clone(), refused.clone(), first_log.clone());
        fs.set_fault_hook(move |call| {
            let cleaned = call.path.extension().is_some_and(|e| e == "cleaned");
            if call.op == FsOp::Rename && cleaned {
                swapping.store(true, Ordering::SeqCst);
            }
            if swapping.load(Ordering::SeqCst) && call.op == FsOp::Open && call.path == first_log {
                refused.fetch_add(1, Ordering::SeqCst);
                return Some(Fault::Error(ErrorKind::Other));
            }
            None
        });
    }
    let out = log.compact(1_000).unwrap();
    fs.clear_fault_hook();
    assert!(out.segments_written > 0 && !out.aborted, "{out:?}");
    assert!(
        refused.load(Ordering::SeqCst) > 0,
        "the first segment's file was open at the swap"
    );
    // The cleaned segment that replaced it lives under its name.
    assert!(fs.read(&first_log).is_ok());

    // The replaced segment does not open it, for its records or its
    // indexes: they would be read at the positions of its own file.
    match first.handle() {
        Err(Error::Io { source, .. }) => assert_eq!(source.kind(), ErrorKind::NotFound),
        other => panic!("the replaced segment opened its successor's file: {other:?}"),
    }
    first.unload_indexes();
    assert!(first.with_indexes(|_, _| ()).is_err());
    // The log reads the cleaned version: the latest value of each key.
    let latest: Vec<_> = (57..60u64)
        .map(|o| log.read_record(o).unwrap().unwrap().value)
        .collect();
    let want: Vec<_> = (57..60u64)
        .map(|i| Some(format!("value-{i:04}").into_bytes()))
        .collect();
    assert_eq!(latest, want);
}

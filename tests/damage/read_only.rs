//! Read-only logs meeting damage at the end of the last segment: only a
//! batch a writer may still be completing, beyond what it had made
//! durable, ends the view quietly; anything else is `Error::Corrupt`
//! naming the file and byte position, at open and at every refresh.

use crate::common_read_only;

use std::path::Path;

use common_read_only::*;
use seglog::io::{Fs, MemFs};

#[test]
fn a_bad_crc_in_the_last_segment_followed_by_valid_batches_is_corrupt() {
    let fs = MemFs::new();
    let w = writer(&fs, config(1 << 20));
    append(&w, 10);
    let r = reader(&fs, config(1 << 20));
    append(&w, 10);
    let path = w.segments().last().unwrap().path.clone();
    let at = batch_positions(&fs, &path);
    break_crc(&fs, &path, at[15]);
    append(&w, 3);
    // A refresh takes the batches before the damage, then reports it,
    // and so does every refresh after it.
    for _ in 0..2 {
        let (position, reason) = corrupt_in(r.refresh(), &path);
        assert_eq!(position, at[14]);
        assert!(reason.contains("CRC-32C mismatch"), "{reason}");
    }
    assert_eq!(r.log_end_offset(), 14);
    assert_eq!(contents(&r), values(0..14));
    // An open reports it too.
    let (position, _) = corrupt_in(try_reader(&fs, config(1 << 20)), &path);
    assert_eq!(position, at[14]);
}

#[test]
fn a_bad_length_in_the_last_segment_followed_by_data_is_corrupt() {
    // Below the minimum, or a byte off either way: the walk lands where no
    // batch is whole and checks out.
    let lengths: [fn(i32) -> i32; 3] = [|_| 0, |l| l - 1, |l| l + 1];
    for bad in lengths {
        let fs = MemFs::new();
        let w = writer(&fs, config(1 << 20));
        append(&w, 3);
        let r = reader(&fs, config(1 << 20));
        append(&w, 7);
        let path = w.segments().last().unwrap().path.clone();
        let at = batch_positions(&fs, &path);
        let length = (at[6] - at[5] - 12) as i32;
        overwrite(&fs, &path, at[5] + 8, &bad(length).to_be_bytes());
        let (position, reason) = corrupt_in(r.refresh(), &path);
        assert_eq!(position, at[5], "{reason}");
        assert_eq!(r.log_end_offset(), 5);
        let (position, reason) = corrupt_in(try_reader(&fs, config(1 << 20)), &path);
        assert_eq!(position, at[5], "{reason}");
    }
}

#[test]
fn damage_below_the_recovery_point_is_corrupt_with_nothing_after_it() {
    // Half of batch 7 left; the file cut after batch 6; the last batch's
    // length running past the end. Each could be a write in progress, but
    // the writer had synced offsets up to 10.
    for case in 0..3 {
        let fs = MemFs::new();
        let w = writer(&fs, config(1 << 20));
        append(&w, 5);
        let r = reader(&fs, config(1 << 20));
        append(&w, 5);
        let path = w.segments()[0].path.clone();
        w.close().unwrap();
        let at = batch_positions(&fs, &path);
        let expected = match case {
            0 => {
                cut(&fs, &path, at[7] + 30);
                at[7]
            }
            1 => {
                cut(&fs, &path, at[7]);
                at[7]
            }
            _ => {
                overwrite(&fs, &path, at[9] + 8, &i32::MAX.to_be_bytes());
                at[9]
            }
        };
        let (position, reason) = corrupt_in(r.refresh(), &path);
        assert_eq!(position, expected, "case {case}: {reason}");
        assert!(
            reason.contains("recovery point 10"),
            "case {case}: {reason}"
        );
        let (position, reason) = corrupt_in(try_reader(&fs, config(1 << 20)), &path);
        assert_eq!(position, expected, "case {case}: {reason}");
        assert!(
            reason.contains("recovery point 10"),
            "case {case}: {reason}"
        );
    }
}

#[test]
fn a_partial_last_batch_is_quiet_above_the_recovery_point_and_shown_once_whole() {
    let fs = MemFs::new();
    let w = writer(&fs, config(1 << 20));
    append(&w, 5);
    w.close().unwrap();
    // Opened again: the checkpoint says offsets below 5 were synced.
    let w = writer(&fs, config(1 << 20));
    append(&w, 3);
    let path = w.segments()[0].path.clone();
    let size = fs.read(&path).unwrap().len() as u64;
    // The next batch, being written: only its first 40 bytes are there.
    let batch = next_batch(8);
    overwrite(&fs, &path, size, &batch[..40]);
    let r = reader(&fs, config(1 << 20));
    assert_eq!(r.log_end_offset(), 8);
    assert!(!r.refresh().unwrap());
    overwrite(&fs, &path, size + 40, &batch[40..]);
    assert!(r.refresh().unwrap());
    assert_eq!(contents(&r), values(0..9));

    // Half a batch where the writer had synced it is damage.
    let at = batch_positions(&fs, &path);
    cut(&fs, &path, at[4] + 40);
    let (position, reason) = corrupt_in(r.refresh(), &path);
    assert_eq!(position, at[4], "{reason}");
    let (position, reason) = corrupt_in(try_reader(&fs, config(1 << 20)), &path);
    assert_eq!(position, at[4], "{reason}");
}

#[test]
fn after_a_clean_shutdown_a_batch_cut_short_below_the_closed_size_is_corrupt() {
    let fs = MemFs::new();
    let w = writer(&fs, config(1 << 20));
    append(&w, 10);
    let path = w.segments()[0].path.clone();
    w.close().unwrap();
    // Nothing but the clean-shutdown marker says what the writer wrote.
    fs.remove_file(&Path::new(DIR).join("seglog.checkpoint"))
        .unwrap();
    let at = batch_positions(&fs, &path);
    overwrite(&fs, &path, at[9] + 8, &i32::MAX.to_be_bytes());
    let (position, reason) = corrupt_in(try_reader(&fs, config(1 << 20)), &path);
    assert_eq!(position, at[9], "{reason}");
    assert!(reason.contains("clean shutdown"), "{reason}");
}

#[test]
fn a_truncation_while_a_reader_opens_is_not_taken_for_damage() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let fs = MemFs::new();
    let w = writer(&fs, config(1 << 20));
    append(&w, 10);
    w.close().unwrap();
    // Opened again: the checkpoint says offsets below 10 were synced.
    let w = writer(&fs, config(1 << 20));
    let path = w.segments()[0].path.clone();
    // After the reader has read the checkpoint, as it opens the segment,
    // the writer truncates (lowering the recovery point first).
    let armed = Arc::new(AtomicBool::new(true));
    let (fired, truncating) = (armed.clone(), w.clone());
    fs.set_fault_hook(move |call| {
        if call.op == seglog::io::FsOp::Open
            && call.path == path
            && fired.swap(false, Ordering::SeqCst)
        {
            truncating.truncate_to(5).unwrap();
        }
        None
    });
    let r = try_reader(&fs, config(1 << 20));
    fs.clear_fault_hook();
    assert!(!armed.load(Ordering::SeqCst), "the truncation did not run");
    let r = r.unwrap();
    assert_eq!(r.log_end_offset(), 5);
    assert_eq!(contents(&r), values(0..5));
}

#[test]
fn damage_its_writer_cuts_off_is_no_longer_reported() {
    let fs = MemFs::new();
    let w = writer(&fs, config(1 << 20));
    append(&w, 10);
    let path = w.segments()[0].path.clone();
    w.close().unwrap();
    let r = reader(&fs, config(1 << 20));
    let end = fs.read(&path).unwrap().len() as u64;
    overwrite(&fs, &path, end, &[0xAB; 40]);
    assert_eq!(corrupt_in(r.refresh(), &path).0, end);
    // A writer's recovery cuts the garbage off (it lies beyond what was
    // synced), then appends.
    let w = writer(&fs, config(1 << 20));
    assert!(!r.refresh().unwrap());
    append(&w, 2);
    assert!(r.refresh().unwrap());
    assert_eq!(contents(&r), values(0..12));
}

#[test]
fn a_log_started_over_while_a_reader_opens_is_not_taken_for_damage() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let fs = MemFs::new();
    let w = writer(&fs, config(1 << 20));
    append(&w, 10);
    w.close().unwrap();
    // Opened again: the checkpoint says offsets below 10 were synced.
    let w = writer(&fs, config(1 << 20));
    // The writer starts the log over at 3 (a follower reset). As it syncs
    // the new segment, the old ones gone, a reader opens.
    let new_log = Path::new(DIR).join("00000000000000000003.log");
    let armed = Arc::new(AtomicBool::new(true));
    let opened = Arc::new(Mutex::new(None));
    let (fired, found, hook_fs) = (armed.clone(), opened.clone(), fs.clone());
    fs.set_fault_hook(move |call| {
        if call.op == seglog::io::FsOp::SyncData
            && call.path == new_log
            && fired.swap(false, Ordering::SeqCst)
        {
            *found.lock().unwrap() = Some(try_reader(&hook_fs, config(1 << 20)));
        }
        None
    });
    w.truncate_fully_and_start_at(3).unwrap();
    fs.clear_fault_hook();
    let r = opened.lock().unwrap().take().expect("no reader opened");
    let r = r.unwrap();
    assert_eq!((r.log_start_offset(), r.log_end_offset()), (3, 3));
    append(&w, 2);
    assert!(r.refresh().unwrap());
    assert_eq!(contents(&r), values(3..5));
}

//! Read-only logs: opening a directory another open is writing, following
//! its appends, rolls, deletions and truncations, and never writing.

mod common_compacted;
mod common_read_only;
#[path = "log_read_only/compacted.rs"]
mod compacted;

use std::collections::BTreeMap;
use std::path::Path;

use common_read_only::*;
use seglog::io::{CrashMode, Fs, MemFs, OpenMode};
use seglog::retention::RetentionPolicy;
use seglog::{Error, LogConfig, OpenOptions, PartitionLog, Record, RecoveryMode};

/// Segments of a few MiB, with Kafka's index interval.
fn big_config() -> LogConfig {
    LogConfig {
        segment_bytes: 64 << 20,
        segment_index_bytes: 64 << 10,
        index_interval_bytes: 4096,
        ..LogConfig::default()
    }
}

fn bases(log: &PartitionLog) -> Vec<u64> {
    log.segments().iter().map(|s| s.base_offset).collect()
}

#[test]
fn a_reader_sees_what_was_written_and_follows_appends_and_rolls() {
    let fs = MemFs::new();
    let w = writer(&fs, config(600));
    append(&w, 10);
    let r = reader(&fs, config(600));
    assert!(r.is_read_only() && !w.is_read_only());
    assert_eq!(r.log_end_offset(), 10);
    assert_eq!(contents(&r), contents(&w));

    // Nothing new until a refresh.
    append(&w, 25);
    assert_eq!(r.log_end_offset(), 10);
    assert!(r.refresh().unwrap());
    assert_eq!(r.log_end_offset(), 35);
    assert_eq!(contents(&r), contents(&w));
    assert!(bases(&w).len() > 3, "the writer rolled: {:?}", bases(&w));
    assert_eq!(bases(&r), bases(&w));
    assert!(!r.refresh().unwrap(), "nothing changed");

    // Reads in the middle use the segments' indexes, loaded or built.
    for offset in [0, 7, 13, 21, 34] {
        let first = r.iter(offset).next().unwrap().unwrap();
        assert_eq!(first.offset, offset);
        assert_eq!(first.value.unwrap(), format!("value-{offset}").into_bytes());
    }
    let hit = r.offset_for_timestamp(20).unwrap().unwrap();
    assert_eq!((hit.offset, hit.timestamp), (20, 20));

    // Many refreshes interleaved with appends end where the writer is.
    for _ in 0..20 {
        append(&w, 3);
        r.refresh().unwrap();
        assert_eq!(r.log_end_offset(), w.log_end_offset());
    }
    assert_eq!(contents(&r), contents(&w));
    assert_eq!(bases(&r), bases(&w));
}

#[test]
fn every_change_fails_with_read_only_and_nothing_is_written() {
    let fs = MemFs::new();
    let w = writer(&fs, config(600));
    append(&w, 20);
    w.close().unwrap();
    let before = snapshot(&fs, DIR);

    let r = reader(&fs, config(600));
    let read_only = |e: Error| {
        assert!(
            matches!(e, Error::ReadOnly { ref path } if path == Path::new(DIR)),
            "{e}"
        )
    };
    read_only(r.append(&[Record::new("x")]).unwrap_err());
    read_only(r.sync().unwrap_err());
    read_only(r.roll().unwrap_err());
    read_only(r.truncate_to(5).unwrap_err());
    read_only(r.advance_log_start_offset(5).unwrap_err());
    read_only(r.apply_retention(&RetentionPolicy::default()).unwrap_err());
    read_only(r.sync_sealed().unwrap_err());
    assert_eq!(
        r.append(&[Record::new("x")]).unwrap_err().to_string(),
        format!("{DIR} is open read-only")
    );
    assert_eq!(contents(&r).len(), 20);
    r.close().unwrap();
    assert!(matches!(r.refresh(), Err(Error::Closed)));
    assert_eq!(snapshot(&fs, DIR), before, "a read-only open changed files");

    // A writer can open while a reader is open: the reader holds no lock.
    let r = reader(&fs, config(600));
    let w = writer(&fs, config(600));
    append(&w, 1);
    r.refresh().unwrap();
    assert_eq!(r.log_end_offset(), 21);
}

#[test]
fn a_torn_tail_is_left_alone_and_a_half_written_batch_appears_when_whole() {
    let fs = MemFs::new();
    let w = writer(&fs, config(1 << 20));
    append(&w, 5);
    let active = w.segments().last().unwrap().path.clone();
    let size = w.segments().last().unwrap().size;
    // The next batch, as the writer would write it, but only half of it.
    let whole = {
        let scratch = MemFs::new();
        let l = OpenOptions::new()
            .fs(scratch.clone())
            .open(DIR, config(1 << 20))
            .unwrap();
        append(&l, 6);
        let seg = l.segments()[0].clone();
        let f = scratch.open(&seg.path, OpenMode::Read).unwrap();
        let mut all = vec![0; seg.size as usize];
        f.read_exact_at(&mut all, 0).unwrap();
        all[size as usize..].to_vec()
    };
    drop(w); // closes cleanly; the bytes below come "from a writer" again
    let f = fs.open(&active, OpenMode::Write).unwrap();
    f.write_all_at(&whole[..whole.len() / 2], size).unwrap();
    let before = snapshot(&fs, DIR);

    let r = reader(&fs, config(1 << 20));
    assert_eq!(
        r.log_end_offset(),
        5,
        "the half batch is not part of the log"
    );
    assert_eq!(contents(&r).len(), 5);
    assert!(!r.refresh().unwrap());
    assert_eq!(snapshot(&fs, DIR), before, "the torn tail was repaired");

    // The rest arrives: now the batch is whole and visible.
    f.write_all_at(&whole[whole.len() / 2..], size + (whole.len() / 2) as u64)
        .unwrap();
    assert!(r.refresh().unwrap());
    assert_eq!(r.log_end_offset(), 6);
    assert_eq!(contents(&r).last().unwrap(), &(5, "value-5".to_string()));
}

#[test]
fn deletions_truncations_and_a_log_started_over_are_followed() {
    let fs = MemFs::new();
    let w = writer(&fs, config(600));
    append(&w, 40);
    let r = reader(&fs, config(600));

    // Retention / DeleteRecords: segments leave, the start offset moves.
    w.advance_log_start_offset(17).unwrap();
    r.refresh().unwrap();
    assert_eq!(r.log_start_offset(), 17);
    assert_eq!(bases(&r), bases(&w));
    assert_eq!(contents(&r), contents(&w));
    assert!(matches!(
        r.read(3, 1000),
        Err(Error::OffsetOutOfRange { earliest: 17, .. })
    ));

    // A truncation takes the end back; appends after it are followed.
    w.truncate_to(30).unwrap();
    append(&w, 2);
    r.refresh().unwrap();
    assert_eq!(r.log_end_offset(), 32);
    assert_eq!(contents(&r), contents(&w));

    // The log started over at a new offset (a follower reset).
    w.truncate_fully_and_start_at(1000).unwrap();
    append(&w, 3);
    r.refresh().unwrap();
    assert_eq!((r.log_start_offset(), r.log_end_offset()), (1000, 1003));
    assert_eq!(contents(&r), contents(&w));
}

#[test]
fn damage_the_writer_moved_past_is_reported_with_its_position() {
    let fs = MemFs::new();
    let w = writer(&fs, config(600));
    append(&w, 3);
    let r = reader(&fs, config(600));
    // The batch at position 0 of the active segment is damaged after the
    // reader read it, then the writer rolls past it: the reader has read
    // it already, so it stays whole in the view. Damage in bytes it has not
    // read yet is what it must report.
    let seg = w.segments().last().unwrap().clone();
    append(&w, 1);
    let len = w.segments().last().unwrap().size;
    let f = fs.open(&seg.path, OpenMode::Write).unwrap();
    let mut byte = [0u8; 1];
    f.read_exact_at(&mut byte, len - 3).unwrap();
    f.write_all_at(&[byte[0] ^ 0xff], len - 3).unwrap();
    append(&w, 20); // rolls past the damaged batch
    assert!(w.segments().len() > 1);
    for _ in 0..2 {
        match r.refresh() {
            Err(Error::Corrupt { path, position, .. }) => {
                assert_eq!(path, seg.path);
                assert!(position < len, "{position}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
    // What was read before the damage still reads.
    assert_eq!(contents(&r).len(), 3);
}

#[test]
fn a_missing_directory_is_an_empty_log_until_its_writer_creates_it() {
    let fs = MemFs::new();
    let r = reader(&fs, config(600));
    assert_eq!((r.log_start_offset(), r.log_end_offset()), (0, 0));
    assert!(r.segments().is_empty());
    assert!(r.iter(0).next().is_none());
    assert!(
        !fs.exists(Path::new(DIR)).unwrap(),
        "a reader created the directory"
    );
    let err = OpenOptions::new()
        .fs(fs.clone())
        .read_only(true)
        .create(false)
        .open(DIR, config(600))
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");

    let w = writer(&fs, config(600));
    append(&w, 12);
    assert!(r.refresh().unwrap());
    assert_eq!(contents(&r), contents(&w));
}

#[test]
fn a_crash_image_with_garbage_at_its_end_is_corrupt_and_half_a_batch_is_not() {
    // A crash image: the last segment ends in garbage. No writer can be
    // completing it, so the reader says where it is; half a batch is a
    // torn write, and the view ends where a writer's recovery cuts. Nothing
    // is repaired either way.
    let fs = MemFs::new();
    let w = writer(&fs, config(600));
    append(&w, 30);
    w.sync().unwrap();
    let image = fs.crash(CrashMode::DurableOnly);
    drop(w);
    let last = image.list_dir(Path::new(DIR)).unwrap();
    let log = last
        .iter()
        .filter(|e| e.name.ends_with(".log"))
        .map(|e| e.name.clone())
        .max()
        .unwrap();
    let path = Path::new(DIR).join(&log);
    let f = image.open(&path, OpenMode::Write).unwrap();
    let end = f.len().unwrap();
    f.write_all_at(&[0xAB; 40], end).unwrap();
    let before = snapshot(&image, DIR);
    let strict = || {
        OpenOptions::new()
            .fs(image.clone())
            .read_only(true)
            .recovery_mode(RecoveryMode::Strict)
            .open(DIR, config(600))
    };
    let (position, reason) = corrupt_in(strict(), &path);
    assert_eq!(position, end, "{reason}");
    assert_eq!(snapshot(&image, DIR), before);

    let half = next_batch(30);
    f.write_all_at(&half[..half.len() / 2], end).unwrap();
    f.set_len(end + (half.len() / 2) as u64).unwrap();
    let before = snapshot(&image, DIR);
    let r = strict().unwrap();
    assert_eq!(r.log_end_offset(), 30);
    assert!(!r.recovery_report().clean_shutdown);
    assert_eq!(snapshot(&image, DIR), before);
    let w = writer(&image, config(600));
    assert_eq!(w.log_end_offset(), 30);
    assert_eq!(contents(&r), contents(&w));
}

#[test]
fn a_reader_racing_a_writer_thread_sees_only_whole_records_in_order() {
    let fs = MemFs::new();
    let w = writer(&fs, config(2000));
    let r = reader(&fs, config(2000));
    let total = 3000u64;
    let writing = std::thread::spawn(move || {
        for i in 0..total {
            w.append(&[Record::new(format!("value-{i}"))]).unwrap();
        }
        w
    });
    let mut next = 0u64;
    while next < total {
        r.refresh().unwrap();
        for rec in r.iter(next) {
            let rec = rec.unwrap();
            assert_eq!(rec.offset, next);
            assert_eq!(rec.value.unwrap(), format!("value-{next}").into_bytes());
            next += 1;
        }
    }
    let w = writing.join().unwrap();
    r.refresh().unwrap();
    assert_eq!(bases(&r), bases(&w));
}

#[test]
fn a_directory_created_again_is_read_again_even_when_longer() {
    let fs = MemFs::new();
    let w = writer(&fs, config(1 << 20));
    append(&w, 5);
    w.close().unwrap();
    let r = reader(&fs, config(1 << 20));
    assert_eq!(contents(&r).len(), 5);
    // Deleted and created again, with more (and other) records than before
    // in a segment of the same name.
    fs.remove_dir_all(Path::new(DIR)).unwrap();
    let w = writer(&fs, config(1 << 20));
    for i in 0..20 {
        w.append(&[Record::new(format!("another value {i}")).with_timestamp(7)])
            .unwrap();
    }
    r.refresh().unwrap();
    assert_eq!(r.log_end_offset(), 20);
    assert_eq!(contents(&r), contents(&w));
}

#[test]
fn a_truncation_followed_by_more_appends_in_the_same_segment_is_seen() {
    let fs = MemFs::new();
    let w = writer(&fs, config(1 << 20));
    append(&w, 10);
    let r = reader(&fs, config(1 << 20));
    assert_eq!(contents(&r).len(), 10);
    // Cut back inside the last segment, then append more than was cut: the
    // file ends up longer than what the reader read, with other batches.
    w.truncate_to(5).unwrap();
    for i in 0..8 {
        w.append(&[Record::new(format!("rewritten value {i}")).with_timestamp(20)])
            .unwrap();
    }
    assert_eq!(w.segments().len(), 1);
    r.refresh().unwrap();
    assert_eq!(r.log_end_offset(), 13);
    assert_eq!(contents(&r), contents(&w));
}

#[test]
fn half_a_batch_taken_back_before_a_roll_is_not_damage() {
    let fs = MemFs::new();
    let w = writer(&fs, config(1 << 20));
    append(&w, 5);
    let seg = w.segments()[0].clone();
    w.close().unwrap();
    drop(w);
    // A write in progress: half a batch after the last whole one.
    let f = fs.open(&seg.path, OpenMode::Write).unwrap();
    f.write_all_at(&[0u8, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 90], seg.size)
        .unwrap();
    let r = reader(&fs, config(1 << 20));
    assert!(!r.refresh().unwrap());
    // The writer takes it back (a failed write it cut off), then rolls.
    f.set_len(seg.size).unwrap();
    let w = writer(&fs, config(1 << 20));
    w.roll().unwrap();
    append(&w, 3);
    assert!(r.refresh().unwrap());
    assert_eq!(contents(&r), contents(&w));
    assert_eq!(bases(&r), [0, 5]);
}

/// Counts `read_at` calls by file name while `f` runs.
fn reads_during<T>(fs: &MemFs, f: impl FnOnce() -> T) -> (T, BTreeMap<String, usize>) {
    use std::sync::{Arc, Mutex};
    let counts: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let seen = counts.clone();
    fs.set_fault_hook(move |call| {
        if call.op == seglog::io::FsOp::Read {
            let name = call
                .path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            *seen.lock().unwrap().entry(name).or_default() += 1;
        }
        None
    });
    let out = f();
    fs.clear_fault_hook();
    let counts = counts.lock().unwrap().clone();
    (out, counts)
}

#[test]
fn opening_reads_only_the_last_segment_and_resumes_from_its_index() {
    let fs = MemFs::new();
    let big = big_config();
    let w = writer(&fs, big.clone());
    // Several segments, then a last one of 6 MiB, closed cleanly.
    for _ in 0..3 {
        append(&w, 20);
        w.roll().unwrap();
    }
    let value = vec![b'v'; 8 << 10];
    for i in 0..768 {
        w.append(&[Record::new(value.clone()).with_timestamp(100 + (i % 50))])
            .unwrap();
    }
    w.close().unwrap();
    let w = writer(&fs, big.clone());

    let (r, reads) = reads_during(&fs, || reader(&fs, big.clone()));
    let logs: Vec<_> = reads.iter().filter(|(n, _)| n.ends_with(".log")).collect();
    assert_eq!(logs.len(), 1, "only the last segment is read: {reads:?}");
    // A walk from the start would take six 1 MiB reads; from the last
    // index entry it is one, besides the header checked there and the
    // first batch's header.
    assert!(*logs[0].1 <= 3, "{reads:?}");
    assert_eq!(contents(&r), contents(&w));
    assert_eq!(r.max_timestamp().unwrap(), w.max_timestamp().unwrap());
    for ts in [0, 120, 149] {
        assert_eq!(
            r.offset_for_timestamp(ts).unwrap(),
            w.offset_for_timestamp(ts).unwrap()
        );
    }
    for offset in [0, 25, 61, 300, 827] {
        let a: Vec<u64> = r.iter(offset).take(3).map(|x| x.unwrap().offset).collect();
        let b: Vec<u64> = w.iter(offset).take(3).map(|x| x.unwrap().offset).collect();
        assert_eq!(a, b);
    }

    // Appends after the open are followed from there on.
    append(&w, 10);
    r.refresh().unwrap();
    assert_eq!(contents(&r), contents(&w));
}

#[test]
fn a_damaged_index_is_only_a_slower_start() {
    let fs = MemFs::new();
    let w = writer(&fs, config(1 << 20));
    append(&w, 200);
    let last = w.segments().last().unwrap().clone();
    w.close().unwrap();
    // Entries that point into the middle of batches, or past the end.
    let index = last.path.with_extension("index");
    let mut bytes = fs.read(&index).unwrap();
    assert!(bytes.len() >= 16, "the index has entries");
    let n = bytes.len();
    bytes[n - 1] ^= 0x03;
    fs.write(&index, &bytes).unwrap();
    let r = reader(&fs, config(1 << 20));
    let w = writer(&fs, config(1 << 20));
    assert_eq!(contents(&r), contents(&w));
    assert_eq!(r.log_end_offset(), 200);
}

#[test]
fn a_time_index_behind_the_offset_index_does_not_hide_the_largest_timestamp() {
    let fs = MemFs::new();
    let big = big_config();
    let w = writer(&fs, big.clone());
    let value = vec![b'v'; 2 << 10];
    // The largest timestamp early in the segment, smaller ones after it.
    for i in 0..200i64 {
        let ts = if i == 3 { 1_000_000 } else { 100 + i };
        w.append(&[Record::new(value.clone()).with_timestamp(ts)])
            .unwrap();
    }
    let seg = w.segments()[0].clone();
    w.close().unwrap();
    // As if the reader read the time index while its writer was still
    // writing it: nothing there yet.
    fs.write(&seg.path.with_extension("timeindex"), &[])
        .unwrap();
    let r = reader(&fs, big);
    let max = r.max_timestamp().unwrap().unwrap();
    assert_eq!((max.offset, max.timestamp), (3, 1_000_000));
    let hit = r.offset_for_timestamp(500_000).unwrap().unwrap();
    assert_eq!((hit.offset, hit.timestamp), (3, 1_000_000));
    assert_eq!(contents(&r).len(), 200);
}

#[test]
fn a_read_only_log_checks_every_batch_on_every_read() {
    // Its writer may change the files under it, so nothing it checked is
    // trusted later, sealed segment or not.
    let fs = MemFs::new();
    let w = writer(&fs, config(600));
    append(&w, 30);
    w.roll().unwrap();
    let r = reader(&fs, config(600));
    assert!(r.segments().len() > 2);
    assert_eq!(contents(&r), values(0..30));
    let first = r.segments()[0].path.clone();
    let positions = batch_positions(&fs, &first);
    break_crc(&fs, &first, positions[2]);
    // The second batch is damaged.
    let mut reader = r.reader(0);
    assert!(reader.next_batch().unwrap().is_some());
    match reader.next_batch() {
        Err(Error::Corrupt { position, .. }) => assert_eq!(position, positions[1]),
        other => panic!("expected a corrupt batch, got {other:?}"),
    }
}

//! Read-only logs over the offset gaps and empty batches a compaction
//! leaves (see `common_compacted`): opened at every stage of the writer,
//! and following it with refreshes.

use seglog::io::MemFs;
use seglog::{OpenOptions, PartitionLog};

use crate::common_compacted::{compacted_appends, compacted_config, COMPACTED_END, HORIZON};
use crate::common_read_only::DIR;

/// What a log shows to readers: its offsets and segments, the records
/// read from each offset, lookups by time and the largest timestamp.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    start: u64,
    end: u64,
    bases: Vec<u64>,
    /// For each offset up to the end: the first record read from there,
    /// and where a fetch of everything from there ends.
    from_each: Vec<(Option<u64>, u64)>,
    records: Vec<(u64, i64)>,
    by_time: Vec<Option<u64>>,
    max: Option<(u64, i64)>,
}

fn seen(log: &PartitionLog) -> Seen {
    let end = log.log_end_offset();
    Seen {
        start: log.log_start_offset(),
        end,
        bases: log.segments().iter().map(|s| s.base_offset).collect(),
        from_each: (0..=end)
            .map(|from| {
                let first = log.iter(from).next().map(|r| r.unwrap().offset);
                (first, log.read(from, 1 << 20).unwrap().next_offset())
            })
            .collect(),
        records: log
            .iter(0)
            .map(|r| r.map(|r| (r.offset, r.timestamp)).unwrap())
            .collect(),
        by_time: [0, 1_001, 1_011, 1_013, 1_021, 1_031, 1_050, HORIZON]
            .into_iter()
            .map(|ts| log.offset_for_timestamp(ts).unwrap().map(|l| l.offset))
            .collect(),
        max: log
            .max_timestamp()
            .unwrap()
            .map(|m| (m.offset, m.timestamp)),
    }
}

fn open_reader(fs: &MemFs) -> PartitionLog {
    OpenOptions::new()
        .fs(fs.clone())
        .read_only(true)
        .open(DIR, compacted_config())
        .unwrap()
}

#[test]
fn a_reader_opens_and_follows_a_compacted_log_at_every_stage() {
    let fs = MemFs::new();
    let w = OpenOptions::new()
        .fs(fs.clone())
        .open(DIR, compacted_config())
        .unwrap();
    // Opened before anything is written, it follows every step.
    let follower = open_reader(&fs);
    let [first, second, third] = compacted_appends();
    let steps: [&dyn Fn(); 4] = [
        &|| {
            w.append_replicated(&first).unwrap();
        },
        &|| w.roll().unwrap(),
        &|| {
            w.append_replicated(&second).unwrap();
        },
        &|| {
            w.append_replicated(&third).unwrap();
        },
    ];
    let mut ends = Vec::new();
    for step in steps {
        step();
        let want = seen(&w);
        assert!(follower.refresh().unwrap());
        assert_eq!(seen(&follower), want);
        // Opened now, it sees the same.
        assert_eq!(seen(&open_reader(&fs)), want);
        ends.push(want.end);
    }
    assert_eq!(ends, [16, 16, 24, COMPACTED_END]);
    assert!(!follower.refresh().unwrap());
    // After the writer's clean close (a reader's open then starts from its
    // index files), and once it is open again.
    let want = seen(&w);
    assert_eq!(want.records.len(), 6);
    assert_eq!(want.max, Some((30, 1_030)));
    w.close().unwrap();
    assert_eq!(seen(&open_reader(&fs)), want);
    follower.refresh().unwrap();
    assert_eq!(seen(&follower), want);
    let w = OpenOptions::new()
        .fs(fs.clone())
        .open(DIR, compacted_config())
        .unwrap();
    assert_eq!(seen(&w), want);
    assert_eq!(seen(&open_reader(&fs)), want);
}

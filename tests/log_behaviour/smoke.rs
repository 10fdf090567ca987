use seglog::io::{CrashMode, MemFs};
use seglog::{Durability, LogConfig, ManualClock, OpenOptions, PartitionLog, Record};

#[test]
fn smoke() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 4096,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir.path().join("t-0"), config.clone()).unwrap();
    for i in 0..100u32 {
        let recs: Vec<Record> = (0..5)
            .map(|j| Record::new(format!("value-{i}-{j}")).with_key(format!("k{j}")))
            .collect();
        let info = log.append(&recs).unwrap();
        assert_eq!(info.first_offset, u64::from(i) * 5);
    }
    assert!(log.segments().len() > 3, "{:?}", log.segments());
    let all: Vec<_> = log.iter(0).collect::<Result<_, _>>().unwrap();
    assert_eq!(all.len(), 500);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.offset, i as u64);
    }
    let f = log.read(250, 1).unwrap();
    let recs: Vec<_> = f.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(recs[0].offset, 250);
    log.close().unwrap();
    let log = PartitionLog::open(dir.path().join("t-0"), config.clone()).unwrap();
    assert!(log.recovery_report().clean_shutdown);
    assert_eq!(log.log_end_offset(), 500);
    let all: Vec<_> = log.iter(0).collect::<Result<_, _>>().unwrap();
    assert_eq!(all.len(), 500);
    drop(log);

    let fs = MemFs::new();
    let opts = OpenOptions::new()
        .fs(fs.clone())
        .clock(ManualClock::new(1000));
    let log = opts.clone().open("/d/t-0", config.clone()).unwrap();
    for i in 0..50u32 {
        log.append_with(&[Record::new(format!("v{i}"))], Durability::Sync)
            .unwrap();
    }
    log.append_with(&[Record::new("unsynced")], Durability::Flush)
        .unwrap();
    let crashed = fs.crash(CrashMode::DurableOnly);
    drop(log);
    let log = OpenOptions::new()
        .fs(crashed)
        .open("/d/t-0", config)
        .unwrap();
    println!("{:?}", log.recovery_report());
    assert_eq!(log.log_end_offset(), 50);
    let all: Vec<_> = log.iter(0).collect::<Result<_, _>>().unwrap();
    assert_eq!(all.len(), 50);
}

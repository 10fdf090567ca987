//! Helpers shared by the crash, damage and model tests: deterministic
//! records, an in-memory model of what a log must hold, and checks of a
//! reopened log against that model.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use seglog::io::MemFs;
use seglog::{
    Durability, Error, Header, LogConfig, LogRecord, ManualClock, OpenOptions, PartitionLog,
    Record, RecoveryMode, TimestampType,
};

/// The partition directory every test uses.
pub const DIR: &str = "/data/t-0";

pub fn dir() -> &'static Path {
    Path::new(DIR)
}

/// Opens the log in [`DIR`] on `fs`.
pub fn open(
    fs: &MemFs,
    clock: &ManualClock,
    mode: RecoveryMode,
    config: &LogConfig,
) -> Result<PartitionLog, Error> {
    OpenOptions::new()
        .fs(fs.clone())
        .clock(clock.clone())
        .recovery_mode(mode)
        .open(DIR, config.clone())
}

/// The names of the files in [`DIR`] ending with `suffix`, sorted.
pub fn file_names(fs: &MemFs, suffix: &str) -> Vec<String> {
    use seglog::io::Fs;
    let mut names: Vec<String> = fs
        .list_dir(dir())
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .filter(|n| n.ends_with(suffix))
        .collect();
    names.sort();
    names
}

/// xorshift64*: deterministic test data without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// `n` records whose contents depend only on `tag`: values of `value_len`
/// bytes (varied a little), some with keys, headers, explicit timestamps
/// and null values.
pub fn make_records(tag: u64, n: usize, value_len: usize) -> Vec<Record> {
    let mut rng = Rng::new(tag);
    (0..n)
        .map(|i| {
            let len = if value_len == 0 {
                0
            } else {
                value_len - (rng.below(value_len as u64 / 4 + 1) as usize)
            };
            let value: Vec<u8> = (0..len)
                .map(|j| (tag as usize * 31 + i * 7 + j) as u8)
                .collect();
            let mut r = match rng.below(8) {
                0 => Record::tombstone(format!("key-{tag}-{i}")),
                1 | 2 => Record::new(value).with_key(format!("key-{tag}-{i}")),
                3 => Record::new(value).with_header("h", format!("{tag}/{i}")),
                _ => Record::new(value),
            };
            if rng.below(3) == 0 {
                r = r.with_timestamp(1_000 + (tag as i64 % 50));
            }
            r
        })
        .collect()
}

/// What a record must read back as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exp {
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<Header>,
}

impl Exp {
    /// A record appended with create time at clock time `now`.
    pub fn of(r: &Record, now: i64) -> Exp {
        Exp {
            timestamp: r.timestamp.unwrap_or(now),
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r.headers.clone(),
        }
    }

    pub fn matches(&self, r: &LogRecord) -> bool {
        r.timestamp_type == TimestampType::CreateTime
            && r.timestamp == self.timestamp
            && r.key == self.key
            && r.value == self.value
            && r.headers == self.headers
    }
}

/// The contents a log must have: present records by offset (records below
/// the log start are kept but never compared), batch boundaries, and the
/// two ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    pub records: BTreeMap<u64, Exp>,
    /// (base offset, last offset) of every present batch.
    pub batches: Vec<(u64, u64)>,
    pub start: u64,
    pub leo: u64,
}

impl Model {
    pub fn append(&mut self, first: u64, exps: Vec<Exp>) {
        assert_eq!(first, self.leo, "appends continue at the log end");
        let n = exps.len() as u64;
        for (i, e) in exps.into_iter().enumerate() {
            self.records.insert(first + i as u64, e);
        }
        self.batches.push((first, first + n - 1));
        self.leo = first + n;
    }

    /// Kafka's truncation: every batch holding an offset at or above
    /// `offset` goes entirely, and the log ends where the remaining data
    /// ends (below `offset` if a batch straddled it).
    pub fn truncate_to(&mut self, offset: u64) {
        if offset >= self.leo {
            return;
        }
        let cut = self
            .batches
            .iter()
            .find(|(_, last)| *last >= offset)
            .map_or(offset, |(base, _)| (*base).min(offset));
        self.records.split_off(&cut);
        self.batches.retain(|(_, last)| *last < cut);
        self.leo = cut;
        self.start = self.start.min(cut);
    }

    /// `truncate_fully_and_start_at(offset)`: nothing left, and the log
    /// starts and ends at `offset`.
    pub fn restart_at(&mut self, offset: u64) {
        self.records.clear();
        self.batches.clear();
        self.start = offset;
        self.leo = offset;
    }

    pub fn advance_start(&mut self, offset: u64) {
        assert!(offset <= self.leo);
        self.start = self.start.max(offset);
    }

    /// Readable records in `[from, to)`.
    pub fn range(&self, from: u64, to: u64) -> Vec<(u64, &Exp)> {
        if from >= to {
            return Vec::new();
        }
        self.records.range(from..to).map(|(o, e)| (*o, e)).collect()
    }

    /// The log after it came back with `leo` as its end: records at and
    /// above it are gone.
    pub fn adopt_end(&mut self, leo: u64) {
        assert!(leo <= self.leo);
        self.records.split_off(&leo);
        self.batches.retain(|(_, last)| *last < leo);
        self.leo = leo;
    }

    /// The model after a recovery that came back as `f`: records and
    /// batches `f` does not have are gone (records below the log start
    /// are not compared and stay).
    pub fn adopt_found(&mut self, f: &Found) {
        let present: std::collections::BTreeSet<u64> = f.records.iter().map(|r| r.offset).collect();
        let below = f.start.min(f.leo);
        // A batch is whole or gone; one below the log start is not
        // compared; one straddling it stays if its readable part is there.
        self.batches
            .retain(|(base, last)| *last < below || (*base..=*last).any(|o| present.contains(&o)));
        let batches = self.batches.clone();
        self.records
            .retain(|o, _| batches.iter().any(|(b, l)| (*b..=*l).contains(o)));
        self.start = f.start;
        self.leo = f.leo;
    }

    /// The model of what a log actually holds (after a recovery).
    pub fn from_found(f: &Found) -> Model {
        Model {
            records: f
                .records
                .iter()
                .map(|r| {
                    (
                        r.offset,
                        Exp {
                            timestamp: r.timestamp,
                            key: r.key.clone(),
                            value: r.value.clone(),
                            headers: r.headers.clone(),
                        },
                    )
                })
                .collect(),
            batches: Vec::new(),
            start: f.start,
            leo: f.leo,
        }
    }
}

/// What a reopened log holds.
#[derive(Debug, Clone)]
pub struct Found {
    pub start: u64,
    pub leo: u64,
    pub records: Vec<LogRecord>,
}

/// Reads everything readable.
pub fn found(log: &PartitionLog) -> Found {
    try_found(log).unwrap_or_else(|e| {
        panic!(
            "reading the whole log from {} failed: {e}",
            log.log_start_offset()
        )
    })
}

/// Reads everything readable, or the first error.
pub fn try_found(log: &PartitionLog) -> Result<Found, Error> {
    let start = log.log_start_offset();
    let leo = log.log_end_offset();
    let records = log.iter(start).collect::<Result<Vec<_>, _>>()?;
    Ok(Found {
        start,
        leo,
        records,
    })
}

/// Checks that `f` is a prefix of `m`: the same log start, an end no
/// further than the model's, and exactly the model's records in between.
pub fn check_prefix_of(f: &Found, m: &Model) -> Result<(), String> {
    if f.start != m.start {
        return Err(format!(
            "log start {} but the model's is {}",
            f.start, m.start
        ));
    }
    if f.leo > m.leo {
        return Err(format!("log end {} beyond the model's {}", f.leo, m.leo));
    }
    let want = m.range(f.start, f.leo);
    if want.len() != f.records.len() {
        let got: Vec<u64> = f.records.iter().map(|r| r.offset).collect();
        let w: Vec<u64> = want.iter().map(|(o, _)| *o).collect();
        return Err(format!(
            "offsets {} in [{}, {}) but the model has {} ({})",
            short(&got),
            f.start,
            f.leo,
            w.len(),
            short(&w)
        ));
    }
    for ((o, e), r) in want.iter().zip(&f.records) {
        if *o != r.offset {
            return Err(format!("offset {} where the model has {o}", r.offset));
        }
        if !e.matches(r) {
            return Err(format!(
                "record at offset {o} differs: got {r:?}, expected {e:?}"
            ));
        }
    }
    if let Some(last) = f.records.last() {
        if last.offset >= f.leo {
            return Err(format!(
                "record {} at or past the end {}",
                last.offset, f.leo
            ));
        }
    }
    Ok(())
}

/// Checks that every record of `m` in `[f.start, floor)` is in `f`.
pub fn check_floor(f: &Found, m: &Model, floor: u64) -> Result<(), String> {
    for (o, e) in m.range(f.start, floor) {
        match f.records.iter().find(|r| r.offset == o) {
            Some(r) if e.matches(r) => {}
            Some(r) => return Err(format!("durable record {o} differs: {r:?} vs {e:?}")),
            None => {
                return Err(format!(
                    "durable record {o} (below {floor}) is missing; log is [{}, {})",
                    f.start, f.leo
                ))
            }
        }
    }
    Ok(())
}

/// A compact rendering of a list of offsets as ranges.
pub fn short(offsets: &[u64]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < offsets.len() {
        let mut j = i;
        while j + 1 < offsets.len() && offsets[j + 1] == offsets[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            offsets[i].to_string()
        } else {
            format!("{}..={}", offsets[i], offsets[j])
        });
        i = j + 1;
    }
    format!("[{}]", out.join(", "))
}

/// Appends `records` with `durability` and records it in `model`.
pub fn append_checked(
    log: &PartitionLog,
    model: &mut Model,
    clock: &ManualClock,
    records: &[Record],
    durability: Durability,
) -> Result<(u64, u64), Error> {
    use seglog::Clock;
    let now = clock.now_ms();
    let info = log.append_with(records, durability)?;
    assert_eq!(info.first_offset, model.leo, "first offset of an append");
    assert_eq!(
        info.last_offset,
        model.leo + records.len() as u64 - 1,
        "last offset of an append"
    );
    model.append(
        info.first_offset,
        records.iter().map(|r| Exp::of(r, now)).collect(),
    );
    Ok((info.first_offset, info.last_offset))
}

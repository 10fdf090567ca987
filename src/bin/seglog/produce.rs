//! `seglog produce`: one record per line of standard input.
//!
//! A line is the bytes up to `\n` (a `\r` before it is dropped too); the
//! last line needs no newline. With `--key-separator SEP` the key is
//! what comes before the first `SEP` and the value what follows; a line
//! without `SEP` is an error, as in Kafka's console producer (the records
//! before it are stored and counted). Every `--header` goes on every record.
//!
//! Lines are appended as they arrive: a thread reads standard input into a
//! channel, and the producer's open batches are appended whenever no
//! further line comes within [`LINGER`], so a line typed at a terminal (or
//! written by a process that keeps the pipe open) is in the log, and seen
//! by `consume --follow`, at once, while a burst of lines still goes in
//! batches. A stream that never pauses is appended at least every
//! [`MAX_LINGER`], and whenever a batch fills.
//!
//! At the end of the input, or on SIGINT (Ctrl-C) or SIGTERM, the lines
//! read so far are appended and synced to disk, the store is closed, and
//! the counts are printed on standard error: `produced N records to TOPIC`
//! and a line per partition.

use std::collections::BTreeMap;
use std::io::{self, BufRead};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use clap::Args;
use seglog::store::{ProducerConfig, ProducerRecord};

use crate::signals::StopRequest;
use crate::store::{parse_key_value, partition_number, with_store, Create};
use crate::topics::plural;
use crate::CliError;

/// The example in `produce --help`.
pub const EXAMPLE: &str = "Examples:\n  \
    printf 'order-1:created\\norder-1:paid\\n' | \
    seglog produce --topic orders --key-separator : --header source=cli\n  \
    seglog produce --topic orders        # type lines; Ctrl-D or Ctrl-C ends";

/// How long the producer waits for a further line before appending what
/// it has.
pub const LINGER: Duration = Duration::from_millis(5);
/// The longest a read line waits to be appended while lines keep coming.
pub const MAX_LINGER: Duration = Duration::from_millis(100);
/// How often an idle producer looks for a stop request.
const STOP_CHECK: Duration = Duration::from_millis(100);
/// Lines read ahead of the producer.
const READ_AHEAD: usize = 1024;

/// `produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// The topic to append to.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// The partition to append to; by default the key's hash picks it
    /// (records without a key stick to one partition per batch).
    #[arg(long, value_name = "P", value_parser = partition, allow_negative_numbers = true)]
    pub partition: Option<u32>,
    /// Split each line into key and value at the first SEP.
    #[arg(long, value_name = "SEP", value_parser = non_empty)]
    pub key_separator: Option<String>,
    /// A header added to every record; repeatable.
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub headers: Vec<(String, String)>,
}

fn partition(s: &str) -> Result<u32, String> {
    partition_number(
        s,
        "to let the key pick the partition, leave out --partition",
    )
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("the separator must not be empty".to_string())
    } else {
        Ok(s.to_string())
    }
}

/// Runs `produce` on the store in `dir`.
pub fn run(args: ProduceArgs, dir: &Path) -> Result<(), CliError> {
    // From the start, so that a signal while the store opens is a request
    // to stop too, not the end of the process.
    let stop = StopRequest::install()?;
    with_store(dir, Create::No, |store| {
        // Fail before reading any input if the topic or partition is wrong.
        let description = store.describe_topic(&args.topic)?;
        if let Some(p) = args.partition {
            if p as usize >= description.partitions.len() {
                return Err(seglog::Error::UnknownPartition {
                    topic: args.topic.clone(),
                    partition: p,
                    partitions: description.partitions.len() as u32,
                }
                .into());
            }
        }
        let producer = store.producer(ProducerConfig::default());
        let mut counts: BTreeMap<u32, u64> = BTreeMap::new();
        let lines = read_lines();
        let sent = send_lines(&args, &producer, &lines, &stop, &mut counts);
        // Store what was sent even if a line was bad, and say so.
        let flushed = producer.flush();
        let synced = store.sync();
        if flushed.is_ok() && synced.is_ok() && (sent.is_ok() || !counts.is_empty()) {
            print_counts(&args.topic, &counts);
        }
        sent?;
        flushed?;
        synced?;
        Ok(())
    })
}

/// Prints the counts on standard error.
fn print_counts(topic: &str, counts: &BTreeMap<u32, u64>) {
    let total: u64 = counts.values().sum();
    let mut text = format!(
        "produced {total} record{} to {topic}\n",
        plural(total as usize)
    );
    for (partition, n) in counts {
        text.push_str(&format!("  partition {partition}: {n}\n"));
    }
    eprint!("{text}");
}

/// Standard input's lines, read on a thread of their own: the channel ends
/// at the end of the input, after an error if reading failed.
fn read_lines() -> Receiver<io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::sync_channel(READ_AHEAD);
    std::thread::spawn(move || {
        let stdin = io::stdin();
        let mut input = stdin.lock();
        loop {
            let mut line = Vec::new();
            let read = match input.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => Ok(line),
                Err(e) => Err(e),
            };
            let failed = read.is_err();
            if tx.send(read).is_err() || failed {
                return;
            }
        }
    });
    rx
}

/// Sends the lines as they come, appending the open batches when the
/// input pauses; returns at the end of the input or on a stop request,
/// after sending the lines already read.
fn send_lines(
    args: &ProduceArgs,
    producer: &seglog::Producer,
    lines: &Receiver<io::Result<Vec<u8>>>,
    stop: &StopRequest,
    counts: &mut BTreeMap<u32, u64>,
) -> Result<(), CliError> {
    let mut number = 0u64;
    // When the oldest record not appended yet was sent.
    let mut pending: Option<Instant> = None;
    loop {
        if stop.requested() {
            // The lines read before the signal are stored too (as many as
            // the channel held then: the reader may go on meanwhile).
            for line in lines.try_iter().take(READ_AHEAD + 1) {
                number += 1;
                send_line(args, producer, line, number, counts)?;
            }
            return Ok(());
        }
        let wait = if pending.is_some() {
            LINGER
        } else {
            STOP_CHECK
        };
        match lines.recv_timeout(wait) {
            Ok(line) => {
                number += 1;
                send_line(args, producer, line, number, counts)?;
                if pending.get_or_insert_with(Instant::now).elapsed() >= MAX_LINGER {
                    producer.flush()?;
                    pending = None;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if pending.take().is_some() {
                    producer.flush()?;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

/// Sends line `number` of the input (with its newline) as a record.
fn send_line(
    args: &ProduceArgs,
    producer: &seglog::Producer,
    line: io::Result<Vec<u8>>,
    number: u64,
    counts: &mut BTreeMap<u32, u64>,
) -> Result<(), CliError> {
    let mut line = line.map_err(CliError::Input)?;
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    let (key, value) = match &args.key_separator {
        None => (None, &line[..]),
        Some(sep) => match find(&line, sep.as_bytes()) {
            Some(at) => (Some(&line[..at]), &line[at + sep.len()..]),
            None => {
                return Err(CliError::Message(format!(
                    "line {number} of standard input has no key separator {sep:?}"
                )))
            }
        },
    };
    let mut record = ProducerRecord::new(args.topic.as_str(), value);
    if let Some(key) = key {
        record = record.with_key(key);
    }
    if let Some(p) = args.partition {
        record = record.with_partition(p);
    }
    for (k, v) in &args.headers {
        record = record.with_header(k.as_str(), v.as_bytes());
    }
    // The producer's flush reports append errors; the delivery is only
    // needed for its partition.
    let delivery = producer.send(record)?;
    *counts.entry(delivery.partition()).or_default() += 1;
    Ok(())
}

/// The position of the first `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    #[test]
    fn find_separator() {
        assert_eq!(super::find(b"k:v:w", b":"), Some(1));
        assert_eq!(super::find(b"k::v", b"::"), Some(1));
        assert_eq!(super::find(b"kv", b":"), None);
        assert_eq!(super::find(b"", b":"), None);
    }
}

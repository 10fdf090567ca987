//! `seglog produce`: one record per line of standard input.
//!
//! A line is the bytes up to `\n` (a `\r` before it is dropped too); the
//! last line needs no newline. With `--key-separator SEP` the key is
//! what comes before the first `SEP` and the value what follows; a line
//! without `SEP` is an error, as in Kafka's console producer (the records
//! before it are stored and counted). Every `--header` goes on every record.

use std::collections::BTreeMap;
use std::io::{self, BufRead};

use clap::Args;
use seglog::store::{ProducerConfig, ProducerRecord};

use crate::store::{parse_key_value, with_store, Create, Out};
use crate::topics::plural;
use crate::{CliError, DirArg};

/// The example in `produce --help`.
pub const EXAMPLE: &str = "Example:\n  \
    printf 'order-1:created\\norder-1:paid\\n' | \
    seglog produce --topic orders --key-separator : --header source=cli";

/// `produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// The topic to append to.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// The partition to append to; by default the key's hash picks it
    /// (records without a key stick to one partition per batch).
    #[arg(long, value_name = "P")]
    pub partition: Option<u32>,
    /// Split each line into key and value at the first SEP.
    #[arg(long, value_name = "SEP", value_parser = non_empty)]
    pub key_separator: Option<String>,
    /// A header added to every record; repeatable.
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub headers: Vec<(String, String)>,
    #[command(flatten)]
    pub dir: DirArg,
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("the separator must not be empty".to_string())
    } else {
        Ok(s.to_string())
    }
}

/// Runs `produce`.
pub fn run(args: ProduceArgs) -> Result<(), CliError> {
    with_store(&args.dir.dir, Create::No, |store| {
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
        let sent = send_lines(&args, &producer, &mut counts);
        // Store what was sent even if a line was bad, and say so.
        let flushed = producer.flush();
        let synced = store.sync();
        if flushed.is_ok() && synced.is_ok() && (sent.is_ok() || !counts.is_empty()) {
            print_counts(&args.topic, &counts)?;
        }
        sent?;
        flushed?;
        synced?;
        Ok(())
    })
}

fn print_counts(topic: &str, counts: &BTreeMap<u32, u64>) -> Result<(), CliError> {
    let total: u64 = counts.values().sum();
    let mut out = Out::new();
    writeln!(
        out,
        "produced {total} record{} to {topic}",
        plural(total as usize)
    )?;
    for (partition, n) in counts {
        writeln!(out, "  partition {partition}: {n}")?;
    }
    out.flush()
}

fn send_lines(
    args: &ProduceArgs,
    producer: &seglog::Producer,
    counts: &mut BTreeMap<u32, u64>,
) -> Result<(), CliError> {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        if input
            .read_until(b'\n', &mut line)
            .map_err(CliError::Input)?
            == 0
        {
            return Ok(());
        }
        number += 1;
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
    }
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

//! Prints every record of a partition directory as one JSON line.
//!
//! ```text
//! cargo run --example dump -- <partition-dir> [--indexes]
//! ```
//!
//! Each line has the fields of the Kafka fixtures' `expected.jsonl`
//! (sorted keys, compact, non-ASCII escaped): offset, timestamp,
//! timestamp_type, key and value in base64 (or null), headers, and the
//! batch's facts. `--indexes` also prints every `.index` and `.timeindex`
//! entry. The directory is only read, never changed. After printing, the
//! whole directory is verified; on a corrupt log the program prints where
//! and why to stderr and exits with status 1.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine;
use seglog::inspect::{self, SegmentFiles};
use seglog::io::StdFs;
use seglog::record::{BatchHeader, RecordBatch, RecordView};

fn main() -> ExitCode {
    let mut dir = None;
    let mut indexes = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--indexes" => indexes = true,
            "-h" | "--help" => {
                println!("usage: dump <partition-dir> [--indexes]");
                return ExitCode::SUCCESS;
            }
            _ if dir.is_none() && !arg.starts_with('-') => dir = Some(PathBuf::from(arg)),
            _ => {
                eprintln!(
                    "error: unexpected argument {arg:?}\nusage: dump <partition-dir> [--indexes]"
                );
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("usage: dump <partition-dir> [--indexes]");
        return ExitCode::from(2);
    };
    match run(&dir, indexes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &std::path::Path, indexes: bool) -> Result<(), Box<dyn std::error::Error>> {
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()).into());
    }
    let out = io::stdout();
    let mut out = BufWriter::new(out.lock());
    let segments = inspect::segments(&StdFs, dir)?;
    let mut scratch = Vec::new();
    let mut line = String::new();
    for seg in &segments {
        inspect::for_each_batch(&StdFs, seg, |_, batch| {
            for record in batch.records(&mut scratch)? {
                line.clear();
                record_line(&mut line, seg.base_offset, batch, &record?);
                writeln!(out, "{line}").map_err(|e| seglog::Error::Io {
                    op: "write",
                    path: "<stdout>".into(),
                    source: e,
                })?;
            }
            Ok(())
        })?;
        if indexes {
            index_lines(&mut out, seg)?;
        }
    }
    out.flush()?;
    inspect::verify_partition_dir(dir)?;
    Ok(())
}

fn index_lines(out: &mut impl Write, seg: &SegmentFiles) -> Result<(), Box<dyn std::error::Error>> {
    let file = |p: &std::path::Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    for (i, e) in inspect::read_offset_index(&StdFs, &seg.index, seg.base_offset)?
        .iter()
        .enumerate()
    {
        writeln!(
            out,
            r#"{{"entry":{i},"file":"{}","offset":{},"position":{}}}"#,
            file(&seg.index),
            e.offset,
            e.position
        )?;
    }
    for (i, e) in inspect::read_time_index(&StdFs, &seg.time_index, seg.base_offset)?
        .iter()
        .enumerate()
    {
        writeln!(
            out,
            r#"{{"entry":{i},"file":"{}","offset":{},"timestamp":{}}}"#,
            file(&seg.time_index),
            e.offset,
            e.timestamp
        )?;
    }
    Ok(())
}

/// One record as a JSON object with sorted keys.
fn record_line(out: &mut String, segment_base: u64, batch: &RecordBatch<'_>, r: &RecordView<'_>) {
    let h: &BatchHeader = batch.header();
    out.push_str(&format!(
        r#"{{"base_sequence":{},"batch_base_offset":{},"batch_last_offset":{},"compression":"{}","#,
        h.base_sequence,
        h.base_offset,
        h.last_offset(),
        h.compression().name()
    ));
    if h.is_control() {
        out.push_str(r#""control":"#);
        control_json(out, r);
        out.push(',');
    }
    out.push_str(r#""headers":["#);
    for (i, header) in r.headers().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"key":"#);
        json_string(out, &String::from_utf8_lossy(header.key));
        out.push_str(r#","value":"#);
        nullable_b64(out, header.value);
        out.push('}');
    }
    out.push_str(&format!(
        r#"],"is_control":{},"is_transactional":{},"key":"#,
        h.is_control(),
        h.is_transactional()
    ));
    nullable_b64(out, r.key);
    out.push_str(&format!(
        r#","offset":{},"partition_leader_epoch":{},"producer_epoch":{},"producer_id":{},"segment_base_offset":{segment_base},"timestamp":{},"timestamp_type":"{}","value":"#,
        r.offset, h.partition_leader_epoch, h.producer_epoch, h.producer_id, r.timestamp, r.timestamp_type
    ));
    nullable_b64(out, r.value);
    out.push('}');
}

/// A control record's key (version, type) and, for transaction markers,
/// its value (version, coordinator epoch).
fn control_json(out: &mut String, r: &RecordView<'_>) {
    let key = r.key.unwrap_or_default();
    let kind = (key.len() >= 4).then(|| i16::from_be_bytes([key[2], key[3]]));
    let name = match kind {
        Some(0) => "ABORT",
        Some(1) => "COMMIT",
        Some(2) => "LEADER_CHANGE",
        Some(3) => "SNAPSHOT_HEADER",
        Some(4) => "SNAPSHOT_FOOTER",
        Some(5) => "KRAFT_VERSION",
        Some(6) => "KRAFT_VOTERS",
        _ => "UNKNOWN",
    };
    out.push_str(&format!(r#"{{"type":"{name}""#));
    let value = r.value.unwrap_or_default();
    if matches!(kind, Some(0 | 1)) && value.len() >= 6 {
        let epoch = i32::from_be_bytes([value[2], value[3], value[4], value[5]]);
        out.push_str(&format!(r#","coordinator_epoch":{epoch}"#));
    }
    out.push('}');
}

fn nullable_b64(out: &mut String, bytes: Option<&[u8]>) {
    match bytes {
        None => out.push_str("null"),
        Some(b) => {
            out.push('"');
            base64::engine::general_purpose::STANDARD.encode_string(b, out);
            out.push('"');
        }
    }
}

/// A JSON string with every character outside printable ASCII escaped as
/// `\uXXXX` (UTF-16, as Python's `json.dumps` does by default).
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

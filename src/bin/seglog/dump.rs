//! `seglog dump`: the batches (and optionally records and index entries)
//! of a segment file or a partition directory, as Kafka's
//! `DumpLogSegments` prints them.
//!
//! The files are only read: no lock is taken and nothing is changed, so it
//! is safe on a live store, a copy, or Kafka's own data. Every batch's
//! header, offsets and CRC are checked on the way; at the first damaged
//! batch (or record) the valid part has already been printed, and the
//! command fails with the file and the byte position of the damage.
//!
//! Offset gaps are shown as they are: a compacted log's batches may skip
//! offsets, between them and inside them, and an empty batch (count 0, no
//! first timestamp, the max timestamp of the records it lost) keeps its
//! offsets. A batch with a delete horizon (attribute bit 6) shows it as
//! `deleteHorizonMs`, as Kafka's tool does (`null` for the others); its
//! base timestamp field holds the horizon, so its first timestamp is its
//! first record's.

use std::path::{Path, PathBuf};

use clap::Args;
use seglog::inspect::{self, SegmentFiles};
use seglog::io::StdFs;
use seglog::record::{BatchHeader, RecordBatch, RecordView};

use crate::store::Out;
use crate::{json, offsets_decoder, CliError};

/// The example in `dump --help`.
pub const EXAMPLE: &str = "Examples:\n  \
    seglog dump ./seglog-data/orders-0\n  \
    seglog dump ./seglog-data/orders-0/00000000000000000000.log --records\n  \
    seglog dump ./seglog-data/orders-0 --indexes --json\n  \
    seglog dump orders-0 --dir /var/lib/app/seglog";

/// `dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// A segment's `.log` file, or a partition directory (all its
    /// segments). A relative path not found as given is looked up in the
    /// data directory (`--dir`), so `seglog dump orders-0` works from
    /// anywhere.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Also print every record: offset, timestamp, key, value, headers.
    #[arg(long)]
    pub records: bool,
    /// Also print the `.index` and `.timeindex` entries of each segment.
    #[arg(long)]
    pub indexes: bool,
    /// Print every record (implies `--records`) with its key and value
    /// decoded as `__consumer_offsets` records: committed offsets and group
    /// metadata, as Kafka's `kafka-dump-log --offsets-decoder` shows them.
    #[arg(long)]
    pub offsets_decoder: bool,
    /// One JSON object a line (`"type"`: `batch`, `record`, `index` or
    /// `timeindex`) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `dump`.
pub fn run(args: DumpArgs, dir: &Path) -> Result<(), CliError> {
    let segments = segments_of(&resolve(&args.path, dir)?)?;
    let mut out = Out::new();
    let result = segments
        .iter()
        .try_for_each(|seg| dump_segment(&mut out, seg, &args));
    // Print the valid part before the error line.
    let flushed = out.flush();
    result?;
    flushed
}

/// `path` as given if it exists, else (if relative) in the data
/// directory; an error saying where it was looked for if it is in neither.
fn resolve(path: &Path, data_dir: &Path) -> Result<PathBuf, CliError> {
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    if path.is_absolute() {
        return Err(CliError::Message(format!(
            "{} does not exist",
            path.display()
        )));
    }
    let in_data = data_dir.join(path);
    if in_data.exists() {
        return Ok(in_data);
    }
    Err(CliError::Message(format!(
        "{} does not exist (nor does {})",
        path.display(),
        in_data.display()
    )))
}

/// The segments `path` names: one `.log` file, or all of a directory's.
fn segments_of(path: &Path) -> Result<Vec<SegmentFiles>, CliError> {
    if path.is_dir() {
        return Ok(inspect::segments(&StdFs, path)?);
    }
    if !path.is_file() {
        return Err(CliError::Message(format!(
            "{} is neither a segment file nor a directory",
            path.display()
        )));
    }
    let base_offset = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".log"))
        .filter(|stem| !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|stem| stem.parse::<u64>().ok())
        .ok_or_else(|| {
            CliError::Message(format!(
                "{} is not a segment file (expected <base offset>.log)",
                path.display()
            ))
        })?;
    Ok(vec![SegmentFiles {
        base_offset,
        log: path.to_path_buf(),
        index: path.with_extension("index"),
        time_index: path.with_extension("timeindex"),
    }])
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn dump_segment(out: &mut Out, seg: &SegmentFiles, args: &DumpArgs) -> Result<(), CliError> {
    if !args.json {
        writeln!(out, "Dumping {}", seg.log.display())?;
        writeln!(out, "Log starting offset: {}", seg.base_offset)?;
    }
    let log_name = file_name(&seg.log);
    let mut scratch = Vec::new();
    // An error of the tool itself (output, records), kept apart from the
    // library's: the closure can only return the latter.
    let mut failure: Option<CliError> = None;
    let walked = inspect::for_each_batch(&StdFs, seg, |position, batch| {
        let step = dump_batch(
            out,
            &log_name,
            seg,
            position,
            batch,
            true,
            args,
            &mut scratch,
        );
        match step {
            Ok(()) if !out.is_closed() => Ok(()),
            Ok(()) => Err(seglog::Error::Closed),
            Err(e) => {
                failure = Some(e);
                Err(seglog::Error::Closed)
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    match walked {
        Ok(()) => {}
        // The output was closed (`| head`): stop quietly.
        Err(seglog::Error::Closed) if out.is_closed() => return Ok(()),
        Err(e) => {
            show_invalid_crc_batch(out, &log_name, seg, &e, args)?;
            return Err(e.into());
        }
    }
    if args.indexes {
        dump_indexes(out, seg, args)?;
    }
    Ok(())
}

/// For a batch rejected by its CRC only, prints its header (`isValid:
/// false`), as Kafka's tool does, before the error is reported.
fn show_invalid_crc_batch(
    out: &mut Out,
    log_name: &str,
    seg: &SegmentFiles,
    error: &seglog::Error,
    args: &DumpArgs,
) -> Result<(), CliError> {
    let seglog::Error::Corrupt { path, position, .. } = error else {
        return Ok(());
    };
    if path != &seg.log {
        return Ok(());
    }
    let Ok(bytes) = std::fs::read(&seg.log) else {
        return Ok(());
    };
    let Some(rest) = usize::try_from(*position).ok().and_then(|p| bytes.get(p..)) else {
        return Ok(());
    };
    let Ok(batch) = RecordBatch::parse(rest) else {
        return Ok(());
    };
    if batch.verify_crc().is_ok() {
        return Ok(());
    }
    let mut scratch = Vec::new();
    let quiet = DumpArgs {
        path: PathBuf::new(),
        records: false,
        indexes: false,
        offsets_decoder: false,
        json: args.json,
    };
    dump_batch(
        out,
        log_name,
        seg,
        *position,
        &batch,
        false,
        &quiet,
        &mut scratch,
    )
}

#[allow(clippy::too_many_arguments)]
fn dump_batch(
    out: &mut Out,
    log_name: &str,
    seg: &SegmentFiles,
    position: u64,
    batch: &RecordBatch<'_>,
    crc_valid: bool,
    args: &DumpArgs,
    scratch: &mut Vec<u8>,
) -> Result<(), CliError> {
    let h = batch.header();
    let first_timestamp = first_timestamp(batch, scratch);
    if args.json {
        writeln!(
            out,
            "{}",
            batch_json(log_name, h, position, batch, crc_valid, first_timestamp)
        )?;
    } else {
        writeln!(
            out,
            "{}",
            batch_text(h, position, batch, crc_valid, first_timestamp)
        )?;
    }
    if !args.records && !args.offsets_decoder {
        return Ok(());
    }
    let damaged = |e: seglog::Error| match e {
        seglog::Error::InvalidBatch {
            position: at,
            reason,
        } => CliError::Store(seglog::Error::Corrupt {
            path: seg.log.clone(),
            position: position + at,
            reason,
        }),
        other => CliError::Message(format!(
            "{}: batch at byte {position}: {other}",
            seg.log.display()
        )),
    };
    for record in batch.records(scratch).map_err(damaged)? {
        let r = record.map_err(damaged)?;
        if args.offsets_decoder {
            let (key, payload) = offsets_decoder::decode(r.key, r.value);
            if args.json {
                writeln!(
                    out,
                    "{{\"type\":\"record\",\"file\":{},\"batch_base_offset\":{},\"offset\":{},\"timestamp\":{},\"key\":{key},\"payload\":{}}}",
                    json_string(log_name),
                    h.base_offset,
                    r.offset,
                    r.timestamp,
                    if payload == "<DELETE>" { "null".to_string() } else { payload }
                )?;
            } else {
                writeln!(
                    out,
                    "| offset: {} {}: {} key: {key} payload: {payload}",
                    r.offset, r.timestamp_type, r.timestamp
                )?;
            }
        } else if args.json {
            writeln!(out, "{}", record_json(log_name, h, &r))?;
        } else {
            writeln!(out, "{}", record_text(&r))?;
        }
    }
    Ok(())
}

/// The timestamp of a batch's first record: the base timestamp, unless
/// that holds a delete horizon (attribute bit 6, set by compaction); then
/// the first record's own (-1 for none, or if it does not decode: records
/// are checked where they are printed). An empty batch's is -1.
fn first_timestamp(batch: &RecordBatch<'_>, scratch: &mut Vec<u8>) -> i64 {
    let h = batch.header();
    if !h.attributes.has_delete_horizon() {
        return h.base_timestamp;
    }
    batch
        .records(scratch)
        .ok()
        .and_then(|mut records| records.next())
        .and_then(Result::ok)
        .map_or(-1, |r| r.timestamp)
}

/// The delete horizon of a batch, if it has one.
fn delete_horizon(h: &BatchHeader) -> Option<i64> {
    h.attributes
        .has_delete_horizon()
        .then_some(h.base_timestamp)
}

fn batch_text(
    h: &BatchHeader,
    position: u64,
    batch: &RecordBatch<'_>,
    crc_valid: bool,
    first_timestamp: i64,
) -> String {
    let horizon = delete_horizon(h).map_or_else(|| "null".to_string(), |t| t.to_string());
    format!(
        "baseOffset: {} lastOffset: {} count: {} position: {position} size: {} \
         crc: {:#010x} isValid: {crc_valid} compressCodec: {} timestampType: {} \
         firstTimestamp: {first_timestamp} maxTimestamp: {} producerId: {} producerEpoch: {} \
         baseSequence: {} isTransactional: {} isControl: {} deleteHorizonMs: {horizon} \
         partitionLeaderEpoch: {} magic: {}",
        h.base_offset,
        h.last_offset(),
        h.records_count,
        batch.size(),
        h.crc,
        h.compression().name(),
        h.timestamp_type(),
        h.max_timestamp,
        h.producer_id,
        h.producer_epoch,
        h.base_sequence,
        h.is_transactional(),
        h.is_control(),
        h.partition_leader_epoch,
        h.magic,
    )
}

fn batch_json(
    log_name: &str,
    h: &BatchHeader,
    position: u64,
    batch: &RecordBatch<'_>,
    crc_valid: bool,
    first_timestamp: i64,
) -> String {
    let horizon = delete_horizon(h).map_or_else(|| "null".to_string(), |t| t.to_string());
    let mut s = String::with_capacity(512);
    s.push_str("{\"type\":\"batch\",\"file\":");
    json::string(&mut s, log_name);
    s.push_str(&format!(
        ",\"base_offset\":{},\"last_offset\":{},\"count\":{},\"position\":{position},\
         \"size\":{},\"crc\":{},\"crc_valid\":{crc_valid},\"compression\":\"{}\",\
         \"timestamp_type\":\"{}\",\"first_timestamp\":{first_timestamp},\"max_timestamp\":{},\
         \"producer_id\":{},\"producer_epoch\":{},\"base_sequence\":{},\
         \"is_transactional\":{},\"is_control\":{},\"delete_horizon_ms\":{horizon},\
         \"partition_leader_epoch\":{},\"magic\":{}}}",
        h.base_offset,
        h.last_offset(),
        h.records_count,
        batch.size(),
        h.crc,
        h.compression().name(),
        h.timestamp_type(),
        h.max_timestamp,
        h.producer_id,
        h.producer_epoch,
        h.base_sequence,
        h.is_transactional(),
        h.is_control(),
        h.partition_leader_epoch,
        h.magic,
    ));
    s
}

fn json_string(text: &str) -> String {
    let mut s = String::new();
    json::string(&mut s, text);
    s
}

/// Bytes as lossy UTF-8 text, or `null`.
fn text_or_null(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(
        || "null".to_string(),
        |b| String::from_utf8_lossy(b).into_owned(),
    )
}

fn record_text(r: &RecordView<'_>) -> String {
    let headers: Vec<String> = r
        .headers()
        .map(|h| {
            format!(
                "{}={}",
                String::from_utf8_lossy(h.key),
                text_or_null(h.value)
            )
        })
        .collect();
    format!(
        "| offset: {} {}: {} key: {} value: {} headers: [{}]",
        r.offset,
        r.timestamp_type,
        r.timestamp,
        text_or_null(r.key),
        text_or_null(r.value),
        headers.join(", ")
    )
}

fn record_json(log_name: &str, h: &BatchHeader, r: &RecordView<'_>) -> String {
    let mut s = String::with_capacity(256);
    s.push_str("{\"type\":\"record\",\"file\":");
    json::string(&mut s, log_name);
    s.push_str(&format!(
        ",\"batch_base_offset\":{},\"offset\":{},\"timestamp\":{},\"timestamp_type\":\"{}\",\"key\":",
        h.base_offset, r.offset, r.timestamp, r.timestamp_type
    ));
    json::bytes_or_null(&mut s, r.key);
    s.push_str(",\"value\":");
    json::bytes_or_null(&mut s, r.value);
    s.push_str(",\"headers\":[");
    for (i, header) in r.headers().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"key\":");
        json::string(&mut s, &String::from_utf8_lossy(header.key));
        s.push_str(",\"value\":");
        json::bytes_or_null(&mut s, header.value);
        s.push('}');
    }
    s.push_str("]}");
    s
}

/// The entries of a segment's `.index` and `.timeindex`, up to a
/// zero-filled (preallocated) tail, as Kafka's tool stops there.
fn dump_indexes(out: &mut Out, seg: &SegmentFiles, args: &DumpArgs) -> Result<(), CliError> {
    if seg.index.exists() {
        let entries = inspect::read_offset_index(&StdFs, &seg.index, seg.base_offset)?;
        let fields: Vec<[(&str, i64); 2]> = entries
            .iter()
            .map(|e| {
                [
                    ("offset", e.offset as i64),
                    ("position", i64::from(e.position)),
                ]
            })
            .collect();
        let zero = [seg.base_offset as i64, 0];
        dump_index_file(out, &seg.index, "index", zero, &fields, args)?;
    }
    if seg.time_index.exists() {
        let entries = inspect::read_time_index(&StdFs, &seg.time_index, seg.base_offset)?;
        let fields: Vec<[(&str, i64); 2]> = entries
            .iter()
            .map(|e| [("timestamp", e.timestamp), ("offset", e.offset as i64)])
            .collect();
        let zero = [0, seg.base_offset as i64];
        dump_index_file(out, &seg.time_index, "timeindex", zero, &fields, args)?;
    }
    Ok(())
}

/// One index file's entries, each two named numbers. An entry after the
/// first that equals `zero`, what a zero-filled entry decodes to, starts
/// the preallocated tail.
fn dump_index_file(
    out: &mut Out,
    path: &Path,
    kind: &str,
    zero: [i64; 2],
    entries: &[[(&str, i64); 2]],
    args: &DumpArgs,
) -> Result<(), CliError> {
    let name = file_name(path);
    if !args.json {
        writeln!(out, "Dumping {}", path.display())?;
    }
    for (i, [(k1, v1), (k2, v2)]) in entries.iter().enumerate() {
        if i > 0 && [*v1, *v2] == zero {
            break;
        }
        if args.json {
            let mut s = format!("{{\"type\":\"{kind}\",\"file\":");
            json::string(&mut s, &name);
            writeln!(out, "{s},\"entry\":{i},\"{k1}\":{v1},\"{k2}\":{v2}}}")?;
        } else {
            writeln!(out, "{k1}: {v1} {k2}: {v2}")?;
        }
    }
    Ok(())
}

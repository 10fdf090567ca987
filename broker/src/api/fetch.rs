//! Fetch: whole record batches sent from the segment files, with Kafka's
//! long poll (`max_wait_ms`/`min_bytes`, woken by appends) and byte limits
//! (`max_bytes` for the response, `partition_max_bytes` for each
//! partition, the first batch of the first partition with data whole even
//! above them, KIP-74).
//!
//! The response is encoded here rather than by `kafka-protocol`, so that
//! its records fields can be file ranges.

use std::time::{Duration, Instant};

use seglog::{Error, FetchData};

use super::{Context, Outcome};
use crate::codec::{DecodeResult, Reader, Writer};
use crate::errors::{code, error_code};
use crate::response::Part;

/// How long a long poll sleeps before it looks at the shutdown flag.
const WAIT_SLICE: Duration = Duration::from_millis(200);

struct FetchPartition {
    partition: i32,
    fetch_offset: i64,
    partition_max_bytes: i32,
}

struct FetchTopic {
    name: String,
    partitions: Vec<FetchPartition>,
}

struct Request {
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
    isolation_level: i8,
    topics: Vec<FetchTopic>,
}

fn decode(v: i16, body: &mut Reader) -> DecodeResult<Request> {
    let _replica_id = body.i32()?;
    let max_wait_ms = body.i32()?;
    let min_bytes = body.i32()?;
    let max_bytes = body.i32()?;
    let isolation_level = body.i8()?;
    if v >= 7 {
        let _session_id = body.i32()?;
        let _session_epoch = body.i32()?;
    }
    let topics = body
        .topic_partitions(|r| {
            let partition = r.i32()?;
            if v >= 9 {
                let _current_leader_epoch = r.i32()?;
            }
            let fetch_offset = r.i64()?;
            if v >= 12 {
                let _last_fetched_epoch = r.i32()?;
            }
            if v >= 5 {
                let _log_start_offset = r.i64()?;
            }
            let partition_max_bytes = r.i32()?;
            Ok(FetchPartition {
                partition,
                fetch_offset,
                partition_max_bytes,
            })
        })?
        .into_iter()
        .map(|(name, partitions)| FetchTopic { name, partitions })
        .collect();
    if v >= 7 {
        // Fetch sessions are not kept (session id 0 in every response), so
        // every request is a full one and forgotten topics need nothing.
        let _forgotten = body.array(|r| {
            let _topic = r.string()?;
            let _partitions = r.array(|r| r.i32())?;
            r.tagged_fields()?;
            Ok(())
        })?;
    }
    if v >= 11 {
        let _rack_id = body.string()?;
    }
    body.tagged_fields()?;
    body.finish()?;
    Ok(Request {
        max_wait_ms,
        min_bytes,
        max_bytes,
        isolation_level,
        topics,
    })
}

/// One partition's answer.
struct PartitionResult {
    partition: i32,
    error_code: i16,
    high_watermark: i64,
    log_start_offset: i64,
    data: Option<FetchData>,
}

impl PartitionResult {
    fn bytes(&self) -> u64 {
        self.data.as_ref().map_or(0, FetchData::len_bytes)
    }
}

/// Fetch.
pub fn handle(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let request = decode(ctx.version(), body)?;
    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let store = &ctx.shared.store;
    let results = loop {
        let seen = store.append_generation();
        let results = read_all(ctx, &request);
        let total: u64 = results
            .iter()
            .flat_map(|(_, ps)| ps)
            .map(PartitionResult::bytes)
            .sum();
        let has_error = results
            .iter()
            .flat_map(|(_, ps)| ps)
            .any(|p| p.error_code != code::NONE);
        let now = Instant::now();
        if total >= request.min_bytes.max(0) as u64
            || has_error
            || now >= deadline
            || ctx.shared.is_shutting_down()
            || ctx.client_gone()
        {
            break results;
        }
        store.wait_for_append(seen, (deadline - now).min(WAIT_SLICE));
    };
    Ok(Outcome::Respond(ctx.response(encode(
        ctx.version(),
        request.isolation_level,
        &results,
    ))))
}

/// Reads every partition, within the response's and each partition's
/// byte limits.
fn read_all<'a>(ctx: &Context<'_>, request: &'a Request) -> Vec<(&'a str, Vec<PartitionResult>)> {
    let mut budget = request.max_bytes.max(0) as u64;
    let mut first_with_data = true;
    request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let limit = budget.min(p.partition_max_bytes.max(0) as u64);
                    // The store reads nothing for a limit of 0, where Kafka
                    // still gives the first partition with data its first
                    // batch: any limit above 0 reads that batch whole.
                    let read_limit = if first_with_data { limit.max(1) } else { limit };
                    let mut result = read_one(ctx, &topic.name, p, read_limit);
                    if let Some(data) = &result.data {
                        let len = data.len_bytes();
                        if len > 0 {
                            if len > limit && !first_with_data {
                                // Only the first partition with data may go
                                // over the limits; this one waits for the
                                // next fetch.
                                result.data = None;
                            } else {
                                first_with_data = false;
                                budget = budget.saturating_sub(len);
                            }
                        }
                    }
                    result
                })
                .collect();
            (topic.name.as_str(), partitions)
        })
        .collect()
}

fn read_one(ctx: &Context<'_>, topic: &str, p: &FetchPartition, limit: u64) -> PartitionResult {
    let mut result = PartitionResult {
        partition: p.partition,
        error_code: code::NONE,
        high_watermark: -1,
        log_start_offset: -1,
        data: None,
    };
    let log = match u32::try_from(p.partition)
        .map_err(|_| code::UNKNOWN_TOPIC_OR_PARTITION)
        .and_then(|partition| {
            ctx.shared
                .store
                .partition(topic, partition)
                .map_err(|e| error_code(&e))
        }) {
        Ok(log) => log,
        Err(code) => {
            result.error_code = code;
            return result;
        }
    };
    result.high_watermark = log.log_end_offset() as i64;
    result.log_start_offset = log.log_start_offset() as i64;
    let offset = match u64::try_from(p.fetch_offset) {
        Ok(o) => o,
        Err(_) => {
            result.error_code = code::OFFSET_OUT_OF_RANGE;
            return result;
        }
    };
    match log.read(offset, limit) {
        Ok(data) => {
            result.high_watermark = data.log_end_offset() as i64;
            result.log_start_offset = data.log_start_offset() as i64;
            result.data = Some(data);
        }
        Err(e @ Error::OffsetOutOfRange { .. }) => result.error_code = error_code(&e),
        Err(e) => {
            crate::log::log_line!("fetch {topic}-{}: {e}", p.partition);
            result.error_code = error_code(&e);
        }
    }
    result
}

/// The response body: encoded fields with the records as file ranges.
fn encode(v: i16, isolation_level: i8, results: &[(&str, Vec<PartitionResult>)]) -> Vec<Part> {
    let flexible = v >= 12;
    let mut w = Writer::new(flexible);
    let mut parts = Vec::new();
    w.i32(0); // throttle_time_ms
    if v >= 7 {
        w.i16(code::NONE);
        w.i32(0); // session_id: no fetch sessions
    }
    w.array_len(Some(results.len()));
    for (topic, partitions) in results {
        w.string(topic);
        w.array_len(Some(partitions.len()));
        for p in partitions {
            w.i32(p.partition);
            w.i16(p.error_code);
            w.i64(p.high_watermark);
            // Without transactions the last stable offset is the high
            // watermark.
            w.i64(p.high_watermark);
            if v >= 5 {
                w.i64(p.log_start_offset);
            }
            // Aborted transactions: null for read_uncommitted, none for
            // read_committed.
            w.array_len(if isolation_level == 0 { None } else { Some(0) });
            if v >= 11 {
                w.i32(-1); // preferred_read_replica
            }
            let slices = p.data.as_ref().map_or(&[][..], |d| d.slices());
            let len: u64 = slices.iter().map(|s| s.len()).sum();
            w.bytes_len(Some(len as usize));
            if !slices.is_empty() {
                parts.push(Part::Bytes(w.split().freeze()));
                parts.extend(slices.iter().cloned().map(Part::File));
            }
            w.no_tagged_fields();
        }
        w.no_tagged_fields();
    }
    w.no_tagged_fields();
    parts.push(Part::Bytes(w.split().freeze()));
    parts
}

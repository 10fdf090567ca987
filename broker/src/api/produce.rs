//! Produce: producer batches appended as they came, offsets assigned in
//! place (a compressed batch is not re-encoded).

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use seglog::topic::is_internal_topic;
use seglog::{Error, LogConfig};

use super::{Context, Outcome};
use crate::codec::{DecodeResult, Reader};
use crate::errors::{code, error_code};

/// One partition's data in a Produce request.
struct PartitionData {
    index: i32,
    records: Option<Bytes>,
}

/// Produce.
pub fn handle(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let transactional_id = body.nullable_string()?;
    let acks = body.i16()?;
    let _timeout_ms = body.i32()?;
    let topics = body.topic_partitions(|r| {
        let index = r.i32()?;
        let records = r.nullable_bytes()?;
        Ok(PartitionData { index, records })
    })?;
    body.tagged_fields()?;
    body.finish()?;

    let mut response = ProduceResponse::default();
    let mut first_error = None;
    for (name, partitions) in topics {
        let mut topic = TopicProduceResponse::default();
        topic.name = TopicName(StrBytes::from_string(name.clone()));
        for p in partitions {
            let mut out = PartitionProduceResponse::default();
            out.index = p.index;
            out.base_offset = -1;
            out.log_append_time_ms = -1;
            out.log_start_offset = -1;
            let result = if !matches!(acks, -1..=1) {
                Err((code::INVALID_REQUIRED_ACKS, format!("acks={acks}")))
            } else if transactional_id.is_some() {
                Err((
                    code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                    "this broker has no transactions".to_string(),
                ))
            } else {
                append(ctx, &name, p.index, p.records)
            };
            match result {
                Ok(info) => {
                    out.base_offset = info.0;
                    out.log_append_time_ms = info.1;
                    out.log_start_offset = info.2;
                }
                Err((error, message)) => {
                    // A storage failure is the broker's to see; a client's
                    // mistakes are the client's.
                    if error == code::KAFKA_STORAGE_ERROR {
                        crate::log::log_line!("produce {name}-{}: {message}", p.index);
                    }
                    out.error_code = error;
                    if ctx.version() >= 8 {
                        out.error_message = Some(StrBytes::from_string(message.clone()));
                    }
                    first_error.get_or_insert(format!("{name}-{}: {message}", p.index));
                }
            }
            topic.partition_responses.push(out);
        }
        response.responses.push(topic);
    }
    if acks == 0 {
        // Without a response the only way to tell a client of an error is
        // to close its connection, as Kafka does; it then refreshes its
        // metadata.
        return Ok(match first_error {
            Some(e) => Outcome::Close(format!("a produce with acks=0 failed: {e}")),
            None => Outcome::Silent,
        });
    }
    Ok(ctx.respond(&response))
}

/// Appends one partition's records. Returns (base offset, log-append
/// time or -1, log start offset), or the error code and a message.
fn append(
    ctx: &Context<'_>,
    topic: &str,
    partition: i32,
    records: Option<Bytes>,
) -> Result<(i64, i64, i64), (i16, String)> {
    if is_internal_topic(topic) {
        return Err((
            code::INVALID_TOPIC_EXCEPTION,
            format!("{topic} is an internal topic"),
        ));
    }
    let Some(records) = records else {
        return Err((code::CORRUPT_MESSAGE, "null records".to_string()));
    };
    check_one_v2_batch(&records).map_err(|m| (code::INVALID_RECORD, m))?;
    let partition = u32::try_from(partition).map_err(|_| {
        (
            code::UNKNOWN_TOPIC_OR_PARTITION,
            format!("partition {partition}"),
        )
    })?;
    let log = ctx
        .shared
        .store
        .partition(topic, partition)
        .map_err(|e| (error_code(&e), e.to_string()))?;
    let info = log
        .append_encoded(&records)
        .map_err(|e| (append_error_code(&e, log.config()), e.to_string()))?;
    Ok((
        info.first_offset as i64,
        info.log_append_time.unwrap_or(-1),
        log.log_start_offset() as i64,
    ))
}

/// The code for an append's error on a log of `config`: a batch within
/// `max.message.bytes` but larger than `segment.bytes` gets
/// RECORD_LIST_TOO_LARGE, as Kafka's `UnifiedLog.append` answers; one over
/// `max.message.bytes` (checked first, by the library as by Kafka) keeps
/// MESSAGE_TOO_LARGE.
fn append_error_code(e: &Error, config: &LogConfig) -> i16 {
    match e {
        Error::RecordTooLarge { max, .. }
            if *max == config.segment_bytes && *max != u64::from(config.max_message_bytes) =>
        {
            code::RECORD_LIST_TOO_LARGE
        }
        _ => error_code(e),
    }
}

/// Produce version 3 and later carry exactly one batch of magic 2 per
/// partition (Kafka's `ProduceRequest.validateRecords`).
fn check_one_v2_batch(records: &[u8]) -> Result<(), String> {
    // base offset (8), batch length (4), leader epoch (4), magic (1)
    if records.len() < 17 {
        return Err(format!("{} bytes are not a record batch", records.len()));
    }
    let magic = records[16];
    if magic != 2 {
        return Err(format!(
            "a batch of magic {magic}: produce requests of version 3 and later carry magic 2"
        ));
    }
    let length = i32::from_be_bytes([records[8], records[9], records[10], records[11]]);
    let end = 12i64 + i64::from(length);
    if end != records.len() as i64 {
        return Err(if end < records.len() as i64 && length >= 0 {
            "more than one record batch: produce requests of version 3 and later carry exactly one"
                .to_string()
        } else {
            format!(
                "a batch length of {length} in {} bytes of records",
                records.len()
            )
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use seglog::{BatchBuilder, Record};

    fn batch() -> Vec<u8> {
        BatchBuilder::new()
            .build(&[Record::new("v").with_timestamp(1)])
            .unwrap()
    }

    #[test]
    fn a_batch_over_segment_bytes_is_told_from_one_over_max_message_bytes() {
        let mut config = LogConfig {
            segment_bytes: 16384,
            max_message_bytes: 40000,
            ..LogConfig::default()
        };
        let over = |max| Error::RecordTooLarge { size: 50000, max };
        assert_eq!(
            append_error_code(&over(16384), &config),
            code::RECORD_LIST_TOO_LARGE
        );
        assert_eq!(
            append_error_code(&over(40000), &config),
            code::MESSAGE_TOO_LARGE
        );
        // Equal limits: max.message.bytes is the one checked first.
        config.max_message_bytes = 16384;
        assert_eq!(
            append_error_code(&over(16384), &config),
            code::MESSAGE_TOO_LARGE
        );
        let other = Error::InvalidBatch {
            position: 0,
            reason: "crc".into(),
        };
        assert_eq!(append_error_code(&other, &config), code::CORRUPT_MESSAGE);
    }

    #[test]
    fn one_v2_batch_is_required() {
        let b = batch();
        check_one_v2_batch(&b).unwrap();
        let two = [b.clone(), b.clone()].concat();
        assert!(check_one_v2_batch(&two)
            .unwrap_err()
            .contains("exactly one"));
        let mut old = b.clone();
        old[16] = 1;
        assert!(check_one_v2_batch(&old).unwrap_err().contains("magic 1"));
        assert!(check_one_v2_batch(&b[..b.len() - 1]).is_err());
        assert!(check_one_v2_batch(&b[..10]).is_err());
    }
}

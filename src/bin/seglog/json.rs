//! Hand-written JSON (no serde in the tool): the records of `consume
//! --format json`, one object a line, and the documents of `topics list`,
//! `topics describe` and `stats` with `--output json`, one array each.
//! Timestamps are numbers, milliseconds since the Unix epoch.
//!
//! Keys, values and header values are bytes. Bytes that are valid UTF-8
//! are written as a JSON string; any other bytes as an object
//! `{"base64": "..."}` (standard alphabet, padded), so nothing is lost and
//! a reader tells the two apart by type. A missing key or value, or a
//! header without a value, is `null`.

use std::fmt::Write;

use seglog::store::TopicDescription;
use seglog::ConsumerRecord;

/// `record` as one JSON object (no newline): `partition`, `offset`,
/// `timestamp`, `key`, `value`, and `headers` as an array of
/// `{"key": ..., "value": ...}` objects in order.
pub fn record(record: &ConsumerRecord) -> String {
    let mut s = String::with_capacity(128);
    let _ = write!(
        s,
        "{{\"partition\":{},\"offset\":{},\"timestamp\":{},\"key\":",
        record.partition, record.offset, record.timestamp
    );
    bytes_or_null(&mut s, record.key.as_deref());
    s.push_str(",\"value\":");
    bytes_or_null(&mut s, record.value.as_deref());
    s.push_str(",\"headers\":[");
    for (i, h) in record.headers.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"key\":");
        string(&mut s, &h.key);
        s.push_str(",\"value\":");
        bytes_or_null(&mut s, h.value.as_deref());
        s.push('}');
    }
    s.push_str("]}");
    s
}

/// The topic names as an array of strings.
pub fn names(names: &[String]) -> String {
    let mut s = String::from("[");
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        string(&mut s, name);
    }
    s.push(']');
    s
}

/// Topics as an array of objects: `name`, `partition_count`, `configs`
/// (the overrides, an object of strings), and `partitions`, an array of
/// objects with `partition`, `log_start_offset`, `log_end_offset`,
/// `size_bytes`, `segments`, and for a compacted topic's partitions
/// `cleanable_ratio` and `cleaner_checkpoint` (`null` otherwise, and for
/// the checkpoint before the first compaction).
pub fn topics(topics: &[TopicDescription]) -> String {
    let mut s = String::from("[");
    for (i, t) in topics.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"name\":");
        string(&mut s, &t.name);
        let _ = write!(
            s,
            ",\"partition_count\":{},\"configs\":{{",
            t.partitions.len()
        );
        for (j, (k, v)) in t.overrides.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            string(&mut s, k);
            s.push(':');
            string(&mut s, v);
        }
        s.push_str("},\"partitions\":[");
        for (j, p) in t.partitions.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                "{{\"partition\":{},\"log_start_offset\":{},\"log_end_offset\":{},\
                 \"size_bytes\":{},\"segments\":{},\"cleanable_ratio\":{},\
                 \"cleaner_checkpoint\":{}}}",
                p.partition,
                p.log_start_offset,
                p.log_end_offset,
                p.size_bytes,
                p.segments,
                number_or_null(p.cleanable_ratio),
                or_null(p.cleaner_checkpoint)
            );
        }
        s.push_str("]}");
    }
    s.push(']');
    s
}

/// A number, or `null` for `None`.
pub fn or_null(value: Option<impl std::fmt::Display>) -> String {
    value.map_or_else(|| "null".to_string(), |v| v.to_string())
}

/// A floating-point number, or `null` for `None` or a value JSON cannot
/// hold (infinite, NaN).
pub fn number_or_null(value: Option<f64>) -> String {
    or_null(value.filter(|v| v.is_finite()))
}

/// Bytes as a string, a base64 object, or `null`.
pub fn bytes_or_null(out: &mut String, bytes: Option<&[u8]>) {
    match bytes {
        None => out.push_str("null"),
        Some(b) => match std::str::from_utf8(b) {
            Ok(text) => string(out, text),
            Err(_) => {
                out.push_str("{\"base64\":\"");
                base64(out, b);
                out.push_str("\"}");
            }
        },
    }
}

/// A JSON string literal: quotes, backslashes and control characters
/// escaped.
pub fn string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Standard base64 with padding.
pub fn base64(out: &mut String, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    fn b64(bytes: &[u8]) -> String {
        let mut s = String::new();
        super::base64(&mut s, bytes);
        s
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(b64(b""), "");
        assert_eq!(b64(b"f"), "Zg==");
        assert_eq!(b64(b"fo"), "Zm8=");
        assert_eq!(b64(b"foo"), "Zm9v");
        assert_eq!(b64(b"foob"), "Zm9vYg==");
        assert_eq!(b64(b"fooba"), "Zm9vYmE=");
        assert_eq!(b64(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64(&[0xff, 0xfe]), "//4=");
    }

    #[test]
    fn strings_are_escaped() {
        let mut s = String::new();
        super::string(&mut s, "a\"b\\c\nd\te\u{1}f\u{7f}é");
        assert_eq!(s, r#""a\"b\\c\nd\te\u0001f\u007fé""#);
    }
}

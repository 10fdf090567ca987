//! Kafka's string forms of topic config values, read as Kafka's
//! `ConfigDef` reads them: `INT`, `LONG` and `DOUBLE` numbers, `-1` limits
//! and the `cleanup.policy` list. Each error names the config key. A
//! double is also printed here as Java prints it.

use crate::config::CleanupPolicy;
use crate::error::{Error, Result};

/// A Kafka `INT` setting that must not be negative. A number beyond an
/// `INT` is told apart from what is not a number, and the limit named.
pub(super) fn parse_int(key: &'static str, value: &str) -> Result<u32> {
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::config(
            key,
            format!("{value:?} is not a whole number from -2147483648 to 2147483647"),
        ));
    }
    if value.starts_with('-') && digits.bytes().any(|b| b != b'0') {
        return Err(Error::config(key, format!("{value} is negative")));
    }
    value
        .parse::<i32>()
        .ok()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            Error::config(
                key,
                format!(
                    "{value} is above {}, the largest value of a Kafka INT setting",
                    i32::MAX
                ),
            )
        })
}

/// A Kafka `LONG` setting that must not be negative.
pub(super) fn parse_long(key: &'static str, value: &str) -> Result<u64> {
    let n = parse_signed_long(key, value)?;
    u64::try_from(n).map_err(|_| Error::config(key, format!("{n} is negative")))
}

/// A Kafka `LONG` limit where `-1` means unlimited (`None`).
pub(super) fn parse_limit(key: &'static str, value: &str) -> Result<Option<u64>> {
    match parse_signed_long(key, value)? {
        -1 => Ok(None),
        n => u64::try_from(n).map(Some).map_err(|_| {
            Error::config(
                key,
                format!("{n} is negative: use -1 for unlimited or a limit of at least 0"),
            )
        }),
    }
}

fn parse_signed_long(key: &'static str, value: &str) -> Result<i64> {
    value.parse().map_err(|_| {
        Error::config(
            key,
            format!(
                "{value:?} is not a whole number from -9223372036854775808 to 9223372036854775807"
            ),
        )
    })
}

/// A Kafka `DOUBLE` setting in decimal, as Java's `Double.parseDouble`
/// reads one (`0.5`, `1`, `.25`, `+1.`, `5e-1`). What is not a finite
/// number is refused, `NaN` and `Infinity` included, as is a number too
/// large for a double.
pub(super) fn parse_double(key: &'static str, value: &str) -> Result<f64> {
    let decimal = value
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
    match value.parse::<f64>() {
        Ok(n) if decimal && n.is_finite() => Ok(n),
        _ => Err(Error::config(
            key,
            format!("{value:?} is not a finite decimal number"),
        )),
    }
}

/// A finite double as Java prints a whole one too (`1.0`, not `1`), in a
/// form [`parse_double`] reads back to the same value.
pub(super) fn double_string(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.1}")
    } else {
        value.to_string()
    }
}

/// Kafka's `cleanup.policy` list: comma-separated `delete` and
/// `compact`, whitespace around each ignored, in any order and with
/// repeats. An empty item (so an empty value too) is an error.
pub(super) fn parse_cleanup_policy(key: &'static str, value: &str) -> Result<CleanupPolicy> {
    let (mut compact, mut delete) = (false, false);
    for name in value.split(',').map(str::trim) {
        match name {
            "delete" => delete = true,
            "compact" => compact = true,
            _ => {
                return Err(Error::config(
                    key,
                    format!(
                        "{name:?} in {value:?} is not a cleanup policy \
                         (a list of \"delete\" and \"compact\")"
                    ),
                ))
            }
        }
    }
    Ok(match (compact, delete) {
        (true, true) => CleanupPolicy::CompactDelete,
        (true, false) => CleanupPolicy::Compact,
        _ => CleanupPolicy::Delete,
    })
}

//! Kafka's text checkpoint format.
//!
//! ```text
//! 0                 version
//! 2                 number of entries
//! <field> <field>   one entry per line, fields separated by a space
//! <field> <field>
//! ```
//!
//! Kafka uses it for `recovery-point-offset-checkpoint`,
//! `log-start-offset-checkpoint` (`topic partition offset` entries) and
//! `leader-epoch-checkpoint` (`epoch offset`). seglog also keeps its
//! per-partition state in it. Files are always replaced atomically (write a
//! temporary file, fsync, rename, fsync the directory), so a reader sees
//! either the old or the new contents; anything else is corruption.

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::{self as fsio, Fs};

const VERSION: &str = "0";

/// Renders entries (each a list of fields) in the checkpoint format.
pub(crate) fn render<S: AsRef<str>>(entries: &[Vec<S>]) -> String {
    let mut out = format!("{VERSION}\n{}\n", entries.len());
    for entry in entries {
        let fields: Vec<&str> = entry.iter().map(AsRef::as_ref).collect();
        out.push_str(&fields.join(" "));
        out.push('\n');
    }
    out
}

/// Parses a checkpoint file's text into its entries' fields, checking the
/// version, the count and that every entry has `fields` fields. An empty
/// file has no entries (Kafka reads it so).
pub(crate) fn parse(path: &Path, text: &str, fields: usize) -> Result<Vec<Vec<String>>> {
    let entries = parse_positioned(path, text, fields)?;
    Ok(entries.into_iter().map(|(_, e)| e).collect())
}

/// An entry's fields and the byte position of its line.
pub(crate) type PositionedEntry = (u64, Vec<String>);

/// [`parse`], with each entry the byte position of its line. Errors name
/// the byte position of the line at fault.
pub(crate) fn parse_positioned(
    path: &Path,
    text: &str,
    fields: usize,
) -> Result<Vec<PositionedEntry>> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut lines = text.split_inclusive('\n').scan(0u64, |at, line| {
        let start = *at;
        *at += line.len() as u64;
        Some((start, line.trim_end_matches(['\n', '\r'])))
    });
    let bad = |position: u64, reason: String| Error::corrupt(path, position, reason);
    match lines.next() {
        Some((_, VERSION)) => {}
        other => {
            return Err(bad(
                0,
                format!(
                    "unsupported checkpoint version {:?}",
                    other.map_or("", |(_, l)| l)
                ),
            ))
        }
    }
    let (count_at, count) = match lines.next() {
        Some((at, line)) => (at, line.trim().parse::<usize>().ok()),
        None => (text.len() as u64, None),
    };
    let count = count.ok_or_else(|| bad(count_at, "missing or malformed entry count".into()))?;
    let mut entries = Vec::with_capacity(count.min(1 << 16));
    for (i, (at, line)) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parts: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        if parts.len() != fields {
            return Err(bad(
                at,
                format!(
                    "line {} has {} fields, expected {fields}",
                    i + 3,
                    parts.len()
                ),
            ));
        }
        entries.push((at, parts));
    }
    if entries.len() != count {
        return Err(bad(
            count_at,
            format!("declares {count} entries but holds {}", entries.len()),
        ));
    }
    Ok(entries)
}

/// Reads and parses a checkpoint file; `None` if it does not exist.
pub(crate) fn read(fs: &dyn Fs, path: &Path, fields: usize) -> Result<Option<Vec<Vec<String>>>> {
    match read_text(fs, path)? {
        Some(text) => parse(path, &text, fields).map(Some),
        None => Ok(None),
    }
}

/// [`read`], with each entry the byte position of its line.
pub(crate) fn read_positioned(
    fs: &dyn Fs,
    path: &Path,
    fields: usize,
) -> Result<Option<Vec<PositionedEntry>>> {
    match read_text(fs, path)? {
        Some(text) => parse_positioned(path, &text, fields).map(Some),
        None => Ok(None),
    }
}

/// A checkpoint file's text; `None` if it does not exist.
fn read_text(fs: &dyn Fs, path: &Path) -> Result<Option<String>> {
    let Some(bytes) = fsio::read_file_if_exists(fs, path)? else {
        return Ok(None);
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| Error::corrupt(path, e.utf8_error().valid_up_to() as u64, "not UTF-8 text"))
}

/// Replaces a checkpoint file atomically.
pub(crate) fn write<S: AsRef<str>>(fs: &dyn Fs, path: &Path, entries: &[Vec<S>]) -> Result<()> {
    fsio::write_file_atomically(fs, path, render(entries).as_bytes())
}

/// Entries of `key value` pairs as a lookup.
#[derive(Debug, Default, Clone)]
pub(crate) struct KeyValues(Vec<(String, String)>);

impl KeyValues {
    pub(crate) fn from_entries(entries: Vec<Vec<String>>) -> Self {
        KeyValues(
            entries
                .into_iter()
                .filter_map(|mut e| {
                    let v = e.pop()?;
                    let k = e.pop()?;
                    Some((k, v))
                })
                .collect(),
        )
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key` as a number; an error naming the file if it is
    /// missing or malformed.
    pub(crate) fn number<T: std::str::FromStr>(&self, path: &Path, key: &str) -> Result<T> {
        self.get(key)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::corrupt(path, 0, format!("missing or malformed `{key}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_kafka_layout() {
        let text = render(&[vec!["orders", "0", "42"], vec!["orders", "1", "7"]]);
        assert_eq!(text, "0\n2\norders 0 42\norders 1 7\n");
        let back = parse(Path::new("c"), &text, 3).unwrap();
        assert_eq!(back[1], ["orders", "1", "7"]);
        // Kafka's reader splits on any whitespace run.
        let loose = parse(Path::new("c"), "0\n1\nt  3\t9\n", 3).unwrap();
        assert_eq!(loose[0], ["t", "3", "9"]);
    }

    #[test]
    fn leader_epoch_example_parses() {
        let e = parse(Path::new("leader-epoch-checkpoint"), "0\n2\n0 0\n1 2\n", 2).unwrap();
        assert_eq!(e, vec![vec!["0", "0"], vec!["1", "2"]]);
    }

    #[test]
    fn malformed_files_are_errors() {
        let p = Path::new("c");
        assert!(parse(p, "", 2).unwrap().is_empty());
        for (text, expect) in [
            ("1\n0\n", "version"),
            ("0\nx\n", "entry count"),
            ("0\n2\na 1\n", "declares 2 entries"),
            ("0\n1\na 1 2\n", "has 3 fields"),
        ] {
            let e = parse(p, text, 2).unwrap_err().to_string();
            assert!(e.contains(expect), "{text:?}: {e}");
        }
    }

    #[test]
    fn errors_name_the_byte_position_of_the_line_at_fault() {
        let p = Path::new("c");
        for (text, position) in [
            ("1\n0\n", 0),
            ("0\nx\n", 2),
            ("0\n", 2),
            ("0\n2\na 1\n", 2),
            ("0\n2\na 1\nb 2 3\n", 8),
            ("0\r\n1\r\nab 1 2\r\n", 6),
        ] {
            match parse(p, text, 2) {
                Err(Error::Corrupt { position: at, .. }) => assert_eq!(at, position, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }
}

//! Segment file names: the base offset as 20 zero-padded digits, a suffix
//! naming the file's role, and optionally a temporary suffix after it
//! (`00000000000000000042.log.deleted`).

/// The role of a file in a partition directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FileKind {
    Log,
    Index,
    TimeIndex,
    TxnIndex,
    Snapshot,
}

impl FileKind {
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            FileKind::Log => ".log",
            FileKind::Index => ".index",
            FileKind::TimeIndex => ".timeindex",
            FileKind::TxnIndex => ".txnindex",
            FileKind::Snapshot => ".snapshot",
        }
    }

    const ALL: [FileKind; 5] = [
        FileKind::Log,
        FileKind::Index,
        FileKind::TimeIndex,
        FileKind::TxnIndex,
        FileKind::Snapshot,
    ];
}

/// A temporary state appended after the role suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TempSuffix {
    /// Scheduled for deletion.
    Deleted,
    /// Being built by the cleaner (or a split).
    Cleaned,
    /// Finished replacement about to be swapped in.
    Swap,
}

impl TempSuffix {
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            TempSuffix::Deleted => ".deleted",
            TempSuffix::Cleaned => ".cleaned",
            TempSuffix::Swap => ".swap",
        }
    }
}

/// A parsed segment file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SegmentFileName {
    pub(crate) base_offset: u64,
    pub(crate) kind: FileKind,
    pub(crate) temp: Option<TempSuffix>,
}

/// `00000000000000000042.log` and friends.
pub(crate) fn file_name(base_offset: u64, kind: FileKind) -> String {
    format!("{base_offset:020}{}", kind.suffix())
}

/// Parses a segment file name; `None` for anything else.
pub(crate) fn parse(name: &str) -> Option<SegmentFileName> {
    let dot = name.find('.')?;
    let (digits, rest) = name.split_at(dot);
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let base_offset: u64 = digits.parse().ok()?;
    if base_offset > i64::MAX as u64 {
        return None;
    }
    for kind in FileKind::ALL {
        if let Some(after) = rest.strip_prefix(kind.suffix()) {
            let temp = match after {
                "" => None,
                ".deleted" => Some(TempSuffix::Deleted),
                ".cleaned" => Some(TempSuffix::Cleaned),
                ".swap" => Some(TempSuffix::Swap),
                _ => return None,
            };
            return Some(SegmentFileName {
                base_offset,
                kind,
                temp,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(file_name(0, FileKind::Log), "00000000000000000000.log");
        assert_eq!(
            file_name(42, FileKind::TimeIndex),
            "00000000000000000042.timeindex"
        );
        let p = parse("00000000000000000042.index").unwrap();
        assert_eq!((p.base_offset, p.kind, p.temp), (42, FileKind::Index, None));
        let p = parse("00000000000000000042.log.deleted").unwrap();
        assert_eq!(p.temp, Some(TempSuffix::Deleted));
        let p = parse("00000000000000000007.timeindex.swap").unwrap();
        assert_eq!(
            (p.kind, p.temp),
            (FileKind::TimeIndex, Some(TempSuffix::Swap))
        );
    }

    #[test]
    fn other_files_are_not_segments() {
        for name in [
            "leader-epoch-checkpoint",
            ".lock",
            "00000000000000000000.log.tmp",
            "abc.log",
            ".log",
            "99999999999999999999.log",
            "00000000000000000000.logx",
            "seglog.checkpoint",
        ] {
            assert_eq!(parse(name), None, "{name}");
        }
    }
}

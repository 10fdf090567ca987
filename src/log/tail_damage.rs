//! Where a read-only view of a log may end, and where it must report
//! damage instead.
//!
//! A reader walks the last segment while its writer may be appending to
//! it. The writer writes whole batches, in order, with positional writes;
//! a reader may see the file end inside the batch being written (fewer
//! bytes than a header, or a header declaring more bytes than remain), but
//! never a batch whose bytes are all there and yet not written. So the
//! only end a view may take quietly is an *incomplete* batch at the end of
//! the file, and only beyond what the writer had made durable: at or above
//! the recovery point in `seglog.checkpoint`, and, after a clean shutdown,
//! at or beyond the segment's size recorded in `seglog.clean-shutdown`.
//! Anything else is damage, reported as [`Error::Corrupt`] with the file
//! and byte position: a batch that cannot be one (bad CRC, bad magic, a
//! length below the minimum, offsets out of order), a batch cut short
//! below the durable point, or a segment whose data ends below it.
//!
//! A writer's truncation lowers the recovery point in the checkpoint
//! before it shortens the file. A reader that read the checkpoint before a
//! truncation and the file after it would take the cut for lost data, so
//! what the writer made durable is read once more before damage below it
//! is reported.

use std::path::Path;

use super::state::{self, PartitionState};
use crate::config::RecoveryMode;
use crate::error::{Error, Result};
use crate::io::Fs;
use crate::segment::RecoveredLog;

/// What a writer had made durable, as its files say.
#[derive(Debug, Clone, Copy)]
pub(super) struct Durable {
    /// Offsets below it were synced (`seglog.checkpoint`).
    pub(super) recovery_point: u64,
    /// Base offset and size of the active segment at the writer's clean
    /// shutdown (`seglog.clean-shutdown`), while the marker is there.
    pub(super) closed: Option<(u64, u64)>,
}

impl Durable {
    /// Reads both files of the directory `dir`; `fallback` stands in for a
    /// missing checkpoint, as at open.
    pub(super) fn read(
        fs: &dyn Fs,
        dir: &Path,
        mode: RecoveryMode,
        fallback: Option<PartitionState>,
    ) -> Result<Durable> {
        let saved = state::read_state(fs, dir, mode)?.or(fallback);
        Ok(Durable {
            recovery_point: saved.map_or(0, |s| s.recovery_point),
            closed: closed_segment(fs, dir)?,
        })
    }
}

/// Base offset and size of the active segment the clean-shutdown marker
/// records, if there is a readable marker.
pub(super) fn closed_segment(fs: &dyn Fs, dir: &Path) -> Result<Option<(u64, u64)>> {
    let marker = state::read_clean_marker(fs, dir)?;
    Ok(marker.parsed.map(|m| (m.active_base_offset, m.active_size)))
}

/// Checks where the walk `rec` of the last segment (based at `base`, its
/// `.log` at `path`) ended, against `durable` as read before the walk.
/// Damage is confirmed against `reread()` (what the writer has made
/// durable by now) before it is reported.
///
/// # Errors
/// [`Error::Corrupt`] for damage; what `reread` returns.
pub(super) fn check(
    rec: &RecoveredLog,
    base: u64,
    path: &Path,
    durable: &Durable,
    reread: impl FnOnce() -> Result<Durable>,
) -> Result<()> {
    if damage(rec, base, path, durable).is_none() {
        return Ok(());
    }
    match damage(rec, base, path, &reread()?) {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// The damage at the end of the walk `rec`, if it did not end at the end
/// of the file or before a batch its writer may still be completing.
fn damage(rec: &RecoveredLog, base: u64, path: &Path, durable: &Durable) -> Option<Error> {
    let end = rec.next_offset(base);
    let rp = durable.recovery_point;
    let below = (end < rp).then(|| {
        format!(
            "the log ends at offset {end}, below the recovery point {rp}: synced data is missing"
        )
    });
    let Some((position, reason)) = &rec.invalid else {
        return below.map(|why| Error::corrupt(path, rec.valid_bytes, why));
    };
    if !rec.incomplete {
        return Some(Error::corrupt(path, *position, reason.clone()));
    }
    if let Some(why) = below {
        return Some(Error::corrupt(path, *position, format!("{reason}; {why}")));
    }
    match durable.closed {
        Some((b, size)) if b == base && *position < size => Some(Error::corrupt(
            path,
            *position,
            format!(
                "{reason}, inside the {size} bytes the segment held at its writer's clean shutdown"
            ),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A walk that read offsets `base..end` in `valid` bytes, then stopped
    /// at an invalid batch there (`Some(incomplete)`) or at the end.
    fn walk(base: u64, end: u64, valid: u64, stop: Option<bool>) -> RecoveredLog {
        let mut rec = RecoveredLog::empty(4096);
        rec.valid_bytes = valid;
        rec.last_offset = (end > base).then(|| end - 1);
        if let Some(incomplete) = stop {
            rec.invalid = Some((valid, "what the walk found".to_string()));
            rec.incomplete = incomplete;
        }
        rec
    }

    fn durable(recovery_point: u64, closed: Option<(u64, u64)>) -> Durable {
        Durable {
            recovery_point,
            closed,
        }
    }

    fn position(e: Option<Error>) -> Option<u64> {
        e.map(|e| match e {
            Error::Corrupt { position, .. } => position,
            other => panic!("{other}"),
        })
    }

    #[test]
    fn only_an_incomplete_batch_beyond_what_was_durable_ends_a_view_quietly() {
        let p = Path::new("/l/00000000000000000010.log");
        let at = |rec: &RecoveredLog, d: &Durable| position(damage(rec, 10, p, d));
        // The end of the file, at or above the recovery point.
        assert_eq!(at(&walk(10, 20, 500, None), &durable(20, None)), None);
        assert_eq!(at(&walk(10, 20, 500, None), &durable(5, None)), None);
        // ... below it: data is missing.
        assert_eq!(at(&walk(10, 20, 500, None), &durable(21, None)), Some(500));
        // An incomplete batch at or above the recovery point, and beyond
        // the size at a clean shutdown (of this segment).
        let incomplete = walk(10, 20, 500, Some(true));
        assert_eq!(at(&incomplete, &durable(20, None)), None);
        assert_eq!(at(&incomplete, &durable(20, Some((10, 500)))), None);
        assert_eq!(at(&incomplete, &durable(20, Some((0, 900)))), None);
        // ... below either.
        assert_eq!(at(&incomplete, &durable(21, None)), Some(500));
        assert_eq!(at(&incomplete, &durable(0, Some((10, 501)))), Some(500));
        // Bytes that cannot be a batch, wherever they are.
        assert_eq!(
            at(&walk(10, 20, 500, Some(false)), &durable(0, None)),
            Some(500)
        );
        assert_eq!(
            at(&walk(10, 10, 0, Some(false)), &durable(0, None)),
            Some(0)
        );
    }

    #[test]
    fn damage_is_reported_only_if_what_was_durable_still_says_so() {
        let p = Path::new("/l/00000000000000000000.log");
        let rec = walk(0, 5, 300, None);
        // A truncation lowered the recovery point after it was first read.
        let lowered = check(&rec, 0, p, &durable(10, None), || Ok(durable(0, None)));
        assert!(matches!(lowered, Ok(())));
        let still = check(&rec, 0, p, &durable(10, None), || Ok(durable(10, None)));
        assert!(matches!(still, Err(Error::Corrupt { position: 300, .. })));
        // Nothing is read again when nothing is wrong.
        let fine = check(&rec, 0, p, &durable(5, None), || panic!("read again"));
        assert!(matches!(fine, Ok(())));
    }
}

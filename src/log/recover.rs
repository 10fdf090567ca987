//! Recovery after a crash: re-reading the segments a crash may have left
//! torn, deciding what is damage and what may be cut, and cutting it.

use std::io;
use std::sync::Arc;

use super::load::{delete_segment_files, Listing, Loaded};
use super::state::SavedState;
use super::{CheckpointField, CheckpointMismatch, RecoveryReport, Truncation};
use crate::config::RecoveryMode;
use crate::error::{Error, Result};
use crate::io::{self as fsio, FileHandle, IoContext, OpenMode};
use crate::segment::{
    missing_records_reason, recover_log, ActiveSegment, FileKind, IndexFiles, RecoveredLog,
    ResumeState, Segment, SegmentContext,
};

/// One damaged spot found by recovery.
struct Damage {
    /// Index (in the sorted list) of the segment it is in.
    index: usize,
    position: u64,
    reason: String,
    /// Whether the data there had been synced (so strict mode refuses).
    synced: bool,
    /// Whether the whole segment must go (it overlaps its predecessor).
    whole_segment: bool,
}

/// After a crash: re-read the segments from the one holding the recovery
/// point (or the log start, if higher), cut off a torn tail, rebuild their
/// indexes, and report the unusable segments of `listing` below them.
pub(super) fn recover(
    ctx: &Arc<SegmentContext>,
    listing: Listing<'_>,
    saved: Option<&SavedState>,
    mode: RecoveryMode,
    now: i64,
    report: &mut RecoveryReport,
    before_change: &mut dyn FnMut() -> Result<()>,
) -> Result<Loaded> {
    let fs = &*ctx.fs;
    let bases: Vec<(u64, u64)> = listing.logs.iter().map(|(b, s)| (*b, *s)).collect();
    let recovery_point = saved.map_or(0, |s| s.state.recovery_point);
    let log_start = saved.map_or(0, |s| s.state.log_start_offset);
    let holding = |offset: u64| bases.iter().rposition(|(b, _)| *b <= offset).unwrap_or(0);
    // Segments wholly below the log start hold no readable record: damage
    // in them (a deletion a crash interrupted) is no reason to cut what
    // follows, and the open deletes them. So the re-reading starts at the
    // segment holding the recovery point or the log start, the higher.
    let mut from = holding(recovery_point.max(log_start));
    // Only seglog's own logs (with their own checkpoint) are held to
    // segments that follow on without a gap; see `scan_segments`.
    let check_gaps = saved.is_some_and(|s| s.is_own(&ctx.dir));
    let mut scan = scan_segments(ctx, &bases, from, saved, check_gaps)?;
    // Checkpointed offsets beyond the end of the data cannot be trusted to
    // say which segments need no re-reading: a log start beyond it, which
    // segments are below the start; a recovery point beyond it, what was
    // synced. Then every segment from the recovery point, or from the
    // first, is re-read (and fsynced) instead.
    if scan.end < log_start && from > holding(recovery_point) {
        from = holding(recovery_point);
        scan = scan_segments(ctx, &bases, from, saved, check_gaps)?;
    }
    if scan.recovery_point_beyond.is_some() && from > 0 {
        from = 0;
        scan = scan_segments(ctx, &bases, from, saved, false)?;
    }
    report.segments_recovered = scan.recovered.len();
    // Segments below the ones re-read are opened lazily; those the
    // listing shows cannot hold their records are reported (reads of them
    // fail).
    let reread_from = bases.get(from).map_or(0, |(b, _)| *b);
    report.damaged_segments = listing
        .unusable
        .into_iter()
        .filter(|(b, _)| *b < reread_from)
        .map(|(_, d)| d)
        .collect();
    report
        .checkpoint_mismatches
        .extend(scan.recovery_point_beyond.take());
    let Scan {
        mut recovered,
        damage,
        ..
    } = scan;

    if let Some(d) = damage
        .as_ref()
        .filter(|d| d.synced && mode == RecoveryMode::Strict)
    {
        let path = ctx.path(bases[d.index].0, FileKind::Log);
        return Err(Error::corrupt(
            &path,
            d.position,
            format!(
                "{} (this data was synced, so strict recovery keeps it; open with RecoveryMode::TruncateCorrupt to discard it and everything after it)",
                d.reason
            ),
        ));
    }
    // Everything from here on changes the directory.
    before_change()?;
    let mut keep = bases.len();
    if let Some(d) = damage {
        let (base, _) = bases[d.index];
        let path = ctx.path(base, FileKind::Log);
        keep = if d.whole_segment {
            d.index
        } else {
            d.index + 1
        };
        for &(b, _) in &bases[keep..] {
            delete_segment_files(ctx, b)?;
            report.segments_deleted += 1;
        }
        if d.whole_segment {
            report.truncated = Some(Truncation {
                path,
                position: 0,
                bytes_removed: bases[d.index].1,
                reason: d.reason,
            });
        } else if let Some((file, rec)) = recovered.last() {
            file.set_len(rec.valid_bytes).ctx("truncate", &path)?;
            file.sync_data().ctx("fsync", &path)?;
            report.truncated = Some(Truncation {
                path,
                position: rec.valid_bytes,
                bytes_removed: bases[d.index].1 - rec.valid_bytes,
                reason: d.reason,
            });
        }
    }
    if keep == 0 {
        return Ok(Loaded {
            closed: Vec::new(),
            active: ActiveSegment::create(ctx, saved.map_or(0, |s| s.state.log_start_offset), now)?,
            epochs: Vec::new(),
        });
    }
    // An overlap is only found against a segment re-read here, so the new
    // last segment is always one of the re-read ones.
    let last = keep - 1;
    recovered.truncate(last + 1 - from);
    let mut closed: Vec<Arc<Segment>> = bases[..from]
        .iter()
        .map(|&(b, s)| Arc::new(Segment::closed(ctx.clone(), b, s)))
        .collect();
    let mut active = None;
    let mut epochs = Vec::new();
    for (k, (file, mut rec)) in recovered.into_iter().enumerate() {
        let base = bases[from + k].0;
        epochs.append(&mut rec.epochs);
        let path = ctx.path(base, FileKind::Log);
        // What recovery read may only be in the page cache (the process
        // died, the machine did not): make it durable before trusting it.
        file.sync_data().ctx("fsync", &path)?;
        if from + k < last {
            rec.add_final_time_entry(base);
            fsio::write_file_atomically(fs, &ctx.path(base, FileKind::Index), &rec.offsets)?;
            fsio::write_file_atomically(fs, &ctx.path(base, FileKind::TimeIndex), &rec.times)?;
            closed.push(Arc::new(Segment::recovered(ctx.clone(), base, rec)));
        } else {
            let segment = Arc::new(Segment::closed(ctx.clone(), base, rec.valid_bytes));
            let resume = ResumeState {
                max: rec.max_timestamp,
                next_offset: rec.next_offset(base),
                first_batch_timestamp: rec.first_batch_timestamp,
            };
            active = Some(ActiveSegment::resume(
                segment,
                rec.valid_bytes,
                rec.offsets,
                rec.times,
                IndexFiles::Rewrite,
                now,
                Some(resume),
            )?);
        }
    }
    let active =
        active.ok_or_else(|| Error::corrupt(&ctx.dir, 0, "recovery found no active segment"))?;
    Ok(Loaded {
        closed,
        active,
        epochs,
    })
}

/// What re-reading the segments from one on found: each one read (up to
/// and including the first damaged one), the damage, the offset after the
/// last valid batch, and a recovery point beyond it.
struct Scan {
    recovered: Vec<(Arc<dyn FileHandle>, RecoveredLog)>,
    damage: Option<Damage>,
    end: u64,
    recovery_point_beyond: Option<CheckpointMismatch>,
}

/// Re-reads `bases[from..]` (base offset, size), checking every batch and
/// where each segment's data ends, changing nothing.
fn scan_segments(
    ctx: &SegmentContext,
    bases: &[(u64, u64)],
    from: usize,
    saved: Option<&SavedState>,
    check_gaps: bool,
) -> Result<Scan> {
    let fs = &*ctx.fs;
    let recovery_point = saved.map_or(0, |s| s.state.recovery_point);
    let mut recovered: Vec<(Arc<dyn FileHandle>, RecoveredLog)> = Vec::new();
    let mut recovery_point_beyond = None;
    let mut end_offset = bases.get(from).map_or(0, |(b, _)| *b);
    let mut damage: Option<Damage> = None;
    let mut prev_last: Option<u64> = None;
    for (i, &(base, size)) in bases.iter().enumerate().skip(from) {
        let path = ctx.path(base, FileKind::Log);
        if let Some(prev) = prev_last.filter(|p| base <= *p) {
            damage = Some(Damage {
                index: i,
                position: 0,
                reason: format!("segment base offset {base} is not above the last offset {prev} of the previous segment"),
                synced: base < recovery_point,
                whole_segment: true,
            });
            break;
        }
        let file = match fs.open(&path, OpenMode::Write) {
            Ok(f) => f,
            // Not something recovery may remove: the operator decides.
            Err(e) if e.kind() == io::ErrorKind::IsADirectory => {
                return Err(Error::corrupt(
                    &path,
                    0,
                    format!(
                        "{} (move it away to open the log without them)",
                        missing_records_reason(true)
                    ),
                ))
            }
            Err(e) => return Err(Error::io("open", &path, e)),
        };
        let rec = recover_log(&*file, &path, base, size, ctx.index_interval_bytes)?;
        if let Some((position, reason)) = rec.invalid.clone() {
            damage = Some(Damage {
                index: i,
                position,
                reason,
                // Valid data ends before the recovery point: the damage is
                // in bytes that had been fsynced.
                synced: rec.next_offset(base) < recovery_point,
                whole_segment: false,
            });
            end_offset = rec.next_offset(base);
            recovered.push((file, rec));
            break;
        }
        // Where this segment's data ends must be where the next one starts;
        // anything else means data went missing: torn beyond the recovery
        // point (cut there, so what is left is a prefix without holes), lost
        // below it.
        let end = rec.next_offset(base);
        end_offset = end;
        let missing = match bases.get(i + 1) {
            // Only seglog's own logs are held to this (`check_gaps`: the
            // partition's own checkpoint was read): Kafka's may have gaps
            // between segments (compaction, follower rolls) above the
            // recovery point in its root checkpoint file, which Kafka
            // writes only now and then; a directory without a checkpoint
            // has never been opened here; and seglog's own gaps (a
            // follower's roll above its end; a compaction, which rewrites
            // and fsyncs segments and must then move the recovery point
            // past them) lie below the recovery point, re-read only when
            // the checkpoint proved untrustworthy.
            Some(&(next, _)) if end < next && check_gaps => Some(format!(
                "segment ends at offset {end} but the next segment starts at {next}: the data in between is missing"
            )),
            _ => None,
        };
        if let Some(saved) = saved.filter(|_| i + 1 == bases.len() && end < recovery_point) {
            // The last segment's data, whole and valid, ends below the
            // recovery point: the checkpoint is beyond the log end. As
            // Kafka does (`min(recoveryPoint, logEndOffset)`), the recovery
            // point is reset to the end; the mismatch is reported.
            recovery_point_beyond = Some(CheckpointMismatch {
                path: saved.recovery_point_file.clone(),
                field: CheckpointField::RecoveryPoint,
                value: recovery_point,
                log_end_offset: end,
                used: end,
            });
        }
        if let Some(reason) = missing {
            damage = Some(Damage {
                index: i,
                position: rec.valid_bytes,
                reason,
                synced: end < recovery_point,
                whole_segment: false,
            });
            recovered.push((file, rec));
            break;
        }
        prev_last = rec.last_offset.or(prev_last);
        recovered.push((file, rec));
    }
    Ok(Scan {
        recovered,
        damage,
        end: end_offset,
        recovery_point_beyond,
    })
}

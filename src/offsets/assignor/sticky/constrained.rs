//! The sticky assignment when every member subscribes to the same topics
//! (Kafka's `ConstrainedAssignmentBuilder`, without racks).
//!
//! With `P` partitions and `M` members each member ends with `min = ⌊P/M⌋`
//! or `max = ⌈P/M⌉` partitions, exactly `P mod M` of them with `max`.
//!
//! 1. Each member, in member-id order, keeps its owned partitions (those
//!    not contested), sorted by partition number and then topic: all of
//!    them if fewer than `min` (the member stays unfilled); `max` of them
//!    if it has that many and members with `max` are still wanted; `min`
//!    otherwise (and it may still grow to `max`). What it does not keep
//!    may be revoked.
//! 2. The remaining partitions, by topic and partition, go round the
//!    members under `min` in member-id order; once none is under `min`,
//!    they go one each to members at `min` that may still grow to `max`.
//!
//! A partition given to a member other than the one that kept a claim to
//! it, or one that was contested, is reported as transferring ownership.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use super::Problem;

/// Each member's partitions and the partitions changing owner (partition
/// id to receiving member).
pub(super) fn assign(
    problem: &Problem<'_>,
    owned: Vec<Vec<usize>>,
    contested: &BTreeSet<usize>,
) -> (Vec<Vec<usize>>, BTreeMap<usize, usize>) {
    let members = problem.members.len();
    let total = problem.partition_count();
    let mut assignment: Vec<Vec<usize>> = vec![Vec::new(); members];
    let mut transferring = BTreeMap::new();
    if members == 0 {
        return (assignment, transferring);
    }
    let min_quota = total / members;
    let max_quota = total.div_ceil(members);
    let expected_at_max = total % members;
    let mut at_max = 0;

    let mut assigned = vec![false; total];
    let mut maybe_revoked: HashMap<usize, usize> = HashMap::new();
    let mut under_min: Vec<usize> = Vec::new();
    let mut at_min: VecDeque<usize> = VecDeque::new();

    for (m, mut mine) in owned.into_iter().enumerate() {
        mine.retain(|pid| !contested.contains(pid));
        // By partition number, then topic (topic ids are in name order).
        mine.sort_by_key(|&pid| {
            (
                pid.saturating_sub(problem.partitions_of(problem.topic_of(pid)).start),
                pid,
            )
        });
        let keep = if mine.len() < min_quota {
            under_min.push(m);
            mine.len()
        } else if mine.len() >= max_quota && at_max < expected_at_max {
            at_max += 1;
            if at_max == expected_at_max {
                at_min.clear();
            }
            max_quota
        } else {
            if at_max < expected_at_max {
                at_min.push_back(m);
            }
            min_quota
        };
        for (i, pid) in mine.into_iter().enumerate() {
            if i < keep {
                if let Some(slot) = assigned.get_mut(pid) {
                    *slot = true;
                }
                if let Some(list) = assignment.get_mut(m) {
                    list.push(pid);
                }
            } else {
                maybe_revoked.insert(pid, m);
            }
        }
    }

    under_min.sort_unstable();
    at_min.make_contiguous().sort_unstable();
    let unassigned = (0..total).filter(|&pid| !assigned.get(pid).copied().unwrap_or(true));

    // Round-robin over the members under `min`, then one each to members at
    // `min` that may still reach `max`. `cursor` walks `under_min` the way
    // Kafka's iterator does, restarting at its head when it runs out.
    let mut cursor = 0;
    for pid in unassigned {
        let (member, from_cursor) = if let Some(&m) = under_min.get(cursor) {
            cursor += 1;
            (m, true)
        } else if let Some(&m) = under_min.first() {
            cursor = 1;
            (m, true)
        } else if let Some(m) = at_min.pop_front() {
            (m, false)
        } else {
            // The quotas leave no partition over; should one be, it goes
            // to a least loaded member rather than nowhere.
            let least = (0..members).min_by_key(|&m| assignment.get(m).map_or(0, Vec::len));
            (least.unwrap_or(0), false)
        };
        let Some(list) = assignment.get_mut(member) else {
            continue;
        };
        list.push(pid);
        let count = list.len();
        let moved = maybe_revoked.get(&pid).is_some_and(|&from| from != member);
        if moved || contested.contains(&pid) {
            transferring.insert(pid, member);
        }
        if count == min_quota {
            if from_cursor && cursor > 0 {
                cursor -= 1;
                under_min.remove(cursor);
            }
            at_min.push_back(member);
        }
    }
    (assignment, transferring)
}

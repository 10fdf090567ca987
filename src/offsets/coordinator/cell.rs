//! How a request reaches a group: the group's lock and the condition its
//! blocked requests wait on, looking the group up (or creating it),
//! running its due timers, making the writes it decided outside its lock,
//! and blocking until a parked request's answer is there.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, GroupErrorKind, Result};
use crate::segment::lock;

use super::group::{Group, Tickets, Write};
use super::requests::GroupState;
use super::GroupCoordinator;

/// The longest a blocked request sleeps before it looks at the clock
/// again.
const WAIT_SLICE: Duration = Duration::from_millis(20);

/// One group with its lock, and the condition its blocked requests wait on.
#[derive(Debug)]
pub(super) struct GroupCell {
    pub(super) group: Mutex<Group>,
    pub(super) changed: Condvar,
}

impl GroupCell {
    pub(super) fn new(group: Group) -> Arc<Self> {
        Arc::new(GroupCell {
            group: Mutex::new(group),
            changed: Condvar::new(),
        })
    }
}

impl GroupCoordinator {
    pub(super) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    pub(super) fn cells(&self) -> Vec<(String, Arc<GroupCell>)> {
        lock(&self.groups)
            .iter()
            .map(|(id, cell)| (id.clone(), cell.clone()))
            .collect()
    }

    /// Runs `f` on the group (created if `create` and missing) under its
    /// lock, after its due timers. `None` if there is no such group.
    pub(super) fn with_live_group<R>(
        &self,
        group_id: &str,
        create: bool,
        f: impl for<'a> FnOnce(&'a GroupCell, MutexGuard<'a, Group>) -> R,
    ) -> Option<R> {
        loop {
            let cell = {
                let mut groups = lock(&self.groups);
                match groups.get(group_id) {
                    Some(cell) => cell.clone(),
                    None if create => {
                        let group = Group::new(group_id, self.config, self.clock.now_ms());
                        let cell = GroupCell::new(group);
                        groups.insert(group_id.to_string(), cell.clone());
                        cell
                    }
                    None => return None,
                }
            };
            let mut group = lock(&cell.group);
            // Deleted or replaced since it was looked up: look again.
            if group.state == GroupState::Dead {
                continue;
            }
            if !self.closed.load(Ordering::Acquire) {
                group.run_timers(self.clock.now_ms());
            }
            return Some(f(&cell, group));
        }
    }

    /// Reads the group (after its due timers, whose writes are made).
    pub(super) fn read_group<R>(&self, group_id: &str, f: impl FnOnce(&Group) -> R) -> Option<R> {
        self.with_live_group(group_id, false, |cell, group| {
            let (group, _) = self.settle(cell, group);
            f(&group)
        })
    }

    /// Makes the writes the group has decided, outside its lock, and hands
    /// the outcome of an assignment's write back to the group; wakes the
    /// group's blocked requests. Returns the lock again, with the first
    /// error of a best-effort write.
    pub(super) fn settle<'a>(
        &self,
        cell: &'a GroupCell,
        mut group: MutexGuard<'a, Group>,
    ) -> (MutexGuard<'a, Group>, Option<Error>) {
        let mut first_error = None;
        loop {
            let writes = std::mem::take(&mut group.writes);
            if writes.is_empty() {
                break;
            }
            let id = group.id.clone();
            let reserved: Vec<_> = writes
                .into_iter()
                .map(|write| (self.gate.reserve(&id), write))
                .collect();
            drop(group);
            let outcomes: Vec<(Write, Result<()>)> = reserved
                .into_iter()
                .map(|(reservation, write)| {
                    let outcome = self.gate.write(reservation, |id| {
                        self.check_open()?;
                        self.storage.store_group(id, write.value())
                    });
                    (write, outcome)
                })
                .collect();
            group = lock(&cell.group);
            for (write, outcome) in outcomes {
                match write {
                    Write::Empty(_) => {
                        if let Err(error) = outcome {
                            first_error.get_or_insert(error);
                        }
                    }
                    Write::Assignment {
                        generation,
                        assignments,
                        ..
                    } => {
                        let now = self.clock.now_ms();
                        group.run_timers(now);
                        group.assignment_stored(generation, assignments, outcome, now);
                    }
                }
            }
        }
        cell.changed.notify_all();
        if std::mem::take(&mut group.rebalance_started) {
            if let Some(listener) = self.rebalance_listener.get() {
                listener();
            }
        }
        (group, first_error)
    }

    /// [`settle`](Self::settle), then lets go of the group.
    pub(super) fn finish(&self, cell: &GroupCell, group: MutexGuard<'_, Group>) -> Option<Error> {
        self.settle(cell, group).1
    }

    /// Blocks until the parked request's answer is there (taken by
    /// `take`), the coordinator shuts down, or `deadline` passes
    /// (`Ok(None)`). Runs the group's due timers at every wake-up.
    pub(super) fn wait<'a, T>(
        &self,
        cell: &'a GroupCell,
        mut group: MutexGuard<'a, Group>,
        ticket: u64,
        deadline: Option<Instant>,
        take: fn(&mut Tickets, u64) -> Option<Result<T>>,
    ) -> Result<Option<T>> {
        loop {
            // Timers first: the request that parked may have started one
            // that is due already (an initial delay of zero).
            if group.state != GroupState::Dead
                && !self.closed.load(Ordering::Acquire)
                && group.run_timers(self.clock.now_ms())
            {
                group = self.settle(cell, group).0;
            }
            if let Some(answer) = take(&mut group.tickets, ticket) {
                return answer.map(Some);
            }
            if group.state == GroupState::Dead {
                group.tickets.abandon(ticket);
                return Err(group.err(GroupErrorKind::UnknownMemberId));
            }
            if self.closed.load(Ordering::Acquire) {
                group.tickets.abandon(ticket);
                return Err(Error::Closed);
            }
            let mut sleep = WAIT_SLICE;
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    group.tickets.abandon(ticket);
                    return Ok(None);
                }
                sleep = sleep.min(left);
            }
            if let Some(next) = group.next_deadline() {
                let ms = next.saturating_sub(self.clock.now_ms()).max(1);
                sleep = sleep.min(Duration::from_millis(u64::try_from(ms).unwrap_or(1)));
            }
            group = match cell.changed.wait_timeout(group, sleep) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

/// `timeout` from now, saturating far in the future.
pub(super) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(60 * 60 * 24 * 365))
}

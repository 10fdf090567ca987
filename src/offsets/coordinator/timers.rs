//! A group's timers, run lazily: the end of the join phase (and of the
//! initial delay), the end of the sync phase, and each member's session.
//!
//! Nothing runs in the background. Every request to a group, every
//! waiting thread's wake-up and the coordinator's `expire_members` sweep
//! first run the group's timers that are due by the clock, one at a time in
//! the order of their deadlines, each as of its own deadline, so the
//! outcome does not depend on how often or how late they are run.

use super::group::{Group, JoinTimerKind};
use super::requests::GroupState;

/// The most timers one run handles, so that a clock that jumped far ahead
/// does not hold the group's lock for long; the next run goes on.
const MAX_EVENTS_PER_RUN: usize = 10_000;

/// A timer that is due, with its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Due {
    /// A member's session ended.
    Session(String),
    /// A member id handed out with MEMBER_ID_REQUIRED was not used in time.
    Pending(String),
    Join,
    Sync,
}

impl Group {
    /// Runs every timer due by `now`; whether any was.
    pub(super) fn run_timers(&mut self, now: i64) -> bool {
        let mut fired = false;
        for _ in 0..MAX_EVENTS_PER_RUN {
            let Some((at, due)) = self.next_due(now) else {
                break;
            };
            self.fire(due, at);
            fired = true;
        }
        fired
    }

    /// The earliest deadline of a timer that can fire, due or not.
    pub(super) fn next_deadline(&self) -> Option<i64> {
        self.next_due(i64::MAX).map(|(at, _)| at)
    }

    /// The earliest timer due by `now`. At equal deadlines, sessions end
    /// before the phase timers fire.
    fn next_due(&self, now: i64) -> Option<(i64, Due)> {
        let sessions = self
            .members
            .values()
            .filter_map(|m| m.expiry().map(|at| (at, Due::Session(m.id.clone()))));
        let pending = self
            .pending_join
            .iter()
            .map(|(id, &at)| (at, Due::Pending(id.clone())));
        let join = self.join_timer.map(|t| (t.deadline, Due::Join));
        let sync = self.sync_timer.map(|t| (t.deadline, Due::Sync));
        sessions
            .chain(pending)
            .chain(join)
            .chain(sync)
            .filter(|(at, _)| *at <= now)
            .min_by_key(|(at, due)| (*at, matches!(due, Due::Join | Due::Sync)))
    }

    fn fire(&mut self, due: Due, at: i64) {
        match due {
            Due::Session(member_id) => self.expire_member(&member_id, at),
            Due::Pending(member_id) => {
                self.remove(&member_id);
                if self.state == GroupState::PreparingRebalance && self.all_members_joined() {
                    self.complete_join(at);
                }
            }
            Due::Join => self.fire_join_timer(at),
            Due::Sync => self.fire_sync_timer(at),
        }
    }

    /// A member's session ended: it is out, and the group rebalances (or
    /// completes the rebalance it was waiting on the member for).
    fn expire_member(&mut self, member_id: &str, at: i64) {
        self.remove(member_id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance_or_complete_join(at)
            }
            GroupState::PreparingRebalance if self.all_members_joined() => self.complete_join(at),
            _ => {}
        }
    }

    fn fire_join_timer(&mut self, at: i64) {
        let Some(timer) = self.join_timer.take() else {
            return;
        };
        match timer.kind {
            JoinTimerKind::Rebalance => self.complete_join(at),
            JoinTimerKind::Initial { delay, remaining } => {
                if self.new_member_added && remaining != 0 {
                    // More members came during the delay: wait as long
                    // again for more, within the rebalance timeout.
                    self.new_member_added = false;
                    let configured = i64::from(self.config.group_initial_rebalance_delay_ms);
                    let next_delay = configured.min(remaining);
                    self.join_timer = Some(super::group::JoinTimer {
                        deadline: at.saturating_add(next_delay),
                        kind: JoinTimerKind::Initial {
                            delay: next_delay,
                            remaining: (remaining - delay).max(0),
                        },
                    });
                } else {
                    self.complete_join(at);
                }
            }
        }
    }

    /// Members of the generation that have not asked for their assignment
    /// by the end of the rebalance timeout are out, and the group
    /// rebalances without them.
    fn fire_sync_timer(&mut self, at: i64) {
        let Some(timer) = self.sync_timer.take() else {
            return;
        };
        if timer.generation != self.generation
            || !matches!(
                self.state,
                GroupState::CompletingRebalance | GroupState::Stable
            )
            || self.pending_sync.is_empty()
        {
            return;
        }
        let late: Vec<String> = self.pending_sync.iter().cloned().collect();
        for member_id in &late {
            self.remove(member_id);
        }
        self.prepare_rebalance(at);
    }
}

//! The simulated controller: it owns the partition's leader, leader epoch
//! and committed ISR, accepts a leader's ISR changes only as Kafka's
//! AlterPartition does (KIP-497), and elects leaders only from the ISR.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use seglog::replication::{IsrChange, IsrListener, ReplicaId};

use super::rng::Rng;

#[derive(Debug, Clone)]
pub struct ControllerState {
    pub replicas: Vec<ReplicaId>,
    /// The elected leader; `None` while the partition is offline.
    pub leader: Option<ReplicaId>,
    /// Bumped by every election, even one that finds no leader.
    pub epoch: i32,
    /// The committed ISR, sorted.
    pub isr: Vec<ReplicaId>,
    /// Replicas whose process is up (registered brokers): an ISR
    /// expansion may add only these (KIP-841).
    pub alive: BTreeSet<ReplicaId>,
    /// What happened, for the step log.
    pub events: Vec<String>,
    pub accepted: u64,
    pub rejected: u64,
}

/// The controller, shared with every replica's [`IsrListener`].
#[derive(Clone)]
pub struct Controller {
    state: Arc<Mutex<ControllerState>>,
}

fn sorted(ids: &[ReplicaId]) -> Vec<ReplicaId> {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

impl Controller {
    /// A partition on `replicas`, all in the ISR, with no leader yet.
    pub fn new(replicas: Vec<ReplicaId>) -> Self {
        Controller {
            state: Arc::new(Mutex::new(ControllerState {
                isr: sorted(&replicas),
                alive: replicas.iter().copied().collect(),
                replicas,
                leader: None,
                epoch: 0,
                events: Vec::new(),
                accepted: 0,
                rejected: 0,
            })),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, ControllerState> {
        self.state.lock().unwrap()
    }

    pub fn snapshot(&self) -> ControllerState {
        self.state().clone()
    }

    pub fn listener(&self) -> Arc<dyn IsrListener> {
        Arc::new(self.clone())
    }

    /// Elects a leader from the ISR members `eligible` says may lead (up
    /// and reachable), at a new epoch; the ISR becomes those members (the
    /// others are fenced out, as Kafka's controller does). No eligible
    /// member: the partition goes offline, at a new epoch too, and waits
    /// for one. Never an unclean election. Returns the new leader.
    pub fn elect(&self, rng: &mut Rng, eligible: impl Fn(ReplicaId) -> bool) -> Option<ReplicaId> {
        let mut st = self.state();
        let candidates: Vec<ReplicaId> = st.isr.iter().copied().filter(|&r| eligible(r)).collect();
        st.epoch += 1;
        if candidates.is_empty() {
            let (epoch, isr) = (st.epoch, st.isr.clone());
            st.leader = None;
            st.events
                .push(format!("controller: offline at epoch {epoch}, isr {isr:?}"));
            return None;
        }
        let leader = candidates[rng.index(candidates.len())];
        st.leader = Some(leader);
        st.isr = candidates;
        let (epoch, isr) = (st.epoch, st.isr.clone());
        st.events.push(format!(
            "controller: elected {leader} at epoch {epoch}, isr {isr:?}"
        ));
        Some(leader)
    }

    pub fn take_events(&self) -> Vec<String> {
        std::mem::take(&mut self.state().events)
    }
}

impl IsrListener for Controller {
    fn alter_isr(&self, change: &IsrChange) -> bool {
        let mut st = self.state.lock().unwrap();
        let wanted = sorted(&change.isr);
        let why_not = if st.leader != Some(change.leader) {
            Some("not the leader")
        } else if change.leader_epoch != st.epoch {
            Some("stale leader epoch")
        } else if sorted(&change.previous) != st.isr {
            Some("stale ISR")
        } else if !wanted.contains(&change.leader) {
            Some("leader not in ISR")
        } else if wanted
            .iter()
            .any(|r| !st.isr.contains(r) && !st.alive.contains(r))
        {
            Some("adds a replica that is down")
        } else if wanted.iter().any(|r| !st.replicas.contains(r)) {
            Some("unknown replica")
        } else {
            None
        };
        let verdict = match why_not {
            None => {
                st.isr = wanted;
                st.accepted += 1;
                "accepted".to_string()
            }
            Some(why) => {
                st.rejected += 1;
                format!("rejected ({why})")
            }
        };
        st.events.push(format!(
            "alter_isr from {} at epoch {}: {:?} -> {:?} {verdict}",
            change.leader, change.leader_epoch, change.previous, change.isr
        ));
        why_not.is_none()
    }
}

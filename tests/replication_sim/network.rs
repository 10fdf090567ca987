//! The simulated data path: fetch requests and responses, in their wire
//! form, in flight between replicas with random delay, loss, duplication
//! and reordering, over links a partition can cut.
//!
//! The controller is an endpoint too ([`CONTROLLER`]): its calls to a
//! replica are direct, but only while their link is up.

use std::collections::BTreeSet;

use seglog::replication::ReplicaId;

use super::rng::Rng;

/// The controller's end of a link.
pub const CONTROLLER: ReplicaId = -1;

/// What travels: a follower's fetch or a leader's answer, with the
/// follower's correlation id.
#[derive(Debug, Clone)]
pub enum Payload {
    Fetch { id: u64, bytes: Vec<u8> },
    Reply { id: u64, bytes: Vec<u8> },
}

#[derive(Debug, Clone)]
pub struct Message {
    pub from: ReplicaId,
    pub to: ReplicaId,
    /// The step it arrives at, at the earliest.
    pub deliver_at: u64,
    pub payload: Payload,
}

/// How lossy the network is, per seed.
#[derive(Debug, Clone, Copy)]
pub struct NetworkProfile {
    pub loss_permille: u64,
    pub duplicate_permille: u64,
    /// Messages arrive 0..=max_delay steps after they were sent.
    pub max_delay: u64,
}

impl NetworkProfile {
    pub fn random(rng: &mut Rng) -> Self {
        NetworkProfile {
            loss_permille: [0, 20, 100, 250][rng.index(4)],
            duplicate_permille: [0, 20, 100][rng.index(3)],
            max_delay: rng.between(0, 4),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct NetworkStats {
    pub sent: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub delivered: u64,
}

pub struct Network {
    profile: NetworkProfile,
    queue: Vec<Message>,
    /// Cut links, each as (lower id, higher id).
    cut: BTreeSet<(ReplicaId, ReplicaId)>,
    pub stats: NetworkStats,
}

fn link(a: ReplicaId, b: ReplicaId) -> (ReplicaId, ReplicaId) {
    (a.min(b), a.max(b))
}

impl Network {
    pub fn new(profile: NetworkProfile) -> Self {
        Network {
            profile,
            queue: Vec::new(),
            cut: BTreeSet::new(),
            stats: NetworkStats::default(),
        }
    }

    pub fn connected(&self, a: ReplicaId, b: ReplicaId) -> bool {
        a == b || !self.cut.contains(&link(a, b))
    }

    pub fn cut(&mut self, a: ReplicaId, b: ReplicaId) {
        if a != b {
            self.cut.insert(link(a, b));
        }
    }

    pub fn heal(&mut self, a: ReplicaId, b: ReplicaId) {
        self.cut.remove(&link(a, b));
    }

    pub fn heal_all(&mut self) {
        self.cut.clear();
    }

    pub fn cut_links(&self) -> Vec<(ReplicaId, ReplicaId)> {
        self.cut.iter().copied().collect()
    }

    /// Sends `payload`; it may be lost, duplicated or delayed, and a cut
    /// link drops it.
    pub fn send(
        &mut self,
        rng: &mut Rng,
        now: u64,
        from: ReplicaId,
        to: ReplicaId,
        payload: Payload,
    ) {
        self.stats.sent += 1;
        if !self.connected(from, to) || rng.chance(self.profile.loss_permille) {
            self.stats.lost += 1;
            return;
        }
        let copies = if rng.chance(self.profile.duplicate_permille) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let deliver_at = now + rng.between(0, self.profile.max_delay);
            self.queue.push(Message {
                from,
                to,
                deliver_at,
                payload: payload.clone(),
            });
        }
    }

    /// The messages due by `now`, in random order; those whose link is cut
    /// by now are dropped.
    pub fn due(&mut self, rng: &mut Rng, now: u64) -> Vec<Message> {
        let (mut due, rest): (Vec<_>, Vec<_>) =
            self.queue.drain(..).partition(|m| m.deliver_at <= now);
        self.queue = rest;
        // Fisher-Yates: arrival order is the scheduler's choice.
        for i in (1..due.len()).rev() {
            due.swap(i, rng.index(i + 1));
        }
        due.retain(|m| {
            let up = self.connected(m.from, m.to);
            if !up {
                self.stats.lost += 1;
            }
            up
        });
        self.stats.delivered += due.len() as u64;
        due
    }

    /// Forgets what is in flight to `node` (its process died: the
    /// connections it had are gone).
    pub fn drop_to(&mut self, node: ReplicaId) {
        self.queue.retain(|m| m.to != node);
    }
}

impl Network {
    /// No more loss or duplication from now on.
    pub fn set_reliable(&mut self) {
        self.profile.loss_permille = 0;
        self.profile.duplicate_permille = 0;
    }
}

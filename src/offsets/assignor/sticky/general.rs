//! The sticky assignment when members subscribe to different topics
//! (Kafka's `GeneralAssignmentBuilder`, without racks).
//!
//! 1. Owned partitions stay with their owner, unless it no longer
//!    subscribes to the topic (then a revocation is needed).
//! 2. Each unassigned partition, topics with the fewest potential members
//!    first, goes to the least loaded member subscribed to its topic.
//! 3. Partitions of topics only one member can take, and members that
//!    hold every partition they could and none another member could take,
//!    are set aside: nothing about them can change.
//! 4. Partitions move from a member to one holding at least two fewer —
//!    back to its owner of an older generation when that one qualifies,
//!    otherwise to the least loaded member that can take it — until the
//!    assignment is balanced or nothing moves. Newly assigned partitions
//!    are tried first unless a revocation is needed anyway. A move that
//!    would undo an earlier move of the same topic between the same two
//!    members moves that earlier partition back instead, which keeps
//!    partitions with their owners.
//! 5. Unless every member started empty, the moves are kept only if they
//!    improve the balance score (the sum of the count differences of all
//!    pairs of members).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Claim, Problem, DEFAULT_GENERATION};

/// Each member's partitions.
pub(super) fn assign(
    problem: &Problem<'_>,
    owned: Vec<Vec<usize>>,
    claims: &[Claim],
    max_generation: i32,
) -> Vec<Vec<usize>> {
    let mut builder = Builder::new(problem, owned);
    let previous = previous_owners(claims, max_generation);
    let unassigned = builder.keep_owned();
    builder.balance(&previous, unassigned);
    builder.current
}

/// For each partition, the member that owned it in the latest generation
/// older than the newest (Kafka's `prevAssignment`): members of an older
/// generation, or of none when some member has one.
fn previous_owners(claims: &[Claim], max_generation: i32) -> HashMap<usize, usize> {
    let mut previous: HashMap<usize, (usize, i32)> = HashMap::new();
    for (m, claim) in claims.iter().enumerate() {
        let generation = match claim.generation {
            Some(g) if g < max_generation => g,
            None if max_generation > DEFAULT_GENERATION => DEFAULT_GENERATION,
            _ => continue,
        };
        for &pid in &claim.partitions {
            match previous.get(&pid) {
                Some(&(_, g)) if generation <= g => {}
                _ => {
                    previous.insert(pid, (m, generation));
                }
            }
        }
    }
    previous.into_iter().map(|(pid, (m, _))| (pid, m)).collect()
}

struct Builder<'p, 'a> {
    problem: &'p Problem<'a>,
    /// Members subscribed to each topic, in member order.
    topic_members: Vec<Vec<usize>>,
    /// The current assignment, member by member.
    current: Vec<Vec<usize>>,
    /// The member each partition is assigned to.
    owner: Vec<Option<usize>>,
    /// Whether a member takes part in the balancing (step 3).
    active: Vec<bool>,
    /// Active members by (partition count, member).
    by_load: BTreeSet<(usize, usize)>,
    /// All partitions, topics with the fewest potential members first.
    sorted_partitions: Vec<usize>,
    revocation_required: bool,
    movements: Movements,
}

impl<'p, 'a> Builder<'p, 'a> {
    fn new(problem: &'p Problem<'a>, owned: Vec<Vec<usize>>) -> Self {
        let mut topic_members = vec![Vec::new(); problem.topics.len()];
        for (m, topics) in problem.member_topics.iter().enumerate() {
            for &t in topics {
                if let Some(list) = topic_members.get_mut(t) {
                    list.push(m);
                }
            }
        }
        let mut topics: Vec<usize> = (0..problem.topics.len()).collect();
        topics.sort_by_key(|&t| (topic_members.get(t).map_or(0, Vec::len), t));
        let sorted_partitions = topics
            .into_iter()
            .flat_map(|t| problem.partitions_of(t))
            .collect();
        let mut owner = vec![None; problem.partition_count()];
        for (m, pids) in owned.iter().enumerate() {
            for &pid in pids {
                if let Some(slot) = owner.get_mut(pid) {
                    *slot = Some(m);
                }
            }
        }
        let members = problem.members.len();
        Builder {
            problem,
            topic_members,
            current: owned,
            owner,
            active: vec![true; members],
            by_load: BTreeSet::new(),
            sorted_partitions,
            revocation_required: false,
            movements: Movements::default(),
        }
    }

    fn load(&self, m: usize) -> usize {
        self.current.get(m).map_or(0, Vec::len)
    }

    fn potential_members(&self, t: usize) -> &[usize] {
        self.topic_members.get(t).map_or(&[], Vec::as_slice)
    }

    /// Step 1: drops owned partitions of topics the owner no longer
    /// subscribes to; returns the partitions left to assign, in
    /// `sorted_partitions` order.
    fn keep_owned(&mut self) -> Vec<usize> {
        let problem = self.problem;
        for (m, pids) in self.current.iter_mut().enumerate() {
            let before = pids.len();
            pids.retain(|&pid| problem.subscribes(m, problem.topic_of(pid)));
            if pids.len() != before {
                self.revocation_required = true;
            }
        }
        let mut assigned = vec![false; problem.partition_count()];
        self.owner.iter_mut().for_each(|o| *o = None);
        for (m, pids) in self.current.iter().enumerate() {
            for &pid in pids {
                if let Some(slot) = assigned.get_mut(pid) {
                    *slot = true;
                }
                if let Some(slot) = self.owner.get_mut(pid) {
                    *slot = Some(m);
                }
            }
        }
        self.sorted_partitions
            .iter()
            .copied()
            .filter(|&pid| !assigned.get(pid).copied().unwrap_or(true))
            .collect()
    }

    fn balance(&mut self, previous: &HashMap<usize, usize>, mut unassigned: Vec<usize>) {
        self.by_load = (0..self.current.len()).map(|m| (self.load(m), m)).collect();
        let initializing = self.by_load.last().is_none_or(|&(load, _)| load == 0);

        // Step 2.
        for &pid in &unassigned {
            let t = self.problem.topic_of(pid);
            let target = self
                .by_load
                .iter()
                .map(|&(_, m)| m)
                .find(|&m| self.problem.subscribes(m, t));
            if let Some(m) = target {
                self.give(pid, m);
            }
        }

        // Step 3.
        let fixed_topic = |t: usize| self.potential_members(t).len() < 2;
        let movable: Vec<usize> = self
            .sorted_partitions
            .iter()
            .copied()
            .filter(|&pid| !fixed_topic(self.problem.topic_of(pid)))
            .collect();
        unassigned.retain(|&pid| !fixed_topic(self.problem.topic_of(pid)));
        self.sorted_partitions = movable;
        for m in 0..self.current.len() {
            if !self.can_take_part(m) {
                if let Some(a) = self.active.get_mut(m) {
                    *a = false;
                }
                self.by_load.remove(&(self.load(m), m));
            }
        }

        // Step 4.
        let before = (self.current.clone(), self.owner.clone());
        let before_score = self.balance_score();
        if !self.revocation_required {
            self.reassign(&unassigned, previous);
        }
        let all = std::mem::take(&mut self.sorted_partitions);
        let moved = self.reassign(&all, previous);

        // Step 5.
        if !initializing && moved && self.balance_score() >= before_score {
            (self.current, self.owner) = before;
        }
    }

    /// Assigns the unassigned partition `pid` to `m`.
    fn give(&mut self, pid: usize, m: usize) {
        self.by_load.remove(&(self.load(m), m));
        if let Some(list) = self.current.get_mut(m) {
            list.push(pid);
        }
        if let Some(slot) = self.owner.get_mut(pid) {
            *slot = Some(m);
        }
        self.by_load.insert((self.load(m), m));
    }

    /// The most partitions member `m` could hold.
    fn max_load(&self, m: usize) -> usize {
        let topics = self
            .problem
            .member_topics
            .get(m)
            .map_or(&[][..], Vec::as_slice);
        topics
            .iter()
            .map(|&t| self.problem.partitions_of(t).len())
            .sum()
    }

    /// Whether member `m`'s assignment could change: it lacks partitions
    /// it could hold, or holds one another member could take.
    fn can_take_part(&self, m: usize) -> bool {
        if self.load(m) < self.max_load(m) {
            return true;
        }
        self.current
            .get(m)
            .into_iter()
            .flatten()
            .any(|&pid| self.potential_members(self.problem.topic_of(pid)).len() >= 2)
    }

    fn is_active(&self, m: usize) -> bool {
        self.active.get(m).copied().unwrap_or(false)
    }

    /// Whether no partition can move to a member holding at least two
    /// fewer than its owner.
    fn is_balanced(&self) -> bool {
        let (Some(&(min, _)), Some(&(max, _))) = (self.by_load.first(), self.by_load.last()) else {
            return true;
        };
        if min + 1 >= max {
            return true;
        }
        for &(load, m) in &self.by_load {
            if load == self.max_load(m) {
                continue;
            }
            let topics = self
                .problem
                .member_topics
                .get(m)
                .map_or(&[][..], Vec::as_slice);
            for &t in topics {
                for pid in self.problem.partitions_of(t) {
                    let Some(other) = self.owner.get(pid).copied().flatten() else {
                        continue;
                    };
                    if other != m && self.is_active(other) && load + 1 < self.load(other) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// The sum over all pairs of active members of the difference of their
    /// partition counts.
    fn balance_score(&self) -> usize {
        let mut loads: Vec<usize> = (0..self.current.len())
            .filter(|&m| self.is_active(m))
            .map(|m| self.load(m))
            .collect();
        loads.sort_unstable();
        // Each load is subtracted by the larger ones after it and subtracts
        // the smaller ones before it.
        let n = loads.len();
        let (mut plus, mut minus) = (0usize, 0usize);
        for (i, load) in loads.into_iter().enumerate() {
            plus += load * i;
            minus += load * (n - 1 - i);
        }
        plus.saturating_sub(minus)
    }

    /// Step 4 over `partitions`, repeated while it moves something;
    /// returns whether anything moved.
    fn reassign(&mut self, partitions: &[usize], previous: &HashMap<usize, usize>) -> bool {
        let mut moved = false;
        loop {
            let mut modified = false;
            for &pid in partitions {
                if self.is_balanced() {
                    break;
                }
                let Some(owner) = self.owner.get(pid).copied().flatten() else {
                    continue;
                };
                let t = self.problem.topic_of(pid);
                let load = self.load(owner);
                if let Some(&prev) = previous.get(&pid) {
                    if prev != owner
                        && self.is_active(prev)
                        && self.problem.subscribes(prev, t)
                        && load > self.load(prev) + 1
                    {
                        self.move_towards(pid, prev);
                        moved = true;
                        modified = true;
                        continue;
                    }
                }
                let lighter = self
                    .potential_members(t)
                    .iter()
                    .any(|&other| self.is_active(other) && load > self.load(other) + 1);
                if lighter {
                    let target = self
                        .by_load
                        .iter()
                        .map(|&(_, m)| m)
                        .find(|&m| self.problem.subscribes(m, t));
                    if let Some(target) = target {
                        self.move_towards(pid, target);
                        moved = true;
                        modified = true;
                    }
                }
            }
            if !modified {
                return moved;
            }
        }
    }

    /// Moves `pid` (or the partition that undoes an earlier move between
    /// the same members) to `to`.
    fn move_towards(&mut self, pid: usize, to: usize) {
        let Some(from) = self.owner.get(pid).copied().flatten() else {
            return;
        };
        let t = self.problem.topic_of(pid);
        let pid = self.movements.partition_to_move(pid, t, from, to);
        let Some(from) = self.owner.get(pid).copied().flatten() else {
            return;
        };
        if from == to {
            return;
        }
        self.by_load.remove(&(self.load(from), from));
        self.by_load.remove(&(self.load(to), to));
        self.movements.record(pid, t, from, to);
        if let Some(list) = self.current.get_mut(from) {
            list.retain(|&p| p != pid);
        }
        if let Some(list) = self.current.get_mut(to) {
            list.push(pid);
        }
        if let Some(slot) = self.owner.get_mut(pid) {
            *slot = Some(to);
        }
        self.by_load.insert((self.load(to), to));
        self.by_load.insert((self.load(from), from));
    }
}

/// The net moves made while balancing (Kafka's `PartitionMovements`): for
/// each moved partition, where it came from and where it is now.
#[derive(Default)]
struct Movements {
    /// Partition id to (first source, current destination).
    moves: HashMap<usize, (usize, usize)>,
    /// Per topic, per (source, destination), the partitions so moved.
    by_topic: HashMap<usize, BTreeMap<(usize, usize), BTreeSet<usize>>>,
}

impl Movements {
    /// The partition to move from `from` to `to` in place of `pid`: one of
    /// the same topic that earlier moved from `to` to `from` (so moving it
    /// back undoes that move), else `pid`.
    fn partition_to_move(&self, pid: usize, topic: usize, from: usize, to: usize) -> usize {
        let Some(pairs) = self.by_topic.get(&topic) else {
            return pid;
        };
        let source = self.moves.get(&pid).map_or(from, |&(src, _)| src);
        pairs
            .get(&(to, source))
            .and_then(|set| set.first().copied())
            .unwrap_or(pid)
    }

    fn remove(&mut self, pid: usize, topic: usize) -> Option<(usize, usize)> {
        let pair = self.moves.remove(&pid)?;
        if let Some(pairs) = self.by_topic.get_mut(&topic) {
            if let Some(set) = pairs.get_mut(&pair) {
                set.remove(&pid);
                if set.is_empty() {
                    pairs.remove(&pair);
                }
            }
            if pairs.is_empty() {
                self.by_topic.remove(&topic);
            }
        }
        Some(pair)
    }

    fn add(&mut self, pid: usize, topic: usize, pair: (usize, usize)) {
        self.moves.insert(pid, pair);
        self.by_topic
            .entry(topic)
            .or_default()
            .entry(pair)
            .or_default()
            .insert(pid);
    }

    /// Records that `pid` moved from `from` to `to`, keeping only its net
    /// move from its first source.
    fn record(&mut self, pid: usize, topic: usize, from: usize, to: usize) {
        match self.remove(pid, topic) {
            Some((source, _)) if source == to => {}
            Some((source, _)) => self.add(pid, topic, (source, to)),
            None => self.add(pid, topic, (from, to)),
        }
    }
}

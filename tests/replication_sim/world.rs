//! One simulation run: the replicas, the network, the controller, a
//! producer and a consumer, driven step by step by one seeded generator.

use std::collections::VecDeque;

use seglog::replication::{Acks, PendingAppend, ReplicaId, ReplicationConfig, Role};
use seglog::{Error, ManualClock, Record};

use super::controller::Controller;
use super::invariants::Checker;
use super::network::{Network, NetworkProfile, Payload, CONTROLLER};
use super::node::{decode_request, decode_response, log_config, Node};
use super::rng::Rng;

/// How many steps of the log a failure prints.
const TRACE_TAIL: usize = 80;
/// Steps a follower waits for an answer before it fetches again.
const FETCH_TIMEOUT: u64 = 6;
/// Steps the controller waits for an unreachable leader (its session
/// timeout) before it elects another.
const SESSION_STEPS: u64 = 5;
/// Steps a producer waits for an `acks=all` answer.
const PRODUCE_TIMEOUT: u64 = 40;
/// Fault-free steps at the end, in which the replicas must converge.
const SETTLE_STEPS: u64 = 200;

/// What one seed draws for its run.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub replicas: usize,
    pub steps: u64,
    pub config: ReplicationConfig,
    pub network: NetworkProfile,
    /// Per step, chance of a power loss of some replica.
    pub crash_permille: u64,
    /// Per message handled, chance the replica loses power in the middle
    /// of handling it (after some of its syncs).
    pub mid_crash_permille: u64,
    pub partition_permille: u64,
}

impl Params {
    pub fn random(rng: &mut Rng) -> Self {
        let replicas = rng.between(3, 5) as usize;
        Params {
            replicas,
            steps: rng.between(100, 300),
            config: ReplicationConfig {
                replica_lag_time_max_ms: [100, 300, 1_000][rng.index(3)],
                min_insync_replicas: rng.between(1, 2) as usize,
            },
            network: NetworkProfile::random(rng),
            crash_permille: [0, 10, 30, 60][rng.index(4)],
            mid_crash_permille: [0, 2, 10][rng.index(3)],
            partition_permille: [0, 20, 60][rng.index(3)],
        }
    }
}

/// What a run did, to see that it exercised something.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub steps: u64,
    pub acked: u64,
    pub consumed: u64,
    pub crashes: u64,
    pub elections: u64,
    pub truncations: u64,
    pub messages: u64,
}

/// A run that broke an invariant.
#[derive(Debug)]
pub struct Failure {
    pub step: u64,
    pub message: String,
    pub params: Params,
    pub trace: Vec<String>,
}

struct Pending {
    node: ReplicaId,
    incarnation: u64,
    append: PendingAppend,
    values: Vec<Vec<u8>>,
    sent_at: u64,
}

pub struct World {
    rng: Rng,
    now: u64,
    clock: ManualClock,
    params: Params,
    nodes: Vec<Node>,
    net: Network,
    ctl: Controller,
    checker: Checker,
    pending: Vec<Pending>,
    next_value: u64,
    consumer_at: u64,
    unreachable_since: Option<u64>,
    /// The elected leader's process incarnation: a restart (a new broker
    /// registration) makes the controller elect again.
    leader_incarnation: u64,
    quiet: bool,
    trace: VecDeque<String>,
    pub stats: Stats,
}

type Step = Result<(), String>;

impl World {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let params = Params::random(&mut rng);
        let ids: Vec<ReplicaId> = (0..params.replicas as ReplicaId).collect();
        World {
            rng,
            now: 0,
            clock: ManualClock::new(1_000_000),
            params,
            nodes: ids.iter().map(|&id| Node::new(id)).collect(),
            net: Network::new(params.network),
            ctl: Controller::new(ids),
            checker: Checker::default(),
            pending: Vec::new(),
            next_value: 0,
            consumer_at: 0,
            unreachable_since: None,
            leader_incarnation: 0,
            quiet: false,
            trace: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// Runs the faulty steps, then the quiet ones, checking after each.
    pub fn run(mut self) -> Result<Stats, Box<Failure>> {
        let result = self.run_steps();
        match result {
            Ok(()) => Ok(self.stats),
            Err(message) => Err(Box::new(Failure {
                step: self.now,
                message,
                params: self.params,
                trace: self.trace.into_iter().collect(),
            })),
        }
    }

    fn run_steps(&mut self) -> Step {
        for i in 0..self.nodes.len() {
            self.start(i)?;
        }
        for _ in 0..self.params.steps {
            self.step()?;
        }
        self.settle()
    }

    fn note(&mut self, line: String) {
        if self.trace.len() == TRACE_TAIL {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("[{}] {line}", self.now));
    }

    fn step(&mut self) -> Step {
        self.now += 1;
        self.stats.steps += 1;
        self.clock.advance(self.rng.between(1, 60) as i64);
        if !self.quiet {
            self.faults()?;
        }
        self.control()?;
        self.deliver()?;
        self.send_fetches();
        self.housekeeping()?;
        self.produce()?;
        self.consume()?;
        for event in self.ctl.take_events() {
            self.note(event);
        }
        let ctl = self.ctl.snapshot();
        self.checker.check(&self.nodes, &ctl)
    }

    fn start(&mut self, i: usize) -> Step {
        let listener = self.ctl.listener();
        let config = self.params.config;
        self.nodes[i].start(&self.clock, config, listener)?;
        let id = self.nodes[i].id;
        self.ctl.state().alive.insert(id);
        let log = self.nodes[i]
            .log()
            .map(|l| (l.log_end_offset(), l.high_watermark()));
        self.note(format!(
            "node {id} starts: log end and high watermark {log:?}"
        ));
        Ok(())
    }

    fn power_loss(&mut self, i: usize) {
        let seed = self.rng.next_u64();
        let id = self.nodes[i].id;
        let end = self.nodes[i].log().map(|l| l.log_end_offset());
        self.nodes[i].power_loss(seed, self.now);
        self.net.drop_to(id);
        self.ctl.state().alive.remove(&id);
        self.pending.retain(|p| p.node != id);
        self.stats.crashes += 1;
        self.note(format!("node {id} loses power at log end {end:?}"));
    }

    fn faults(&mut self) -> Step {
        if self.rng.chance(self.params.crash_permille) {
            let i = self.rng.index(self.nodes.len());
            if self.nodes[i].is_up() {
                self.power_loss(i);
            }
        }
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            if !n.is_up() && self.now >= n.down_since + 2 && self.rng.chance(150) {
                self.start(i)?;
            }
        }
        let endpoints = self.nodes.len() as ReplicaId + 1;
        let pick = |rng: &mut Rng| rng.below(endpoints as u64) as ReplicaId - 1;
        if self.rng.chance(self.params.partition_permille) {
            let (a, b) = (pick(&mut self.rng), pick(&mut self.rng));
            self.net.cut(a, b);
            self.note(format!("link {a}-{b} cut"));
        }
        if self.rng.chance(self.params.partition_permille / 3) {
            let a = pick(&mut self.rng);
            for b in CONTROLLER..endpoints - 1 {
                self.net.cut(a, b);
            }
            self.note(format!("{a} isolated"));
        }
        let cut = self.net.cut_links();
        if !cut.is_empty() && self.rng.chance(80) {
            let (a, b) = cut[self.rng.index(cut.len())];
            self.net.heal(a, b);
            self.note(format!("link {a}-{b} healed"));
        }
        if !cut.is_empty() && self.rng.chance(15) {
            self.net.heal_all();
            self.note("all links healed".to_string());
        }
        Ok(())
    }

    /// The controller: elects when the leader is down or has been out of
    /// its reach for a session timeout, and tells every replica it reaches
    /// its role in the current epoch.
    fn control(&mut self) -> Step {
        let st = self.ctl.snapshot();
        let mut failed = None;
        match st.leader {
            None => failed = Some(None),
            Some(l)
                if !self.nodes[l as usize].is_up()
                    || self.nodes[l as usize].incarnation != self.leader_incarnation =>
            {
                failed = Some(Some(l))
            }
            Some(l) if !self.net.connected(CONTROLLER, l) => {
                let since = *self.unreachable_since.get_or_insert(self.now);
                if self.now >= since + SESSION_STEPS {
                    failed = Some(Some(l));
                }
            }
            Some(_) => self.unreachable_since = None,
        }
        if let Some(old) = failed {
            self.unreachable_since = None;
            let (nodes, net) = (&self.nodes, &self.net);
            let eligible = |r: ReplicaId| {
                Some(r) != old && nodes[r as usize].is_up() && net.connected(CONTROLLER, r)
            };
            if let Some(l) = self.ctl.elect(&mut self.rng, eligible) {
                self.leader_incarnation = self.nodes[l as usize].incarnation;
                self.stats.elections += 1;
            }
        }
        let st = self.ctl.snapshot();
        let Some(leader) = st.leader else {
            return Ok(());
        };
        for node in &mut self.nodes {
            let Some(part) = node.part.as_ref() else {
                continue;
            };
            if node.told_epoch == Some(st.epoch) || !self.net.connected(CONTROLLER, node.id) {
                continue;
            }
            let told = if node.id == leader {
                part.become_leader(st.epoch, &st.replicas, &st.isr)
            } else {
                part.become_follower(st.epoch, leader)
            };
            told.map_err(|e| {
                format!(
                    "node {}: role at controller epoch {}: {e}",
                    node.id, st.epoch
                )
            })?;
            node.told_epoch = Some(st.epoch);
            node.outstanding = None;
        }
        Ok(())
    }

    fn deliver(&mut self) -> Step {
        for m in self.net.due(&mut self.rng, self.now) {
            self.stats.messages += 1;
            let i = m.to as usize;
            if !self.nodes[i].is_up() {
                continue;
            }
            let mid_crash = !self.quiet && self.rng.chance(self.params.mid_crash_permille);
            match m.payload {
                Payload::Fetch { id, bytes } => {
                    let request = decode_request(&bytes)?;
                    self.maybe_arm_power_loss(i, mid_crash);
                    let Some(part) = self.nodes[i].part() else {
                        continue;
                    };
                    let response = part
                        .serve_fetch(&request)
                        .map_err(|e| format!("node {}: serve_fetch: {e}", m.to))?;
                    if !mid_crash {
                        let bytes = response.encode().map_err(|e| e.to_string())?;
                        let reply = Payload::Reply { id, bytes };
                        self.net.send(&mut self.rng, self.now, m.to, m.from, reply);
                    }
                }
                Payload::Reply { id, bytes } => {
                    if !self.nodes[i].accept_reply(id) {
                        continue;
                    }
                    let response = decode_response(&bytes)?;
                    self.maybe_arm_power_loss(i, mid_crash);
                    let Some(part) = self.nodes[i].part() else {
                        continue;
                    };
                    match part.append_as_follower(&response) {
                        Ok(out) => {
                            if out.truncated_to.is_some() || out.started_at.is_some() {
                                self.stats.truncations += 1;
                                self.note(format!("node {}: {out:?}", m.to));
                            }
                        }
                        Err(
                            e @ (Error::NotLeader { .. }
                            | Error::Fenced { .. }
                            | Error::UnknownLeaderEpoch { .. }),
                        ) => self.note(format!("node {}: fetch answer refused: {e}", m.to)),
                        Err(e) => return Err(format!("node {}: append_as_follower: {e}", m.to)),
                    }
                }
            }
            if mid_crash {
                self.note(format!(
                    "node {} loses power while handling a message",
                    m.to
                ));
                self.power_loss(i);
            }
        }
        Ok(())
    }

    /// For a power loss in the middle of the next operation on node `i`:
    /// its disk will be as it was after 0 to 2 more syncs, whatever the
    /// operation does (the caller cuts the power right after it).
    fn maybe_arm_power_loss(&mut self, i: usize, arm: bool) {
        if arm {
            let fs = &self.nodes[i].fs;
            fs.freeze_after_syncs(fs.sync_count() + self.rng.below(3));
        }
    }

    fn send_fetches(&mut self) {
        for i in 0..self.nodes.len() {
            // At most a segment: a follower appends a fetch's batches in
            // one go, and a log takes no more than a segment at once (as
            // Kafka's replica.fetch.max.bytes stays below segment.bytes).
            let max_bytes = self.rng.between(100, log_config().segment_bytes);
            if let Some((leader, id, request)) =
                self.nodes[i].next_fetch(self.now, FETCH_TIMEOUT, max_bytes)
            {
                let fetch = Payload::Fetch {
                    id,
                    bytes: request.encode(),
                };
                let from = self.nodes[i].id;
                self.net.send(&mut self.rng, self.now, from, leader, fetch);
            }
        }
    }

    fn housekeeping(&mut self) -> Step {
        for i in 0..self.nodes.len() {
            let Some(part) = self.nodes[i].part().cloned() else {
                continue;
            };
            if part.role() == Role::Leader && self.rng.chance(300) {
                if let Some(isr) = part
                    .maybe_shrink_isr()
                    .map_err(|e| format!("node {i}: maybe_shrink_isr: {e}"))?
                {
                    self.note(format!("node {i} shrank its ISR to {isr:?}"));
                }
            }
            if self.rng.chance(100) {
                part.checkpoint_high_watermark()
                    .map_err(|e| format!("node {i}: checkpoint_high_watermark: {e}"))?;
            }
        }
        Ok(())
    }

    /// Replicas that believe they lead (a deposed one may, until the
    /// controller reaches it).
    fn leaders(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].role() == Some(Role::Leader))
            .collect()
    }

    /// Where a client sends: the controller's leader mostly, any replica
    /// that believes it leads sometimes (clients' metadata goes stale).
    fn client_target(&mut self) -> Option<usize> {
        let elected = self.ctl.state().leader.map(|l| l as usize);
        let leaders = self.leaders();
        match elected {
            Some(l) if self.nodes[l].is_up() && !self.rng.chance(150) => Some(l),
            _ if leaders.is_empty() => None,
            _ => Some(leaders[self.rng.index(leaders.len())]),
        }
    }

    fn produce(&mut self) -> Step {
        let mut pending = std::mem::take(&mut self.pending);
        let mut result = Ok(());
        pending.retain(|p| {
            if result.is_err() {
                return true;
            }
            let node = &self.nodes[p.node as usize];
            if !node.is_up() || node.incarnation != p.incarnation {
                return false;
            }
            match p.append.poll() {
                Ok(true) => {
                    let info = p.append.info();
                    for (offset, value) in (info.first_offset..=info.last_offset).zip(&p.values) {
                        if let Err(e) = self.checker.acknowledge(offset, value.clone()) {
                            result = Err(e);
                        }
                        self.stats.acked += 1;
                    }
                    self.trace.push_back(format!(
                        "[{}] acked {}..={} via node {}",
                        self.now, info.first_offset, info.last_offset, p.node
                    ));
                    false
                }
                Ok(false) => self.now < p.sent_at + PRODUCE_TIMEOUT,
                Err(_) => false,
            }
        });
        self.pending = pending;
        result?;
        while self.trace.len() > TRACE_TAIL {
            self.trace.pop_front();
        }
        if self.quiet || !self.rng.chance(400) {
            return Ok(());
        }
        let Some(i) = self.client_target() else {
            return Ok(());
        };
        let count = self.rng.between(1, 3);
        let values: Vec<Vec<u8>> = (0..count)
            .map(|_| {
                self.next_value += 1;
                format!("v{}", self.next_value).into_bytes()
            })
            .collect();
        let records: Vec<Record> = values
            .iter()
            .map(|v| {
                let r = Record::new(v.clone());
                if v.len() % 2 == 0 {
                    r.with_key("k")
                } else {
                    r
                }
            })
            .collect();
        let node = &self.nodes[i];
        let Some(part) = node.part() else {
            return Ok(());
        };
        match part.append(&records, Acks::All) {
            Ok(append) => {
                let info = append.info();
                let line = format!(
                    "node {} appended {}..={}",
                    node.id, info.first_offset, info.last_offset
                );
                self.pending.push(Pending {
                    node: node.id,
                    incarnation: node.incarnation,
                    append,
                    values,
                    sent_at: self.now,
                });
                self.note(line);
            }
            Err(e @ (Error::NotLeader { .. } | Error::NotEnoughReplicas { .. })) => {
                self.note(format!("node {i}: append refused: {e}"));
            }
            Err(e) => return Err(format!("node {i}: append: {e}")),
        }
        Ok(())
    }

    fn consume(&mut self) -> Step {
        if self.rng.chance(20) {
            self.consumer_at = 0;
        }
        if !self.rng.chance(300) {
            return Ok(());
        }
        let Some(i) = self.client_target() else {
            return Ok(());
        };
        let Some(part) = self.nodes[i].part() else {
            return Ok(());
        };
        let max_bytes = self.rng.between(50, 2_000);
        let fetch = match part.read(self.consumer_at, max_bytes) {
            Ok(fetch) => fetch,
            Err(Error::OffsetOutOfRange { .. }) => return Ok(()),
            Err(e) => return Err(format!("node {i}: consumer read: {e}")),
        };
        for record in fetch.records() {
            let record = record.map_err(|e| format!("node {i}: consumer decode: {e}"))?;
            self.checker
                .consume(record.offset, record.value.unwrap_or_default())?;
            self.stats.consumed += 1;
        }
        self.consumer_at = self.consumer_at.max(fetch.next_offset());
        Ok(())
    }

    /// The end: every link healed, every replica started, no more faults
    /// or appends; the replicas must converge on the leader's log.
    fn settle(&mut self) -> Step {
        self.quiet = true;
        self.net.heal_all();
        self.net.set_reliable();
        for i in 0..self.nodes.len() {
            if !self.nodes[i].is_up() {
                self.start(i)?;
            }
        }
        self.note("settling".to_string());
        for _ in 0..SETTLE_STEPS {
            self.step()?;
            if self.converged()? {
                return Ok(());
            }
        }
        let views: Vec<String> = self
            .nodes
            .iter()
            .filter_map(|n| {
                let p = n.part()?;
                Some(format!(
                    "node {}: {:?} epoch {} end {} hw {}",
                    n.id,
                    p.role(),
                    p.leader_epoch(),
                    p.log().log_end_offset(),
                    p.high_watermark()
                ))
            })
            .collect();
        Err(format!(
            "no convergence after {SETTLE_STEPS} quiet steps: {:?}; {}",
            self.ctl.snapshot().isr,
            views.join("; ")
        ))
    }

    /// Whether every replica is in the ISR with the leader's whole log,
    /// and the leader's high watermark is at its end.
    fn converged(&self) -> Result<bool, String> {
        let st = self.ctl.snapshot();
        let Some(leader) = st.leader else {
            return Ok(false);
        };
        let Some(lp) = self.nodes[leader as usize].part() else {
            return Ok(false);
        };
        let end = lp.log().log_end_offset();
        if st.isr.len() != self.nodes.len() || lp.high_watermark() != end {
            return Ok(false);
        }
        Ok(self.nodes.iter().all(|n| {
            n.part()
                .is_some_and(|p| p.log().log_end_offset() == end && p.high_watermark() == end)
        }))
    }
}

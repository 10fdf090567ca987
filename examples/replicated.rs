//! Three replicas of one partition on localhost, replicating over TCP, with
//! a leader crash in the middle and no acknowledged record lost.
//!
//! ```text
//! cargo run --example replicated
//! ```
//!
//! Each replica runs in its own threads with its own log directory (in a
//! temporary directory) and listens on a local port, where it answers
//! fetches: a frame is a big-endian `u32` length and then
//! [`FetchRequest::encode`]'s bytes, answered by
//! [`ReplicatedPartition::serve_fetch`]'s response, encoded and framed the
//! same way. Followers run a [`Follower`] whose [`LeaderLink`] sends the
//! frame to whichever replica they follow now, reconnecting when the
//! leader changes.
//!
//! The main thread plays Kafka's controller: it names the leader and the
//! epoch, owns the ISR (every change a leader wants comes through its
//! [`IsrListener`]), calls `maybe_shrink_isr` and checkpoints high
//! watermarks periodically. A producer thread appends with `acks=all` and
//! remembers every acknowledged offset and value. The run:
//!
//! 1. replica 1 leads at epoch 1; replica 3 starts late, so the leader
//!    drops it from the ISR, and takes it back once it caught up;
//! 2. replica 1's network fails while the producer appends (that append is
//!    never acknowledged), then replica 1 crashes;
//! 3. the controller elects replica 2 (from the ISR) at epoch 2, the
//!    producer goes on;
//! 4. replica 1 restarts from its directory as a follower: it truncates
//!    the record nobody acknowledged and catches up;
//! 5. every acknowledged record is read back from the new leader and the
//!    restarted replica. The exit status is 1 if one is missing.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use seglog::replication::{
    Acks, FetchRequest, FetchResponse, Follower, IsrChange, IsrListener, LeaderLink, ReplicaId,
    ReplicatedPartition, ReplicationConfig, Role,
};
use seglog::{Error, LogConfig, PartitionLog, Record};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const REPLICAS: [ReplicaId; 3] = [1, 2, 3];
/// `replica.lag.time.max.ms`: short, so the late replica leaves the ISR
/// quickly.
const LAG_MS: u64 = 400;
/// How long an `acks=all` append waits before the producer gives up on it.
const ACK_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long each phase of the run produces.
const PHASE: Duration = Duration::from_millis(1200);

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, BoxError> {
    let root = tempfile::tempdir()?;
    let controller = Arc::new(Controller::default());
    let config = ReplicationConfig {
        replica_lag_time_max_ms: LAG_MS,
        min_insync_replicas: 2,
    };

    // Every replica gets a port up front: the addresses are the cluster's
    // metadata, known to all.
    let mut addrs = BTreeMap::new();
    let mut listeners = BTreeMap::new();
    for id in REPLICAS {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        addrs.insert(id, listener.local_addr()?);
        listeners.insert(id, listener);
    }
    let addrs = Arc::new(addrs);
    let mut nodes = BTreeMap::new();
    for id in REPLICAS {
        let dir = root.path().join(format!("replica-{id}/events-0"));
        let listener = listeners.remove(&id).ok_or("no listener")?;
        let node = Node::start(id, &dir, listener, config, &controller)?;
        println!("replica {id}: {} at {}", dir.display(), addrs[&id]);
        nodes.insert(id, node);
    }

    // Phase 1: replica 1 leads at epoch 1; replica 3's fetcher starts late.
    controller.elect(1, 1, REPLICAS.to_vec());
    nodes[&1].partition.become_leader(1, &REPLICAS, &REPLICAS)?;
    for id in [2, 3] {
        nodes[&id].partition.become_follower(1, 1)?;
    }
    println!("controller: replica 1 leads at epoch 1, ISR {REPLICAS:?}");
    nodes.get_mut(&2).ok_or("no node")?.start_fetcher(&addrs);

    let producer = Producer::start(controller.clone(), nodes_view(&nodes));
    tick_for(&controller, &nodes, Duration::from_millis(700));
    println!("replica 3: fetcher starts (late)");
    nodes.get_mut(&3).ok_or("no node")?.start_fetcher(&addrs);
    tick_for(&controller, &nodes, PHASE);

    // Phase 2: the leader's network fails; a record appended then reaches
    // only the leader's log (acks=1: nobody else acknowledged it). Then
    // the leader crashes, well within `replica.lag.time.max.ms`, so that
    // it had no time to drop its followers from the ISR.
    let old = nodes.remove(&1).ok_or("no node")?;
    old.isolated.store(true, Ordering::Release);
    println!("replica 1: network down");
    let followers_end = || {
        nodes
            .values()
            .map(|n| n.partition.log().log_end_offset())
            .max()
            .unwrap_or(0)
    };
    // A fetch the leader was holding may still carry a record appended
    // now to a follower: append until one stays the leader's alone.
    let deadline = Instant::now() + Duration::from_millis(LAG_MS / 4);
    while old.partition.log().log_end_offset() <= followers_end() && Instant::now() < deadline {
        old.partition
            .append(&[Record::new("unreplicated")], Acks::Leader)?
            .wait(ACK_TIMEOUT)?;
        thread::sleep(Duration::from_millis(5));
    }
    println!(
        "replica 1: crashes with log end offset {}, high watermark {}",
        old.partition.log().log_end_offset(),
        old.partition.high_watermark()
    );
    let old_dir = old.dir.clone();
    let old_listener_addr = addrs[&1];
    old.crash();

    // Phase 3: the controller elects a new leader from the ISR, without
    // the replica that is gone, at the next epoch.
    let isr: Vec<ReplicaId> = controller.isr().into_iter().filter(|&r| r != 1).collect();
    let Some(&new_leader) = isr.first() else {
        println!("controller: no replica left in the ISR, cannot elect a leader");
        return Ok(false);
    };
    let epoch = controller.epoch() + 1;
    controller.elect(new_leader, epoch, isr.clone());
    nodes[&new_leader]
        .partition
        .become_leader(epoch, &REPLICAS, &isr)?;
    for (&id, node) in &nodes {
        if id != new_leader {
            node.partition.become_follower(epoch, new_leader)?;
        }
    }
    if let Some(node) = nodes.get_mut(&new_leader) {
        node.stop_fetcher();
    }
    producer.set_nodes(nodes_view(&nodes));
    println!("controller: replica {new_leader} leads at epoch {epoch}, ISR {isr:?}");
    tick_for(&controller, &nodes, PHASE);

    // Phase 4: replica 1 restarts from its directory as a follower.
    let listener = TcpListener::bind(old_listener_addr)?;
    let mut node = Node::start(1, &old_dir, listener, config, &controller)?;
    println!(
        "replica 1: restarts with log end offset {}",
        node.partition.log().log_end_offset()
    );
    node.partition.become_follower(epoch, new_leader)?;
    node.start_fetcher(&addrs);
    nodes.insert(1, node);
    producer.set_nodes(nodes_view(&nodes));
    tick_for(&controller, &nodes, PHASE);

    // The end: stop producing, let the followers catch up, compare.
    let acked = producer.stop();
    let leader = nodes[&new_leader].partition.clone();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline
        && nodes.values().any(|n| {
            n.partition.log().log_end_offset() < leader.log().log_end_offset()
                || n.partition.high_watermark() < leader.high_watermark()
        })
    {
        controller.tick(&nodes);
        thread::sleep(Duration::from_millis(10));
    }
    for node in nodes.values_mut() {
        node.stop_fetcher();
    }
    for node in nodes.values() {
        let p = &node.partition;
        println!(
            "replica {}: {:?}, log end offset {}, high watermark {}",
            p.local_replica(),
            p.role(),
            p.log().log_end_offset(),
            p.high_watermark()
        );
    }
    let mut lost = 0;
    for node in nodes.values() {
        lost += check(&node.partition, &acked)?;
    }
    for node in nodes.into_values() {
        node.crash();
    }
    println!(
        "{} acknowledged records, {lost} missing or different over the three replicas",
        acked.len()
    );
    if lost == 0 {
        println!("OK: no acknowledged record was lost");
    }
    Ok(lost == 0)
}

/// Reads every acknowledged offset from `partition`'s log and compares the
/// value; returns how many are missing or different.
fn check(partition: &ReplicatedPartition, acked: &BTreeMap<u64, String>) -> Result<usize, Error> {
    let id = partition.local_replica();
    let mut lost = 0;
    for (&offset, value) in acked {
        let found = match partition.log().read_record(offset) {
            Ok(record) => record.and_then(|r| r.value),
            Err(Error::OffsetOutOfRange { .. }) => None,
            Err(e) => return Err(e),
        };
        if found.as_deref() != Some(value.as_bytes()) {
            lost += 1;
            println!(
                "replica {id}: LOST offset {offset}: acknowledged {value:?}, found {:?}",
                found.map(|v| String::from_utf8_lossy(&v).into_owned())
            );
        }
    }
    println!(
        "replica {id}: all {} acknowledged records read back, {lost} missing or different",
        acked.len()
    );
    Ok(lost)
}

/// Lets the controller do its periodic work for `duration`.
fn tick_for(controller: &Controller, nodes: &BTreeMap<ReplicaId, Node>, duration: Duration) {
    let end = Instant::now() + duration;
    while Instant::now() < end {
        controller.tick(nodes);
        thread::sleep(Duration::from_millis(50));
    }
}

/// The partitions the producer may send to, by replica.
fn nodes_view(nodes: &BTreeMap<ReplicaId, Node>) -> BTreeMap<ReplicaId, ReplicatedPartition> {
    nodes
        .iter()
        .map(|(&id, n)| (id, n.partition.clone()))
        .collect()
}

/// The controller's view: who leads, at which epoch, and the ISR it
/// committed. Leaders propose ISR changes to it ([`IsrListener`]).
#[derive(Default)]
struct Controller {
    state: Mutex<ControllerState>,
}

#[derive(Default)]
struct ControllerState {
    leader: ReplicaId,
    epoch: i32,
    isr: Vec<ReplicaId>,
}

impl Controller {
    fn state(&self) -> MutexGuard<'_, ControllerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn elect(&self, leader: ReplicaId, epoch: i32, isr: Vec<ReplicaId>) {
        *self.state() = ControllerState { leader, epoch, isr };
    }

    fn leader(&self) -> ReplicaId {
        self.state().leader
    }

    fn epoch(&self) -> i32 {
        self.state().epoch
    }

    fn isr(&self) -> Vec<ReplicaId> {
        self.state().isr.clone()
    }

    /// The periodic work: the leader checks its followers' lag (Kafka runs
    /// this every half `replica.lag.time.max.ms`), and every live replica
    /// checkpoints its high watermark.
    fn tick(&self, nodes: &BTreeMap<ReplicaId, Node>) {
        if let Some(node) = nodes.get(&self.leader()) {
            if let Err(e) = node.partition.maybe_shrink_isr() {
                println!("controller: maybe_shrink_isr failed: {e}");
            }
        }
        for node in nodes.values() {
            if let Err(e) = node.partition.checkpoint_high_watermark() {
                println!("replica {}: checkpoint failed: {e}", node.id);
            }
        }
    }
}

/// A listener per replica, all backed by the one controller.
struct IsrHook(Arc<Controller>);

impl IsrListener for IsrHook {
    fn alter_isr(&self, change: &IsrChange) -> bool {
        let mut st = self.0.state();
        let accept = change.leader == st.leader
            && change.leader_epoch == st.epoch
            && change.previous == st.isr;
        if accept {
            let how = if change.isr.len() < st.isr.len() {
                "shrinks"
            } else {
                "expands"
            };
            println!(
                "controller: replica {} {how} the ISR {:?} -> {:?} (epoch {})",
                change.leader, change.previous, change.isr, change.leader_epoch
            );
            st.isr = change.isr.clone();
        } else {
            println!("controller: refuses ISR change {change:?}");
        }
        accept
    }
}

/// One replica: its partition, its fetch server and its follower thread.
struct Node {
    id: ReplicaId,
    dir: PathBuf,
    partition: ReplicatedPartition,
    /// Set to stop the server (and, with `isolated`, to cut it off).
    stop: Arc<AtomicBool>,
    /// The network is down: the server answers nothing.
    isolated: Arc<AtomicBool>,
    server: Option<JoinHandle<()>>,
    fetcher: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Node {
    fn start(
        id: ReplicaId,
        dir: &Path,
        listener: TcpListener,
        config: ReplicationConfig,
        controller: &Arc<Controller>,
    ) -> Result<Self, BoxError> {
        let log = PartitionLog::open(dir, LogConfig::default())?;
        let hook: Arc<dyn IsrListener> = Arc::new(IsrHook(controller.clone()));
        let partition = ReplicatedPartition::with_listener(log, id, config, Some(hook))?;
        let stop = Arc::new(AtomicBool::new(false));
        let isolated = Arc::new(AtomicBool::new(false));
        let server = {
            let (partition, stop, isolated) = (partition.clone(), stop.clone(), isolated.clone());
            thread::spawn(move || serve(listener, partition, &stop, &isolated))
        };
        Ok(Node {
            id,
            dir: dir.to_path_buf(),
            partition,
            stop,
            isolated,
            server: Some(server),
            fetcher: None,
        })
    }

    /// Starts this replica's follower loop over TCP.
    fn start_fetcher(&mut self, addrs: &Arc<BTreeMap<ReplicaId, SocketAddr>>) {
        let stop = Arc::new(AtomicBool::new(false));
        let link = TcpLink {
            local: self.partition.clone(),
            addrs: addrs.clone(),
            conn: None,
        };
        let mut follower = Follower::new(self.partition.clone(), link);
        let handle = {
            let stop = stop.clone();
            thread::spawn(move || fetch_loop(&mut follower, &stop))
        };
        self.fetcher = Some((stop, handle));
    }

    fn stop_fetcher(&mut self) {
        if let Some((stop, handle)) = self.fetcher.take() {
            stop.store(true, Ordering::Release);
            let _ = handle.join();
        }
    }

    /// Stops everything at once and closes the log, as a process that dies.
    fn crash(mut self) {
        self.isolated.store(true, Ordering::Release);
        if let Err(e) = self.partition.log().close() {
            println!("replica {}: close failed: {e}", self.id);
        }
        self.stop_fetcher();
        self.stop.store(true, Ordering::Release);
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

/// A follower's loop ([`Follower::fetch_once`] until stopped), telling
/// what its truncations did.
fn fetch_loop<L: LeaderLink>(follower: &mut Follower<L>, stop: &AtomicBool) {
    let id = follower.partition().local_replica();
    while !stop.load(Ordering::Acquire) {
        match follower.fetch_once() {
            Ok(round) => {
                let applied = &round.applied;
                if let Some(to) = applied.truncated_to {
                    println!(
                        "replica {id}: truncated its log to offset {to} (diverged from the leader)"
                    );
                }
                if let Some(at) = applied.started_at {
                    println!("replica {id}: log starts over at offset {at}");
                }
                if applied.appended.is_none() && applied.truncated_to.is_none() {
                    thread::sleep(Duration::from_millis(2));
                }
            }
            Err(e @ (Error::Closed | Error::Corrupt { .. } | Error::Poisoned { .. })) => {
                println!("replica {id}: fetcher stops: {e}");
                return;
            }
            // The leader is unreachable or a role change is on its way:
            // try again shortly.
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A follower's link: one TCP connection to the replica it follows now.
struct TcpLink {
    local: ReplicatedPartition,
    addrs: Arc<BTreeMap<ReplicaId, SocketAddr>>,
    conn: Option<(ReplicaId, TcpStream)>,
}

impl LeaderLink for TcpLink {
    fn fetch(&mut self, request: &FetchRequest) -> seglog::Result<FetchResponse> {
        let Role::Follower { leader } = self.local.role() else {
            return Err(Error::NotLeader { leader: None });
        };
        if self.conn.as_ref().is_none_or(|(l, _)| *l != leader) {
            let addr = self
                .addrs
                .get(&leader)
                .ok_or(Error::NotLeader { leader: None })?;
            let stream = TcpStream::connect_timeout(addr, Duration::from_millis(200))?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(1)))?;
            println!(
                "replica {}: fetching from replica {leader} at {addr}",
                self.local.local_replica()
            );
            self.conn = Some((leader, stream));
        }
        let result = match &mut self.conn {
            Some((_, stream)) => exchange(stream, &request.encode()),
            None => return Err(Error::NotLeader { leader: None }),
        };
        match result {
            Ok(bytes) => FetchResponse::decode(&bytes),
            Err(e) => {
                self.conn = None; // reconnect on the next round
                Err(e.into())
            }
        }
    }
}

/// Sends one frame and reads the answer's.
fn exchange(stream: &mut TcpStream, frame: &[u8]) -> io::Result<Vec<u8>> {
    write_frame(stream, frame)?;
    read_frame(stream)
}

fn write_frame(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(io::Error::other)?;
    let mut frame = Vec::with_capacity(4 + bytes.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(bytes);
    stream.write_all(&frame)
}

fn read_frame(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let mut bytes = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// A replica's fetch server: accepts connections until `stop`, one thread
/// each.
fn serve(
    listener: TcpListener,
    partition: ReplicatedPartition,
    stop: &AtomicBool,
    isolated: &Arc<AtomicBool>,
) {
    if let Err(e) = listener.set_nonblocking(true) {
        println!("replica {}: listener: {e}", partition.local_replica());
        return;
    }
    let mut handlers = Vec::new();
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) if !isolated.load(Ordering::Acquire) => {
                let (partition, isolated) = (partition.clone(), isolated.clone());
                handlers.push(thread::spawn(move || {
                    // A connection ends on any error (the follower
                    // reconnects); its error is not interesting here.
                    let _ = handle(stream, &partition, &isolated);
                }));
            }
            Ok(_) => {} // dropped: the network is down
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5))
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
    drop(listener);
    for handler in handlers {
        let _ = handler.join();
    }
}

/// Answers the fetches of one connection until it closes, the replica's
/// network goes down or its log is closed.
fn handle(
    mut stream: TcpStream,
    partition: &ReplicatedPartition,
    isolated: &AtomicBool,
) -> Result<(), BoxError> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    loop {
        let request = read_frame(&mut stream)?;
        if isolated.load(Ordering::Acquire) {
            return Ok(());
        }
        let response = partition.serve_fetch(&FetchRequest::decode(&request)?)?;
        write_frame(&mut stream, &response.encode()?)?;
    }
}

/// The producer: appends one record at a time with `acks=all` to the
/// leader the controller names, and remembers what was acknowledged.
struct Producer {
    stop: Arc<AtomicBool>,
    nodes: Arc<Mutex<BTreeMap<ReplicaId, ReplicatedPartition>>>,
    handle: JoinHandle<BTreeMap<u64, String>>,
}

impl Producer {
    fn start(controller: Arc<Controller>, nodes: BTreeMap<ReplicaId, ReplicatedPartition>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let nodes = Arc::new(Mutex::new(nodes));
        let handle = {
            let (stop, nodes) = (stop.clone(), nodes.clone());
            thread::spawn(move || produce(&controller, &nodes, &stop))
        };
        Producer {
            stop,
            nodes,
            handle,
        }
    }

    fn set_nodes(&self, nodes: BTreeMap<ReplicaId, ReplicatedPartition>) {
        *self.nodes.lock().unwrap_or_else(|e| e.into_inner()) = nodes;
    }

    fn stop(self) -> BTreeMap<u64, String> {
        self.stop.store(true, Ordering::Release);
        self.handle.join().unwrap_or_default()
    }
}

fn produce(
    controller: &Controller,
    nodes: &Mutex<BTreeMap<ReplicaId, ReplicatedPartition>>,
    stop: &AtomicBool,
) -> BTreeMap<u64, String> {
    let mut acked = BTreeMap::new();
    let (mut sent, mut failed) = (0u64, 0u64);
    while !stop.load(Ordering::Acquire) {
        let leader = controller.leader();
        let partition = nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&leader)
            .cloned();
        let Some(partition) = partition else {
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let value = format!("value-{sent}");
        sent += 1;
        let outcome = partition
            .append(&[Record::new(value.as_str())], Acks::All)
            .and_then(|pending| pending.wait(ACK_TIMEOUT));
        match outcome {
            Ok(info) => {
                acked.insert(info.first_offset, value);
            }
            Err(e) => {
                failed += 1;
                println!("producer: {value:?} not acknowledged by replica {leader}: {e}");
                thread::sleep(Duration::from_millis(10));
            }
        }
        thread::sleep(Duration::from_millis(1));
    }
    println!(
        "producer: {sent} sent, {} acknowledged, {failed} not",
        acked.len()
    );
    acked
}

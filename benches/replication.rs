//! Criterion benchmarks of replication in one process: a leader and two
//! followers on the real file system (temporary directories), the
//! followers fetching through `serve_fetch` and `append_as_follower` with
//! no network between them.
//!
//! * `replication/append_100x100B`: batches of 100 records of 100 B
//!   appended by the leader, with `acks=1` and with `acks=all`, while a
//!   thread per follower runs `Follower::run` with fetches the leader
//!   holds until a record arrives (`replica.fetch.wait.max.ms`); beside a
//!   plain `PartitionLog::append` of the same batches with no
//!   replication. `acks=all` keeps up to 64 appends waiting for their
//!   acknowledgement (as a Kafka producer goes on sending while earlier
//!   batches wait), and `acks=all, 1 in flight` waits for each before the
//!   next: its time is a round trip's.
//! * `replication/fetch_round`: one follower's fetch round (request,
//!   `serve_fetch`, `append_as_follower`), single-threaded, for one new
//!   record of 100 B and for nothing new.
//!
//! `cargo bench --bench replication` runs them; `-- --quick` for a shorter
//! run.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use seglog::replication::{
    Acks, FetchRequest, Follower, ReplicaId, ReplicatedPartition, ReplicationConfig,
};
use seglog::{BatchBuilder, LogConfig, PartitionLog};

mod common;
use common::records;

/// How long a follower waits after a fetch that failed.
const FOLLOWER_IDLE: Duration = Duration::from_micros(50);

/// How long the leader holds a fetch that finds nothing new.
const FETCH_MAX_WAIT: Duration = Duration::from_millis(100);

/// Appends waiting for their acknowledgement at most: 64 batches, 700 KB.
/// A Kafka producer's `send` does not wait for earlier requests either;
/// what it has not sent yet waits in its accumulator, up to
/// `buffer.memory` (32 MiB).
const IN_FLIGHT: usize = 64;

fn replica(root: &Path, id: ReplicaId) -> ReplicatedPartition {
    let log = PartitionLog::open(root.join(format!("r{id}/t-0")), LogConfig::default()).unwrap();
    let config = ReplicationConfig {
        min_insync_replicas: 2,
        ..ReplicationConfig::default()
    };
    ReplicatedPartition::new(log, id, config).unwrap()
}

/// A leader (replica 1) and followers 2 and 3, each follower fetching in
/// its own thread until dropped.
struct Cluster {
    _dir: tempfile::TempDir,
    leader: ReplicatedPartition,
    followers: Vec<ReplicatedPartition>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Cluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let leader = replica(dir.path(), 1);
        leader.become_leader(1, &[1, 2, 3], &[1, 2, 3]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut followers = Vec::new();
        let mut threads = Vec::new();
        for id in [2, 3] {
            let follower = replica(dir.path(), id);
            follower.become_follower(1, 1).unwrap();
            followers.push(follower.clone());
            let (leader, stop) = (leader.clone(), stop.clone());
            threads.push(thread::spawn(move || {
                let link = move |request: &FetchRequest| leader.serve_fetch(request);
                Follower::new(follower, link)
                    .with_max_wait(FETCH_MAX_WAIT)
                    .run(&stop, FOLLOWER_IDLE)
                    .unwrap();
            }));
        }
        // The followers' first fetch writes their leader-epoch checkpoint
        // (an fsync): done before anything is timed.
        let warm = leader.append(&records(1, 100), Acks::All).unwrap();
        warm.wait(Duration::from_secs(10)).unwrap();
        Cluster {
            _dir: dir,
            leader,
            followers,
            stop,
            threads,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
        let leo = self.leader.log().log_end_offset();
        for f in &self.followers {
            assert!(f.log().log_end_offset() <= leo);
        }
    }
}

fn bench_append(c: &mut Criterion) {
    let batch = records(100, 100);
    let encoded = BatchBuilder::new().now(0).build(&batch).unwrap();
    let mut group = c.benchmark_group("replication/append_100x100B");
    group.throughput(Throughput::Bytes(encoded.len() as u64));
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));

    group.bench_function("PartitionLog::append", |b| {
        b.iter_custom(|iters| {
            let dir = tempfile::tempdir().unwrap();
            let log = PartitionLog::open(dir.path().join("t-0"), LogConfig::default()).unwrap();
            let start = Instant::now();
            for _ in 0..iters {
                log.append(&batch).unwrap();
            }
            start.elapsed()
        })
    });
    for (label, acks, in_flight) in [
        ("acks=1", Acks::Leader, 1),
        ("acks=all", Acks::All, IN_FLIGHT),
        ("acks=all, 1 in flight", Acks::All, 1),
    ] {
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let cluster = Cluster::start();
                let mut waiting = std::collections::VecDeque::with_capacity(in_flight);
                let start = Instant::now();
                for _ in 0..iters {
                    if waiting.len() == in_flight {
                        let oldest: seglog::replication::PendingAppend =
                            waiting.pop_front().unwrap();
                        oldest.wait(Duration::from_secs(10)).unwrap();
                    }
                    waiting.push_back(cluster.leader.append(&batch, acks).unwrap());
                }
                for pending in waiting {
                    pending.wait(Duration::from_secs(10)).unwrap();
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

fn bench_fetch_round(c: &mut Criterion) {
    let one = records(1, 100);
    let mut group = c.benchmark_group("replication/fetch_round");
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));

    for (label, append) in [("one 100 B record", true), ("nothing new", false)] {
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let dir = tempfile::tempdir().unwrap();
                let leader = replica(dir.path(), 1);
                let follower = replica(dir.path(), 2);
                leader.become_leader(1, &[1, 2], &[1, 2]).unwrap();
                follower.become_follower(1, 1).unwrap();
                // The first round writes the follower's leader-epoch
                // checkpoint (an fsync): not timed.
                let _ = leader.append(&one, Acks::Leader).unwrap();
                let response = leader
                    .serve_fetch(&follower.fetch_request(1 << 20))
                    .unwrap();
                follower.append_as_follower(&response).unwrap();
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    if append {
                        let _ = leader.append(&one, Acks::Leader).unwrap();
                    }
                    let start = Instant::now();
                    let request = follower.fetch_request(1 << 20);
                    let response = leader.serve_fetch(&request).unwrap();
                    follower.append_as_follower(&response).unwrap();
                    elapsed += start.elapsed();
                }
                assert_eq!(
                    follower.log().log_end_offset(),
                    leader.log().log_end_offset()
                );
                elapsed
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_append, bench_fetch_round);
criterion_main!(benches);

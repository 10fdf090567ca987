//! A deterministic simulation of replication: three to five replicas of
//! one partition in one process, each on its own in-memory file system,
//! exchanging fetches (in their wire form) over a simulated network, with
//! a simulated controller, a producer and a consumer, all driven by one
//! seeded scheduler. It injects message loss, delay, duplication and
//! reordering, network partitions (between replicas, and between the
//! controller and a replica), power loss at any step and in the middle of
//! handling a message (after some of its fsyncs), restarts, and leader
//! changes, which the controller makes only from the ISR (never an
//! unclean election). After every step it checks the invariants in
//! `replication_sim/invariants.rs`; at the end it heals everything and
//! checks that the replicas converge.
//!
//! Durability: every replica's log fsyncs every append, as leader and as
//! follower (`Durability::Sync`). Kafka does not fsync before it
//! acknowledges; it relies on replication, so a power loss of the leader
//! and of a follower at once can lose acknowledged records there. With
//! fsync on every append a power loss never loses a local write that was
//! reported, and "nothing acknowledged is lost" holds whatever crashes
//! together; what the simulation then tests is the replication protocol
//! itself (epochs, truncation, the high watermark, ISR changes).
//!
//! The controller plays KRaft's: it accepts an ISR change only from the
//! current leader at the current epoch, made from the committed ISR, and
//! adds no replica that is down (KIP-497, KIP-841). It elects when the
//! leader is down or out of its reach for a session timeout, from the ISR
//! members that are up and reachable, and the ISR becomes those members.
//! A replica it cannot reach keeps its old role, so deposed leaders exist
//! for a while, and clients may still write to and read from them.
//!
//! `SEGLOG_SIM_SEEDS=n` runs seeds 0..n (default below), and
//! `SEGLOG_SIM_SEEDS=a..b` seeds a..b;
//! `SEGLOG_SIM_SEED=s` replays seed `s` alone. A failure prints its seed,
//! the command that replays it, and the tail of the run's step log.

#[path = "replication_sim/controller.rs"]
mod controller;
#[path = "replication_sim/invariants.rs"]
mod invariants;
#[path = "replication_sim/network.rs"]
mod network;
#[path = "replication_sim/node.rs"]
mod node;
#[path = "replication_sim/rng.rs"]
mod rng;
#[path = "replication_sim/world.rs"]
mod world;

use world::{Failure, Stats, World};

/// Seeds a plain `cargo test` runs.
const DEFAULT_SEEDS: u64 = 2_000;

/// The seeds to run: `SEGLOG_SIM_SEED`, else `SEGLOG_SIM_SEEDS`, else the
/// default.
fn seeds() -> std::ops::Range<u64> {
    if let Some(seed) = env_u64("SEGLOG_SIM_SEED") {
        return seed..seed + 1;
    }
    let Ok(value) = std::env::var("SEGLOG_SIM_SEEDS") else {
        return 0..DEFAULT_SEEDS;
    };
    let number = |s: &str| -> u64 {
        s.trim()
            .parse()
            .unwrap_or_else(|_| panic!("SEGLOG_SIM_SEEDS must be n or a..b, not {value:?}"))
    };
    match value.split_once("..") {
        Some((a, b)) => number(a)..number(b),
        None => 0..number(&value),
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {value:?}")),
    )
}

fn report(seed: u64, failure: &Failure) -> String {
    format!(
        "seed {seed} failed at step {}: {}\nparams: {:?}\nreplay with SEGLOG_SIM_SEED={seed} \
         cargo test --test replication_sim\nlast steps:\n{}",
        failure.step,
        failure.message,
        failure.params,
        failure.trace.join("\n")
    )
}

#[test]
fn replicas_keep_acknowledged_records_through_random_faults() {
    let seeds: Vec<u64> = seeds().collect();
    let mut total = Stats::default();
    for &seed in &seeds {
        match World::new(seed).run() {
            Ok(stats) => {
                total.steps += stats.steps;
                total.acked += stats.acked;
                total.consumed += stats.consumed;
                total.crashes += stats.crashes;
                total.elections += stats.elections;
                total.truncations += stats.truncations;
                total.messages += stats.messages;
            }
            Err(failure) => panic!("{}", report(seed, &failure)),
        }
    }
    eprintln!("{} seeds: {total:?}", seeds.len());
    // The runs did what they are for: records acknowledged and read,
    // replicas crashed, leaders changed, logs truncated.
    if seeds.len() >= 50 {
        assert!(total.acked > 0 && total.consumed > 0, "{total:?}");
        assert!(
            total.crashes > 0 && total.elections > seeds.len() as u64,
            "{total:?}"
        );
        assert!(total.truncations > 0, "{total:?}");
    }
}

#[test]
fn a_seed_replays_the_same_run() {
    let a = World::new(12_345).run().map_err(|f| report(12_345, &f));
    let b = World::new(12_345).run().map_err(|f| report(12_345, &f));
    assert_eq!(a.unwrap(), b.unwrap());
}

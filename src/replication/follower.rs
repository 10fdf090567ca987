//! [`Follower`]: the fetch loop of a follower replica, over the host's
//! transport ([`LeaderLink`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::fetch::{FetchRequest, FetchResponse};
use super::{FollowerAppend, ReplicatedPartition};
use crate::error::{Error, Result};

/// How a follower reaches its leader: the one thing a host writes to
/// replicate a partition. It carries a [`FetchRequest`] to the leader
/// replica (which answers with
/// [`ReplicatedPartition::serve_fetch`]) and returns the answer; the
/// request and the answer have a wire form
/// ([`FetchRequest::encode`], [`FetchResponse::encode`]) for byte streams.
pub trait LeaderLink {
    /// Sends `request` to the leader and returns its answer.
    ///
    /// # Errors
    /// Whatever the transport fails with; the [`Follower`] retries on its
    /// next round.
    fn fetch(&mut self, request: &FetchRequest) -> Result<FetchResponse>;
}

impl<F: FnMut(&FetchRequest) -> Result<FetchResponse>> LeaderLink for F {
    fn fetch(&mut self, request: &FetchRequest) -> Result<FetchResponse> {
        self(request)
    }
}

/// One fetch round's outcome, from [`Follower::fetch_once`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRound {
    /// What applying the answer did.
    pub applied: FollowerAppend,
    /// The leader's log end offset, as it answered.
    pub leader_log_end_offset: u64,
    /// Whether the follower's log now ends where the leader's did.
    pub caught_up: bool,
}

/// Runs a follower's fetch loop: each round asks the leader for what
/// follows the local log ([`ReplicatedPartition::fetch_request`]) and
/// applies the answer ([`ReplicatedPartition::append_as_follower`]),
/// which appends, or truncates where the logs diverge and asks again.
///
/// # Examples
///
/// ```
/// use seglog::replication::{Acks, Follower, ReplicatedPartition, ReplicationConfig};
/// use seglog::{LogConfig, PartitionLog, Record};
///
/// let dir = tempfile::tempdir()?;
/// let open = |name: &str| PartitionLog::open(dir.path().join(name), LogConfig::default());
/// let leader = ReplicatedPartition::new(open("a/t-0")?, 1, ReplicationConfig::default())?;
/// let replica = ReplicatedPartition::new(open("b/t-0")?, 2, ReplicationConfig::default())?;
/// leader.become_leader(1, &[1, 2], &[1, 2])?;
/// replica.become_follower(1, 1)?;
/// leader.append(&[Record::new("a"), Record::new("b")], Acks::Leader)?;
///
/// // The link: here a direct call; a host sends the request's bytes over
/// // its own transport to where the leader runs.
/// let link = |request: &_| leader.serve_fetch(request);
/// let mut follower = Follower::new(replica.clone(), link);
/// follower.catch_up(10)?;
/// assert_eq!(replica.log().log_end_offset(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Follower<L> {
    partition: ReplicatedPartition,
    link: L,
    max_bytes: u64,
    max_wait: Duration,
}

impl<L: LeaderLink> Follower<L> {
    /// A follower loop for `partition` (which the host made a follower)
    /// over `link`, fetching up to 1 MiB a round.
    pub fn new(partition: ReplicatedPartition, link: L) -> Self {
        Follower {
            partition,
            link,
            max_bytes: 1 << 20,
            max_wait: Duration::ZERO,
        }
    }

    /// Lets the leader hold each fetch up to `max_wait` until it has
    /// something new ([`FetchRequest::max_wait_ms`]; Kafka's
    /// `replica.fetch.wait.max.ms`, 500 ms there). Without it (the
    /// default) every fetch is answered at once, and [`run`](Self::run)
    /// pauses between rounds that bring nothing.
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Sets how many bytes each fetch asks for (Kafka's
    /// `replica.fetch.max.bytes`; at least one batch always comes).
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes.max(1);
        self
    }

    /// The partition this loop feeds.
    pub fn partition(&self) -> &ReplicatedPartition {
        &self.partition
    }

    /// The link, for a host that re-targets it after a leader change.
    pub fn link_mut(&mut self) -> &mut L {
        &mut self.link
    }

    /// One round: fetch, then apply the answer.
    ///
    /// # Errors
    /// The link's errors; and as
    /// [`ReplicatedPartition::append_as_follower`] ([`Error::NotLeader`],
    /// [`Error::Fenced`] and [`Error::UnknownLeaderEpoch`] mean the host
    /// has a role change to make or deliver).
    pub fn fetch_once(&mut self) -> Result<FetchRound> {
        let mut request = self.partition.fetch_request(self.max_bytes);
        request.max_wait_ms = u64::try_from(self.max_wait.as_millis()).unwrap_or(u64::MAX);
        let response = self.link.fetch(&request)?;
        let applied = self.partition.append_as_follower(&response)?;
        let leo = self.partition.log().log_end_offset();
        Ok(FetchRound {
            caught_up: response.error.is_none()
                && response.diverging_epoch.is_none()
                && leo >= response.log_end_offset,
            leader_log_end_offset: response.log_end_offset,
            applied,
        })
    }

    /// Fetches until the follower's log ends where the leader's did, for
    /// at most `max_rounds` rounds. Returns whether it caught up.
    ///
    /// # Errors
    /// As [`fetch_once`](Self::fetch_once).
    pub fn catch_up(&mut self, max_rounds: usize) -> Result<bool> {
        for _ in 0..max_rounds {
            if self.fetch_once()?.caught_up {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Fetches until `stop` is set, pausing `idle` after a round that
    /// brought nothing new or failed for a reason another round may not
    /// have: the link failed, or a role change is on its way
    /// ([`Error::NotLeader`], [`Error::Fenced`],
    /// [`Error::UnknownLeaderEpoch`]; the host delivers it from another
    /// thread with [`ReplicatedPartition::become_follower`]).
    ///
    /// # Errors
    /// Failures of the local log, which no later round fixes:
    /// [`Error::Corrupt`], [`Error::Closed`], [`Error::Poisoned`] (a failed
    /// local write poisons the log).
    pub fn run(&mut self, stop: &AtomicBool, idle: Duration) -> Result<()> {
        while !stop.load(Ordering::Acquire) {
            match self.fetch_once() {
                Ok(round) => {
                    let progressed = round.applied.appended.is_some()
                        || round.applied.truncated_to.is_some()
                        || round.applied.started_at.is_some();
                    if !progressed && self.max_wait.is_zero() {
                        std::thread::sleep(idle);
                    }
                }
                Err(e @ (Error::Corrupt { .. } | Error::Closed | Error::Poisoned { .. })) => {
                    return Err(e)
                }
                Err(_) => std::thread::sleep(idle),
            }
        }
        Ok(())
    }
}

//! The leader's side of a [`ReplicatedPartition`]: appends with `acks`,
//! follower fetches, and the ISR's upkeep.

use std::time::{Duration, Instant};

use super::fetch::{FetchError, FetchRequest, FetchResponse, LeaderFetch};
use super::partition::{RoleState, State, RECHECK};
use super::truncation::{check_last_fetched_epoch, FetchEpochCheck};
use super::{Acks, ReplicaId, ReplicatedPartition};
use crate::config::Durability;
use crate::error::{Error, Result};
use crate::log::{AppendInfo, FetchData, PartitionLog};
use crate::record::AsRecord;
use crate::segment::{lock, read_lock};

impl ReplicatedPartition {
    /// Appends `records` as the leader (offsets from the log end, this
    /// epoch stamped), with `acks` as a Kafka producer asks: the returned
    /// [`PendingAppend`] completes at once for [`Acks::None`] and
    /// [`Acks::Leader`], and for [`Acks::All`] when the high watermark
    /// passes the records.
    ///
    /// # Errors
    /// [`Error::NotLeader`]; for [`Acks::All`], [`Error::NotEnoughReplicas`]
    /// when the ISR is smaller than `min.insync.replicas` (nothing is
    /// written); and as [`PartitionLog::append`].
    pub fn append<R: AsRecord>(&self, records: &[R], acks: Acks) -> Result<PendingAppend> {
        self.append_as_leader(acks, |log| log.append(records))
    }

    /// [`append`](Self::append) with an explicit durability (as
    /// [`PartitionLog::append_with`]).
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub fn append_with<R: AsRecord>(
        &self,
        records: &[R],
        durability: Durability,
        acks: Acks,
    ) -> Result<PendingAppend> {
        self.append_as_leader(acks, |log| log.append_with(records, durability))
    }

    /// [`append`](Self::append) for batches encoded by a producer (as
    /// [`PartitionLog::append_encoded`]).
    ///
    /// # Errors
    /// As [`append`](Self::append) and [`PartitionLog::append_encoded`].
    pub fn append_encoded(&self, batches: &[u8], acks: Acks) -> Result<PendingAppend> {
        self.append_as_leader(acks, |log| log.append_encoded(batches))
    }

    fn append_as_leader(
        &self,
        acks: Acks,
        write: impl FnOnce(&PartitionLog) -> Result<AppendInfo>,
    ) -> Result<PendingAppend> {
        self.shrink_isr_if_due()?;
        let s = &*self.shared;
        let _role = read_lock(&s.role_lock);
        let generation = {
            let st = lock(&s.state);
            let RoleState::Leader(ls) = &st.role else {
                return Err(self.not_leader(&st));
            };
            if acks == Acks::All {
                if let Some((isr, min_insync)) = self.isr_shortfall(ls) {
                    return Err(Error::NotEnoughReplicas { isr, min_insync });
                }
            }
            st.generation
        };
        let info = write(&s.log)?;
        let mut st = lock(&s.state);
        let moved = self.advance_high_watermark(&mut st, s.clock.now_ms());
        drop(st);
        // Wakes follower fetches held for new records.
        s.appended.notify_all();
        if moved {
            s.changed.notify_all();
        }
        Ok(PendingAppend {
            partition: self.clone(),
            info,
            acks,
            generation,
        })
    }

    /// Answers a follower's fetch as the leader (Kafka's
    /// `Partition.fetchRecords` for a replica): checks the request's
    /// leader epoch and its last fetched epoch against the leader-epoch
    /// cache (answering a diverging epoch, and no records, when they
    /// disagree), reads from the fetch offset, records the follower's log
    /// end offset and caught-up time, proposes adding it to the ISR when
    /// it caught up, and moves the high watermark.
    ///
    /// # Errors
    /// [`Error::NotLeader`]; [`Error::Fenced`] or
    /// [`Error::UnknownLeaderEpoch`] for a request at another epoch;
    /// [`Error::UnknownReplica`]; [`Error::OffsetOutOfRange`] for a fetch
    /// offset outside the log, or a last fetched epoch the cache cannot
    /// place (the error's offsets are the leader's log start and end);
    /// [`Error::Io`], [`Error::Corrupt`].
    pub fn fetch_for_follower(&self, request: &FetchRequest) -> Result<LeaderFetch> {
        self.shrink_isr_if_due()?;
        let s = &*self.shared;
        let now = s.clock.now_ms();
        let mut st = lock(&s.state);
        let epoch = st.epoch;
        let not_leader = self.not_leader(&st);
        let RoleState::Leader(ls) = &mut st.role else {
            return Err(not_leader);
        };
        match request.current_leader_epoch {
            Some(e) if e < epoch => {
                return Err(Error::Fenced {
                    epoch: e,
                    current: epoch,
                })
            }
            Some(e) if e > epoch => {
                return Err(Error::UnknownLeaderEpoch {
                    epoch: e,
                    current: epoch,
                })
            }
            _ => {}
        }
        if request.replica == s.local || !ls.replicas().contains(&request.replica) {
            return Err(Error::UnknownReplica {
                replica: request.replica,
            });
        }
        let start = s.log.log_start_offset();
        let leo = s.log.log_end_offset();
        let out_of_range = Error::OffsetOutOfRange {
            requested: request.fetch_offset,
            earliest: start,
            latest: leo,
        };
        if let Some(last) = request.last_fetched_epoch {
            let answer = s.log.end_offset_for_epoch(last);
            match check_last_fetched_epoch(answer, last, request.fetch_offset, start) {
                FetchEpochCheck::Read => {}
                FetchEpochCheck::OffsetOutOfRange => return Err(out_of_range),
                FetchEpochCheck::Diverging(diverging) => {
                    return Ok(LeaderFetch {
                        data: FetchData::empty(request.fetch_offset, start, leo),
                        leader_epoch: epoch,
                        high_watermark: ls.high_watermark(),
                        log_start_offset: start,
                        log_end_offset: leo,
                        diverging_epoch: Some(diverging),
                    });
                }
            }
        }
        if request.fetch_offset < start || request.fetch_offset > leo {
            return Err(out_of_range);
        }
        let data = s.log.read(request.fetch_offset, request.max_bytes)?;
        ls.record_fetch(
            request.replica,
            request.fetch_offset,
            request.log_start_offset,
            leo,
            now,
        )
        .map_err(|u| Error::UnknownReplica { replica: u.0 })?;
        let expansion = ls
            .expanded_isr(request.replica)
            .map(|isr| (ls.isr().to_vec(), isr));
        if expansion.is_some() {
            // Before the high watermark moves: the follower has all below
            // it now, and it must not join lacking what the watermark
            // passes while the host decides (Kafka's maximal ISR).
            ls.begin_joining(request.replica);
        }
        let moved = self.advance_high_watermark(&mut st, now);
        let high_watermark = s.log.high_watermark();
        drop(st);
        if moved {
            s.changed.notify_all();
        }
        if let Some((from, isr)) = expansion {
            // Ends the joining however the proposal ends, a listener's
            // panic included: a follower left joining would hold the high
            // watermark for ever.
            let _joining = Joining {
                partition: self,
                replica: request.replica,
            };
            self.propose_isr(epoch, &from, isr)?;
        }
        let (data, high_watermark) = if data.is_empty() && request.max_wait_ms > 0 {
            self.hold_fetch(request)?.unwrap_or((data, high_watermark))
        } else {
            (data, high_watermark)
        };
        Ok(LeaderFetch {
            data,
            leader_epoch: epoch,
            high_watermark,
            log_start_offset: start,
            log_end_offset: leo,
            diverging_epoch: None,
        })
    }

    /// Holds a fetch that found nothing until a record arrives after its
    /// fetch offset, the role changes, or `max_wait_ms` passes (Kafka's
    /// delayed fetch). Returns the batches and high watermark to answer
    /// with, `None` when nothing came.
    fn hold_fetch(&self, request: &FetchRequest) -> Result<Option<(FetchData, u64)>> {
        let s = &*self.shared;
        let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms);
        let mut st = lock(&s.state);
        let generation = st.generation;
        loop {
            if st.generation != generation || s.log.is_closed() {
                return Ok(None);
            }
            if s.log.log_end_offset() > request.fetch_offset {
                let data = s.log.read(request.fetch_offset, request.max_bytes)?;
                return Ok(Some((data, s.log.high_watermark())));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            st = s
                .appended
                .wait_timeout(st, (deadline - now).min(RECHECK))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// [`fetch_for_follower`](Self::fetch_for_follower) with an owned
    /// answer for a host that sends it over its own transport: the
    /// errors a follower acts on (out of range, not leader, fenced or
    /// unknown epoch) are answered as [`FetchResponse::error`], with this
    /// replica's log start and end offsets and epoch.
    ///
    /// # Errors
    /// Local failures only: [`Error::Io`], [`Error::Corrupt`],
    /// [`Error::Closed`].
    pub fn serve_fetch(&self, request: &FetchRequest) -> Result<FetchResponse> {
        match self.fetch_for_follower(request) {
            Ok(fetch) => fetch.to_response(),
            Err(e) => {
                let Some(error) = FetchError::of(&e) else {
                    return Err(e);
                };
                Ok(FetchResponse {
                    error: Some(error),
                    leader_epoch: self.leader_epoch(),
                    high_watermark: self.high_watermark(),
                    log_start_offset: self.shared.log.log_start_offset(),
                    log_end_offset: self.shared.log.log_end_offset(),
                    diverging_epoch: None,
                    records: Vec::new(),
                })
            }
        }
    }

    /// [`maybe_shrink_isr`](Self::maybe_shrink_isr) if half of
    /// `replica.lag.time.max.ms` passed since the last check (Kafka's
    /// schedule for it): run by appends, follower fetches and `acks=all`
    /// waits, so a leader shrinks its ISR in time on its own.
    pub(super) fn shrink_isr_if_due(&self) -> Result<()> {
        let s = &*self.shared;
        let now = s.clock.now_ms();
        let period = i64::try_from(s.config.replica_lag_time_max_ms / 2).unwrap_or(i64::MAX);
        {
            let mut st = lock(&s.state);
            if !matches!(st.role, RoleState::Leader(_))
                || now.saturating_sub(st.last_isr_check_ms) < period
            {
                return Ok(());
            }
            st.last_isr_check_ms = now;
        }
        self.maybe_shrink_isr().map(|_| ())
    }

    /// Removes from the ISR the followers that are not caught up: that
    /// have not reached the leader's log end offset within
    /// `replica.lag.time.max.ms` (Kafka's `maybeShrinkIsr`). The change is
    /// proposed to the listener. Returns the new ISR if it changed. A
    /// leader runs it on its own every half of that time, when it appends,
    /// serves a fetch or waits for `acks=all`; a host may call it too. A
    /// leader whose log is closed proposes nothing.
    ///
    /// # Errors
    /// [`Error::Io`] if the high watermark could not be recorded.
    pub fn maybe_shrink_isr(&self) -> Result<Option<Vec<ReplicaId>>> {
        let s = &*self.shared;
        let proposal = {
            let st = lock(&s.state);
            let RoleState::Leader(ls) = &st.role else {
                return Ok(None);
            };
            let now = s.clock.now_ms();
            let out = ls.out_of_sync_replicas(
                s.log.log_end_offset(),
                now,
                s.config.replica_lag_time_max_ms,
            );
            if out.is_empty() {
                return Ok(None);
            }
            (st.epoch, ls.isr().to_vec(), ls.shrunk_isr(&out))
        };
        let (epoch, from, isr) = proposal;
        Ok(self.propose_isr(epoch, &from, isr.clone())?.then_some(isr))
    }
}

/// A follower proposed for the ISR, until the proposal is answered.
struct Joining<'a> {
    partition: &'a ReplicatedPartition,
    replica: ReplicaId,
}

impl Drop for Joining<'_> {
    fn drop(&mut self) {
        self.partition.end_joining(self.replica);
    }
}

/// An append made as leader, to wait on for its `acks`.
#[derive(Debug)]
#[must_use = "an acks=all append is acknowledged only once `wait` says so"]
pub struct PendingAppend {
    partition: ReplicatedPartition,
    info: AppendInfo,
    acks: Acks,
    generation: u64,
}

impl PendingAppend {
    /// What the append wrote to the leader's log.
    pub fn info(&self) -> &AppendInfo {
        &self.info
    }

    /// Whether the append is acknowledged now, without waiting: always for
    /// [`Acks::None`] and [`Acks::Leader`]; for [`Acks::All`] once the
    /// high watermark passed its last offset.
    ///
    /// # Errors
    /// [`Error::NotLeader`] if the role changed since the append (its
    /// records may be truncated away by the new leader);
    /// [`Error::NotEnoughReplicasAfterAppend`] if the high watermark passed
    /// the records while the ISR was below `min.insync.replicas`;
    /// [`Error::Closed`] if the log was closed.
    pub fn poll(&self) -> Result<bool> {
        if self.acks != Acks::All {
            return Ok(true);
        }
        let p = &*self.partition.shared;
        let st = lock(&p.state);
        self.check(&st)
    }

    fn check(&self, st: &State) -> Result<bool> {
        let p = &*self.partition.shared;
        if p.log.is_closed() {
            return Err(Error::Closed);
        }
        let RoleState::Leader(ls) = &st.role else {
            return Err(self.partition.not_leader(st));
        };
        if st.generation != self.generation {
            return Err(self.partition.not_leader(st));
        }
        if p.log.high_watermark() <= self.info.last_offset {
            return Ok(false);
        }
        match self.partition.isr_shortfall(ls) {
            Some((isr, min_insync)) => Err(Error::NotEnoughReplicasAfterAppend {
                last_offset: self.info.last_offset,
                isr,
                min_insync,
            }),
            None => Ok(true),
        }
    }

    /// Waits up to `timeout` for the append to be acknowledged
    /// ([`poll`](Self::poll)), and returns what it wrote.
    ///
    /// # Errors
    /// As [`poll`](Self::poll), and [`Error::ReplicationTimeout`] when the
    /// time ran out first (the records stay in the log and may still be
    /// replicated).
    pub fn wait(self, timeout: Duration) -> Result<AppendInfo> {
        if self.acks != Acks::All {
            return Ok(self.info);
        }
        let p = &*self.partition.shared;
        let deadline = Instant::now() + timeout;
        loop {
            // Followers that stopped fetching leave the ISR in time even
            // if nothing else happens to the partition.
            self.partition.shrink_isr_if_due()?;
            let st = lock(&p.state);
            if self.check(&st)? {
                return Ok(self.info);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::ReplicationTimeout {
                    last_offset: self.info.last_offset,
                    high_watermark: p.log.high_watermark(),
                });
            }
            drop(
                p.changed
                    .wait_timeout(st, (deadline - now).min(RECHECK))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0),
            );
        }
    }
}

//! The follower's side of a [`ReplicatedPartition`]: its fetch request,
//! and applying the leader's answer (appends, truncation).

use super::fetch::{FetchError, FetchRequest, FetchResponse};
use super::partition::RoleState;
use super::truncation::{out_of_range_action, truncation_for_diverging_epoch, OutOfRangeAction};
use super::ReplicatedPartition;
use crate::error::{Error, Result};
use crate::log::AppendInfo;
use crate::segment::{lock, read_lock};

impl ReplicatedPartition {
    /// The fetch this follower sends next: from its log end offset, with
    /// its latest cached epoch and its current leader epoch.
    pub fn fetch_request(&self, max_bytes: u64) -> FetchRequest {
        let log = &self.shared.log;
        FetchRequest {
            replica: self.shared.local,
            fetch_offset: log.log_end_offset(),
            log_start_offset: log.log_start_offset(),
            last_fetched_epoch: log.latest_leader_epoch(),
            current_leader_epoch: Some(self.leader_epoch()),
            max_bytes,
            max_wait_ms: 0,
        }
    }

    /// Applies the leader's answer to this follower's fetch (Kafka's
    /// `appendAsFollower` and the fetcher's truncation):
    ///
    /// * records are appended with the leader's offsets and epochs; the
    ///   high watermark becomes `min(leader's, log end offset)` and the
    ///   log start offset rises to the leader's (up to that high
    ///   watermark);
    /// * a diverging epoch truncates the log where it and the leader's
    ///   agree (KAFKA-REFERENCE 6.5); [`FollowerAppend::complete`] is
    ///   false when the next fetch must ask again;
    /// * out of range: a leader whose log ends below this one's truncates
    ///   it there; a leader whose log starts above this one's end makes
    ///   it start over, empty, at the leader's start.
    ///
    /// # Errors
    /// [`Error::NotLeader`] when this replica is not a follower, or the
    /// leader answered that it is not the leader; [`Error::Fenced`] for a
    /// response from an older epoch (it is dropped) and
    /// [`Error::UnknownLeaderEpoch`] for one from a newer; and as
    /// [`PartitionLog::append_replicated`](crate::PartitionLog::append_replicated) and
    /// [`PartitionLog::truncate_to`](crate::PartitionLog::truncate_to).
    pub fn append_as_follower(&self, response: &FetchResponse) -> Result<FollowerAppend> {
        let s = &*self.shared;
        let _role = read_lock(&s.role_lock);
        {
            let st = lock(&s.state);
            let RoleState::Follower { leader } = st.role else {
                return Err(self.not_leader(&st));
            };
            match response.error {
                Some(FetchError::NotLeaderOrFollower) => {
                    return Err(Error::NotLeader {
                        leader: Some(leader),
                    })
                }
                Some(FetchError::FencedLeaderEpoch) => {
                    return Err(Error::Fenced {
                        epoch: st.epoch,
                        current: response.leader_epoch,
                    })
                }
                Some(FetchError::UnknownLeaderEpoch) => {
                    return Err(Error::UnknownLeaderEpoch {
                        epoch: st.epoch,
                        current: response.leader_epoch,
                    })
                }
                _ => {}
            }
            if response.leader_epoch < st.epoch {
                return Err(Error::Fenced {
                    epoch: response.leader_epoch,
                    current: st.epoch,
                });
            }
            if response.leader_epoch > st.epoch {
                return Err(Error::UnknownLeaderEpoch {
                    epoch: response.leader_epoch,
                    current: st.epoch,
                });
            }
        }
        let log = &s.log;
        let mut outcome = FollowerAppend {
            appended: None,
            truncated_to: None,
            started_at: None,
            complete: true,
            high_watermark: log.high_watermark(),
        };
        if response.error == Some(FetchError::OffsetOutOfRange) {
            let leo = log.log_end_offset();
            match out_of_range_action(leo, response.log_start_offset, response.log_end_offset) {
                OutOfRangeAction::TruncateTo(to) => {
                    log.truncate_to(to)?;
                    // A batch holding `to` goes whole: the log may end below.
                    outcome.truncated_to = Some(log.log_end_offset());
                }
                OutOfRangeAction::StartAt(at) => {
                    log.truncate_fully_and_start_at(at)?;
                    outcome.started_at = Some(at);
                }
                OutOfRangeAction::FetchFrom(_) => {}
            }
        } else if let Some(diverging) = response.diverging_epoch {
            let leo = log.log_end_offset();
            let ours = log.end_offset_for_epoch(diverging.epoch);
            let decision =
                truncation_for_diverging_epoch(diverging, ours, leo, log.high_watermark());
            if decision.truncate_to < leo {
                log.truncate_to(decision.truncate_to)?;
                outcome.truncated_to = Some(log.log_end_offset());
            } else {
                // An epoch begun at the log end (led without writing) holds
                // no records but would be asked about again for ever.
                log.truncate_epochs_from(decision.truncate_to)?;
            }
            outcome.complete = decision.complete;
        } else {
            if !response.records.is_empty() {
                outcome.appended = Some(log.append_replicated(&response.records)?);
            }
            let hw = response.high_watermark.min(log.log_end_offset());
            log.set_high_watermark(hw);
            let start = response.log_start_offset.min(log.high_watermark());
            if start > log.log_start_offset() {
                log.advance_log_start_offset(start)?;
            }
        }
        outcome.high_watermark = log.high_watermark();
        Ok(outcome)
    }
}

/// What [`ReplicatedPartition::append_as_follower`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerAppend {
    /// The batches appended, if the response carried any.
    pub appended: Option<AppendInfo>,
    /// The log was truncated and now ends at this offset (a diverging
    /// epoch, or a leader whose log ends below this one's); below the
    /// offset asked for when a batch held it, as batches go whole.
    pub truncated_to: Option<u64>,
    /// The log started over, empty, at this offset (the leader's log
    /// start was above this one's end).
    pub started_at: Option<u64>,
    /// False when the truncation was one round of several: the next fetch
    /// (with the new latest epoch) asks again.
    pub complete: bool,
    /// The follower's high watermark afterwards.
    pub high_watermark: u64,
}

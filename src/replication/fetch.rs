//! What a follower asks its leader for and what it gets back, and a
//! compact binary form of both for hosts that move them over a byte
//! stream.
//!
//! The leader answers with [`LeaderFetch`]: the batches as file ranges
//! (zero-copy, as [`PartitionLog::read`](crate::PartitionLog::read)), to
//! send with `sendfile` or read into a buffer. [`FetchResponse`] is the
//! owned form a follower applies; [`LeaderFetch::to_response`] reads the
//! ranges into one, and
//! [`ReplicatedPartition::serve_fetch`](super::ReplicatedPartition::serve_fetch)
//! answers a request with one directly, errors included.
//!
//! # Wire form
//!
//! Big-endian, versioned by a leading byte (0):
//!
//! ```text
//! request:  version:u8 replica:i32 fetch_offset:u64 log_start:u64
//!           last_fetched_epoch:i32 current_leader_epoch:i32 max_bytes:u64
//!           max_wait_ms:u64
//! response: version:u8 error:i16 leader_epoch:i32 high_watermark:u64
//!           log_start:u64 log_end:u64 diverging_epoch:i32
//!           diverging_end_offset:i64 records_len:u32 records
//! ```
//!
//! An absent epoch is -1; an absent diverging epoch is `(-1, -1)`; the
//! error codes are Kafka's (0 none, 1 OFFSET_OUT_OF_RANGE, 6
//! NOT_LEADER_OR_FOLLOWER, 74 FENCED_LEADER_EPOCH, 76
//! UNKNOWN_LEADER_EPOCH).

use super::epoch_cache::{EpochEndOffset, UNDEFINED_EPOCH};
use super::ReplicaId;
use crate::error::{Error, Result};
use crate::log::FetchData;

/// A follower's fetch (Kafka's Fetch request for one partition, from a
/// replica).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchRequest {
    /// The follower's replica id.
    pub replica: ReplicaId,
    /// Where to read from: the follower's log end offset.
    pub fetch_offset: u64,
    /// The follower's log start offset.
    pub log_start_offset: u64,
    /// The epoch of the last batch the follower holds (its latest cached
    /// epoch), checked against the leader's cache; `None` skips the check.
    pub last_fetched_epoch: Option<i32>,
    /// The leader epoch the follower believes current; a leader at
    /// another epoch refuses the fetch. `None` skips the check.
    pub current_leader_epoch: Option<i32>,
    /// At most this many bytes of batches (at least one batch is sent).
    pub max_bytes: u64,
    /// How long the leader may hold the fetch when it has nothing after
    /// the fetch offset, answering as soon as a record arrives (Kafka's
    /// `replica.fetch.wait.max.ms`, default 500 there). 0 answers at once.
    pub max_wait_ms: u64,
}

/// Why a leader did not serve a fetch, as carried in a [`FetchResponse`]
/// (each with Kafka's error code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchError {
    /// The fetch offset is outside the leader's log, or the leader cannot
    /// place the last fetched epoch (`OFFSET_OUT_OF_RANGE`, 1). The
    /// response's log start and end offsets say where the leader's log is.
    OffsetOutOfRange,
    /// The replica asked is not the leader, or the fetching replica is not
    /// assigned (`NOT_LEADER_OR_FOLLOWER`, 6).
    NotLeaderOrFollower,
    /// The fetch's leader epoch is older than the leader's
    /// (`FENCED_LEADER_EPOCH`, 74).
    FencedLeaderEpoch,
    /// The fetch's leader epoch is newer than the leader knows
    /// (`UNKNOWN_LEADER_EPOCH`, 76).
    UnknownLeaderEpoch,
}

impl FetchError {
    /// Kafka's error code.
    pub fn code(self) -> i16 {
        match self {
            FetchError::OffsetOutOfRange => 1,
            FetchError::NotLeaderOrFollower => 6,
            FetchError::FencedLeaderEpoch => 74,
            FetchError::UnknownLeaderEpoch => 76,
        }
    }

    /// The error with Kafka's code `code`; `None` for 0 or an unknown code.
    pub fn from_code(code: i16) -> Option<Self> {
        Some(match code {
            1 => FetchError::OffsetOutOfRange,
            6 => FetchError::NotLeaderOrFollower,
            74 => FetchError::FencedLeaderEpoch,
            76 => FetchError::UnknownLeaderEpoch,
            _ => return None,
        })
    }

    /// The fetch error a leader-side [`Error`] is answered with, if it is
    /// one a follower acts on.
    pub(crate) fn of(error: &Error) -> Option<Self> {
        Some(match error {
            Error::OffsetOutOfRange { .. } => FetchError::OffsetOutOfRange,
            Error::NotLeader { .. } | Error::UnknownReplica { .. } => {
                FetchError::NotLeaderOrFollower
            }
            Error::Fenced { .. } => FetchError::FencedLeaderEpoch,
            Error::UnknownLeaderEpoch { .. } => FetchError::UnknownLeaderEpoch,
            _ => return None,
        })
    }
}

/// The leader's answer to a [`FetchRequest`], zero-copy.
#[derive(Debug, Clone)]
pub struct LeaderFetch {
    /// The batches from the fetch offset on (whole batches; the first may
    /// start before it). Empty when the logs diverge.
    pub data: FetchData,
    /// The leader's epoch.
    pub leader_epoch: i32,
    /// The leader's high watermark after this fetch was recorded.
    pub high_watermark: u64,
    /// The leader's log start offset.
    pub log_start_offset: u64,
    /// The leader's log end offset.
    pub log_end_offset: u64,
    /// Set when the follower's last fetched epoch disagrees with the
    /// leader's cache: the largest epoch the leader has at or below it and
    /// where that epoch ends on the leader. The follower truncates (see
    /// [`ReplicatedPartition::append_as_follower`](super::ReplicatedPartition::append_as_follower)).
    pub diverging_epoch: Option<EpochEndOffset>,
}

impl LeaderFetch {
    /// The owned response: the ranges read into one buffer.
    ///
    /// # Errors
    /// [`Error::Io`] if a range cannot be read.
    pub fn to_response(&self) -> Result<FetchResponse> {
        Ok(FetchResponse {
            error: None,
            leader_epoch: self.leader_epoch,
            high_watermark: self.high_watermark,
            log_start_offset: self.log_start_offset,
            log_end_offset: self.log_end_offset,
            diverging_epoch: self.diverging_epoch,
            records: self.data.to_vec()?,
        })
    }
}

/// A fetch answer a follower applies
/// ([`ReplicatedPartition::append_as_follower`](super::ReplicatedPartition::append_as_follower)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchResponse {
    /// Why the leader did not serve the fetch; `None` when it did.
    pub error: Option<FetchError>,
    /// The leader's epoch (-1 when unknown, with an error).
    pub leader_epoch: i32,
    /// The leader's high watermark.
    pub high_watermark: u64,
    /// The leader's log start offset.
    pub log_start_offset: u64,
    /// The leader's log end offset.
    pub log_end_offset: u64,
    /// See [`LeaderFetch::diverging_epoch`].
    pub diverging_epoch: Option<EpochEndOffset>,
    /// Whole record batches, with the leader's offsets and epochs.
    pub records: Vec<u8>,
}

const VERSION: u8 = 0;
const REQUEST_LEN: usize = 1 + 4 + 8 + 8 + 4 + 4 + 8 + 8;
const RESPONSE_HEADER_LEN: usize = 1 + 2 + 4 + 8 + 8 + 8 + 4 + 8 + 4;

impl FetchRequest {
    /// The request in its wire form (see the module docs).
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::replication::FetchRequest;
    /// let request = FetchRequest {
    ///     replica: 2,
    ///     fetch_offset: 100,
    ///     log_start_offset: 0,
    ///     last_fetched_epoch: Some(3),
    ///     current_leader_epoch: Some(4),
    ///     max_bytes: 1 << 20,
    ///     max_wait_ms: 500,
    /// };
    /// assert_eq!(FetchRequest::decode(&request.encode())?, request);
    /// assert!(FetchRequest::decode(&[0, 1, 2]).is_err());
    /// # Ok::<(), seglog::Error>(())
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(REQUEST_LEN);
        out.push(VERSION);
        out.extend_from_slice(&self.replica.to_be_bytes());
        out.extend_from_slice(&self.fetch_offset.to_be_bytes());
        out.extend_from_slice(&self.log_start_offset.to_be_bytes());
        out.extend_from_slice(&epoch_or_undefined(self.last_fetched_epoch).to_be_bytes());
        out.extend_from_slice(&epoch_or_undefined(self.current_leader_epoch).to_be_bytes());
        out.extend_from_slice(&self.max_bytes.to_be_bytes());
        out.extend_from_slice(&self.max_wait_ms.to_be_bytes());
        out
    }

    /// Parses the wire form.
    ///
    /// # Errors
    /// [`Error::InvalidRecord`] for bytes that are not a request of this
    /// version.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Fields::new(bytes, "fetch request")?;
        let request = FetchRequest {
            replica: r.i32()?,
            fetch_offset: r.u64()?,
            log_start_offset: r.u64()?,
            last_fetched_epoch: defined_epoch(r.i32()?),
            current_leader_epoch: defined_epoch(r.i32()?),
            max_bytes: r.u64()?,
            max_wait_ms: r.u64()?,
        };
        r.finish()?;
        Ok(request)
    }
}

impl FetchResponse {
    /// The response in its wire form (see the module docs).
    ///
    /// # Examples
    ///
    /// ```
    /// use seglog::replication::{FetchError, FetchResponse};
    /// let response = FetchResponse {
    ///     error: Some(FetchError::OffsetOutOfRange),
    ///     leader_epoch: 4,
    ///     log_start_offset: 10,
    ///     log_end_offset: 90,
    ///     ..FetchResponse::default()
    /// };
    /// assert_eq!(FetchResponse::decode(&response.encode()?)?, response);
    /// # Ok::<(), seglog::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidRecord`] if the records are 4 GiB or more.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let len = u32::try_from(self.records.len())
            .map_err(|_| Error::invalid_record("a fetch response's records must be under 4 GiB"))?;
        let mut out = Vec::with_capacity(RESPONSE_HEADER_LEN + self.records.len());
        out.push(VERSION);
        out.extend_from_slice(&self.error.map_or(0, FetchError::code).to_be_bytes());
        out.extend_from_slice(&self.leader_epoch.to_be_bytes());
        out.extend_from_slice(&self.high_watermark.to_be_bytes());
        out.extend_from_slice(&self.log_start_offset.to_be_bytes());
        out.extend_from_slice(&self.log_end_offset.to_be_bytes());
        let diverging = self.diverging_epoch.unwrap_or(EpochEndOffset::UNDEFINED);
        out.extend_from_slice(&diverging.epoch.to_be_bytes());
        out.extend_from_slice(&diverging.end_offset.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.records);
        Ok(out)
    }

    /// Parses the wire form.
    ///
    /// # Errors
    /// [`Error::InvalidRecord`] for bytes that are not a response of this
    /// version (an unknown error code included).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Fields::new(bytes, "fetch response")?;
        let code = r.i16()?;
        let error = match code {
            0 => None,
            c => Some(FetchError::from_code(c).ok_or_else(|| {
                Error::invalid_record(format!("fetch response: unknown error code {c}"))
            })?),
        };
        let leader_epoch = r.i32()?;
        let high_watermark = r.u64()?;
        let log_start_offset = r.u64()?;
        let log_end_offset = r.u64()?;
        let diverging = EpochEndOffset::new(r.i32()?, r.i64()?);
        let len = r.u32()? as usize;
        let records = r.take(len)?.to_vec();
        r.finish()?;
        Ok(FetchResponse {
            error,
            leader_epoch,
            high_watermark,
            log_start_offset,
            log_end_offset,
            diverging_epoch: (diverging != EpochEndOffset::UNDEFINED).then_some(diverging),
            records,
        })
    }
}

fn epoch_or_undefined(epoch: Option<i32>) -> i32 {
    epoch.unwrap_or(UNDEFINED_EPOCH)
}

fn defined_epoch(epoch: i32) -> Option<i32> {
    (epoch >= 0).then_some(epoch)
}

/// A bounds-checked reader of big-endian fields.
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Result<Self> {
        let mut r = Fields { bytes, at: 0, what };
        let version = r.take(1)?[0];
        if version != VERSION {
            return Err(Error::invalid_record(format!(
                "{what}: unsupported version {version}"
            )));
        }
        Ok(r)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let Some(end) = end else {
            return Err(Error::invalid_record(format!(
                "{}: {} bytes, cut short at byte {} (wanted {n} more)",
                self.what,
                self.bytes.len(),
                self.at
            )));
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn i16(&mut self) -> Result<i16> {
        self.array().map(i16::from_be_bytes)
    }

    fn i32(&mut self) -> Result<i32> {
        self.array().map(i32::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32> {
        self.array().map(u32::from_be_bytes)
    }

    fn i64(&mut self) -> Result<i64> {
        self.array().map(i64::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64> {
        self.array().map(u64::from_be_bytes)
    }

    fn finish(self) -> Result<()> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(Error::invalid_record(format!(
                "{}: {} bytes left over after the last field",
                self.what,
                self.bytes.len() - self.at
            )))
        }
    }
}

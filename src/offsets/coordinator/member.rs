//! One member of a group as the coordinator tracks it, and the ids it
//! gives new members.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// How long a member that joined without a member id may stay parked in
/// its first join before it is dropped (Kafka's internal
/// `group.classic.new.member.join.timeout.ms`): it cannot heartbeat yet,
/// so its session timeout does not guard it.
pub(super) const NEW_MEMBER_JOIN_TIMEOUT_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone)]
pub(super) struct Member {
    pub(super) id: String,
    pub(super) instance_id: Option<String>,
    pub(super) client_id: String,
    pub(super) client_host: String,
    pub(super) rebalance_timeout_ms: i32,
    pub(super) session_timeout_ms: i32,
    pub(super) protocol_type: String,
    /// Supported protocols, most preferred first, with the metadata of each.
    pub(super) protocols: Vec<(String, Vec<u8>)>,
    pub(super) assignment: Vec<u8>,
    /// Parked JoinGroup requests of the member (tickets of their waiters).
    pub(super) awaiting_join: Vec<u64>,
    /// Parked SyncGroup requests of the member.
    pub(super) awaiting_sync: Vec<u64>,
    /// Joined but not yet through a completed join phase.
    pub(super) is_new: bool,
    /// When the member's session ends unless it heartbeats, in clock ms.
    pub(super) session_deadline: i64,
}

impl Member {
    pub(super) fn is_awaiting_join(&self) -> bool {
        !self.awaiting_join.is_empty()
    }

    pub(super) fn is_awaiting_sync(&self) -> bool {
        !self.awaiting_sync.is_empty()
    }

    /// The member's metadata for `protocol`.
    pub(super) fn metadata(&self, protocol: &str) -> Option<&[u8]> {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.as_slice())
    }

    pub(super) fn supports(&self, protocol: &str) -> bool {
        self.metadata(protocol).is_some()
    }

    /// The member's most preferred protocol among `candidates`.
    pub(super) fn vote<'a>(&'a self, candidates: &[&str]) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .find(|name| candidates.contains(name))
    }

    /// Whether a member parked in a join or a sync counts as alive: it
    /// cannot heartbeat meanwhile. A new member's parked first join does
    /// not count (see [`NEW_MEMBER_JOIN_TIMEOUT_MS`]).
    fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (self.is_awaiting_join() || self.is_awaiting_sync())
    }

    /// When the member's session expires, if it can expire now.
    pub(super) fn expiry(&self) -> Option<i64> {
        (!self.has_satisfied_heartbeat()).then_some(self.session_deadline)
    }

    /// Starts a new session timeout from `now`.
    pub(super) fn touch(&mut self, now: i64) {
        self.session_deadline = now.saturating_add(i64::from(self.session_timeout_ms));
    }
}

/// The protocols of a request with each name once, keeping the first.
pub(super) fn dedup_protocols(protocols: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::with_capacity(protocols.len());
    for (name, metadata) in protocols {
        if !out.iter().any(|(seen, _)| seen == name) {
            out.push((name.clone(), metadata.clone()));
        }
    }
    out
}

/// A new member id: `prefix` (the client id, or the group instance id of a
/// static member), a dash, and 128 random bits written as a UUID, as Kafka
/// makes them. `salt` (the clock) and a process-wide counter go into the
/// randomly keyed hashes, so ids differ even if the keys repeat.
pub(super) fn generate_member_id(prefix: &str, salt: i64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut halves = [0u64; 2];
    for (i, half) in halves.iter_mut().enumerate() {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(count);
        hasher.write_i64(salt);
        hasher.write_usize(i);
        *half = hasher.finish();
    }
    let [high, low] = halves;
    // The version (4) and variant bits of a random UUID.
    let high = (high & !0xF000) | 0x4000;
    let low = (low & !(0b11 << 62)) | (0b10 << 62);
    format!(
        "{prefix}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xFFFF,
        high & 0xFFFF,
        low >> 48,
        low & 0xFFFF_FFFF_FFFF
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_are_prefixed_uuids_and_differ() {
        let a = generate_member_id("client-1", 5);
        let b = generate_member_id("client-1", 5);
        assert_ne!(a, b);
        let uuid = a.strip_prefix("client-1-").unwrap();
        let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(uuid.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert_eq!(uuid.as_bytes()[14], b'4');
    }

    #[test]
    fn duplicate_protocol_names_keep_the_first() {
        let protocols = vec![
            ("range".to_string(), vec![1]),
            ("roundrobin".to_string(), vec![2]),
            ("range".to_string(), vec![3]),
        ];
        assert_eq!(
            dedup_protocols(&protocols),
            [
                ("range".to_string(), vec![1]),
                ("roundrobin".to_string(), vec![2])
            ]
        );
    }
}

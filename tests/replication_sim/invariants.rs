//! What must hold after every step of a simulation:
//!
//! * no record acknowledged with `acks=all` is ever lost or changed: every
//!   live member of the committed ISR holds it, at its offset, with its
//!   value (so does any leader the controller elects, since it elects
//!   from the ISR);
//! * a record a consumer read (below some leader's high watermark) never
//!   disappears or changes, in the same sense;
//! * any two live replicas hold identical bytes (batch headers, leader
//!   epochs and all) below the lower of their high watermarks;
//! * a leader's high watermark never goes backwards while it leads in one
//!   epoch. Across a leader change it may: the new leader starts from its
//!   own high watermark, which may lag the old one's until its followers
//!   fetch (as in Kafka); what the old one exposed is still in its log.

use std::collections::BTreeMap;

use seglog::replication::{ReplicaId, Role};
use seglog::PartitionLog;

use super::controller::ControllerState;
use super::node::Node;

const READ_BYTES: u64 = 1 << 24;

/// The records of `log` from `from` (or its start) to its end: offset to
/// value.
pub fn log_records(log: &PartitionLog, from: u64) -> Result<BTreeMap<u64, Vec<u8>>, String> {
    let mut out = BTreeMap::new();
    let mut offset = log.log_start_offset().max(from);
    let end = log.log_end_offset();
    while offset < end {
        let fetch = log
            .read(offset, READ_BYTES)
            .map_err(|e| format!("read at {offset}: {e}"))?;
        for record in fetch.records() {
            let record = record.map_err(|e| format!("decode at {offset}: {e}"))?;
            out.insert(record.offset, record.value.unwrap_or_default());
        }
        let next = fetch.next_offset();
        if next <= offset {
            return Err(format!("read at {offset} made no progress (end {end})"));
        }
        offset = next;
    }
    Ok(out)
}

/// The bytes of `log` below `end`, whole batches.
fn bytes_below(log: &PartitionLog, end: u64) -> Result<Vec<u8>, String> {
    Ok(batches_below(log, end)?.0)
}

/// The bytes of `log` below `end`, whole batches, and the offset after
/// them.
fn batches_below(log: &PartitionLog, end: u64) -> Result<(Vec<u8>, u64), String> {
    let start = log.log_start_offset();
    if end <= start {
        return Ok((Vec::new(), start));
    }
    let fetch = log
        .read_up_to(start, READ_BYTES, end)
        .map_err(|e| format!("read below {end}: {e}"))?;
    let bytes = fetch
        .to_vec()
        .map_err(|e| format!("read below {end}: {e}"))?;
    Ok((bytes, fetch.next_offset()))
}

#[derive(Default)]
pub struct Checker {
    /// Acknowledged with `acks=all`: offset to value.
    pub acked: BTreeMap<u64, Vec<u8>>,
    /// Read by the consumer: offset to value.
    pub consumed: BTreeMap<u64, Vec<u8>>,
    /// The high watermark each leadership (replica, incarnation, epoch)
    /// last showed.
    tenures: BTreeMap<(ReplicaId, u64, i32), u64>,
    /// Bytes whose records were checked against `acked` and `consumed`,
    /// and the offset after them: a reference replica that still starts
    /// with them needs decoding only from there.
    verified: (Vec<u8>, u64),
    /// The lowest offset acknowledged or consumed since the last check.
    dirty_from: Option<u64>,
}

impl Checker {
    /// Records an acknowledgement; an offset acknowledged twice with
    /// different values means one of them was lost.
    pub fn acknowledge(&mut self, offset: u64, value: Vec<u8>) -> Result<(), String> {
        self.dirty_from = Some(self.dirty_from.map_or(offset, |d| d.min(offset)));
        if let Some(old) = self.acked.insert(offset, value.clone()) {
            if old != value {
                return Err(format!(
                    "offset {offset} acknowledged as {} and later as {}",
                    show(&old),
                    show(&value)
                ));
            }
        }
        Ok(())
    }

    /// Records a consumer's read; a different value at an offset read
    /// before means the earlier one vanished.
    pub fn consume(&mut self, offset: u64, value: Vec<u8>) -> Result<(), String> {
        self.dirty_from = Some(self.dirty_from.map_or(offset, |d| d.min(offset)));
        if let Some(old) = self.consumed.insert(offset, value.clone()) {
            if old != value {
                return Err(format!(
                    "consumer read {} at offset {offset}, and earlier {}",
                    show(&value),
                    show(&old)
                ));
            }
        }
        Ok(())
    }

    pub fn check(&mut self, nodes: &[Node], ctl: &ControllerState) -> Result<(), String> {
        self.check_tenures(nodes)?;
        self.check_kept(nodes, ctl)?;
        self.check_bytes(nodes)
    }

    /// Acknowledged and consumed records are on every live ISR member:
    /// decoded on one of them (the elected leader if it is up), and
    /// byte for byte the same on the others up to the last of them.
    fn check_kept(&mut self, nodes: &[Node], ctl: &ControllerState) -> Result<(), String> {
        let members: Vec<&Node> = nodes
            .iter()
            .filter(|n| n.is_up() && ctl.isr.contains(&n.id))
            .collect();
        let reference = members
            .iter()
            .find(|n| Some(n.id) == ctl.leader)
            .or(members.first());
        let Some(reference) = reference else {
            return Ok(());
        };
        let last = self
            .acked
            .keys()
            .next_back()
            .max(self.consumed.keys().next_back());
        let Some(&last) = last else { return Ok(()) };
        let log = reference.log().ok_or("reference is down")?;
        let (expected, next) = batches_below(log, last + 1)?;
        let from = if expected.starts_with(&self.verified.0) {
            self.dirty_from
                .map_or(self.verified.1, |d| d.min(self.verified.1))
        } else {
            0
        };
        self.check_values(reference, ctl, from)?;
        for member in &members {
            let log = member.log().ok_or("member is down")?;
            if bytes_below(log, last + 1)? != expected {
                self.check_values(member, ctl, 0)?;
                return Err(format!(
                    "ISR member {} (isr {:?}, log end {}) differs from {} below offset {}, \
                     the last acknowledged or consumed record",
                    member.id,
                    ctl.isr,
                    log.log_end_offset(),
                    reference.id,
                    last + 1
                ));
            }
        }
        self.verified = (expected, next);
        self.dirty_from = None;
        Ok(())
    }

    /// Every acknowledged and consumed record from offset `from` on is on
    /// `node`, with its value.
    fn check_values(&self, node: &Node, ctl: &ControllerState, from: u64) -> Result<(), String> {
        let log = node.log().ok_or("node is down")?;
        let records = log_records(log, from).map_err(|e| format!("node {}: {e}", node.id))?;
        for (what, expected) in [("acknowledged", &self.acked), ("consumed", &self.consumed)] {
            for (offset, value) in expected.range(from..) {
                match records.get(offset) {
                    Some(v) if v == value => {}
                    found => {
                        return Err(format!(
                            "ISR member {} (isr {:?}, log end {}): {what} record {} at \
                             offset {offset} is {}",
                            node.id,
                            ctl.isr,
                            log.log_end_offset(),
                            show(value),
                            found.map_or("missing".to_string(), |v| show(v)),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn check_tenures(&mut self, nodes: &[Node]) -> Result<(), String> {
        for node in nodes {
            let Some(part) = node.part() else { continue };
            if part.role() != Role::Leader {
                continue;
            }
            let key = (node.id, node.incarnation, part.leader_epoch());
            let hw = part.high_watermark();
            if let Some(&before) = self.tenures.get(&key) {
                if hw < before {
                    return Err(format!(
                        "leader {} at epoch {}: high watermark went back from {before} to {hw}",
                        node.id, key.2
                    ));
                }
            }
            self.tenures.insert(key, hw);
        }
        Ok(())
    }

    /// Each live replica's bytes below its high watermark are a prefix of
    /// those of every live replica with a higher one (whole batches, so
    /// equal bytes are equal batches at equal offsets).
    fn check_bytes(&self, nodes: &[Node]) -> Result<(), String> {
        let mut below_hw = Vec::new();
        for node in nodes {
            let Some(log) = node.log() else { continue };
            let hw = log.high_watermark();
            below_hw.push((node.id, hw, bytes_below(log, hw)?));
        }
        below_hw.sort_by_key(|(_, hw, _)| *hw);
        for (i, (a, hw_a, bytes_a)) in below_hw.iter().enumerate() {
            for (b, hw_b, bytes_b) in &below_hw[i + 1..] {
                if !bytes_b.starts_with(bytes_a) {
                    let first = bytes_a
                        .iter()
                        .zip(bytes_b)
                        .position(|(x, y)| x != y)
                        .unwrap_or(bytes_a.len().min(bytes_b.len()));
                    return Err(format!(
                        "nodes {a} and {b} differ below offset {hw_a} (high watermarks {hw_a} \
                         and {hw_b}): {} and {} bytes, first difference at byte {first}",
                        bytes_a.len(),
                        bytes_b.len()
                    ));
                }
            }
        }
        Ok(())
    }
}

pub fn show(value: &[u8]) -> String {
    String::from_utf8_lossy(value).into_owned()
}

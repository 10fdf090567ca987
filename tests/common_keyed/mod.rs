//! Reading a keyed log back: its records and the table they make.
#![allow(dead_code)]

use std::collections::BTreeMap;

use seglog::PartitionLog;

/// A log's records from its log start offset: (offset, key, value), a
/// tombstone's value `None`.
pub fn keyed_records(log: &PartitionLog) -> Vec<(u64, String, Option<String>)> {
    log.iter(log.log_start_offset())
        .map(|r| {
            let r = r.unwrap();
            (
                r.offset,
                String::from_utf8(r.key.unwrap_or_default()).unwrap(),
                r.value.map(|v| String::from_utf8(v).unwrap()),
            )
        })
        .collect()
}

/// The key -> value table of applying a log's records in order.
pub fn table(log: &PartitionLog) -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    for (_, k, v) in keyed_records(log) {
        match v {
            Some(v) => t.insert(k, v),
            None => t.remove(&k),
        };
    }
    t
}

//! The input is a buffer of v2 record batches laid end to end (a `.log`
//! file, a produce request). Every batch that parses is CRC-checked and
//! fully decoded: every record, its key, value and every header, and its
//! owned form. Errors are expected; panics, hangs and unbounded
//! allocations are bugs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seglog::RecordBatch;

/// Decodes one batch as a consumer would.
fn decode(batch: &RecordBatch<'_>, scratch: &mut Vec<u8>) {
    let h = batch.header();
    assert_eq!(batch.size(), batch.as_bytes().len());
    assert_eq!(batch.size(), h.size());
    let _ = (h.last_offset(), h.next_offset(), h.compression());
    let _ = (h.timestamp_type(), h.is_control(), h.is_transactional());
    let _ = batch.computed_crc();
    let _ = batch.verify_crc();
    let Ok(records) = batch.records(scratch) else {
        return;
    };
    let declared = records.remaining();
    let mut seen = 0usize;
    for record in records {
        let Ok(r) = record else { break };
        seen += 1;
        let mut bytes = r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len);
        let mut headers = 0usize;
        for hv in r.headers() {
            headers += 1;
            bytes += hv.key.len() + hv.value.map_or(0, <[u8]>::len);
        }
        // `headers()` documents that the region was fully validated when
        // the record was decoded, so it yields exactly `header_count()`.
        assert_eq!(headers, r.header_count(), "headers() stopped early");
        let owned = r.to_owned();
        assert_eq!(owned.headers.len(), r.header_count());
        assert_eq!(owned.key.as_deref(), r.key);
        assert_eq!(owned.value.as_deref(), r.value);
        std::hint::black_box(bytes);
    }
    assert!(seen <= declared, "more records than the header declares");
}

fuzz_target!(|data: &[u8]| {
    let mut scratch = Vec::new();
    let mut total = 0usize;
    for batch in seglog::record::batches(data) {
        let Ok(batch) = batch else { break };
        total += batch.size();
        decode(&batch, &mut scratch);
    }
    assert!(total <= data.len());
    if let Ok(batch) = RecordBatch::parse(data) {
        decode(&batch, &mut scratch);
    }
});

//! Chunk decoding: arbitrary stored bytes under an arbitrary filter list never panic and never allocate
//! much more than the chunk size the dataset declares, whatever sizes the stored bytes claim.
//!
//! Input: one JSON line (the filters list), then 1 byte item size, 3 bytes expected chunk length, the
//! stored bytes.
//!
//! The check itself, shared by the cargo-fuzz target (`fuzz_targets/codec.rs`, nightly + libFuzzer) and the
//! stable corpus replay (`handler/tests/fuzz_corpus.rs`), so CI runs every committed corpus file through it.

use hsds_handler::chunk::codec::Pipeline;

/// Runs the check on one input; panics (an assertion) on a finding.
pub(crate) fn check(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (head, rest) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let Ok(filters) = serde_json::from_slice::<serde_json::Value>(head) else { return };
    if rest.len() < 4 {
        return;
    }
    let item_size = rest[0] as usize % 17;
    let expected = u32::from_le_bytes([rest[1], rest[2], rest[3], 0]) as usize; // < 16 MiB
    let stored = &rest[4..];
    let Ok(p) = Pipeline::from_filters(&filters, item_size) else { return };
    if let Ok(raw) = p.decode(stored, expected) {
        assert_eq!(raw.len(), expected);
    }
    if let Ok(raw) = p.decode_bounded(stored, expected) {
        assert!(raw.len() <= expected);
    }
    // Encoding what we decoded-or-received must round-trip.
    let raw = &stored[..stored.len() - stored.len() % item_size.max(1)];
    if let Ok(enc) = p.encode(raw) {
        let dec = p.decode(&enc, raw.len()).expect("encoded chunk decodes");
        assert_eq!(dec, raw, "codec round trip");
    }
}

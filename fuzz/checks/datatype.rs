//! Type JSON: parsing never panics, a parsed type re-serializes to JSON that parses to the same type, and
//! item sizes stay within the declared bound.
//!
//! The check itself, shared by the cargo-fuzz target (`fuzz_targets/datatype.rs`, nightly + libFuzzer) and the
//! stable corpus replay (`handler/tests/fuzz_corpus.rs`), so CI runs every committed corpus file through it.

use hsds_handler::model::types::{normalize_type_json, Datatype, MAX_ITEM_SIZE};

/// Runs the check on one input; panics (an assertion) on a finding.
pub(crate) fn check(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let _ = normalize_type_json(&v);
    let Ok(t) = Datatype::from_json(&v) else { return };
    if let Some(size) = t.item_size() {
        assert!(size <= MAX_ITEM_SIZE);
    }
    let _ = t.class();
    let _ = t.predefined_name();
    let back = Datatype::from_json(&t.to_json()).expect("a parsed type's JSON parses again");
    assert_eq!(back, t, "type JSON round trip");
}

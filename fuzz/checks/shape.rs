//! Shape JSON (request and stored forms, maxdims) and the layout computations driven by a shape.
//!
//! The check itself, shared by the cargo-fuzz target (`fuzz_targets/shape.rs`, nightly + libFuzzer) and the
//! stable corpus replay (`handler/tests/fuzz_corpus.rs`), so CI runs every committed corpus file through it.

use hsds_handler::model::layout::generate_layout;
use hsds_handler::model::shape::Shape;

/// Runs the check on one input; panics (an assertion) on a finding.
pub(crate) fn check(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let shape = v.get("shape");
    let parsed = Shape::from_request(shape).and_then(|s| s.with_maxdims(v.get("maxdims")));
    let _ = Shape::from_json(&v);
    let Ok(s) = parsed else { return };
    let _ = s.num_elements();
    let item = v.get("item").and_then(|i| i.as_u64()).unwrap_or(8).clamp(1, 1 << 30);
    let _ = s.checked_byte_size(item as usize, 256 << 20);
    let back = Shape::from_json(&s.to_json()).expect("a parsed shape's JSON parses again");
    assert_eq!(back, s, "shape JSON round trip");
    if let Shape::Simple { .. } = s {
        let _ = generate_layout(&s, item, true, 1 << 20, 4 << 20);
    }
}

//! `select=` strings, body start/stop/step and point lists against an input-chosen extent; a selection that
//! parses and is small enough to serve is also split over an input-chosen chunk grid.
//!
//! The check itself, shared by the cargo-fuzz target (`fuzz_targets/selection.rs`, nightly + libFuzzer) and the
//! stable corpus replay (`handler/tests/fuzz_corpus.rs`), so CI runs every committed corpus file through it.

use hsds_handler::model::selection::Selection;

/// Selections counted above this are refused by the API before `chunks()` (the response limits are far lower).
const SERVABLE: u64 = 1 << 20;
/// Most chunk parts a case may build (each is a few hundred bytes).
const MAX_PARTS: u64 = 1 << 14;

/// Runs the check on one input; panics (an assertion) on a finding.
pub(crate) fn check(data: &[u8]) {
    // Byte 0: rank (0..=4); then one byte per extent and one per chunk dim; the rest is the input text/bytes.
    let Some((&r, rest)) = data.split_first() else { return };
    let rank = (r % 5) as usize;
    if rest.len() < 2 * rank {
        return;
    }
    let (dims, rest) = rest.split_at(2 * rank);
    // Extents are mostly small, sometimes huge (stored datasets may be large).
    let extent: Vec<u64> =
        dims[..rank].iter().map(|&b| if b >= 0xf0 { u64::MAX >> (b - 0xf0) } else { b as u64 }).collect();
    let chunk_dims: Vec<u64> = dims[rank..].iter().map(|&b| (b as u64 % 16) + 1).collect();
    let check = |sel: Selection| {
        let Ok(n) = sel.count() else { return };
        let _ = sel.shape();
        let _ = sel.reduced_shape();
        let _ = sel.to_string();
        // The number of chunks touched is bounded too: a tiny chunk layout makes every element its own chunk,
        // and `chunks()` materializes one part per chunk (the API does not cap this yet; see the report).
        let touched = sel.axes().iter().try_fold(1u64, |a, ax| a.checked_mul(ax.len().min(SERVABLE)));
        if n <= SERVABLE
            && touched.is_some_and(|t| t <= MAX_PARTS)
            && sel.extent().iter().zip(&chunk_dims).all(|(e, c)| e / c <= SERVABLE)
        {
            let parts = sel.chunks(&chunk_dims);
            let total: u64 = parts.iter().map(|p| p.count()).sum();
            assert_eq!(total, n, "chunk parts must cover the selection exactly");
        }
    };
    let _ = Selection::points_from_bytes(rest, &extent).map(check);
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let _ = Selection::parse(text, &extent).map(check);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = Selection::points_from_json(&v, &extent).map(check);
        let ints = |k: &str| v.get(k).and_then(|x| x.as_array()).map(|a| a.iter().filter_map(|i| i.as_i64()).collect());
        let _ = Selection::from_bounds(ints("start"), ints("stop"), ints("step"), &extent).map(check);
    }
}

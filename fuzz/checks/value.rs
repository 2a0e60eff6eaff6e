//! Values: JSON → packed bytes and packed bytes → JSON for input-chosen types and dims.
//!
//! Input: one JSON line `[type, dims, value]`, then raw bytes decoded with the same type and dims.
//!
//! The check itself, shared by the cargo-fuzz target (`fuzz_targets/value.rs`, nightly + libFuzzer) and the
//! stable corpus replay (`handler/tests/fuzz_corpus.rs`), so CI runs every committed corpus file through it.

use hsds_handler::model::types::Datatype;
use hsds_handler::model::value::{bytes_to_json, bytes_to_json_with, json_to_bytes, validate_bytes, JsonOpts};

/// Runs the check on one input; panics (an assertion) on a finding.
pub(crate) fn check(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (head, raw) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let Ok(serde_json::Value::Array(parts)) = serde_json::from_slice::<serde_json::Value>(head) else { return };
    let [t, dims, value] = parts.as_slice() else { return };
    let Ok(dtype) = Datatype::from_json(t) else { return };
    let Some(dims) = dims.as_array().and_then(|d| d.iter().map(|x| x.as_u64()).collect::<Option<Vec<u64>>>()) else {
        return;
    };
    if let Ok(bytes) = json_to_bytes(&dtype, &dims, value) {
        let n = dims.iter().product::<u64>();
        validate_bytes(&dtype, n, &bytes).expect("packed bytes validate");
        bytes_to_json(&dtype, &dims, &bytes).expect("packed bytes unpack");
    }
    let n = dims.iter().try_fold(1u64, |a, d| a.checked_mul(*d));
    if let Some(n) = n {
        let _ = validate_bytes(&dtype, n, raw);
    }
    let _ = bytes_to_json(&dtype, &dims, raw);
    let _ = bytes_to_json_with(&dtype, &dims, raw, JsonOpts { ignore_nan: true, strict: true });
}

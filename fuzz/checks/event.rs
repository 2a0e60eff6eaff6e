//! Lambda event decoding and response encoding: any JSON event decodes to a request or a 400, and any
//! response encodes in every event shape without panicking.
//!
//! The check itself, shared by the cargo-fuzz target (`fuzz_targets/event.rs`, nightly + libFuzzer) and the
//! stable corpus replay (`handler/tests/fuzz_corpus.rs`), so CI runs every committed corpus file through it.

use bytes::Bytes;
use hsds_handler::event::{decode, encode, Shape};
use hsds_handler::Response;

/// Runs the check on one input; panics (an assertion) on a finding.
pub(crate) fn check(data: &[u8]) {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    match decode(&event) {
        Ok((shape, req)) => {
            // Echo the request back as a binary and as a JSON/text response.
            let _ = encode(shape, Response::binary(req.body.clone()));
            let mut text = Response::json(200, &serde_json::json!({"path": req.path}));
            text.body = req.body;
            let _ = encode(shape, text);
        }
        Err((shape, e)) => {
            assert_eq!(e.status, 400, "decode errors are client errors: {e}");
            let _ = encode(shape, e.to_response());
        }
    }
    for shape in [Shape::Direct, Shape::ApiGatewayV1, Shape::ApiGatewayV2] {
        let _ = encode(shape, Response::binary(Bytes::copy_from_slice(data)));
    }
}

//! The Lambda function: the `lambda_runtime` loop handing each event to `hsds_handler::event::handle_event`.
//! Everything else lives in the library, so tests and the emulator exercise the same code.

use std::sync::Arc;

use hsds_handler::{event, Service};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;
use serde_json::Value;

// One thread runs the I/O: an invocation is a strict request → S3 → response chain, and on a multi-thread
// runtime every hop between the handler, the HTTP connection tasks of the S3 client and the Runtime API
// client wakes another worker thread. Chunk decoding still runs in parallel on the blocking pool
// (`chunk::engine` uses `spawn_blocking`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    hsds_handler::alloc::keep_freed_memory();
    tracing_subscriber::fmt()
        // LOG_LEVEL / RUST_LOG, with the runtime's raw-event dump (Authorization headers) kept out.
        .with_env_filter(hsds_handler::logging::env_filter_from_env())
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();
    let svc = Arc::new(Service::from_env()?);
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| {
        let svc = svc.clone();
        let deadline = hsds_handler::deadline::from_epoch_ms(ev.context.deadline);
        async move {
            // The payload goes back as JSON text: a binary body (hex or base64) is copied in, not escaped.
            let text = event::handle_event_text(&svc, &ev.payload, Some(deadline)).await;
            Ok::<Box<RawValue>, Error>(RawValue::from_string(text)?)
        }
    }))
    .await
}

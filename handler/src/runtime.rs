//! The Lambda function's process: the `lambda_runtime` loop handing each event to
//! [`event::handle_event_text`]. Both executables that can be the function call [`main`]: `bootstrap` (the
//! deployed binary) and `hslambda function` (the CLI serving as its own function, so one `cargo run` or
//! `cargo install` gives a working stack). One loop, so the emulator runs the same code either way.

use std::sync::Arc;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::{event, Service};

/// Runs the function until the Runtime API goes away: allocator settings, logging from `LOG_LEVEL` /
/// `RUST_LOG`, the [`Service`] from the environment, then one event at a time.
///
/// One thread runs the I/O: an invocation is a strict request → S3 → response chain, and on a multi-thread
/// runtime every hop between the handler, the HTTP connection tasks of the S3 client and the Runtime API
/// client wakes another worker thread. Chunk decoding still runs in parallel on the blocking pool
/// (`chunk::engine` uses `spawn_blocking`).
pub fn main() -> Result<(), Error> {
    crate::alloc::keep_freed_memory();
    tracing_subscriber::fmt()
        // LOG_LEVEL / RUST_LOG, with the runtime's raw-event dump (Authorization headers) kept out.
        .with_env_filter(crate::logging::env_filter_from_env())
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(run())
}

/// The runtime loop alone, for a caller that set up logging and a Tokio runtime itself.
pub async fn run() -> Result<(), Error> {
    let svc = Arc::new(Service::from_env()?);
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| {
        let svc = svc.clone();
        let deadline = crate::deadline::from_epoch_ms(ev.context.deadline);
        async move {
            // The payload goes back as JSON text: a binary body (hex or base64) is copied in, not escaped.
            let text = event::handle_event_text(&svc, &ev.payload, Some(deadline)).await;
            Ok::<Box<RawValue>, Error>(RawValue::from_string(text)?)
        }
    }))
    .await
}

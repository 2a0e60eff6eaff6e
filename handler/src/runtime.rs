//! The Lambda function's process: the `lambda_runtime` loop handing each event to
//! [`event::handle_event_reply`]. Both executables that can be the function call [`main`]: `bootstrap` (the
//! deployed binary) and `hslambda function` (the CLI serving as its own function, so one `cargo run` or
//! `cargo install` gives a working stack). One loop, so the emulator runs the same code either way.

use std::sync::Arc;

use futures::StreamExt;
use lambda_runtime::{service_fn, Error, FunctionResponse, LambdaEvent, MetadataPrelude, StreamResponse};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::event::{self, Reply};
use crate::Service;

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

/// The body stream handed to `lambda_runtime`: the handler's pieces, errors as the runtime's error type.
type Pieces = std::pin::Pin<Box<dyn futures::Stream<Item = Result<bytes::Bytes, Error>> + Send>>;

/// The metadata prelude for a streamed reply's status and headers.
fn prelude(status: u16, headers: &[(String, String)]) -> MetadataPrelude {
    let mut map = http::HeaderMap::new();
    for (k, v) in headers {
        if let (Ok(name), Ok(value)) = (http::HeaderName::try_from(k.as_str()), http::HeaderValue::try_from(v.as_str()))
        {
            map.append(name, value);
        }
    }
    MetadataPrelude {
        status_code: http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        headers: map,
        cookies: Vec::new(),
    }
}

/// The runtime loop alone, for a caller that set up logging and a Tokio runtime itself.
///
/// A buffered reply goes back as one JSON document; a streamed one (HTTP-integration events when the deployer
/// set `HSLAMBDA_INVOKE_MODE=RESPONSE_STREAM`, see [`crate::stream`]) as `lambda_runtime`'s [`StreamResponse`]:
/// the metadata prelude (status, headers), 8 NUL bytes, then the body as it is produced.
pub async fn run() -> Result<(), Error> {
    let svc = Arc::new(Service::from_env()?);
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| {
        let svc = svc.clone();
        let deadline = crate::deadline::from_epoch_ms(ev.context.deadline);
        async move {
            let response: FunctionResponse<Box<RawValue>, Pieces> =
                match event::handle_event_reply(&svc, &ev.payload, Some(deadline)).await {
                    // The payload goes back as JSON text: a binary body (hex or base64) is copied in, not escaped.
                    Reply::Buffered(text) => FunctionResponse::BufferedResponse(RawValue::from_string(text)?),
                    Reply::Streamed { status, headers, body } => {
                        let stream: Pieces = Box::pin(body.map(|piece| piece.map_err(|e| Error::from(e.message))));
                        FunctionResponse::StreamingResponse(StreamResponse {
                            metadata_prelude: prelude(status, &headers),
                            stream,
                        })
                    }
                };
            Ok::<_, Error>(response)
        }
    }))
    .await
}

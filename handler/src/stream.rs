//! Response streaming: whether this invocation may stream its answer, and the streamed body type.
//!
//! A function cannot see from its event whether the caller streams: a Function URL in `BUFFERED` mode and
//! one in `RESPONSE_STREAM` mode send the same payload 2.0 event, and the Runtime API tells the function
//! nothing either. So the deployer says it, next to the `InvokeMode` it gives the Function URL (or the
//! `responseTransferMode` of an API Gateway REST integration): the environment variable
//! [`INVOKE_MODE_ENV`] = `RESPONSE_STREAM` (or `BUFFERED`, the default). The emulator sets it from its
//! front door; docs/deploy.md sets it with the Function URL.
//!
//! Whatever the variable says, an h5pyd direct-invoke event (`http+lambda://`) is answered buffered: that
//! client calls the buffered `Invoke` API and parses one JSON document.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::Stream;

use crate::error::ApiError;

/// The environment variable naming how the HTTP front door invokes the function: `RESPONSE_STREAM` or
/// `BUFFERED` (Lambda's `InvokeMode` values).
pub const INVOKE_MODE_ENV: &str = "HSLAMBDA_INVOKE_MODE";

/// Lambda's limit on a streamed response (200 MB).
pub const MAX_STREAMED_RESPONSE: u64 = 200 * 1024 * 1024;

/// What of [`MAX_STREAMED_RESPONSE`] a streamed body may use: Lambda counts the whole stream, so the
/// HTTP-integration prelude (status and headers as JSON, then 8 NULs; well under 16 KB) comes out of it.
pub const MAX_STREAMED_BODY: u64 = MAX_STREAMED_RESPONSE - 16 * 1024;

/// How this invocation's response travels back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// One JSON document of at most 6 MB (Invoke, API Gateway HTTP API, a `BUFFERED` Function URL).
    Buffered,
    /// A metadata prelude, then the raw body as it is produced, up to 200 MB (a `RESPONSE_STREAM`
    /// Function URL, an API Gateway REST streaming integration, `InvokeWithResponseStream`).
    Streaming,
}

impl ResponseMode {
    /// The mode for an event (`http_integration`: an API Gateway / Function URL event, not a direct invoke)
    /// under the invoke mode `configured` (the value of [`INVOKE_MODE_ENV`], if set): HTTP-integration events
    /// stream when the deployer said `RESPONSE_STREAM`; direct-invoke events never do.
    pub fn for_event(http_integration: bool, configured: Option<&str>) -> ResponseMode {
        let streams = configured.is_some_and(|m| m.trim().eq_ignore_ascii_case("RESPONSE_STREAM"));
        if http_integration && streams {
            ResponseMode::Streaming
        } else {
            ResponseMode::Buffered
        }
    }

    /// [`ResponseMode::for_event`] with the invoke mode from the environment.
    pub fn from_env(http_integration: bool) -> ResponseMode {
        Self::for_event(http_integration, std::env::var(INVOKE_MODE_ENV).ok().as_deref())
    }
}

tokio::task_local! {
    static MODE: ResponseMode;
}

/// Runs `fut` (one request) under `mode`, so the routes can tell whether they may stream.
pub async fn with_mode<F: Future>(mode: ResponseMode, fut: F) -> F::Output {
    MODE.scope(mode, fut).await
}

/// True when the current request's answer may stream (buffered outside a request).
pub fn streaming() -> bool {
    MODE.try_with(|m| *m == ResponseMode::Streaming).unwrap_or(false)
}

/// The pieces of a streamed body, in order; an `Err` after the first piece ends the stream with Lambda's
/// mid-stream error (the status line has already gone out).
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, ApiError>> + Send>>;

/// A streamed body inside a [`crate::request::Response`]: taken once, by whoever sends the response.
#[derive(Clone)]
pub struct StreamedBody(Arc<Mutex<Option<BodyStream>>>);

impl StreamedBody {
    /// Wraps `stream`.
    pub fn new(stream: BodyStream) -> Self {
        StreamedBody(Arc::new(Mutex::new(Some(stream))))
    }

    /// The stream; `None` if it was already taken.
    pub fn take(&self) -> Option<BodyStream> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }
}

impl fmt::Debug for StreamedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamedBody")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_follows_configuration_for_http_events_only() {
        assert_eq!(ResponseMode::for_event(true, None), ResponseMode::Buffered);
        assert_eq!(ResponseMode::for_event(true, Some("BUFFERED")), ResponseMode::Buffered);
        assert_eq!(ResponseMode::for_event(true, Some("RESPONSE_STREAM")), ResponseMode::Streaming);
        assert_eq!(ResponseMode::for_event(true, Some("response_stream")), ResponseMode::Streaming);
        assert_eq!(ResponseMode::for_event(false, Some("RESPONSE_STREAM")), ResponseMode::Buffered);
    }

    #[tokio::test]
    async fn streaming_is_scoped_to_the_request() {
        assert!(!streaming());
        assert!(with_mode(ResponseMode::Streaming, async { streaming() }).await);
        assert!(!with_mode(ResponseMode::Buffered, async { streaming() }).await);
    }
}

//! The Lambda Runtime Interface API (`/2018-06-01/runtime/...`) served to one function process.
//!
//! Each sandbox instance gets its own listener (as each Lambda execution environment has its own
//! `AWS_LAMBDA_RUNTIME_API`), so `/next` always belongs to exactly one process. The sandbox pushes
//! [`Invocation`]s into the instance's queue; `/next` hands the next one out with Lambda's headers and
//! starts its clock; `/response` and `/error` complete it.
//!
//! A streamed response (`Lambda-Runtime-Function-Response-Mode: streaming`, chunked) completes the
//! invocation's [`Outcome`] as soon as its headers arrive, with a channel that carries the body on as it is
//! read (one piece waiting at most: a slow reader slows the function, as on Lambda); its end, or its
//! mid-stream error (HTTP trailers, or `lambda_runtime` 1.5's body-text stand-in for them), follows on a
//! second channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::streaming::{self, StreamError, MAX_STREAMED_RESPONSE};

/// Lambda's synchronous response payload limit (6 MB) plus the 100 bytes of slack RIE allows.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024 + 100;

/// One event on its way to the function.
#[derive(Debug)]
pub struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// The event JSON, passed through unchanged.
    pub event: Bytes,
    /// The function timeout; the deadline is computed when `/next` hands the event out.
    pub timeout: Duration,
    /// `Lambda-Runtime-Trace-Id`.
    pub trace_id: String,
    /// `Lambda-Runtime-Client-Context` (base64 JSON), when the caller sent one.
    pub client_context: Option<String>,
    /// Told the instant the function received the event.
    pub started: oneshot::Sender<Instant>,
    /// Told how the invocation ended.
    pub reply: oneshot::Sender<Outcome>,
}

/// How the function answered an invocation.
#[derive(Debug)]
pub enum Outcome {
    /// `POST /response`: the payload.
    Response(Bytes),
    /// `POST /response` in streaming mode: the body is still arriving.
    Streaming(Streaming),
    /// `POST /error`: the error document and its `Lambda-Runtime-Function-Error-Type`.
    Error {
        /// The `Lambda-Runtime-Function-Error-Type` header, when the function sent one.
        error_type: Option<String>,
        /// The error document as posted.
        body: Bytes,
    },
}

/// A streamed response on its way from the function.
#[derive(Debug)]
pub struct Streaming {
    /// The response's `Content-Type` (the HTTP-integration type when a prelude leads the body).
    pub content_type: Option<String>,
    /// The body pieces, as read from the function.
    pub body: mpsc::Receiver<Bytes>,
    /// How the body ended; sent once the function's request is fully read.
    pub end: oneshot::Receiver<StreamEnd>,
}

/// How a streamed response ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    /// The whole body arrived.
    Complete {
        /// Body bytes sent.
        bytes: u64,
    },
    /// The function reported an error after the first bytes, or the body broke off or grew too large.
    Failed(StreamError),
}

/// A `POST /runtime/init/error` report.
#[derive(Debug, Clone)]
pub struct InitError {
    /// `Lambda-Runtime-Function-Error-Type`.
    pub error_type: Option<String>,
    /// The error document.
    pub body: Bytes,
}

/// The shared state of one instance's Runtime API.
pub struct RuntimeApi {
    queue: Mutex<mpsc::Receiver<Invocation>>,
    pending: StdMutex<HashMap<String, oneshot::Sender<Outcome>>>,
    function_arn: String,
    /// When the process first called `/next` (end of its init phase).
    first_next: StdMutex<Option<Instant>>,
    init_error: StdMutex<Option<InitError>>,
    /// Wakes the sandbox when the process reports an init error.
    pub init_failed: tokio::sync::Notify,
}

impl RuntimeApi {
    /// A Runtime API fed by `queue`, answering for the function `function_arn`.
    pub fn new(queue: mpsc::Receiver<Invocation>, function_arn: String) -> Arc<Self> {
        Arc::new(RuntimeApi {
            queue: Mutex::new(queue),
            pending: StdMutex::new(HashMap::new()),
            function_arn,
            first_next: StdMutex::new(None),
            init_error: StdMutex::new(None),
            init_failed: tokio::sync::Notify::new(),
        })
    }

    /// When the process first asked for an event, if it has.
    pub fn first_next(&self) -> Option<Instant> {
        *self.first_next.lock().unwrap()
    }

    /// The init error the process reported, if any.
    pub fn init_error(&self) -> Option<InitError> {
        self.init_error.lock().unwrap().clone()
    }

    /// The routes, bound to this state.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .route("/ping", get(|| async { "pong" }))
            .layer(DefaultBodyLimit::disable())
            .with_state(self.clone())
    }

    fn complete(&self, id: &str, outcome: Outcome) -> Response {
        let Some(tx) = self.pending.lock().unwrap().remove(id) else {
            return json_status(
                StatusCode::BAD_REQUEST,
                "InvalidRequestID",
                &format!("Invalid request ID: {id:?} is not an invocation in progress"),
            );
        };
        let _ = tx.send(outcome);
        (StatusCode::ACCEPTED, [("content-type", "application/json")], r#"{"status":"OK"}"#).into_response()
    }
}

fn json_status(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string();
    (status, [("content-type", "application/json")], body).into_response()
}

fn epoch_ms(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> Response {
    api.first_next.lock().unwrap().get_or_insert_with(Instant::now);
    let inv = {
        let mut queue = api.queue.lock().await;
        match queue.recv().await {
            Some(inv) => inv,
            // The sandbox dropped the instance: nothing will ever come.
            None => {
                return json_status(StatusCode::GONE, "Runtime.Shutdown", "the execution environment is shutting down")
            }
        }
    };
    let deadline = epoch_ms(SystemTime::now() + inv.timeout);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("content-type", "application/json");
    set("lambda-runtime-aws-request-id", &inv.request_id);
    set("lambda-runtime-deadline-ms", &deadline.to_string());
    set("lambda-runtime-invoked-function-arn", &api.function_arn);
    set("lambda-runtime-trace-id", &inv.trace_id);
    if let Some(cc) = inv.client_context.as_deref().filter(|c| !c.is_empty()) {
        set("lambda-runtime-client-context", cc);
    }
    api.pending.lock().unwrap().insert(inv.request_id.clone(), inv.reply);
    let _ = inv.started.send(Instant::now());
    (StatusCode::OK, headers, inv.event).into_response()
}

async fn response(
    State(api): State<Arc<RuntimeApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let streaming = headers
        .get("lambda-runtime-function-response-mode")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| m.eq_ignore_ascii_case("streaming"));
    if streaming {
        return stream_response(&api, &id, &headers, body).await;
    }
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return json_status(StatusCode::BAD_REQUEST, "InvalidRequest", &format!("cannot read the body: {e}")),
    };
    if body.len() > MAX_RESPONSE_BYTES {
        let msg = format!(
            "Response payload size ({} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
            body.len()
        );
        let err = serde_json::json!({ "errorType": "Function.ResponseSizeTooLarge", "errorMessage": msg }).to_string();
        api.complete(
            &id,
            Outcome::Error { error_type: Some("Function.ResponseSizeTooLarge".into()), body: err.into() },
        );
        return json_status(StatusCode::PAYLOAD_TOO_LARGE, "Function.ResponseSizeTooLarge", &msg);
    }
    api.complete(&id, Outcome::Response(body))
}

/// Reads a streamed response, handing each piece on as it arrives, then reports how it ended.
async fn stream_response(api: &RuntimeApi, id: &str, headers: &HeaderMap, mut body: Body) -> Response {
    let (tx, rx) = mpsc::channel(1);
    let (end_tx, end_rx) = oneshot::channel();
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    let accepted = api.complete(id, Outcome::Streaming(Streaming { content_type, body: rx, end: end_rx }));
    if accepted.status() != StatusCode::ACCEPTED {
        return accepted;
    }
    let mut bytes = 0u64;
    let mut trailers = HeaderMap::new();
    let fail = |error_type: &str, body: String| StreamEnd::Failed(StreamError { error_type: error_type.into(), body });
    let end = loop {
        match body.frame().await {
            None => break StreamEnd::Complete { bytes },
            Some(Err(e)) => break fail("Runtime.StreamError", format!("the response stream broke off: {e}")),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    if let Some(err) = streaming::parse_error_text(&data) {
                        break StreamEnd::Failed(err);
                    }
                    bytes += data.len() as u64;
                    if bytes > MAX_STREAMED_RESPONSE as u64 {
                        break fail(
                            "Function.ResponseSizeTooLarge",
                            format!("Response payload size exceeded maximum allowed payload size ({MAX_STREAMED_RESPONSE} bytes)."),
                        );
                    }
                    // A reader that went away no longer needs the bytes; keep reading so the function finishes.
                    let _ = tx.send(data).await;
                }
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        trailers.extend(t);
                    }
                }
            },
        }
    };
    let end = match (end, trailers.get(streaming::ERROR_TYPE_TRAILER)) {
        (StreamEnd::Complete { .. }, Some(t)) => {
            let body = trailers.get(streaming::ERROR_BODY_TRAILER).and_then(|v| v.to_str().ok()).unwrap_or("");
            fail(t.to_str().unwrap_or("Runtime.StreamError"), streaming::decode_error_body(body))
        }
        (end, _) => end,
    };
    drop(tx);
    let _ = end_tx.send(end);
    (StatusCode::ACCEPTED, [("content-type", "application/json")], r#"{"status":"OK"}"#).into_response()
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers.get("lambda-runtime-function-error-type").and_then(|v| v.to_str().ok()).map(str::to_string)
}

async fn error(
    State(api): State<Arc<RuntimeApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    api.complete(&id, Outcome::Error { error_type: error_type(&headers), body })
}

async fn init_error(State(api): State<Arc<RuntimeApi>>, headers: HeaderMap, body: Bytes) -> Response {
    *api.init_error.lock().unwrap() = Some(InitError { error_type: error_type(&headers), body });
    api.init_failed.notify_one();
    (StatusCode::ACCEPTED, [("content-type", "application/json")], r#"{"status":"OK"}"#).into_response()
}

/// A new X-Ray style trace id: `Root=1-<epoch hex>-<24 hex>;Parent=<16 hex>;Sampled=0`.
pub fn new_trace_id() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{secs:08x}-{};Parent={};Sampled=0", &a[..24], &b[..16])
}

//! Lambda's Invoke API (`POST /2015-03-31/functions/{name}/invocations`) for boto3, the aws cli and
//! h5pyd's `http+lambda://` endpoints: RequestResponse, Event (202, queued), DryRun (204),
//! `X-Amz-Log-Type: Tail`, `X-Amz-Function-Error`, and Lambda's error shapes and payload limits.
//!
//! `InvokeWithResponseStream` (`POST /2021-11-15/functions/{name}/response-streaming-invocations`) answers
//! 200 with an `application/vnd.amazon.eventstream` body: one `PayloadChunk` per piece the function writes
//! (sent as it arrives, at Lambda's streaming bandwidth), then `InvokeComplete` with `ErrorCode` /
//! `ErrorDetails` for a function error and `LogResult` for `X-Amz-Log-Type: Tail`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

use crate::event_queue;
use crate::sandbox::{Admission, Answer, InvokeError, Invoked, ACCOUNT_ID, REGION};
use crate::streaming::{self, Bandwidth};
use crate::AppState;

/// Synchronous (RequestResponse) request payload limit.
pub const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
/// Asynchronous (Event) request payload limit.
pub const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;

/// A Lambda service error: `x-amzn-ErrorType` header plus `{"Type","message"}` body (what botocore parses).
pub fn service_error(status: StatusCode, error_type: &str, message: &str, extra: Option<(&str, &str)>) -> Response {
    let mut body = json!({ "Type": "User", "message": message });
    if let Some((k, v)) = extra {
        body[k] = json!(v);
    }
    let mut r = (status, [("content-type", "application/json")], body.to_string()).into_response();
    if let Ok(v) = HeaderValue::from_str(error_type) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r.headers_mut().insert("x-amzn-requestid", HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).unwrap());
    r
}

/// The function name in a path segment: a name, a partial ARN (`123456789012:function:name`) or a full ARN,
/// with an optional `:qualifier` suffix. Returns (name, qualifier).
pub fn parse_function_name(raw: &str) -> (String, Option<String>) {
    let rest = match raw.find("function:") {
        Some(i) => &raw[i + "function:".len()..],
        None => raw,
    };
    match rest.split_once(':') {
        Some((name, q)) => (name.to_string(), Some(q.to_string())),
        None => (rest.to_string(), None),
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// A checked invocation request.
struct Checked {
    invocation_type: String,
    event: Bytes,
    client_context: Option<String>,
    tail: bool,
}

/// Checks the function name, invocation type (one of `allowed`), payload and client context as Lambda does.
/// The error is the HTTP answer itself, returned once per request: its size does not matter.
#[allow(clippy::result_large_err)]
fn check(
    app: &AppState,
    function: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: Bytes,
    allowed: &[&str],
) -> Result<Checked, Response> {
    let cfg = app.sandbox.config();
    let (name, path_qualifier) = parse_function_name(function);
    let qualifier = query.iter().find(|(k, _)| k == "Qualifier").map(|(_, v)| v.clone()).or(path_qualifier);
    if name != cfg.name || qualifier.as_deref().is_some_and(|q| q != "$LATEST") {
        let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}");
        let arn = match &qualifier {
            Some(q) => format!("{arn}:{q}"),
            None => arn,
        };
        return Err(service_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("Function not found: {arn}"),
            None,
        ));
    }
    let invocation_type = header(headers, "x-amz-invocation-type").unwrap_or("RequestResponse");
    let limit = match invocation_type {
        t if !allowed.contains(&t) => {
            return Err(service_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!("Unsupported invocation type {t:?}: use {}", allowed.join(", ")),
                None,
            ))
        }
        "Event" => MAX_ASYNC_PAYLOAD,
        _ => MAX_SYNC_PAYLOAD,
    };
    if body.len() > limit {
        let op = if invocation_type == "Event" { "InvokeAsync" } else { "Invoke" };
        return Err(service_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            &format!("{} byte payload is too large for the {op} operation (limit {limit} bytes)", body.len()),
            None,
        ));
    }
    let event = if body.iter().all(u8::is_ascii_whitespace) { Bytes::from_static(b"{}") } else { body };
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&event) {
        return Err(service_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            &format!("Could not parse request body into json: {e}"),
            None,
        ));
    }
    let client_context = header(headers, "x-amz-client-context").map(str::to_string);
    if let Some(cc) = &client_context {
        let decoded = base64::engine::general_purpose::STANDARD.decode(cc).ok();
        if decoded.and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok()).is_none() {
            return Err(service_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                "Client context must be a valid Base64-encoded JSON object.",
                None,
            ));
        }
    }
    let tail = header(headers, "x-amz-log-type") == Some("Tail");
    Ok(Checked { invocation_type: invocation_type.to_string(), event, client_context, tail })
}

/// The answer when the sandbox could not run the invocation.
fn not_run(e: InvokeError) -> Response {
    match e {
        InvokeError::Throttled => service_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            "Rate Exceeded.",
            Some(("Reason", "ReservedFunctionConcurrentInvocationLimitExceeded")),
        ),
        e => service_error(StatusCode::SERVICE_UNAVAILABLE, "ServiceException", &e.to_string(), None),
    }
}

/// The Invoke API handler.
pub async fn handle(
    State(app): State<AppState>,
    Path(function): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let checked = match check(&app, &function, &query, &headers, body, &["RequestResponse", "Event", "DryRun"]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Checked { invocation_type, event, client_context, tail } = checked;
    match invocation_type.as_str() {
        "DryRun" => (StatusCode::NO_CONTENT, [("x-amz-executed-version", "$LATEST")]).into_response(),
        "Event" => {
            // Queued: runs when an instance is free; failures are retried under this request id.
            let request_id = uuid::Uuid::new_v4().to_string();
            let mut r = (StatusCode::ACCEPTED, "").into_response();
            r.headers_mut().insert("x-amzn-requestid", HeaderValue::from_str(&request_id).unwrap());
            event_queue::enqueue(app.sandbox.clone(), request_id, event, client_context);
            r
        }
        _ => match app.sandbox.invoke(event, client_context, Admission::Throttle).await {
            Ok(done) => sync_response(&done, tail),
            Err(e) => not_run(e),
        },
    }
}

/// The `InvokeWithResponseStream` handler.
pub async fn handle_streaming(
    State(app): State<AppState>,
    Path(function): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let checked = match check(&app, &function, &query, &headers, body, &["RequestResponse", "DryRun"]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if checked.invocation_type == "DryRun" {
        return (StatusCode::NO_CONTENT, [("x-amz-executed-version", "$LATEST")]).into_response();
    }
    let tail = checked.tail;
    let answer = match app.sandbox.invoke_streaming(checked.event, checked.client_context, Admission::Throttle).await {
        Ok(a) => a,
        Err(e) => return not_run(e),
    };
    let pacer = app.stream_bandwidth.pacer(streaming::UNTHROTTLED_BYTES);
    let (request_id, content_type, events) = match answer {
        Answer::Done(done) => {
            let mut events = Vec::new();
            if !done.function_error && !done.payload.is_empty() {
                events.push(streaming::payload_chunk(&done.payload));
            }
            events.push(complete_event(&done, tail));
            let stream = futures::stream::iter(events.into_iter().map(Ok::<Bytes, std::convert::Infallible>));
            (done.request_id, None, axum::body::Body::from_stream(stream))
        }
        Answer::Streaming(st) => {
            let request_id = st.request_id.clone();
            let content_type = st.content_type.clone();
            (request_id, content_type, axum::body::Body::from_stream(event_stream(st, pacer, tail)))
        }
    };
    let mut r = (StatusCode::OK, events).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/vnd.amazon.eventstream"));
    h.insert("x-amz-executed-version", HeaderValue::from_static("$LATEST"));
    if let Some(v) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert("x-amzn-response-stream-content-type", v);
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

/// The `InvokeComplete` event for a finished invocation.
fn complete_event(done: &Invoked, tail: bool) -> Bytes {
    let log = tail.then(|| base64::engine::general_purpose::STANDARD.encode(done.log_tail()));
    let error = done.function_error.then(|| {
        let doc: serde_json::Value = serde_json::from_slice(&done.payload).unwrap_or_default();
        let code = doc["errorType"].as_str().unwrap_or("Unhandled").to_string();
        (code, String::from_utf8_lossy(&done.payload).into_owned())
    });
    streaming::invoke_complete(error.as_ref().map(|(c, d)| (c.as_str(), d.as_str())), log.as_deref())
}

/// `PayloadChunk` events as the function writes, paced by `pacer`, then `InvokeComplete`.
fn event_stream(
    st: crate::sandbox::StreamingInvocation,
    pacer: Bandwidth,
    tail: bool,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    futures::stream::unfold(Some((st, pacer)), move |state| async move {
        let (mut st, mut pacer) = state?;
        match st.body.recv().await {
            Some(piece) => {
                pacer.pace(piece.len() as u64).await;
                Some((Ok(streaming::payload_chunk(&piece)), Some((st, pacer))))
            }
            None => {
                let last = match st.done.await {
                    Ok(done) => complete_event(&done, tail),
                    Err(_) => streaming::invoke_complete(Some(("ServiceException", "the invocation was lost")), None),
                };
                Some((Ok(last), None))
            }
        }
    })
}

fn sync_response(done: &Invoked, tail: bool) -> Response {
    let mut r = (StatusCode::OK, done.payload.clone()).into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("x-amz-executed-version", HeaderValue::from_static("$LATEST"));
    if let Ok(v) = HeaderValue::from_str(&done.request_id) {
        h.insert("x-amzn-requestid", v);
    }
    if done.function_error {
        h.insert("x-amz-function-error", HeaderValue::from_static("Unhandled"));
    }
    if tail {
        let b64 = base64::engine::general_purpose::STANDARD.encode(done.log_tail());
        if let Ok(v) = HeaderValue::from_str(&b64) {
            h.insert("x-amz-log-result", v);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names() {
        assert_eq!(parse_function_name("hslambda"), ("hslambda".into(), None));
        assert_eq!(parse_function_name("hslambda:$LATEST"), ("hslambda".into(), Some("$LATEST".into())));
        assert_eq!(
            parse_function_name("arn:aws:lambda:us-east-1:123456789012:function:hslambda"),
            ("hslambda".into(), None)
        );
        assert_eq!(parse_function_name("123456789012:function:f:prod"), ("f".into(), Some("prod".into())));
    }
}

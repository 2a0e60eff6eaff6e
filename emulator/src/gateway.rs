//! The HTTP front door, like a Lambda Function URL (`RESPONSE_STREAM` by default, or `BUFFERED`), an API
//! Gateway HTTP API (`$default` route, payload format 2.0, buffered) or an API Gateway REST API with a
//! streaming Lambda proxy integration (payload 1.0): plain HTTP → event → invoke → the function's
//! response → HTTP.
//!
//! The streaming front doors pass the response on as the function writes it: the HTTP-integration prelude
//! gives status and headers, the bytes after its 8-NUL separator are the body, sent chunked at Lambda's
//! streaming bandwidth ([`crate::streaming::Bandwidth`], unless `--stream-bandwidth unlimited`). A
//! function error after the first bytes cuts the connection, as Lambda does: the client sees a truncated
//! chunked body.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::sandbox::{Admission, Answer, InvokeError, StreamingInvocation, ACCOUNT_ID};
use crate::streaming::{self, Bandwidth, HTTP_INTEGRATION_CONTENT_TYPE};
use crate::AppState;

/// API Gateway HTTP API's request payload limit (10 MB).
pub const MAX_GATEWAY_BODY: usize = 10 * 1024 * 1024;
/// API Gateway HTTP API's hard integration timeout: a slower function gets 503 at the front door.
pub const INTEGRATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Lambda's synchronous invocation payload limit (6 MB), which the whole event must fit.
pub const MAX_SYNC_EVENT: usize = 6 * 1024 * 1024;

/// API Gateway REST API's longest streaming integration (15 minutes).
pub const REST_STREAM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(900);

/// Which AWS front door the HTTP port imitates. They differ in event shape, in whether the response
/// streams, and when Lambda is slow or at its concurrency limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FrontDoor {
    /// Lambda Function URL with `InvokeMode: RESPONSE_STREAM`: payload 2.0 event, streamed response up to
    /// 200 MB; only the function timeout applies; a throttled invocation is a 429.
    #[default]
    FunctionUrlStream,
    /// API Gateway HTTP API: buffered (6 MB), 30 s integration timeout (then 503); a throttled invocation
    /// is a 500 `{"message":"Internal Server Error"}` (API Gateway does not pass Lambda's 429 through).
    ApiGateway,
    /// Lambda Function URL with `InvokeMode: BUFFERED`: only the function timeout applies; a throttled
    /// invocation is a 429 `TooManyRequestsException` `{"message":"Rate Exceeded."}`.
    FunctionUrl,
    /// API Gateway REST API, Lambda proxy integration with `responseTransferMode: STREAM`: payload 1.0
    /// event, streamed response (first 10 MB unthrottled), 15 minute integration timeout.
    RestApiStream,
}

impl FrontDoor {
    /// The names `--front-door` accepts.
    pub const NAMES: [&'static str; 4] = ["function-url-stream", "api-gateway", "function-url", "rest-api-stream"];

    /// Parses one of [`FrontDoor::NAMES`].
    pub fn parse(s: &str) -> Result<FrontDoor, String> {
        match s {
            "function-url-stream" => Ok(FrontDoor::FunctionUrlStream),
            "api-gateway" => Ok(FrontDoor::ApiGateway),
            "function-url" => Ok(FrontDoor::FunctionUrl),
            "rest-api-stream" => Ok(FrontDoor::RestApiStream),
            other => Err(format!("unknown front door {other:?}: one of {}", FrontDoor::NAMES.join(", "))),
        }
    }

    /// Its `--front-door` name.
    pub fn name(self) -> &'static str {
        match self {
            FrontDoor::FunctionUrlStream => "function-url-stream",
            FrontDoor::ApiGateway => "api-gateway",
            FrontDoor::FunctionUrl => "function-url",
            FrontDoor::RestApiStream => "rest-api-stream",
        }
    }

    /// What a person calls it.
    pub fn describe(self) -> &'static str {
        match self {
            FrontDoor::FunctionUrlStream => "Lambda Function URL, InvokeMode RESPONSE_STREAM, payload 2.0",
            FrontDoor::ApiGateway => "API Gateway HTTP API, buffered, payload 2.0",
            FrontDoor::FunctionUrl => "Lambda Function URL, InvokeMode BUFFERED, payload 2.0",
            FrontDoor::RestApiStream => "API Gateway REST API, responseTransferMode STREAM, payload 1.0",
        }
    }

    /// True when responses stream.
    pub fn streams(self) -> bool {
        matches!(self, FrontDoor::FunctionUrlStream | FrontDoor::RestApiStream)
    }

    /// The function's `HSLAMBDA_INVOKE_MODE` behind this front door (what a deployer sets next to the
    /// Function URL's `InvokeMode`).
    pub fn invoke_mode(self) -> &'static str {
        if self.streams() {
            "RESPONSE_STREAM"
        } else {
            "BUFFERED"
        }
    }

    /// Bytes of a streamed response sent before Lambda's bandwidth limit applies.
    pub fn unthrottled_bytes(self) -> u64 {
        match self {
            FrontDoor::RestApiStream => streaming::REST_UNTHROTTLED_BYTES,
            _ => streaming::UNTHROTTLED_BYTES,
        }
    }

    /// How long the front door waits for the function before answering 503 itself (None: as long as
    /// the function may run).
    pub fn integration_timeout(self) -> Option<std::time::Duration> {
        match self {
            FrontDoor::ApiGateway => Some(INTEGRATION_TIMEOUT),
            FrontDoor::RestApiStream => Some(REST_STREAM_TIMEOUT),
            FrontDoor::FunctionUrl | FrontDoor::FunctionUrlStream => None,
        }
    }

    /// The answer when every instance is busy (Lambda throttled the invocation).
    fn throttled(self) -> Response {
        match self {
            FrontDoor::ApiGateway | FrontDoor::RestApiStream => {
                gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            FrontDoor::FunctionUrl | FrontDoor::FunctionUrlStream => {
                let mut r = gateway_error(StatusCode::TOO_MANY_REQUESTS, "Rate Exceeded.");
                r.headers_mut().insert("x-amzn-errortype", HeaderValue::from_static("TooManyRequestsException"));
                r
            }
        }
    }
}

/// Whether a body of this content type travels as text (else base64), as API Gateway decides it.
pub fn is_textual(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let ct = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    ct.starts_with("text/")
        || ct == "application/json"
        || ct.ends_with("+json")
        || ct.ends_with("+xml")
        || ct == "application/xml"
        || ct == "application/javascript"
        || ct == "application/x-www-form-urlencoded"
}

/// Formats `SystemTime` as API Gateway's `requestContext.time` (`12/Mar/2020:19:03:58 +0000`).
fn clf_time(now: SystemTime) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (y, m, d) = crate::sandbox::civil_from_days((secs / 86400) as i64);
    let s = secs % 86400;
    format!("{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000", MONTHS[(m - 1) as usize], s / 3600, s / 60 % 60, s % 60)
}

/// The parts of an HTTP request an event is built from.
pub struct HttpParts<'a> {
    /// Method, upper case.
    pub method: &'a str,
    /// Path, still percent-encoded.
    pub raw_path: &'a str,
    /// Query string without `?`, still encoded.
    pub raw_query: &'a str,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Request body.
    pub body: &'a [u8],
    /// Client address.
    pub source_ip: String,
    /// Request id for `requestContext.requestId`.
    pub request_id: &'a str,
}

/// Builds the API Gateway HTTP API payload 2.0 event for a request.
pub fn v2_event(p: &HttpParts<'_>) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in p.headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(v.split(';').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()));
            continue;
        }
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                headers.insert(name.as_str().to_string(), Value::String(v));
            }
        }
    }
    let mut query = Map::new();
    for (k, v) in form_urlencoded::parse(p.raw_query.as_bytes()) {
        match query.get_mut(k.as_ref()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
    }
    let host = p.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_string();
    let user_agent = p.headers.get(http::header::USER_AGENT).and_then(|h| h.to_str().ok()).unwrap_or("");
    let now = SystemTime::now();
    let decoded_path = percent_encoding::percent_decode_str(p.raw_path).decode_utf8_lossy().into_owned();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": p.raw_path,
        "rawQueryString": p.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": "hslambda",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or(""),
            "http": {
                "method": p.method,
                "path": decoded_path,
                "protocol": "HTTP/1.1",
                "sourceIp": p.source_ip,
                "userAgent": user_agent,
            },
            "requestId": p.request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": clf_time(now),
            "timeEpoch": now.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !p.body.is_empty() {
        let ct = p.headers.get(http::header::CONTENT_TYPE).and_then(|h| h.to_str().ok());
        match std::str::from_utf8(p.body) {
            Ok(text) if is_textual(ct) => event["body"] = Value::String(text.to_string()),
            _ => {
                event["body"] = Value::String(base64_simd::STANDARD.encode_to_string(p.body));
                event["isBase64Encoded"] = Value::Bool(true);
            }
        }
    }
    event
}

/// Builds the API Gateway REST API (payload 1.0) proxy event for a request, stage `prod` (not in `path`).
pub fn v1_event(p: &HttpParts<'_>) -> Value {
    let mut headers = Map::new();
    let mut multi_headers = Map::new();
    for (name, value) in p.headers {
        let v = Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned());
        headers.insert(name.as_str().to_string(), v.clone());
        match multi_headers.entry(name.as_str().to_string()).or_insert_with(|| json!([])) {
            Value::Array(a) => a.push(v),
            _ => unreachable!("multiValueHeaders entries are arrays"),
        }
    }
    let mut query = Map::new();
    let mut multi_query = Map::new();
    for (k, v) in form_urlencoded::parse(p.raw_query.as_bytes()) {
        query.insert(k.to_string(), Value::String(v.to_string()));
        match multi_query.entry(k.into_owned()).or_insert_with(|| json!([])) {
            Value::Array(a) => a.push(Value::String(v.into_owned())),
            _ => unreachable!("multiValueQueryStringParameters entries are arrays"),
        }
    }
    let now = SystemTime::now();
    let path = percent_encoding::percent_decode_str(p.raw_path).decode_utf8_lossy().into_owned();
    let null_if_empty = |m: Map<String, Value>| if m.is_empty() { Value::Null } else { Value::Object(m) };
    let (body, b64) = if p.body.is_empty() {
        (Value::Null, false)
    } else {
        let ct = p.headers.get(http::header::CONTENT_TYPE).and_then(|h| h.to_str().ok());
        match std::str::from_utf8(p.body) {
            Ok(text) if is_textual(ct) => (Value::String(text.to_string()), false),
            _ => (Value::String(base64_simd::STANDARD.encode_to_string(p.body)), true),
        }
    };
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": p.method,
        "headers": null_if_empty(headers),
        "multiValueHeaders": null_if_empty(multi_headers),
        "queryStringParameters": null_if_empty(query),
        "multiValueQueryStringParameters": null_if_empty(multi_query),
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": "hslambda",
            "httpMethod": p.method,
            "path": format!("/prod{path}"),
            "protocol": "HTTP/1.1",
            "requestId": p.request_id,
            "resourcePath": "/{proxy+}",
            "stage": "prod",
            "identity": {"sourceIp": p.source_ip},
            "requestTimeEpoch": now.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64,
        },
        "body": body,
        "isBase64Encoded": b64,
    })
}

fn gateway_error(status: StatusCode, message: &str) -> Response {
    let mut r =
        (status, [("content-type", "application/json")], json!({ "message": message }).to_string()).into_response();
    r.headers_mut().insert("apigw-requestid", HeaderValue::from_static("-"));
    r
}

/// Maps a function's payload-2.0 response to HTTP (API Gateway's rules, including the inferred format
/// for JSON without `statusCode`); a malformed response is a 500, as API Gateway answers it.
pub fn v2_response(payload: &[u8]) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(payload) else {
        return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let Some(status) = value.get("statusCode").and_then(Value::as_u64) else {
        // Inferred format: any JSON without statusCode is a 200 JSON body.
        let body = match &value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return (StatusCode::OK, [("content-type", "application/json")], body).into_response();
    };
    let Ok(status) = StatusCode::from_u16(status as u16) else {
        return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let body = match value.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if value.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false) => {
            match base64_simd::STANDARD.decode_to_vec(s) {
                Ok(b) => b,
                Err(_) => return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
            }
        }
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    if let Some(Value::Object(h)) = value.get("headers") {
        for (k, v) in h {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let (Ok(name), Ok(val)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v)) {
                headers.append(name, val);
            }
        }
    }
    if let Some(Value::Array(cookies)) = value.get("cookies") {
        for c in cookies.iter().filter_map(Value::as_str) {
            if let Ok(val) = HeaderValue::try_from(c) {
                headers.append(http::header::SET_COOKIE, val);
            }
        }
    }
    resp
}

/// The front door's handler for every path not claimed by the Invoke API or the admin routes.
pub async fn handle(State(app): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_GATEWAY_BODY).await {
        Ok(b) => b,
        Err(_) => return gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let http = HttpParts {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &body,
        source_ip: peer.ip().to_string(),
        request_id: &request_id,
    };
    let event = if app.front_door == FrontDoor::RestApiStream { v1_event(&http) } else { v2_event(&http) };
    let event = Bytes::from(event.to_string());
    if event.len() > MAX_SYNC_EVENT {
        let msg = request_too_large(event.len(), body.len(), parts.uri.query().unwrap_or(""));
        return gateway_error(StatusCode::PAYLOAD_TOO_LARGE, &msg);
    }
    let mut resp = if app.front_door.streams() {
        match app.sandbox.invoke_streaming(event, None, Admission::Throttle).await {
            Ok(Answer::Done(done)) => buffered_answer(&done),
            Ok(Answer::Streaming(st)) => {
                let pacer = app.stream_bandwidth.pacer(app.front_door.unthrottled_bytes());
                streamed_answer(st, pacer).await
            }
            Err(e) => not_invoked(&app, e),
        }
    } else {
        match invoke_buffered(&app, event).await {
            Ok(resp) => resp,
            Err(timed_out) => return timed_out,
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("apigw-requestid", v);
    }
    resp
}

/// The front door's answer when the invocation did not run: throttled as the front door answers it, else 500.
fn not_invoked(app: &AppState, e: InvokeError) -> Response {
    match e {
        InvokeError::Throttled => app.front_door.throttled(),
        e => {
            tracing::error!("front door: {e}");
            gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

/// A buffered invocation through the front door; `Err` is API Gateway's 503 after its integration timeout
/// (that answer goes out without the `apigw-requestid` header).
async fn invoke_buffered(app: &AppState, event: Bytes) -> Result<Response, Response> {
    // A synchronous invocation: at the concurrency limit Lambda throttles it rather than queueing.
    // API Gateway stops waiting after its integration timeout; the invocation itself runs on.
    let sandbox = app.sandbox.clone();
    let running = tokio::spawn(async move { sandbox.invoke(event, None, Admission::Throttle).await });
    let joined = match app.front_door.integration_timeout() {
        Some(limit) => match tokio::time::timeout(limit, running).await {
            Ok(joined) => joined,
            Err(_) => return Err(gateway_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")),
        },
        None => running.await,
    };
    let outcome = joined.unwrap_or_else(|join| Err(InvokeError::Spawn(join.to_string())));
    Ok(match outcome {
        Ok(done) => buffered_answer(&done),
        Err(e) => not_invoked(app, e),
    })
}

/// The 413 message for a request whose event exceeds Lambda's 6 MB request payload: API Gateway's words,
/// then the limit and (for a value write with `select=[a:b,...]`) the largest slab of rows that fits.
fn request_too_large(event_len: usize, body_len: usize, raw_query: &str) -> String {
    // A binary body travels base64-encoded (4 bytes per 3); the rest of the event stays about the same.
    let overhead = event_len.saturating_sub(body_len.div_ceil(3) * 4);
    let max_body = MAX_SYNC_EVENT.saturating_sub(overhead) / 4 * 3;
    let mut msg = format!(
        "Request Entity Too Large: the event for this request is {event_len} bytes, over Lambda's \
         {MAX_SYNC_EVENT}-byte request payload limit (binary bodies travel base64-encoded); send at most \
         {max_body} bytes of body per request"
    );
    let rows = form_urlencoded::parse(raw_query.as_bytes()).find(|(k, _)| k == "select").and_then(|(_, v)| {
        let first = v.trim_start_matches('[').split(',').next()?.to_string();
        let (a, b) = first.split_once(':')?;
        let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.split(':').next()?.trim().parse().ok()?);
        (b > a).then_some(b - a)
    });
    if let Some(rows) = rows {
        let row_bytes = (body_len as u64 / rows).max(1);
        msg.push_str(&format!(
            ", i.e. at most {} rows of the first dimension per write",
            (max_body as u64 / row_bytes).max(1)
        ));
    }
    msg
}

/// The HTTP answer for a finished (buffered) invocation.
fn buffered_answer(done: &crate::sandbox::Invoked) -> Response {
    if !done.function_error {
        return v2_response(&done.payload);
    }
    if done.report.status == Some("timeout") {
        gateway_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
    } else {
        gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }
}

/// Largest HTTP-integration prelude read before giving up on finding its 8-NUL separator.
const MAX_PRELUDE: usize = 1 << 20;

/// The HTTP answer for a streamed response: status and headers from its prelude (if it has one), then the
/// body as the function writes it, paced by `pacer`. A function error before any body byte is a 500 (503
/// for a timeout); after one, the connection is cut.
async fn streamed_answer(mut st: StreamingInvocation, pacer: Bandwidth) -> Response {
    let integration = st.content_type.as_deref() == Some(HTTP_INTEGRATION_CONTENT_TYPE);
    let mut head = Vec::new();
    let (status, headers, cookies, first) = if integration {
        loop {
            match st.body.recv().await {
                Some(piece) => head.extend_from_slice(&piece),
                None => {
                    // The stream ended inside the prelude: an error before the first byte, or a malformed answer.
                    let done = st.done.await;
                    return match done {
                        Ok(done) if done.function_error => buffered_answer(&done),
                        _ => gateway_error(StatusCode::BAD_GATEWAY, "Bad Gateway"),
                    };
                }
            }
            match streaming::split_prelude(&head) {
                Ok(Some((prelude, rest))) => break (prelude.status, prelude.headers, prelude.cookies, rest),
                Ok(None) if head.len() <= MAX_PRELUDE => continue,
                Ok(None) | Err(_) => {
                    tracing::error!("front door: the function's response prelude is malformed");
                    return gateway_error(StatusCode::BAD_GATEWAY, "Bad Gateway");
                }
            }
        }
    } else {
        let ct = st.content_type.clone().unwrap_or_else(|| "application/octet-stream".into());
        (200, vec![("content-type".to_string(), ct)], Vec::new(), Bytes::new())
    };
    struct State {
        first: Option<Bytes>,
        st: StreamingInvocation,
        pacer: Bandwidth,
        finished: bool,
    }
    let state = State { first: Some(first).filter(|b| !b.is_empty()), st, pacer, finished: false };
    let body = futures::stream::unfold(state, |mut s| async move {
        if s.finished {
            return None;
        }
        let piece = match s.first.take() {
            Some(b) => Some(b),
            None => s.st.body.recv().await,
        };
        match piece {
            Some(b) => {
                s.pacer.pace(b.len() as u64).await;
                Some((Ok::<Bytes, std::io::Error>(b), s))
            }
            None => {
                s.finished = true;
                match (&mut s.st.done).await {
                    Ok(done) if done.function_error => {
                        let msg = String::from_utf8_lossy(&done.payload).into_owned();
                        Some((Err(std::io::Error::other(format!("function error after the first bytes: {msg}"))), s))
                    }
                    _ => None,
                }
            }
        }
    });
    let mut resp = Response::new(Body::from_stream(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let h = resp.headers_mut();
    for (k, v) in headers {
        if let (Ok(name), Ok(val)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v)) {
            h.append(name, val);
        }
    }
    for c in cookies {
        if let Ok(val) = HeaderValue::try_from(c) {
            h.append(http::header::SET_COOKIE, val);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_shape() {
        let mut h = HeaderMap::new();
        h.insert("Content-Type", HeaderValue::from_static("application/octet-stream"));
        h.insert("X-Multi", HeaderValue::from_static("a"));
        h.append("X-Multi", HeaderValue::from_static("b"));
        h.insert("Cookie", HeaderValue::from_static("a=1; b=2"));
        let ev = v2_event(&HttpParts {
            method: "PUT",
            raw_path: "/datasets/d-1/value",
            raw_query: "domain=%2Fhome%2Fx.h5&a=1&a=2",
            headers: &h,
            body: &[0, 1, 2],
            source_ip: "127.0.0.1".into(),
            request_id: "rid",
        });
        assert_eq!(ev["version"], "2.0");
        assert_eq!(ev["rawQueryString"], "domain=%2Fhome%2Fx.h5&a=1&a=2");
        assert_eq!(ev["queryStringParameters"]["domain"], "/home/x.h5");
        assert_eq!(ev["queryStringParameters"]["a"], "1,2");
        assert_eq!(ev["headers"]["x-multi"], "a,b");
        assert_eq!(ev["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(ev["requestContext"]["http"]["method"], "PUT");
        assert_eq!(ev["isBase64Encoded"], true);
        assert_eq!(ev["body"], "AAEC");
        assert!(ev["requestContext"]["timeEpoch"].as_u64().unwrap() > 1_600_000_000_000);
    }

    #[test]
    fn textual_bodies_stay_text() {
        assert!(is_textual(Some("application/json; charset=utf-8")));
        assert!(is_textual(Some("text/plain")));
        assert!(!is_textual(Some("application/octet-stream")));
        assert!(!is_textual(None));
    }

    #[tokio::test]
    async fn response_mapping() {
        let r = v2_response(
            br#"{"statusCode":201,"headers":{"x-a":"1"},"body":"AAE=","isBase64Encoded":true,"cookies":["c=1"]}"#,
        );
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["x-a"], "1");
        assert_eq!(r.headers()["set-cookie"], "c=1");
        let body = axum::body::to_bytes(r.into_body(), 100).await.unwrap();
        assert_eq!(&body[..], &[0, 1]);
        let r = v2_response(br#"{"hello":"world"}"#);
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(v2_response(b"not json").status(), 500);
    }

    #[test]
    fn front_door_names() {
        for name in FrontDoor::NAMES {
            assert_eq!(FrontDoor::parse(name).unwrap().name(), name);
        }
        assert!(FrontDoor::parse("alb").unwrap_err().contains("api-gateway, function-url"));
        assert_eq!(FrontDoor::default(), FrontDoor::FunctionUrlStream);
        assert_eq!(FrontDoor::default().invoke_mode(), "RESPONSE_STREAM");
        assert_eq!(FrontDoor::ApiGateway.invoke_mode(), "BUFFERED");
    }

    #[test]
    fn oversized_request_message_names_the_limit_and_a_slab() {
        let m = request_too_large(10_700_000, 8_000_000, "domain=%2Fx.h5&select=%5B0%3A500%2C%3A%5D");
        assert!(m.starts_with("Request Entity Too Large"), "{m}");
        assert!(m.contains("6291456-byte"), "{m}");
        // 16000-byte rows: about 4.7 MB of body fits, 293 rows.
        assert!(m.contains("at most 293 rows"), "{m}");
    }

    #[test]
    fn clf_time_format() {
        assert_eq!(clf_time(UNIX_EPOCH + std::time::Duration::from_secs(1_584_039_838)), "12/Mar/2020:19:03:58 +0000");
    }
}

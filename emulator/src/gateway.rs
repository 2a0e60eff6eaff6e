//! The HTTP front door, like an API Gateway HTTP API (`$default` route, payload format 2.0) or a
//! Lambda Function URL: plain HTTP → v2 event → invoke → the function's v2 response → HTTP.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::sandbox::{Admission, InvokeError, ACCOUNT_ID};
use crate::AppState;

/// API Gateway HTTP API's request payload limit (10 MB).
pub const MAX_GATEWAY_BODY: usize = 10 * 1024 * 1024;
/// API Gateway HTTP API's hard integration timeout: a slower function gets 503 at the front door.
pub const INTEGRATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Lambda's synchronous invocation payload limit (6 MB), which the whole event must fit.
pub const MAX_SYNC_EVENT: usize = 6 * 1024 * 1024;

/// Which AWS front door the HTTP port imitates. Both send the same payload 2.0 event and map the
/// response alike; they differ when Lambda is slow or at its concurrency limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FrontDoor {
    /// API Gateway HTTP API: 30 s integration timeout (then 503); a throttled invocation is a 500
    /// `{"message":"Internal Server Error"}` (API Gateway does not pass Lambda's 429 through).
    #[default]
    ApiGateway,
    /// Lambda Function URL: only the function timeout applies; a throttled invocation is a 429
    /// `TooManyRequestsException` `{"message":"Rate Exceeded."}`.
    FunctionUrl,
}

impl FrontDoor {
    /// The names `--front-door` accepts.
    pub const NAMES: [&'static str; 2] = ["api-gateway", "function-url"];

    /// Parses `api-gateway` or `function-url`.
    pub fn parse(s: &str) -> Result<FrontDoor, String> {
        match s {
            "api-gateway" => Ok(FrontDoor::ApiGateway),
            "function-url" => Ok(FrontDoor::FunctionUrl),
            other => Err(format!("unknown front door {other:?}: one of {}", FrontDoor::NAMES.join(", "))),
        }
    }

    /// Its `--front-door` name.
    pub fn name(self) -> &'static str {
        match self {
            FrontDoor::ApiGateway => "api-gateway",
            FrontDoor::FunctionUrl => "function-url",
        }
    }

    /// How long the front door waits for the function before answering 503 itself (None: as long as
    /// the function may run).
    pub fn integration_timeout(self) -> Option<std::time::Duration> {
        match self {
            FrontDoor::ApiGateway => Some(INTEGRATION_TIMEOUT),
            FrontDoor::FunctionUrl => None,
        }
    }

    /// The answer when every instance is busy (Lambda throttled the invocation).
    fn throttled(self) -> Response {
        match self {
            FrontDoor::ApiGateway => gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
            FrontDoor::FunctionUrl => {
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
    let event = v2_event(&HttpParts {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &body,
        source_ip: peer.ip().to_string(),
        request_id: &request_id,
    });
    let event = Bytes::from(event.to_string());
    if event.len() > MAX_SYNC_EVENT {
        return gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    }
    // A synchronous invocation: at the concurrency limit Lambda throttles it rather than queueing.
    // API Gateway stops waiting after its integration timeout; the invocation itself runs on.
    let sandbox = app.sandbox.clone();
    let running = tokio::spawn(async move { sandbox.invoke(event, None, Admission::Throttle).await });
    let joined = match app.front_door.integration_timeout() {
        Some(limit) => match tokio::time::timeout(limit, running).await {
            Ok(joined) => joined,
            Err(_) => return gateway_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        },
        None => running.await,
    };
    let outcome = joined.unwrap_or_else(|join| Err(InvokeError::Spawn(join.to_string())));
    let mut resp = match outcome {
        Ok(done) if done.function_error => {
            if done.report.status == Some("timeout") {
                gateway_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
            } else {
                gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
        Ok(done) => v2_response(&done.payload),
        Err(InvokeError::Throttled) => app.front_door.throttled(),
        Err(e) => {
            tracing::error!("front door: {e}");
            gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("apigw-requestid", v);
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
        assert_eq!(FrontDoor::default(), FrontDoor::ApiGateway);
    }

    #[test]
    fn clf_time_format() {
        assert_eq!(clf_time(UNIX_EPOCH + std::time::Duration::from_secs(1_584_039_838)), "12/Mar/2020:19:03:58 +0000");
    }
}

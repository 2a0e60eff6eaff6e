//! Lambda events ⇄ [`Request`]/[`Response`].
//!
//! Three input shapes are recognised, each answered in its own output shape:
//!
//! * **h5pyd direct invoke** — `{method, path, params, headers, body}` in (params may hold ints, `"T"`,
//!   `null`; body is JSON text or null); out `{statusCode, headers: <JSON *string*>, body: <JSON object |
//!   hex string>, isBase64Encoded}` where `isBase64Encoded: true` means *hex*, as HSDS and h5pyd 0.24 use it.
//! * **API Gateway HTTP API v2 / Function URL** — `version: "2.0"`, `rawPath`, `rawQueryString`, base64
//!   bodies; answered with real status codes and base64 binary bodies.
//! * **API Gateway REST (v1)** — `httpMethod`, `path`, `multiValueQueryStringParameters`.
//!
//! A response larger than Lambda's synchronous payload limit once encoded is replaced by a 413 that
//! says how to page.
//!
//! When the deployer configured a streaming front door ([`crate::stream::ResponseMode`]), HTTP-integration
//! events are answered as a [`Reply::Streamed`] instead: status and headers for Lambda's metadata prelude,
//! then the raw body (no base64, no JSON envelope) piece by piece, up to 200 MB.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::request::{Request, Response};
use crate::service::Service;
use crate::stream::{self, BodyStream, ResponseMode};

/// Lambda's synchronous response payload limit (6 MB).
pub const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
/// Room kept for the envelope (status, headers, quoting) when checking a body against the limit.
const ENVELOPE_ALLOWANCE: usize = 4096;

/// Which event contract a request arrived in; decides how the response is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// h5pyd's `http+lambda://` direct invoke (HSDS's `lambda_function.py` contract).
    Direct,
    /// API Gateway HTTP API payload 2.0, or a Lambda Function URL.
    ApiGatewayV2,
    /// API Gateway REST API (payload 1.0).
    ApiGatewayV1,
}

/// Works out the event's shape from its keys.
pub fn shape_of(event: &Value) -> Shape {
    let ctx = event.get("requestContext");
    if event.get("version").and_then(Value::as_str) == Some("2.0")
        || event.get("rawPath").is_some()
        || ctx.and_then(|c| c.get("http")).is_some()
    {
        Shape::ApiGatewayV2
    } else if event.get("httpMethod").is_some() || ctx.and_then(|c| c.get("httpMethod")).is_some() {
        Shape::ApiGatewayV1
    } else {
        Shape::Direct
    }
}

/// A JSON scalar as a query/header string; `None` for null (h5pyd sends `{"domain": null}`).
fn scalar_to_string(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "1".into() } else { "0".into() }),
        other => Some(other.to_string()),
    }
}

fn string_map(v: Option<&Value>, what: &str) -> Result<Vec<(String, String)>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => {
            Ok(m.iter().filter_map(|(k, v)| scalar_to_string(v).map(|s| (k.clone(), s))).collect())
        }
        Some(_) => Err(ApiError::bad_request(format!("event field {what:?} must be an object"))),
    }
}

fn lower_headers(h: Vec<(String, String)>) -> Vec<(String, String)> {
    h.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect()
}

/// Splits a raw query string into decoded pairs (`+` is a space, `%xx` decoded).
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.trim_start_matches('?').as_bytes()).into_owned().collect()
}

fn body_bytes(event: &Value) -> Result<Bytes, ApiError> {
    let b64 = event.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false);
    match event.get("body") {
        None | Some(Value::Null) => Ok(Bytes::new()),
        Some(Value::String(s)) if b64 => base64_simd::STANDARD
            .decode_to_vec(s)
            .map(Bytes::from)
            .map_err(|e| ApiError::bad_request(format!("event body is flagged base64 but does not decode: {e}"))),
        Some(Value::String(s)) => Ok(Bytes::from(s.clone())),
        // Lenient: a body sent as a JSON value rather than JSON text.
        Some(other) => Ok(Bytes::from(other.to_string())),
    }
}

fn method_of(v: Option<&Value>) -> Result<String, ApiError> {
    let m = v.and_then(Value::as_str).unwrap_or("GET").to_ascii_uppercase();
    // Any token: the route table answers 405 for a method a route does not serve, as HSDS does.
    if !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(m)
    } else {
        Err(ApiError::bad_request(format!("unsupported method {m:?}")))
    }
}

/// Decodes any supported event into a [`Request`].
pub fn decode(event: &Value) -> Result<(Shape, Request), (Shape, ApiError)> {
    let shape = shape_of(event);
    decode_as(shape, event).map(|r| (shape, r)).map_err(|e| (shape, e))
}

fn decode_as(shape: Shape, event: &Value) -> Result<Request, ApiError> {
    if !event.is_object() {
        return Err(ApiError::bad_request("event must be a JSON object"));
    }
    let ctx = &event["requestContext"];
    let mut req = match shape {
        Shape::Direct => {
            // `request` is the HSDS Lambda guide's name for the path. An event with neither (the Lambda
            // console's default test event `{"key1": "value1", ...}`) asks for `/about`, so that pressing
            // "Test" after deploying shows the function working.
            let path = match event.get("path").or_else(|| event.get("request")) {
                None | Some(Value::Null) => "/about",
                Some(Value::String(p)) => p.as_str(),
                Some(_) => return Err(ApiError::bad_request("the event's \"path\" must be a string")),
            };
            Request {
                method: method_of(event.get("method"))?,
                path: path.to_string(),
                params: string_map(event.get("params"), "params")?,
                headers: lower_headers(string_map(event.get("headers"), "headers")?),
                body: body_bytes(event)?,
            }
        }
        Shape::ApiGatewayV2 => {
            let mut path = event
                .get("rawPath")
                .or_else(|| ctx.get("http").and_then(|h| h.get("path")))
                .and_then(Value::as_str)
                .unwrap_or("/")
                .to_string();
            // A named stage appears as the first path segment of rawPath; the API's routes are below it.
            if let Some(stage) = ctx.get("stage").and_then(Value::as_str).filter(|s| *s != "$default") {
                if let Some(rest) = path.strip_prefix(&format!("/{stage}")) {
                    if rest.is_empty() || rest.starts_with('/') {
                        path = if rest.is_empty() { "/".into() } else { rest.to_string() };
                    }
                }
            }
            let params = match event.get("rawQueryString").and_then(Value::as_str) {
                Some(raw) => parse_query(raw),
                None => string_map(event.get("queryStringParameters"), "queryStringParameters")?,
            };
            Request {
                method: method_of(ctx.get("http").and_then(|h| h.get("method")))?,
                path,
                params,
                headers: lower_headers(string_map(event.get("headers"), "headers")?),
                body: body_bytes(event)?,
            }
        }
        Shape::ApiGatewayV1 => {
            let params = match event.get("multiValueQueryStringParameters") {
                Some(Value::Object(m)) => m
                    .iter()
                    .flat_map(|(k, vs)| {
                        vs.as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(move |v| scalar_to_string(v).map(|s| (k.clone(), s)))
                    })
                    .collect(),
                _ => string_map(event.get("queryStringParameters"), "queryStringParameters")?,
            };
            Request {
                method: method_of(event.get("httpMethod").or_else(|| ctx.get("httpMethod")))?,
                path: event.get("path").and_then(Value::as_str).unwrap_or("/").to_string(),
                params,
                headers: lower_headers(string_map(event.get("headers"), "headers")?),
                body: body_bytes(event)?,
            }
        }
    };
    if req.path.is_empty() {
        req.path = "/".into();
    }
    Ok(req)
}

/// Bytes the body will take once encoded for `shape` (hex doubles, base64 adds a third).
fn encoded_body_len(shape: Shape, rsp: &Response) -> usize {
    let n = rsp.body.len();
    match (shape, rsp.is_binary()) {
        (Shape::Direct, true) => 2 * n,
        (_, true) => n.div_ceil(3) * 4,
        // JSON text embedded in a JSON string may need escaping; quotes are the common case.
        _ => n + n / 8,
    }
}

/// Replaces a response that cannot fit Lambda's payload limit with a 413 explaining how to page.
fn enforce_payload_limit(shape: Shape, rsp: Response) -> Response {
    let encoded = encoded_body_len(shape, &rsp);
    if encoded + ENVELOPE_ALLOWANCE <= MAX_SYNC_PAYLOAD {
        return rsp;
    }
    let raw_limit = match (shape, rsp.is_binary()) {
        (Shape::Direct, true) => (MAX_SYNC_PAYLOAD - ENVELOPE_ALLOWANCE) / 2,
        (_, true) => (MAX_SYNC_PAYLOAD - ENVELOPE_ALLOWANCE) / 4 * 3,
        _ => (MAX_SYNC_PAYLOAD - ENVELOPE_ALLOWANCE) * 8 / 9,
    };
    ApiError::too_large(format!(
        "the response is {} bytes ({} once encoded), over Lambda's 6 MB synchronous payload limit; \
         request at most {} bytes at a time, e.g. by reading a smaller select=[...] range",
        rsp.body.len(),
        encoded,
        raw_limit
    ))
    .to_response()
}

fn header_object(rsp: &Response) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in &rsp.headers {
        m.insert(k.clone(), Value::String(v.clone()));
    }
    m.insert("Content-Length".into(), Value::String(rsp.body.len().to_string()));
    m
}

/// A response body once encoded for the caller's shape.
enum EncodedBody {
    /// None (Direct shape with an empty body).
    Absent,
    /// Hex or base64 text: never needs JSON escaping, so it is written into the payload as it is.
    Plain(String),
    /// Any other JSON value (text bodies, Direct-shape JSON bodies).
    Json(Value),
}

/// The Lambda payload for a response in the caller's shape: the envelope (status, headers, flags) and the
/// body, apart.
fn envelope(shape: Shape, rsp: Response) -> (Map<String, Value>, EncodedBody) {
    let rsp = enforce_payload_limit(shape, rsp);
    let headers = header_object(&rsp);
    match shape {
        Shape::Direct => {
            let (body, hex) = if rsp.body.is_empty() {
                (EncodedBody::Absent, false)
            } else if rsp.is_binary() {
                (EncodedBody::Plain(hex::encode(&rsp.body)), true)
            } else {
                match serde_json::from_slice::<Value>(&rsp.body) {
                    Ok(Value::Null) => (EncodedBody::Absent, false),
                    Ok(v) => (EncodedBody::Json(v), false),
                    Err(_) => {
                        (EncodedBody::Json(Value::String(String::from_utf8_lossy(&rsp.body).into_owned())), false)
                    }
                }
            };
            let mut out = Map::new();
            out.insert("statusCode".into(), json!(rsp.status));
            out.insert("headers".into(), Value::String(Value::Object(headers).to_string()));
            out.insert("isBase64Encoded".into(), Value::Bool(hex));
            (out, body)
        }
        Shape::ApiGatewayV2 | Shape::ApiGatewayV1 => {
            let (body, b64) = if rsp.is_binary() {
                (EncodedBody::Plain(base64_simd::STANDARD.encode_to_string(&rsp.body)), true)
            } else {
                (EncodedBody::Json(Value::String(String::from_utf8_lossy(&rsp.body).into_owned())), false)
            };
            let mut out = Map::new();
            out.insert("statusCode".into(), json!(rsp.status));
            out.insert("headers".into(), Value::Object(headers));
            out.insert("isBase64Encoded".into(), Value::Bool(b64));
            // The v2 format's `cookies` is optional for API Gateway, but some local runtimes (cargo lambda
            // watch) refuse a response without it; the handler never sets cookies, so it is always empty.
            if shape == Shape::ApiGatewayV2 {
                out.insert("cookies".into(), json!([]));
            }
            (out, body)
        }
    }
}

/// Encodes a response in the caller's shape as a JSON value.
pub fn encode(shape: Shape, rsp: Response) -> Value {
    let (mut out, body) = envelope(shape, rsp);
    match body {
        EncodedBody::Absent => {}
        EncodedBody::Plain(text) => {
            out.insert("body".into(), Value::String(text));
        }
        EncodedBody::Json(v) => {
            out.insert("body".into(), v);
        }
    }
    Value::Object(out)
}

/// Encodes a response in the caller's shape as JSON text, the same document as [`encode`]. A hex or base64
/// body is copied in as it is: serialising it as a JSON string would scan every byte for characters to
/// escape (a quarter of the function's CPU for a 625 KB binary response).
pub fn encode_text(shape: Shape, rsp: Response) -> String {
    let (mut out, body) = envelope(shape, rsp);
    let text = match body {
        EncodedBody::Plain(text) => text,
        EncodedBody::Absent => return Value::Object(out).to_string(),
        EncodedBody::Json(v) => {
            out.insert("body".into(), v);
            return Value::Object(out).to_string();
        }
    };
    let mut doc = Value::Object(out).to_string();
    doc.pop(); // the closing brace; the envelope always has members, so a comma follows them
    doc.reserve(text.len() + 12);
    doc.push_str(",\"body\":\"");
    doc.push_str(&text);
    doc.push_str("\"}");
    doc
}

/// Serves one Lambda event end to end: decode, handle, encode. `deadline` is the invocation's deadline
/// (S3 work is not started too close to it; see [`crate::deadline`]).
pub async fn handle_event(svc: &Service, event: &Value, deadline: Option<std::time::Instant>) -> Value {
    let (shape, rsp) = respond(svc, event, deadline).await;
    encode(shape, rsp)
}

/// [`handle_event`] with the payload as JSON text ([`encode_text`]): what the function sends back.
pub async fn handle_event_text(svc: &Service, event: &Value, deadline: Option<std::time::Instant>) -> String {
    let (shape, rsp) = respond(svc, event, deadline).await;
    encode_text(shape, rsp)
}

/// What the function sends back for one event.
pub enum Reply {
    /// One JSON document in the caller's shape ([`encode_text`]): Lambda's buffered response.
    Buffered(String),
    /// An HTTP-integration streamed response: status, headers and cookies go in Lambda's metadata prelude,
    /// then the body pieces as they are produced.
    Streamed {
        /// HTTP status.
        status: u16,
        /// Response headers.
        headers: Vec<(String, String)>,
        /// The body, piece by piece; an `Err` after the first piece is a mid-stream error.
        body: BodyStream,
    },
}

/// Serves one Lambda event end to end in the mode the deployment gives it ([`ResponseMode::from_env`]):
/// buffered events as [`handle_event_text`] answers them, streaming ones as a [`Reply::Streamed`].
pub async fn handle_event_reply(svc: &Service, event: &Value, deadline: Option<std::time::Instant>) -> Reply {
    let mode = ResponseMode::from_env(shape_of(event) != Shape::Direct);
    reply_in_mode(svc, event, deadline, mode).await
}

/// [`handle_event_reply`] with the response mode given.
pub async fn reply_in_mode(
    svc: &Service,
    event: &Value,
    deadline: Option<std::time::Instant>,
    mode: ResponseMode,
) -> Reply {
    let (shape, rsp) = stream::with_mode(mode, respond(svc, event, deadline)).await;
    match mode {
        ResponseMode::Buffered => Reply::Buffered(encode_text(shape, rsp)),
        ResponseMode::Streaming => streamed(rsp),
    }
}

/// A response as a streamed reply: its first bytes, then its stream (if any).
fn streamed(rsp: Response) -> Reply {
    let first = futures::stream::iter((!rsp.body.is_empty()).then_some(Ok(rsp.body.clone())));
    let body: BodyStream = match rsp.stream.as_ref().and_then(|s| s.take()) {
        Some(rest) => Box::pin(futures::StreamExt::chain(first, rest)),
        None => Box::pin(first),
    };
    Reply::Streamed { status: rsp.status, headers: rsp.headers, body }
}

async fn respond(svc: &Service, event: &Value, deadline: Option<std::time::Instant>) -> (Shape, Response) {
    match decode(event) {
        Ok((shape, req)) => (shape, crate::deadline::with_deadline(deadline, svc.handle(req)).await),
        Err((shape, err)) => (shape, err.to_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_invoke_event_from_readme() {
        let ev: Value = serde_json::from_str(include_str!("../../fixtures/events/direct-get-value.json")).unwrap();
        let (shape, req) = decode(&ev).unwrap();
        assert_eq!(shape, Shape::Direct);
        assert_eq!(req.method, "GET");
        assert!(req.path.ends_with("/value"));
        assert_eq!(req.get_param("select"), Some("[0:100,620,1401]"));
        assert_eq!(req.get_param("bucket"), Some("nrel-pds-hsds"));
        assert!(req.wants_binary());
    }

    #[test]
    fn direct_params_hold_ints_t_and_null() {
        let ev = json!({"method": "get", "path": "/", "params": {"domain": null, "getdnids": 1, "getobjs": "T"},
            "headers": {"Authorization": "Basic eA=="}, "body": null});
        let (_, req) = decode(&ev).unwrap();
        assert_eq!(req.method, "GET");
        assert_eq!(req.get_param("domain"), None);
        assert_eq!(req.get_param("getdnids"), Some("1"));
        assert!(req.flag("getobjs"));
        assert_eq!(req.get_header("authorization"), Some("Basic eA=="));
        assert!(req.body.is_empty());
    }

    #[test]
    fn payload_text_is_the_same_document_as_the_value() {
        let binary = || Response::binary((0..=255u8).cycle().take(3000).collect::<Vec<u8>>());
        let json_body = || Response::json(201, &json!({"id": "g-1", "note": "quote \" and \\ and \n"}));
        let text = || {
            let mut r = Response::json(200, &json!({}));
            r.body = Bytes::from_static(b"plain \"text\"\n");
            r
        };
        let empty = || {
            let mut r = Response::json(204, &json!({}));
            r.body = Bytes::new();
            r
        };
        for shape in [Shape::Direct, Shape::ApiGatewayV1, Shape::ApiGatewayV2] {
            for make in [&binary as &dyn Fn() -> Response, &json_body, &text, &empty] {
                let value = encode(shape, make());
                let parsed: Value = serde_json::from_str(&encode_text(shape, make())).expect("valid JSON");
                assert_eq!(parsed, value, "{shape:?}");
            }
        }
    }

    #[test]
    fn direct_bad_path_is_400_in_direct_shape() {
        let (shape, err) = decode(&json!({"method": "GET", "path": ["/"]})).unwrap_err();
        assert_eq!((shape, err.status), (Shape::Direct, 400));
        let out = encode(shape, err.to_response());
        assert_eq!(out["statusCode"], 400);
        assert!(out["headers"].is_string());
    }

    #[test]
    fn direct_binary_is_hex_and_headers_a_json_string() {
        let out = encode(Shape::Direct, Response::binary(vec![0u8, 1, 255]));
        assert_eq!(out["body"], "0001ff");
        assert_eq!(out["isBase64Encoded"], true);
        let h: Value = serde_json::from_str(out["headers"].as_str().unwrap()).unwrap();
        assert_eq!(h["Content-Type"], "application/octet-stream");
        assert_eq!(h["Content-Length"], "3");
        let out = encode(Shape::Direct, Response::json(201, &json!({"root": "g-1"})));
        assert_eq!(out["body"]["root"], "g-1");
        assert_eq!(out["isBase64Encoded"], false);
    }

    #[test]
    fn api_gateway_v2_event() {
        let ev: Value = serde_json::from_str(include_str!("../../fixtures/events/apigw-v2-put-binary.json")).unwrap();
        let (shape, req) = decode(&ev).unwrap();
        assert_eq!(shape, Shape::ApiGatewayV2);
        assert_eq!(req.method, "PUT");
        assert_eq!(req.path, "/datasets/d-f9aaa28e-d42e10e5-0123-456789-abcdef/value");
        assert_eq!(req.get_param("select"), Some("[0:2]"));
        assert_eq!(req.get_param("domain"), Some("/home/test_user1/f.h5"));
        assert_eq!(&req.body[..], &[1u8, 0, 0, 0, 2, 0, 0, 0]);
        let out = encode(shape, Response::binary(vec![1u8, 2, 3]));
        assert_eq!(out["body"], "AQID");
        assert_eq!(out["isBase64Encoded"], true);
        assert_eq!(out["headers"]["Content-Type"], "application/octet-stream");
        assert_eq!(out["cookies"], json!([]), "cargo lambda watch refuses v2 responses without cookies");
    }

    #[test]
    fn api_gateway_v2_named_stage_is_stripped() {
        let ev = json!({"version": "2.0", "rawPath": "/prod/about", "rawQueryString": "",
            "requestContext": {"stage": "prod", "http": {"method": "GET", "path": "/prod/about"}}});
        assert_eq!(decode(&ev).unwrap().1.path, "/about");
    }

    #[test]
    fn api_gateway_v1_event() {
        let ev: Value = serde_json::from_str(include_str!("../../fixtures/events/apigw-v1-get-domain.json")).unwrap();
        let (shape, req) = decode(&ev).unwrap();
        assert_eq!(shape, Shape::ApiGatewayV1);
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/");
        assert_eq!(req.get_param("domain"), Some("/home/test_user1/f.h5"));
        let out = encode(shape, Response::json(404, &json!({"error": {}})));
        assert_eq!(out["statusCode"], 404);
        assert!(out["body"].is_string());
        assert!(out.get("cookies").is_none(), "v1 responses have no cookies field");
    }

    #[test]
    fn console_default_test_event_asks_for_about_and_request_names_the_path() {
        let ev: Value = serde_json::from_str(include_str!("../../fixtures/events/console-default-test.json")).unwrap();
        let (shape, req) = decode(&ev).unwrap();
        assert_eq!((shape, req.method.as_str(), req.path.as_str()), (Shape::Direct, "GET", "/about"));
        let ev: Value = serde_json::from_str(include_str!("../../fixtures/events/direct-request-key.json")).unwrap();
        assert_eq!(decode(&ev).unwrap().1.path, "/about");
        assert_eq!(decode(&json!({"request": "/domains"})).unwrap().1.path, "/domains");
        assert_eq!(decode(&json!({"path": 5})).unwrap_err().1.status, 400);
    }

    #[test]
    fn bad_base64_body_is_400() {
        let ev = json!({"version": "2.0", "rawPath": "/", "isBase64Encoded": true, "body": "***",
            "requestContext": {"http": {"method": "PUT"}}});
        assert_eq!(decode(&ev).unwrap_err().1.status, 400);
    }

    #[test]
    fn oversized_responses_become_413() {
        let big = Response::binary(vec![0u8; 4 * 1024 * 1024]);
        let out = encode(Shape::Direct, big.clone());
        assert_eq!(out["statusCode"], 413);
        let out = encode(Shape::ApiGatewayV2, big);
        assert_eq!(out["statusCode"], 200, "4 MiB fits once base64-encoded");
        let out = encode(Shape::ApiGatewayV2, Response::binary(vec![0u8; 5 * 1024 * 1024]));
        assert_eq!(out["statusCode"], 413);
        assert!(out["body"].as_str().unwrap().contains("6 MB"));
    }
}

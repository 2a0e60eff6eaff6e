//! Transport-independent HTTP request and response, the values `Service::handle` works on.
//!
//! Every Lambda event shape (h5pyd direct invoke, API Gateway v1/v2, Function URL) is decoded into a
//! [`Request`] by `event.rs`, and every [`Response`] is encoded back into the caller's shape there.

use bytes::Bytes;
use serde_json::Value;

/// One REST request: method, path, decoded query parameters, lower-cased headers and the raw body.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Upper-case HTTP method (`GET`, `PUT`, `POST`, `DELETE`, ...).
    pub method: String,
    /// Path without query string, percent-decoded, e.g. `/groups/g-.../links/a%2Fb` → `/groups/g-.../links/a/b`
    /// is NOT done here: path segments are decoded one by one by the router.
    pub path: String,
    /// Query parameters in arrival order; values already percent-decoded.
    pub params: Vec<(String, String)>,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// Raw request body (may be empty).
    pub body: Bytes,
}

impl Request {
    /// A request with the given method and path and nothing else.
    pub fn new(method: &str, path: &str) -> Self {
        Request { method: method.to_ascii_uppercase(), path: path.to_string(), ..Default::default() }
    }

    /// Adds a query parameter (builder style, for tests and event decoding).
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.params.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds a header; the name is lower-cased.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body.
    pub fn json(self, body: &Value) -> Self {
        self.header("content-type", "application/json").body(body.to_string())
    }

    /// The first value of query parameter `name`, if present.
    pub fn get_param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of header `name` (case-insensitive), if present.
    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// HSDS boolean parameter semantics: missing, empty, `0`, `false` → false; anything else → true.
    pub fn flag(&self, name: &str) -> bool {
        match self.get_param(name) {
            None => false,
            Some(v) => !matches!(v.trim(), "" | "0" | "false" | "False" | "FALSE"),
        }
    }

    /// True when the client asked for a binary (`application/octet-stream`) response.
    pub fn wants_binary(&self) -> bool {
        self.get_header("accept").is_some_and(|a| a.contains("application/octet-stream"))
    }

    /// True when the body is declared as binary.
    pub fn body_is_binary(&self) -> bool {
        self.get_header("content-type").is_some_and(|c| c.starts_with("application/octet-stream"))
    }
}

/// One REST response. Bodies are either JSON or raw bytes (`application/octet-stream`).
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Headers to send, names in their canonical (Title-Case) spelling, which h5pyd 0.24 relies on.
    pub headers: Vec<(String, String)>,
    /// Body bytes (the first piece, when the body streams).
    pub body: Bytes,
    /// The rest of a streamed body, sent after `body` (only in [`crate::stream::ResponseMode::Streaming`]).
    pub stream: Option<crate::stream::StreamedBody>,
}

/// Content type of every JSON response, as HSDS sends it.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// Content type of binary value responses; h5pyd requires exactly this string.
pub const BINARY_CONTENT_TYPE: &str = "application/octet-stream";

impl Response {
    /// A JSON response with the given status.
    pub fn json(status: u16, body: &Value) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), JSON_CONTENT_TYPE.into())],
            body: Bytes::from(serde_json::to_vec(body).expect("serde_json::Value always serializes")),
            stream: None,
        }
    }

    /// A binary (`application/octet-stream`) 200 response.
    pub fn binary(body: impl Into<Bytes>) -> Self {
        Response {
            status: 200,
            headers: vec![("Content-Type".into(), BINARY_CONTENT_TYPE.into())],
            body: body.into(),
            stream: None,
        }
    }

    /// A response with no body (e.g. 204).
    pub fn empty(status: u16) -> Self {
        Response { status, headers: Vec::new(), body: Bytes::new(), stream: None }
    }

    /// The value of header `name` (case-insensitive), if set.
    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// True when the body is binary rather than JSON or text.
    pub fn is_binary(&self) -> bool {
        self.get_header("content-type") == Some(BINARY_CONTENT_TYPE)
    }

    /// `self` with `stream` following its body.
    pub fn streamed(mut self, stream: crate::stream::BodyStream) -> Self {
        self.stream = Some(crate::stream::StreamedBody::new(stream));
        self
    }

    /// Parses the body as JSON (for tests and the direct-invoke encoder).
    pub fn json_body(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

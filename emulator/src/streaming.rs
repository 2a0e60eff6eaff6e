//! Lambda response streaming, shared by the Runtime API (which receives a streamed response), the front
//! doors (Function URL / API Gateway REST streaming) and the `InvokeWithResponseStream` API:
//!
//! * [`split_prelude`]: the HTTP-integration prelude (`application/vnd.awslambda.http-integration-response`:
//!   JSON `{statusCode, headers, multiValueHeaders, cookies}`, then 8 NUL bytes, then the body);
//! * [`Bandwidth`]: Lambda's streaming bandwidth (the first bytes unthrottled, then 2 MB/s);
//! * [`event_message`]: AWS eventstream framing (`PayloadChunk`, `InvokeComplete`) as botocore parses it;
//! * [`parse_error_text`]: `lambda_runtime` 1.5's mid-stream error, which it writes as body text instead
//!   of HTTP trailers.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;

/// Content type of a streamed response that starts with the HTTP-integration prelude.
pub const HTTP_INTEGRATION_CONTENT_TYPE: &str = "application/vnd.awslambda.http-integration-response";
/// Lambda's limit on a streamed response (200 MB).
pub const MAX_STREAMED_RESPONSE: usize = 200 * 1024 * 1024;
/// Bytes of a streamed response sent unthrottled by a Function URL / `InvokeWithResponseStream`.
pub const UNTHROTTLED_BYTES: u64 = 6 * 1024 * 1024;
/// Bytes of a streamed response sent unthrottled by an API Gateway REST streaming integration.
pub const REST_UNTHROTTLED_BYTES: u64 = 10 * 1024 * 1024;
/// Lambda's streaming bandwidth after the unthrottled part: 2 MB/s.
pub const STREAM_BYTES_PER_SEC: u64 = 2 * 1024 * 1024;
/// The trailer (or `lambda_runtime`'s body-text stand-in) naming a mid-stream error's type.
pub const ERROR_TYPE_TRAILER: &str = "Lambda-Runtime-Function-Error-Type";
/// The trailer carrying a mid-stream error's body, base64.
pub const ERROR_BODY_TRAILER: &str = "Lambda-Runtime-Function-Error-Body";

/// Whether streamed responses are slowed to Lambda's bandwidth (`--stream-bandwidth`); serialised as its
/// `--stream-bandwidth` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamBandwidth {
    /// Lambda's model: the first bytes free, then 2 MB/s.
    #[default]
    Lambda,
    /// As fast as loopback goes.
    Unlimited,
}

impl StreamBandwidth {
    /// The names `--stream-bandwidth` accepts.
    pub const NAMES: [&'static str; 2] = ["lambda", "unlimited"];

    /// Parses `lambda` or `unlimited`.
    pub fn parse(s: &str) -> Result<StreamBandwidth, String> {
        match s {
            "lambda" => Ok(StreamBandwidth::Lambda),
            "unlimited" => Ok(StreamBandwidth::Unlimited),
            other => Err(format!("unknown stream bandwidth {other:?}: one of {}", Self::NAMES.join(", "))),
        }
    }

    /// Its `--stream-bandwidth` name.
    pub fn name(self) -> &'static str {
        match self {
            StreamBandwidth::Lambda => "lambda",
            StreamBandwidth::Unlimited => "unlimited",
        }
    }

    /// The pacer for one response whose first `free` bytes are unthrottled.
    pub fn pacer(self, free: u64) -> Bandwidth {
        match self {
            StreamBandwidth::Lambda => Bandwidth::new(free, STREAM_BYTES_PER_SEC),
            StreamBandwidth::Unlimited => Bandwidth::unlimited(),
        }
    }
}

/// Paces one streamed response: the first `free` bytes go at once, later bytes at `rate` bytes/s.
#[derive(Debug)]
pub struct Bandwidth {
    free: u64,
    rate: Option<u64>,
    sent: u64,
    throttled_since: Option<tokio::time::Instant>,
}

impl Bandwidth {
    /// A pacer: `free` bytes unthrottled, then `rate` bytes per second.
    pub fn new(free: u64, rate: u64) -> Self {
        Bandwidth { free, rate: Some(rate.max(1)), sent: 0, throttled_since: None }
    }

    /// No pacing at all.
    pub fn unlimited() -> Self {
        Bandwidth { free: u64::MAX, rate: None, sent: 0, throttled_since: None }
    }

    /// How long to wait before `n` more bytes may go, counting them as sent.
    pub fn delay_for(&mut self, n: u64, now: tokio::time::Instant) -> Duration {
        let Some(rate) = self.rate else { return Duration::ZERO };
        self.sent += n;
        if self.sent <= self.free {
            return Duration::ZERO;
        }
        let since = *self.throttled_since.get_or_insert(now);
        // Bytes past the free allowance, this piece included, are due at `rate` from when throttling began.
        let owed = self.sent - self.free;
        let due = since + Duration::from_secs_f64(owed as f64 / rate as f64);
        due.saturating_duration_since(now)
    }

    /// Waits until `n` more bytes may go.
    pub async fn pace(&mut self, n: u64) {
        let wait = self.delay_for(n, tokio::time::Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The status, headers and cookies of an HTTP-integration prelude.
#[derive(Debug, Clone, PartialEq)]
pub struct Prelude {
    /// HTTP status (200 when absent).
    pub status: u16,
    /// Headers, in order; `multiValueHeaders` entries are appended.
    pub headers: Vec<(String, String)>,
    /// `Set-Cookie` values.
    pub cookies: Vec<String>,
}

/// Splits the prelude off the start of a streamed body once its 8-NUL separator has arrived: `Ok(None)`
/// when more bytes are needed, `Ok(Some((prelude, rest)))` with the body bytes after it, `Err` when the
/// prelude is not the JSON object Lambda requires.
pub fn split_prelude(buf: &[u8]) -> Result<Option<(Prelude, Bytes)>, String> {
    let Some(end) = buf.windows(8).position(|w| w == [0u8; 8]) else { return Ok(None) };
    let v: Value = serde_json::from_slice(&buf[..end]).map_err(|e| format!("the prelude is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("the prelude is not a JSON object")?;
    let status = obj.get("statusCode").and_then(Value::as_u64).unwrap_or(200);
    let status = u16::try_from(status).ok().filter(|s| (100..600).contains(s)).ok_or("bad statusCode")?;
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut headers = Vec::new();
    if let Some(Value::Object(h)) = obj.get("headers") {
        headers.extend(h.iter().map(|(k, v)| (k.clone(), text(v))));
    }
    if let Some(Value::Object(h)) = obj.get("multiValueHeaders") {
        for (k, vs) in h {
            headers.extend(vs.as_array().into_iter().flatten().map(|v| (k.clone(), text(v))));
        }
    }
    let cookies = obj
        .get("cookies")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    Ok(Some((Prelude { status, headers, cookies }, Bytes::copy_from_slice(&buf[end + 8..]))))
}

/// A mid-stream error: its type and message (the decoded `Lambda-Runtime-Function-Error-Body`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// `Lambda-Runtime-Function-Error-Type`.
    pub error_type: String,
    /// The error body, base64-decoded when it was base64.
    pub body: String,
}

/// Recognises `lambda_runtime` 1.5's mid-stream error, written as one body chunk of
/// `Lambda-Runtime-Function-Error-Type: T\r\nLambda-Runtime-Function-Error-Body: <base64>\r\n` text.
pub fn parse_error_text(chunk: &[u8]) -> Option<StreamError> {
    let text = std::str::from_utf8(chunk).ok()?;
    let rest = text.strip_prefix(ERROR_TYPE_TRAILER)?.strip_prefix(": ")?;
    let (error_type, rest) = rest.split_once("\r\n")?;
    let body = rest.strip_prefix(ERROR_BODY_TRAILER)?.strip_prefix(": ")?.strip_suffix("\r\n")?;
    Some(StreamError { error_type: error_type.to_string(), body: decode_error_body(body) })
}

/// A `Lambda-Runtime-Function-Error-Body` value: base64 as Lambda specifies, else taken as it is.
pub fn decode_error_body(v: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| v.to_string())
}

/// One AWS eventstream message with string headers (`:event-type`, `:content-type`, `:message-type`).
pub fn event_message(event_type: &str, content_type: &str, payload: &[u8]) -> Bytes {
    let mut headers = BytesMut::new();
    for (name, value) in [(":event-type", event_type), (":content-type", content_type), (":message-type", "event")] {
        headers.put_u8(name.len() as u8);
        headers.put_slice(name.as_bytes());
        headers.put_u8(7); // string
        headers.put_u16(value.len() as u16);
        headers.put_slice(value.as_bytes());
    }
    let total = 12 + headers.len() + payload.len() + 4;
    let mut msg = BytesMut::with_capacity(total);
    msg.put_u32(total as u32);
    msg.put_u32(headers.len() as u32);
    let prelude_crc = crc32fast::hash(&msg[..8]);
    msg.put_u32(prelude_crc);
    msg.put_slice(&headers);
    msg.put_slice(payload);
    let crc = crc32fast::hash(&msg);
    msg.put_u32(crc);
    msg.freeze()
}

/// A `PayloadChunk` event carrying `payload`.
pub fn payload_chunk(payload: &[u8]) -> Bytes {
    event_message("PayloadChunk", "application/octet-stream", payload)
}

/// The final `InvokeComplete` event: `{ErrorCode, ErrorDetails, LogResult}`, members present when set.
pub fn invoke_complete(error: Option<(&str, &str)>, log_result: Option<&str>) -> Bytes {
    let mut body = serde_json::Map::new();
    if let Some((code, details)) = error {
        body.insert("ErrorCode".into(), Value::String(code.into()));
        body.insert("ErrorDetails".into(), Value::String(details.into()));
    }
    if let Some(log) = log_result {
        body.insert("LogResult".into(), Value::String(log.into()));
    }
    event_message("InvokeComplete", "application/json", Value::Object(body).to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prelude_is_split_at_the_nul_separator() {
        assert_eq!(split_prelude(br#"{"statusCode":200"#).unwrap(), None);
        let mut buf =
            br#"{"statusCode":201,"headers":{"content-type":"application/octet-stream"},"cookies":["a=1"]}"#.to_vec();
        buf.extend_from_slice(&[0; 8]);
        buf.extend_from_slice(&[1, 2, 3]);
        let (p, rest) = split_prelude(&buf).unwrap().unwrap();
        assert_eq!(p.status, 201);
        assert_eq!(p.headers, vec![("content-type".into(), "application/octet-stream".into())]);
        assert_eq!(p.cookies, vec!["a=1".to_string()]);
        assert_eq!(&rest[..], &[1, 2, 3]);
        let mut bad = b"nope".to_vec();
        bad.extend_from_slice(&[0; 8]);
        assert!(split_prelude(&bad).is_err());
    }

    #[test]
    fn lambda_runtime_error_text_is_recognised() {
        let e = parse_error_text(
            b"Lambda-Runtime-Function-Error-Type: Runtime.StreamError\r\nLambda-Runtime-Function-Error-Body: Ym9vbQ==\r\n",
        )
        .unwrap();
        assert_eq!(e, StreamError { error_type: "Runtime.StreamError".into(), body: "boom".into() });
        assert_eq!(parse_error_text(b"\x00\x01 plain data"), None);
    }

    #[test]
    fn eventstream_frame_layout() {
        let m = payload_chunk(b"abc");
        let total = u32::from_be_bytes(m[0..4].try_into().unwrap()) as usize;
        let hlen = u32::from_be_bytes(m[4..8].try_into().unwrap()) as usize;
        assert_eq!(total, m.len());
        assert_eq!(u32::from_be_bytes(m[8..12].try_into().unwrap()), crc32fast::hash(&m[..8]));
        assert_eq!(&m[12 + hlen..total - 4], b"abc");
        assert_eq!(u32::from_be_bytes(m[total - 4..].try_into().unwrap()), crc32fast::hash(&m[..total - 4]));
    }

    #[test]
    fn bandwidth_is_free_then_two_mb_per_second() {
        let t0 = tokio::time::Instant::now();
        let mut b = Bandwidth::new(6 << 20, 2 << 20);
        assert_eq!(b.delay_for(6 << 20, t0), Duration::ZERO);
        // 2 MB past the free part: due one second after throttling began.
        assert_eq!(b.delay_for(2 << 20, t0), Duration::from_secs(1));
        assert_eq!(b.delay_for(1 << 20, t0 + Duration::from_secs(1)), Duration::from_millis(500));
        let mut u = Bandwidth::unlimited();
        assert_eq!(u.delay_for(1 << 40, t0), Duration::ZERO);
    }
}

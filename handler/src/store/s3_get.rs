//! A lean S3 GET: one signed HTTP/1.1 request on a pooled keep-alive connection, for the reads that
//! dominate every request (metadata JSON, conditional revalidations, chunks and chunk prefixes).
//!
//! aws-sdk-s3 spends ~0.13 ms of CPU per request in release builds (orchestrator, endpoint rules,
//! interceptors, SigV4) on top of the round trip — 0.2 ms for a 304 that costs 0.08 ms as a bare request
//! (`handler/examples/warm_costs.rs`), and far more at Lambda's small memory sizes, where the function gets a
//! fraction of a core. A selection over 128 chunks paid that 128 times. This path signs with the SDK's own
//! `aws-sigv4` and sends with hyper; writes, listings and deletes stay on the SDK.
//!
//! It serves plain-`http` endpoints (`AWS_S3_GATEWAY` / `AWS_ENDPOINT_URL_S3`: the emulator, MinIO and
//! other S3 servers on a private network); `https` endpoints, AWS's own included, keep the SDK, whose TLS
//! setup is tested. Behaviour matches the SDK path: path-style URLs, the same retries (standard mode: 5
//! attempts, jittered exponential back-off from 100 ms to 2 s, on 500/502/503/504, throttling and dropped
//! connections, bodies included) and the same status mapping.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::s3::{INITIAL_BACKOFF, MAX_ATTEMPTS, MAX_BACKOFF};
use super::{Object, StoreError, StoreResult};

/// Bytes kept as they are in an S3 key's URL path: RFC 3986 unreserved characters and `/`, as the SDK does.
const KEY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// A GET to send: what varies between the three kinds of read.
#[derive(Debug, Clone, Copy)]
pub(super) enum Want<'a> {
    /// The whole object.
    Whole,
    /// The whole object unless its ETag is this one (then `Ok(None)`).
    IfNoneMatch(&'a str),
    /// `len` bytes from `offset` (`len` > 0).
    Range(u64, u64),
}

/// The signed-GET client: endpoint, region, credentials (none for unsigned requests) and a connection pool.
#[derive(Clone)]
pub(super) struct LeanGet {
    client: Client<HttpConnector, Empty<Bytes>>,
    /// `http://host:port` without a trailing slash.
    endpoint: String,
    /// The `Host` header value.
    host: String,
    region: String,
    identity: Option<Identity>,
}

impl LeanGet {
    /// A client for `endpoint` when it is a plain-`http` URL (see the module docs); `None` otherwise.
    pub(super) fn for_endpoint(endpoint: &str, region: &str, creds: Option<Credentials>) -> Option<LeanGet> {
        let uri: http::Uri = endpoint.parse().ok()?;
        if uri.scheme_str() != Some("http") || !uri.path().trim_end_matches('/').is_empty() {
            return None;
        }
        let host = uri.authority()?.to_string();
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .http1_read_buf_exact_size(256 * 1024)
            .build(connector);
        Some(LeanGet {
            client,
            endpoint: format!("http://{host}"),
            host,
            region: region.to_string(),
            identity: creds.map(Identity::from),
        })
    }

    /// GETs `bucket/key` as `want` says, retrying transient failures: the object (`None` only for a
    /// conditional GET answered 304 Not Modified).
    pub(super) async fn get(&self, bucket: &str, key: &str, want: Want<'_>) -> StoreResult<Option<Object>> {
        let mut attempt = 1;
        loop {
            match self.once(bucket, key, want).await {
                Err(Failure::Transient(msg)) if attempt < MAX_ATTEMPTS => {
                    let cap = INITIAL_BACKOFF.saturating_mul(1 << (attempt - 1)).min(MAX_BACKOFF);
                    tokio::time::sleep(cap.mul_f64(rand::random::<f64>())).await;
                    tracing::debug!("GET {key}: {msg}; retrying (attempt {} of {MAX_ATTEMPTS})", attempt + 1);
                    attempt += 1;
                }
                Err(Failure::Transient(msg)) => return Err(StoreError::Unavailable(format!("{key}: {msg}"))),
                Err(Failure::Final(e)) => return Err(e),
                Ok(found) => return Ok(found),
            }
        }
    }

    /// One attempt.
    async fn once(&self, bucket: &str, key: &str, want: Want<'_>) -> Result<Option<Object>, Failure> {
        let path = format!("/{}/{}", utf8_percent_encode(bucket, KEY), utf8_percent_encode(key, KEY));
        let url = format!("{}{path}", self.endpoint);
        let mut req = http::Request::get(&url).header(http::header::HOST, &self.host);
        match want {
            Want::Whole => {}
            Want::IfNoneMatch(etag) => req = req.header(http::header::IF_NONE_MATCH, etag),
            Want::Range(offset, len) => {
                req = req.header(http::header::RANGE, format!("bytes={offset}-{}", offset + len.max(1) - 1));
            }
        }
        let mut req = req.body(Empty::<Bytes>::new()).map_err(|e| Failure::Final(StoreError::Other(e.to_string())))?;
        self.sign(&mut req).map_err(|e| Failure::Final(StoreError::Other(format!("{key}: signing: {e}"))))?;
        let rsp = self.client.request(req).await.map_err(|e| Failure::Transient(format!("request failed: {e}")))?;
        let status = rsp.status().as_u16();
        let etag = rsp.headers().get(http::header::ETAG).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let body =
            rsp.into_body().collect().await.map_err(|e| Failure::Transient(format!("reading body: {e}")))?.to_bytes();
        match status {
            200 | 206 => Ok(Some(Object { body, etag })),
            304 if matches!(want, Want::IfNoneMatch(_)) => Ok(None),
            404 => Err(Failure::Final(StoreError::NotFound(key.to_string()))),
            409 | 412 => Err(Failure::Final(StoreError::Precondition(key.to_string()))),
            429 | 500 | 502 | 503 | 504 => Err(Failure::Transient(format!("HTTP {status}: {}", snippet(&body)))),
            _ => Err(Failure::Final(StoreError::Other(format!("{key}: HTTP {status}: {}", snippet(&body))))),
        }
    }

    /// Adds SigV4 headers (`x-amz-date`, `x-amz-content-sha256`, `authorization`, the session token) as S3
    /// expects them: the path encoded once, not normalised.
    fn sign(&self, req: &mut http::Request<Empty<Bytes>>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let Some(identity) = &self.identity else { return Ok(()) };
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()?
            .into();
        let headers = req.headers().iter().map(|(k, v)| Ok::<_, http::header::ToStrError>((k.as_str(), v.to_str()?)));
        let headers: Vec<(&str, &str)> = headers.collect::<Result<_, _>>()?;
        let uri = req.uri().to_string();
        let signable = SignableRequest::new("GET", &uri, headers.into_iter(), SignableBody::Bytes(&[]))?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }
}

/// Why an attempt failed: worth retrying, or final.
enum Failure {
    Transient(String),
    Final(StoreError),
}

/// The start of an error body (S3 XML), for messages.
fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
}
